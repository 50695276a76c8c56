/*
 * echo.c: POST /echo answers the body it was sent, its length in
 * x-length; GET /hello a greeting.
 */
#include <stdio.h>

#include <kumo.h>

int echo(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len = 0;
    const void *body = kumo_request_body(req, &len);
    char n[32];
    (void)ctx;
    snprintf(n, sizeof(n), "%zu", len);
    kumo_response_header(res, "x-length", n);
    return kumo_response_body(res, body, len, "application/octet-stream");
}

int hello(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    static const char greeting[] = "hello from kumo-http\n";
    (void)ctx;
    (void)req;
    return kumo_response_body(res, greeting, sizeof(greeting) - 1, "text/plain");
}
