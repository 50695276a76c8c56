/*
 * consume.c: queue events consumed inside kumo-host http (KUMO_CONSUME=1,
 * which the kubernetes and knative targets set on the Deployment or
 * Service of a unit that handles a queue: event). Nothing on a cluster
 * pushes a kumo queue's messages, so the instance pulls them itself, as
 * kumo up's consumers do (src/gateway/consumer.c), from the same store
 * URL its handlers send to.
 *
 * One thread per queue event: it receives one message at a time (with
 * the event's visibility), calls the handler through the same mapping as
 * a pushed message (events.c: CloudEvents binary mode, ce-type
 * dev.kumo.queue.message, kumo-receive-count), then acks it on 2xx, or
 * nacks it with the event's backoff doubled per receive (at most 5
 * minutes); after max_receives the driver moves it to QUEUE-dead. The
 * call continues the trace the message carries (the sender's
 * traceparent). kumo-host runs one invocation at a time: the thread takes
 * h->call_lock, which the HTTP loop holds around each request too. With the queue empty it polls
 * every POLL_MS. SIGTERM: each thread ends after the message it holds;
 * one never acked comes back after its visibility (at least once).
 *
 * Several replicas may consume one queue (a message is hidden while one
 * handles it); an embedded SQLite queue is each instance's own, though,
 * so a cluster needs the queue placed on Redis, PostgreSQL or SQS.
 */
#include "host/host.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/store_var.h"

#define POLL_MS 25
#define RETRY_MS 1000
#define BACKOFF_CAP_MS (5u * 60 * 1000)

typedef struct host_consumer {
    kumo__host *h;
    const kumo__event_decl *e;
    pthread_t tid;
    int started;
} host_consumer;

struct kumo__host_consumers {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    host_consumer *c;
    size_t n;
};

/* Waits up to ms unless stopping; 1 when stopping. */
static int pause_ms(kumo__host_consumers *s, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
        ;
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static int stopping(kumo__host_consumers *s)
{
    pthread_mutex_lock(&s->lock);
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static void *consume(void *arg)
{
    host_consumer *c = arg;
    kumo__host *h = c->h;
    const kumo__event_decl *e = c->e;
    kumo__host_consumers *s = h->consumers;
    kumo__queue *q = NULL;
    kumo__arena arena;
    kumo__arena_init(&arena);
    int failing = 0;
    char var[160];
    kumo__store_var(e->queue, var, sizeof(var));
    while (!stopping(s)) {
        if (q == NULL) {
            kumo__error err = {0};
            kumo__store *opened = NULL;
            const char *url = getenv(var);
            int rc = url ? kumo__store_open(&kumo__queue_kind, url, e->queue, &opened, &err) : KUMO_ENOTFOUND;
            if (rc != 0) {
                if (!failing)
                    kumo__log_event("error", "event %s: cannot open queue %s (%s); retrying every %d ms", e->name,
                                    e->queue, url ? err.msg : "no URL", RETRY_MS);
                failing = 1;
                pause_ms(s, RETRY_MS);
                continue;
            }
            q = (kumo__queue *)opened;
            q->max_receives = e->max_receives;
            failing = 0;
        }
        kumo_queue_message m;
        size_t n = 0;
        int rc = q->driver->receive(q, &arena, 1, e->visibility_ms, &m, &n);
        if (rc != 0) {
            if (!failing)
                kumo__log_event("error", "event %s: cannot receive from queue %s (%s%s%s); retrying every %d ms",
                                e->name, e->queue, kumo_strerror(rc), q->error[0] ? ": " : "", q->error, RETRY_MS);
            failing = 1;
            kumo__arena_reset(&arena);
            pause_ms(s, RETRY_MS);
            continue;
        }
        failing = 0;
        if (n == 0) {
            kumo__arena_reset(&arena);
            pause_ms(s, POLL_MS);
            continue;
        }
        kumo__host_reply r;
        char request_id[80];
        pthread_mutex_lock(&h->call_lock);
        kumo__host_new_request_id(h, request_id, sizeof(request_id));
        kumo__host_deliver_message(h, e, m.id, m.body, m.len, m.receives, m.trace, request_id, &r);
        int status = r.status;
        char why[300];
        snprintf(why, sizeof(why), "%.*s", (int)(r.body_len < 250 ? r.body_len : 250), r.body ? r.body : "");
        kumo__host_reply_free(&r);
        pthread_mutex_unlock(&h->call_lock);
        if (status >= 200 && status < 300) {
            if ((rc = q->driver->ack(q, m.receipt)) != 0)
                kumo__log_event("warn",
                                "event %s: message %s was handled but cannot be acked (%s): it will be "
                                "delivered again",
                                e->name, m.id, kumo_strerror(rc));
        } else {
            uint64_t delay = e->backoff_ms;
            for (unsigned i = 1; i < m.receives && delay < BACKOFF_CAP_MS; i++)
                delay *= 2;
            if (delay > BACKOFF_CAP_MS)
                delay = BACKOFF_CAP_MS;
            if (m.receives >= e->max_receives) {
                kumo__log_event("warn",
                                "event %s: message %s failed on receive %u of max_receives %u (status %d%s%s); it "
                                "moves to the queue %s-dead",
                                e->name, m.id, m.receives, e->max_receives, status, why[0] ? ": " : "", why, e->queue);
                delay = 0;
            }
            if ((rc = q->driver->nack(q, m.receipt, delay)) != 0)
                kumo__log_event("warn",
                                "event %s: message %s cannot be put back (%s): it comes back after its "
                                "visibility",
                                e->name, m.id, kumo_strerror(rc));
        }
        kumo__arena_reset(&arena);
    }
    kumo__store_close(q ? &q->store : NULL);
    kumo__arena_free(&arena);
    return NULL;
}

int kumo__host_consumers_start(kumo__host *h, kumo__error *err)
{
    const kumo__project *p = h->project;
    kumo__host_consumers *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->c = calloc(p->nevents ? p->nevents : 1, sizeof(*s->c))) == NULL) {
        free(s);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    h->consumers = s;
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        if (e->kind != KUMO__EVENT_QUEUE || e->unit_index >= p->nunits || h->invokers[e->unit_index] == NULL)
            continue;
        host_consumer *c = &s->c[s->n++];
        c->h = h;
        c->e = e;
        if (pthread_create(&c->tid, NULL, consume, c) != 0) {
            kumo__error_set(err, -EAGAIN, "event %s: cannot start its consumer thread", e->name);
            s->n--;
            kumo__host_consumers_stop(h);
            return err->code;
        }
        c->started = 1;
        fprintf(stderr, "kumo-host: consuming queue %s for event %s\n", e->queue, e->name);
    }
    return 0;
}

void kumo__host_consumers_stop(kumo__host *h)
{
    kumo__host_consumers *s = h->consumers;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i].started)
            pthread_join(s->c[i].tid, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->c);
    free(s);
    h->consumers = NULL;
}
