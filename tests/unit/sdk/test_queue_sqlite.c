/*
 * test_queue_sqlite.c: the queue API (src/sdk/stores/queue.c) over the
 * sqlite driver (stores/sqlite_queue.c), on a mkdtemp file: send, receive,
 * ack; delays; visibility timeouts and redelivery with a new receipt; stale
 * receipts; nack; dead-lettering after max_receives into NAME-dead; the
 * argument checks and limits; and two processes receiving from one queue at
 * once, which must never both get a message; a file from before the trace
 * column (issue 14) gets it, its old rows without a trace. Waits are polls with generous
 * bounds (10 s), never fixed sleeps that assume a speed.
 */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "sdk/sdk.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-queue-XXXXXX";
static kumo_ctx ctx;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receives one message from `queue`, polling up to 10 s. */
static int receive_one(const char *queue, uint64_t visibility_ms, kumo_queue_message *m)
{
    long long end = now_ms() + 10000;
    size_t n = 0;
    while (now_ms() < end) {
        int rc = kumo_queue_receive(&ctx, queue, 1, visibility_ms, m, &n);
        if (rc != 0)
            return rc;
        if (n == 1)
            return 0;
        usleep(20000);
    }
    return KUMO_ETIMEDOUT;
}

static void test_args(void)
{
    kumo_queue_message m[2];
    size_t n = 7;
    static char big[(192 << 10) + 1];
    CHECK_INT(kumo_queue_send(NULL, "jobs", "x", 1, 0, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_queue_send(&ctx, NULL, "x", 1, 0, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_queue_send(&ctx, "jobs", NULL, 1, 0, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_queue_send(&ctx, "jobs", big, sizeof(big), 0, NULL), KUMO_ETOOBIG);
    CHECK_INT(kumo_queue_send(&ctx, "jobs", big, sizeof(big) - 1, 0, NULL), 0); /* exactly the limit */
    CHECK_INT(receive_one("jobs", 1000, m), 0);
    CHECK_INT(m[0].len, sizeof(big) - 1);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", m[0].receipt), 0);
    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 0, 1000, m, &n), KUMO_EINVAL);
    CHECK_INT(n, 0);
    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 101, 1000, m, &n), KUMO_EINVAL);
    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 1, 1000, NULL, &n), KUMO_EINVAL);
    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 1, 1000, m, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", NULL), KUMO_EINVAL);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", ""), KUMO_EINVAL);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", "not-a-receipt"), KUMO_ENOTFOUND);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", "12345:abc"), KUMO_ENOTFOUND);
    CHECK(strstr(kumo_store_error(&ctx), "stale") != NULL);
    CHECK_INT(kumo_queue_nack(&ctx, "jobs", "12345:abc", 0), KUMO_ENOTFOUND);
    CHECK_INT(kumo_queue_send(&ctx, "nosuchqueue", "x", 1, 0, NULL), KUMO_EINVAL);
    CHECK(strstr(kumo_store_error(&ctx), "KUMO_STORE_NOSUCHQUEUE") != NULL);
    setenv("KUMO_STORE_BADMAX", "sqlite:/tmp/x.db?max_receives=0", 1);
    CHECK_INT(kumo_queue_send(&ctx, "badmax", "x", 1, 0, NULL), KUMO_EINVAL);
    CHECK(strstr(kumo_store_error(&ctx), "max_receives") != NULL);
}

static void test_basic(void)
{
    kumo_queue_message m[10];
    size_t n = 0;
    const char *id1 = NULL, *id2 = NULL;
    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 10, 1000, m, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(kumo_queue_send(&ctx, "jobs", "one\0bin", 7, 0, &id1), 0);
    CHECK_INT(kumo_queue_send(&ctx, "jobs", "two", 3, 0, &id2), 0);
    CHECK(id1 && id2 && strcmp(id1, id2) != 0);
    /* Another queue in the same file sees none of them. */
    CHECK_INT(kumo_queue_receive(&ctx, "other", 10, 1000, m, &n), 0);
    CHECK_INT(n, 0);

    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 10, 30000, m, &n), 0);
    CHECK_INT(n, 2);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(m[i].receives, 1);
        CHECK(m[i].receipt && *m[i].receipt);
        if (strcmp(m[i].id, id1) == 0) {
            CHECK_INT(m[i].len, 7);
            CHECK(memcmp(m[i].body, "one\0bin", 7) == 0);
            found++;
        } else if (strcmp(m[i].id, id2) == 0) {
            CHECK_STR(m[i].body, "two");
            found++;
        }
    }
    CHECK_INT(found, 2);
    /* Hidden while their visibility lasts. */
    kumo_queue_message again[10];
    size_t n2 = 9;
    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 10, 1000, again, &n2), 0);
    CHECK_INT(n2, 0);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", m[0].receipt), 0);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", m[0].receipt), KUMO_ENOTFOUND); /* gone */
    /* Nack: back at once, received a second time. */
    CHECK_INT(kumo_queue_nack(&ctx, "jobs", m[1].receipt, 0), 0);
    CHECK_INT(receive_one("jobs", 30000, again), 0);
    CHECK_STR(again[0].id, m[1].id);
    CHECK_INT(again[0].receives, 2);
    CHECK(strcmp(again[0].receipt, m[1].receipt) != 0);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", m[1].receipt), KUMO_ENOTFOUND); /* the old receipt */
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", again[0].receipt), 0);
}

static void test_delay_and_visibility(void)
{
    kumo_queue_message m[1], m2[1];
    size_t n = 5;
    /* A delayed message is not there at once, and is there later. */
    CHECK_INT(kumo_queue_send(&ctx, "jobs", "later", 5, 300, NULL), 0);
    CHECK_INT(kumo_queue_receive(&ctx, "jobs", 1, 1000, m, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(receive_one("jobs", 200, m), 0);
    CHECK_STR(m[0].body, "later");
    /* Its 200 ms visibility runs out: it comes back with a new receipt,
     * and the first receipt is stale. */
    CHECK_INT(receive_one("jobs", 30000, m2), 0);
    CHECK_STR(m2[0].id, m[0].id);
    CHECK_INT(m2[0].receives, 2);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", m[0].receipt), KUMO_ENOTFOUND);
    CHECK_INT(kumo_queue_nack(&ctx, "jobs", m[0].receipt, 0), KUMO_ENOTFOUND);
    CHECK_INT(kumo_queue_ack(&ctx, "jobs", m2[0].receipt), 0);
}

static void test_dead_letter(void)
{
    kumo_queue_message m[1];
    size_t n = 0;
    const char *id = NULL;
    /* KUMO_STORE_FLAKY has max_receives=2. */
    CHECK_INT(kumo_queue_send(&ctx, "flaky", "poison", 6, 0, &id), 0);
    for (unsigned i = 1; i <= 2; i++) {
        CHECK_INT(receive_one("flaky", 30000, m), 0);
        CHECK_INT(m[0].receives, i);
        CHECK_INT(kumo_queue_nack(&ctx, "flaky", m[0].receipt, 0), 0);
    }
    /* The third receive finds it in flaky-dead, not in flaky. */
    CHECK_INT(kumo_queue_receive(&ctx, "flaky", 1, 30000, m, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(receive_one("flaky-dead", 30000, m), 0);
    CHECK_STR(m[0].id, id);
    CHECK_STR(m[0].body, "poison");
    CHECK_INT(m[0].receives, 1);
    CHECK_INT(kumo_queue_ack(&ctx, "flaky-dead", m[0].receipt), 0);
}

/* A file written before messages carried a trace: opening it adds the
 * column; the old row comes back without a trace, a new traced send with
 * its traceparent. */
static void test_migrate_trace(void)
{
    char path[300], url[320];
    sqlite3 *db = NULL;
    kumo_queue_message m[1];
    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    snprintf(path, sizeof(path), "%s/old.db", dir);
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db,
                           "CREATE TABLE kumo_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, "
                           "body BLOB NOT NULL, visible_at INTEGER NOT NULL, receives INTEGER NOT NULL DEFAULT 0, "
                           "receipt TEXT, sent_at INTEGER NOT NULL);"
                           "INSERT INTO kumo_queue (queue, body, visible_at, sent_at) VALUES ('old', 'before', 0, 1);",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    setenv("KUMO_STORE_OLD", url, 1);
    CHECK_INT(receive_one("old", 30000, m), 0);
    CHECK_STR(m[0].body, "before");
    CHECK(m[0].trace == NULL);
    CHECK_INT(kumo_queue_ack(&ctx, "old", m[0].receipt), 0);
    ctx.traceparent = tp; /* unsampled: the message carries it as it is */
    CHECK_INT(kumo_queue_send(&ctx, "old", "after", 5, 0, NULL), 0);
    ctx.traceparent = NULL;
    CHECK_INT(receive_one("old", 30000, m), 0);
    CHECK_STR(m[0].body, "after");
    CHECK_STR(m[0].trace, tp);
    CHECK_INT(kumo_queue_ack(&ctx, "old", m[0].receipt), 0);
}

/* Two processes drain one queue of 200 messages: every message is
 * received exactly once (acked at once, with a visibility long enough that
 * none comes back). */
static void test_two_receivers(void)
{
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        char body[16];
        int len = snprintf(body, sizeof(body), "%d", i);
        CHECK_INT(kumo_queue_send(&ctx, "shared", body, (size_t)len, 0, NULL), 0);
    }
    int fds[2][2];
    pid_t pids[2];
    for (int c = 0; c < 2; c++) {
        if (pipe(fds[c]) != 0) {
            CHECK(0);
            return;
        }
        pids[c] = fork();
        if (pids[c] == 0) {
            close(fds[c][0]);
            kumo_ctx cctx;
            memset(&cctx, 0, sizeof(cctx));
            kumo__arena_init(&cctx.arena);
            for (;;) {
                kumo_queue_message m[7];
                size_t n = 0;
                if (kumo_queue_receive(&cctx, "shared", 7, 60000, m, &n) != 0)
                    _exit(2);
                if (n == 0)
                    break;
                for (size_t i = 0; i < n; i++) {
                    int v = atoi(m[i].body);
                    if (write(fds[c][1], &v, sizeof(v)) != sizeof(v) ||
                        kumo_queue_ack(&cctx, "shared", m[i].receipt) != 0)
                        _exit(3);
                }
                kumo__arena_reset(&cctx.arena);
            }
            _exit(0);
        }
        close(fds[c][1]);
    }
    int seen[N] = {0}, dup = 0, total = 0, got[2] = {0};
    for (int c = 0; c < 2; c++) {
        int v;
        while (read(fds[c][0], &v, sizeof(v)) == sizeof(v)) {
            if (v >= 0 && v < N) {
                dup += seen[v]++ > 0;
                total++;
                got[c]++;
            }
        }
        close(fds[c][0]);
        int status;
        waitpid(pids[c], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_INT(total, N);
    CHECK_INT(dup, 0);
    printf("two receivers: %d and %d messages\n", got[0], got[1]);
}

int main(void)
{
    char url[300];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof(url), "sqlite:%s/queue.db", dir);
    setenv("KUMO_STORE_JOBS", url, 1);
    setenv("KUMO_STORE_OTHER", url, 1);
    setenv("KUMO_STORE_SHARED", url, 1);
    setenv("KUMO_STORE_FLAKY_DEAD", url, 1);
    snprintf(url, sizeof(url), "sqlite:%s/queue.db?max_receives=2", dir);
    setenv("KUMO_STORE_FLAKY", url, 1);
    kumo__arena_init(&ctx.arena);

    test_args();
    test_basic();
    test_delay_and_visibility();
    test_dead_letter();
    test_migrate_trace();
    test_two_receivers();

    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_report();
}
