/*
 * schedule.h: the schedules of kumo.yaml's `events:` (docs/events.md):
 * cron expressions (5 fields, or 6 with seconds first; @hourly-style
 * names) evaluated on a zone's wall clock with documented daylight-saving
 * rules, and `every 30s|5m|2h|1d` intervals of elapsed time. Parsed once
 * at load; kumo__schedule_next is pure arithmetic (no allocation, no
 * clock, no TZ variable), so the gateway's loop and `kumo events` share it.
 */
#ifndef KUMO_PROJECT_SCHEDULE_H
#define KUMO_PROJECT_SCHEDULE_H

#include "base/tz.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kumo__schedule kumo__schedule;

/* The longest expression accepted. */
#define KUMO__SCHEDULE_MAX 256

/* Parses expr in zone tz (borrowed, must outlive the schedule; NULL: UTC).
 * On error returns -EINVAL and writes why ("field 2 (hour): 24 is out of
 * 0-23") without a position: the caller adds file:line:column. On success
 * *out is the caller's, freed with kumo__schedule_free. */
int kumo__schedule_parse(const char *expr, const kumo__tz *tz, kumo__schedule **out, char *why, size_t why_len);
/* Frees s; NULL is fine. */
void kumo__schedule_free(kumo__schedule *s);
/* The first planned fire time strictly after `after_ms` (ms since the
 * epoch), or -1 when none in the next 5 years (Feb 30). */
int64_t kumo__schedule_next(const kumo__schedule *s, int64_t after_ms);
/* A fire time `ms` on zone tz's wall clock with its offset ("2026-03-29
 * 03:00:00 +02:00") and in UTC ("2026-03-29T01:00:00Z"); tz NULL: UTC.
 * Shared by `kumo events` and the /docs page. */
void kumo__schedule_format(const kumo__tz *tz, int64_t ms, char *local, size_t llen, char *utc, size_t ulen);

/* A parsed schedule's fields, for a deploy target that translates it into
 * its own syntax (EventBridge's cron in deploy/cfn_template.c). Bits as
 * parsed: sec/min 0-59, hour 0-23, dom 1-31, mon 1-12, dow 0-6 (Sunday 0);
 * every_s > 0 for `every` (the fields are then 0). */
typedef struct kumo__schedule_fields {
    int64_t every_s;
    uint64_t sec, min;
    uint32_t hour, dom, mon, dow;
    int dom_star, dow_star; /* the field began with '*' */
} kumo__schedule_fields;
void kumo__schedule_get_fields(const kumo__schedule *s, kumo__schedule_fields *out);

#endif
