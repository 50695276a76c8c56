/*
 * logs.c: `kumo logs [DIR] [--function F] [--operation O] [--level L]
 * [--since D] [--follow] [--trace ID] [--request ID] [--json] [--limit N]`
 * reads the log store kumo up keeps in DIR/.kumo/data/logs.db
 * (obs/logstore.h) and prints one line per record, oldest first (by the
 * line's own time: the gateway's lines reach the store directly, its
 * children's through the pipe, so the order they were stored in is not
 * always the order they were written in):
 *
 *   2026-12-05T04:12:03.204Z error todos/createTodo send failed request_id=0ef647e4-0-00000007 status=503
 *
 * (time in UTC, level, function/operation, msg, request_id, then every
 * other field of the line), or the line itself with --json (a line that
 * was not JSON, such as a compiler's, as {"time","level":"info","msg"}). The file is
 * opened read-only, so it works while kumo runs (SQLite's WAL lets a
 * reader in beside the writer) and after it stopped. --request and
 * --trace show everything for that request or trace; otherwise the last
 * 100 records unless --limit says (0: all). --follow then polls for new
 * rows every 250 ms until interrupted.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "obs/logstore.h"

#define DEFAULT_LIMIT 100
#define FOLLOW_MS 250

typedef struct logs_opts {
    const char *dir;
    const char *function, *operation, *trace, *request;
    int min_level; /* -1: any */
    int64_t since_us;
    int has_since;
    long limit; /* -1: the default */
    int follow, json;
} logs_opts;

static const char *const LEVELS[] = {"debug", "info", "warn", "error"};

/* "30s", "5m", "2h", "7d" before now, or an RFC 3339 time. */
static int parse_since(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (kumo__rfc3339_parse(s, n, out) == 0)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || v < 0 || end[0] == '\0' || end[1] != '\0')
        return -1;
    double unit = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : end[0] == 'd' ? 86400 : 0;
    if (unit == 0 || v * unit > 100.0 * 365 * 86400)
        return -1;
    *out = (int64_t)kumo__epoch_us() - (int64_t)(v * unit * 1e6);
    return 0;
}

static int need_value(const char *opt, const char *v, const char *what, kumo__error *err)
{
    if (v == NULL || v[0] == '\0') {
        kumo__error_set(err, -KUMO__EUSAGE, "%s takes %s", opt, what);
        return err->code;
    }
    return 0;
}

static int parse_args(int argc, char **argv, logs_opts *o, kumo__error *err)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;
        const char *what = NULL;
        if (strcmp(a, "--function") == 0) {
            slot = &o->function, what = "a function's name (kumo.yaml's functions: key)";
        } else if (strcmp(a, "--operation") == 0) {
            slot = &o->operation, what = "an operationId";
        } else if (strcmp(a, "--trace") == 0) {
            slot = &o->trace, what = "a trace id (32 hex digits)";
        } else if (strcmp(a, "--request") == 0) {
            slot = &o->request, what = "a request id (X-Request-Id)";
        } else if (strcmp(a, "--level") == 0) {
            if (need_value(a, v, "debug, info, warn or error", err) != 0)
                return err->code;
            o->min_level = kumo__log_level_rank(v);
            if (o->min_level < 0) {
                kumo__error_set(err, -KUMO__EUSAGE,
                                "--level takes debug, info, warn or error (the least shown), not '%s'", v);
                return err->code;
            }
            i++;
        } else if (strcmp(a, "--since") == 0) {
            if (need_value(a, v, "a duration (30s, 5m, 2h, 7d) or an RFC 3339 time", err) != 0)
                return err->code;
            if (parse_since(v, &o->since_us) != 0) {
                kumo__error_set(err, -KUMO__EUSAGE,
                                "--since takes a duration (30s, 5m, 2h, 7d) or an RFC 3339 time "
                                "(2026-12-05T10:00:00Z), not '%s'",
                                v);
                return err->code;
            }
            o->has_since = 1;
            i++;
        } else if (strcmp(a, "--limit") == 0) {
            char *end;
            errno = 0;
            long n = v ? strtol(v, &end, 10) : -1;
            if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 || n < 0 || n > 100000000) {
                kumo__error_set(err, -KUMO__EUSAGE, "--limit takes a number of records (0: all), not '%s'", v ? v : "");
                return err->code;
            }
            o->limit = n;
            i++;
        } else if (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0) {
            o->follow = 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (a[0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", a);
            return err->code;
        } else if (o->dir == NULL) {
            o->dir = a;
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory only ('%s' and '%s')", o->dir, a);
            return err->code;
        }
        if (slot) {
            if (need_value(a, v, what, err) != 0)
                return err->code;
            *slot = v;
            i++;
        }
    }
    return 0;
}

/* Text from the store, made safe for a terminal: control characters
 * (a newline in a message, an escape sequence) are shown escaped. */
static void put_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static int plain_word(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == 0x7f)
            return 0;
    return 1;
}

/* key=value, the value bare when it is one plain word, else as JSON. */
static void put_field(const char *key, json_t *v)
{
    printf(" %s=", key);
    if (json_is_string(v) && plain_word(json_string_value(v))) {
        put_text(json_string_value(v), json_string_length(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s)
        put_text(s, strlen(s));
    free(s);
}

static const char *col(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* Columns: id, time, level, msg, request_id, trace_id, function, operation, line. */
static void print_row(sqlite3_stmt *s, int as_json)
{
    const char *line = col(s, 8);
    int line_len = sqlite3_column_bytes(s, 8);
    char when[KUMO__RFC3339_LEN + 1];
    size_t n = kumo__rfc3339((uint64_t)sqlite3_column_int64(s, 1), when, sizeof(when));
    json_t *j = line && line[0] == '{' ? json_loadb(line, (size_t)line_len, 0, NULL) : NULL;
    if (as_json) {
        if (json_is_object(j)) {
            fwrite(line, 1, (size_t)line_len, stdout);
        } else { /* a line that was not JSON (a compiler's) as one, so every output line is */
            json_t *o =
                json_pack("{s:s, s:s, s:s%}", "time", when, "level", "info", "msg", line ? line : "", (size_t)line_len);
            char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
            fputs(text ? text : "{}", stdout);
            free(text);
            json_decref(o);
        }
        putchar('\n');
        json_decref(j);
        return;
    }
    if (n >= 8) { /* to milliseconds: ".123456Z" -> ".123Z" */
        when[n - 4] = 'Z';
        when[n - 3] = '\0';
    }
    const char *level = col(s, 2), *fn = col(s, 6), *op = col(s, 7);
    printf("%s %-5s ", when, level ? level : "info");
    if (fn && *fn && op && *op)
        printf("%s/%s ", fn, op);
    else if ((fn && *fn) || (op && *op))
        printf("%s ", fn && *fn ? fn : op);
    else
        fputs("- ", stdout);
    const char *msg = col(s, 3);
    put_text(msg ? msg : "", (size_t)sqlite3_column_bytes(s, 3));
    if (json_is_object(j)) {
        json_t *rid = json_object_get(j, "request_id");
        if (rid)
            put_field("request_id", rid);
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            static const char *const shown[] = {"time", "level", "msg", "request_id", "function", "operation"};
            int skip = 0;
            for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
                skip |= strcmp(key, shown[i]) == 0;
            if (strcmp(key, "message") == 0 && !json_is_string(json_object_get(j, "msg")))
                skip = 1; /* it was shown as the message */
            if (!skip)
                put_field(key, v);
        }
    }
    json_decref(j);
    putchar('\n');
}

/* The query for the options: rows after `after` (an id), oldest first;
 * with a limit, the newest `limit` of them. */
static int prepare(sqlite3 *db, const logs_opts *o, long limit, sqlite3_stmt **out)
{
    char sql[1024];
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(sql + n, sizeof(sql) - n, __VA_ARGS__)
    ADD("SELECT id, time, level, msg, request_id, trace_id, function, operation, line FROM logs WHERE id > ?1");
    if (o->function)
        ADD(" AND function = ?2");
    if (o->operation)
        ADD(" AND operation = ?3");
    if (o->request)
        ADD(" AND request_id = ?4");
    if (o->trace)
        ADD(" AND trace_id = ?5");
    if (o->has_since)
        ADD(" AND time >= ?6");
    if (o->min_level > 0) {
        ADD(" AND level IN (");
        for (int l = o->min_level; l < 4; l++)
            ADD("%s'%s'", l > o->min_level ? ", " : "", LEVELS[l]);
        ADD(")");
    }
    if (limit > 0) {
        /* the newest `limit`, printed oldest first */
        char inner[1024];
        snprintf(inner, sizeof(inner), "%s ORDER BY time DESC, id DESC LIMIT %ld", sql, limit);
        n = 0;
        ADD("SELECT * FROM (%s) ORDER BY time, id", inner);
    } else {
        ADD(" ORDER BY time, id");
    }
#undef ADD
    int rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *s = *out;
    if (o->function)
        sqlite3_bind_text(s, 2, o->function, -1, SQLITE_STATIC);
    if (o->operation)
        sqlite3_bind_text(s, 3, o->operation, -1, SQLITE_STATIC);
    if (o->request)
        sqlite3_bind_text(s, 4, o->request, -1, SQLITE_STATIC);
    if (o->trace)
        sqlite3_bind_text(s, 5, o->trace, -1, SQLITE_STATIC);
    if (o->has_since)
        sqlite3_bind_int64(s, 6, o->since_us);
    return SQLITE_OK;
}

/* Prints the rows after *last (advancing it); their number, or -1 with
 * err set. */
static long print_after(sqlite3 *db, const logs_opts *o, long limit, int64_t *last, const char *path, kumo__error *err)
{
    sqlite3_stmt *s = NULL;
    long count = 0;
    int rc = prepare(db, o, limit, &s);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, *last);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            print_row(s, o->json);
            if (sqlite3_column_int64(s, 0) > *last) /* printed by time: the cursor is the newest row */
                *last = sqlite3_column_int64(s, 0);
            count++;
        }
    }
    if (rc != SQLITE_DONE) {
        kumo__error_set(err, -EIO, "reading %s: %s", path, sqlite3_errmsg(db));
        count = -1;
    }
    sqlite3_finalize(s);
    fflush(stdout);
    return count;
}

/* What the store holds, for the note when nothing matched. */
static void say_nothing_matched(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*), min(time), max(time) FROM logs", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        long long rows = sqlite3_column_int64(s, 0);
        char from[KUMO__RFC3339_LEN + 1] = "", to[KUMO__RFC3339_LEN + 1] = "";
        kumo__rfc3339((uint64_t)sqlite3_column_int64(s, 1), from, sizeof(from));
        kumo__rfc3339((uint64_t)sqlite3_column_int64(s, 2), to, sizeof(to));
        if (rows == 0)
            fprintf(stderr, "kumo logs: no lines match; the store is empty\n");
        else
            fprintf(stderr, "kumo logs: no lines match; the store holds %lld line%s from %s to %s\n", rows,
                    rows == 1 ? "" : "s", from, to);
    }
    sqlite3_finalize(s);
}

int kumo__cmd_logs(int argc, char **argv, kumo__error *err)
{
    logs_opts o = {.min_level = -1, .limit = -1};
    int rc = parse_args(argc, argv, &o, err);
    if (rc != 0)
        return rc;
    if (o.dir == NULL)
        o.dir = ".";
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/.kumo/data/%s", o.dir, KUMO__LOGSTORE_FILE) >= (int)sizeof(path)) {
        kumo__error_set(err, -ENAMETOOLONG, "the directory's name is too long");
        return err->code;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        kumo__error_set(err, -errno,
                        "no log store at %s (%s): kumo up has not run in %s with a log store "
                        "(observability.logs.max_size 0 turns it off); give the project's directory",
                        path, strerror(errno), o.dir);
        return err->code;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *v = NULL;
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    long long version = -1;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        if ((rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, NULL)) == SQLITE_OK &&
            (rc = sqlite3_step(v)) == SQLITE_ROW) {
            version = sqlite3_column_int64(v, 0);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(v);
    }
    if (rc != SQLITE_OK) {
        kumo__error_set(err, -EIO, "cannot read the log store %s: %s", path,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto out;
    }
    if (version != KUMO__LOGSTORE_VERSION) {
        kumo__error_set(err, -EPROTO, "%s is %s (format %lld; this kumo reads %d)", path,
                        version > KUMO__LOGSTORE_VERSION ? "a newer kumo's log store" : "not a kumo log store", version,
                        KUMO__LOGSTORE_VERSION);
        rc = err->code;
        goto out;
    }
    long limit = o.limit >= 0 ? o.limit : (o.request || o.trace) ? 0 : DEFAULT_LIMIT;
    int64_t last = 0;
    long shown = print_after(db, &o, limit, &last, path, err);
    if (shown < 0) {
        rc = err->code;
        goto out;
    }
    if (shown == 0 && !o.follow && !o.json)
        say_nothing_matched(db);
    if (last == 0 && o.follow) { /* nothing yet: follow from the newest row */
        sqlite3_stmt *m = NULL;
        if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM logs", -1, &m, NULL) == SQLITE_OK &&
            sqlite3_step(m) == SQLITE_ROW)
            last = sqlite3_column_int64(m, 0);
        sqlite3_finalize(m);
    }
    while (o.follow) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = FOLLOW_MS * 1000000L};
        nanosleep(&ts, NULL);
        if (print_after(db, &o, 0, &last, path, err) < 0) {
            rc = err->code;
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_close(db);
    return rc;
}
