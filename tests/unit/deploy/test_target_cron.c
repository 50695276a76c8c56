/*
 * test_target_cron.c: kumo__target_cron (src/deploy/targets.c), a
 * kumo.yaml schedule as the cron line a platform takes: 5 fields for
 * Cloud Scheduler, PingSource, CronJob and the cron-connector, 6 (seconds
 * first, NCRONTAB) for Azure; @names spelled out, `every` written as a
 * step when it divides its unit (and read in UTC), the rest refused.
 */
#include "../check.h"

#include <errno.h>
#include <string.h>

#include "deploy/target.h"

static const char *cron(const char *expr, int seconds, int *utc, const char **why)
{
    static char out[300];
    kumo__event_decl e;
    memset(&e, 0, sizeof(e));
    e.schedule = (char *)expr;
    *why = NULL;
    int rc = kumo__target_cron(&e, seconds, out, sizeof(out), utc, why);
    return rc == 0 ? out : NULL;
}

int main(void)
{
    int utc;
    const char *why;
    static const struct {
        const char *expr, *five, *six;
        int utc;
    } ok[] = {
        {"30 2 * * *", "30 2 * * *", "0 30 2 * * *", 0},
        {"  0 0 13 * FRI", "0 0 13 * FRI", "0 0 0 13 * FRI", 0},
        {"0 */5 * * * *", "*/5 * * * *", "0 */5 * * * *", 0},
        {"@hourly", "0 * * * *", "0 0 * * * *", 0},
        {"@daily", "0 0 * * *", "0 0 0 * * *", 0},
        {"@weekly", "0 0 * * 0", "0 0 0 * * 0", 0},
        {"@yearly", "0 0 1 1 *", "0 0 0 1 1 *", 0},
        {"every 15m", "*/15 * * * *", "0 */15 * * * *", 1},
        {"every 1m", "* * * * *", "0 * * * * *", 1},
        {"every 120s", "*/2 * * * *", "0 */2 * * * *", 1},
        {"every 2h", "0 */2 * * *", "0 0 */2 * * *", 1},
        {"every 60m", "0 * * * *", "0 0 * * * *", 1},
        {"every 24h", "0 0 * * *", "0 0 0 * * *", 1},
        {"every 1d", "0 0 * * *", "0 0 0 * * *", 1},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *five = cron(ok[i].expr, 0, &utc, &why);
        CHECK(five && strcmp(five, ok[i].five) == 0);
        if (five == NULL || strcmp(five, ok[i].five) != 0)
            fprintf(stderr, "  %s -> %s (%s)\n", ok[i].expr, five ? five : "refused", why ? why : "");
        CHECK_INT(utc, ok[i].utc);
        const char *six = cron(ok[i].expr, 1, &utc, &why);
        CHECK(six && strcmp(six, ok[i].six) == 0);
        if (six == NULL || strcmp(six, ok[i].six) != 0)
            fprintf(stderr, "  %s -> %s (%s)\n", ok[i].expr, six ? six : "refused", why ? why : "");
    }
    /* seconds: Azure only */
    CHECK(cron("*/10 * * * * *", 0, &utc, &why) == NULL && strstr(why, "seconds field"));
    CHECK(strcmp(cron("*/10 * * * * *", 1, &utc, &why), "*/10 * * * * *") == 0);
    CHECK(cron("every 10s", 0, &utc, &why) == NULL && strstr(why, "finest schedule unit is a minute"));
    CHECK(strcmp(cron("every 10s", 1, &utc, &why), "*/10 * * * * *") == 0);
    /* intervals no cron step repeats evenly */
    const char *bad[] = {"every 7m", "every 5h", "every 2d", "every 90s", "every 45s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int seconds = strstr(bad[i], "s") != NULL;
        CHECK(cron(bad[i], seconds, &utc, &why) == NULL && why && strstr(why, "repeats evenly"));
    }
    CHECK(cron("@reboot", 0, &utc, &why) == NULL);
    CHECK(cron("1 2 3", 0, &utc, &why) == NULL && strstr(why, "5- or 6-field"));
    return check_report();
}
