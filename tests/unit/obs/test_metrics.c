/*
 * test_metrics.c: the registry (obs/metrics.c): targets are interned, two
 * shards sum, answered requests stay out of the FaaS counters, quantiles
 * interpolate like histogram_quantile, and the text format is what
 * Prometheus parses (cumulative buckets, +Inf, escaped label values).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "obs/metrics.h"

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void test_targets(void)
{
    kumo__metrics *m = kumo__metrics_create(2);
    CHECK(m != NULL);
    kumo__mtarget a = {"todos", "listTodos", "/todos", "GET", "http"};
    kumo__mtarget b = {"todos", "createTodo", "/todos", "POST", "http"};
    int ia = kumo__metrics_target(m, &a), ib = kumo__metrics_target(m, &b);
    CHECK(ia >= 0 && ib >= 0 && ia != ib);
    kumo__mtarget a2 = {"todos", "listTodos", "/todos", "GET", "http"};
    CHECK_INT(kumo__metrics_target(m, &a2), ia); /* a reload looks the same labels up again */
    kumo__mtarget nulls = {"f", NULL, NULL, NULL, "timer"};
    CHECK(kumo__metrics_target(m, &nulls) >= 0);
    kumo__metrics_free(m);
}

static void test_shards_and_snapshot(void)
{
    kumo__metrics *m = kumo__metrics_create(2);
    kumo__mtarget a = {"todos", "listTodos", "/todos", "GET", "http"};
    int id = kumo__metrics_target(m, &a);
    kumo__metrics_invocation(m, 0, id, 200, 40, KUMO__INV_COLD);
    kumo__metrics_invocation(m, 1, id, 200, 700, 0);
    kumo__metrics_invocation(m, 1, id, 500, 3000, KUMO__INV_ERROR);
    kumo__metrics_answered(m, 0, id, 400, 10, 0);
    kumo__metrics_answered(m, 1, id, 429, 10, 1);
    /* out of range: ignored, not a crash */
    kumo__metrics_invocation(m, 2, id, 200, 1, 0);
    kumo__metrics_invocation(m, 0, -1, 200, 1, 0);
    kumo__msnap s;
    CHECK_INT(kumo__metrics_snapshot(m, &s), 0);
    uint64_t ok = 0, err = 0, answered = 0, rejected = 0, cold = 0;
    for (size_t i = 0; i < s.n; i++) {
        const kumo__mrow *r = &s.rows[i];
        CHECK_STR(r->labels->operation, "listTodos");
        if (r->answered) {
            answered += r->count;
            rejected += r->rejected;
        } else if (r->status == 200) {
            ok += r->count;
            cold += r->cold;
            CHECK_INT(r->sum_us, 740);
            CHECK_INT(r->buckets[kumo__mbucket_of(40)], 1);
            CHECK_INT(r->buckets[kumo__mbucket_of(700)], 1);
        } else if (r->status == 500) {
            err += r->errors;
        }
    }
    CHECK_INT(ok, 2);
    CHECK_INT(err, 1);
    CHECK_INT(answered, 2);
    CHECK_INT(rejected, 1);
    CHECK_INT(cold, 1);
    CHECK(s.taken_ms > 1700000000000ULL);
    kumo__msnap_free(&s);
    kumo__metrics_free(m);
}

static void test_buckets(void)
{
    CHECK_INT(kumo__mbucket_of(0), 0);
    CHECK_INT(kumo__mbucket_of(25), 0);
    CHECK_INT(kumo__mbucket_of(26), 1);
    CHECK_INT(kumo__mbucket_of(1000), 5);
    CHECK_INT(kumo__mbucket_of(UINT64_MAX - 1), KUMO__MBUCKETS - 1);
    uint64_t b[KUMO__MBUCKETS] = {0};
    CHECK(kumo__mbuckets_quantile(b, 0.5) == 0);
    b[5] = 100; /* 100 calls in (500 us, 1 ms] */
    double q = kumo__mbuckets_quantile(b, 0.5);
    CHECK(fabs(q - 0.00075) < 1e-9); /* halfway through the bucket, like histogram_quantile */
    CHECK(fabs(kumo__mbuckets_quantile(b, 0.99) - 0.000995) < 1e-9);
    memset(b, 0, sizeof(b));
    b[KUMO__MBUCKETS - 1] = 3; /* all past the last bound: the last finite bound */
    CHECK(fabs(kumo__mbuckets_quantile(b, 0.5) - 30.0) < 1e-9);
}

static void test_text(void)
{
    kumo__metrics *m = kumo__metrics_create(1);
    kumo__mtarget a = {"todos", "get\"Todo\\", "/todos/{id}", "GET", "http"};
    int id = kumo__metrics_target(m, &a);
    kumo__metrics_invocation(m, 0, id, 200, 30, 0);
    kumo__metrics_invocation(m, 0, id, 200, 2000000, KUMO__INV_LONG);
    kumo__metrics_answered(m, 0, id, 200, 5, 0); /* same (target, status): one HTTP series */
    kumo__metrics_init(m, 0, "todos", 900);
    kumo__metrics_count(m, "kumo_test_total{kind=\"a\"}", "A test counter.", 2);
    kumo__metrics_count(m, "kumo_test_total{kind=\"b\"}", "A test counter.", 1);
    kumo__metrics_count(m, "kumo_test_total{kind=\"a\"}", "A test counter.", 3);
    kumo__metrics_gauge(m, "kumo_test_gauge", "A gauge.", 0.5);
    char *t = kumo__metrics_prometheus(m, "# extra\nkumo_extra 1\n");
    CHECK(t != NULL);
    if (t == NULL)
        return;
    const char *labels = "http_route=\"/todos/{id}\",http_request_method=\"GET\",http_response_status_code=\"200\","
                         "operation=\"get\\\"Todo\\\\\",faas_name=\"todos\"";
    char line[512];
    snprintf(line, sizeof(line), "http_server_request_duration_seconds_bucket{%s,le=\"2.5e-05\"} 1", labels);
    CHECK(has_line(t, line));
    snprintf(line, sizeof(line), "http_server_request_duration_seconds_bucket{%s,le=\"+Inf\"} 3", labels);
    CHECK(has_line(t, line));
    snprintf(line, sizeof(line), "http_server_request_duration_seconds_count{%s} 3", labels);
    CHECK(has_line(t, line));
    CHECK(has_line(
        t, "faas_invocations_total{faas_name=\"todos\",operation=\"get\\\"Todo\\\\\",faas_trigger=\"http\"} 2"));
    CHECK(has_line(
        t, "kumo_invocations_long_total{faas_name=\"todos\",operation=\"get\\\"Todo\\\\\",faas_trigger=\"http\"} 1"));
    CHECK(has_line(t, "faas_init_duration_seconds_count{faas_name=\"todos\"} 1"));
    CHECK(has_line(t, "# TYPE kumo_test_total counter"));
    CHECK(has_line(t, "kumo_test_total{kind=\"a\"} 5"));
    CHECK(has_line(t, "kumo_test_total{kind=\"b\"} 1"));
    CHECK(has_line(t, "# TYPE kumo_test_gauge gauge"));
    CHECK(has_line(t, "kumo_test_gauge 0.5"));
    CHECK(has_line(t, "kumo_extra 1"));
    /* one HELP per family */
    const char *first = strstr(t, "# HELP kumo_test_total");
    CHECK(first && strstr(first + 1, "# HELP kumo_test_total") == NULL);
    free(t);
    kumo__metrics_free(m);
}

/* Two threads write their own shards while a third snapshots: the sum
 * never goes back and ends exact. */
typedef struct {
    kumo__metrics *m;
    int shard, target;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    for (int i = 0; i < 200000; i++)
        kumo__metrics_invocation(a->m, a->shard, a->target, 200 + (i % 3), 100, 0);
    return NULL;
}

static void test_concurrent(void)
{
    kumo__metrics *m = kumo__metrics_create(2);
    kumo__mtarget a = {"f", "op", "/x", "GET", "http"};
    int id = kumo__metrics_target(m, &a);
    writer_arg w0 = {m, 0, id}, w1 = {m, 1, id};
    pthread_t t0, t1;
    pthread_create(&t0, NULL, writer, &w0);
    pthread_create(&t1, NULL, writer, &w1);
    uint64_t last = 0;
    int monotonic = 1;
    for (int k = 0; k < 200; k++) {
        kumo__msnap s;
        kumo__metrics_snapshot(m, &s);
        uint64_t total = 0;
        for (size_t i = 0; i < s.n; i++)
            total += s.rows[i].count;
        if (total < last)
            monotonic = 0;
        last = total;
        kumo__msnap_free(&s);
    }
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    CHECK(monotonic);
    kumo__msnap s;
    kumo__metrics_snapshot(m, &s);
    uint64_t total = 0;
    for (size_t i = 0; i < s.n; i++)
        total += s.rows[i].count;
    CHECK_INT(total, 400000);
    CHECK_INT(s.n, 3);
    kumo__msnap_free(&s);
    kumo__metrics_free(m);
}

int main(void)
{
    test_targets();
    test_shards_and_snapshot();
    test_buckets();
    test_text();
    test_concurrent();
    return check_report();
}
