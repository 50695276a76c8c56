/*
 * monitor.h: the gateway's monitor (monitor.c): a thread that, every
 * round (10 s; KUMO_MONITOR_INTERVAL_MS, a testing knob, shortens it),
 * takes a snapshot of the metrics registry and judges each operation and
 * event over the deltas:
 *
 *  - bounds: latency percentiles and the error rate over the window;
 *  - anomalies: request rate, error rate and p99 of the last round
 *    against the median and MAD of their last 30 rounds (kumo__anomaly);
 *  - running too long: invocations past a share of their timeout, and
 *    timeouts;
 *  - reachability: every probe interval, synthetic GET requests built
 *    from the spec's examples (any method, with its request example, for
 *    an operation whose monitor says probe: always), sent to the
 *    gateway's own port, their answers checked (status, the response
 *    contract, time).
 *
 * What holds becomes an alert (alert.h): the log, the webhooks, GET
 * /alerts. The monitor follows reloads: each generation hands it its
 * project and spec (kumo__monitor_generation).
 */
#ifndef KUMO_OBS_MONITOR_H
#define KUMO_OBS_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"
#include "openapi/check.h"
#include "project/project.h"

/* ---- the anomaly detector (one series) -------------------------------------- */

#define KUMO__ANOM_HISTORY 30 /* rounds in the baseline */
#define KUMO__ANOM_READY 10   /* rounds needed before judging */
#define KUMO__ANOM_Z 5.0      /* deviations (MAD-scaled) that are anomalous */
#define KUMO__ANOM_SUSTAIN 3  /* anomalous rounds in a row before the alert is pending */

typedef struct kumo__anomaly {
    double v[KUMO__ANOM_HISTORY]; /* the last values, a ring */
    size_t n, next;
    int run; /* anomalous rounds in a row */
} kumo__anomaly;

typedef struct kumo__anomaly_verdict {
    double value, baseline; /* the value pushed; the median of the rounds before it */
    double scale;           /* 1.4826 x MAD, or the floor when larger */
    double z;               /* (value - baseline) / scale */
    int ready;              /* the baseline had KUMO__ANOM_READY rounds */
    int anomalous;          /* |z| (z when up_only) above KUMO__ANOM_Z */
    int sustained;          /* anomalous KUMO__ANOM_SUSTAIN rounds in a row */
} kumo__anomaly_verdict;

/* Judges x against the series' baseline, then adds it to the baseline
 * (so a lasting change becomes the new normal after about half of
 * KUMO__ANOM_HISTORY rounds). The deviation's scale is at least floor_abs
 * and floor_rel x |baseline|, so a flat series is not alarmed by a
 * rounding. up_only: only rises count (error rate, latency). */
void kumo__anomaly_push(kumo__anomaly *a, double x, double floor_abs, double floor_rel, int up_only,
                        kumo__anomaly_verdict *out);

/* ---- the monitor -------------------------------------------------------------- */

typedef struct kumo__monitor kumo__monitor;

/* What one generation gives the monitor. The pointers stay valid until
 * the monitor calls release(ctx) (on its thread, or in kumo__monitor_stop),
 * once it has moved to a newer generation. */
typedef struct kumo__monitor_gen {
    const kumo__project *project;
    const kumo__spec *spec;
    kumo__opcheck *const *checks; /* per spec->ops, for the probes' answers; NULL: status and time only */
    void (*release)(void *ctx);
    void *ctx;
    /* How long the oldest call running on a worker of `function` has run
     * (microseconds; 0: none), and in *usual_us how long its warm calls
     * usually run (0: not known); called on the monitor thread. NULL: not
     * watched. */
    uint64_t (*oldest_us)(void *oldest_ctx, const char *function, uint64_t *usual_us);
    void *oldest_ctx;
    /* The project's data folder (.kumo/data): the alerts are kept in its
     * alerts.json across restarts, and restored from it by the first
     * generation. NULL: kept in memory only. */
    const char *data_dir;
} kumo__monitor_gen;

/* Starts the monitor thread over `metrics` (borrowed; it must outlive the
 * monitor). probe_base: the gateway's own URL ("http://127.0.0.1:8080"),
 * NULL: no probes; admin_url: the admin port's ("http://127.0.0.1:8081"),
 * named in each alert's generatorURL, NULL: none. */
int kumo__monitor_start(kumo__metrics *metrics, const char *probe_base, const char *admin_url, kumo__monitor **out,
                        kumo__error *err);
/* Hands the monitor a new generation (it evaluates with it from its next
 * round, and releases the one before). Any thread. */
void kumo__monitor_generation(kumo__monitor *mon, const kumo__monitor_gen *g);
/* Stops and joins the thread, releases the generations, frees. NULL: nothing. */
void kumo__monitor_stop(kumo__monitor *mon);
/* GET /alerts: the monitors and alerts as of the last round, as JSON
 * (malloc'd; NULL when out of memory). Any thread. */
char *kumo__monitor_json(kumo__monitor *mon);
/* The round interval in ms: KUMO_MONITOR_INTERVAL_MS (50 .. 3600000) or
 * 10000. */
uint64_t kumo__monitor_interval_ms(void);

#endif
