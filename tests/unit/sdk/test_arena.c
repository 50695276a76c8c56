/*
 * test_arena.c: the per-invocation arena (src/sdk/arena.c): alignment,
 * no overlap between allocations across chunk boundaries, big allocations
 * in chunks of their own, reset keeping one standard chunk, and the
 * failure cases. ASan (the test build's default) catches overruns and leaks.
 */
#include "check.h"
#include "sdk/sdk.h"

#include <stdint.h>
#include <stdlib.h>

#define N 2000

static void test_alignment_and_overlap(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    static unsigned char *ptrs[N];
    static size_t sizes[N];
    size_t total = 0;
    int aligned = 1;
    for (int i = 0; i < N; i++) {
        /* A mix: tiny, odd, around a chunk, and now and then big. */
        size_t size = (size_t)((i * 37) % 300) + (i % 97 == 0 ? 20000 : 0) + (i % 13 == 0 ? 3000 : 0);
        ptrs[i] = kumo__arena_alloc(&a, size);
        sizes[i] = size;
        total += size;
        CHECK(ptrs[i] != NULL);
        if ((uintptr_t)ptrs[i] % 16 != 0)
            aligned = 0;
        memset(ptrs[i], i & 0xff, size);
    }
    CHECK(aligned);
    CHECK_INT(a.used, total);
    int intact = 1;
    for (int i = 0; i < N; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            if (ptrs[i][j] != (unsigned char)(i & 0xff))
                intact = 0;
    CHECK(intact);
    kumo__arena_free(&a);
    CHECK(a.head == NULL);
    CHECK_INT(a.used, 0);
}

static void test_zero_and_strndup(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    void *z1 = kumo__arena_alloc(&a, 0), *z2 = kumo__arena_alloc(&a, 0);
    CHECK(z1 != NULL && z2 != NULL && z1 != z2);
    char *s = kumo__arena_strndup(&a, "hello, world", 5);
    CHECK_STR(s, "hello");
    char *e = kumo__arena_strndup(&a, NULL, 0);
    CHECK_STR(e, "");
    CHECK(kumo__arena_alloc(&a, SIZE_MAX) == NULL);
    CHECK(kumo__arena_alloc(&a, SIZE_MAX - 8) == NULL);
    CHECK(kumo__arena_strndup(&a, "x", SIZE_MAX) == NULL);
    kumo__arena_free(&a);
}

static void test_big_keeps_head(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    char *small1 = kumo__arena_alloc(&a, 16);
    char *big = kumo__arena_alloc(&a, 1 << 20);
    char *small2 = kumo__arena_alloc(&a, 16);
    CHECK(small1 && big && small2);
    /* The big one went to its own chunk: the small ones stay neighbours. */
    CHECK(small2 == small1 + 16);
    memset(big, 'x', 1 << 20);
    kumo__arena_free(&a);
}

static void test_reset(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    char *first = kumo__arena_alloc(&a, 100);
    for (int i = 0; i < 100; i++)
        CHECK(kumo__arena_alloc(&a, 1000) != NULL);
    CHECK(kumo__arena_alloc(&a, 5 << 20) != NULL);
    kumo__arena_reset(&a);
    CHECK_INT(a.used, 0);
    CHECK(a.head != NULL);
    /* One standard chunk is kept and bumped again from its start. */
    void *again = kumo__arena_alloc(&a, 100);
    CHECK(again != NULL);
    kumo__arena_reset(&a);
    void *again2 = kumo__arena_alloc(&a, 100);
    CHECK(again2 == again);
    (void)first;
    kumo__arena_free(&a);

    /* An arena whose only chunk is big keeps nothing on reset. */
    kumo__arena_init(&a);
    CHECK(kumo__arena_alloc(&a, 1 << 20) != NULL);
    kumo__arena_reset(&a);
    CHECK(a.head == NULL);
    CHECK(kumo__arena_alloc(&a, 10) != NULL);
    kumo__arena_free(&a);

    /* Reset and free of an empty arena are no-ops. */
    kumo__arena_init(&a);
    kumo__arena_reset(&a);
    kumo__arena_free(&a);
    CHECK(a.head == NULL);
}

int main(void)
{
    test_alignment_and_overlap();
    test_zero_and_strndup();
    test_big_keeps_head();
    test_reset();
    return check_report();
}
