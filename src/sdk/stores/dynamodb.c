/*
 * dynamodb.c: the kv driver for DynamoDB, `dynamodb://TABLE?region=R&
 * endpoint=URL&create=false`, over aws.c (libcurl, SigV4, JSON protocol).
 *
 * Layout: one table may hold many stores, and a store's items spread over
 * SHARDS (16) partition keys, so a busy store is not one hot partition.
 * Each item is
 *
 *   pk      (S, hash key)  "STORE#NN": the store's name (kv->name) and the
 *                          key's shard, NN = FNV-1a(key) % 16 in two digits
 *   sk      (B, range key) the key's bytes, so a Query sorts them by unsigned
 *                          byte, which is kumo.h's order, and any byte but
 *                          NUL is allowed (a string key would have to be
 *                          UTF-8)
 *   key     (S)            the key again as text, when it is UTF-8 (what a
 *                          person reads in the console or `aws dynamodb scan`)
 *   value   (S)            the value, when it is UTF-8 (JSON mostly) ...
 *   value_b (B)            ... else the value's bytes: an item has one of them
 *   ver     (N)            the version
 *   ttl     (N)            expiry in epoch seconds, rounded up: DynamoDB's TTL
 *                          attribute, enabled on tables this driver creates
 *   exp     (N)            expiry in epoch milliseconds: what reads compare,
 *                          since TTL deletion is lazy (up to days late) and
 *                          seconds are too coarse for kumo's milliseconds
 *
 * The key schema (pk S, sk B) is the one older kumo made, but older kumo put
 * a store's items under pk = STORE with the value in `v` (B). Such a store is
 * refused on first use, with a message naming scripts/ddb_migrate.py, which
 * copies it into this layout: reading both layouts would cost every get a
 * second read.
 *
 * Versions: every put is one UpdateItem setting
 * ver = if_not_exists(ver, NOW_US) + 1, atomically, with a ConditionExpression
 * for CAS (ver = :expect, or "absent" for 0). A key that is deleted and
 * written again starts from the current time in microseconds, above any
 * version it had before (unless it had been written more than a million
 * times a second), so a CAS holding a version from before the delete fails.
 *
 * Listing merges the shards: one Query per shard on its pk with
 * begins_with(sk, prefix), consistent reads, each starting after the cursor
 * (the last key of the previous page, used as every shard's
 * ExclusiveStartKey: a start key need not exist), each reading up to
 * limit+1 live items; the union is sorted by key and cut at limit. A page
 * of n items is therefore 16 Queries reading up to 16 * (n+1) items.
 * get_many is BatchGetItem in groups of 100 distinct keys, retrying
 * UnprocessedKeys a bounded number of times.
 *
 * The table is created on first use (CreateTable with PAY_PER_REQUEST, then
 * DescribeTable until ACTIVE, then UpdateTimeToLive on ttl) unless the URL
 * says create=false. A call that finds the table gone (ResourceNotFound:
 * someone deleted it, or moto restarted and forgot it) makes it again and is
 * retried once.
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_TYPE "application/x-amz-json-1.0"
#define ITEM_MAX (400u * 1024) /* DynamoDB's item limit, attribute names included */
#define ITEM_OVERHEAD 96       /* pk, names, ver, ttl, exp */
#define SHARDS 16              /* partition keys per store: fixed, since a key's shard is where it lives */
#define NAME_MAX_LEN 200       /* a store's name in pk (DynamoDB allows 2048 bytes) */
#define TABLE_WAIT_MS 30000
#define BATCH_MAX 100
#define UNPROCESSED_TRIES 8

typedef struct ddb {
    kumo__kv base;
    pthread_mutex_t lock; /* guards aws and ready */
    kumo__aws *aws;
    char *table;
    int create;
    int ready;  /* the table is known to exist */
    int layout; /* 0 unchecked, 1 this driver's, -1 an older kumo's (refused, checked again) */
} ddb;

/* FNV-1a of the key: which of the SHARDS partitions holds it. */
static unsigned shard_of(const char *key, size_t klen)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    return h % SHARDS;
}

/* "STORE#NN" into buf (NAME_MAX_LEN + 8 bytes). */
static void shard_pk(const ddb *d, unsigned shard, char *buf, size_t size)
{
    snprintf(buf, size, "%s#%02u", d->base.name, shard);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One call of the DynamoDB API; takes req. */
static int call_raw(ddb *d, const char *op, json_t *req, json_t **resp)
{
    char target[64];
    snprintf(target, sizeof(target), "DynamoDB_20120810.%s", op);
    return kumo__aws_json(d->aws, JSON_TYPE, target, req, resp);
}

static int table_missing(ddb *d)
{
    snprintf(d->base.error, sizeof(d->base.error),
             "dynamodb: table '%s' does not exist; create it (pk S hash, sk B range) or drop create=false from the URL",
             d->table);
    return KUMO_EUNAVAILABLE;
}

/* Refuses a store an older kumo wrote (all items under pk = STORE, values in
 * `v`): one Query of that pk finds out, once per open while the answer is
 * no, and again at every call while it is yes (so a store migrated while
 * kumo runs is taken up without a restart). */
static int check_layout(ddb *d)
{
    json_t *resp = NULL;
    if (d->layout <= 0) {
        json_t *req = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}}, s:I, s:s, s:b}", "TableName", d->table,
                                "KeyConditionExpression", "#pk = :pk", "ExpressionAttributeNames", "#pk", "pk",
                                "ExpressionAttributeValues", ":pk", "S", d->base.name, "Limit", (json_int_t)1,
                                "ProjectionExpression", "#pk", "ConsistentRead", 1);
        if (req == NULL) {
            snprintf(d->base.error, sizeof(d->base.error), "out of memory");
            return KUMO_ENOMEM;
        }
        int rc = call_raw(d, "Query", req, &resp);
        if (rc != 0)
            return rc;
        d->layout = json_array_size(json_object_get(resp, "Items")) ? -1 : 1;
        json_decref(resp);
    }
    if (d->layout > 0)
        return 0;
    snprintf(d->base.error, sizeof(d->base.error),
             "dynamodb: table '%s' holds store '%s' in an older kumo's layout (one partition, binary values); "
             "migrate it with scripts/ddb_migrate.py %s %s (docs/stores-aws.md)",
             d->table, d->base.name, d->table, d->base.name);
    return KUMO_EUNAVAILABLE;
}

/* Makes sure the table exists and is ACTIVE (creating it when allowed), and
 * that the store is in this driver's layout. */
static int ensure_table(ddb *d)
{
    json_t *resp = NULL;
    int rc, created = 0;
    uint64_t deadline = kumo__aws_now_ms() + TABLE_WAIT_MS;
    if (d->ready)
        return 0;
    for (;;) {
        rc = call_raw(d, "DescribeTable", json_pack("{s:s}", "TableName", d->table), &resp);
        if (rc == KUMO_ENOTFOUND && !created) {
            if (!d->create)
                return table_missing(d);
            json_t *req =
                json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[{s:s, s:s}, {s:s, s:s}], s:s}", "TableName", d->table,
                          "AttributeDefinitions", "AttributeName", "pk", "AttributeType", "S", "AttributeName", "sk",
                          "AttributeType", "B", "KeySchema", "AttributeName", "pk", "KeyType", "HASH", "AttributeName",
                          "sk", "KeyType", "RANGE", "BillingMode", "PAY_PER_REQUEST");
            rc = call_raw(d, "CreateTable", req, &resp);
            json_decref(resp);
            resp = NULL;
            /* ResourceInUse: another process is creating it; wait for it too. */
            if (rc != 0 && strcmp(kumo__aws_code(d->aws), "ResourceInUseException") != 0)
                return rc;
            created = 1;
            continue;
        }
        if (rc != 0 && rc != KUMO_ENOTFOUND)
            return rc;
        const char *status = json_string_value(json_object_get(json_object_get(resp, "Table"), "TableStatus"));
        int active = rc == 0 && status && strcmp(status, "ACTIVE") == 0;
        json_decref(resp);
        resp = NULL;
        if (active)
            break;
        if (kumo__aws_now_ms() > deadline) {
            snprintf(d->base.error, sizeof(d->base.error), "dynamodb: table '%s' is not ACTIVE after %d s", d->table,
                     TABLE_WAIT_MS / 1000);
            return KUMO_ETIMEDOUT;
        }
        sleep_ms(200);
    }
    if (created) {
        /* DynamoDB's own expiry of ttl'd items; reads do not depend on it. */
        json_t *req = json_pack("{s:s, s:{s:b, s:s}}", "TableName", d->table, "TimeToLiveSpecification", "Enabled", 1,
                                "AttributeName", "ttl");
        if (call_raw(d, "UpdateTimeToLive", req, &resp) == 0)
            json_decref(resp);
        *d->base.error = '\0';
        d->layout = 1; /* a new table holds nothing older */
    }
    if ((rc = check_layout(d)) != 0)
        return rc;
    d->ready = 1;
    return 0;
}

/* A data-plane call: the table is made first when needed, and made again
 * (then the call retried once) when the call finds it gone. Takes req. */
static int call(ddb *d, const char *op, json_t *req, json_t **resp)
{
    *resp = NULL;
    if (req == NULL) {
        snprintf(d->base.error, sizeof(d->base.error), "out of memory");
        return KUMO_ENOMEM;
    }
    int rc = ensure_table(d);
    if (rc != 0) {
        json_decref(req);
        return rc;
    }
    json_incref(req);
    rc = call_raw(d, op, req, resp);
    if (rc == KUMO_ENOTFOUND) {
        /* The only "not found" DynamoDB's data calls answer is the table's. */
        d->ready = 0;
        if (!d->create) {
            rc = table_missing(d);
        } else {
            rc = ensure_table(d);
            if (rc == 0) {
                json_incref(req);
                rc = call_raw(d, op, req, resp);
                if (rc == KUMO_ENOTFOUND)
                    rc = table_missing(d);
            }
        }
    }
    json_decref(req);
    return rc;
}

/* {"pk": {"S": "STORE#NN"}, "sk": {"B": base64(key)}} */
static json_t *item_key(ddb *d, const char *key, size_t klen)
{
    char pk[NAME_MAX_LEN + 8];
    shard_pk(d, shard_of(key, klen), pk, sizeof(pk));
    char *b = kumo__aws_b64_encode(key, klen);
    json_t *k = b ? json_pack("{s:{s:s}, s:{s:s}}", "pk", "S", pk, "sk", "B", b) : NULL;
    free(b);
    return k;
}

static int decode_binary(kumo__arena *a, json_t *attr, char **out, size_t *len)
{
    const char *s = json_string_value(json_object_get(attr, "B"));
    size_t n = s ? strlen(s) : 0;
    char *buf = kumo__arena_alloc(a, n / 4 * 3 + 4);
    if (buf == NULL)
        return KUMO_ENOMEM;
    long got = s ? kumo__aws_b64_decode(s, n, (unsigned char *)buf) : 0;
    if (got < 0)
        return KUMO_EIO;
    buf[got] = '\0';
    *out = buf;
    *len = (size_t)got;
    return 0;
}

static uint64_t number(json_t *attr)
{
    const char *s = json_string_value(json_object_get(attr, "N"));
    return s ? strtoull(s, NULL, 10) : 0;
}

static int expired(json_t *item, uint64_t now)
{
    json_t *e = json_object_get(item, "exp");
    return e && number(e) <= now;
}

/* The value of an item: `value` (S) as it is, else `value_b` (B) decoded. */
static int decode_value(kumo__arena *a, json_t *item, char **out, size_t *len)
{
    json_t *s = json_object_get(json_object_get(item, "value"), "S");
    if (s == NULL)
        return decode_binary(a, json_object_get(item, "value_b"), out, len);
    size_t n = json_string_length(s);
    char *buf = kumo__arena_alloc(a, n + 1);
    if (buf == NULL)
        return KUMO_ENOMEM;
    memcpy(buf, json_string_value(s), n);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Fills it from a returned item; values only when want_value. */
static int fill_item(kumo__arena *a, json_t *item, int want_value, kumo_kv_item *it)
{
    char *k, *v = NULL;
    size_t klen, vlen = 0;
    int rc = decode_binary(a, json_object_get(item, "sk"), &k, &klen);
    if (rc == 0 && want_value)
        rc = decode_value(a, item, &v, &vlen);
    if (rc != 0)
        return rc;
    it->key = k;
    it->value = v;
    it->len = vlen;
    it->version = number(json_object_get(item, "ver"));
    return 0;
}

static void ddb_close(kumo__store *kv)
{
    ddb *d = (ddb *)kv;
    if (d == NULL)
        return;
    kumo__aws_free(d->aws);
    free(d->table);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static int ddb_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    kumo__aws_url u;
    *out = NULL;
    int rc = kumo__aws_url_parse(url, "dynamodb", &u, e);
    if (rc != 0) {
        return rc;
    }
    ddb *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    pthread_mutex_init(&d->lock, NULL);
    if (strlen(name) > NAME_MAX_LEN) {
        kumo__error_set(e, KUMO_EINVAL, "store '%.40s...': a dynamodb store's name is at most %d bytes", name,
                        NAME_MAX_LEN);
        rc = KUMO_EINVAL;
        goto out;
    }
    if (*u.path) {
        kumo__error_set(e, KUMO_EINVAL, "store URL '%s': a table has no path; expected dynamodb://TABLE", url);
        rc = KUMO_EINVAL;
        goto out;
    }
    d->create = u.create;
    d->table = u.resource;
    u.resource = NULL;
    rc = kumo__aws_new("dynamodb", &u, d->base.error, sizeof(d->base.error), &d->aws, e);
    if (rc != 0) {
        goto out;
    }
    /* The table is looked up (and made) on the first call, so a store
     * opens while DynamoDB is unreachable and works once it answers. */
    *out = &d->base.store;
out:
    if (rc != 0)
        ddb_close(d ? &d->base.store : NULL);
    kumo__aws_url_free(&u);
    return rc;
}

static int ddb_get(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out)
{
    ddb *d = (ddb *)kv;
    json_t *resp = NULL;
    pthread_mutex_lock(&d->lock);
    json_t *k = item_key(d, key, klen);
    int rc = call(d, "GetItem",
                  k ? json_pack("{s:s, s:o, s:b}", "TableName", d->table, "Key", k, "ConsistentRead", 1) : NULL, &resp);
    pthread_mutex_unlock(&d->lock);
    if (rc != 0)
        goto out;
    json_t *item = json_object_get(resp, "Item");
    if (item == NULL || expired(item, kumo__aws_now_ms())) {
        rc = KUMO_ENOTFOUND;
        goto out;
    }
    rc = fill_item(a, item, 1, out);
out:
    json_decref(resp);
    return rc;
}

/* A string for UTF-8 bytes without NUL (which DynamoDB's S, like moto's,
 * may refuse, and text rarely holds), NULL for anything else. */
static json_t *text(const void *p, size_t len)
{
    if (len == 0)
        return json_string("");
    return memchr(p, '\0', len) ? NULL : json_stringn((const char *)p, len);
}

static int ddb_put(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen, uint64_t expect_version,
                   uint64_t ttl_ms, uint64_t *new_version)
{
    ddb *d = (ddb *)kv;
    json_t *resp = NULL, *req = NULL, *vtext = NULL, *ktext = NULL, *k = NULL, *names = NULL, *values = NULL;
    int rc = KUMO_ENOMEM;
    char *v64 = NULL, num[32];
    char update[256], cond[160] = "";
    uint64_t now = kumo__aws_now_ms();

    /* The key counts twice: sk and its text copy `key`. */
    if (vlen + 2 * klen + strlen(kv->name) + ITEM_OVERHEAD > ITEM_MAX) {
        snprintf(kv->error, sizeof(kv->error), "dynamodb: an item holds at most %u bytes (key twice and value)",
                 ITEM_MAX - ITEM_OVERHEAD);
        return KUMO_ETOOBIG;
    }
    vtext = text(val, vlen);
    ktext = text(key, klen);
    if (vtext == NULL && (v64 = kumo__aws_b64_encode(val, vlen)) == NULL)
        goto fail;
    k = item_key(d, key, klen);
    /* #val is the attribute this put sets, #other the one it removes. */
    names = json_pack("{s:s, s:s, s:s, s:s}", "#val", vtext ? "value" : "value_b", "#other",
                      vtext ? "value_b" : "value", "#ver", "ver", "#key", "key");
    values = json_object();
    if (k == NULL || names == NULL || values == NULL)
        goto fail;
    json_object_set_new(values, ":val", vtext ? json_pack("{s:O}", "S", vtext) : json_pack("{s:s}", "B", v64));
    if (ktext)
        json_object_set_new(values, ":key", json_pack("{s:O}", "S", ktext));
    snprintf(num, sizeof(num), "%llu", (unsigned long long)now * 1000);
    json_object_set_new(values, ":base", json_pack("{s:s}", "N", num));
    json_object_set_new(values, ":one", json_pack("{s:s}", "N", "1"));
    json_object_set_new(names, "#ttl", json_string("ttl"));
    json_object_set_new(names, "#exp", json_string("exp"));
    if (ttl_ms) {
        uint64_t exp = now + ttl_ms;
        snprintf(num, sizeof(num), "%llu", (unsigned long long)(exp + 999) / 1000);
        json_object_set_new(values, ":ttl", json_pack("{s:s}", "N", num));
        snprintf(num, sizeof(num), "%llu", (unsigned long long)exp);
        json_object_set_new(values, ":exp", json_pack("{s:s}", "N", num));
    }
    snprintf(update, sizeof(update), "SET #val = :val, #ver = if_not_exists(#ver, :base) + :one%s%s REMOVE #other%s%s",
             ktext ? ", #key = :key" : "", ttl_ms ? ", #ttl = :ttl, #exp = :exp" : "", ktext ? "" : ", #key",
             ttl_ms ? "" : ", #ttl, #exp");
    if (expect_version != UINT64_MAX) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)now);
        json_object_set_new(values, ":now", json_pack("{s:s}", "N", num));
        if (expect_version == 0) {
            snprintf(cond, sizeof(cond), "attribute_not_exists(#ver) OR #exp <= :now");
        } else {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)expect_version);
            json_object_set_new(values, ":expect", json_pack("{s:s}", "N", num));
            snprintf(cond, sizeof(cond), "#ver = :expect AND (attribute_not_exists(#exp) OR #exp > :now)");
        }
    }
    req = json_pack("{s:s, s:o, s:s, s:o, s:o, s:s}", "TableName", d->table, "Key", k, "UpdateExpression", update,
                    "ExpressionAttributeNames", names, "ExpressionAttributeValues", values, "ReturnValues",
                    "UPDATED_NEW");
    k = names = values = NULL;
    if (req == NULL)
        goto fail;
    if (*cond && json_object_set_new(req, "ConditionExpression", json_string(cond)) != 0)
        goto fail;
    pthread_mutex_lock(&d->lock);
    rc = call(d, "UpdateItem", req, &resp);
    pthread_mutex_unlock(&d->lock);
    req = NULL;
    if (rc == 0 && new_version)
        *new_version = number(json_object_get(json_object_get(resp, "Attributes"), "ver"));
    goto out;
fail:
    snprintf(kv->error, sizeof(kv->error), "out of memory");
    rc = KUMO_ENOMEM;
    json_decref(k);
    json_decref(names);
    json_decref(values);
out:
    json_decref(req);
    json_decref(resp);
    json_decref(vtext);
    json_decref(ktext);
    free(v64);
    return rc;
}

static int ddb_del(kumo__kv *kv, const char *key, size_t klen)
{
    ddb *d = (ddb *)kv;
    json_t *resp = NULL;
    char now[32];
    snprintf(now, sizeof(now), "%llu", (unsigned long long)kumo__aws_now_ms());
    pthread_mutex_lock(&d->lock);
    json_t *k = item_key(d, key, klen);
    json_t *req =
        k ? json_pack("{s:s, s:o, s:s, s:{s:s, s:s}, s:{s:{s:s}}}", "TableName", d->table, "Key", k,
                      "ConditionExpression", "attribute_exists(#ver) AND (attribute_not_exists(#exp) OR #exp > :now)",
                      "ExpressionAttributeNames", "#ver", "ver", "#exp", "exp", "ExpressionAttributeValues", ":now",
                      "N", now)
          : NULL;
    int rc = call(d, "DeleteItem", req, &resp);
    pthread_mutex_unlock(&d->lock);
    json_decref(resp);
    /* The condition failing means there was nothing (live) to delete. */
    return rc == KUMO_ECONFLICT ? KUMO_ENOTFOUND : rc;
}

static int by_key(const void *x, const void *y)
{
    return strcmp(((const kumo_kv_item *)x)->key, ((const kumo_kv_item *)y)->key);
}

/* Appends to items[*count] up to want live items of one shard whose keys
 * start with the prefix (p64, NULL for none), after c64 (NULL: from the
 * start). Called with the lock held. */
static int query_shard(ddb *d, kumo__arena *a, unsigned shard, const char *p64, const char *c64, size_t want,
                       int values, uint64_t now, kumo_kv_item *items, size_t *count)
{
    char pk[NAME_MAX_LEN + 8];
    json_t *start = NULL, *resp = NULL;
    size_t got = 0;
    int rc = 0;
    shard_pk(d, shard, pk, sizeof(pk));
    if (c64 && (start = json_pack("{s:{s:s}, s:{s:s}}", "pk", "S", pk, "sk", "B", c64)) == NULL)
        return KUMO_ENOMEM;
    for (;;) {
        json_t *req = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}}, s:b, s:I}", "TableName", d->table,
                                "KeyConditionExpression", p64 ? "#pk = :pk AND begins_with(#sk, :p)" : "#pk = :pk",
                                "ExpressionAttributeNames", "#pk", "pk", "ExpressionAttributeValues", ":pk", "S", pk,
                                "ConsistentRead", 1, "Limit", (json_int_t)(want - got));
        if (req == NULL) {
            rc = KUMO_ENOMEM;
            break;
        }
        json_t *names = json_object_get(req, "ExpressionAttributeNames");
        if (p64) {
            json_object_set_new(names, "#sk", json_string("sk"));
            json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":p", json_pack("{s:s}", "B", p64));
        }
        if (!values) {
            json_object_set_new(names, "#sk", json_string("sk"));
            json_object_set_new(names, "#ver", json_string("ver"));
            json_object_set_new(names, "#exp", json_string("exp"));
            json_object_set_new(req, "ProjectionExpression", json_string("#sk, #ver, #exp"));
        }
        if (start) {
            json_object_set_new(req, "ExclusiveStartKey", start);
            start = NULL;
        }
        rc = call(d, "Query", req, &resp);
        if (rc != 0)
            break;
        json_t *arr = json_object_get(resp, "Items"), *item;
        size_t i;
        json_array_foreach(arr, i, item)
        {
            if (got == want)
                break;
            if (expired(item, now))
                continue;
            if ((rc = fill_item(a, item, values, &items[*count])) != 0)
                break;
            (*count)++;
            got++;
        }
        json_t *last = json_object_get(resp, "LastEvaluatedKey");
        if (rc != 0 || got == want || last == NULL)
            break;
        start = json_incref(last);
        json_decref(resp);
        resp = NULL;
    }
    json_decref(start);
    json_decref(resp);
    return rc;
}

/* The merge of the SHARDS partitions: each gives its first limit+1 live keys
 * after the cursor, the union sorted is cut at limit (one more key says
 * there is a next page, whose cursor is this page's last key). */
static int ddb_list(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                    kumo_kv_page *out)
{
    ddb *d = (ddb *)kv;
    size_t plen = strlen(prefix), count = 0;
    int rc = 0;
    uint64_t now = kumo__aws_now_ms();
    char *p64 = NULL, *c64 = NULL;

    kumo_kv_item *items = kumo__arena_alloc(a, (limit + 1) * SHARDS * sizeof(*items));
    if (items == NULL)
        return KUMO_ENOMEM;
    if (cursor) {
        size_t clen = strlen(cursor);
        if (clen >= plen && memcmp(cursor, prefix, plen) == 0) {
            if ((c64 = kumo__aws_b64_encode(cursor, clen)) == NULL)
                return KUMO_ENOMEM;
        } else if (memcmp(cursor, prefix, clen < plen ? clen : plen) > 0) {
            goto done; /* the cursor is past every key with the prefix */
        }
        /* else the cursor sorts before the prefix: start at the prefix */
    }
    if (plen && (p64 = kumo__aws_b64_encode(prefix, plen)) == NULL) {
        free(c64);
        return KUMO_ENOMEM;
    }
    pthread_mutex_lock(&d->lock);
    for (unsigned shard = 0; shard < SHARDS && rc == 0; shard++)
        rc = query_shard(d, a, shard, p64, c64, limit + 1, values, now, items, &count);
    pthread_mutex_unlock(&d->lock);
    free(p64);
    free(c64);
    if (rc != 0)
        return rc;
    qsort(items, count, sizeof(*items), by_key);
done:
    out->items = items;
    out->count = count > limit ? limit : count;
    out->next = count > limit ? items[limit - 1].key : NULL;
    return 0;
}

/* Reads out[i] for keys[first..first+n) (distinct keys, n <= BATCH_MAX). */
static int batch_get(ddb *d, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out, uint64_t now)
{
    json_t *ks = json_array(), *resp = NULL;
    int rc = 0;
    if (ks == NULL)
        return KUMO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (out[i].key == NULL) /* a duplicate of an earlier key */
            continue;
        json_t *k = item_key(d, keys[i], strlen(keys[i]));
        if (k == NULL || json_array_append_new(ks, k) != 0) {
            json_decref(ks);
            return KUMO_ENOMEM;
        }
    }
    json_t *request = json_pack("{s:{s:o, s:b}}", d->table, "Keys", ks, "ConsistentRead", 1);
    for (int tries = 0; request && json_array_size(json_object_get(json_object_get(request, d->table), "Keys"));
         tries++) {
        if (tries == UNPROCESSED_TRIES) {
            snprintf(d->base.error, sizeof(d->base.error), "dynamodb: BatchGetItem left keys unprocessed %d times",
                     UNPROCESSED_TRIES);
            rc = KUMO_EUNAVAILABLE;
            break;
        }
        if (tries)
            sleep_ms(50L << tries);
        rc = call(d, "BatchGetItem", json_pack("{s:O}", "RequestItems", request), &resp);
        if (rc != 0)
            break;
        json_t *items = json_object_get(json_object_get(resp, "Responses"), d->table), *item;
        size_t j;
        json_array_foreach(items, j, item)
        {
            if (expired(item, now))
                continue;
            kumo_kv_item got;
            if ((rc = fill_item(a, item, 1, &got)) != 0)
                break;
            for (size_t i = 0; i < n; i++)
                if (out[i].key && out[i].value == NULL && strcmp(keys[i], got.key) == 0) {
                    out[i] = got;
                    break;
                }
        }
        json_t *left = json_incref(json_object_get(json_object_get(resp, "UnprocessedKeys"), d->table));
        json_decref(resp);
        resp = NULL;
        json_decref(request);
        request = left ? json_pack("{s:o}", d->table, left) : NULL;
        if (rc != 0)
            break;
    }
    json_decref(request);
    return rc;
}

static int ddb_get_many(kumo__kv *kv, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out)
{
    ddb *d = (ddb *)kv;
    uint64_t now = kumo__aws_now_ms();
    int rc = 0;
    /* out[i].key marks a key to fetch; a repeated key is fetched once and
     * copied afterwards (BatchGetItem refuses duplicates). */
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        int dup = 0;
        for (size_t j = i - i % BATCH_MAX; j < i && !dup; j++)
            dup = strcmp(keys[i], keys[j]) == 0;
        if (!dup && (out[i].key = kumo__arena_strndup(a, keys[i], strlen(keys[i]))) == NULL)
            return KUMO_ENOMEM;
    }
    pthread_mutex_lock(&d->lock);
    for (size_t first = 0; first < n && rc == 0; first += BATCH_MAX) {
        size_t m = n - first < BATCH_MAX ? n - first : BATCH_MAX;
        rc = batch_get(d, a, keys + first, m, out + first, now);
    }
    pthread_mutex_unlock(&d->lock);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (out[i].key != NULL)
            continue;
        for (size_t j = i - i % BATCH_MAX; j < i; j++)
            if (out[j].key && strcmp(keys[i], keys[j]) == 0) {
                out[i] = out[j];
                break;
            }
    }
    return 0;
}

const kumo__kv_driver kumo__kv_dynamodb_driver = {
    .common = {.version = KUMO__KV_DRIVER_VERSION, .scheme = "dynamodb", .open = ddb_open, .close = ddb_close},
    .get = ddb_get,
    .put = ddb_put,
    .del = ddb_del,
    .list = ddb_list,
    .get_many = ddb_get_many,
};
