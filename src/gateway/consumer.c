/*
 * consumer.c: the queue events of kumo.yaml's `events:` (queue: NAME),
 * consumed under kumo up. A store call may block (SQLite takes a write
 * lock, a server is a network round trip), so none runs on an event loop:
 * each queue event of the live generation has a thread of its own that
 * opens the queue from the generation's store plan (its own handle, with
 * the event's max_receives), receives messages into calls of up to `batch`
 * messages, and hands each call to an event loop through that loop's
 * outlet (a locked inbox and a wake-up pipe its h2o loop watches). The
 * loop submits the call to its pool of the unit, and the pool's answer
 * goes back to the thread, which
 * settles every message of the call: ack, or nack with the event's backoff
 * (doubling from backoff:, at most 5 minutes). A message that failed on
 * its max_receives-th receive is nacked at once and the driver moves it to
 * the queue NAME-dead on the next receive (sqlite_queue.c and the other
 * drivers); a warn line names the event, the message and the reason.
 *
 * The request (EVENTS2.md, "CloudEvents requests"): with batch: 1, one
 * message in CloudEvents 1.0 binary mode (POST /NAME, ce-* headers,
 * kumo-receive-count, the body as is); with batch > 1, always batch mode
 * (content-type application/cloudevents-batch+json, kumo-batch-size, a
 * JSON array of structured events, each with `data` when the message is
 * a JSON value other than a string, else `data_base64`), built on the
 * consumer's thread, not on the loop.
 *
 * Settling (Lambda's ReportBatchItemFailures, on purpose): a 2xx answer
 * acks every message, unless its body is {"batchItemFailures":
 * [{"itemIdentifier": ID}, ...]}: then only those failed. An identifier
 * that is not in the call, or an item without one, fails the whole call,
 * with a warn line. A non-2xx status, a non-zero return, a crash, a
 * timeout or a pool that refuses the call fail every message of it.
 *
 * Concurrency: up to the unit's `max` calls in flight, each of up to
 * `batch` messages; while that leaves room the thread receives again at
 * once, so the consumer follows the queue's depth within `max`, and with
 * the queue empty it holds no call (the pools scale to zero by their idle
 * rule). Each loop's pool holds its share of max (loop.c splits it), so a
 * call goes to the ready loop with the most room left in its share. Loop
 * 0 owns the consumers and every loop's outlet; another loop watches its
 * outlet once it sees them (kumo__gw_consumers_serve) and closes it when
 * it leaves its event loop, before the loops' stop barrier, after which
 * loop 0 joins the threads and frees the outlets.
 *
 * window: > 0 keeps a call open until it has `batch` messages or
 * the window (counted from its first message) has passed, receiving again
 * meanwhile; window 0 sends what one receive gave. With nothing ready the
 * thread waits on the queue's driver (its `wait`: woken by a send) for at
 * most WAIT_SLICE_MS (or what is left of a window), then receives again:
 * messages coming due after a delay wake nobody, and a stop must be seen.
 * A driver without `wait` is polled every POLL_MS. ce-time is the
 * message's send time when the driver gives it, else when it was received.
 *
 * A topic event (topics.c) is consumed the same way: its queue is its
 * subscription's, TOPIC.EVENT, opened through the topic's driver; its
 * events say dev.kumo.topic.message and come from /kumo/PROJECT/topics/TOPIC.
 *
 * Stopping (a reload replaces the generation; SIGTERM drains): a stopped
 * consumer receives nothing more, waits for the answers of what it has in
 * flight and settles them, then closes its queue and ends. A message that
 * never reached a handler (in a call being filled, or in the inbox when
 * the stop came) is nacked without delay; one whose ack was never made
 * comes back after its visibility: at least once, never lost.
 */
#include "gateway/gateway_internal.h"

#include "base/growbuf.h"
#include "proto/frame.h"
#include "sdk/sdk.h"
#include "sdk/stores/aws.h" /* kumo__aws_b64_encode */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 25
#define WAIT_SLICE_MS 100 /* a driver's wait is this long at most, so a stop is seen within it */
#define RETRY_OPEN_MS 1000
#define BACKOFF_CAP_MS (5u * 60 * 1000)
#define ERROR_MAX 512 /* bytes of a handler's error kept for the dead-letter line */

typedef struct consumer consumer;

/* One received message of a call. */
typedef struct qmsg {
    char *id, *receipt, *body;
    char *trace; /* the sender's traceparent, or NULL */
    size_t len;
    unsigned receives;
    uint64_t received_ms; /* epoch ms: its ce-time: the send time the driver gave, else when it was received */
    int failed;           /* settled as failed (the whole call, or in batchItemFailures) */
} qmsg;

/* One call of the handler, with the messages it carries: filled and built
 * by its consumer's thread, submitted by an event loop, answered by the
 * pool on that loop, settled (each message acked or nacked) by the thread. */
typedef struct qcall {
    kumo__call call; /* first: the pool hands this pointer back */
    consumer *c;
    loop_thread *t;
    loop_gen *lg; /* counted in lg->users until the worker answers */
    qmsg *msgs;
    size_t n;
    char *batch_body; /* batch mode: the JSON array (malloc'd); binary mode: NULL (msgs[0].body) */
    size_t batch_len;
    int attempted; /* 0: it never reached a handler (stopping): nacked at once */
    int status;
    char error[ERROR_MAX];
    char *answer; /* a 2xx answer's body that may be batchItemFailures (malloc'd), or NULL */
    size_t answer_len;
    int worker_pid;
    int loop; /* the event loop it was handed to */
    uint64_t start_us, duration_us;
    char request_id[48];
    kumo__span_ctx span; /* its trace (tracing.c): the first message's, else a new one */
    const char **links;  /* a batch: the other messages' traceparents, linked from its span (malloc'd) */
    struct qcall *next;
} qcall;

struct consumer {
    char *name;
    generation *gen; /* one reference: decl lives in it */
    const kumo__event_decl *decl;
    kumo__gw_consumers *owner;
    size_t max_calls;         /* the unit's max: calls in flight at most */
    size_t *loop_share;       /* per loop: its pool's share of max (as loop.c splits it) */
    size_t *loop_inflight;    /* per loop: calls handed to it and not settled (the thread's own) */
    const kumo__schema *data; /* the event's data: schema, or NULL */
    pthread_t tid;
    int started;
    pthread_mutex_t lock; /* guards stop, done, inflight */
    pthread_cond_t cond;
    int stop;
    qcall *done;     /* answered, to settle */
    size_t inflight; /* calls handed to the loops and not settled */
    atomic_int finished;
    kumo__gw_event_stats *stats; /* admin.c: kumo events' figures */
    consumer *next;
};

/* Where consumer threads hand calls to one event loop: an inbox and a
 * wake-up pipe the loop's h2o socket watches. Made by loop 0 for every
 * loop; a loop takes calls once it watches its pipe (ready), and closes
 * its outlet when it leaves its event loop (before the loops' stop
 * barrier, so loop 0 frees them all after it). */
typedef struct outlet {
    pthread_mutex_t lock; /* guards inbox, ready, closed, and writes to wake[1] */
    qcall *inbox, **tail;
    int ready, closed;
    int wake[2];
    h2o_socket_t *sock; /* its loop's, on wake[0] */
} outlet;

struct kumo__gw_consumers {
    outlet *outlets; /* one per event loop */
    int nloops;
    const generation *gen; /* the generation the consumers were started for */
    int stopping;
    consumer *list;
};

/* Wakes the outlet's loop; the caller holds o->lock (so the pipe is open). */
static void wake_loop(outlet *o)
{
    char b = 1;
    ssize_t n = write(o->wake[1], &b, 1); /* full pipe (EAGAIN): the loop is awake already */
    (void)n;
}

/* Puts k in o's inbox and wakes its loop: 0, or -1 when the loop no
 * longer takes calls. */
static int outlet_put(outlet *o, qcall *k)
{
    int rc = -1;
    pthread_mutex_lock(&o->lock);
    if (!o->closed) {
        k->next = NULL;
        *o->tail = k;
        o->tail = &k->next;
        wake_loop(o);
        rc = 0;
    }
    pthread_mutex_unlock(&o->lock);
    return rc;
}

/* Takes o's inbox (NULL when empty). */
static qcall *outlet_take(outlet *o)
{
    pthread_mutex_lock(&o->lock);
    qcall *in = o->inbox;
    o->inbox = NULL;
    o->tail = &o->inbox;
    pthread_mutex_unlock(&o->lock);
    return in;
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_buffer_consume(&sock->input, sock->input->size);
}

static void call_free(qcall *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n; i++) {
        free(k->msgs[i].id);
        free(k->msgs[i].receipt);
        free(k->msgs[i].body);
        free(k->msgs[i].trace);
    }
    free(k->msgs);
    free(k->links);
    free(k->batch_body);
    free(k->answer);
    free(k);
}

/* Back to the thread that received it (from an event loop). */
static void call_return(qcall *k)
{
    consumer *c = k->c;
    pthread_mutex_lock(&c->lock);
    k->next = c->done;
    c->done = k;
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

/* ---- settling ------------------------------------------------------------ */

/* Reads a 2xx answer: marks the messages it lists in batchItemFailures.
 * Returns how many failed, or -1 when the list names what the call does
 * not hold (or an item without an identifier): then the whole call
 * failed, and why is in `why`. An answer that is not that shape fails
 * nothing. */
static long read_failures(qcall *k, char *why, size_t why_len)
{
    json_t *doc = k->answer ? json_loadb(k->answer, k->answer_len, 0, NULL) : NULL;
    json_t *list = json_object_get(doc, "batchItemFailures");
    long failed = 0;
    if (!json_is_array(list))
        goto out;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "itemIdentifier"));
        size_t j = 0;
        if (id == NULL || *id == '\0') {
            snprintf(why, why_len, "batchItemFailures[%zu] has no itemIdentifier", i);
            failed = -1;
            goto out;
        }
        while (j < k->n && strcmp(k->msgs[j].id, id) != 0)
            j++;
        if (j == k->n) {
            snprintf(why, why_len, "batchItemFailures names '%.100s', which is not a message of this call", id);
            failed = -1;
            goto out;
        }
        if (!k->msgs[j].failed) {
            k->msgs[j].failed = 1;
            failed++;
        }
    }
out:
    if (failed < 0)
        for (size_t j = 0; j < k->n; j++)
            k->msgs[j].failed = 1;
    json_decref(doc);
    return failed;
}

/* The call's "event" line, written when it is settled. */
static void call_log(const qcall *k, size_t failed)
{
    kumo__logline l;
    int status = k->status;
    kumo__logline_begin(&l, status < 500 ? "info" : status == 503 ? "warn" : "error", "event", 5);
    kumo__logline_cstr(&l, "event", k->c->name);
    kumo__logline_cstr(&l, "request_id", k->request_id);
    if (k->n == 1) {
        kumo__logline_cstr(&l, "message_id", k->msgs[0].id);
        kumo__logline_int(&l, "receive_count", k->msgs[0].receives);
    }
    kumo__logline_int(&l, "status", status);
    kumo__logline_int(&l, "duration_us", (long long)k->duration_us);
    kumo__logline_int(&l, "batch_size", (long long)k->n);
    kumo__logline_int(&l, "failed", (long long)failed);
    if (k->worker_pid > 0)
        kumo__logline_int(&l, "worker_pid", k->worker_pid);
    if (k->error[0])
        kumo__logline_cstr(&l, "error", k->error);
    kumo__logline_write(&l, 2);
}

/* Ack or nack one message of a settled call (on the consumer's thread). */
static void settle_msg(consumer *c, kumo__queue *q, const qcall *k, const qmsg *m)
{
    const kumo__event_decl *d = c->decl;
    int rc;
    /* a message a 2xx call reported in batchItemFailures counts as a 500 */
    int status = m->failed && k->status >= 200 && k->status < 300 ? 500 : k->status;
    kumo__gw_event_settled(c->stats, m->id, k->attempted, status, m->receives >= d->max_receives, k->request_id,
                           k->error);
    if (k->attempted && !m->failed) {
        if ((rc = q->driver->ack(q, m->receipt)) != 0)
            kumo__log_event("warn",
                            "event %s: message %s was handled but cannot be acked (%s%s%s): it will be delivered "
                            "again",
                            c->name, m->id, kumo_strerror(rc), q->error[0] ? ": " : "", q->error);
        return;
    }
    uint64_t delay = 0;
    if (k->attempted && m->receives >= d->max_receives) {
        char count[32];
        snprintf(count, sizeof(count), "%u", m->receives);
        kumo__logline l;
        kumo__logline_begin(&l, "warn", "event dead-lettered", 19);
        kumo__logline_cstr(&l, "event", c->name);
        kumo__logline_cstr(&l, "message_id", m->id);
        kumo__logline_int(&l, "receive_count", m->receives);
        kumo__logline_int(&l, "status", k->status);
        kumo__logline_cstr(&l, "request_id", k->request_id);
        char reason[ERROR_MAX + 160];
        snprintf(reason, sizeof(reason), "failed on receive %s of max_receives %u%s%s; it moves to the queue %s-dead",
                 count, d->max_receives, k->error[0] ? ": " : "", k->error, d->queue);
        kumo__logline_cstr(&l, "reason", reason);
        kumo__logline_write(&l, 2);
    } else if (k->attempted) {
        delay = d->backoff_ms;
        for (unsigned i = 1; i < m->receives && delay < BACKOFF_CAP_MS; i++)
            delay *= 2;
        if (delay > BACKOFF_CAP_MS)
            delay = BACKOFF_CAP_MS;
    }
    if ((rc = q->driver->nack(q, m->receipt, delay)) != 0)
        kumo__log_event("warn", "event %s: message %s cannot be put back (%s%s%s): it comes back after its visibility",
                        c->name, m->id, kumo_strerror(rc), q->error[0] ? ": " : "", q->error);
}

/* Settles every message of an answered (or untried) call, then frees it. */
static void settle(consumer *c, kumo__queue *q, qcall *k)
{
    size_t failed = 0;
    if (k->attempted) {
        if (k->status >= 200 && k->status < 300) {
            char why[200] = "";
            long f = read_failures(k, why, sizeof(why));
            if (f < 0) {
                kumo__log_event("warn",
                                "event %s: call %s answered %d but %s: every message of the call failed (as Lambda "
                                "does)",
                                c->name, k->request_id, k->status, why);
                snprintf(k->error, sizeof(k->error), "%s", why);
                failed = k->n;
            } else if (f > 0) {
                failed = (size_t)f;
                snprintf(k->error, sizeof(k->error), "the handler reported it failed (batchItemFailures)");
            }
        } else {
            for (size_t i = 0; i < k->n; i++)
                k->msgs[i].failed = 1;
            failed = k->n;
        }
        call_log(k, failed);
    }
    for (size_t i = 0; i < k->n; i++)
        settle_msg(c, q, k, &k->msgs[i]);
    call_free(k);
}

/* ---- building a call ------------------------------------------------------ */

static void rfc3339_ms(uint64_t ms, char *out, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* Appends s as a JSON string. 0, or -1 (out of memory, over the ceiling). */
static int add_string(kumo__growbuf *b, const char *s)
{
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    int rc = text ? kumo__growbuf_add(b, text, strlen(text)) : -1;
    free(text);
    json_decref(j);
    return rc;
}

#define ADD(lit) kumo__growbuf_add(&b, lit, sizeof(lit) - 1)

/* The CloudEvents source of c's messages into buf, and their type. */
static const char *event_source(const consumer *c, char *buf, size_t len)
{
    const kumo__event_decl *d = c->decl;
    const char *project = c->gen->project->name ? c->gen->project->name : "";
    if (d->kind == KUMO__EVENT_TOPIC) {
        snprintf(buf, len, "/kumo/%s/topics/%s", project, d->topic);
        return "dev.kumo.topic.message";
    }
    snprintf(buf, len, "/kumo/%s/queues/%s", project, d->queue);
    return "dev.kumo.queue.message";
}

/* The body of a batch-mode call: a JSON array of structured events. A
 * message that is a JSON value (valid UTF-8; not a bare string, whose
 * bytes a reader would take for its text) goes in as `data`, byte for
 * byte; any other as `data_base64`. 0, or -1 out of memory. */
static int build_batch(const consumer *c, qcall *k)
{
    kumo__growbuf b = {.max = KUMO__FRAME_MAX};
    char source[512], when[40], count[16];
    const char *type = event_source(c, source, sizeof(source));
    int err = ADD("[");
    for (size_t i = 0; i < k->n && !err; i++) {
        const qmsg *m = &k->msgs[i];
        rfc3339_ms(m->received_ms, when, sizeof(when));
        snprintf(count, sizeof(count), "%u", m->receives);
        if (i)
            err |= ADD(",");
        err |= ADD("{\"specversion\":\"1.0\",\"id\":");
        err |= add_string(&b, m->id);
        err |= ADD(",\"source\":");
        err |= add_string(&b, source);
        err |= ADD(",\"type\":");
        err |= add_string(&b, type);
        err |= ADD(",\"time\":\"");
        err |= kumo__growbuf_add(&b, when, strlen(when));
        err |= ADD("\",\"subject\":");
        err |= add_string(&b, c->name);
        err |= ADD(",\"datacontenttype\":\"application/octet-stream\",\"kumoreceivecount\":");
        err |= kumo__growbuf_add(&b, count, strlen(count));
        json_t *parsed = m->len ? json_loadb(m->body, m->len, JSON_DECODE_ANY, NULL) : NULL;
        int as_json = parsed && !json_is_string(parsed);
        json_decref(parsed);
        if (as_json) {
            err |= ADD(",\"data\":");
            err |= kumo__growbuf_add(&b, m->body, m->len);
        } else {
            char *b64 = kumo__aws_b64_encode(m->body, m->len);
            err |= ADD(",\"data_base64\":\"");
            err |= b64 ? kumo__growbuf_add(&b, b64, strlen(b64)) : -1;
            free(b64);
            err |= ADD("\"");
        }
        err |= ADD("}");
    }
    err |= ADD("]");
    if (err) {
        free(b.data);
        return -1;
    }
    k->batch_body = b.data;
    k->batch_len = b.len;
    return 0;
}

#undef ADD

/* Whether a received message's body matches the event's data: schema.
 * One that does not never reaches a handler: it is put back at once, with
 * no backoff, until its receives reach max_receives and the queue's driver
 * moves it to the dead-letter queue (every driver does that on its own,
 * for its own kind of dead-letter queue); the last time, a warn line lists
 * the violations. */
static int valid_data(consumer *c, kumo__queue *q, const kumo_queue_message *m)
{
    const kumo__event_decl *d = c->decl;
    char why[ERROR_MAX];
    int rc = kumo__event_data_check(c->data, m->body, m->len, why, sizeof(why));
    if (rc == 0)
        return 1;
    if (rc < 0)
        snprintf(why, sizeof(why), "out of memory validating the data");
    if (m->receives >= d->max_receives) {
        kumo__logline l;
        char reason[ERROR_MAX + 300];
        snprintf(reason, sizeof(reason),
                 "the data does not match %s: %s; it moves to the queue %s-dead without reaching the handler", d->data,
                 why, d->queue);
        kumo__logline_begin(&l, "warn", "event dead-lettered", 19);
        kumo__logline_cstr(&l, "event", c->name);
        kumo__logline_cstr(&l, "message_id", m->id ? m->id : "");
        kumo__logline_int(&l, "receive_count", m->receives);
        kumo__logline_cstr(&l, "reason", reason);
        kumo__logline_write(&l, 2);
    }
    int nrc = q->driver->nack(q, m->receipt, 0);
    if (nrc != 0)
        kumo__log_event("warn", "event %s: message %s cannot be put back (%s%s%s): it comes back after its visibility",
                        c->name, m->id ? m->id : "?", kumo_strerror(nrc), q->error[0] ? ": " : "", q->error);
    return 0;
}

/* Copies the received messages into the call being filled (*fill, made
 * when NULL, with room for `batch`). A message that cannot be copied goes
 * back at once. */
static void take(consumer *c, kumo__queue *q, qcall **fill, const kumo_queue_message *in, size_t n)
{
    const kumo__event_decl *d = c->decl;
    uint64_t now = kumo__epoch_ms();
    for (size_t i = 0; i < n; i++) {
        if (c->data && !valid_data(c, q, &in[i]))
            continue;
        qcall *k = *fill;
        if (k == NULL && (k = calloc(1, sizeof(*k))) != NULL && (k->msgs = calloc(d->batch, sizeof(qmsg))) == NULL) {
            free(k);
            k = NULL;
        }
        qmsg *m = k ? &k->msgs[k->n] : NULL;
        if (m == NULL || (m->id = strdup(in[i].id ? in[i].id : "")) == NULL ||
            (m->receipt = strdup(in[i].receipt)) == NULL || (m->body = malloc(in[i].len + 1)) == NULL) {
            if (m) {
                free(m->id), free(m->receipt);
                *m = (qmsg){0};
            }
            if (k && k->n == 0)
                call_free(k), k = NULL;
            *fill = k;
            kumo__log_event("error", "event %s: out of memory; message %s goes back to the queue", c->name,
                            in[i].id ? in[i].id : "?");
            q->driver->nack(q, in[i].receipt, 0);
            continue;
        }
        memcpy(m->body, in[i].body, in[i].len);
        m->body[in[i].len] = '\0';
        m->len = in[i].len;
        m->receives = in[i].receives;
        m->received_ms = in[i].sent_ms > 0 ? (uint64_t)in[i].sent_ms : now;
        m->trace = in[i].trace ? strdup(in[i].trace) : NULL; /* out of memory: its delivery starts a trace */
        k->n++;
        kumo__gw_event_received(c->stats, 1);
        k->c = c;
        *fill = k;
    }
}

/* Hands a filled call to an event loop (building its batch body first):
 * the ready loop with the most room left in its share of max, else loop
 * 0. When the loop no longer takes calls (kumo is stopping) or the body
 * cannot be built, its messages go back at once. 1 when it went. */
static int hand_over(consumer *c, kumo__queue *q, qcall *k)
{
    kumo__gw_consumers *s = c->owner;
    if (c->decl->batch > 1 && build_batch(c, k) != 0) {
        kumo__log_event("error", "event %s: out of memory building a call of %zu messages; they go back to the queue",
                        c->name, k->n);
        settle(c, q, k);
        return 0;
    }
    int pick = 0;
    size_t best = 0;
    for (int i = 0; i < s->nloops; i++) {
        size_t room = c->loop_share[i] > c->loop_inflight[i] ? c->loop_share[i] - c->loop_inflight[i] : 0;
        if (room <= best)
            continue;
        pthread_mutex_lock(&s->outlets[i].lock);
        int ready = s->outlets[i].ready && !s->outlets[i].closed;
        pthread_mutex_unlock(&s->outlets[i].lock);
        if (ready)
            pick = i, best = room;
    }
    k->loop = pick;
    if (outlet_put(&s->outlets[pick], k) != 0) {
        settle(c, q, k); /* untried: nacked without delay */
        return 0;
    }
    c->loop_inflight[pick]++;
    return 1;
}

/* Idle for at most `ms` (the lock held, released meanwhile): on the
 * driver's wait when it has one (no polling interval: a send wakes it),
 * else asleep for up to POLL_MS. A failed wait is said once and the
 * consumer polls from then on. */
static void idle(consumer *c, kumo__queue *q, uint64_t ms, int *wait_failed)
{
    if (q == NULL || q->driver->wait == NULL || *wait_failed) {
        sleep_locked(c, ms < POLL_MS ? ms : POLL_MS);
        return;
    }
    pthread_mutex_unlock(&c->lock);
    int rc = q->driver->wait(q, ms < WAIT_SLICE_MS ? ms : WAIT_SLICE_MS);
    pthread_mutex_lock(&c->lock);
    if (rc != 0) {
        kumo__log_event("warn", "event %s: cannot wait on queue %s (%s%s%s); polling every %d ms from now on", c->name,
                        c->decl->queue, kumo_strerror(rc), q->error[0] ? ": " : "", q->error, POLL_MS);
        *wait_failed = 1;
        if (!c->stop && !c->done)
            sleep_locked(c, POLL_MS);
    }
}

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    const kumo__event_decl *d = c->decl;
    kumo__queue *q = NULL;
    kumo__arena arena;
    kumo_queue_message got[100];
    int failing = 0, wait_failed = 0;
    qcall *fill = NULL;      /* the call being filled (window: > 0) */
    uint64_t fill_until = 0; /* mono ms: when it goes, full or not */
    uint64_t window_ms = d->window_ms;
    kumo__arena_init(&arena);
    int topic = d->kind == KUMO__EVENT_TOPIC; /* its queue is the subscription's, held by the topic (topics.c) */
    const kumo__store_place *place = kumo__store_plan_find(&c->gen->stores, topic                         ? d->topic
                                                                            : d->kind == KUMO__EVENT_BLOB ? d->blob
                                                                                                          : d->queue);
    char outbox[4200]; /* a blob event's queue is the store's outbox (blob_events.c) */
    const char *url = topic ? NULL : kumo__gw_event_queue_url(d, place, outbox, sizeof(outbox));

    pthread_mutex_lock(&c->lock);
    while (1) {
        while (c->done) {
            qcall *k = c->done;
            c->done = k->next;
            pthread_mutex_unlock(&c->lock);
            if (c->loop_inflight[k->loop] > 0)
                c->loop_inflight[k->loop]--;
            settle(c, q, k);
            pthread_mutex_lock(&c->lock);
            c->inflight--;
        }
        if (c->stop) {
            if (fill) {
                pthread_mutex_unlock(&c->lock);
                settle(c, q, fill); /* never tried: back at once */
                fill = NULL;
                pthread_mutex_lock(&c->lock);
            }
            if (c->inflight == 0)
                break;
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        if (c->inflight >= c->max_calls) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        size_t want = d->batch - (fill ? fill->n : 0);
        pthread_mutex_unlock(&c->lock);
        size_t n = 0;
        int rc = 0;
        if (q == NULL) {
            kumo__error err = {0};
            kumo__store *opened = NULL;
            if (topic)
                rc = kumo__gw_topic_queue_open(&c->gen->stores, d, &q, &err);
            else
                rc = url ? kumo__store_open(&kumo__queue_kind, url, d->queue, &opened, &err) : KUMO_ENOTFOUND;
            if (rc == 0) {
                if (!topic)
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
            if (rc == 0 && d->kind == KUMO__EVENT_BLOB)
                n = kumo__gw_blob_events_sort(c->name, d, place, q, got, n);
            if (rc != 0 && !failing) {
                failing = 1;
                kumo__log_event("error", "event %s: cannot receive from queue %s (%s%s%s); retrying every %d ms",
                                c->name, d->queue, kumo_strerror(rc), q->error[0] ? ": " : "", q->error, RETRY_OPEN_MS);
            } else if (rc == 0 && failing) {
                failing = 0;
                kumo__log_event("info", "event %s: queue %s answers again", c->name, d->queue);
            }
        }
        if (rc == 0 && n > 0) {
            int opened = fill == NULL;
            take(c, q, &fill, got, n);
            if (opened && fill)
                fill_until = kumo__mono_ms() + window_ms;
        }
        kumo__arena_reset(&arena);
        /* A call goes when full, when the window is 0, or when it passed. */
        int sent = 0;
        if (fill && (fill->n >= d->batch || window_ms == 0 || kumo__mono_ms() >= fill_until)) {
            sent = hand_over(c, q, fill);
            fill = NULL;
        }
        pthread_mutex_lock(&c->lock);
        c->inflight += (size_t)sent;
        if (c->stop || c->done || sent)
            continue; /* room left: receive again at once (the queue may be deep) */
        if (rc != 0)
            sleep_locked(c, RETRY_OPEN_MS);
        else if (fill) {
            uint64_t now = kumo__mono_ms(), left = fill_until > now ? fill_until - now : 0;
            if (n == 0 && left)
                idle(c, q, left, &wait_failed);
        } else if (n == 0)
            idle(c, q, WAIT_SLICE_MS, &wait_failed);
    }
    pthread_mutex_unlock(&c->lock);
    kumo__store_close(q ? &q->store : NULL);
    kumo__arena_free(&arena);
    atomic_store(&c->finished, 1);
    outlet *o0 = &c->owner->outlets[0];
    pthread_mutex_lock(&o0->lock);
    if (!o0->closed)
        wake_loop(o0); /* loop 0 frees it */
    pthread_mutex_unlock(&o0->lock);
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
    free(c->loop_share);
    free(c->loop_inflight);
    free(c->name);
    free(c);
}

static void consumer_start(kumo__gw_consumers *s, generation *g, const kumo__event_decl *d)
{
    consumer *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->name = strdup(d->name)) == NULL ||
        (c->loop_share = calloc((size_t)s->nloops, sizeof(size_t))) == NULL ||
        (c->loop_inflight = calloc((size_t)s->nloops, sizeof(size_t))) == NULL) {
        if (c)
            free(c->name), free(c->loop_share);
        free(c);
        kumo__log_event("error", "event %s: out of memory; its queue is not consumed", d->name);
        return;
    }
    c->decl = d;
    c->owner = s;
    int max = g->project->units[d->unit_index].tuning.max;
    c->max_calls = max > 0 ? (size_t)max : 1;
    for (int i = 0; i < s->nloops; i++) { /* loop.c's split of max, at least one per loop */
        int share = max / s->nloops + (i < max % s->nloops);
        c->loop_share[i] = share > 0 ? (size_t)share : 1;
    }
    c->data = g->event_data ? g->event_data[d - g->project->events] : NULL;
    c->stats = kumo__gw_event_stats_of(g->gw, d->name);
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

/* Records the call's outcome (on its loop); the thread logs and settles it. */
static void answered(qcall *k, int status, const char *error, size_t error_len)
{
    k->attempted = 1;
    k->status = status;
    k->duration_us = kumo__mono_us() - k->start_us;
    if (error)
        snprintf(k->error, sizeof(k->error), "%.*s", (int)(error_len < ERROR_MAX ? error_len : ERROR_MAX - 1), error);
}

static void on_call_done(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    qcall *k = (qcall *)call;
    const char *error;
    size_t error_len;
    k->t->inflight--;
    /* not 2xx is a failed try: a 3xx body says why as much as a 4xx one */
    int status = kumo__gw_event_outcome(result, payload, len, 300, &error, &error_len);
    answered(k, status, error, error_len);
    k->worker_pid = k->call.worker_pid;
    if (result == KUMO__CALL_OK && status >= 200 && status < 300) {
        /* batchItemFailures is a JSON object: keep such a body for the thread to read */
        kumo__response_in r;
        kumo__response_read(payload, len, &r);
        size_t i = 0;
        while (i < r.body_len && (r.body[i] == ' ' || r.body[i] == '\t' || r.body[i] == '\r' || r.body[i] == '\n'))
            i++;
        if (i < r.body_len && r.body[i] == '{' && (k->answer = malloc(r.body_len)) != NULL) {
            memcpy(k->answer, r.body, r.body_len);
            k->answer_len = r.body_len;
        }
    }
    if (k->lg->pools && k->lg->pools[k->c->decl->unit_index])
        kumo__pool_record(k->lg->pools[k->c->decl->unit_index], k->duration_us, status >= 500, kumo__mono_ms());
    kumo__gw_trace_store_calls(k->t->gw, &k->span, result, payload, len);
    kumo__gw_observe_event(k->t, k->lg->gen, k->c->decl->name, &k->call, result, status, k->start_us, k->request_id,
                           &k->span);
    k->lg->users--;
    kumo__frame_writer_free(&k->call.frame);
    call_return(k);
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

/* Submits call k to its unit's pool on loop t (or hands it back untried). */
static void submit(loop_thread *t, qcall *k)
{
    consumer *c = k->c;
    const kumo__event_decl *d = c->decl;
    loop_gen *lg = find_lg(t, c->gen);
    char why[600], source[512], count[16], path[300], when[40], size[16];
    if (lg == NULL || lg->pools == NULL || lg->pools[d->unit_index] == NULL) {
        call_return(k); /* its generation's pools are gone: untried, back to the queue at once */
        return;
    }
    const kumo__project *p = c->gen->project;
    k->t = t;
    k->lg = lg;
    k->start_us = kumo__mono_us();
    snprintf(k->request_id, sizeof(k->request_id), "%s-%d-%08x", t->gw->id_prefix, t->index, ++t->seq);
    const char *type = event_source(c, source, sizeof(source));
    snprintf(count, sizeof(count), "%u", k->msgs[0].receives);
    snprintf(size, sizeof(size), "%zu", k->n);
    const char *subject = c->name, *ctype = "application/octet-stream";
    kumo__gw_blob_attrs blob = {.time = ""};
    if (d->kind == KUMO__EVENT_BLOB && kumo__gw_blob_event_attrs(p, d, k->msgs[0].body, k->msgs[0].len, &blob) == 0) {
        type = blob.type, subject = blob.subject, ctype = "application/json";
        snprintf(source, sizeof(source), "%s", blob.source);
    }
    snprintf(path, sizeof(path), "/%s", c->name);
    rfc3339_ms(k->msgs[0].received_ms, when, sizeof(when));
    /* The delivery continues the trace of the send (the message's
     * traceparent names the sender's span); a message sent without one
     * (kumo invoke, an older row, a blob event) starts a trace. A batch
     * continues its first message's trace and links the others' sends
     * (out of memory: they are not linked). */
    kumo__gw_trace_event_begin(t->gw, &k->span, k->msgs[0].trace, NULL, d->symbol);
    if (k->n > 1 && k->span.recording && (k->links = malloc((k->n - 1) * sizeof(*k->links))) != NULL) {
        for (size_t i = 1; i < k->n; i++)
            k->links[i - 1] = k->msgs[i].trace;
        k->span.link_tps = k->links;
        k->span.n_links = k->n - 1;
    }
    const char *trace = k->span.traceparent;
#define HV(n, v)                                                                                                       \
    {                                                                                                                  \
        {n, sizeof(n) - 1},                                                                                            \
        {                                                                                                              \
            v, strlen(v)                                                                                               \
        }                                                                                                              \
    }
    const kumo__header_view binary[] = {
        HV("ce-specversion", "1.0"),
        HV("ce-id", k->msgs[0].id),
        HV("ce-source", source),
        HV("ce-type", type),
        HV("ce-time", blob.time[0] ? blob.time : when),
        HV("ce-subject", subject),
        HV("content-type", ctype),
        HV("kumo-receive-count", count),
        HV("traceparent", trace),
    };
    const kumo__header_view batch[] = {
        HV("content-type", "application/cloudevents-batch+json"),
        HV("kumo-batch-size", size),
        HV("traceparent", trace),
    };
#undef HV
    int batch_mode = d->batch > 1;
    const kumo__header_view *headers = batch_mode ? batch : binary;
    size_t nheaders = batch_mode ? sizeof(batch) / sizeof(batch[0]) : sizeof(binary) / sizeof(binary[0]);
    kumo__slice body =
        batch_mode ? (kumo__slice){k->batch_body, k->batch_len} : (kumo__slice){k->msgs[0].body, k->msgs[0].len};
    const kumo__tuning *tuning = &p->units[d->unit_index].tuning;
    uint64_t timeout_ms = (uint64_t)(tuning->timeout_s * 1000.0);
    if (kumo__dispatch_event(d->symbol, path, k->request_id, headers, nheaders, body, kumo__epoch_ms(), timeout_ms,
                             &k->call.frame) != 0) {
        static const char big[] = "the event's request is larger than the frame limit";
        answered(k, 500, big, sizeof(big) - 1);
        call_return(k);
        return;
    }
    k->call.cb = on_call_done;
    k->call.deadline_ms = timeout_ms ? kumo__mono_ms() + timeout_ms : 0;
    int rc = kumo__pool_submit(lg->pools[d->unit_index], &k->call, why, sizeof(why));
    if (rc != 0) {
        kumo__frame_writer_free(&k->call.frame);
        answered(k, rc == -EBUSY ? 429 : 503, why, strlen(why));
        call_return(k);
        return;
    }
    t->inflight++;
    lg->users++;
}

static int has_queue_events(const generation *g)
{
    for (size_t i = 0; i < g->project->nevents; i++)
        if (g->project->events[i].kind == KUMO__EVENT_QUEUE || g->project->events[i].kind == KUMO__EVENT_TOPIC ||
            g->project->events[i].kind == KUMO__EVENT_BLOB)
            return 1;
    return 0;
}

/* Submits what is in the outlet of loop t (or hands it back untried when
 * its consumer is stopping). */
static void serve_inbox(loop_thread *t, outlet *o)
{
    qcall *in = outlet_take(o);
    while (in) {
        qcall *m = in;
        in = m->next;
        m->next = NULL;
        int stopped;
        pthread_mutex_lock(&m->c->lock);
        stopped = m->c->stop;
        pthread_mutex_unlock(&m->c->lock);
        if (stopped)
            call_return(m);
        else
            submit(t, m);
    }
}

/* Closes loop t's outlet (its loop takes no more calls): what waits in it
 * goes back untried; its socket is closed on its own loop. */
static void outlet_close(outlet *o)
{
    pthread_mutex_lock(&o->lock);
    o->closed = 1;
    o->ready = 0;
    qcall *in = o->inbox;
    o->inbox = NULL;
    o->tail = &o->inbox;
    pthread_mutex_unlock(&o->lock);
    while (in) {
        qcall *m = in;
        in = m->next;
        call_return(m);
    }
    if (o->sock) {
        h2o_socket_read_stop(o->sock);
        h2o_socket_close(o->sock); /* closes wake[0] */
        o->sock = NULL;
        o->wake[0] = -1;
    }
}

/* Starts watching loop t's outlet from loop t: 0, or -1. */
static int outlet_watch(loop_thread *t, outlet *o)
{
    if ((o->sock = h2o_evloop_socket_create(t->loop, o->wake[0], 0)) == NULL)
        return -1;
    h2o_socket_read_start(o->sock, on_wake);
    pthread_mutex_lock(&o->lock);
    o->ready = !o->closed;
    pthread_mutex_unlock(&o->lock);
    return 0;
}

static kumo__gw_consumers *consumers_new(loop_thread *t)
{
    int n = t->gw->nthreads > 0 ? t->gw->nthreads : 1;
    kumo__gw_consumers *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->outlets = calloc((size_t)n, sizeof(outlet))) == NULL) {
        free(s);
        kumo__log_event("error", "the queue events cannot start: out of memory");
        return NULL;
    }
    s->nloops = n;
    for (int i = 0; i < n; i++) {
        outlet *o = &s->outlets[i];
        pthread_mutex_init(&o->lock, NULL);
        o->tail = &o->inbox;
        o->wake[0] = o->wake[1] = -1;
        if (pipe2(o->wake, O_NONBLOCK | O_CLOEXEC) != 0 || (i == 0 && outlet_watch(t, o) != 0)) {
            kumo__log_event("error", "the queue events cannot start: no wake-up pipe (%s)", strerror(errno));
            for (int j = 0; j <= i; j++) {
                if (s->outlets[j].sock)
                    h2o_socket_close(s->outlets[j].sock);
                else if (s->outlets[j].wake[0] >= 0)
                    close(s->outlets[j].wake[0]);
                if (s->outlets[j].wake[1] >= 0)
                    close(s->outlets[j].wake[1]);
                pthread_mutex_destroy(&s->outlets[j].lock);
            }
            free(s->outlets);
            free(s);
            return NULL;
        }
    }
    return s;
}

void kumo__gw_consumers_run(loop_thread *t)
{
    loop_gen *live = t->live;
    kumo__gw_consumers *s = t->consumers;
    int draining = atomic_load(&t->gw->draining);
    if (s == NULL) {
        if (live == NULL || draining || !has_queue_events(live->gen))
            return;
        if ((s = consumers_new(t)) == NULL)
            return;
        __atomic_store_n(&t->consumers, s, __ATOMIC_RELEASE); /* the other loops read it */
    }
    /* Follow the live generation: the consumers of the old one stop
     * (finishing what they have in flight), the new one's start. */
    if (!draining && live && s->gen != live->gen) {
        size_t n = 0;
        for (consumer *c = s->list; c; c = c->next)
            consumer_stop(c);
        for (size_t i = 0; i < live->gen->project->nevents; i++) {
            const kumo__event_decl *d = &live->gen->project->events[i];
            if (d->kind == KUMO__EVENT_QUEUE || d->kind == KUMO__EVENT_TOPIC || d->kind == KUMO__EVENT_BLOB) {
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
    serve_inbox(t, &s->outlets[0]);
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

int kumo__gw_consumers_idle(loop_thread *t)
{
    if (__atomic_load_n(&t->gw->threads[0].consumers, __ATOMIC_ACQUIRE) != NULL)
        return 0;
    return t->live == NULL || !has_queue_events(t->live->gen);
}

void kumo__gw_consumers_serve(loop_thread *t)
{
    kumo__gw_consumers *s = __atomic_load_n(&t->gw->threads[0].consumers, __ATOMIC_ACQUIRE);
    if (s == NULL || t->index <= 0 || t->index >= s->nloops)
        return;
    outlet *o = &s->outlets[t->index];
    if (o->sock == NULL && !o->closed && outlet_watch(t, o) != 0) {
        kumo__log_event("warn", "loop %d: cannot watch the queue events' wake-up pipe; their calls go to loop 0",
                        t->index);
        pthread_mutex_lock(&o->lock);
        o->closed = 1;
        pthread_mutex_unlock(&o->lock);
        return;
    }
    serve_inbox(t, o);
}

void kumo__gw_consumers_close(loop_thread *t)
{
    kumo__gw_consumers *s = __atomic_load_n(&t->gw->threads[0].consumers, __ATOMIC_ACQUIRE);
    if (s == NULL || t->index <= 0 || t->index >= s->nloops)
        return;
    outlet_close(&s->outlets[t->index]);
}

void kumo__gw_consumers_free(loop_thread *t)
{
    kumo__gw_consumers *s = t->consumers;
    if (s == NULL)
        return;
    outlet_close(&s->outlets[0]);
    for (consumer *c = s->list; c; c = c->next)
        consumer_stop(c);
    while (s->list) {
        consumer *c = s->list;
        s->list = c->next;
        consumer_free(c);
    }
    /* The other loops closed theirs before the stop barrier; no thread
     * is left to write to a pipe. */
    for (int i = 0; i < s->nloops; i++) {
        outlet *o = &s->outlets[i];
        if (o->sock == NULL && o->wake[0] >= 0)
            close(o->wake[0]); /* a loop that never watched it */
        if (o->wake[1] >= 0)
            close(o->wake[1]);
        pthread_mutex_destroy(&o->lock);
    }
    free(s->outlets);
    free(s);
    t->consumers = NULL;
}
