/*
 * bench/stores_blobq.c: operations per second of blob puts and gets of a
 * 1 KiB object (the whole-object API, kumo_blob_put / kumo_blob_get) and of
 * queue sends and receive+acks of a 1 KiB message (kumo_queue_send, then
 * kumo_queue_receive of one message and kumo_queue_ack of it), through the
 * SDK's API as a handler calls them, against the store whose URL is in
 * KUMO_STORE_BENCH. bench/stores_blobq.sh runs it beside the vendor's own
 * client doing the same operations and prints the ratio.
 *
 *   stores_blobq OP CALLERS SECONDS KEYS
 *     OP: blob-put | blob-get | queue-send | queue-recv
 *
 * Concurrent callers are processes, as kumo's workers are: each has its own
 * store handle (its own connection) and its own invocation context. For
 * blob-get the parent first writes KEYS objects ("obj/0".."obj/KEYS-1");
 * blob-put and blob-get then pick random keys among them. queue-recv takes
 * what is in the queue (stores_blobq.sh runs the sends first, which leave
 * more than a receive phase takes): a caller that finds the queue empty
 * ten times running stops early and says so. Each caller reports its
 * count and its own time through a pipe; the parent prints
 * "OP CALLERS OPS_PER_S" (the count over the longest caller's time), with
 * " (drained)" when a receiver ran out of messages.
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BODY_LEN 1024
#define EMPTY_RECEIVES_MAX 10
#define VISIBILITY_MS 30000

enum op { BLOB_PUT, BLOB_GET, QUEUE_SEND, QUEUE_RECV };

typedef struct report {
    unsigned long long ops, errors, drained;
    double seconds;
} report;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One operation; 1 when the queue was empty (queue-recv), else 0, or a
 * negative kumo error. */
static int one(kumo_ctx *ctx, enum op op, const char *body, unsigned keys)
{
    char key[32];
    const void *data;
    size_t len, count;
    kumo_queue_message msg;
    switch (op) {
    case BLOB_PUT:
        snprintf(key, sizeof(key), "obj/%u", (unsigned)rand() % keys);
        return kumo_blob_put(ctx, "bench", key, body, BODY_LEN, "application/octet-stream");
    case BLOB_GET: {
        snprintf(key, sizeof(key), "obj/%u", (unsigned)rand() % keys);
        int rc = kumo_blob_get(ctx, "bench", key, &data, &len, NULL);
        return rc == 0 && len != BODY_LEN ? KUMO_EINVAL : rc;
    }
    case QUEUE_SEND: return kumo_queue_send(ctx, "bench", body, BODY_LEN, 0, NULL);
    case QUEUE_RECV: {
        int rc = kumo_queue_receive(ctx, "bench", 1, VISIBILITY_MS, &msg, &count);
        if (rc != 0)
            return rc;
        if (count == 0)
            return 1;
        return kumo_queue_ack(ctx, "bench", msg.receipt);
    }
    }
    return KUMO_EINVAL;
}

static int caller(enum op op, double seconds, unsigned keys, unsigned seed, int out)
{
    kumo_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    char body[BODY_LEN];
    memset(body, 'x', sizeof(body));
    report r = {0};
    int empty = 0, last_rc = 0;
    double start = now_s(), end = start + seconds;
    srand(seed);
    while (now_s() < end && !r.drained) {
        int rc = one(&ctx, op, body, keys);
        kumo__arena_reset(&ctx.arena);
        if (rc == 1) {
            r.drained = ++empty >= EMPTY_RECEIVES_MAX;
            continue;
        }
        empty = 0;
        if (rc != 0) {
            r.errors++;
            last_rc = rc;
        }
        r.ops++;
    }
    r.seconds = now_s() - start;
    if (r.errors)
        fprintf(stderr, "caller %u: %s (%s)\n", seed, kumo_strerror(last_rc), kumo_store_error(&ctx));
    ssize_t w = write(out, &r, sizeof(r));
    kumo__arena_free(&ctx.arena);
    kumo__stores_close_all();
    return w == (ssize_t)sizeof(r) ? 0 : 1;
}

static int preload(unsigned keys)
{
    kumo_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    char body[BODY_LEN], key[32];
    memset(body, 'x', sizeof(body));
    int rc = 0;
    for (unsigned k = 0; k < keys && rc == 0; k++) {
        snprintf(key, sizeof(key), "obj/%u", k);
        rc = kumo_blob_put(&ctx, "bench", key, body, sizeof(body), "application/octet-stream");
        if (rc != 0)
            fprintf(stderr, "put %s: %s (%s)\n", key, kumo_strerror(rc), kumo_store_error(&ctx));
        kumo__arena_reset(&ctx.arena);
    }
    kumo__arena_free(&ctx.arena);
    kumo__stores_close_all();
    return rc;
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"blob-put", "blob-get", "queue-send", "queue-recv"};
    int op = -1;
    for (int i = 0; argc == 5 && i < 4; i++)
        if (strcmp(argv[1], names[i]) == 0)
            op = i;
    if (op < 0) {
        fprintf(stderr,
                "usage: %s blob-put|blob-get|queue-send|queue-recv CALLERS SECONDS KEYS (store URL in "
                "KUMO_STORE_BENCH)\n",
                argv[0]);
        return 2;
    }
    int callers = atoi(argv[2]);
    double seconds = atof(argv[3]);
    unsigned keys = (unsigned)atoi(argv[4]);
    if (callers < 1 || callers > 256 || seconds <= 0 || keys < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (op == BLOB_GET && preload(keys) != 0)
        return 1;

    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    for (int i = 0; i < callers; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            close(fds[0]);
            _exit(caller((enum op)op, seconds, keys, (unsigned)i * 7919u + 1, fds[1]));
        }
    }
    close(fds[1]);
    unsigned long long total = 0, errors = 0, drained = 0;
    double longest = 0;
    report r;
    while (read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
        total += r.ops;
        errors += r.errors;
        drained += r.drained;
        if (r.seconds > longest)
            longest = r.seconds;
    }
    int status, failed = 0;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    printf("%s %d %.0f%s%s\n", argv[1], callers, longest > 0 ? (double)total / longest : 0.0,
           drained ? " (drained)" : "", errors ? " (with errors)" : "");
    if (errors)
        fprintf(stderr, "%llu of %llu operations failed\n", errors, total);
    return failed || errors;
}
