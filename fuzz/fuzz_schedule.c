/*
 * fuzz_schedule.c: libFuzzer target for the schedule parser and
 * kumo__schedule_next (src/project/schedule.c). The first byte picks the
 * zone (UTC, Europe/Zurich, Australia/Lord_Howe: gaps, folds, a 30-minute
 * shift), the rest is the expression. A refusal must say why; an accepted
 * schedule's next fire times must be strictly increasing and strictly
 * after the time asked about, from a few starting points around DST
 * changes. Nothing may crash, leak or hang. Seeds: fuzz/corpus/schedule/.
 */
#include "project/schedule.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const kumo__tz *zone(uint8_t pick)
{
    static kumo__tz *zurich, *lord_howe;
    static int loaded;
    if (!loaded) {
        kumo__error err;
        loaded = 1;
        if (kumo__tz_load("Europe/Zurich", &zurich, &err) < 0)
            zurich = NULL; /* no zoneinfo here: UTC only */
        if (kumo__tz_load("Australia/Lord_Howe", &lord_howe, &err) < 0)
            lord_howe = NULL;
    }
    return pick % 3 == 1 ? zurich : pick % 3 == 2 ? lord_howe : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 400)
        return 0;
    const kumo__tz *tz = zone(data[0]);
    char expr[400];
    memcpy(expr, data + 1, size - 1);
    expr[size - 1] = '\0';
    kumo__schedule *s = NULL;
    char why[300] = "";
    if (kumo__schedule_parse(expr, tz, &s, why, sizeof why) < 0) {
        if (why[0] == '\0' || s != NULL)
            __builtin_trap(); /* a refusal says why and leaves nothing */
        return 0;
    }
    /* 2026-03-28 23:00Z, 2026-10-24 23:30Z (before Zurich's changes), 2026-10-03 15:00Z (Lord Howe's) */
    static const int64_t starts[] = {1774738800000, 1792884600000, 1791039600000, 0};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        int64_t t = starts[i];
        for (int k = 0; k < 8; k++) {
            int64_t next = kumo__schedule_next(s, t);
            if (next == -1)
                break;
            if (next <= t)
                __builtin_trap(); /* strictly after */
            t = next;
        }
    }
    kumo__schedule_free(s);
    return 0;
}
