/*
 * ratelimit.c: see ratelimit.h. Each bucket holds up to `burst` tokens and
 * gains `requests` per `per`; a request takes one or is refused. The
 * buckets of `by: client` rules live in one open-addressing table keyed by
 * (operation, caller), under one mutex (a lookup is a hash and a few
 * compares; the loops rarely meet on it). The table grows to
 * KUMO__RATELIMIT_MAX_KEYS callers; then the full buckets, which hold
 * nothing a new bucket would not, are dropped by a rebuild.
 */
#include "gateway/ratelimit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/dispatch.h"

/* A caller's key longer than this is kept as its first bytes and a hash of
 * the whole (a certificate subject can be long). */
#define KEY_MAX 200

typedef struct bucket {
    double tokens;
    uint64_t last_us;
} bucket;

typedef struct slot {
    char *key; /* NULL: empty */
    uint64_t hash;
    uint32_t op;
    bucket b;
} slot;

struct kumo__ratelimit {
    pthread_mutex_t lock;
    size_t nops;
    const kumo__rate_rule **rule_of; /* per operation, or NULL */
    bucket *shared;                  /* per operation: by: operation rules, and the overflow of by: client */
    slot *slots;                     /* a power of two */
    size_t cap, used;
};

int kumo__ratelimit_new(const kumo__edge_config *c, const kumo__spec *spec, kumo__ratelimit **out, kumo__error *err)
{
    *out = NULL;
    if (c->nrules == 0 || spec->nops == 0)
        return 0;
    kumo__ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&rl->lock, NULL);
    if ((rl->rule_of = calloc(spec->nops, sizeof(*rl->rule_of))) == NULL ||
        (rl->shared = calloc(spec->nops, sizeof(*rl->shared))) == NULL) {
        kumo__ratelimit_free(rl);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    rl->nops = spec->nops;
    const kumo__rate_rule *any = NULL;
    for (size_t i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].operation, "*") == 0)
            any = &c->rules[i];
    for (size_t o = 0; o < spec->nops; o++) {
        const char *id = spec->ops[o].operation_id;
        rl->rule_of[o] = any;
        for (size_t i = 0; id && i < c->nrules; i++)
            if (strcmp(c->rules[i].operation, id) == 0)
                rl->rule_of[o] = &c->rules[i];
        if (rl->rule_of[o])
            rl->shared[o] = (bucket){.tokens = rl->rule_of[o]->burst, .last_us = 0};
    }
    *out = rl;
    return 0;
}

static void free_slots(slot *s, size_t cap)
{
    for (size_t i = 0; s && i < cap; i++)
        free(s[i].key);
    free(s);
}

void kumo__ratelimit_free(kumo__ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->lock);
    free_slots(rl->slots, rl->cap);
    free(rl->rule_of);
    free(rl->shared);
    free(rl);
}

const char *kumo__ratelimit_key(const kumo__http_in *in)
{
    if (in->tls_client_subject && *in->tls_client_subject)
        return in->tls_client_subject;
    return in->client_addr ? in->client_addr : "";
}

static uint64_t fnv1a(uint32_t op, const char *s)
{
    uint64_t h = 1469598103934665603ull ^ op;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Refills b to now; tokens never exceed the rule's burst. */
static void refill(bucket *b, const kumo__rate_rule *r, uint64_t now_us)
{
    if (b->last_us == 0 || now_us < b->last_us) {
        b->last_us = now_us;
        return;
    }
    b->tokens += (double)(now_us - b->last_us) / 1e6 * (r->requests / r->per_s);
    if (b->tokens > r->burst)
        b->tokens = r->burst;
    b->last_us = now_us;
}

/* Puts e into a table of cap slots (a power of two) with room. */
static void place(slot *slots, size_t cap, const slot *e)
{
    size_t i = (size_t)e->hash & (cap - 1);
    while (slots[i].key)
        i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

/* A table of `cap` slots holding what is in rl's, less the full buckets
 * when `drop_full`. -1 when out of memory (rl's table is kept). */
static int rebuild(kumo__ratelimit *rl, size_t cap, int drop_full, uint64_t now_us)
{
    slot *n = calloc(cap, sizeof(*n));
    if (n == NULL)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < rl->cap; i++) {
        slot *s = &rl->slots[i];
        if (s->key == NULL)
            continue;
        if (drop_full) {
            refill(&s->b, rl->rule_of[s->op], now_us);
            if (s->b.tokens >= rl->rule_of[s->op]->burst) {
                free(s->key);
                continue;
            }
        }
        place(n, cap, s);
        used++;
    }
    free(rl->slots);
    rl->slots = n;
    rl->cap = cap;
    rl->used = used;
    return 0;
}

/* The bucket of (op, key), made full when new; NULL when the table has no
 * room for it (out of memory, or every caller it holds is still limited). */
static bucket *find(kumo__ratelimit *rl, uint32_t op, const char *key, uint64_t now_us)
{
    char shortened[KEY_MAX + 24];
    uint64_t whole = fnv1a(op, key);
    if (strlen(key) > KEY_MAX) {
        snprintf(shortened, sizeof(shortened), "%.*s#%016llx", KEY_MAX, key, (unsigned long long)whole);
        key = shortened;
    }
    uint64_t h = fnv1a(op, key);
    if (rl->cap) {
        for (size_t i = (size_t)h & (rl->cap - 1); rl->slots[i].key; i = (i + 1) & (rl->cap - 1))
            if (rl->slots[i].hash == h && rl->slots[i].op == op && strcmp(rl->slots[i].key, key) == 0)
                return &rl->slots[i].b;
    }
    /* a new caller: keep the table at most half full */
    if ((rl->used + 1) * 2 > rl->cap) {
        if (rl->used + 1 > KUMO__RATELIMIT_MAX_KEYS) {
            if (rebuild(rl, rl->cap, 1, now_us) != 0 || (rl->used + 1) * 2 > rl->cap)
                return NULL;
        } else if (rebuild(rl, rl->cap ? rl->cap * 2 : 64, 0, now_us) != 0) {
            return NULL;
        }
    }
    slot e = {.key = strdup(key), .hash = h, .op = op, .b = {.tokens = rl->rule_of[op]->burst, .last_us = now_us}};
    if (e.key == NULL)
        return NULL;
    place(rl->slots, rl->cap, &e);
    rl->used++;
    for (size_t i = (size_t)h & (rl->cap - 1);; i = (i + 1) & (rl->cap - 1))
        if (rl->slots[i].key == e.key)
            return &rl->slots[i].b;
}

void kumo__ratelimit_take(kumo__ratelimit *rl, size_t op_index, const char *key, uint64_t now_us,
                          kumo__ratelimit_verdict *v)
{
    v->applied = v->refused = 0;
    if (rl == NULL || op_index >= rl->nops || rl->rule_of[op_index] == NULL)
        return;
    const kumo__rate_rule *r = rl->rule_of[op_index];
    double rate = r->requests / r->per_s; /* tokens a second */
    pthread_mutex_lock(&rl->lock);
    bucket *b = r->per_client ? find(rl, (uint32_t)op_index, key ? key : "", now_us) : NULL;
    if (b == NULL)
        b = &rl->shared[op_index];
    refill(b, r, now_us);
    int ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    double tokens = b->tokens;
    pthread_mutex_unlock(&rl->lock);

    v->applied = 1;
    v->refused = !ok;
    snprintf(v->limit, sizeof(v->limit), "%.0f", r->burst);
    snprintf(v->remaining, sizeof(v->remaining), "%.0f", floor(tokens));
    /* seconds until the bucket is full again; and until the next token */
    snprintf(v->reset, sizeof(v->reset), "%.0f", ceil((r->burst - tokens) / rate));
    snprintf(v->policy, sizeof(v->policy), "%.0f;w=%.0f", r->burst, ceil(r->burst / rate));
    if (!ok) {
        char burst[40] = "";
        if (r->burst != r->requests)
            snprintf(burst, sizeof(burst), ", at most %.0f at once", r->burst);
        snprintf(v->rule, sizeof(v->rule), "%.0f requests per %g s%s %s", r->requests, r->per_s, burst,
                 r->per_client ? "for each caller" : "for all callers together");
    }
    double wait = ceil((1.0 - tokens) / rate);
    snprintf(v->retry_after, sizeof(v->retry_after), "%.0f", wait < 1 ? 1 : wait);
}

size_t kumo__ratelimit_headers(const kumo__ratelimit_verdict *v, const char *names[4], const char *values[4])
{
    if (!v->applied)
        return 0;
    names[0] = "ratelimit-limit", values[0] = v->limit;
    names[1] = "ratelimit-remaining", values[1] = v->remaining;
    names[2] = "ratelimit-reset", values[2] = v->reset;
    names[3] = "ratelimit-policy", values[3] = v->policy;
    return 4;
}
