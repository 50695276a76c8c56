/*
 * test_kv_ttl.c: what version 2 of the kv driver table added, over the
 * sqlite driver (stores/sqlite.c): TTLs (present right after the put, absent
 * once expired, hidden from lists and deletes, purged lazily from the file,
 * "put only if absent" succeeding over an expired key, a plain put clearing
 * a TTL), get_many (order, absent keys), a file from before TTLs gaining the
 * column when opened, create=false, and kumo_store_error. Expiry is waited
 * for by polling with a 10 s bound, never by a sleep that assumes a speed.
 */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "sdk/sdk.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-kvttl-XXXXXX";
static char path[300];
static kumo_ctx ctx;

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

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls until `key` reads as absent: 1 when it did within 10 s. */
static int wait_absent(const char *store, const char *key)
{
    kumo_kv_item it;
    for (long long end = mono_ms() + 10000; mono_ms() < end; usleep(20000))
        if (kumo_kv_get(&ctx, store, key, &it) == KUMO_ENOTFOUND)
            return 1;
    return 0;
}

static long long rows(const char *key)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kumo_kv WHERE key = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, key, (int)strlen(key), SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static void test_ttl(void)
{
    kumo_kv_item it;
    kumo_kv_page page;
    CHECK_INT(kumo_kv_put_ttl(&ctx, "t", "short", "v", 1, 200), 0);
    CHECK_INT(kumo_kv_get(&ctx, "t", "short", &it), 0); /* present right after */
    CHECK_STR(it.value, "v");
    CHECK_INT(kumo_kv_put_ttl(&ctx, "t", "kept", "k", 1, 200), 0);
    CHECK_INT(kumo_kv_put(&ctx, "t", "kept", "k2", 2), 0); /* a plain put clears the TTL */
    CHECK_INT(kumo_kv_put_ttl(&ctx, "t", "forever", "f", 1, 0), 0);
    CHECK(wait_absent("t", "short"));
    CHECK_INT(rows("short"), 0); /* the get that found it expired purged it */
    CHECK_INT(kumo_kv_get(&ctx, "t", "kept", &it), 0);
    CHECK_STR(it.value, "k2");
    CHECK_INT(kumo_kv_get(&ctx, "t", "forever", &it), 0);

    /* An expired key is hidden from a list and from delete, and "put only
     * if absent" succeeds over it. */
    CHECK_INT(kumo_kv_put_ttl(&ctx, "t", "gone", "g", 1, 150), 0);
    CHECK_INT(kumo_kv_put_ttl(&ctx, "t", "sentinel", "s", 1, 150), 0);
    CHECK(wait_absent("t", "sentinel"));
    CHECK_INT(kumo_kv_list(&ctx, "t", "", NULL, 100, 0, &page), 0);
    CHECK_INT(page.count, 2); /* forever, kept */
    CHECK_INT(kumo_kv_delete(&ctx, "t", "gone"), KUMO_ENOTFOUND);
    CHECK_INT(rows("gone"), 1); /* still in the file... */
    CHECK_INT(kumo_kv_cas(&ctx, "t", "gone", "new", 3, 0, NULL), 0);
    CHECK_INT(kumo_kv_get(&ctx, "t", "gone", &it), 0);
    CHECK_STR(it.value, "new");
    CHECK_INT(kumo_kv_put_ttl(&ctx, "t", "x", "x", 1, UINT64_MAX), KUMO_EINVAL);
}

static void test_get_many(void)
{
    kumo_kv_item out[4];
    const char *keys[] = {"forever", "nope", "kept", "forever"};
    CHECK_INT(kumo_kv_get_many(&ctx, "t", keys, 4, out), 0);
    CHECK_STR(out[0].value, "f");
    CHECK(out[1].value == NULL && out[1].version == 0);
    CHECK_STR(out[1].key, "nope");
    CHECK_STR(out[2].value, "k2");
    CHECK_INT(out[3].version, out[0].version);
    CHECK_INT(kumo_kv_get_many(&ctx, "t", keys, 0, NULL), 0);
    const char *bad[] = {"ok", ""};
    CHECK_INT(kumo_kv_get_many(&ctx, "t", bad, 2, out), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get_many(&ctx, "t", NULL, 2, out), KUMO_EINVAL);
}

/* A file written by the driver before TTLs: no expires column. */
static void test_migration(void)
{
    char old[320], url[340], err[512];
    sqlite3 *db;
    snprintf(old, sizeof(old), "%s/old.db", dir);
    CHECK_INT(sqlite3_open(old, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db,
                           "CREATE TABLE kumo_kv (store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
                           " version INTEGER NOT NULL, PRIMARY KEY (store, key)) WITHOUT ROWID;"
                           "CREATE TABLE kumo_kv_clock (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER);"
                           "INSERT INTO kumo_kv_clock VALUES (1, 7);"
                           "INSERT INTO kumo_kv VALUES ('old', CAST('k' AS BLOB), CAST('v' AS BLOB), 7);",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    snprintf(url, sizeof(url), "sqlite:%s", old);
    setenv("KUMO_STORE_OLD", url, 1);
    kumo_kv_item it;
    CHECK_INT(kumo_kv_get(&ctx, "old", "k", &it), 0);
    CHECK_STR(it.value, "v");
    CHECK_INT(it.version, 7);
    CHECK_INT(kumo_kv_put_ttl(&ctx, "old", "k2", "v", 1, 100000), 0);

    /* create=false: an existing file opens, a missing one does not. */
    kumo__kv *kv = NULL;
    snprintf(url, sizeof(url), "sqlite:%s?create=false", old);
    CHECK_INT(open_kv(url, "old", &kv, err, sizeof(err)), 0);
    kumo__store_close((kumo__store *)kv);
    kv = NULL;
    snprintf(url, sizeof(url), "sqlite:%s/none.db?create=false", dir);
    CHECK(open_kv(url, "old", &kv, err, sizeof(err)) != 0);
    CHECK(kv == NULL);
    CHECK(access(url + strlen("sqlite:"), F_OK) != 0);
}

static void test_store_error(void)
{
    kumo_kv_item it;
    CHECK_STR(kumo_store_error(&ctx), "");
    CHECK_INT(kumo_kv_get(&ctx, "unset-store", "k", &it), KUMO_EINVAL);
    CHECK(strstr(kumo_store_error(&ctx), "KUMO_STORE_UNSET_STORE") != NULL);
    CHECK_INT(kumo_kv_get(&ctx, "t", "nope", &it), KUMO_ENOTFOUND);
    CHECK_STR(kumo_store_error(&ctx), "not found");
    kumo_request req;
    kumo_response res;
    kumo__invocation_init(&ctx, &req, &res);
    kumo__invocation_clear(&ctx, &req, &res);
    CHECK_STR(kumo_store_error(&ctx), "");
}

int main(void)
{
    char url[340];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/kv.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    setenv("KUMO_STORE_T", url, 1);
    kumo__arena_init(&ctx.arena);

    test_store_error();
    test_ttl();
    test_get_many();
    test_migration();

    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
