/*
 * test_recent.c: the recent invocations (obs/recent.c). The failed ring
 * keeps the last KUMO__RECENT_FAILED, newest first; the slowest set keeps
 * the KUMO__RECENT_SLOW slowest of the current minute and of the one
 * before, slowest first, and forgets the minute before that; an
 * invocation neither failed nor slower than a full set's fastest is not
 * wanted (the lock-free fast path).
 */
#include "obs/recent.h"

#include "check.h"

#include <stdio.h>
#include <string.h>

static kumo__recent_entry entry(int n, uint64_t duration_us)
{
    kumo__recent_entry e;
    memset(&e, 0, sizeof(e));
    snprintf(e.request_id, sizeof(e.request_id), "req-%d", n);
    snprintf(e.operation, sizeof(e.operation), "op");
    e.duration_us = duration_us;
    e.epoch_us = (uint64_t)n;
    e.status = 200;
    return e;
}

int main(void)
{
    kumo__recent *r = kumo__recent_create();
    CHECK(r != NULL);
    kumo__recent_entry out[64];
    const uint64_t minute = KUMO__RECENT_WINDOW_US, t0 = 10 * minute;

    /* failures: the last 32 of 40, newest first */
    for (int i = 0; i < 40; i++) {
        kumo__recent_entry e = entry(i, 100);
        e.status = 500;
        kumo__recent_add(r, &e, 1, t0 + (uint64_t)i);
    }
    size_t n = kumo__recent_copy(r, 1, out, 64);
    CHECK_INT(n, KUMO__RECENT_FAILED);
    CHECK_STR(out[0].request_id, "req-39");
    CHECK_STR(out[n - 1].request_id, "req-8");
    CHECK_INT(kumo__recent_copy(r, 1, out, 5), 5);

    /* the slowest: 100 calls of durations 1..100 ms in one minute keep the
     * 16 slowest (85..100 ms, the failures above are faster) */
    kumo__recent_free(r);
    r = kumo__recent_create();
    for (int i = 1; i <= 100; i++) {
        kumo__recent_entry e = entry(i, (uint64_t)((i * 37) % 100 + 1) * 1000);
        kumo__recent_add(r, &e, 0, t0 + (uint64_t)i);
    }
    n = kumo__recent_copy(r, 0, out, 64);
    CHECK_INT(n, KUMO__RECENT_SLOW);
    CHECK_INT(out[0].duration_us, 100000);
    CHECK_INT(out[n - 1].duration_us, 85000);
    for (size_t i = 1; i < n; i++)
        CHECK(out[i - 1].duration_us >= out[i].duration_us);
    /* the fast path: a full set does not want a faster one */
    CHECK(!kumo__recent_wants(r, 85000, t0 + 200));
    CHECK(kumo__recent_wants(r, 85001, t0 + 200));
    CHECK(!kumo__recent_wants(NULL, 1, t0));
    CHECK_INT(kumo__recent_copy(r, 1, out, 64), 0); /* nothing failed */

    /* the next minute: the previous one's slowest stay beside the new */
    kumo__recent_entry quick = entry(500, 2000);
    CHECK(kumo__recent_wants(r, 2000, t0 + minute + 1)); /* a new minute starts */
    kumo__recent_add(r, &quick, 0, t0 + minute + 1);
    n = kumo__recent_copy(r, 0, out, 64);
    CHECK_INT(n, KUMO__RECENT_SLOW + 1);
    CHECK_STR(out[n - 1].request_id, "req-500");
    /* two minutes on, the first minute's are gone */
    kumo__recent_entry later = entry(600, 3000);
    kumo__recent_add(r, &later, 0, t0 + 2 * minute + 2);
    n = kumo__recent_copy(r, 0, out, 64);
    CHECK_INT(n, 2);
    CHECK_STR(out[0].request_id, "req-600");
    CHECK_STR(out[1].request_id, "req-500");

    /* NULL (out of memory at start) takes nothing and gives nothing */
    kumo__recent_add(NULL, &later, 1, t0);
    CHECK_INT(kumo__recent_copy(NULL, 1, out, 64), 0);
    kumo__recent_free(r);
    kumo__recent_free(NULL);
    return check_report();
}
