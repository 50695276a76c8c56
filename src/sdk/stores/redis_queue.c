/*
 * redis_queue.c: the Redis queue driver on Streams,
 * `redis://host:port/db?max_receives=5&create=true&timeout_ms=5000`.
 *
 * Layout, per queue (kumo:<name>:...):
 *
 *   stream     the messages, entries {id, b: body, t: send time (ms),
 *              p: the sender's traceparent, when it had one};
 *              consumer group "kumo"
 *   inflight   sorted set: stream entry id -> when its visibility ends (ms)
 *   receipts   hash: stream entry id -> the token of its current receive
 *   delayed    sorted set: message id -> when it becomes visible (ms)
 *   delayed-bodies  hash: message id -> body, for messages sent with a delay
 *   delayed-sent    hash: message id -> its send time (ms), likewise
 *   delayed-trace   hash: message id -> its traceparent, likewise
 *   notify     list of at most one token, pushed by a send without a delay:
 *              wait (the gateway's consumers) BLPOPs it
 *
 * send XADDs the entry (or, with a delay, parks it in delayed). receive is
 * one Lua script, atomic on the server and timed by the server's clock
 * (TIME, so clients' clocks do not matter): it moves the delayed messages
 * that are due into the stream; takes back the in-flight entries whose
 * visibility ran out (oldest deadline first) with XCLAIM, which bumps the
 * entry's delivery count, or, when that count already reached
 * max_receives, moves the message to the queue NAME-dead (XADD there, XACK
 * and XDEL here) instead; then reads new entries with XREADGROUP ... '>'.
 * Each delivered entry gets a deadline in inflight and a fresh random token
 * in receipts. The message's `receives` is the stream's delivery count,
 * its `sent_ms` the entry's t (or, for an entry written before t, the
 * time in its stream id: when it was added).
 *
 * Why a deadline set and not XAUTOCLAIM: the visibility timeout is chosen
 * per receive (kumo_queue_receive's visibility_ms), while XAUTOCLAIM only
 * knows one idle time for the whole group.
 *
 * A receipt is "<entry id>:<token>". ack checks the token (a stale receipt,
 * whose message was received again since, is KUMO_ENOTFOUND) then XACK and
 * XDEL. nack has XCLAIM semantics: the entry stays pending where it is, its
 * deadline moves to now + delay and its token is dropped, so the next
 * receive after the delay claims it again (counting one more receive). The
 * message keeps its id and its place; no copy is made.
 *
 * Every receiver uses the one consumer name "kumo": visibility is tracked
 * in inflight, so which consumer owns a pending entry does not matter, and
 * the group does not collect one consumer per process that ever ran.
 * The group is created (from id 0, so nothing sent earlier is missed) by
 * receive when absent, unless create=false.
 */
#include "sdk/stores/redis_conn.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (16u << 20)
#define ID_BYTES 12
#define TOKEN_BYTES 12

enum { SC_SEND, SC_RECEIVE, SC_ACK, SC_NACK, SC_COUNT };

#define NOW "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

static const char *const scripts[SC_COUNT] = {
    /* KEYS: stream, delayed, delayed-bodies, delayed-sent, notify, delayed-trace.
     * ARGV: id, body, delay ms, traceparent ("" for none). */
    [SC_SEND] = NOW "if ARGV[3] == '0' then\n"
                    "  if ARGV[4] ~= '' then\n"
                    "    redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'b', ARGV[2], 't', now, 'p', ARGV[4])\n"
                    "  else redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'b', ARGV[2], 't', now) end\n"
                    "  redis.call('LPUSH', KEYS[5], '1')\n"
                    "  redis.call('LTRIM', KEYS[5], 0, 0)\n"
                    "else\n"
                    "  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])\n"
                    "  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])\n"
                    "  redis.call('HSET', KEYS[4], ARGV[1], now)\n"
                    "  if ARGV[4] ~= '' then redis.call('HSET', KEYS[6], ARGV[1], ARGV[4]) end\n"
                    "end\n"
                    "return 1\n",
    /* KEYS: stream, inflight, receipts, delayed, delayed-bodies, dead stream,
     * delayed-sent, notify (unused), delayed-trace.
     * ARGV: max, visibility ms, max_receives, token base, create ("1"/"0").
     * Returns {entry id, message id, body, receives, token, sent ms,
     * traceparent ("" for none), ...};
     * sent ms is the entry's t field, or the ms part of its stream id (when
     * it was added) for an entry sent before kumo wrote t. */
    [SC_RECEIVE] =
        NOW "local max, vis, maxr = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
            "if ARGV[5] == '1' then pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], 'kumo', '0', 'MKSTREAM') end\n"
            "local function add(key, id, b, t, p)\n"
            "  if p and p ~= '' then redis.call('XADD', key, '*', 'id', id, 'b', b, 't', t, 'p', p)\n"
            "  else redis.call('XADD', key, '*', 'id', id, 'b', b, 't', t) end\n"
            "end\n"
            "local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)\n"
            "for _, id in ipairs(due) do\n"
            "  local b = redis.call('HGET', KEYS[5], id)\n"
            "  local t = redis.call('HGET', KEYS[7], id) or now\n"
            "  if b then add(KEYS[1], id, b, t, redis.call('HGET', KEYS[9], id)) end\n"
            "  redis.call('ZREM', KEYS[4], id)\n"
            "  redis.call('HDEL', KEYS[5], id)\n"
            "  redis.call('HDEL', KEYS[7], id)\n"
            "  redis.call('HDEL', KEYS[9], id)\n"
            "end\n"
            "local out, n = {}, 0\n"
            "local function fields(sid, f)\n"
            "  local id, b, t, p\n"
            "  for i = 1, #f, 2 do\n"
            "    if f[i] == 'id' then id = f[i + 1] elseif f[i] == 'b' then b = f[i + 1]\n"
            "    elseif f[i] == 't' then t = f[i + 1] elseif f[i] == 'p' then p = f[i + 1] end\n"
            "  end\n"
            "  return id, b or '', t or string.match(sid, '^%d+'), p or ''\n"
            "end\n"
            "local function forget(sid)\n"
            "  redis.call('XACK', KEYS[1], 'kumo', sid)\n"
            "  redis.call('XDEL', KEYS[1], sid)\n"
            "  redis.call('ZREM', KEYS[2], sid)\n"
            "  redis.call('HDEL', KEYS[3], sid)\n"
            "end\n"
            "local function deliver(sid, id, b, receives, t, p)\n"
            "  n = n + 1\n"
            "  local token = ARGV[4] .. n\n"
            "  redis.call('ZADD', KEYS[2], now + vis, sid)\n"
            "  redis.call('HSET', KEYS[3], sid, token)\n"
            "  out[#out + 1] = sid; out[#out + 1] = id or sid; out[#out + 1] = b\n"
            "  out[#out + 1] = receives; out[#out + 1] = token; out[#out + 1] = t; out[#out + 1] = p\n"
            "end\n"
            "local rounds = 0\n"
            "while n < max and rounds < 10 do\n"
            "  rounds = rounds + 1\n"
            "  local exp = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, max - n)\n"
            "  if #exp == 0 then break end\n"
            "  for _, sid in ipairs(exp) do\n"
            "    local p = redis.call('XPENDING', KEYS[1], 'kumo', sid, sid, 1)\n"
            "    local e = redis.call('XRANGE', KEYS[1], sid, sid)\n"
            "    if #p == 0 or #e == 0 then forget(sid)\n"
            "    else\n"
            "      local id, b, t, tp = fields(sid, e[1][2])\n"
            "      local count = tonumber(p[1][4])\n"
            "      if count >= maxr then\n"
            "        add(KEYS[6], id or sid, b, t, tp)\n"
            "        forget(sid)\n"
            "      else\n"
            "        redis.call('XCLAIM', KEYS[1], 'kumo', 'kumo', 0, sid)\n"
            "        deliver(sid, id, b, count + 1, t, tp)\n"
            "      end\n"
            "    end\n"
            "  end\n"
            "end\n"
            "if n < max then\n"
            "  local r = redis.call('XREADGROUP', 'GROUP', 'kumo', 'kumo', 'COUNT', max - n, 'STREAMS', KEYS[1], '>')\n"
            "  if r then\n"
            "    for _, e in ipairs(r[1][2]) do\n"
            "      local id, b, t, p = fields(e[1], e[2])\n"
            "      deliver(e[1], id, b, 1, t, p)\n"
            "    end\n"
            "  end\n"
            "end\n"
            "return out\n",
    /* KEYS: stream, inflight, receipts. ARGV: entry id, token. */
    [SC_ACK] = "if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end\n"
               "redis.call('XACK', KEYS[1], 'kumo', ARGV[1])\n"
               "redis.call('XDEL', KEYS[1], ARGV[1])\n"
               "redis.call('ZREM', KEYS[2], ARGV[1])\n"
               "redis.call('HDEL', KEYS[3], ARGV[1])\n"
               "return 1\n",
    /* KEYS: inflight, receipts. ARGV: entry id, token, delay ms. */
    [SC_NACK] = "if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end\n" NOW
                "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])\n"
                "redis.call('HDEL', KEYS[2], ARGV[1])\n"
                "return 1\n",
};

enum { K_STREAM, K_INFLIGHT, K_RECEIPTS, K_DELAYED, K_BODIES, K_DEAD, K_SENT, K_NOTIFY, K_TRACE, K_COUNT };

typedef struct redis_queue {
    kumo__queue base; /* first: the store layer sees a kumo__queue */
    kumo__redis r;
    kumo__redis_script scripts[SC_COUNT];
    char *keys[K_COUNT];
    size_t klen[K_COUNT];
    pthread_mutex_t lock;
} redis_queue;

static void rq_close(kumo__store *q)
{
    redis_queue *s = (redis_queue *)q;
    if (s == NULL)
        return;
    kumo__redis_free(&s->r);
    for (int i = 0; i < K_COUNT; i++)
        free(s->keys[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int rq_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    static const char *const suffix[K_COUNT] = {"stream", "inflight",     "receipts", "delayed",      "delayed-bodies",
                                                "stream", "delayed-sent", "notify",   "delayed-trace"};
    *out = NULL;
    redis_queue *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    int rc = KUMO_ENOMEM;
    for (int i = 0; i < K_COUNT; i++) {
        int n = asprintf(&s->keys[i], "kumo:%s%s:%s", name, i == K_DEAD ? "-dead" : "", suffix[i]);
        if (n < 0) {
            s->keys[i] = NULL;
            kumo__error_set(e, KUMO_ENOMEM, "out of memory");
            goto out;
        }
        s->klen[i] = (size_t)n;
    }
    rc = kumo__redis_open(&s->r, url, s->scripts, scripts, SC_COUNT, s->base.error, sizeof(s->base.error), e);
    s->base.max_receives = s->r.max_receives;
out:
    if (rc != 0) {
        rq_close(&s->base.store);
        return rc;
    }
    *out = &s->base.store;
    return 0;
}

static int rq_send(kumo__queue *q, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms, const char *trace,
                   const char **id)
{
    redis_queue *s = (redis_queue *)q;
    if (len > BODY_MAX)
        return KUMO_ETOOBIG;
    char mid[2 * ID_BYTES + 1], delay[24];
    if (kumo__random_hex(mid, ID_BYTES) != 0)
        return KUMO_EIO;
    snprintf(delay, sizeof(delay), "%" PRIu64, delay_ms);
    const char *tp = trace ? trace : "";
    const char *argv[] = {s->keys[K_STREAM],
                          s->keys[K_DELAYED],
                          s->keys[K_BODIES],
                          s->keys[K_SENT],
                          s->keys[K_NOTIFY],
                          s->keys[K_TRACE],
                          mid,
                          body,
                          delay,
                          tp};
    const size_t lens[] = {s->klen[K_STREAM], s->klen[K_DELAYED], s->klen[K_BODIES], s->klen[K_SENT],
                           s->klen[K_NOTIFY], s->klen[K_TRACE],   strlen(mid),       len,
                           strlen(delay),     strlen(tp)};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_eval(&s->r, &rep, SC_SEND, 6, 10, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rep)
        freeReplyObject(rep);
    if (rc == 0 && id) {
        *id = kumo__arena_strndup(a, mid, strlen(mid));
        if (*id == NULL)
            rc = KUMO_ENOMEM;
    }
    return rc;
}

static int rq_receive(kumo__queue *q, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                      size_t *count)
{
    redis_queue *s = (redis_queue *)q;
    char smax[24], vis[24], maxr[24], token[2 * TOKEN_BYTES + 2];
    *count = 0;
    if (kumo__random_hex(token, TOKEN_BYTES) != 0)
        return KUMO_EIO;
    strcat(token, "-");
    snprintf(smax, sizeof(smax), "%zu", max);
    snprintf(vis, sizeof(vis), "%" PRIu64, visibility_ms);
    snprintf(maxr, sizeof(maxr), "%u", s->base.max_receives ? s->base.max_receives : 5);
    const char *argv[K_COUNT + 5];
    size_t lens[K_COUNT + 5];
    for (int i = 0; i < K_COUNT; i++) {
        argv[i] = s->keys[i];
        lens[i] = s->klen[i];
    }
    const char *extra[] = {smax, vis, maxr, token, s->r.create ? "1" : "0"};
    for (int i = 0; i < 5; i++) {
        argv[K_COUNT + i] = extra[i];
        lens[K_COUNT + i] = strlen(extra[i]);
    }
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_eval(&s->r, &rep, SC_RECEIVE, K_COUNT, K_COUNT + 5, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 7 != 0 || rep->elements / 7 > max) {
        snprintf(s->base.error, sizeof(s->base.error), "redis: receive script gave an unexpected reply");
        rc = KUMO_EIO;
        goto out;
    }
    size_t n = rep->elements / 7;
    for (size_t i = 0; i < n; i++) {
        redisReply **e = rep->element + 7 * i;
        kumo_queue_message *m = &out[i];
        m->id = kumo__arena_strndup(a, e[1]->str, e[1]->len);
        m->body = kumo__arena_strndup(a, e[2]->str, e[2]->len);
        m->len = e[2]->len;
        m->receives = (unsigned)e[3]->integer;
        m->sent_ms = e[5]->type == REDIS_REPLY_STRING    ? strtoll(e[5]->str, NULL, 10)
                     : e[5]->type == REDIS_REPLY_INTEGER ? (int64_t)e[5]->integer
                                                         : 0;
        if (e[6]->type == REDIS_REPLY_STRING)
            m->trace = kumo__queue_trace_copy(a, e[6]->str, e[6]->len);
        size_t rl = e[0]->len + 1 + e[4]->len;
        char *receipt = kumo__arena_alloc(a, rl + 1);
        if (m->id == NULL || m->body == NULL || receipt == NULL) {
            rc = KUMO_ENOMEM;
            goto out;
        }
        snprintf(receipt, rl + 1, "%.*s:%.*s", (int)e[0]->len, e[0]->str, (int)e[4]->len, e[4]->str);
        m->receipt = receipt;
    }
    *count = n;
out:
    freeReplyObject(rep);
    return rc;
}

/* Splits "<entry id>:<token>"; 0 or KUMO_ENOTFOUND for a malformed one. */
static int split_receipt(const char *receipt, size_t *sidlen, const char **token)
{
    const char *colon = strchr(receipt, ':');
    if (colon == NULL || colon == receipt || colon[1] == '\0')
        return KUMO_ENOTFOUND;
    *sidlen = (size_t)(colon - receipt);
    *token = colon + 1;
    return 0;
}

static int rq_ack(kumo__queue *q, const char *receipt)
{
    redis_queue *s = (redis_queue *)q;
    size_t sidlen;
    const char *token;
    if (split_receipt(receipt, &sidlen, &token) != 0)
        return KUMO_ENOTFOUND;
    const char *argv[] = {s->keys[K_STREAM], s->keys[K_INFLIGHT], s->keys[K_RECEIPTS], receipt, token};
    const size_t lens[] = {s->klen[K_STREAM], s->klen[K_INFLIGHT], s->klen[K_RECEIPTS], sidlen, strlen(token)};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_eval(&s->r, &rep, SC_ACK, 3, 5, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && (rep->type != REDIS_REPLY_INTEGER || rep->integer != 1))
        rc = KUMO_ENOTFOUND;
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int rq_nack(kumo__queue *q, const char *receipt, uint64_t delay_ms)
{
    redis_queue *s = (redis_queue *)q;
    size_t sidlen;
    const char *token;
    char delay[24];
    if (split_receipt(receipt, &sidlen, &token) != 0)
        return KUMO_ENOTFOUND;
    snprintf(delay, sizeof(delay), "%" PRIu64, delay_ms);
    const char *argv[] = {s->keys[K_INFLIGHT], s->keys[K_RECEIPTS], receipt, token, delay};
    const size_t lens[] = {s->klen[K_INFLIGHT], s->klen[K_RECEIPTS], sidlen, strlen(token), strlen(delay)};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_eval(&s->r, &rep, SC_NACK, 2, 5, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && (rep->type != REDIS_REPLY_INTEGER || rep->integer != 1))
        rc = KUMO_ENOTFOUND;
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* wait: BLPOP on the queue's notify list, where every send without a
 * delay pushes a token (trimmed to one: a wake-up says "something came",
 * not how much). The handle's connection blocks meanwhile, so wait belongs
 * to a handle that only its own thread uses (the gateway's consumers open
 * their own). The timeout stays under the connection's command timeout. */
static int rq_wait(kumo__queue *q, uint64_t timeout_ms)
{
    redis_queue *s = (redis_queue *)q;
    uint64_t cap = s->r.timeout_ms > 200 ? (uint64_t)s->r.timeout_ms / 2 : 100;
    if (timeout_ms > cap)
        timeout_ms = cap;
    if (timeout_ms == 0)
        return 0;
    char secs[32];
    snprintf(secs, sizeof(secs), "%" PRIu64 ".%03" PRIu64, timeout_ms / 1000, timeout_ms % 1000);
    const char *argv[] = {"BLPOP", s->keys[K_NOTIFY], secs};
    const size_t lens[] = {5, s->klen[K_NOTIFY], strlen(secs)};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_command(&s->r, &rep, 3, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rep)
        freeReplyObject(rep);
    return rc;
}
static int rq_depth(kumo__queue *q, kumo__queue_depth *out);

const kumo__queue_driver kumo__queue_redis_driver = {
    .common = {.version = KUMO__QUEUE_DRIVER_VERSION, .scheme = "redis", .open = rq_open, .close = rq_close},
    .send = rq_send,
    .receive = rq_receive,
    .ack = rq_ack,
    .nack = rq_nack,
    .wait = rq_wait,
    .depth = rq_depth,
};

/* `kumo events`' figures, approximate, in one script on the server's
 * clock: the stream holds what was never delivered and what is pending;
 * pending entries whose deadline passed are ready again; of the others,
 * those with a receipt token are in flight and the rest were nacked with a
 * delay, as are the messages parked in `delayed`. Plain EVAL: rare. */
static int rq_depth(kumo__queue *q, kumo__queue_depth *out)
{
    static const char script[] =
        NOW "local xlen = 0\n"
            "if redis.call('EXISTS', KEYS[1]) == 1 then xlen = redis.call('XLEN', KEYS[1]) end\n"
            "local pending = redis.call('ZCARD', KEYS[2])\n"
            "local expired = redis.call('ZCOUNT', KEYS[2], '-inf', now)\n"
            "local live = pending - expired\n"
            "local held = math.min(redis.call('HLEN', KEYS[3]), live)\n"
            "return {math.max(xlen - live, 0), held, live - held + redis.call('ZCARD', KEYS[4])}\n";
    redis_queue *s = (redis_queue *)q;
    const char *argv[] = {
        "EVAL", script, "4", s->keys[K_STREAM], s->keys[K_INFLIGHT], s->keys[K_RECEIPTS], s->keys[K_DELAYED]};
    const size_t lens[] = {
        4, sizeof(script) - 1, 1, s->klen[K_STREAM], s->klen[K_INFLIGHT], s->klen[K_RECEIPTS], s->klen[K_DELAYED]};
    redisReply *rep = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = kumo__redis_command(&s->r, &rep, 7, argv, lens);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0 && (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)) {
        snprintf(s->base.error, sizeof(s->base.error), "redis depth: an unexpected reply");
        rc = KUMO_EIO;
    }
    if (rc == 0) {
        out->ready = rep->element[0]->integer;
        out->in_flight = rep->element[1]->integer;
        out->delayed = rep->element[2]->integer;
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}
