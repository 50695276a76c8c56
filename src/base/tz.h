/*
 * tz.h: IANA time zones, read by our own TZif reader (RFC 8536), so a
 * schedule's wall clock never depends on the process's TZ variable, the C
 * library's global zone state or its locks: a loaded zone is immutable
 * and any thread may use it. The 64-bit data of v2+ files is used, and
 * the POSIX TZ rule of the file's footer gives the offset of any instant
 * past its last transition (slim files end in 2007; fat ones in 2037).
 * "UTC" is built in and needs no file. Also the proleptic Gregorian
 * calendar arithmetic the schedules share.
 */
#ifndef KUMO_BASE_TZ_H
#define KUMO_BASE_TZ_H

#include "base/error.h"

#include <stdint.h>

typedef struct kumo__tz kumo__tz;

/* Loads an IANA zone from $TZDIR or /usr/share/zoneinfo (TZif v1-v4: the
 * 64-bit part, and the POSIX footer for instants past the last transition).
 * "UTC" always works, even without zoneinfo. Refuses names with "..", a
 * leading '/', or anything but [A-Za-z0-9_+-/]. On success *out is the
 * caller's, freed with kumo__tz_free; on error *out is NULL and err says
 * which zone and where it was looked for. */
int kumo__tz_load(const char *name, kumo__tz **out, kumo__error *err);
/* Frees tz; NULL is fine. */
void kumo__tz_free(kumo__tz *tz);
/* The zone's name as given to kumo__tz_load ("UTC" for NULL). */
const char *kumo__tz_name(const kumo__tz *tz);

/* Offset from UTC in seconds at instant t (seconds since the epoch).
 * A NULL tz is UTC (in every function below too). */
int32_t kumo__tz_offset(const kumo__tz *tz, int64_t t);
/* Wall-clock time (local seconds: days_from_civil*86400 + h*3600 + m*60 + s)
 * to instants: returns 0 (in a gap), 1, or 2 (in a fold; out[0] < out[1]). */
int kumo__tz_from_local(const kumo__tz *tz, int64_t local, int64_t out[2]);
/* For a wall-clock time in a gap (kumo__tz_from_local returned 0): the
 * first instant after the gap, i.e. the transition that made it (02:30 on
 * a spring-forward day in Zurich -> the instant of 03:00 CEST). For a time
 * not in a gap: its first instant. */
int64_t kumo__tz_gap_end(const kumo__tz *tz, int64_t local);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
int64_t kumo__days_from_civil(int64_t y, int m, int d);
/* The date of a day count; any of the outputs may be NULL. */
void kumo__civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 0 = Sunday ... 6 = Saturday. */
int kumo__weekday(int64_t days);
/* 28-31. */
int kumo__days_in_month(int64_t y, int m);

#endif
