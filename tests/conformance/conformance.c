/*
 * conformance.c: the store conformance suite. One program, written once
 * against the public API of kumo.h, run against every driver: whatever a
 * URL names, kv, blob and queue calls must mean the same thing.
 *
 *   conformance [--kv URL] [--blob URL] [--queue URL] [--restart-cmd CMD]
 *
 * Any subset of the three kinds. The URLs are handed to the SDK the way the
 * runtime does, through KUMO_STORE_<NAME>, with "{name}" replaced by the
 * store's name for backends whose URL names the table, bucket or queue
 * (`--queue 'sqs://{name}?endpoint=...'`). Queue names and keys carry a run
 * id, so a backend left over from an earlier run does not disturb this one.
 * The queue URL must not already set max_receives (the suite adds
 * max_receives=2 for its dead-letter test).
 *
 * Phases: kv, blob, queue, then the outage: with --restart-cmd, the suite
 * runs `CMD stop` (which returns once the backend is down), asserts that a
 * call of each kind fails with KUMO_EUNAVAILABLE or KUMO_ETIMEDOUT and a
 * message in kumo_store_error, runs `CMD start` (which returns once the
 * backend accepts connections) and asserts that the very next call of each
 * kind succeeds (drivers reconnect on the next call). Without it the outage
 * phase is skipped, and says so.
 *
 * Timing: waits are polls with a 10 s bound; nothing assumes a speed beyond
 * that (a 200 ms TTL is read right after its put, which a backend that
 * stalls for 200 ms would fail; that is the one tight spot, and it is the
 * point of the check).
 *
 * Prints "N passed, M failed" and exits non-zero on a failure.
 */
#include "check.h"
#include "base/store_var.h"
#include "sdk/sdk.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_LIMIT_MS 10000
#define CHUNK (64 << 10)
#define BIG_BLOB ((uint64_t)32 << 20)

static kumo_ctx ctx;
static char run[32];                 /* this run's id: keys and names carry it */
static char kv_store[64], blob_store[64], queue_name[64], flaky_name[64], flaky_dead[64], depth_name[64];
static const char *restart_cmd;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A key of this run. */
static const char *K(const char *suffix)
{
    return kumo_sprintf(&ctx, "conf-%s/%s", run, suffix);
}

/* Sets KUMO_STORE_<NAME> to url, with every "{name}" in it replaced by
 * the store's name (for backends whose URL names the table, bucket or
 * queue: sqs://{name}?endpoint=...). */
static void env_store(const char *name, const char *url)
{
    char var[128], full[2048];
    size_t n = 0;
    for (const char *p = url; *p && n < sizeof(full) - 1;) {
        if (strncmp(p, "{name}", 6) == 0) {
            n += (size_t)snprintf(full + n, sizeof(full) - n, "%s", name);
            p += 6;
        } else {
            full[n++] = *p++;
        }
    }
    full[n < sizeof(full) ? n : sizeof(full) - 1] = '\0';
    if (kumo__store_var(name, var, sizeof(var)) == 0)
        setenv(var, full, 1);
}

/* A 64-bit FNV-1a, running: hashes streams without keeping them. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* Deterministic bytes for chunk i of a big object (xorshift). */
static void fill_chunk(unsigned char *buf, size_t len, uint64_t i)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ (i + 1) * 0xbf58476d1ce4e5b9ULL;
    for (size_t j = 0; j < len; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[j] = (unsigned char)x;
    }
}

/* Two strings that are both there and differ (a driver's bug must fail a
 * check, not crash the suite). */
static int differ(const char *a, const char *b)
{
    return a && b && strcmp(a, b) != 0;
}

/* Keys in strictly increasing order (NULL never is). */
static int before(const char *a, const char *b)
{
    return a && b && strcmp(a, b) < 0;
}

static void reset(void)
{
    kumo__arena_reset(&ctx.arena);
}

/* ---- kv ------------------------------------------------------------------ */

static void kv_basics(void)
{
    kumo_kv_item it;
    uint64_t v1, v2;
    const char *a = K("a");

    CHECK_INT(kumo_kv_get(&ctx, kv_store, a, &it), KUMO_ENOTFOUND);
    CHECK(it.value == NULL && it.version == 0);
    CHECK_INT(kumo_kv_put(&ctx, kv_store, a, "one", 3), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, a, &it), 0);
    CHECK_STR(it.key, a);
    CHECK_INT(it.len, 3);
    CHECK_STR(it.value, "one");   /* NUL-terminated beyond len */
    CHECK(it.version > 0);
    v1 = it.version;
    CHECK_INT(kumo_kv_put(&ctx, kv_store, a, "two!", 4), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, a, &it), 0);
    CHECK_STR(it.value, "two!");
    CHECK(it.version > v1);
    v2 = it.version;

    /* Values: NUL bytes, empty, every byte value. */
    unsigned char bytes[512];
    for (int i = 0; i < 512; i++)
        bytes[i] = (unsigned char)i;
    CHECK_INT(kumo_kv_put(&ctx, kv_store, K("bin"), bytes, sizeof(bytes)), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, K("bin"), &it), 0);
    CHECK(it.len == sizeof(bytes) && memcmp(it.value, bytes, sizeof(bytes)) == 0);
    CHECK_INT(kumo_kv_put(&ctx, kv_store, K("empty"), "", 0), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, K("empty"), &it), 0);
    CHECK_INT(it.len, 0);
    CHECK(it.value != NULL);

    /* Keys: unicode, and every byte but NUL. */
    const char *uk = K("caf\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x8d\xa3");
    CHECK_INT(kumo_kv_put(&ctx, kv_store, uk, "u", 1), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, uk, &it), 0);
    CHECK_STR(it.key, uk);
    char raw[300];
    int n = snprintf(raw, sizeof(raw), "conf-%s/raw-", run);
    for (int i = 1; i < 256; i++)
        raw[n++] = (char)i;
    raw[n] = '\0';
    CHECK_INT(kumo_kv_put(&ctx, kv_store, raw, "r", 1), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, raw, &it), 0);
    CHECK(it.key && strcmp(it.key, raw) == 0);
    CHECK_STR(it.value, "r");

    /* Delete. */
    CHECK_INT(kumo_kv_delete(&ctx, kv_store, a), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, a, &it), KUMO_ENOTFOUND);
    CHECK_INT(kumo_kv_delete(&ctx, kv_store, a), KUMO_ENOTFOUND);

    /* CAS: 0 is "only when absent"; versions are not reused after a delete. */
    uint64_t nv = 0, nv2 = 0;
    CHECK_INT(kumo_kv_cas(&ctx, kv_store, a, "c1", 2, 0, &nv), 0);
    CHECK(nv > v2);
    CHECK_INT(kumo_kv_cas(&ctx, kv_store, a, "c2", 2, 0, NULL), KUMO_ECONFLICT);
    CHECK_INT(kumo_kv_cas(&ctx, kv_store, a, "c2", 2, v2, NULL), KUMO_ECONFLICT);
    CHECK_INT(kumo_kv_cas(&ctx, kv_store, a, "c2", 2, nv, &nv2), 0);
    CHECK(nv2 != nv);
    CHECK_INT(kumo_kv_cas(&ctx, kv_store, a, "c3", 2, nv, NULL), KUMO_ECONFLICT);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, a, &it), 0);
    CHECK_STR(it.value, "c2");
    CHECK_INT(it.version, nv2);
    CHECK_INT(kumo_kv_cas(&ctx, kv_store, K("never"), "x", 1, 12345, NULL), KUMO_ECONFLICT);

    /* Limits every driver shares. */
    char big_key[KUMO_KV_KEY_MAX + 2];
    memset(big_key, 'k', sizeof(big_key));
    big_key[KUMO_KV_KEY_MAX + 1] = '\0';
    CHECK_INT(kumo_kv_put(&ctx, kv_store, big_key, "v", 1), KUMO_ETOOBIG);
    big_key[KUMO_KV_KEY_MAX] = '\0';
    CHECK_INT(kumo_kv_put(&ctx, kv_store, big_key, "v", 1), 0);   /* exactly the limit */
    CHECK_INT(kumo_kv_get(&ctx, kv_store, big_key, &it), 0);
    CHECK_INT(kumo_kv_delete(&ctx, kv_store, big_key), 0);
    reset();
}

/* 300 KiB: large for a kv value, and under the smallest driver limit
 * (DynamoDB's 400 KB per item, key and attributes included). */
static void kv_large(void)
{
    size_t len = 300 << 10;
    unsigned char *v = malloc(len);
    kumo_kv_item it;
    if (v == NULL) {
        CHECK(0);
        return;
    }
    fill_chunk(v, len, 7);
    CHECK_INT(kumo_kv_put(&ctx, kv_store, K("large"), v, len), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, K("large"), &it), 0);
    CHECK_INT(it.len, len);
    CHECK(it.value && fnv(FNV_INIT, it.value, it.len) == fnv(FNV_INIT, v, len));
    CHECK_INT(kumo_kv_delete(&ctx, kv_store, K("large")), 0);
    free(v);
    reset();
}

static void kv_list(void)
{
    kumo_kv_page page;
    const char *pfx = K("list/");
    for (int i = 0; i < 25; i++) {
        const char *k = kumo_sprintf(&ctx, "%sk%02d", pfx, i * 2);   /* k00, k02, ... k48 */
        CHECK_INT(kumo_kv_put(&ctx, kv_store, k, k, strlen(k)), 0);
    }
    /* A neighbour the prefix must not match. */
    CHECK_INT(kumo_kv_put(&ctx, kv_store, K("list0"), "x", 1), 0);

    CHECK_INT(kumo_kv_list(&ctx, kv_store, pfx, NULL, 100, 1, &page), 0);
    CHECK_INT(page.count, 25);
    CHECK(page.next == NULL);
    for (size_t i = 0; i < page.count; i++) {
        CHECK(strncmp(page.items[i].key, pfx, strlen(pfx)) == 0);
        CHECK(page.items[i].value && strcmp(page.items[i].value, page.items[i].key) == 0);
        CHECK(page.items[i].version > 0);
        if (i > 0)
            CHECK(before(page.items[i - 1].key, page.items[i].key));
    }
    CHECK_INT(kumo_kv_list(&ctx, kv_store, pfx, NULL, 100, 0, &page), 0);
    CHECK(page.count == 25 && page.items[0].value == NULL);

    /* Pages of 10 with writes between them: a key added after the cursor
     * is seen, one added before it is not, a deleted one is not; no key
     * twice, all in order. */
    const char *cursor = NULL;
    char last[256] = "";
    int pages = 0, seen = 0, saw_new = 0, saw_before = 0, saw_deleted = 0;
    do {
        CHECK_INT(kumo_kv_list(&ctx, kv_store, pfx, cursor, 10, 0, &page), 0);
        for (size_t i = 0; i < page.count; i++) {
            CHECK(before(last, page.items[i].key));
            snprintf(last, sizeof(last), "%s", page.items[i].key ? page.items[i].key : "");
            seen++;
            saw_new |= strstr(page.items[i].key, "k47") != NULL;
            saw_before |= strstr(page.items[i].key, "k01") != NULL;
            saw_deleted |= strstr(page.items[i].key, "k46") != NULL;
        }
        if (pages == 0) {
            CHECK_INT(page.count, 10);
            CHECK(page.next != NULL);
            CHECK_INT(kumo_kv_put(&ctx, kv_store, kumo_sprintf(&ctx, "%sk47", pfx), "n", 1), 0);
            CHECK_INT(kumo_kv_put(&ctx, kv_store, kumo_sprintf(&ctx, "%sk01", pfx), "n", 1), 0);
            CHECK_INT(kumo_kv_delete(&ctx, kv_store, kumo_sprintf(&ctx, "%sk46", pfx)), 0);
        }
        cursor = page.next ? kumo_sprintf(&ctx, "%s", page.next) : NULL;
        pages++;
    } while (cursor && pages < 20);
    CHECK_INT(seen, 25);   /* 25 + k47 - k46 */
    CHECK(saw_new && !saw_before && !saw_deleted);
    CHECK(pages >= 3);
    CHECK_INT(kumo_kv_list(&ctx, kv_store, K("nothing-here/"), NULL, 10, 0, &page), 0);
    CHECK_INT(page.count, 0);
    CHECK(page.next == NULL);
    reset();
}

/* Two processes CAS the same version of one key at once: exactly one wins,
 * the other gets KUMO_ECONFLICT. Repeated so a race has room to show. */
static void kv_cas_race(void)
{
    int rounds = 20, bad = 0;
    const char *key = K("race");
    kumo_kv_item it;
    CHECK_INT(kumo_kv_put(&ctx, kv_store, key, "0", 1), 0);
    for (int r = 0; r < rounds; r++) {
        if (kumo_kv_get(&ctx, kv_store, key, &it) != 0) {
            bad++;
            continue;
        }
        uint64_t version = it.version;
        int go[2];
        if (pipe(go) != 0) {
            bad++;
            continue;
        }
        pid_t pids[2];
        for (int c = 0; c < 2; c++) {
            pids[c] = fork();
            if (pids[c] == 0) {
                kumo_ctx cctx;
                memset(&cctx, 0, sizeof(cctx));
                kumo__arena_init(&cctx.arena);
                char b;
                close(go[1]);
                if (read(go[0], &b, 1) < 0)   /* both start together */
                    _exit(9);
                int rc = kumo_kv_cas(&cctx, kv_store, key, c ? "B" : "A", 1, version, NULL);
                _exit(rc == 0 ? 0 : rc == KUMO_ECONFLICT ? 1 : 2);
            }
        }
        close(go[0]);
        close(go[1]);   /* EOF releases both */
        int wins = 0, conflicts = 0;
        for (int c = 0; c < 2; c++) {
            int st = 0;
            waitpid(pids[c], &st, 0);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                wins++;
            else if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
                conflicts++;
        }
        if (wins != 1 || conflicts != 1) {
            fprintf(stderr, "cas race round %d: %d wins, %d conflicts (want 1 and 1)\n", r, wins, conflicts);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, key, &it), 0);
    CHECK(it.len == 1 && (*(const char *)it.value == 'A' || *(const char *)it.value == 'B'));
    reset();
}

static int kv_wait_absent(const char *key)
{
    kumo_kv_item it;
    for (long long end = mono_ms() + POLL_LIMIT_MS; mono_ms() < end; usleep(20000)) {
        int rc = kumo_kv_get(&ctx, kv_store, key, &it);
        if (rc == KUMO_ENOTFOUND)
            return 1;
        if (rc != 0)
            return 0;
    }
    return 0;
}

static void kv_ttl(void)
{
    kumo_kv_item it;
    kumo_kv_page page;
    const char *t = K("ttl/short"), *kept = K("ttl/kept"), *sentinel = K("ttl/sentinel");
    CHECK_INT(kumo_kv_put_ttl(&ctx, kv_store, t, "v", 1, 200), 0);
    CHECK_INT(kumo_kv_get(&ctx, kv_store, t, &it), 0);
    CHECK_STR(it.value, "v");
    CHECK_INT(kumo_kv_put_ttl(&ctx, kv_store, kept, "k", 1, 200), 0);
    CHECK_INT(kumo_kv_put(&ctx, kv_store, kept, "k2", 2), 0);   /* a plain put removes the TTL */
    CHECK_INT(kumo_kv_put_ttl(&ctx, kv_store, K("ttl/zero"), "z", 1, 0), 0);
    CHECK(kv_wait_absent(t));
    CHECK_INT(kumo_kv_put_ttl(&ctx, kv_store, sentinel, "s", 1, 200), 0);
    CHECK(kv_wait_absent(sentinel));
    CHECK_INT(kumo_kv_get(&ctx, kv_store, kept, &it), 0);
    CHECK_STR(it.value, "k2");
    CHECK_INT(kumo_kv_get(&ctx, kv_store, K("ttl/zero"), &it), 0);
    CHECK_INT(kumo_kv_list(&ctx, kv_store, K("ttl/"), NULL, 10, 0, &page), 0);
    CHECK_INT(page.count, 2);   /* kept, zero */
    /* An expired key is absent to "put only if absent". */
    CHECK_INT(kumo_kv_cas(&ctx, kv_store, t, "again", 5, 0, NULL), 0);
    reset();
}

static void kv_get_many(void)
{
    kumo_kv_item out[4];
    const char *keys[4] = {K("many/a"), K("many/missing"), K("many/b"), K("many/a")};
    CHECK_INT(kumo_kv_put(&ctx, kv_store, keys[0], "A", 1), 0);
    CHECK_INT(kumo_kv_put(&ctx, kv_store, keys[2], "B\0b", 3), 0);
    CHECK_INT(kumo_kv_get_many(&ctx, kv_store, keys, 4, out), 0);
    CHECK_STR(out[0].value, "A");
    CHECK(out[0].version > 0);
    CHECK(out[1].value == NULL && out[1].version == 0);
    CHECK(out[2].len == 3 && memcmp(out[2].value, "B\0b", 3) == 0);
    CHECK_INT(out[3].version, out[0].version);
    reset();
}

/* ---- blob ------------------------------------------------------------------ */

static void blob_basics(void)
{
    const void *data;
    size_t len;
    kumo_blob_info info, info2;
    const char *k = K("doc.bin");
    static const char bin[] = "\x89PNG\r\n\0\x1a\n\0\xff end";

    CHECK_INT(kumo_blob_get(&ctx, blob_store, k, &data, &len, &info), KUMO_ENOTFOUND);
    CHECK_INT(kumo_blob_head(&ctx, blob_store, k, &info), KUMO_ENOTFOUND);
    CHECK_INT(kumo_blob_delete(&ctx, blob_store, k), KUMO_ENOTFOUND);
    CHECK_INT(kumo_blob_put(&ctx, blob_store, k, bin, sizeof(bin), "image/png"), 0);
    CHECK_INT(kumo_blob_get(&ctx, blob_store, k, &data, &len, &info), 0);
    CHECK(len == sizeof(bin) && memcmp(data, bin, sizeof(bin)) == 0);
    CHECK_STR(info.key, k);
    CHECK_STR(info.content_type, "image/png");
    CHECK_INT(info.size, sizeof(bin));
    CHECK(info.etag && *info.etag);
    CHECK(info.modified_ms > 1600000000000LL);
    CHECK_INT(kumo_blob_head(&ctx, blob_store, k, &info2), 0);
    CHECK_STR(info2.etag, info.etag);
    CHECK_STR(info2.content_type, "image/png");
    CHECK_INT(info2.size, sizeof(bin));

    CHECK_INT(kumo_blob_put(&ctx, blob_store, k, "", 0, NULL), 0);
    CHECK_INT(kumo_blob_get(&ctx, blob_store, k, &data, &len, &info2), 0);
    CHECK_INT(len, 0);
    CHECK_STR(info2.content_type, "application/octet-stream");
    CHECK(differ(info2.etag, info.etag));
    CHECK_INT(kumo_blob_delete(&ctx, blob_store, k), 0);
    CHECK_INT(kumo_blob_head(&ctx, blob_store, k, &info), KUMO_ENOTFOUND);

    const char *uk = K("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8d\xa3.txt");
    CHECK_INT(kumo_blob_put(&ctx, blob_store, uk, "u", 1, "text/plain; charset=utf-8"), 0);
    CHECK_INT(kumo_blob_get(&ctx, blob_store, uk, &data, &len, &info), 0);
    CHECK_STR(info.content_type, "text/plain; charset=utf-8");
    CHECK_STR(info.key, uk);
    CHECK_INT(kumo_blob_delete(&ctx, blob_store, uk), 0);

    CHECK_INT(kumo_blob_put(&ctx, blob_store, "/abs", "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, blob_store, K("a/../../escape"), "x", 1, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_blob_put(&ctx, blob_store, "", "x", 1, NULL), KUMO_EINVAL);
    reset();
}

static void blob_list(void)
{
    kumo_blob_page page;
    const char *pfx = K("objs/");
    for (int i = 0; i < 12; i++)
        CHECK_INT(kumo_blob_put(&ctx, blob_store, kumo_sprintf(&ctx, "%sf%02d", pfx, i * 2), "x", 1, "text/plain"),
                  0);
    CHECK_INT(kumo_blob_put(&ctx, blob_store, kumo_sprintf(&ctx, "%ssub/deep", pfx), "x", 1, NULL), 0);
    CHECK_INT(kumo_blob_put(&ctx, blob_store, K("objs-neighbour"), "x", 1, NULL), 0);

    CHECK_INT(kumo_blob_list(&ctx, blob_store, pfx, NULL, 100, &page), 0);
    CHECK_INT(page.count, 13);
    CHECK(page.next == NULL);
    for (size_t i = 1; i < page.count; i++)
        CHECK(before(page.items[i - 1].key, page.items[i].key));
    CHECK(page.count && strstr(page.items[page.count - 1].key, "sub/deep") != NULL);
    CHECK(page.count && page.items[0].size == 1);
    CHECK_STR(page.count ? page.items[0].content_type : NULL, "text/plain");

    const char *cursor = NULL;
    char last[512] = "";
    int pages = 0, seen = 0, saw_new = 0, saw_before = 0;
    do {
        CHECK_INT(kumo_blob_list(&ctx, blob_store, pfx, cursor, 5, &page), 0);
        for (size_t i = 0; i < page.count; i++) {
            CHECK(before(last, page.items[i].key));
            snprintf(last, sizeof(last), "%s", page.items[i].key ? page.items[i].key : "");
            seen++;
            saw_new |= strstr(page.items[i].key, "f21") != NULL;
            saw_before |= strstr(page.items[i].key, "f01") != NULL;
        }
        if (pages == 0) {
            CHECK_INT(kumo_blob_put(&ctx, blob_store, kumo_sprintf(&ctx, "%sf21", pfx), "n", 1, NULL), 0);
            CHECK_INT(kumo_blob_put(&ctx, blob_store, kumo_sprintf(&ctx, "%sf01", pfx), "n", 1, NULL), 0);
        }
        cursor = page.next ? kumo_sprintf(&ctx, "%s", page.next) : NULL;
        pages++;
    } while (cursor && pages < 20);
    CHECK_INT(seen, 14);
    CHECK(saw_new && !saw_before);
    CHECK(pages >= 3);
    reset();
}

/* 32 MiB through a writer in 64 KiB chunks and back through a reader,
 * compared by running hashes: the object is never in memory whole. */
static void blob_stream(void)
{
    unsigned char *buf = malloc(CHUNK);
    kumo_blob_writer *w = NULL;
    kumo_blob_reader *r = NULL;
    kumo_blob_info info;
    const char *k = K("big/32mib.bin");
    if (buf == NULL) {
        CHECK(0);
        return;
    }
    uint64_t put_hash = FNV_INIT, get_hash = FNV_INIT, total = 0;
    CHECK_INT(kumo_blob_writer_open(&ctx, blob_store, k, "application/x-big", &w), 0);
    int ok = w != NULL;
    for (uint64_t i = 0; ok && i < BIG_BLOB / CHUNK; i++) {
        fill_chunk(buf, CHUNK, i);
        put_hash = fnv(put_hash, buf, CHUNK);
        ok = kumo_blob_write(w, buf, CHUNK) == 0;
        if (i == 3)   /* not visible before commit */
            CHECK_INT(kumo_blob_head(&ctx, blob_store, k, &info), KUMO_ENOTFOUND);
    }
    CHECK(ok);
    if (w)
        CHECK_INT(kumo_blob_writer_commit(w), 0);
    CHECK_INT(kumo_blob_head(&ctx, blob_store, k, &info), 0);
    CHECK_INT(info.size, BIG_BLOB);
    CHECK_STR(info.content_type, "application/x-big");

    CHECK_INT(kumo_blob_reader_open(&ctx, blob_store, k, &r, &info), 0);
    CHECK_INT(info.size, BIG_BLOB);
    for (int guard = 0; r && guard < 100000; guard++) {
        size_t got = 0;
        if (kumo_blob_read(r, buf, CHUNK, &got) != 0) {
            CHECK(0);
            break;
        }
        if (got == 0)
            break;
        get_hash = fnv(get_hash, buf, got);
        total += got;
    }
    kumo_blob_reader_close(r);
    CHECK_INT(total, BIG_BLOB);
    CHECK(get_hash == put_hash);
    CHECK_INT(kumo_blob_delete(&ctx, blob_store, k), 0);

    /* Abort: nothing appears. */
    CHECK_INT(kumo_blob_writer_open(&ctx, blob_store, K("aborted"), NULL, &w), 0);
    CHECK_INT(kumo_blob_write(w, "part", 4), 0);
    kumo_blob_writer_abort(w);
    CHECK_INT(kumo_blob_head(&ctx, blob_store, K("aborted"), &info), KUMO_ENOTFOUND);
    free(buf);
    reset();
}

/* ---- queue -------------------------------------------------------------------- */

/* Receives one message, polling up to the limit: 0, or the error. */
static int receive_one(const char *q, uint64_t visibility_ms, kumo_queue_message *m)
{
    size_t n = 0;
    for (long long end = mono_ms() + POLL_LIMIT_MS; mono_ms() < end; usleep(25000)) {
        int rc = kumo_queue_receive(&ctx, q, 1, visibility_ms, m, &n);
        if (rc != 0)
            return rc;
        if (n == 1)
            return 0;
    }
    return KUMO_ETIMEDOUT;
}

/* Whether the queue's driver says it cannot detect stale receipts: those
 * checks are then skipped, loudly (a stale ack would also really delete on
 * some backends and break the checks after it). */
static int stale_receipts_undetected(void)
{
    int err = 0;
    kumo__queue *q = (kumo__queue *)kumo__store_get(&kumo__queue_kind, NULL, queue_name, &err);
    if (q == NULL || !(q->driver->limits & KUMO__QUEUE_STALE_RECEIPTS_UNDETECTED))
        return 0;
    static int said;
    if (!said++)
        printf("SKIPPED: the %s driver cannot detect stale receipts (a documented limit of the backend); "
               "their checks are not run\n",
               q->driver->common.scheme);
    return 1;
}

static void queue_basics(void)
{
    kumo_queue_message m[10];
    size_t n = 0;
    const char *id = NULL;
    CHECK_INT(kumo_queue_receive(&ctx, queue_name, 10, 5000, m, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(kumo_queue_send(&ctx, queue_name, "hello\0world", 11, 0, &id), 0);
    CHECK(id && *id);
    CHECK_INT(receive_one(queue_name, 30000, m), 0);
    CHECK_STR(m[0].id, id);
    CHECK(m[0].len == 11 && memcmp(m[0].body, "hello\0world", 11) == 0);
    CHECK_INT(m[0].receives, 1);
    CHECK(m[0].receipt && *m[0].receipt);
    CHECK_INT(kumo_queue_ack(&ctx, queue_name, m[0].receipt), 0);
    if (!stale_receipts_undetected())
        CHECK_INT(kumo_queue_ack(&ctx, queue_name, m[0].receipt), KUMO_ENOTFOUND);

    /* Unicode body, the largest body, one over it. */
    CHECK_INT(kumo_queue_send(&ctx, queue_name, "\xe6\x97\xa5\xe6\x9c\xac", 6, 0, NULL), 0);
    CHECK_INT(receive_one(queue_name, 30000, m), 0);
    CHECK_STR(m[0].body, "\xe6\x97\xa5\xe6\x9c\xac");
    CHECK_INT(kumo_queue_ack(&ctx, queue_name, m[0].receipt), 0);
    size_t big = 192 << 10;
    unsigned char *b = malloc(big + 1);
    if (b) {
        fill_chunk(b, big + 1, 3);
        CHECK_INT(kumo_queue_send(&ctx, queue_name, b, big + 1, 0, NULL), KUMO_ETOOBIG);
        CHECK_INT(kumo_queue_send(&ctx, queue_name, b, big, 0, NULL), 0);
        CHECK_INT(receive_one(queue_name, 30000, m), 0);
        CHECK(m[0].len == big && memcmp(m[0].body, b, big) == 0);
        CHECK_INT(kumo_queue_ack(&ctx, queue_name, m[0].receipt), 0);
        free(b);
    }

    /* A batch: 25 sent, received in tens, each exactly once. */
    int seen[25] = {0}, dups = 0, total = 0;
    for (int i = 0; i < 25; i++) {
        char body[8];
        int len = snprintf(body, sizeof(body), "%d", i);
        CHECK_INT(kumo_queue_send(&ctx, queue_name, body, (size_t)len, 0, NULL), 0);
    }
    for (long long end = mono_ms() + POLL_LIMIT_MS; total < 25 && mono_ms() < end;) {
        if (kumo_queue_receive(&ctx, queue_name, 10, 60000, m, &n) != 0)
            break;
        CHECK(n <= 10);
        for (size_t i = 0; i < n; i++) {
            int v = atoi(m[i].body);
            if (v >= 0 && v < 25)
                dups += seen[v]++ > 0;
            total++;
            CHECK_INT(kumo_queue_ack(&ctx, queue_name, m[i].receipt), 0);
        }
        if (n == 0)
            usleep(25000);
    }
    CHECK_INT(total, 25);
    CHECK_INT(dups, 0);
    reset();
}

static void queue_timing(void)
{
    kumo_queue_message m[1], m2[1];
    size_t n = 9;
    /* Delay: not there at once (2 s is generous), there within the bound. */
    CHECK_INT(kumo_queue_send(&ctx, queue_name, "later", 5, 2000, NULL), 0);
    CHECK_INT(kumo_queue_receive(&ctx, queue_name, 1, 5000, m, &n), 0);
    CHECK_INT(n, 0);
    /* Visibility: a 1 s lease hides it from the next receive, then it
     * comes back with a new receipt and the old one is stale. */
    CHECK_INT(receive_one(queue_name, 1000, m), 0);
    CHECK_STR(m[0].body, "later");
    CHECK_INT(kumo_queue_receive(&ctx, queue_name, 1, 5000, m2, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(receive_one(queue_name, 30000, m2), 0);
    CHECK_STR(m2[0].id, m[0].id);
    CHECK_INT(m2[0].receives, 2);
    CHECK(differ(m2[0].receipt, m[0].receipt));
    if (!stale_receipts_undetected())
        CHECK_INT(kumo_queue_ack(&ctx, queue_name, m[0].receipt), KUMO_ENOTFOUND);
    /* Nack: visible again (at once), a third receive. */
    CHECK_INT(kumo_queue_nack(&ctx, queue_name, m2[0].receipt, 0), 0);
    CHECK_INT(receive_one(queue_name, 30000, m), 0);
    CHECK_STR(m[0].id, m2[0].id);
    CHECK_INT(m[0].receives, 3);
    /* Nack with a delay: not back at once. */
    CHECK_INT(kumo_queue_nack(&ctx, queue_name, m[0].receipt, 2000), 0);
    CHECK_INT(kumo_queue_receive(&ctx, queue_name, 1, 5000, m2, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(receive_one(queue_name, 30000, m2), 0);
    CHECK_INT(kumo_queue_ack(&ctx, queue_name, m2[0].receipt), 0);
    reset();
}

static void queue_dead_letter(void)
{
    kumo_queue_message m[1];
    size_t n = 0;
    const char *id = NULL;
    CHECK_INT(kumo_queue_send(&ctx, flaky_name, "poison", 6, 0, &id), 0);
    for (unsigned i = 1; i <= 2; i++) {
        CHECK_INT(receive_one(flaky_name, 30000, m), 0);
        CHECK_INT(m[0].receives, i);
        CHECK_INT(kumo_queue_nack(&ctx, flaky_name, m[0].receipt, 0), 0);
    }
    /* Received max_receives (2) times: the next receive moves it on. */
    CHECK_INT(kumo_queue_receive(&ctx, flaky_name, 1, 30000, m, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(receive_one(flaky_dead, 30000, m), 0);
    CHECK_STR(m[0].body, "poison");
    CHECK_INT(kumo_queue_ack(&ctx, flaky_dead, m[0].receipt), 0);
    reset();
}

/* ---- outage ----------------------------------------------------------------- */

static int run_cmd(const char *what)
{
    char *cmd = kumo_sprintf(&ctx, "%s %s", restart_cmd, what);
    int st = cmd ? system(cmd) : -1;
    if (st != 0)
        fprintf(stderr, "conformance: '%s' exited with %d\n", cmd ? cmd : what, st);
    return st;
}

static int down(int rc)
{
    return rc == KUMO_EUNAVAILABLE || rc == KUMO_ETIMEDOUT;
}

static void outage(int kv, int blob, int queue)
{
    kumo_kv_item it;
    kumo_blob_info info;
    kumo_queue_message m[1];
    size_t n;
    if (restart_cmd == NULL) {
        printf("outage: SKIPPED (no --restart-cmd: an embedded backend has no server to stop)\n");
        return;
    }
    if (kv)
        CHECK_INT(kumo_kv_put(&ctx, kv_store, K("outage/before"), "b", 1), 0);
    CHECK_INT(run_cmd("stop"), 0);
    if (kv) {
        ctx.store_error[0] = '\0';
        int rc = kumo_kv_get(&ctx, kv_store, K("outage/before"), &it);
        CHECK(down(rc));
        CHECK(kumo_store_error(&ctx)[0] != '\0');
        printf("outage: kv get -> %s: %s\n", kumo_strerror(rc), kumo_store_error(&ctx));
    }
    if (blob) {
        ctx.store_error[0] = '\0';
        int rc = kumo_blob_head(&ctx, blob_store, K("outage/x"), &info);
        CHECK(down(rc));
        CHECK(kumo_store_error(&ctx)[0] != '\0');
        printf("outage: blob head -> %s: %s\n", kumo_strerror(rc), kumo_store_error(&ctx));
    }
    if (queue) {
        ctx.store_error[0] = '\0';
        int rc = kumo_queue_send(&ctx, queue_name, "x", 1, 0, NULL);
        CHECK(down(rc));
        CHECK(kumo_store_error(&ctx)[0] != '\0');
        printf("outage: queue send -> %s: %s\n", kumo_strerror(rc), kumo_store_error(&ctx));
    }
    CHECK_INT(run_cmd("start"), 0);
    /* The very next call reconnects. */
    if (kv) {
        CHECK_INT(kumo_kv_put(&ctx, kv_store, K("outage/after"), "a", 1), 0);
        CHECK_INT(kumo_kv_get(&ctx, kv_store, K("outage/after"), &it), 0);
    }
    if (blob) {
        CHECK_INT(kumo_blob_put(&ctx, blob_store, K("outage/after"), "a", 1, NULL), 0);
        CHECK_INT(kumo_blob_head(&ctx, blob_store, K("outage/after"), &info), 0);
    }
    if (queue) {
        CHECK_INT(kumo_queue_send(&ctx, queue_name, "after", 5, 0, NULL), 0);
        CHECK_INT(receive_one(queue_name, 30000, m), 0);
        CHECK_INT(kumo_queue_ack(&ctx, queue_name, m[0].receipt), 0);
        (void)n;
    }
    reset();
}

static void usage(void)
{
    fprintf(stderr, "usage: conformance [--kv URL] [--blob URL] [--queue URL] [--restart-cmd CMD]\n"
                    "  CMD is run as 'CMD stop' and 'CMD start' around the outage phase\n");
}

/* The driver's optional depth op (kumo events): one message ready, one
 * received (in flight), one sent with a delay (delayed), on a queue of
 * its own (the delayed one is still there when the suite ends). SQS's
 * figures are approximate: polled until they settle, within the bound. */
static void queue_depth(void)
{
    int err = 0;
    kumo__queue *q = (kumo__queue *)kumo__store_get(&kumo__queue_kind, NULL, depth_name, &err);
    CHECK(q != NULL);
    if (q == NULL || q->driver->depth == NULL) {
        printf("SKIPPED: the %s driver has no depth op\n", q ? q->driver->common.scheme : "?");
        return;
    }
    kumo_queue_message m[1];
    kumo__queue_depth d = {-1, -1, -1};
    CHECK_INT(q->driver->depth(q, &d), 0);
    CHECK(d.ready == 0 && d.in_flight == 0 && d.delayed == 0);
    CHECK_INT(kumo_queue_send(&ctx, depth_name, "a", 1, 0, NULL), 0);
    CHECK_INT(kumo_queue_send(&ctx, depth_name, "b", 1, 0, NULL), 0);
    CHECK_INT(kumo_queue_send(&ctx, depth_name, "later", 5, 600000, NULL), 0);
    CHECK_INT(receive_one(depth_name, 60000, m), 0);
    long long deadline = mono_ms() + POLL_LIMIT_MS;
    do {
        CHECK_INT(q->driver->depth(q, &d), 0);
        if (d.ready == 1 && d.in_flight == 1 && d.delayed == 1)
            break;
        usleep(100000);
    } while (mono_ms() < deadline);
    if (!(d.ready == 1 && d.in_flight == 1 && d.delayed == 1))
        fprintf(stderr, "depth: ready %lld, in flight %lld, delayed %lld; want 1, 1, 1\n", (long long)d.ready,
                (long long)d.in_flight, (long long)d.delayed);
    CHECK(d.ready == 1 && d.in_flight == 1 && d.delayed == 1);
    CHECK_INT(kumo_queue_ack(&ctx, depth_name, m[0].receipt), 0);
    CHECK_INT(receive_one(depth_name, 60000, m), 0);
    CHECK_INT(kumo_queue_ack(&ctx, depth_name, m[0].receipt), 0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kv", required_argument, NULL, 'k'},
        {"blob", required_argument, NULL, 'b'},
        {"queue", required_argument, NULL, 'q'},
        {"restart-cmd", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *kv = NULL, *blob = NULL, *queue = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': kv = optarg; break;
        case 'b': blob = optarg; break;
        case 'q': queue = optarg; break;
        case 'r': restart_cmd = *optarg ? optarg : NULL; break;
        default: usage(); return 2;
        }
    }
    if (optind != argc || (!kv && !blob && !queue)) {
        usage();
        return 2;
    }
    snprintf(run, sizeof(run), "%ld%03ld", (long)getpid(), (long)(time(NULL) % 1000));
    snprintf(kv_store, sizeof(kv_store), "conf-kv");
    snprintf(blob_store, sizeof(blob_store), "conf-blob");
    snprintf(queue_name, sizeof(queue_name), "conf-q%s", run);
    snprintf(flaky_name, sizeof(flaky_name), "conf-f%s", run);
    snprintf(flaky_dead, sizeof(flaky_dead), "conf-f%s-dead", run);
    snprintf(depth_name, sizeof(depth_name), "conf-d%s", run);
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);

    if (kv) {
        env_store(kv_store, kv);
        kv_basics();
        kv_large();
        kv_list();
        kv_cas_race();
        kv_ttl();
        kv_get_many();
        printf("kv: done (%d passed, %d failed so far)\n", check_passed, check_failed);
    }
    if (blob) {
        env_store(blob_store, blob);
        blob_basics();
        blob_list();
        blob_stream();
        printf("blob: done (%d passed, %d failed so far)\n", check_passed, check_failed);
    }
    if (queue) {
        env_store(queue_name, queue);
        char *flaky = kumo_sprintf(&ctx, "%s%cmax_receives=2", queue, strchr(queue, '?') ? '&' : '?');
        env_store(flaky_name, flaky);
        env_store(flaky_dead, queue);
        queue_basics();
        queue_timing();
        queue_dead_letter();
        env_store(depth_name, queue);
        queue_depth();
        printf("queue: done (%d passed, %d failed so far)\n", check_passed, check_failed);
    }
    outage(kv != NULL, blob != NULL, queue != NULL);

    kumo__stores_close_all();
    kumo__arena_free(&ctx.arena);
    return check_report();
}
