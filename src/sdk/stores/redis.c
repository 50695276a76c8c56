/*
 * redis.c: the Redis kv driver, `redis://[[user]:password@]host[:port][/db]`
 * with the query options timeout_ms= (connect and command timeout, default
 * 5000) and create= (accepted for uniformity: Redis needs no DDL).
 *
 * Layout, per store (names are [A-Za-z0-9_-], so they cannot clash):
 *
 *   kumo:<store>:k:<key>   a hash {v: value, n: version}, with PEXPIRE for a TTL
 *   kumo:<store>:keys      a sorted set of every key, all at score 0: the index
 *   kumo:<store>:clock     the store's version counter (INCR)
 *
 * Every write is one Lua script, so it is atomic on the server: put reads
 * the current version, compares it for a CAS, takes the next version from
 * the clock, writes the hash, sets or clears its expiry and adds the key to
 * the index. Versions come from the clock and are never reused, even after
 * a delete and a re-create (no ABA), and never 0.
 *
 * Listing reads the index with ZRANGEBYLEX, which compares members with
 * memcmp: byte order, as kumo.h promises, and stable under concurrent
 * writes (a cursor is the last key returned; the next page starts just past
 * it). A key whose hash expired stays in the index until a listing meets it
 * and removes it (the script does); a delete removes both at once. Listing
 * is a script too, so a page never shows a key its hash no longer has.
 *
 * Not for Redis Cluster: a script touches a store's keys and its index,
 * which a cluster would put in different slots.
 */
#include "sdk/stores/redis_conn.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX (16u << 20)

enum { SC_PUT, SC_DEL, SC_LIST, SC_COUNT };

static const char *const scripts[SC_COUNT] = {
    /* KEYS: data key, index, clock. ARGV: value, expected version ("" for
     * none, "0" for absent), ttl ms ("0": none), index member. Returns the
     * new version, or -1 on a version mismatch. */
    [SC_PUT] = "local cur = redis.call('HGET', KEYS[1], 'n')\n"
               "if ARGV[2] ~= '' then\n"
               "  if ARGV[2] == '0' then if cur then return -1 end\n"
               "  elseif cur ~= ARGV[2] then return -1 end\n"
               "end\n"
               "local v = redis.call('INCR', KEYS[3])\n"
               "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', v)\n"
               "if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
               "elseif cur then redis.call('PERSIST', KEYS[1]) end\n"
               "redis.call('ZADD', KEYS[2], 0, ARGV[4])\n"
               "return v\n",
    /* KEYS: data key, index. ARGV: index member. Returns 1 when it existed. */
    [SC_DEL] = "redis.call('ZREM', KEYS[2], ARGV[1])\n"
               "return redis.call('DEL', KEYS[1])\n",
    /* KEYS: index. ARGV: min, max (ZRANGEBYLEX syntax), limit + 1, values
     * ("1"/"0"), data key prefix. Returns {key, value, version, ...} of the
     * live keys, at most limit + 1; drops index entries whose hash expired. */
    [SC_LIST] = "local out, min, want = {}, ARGV[1], tonumber(ARGV[3])\n"
                "while #out < 3 * want do\n"
                "  local batch = redis.call('ZRANGEBYLEX', KEYS[1], min, ARGV[2], 'LIMIT', 0, want)\n"
                "  if #batch == 0 then break end\n"
                "  for _, m in ipairs(batch) do\n"
                "    local r\n"
                "    if ARGV[4] == '1' then r = redis.call('HMGET', ARGV[5] .. m, 'v', 'n')\n"
                "    else r = {'', redis.call('HGET', ARGV[5] .. m, 'n')} end\n"
                "    if r[2] then\n"
                "      out[#out + 1] = m; out[#out + 1] = r[1]; out[#out + 1] = r[2]\n"
                "      if #out == 3 * want then break end\n"
                "    else redis.call('ZREM', KEYS[1], m) end\n"
                "  end\n"
                "  min = '(' .. batch[#batch]\n"
                "end\n"
                "return out\n",
};

typedef struct redis_kv {
    kumo__kv base; /* first: the store layer sees a kumo__kv */
    kumo__redis r;
    kumo__redis_script scripts[SC_COUNT];
    pthread_mutex_t lock;
} redis_kv;

/* "kumo:<store>:<kind>" followed by `key` (may be NULL), malloc'd. */
static char *name_of(redis_kv *s, const char *kind, const char *key, size_t klen, size_t *len)
{
    size_t head = strlen("kumo:") + strlen(s->base.name) + 1 + strlen(kind);
    char *b = malloc(head + klen + 1);
    if (b == NULL)
        return NULL;
    snprintf(b, head + 1, "kumo:%s:%s", s->base.name, kind);
    if (klen)
        memcpy(b + head, key, klen);
    b[head + klen] = '\0';
    *len = head + klen;
    return b;
}

static void redis_close(kumo__store *kv)
{
    redis_kv *s = (redis_kv *)kv;
    if (s == NULL)
        return;
    kumo__redis_free(&s->r);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int redis_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    *out = NULL;
    redis_kv *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    int rc = kumo__redis_open(&s->r, url, s->scripts, scripts, SC_COUNT, s->base.error, sizeof(s->base.error), e);
    if (rc != 0) {
        redis_close(&s->base.store);
        return rc;
    }
    *out = &s->base.store;
    return 0;
}

/* Copies a reply string into the arena (NUL-terminated). */
static char *dup_reply(kumo__arena *a, const redisReply *r)
{
    return kumo__arena_strndup(a, r->str, r->len);
}

/* Fills `out` from an HMGET v n reply: 0 or KUMO_ENOTFOUND. */
static int item_of(kumo__arena *a, const redisReply *rep, const char *key, size_t klen, kumo_kv_item *out)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[1]->type != REDIS_REPLY_STRING)
        return KUMO_ENOTFOUND;
    const redisReply *v = rep->element[0];
    char *value = v->type == REDIS_REPLY_STRING ? dup_reply(a, v) : kumo__arena_strndup(a, "", 0);
    char *k = kumo__arena_strndup(a, key, klen);
    if (value == NULL || k == NULL)
        return KUMO_ENOMEM;
    out->key = k;
    out->value = value;
    out->len = v->type == REDIS_REPLY_STRING ? v->len : 0;
    out->version = strtoull(rep->element[1]->str, NULL, 10);
    return 0;
}

static int redis_get(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out)
{
    redis_kv *s = (redis_kv *)kv;
    size_t dlen = 0;
    char *dkey = name_of(s, "k:", key, klen, &dlen);
    if (dkey == NULL)
        return KUMO_ENOMEM;
    const char *argv[] = {"HMGET", dkey, "v", "n"};
    const size_t lens[] = {5, dlen, 1, 1};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_command(&s->r, &rep, 4, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        rc = item_of(a, rep, key, klen, out);
    if (rep)
        freeReplyObject(rep);
    free(dkey);
    return rc;
}

static int redis_get_many(kumo__kv *kv, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out)
{
    redis_kv *s = (redis_kv *)kv;
    int rc = 0;
    size_t sent = 0, got = 0;
    pthread_mutex_lock(&s->lock);
    rc = kumo__redis_ready(&s->r);
    if (rc != 0)
        goto out;
    /* Pipelined: every HMGET is sent, then every reply read. */
    for (; sent < n; sent++) {
        size_t dlen = 0;
        char *dkey = name_of(s, "k:", keys[sent], strlen(keys[sent]), &dlen);
        if (dkey == NULL) {
            rc = KUMO_ENOMEM;
            break;
        }
        const char *argv[] = {"HMGET", dkey, "v", "n"};
        const size_t lens[] = {5, dlen, 1, 1};
        int ok = redisAppendCommandArgv(s->r.c, 4, argv, lens);
        free(dkey);
        if (ok != REDIS_OK) {
            rc = KUMO_ENOMEM;
            break;
        }
    }
    for (; got < sent; got++) {
        redisReply *rep = NULL;
        if (redisGetReply(s->r.c, (void **)&rep) != REDIS_OK || rep == NULL) {
            snprintf(s->base.error, sizeof(s->base.error), "redis: %s", s->r.c->errstr);
            redisFree(s->r.c);
            s->r.c = NULL;
            rc = KUMO_EUNAVAILABLE;
            goto out;
        }
        memset(&out[got], 0, sizeof(out[got]));
        int irc = 0;
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(s->base.error, sizeof(s->base.error), "redis: %s", rep->str);
            irc = KUMO_EIO;
        } else {
            irc = item_of(a, rep, keys[got], strlen(keys[got]), &out[got]);
        }
        freeReplyObject(rep);
        if (irc == KUMO_ENOTFOUND) {
            out[got].key = kumo__arena_strndup(a, keys[got], strlen(keys[got]));
            out[got].value = NULL;
            if (out[got].key == NULL)
                irc = KUMO_ENOMEM;
            else
                irc = 0;
        }
        if (irc != 0 && rc == 0)
            rc = irc;
    }
out:
    /* Replies left unread would answer the next call: drop the connection. */
    if (got < sent && s->r.c) {
        redisFree(s->r.c);
        s->r.c = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int redis_put(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen, uint64_t expect_version,
                     uint64_t ttl_ms, uint64_t *new_version)
{
    redis_kv *s = (redis_kv *)kv;
    if (vlen > VALUE_MAX)
        return KUMO_ETOOBIG;
    size_t dlen = 0, ilen = 0, clen = 0;
    char *dkey = name_of(s, "k:", key, klen, &dlen);
    char *ikey = name_of(s, "keys", NULL, 0, &ilen);
    char *ckey = name_of(s, "clock", NULL, 0, &clen);
    char expect[24] = "", ttl[24];
    if (expect_version != UINT64_MAX)
        snprintf(expect, sizeof(expect), "%" PRIu64, expect_version);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms);
    int rc = KUMO_ENOMEM;
    redisReply *rep = NULL;
    if (dkey == NULL || ikey == NULL || ckey == NULL)
        goto out;
    const char *argv[] = {dkey, ikey, ckey, val, expect, ttl, key};
    const size_t lens[] = {dlen, ilen, clen, vlen, strlen(expect), strlen(ttl), klen};
    pthread_mutex_lock(&s->lock);
    rc = kumo__redis_eval(&s->r, &rep, SC_PUT, 3, 7, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        goto out;
    if (rep->type != REDIS_REPLY_INTEGER) {
        snprintf(s->base.error, sizeof(s->base.error), "redis: put script gave an unexpected reply");
        rc = KUMO_EIO;
    } else if (rep->integer < 0) {
        rc = KUMO_ECONFLICT;
    } else if (new_version) {
        *new_version = (uint64_t)rep->integer;
    }
out:
    if (rep)
        freeReplyObject(rep);
    free(dkey);
    free(ikey);
    free(ckey);
    return rc;
}

static int redis_del(kumo__kv *kv, const char *key, size_t klen)
{
    redis_kv *s = (redis_kv *)kv;
    size_t dlen = 0, ilen = 0;
    char *dkey = name_of(s, "k:", key, klen, &dlen);
    char *ikey = name_of(s, "keys", NULL, 0, &ilen);
    int rc = KUMO_ENOMEM;
    redisReply *rep = NULL;
    if (dkey == NULL || ikey == NULL)
        goto out;
    const char *argv[] = {dkey, ikey, key};
    const size_t lens[] = {dlen, ilen, klen};
    pthread_mutex_lock(&s->lock);
    rc = kumo__redis_eval(&s->r, &rep, SC_DEL, 2, 3, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && (rep->type != REDIS_REPLY_INTEGER || rep->integer == 0))
        rc = KUMO_ENOTFOUND;
out:
    if (rep)
        freeReplyObject(rep);
    free(dkey);
    free(ikey);
    return rc;
}

/* memcmp order with the shorter first on a tie: Redis's lexicographic order. */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int redis_list(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                      kumo_kv_page *out)
{
    redis_kv *s = (redis_kv *)kv;
    size_t plen = strlen(prefix);
    int rc = KUMO_ENOMEM;
    redisReply *rep = NULL;
    char *min = NULL, *max = NULL, *ikey = NULL, *dprefix = NULL;
    size_t minlen = 0, maxlen = 0, ilen = 0, dplen = 0;

    /* min: "[prefix", or "(cursor" when the cursor is at or past it; "-"
     * when both are empty. max: "(" and the prefix's successor, or "+". */
    size_t clen = cursor ? strlen(cursor) : 0;
    int after = cursor && bytes_cmp(cursor, clen, prefix, plen) >= 0;
    const char *lo = after ? cursor : prefix;
    size_t lolen = after ? clen : plen;
    min = malloc(lolen + 2);
    max = malloc(plen + 2);
    if (min == NULL || max == NULL)
        goto out;
    if (lolen == 0 && !after) {
        strcpy(min, "-");
        minlen = 1;
    } else {
        min[0] = after ? '(' : '[';
        memcpy(min + 1, lo, lolen);
        minlen = lolen + 1;
    }
    size_t ulen = plen;
    while (ulen > 0 && (unsigned char)prefix[ulen - 1] == 0xff)
        ulen--;
    if (ulen == 0) {
        strcpy(max, "+");
        maxlen = 1;
    } else {
        max[0] = '(';
        memcpy(max + 1, prefix, ulen);
        max[ulen] = (char)((unsigned char)max[ulen] + 1);
        maxlen = ulen + 1;
    }
    ikey = name_of(s, "keys", NULL, 0, &ilen);
    dprefix = name_of(s, "k:", NULL, 0, &dplen);
    kumo_kv_item *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (ikey == NULL || dprefix == NULL || items == NULL)
        goto out;
    char want[24];
    snprintf(want, sizeof(want), "%zu", limit + 1);
    const char *argv[] = {ikey, min, max, want, values ? "1" : "0", dprefix};
    const size_t lens[] = {ilen, minlen, maxlen, strlen(want), 1, dplen};
    pthread_mutex_lock(&s->lock);
    rc = kumo__redis_eval(&s->r, &rep, SC_LIST, 1, 6, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        goto out;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 3 != 0) {
        snprintf(s->base.error, sizeof(s->base.error), "redis: list script gave an unexpected reply");
        rc = KUMO_EIO;
        goto out;
    }
    size_t n = rep->elements / 3, count = 0;
    for (; count < n && count < limit; count++) {
        redisReply **e = rep->element + 3 * count;
        kumo_kv_item *it = &items[count];
        it->key = dup_reply(a, e[0]);
        it->value = values ? dup_reply(a, e[1]) : NULL;
        it->len = values ? e[1]->len : 0;
        it->version = strtoull(e[2]->str, NULL, 10);
        if (it->key == NULL || (values && it->value == NULL)) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    }
    out->items = items;
    out->count = count;
    out->next = n > limit ? items[count - 1].key : NULL;
out:
    if (rep)
        freeReplyObject(rep);
    free(min);
    free(max);
    free(ikey);
    free(dprefix);
    return rc;
}

const kumo__kv_driver kumo__kv_redis_driver = {
    .common = {.version = KUMO__KV_DRIVER_VERSION, .scheme = "redis", .open = redis_open, .close = redis_close},
    .get = redis_get,
    .put = redis_put,
    .del = redis_del,
    .list = redis_list,
    .get_many = redis_get_many,
};
