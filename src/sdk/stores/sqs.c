/*
 * sqs.c: the queue driver for SQS, `sqs://QUEUE?region=R&endpoint=URL&
 * max_receives=N&create=false`, over aws.c (libcurl, SigV4, SQS's JSON
 * protocol: X-Amz-Target AmazonSQS.*, application/x-amz-json-1.0).
 *
 * The queue is found with GetQueueUrl on first use. When it does not exist
 * (and create=false is not given) the driver creates QUEUE-dead, reads its
 * ARN, and creates QUEUE with a RedrivePolicy sending a message there after
 * maxReceiveCount = max_receives receives; SQS then does the dead-lettering
 * itself. An existing queue is used as it is (its redrive policy is not
 * checked). A call that finds the queue gone (deleted, or moto restarted)
 * makes it again and is retried once.
 *
 * Bodies: SQS carries text (XML 1.0 characters) only. A body that is valid
 * UTF-8 without control characters other than tab, CR and LF is sent as it
 * is, so other SQS consumers read it; any other body is sent base64-encoded
 * with the message attribute kumo-encoding=base64, and decoded on receive.
 * queue.c caps bodies at 192 KiB so the encoded form fits SQS's 256 KiB.
 *
 * Times are whole seconds in SQS: delays and visibility timeouts are rounded
 * up; a delay over SQS's 900 s is KUMO_EINVAL (say so rather than deliver
 * early), a visibility over 12 hours is 12 hours. A receive asks for 10
 * messages at a time (SQS's maximum) until it has `max` or the queue gives
 * fewer. ack is DeleteMessage, nack ChangeMessageVisibility to the delay.
 * SQS itself does not always refuse a stale receipt (moto does, with
 * ReceiptHandleIsInvalid, which is KUMO_ENOTFOUND); see docs/stores-aws.md.
 *
 * The sender's trace context travels as the String message attribute
 * `traceparent` (what the Lambda mapping reads too), asked for on receive;
 * SQS's redrive keeps a message's attributes, so dead letters keep it.
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TYPE "application/x-amz-json-1.0"
#define DELAY_MAX_S 900
#define VISIBILITY_MAX_S 43200
#define RECEIVE_BATCH 10
#define NAME_MAX_LEN 75 /* 80 for SQS, less "-dead" */
#define ENCODING_ATTR "kumo-encoding"
#define TRACE_ATTR "traceparent"

typedef struct sqs {
    kumo__queue base;
    pthread_mutex_t lock; /* guards aws and queue_url */
    kumo__aws *aws;
    char *queue;
    char *queue_url; /* NULL until the queue is found or made */
    int create;
    /* wait's long poll receives the messages it sees: they are kept here
     * (a JSON array of SQS messages, received with `stash_vis` seconds of
     * visibility) and handed out by the next receive first. */
    json_t *stash;
    uint64_t last_vis; /* the visibility (s) of the last receive: what wait receives with */
} sqs;

static int call_raw(sqs *q, const char *op, json_t *req, json_t **resp)
{
    char target[64];
    snprintf(target, sizeof(target), "AmazonSQS.%s", op);
    return kumo__aws_json(q->aws, JSON_TYPE, target, req, resp);
}

static int queue_gone(const char *code)
{
    return strcmp(code, "AWS.SimpleQueueService.NonExistentQueue") == 0 || strcmp(code, "QueueDoesNotExist") == 0;
}

/* CreateQueue; the new queue's URL in *url (malloc'd). */
static int create_queue(sqs *q, const char *name, json_t *attributes, char **url)
{
    json_t *resp = NULL;
    json_t *req = json_pack("{s:s}", "QueueName", name);
    if (req && attributes)
        json_object_set(req, "Attributes", attributes);
    int rc = call_raw(q, "CreateQueue", req, &resp);
    if (rc == 0) {
        const char *u = json_string_value(json_object_get(resp, "QueueUrl"));
        *url = u ? strdup(u) : NULL;
        if (*url == NULL)
            rc = KUMO_EIO;
    }
    json_decref(resp);
    return rc;
}

/* Finds the queue's URL, making the queue and its dead-letter queue when
 * allowed. Caller holds the lock. */
static int ensure_queue(sqs *q)
{
    json_t *resp = NULL;
    char *dead_url = NULL, *dead = NULL, *policy = NULL;
    json_t *attrs = NULL;
    if (q->queue_url)
        return 0;
    int rc = call_raw(q, "GetQueueUrl", json_pack("{s:s}", "QueueName", q->queue), &resp);
    if (rc == 0) {
        const char *u = json_string_value(json_object_get(resp, "QueueUrl"));
        q->queue_url = u ? strdup(u) : NULL;
        rc = q->queue_url ? 0 : KUMO_EIO;
        goto out;
    }
    if (!queue_gone(kumo__aws_code(q->aws)))
        goto out;
    if (!q->create) {
        snprintf(q->base.error, sizeof(q->base.error),
                 "sqs: queue '%s' does not exist; create it or drop create=false from the URL", q->queue);
        rc = KUMO_EUNAVAILABLE;
        goto out;
    }
    if (asprintf(&dead, "%s-dead", q->queue) < 0) {
        dead = NULL;
        rc = KUMO_ENOMEM;
        goto out;
    }
    if ((rc = create_queue(q, dead, NULL, &dead_url)) != 0)
        goto out;
    json_decref(resp);
    resp = NULL;
    rc = call_raw(q, "GetQueueAttributes",
                  json_pack("{s:s, s:[s]}", "QueueUrl", dead_url, "AttributeNames", "QueueArn"), &resp);
    if (rc != 0)
        goto out;
    const char *arn = json_string_value(json_object_get(json_object_get(resp, "Attributes"), "QueueArn"));
    if (arn == NULL) {
        snprintf(q->base.error, sizeof(q->base.error), "sqs: queue '%s' has no QueueArn", dead);
        rc = KUMO_EIO;
        goto out;
    }
    char count[16];
    snprintf(count, sizeof(count), "%u", q->base.max_receives ? q->base.max_receives : 5);
    json_t *p = json_pack("{s:s, s:s}", "deadLetterTargetArn", arn, "maxReceiveCount", count);
    policy = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    attrs = policy ? json_pack("{s:s}", "RedrivePolicy", policy) : NULL;
    if (attrs == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = create_queue(q, q->queue, attrs, &q->queue_url);
    if (rc != 0 && strcmp(kumo__aws_code(q->aws), "QueueAlreadyExists") == 0) {
        /* Made meanwhile by another process (a worker and the gateway's
         * consumer start together), maybe with another max_receives: an
         * existing queue is used as it is. */
        json_decref(resp);
        resp = NULL;
        rc = call_raw(q, "GetQueueUrl", json_pack("{s:s}", "QueueName", q->queue), &resp);
        const char *u = rc == 0 ? json_string_value(json_object_get(resp, "QueueUrl")) : NULL;
        if (rc == 0 && (q->queue_url = u ? strdup(u) : NULL) == NULL)
            rc = KUMO_EIO;
    }
    if (rc == 0)
        *q->base.error = '\0';
out:
    json_decref(resp);
    json_decref(attrs);
    free(policy);
    free(dead);
    free(dead_url);
    return rc;
}

/* A data-plane call on the queue: req gets "QueueUrl"; when SQS says the
 * queue is gone it is made again and the call retried once. Takes req. */
static int call(sqs *q, const char *op, json_t *req, json_t **resp)
{
    *resp = NULL;
    if (req == NULL) {
        snprintf(q->base.error, sizeof(q->base.error), "out of memory");
        return KUMO_ENOMEM;
    }
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = ensure_queue(q);
        if (rc != 0)
            break;
        json_object_set_new(req, "QueueUrl", json_string(q->queue_url));
        json_incref(req);
        rc = call_raw(q, op, req, resp);
        if (rc == 0 || attempt == 1 || !queue_gone(kumo__aws_code(q->aws)))
            break;
        free(q->queue_url);
        q->queue_url = NULL;
    }
    json_decref(req);
    return rc;
}

static void sqs_close(kumo__store *kq)
{
    sqs *q = (sqs *)kq;
    if (q == NULL)
        return;
    /* Stashed messages never reached anyone: visible again at once. */
    size_t i;
    json_t *msg;
    json_array_foreach(q->stash, i, msg)
    {
        json_t *resp = NULL;
        const char *rh = json_string_value(json_object_get(msg, "ReceiptHandle"));
        if (rh && q->queue_url)
            call(q, "ChangeMessageVisibility", json_pack("{s:s, s:i}", "ReceiptHandle", rh, "VisibilityTimeout", 0),
                 &resp);
        json_decref(resp);
    }
    json_decref(q->stash);
    kumo__aws_free(q->aws);
    free(q->queue);
    free(q->queue_url);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static int sqs_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__aws_url u;
    *out = NULL;
    int rc = kumo__aws_url_parse(url, "sqs", &u, e);
    if (rc != 0) {
        return rc;
    }
    sqs *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&q->lock, NULL);
    rc = KUMO_EINVAL;
    if (*u.path) {
        kumo__error_set(e, KUMO_EINVAL, "store URL '%s': a queue has no path; expected sqs://QUEUE", url);
        goto out;
    }
    size_t n = strlen(u.resource);
    int ok = n <= NAME_MAX_LEN;
    for (size_t i = 0; i < n && ok; i++) {
        char c = u.resource[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }
    if (!ok) {
        kumo__error_set(e, KUMO_EINVAL, "store URL '%s': queue names are 1 to %d letters, digits, '-' or '_'", url,
                        NAME_MAX_LEN);
        goto out;
    }
    q->create = u.create;
    q->base.max_receives = u.max_receives;
    q->queue = u.resource;
    u.resource = NULL;
    rc = kumo__aws_new("sqs", &u, q->base.error, sizeof(q->base.error), &q->aws, e);
    if (rc != 0) {
        goto out;
    }
    /* The queue is looked up (and made) on the first call. */
    *out = &q->base.store;
out:
    if (rc != 0)
        sqs_close(q ? &q->base.store : NULL);
    kumo__aws_url_free(&u);
    return rc;
}

/* Text SQS accepts as is: UTF-8 of XML 1.0 characters. */
static int plain_text(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return 0;
            i++;
            continue;
        }
        size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
        if (n == 0 || c > 0xf4 || i + n > len)
            return 0;
        uint32_t cp = c & (0xff >> (n + 1));
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
            cp == 0xfffe || cp == 0xffff)
            return 0;
        i += n;
    }
    return 1;
}

static int sqs_send(kumo__queue *kq, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms, const char *trace,
                    const char **id)
{
    sqs *q = (sqs *)kq;
    json_t *resp = NULL, *req = NULL;
    char *b64 = NULL;
    int rc = KUMO_ENOMEM;
    if (delay_ms > (uint64_t)DELAY_MAX_S * 1000) {
        snprintf(kq->error, sizeof(kq->error), "sqs: a delay is at most %d s; this one is %llu ms", DELAY_MAX_S,
                 (unsigned long long)delay_ms);
        return KUMO_EINVAL;
    }
    int plain = plain_text(body, len);
    if (plain) {
        req = json_pack("{s:s%, s:I}", "MessageBody", (const char *)body, len, "DelaySeconds",
                        (json_int_t)((delay_ms + 999) / 1000));
    } else if ((b64 = kumo__aws_b64_encode(body, len)) != NULL) {
        req = json_pack("{s:s, s:I, s:{s:{s:s, s:s}}}", "MessageBody", b64, "DelaySeconds",
                        (json_int_t)((delay_ms + 999) / 1000), "MessageAttributes", ENCODING_ATTR, "DataType", "String",
                        "StringValue", "base64");
    }
    if (req && trace && *trace) {
        json_t *attrs = json_object_get(req, "MessageAttributes");
        if (attrs == NULL && json_object_set_new(req, "MessageAttributes", attrs = json_object()) != 0)
            attrs = NULL;
        if (attrs == NULL ||
            json_object_set_new(attrs, TRACE_ATTR, json_pack("{s:s, s:s}", "DataType", "String", "StringValue", trace)))
            json_decref(req), req = NULL;
    }
    pthread_mutex_lock(&q->lock);
    rc = call(q, "SendMessage", req, &resp);
    pthread_mutex_unlock(&q->lock);
    if (rc == 0 && id) {
        const char *mid = json_string_value(json_object_get(resp, "MessageId"));
        *id = kumo__arena_strndup(a, mid ? mid : "", mid ? strlen(mid) : 0);
        if (*id == NULL)
            rc = KUMO_ENOMEM;
    }
    json_decref(resp);
    free(b64);
    return rc;
}

/* One received message into m (strings in the arena). */
static int fill_message(kumo__arena *a, json_t *msg, kumo_queue_message *m)
{
    const char *mid = json_string_value(json_object_get(msg, "MessageId"));
    const char *rh = json_string_value(json_object_get(msg, "ReceiptHandle"));
    json_t *body = json_object_get(msg, "Body");
    const char *count =
        json_string_value(json_object_get(json_object_get(msg, "Attributes"), "ApproximateReceiveCount"));
    const char *sent = json_string_value(json_object_get(json_object_get(msg, "Attributes"), "SentTimestamp"));
    json_t *mattrs = json_object_get(msg, "MessageAttributes");
    const char *enc = json_string_value(json_object_get(json_object_get(mattrs, ENCODING_ATTR), "StringValue"));
    json_t *trace = json_object_get(json_object_get(mattrs, TRACE_ATTR), "StringValue");
    if (mid == NULL || rh == NULL || !json_is_string(body))
        return KUMO_EIO;
    m->id = kumo__arena_strndup(a, mid, strlen(mid));
    m->receipt = kumo__arena_strndup(a, rh, strlen(rh));
    m->receives = count ? (unsigned)strtoul(count, NULL, 10) : 1;
    m->sent_ms = sent ? strtoll(sent, NULL, 10) : 0; /* SentTimestamp: epoch ms, as a string */
    const char *b = json_string_value(body);
    size_t blen = json_string_length(body);
    char env_tp[128];
    const char *env = json_is_string(trace) ? NULL : kumo__sns_envelope_traceparent(b, blen, env_tp, sizeof(env_tp));
    /* the message's own attribute, else (a topic's subscription without
     * raw delivery) the SNS envelope's */
    m->trace = json_is_string(trace) ? kumo__queue_trace_copy(a, json_string_value(trace), json_string_length(trace))
               : env                 ? kumo__queue_trace_copy(a, env, strlen(env))
                                     : NULL;
    if (enc && strcmp(enc, "base64") == 0) {
        unsigned char *d = kumo__arena_alloc(a, blen / 4 * 3 + 4);
        long n = d ? kumo__aws_b64_decode(b, blen, d) : 0;
        if (n < 0)
            return KUMO_EIO;
        if (d)
            d[n] = '\0';
        m->body = d;
        m->len = d ? (size_t)n : 0;
    } else {
        m->body = kumo__arena_strndup(a, b, blen);
        m->len = blen;
    }
    return m->id && m->receipt && m->body ? 0 : KUMO_ENOMEM;
}

static int sqs_receive(kumo__queue *kq, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                       size_t *count)
{
    sqs *q = (sqs *)kq;
    int rc = 0;
    uint64_t vis = (visibility_ms + 999) / 1000;
    if (vis > VISIBILITY_MAX_S)
        vis = VISIBILITY_MAX_S;
    *count = 0;
    pthread_mutex_lock(&q->lock);
    q->last_vis = vis;
    if (json_array_size(q->stash) > 0) {
        /* What wait's long poll received: this receive's answer. */
        while (*count < max && json_array_size(q->stash) > 0 && rc == 0) {
            rc = fill_message(a, json_array_get(q->stash, 0), &out[*count]);
            json_array_remove(q->stash, 0);
            if (rc == 0)
                (*count)++;
        }
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    while (*count < max) {
        size_t want = max - *count < RECEIVE_BATCH ? max - *count : RECEIVE_BATCH;
        json_t *resp = NULL;
        json_t *req =
            json_pack("{s:I, s:I, s:i, s:[s, s], s:[s, s]}", "MaxNumberOfMessages", (json_int_t)want,
                      "VisibilityTimeout", (json_int_t)vis, "WaitTimeSeconds", 0, "AttributeNames",
                      "ApproximateReceiveCount", "SentTimestamp", "MessageAttributeNames", ENCODING_ATTR, TRACE_ATTR);
        rc = call(q, "ReceiveMessage", req, &resp);
        if (rc != 0)
            break;
        json_t *msgs = json_object_get(resp, "Messages"), *msg;
        size_t i, got = json_array_size(msgs);
        json_array_foreach(msgs, i, msg)
        {
            if (*count == max)
                break;
            rc = fill_message(a, msg, &out[*count]);
            if (rc != 0)
                break;
            (*count)++;
        }
        json_decref(resp);
        if (rc != 0 || got < want)
            break;
    }
    pthread_mutex_unlock(&q->lock);
    if (rc == KUMO_EIO && *kq->error == '\0')
        snprintf(kq->error, sizeof(kq->error), "sqs: ReceiveMessage answered a message without id, receipt or body");
    return rc;
}

static int sqs_ack(kumo__queue *kq, const char *receipt)
{
    sqs *q = (sqs *)kq;
    json_t *resp = NULL;
    pthread_mutex_lock(&q->lock);
    int rc = call(q, "DeleteMessage", json_pack("{s:s}", "ReceiptHandle", receipt), &resp);
    pthread_mutex_unlock(&q->lock);
    json_decref(resp);
    return rc;
}

static int sqs_nack(kumo__queue *kq, const char *receipt, uint64_t delay_ms)
{
    sqs *q = (sqs *)kq;
    json_t *resp = NULL;
    uint64_t s = (delay_ms + 999) / 1000;
    if (s > VISIBILITY_MAX_S)
        s = VISIBILITY_MAX_S;
    pthread_mutex_lock(&q->lock);
    int rc = call(q, "ChangeMessageVisibility",
                  json_pack("{s:s, s:I}", "ReceiptHandle", receipt, "VisibilityTimeout", (json_int_t)s), &resp);
    pthread_mutex_unlock(&q->lock);
    json_decref(resp);
    return rc;
}

/* wait: SQS long polling. A ReceiveMessage with WaitTimeSeconds (whole
 * seconds: at least 1, at most 5, well within the HTTP client's 10 s
 * timeout; SQS allows 20) returns as soon as a message is there;
 * what it receives (with the visibility of the last receive) is stashed
 * for the next receive, which is the caller's next call. So a stop is seen
 * within about a second on SQS, not 100 ms. */
static int sqs_wait(kumo__queue *kq, uint64_t timeout_ms)
{
    sqs *q = (sqs *)kq;
    int rc = 0;
    json_t *resp = NULL;
    uint64_t secs = (timeout_ms + 999) / 1000;
    if (secs < 1)
        secs = 1;
    if (secs > 5)
        secs = 5;
    pthread_mutex_lock(&q->lock);
    if (json_array_size(q->stash) > 0)
        goto out;
    if (q->stash == NULL && (q->stash = json_array()) == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    json_t *req =
        json_pack("{s:i, s:I, s:I, s:[s, s], s:[s, s]}", "MaxNumberOfMessages", RECEIVE_BATCH, "VisibilityTimeout",
                  (json_int_t)(q->last_vis ? q->last_vis : 30), "WaitTimeSeconds", (json_int_t)secs, "AttributeNames",
                  "ApproximateReceiveCount", "SentTimestamp", "MessageAttributeNames", ENCODING_ATTR, TRACE_ATTR);
    rc = call(q, "ReceiveMessage", req, &resp);
    if (rc == 0) {
        json_t *msgs = json_object_get(resp, "Messages");
        if (json_is_array(msgs))
            json_array_extend(q->stash, msgs);
    }
out:
    pthread_mutex_unlock(&q->lock);
    json_decref(resp);
    return rc;
}
static int sqs_depth(kumo__queue *kq, kumo__queue_depth *out);

const kumo__queue_driver kumo__queue_sqs_driver = {
    .common = {.version = KUMO__QUEUE_DRIVER_VERSION, .scheme = "sqs", .open = sqs_open, .close = sqs_close},
    .send = sqs_send,
    .receive = sqs_receive,
    .ack = sqs_ack,
    .nack = sqs_nack,
    .wait = sqs_wait,
    .limits = KUMO__QUEUE_STALE_RECEIPTS_UNDETECTED, /* SQS's own semantics: docs/stores-aws.md */
    .depth = sqs_depth,
};

/* SQS's approximate counts: ApproximateNumberOfMessages (ready),
 * ...NotVisible (in flight; a nacked message waiting out its delay is one
 * too, as SQS has it) and ...Delayed (sent with a delay). */
static int sqs_depth(kumo__queue *kq, kumo__queue_depth *out)
{
    sqs *q = (sqs *)kq;
    json_t *resp = NULL;
    pthread_mutex_lock(&q->lock);
    int rc = call(q, "GetQueueAttributes",
                  json_pack("{s:[s,s,s]}", "AttributeNames", "ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"),
                  &resp);
    pthread_mutex_unlock(&q->lock);
    if (rc == 0) {
        json_t *attrs = json_object_get(resp, "Attributes");
        const char *v[3] = {json_string_value(json_object_get(attrs, "ApproximateNumberOfMessages")),
                            json_string_value(json_object_get(attrs, "ApproximateNumberOfMessagesNotVisible")),
                            json_string_value(json_object_get(attrs, "ApproximateNumberOfMessagesDelayed"))};
        int64_t *f[3] = {&out->ready, &out->in_flight, &out->delayed};
        for (int i = 0; i < 3; i++)
            *f[i] = v[i] ? strtoll(v[i], NULL, 10) : -1;
    }
    json_decref(resp);
    return rc;
}

/* ---- for the SNS topic driver (sns.c) ------------------------------------ */

int kumo__sqs_plain_text(const void *body, size_t len)
{
    return plain_text(body, len);
}

int kumo__sqs_queue_arn(kumo__queue *kq, const char *topic_arn, char **arn)
{
    sqs *q = (sqs *)kq;
    json_t *resp = NULL, *doc = NULL;
    char *policy = NULL;
    *arn = NULL;
    pthread_mutex_lock(&q->lock);
    int rc = ensure_queue(q);
    if (rc == 0)
        rc = call_raw(q, "GetQueueAttributes",
                      json_pack("{s:s, s:[s]}", "QueueUrl", q->queue_url, "AttributeNames", "QueueArn"), &resp);
    const char *a =
        rc == 0 ? json_string_value(json_object_get(json_object_get(resp, "Attributes"), "QueueArn")) : NULL;
    if (rc == 0 && (a == NULL || (*arn = strdup(a)) == NULL)) {
        snprintf(q->base.error, sizeof(q->base.error), "sqs: queue '%s' has no QueueArn", q->queue);
        rc = KUMO_EIO;
    }
    if (rc == 0 && topic_arn) {
        /* SNS may send to the queue only when its policy lets the topic */
        doc = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:s, s:{s:{s:s}}}]}", "Version", "2012-10-17", "Statement",
                        "Effect", "Allow", "Principal", "Service", "sns.amazonaws.com", "Action", "sqs:SendMessage",
                        "Resource", *arn, "Condition", "ArnEquals", "aws:SourceArn", topic_arn);
        policy = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(resp);
        resp = NULL;
        rc = policy ? call_raw(q, "SetQueueAttributes",
                               json_pack("{s:s, s:{s:s}}", "QueueUrl", q->queue_url, "Attributes", "Policy", policy),
                               &resp)
                    : KUMO_ENOMEM;
    }
    pthread_mutex_unlock(&q->lock);
    if (rc != 0) {
        free(*arn);
        *arn = NULL;
    }
    json_decref(resp);
    json_decref(doc);
    free(policy);
    return rc;
}
