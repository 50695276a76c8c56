/*
 * redis_topic.c: the Redis topic driver,
 * `redis://host:port/db?timeout_ms=5000&create=true` (redis_conn.c's URL).
 *
 * Layout, per topic:
 *
 *   kumo:topic:<topic>:subscriptions   hash: subscribed event -> its owner
 *                                      (the project that registered it)
 *   kumo:<topic>.<event>:...           each subscription's queue, a queue of
 *                                      the Redis queue driver (redis_queue.c)
 *                                      named TOPIC.EVENT on the same server
 *
 * A subscription's queue is served by the Redis queue driver itself,
 * opened on the same URL with the queue's name: receive, ack, nack,
 * visibility and dead letters are that driver's. Publishing is one Lua
 * script, atomic on the server: it reads the hash's events and XADDs the message
 * ({id, b: body, t, p: the sender's traceparent}, the entry redis_queue.c's send writes) to each
 * subscription's stream, so every subscription registered when it runs
 * gets the message, or none does. The script writes keys it finds in the
 * set rather than keys it was given: fine on one server (what this driver
 * supports), not in Redis Cluster. The message id is the same in every
 * subscription (it is the queue message's id, its consumer's ce-id).
 */
#include "sdk/stores/redis_conn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_BYTES 12

enum { SC_PUBLISH, SC_COUNT };

static const char *const scripts[SC_COUNT] = {
    /* KEYS: the subscription set. ARGV: topic, message id, body,
     * traceparent ("" for none). Returns
     * how many subscriptions got it. */
    /* each subscription's queue as redis_queue.c's send writes it: the
     * entry with its send time, and a token on its notify list (wait) */
    [SC_PUBLISH] = "local t = redis.call('TIME')\n"
                   "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
                   "local subs = redis.call('HKEYS', KEYS[1])\n"
                   "for _, ev in ipairs(subs) do\n"
                   "  local q = 'kumo:' .. ARGV[1] .. '.' .. ev\n"
                   "  if ARGV[4] ~= '' then\n"
                   "    redis.call('XADD', q .. ':stream', '*', 'id', ARGV[2], 'b', ARGV[3], 't', now, 'p', ARGV[4])\n"
                   "  else redis.call('XADD', q .. ':stream', '*', 'id', ARGV[2], 'b', ARGV[3], 't', now) end\n"
                   "  redis.call('LPUSH', q .. ':notify', '1')\n"
                   "  redis.call('LTRIM', q .. ':notify', 0, 0)\n"
                   "end\n"
                   "return #subs\n",
};

typedef struct redis_topic {
    kumo__topic base; /* first: topic.c sees a kumo__topic */
    kumo__redis r;
    kumo__redis_script scripts[SC_COUNT];
    char *subs; /* the subscription set's key */
    char *url;  /* the subscriptions' queues open on it */
    pthread_mutex_t lock;
} redis_topic;

static void rt_close(kumo__store *store)
{
    redis_topic *s = (redis_topic *)store;
    if (s == NULL)
        return;
    kumo__redis_free(&s->r);
    free(s->subs);
    free(s->url);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int rt_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    *out = NULL;
    redis_topic *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    int rc = KUMO_ENOMEM;
    if (asprintf(&s->subs, "kumo:topic:%s:subscriptions", name) < 0) {
        s->subs = NULL;
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        goto out;
    }
    if ((s->url = strdup(url)) == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        goto out;
    }
    rc = kumo__redis_open(&s->r, url, s->scripts, scripts, SC_COUNT, s->base.error, sizeof(s->base.error), e);
out:
    if (rc != 0) {
        rt_close(&s->base.store);
        return rc;
    }
    *out = &s->base.store;
    return 0;
}

static int rt_publish(kumo__topic *t, kumo__arena *a, const void *data, size_t len, const char *trace, const char **id)
{
    redis_topic *s = (redis_topic *)t;
    char mid[2 * ID_BYTES + 1];
    if (kumo__random_hex(mid, ID_BYTES) != 0)
        return KUMO_EIO;
    const char *argv[] = {s->subs, s->base.name, mid, data, trace ? trace : ""};
    const size_t lens[] = {strlen(s->subs), strlen(s->base.name), strlen(mid), len, trace ? strlen(trace) : 0};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_eval(&s->r, &rep, SC_PUBLISH, 1, 5, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rep)
        freeReplyObject(rep);
    if (rc == 0 && (*id = kumo__arena_strndup(a, mid, strlen(mid))) == NULL)
        rc = KUMO_ENOMEM;
    return rc;
}

/* HSET event owner (owner non-NULL) or HDEL event. */
static int change(redis_topic *s, const char *event, const char *owner)
{
    const char *cmd = owner ? "HSET" : "HDEL";
    const char *argv[] = {cmd, s->subs, event, owner};
    const size_t lens[] = {strlen(cmd), strlen(s->subs), strlen(event), owner ? strlen(owner) : 0};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_command(&s->r, &rep, owner ? 4 : 3, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int rt_subscribe(kumo__topic *t, const char *event, const char *owner)
{
    return change((redis_topic *)t, event, owner);
}

static int rt_unsubscribe(kumo__topic *t, const char *event)
{
    return change((redis_topic *)t, event, NULL);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int rt_list(kumo__topic *t, kumo__arena *a, const char *owner, const char ***names, size_t *n)
{
    redis_topic *s = (redis_topic *)t;
    const char *argv[] = {"HGETALL", s->subs};
    const size_t lens[] = {7, strlen(s->subs)};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_command(&s->r, &rep, 2, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0) {
        snprintf(s->base.error, sizeof(s->base.error), "redis: HGETALL gave an unexpected reply");
        rc = KUMO_EIO;
        goto out;
    }
    const char **v = kumo__arena_alloc(a, (rep->elements ? rep->elements / 2 : 1) * sizeof(*v));
    size_t got = 0;
    if (v == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        redisReply *e = rep->element[i], *o = rep->element[i + 1];
        if (e->str == NULL || o->str == NULL)
            continue;
        if (owner && (o->len != strlen(owner) || memcmp(o->str, owner, o->len) != 0))
            continue;
        if ((v[got++] = kumo__arena_strndup(a, e->str, e->len)) == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    qsort(v, got, sizeof(*v), by_name);
    *names = v;
    *n = got;
out:
    freeReplyObject(rep);
    return rc;
}

static int rt_open_subscription(kumo__topic *t, const char *event, kumo__queue **out, kumo__error *e)
{
    redis_topic *s = (redis_topic *)t;
    char queue[KUMO__TOPIC_QUEUE_MAX];
    kumo__store *q = NULL;
    if (kumo__topic_subscription_queue(s->base.name, event, queue, sizeof(queue)) != 0) {
        kumo__error_set(e, KUMO_EINVAL, "'%s.%s' is not a valid subscription", s->base.name, event);
        return KUMO_EINVAL;
    }
    int rc = kumo__store_open(&kumo__queue_kind, s->url, queue, &q, e);
    *out = (kumo__queue *)q; /* a kumo__queue starts with its kumo__store */
    return rc;
}

const kumo__topic_driver kumo__topic_redis_driver = {
    .common = {.version = KUMO__TOPIC_DRIVER_VERSION, .scheme = "redis", .open = rt_open, .close = rt_close},
    .publish = rt_publish,
    .subscribe = rt_subscribe,
    .unsubscribe = rt_unsubscribe,
    .list = rt_list,
    .open_subscription = rt_open_subscription,
};
