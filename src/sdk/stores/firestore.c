/*
 * firestore.c: the kv driver for Cloud Firestore, `firestore://COLLECTION?
 * project=P&database=D&endpoint=URL`, over gcp.c (libcurl, REST v1).
 *
 * Layout: the collection holds one store; each key is one document
 *
 *   COLLECTION/ID   ID the key, readable (below)
 *     key     (bytes)      the key's bytes: what lists filter and order by,
 *                          since Firestore orders bytes as unsigned bytes,
 *                          kumo.h's order (document ids would not be)
 *     value   (string)     the value when it is UTF-8 text without NUL,
 *             (bytes)      else its bytes
 *     rev     (integer)    a random number, new at every put: Firestore
 *                          keeps updateTime when a write changes nothing
 *     expires (timestamp)  when a TTL was given: reads compare it (a
 *                          Firestore TTL policy on `expires` deletes the
 *                          document later, within a day or so)
 *
 * Document ids: a key's bytes are kept as they are when printable ASCII
 * or well-formed UTF-8, except '/' and '%', which become %2F and %25, as
 * does every other byte (%XX, upper-case hex); "." and ".." and ids of the
 * form __X__ (Firestore keeps those) escape their first character. An id
 * longer than Firestore's 1,500 bytes becomes "%%sha256-HEX" of the key
 * (never the result of the escaping, which writes '%' only before two hex
 * digits). So "users/42" is the document "users%2F42".
 *
 * Versions: the document's updateTime in nanoseconds since the epoch;
 * Firestore gives every write of a document a later one, so a key deleted
 * and written again never reuses a version. A CAS reads the document, checks
 * version and expiry, and writes with the precondition
 * currentDocument.updateTime (or exists=false for "absent"): a concurrent
 * write makes the precondition fail, KUMO_ECONFLICT (a transaction is not
 * needed, and would add aborts under contention). A delete likewise reads
 * first (an expired key is absent: KUMO_ENOTFOUND) and deletes with the
 * read updateTime.
 *
 * get_many is a batchGet per GET_MANY_BATCH keys (a repeated key asked once).
 * Listing is one runQuery on `key` >= lower and < upper (kumo__kv_list_range)
 * ordered by `key`; expired documents are skipped and the query repeated
 * past them. Nothing is created: Firestore makes collections on the first
 * write and its single-field index on `key` itself.
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"
#include "sdk/stores/gcp.h"

#include <bearssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define DOC_MAX (1024u * 1024)
#define DOC_OVERHEAD 256 /* names, key, expiry, the id */
#define ID_MAX 1500
#define ID_BUF (KUMO_KV_KEY_MAX * 3 + 16)
#define URL_MAX (ID_BUF * 3 + 512)
#define CAS_TRIES 8
#define GET_MANY_BATCH 100 /* documents in one batchGet */

typedef struct fs {
    kumo__kv base;
    pthread_mutex_t lock; /* guards g and docs */
    kumo__gcp *g;
    char *collection;
    char *database;
    char *docs; /* BASE/v1/projects/P/databases/D/documents, made on the first call */
} fs;

static const char *const known[] = {"project", "database", "endpoint", NULL};

/* ---- document ids ------------------------------------------------------ */

/* The length of the well-formed UTF-8 sequence at s (of at most n bytes)
 * when it is one of two to four bytes; else 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((len == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (len == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (len == 4 && s[0] == 0xf0 && s[1] < 0x90) || (len == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return len;
}

/* The document id of key (see the file comment) into out (ID_BUF bytes). */
static void doc_id(const char *key, size_t klen, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *k = (const unsigned char *)key;
    size_t w = 0;
    int dots = (klen == 1 && key[0] == '.') || (klen == 2 && key[0] == '.' && key[1] == '.');
    int reserved = klen >= 4 && key[0] == '_' && key[1] == '_' && key[klen - 1] == '_' && key[klen - 2] == '_';
    for (size_t i = 0; i < klen;) {
        size_t u = k[i] >= 0x80 ? utf8_len(k + i, klen - i) : 0;
        if (u) {
            memcpy(out + w, k + i, u);
            w += u;
            i += u;
            continue;
        }
        int plain = k[i] >= 0x20 && k[i] < 0x7f && k[i] != '/' && k[i] != '%' && !(i == 0 && (dots || reserved));
        if (plain) {
            out[w++] = (char)k[i];
        } else {
            out[w++] = '%';
            out[w++] = hex[k[i] >> 4];
            out[w++] = hex[k[i] & 15];
        }
        i++;
    }
    out[w] = '\0';
    if (w > ID_MAX) {
        unsigned char md[32];
        br_sha256_context sc;
        br_sha256_init(&sc);
        br_sha256_update(&sc, k, klen);
        br_sha256_out(&sc, md);
        w = (size_t)snprintf(out, ID_BUF, "%%%%sha256-");
        for (size_t i = 0; i < sizeof(md); i++) {
            out[w++] = hex[md[i] >> 4];
            out[w++] = hex[md[i] & 15];
        }
        out[w] = '\0';
    }
}

/* ---- calls --------------------------------------------------------------- */

/* The documents URL, made once the project is known; NULL with the
 * message set. Called with the lock held. */
static const char *docs_url(fs *f)
{
    if (f->docs)
        return f->docs;
    const char *project = kumo__gcp_project(f->g);
    if (project == NULL)
        return NULL;
    char db[256];
    if (kumo__gcp_pct(f->database, strlen(f->database), db, sizeof(db)) == 0) {
        kumo__gcp_msg(f->g, "firestore: the database name is too long");
        return NULL;
    }
    if (asprintf(&f->docs, "%s/v1/projects/%s/databases/%s/documents", kumo__gcp_base(f->g), project, db) < 0)
        f->docs = NULL;
    return f->docs;
}

/* The document's full name (projects/P/databases/D/documents/C/ID),
 * malloc'd; NULL with the message set. Ids travel only inside JSON bodies:
 * the emulator decodes a path's "%25" twice, so no id is put in a URL. */
static char *doc_name(fs *f, const char *key, size_t klen)
{
    char id[ID_BUF], *name = NULL;
    const char *project = kumo__gcp_project(f->g);
    if (project == NULL)
        return NULL;
    doc_id(key, klen, id);
    if (asprintf(&name, "projects/%s/databases/%s/documents/%s/%s", project, f->database, f->collection, id) < 0) {
        kumo__gcp_msg(f->g, "out of memory");
        return NULL;
    }
    return name;
}

static uint64_t now_ns(void)
{
    return kumo__aws_now_ms() * 1000000ull;
}

/* Whether a document's expires is at or before now_ns. */
static int expired(json_t *doc, uint64_t now)
{
    const char *x = json_string_value(
        json_object_get(json_object_get(json_object_get(doc, "fields"), "expires"), "timestampValue"));
    return x && kumo__gcp_time_parse(x) <= now;
}

static uint64_t version_of(json_t *doc)
{
    return kumo__gcp_time_parse(json_string_value(json_object_get(doc, "updateTime")));
}

/* Decodes a Firestore bytesValue (base64) into the arena. */
static int bytes_value(kumo__arena *a, const char *b64, char **out, size_t *len)
{
    size_t n = b64 ? strlen(b64) : 0;
    char *buf = kumo__arena_alloc(a, n / 4 * 3 + 4);
    if (buf == NULL)
        return KUMO_ENOMEM;
    long got = n ? kumo__aws_b64_decode(b64, n, (unsigned char *)buf) : 0;
    if (got < 0)
        return KUMO_EIO;
    buf[got] = '\0';
    *out = buf;
    *len = (size_t)got;
    return 0;
}

/* Fills it from a document; the value only when want_value. */
static int fill_item(kumo__arena *a, json_t *doc, int want_value, kumo_kv_item *it)
{
    json_t *fields = json_object_get(doc, "fields");
    char *k, *v = NULL;
    size_t klen, vlen = 0;
    int rc =
        bytes_value(a, json_string_value(json_object_get(json_object_get(fields, "key"), "bytesValue")), &k, &klen);
    if (rc != 0)
        return rc;
    if (want_value) {
        json_t *val = json_object_get(fields, "value");
        json_t *s = json_object_get(val, "stringValue");
        if (json_is_string(s)) {
            vlen = json_string_length(s);
            if ((v = kumo__arena_strndup(a, json_string_value(s), vlen)) == NULL)
                return KUMO_ENOMEM;
        } else if ((rc = bytes_value(a, json_string_value(json_object_get(val, "bytesValue")), &v, &vlen)) != 0) {
            return rc;
        }
    }
    it->key = k;
    it->value = v;
    it->len = vlen;
    it->version = version_of(doc);
    return 0;
}

/* Reads the document through batchGet: 0 with *doc, KUMO_ENOTFOUND, or an
 * error. Lock held. */
static int read_doc(fs *f, const char *key, size_t klen, json_t **doc)
{
    char url[URL_MAX];
    json_t *resp = NULL;
    *doc = NULL;
    const char *docs = docs_url(f);
    char *name = docs ? doc_name(f, key, klen) : NULL;
    if (name == NULL)
        return KUMO_EINVAL;
    snprintf(url, sizeof(url), "%s:batchGet", docs);
    json_t *req = json_pack("{s:[s]}", "documents", name);
    free(name);
    int rc = req ? kumo__gcp_json(f->g, "POST", url, req, &resp) : KUMO_ENOMEM;
    if (rc != 0)
        return rc;
    json_t *found = json_object_get(json_array_get(resp, 0), "found");
    if (found == NULL) {
        rc = json_object_get(json_array_get(resp, 0), "missing") ? KUMO_ENOTFOUND : KUMO_EIO;
        if (rc == KUMO_EIO)
            kumo__gcp_msg(f->g, "firestore: batchGet answered neither found nor missing");
    } else if (!json_is_object(json_object_get(found, "fields"))) {
        kumo__gcp_msg(f->g, "firestore: a document of the store has no fields; is the collection kumo's alone?");
        rc = KUMO_EIO;
    } else {
        *doc = json_incref(found);
    }
    json_decref(resp);
    return rc;
}

/* ---- the driver ----------------------------------------------------------- */

static void fs_close(kumo__store *kv)
{
    fs *f = (fs *)kv;
    if (f == NULL)
        return;
    kumo__gcp_free(f->g);
    free(f->collection);
    free(f->database);
    free(f->docs);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static int fs_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__gcp_url u;
    (void)name;
    *out = NULL;
    int rc = kumo__gcp_url_parse(url, "firestore", known, "FIRESTORE_EMULATOR_HOST", &u, e);
    if (rc != 0)
        return rc;
    fs *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&f->lock, NULL);
    if (*u.path || strchr(u.resource, '/')) {
        kumo__error_set(e, KUMO_EINVAL,
                        "firestore store URL: a collection has no path; expected firestore://COLLECTION");
        rc = KUMO_EINVAL;
        goto out;
    }
    f->collection = u.resource;
    f->database = u.database;
    u.resource = u.database = NULL;
    rc = kumo__gcp_new("firestore", &u, "https://firestore.googleapis.com", f->base.error, sizeof(f->base.error), &f->g,
                       e);
    if (rc != 0)
        goto out;
    *out = &f->base.store;
out:
    if (rc != 0)
        fs_close(f ? &f->base.store : NULL);
    kumo__gcp_url_free(&u);
    return rc;
}

static int fs_get(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out)
{
    fs *f = (fs *)kv;
    json_t *doc = NULL;
    pthread_mutex_lock(&f->lock);
    int rc = read_doc(f, key, klen, &doc);
    pthread_mutex_unlock(&f->lock);
    if (rc == 0 && expired(doc, now_ns()))
        rc = KUMO_ENOTFOUND;
    if (rc == 0)
        rc = fill_item(a, doc, 1, out);
    json_decref(doc);
    return rc;
}

/* {"fields": {...}} of a put. */
static json_t *fields_of(const char *key, size_t klen, const void *val, size_t vlen, uint64_t ttl_ms)
{
    json_t *value = NULL;
    char *k64 = kumo__aws_b64_encode(key, klen);
    if (memchr(val, '\0', vlen) == NULL) {
        json_t *s = json_stringn(val, vlen); /* NULL unless valid UTF-8 */
        if (s)
            value = json_pack("{s:o}", "stringValue", s);
    }
    if (value == NULL) {
        char *v64 = kumo__aws_b64_encode(val, vlen);
        value = v64 ? json_pack("{s:s}", "bytesValue", v64) : NULL;
        free(v64);
    }
    /* rev: Firestore keeps a document's updateTime when a write changes
     * nothing, and every put must make a new version */
    char rev[24];
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = kumo__aws_now_ms() ^ (uint64_t)(uintptr_t)&r;
    snprintf(rev, sizeof(rev), "%lld", (long long)(r >> 1));
    json_t *fields = k64 && value ? json_pack("{s:{s:s}, s:o, s:{s:s}}", "key", "bytesValue", k64, "value", value,
                                              "rev", "integerValue", rev)
                                  : NULL;
    if (fields == NULL)
        json_decref(value);
    free(k64);
    if (fields && ttl_ms) {
        char ts[48];
        kumo__gcp_time_format((kumo__aws_now_ms() + ttl_ms) * 1000000ull, ts, sizeof(ts));
        if (json_object_set_new(fields, "expires", json_pack("{s:s}", "timestampValue", ts)) != 0) {
            json_decref(fields);
            return NULL;
        }
    }
    return fields ? json_pack("{s:o}", "fields", fields) : NULL; /* {"fields": ...}: a document */
}

/* One write of the document through :commit, with the precondition
 * `pre` ({"exists": false} or {"updateTime": T}; taken, NULL for none):
 * `doc` is the document written ({"fields": ...}, taken; NULL deletes).
 * The emulator ignores a precondition given in a PATCH's query string,
 * so every conditional write goes through commit. Lock held. */
static int commit_doc(fs *f, const char *key, size_t klen, json_t *pre, json_t *doc, uint64_t *new_version)
{
    char url[URL_MAX], *name = NULL;
    json_t *resp = NULL, *w = NULL, *req = NULL;
    const char *docs = docs_url(f);
    int rc = KUMO_ENOMEM;
    if (docs == NULL || (name = doc_name(f, key, klen)) == NULL) {
        rc = KUMO_EINVAL;
        goto out;
    }
    if (doc) {
        json_object_set_new(doc, "name", json_string(name));
        w = json_pack("{s:O}", "update", doc);
    } else {
        w = json_pack("{s:s}", "delete", name);
    }
    if (w == NULL || (pre && json_object_set(w, "currentDocument", pre) != 0))
        goto out;
    if ((req = json_pack("{s:[O]}", "writes", w)) == NULL)
        goto out;
    snprintf(url, sizeof(url), "%s:commit", docs);
    rc = kumo__gcp_json(f->g, "POST", url, req, &resp);
    req = NULL;
    if (rc == 0 && new_version) {
        json_t *wr = json_array_get(json_object_get(resp, "writeResults"), 0);
        const char *t = json_string_value(json_object_get(wr, "updateTime"));
        *new_version = kumo__gcp_time_parse(t ? t : json_string_value(json_object_get(resp, "commitTime")));
    }
out:
    if (rc == KUMO_ENOMEM)
        kumo__gcp_msg(f->g, "out of memory");
    free(name);
    json_decref(req);
    json_decref(w);
    json_decref(pre);
    json_decref(doc);
    json_decref(resp);
    return rc;
}

/* The precondition "the document's updateTime is v". */
static json_t *update_time_pre(uint64_t v)
{
    char ts[48];
    kumo__gcp_time_format(v, ts, sizeof(ts));
    return json_pack("{s:s}", "updateTime", ts);
}

static int fs_put(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen, uint64_t expect_version,
                  uint64_t ttl_ms, uint64_t *new_version)
{
    fs *f = (fs *)kv;
    json_t *doc = NULL, *pre = NULL;
    int rc;
    if (vlen + klen * 2 + DOC_OVERHEAD > DOC_MAX) {
        snprintf(kv->error, sizeof(kv->error), "firestore: a document holds at most %u bytes (key and value)",
                 DOC_MAX - DOC_OVERHEAD);
        return KUMO_ETOOBIG;
    }
    pthread_mutex_lock(&f->lock);
    if (expect_version != UINT64_MAX) {
        /* CAS: read, check, write with the read's updateTime (or
         * absence) as the precondition. */
        rc = read_doc(f, key, klen, &doc);
        if (rc == KUMO_ENOTFOUND) {
            if (expect_version != 0) {
                rc = KUMO_ECONFLICT;
                goto out;
            }
            pre = json_pack("{s:b}", "exists", 0);
        } else if (rc != 0) {
            goto out;
        } else {
            int gone = expired(doc, now_ns());
            uint64_t have = version_of(doc);
            if (gone ? expect_version != 0 : expect_version != have) {
                rc = KUMO_ECONFLICT;
                goto out;
            }
            pre = update_time_pre(have);
        }
        *kv->error = '\0';
        if (pre == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    json_t *body = fields_of(key, klen, val, vlen, ttl_ms);
    rc = body ? commit_doc(f, key, klen, pre, body, new_version) : KUMO_ENOMEM;
    if (body == NULL)
        json_decref(pre);
    pre = NULL;
    if (rc == KUMO_ENOTFOUND && expect_version != UINT64_MAX) /* deleted since the read */
        rc = KUMO_ECONFLICT;
out:
    pthread_mutex_unlock(&f->lock);
    if (rc == KUMO_ECONFLICT && *kv->error == '\0')
        snprintf(kv->error, sizeof(kv->error), "firestore: the key's version is not the one expected");
    json_decref(pre);
    json_decref(doc);
    return rc;
}

static int fs_del(kumo__kv *kv, const char *key, size_t klen)
{
    fs *f = (fs *)kv;
    json_t *doc = NULL;
    int rc = KUMO_ECONFLICT;
    pthread_mutex_lock(&f->lock);
    /* A write between the read and the delete fails the precondition:
     * read again, a bounded number of times. */
    for (int tries = 0; tries < CAS_TRIES && rc == KUMO_ECONFLICT; tries++) {
        json_decref(doc);
        if ((rc = read_doc(f, key, klen, &doc)) != 0)
            break;
        int gone = expired(doc, now_ns());
        rc = commit_doc(f, key, klen, update_time_pre(version_of(doc)), NULL, NULL);
        if (rc == 0 && gone)
            rc = KUMO_ENOTFOUND; /* it was there only until it expired */
        if (rc == KUMO_ENOTFOUND)
            break;
    }
    pthread_mutex_unlock(&f->lock);
    json_decref(doc);
    return rc;
}

static json_t *key_filter(const char *op, const char *bytes, size_t len)
{
    char *b64 = kumo__aws_b64_encode(bytes, len);
    json_t *fl = b64 ? json_pack("{s:{s:{s:s}, s:s, s:{s:s}}}", "fieldFilter", "field", "fieldPath", "key", "op", op,
                                 "value", "bytesValue", b64)
                     : NULL;
    free(b64);
    return fl;
}

static int fs_list(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                   kumo_kv_page *out)
{
    fs *f = (fs *)kv;
    kumo__kv_range r;
    size_t count = 0;
    int rc = 0, more = 0;
    uint64_t now = now_ns();
    char url[URL_MAX];
    json_t *resp = NULL;

    kumo_kv_item *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (items == NULL || kumo__kv_list_range(a, prefix, cursor, &r) != 0)
        return KUMO_ENOMEM;
    const char *lower = r.lower;
    size_t llen = r.llen;
    const char *op = "GREATER_THAN_OR_EQUAL";
    pthread_mutex_lock(&f->lock);
    const char *docs = docs_url(f);
    if (docs == NULL) {
        rc = KUMO_EINVAL;
        goto out;
    }
    snprintf(url, sizeof(url), "%s:runQuery", docs);
    for (;;) {
        size_t want = limit + 1 - count;
        json_t *filters = json_array();
        json_array_append_new(filters, key_filter(op, lower, llen));
        if (r.ulen)
            json_array_append_new(filters, key_filter("LESS_THAN", r.upper, r.ulen));
        json_t *q =
            json_pack("{s:{s:[{s:s}], s:{s:{s:s, s:o}}, s:[{s:{s:s}, s:s}], s:I}}", "structuredQuery", "from",
                      "collectionId", f->collection, "where", "compositeFilter", "op", "AND", "filters", filters,
                      "orderBy", "field", "fieldPath", "key", "direction", "ASCENDING", "limit", (json_int_t)want);
        if (q && !values)
            json_object_set_new(json_object_get(q, "structuredQuery"), "select",
                                json_pack("{s:[{s:s}, {s:s}]}", "fields", "fieldPath", "key", "fieldPath", "expires"));
        if (q == NULL || json_array_size(filters) != (r.ulen ? 2u : 1u)) {
            json_decref(q);
            rc = KUMO_ENOMEM;
            break;
        }
        rc = kumo__gcp_json(f->g, "POST", url, q, &resp);
        if (rc != 0)
            break;
        size_t i, got = 0;
        json_t *row, *last = NULL;
        json_array_foreach(resp, i, row)
        {
            json_t *doc = json_object_get(row, "document");
            if (doc == NULL)
                continue;
            got++;
            last = doc;
            if (expired(doc, now))
                continue;
            if (count == limit) {
                more = 1;
                break;
            }
            if ((rc = fill_item(a, doc, values, &items[count])) != 0)
                break;
            count++;
        }
        if (rc != 0 || more || got < want || last == NULL)
            break;
        /* expired documents took places: go on past the last one read */
        char *lk;
        size_t lklen;
        json_t *kf = json_object_get(json_object_get(json_object_get(last, "fields"), "key"), "bytesValue");
        if ((rc = bytes_value(a, json_string_value(kf), &lk, &lklen)) != 0)
            break;
        lower = lk;
        llen = lklen;
        op = "GREATER_THAN";
        json_decref(resp);
        resp = NULL;
    }
out:
    pthread_mutex_unlock(&f->lock);
    json_decref(resp);
    if (rc != 0)
        return rc;
    out->items = items;
    out->count = count;
    out->next = more ? items[count - 1].key : NULL;
    return 0;
}

/* out[i] for keys[i], i < n <= GET_MANY_BATCH, from one batchGet; a key
 * asked twice is asked once. Lock held. */
static int batch_get(fs *f, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out, uint64_t now)
{
    char url[URL_MAX], *names[GET_MANY_BATCH] = {0};
    json_t *docs = json_array(), *resp = NULL;
    int rc = docs ? 0 : KUMO_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((names[i] = doc_name(f, keys[i], strlen(keys[i]))) == NULL) {
            rc = KUMO_ENOMEM;
            break;
        }
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(names[i], names[j]) == 0;
        if (!dup && json_array_append_new(docs, json_string(names[i])) != 0)
            rc = KUMO_ENOMEM;
    }
    if (rc == 0) {
        snprintf(url, sizeof(url), "%s:batchGet", f->docs);
        rc = kumo__gcp_json(f->g, "POST", url, json_pack("{s:O}", "documents", docs), &resp);
    }
    size_t k;
    json_t *row;
    json_array_foreach(resp, k, row)
    {
        json_t *doc = json_object_get(row, "found");
        const char *name = json_string_value(json_object_get(doc, "name"));
        if (rc != 0 || name == NULL || expired(doc, now))
            continue;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (strcmp(names[i], name) == 0)
                rc = fill_item(a, doc, 1, &out[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    json_decref(docs);
    json_decref(resp);
    return rc;
}

static int fs_get_many(kumo__kv *kv, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out)
{
    fs *f = (fs *)kv;
    uint64_t now = now_ns();
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        memset(&out[i], 0, sizeof(out[i]));
    pthread_mutex_lock(&f->lock);
    if (docs_url(f) == NULL)
        rc = KUMO_EINVAL;
    for (size_t first = 0; first < n && rc == 0; first += GET_MANY_BATCH)
        rc = batch_get(f, a, keys + first, n - first < GET_MANY_BATCH ? n - first : GET_MANY_BATCH, out + first, now);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

const kumo__kv_driver kumo__kv_firestore_driver = {
    .common = {.version = KUMO__KV_DRIVER_VERSION, .scheme = "firestore", .open = fs_open, .close = fs_close},
    .get = fs_get,
    .put = fs_put,
    .del = fs_del,
    .list = fs_list,
    .get_many = fs_get_many,
};
