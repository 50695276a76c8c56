/*
 * tz.c: the TZif reader and the POSIX TZ rule behind tz.h. A zone is a
 * sorted list of transitions (instant, offset after it), the offset before
 * the first one, and optionally the footer's rule for every instant past
 * the last. Files are read whole under a ceiling; every count in a header
 * is checked against the bytes actually present before it is used.
 */
#include "base/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TZ_FILE_MAX (1 << 20) /* real zones are under 4 KiB */
#define TZ_NAME_MAX 255

/* The footer's date forms: Jn (1-365, Feb 29 never counted), n (0-365),
 * Mm.w.d (the w-th weekday d of month m, 5 = the last). */
typedef struct rule_date {
    char kind; /* 'J', 'N' or 'M' */
    int n, m, w, d;
    int32_t time; /* local seconds after midnight, may be <0 or >24h */
} rule_date;

struct kumo__tz {
    char name[TZ_NAME_MAX + 1];
    size_t n;
    int64_t *at;  /* transitions, ascending */
    int32_t *off; /* off[i]: offset from at[i] on */
    int32_t off0; /* before at[0] (or always, when n == 0 and no rule) */
    int has_rule, rule_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    rule_date start, end;
};

int64_t kumo__days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void kumo__civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int dd = (int)(doy - (153 * mp + 2) / 5 + 1), mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    if (y)
        *y = yoe + era * 400 + (mm <= 2);
    if (m)
        *m = mm;
    if (d)
        *d = dd;
}

int kumo__weekday(int64_t days)
{
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int kumo__days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ---- the POSIX TZ rule (the footer) ---- */

/* [+-]hh[:mm[:ss]] with hours up to max_h; seconds into *out (the sign as
 * written). Returns the byte after it, or NULL. */
static const char *parse_hms(const char *p, int max_h, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (*p < '0' || *p > '9')
        return NULL;
    int h = 0, m = 0, s = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 3)
        h = h * 10 + (*p++ - '0'), nd++;
    if (h > max_h)
        return NULL;
    if (*p == ':') {
        p++;
        if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9')
            return NULL;
        m = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
            p++;
            if (p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9')
                return NULL;
            s = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_abbr(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q > p + 1 ? q + 1 : NULL;
    }
    const char *q = p;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
        q++;
    return q - p >= 3 ? q : NULL;
}

static int parse_num(const char **pp, int lo, int hi, int *out)
{
    const char *p = *pp;
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 4)
        v = v * 10 + (*p++ - '0'), nd++;
    if (nd == 0 || v < lo || v > hi)
        return -1;
    *pp = p;
    *out = v;
    return 0;
}

static const char *parse_date(const char *p, rule_date *r)
{
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (parse_num(&p, 1, 365, &r->n) < 0)
            return NULL;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (parse_num(&p, 1, 12, &r->m) < 0 || *p++ != '.' || parse_num(&p, 1, 5, &r->w) < 0 || *p++ != '.' ||
            parse_num(&p, 0, 6, &r->d) < 0)
            return NULL;
    } else {
        r->kind = 'N';
        if (parse_num(&p, 0, 365, &r->n) < 0)
            return NULL;
    }
    r->time = 7200;
    if (*p == '/') {
        p = parse_hms(p + 1, 167, &r->time);
        if (!p)
            return NULL;
    }
    return p;
}

/* The footer "std offset [dst [offset] [,start[/time],end[/time]]]". An
 * empty footer is no rule (0). Returns 0 or -1 (malformed). */
static int parse_rule(kumo__tz *tz, const char *s)
{
    if (*s == '\0')
        return 0;
    const char *p = parse_abbr(s);
    int32_t v;
    if (!p || !(p = parse_hms(p, 24, &v)))
        return -1;
    tz->std_off = -v; /* POSIX offsets count west */
    tz->has_rule = 1;
    if (*p == '\0')
        return 0;
    if (!(p = parse_abbr(p)))
        return -1;
    tz->rule_dst = 1;
    tz->dst_off = tz->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, 24, &v)))
            return -1;
        tz->dst_off = -v;
    }
    if (*p == '\0') { /* POSIX leaves this to the implementation: the US rule */
        tz->start = (rule_date){'M', 0, 3, 2, 0, 7200};
        tz->end = (rule_date){'M', 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*p++ != ',' || !(p = parse_date(p, &tz->start)) || *p++ != ',' || !(p = parse_date(p, &tz->end)))
        return -1;
    return *p == '\0' ? 0 : -1;
}

/* Days since the epoch of a rule date in year y. */
static int64_t rule_day(const rule_date *r, int64_t y)
{
    int64_t jan1 = kumo__days_from_civil(y, 1, 1);
    if (r->kind == 'J')
        return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'N')
        return jan1 + r->n;
    int64_t first = kumo__days_from_civil(y, r->m, 1);
    int day = 1 + (r->d - kumo__weekday(first) + 7) % 7 + (r->w - 1) * 7;
    while (day > kumo__days_in_month(y, r->m))
        day -= 7;
    return first + day - 1;
}

static int32_t rule_offset(const kumo__tz *tz, int64_t t)
{
    if (!tz->rule_dst)
        return tz->std_off;
    int64_t y;
    kumo__civil_from_days(floor_div(t + tz->std_off, 86400), &y, NULL, NULL);
    int64_t start = rule_day(&tz->start, y) * 86400 + tz->start.time - tz->std_off;
    int64_t end = rule_day(&tz->end, y) * 86400 + tz->end.time - tz->dst_off;
    int dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? tz->dst_off : tz->std_off;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

/* Reads the 44-byte header at p; returns the data block's length for
 * times of tsize bytes, or 0 when the header is not TZif. */
static size_t tzif_header(const unsigned char *p, size_t len, int tsize, tzif_counts *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return 0;
    c->isut = be32(p + 20), c->isstd = be32(p + 24), c->leap = be32(p + 28);
    c->time = be32(p + 32), c->type = be32(p + 36), c->chars = be32(p + 40);
    if (c->isut > TZ_FILE_MAX || c->isstd > TZ_FILE_MAX || c->leap > TZ_FILE_MAX || c->time > TZ_FILE_MAX ||
        c->type > 256 || c->chars > TZ_FILE_MAX)
        return 0;
    return (size_t)c->time * (size_t)(tsize + 1) + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (size_t)(tsize + 4) + c->isstd + c->isut;
}

static int parse_tzif(kumo__tz *tz, const unsigned char *buf, size_t len, const char **why)
{
    tzif_counts c;
    size_t body = tzif_header(buf, len, 4, &c);
    if (body == 0 || 44 + body > len)
        return *why = "not a TZif file, or cut short", -1;
    int version = buf[4] ? buf[4] - '0' : 1;
    const unsigned char *p = buf + 44;
    int tsize = 4;
    if (version >= 2) {
        const unsigned char *h2 = p + body;
        size_t left = len - (size_t)(h2 - buf);
        body = tzif_header(h2, left, 8, &c);
        if (body == 0 || 44 + body > left)
            return *why = "the 64-bit part is missing or cut short", -1;
        p = h2 + 44;
        tsize = 8;
    }
    if (c.type == 0)
        return *why = "no local time types", -1;
    if (c.leap != 0)
        return *why = "it counts leap seconds (a right/ zone); use the zone without right/", -1;
    const unsigned char *times = p, *idx = p + (size_t)c.time * tsize, *types = idx + c.time;
    tz->n = c.time;
    if (c.time) {
        tz->at = malloc(c.time * sizeof *tz->at);
        tz->off = malloc(c.time * sizeof *tz->off);
        if (!tz->at || !tz->off)
            return *why = "out of memory", -1;
    }
    for (uint32_t i = 0; i < c.time; i++) {
        tz->at[i] = tsize == 8 ? be64(times + (size_t)i * 8) : (int32_t)be32(times + (size_t)i * 4);
        if (i && tz->at[i] <= tz->at[i - 1])
            return *why = "transitions out of order", -1;
        if (idx[i] >= c.type)
            return *why = "a transition names a type that does not exist", -1;
        tz->off[i] = (int32_t)be32(types + (size_t)idx[i] * 6);
    }
    for (uint32_t i = 0; i < c.type; i++) {
        int32_t o = (int32_t)be32(types + (size_t)i * 6);
        if (o <= -25 * 3600 || o >= 26 * 3600)
            return *why = "an offset beyond a day", -1;
    }
    tz->off0 = (int32_t)be32(types); /* RFC 8536: type 0 before the first transition */
    if (version >= 2) {
        const unsigned char *f = p + body, *end = buf + len;
        if (f < end && *f == '\n') {
            const unsigned char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
            if (!nl || nl - f - 1 > 200)
                return *why = "a malformed footer", -1;
            char rule[201];
            memcpy(rule, f + 1, (size_t)(nl - f - 1));
            rule[nl - f - 1] = '\0';
            if (parse_rule(tz, rule) < 0)
                return *why = "a footer rule that is not a POSIX TZ string", -1;
        }
    }
    return 0;
}

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '+' || ch == '-' || ch == '/'))
            return 0;
    }
    return 1;
}

int kumo__tz_load(const char *name, kumo__tz **out, kumo__error *err)
{
    *out = NULL;
    int rc = 0, fd = -1;
    unsigned char *buf = NULL;
    kumo__tz *tz = NULL;
    if (!name_ok(name)) {
        kumo__error_set(err, -EINVAL,
                        "time zone '%.300s' is not an IANA zone name (letters, digits, _ + - and /, such as "
                        "Europe/Zurich)",
                        name);
        return -EINVAL;
    }
    tz = calloc(1, sizeof *tz);
    if (!tz) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    snprintf(tz->name, sizeof tz->name, "%s", name);
    if (strcmp(name, "UTC") == 0)
        goto out; /* n == 0, off0 == 0, no rule */
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
        kumo__error_set(
            err, rc,
            "unknown time zone '%s': %s has no such zone (%s); use an IANA name such as Europe/Zurich, or set TZDIR",
            name, dir, strerror(-rc));
        goto out;
    }
    buf = malloc(TZ_FILE_MAX);
    if (!buf) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, TZ_FILE_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            kumo__error_set(err, rc, "time zone '%s': reading %s: %s", name, path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == TZ_FILE_MAX) {
            rc = -EFBIG;
            kumo__error_set(err, rc, "time zone '%s': %s is larger than %d bytes; not a zone file", name, path,
                            TZ_FILE_MAX);
            goto out;
        }
    }
    const char *why = NULL;
    if (parse_tzif(tz, buf, len, &why) < 0) {
        rc = -EINVAL;
        kumo__error_set(err, rc, "time zone '%s': %s is not a usable zone file: %s", name, path, why);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    if (rc < 0)
        kumo__tz_free(tz);
    else
        *out = tz;
    return rc;
}

void kumo__tz_free(kumo__tz *tz)
{
    if (!tz)
        return;
    free(tz->at);
    free(tz->off);
    free(tz);
}

const char *kumo__tz_name(const kumo__tz *tz)
{
    return tz ? tz->name : "UTC";
}

int32_t kumo__tz_offset(const kumo__tz *tz, int64_t t)
{
    if (!tz)
        return 0;
    if (tz->n == 0)
        return tz->has_rule ? rule_offset(tz, t) : tz->off0;
    if (t < tz->at[0])
        return tz->off0;
    if (t >= tz->at[tz->n - 1])
        return tz->has_rule ? rule_offset(tz, t) : tz->off[tz->n - 1];
    size_t lo = 0, hi = tz->n - 1; /* at[lo] <= t < at[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}

/* Offsets never change twice within a day, so the offsets a day before,
 * at and a day after `local` (read as UTC) are every candidate. */
int kumo__tz_from_local(const kumo__tz *tz, int64_t local, int64_t out[2])
{
    int n = 0;
    int32_t cand[3] = {kumo__tz_offset(tz, local - 86400), kumo__tz_offset(tz, local),
                       kumo__tz_offset(tz, local + 86400)};
    for (int i = 0; i < 3; i++) {
        int64_t t = local - cand[i];
        if (kumo__tz_offset(tz, t) != cand[i])
            continue;
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= out[j] == t;
        if (dup || n == 2)
            continue;
        out[n++] = t;
    }
    if (n == 2 && out[0] > out[1]) {
        int64_t t = out[0];
        out[0] = out[1];
        out[1] = t;
    }
    return n;
}

int64_t kumo__tz_gap_end(const kumo__tz *tz, int64_t local)
{
    int64_t got[2];
    if (kumo__tz_from_local(tz, local, got) > 0)
        return got[0];
    /* before (o1) < after (o2); the transition T has T + o1 <= local < T + o2 */
    int32_t o1 = kumo__tz_offset(tz, local - 86400), o2 = kumo__tz_offset(tz, local + 86400);
    if (o2 <= o1)
        return local - o1;                    /* not a gap after all: cannot happen with sane data */
    int64_t lo = local - o2, hi = local - o1; /* offset(lo) == o1, offset(hi) == o2 */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (kumo__tz_offset(tz, mid) == o2)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}
