/*
 * hello.c: the handler of GET /hello (operationId hello). The whole contract
 * of a kumo function: include <kumo.h>, take (ctx, req, res), set the
 * response, return 0.
 */
#include <kumo.h>

int hello(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    static const char greeting[] = "hello, world\n";
    (void)ctx;
    (void)req;
    return kumo_response_body(res, greeting, sizeof(greeting) - 1, "text/plain");
}
