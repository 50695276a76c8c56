/*
 * dashboard.c: the admin port's dashboard (see dashboard.h). The history
 * (obs/history.c) samples the metrics registry on its own thread; this
 * file gives it the functions' gauges (it cannot see pools), serves its
 * series as GET /history, keeps each loop's recent invocations (filled
 * from kumo__gw_observe), serves them with their log lines as GET
 * /recent, and serves the page. SQLite reads (metrics.db, logs.db) run
 * on an admin job's thread (admin.c), so loop 0 never waits on a file.
 */
#include "gateway/dashboard.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/percent.h"
#include "gateway/gateway_internal.h"
#include "gateway/h2o_glue.h"
#include "obs/history.h"
#include "obs/recent.h"
#include "obs/trace.h"

/* ---- start and stop ------------------------------------------------------------- */

/* The history's gauges: every function of the live generation, summed over
 * every loop's pools (as /status does), read under gw->lock. */
static size_t gauges(void *ctx, kumo__hgauge *out, size_t cap)
{
    gateway *gw = ctx;
    size_t n = 0;
    uint64_t now = kumo__mono_ms();
    pthread_mutex_lock(&gw->lock);
    const kumo__project *p = gw->current->project;
    for (size_t u = 0; u < p->nunits && n < cap; u++) {
        const char *name = p->units[u].name;
        kumo__pool_stats st;
        memset(&st, 0, sizeof(st));
        for (int i = 0; i < gw->nthreads; i++) {
            loop_thread *t = &gw->threads[i];
            for (loop_gen *lg = t->live; lg; lg = lg == t->live ? t->retired : lg->next) {
                const kumo__project *lp = lg->gen->project;
                for (size_t k = 0; k < lp->nunits; k++)
                    if (strcmp(lp->units[k].name, name) == 0)
                        kumo__pool_stats_add(lg->pools[k], &st, now);
            }
        }
        kumo__hgauge *g = &out[n++];
        snprintf(g->function, sizeof(g->function), "%s", name);
        g->busy = st.busy;
        g->idle = st.workers - st.busy - st.starting;
        g->starting = st.starting;
        g->queued = st.queued;
        g->in_flight = st.inflight;
    }
    pthread_mutex_unlock(&gw->lock);
    return n;
}

/* The dashboard's state, for the gateway's life. */
enum { HISTORY_OFF, HISTORY_OPENING, HISTORY_OPEN };

struct kumo__gw_dashboard {
    /* Set once by the main thread, after the loops serve (opening SQLite's
     * file is a couple of ms that the first answer need not wait for);
     * loop 0 reads state (acquire) and then history. */
    kumo__history *history; /* NULL: history off, or it could not start */
    _Atomic int state;      /* HISTORY_*: OFF also when it could not start */
    kumo__recent **recent;  /* one per loop (an entry may be NULL: out of memory) */
    int nrecent;
    double keep_s;           /* observability.metrics.history */
    size_t history_max;      /* observability.metrics.history_max */
    unsigned interval_ms;    /* the sampling interval */
    size_t logs_max;         /* observability.logs.max_size (0: no log store) */
    int enabled;             /* observability.enabled: false records nothing, not even the recent ones */
    char history_path[4200]; /* DATA_DIR/metrics.db */
    char logs_path[4200];    /* DATA_DIR/logs.db */
};

int kumo__gw_dashboard_start(gateway *gw, const generation *g, kumo__error *err)
{
    const kumo__obs_config *obs = &g->project->obs;
    kumo__gw_dashboard *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->recent = calloc((size_t)gw->nthreads, sizeof(*d->recent))) == NULL) {
        free(d);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    gw->dash = d;
    d->nrecent = gw->nthreads;
    d->enabled = obs->enabled;
    for (int i = 0; i < gw->nthreads && d->enabled; i++)
        d->recent[i] = kumo__recent_create(); /* NULL: that loop keeps none */
    snprintf(d->history_path, sizeof(d->history_path), "%s/metrics.db", g->data_dir);
    snprintf(d->logs_path, sizeof(d->logs_path), "%s/logs.db", g->data_dir);
    d->keep_s = obs->history_s;
    d->history_max = obs->history_max;
    d->interval_ms = kumo__history_interval_ms();
    d->logs_max = obs->logs_max;
    int on = obs->history_s > 0 && obs->enabled;
    atomic_init(&d->state, on ? HISTORY_OPENING : HISTORY_OFF);
    /* its folder now, before any port serves, so that what most often
     * keeps the file from opening stops the start before it serves (the
     * file itself waits for kumo__gw_dashboard_history_open) */
    if (on && mkdir(g->data_dir, 0700) != 0 && errno != EEXIST) {
        kumo__error_set(err, -errno, "cannot make %s for the metrics history: %s", g->data_dir, strerror(errno));
        kumo__error_wrap(err, "observability.metrics.history");
        atomic_store(&d->state, HISTORY_OFF);
        return err->code;
    }
    return 0;
}

int kumo__gw_dashboard_history_open(gateway *gw, kumo__error *err)
{
    kumo__gw_dashboard *d = gw->dash;
    if (d == NULL || atomic_load(&d->state) != HISTORY_OPENING)
        return 0; /* observability.metrics.history: 0, or observability.enabled: false */
    kumo__history_config cfg = {
        .path = d->history_path,
        .keep_s = d->keep_s,
        .max_bytes = d->history_max,
        .interval_ms = d->interval_ms,
        .metrics = gw->metrics,
        .gauges = gauges,
        .gauges_ctx = gw,
    };
    kumo__history *h = NULL;
    int rc = kumo__history_open(&cfg, &h, err);
    if (rc == 0 && (rc = kumo__history_start(h, err)) != 0) {
        kumo__history_close(h);
        h = NULL;
    }
    d->history = h;
    atomic_store_explicit(&d->state, rc == 0 ? HISTORY_OPEN : HISTORY_OFF, memory_order_release);
    if (rc != 0)
        kumo__error_wrap(err, "observability.metrics.history");
    return rc;
}

void kumo__gw_dashboard_reloaded(gateway *gw, const kumo__project *p)
{
    const kumo__gw_dashboard *d = gw->dash;
    if (d && (p->obs.history_s != d->keep_s || p->obs.history_max != d->history_max || !p->obs.enabled != !d->enabled))
        kumo__log_event("warn",
                        "observability.enabled, metrics.history or metrics.history_max changed; until kumo up "
                        "restarts, the metrics history keeps %s (%.0f s, at most %zu bytes)",
                        d->history ? "running as it started" : "off", d->keep_s, d->history_max);
}

void kumo__gw_dashboard_stop(gateway *gw)
{
    kumo__gw_dashboard *d = gw->dash;
    if (d == NULL)
        return;
    kumo__history_close(d->history); /* one last point: the loops have stopped */
    for (int i = 0; i < d->nrecent; i++)
        kumo__recent_free(d->recent[i]);
    free(d->recent);
    free(d);
    gw->dash = NULL;
}

/* ---- the recent invocations ------------------------------------------------------ */

void kumo__gw_recent_observe(loop_thread *t, const kumo__gw_obs *o)
{
    kumo__gw_dashboard *d = t->gw->dash;
    kumo__recent *r = d && t->index < d->nrecent ? d->recent[t->index] : NULL;
    if (r == NULL)
        return;
    uint64_t took = o->end_us > o->start_us ? o->end_us - o->start_us : 0;
    int failed = o->status >= 500 || o->result != KUMO__CALL_OK;
    kumo__recent_entry e;
    /* fast path first: most invocations are neither failed nor slow */
    if (!failed && !kumo__recent_wants(r, took, o->end_us))
        return;
    memset(&e, 0, sizeof(e));
    e.epoch_us = o->start_epoch_us;
    e.duration_us = took;
    e.status = o->status;
    e.flags = (o->cold ? KUMO__INV_COLD : 0u) | (o->result == KUMO__CALL_TIMEOUT ? KUMO__INV_TIMEOUT : 0u) |
              (o->result == KUMO__CALL_CRASHED ? KUMO__INV_CRASH : 0u);
    snprintf(e.request_id, sizeof(e.request_id), "%s", o->request_id ? o->request_id : "");
    snprintf(e.function, sizeof(e.function), "%s", o->function ? o->function : "");
    snprintf(e.operation, sizeof(e.operation), "%s", o->operation ? o->operation : "");
    snprintf(e.trigger, sizeof(e.trigger), "%s", o->trigger ? o->trigger : "");
    if (o->span) { /* the trace id the log lines carry (kumo logs --trace), exported or not */
        static const char hex[] = "0123456789abcdef";
        int any = 0;
        for (int i = 0; i < 16; i++) {
            e.trace_id[2 * i] = hex[o->span->trace_id[i] >> 4];
            e.trace_id[2 * i + 1] = hex[o->span->trace_id[i] & 15];
            any |= o->span->trace_id[i];
        }
        if (!any)
            e.trace_id[0] = '\0'; /* all zero: no trace context */
        e.trace_exported = o->span->recording;
    }
    kumo__recent_add(r, &e, failed, o->end_us);
}

/* ---- GET /history ------------------------------------------------------------------ */

typedef struct history_job {
    kumo__history_query q;
    char path[4200];
    char operation[256], function[256];
} history_job;

static json_t *history_work(void *arg, const generation *g, int *status, char *detail, size_t len)
{
    (void)g;
    history_job *j = arg;
    kumo__error err = {0};
    json_t *doc = kumo__history_query_json(j->path, &j->q, &err);
    /* a day's query takes a few MiB on this thread's malloc arena: give
     * them back, or the gateway keeps them for its life */
    malloc_trim(0);
    if (doc == NULL) {
        *status = err.code == -ENOMEM ? 503 : err.code == -E2BIG ? 400 : 500;
        snprintf(detail, len, "%s", err.msg);
    }
    return doc;
}

/* ?NAME= of the query, percent-decoded into buf: 1, 0 when absent, -1 when
 * too long or malformed. */
static int query_value(h2o_req_t *req, const char *name, char *buf, size_t cap)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            size_t vl = (size_t)(stop - q) - nl - 1;
            if (vl >= cap)
                return -1;
            ssize_t n = kumo__percent_decode_into(q + nl + 1, vl, buf, KUMO__PCT_PLUS | KUMO__PCT_NO_NUL);
            if (n < 0)
                return -1;
            buf[n] = '\0';
            return 1;
        }
        q = stop + 1;
    }
    return 0;
}

/* ?NAME=SECONDS (a whole number, or with s, m, h or d): 1, 0 absent, -1 bad. */
static int query_seconds(h2o_req_t *req, const char *name, int64_t *out)
{
    char buf[32], *end;
    int rc = query_value(req, name, buf, sizeof(buf));
    if (rc <= 0)
        return rc;
    long long v = strtoll(buf, &end, 10);
    int64_t unit = 1;
    if (*end == 'm')
        unit = 60, end++;
    else if (*end == 'h')
        unit = 3600, end++;
    else if (*end == 'd')
        unit = 86400, end++;
    else if (*end == 's')
        end++;
    if (end == buf || *end != '\0' || v <= 0 || v > 366LL * 86400)
        return -1;
    *out = (int64_t)v * unit;
    return *out <= 366LL * 86400 ? 1 : -1;
}

static void history(gateway *gw, h2o_req_t *req)
{
    char why[512];
    kumo__gw_dashboard *d = gw->dash;
    int state = d ? atomic_load_explicit(&d->state, memory_order_acquire) : HISTORY_OFF;
    if (state == HISTORY_OPENING) { /* the few ms after the loops start */
        kumo__send_problem(req, 503, "Service Unavailable", "the metrics history is opening; try again", NULL, "1");
        return;
    }
    if (d == NULL || d->history == NULL) {
        kumo__send_problem(req, 404, "Not Found",
                           d == NULL || d->keep_s <= 0
                               ? "the metrics history is off (observability.metrics.history: 0 in kumo.yaml)"
                           : !d->enabled ? "observability is off (observability.enabled: false in kumo.yaml)"
                                         : "the metrics history could not start; kumo up's log says why",
                           NULL, NULL);
        return;
    }
    history_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", NULL, "1");
        return;
    }
    int64_t since = 3600, step = 0;
    int rs = query_seconds(req, "since", &since), rt = query_seconds(req, "step", &step);
    int ro = query_value(req, "operation", j->operation, sizeof(j->operation));
    int rf = query_value(req, "function", j->function, sizeof(j->function));
    int64_t interval_s = d->interval_ms >= 1000 ? d->interval_ms / 1000 : 1;
    if (rt == 0) { /* about 360 points, in whole samples */
        step = ((since / 360 + interval_s - 1) / interval_s) * interval_s;
        if (step < interval_s)
            step = interval_s;
    }
    if (step < 1)
        step = 1;
    const char *bad = rs < 0   ? "since= takes a duration: seconds (3600) or 90m, 6h, 1d; at most 366d"
                      : rt < 0 ? "step= takes a duration: seconds (60) or 5m, 1h; at most 366d"
                      : ro < 0 ? "operation= is malformed or longer than 255 bytes"
                      : rf < 0 ? "function= is malformed or longer than 255 bytes"
                               : NULL;
    if (bad == NULL && (since + step - 1) / step > KUMO__HISTORY_MAX_STEPS) {
        snprintf(why, sizeof(why), "since=%lld and step=%lld make %lld points; at most %d: take a larger step",
                 (long long)since, (long long)step, (long long)((since + step - 1) / step), KUMO__HISTORY_MAX_STEPS);
        bad = why;
    }
    if (bad) {
        kumo__send_problem(req, 400, "Bad Request", bad, NULL, NULL);
        free(j);
        return;
    }
    snprintf(j->path, sizeof(j->path), "%s", d->history_path);
    j->q = (kumo__history_query){
        .now_ms = kumo__epoch_ms(),
        .since_s = since,
        .step_s = step,
        .operation = ro > 0 ? j->operation : NULL,
        .function = rf > 0 ? j->function : NULL,
        .keep_s = d->keep_s,
        .max_bytes = d->history_max,
        .interval_ms = d->interval_ms,
    };
    kumo__gw_admin_job(gw, req, history_work, j, free);
}

/* ---- GET /recent ---------------------------------------------------------------------- */

#define RECENT_SHOWN 20
#define LOG_LINES_PER_REQUEST 50

typedef struct recent_job {
    kumo__recent_entry slow[RECENT_SHOWN], failed[RECENT_SHOWN];
    size_t nslow, nfailed;
    char logs_path[4200];
    size_t logs_max;
} recent_job;

static int newest_first(const void *a, const void *b)
{
    const kumo__recent_entry *x = a, *y = b;
    return x->epoch_us < y->epoch_us ? 1 : x->epoch_us > y->epoch_us ? -1 : 0;
}

static int slowest_first(const void *a, const void *b)
{
    const kumo__recent_entry *x = a, *y = b;
    return x->duration_us < y->duration_us ? 1 : x->duration_us > y->duration_us ? -1 : 0;
}

/* The log store's table of lines: the first table with a request_id
 * column (the log store's format belongs to src/obs/logstore.c; this reads
 * any table that files lines by request id). Its name in buf, or "". */
static void log_table(sqlite3 *db, char *buf, size_t cap)
{
    buf[0] = '\0';
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' "
                           "AND c.name = 'request_id' ORDER BY m.name LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* One stored line as an object: the JSON log line itself when a column
 * holds it (line, json, raw or text: the log store keeps the line as
 * written), else the row's columns. */
static json_t *log_row(sqlite3_stmt *st)
{
    int n = sqlite3_column_count(st);
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        const char *s = (const char *)sqlite3_column_text(st, i);
        if (sqlite3_column_type(st, i) != SQLITE_TEXT || s == NULL || s[0] != '{' ||
            (strcmp(name, "line") != 0 && strcmp(name, "json") != 0 && strcmp(name, "raw") != 0 &&
             strcmp(name, "text") != 0))
            continue;
        json_t *parsed = json_loadb(s, (size_t)sqlite3_column_bytes(st, i), 0, NULL);
        if (json_is_object(parsed))
            return parsed;
        json_decref(parsed);
    }
    json_t *o = json_object();
    for (int i = 0; o && i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: json_object_set_new(o, name, json_integer(sqlite3_column_int64(st, i))); break;
        case SQLITE_FLOAT: json_object_set_new(o, name, json_real(sqlite3_column_double(st, i))); break;
        case SQLITE_TEXT:
            json_object_set_new(
                o, name, json_stringn((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i)));
            break;
        default: break; /* NULL and blobs: nothing to show */
        }
    }
    return o;
}

static json_t *entry_json(const kumo__recent_entry *e)
{
    char when[40];
    time_t secs = (time_t)(e->epoch_us / 1000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%06uZ", (unsigned)(e->epoch_us % 1000000u));
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:I, s:s, s:s, s:b, s:b, s:b, s:b}", "request_id", e->request_id,
                     "function", e->function, "operation", e->operation, "trigger", e->trigger, "status", e->status,
                     "duration_ms", round((double)e->duration_us) / 1000.0, "epoch_ms",
                     (json_int_t)(e->epoch_us / 1000u), "time", when, "trace_id", e->trace_id, "cold",
                     (e->flags & KUMO__INV_COLD) != 0, "timeout", (e->flags & KUMO__INV_TIMEOUT) != 0, "crash",
                     (e->flags & KUMO__INV_CRASH) != 0, "trace_exported", e->trace_exported != 0);
}

static json_t *recent_work(void *arg, const generation *g, int *status, char *detail, size_t len)
{
    (void)g;
    (void)status;
    (void)detail;
    (void)len;
    recent_job *j = arg;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char table[128] = "", why[4400] = "";
    if (j->logs_max == 0) {
        snprintf(why, sizeof(why), "the log store is off (observability.logs.max_size: 0 in kumo.yaml)");
    } else if (access(j->logs_path, F_OK) != 0) {
        snprintf(why, sizeof(why), "no log store at %s yet", j->logs_path);
    } else if (sqlite3_open_v2(j->logs_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(why, sizeof(why), "cannot read the log store %s: %s", j->logs_path,
                 db ? sqlite3_errmsg(db) : "out of memory");
    } else {
        sqlite3_busy_timeout(db, 1000);
        log_table(db, table, sizeof(table));
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" WHERE request_id = ? ORDER BY rowid LIMIT %d", table,
                 LOG_LINES_PER_REQUEST);
        if (table[0] == '\0' || strchr(table, '"'))
            snprintf(why, sizeof(why), "the log store %s has no table of lines by request_id", j->logs_path);
        else if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
            snprintf(why, sizeof(why), "cannot read the log store %s: %s", j->logs_path, sqlite3_errmsg(db));
    }
    json_t *lists[2] = {json_array(), json_array()};
    const kumo__recent_entry *src[2] = {j->slow, j->failed};
    size_t counts[2] = {j->nslow, j->nfailed};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] && i < counts[l]; i++) {
            json_t *e = entry_json(&src[l][i]);
            json_t *lines = json_array();
            if (st && src[l][i].request_id[0]) {
                sqlite3_bind_text(st, 1, src[l][i].request_id, -1, SQLITE_STATIC);
                while (lines && sqlite3_step(st) == SQLITE_ROW)
                    json_array_append_new(lines, log_row(st));
                sqlite3_reset(st);
            }
            json_object_set_new(e, "logs", lines);
            json_array_append_new(lists[l], e);
        }
    }
    int have_store = st != NULL;
    sqlite3_finalize(st);
    if (db)
        sqlite3_close(db);
    json_t *logs = have_store ? json_pack("{s:b, s:s}", "available", 1, "path", j->logs_path)
                              : json_pack("{s:b, s:s, s:s}", "available", 0, "path", j->logs_path, "why", why);
    return json_pack("{s:o, s:o, s:o, s:i, s:i}", "slowest", lists[0], "failed", lists[1], "logs", logs, "window_s",
                     (int)(2 * KUMO__RECENT_WINDOW_US / 1000000u), "shown", RECENT_SHOWN);
}

static void recent(gateway *gw, h2o_req_t *req)
{
    kumo__gw_dashboard *d = gw->dash;
    if (d == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "the dashboard is not running", NULL, "1");
        return;
    }
    recent_job *j = calloc(1, sizeof(*j));
    kumo__recent_entry *all = calloc((size_t)d->nrecent * (KUMO__RECENT_FAILED + 2 * KUMO__RECENT_SLOW), sizeof(*all));
    if (j == NULL || all == NULL) {
        free(j);
        free(all);
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", NULL, "1");
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0, cap = pass ? KUMO__RECENT_FAILED : 2 * KUMO__RECENT_SLOW;
        for (int i = 0; i < d->nrecent; i++)
            n += kumo__recent_copy(d->recent[i], pass, all + n, cap);
        qsort(all, n, sizeof(*all), pass ? newest_first : slowest_first);
        if (n > RECENT_SHOWN)
            n = RECENT_SHOWN;
        memcpy(pass ? j->failed : j->slow, all, n * sizeof(*all));
        *(pass ? &j->nfailed : &j->nslow) = n;
    }
    free(all);
    snprintf(j->logs_path, sizeof(j->logs_path), "%s", d->logs_path);
    j->logs_max = d->logs_max;
    kumo__gw_admin_job(gw, req, recent_work, j, free);
}

/* ---- routing -------------------------------------------------------------------------- */

int kumo__gw_dashboard_page(gateway *gw, h2o_req_t *req)
{
    (void)gw;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/dashboard")) &&
        !h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/dashboard/")))
        return 0;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        kumo__h2o_add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("GET, HEAD"));
        kumo__send_problem(req, 405, "Method Not Allowed", "the dashboard is read-only: use GET", NULL, NULL);
        return 1;
    }
    /* the page holds no data (it asks for it, with the token when there is
     * one), so it is served without the token; it runs only its own inline
     * script, talks only to this origin, and no other site may frame it */
    static const char csp[] = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                              "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                              "frame-ancestors 'none'";
    req->res.status = 200;
    req->res.reason = "OK";
    kumo__h2o_add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("text/html; charset=utf-8"));
    kumo__h2o_add_header(req, H2O_STRLIT("cache-control"), H2O_STRLIT("no-cache"));
    kumo__h2o_add_header(req, H2O_STRLIT("content-security-policy"), csp, sizeof(csp) - 1);
    kumo__h2o_add_header(req, H2O_STRLIT("x-frame-options"), H2O_STRLIT("DENY"));
    kumo__h2o_add_header(req, H2O_STRLIT("referrer-policy"), H2O_STRLIT("no-referrer"));
    kumo__h2o_add_header(req, H2O_STRLIT("x-content-type-options"), H2O_STRLIT("nosniff"));
    kumo__send_body(req, kumo__dashboard_html, kumo__dashboard_html_len);
    return 1;
}

int kumo__gw_dashboard_route(gateway *gw, h2o_req_t *req)
{
    int is_history = h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/history"));
    int is_recent = h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/recent"));
    if (!is_history && !is_recent)
        return 0;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        kumo__h2o_add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("GET"));
        kumo__send_problem(req, 405, "Method Not Allowed", "read it with GET", NULL, NULL);
        return 1;
    }
    if (is_history)
        history(gw, req);
    else
        recent(gw, req);
    return 1;
}
