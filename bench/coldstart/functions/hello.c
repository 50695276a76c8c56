#include <kumo.h>
#include <unistd.h>

int hello(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return kumo_response_body(res, "hello, world\n", 13, "text/plain");
}

int sleepy(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    usleep(20000);
    return kumo_response_body(res, "slept\n", 6, "text/plain");
}
