/*
 * log.c: the one JSON log line (log.h). Every piece is added only when it
 * fits below its limit; the last TAIL_ROOM bytes stay free until the end,
 * so a cut line is still closed as valid JSON.
 */
#include "base/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/utf8.h"

/* Room kept at the end for ,"truncated":true}\n */
#define TAIL_ROOM 32
/* A field's value is cut at this many input bytes; the message stops where
 * FIELD_ROOM bytes are left for the fields after it. */
#define FIELD_MAX 1024
#define FIELD_ROOM 2048

#define ROOM (KUMO__LOG_LINE_MAX - TAIL_ROOM)

static int put_raw(kumo__logline *l, const char *s, size_t n, size_t limit)
{
    if (l->len + n > limit)
        return -1;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return 0;
}

/* Appends s as the inside of a JSON string; stops, whole characters only,
 * at `limit`, whole characters only: -1 then, and the line is marked cut. */
static int put_escaped(kumo__logline *l, const char *str, size_t len, size_t limit)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        /* A run of printable ASCII that needs no escape goes in one copy
         * (ids, paths, most messages are nothing else). */
        const unsigned char *run = s;
        while (run < end && *run >= 0x20 && *run < 0x7f && *run != '"' && *run != '\\')
            run++;
        if (run > s) {
            size_t n = (size_t)(run - s);
            if (put_raw(l, (const char *)s, n, limit) < 0) {
                size_t room = limit > l->len ? limit - l->len : 0;
                put_raw(l, (const char *)s, room < n ? room : n, limit); /* each byte a whole character */
                l->truncated = 1;
                return -1;
            }
            s = run;
            continue;
        }
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
        } else if ((adv = kumo__utf8_seq(s, (size_t)(end - s))) != 0) {
            out = (const char *)s, n = adv;
        } else {
            out = "\\ufffd", n = 6, adv = 1;
        }
        if (put_raw(l, out, n, limit) < 0) {
            l->truncated = 1;
            return -1;
        }
        s += adv;
    }
    return 0;
}

void kumo__logline_begin(kumo__logline *l, const char *level, const char *msg, size_t msg_len)
{
    char when[KUMO__RFC3339_LEN + 4];
    l->len = 0;
    l->truncated = 0;
    put_raw(l, "{\"time\":\"", 9, ROOM);
    put_raw(l, when, kumo__rfc3339_now(when, sizeof when), ROOM);
    put_raw(l, "\",\"level\":\"", 11, ROOM);
    put_raw(l, level, strnlen(level, 16), ROOM);
    put_raw(l, "\",\"msg\":\"", 9, ROOM);
    put_escaped(l, msg ? msg : "", msg ? msg_len : 0, ROOM - FIELD_ROOM);
    put_raw(l, "\"", 1, ROOM);
}

/* The start of the last whole UTF-8 character at or before s + n. */
static size_t whole_chars(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static int put_name(kumo__logline *l, const char *name)
{
    return put_raw(l, ",\"", 2, ROOM) < 0 || put_raw(l, name, strlen(name), ROOM) < 0 || put_raw(l, "\":", 2, ROOM) < 0
               ? -1
               : 0;
}

void kumo__logline_str(kumo__logline *l, const char *name, const char *value, size_t len)
{
    if (value == NULL)
        return;
    size_t mark = l->len;
    if (len > FIELD_MAX) {
        len = whole_chars(value, FIELD_MAX);
        l->truncated = 1;
    }
    if (put_name(l, name) < 0 || put_raw(l, "\"", 1, ROOM) < 0 || put_escaped(l, value, len, ROOM - 1) < 0 ||
        put_raw(l, "\"", 1, ROOM) < 0) {
        l->len = mark; /* the whole field, or none of it */
        l->truncated = 1;
    }
}

void kumo__logline_cstr(kumo__logline *l, const char *name, const char *value)
{
    if (value)
        kumo__logline_str(l, name, value, strnlen(value, FIELD_MAX + 1));
}

void kumo__logline_int(kumo__logline *l, const char *name, long long value)
{
    char num[24];
    size_t mark = l->len, at = sizeof num;
    unsigned long long v = value < 0 ? 0ull - (unsigned long long)value : (unsigned long long)value;
    do /* no printf: three of these on every access line */
        num[--at] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (value < 0)
        num[--at] = '-';
    if (put_name(l, name) < 0 || put_raw(l, num + at, sizeof num - at, ROOM) < 0) {
        l->len = mark;
        l->truncated = 1;
    }
}

void kumo__logline_hex(kumo__logline *l, const char *name, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t mark = l->len;
    if (put_name(l, name) < 0 || l->len + 2 * n + 2 > ROOM) {
        l->len = mark;
        l->truncated = 1;
        return;
    }
    char *o = l->buf + l->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        *o++ = digits[b[i] >> 4];
        *o++ = digits[b[i] & 15];
    }
    *o++ = '"';
    l->len = (size_t)(o - l->buf);
}

void kumo__logline_json(kumo__logline *l, const char *name, const char *json, size_t len)
{
    size_t mark = l->len;
    if (put_name(l, name) < 0 || put_raw(l, json, len, ROOM) < 0) {
        l->len = mark; /* never half a value: the line stays JSON */
        l->truncated = 1;
    }
}

size_t kumo__logline_end(kumo__logline *l)
{
    if (l->truncated)
        put_raw(l, ",\"truncated\":true}\n", 19, sizeof l->buf);
    else
        put_raw(l, "}\n", 2, sizeof l->buf);
    return l->len;
}

static const kumo__log_sink *_Atomic sink;

void kumo__log_set_sink(const kumo__log_sink *s)
{
    atomic_store_explicit(&sink, s, memory_order_release);
}

int kumo__log_to_sink(const char *buf, size_t len)
{
    const kumo__log_sink *s = atomic_load_explicit(&sink, memory_order_acquire);
    if (s == NULL)
        return 0;
    s->write(s->ctx, buf, len);
    return 1;
}

void kumo__logline_write(kumo__logline *l, int fd)
{
    int saved = errno;
    size_t n = kumo__logline_end(l);
    if (fd == 2 && kumo__log_to_sink(l->buf, n)) {
        errno = saved;
        return;
    }
    ssize_t w;
    do {
        w = write(fd, l->buf, n);
    } while (w < 0 && errno == EINTR);
    errno = saved;
}

void kumo__log_event(const char *level, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = snprintf(msg, sizeof msg, "(unformattable log message)");
    kumo__logline l;
    kumo__logline_begin(&l, level, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    if ((size_t)n >= sizeof msg)
        l.truncated = 1;
    kumo__logline_write(&l, 2);
}
