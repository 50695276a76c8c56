/*
 * test_postgres.c: the server-free parts of the PostgreSQL drivers
 * (stores/postgres.c, postgres_queue.c over pg_conn.c): URL parsing (kumo's
 * options table=, create=, timeout_ms=, max_receives= taken out, libpq's
 * own passed on, connect_timeout added), the refusals, and a server that
 * cannot be reached: KUMO_EUNAVAILABLE with libpq's reason and without the
 * password. Everything that needs a server is in the conformance suite
 * (tests/conformance, run.sh postgres).
 */
#include "check.h"
#include "sdk/stores/pg_conn.h"

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

static int parse(const char *url, kumo__pg *pg, char *err, size_t errlen)
{
    memset(pg, 0, sizeof(*pg));
    kumo__error e = {0};
    int rc = kumo__pg_parse(pg, url, "kumo_kv", &e);
    snprintf(err, errlen, "%s", e.msg);
    return rc;
}

static void test_urls(void)
{
    kumo__pg pg;
    char err[256];

    CHECK_INT(parse("postgres://u:p@db:5433/app", &pg, err, sizeof(err)), 0);
    CHECK_STR(pg.conninfo, "postgres://u:p@db:5433/app?connect_timeout=5");
    CHECK_STR(pg.table, "kumo_kv");
    CHECK_INT(pg.create, 1);
    CHECK_INT(pg.timeout_ms, 5000);
    CHECK_INT((int)pg.max_receives, 5);
    kumo__pg_free(&pg);

    CHECK_INT(parse("postgresql://u@db/app?sslmode=disable&table=my_kv&create=false&timeout_ms=1500&max_receives=3"
                    "&application_name=x",
                    &pg, err, sizeof(err)),
              0);
    CHECK_STR(pg.conninfo, "postgresql://u@db/app?sslmode=disable&application_name=x&connect_timeout=2");
    CHECK_STR(pg.table, "my_kv");
    CHECK_INT(pg.create, 0);
    CHECK_INT(pg.timeout_ms, 1500);
    CHECK_INT((int)pg.max_receives, 3);
    kumo__pg_free(&pg);

    CHECK_INT(parse("postgres://db/app?connect_timeout=9", &pg, err, sizeof(err)), 0);
    CHECK_STR(pg.conninfo, "postgres://db/app?connect_timeout=9");
    kumo__pg_free(&pg);

    CHECK_INT(parse("postgres://db/app?table=kv;drop", &pg, err, sizeof(err)), KUMO_EINVAL);
    CHECK(strstr(err, "identifier") != NULL);
    kumo__pg_free(&pg);
    CHECK_INT(parse("postgres://db/app?table=KV", &pg, err, sizeof(err)), KUMO_EINVAL);
    kumo__pg_free(&pg);
    CHECK_INT(parse("postgres://db/app?timeout_ms=0", &pg, err, sizeof(err)), KUMO_EINVAL);
    kumo__pg_free(&pg);
    CHECK_INT(parse("pg://db/app", &pg, err, sizeof(err)), KUMO_EINVAL);
    kumo__pg_free(&pg);
}

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
    char url[160], err[256] = "";
    snprintf(url, sizeof(url), "postgres://app:hunter2@127.0.0.1:%d/app?timeout_ms=1000", dead_port());
    kumo__kv *kv = NULL;
    CHECK_INT(open_kv(url, "todos", &kv, err, sizeof(err)), KUMO_EUNAVAILABLE);
    CHECK(kv == NULL);
    CHECK(strstr(err, "cannot connect") != NULL);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strchr(err, '\n') == NULL);

    kumo__queue *q = NULL;
    err[0] = '\0';
    CHECK_INT(open_queue(url, "jobs", &q, err, sizeof(err)), KUMO_EUNAVAILABLE);
    CHECK(q == NULL);
    CHECK(strstr(err, "hunter2") == NULL);
}

int main(void)
{
    test_urls();
    test_unreachable();
    return check_report();
}
