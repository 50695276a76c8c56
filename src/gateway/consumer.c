/*
 * consumer.c: the queue events of kumo.yaml's `events:` (queue: NAME),
 * consumed under kumo up. A store call may block (SQLite takes a write
 * lock, a server is a network round trip), so none runs on an event loop:
 * each queue event of the live generation has a thread of its own that
 * opens the queue from the generation's store plan (its own handle, with
 * the event's max_receives), receives up to `batch` messages, and hands
 * each to loop 0 through a locked inbox and a wake-up pipe loop 0's h2o
 * loop watches. Loop 0 submits each message to the unit's pool as a
 * CloudEvents 1.0 binary-mode request (POST /NAME, ce-type
 * dev.kumo.queue.message, ce-id the message id, the body as is, and
 * kumo-receive-count), and the pool's answer goes back to the thread,
 * which acks it (2xx) or nacks it with the event's backoff (doubling from
 * backoff:, at most 5 minutes). A message that failed on its
 * max_receives-th receive is nacked at once and the driver moves it to
 * the queue NAME-dead on the next receive (sqlite_queue.c and the other
 * drivers); a warn line names the event, the message and the reason.
 *
 * At most `batch` messages of an event are in flight at a time; each is
 * one call (no JSON-array batches yet). With nothing ready the thread
 * waits on the queue's driver (its `wait`: woken by a send) for at most
 * WAIT_SLICE_MS, then receives again (messages coming due after a delay
 * wake nobody, and a stop must be seen); a driver without `wait` is
 * polled every POLL_MS. Each request carries ce-time (the message's send
 * time, else when it was received) and a fresh W3C traceparent.
 *
 * Stopping (a reload replaces the generation; SIGTERM drains): a stopped
 * consumer receives nothing more, waits for the answers of what it has in
 * flight and settles them, then closes its queue and ends. A message that
 * never reached a handler (in the inbox when the stop came) is nacked
 * without delay; one whose ack was never made comes back after its
 * visibility: at least once, never lost.
 */
#include "gateway/gateway_internal.h"

#include "sdk/sdk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 25
#define WAIT_SLICE_MS 100 /* a driver's wait is this long at most, so a stop is seen within it */
#define RETRY_OPEN_MS 1000
#define BACKOFF_CAP_MS (5u * 60 * 1000)
#define ERROR_MAX 512 /* bytes of a handler's error kept for the dead-letter line */

typedef struct consumer consumer;

/* One message on its way: received by its consumer's thread, submitted by
 * loop 0, answered by the pool on loop 0, settled (ack or nack) by the
 * thread. */
typedef struct qmsg {
    kumo__call call; /* first: the pool hands this pointer back */
    consumer *c;
    loop_thread *t;
    loop_gen *lg; /* counted in lg->users until the worker answers */
    char *id, *receipt, *body;
    size_t len;
    unsigned receives;
    int64_t sent_ms; /* ce-time: the driver's send time, else when it was received */
    int attempted;   /* 0: it never reached a handler (stopping): nacked at once */
    int status;
    char error[ERROR_MAX];
    uint64_t start_us;
    char request_id[48];
    struct qmsg *next;
} qmsg;

struct consumer {
    char *name;
    generation *gen; /* one reference: decl lives in it */
    const kumo__event_decl *decl;
    kumo__gw_consumers *owner;
    pthread_t tid;
    int started;
    pthread_mutex_t lock; /* guards stop, done, inflight */
    pthread_cond_t cond;
    int stop;
    qmsg *done; /* answered, to settle */
    size_t inflight;
    atomic_int finished;
    consumer *next;
};

struct kumo__gw_consumers {
    pthread_mutex_t lock; /* guards inbox, closed */
    qmsg *inbox, **tail;
    int closed;
    int wake[2]; /* a thread writes a byte; loop 0's h2o socket on wake[0] reads it */
    h2o_socket_t *wake_sock;
    const generation *gen; /* the generation the consumers were started for */
    int stopping;
    consumer *list;
};

static void wake_loop(kumo__gw_consumers *s)
{
    char b = 1;
    ssize_t n = write(s->wake[1], &b, 1); /* full pipe (EAGAIN): loop 0 is awake already */
    (void)n;
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_buffer_consume(&sock->input, sock->input->size);
}

static void msg_free(qmsg *m)
{
    if (m == NULL)
        return;
    free(m->id);
    free(m->receipt);
    free(m->body);
    free(m);
}

/* Back to the thread that received it (from loop 0). */
static void msg_return(qmsg *m)
{
    consumer *c = m->c;
    pthread_mutex_lock(&c->lock);
    m->next = c->done;
    c->done = m;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void sleep_locked(consumer *c, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

/* Ack or nack one answered message (on the consumer's thread). */
static void settle(consumer *c, kumo__queue *q, qmsg *m)
{
    const kumo__event_decl *d = c->decl;
    int rc;
    if (m->attempted && m->status >= 200 && m->status < 300) {
        if ((rc = q->driver->ack(q, m->receipt)) != 0)
            kumo__log_event("warn",
                            "event %s: message %s was handled but cannot be acked (%s%s%s): it will be delivered "
                            "again",
                            c->name, m->id, kumo_strerror(rc), q->error[0] ? ": " : "", q->error);
        goto out;
    }
    uint64_t delay = 0;
    if (m->attempted && m->receives >= d->max_receives) {
        char count[32];
        snprintf(count, sizeof(count), "%u", m->receives);
        kumo__logline l;
        kumo__logline_begin(&l, "warn", "event dead-lettered", 19);
        kumo__logline_cstr(&l, "event", c->name);
        kumo__logline_cstr(&l, "message_id", m->id);
        kumo__logline_int(&l, "receive_count", m->receives);
        kumo__logline_int(&l, "status", m->status);
        char reason[ERROR_MAX + 160];
        snprintf(reason, sizeof(reason), "failed on receive %s of max_receives %u%s%s; it moves to the queue %s-dead",
                 count, d->max_receives, m->error[0] ? ": " : "", m->error, d->queue);
        kumo__logline_cstr(&l, "reason", reason);
        kumo__logline_write(&l, 2);
    } else if (m->attempted) {
        delay = d->backoff_ms;
        for (unsigned i = 1; i < m->receives && delay < BACKOFF_CAP_MS; i++)
            delay *= 2;
        if (delay > BACKOFF_CAP_MS)
            delay = BACKOFF_CAP_MS;
    }
    if ((rc = q->driver->nack(q, m->receipt, delay)) != 0)
        kumo__log_event("warn", "event %s: message %s cannot be put back (%s%s%s): it comes back after its visibility",
                        c->name, m->id, kumo_strerror(rc), q->error[0] ? ": " : "", q->error);
out:
    msg_free(m);
}

/* Hands received messages to loop 0; when the inbox is closed (kumo is
 * stopping) the thread puts them back itself. Returns how many went. */
static size_t hand_over(consumer *c, kumo__queue *q, const kumo_queue_message *in, size_t n)
{
    kumo__gw_consumers *s = c->owner;
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        qmsg *m = calloc(1, sizeof(*m));
        if (m == NULL || (m->id = strdup(in[i].id ? in[i].id : "")) == NULL ||
            (m->receipt = strdup(in[i].receipt)) == NULL || (m->body = malloc(in[i].len + 1)) == NULL) {
            msg_free(m);
            kumo__log_event("error", "event %s: out of memory; message %s goes back to the queue", c->name,
                            in[i].id ? in[i].id : "?");
            q->driver->nack(q, in[i].receipt, 0);
            continue;
        }
        memcpy(m->body, in[i].body, in[i].len);
        m->body[in[i].len] = '\0';
        m->len = in[i].len;
        m->receives = in[i].receives;
        m->sent_ms = in[i].sent_ms > 0 ? in[i].sent_ms : (int64_t)kumo__epoch_ms(); /* else the receive time */
        m->c = c;
        pthread_mutex_lock(&s->lock);
        int closed = s->closed;
        if (!closed) {
            *s->tail = m;
            s->tail = &m->next;
        }
        pthread_mutex_unlock(&s->lock);
        if (closed) {
            q->driver->nack(q, m->receipt, 0);
            msg_free(m);
            continue;
        }
        sent++;
    }
    if (sent)
        wake_loop(s);
    return sent;
}

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    const kumo__event_decl *d = c->decl;
    kumo__queue *q = NULL;
    kumo__arena arena;
    kumo_queue_message got[100];
    int failing = 0, wait_failed = 0;
    kumo__arena_init(&arena);
    const kumo__store_place *place = kumo__store_plan_find(&c->gen->stores, d->queue);

    pthread_mutex_lock(&c->lock);
    while (1) {
        while (c->done) {
            qmsg *m = c->done;
            c->done = m->next;
            pthread_mutex_unlock(&c->lock);
            settle(c, q, m);
            pthread_mutex_lock(&c->lock);
            c->inflight--;
        }
        if (c->stop) {
            if (c->inflight == 0)
                break;
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        if (c->inflight >= d->batch) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        size_t want = d->batch - c->inflight;
        pthread_mutex_unlock(&c->lock);
        size_t n = 0;
        int rc = 0;
        if (q == NULL) {
            kumo__error err = {0};
            kumo__store *opened = NULL;
            rc = place ? kumo__store_open(&kumo__queue_kind, place->url, d->queue, &opened, &err) : KUMO_ENOTFOUND;
            if (rc == 0) {
                q = (kumo__queue *)opened;
                q->max_receives = d->max_receives;
                if (failing)
                    kumo__log_event("info", "event %s: queue %s is open again", c->name, d->queue);
                failing = 0;
            } else if (!failing) {
                failing = 1;
                kumo__log_event("error", "event %s: cannot open queue %s (%s): %s; retrying every %d ms", c->name,
                                d->queue, place ? place->shown : "not in the store plan", err.msg, RETRY_OPEN_MS);
            }
        }
        if (q) {
            rc = q->driver->receive(q, &arena, want, d->visibility_ms, got, &n);
            if (rc != 0 && !failing) {
                failing = 1;
                kumo__log_event("error", "event %s: cannot receive from queue %s (%s%s%s); retrying every %d ms",
                                c->name, d->queue, kumo_strerror(rc), q->error[0] ? ": " : "", q->error, RETRY_OPEN_MS);
            } else if (rc == 0 && failing) {
                failing = 0;
                kumo__log_event("info", "event %s: queue %s answers again", c->name, d->queue);
            }
        }
        size_t sent = rc == 0 ? hand_over(c, q, got, n) : 0;
        kumo__arena_reset(&arena);
        pthread_mutex_lock(&c->lock);
        c->inflight += sent;
        if (c->stop || c->done)
            continue;
        if (rc != 0)
            sleep_locked(c, RETRY_OPEN_MS);
        else if (n == 0 && q->driver->wait) {
            /* No polling interval: the driver returns when a send may have
             * come (or after the slice, for delayed messages coming due and
             * to see a stop). A failed wait falls back to polling once. */
            pthread_mutex_unlock(&c->lock);
            int wrc = q->driver->wait(q, WAIT_SLICE_MS);
            pthread_mutex_lock(&c->lock);
            if (wrc != 0 && !c->stop && !c->done) {
                if (!wait_failed)
                    kumo__log_event("warn", "event %s: cannot wait on queue %s (%s%s%s); polling every %d ms", c->name,
                                    d->queue, kumo_strerror(wrc), q->error[0] ? ": " : "", q->error, POLL_MS);
                wait_failed = 1;
                sleep_locked(c, POLL_MS);
            }
        } else if (n == 0)
            sleep_locked(c, POLL_MS);
    }
    pthread_mutex_unlock(&c->lock);
    kumo__store_close(q ? &q->store : NULL);
    kumo__arena_free(&arena);
    atomic_store(&c->finished, 1);
    wake_loop(c->owner);
    return NULL;
}

static void consumer_stop(consumer *c)
{
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void consumer_free(consumer *c)
{
    if (c->started)
        pthread_join(c->tid, NULL);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    kumo__gw_generation_release(c->gen);
    free(c->name);
    free(c);
}

static void consumer_start(kumo__gw_consumers *s, generation *g, const kumo__event_decl *d)
{
    consumer *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->name = strdup(d->name)) == NULL) {
        free(c);
        kumo__log_event("error", "event %s: out of memory; its queue is not consumed", d->name);
        return;
    }
    c->decl = d;
    c->owner = s;
    atomic_fetch_add(&g->refs, 1);
    c->gen = g;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&c->tid, NULL, consumer_main, c);
    if (rc != 0) {
        kumo__log_event("error", "event %s: cannot start its consumer thread (%s); its queue is not consumed", d->name,
                        strerror(rc));
        consumer_free(c);
        return;
    }
    c->started = 1;
    c->next = s->list;
    s->list = c;
}

static void msg_log(const qmsg *m, int status, const char *error, size_t error_len)
{
    kumo__logline l;
    kumo__logline_begin(&l, status < 500 ? "info" : status == 503 ? "warn" : "error", "event", 5);
    kumo__logline_cstr(&l, "event", m->c->name);
    kumo__logline_cstr(&l, "request_id", m->request_id);
    kumo__logline_cstr(&l, "message_id", m->id);
    kumo__logline_int(&l, "status", status);
    kumo__logline_int(&l, "duration_us", (long long)(kumo__mono_us() - m->start_us));
    kumo__logline_int(&l, "receive_count", m->receives);
    if (m->call.worker_pid > 0)
        kumo__logline_int(&l, "worker_pid", m->call.worker_pid);
    if (error)
        kumo__logline_str(&l, "error", error, error_len);
    kumo__logline_write(&l, 2);
}

static void answered(qmsg *m, int status, const char *error, size_t error_len)
{
    m->attempted = 1;
    m->status = status;
    if (error)
        snprintf(m->error, sizeof(m->error), "%.*s", (int)(error_len < ERROR_MAX ? error_len : ERROR_MAX - 1), error);
    msg_log(m, status, error, error_len);
}

static void on_msg_done(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    qmsg *m = (qmsg *)call;
    const char *error;
    size_t error_len;
    m->t->inflight--;
    /* not 2xx is a failed try: a 3xx body says why as much as a 4xx one */
    int status = kumo__gw_event_outcome(result, payload, len, 300, &error, &error_len);
    answered(m, status, error, error_len);
    if (m->lg->pools && m->lg->pools[m->c->decl->unit_index])
        kumo__pool_record(m->lg->pools[m->c->decl->unit_index], kumo__mono_us() - m->start_us, status >= 500,
                          kumo__mono_ms());
    m->lg->users--;
    kumo__frame_writer_free(&m->call.frame);
    msg_return(m);
}

/* The loop_gen of this loop that serves generation g, or NULL. */
static loop_gen *find_lg(loop_thread *t, const generation *g)
{
    if (t->live && t->live->gen == g)
        return t->live;
    for (loop_gen *lg = t->retired; lg; lg = lg->next)
        if (lg->gen == g)
            return lg;
    return NULL;
}

/* ce-time: RFC 3339 in UTC with milliseconds, "2026-12-05T03:46:26.123Z". */
static void ce_time(uint64_t epoch_ms, char *out, size_t len)
{
    char us[KUMO__RFC3339_LEN];
    size_t n = kumo__rfc3339(epoch_ms * 1000, us, sizeof(us));
    snprintf(out, len, "%.*sZ", n > 7 ? (int)(n - 4) : 0, us); /* drops the last 3 digits of microseconds */
}

/* traceparent (W3C Trace Context): a fresh trace for each delivery,
 * "00-<32 hex trace id>-<16 hex parent id>-01". */
static void traceparent(char out[56])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[24] = {0};
    if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
        uint64_t t = kumo__mono_us() ^ ((uint64_t)getpid() << 40);
        for (size_t i = 0; i < sizeof(b); i++, t = t * 6364136223846793005u + 1442695040888963407u)
            b[i] = (unsigned char)(t >> 56);
    }
    b[0] |= 1; /* an all-zero trace id or parent id is invalid */
    b[16] |= 1;
    char *p = out;
    memcpy(p, "00-", 3), p += 3;
    for (size_t i = 0; i < 24; i++) {
        if (i == 16)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    memcpy(p, "-01", 4);
}

/* Submits m to its unit's pool on loop 0 (or hands it back untried). */
static void submit(loop_thread *t, qmsg *m)
{
    consumer *c = m->c;
    const kumo__event_decl *d = c->decl;
    loop_gen *lg = find_lg(t, c->gen);
    char why[600], source[512], count[16], path[300], when[40], trace[56];
    if (lg == NULL || lg->pools == NULL || lg->pools[d->unit_index] == NULL) {
        msg_return(m); /* its generation's pools are gone: untried, back to the queue at once */
        return;
    }
    const kumo__project *p = c->gen->project;
    m->t = t;
    m->lg = lg;
    m->start_us = kumo__mono_us();
    snprintf(m->request_id, sizeof(m->request_id), "%s-%d-%08x", t->gw->id_prefix, t->index, ++t->seq);
    snprintf(source, sizeof(source), "/kumo/%s/queues/%s", p->name ? p->name : "", d->queue);
    snprintf(count, sizeof(count), "%u", m->receives);
    snprintf(path, sizeof(path), "/%s", c->name);
    ce_time((uint64_t)m->sent_ms, when, sizeof(when));
    traceparent(trace);
#define HV(n, v)                                                                                                       \
    {                                                                                                                  \
        {n, sizeof(n) - 1},                                                                                            \
        {                                                                                                              \
            v, strlen(v)                                                                                               \
        }                                                                                                              \
    }
    const kumo__header_view headers[] = {
        HV("ce-specversion", "1.0"),     HV("ce-id", m->id),
        HV("ce-source", source),         HV("ce-type", "dev.kumo.queue.message"),
        HV("ce-subject", c->name),       HV("ce-time", when),
        HV("traceparent", trace),        HV("content-type", "application/octet-stream"),
        HV("kumo-receive-count", count),
    };
#undef HV
    const kumo__tuning *tuning = &p->units[d->unit_index].tuning;
    uint64_t timeout_ms = (uint64_t)(tuning->timeout_s * 1000.0);
    if (kumo__dispatch_event(d->symbol, path, m->request_id, headers, sizeof(headers) / sizeof(headers[0]),
                             (kumo__slice){m->body, m->len}, kumo__epoch_ms(), timeout_ms, &m->call.frame) != 0) {
        static const char big[] = "the event's request is larger than the frame limit";
        answered(m, 500, big, sizeof(big) - 1);
        msg_return(m);
        return;
    }
    m->call.cb = on_msg_done;
    m->call.deadline_ms = timeout_ms ? kumo__mono_ms() + timeout_ms : 0;
    int rc = kumo__pool_submit(lg->pools[d->unit_index], &m->call, why, sizeof(why));
    if (rc != 0) {
        kumo__frame_writer_free(&m->call.frame);
        answered(m, rc == -EBUSY ? 429 : 503, why, strlen(why));
        msg_return(m);
        return;
    }
    t->inflight++;
    lg->users++;
}

static int has_queue_events(const generation *g)
{
    for (size_t i = 0; i < g->project->nevents; i++)
        if (g->project->events[i].kind == KUMO__EVENT_QUEUE)
            return 1;
    return 0;
}

void kumo__gw_consumers_run(loop_thread *t)
{
    loop_gen *live = t->live;
    kumo__gw_consumers *s = t->consumers;
    int draining = atomic_load(&t->gw->draining);
    if (s == NULL) {
        if (live == NULL || draining || !has_queue_events(live->gen))
            return;
        if ((s = calloc(1, sizeof(*s))) == NULL) {
            kumo__log_event("error", "the queue events cannot start: out of memory");
            return;
        }
        s->wake[0] = s->wake[1] = -1;
        if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0 ||
            (s->wake_sock = h2o_evloop_socket_create(t->loop, s->wake[0], 0)) == NULL) {
            kumo__log_event("error", "the queue events cannot start: no wake-up pipe (%s)", strerror(errno));
            if (s->wake[0] >= 0)
                close(s->wake[0]), close(s->wake[1]);
            free(s);
            return;
        }
        pthread_mutex_init(&s->lock, NULL);
        s->tail = &s->inbox;
        h2o_socket_read_start(s->wake_sock, on_wake);
        t->consumers = s;
    }
    /* Follow the live generation: the consumers of the old one stop
     * (finishing what they have in flight), the new one's start. */
    if (!draining && live && s->gen != live->gen) {
        size_t n = 0;
        for (consumer *c = s->list; c; c = c->next)
            consumer_stop(c);
        for (size_t i = 0; i < live->gen->project->nevents; i++) {
            const kumo__event_decl *d = &live->gen->project->events[i];
            if (d->kind == KUMO__EVENT_QUEUE) {
                consumer_start(s, live->gen, d);
                n++;
            }
        }
        if (s->gen)
            kumo__log_event("info", "generation %lu: %zu queue consumer%s restarted", live->gen->number, n,
                            n == 1 ? "" : "s");
        s->gen = live->gen;
    }
    if (draining && !s->stopping) {
        s->stopping = 1;
        for (consumer *c = s->list; c; c = c->next)
            consumer_stop(c);
    }
    pthread_mutex_lock(&s->lock);
    qmsg *in = s->inbox;
    s->inbox = NULL;
    s->tail = &s->inbox;
    pthread_mutex_unlock(&s->lock);
    while (in) {
        qmsg *m = in;
        in = m->next;
        m->next = NULL;
        int stopped;
        pthread_mutex_lock(&m->c->lock);
        stopped = m->c->stop;
        pthread_mutex_unlock(&m->c->lock);
        if (stopped)
            msg_return(m);
        else
            submit(t, m);
    }
    for (consumer **pp = &s->list; *pp;) {
        consumer *c = *pp;
        if (atomic_load(&c->finished)) {
            *pp = c->next;
            consumer_free(c);
        } else {
            pp = &c->next;
        }
    }
}

void kumo__gw_consumers_free(loop_thread *t)
{
    kumo__gw_consumers *s = t->consumers;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->closed = 1;
    qmsg *in = s->inbox;
    s->inbox = NULL;
    s->tail = &s->inbox;
    pthread_mutex_unlock(&s->lock);
    for (consumer *c = s->list; c; c = c->next)
        consumer_stop(c);
    while (in) {
        qmsg *m = in;
        in = m->next;
        msg_return(m);
    }
    while (s->list) {
        consumer *c = s->list;
        s->list = c->next;
        consumer_free(c);
    }
    h2o_socket_read_stop(s->wake_sock);
    h2o_socket_close(s->wake_sock); /* closes wake[0] */
    close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
    t->consumers = NULL;
}
