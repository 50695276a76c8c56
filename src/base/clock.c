/*
 * clock.c: the clocks of clock.h, in one place instead of one static copy
 * per file.
 */
#include "base/clock.h"

#include <stddef.h>
#include <stdio.h>
#include <time.h>

static uint64_t read_clock(clockid_t id, uint64_t per_s)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * per_s + (uint64_t)ts.tv_nsec / (1000000000 / per_s);
}

uint64_t kumo__mono_ms(void) { return read_clock(CLOCK_MONOTONIC, 1000); }
uint64_t kumo__mono_us(void) { return read_clock(CLOCK_MONOTONIC, 1000000); }
uint64_t kumo__epoch_ms(void) { return read_clock(CLOCK_REALTIME, 1000); }
uint64_t kumo__epoch_us(void) { return read_clock(CLOCK_REALTIME, 1000000); }

size_t kumo__rfc3339_now(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len ? len - 1 : 0;
}
