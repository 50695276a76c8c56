/*
 * test_egress.c: the egress rules (sandbox/egress.c): which destinations
 * each store URL names (ports defaulted per scheme as the drivers do),
 * resolution of numeric and named hosts into addresses and /etc/hosts
 * lines, and the test of connect() addresses against them. The rules'
 * enforcement is tested through real workers in
 * tests/integration/test_egress.py.
 */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "sandbox/egress.h"

static kumo__egress_rules *rules(void)
{
    kumo__egress_rules *r = calloc(1, sizeof(*r));
    CHECK(r != NULL);
    return r;
}

static int has_dest(const kumo__egress_rules *r, const char *host, unsigned port, const char *path)
{
    for (size_t i = 0; i < r->ndests; i++)
        if (strcmp(r->dests[i].host, host) == 0 && r->dests[i].port == port && strcmp(r->dests[i].path, path) == 0)
            return 1;
    return 0;
}

static int add(kumo__egress_rules *r, const char *url)
{
    kumo__error err = {0};
    return kumo__egress_rules_add_url(r, "s", url, "eu-west-3", &err);
}

static void test_urls(void)
{
    kumo__egress_rules *r = rules();
    CHECK_INT(add(r, "sqlite:/tmp/x.db"), 0);
    CHECK_INT(add(r, "file:/tmp/blob"), 0);
    CHECK_INT((int)r->ndests, 0);
    CHECK_INT(add(r, "redis://127.0.0.1:6380/0"), 0);
    CHECK(has_dest(r, "127.0.0.1", 6380, ""));
    CHECK_INT(add(r, "redis://:s%40cret@cache.internal"), 0); /* default port, credentials skipped */
    CHECK(has_dest(r, "cache.internal", 6379, ""));
    CHECK_INT(add(r, "redis://[::1]:7000"), 0);
    CHECK(has_dest(r, "::1", 7000, ""));
    CHECK_INT(add(r, "postgres://u:p@db.example:6543/app?sslmode=disable"), 0);
    CHECK(has_dest(r, "db.example", 6543, ""));
    CHECK_INT(add(r, "postgresql://u@db2/app"), 0);
    CHECK(has_dest(r, "db2", 5432, ""));
    CHECK_INT(add(r, "postgres:///app"), 0); /* no host: libpq's unix socket */
    CHECK(has_dest(r, "", 5432, "/var/run/postgresql/.s.PGSQL.5432"));
    CHECK_INT(add(r, "postgres://%2Frun%2Fpg:5433/app"), 0);
    CHECK(has_dest(r, "", 5433, "/run/pg/.s.PGSQL.5433"));
    CHECK_INT(add(r, "postgres://ignored/app?host=10.1.2.3,10.1.2.4&port=5439"), 0);
    CHECK(has_dest(r, "10.1.2.3", 5439, "") && has_dest(r, "10.1.2.4", 5439, ""));
    CHECK(!has_dest(r, "ignored", 5439, ""));
    CHECK_INT(add(r, "dynamodb://table?endpoint=http%3A%2F%2F127.0.0.1%3A5000"), 0);
    CHECK(has_dest(r, "127.0.0.1", 5000, ""));
    CHECK_INT(add(r, "sqs://jobs?endpoint=https://sqs.local/x"), 0);
    CHECK(has_dest(r, "sqs.local", 443, ""));
    CHECK_INT(add(r, "dynamodb://table"), 0); /* the region from the environment */
    CHECK(has_dest(r, "dynamodb.eu-west-3.amazonaws.com", 443, ""));
    CHECK_INT(add(r, "s3://bucket/prefix?region=us-west-2"), 0);
    CHECK(has_dest(r, "bucket.s3.us-west-2.amazonaws.com", 443, ""));
    CHECK_INT(add(r, "sns://topic"), 0); /* and the queues it feeds */
    CHECK(has_dest(r, "sns.eu-west-3.amazonaws.com", 443, "") && has_dest(r, "sqs.eu-west-3.amazonaws.com", 443, ""));
    /* Google Cloud: endpoint=, the emulator variable, else googleapis.com and its token endpoint */
    CHECK_INT(add(r, "firestore://todos?endpoint=http%3A%2F%2F127.0.0.1%3A8681&project=p"), 0);
    CHECK(has_dest(r, "127.0.0.1", 8681, ""));
    setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8682", 1);
    CHECK_INT(add(r, "pubsub://jobs"), 0);
    CHECK(has_dest(r, "127.0.0.1", 8682, "") && !has_dest(r, "pubsub.googleapis.com", 443, ""));
    unsetenv("PUBSUB_EMULATOR_HOST");
    CHECK_INT(add(r, "gs://bucket/prefix"), 0);
    CHECK(has_dest(r, "storage.googleapis.com", 443, "") && has_dest(r, "oauth2.googleapis.com", 443, ""));
    CHECK_INT(add(r, "aztable://acct1/kv?endpoint=http://127.0.0.1:10002"), 0);
    CHECK(has_dest(r, "127.0.0.1", 10002, ""));
    CHECK_INT(add(r, "azblob://acct1/files/pre"), 0);
    CHECK(has_dest(r, "acct1.blob.core.windows.net", 443, ""));
    CHECK_INT(add(r, "azqueue://acct1/jobs?max_receives=3"), 0);
    CHECK(has_dest(r, "acct1.queue.core.windows.net", 443, ""));
    size_t n = r->ndests;
    CHECK_INT(add(r, "redis://127.0.0.1:6380/1"), 0); /* the same server once */
    CHECK_INT((int)r->ndests, (int)n);
    /* what the drivers refuse adds nothing and says why */
    kumo__error err = {0};
    CHECK_INT(kumo__egress_rules_add_url(r, "bad", "redis://:0", NULL, &err), -EINVAL);
    CHECK(strstr(err.msg, "store 'bad'") != NULL);
    CHECK_INT(add(r, "redis://host:99999"), -EINVAL);
    CHECK_INT(add(r, "mongodb://x"), -EINVAL);
    CHECK_INT(add(r, "nothing"), -EINVAL);
    CHECK_INT(add(r, "dynamodb://t?endpoint=ftp://x"), -EINVAL);
    CHECK_INT((int)r->ndests, (int)n);
    free(r);
}

static struct sockaddr_in v4(const char *a, unsigned port)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, a, &in.sin_addr);
    return in;
}

static struct sockaddr_in6 v6(const char *a, unsigned port)
{
    struct sockaddr_in6 in;
    memset(&in, 0, sizeof(in));
    in.sin6_family = AF_INET6;
    in.sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, a, &in.sin6_addr);
    return in;
}

static int allows4(const kumo__egress_rules *r, const char *a, unsigned port)
{
    struct sockaddr_in in = v4(a, port);
    return kumo__egress_allows(r, (struct sockaddr *)&in, sizeof(in));
}

static int allows6(const kumo__egress_rules *r, const char *a, unsigned port)
{
    struct sockaddr_in6 in = v6(a, port);
    return kumo__egress_allows(r, (struct sockaddr *)&in, sizeof(in));
}

static int allows_unix(const kumo__egress_rules *r, const char *path, int abstract)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path + abstract, sizeof(un.sun_path) - 1, "%s", path);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + abstract + strlen(path) + !abstract);
    return kumo__egress_allows(r, (struct sockaddr *)&un, len);
}

static void test_matching(void)
{
    kumo__egress_rules *r = rules();
    CHECK_INT(add(r, "redis://127.0.0.1:6380"), 0);
    CHECK_INT(add(r, "redis://[::1]:7000"), 0);
    CHECK_INT(add(r, "redis://localhost:7001"), 0);
    CHECK_INT(add(r, "postgres://%2Frun%2Fpg/app"), 0);
    char unresolved[256];
    kumo__egress_rules_resolve(r, unresolved, sizeof(unresolved));
    CHECK_STR(unresolved, "");
    CHECK(allows4(r, "127.0.0.1", 6380));
    CHECK(!allows4(r, "127.0.0.1", 6381)); /* another port of an allowed host */
    CHECK(!allows4(r, "127.0.0.2", 6380));
    CHECK(allows6(r, "::ffff:127.0.0.1", 6380)); /* v4-mapped counts as v4 */
    CHECK(allows6(r, "::1", 7000));
    CHECK(!allows6(r, "::1", 6380));
    CHECK(allows4(r, "127.0.0.1", 7001)); /* localhost, resolved by the rules */
    CHECK(strstr(r->hosts, "127.0.0.1 localhost\n") != NULL);
    /* a short address is never read past */
    struct sockaddr_in in = v4("127.0.0.1", 6380);
    CHECK(!kumo__egress_allows(r, (struct sockaddr *)&in, sizeof(in) - 1));
    CHECK(!kumo__egress_allows(r, (struct sockaddr *)&in, 1));
    CHECK(allows_unix(r, "/run/pg/.s.PGSQL.5432", 0));
    CHECK(!allows_unix(r, "/run/pg/.s.PGSQL.5433", 0));
    CHECK(!allows_unix(r, "/run/pg/.s.PGSQL.543", 0));
    CHECK(!allows_unix(r, "/var/run/docker.sock", 0));
    CHECK(allows_unix(r, "kumo-own", 1)); /* abstract: the worker's own namespace */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    CHECK(kumo__egress_allows(r, &unspec, sizeof(unspec)));
    struct sockaddr other = {.sa_family = AF_PACKET};
    CHECK(!kumo__egress_allows(r, &other, sizeof(other)));
    /* messages */
    char d[160];
    kumo__egress_describe((struct sockaddr *)&in, sizeof(in), d, sizeof(d));
    CHECK_STR(d, "127.0.0.1:6380");
    struct sockaddr_in6 in6 = v6("::1", 7000);
    kumo__egress_describe((struct sockaddr *)&in6, sizeof(in6), d, sizeof(d));
    CHECK_STR(d, "[::1]:7000");
    free(r);
}

static void test_unresolved(void)
{
    kumo__egress_rules *r = rules();
    CHECK_INT(add(r, "redis://no-such-host.invalid:6379"), 0);
    char unresolved[256];
    kumo__egress_rules_resolve(r, unresolved, sizeof(unresolved));
    CHECK(strstr(unresolved, "no-such-host.invalid (store 's')") != NULL);
    CHECK_INT((int)r->naddrs, 0);
    free(r);
}

int main(void)
{
    test_urls();
    test_matching();
    test_unresolved();
    return check_report();
}
