/*
 * recent.c: the recent invocations' ring and slowest sets (see recent.h).
 * The owner's fast path reads `floor` and `window_start` without the lock:
 * only the owner writes them (under the lock, for the readers' copies).
 */
#include "obs/recent.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct slow_set {
    kumo__recent_entry e[KUMO__RECENT_SLOW];
    size_t n;
} slow_set;

struct kumo__recent {
    pthread_mutex_t lock;
    kumo__recent_entry failed[KUMO__RECENT_FAILED];
    size_t nfailed, next; /* ring: next is where the next one goes */
    slow_set cur, prev;
    uint64_t window_start; /* monotonic us when cur began */
    uint64_t floor;        /* the fastest of a full cur; 0 while cur has room */
};

kumo__recent *kumo__recent_create(void)
{
    kumo__recent *r = calloc(1, sizeof(*r));
    if (r != NULL)
        pthread_mutex_init(&r->lock, NULL);
    return r;
}

void kumo__recent_free(kumo__recent *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static uint64_t set_floor(const slow_set *s)
{
    if (s->n < KUMO__RECENT_SLOW)
        return 0;
    uint64_t f = UINT64_MAX;
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].duration_us < f)
            f = s->e[i].duration_us;
    return f;
}

int kumo__recent_wants(const kumo__recent *r, uint64_t duration_us, uint64_t now_us)
{
    return r != NULL && (now_us - r->window_start >= KUMO__RECENT_WINDOW_US || r->cur.n < KUMO__RECENT_SLOW ||
                         duration_us > r->floor);
}

void kumo__recent_add(kumo__recent *r, const kumo__recent_entry *e, int failed, uint64_t now_us)
{
    if (r == NULL)
        return;
    int rotate = now_us - r->window_start >= KUMO__RECENT_WINDOW_US;
    if (!failed && !kumo__recent_wants(r, e->duration_us, now_us))
        return;
    pthread_mutex_lock(&r->lock);
    if (failed) {
        r->failed[r->next] = *e;
        r->next = (r->next + 1) % KUMO__RECENT_FAILED;
        if (r->nfailed < KUMO__RECENT_FAILED)
            r->nfailed++;
    }
    if (rotate) {
        r->prev = r->cur;
        r->cur.n = 0;
        r->window_start = now_us;
    }
    if (r->cur.n < KUMO__RECENT_SLOW) {
        r->cur.e[r->cur.n++] = *e;
    } else if (e->duration_us > r->floor) {
        for (size_t i = 0; i < r->cur.n; i++) {
            if (r->cur.e[i].duration_us == r->floor) {
                r->cur.e[i] = *e;
                break;
            }
        }
    }
    r->floor = set_floor(&r->cur);
    pthread_mutex_unlock(&r->lock);
}

static int slower_first(const void *a, const void *b)
{
    const kumo__recent_entry *x = a, *y = b;
    return x->duration_us < y->duration_us ? 1 : x->duration_us > y->duration_us ? -1 : 0;
}

size_t kumo__recent_copy(kumo__recent *r, int failed, kumo__recent_entry *out, size_t cap)
{
    if (r == NULL)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    if (failed) {
        for (size_t i = 0; i < r->nfailed && n < cap; i++)
            out[n++] = r->failed[(r->next + KUMO__RECENT_FAILED - 1 - i) % KUMO__RECENT_FAILED];
        pthread_mutex_unlock(&r->lock);
        return n;
    }
    kumo__recent_entry all[2 * KUMO__RECENT_SLOW];
    size_t m = 0;
    for (size_t i = 0; i < r->cur.n; i++)
        all[m++] = r->cur.e[i];
    for (size_t i = 0; i < r->prev.n; i++)
        all[m++] = r->prev.e[i];
    pthread_mutex_unlock(&r->lock);
    qsort(all, m, sizeof(all[0]), slower_first);
    for (size_t i = 0; i < m && n < cap; i++)
        out[n++] = all[i];
    return n;
}
