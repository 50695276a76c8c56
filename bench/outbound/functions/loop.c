/*
 * loop.c: GET /loop?n=N makes N sequential kumo_http_get calls to the
 * service `up` and answers with the mean time per call, measured inside
 * the handler (so the gateway's own request handling is not counted).
 */
#include <kumo.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int loop(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    long n = atol(kumo_request_query(req, "n"));
    long errors = 0;
    double t0 = now_us();
    for (long i = 0; i < n; i++) {
        kumo_http_response *r;
        if (kumo_http_get(ctx, "up", "/", &r) != 0 || r->status != 200)
            errors++;
    }
    double per = (now_us() - t0) / (double)n;
    return kumo_response_json(res, 200,
                              json_pack("{s:i, s:f, s:i}", "n", (int)n, "us_per_call", per, "errors", (int)errors));
}
