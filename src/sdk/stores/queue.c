/*
 * queue.c: the queue API of kumo.h over the queue drivers of sdk.h; kv.c's
 * counterpart for queues (store.c opens and caches the stores and records
 * their errors for all three kinds).
 *
 * Checked here once for every driver: bodies are 0 to QUEUE_BODY_MAX bytes
 * (KUMO_ETOOBIG beyond: 192 KiB, what SQS's 256 KiB holds once a binary
 * body is base64-encoded, so the limit is the same on every backend), a
 * receive asks for 1..100 messages, a visibility of 0 means
 * DEFAULT_VISIBILITY_MS, delays are at most MAX_DELAY_MS (SQS's 15 minutes
 * applies to SQS only; here a day), receipts are non-empty strings.
 *
 * The URL's query max_receives= (1..1000, default 5) is read here for every
 * driver into the handle's max_receives (the kind's URL option: store.c
 * checks it before the driver opens and applies it after); drivers move a
 * message to the queue NAME-dead when it has been received that many times
 * and comes back once more.
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_BODY_MAX (192u << 10)
#define RECEIVE_MAX 100
#define DEFAULT_VISIBILITY_MS 30000
#define MAX_DELAY_MS (24ull * 3600 * 1000)
#define RECEIPT_MAX 1024
#define DEFAULT_MAX_RECEIVES 5

/* max_receives= of the URL: checked (s NULL), then set on the open queue. */
static int url_options(const char *url, kumo__store *s, kumo__error *e)
{
    unsigned max_receives = DEFAULT_MAX_RECEIVES;
    char mr[16];
    if (kumo__url_query(url, "max_receives", mr, sizeof(mr))) {
        char *end;
        unsigned long v = strtoul(mr, &end, 10);
        if (*mr == '\0' || *end != '\0' || v < 1 || v > 1000) {
            kumo__error_set(e, KUMO_EINVAL, "max_receives=%s in the store URL; expected a number from 1 to 1000", mr);
            return KUMO_EINVAL;
        }
        max_receives = (unsigned)v;
    }
    if (s)
        ((kumo__queue *)s)->max_receives = max_receives; /* a kumo__queue starts with its kumo__store */
    return 0;
}

/* one driver a line */
/* clang-format off */
static const kumo__driver_head *const drivers[] = {
    &kumo__queue_sqs_driver.common,
#if !KUMO_DRIVERS_AWS_ONLY /* kumo-lambda carries the AWS drivers alone */
    &kumo__queue_pubsub_driver.common,
    &kumo__queue_azqueue_driver.common,
    &kumo__queue_sqlite_driver.common,
#if !KUMO_DRIVERS_CLOUD_ONLY /* kumo-http: the clouds' and the embedded default's */
    &kumo__queue_redis_driver.common,
    &kumo__queue_postgres_driver.common,
#endif
#endif
};
/* clang-format on */

const kumo__store_kind_desc kumo__queue_kind = {
    .name = "queue",
    .label = "queue",
    .version = KUMO__QUEUE_DRIVER_VERSION,
    .drivers = drivers,
    .ndrivers = sizeof(drivers) / sizeof(drivers[0]),
    .options = url_options,
};

const char *kumo__queue_trace_copy(kumo__arena *a, const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > 55)
        return NULL;
    return kumo__arena_strndup(a, s, len);
}

/* ---- the public API -------------------------------------------------- */

static int prepare(kumo_ctx *ctx, const char *queue, kumo__queue **q)
{
    *q = NULL;
    if (ctx == NULL || queue == NULL)
        return KUMO_EINVAL;
    int rc;
    kumo__store *s = kumo__store_get(&kumo__queue_kind, ctx, queue, &rc);
    if (s == NULL)
        return rc;
    *q = (kumo__queue *)s; /* a kumo__queue starts with its kumo__store */
    (*q)->error[0] = '\0';
    return 0;
}

static int result(kumo_ctx *ctx, kumo__queue *q, int rc)
{
    if (rc != 0)
        kumo__store_error_set(ctx, rc, q->error);
    return rc;
}

static int check_receipt(const char *receipt)
{
    if (receipt == NULL)
        return KUMO_EINVAL;
    size_t n = strnlen(receipt, RECEIPT_MAX + 1);
    return n == 0 || n > RECEIPT_MAX ? KUMO_EINVAL : 0;
}

static int queue_send_call(kumo_ctx *ctx, const char *queue, const void *body, size_t len, uint64_t delay_ms,
                           const char *trace, const char **id)
{
    kumo__queue *q;
    const char *local;
    if (id == NULL)
        id = &local;
    *id = NULL;
    if (body == NULL && len > 0)
        return KUMO_EINVAL;
    if (delay_ms > MAX_DELAY_MS)
        return KUMO_EINVAL;
    if (len > QUEUE_BODY_MAX) {
        kumo__store_error_set(ctx, KUMO_ETOOBIG, "a queue message body is at most 192 KiB");
        return KUMO_ETOOBIG;
    }
    int rc = prepare(ctx, queue, &q);
    if (rc != 0)
        return rc;
    rc = result(ctx, q, q->driver->send(q, &ctx->arena, body ? body : "", len, delay_ms, trace, id));
    if (rc != 0)
        *id = NULL;
    return rc;
}

static int queue_receive_call(kumo_ctx *ctx, const char *queue, size_t max, uint64_t visibility_ms,
                              kumo_queue_message *out, size_t *count)
{
    kumo__queue *q;
    if (count)
        *count = 0;
    if (out == NULL || count == NULL || max < 1 || max > RECEIVE_MAX || visibility_ms > MAX_DELAY_MS)
        return KUMO_EINVAL;
    memset(out, 0, max * sizeof(*out));
    int rc = prepare(ctx, queue, &q);
    if (rc != 0)
        return rc;
    rc = result(
        ctx, q,
        q->driver->receive(q, &ctx->arena, max, visibility_ms ? visibility_ms : DEFAULT_VISIBILITY_MS, out, count));
    if (rc != 0) {
        memset(out, 0, max * sizeof(*out));
        *count = 0;
    }
    return rc;
}

static int queue_ack_call(kumo_ctx *ctx, const char *queue, const char *receipt)
{
    kumo__queue *q;
    if (check_receipt(receipt) != 0)
        return KUMO_EINVAL;
    int rc = prepare(ctx, queue, &q);
    if (rc != 0)
        return rc;
    return result(ctx, q, q->driver->ack(q, receipt));
}

static int queue_nack_call(kumo_ctx *ctx, const char *queue, const char *receipt, uint64_t delay_ms)
{
    kumo__queue *q;
    if (check_receipt(receipt) != 0 || delay_ms > MAX_DELAY_MS)
        return KUMO_EINVAL;
    int rc = prepare(ctx, queue, &q);
    if (rc != 0)
        return rc;
    return result(ctx, q, q->driver->nack(q, receipt, delay_ms));
}

/* ---- the public calls, each recorded while the request is traced (sdk/trace.c) ---- */

int kumo_queue_send(kumo_ctx *ctx, const char *queue, const void *body, size_t len, uint64_t delay_ms, const char **id)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    char tp[56];
    const char *trace = kumo__trace_send_context(ctx, t0, tp); /* the message carries the send's context */
    int rc = queue_send_call(ctx, queue, body, len, delay_ms, trace, id);
    kumo__trace_store_end(ctx, t0, "queue", "send", queue, rc);
    return rc;
}

int kumo_queue_receive(kumo_ctx *ctx, const char *queue, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                       size_t *count)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = queue_receive_call(ctx, queue, max, visibility_ms, out, count);
    kumo__trace_store_end(ctx, t0, "queue", "receive", queue, rc);
    return rc;
}

int kumo_queue_ack(kumo_ctx *ctx, const char *queue, const char *receipt)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = queue_ack_call(ctx, queue, receipt);
    kumo__trace_store_end(ctx, t0, "queue", "ack", queue, rc);
    return rc;
}

int kumo_queue_nack(kumo_ctx *ctx, const char *queue, const char *receipt, uint64_t delay_ms)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = queue_nack_call(ctx, queue, receipt, delay_ms);
    kumo__trace_store_end(ctx, t0, "queue", "nack", queue, rc);
    return rc;
}
