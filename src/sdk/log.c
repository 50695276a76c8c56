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
 * Trace Context), read once per invocation by kumo__ctx_trace: the
 * gateway puts the invocation's own span there, so the ids are the ones
 * its trace shows. The SDK parses the header itself (it sees no layer
 * above proto). Nothing is allocated; a message too long for the line is
 * cut and the line says "truncated":true.
 */
#include "sdk/sdk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

static int lower_hex(const char *s, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        nonzero |= s[i] != '0';
    }
    return nonzero ? 1 : -1; /* -1: valid digits, all zero */
}

/* version "-" trace-id "-" parent-id "-" flags, 2+1+32+1+16+1+2 = 55
 * bytes. Version ff is invalid; a later version may append fields after
 * another '-', which are ignored (the W3C rule for versions above 00). */
int kumo__traceparent_parse(const char *v, size_t len, char *trace_id, char *span_id)
{
    while (len > 0 && (v[0] == ' ' || v[0] == '\t'))
        v++, len--;
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-')
        return -1;
    if (lower_hex(v, 2) == 0 || memcmp(v, "ff", 2) == 0 || lower_hex(v + 53, 2) == 0)
        return -1;
    if (memcmp(v, "00", 2) == 0 ? len != 55 : len > 55 && v[55] != '-')
        return -1;
    if (lower_hex(v + 3, 32) != 1 || lower_hex(v + 36, 16) != 1)
        return -1;
    memcpy(trace_id, v + 3, 32);
    trace_id[32] = '\0';
    memcpy(span_id, v + 36, 16);
    span_id[16] = '\0';
    return 0;
}

void kumo__ctx_trace(kumo_ctx *ctx, const kumo_request *req)
{
    ctx->path = req->path;
    ctx->trace_id[0] = ctx->span_id[0] = '\0';
    /* The gateway replaces a client's traceparent with its invocation
     * span's; should a frame still hold two, the last valid one wins. */
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, "traceparent") == 0)
            kumo__traceparent_parse(req->headers[i].value, strlen(req->headers[i].value), ctx->trace_id, ctx->span_id);
}

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
        if (ctx->trace_id[0] != '\0') {
            kumo__logline_cstr(&l, "trace_id", ctx->trace_id);
            kumo__logline_cstr(&l, "span_id", ctx->span_id);
        }
    }
    kumo__logline_write(&l, STDERR_FILENO);
    errno = saved_errno;
}
