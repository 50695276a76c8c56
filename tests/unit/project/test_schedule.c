/*
 * test_schedule.c: the schedule parser and kumo__schedule_next
 * (src/project/schedule.c): cron fields (steps, ranges, lists, names,
 * seconds), Vixie's day-of-month / day-of-week rule, Feb 29 and Feb 30,
 * the daylight-saving rules of docs/events.md on Zurich's 2026
 * spring-forward and fall-back days, `every`, and the exact messages of
 * refused expressions.
 */
#include "project/schedule.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int64_t utc_ms(int64_t y, int m, int d, int h, int mi, int s)
{
    return (kumo__days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
}

static kumo__schedule *parse(const char *expr, const kumo__tz *tz)
{
    kumo__schedule *s = NULL;
    char why[300];
    int rc = kumo__schedule_parse(expr, tz, &s, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "'%s': %s\n", expr, why);
    CHECK_INT(rc, 0);
    return s;
}

/* next(expr, after) == want */
#define NEXT(expr, tz, after, want)                                                                                    \
    do {                                                                                                               \
        kumo__schedule *s_ = parse(expr, tz);                                                                          \
        if (s_) {                                                                                                      \
            CHECK_INT(kumo__schedule_next(s_, after), want);                                                           \
            kumo__schedule_free(s_);                                                                                   \
        }                                                                                                              \
    } while (0)

static void test_utc_fields(void)
{
    int64_t jan1 = utc_ms(2026, 1, 1, 0, 0, 0);
    NEXT("0 3 * * *", NULL, jan1, utc_ms(2026, 1, 1, 3, 0, 0));
    NEXT("0 3 * * *", NULL, utc_ms(2026, 1, 1, 3, 0, 0), utc_ms(2026, 1, 2, 3, 0, 0)); /* strictly after */
    NEXT("0 3 * * *", NULL, utc_ms(2026, 1, 1, 3, 0, 0) - 1, utc_ms(2026, 1, 1, 3, 0, 0));
    NEXT("* * * * *", NULL, utc_ms(2026, 1, 1, 3, 0, 0) + 1, utc_ms(2026, 1, 1, 3, 1, 0));
    NEXT("  0 3 * * *  ", NULL, jan1, utc_ms(2026, 1, 1, 3, 0, 0));
    /* steps, ranges, lists, names (any case) */
    NEXT("*/15 9-17 * JAN,jul mon-fri", NULL, utc_ms(2026, 7, 4, 0, 0, 0), utc_ms(2026, 7, 6, 9, 0, 0));
    NEXT("*/15 9-17 * JAN,jul mon-fri", NULL, utc_ms(2026, 7, 6, 9, 0, 0), utc_ms(2026, 7, 6, 9, 15, 0));
    NEXT("*/15 9-17 * JAN,jul mon-fri", NULL, utc_ms(2026, 7, 6, 17, 45, 0), utc_ms(2026, 7, 7, 9, 0, 0));
    NEXT("*/15 9-17 * JAN,jul mon-fri", NULL, utc_ms(2026, 7, 31, 17, 45, 0), utc_ms(2027, 1, 1, 9, 0, 0));
    NEXT("5/20 * * * *", NULL, utc_ms(2026, 1, 1, 0, 6, 0), utc_ms(2026, 1, 1, 0, 25, 0));
    NEXT("10-50/20 * * * *", NULL, utc_ms(2026, 1, 1, 0, 31, 0), utc_ms(2026, 1, 1, 0, 50, 0));
    NEXT("10-50/20 * * * *", NULL, utc_ms(2026, 1, 1, 0, 50, 0), utc_ms(2026, 1, 1, 1, 10, 0));
    NEXT("0 0 1 */3 *", NULL, utc_ms(2026, 2, 1, 0, 0, 0), utc_ms(2026, 4, 1, 0, 0, 0));
    /* day-of-week 0 and 7 are Sunday; 2026-02-01 is a Sunday */
    NEXT("0 0 * * 7", NULL, jan1, utc_ms(2026, 1, 4, 0, 0, 0));
    NEXT("0 0 * * 0", NULL, jan1, utc_ms(2026, 1, 4, 0, 0, 0));
    NEXT("0 0 * * 5-7", NULL, utc_ms(2026, 1, 3, 0, 0, 0), utc_ms(2026, 1, 4, 0, 0, 0));
    NEXT("0 0 * * sun", NULL, jan1, utc_ms(2026, 1, 4, 0, 0, 0));
    /* Vixie: both restricted, either matches (the 13th or a Friday) */
    NEXT("0 0 13 * 5", NULL, utc_ms(2026, 2, 1, 0, 0, 0), utc_ms(2026, 2, 6, 0, 0, 0));
    NEXT("0 0 13 * 5", NULL, utc_ms(2026, 3, 7, 0, 0, 0), utc_ms(2026, 3, 13, 0, 0, 0));
    NEXT("0 0 14 * 5", NULL, utc_ms(2026, 2, 7, 0, 0, 0), utc_ms(2026, 2, 13, 0, 0, 0));
    NEXT("0 0 14 * 5", NULL, utc_ms(2026, 2, 13, 0, 0, 0), utc_ms(2026, 2, 14, 0, 0, 0));
    /* ...a field starting with '*' is unrestricted: both must match (odd days that are Fridays) */
    NEXT("0 0 */2 * 5", NULL, utc_ms(2026, 2, 1, 0, 0, 0), utc_ms(2026, 2, 13, 0, 0, 0));
    NEXT("0 0 1 * *", NULL, utc_ms(2026, 1, 31, 0, 0, 0), utc_ms(2026, 2, 1, 0, 0, 0));
    /* 6 fields: seconds first */
    NEXT("*/10 * * * * *", NULL, utc_ms(2026, 1, 1, 12, 0, 5), utc_ms(2026, 1, 1, 12, 0, 10));
    NEXT("*/10 * * * * *", NULL, utc_ms(2026, 1, 1, 12, 0, 50), utc_ms(2026, 1, 1, 12, 1, 0));
    NEXT("30 0 3 * * *", NULL, jan1, utc_ms(2026, 1, 1, 3, 0, 30));
    NEXT("* * * * * *", NULL, utc_ms(2026, 1, 1, 12, 0, 5) + 999, utc_ms(2026, 1, 1, 12, 0, 6));
    /* Feb 29, Feb 30, April 31 */
    NEXT("0 12 29 2 *", NULL, jan1, utc_ms(2028, 2, 29, 12, 0, 0));
    NEXT("0 12 29 2 *", NULL, utc_ms(2028, 2, 29, 12, 0, 0), utc_ms(2032, 2, 29, 12, 0, 0));
    NEXT("0 0 30 2 *", NULL, jan1, -1);
    NEXT("0 0 31 4,6,9,11 *", NULL, jan1, -1);
    NEXT("0 0 29 2 *", NULL, utc_ms(2096, 3, 1, 0, 0, 0), -1); /* 2100 is not leap: 2104 is too far */
    /* the names */
    NEXT("@hourly", NULL, utc_ms(2026, 1, 1, 0, 30, 0), utc_ms(2026, 1, 1, 1, 0, 0));
    NEXT("@daily", NULL, utc_ms(2026, 1, 1, 0, 30, 0), utc_ms(2026, 1, 2, 0, 0, 0));
    NEXT("@midnight", NULL, utc_ms(2026, 1, 1, 0, 30, 0), utc_ms(2026, 1, 2, 0, 0, 0));
    NEXT("@weekly", NULL, jan1, utc_ms(2026, 1, 4, 0, 0, 0));
    NEXT("@monthly", NULL, jan1, utc_ms(2026, 2, 1, 0, 0, 0));
    NEXT("@yearly", NULL, jan1, utc_ms(2027, 1, 1, 0, 0, 0));
    NEXT("@ANNUALLY", NULL, jan1, utc_ms(2027, 1, 1, 0, 0, 0));
}

static void test_every(kumo__tz *zurich)
{
    NEXT("every 30s", NULL, 1000, 30000);
    NEXT("every 30s", NULL, 30000, 60000);
    NEXT("every 30s", NULL, -1, 0);
    NEXT("every 5m", NULL, utc_ms(2026, 1, 1, 0, 7, 0), utc_ms(2026, 1, 1, 0, 10, 0));
    NEXT("every 1d", NULL, utc_ms(2026, 1, 1, 0, 7, 0), utc_ms(2026, 1, 2, 0, 0, 0));
    NEXT("EVERY   2h", NULL, utc_ms(2026, 1, 1, 0, 7, 0), utc_ms(2026, 1, 1, 2, 0, 0));
    /* zones and DST do not touch it: elapsed time, aligned to the epoch */
    if (zurich) {
        NEXT("every 2h", zurich, utc_ms(2026, 3, 29, 0, 30, 0), utc_ms(2026, 3, 29, 2, 0, 0));
        NEXT("every 1d", zurich, utc_ms(2026, 10, 25, 0, 30, 0), utc_ms(2026, 10, 26, 0, 0, 0));
    }
}

/* Counts the fires in (from, to] and checks they increase. */
static int count_fires(const char *expr, const kumo__tz *tz, int64_t from, int64_t to, int64_t *first_gap)
{
    kumo__schedule *s = parse(expr, tz);
    if (!s)
        return -1;
    int n = 0;
    int64_t t = from, prev = -1;
    *first_gap = -1;
    while ((t = kumo__schedule_next(s, t)) > 0 && t <= to) {
        CHECK(t > prev);
        if (prev >= 0 && *first_gap < 0)
            *first_gap = t - prev;
        prev = t;
        n++;
    }
    kumo__schedule_free(s);
    return n;
}

static void test_zurich(kumo__tz *tz)
{
    /* Spring forward, 2026-03-29 01:00 UTC: 02:00-03:00 local does not exist. */
    int64_t spring = utc_ms(2026, 3, 29, 1, 0, 0);
    /* a fixed hour in the gap fires once, at the end of the gap (03:00 CEST) */
    NEXT("30 2 * * *", tz, utc_ms(2026, 3, 28, 12, 0, 0), spring);
    NEXT("0 2 * * *", tz, utc_ms(2026, 3, 28, 12, 0, 0), spring);
    NEXT("59 2 * * *", tz, utc_ms(2026, 3, 28, 12, 0, 0), spring);
    NEXT("30 2 * * *", tz, spring, utc_ms(2026, 3, 30, 0, 30, 0));
    NEXT("0,30 2 * * *", tz, utc_ms(2026, 3, 28, 12, 0, 0), spring);
    NEXT("0,30 2 * * *", tz, spring, utc_ms(2026, 3, 30, 0, 0, 0)); /* once, not once per minute in the gap */
    NEXT("0 2,3 * * *", tz, utc_ms(2026, 3, 28, 12, 0, 0), spring);
    NEXT("0 2,3 * * *", tz, spring, utc_ms(2026, 3, 30, 0, 0, 0));
    NEXT("30 3 * * *", tz, utc_ms(2026, 3, 28, 12, 0, 0), utc_ms(2026, 3, 29, 1, 30, 0));
    NEXT("30 1 * * *", tz, utc_ms(2026, 3, 28, 12, 0, 0), utc_ms(2026, 3, 29, 0, 30, 0));
    /* hourly: no run in the missing hour */
    NEXT("30 * * * *", tz, utc_ms(2026, 3, 29, 0, 0, 0), utc_ms(2026, 3, 29, 0, 30, 0));
    NEXT("30 * * * *", tz, utc_ms(2026, 3, 29, 0, 30, 0), utc_ms(2026, 3, 29, 1, 30, 0));
    NEXT("0 * * * *", tz, utc_ms(2026, 3, 29, 0, 30, 0), spring);
    int64_t gap;
    CHECK_INT(count_fires("0 * * * *", tz, utc_ms(2026, 3, 28, 23, 0, 0), utc_ms(2026, 3, 29, 23, 0, 0), &gap), 24);
    CHECK_INT(gap, 3600000);
    CHECK_INT(count_fires("*/20 * * * *", tz, utc_ms(2026, 3, 28, 23, 0, 0), utc_ms(2026, 3, 29, 4, 0, 0), &gap), 15);
    /* a day's fixed-hour job: 23 hours from Saturday's run to Sunday's */
    CHECK_INT(count_fires("0 4 * * *", tz, utc_ms(2026, 3, 28, 0, 0, 0), utc_ms(2026, 3, 29, 23, 0, 0), &gap), 2);
    CHECK_INT(gap, 23 * 3600000LL);

    /* Fall back, 2026-10-25 01:00 UTC: 02:00-03:00 local occurs twice,
     * first 00:00-01:00 UTC (CEST), then 01:00-02:00 UTC (CET). */
    /* a fixed hour fires once, at the first occurrence */
    NEXT("30 2 * * *", tz, utc_ms(2026, 10, 24, 12, 0, 0), utc_ms(2026, 10, 25, 0, 30, 0));
    NEXT("30 2 * * *", tz, utc_ms(2026, 10, 25, 0, 30, 0), utc_ms(2026, 10, 26, 1, 30, 0));
    NEXT("30 2 * * *", tz, utc_ms(2026, 10, 25, 0, 45, 0), utc_ms(2026, 10, 26, 1, 30, 0));
    NEXT("30 2 * * *", tz, utc_ms(2026, 10, 25, 1, 15, 0), utc_ms(2026, 10, 26, 1, 30, 0));
    NEXT("*/15 2 * * *", tz, utc_ms(2026, 10, 25, 0, 45, 0), utc_ms(2026, 10, 26, 1, 0, 0));
    NEXT("0 3 * * *", tz, utc_ms(2026, 10, 25, 0, 30, 0), utc_ms(2026, 10, 25, 2, 0, 0));
    /* hourly fires in both passes */
    NEXT("30 * * * *", tz, utc_ms(2026, 10, 24, 23, 0, 0), utc_ms(2026, 10, 24, 23, 30, 0));
    NEXT("30 * * * *", tz, utc_ms(2026, 10, 24, 23, 30, 0), utc_ms(2026, 10, 25, 0, 30, 0));
    NEXT("30 * * * *", tz, utc_ms(2026, 10, 25, 0, 30, 0), utc_ms(2026, 10, 25, 1, 30, 0));
    NEXT("30 * * * *", tz, utc_ms(2026, 10, 25, 1, 30, 0), utc_ms(2026, 10, 25, 2, 30, 0));
    NEXT("0 * * * *", tz, utc_ms(2026, 10, 25, 0, 0, 0), utc_ms(2026, 10, 25, 1, 0, 0));
    CHECK_INT(count_fires("*/20 * * * *", tz, utc_ms(2026, 10, 24, 22, 0, 0), utc_ms(2026, 10, 25, 3, 0, 0), &gap), 15);
    CHECK_INT(gap, 1200000);
    CHECK_INT(count_fires("0 * * * *", tz, utc_ms(2026, 10, 24, 22, 0, 0), utc_ms(2026, 10, 25, 22, 0, 0), &gap), 24);
    CHECK_INT(count_fires("* * * * * *", tz, utc_ms(2026, 10, 25, 0, 59, 0), utc_ms(2026, 10, 25, 1, 1, 0), &gap), 120);
    CHECK_INT(gap, 1000);
    /* a day's fixed-hour job: 25 hours from Saturday's run to Sunday's */
    CHECK_INT(count_fires("0 4 * * *", tz, utc_ms(2026, 10, 24, 0, 0, 0), utc_ms(2026, 10, 25, 23, 0, 0), &gap), 2);
    CHECK_INT(gap, 25 * 3600000LL);
    /* past the file's last transition (the footer's rule): 2100 */
    NEXT("30 2 * * *", tz, utc_ms(2100, 3, 27, 12, 0, 0), utc_ms(2100, 3, 28, 1, 0, 0));
    NEXT("30 2 * * *", tz, utc_ms(2100, 10, 30, 12, 0, 0), utc_ms(2100, 10, 31, 0, 30, 0));
    NEXT("0 12 * * *", tz, utc_ms(2100, 7, 1, 0, 0, 0), utc_ms(2100, 7, 1, 10, 0, 0));
}

static void test_lord_howe(kumo__tz *tz)
{
    /* 2026-10-04 02:00 +1030 -> 02:30 +11 (15:30 UTC on the 3rd) */
    NEXT("15 2 * * *", tz, utc_ms(2026, 10, 3, 0, 0, 0), utc_ms(2026, 10, 3, 15, 30, 0));
    NEXT("15 * * * *", tz, utc_ms(2026, 10, 3, 15, 0, 0), utc_ms(2026, 10, 3, 16, 15, 0));
}

#define BAD(expr, msg)                                                                                                 \
    do {                                                                                                               \
        kumo__schedule *s_ = (kumo__schedule *)&why;                                                                   \
        CHECK_INT(kumo__schedule_parse(expr, NULL, &s_, why, sizeof why), -EINVAL);                                    \
        CHECK(s_ == NULL);                                                                                             \
        CHECK_STR(why, msg);                                                                                           \
    } while (0)

static void test_refused(void)
{
    char why[300];
    BAD("0 24 * * *", "field 2 (hour): 24 is out of 0-23");
    BAD("60 * * * *", "field 1 (minute): 60 is out of 0-59");
    BAD("60 * * * * *", "field 1 (second): 60 is out of 0-59");
    BAD("0 0 0 * *", "field 3 (day-of-month): 0 is out of 1-31");
    BAD("0 0 32 * *", "field 3 (day-of-month): 32 is out of 1-31");
    BAD("0 0 * 13 *", "field 4 (month): 13 is out of 1-12");
    BAD("0 0 * * 8", "field 5 (day-of-week): 8 is out of 0-7");
    BAD("0 0 * * 99999999999999", "field 5 (day-of-week): 99999999999999 is out of 0-7");
    BAD("0 0 * FOO *", "field 4 (month): 'FOO' is not a number or a name (JAN-DEC)");
    BAD("0 0 * * MONDAY", "field 5 (day-of-week): 'MONDAY' is not a number or a name (SUN-SAT)");
    BAD("x * * * *", "field 1 (minute): 'x' is not a number");
    BAD("*/0 * * * *", "field 1 (minute): the step in '*/0' must be a number from 1 to 60");
    BAD("*/ * * * *", "field 1 (minute): the step in '*/' must be a number from 1 to 60");
    BAD("5-3 * * * *",
        "field 1 (minute): the range '5-3' goes backwards; ranges do not wrap (write two, such as 22-23,0-2)");
    BAD("1,,2 * * * *", "field 1 (minute): an empty item in '1,,2'");
    BAD("1- * * * *", "field 1 (minute): a number is missing");
    BAD("1-2-3 * * * *", "field 1 (minute): unexpected '-3' in '1-2-3'");
    BAD("* * * *", "4 fields; a cron schedule has 5 (minute hour day-of-month month day-of-week) or 6 (seconds "
                   "first), or is @daily-style or every 5m");
    BAD("* * * * * * *", "7 fields; a cron schedule has 5 (minute hour day-of-month month day-of-week) or 6 "
                         "(seconds first), or is @daily-style or every 5m");
    BAD("", "the schedule is empty; write a cron expression such as \"0 3 * * *\", @daily or every 5m");
    BAD("   ", "the schedule is empty; write a cron expression such as \"0 3 * * *\", @daily or every 5m");
    BAD("@fortnightly", "unknown schedule '@fortnightly'; the names are @yearly, @annually, @monthly, @weekly, "
                        "@daily, @midnight and @hourly");
    BAD("every 5x", "'every' needs an interval: write every N followed by s, m, h or d, such as every 30s, every 5m "
                    "or every 2h");
    BAD("every", "'every' needs an interval: write every N followed by s, m, h or d, such as every 30s, every 5m or "
                 "every 2h");
    BAD("every 5 m", "'every' needs an interval: write every N followed by s, m, h or d, such as every 30s, every 5m "
                     "or every 2h");
    BAD("every 0s", "every: the interval must be from 1s to 365d (0s)");
    BAD("every 366d", "every: the interval must be from 1s to 365d (366d)");
    char big[400];
    memset(big, '*', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    BAD(big, "the schedule is longer than 256 characters");
}

int main(void)
{
    test_utc_fields();
    test_refused();
    kumo__tz *zurich = NULL, *lord_howe = NULL;
    kumo__error err = {0};
    if (access("/usr/share/zoneinfo/Europe/Zurich", R_OK) != 0) {
        check_skip("no /usr/share/zoneinfo (install tzdata): the daylight-saving cases did not run");
    } else {
        CHECK_INT(kumo__tz_load("Europe/Zurich", &zurich, &err), 0);
        CHECK_INT(kumo__tz_load("Australia/Lord_Howe", &lord_howe, &err), 0);
        if (zurich)
            test_zurich(zurich);
        if (lord_howe)
            test_lord_howe(lord_howe);
    }
    test_every(zurich);
    kumo__tz_free(zurich);
    kumo__tz_free(lord_howe);
    return check_report();
}
