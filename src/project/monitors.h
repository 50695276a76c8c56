/*
 * monitors.h: kumo.yaml's `monitors:` and `alerts:` (monitors.c), what the
 * gateway's monitor thread (obs/monitor.c) watches and where its alerts go
 * (obs/alert.c). docs/monitors.md is the user's page.
 *
 *   monitors:
 *     defaults: {p99: 500ms, errors: 5%, window: 5m, anomalies: true, long_running: 80%}
 *     createTodo: {p99: 50ms, errors: 1%}      # an operationId of the spec
 *     listNotifications: {probe: false}         # a GET with side effects
 *     probes: {interval: 30s, timeout: 2s}     # or probes: false
 *   alerts:
 *     webhooks: [http://127.0.0.1:9093/api/v2/alerts]
 *     for: 1m
 *     resend: 1m
 *
 * Absent keys take the defaults below, so a project without monitors:
 * still has its latency, errors, anomalies, long runs and reachability
 * watched; alerts then go to the log only.
 */
#ifndef KUMO_PROJECT_MONITORS_H
#define KUMO_PROJECT_MONITORS_H

#include <stddef.h>

#include "openapi/openapi.h"

/* The latency percentiles a bound may name, in this order. */
#define KUMO__MON_QUANTILES 4
extern const double kumo__mon_quantile[KUMO__MON_QUANTILES];          /* 0.5, 0.9, 0.95, 0.99 */
extern const char *const kumo__mon_quantile_key[KUMO__MON_QUANTILES]; /* "p50", "p90", "p95", "p99" */

#define KUMO__WEBHOOKS_MAX 16 /* alerts.webhooks entries */

/* What is watched of one operation (or of every one, under defaults:). */
#define KUMO__PROBE_ALWAYS 2

typedef struct kumo__mon_bounds {
    double latency_s[KUMO__MON_QUANTILES]; /* bound per percentile, seconds; 0: not watched (default p99 500 ms) */
    double errors;                         /* error-rate bound, 0..1 (default 0.05); < 0: not watched */
    double window_s;                       /* what bounds are computed over (default 300 s; 1 s .. 1 h) */
    int anomalies;                         /* rate, error rate and p99 against their baseline (default 1) */
    double long_running;                   /* share of the timeout past which a run is too long (0.8); 0: off */
    int probe; /* probe it when it can be (1): a GET with examples; 0 (probe: false) for a GET with side effects;
                  KUMO__PROBE_ALWAYS (probe: always, per operation): any method, with its request example */
} kumo__mon_bounds;

/* monitors.OPERATION: defaults: with this entry's keys over it. */
typedef struct kumo__mon_op {
    char *operation; /* an operationId; checked against the spec by kumo__monitors_check_spec */
    kumo__mon_bounds bounds;
    int line, col; /* of the key in kumo.yaml */
} kumo__mon_op;

typedef struct kumo__monitors_config {
    kumo__mon_bounds defaults;
    kumo__mon_op *ops; /* in file order */
    size_t nops;
    double probe_interval_s; /* probes: interval (30 s); 0: probes: false */
    double probe_timeout_s;  /* probes: timeout (2 s): a slower answer is a failed probe */
    char **webhooks;         /* alerts.webhooks: http(s) URLs taking Alertmanager's v2 payload */
    size_t nwebhooks;
    double for_s;    /* alerts.for: a condition holds this long before it fires (60 s; 0: at once) */
    double resend_s; /* alerts.resend: a firing alert is sent again this often (60 s) */
    char *file;      /* kumo.yaml as the user named it, for messages; NULL: "kumo.yaml" */
} kumo__monitors_config;

/* The defaults above, with no operations and no webhooks. */
void kumo__monitors_defaults(kumo__monitors_config *c);
/* Reads `monitors` and `alerts` (either may be NULL: absent) of `doc` into
 * c, which holds the defaults; errors name kumo.yaml:line:column. */
int kumo__monitors_load(const kumo__doc *doc, json_t *monitors, json_t *alerts, kumo__monitors_config *c,
                        kumo__error *err);
/* Refuses a key under monitors: that is neither an operationId of the
 * spec nor an event of the project (p->monitors). */
struct kumo__project;
int kumo__monitors_check_spec(const struct kumo__project *p, const kumo__spec *spec, kumo__error *err);
/* The bounds of operation `op` (NULL or unnamed: defaults). Borrowed from c. */
const kumo__mon_bounds *kumo__monitors_bounds(const kumo__monitors_config *c, const char *op);
/* Frees what c owns (not c), leaving it empty. */
void kumo__monitors_free(kumo__monitors_config *c);
/* A deep copy of src into dst (the monitor thread keeps one across a
 * generation's life). 0 or -ENOMEM (dst then empty). */
int kumo__monitors_copy(kumo__monitors_config *dst, const kumo__monitors_config *src);

#endif
