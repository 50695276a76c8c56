/*
 * azblob.c: the blob driver for Azure Blob storage,
 * `azblob://ACCOUNT/CONTAINER[/PREFIX]?endpoint=URL&create=false`, over
 * azure.c (libcurl, Shared Key or a managed identity), block blobs only.
 *
 * Objects are CONTAINER/PREFIX/KEY (a '/' is added to a PREFIX without
 * one), so one container can hold many stores. The content type is the
 * blob's own (x-ms-blob-content-type), the etag is the blob's ETag, which
 * changes with every write, and the modification time is Last-Modified
 * (whole seconds).
 *
 * A whole put is one Put Blob; a get one GET (capped at 256 MiB: use a
 * reader); a delete one Delete Blob (404 BlobNotFound: KUMO_ENOTFOUND). A
 * list is List Blobs with prefix= and maxresults=, which carries sizes and
 * content types, so one request serves a page; the cursor is the
 * service's own continuation marker (NextMarker), opaque to the caller.
 *
 * Streaming never holds an object in memory: a writer buffers 4 MiB; an
 * object that stays under that is one Put Blob at commit, a larger one is
 * sent as Put Block calls (block ids random per writer, so two writers of
 * one key never mix blocks) made visible at once by Put Block List at
 * commit. Abort sends nothing: uncommitted blocks are never visible and the
 * service drops them (after a week). A reader HEADs the blob, then fetches
 * ranges of 1 MiB with If-Match on the ETag it saw: a blob replaced
 * mid-read fails the read with KUMO_ECONFLICT instead of mixing versions.
 *
 * The container is created on first use unless create=false; a call that
 * finds it gone (ContainerNotFound) makes it again and is retried once.
 */
#include "sdk/sdk.h"
#include "base/curl_lazy.h"
#include "sdk/stores/azure.h"

#include "base/percent.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_SIZE ((size_t)4 << 20)
#define BLOCKS_MAX 50000
#define CHUNK_SIZE ((size_t)1 << 20)
#define WHOLE_GET_MAX ((size_t)256 << 20)
#define LIST_BODY_MAX ((size_t)8 << 20)
#define SMALL_BODY_MAX ((size_t)1 << 20)
#define TARGET_MAX 4096
#define DEFAULT_TYPE "application/octet-stream"

typedef struct azblob {
    kumo__blob base;
    pthread_mutex_t lock; /* guards az and ready */
    kumo__az *az;
    char *container;
    char *prefix; /* "" or ending in '/' */
    int create;
    int ready;
} azblob;

struct kumo__blob_stream {
    azblob *s;
    char *target; /* the blob's path */
    /* writer */
    char *type;
    char *buf; /* BLOCK_SIZE bytes */
    size_t used;
    char (*ids)[48]; /* the blocks sent, base64 ids */
    size_t nblocks, cap;
    unsigned long long tag;
    /* reader */
    char *etag;
    uint64_t size, offset;
    char *chunk;
    size_t chunk_len, chunk_pos;
};

static char *arena_str(kumo__arena *a, const char *s)
{
    return kumo__arena_strndup(a, s, strlen(s));
}

/* "/CONTAINER/PREFIXKEY[?query]" into buf. */
static int blob_target(azblob *s, const char *key, const char *query, char *buf, size_t size)
{
    int n = snprintf(buf, size, "/%s/", s->container);
    if (n < 0 || (size_t)n >= size)
        return KUMO_ETOOBIG;
    size_t w = (size_t)n, e;
    size_t plen = strlen(s->prefix);
    if (plen) {
        if ((e = kumo__az_uri_encode(s->prefix, plen, 1, buf + w, size - w)) == 0)
            return KUMO_ETOOBIG;
        w += e;
    }
    if ((e = kumo__az_uri_encode(key, strlen(key), 1, buf + w, size - w)) == 0)
        return KUMO_ETOOBIG;
    w += e;
    if (query && snprintf(buf + w, size - w, "?%s", query) >= (int)(size - w))
        return KUMO_ETOOBIG;
    return 0;
}

static int ensure_container(azblob *s)
{
    kumo__cloud_res res;
    char target[256];
    if (s->ready)
        return 0;
    snprintf(target, sizeof(target), "/%s?restype=container", s->container);
    int rc;
    if (!s->create) {
        rc = kumo__az_send(s->az, "HEAD", target, NULL, NULL, 0, SMALL_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        if (rc == KUMO_ENOTFOUND) {
            snprintf(s->base.error, sizeof(s->base.error),
                     "azblob: container '%s' does not exist; create it or drop create=false from the URL",
                     s->container);
            return KUMO_EUNAVAILABLE;
        }
    } else {
        rc = kumo__az_send(s->az, "PUT", target, NULL, "", 0, SMALL_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        if (rc != 0 && strcmp(kumo__az_code(s->az), "ContainerAlreadyExists") == 0)
            rc = 0;
    }
    if (rc == 0) {
        s->ready = 1;
        *s->base.error = '\0';
    }
    return rc;
}

/* One exchange on the container, made first when needed and again (the
 * call retried once) when the service says it is gone. Caller holds the
 * lock. */
static int bsend(azblob *s, const char *method, const char *target, const char *const *headers, const void *body,
                 size_t len, size_t max_body, kumo__cloud_res *res)
{
    memset(res, 0, sizeof(*res));
    int rc = ensure_container(s);
    if (rc != 0)
        return rc;
    rc = kumo__az_send(s->az, method, target, headers, body, len, max_body, res);
    if (rc == KUMO_ENOTFOUND && strcmp(kumo__az_code(s->az), "ContainerNotFound") == 0) {
        kumo__cloud_res_free(res);
        s->ready = 0;
        if ((rc = ensure_container(s)) != 0)
            return rc;
        rc = kumo__az_send(s->az, method, target, headers, body, len, max_body, res);
    }
    return rc;
}

static int fill_info(kumo__arena *a, const char *key, const kumo__cloud_res *res, uint64_t size, kumo_blob_info *info)
{
    char ct[256], etag[256], lm[128];
    if (kumo__cloud_res_header(res, "Content-Type", ct, sizeof(ct)) == NULL || *ct == '\0')
        snprintf(ct, sizeof(ct), DEFAULT_TYPE);
    if (kumo__cloud_res_header(res, "ETag", etag, sizeof(etag)) == NULL)
        *etag = '\0';
    time_t t = kumo__cloud_res_header(res, "Last-Modified", lm, sizeof(lm)) ? curl_getdate(lm, NULL) : -1;
    info->key = arena_str(a, key);
    info->size = size;
    info->content_type = arena_str(a, ct);
    info->etag = arena_str(a, etag);
    info->modified_ms = t > 0 ? (int64_t)t * 1000 : 0;
    return info->key && info->content_type && info->etag ? 0 : KUMO_ENOMEM;
}

static uint64_t content_length(const kumo__cloud_res *res)
{
    char v[32];
    return kumo__cloud_res_header(res, "Content-Length", v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
}

static void azblob_close(kumo__store *b)
{
    azblob *s = (azblob *)b;
    if (s == NULL)
        return;
    kumo__az_free(s->az);
    free(s->container);
    free(s->prefix);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int valid_container(const char *c)
{
    size_t n = strlen(c);
    if (n < 3 || n > 63 || *c == '-' || c[n - 1] == '-' || strstr(c, "--"))
        return 0;
    for (; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return 0;
    return 1;
}

static int azblob_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__az_url u;
    (void)name;
    *out = NULL;
    int rc = kumo__az_url_parse(url, "azblob", &u, e);
    if (rc != 0)
        return rc;
    azblob *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&s->lock, NULL);
    if (!valid_container(u.resource)) {
        kumo__error_set(e, KUMO_EINVAL,
                        "store URL '%s': '%s' is not a container name (3 to 63 lower-case letters, digits and "
                        "single hyphens)",
                        url, u.resource);
        rc = KUMO_EINVAL;
        goto out;
    }
    size_t plen = strlen(u.path);
    if (plen && asprintf(&s->prefix, "%s%s", u.path, u.path[plen - 1] == '/' ? "" : "/") < 0)
        s->prefix = NULL;
    else if (!plen)
        s->prefix = strdup("");
    s->create = u.create;
    s->container = u.resource;
    u.resource = NULL;
    if (s->prefix == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = kumo__az_new("blob", &u, s->base.error, sizeof(s->base.error), &s->az, e);
    if (rc != 0)
        goto out;
    *out = &s->base.store;
out:
    if (rc != 0)
        azblob_close(s ? &s->base.store : NULL);
    kumo__az_url_free(&u);
    return rc;
}

static int put_blob(azblob *s, const char *target, const void *data, size_t len, const char *content_type)
{
    kumo__cloud_res res;
    char ct[300];
    snprintf(ct, sizeof(ct), "x-ms-blob-content-type: %s", content_type ? content_type : DEFAULT_TYPE);
    const char *headers[] = {"x-ms-blob-type: BlockBlob", ct, NULL};
    int rc = bsend(s, "PUT", target, headers, data ? data : "", len, SMALL_BODY_MAX, &res);
    kumo__cloud_res_free(&res);
    return rc;
}

static int azblob_put(kumo__blob *b, const char *key, const void *data, size_t len, const char *content_type)
{
    azblob *s = (azblob *)b;
    char target[TARGET_MAX];
    int rc = blob_target(s, key, NULL, target, sizeof(target));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = put_blob(s, target, data, len, content_type);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int azblob_get(kumo__blob *b, kumo__arena *a, const char *key, const void **data, size_t *len,
                      kumo_blob_info *info)
{
    azblob *s = (azblob *)b;
    kumo__cloud_res res;
    char target[TARGET_MAX];
    int rc = blob_target(s, key, NULL, target, sizeof(target));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = bsend(s, "GET", target, NULL, NULL, 0, WHOLE_GET_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc == KUMO_ETOOBIG)
        snprintf(b->error, sizeof(b->error), "azblob: blob '%s' is larger than %zu MiB; read it with a reader", key,
                 WHOLE_GET_MAX >> 20);
    if (rc != 0)
        goto out;
    char *copy = kumo__arena_strndup(a, res.body ? res.body : "", res.len);
    if (copy == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    *data = copy;
    *len = res.len;
    if (info)
        rc = fill_info(a, key, &res, res.len, info);
out:
    kumo__cloud_res_free(&res);
    return rc;
}

static int azblob_head(kumo__blob *b, kumo__arena *a, const char *key, kumo_blob_info *info)
{
    azblob *s = (azblob *)b;
    kumo__cloud_res res;
    char target[TARGET_MAX];
    int rc = blob_target(s, key, NULL, target, sizeof(target));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = bsend(s, "HEAD", target, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        rc = fill_info(a, key, &res, content_length(&res), info);
    kumo__cloud_res_free(&res);
    return rc;
}

static int azblob_del(kumo__blob *b, const char *key)
{
    azblob *s = (azblob *)b;
    kumo__cloud_res res;
    char target[TARGET_MAX];
    int rc = blob_target(s, key, NULL, target, sizeof(target));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = bsend(s, "DELETE", target, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    kumo__cloud_res_free(&res);
    return rc;
}

/* A name the service percent-encoded because XML cannot carry it
 * (<Name Encoded="true">...</Name>: control characters), decoded; NULL
 * when there is none. */
static char *encoded_name(const char *block)
{
    static const char open[] = "<Name Encoded=\"true\">";
    const char *a = strstr(block, open), *b;
    if (a == NULL || (b = strstr(a += sizeof(open) - 1, "</Name>")) == NULL)
        return NULL;
    char *out = malloc((size_t)(b - a) + 1);
    ssize_t n = out ? kumo__percent_decode_into(a, (size_t)(b - a), out, KUMO__PCT_NO_NUL) : -1;
    if (n < 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

static int azblob_list(kumo__blob *b, kumo__arena *a, const char *prefix, const char *cursor, size_t limit,
                       kumo_blob_page *out)
{
    azblob *s = (azblob *)b;
    kumo__cloud_res res;
    char *target = malloc(TARGET_MAX * 3), *full = malloc(TARGET_MAX), *enc_p = malloc(TARGET_MAX * 3),
         *enc_c = malloc(TARGET_MAX * 3);
    int rc = KUMO_ENOMEM;
    size_t plen = strlen(s->prefix);
    memset(&res, 0, sizeof(res));
    kumo_blob_info *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (!target || !full || !enc_p || !enc_c || !items)
        goto out;
    rc = KUMO_ETOOBIG;
    snprintf(full, TARGET_MAX, "%s%s", s->prefix, prefix);
    if (kumo__az_uri_encode(full, strlen(full), 0, enc_p, TARGET_MAX * 3) == 0 && *full)
        goto out;
    if (!*full)
        *enc_p = '\0';
    *enc_c = '\0';
    if (cursor && kumo__az_uri_encode(cursor, strlen(cursor), 0, enc_c, TARGET_MAX * 3) == 0)
        goto out;
    snprintf(target, TARGET_MAX * 3, "/%s?restype=container&comp=list&maxresults=%zu%s%s%s%s", s->container, limit,
             *enc_p ? "&prefix=" : "", enc_p, cursor ? "&marker=" : "", enc_c);
    pthread_mutex_lock(&s->lock);
    rc = bsend(s, "GET", target, NULL, NULL, 0, LIST_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        goto out;
    size_t count = 0;
    const char *p = res.body ? res.body : "", *end;
    char *block;
    while (count < limit && (block = kumo__aws_xml_text(p, "Blob", &end)) != NULL) {
        p = end;
        char *k = kumo__aws_xml_text(block, "Name", NULL), *size = kumo__aws_xml_text(block, "Content-Length", NULL);
        if (k == NULL)
            k = encoded_name(block);
        char *etag = kumo__aws_xml_text(block, "Etag", NULL), *lm = kumo__aws_xml_text(block, "Last-Modified", NULL);
        char *ct = kumo__aws_xml_text(block, "Content-Type", NULL);
        kumo_blob_info *it = &items[count];
        memset(it, 0, sizeof(*it));
        it->key = k && strncmp(k, s->prefix, plen) == 0 ? arena_str(a, k + plen) : NULL;
        it->size = size ? strtoull(size, NULL, 10) : 0;
        if (etag && *etag != '"') {
            char q[300];
            snprintf(q, sizeof(q), "\"%s\"", etag);
            it->etag = arena_str(a, q);
        } else {
            it->etag = etag ? arena_str(a, etag) : NULL;
        }
        time_t t = lm ? curl_getdate(lm, NULL) : -1;
        it->modified_ms = t > 0 ? (int64_t)t * 1000 : 0;
        it->content_type = arena_str(a, ct && *ct ? ct : DEFAULT_TYPE);
        int ok = it->key != NULL && it->etag != NULL && it->content_type != NULL;
        free(block);
        free(k);
        free(size);
        free(etag);
        free(lm);
        free(ct);
        if (!ok) {
            snprintf(b->error, sizeof(b->error), "azblob: List Blobs returned an item without a name under '%s'",
                     s->prefix);
            rc = KUMO_EIO;
            goto out;
        }
        count++;
    }
    char *next = kumo__aws_xml_text(res.body ? res.body : "", "NextMarker", NULL);
    out->items = items;
    out->count = count;
    out->next = next && *next ? arena_str(a, next) : NULL;
    free(next);
    rc = 0;
out:
    kumo__cloud_res_free(&res);
    free(target);
    free(full);
    free(enc_p);
    free(enc_c);
    return rc;
}

/* ---- streaming --------------------------------------------------------- */

static void stream_free(kumo__blob_stream *w)
{
    if (w == NULL)
        return;
    free(w->target);
    free(w->type);
    free(w->buf);
    free(w->ids);
    free(w->etag);
    free(w->chunk);
    free(w);
}

static int azblob_writer_open(kumo__blob *b, const char *key, const char *content_type, kumo__blob_stream **out)
{
    azblob *s = (azblob *)b;
    char target[TARGET_MAX];
    int rc = blob_target(s, key, NULL, target, sizeof(target));
    if (rc != 0)
        return rc;
    kumo__blob_stream *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return KUMO_ENOMEM;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->s = s;
    w->tag = ((unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec) ^
             ((unsigned long long)(uintptr_t)w << 16);
    w->target = strdup(target);
    w->type = strdup(content_type ? content_type : DEFAULT_TYPE);
    w->buf = malloc(BLOCK_SIZE);
    if (!w->target || !w->type || !w->buf) {
        stream_free(w);
        return KUMO_ENOMEM;
    }
    *out = w;
    return 0;
}

/* Sends the buffer as the next block. */
static int put_block(kumo__blob_stream *w)
{
    azblob *s = w->s;
    char raw[32], q[128], enc[96], target[TARGET_MAX + 128];
    kumo__cloud_res res;
    if (w->nblocks == BLOCKS_MAX) {
        snprintf(s->base.error, sizeof(s->base.error), "azblob: a blob holds at most %d blocks of %zu MiB", BLOCKS_MAX,
                 BLOCK_SIZE >> 20);
        return KUMO_ETOOBIG;
    }
    if (w->nblocks == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        void *ids = realloc(w->ids, cap * sizeof(*w->ids));
        if (ids == NULL)
            return KUMO_ENOMEM;
        w->ids = ids;
        w->cap = cap;
    }
    snprintf(raw, sizeof(raw), "%016llx%08zu", w->tag, w->nblocks);
    char *id = kumo__aws_b64_encode(raw, strlen(raw));
    if (id == NULL)
        return KUMO_ENOMEM;
    snprintf(w->ids[w->nblocks], sizeof(w->ids[0]), "%s", id);
    kumo__az_uri_encode(id, strlen(id), 0, enc, sizeof(enc));
    free(id);
    snprintf(q, sizeof(q), "comp=block&blockid=%s", enc);
    snprintf(target, sizeof(target), "%s?%s", w->target, q);
    pthread_mutex_lock(&s->lock);
    int rc = bsend(s, "PUT", target, NULL, w->buf, w->used, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    kumo__cloud_res_free(&res);
    if (rc == 0) {
        w->nblocks++;
        w->used = 0;
    }
    return rc;
}

static int azblob_write(kumo__blob_stream *w, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        size_t n = BLOCK_SIZE - w->used < len ? BLOCK_SIZE - w->used : len;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
        if (w->used == BLOCK_SIZE) {
            int rc = put_block(w);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int azblob_commit(kumo__blob_stream *w)
{
    azblob *s = w->s;
    int rc;
    if (w->nblocks == 0) {
        pthread_mutex_lock(&s->lock);
        rc = put_blob(s, w->target, w->buf, w->used, w->type);
        pthread_mutex_unlock(&s->lock);
        stream_free(w);
        return rc;
    }
    if (w->used > 0 && (rc = put_block(w)) != 0) {
        stream_free(w);
        return rc;
    }
    size_t cap = 128 + w->nblocks * 64;
    char *xml = malloc(cap), ct[300], target[TARGET_MAX + 32];
    if (xml == NULL) {
        stream_free(w);
        return KUMO_ENOMEM;
    }
    size_t n = (size_t)snprintf(xml, cap, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for (size_t i = 0; i < w->nblocks; i++)
        n += (size_t)snprintf(xml + n, cap - n, "<Latest>%s</Latest>", w->ids[i]);
    n += (size_t)snprintf(xml + n, cap - n, "</BlockList>");
    snprintf(ct, sizeof(ct), "x-ms-blob-content-type: %s", w->type);
    snprintf(target, sizeof(target), "%s?comp=blocklist", w->target);
    const char *headers[] = {ct, "Content-Type: application/xml", NULL};
    kumo__cloud_res res;
    pthread_mutex_lock(&s->lock);
    rc = bsend(s, "PUT", target, headers, xml, n, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    kumo__cloud_res_free(&res);
    free(xml);
    stream_free(w);
    return rc;
}

static void azblob_abort(kumo__blob_stream *w)
{
    /* Uncommitted blocks are never visible; the service drops them. */
    stream_free(w);
}

static int azblob_reader_open(kumo__blob *b, kumo__arena *a, const char *key, kumo__blob_stream **out,
                              kumo_blob_info *info)
{
    azblob *s = (azblob *)b;
    char target[TARGET_MAX];
    kumo__cloud_res res;
    int rc = blob_target(s, key, NULL, target, sizeof(target));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = bsend(s, "HEAD", target, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    kumo_blob_info tmp;
    if (info == NULL)
        info = &tmp;
    if (rc == 0)
        rc = fill_info(a, key, &res, content_length(&res), info);
    kumo__cloud_res_free(&res);
    if (rc != 0)
        return rc;
    kumo__blob_stream *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return KUMO_ENOMEM;
    r->s = s;
    r->target = strdup(target);
    r->etag = strdup(info->etag);
    r->size = info->size;
    if (!r->target || !r->etag) {
        stream_free(r);
        return KUMO_ENOMEM;
    }
    *out = r;
    return 0;
}

static int fetch_chunk(kumo__blob_stream *r)
{
    azblob *s = r->s;
    char range[96], ifm[300];
    kumo__cloud_res res;
    uint64_t last = r->offset + CHUNK_SIZE - 1;
    if (last >= r->size)
        last = r->size - 1;
    snprintf(range, sizeof(range), "x-ms-range: bytes=%llu-%llu", (unsigned long long)r->offset,
             (unsigned long long)last);
    snprintf(ifm, sizeof(ifm), "If-Match: %s", r->etag);
    const char *headers[] = {range, ifm, NULL};
    pthread_mutex_lock(&s->lock);
    int rc = bsend(s, "GET", r->target, headers, NULL, 0, CHUNK_SIZE + 1024, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc == KUMO_ECONFLICT)
        snprintf(s->base.error, sizeof(s->base.error), "azblob: the blob changed while it was being read");
    if (rc == 0 && res.len != last - r->offset + 1) {
        snprintf(s->base.error, sizeof(s->base.error), "azblob: a ranged read returned %zu bytes, not %llu", res.len,
                 (unsigned long long)(last - r->offset + 1));
        rc = KUMO_EIO;
    }
    if (rc == 0) {
        free(r->chunk);
        r->chunk = res.body;
        r->chunk_len = res.len;
        r->chunk_pos = 0;
        r->offset = last + 1;
        res.body = NULL;
    }
    kumo__cloud_res_free(&res);
    return rc;
}

static int azblob_read(kumo__blob_stream *r, void *buf, size_t cap, size_t *got)
{
    *got = 0;
    if (r->chunk_pos == r->chunk_len) {
        if (r->offset >= r->size)
            return 0;
        int rc = fetch_chunk(r);
        if (rc != 0)
            return rc;
    }
    size_t n = r->chunk_len - r->chunk_pos < cap ? r->chunk_len - r->chunk_pos : cap;
    memcpy(buf, r->chunk + r->chunk_pos, n);
    r->chunk_pos += n;
    *got = n;
    return 0;
}

static void azblob_reader_close(kumo__blob_stream *r)
{
    stream_free(r);
}

const kumo__blob_driver kumo__blob_azblob_driver = {
    .common = {.version = KUMO__BLOB_DRIVER_VERSION, .scheme = "azblob", .open = azblob_open, .close = azblob_close},
    .put = azblob_put,
    .get = azblob_get,
    .head = azblob_head,
    .del = azblob_del,
    .list = azblob_list,
    .writer_open = azblob_writer_open,
    .write = azblob_write,
    .commit = azblob_commit,
    .abort = azblob_abort,
    .reader_open = azblob_reader_open,
    .read = azblob_read,
    .reader_close = azblob_reader_close,
};
