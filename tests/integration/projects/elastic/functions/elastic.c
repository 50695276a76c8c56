/* Handlers for tests/integration/test_elastic.py: who answered, and slow ones. */
#include <kumo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int hello(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    char *pid = kumo_sprintf(ctx, "%d", (int)getpid());
    return kumo_response_body(res, pid, strlen(pid), "text/plain");
}

int slow(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ms = kumo_request_query(req, "ms");
    kumo_log(ctx, KUMO_LOG_INFO, "slow: sleeping %s ms", ms ? ms : "300");
    usleep((useconds_t)(ms ? atoi(ms) : 300) * 1000);
    return hello(ctx, req, res);
}

int crash(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    raise(SIGSEGV);
    return 0;
}
