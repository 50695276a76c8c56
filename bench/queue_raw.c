/*
 * bench/queue_raw.c: a queue driver's own loop, without kumo's gateway, for
 * bench/queue.py. It opens the queue through the driver (as the gateway's
 * consumer does) and either fills it or drains it:
 *
 *   queue_raw fill URL QUEUE N          sends N messages "m-I" (16 bytes)
 *   queue_raw drain URL QUEUE N BATCH   receive(BATCH) + ack of each until N
 *                                       were acked; prints "msgs/s"
 *
 * drain is the ceiling a consumer of that driver can reach: one thread,
 * receive then ack, no handler. Messages are acked one by one, as the
 * gateway does.
 */
#include "base/clock.h"
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "drain") == 0 && argc < 6)) {
        fprintf(stderr, "usage: queue_raw fill URL QUEUE N | queue_raw drain URL QUEUE N BATCH\n");
        return 2;
    }
    int drain = strcmp(argv[1], "drain") == 0;
    const char *url = argv[2], *name = argv[3];
    long n = atol(argv[4]);
    size_t batch = drain ? (size_t)atol(argv[5]) : 1;
    if (n <= 0 || batch < 1 || batch > 100) {
        fprintf(stderr, "queue_raw: N must be positive and BATCH 1 to 100\n");
        return 2;
    }
    kumo__error e = {0};
    kumo__store *s = NULL;
    if (kumo__store_open(&kumo__queue_kind, url, name, &s, &e) != 0) {
        fprintf(stderr, "queue_raw: cannot open %s: %s\n", name, e.msg);
        return 1;
    }
    kumo__queue *q = (kumo__queue *)s;
    kumo__arena a;
    kumo__arena_init(&a);
    int rc = 0;
    if (!drain) {
        for (long i = 0; i < n && rc == 0; i++) {
            char body[32];
            const char *id;
            int len = snprintf(body, sizeof(body), "m-%013ld", i);
            rc = q->driver->send(q, &a, body, (size_t)len, 0, NULL, &id);
            kumo__arena_reset(&a);
        }
    } else {
        kumo_queue_message got[100];
        long done = 0;
        uint64_t start = kumo__mono_us();
        while (done < n && rc == 0) {
            size_t count = 0;
            rc = q->driver->receive(q, &a, batch, 30000, got, &count);
            for (size_t i = 0; i < count && rc == 0; i++)
                rc = q->driver->ack(q, got[i].receipt);
            done += (long)count;
            kumo__arena_reset(&a);
            if (count == 0 && rc == 0 && done < n) {
                fprintf(stderr, "queue_raw: the queue ran dry after %ld of %ld messages\n", done, n);
                rc = 1;
            }
        }
        double secs = (double)(kumo__mono_us() - start) / 1e6;
        if (rc == 0)
            printf("%.0f\n", (double)n / secs);
    }
    if (rc != 0)
        fprintf(stderr, "queue_raw: %s: %s\n", kumo_strerror(rc), q->error);
    kumo__arena_free(&a);
    kumo__store_close(s);
    return rc == 0 ? 0 : 1;
}
