/*
 * azqueue.c: the queue driver for Azure Queue storage,
 * `azqueue://ACCOUNT/QUEUE?endpoint=URL&max_receives=N&create=false`, over
 * azure.c (libcurl, Shared Key or a managed identity); and the refusal of
 * the topic kind on Azure (azservicebus://), which has no driver yet.
 *
 * send is Put Message (the delay as its visibilitytimeout, rounded up to
 * whole seconds, at most 7 days; messagettl=-1, so messages never expire);
 * receive is Get Messages, 32 at a time, with the visibility rounded up to
 * seconds (1 s to 7 days); ack is Delete Message; nack is Update Message
 * with the delay as the new visibility. A receipt is "MESSAGEID POPRECEIPT";
 * every dequeue and update gives a new pop receipt, so an ack with a stale
 * one is refused (PopReceiptMismatch or MessageNotFound: KUMO_ENOTFOUND).
 *
 * Dead letters: Queue storage counts dequeues (DequeueCount) but moves
 * nothing itself. A receive that gets a message dequeued more than
 * max_receives times puts it, as it is, on QUEUE-poison (the name Azure
 * Functions' queue trigger uses) and deletes it here, instead of handing
 * it out.
 *
 * Messages: the text of a message is base64 (what Azure Functions' queue
 * trigger decodes) of
 *
 *   "k1 SENT_MS TRACEPARENT\n" BODY      (TRACEPARENT "-" when none)
 *
 * so any bytes travel, with the send time in milliseconds and the trace
 * context, which Queue storage has no attributes for (kumo__azqueue_unwrap
 * reads the line off again where the Functions host handed the decoded
 * text on). A message that other software sent is read as base64 of its
 * body when it decodes, else as its text. Queue
 * storage holds 64 KiB of text a message, so a body is at most
 * BODY_MAX (48,000) bytes: a larger one is KUMO_ETOOBIG, saying to put the
 * payload in a blob store and send its key. Nothing is spilled elsewhere.
 *
 * The queue (and QUEUE-poison, when a message first goes there) is created
 * on first use unless create=false; a call that finds it gone
 * (QueueNotFound) makes it again and is retried once.
 *
 * wait: Queue storage has no long poll. wait peeks (Peek Messages, one
 * message: it hides nothing and counts no dequeue) and returns as soon as
 * a peek sees a message; between empty peeks it sleeps an interval that
 * starts at POLL_MIN_MS (Azure Functions' queue trigger's minimum) and
 * doubles to POLL_MAX_MS (the trigger's maxPollingInterval is 1 minute by
 * default; kumo keeps latency lower), and is back at POLL_MIN_MS once a
 * peek or a receive sees a message. The interval is the handle's, kept
 * across waits (the gateway's consumer waits 100 ms at a time): an idle
 * queue costs one peek every 2 s, and a message sent to an idle queue is
 * seen at worst POLL_MAX_MS (plus one exchange) after it was sent.
 *
 * depth: Get Queue Metadata's x-ms-approximate-messages-count counts every
 * message, visible or not, and a peek of up to 32 counts the visible
 * (ready) ones. Queue storage cannot tell a delayed message (sent with a
 * visibility timeout, or nacked with a delay) from an in-flight one: both
 * are invisible. So in_flight is the count less the ready ones, delayed is
 * -1 (KUMO__QUEUE_DEPTH_DELAYED_UNSPLIT), and with 32 or more ready, ready
 * and in_flight are -1 too (a peek sees at most 32).
 */
#include "sdk/sdk.h"
#include "base/curl_lazy.h"
#include "sdk/stores/azure.h"

#include "base/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX 48000u /* base64 plus the header stays under 64 KiB */
#define TEXT_MAX (64u << 10)
#define BATCH 32
#define SECONDS_MAX 604800ull /* 7 days */
#define NAME_MAX_LEN 56       /* 63, less "-poison" */
#define SMALL_BODY_MAX ((size_t)1 << 20)
#define LIST_BODY_MAX ((size_t)8 << 20)
#define TARGET_MAX 1024
#define POLL_MIN_MS 100
#define POLL_MAX_MS 2000

typedef struct azqueue {
    kumo__queue base;
    pthread_mutex_t lock; /* guards az, ready, poison_ready */
    kumo__az *az;
    char *queue;
    char *poison;
    int create;
    int ready, poison_ready;
    uint64_t poll_ms;   /* wait's interval between empty peeks (0: POLL_MIN_MS) */
    uint64_t next_peek; /* wait's next peek (mono ms) */
} azqueue;

static int valid_queue(const char *c)
{
    size_t n = strlen(c);
    if (n < 3 || n > NAME_MAX_LEN || *c == '-' || c[n - 1] == '-' || strstr(c, "--"))
        return 0;
    for (; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return 0;
    return 1;
}

static int ensure_queue(azqueue *q, const char *name, int *ready)
{
    kumo__cloud_res res;
    char target[128];
    if (*ready)
        return 0;
    snprintf(target, sizeof(target), "/%s", name);
    int rc;
    if (!q->create) {
        snprintf(target, sizeof(target), "/%s?comp=metadata", name);
        rc = kumo__az_send(q->az, "GET", target, NULL, NULL, 0, SMALL_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        if (rc == KUMO_ENOTFOUND) {
            snprintf(q->base.error, sizeof(q->base.error),
                     "azqueue: queue '%s' does not exist; create it or drop create=false from the URL", name);
            return KUMO_EUNAVAILABLE;
        }
    } else {
        rc = kumo__az_send(q->az, "PUT", target, NULL, "", 0, SMALL_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        if (rc != 0 && strcmp(kumo__az_code(q->az), "QueueAlreadyExists") == 0)
            rc = 0;
    }
    if (rc == 0) {
        *ready = 1;
        *q->base.error = '\0';
    }
    return rc;
}

/* One exchange on queue `name` (q->queue or q->poison), made first when
 * needed and again (the call retried once) when it is gone. Caller holds
 * the lock. */
static int qsend(azqueue *q, const char *name, const char *method, const char *target, const char *body,
                 size_t max_body, kumo__cloud_res *res)
{
    int *ready = name == q->queue ? &q->ready : &q->poison_ready;
    memset(res, 0, sizeof(*res));
    int rc = ensure_queue(q, name, ready);
    if (rc != 0)
        return rc;
    const char *headers[] = {"Content-Type: application/xml", NULL};
    size_t len = body ? strlen(body) : 0;
    rc = kumo__az_send(q->az, method, target, body && len ? headers : NULL, body, len, max_body, res);
    if (rc == KUMO_ENOTFOUND && strcmp(kumo__az_code(q->az), "QueueNotFound") == 0) {
        kumo__cloud_res_free(res);
        *ready = 0;
        if ((rc = ensure_queue(q, name, ready)) != 0)
            return rc;
        rc = kumo__az_send(q->az, method, target, body && len ? headers : NULL, body, len, max_body, res);
    }
    return rc;
}

static uint64_t seconds_up(uint64_t ms)
{
    return (ms + 999) / 1000;
}

static void azqueue_close(kumo__store *s)
{
    azqueue *q = (azqueue *)s;
    if (q == NULL)
        return;
    kumo__az_free(q->az);
    free(q->queue);
    free(q->poison);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static int azqueue_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__az_url u;
    (void)name;
    *out = NULL;
    int rc = kumo__az_url_parse(url, "azqueue", &u, e);
    if (rc != 0)
        return rc;
    azqueue *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&q->lock, NULL);
    rc = KUMO_EINVAL;
    if (*u.path) {
        kumo__error_set(e, KUMO_EINVAL, "store URL '%s': a queue has no path; expected azqueue://ACCOUNT/QUEUE", url);
        goto out;
    }
    if (!valid_queue(u.resource)) {
        kumo__error_set(e, KUMO_EINVAL,
                        "store URL '%s': '%s' is not a queue name (3 to %d lower-case letters, digits and single "
                        "hyphens; %d leaves room for '-poison')",
                        url, u.resource, NAME_MAX_LEN, NAME_MAX_LEN);
        goto out;
    }
    q->create = u.create;
    q->queue = u.resource;
    u.resource = NULL;
    if (asprintf(&q->poison, "%s-poison", q->queue) < 0) {
        q->poison = NULL;
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = kumo__az_new("queue", &u, q->base.error, sizeof(q->base.error), &q->az, e);
    if (rc != 0)
        goto out;
    *out = &q->base.store;
out:
    if (rc != 0)
        azqueue_close(q ? &q->base.store : NULL);
    kumo__az_url_free(&u);
    return rc;
}

/* <QueueMessage><MessageText>TEXT</MessageText></QueueMessage> */
static char *message_xml(const char *text)
{
    char *x = NULL;
    if (asprintf(&x, "<QueueMessage><MessageText>%s</MessageText></QueueMessage>", text) < 0)
        return NULL;
    return x;
}

static int azqueue_send(kumo__queue *kq, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms,
                        const char *trace, const char **id)
{
    azqueue *q = (azqueue *)kq;
    kumo__cloud_res res;
    char target[TARGET_MAX];
    if (len > BODY_MAX) {
        snprintf(kq->error, sizeof(kq->error),
                 "azqueue: a message body is at most %u bytes (Queue storage holds 64 KiB of base64 text); put "
                 "the payload in a blob store and send its key",
                 BODY_MAX);
        return KUMO_ETOOBIG;
    }
    uint64_t delay = seconds_up(delay_ms);
    if (delay > SECONDS_MAX) {
        snprintf(kq->error, sizeof(kq->error), "azqueue: a delay is at most 7 days");
        return KUMO_EINVAL;
    }
    if (trace && (strlen(trace) > 55 || strpbrk(trace, " \n") != NULL))
        trace = NULL;
    char *text = NULL, *xml = NULL, *plain = NULL;
    int rc = KUMO_ENOMEM;
    int hl = asprintf(&plain, "k1 %llu %s\n", (unsigned long long)kumo__aws_now_ms(), trace && *trace ? trace : "-");
    if (hl < 0) {
        plain = NULL;
        goto out;
    }
    char *grown = realloc(plain, (size_t)hl + len + 1);
    if (grown == NULL)
        goto out;
    plain = grown;
    memcpy(plain + hl, body, len);
    if ((text = kumo__aws_b64_encode(plain, (size_t)hl + len)) == NULL)
        goto out;
    if ((xml = message_xml(text)) == NULL)
        goto out;
    snprintf(target, sizeof(target), "/%s/messages?visibilitytimeout=%llu&messagettl=-1", q->queue,
             (unsigned long long)delay);
    pthread_mutex_lock(&q->lock);
    rc = qsend(q, q->queue, "POST", target, xml, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&q->lock);
    if (rc == 0 && id) {
        char *mid = kumo__aws_xml_text(res.body ? res.body : "", "MessageId", NULL);
        *id = mid ? kumo__arena_strndup(a, mid, strlen(mid)) : NULL;
        free(mid);
        if (*id == NULL) {
            snprintf(kq->error, sizeof(kq->error), "azqueue: Put Message answered without a MessageId");
            rc = KUMO_EIO;
        }
    }
    kumo__cloud_res_free(&res);
out:
    if (rc == KUMO_ENOMEM)
        snprintf(kq->error, sizeof(kq->error), "out of memory");
    free(plain);
    free(text);
    free(xml);
    return rc;
}

/* A message's text into m (body, sent_ms, trace), in a: base64 of
 * "k1 SENT_MS TRACE\n" and the body (kumo's), base64 of the body
 * (another sender's, as Azure's clients send), or plain text. */
static int decode_text(kumo__arena *a, const char *text, kumo_queue_message *m)
{
    size_t n = strlen(text);
    char *raw = kumo__arena_alloc(a, n / 4 * 3 + 4);
    if (raw == NULL)
        return KUMO_ENOMEM;
    long got = kumo__aws_b64_decode(text, n, (unsigned char *)raw);
    if (got < 0) { /* someone else's plain text */
        m->body = kumo__arena_strndup(a, text, n);
        m->len = n;
        return m->body ? 0 : KUMO_ENOMEM;
    }
    raw[got] = '\0';
    const char *body = raw;
    const char *nl =
        got > 3 && memcmp(raw, "k1 ", 3) == 0 ? memchr(raw, '\n', (size_t)got < 96 ? (size_t)got : 96) : NULL;
    if (nl) {
        char *end;
        m->sent_ms = (int64_t)strtoll(raw + 3, &end, 10);
        const char *tr = *end == ' ' ? end + 1 : nl;
        if (tr < nl && !(nl - tr == 1 && *tr == '-'))
            m->trace = kumo__queue_trace_copy(a, tr, (size_t)(nl - tr));
        body = nl + 1;
    }
    m->body = body;
    m->len = (size_t)got - (size_t)(body - raw);
    return 0;
}

size_t kumo__azqueue_header(const char *data, size_t len)
{
    const char *nl = len > 3 && memcmp(data, "k1 ", 3) == 0 ? memchr(data, '\n', len < 96 ? len : 96) : NULL;
    if (nl == NULL)
        return 0;
    for (const char *p = data + 3; p < nl && *p != ' '; p++)
        if (*p < '0' || *p > '9')
            return 0; /* not the send time: not kumo's line */
    return (size_t)(nl - data) + 1;
}

/* Moves a message dequeued too often to QUEUE-poison, as it is. Caller
 * holds the lock. */
static int to_poison(azqueue *q, const char *mid, const char *pop, const char *text)
{
    kumo__cloud_res res;
    char target[TARGET_MAX], enc[512];
    char *xml = message_xml(text);
    if (xml == NULL)
        return KUMO_ENOMEM;
    snprintf(target, sizeof(target), "/%s/messages?messagettl=-1", q->poison);
    int rc = qsend(q, q->poison, "POST", target, xml, SMALL_BODY_MAX, &res);
    kumo__cloud_res_free(&res);
    free(xml);
    if (rc != 0)
        return rc;
    kumo__az_uri_encode(pop, strlen(pop), 0, enc, sizeof(enc));
    snprintf(target, sizeof(target), "/%s/messages/%s?popreceipt=%s", q->queue, mid, enc);
    rc = qsend(q, q->queue, "DELETE", target, NULL, SMALL_BODY_MAX, &res);
    kumo__cloud_res_free(&res);
    return rc;
}

static int azqueue_receive(kumo__queue *kq, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                           size_t *count)
{
    azqueue *q = (azqueue *)kq;
    char target[TARGET_MAX];
    uint64_t vis = seconds_up(visibility_ms);
    int rc = 0;
    *count = 0;
    if (vis < 1)
        vis = 1;
    if (vis > SECONDS_MAX)
        vis = SECONDS_MAX;
    pthread_mutex_lock(&q->lock);
    while (*count < max && rc == 0) {
        size_t want = max - *count < BATCH ? max - *count : BATCH;
        kumo__cloud_res res;
        snprintf(target, sizeof(target), "/%s/messages?numofmessages=%zu&visibilitytimeout=%llu", q->queue, want,
                 (unsigned long long)vis);
        rc = qsend(q, q->queue, "GET", target, NULL, LIST_BODY_MAX, &res);
        if (rc != 0) {
            kumo__cloud_res_free(&res);
            break;
        }
        const char *p = res.body ? res.body : "", *end;
        char *block;
        size_t got = 0;
        while (rc == 0 && (block = kumo__aws_xml_text(p, "QueueMessage", &end)) != NULL) {
            p = end;
            got++;
            char *mid = kumo__aws_xml_text(block, "MessageId", NULL);
            char *pop = kumo__aws_xml_text(block, "PopReceipt", NULL);
            char *dq = kumo__aws_xml_text(block, "DequeueCount", NULL);
            char *ins = kumo__aws_xml_text(block, "InsertionTime", NULL);
            char *text = kumo__aws_xml_text(block, "MessageText", NULL);
            free(block);
            if (!mid || !pop || !text) {
                snprintf(kq->error, sizeof(kq->error), "azqueue: Get Messages answered a message without %s",
                         !mid   ? "MessageId"
                         : !pop ? "PopReceipt"
                                : "MessageText");
                rc = KUMO_EIO;
            } else {
                unsigned receives = dq ? (unsigned)strtoul(dq, NULL, 10) : 1;
                if (kq->max_receives && receives > kq->max_receives) {
                    rc = to_poison(q, mid, pop, text);
                } else {
                    kumo_queue_message *m = &out[*count];
                    memset(m, 0, sizeof(*m));
                    m->receives = receives;
                    m->id = kumo__arena_strndup(a, mid, strlen(mid));
                    size_t rl = strlen(mid) + strlen(pop) + 2;
                    char *r = kumo__arena_alloc(a, rl);
                    if (r)
                        snprintf(r, rl, "%s %s", mid, pop);
                    m->receipt = r;
                    rc = m->id && r ? decode_text(a, text, m) : KUMO_ENOMEM;
                    if (rc == 0 && m->sent_ms == 0 && ins) {
                        time_t t = curl_getdate(ins, NULL);
                        m->sent_ms = t > 0 ? (int64_t)t * 1000 : 0;
                    }
                    if (rc == 0)
                        (*count)++;
                }
            }
            free(mid);
            free(pop);
            free(dq);
            free(ins);
            free(text);
        }
        kumo__cloud_res_free(&res);
        if (got < want)
            break;
    }
    if (*count > 0) { /* a busy queue: wait peeks again at once */
        q->poll_ms = 0;
        q->next_peek = 0;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Splits "ID POP" into the target of that message (plus `query`). */
static int receipt_target(azqueue *q, const char *receipt, const char *query, char *target, size_t size)
{
    const char *sp = strchr(receipt, ' ');
    char enc[512];
    if (sp == NULL || sp == receipt || sp[1] == '\0' || (size_t)(sp - receipt) > 64 ||
        strspn(receipt, "0123456789abcdefABCDEF-") != (size_t)(sp - receipt) ||
        kumo__az_uri_encode(sp + 1, strlen(sp + 1), 0, enc, sizeof(enc)) == 0) {
        snprintf(q->base.error, sizeof(q->base.error), "azqueue: not a receipt of this driver");
        return KUMO_ENOTFOUND;
    }
    int n = snprintf(target, size, "/%s/messages/%.*s?popreceipt=%s%s", q->queue, (int)(sp - receipt), receipt, enc,
                     query ? query : "");
    return n < 0 || (size_t)n >= size ? KUMO_ENOTFOUND : 0;
}

static int azqueue_ack(kumo__queue *kq, const char *receipt)
{
    azqueue *q = (azqueue *)kq;
    char target[TARGET_MAX];
    kumo__cloud_res res;
    int rc = receipt_target(q, receipt, NULL, target, sizeof(target));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->lock);
    rc = qsend(q, q->queue, "DELETE", target, NULL, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&q->lock);
    kumo__cloud_res_free(&res);
    return rc;
}

static int azqueue_nack(kumo__queue *kq, const char *receipt, uint64_t delay_ms)
{
    azqueue *q = (azqueue *)kq;
    char target[TARGET_MAX], extra[64];
    kumo__cloud_res res;
    uint64_t delay = seconds_up(delay_ms);
    if (delay > SECONDS_MAX)
        delay = SECONDS_MAX;
    snprintf(extra, sizeof(extra), "&visibilitytimeout=%llu", (unsigned long long)delay);
    int rc = receipt_target(q, receipt, extra, target, sizeof(target));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&q->lock);
    rc = qsend(q, q->queue, "PUT", target, "", SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&q->lock);
    kumo__cloud_res_free(&res);
    return rc;
}

/* Peeks up to n (1..32) messages: how many are visible, or a KUMO_E*
 * code. Lock held. */
static int peek(azqueue *q, int n)
{
    kumo__cloud_res res;
    char target[TARGET_MAX];
    snprintf(target, sizeof(target), "/%s/messages?peekonly=true&numofmessages=%d", q->queue, n);
    int rc = qsend(q, q->queue, "GET", target, NULL, LIST_BODY_MAX, &res);
    if (rc == 0) {
        const char *p = res.body ? res.body : "", *end;
        char *block;
        while ((block = kumo__aws_xml_text(p, "QueueMessage", &end)) != NULL) {
            free(block);
            p = end;
            rc++;
        }
    }
    kumo__cloud_res_free(&res);
    return rc;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int azqueue_wait(kumo__queue *kq, uint64_t timeout_ms)
{
    azqueue *q = (azqueue *)kq;
    uint64_t deadline = kumo__mono_ms() + timeout_ms;
    for (;;) {
        uint64_t now = kumo__mono_ms();
        if (now >= q->next_peek) {
            pthread_mutex_lock(&q->lock);
            int seen = peek(q, 1);
            if (seen != 0) { /* a message, or an error: either way the caller receives or is told */
                q->poll_ms = 0;
                q->next_peek = 0;
                pthread_mutex_unlock(&q->lock);
                return seen < 0 ? seen : 0;
            }
            q->poll_ms = q->poll_ms == 0 ? POLL_MIN_MS : q->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : q->poll_ms * 2;
            q->next_peek = kumo__mono_ms() + q->poll_ms;
            pthread_mutex_unlock(&q->lock);
            now = kumo__mono_ms();
        }
        if (now >= deadline)
            return 0;
        sleep_ms((q->next_peek < deadline ? q->next_peek : deadline) - now);
    }
}

static int azqueue_depth(kumo__queue *kq, kumo__queue_depth *out)
{
    azqueue *q = (azqueue *)kq;
    kumo__cloud_res res;
    char target[TARGET_MAX];
    int64_t total = -1;
    snprintf(target, sizeof(target), "/%s?comp=metadata", q->queue);
    pthread_mutex_lock(&q->lock);
    int rc = qsend(q, q->queue, "GET", target, NULL, SMALL_BODY_MAX, &res);
    if (rc == 0) {
        char v[32];
        if (kumo__cloud_res_header(&res, "x-ms-approximate-messages-count", v, sizeof(v)))
            total = strtoll(v, NULL, 10);
    }
    kumo__cloud_res_free(&res);
    int ready = rc == 0 ? peek(q, BATCH) : rc;
    pthread_mutex_unlock(&q->lock);
    if (rc == 0 && ready < 0)
        rc = ready;
    if (rc != 0)
        return rc;
    out->delayed = -1; /* invisible either way: counted in in_flight */
    if (ready < BATCH && total >= 0) {
        out->ready = ready;
        out->in_flight = total > ready ? total - ready : 0;
    } else {
        out->ready = -1;
        out->in_flight = -1;
    }
    return 0;
}

const kumo__queue_driver kumo__queue_azqueue_driver = {
    .common = {.version = KUMO__QUEUE_DRIVER_VERSION,
               .scheme = "azqueue",
               .open = azqueue_open,
               .close = azqueue_close},
    .send = azqueue_send,
    .receive = azqueue_receive,
    .ack = azqueue_ack,
    .nack = azqueue_nack,
    .wait = azqueue_wait,
    .limits = KUMO__QUEUE_SMALL_BODIES | KUMO__QUEUE_DEPTH_DELAYED_UNSPLIT,
    .depth = azqueue_depth,
};

/* ---- topics: not on Azure yet -------------------------------------------- */

static int aztopic_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    (void)url;
    *out = NULL;
    kumo__error_set(e, KUMO_EINVAL,
                    "topic '%s': topics on Azure (Service Bus, Event Grid) are not supported yet; use a redis:// "
                    "topic (e.g. Azure Cache for Redis), or an azqueue:// queue per consumer",
                    name);
    return KUMO_EINVAL;
}

static void aztopic_close(kumo__store *s)
{
    (void)s;
}

const kumo__topic_driver kumo__topic_azure_driver = {
    .common = {.version = KUMO__TOPIC_DRIVER_VERSION,
               .scheme = "azservicebus",
               .open = aztopic_open,
               .close = aztopic_close},
};
