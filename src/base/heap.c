/*
 * heap.c: see heap.h. glibc only: the main arena grows by brk, so a block
 * malloc'd and freed again leaves its pages at the heap's top, where the
 * next allocations are cut from; madvise(MADV_HUGEPAGE) asks for huge
 * pages over them and MADV_POPULATE_WRITE (Linux 5.14) maps them at once.
 * Each step may be refused (an old kernel, no huge pages): what is left is
 * the ordinary heap, as before.
 */
#include "base/heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define HEAP_SANITIZED 1
#endif
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define HEAP_HUGE (2u << 20)
/* glibc's largest mmap threshold on 64 bits (HEAP_MAX_SIZE / 2): a block
 * below it comes from the heap once the threshold is raised */
#define HEAP_STEP (32u << 20)
/* at most this much room at once, and given back past glibc's own largest
 * dynamic trim threshold (2 steps), so a long-running kumo up holds no
 * more freed memory than glibc would after one large block */
#define HEAP_MAX (48u << 20)
#define HEAP_TRIM (2 * HEAP_STEP)

size_t kumo__heap_for_document(size_t len)
{
    if (len < (256u << 10))
        return 0; /* a few hundred faults at most: not worth a system call */
    return len > HEAP_MAX / 12 ? HEAP_MAX : len * 12;
}

void kumo__heap_prepare(size_t bytes)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && !defined(HEAP_SANITIZED)
    if (bytes == 0 || syscall(SYS_gettid) != getpid())
        return; /* other threads allocate from arenas of their own */
    if (bytes > HEAP_MAX)
        bytes = HEAP_MAX;
    mallopt(M_MMAP_THRESHOLD, (int)HEAP_STEP);
    mallopt(M_TRIM_THRESHOLD, (int)HEAP_TRIM);
    /* blocks of at most a step, held together so that each extends the
     * heap, then freed back into its top */
    enum { MAX_BLOCKS = HEAP_MAX / (HEAP_STEP / 2) + 1 };
    void *blocks[MAX_BLOCKS];
    size_t n = 0, step = HEAP_STEP / 2;
    uintptr_t lo = UINTPTR_MAX;
    for (size_t got = 0; got < bytes && n < MAX_BLOCKS; got += step) {
        if ((blocks[n] = malloc(step)) == NULL)
            break;
        if ((uintptr_t)blocks[n] < lo)
            lo = (uintptr_t)blocks[n];
        n++;
    }
    uintptr_t hi = (uintptr_t)sbrk(0);
    /* only when the blocks are the heap's top (not mmap'd, not another
     * allocator's) */
    if (n > 0 && lo < hi && hi - lo <= bytes + 2 * HEAP_STEP) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t start = lo & ~(page - 1);
        uintptr_t huge = (lo + HEAP_HUGE - 1) & ~(uintptr_t)(HEAP_HUGE - 1);
        if (huge < hi)
            madvise((void *)huge, hi - huge, MADV_HUGEPAGE);
        madvise((void *)start, hi - start, MADV_POPULATE_WRITE);
    }
    while (n > 0)
        free(blocks[--n]);
#else
    (void)bytes;
#endif
}
