/*
 * store.c: what every kind of store (kv.c, blob.c, queue.c) shares: the
 * driver lookup by URL scheme, opening and closing through the driver
 * head, the cache of open stores by name, the URL query lookup and the
 * store error of an invocation (kumo_store_error).
 *
 * A handler names a store ("todos"); the process finds its URL in the
 * environment variable KUMO_STORE_TODOS (base/store_var.h: set by the
 * runtime or the platform from kumo.yaml and the environment), opens it with
 * the driver its scheme names, and keeps it open for the life of the process
 * in one small table for every kind, the one piece of global mutable state in
 * the SDK (guarded by a mutex; a handle itself is made safe by its driver). A
 * failed open is not cached: the next call tries again, so a backend that
 * comes back is picked up. A child forked after stores were opened does not
 * use (nor close) its parent's handles, which SQLite and network clients
 * forbid: it forgets them and opens its own.
 *
 * A kind is one kumo__store_kind_desc (its drivers, their version, its URL
 * options); nothing here names one. A driver is one file and one line in its
 * kind's table.
 *
 * kumo_store_error: every failed call copies the driver's message (the
 * handle's `error`, cleared before each call) or, when it left none, the
 * code's description into ctx->store_error, where it stays until another
 * call fails or the invocation ends.
 */
#include "sdk/sdk.h"
#include "base/store_var.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The driver of `kind` whose scheme is `url`'s; NULL with e set (never
 * quoting the URL: it may hold a password). */
static const kumo__driver_head *driver_for_url(const kumo__store_kind_desc *kind, const char *url, kumo__error *e)
{
    const char *colon = url ? strchr(url, ':') : NULL;
    if (colon == NULL) {
        kumo__error_set(e, KUMO_EINVAL, "%s store URL %s; expected e.g. sqlite:PATH, file:DIR or redis://HOST:PORT/0",
                        kind->name, url ? "has no scheme" : "is missing");
        return NULL;
    }
    size_t slen = (size_t)(colon - url);
    for (size_t i = 0; i < kind->ndrivers; i++) {
        const kumo__driver_head *h = kind->drivers[i];
        if (strlen(h->scheme) != slen || strncmp(h->scheme, url, slen) != 0)
            continue;
        if (h->version != kind->version) {
            kumo__error_set(e, KUMO_EINVAL, "%s driver '%s' has version %d, expected %d", kind->name, h->scheme,
                            h->version, kind->version);
            return NULL;
        }
        return h;
    }
#if KUMO_DRIVERS_AWS_ONLY
    kumo__error_set(
        e, KUMO_EINVAL,
        "no %s driver for scheme '%.*s' in kumo-lambda, which carries the AWS drivers alone (dynamodb, "
        "s3, sqs, sns); `kumo build --host kumo-host` packages kumo-host, which has them all (docs/deploy-build.md)",
        kind->name, (int)slen, url);
#elif KUMO_DRIVERS_CLOUD_ONLY
    kumo__error_set(e, KUMO_EINVAL,
                    "no %s driver for scheme '%.*s' in kumo-http, which carries the clouds' drivers and the embedded "
                    "default's (dynamodb, s3, sqs, sns, firestore, gs, pubsub, aztable, azblob, azqueue, "
                    "azservicebus, sqlite, file), not redis's or postgres's; `kumo build --host kumo-host` packages "
                    "kumo-host, which has them all (docs/deploy-build.md)",
                    kind->name, (int)slen, url);
#else
    kumo__error_set(e, KUMO_EINVAL, "no %s driver for scheme '%.*s'", kind->name, (int)slen, url);
#endif
    return NULL;
}

int kumo__store_open(const kumo__store_kind_desc *kind, const char *url, const char *name, kumo__store **out,
                     kumo__error *e)
{
    kumo__store *s = NULL;
    char *dup = NULL;
    int rc;

    *out = NULL;
    if (name == NULL) {
        kumo__error_set(e, KUMO_EINVAL, "no store name given");
        return KUMO_EINVAL;
    }
    const kumo__driver_head *drv = driver_for_url(kind, url, e);
    if (drv == NULL)
        return KUMO_EINVAL;
    if (kind->options && (rc = kind->options(url, NULL, e)) != 0)
        return rc;
    if ((dup = strdup(name)) == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    if ((rc = drv->open(url, name, &s, e)) != 0) {
        free(dup);
        return rc;
    }
    s->driver = drv;
    s->name = dup;
    if (kind->options)
        kind->options(url, s, NULL); /* checked above: cannot fail */
    *out = s;
    return 0;
}

void kumo__store_close(kumo__store *s)
{
    if (s == NULL)
        return;
    char *name = s->name;
    s->driver->close(s);
    free(name);
}

int kumo__url_params_known(const char *url, const char *const *known, kumo__error *e)
{
    const char *q = strchr(url, '?');
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        size_t plen = strcspn(p, "&#"), nlen = strcspn(p, "=&#");
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++)
            ok = strlen(*k) == nlen && strncmp(p, *k, nlen) == 0;
        if (!ok) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *k = known; *k && used < sizeof(list); k++)
                used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", k == known ? "" : ", ", *k);
            /* the name only: a value may be a secret */
            kumo__error_set(e, KUMO_EINVAL, "unknown URL parameter '%.*s'; known: %s", (int)(nlen < 64 ? nlen : 64), p,
                            known[0] ? list : "none");
            return KUMO_EINVAL;
        }
        p += plen;
        if (*p != '&')
            break;
        p++;
    }
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

/* ---- the open stores, by kind and name ---------------------------------- */

typedef struct open_store {
    const kumo__store_kind_desc *kind;
    kumo__store *store; /* its name is store->name */
} open_store;

static struct {
    pthread_mutex_t lock;
    open_store *v;
    size_t n, cap;
    pid_t pid; /* the process that opened them */
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Opens and adds the store (lock held): 0, or a KUMO_E* code with msg. */
static int cache_add(const kumo__store_kind_desc *kind, const char *name, const char *var, kumo__store **out, char *msg,
                     size_t msglen)
{
    const char *url = getenv(var);
    if (url == NULL || *url == '\0') {
        snprintf(msg, msglen, "%s '%s': %s is not set; declare it in kumo.yaml", kind->label, name, var);
        return KUMO_EINVAL;
    }
    size_t same_kind = 0;
    for (size_t i = 0; i < cache.n; i++)
        same_kind += cache.v[i].kind == kind;
    if (same_kind == KUMO__STORES_MAX) {
        snprintf(msg, msglen, "%s '%s': more than %d of them in one process", kind->label, name, KUMO__STORES_MAX);
        return KUMO_EINVAL;
    }
    if (cache.n == cache.cap) {
        size_t cap = cache.cap ? cache.cap * 2 : 8;
        open_store *v = realloc(cache.v, cap * sizeof(*v));
        if (v == NULL) {
            snprintf(msg, msglen, "%s '%s': out of memory", kind->label, name);
            return KUMO_ENOMEM;
        }
        cache.v = v;
        cache.cap = cap;
    }
    kumo__error e = {0};
    int rc = kumo__store_open(kind, url, name, out, &e);
    if (rc != 0) {
        /* The URL itself is not in it: it may hold a password. */
        snprintf(msg, msglen, "%s '%s' (%s): %s", kind->label, name, var, e.msg);
        return rc;
    }
    cache.v[cache.n++] = (open_store){.kind = kind, .store = *out};
    cache.pid = getpid();
    return 0;
}

kumo__store *kumo__store_get(const kumo__store_kind_desc *kind, kumo_ctx *ctx, const char *name, int *err)
{
    kumo__store *s = NULL;
    char var[KUMO__STORE_VAR_MAX];
    char msg[256];
    int rc = KUMO_EINVAL;

    if (name == NULL || kumo__store_var(name, var, sizeof(var)) != 0) {
        snprintf(msg, sizeof(msg), "%s '%s' is not a valid store name", kind->label, name ? name : "(null)");
        goto out;
    }
    pthread_mutex_lock(&cache.lock);
    if (cache.n && cache.pid != getpid())
        cache.n = 0; /* a forked child: the parent's handles are not ours */
    for (size_t i = 0; i < cache.n; i++) {
        if (cache.v[i].kind == kind && strcmp(cache.v[i].store->name, name) == 0) {
            s = cache.v[i].store;
            break;
        }
    }
    rc = s ? 0 : cache_add(kind, name, var, &s, msg, sizeof(msg));
    pthread_mutex_unlock(&cache.lock);
    if (rc != 0)
        kumo_log(NULL, KUMO_LOG_ERROR, "%s", msg);
out:
    if (rc != 0)
        kumo__store_error_set(ctx, rc, msg);
    else if (ctx)
        ctx->store_driver = s->driver->scheme; /* for the call's trace record (sdk/trace.c) */
    if (err)
        *err = rc;
    return rc == 0 ? s : NULL;
}

void kumo__stores_close_all(void)
{
    pthread_mutex_lock(&cache.lock);
    if (cache.pid != getpid())
        cache.n = 0;
    for (size_t i = 0; i < cache.n; i++)
        kumo__store_close(cache.v[i].store);
    free(cache.v);
    cache.v = NULL;
    cache.n = cache.cap = 0;
    pthread_mutex_unlock(&cache.lock);
}
