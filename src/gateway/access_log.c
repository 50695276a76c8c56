/*
 * access_log.c: one JSON line per request, in the shape of every kumo log
 * line (base/log.h), with the same fields under kumo up and kumo-host so a
 * log query written locally works deployed:
 *
 *   {"time":..,"level":"info","msg":"request","request_id":..,"method":..,
 *    "path":..,"operation":..,"status":200,"duration_us":93,"trace_id":..,
 *    "span_id":..,"worker_pid":..}
 *
 * `level` follows the status: info below 500, warn for 503 (the gateway
 * shedding load), error for any other 5xx. worker_pid is kumo up's only
 * (kumo-host serves in its own process); trace_id and span_id are there
 * when the request was traced. The gateway gathers its lines per
 * loop thread and writes them once per turn of the loop.
 */
#include "gateway/access_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *kumo__access_level(int status)
{
    return status < 500 ? "info" : status == 503 ? "warn" : "error";
}

void kumo__access_line(kumo__logline *l, const char *request_id, const char *method, size_t method_len,
                       const char *path, size_t path_len, const char *operation, int status, uint64_t duration_us,
                       const char *trace_id, const char *span_id)
{
    kumo__logline_begin(l, kumo__access_level(status), "request", 7);
    kumo__logline_cstr(l, "request_id", request_id);
    kumo__logline_str(l, "method", method, method_len);
    kumo__logline_str(l, "path", path, path_len);
    kumo__logline_cstr(l, "operation", operation ? operation : "");
    kumo__logline_int(l, "status", status);
    kumo__logline_int(l, "duration_us", (long long)duration_us);
    kumo__logline_cstr(l, "trace_id", trace_id);
    kumo__logline_cstr(l, "span_id", span_id);
}

/* Access log lines are gathered per loop and written once per turn of the
 * loop (and whenever the buffer fills): one write(2) for many requests at
 * load, each line whole. The buffer is the loop thread's own, allocated
 * when the thread logs its first line and freed when the thread ends. It
 * is not thread-local storage itself: glibc zeroes a thread's whole static
 * TLS block when it creates the thread, and 64 KiB of it would cost every
 * thread of the process 16 page faults at its start (issue 19). */
#define LOG_BUF_SIZE 65536
_Static_assert(LOG_BUF_SIZE >= KUMO__LOG_LINE_MAX, "a whole line fits the buffer");
static __thread char *log_buf;
static __thread size_t log_len;
static pthread_key_t log_key;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static int log_key_ok;

static void emit(const char *p, size_t len);

/* At the thread's end: what it still holds goes out, and the thread's
 * pointer is cleared, in case a later destructor logs. */
static void log_key_free(void *b)
{
    if (b == log_buf) {
        emit(log_buf, log_len);
        log_buf = NULL;
        log_len = 0;
    }
    free(b);
}

static void log_key_init(void)
{
    log_key_ok = pthread_key_create(&log_key, log_key_free) == 0;
}

static void write_all(const char *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(2, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* stderr is gone: drop the lines rather than spin */
        off += (size_t)n;
    }
}

/* kumo up's log store, when it runs, takes the lines directly (the sink
 * of base/log.h: it writes them to the real stderr), not through the
 * pipe on fd 2. */
static void emit(const char *p, size_t len)
{
    if (len && !kumo__log_to_sink(p, len))
        write_all(p, len);
}

void kumo__access_log_flush(void)
{
    emit(log_buf, log_len);
    log_len = 0;
}

static void log_append(const char *line, size_t len)
{
    if (log_buf == NULL) {
        pthread_once(&log_once, log_key_init);
        char *b = log_key_ok ? malloc(LOG_BUF_SIZE) : NULL;
        if (b == NULL || pthread_setspecific(log_key, b) != 0) {
            free(b);
            emit(line, len); /* no buffer: the line goes out alone */
            return;
        }
        log_buf = b;
    }
    if (log_len + len > LOG_BUF_SIZE)
        kumo__access_log_flush();
    memcpy(log_buf + log_len, line, len);
    log_len += len;
}

void kumo__access_log(const char *request_id, const char *method, const char *path, size_t path_len,
                      const char *operation, int status, uint64_t duration_us, pid_t pid, const uint8_t *trace_id,
                      const uint8_t *span_id)
{
    kumo__logline l;
    kumo__access_line(&l, request_id, method, strlen(method), path, path_len, operation, status, duration_us, NULL,
                      NULL);
    if (trace_id && span_id) {
        kumo__logline_hex(&l, "trace_id", trace_id, 16);
        kumo__logline_hex(&l, "span_id", span_id, 8);
    }
    if (pid > 0)
        kumo__logline_int(&l, "worker_pid", pid);
    size_t n = kumo__logline_end(&l);
    log_append(l.buf, n);
}
