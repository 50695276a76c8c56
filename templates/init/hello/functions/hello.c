/*
 * hello.c: GET /hello (operationId hello). A kumo function: include
 * <kumo.h>, take (ctx, req, res), set the response, return 0.
 */
#include <kumo.h>

int hello(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *name = kumo_request_query(req, "name"); /* checked by kumo against openapi.yaml */
    const char *message = kumo_sprintf(ctx, "hello, %s", name ? name : "world");
    return kumo_response_json(res, 200, json_pack("{s:s}", "message", message));
}
