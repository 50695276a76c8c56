/*
 * test_monitor.c: the monitor's parts (src/obs/monitor.c, alert.c):
 * quantiles from histogram buckets; the median/MAD anomaly detector on
 * synthetic series (a step change alerts after KUMO__ANOM_SUSTAIN rounds,
 * noise and a single spike do not); alert states pending -> firing ->
 * resolved with for:, and Alertmanager's payload; then a real monitor
 * thread over a real registry whose operation breaks its error bound, read
 * back through the JSON GET /alerts serves.
 */
#include "obs/monitor.h"

#include "obs/alert.h"

#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"

static void test_quantiles(void)
{
    uint64_t b[KUMO__MBUCKETS] = {0};
    /* 100 answers between 1 and 2.5 ms (bucket 6: (1000, 2500] us) */
    b[6] = 100;
    double p50 = kumo__mbuckets_quantile(b, 0.5), p99 = kumo__mbuckets_quantile(b, 0.99);
    CHECK(fabs(p50 - 0.00175) < 1e-9);
    CHECK(fabs(p99 - (0.001 + 0.0015 * 0.99)) < 1e-9);
    /* one slow answer in 100 moves p99 into its bucket, not p50 */
    b[6] = 99;
    b[13] = 1; /* (250, 500] ms */
    CHECK(kumo__mbuckets_quantile(b, 0.5) < 0.0025);
    CHECK(kumo__mbuckets_quantile(b, 0.995) > 0.25);
}

/* A deterministic noise: a linear congruential generator. */
static unsigned rng = 12345;
static double noise(void)
{
    rng = rng * 1103515245u + 12345u;
    return ((double)((rng >> 16) & 0x7fff) / 32767.0) - 0.5; /* -0.5 .. 0.5 */
}

static void test_anomaly_noise_and_step(void)
{
    kumo__anomaly a = {0};
    kumo__anomaly_verdict v;
    int alarms = 0;
    /* 200 rounds of 100 +- 10 requests/s: never sustained */
    for (int i = 0; i < 200; i++) {
        kumo__anomaly_push(&a, 100 + 20 * noise(), 0.1, 0.2, 0, &v);
        alarms += v.sustained;
        if (i >= KUMO__ANOM_READY)
            CHECK(v.ready);
    }
    CHECK_INT(alarms, 0);
    /* a single spike is anomalous, not sustained */
    kumo__anomaly_push(&a, 400, 0.1, 0.2, 0, &v);
    CHECK(v.anomalous);
    CHECK(!v.sustained);
    kumo__anomaly_push(&a, 100, 0.1, 0.2, 0, &v);
    CHECK(!v.anomalous);
    /* a step to 400 is sustained on its third round, with the baseline said */
    int first = -1;
    for (int i = 0; i < 10; i++) {
        kumo__anomaly_push(&a, 400 + 20 * noise(), 0.1, 0.2, 0, &v);
        if (v.sustained && first < 0) {
            first = i;
            CHECK(fabs(v.baseline - 100) < 10);
            CHECK(v.z > KUMO__ANOM_Z);
        }
    }
    CHECK_INT(first, KUMO__ANOM_SUSTAIN - 1);
    /* a lasting change becomes the baseline: no longer anomalous after
     * about half the history */
    for (int i = 0; i < KUMO__ANOM_HISTORY; i++)
        kumo__anomaly_push(&a, 400 + 20 * noise(), 0.1, 0.2, 0, &v);
    CHECK(!v.anomalous);
    /* a drop counts both ways, not when up_only */
    kumo__anomaly b = {0};
    for (int i = 0; i < 30; i++)
        kumo__anomaly_push(&b, 0.01, 0.02, 0.2, 1, &v);
    for (int i = 0; i < 5; i++)
        kumo__anomaly_push(&b, 0.0, 0.02, 0.2, 1, &v);
    CHECK(!v.anomalous);
    /* a flat series: the floor keeps a small wobble quiet */
    kumo__anomaly c = {0};
    for (int i = 0; i < 30; i++)
        kumo__anomaly_push(&c, 5, 1, 0.2, 0, &v);
    kumo__anomaly_push(&c, 6, 1, 0.2, 0, &v);
    CHECK(!v.anomalous);
    /* not judged before KUMO__ANOM_READY rounds */
    kumo__anomaly d = {0};
    for (int i = 0; i < KUMO__ANOM_READY; i++) {
        kumo__anomaly_push(&d, i == KUMO__ANOM_READY - 1 ? 1000 : 1, 0.1, 0.2, 0, &v);
        CHECK(!v.ready);
    }
}

static kumo__alert_cond cond_of(const char *name)
{
    return (kumo__alert_cond){.name = name,
                              .operation = "createTodo",
                              .function = "todos",
                              .severity = "warning",
                              .summary = "createTodo: error rate 50% is above its bound of 1%",
                              .description = "5 of 10 invocations failed",
                              .min_rounds = 1};
}

static void test_alert_states(void)
{
    kumo__alerts a;
    kumo__alerts_init(&a, "todo", "http://127.0.0.1:8081/alerts");
    a.for_s = 20;
    a.resend_s = 60;
    kumo__alert_cond c = cond_of("KumoErrorRateHigh");
    uint64_t t = 1700000000000ull;
    /* holds: pending */
    kumo__alerts_begin(&a);
    CHECK_INT(kumo__alerts_set(&a, &c), 0);
    kumo__alerts_end(&a, t);
    CHECK_INT(a.n, 1);
    CHECK_INT(a.v[0].state, KUMO__ALERT_PENDING);
    CHECK(kumo__alerts_payload(&a, t, 0) == NULL); /* pending is not sent */
    /* stops before for: -> dropped */
    kumo__alerts_begin(&a);
    kumo__alerts_end(&a, t + 10000);
    CHECK_INT(a.n, 0);
    CHECK_INT(a.transitions, 2);
    /* holds for for: -> firing, sent once, then again after resend: */
    for (int i = 0; i <= 2; i++) {
        kumo__alerts_begin(&a);
        kumo__alerts_set(&a, &c);
        kumo__alerts_end(&a, t + 20000 + (uint64_t)i * 10000);
    }
    CHECK_INT(a.v[0].state, KUMO__ALERT_FIRING);
    CHECK_INT(kumo__alerts_firing(&a), 1);
    uint64_t now = t + 40000;
    json_t *p = kumo__alerts_payload(&a, now, 0);
    CHECK(json_is_array(p) && json_array_size(p) == 1);
    json_t *al = json_array_get(p, 0), *labels = json_object_get(al, "labels");
    CHECK_STR(json_string_value(json_object_get(labels, "alertname")), "KumoErrorRateHigh");
    CHECK_STR(json_string_value(json_object_get(labels, "severity")), "warning");
    CHECK_STR(json_string_value(json_object_get(labels, "operation")), "createTodo");
    CHECK_STR(json_string_value(json_object_get(labels, "function")), "todos");
    CHECK_STR(json_string_value(json_object_get(labels, "project")), "todo");
    CHECK_STR(json_string_value(json_object_get(json_object_get(al, "annotations"), "description")),
              "5 of 10 invocations failed");
    CHECK_STR(json_string_value(json_object_get(al, "startsAt")), "2023-11-14T22:13:40.000000Z");
    /* a firing alert's endsAt is four resend periods ahead */
    CHECK_STR(json_string_value(json_object_get(al, "endsAt")), "2023-11-14T22:18:00.000000Z");
    CHECK_STR(json_string_value(json_object_get(al, "generatorURL")), "http://127.0.0.1:8081/alerts");
    json_decref(p);
    kumo__alerts_sent(&a, now);
    CHECK(kumo__alerts_payload(&a, now + 1000, 0) == NULL);
    p = kumo__alerts_payload(&a, now + 60000, 0);
    CHECK(json_array_size(p) == 1);
    json_decref(p);
    kumo__alerts_sent(&a, now + 60000);
    /* stops: resolved, sent once with its endsAt */
    kumo__alerts_begin(&a);
    kumo__alerts_end(&a, now + 70000);
    CHECK_INT(a.v[0].state, KUMO__ALERT_RESOLVED);
    CHECK_INT(kumo__alerts_firing(&a), 0);
    p = kumo__alerts_payload(&a, now + 70000, 0);
    CHECK(json_array_size(p) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 0), "endsAt")), "2023-11-14T22:15:10.000000Z");
    json_decref(p);
    kumo__alerts_sent(&a, now + 70000);
    CHECK(kumo__alerts_payload(&a, now + 200000, 0) == NULL);
    /* listed an hour, then dropped */
    kumo__alerts_begin(&a);
    kumo__alerts_end(&a, now + 70000 + 3601000);
    CHECK_INT(a.n, 0);
    /* for: 0 fires in the round it first holds; min_rounds delays it */
    a.for_s = 0;
    kumo__alerts_begin(&a);
    kumo__alerts_set(&a, &c);
    kumo__alert_cond c2 = cond_of("KumoLatencyP99High");
    c2.min_rounds = 2;
    kumo__alerts_set(&a, &c2);
    kumo__alerts_end(&a, now);
    CHECK_INT(a.v[0].state, KUMO__ALERT_FIRING);
    CHECK_INT(a.v[1].state, KUMO__ALERT_PENDING);
    kumo__alerts_begin(&a);
    kumo__alerts_set(&a, &c2);
    kumo__alerts_end(&a, now + 1);
    CHECK_INT(a.v[1].state, KUMO__ALERT_FIRING);
    kumo__alerts_free(&a);
}

/* Firing and resolved alerts outlive a restart through the alerts file: a
 * restored firing alert keeps its start, is not logged as firing again,
 * holds through the hold time without its condition, then resolves; a
 * pending alert is not kept; a damaged file restores nothing and says
 * where. */
static void test_alerts_file(void)
{
    char dir[] = "/tmp/kumo-alerts-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], junk[256];
    snprintf(path, sizeof(path), "%s/alerts.json", dir);
    snprintf(junk, sizeof(junk), "%s/junk.json", dir);
    kumo__alerts a;
    kumo__alerts_init(&a, "todo", "");
    a.for_s = 0;
    kumo__alert_cond c = cond_of("KumoErrorRateHigh"), c2 = cond_of("KumoLatencyP99High");
    c2.min_rounds = 3;
    uint64_t t = 1700000000000ull;
    kumo__alerts_begin(&a);
    kumo__alerts_set(&a, &c);
    kumo__alerts_set(&a, &c2);
    kumo__alerts_end(&a, t);
    CHECK_INT(a.v[0].state, KUMO__ALERT_FIRING);
    CHECK_INT(a.v[1].state, KUMO__ALERT_PENDING);
    CHECK(a.dirty);
    kumo__error err = {0};
    CHECK_INT(kumo__alerts_save(&a, path, &err), 0);
    CHECK(!a.dirty);
    kumo__alerts_free(&a);

    /* a missing file is no alerts */
    kumo__alerts b;
    kumo__alerts_init(&b, "todo", "");
    CHECK_INT(kumo__alerts_load(&b, junk, t, 0, &err), 0);
    CHECK_INT(b.n, 0);
    /* restored: the firing one, unsent, with its start; the pending one is gone */
    CHECK_INT(kumo__alerts_load(&b, path, t + 5000, 20000, &err), 0);
    CHECK_INT(b.n, 1);
    CHECK_STR(b.v[0].name, "KumoErrorRateHigh");
    CHECK_STR(b.v[0].operation, "createTodo");
    CHECK_INT(b.v[0].state, KUMO__ALERT_FIRING);
    CHECK(b.v[0].since_ms == t && b.v[0].fired_ms == t && b.v[0].unsent);
    json_t *p = kumo__alerts_payload(&b, t + 5000, 0);
    CHECK(json_array_size(p) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(p, 0), "startsAt")), "2023-11-14T22:13:20.000000Z");
    json_decref(p);
    kumo__alerts_sent(&b, t + 5000);
    /* within the hold its condition is not needed, and nothing is logged */
    b.for_s = 0;
    kumo__alerts_begin(&b);
    kumo__alerts_end(&b, t + 10000);
    CHECK_INT(b.v[0].state, KUMO__ALERT_FIRING);
    CHECK_INT(b.transitions, 0);
    /* past it, judged again: the condition is gone, so resolved */
    kumo__alerts_begin(&b);
    kumo__alerts_end(&b, t + 25001);
    CHECK_INT(b.v[0].state, KUMO__ALERT_RESOLVED);
    CHECK_INT(b.transitions, 1);
    /* an undelivered resolution survives too */
    CHECK_INT(kumo__alerts_save(&b, path, &err), 0);
    kumo__alerts_free(&b);
    kumo__alerts_init(&b, "todo", "");
    CHECK_INT(kumo__alerts_load(&b, path, t + 30000, 20000, &err), 0);
    CHECK_INT(b.n, 1);
    CHECK_INT(b.v[0].state, KUMO__ALERT_RESOLVED);
    CHECK(b.v[0].held_until_ms == 0);
    p = kumo__alerts_payload(&b, t + 30000, 0);
    CHECK(json_array_size(p) == 1);
    json_decref(p);
    kumo__alerts_free(&b);

    /* damaged files: not restored, the message names the file (and line:column when JSON is broken) */
    FILE *f = fopen(junk, "w");
    fputs("{\"version\":1,\"alerts\":[\n{\"name\":", f);
    fclose(f);
    kumo__alerts_init(&b, "todo", "");
    CHECK_INT(kumo__alerts_load(&b, junk, t, 0, &err), -EINVAL);
    CHECK(strstr(err.msg, junk) != NULL && strstr(err.msg, ":2:") != NULL);
    CHECK_INT(b.n, 0);
    f = fopen(junk, "w");
    fputs("{\"version\":1,\"alerts\":[{\"name\":\"x\",\"state\":\"pending\"}]}", f);
    fclose(f);
    CHECK_INT(kumo__alerts_load(&b, junk, t, 0, &err), -EINVAL);
    CHECK(strstr(err.msg, "alert 0") != NULL);
    CHECK_INT(b.n, 0);
    CHECK(b.v == NULL);
    f = fopen(junk, "w");
    fputs("{\"version\":2,\"alerts\":[]}", f);
    fclose(f);
    CHECK_INT(kumo__alerts_load(&b, junk, t, 0, &err), -EINVAL);
    CHECK(strstr(err.msg, "version 1") != NULL);
    kumo__alerts_free(&b);
    unlink(junk);
    unlink(path);
    rmdir(dir);
}

/* ---- a real monitor thread over a real registry --------------------------------- */

static int released;
static void release(void *ctx)
{
    (void)ctx;
    released++;
}

static void test_monitor_thread(void)
{
    setenv("KUMO_MONITOR_INTERVAL_MS", "50", 1);
    CHECK_INT(kumo__monitor_interval_ms(), 50);
    kumo__metrics *m = kumo__metrics_create(1);
    kumo__project p = {.name = "todo", .timeout_s = 10, .obs = {.enabled = 1}};
    kumo__monitors_defaults(&p.monitors);
    p.monitors.for_s = 0;
    p.monitors.defaults.anomalies = 0;
    p.monitors.defaults.errors = 0.01;
    p.monitors.defaults.window_s = 1;
    kumo__monitor *mon = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__monitor_start(m, NULL, "http://127.0.0.1:1", &mon, &err), 0);
    if (mon == NULL)
        return;
    kumo__monitor_gen g = {.project = &p, .release = release};
    kumo__monitor_generation(mon, &g);
    int t = kumo__metrics_target(
        m, &(kumo__mtarget){
               .function = "todos", .operation = "createTodo", .route = "/todos", .method = "POST", .trigger = "http"});
    for (int i = 0; i < 10; i++)
        kumo__metrics_invocation(m, 0, t, 500, 1500, KUMO__INV_ERROR);
    /* bounded wait: the alert fires within a few rounds */
    int firing = 0;
    for (int i = 0; i < 200 && !firing; i++) {
        usleep(20000);
        char *j = kumo__monitor_json(mon);
        firing = j && strstr(j, "\"name\":\"KumoErrorRateHigh\"") && strstr(j, "\"state\":\"firing\"");
        free(j);
    }
    CHECK(firing);
    char *j = kumo__monitor_json(mon);
    json_t *doc = json_loads(j ? j : "", 0, NULL);
    free(j);
    json_t *mons = json_object_get(doc, "monitors");
    CHECK_INT(json_array_size(mons), 1);
    json_t *op = json_array_get(mons, 0);
    CHECK_STR(json_string_value(json_object_get(op, "operation")), "createTodo");
    CHECK_STR(json_string_value(json_object_get(op, "function")), "todos");
    CHECK(json_real_value(json_object_get(json_object_get(op, "values"), "error_rate")) == 1.0);
    json_decref(doc);
    /* the errors stop: the 1 s window passes and it resolves */
    int resolved = 0;
    for (int i = 0; i < 300 && !resolved; i++) {
        kumo__metrics_invocation(m, 0, t, 201, 1500, 0);
        usleep(20000);
        j = kumo__monitor_json(mon);
        resolved = j && strstr(j, "\"state\":\"resolved\"");
        free(j);
    }
    CHECK(resolved);
    /* a new generation with a longer window (the ring is resized): the
     * errors from before it must not come back into the new window */
    kumo__project p2 = p;
    kumo__monitors_copy(&p2.monitors, &p.monitors);
    p2.monitors.defaults.window_s = 3;
    kumo__monitor_gen g2 = {.project = &p2, .release = release};
    kumo__monitor_generation(mon, &g2);
    for (int i = 0; i < 200 && released < 1; i++)
        usleep(10000);
    CHECK_INT(released, 1);
    int back = 0, on_new = 0;
    for (int i = 0; i < 300 && on_new < 25; i++) { /* 25 rounds' worth on the new generation */
        kumo__metrics_invocation(m, 0, t, 201, 1500, 0);
        usleep(20000);
        j = kumo__monitor_json(mon);
        if (j && strstr(j, "\"window_s\":3") != NULL) {
            on_new++;
            back |= strstr(j, "\"state\":\"resolved\"") == NULL;
        }
        free(j);
    }
    CHECK_INT(on_new, 25);
    CHECK(!back);
    /* and again: the old one is released by the thread */
    kumo__monitor_generation(mon, &g);
    for (int i = 0; i < 200 && released < 2; i++)
        usleep(10000);
    CHECK_INT(released, 2);
    kumo__monitor_stop(mon);
    CHECK_INT(released, 3);
    kumo__monitors_free(&p2.monitors);
    kumo__metrics_free(m);
}

int main(void)
{
    test_quantiles();
    test_anomaly_noise_and_step();
    test_alert_states();
    test_alerts_file();
    test_monitor_thread();
    return check_report();
}
