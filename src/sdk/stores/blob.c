/*
 * blob.c: the blob API of kumo.h over the blob drivers of sdk.h; kv.c's
 * counterpart for objects (store.c opens and caches the stores and records
 * their errors for all three kinds).
 *
 * Arguments are checked here once so drivers can trust them: keys are 1 to
 * KUMO_BLOB_KEY_MAX bytes (KUMO_ETOOBIG beyond), never absolute and never
 * with a ".." segment (KUMO_EINVAL), content types are printable and at most
 * CONTENT_TYPE_MAX bytes ("application/octet-stream" when none is given),
 * list limits are 1..1000.
 *
 * Streams: a writer or reader is a small malloc'd wrapper around the
 * driver's stream, whose release is deferred on its invocation
 * (kumo__ctx_defer) so that the invocation's end aborts the writers and
 * closes the readers a handler forgot: a forgotten writer never becomes
 * visible and no fd outlives the invocation. Commit, abort and close take
 * the deferred call back and free the wrapper.
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one driver a line */
/* clang-format off */
static const kumo__driver_head *const drivers[] = {
    &kumo__blob_s3_driver.common,
#if !KUMO_DRIVERS_AWS_ONLY /* kumo-lambda carries the AWS drivers alone */
    &kumo__blob_gcs_driver.common,
    &kumo__blob_azblob_driver.common,
    &kumo__blob_file_driver.common,
#endif
};
/* clang-format on */

const kumo__store_kind_desc kumo__blob_kind = {
    .name = "blob",
    .label = "blob store",
    .version = KUMO__BLOB_DRIVER_VERSION,
    .drivers = drivers,
    .ndrivers = sizeof(drivers) / sizeof(drivers[0]),
};

#define LIST_LIMIT_MAX 1000
#define CONTENT_TYPE_MAX 255
#define DEFAULT_CONTENT_TYPE "application/octet-stream"

/* An open writer or reader; its release is deferred on ctx. */
struct kumo__blob_open {
    kumo_ctx *ctx;
    kumo__blob *blob;
    kumo__blob_stream *stream;
    kumo__defer *release;
    int writer;
};
struct kumo_blob_writer {
    struct kumo__blob_open o;
};
struct kumo_blob_reader {
    struct kumo__blob_open o;
};

/* ---- argument checks ---------------------------------------------------- */

/* 0, KUMO_EINVAL (NULL, empty, absolute, a ".." segment) or KUMO_ETOOBIG. */
static int check_key(const char *key)
{
    if (key == NULL)
        return KUMO_EINVAL;
    size_t n = strnlen(key, KUMO_BLOB_KEY_MAX + 1);
    if (n == 0 || key[0] == '/')
        return KUMO_EINVAL;
    if (n > KUMO_BLOB_KEY_MAX)
        return KUMO_ETOOBIG;
    for (const char *seg = key; seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return KUMO_EINVAL;
        seg = slash ? slash + 1 : NULL;
    }
    return 0;
}

static int check_content_type(const char *ct)
{
    size_t n = strnlen(ct, CONTENT_TYPE_MAX + 1);
    if (n == 0 || n > CONTENT_TYPE_MAX)
        return KUMO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ct[i] < 0x20 || ct[i] == 0x7f)
            return KUMO_EINVAL;
    return 0;
}

/* Resolves ctx/store/key, the head of every call; records why it failed. */
static int prepare(kumo_ctx *ctx, const char *store, const char *key, kumo__blob **b)
{
    *b = NULL;
    if (ctx == NULL || store == NULL)
        return KUMO_EINVAL;
    if (key) {
        int rc = check_key(key);
        if (rc != 0) {
            kumo__store_error_set(ctx, rc,
                                  rc == KUMO_ETOOBIG ? "blob key longer than KUMO_BLOB_KEY_MAX"
                                                     : "blob key empty, absolute or with a '..' segment");
            return rc;
        }
    }
    int rc;
    kumo__store *s = kumo__store_get(&kumo__blob_kind, ctx, store, &rc);
    if (s == NULL)
        return rc;
    *b = (kumo__blob *)s; /* a kumo__blob starts with its kumo__store */
    (*b)->error[0] = '\0';
    return 0;
}

static int result(kumo_ctx *ctx, kumo__blob *b, int rc)
{
    if (rc != 0)
        kumo__store_error_set(ctx, rc, b->error);
    return rc;
}

/* ---- whole objects ------------------------------------------------------ */

static int blob_put_call(kumo_ctx *ctx, const char *store, const char *key, const void *data, size_t len,
                         const char *content_type)
{
    kumo__blob *b;
    if (key == NULL || (data == NULL && len > 0))
        return KUMO_EINVAL;
    if (content_type == NULL)
        content_type = DEFAULT_CONTENT_TYPE;
    if (check_content_type(content_type) != 0)
        return KUMO_EINVAL;
    int rc = prepare(ctx, store, key, &b);
    if (rc != 0)
        return rc;
    return result(ctx, b, b->driver->put(b, key, data ? data : "", len, content_type));
}

static int blob_get_call(kumo_ctx *ctx, const char *store, const char *key, const void **data, size_t *len,
                         kumo_blob_info *info)
{
    kumo__blob *b;
    kumo_blob_info local;
    if (data == NULL || len == NULL || key == NULL)
        return KUMO_EINVAL;
    *data = NULL;
    *len = 0;
    if (info == NULL)
        info = &local;
    memset(info, 0, sizeof(*info));
    int rc = prepare(ctx, store, key, &b);
    if (rc != 0)
        return rc;
    rc = result(ctx, b, b->driver->get(b, &ctx->arena, key, data, len, info));
    if (rc != 0) {
        *data = NULL;
        *len = 0;
        memset(info, 0, sizeof(*info));
    }
    return rc;
}

static int blob_head_call(kumo_ctx *ctx, const char *store, const char *key, kumo_blob_info *info)
{
    kumo__blob *b;
    if (info == NULL || key == NULL)
        return KUMO_EINVAL;
    memset(info, 0, sizeof(*info));
    int rc = prepare(ctx, store, key, &b);
    if (rc != 0)
        return rc;
    rc = result(ctx, b, b->driver->head(b, &ctx->arena, key, info));
    if (rc != 0)
        memset(info, 0, sizeof(*info));
    return rc;
}

static int blob_delete_call(kumo_ctx *ctx, const char *store, const char *key)
{
    kumo__blob *b;
    if (key == NULL)
        return KUMO_EINVAL;
    int rc = prepare(ctx, store, key, &b);
    if (rc != 0)
        return rc;
    return result(ctx, b, b->driver->del(b, key));
}

static int blob_list_call(kumo_ctx *ctx, const char *store, const char *prefix, const char *cursor, size_t limit,
                          kumo_blob_page *out)
{
    kumo__blob *b;
    if (out == NULL)
        return KUMO_EINVAL;
    memset(out, 0, sizeof(*out));
    if (limit < 1 || limit > LIST_LIMIT_MAX)
        return KUMO_EINVAL;
    if (prefix && strnlen(prefix, KUMO_BLOB_KEY_MAX + 1) > KUMO_BLOB_KEY_MAX)
        return KUMO_ETOOBIG;
    if (cursor && *cursor && check_key(cursor) != 0)
        return KUMO_EINVAL;
    int rc = prepare(ctx, store, NULL, &b);
    if (rc != 0)
        return rc;
    rc = result(ctx, b,
                b->driver->list(b, &ctx->arena, prefix ? prefix : "", cursor && *cursor ? cursor : NULL, limit, out));
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- streams ------------------------------------------------------------ */

/* The invocation ended with the stream open: a writer is aborted, a
 * reader closed. */
static void release(void *arg)
{
    struct kumo__blob_open *o = arg;
    o->release = NULL; /* it runs now: nothing to take back */
    if (o->writer)
        kumo_blob_writer_abort((kumo_blob_writer *)o);
    else
        kumo_blob_reader_close((kumo_blob_reader *)o);
}

static int blob_writer_open_call(kumo_ctx *ctx, const char *store, const char *key, const char *content_type,
                                 kumo_blob_writer **out)
{
    kumo__blob *b;
    if (out == NULL || key == NULL)
        return KUMO_EINVAL;
    *out = NULL;
    if (content_type == NULL)
        content_type = DEFAULT_CONTENT_TYPE;
    if (check_content_type(content_type) != 0)
        return KUMO_EINVAL;
    int rc = prepare(ctx, store, key, &b);
    if (rc != 0)
        return rc;
    kumo_blob_writer *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return KUMO_ENOMEM;
    w->o = (struct kumo__blob_open){.ctx = ctx, .blob = b, .writer = 1};
    if ((w->o.release = kumo__ctx_defer(ctx, release, &w->o)) == NULL) {
        free(w);
        return KUMO_ENOMEM;
    }
    rc = result(ctx, b, b->driver->writer_open(b, key, content_type, &w->o.stream));
    if (rc != 0) {
        kumo__ctx_undefer(ctx, w->o.release);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int kumo_blob_write(kumo_blob_writer *w, const void *data, size_t len)
{
    if (w == NULL || (data == NULL && len > 0))
        return KUMO_EINVAL;
    if (len == 0)
        return 0;
    w->o.blob->error[0] = '\0';
    return result(w->o.ctx, w->o.blob, w->o.blob->driver->write(w->o.stream, data, len));
}

int kumo_blob_writer_commit(kumo_blob_writer *w)
{
    if (w == NULL)
        return KUMO_EINVAL;
    kumo__ctx_undefer(w->o.ctx, w->o.release);
    w->o.blob->error[0] = '\0';
    int rc = result(w->o.ctx, w->o.blob, w->o.blob->driver->commit(w->o.stream));
    free(w);
    return rc;
}

void kumo_blob_writer_abort(kumo_blob_writer *w)
{
    if (w == NULL)
        return;
    kumo__ctx_undefer(w->o.ctx, w->o.release);
    w->o.blob->driver->abort(w->o.stream);
    free(w);
}

static int blob_reader_open_call(kumo_ctx *ctx, const char *store, const char *key, kumo_blob_reader **out,
                                 kumo_blob_info *info)
{
    kumo__blob *b;
    kumo_blob_info local;
    if (out == NULL || key == NULL)
        return KUMO_EINVAL;
    *out = NULL;
    if (info == NULL)
        info = &local;
    memset(info, 0, sizeof(*info));
    int rc = prepare(ctx, store, key, &b);
    if (rc != 0)
        return rc;
    kumo_blob_reader *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return KUMO_ENOMEM;
    r->o = (struct kumo__blob_open){.ctx = ctx, .blob = b};
    if ((r->o.release = kumo__ctx_defer(ctx, release, &r->o)) == NULL) {
        free(r);
        return KUMO_ENOMEM;
    }
    rc = result(ctx, b, b->driver->reader_open(b, &ctx->arena, key, &r->o.stream, info));
    if (rc != 0) {
        kumo__ctx_undefer(ctx, r->o.release);
        memset(info, 0, sizeof(*info));
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int kumo_blob_read(kumo_blob_reader *r, void *buf, size_t cap, size_t *got)
{
    if (got)
        *got = 0;
    if (r == NULL || buf == NULL || got == NULL || cap == 0)
        return KUMO_EINVAL;
    r->o.blob->error[0] = '\0';
    return result(r->o.ctx, r->o.blob, r->o.blob->driver->read(r->o.stream, buf, cap, got));
}

void kumo_blob_reader_close(kumo_blob_reader *r)
{
    if (r == NULL)
        return;
    kumo__ctx_undefer(r->o.ctx, r->o.release);
    r->o.blob->driver->reader_close(r->o.stream);
    free(r);
}

/* ---- the public calls, each recorded while the request is traced (sdk/trace.c) ---- */

int kumo_blob_put(kumo_ctx *ctx, const char *store, const char *key, const void *data, size_t len,
                  const char *content_type)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = blob_put_call(ctx, store, key, data, len, content_type);
    kumo__trace_store_end(ctx, t0, "blob", "put", store, rc);
    return rc;
}

int kumo_blob_get(kumo_ctx *ctx, const char *store, const char *key, const void **data, size_t *len,
                  kumo_blob_info *info)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = blob_get_call(ctx, store, key, data, len, info);
    kumo__trace_store_end(ctx, t0, "blob", "get", store, rc);
    return rc;
}

int kumo_blob_head(kumo_ctx *ctx, const char *store, const char *key, kumo_blob_info *info)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = blob_head_call(ctx, store, key, info);
    kumo__trace_store_end(ctx, t0, "blob", "head", store, rc);
    return rc;
}

int kumo_blob_delete(kumo_ctx *ctx, const char *store, const char *key)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = blob_delete_call(ctx, store, key);
    kumo__trace_store_end(ctx, t0, "blob", "delete", store, rc);
    return rc;
}

int kumo_blob_list(kumo_ctx *ctx, const char *store, const char *prefix, const char *cursor, size_t limit,
                   kumo_blob_page *out)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = blob_list_call(ctx, store, prefix, cursor, limit, out);
    kumo__trace_store_end(ctx, t0, "blob", "list", store, rc);
    return rc;
}

int kumo_blob_writer_open(kumo_ctx *ctx, const char *store, const char *key, const char *content_type,
                          kumo_blob_writer **out)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = blob_writer_open_call(ctx, store, key, content_type, out);
    kumo__trace_store_end(ctx, t0, "blob", "write", store, rc);
    return rc;
}

int kumo_blob_reader_open(kumo_ctx *ctx, const char *store, const char *key, kumo_blob_reader **out,
                          kumo_blob_info *info)
{
    uint64_t t0 = kumo__trace_store_begin(ctx);
    int rc = blob_reader_open_call(ctx, store, key, out, info);
    kumo__trace_store_end(ctx, t0, "blob", "read", store, rc);
    return rc;
}
