/*
 * queue.c: the queue API of kumo.h over the queue drivers of sdk.h; store.c's
 * counterpart for queues (read it first: the same name rule, cache and
 * error recording).
 *
 * Checked here once for every driver: bodies are 0 to QUEUE_BODY_MAX bytes
 * (KUMO_ETOOBIG beyond: 192 KiB, what SQS's 256 KiB holds once a binary
 * body is base64-encoded, so the limit is the same on every backend), a
 * receive asks for 1..100 messages, a visibility of 0 means
 * DEFAULT_VISIBILITY_MS, delays are at most MAX_DELAY_MS (SQS's 15 minutes
 * applies to SQS only; here a day), receipts are non-empty strings.
 *
 * The URL's query max_receives= (1..1000, default 5) is read here for every
 * driver into the handle's max_receives; drivers move a message to the
 * queue NAME-dead when it has been received that many times and comes back
 * once more.
 */
#include "sdk/sdk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const kumo__queue_driver *const drivers[] = {
    &kumo__queue_sqlite_driver,
    &kumo__queue_sqs_driver,
    &kumo__queue_redis_driver,
    &kumo__queue_postgres_driver,
};

#define STORE_NAME_MAX 64
#define QUEUE_BODY_MAX (192u << 10)
#define RECEIVE_MAX 100
#define DEFAULT_VISIBILITY_MS 30000
#define MAX_DELAY_MS (24ull * 3600 * 1000)
#define RECEIPT_MAX 1024
#define DEFAULT_MAX_RECEIVES 5


int kumo__queue_open_url(const char *url, const char *name, kumo__queue **out, char *err, size_t errlen)
{
    *out = NULL;
    if (name == NULL) {
        snprintf(err, errlen, "no store name given");
        return KUMO_EINVAL;
    }
    const kumo__queue_driver *drv = kumo__driver_for_url(url, (const void *const *)drivers, sizeof(drivers) / sizeof(drivers[0]),
                                          KUMO_QUEUE_DRIVER_VERSION, "queue", err, errlen);
    if (drv == NULL)
        return KUMO_EINVAL;
    unsigned max_receives = DEFAULT_MAX_RECEIVES;
    char mr[16];
    if (kumo__url_query(url, "max_receives", mr, sizeof(mr))) {
        char *end;
        unsigned long v = strtoul(mr, &end, 10);
        if (*mr == '\0' || *end != '\0' || v < 1 || v > 1000) {
            snprintf(err, errlen, "max_receives=%s in the store URL; expected a number from 1 to 1000", mr);
            return KUMO_EINVAL;
        }
        max_receives = (unsigned)v;
    }
    char *dup = strdup(name);
    if (dup == NULL) {
        snprintf(err, errlen, "out of memory");
        return KUMO_ENOMEM;
    }
    kumo__queue *q = NULL;
    int rc = drv->open(url, name, &q, err, errlen);
    if (rc != 0) {
        free(dup);
        return rc;
    }
    q->driver = drv;
    q->name = dup;
    q->max_receives = max_receives;
    *out = q;
    return 0;
}

void kumo__queue_close(kumo__queue *q)
{
    if (q == NULL)
        return;
    char *name = q->name;
    q->driver->close(q);
    free(name);
}

static int queue_open_any(const char *url, const char *name, void **out, char *err, size_t errlen)
{
    kumo__queue *h = NULL;
    int rc = kumo__queue_open_url(url, name, &h, err, errlen);
    *out = h;
    return rc;
}

static void queue_close_any(void *h)
{
    kumo__queue_close(h);
}

static kumo__store_cache cache = KUMO__STORE_CACHE_INIT("queue", queue_open_any, queue_close_any);

static kumo__queue *queue_store(const char *name, int *err, char *msg, size_t msglen)
{
    return kumo__store_cache_get(&cache, name, err, msg, msglen);
}

kumo__queue *kumo__queue_store(const char *name, int *err)
{
    char msg[256];
    return queue_store(name, err, msg, sizeof(msg));
}

void kumo__queue_close_all(void)
{
    kumo__store_cache_close_all(&cache);
}

/* ---- the public API -------------------------------------------------- */

static int prepare(kumo_ctx *ctx, const char *queue, kumo__queue **q)
{
    if (ctx == NULL || queue == NULL)
        return KUMO_EINVAL;
    int rc;
    char msg[256];
    *q = queue_store(queue, &rc, msg, sizeof(msg));
    if (*q == NULL) {
        kumo__store_error_set(ctx, rc, msg);
        return rc;
    }
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

int kumo_queue_send(kumo_ctx *ctx, const char *queue, const void *body, size_t len, uint64_t delay_ms,
                    const char **id)
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
    rc = result(ctx, q, q->driver->send(q, &ctx->arena, body ? body : "", len, delay_ms, id));
    if (rc != 0)
        *id = NULL;
    return rc;
}

int kumo_queue_receive(kumo_ctx *ctx, const char *queue, size_t max, uint64_t visibility_ms,
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
    rc = result(ctx, q,
                q->driver->receive(q, &ctx->arena, max, visibility_ms ? visibility_ms : DEFAULT_VISIBILITY_MS, out,
                                   count));
    if (rc != 0) {
        memset(out, 0, max * sizeof(*out));
        *count = 0;
    }
    return rc;
}

int kumo_queue_ack(kumo_ctx *ctx, const char *queue, const char *receipt)
{
    kumo__queue *q;
    if (check_receipt(receipt) != 0)
        return KUMO_EINVAL;
    int rc = prepare(ctx, queue, &q);
    if (rc != 0)
        return rc;
    return result(ctx, q, q->driver->ack(q, receipt));
}

int kumo_queue_nack(kumo_ctx *ctx, const char *queue, const char *receipt, uint64_t delay_ms)
{
    kumo__queue *q;
    if (check_receipt(receipt) != 0 || delay_ms > MAX_DELAY_MS)
        return KUMO_EINVAL;
    int rc = prepare(ctx, queue, &q);
    if (rc != 0)
        return rc;
    return result(ctx, q, q->driver->nack(q, receipt, delay_ms));
}
