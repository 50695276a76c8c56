/* Handlers that misbehave on purpose; see tests/integration/test_gateway.py. */
#include <kumo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int echo(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    size_t len;
    const char *body = kumo_request_body(req, &len);
    const char *q = kumo_request_query(req, "q");
    const char *h = kumo_request_header(req, "X-Test");
    json_t *o = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s%,s:s}", "method", kumo_request_method(req), "path",
                          kumo_request_path(req), "name", kumo_request_param(req, "name"), "q", q, "x_test", h,
                          "body", body, len, "request_id", kumo_ctx_request_id(ctx));
    kumo_response_header(res, "X-Echo", "yes");
    return kumo_response_json(res, 200, o);
}

int items_mine(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return kumo_response_body(res, "mine", 4, "text/plain");
}

int items_one(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *id = kumo_request_param(req, "id");
    return kumo_response_body(res, id, strlen(id), "text/plain");
}

int fail(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return -1;
}

int crash(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    raise(SIGSEGV);
    return 0;
}

int abort_now(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    abort();
}

int slow(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ms = kumo_request_query(req, "ms");
    kumo_log(ctx, KUMO_LOG_INFO, "slow: sleeping %s ms", ms ? ms : "500");
    usleep((useconds_t)(ms ? atoi(ms) : 500) * 1000);
    return kumo_response_body(res, "done", 4, "text/plain");
}

int log_twice(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    kumo_log(ctx, KUMO_LOG_INFO, "first line with a \"quote\"");
    kumo_log(ctx, KUMO_LOG_WARN, "second line %d", 2);
    return kumo_response_body(res, "logged", 6, "text/plain");
}

int leak_fds(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    for (int i = 0; i < 4; i++)
        (void)open("/dev/null", O_RDONLY); /* never closed, on purpose */
    char *pid = kumo_sprintf(ctx, "%d", (int)getpid());
    return kumo_response_body(res, pid, strlen(pid), "text/plain");
}
