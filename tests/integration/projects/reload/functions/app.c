/* Handlers for tests/integration/test_reload.py. The test rewrites VERSION
 * (and adds handlers) in its copy, then reloads the running gateway. */
#include <kumo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VERSION "v1"

int version(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return kumo_response_body(res, VERSION, strlen(VERSION), "text/plain");
}

int pid(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    char *text = kumo_sprintf(ctx, "%d", (int)getpid());
    return kumo_response_body(res, text, strlen(text), "text/plain");
}

int slow(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ms = kumo_request_query(req, "ms");
    usleep((useconds_t)(ms ? atoi(ms) : 1000) * 1000);
    char *text = kumo_sprintf(ctx, "%s:%d", VERSION, (int)getpid());
    return kumo_response_body(res, text, strlen(text), "text/plain");
}
