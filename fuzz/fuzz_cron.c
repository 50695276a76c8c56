/*
 * fuzz_cron.c: libFuzzer target checking kumo__schedule_parse and
 * kumo__schedule_next (src/project/schedule.c) against a second, naive
 * reading of cron written here from docs/events.md alone: fields split on
 * blanks, each a list of `*`, `N`, `A-B`, `*\/S`, `A-B/S`, `A/S`, month and
 * weekday names, Sunday as 0 or 7 (a weekday `*` or `A/S` ends on Saturday,
 * 6: `1/3` is Monday and Thursday; cronie would add Sunday as 7), and
 * Vixie cron's either-day rule when both day fields are restricted. The input is an expression read in UTC.
 * When both readings accept it, every fire time kumo computes must match
 * the naive reading, and no instant between the time asked about and that
 * fire time may match (scanned minute by minute, or second by second for a
 * six-field expression, over a bounded span). fuzz_schedule.c checks the
 * zones and DST; this one checks which instants a cron expression names.
 * Nothing may crash, leak or hang. Seeds: fuzz/corpus/cron/.
 */
#include "project/schedule.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define EXPR_MAX 200
#define SCAN_MINUTES (3 * 24 * 60) /* a gap longer than this is only checked at its end */
#define SCAN_SECONDS (2 * 3600)

typedef struct naive {
    uint64_t bits[6]; /* second, minute, hour, day of month, month, day of week (0-6) */
    int seconds;      /* six fields */
    int dom_star, dow_star;
} naive;

static const struct {
    int lo, hi;
} span[6] = {{0, 59}, {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}};

static int name_value(const char *s, size_t len, int field)
{
    static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    if (len != 3)
        return -1;
    if (field == 4)
        for (int i = 0; i < 12; i++)
            if (strncasecmp(s, months[i], 3) == 0)
                return i + 1;
    if (field == 5)
        for (int i = 0; i < 7; i++)
            if (strncasecmp(s, days[i], 3) == 0)
                return i;
    return -1;
}

/* A number or a name of `field` at *p: its value, or -1. */
static int value(const char **p, const char *end, int field)
{
    const char *s = *p;
    if (s < end && s[0] >= '0' && s[0] <= '9') {
        int v = 0;
        while (s < end && *s >= '0' && *s <= '9' && v < 1000)
            v = v * 10 + (*s++ - '0');
        *p = s;
        return v;
    }
    const char *e = s;
    while (e < end && ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z')))
        e++;
    *p = e;
    return name_value(s, (size_t)(e - s), field);
}

/* One field (without blanks) into n->bits[field]: 0, or -1. */
static int field_parse(naive *n, int field, const char *s, const char *end)
{
    int lo = span[field].lo, hi = span[field].hi;
    int last = field == 5 ? 6 : hi; /* where `*` and `A/S` end: the week ends on Saturday (7 only as a value) */
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s)), *stop = comma ? comma : end;
        int a, b, step = 1;
        const char *p = s;
        if (p < stop && *p == '*') {
            a = lo, b = last, p++;
        } else {
            if ((a = value(&p, stop, field)) < 0)
                return -1;
            b = a;
            if (p < stop && *p == '-') {
                p++;
                if ((b = value(&p, stop, field)) < 0)
                    return -1;
            } else if (p < stop && *p == '/') {
                b = last;
            }
        }
        if (p < stop && *p == '/') {
            p++;
            step = 0;
            if (p == stop)
                return -1;
            while (p < stop && *p >= '0' && *p <= '9' && step < 1000)
                step = step * 10 + (*p++ - '0');
            if (step < 1)
                return -1;
        }
        if (p != stop || a < lo || b > hi || a > b)
            return -1;
        for (int v = a; v <= b; v += step)
            n->bits[field] |= 1ull << (field == 5 && v == 7 ? 0 : v);
        s = comma ? comma + 1 : end;
        if (comma && s == end)
            return -1;
    }
    return n->bits[field] ? 0 : -1;
}

static int naive_parse(const char *expr, naive *n)
{
    const char *f[6], *fe[6];
    int count = 0;
    memset(n, 0, sizeof(*n));
    for (const char *p = expr; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (count == 6)
            return -1;
        f[count] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        fe[count++] = p;
    }
    if (count != 5 && count != 6)
        return -1;
    n->seconds = count == 6;
    int first = n->seconds ? 0 : 1;
    if (!n->seconds)
        n->bits[0] = 1; /* second 0 */
    for (int i = 0; i < count; i++)
        if (field_parse(n, first + i, f[i], fe[i]) < 0)
            return -1;
    n->dom_star = f[n->seconds ? 3 : 2][0] == '*';
    n->dow_star = f[n->seconds ? 5 : 4][0] == '*';
    return 0;
}

static int naive_match(const naive *n, int64_t ms)
{
    if (ms % 1000 != 0)
        return 0;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return 0;
    int dom = (n->bits[3] >> tm.tm_mday) & 1, dow = (n->bits[5] >> tm.tm_wday) & 1;
    int day = (!n->dom_star && !n->dow_star) ? (dom || dow) : (dom && dow);
    return ((n->bits[0] >> tm.tm_sec) & 1) && ((n->bits[1] >> tm.tm_min) & 1) && ((n->bits[2] >> tm.tm_hour) & 1) &&
           ((n->bits[4] >> (tm.tm_mon + 1)) & 1) && day;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > EXPR_MAX)
        return 0;
    char expr[EXPR_MAX + 1];
    memcpy(expr, data, size);
    expr[size] = '\0';
    if (strlen(expr) != size || expr[0] == '@' || strncmp(expr, "every", 5) == 0)
        return 0; /* a NUL inside, or not a cron expression (fuzz_schedule.c has those) */
    kumo__schedule *s = NULL;
    char why[300] = "";
    naive n;
    int rc = kumo__schedule_parse(expr, NULL, &s, why, sizeof why);
    if (rc < 0 || naive_parse(expr, &n) < 0) {
        kumo__schedule_free(s);
        return 0;
    }
    /* 2026-03-28 23:00Z, 2028-02-28 12:34:56Z (a leap day ahead), 1999-12-31 23:59:59Z */
    static const int64_t starts[] = {1774738800000, 1835354096000, 946684799000};
    int64_t unit = n.seconds ? 1000 : 60000, scan = n.seconds ? SCAN_SECONDS : SCAN_MINUTES;
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        int64_t t = starts[i];
        for (int k = 0; k < 4; k++) {
            int64_t next = kumo__schedule_next(s, t);
            if (next == -1)
                break;
            if (next <= t || !naive_match(&n, next))
                __builtin_trap(); /* after the time asked, and named by the expression */
            int64_t from = (t / unit + 1) * unit;
            for (int64_t c = from, steps = 0; c < next && steps < scan; c += unit, steps++)
                if (naive_match(&n, c))
                    __builtin_trap(); /* an earlier instant the expression names was skipped */
            t = next;
        }
    }
    kumo__schedule_free(s);
    return 0;
}
