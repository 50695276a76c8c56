/*
 * test_blob_file.c: the blob API (src/sdk/stores/blob.c) over the file
 * driver (stores/file_blob.c), on a mkdtemp directory: whole objects (binary,
 * content types, etags), the key rules (absolute, "..", ".", empty segments,
 * an object that would also be a folder), objects as plain files on disk,
 * delete removing emptied folders, listing by prefix in byte order with a
 * cursor and a write between pages, streamed writers (invisible until
 * commit, nothing left by abort), readers in chunks, the end of an
 * invocation releasing streams left open, kumo_store_error, and open
 * failures.
 */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "sdk/sdk.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-blob-XXXXXX";
static char url[300];
static kumo_ctx ctx;

/* kumo__store_open for a blob store, its message into err. */
static int open_blob(const char *url, const char *name, kumo__blob **out, char *err, size_t errlen)
{
    kumo__store *s = NULL;
    kumo__error e = {0};
    int rc = kumo__store_open(&kumo__blob_kind, url, name, &s, &e);
    snprintf(err, errlen, "%s", e.msg);
    *out = (kumo__blob *)s; /* a kumo__blob starts with its kumo__store */
    return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Entries in DIR/.tmp: no temp file may outlive a put or a stream. */
static int tmp_entries(void)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/.tmp", dir);
    DIR *d = opendir(path);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int exists(const char *rel)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    return stat(path, &st) == 0;
}

static void test_args(void)
{
    const void *data;
    size_t len;
    kumo_blob_info info;
    kumo_blob_page page;
    char key[KUMO_BLOB_KEY_MAX + 2];
    memset(key, 'k', sizeof(key));
    key[KUMO_BLOB_KEY_MAX + 1] = '\0';

    CHECK_INT(kumo_blob_put(NULL, "files", "a", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, NULL, "a", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "/etc/passwd", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "..", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a/../../b", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a/..", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a/./b", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a//b", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a/", "x", 1, NULL), KUMO_EINVAL);
    CHECK(strlen(kumo_store_error(&ctx)) > 0);
    CHECK_INT(kumo_blob_put(&ctx, "files", key, "x", 1, NULL), KUMO_ETOOBIG);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a", NULL, 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a", "x", 1, "text/plain\r\nX-Evil: 1"), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "a", "x", 1, ""), KUMO_EINVAL);
    CHECK_INT(kumo_blob_get(&ctx, "files", "a", NULL, &len, &info), KUMO_EINVAL);
    CHECK_INT(kumo_blob_get(&ctx, "files", "a", &data, NULL, &info), KUMO_EINVAL);
    CHECK_INT(kumo_blob_head(&ctx, "files", "a", NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_list(&ctx, "files", "", NULL, 0, &page), KUMO_EINVAL);
    CHECK_INT(kumo_blob_list(&ctx, "files", "", NULL, 1001, &page), KUMO_EINVAL);
    CHECK_INT(kumo_blob_list(&ctx, "files", "", NULL, 10, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_get(&ctx, "nosuchblobs", "a", &data, &len, &info), KUMO_EINVAL);
    CHECK(strstr(kumo_store_error(&ctx), "KUMO_STORE_NOSUCHBLOBS") != NULL);
    /* Nothing was written by any of those. */
    CHECK(!exists("files/a"));
    CHECK(!exists("etc"));
}

static void test_whole(void)
{
    const void *data;
    size_t len;
    kumo_blob_info info, info2;
    static const char bin[] = "PNG\0\x01\x02\xff\0end";

    CHECK_INT(kumo_blob_get(&ctx, "files", "pic.png", &data, &len, &info), KUMO_ENOTFOUND);
    CHECK(data == NULL && len == 0);
    CHECK_INT(kumo_blob_head(&ctx, "files", "pic.png", &info), KUMO_ENOTFOUND);
    CHECK_INT(kumo_blob_put(&ctx, "files", "pic.png", bin, sizeof(bin), "image/png"), 0);
    CHECK_INT(kumo_blob_get(&ctx, "files", "pic.png", &data, &len, &info), 0);
    CHECK_INT(len, sizeof(bin));
    CHECK(memcmp(data, bin, sizeof(bin)) == 0);
    CHECK_STR(info.key, "pic.png");
    CHECK_STR(info.content_type, "image/png");
    CHECK_INT(info.size, sizeof(bin));
    CHECK(info.etag && strlen(info.etag) > 2);
    CHECK(info.modified_ms > 1600000000000LL);
    /* The object is the plain file DIR/files/pic.png. */
    CHECK(exists("files/pic.png"));

    CHECK_INT(kumo_blob_head(&ctx, "files", "pic.png", &info2), 0);
    CHECK_STR(info2.etag, info.etag);
    CHECK_INT(info2.size, sizeof(bin));

    /* Another put: a new etag; no content type: octet-stream; empty. */
    CHECK_INT(kumo_blob_put(&ctx, "files", "pic.png", "", 0, NULL), 0);
    CHECK_INT(kumo_blob_get(&ctx, "files", "pic.png", &data, &len, &info2), 0);
    CHECK_INT(len, 0);
    CHECK_STR(info2.content_type, "application/octet-stream");
    CHECK(strcmp(info2.etag, info.etag) != 0);

    /* Folders: nested keys, and an object that would also be a folder. */
    CHECK_INT(kumo_blob_put(&ctx, "files", "docs/2024/report.txt", "r", 1, "text/plain"), 0);
    CHECK(exists("files/docs/2024/report.txt"));
    CHECK_INT(kumo_blob_put(&ctx, "files", "docs/2024", "x", 1, NULL), KUMO_EINVAL);
    CHECK(strstr(kumo_store_error(&ctx), "folder") != NULL);
    CHECK_INT(kumo_blob_put(&ctx, "files", "pic.png/inner", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_get(&ctx, "files", "docs", &data, &len, &info), KUMO_ENOTFOUND);
    CHECK_INT(kumo_blob_delete(&ctx, "files", "docs"), KUMO_ENOTFOUND);
    CHECK_INT(kumo_blob_delete(&ctx, "files", "docs/2024/report.txt"), 0);
    CHECK(!exists("files/docs")); /* emptied folders go */
    CHECK(exists("files"));
    CHECK_INT(kumo_blob_delete(&ctx, "files", "docs/2024/report.txt"), KUMO_ENOTFOUND);
    /* Now "docs/2024" may be an object. */
    CHECK_INT(kumo_blob_put(&ctx, "files", "docs/2024", "x", 1, NULL), 0);
    CHECK_INT(kumo_blob_delete(&ctx, "files", "docs/2024"), 0);
    CHECK_INT(kumo_blob_delete(&ctx, "files", "pic.png"), 0);

    /* Unicode keys. */
    CHECK_INT(kumo_blob_put(&ctx, "files", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", "u", 1, NULL), 0);
    CHECK_INT(kumo_blob_get(&ctx, "files", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", &data, &len, NULL), 0);
    CHECK_INT(kumo_blob_delete(&ctx, "files", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt"), 0);
    CHECK_INT(tmp_entries(), 0);
}

static void test_list(void)
{
    kumo_blob_page page;
    const char *keys[] = {"b", "a/2", "a/10", "a/1", "a-z", "ab", "a/1/x", "c/d/e"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(keys[i], "a/1/x") != 0)
            CHECK_INT(kumo_blob_put(&ctx, "listing", keys[i], keys[i], strlen(keys[i]), "text/plain"), 0);
    /* "a/1" is an object, so "a/1/x" cannot be. */
    CHECK_INT(kumo_blob_put(&ctx, "listing", "a/1/x", "x", 1, NULL), KUMO_EINVAL);

    CHECK_INT(kumo_blob_list(&ctx, "listing", NULL, NULL, 100, &page), 0);
    const char *all[] = {"a-z", "a/1", "a/10", "a/2", "ab", "b", "c/d/e"}; /* byte order: '-' < '/' < 'b' */
    CHECK_INT(page.count, 7);
    for (size_t i = 0; i < page.count && i < 7; i++)
        CHECK_STR(page.items[i].key, all[i]);
    CHECK(page.next == NULL);
    CHECK_STR(page.items[0].content_type, "text/plain");
    CHECK_INT(page.items[1].size, 3);

    CHECK_INT(kumo_blob_list(&ctx, "listing", "a/", NULL, 100, &page), 0);
    CHECK_INT(page.count, 3);
    CHECK_STR(page.items[0].key, "a/1");
    CHECK_INT(kumo_blob_list(&ctx, "listing", "a/1", NULL, 100, &page), 0);
    CHECK_INT(page.count, 2); /* a/1, a/10 */
    CHECK_INT(kumo_blob_list(&ctx, "listing", "c/d", NULL, 100, &page), 0);
    CHECK_INT(page.count, 1);
    CHECK_INT(kumo_blob_list(&ctx, "listing", "zz", NULL, 100, &page), 0);
    CHECK_INT(page.count, 0);
    CHECK(page.next == NULL);
    CHECK_INT(kumo_blob_list(&ctx, "empty-store", "", NULL, 100, &page), 0);
    CHECK_INT(page.count, 0);

    /* Pages of 2, with a write between pages: the new key after the
     * cursor shows up, one before it does not disturb. */
    CHECK_INT(kumo_blob_list(&ctx, "listing", "", NULL, 2, &page), 0);
    CHECK_INT(page.count, 2);
    CHECK_STR(page.next, "a/1");
    const char *cursor = page.next;
    CHECK_INT(kumo_blob_put(&ctx, "listing", "a/0", "n", 1, NULL), 0); /* before the cursor */
    CHECK_INT(kumo_blob_put(&ctx, "listing", "aa", "n", 1, NULL), 0);  /* after */
    size_t seen = 2;
    int pages = 1, saw_aa = 0;
    while (cursor && pages < 20) {
        CHECK_INT(kumo_blob_list(&ctx, "listing", "", cursor, 2, &page), 0);
        for (size_t i = 0; i < page.count; i++) {
            CHECK(strcmp(page.items[i].key, cursor) > 0);
            saw_aa |= strcmp(page.items[i].key, "aa") == 0;
        }
        seen += page.count;
        cursor = page.next;
        pages++;
    }
    CHECK_INT(seen, 8); /* 7 + "aa" */
    CHECK(saw_aa);
}

static void test_streams(void)
{
    kumo_blob_writer *w = NULL;
    kumo_blob_reader *r = NULL;
    kumo_blob_info info;
    const void *data;
    size_t len, got;
    char chunk[1000], buf[777];

    CHECK_INT(kumo_blob_writer_open(&ctx, "files", "big.bin", "application/x-test", &w), 0);
    CHECK(w != NULL);
    CHECK(ctx.defers != NULL);
    for (int i = 0; i < 100; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        CHECK_INT(kumo_blob_write(w, chunk, sizeof(chunk)), 0);
    }
    /* Invisible until commit. */
    CHECK_INT(kumo_blob_head(&ctx, "files", "big.bin", &info), KUMO_ENOTFOUND);
    CHECK_INT(tmp_entries(), 1);
    CHECK_INT(kumo_blob_writer_commit(w), 0);
    CHECK(ctx.defers == NULL);
    CHECK_INT(tmp_entries(), 0);
    CHECK_INT(kumo_blob_head(&ctx, "files", "big.bin", &info), 0);
    CHECK_INT(info.size, 100000);
    CHECK_STR(info.content_type, "application/x-test");

    CHECK_INT(kumo_blob_reader_open(&ctx, "files", "big.bin", &r, &info), 0);
    CHECK_INT(info.size, 100000);
    size_t total = 0;
    int ok = 1;
    for (;;) {
        CHECK_INT(kumo_blob_read(r, buf, sizeof(buf), &got), 0);
        if (got == 0)
            break;
        for (size_t i = 0; i < got; i++)
            ok &= buf[i] == 'a' + (int)((total + i) / 1000) % 26;
        total += got;
    }
    CHECK(ok);
    CHECK_INT(total, 100000);
    kumo_blob_reader_close(r);
    CHECK(ctx.defers == NULL);
    CHECK_INT(kumo_blob_reader_open(&ctx, "files", "nope", &r, &info), KUMO_ENOTFOUND);
    CHECK(r == NULL);

    /* Abort: nothing visible, no temp file. */
    CHECK_INT(kumo_blob_writer_open(&ctx, "files", "aborted", NULL, &w), 0);
    CHECK_INT(kumo_blob_write(w, "partial", 7), 0);
    kumo_blob_writer_abort(w);
    CHECK_INT(kumo_blob_get(&ctx, "files", "aborted", &data, &len, NULL), KUMO_ENOTFOUND);
    CHECK_INT(tmp_entries(), 0);

    /* A writer and a reader left open: the end of the invocation aborts
     * the one and closes the other. */
    kumo_request req;
    kumo_response res;
    kumo__invocation_init(&ctx, &req, &res);
    CHECK_INT(kumo_blob_writer_open(&ctx, "files", "forgotten", NULL, &w), 0);
    CHECK_INT(kumo_blob_write(w, "x", 1), 0);
    CHECK_INT(kumo_blob_reader_open(&ctx, "files", "big.bin", &r, NULL), 0);
    CHECK_INT(kumo_blob_get(&ctx, "files", "missing", &data, &len, NULL), KUMO_ENOTFOUND);
    CHECK(kumo_store_error(&ctx)[0] != '\0');
    kumo__invocation_clear(&ctx, &req, &res);
    CHECK(ctx.defers == NULL);
    CHECK_STR(kumo_store_error(&ctx), "");
    CHECK_INT(tmp_entries(), 0);
    CHECK_INT(kumo_blob_head(&ctx, "files", "forgotten", &info), KUMO_ENOTFOUND);
}

static void test_open(void)
{
    kumo__blob *b = NULL;
    char err[512], path[400], u[500];
    CHECK_INT(open_blob("file:", "x", &b, err, sizeof(err)), KUMO_EINVAL);
    CHECK_INT(open_blob("nosuch:/x", "x", &b, err, sizeof(err)), KUMO_EINVAL);
    CHECK(strstr(err, "nosuch") != NULL);
    snprintf(path, sizeof(path), "%s/plainfile", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(u, sizeof(u), "file:%s", path);
    CHECK_INT(open_blob(u, "x", &b, err, sizeof(err)), KUMO_EUNAVAILABLE);
    CHECK(b == NULL);
    snprintf(u, sizeof(u), "file:%s/not-there?create=false", dir);
    CHECK_INT(open_blob(u, "x", &b, err, sizeof(err)), KUMO_EUNAVAILABLE);
    CHECK(strstr(err, "create=false") != NULL);
    snprintf(u, sizeof(u), "file://%s/made/on/open", dir);
    CHECK_INT(open_blob(u, "x", &b, err, sizeof(err)), 0);
    CHECK(exists("made/on/open/.tmp"));
    kumo__store_close((kumo__store *)b);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof(url), "file:%s", dir);
    setenv("KUMO_STORE_FILES", url, 1);
    setenv("KUMO_STORE_LISTING", url, 1);
    setenv("KUMO_STORE_EMPTY_STORE", url, 1);
    kumo__arena_init(&ctx.arena);

    test_args();
    test_whole();
    test_list();
    test_streams();
    test_open();

    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_report();
}
