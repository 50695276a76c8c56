/*
 * metrics.h: the gateway's counters and histograms, for its whole life (a
 * reload is not a restart: a generation only looks its targets up). One
 * shard per loop thread: each loop writes its own with relaxed atomics
 * and never waits; a scrape, a snapshot or the history sums the shards.
 *
 * A target is what an invocation is counted under: function, operation,
 * route template, method and trigger, never a path or an id, so the
 * number of series is bounded by the project's own shape. Each (target,
 * status) pair is one series; a loop finds it in its own cache, and only
 * the first invocation of a pair takes the registry's lock.
 *
 * Exposed in the Prometheus text format with the OpenTelemetry FaaS and
 * HTTP names, translated the Prometheus way (docs/metrics.md).
 */
#ifndef KUMO_OBS_METRICS_H
#define KUMO_OBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct kumo__metrics kumo__metrics;

/* nshards: one per thread that records invocations (the loops). NULL when
 * out of memory. */
kumo__metrics *kumo__metrics_create(int nshards);
void kumo__metrics_free(kumo__metrics *m);

/* What an invocation is counted under. Strings are copied; the same labels
 * give the same id for the registry's life. */
typedef struct kumo__mtarget {
    const char *function;  /* the unit's name */
    const char *operation; /* the operationId, or the event's name */
    const char *route;     /* the OpenAPI path template; "" for events */
    const char *method;    /* "GET", ...; "" for events */
    const char *trigger;   /* OTel faas.trigger: http, timer, pubsub, datasource or other */
} kumo__mtarget;

/* The target's id (>= 0), made on first use; -1 when the registry is full
 * (KUMO__MTARGETS_MAX) or out of memory: recording with -1 does nothing.
 * Any thread. */
#define KUMO__MTARGETS_MAX 4096
int kumo__metrics_target(kumo__metrics *m, const kumo__mtarget *t);

/* Histogram buckets: upper bounds in microseconds, fine below a
 * millisecond (kumo's cold starts and warm calls live there). The last is
 * +Inf (UINT64_MAX). */
#define KUMO__MBUCKETS 20
extern const uint64_t kumo__mbucket_us[KUMO__MBUCKETS];
/* The bucket a duration falls in. */
int kumo__mbucket_of(uint64_t us);

enum {
    KUMO__INV_ERROR = 1,   /* the handler failed, crashed, timed out, or answered 5xx */
    KUMO__INV_TIMEOUT = 2, /* it passed its deadline */
    KUMO__INV_COLD = 4,    /* it waited for a worker to start */
    KUMO__INV_CRASH = 8,   /* its worker died under it */
    KUMO__INV_LONG = 16,   /* it ran past KUMO__LONG_SHARE of its timeout */
};
#define KUMO__LONG_SHARE 0.8

/* One invocation of `target` answered `status` after `duration_us`. On
 * shard `shard`'s thread only. */
void kumo__metrics_invocation(kumo__metrics *m, int shard, int target, int status, uint64_t duration_us,
                              unsigned flags);
/* A request the gateway answered itself, with no invocation: no route
 * (target of the "" operation), the contract refused it, or admission
 * refused it (`rejected`: 429 or 503 for a function at its limits). It
 * counts in the HTTP histogram, not in the FaaS counters. */
void kumo__metrics_answered(kumo__metrics *m, int shard, int target, int status, uint64_t duration_us, int rejected);
/* A worker of `function` said hello init_us after it was asked for. */
void kumo__metrics_init(kumo__metrics *m, int shard, const char *function, uint64_t init_us);
/* Adds n to the free-form counter `name` (a Prometheus metric name ending
 * in _total, with optional {labels}), made on first use with its help
 * text. Any thread; takes a lock (not for the request path). */
void kumo__metrics_count(kumo__metrics *m, const char *name, const char *help, uint64_t n);
/* Sets the free-form gauge `name` (as above, without _total). */
void kumo__metrics_gauge(kumo__metrics *m, const char *name, const char *help, double value);

/* A snapshot, shards summed: one row per (target, status) seen so far. */
typedef struct kumo__mrow {
    int target;
    const kumo__mtarget *labels; /* the registry's (valid for its life) */
    int status;
    int answered; /* the gateway answered without an invocation (kumo__metrics_answered) */
    uint64_t count, errors, timeouts, cold, crashes, long_runs, rejected, sum_us;
    uint64_t buckets[KUMO__MBUCKETS]; /* per bucket, not cumulative */
} kumo__mrow;
typedef struct kumo__msnap {
    kumo__mrow *rows;
    size_t n;
    uint64_t taken_ms; /* wall clock, ms since the epoch */
} kumo__msnap;
/* 0, or -ENOMEM. Any thread; the rows are the caller's (kumo__msnap_free). */
int kumo__metrics_snapshot(kumo__metrics *m, kumo__msnap *out);
void kumo__msnap_free(kumo__msnap *s);
/* The q-quantile (0 < q < 1), in seconds, of per-bucket counts: linear
 * within its bucket, as Prometheus's histogram_quantile does; 0 when
 * empty. A quantile in the +Inf bucket gives the last finite bound. */
double kumo__mbuckets_quantile(const uint64_t *buckets, double q);

/* targets.c: the targets of project p's operations (*ops, one per
 * spec->nops) and events (*events, one per p->nevents), and of requests no
 * operation matched (*noroute); all -1 when p->obs.enabled is false. The
 * arrays are malloc'd (the caller frees). 0, or -ENOMEM. */
struct kumo__project;
struct kumo__spec;
int kumo__metrics_project_targets(kumo__metrics *m, const struct kumo__project *p, const struct kumo__spec *spec,
                                  int **ops, int **events, int *noroute);
/* OpenTelemetry's faas.trigger of an event kind (kumo__event_kind):
 * timer, pubsub, datasource or other. */
const char *kumo__faas_trigger(int event_kind);

/* Everything above in the Prometheus text format (version 0.0.4), then
 * `extra` (lines the caller made: gauges it reads from elsewhere) as it
 * is. malloc'd, or NULL when out of memory. Any thread. */
char *kumo__metrics_prometheus(kumo__metrics *m, const char *extra);

#endif
