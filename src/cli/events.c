/*
 * events.c: `kumo events [DIR] [--count N] [--json] [--from TIME]`. Lists
 * every event of kumo.yaml with its handler, schedule and zone, and the
 * next N fire times (default 3), each on the event's wall clock with its
 * UTC offset and in UTC. Computed offline from kumo.yaml with the same
 * kumo__schedule_next the gateway fires by, so no running kumo is needed;
 * --from asks "after this instant" instead of "after now" (to see a DST
 * day ahead of time). docs/events.md.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/tz.h"
#include "cli/cli.h"
#include "project/project.h"
#include "project/schedule.h"

#define COUNT_MAX 1000

/* "YYYY-MM-DDTHH:MM:SSZ" to ms since the epoch. */
static int parse_from(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || s[n] != '\0' || mo < 1 ||
        mo > 12 || d < 1 || d > kumo__days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59 || h < 0 || mi < 0 ||
        sec < 0)
        return -1;
    *out = (kumo__days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000;
    return 0;
}

int kumo__cmd_events(int argc, char **argv, kumo__error *err)
{
    const char *dir = NULL;
    int json = 0, count = 3, rc = 0;
    int64_t from = (int64_t)kumo__epoch_ms();
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--count") == 0 || strcmp(argv[i], "--from") == 0) {
            int is_count = argv[i][2] == 'c';
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (is_count && (i + 1 == argc || *end != '\0' || end == argv[i + 1] || v < 1 || v > COUNT_MAX)) {
                kumo__error_set(err, -KUMO__EUSAGE, "--count needs a number from 1 to %d", COUNT_MAX);
                return -KUMO__EUSAGE;
            }
            if (!is_count && (i + 1 == argc || parse_from(argv[i + 1], &from) < 0)) {
                kumo__error_set(err, -KUMO__EUSAGE, "--from needs a UTC time like 2026-03-28T12:00:00Z");
                return -KUMO__EUSAGE;
            }
            if (is_count)
                count = (int)v;
            i++;
        } else if (argv[i][0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", argv[i]);
            return -KUMO__EUSAGE;
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory at most ('%s' and '%s' given)", dir, argv[i]);
            return -KUMO__EUSAGE;
        }
    }
    if (dir == NULL)
        dir = ".";
    kumo__project *p = NULL;
    json_t *arr = NULL;
    if ((rc = kumo__project_load(dir, &p, err)) < 0)
        goto out;
    if (json && (arr = json_array()) == NULL)
        goto oom;
    if (!json && p->nevents == 0)
        printf("%s/kumo.yaml declares no events\n", dir);
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        const char *zone = e->timezone ? e->timezone : "UTC";
        json_t *obj = NULL, *next = NULL;
        if (e->kind == KUMO__EVENT_BLOB) {
            const char *on = e->on == (KUMO__BLOB_CREATED | KUMO__BLOB_DELETED) ? "created, deleted"
                             : e->on & KUMO__BLOB_CREATED                       ? "created"
                                                                                : "deleted";
            if (json) {
                char handler[256];
                snprintf(handler, sizeof handler, "%s.%s", e->unit, e->symbol);
                json_t *ons = json_array();
                if (ons && (e->on & KUMO__BLOB_CREATED))
                    json_array_append_new(ons, json_string("created"));
                if (ons && (e->on & KUMO__BLOB_DELETED))
                    json_array_append_new(ons, json_string("deleted"));
                obj = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?, s:s?, s:s, s:I, s:i, s:I}", "name", e->name, "handler",
                                handler, "kind", "blob", "blob", e->blob, "on", ons, "prefix", e->prefix, "suffix",
                                e->suffix, "queue", e->queue, "visibility_ms", (json_int_t)e->visibility_ms,
                                "max_receives", (int)e->max_receives, "backoff_ms", (json_int_t)e->backoff_ms);
                if (obj == NULL || json_array_append_new(arr, obj) < 0)
                    goto oom;
            } else {
                printf("%s%s  %s.%s  blob %s  on: [%s]%s%s%s%s%s%s  visibility: %.3gs  max_receives: %u  backoff: "
                       "%.3gs\n",
                       i ? "\n" : "", e->name, e->unit, e->symbol, e->blob, on, e->prefix ? "  prefix: \"" : "",
                       e->prefix ? e->prefix : "", e->prefix ? "\"" : "", e->suffix ? "  suffix: \"" : "",
                       e->suffix ? e->suffix : "", e->suffix ? "\"" : "", (double)e->visibility_ms / 1000,
                       e->max_receives, (double)e->backoff_ms / 1000);
            }
            continue;
        }
        if (e->kind == KUMO__EVENT_QUEUE) {
            if (json) {
                char handler[256];
                snprintf(handler, sizeof handler, "%s.%s", e->unit, e->symbol);
                obj = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:i, s:I}", "name", e->name, "handler", handler, "kind",
                                "queue", "queue", e->queue, "batch", (int)e->batch, "visibility_ms",
                                (json_int_t)e->visibility_ms, "max_receives", (int)e->max_receives, "backoff_ms",
                                (json_int_t)e->backoff_ms);
                if (obj == NULL || json_array_append_new(arr, obj) < 0)
                    goto oom;
            } else {
                printf("%s%s  %s.%s  queue %s  batch: %u  visibility: %.3gs  max_receives: %u  backoff: %.3gs\n",
                       i ? "\n" : "", e->name, e->unit, e->symbol, e->queue, e->batch, (double)e->visibility_ms / 1000,
                       e->max_receives, (double)e->backoff_ms / 1000);
            }
            continue;
        }
        if (json) {
            char handler[256];
            snprintf(handler, sizeof handler, "%s.%s", e->unit, e->symbol);
            obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "name", e->name, "handler", handler, "kind",
                            "schedule", "schedule", e->schedule, "timezone", zone, "missed",
                            e->missed_once ? "once" : "skip", "overlap", e->overlap, "next", json_array());
            if (obj == NULL || json_array_append_new(arr, obj) < 0)
                goto oom;
            next = json_object_get(obj, "next");
        } else {
            printf("%s%s  %s.%s  schedule \"%s\"  %s  missed: %s  overlap: %s\n", i ? "\n" : "", e->name, e->unit,
                   e->symbol, e->schedule, zone, e->missed_once ? "once" : "skip", e->overlap ? "true" : "false");
        }
        int64_t t = from;
        int shown = 0;
        for (int k = 0; k < count; k++) {
            t = kumo__schedule_next(e->compiled, t);
            if (t < 0)
                break;
            char local[64], utc[64];
            kumo__schedule_format(e->tz, t, local, sizeof local, utc, sizeof utc);
            shown++;
            if (json) {
                if (json_array_append_new(
                        next, json_pack("{s:s, s:s, s:I}", "local", local, "utc", utc, "epoch_ms", (json_int_t)t)) < 0)
                    goto oom;
            } else {
                printf("  %s  (%s)\n", local, utc);
            }
        }
        if (!json && shown == 0)
            printf("  never: no fire time in the next 5 years\n");
    }
    if (json) {
        if (json_dumpf(arr, stdout, JSON_INDENT(2)) < 0)
            goto oom;
        putchar('\n');
    }
    goto out;
oom:
    rc = -ENOMEM;
    kumo__error_set(err, rc, "out of memory");
out:
    json_decref(arr);
    kumo__project_free(p);
    return rc;
}
