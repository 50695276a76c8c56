/*
 * orders.c: the handlers of bench/validation (POST /orders and POST
 * /orders-raw). Both accept the body kumo already checked and answer 204,
 * so the request rate bench/validation-share.sh measures is the gateway's
 * work (parsing, and for /orders validating, the body) plus the smallest
 * possible invocation.
 */
#include <kumo.h>

int createOrder(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    kumo_response_status(res, 204);
    return 0;
}

int createOrderRaw(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    kumo_response_status(res, 204);
    return 0;
}
