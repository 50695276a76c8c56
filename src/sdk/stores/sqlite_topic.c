/*
 * sqlite_topic.c: the embedded topic driver, `sqlite:PATH[?create=false]`
 * (the default of kumo up: DIR/.kumo/data/topic.db, one file for every
 * topic).
 *
 * The subscriptions and their queues live in the same file:
 *
 *   kumo_topic_subscription(topic TEXT, event TEXT, queue TEXT, owner TEXT,
 *                           PRIMARY KEY (topic, event))
 *
 * (owner: the project that registered the subscription; the gateway only
 * ever unregisters its own project's.)
 *   kumo_queue(...)   sqlite_queue.c's table, one queue TOPIC.EVENT per
 *                     subscription (and TOPIC.EVENT-dead)
 *
 * A subscription's queue is served by the embedded queue driver itself
 * (sqlite_queue.c, opened on the same URL with the queue's name): receive,
 * ack, nack, visibility and dead letters are that driver's, unchanged.
 * Publishing is one statement, INSERT INTO kumo_queue ... SELECT FROM
 * kumo_topic_subscription, so it is one transaction: every subscription
 * registered when it runs gets the message, or none does. The rows it
 * writes are those sqlite_queue.c's send writes (queue, body, visible_at =
 * sent_at = now, receives 0, the sender's trace); their layout is that file's, kept in step by
 * the conformance suite (tests/conformance, --topic).
 *
 * A publish's id is a fresh random one (each subscription's copy has its
 * own queue message id, which is what its consumer's ce-id names).
 */
#include "sdk/sdk.h"
#include "base/clock.h"

#include <pthread.h>
#include "sdk/stores/sqlite_lazy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_PUBLISH, ST_SUBSCRIBE, ST_UNSUBSCRIBE, ST_LIST, ST_COUNT };

static const char *const sql[ST_COUNT] = {
    [ST_PUBLISH] = "INSERT INTO kumo_queue (queue, body, visible_at, receives, sent_at, trace) "
                   "SELECT queue, ?2, ?3, 0, ?3, ?4 FROM kumo_topic_subscription WHERE topic = ?1 ORDER BY event",
    [ST_SUBSCRIBE] = "INSERT INTO kumo_topic_subscription (topic, event, queue, owner) VALUES (?1, ?2, ?3, ?4) "
                     "ON CONFLICT (topic, event) DO UPDATE SET owner = excluded.owner",
    [ST_UNSUBSCRIBE] = "DELETE FROM kumo_topic_subscription WHERE topic = ?1 AND event = ?2",
    [ST_LIST] = "SELECT event FROM kumo_topic_subscription WHERE topic = ?1 AND (?2 IS NULL OR owner = ?2) "
                "ORDER BY event",
};

static const char schema[] = "CREATE TABLE IF NOT EXISTS kumo_topic_subscription ("
                             "  topic TEXT NOT NULL, event TEXT NOT NULL, queue TEXT NOT NULL, owner TEXT NOT NULL,"
                             "  PRIMARY KEY (topic, event));";

typedef struct sqlite_topic {
    kumo__topic base; /* first: topic.c sees a kumo__topic */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    pthread_mutex_t lock;
    char *url; /* the subscriptions' queues open on it */
} sqlite_topic;

static int fail(sqlite_topic *s, const char *what, int rc)
{
    char why[200];
    kumo__sqlite_describe(s->db, rc, why, sizeof(why));
    snprintf(s->base.error, sizeof(s->base.error), "sqlite %.40s: %s", what, why);
    kumo_log(NULL, KUMO_LOG_ERROR, "topic '%s': %s", s->base.name ? s->base.name : "?", s->base.error);
    return kumo__sqlite_status(rc);
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no row, again while SQLite says busy
 * without waiting (kumo__sqlite_busy_again), keeping its bindings; then
 * resets it and clears them. */
static int step_done(sqlite3_stmt *st)
{
    unsigned tries = 0;
    int rc;
    do {
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    } while (kumo__sqlite_busy_again(rc, &tries));
    sqlite3_clear_bindings(st);
    return rc;
}

static void st_close(kumo__store *store)
{
    sqlite_topic *s = (sqlite_topic *)store;
    if (s == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s->url);
    free(s);
}

static int st_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    *out = NULL;
    sqlite_topic *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->url = strdup(url)) == NULL) {
        free(s);
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    int rc, may_create = 1;
    static const char *const known[] = {"create", NULL};
    if ((rc = kumo__url_params_known(url, known, e)) != 0)
        goto out;
    /* The queue table is the embedded queue driver's: opening a queue on
     * the same URL makes it (or, with create=false, checks it is there). */
    kumo__store *q = NULL;
    if ((rc = kumo__store_open(&kumo__queue_kind, url, name, &q, e)) != 0)
        goto out;
    kumo__store_close(q);
    if ((rc = kumo__sqlite_open_url(url, schema, NULL, &s->db, &may_create, e)) != 0)
        goto out;
    for (int i = 0; i < ST_COUNT; i++) {
        int src = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (src != SQLITE_OK) {
            char why[256];
            kumo__sqlite_describe(s->db, src, why, sizeof(why));
            rc = may_create ? kumo__sqlite_status(src) : KUMO_EUNAVAILABLE;
            kumo__error_set(e, rc, "%s: %s%s", sqlite3_db_filename(s->db, "main"), why,
                            may_create ? "" : " (create=false: the table kumo_topic_subscription must exist)");
            goto out;
        }
    }
    *out = &s->base.store;
out:
    if (rc != 0)
        st_close(&s->base.store);
    return rc;
}

static int st_publish(kumo__topic *t, kumo__arena *a, const void *data, size_t len, const char *trace, const char **id)
{
    sqlite_topic *s = (sqlite_topic *)t;
    char mid[2 * 12 + 1];
    sqlite3_randomness(12, mid); /* then spelled in hex, in place, from the end */
    for (int i = 11; i >= 0; i--) {
        unsigned char b = (unsigned char)mid[i];
        mid[2 * i] = "0123456789abcdef"[b >> 4];
        mid[2 * i + 1] = "0123456789abcdef"[b & 15];
    }
    mid[24] = '\0';
    sqlite3_stmt *st = s->st[ST_PUBLISH];
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    sqlite3_bind_text(st, 1, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)kumo__epoch_ms());
    if (trace)
        sqlite3_bind_text(st, 4, trace, -1, SQLITE_STATIC);
    int src = step_done(st);
    if (src != SQLITE_DONE)
        rc = fail(s, "publish", src);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && (*id = kumo__arena_strndup(a, mid, strlen(mid))) == NULL)
        rc = KUMO_ENOMEM;
    return rc;
}

/* Subscribe (for owner) or unsubscribe `event`. */
static int change(sqlite_topic *s, int which, const char *event, const char *owner)
{
    char queue[KUMO__TOPIC_QUEUE_MAX];
    if (kumo__topic_subscription_queue(s->base.name, event, queue, sizeof(queue)) != 0)
        return KUMO_EINVAL;
    sqlite3_stmt *st = s->st[which];
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    sqlite3_bind_text(st, 1, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
    if (which == ST_SUBSCRIBE) {
        sqlite3_bind_text(st, 3, queue, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, owner, -1, SQLITE_STATIC);
    }
    int src = step_done(st);
    if (src != SQLITE_DONE)
        rc = fail(s, which == ST_SUBSCRIBE ? "subscribe" : "unsubscribe", src);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int st_subscribe(kumo__topic *t, const char *event, const char *owner)
{
    return change((sqlite_topic *)t, ST_SUBSCRIBE, event, owner);
}

static int st_unsubscribe(kumo__topic *t, const char *event)
{
    return change((sqlite_topic *)t, ST_UNSUBSCRIBE, event, NULL);
}

static int st_list(kumo__topic *t, kumo__arena *a, const char *owner, const char ***names, size_t *n)
{
    sqlite_topic *s = (sqlite_topic *)t;
    sqlite3_stmt *st = s->st[ST_LIST];
    const char **v = NULL;
    size_t count = 0, cap = 0;
    int rc = 0, src;
    pthread_mutex_lock(&s->lock);
    sqlite3_bind_text(st, 1, s->base.name, -1, SQLITE_STATIC);
    if (owner)
        sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            const char **nv = kumo__arena_alloc(a, ncap * sizeof(*nv));
            if (nv == NULL) {
                rc = KUMO_ENOMEM;
                break;
            }
            if (count)
                memcpy(nv, v, count * sizeof(*nv));
            v = nv;
            cap = ncap;
        }
        const char *ev = (const char *)sqlite3_column_text(st, 0);
        if ((v[count] = kumo__arena_strndup(a, ev ? ev : "", ev ? strlen(ev) : 0)) == NULL) {
            rc = KUMO_ENOMEM;
            break;
        }
        count++;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = fail(s, "list", src);
    done(st);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0) {
        *names = v;
        *n = count;
    }
    return rc;
}

static int st_open_subscription(kumo__topic *t, const char *event, kumo__queue **out, kumo__error *e)
{
    sqlite_topic *s = (sqlite_topic *)t;
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

const kumo__topic_driver kumo__topic_sqlite_driver = {
    .common = {.version = KUMO__TOPIC_DRIVER_VERSION, .scheme = "sqlite", .open = st_open, .close = st_close},
    .publish = st_publish,
    .subscribe = st_subscribe,
    .unsubscribe = st_unsubscribe,
    .list = st_list,
    .open_subscription = st_open_subscription,
};
