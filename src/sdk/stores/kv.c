/*
 * kv.c: the kv API of kumo.h over the kv drivers of sdk.h; store.c opens
 * and caches the stores (read it first), blob.c and queue.c are its
 * counterparts for the other two kinds, built the same way.
 *
 * Every argument is checked here, once, so drivers can trust them: ctx (the
 * arena that results live in) and store are required, keys are 1 to
 * KUMO_KV_KEY_MAX bytes (KUMO_ETOOBIG beyond), list limits are 1..1000.
 *
 * A new driver is one file and one line in `drivers`.
 */
#include "sdk/sdk.h"

#include <string.h>

/* one driver a line */
/* clang-format off */
static const kumo__driver_head *const drivers[] = {
    &kumo__kv_dynamodb_driver.common,
#if !KUMO_DRIVERS_AWS_ONLY /* kumo-lambda carries the AWS drivers alone */
    &kumo__kv_firestore_driver.common,
    &kumo__kv_aztable_driver.common,
    &kumo__kv_sqlite_driver.common,
#if !KUMO_DRIVERS_CLOUD_ONLY /* kumo-http: the clouds' and the embedded default's */
    &kumo__kv_redis_driver.common,
    &kumo__kv_postgres_driver.common,
#endif
#endif
};
/* clang-format on */

const kumo__store_kind_desc kumo__kv_kind = {
    .name = "kv",
    .label = "kv store",
    .version = KUMO__KV_DRIVER_VERSION,
    .drivers = drivers,
    .ndrivers = sizeof(drivers) / sizeof(drivers[0]),
};

#define LIST_LIMIT_MAX 1000

/* ---- for drivers: the key range of a list ------------------------------ */

/* memcmp, then the shorter first: the order of keys as bytes. */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

int kumo__kv_list_range(kumo__arena *a, const char *prefix, const char *cursor, kumo__kv_range *r)
{
    size_t plen = strlen(prefix);

    /* upper: the prefix's successor, if it has one. */
    r->upper = kumo__arena_strndup(a, prefix, plen);
    if (r->upper == NULL)
        return KUMO_ENOMEM;
    r->ulen = plen;
    while (r->ulen > 0 && (unsigned char)r->upper[r->ulen - 1] == 0xff)
        r->ulen--;
    if (r->ulen > 0)
        r->upper[r->ulen - 1] = (char)((unsigned char)r->upper[r->ulen - 1] + 1);

    /* lower: the prefix, or just past the cursor when that is further. */
    r->lower = prefix;
    r->llen = plen;
    if (cursor) {
        size_t clen = strlen(cursor);
        if (bytes_cmp(cursor, clen + 1, prefix, plen) > 0) {
            r->lower = cursor; /* with its NUL: cursor||0x00 */
            r->llen = clen + 1;
        }
    }
    return 0;
}

/* ---- the public API -------------------------------------------------- */

/* Checks a key: 0, KUMO_EINVAL (NULL or empty) or KUMO_ETOOBIG. */
static int check_key(const char *key, size_t *len)
{
    if (key == NULL)
        return KUMO_EINVAL;
    size_t n = strnlen(key, KUMO_KV_KEY_MAX + 1);
    if (n == 0)
        return KUMO_EINVAL;
    if (n > KUMO_KV_KEY_MAX)
        return KUMO_ETOOBIG;
    *len = n;
    return 0;
}

/* Resolves ctx/store/key, the common head of every call. */
static int prepare(kumo_ctx *ctx, const char *store, const char *key, size_t *klen, kumo__kv **kv)
{
    *kv = NULL;
    if (ctx == NULL || store == NULL)
        return KUMO_EINVAL;
    if (key) {
        int rc = check_key(key, klen);
        if (rc != 0)
            return rc;
    }
    int rc;
    kumo__store *s = kumo__store_get(&kumo__kv_kind, ctx, store, &rc);
    if (s == NULL)
        return rc;
    *kv = (kumo__kv *)s; /* a kumo__kv starts with its kumo__store */
    (*kv)->error[0] = '\0';
    return 0;
}

/* A driver call's result, its message recorded when it failed. */
static int result(kumo_ctx *ctx, kumo__kv *kv, int rc)
{
    if (rc != 0)
        kumo__store_error_set(ctx, rc, kv->error);
    return rc;
}

static int kv_get_call(kumo_ctx *ctx, const char *store, const char *key, kumo_kv_item *out)
{
    kumo__kv *kv;
    size_t klen;
    if (out == NULL || key == NULL)
        return KUMO_EINVAL;
    memset(out, 0, sizeof(*out));
    int rc = prepare(ctx, store, key, &klen, &kv);
    if (rc != 0)
        return rc;
    rc = result(ctx, kv, kv->driver->get(kv, &ctx->arena, key, klen, out));
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

static int put(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len, uint64_t expect,
               uint64_t ttl_ms, uint64_t *new_version)
{
    kumo__kv *kv;
    size_t klen;
    if (key == NULL || (value == NULL && len > 0))
        return KUMO_EINVAL;
    int rc = prepare(ctx, store, key, &klen, &kv);
    if (rc != 0)
        return rc;
    return result(ctx, kv, kv->driver->put(kv, key, klen, value ? value : "", len, expect, ttl_ms, new_version));
}

static int kv_put_call(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len)
{
    return put(ctx, store, key, value, len, UINT64_MAX, 0, NULL);
}

static int kv_put_ttl_call(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len,
                           uint64_t ttl_ms)
{
    return put(ctx, store, key, value, len, UINT64_MAX, ttl_ms, NULL);
}

static int kv_cas_call(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len,
                       uint64_t version, uint64_t *new_version)
{
    /* UINT64_MAX means "unconditional" to drivers; no stored version is it. */
    if (version == UINT64_MAX)
        return KUMO_EINVAL;
    return put(ctx, store, key, value, len, version, 0, new_version);
}

static int kv_delete_call(kumo_ctx *ctx, const char *store, const char *key)
{
    kumo__kv *kv;
    size_t klen;
    if (key == NULL)
        return KUMO_EINVAL;
    int rc = prepare(ctx, store, key, &klen, &kv);
    if (rc != 0)
        return rc;
    return result(ctx, kv, kv->driver->del(kv, key, klen));
}

/* prefix NULL or "" lists everything; cursor NULL or "" starts at the
 * beginning. */
static int kv_list_call(kumo_ctx *ctx, const char *store, const char *prefix, const char *cursor, size_t limit,
                        int values, kumo_kv_page *out)
{
    kumo__kv *kv;
    size_t len;
    if (out == NULL)
        return KUMO_EINVAL;
    memset(out, 0, sizeof(*out));
    if (limit < 1 || limit > LIST_LIMIT_MAX)
        return KUMO_EINVAL;
    if (prefix && *prefix && check_key(prefix, &len) != 0)
        return KUMO_ETOOBIG;
    if (cursor && *cursor && check_key(cursor, &len) != 0)
        return KUMO_EINVAL;
    int rc = prepare(ctx, store, NULL, NULL, &kv);
    if (rc != 0)
        return rc;
    rc = kv->driver->list(kv, &ctx->arena, prefix ? prefix : "", cursor && *cursor ? cursor : NULL, limit, values != 0,
                          out);
    if (result(ctx, kv, rc) != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* Up to LIST_LIMIT_MAX keys at once; n == 0 is an empty success. Drivers
 * without get_many are asked key by key (no common snapshot then). */
static int kv_get_many_call(kumo_ctx *ctx, const char *store, const char *const *keys, size_t n, kumo_kv_item *out)
{
    kumo__kv *kv;
    size_t klen;
    if (n > LIST_LIMIT_MAX || (n > 0 && (keys == NULL || out == NULL)))
        return KUMO_EINVAL;
    if (n > 0)
        memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        int rc = check_key(keys[i], &klen);
        if (rc != 0)
            return rc;
    }
    int rc = prepare(ctx, store, NULL, NULL, &kv);
    if (rc != 0 || n == 0)
        return rc;
    if (kv->driver->get_many) {
        rc = kv->driver->get_many(kv, &ctx->arena, keys, n, out);
    } else {
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = kv->driver->get(kv, &ctx->arena, keys[i], strlen(keys[i]), &out[i]);
            if (rc == KUMO_ENOTFOUND) {
                memset(&out[i], 0, sizeof(out[i]));
                rc = 0;
            }
        }
    }
    if (result(ctx, kv, rc) != 0) {
        memset(out, 0, n * sizeof(*out));
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        if (out[i].key == NULL)
            out[i].key = keys[i]; /* absent: value NULL, version 0 */
    return 0;
}

/* ---- the public calls, each recorded while the request is traced (sdk/trace.c) ---- */

int kumo_kv_get(kumo_ctx *ctx, const char *store, const char *key, kumo_kv_item *out)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = kv_get_call(ctx, store, key, out);
    kumo__trace_store_end(ctx, t0, "kv", "get", store, rc);
    return rc;
}

int kumo_kv_put(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = kv_put_call(ctx, store, key, value, len);
    kumo__trace_store_end(ctx, t0, "kv", "put", store, rc);
    return rc;
}

int kumo_kv_put_ttl(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len, uint64_t ttl_ms)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = kv_put_ttl_call(ctx, store, key, value, len, ttl_ms);
    kumo__trace_store_end(ctx, t0, "kv", "put", store, rc);
    return rc;
}

int kumo_kv_cas(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len, uint64_t version,
                uint64_t *new_version)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = kv_cas_call(ctx, store, key, value, len, version, new_version);
    kumo__trace_store_end(ctx, t0, "kv", "cas", store, rc);
    return rc;
}

int kumo_kv_delete(kumo_ctx *ctx, const char *store, const char *key)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = kv_delete_call(ctx, store, key);
    kumo__trace_store_end(ctx, t0, "kv", "delete", store, rc);
    return rc;
}

int kumo_kv_list(kumo_ctx *ctx, const char *store, const char *prefix, const char *cursor, size_t limit, int values,
                 kumo_kv_page *out)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = kv_list_call(ctx, store, prefix, cursor, limit, values, out);
    kumo__trace_store_end(ctx, t0, "kv", "list", store, rc);
    return rc;
}

int kumo_kv_get_many(kumo_ctx *ctx, const char *store, const char *const *keys, size_t n, kumo_kv_item *out)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = kv_get_many_call(ctx, store, keys, n, out);
    kumo__trace_store_end(ctx, t0, "kv", "get_many", store, rc);
    return rc;
}
