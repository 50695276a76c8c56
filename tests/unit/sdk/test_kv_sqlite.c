/*
 * test_kv_sqlite.c: the kv API (src/sdk/stores/store.c) over the sqlite
 * driver (stores/sqlite.c), on real files in a mkdtemp directory: get, put,
 * delete, CAS and put-if-absent, listing by prefix with paging and a write
 * between pages, prefix edge cases (0xff bytes, LIKE wildcards), two handles
 * and two processes on one file, the env-var lookup of a store by name, and
 * the argument checks.
 */
#include "check.h"
#include "sdk/sdk.h"

#include <errno.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-kv-XXXXXX";
static char url[256];
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

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void test_args(void)
{
    kumo_kv_item it;
    kumo_kv_page page;
    char key[KUMO_KV_KEY_MAX + 2];
    memset(key, 'k', sizeof(key));
    key[KUMO_KV_KEY_MAX + 1] = '\0'; /* one too many */

    CHECK_INT(kumo_kv_get(NULL, "todos", "a", &it), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get(&ctx, NULL, "a", &it), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get(&ctx, "todos", NULL, &it), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get(&ctx, "todos", "a", NULL), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get(&ctx, "todos", "", &it), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get(&ctx, "todos", key, &it), KUMO_ETOOBIG);
    CHECK_INT(kumo_kv_put(&ctx, "todos", key, "v", 1), KUMO_ETOOBIG);
    CHECK_INT(kumo_kv_put(&ctx, "todos", "a", NULL, 1), KUMO_EINVAL);
    CHECK_INT(kumo_kv_cas(&ctx, "todos", "a", "v", 1, UINT64_MAX, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_kv_delete(&ctx, "todos", ""), KUMO_EINVAL);
    CHECK_INT(kumo_kv_list(&ctx, "todos", "", NULL, 0, 0, &page), KUMO_EINVAL);
    CHECK_INT(kumo_kv_list(&ctx, "todos", "", NULL, 1001, 0, &page), KUMO_EINVAL);
    CHECK_INT(kumo_kv_list(&ctx, "todos", key, NULL, 10, 0, &page), KUMO_ETOOBIG);
    CHECK_INT(kumo_kv_list(&ctx, "todos", "", NULL, 10, 0, NULL), KUMO_EINVAL);
    /* Unknown stores: not in the environment, or not spellable there. */
    CHECK_INT(kumo_kv_get(&ctx, "nosuchstore", "a", &it), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get(&ctx, "bad name", "a", &it), KUMO_EINVAL);
    CHECK_INT(kumo_kv_get(&ctx, "", "a", &it), KUMO_EINVAL);
    setenv("KUMO_STORE_BADSCHEME", "nosuch://x", 1);
    CHECK_INT(kumo_kv_get(&ctx, "badscheme", "a", &it), KUMO_EINVAL);
}

static void test_crud(void)
{
    kumo_kv_item it;
    uint64_t v1 = 0, v2 = 0;
    /* The store "my-todos" is found through KUMO_STORE_MY_TODOS. */
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "a", &it), KUMO_ENOTFOUND);
    CHECK(it.value == NULL && it.version == 0);
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", "a", "one", 3), 0);
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "a", &it), 0);
    CHECK_STR(it.key, "a");
    CHECK_STR(it.value, "one"); /* NUL-terminated beyond len */
    CHECK_INT(it.len, 3);
    CHECK(it.version > 0);
    v1 = it.version;
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", "a", "two!", 4), 0);
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "a", &it), 0);
    CHECK_STR(it.value, "two!");
    CHECK(it.version > v1);
    v2 = it.version;

    /* Binary values, empty values. */
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", "bin", "a\0b", 3), 0);
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "bin", &it), 0);
    CHECK(it.len == 3 && memcmp(it.value, "a\0b", 3) == 0);
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", "empty", NULL, 0), 0);
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "empty", &it), 0);
    CHECK(it.len == 0 && it.value != NULL && ((const char *)it.value)[0] == '\0');

    /* Limits: a key of exactly KUMO_KV_KEY_MAX, a value of 16 MiB + 1. */
    char key[KUMO_KV_KEY_MAX + 1];
    memset(key, 'k', KUMO_KV_KEY_MAX);
    key[KUMO_KV_KEY_MAX] = '\0';
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", key, "x", 1), 0);
    CHECK_INT(kumo_kv_delete(&ctx, "my-todos", key), 0);
    size_t big = (16u << 20) + 1;
    char *value = calloc(1, big);
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", "big", value, big), KUMO_ETOOBIG);
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", "big", value, big - 1), 0);
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "big", &it), 0);
    CHECK_INT(it.len, big - 1);
    CHECK_INT(kumo_kv_delete(&ctx, "my-todos", "big"), 0);
    free(value);

    /* CAS. */
    uint64_t nv = 0;
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "a", "x", 1, 0, &nv), KUMO_ECONFLICT);  /* exists */
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "a", "x", 1, v1, &nv), KUMO_ECONFLICT); /* stale */
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "a", &it), 0);
    CHECK_STR(it.value, "two!");
    CHECK_INT(it.version, v2); /* a failed CAS bumps nothing */
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "a", "three", 5, v2, &nv), 0);
    CHECK(nv > v2);
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "a", &it), 0);
    CHECK_STR(it.value, "three");
    CHECK_INT(it.version, nv);
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "new", "n", 1, 0, &nv), 0); /* put-if-absent */
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "new", "m", 1, 0, NULL), KUMO_ECONFLICT);
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "absent", "m", 1, 5, NULL), KUMO_ECONFLICT);
    /* No ABA: after delete and re-create, the old version does not match. */
    uint64_t old = nv;
    CHECK_INT(kumo_kv_delete(&ctx, "my-todos", "new"), 0);
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "new", "again", 5, 0, &nv), 0);
    CHECK(nv != old);
    CHECK_INT(kumo_kv_cas(&ctx, "my-todos", "new", "stale", 5, old, NULL), KUMO_ECONFLICT);

    /* Delete. */
    CHECK_INT(kumo_kv_delete(&ctx, "my-todos", "a"), 0);
    CHECK_INT(kumo_kv_delete(&ctx, "my-todos", "a"), KUMO_ENOTFOUND);
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "a", &it), KUMO_ENOTFOUND);
}

static size_t list_all(const char *store, const char *prefix, const char *cursor, size_t limit, const char **keys,
                       size_t max)
{
    size_t n = 0;
    kumo_kv_page page;
    do {
        if (kumo_kv_list(&ctx, store, prefix, cursor, limit, 0, &page) != 0)
            return (size_t)-1;
        for (size_t i = 0; i < page.count && n < max; i++)
            keys[n++] = page.items[i].key;
        cursor = page.next;
    } while (cursor);
    return n;
}

static void test_list(void)
{
    kumo_kv_page page;
    char key[32], val[32];
    for (int i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "item:%03d", i);
        snprintf(val, sizeof(val), "v%d", i);
        CHECK_INT(kumo_kv_put(&ctx, "list", key, val, strlen(val)), 0);
    }
    CHECK_INT(kumo_kv_put(&ctx, "list", "item", "before", 6), 0); /* not under "item:" */
    CHECK_INT(kumo_kv_put(&ctx, "list", "item;", "after", 5), 0); /* ';' follows ':' */
    CHECK_INT(kumo_kv_put(&ctx, "list", "itel", "before", 6), 0);

    /* Page 1 with values. */
    CHECK_INT(kumo_kv_list(&ctx, "list", "item:", NULL, 10, 1, &page), 0);
    CHECK_INT(page.count, 10);
    CHECK_STR(page.items[0].key, "item:000");
    CHECK_STR(page.items[0].value, "v0");
    CHECK_INT(page.items[0].len, 2);
    CHECK(page.items[0].version > 0);
    CHECK_STR(page.items[9].key, "item:009");
    CHECK_STR(page.next, "item:009");
    const char *cursor = page.next;

    /* Writes between pages: behind the cursor unseen, ahead of it seen. */
    CHECK_INT(kumo_kv_put(&ctx, "list", "item:0005", "late", 4), 0);
    CHECK_INT(kumo_kv_put(&ctx, "list", "item:0105", "late", 4), 0);
    CHECK_INT(kumo_kv_delete(&ctx, "list", "item:011"), 0);

    CHECK_INT(kumo_kv_list(&ctx, "list", "item:", cursor, 10, 0, &page), 0);
    CHECK_INT(page.count, 10);
    CHECK_STR(page.items[0].key, "item:010");
    CHECK_STR(page.items[1].key, "item:0105");
    CHECK_STR(page.items[2].key, "item:012");
    CHECK(page.items[0].value == NULL && page.items[0].len == 0); /* values not asked */
    CHECK_STR(page.next, "item:019");
    CHECK_INT(kumo_kv_list(&ctx, "list", "item:", page.next, 10, 0, &page), 0);
    CHECK_INT(page.count, 5);
    CHECK_STR(page.items[4].key, "item:024");
    CHECK(page.next == NULL);

    /* Exactly a page's worth left: the last page still says "no more". */
    CHECK_INT(kumo_kv_list(&ctx, "list", "item:", "item:019", 5, 0, &page), 0);
    CHECK_INT(page.count, 5);
    CHECK(page.next == NULL);

    /* Cursors outside the prefix's range. */
    CHECK_INT(kumo_kv_list(&ctx, "list", "item:", "a", 3, 0, &page), 0);
    CHECK_STR(page.items[0].key, "item:000");
    CHECK_INT(kumo_kv_list(&ctx, "list", "item:", "zzz", 3, 0, &page), 0);
    CHECK_INT(page.count, 0);
    CHECK(page.next == NULL);
    CHECK_INT(kumo_kv_list(&ctx, "list", "nothing", NULL, 3, 0, &page), 0);
    CHECK_INT(page.count, 0);

    /* No prefix: everything in byte order, paged by 7. */
    const char *keys[64];
    size_t n = list_all("list", NULL, NULL, 7, keys, 64);
    CHECK_INT(n, 29); /* 25 + 0005 + 0105 - 011 + itel, item, item; */
    int sorted = 1;
    for (size_t i = 1; i < n && n != (size_t)-1; i++)
        if (strcmp(keys[i - 1], keys[i]) >= 0)
            sorted = 0;
    CHECK(sorted);
    CHECK_STR(keys[0], "itel");
    CHECK_STR(keys[1], "item");
    CHECK_STR(keys[n - 1], "item;");
    CHECK_INT(list_all("list", "", NULL, 1000, keys, 64), 29);
}

static void test_prefix_edges(void)
{
    const char *all[] = {"a",    "a\x7f",    "a\xff",        "a\xff\x01", "a\xff\xff", "a\xff\xffz", "b",
                         "\xff", "\xff\xff", "\xff\xff\xff", "a%b",       "a_b",       "axb",        "A"};
    size_t nall = sizeof(all) / sizeof(all[0]);
    for (size_t i = 0; i < nall; i++)
        CHECK_INT(kumo_kv_put(&ctx, "edge", all[i], "1", 1), 0);
    const char *keys[32];

    size_t n = list_all("edge", "a\xff", NULL, 2, keys, 32);
    CHECK_INT(n, 4);
    CHECK_STR(keys[0], "a\xff");
    CHECK_STR(keys[1], "a\xff\x01");
    CHECK_STR(keys[3], "a\xff\xffz");
    n = list_all("edge", "a\xff\xff", NULL, 10, keys, 32);
    CHECK_INT(n, 2);
    n = list_all("edge", "\xff", NULL, 10, keys, 32); /* no successor: open range */
    CHECK_INT(n, 3);
    CHECK_STR(keys[0], "\xff");
    CHECK_STR(keys[2], "\xff\xff\xff");
    n = list_all("edge", "\xff\xff\xff", NULL, 10, keys, 32);
    CHECK_INT(n, 1);
    /* LIKE wildcards are plain bytes here. */
    n = list_all("edge", "a%", NULL, 10, keys, 32);
    CHECK_INT(n, 1);
    CHECK_STR(keys[0], "a%b");
    n = list_all("edge", "a_", NULL, 10, keys, 32);
    CHECK_INT(n, 1);
    CHECK_STR(keys[0], "a_b");
    /* Byte order, not collation: "A" < "a" < "b" < 0xff. */
    n = list_all("edge", "", NULL, 3, keys, 32);
    CHECK_INT(n, nall);
    CHECK_STR(keys[0], "A");
    CHECK_STR(keys[1], "a");
    CHECK_STR(keys[nall - 1], "\xff\xff\xff");
    /* "a" is a prefix of 9 keys; the cursor "a" is exclusive. */
    n = list_all("edge", "a", "a", 100, keys, 32);
    CHECK_INT(n, 8);
    CHECK_STR(keys[0], "a%b");
}

static void test_two_handles(void)
{
    kumo__kv *h1 = NULL, *h2 = NULL, *other = NULL;
    char err[256] = "";
    CHECK_INT(open_kv(url, "shared", &h1, err, sizeof(err)), 0);
    CHECK_INT(open_kv(url, "shared", &h2, err, sizeof(err)), 0);
    CHECK_INT(open_kv(url, "other", &other, err, sizeof(err)), 0);
    if (h1 == NULL || h2 == NULL || other == NULL)
        goto out;
    kumo_kv_item it;
    uint64_t v = 0;
    CHECK_INT(h1->driver->put(h1, "k", 1, "from1", 5, UINT64_MAX, 0, &v), 0);
    CHECK_INT(h2->driver->get(h2, &ctx.arena, "k", 1, &it), 0);
    CHECK_STR(it.value, "from1");
    CHECK_INT(it.version, v);
    CHECK_INT(h2->driver->put(h2, "k", 1, "from2", 5, v, 0, &v), 0);
    CHECK_INT(h1->driver->get(h1, &ctx.arena, "k", 1, &it), 0);
    CHECK_STR(it.value, "from2");
    CHECK_INT(h1->driver->put(h1, "k", 1, "late", 4, v - 1, 0, NULL), KUMO_ECONFLICT);
    /* Stores in one file are apart. */
    CHECK_INT(other->driver->get(other, &ctx.arena, "k", 1, &it), KUMO_ENOTFOUND);
    CHECK_INT(h1->driver->del(h1, "k", 1), 0);
    CHECK_INT(h2->driver->get(h2, &ctx.arena, "k", 1, &it), KUMO_ENOTFOUND);
out:
    kumo__store_close((kumo__store *)h1);
    kumo__store_close((kumo__store *)h2);
    kumo__store_close((kumo__store *)other);

    /* Open errors carry a message. */
    kumo__kv *bad = NULL;
    CHECK_INT(open_kv("sqlite:", "x", &bad, err, sizeof(err)), KUMO_EINVAL);
    CHECK(bad == NULL && strstr(err, "no path") != NULL);
    CHECK_INT(open_kv("redis-ish", "x", &bad, err, sizeof(err)), KUMO_EINVAL);
    CHECK(strstr(err, "no scheme") != NULL);
    char path[300];
    snprintf(path, sizeof(path), "sqlite:%s/notadb", dir);
    FILE *f = fopen(path + 7, "w");
    fputs("this is not an sqlite database, not at all, not even close......................\n", f);
    fclose(f);
    CHECK(open_kv(path, "x", &bad, err, sizeof(err)) != 0);
    CHECK(bad == NULL && strstr(err, "notadb") != NULL);
}

/* A message names the real failure: never SQLite's "not an error" (code 0),
 * which is what a message read after the error state was cleared says. */
static void check_real_failure(const char *what, const char *msg, const char *expect)
{
    int named = strstr(msg, expect) != NULL,
        clean = strstr(msg, "not an error") == NULL && strstr(msg, "SQLite code 0") == NULL && *msg != '\0';
    if (!named || !clean)
        fprintf(stderr, "%s: expected \"%s\" in: %s\n", what, expect, msg);
    CHECK(named);
    CHECK(clean);
}

/* Store files that are not databases: plain garbage, and garbage behind
 * SQLite's own 16-byte header (which passes the first check and fails
 * later, inside the transaction that makes the tables). */
static void test_corrupt_files(void)
{
    static const char header[16] = "SQLite format 3";
    char path[300], u[320], err[512];
    kumo__kv *bad = NULL;
    for (int with_header = 0; with_header < 2; with_header++) {
        snprintf(path, sizeof(path), "%s/garbage-%d.db", dir, with_header);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            CHECK(f != NULL);
            return;
        }
        if (with_header)
            fwrite(header, 1, sizeof(header), f);
        for (int i = 0; i < 8192; i++)
            fputc("garbage!"[i % 8], f);
        fclose(f);
        for (int create = 1; create >= 0; create--) {
            snprintf(u, sizeof(u), "sqlite:%s%s", path, create ? "" : "?create=false");
            err[0] = '\0';
            int rc = open_kv(u, "x", &bad, err, sizeof(err));
            CHECK(rc != 0);
            CHECK(bad == NULL);
            if (bad != NULL)
                kumo__store_close((kumo__store *)bad);
            /* "file is not a database" (SQLITE_NOTADB) or, for a header
             * with nothing valid behind it, "database disk image is
             * malformed" (SQLITE_CORRUPT): either names the fault */
            const char *expect = strstr(err, "malformed") ? "malformed" : "not a database";
            check_real_failure(with_header ? "garbage behind the header" : "garbage", err, expect);
            CHECK(strstr(err, path) != NULL);
        }
    }
}

/* A file whose first page (the schema) is sound and whose table pages are
 * garbage: the open with create=false writes nothing and succeeds, and the
 * first read fails; kumo_store_error's message must name the corruption. */
static void test_corrupt_pages(void)
{
    char path[300], u[340], err[512];
    snprintf(path, sizeof(path), "%s/pages.db", dir);
    snprintf(u, sizeof(u), "sqlite:%s", path);
    kumo__kv *kv = NULL;
    CHECK_INT(open_kv(u, "p", &kv, err, sizeof(err)), 0);
    if (kv == NULL)
        return;
    char value[1024];
    memset(value, 'v', sizeof(value));
    for (int i = 0; i < 64; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "k%02d", i);
        CHECK_INT(kv->driver->put(kv, key, (size_t)n, value, sizeof(value), UINT64_MAX, 0, NULL), 0);
    }
    kumo__store_close((kumo__store *)kv); /* the last handle: the WAL goes into the file */
    kv = NULL;
    FILE *f = fopen(path, "r+");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fseek(f, 4096, SEEK_SET); /* past page 1 */
    for (int i = 0; i < 64 * 1024; i++)
        fputc(0xa5, f);
    fclose(f);
    snprintf(u, sizeof(u), "sqlite:%s?create=false", path);
    CHECK_INT(open_kv(u, "p", &kv, err, sizeof(err)), 0);
    if (kv == NULL)
        return;
    kumo_kv_item it;
    int rc = kv->driver->get(kv, &ctx.arena, "k01", 3, &it);
    CHECK(rc != 0 && rc != KUMO_ENOTFOUND);
    check_real_failure("a read of a corrupt page", kv->store.error, "malformed");
    kumo__store_close((kumo__store *)kv);
}

/* A store on a read-only mount, opened twice: while another handle holds
 * the file open (its -wal and -shm exist, as when workers serve), the open
 * gets as far as making the tables and must say "readonly", not what SQLite
 * says once the transaction is rolled back ("not an error"); with no other
 * handle, it cannot even make the -wal file and must say why. As root, file
 * modes stop nothing, so a child makes a read-only bind mount of the
 * directory in a mount namespace of its own; where it cannot, the check is
 * skipped, loudly. Both drivers share the open. */
static int readonly_open(const char *u, const char *path, const char *expect, char *why, size_t whylen)
{
    char err[512] = "";
    kumo__kv *kv = NULL;
    int rc = open_kv(u, "ro", &kv, err, sizeof(err));
    kumo__store_close((kumo__store *)kv);
    if (rc != 0 && strstr(err, expect) != NULL && strstr(err, "not an error") == NULL &&
        strstr(err, "SQLite code 0)") == NULL && strstr(err, path) != NULL)
        return 0;
    snprintf(why, whylen, "expected \"%s\" and the path in: %s", expect, err);
    return 1;
}

static int readonly_child(const char *sub, char *why, size_t whylen)
{
    char path[320], u[340], err[512];
    snprintf(path, sizeof(path), "%s/ro.db", sub);
    snprintf(u, sizeof(u), "sqlite:%s", path);
    kumo__kv *held = NULL;
    /* A file with its tables, made while the directory is writable. */
    if (open_kv(u, "ro", &held, err, sizeof(err)) != 0) {
        snprintf(why, whylen, "cannot make %s: %s", path, err);
        return 1;
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount(sub, sub, NULL, MS_BIND, NULL) != 0 ||
        mount(NULL, sub, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
        snprintf(why, whylen, "no read-only bind mount here (%s), so the read-only store is not tried",
                 strerror(errno));
        return 77;
    }
    if (readonly_open(u, path, "readonly", why, whylen) != 0)
        return 1;
    kumo__store_close((kumo__store *)held); /* the last handle: -wal and -shm go */
    return readonly_open(u, path, "read-only", why, whylen);
}

static void test_readonly_mount(void)
{
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/ro", dir);
    mkdir(sub, 0755);
    int out[2];
    if (pipe(out) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(out[0]);
        char why[512] = "";
        int rc = readonly_child(sub, why, sizeof(why));
        if (write(out[1], why, strlen(why)) < 0)
            rc = 1;
        _exit(rc);
    }
    close(out[1]);
    static char why[512];
    ssize_t n = read(out[0], why, sizeof(why) - 1);
    why[n > 0 ? n : 0] = '\0';
    close(out[0]);
    int status = -1;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        check_skip(why);
        return;
    }
    if (*why)
        fprintf(stderr, "a store on a read-only mount: %s\n", why);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Two processes increment one counter with CAS: no update is lost. */
static int cas_increments(int n)
{
    int done = 0;
    while (done < n) {
        kumo_kv_item it;
        int rc = kumo_kv_get(&ctx, "my-todos", "counter", &it);
        if (rc != 0)
            return 1;
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%d", atoi(it.value) + 1);
        rc = kumo_kv_cas(&ctx, "my-todos", "counter", buf, (size_t)len, it.version, NULL);
        if (rc == 0)
            done++;
        else if (rc != KUMO_ECONFLICT)
            return 1;
        kumo__arena_reset(&ctx.arena);
    }
    return 0;
}

static void test_processes(void)
{
    CHECK_INT(kumo_kv_put(&ctx, "my-todos", "counter", "0", 1), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(cas_increments(50)); /* the child opens its own handle */
    CHECK_INT(cas_increments(50), 0);
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kumo_kv_item it;
    CHECK_INT(kumo_kv_get(&ctx, "my-todos", "counter", &it), 0);
    CHECK_STR(it.value, "100");
}

/* Many workers opening a file nobody has created yet, at the same moment
 * (a burst of cold starts): every first call must succeed. Rounds repeat
 * it on fresh files, each started when all the children are ready. */
static void test_first_open_race(void)
{
    enum { CHILDREN = 16, ROUNDS = 6 };
    int failed = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char fresh[300];
        snprintf(fresh, sizeof(fresh), "sqlite:%s/race-%d.db", dir, round);
        if (round % 2) { /* odd rounds: a file that exists, closed by its last user (no WAL left) */
            setenv("KUMO_STORE_RACE", fresh, 1);
            CHECK_INT(kumo_kv_put(&ctx, "race", "seed", "v", 1), 0);
            kumo__stores_close_all();
        }
        int go[2];
        if (pipe(go) != 0)
            return;
        pid_t pids[CHILDREN];
        for (int i = 0; i < CHILDREN; i++) {
            if ((pids[i] = fork()) == 0) {
                close(go[1]);
                char b;
                if (read(go[0], &b, 1) != 0) /* EOF: go */
                    _exit(3);
                setenv("KUMO_STORE_RACE", fresh, 1);
                kumo_ctx c;
                memset(&c, 0, sizeof(c));
                kumo__arena_init(&c.arena);
                char key[16];
                snprintf(key, sizeof(key), "k%d", i);
                int rc = kumo_kv_put(&c, "race", key, "v", 1);
                if (rc != 0)
                    fprintf(stderr, "child %d: %s (%s)\n", i, kumo_strerror(rc), kumo_store_error(&c));
                _exit(rc == 0 ? 0 : 1);
            }
        }
        close(go[0]);
        close(go[1]); /* every child wakes at once */
        for (int i = 0; i < CHILDREN; i++) {
            int status = -1;
            waitpid(pids[i], &status, 0);
            failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    CHECK_INT(failed, 0);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    /* A parent directory that does not exist yet: the driver makes it. */
    snprintf(url, sizeof(url), "sqlite:%s/sub/dir/kv.db", dir);
    setenv("KUMO_STORE_MY_TODOS", url, 1);
    setenv("KUMO_STORE_LIST", url, 1);
    setenv("KUMO_STORE_EDGE", url, 1);
    unsetenv("KUMO_STORE_NOSUCHSTORE");
    kumo__arena_init(&ctx.arena);

    test_args();
    test_crud();
    test_list();
    test_prefix_edges();
    test_two_handles();
    test_processes();
    test_first_open_race();
    test_corrupt_files();
    test_corrupt_pages();
    test_readonly_mount();

    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    CHECK(access(dir, F_OK) != 0);
    return check_report();
}
