/*
 * test_store.c: what every kind of store shares (src/sdk/stores/store.c,
 * base/store_var.c) and the invocation's defer list (request.c): the
 * KUMO_STORE_<NAME> rule both sides use, opening by URL through a kind's
 * descriptor (unknown schemes, the queue's URL option checked before the
 * driver opens), the one cache of open stores (same name under two kinds
 * are two stores; a failed open is not cached and its reason is the
 * invocation's store error), kumo__stores_close_all, the kv list range, and
 * deferred calls run latest first unless taken back.
 */
#include "check.h"
#include "base/store_var.h"
#include "sdk/sdk.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-store-XXXXXX";

static void test_store_var(void)
{
    char var[KUMO__STORE_VAR_MAX], name[KUMO__STORE_NAME_MAX + 2];
    CHECK_INT(kumo__store_var("user-sessions", var, sizeof(var)), 0);
    CHECK_STR(var, "KUMO_STORE_USER_SESSIONS");
    CHECK_INT(kumo__store_var("Mixed_9", var, sizeof(var)), 0);
    CHECK_STR(var, "KUMO_STORE_MIXED_9");
    CHECK_INT(kumo__store_var("", var, sizeof(var)), -EINVAL);
    CHECK_INT(kumo__store_var("a.b", var, sizeof(var)), -EINVAL);
    CHECK_INT(kumo__store_var("a b", var, sizeof(var)), -EINVAL);
    /* The longest name fits the buffer the header sizes; one more byte is
     * refused by the rule itself, whatever the buffer (the gateway and the
     * worker used to disagree here). */
    memset(name, 'n', KUMO__STORE_NAME_MAX);
    name[KUMO__STORE_NAME_MAX] = '\0';
    CHECK_INT(kumo__store_var(name, var, sizeof(var)), 0);
    CHECK_INT(strlen(var), strlen("KUMO_STORE_") + KUMO__STORE_NAME_MAX);
    name[KUMO__STORE_NAME_MAX] = 'n';
    name[KUMO__STORE_NAME_MAX + 1] = '\0';
    char big[256];
    CHECK_INT(kumo__store_var(name, big, sizeof(big)), -EINVAL);
    CHECK_INT(kumo__store_var("todos", var, 12), -ENAMETOOLONG);
}

static void test_open(void)
{
    kumo__store *s = NULL;
    kumo__error e = {0};
    char url[200];

    CHECK_INT(kumo__store_open(&kumo__kv_kind, "nosuch://x", "x", &s, &e), KUMO_EINVAL);
    CHECK(s == NULL);
    CHECK_STR(e.msg, "no kv driver for scheme 'nosuch'");
    CHECK_INT(e.code, KUMO_EINVAL);
    /* A scheme of another kind is not this kind's. */
    CHECK_INT(kumo__store_open(&kumo__blob_kind, "sqlite:/tmp/x.db", "x", &s, &e), KUMO_EINVAL);
    CHECK_STR(e.msg, "no blob driver for scheme 'sqlite'");
    CHECK_INT(kumo__store_open(&kumo__queue_kind, NULL, "x", &s, &e), KUMO_EINVAL);
    CHECK(strstr(e.msg, "is missing") != NULL);
    CHECK_INT(kumo__store_open(&kumo__kv_kind, "sqlite:/tmp/x.db", NULL, &s, &e), KUMO_EINVAL);

    /* The queue's own option is refused before its driver runs: no file. */
    snprintf(url, sizeof(url), "sqlite:%s/q.db?max_receives=0", dir);
    CHECK_INT(kumo__store_open(&kumo__queue_kind, url, "jobs", &s, &e), KUMO_EINVAL);
    CHECK(strstr(e.msg, "max_receives=0") != NULL);
    snprintf(url, sizeof(url), "%s/q.db", dir);
    CHECK(access(url, F_OK) != 0);
    /* ... and applied after it opened. */
    snprintf(url, sizeof(url), "sqlite:%s/q.db?max_receives=7", dir);
    CHECK_INT(kumo__store_open(&kumo__queue_kind, url, "jobs", &s, &e), 0);
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s->name, "jobs");
        CHECK_STR(s->driver->scheme, "sqlite");
        CHECK_INT(((kumo__queue *)s)->max_receives, 7);
    }
    kumo__store_close(s);
    kumo__store_close(NULL);
}

static void test_cache(void)
{
    kumo_ctx ctx;
    char url[200];
    int err = 0;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);

    /* One name, two kinds: one variable, so one URL here, but two stores. */
    snprintf(url, sizeof(url), "sqlite:%s/both.db", dir);
    setenv("KUMO_STORE_BOTH", url, 1);
    kumo__store *kv = kumo__store_get(&kumo__kv_kind, &ctx, "both", &err);
    CHECK(kv != NULL);
    CHECK_INT(err, 0);
    kumo__store *q = kumo__store_get(&kumo__queue_kind, &ctx, "both", &err);
    CHECK(q != NULL);
    CHECK(q != kv);
    CHECK(kumo__store_get(&kumo__kv_kind, &ctx, "both", &err) == kv);
    CHECK(kumo__store_get(&kumo__queue_kind, NULL, "both", &err) == q);
    CHECK_STR(kumo_store_error(&ctx), "");

    /* Not set: an error, recorded; not cached, so setting it later works. */
    unsetenv("KUMO_STORE_LATER");
    CHECK(kumo__store_get(&kumo__blob_kind, &ctx, "later", &err) == NULL);
    CHECK_INT(err, KUMO_EINVAL);
    CHECK_STR(kumo_store_error(&ctx), "blob store 'later': KUMO_STORE_LATER is not set; declare it in kumo.yaml");
    snprintf(url, sizeof(url), "file:%s/blobs", dir);
    setenv("KUMO_STORE_LATER", url, 1);
    CHECK(kumo__store_get(&kumo__blob_kind, &ctx, "later", &err) != NULL);

    /* A name that cannot be a variable. */
    CHECK(kumo__store_get(&kumo__kv_kind, &ctx, "a.b", &err) == NULL);
    CHECK_STR(kumo_store_error(&ctx), "kv store 'a.b' is not a valid store name");
    CHECK(kumo__store_get(&kumo__kv_kind, &ctx, NULL, &err) == NULL);

    /* A failed open: the variable is named, the URL is not. */
    setenv("KUMO_STORE_BROKEN", "redis-ish", 1);
    CHECK(kumo__store_get(&kumo__kv_kind, &ctx, "broken", &err) == NULL);
    CHECK(strstr(kumo_store_error(&ctx), "kv store 'broken' (KUMO_STORE_BROKEN): ") == kumo_store_error(&ctx));

    /* Closing all forgets all: the next get opens anew. */
    kumo__stores_close_all();
    CHECK(kumo__store_get(&kumo__kv_kind, &ctx, "both", &err) != NULL);
    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
}

static void check_range(const char *prefix, const char *cursor, const char *lower, size_t llen, const char *upper,
                        size_t ulen)
{
    kumo__arena a;
    kumo__kv_range r;
    kumo__arena_init(&a);
    CHECK_INT(kumo__kv_list_range(&a, prefix, cursor, &r), 0);
    CHECK_INT(r.llen, llen);
    CHECK(memcmp(r.lower, lower, llen) == 0);
    CHECK_INT(r.ulen, ulen);
    CHECK(memcmp(r.upper, upper, ulen) == 0);
    kumo__arena_free(&a);
}

static void test_list_range(void)
{
    check_range("", NULL, "", 0, "", 0); /* everything: open above */
    check_range("ab", NULL, "ab", 2, "ac", 2);
    check_range("a\xff", NULL, "a\xff", 2, "b", 1); /* 0xff carries */
    check_range("\xff\xff", NULL, "\xff\xff", 2, "", 0);
    check_range("ab", "abc", "abc", 4, "ac", 2); /* past the cursor: cursor||0x00 */
    check_range("ab", "aa", "ab", 2, "ac", 2);   /* a cursor before the prefix */
    check_range("", "k", "k", 2, "", 0);
}

static int ran[4], order;

static void note(void *arg)
{
    ran[(int)(intptr_t)arg] = ++order;
}

static void test_defer(void)
{
    kumo_ctx ctx;
    kumo_request req;
    kumo_response res;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    kumo__invocation_init(&ctx, &req, &res);

    kumo__defer *d[4];
    for (int i = 0; i < 4; i++)
        CHECK((d[i] = kumo__ctx_defer(&ctx, note, (void *)(intptr_t)i)) != NULL);
    kumo__ctx_undefer(&ctx, d[2]); /* its owner released it itself */
    kumo__ctx_undefer(&ctx, d[2]); /* twice does nothing */
    kumo__ctx_undefer(&ctx, NULL);
    kumo__invocation_clear(&ctx, &req, &res);
    CHECK(ctx.defers == NULL);
    /* Latest first, the taken-back one never. */
    CHECK_INT(ran[3], 1);
    CHECK_INT(ran[1], 2);
    CHECK_INT(ran[0], 3);
    CHECK_INT(ran[2], 0);

    /* A new invocation starts with nothing to run. */
    order = 0;
    memset(ran, 0, sizeof(ran));
    kumo__invocation_clear(&ctx, &req, &res);
    CHECK_INT(order, 0);
    kumo__arena_free(&ctx.arena);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_store_var();
    test_open();
    test_cache();
    test_list_range();
    test_defer();
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_report();
}
