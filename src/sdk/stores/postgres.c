/*
 * postgres.c: the PostgreSQL kv driver,
 * `postgres://user:password@host:port/db?table=kumo_kv&create=true&timeout_ms=5000`
 * (any libpq URI; its own options such as sslmode= pass through).
 *
 * Layout: one table for every store of a project (the store is a column,
 * so a new store needs no DDL), created when absent unless create=false:
 *
 *   kumo_kv(store text, key bytea, value bytea, version bigint,
 *           expires_at timestamptz, PRIMARY KEY (store, key))
 *   kumo_kv_version   a sequence: every write's version
 *
 * Keys are bytea, which PostgreSQL compares with memcmp: byte order, as
 * kumo.h promises, independent of any collation. Versions come from the
 * sequence, so they are never reused (no ABA after a delete and re-create)
 * and never 0.
 *
 * Each operation is one prepared statement, atomic on its own:
 *   put        INSERT ... ON CONFLICT DO UPDATE (upsert)
 *   put-if-absent  INSERT ... ON CONFLICT DO UPDATE ... WHERE the old row
 *              expired (an expired row is absent), else nothing: ECONFLICT
 *   CAS        UPDATE ... WHERE version = $expected AND not expired
 *   list       a range on the primary key, key >= lower AND key < upper
 *              (upper: the prefix's successor), as sqlite.c does
 * A TTL sets expires_at; expired rows are invisible to every statement and
 * are deleted in batches by the handle every SWEEP_EVERY writes.
 */
#include "sdk/stores/pg_conn.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX (16u << 20)
#define SWEEP_EVERY 1000

#define LIVE "(expires_at IS NULL OR expires_at > now())"
#define EXPIRES "CASE WHEN $4::bigint > 0 THEN now() + $4::bigint * interval '1 millisecond' END"

enum { ST_GET, ST_UPSERT, ST_INSERT, ST_CAS, ST_DELETE, ST_LIST, ST_LIST_OPEN, ST_GET_MANY, ST_SWEEP, ST_COUNT };

static const char *const sql[ST_COUNT] = {
    [ST_GET] = "SELECT value, version FROM @T WHERE store = $1 AND key = $2 AND " LIVE,
    [ST_UPSERT] = "INSERT INTO @T (store, key, value, version, expires_at) "
                  "VALUES ($1, $2, $3, nextval('@T_version'), " EXPIRES ") "
                  "ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, version = excluded.version, "
                  "expires_at = excluded.expires_at RETURNING version",
    [ST_INSERT] = "INSERT INTO @T (store, key, value, version, expires_at) "
                  "VALUES ($1, $2, $3, nextval('@T_version'), " EXPIRES ") "
                  "ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, version = excluded.version, "
                  "expires_at = excluded.expires_at WHERE @T.expires_at <= now() RETURNING version",
    [ST_CAS] = "UPDATE @T SET value = $3, version = nextval('@T_version'), expires_at = " EXPIRES " "
               "WHERE store = $1 AND key = $2 AND version = $5 AND " LIVE " RETURNING version",
    [ST_DELETE] = "DELETE FROM @T WHERE store = $1 AND key = $2 RETURNING " LIVE,
    [ST_LIST] = "SELECT key, CASE WHEN $4 THEN value END, version FROM @T "
                "WHERE store = $1 AND key >= $2 AND key < $3 AND " LIVE " ORDER BY key LIMIT $5",
    [ST_LIST_OPEN] = "SELECT key, CASE WHEN $4 THEN value END, version FROM @T "
                     "WHERE store = $1 AND key >= $2 AND $3::bytea IS NULL AND " LIVE " ORDER BY key LIMIT $5",
    [ST_GET_MANY] = "SELECT key, value, version FROM @T WHERE store = $1 AND "
                    "key = ANY (SELECT decode(h, 'hex') FROM unnest($2::text[]) AS h) AND " LIVE,
    [ST_SWEEP] = "DELETE FROM @T WHERE ctid IN (SELECT ctid FROM @T WHERE expires_at <= now() LIMIT 1000)",
};

static const char ddl[] = "BEGIN;"
                          "SELECT pg_advisory_xact_lock(hashtext('kumo:@T'));"
                          "CREATE TABLE IF NOT EXISTS @T (store text NOT NULL, key bytea NOT NULL, "
                          "  value bytea NOT NULL, version bigint NOT NULL, expires_at timestamptz, "
                          "  PRIMARY KEY (store, key));"
                          "CREATE SEQUENCE IF NOT EXISTS @T_version;"
                          "CREATE INDEX IF NOT EXISTS @T_expires ON @T (expires_at) WHERE expires_at IS NOT NULL;"
                          "COMMIT;";

typedef struct pg_kv {
    kumo__kv base; /* first: the store layer sees a kumo__kv */
    kumo__pg pg;
    unsigned writes; /* since the last sweep */
    pthread_mutex_t lock;
} pg_kv;

static void pg_close(kumo__store *kv)
{
    pg_kv *s = (pg_kv *)kv;
    if (s == NULL)
        return;
    kumo__pg_free(&s->pg);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int pg_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    *out = NULL;
    pg_kv *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    int rc = kumo__pg_open(&s->pg, url, "kumo_kv", ddl, sql, ST_COUNT, s->base.error, sizeof(s->base.error), e);
    if (rc != 0) {
        pg_close(&s->base.store);
        return rc;
    }
    *out = &s->base.store;
    return 0;
}

static int pg_get(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out)
{
    pg_kv *s = (pg_kv *)kv;
    const char *v[] = {s->base.name, key};
    const int l[] = {0, (int)klen}, f[] = {0, 1};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, ST_GET, 2, v, l, f, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    if (PQntuples(res) == 0) {
        rc = KUMO_ENOTFOUND;
        goto out;
    }
    size_t n = (size_t)PQgetlength(res, 0, 0);
    char *value = kumo__arena_strndup(a, PQgetvalue(res, 0, 0), n);
    char *k = kumo__arena_strndup(a, key, klen);
    if (value == NULL || k == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    out->key = k;
    out->value = value;
    out->len = n;
    out->version = kumo__pg_int8(res, 0, 1);
out:
    PQclear(res);
    return rc;
}

/* Deletes a batch of expired rows now and then (the caller holds the lock). */
static void sweep(pg_kv *s)
{
    if (++s->writes < SWEEP_EVERY)
        return;
    s->writes = 0;
    PGresult *res;
    if (kumo__pg_exec(&s->pg, ST_SWEEP, 0, NULL, NULL, NULL, &res) == 0)
        PQclear(res);
}

static int pg_put(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen, uint64_t expect_version,
                  uint64_t ttl_ms, uint64_t *new_version)
{
    pg_kv *s = (pg_kv *)kv;
    if (vlen > VALUE_MAX)
        return KUMO_ETOOBIG;
    char ttl[24], expect[24];
    snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms > INT64_MAX / 2 ? (uint64_t)INT64_MAX / 2 : ttl_ms);
    snprintf(expect, sizeof(expect), "%" PRIu64, expect_version);
    int which = expect_version == UINT64_MAX ? ST_UPSERT : expect_version == 0 ? ST_INSERT : ST_CAS;
    if (which == ST_CAS && expect_version > INT64_MAX)
        return KUMO_ECONFLICT; /* no bigint version is that */
    const char *v[] = {s->base.name, key, val, ttl, expect};
    const int l[] = {0, (int)klen, (int)vlen, 0, 0}, f[] = {0, 1, 1, 0, 0};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, which, which == ST_CAS ? 5 : 4, v, l, f, &res);
    if (rc == 0)
        sweep(s);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    if (PQntuples(res) == 0)
        rc = KUMO_ECONFLICT;
    else if (new_version)
        *new_version = kumo__pg_int8(res, 0, 0);
    PQclear(res);
    return rc;
}

static int pg_del(kumo__kv *kv, const char *key, size_t klen)
{
    pg_kv *s = (pg_kv *)kv;
    const char *v[] = {s->base.name, key};
    const int l[] = {0, (int)klen}, f[] = {0, 1};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, ST_DELETE, 2, v, l, f, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    /* Absent, or present but expired: either way it was not there. */
    if (PQntuples(res) == 0 || PQgetvalue(res, 0, 0)[0] == 0)
        rc = KUMO_ENOTFOUND;
    PQclear(res);
    return rc;
}

static int pg_list(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                   kumo_kv_page *out)
{
    pg_kv *s = (pg_kv *)kv;

    kumo__kv_range range;
    if (kumo__kv_list_range(a, prefix, cursor, &range) != 0)
        return KUMO_ENOMEM;
    kumo_kv_item *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (items == NULL)
        return KUMO_ENOMEM;
    char lim[24];
    snprintf(lim, sizeof(lim), "%zu", limit + 1); /* one more: is there a next page? */
    const char *v[] = {s->base.name, range.lower, range.ulen ? range.upper : NULL, values ? "t" : "f", lim};
    const int l[] = {0, (int)range.llen, (int)range.ulen, 0, 0}, f[] = {0, 1, 1, 0, 0};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, range.ulen ? ST_LIST : ST_LIST_OPEN, 5, v, l, f, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    size_t rows = (size_t)PQntuples(res), count = 0;
    for (; count < rows && count < limit; count++) {
        int r = (int)count;
        kumo_kv_item *it = &items[count];
        it->key = kumo__arena_strndup(a, PQgetvalue(res, r, 0), (size_t)PQgetlength(res, r, 0));
        it->value = NULL;
        it->len = 0;
        if (values) {
            it->len = (size_t)PQgetlength(res, r, 1);
            it->value = kumo__arena_strndup(a, PQgetvalue(res, r, 1), it->len);
        }
        it->version = kumo__pg_int8(res, r, 2);
        if (it->key == NULL || (values && it->value == NULL)) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    out->items = items;
    out->count = count;
    out->next = rows > limit ? items[count - 1].key : NULL;
out:
    PQclear(res);
    return rc;
}

static int pg_get_many(kumo__kv *kv, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out)
{
    pg_kv *s = (pg_kv *)kv;
    static const char hex[] = "0123456789abcdef";
    size_t total = 3;
    for (size_t i = 0; i < n; i++)
        total += 2 * strlen(keys[i]) + 1;
    /* {6b31,6b32}: hex text needs no quoting in an array literal. */
    char *arr = kumo__arena_alloc(a, total), *p = arr;
    if (arr == NULL)
        return KUMO_ENOMEM;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        for (const unsigned char *k = (const unsigned char *)keys[i]; *k; k++) {
            *p++ = hex[*k >> 4];
            *p++ = hex[*k & 15];
        }
    }
    *p++ = '}';
    *p = '\0';
    const char *v[] = {s->base.name, arr};
    PGresult *res;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__pg_exec(&s->pg, ST_GET_MANY, 2, v, NULL, NULL, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].key = kumo__arena_strndup(a, keys[i], strlen(keys[i]));
        if (out[i].key == NULL)
            rc = KUMO_ENOMEM;
    }
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *k = PQgetvalue(res, r, 0);
        size_t kl = (size_t)PQgetlength(res, r, 0);
        for (size_t i = 0; i < n; i++) {
            if (out[i].value != NULL || strlen(keys[i]) != kl || memcmp(keys[i], k, kl) != 0)
                continue;
            out[i].len = (size_t)PQgetlength(res, r, 1);
            out[i].value = kumo__arena_strndup(a, PQgetvalue(res, r, 1), out[i].len);
            out[i].version = kumo__pg_int8(res, r, 2);
            if (out[i].value == NULL)
                rc = KUMO_ENOMEM;
        }
    }
    PQclear(res);
    return rc;
}

const kumo__kv_driver kumo__kv_postgres_driver = {
    .common = {.version = KUMO__KV_DRIVER_VERSION, .scheme = "postgres", .open = pg_open, .close = pg_close},
    .get = pg_get,
    .put = pg_put,
    .del = pg_del,
    .list = pg_list,
    .get_many = pg_get_many,
};
