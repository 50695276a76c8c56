/*
 * wide.c: the handler of the queue event `wide` in
 * tests/integration/test_queue_batch.py (unit wide, max: 3). hold counts
 * the calls running at once in the kv store "counters" ("running", and
 * the highest count seen in "peak"), records its worker pid under
 * "pid/PID", then stays until the peak reached 3 or 15 s passed (a bound,
 * not a timing assumption: with calls overlapping as they should, the
 * third call releases all three at once), and counts itself out.
 * peak answers GET /peak: {"peak": N, "pids": [..]}.
 */
#include <kumo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Adds `delta` to the counter `key` (compare-and-swap); the new value, or -1. */
static long add(kumo_ctx *ctx, const char *key, long delta, long *peak_of)
{
    for (int tries = 0; tries < 1000; tries++) {
        kumo_kv_item it;
        long v = 0;
        uint64_t version = 0;
        int rc = kumo_kv_get(ctx, "counters", key, &it);
        if (rc == 0)
            v = strtol(it.value, NULL, 10), version = it.version;
        else if (rc != KUMO_ENOTFOUND)
            return -1;
        long nv = peak_of ? (*peak_of > v ? *peak_of : v) : v + delta;
        if (peak_of && nv == v)
            return v;
        char buf[32];
        snprintf(buf, sizeof(buf), "%ld", nv);
        rc = kumo_kv_cas(ctx, "counters", key, buf, strlen(buf), version, NULL);
        if (rc == 0)
            return nv;
        if (rc != KUMO_ECONFLICT)
            return -1;
    }
    return -1;
}

static long get(kumo_ctx *ctx, const char *key)
{
    kumo_kv_item it;
    return kumo_kv_get(ctx, "counters", key, &it) == 0 ? strtol(it.value, NULL, 10) : 0;
}

int hold(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    long running = add(ctx, "running", 1, NULL);
    if (running < 0 || add(ctx, "peak", 0, &running) < 0)
        return -1;
    const char *key = kumo_sprintf(ctx, "pid/%d", (int)getpid());
    if (kumo_kv_put(ctx, "counters", key, "1", 1) != 0)
        return -1;
    for (int i = 0; i < 1500 && get(ctx, "peak") < 3; i++)
        usleep(10000);
    if (add(ctx, "running", -1, NULL) < 0)
        return -1;
    kumo_response_status(res, 204);
    return 0;
}

int peak(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    json_t *pids = json_array();
    kumo_kv_page page;
    if (kumo_kv_list(ctx, "counters", "pid/", NULL, 1000, 0, &page) == 0)
        for (size_t i = 0; i < page.count; i++)
            json_array_append_new(pids, json_integer(atol(page.items[i].key + 4)));
    return kumo_response_json(res, 200,
                              json_pack("{s:I, s:I, s:o}", "peak", (json_int_t)get(ctx, "peak"), "running",
                                        (json_int_t)get(ctx, "running"), "pids", pids));
}
