/*
 * clock.c: the clocks of clock.h, in one place instead of one static copy
 * per file.
 */
#include "base/clock.h"

#include <stddef.h>
#include <time.h>

static uint64_t read_clock(clockid_t id, uint64_t per_s)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * per_s + (uint64_t)ts.tv_nsec / (1000000000 / per_s);
}

uint64_t kumo__mono_ms(void)
{
    return read_clock(CLOCK_MONOTONIC, 1000);
}
uint64_t kumo__mono_us(void)
{
    return read_clock(CLOCK_MONOTONIC, 1000000);
}
uint64_t kumo__epoch_ms(void)
{
    return read_clock(CLOCK_REALTIME, 1000);
}
uint64_t kumo__epoch_us(void)
{
    return read_clock(CLOCK_REALTIME, 1000000);
}

/* Writes n digits of v, zero-padded. */
static char *digits(char *p, unsigned long v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

/* Plain arithmetic (days since 1970 to a civil date, after Howard
 * Hinnant's well-known derivation), no gmtime_r and no locale or time-zone
 * lock: safe in a signal handler, which the worker's CPU backstop needs. */
size_t kumo__rfc3339(uint64_t epoch_us, char *out, size_t len)
{
    if (len < KUMO__RFC3339_LEN) {
        if (len)
            out[0] = '\0';
        return 0;
    }
    uint64_t secs = epoch_us / 1000000;
    long days = (long)(secs / 86400), sod = (long)(secs % 86400);
    long z = days + 719468, era = z / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    long year = yoe + era * 400 + (month <= 2);
    char *p = out;
    p = digits(p, (unsigned long)year, 4);
    *p++ = '-';
    p = digits(p, (unsigned long)month, 2);
    *p++ = '-';
    p = digits(p, (unsigned long)day, 2);
    *p++ = 'T';
    p = digits(p, (unsigned long)(sod / 3600), 2);
    *p++ = ':';
    p = digits(p, (unsigned long)(sod / 60 % 60), 2);
    *p++ = ':';
    p = digits(p, (unsigned long)(sod % 60), 2);
    *p++ = '.';
    p = digits(p, (unsigned long)(epoch_us % 1000000), 6);
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

size_t kumo__rfc3339_now(char *out, size_t len)
{
    return kumo__rfc3339(kumo__epoch_us(), out, len);
}
