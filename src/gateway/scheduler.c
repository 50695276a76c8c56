/*
 * scheduler.c: the schedule events of kumo.yaml's `events:`, fired under
 * kumo up. Loop 0 owns them (one place decides each tick, so no tick is
 * fired twice by two loops): after each wait it fires the ticks that are
 * due and tells loop.c how long it may wait for the next one (at most
 * 20 ms), so a tick leaves within about a millisecond of its planned time.
 *
 * A tick is an invocation of the event's UNIT.SYMBOL through the unit's
 * pool on loop 0, like a request (same limits, scaling, sandbox), in the
 * CloudEvents 1.0 HTTP binary mode: POST /NAME with ce-* headers and a JSON
 * body (dispatch.c's kumo__dispatch_event encodes the frame). Its answer
 * writes one log line (msg "event").
 *
 * At most once: before a tick is submitted its planned time is written to
 * DATA_DIR/events/NAME.last (a temporary file renamed over the old one), so
 * a kumo that restarts knows which ticks were handled and never fires one
 * again; the ticks missed while it was down are skipped or fired once (the
 * latest of them), as the event's `missed:` says. A tick planned while the
 * previous run of the event still goes is skipped with a warn line (unless
 * `overlap: true`), and its planned time recorded too: it was decided.
 *
 * By hand: POST /events/NAME/fire (admin.c, `kumo invoke`, also on loop
 * 0) fires a tick now through kumo__gw_sched_fire: ce-time is now, it
 * carries `ce-kumotrigger: manual`, the .last file and the next planned
 * tick stay as they were, it counts as a run for `overlap`, and the
 * admin request is told the handler's answer.
 *
 * State per event (sched_event) outlives generations: a reload keeps each
 * event's last planned time, next fire time and running count by name, so
 * the new generation neither fires a tick again nor overlaps a run of the
 * old one. An event a reload removed stays until its last run answers.
 * Everything here runs on loop 0's thread.
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "project/schedule.h"

/* Counting the ticks missed while kumo was down stops here (a one-second
 * schedule over a month of downtime); the log then says "at least". */
#define MISSED_COUNT_MAX 1000000

typedef struct sched_event {
    char *name;
    const kumo__event_decl *decl; /* the live generation's; NULL once a reload removed the event */
    int64_t last_ms;              /* planned time of the last tick handled (fired or skipped); -1: none */
    int64_t next_ms;              /* the next tick's planned time; -1: none in the next 5 years */
    int64_t running_planned;      /* planned time of the last run submitted */
    int running;                  /* its calls not yet answered */
    struct sched_event *next;
} sched_event;

struct kumo__gw_sched {
    const generation *gen; /* whose decls the events point at (loop 0's live one) */
    sched_event *events;
    char dir[4200]; /* DATA_DIR/events */
};

/* One tick in flight: the pool hands `call` back to on_tick_done. */
typedef struct tick_call {
    kumo__call call; /* first */
    loop_thread *t;
    loop_gen *lg; /* counted in lg->users until the worker answers */
    sched_event *ev;
    size_t unit_index;
    int64_t planned_ms;
    uint64_t start_us;
    char request_id[48];
    kumo__gw_fire_cb *cb; /* fired by hand (POST /events/NAME/fire): told the outcome; else NULL */
    void *cb_ctx;
    kumo__span_ctx span; /* a tick starts a trace (tracing.c) */
} tick_call;

/* RFC 3339 in UTC with milliseconds: 2025-03-30T01:00:00.000Z. */
static void rfc3339_ms(int64_t ms, char *out, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int last_path(const kumo__gw_sched *s, const char *name, const char *suffix, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s.last%s", s->dir, name, suffix);
    return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* The planned time recorded in NAME.last, or -1 when there is none (or
 * it cannot be read: said once, and the event starts afresh). */
static int64_t read_last(const kumo__gw_sched *s, const char *name)
{
    char path[4400], buf[64];
    if (last_path(s, name, "", path, sizeof(path)) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            kumo__log_event("warn", "event %s: cannot read %s (%s); its missed ticks are not known", name, path,
                            strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    char *end = NULL;
    long long v = -1;
    if (n > 0) {
        buf[n] = '\0';
        errno = 0;
        v = strtoll(buf, &end, 10);
    }
    if (n <= 0 || errno != 0 || end == buf || (*end != ' ' && *end != '\n' && *end != '\0') || v < 0) {
        kumo__log_event("warn", "event %s: %s does not hold a planned time; its missed ticks are not known", name,
                        path);
        return -1;
    }
    return (int64_t)v;
}

/* Records `planned` in NAME.last: written to NAME.last.tmp, then renamed
 * over the old one, so a reader sees the old time or the new, never half.
 * (No fsync: it survives kumo being killed, not the machine losing power.) */
static int write_last(const kumo__gw_sched *s, const char *name, int64_t planned, char *why, size_t why_len)
{
    char path[4400], tmp[4400], line[96], when[40];
    int rc = 0, fd = -1;
    if (last_path(s, name, "", path, sizeof(path)) != 0 || last_path(s, name, ".tmp", tmp, sizeof(tmp)) != 0) {
        snprintf(why, why_len, "the path of %s/%s.last is too long", s->dir, name);
        return -ENAMETOOLONG;
    }
    rfc3339_ms(planned, when, sizeof(when));
    int n = snprintf(line, sizeof(line), "%" PRId64 " %s\n", planned, when);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 || write(fd, line, (size_t)n) != n) {
        rc = -errno;
        snprintf(why, why_len, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        snprintf(why, why_len, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        snprintf(why, why_len, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* A new event (at start, or added by a reload): where its schedule stands
 * after the .last file. Ticks missed while kumo was down are counted and
 * logged; with missed: once the latest of them is due now. */
static void event_start(kumo__gw_sched *s, sched_event *ev, int64_t now)
{
    const kumo__event_decl *d = ev->decl;
    int64_t last = read_last(s, ev->name);
    ev->last_ms = last;
    if (last < 0) {
        ev->next_ms = kumo__schedule_next(d->compiled, now);
        return;
    }
    int64_t first = kumo__schedule_next(d->compiled, last);
    if (first < 0 || first > now) {
        ev->next_ms = first; /* nothing missed (or the clock went back: still after the last tick) */
        return;
    }
    int64_t latest = first, n = 1;
    for (int64_t x; n < MISSED_COUNT_MAX && (x = kumo__schedule_next(d->compiled, latest)) >= 0 && x <= now; n++)
        latest = x;
    char a[40], b[40];
    rfc3339_ms(first, a, sizeof(a));
    rfc3339_ms(latest, b, sizeof(b));
    const char *more = n >= MISSED_COUNT_MAX ? "at least " : "";
    if (d->missed_once) {
        kumo__log_event("info",
                        "event %s: %s%" PRId64 " tick%s missed while kumo was down (planned %s to %s); missed: once "
                        "fires one now, planned at %s",
                        ev->name, more, n, n == 1 ? "" : "s", a, b, b);
        ev->next_ms = latest;
    } else {
        kumo__log_event("info",
                        "event %s: %s%" PRId64 " tick%s missed while kumo was down (planned %s to %s) %s skipped "
                        "(missed: skip)",
                        ev->name, more, n, n == 1 ? "" : "s", a, b, n == 1 ? "is" : "are");
        ev->next_ms = kumo__schedule_next(d->compiled, latest > now ? latest : now);
    }
}

static int same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void event_free(sched_event *ev)
{
    free(ev->name);
    free(ev);
}

/* Loop 0's live generation changed (or this is the start): its events
 * take over the states of the same names; a changed schedule starts from
 * now, an unchanged one keeps its next tick. */
static void follow(kumo__gw_sched *s, const generation *g, int64_t now)
{
    const kumo__project *p = g->project;
    const generation *old = s->gen;
    for (sched_event *ev = s->events; ev; ev = ev->next) {
        const kumo__event_decl *was = ev->decl;
        ev->decl = NULL;
        for (size_t i = 0; i < p->nevents; i++) {
            const kumo__event_decl *d = &p->events[i];
            if (d->kind == KUMO__EVENT_SCHEDULE && strcmp(d->name, ev->name) == 0)
                ev->decl = d;
        }
        if (ev->decl && was &&
            (!same_text(was->schedule, ev->decl->schedule) || !same_text(was->timezone, ev->decl->timezone))) {
            int64_t from = ev->last_ms > now ? ev->last_ms : now;
            ev->next_ms = kumo__schedule_next(ev->decl->compiled, from);
        }
    }
    /* Events gone with the reload go once their runs answered. */
    for (sched_event **pp = &s->events; *pp;) {
        sched_event *ev = *pp;
        if (ev->decl == NULL && ev->running == 0) {
            *pp = ev->next;
            event_free(ev);
        } else {
            pp = &ev->next;
        }
    }
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *d = &p->events[i];
        if (d->kind != KUMO__EVENT_SCHEDULE || d->compiled == NULL)
            continue;
        sched_event *ev = s->events;
        while (ev && strcmp(ev->name, d->name) != 0)
            ev = ev->next;
        if (ev)
            continue;
        if ((ev = calloc(1, sizeof(*ev))) == NULL || (ev->name = strdup(d->name)) == NULL) {
            free(ev);
            kumo__log_event("error", "event %s: out of memory; it will not fire", d->name);
            continue;
        }
        ev->decl = d;
        ev->last_ms = -1;
        event_start(s, ev, now);
        ev->next = s->events;
        s->events = ev;
    }
    s->gen = g;
    size_t nsched = 0; /* the other kinds are consumer.c's and cloudevents_in.c's */
    for (size_t i = 0; i < p->nevents; i++)
        nsched += p->events[i].kind == KUMO__EVENT_SCHEDULE;
    if (old && old != g && nsched)
        kumo__log_event("info", "generation %lu: %zu schedule event%s handed over", g->number, nsched,
                        nsched == 1 ? "" : "s");
}

static void tick_log(const tick_call *c, int status, const char *error, size_t error_len)
{
    char planned[40];
    rfc3339_ms(c->planned_ms, planned, sizeof(planned));
    kumo__logline l;
    kumo__logline_begin(&l, status < 500 ? "info" : status == 503 ? "warn" : "error", "event", 5);
    kumo__logline_cstr(&l, "event", c->ev->name);
    kumo__logline_cstr(&l, "request_id", c->request_id);
    kumo__logline_cstr(&l, "planned", planned);
    kumo__logline_int(&l, "status", status);
    kumo__logline_int(&l, "duration_us", (long long)(kumo__mono_us() - c->start_us));
    if (c->call.worker_pid > 0)
        kumo__logline_int(&l, "worker_pid", c->call.worker_pid);
    if (c->cb)
        kumo__logline_cstr(&l, "trigger", "manual");
    if (error)
        kumo__logline_str(&l, "error", error, error_len);
    kumo__logline_write(&l, 2);
}

/* A tick's outcome: its log line, and the admin request that fired it by
 * hand, if any (told once). */
static void tick_outcome(tick_call *c, int status, const char *error, size_t error_len)
{
    tick_log(c, status, error, error_len);
    if (c->cb) {
        kumo__gw_fire_cb *cb = c->cb;
        c->cb = NULL;
        cb(c->cb_ctx, status, c->request_id, error, error_len, kumo__mono_us() - c->start_us);
    }
}

int kumo__gw_event_outcome(enum kumo__call_result result, const char *payload, size_t len, int body_from,
                           const char **error, size_t *error_len)
{
    int status = 500;
    *error = payload;
    *error_len = payload ? len : 0;
    switch (result) {
    case KUMO__CALL_OK: {
        kumo__response_in r;
        kumo__response_read(payload, len, &r);
        status = r.status;
        *error = r.error;
        *error_len = r.error_len;
        if (r.error)
            status = 500;
        else if (status >= body_from) /* the handler's own problem: its body says why */
            *error = r.body, *error_len = r.body_len;
        break;
    }
    case KUMO__CALL_FAILED: status = 500; break;
    case KUMO__CALL_CRASHED: status = 502; break;
    case KUMO__CALL_TIMEOUT: status = 504; break;
    case KUMO__CALL_NO_WORKER: status = 502; break;
    }
    if (*error_len == 0)
        *error = NULL;
    return status;
}

static void on_tick_done(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    tick_call *c = (tick_call *)call;
    loop_thread *t = c->t;
    const char *error;
    size_t error_len;
    t->inflight--;
    int status = kumo__gw_event_outcome(result, payload, len, 400, &error, &error_len);
    tick_outcome(c, status, error, error_len);
    kumo__gw_trace_store_calls(t->gw, &c->span, result, payload, len);
    kumo__gw_observe_event(t, c->lg->gen, c->ev->name, &c->call, result, status, c->start_us, c->request_id, &c->span);
    if (c->lg->pools && c->lg->pools[c->unit_index])
        kumo__pool_record(c->lg->pools[c->unit_index], kumo__mono_us() - c->start_us, status >= 500, kumo__mono_ms());
    c->lg->users--;
    sched_event *ev = c->ev;
    ev->running--;
    if (ev->decl == NULL && ev->running == 0 && t->sched) {
        for (sched_event **pp = &t->sched->events; *pp; pp = &(*pp)->next)
            if (*pp == ev) {
                *pp = ev->next;
                event_free(ev);
                break;
            }
    }
    kumo__frame_writer_free(&c->call.frame);
    free(c);
}

/* Submits the tick of ev planned at `planned` to loop 0's live pool. A
 * tick fired by hand (cb not NULL) is not recorded in the .last file (the
 * schedule's plan is untouched), carries `ce-kumotrigger: manual`, and
 * tells cb its outcome, whatever happens. */
static void fire(loop_thread *t, sched_event *ev, int64_t planned, kumo__gw_fire_cb *cb, void *cb_ctx)
{
    kumo__gw_sched *s = t->sched;
    loop_gen *lg = t->live;
    const kumo__event_decl *d = ev->decl;
    const kumo__project *p = lg->gen->project;
    char why[600], when[40], source[512];

    if (cb == NULL && write_last(s, ev->name, planned, why, sizeof(why)) != 0) {
        rfc3339_ms(planned, when, sizeof(when));
        kumo__log_event("error",
                        "event %s: the tick planned at %s is not fired: %s (a tick that cannot be recorded could "
                        "fire twice after a restart)",
                        ev->name, when, why);
        return;
    }
    if (cb == NULL) {
        ev->last_ms = planned;
        /* how late this tick leaves against its plan (a gauge per event:
         * the last tick's; a missed tick fired at start shows its age) */
        char name[200];
        int64_t lag = (int64_t)kumo__epoch_ms() - planned;
        snprintf(name, sizeof(name), "kumo_schedule_lag_seconds{event=\"%s\"}", ev->name);
        kumo__metrics_gauge(t->gw->metrics, name, "How late the last tick of a schedule event left, against its plan.",
                            (double)(lag > 0 ? lag : 0) / 1000.0);
    }
    tick_call *c = calloc(1, sizeof(*c));
    char *body = NULL;
    if (c == NULL)
        goto oom;
    c->cb = cb;
    c->cb_ctx = cb_ctx;
    c->t = t;
    c->lg = lg;
    c->ev = ev;
    c->unit_index = d->unit_index;
    c->planned_ms = planned;
    c->start_us = kumo__mono_us();
    snprintf(c->request_id, sizeof(c->request_id), "%s-%d-%08x", t->gw->id_prefix, t->index, ++t->seq);
    kumo__gw_trace_event_begin(t->gw, &c->span, NULL, NULL, d->symbol);
    rfc3339_ms(planned, when, sizeof(when));
    snprintf(source, sizeof(source), "/kumo/%s/events/%s", p->name ? p->name : "", ev->name);
    json_t *doc = json_pack("{s:s, s:s, s:s}", "schedule", d->schedule, "planned", when, "timezone",
                            d->timezone ? d->timezone : "UTC");
    body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL)
        goto oom;
#define HV(n, v)                                                                                                       \
    {                                                                                                                  \
        {n, sizeof(n) - 1},                                                                                            \
        {                                                                                                              \
            v, strlen(v)                                                                                               \
        }                                                                                                              \
    }
    const kumo__header_view headers[] = {
        HV("ce-specversion", "1.0"),
        HV("ce-id", c->request_id),
        HV("ce-source", source),
        HV("ce-type", "dev.kumo.schedule.tick"),
        HV("ce-time", when),
        HV("ce-subject", ev->name),
        HV("content-type", "application/json"),
        HV("traceparent", c->span.traceparent),
        HV("ce-kumotrigger", "manual"), /* only when fired by hand: left out of nheaders otherwise */
    };
#undef HV
    size_t nheaders = sizeof(headers) / sizeof(headers[0]) - (cb ? 0 : 1);
    char path[300];
    snprintf(path, sizeof(path), "/%s", ev->name);
    const kumo__tuning *tuning = &p->units[d->unit_index].tuning;
    uint64_t timeout_ms = (uint64_t)(tuning->timeout_s * 1000.0);
    if (kumo__dispatch_event(d->symbol, path, c->request_id, headers, nheaders, (kumo__slice){body, strlen(body)},
                             kumo__epoch_ms(), timeout_ms, &c->call.frame) != 0) {
        tick_outcome(c, 500, "the event's request is larger than the frame limit", 51);
        goto out;
    }
    c->call.cb = on_tick_done;
    c->call.deadline_ms = timeout_ms ? kumo__mono_ms() + timeout_ms : 0;
    int rc = kumo__pool_submit(lg->pools[d->unit_index], &c->call, why, sizeof(why));
    if (rc != 0) {
        kumo__frame_writer_free(&c->call.frame);
        tick_outcome(c, rc == -EBUSY ? 429 : 503, why, strlen(why));
        goto out;
    }
    t->inflight++;
    lg->users++;
    ev->running++;
    ev->running_planned = planned;
    c = NULL;
    goto out;
oom:
    rfc3339_ms(planned, when, sizeof(when));
    kumo__log_event("error", "event %s: the tick planned at %s is not fired: out of memory", ev->name, when);
    if (cb)
        cb(cb_ctx, 503, "", "out of memory", 13, 0);
out:
    free(body);
    free(c);
}

int kumo__gw_sched_run(loop_thread *t, int max_wait_ms)
{
    loop_gen *lg = t->live;
    if (lg == NULL)
        return max_wait_ms;
    int64_t now = (int64_t)kumo__epoch_ms();
    if (t->sched == NULL) {
        if (lg->gen->project->nevents == 0)
            return max_wait_ms;
        kumo__gw_sched *s = calloc(1, sizeof(*s));
        if (s == NULL) {
            kumo__log_event("error", "the schedule events cannot start: out of memory");
            return max_wait_ms;
        }
        snprintf(s->dir, sizeof(s->dir), "%s/events", lg->gen->data_dir);
        /* DATA_DIR may not exist yet (no store made it). */
        if ((mkdir(lg->gen->data_dir, 0700) != 0 && errno != EEXIST) || (mkdir(s->dir, 0700) != 0 && errno != EEXIST))
            kumo__log_event("error", "cannot make %s (%s): schedule ticks cannot be recorded, so none is fired", s->dir,
                            strerror(errno));
        t->sched = s;
    }
    kumo__gw_sched *s = t->sched;
    if (s->gen != lg->gen)
        follow(s, lg->gen, now);
    int64_t wait = max_wait_ms;
    for (sched_event *ev = s->events; ev; ev = ev->next) {
        if (ev->decl == NULL || ev->next_ms < 0)
            continue;
        if (ev->next_ms <= now) {
            int64_t planned = ev->next_ms;
            /* Late (the loop was held up): the ticks between are not fired. */
            ev->next_ms = kumo__schedule_next(ev->decl->compiled, planned > now - 1 ? planned : now - 1);
            if (ev->running > 0 && !ev->decl->overlap) {
                char a[40], b[40], why[600];
                rfc3339_ms(planned, a, sizeof(a));
                rfc3339_ms(ev->running_planned, b, sizeof(b));
                kumo__logline l;
                kumo__logline_begin(&l, "warn", "event skipped", 13);
                kumo__logline_cstr(&l, "event", ev->name);
                kumo__logline_cstr(&l, "planned", a);
                kumo__logline_cstr(&l, "running", b);
                kumo__logline_cstr(&l, "reason", "the previous run is still going (overlap: false)");
                kumo__logline_write(&l, 2);
                if (write_last(s, ev->name, planned, why, sizeof(why)) == 0)
                    ev->last_ms = planned;
            } else {
                fire(t, ev, planned, NULL, NULL);
            }
            if (ev->next_ms < 0)
                continue;
        }
        if (ev->next_ms - now < wait)
            wait = ev->next_ms - now;
    }
    return wait < 0 ? 0 : (int)wait;
}

int kumo__gw_sched_fire(loop_thread *t, const char *name, size_t name_len, kumo__gw_fire_cb *cb, void *ctx, char *why,
                        size_t why_len)
{
    kumo__gw_sched *s = t->sched;
    if (s && t->live && s->gen != t->live->gen)
        follow(s, t->live->gen, (int64_t)kumo__epoch_ms());
    sched_event *ev = s && t->live ? s->events : NULL;
    while (ev && !(ev->decl && strlen(ev->name) == name_len && memcmp(ev->name, name, name_len) == 0))
        ev = ev->next;
    if (ev == NULL) {
        size_t n = (size_t)snprintf(why, why_len, "no schedule event '%.*s' in kumo.yaml; the events are:",
                                    (int)(name_len > 200 ? 200 : name_len), name);
        int any = 0;
        for (sched_event *e = s ? s->events : NULL; e && n < why_len; e = e->next)
            if (e->decl) {
                n += (size_t)snprintf(why + n, why_len - n, "%s %s", any ? "," : "", e->name);
                any = 1;
            }
        if (!any && n < why_len)
            snprintf(why + n, why_len - n, " none");
        return -ENOENT;
    }
    if (ev->running > 0 && !ev->decl->overlap) {
        char b[40];
        rfc3339_ms(ev->running_planned, b, sizeof(b));
        snprintf(why, why_len,
                 "a run of event %s (planned at %s) is still going and it has overlap: false; try again when it "
                 "is over",
                 ev->name, b);
        return -EBUSY;
    }
    fire(t, ev, (int64_t)kumo__epoch_ms(), cb, ctx);
    return 0;
}

void kumo__gw_sched_free(loop_thread *t)
{
    kumo__gw_sched *s = t->sched;
    if (s == NULL)
        return;
    while (s->events) {
        sched_event *ev = s->events;
        s->events = ev->next;
        event_free(ev);
    }
    free(s);
    t->sched = NULL;
}
