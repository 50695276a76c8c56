/*
 * log.c: kumo_log, a function's structured logs: one JSON line on stderr
 * in the shape every kumo process writes (base/log.h), with the request's
 * fields after the message:
 *
 *   {"time":"2026-12-05T03:46:26.123456Z","level":"info","msg":"..",
 *    "request_id":"..","function":"..","operation":"..",
 *    "trace_id":"..","span_id":".."}
 *
 * The request fields are left out when ctx is NULL or a field is unset.
 * trace_id and span_id come from the request's traceparent header (W3C
 * Trace Context), checked once per invocation by kumo__trace_request
 * (trace.c): the gateway puts the invocation's own span there, so the ids
 * are the ones its trace shows. Nothing is allocated; a message too long
 * for the line is cut and the line says "truncated":true.
 */
#include "sdk/sdk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "base/log.h"

static const char *level_name(enum kumo_log_level level)
{
    switch (level) {
    case KUMO_LOG_DEBUG: return "debug";
    case KUMO_LOG_INFO: return "info";
    case KUMO_LOG_WARN: return "warn";
    case KUMO_LOG_ERROR: return "error";
    }
    return "info";
}

void kumo_log(kumo_ctx *ctx, enum kumo_log_level level, const char *fmt, ...)
{
    int saved_errno = errno;
    char msg[KUMO__LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = fmt ? vsnprintf(msg, sizeof(msg), fmt, ap) : 0;
    va_end(ap);
    if (n < 0)
        n = snprintf(msg, sizeof(msg), "(unformattable log message)");
    kumo__logline l;
    kumo__logline_begin(&l, level_name(level), msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    if ((size_t)n >= sizeof msg)
        l.truncated = 1;
    if (ctx) {
        kumo__logline_cstr(&l, "request_id", ctx->request_id);
        kumo__logline_cstr(&l, "function", ctx->function);
        kumo__logline_cstr(&l, "operation", ctx->operation);
        if (ctx->traceparent) { /* checked by kumo__trace_request: 00-TRACE-SPAN-FLAGS */
            kumo__logline_str(&l, "trace_id", ctx->traceparent + 3, 32);
            kumo__logline_str(&l, "span_id", ctx->traceparent + 36, 16);
        }
    }
    kumo__logline_write(&l, STDERR_FILENO);
    errno = saved_errno;
}
