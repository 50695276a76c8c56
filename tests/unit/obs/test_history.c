/*
 * test_history.c: the metrics history (obs/history.c) without a gateway.
 * The bucket blob round-trips and refuses garbage; a sample stores the
 * deltas since the previous one per target (nothing for a target that did
 * not move, a counter that went down counts from zero, the gateway's own
 * answers count only as rejected); gauges are written when they move;
 * queries merge points into steps whose sums are the deltas; a reopened
 * file continues after its newest point; pruning drops what is older than
 * keep_s and, over max_bytes, the oldest until the file is under it; a
 * query holding too many cells is refused; stopping the thread records
 * one last point.
 *
 * KUMO_HISTORY_DAY=1 also fills a file with 24 h of 10 s points for 20
 * operations and prints its size (the figure docs/dashboard.md gives).
 */
#include "obs/history.h"

#include "check.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static kumo__history *open_at(const char *name, double keep_s, size_t max_bytes, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    kumo__history_config cfg = {.path = path, .keep_s = keep_s, .max_bytes = max_bytes, .interval_ms = 10000};
    kumo__history *h = NULL;
    kumo__error err = {0};
    if (kumo__history_open(&cfg, &h, &err) != 0)
        fprintf(stderr, "open %s: %s\n", path, err.msg);
    return h;
}

static const kumo__mtarget A = {"todos", "createTodo", "/todos", "POST", "http"};
static const kumo__mtarget B = {"todos", "listTodos", "/todos", "GET", "http"};
static const kumo__mtarget TICK = {"jobs", "nightly", "", "", "timer"};

static kumo__mrow row(int target, const kumo__mtarget *l, int status, uint64_t count, uint64_t errors, uint64_t us_each)
{
    kumo__mrow r;
    memset(&r, 0, sizeof(r));
    r.target = target;
    r.labels = l;
    r.status = status;
    r.count = count;
    r.errors = errors;
    r.sum_us = count * us_each;
    r.buckets[kumo__mbucket_of(us_each)] = count;
    return r;
}

static void test_blob(void)
{
    uint64_t b[KUMO__MBUCKETS] = {0}, back[KUMO__MBUCKETS] = {0};
    b[0] = 1;
    b[7] = 300;
    b[19] = 1ull << 40;
    unsigned char blob[KUMO__HISTORY_BLOB_MAX];
    size_t n = kumo__history_blob_encode(b, blob);
    CHECK(n > 0 && n <= 12);
    CHECK_INT(kumo__history_blob_add(blob, n, back), 0);
    CHECK(memcmp(b, back, sizeof(b)) == 0);
    CHECK_INT(kumo__history_blob_add(blob, n, back), 0); /* adds */
    CHECK(back[7] == 600);
    uint64_t zero[KUMO__MBUCKETS] = {0};
    CHECK_INT(kumo__history_blob_encode(zero, blob), 0);
    const unsigned char bad_index[] = {20, 1}, cut[] = {3, 0x80}, lone[] = {3};
    CHECK(kumo__history_blob_add(bad_index, sizeof(bad_index), back) < 0);
    CHECK(kumo__history_blob_add(cut, sizeof(cut), back) < 0);
    CHECK(kumo__history_blob_add(lone, sizeof(lone), back) < 0);
}

static json_t *query(const char *path, uint64_t now, int64_t since, int64_t step, const char *op)
{
    kumo__history_query q = {.now_ms = now, .since_s = since, .step_s = step, .operation = op, .interval_ms = 10000};
    kumo__error err = {0};
    json_t *doc = kumo__history_query_json(path, &q, &err);
    if (doc == NULL)
        fprintf(stderr, "query: %s\n", err.msg);
    return doc;
}

static json_t *series_of(json_t *doc, const char *op)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "series"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "operation")), op) == 0)
            return s;
    }
    return NULL;
}

static long long total_of(json_t *series, const char *key)
{
    return series ? (long long)json_integer_value(json_object_get(json_object_get(series, "totals"), key)) : -1;
}

static void test_deltas(void)
{
    char path[512];
    kumo__history *h = open_at("deltas.db", 86400, 64u << 20, path, sizeof(path));
    CHECK(h != NULL);
    if (h == NULL)
        return;
    uint64_t t0 = now_ms() / 10000 * 10000 - 55000; /* mid-step: the steps below are fixed */
    /* sample 1: A 5 (1 error) at 2 ms, 3 rejected by admission; B 2 at 100 us */
    kumo__mrow r1[] = {row(0, &A, 201, 4, 0, 2000), row(0, &A, 500, 1, 1, 2000), row(1, &B, 200, 2, 0, 100),
                       row(0, &A, 429, 3, 0, 50)};
    r1[3].answered = 1;
    r1[3].rejected = 3;
    kumo__msnap s1 = {r1, 4, t0};
    kumo__hgauge g1[] = {{"todos", 1, 1, 0, 0, 1}, {"jobs", 0, 0, 0, 0, 0}};
    CHECK_INT(kumo__history_record(h, &s1, g1, 2), 0);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM points"), 2);
    CHECK_INT(sql_int(path, "SELECT requests FROM points p JOIN targets t ON t.id = p.target WHERE "
                            "t.operation = 'createTodo'"),
              5);
    CHECK_INT(sql_int(path, "SELECT rejected FROM points p JOIN targets t ON t.id = p.target WHERE "
                            "t.operation = 'createTodo'"),
              3);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM gauges"), 1); /* jobs: all zero, never written */

    /* sample 2: A +3, B unchanged, a new target; same gauges (written: not zero) */
    kumo__mrow r2[] = {row(0, &A, 201, 7, 0, 2000), row(0, &A, 500, 1, 1, 2000), row(1, &B, 200, 2, 0, 100),
                       row(0, &A, 429, 3, 0, 50), row(2, &TICK, 200, 1, 0, 30000)};
    r2[3].answered = 1;
    r2[3].rejected = 3;
    kumo__msnap s2 = {r2, 5, t0 + 10000};
    CHECK_INT(kumo__history_record(h, &s2, g1, 2), 0);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM points"), 4); /* A and the tick; B did not move */
    CHECK_INT(sql_int(path, "SELECT requests FROM points WHERE t = (SELECT max(t) FROM points) AND target = "
                            "(SELECT id FROM targets WHERE operation = 'createTodo')"),
              3);
    CHECK_INT(sql_int(path, "SELECT rejected FROM points WHERE t = (SELECT max(t) FROM points) AND target = "
                            "(SELECT id FROM targets WHERE operation = 'createTodo')"),
              0);

    /* sample 3: the gauges drop to zero (written once), then stay (not) */
    kumo__hgauge gz[] = {{"todos", 0, 0, 0, 0, 0}};
    kumo__msnap s3 = {r2, 5, t0 + 20000};
    CHECK_INT(kumo__history_record(h, &s3, gz, 1), 0);
    kumo__msnap s4 = {r2, 5, t0 + 30000};
    CHECK_INT(kumo__history_record(h, &s4, gz, 1), 0);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM gauges"), 3);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM points"), 4);

    /* sample 5: A's counters went down (another registry): counted from zero */
    kumo__mrow r5[] = {row(0, &A, 201, 2, 0, 2000)};
    kumo__msnap s5 = {r5, 1, t0 + 40000};
    CHECK_INT(kumo__history_record(h, &s5, NULL, 0), 0);
    CHECK_INT(sql_int(path, "SELECT requests FROM points WHERE t = (SELECT max(t) FROM points)"), 2);

    /* a sample stamped before the last goes after it */
    kumo__mrow r6[] = {row(0, &A, 201, 3, 0, 2000)};
    kumo__msnap s6 = {r6, 1, t0};
    CHECK_INT(kumo__history_record(h, &s6, NULL, 0), 0);
    CHECK_INT(sql_int(path, "SELECT max(t) FROM points"), (int64_t)(t0 + 40001));

    /* the query: one step of 60 s over the whole minute; and 10 s steps */
    json_t *doc = query(path, t0 + 40001, 600, 60, NULL);
    CHECK(doc != NULL);
    json_t *a = series_of(doc, "createTodo"), *b = series_of(doc, "listTodos"), *tick = series_of(doc, "nightly");
    CHECK(a && b && tick);
    CHECK_INT(total_of(a, "requests"), 5 + 3 + 2 + 1);
    CHECK_INT(total_of(a, "errors"), 1);
    CHECK_INT(total_of(a, "rejected"), 3);
    CHECK_INT(total_of(b, "requests"), 2);
    CHECK_INT(total_of(tick, "requests"), 1);
    CHECK_STR(json_string_value(json_object_get(tick, "trigger")), "timer");
    CHECK_INT(total_of(json_object_get(doc, "total"), "requests"), 11 + 2 + 1);
    double p50 = json_real_value(json_object_get(json_object_get(b, "totals"), "p50_ms"));
    CHECK(p50 > 0.05 && p50 <= 0.1); /* B's calls took 100 us: the 50..100 us bucket */
    CHECK_INT(json_array_size(json_object_get(doc, "t")), 10);
    CHECK_INT(json_array_size(json_object_get(a, "requests")), 10);
    json_t *fns = json_object_get(doc, "functions");
    CHECK_INT(json_array_size(fns), 1);
    json_decref(doc);

    doc = query(path, t0 + 40001, 600, 10, "createTodo");
    CHECK(doc != NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "series")), 1);
    a = series_of(doc, "createTodo");
    long long sum = 0, nonzero = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(a, "requests"), i, v)
    {
        sum += json_integer_value(v);
        nonzero += json_integer_value(v) != 0;
    }
    CHECK_INT(sum, 11);
    CHECK_INT(nonzero, 3); /* samples 1 and 2 in steps of their own, 5 and 6 (1 ms apart) in one */
    json_t *rate = json_object_get(a, "rate");
    CHECK(json_real_value(json_array_get(rate, json_array_size(rate) - 1)) > 0);
    json_decref(doc);

    /* restart: the file keeps its points; a new registry's first sample
     * continues after the newest */
    kumo__history_close(h);
    h = open_at("deltas.db", 86400, 64u << 20, path, sizeof(path));
    CHECK(h != NULL);
    if (h == NULL)
        return;
    kumo__mrow r7[] = {row(5, &A, 201, 4, 0, 2000)};
    kumo__msnap s7 = {r7, 1, t0 + 30000};
    CHECK_INT(kumo__history_record(h, &s7, NULL, 0), 0);
    CHECK_INT(sql_int(path, "SELECT max(t) FROM points"), (int64_t)(t0 + 40002));
    CHECK_INT(sql_int(path, "SELECT count(*) FROM targets WHERE operation = 'createTodo'"), 1);
    doc = query(path, t0 + 40002, 600, 60, "createTodo");
    CHECK_INT(total_of(series_of(doc, "createTodo"), "requests"), 15);
    json_decref(doc);
    kumo__history_close(h);

    /* an operation the file does not know: no series (no target at all) */
    doc = query(path, t0 + 40002, 600, 60, "nobody");
    CHECK(doc && json_array_size(json_object_get(doc, "series")) == 0);
    CHECK_INT(total_of(json_object_get(doc, "total"), "requests"), 0);
    json_decref(doc);

    /* a missing file reads as no series; a bad one as an error */
    char missing[512];
    snprintf(missing, sizeof(missing), "%s/none.db", dir);
    doc = query(missing, t0, 600, 60, NULL);
    CHECK(doc && json_array_size(json_object_get(doc, "series")) == 0);
    json_decref(doc);
}

/* Samples of `nops` targets every 10 s from `from` for `n` samples. */
static int fill(kumo__history *h, int nops, uint64_t from, int n, int gauges)
{
    kumo__mtarget *l = calloc((size_t)nops, sizeof(*l));
    kumo__mrow *rows = calloc((size_t)nops, sizeof(*rows));
    char(*names)[32] = calloc((size_t)nops, 32);
    kumo__hgauge g[4];
    int rc = 0;
    for (int k = 0; k < nops; k++) {
        snprintf(names[k], 32, "op%02d", k);
        l[k] = (kumo__mtarget){k < nops / 2 ? "alpha" : "beta", names[k], "/things/{id}", "GET", "http"};
    }
    memset(g, 0, sizeof(g));
    snprintf(g[0].function, sizeof(g[0].function), "alpha");
    snprintf(g[1].function, sizeof(g[1].function), "beta");
    for (int i = 0; i < n && rc == 0; i++) {
        for (int k = 0; k < nops; k++) {
            /* steady traffic, a spread of latencies, a few errors */
            uint64_t prev_count = rows[k].count;
            rows[k] = row(k, &l[k], 200, prev_count + 40 + (uint64_t)((i * 7 + k) % 23), 0, 0);
            rows[k].errors = (uint64_t)i / 50;
            rows[k].cold = (uint64_t)i / 400;
            rows[k].sum_us = rows[k].count * 900;
            for (int b = 0; b < 6; b++)
                rows[k].buckets[3 + b] = rows[k].count / 6 + (b == 0 ? rows[k].count % 6 : 0);
        }
        g[0].busy = 1 + i % 3;
        g[0].idle = 2;
        g[1].busy = i % 2;
        g[1].in_flight = i % 4;
        kumo__msnap s = {rows, (size_t)nops, from + (uint64_t)i * 10000u};
        rc = kumo__history_record(h, &s, g, gauges ? 2 : 0);
    }
    free(l);
    free(rows);
    free(names);
    return rc;
}

static void test_prune_age(void)
{
    char path[512];
    kumo__history *h = open_at("age.db", 3600, 64u << 20, path, sizeof(path));
    CHECK(h != NULL);
    if (h == NULL)
        return;
    uint64_t now = now_ms();
    /* two hours of points: the first hour goes */
    CHECK_INT(fill(h, 2, now - 7200 * 1000u, 720, 1), 0);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM points"), 1440);
    long gone = kumo__history_prune(h, now);
    CHECK(gone >= 1438 && gone <= 1446); /* 2 x 360 points and their gauges, give or take the edge */
    CHECK(sql_int(path, "SELECT min(t) FROM points") >= (int64_t)(now - 3600 * 1000u));
    CHECK(sql_int(path, "SELECT count(*) FROM points") >= 716);
    CHECK(sql_int(path, "SELECT min(t) FROM gauges") >= (int64_t)(now - 3600 * 1000u));
    CHECK_INT(kumo__history_prune(h, now), 0);
    kumo__history_close(h);
}

/* A target whose points all aged out loses its row; when it moves again
 * its points must be filed under a row that exists (not the old id). */
static void test_prune_target_again(void)
{
    char path[512];
    kumo__history *h = open_at("again.db", 3600, 64u << 20, path, sizeof(path));
    CHECK(h != NULL);
    if (h == NULL)
        return;
    uint64_t now = now_ms();
    kumo__mrow r1[] = {row(0, &A, 201, 5, 0, 1000)};
    kumo__msnap s1 = {r1, 1, now - 7200 * 1000u};
    CHECK_INT(kumo__history_record(h, &s1, NULL, 0), 0);
    CHECK_INT(kumo__history_prune(h, now), 1);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM targets"), 0);
    kumo__mrow r2[] = {row(0, &A, 201, 8, 0, 1000)};
    kumo__msnap s2 = {r2, 1, now};
    CHECK_INT(kumo__history_record(h, &s2, NULL, 0), 0);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM points p JOIN targets t ON t.id = p.target"), 1);
    json_t *doc = query(path, now, 600, 60, NULL);
    CHECK_INT(total_of(series_of(doc, "createTodo"), "requests"), 3);
    json_decref(doc);
    kumo__history_close(h);
}

static void test_prune_size(void)
{
    char path[512];
    size_t max = 256u << 10;
    kumo__history *h = open_at("size.db", 86400 * 7, max, path, sizeof(path));
    CHECK(h != NULL);
    if (h == NULL)
        return;
    uint64_t now = now_ms(), from = now - 4000 * 10000u;
    CHECK_INT(fill(h, 10, from, 4000, 1), 0);
    uint64_t before = kumo__history_bytes(h);
    CHECK(before > max);
    int64_t newest = sql_int(path, "SELECT max(t) FROM points");
    long gone = kumo__history_prune(h, now);
    CHECK(gone > 0);
    CHECK(kumo__history_bytes(h) <= max);
    CHECK_INT(sql_int(path, "SELECT max(t) FROM points"), newest); /* the newest stay */
    CHECK(sql_int(path, "SELECT min(t) FROM points") > (int64_t)from);
    kumo__history_close(h);
    /* the file itself shrank (incremental vacuum), checkpointed at close */
    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size <= max + 65536);
    printf("pruned to the ceiling: %llu bytes in use before, file %lld bytes after (max %zu)\n",
           (unsigned long long)before, (long long)st.st_size, max);
}

/* The thread: stopping it records one last point, so what ran since the
 * last sample is not lost at a stop (the interval is an hour: no sample
 * but the last can happen while the test runs). */
static void test_thread_last_point(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/thread.db", dir);
    kumo__metrics *m = kumo__metrics_create(1);
    kumo__history_config cfg = {
        .path = path, .keep_s = 86400, .max_bytes = 64u << 20, .interval_ms = 3600000, .metrics = m};
    kumo__history *h = NULL;
    kumo__error err = {0};
    CHECK(m != NULL);
    CHECK_INT(kumo__history_open(&cfg, &h, &err), 0);
    if (h == NULL || m == NULL)
        return;
    CHECK_INT(kumo__history_start(h, &err), 0);
    int a = kumo__metrics_target(m, &A);
    for (int i = 0; i < 4; i++)
        kumo__metrics_invocation(m, 0, a, 201, 700, 0);
    kumo__history_close(h);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM points"), 1);
    CHECK_INT(sql_int(path, "SELECT requests FROM points"), 4);
    kumo__metrics_free(m);
}

/* A query holding too many cells (targets x steps) is refused, not made. */
static void test_query_ceiling(void)
{
    char path[512];
    kumo__history *h = open_at("wide.db", 86400, 64u << 20, path, sizeof(path));
    CHECK(h != NULL);
    if (h == NULL)
        return;
    uint64_t now = now_ms();
    CHECK_INT(fill(h, 130, now - 20000, 1, 0), 0);
    kumo__history_close(h);
    kumo__history_query q = {.now_ms = now, .since_s = 2000, .step_s = 1, .interval_ms = 10000};
    kumo__error err = {0};
    json_t *doc = kumo__history_query_json(path, &q, &err);
    CHECK(doc == NULL);
    CHECK_INT(err.code, -E2BIG);
    CHECK(strstr(err.msg, "larger step=") != NULL);
    q.step_s = 10;
    doc = kumo__history_query_json(path, &q, &err);
    CHECK(doc && json_array_size(json_object_get(doc, "series")) == 130);
    json_decref(doc);
}

/* Through the real registry: the thread's own path, snapshot to point. */
static void test_registry(void)
{
    char path[512];
    kumo__history *h = open_at("registry.db", 86400, 64u << 20, path, sizeof(path));
    kumo__metrics *m = kumo__metrics_create(2);
    CHECK(h && m);
    if (h == NULL || m == NULL)
        return;
    int a = kumo__metrics_target(m, &A);
    for (int i = 0; i < 7; i++)
        kumo__metrics_invocation(m, i % 2, a, i < 5 ? 201 : 500, 1500, i < 5 ? 0 : KUMO__INV_ERROR);
    kumo__metrics_answered(m, 0, a, 429, 10, 1);
    kumo__metrics_answered(m, 0, a, 400, 10, 0);
    kumo__msnap s;
    CHECK_INT(kumo__metrics_snapshot(m, &s), 0);
    CHECK_INT(kumo__history_record(h, &s, NULL, 0), 0);
    kumo__msnap_free(&s);
    CHECK_INT(sql_int(path, "SELECT requests FROM points"), 7);
    CHECK_INT(sql_int(path, "SELECT errors FROM points"), 2);
    CHECK_INT(sql_int(path, "SELECT rejected FROM points"), 1);
    CHECK_INT(sql_int(path, "SELECT sum_us FROM points"), 7 * 1500);
    kumo__metrics_invocation(m, 1, a, 201, 1500, KUMO__INV_COLD);
    CHECK_INT(kumo__metrics_snapshot(m, &s), 0);
    CHECK_INT(kumo__history_record(h, &s, NULL, 0), 0);
    kumo__msnap_free(&s);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM points"), 2);
    CHECK_INT(sql_int(path, "SELECT cold FROM points WHERE t = (SELECT max(t) FROM points)"), 1);
    CHECK_INT(sql_int(path, "SELECT requests FROM points WHERE t = (SELECT max(t) FROM points)"), 1);
    kumo__history_close(h);
    kumo__metrics_free(m);
}

/* The figure for the docs: 24 h of 10 s points for 20 operations. */
static void day_of_points(void)
{
    if (getenv("KUMO_HISTORY_DAY") == NULL) {
        printf("note: KUMO_HISTORY_DAY=1 fills 24 h of points for 20 operations and prints the file's size\n");
        return;
    }
    char path[512];
    kumo__history *h = open_at("day.db", 86400, 64u << 20, path, sizeof(path));
    CHECK(h != NULL);
    if (h == NULL)
        return;
    uint64_t now = now_ms();
    CHECK_INT(fill(h, 20, now - 86400 * 1000u, 8640, 1), 0);
    kumo__history_prune(h, now);
    uint64_t used = kumo__history_bytes(h);
    json_t *doc = query(path, now, 86400, 240, NULL);
    CHECK(doc != NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "series")), 20);
    json_decref(doc);
    kumo__history_close(h);
    struct stat st;
    stat(path, &st);
    printf("24 h x 20 operations x 10 s: %lld points, %llu bytes in use, file %lld bytes (%.1f MiB)\n",
           (long long)sql_int(path, "SELECT count(*) FROM points"), (unsigned long long)used, (long long)st.st_size,
           (double)st.st_size / 1048576.0);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kumo-history-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_blob();
    test_deltas();
    test_prune_age();
    test_prune_target_again();
    test_prune_size();
    test_registry();
    test_query_ceiling();
    test_thread_last_point();
    day_of_points();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
