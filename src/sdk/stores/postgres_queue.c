/*
 * postgres_queue.c: the PostgreSQL queue driver,
 * `postgres://user:password@host:port/db?table=kumo_queue&max_receives=5&create=true`.
 *
 * One table holds every queue of a project (created when absent unless
 * create=false):
 *
 *   kumo_queue(seq bigserial PRIMARY KEY, queue text, id text, body bytea,
 *              visible_at timestamptz, receives int, receipt text,
 *              sent_at timestamptz, trace text)   (sent_at and trace,
 *              the sender's traceparent, added to older tables: NULL)
 *   index (queue, visible_at)
 *
 * send inserts a row visible at now() + delay, its id a random uuid in hex,
 * and, without a delay, NOTIFYs the channel kumo_q_NAME in the same
 * statement (pq_wait LISTENs). receive first moves the
 * messages that are visible again after max_receives receives to the queue
 * NAME-dead (a DELETE ... RETURNING feeding an INSERT, one statement), then
 * takes up to `max` visible rows with
 *
 *   UPDATE ... WHERE seq IN (SELECT seq ... ORDER BY visible_at, seq
 *                            LIMIT n FOR UPDATE SKIP LOCKED) RETURNING ...
 *
 * which hides them until now() + visibility, counts the receive and gives
 * the row a new receipt "<seq>.<random uuid>". Concurrent receivers skip
 * each other's locked rows instead of waiting, and never get the same
 * message twice within its visibility. Times are the server's (now()).
 *
 * ack deletes the row when its receipt still matches (a stale receipt, the
 * message having been received again since, matches nothing:
 * KUMO_ENOTFOUND); nack sets visible_at = now() + delay and clears the
 * receipt. A message keeps its id when dead-lettered.
 */
#include "sdk/stores/pg_conn.h"

#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (16u << 20)

enum { ST_SEND, ST_DEAD, ST_RECEIVE, ST_ACK, ST_NACK, ST_COUNT };

static const char *const sql[ST_COUNT] = {
    [ST_SEND] =
        "WITH i AS (INSERT INTO @T (queue, id, body, visible_at, sent_at, trace) "
        "VALUES ($1, replace(gen_random_uuid()::text, '-', ''), $2, now() + $3::bigint * interval '1 millisecond', "
        "now(), $5) RETURNING id) "
        "SELECT id, (SELECT count(*) FROM (SELECT pg_notify($4, '') WHERE $3::bigint = 0) n) FROM i",
    [ST_DEAD] =
        "WITH d AS (DELETE FROM @T WHERE seq IN (SELECT seq FROM @T WHERE queue = $1 AND visible_at <= now() "
        "AND receives >= $2::int ORDER BY visible_at LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING id, body, sent_at, "
        "trace) INSERT INTO @T (queue, id, body, visible_at, sent_at, trace) "
        "SELECT $3, id, body, now(), sent_at, trace FROM d",
    [ST_RECEIVE] = "WITH r AS (UPDATE @T SET visible_at = now() + $2::bigint * interval '1 millisecond', "
                   "receives = receives + 1, receipt = seq::text || '.' || gen_random_uuid()::text "
                   "WHERE seq IN (SELECT seq FROM @T WHERE queue = $1 AND visible_at <= now() AND receives < $4::int "
                   "ORDER BY visible_at, seq LIMIT $3::int FOR UPDATE SKIP LOCKED) "
                   "RETURNING seq, id, body, receives, receipt, sent_at, trace) "
                   "SELECT id, body, receives, receipt, "
                   "coalesce((extract(epoch FROM sent_at) * 1000)::bigint, 0), trace FROM r ORDER BY seq",
    [ST_ACK] = "DELETE FROM @T WHERE seq = $1::bigint AND receipt = $2 AND queue = $3",
    [ST_NACK] = "UPDATE @T SET visible_at = now() + $4::bigint * interval '1 millisecond', receipt = NULL "
                "WHERE seq = $1::bigint AND receipt = $2 AND queue = $3",
};

static const char ddl[] = "BEGIN;"
                          "SELECT pg_advisory_xact_lock(hashtext('kumo:@T'));"
                          "CREATE TABLE IF NOT EXISTS @T (seq bigserial PRIMARY KEY, queue text NOT NULL, "
                          "  id text NOT NULL, body bytea NOT NULL, visible_at timestamptz NOT NULL, "
                          "  receives int NOT NULL DEFAULT 0, receipt text);"
                          "CREATE INDEX IF NOT EXISTS @T_ready ON @T (queue, visible_at);"
                          "ALTER TABLE @T ADD COLUMN IF NOT EXISTS sent_at timestamptz;"
                          "ALTER TABLE @T ADD COLUMN IF NOT EXISTS trace text;"
                          "COMMIT;";

typedef struct pg_queue {
    kumo__queue base; /* first: the store layer sees a kumo__queue */
    kumo__pg pg;
    char *name, *dead; /* the queue's name and NAME-dead */
    char channel[64];  /* NOTIFY channel: kumo_q_NAME (63 bytes at most: a long name is cut and hashed) */
    int listen_pid;    /* the backend that LISTENs on channel, 0: none yet */
    pthread_mutex_t lock;
} pg_queue;

/* PostgreSQL cuts identifiers at 63 bytes and pg_notify refuses longer
 * channels: a long queue name keeps 40 bytes and a hash of the rest. */
static void set_channel(pg_queue *s)
{
    int n = snprintf(s->channel, sizeof(s->channel), "kumo_q_%s", s->name);
    if (n < 0 || (size_t)n < sizeof(s->channel))
        return;
    uint64_t h = 1469598103934665603u;
    for (const char *p = s->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    snprintf(s->channel, sizeof(s->channel), "kumo_q_%.40s_%016" PRIx64, s->name, h);
}

static void pq_close(kumo__store *q)
{
    pg_queue *s = (pg_queue *)q;
    if (s == NULL)
        return;
    kumo__pg_free(&s->pg);
    free(s->name);
    free(s->dead);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int pq_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    *out = NULL;
    pg_queue *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    int rc = KUMO_ENOMEM;
    s->name = strdup(name);
    if (s->name == NULL || asprintf(&s->dead, "%s-dead", name) < 0) {
        s->dead = NULL;
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        goto out;
    }
    set_channel(s);
    rc = kumo__pg_open(&s->pg, url, "kumo_queue", ddl, sql, ST_COUNT, s->base.error, sizeof(s->base.error), e);
    s->base.max_receives = s->pg.max_receives;
out:
    if (rc != 0) {
        pq_close(&s->base.store);
        return rc;
    }
    *out = &s->base.store;
    return 0;
}

static int pq_send(kumo__queue *q, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms, const char *trace,
                   const char **id)
{
    pg_queue *s = (pg_queue *)q;
    if (len > BODY_MAX)
        return KUMO_ETOOBIG;
    char delay[24];
    snprintf(delay, sizeof(delay), "%" PRIu64, delay_ms > INT64_MAX / 2 ? (uint64_t)INT64_MAX / 2 : delay_ms);
    const char *v[] = {s->name, body, delay, s->channel, trace}; /* trace NULL: SQL NULL */
    const int l[] = {0, (int)len, 0, 0, 0}, f[] = {0, 1, 0, 0, 0};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, ST_SEND, 5, v, l, f, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    if (id) {
        *id =
            PQntuples(res) == 1 ? kumo__arena_strndup(a, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0)) : NULL;
        if (*id == NULL)
            rc = KUMO_ENOMEM;
    }
    PQclear(res);
    return rc;
}

static int pq_receive(kumo__queue *q, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                      size_t *count)
{
    pg_queue *s = (pg_queue *)q;
    char smax[24], vis[24], maxr[24];
    *count = 0;
    snprintf(smax, sizeof(smax), "%zu", max);
    snprintf(vis, sizeof(vis), "%" PRIu64, visibility_ms > INT64_MAX / 2 ? (uint64_t)INT64_MAX / 2 : visibility_ms);
    snprintf(maxr, sizeof(maxr), "%u", s->base.max_receives ? s->base.max_receives : 5);
    PGresult *res = NULL;
    pthread_mutex_lock(&s->lock);
    const char *dv[] = {s->name, maxr, s->dead};
    int rc = kumo__pg_exec(&s->pg, ST_DEAD, 3, dv, NULL, NULL, &res);
    if (rc == 0) {
        PQclear(res);
        const char *v[] = {s->name, vis, smax, maxr};
        rc = kumo__pg_exec(&s->pg, ST_RECEIVE, 4, v, NULL, NULL, &res);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    size_t n = (size_t)PQntuples(res);
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        int r = (int)i;
        kumo_queue_message *m = &out[i];
        m->id = kumo__arena_strndup(a, PQgetvalue(res, r, 0), (size_t)PQgetlength(res, r, 0));
        m->len = (size_t)PQgetlength(res, r, 1);
        m->body = kumo__arena_strndup(a, PQgetvalue(res, r, 1), m->len);
        m->receives = kumo__pg_int4(res, r, 2);
        m->receipt = kumo__arena_strndup(a, PQgetvalue(res, r, 3), (size_t)PQgetlength(res, r, 3));
        m->sent_ms = (int64_t)kumo__pg_int8(res, r, 4);
        if (!PQgetisnull(res, r, 5))
            m->trace = kumo__queue_trace_copy(a, PQgetvalue(res, r, 5), (size_t)PQgetlength(res, r, 5));
        if (m->id == NULL || m->body == NULL || m->receipt == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    *count = n;
out:
    PQclear(res);
    return rc;
}

/* The seq of "<seq>.<uuid>" as text into buf: 0, or KUMO_ENOTFOUND when malformed. */
static int receipt_seq(const char *receipt, char *buf, size_t size)
{
    size_t n = strspn(receipt, "0123456789");
    if (n == 0 || n >= size || n > 18 || receipt[n] != '.')
        return KUMO_ENOTFOUND;
    memcpy(buf, receipt, n);
    buf[n] = '\0';
    return 0;
}

static int pq_ack(kumo__queue *q, const char *receipt)
{
    pg_queue *s = (pg_queue *)q;
    char seq[24];
    if (receipt_seq(receipt, seq, sizeof(seq)) != 0)
        return KUMO_ENOTFOUND;
    const char *v[] = {seq, receipt, s->name};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, ST_ACK, 3, v, NULL, NULL, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    if (strcmp(PQcmdTuples(res), "1") != 0)
        rc = KUMO_ENOTFOUND;
    PQclear(res);
    return rc;
}

static int pq_nack(kumo__queue *q, const char *receipt, uint64_t delay_ms)
{
    pg_queue *s = (pg_queue *)q;
    char seq[24], delay[24];
    if (receipt_seq(receipt, seq, sizeof(seq)) != 0)
        return KUMO_ENOTFOUND;
    snprintf(delay, sizeof(delay), "%" PRIu64, delay_ms > INT64_MAX / 2 ? (uint64_t)INT64_MAX / 2 : delay_ms);
    const char *v[] = {seq, receipt, s->name, delay};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, ST_NACK, 4, v, NULL, NULL, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    if (strcmp(PQcmdTuples(res), "1") != 0)
        rc = KUMO_ENOTFOUND;
    PQclear(res);
    return rc;
}

/* wait: LISTEN on the queue's channel (send NOTIFYs it when the message
 * is visible at once), then poll the connection's socket. libpq keeps
 * notifications that came during other statements, so one sent between
 * the caller's last receive and this wait is not missed; the first wait
 * on a connection (a new one after a reconnect too) only LISTENs and
 * returns at once, since a send just before the LISTEN would be. */
static int pq_wait(kumo__queue *q, uint64_t timeout_ms)
{
    pg_queue *s = (pg_queue *)q;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    PGconn *c = s->pg.conn;
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        if ((rc = kumo__pg_ready(&s->pg)) != 0)
            goto out;
        c = s->pg.conn;
    }
    if (PQbackendPID(c) != s->listen_pid) {
        char *ident = PQescapeIdentifier(c, s->channel, strlen(s->channel));
        char *listen = NULL;
        if (ident == NULL || asprintf(&listen, "LISTEN %s", ident) < 0) {
            PQfreemem(ident);
            rc = KUMO_ENOMEM;
            goto out;
        }
        PQfreemem(ident);
        PGresult *res = PQexec(c, listen);
        free(listen);
        int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(s->base.error, sizeof(s->base.error), "postgres LISTEN: %s",
                     res ? PQresultErrorMessage(res) : PQerrorMessage(c));
        PQclear(res);
        if (!ok) {
            rc = KUMO_EIO;
            goto out;
        }
        s->listen_pid = PQbackendPID(c);
        goto out; /* see above */
    }
    uint64_t end = kumo__mono_ms() + timeout_ms;
    for (;;) {
        if (!PQconsumeInput(c)) {
            snprintf(s->base.error, sizeof(s->base.error), "postgres wait: %s", PQerrorMessage(c));
            s->listen_pid = 0;
            rc = KUMO_EUNAVAILABLE;
            goto out;
        }
        int got = 0;
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            got = 1;
            PQfreemem(n);
        }
        uint64_t now = kumo__mono_ms();
        if (got || now >= end)
            goto out;
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        uint64_t left = end - now;
        if (poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR) {
            snprintf(s->base.error, sizeof(s->base.error), "postgres wait: poll: %s", strerror(errno));
            rc = KUMO_EIO;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
static int pq_depth(kumo__queue *q, kumo__queue_depth *out);

const kumo__queue_driver kumo__queue_postgres_driver = {
    .common = {.version = KUMO__QUEUE_DRIVER_VERSION, .scheme = "postgres", .open = pq_open, .close = pq_close},
    .send = pq_send,
    .receive = pq_receive,
    .ack = pq_ack,
    .nack = pq_nack,
    .wait = pq_wait,
    .depth = pq_depth,
};

/* `kumo events`' figures: the queue's rows by state, as sqlite_queue.c
 * counts them (a receipt and a running visibility: in flight; no receipt
 * and not visible yet: delayed). Not a prepared statement: rare. */
static int pq_depth(kumo__queue *q, kumo__queue_depth *out)
{
    pg_queue *s = (pg_queue *)q;
    char query[400];
    snprintf(query, sizeof(query),
             "SELECT count(*) FILTER (WHERE visible_at <= now()), "
             "count(*) FILTER (WHERE visible_at > now() AND receipt IS NOT NULL), "
             "count(*) FILTER (WHERE visible_at > now() AND receipt IS NULL) FROM %s WHERE queue = $1",
             s->pg.table);
    const char *v[] = {s->name};
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_ready(&s->pg);
    if (rc == 0) {
        PGresult *res = PQexecParams(s->pg.conn, query, 1, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            out->ready = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            out->in_flight = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            out->delayed = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        } else {
            snprintf(s->base.error, sizeof(s->base.error), "postgres depth: %.200s", PQerrorMessage(s->pg.conn));
            rc = KUMO_EUNAVAILABLE;
        }
        PQclear(res);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
