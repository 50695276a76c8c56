/*
 * trace.c: the worker's half of tracing. The gateway (or kumo-host) puts a
 * traceparent header into every request frame, naming the invocation's own
 * span as the parent; the SDK hands it to the handler
 * (kumo_ctx_traceparent, for its outbound calls) and, while the trace is
 * sampled, records each store call the handler makes: kind, operation,
 * store, driver, start, duration and result. They go back in the response
 * frame (KF_STORE_SPAN, proto/tracectx.h), where the gateway turns them
 * into CLIENT spans; the SDK itself exports nothing and knows no
 * collector, so a unit needs no configuration to be traced.
 *
 * The records live in the invocation's arena: at most
 * KUMO__STORE_CALLS_MAX per invocation, the rest only counted.
 */
#include "sdk/sdk.h"

#include <string.h>
#include <time.h>

#include "proto/frame.h"
#include "proto/tracectx.h"

static uint64_t epoch_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void kumo__trace_request(kumo_ctx *ctx, const kumo_request *req)
{
    ctx->traceparent = NULL;
    ctx->trace_sampled = 0;
    ctx->store_calls = NULL;
    ctx->nstore_calls = ctx->store_calls_dropped = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcmp(req->headers[i].name, "traceparent") != 0)
            continue;
        kumo__trace_ctx tc;
        const char *v = req->headers[i].value;
        if (kumo__traceparent_parse(v, strlen(v), &tc) == 0) {
            ctx->traceparent = v;
            ctx->trace_sampled = (tc.flags & KUMO__TRACE_SAMPLED) != 0;
        }
        break;
    }
}

const char *kumo_ctx_traceparent(kumo_ctx *ctx)
{
    return ctx && ctx->traceparent ? ctx->traceparent : NULL;
}

uint64_t kumo__trace_store_begin(kumo_ctx *ctx)
{
    if (ctx == NULL || !ctx->trace_sampled)
        return 0;
    ctx->store_driver = NULL;
    return epoch_ns();
}

void kumo__trace_store_end(kumo_ctx *ctx, uint64_t start_ns, const char *kind, const char *op, const char *store,
                           int rc)
{
    if (start_ns == 0 || ctx == NULL)
        return;
    uint64_t end = epoch_ns();
    if (ctx->nstore_calls == KUMO__STORE_CALLS_MAX) {
        ctx->store_calls_dropped++;
        return;
    }
    if (ctx->store_calls == NULL) {
        ctx->store_calls = kumo__arena_alloc(&ctx->arena, KUMO__STORE_CALLS_MAX * sizeof(*ctx->store_calls));
        if (ctx->store_calls == NULL) {
            ctx->store_calls_dropped++;
            return;
        }
    }
    kumo__store_call *c = &ctx->store_calls[ctx->nstore_calls++];
    c->kind = kind;
    c->op = op;
    c->store = store ? kumo__arena_strndup(&ctx->arena, store, strnlen(store, KUMO__STORE_SPAN_STR_MAX)) : NULL;
    c->driver = ctx->store_driver;
    c->start_ns = start_ns;
    c->duration_ns = end > start_ns ? end - start_ns : 0;
    c->result = rc;
}

void kumo__trace_put_store_calls(kumo_ctx *ctx, kumo__frame_writer *w)
{
    for (size_t i = 0; i < ctx->nstore_calls; i++) {
        const kumo__store_call *c = &ctx->store_calls[i];
        kumo__store_span s = {
            .kind = c->kind,
            .kind_len = strlen(c->kind),
            .op = c->op,
            .op_len = strlen(c->op),
            .store = c->store,
            .store_len = c->store ? strlen(c->store) : 0,
            .driver = c->driver,
            .driver_len = c->driver ? strlen(c->driver) : 0,
            .start_ns = c->start_ns,
            .duration_ns = c->duration_ns,
            .result = c->result,
        };
        kumo__store_span_put(w, &s);
    }
}
