/*
 * test_redis.c: the server-free parts of the Redis drivers (stores/redis.c,
 * redis_queue.c over redis_conn.c): URL parsing (credentials with
 * %-escapes, port, database, kumo's query options, the errors), and what a
 * store that cannot be reached gives: KUMO_EUNAVAILABLE at open with the
 * reason and without the password, never a crash. Everything that needs a
 * server is in the conformance suite (tests/conformance, run.sh redis).
 */
#include "check.h"
#include "sdk/stores/redis_conn.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* kumo__store_open for a kv store, its message into err. */
static int open_kv(const char *url, const char *name, kumo__kv **out, char *err, size_t errlen)
{
    kumo__store *s = NULL;
    kumo__error e = {0};
    int rc = kumo__store_open(&kumo__kv_kind, url, name, &s, &e);
    snprintf(err, errlen, "%s", e.msg);
    *out = (kumo__kv *)s; /* a kumo__kv starts with its kumo__store */
    return rc;
}

/* kumo__store_open for a queue store, its message into err. */
static int open_queue(const char *url, const char *name, kumo__queue **out, char *err, size_t errlen)
{
    kumo__store *s = NULL;
    kumo__error e = {0};
    int rc = kumo__store_open(&kumo__queue_kind, url, name, &s, &e);
    snprintf(err, errlen, "%s", e.msg);
    *out = (kumo__queue *)s; /* a kumo__queue starts with its kumo__store */
    return rc;
}

static int parse(const char *url, kumo__redis *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    kumo__error e = {0};
    int rc = kumo__redis_parse(r, url, &e);
    snprintf(err, errlen, "%s", e.msg);
    return rc;
}

static void test_urls(void)
{
    kumo__redis r;
    char err[256];

    CHECK_INT(parse("redis://127.0.0.1", &r, err, sizeof(err)), 0);
    CHECK_STR(r.host, "127.0.0.1");
    CHECK_INT(r.port, 6379);
    CHECK_INT(r.db, 0);
    CHECK(r.password == NULL && r.user == NULL);
    CHECK_INT(r.timeout_ms, 5000);
    CHECK_INT(r.create, 1);
    CHECK_INT((int)r.max_receives, 5);
    kumo__redis_free(&r);

    CHECK_INT(parse("redis://:p%40ss%3Aw@cache.local:7000/3?timeout_ms=250&create=false&max_receives=9", &r, err,
                    sizeof(err)),
              0);
    CHECK_STR(r.host, "cache.local");
    CHECK_INT(r.port, 7000);
    CHECK_INT(r.db, 3);
    CHECK(r.user == NULL);
    CHECK_STR(r.password, "p@ss:w");
    CHECK_INT(r.timeout_ms, 250);
    CHECK_INT(r.create, 0);
    CHECK_INT((int)r.max_receives, 9);
    kumo__redis_free(&r);

    CHECK_INT(parse("redis://app:secret@h/", &r, err, sizeof(err)), 0);
    CHECK_STR(r.user, "app");
    CHECK_STR(r.password, "secret");
    kumo__redis_free(&r);

    CHECK_INT(parse("redis://h:0", &r, err, sizeof(err)), KUMO_EINVAL);
    CHECK(strstr(err, "port") != NULL);
    kumo__redis_free(&r);
    CHECK_INT(parse("redis://h:99999", &r, err, sizeof(err)), KUMO_EINVAL);
    kumo__redis_free(&r);
    CHECK_INT(parse("redis://h/x", &r, err, sizeof(err)), KUMO_EINVAL);
    CHECK(strstr(err, "database") != NULL);
    kumo__redis_free(&r);
    CHECK_INT(parse("redis://:6379", &r, err, sizeof(err)), KUMO_EINVAL);
    CHECK(strstr(err, "no host") != NULL);
    kumo__redis_free(&r);
    CHECK_INT(parse("redis://h?colour=red", &r, err, sizeof(err)), KUMO_EINVAL);
    CHECK(strstr(err, "colour") != NULL);
    kumo__redis_free(&r);
    CHECK_INT(parse("redis://:bad%zz@h", &r, err, sizeof(err)), KUMO_EINVAL);
    kumo__redis_free(&r);
    CHECK_INT(parse("rediss://h", &r, err, sizeof(err)), KUMO_EINVAL);
    kumo__redis_free(&r);
}

/* A loopback port with nothing listening (bound, then closed). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return 1;
    close(fd);
    return ntohs(a.sin_port);
}

static void test_unreachable(void)
{
    char url[128], err[256] = "";
    int port = dead_port();
    snprintf(url, sizeof(url), "redis://:hunter2@127.0.0.1:%d/0", port);
    kumo__kv *kv = NULL;
    CHECK_INT(open_kv(url, "todos", &kv, err, sizeof(err)), KUMO_EUNAVAILABLE);
    CHECK(kv == NULL);
    CHECK(strstr(err, "cannot connect") != NULL);
    CHECK(strstr(err, "hunter2") == NULL);

    kumo__queue *q = NULL;
    err[0] = '\0';
    CHECK_INT(open_queue(url, "jobs", &q, err, sizeof(err)), KUMO_EUNAVAILABLE);
    CHECK(q == NULL);
    CHECK(strstr(err, "hunter2") == NULL);

    /* By name through the environment, as a handler would: an error, twice
     * (a failed open is not cached), and the message for kumo_store_error. */
    setenv("KUMO_STORE_TODOS", url, 1);
    kumo_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    kumo_kv_item it;
    CHECK_INT(kumo_kv_get(&ctx, "todos", "k", &it), KUMO_EUNAVAILABLE);
    CHECK_INT(kumo_kv_put(&ctx, "todos", "k", "v", 1), KUMO_EUNAVAILABLE);
    CHECK(strstr(kumo_store_error(&ctx), "hunter2") == NULL);
    kumo__arena_free(&ctx.arena);
    unsetenv("KUMO_STORE_TODOS");
}

static void test_random_hex(void)
{
    char a[25], b[25];
    CHECK_INT(kumo__random_hex(a, 12), 0);
    CHECK_INT(kumo__random_hex(b, 12), 0);
    CHECK_INT((int)strlen(a), 24);
    CHECK(strspn(a, "0123456789abcdef") == 24);
    CHECK(strcmp(a, b) != 0);
}

int main(void)
{
    test_urls();
    test_unreachable();
    test_random_hex();
    return check_report();
}
