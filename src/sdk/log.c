/*
 * log.c: kumo_log, a function's structured logs. One call is one JSON line
 * on stderr:
 *
 *   {"time":"2026-11-23T00:00:00.123Z","level":"info","request_id":"..",
 *    "function":"..","operation":"..","msg":".."}
 *
 * written with a single write(2), so lines from the processes and threads
 * sharing stderr (a pipe the runtime collects, or a platform's log agent)
 * never interleave within a line (pipes keep writes up to PIPE_BUF whole;
 * beyond that a single write is still the best one can do). The request
 * fields are left out when ctx is NULL or a field is unset.
 *
 * The line is built in a stack buffer of KUMO_LOG_LINE_MAX bytes, nothing
 * allocated: the message is formatted, escaped as JSON (invalid UTF-8 bytes
 * become U+FFFD so the line stays valid JSON), and cut where it would not fit,
 * in which case the line ends with "truncated":true.
 */
#include "sdk/sdk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Room kept at the end for ","truncated":true}\n */
#define TAIL_ROOM 32
/* The request fields are cut at this many input bytes (6 output bytes at
 * worst each), so only the message can ever overflow the line. */
#define FIELD_MAX 256

typedef struct line {
    char *p;
    size_t len, cap;   /* cap excludes TAIL_ROOM */
    int truncated;
} line;

static void put_raw(line *l, const char *s, size_t n)
{
    if (l->truncated)
        return;
    if (n > l->cap - l->len) {
        l->truncated = 1;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

/* Length of a valid UTF-8 sequence at s (up to end), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
    size_t n;
    uint32_t min, cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - s) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Appends s as the inside of a JSON string; stops, whole characters only,
 * when the line is full. */
static void put_escaped(line *l, const char *str, size_t max)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + strnlen(str, max);
    while (s < end && !l->truncated) {
        char esc[8];
        const char *out = esc;
        size_t n = 0, adv = 1;
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, n = 2;
        } else if (c == '\n') {
            out = "\\n", n = 2;
        } else if (c == '\r') {
            out = "\\r", n = 2;
        } else if (c == '\t') {
            out = "\\t", n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else if (c < 0x80) {
            out = (const char *)s, n = 1;
        } else if ((adv = utf8_len(s, end)) != 0) {
            out = (const char *)s, n = adv;
        } else {
            out = "\\ufffd", n = 6, adv = 1;
        }
        put_raw(l, out, n);
        s += adv;
    }
}

static void put_field(line *l, const char *name, const char *value)
{
    put_raw(l, ",\"", 2);
    put_raw(l, name, strlen(name));
    put_raw(l, "\":\"", 3);
    put_escaped(l, value, FIELD_MAX);
    put_raw(l, "\"", 1);
}

static const char *level_name(enum kumo_log_level level)
{
    switch (level) {
    case KUMO_LOG_DEBUG:
        return "debug";
    case KUMO_LOG_INFO:
        return "info";
    case KUMO_LOG_WARN:
        return "warn";
    case KUMO_LOG_ERROR:
        return "error";
    }
    return "info";
}

void kumo_log(kumo_ctx *ctx, enum kumo_log_level level, const char *fmt, ...)
{
    int saved_errno = errno;
    char msg[KUMO_LOG_LINE_MAX];
    char buf[KUMO_LOG_LINE_MAX];
    _Static_assert(3 * (FIELD_MAX * 6 + 20) + 100 < KUMO_LOG_LINE_MAX - TAIL_ROOM, "fields fit in a line");
    line l = {.p = buf, .len = 0, .cap = sizeof(buf) - TAIL_ROOM, .truncated = 0};

    va_list ap;
    va_start(ap, fmt);
    int n = fmt ? vsnprintf(msg, sizeof(msg), fmt, ap) : 0;
    va_end(ap);
    if (n < 0)
        n = snprintf(msg, sizeof(msg), "(unformattable log message)");
    int msg_truncated = (size_t)n >= sizeof(msg);

    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof(when) - w, ".%03dZ", (int)(ts.tv_nsec / 1000000));

    put_raw(&l, "{\"time\":\"", 9);
    put_raw(&l, when, strlen(when));
    put_raw(&l, "\"", 1);
    put_field(&l, "level", level_name(level));
    if (ctx) {
        if (ctx->request_id)
            put_field(&l, "request_id", ctx->request_id);
        if (ctx->function)
            put_field(&l, "function", ctx->function);
        if (ctx->operation)
            put_field(&l, "operation", ctx->operation);
    }
    put_raw(&l, ",\"msg\":\"", 8);
    put_escaped(&l, msg, sizeof(msg));

    /* Close the string and the object in the kept room, whatever was cut. */
    l.cap = sizeof(buf);
    int cut = l.truncated || msg_truncated;
    l.truncated = 0;
    if (cut)
        put_raw(&l, "\",\"truncated\":true}\n", 20);
    else
        put_raw(&l, "\"}\n", 3);

    ssize_t wr;
    do {
        wr = write(STDERR_FILENO, l.p, l.len);
    } while (wr < 0 && errno == EINTR);
    errno = saved_errno;
}
