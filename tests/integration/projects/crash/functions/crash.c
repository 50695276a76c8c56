/* Handlers that crash on purpose; see tests/integration/test_crash.py,
 * which looks for the line numbers below in the crash's backtrace. */
#include <kumo.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* volatile: the compiler cannot tell it is NULL, so the store happens */
static int *volatile nowhere;

__attribute__((noinline)) static void write_through(int v)
{
    *nowhere = v; /* CRASH LINE: test_crash.py looks for this line number */
}

int segv(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    write_through(42);
    return kumo_response_body(res, "unreachable", 11, "text/plain");
}

int abort_now(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    abort();
}

int ok(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return kumo_response_body(res, "ok", 2, "text/plain");
}

int slow(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *ms = kumo_request_query(req, "ms");
    long n = ms ? strtol(ms, NULL, 10) : 0;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return kumo_response_body(res, "slept", 5, "text/plain");
}

/* endless recursion: the stack overflows, and the crash handler runs on
 * a stack of its own */
__attribute__((noinline)) static int deep(volatile int n)
{
    volatile char pad[256];
    pad[0] = (char)n;
    if (n >= 0) /* always: n counts up from 0 (until the stack ends) */
        return deep(n + 1) + pad[0];
    return 0;
}

int overflow(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return deep(0);
}
