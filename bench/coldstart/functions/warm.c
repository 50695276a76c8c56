#include <kumo.h>

/* The peer of hello: the same answer from a worker that never goes away
 * (min: 1), asked after the same idle time as hello's cold starts. */
int warm(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return kumo_response_body(res, "hello, world\n", 13, "text/plain");
}
