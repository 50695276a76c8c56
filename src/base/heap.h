/*
 * heap.h: making the heap cheap to touch before a large build.
 *
 * Loading a 2 MB OpenAPI document makes a tree of about 16 MB: some 4000
 * pages, each met for the first time by a page fault. On the virtual
 * machines kumo runs on a fault costs 10 to 30 us (the hypervisor keeps
 * its own page tables), so the faults alone took longer than parsing
 * (bench/docload.sh: 70 ms cold against 29 ms warm). kumo__heap_prepare
 * gives the main thread's heap the room first, backed by transparent huge
 * pages where the kernel has them (one fault per 2 MiB) and populated in
 * one system call, so the build that follows touches memory that is
 * already there.
 */
#ifndef KUMO_HEAP_H
#define KUMO_HEAP_H

#include <stddef.h>

/* Makes room for about `bytes` of allocations on the calling thread's heap
 * before they are made. Only the main thread's (glibc's brk heap) is
 * prepared; elsewhere, under a sanitizer, or with another allocator it
 * does nothing. Never fails: it is a hint. Sets glibc's mmap and trim
 * thresholds for the process to the largest values glibc itself moves
 * them to (32 and 64 MiB): large blocks then come from the heap too, and
 * the room is not given back before it is used. At most 48 MiB. */
void kumo__heap_prepare(size_t bytes);

/* The room kumo__heap_prepare gives a document of `len` bytes: the size of
 * its tree, positions and the spec over it (about twelve times the text),
 * within the ceiling; 0 for documents small enough not to need it. */
size_t kumo__heap_for_document(size_t len);

#endif
