/*
 * hello.c: GET /hello, answering with Access-Control-* headers of its own
 * (which kumo drops when kumo.yaml's http.cors decides them) and X-Own
 * (which it keeps).
 */
#include <kumo.h>

int hello(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    static const char greeting[] = "hello, world\n";
    (void)ctx;
    (void)req;
    if (kumo_response_header(res, "Access-Control-Allow-Origin", "*") != 0 ||
        kumo_response_header(res, "access-control-allow-credentials", "true") != 0 ||
        kumo_response_header(res, "X-Own", "1") != 0)
        return -1;
    return kumo_response_body(res, greeting, sizeof(greeting) - 1, "text/plain");
}
