/*
 * history.h: the metrics history behind the dashboard (issue 14). A thread
 * takes a metrics snapshot (obs/metrics.h) every 10 s and stores what
 * changed since the last one, per target (function, operation, trigger),
 * into PROJECT/.kumo/data/metrics.db (SQLite, WAL), with the functions'
 * gauges (replicas, queued, in flight) of that instant. Points are kept
 * for `keep_s` and the file under `max_bytes` (the oldest go first); a
 * restart keeps them, and new points continue after the gap.
 *
 * One point per target per interval, only when something happened:
 * requests, errors, timeouts, cold starts, rejected, the sum of durations,
 * and the histogram's per-bucket deltas as a blob of varint pairs (bucket
 * index, count) for the buckets that moved. Keeping the buckets (not three
 * quantiles) lets a query merge any number of points and targets and still
 * give true p50/p90/p99 of what it merged: quantiles do not add up.
 *
 * Nothing here runs on a loop thread: the recorder is its own thread, and
 * a query opens its own read connection (WAL: readers never wait for the
 * writer), from an admin job's thread.
 */
#ifndef KUMO_OBS_HISTORY_H
#define KUMO_OBS_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "obs/metrics.h"

/* A function's gauges at one instant (the gateway sums its pools). */
typedef struct kumo__hgauge {
    char function[128];
    int busy, idle, starting, queued, in_flight;
} kumo__hgauge;

/* Fills out[0..cap) with every function's gauges now and returns how many;
 * called on the history's thread. */
typedef size_t kumo__history_gauges_fn(void *ctx, kumo__hgauge *out, size_t cap);

typedef struct kumo__history_config {
    const char *path;                /* the database file (made, with its directory's parent existing) */
    double keep_s;                   /* points older than this go (observability.metrics.history) */
    size_t max_bytes;                /* the file's ceiling (observability.metrics.history_max) */
    unsigned interval_ms;            /* 0: KUMO_HISTORY_INTERVAL_MS (a testing knob) or 10000 */
    kumo__metrics *metrics;          /* what the thread samples; NULL: only kumo__history_record feeds it */
    kumo__history_gauges_fn *gauges; /* NULL: no gauges */
    void *gauges_ctx;
} kumo__history_config;

typedef struct kumo__history kumo__history;

/* The sampling interval: KUMO_HISTORY_INTERVAL_MS when set to 50..3600000,
 * else 10000. The variable is a testing knob (docs/dashboard.md). */
unsigned kumo__history_interval_ms(void);

/* Opens (makes) cfg->path and its tables. 0, or an error naming the file.
 * Strings of cfg are copied; cfg->metrics and the gauges' ctx must outlive
 * the history. */
int kumo__history_open(const kumo__history_config *cfg, kumo__history **out, kumo__error *err);
/* Starts the sampling thread (every interval: snapshot, record, prune). */
int kumo__history_start(kumo__history *h, kumo__error *err);
/* Stops the thread (it records one last point, without gauges: call after
 * the loops stopped so the point holds every invocation) and frees h.
 * NULL is fine. */
void kumo__history_close(kumo__history *h);

/* One sample: the deltas of `snap` since the previous one (the first is
 * counted from zero: the registry starts with the gateway) and the gauges
 * g[0..ng), written in one transaction. A counter that went down (another
 * registry) counts from zero again. 0 or a negative errno (-EIO: SQLite;
 * the message is in kumo__history_error). On the history's thread, or
 * in a test that did not start it. */
int kumo__history_record(kumo__history *h, const kumo__msnap *snap, const kumo__hgauge *g, size_t ng);
/* Deletes points older than keep_s before now_ms, then the oldest while
 * the file is over max_bytes, and gives the pages back to the file
 * system. Returns the points deleted, or a negative errno. */
long kumo__history_prune(kumo__history *h, uint64_t now_ms);
/* The bytes the database uses now (pages in use times the page size). */
uint64_t kumo__history_bytes(kumo__history *h);
const char *kumo__history_error(const kumo__history *h);

/* A query (GET /history). */
typedef struct kumo__history_query {
    uint64_t now_ms;       /* epoch; the window ends at now, rounded up to a step */
    int64_t since_s;       /* the window's length */
    int64_t step_s;        /* one chart point per step: the points inside are merged */
    const char *operation; /* NULL: all */
    const char *function;  /* NULL: all */
    /* echoed in the answer */
    double keep_s;
    size_t max_bytes;
    unsigned interval_ms;
} kumo__history_query;

/* The most points one series may have; a query asking for more is refused. */
#define KUMO__HISTORY_MAX_STEPS 2000

/* Reads `path` (its own connection, any thread) into the JSON of GET
 * /history (docs/dashboard.md): {"t": [bucket starts, epoch s], "step_s",
 * "series": [{function, operation, route, method, trigger, totals: {...},
 * requests, errors, timeouts, cold_starts, rejected, rate, error_rate,
 * p50_ms, p90_ms, p99_ms, mean_ms: [...]}], "total": {the same over every
 * series shown}, "functions": [{function, busy, idle, starting, queued,
 * in_flight: [...]}], ...}. NULL with err set when the file cannot be read;
 * a missing file gives empty series. */
json_t *kumo__history_query_json(const char *path, const kumo__history_query *q, kumo__error *err);

/* The varint pair blob of a bucket array (exposed for the unit test):
 * writes at most KUMO__HISTORY_BLOB_MAX bytes to out, returns the length. */
#define KUMO__HISTORY_BLOB_MAX (KUMO__MBUCKETS * 11)
size_t kumo__history_blob_encode(const uint64_t *buckets, unsigned char *out);
/* Adds the blob's counts into buckets; -EINVAL when it is malformed. */
int kumo__history_blob_add(const unsigned char *blob, size_t len, uint64_t *buckets);

#endif
