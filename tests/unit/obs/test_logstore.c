/*
 * test_logstore.c: the log store (src/obs/logstore.c): how a line is
 * read (kumo's JSON lines, foreign JSON, plain text), RFC 3339 times,
 * the size cap (the file stays under it, the newest rows stay, a restart
 * keeps them, a smaller cap trims the file), and the pipe on fd 2 (every
 * byte still reaches stderr, a child's lines are stored, fd 2 is given
 * back), and a store whose SQLite fails (one warning, lines still on
 * stderr and counted as dropped).
 */
#include "check.h"
#include "obs/logstore.h"

#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"

static void test_rfc3339(void)
{
    int64_t us = 0;
    const char *t = "2026-12-05T03:46:26.123456Z";
    CHECK_INT(kumo__rfc3339_parse(t, strlen(t), &us), 0);
    char back[KUMO__RFC3339_LEN + 1];
    kumo__rfc3339((uint64_t)us, back, sizeof(back));
    CHECK_STR(back, t);
    t = "2026-12-05T04:46:26.5+01:00";
    CHECK_INT(kumo__rfc3339_parse(t, strlen(t), &us), 0);
    kumo__rfc3339((uint64_t)us, back, sizeof(back));
    CHECK_STR(back, "2026-12-05T03:46:26.500000Z");
    t = "2024-02-29 23:59:60z"; /* leap day, leap second read as :59 */
    CHECK_INT(kumo__rfc3339_parse(t, strlen(t), &us), 0);
    kumo__rfc3339((uint64_t)us, back, sizeof(back));
    CHECK_STR(back, "2024-02-29T23:59:59.000000Z");
    t = "1970-01-01T00:00:00.0000019Z"; /* past microseconds: dropped */
    CHECK_INT(kumo__rfc3339_parse(t, strlen(t), &us), 0);
    CHECK_INT(us, 1);
    static const char *bad[] = {"",
                                "2026-12-05",
                                "2026-12-05T03:46:26",
                                "2026-13-05T03:46:26Z",
                                "2025-02-29T03:46:26Z",
                                "2026-12-05T24:00:00Z",
                                "2026-12-05T03:46:26.Z",
                                "2026-12-05T03:46:26+0100",
                                "2026-12-05T03:46:26Zx",
                                "2026-12-05x03:46:26Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        us = 42;
        CHECK_INT(kumo__rfc3339_parse(bad[i], strlen(bad[i]), &us), -1);
        CHECK_INT(us, 42);
    }
}

static void test_parse(void)
{
    static kumo__logrec r; /* 16 KiB: not on the stack */
    const char *line = "{\"time\":\"2026-12-05T04:12:03.204311Z\",\"level\":\"error\",\"msg\":\"send failed\","
                       "\"request_id\":\"r-1\",\"function\":\"todos\",\"operation\":\"createTodo\","
                       "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}";
    CHECK_INT(kumo__logrec_parse(line, strlen(line), 7, &r), 1);
    CHECK_INT(r.time_us, 1796443923204311LL);
    CHECK_STR(r.level, "error");
    CHECK(r.msg_len == 11 && memcmp(r.msg, "send failed", 11) == 0);
    CHECK_STR(r.request_id, "r-1");
    CHECK_STR(r.function, "todos");
    CHECK_STR(r.operation, "createTodo");
    CHECK_STR(r.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");

    /* Another program's JSON: its level names, `message`, no time. */
    line = "{\"level\":\"WARNING\",\"message\":\"disk\",\"request_id\":5}";
    CHECK_INT(kumo__logrec_parse(line, strlen(line), 7, &r), 1);
    CHECK_INT(r.time_us, 7);
    CHECK_STR(r.level, "warn");
    CHECK(r.msg_len == 4 && memcmp(r.msg, "disk", 4) == 0);
    CHECK(r.request_id == NULL); /* not a string: not a request id */
    static const struct {
        const char *in, *out;
    } levels[] = {{"fatal", "error"}, {"trace", "debug"}, {"Info", "info"}, {"loud", "info"}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "{\"level\":\"%s\",\"msg\":\"x\",\"time\":\"yesterday\"}", levels[i].in);
        CHECK_INT(kumo__logrec_parse(buf, (size_t)n, 9, &r), 1);
        CHECK_STR(r.level, levels[i].out);
        CHECK_INT(r.time_us, 9); /* a time that is no RFC 3339: when read */
    }

    /* Not a JSON object: the text is the message, at info. */
    static const char *plain[] = {
        "todos.c:12:5: error: expected ';' before '}' token",
        "[1,2]",
        "{\"a\":1",
        "{\"a\":1}{",
        "{\"a\":1,}",
        "{'a':1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"msg\":\"unterminated}",
        "{\"a\" 1}",
        "{\"a\":[1,2,]}",
        "{\"a\":{\"b\":}}",
        "{a:1}",
        "{}x",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        CHECK_INT(kumo__logrec_parse(plain[i], strlen(plain[i]), 3, &r), 0);
        CHECK_STR(r.level, "info");
        CHECK(r.msg == plain[i] && r.msg_len == strlen(plain[i]));
        CHECK(r.request_id == NULL && !r.is_json);
        CHECK_INT(r.time_us, 3);
    }
    /* JSON as RFC 8259 has it: escapes decoded, any value nested, spaces,
     * duplicate names (the last counts), a member that is no string. */
    line = " { \"msg\" : \"a\\nb \\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/ \\ud800x\", \"n\": [1, -2.5e3, true, false, "
           "null, {\"x\": []}],"
           " \"level\": \"warn\", \"level\": \"error\", \"operation\": 5, \"function\": \"f\\u0000g\" } ";
    CHECK_INT(kumo__logrec_parse(line, strlen(line), 1, &r), 1);
    CHECK(r.msg_len == strlen(r.msg));
    CHECK_STR(r.msg, "a\nb \xc3\xa9 \xf0\x9f\x98\x80 \"q\" / \xef\xbf\xbdx");
    CHECK_STR(r.level, "error");
    CHECK(r.operation == NULL);
    CHECK_STR(r.function, "f\xef\xbf\xbdg"); /* a NUL would cut the column */
    CHECK_INT(kumo__logrec_parse("{}", 2, 1, &r), 1);
    CHECK(r.msg_len == 0 && strcmp(r.level, "info") == 0);
    /* Nested past 64 levels: refused, not a stack overflow. */
    char deep[400];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "{\"a\":");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    CHECK_INT(kumo__logrec_parse(deep, n, 1, &r), 0);
    /* Over the stored line's ceiling: text. */
    size_t big = KUMO__LOGSTORE_LINE_MAX + 10;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    CHECK_INT(kumo__logrec_parse(huge, big, 1, &r), 0);
    free(huge);

    CHECK_INT(kumo__log_level_rank("warn"), 2);
    CHECK_INT(kumo__log_level_rank("warning"), -1);
}

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* n access-like lines numbered from `first`, into buf. */
static size_t make_lines(char *buf, size_t cap, int first, int n)
{
    size_t len = 0;
    for (int i = first; i < first + n; i++) {
        int w = snprintf(buf + len, cap - len,
                         "{\"time\":\"2026-12-05T04:11:29.516875Z\",\"level\":\"info\",\"msg\":\"request\","
                         "\"request_id\":\"req-%08d\",\"method\":\"GET\",\"path\":\"/todos/%d\",\"operation\":"
                         "\"getTodo\",\"status\":200,\"duration_us\":%d,\"padding\":\"%0200d\"}\n",
                         i, i, i, 0);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    return len;
}

static void test_cap(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/cap/logs.db", dir);
    const size_t cap = 1u << 20;
    kumo__logdb *db = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__logdb_open(path, cap, &db, &err), 0);
    size_t bufcap = 1u << 20;
    char *buf = malloc(bufcap);
    int next = 0;
    long long largest = 0;
    /* About 8 MiB of lines, in the sizes the writer thread takes. */
    for (int round = 0; round < 32; round++) {
        size_t len = make_lines(buf, bufcap, next, 800);
        next += 800;
        CHECK_INT(kumo__logdb_append(db, buf, len, 1, &err), 0);
        long long sz = file_size(path);
        if (sz > largest)
            largest = sz;
    }
    kumo__logdb_close(db);
    printf("cap %zu: the file was at most %lld bytes, %lld after closing\n", cap, largest, file_size(path));
    CHECK(largest > 0 && largest <= (long long)cap);
    CHECK(file_size(path) <= (long long)cap);
    int64_t rows = query_int(path, "SELECT count(*) FROM logs");
    printf("%lld rows kept of %d\n", (long long)rows, next);
    CHECK(rows > 300 && rows < next);
    /* the newest kept, the oldest gone, and ids in one run */
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM logs WHERE request_id = 'req-%08d'", next - 1);
    CHECK_INT(query_int(path, sql), 1);
    CHECK_INT(query_int(path, "SELECT count(*) FROM logs WHERE request_id = 'req-00000000'"), 0);
    CHECK_INT(query_int(path, "SELECT max(id) - min(id) + 1 - count(*) FROM logs"), 0);

    /* A restart keeps them; ids go on from where they were. */
    int64_t max_id = query_int(path, "SELECT max(id) FROM logs");
    CHECK_INT(kumo__logdb_open(path, cap, &db, &err), 0);
    size_t len = make_lines(buf, bufcap, next, 1);
    CHECK_INT(kumo__logdb_append(db, buf, len, 1, &err), 0);
    kumo__logdb_close(db);
    CHECK_INT(query_int(path, "SELECT max(id) FROM logs"), max_id + 1);
    CHECK(query_int(path, "SELECT count(*) FROM logs") >= rows);

    /* A bigger store opened with a smaller cap is trimmed and given back. */
    snprintf(path, sizeof(path), "%s/shrink/logs.db", dir);
    CHECK_INT(kumo__logdb_open(path, 8u << 20, &db, &err), 0);
    for (int round = 0; round < 20; round++) {
        len = make_lines(buf, bufcap, round * 800, 800);
        CHECK_INT(kumo__logdb_append(db, buf, len, 1, &err), 0);
    }
    kumo__logdb_close(db);
    CHECK(file_size(path) > (long long)cap * 2);
    CHECK_INT(kumo__logdb_open(path, cap, &db, &err), 0);
    kumo__logdb_close(db);
    CHECK(file_size(path) <= (long long)cap);
    CHECK(query_int(path, "SELECT count(*) FROM logs") > 100);

    /* A file of a newer format is refused, by name. */
    snprintf(path, sizeof(path), "%s/newer/logs.db", dir);
    CHECK_INT(kumo__logdb_open(path, cap, &db, &err), 0);
    kumo__logdb_close(db);
    sqlite3 *raw = NULL;
    sqlite3_open(path, &raw);
    sqlite3_exec(raw, "PRAGMA user_version=7", NULL, NULL, NULL);
    sqlite3_close(raw);
    CHECK(kumo__logdb_open(path, cap, &db, &err) < 0 && db == NULL);
    CHECK(strstr(err.msg, "newer kumo") != NULL && strstr(err.msg, path) != NULL);
    free(buf);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = malloc(1 << 20);
    *len = fread(b, 1, (1 << 20) - 1, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

static int same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void test_pipe(const char *dir)
{
    char data[512], err_path[512], db_path[512];
    snprintf(data, sizeof(data), "%s/pipe/.kumo/data", dir);
    snprintf(err_path, sizeof(err_path), "%s/pipe/stderr.txt", dir);
    snprintf(db_path, sizeof(db_path), "%s/logs.db", data);
    kumo__mkdirs(data, 0755);
    /* The test's own stderr becomes a file, to compare with what was written. */
    fflush(stderr);
    int keep = dup(2), file = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    dup2(file, 2);
    close(file);

    kumo__logstore *ls = NULL;
    kumo__error err = {0};
    int rc = kumo__logstore_start(data, 1u << 20, &ls, &err);
    int redirected = !same_file(2, err_path);
    kumo__log_event("info", "from the parent");
    fprintf(stderr, "plain text from the parent\n");
    pid_t pid = fork();
    if (pid == 0) {
        kumo__logline l;
        kumo__logline_begin(&l, "error", "from a child", 12);
        kumo__logline_cstr(&l, "request_id", "child-req");
        kumo__logline_cstr(&l, "function", "fn");
        kumo__logline_write(&l, 2);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"no newline at the end\"}");
    kumo__logstore_stop(ls);
    int restored = same_file(2, err_path);
    dup2(keep, 2);
    close(keep);

    CHECK_INT(rc, 0);
    CHECK(redirected);
    CHECK(restored);
    size_t len = 0;
    char *out = read_file(err_path, &len);
    CHECK(out != NULL);
    if (out) { /* every byte, in order */
        char *a = strstr(out, "from the parent"), *b = strstr(out, "plain text from the parent\n"),
             *c = strstr(out, "from a child"),
             *d = strstr(out, "{\"level\":\"warn\",\"msg\":\"no newline at the end\"}");
        CHECK(a && b && c && d && a < b && b < c && c < d);
        CHECK(d && d[strlen("{\"level\":\"warn\",\"msg\":\"no newline at the end\"}")] == '\0');
    }
    free(out);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs"), 4);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs WHERE msg = 'from the parent' AND level = 'info'"), 1);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs WHERE msg = 'plain text from the parent' AND "
                                 "line = 'plain text from the parent' AND request_id IS NULL"),
              1);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs WHERE msg = 'from a child' AND level = 'error' AND "
                                 "request_id = 'child-req' AND function = 'fn'"),
              1);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs WHERE msg = 'no newline at the end' AND level = 'warn'"),
              1);
    /* in the order written */
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs a JOIN logs b ON a.msg = 'from the parent' AND "
                                 "b.msg = 'from a child' AND a.id < b.id"),
              1);
    /* Started again: the old lines are kept. A burst written just before
     * the stop is stored whole (what the writer thread had not stored yet
     * is stored by the stopping thread). */
    keep = dup(2);
    file = open(err_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    dup2(file, 2);
    close(file);
    CHECK_INT(kumo__logstore_start(data, 8u << 20, &ls, &err), 0);
    for (int i = 0; i < 20000; i++)
        kumo__log_event("info", "burst %d", i);
    kumo__logstore_stop(ls);
    dup2(keep, 2);
    close(keep);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs"), 20004);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs WHERE msg = 'burst 19999'"), 1);
}

/* SQLite failing under the store (another process holds the write lock
 * past the busy timeout): one warning on the real stderr, every line still
 * there, and the lines not stored are counted. */
static void test_failure(const char *dir)
{
    char data[512], err_path[512], db_path[512];
    snprintf(data, sizeof(data), "%s/fail", dir);
    snprintf(err_path, sizeof(err_path), "%s/fail-stderr.txt", dir);
    snprintf(db_path, sizeof(db_path), "%s/logs.db", data);
    fflush(stderr);
    int keep = dup(2), file = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    dup2(file, 2);
    close(file);
    kumo__logstore *ls = NULL;
    kumo__error err = {0};
    int rc = kumo__logstore_start(data, 1u << 20, &ls, &err);
    CHECK_INT(rc == 0 ? kumo__logstore_wait_open(ls) : -1, 0); /* the writer opens it: then lock it */
    sqlite3 *locker = NULL;
    sqlite3_open(db_path, &locker);
    int locked = sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    for (int i = 0; i < 5; i++)
        kumo__log_event("info", "line %d while locked", i);
    /* The writer waits out its busy timeout, fails, and says so once. */
    size_t len = 0;
    char *out = NULL;
    for (int tries = 0; tries < 100; tries++) {
        usleep(100000);
        free(out);
        out = read_file(err_path, &len);
        if (out && strstr(out, "no longer stored"))
            break;
    }
    for (int i = 0; i < 5; i++)
        kumo__log_event("info", "line %d after the failure", i);
    sqlite3_exec(locker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(locker);
    kumo__logstore_stop(ls);
    dup2(keep, 2);
    close(keep);
    CHECK_INT(rc, 0);
    CHECK(locked);
    free(out);
    out = read_file(err_path, &len);
    CHECK(out && strstr(out, "line 4 while locked") && strstr(out, "line 4 after the failure"));
    const char *warn = out ? strstr(out, "no longer stored") : NULL;
    CHECK(warn != NULL && strstr(warn + 1, "no longer stored") == NULL); /* once */
    CHECK(out && strstr(out, db_path) != NULL);
    free(out);
    CHECK_INT(query_int(db_path, "SELECT count(*) FROM logs"), 0);
}

/* The dropped count, read while the store runs. */
static void test_dropped(const char *dir)
{
    char data[512], err_path[512], db_path[512];
    snprintf(data, sizeof(data), "%s/dropped", dir);
    snprintf(err_path, sizeof(err_path), "%s/dropped-stderr.txt", dir);
    snprintf(db_path, sizeof(db_path), "%s/logs.db", data);
    fflush(stderr);
    int keep = dup(2), file = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    dup2(file, 2);
    close(file);
    kumo__logstore *ls = NULL;
    kumo__error err = {0};
    int rc = kumo__logstore_start(data, 1u << 20, &ls, &err);
    CHECK_INT(rc == 0 ? kumo__logstore_wait_open(ls) : -1, 0); /* the writer opens it: then lock it */
    sqlite3 *locker = NULL;
    sqlite3_open(db_path, &locker);
    sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    kumo__log_event("info", "first");
    uint64_t dropped = 0;
    for (int tries = 0; tries < 100 && (dropped = kumo__logstore_dropped(ls)) == 0; tries++)
        usleep(100000);
    kumo__log_event("info", "second");
    kumo__log_event("info", "third");
    sqlite3_exec(locker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(locker);
    kumo__logstore_stop(ls);
    dup2(keep, 2);
    close(keep);
    CHECK_INT(rc, 0);
    CHECK_INT(dropped, 1);
}

/* A file the writer cannot open (logs.db is a folder): the start still
 * succeeds (the file is the writer's to open, off kumo up's start), the
 * real stderr says so once and gets every line, and nothing is counted
 * dropped: there was no store this run. */
static void test_unopenable(const char *dir)
{
    char data[512], err_path[512], db_path[512];
    snprintf(data, sizeof(data), "%s/unopenable", dir);
    snprintf(err_path, sizeof(err_path), "%s/unopenable-stderr.txt", dir);
    snprintf(db_path, sizeof(db_path), "%s/logs.db", data);
    CHECK_INT(kumo__mkdirs(db_path, 0755), 0);
    fflush(stderr);
    int keep = dup(2), file = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    dup2(file, 2);
    close(file);
    kumo__logstore *ls = NULL;
    kumo__error err = {0};
    int rc = kumo__logstore_start(data, 1u << 20, &ls, &err);
    int opened = rc == 0 ? kumo__logstore_wait_open(ls) : 0;
    kumo__log_event("info", "a line without a store");
    uint64_t dropped = rc == 0 ? kumo__logstore_dropped(ls) : 1;
    kumo__logstore_stop(ls);
    dup2(keep, 2);
    close(keep);
    CHECK_INT(rc, 0);
    CHECK_INT(opened, -1);
    CHECK_INT(dropped, 0);
    size_t len = 0;
    char *out = read_file(err_path, &len);
    CHECK(out && strstr(out, "serving without the log store") != NULL);
    CHECK(out && strstr(out, "a line without a store") != NULL);
    CHECK(out && strstr(strstr(out, "serving without") ? strstr(out, "serving without") + 1 : out,
                        "serving without the log store") == NULL); /* said once */
    free(out);
}

int main(void)
{
    char dir[] = "/tmp/kumo-logstore-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_rfc3339();
    test_parse();
    test_cap(dir);
    test_pipe(dir);
    test_failure(dir);
    test_dropped(dir);
    test_unopenable(dir);
    kumo__rmtree(dir);
    return check_report();
}
