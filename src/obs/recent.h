/*
 * recent.h: the slowest and the failed recent invocations, for the
 * dashboard's GET /recent (issue 14). One kumo__recent per loop thread:
 * that loop alone adds (from kumo__gw_observe), any thread reads a copy.
 * Bounded: the last KUMO__RECENT_FAILED failures, and the
 * KUMO__RECENT_SLOW slowest of the current minute and of the minute
 * before it. An invocation that is neither failed nor slower than the
 * current minute's slowest set costs one comparison and no lock.
 */
#ifndef KUMO_OBS_RECENT_H
#define KUMO_OBS_RECENT_H

#include <stddef.h>
#include <stdint.h>

#define KUMO__RECENT_FAILED 32
#define KUMO__RECENT_SLOW 16
#define KUMO__RECENT_WINDOW_US (60u * 1000000u)

typedef struct kumo__recent_entry {
    uint64_t epoch_us;    /* when it arrived (wall clock) */
    uint64_t duration_us; /* arrival to answer */
    int status;
    unsigned flags; /* KUMO__INV_* (obs/metrics.h) */
    char request_id[48];
    char function[64];
    char operation[96];
    char trigger[16];
    char trace_id[33];  /* 32 hex digits, or "" when it had no trace context */
    int trace_exported; /* its spans were recorded for export (sampled, with an exporter) */
} kumo__recent_entry;

typedef struct kumo__recent kumo__recent;

/* NULL when out of memory (adding to NULL does nothing). */
kumo__recent *kumo__recent_create(void);
void kumo__recent_free(kumo__recent *r);
/* Whether an invocation that took duration_us and was not failed would
 * be kept (among its minute's slowest): lock-free, on the owning loop, so
 * the caller fills an entry only when it is. NULL: never. */
int kumo__recent_wants(const kumo__recent *r, uint64_t duration_us, uint64_t now_us);
/* One invocation that ended at now_us (monotonic): kept when `failed`,
 * and when among the slowest of its minute. On the owning loop only. */
void kumo__recent_add(kumo__recent *r, const kumo__recent_entry *e, int failed, uint64_t now_us);
/* Copies the failed (newest first) or the slowest (slowest first) into
 * out[0..cap) and returns how many. Any thread. */
size_t kumo__recent_copy(kumo__recent *r, int failed, kumo__recent_entry *out, size_t cap);

#endif
