/*
 * trace.c: ids, samplers, span records and the bounded span buffer of
 * trace.h. Everything here runs on the loop threads' hot path: no lock, no
 * allocation, no system call (but the generator's first seeding per
 * thread).
 *
 * The buffer is a ring of cells, each with a sequence number that says
 * whose turn the cell is (a producer's at position p when seq == p, the
 * consumer's when seq == p + 1). A producer claims a position with one
 * compare-and-swap on the tail and publishes the cell with a release store
 * of its sequence, so producers never wait for each other beyond a retry
 * of that CAS, and a full ring is seen at once (the cell still holds an
 * unread span) and reported as a drop.
 */
#include "obs/trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- ids ---- */

static __thread uint64_t rng[4];
static __thread unsigned rng_gen; /* fork_gen when seeded; 0: never */
/* Bumped in every forked child, so a child never repeats its parent's ids
 * (getpid would cost a system call per id). */
static _Atomic unsigned fork_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(void)
{
    if (getrandom(rng, sizeof(rng), GRND_NONBLOCK) != (ssize_t)sizeof(rng)) {
        /* No entropy yet (early boot): the clock and the ids of the
         * process and thread still make distinct streams. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x =
            (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 17) ^ (uint64_t)(uintptr_t)&rng;
        for (int i = 0; i < 4; i++) {
            /* splitmix64 steps spread the one seed over the state */
            x += 0x9e3779b97f4a7c15ull;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            rng[i] = z ^ (z >> 31);
        }
    }
    if ((rng[0] | rng[1] | rng[2] | rng[3]) == 0)
        rng[0] = 1;
}

static uint64_t rng_next(void)
{
    unsigned gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    if (rng_gen != gen) {
        pthread_once(&atfork_once, register_atfork);
        rng_seed();
        rng_gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    }
    /* xoshiro256** (Blackman and Vigna) */
    uint64_t result = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return result;
}

void kumo__trace_random(void *out, size_t n)
{
    uint8_t *p = out;
    while (n > 0) {
        uint64_t v = rng_next();
        size_t k = n < 8 ? n : 8;
        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}

void kumo__trace_new_trace_id(uint8_t out[16])
{
    do
        kumo__trace_random(out, 16);
    while (kumo__id_is_zero(out, 16));
}

void kumo__trace_new_span_id(uint8_t out[8])
{
    do
        kumo__trace_random(out, 8);
    while (kumo__id_is_zero(out, 8));
}

/* ---- samplers ---- */

static const struct {
    const char *name;
    enum kumo__sampler_kind kind;
} samplers[] = {
    {"always_on", KUMO__SAMPLER_ALWAYS_ON},
    {"always_off", KUMO__SAMPLER_ALWAYS_OFF},
    {"traceidratio", KUMO__SAMPLER_RATIO},
    {"parentbased_always_on", KUMO__SAMPLER_PARENT_ON},
    {"parentbased_always_off", KUMO__SAMPLER_PARENT_OFF},
    {"parentbased_traceidratio", KUMO__SAMPLER_PARENT_RATIO},
};

int kumo__sampler_init(kumo__sampler *s, const char *name, double ratio, char *why, size_t why_len)
{
    if (name == NULL || *name == '\0')
        name = "parentbased_always_on";
    size_t i;
    for (i = 0; i < sizeof(samplers) / sizeof(samplers[0]); i++)
        if (strcmp(samplers[i].name, name) == 0)
            break;
    if (i == sizeof(samplers) / sizeof(samplers[0])) {
        if (why)
            snprintf(why, why_len,
                     "unknown sampler '%s'; expected always_on, always_off, traceidratio, parentbased_always_on, "
                     "parentbased_always_off or parentbased_traceidratio",
                     name);
        return -EINVAL;
    }
    if (!(ratio >= 0.0 && ratio <= 1.0)) { /* NaN too */
        if (why)
            snprintf(why, why_len, "sampling ratio %g is out of range; expected a number from 0 to 1", ratio);
        return -EINVAL;
    }
    s->kind = samplers[i].kind;
    s->ratio = ratio;
    /* The id's 63 low bits (OpenTelemetry shifts the 64 right by one) are
     * sampled below ratio * 2^63. */
    s->bound = ratio >= 1.0 ? UINT64_MAX : (uint64_t)(ratio * 9223372036854775808.0);
    return 0;
}

const char *kumo__sampler_name(const kumo__sampler *s)
{
    for (size_t i = 0; i < sizeof(samplers) / sizeof(samplers[0]); i++)
        if (samplers[i].kind == s->kind)
            return samplers[i].name;
    return "?";
}

static int ratio_decide(const kumo__sampler *s, const uint8_t trace_id[16])
{
    if (s->ratio >= 1.0)
        return 1;
    uint64_t v = 0;
    for (int i = 8; i < 16; i++)
        v = v << 8 | trace_id[i];
    return (v >> 1) < s->bound;
}

int kumo__sampler_decide(const kumo__sampler *s, const uint8_t trace_id[16], int has_parent, uint8_t parent_flags)
{
    switch (s->kind) {
    case KUMO__SAMPLER_ALWAYS_ON: return 1;
    case KUMO__SAMPLER_ALWAYS_OFF: return 0;
    case KUMO__SAMPLER_RATIO: return ratio_decide(s, trace_id);
    case KUMO__SAMPLER_PARENT_ON: return has_parent ? (parent_flags & KUMO__TRACE_SAMPLED) != 0 : 1;
    case KUMO__SAMPLER_PARENT_OFF: return has_parent ? (parent_flags & KUMO__TRACE_SAMPLED) != 0 : 0;
    case KUMO__SAMPLER_PARENT_RATIO:
        return has_parent ? (parent_flags & KUMO__TRACE_SAMPLED) != 0 : ratio_decide(s, trace_id);
    }
    return 0;
}

/* ---- spans ---- */

static void copy_cut(char *dst, size_t cap, const char *src, size_t len)
{
    if (src == NULL)
        len = 0;
    if (len > cap - 1)
        len = cap - 1;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

void kumo__span_init(kumo__span *s, const uint8_t trace_id[16], const uint8_t span_id[8], const uint8_t *parent,
                     enum kumo__span_kind kind, const char *name, uint64_t start_ns)
{
    memcpy(s->trace_id, trace_id, 16);
    memcpy(s->span_id, span_id, 8);
    if (parent)
        memcpy(s->parent_id, parent, 8);
    else
        memset(s->parent_id, 0, 8);
    s->kind = (uint8_t)kind;
    s->status = KUMO__STATUS_UNSET;
    s->nattrs = 0;
    s->start_ns = start_ns;
    s->end_ns = start_ns;
    copy_cut(s->name, sizeof(s->name), name, name ? strlen(name) : 0);
    s->status_msg[0] = '\0';
    s->pool_used = 0;
    s->nlinks = s->dropped_links = 0;
}

void kumo__span_link(kumo__span *s, const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags)
{
    if (s->nlinks >= KUMO__SPAN_LINKS_MAX) {
        if (s->dropped_links < UINT16_MAX)
            s->dropped_links++;
        return;
    }
    struct kumo__span_link *l = &s->links[s->nlinks++];
    memcpy(l->trace_id, trace_id, 16);
    memcpy(l->span_id, span_id, 8);
    l->flags = flags;
}

void kumo__span_str(kumo__span *s, const char *key, const char *v, size_t len)
{
    if (s->nattrs >= KUMO__SPAN_ATTRS_MAX)
        return;
    if (v == NULL)
        len = 0;
    size_t room = sizeof(s->pool) - s->pool_used;
    if (len > room)
        len = room;
    kumo__span_attr *a = &s->attrs[s->nattrs++];
    a->key = key;
    a->type = KUMO__ATTR_STR;
    a->off = s->pool_used;
    a->len = (uint16_t)len;
    a->num = 0;
    if (len)
        memcpy(s->pool + s->pool_used, v, len);
    s->pool_used = (uint16_t)(s->pool_used + len);
}

static void put_num(kumo__span *s, const char *key, uint8_t type, int64_t v)
{
    if (s->nattrs >= KUMO__SPAN_ATTRS_MAX)
        return;
    kumo__span_attr *a = &s->attrs[s->nattrs++];
    a->key = key;
    a->type = type;
    a->off = a->len = 0;
    a->num = v;
}

void kumo__span_int(kumo__span *s, const char *key, int64_t v)
{
    put_num(s, key, KUMO__ATTR_INT, v);
}

void kumo__span_bool(kumo__span *s, const char *key, int v)
{
    put_num(s, key, KUMO__ATTR_BOOL, v != 0);
}

void kumo__span_set_status(kumo__span *s, enum kumo__span_status code, const char *msg, size_t len)
{
    s->status = (uint8_t)code;
    copy_cut(s->status_msg, sizeof(s->status_msg), msg, len);
}

/* ---- an invocation's trace context ---- */

void kumo__span_ctx_begin(kumo__span_ctx *sc, const kumo__tracer *t, const char *tp, size_t tp_len, const char *ts,
                          size_t ts_len)
{
    kumo__trace_ctx parent;
    int has_parent = tp && kumo__traceparent_parse(tp, tp_len, &parent) == 0;
    if (has_parent) {
        memcpy(sc->trace_id, parent.trace_id, 16);
        memcpy(sc->parent_id, parent.span_id, 8);
    } else {
        kumo__trace_new_trace_id(sc->trace_id);
        memset(sc->parent_id, 0, 8);
        parent.flags = 0;
    }
    kumo__trace_new_span_id(sc->span_id);
    kumo__trace_new_span_id(sc->invoke_id);
    sc->link_tps = NULL;
    sc->n_links = 0;
    int sampled = t ? kumo__sampler_decide(kumo__tracer_sampler(t), sc->trace_id, has_parent, parent.flags)
                    : (!has_parent || (parent.flags & KUMO__TRACE_SAMPLED));
    /* Flags other than sampled (W3C level 2's random bit...) are not
     * claimed by kumo: only the sampled bit is set or cleared. */
    sc->flags = sampled ? KUMO__TRACE_SAMPLED : 0;
    sc->recording = sampled && kumo__tracer_recording(t);
    kumo__traceparent_format(sc->trace_id, sc->invoke_id, sc->flags, sc->traceparent);
    if (has_parent && ts && kumo__tracestate_ok(ts, ts_len)) {
        memcpy(sc->tracestate, ts, ts_len);
        sc->tracestate[ts_len] = '\0';
    } else {
        sc->tracestate[0] = '\0';
    }
}

/* ---- the bounded buffer ---- */

typedef struct cell {
    _Atomic uint64_t seq;
    kumo__span span;
} cell;

struct kumo__span_buf {
    size_t mask;
    cell *cells;
    _Alignas(64) _Atomic uint64_t tail; /* producers */
    _Alignas(64) _Atomic uint64_t head; /* the consumer */
    _Alignas(64) _Atomic uint64_t dropped;
};

kumo__span_buf *kumo__span_buf_create(size_t capacity)
{
    size_t n = 2;
    while (n < capacity && n < ((size_t)1 << 24))
        n <<= 1;
    kumo__span_buf *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    /* calloc: pages are reserved, not touched, until a span lands there */
    b->cells = calloc(n, sizeof(cell));
    if (b->cells == NULL) {
        free(b);
        return NULL;
    }
    b->mask = n - 1;
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&b->cells[i].seq, i, memory_order_relaxed);
    return b;
}

void kumo__span_buf_free(kumo__span_buf *b)
{
    if (b == NULL)
        return;
    free(b->cells);
    free(b);
}

/* Copies what s uses (the fixed part, its attributes, the pool's used
 * bytes): a span of an invocation uses a third of the record, and the
 * copy is on the loops' path. */
static void span_copy(kumo__span *dst, const kumo__span *src)
{
    size_t nattrs = src->nattrs <= KUMO__SPAN_ATTRS_MAX ? src->nattrs : KUMO__SPAN_ATTRS_MAX;
    size_t used = src->pool_used <= KUMO__SPAN_POOL ? src->pool_used : KUMO__SPAN_POOL;
    memcpy(dst, src, offsetof(kumo__span, attrs) + nattrs * sizeof(kumo__span_attr));
    dst->pool_used = (uint16_t)used;
    memcpy(dst->pool, src->pool, used);
    size_t nlinks = src->nlinks <= KUMO__SPAN_LINKS_MAX ? src->nlinks : KUMO__SPAN_LINKS_MAX;
    dst->nlinks = (uint16_t)nlinks;
    dst->dropped_links = src->dropped_links;
    memcpy(dst->links, src->links, nlinks * sizeof(src->links[0]));
}

int kumo__span_buf_push(kumo__span_buf *b, const kumo__span *s)
{
    uint64_t pos = atomic_load_explicit(&b->tail, memory_order_relaxed);
    for (;;) {
        cell *c = &b->cells[pos & b->mask];
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&b->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                span_copy(&c->span, s);
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return 0;
            }
            /* pos was reloaded by the failed CAS */
        } else if (dif < 0) {
            atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
            return -ENOSPC;
        } else {
            pos = atomic_load_explicit(&b->tail, memory_order_relaxed);
        }
    }
}

int kumo__span_buf_pop(kumo__span_buf *b, kumo__span *out)
{
    uint64_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    cell *c = &b->cells[pos & b->mask];
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((int64_t)(seq - (pos + 1)) < 0)
        return 0; /* empty, or its producer has not finished copying */
    span_copy(out, &c->span);
    atomic_store_explicit(&b->head, pos + 1, memory_order_relaxed);
    atomic_store_explicit(&c->seq, pos + b->mask + 1, memory_order_release);
    return 1;
}

const kumo__span *kumo__span_buf_peek(kumo__span_buf *b)
{
    uint64_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    cell *c = &b->cells[pos & b->mask];
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((int64_t)(seq - (pos + 1)) < 0)
        return NULL; /* empty, or its producer has not finished copying */
    return &c->span;
}

void kumo__span_buf_release(kumo__span_buf *b)
{
    uint64_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    cell *c = &b->cells[pos & b->mask];
    atomic_store_explicit(&b->head, pos + 1, memory_order_relaxed);
    atomic_store_explicit(&c->seq, pos + b->mask + 1, memory_order_release);
}

size_t kumo__span_buf_discard(kumo__span_buf *b)
{
    size_t n = 0;
    for (;;) {
        uint64_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
        cell *c = &b->cells[pos & b->mask];
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        if ((int64_t)(seq - (pos + 1)) < 0)
            return n;
        atomic_store_explicit(&b->head, pos + 1, memory_order_relaxed);
        atomic_store_explicit(&c->seq, pos + b->mask + 1, memory_order_release);
        n++;
    }
}

uint64_t kumo__span_buf_pushed(const kumo__span_buf *b)
{
    /* the tail moves once per accepted span: no counter of its own */
    return atomic_load_explicit(&((kumo__span_buf *)b)->tail, memory_order_relaxed);
}

int kumo__span_buf_full(const kumo__span_buf *b)
{
    kumo__span_buf *m = (kumo__span_buf *)b;
    uint64_t tail = atomic_load_explicit(&m->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&m->head, memory_order_relaxed);
    return tail - head > m->mask;
}

size_t kumo__span_buf_waiting(const kumo__span_buf *b)
{
    kumo__span_buf *m = (kumo__span_buf *)b;
    uint64_t tail = atomic_load_explicit(&m->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&m->head, memory_order_relaxed);
    return tail > head ? (size_t)(tail - head) : 0;
}

void kumo__span_buf_count_dropped(kumo__span_buf *b, uint64_t n)
{
    atomic_fetch_add_explicit(&b->dropped, n, memory_order_relaxed);
}

uint64_t kumo__span_buf_dropped(const kumo__span_buf *b)
{
    return atomic_load_explicit(&((kumo__span_buf *)b)->dropped, memory_order_relaxed);
}

size_t kumo__span_buf_capacity(const kumo__span_buf *b)
{
    return b->mask + 1;
}
