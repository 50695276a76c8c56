/*
 * admin.c: the admin listener (loopback only): /healthz, /readyz, /status
 * (figures summed over every loop's pools, read under gw->lock) and POST
 * /reload, which the main thread runs (a compiler may run, so never on a
 * loop) while the request waits on loop 0 for the outcome; reloads are
 * coalesced and paced (ask_reload); POST /events/NAME/fire, which fires a
 * schedule event now (scheduler.c, loop 0 too) and waits for its
 * handler's answer. With an admin token, all but /healthz and /readyz
 * need it.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/h2o_glue.h"

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

/* GET /status: per function of the live generation, figures summed over
 * every loop's pools; and the generation and the last reload's outcome. */
static char *status_json(gateway *gw)
{
    json_t *fns = json_array();
    uint64_t now = kumo__mono_ms();
    pthread_mutex_lock(&gw->lock);
    const generation *g = gw->current;
    for (size_t u = 0; u < g->project->nunits; u++) {
        const kumo__unit *unit = &g->project->units[u];
        kumo__pool_stats st;
        memset(&st, 0, sizeof(st));
        unit_stats(gw, unit->name, &st, now);
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
    const char *last = gw->reloads == 0 ? "none" : gw->reload_failed ? "failed" : "ok";
    json_t *doc =
        json_pack("{s:s, s:i, s:I, s:{s:I, s:s, s:s?, s:i}, s:o}", "project", g->project->name, "loops", gw->nthreads,
                  "generation", (json_int_t)g->number, "reload", "count", (json_int_t)gw->reloads, "last", last,
                  "error", gw->reloads && gw->reload_failed ? gw->reload_msg : NULL, "draining",
                  atomic_load(&gw->generations) - 1, "functions", fns);
    pthread_mutex_unlock(&gw->lock);
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
    int failed = gw->reload_failed;
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
                json_t *doc =
                    json_pack("{s:s, s:I, s:s}", "status", "reloaded", "generation", (json_int_t)number, "detail", msg);
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
    if (!admin_authorized(gw, req))
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
                       "admin endpoints: /healthz, /readyz, /status, POST /reload, POST /events/NAME/fire", NULL, NULL);
    return 0;
}
