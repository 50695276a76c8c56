/*
 * log.h: the one JSON log line every kumo process writes (the gateway's
 * events and access log, kumo-worker and its fork server, a handler's
 * kumo_log, kumo-host on every target). One shape everywhere:
 *
 *   {"time":"2026-12-05T03:46:26.123456Z","level":"info","msg":"request",
 *    "request_id":"..","operation":"..","status":200,"duration_us":93}
 *
 * `time` is RFC 3339 in UTC with microseconds, `level` is debug, info,
 * warn or error, `msg` says what happened; then fields, each with one name
 * everywhere (docs/logs.md lists them). A line is built in a fixed buffer,
 * nothing allocated: strings are escaped as JSON (invalid UTF-8 becomes
 * U+FFFD, so the line stays valid JSON) and what does not fit is cut, whole
 * characters only, and the line then ends with "truncated":true. It is
 * written with one write(2), so lines from processes sharing stderr never
 * interleave within a line.
 */
#ifndef KUMO_BASE_LOG_H
#define KUMO_BASE_LOG_H

#include <stddef.h>
#include <stdint.h>

#define KUMO__LOG_LINE_MAX 8192

typedef struct kumo__logline {
    char buf[KUMO__LOG_LINE_MAX];
    size_t len;
    int truncated;
} kumo__logline;

/* Starts a line: time (now), level, msg (its first msg_len bytes). */
void kumo__logline_begin(kumo__logline *l, const char *level, const char *msg, size_t msg_len);
/* Adds a string field (its first len bytes, cut at 1 KiB). A NULL value
 * adds nothing. */
void kumo__logline_str(kumo__logline *l, const char *name, const char *value, size_t len);
/* The same for a NUL-terminated value. */
void kumo__logline_cstr(kumo__logline *l, const char *name, const char *value);
void kumo__logline_int(kumo__logline *l, const char *name, long long value);
/* Adds a string field holding the n bytes at b in lowercase hex (a trace
 * or span id): no escaping to do, so no scan. */
void kumo__logline_hex(kumo__logline *l, const char *name, const uint8_t *b, size_t n);
/* Adds a field whose value is json[0..len), a JSON value the caller made
 * (not checked, not escaped); left out whole when it does not fit. */
void kumo__logline_json(kumo__logline *l, const char *name, const char *json, size_t len);
/* Closes the line ("truncated":true when anything was cut, then "}\n")
 * and returns its length; l->buf holds it. Call once. */
size_t kumo__logline_end(kumo__logline *l);
/* Where this process's own lines for fd 2 go instead of write(2) while
 * it is set: kumo up's log store (obs/logstore.c) takes them directly, so
 * that they and the access lines (gateway/access_log.c) reach stderr, and
 * the store, in the order they were written. NULL: write(2). The sink
 * must outlive every thread that may log while it is set. */
typedef struct kumo__log_sink {
    void (*write)(void *ctx, const char *buf, size_t len);
    void *ctx;
} kumo__log_sink;
void kumo__log_set_sink(const kumo__log_sink *sink);
/* Writes buf[0..len) (whole lines) to the sink when one is set: 1; else
 * 0 and nothing is written. */
int kumo__log_to_sink(const char *buf, size_t len);
/* Ends the line and writes it to fd with one write(2) (fd 2: to the sink
 * when one is set); errno is kept. */
void kumo__logline_write(kumo__logline *l, int fd);

/* A line with only time, level and msg (printf) on stderr: the gateway's
 * runtime events ("reloaded ...", "loop 1: ..."). */
void kumo__log_event(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
