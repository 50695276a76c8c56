/*
 * bench/stores.c: operations per second of kumo_kv_get and kumo_kv_put of
 * 1 KiB values through the SDK's API, as a handler calls them, against the
 * store whose URL is in KUMO_STORE_BENCH. bench/stores.sh runs it beside
 * the backend's own client (redis-benchmark, pgbench) and prints the ratio.
 *
 *   stores OP CALLERS SECONDS KEYS      OP: get | put
 *
 * Concurrent callers are processes, as kumo's workers are: each has its
 * own store handle (its own connection) and its own invocation context.
 * Each one first writes its share of the KEYS keys (for get), then runs OP
 * on random keys for SECONDS and reports its count through a pipe; the
 * parent prints "OP CALLERS ops/s".
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VALUE_LEN 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int caller(int put, double seconds, unsigned keys, unsigned seed, int out)
{
    kumo_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    char value[VALUE_LEN], key[32];
    memset(value, 'x', sizeof(value));
    unsigned long long ops = 0, errors = 0;
    double end = now_s() + seconds;
    srand(seed);
    while (1) {
        for (int i = 0; i < 64; i++) {
            snprintf(key, sizeof(key), "key:%u", (unsigned)rand() % keys);
            int rc;
            if (put) {
                rc = kumo_kv_put(&ctx, "bench", key, value, sizeof(value));
            } else {
                kumo_kv_item it;
                rc = kumo_kv_get(&ctx, "bench", key, &it);
            }
            if (rc != 0)
                errors++;
            ops++;
        }
        kumo__arena_reset(&ctx.arena);
        if (now_s() >= end)
            break;
    }
    unsigned long long msg[2] = {ops, errors};
    ssize_t w = write(out, msg, sizeof(msg));
    kumo__arena_free(&ctx.arena);
    kumo__stores_close_all();
    return w == (ssize_t)sizeof(msg) ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "put") != 0)) {
        fprintf(stderr, "usage: %s get|put CALLERS SECONDS KEYS (store URL in KUMO_STORE_BENCH)\n", argv[0]);
        return 2;
    }
    int put = strcmp(argv[1], "put") == 0;
    int callers = atoi(argv[2]);
    double seconds = atof(argv[3]);
    unsigned keys = (unsigned)atoi(argv[4]);
    if (callers < 1 || callers > 256 || seconds <= 0 || keys < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    /* The keys a get reads, written once. */
    kumo_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    char value[VALUE_LEN], key[32];
    memset(value, 'x', sizeof(value));
    for (unsigned k = 0; k < keys; k++) {
        snprintf(key, sizeof(key), "key:%u", k);
        int rc = kumo_kv_put(&ctx, "bench", key, value, sizeof(value));
        if (rc != 0) {
            fprintf(stderr, "put %s: %s (%s)\n", key, kumo_strerror(rc), kumo_store_error(&ctx));
            return 1;
        }
        kumo__arena_reset(&ctx.arena);
    }
    kumo__arena_free(&ctx.arena);
    kumo__stores_close_all();

    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    for (int i = 0; i < callers; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            close(fds[0]);
            _exit(caller(put, seconds, keys, (unsigned)i * 7919u + 1, fds[1]));
        }
    }
    close(fds[1]);
    unsigned long long total = 0, errors = 0, msg[2];
    while (read(fds[0], msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
        total += msg[0];
        errors += msg[1];
    }
    int status, failed = 0;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    printf("%s %d %.0f%s\n", argv[1], callers, (double)total / seconds, errors ? " (with errors)" : "");
    if (errors)
        fprintf(stderr, "%llu of %llu operations failed\n", errors, total);
    return failed || errors;
}
