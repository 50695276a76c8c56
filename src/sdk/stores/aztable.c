/*
 * aztable.c: the kv driver for Azure Table storage,
 * `aztable://ACCOUNT/TABLE?endpoint=URL&create=false`, over azure.c
 * (libcurl, Shared Key or a managed identity, JSON with odata=nometadata).
 *
 * Layout: one table may hold many stores. Each key is one entity:
 *
 *   PartitionKey  the store's name (kv->name), encoded as keys are
 *   RowKey        the key, encoded (below): Table storage sorts RowKeys
 *                 ordinally, and the encoding keeps byte order, so a list
 *                 is one range query on one partition
 *   ver  (Int64)  the version: the writer's clock in microseconds, or the
 *                 old version + 1 when that is larger
 *   exp  (Int64)  expiry, epoch ms (only with a TTL): Table storage has no
 *                 TTL of its own, so reads treat a passed exp as absent and
 *                 the entity stays until it is written or deleted again
 *   s    (String) the value when it is UTF-8 text of at most 32 KiB
 *   n    (Int32)  otherwise the number of chunks, and
 *   v0.. (Binary) the value in chunks of 64 KiB (a property's limit), at
 *                 most 15: a value over 960 KiB is KUMO_ETOOBIG (an entity
 *                 holds 1 MiB in all)
 *
 * One partition per store keeps ordered listing a single query; its cost
 * is Table storage's per-partition target (about 2,000 entities a second).
 *
 * Keys: a RowKey may not hold / \ # ? or control characters (and '%' is
 * unsafe in an entity's address), so bytes are encoded, order-preserving,
 * with a lead character and two hex digits; every other printable ASCII
 * byte stands for itself, so ordinary keys stay readable:
 *
 *   0x00-0x20 (controls, space)   ' ' + hex     "a b"    -> "a 20b"
 *   # $ %                         '$' + hex     "#1"     -> "$231"
 *   . /                           '.' + hex     "a/b.c"  -> "a.2Fb.2Ec"
 *   > ?                           '>' + hex
 *   \ ]                           ']' + hex
 *   0x7E-0xFF (~, UTF-8 bytes)    '~' + hex     "é"      -> "~C3~A9"
 *
 * Each lead sits between the same neighbours as the bytes it stands for,
 * so encoded keys sort as the keys do. A RowKey holds at most 512
 * characters (1 KiB of UTF-16): a key whose encoding is longer is stored
 * under the first LONG_CUT characters of it, "~Z" (which no encoding holds:
 * '~' leads two hex digits) and 32 hex digits of its SHA-256, with the
 * whole key in the Binary property k. Such keys list after the others that
 * share those characters, among themselves in hash order.
 *
 * Writes: a plain put is Insert Or Replace. A CAS reads the entity, checks
 * its version (and expiry), and replaces it with If-Match on the ETag it
 * read (version 0: Insert, or a replace of an expired entity), so a
 * concurrent writer makes it KUMO_ECONFLICT. A delete reads, then deletes
 * with If-Match, so an expired key is KUMO_ENOTFOUND (and is removed).
 *
 * The table is created on first use unless create=false; a call that finds
 * it gone (TableNotFound) makes it again and is retried once.
 */
#include "sdk/sdk.h"
#include "sdk/stores/azure.h"

#include <bearssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWKEY_MAX 512 /* characters: 1 KiB of UTF-16 */
#define LONG_CUT 448   /* a long key's RowKey: this much of its encoding, then "~Z" and a hash */
#define ENC_MAX (3 * KUMO_KV_KEY_MAX + 1)
#define CHUNK (64u << 10)
#define CHUNKS_MAX 15
#define TEXT_MAX (32u << 10)
#define VALUE_MAX (CHUNKS_MAX * CHUNK)
#define ENTITY_BODY_MAX (4u << 20)
#define LIST_BODY_MAX (64u << 20)
#define TARGET_MAX 8192
#define CAS_TRIES 3

typedef struct aztable {
    kumo__kv base;
    pthread_mutex_t lock; /* guards az, ready, last_ver */
    kumo__az *az;
    char *table;
    char *pk; /* the store's name, encoded */
    int create;
    int ready;
    uint64_t last_ver;
} aztable;

static const char *const JSON_HEADERS[] = {"Accept: application/json;odata=nometadata", "DataServiceVersion: 3.0",
                                           NULL};

/* ---- keys ------------------------------------------------------------ */

static char lead_of(unsigned char b)
{
    if (b <= 0x20)
        return ' ';
    if (b >= 0x23 && b <= 0x25)
        return '$';
    if (b == '.' || b == '/')
        return '.';
    if (b == '>' || b == '?')
        return '>';
    if (b == '\\' || b == ']')
        return ']';
    if (b >= 0x7e)
        return '~';
    return 0;
}

/* azure.h: the encoded key into out (cap bytes, NUL included). */
size_t kumo__aztable_key_encode(const char *k, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)k[i];
        char lead = lead_of(b);
        if (w + (lead ? 3 : 1) + 1 > cap)
            return 0;
        if (lead) {
            out[w++] = lead;
            out[w++] = hex[b >> 4];
            out[w++] = hex[b & 15];
        } else {
            out[w++] = (char)b;
        }
    }
    out[w] = '\0';
    return w;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The key of an encoded RowKey, in a; NULL when it is not one of ours. */
static char *key_decode(kumo__arena *a, const char *rk)
{
    size_t n = strlen(rk);
    char *out = kumo__arena_alloc(a, n + 1), *w = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (lead_of((unsigned char)rk[i]) == 0) {
            *w++ = rk[i];
            continue;
        }
        if (i + 2 >= n)
            return NULL;
        int hi = hexval(rk[i + 1]), lo = hexval(rk[i + 2]);
        if (hi < 0 || lo < 0 || (hi << 4 | lo) == 0)
            return NULL;
        *w++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *w = '\0';
    return out;
}

/* '...' for an OData literal: quotes doubled, then percent-encoded. */
static size_t odata_literal(const char *s, char *buf, size_t size)
{
    char tmp[2 * ROWKEY_MAX + 8];
    size_t w = 0;
    for (; *s; s++) {
        if (w + 3 > sizeof(tmp))
            return 0;
        if (*s == '\'')
            tmp[w++] = '\'';
        tmp[w++] = *s;
    }
    return kumo__az_uri_encode(tmp, w, 0, buf, size);
}

/* "/TABLE(PartitionKey='PK',RowKey='RK')" into buf. */
static int entity_target(aztable *t, const char *rk, char *buf, size_t size)
{
    char pk[3 * 2 * ROWKEY_MAX + 8], r[3 * 2 * ROWKEY_MAX + 8];
    if (odata_literal(t->pk, pk, sizeof(pk)) == 0 && *t->pk)
        return KUMO_ETOOBIG;
    if (odata_literal(rk, r, sizeof(r)) == 0)
        return KUMO_ETOOBIG;
    int n = snprintf(buf, size, "/%s(PartitionKey='%s',RowKey='%s')", t->table, pk, r);
    return n < 0 || (size_t)n >= size ? KUMO_ETOOBIG : 0;
}

/* The length of the longest run of whole codes of enc (n chars) within
 * at most `cut` characters. */
static size_t code_cut(const char *enc, size_t n, size_t cut)
{
    size_t i = 0;
    while (i < n) {
        size_t step = lead_of((unsigned char)enc[i]) ? 3 : 1;
        if (i + step > cut)
            break;
        i += step;
    }
    return i;
}

/* The RowKey of a key into rk (ROWKEY_MAX + 1 bytes): its encoding, or
 * for a key whose encoding is longer than a RowKey, the first LONG_CUT
 * characters of it, "~Z" (never part of an encoding: '~' leads hex) and
 * 32 hex digits of its SHA-256. *is_long says which. */
static int key_rowkey(aztable *t, const char *key, size_t klen, char *rk, int *is_long)
{
    char enc[ENC_MAX];
    size_t n = kumo__aztable_key_encode(key, klen, enc, sizeof(enc));
    *is_long = 0;
    if (n == 0 && klen) {
        snprintf(t->base.error, sizeof(t->base.error), "aztable: the key is too long");
        return KUMO_ETOOBIG;
    }
    if (n <= ROWKEY_MAX) {
        memcpy(rk, enc, n + 1);
        return 0;
    }
    unsigned char md[32];
    br_sha256_context sc;
    br_sha256_init(&sc);
    br_sha256_update(&sc, key, klen);
    br_sha256_out(&sc, md);
    size_t c = code_cut(enc, n, LONG_CUT);
    memcpy(rk, enc, c);
    memcpy(rk + c, "~Z", 2);
    for (int i = 0; i < 16; i++)
        snprintf(rk + c + 2 + 2 * i, 3, "%02X", md[i]);
    *is_long = 1;
    return 0;
}

/* ---- the table ----------------------------------------------------------- */

static int table_missing(aztable *t)
{
    snprintf(t->base.error, sizeof(t->base.error),
             "aztable: table '%s' does not exist; create it or drop create=false from the URL", t->table);
    return KUMO_EUNAVAILABLE;
}

static int ensure_table(aztable *t)
{
    kumo__cloud_res res;
    if (t->ready)
        return 0;
    if (!t->create) {
        /* Query the table itself: 404 when missing. */
        char target[256];
        snprintf(target, sizeof(target), "/Tables('%s')", t->table);
        int rc = kumo__az_send(t->az, "GET", target, JSON_HEADERS, NULL, 0, ENTITY_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        if (rc == KUMO_ENOTFOUND)
            return table_missing(t);
        if (rc == 0)
            t->ready = 1;
        return rc;
    }
    json_t *j = json_pack("{s:s}", "TableName", t->table);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (body == NULL)
        return KUMO_ENOMEM;
    const char *headers[] = {JSON_HEADERS[0], JSON_HEADERS[1], "Content-Type: application/json",
                             "Prefer: return-no-content", NULL};
    int rc = kumo__az_send(t->az, "POST", "/Tables", headers, body, strlen(body), ENTITY_BODY_MAX, &res);
    free(body);
    kumo__cloud_res_free(&res);
    if (rc != 0 && strcmp(kumo__az_code(t->az), "TableAlreadyExists") == 0)
        rc = 0;
    if (rc == 0) {
        t->ready = 1;
        *t->base.error = '\0';
    }
    return rc;
}

/* One exchange on the table, made first when needed and again (the call
 * retried once) when the service says it is gone. Caller holds the lock. */
static int tsend(aztable *t, const char *method, const char *target, const char *const *headers, const char *body,
                 size_t max_body, kumo__cloud_res *res)
{
    memset(res, 0, sizeof(*res));
    int rc = ensure_table(t);
    if (rc != 0)
        return rc;
    for (int attempt = 0;; attempt++) {
        rc = kumo__az_send(t->az, method, target, headers, body, body ? strlen(body) : 0, max_body, res);
        if (rc != KUMO_ENOTFOUND || strcmp(kumo__az_code(t->az), "TableNotFound") != 0)
            return rc;
        kumo__cloud_res_free(res);
        t->ready = 0;
        if (!t->create || attempt == 1)
            return table_missing(t);
        if ((rc = ensure_table(t)) != 0)
            return rc;
    }
}

/* ---- entities --------------------------------------------------------------- */

static uint64_t prop_u64(json_t *v)
{
    if (json_is_string(v))
        return strtoull(json_string_value(v), NULL, 10);
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    return 0;
}

static int expired(json_t *e, uint64_t now)
{
    json_t *x = json_object_get(e, "exp");
    return x && prop_u64(x) <= now;
}

/* The value of an entity into a (NUL-terminated beyond len). */
static int entity_value(aztable *t, kumo__arena *a, json_t *e, const void **out, size_t *len)
{
    json_t *s = json_object_get(e, "s");
    if (json_is_string(s)) {
        size_t n = json_string_length(s);
        char *v = kumo__arena_strndup(a, json_string_value(s), n);
        if (v == NULL)
            return KUMO_ENOMEM;
        *out = v;
        *len = n;
        return 0;
    }
    uint64_t chunks = prop_u64(json_object_get(e, "n"));
    if (chunks > CHUNKS_MAX) {
        snprintf(t->base.error, sizeof(t->base.error), "aztable: an entity says it has %llu value chunks",
                 (unsigned long long)chunks);
        return KUMO_EIO;
    }
    size_t total = 0;
    for (uint64_t i = 0; i < chunks; i++) {
        char name[8];
        snprintf(name, sizeof(name), "v%u", (unsigned)i);
        total += json_string_length(json_object_get(e, name)) / 4 * 3 + 3;
    }
    char *v = kumo__arena_alloc(a, total + 1);
    if (v == NULL)
        return KUMO_ENOMEM;
    size_t w = 0;
    for (uint64_t i = 0; i < chunks; i++) {
        char name[8];
        snprintf(name, sizeof(name), "v%u", (unsigned)i);
        json_t *c = json_object_get(e, name);
        long got = json_is_string(c)
                       ? kumo__aws_b64_decode(json_string_value(c), json_string_length(c), (unsigned char *)v + w)
                       : -1;
        if (got < 0) {
            snprintf(t->base.error, sizeof(t->base.error), "aztable: chunk %s of a value is not base64", name);
            return KUMO_EIO;
        }
        w += (size_t)got;
    }
    v[w] = '\0';
    *out = v;
    *len = w;
    return 0;
}

/* Whether v is UTF-8 text the driver stores as a String property. */
static int is_text(const unsigned char *v, size_t n)
{
    if (n > TEXT_MAX)
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = v[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
        if (c == 0 || k == 9 || (k == 1 && c < 0xc2) || i + k >= n + (k ? 0 : 1))
            return 0;
        for (size_t j = 1; j <= k; j++)
            if ((v[i + j] & 0xc0) != 0x80)
                return 0;
        /* overlongs and surrogates */
        if (k == 2 && ((c == 0xe0 && v[i + 1] < 0xa0) || (c == 0xed && v[i + 1] >= 0xa0)))
            return 0;
        if (k == 3 && ((c == 0xf0 && v[i + 1] < 0x90) || c > 0xf4 || (c == 0xf4 && v[i + 1] >= 0x90)))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* The JSON body of an entity. */
static char *entity_body(aztable *t, const char *rk, const char *key, size_t klen, int is_long, const void *val,
                         size_t vlen, uint64_t ver, uint64_t exp)
{
    char num[32];
    json_t *e = json_pack("{s:s, s:s}", "PartitionKey", t->pk, "RowKey", rk);
    if (e == NULL)
        return NULL;
    if (is_long) { /* the whole key, which the RowKey only starts */
        char *k = kumo__aws_b64_encode(key, klen);
        if (k == NULL) {
            json_decref(e);
            return NULL;
        }
        json_object_set_new(e, "k", json_string(k));
        json_object_set_new(e, "k@odata.type", json_string("Edm.Binary"));
        free(k);
    }
    snprintf(num, sizeof(num), "%llu", (unsigned long long)ver);
    json_object_set_new(e, "ver", json_string(num));
    json_object_set_new(e, "ver@odata.type", json_string("Edm.Int64"));
    if (exp) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)exp);
        json_object_set_new(e, "exp", json_string(num));
        json_object_set_new(e, "exp@odata.type", json_string("Edm.Int64"));
    }
    if (is_text(val, vlen)) {
        json_object_set_new(e, "s", json_stringn(val, vlen));
    } else {
        unsigned chunks = (unsigned)((vlen + CHUNK - 1) / CHUNK);
        json_object_set_new(e, "n", json_integer(chunks));
        for (unsigned i = 0; i < chunks; i++) {
            char name[16], type[32];
            size_t off = (size_t)i * CHUNK, n = vlen - off < CHUNK ? vlen - off : CHUNK;
            char *b = kumo__aws_b64_encode((const char *)val + off, n);
            if (b == NULL) {
                json_decref(e);
                return NULL;
            }
            snprintf(name, sizeof(name), "v%u", i);
            snprintf(type, sizeof(type), "v%u@odata.type", i);
            json_object_set_new(e, name, json_string(b));
            json_object_set_new(e, type, json_string("Edm.Binary"));
            free(b);
        }
    }
    char *body = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return body;
}

/* Reads the entity of rk: 0 with *e (and etag), KUMO_ENOTFOUND, or an
 * error. Caller holds the lock. */
static int read_entity(aztable *t, const char *rk, const char *select, json_t **e, char *etag, size_t etag_size)
{
    char target[TARGET_MAX];
    kumo__cloud_res res;
    *e = NULL;
    int rc = entity_target(t, rk, target, sizeof(target) - 64);
    if (rc != 0)
        return rc;
    if (select)
        snprintf(target + strlen(target), 64, "?$select=%s", select);
    rc = tsend(t, "GET", target, JSON_HEADERS, NULL, ENTITY_BODY_MAX, &res);
    if (rc == 0) {
        *e = json_loadb(res.body ? res.body : "", res.len, 0, NULL);
        if (*e == NULL) {
            snprintf(t->base.error, sizeof(t->base.error), "aztable: the service answered an entity that is not JSON");
            rc = KUMO_EIO;
        } else if (etag && kumo__cloud_res_header(&res, "ETag", etag, etag_size) == NULL) {
            *etag = '\0';
        }
    }
    kumo__cloud_res_free(&res);
    return rc;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A version above `old` and above every one this handle gave. */
static uint64_t next_version(aztable *t, uint64_t old)
{
    uint64_t v = now_us();
    if (v <= old)
        v = old + 1;
    if (v <= t->last_ver)
        v = t->last_ver + 1;
    t->last_ver = v;
    return v;
}

/* ---- the driver --------------------------------------------------------------- */

static void aztable_close(kumo__store *kv)
{
    aztable *t = (aztable *)kv;
    if (t == NULL)
        return;
    kumo__az_free(t->az);
    free(t->table);
    free(t->pk);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int valid_table(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 63 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

static int aztable_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__az_url u;
    char pk[ROWKEY_MAX + 1];
    *out = NULL;
    int rc = kumo__az_url_parse(url, "aztable", &u, e);
    if (rc != 0)
        return rc;
    aztable *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&t->lock, NULL);
    rc = KUMO_EINVAL;
    if (*u.path) {
        kumo__error_set(e, KUMO_EINVAL, "store URL '%s': a table has no path; expected aztable://ACCOUNT/TABLE", url);
        goto out;
    }
    if (!valid_table(u.resource)) {
        kumo__error_set(e, KUMO_EINVAL,
                        "store URL '%s': '%s' is not a table name (3 to 63 letters and digits, starting with a letter)",
                        url, u.resource);
        goto out;
    }
    if (kumo__aztable_key_encode(name, strlen(name), pk, sizeof(pk)) == 0) {
        kumo__error_set(e, KUMO_EINVAL, "aztable: the store name '%s' is too long for a PartitionKey", name);
        goto out;
    }
    t->pk = strdup(pk);
    t->create = u.create;
    t->table = u.resource;
    u.resource = NULL;
    if (t->pk == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = kumo__az_new("table", &u, t->base.error, sizeof(t->base.error), &t->az, e);
    if (rc != 0)
        goto out;
    *out = &t->base.store;
out:
    if (rc != 0)
        aztable_close(t ? &t->base.store : NULL);
    kumo__az_url_free(&u);
    return rc;
}

static int aztable_get(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out)
{
    aztable *t = (aztable *)kv;
    char rk[ROWKEY_MAX + 1];
    json_t *e = NULL;
    int is_long;
    int rc = key_rowkey(t, key, klen, rk, &is_long);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&t->lock);
    rc = read_entity(t, rk, NULL, &e, NULL, 0);
    pthread_mutex_unlock(&t->lock);
    if (rc == 0 && expired(e, kumo__aws_now_ms()))
        rc = KUMO_ENOTFOUND;
    if (rc == 0) {
        out->key = kumo__arena_strndup(a, key, klen);
        out->version = prop_u64(json_object_get(e, "ver"));
        rc = out->key ? entity_value(t, a, e, &out->value, &out->len) : KUMO_ENOMEM;
    }
    json_decref(e);
    return rc;
}

static int aztable_put(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen,
                       uint64_t expect_version, uint64_t ttl_ms, uint64_t *new_version)
{
    aztable *t = (aztable *)kv;
    char rk[ROWKEY_MAX + 1], target[TARGET_MAX], etag[256], ifmatch[300];
    kumo__cloud_res res;
    json_t *e = NULL;
    char *body = NULL;
    uint64_t now = kumo__aws_now_ms(), ver = 0;
    int rc;

    if (vlen > VALUE_MAX) {
        snprintf(kv->error, sizeof(kv->error),
                 "aztable: a value holds at most %u bytes (%u properties of 64 KiB; an entity is at most 1 MiB)",
                 VALUE_MAX, CHUNKS_MAX);
        return KUMO_ETOOBIG;
    }
    int is_long;
    if ((rc = key_rowkey(t, key, klen, rk, &is_long)) != 0)
        return rc;
    if ((rc = entity_target(t, rk, target, sizeof(target))) != 0) {
        snprintf(kv->error, sizeof(kv->error), "aztable: the entity's address is too long");
        return rc;
    }
    const char *put_headers[] = {JSON_HEADERS[0], JSON_HEADERS[1], "Content-Type: application/json", ifmatch, NULL};
    pthread_mutex_lock(&t->lock);
    if (expect_version == UINT64_MAX) {
        ver = next_version(t, 0);
        body = entity_body(t, rk, key, klen, is_long, val, vlen, ver, ttl_ms ? now + ttl_ms : 0);
        if (body == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
        put_headers[3] = NULL; /* Insert Or Replace */
        rc = tsend(t, "PUT", target, put_headers, body, ENTITY_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        goto out;
    }
    /* CAS: read, check, replace with If-Match (or insert for an absent key). */
    rc = read_entity(t, rk, "ver,exp", &e, etag, sizeof(etag));
    if (rc == KUMO_ENOTFOUND && expect_version == 0) {
        ver = next_version(t, 0);
        body = entity_body(t, rk, key, klen, is_long, val, vlen, ver, ttl_ms ? now + ttl_ms : 0);
        if (body == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
        char ins[TARGET_MAX];
        snprintf(ins, sizeof(ins), "/%s", t->table);
        const char *ins_headers[] = {JSON_HEADERS[0], JSON_HEADERS[1], "Content-Type: application/json",
                                     "Prefer: return-no-content", NULL};
        rc = tsend(t, "POST", ins, ins_headers, body, ENTITY_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        goto out; /* EntityAlreadyExists: ECONFLICT */
    }
    if (rc == KUMO_ENOTFOUND) {
        rc = KUMO_ECONFLICT;
        goto out;
    }
    if (rc != 0)
        goto out;
    uint64_t cur = prop_u64(json_object_get(e, "ver"));
    int live = !expired(e, now);
    if ((expect_version == 0 && live) || (expect_version != 0 && (!live || cur != expect_version)) || !*etag) {
        rc = KUMO_ECONFLICT;
        goto out;
    }
    ver = next_version(t, cur);
    body = entity_body(t, rk, key, klen, is_long, val, vlen, ver, ttl_ms ? now + ttl_ms : 0);
    if (body == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    snprintf(ifmatch, sizeof(ifmatch), "If-Match: %s", etag);
    rc = tsend(t, "PUT", target, put_headers, body, ENTITY_BODY_MAX, &res);
    kumo__cloud_res_free(&res);
    if (rc == KUMO_ENOTFOUND)
        rc = KUMO_ECONFLICT; /* deleted in between */
out:
    pthread_mutex_unlock(&t->lock);
    if (rc == KUMO_ECONFLICT && *kv->error == '\0')
        snprintf(kv->error, sizeof(kv->error), "aztable: the key's version is not the one expected");
    if (rc == KUMO_ENOMEM)
        snprintf(kv->error, sizeof(kv->error), "out of memory");
    if (rc == 0 && new_version)
        *new_version = ver;
    json_decref(e);
    free(body);
    return rc;
}

static int aztable_del(kumo__kv *kv, const char *key, size_t klen)
{
    aztable *t = (aztable *)kv;
    char rk[ROWKEY_MAX + 1], target[TARGET_MAX], etag[256], ifmatch[300];
    kumo__cloud_res res;
    int is_long;
    int rc = key_rowkey(t, key, klen, rk, &is_long);
    if (rc != 0)
        return rc;
    if ((rc = entity_target(t, rk, target, sizeof(target))) != 0)
        return rc;
    const char *headers[] = {JSON_HEADERS[0], JSON_HEADERS[1], ifmatch, NULL};
    pthread_mutex_lock(&t->lock);
    for (int tries = 0; tries < CAS_TRIES; tries++) {
        json_t *e = NULL;
        rc = read_entity(t, rk, "ver,exp", &e, etag, sizeof(etag));
        if (rc != 0)
            break;
        int gone = expired(e, kumo__aws_now_ms());
        json_decref(e);
        snprintf(ifmatch, sizeof(ifmatch), "If-Match: %s", *etag ? etag : "*");
        rc = tsend(t, "DELETE", target, headers, NULL, ENTITY_BODY_MAX, &res);
        kumo__cloud_res_free(&res);
        if (gone && (rc == 0 || rc == KUMO_ECONFLICT || rc == KUMO_ENOTFOUND)) {
            rc = KUMO_ENOTFOUND; /* it had expired: absent to the caller */
            break;
        }
        if (rc != KUMO_ECONFLICT) /* rewritten since the read: read again */
            break;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Appends "&NAME=VALUE" (VALUE percent-encoded) to target. */
static int add_param(char *target, size_t size, const char *name, const char *value)
{
    size_t w = strlen(target);
    int n = snprintf(target + w, size - w, "%c%s=", strchr(target, '?') ? '&' : '?', name);
    if (n < 0 || (size_t)n >= size - w)
        return KUMO_ETOOBIG;
    w += (size_t)n;
    return kumo__az_uri_encode(value, strlen(value), 0, target + w, size - w) || !*value ? 0 : KUMO_ETOOBIG;
}

static int aztable_list(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                        kumo_kv_page *out)
{
    aztable *t = (aztable *)kv;
    kumo__kv_range r;
    char lo[ROWKEY_MAX + 4], hi[ROWKEY_MAX + 4], pk[2 * ROWKEY_MAX + 4];
    char lq[2 * ROWKEY_MAX + 8], hq[2 * ROWKEY_MAX + 8];
    char next_pk[ROWKEY_MAX * 3], next_rk[ROWKEY_MAX * 3];
    size_t count = 0;
    int rc, more = 0;
    uint64_t now = kumo__aws_now_ms();

    kumo_kv_item *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (items == NULL)
        return KUMO_ENOMEM;
    /* Bounds in RowKey space. The prefix's encoding (cut to whole codes
     * within LONG_CUT - 2 characters when longer, so that long keys'
     * RowKeys start with it too) starts every RowKey of the range; rows
     * past it end the scan. A cursor resumes after its own RowKey. */
    size_t plen = strlen(prefix);
    char penc[ENC_MAX];
    size_t pe = kumo__aztable_key_encode(prefix, plen, penc, sizeof(penc));
    int cut = pe > LONG_CUT - 2;
    if (cut)
        penc[code_cut(penc, pe, LONG_CUT - 2)] = '\0';
    const char *op = "ge";
    snprintf(lo, sizeof(lo), "%s", penc);
    if (cursor) {
        size_t clen = strlen(cursor);
        int is_long;
        if (clen >= plen && memcmp(cursor, prefix, plen) == 0) {
            if ((rc = key_rowkey(t, cursor, clen, lo, &is_long)) != 0)
                return rc;
            op = "gt";
        } else if (memcmp(cursor, prefix, clen < plen ? clen : plen) > 0) {
            goto done; /* the cursor is past every key with the prefix */
        }
    }
    *hi = '\0';
    if (!cut && plen) {
        if ((rc = kumo__kv_list_range(a, prefix, NULL, &r)) != 0)
            return rc;
        size_t hn = r.ulen ? kumo__aztable_key_encode(r.upper, r.ulen, hi, sizeof(hi)) : 0;
        if (hn == 0 || hn > LONG_CUT - 2)
            *hi = '\0';
    }
    /* the filter's literals: quotes doubled */
    const char *srcs[3] = {t->pk, lo, hi};
    char *dsts[3] = {pk, lq, hq};
    for (int i = 0; i < 3; i++) {
        size_t w = 0;
        for (const char *s = srcs[i]; *s && w + 3 < 2 * ROWKEY_MAX + 4; s++) {
            if (*s == '\'')
                dsts[i][w++] = '\'';
            dsts[i][w++] = *s;
        }
        dsts[i][w] = '\0';
    }
    char filt[3 * 2 * ROWKEY_MAX + 256];
    int fl = snprintf(filt, sizeof(filt), "PartitionKey eq '%s' and RowKey %s '%s'", pk, op, lq);
    if (*hi)
        fl += snprintf(filt + fl, sizeof(filt) - (size_t)fl, " and RowKey lt '%s'", hq);
    size_t pclen = strlen(penc);
    int past = 0;
    *next_pk = *next_rk = '\0';
    pthread_mutex_lock(&t->lock);
    for (int round = 0; round < 10000; round++) {
        char target[TARGET_MAX * 3];
        char top[16];
        snprintf(target, sizeof(target), "/%s()", t->table);
        size_t want = limit + 1 - count;
        if (values && want > 32)
            want = 32; /* entities reach 1 MiB: small pages */
        if (want > 1000)
            want = 1000;
        snprintf(top, sizeof(top), "%zu", want);
        rc = add_param(target, sizeof(target), "$filter", filt);
        if (rc == 0)
            rc = add_param(target, sizeof(target), "$top", top);
        if (rc == 0 && !values)
            rc = add_param(target, sizeof(target), "$select", "RowKey,ver,exp,k");
        if (rc == 0 && *next_pk)
            rc = add_param(target, sizeof(target), "NextPartitionKey", next_pk);
        if (rc == 0 && *next_rk)
            rc = add_param(target, sizeof(target), "NextRowKey", next_rk);
        if (rc != 0)
            break;
        kumo__cloud_res res;
        rc = tsend(t, "GET", target, JSON_HEADERS, NULL, LIST_BODY_MAX, &res);
        if (rc != 0) {
            kumo__cloud_res_free(&res);
            break;
        }
        json_t *j = json_loadb(res.body ? res.body : "", res.len, 0, NULL);
        json_t *arr = json_object_get(j, "value"), *e;
        size_t i;
        if (!json_is_array(arr)) {
            snprintf(kv->error, sizeof(kv->error), "aztable: a query answered without a value array");
            rc = KUMO_EIO;
        }
        json_array_foreach(arr, i, e)
        {
            if (rc != 0)
                break;
            const char *rks = json_string_value(json_object_get(e, "RowKey"));
            if (rks == NULL)
                continue;
            if (strncmp(rks, penc, pclen) != 0) {
                past = 1; /* sorted: nothing after this has the prefix */
                break;
            }
            if (expired(e, now))
                continue;
            char *k = NULL;
            json_t *kb = json_object_get(e, "k");
            if (json_is_string(kb)) { /* a long key: the whole of it */
                size_t kn = json_string_length(kb);
                k = kumo__arena_alloc(a, kn / 4 * 3 + 4);
                long got = k ? kumo__aws_b64_decode(json_string_value(kb), kn, (unsigned char *)k) : -1;
                if (got <= 0)
                    k = NULL;
                else
                    k[got] = '\0';
            } else {
                k = key_decode(a, rks);
            }
            if (k == NULL || strncmp(k, prefix, plen) != 0)
                continue; /* not one of ours */
            if (count == limit) {
                more = 1;
                break;
            }
            items[count].key = k;
            items[count].version = prop_u64(json_object_get(e, "ver"));
            items[count].value = NULL;
            items[count].len = 0;
            if (values && (rc = entity_value(t, a, e, &items[count].value, &items[count].len)) != 0)
                break;
            count++;
        }
        json_decref(j);
        int cont = kumo__cloud_res_header(&res, "x-ms-continuation-NextPartitionKey", next_pk, sizeof(next_pk)) != NULL;
        if (kumo__cloud_res_header(&res, "x-ms-continuation-NextRowKey", next_rk, sizeof(next_rk)) == NULL)
            *next_rk = '\0';
        if (!cont)
            *next_pk = '\0';
        kumo__cloud_res_free(&res);
        if (rc != 0 || more || past || !cont)
            break;
    }
    pthread_mutex_unlock(&t->lock);
    if (rc != 0)
        return rc;
done:
    out->items = items;
    out->count = count;
    out->next = more ? items[count - 1].key : NULL;
    return 0;
}

const kumo__kv_driver kumo__kv_aztable_driver = {
    .common = {.version = KUMO__KV_DRIVER_VERSION, .scheme = "aztable", .open = aztable_open, .close = aztable_close},
    .get = aztable_get,
    .put = aztable_put,
    .del = aztable_del,
    .list = aztable_list,
};
