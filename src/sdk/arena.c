/*
 * arena.c: the per-invocation bump allocator (sdk.h). Everything an SDK call
 * hands to a handler (decoded parameters, kv values, response headers and
 * body) is carved from the invocation's arena and released all at once by
 * kumo__invocation_clear, so a handler never frees and never leaks.
 *
 * Chunks of CHUNK_SIZE are chained newest first; the head is the one being
 * bumped. An allocation over BIG_ALLOC gets a chunk of its own, linked behind
 * the head so the head keeps serving small ones. A reset frees every chunk
 * but one standard chunk, so a warm worker allocates nothing for a small
 * request.
 */
#include "sdk/sdk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16
#define CHUNK_SIZE 8192
#define BIG_ALLOC (CHUNK_SIZE / 4)

struct kumo__arena_chunk {
    kumo__arena_chunk *next;
    size_t cap; /* bytes in data[] */
    size_t off; /* next free byte in data[], before alignment */
    _Alignas(ALIGN) unsigned char data[];
};

static kumo__arena_chunk *chunk_new(size_t cap)
{
    if (cap > SIZE_MAX - sizeof(kumo__arena_chunk))
        return NULL;
    kumo__arena_chunk *c = malloc(sizeof(*c) + cap);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->off = 0;
    return c;
}

void kumo__arena_init(kumo__arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void *kumo__arena_alloc(kumo__arena *a, size_t size)
{
    /* Round up so the next allocation in the chunk stays aligned; a zero
     * size still gets a distinct, valid pointer. */
    if (size > SIZE_MAX - 2 * ALIGN)
        return NULL;
    size_t need = size ? (size + ALIGN - 1) & ~(size_t)(ALIGN - 1) : ALIGN;

    kumo__arena_chunk *c = a->head;
    if (c && c->cap - c->off >= need) {
        void *p = c->data + c->off;
        c->off += need;
        a->used += size;
        return p;
    }
    if (need > BIG_ALLOC) {
        kumo__arena_chunk *big = chunk_new(need);
        if (big == NULL)
            return NULL;
        big->off = need;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->head = big;
        }
        a->used += size;
        return big->data;
    }
    c = chunk_new(CHUNK_SIZE);
    if (c == NULL)
        return NULL;
    c->next = a->head;
    a->head = c;
    c->off = need;
    a->used += size;
    return c->data;
}

char *kumo__arena_strndup(kumo__arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = kumo__arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void kumo__arena_reset(kumo__arena *a)
{
    kumo__arena_chunk *keep = NULL, *c = a->head;
    while (c) {
        kumo__arena_chunk *next = c->next;
        if (keep == NULL && c->cap == CHUNK_SIZE)
            keep = c;
        else
            free(c);
        c = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->off = 0;
    }
    a->head = keep;
    a->used = 0;
}

void kumo__arena_free(kumo__arena *a)
{
    kumo__arena_chunk *c = a->head;
    while (c) {
        kumo__arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}
