/*
 * topic.c: the fourth kind of store, topics (publish/subscribe), over the
 * topic drivers of sdk.h; queue.c's counterpart for topics (store.c opens,
 * caches and closes them like every kind).
 *
 * A handler publishes (kumo_topic_publish); the gateway registers the
 * subscriptions, one per event of kumo.yaml that names the topic
 * (gateway/topics.c), and consumes each subscription's queue TOPIC.EVENT
 * like a queue event. A driver fans a message out to every subscription
 * registered when it is published, in one step on its backend (one SQLite
 * statement, one Redis script, one SNS Publish), so two subscribers never
 * see different sets of messages because of a crash in between.
 *
 * Checked here once for every driver: a message is 0 to TOPIC_DATA_MAX
 * bytes (192 KiB, queue.c's ceiling: each subscription's copy is a queue
 * message), names of subscriptions are [A-Za-z0-9_-]+ and TOPIC.EVENT fits
 * a store name.
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <string.h>

#define TOPIC_DATA_MAX (192u << 10)

/* one driver a line */
/* clang-format off */
static const kumo__driver_head *const drivers[] = {
    &kumo__topic_sns_driver.common,
#if !KUMO_DRIVERS_AWS_ONLY /* kumo-lambda carries the AWS drivers alone */
    &kumo__topic_pubsub_driver.common,
    &kumo__topic_azure_driver.common,
    &kumo__topic_sqlite_driver.common,
#if !KUMO_DRIVERS_CLOUD_ONLY /* kumo-http: the clouds' and the embedded default's */
    &kumo__topic_redis_driver.common,
#endif
#endif
};
/* clang-format on */

const kumo__store_kind_desc kumo__topic_kind = {
    .name = "topic",
    .label = "topic",
    .version = KUMO__TOPIC_DRIVER_VERSION,
    .drivers = drivers,
    .ndrivers = sizeof(drivers) / sizeof(drivers[0]),
};

static int name_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

int kumo__topic_subscription_queue(const char *topic, const char *event, char *buf, size_t size)
{
    if (!name_ok(topic) || !name_ok(event))
        return KUMO_EINVAL;
    int n = snprintf(buf, size, "%s.%s", topic, event);
    /* the queue's dead letters go to TOPIC.EVENT-dead: that must fit too */
    if (n < 0 || (size_t)n + sizeof("-dead") > size || (size_t)n + sizeof("-dead") > KUMO__TOPIC_QUEUE_MAX)
        return KUMO_EINVAL;
    return 0;
}

int kumo__topic_subscribe(kumo__topic *t, const char *event, const char *owner)
{
    t->error[0] = '\0';
    if (!name_ok(event) || owner == NULL)
        return KUMO_EINVAL;
    return t->driver->subscribe(t, event, owner);
}

int kumo__topic_unsubscribe(kumo__topic *t, const char *event)
{
    t->error[0] = '\0';
    if (!name_ok(event))
        return KUMO_EINVAL;
    return t->driver->unsubscribe(t, event);
}

int kumo__topic_list(kumo__topic *t, kumo__arena *a, const char *owner, const char ***names, size_t *n)
{
    t->error[0] = '\0';
    *names = NULL;
    *n = 0;
    return t->driver->list(t, a, owner, names, n);
}

int kumo__topic_open_subscription(kumo__topic *t, const char *event, kumo__queue **out, kumo__error *e)
{
    char q[KUMO__TOPIC_QUEUE_MAX];
    *out = NULL;
    t->error[0] = '\0';
    if (kumo__topic_subscription_queue(t->name, event, q, sizeof(q)) != 0) {
        kumo__error_set(e, KUMO_EINVAL, "topic '%s', subscription '%s': not a valid subscription name", t->name,
                        event ? event : "(null)");
        return KUMO_EINVAL;
    }
    return t->driver->open_subscription(t, event, out, e);
}

/* ---- the public API -------------------------------------------------- */

static int topic_publish_call(kumo_ctx *ctx, const char *topic, const void *data, size_t len, const char *trace,
                              const char **id)
{
    const char *local;
    if (id == NULL)
        id = &local;
    *id = NULL;
    if (ctx == NULL || topic == NULL || (data == NULL && len > 0))
        return KUMO_EINVAL;
    if (len > TOPIC_DATA_MAX) {
        kumo__store_error_set(ctx, KUMO_ETOOBIG, "a topic message is at most 192 KiB");
        return KUMO_ETOOBIG;
    }
    int rc;
    kumo__store *s = kumo__store_get(&kumo__topic_kind, ctx, topic, &rc);
    if (s == NULL)
        return rc;
    kumo__topic *t = (kumo__topic *)s; /* a kumo__topic starts with its kumo__store */
    t->error[0] = '\0';
    rc = t->driver->publish(t, &ctx->arena, data ? data : "", len, trace, id);
    if (rc != 0) {
        kumo__store_error_set(ctx, rc, t->error);
        *id = NULL;
    }
    return rc;
}

/* ---- the public calls, each recorded while the request is traced (sdk/trace.c) ---- */

int kumo_topic_publish(kumo_ctx *ctx, const char *topic, const void *data, size_t len, const char **id)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    char tp[56];
    const char *trace = kumo__trace_send_context(ctx, t0, tp); /* every subscription's copy carries it */
    int rc = topic_publish_call(ctx, topic, data, len, trace, id);
    kumo__trace_store_end(ctx, t0, "topic", "publish", topic, rc);
    return rc;
}
