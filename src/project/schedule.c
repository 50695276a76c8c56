/*
 * schedule.c: the cron / @name / every parser and the next-fire-time
 * search behind schedule.h. A cron schedule is a set of bits per field;
 * the search walks the zone's wall clock field by field (month, day, hour,
 * minute, second, skipping whole ranges that cannot match) and maps each
 * matching wall-clock time to instants with kumo__tz_from_local, applying
 * the daylight-saving rules of docs/events.md:
 *   - a job that runs every hour (its hour field covers all 24 hours)
 *     follows elapsed time: nothing in a gap, both passes of a fold;
 *   - any other job fires once: a time in a gap at the end of the gap, a
 *     time in a fold at its first occurrence.
 * Because a fold makes wall-clock order differ from instant order, the
 * walk starts a little before the wall-clock time of `after` and stops
 * only when no later wall-clock time can map to an earlier instant.
 */
#include "project/schedule.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIVE_YEARS (1827LL * 86400)
#define EVERY_MAX (365LL * 86400)

struct kumo__schedule {
    const kumo__tz *tz;
    int64_t every; /* seconds; 0: a cron schedule */
    uint64_t sec, min;
    uint32_t hour, dom, mon; /* dom bits 1-31, mon bits 1-12 */
    uint32_t dow;            /* bits 0-6, Sunday = 0 */
    int dom_star, dow_star;  /* the field began with '*' (Vixie's rule) */
    int hourly;              /* every hour matches: follows elapsed time */
};

typedef struct field_spec {
    const char *name;
    int lo, hi;
    const char *const *names; /* lo-based; NULL: numbers only */
} field_spec;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const field_spec fields[6] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},       {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL}, {"month", 1, 12, month_names}, {"day-of-week", 0, 7, dow_names},
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* One value of a field at *pp: a number or (month, day of week) a
 * three-letter name. 0 or -1 with why written. */
static int parse_value(const char **pp, const field_spec *f, int pos, int *out, char *why, size_t why_len)
{
    const char *p = *pp;
    if (isdigit((unsigned char)*p)) {
        long v = 0;
        int nd = 0;
        while (isdigit((unsigned char)p[nd])) {
            if (nd < 9)
                v = v * 10 + (p[nd] - '0');
            else
                v = f->hi + 1; /* out of any range */
            nd++;
        }
        if (v < f->lo || v > f->hi) {
            snprintf(why, why_len, "field %d (%s): %.*s is out of %d-%d", pos, f->name, nd > 20 ? 20 : nd, p, f->lo,
                     f->hi);
            return -1;
        }
        p += nd;
        *out = (int)v;
        *pp = p;
        return 0;
    }
    if (f->names && isalpha((unsigned char)p[0]) && isalpha((unsigned char)p[1]) && isalpha((unsigned char)p[2]) &&
        !isalpha((unsigned char)p[3])) {
        int count = f->hi - f->lo + 1 - (f->lo == 0); /* day-of-week: 7 names for 0-7 */
        for (int i = 0; i < count; i++) {
            if (strncasecmp(p, f->names[i], 3) == 0) {
                *out = f->lo + i;
                *pp = p + 3;
                return 0;
            }
        }
    }
    int n = 0;
    while (p[n] && p[n] != ',' && p[n] != '-' && p[n] != '/' && n < 20)
        n++;
    if (f->names)
        snprintf(why, why_len, "field %d (%s): '%.*s' is not a number or a name (%s-%s)", pos, f->name, n, p,
                 f->names[0], f->names[f->hi - f->lo - (f->lo == 0)]);
    else if (n == 0)
        snprintf(why, why_len, "field %d (%s): a number is missing", pos, f->name);
    else
        snprintf(why, why_len, "field %d (%s): '%.*s' is not a number", pos, f->name, n, p);
    return -1;
}

/* One whitespace-free field (text[0..len)) into *bits. */
static int parse_field(const char *text, size_t len, const field_spec *f, int pos, uint64_t *bits, int *star, char *why,
                       size_t why_len)
{
    char buf[KUMO__SCHEDULE_MAX + 1];
    memcpy(buf, text, len);
    buf[len] = '\0';
    *bits = 0;
    *star = buf[0] == '*';
    char *save = NULL;
    if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,")) {
        snprintf(why, why_len, "field %d (%s): an empty item in '%s'", pos, f->name, buf);
        return -1;
    }
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        const char *p = item;
        int a, b, step = 1, ranged = 0;
        if (*p == '*') {
            a = f->lo, b = f->hi == 7 ? 6 : f->hi;
            p++;
            ranged = 1;
        } else {
            if (parse_value(&p, f, pos, &a, why, why_len) < 0)
                return -1;
            b = a;
            if (*p == '-') {
                p++;
                if (parse_value(&p, f, pos, &b, why, why_len) < 0)
                    return -1;
                if (b < a) {
                    snprintf(why, why_len,
                             "field %d (%s): the range '%s' goes backwards; ranges do not wrap (write two, such "
                             "as 22-23,0-2)",
                             pos, f->name, item);
                    return -1;
                }
                ranged = 1;
            }
        }
        if (*p == '/') {
            p++;
            long v = 0;
            int nd = 0;
            while (isdigit((unsigned char)*p) && nd < 9)
                v = v * 10 + (*p++ - '0'), nd++;
            if (nd == 0 || isdigit((unsigned char)*p) || v < 1 || v > f->hi - f->lo + 1) {
                snprintf(why, why_len, "field %d (%s): the step in '%s' must be a number from 1 to %d", pos, f->name,
                         item, f->hi - f->lo + 1);
                return -1;
            }
            step = (int)v;
            if (!ranged) /* "5/15": from 5 to the end */
                b = f->hi == 7 ? 6 : f->hi;
        }
        if (*p != '\0') {
            snprintf(why, why_len, "field %d (%s): unexpected '%s' in '%s'", pos, f->name, p, item);
            return -1;
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << (f->hi == 7 && v == 7 ? 0 : v); /* day-of-week 7 is Sunday */
    }
    return 0;
}

static int parse_every(const char *p, kumo__schedule *s, char *why, size_t why_len)
{
    static const char usage[] = "write every N followed by s, m, h or d, such as every 30s, every 5m or every 2h";
    while (*p == ' ' || *p == '\t')
        p++;
    long long v = 0;
    int nd = 0;
    while (isdigit((unsigned char)*p) && nd < 12)
        v = v * 10 + (*p++ - '0'), nd++;
    int64_t unit = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : *p == 'd' ? 86400 : 0;
    if (nd == 0 || unit == 0 || p[1] != '\0') {
        snprintf(why, why_len, "'every' needs an interval: %s", usage);
        return -1;
    }
    if (v < 1 || v > EVERY_MAX / unit) {
        snprintf(why, why_len, "every: the interval must be from 1s to 365d (%lld%c)", v, *p);
        return -1;
    }
    s->every = v * unit;
    return 0;
}

int kumo__schedule_parse(const char *expr, const kumo__tz *tz, kumo__schedule **out, char *why, size_t why_len)
{
    static const struct {
        const char *name, *cron;
    } at_names[] = {{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                    {"@hourly", "0 * * * *"}};
    *out = NULL;
    if (why_len)
        why[0] = '\0';
    size_t len = strlen(expr);
    if (len > KUMO__SCHEDULE_MAX) {
        snprintf(why, why_len, "the schedule is longer than %d characters", KUMO__SCHEDULE_MAX);
        return -EINVAL;
    }
    char text[KUMO__SCHEDULE_MAX + 1];
    while (len && isspace((unsigned char)expr[len - 1]))
        len--;
    while (len && isspace((unsigned char)*expr))
        expr++, len--;
    memcpy(text, expr, len);
    text[len] = '\0';
    if (len == 0) {
        snprintf(why, why_len,
                 "the schedule is empty; write a cron expression such as \"0 3 * * *\", @daily or "
                 "every 5m");
        return -EINVAL;
    }
    kumo__schedule *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, why_len, "out of memory");
        return -ENOMEM;
    }
    s->tz = tz;
    const char *cron = text;
    if (text[0] == '@') {
        cron = NULL;
        for (size_t i = 0; i < sizeof at_names / sizeof at_names[0]; i++)
            if (strcasecmp(text, at_names[i].name) == 0)
                cron = at_names[i].cron;
        if (!cron) {
            snprintf(why, why_len,
                     "unknown schedule '%.64s'; the names are @yearly, @annually, @monthly, @weekly, @daily, "
                     "@midnight and @hourly",
                     text);
            goto fail;
        }
    } else if (strncasecmp(text, "every", 5) == 0 && (text[5] == '\0' || isspace((unsigned char)text[5]))) {
        if (parse_every(text + 5, s, why, why_len) < 0)
            goto fail;
        *out = s;
        return 0;
    }
    const char *start[7];
    size_t flen[7];
    int n = 0;
    for (const char *p = cron; *p;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *q = p;
        while (*q && !isspace((unsigned char)*q))
            q++;
        if (n < 7)
            start[n] = p, flen[n] = (size_t)(q - p);
        n++;
        p = q;
    }
    if (n != 5 && n != 6) {
        snprintf(why, why_len,
                 "%d field%s; a cron schedule has 5 (minute hour day-of-month month day-of-week) or 6 (seconds "
                 "first), or is @daily-style or every 5m",
                 n, n == 1 ? "" : "s");
        goto fail;
    }
    uint64_t bits[6];
    int stars[6];
    int first = n == 6 ? 0 : 1; /* without a seconds field, second 0 */
    bits[0] = 1, stars[0] = 0;
    for (int i = 0; i < n; i++)
        if (parse_field(start[i], flen[i], &fields[first + i], i + 1, &bits[first + i], &stars[first + i], why,
                        why_len) < 0)
            goto fail;
    s->sec = bits[0], s->min = bits[1], s->hour = (uint32_t)bits[2], s->dom = (uint32_t)bits[3];
    s->mon = (uint32_t)bits[4], s->dow = (uint32_t)bits[5];
    s->dom_star = stars[3], s->dow_star = stars[5];
    s->hourly = s->hour == 0xFFFFFFu; /* hours 0-23 all match */
    *out = s;
    return 0;
fail:
    free(s);
    return -EINVAL;
}

void kumo__schedule_free(kumo__schedule *s)
{
    free(s);
}

/* The lowest set bit >= from (and <= max), or -1. */
static int next_bit(uint64_t set, int from, int max)
{
    for (int i = from; i <= max; i++)
        if (set >> i & 1)
            return i;
    return -1;
}

static int day_matches(const kumo__schedule *s, int64_t y, int m, int d)
{
    int dom = (int)(s->dom >> d & 1);
    int dow = (int)(s->dow >> kumo__weekday(kumo__days_from_civil(y, m, d)) & 1);
    /* Vixie: when both are restricted, either matches */
    return s->dom_star || s->dow_star ? dom && dow : dom || dow;
}

/* The first wall-clock second >= local that the fields match, or -1 when
 * none is <= limit. */
static int64_t next_match(const kumo__schedule *s, int64_t local, int64_t limit)
{
    int64_t days = floor_div(local, 86400), sod = local - days * 86400, y;
    int m, d, h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), sec = (int)(sod % 60);
    kumo__civil_from_days(days, &y, &m, &d);
    int64_t limit_y;
    kumo__civil_from_days(floor_div(limit, 86400), &limit_y, NULL, NULL);
    for (;;) {
        if (y > limit_y)
            return -1;
        if (!(s->mon >> m & 1)) {
            d = 1, h = mi = sec = 0;
            if (++m > 12)
                m = 1, y++;
            continue;
        }
        if (!day_matches(s, y, m, d)) {
        next_day:
            h = mi = sec = 0;
            if (++d > kumo__days_in_month(y, m)) {
                d = 1;
                if (++m > 12)
                    m = 1, y++;
            }
            continue;
        }
        int nh = next_bit(s->hour, h, 23);
        if (nh < 0)
            goto next_day;
        if (nh != h)
            h = nh, mi = sec = 0;
        int nm = next_bit(s->min, mi, 59);
        if (nm < 0) {
            mi = sec = 0;
            if (++h > 23)
                goto next_day;
            continue;
        }
        if (nm != mi)
            mi = nm, sec = 0;
        int ns = next_bit(s->sec, sec, 59);
        if (ns < 0) {
            sec = 0;
            if (++mi > 59) {
                mi = 0;
                if (++h > 23)
                    goto next_day;
            }
            continue;
        }
        int64_t t = kumo__days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + ns;
        return t <= limit ? t : -1;
    }
}

static int32_t max_offset_near(const kumo__tz *tz, int64_t t)
{
    int32_t a = kumo__tz_offset(tz, t - 86400), b = kumo__tz_offset(tz, t), c = kumo__tz_offset(tz, t + 86400);
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

static int32_t min_offset_near(const kumo__tz *tz, int64_t t)
{
    int32_t a = kumo__tz_offset(tz, t - 86400), b = kumo__tz_offset(tz, t), c = kumo__tz_offset(tz, t + 86400);
    return a < b ? (a < c ? a : c) : (b < c ? b : c);
}

int64_t kumo__schedule_next(const kumo__schedule *s, int64_t after_ms)
{
    const int64_t range = INT64_C(1) << 52; /* far beyond any clock; keeps the arithmetic in range */
    if (after_ms < -range || after_ms > range)
        return -1;
    if (s->every)
        return (floor_div(after_ms, s->every * 1000) + 1) * s->every * 1000;
    int64_t from = floor_div(after_ms, 1000) + 1; /* the first whole second strictly after */
    int64_t limit = from + kumo__tz_offset(s->tz, from) + FIVE_YEARS;
    int64_t local = from + min_offset_near(s->tz, from), best = -1, stop = INT64_MAX;
    for (;;) {
        local = next_match(s, local, limit);
        if (local < 0 || local > stop)
            break;
        int64_t t[2];
        int n = kumo__tz_from_local(s->tz, local, t);
        if (n == 0) {
            if (s->hourly) {
                local++;
                continue;
            }
            t[0] = kumo__tz_gap_end(s->tz, local);
            n = 1;
        } else if (n == 2 && !s->hourly) {
            n = 1; /* the first occurrence only */
        }
        for (int i = 0; i < n; i++) {
            if (t[i] >= from && (best < 0 || t[i] < best)) {
                best = t[i];
                stop = best + max_offset_near(s->tz, best);
            }
        }
        local++;
    }
    return best < 0 ? -1 : best * 1000;
}

void kumo__schedule_format(const kumo__tz *tz, int64_t ms, char *local, size_t llen, char *utc, size_t ulen)
{
    int64_t t = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    for (int pass = 0; pass < 2; pass++) {
        int32_t off = pass == 0 && tz ? kumo__tz_offset(tz, t) : 0;
        int64_t l = t + off, days = l >= 0 ? l / 86400 : -((-l + 86399) / 86400), sod = l - days * 86400, y;
        int m, d;
        kumo__civil_from_days(days, &y, &m, &d);
        int32_t a = off < 0 ? -off : off;
        if (pass == 0)
            snprintf(local, llen, "%04lld-%02d-%02d %02d:%02d:%02d %c%02d:%02d", (long long)y, m, d, (int)(sod / 3600),
                     (int)(sod / 60 % 60), (int)(sod % 60), off < 0 ? '-' : '+', (int)(a / 3600), (int)(a / 60 % 60));
        else
            snprintf(utc, ulen, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(sod / 3600),
                     (int)(sod / 60 % 60), (int)(sod % 60));
    }
}

void kumo__schedule_get_fields(const kumo__schedule *s, kumo__schedule_fields *out)
{
    *out = (kumo__schedule_fields){.every_s = s->every,
                                   .sec = s->sec,
                                   .min = s->min,
                                   .hour = s->hour,
                                   .dom = s->dom,
                                   .mon = s->mon,
                                   .dow = s->dow,
                                   .dom_star = s->dom_star,
                                   .dow_star = s->dow_star};
}
