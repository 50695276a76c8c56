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

/* n decimal digits at s into *v; -1 if any is not a digit. */
static int read_digits(const char *s, int n, long *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

/* Days since 1970-01-01 of a civil date (the inverse of the above). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int kumo__rfc3339_parse(const char *s, size_t len, int64_t *epoch_us)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    long y, mo, d, h, mi, sec, frac = 0, off = 0;
    if (len < 20 || read_digits(s, 4, &y) || s[4] != '-' || read_digits(s + 5, 2, &mo) || s[7] != '-' ||
        read_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || read_digits(s + 11, 2, &h) ||
        s[13] != ':' || read_digits(s + 14, 2, &mi) || s[16] != ':' || read_digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) || h > 23 || mi > 59 || sec > 60)
        return -1;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        long scale = 100000;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac += (s[i] - '0') * scale; /* digits past microseconds are dropped */
            scale /= 10;
            i++;
        }
        if (i == start)
            return -1;
    }
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        off = 0;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        long oh, om;
        if (read_digits(s + i + 1, 2, &oh) || read_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
    } else {
        return -1;
    }
    if (sec == 60)
        sec = 59;
    int64_t secs = (int64_t)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *epoch_us = secs * 1000000 + frac;
    return 0;
}
