/*
 * s3.c: the blob driver for S3, `s3://BUCKET[/PREFIX]?region=R&endpoint=URL&
 * create=false`, over aws.c (SigV4).
 *
 * The object KEY of a store is PREFIX/KEY in BUCKET (PREFIX gets a trailing
 * '/' when it lacks one; a bucket may hold many stores under different
 * prefixes). Requests go to https://BUCKET.s3.REGION.amazonaws.com/KEY, or,
 * when the URL gives an endpoint (moto, MinIO), path style to
 * ENDPOINT/BUCKET/KEY. The bucket is created on first use unless
 * create=false, and again when a call finds it gone (NoSuchBucket: deleted,
 * or moto restarted), that call then retried once.
 *
 * Whole objects are one PUT / GET / HEAD / DELETE; the content type is the
 * object's Content-Type. A delete first HEADs the object, since S3 answers
 * 204 whether or not it existed and kumo promises KUMO_ENOTFOUND. Listing
 * is ListObjectsV2 with start-after: the cursor is the last key of the
 * previous page, as with every other driver. S3's listing has no content
 * types, so each listed item is HEADed for its own: a page of N costs N+1
 * requests (the price of kumo.h's promise that listings carry them).
 * The etag is S3's (an MD5 of the content for a single PUT).
 *
 * Streaming never holds the object in memory. A writer buffers up to
 * PART_SIZE (5 MiB, S3's smallest part); an object that never filled it is
 * one PUT at commit, a larger one a multipart upload (CreateMultipartUpload
 * when the first part is full, UploadPart per part, CompleteMultipartUpload
 * at commit, AbortMultipartUpload at abort or on failure), so nothing
 * partial is ever visible. A reader HEADs the object, then fetches it in
 * ranged GETs of CHUNK_SIZE (1 MiB) with If-Match on the etag: an object
 * replaced while it is being read fails the read with KUMO_ECONFLICT rather
 * than splicing two versions.
 */
#include "sdk/sdk.h"
#include "base/http.h"
#include "sdk/stores/aws.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PART_SIZE ((size_t)5 << 20)
#define PARTS_MAX 10000
#define CHUNK_SIZE ((size_t)1 << 20)
#define WHOLE_GET_MAX ((size_t)256 << 20) /* larger: use a reader */
#define LIST_BODY_MAX ((size_t)8 << 20)
#define SMALL_BODY_MAX ((size_t)1 << 20)
#define URL_MAX 4096
#define DEFAULT_TYPE "application/octet-stream"

typedef struct s3 {
    kumo__blob base;
    pthread_mutex_t lock; /* guards aws and ready */
    kumo__aws *aws;
    char *bucket_url; /* requests' base, no trailing '/' */
    char *bucket, *region;
    char *prefix; /* "" or ending in '/' */
    int create;
    int ready; /* the bucket is known to exist */
} s3;

struct kumo__blob_stream {
    s3 *s;
    char *url; /* the object's URL */
    /* writer */
    char *type;
    char *buf; /* PART_SIZE bytes */
    size_t used;
    char *upload_id; /* NULL until the first part is sent */
    char **etags;    /* one per part sent */
    size_t nparts;
    /* reader */
    char *etag;
    uint64_t size, offset;
    char *chunk;
    size_t chunk_len, chunk_pos;
};

/* The object URL of `key` into buf; 0, or KUMO_ETOOBIG when it is too long. */
static int object_url(s3 *s, const char *key, const char *query, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/", s->bucket_url);
    if (n < 0 || (size_t)n >= size)
        return KUMO_ETOOBIG;
    size_t w = (size_t)n, e;
    size_t plen = strlen(s->prefix);
    if (plen) {
        if ((e = kumo__aws_uri_encode(s->prefix, plen, 1, buf + w, size - w)) == 0)
            return KUMO_ETOOBIG;
        w += e;
    }
    if ((e = kumo__aws_uri_encode(key, strlen(key), 1, buf + w, size - w)) == 0)
        return KUMO_ETOOBIG;
    w += e;
    if (query && snprintf(buf + w, size - w, "?%s", query) >= (int)(size - w))
        return KUMO_ETOOBIG;
    return 0;
}

/* Makes sure the bucket exists (creating it when allowed). */
static int ensure_bucket(s3 *s)
{
    kumo__cloud_res res;
    char url[URL_MAX], body[256] = "";
    if (s->ready)
        return 0;
    snprintf(url, sizeof(url), "%s/", s->bucket_url);
    int rc = kumo__aws_send(s->aws, "HEAD", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    kumo__cloud_res_free(&res);
    if (rc == KUMO_ENOTFOUND) {
        if (!s->create) {
            snprintf(s->base.error, sizeof(s->base.error),
                     "s3: bucket '%s' does not exist; create it or drop create=false from the URL", s->bucket);
            return KUMO_EUNAVAILABLE;
        }
        if (strcmp(s->region, "us-east-1") != 0)
            snprintf(body, sizeof(body),
                     "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                     "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
                     s->region);
        const char *headers[] = {"Content-Type: application/xml", NULL};
        rc = kumo__aws_send(s->aws, "PUT", url, headers, body, strlen(body), SMALL_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        if (rc != 0 && strcmp(kumo__aws_code(s->aws), "BucketAlreadyOwnedByYou") == 0)
            rc = 0;
    }
    if (rc == 0) {
        s->ready = 1;
        *s->base.error = '\0';
    }
    return rc;
}

/* One exchange on the bucket, made first when needed and again (the call
 * then retried once) when S3 says it is gone. Caller holds the lock. */
static int s3_send(s3 *s, const char *method, const char *url, const char *const *headers, const void *body, size_t len,
                   size_t max_body, kumo__cloud_res *res)
{
    memset(res, 0, sizeof(*res));
    int rc = ensure_bucket(s);
    if (rc != 0)
        return rc;
    rc = kumo__aws_send(s->aws, method, url, headers, body, len, max_body, res);
    if (rc == KUMO_ENOTFOUND && strcmp(kumo__aws_code(s->aws), "NoSuchBucket") == 0) {
        s->ready = 0;
        kumo__cloud_res_free(res);
        rc = ensure_bucket(s);
        if (rc == 0)
            rc = kumo__aws_send(s->aws, method, url, headers, body, len, max_body, res);
    }
    return rc;
}

static char *arena_str(kumo__arena *a, const char *s)
{
    return kumo__arena_strndup(a, s, strlen(s));
}

/* Epoch ms of an ISO 8601 time as S3 lists it (2024-01-02T03:04:05.000Z). */
static int64_t iso_ms(const char *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0;
    if (sscanf(t, "%d-%d-%dT%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
               &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* info from a GET's or HEAD's headers. */
static int fill_info(kumo__arena *a, const char *key, const kumo__cloud_res *res, uint64_t size, kumo_blob_info *info)
{
    char ct[256], etag[256], lm[128];
    if (kumo__cloud_res_header(res, "Content-Type", ct, sizeof(ct)) == NULL)
        snprintf(ct, sizeof(ct), DEFAULT_TYPE);
    if (kumo__cloud_res_header(res, "ETag", etag, sizeof(etag)) == NULL)
        *etag = '\0';
    time_t t = kumo__cloud_res_header(res, "Last-Modified", lm, sizeof(lm)) ? kumo__http_date_parse(lm) : -1;
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

static void s3_close(kumo__store *b)
{
    s3 *s = (s3 *)b;
    if (s == NULL)
        return;
    kumo__aws_free(s->aws);
    free(s->bucket_url);
    free(s->bucket);
    free(s->region);
    free(s->prefix);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int s3_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__aws_url u;
    *out = NULL;
    int rc = kumo__aws_url_parse(url, "s3", &u, e);
    if (rc != 0) {
        return rc;
    }
    s3 *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto nomem;
    pthread_mutex_init(&s->lock, NULL);
    size_t plen = strlen(u.path);
    if (strstr(u.resource, "/") || strlen(u.resource) < 3 || strlen(u.resource) > 63) {
        kumo__error_set(e, KUMO_EINVAL, "store URL '%s': '%s' is not a bucket name (3 to 63 characters)", url,
                        u.resource);
        rc = KUMO_EINVAL;
        goto out;
    }
    s->create = u.create;
    s->bucket = strdup(u.resource);
    s->region = strdup(u.region);
    s->prefix = malloc(plen + 2);
    if (s->bucket == NULL || s->region == NULL || s->prefix == NULL)
        goto nomem;
    memcpy(s->prefix, u.path, plen + 1);
    if (plen && u.path[plen - 1] != '/')
        memcpy(s->prefix + plen, "/", 2);
    rc = u.endpoint ? asprintf(&s->bucket_url, "%s/%s", u.endpoint, u.resource)
                    : asprintf(&s->bucket_url, "https://%s.s3.%s.amazonaws.com", u.resource, u.region);
    if (rc < 0) {
        s->bucket_url = NULL;
        goto nomem;
    }
    rc = kumo__aws_new("s3", &u, s->base.error, sizeof(s->base.error), &s->aws, e);
    if (rc != 0) {
        goto out;
    }
    /* The bucket is looked up (and made) on the first call. */
    *out = &s->base.store;
    goto out;
nomem:
    kumo__error_set(e, KUMO_ENOMEM, "out of memory");
    rc = KUMO_ENOMEM;
out:
    if (rc != 0)
        s3_close(s ? &s->base.store : NULL);
    kumo__aws_url_free(&u);
    return rc;
}

static int s3_put(kumo__blob *b, const char *key, const void *data, size_t len, const char *content_type)
{
    s3 *s = (s3 *)b;
    kumo__cloud_res res;
    char url[URL_MAX], ct[300];
    int rc = object_url(s, key, NULL, url, sizeof(url));
    if (rc != 0)
        return rc;
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : DEFAULT_TYPE);
    const char *headers[] = {ct, NULL};
    pthread_mutex_lock(&s->lock);
    rc = s3_send(s, "PUT", url, headers, data, len, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    kumo__cloud_res_free(&res);
    return rc;
}

static int s3_get(kumo__blob *b, kumo__arena *a, const char *key, const void **data, size_t *len, kumo_blob_info *info)
{
    s3 *s = (s3 *)b;
    kumo__cloud_res res;
    char url[URL_MAX];
    int rc = object_url(s, key, NULL, url, sizeof(url));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = s3_send(s, "GET", url, NULL, NULL, 0, WHOLE_GET_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc == KUMO_ETOOBIG)
        snprintf(b->error, sizeof(b->error), "s3: object '%s' is larger than %zu MiB; read it with a reader", key,
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

static int s3_head(kumo__blob *b, kumo__arena *a, const char *key, kumo_blob_info *info)
{
    s3 *s = (s3 *)b;
    kumo__cloud_res res;
    char url[URL_MAX];
    int rc = object_url(s, key, NULL, url, sizeof(url));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = s3_send(s, "HEAD", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        rc = fill_info(a, key, &res, content_length(&res), info);
    kumo__cloud_res_free(&res);
    return rc;
}

static int s3_del(kumo__blob *b, const char *key)
{
    s3 *s = (s3 *)b;
    kumo__cloud_res res;
    char url[URL_MAX];
    int rc = object_url(s, key, NULL, url, sizeof(url));
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    rc = s3_send(s, "HEAD", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    kumo__cloud_res_free(&res);
    if (rc == 0)
        rc = s3_send(s, "DELETE", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    kumo__cloud_res_free(&res);
    return rc;
}

/* A listed key: percent-decoded (encoding-type=url), the store's prefix
 * removed; NULL when malformed or outside the prefix. */
static char *listed_key(s3 *s, kumo__arena *a, const char *enc)
{
    size_t n = strlen(enc), plen = strlen(s->prefix);
    char *k = kumo__percent_decode(a, enc, n, 1);
    if (k == NULL || strncmp(k, s->prefix, plen) != 0)
        return NULL;
    return k + plen;
}

static int s3_list(kumo__blob *b, kumo__arena *a, const char *prefix, const char *cursor, size_t limit,
                   kumo_blob_page *out)
{
    s3 *s = (s3 *)b;
    kumo__cloud_res res;
    char *url = malloc(URL_MAX * 3), *full = malloc(URL_MAX), *enc_p = malloc(URL_MAX * 3),
         *enc_c = malloc(URL_MAX * 3);
    int rc = KUMO_ENOMEM;
    memset(&res, 0, sizeof(res));
    kumo_blob_info *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (!url || !full || !enc_p || !enc_c || !items)
        goto out;
    rc = KUMO_ETOOBIG;
    snprintf(full, URL_MAX, "%s%s", s->prefix, prefix);
    if (kumo__aws_uri_encode(full, strlen(full), 0, enc_p, URL_MAX * 3) == 0 && *full)
        goto out;
    if (!*full)
        *enc_p = '\0';
    *enc_c = '\0';
    if (cursor) {
        snprintf(full, URL_MAX, "%s%s", s->prefix, cursor);
        if (kumo__aws_uri_encode(full, strlen(full), 0, enc_c, URL_MAX * 3) == 0)
            goto out;
    }
    /* Parameters in SigV4's canonical (sorted) order. */
    snprintf(url, URL_MAX * 3, "%s/?encoding-type=url&list-type=2&max-keys=%zu&prefix=%s%s%s", s->bucket_url, limit,
             enc_p, cursor ? "&start-after=" : "", enc_c);
    pthread_mutex_lock(&s->lock);
    rc = s3_send(s, "GET", url, NULL, NULL, 0, LIST_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        goto out;
    size_t count = 0;
    const char *p = res.body ? res.body : "", *end;
    char *block;
    while (count < limit && (block = kumo__aws_xml_text(p, "Contents", &end)) != NULL) {
        p = end;
        char *k = kumo__aws_xml_text(block, "Key", NULL), *size = kumo__aws_xml_text(block, "Size", NULL);
        char *etag = kumo__aws_xml_text(block, "ETag", NULL), *lm = kumo__aws_xml_text(block, "LastModified", NULL);
        kumo_blob_info *it = &items[count];
        memset(it, 0, sizeof(*it));
        it->key = k ? listed_key(s, a, k) : NULL;
        it->size = size ? strtoull(size, NULL, 10) : 0;
        it->etag = etag ? arena_str(a, etag) : NULL;
        it->modified_ms = lm ? iso_ms(lm) : 0;
        int ok = it->key != NULL && it->etag != NULL;
        free(block);
        free(k);
        free(size);
        free(etag);
        free(lm);
        if (!ok) {
            snprintf(b->error, sizeof(b->error), "s3: ListObjectsV2 returned an item without a key under '%s'",
                     s->prefix);
            rc = KUMO_EIO;
            goto out;
        }
        count++;
    }
    /* S3 lists no content types: one HEAD per item (an object deleted in
     * between keeps the default). */
    for (size_t i = 0; i < count; i++) {
        kumo__cloud_res h;
        char ct[256];
        if ((rc = object_url(s, items[i].key, NULL, full, URL_MAX)) != 0)
            goto out;
        pthread_mutex_lock(&s->lock);
        rc = s3_send(s, "HEAD", full, NULL, NULL, 0, SMALL_BODY_MAX, &h);
        pthread_mutex_unlock(&s->lock);
        const char *type = rc == 0 ? kumo__cloud_res_header(&h, "Content-Type", ct, sizeof(ct)) : NULL;
        kumo__cloud_res_free(&h);
        if (rc != 0 && rc != KUMO_ENOTFOUND)
            goto out;
        items[i].content_type = arena_str(a, type ? type : DEFAULT_TYPE);
        if (items[i].content_type == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    char *trunc = kumo__aws_xml_text(res.body ? res.body : "", "IsTruncated", NULL);
    int more = trunc && strcmp(trunc, "true") == 0 && count > 0;
    free(trunc);
    out->items = items;
    out->count = count;
    out->next = more ? items[count - 1].key : NULL;
    rc = 0;
out:
    kumo__cloud_res_free(&res);
    free(url);
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
    for (size_t i = 0; i < w->nparts; i++)
        free(w->etags[i]);
    free(w->etags);
    free(w->url);
    free(w->type);
    free(w->buf);
    free(w->upload_id);
    free(w->etag);
    free(w->chunk);
    free(w);
}

static int s3_writer_open(kumo__blob *b, const char *key, const char *content_type, kumo__blob_stream **out)
{
    s3 *s = (s3 *)b;
    char url[URL_MAX];
    int rc = object_url(s, key, NULL, url, sizeof(url));
    if (rc != 0)
        return rc;
    kumo__blob_stream *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return KUMO_ENOMEM;
    w->s = s;
    w->url = strdup(url);
    w->type = strdup(content_type ? content_type : DEFAULT_TYPE);
    w->buf = malloc(PART_SIZE);
    w->etags = calloc(PARTS_MAX, sizeof(*w->etags));
    if (!w->url || !w->type || !w->buf || !w->etags) {
        stream_free(w);
        return KUMO_ENOMEM;
    }
    *out = w;
    return 0;
}

/* Sends the buffer as the next part (starting the upload first). Caller
 * holds the lock. */
/* An upload id percent-encoded for a query string (malloc'd), or NULL out
 * of memory. */
static char *upload_id_escaped(const char *id)
{
    size_t len = strlen(id), size = 3 * len + 1;
    char *out = malloc(size);
    if (out && kumo__aws_uri_encode(id, len, 0, out, size) == 0 && len > 0) {
        free(out);
        out = NULL;
    }
    if (out && len == 0)
        *out = '\0';
    return out;
}

static int send_part(kumo__blob_stream *w)
{
    s3 *s = w->s;
    kumo__cloud_res res;
    char url[URL_MAX + 256], ct[300], etag[256];
    int rc;
    if (w->nparts == PARTS_MAX) {
        snprintf(s->base.error, sizeof(s->base.error), "s3: an object has at most %d parts of %zu MiB", PARTS_MAX,
                 PART_SIZE >> 20);
        return KUMO_ETOOBIG;
    }
    if (w->upload_id == NULL) {
        snprintf(url, sizeof(url), "%s?uploads", w->url);
        snprintf(ct, sizeof(ct), "Content-Type: %s", w->type);
        const char *headers[] = {ct, NULL};
        rc = s3_send(s, "POST", url, headers, "", 0, SMALL_BODY_MAX, &res);
        if (rc == 0 && (w->upload_id = kumo__aws_xml_text(res.body ? res.body : "", "UploadId", NULL)) == NULL) {
            snprintf(s->base.error, sizeof(s->base.error), "s3: CreateMultipartUpload answered no UploadId");
            rc = KUMO_EIO;
        }
        kumo__cloud_res_free(&res);
        if (rc != 0)
            return rc;
    }
    char *id = upload_id_escaped(w->upload_id);
    if (id == NULL)
        return KUMO_ENOMEM;
    snprintf(url, sizeof(url), "%s?partNumber=%zu&uploadId=%s", w->url, w->nparts + 1, id);
    free(id);
    const char *headers[] = {"Content-Type: application/octet-stream", NULL};
    rc = s3_send(s, "PUT", url, headers, w->buf, w->used, SMALL_BODY_MAX, &res);
    if (rc == 0) {
        if (kumo__cloud_res_header(&res, "ETag", etag, sizeof(etag)) == NULL) {
            snprintf(s->base.error, sizeof(s->base.error), "s3: UploadPart answered no ETag");
            rc = KUMO_EIO;
        } else if ((w->etags[w->nparts] = strdup(etag)) == NULL) {
            rc = KUMO_ENOMEM;
        } else {
            w->nparts++;
            w->used = 0;
        }
    }
    kumo__cloud_res_free(&res);
    return rc;
}

static int s3_write(kumo__blob_stream *w, const void *data, size_t len)
{
    const char *p = data;
    int rc = 0;
    while (len > 0 && rc == 0) {
        size_t n = PART_SIZE - w->used < len ? PART_SIZE - w->used : len;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
        if (w->used == PART_SIZE && len > 0) {
            /* Full and more is coming: send it. (A full buffer at commit may
             * still go as one PUT.) */
            pthread_mutex_lock(&w->s->lock);
            rc = send_part(w);
            pthread_mutex_unlock(&w->s->lock);
        }
    }
    return rc;
}

/* Caller holds the lock. */
static void abort_upload(kumo__blob_stream *w)
{
    kumo__cloud_res res;
    char url[URL_MAX + 256];
    if (w->upload_id == NULL)
        return;
    char *id = upload_id_escaped(w->upload_id);
    if (id == NULL)
        return;
    snprintf(url, sizeof(url), "%s?uploadId=%s", w->url, id);
    free(id);
    /* Best effort: its own message must not hide the failure that led here. */
    char keep[sizeof(w->s->base.error)];
    memcpy(keep, w->s->base.error, sizeof(keep));
    kumo__aws_send(w->s->aws, "DELETE", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    memcpy(w->s->base.error, keep, sizeof(keep));
    kumo__cloud_res_free(&res);
}

static int s3_commit(kumo__blob_stream *w)
{
    s3 *s = w->s;
    kumo__cloud_res res;
    char url[URL_MAX + 256], ct[300];
    char *xml = NULL;
    int rc;
    memset(&res, 0, sizeof(res));
    pthread_mutex_lock(&s->lock);
    if (w->upload_id == NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", w->type);
        const char *headers[] = {ct, NULL};
        rc = s3_send(s, "PUT", w->url, headers, w->buf, w->used, SMALL_BODY_MAX, &res);
        goto out;
    }
    if (w->used > 0 && (rc = send_part(w)) != 0)
        goto out;
    size_t cap = 128 + w->nparts * 128, off = 0;
    for (size_t i = 0; i < w->nparts; i++)
        cap += strlen(w->etags[i]);
    xml = malloc(cap);
    if (xml == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    off += (size_t)snprintf(xml + off, cap - off, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < w->nparts; i++)
        off += (size_t)snprintf(xml + off, cap - off, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                                w->etags[i]);
    off += (size_t)snprintf(xml + off, cap - off, "</CompleteMultipartUpload>");
    char *id = upload_id_escaped(w->upload_id);
    if (id == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    snprintf(url, sizeof(url), "%s?uploadId=%s", w->url, id);
    free(id);
    const char *headers[] = {"Content-Type: application/xml", NULL};
    rc = s3_send(s, "POST", url, headers, xml, off, SMALL_BODY_MAX, &res);
    /* S3 may answer 200 and put the error in the body. */
    if (rc == 0 && res.body && strstr(res.body, "<Error>")) {
        char *code = kumo__aws_xml_text(res.body, "Code", NULL);
        snprintf(s->base.error, sizeof(s->base.error), "s3: CompleteMultipartUpload: %s", code ? code : "error");
        free(code);
        rc = KUMO_EIO;
    }
out:
    if (rc != 0)
        abort_upload(w);
    pthread_mutex_unlock(&s->lock);
    kumo__cloud_res_free(&res);
    free(xml);
    stream_free(w);
    return rc;
}

static void s3_abort(kumo__blob_stream *w)
{
    pthread_mutex_lock(&w->s->lock);
    abort_upload(w);
    pthread_mutex_unlock(&w->s->lock);
    stream_free(w);
}

static int s3_reader_open(kumo__blob *b, kumo__arena *a, const char *key, kumo__blob_stream **out, kumo_blob_info *info)
{
    s3 *s = (s3 *)b;
    kumo__cloud_res res;
    char url[URL_MAX], etag[256];
    int rc = object_url(s, key, NULL, url, sizeof(url));
    if (rc != 0)
        return rc;
    kumo__blob_stream *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return KUMO_ENOMEM;
    r->s = s;
    pthread_mutex_lock(&s->lock);
    rc = s3_send(s, "HEAD", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        goto out;
    r->size = content_length(&res);
    r->url = strdup(url);
    r->etag = strdup(kumo__cloud_res_header(&res, "ETag", etag, sizeof(etag)) ? etag : "");
    if (r->url == NULL || r->etag == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    if (info && (rc = fill_info(a, key, &res, r->size, info)) != 0)
        goto out;
    *out = r;
out:
    kumo__cloud_res_free(&res);
    if (rc != 0)
        stream_free(r);
    return rc;
}

/* Fetches the next CHUNK_SIZE bytes into r->chunk. */
static int fetch_chunk(kumo__blob_stream *r)
{
    s3 *s = r->s;
    kumo__cloud_res res;
    char range[96], match[300];
    uint64_t last = r->offset + CHUNK_SIZE < r->size ? r->offset + CHUNK_SIZE - 1 : r->size - 1;
    snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)r->offset, (unsigned long long)last);
    snprintf(match, sizeof(match), "If-Match: %s", r->etag);
    const char *headers[] = {range, *r->etag ? match : NULL, NULL};
    pthread_mutex_lock(&s->lock);
    int rc = s3_send(s, "GET", r->url, headers, NULL, 0, CHUNK_SIZE, &res);
    pthread_mutex_unlock(&s->lock);
    if (rc == KUMO_ECONFLICT || rc == KUMO_ENOTFOUND)
        snprintf(s->base.error, sizeof(s->base.error), "s3: the object changed or went away while it was read");
    if (rc == 0 && res.len != last - r->offset + 1) {
        snprintf(s->base.error, sizeof(s->base.error), "s3: a ranged GET answered %zu bytes, expected %llu", res.len,
                 (unsigned long long)(last - r->offset + 1));
        rc = KUMO_EIO;
    }
    if (rc == 0) {
        free(r->chunk);
        r->chunk = res.body;
        r->chunk_len = res.len;
        r->chunk_pos = 0;
        res.body = NULL;
    }
    kumo__cloud_res_free(&res);
    return rc == KUMO_ENOTFOUND ? KUMO_ECONFLICT : rc;
}

static int s3_read(kumo__blob_stream *r, void *buf, size_t cap, size_t *got)
{
    *got = 0;
    if (r->chunk_pos == r->chunk_len) {
        if (r->offset >= r->size || cap == 0)
            return 0;
        int rc = fetch_chunk(r);
        if (rc != 0)
            return rc;
    }
    size_t n = r->chunk_len - r->chunk_pos < cap ? r->chunk_len - r->chunk_pos : cap;
    memcpy(buf, r->chunk + r->chunk_pos, n);
    r->chunk_pos += n;
    r->offset += n;
    *got = n;
    return 0;
}

static void s3_reader_close(kumo__blob_stream *r)
{
    stream_free(r);
}

const kumo__blob_driver kumo__blob_s3_driver = {
    .common = {.version = KUMO__BLOB_DRIVER_VERSION, .scheme = "s3", .open = s3_open, .close = s3_close},
    .put = s3_put,
    .get = s3_get,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .writer_open = s3_writer_open,
    .write = s3_write,
    .commit = s3_commit,
    .abort = s3_abort,
    .reader_open = s3_reader_open,
    .read = s3_read,
    .reader_close = s3_reader_close,
};
