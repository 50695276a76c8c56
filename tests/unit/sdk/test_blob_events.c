/*
 * test_blob_events.c: the blob events the file: driver records
 * (src/sdk/stores/file_blob.c, events= in the store URL): a put, a
 * streamed commit and a delete each record one message per matching event
 * in the outbox DIR/.kumo-events.db (queue STORE.EVENT, read here with the
 * sqlite queue driver as the gateway's consumer reads it), with the event's
 * data as JSON; on/prefix/suffix filters (a key that matches nothing
 * records nothing); an aborted writer, a failed put (a key that is a
 * folder) and a delete of a missing key record nothing; a write whose
 * event cannot be recorded fails and leaves the object as it was; two
 * processes writing at once record every write's event once; and
 * malformed events= values are refused at open with a message.
 */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "sdk/sdk.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/kumo-test-blobev-XXXXXX";
static char outbox_url[400];
static kumo_ctx ctx;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Every message of `queue` in the outbox, acked, their bodies joined by
 * '\n' into out; returns how many. */
static int drain(const char *queue, char *out, size_t size)
{
    kumo__store *s = NULL;
    kumo__error e = {0};
    kumo__arena a;
    kumo_queue_message m[100];
    size_t n = 0, used = 0;
    int total = 0;
    out[0] = '\0';
    if (kumo__store_open(&kumo__queue_kind, outbox_url, queue, &s, &e) != 0) {
        fprintf(stderr, "cannot open the outbox: %s\n", e.msg);
        return -1;
    }
    kumo__queue *q = (kumo__queue *)s;
    kumo__arena_init(&a);
    while (q->driver->receive(q, &a, 100, 30000, m, &n) == 0 && n > 0) {
        for (size_t i = 0; i < n; i++) {
            used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%.*s", total ? "\n" : "",
                                     (int)m[i].len, (const char *)m[i].body);
            q->driver->ack(q, m[i].receipt);
            total++;
        }
        kumo__arena_reset(&a);
    }
    kumo__arena_free(&a);
    kumo__store_close(s);
    return total;
}

static const char *field(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

static void test_put_and_delete(void)
{
    char got[4096];
    CHECK_INT(kumo_blob_put(&ctx, "photos", "img/a.png", "12345", 5, "image/png"), 0);
    /* thumbs (created, img/ .png) and audit (everything) */
    CHECK_INT(drain("photos.thumbs", got, sizeof(got)), 1);
    json_t *j = json_loads(got, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(field(j, "store"), "photos");
    CHECK_STR(field(j, "key"), "img/a.png");
    CHECK_STR(field(j, "event"), "created");
    CHECK_STR(field(j, "content_type"), "image/png");
    CHECK_INT(json_integer_value(json_object_get(j, "size")), 5);
    kumo_blob_info info;
    CHECK_INT(kumo_blob_head(&ctx, "photos", "img/a.png", &info), 0);
    CHECK_STR(field(j, "etag"), info.etag); /* the etag a head gives */
    CHECK(field(j, "time") != NULL && strlen(field(j, "time")) == 24 && field(j, "time")[23] == 'Z');
    json_decref(j);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 1);
    CHECK(strstr(got, "\"event\":\"created\"") != NULL);

    /* filters: a key outside thumbs' prefix or suffix records only audit */
    CHECK_INT(kumo_blob_put(&ctx, "photos", "img/a.jpg", "x", 1, "image/jpeg"), 0);
    CHECK_INT(kumo_blob_put(&ctx, "photos", "doc/a.png", "x", 1, "image/png"), 0);
    CHECK_INT(drain("photos.thumbs", got, sizeof(got)), 0);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 2);
    /* a percent-encoded prefix: "a b;c:" */
    CHECK_INT(kumo_blob_put(&ctx, "photos", "a b;c:1", "x", 1, "text/plain"), 0);
    CHECK_INT(kumo_blob_put(&ctx, "photos", "a b;d:1", "x", 1, "text/plain"), 0);
    CHECK_INT(drain("photos.odd", got, sizeof(got)), 1);
    CHECK(strstr(got, "\"key\":\"a b;c:1\"") != NULL);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 2);

    /* delete: thumbs does not watch deletes; gone records deleted without size */
    CHECK_INT(kumo_blob_delete(&ctx, "photos", "img/a.png"), 0);
    CHECK_INT(drain("photos.thumbs", got, sizeof(got)), 0);
    CHECK_INT(drain("photos.gone", got, sizeof(got)), 1);
    j = json_loads(got, 0, NULL);
    CHECK_STR(field(j, "event"), "deleted");
    CHECK_STR(field(j, "key"), "img/a.png");
    CHECK(json_object_get(j, "size") == NULL && json_object_get(j, "etag") == NULL);
    json_decref(j);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 1);
    /* a delete of a missing key records nothing */
    CHECK_INT(kumo_blob_delete(&ctx, "photos", "img/a.png"), KUMO_ENOTFOUND);
    CHECK_INT(drain("photos.gone", got, sizeof(got)), 0);
    /* a watched key must be UTF-8 (the event's data is JSON); an unwatched one need not */
    CHECK_INT(kumo_blob_put(&ctx, "photos", "img/\xff.png", "x", 1, "image/png"), KUMO_EINVAL);
    CHECK(strstr(kumo_store_error(&ctx), "is not valid UTF-8, and blob events watch it") != NULL);
    CHECK_INT(kumo_blob_head(&ctx, "photos", "img/\xff.png", &info), KUMO_ENOTFOUND);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 0);
    CHECK_INT(kumo_blob_put(&ctx, "quiet", "img/\xff.png", "x", 1, "image/png"), 0);
    /* a put that cannot happen (the key is a folder of others) records nothing */
    CHECK_INT(kumo_blob_put(&ctx, "photos", "doc", "x", 1, "text/plain"), KUMO_EINVAL);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 0);
}

static void test_streams(void)
{
    char got[4096];
    kumo_blob_writer *w = NULL;
    CHECK_INT(kumo_blob_writer_open(&ctx, "photos", "img/big.png", "image/png", &w), 0);
    for (int i = 0; i < 10; i++)
        CHECK_INT(kumo_blob_write(w, "0123456789", 10), 0);
    CHECK_INT(drain("photos.thumbs", got, sizeof(got)), 0); /* nothing before the commit */
    CHECK_INT(kumo_blob_writer_commit(w), 0);
    CHECK_INT(drain("photos.thumbs", got, sizeof(got)), 1); /* once */
    CHECK(strstr(got, "\"size\":100") != NULL);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 1);
    CHECK_INT(kumo_blob_writer_open(&ctx, "photos", "img/gone.png", "image/png", &w), 0);
    CHECK_INT(kumo_blob_write(w, "x", 1), 0);
    kumo_blob_writer_abort(w);
    CHECK_INT(drain("photos.thumbs", got, sizeof(got)), 0);
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 0);
}

/* A write whose event cannot be recorded fails and changes nothing. */
static void test_unrecorded(void)
{
    char path[600], got[4096];
    kumo_blob_info info;
    CHECK_INT(kumo_blob_put(&ctx, "photos", "img/keep.png", "old", 3, "image/png"), 0);
    drain("photos.thumbs", got, sizeof(got));
    drain("photos.audit", got, sizeof(got));
    /* a trigger makes every insert into the outbox fail */
    kumo__store *s = NULL;
    kumo__error e = {0};
    CHECK_INT(kumo__store_open(&kumo__queue_kind, outbox_url, "x", &s, &e), 0);
    snprintf(path, sizeof(path), "%s/.kumo-events.db", dir);
    char cmd[800];
    snprintf(cmd, sizeof(cmd),
             "sqlite3 %s \"CREATE TRIGGER no_events BEFORE INSERT ON kumo_queue WHEN NEW.queue = 'photos.audit' "
             "BEGIN SELECT RAISE(FAIL, 'disk full, say'); END;\"",
             path);
    if (system(cmd) != 0) {
        check_skip("the sqlite3 command is not installed: the unrecorded-write case did not run");
        kumo__store_close(s);
        return;
    }
    CHECK_INT(kumo_blob_put(&ctx, "photos", "img/keep.png", "new!", 4, "image/png"), KUMO_EUNAVAILABLE);
    CHECK(strstr(kumo_store_error(&ctx), "cannot record the created event of blob 'img/keep.png'") != NULL);
    CHECK(strstr(kumo_store_error(&ctx), "disk full, say") != NULL);
    CHECK_INT(kumo_blob_head(&ctx, "photos", "img/keep.png", &info), 0);
    CHECK_INT(info.size, 3); /* the old object */
    /* thumbs was recorded before audit failed: one transaction, so not kept */
    CHECK_INT(drain("photos.thumbs", got, sizeof(got)), 0);
    CHECK_INT(kumo_blob_delete(&ctx, "photos", "img/keep.png"), KUMO_EUNAVAILABLE);
    CHECK(strstr(kumo_store_error(&ctx), "so the blob was not deleted") != NULL);
    CHECK_INT(kumo_blob_head(&ctx, "photos", "img/keep.png", &info), 0);
    /* a key no event watches is written as before */
    CHECK_INT(kumo_blob_put(&ctx, "quiet", "a", "x", 1, "text/plain"), 0);
    snprintf(cmd, sizeof(cmd), "sqlite3 %s \"DROP TRIGGER no_events;\"", path);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(kumo_blob_put(&ctx, "photos", "img/keep.png", "new!", 4, "image/png"), 0);
    kumo__store_close(s);
}

/* Two processes writing at once: every write's events, each once. */
static void test_two_writers(void)
{
    char got[65536];
    drain("photos.audit", got, sizeof(got));
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        if ((kids[k] = fork()) == 0) {
            kumo_ctx c = {0};
            kumo__arena_init(&c.arena);
            int bad = 0;
            for (int i = 0; i < 40; i++) {
                char key[64];
                snprintf(key, sizeof(key), "w%d/%d", k, i);
                bad += kumo_blob_put(&c, "photos", key, "x", 1, "text/plain") != 0;
            }
            _exit(bad);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status = -1;
        waitpid(kids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_INT(drain("photos.audit", got, sizeof(got)), 80);
    int seen = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 40; i++) {
            char want[80];
            snprintf(want, sizeof(want), "\"key\":\"w%d/%d\"", k, i);
            seen += strstr(got, want) != NULL;
        }
    CHECK_INT(seen, 80);
}

static void test_bad_urls(void)
{
    static const struct {
        const char *query, *says;
    } cases[] = {
        {"events=thumbs:created:img/", "does not have 4 fields"},
        {"events=thumbs:created:a:b:c", "does not have 4 fields"},
        {"events=Thumbs:created::", "no event name"},
        {"events=:created::", "no event name"},
        {"events=thumbs:made::", "ON other than created and deleted"},
        {"events=thumbs:::", "has no ON"},
        {"events=thumbs:created:%zz:", "malformed %-escape"},
        {"events=thumbs:created:%00:", "malformed %-escape"},
        {"evnts=x", "unknown URL parameter 'evnts'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char u[600];
        kumo__store *s = NULL;
        kumo__error e = {0};
        snprintf(u, sizeof(u), "file:%s?%s", dir, cases[i].query);
        CHECK_INT(kumo__store_open(&kumo__blob_kind, u, "photos", &s, &e), KUMO_EINVAL);
        CHECK(s == NULL);
        if (strstr(e.msg, cases[i].says) == NULL)
            fprintf(stderr, "case %zu: %s\n", i, e.msg);
        CHECK(strstr(e.msg, cases[i].says) != NULL);
    }
    char buf[64];
    CHECK_INT(kumo__file_blob_outbox_url("file:///a/b/?events=x:created::", buf, sizeof(buf)), 0);
    CHECK_STR(buf, "sqlite:/a/b/.kumo-events.db");
    CHECK_INT(kumo__file_blob_outbox_url("s3://bucket", buf, sizeof(buf)), KUMO_EINVAL);
    CHECK_INT(kumo__file_blob_outbox_url("file:/a", buf, 8), KUMO_ETOOBIG);
}

int main(void)
{
    char url[600];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(
        url, sizeof(url),
        "file:%s?events=thumbs:created:img/:.png;gone:deleted::;audit:created,deleted::;odd:created:a%%20b%%3Bc%%3A:",
        dir);
    setenv("KUMO_STORE_PHOTOS", url, 1);
    snprintf(url, sizeof(url), "file:%s", dir);
    setenv("KUMO_STORE_QUIET", url, 1);
    snprintf(outbox_url, sizeof(outbox_url), "sqlite:%s/.kumo-events.db", dir);
    kumo__arena_init(&ctx.arena);

    test_put_and_delete();
    test_streams();
    test_unrecorded();
    test_two_writers();
    test_bad_urls();

    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_report();
}
