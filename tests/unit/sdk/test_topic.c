/*
 * test_topic.c: the topic kind (src/sdk/stores/topic.c) and what needs no
 * server: subscription queue names, the URLs each driver refuses (with a
 * message naming the parameter, never a crash), the embedded driver's
 * create=false, and, on the embedded driver, a subscription registered
 * while another process publishes: it gets exactly the messages published
 * after it, a gap-free tail, since each publish is one transaction. The
 * full behaviour of every driver, on real servers, is the conformance
 * suite's (tests/conformance, --topic).
 */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "sdk/sdk.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-topic-XXXXXX";
static kumo_ctx ctx;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int open_topic(const char *url, const char *name, kumo__topic **out, char *msg, size_t len)
{
    kumo__store *s = NULL;
    kumo__error e = {0};
    int rc = kumo__store_open(&kumo__topic_kind, url, name, &s, &e);
    snprintf(msg, len, "%s", e.msg);
    *out = (kumo__topic *)s;
    return rc;
}

static void test_names(void)
{
    char buf[KUMO__TOPIC_QUEUE_MAX], long_name[200];
    CHECK_INT(kumo__topic_subscription_queue("orders", "billing", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "orders.billing");
    CHECK_INT(kumo__topic_subscription_queue("orders", "", buf, sizeof(buf)), KUMO_EINVAL);
    CHECK_INT(kumo__topic_subscription_queue("orders", "a.b", buf, sizeof(buf)), KUMO_EINVAL);
    CHECK_INT(kumo__topic_subscription_queue("orders", "a/b", buf, sizeof(buf)), KUMO_EINVAL);
    CHECK_INT(kumo__topic_subscription_queue(NULL, "a", buf, sizeof(buf)), KUMO_EINVAL);
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    CHECK_INT(kumo__topic_subscription_queue("orders", long_name, buf, sizeof(buf)), KUMO_EINVAL);
    CHECK_INT(kumo__topic_subscription_queue("orders", "billing", buf, 8), KUMO_EINVAL);
}

static void test_urls(void)
{
    kumo__topic *t = NULL;
    char msg[512], url[400];

    snprintf(url, sizeof(url), "sqlite:%s/t.db?colour=blue", dir);
    CHECK_INT(open_topic(url, "orders", &t, msg, sizeof(msg)), KUMO_EINVAL);
    CHECK(strstr(msg, "unknown URL parameter 'colour'") != NULL);
    CHECK(strstr(msg, "blue") == NULL);
    CHECK(t == NULL);

    snprintf(url, sizeof(url), "sqlite:%s/absent.db?create=false", dir);
    CHECK_INT(open_topic(url, "orders", &t, msg, sizeof(msg)), KUMO_EUNAVAILABLE);
    CHECK(t == NULL);

    CHECK_INT(open_topic("mqtt://broker/orders", "orders", &t, msg, sizeof(msg)), KUMO_EINVAL);
    CHECK(strstr(msg, "no topic driver for scheme 'mqtt'") != NULL);

    CHECK_INT(open_topic("redis://127.0.0.1:1/0?colour=blue", "orders", &t, msg, sizeof(msg)), KUMO_EINVAL);

    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    CHECK_INT(open_topic("sns://orders?queue.billing", "orders", &t, msg, sizeof(msg)), KUMO_EINVAL);
    CHECK(strstr(msg, "queue.EVENT=SQS_QUEUE") != NULL);
    CHECK_INT(open_topic("sns://orders?queue.a.b=q", "orders", &t, msg, sizeof(msg)), KUMO_EINVAL);
    CHECK_INT(open_topic("sns://orders?colour=blue&queue.billing=q", "orders", &t, msg, sizeof(msg)), KUMO_EINVAL);
    CHECK(strstr(msg, "unknown parameter 'colour'") != NULL);
    CHECK_INT(open_topic("sns://orders/x?queue.billing=q", "orders", &t, msg, sizeof(msg)), KUMO_EINVAL);
    /* a well-formed URL opens without a call (the topic is found on first
     * use); an event the URL names no queue for is refused by name */
    CHECK_INT(open_topic("sns://orders?endpoint=http://127.0.0.1:1&queue.billing=orders-billing", "orders", &t, msg,
                         sizeof(msg)),
              0);
    if (t) {
        kumo__queue *q = NULL;
        kumo__error e = {0};
        CHECK_INT(kumo__topic_open_subscription(t, "audit", &q, &e), KUMO_EINVAL);
        CHECK(strstr(e.msg, "add queue.audit=SQS_QUEUE") != NULL);
        CHECK_INT(kumo__topic_subscribe(t, "audit", "shop"), KUMO_EINVAL);
        CHECK(q == NULL);
        CHECK_INT(kumo__topic_open_subscription(t, "billing", &q, &e), 0);
        if (q) {
            CHECK_STR(q->name, "orders.billing");
            kumo__store_close(&q->store);
        }
        /* nothing listens on port 1: unavailable, with a message */
        CHECK_INT(kumo__topic_subscribe(t, "billing", "shop"), KUMO_EUNAVAILABLE);
        CHECK(t->error[0] != '\0');
        kumo__store_close(&t->store);
    }
}

/* Receives everything ready in q (bodies are numbers): marks seen[]. */
static size_t drain(kumo__queue *q, int *seen, size_t n)
{
    kumo_queue_message m[100];
    size_t got = 0, total = 0;
    while (q->driver->receive(q, &ctx.arena, 100, 60000, m, &got) == 0 && got > 0) {
        for (size_t i = 0; i < got; i++) {
            long v = strtol(m[i].body, NULL, 10);
            if (v >= 0 && (size_t)v < n)
                seen[v]++;
            q->driver->ack(q, m[i].receipt);
        }
        total += got;
        kumo__arena_reset(&ctx.arena);
    }
    return total;
}

#define PUBLISHED 300

static void test_subscribe_while_publishing(void)
{
    char url[400], msg[512];
    kumo__topic *t = NULL;
    snprintf(url, sizeof(url), "sqlite:%s/orders.topic.db", dir);
    setenv("KUMO_STORE_ORDERS", url, 1);
    CHECK_INT(open_topic(url, "orders", &t, msg, sizeof(msg)), 0);
    if (t == NULL)
        return;
    CHECK_INT(kumo__topic_subscribe(t, "early", "shop"), 0);
    pid_t pid = fork();
    if (pid == 0) {
        kumo_ctx c = {0};
        kumo__arena_init(&c.arena);
        for (int i = 0; i < PUBLISHED; i++) {
            char body[16];
            int n = snprintf(body, sizeof(body), "%d", i);
            if (kumo_topic_publish(&c, "orders", body, (size_t)n, NULL) != 0)
                _exit(1);
            kumo__arena_reset(&c.arena);
        }
        _exit(0);
    }
    CHECK(pid > 0);
    /* subscribe "late" once the publisher is under way (bounded wait) */
    kumo__queue *early = NULL, *late = NULL;
    kumo__error e = {0};
    CHECK_INT(kumo__topic_open_subscription(t, "early", &early, &e), 0);
    int seen_early[PUBLISHED] = {0}, seen_late[PUBLISHED] = {0};
    size_t first = 0;
    for (int tries = 0; early && first == 0 && tries < 1000; tries++) {
        first = drain(early, seen_early, PUBLISHED);
        if (first == 0)
            usleep(10000);
    }
    CHECK_INT(kumo__topic_subscribe(t, "late", "shop"), 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(kumo__topic_open_subscription(t, "late", &late, &e), 0);
    if (early && late) {
        drain(early, seen_early, PUBLISHED);
        drain(late, seen_late, PUBLISHED);
        int all_early = 1, tail = 1, started = 0;
        for (int i = 0; i < PUBLISHED; i++) {
            all_early &= seen_early[i] == 1;
            if (seen_late[i])
                started = 1;
            else if (started)
                tail = 0; /* a gap after the first message late got */
            tail &= seen_late[i] <= 1;
        }
        CHECK(all_early);
        CHECK(tail);
        CHECK(seen_late[PUBLISHED - 1] == 1 || !started);
    }
    kumo__store_close(early ? &early->store : NULL);
    kumo__store_close(late ? &late->store : NULL);
    kumo__store_close(&t->store);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    kumo__arena_init(&ctx.arena);
    test_names();
    test_urls();
    test_subscribe_while_publishing();
    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_report();
}
