/* Handlers for tests/integration/test_ahead.py: who answered, a call that
 * crashes or hangs while others wait behind it, and one that leaves a log
 * line so the test can count how many times it ran. */
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

int crash(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ms = kumo_request_query(req, "after_ms");
    usleep((useconds_t)(ms ? atoi(ms) : 0) * 1000);
    raise(SIGSEGV);
    return 0;
}

int hang(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    sleep(30);
    return hello(ctx, req, res);
}

int mark(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *n = kumo_request_query(req, "n");
    kumo_log(ctx, KUMO_LOG_INFO, "mark %s", n ? n : "?");
    return hello(ctx, req, res);
}
