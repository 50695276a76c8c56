/* extra: defines shared_name too, so an operation naming it is ambiguous. */
#include <kumo.h>

int shared_name(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    kumo_response_status(res, 200);
    return kumo_response_body(res, "{}", sizeof("{}") - 1, "application/json");
}
