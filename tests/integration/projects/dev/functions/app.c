/* Handlers for tests/integration/test_dev.py, which rewrites VERSION in
 * its copy (and ANSWER in answer.h) while kumo dev serves it. */
#include <kumo.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"

#define VERSION "v1"

int version(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return kumo_response_body(res, VERSION, strlen(VERSION), "text/plain");
}

int answer(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return kumo_response_body(res, ANSWER, strlen(ANSWER), "text/plain");
}

int added(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    return kumo_response_body(res, "added", 5, "text/plain");
}

int secret(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    const char *v = getenv("SECRET");
    return kumo_response_body(res, v ? v : "", v ? strlen(v) : 0, "text/plain");
}
