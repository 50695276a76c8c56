/*
 * test_tz.c: the TZif reader (src/base/tz.c) against the system's zoneinfo:
 * offsets on both sides of transitions, wall-clock times in a gap, a fold
 * and a normal hour, dates past the last transition (the footer's POSIX
 * rule), a 30-minute DST (Lord Howe), a zone without DST (Kolkata), UTC
 * without any file, and refused names. The expected values were read once
 * from zdump and date(1) and are written here, so the test needs nothing
 * but the zone files.
 */
#include "base/tz.c"

#include "check.h"

#include <unistd.h>

static int64_t local_of(int64_t y, int m, int d, int h, int mi, int s)
{
    return kumo__days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
}

static kumo__tz *load(const char *name)
{
    kumo__tz *tz = NULL;
    kumo__error err = {0};
    int rc = kumo__tz_load(name, &tz, &err);
    if (rc != 0)
        fprintf(stderr, "loading %s: %s\n", name, err.msg);
    CHECK_INT(rc, 0);
    return tz;
}

static void test_calendar(void)
{
    CHECK_INT(kumo__days_from_civil(1970, 1, 1), 0);
    CHECK_INT(kumo__days_from_civil(2000, 3, 1), 11017);
    CHECK_INT(kumo__days_from_civil(1969, 12, 31), -1);
    int64_t y;
    int m, d;
    kumo__civil_from_days(kumo__days_from_civil(2028, 2, 29), &y, &m, &d);
    CHECK_INT(y, 2028);
    CHECK_INT(m, 2);
    CHECK_INT(d, 29);
    CHECK_INT(kumo__weekday(0), 4);                                   /* Thursday */
    CHECK_INT(kumo__weekday(kumo__days_from_civil(2026, 3, 29)), 0);  /* Sunday */
    CHECK_INT(kumo__weekday(kumo__days_from_civil(1969, 12, 28)), 0); /* Sunday, before the epoch */
    CHECK_INT(kumo__days_in_month(2100, 2), 28);
    CHECK_INT(kumo__days_in_month(2000, 2), 29);
}

static void test_utc(void)
{
    setenv("TZDIR", "/nonexistent-zoneinfo", 1); /* UTC needs no file */
    kumo__tz *tz = load("UTC");
    unsetenv("TZDIR");
    if (!tz)
        return;
    CHECK_INT(kumo__tz_offset(tz, 1774746000), 0);
    CHECK_STR(kumo__tz_name(tz), "UTC");
    int64_t out[2];
    CHECK_INT(kumo__tz_from_local(tz, 1774746000, out), 1);
    CHECK_INT(out[0], 1774746000);
    CHECK_INT(kumo__tz_offset(NULL, 5), 0);
    kumo__tz_free(tz);
}

static void test_zurich(void)
{
    kumo__tz *tz = load("Europe/Zurich");
    if (!tz)
        return;
    /* 2026-03-29 01:00 UTC: 01:59:59 CET -> 03:00 CEST */
    CHECK_INT(kumo__tz_offset(tz, 1774745999), 3600);
    CHECK_INT(kumo__tz_offset(tz, 1774746000), 7200);
    /* 2026-10-25 01:00 UTC: 02:59:59 CEST -> 02:00 CET */
    CHECK_INT(kumo__tz_offset(tz, 1792889999), 7200);
    CHECK_INT(kumo__tz_offset(tz, 1792890000), 3600);
    int64_t out[2] = {0, 0};
    /* gap: 02:30 on the spring-forward day does not exist */
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 3, 29, 2, 30, 0), out), 0);
    CHECK_INT(kumo__tz_gap_end(tz, local_of(2026, 3, 29, 2, 30, 0)), 1774746000);
    CHECK_INT(kumo__tz_gap_end(tz, local_of(2026, 3, 29, 2, 0, 0)), 1774746000);
    /* the edges of the gap: 01:59:59 and 03:00 exist once */
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 3, 29, 1, 59, 59), out), 1);
    CHECK_INT(out[0], 1774745999);
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 3, 29, 3, 0, 0), out), 1);
    CHECK_INT(out[0], 1774746000);
    /* fold: 02:30 on the fall-back day occurs at 00:30 and 01:30 UTC */
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 10, 25, 2, 30, 0), out), 2);
    CHECK_INT(out[0], 1792890000 - 1800);
    CHECK_INT(out[1], 1792890000 + 1800);
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 10, 25, 3, 0, 0), out), 1);
    CHECK_INT(out[0], 1792890000 + 3600);
    /* normal: noon in July is 10:00 UTC */
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 7, 1, 12, 0, 0), out), 1);
    CHECK_INT(out[0], local_of(2026, 7, 1, 10, 0, 0));
    /* far future: past any transition in the file, the footer's rule */
    CHECK_INT(kumo__tz_offset(tz, 4118083200), 7200); /* 2100-07-01 */
    CHECK_INT(kumo__tz_offset(tz, 4131302400), 3600); /* 2100-12-01 */
    CHECK_INT(kumo__tz_offset(tz, 4109878799), 3600); /* 2100-03-28 00:59:59Z */
    CHECK_INT(kumo__tz_offset(tz, 4109878800), 7200);
    CHECK_INT(kumo__tz_from_local(tz, local_of(2100, 3, 28, 2, 30, 0), out), 0);
    CHECK_INT(kumo__tz_from_local(tz, local_of(2100, 10, 31, 2, 30, 0), out), 2);
    kumo__tz_free(tz);
}

static void test_new_york(void)
{
    kumo__tz *tz = load("America/New_York");
    if (!tz)
        return;
    CHECK_INT(kumo__tz_offset(tz, 1772953199), -5 * 3600);
    CHECK_INT(kumo__tz_offset(tz, 1772953200), -4 * 3600);
    CHECK_INT(kumo__tz_offset(tz, 1793512799), -4 * 3600);
    CHECK_INT(kumo__tz_offset(tz, 1793512800), -5 * 3600);
    CHECK_INT(kumo__tz_offset(tz, 3802550400), -4 * 3600); /* 2090-07-01 */
    int64_t out[2];
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 3, 8, 2, 15, 0), out), 0);
    CHECK_INT(kumo__tz_gap_end(tz, local_of(2026, 3, 8, 2, 15, 0)), 1772953200);
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 11, 1, 1, 30, 0), out), 2);
    CHECK_INT(out[0], 1793512800 - 1800);
    CHECK_INT(out[1], 1793512800 + 1800);
    kumo__tz_free(tz);
}

static void test_lord_howe(void)
{
    kumo__tz *tz = load("Australia/Lord_Howe");
    if (!tz)
        return;
    /* 2026-04-04 15:00 UTC: 02:00 +11 -> 01:30 +1030 */
    int64_t back = local_of(2026, 4, 4, 15, 0, 0), fwd = local_of(2026, 10, 3, 15, 30, 0);
    CHECK_INT(kumo__tz_offset(tz, back - 1), 39600);
    CHECK_INT(kumo__tz_offset(tz, back), 37800);
    CHECK_INT(kumo__tz_offset(tz, fwd - 1), 37800);
    CHECK_INT(kumo__tz_offset(tz, fwd), 39600);
    int64_t out[2];
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 4, 5, 1, 45, 0), out), 2);
    CHECK_INT(out[1] - out[0], 1800);
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 4, 5, 2, 0, 0), out), 1);
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 10, 4, 2, 10, 0), out), 0);
    CHECK_INT(kumo__tz_gap_end(tz, local_of(2026, 10, 4, 2, 10, 0)), fwd);
    /* the footer <+1030>-10:30<+11>-11,M10.1.0,M4.1.0 (southern hemisphere) */
    CHECK_INT(kumo__tz_offset(tz, 3471292800), 39600); /* 2080-01-01 */
    CHECK_INT(kumo__tz_offset(tz, 3487017600), 37800); /* 2080-07-01 */
    CHECK_INT(kumo__tz_offset(tz, 4110447599), 39600); /* 2100-04-03 14:59:59Z */
    CHECK_INT(kumo__tz_offset(tz, 4110447600), 37800);
    CHECK_INT(kumo__tz_offset(tz, 4126174199), 37800); /* 2100-10-02 15:29:59Z */
    CHECK_INT(kumo__tz_offset(tz, 4126174200), 39600);
    kumo__tz_free(tz);
}

static void test_kolkata(void)
{
    kumo__tz *tz = load("Asia/Kolkata");
    if (!tz)
        return;
    CHECK_INT(kumo__tz_offset(tz, -886291200), 23400); /* 1941: +0630 */
    CHECK_INT(kumo__tz_offset(tz, 1767225600), 19800); /* 2026: +0530 */
    CHECK_INT(kumo__tz_offset(tz, 7258118400), 19800); /* 2200: the footer IST-5:30 */
    int64_t out[2];
    CHECK_INT(kumo__tz_from_local(tz, local_of(2026, 1, 1, 5, 30, 0), out), 1);
    CHECK_INT(out[0], 1767225600);
    kumo__tz_free(tz);
}

static void test_refused(void)
{
    const char *bad[] = {"",
                         "../etc/passwd",
                         "/etc/localtime",
                         "Europe/../UTC",
                         "Europe/Zu rich",
                         "Europe/Zurich\n",
                         "Mars/Olympus_Mons",
                         "Europe"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kumo__tz *tz = (kumo__tz *)1;
        kumo__error err = {0};
        CHECK(kumo__tz_load(bad[i], &tz, &err) < 0);
        CHECK(tz == NULL);
        CHECK(err.msg[0] != '\0');
    }
    kumo__tz *tz = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__tz_load("Mars/Olympus_Mons", &tz, &err), -ENOENT);
    CHECK(strstr(err.msg, "Mars/Olympus_Mons") != NULL);
    CHECK(strstr(err.msg, "/usr/share/zoneinfo") != NULL);
    /* a file that is not TZif */
    char dir[] = "/tmp/kumo-tz-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/Bad", dir);
    FILE *f = fopen(path, "w");
    fputs("TZif2 but not really", f);
    fclose(f);
    setenv("TZDIR", dir, 1);
    CHECK_INT(kumo__tz_load("Bad", &tz, &err), -EINVAL);
    CHECK(strstr(err.msg, "not a usable zone file") != NULL);
    /* a truncated real zone */
    FILE *src = fopen("/usr/share/zoneinfo/Europe/Zurich", "rb");
    if (src) {
        unsigned char b[4096];
        size_t n = fread(b, 1, sizeof b, src);
        fclose(src);
        for (size_t cut = 0; cut < n; cut += 37) {
            f = fopen(path, "wb");
            fwrite(b, 1, cut, f);
            fclose(f);
            kumo__tz *t = NULL;
            int rc = kumo__tz_load("Bad", &t, &err);
            CHECK(rc == 0 || rc == -EINVAL);
            kumo__tz_free(t);
        }
    }
    unsetenv("TZDIR");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (access("/usr/share/zoneinfo/Europe/Zurich", R_OK) != 0) {
        check_skip("no /usr/share/zoneinfo (install tzdata); only UTC is tested");
        test_calendar();
        test_utc();
        return check_report();
    }
    test_calendar();
    test_utc();
    test_zurich();
    test_new_york();
    test_lord_howe();
    test_kolkata();
    test_refused();
    return check_report();
}
