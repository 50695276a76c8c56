/*
 * store.c: the kv API of kumo.h over the drivers of sdk.h, and what every
 * kind of store shares: the store name to environment variable rule, the
 * URL query lookup and kumo_store_error. blob.c and queue.c are its
 * counterparts for the other two kinds, built the same way.
 *
 * A handler names a store ("todos"); the process finds its URL in the
 * environment variable KUMO_STORE_TODOS (set by the runtime or the platform
 * from kumo.yaml and the environment), opens it with the driver its scheme
 * names, and keeps it open for the life of the process in a small table, the
 * one piece of global mutable state in the SDK (guarded by a mutex; a handle
 * itself is made safe by its driver). A failed open is not cached: the next
 * call tries again, so a backend that comes back is picked up. A child
 * forked after stores were opened does not use (nor close) its parent's
 * handles, which SQLite and network clients forbid: it forgets them and
 * opens its own.
 *
 * Every argument is checked here, once, so drivers can trust them: ctx (the
 * arena that results live in) and store are required, keys are 1 to
 * KUMO_KV_KEY_MAX bytes (KUMO_ETOOBIG beyond), list limits are 1..1000.
 *
 * kumo_store_error: every failed call copies the driver's message (the
 * handle's `error`, cleared before each call) or, when it left none, the
 * code's description into ctx->store_error, where it stays until another
 * call fails or the invocation ends.
 *
 * A new driver is one file and one line in `drivers`.
 */
#include "sdk/sdk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const kumo__kv_driver *const drivers[] = {
    &kumo__kv_sqlite_driver,
    &kumo__kv_dynamodb_driver,
    &kumo__kv_redis_driver,
    &kumo__kv_postgres_driver,
};

#define STORE_NAME_MAX 64
#define LIST_LIMIT_MAX 1000


const void *kumo__driver_for_url(const char *url, const void *const *drivers, size_t n, int version,
                                 const char *kind, char *err, size_t errlen)
{
    const char *colon = url ? strchr(url, ':') : NULL;
    if (colon == NULL) {
        snprintf(err, errlen, "%s store URL %s; expected e.g. sqlite:PATH, file:DIR or redis://HOST:PORT/0", kind,
                 url ? "has no scheme" : "is missing");
        return NULL;
    }
    size_t slen = (size_t)(colon - url);
    for (size_t i = 0; i < n; i++) {
        const kumo__driver_head *h = drivers[i];
        if (strlen(h->scheme) != slen || strncmp(h->scheme, url, slen) != 0)
            continue;
        if (h->version != version) {
            snprintf(err, errlen, "%s driver '%s' has version %d, expected %d", kind, h->scheme, h->version,
                     version);
            return NULL;
        }
        return h;
    }
    snprintf(err, errlen, "no %s driver for scheme '%.*s'", kind, (int)slen, url);
    return NULL;
}

int kumo__kv_open_url(const char *url, const char *name, kumo__kv **out, char *err, size_t errlen)
{
    *out = NULL;
    if (name == NULL) {
        snprintf(err, errlen, "no store name given");
        return KUMO_EINVAL;
    }
    const kumo__kv_driver *drv = kumo__driver_for_url(url, (const void *const *)drivers, sizeof(drivers) / sizeof(drivers[0]),
                                          KUMO_KV_DRIVER_VERSION, "kv", err, errlen);
    if (drv == NULL)
        return KUMO_EINVAL;
    char *dup = strdup(name);
    if (dup == NULL) {
        snprintf(err, errlen, "out of memory");
        return KUMO_ENOMEM;
    }
    kumo__kv *kv = NULL;
    int rc = drv->open(url, &kv, err, errlen);
    if (rc != 0) {
        free(dup);
        return rc;
    }
    kv->driver = drv;
    kv->name = dup;
    *out = kv;
    return 0;
}

void kumo__kv_close(kumo__kv *kv)
{
    if (kv == NULL)
        return;
    char *name = kv->name;
    kv->driver->close(kv);
    free(name);
}

/* ---- shared by kv, blob and queue ------------------------------------ */

/* KUMO_STORE_<NAME>: upper case, '-' as '_'; other than letters, digits,
 * '-' and '_' a name cannot be spelled as a variable and is refused. */
int kumo__store_env_name(const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    if (n == 0 || n > STORE_NAME_MAX || sizeof("KUMO_STORE_") + n > size)
        return KUMO_EINVAL;
    char *p = buf + sprintf(buf, "KUMO_STORE_");
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (c == '-')
            c = '_';
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return KUMO_EINVAL;
        *p++ = c;
    }
    *p = '\0';
    return 0;
}

int kumo__url_query(const char *url, const char *key, char *buf, size_t size)
{
    const char *q = strchr(url, '?');
    size_t klen = strlen(key);
    if (q == NULL)
        return 0;
    for (const char *p = q + 1; *p;) {
        const char *end = strchr(p, '&');
        if (end == NULL)
            end = p + strlen(p);
        if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = (size_t)(end - p) - klen - 1;
            if (size) {
                if (vlen >= size)
                    vlen = size - 1;
                memcpy(buf, p + klen + 1, vlen);
                buf[vlen] = '\0';
            }
            return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

void kumo__store_error_set(kumo_ctx *ctx, int code, const char *msg)
{
    if (ctx == NULL || code == 0)
        return;
    snprintf(ctx->store_error, sizeof(ctx->store_error), "%s", msg && *msg ? msg : kumo_strerror(code));
}

const char *kumo_store_error(const kumo_ctx *ctx)
{
    return ctx ? ctx->store_error : "";
}

/* ---- kv stores by name ------------------------------------------------ */

void *kumo__store_cache_get(kumo__store_cache *c, const char *name, int *err, char *msg, size_t msglen)
{
    void *handle = NULL;
    char var[sizeof("KUMO_STORE_") + STORE_NAME_MAX];
    int rc = KUMO_EINVAL;

    snprintf(msg, msglen, "%s '%s' is not a valid store name", c->kind, name ? name : "(null)");
    if (name == NULL || strlen(name) >= sizeof(c->entries[0].name) ||
        kumo__store_env_name(name, var, sizeof(var)) != 0)
        goto out_unlocked;
    pthread_mutex_lock(&c->lock);
    if (c->n && c->pid != getpid())
        c->n = 0; /* a forked child: the parent's handles are not ours */
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->entries[i].name, name) == 0) {
            handle = c->entries[i].handle;
            rc = 0;
            goto out;
        }
    }
    const char *url = getenv(var);
    if (url == NULL || *url == '\0') {
        snprintf(msg, msglen, "%s '%s': %s is not set; declare it in kumo.yaml", c->kind, name, var);
        kumo_log(NULL, KUMO_LOG_ERROR, "%s", msg);
        goto out;
    }
    if (c->n == KUMO__STORES_MAX) {
        snprintf(msg, msglen, "%s '%s': more than %d of them in one process", c->kind, name, KUMO__STORES_MAX);
        kumo_log(NULL, KUMO_LOG_ERROR, "%s", msg);
        goto out;
    }
    char omsg[512];
    rc = c->open_url(url, name, &handle, omsg, sizeof(omsg));
    if (rc != 0) {
        /* The URL itself is not logged: it may hold a password. */
        snprintf(msg, msglen, "%s '%s' (%s): %s", c->kind, name, var, omsg);
        kumo_log(NULL, KUMO_LOG_ERROR, "%s", msg);
        handle = NULL;
        goto out;
    }
    snprintf(c->entries[c->n].name, sizeof(c->entries[c->n].name), "%s", name);
    c->entries[c->n++].handle = handle;
    c->pid = getpid();
out:
    pthread_mutex_unlock(&c->lock);
out_unlocked:
    if (err)
        *err = rc;
    return handle;
}

void kumo__store_cache_close_all(kumo__store_cache *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->pid != getpid())
        c->n = 0;
    for (size_t i = 0; i < c->n; i++) {
        c->close(c->entries[i].handle);
        c->entries[i].handle = NULL;
    }
    c->n = 0;
    pthread_mutex_unlock(&c->lock);
}

static int kv_open_any(const char *url, const char *name, void **out, char *err, size_t errlen)
{
    kumo__kv *kv = NULL;
    int rc = kumo__kv_open_url(url, name, &kv, err, errlen);
    *out = kv;
    return rc;
}

static void kv_close_any(void *kv)
{
    kumo__kv_close(kv);
}

static kumo__store_cache kv_cache = KUMO__STORE_CACHE_INIT("kv store", kv_open_any, kv_close_any);

/* The kv store named `name` (see kumo__store_cache_get). */
static kumo__kv *kv_store(const char *name, int *err, char *msg, size_t msglen)
{
    return kumo__store_cache_get(&kv_cache, name, err, msg, msglen);
}

kumo__kv *kumo__kv_store(const char *name, int *err)
{
    char msg[256];
    return kv_store(name, err, msg, sizeof(msg));
}

void kumo__kv_close_all(void)
{
    kumo__store_cache_close_all(&kv_cache);
    kumo__blob_close_all();
    kumo__queue_close_all();
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
    if (ctx == NULL || store == NULL)
        return KUMO_EINVAL;
    if (key) {
        int rc = check_key(key, klen);
        if (rc != 0)
            return rc;
    }
    int rc;
    char msg[256];
    *kv = kv_store(store, &rc, msg, sizeof(msg));
    if (*kv == NULL) {
        kumo__store_error_set(ctx, rc, msg);
        return rc;
    }
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

int kumo_kv_get(kumo_ctx *ctx, const char *store, const char *key, kumo_kv_item *out)
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

int kumo_kv_put(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len)
{
    return put(ctx, store, key, value, len, UINT64_MAX, 0, NULL);
}

int kumo_kv_put_ttl(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len,
                    uint64_t ttl_ms)
{
    return put(ctx, store, key, value, len, UINT64_MAX, ttl_ms, NULL);
}

int kumo_kv_cas(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len,
                uint64_t version, uint64_t *new_version)
{
    /* UINT64_MAX means "unconditional" to drivers; no stored version is it. */
    if (version == UINT64_MAX)
        return KUMO_EINVAL;
    return put(ctx, store, key, value, len, version, 0, new_version);
}

int kumo_kv_delete(kumo_ctx *ctx, const char *store, const char *key)
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
int kumo_kv_list(kumo_ctx *ctx, const char *store, const char *prefix, const char *cursor, size_t limit, int values,
                 kumo_kv_page *out)
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
    rc = kv->driver->list(kv, &ctx->arena, prefix ? prefix : "", cursor && *cursor ? cursor : NULL, limit,
                          values != 0, out);
    if (result(ctx, kv, rc) != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* Up to LIST_LIMIT_MAX keys at once; n == 0 is an empty success. Drivers
 * without get_many are asked key by key (no common snapshot then). */
int kumo_kv_get_many(kumo_ctx *ctx, const char *store, const char *const *keys, size_t n, kumo_kv_item *out)
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
            out[i].key = keys[i];   /* absent: value NULL, version 0 */
    return 0;
}
