/*
 * test_heap.c: base/heap.c gives the main thread's heap room that is
 * already mapped: allocations made after kumo__heap_prepare and written
 * whole take (almost) no page faults, where the same without it takes one
 * per 4 KiB page. Counted with getrusage's minor faults, not timed.
 * Skipped, saying why, under a sanitizer (its allocator is not glibc's)
 * and on kernels without MADV_POPULATE_WRITE (before 5.14).
 */
#include "base/heap.h"

#include "check.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif

#ifndef SANITIZED
static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

/* Faults taken while allocating `total` bytes in blocks of `block` and
 * writing every byte; the blocks are kept in *keep (freed by the caller). */
static long faults_for(size_t total, size_t block, void ***keep, size_t *n)
{
    *n = total / block;
    *keep = calloc(*n, sizeof(void *));
    CHECK(*keep != NULL);
    long before = minor_faults();
    for (size_t i = 0; *keep && i < *n; i++) {
        (*keep)[i] = malloc(block);
        if ((*keep)[i])
            memset((*keep)[i], 0x5a, block);
    }
    return minor_faults() - before;
}

static void free_all(void **keep, size_t n)
{
    for (size_t i = 0; keep && i < n; i++)
        free(keep[i]);
    free(keep);
}

static int populate_works(void)
{
    size_t len = 1u << 20;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int ok = madvise(p, len, MADV_POPULATE_WRITE) == 0;
    munmap(p, len);
    return ok;
}

#endif

int main(void)
{
#ifdef SANITIZED
    check_skip("a sanitizer's allocator is not glibc's: kumo__heap_prepare does nothing under it");
    return check_report();
#else
    if (!populate_works()) {
        check_skip("madvise(MADV_POPULATE_WRITE) is refused (Linux before 5.14): nothing to measure");
        return check_report();
    }
    /* the sizes kumo__heap_for_document gives */
    CHECK_INT((long)kumo__heap_for_document(1000), 0);
    CHECK_INT((long)kumo__heap_for_document(2u << 20), (long)(24u << 20));
    CHECK(kumo__heap_for_document((size_t)1 << 40) <= (48u << 20));

    /* 8 MiB in small blocks: about 2048 pages */
    kumo__heap_prepare(16u << 20);
    void **keep = NULL;
    size_t n = 0;
    long faults = faults_for(8u << 20, 512, &keep, &n);
    fprintf(stderr, "8 MiB after kumo__heap_prepare: %ld minor faults\n", faults);
    CHECK(faults < 256);
    free_all(keep, n);
    /* a second call with the room still there costs nothing and keeps it */
    kumo__heap_prepare(8u << 20);
    faults = faults_for(4u << 20, 4096, &keep, &n);
    CHECK(faults < 128);
    free_all(keep, n);
    /* nothing asked: nothing done */
    kumo__heap_prepare(0);
    return check_report();
#endif
}
