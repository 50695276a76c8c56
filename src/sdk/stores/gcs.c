/*
 * gcs.c: the blob driver for Cloud Storage, `gs://BUCKET[/PREFIX]?
 * project=P&endpoint=URL`, over gcp.c (libcurl, the JSON API).
 *
 * The object KEY of a store is PREFIX/KEY in BUCKET (PREFIX gets a trailing
 * '/' when it lacks one, so a bucket may hold many stores). The bucket is
 * looked up on first use and created (in the project) when it is missing,
 * and again when a call finds it gone, that call then retried once. The
 * Firebase storage emulator makes a bucket on any request that names it.
 *
 * Whole objects: a put is one media upload (uploadType=media, the content
 * type as Content-Type); a get reads the object's metadata, then its bytes
 * with alt=media pinned to that generation; a head is the metadata; a
 * delete answers 404 when there was nothing. The etag kumo gives is the
 * object's generation, which every write changes; modified_ms is `updated`.
 *
 * Listing asks for names with the prefix from startOffset = the cursor
 * (the last key of the previous page, as with every driver), skipping the
 * cursor itself, and follows nextPageToken while a page is short. The
 * Firebase emulator ignores startOffset (it takes only its own pageToken),
 * so the skipping here is what makes it correct there.
 *
 * Streaming never holds the object in memory: a writer spools to an
 * unlinked temporary file ($TMPDIR, else /tmp); commit opens a resumable
 * upload session and sends the file in one PUT (nothing is visible before
 * that PUT ends; abort drops the file and never opens a session). The
 * Firebase emulator finalizes a resumable upload on its first PUT, so the
 * file is not sent in chunks. A reader reads the metadata, then fetches
 * CHUNK_SIZE ranges of that generation: an object replaced while it is
 * read fails the read with KUMO_ECONFLICT rather than splicing two.
 */
#include "sdk/sdk.h"
#include "sdk/stores/gcp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_SIZE ((size_t)1 << 20)
#define WHOLE_GET_MAX ((size_t)256 << 20) /* larger: use a reader */
#define SMALL_BODY_MAX ((size_t)1 << 20)
#define LIST_BODY_MAX ((size_t)8 << 20)
#define LIST_PAGES_MAX 1000
#define UPLOAD_TIMEOUT_MS (10L * 60 * 1000)
#define URL_MAX (KUMO_BLOB_KEY_MAX * 6 + 1024)

static const char *const known[] = {"project", "endpoint", NULL};

typedef struct gcs {
    kumo__blob base;
    pthread_mutex_t lock; /* guards g and ready */
    kumo__gcp *g;
    char *bucket;
    char *prefix; /* "" or ending in '/' */
    int ready;    /* the bucket is known to exist */
} gcs;

struct kumo__blob_stream {
    gcs *s;
    char *name; /* the object's full name */
    /* writer */
    char *type;
    FILE *spool;
    uint64_t written;
    /* reader */
    char *generation;
    uint64_t size, offset;
    char *chunk;
    size_t clen, cpos;
};

/* ---- URLs and the bucket -------------------------------------------------- */

/* BASE/storage/v1/b/BUCKET/o/NAME?QUERY (name, query may be NULL) into url. */
static int object_url(gcs *s, const char *name, const char *query, char *url)
{
    char b[256], n[KUMO_BLOB_KEY_MAX * 3 + 512];
    if (kumo__gcp_pct(s->bucket, strlen(s->bucket), b, sizeof(b)) == 0 ||
        (name && kumo__gcp_pct(name, strlen(name), n, sizeof(n)) == 0))
        return KUMO_ETOOBIG;
    snprintf(url, URL_MAX, "%s/storage/v1/b/%s/o%s%s%s%s", kumo__gcp_base(s->g), b, name ? "/" : "", name ? n : "",
             query ? "?" : "", query ? query : "");
    return 0;
}

/* Makes sure the bucket exists (creating it). Lock held. */
static int ensure_bucket(gcs *s)
{
    char url[URL_MAX], b[256];
    if (s->ready)
        return 0;
    kumo__gcp_pct(s->bucket, strlen(s->bucket), b, sizeof(b));
    snprintf(url, sizeof(url), "%s/storage/v1/b/%s", kumo__gcp_base(s->g), b);
    kumo__cloud_res res;
    int rc = kumo__gcp_send(s->g, "GET", url, NULL, NULL, 0, SMALL_BODY_MAX, 0, &res);
    long status = res.status;
    kumo__cloud_res_free(&res);
    if (rc != 0 && (status == 501 || status == 403)) {
        /* An emulator without the bucket calls (Firebase's) makes buckets
         * on first use; a role on objects only (storage.objectUser) may
         * not read the bucket: go on, the object call tells. */
        rc = 0;
    } else if (rc == KUMO_ENOTFOUND) {
        const char *project = kumo__gcp_project(s->g);
        if (project == NULL)
            return KUMO_EINVAL;
        char p[256];
        kumo__gcp_pct(project, strlen(project), p, sizeof(p));
        snprintf(url, sizeof(url), "%s/storage/v1/b?project=%s", kumo__gcp_base(s->g), p);
        char *body = NULL;
        json_t *req = json_pack("{s:s}", "name", s->bucket);
        if (req == NULL || (body = json_dumps(req, JSON_COMPACT)) == NULL) {
            json_decref(req);
            return KUMO_ENOMEM;
        }
        json_decref(req);
        const char *h[] = {"Content-Type: application/json", NULL};
        rc = kumo__gcp_send(s->g, "POST", url, h, body, strlen(body), SMALL_BODY_MAX, 0, &res);
        status = res.status;
        kumo__cloud_res_free(&res);
        free(body);
        if (rc == KUMO_ECONFLICT || (rc != 0 && status == 501)) /* made meanwhile; an emulator making them itself */
            rc = 0;
    }
    if (rc == 0) {
        s->ready = 1;
        *s->base.error = '\0';
    }
    return rc;
}

/* Whether the last 404 was about the bucket rather than an object. */
static int bucket_gone(gcs *s)
{
    return strstr(s->base.error, "bucket does not exist") != NULL; /* GCS: "The specified bucket does not exist." */
}

/* A call on an object: the bucket made first when needed, and made again
 * (then the call retried once) when the call finds it gone. Lock held. */
static int call(gcs *s, const char *method, const char *url, const char *const *headers, const void *body, size_t len,
                size_t max_body, kumo__cloud_res *res)
{
    memset(res, 0, sizeof(*res));
    int rc = ensure_bucket(s);
    if (rc != 0)
        return rc;
    rc = kumo__gcp_send(s->g, method, url, headers, body, len, max_body, 0, res);
    if (rc == KUMO_ENOTFOUND && bucket_gone(s)) {
        s->ready = 0;
        kumo__cloud_res_free(res);
        if ((rc = ensure_bucket(s)) == 0)
            rc = kumo__gcp_send(s->g, method, url, headers, body, len, max_body, 0, res);
    }
    return rc;
}

/* The object's full name: PREFIX + key, malloc'd. */
static char *full_name(gcs *s, const char *key)
{
    char *n = NULL;
    if (asprintf(&n, "%s%s", s->prefix, key) < 0)
        return NULL;
    return n;
}

/* Fills info from an object resource (strings into a). */
static int fill_info(gcs *s, kumo__arena *a, json_t *o, kumo_blob_info *info)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *size = json_string_value(json_object_get(o, "size"));
    const char *type = json_string_value(json_object_get(o, "contentType"));
    const char *gen = json_string_value(json_object_get(o, "generation"));
    const char *upd = json_string_value(json_object_get(o, "updated"));
    size_t plen = strlen(s->prefix);
    if (name == NULL || strlen(name) < plen || gen == NULL) {
        snprintf(s->base.error, sizeof(s->base.error), "storage: an object resource without name or generation");
        return KUMO_EIO;
    }
    memset(info, 0, sizeof(*info));
    info->key = kumo__arena_strndup(a, name + plen, strlen(name + plen));
    info->content_type = kumo__arena_strndup(a, type ? type : "application/octet-stream",
                                             strlen(type ? type : "application/octet-stream"));
    info->etag = kumo__arena_strndup(a, gen, strlen(gen));
    if (info->key == NULL || info->content_type == NULL || info->etag == NULL)
        return KUMO_ENOMEM;
    info->size = size ? strtoull(size, NULL, 10) : 0;
    info->modified_ms = (int64_t)(kumo__gcp_time_parse(upd) / 1000000ull);
    return 0;
}

/* The object's metadata (lock held): 0 with *o, or an error. */
static int metadata(gcs *s, const char *name, json_t **o)
{
    char url[URL_MAX];
    kumo__cloud_res res;
    *o = NULL;
    int rc = object_url(s, name, NULL, url);
    if (rc != 0)
        return rc;
    rc = call(s, "GET", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
    if (rc == 0 && (*o = json_loadb(res.body ? res.body : "", res.len, 0, NULL)) == NULL) {
        snprintf(s->base.error, sizeof(s->base.error), "storage: object metadata that is not JSON");
        rc = KUMO_EIO;
    }
    kumo__cloud_res_free(&res);
    return rc;
}

/* ---- the driver ---------------------------------------------------------- */

static void gcs_close(kumo__store *b)
{
    gcs *s = (gcs *)b;
    if (s == NULL)
        return;
    kumo__gcp_free(s->g);
    free(s->bucket);
    free(s->prefix);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int gcs_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__gcp_url u;
    (void)name;
    *out = NULL;
    int rc = kumo__gcp_url_parse(url, "gs", known, "STORAGE_EMULATOR_HOST", &u, e);
    if (rc != 0)
        return rc;
    gcs *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&s->lock, NULL);
    size_t plen = strlen(u.path);
    if (asprintf(&s->prefix, "%s%s", u.path, plen && u.path[plen - 1] != '/' ? "/" : "") < 0) {
        s->prefix = NULL;
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    s->bucket = u.resource;
    u.resource = NULL;
    rc = kumo__gcp_new("storage", &u, "https://storage.googleapis.com", s->base.error, sizeof(s->base.error), &s->g, e);
    if (rc != 0)
        goto out;
    *out = &s->base.store;
out:
    if (rc != 0)
        gcs_close(s ? &s->base.store : NULL);
    kumo__gcp_url_free(&u);
    return rc;
}

static int gcs_put(kumo__blob *b, const char *key, const void *data, size_t len, const char *content_type)
{
    gcs *s = (gcs *)b;
    char url[URL_MAX], q[KUMO_BLOB_KEY_MAX * 3 + 512], ct[300];
    kumo__cloud_res res;
    char *name = full_name(s, key);
    if (name == NULL)
        return KUMO_ENOMEM;
    memcpy(q, "uploadType=media&name=", 22);
    if (kumo__gcp_pct(name, strlen(name), q + 22, sizeof(q) - 22) == 0) {
        free(name);
        return KUMO_ETOOBIG;
    }
    free(name);
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/octet-stream");
    const char *h[] = {ct, NULL};
    pthread_mutex_lock(&s->lock);
    int rc = ensure_bucket(s);
    if (rc == 0) {
        snprintf(url, sizeof(url), "%s/upload/storage/v1/b/", kumo__gcp_base(s->g));
        size_t ul = strlen(url);
        if (kumo__gcp_pct(s->bucket, strlen(s->bucket), url + ul, sizeof(url) - ul) == 0) {
            rc = KUMO_ETOOBIG;
        } else {
            ul = strlen(url);
            snprintf(url + ul, sizeof(url) - ul, "/o?%s", q);
            rc = call(s, "POST", url, h, data, len, SMALL_BODY_MAX, &res);
            kumo__cloud_res_free(&res);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int gcs_head(kumo__blob *b, kumo__arena *a, const char *key, kumo_blob_info *info)
{
    gcs *s = (gcs *)b;
    json_t *o = NULL;
    char *name = full_name(s, key);
    if (name == NULL)
        return KUMO_ENOMEM;
    pthread_mutex_lock(&s->lock);
    int rc = metadata(s, name, &o);
    pthread_mutex_unlock(&s->lock);
    free(name);
    if (rc == 0)
        rc = fill_info(s, a, o, info);
    json_decref(o);
    return rc;
}

static int gcs_get(kumo__blob *b, kumo__arena *a, const char *key, const void **data, size_t *len, kumo_blob_info *info)
{
    gcs *s = (gcs *)b;
    json_t *o = NULL;
    kumo__cloud_res res = {0};
    char url[URL_MAX], q[64];
    char *name = full_name(s, key);
    if (name == NULL)
        return KUMO_ENOMEM;
    pthread_mutex_lock(&s->lock);
    int rc = metadata(s, name, &o);
    if (rc == 0)
        rc = fill_info(s, a, o, info);
    if (rc == 0 && info->size > WHOLE_GET_MAX) {
        snprintf(s->base.error, sizeof(s->base.error),
                 "storage: the object is over %zu MiB; read it with kumo_blob_reader_open", WHOLE_GET_MAX >> 20);
        rc = KUMO_ETOOBIG;
    }
    if (rc == 0) {
        snprintf(q, sizeof(q), "alt=media&generation=%s", info->etag);
        if ((rc = object_url(s, name, q, url)) == 0)
            rc = call(s, "GET", url, NULL, NULL, 0, WHOLE_GET_MAX, &res);
        if (rc == KUMO_ENOTFOUND) /* replaced or deleted since the metadata */
            rc = KUMO_ECONFLICT;
    }
    pthread_mutex_unlock(&s->lock);
    free(name);
    json_decref(o);
    if (rc == 0) {
        char *d = kumo__arena_alloc(a, res.len + 1);
        if (d == NULL) {
            rc = KUMO_ENOMEM;
        } else {
            if (res.len)
                memcpy(d, res.body, res.len);
            d[res.len] = '\0';
            *data = d;
            *len = res.len;
            info->size = res.len;
        }
    }
    kumo__cloud_res_free(&res);
    return rc;
}

static int gcs_del(kumo__blob *b, const char *key)
{
    gcs *s = (gcs *)b;
    char url[URL_MAX];
    kumo__cloud_res res;
    char *name = full_name(s, key);
    if (name == NULL)
        return KUMO_ENOMEM;
    pthread_mutex_lock(&s->lock);
    int rc = object_url(s, name, NULL, url);
    if (rc == 0) {
        rc = call(s, "DELETE", url, NULL, NULL, 0, SMALL_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
    }
    pthread_mutex_unlock(&s->lock);
    free(name);
    return rc;
}

static int gcs_list(kumo__blob *b, kumo__arena *a, const char *prefix, const char *cursor, size_t limit,
                    kumo_blob_page *out)
{
    gcs *s = (gcs *)b;
    size_t count = 0;
    int rc = 0, more = 0;
    char *token = NULL, *full_prefix = full_name(s, prefix), *full_cursor = cursor ? full_name(s, cursor) : NULL;
    char *q = malloc(URL_MAX), url[URL_MAX];
    kumo_blob_info *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (items == NULL || full_prefix == NULL || (cursor && full_cursor == NULL) || q == NULL) {
        rc = KUMO_ENOMEM;
        goto done;
    }
    pthread_mutex_lock(&s->lock);
    for (int pages = 0; !more && pages < LIST_PAGES_MAX; pages++) {
        size_t w = (size_t)snprintf(q, URL_MAX, "maxResults=%zu&prefix=", limit + 1 - count);
        if (kumo__gcp_pct(full_prefix, strlen(full_prefix), q + w, URL_MAX - w) == 0) {
            rc = KUMO_ETOOBIG;
            break;
        }
        if (full_cursor) {
            w = strlen(q);
            w += (size_t)snprintf(q + w, URL_MAX - w, "&startOffset=");
            kumo__gcp_pct(full_cursor, strlen(full_cursor), q + w, URL_MAX - w);
        }
        if (token) {
            w = strlen(q);
            w += (size_t)snprintf(q + w, URL_MAX - w, "&pageToken=");
            kumo__gcp_pct(token, strlen(token), q + w, URL_MAX - w);
        }
        kumo__cloud_res res;
        if ((rc = object_url(s, NULL, q, url)) != 0)
            break;
        rc = call(s, "GET", url, NULL, NULL, 0, LIST_BODY_MAX, &res);
        json_t *j = rc == 0 ? json_loadb(res.body ? res.body : "", res.len, 0, NULL) : NULL;
        kumo__cloud_res_free(&res);
        if (rc != 0)
            break;
        if (j == NULL) {
            snprintf(s->base.error, sizeof(s->base.error), "storage: a listing that is not JSON");
            rc = KUMO_EIO;
            break;
        }
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(j, "items"), i, o)
        {
            const char *n = json_string_value(json_object_get(o, "name"));
            if (n == NULL || (full_cursor && strcmp(n, full_cursor) <= 0))
                continue; /* the cursor itself, or before it (an emulator without startOffset) */
            if (count == limit) {
                more = 1;
                break;
            }
            if ((rc = fill_info(s, a, o, &items[count])) != 0)
                break;
            count++;
        }
        const char *next = json_string_value(json_object_get(j, "nextPageToken"));
        free(token);
        token = next && *next ? strdup(next) : NULL;
        json_decref(j);
        if (rc != 0 || token == NULL)
            break;
    }
    pthread_mutex_unlock(&s->lock);
done:
    free(token);
    free(q);
    free(full_prefix);
    free(full_cursor);
    if (rc != 0)
        return rc;
    out->items = items;
    out->count = count;
    out->next = more ? items[count - 1].key : NULL;
    return 0;
}

/* ---- streams -------------------------------------------------------------- */

static void stream_free(kumo__blob_stream *st)
{
    if (st == NULL)
        return;
    if (st->spool)
        fclose(st->spool);
    free(st->name);
    free(st->type);
    free(st->generation);
    free(st->chunk);
    free(st);
}

/* An unlinked temporary file, open for reading and writing. */
static FILE *spool_file(void)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/kumo-gcs-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+");
    if (f == NULL)
        close(fd);
    return f;
}

static int gcs_writer_open(kumo__blob *b, const char *key, const char *content_type, kumo__blob_stream **out)
{
    gcs *s = (gcs *)b;
    kumo__blob_stream *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (st == NULL)
        return KUMO_ENOMEM;
    st->s = s;
    st->name = full_name(s, key);
    st->type = strdup(content_type ? content_type : "application/octet-stream");
    if (st->name == NULL || st->type == NULL) {
        stream_free(st);
        return KUMO_ENOMEM;
    }
    if ((st->spool = spool_file()) == NULL) {
        snprintf(b->error, sizeof(b->error), "storage: cannot make a spool file for the upload in TMPDIR: %m");
        stream_free(st);
        return KUMO_EIO;
    }
    *out = st;
    return 0;
}

static int gcs_write(kumo__blob_stream *st, const void *data, size_t len)
{
    if (len && fwrite(data, 1, len, st->spool) != len) {
        snprintf(st->s->base.error, sizeof(st->s->base.error), "storage: cannot write the upload's spool file: %m");
        return KUMO_EIO;
    }
    st->written += len;
    return 0;
}

static int gcs_commit(kumo__blob_stream *st)
{
    gcs *s = st->s;
    char url[URL_MAX], q[KUMO_BLOB_KEY_MAX * 3 + 512], ct[300], loc[URL_MAX];
    kumo__cloud_res res = {0};
    int rc = 0;
    if (fflush(st->spool) != 0) {
        snprintf(s->base.error, sizeof(s->base.error), "storage: cannot write the upload's spool file: %m");
        stream_free(st);
        return KUMO_EIO;
    }
    memcpy(q, "uploadType=resumable&name=", 26);
    if (kumo__gcp_pct(st->name, strlen(st->name), q + 26, sizeof(q) - 26) == 0) {
        stream_free(st);
        return KUMO_ETOOBIG;
    }
    snprintf(ct, sizeof(ct), "X-Upload-Content-Type: %s", st->type);
    pthread_mutex_lock(&s->lock);
    if ((rc = ensure_bucket(s)) != 0)
        goto out;
    snprintf(url, sizeof(url), "%s/upload/storage/v1/b/", kumo__gcp_base(s->g));
    size_t ul = strlen(url);
    if (kumo__gcp_pct(s->bucket, strlen(s->bucket), url + ul, sizeof(url) - ul) == 0) {
        rc = KUMO_ETOOBIG;
        goto out;
    }
    ul = strlen(url);
    snprintf(url + ul, sizeof(url) - ul, "/o?%s", q);
    json_t *meta = json_pack("{s:s}", "contentType", st->type);
    char *body = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (body == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    const char *h[] = {"Content-Type: application/json; charset=UTF-8", ct, NULL};
    rc = call(s, "POST", url, h, body, strlen(body), SMALL_BODY_MAX, &res);
    free(body);
    if (rc == 0 && kumo__cloud_res_header(&res, "Location", loc, sizeof(loc)) == NULL) {
        snprintf(s->base.error, sizeof(s->base.error), "storage: the resumable upload answer has no Location");
        rc = KUMO_EIO;
    }
    kumo__cloud_res_free(&res);
    if (rc != 0)
        goto out;
    char type[300];
    snprintf(type, sizeof(type), "Content-Type: %s", st->type);
    const char *ph[] = {type, NULL};
    rc = kumo__gcp_send_file(s->g, "PUT", loc, ph, st->spool, st->written, SMALL_BODY_MAX, UPLOAD_TIMEOUT_MS, &res);
    kumo__cloud_res_free(&res);
out:
    pthread_mutex_unlock(&s->lock);
    stream_free(st);
    return rc;
}

static void gcs_abort(kumo__blob_stream *st)
{
    stream_free(st); /* no session was opened: nothing to cancel */
}

static int gcs_reader_open(kumo__blob *b, kumo__arena *a, const char *key, kumo__blob_stream **out,
                           kumo_blob_info *info)
{
    gcs *s = (gcs *)b;
    json_t *o = NULL;
    *out = NULL;
    kumo__blob_stream *st = calloc(1, sizeof(*st));
    if (st == NULL || (st->name = full_name(s, key)) == NULL) {
        stream_free(st);
        return KUMO_ENOMEM;
    }
    st->s = s;
    pthread_mutex_lock(&s->lock);
    int rc = metadata(s, st->name, &o);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        rc = fill_info(s, a, o, info);
    json_decref(o);
    if (rc == 0 && ((st->generation = strdup(info->etag)) == NULL || (st->chunk = malloc(CHUNK_SIZE)) == NULL))
        rc = KUMO_ENOMEM;
    if (rc != 0) {
        stream_free(st);
        return rc;
    }
    st->size = info->size;
    *out = st;
    return 0;
}

static int gcs_read(kumo__blob_stream *st, void *buf, size_t cap, size_t *got)
{
    gcs *s = st->s;
    *got = 0;
    if (st->cpos == st->clen) {
        if (st->offset >= st->size)
            return 0;
        char url[URL_MAX], q[96], range[96];
        kumo__cloud_res res = {0};
        uint64_t last = st->offset + CHUNK_SIZE - 1 < st->size - 1 ? st->offset + CHUNK_SIZE - 1 : st->size - 1;
        snprintf(q, sizeof(q), "alt=media&generation=%s", st->generation);
        snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)st->offset,
                 (unsigned long long)last);
        const char *h[] = {range, NULL};
        pthread_mutex_lock(&s->lock);
        int rc = object_url(s, st->name, q, url);
        if (rc == 0)
            rc = call(s, "GET", url, h, NULL, 0, CHUNK_SIZE + 1, &res);
        pthread_mutex_unlock(&s->lock);
        if (rc == 0 && res.len != last - st->offset + 1) {
            snprintf(s->base.error, sizeof(s->base.error), "storage: a range of %zu bytes where %llu were asked",
                     res.len, (unsigned long long)(last - st->offset + 1));
            rc = KUMO_EIO;
        }
        if (rc == KUMO_ENOTFOUND) {
            snprintf(s->base.error, sizeof(s->base.error), "storage: the object was replaced or deleted while read");
            rc = KUMO_ECONFLICT;
        }
        if (rc == 0) {
            memcpy(st->chunk, res.body, res.len);
            st->clen = res.len;
            st->cpos = 0;
            st->offset += res.len;
        }
        kumo__cloud_res_free(&res);
        if (rc != 0)
            return rc;
    }
    size_t n = st->clen - st->cpos < cap ? st->clen - st->cpos : cap;
    memcpy(buf, st->chunk + st->cpos, n);
    st->cpos += n;
    *got = n;
    return 0;
}

static void gcs_reader_close(kumo__blob_stream *st)
{
    stream_free(st);
}

const kumo__blob_driver kumo__blob_gcs_driver = {
    .common = {.version = KUMO__BLOB_DRIVER_VERSION, .scheme = "gs", .open = gcs_open, .close = gcs_close},
    .put = gcs_put,
    .get = gcs_get,
    .head = gcs_head,
    .del = gcs_del,
    .list = gcs_list,
    .writer_open = gcs_writer_open,
    .write = gcs_write,
    .commit = gcs_commit,
    .abort = gcs_abort,
    .reader_open = gcs_reader_open,
    .read = gcs_read,
    .reader_close = gcs_reader_close,
};
