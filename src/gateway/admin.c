/*
 * admin.c: the admin listener (loopback only): /healthz, /readyz, /status
 * (figures summed over every loop's pools, read under gw->lock), /metrics
 * (Prometheus: obs/metrics.c's counters, the pools' gauges, the events'
 * counters; docs/metrics.md), /alerts (the monitors and their alerts,
 * obs/monitor.c; docs/monitors.md) and POST
 * /reload, which the main thread runs (a compiler may run, so never on a
 * loop) while the request waits on loop 0 for the outcome; reloads are
 * coalesced and paced (ask_reload); POST /events/NAME/fire, which fires a
 * schedule event now (scheduler.c, loop 0 too) and waits for its
 * handler's answer; GET /events (kumo events' live figures: each event's
 * queue depth, dead letters and delivery counters, kept per event name
 * for the gateway's life) and POST /events/NAME/send and /redrive (kumo
 * invoke of a queue event, kumo events redrive), whose store calls run on
 * a thread of their own (admin jobs) so that loop 0 never blocks; the
 * dashboard's endpoints (dashboard.c) run their reads as admin jobs too.
 * With an admin token, all but /healthz, /readyz and the dashboard's page
 * need it.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/growbuf.h"
#include "gateway/h2o_glue.h"
#include "project/schedule.h"
#include "sdk/sdk.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* The upper bound, in milliseconds, of the histogram bucket holding the
 * q-quantile of `h` (bucket k: [2^(k/4), 2^((k+1)/4)) microseconds). */
static double quantile_ms(const unsigned long long *h, unsigned long long total, double q)
{
    if (total == 0)
        return 0;
    unsigned long long rank = (unsigned long long)(q * (double)total), seen = 0;
    for (int k = 0; k < KUMO__HIST_BUCKETS; k++) {
        seen += h[k];
        if (seen > rank)
            return exp2((k + 1) / 4.0) / 1000.0;
    }
    return exp2(KUMO__HIST_BUCKETS / 4.0) / 1000.0;
}

/* Adds the figures of every pool, on every loop and in every generation
 * still alive, of the unit named `name`: a unit keeps its name across a
 * reload, so its figures span the old pools still draining and the new
 * ones. Call with gw->lock held (the loops' lists change under it). */
static void unit_stats(gateway *gw, const char *name, kumo__pool_stats *st, uint64_t now)
{
    for (int i = 0; i < gw->nthreads; i++) {
        loop_thread *t = &gw->threads[i];
        for (loop_gen *lg = t->live; lg; lg = lg == t->live ? t->retired : lg->next) {
            const kumo__project *p = lg->gen->project;
            for (size_t u = 0; u < p->nunits; u++)
                if (strcmp(p->units[u].name, name) == 0)
                    kumo__pool_stats_add(lg->pools[u], st, now);
        }
    }
}

uint64_t kumo__gw_oldest_running_us(gateway *gw, const char *function, uint64_t *usual_us)
{
    uint64_t oldest = 0;
    *usual_us = 0;
    pthread_mutex_lock(&gw->lock);
    for (int i = 0; gw->threads && i < gw->nthreads; i++) {
        loop_thread *t = &gw->threads[i];
        for (loop_gen *lg = t->live; lg; lg = lg == t->live ? t->retired : lg->next) {
            const kumo__project *p = lg->gen->project;
            for (size_t u = 0; u < p->nunits; u++) {
                if (strcmp(p->units[u].name, function) != 0)
                    continue;
                uint64_t usual = 0, age = kumo__pool_oldest_us(lg->pools[u], &usual);
                if (age > oldest)
                    oldest = age;
                if (usual > *usual_us) /* the slowest loop's: a warning must not come from a fast loop's habit */
                    *usual_us = usual;
            }
        }
    }
    pthread_mutex_unlock(&gw->lock);
    return oldest;
}

/* GET /status: per function of the live generation, figures summed over
 * every loop's pools; and the generation and the last reload's outcome. */
static char *status_json(gateway *gw)
{
    json_t *fns = json_array();
    uint64_t now = kumo__mono_ms();
    /* the totals come from the metrics registry, which a reload keeps
     * (the pools' own counts start over with each generation) */
    kumo__msnap snap;
    if (kumo__metrics_snapshot(gw->metrics, &snap) != 0)
        memset(&snap, 0, sizeof(snap));
    pthread_mutex_lock(&gw->lock);
    const generation *g = gw->current;
    for (size_t u = 0; u < g->project->nunits; u++) {
        const kumo__unit *unit = &g->project->units[u];
        kumo__pool_stats st;
        memset(&st, 0, sizeof(st));
        unit_stats(gw, unit->name, &st, now);
        if (gw->current->project->obs.enabled) {
            st.invocations = st.errors = st.cold_starts = st.timeouts = st.crashes = st.rejected = 0;
            for (size_t i = 0; i < snap.n; i++) {
                const kumo__mrow *r = &snap.rows[i];
                if (strcmp(r->labels->function, unit->name) != 0)
                    continue;
                st.rejected += r->rejected;
                if (r->answered)
                    continue;
                st.invocations += r->count;
                st.errors += r->errors;
                st.cold_starts += r->cold;
                st.timeouts += r->timeouts;
                st.crashes += r->crashes;
            }
        }
        unsigned long long recent = 0;
        for (int k = 0; k < KUMO__HIST_BUCKETS; k++)
            recent += st.hist[k];
        json_t *f = json_pack(
            "{s:s, s:{s:i, s:i, s:i, s:i}, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, "
            "s:{s:I, s:f, s:f}, s:{s:i, s:i, s:i, s:f, s:f}}",
            "name", unit->name, "replicas", "total", st.workers, "busy", st.busy, "idle",
            st.workers - st.busy - st.starting, "starting", st.starting, "queued", st.queued, "in_flight", st.inflight,
            "invocations", (json_int_t)st.invocations, "errors", (json_int_t)st.errors, "cold_starts",
            (json_int_t)st.cold_starts, "timeouts", (json_int_t)st.timeouts, "crashes", (json_int_t)st.crashes,
            "rejected", (json_int_t)st.rejected, "last_minute", "invocations", (json_int_t)recent, "p50_ms",
            quantile_ms(st.hist, recent, 0.50), "p99_ms", quantile_ms(st.hist, recent, 0.99), "limits", "min",
            unit->tuning.min, "max", unit->tuning.max, "concurrency", unit->tuning.concurrency, "idle_s",
            unit->tuning.idle_s, "timeout_s", unit->tuning.timeout_s);
        json_array_append_new(fns, f);
    }
    const char *last = gw->reloads == 0       ? "none"
                       : gw->reload_failed    ? "failed"
                       : gw->reload_unchanged ? "unchanged"
                                              : "ok";
    json_t *doc =
        json_pack("{s:s, s:i, s:I, s:{s:I, s:s, s:s?, s:i}, s:o}", "project", g->project->name, "loops", gw->nthreads,
                  "generation", (json_int_t)g->number, "reload", "count", (json_int_t)gw->reloads, "last", last,
                  "error", gw->reloads && gw->reload_failed ? gw->reload_msg : NULL, "draining",
                  atomic_load(&gw->generations) - 1, "functions", fns);
    pthread_mutex_unlock(&gw->lock);
    kumo__msnap_free(&snap);
    char *out = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    return out;
}

static void on_reload_wait_dispose(void *p)
{
    reload_wait **slot = p;
    if (*slot)
        (*slot)->req = NULL;
}

/* POST /reload: the main thread builds the new generation (a compiler may
 * run, so never on a loop); the request waits in loop 0's list and is
 * answered on a tick after the main thread records the outcome.
 *
 * Reloads are coalesced and paced, so that a burst of requests cannot keep
 * the main thread building and the loops switching pools: a request that
 * comes while a reload runs waits for the next one (it may have changed
 * files the running one already read), and every request that comes
 * meanwhile joins that same next one, which starts when the running one is
 * over and the interval since the last start has passed. With none running
 * or waiting, a request within the interval of the last start is answered
 * 429 with Retry-After. All of this happens on loop 0, the admin loop. */
static void ask_reload(gateway *gw, h2o_req_t *req)
{
    loop_thread *t = &gw->threads[0]; /* the admin listener's loop */
    if (atomic_load(&gw->draining)) {
        kumo__send_problem(req, 503, "Service Unavailable", "kumo is shutting down; no reload", "reload", NULL);
        return;
    }
    reload_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", "reload", "1");
        return;
    }
    uint64_t now = kumo__mono_ms(), interval = (uint64_t)gw->cfg.reload_interval_ms;
    int signal_now = 0;
    uint64_t wait_ms = 0;
    pthread_mutex_lock(&gw->lock);
    if (gw->reload_queued > gw->reload_done) {
        w->ticket = gw->reload_queued; /* join the one waiting */
    } else if (gw->reload_sent > gw->reload_done) {
        w->ticket = gw->reload_queued = ++gw->reload_asked; /* one runs: queue the next, once */
    } else if (interval > 0 && gw->reload_sent_ms != 0 && now - gw->reload_sent_ms < interval) {
        wait_ms = interval - (now - gw->reload_sent_ms);
    } else {
        w->ticket = gw->reload_sent = ++gw->reload_asked;
        gw->reload_sent_ms = now;
        signal_now = 1;
    }
    pthread_mutex_unlock(&gw->lock);
    if (wait_ms > 0) {
        free(w);
        char detail[200], *retry = h2o_mem_alloc_pool(&req->pool, 24);
        snprintf(retry, 24, "%llu", (unsigned long long)((wait_ms + 999) / 1000));
        snprintf(detail, sizeof(detail),
                 "a reload started %.1f s ago and kumo up starts at most one every %.1f s (--reload-interval); "
                 "retry after %s s",
                 (double)(interval - wait_ms) / 1000.0, (double)interval / 1000.0, retry);
        kumo__send_problem(req, 429, "Too Many Requests", detail, "reload", retry);
        return;
    }
    w->req = req;
    w->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*w->slot), on_reload_wait_dispose);
    *w->slot = w;
    w->next = t->reload_waits;
    t->reload_waits = w;
    if (signal_now)
        pthread_kill(gw->main_tid, SIGHUP);
}

/* On loop 0's tick: starts the queued reload once the running one is over
 * and the interval has passed. */
static void start_queued_reload(gateway *gw)
{
    uint64_t now = kumo__mono_ms(), interval = (uint64_t)gw->cfg.reload_interval_ms;
    int signal_now = 0;
    pthread_mutex_lock(&gw->lock);
    if (gw->reload_queued > gw->reload_done && gw->reload_sent <= gw->reload_done &&
        (interval == 0 || now - gw->reload_sent_ms >= interval)) {
        gw->reload_sent = gw->reload_queued;
        gw->reload_sent_ms = now;
        signal_now = 1;
    }
    pthread_mutex_unlock(&gw->lock);
    if (signal_now)
        pthread_kill(gw->main_tid, SIGHUP);
}

int kumo__gw_reload_queued(gateway *gw)
{
    pthread_mutex_lock(&gw->lock);
    int queued = gw->reload_queued > gw->reload_done;
    pthread_mutex_unlock(&gw->lock);
    return queued;
}

/* 503 for those that did not run when `closing`. */
void kumo__gw_answer_reload_waits(loop_thread *t, int closing)
{
    gateway *gw = t->gw;
    if (t->index == 0 && !closing && !atomic_load(&gw->draining))
        start_queued_reload(gw);
    if (t->reload_waits == NULL)
        return;
    char msg[sizeof(gw->reload_msg)];
    pthread_mutex_lock(&gw->lock);
    unsigned long done = gw->reload_done, number = gw->current->number;
    int failed = gw->reload_failed, unchanged = gw->reload_unchanged;
    memcpy(msg, gw->reload_msg, sizeof(msg));
    pthread_mutex_unlock(&gw->lock);
    reload_wait **pp = &t->reload_waits;
    while (*pp) {
        reload_wait *w = *pp;
        if (w->req != NULL && !closing && w->ticket > done) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        h2o_req_t *req = w->req;
        if (req != NULL) {
            *w->slot = NULL;
            char rid[32];
            snprintf(rid, sizeof(rid), "reload-%lu", w->ticket);
            const char *id = h2o_strdup(&req->pool, rid, SIZE_MAX).base;
            if (w->ticket > done) {
                kumo__send_problem(req, 503, "Service Unavailable", "kumo is shutting down; the reload did not run", id,
                                   NULL);
            } else if (failed) {
                kumo__send_problem(req, 422, "Reload failed", msg, id, NULL);
            } else {
                json_t *doc = json_pack("{s:s, s:I, s:s}", "status", unchanged ? "unchanged" : "reloaded", "generation",
                                        (json_int_t)number, "detail", msg);
                char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                json_decref(doc);
                if (body == NULL) {
                    kumo__send_problem(req, 500, "Internal Server Error", "out of memory", id, NULL);
                } else {
                    req->res.status = 200;
                    req->res.reason = "OK";
                    kumo__h2o_add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("application/json"));
                    kumo__h2o_add_header(req, H2O_STRLIT("x-request-id"), id, strlen(id));
                    kumo__send_body(req, body, strlen(body));
                    free(body);
                }
            }
        }
        free(w);
    }
}

/* POST /events/NAME/fire waits here for its tick's outcome; `slot` lives
 * in the request's pool and is cleared when the request goes first (the
 * client hung up), so the outcome then only frees this. */
typedef struct fire_wait {
    h2o_req_t *req;
    struct fire_wait **slot;
} fire_wait;

static void on_fire_wait_dispose(void *p)
{
    fire_wait **slot = p;
    if (*slot)
        (*slot)->req = NULL;
}

static void on_fired(void *ctx, int status, const char *request_id, const char *error, size_t error_len,
                     uint64_t duration_us)
{
    fire_wait *w = ctx;
    h2o_req_t *req = w->req;
    if (req != NULL) {
        *w->slot = NULL;
        json_t *doc = json_pack("{s:i, s:s, s:I}", "status", status, "request_id", request_id, "duration_us",
                                (json_int_t)duration_us);
        if (doc && error) { /* at most 4 KiB, cut on a character; not UTF-8: in kumo's log line only */
            size_t cut = error_len > 4096 ? 4096 : error_len;
            while (cut < error_len && cut > 0 && ((unsigned char)error[cut] & 0xC0) == 0x80)
                cut--;
            json_object_set_new(doc, "error", json_stringn(error, cut));
        }
        char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (body == NULL) {
            kumo__send_problem(req, 500, "Internal Server Error", "out of memory", NULL, NULL);
        } else {
            const char *id = h2o_strdup(&req->pool, request_id, SIZE_MAX).base;
            req->res.status = 200;
            req->res.reason = "OK";
            kumo__h2o_add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("application/json"));
            kumo__h2o_add_header(req, H2O_STRLIT("x-request-id"), id, strlen(id));
            kumo__send_body(req, body, strlen(body));
            free(body);
        }
    }
    free(w);
}

/* POST /events/NAME/fire: fires a schedule event now, on loop 0 (the
 * admin loop, which owns the schedules), and answers when its handler
 * did: 200 with {"status", "request_id", "duration_us", "error"?}. 404
 * names the known events, 409 when a run is still going (overlap: false),
 * 503 while kumo shuts down. */
static void fire_event(gateway *gw, h2o_req_t *req, const char *name, size_t name_len)
{
    char why[1024];
    if (atomic_load(&gw->draining)) {
        kumo__send_problem(req, 503, "Service Unavailable", "kumo is shutting down; no event is fired", NULL, NULL);
        return;
    }
    fire_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", NULL, "1");
        return;
    }
    w->req = req;
    w->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*w->slot), on_fire_wait_dispose);
    *w->slot = w;
    int rc = kumo__gw_sched_fire(&gw->threads[0], name, name_len, on_fired, w, why, sizeof(why));
    if (rc == 0)
        return; /* on_fired answers (and frees w) */
    *w->slot = NULL;
    free(w);
    if (rc == -EBUSY)
        kumo__send_problem(req, 409, "Conflict", why, NULL, NULL);
    else
        kumo__send_problem(req, 404, "Not Found", why, NULL, NULL);
}

/* ---- per-event figures ------------------------------------------------------ */

/* A `kumo invoke` of a queue event waiting for its message's first answer. */
typedef struct stats_waiter {
    char *id; /* the message's id once sent; NULL before */
    int done;
    int status;
    int dead; /* it failed on its last receive: on to the dead-letter queue */
    char request_id[48];
    char error[512];
    struct stats_waiter *next;
} stats_waiter;

struct kumo__gw_event_stats {
    char *name;
    atomic_ullong received, deliveries, succeeded, failures, retries, dead_lettered;
    atomic_llong in_flight; /* received, not settled yet */
    atomic_int nwaiters;
    pthread_mutex_t lock; /* guards waiters */
    pthread_cond_t cond;  /* CLOCK_MONOTONIC */
    stats_waiter *waiters;
    kumo__gw_event_stats *next;
};

kumo__gw_event_stats *kumo__gw_event_stats_of(gateway *gw, const char *name)
{
    kumo__gw_event_stats *s;
    pthread_mutex_lock(&gw->lock);
    for (s = gw->event_stats; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            goto out;
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->name = strdup(name)) == NULL) {
        free(s);
        s = NULL;
        goto out;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->next = gw->event_stats;
    gw->event_stats = s;
out:
    pthread_mutex_unlock(&gw->lock);
    return s;
}

void kumo__gw_event_received(kumo__gw_event_stats *s, size_t n)
{
    if (s == NULL || n == 0)
        return;
    atomic_fetch_add(&s->received, n);
    atomic_fetch_add(&s->in_flight, (long long)n);
}

void kumo__gw_event_settled(kumo__gw_event_stats *s, const char *message_id, int attempted, int status, int last,
                            const char *request_id, const char *error)
{
    if (s == NULL)
        return;
    atomic_fetch_sub(&s->in_flight, 1);
    if (!attempted)
        return; /* put back untried (kumo is stopping): not a delivery */
    int ok = status >= 200 && status < 300;
    atomic_fetch_add(&s->deliveries, 1);
    atomic_fetch_add(ok ? &s->succeeded : &s->failures, 1);
    if (!ok)
        atomic_fetch_add(last ? &s->dead_lettered : &s->retries, 1);
    if (atomic_load(&s->nwaiters) == 0 || message_id == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    for (stats_waiter *w = s->waiters; w; w = w->next) {
        if (w->done || w->id == NULL || strcmp(w->id, message_id) != 0)
            continue;
        w->done = 1;
        w->status = status;
        snprintf(w->request_id, sizeof(w->request_id), "%s", request_id ? request_id : "");
        snprintf(w->error, sizeof(w->error), "%s", error && !ok ? error : "");
        w->dead = !ok && last;
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void kumo__gw_event_stats_free(gateway *gw)
{
    while (gw->event_stats) {
        kumo__gw_event_stats *s = gw->event_stats;
        gw->event_stats = s->next;
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s->name);
        free(s);
    }
}

/* Appends printf output to a growbuf (the lines /metrics adds). */
static void addf(kumo__growbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(kumo__growbuf *b, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        kumo__growbuf_add(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

char *kumo__gw_metrics_text(gateway *gw)
{
    kumo__growbuf b = {.max = 16u << 20};
    uint64_t now = kumo__mono_ms();
    /* the pools' gauges, per function of the live generation (every loop,
     * every generation still draining: unit_stats) */
    static const char *const gauges[][2] = {
        {"kumo_replicas", "Worker processes of a function, by state (busy: running a call; idle; starting)."},
        {"kumo_queued", "Calls waiting in a function's pools for a worker."},
        {"kumo_in_flight", "Calls of a function sent to its workers and not answered yet."},
    };
    pthread_mutex_lock(&gw->lock);
    const generation *g = gw->current;
    size_t n = g->project->nunits;
    kumo__pool_stats *st = calloc(n ? n : 1, sizeof(*st));
    if (st)
        for (size_t u = 0; u < n; u++)
            unit_stats(gw, g->project->units[u].name, &st[u], now);
    for (size_t k = 0; st && k < sizeof(gauges) / sizeof(gauges[0]); k++) {
        addf(&b, "# HELP %s %s\n# TYPE %s gauge\n", gauges[k][0], gauges[k][1], gauges[k][0]);
        for (size_t u = 0; u < n; u++) {
            const char *f = g->project->units[u].name;
            if (k == 0) {
                addf(&b, "kumo_replicas{faas_name=\"%s\",state=\"busy\"} %d\n", f, st[u].busy);
                addf(&b, "kumo_replicas{faas_name=\"%s\",state=\"idle\"} %d\n", f,
                     st[u].workers - st[u].busy - st[u].starting);
                addf(&b, "kumo_replicas{faas_name=\"%s\",state=\"starting\"} %d\n", f, st[u].starting);
            } else {
                addf(&b, "%s{faas_name=\"%s\"} %d\n", gauges[k][0], f, k == 1 ? st[u].queued : st[u].inflight);
            }
        }
    }
    free(st);
    /* the events' counters, per event name for the gateway's life */
    static const struct {
        const char *name, *help;
    } events[] = {
        {"kumo_event_deliveries_total", "Queue, topic and blob event messages handed to a handler (each try)."},
        {"kumo_event_retries_total", "Event messages whose try failed and that go back to their queue for another."},
        {"kumo_event_dead_letters_total", "Event messages moved to their dead-letter queue after max_receives tries."},
    };
    for (size_t k = 0; k < sizeof(events) / sizeof(events[0]); k++) {
        addf(&b, "# HELP %s %s\n# TYPE %s counter\n", events[k].name, events[k].help, events[k].name);
        for (kumo__gw_event_stats *e = gw->event_stats; e; e = e->next) {
            long long v = k == 0   ? atomic_load(&e->deliveries)
                          : k == 1 ? atomic_load(&e->retries)
                                   : atomic_load(&e->dead_lettered);
            addf(&b, "%s{event=\"%s\"} %lld\n", events[k].name, e->name, v);
        }
    }
    addf(&b,
         "# HELP kumo_reloads_total Reloads asked for (SIGHUP, POST /reload), whatever their outcome.\n"
         "# TYPE kumo_reloads_total counter\nkumo_reloads_total %lu\n"
         "# HELP kumo_reload_failed 1 when the last reload failed (the previous generation keeps serving).\n"
         "# TYPE kumo_reload_failed gauge\nkumo_reload_failed %d\n"
         "# HELP kumo_generation The live generation's number (1 at start, +1 per successful reload).\n"
         "# TYPE kumo_generation gauge\nkumo_generation %lu\n",
         gw->reloads, gw->reloads && gw->reload_failed, g->number);
    pthread_mutex_unlock(&gw->lock);
    char *out = b.over ? NULL : kumo__metrics_prometheus(gw->metrics, b.data ? b.data : "");
    free(b.data);
    return out;
}

static json_t *stats_json(kumo__gw_event_stats *s)
{
    if (s == NULL)
        return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "received", 0, "deliveries", 0, "succeeded", 0,
                         "failures", 0, "retries", 0, "dead_lettered", 0, "in_flight", 0);
    long long inflight = atomic_load(&s->in_flight);
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "received", (json_int_t)atomic_load(&s->received), "deliveries",
        (json_int_t)atomic_load(&s->deliveries), "succeeded", (json_int_t)atomic_load(&s->succeeded), "failures",
        (json_int_t)atomic_load(&s->failures), "retries", (json_int_t)atomic_load(&s->retries), "dead_lettered",
        (json_int_t)atomic_load(&s->dead_lettered), "in_flight", (json_int_t)(inflight < 0 ? 0 : inflight));
}

/* The record of `name` if one was made (a consumer ran), without making one. */
static kumo__gw_event_stats *stats_find(gateway *gw, const char *name)
{
    pthread_mutex_lock(&gw->lock);
    kumo__gw_event_stats *s = gw->event_stats;
    while (s && strcmp(s->name, name) != 0)
        s = s->next;
    pthread_mutex_unlock(&gw->lock);
    return s;
}

/* ---- admin jobs: store calls off the loop ----------------------------------- */

/* A store call may block (SQLite's write lock, a server's round trip), so
 * the admin endpoints that make one (GET /events with the queues' depths,
 * POST /events/NAME/send, POST /events/NAME/redrive) run it on a thread of
 * their own; the thread writes a byte to a pipe loop 0 watches, and loop 0
 * answers the request. A job holds a reference on the generation it reads. */
typedef struct admin_job admin_job;
struct admin_job {
    h2o_req_t *req; /* NULL once the client went away */
    admin_job **slot;
    gateway *gw;
    generation *gen;
    const kumo__event_decl *decl; /* in gen; NULL for GET /events */
    void (*work)(admin_job *j);
    int fds[2];
    h2o_socket_t *sock;
    pthread_t tid;
    char *body; /* POST /events/NAME/send: the message */
    size_t len;
    long max;            /* redrive: at most this many */
    kumo__gw_job_fn *fn; /* kumo__gw_admin_job's */
    void *arg;
    void (*free_arg)(void *);
    int status; /* the answer: 200 with `answer`, or a problem with `detail` */
    json_t *answer;
    char detail[1024];
};

static void on_job_dispose(void *p)
{
    admin_job **slot = p;
    if (*slot)
        (*slot)->req = NULL;
}

static const char *status_title(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
    }
}

static void send_json_as(h2o_req_t *req, int status, json_t *doc, size_t flags)
{
    char *body = doc ? json_dumps(doc, flags) : NULL;
    if (body == NULL) {
        kumo__send_problem(req, 500, "Internal Server Error", "out of memory", NULL, NULL);
        return;
    }
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : status == 202 ? "Accepted" : "OK";
    kumo__h2o_add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("application/json"));
    kumo__send_body(req, body, strlen(body));
    free(body);
}

static void send_json(h2o_req_t *req, int status, json_t *doc)
{
    send_json_as(req, status, doc, JSON_INDENT(2));
}

static void job_free(admin_job *j)
{
    if (j->free_arg)
        j->free_arg(j->arg);
    json_decref(j->answer);
    kumo__gw_generation_release(j->gen);
    free(j->body);
    free(j);
}

static void on_job_done(h2o_socket_t *sock, const char *err)
{
    (void)err;
    admin_job *j = sock->data;
    h2o_socket_read_stop(sock);
    h2o_socket_close(sock); /* closes fds[0] */
    close(j->fds[1]);
    pthread_join(j->tid, NULL);
    if (j->req) {
        *j->slot = NULL;
        if (j->answer) /* the dashboard's series are long: compact */
            send_json_as(j->req, j->status ? j->status : 200, j->answer, j->fn ? JSON_COMPACT : JSON_INDENT(2));
        else
            kumo__send_problem(j->req, j->status, status_title(j->status), j->detail, NULL, NULL);
    }
    job_free(j);
}

static void *job_main(void *arg)
{
    admin_job *j = arg;
    j->work(j);
    char b = 1;
    ssize_t n = write(j->fds[1], &b, 1);
    (void)n;
    return NULL;
}

/* Starts `work` for `req` on a thread (the answer comes from on_job_done),
 * or answers 503 itself. Takes j either way. */
static void job_start(gateway *gw, h2o_req_t *req, admin_job *j)
{
    j->gw = gw;
    j->fds[0] = j->fds[1] = -1;
    if (pipe2(j->fds, O_NONBLOCK | O_CLOEXEC) != 0 ||
        (j->sock = h2o_evloop_socket_create(gw->threads[0].loop, j->fds[0], 0)) == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "no pipe for the job: too many open files?", NULL, "1");
        if (j->fds[0] >= 0)
            close(j->fds[0]), close(j->fds[1]);
        job_free(j);
        return;
    }
    j->sock->data = j;
    j->req = req;
    j->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*j->slot), on_job_dispose);
    *j->slot = j;
    int rc = pthread_create(&j->tid, NULL, job_main, j);
    if (rc != 0) {
        *j->slot = NULL;
        kumo__send_problem(req, 503, "Service Unavailable", strerror(rc), NULL, "1");
        h2o_socket_close(j->sock);
        close(j->fds[1]);
        job_free(j);
        return;
    }
    h2o_socket_read_start(j->sock, on_job_done);
}

/* The live generation, with a reference the caller releases. */
static generation *current_gen(gateway *gw)
{
    pthread_mutex_lock(&gw->lock);
    generation *g = gw->current;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&gw->lock);
    return g;
}

static void work_fn(admin_job *j)
{
    j->answer = j->fn(j->arg, j->gen, &j->status, j->detail, sizeof(j->detail));
    if (j->answer == NULL && j->status == 0)
        j->status = 500;
}

void kumo__gw_admin_job(gateway *gw, h2o_req_t *req, kumo__gw_job_fn *fn, void *arg, void (*free_arg)(void *))
{
    admin_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        if (free_arg)
            free_arg(arg);
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", NULL, "1");
        return;
    }
    j->gen = current_gen(gw);
    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    j->work = work_fn;
    job_start(gw, req, j);
}

/* The event `name` of g, or NULL with a 404 detail listing the events. */
static const kumo__event_decl *find_event(const generation *g, const char *name, size_t len, char *why, size_t wlen)
{
    const kumo__project *p = g->project;
    for (size_t i = 0; i < p->nevents; i++)
        if (strlen(p->events[i].name) == len && memcmp(p->events[i].name, name, len) == 0)
            return &p->events[i];
    size_t at = (size_t)snprintf(why, wlen, "no event '%.*s' in kumo.yaml; %s", (int)(len > 200 ? 200 : len), name,
                                 p->nevents ? "the events are:" : "it declares no events");
    for (size_t i = 0; i < p->nevents && at < wlen; i++)
        at += (size_t)snprintf(why + at, wlen - at, "%s %s", i ? "," : "", p->events[i].name);
    return NULL;
}

static const char *kind_name(const kumo__event_decl *e)
{
    return kumo__event_kind_name(e->kind);
}

/* Opens `queue` (a store of g's plan, or its dead-letter queue when `dead`)
 * for a job: 0, or a status with j->detail. */
static int job_open_queue(admin_job *j, const char *queue, int dead, kumo__queue **out)
{
    const kumo__store_place *place = kumo__store_plan_find(&j->gen->stores, queue);
    char name[256];
    snprintf(name, sizeof(name), "%s%s", queue, dead ? "-dead" : "");
    *out = NULL;
    if (place == NULL) {
        snprintf(j->detail, sizeof(j->detail), "the queue %s is not in the store plan", queue);
        return 404;
    }
    kumo__error err = {0};
    kumo__store *opened = NULL;
    if (kumo__store_open(&kumo__queue_kind, place->url, name, &opened, &err) != 0) {
        snprintf(j->detail, sizeof(j->detail), "cannot open the queue %s (%s): %s", name, place->shown, err.msg);
        return 503;
    }
    *out = (kumo__queue *)opened;
    return 0;
}

/* {"ready", "in_flight", "delayed"} of `queue` (or its dead-letter queue),
 * or {"error": ...}. */
static json_t *depth_json(admin_job *j, const char *queue, int dead)
{
    kumo__queue *q = NULL;
    if (job_open_queue(j, queue, dead, &q) != 0)
        return json_pack("{s:s}", "error", j->detail);
    json_t *out;
    kumo__queue_depth d = {-1, -1, -1};
    int rc = q->driver->depth ? q->driver->depth(q, &d) : 1;
    if (rc == 1)
        out = json_pack("{s:s}", "error", "the queue's driver cannot count its messages");
    else if (rc != 0)
        out = json_pack("{s:s}", "error", q->error[0] ? q->error : kumo_strerror(rc));
    else
        out = json_pack("{s:I, s:I, s:I}", "ready", (json_int_t)d.ready, "in_flight", (json_int_t)d.in_flight,
                        "delayed", (json_int_t)d.delayed);
    kumo__store_close(&q->store);
    return out;
}

/* One event of GET /events: what kumo.yaml says, the next fire times of a
 * schedule, the figures since kumo up started, and (with_depth, on a job
 * thread) its queue's depth and dead letters. */
static json_t *event_json(gateway *gw, const kumo__event_decl *e, int64_t now, admin_job *with_depth)
{
    char handler[256];
    snprintf(handler, sizeof(handler), "%s.%s", e->unit, e->symbol);
    json_t *o = json_pack("{s:s, s:s, s:s}", "name", e->name, "kind", kind_name(e), "handler", handler);
    if (o == NULL)
        return NULL;
    if (e->kind == KUMO__EVENT_SCHEDULE) {
        json_object_set_new(o, "schedule", json_string(e->schedule));
        json_object_set_new(o, "timezone", json_string(e->timezone ? e->timezone : "UTC"));
        json_t *next = json_array();
        int64_t t = now;
        for (int k = 0; k < 3 && next; k++) {
            if ((t = kumo__schedule_next(e->compiled, t)) < 0)
                break;
            char local[64], utc[64];
            kumo__schedule_format(e->tz, t, local, sizeof local, utc, sizeof utc);
            json_array_append_new(next,
                                  json_pack("{s:s, s:s, s:I}", "local", local, "utc", utc, "epoch_ms", (json_int_t)t));
        }
        json_object_set_new(o, "next", next);
        return o;
    }
    if (e->kind == KUMO__EVENT_CLOUDEVENT) {
        json_object_set_new(o, "type", json_string(e->ce_type));
        if (e->ce_source)
            json_object_set_new(o, "source", json_string(e->ce_source));
        return o;
    }
    json_object_set_new(o, "queue", json_string(e->queue));
    if (e->topic)
        json_object_set_new(o, "topic", json_string(e->topic));
    if (e->blob)
        json_object_set_new(o, "blob", json_string(e->blob));
    json_object_set_new(o, "figures", stats_json(stats_find(gw, e->name)));
    if (with_depth && e->kind != KUMO__EVENT_QUEUE) {
        json_t *no = json_pack("{s:s}", "error", "kumo events does not count a topic's or a blob store's queue yet");
        json_object_set(o, "depth", no);
        json_object_set_new(o, "dead_letters", no);
    } else if (with_depth) {
        json_object_set_new(o, "depth", depth_json(with_depth, e->queue, 0));
        json_object_set_new(o, "dead_letters", depth_json(with_depth, e->queue, 1));
    }
    return o;
}

static json_t *events_json(gateway *gw, const generation *g, admin_job *with_depth)
{
    const kumo__project *p = g->project;
    int64_t now = (int64_t)kumo__epoch_ms();
    json_t *evs = json_array(), *ops = json_array();
    for (size_t i = 0; evs && i < p->nevents; i++)
        json_array_append_new(evs, event_json(gw, &p->events[i], now, with_depth));
    for (size_t i = 0; ops && g->spec && i < g->spec->nops; i++) {
        const kumo__operation *op = &g->spec->ops[i];
        json_t *types = json_array();
        for (size_t k = 0; types && k < op->nbody; k++)
            json_array_append_new(types, json_string(op->body[k].type));
        json_array_append_new(ops, json_pack("{s:s?, s:s, s:s, s:o}", "operation_id", op->operation_id, "method",
                                             op->method, "path", op->path, "body_types", types));
    }
    return json_pack("{s:s, s:I, s:i, s:s, s:I, s:o, s:o}", "project", p->name ? p->name : "", "generation",
                     (json_int_t)g->number, "api_port", gw->port, "base_path",
                     g->spec && g->spec->base_path ? g->spec->base_path : "", "now_ms", (json_int_t)now, "events", evs,
                     "operations", ops);
}

static void work_list(admin_job *j)
{
    j->answer = events_json(j->gw, j->gen, j);
    j->status = j->answer ? 200 : 500;
    snprintf(j->detail, sizeof(j->detail), "out of memory");
}

/* POST /events/NAME/send: sends the request body as a message into the
 * event's queue and waits, up to the handler's unit timeout plus
 * SEND_WAIT_SLACK_MS, for the consumer to deliver it and the handler to
 * answer: 200 {"message_id", "status", "request_id", "error"?,
 * "dead_lettered"}; 202 {"message_id"} when it was sent but not answered
 * in time (it stays in the queue). The waiter is in place before the send,
 * so a delivery faster than this thread is not missed. */
#define SEND_WAIT_SLACK_MS 30000
static void work_send(admin_job *j)
{
    const kumo__event_decl *d = j->decl;
    kumo__gw_event_stats *s = kumo__gw_event_stats_of(j->gw, d->name);
    kumo__queue *q = NULL;
    stats_waiter w = {0};
    kumo__arena arena;
    kumo__arena_init(&arena);
    if (s == NULL) {
        j->status = 503;
        snprintf(j->detail, sizeof(j->detail), "out of memory");
        goto out;
    }
    if (d->kind == KUMO__EVENT_TOPIC) { /* its own subscription's queue: the topic's other events get nothing */
        kumo__error err = {0};
        if (kumo__gw_topic_queue_open(&j->gen->stores, d, &q, &err) != 0) {
            j->status = 503;
            snprintf(j->detail, sizeof(j->detail), "cannot open the queue %s of topic %s: %s", d->queue, d->topic,
                     err.msg);
            goto out;
        }
    } else if ((j->status = job_open_queue(j, d->queue, 0, &q)) != 0) {
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    w.next = s->waiters;
    s->waiters = &w;
    atomic_fetch_add(&s->nwaiters, 1);
    const char *id = NULL;
    /* no trace context: its delivery starts a trace */
    int rc = q->driver->send(q, &arena, j->body ? j->body : "", j->len, 0, NULL, &id);
    if (rc != 0) {
        j->status = rc == KUMO_ETOOBIG ? 413 : 503;
        snprintf(j->detail, sizeof(j->detail), "cannot send to the queue %s: %s", d->queue,
                 q->error[0] ? q->error : kumo_strerror(rc));
    } else if ((w.id = strdup(id ? id : "")) == NULL) {
        j->status = 503;
        snprintf(j->detail, sizeof(j->detail), "out of memory");
    } else {
        const kumo__tuning *tuning = &j->gen->project->units[d->unit_index].tuning;
        uint64_t deadline = kumo__mono_ms() + (uint64_t)(tuning->timeout_s * 1000.0) + SEND_WAIT_SLACK_MS;
        while (!w.done && kumo__mono_ms() < deadline && !atomic_load(&j->gw->draining)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 100 * 1000000L; /* a slice: draining is seen within 100 ms */
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        if (w.done) {
            j->answer = json_pack("{s:s, s:i, s:s, s:b}", "message_id", w.id, "status", w.status, "request_id",
                                  w.request_id, "dead_lettered", w.dead);
            if (j->answer && w.error[0])
                json_object_set_new(j->answer, "error", json_string(w.error));
        } else {
            j->answer = json_pack("{s:s, s:s}", "message_id", w.id, "detail",
                                  atomic_load(&j->gw->draining)
                                      ? "kumo is shutting down: no answer is awaited (the message stays in the queue "
                                        "unless a handler has it: see kumo's log)"
                                      : "no handler answered in time (it stays in the queue: see kumo's log)");
        }
        j->status = w.done ? 200 : 202;
    }
    for (stats_waiter **pp = &s->waiters; *pp; pp = &(*pp)->next)
        if (*pp == &w) {
            *pp = w.next;
            break;
        }
    atomic_fetch_sub(&s->nwaiters, 1);
    pthread_mutex_unlock(&s->lock);
out:
    free(w.id);
    kumo__arena_free(&arena);
    kumo__store_close(q ? &q->store : NULL);
}

/* POST /events/NAME/redrive[?max=N]: moves up to N messages (default: all)
 * of the event's dead-letter queue QUEUE-dead back to QUEUE, each a new
 * message (a new id, receives from 0) sent before the dead one is acked,
 * so a failure in between leaves a copy in both rather than none; it keeps
 * its trace context (the sender's traceparent). 200
 * {"moved": N, "queue", "from"}. */
#define REDRIVE_BATCH 10
#define REDRIVE_VISIBILITY_MS 30000
static void work_redrive(admin_job *j)
{
    const kumo__event_decl *d = j->decl;
    kumo__queue *q = NULL, *dead = NULL;
    kumo__arena arena;
    kumo_queue_message got[REDRIVE_BATCH];
    long moved = 0;
    kumo__arena_init(&arena);
    if ((j->status = job_open_queue(j, d->queue, 0, &q)) != 0 || (j->status = job_open_queue(j, d->queue, 1, &dead)))
        goto out;
    dead->max_receives = 1000; /* the dead-letter queue's own dead letters are not ours to make */
    while (j->max < 0 || moved < j->max) {
        size_t want = REDRIVE_BATCH, n = 0;
        if (j->max >= 0 && (long)want > j->max - moved)
            want = (size_t)(j->max - moved);
        int rc = dead->driver->receive(dead, &arena, want, REDRIVE_VISIBILITY_MS, got, &n);
        if (rc != 0) {
            j->status = 503;
            snprintf(j->detail, sizeof(j->detail), "moved %ld; then cannot receive from %s-dead: %s", moved, d->queue,
                     dead->error[0] ? dead->error : kumo_strerror(rc));
            goto out;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            const char *id = NULL;
            if ((rc = q->driver->send(q, &arena, got[i].body, got[i].len, 0, got[i].trace, &id)) != 0) {
                for (size_t k = i; k < n; k++)
                    dead->driver->nack(dead, got[k].receipt, 0);
                j->status = 503;
                snprintf(j->detail, sizeof(j->detail), "moved %ld; then cannot send to %s: %s", moved, d->queue,
                         q->error[0] ? q->error : kumo_strerror(rc));
                goto out;
            }
            if (dead->driver->ack(dead, got[i].receipt) != 0)
                kumo__log_event("warn",
                                "redrive of event %s: message %s was sent back to %s but cannot be removed "
                                "from %s-dead (%s): it is in both",
                                d->name, got[i].id ? got[i].id : "?", d->queue, d->queue, dead->error);
            moved++;
        }
        kumo__arena_reset(&arena);
    }
    kumo__log_event("info", "event %s: %ld message%s redriven from %s-dead to %s", d->name, moved,
                    moved == 1 ? "" : "s", d->queue, d->queue);
    j->answer = json_pack("{s:I, s:s, s:s+}", "moved", (json_int_t)moved, "queue", d->queue, "from", d->queue, "-dead");
    j->status = j->answer ? 200 : 500;
out:
    kumo__arena_free(&arena);
    kumo__store_close(q ? &q->store : NULL);
    kumo__store_close(dead ? &dead->store : NULL);
}

/* The value of ?NAME=... in req's query, or NULL. */
static const char *query_param(h2o_req_t *req, const char *name, char *buf, size_t cap)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            size_t vl = (size_t)(stop - q) - nl - 1;
            if (vl >= cap)
                return NULL;
            memcpy(buf, q + nl + 1, vl);
            buf[vl] = '\0';
            return buf;
        }
        q = stop + 1;
    }
    return NULL;
}

#define SEND_BODY_MAX (1u << 20)

/* /events/NAME/ACTION other than fire: send and redrive (POST). */
static void event_action(gateway *gw, h2o_req_t *req, const char *name, size_t name_len, const char *action)
{
    char why[1024];
    if (atomic_load(&gw->draining)) {
        kumo__send_problem(req, 503, "Service Unavailable", "kumo is shutting down", NULL, NULL);
        return;
    }
    admin_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", NULL, "1");
        return;
    }
    j->gen = current_gen(gw);
    j->max = -1;
    if ((j->decl = find_event(j->gen, name, name_len, why, sizeof(why))) == NULL) {
        kumo__send_problem(req, 404, "Not Found", why, NULL, NULL);
        job_free(j);
        return;
    }
    int sends = strcmp(action, "send") == 0;
    if (j->decl->kind != KUMO__EVENT_QUEUE && !(sends && j->decl->kind == KUMO__EVENT_TOPIC)) {
        snprintf(why, sizeof(why), "event %s is a %s event: %s", j->decl->name, kind_name(j->decl),
                 sends ? "only a queue or topic event takes a message (fire a schedule with POST "
                         "/events/NAME/fire)"
                       : "only a queue event has a dead-letter queue");
        kumo__send_problem(req, 409, "Conflict", why, NULL, NULL);
        job_free(j);
        return;
    }
    if (strcmp(action, "send") == 0) {
        if (req->entity.len > SEND_BODY_MAX) {
            snprintf(why, sizeof(why), "the message is %zu bytes; at most %u by hand", req->entity.len, SEND_BODY_MAX);
            kumo__send_problem(req, 413, "Payload Too Large", why, NULL, NULL);
            job_free(j);
            return;
        }
        if (req->entity.len && (j->body = malloc(req->entity.len)) == NULL) {
            kumo__send_problem(req, 503, "Service Unavailable", "out of memory", NULL, "1");
            job_free(j);
            return;
        }
        if (req->entity.len)
            memcpy(j->body, req->entity.base, req->entity.len);
        j->len = req->entity.len;
        j->work = work_send;
    } else {
        char buf[24];
        const char *v = query_param(req, "max", buf, sizeof(buf));
        if (v) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || n < 1 || n > 1000000000L) {
                kumo__send_problem(req, 400, "Bad Request", "max= takes a count from 1 to 1000000000", NULL, NULL);
                job_free(j);
                return;
            }
            j->max = n;
        }
        j->work = work_redrive;
    }
    job_start(gw, req, j);
}

/* GET /events[?depth=no]: every event of the live generation (what
 * `kumo events` prints beside kumo.yaml), and the operations (for `kumo
 * invoke`). With the depths, a job (store calls); without, on the loop. */
static void list_events(gateway *gw, h2o_req_t *req)
{
    char buf[8];
    const char *depth = query_param(req, "depth", buf, sizeof(buf));
    admin_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", NULL, "1");
        return;
    }
    j->gen = current_gen(gw);
    if (depth && strcmp(depth, "no") == 0) {
        json_t *doc = events_json(gw, j->gen, NULL);
        send_json(req, 200, doc);
        json_decref(doc);
        job_free(j);
        return;
    }
    j->work = work_list;
    job_start(gw, req, j);
}

/* Whether `host` (a Host header or an Origin's host, with or without a
 * port) names this machine's loopback: 127.0.0.1, localhost or [::1]. */
static int loopback_name(const char *host, size_t len)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (len >= n && strncasecmp(host, names[i], n) == 0 && (len == n || host[n] == ':'))
            return 1;
    }
    return 0;
}

/* The admin port listens on loopback only, but a browser on this machine
 * can still be made to talk to it: a page elsewhere posting a form to
 * 127.0.0.1 (cross-site request forgery), or a name of the attacker's that
 * resolves to 127.0.0.1 (DNS rebinding). So the Host must be a loopback
 * name (or absent: browsers always send one), an Origin (sent by browsers
 * with cross-site requests) must be a
 * loopback one, and a POST takes none of the content types a form
 * can send. `kumo reload`, curl and scripts send none of these. Returns 1
 * when the request may go on, else 0 with a 403 or 415 answered. */
static int admin_request_ok(h2o_req_t *req)
{
    if (req->authority.len > 0 && !loopback_name(req->authority.base, req->authority.len)) {
        kumo__send_problem(req, 403, "Forbidden",
                           "the admin port answers requests for 127.0.0.1, localhost or [::1] only", NULL, NULL);
        return 0;
    }
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (i >= 0) {
        h2o_iovec_t o = req->headers.entries[i].value;
        static const char scheme[] = "http://";
        size_t sl = sizeof(scheme) - 1;
        if (o.len <= sl || strncasecmp(o.base, scheme, sl) != 0 || !loopback_name(o.base + sl, o.len - sl)) {
            kumo__send_problem(req, 403, "Forbidden", "the admin port refuses requests from web pages of other origins",
                               NULL, NULL);
            return 0;
        }
    }
    i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i >= 0) {
        static const char *const forms[] = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"};
        h2o_iovec_t ct = req->headers.entries[i].value;
        for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
            size_t n = strlen(forms[k]);
            if (ct.len >= n && strncasecmp(ct.base, forms[k], n) == 0) {
                kumo__send_problem(req, 415, "Unsupported Media Type",
                                   "the admin endpoints take no form; send no body (as `kumo reload` does)", NULL,
                                   NULL);
                return 0;
            }
        }
    }
    return 1;
}

/* Whether `given` equals `want`, in a time that depends on want's length
 * only, never on where the first difference is. */
static int same_secret(const char *given, size_t given_len, const char *want, size_t want_len)
{
    volatile unsigned char diff = (unsigned char)(given_len != want_len);
    for (size_t i = 0; i < want_len; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
    return diff == 0;
}

/* With an admin token (kumo up --admin-token-file, KUMO_ADMIN_TOKEN), every
 * endpoint but /healthz and /readyz needs `Authorization: Bearer TOKEN`
 * (RFC 6750). Returns 1 when the request may go on, else 0 with a 401. */
static int admin_authorized(gateway *gw, h2o_req_t *req)
{
    const char *want = gw->cfg.admin_token;
    if (want == NULL || want[0] == '\0')
        return 1;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        static const char scheme[] = "bearer";
        size_t n = sizeof(scheme) - 1, at = n;
        if (v.len > n && strncasecmp(v.base, scheme, n) == 0 && (v.base[n] == ' ' || v.base[n] == '\t')) {
            while (at < v.len && (v.base[at] == ' ' || v.base[at] == '\t'))
                at++;
            size_t end = v.len;
            while (end > at && (v.base[end - 1] == ' ' || v.base[end - 1] == '\t'))
                end--;
            if (same_secret(v.base + at, end - at, want, strlen(want)))
                return 1;
        }
    }
    kumo__h2o_add_header(req, H2O_STRLIT("www-authenticate"), H2O_STRLIT("Bearer realm=\"kumo admin\""));
    kumo__send_problem(req, 401, "Unauthorized",
                       i >= 0 ? "the admin token does not match; `kumo up` was given another one"
                              : "this kumo up has an admin token: send `Authorization: Bearer TOKEN` (kumo status and "
                                "kumo reload do, from --admin-token-file FILE or KUMO_ADMIN_TOKEN)",
                       NULL, NULL);
    return 0;
}

int kumo__gw_on_admin_req(h2o_handler_t *self, h2o_req_t *req)
{
    gateway *gw = ((api_handler *)self)->gw;
    static const char ctype[] = "application/json";
    if (!admin_request_ok(req))
        return 0;
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/healthz"))) {
        req->res.status = 200;
        req->res.reason = "OK";
        kumo__h2o_add_header(req, H2O_STRLIT("content-type"), ctype, sizeof(ctype) - 1);
        kumo__send_body(req, H2O_STRLIT("{\"status\":\"ok\"}\n"));
        return 0;
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/readyz"))) {
        int draining = atomic_load(&gw->draining);
        req->res.status = draining ? 503 : 200;
        req->res.reason = draining ? "Service Unavailable" : "OK";
        kumo__h2o_add_header(req, H2O_STRLIT("content-type"), ctype, sizeof(ctype) - 1);
        if (draining)
            kumo__send_body(req, H2O_STRLIT("{\"status\":\"draining\"}\n"));
        else
            kumo__send_body(req, H2O_STRLIT("{\"status\":\"ready\"}\n"));
        return 0;
    }
    if (kumo__gw_dashboard_page(gw, req))
        return 0;
    if (!admin_authorized(gw, req))
        return 0;
    if (kumo__gw_dashboard_route(gw, req))
        return 0;
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/status"))) {
        char *body = status_json(gw);
        if (body == NULL) {
            kumo__send_problem(req, 500, "Internal Server Error", "out of memory", NULL, NULL);
            return 0;
        }
        req->res.status = 200;
        req->res.reason = "OK";
        kumo__h2o_add_header(req, H2O_STRLIT("content-type"), ctype, sizeof(ctype) - 1);
        kumo__send_body(req, body, strlen(body));
        free(body);
        return 0;
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/metrics"))) {
        char *body = kumo__gw_metrics_text(gw);
        if (body == NULL) {
            kumo__send_problem(req, 500, "Internal Server Error", "out of memory", NULL, NULL);
            return 0;
        }
        static const char prom[] = "text/plain; version=0.0.4; charset=utf-8";
        req->res.status = 200;
        req->res.reason = "OK";
        kumo__h2o_add_header(req, H2O_STRLIT("content-type"), prom, sizeof(prom) - 1);
        kumo__send_body(req, body, strlen(body));
        free(body);
        return 0;
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/alerts"))) {
        /* the monitor's last round (obs/monitor.c); stopped while draining */
        pthread_mutex_lock(&gw->lock); /* the main thread stops the monitor under it */
        char *body = gw->monitor ? kumo__monitor_json(gw->monitor) : strdup("{\"monitors\":[],\"alerts\":[]}");
        pthread_mutex_unlock(&gw->lock);
        if (body == NULL) {
            kumo__send_problem(req, 500, "Internal Server Error", "out of memory", NULL, NULL);
            return 0;
        }
        req->res.status = 200;
        req->res.reason = "OK";
        kumo__h2o_add_header(req, H2O_STRLIT("content-type"), ctype, sizeof(ctype) - 1);
        kumo__send_body(req, body, strlen(body));
        free(body);
        return 0;
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/reload"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
            kumo__h2o_add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("POST"));
            kumo__send_problem(req, 405, "Method Not Allowed", "reload with POST /reload (or `kumo reload`)", "reload",
                               NULL);
            return 0;
        }
        ask_reload(gw, req);
        return 0;
    }
    static const char events[] = "/events/", fire[] = "/fire";
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len, pre = sizeof(events) - 1, suf = sizeof(fire) - 1;
    if (h2o_memis(path, plen, H2O_STRLIT("/events")) || h2o_memis(path, plen, H2O_STRLIT("/events/"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
            kumo__h2o_add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("GET"));
            kumo__send_problem(req, 405, "Method Not Allowed", "list the events with GET /events (or `kumo events`)",
                               NULL, NULL);
            return 0;
        }
        list_events(gw, req);
        return 0;
    }
    static const char *const actions[] = {"/send", "/redrive"};
    for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
        size_t al = strlen(actions[a]);
        if (plen > pre + al && memcmp(path, events, pre) == 0 && memcmp(path + plen - al, actions[a], al) == 0 &&
            memchr(path + pre, '/', plen - pre - al) == NULL) {
            if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
                kumo__h2o_add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("POST"));
                kumo__send_problem(req, 405, "Method Not Allowed",
                                   "use POST (or `kumo invoke` / `kumo events redrive`)", NULL, NULL);
                return 0;
            }
            event_action(gw, req, path + pre, plen - pre - al, actions[a] + 1);
            return 0;
        }
    }
    if (plen > pre + suf && memcmp(path, events, pre) == 0 && memcmp(path + plen - suf, fire, suf) == 0) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
            kumo__h2o_add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("POST"));
            kumo__send_problem(req, 405, "Method Not Allowed", "fire an event with POST (or `kumo invoke NAME`)", NULL,
                               NULL);
            return 0;
        }
        fire_event(gw, req, path + pre, plen - pre - suf);
        return 0;
    }
    kumo__send_problem(req, 404, "Not Found",
                       "admin endpoints: /healthz, /readyz, /status, /metrics, /alerts, /dashboard, /history, /recent, "
                       "POST /reload, GET /events, POST /events/NAME/fire, POST /events/NAME/send, POST "
                       "/events/NAME/redrive",
                       NULL, NULL);
    return 0;
}
