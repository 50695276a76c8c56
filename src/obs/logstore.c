/*
 * logstore.c: kumo up's log store (logstore.h): the pipe on fd 2, its
 * reader and writer threads, and the SQLite file they fill.
 *
 * Two threads, so that a slow disk never slows a writer of fd 2: the
 * reader only copies the pipe to the real stderr and pushes its whole
 * lines; the writer takes everything pushed at a time and stores it in
 * transactions of at most TXN_BYTES(cap) raw bytes. The gateway's loops
 * push their access lines themselves (kumo__logstore_put), after writing
 * them to the real stderr, without the pipe. What is pushed and not yet
 * stored is bounded (QUEUE_MAX; lines past it are dropped from the store
 * and counted, never from stderr). The pipe is 1 MiB so that bursts wait
 * in the kernel rather than in a writer's write(2).
 *
 * The cap: SQLite reuses the pages DELETE frees but never gives them
 * back, so the file is as large as the most it ever held. After each
 * transaction, once the pages in use pass 3/4 of the cap, the oldest rows
 * go until they are under 1/2; a transaction adds at most a 32nd of the
 * cap in raw bytes (a few times that stored, with the indexes), so the
 * file stays under the cap. The WAL beside it
 * is checkpointed every quarter of the cap and truncated back to that.
 *
 * Cheap before durable: synchronous=OFF (no fsync; a power loss can cost
 * the newest lines, or the file, which is then refused with a message
 * saying to delete it), and the writer thread runs under SCHED_IDLE, so
 * under full CPU load the store gives way to the requests (and counts
 * what it drops) rather than take a share of the cores. Producers push
 * onto a lock-free list and the writer takes it with one exchange: the
 * writer, kept off the CPU for a while, never holds up a loop.
 */
#include "obs/logstore.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"
#include "obs/metrics.h"

#define PAGE_SIZE 4096
#define QUEUE_MAX (4u << 20)
/* The writer takes the queue at most every BATCH_MS, or at once when
 * WAKE_BYTES wait (or when it was idle): many lines per transaction and
 * few wake-ups at load, a line stored at once when quiet. */
#define BATCH_MS 50
#define WAKE_BYTES (256u << 10)
#define READ_CHUNK 65536
/* What the writer stores between two looks at a stop. */
#define PIECE (128u << 10)
/* Raw bytes per transaction: small enough that one never takes the file
 * past the cap (see above), large enough to be cheap. */
#define TXN_BYTES(cap) ((cap) / 32 < (1u << 20) ? (cap) / 32 : (1u << 20))
/* At a stop: the pipe is read until every writer closed it, or until it
 * was quiet for QUIET_MS, or DRAIN_MAX_MS passed (a child still alive). */
#define QUIET_MS 250
#define DRAIN_MAX_MS 3000

static const char *const DROPPED_NAME = "kumo_log_lines_dropped_total";
static const char *const DROPPED_HELP = "Log lines that reached stderr but not the log store (.kumo/data/logs.db)";

/* ---- reading a line ---------------------------------------------------- */

int kumo__log_level_rank(const char *level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, names[i]) == 0)
            return i;
    return -1;
}

static const char *map_level(const char *s)
{
    static const struct {
        const char *name, *level;
    } map[] = {
        {"debug", "debug"},  {"trace", "debug"}, {"info", "info"},   {"notice", "info"}, {"warn", "warn"},
        {"warning", "warn"}, {"error", "error"}, {"err", "error"},   {"fatal", "error"}, {"critical", "error"},
        {"crit", "error"},   {"alert", "error"}, {"emerg", "error"}, {"panic", "error"},
    };
    for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(s, map[i].name) == 0)
            return map[i].level;
    return "info";
}

/* A JSON reader of our own for the writer's hot loop: it checks that the
 * line is one JSON object (RFC 8259) and decodes the few top-level string
 * members the store has columns for, into the record's buffer, without a
 * tree or an allocation (a general parser costs more than SQLite here). */
typedef struct scan {
    const char *p, *end;
    char *out, *out_end; /* where decoded strings go */
} scan;

#define MAX_DEPTH 64

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d == 16)
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static void put_utf8(scan *s, unsigned cp, char **o)
{
    char *q = *o;
    if (cp == 0)
        cp = 0xfffd; /* a NUL would end the C string early */
    if (q + 4 > s->out_end)
        return;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xc0 | cp >> 6);
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xe0 | cp >> 12);
        *q++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (char)(0xf0 | cp >> 18);
        *q++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *q++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = q;
}

/* A string at s->p ('"'): checked, and decoded (NUL-terminated) when
 * `keep`, with *str and *len set. 0 or -1. Decoded text is never longer
 * than its JSON form, so the buffer (the line's size) always holds it. */
static int scan_string(scan *s, int keep, const char **str, size_t *len)
{
    char *o = keep ? s->out : NULL;
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            if (keep) {
                *str = s->out;
                *len = (size_t)(o - s->out);
                *o++ = '\0';
                s->out = o;
            }
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            if (keep)
                *o++ = (char)c;
            s->p++;
            continue;
        }
        if (s->end - s->p < 2)
            return -1;
        char e = s->p[1];
        s->p += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple) {
            if (keep)
                *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || s->end - s->p < 4 || hex4(s->p, &cp) != 0)
            return -1;
        s->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u' &&
            hex4(s->p + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            s->p += 6;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
            cp = 0xfffd; /* a lone surrogate */
        }
        if (keep)
            put_utf8(s, cp, &o);
    }
    return -1;
}

static int digits(scan *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start ? 0 : -1;
}

static int scan_number(scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (digits(s) != 0)
        return -1;
    if (s->p < s->end && *s->p == '.' && (s->p++, digits(s) != 0))
        return -1;
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (digits(s) != 0)
            return -1;
    }
    return 0;
}

static int scan_value(scan *s, int depth);

/* An object or array at s->p, its members or elements checked. */
static int scan_container(scan *s, int depth)
{
    char close = *s->p == '{' ? '}' : ']';
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        skip_ws(s);
        if (close == '}') {
            if (s->p >= s->end || *s->p != '"' || scan_string(s, 0, NULL, NULL) != 0)
                return -1;
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':')
                return -1;
        }
        if (scan_value(s, depth + 1) != 0)
            return -1;
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == close) {
            s->p++;
            return 0;
        }
        if (*s->p++ != ',')
            return -1;
    }
}

static int scan_value(scan *s, int depth)
{
    skip_ws(s);
    if (s->p >= s->end || depth > MAX_DEPTH)
        return -1;
    char c = *s->p;
    if (c == '"')
        return scan_string(s, 0, NULL, NULL);
    if (c == '{' || c == '[')
        return scan_container(s, depth);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(s);
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
            s->p += n;
            return 0;
        }
    }
    return -1;
}

/* The top-level object: each member checked; the string members the
 * store keeps decoded into r. */
static int scan_line(scan *s, kumo__logrec *r, const char **level, const char **time, size_t *time_len,
                     const char **message, size_t *message_len)
{
    static const char *const keys[] = {"time",       "level",    "msg",      "message",
                                       "request_id", "trace_id", "function", "operation"};
    const char *val[8] = {0};
    size_t vlen[8] = {0};
    skip_ws(s);
    if (s->p >= s->end || *s->p != '{')
        return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
    } else {
        for (;;) {
            skip_ws(s);
            const char *name;
            size_t name_len;
            char *mark = s->out;
            if (s->p >= s->end || *s->p != '"' || scan_string(s, 1, &name, &name_len) != 0)
                return -1;
            s->out = mark; /* the name is compared, not kept */
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':')
                return -1;
            skip_ws(s);
            int k = -1;
            for (int i = 0; i < 8 && k < 0; i++)
                if (strlen(keys[i]) == name_len && memcmp(keys[i], name, name_len) == 0)
                    k = i;
            if (k >= 0 && s->p < s->end && *s->p == '"') {
                if (scan_string(s, 1, &val[k], &vlen[k]) != 0)
                    return -1;
            } else {
                if (k >= 0)
                    val[k] = NULL; /* not a string: as if absent (the last member counts) */
                if (scan_value(s, 1) != 0)
                    return -1;
            }
            skip_ws(s);
            if (s->p >= s->end)
                return -1;
            if (*s->p == '}') {
                s->p++;
                break;
            }
            if (*s->p++ != ',')
                return -1;
        }
    }
    skip_ws(s);
    if (s->p != s->end)
        return -1; /* something after the object */
    *time = val[0], *time_len = vlen[0];
    *level = val[1];
    *message = val[2] ? val[2] : val[3];
    *message_len = val[2] ? vlen[2] : vlen[3];
    r->request_id = val[4], r->trace_id = val[5], r->function = val[6], r->operation = val[7];
    return 0;
}

int kumo__logrec_parse(const char *line, size_t len, int64_t now_us, kumo__logrec *out)
{
    out->time_us = now_us;
    out->level = "info";
    out->msg = line;
    out->msg_len = len;
    out->request_id = out->trace_id = out->function = out->operation = NULL;
    out->is_json = 0;
    size_t lead = 0;
    while (lead < len && (line[lead] == ' ' || line[lead] == '\t' || line[lead] == '\n' || line[lead] == '\r'))
        lead++;
    if (len - lead < 2 || len > KUMO__LOGSTORE_LINE_MAX || line[lead] != '{')
        return 0; /* the common case for text, decided at once */
    scan s = {.p = line, .end = line + len, .out = out->buf, .out_end = out->buf + sizeof(out->buf)};
    const char *level = NULL, *time = NULL, *message = NULL;
    size_t time_len = 0, message_len = 0;
    if (scan_line(&s, out, &level, &time, &time_len, &message, &message_len) != 0) {
        out->request_id = out->trace_id = out->function = out->operation = NULL;
        return 0;
    }
    int64_t us;
    if (time && kumo__rfc3339_parse(time, time_len, &us) == 0)
        out->time_us = us;
    out->level = map_level(level);
    out->msg = message ? message : "";
    out->msg_len = message ? message_len : 0;
    out->is_json = 1;
    return 1;
}

/* ---- the database ---------------------------------------------------- */

struct kumo__logdb {
    sqlite3 *db;
    sqlite3_stmt *insert, *pages, *freelist, *bounds;
    char *path;
    size_t max_bytes;
    kumo__logrec rec; /* the line being stored */
};

static int db_fail(kumo__logdb *d, int rc, const char *doing, kumo__error *err)
{
    int broken = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
    kumo__error_set(err, -EIO, "log store %s: %s: %s%s", d->path, doing,
                    d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc),
                    broken ? " (delete the file to start an empty store)" : "");
    return err->code;
}

static int64_t one_int(sqlite3_stmt *s)
{
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    return v;
}

/* Bytes of the file's pages that hold something (the rest are free). */
static int64_t used_bytes(kumo__logdb *d)
{
    int64_t pages = one_int(d->pages), free_pages = one_int(d->freelist);
    if (pages < 0 || free_pages < 0)
        return -1;
    return (pages - free_pages) * PAGE_SIZE;
}

/* Deletes the oldest rows until the pages in use are under `low`. */
static int trim(kumo__logdb *d, int64_t low, kumo__error *err)
{
    for (int round = 0; round < 16; round++) {
        int64_t used = used_bytes(d);
        if (used < 0)
            return db_fail(d, SQLITE_ERROR, "reading its size", err);
        if (used <= low)
            return 0;
        if (sqlite3_step(d->bounds) != SQLITE_ROW) {
            sqlite3_reset(d->bounds);
            return db_fail(d, SQLITE_ERROR, "reading its rows", err);
        }
        int64_t lo = sqlite3_column_int64(d->bounds, 0), hi = sqlite3_column_int64(d->bounds, 1);
        int empty = sqlite3_column_type(d->bounds, 0) == SQLITE_NULL;
        sqlite3_reset(d->bounds);
        if (empty)
            return 0; /* only the table's own pages are left */
        /* Rows are about the same size: drop the share over `low`, and a
         * tenth more so that one round usually does. */
        int64_t rows = hi - lo + 1;
        int64_t n = (int64_t)((double)rows * ((double)(used - low) / (double)used) * 1.1) + 1;
        char sql[96];
        snprintf(sql, sizeof(sql), "DELETE FROM logs WHERE id < %lld", (long long)(lo + n));
        int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return db_fail(d, rc, "deleting its oldest rows", err);
    }
    return 0;
}

static int enforce_cap(kumo__logdb *d, kumo__error *err)
{
    int64_t used = used_bytes(d);
    if (used < 0)
        return db_fail(d, SQLITE_ERROR, "reading its size", err);
    if (used <= (int64_t)(d->max_bytes / 4 * 3))
        return 0;
    return trim(d, (int64_t)(d->max_bytes / 2), err);
}

static const char SCHEMA[] = "CREATE TABLE IF NOT EXISTS logs("
                             " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " time INTEGER NOT NULL,"
                             " level TEXT NOT NULL,"
                             " msg TEXT NOT NULL,"
                             " request_id TEXT, trace_id TEXT, function TEXT, operation TEXT,"
                             " line TEXT NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS logs_time ON logs(time);"
                             "CREATE INDEX IF NOT EXISTS logs_request ON logs(request_id) WHERE request_id IS NOT NULL;"
                             /* No index on trace_id: its values are random, so each row's entry lands on a page
                              * of its own, and that index was most of what a row cost to store (about 60%, with
                              * many requests a second). `kumo logs --trace` reads the table instead: about 0.2 s
                              * for a full 64 MiB store here. A file made before loses the index. */
                             "DROP INDEX IF EXISTS logs_trace;";

int kumo__logdb_open(const char *path, size_t max_bytes, kumo__logdb **out, kumo__error *err)
{
    int rc;
    *out = NULL;
    kumo__logdb *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->path = strdup(path)) == NULL) {
        free(d);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    d->max_bytes = max_bytes;
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash && slash != dir) {
        *slash = '\0';
        if ((rc = kumo__mkdirs(dir, 0755)) != 0) {
            kumo__error_set(err, rc, "log store %s: cannot make its directory: %s", path, strerror(-rc));
            free(dir);
            goto fail;
        }
    }
    free(dir);
    rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = db_fail(d, rc, "cannot open it", err);
        goto fail;
    }
    sqlite3_busy_timeout(d->db, 2000);
    /* page_size only counts before the first table; then WAL. */
    char pragmas[320];
    size_t wal_pages = max_bytes / PAGE_SIZE / 4;
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA page_size=%d; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
             "PRAGMA wal_autocheckpoint=%zu; PRAGMA journal_size_limit=%zu;",
             PAGE_SIZE, wal_pages < 1000 ? wal_pages : 1000, max_bytes / 4);
    if ((rc = sqlite3_exec(d->db, pragmas, NULL, NULL, NULL)) != SQLITE_OK) {
        rc = db_fail(d, rc, "setting it up", err);
        goto fail;
    }
    sqlite3_stmt *v = NULL;
    int64_t version = -1;
    if (sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK)
        version = one_int(v);
    sqlite3_finalize(v);
    if (version > KUMO__LOGSTORE_VERSION) {
        kumo__error_set(err, -EPROTO,
                        "log store %s: made by a newer kumo (format %lld, this one reads %d); move it away", path,
                        (long long)version, KUMO__LOGSTORE_VERSION);
        rc = err->code;
        goto fail;
    }
    if ((rc = sqlite3_exec(d->db, SCHEMA, NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_exec(d->db, "PRAGMA user_version=1", NULL, NULL, NULL)) != SQLITE_OK) {
        rc = db_fail(d, rc, "making its table", err);
        goto fail;
    }
    if ((rc = sqlite3_prepare_v2(d->db,
                                 "INSERT INTO logs(time, level, msg, request_id, trace_id, function, operation, line) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                 -1, &d->insert, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(d->db, "PRAGMA page_count", -1, &d->pages, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(d->db, "PRAGMA freelist_count", -1, &d->freelist, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(d->db, "SELECT min(id), max(id) FROM logs", -1, &d->bounds, NULL)) != SQLITE_OK) {
        rc = db_fail(d, rc, "preparing its statements", err);
        goto fail;
    }
    /* A file left larger than this cap: trimmed, then given back. */
    int64_t pages = one_int(d->pages);
    if (pages > 0 && (uint64_t)pages * PAGE_SIZE > max_bytes) {
        if ((rc = trim(d, (int64_t)(max_bytes / 2), err)) != 0)
            goto fail;
        if ((rc = sqlite3_exec(d->db, "VACUUM", NULL, NULL, NULL)) != SQLITE_OK) {
            rc = db_fail(d, rc, "compacting it", err);
            goto fail;
        }
    }
    *out = d;
    return 0;
fail:
    kumo__logdb_close(d);
    return rc;
}

static int store_line(kumo__logdb *d, const char *line, size_t len, int64_t now_us)
{
    kumo__logrec *r = &d->rec;
    kumo__logrec_parse(line, len, now_us, r);
    sqlite3_stmt *s = d->insert;
    sqlite3_bind_int64(s, 1, r->time_us);
    sqlite3_bind_text(s, 2, r->level, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, r->msg, (int)r->msg_len, SQLITE_STATIC);
    const char *fields[] = {r->request_id, r->trace_id, r->function, r->operation};
    for (int i = 0; i < 4; i++)
        if (fields[i])
            sqlite3_bind_text(s, 4 + i, fields[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 4 + i);
    sqlite3_bind_text(s, 8, line, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : rc;
}

int kumo__logdb_append_pieces(kumo__logdb *d, const kumo__logdb_piece *pieces, size_t n, kumo__error *err)
{
    size_t i = 0, pos = 0, txn_max = TXN_BYTES(d->max_bytes);
    while (i < n) {
        int rc = sqlite3_exec(d->db, "BEGIN", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return db_fail(d, rc, "starting a transaction", err);
        size_t in_txn = 0;
        while (i < n && in_txn < txn_max) {
            const char *buf = pieces[i].buf;
            size_t len = pieces[i].len;
            const char *nl = memchr(buf + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - buf) : len, ln = end - pos;
            if (ln > 0 && buf[pos + ln - 1] == '\r')
                ln--;
            if (ln > KUMO__LOGSTORE_LINE_MAX)
                ln = KUMO__LOGSTORE_LINE_MAX;
            if (ln > 0 && (rc = store_line(d, buf + pos, ln, pieces[i].at_us)) != 0) {
                sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
                return db_fail(d, rc, "storing a line", err);
            }
            in_txn += end + 1 - pos;
            pos = end + 1;
            if (pos >= len) {
                i++;
                pos = 0;
            }
        }
        if ((rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
            sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
            return db_fail(d, rc, "committing", err);
        }
        if ((rc = enforce_cap(d, err)) != 0)
            return rc;
    }
    return 0;
}

int kumo__logdb_append(kumo__logdb *d, const char *buf, size_t len, int64_t now_us, kumo__error *err)
{
    kumo__logdb_piece one = {buf, len, now_us};
    return len ? kumo__logdb_append_pieces(d, &one, 1, err) : 0;
}

void kumo__logdb_close(kumo__logdb *d)
{
    if (d == NULL)
        return;
    sqlite3_finalize(d->insert);
    sqlite3_finalize(d->pages);
    sqlite3_finalize(d->freelist);
    sqlite3_finalize(d->bounds);
    sqlite3_close(d->db);
    free(d->path);
    free(d);
}

/* ---- the pipe and its threads ----------------------------------------- */

/* A piece of whole lines on its way to the store: what one write of the
 * gateway's loops, or one read of the pipe, produced. */
typedef struct chunk {
    struct chunk *next;
    size_t len;
    int64_t at_us; /* when it was pushed: the time of its lines that carry none */
    char data[];
} chunk;

/* Producers (the loops' kumo__logstore_put, the reader) push chunks onto
 * `head` with a compare-and-swap; the writer takes them all with one
 * exchange. Nobody waits for anybody: the writer runs at the lowest
 * priority there is, and a lock it could be preempted inside would stall
 * the loops behind it. */
struct kumo__logstore {
    int saved_fd;    /* the real stderr, close-on-exec */
    int read_fd;     /* the pipe's read end, close-on-exec */
    int stop_fd;     /* eventfd: the reader drains and ends */
    int wake_fd;     /* eventfd: a producer wakes the idle writer, or the stop does */
    kumo__logdb *db; /* the writer's; opened by it first thing (NULL: could not be) */
    char *path;      /* data_dir/logs.db */
    size_t max_bytes;
    pthread_mutex_t open_lock; /* open_state, for kumo__logstore_wait_open */
    pthread_cond_t opened;
    int open_state; /* 0 while the writer opens the file, 1 open, -1 it could not be */
    pthread_t reader, writer;
    int reader_started, writer_started;

    _Atomic(chunk *) head; /* pushed, newest first */
    _Atomic size_t queued; /* bytes pushed and not yet stored: at most QUEUE_MAX */
    _Atomic int idle;      /* the writer sleeps on wake_fd until a push */
    _Atomic int handover;  /* the stopping thread stores the rest */
    _Atomic uint64_t dropped;

    pthread_mutex_t lock; /* metrics and reported: the reader and the gateway, never the writer */
    kumo__metrics *metrics;
    uint64_t reported; /* dropped lines already counted in metrics */

    /* the reader's own: the line being cut */
    char *partial;
    size_t partial_len;
    /* the writer's own (the stopping thread's after the handover) */
    chunk *batch;     /* taken, oldest first */
    size_t batch_off; /* what of the first is stored */
    int failed;       /* 1: SQLite failed under the store, said once; 2: the file never opened */
};

static size_t count_lines(const char *p, size_t n)
{
    size_t c = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        c++;
    return c;
}

static void report_dropped(kumo__logstore *ls)
{
    pthread_mutex_lock(&ls->lock);
    uint64_t now = atomic_load(&ls->dropped);
    if (ls->metrics && now > ls->reported) {
        kumo__metrics_count(ls->metrics, DROPPED_NAME, DROPPED_HELP, now - ls->reported);
        ls->reported = now;
    }
    pthread_mutex_unlock(&ls->lock);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* stderr is gone: the store still gets the lines */
        p += w;
        n -= (size_t)w;
    }
}

static void wake_writer(kumo__logstore *ls)
{
    uint64_t one = 1;
    (void)!write(ls->wake_fd, &one, sizeof(one));
}

/* Pushes a[0..an) then b[0..bn) (whole lines; a newline is added when the
 * last has none) as one chunk, or counts its lines dropped when
 * QUEUE_MAX bytes already wait or there is no memory. Wakes the writer
 * when it sleeps, or when the queue just passed WAKE_BYTES; otherwise it
 * takes the queue on its own BATCH_MS clock: at load, one wake-up per
 * batch of many turns of the loops, not one per write. */
static void push(kumo__logstore *ls, const char *a, size_t an, const char *b, size_t bn)
{
    size_t len = an + bn;
    if (len == 0)
        return;
    int newline = (bn ? b[bn - 1] : a[an - 1]) == '\n';
    len += !newline;
    size_t before = atomic_fetch_add(&ls->queued, len);
    chunk *c = before + len <= QUEUE_MAX ? malloc(sizeof(*c) + len) : NULL;
    if (c == NULL) {
        atomic_fetch_sub(&ls->queued, len);
        atomic_fetch_add(&ls->dropped, count_lines(a, an) + count_lines(b, bn) + !newline);
        return;
    }
    if (an)
        memcpy(c->data, a, an);
    if (bn)
        memcpy(c->data + an, b, bn);
    if (!newline)
        c->data[len - 1] = '\n';
    c->len = len;
    c->at_us = (int64_t)kumo__epoch_us();
    c->next = atomic_load(&ls->head);
    while (!atomic_compare_exchange_weak(&ls->head, &c->next, c))
        ;
    if (atomic_exchange(&ls->idle, 0) || (before < WAKE_BYTES && before + len >= WAKE_BYTES))
        wake_writer(ls);
}

void kumo__logstore_put(kumo__logstore *ls, const char *buf, size_t len)
{
    if (len == 0)
        return;
    write_all(ls->saved_fd, buf, len); /* stderr first, whatever the store does */
    push(ls, buf, len, NULL, 0);
}

/* Cuts a chunk read from the pipe at its last newline: the whole lines
 * (after what ls->partial held) are pushed, the unfinished end waits in
 * ls->partial (kept up to the stored line's ceiling: the rest of a longer
 * line reaches stderr only). */
static void cut_lines(kumo__logstore *ls, const char *p, size_t n)
{
    const char *nl = memrchr(p, '\n', n);
    if (nl != NULL) {
        size_t whole = (size_t)(nl - p) + 1;
        push(ls, ls->partial, ls->partial_len, p, whole);
        ls->partial_len = 0;
        p += whole;
        n -= whole;
    }
    size_t room = KUMO__LOGSTORE_LINE_MAX - ls->partial_len;
    size_t take = n < room ? n : room;
    memcpy(ls->partial + ls->partial_len, p, take);
    ls->partial_len += take;
}

static void *reader_main(void *arg)
{
    kumo__logstore *ls = arg;
    char *buf = malloc(READ_CHUNK);
    int stopping = 0;
    uint64_t give_up = 0, seen_dropped = 0;
    while (buf) {
        struct pollfd pf[2] = {{.fd = ls->read_fd, .events = POLLIN},
                               {.fd = stopping ? -1 : ls->stop_fd, .events = POLLIN}};
        /* drops (the loops', the writer's) reach the metrics within a second */
        int n = poll(pf, 2, stopping ? QUIET_MS : 1000);
        if (n < 0 && errno == EINTR)
            continue;
        uint64_t dropped = atomic_load(&ls->dropped);
        if (dropped != seen_dropped) {
            report_dropped(ls);
            seen_dropped = dropped;
        }
        if (n < 0 || (n == 0 && stopping))
            break; /* stopping, and quiet for QUIET_MS: a child still holds the pipe */
        if (n == 0)
            continue;
        if (pf[1].revents) {
            stopping = 1;
            give_up = kumo__mono_ms() + DRAIN_MAX_MS;
        }
        if (pf[0].revents) {
            ssize_t r = read(ls->read_fd, buf, READ_CHUNK);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0)
                break;                               /* every writer closed it */
            write_all(ls->saved_fd, buf, (size_t)r); /* stderr first, whatever the store does */
            cut_lines(ls, buf, (size_t)r);
        }
        if (stopping && kumo__mono_ms() > give_up)
            break;
    }
    free(buf);
    if (ls->partial_len > 0) /* a last line without its newline */
        push(ls, ls->partial, ls->partial_len, NULL, 0);
    ls->partial_len = 0;
    return NULL;
}

/* Stores the pieces, or counts their lines dropped once the store has
 * failed (saying so once, on the real stderr, not into the store that
 * failed). */
static void store_or_drop(kumo__logstore *ls, const kumo__logdb_piece *p, size_t n)
{
    if (n == 0 || ls->failed == 2) /* no store this run: said at start, nothing counted */
        return;
    kumo__error err = {0};
    if (!ls->failed && kumo__logdb_append_pieces(ls->db, p, n, &err) == 0)
        return;
    if (!ls->failed) {
        kumo__logline l;
        char msg[sizeof(err.msg) + 128];
        int m = snprintf(msg, sizeof(msg), "%s; lines are no longer stored (they still reach stderr)", err.msg);
        kumo__logline_begin(&l, "warn", msg, m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1);
        kumo__logline_write(&l, ls->saved_fd);
        ls->failed = 1;
    }
    for (size_t i = 0; i < n; i++) /* after a failure some may be in; most are not */
        atomic_fetch_add(&ls->dropped, count_lines(p[i].buf, p[i].len));
}

/* Takes everything pushed, oldest first, after what ls->batch still holds. */
static void take_all(kumo__logstore *ls)
{
    chunk *list = atomic_exchange(&ls->head, NULL), *rev = NULL;
    while (list) {
        chunk *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    chunk **end = &ls->batch;
    while (*end)
        end = &(*end)->next;
    *end = rev;
}

/* Stores ls->batch in pieces of at most PIECE bytes of whole lines (many
 * pushes each: one access line per turn of a loop would otherwise be a
 * transaction, and its page writes, each), freeing each chunk once
 * stored, until it is empty or (stop_at_handover) a stop asks for it. */
#define PIECES_MAX 512
static void store_batch(kumo__logstore *ls, int stop_at_handover)
{
    kumo__logdb_piece p[PIECES_MAX];
    while (ls->batch && !(stop_at_handover && atomic_load(&ls->handover))) {
        size_t n = 0, bytes = 0, off = ls->batch_off;
        chunk *c = ls->batch;
        while (c && n < PIECES_MAX && bytes < PIECE) {
            size_t end = off + (PIECE - bytes) < c->len ? off + (PIECE - bytes) : c->len;
            const char *nl = end < c->len ? memrchr(c->data + off, '\n', end - off) : NULL;
            if (end < c->len && nl == NULL && n > 0)
                break; /* no whole line of this chunk fits: the next piece's */
            if (nl)
                end = (size_t)(nl - c->data) + 1;
            p[n++] = (kumo__logdb_piece){c->data + off, end - off, c->at_us};
            bytes += end - off;
            if (end < c->len)
                break;
            c = c->next;
            off = 0;
        }
        store_or_drop(ls, p, n);
        atomic_fetch_sub(&ls->queued, bytes);
        /* free what was stored whole; the last piece may end inside a chunk */
        size_t left = bytes;
        while (left > 0) {
            chunk *f = ls->batch;
            size_t rest = f->len - ls->batch_off;
            if (left < rest) {
                ls->batch_off += left;
                break;
            }
            left -= rest;
            ls->batch = f->next;
            ls->batch_off = 0;
            free(f);
        }
    }
}

/* Waits on wake_fd for at most timeout_ms (-1: until woken). */
static void wait_woken(kumo__logstore *ls, int timeout_ms)
{
    struct pollfd pf = {.fd = ls->wake_fd, .events = POLLIN};
    if (poll(&pf, 1, timeout_ms) > 0) {
        uint64_t v;
        (void)!read(ls->wake_fd, &v, sizeof(v));
    }
}

/* The writer's first act, at the priority it was started with: the file
 * opened here rather than in kumo__logstore_start keeps SQLite's open
 * (creating the file and its table, fdatasyncs, trimming a file over a
 * smaller cap) off kumo up's start (issue 19). Lines written meanwhile
 * wait in the queue. A file that cannot be opened is said on the real
 * stderr, as a start that cannot make the store says it, and the lines
 * then reach stderr only. */
static void open_db(kumo__logstore *ls)
{
    kumo__error err = {0};
    kumo__logdb *db = NULL;
    if (kumo__logdb_open(ls->path, ls->max_bytes, &db, &err) != 0) {
        kumo__logline l;
        char msg[sizeof(err.msg) + 128];
        int n =
            snprintf(msg, sizeof(msg), "%s; serving without the log store (kumo logs will not show this run)", err.msg);
        kumo__logline_begin(&l, "warn", msg, n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
        kumo__logline_write(&l, ls->saved_fd);
        ls->failed = 2;
        db = NULL;
    }
    ls->db = db;
    pthread_mutex_lock(&ls->open_lock);
    ls->open_state = db ? 1 : -1;
    pthread_cond_broadcast(&ls->opened);
    pthread_mutex_unlock(&ls->open_lock);
}

static void *writer_main(void *arg)
{
    kumo__logstore *ls = arg;
    open_db(ls);
    /* The lowest CPU priority there is, for this thread only (Linux
     * schedules threads one by one): SCHED_IDLE, or nice 19 where that is
     * refused. When the loops want the cores they get them, the queue
     * fills and the store drops lines (counted) instead of slowing
     * requests; an idle moment lets it catch up. It holds no lock anyone
     * else takes, so being kept off the CPU holds up nobody. What is left
     * at a stop is stored by the stopping thread (kumo__logstore_stop),
     * since an unprivileged thread cannot take its priority back. */
    struct sched_param none = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) != 0)
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    while (!atomic_load(&ls->handover)) {
        take_all(ls);
        if (ls->batch == NULL) {
            atomic_store(&ls->idle, 1);
            if (atomic_load(&ls->head) == NULL && !atomic_load(&ls->handover))
                wait_woken(ls, -1);
            atomic_store(&ls->idle, 0);
            continue;
        }
        store_batch(ls, 1);
        /* many turns' lines per transaction: the next batch in BATCH_MS,
         * sooner when WAKE_BYTES wait (a push wakes it) */
        if (atomic_load(&ls->queued) < WAKE_BYTES && !atomic_load(&ls->handover))
            wait_woken(ls, BATCH_MS);
    }
    return NULL;
}

/* The threads take no signal: SIGTERM and SIGINT are for kumo up's main
 * thread (sigwait), and a SIGPIPE from a closed stderr must not kill the
 * process (the write then fails with EPIPE). */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void logstore_free(kumo__logstore *ls)
{
    if (ls->saved_fd >= 0)
        close(ls->saved_fd);
    if (ls->read_fd >= 0)
        close(ls->read_fd);
    if (ls->stop_fd >= 0)
        close(ls->stop_fd);
    if (ls->wake_fd >= 0)
        close(ls->wake_fd);
    kumo__logdb_close(ls->db);
    pthread_mutex_destroy(&ls->lock);
    pthread_mutex_destroy(&ls->open_lock);
    pthread_cond_destroy(&ls->opened);
    free(ls->path);
    take_all(ls);
    for (chunk *c = ls->batch, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(ls->partial);
    free(ls);
}

/* Ends the threads that started (a failed start). */
static void stop_threads(kumo__logstore *ls)
{
    if (ls->reader_started) {
        uint64_t one = 1;
        (void)!write(ls->stop_fd, &one, sizeof(one));
        pthread_join(ls->reader, NULL);
    }
    if (ls->writer_started) {
        atomic_store(&ls->handover, 1);
        wake_writer(ls);
        pthread_join(ls->writer, NULL);
    }
}

int kumo__logstore_start(const char *data_dir, size_t max_bytes, kumo__logstore **out, kumo__error *err)
{
    int rc = 0, pfd[2] = {-1, -1};
    *out = NULL;
    kumo__logstore *ls = calloc(1, sizeof(*ls));
    if (ls == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    ls->saved_fd = ls->read_fd = ls->stop_fd = ls->wake_fd = -1;
    pthread_mutex_init(&ls->lock, NULL);
    pthread_mutex_init(&ls->open_lock, NULL);
    pthread_cond_init(&ls->opened, NULL);
    ls->max_bytes = max_bytes;
    atomic_init(&ls->head, NULL);
    atomic_init(&ls->queued, 0);
    atomic_init(&ls->idle, 0);
    atomic_init(&ls->dropped, 0);
    atomic_init(&ls->handover, 0);
    if (asprintf(&ls->path, "%s/%s", data_dir, KUMO__LOGSTORE_FILE) < 0)
        ls->path = NULL; /* asprintf leaves it undefined on failure */
    if (ls->path == NULL || (ls->partial = malloc(KUMO__LOGSTORE_LINE_MAX)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto fail;
    }
    /* the folder now, as kumo__logdb_open would make it: what starts next
     * (the metrics history) finds it there, as before the file's open
     * moved to the writer */
    if ((rc = kumo__mkdirs(data_dir, 0755)) != 0) {
        kumo__error_set(err, rc, "log store %s: cannot make its directory: %s", ls->path, strerror(-rc));
        goto fail;
    }
    if (pipe2(pfd, O_CLOEXEC) != 0 || (ls->saved_fd = fcntl(2, F_DUPFD_CLOEXEC, 3)) < 0 ||
        (ls->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0 || (ls->wake_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
        kumo__error_set(err, -errno, "log store: cannot make its pipe: %s", strerror(errno));
        rc = err->code;
        goto fail;
    }
    fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20); /* where the system allows; the default 64 KiB otherwise */
    ls->read_fd = pfd[0];
    pfd[0] = -1;
    if (start_thread(&ls->writer, writer_main, ls) != 0) {
        kumo__error_set(err, -EAGAIN, "log store: cannot start its thread");
        rc = err->code;
        goto fail;
    }
    ls->writer_started = 1;
    if (start_thread(&ls->reader, reader_main, ls) != 0) {
        kumo__error_set(err, -EAGAIN, "log store: cannot start its thread");
        rc = err->code;
        goto fail;
    }
    ls->reader_started = 1;
    /* From here on, fd 2 is the pipe: dup2 makes it inheritable (no
     * close-on-exec), which is how children reach the store. */
    if (dup2(pfd[1], 2) < 0) {
        kumo__error_set(err, -errno, "log store: cannot redirect stderr: %s", strerror(errno));
        rc = err->code;
        goto fail;
    }
    close(pfd[1]);
    *out = ls;
    return 0;
fail:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]); /* the reader sees the end of the pipe */
    stop_threads(ls);
    logstore_free(ls);
    return rc;
}

void kumo__logstore_stop(kumo__logstore *ls)
{
    if (ls == NULL)
        return;
    /* fd 2 was this process's only copy of the pipe's write end: giving it
     * back the real stderr closes it, so once the children are gone the
     * reader reads to the end of the pipe. */
    dup2(ls->saved_fd, 2);
    stop_threads(ls);
    /* The rest, at this thread's priority: the writer's unfinished batch,
     * then what was pushed since (the reader has ended, and the gateway's
     * loops with it: nothing is added). */
    take_all(ls);
    store_batch(ls, 0);
    report_dropped(ls);
    logstore_free(ls);
}

int kumo__logstore_wait_open(kumo__logstore *ls)
{
    pthread_mutex_lock(&ls->open_lock);
    while (ls->open_state == 0)
        pthread_cond_wait(&ls->opened, &ls->open_lock);
    int state = ls->open_state;
    pthread_mutex_unlock(&ls->open_lock);
    return state == 1 ? 0 : -1;
}

void kumo__logstore_metrics(kumo__logstore *ls, kumo__metrics *m)
{
    if (ls == NULL)
        return;
    pthread_mutex_lock(&ls->lock);
    ls->metrics = m;
    if (m) {
        uint64_t now = atomic_load(&ls->dropped);
        kumo__metrics_count(m, DROPPED_NAME, DROPPED_HELP, now - ls->reported);
        ls->reported = now;
    }
    pthread_mutex_unlock(&ls->lock);
}

uint64_t kumo__logstore_dropped(kumo__logstore *ls)
{
    return ls ? atomic_load(&ls->dropped) : 0;
}
