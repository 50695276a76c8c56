/*
 * sqlite.c: the embedded kv driver, `sqlite:PATH` (also `sqlite://PATH`, so
 * `sqlite:///abs/file.db` is /abs/file.db). The default store of the local
 * runtime: several worker processes open the same file at once.
 *
 * Layout: one table for every store in the file, with a store column, so a
 * store needs no DDL and one file may hold them all (the driver opens a URL
 * without knowing which store it serves; kv->name is bound on each call):
 *
 *   kumo_kv(store TEXT, key BLOB, value BLOB, version INTEGER, expires INTEGER,
 *           PRIMARY KEY (store, key)) WITHOUT ROWID
 *   kumo_kv_expires ON kumo_kv(expires) WHERE expires IS NOT NULL
 *   kumo_kv_clock(id = 1, version INTEGER)
 *
 * TTL: `expires` is the epoch millisecond after which the row reads as
 * absent (NULL: never). Every read filters on it, so expiry is exact to the
 * millisecond whatever the purge does. Expired rows are purged lazily: a
 * get that meets one deletes it, and every write first deletes the rows
 * whose time has passed (through the partial index, so it costs nothing when
 * none has) in its own transaction, which also makes "put only if absent"
 * and CAS see an expired key as absent. A file written before TTLs existed
 * gains the column and the index when it is opened.
 *
 * WITHOUT ROWID keeps a row where its key sorts, which suits short JSON
 * documents and prefix scans; big values spill to overflow pages that a
 * listing without values never reads. Keys are BLOBs, so SQLite compares
 * them with memcmp: byte order, as kumo.h promises.
 *
 * Versions come from kumo_kv_clock, one counter per file bumped in the same
 * transaction as every write. They are never reused, even after a delete and
 * a re-create of a key, so a CAS holding a version from before the delete
 * fails as it should (no ABA), and they are never 0 (0 means "absent").
 *
 * Concurrency: WAL (readers never wait for the writer), busy_timeout of
 * BUSY_TIMEOUT_MS for writers queued behind another process, and writes in
 * BEGIN IMMEDIATE transactions so two CAS never both read the old version.
 * synchronous=FULL: an acknowledged write (a 201 sent) survives power loss.
 * Inside a process the handle's statements are guarded by a mutex.
 *
 * Listing uses a range on the primary key, key >= lower AND key < upper,
 * where lower is the prefix (or cursor||0x00 when the cursor is past it: the
 * smallest key after the cursor) and upper is the prefix's successor (the
 * prefix with trailing 0xff bytes dropped and the last byte incremented;
 * none when the prefix is empty or all 0xff), both worked out by
 * kumo__kv_list_range (kv.c), which postgres.c uses too. LIKE would not
 * use the index and would treat '%' and '_' in keys as wildcards.
 *
 * The URL's query: create=false opens only an existing file that already
 * has the tables (nothing is created; a missing one is KUMO_EUNAVAILABLE).
 *
 * Errors map to KUMO_E* codes: SQLITE_BUSY after the timeout is
 * KUMO_ETIMEDOUT, a file that cannot be opened or written (or is not a
 * database) KUMO_EUNAVAILABLE, the rest KUMO_EIO; the sqlite message and
 * extended code (kumo__sqlite_describe, taken before anything else runs on
 * the handle) go to the open's err buffer or, for later calls, to the
 * handle's `error` (kumo_store_error) and an error log line.
 */
#include "sdk/sdk.h"
#include "base/clock.h"
#include "base/fs.h"

#include <errno.h>
#include <pthread.h>
#include "sdk/stores/sqlite_lazy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <time.h>

#define BUSY_TIMEOUT_MS 5000
#define VALUE_MAX (16u << 20)

enum {
    ST_GET,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_CLOCK,
    ST_UPSERT,
    ST_INSERT,
    ST_UPDATE,
    ST_DELETE,
    ST_LIST,
    ST_LIST_OPEN,
    ST_PURGE,
    ST_PURGE_KEY,
    ST_BEGIN_READ,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_GET] = "SELECT value, version, coalesce(expires <= ?3, 0) FROM kumo_kv WHERE store = ?1 AND key = ?2",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_CLOCK] = "UPDATE kumo_kv_clock SET version = version + 1 WHERE id = 1 RETURNING version",
    [ST_UPSERT] = "INSERT INTO kumo_kv (store, key, value, version, expires) VALUES (?1, ?2, ?3, ?4, ?6) "
                  "ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, version = excluded.version, "
                  "expires = excluded.expires",
    [ST_INSERT] = "INSERT INTO kumo_kv (store, key, value, version, expires) VALUES (?1, ?2, ?3, ?4, ?6) "
                  "ON CONFLICT (store, key) DO NOTHING",
    [ST_UPDATE] = "UPDATE kumo_kv SET value = ?3, version = ?4, expires = ?6 "
                  "WHERE store = ?1 AND key = ?2 AND version = ?5",
    [ST_DELETE] = "DELETE FROM kumo_kv WHERE store = ?1 AND key = ?2 AND (expires IS NULL OR expires > ?3)",
    [ST_LIST] = "SELECT key, CASE WHEN ?4 THEN value END, version FROM kumo_kv "
                "WHERE store = ?1 AND key >= ?2 AND key < ?3 AND (expires IS NULL OR expires > ?6) "
                "ORDER BY key LIMIT ?5",
    [ST_LIST_OPEN] = "SELECT key, CASE WHEN ?4 THEN value END, version FROM kumo_kv "
                     "WHERE store = ?1 AND key >= ?2 AND (expires IS NULL OR expires > ?6) ORDER BY key LIMIT ?5",
    [ST_PURGE] = "DELETE FROM kumo_kv WHERE expires <= ?1",
    [ST_PURGE_KEY] = "DELETE FROM kumo_kv WHERE store = ?1 AND key = ?2 AND expires <= ?3",
    [ST_BEGIN_READ] = "BEGIN",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS kumo_kv ("
    "  store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, version INTEGER NOT NULL,"
    "  PRIMARY KEY (store, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS kumo_kv_clock (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO kumo_kv_clock (id, version) VALUES (1, 0);";

/* Files from before TTLs: run when `expires` is missing. */
static const char schema_ttl[] = "ALTER TABLE kumo_kv ADD COLUMN expires INTEGER;";
static const char schema_ttl_index[] =
    "CREATE INDEX IF NOT EXISTS kumo_kv_expires ON kumo_kv (expires) WHERE expires IS NOT NULL;";

/* Files from before TTLs get the expires column and its index. */
static int migrate_ttl(sqlite3 *db, const char **step)
{
    int src = SQLITE_OK;
    if (sqlite3_exec(db, "SELECT expires FROM kumo_kv LIMIT 0", NULL, NULL, NULL) != SQLITE_OK) {
        *step = schema_ttl;
        src = sqlite3_exec(db, schema_ttl, NULL, NULL, NULL);
    }
    if (src == SQLITE_OK) {
        *step = schema_ttl_index;
        src = sqlite3_exec(db, schema_ttl_index, NULL, NULL, NULL);
    }
    return src;
}

/* Expiry times are epoch milliseconds: they mean the same to every
 * process that opens the file. */
static int64_t now_ms(void)
{
    return (int64_t)kumo__epoch_ms();
}

typedef struct sqlite_kv {
    kumo__kv base; /* first: the store layer sees a kumo__kv */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    pthread_mutex_t lock;
} sqlite_kv;

int kumo__sqlite_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return KUMO_ETIMEDOUT;
    case SQLITE_NOMEM: return KUMO_ENOMEM;
    case SQLITE_TOOBIG: return KUMO_ETOOBIG;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY: /* a read-only mount or file: as unreachable as one that cannot be opened */
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_AUTH: return KUMO_EUNAVAILABLE;
    default: return KUMO_EIO;
    }
}

void kumo__sqlite_describe(sqlite3 *db, int rc, char *out, size_t len)
{
    /* Handles are opened with extended result codes, so rc is usually
     * extended already; db's code is taken only for the same error. */
    int code = rc;
    const char *msg = NULL;
    if (db != NULL && rc != SQLITE_OK && (sqlite3_errcode(db) & 0xff) == (rc & 0xff)) {
        msg = sqlite3_errmsg(db);
        if ((rc & ~0xff) == 0)
            code = sqlite3_extended_errcode(db);
    }
    if (msg == NULL || *msg == '\0')
        msg = sqlite3_errstr(rc);
    snprintf(out, len, "%s (SQLite code %d)", msg, code);
}

int kumo__sqlite_busy_again(int rc, unsigned *tries)
{
    /* 1, 2, 4, 8, then 10 ms a try: about BUSY_TIMEOUT_MS in all */
    if ((rc & 0xff) != SQLITE_BUSY || *tries >= 4 + BUSY_TIMEOUT_MS / 10)
        return 0;
    unsigned ms = *tries < 4 ? 1u << *tries : 10u;
    (*tries)++;
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* Maps a failed step, keeps sqlite's message for kumo_store_error and logs
 * it. */
static int fail(sqlite_kv *s, const char *what, int rc)
{
    char why[200];
    kumo__sqlite_describe(s->db, rc, why, sizeof(why));
    snprintf(s->base.error, sizeof(s->base.error), "sqlite %.40s: %s", what, why);
    kumo_log(NULL, KUMO_LOG_ERROR, "kv store '%s': %s", s->base.name ? s->base.name : "?", s->base.error);
    return kumo__sqlite_status(rc);
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no row. */
static int exec_st(sqlite_kv *s, int which)
{
    int rc = kumo__sqlite_step(s->st[which], which == ST_BEGIN || which == ST_BEGIN_READ);
    return rc == SQLITE_DONE ? 0 : fail(s, sql[which], rc);
}

static void bind_key(sqlite_kv *s, sqlite3_stmt *st, const char *key, size_t klen)
{
    sqlite3_bind_text(st, 1, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, key, (int)klen, SQLITE_STATIC);
}

/* mkdir -p of the directory holding `path`. */
static int make_parent(const char *path, kumo__error *e)
{
    char *dir = strdup(path);
    if (dir == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    int rc = 0;
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        int mrc = kumo__mkdirs(dir, 0755);
        if (mrc != 0) {
            kumo__error_set(e, KUMO_EUNAVAILABLE, "cannot create directory %s: %s", dir, strerror(-mrc));
            rc = KUMO_EUNAVAILABLE;
        }
    }
    free(dir);
    return rc;
}

int kumo__sqlite_step(sqlite3_stmt *st, int retry_busy)
{
    unsigned tries = 0;
    int rc;
    do {
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } while (retry_busy && kumo__sqlite_busy_again(rc, &tries));
    return rc;
}

/* What a write refused at open (SQLITE_READONLY, or SQLITE_CANTOPEN for
 * the -wal and -shm files beside the store) comes from, when it is the file
 * system or the file's mode: appended to `why`. */
static void readonly_hint(const char *path, int rc, char *why, size_t len)
{
    if ((rc & 0xff) != SQLITE_READONLY && (rc & 0xff) != SQLITE_CANTOPEN)
        return;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct statvfs vfs;
    size_t used = strlen(why);
    if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
        snprintf(why + used, len - used,
                 "; %s is on a read-only file system, and a store writes the file and its -wal and -shm files "
                 "beside it",
                 dir);
    else if (access(dir, W_OK) != 0 || (access(path, F_OK) == 0 && access(path, W_OK) != 0))
        snprintf(why + used, len - used, "; the file or %s is not writable by this process", dir);
}

int kumo__sqlite_open_url(const char *url, const char *schema, int (*migrate)(sqlite3 *db, const char **step),
                          sqlite3 **out, int *created, kumo__error *e)
{
    char path[4096], create[8] = "true", why[4400];
    const char *p = url + strlen("sqlite:");
    if (strncmp(p, "//", 2) == 0)
        p += 2;
    *out = NULL;
    if (kumo__sqlite_load(why, sizeof(why)) != 0) { /* kumo-http: SQLite on first use (sqlite_lazy.h) */
        kumo__error_set(e, KUMO_EUNAVAILABLE,
                        "the store is kept in its embedded default, which needs SQLite, and SQLite cannot be loaded "
                        "(%s): kumo build leaves it out of a package whose environments place every store; set "
                        "KUMO_ENV (or KUMO_STORE_<NAME>) where it runs, or build with --host kumo-host",
                        why);
        return KUMO_EUNAVAILABLE;
    }
    size_t plen = strcspn(p, "?");
    if (plen == 0 || plen >= sizeof(path)) {
        kumo__error_set(e, KUMO_EINVAL, "the URL has no path (or one too long); expected sqlite:PATH");
        return KUMO_EINVAL;
    }
    memcpy(path, p, plen);
    path[plen] = '\0';
    kumo__url_query(url, "create", create, sizeof(create));
    int may_create = strcmp(create, "false") != 0, rc;
    *created = may_create;
    if (may_create && (rc = make_parent(path, e)) != 0)
        return rc;
    sqlite3 *db = NULL;
    int src = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | (may_create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        kumo__sqlite_describe(db, src, why, sizeof(why));
        readonly_hint(path, src, why, sizeof(why));
        kumo__error_set(e, kumo__sqlite_status(src), "cannot open %s: %s", path, why);
        sqlite3_close(db);
        return kumo__sqlite_status(src);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* The tables are made in one write transaction taken up front (BEGIN
     * IMMEDIATE waits on busy_timeout): statements that read the schema
     * and then write would get SQLITE_BUSY at once, without waiting, when
     * several workers open a new file together. */
    unsigned tries = 0;
    const char *step;
    do {
        step = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL";
        src = sqlite3_exec(db, step, NULL, NULL, NULL);
        if (src == SQLITE_OK && may_create) {
            step = "BEGIN IMMEDIATE";
            if ((src = sqlite3_exec(db, step, NULL, NULL, NULL)) == SQLITE_OK) {
                step = schema;
                src = sqlite3_exec(db, schema, NULL, NULL, NULL);
            }
            if (src == SQLITE_OK && migrate)
                src = migrate(db, &step);
            if (src == SQLITE_OK) {
                step = "COMMIT";
                src = sqlite3_exec(db, step, NULL, NULL, NULL);
            }
        }
        /* The failure is described now: the ROLLBACK below clears db's
         * error state, after which SQLite says "not an error". */
        if (src != SQLITE_OK) {
            kumo__sqlite_describe(db, src, why, sizeof(why));
            readonly_hint(path, src, why, sizeof(why));
        }
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    } while (kumo__sqlite_busy_again(src, &tries));
    if (src != SQLITE_OK) {
        kumo__error_set(e, kumo__sqlite_status(src), "%s: %s, while running \"%.40s...\"", path, why, step);
        sqlite3_close(db);
        return kumo__sqlite_status(src);
    }
    *out = db;
    return 0;
}

static void sqlite_close(kumo__store *st)
{
    sqlite_kv *s = (sqlite_kv *)st;
    if (s == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int sqlite_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    int rc = 0, may_create = 1, src;
    *out = NULL;
    sqlite_kv *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    static const char *const known[] = {"create", NULL};
    if ((rc = kumo__url_params_known(url, known, e)) != 0 ||
        (rc = kumo__sqlite_open_url(url, schema, migrate_ttl, &s->db, &may_create, e)) != 0)
        goto out;
    for (int i = 0; i < ST_COUNT; i++) {
        src = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (src != SQLITE_OK) {
            char why[256];
            kumo__sqlite_describe(s->db, src, why, sizeof(why));
            rc = may_create ? kumo__sqlite_status(src) : KUMO_EUNAVAILABLE;
            kumo__error_set(e, rc, "%s: %s%s", sqlite3_db_filename(s->db, "main"), why,
                            may_create ? "" : " (create=false: the tables must exist)");
            goto out;
        }
    }
    *out = &s->base.store;
out:
    if (rc != 0)
        sqlite_close(&s->base.store);
    return rc;
}

/* A get with the lock held. An expired row found is purged when `purge`
 * (outside a read transaction), its failure ignored: the next write
 * purges it anyway. */
static int get_locked(sqlite_kv *s, kumo__arena *a, const char *key, size_t klen, int purge, kumo_kv_item *out)
{
    sqlite3_stmt *st = s->st[ST_GET];
    int rc;
    int64_t now = now_ms();
    bind_key(s, st, key, klen);
    sqlite3_bind_int64(st, 3, now);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = KUMO_ENOTFOUND;
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = fail(s, "get", src);
        goto out;
    }
    if (sqlite3_column_int(st, 2)) {
        done(st);
        if (purge) {
            sqlite3_stmt *pk = s->st[ST_PURGE_KEY];
            bind_key(s, pk, key, klen);
            sqlite3_bind_int64(pk, 3, now);
            sqlite3_step(pk);
            done(pk);
        }
        return KUMO_ENOTFOUND;
    }
    const void *v = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    char *value = kumo__arena_strndup(a, v, n);
    char *k = kumo__arena_strndup(a, key, klen);
    if (value == NULL || k == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    out->key = k;
    out->value = value;
    out->len = n;
    out->version = (uint64_t)sqlite3_column_int64(st, 1);
    rc = 0;
out:
    done(st);
    return rc;
}

static int sqlite_get(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out)
{
    sqlite_kv *s = (sqlite_kv *)kv;
    pthread_mutex_lock(&s->lock);
    int rc = get_locked(s, a, key, klen, 1, out);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Every key read in one read transaction: one snapshot of the file. */
static int sqlite_get_many(kumo__kv *kv, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out)
{
    sqlite_kv *s = (sqlite_kv *)kv;
    int rc;
    pthread_mutex_lock(&s->lock);
    rc = exec_st(s, ST_BEGIN_READ);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = get_locked(s, a, keys[i], strlen(keys[i]), 0, &out[i]);
        if (rc == KUMO_ENOTFOUND) {
            memset(&out[i], 0, sizeof(out[i]));
            rc = 0;
        }
    }
    if (sqlite3_get_autocommit(s->db) == 0)
        exec_st(s, ST_COMMIT);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_put(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen, uint64_t expect_version,
                      uint64_t ttl_ms, uint64_t *new_version)
{
    sqlite_kv *s = (sqlite_kv *)kv;
    int rc, src, in_tx = 0;
    if (vlen > VALUE_MAX) {
        snprintf(s->base.error, sizeof(s->base.error), "value of %zu bytes over the sqlite driver's %u", vlen,
                 VALUE_MAX);
        return KUMO_ETOOBIG;
    }
    if (ttl_ms > (uint64_t)INT64_MAX / 2) {
        snprintf(s->base.error, sizeof(s->base.error), "TTL of %llu ms is out of range", (unsigned long long)ttl_ms);
        return KUMO_EINVAL;
    }
    int64_t now = now_ms();
    pthread_mutex_lock(&s->lock);
    rc = exec_st(s, ST_BEGIN);
    if (rc != 0)
        goto out;
    in_tx = 1;

    sqlite3_stmt *purge = s->st[ST_PURGE];
    sqlite3_bind_int64(purge, 1, now);
    src = sqlite3_step(purge);
    done(purge);
    if (src != SQLITE_DONE) {
        rc = fail(s, "purge of expired keys", src);
        goto out;
    }

    sqlite3_stmt *clock = s->st[ST_CLOCK];
    src = sqlite3_step(clock);
    int64_t version = src == SQLITE_ROW ? sqlite3_column_int64(clock, 0) : 0;
    done(clock);
    if (src != SQLITE_ROW) {
        rc = fail(s, "version clock", src);
        goto out;
    }

    int which = expect_version == UINT64_MAX ? ST_UPSERT : expect_version == 0 ? ST_INSERT : ST_UPDATE;
    sqlite3_stmt *st = s->st[which];
    bind_key(s, st, key, klen);
    sqlite3_bind_blob(st, 3, val, (int)vlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, version);
    if (which == ST_UPDATE)
        sqlite3_bind_int64(st, 5, (sqlite3_int64)expect_version);
    if (ttl_ms)
        sqlite3_bind_int64(st, 6, now + (int64_t)ttl_ms);
    else
        sqlite3_bind_null(st, 6);
    src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) {
        rc = fail(s, "put", src);
        goto out;
    }
    if (sqlite3_changes(s->db) != 1) {
        rc = KUMO_ECONFLICT;
        goto out;
    }
    rc = exec_st(s, ST_COMMIT);
    if (rc != 0)
        goto out;
    in_tx = 0;
    if (new_version)
        *new_version = (uint64_t)version;
out:
    /* The ROLLBACK's own outcome is not reported: the error that led here
     * is the one kumo_store_error must name. */
    if (in_tx && sqlite3_get_autocommit(s->db) == 0)
        kumo__sqlite_step(s->st[ST_ROLLBACK], 0);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_del(kumo__kv *kv, const char *key, size_t klen)
{
    sqlite_kv *s = (sqlite_kv *)kv;
    sqlite3_stmt *st = s->st[ST_DELETE];
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    bind_key(s, st, key, klen);
    sqlite3_bind_int64(st, 3, now_ms());
    int src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE)
        rc = fail(s, "delete", src);
    else if (sqlite3_changes(s->db) == 0)
        rc = KUMO_ENOTFOUND;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sqlite_list(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                       kumo_kv_page *out)
{
    sqlite_kv *s = (sqlite_kv *)kv;
    int rc = 0;

    kumo__kv_range range;
    if (kumo__kv_list_range(a, prefix, cursor, &range) != 0)
        return KUMO_ENOMEM;
    kumo_kv_item *items = kumo__arena_alloc(a, limit * sizeof(*items));
    if (items == NULL)
        return KUMO_ENOMEM;

    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = s->st[range.ulen ? ST_LIST : ST_LIST_OPEN];
    sqlite3_bind_text(st, 1, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, range.lower, (int)range.llen, SQLITE_STATIC);
    if (range.ulen)
        sqlite3_bind_blob(st, 3, range.upper, (int)range.ulen, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, values);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)limit + 1); /* one more: is there a next page? */
    sqlite3_bind_int64(st, 6, now_ms());
    size_t count = 0;
    int more = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == limit) {
            more = 1;
            break;
        }
        kumo_kv_item *it = &items[count];
        it->key = kumo__arena_strndup(a, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        it->value = NULL;
        it->len = 0;
        if (values) {
            it->len = (size_t)sqlite3_column_bytes(st, 1);
            it->value = kumo__arena_strndup(a, sqlite3_column_blob(st, 1), it->len);
            if (it->value == NULL)
                rc = KUMO_ENOMEM;
        }
        it->version = (uint64_t)sqlite3_column_int64(st, 2);
        if (it->key == NULL)
            rc = KUMO_ENOMEM;
        if (rc != 0)
            goto out;
        count++;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = fail(s, "list", src);
        goto out;
    }
    out->items = items;
    out->count = count;
    out->next = more ? items[count - 1].key : NULL;
out:
    done(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

const kumo__kv_driver kumo__kv_sqlite_driver = {
    .common = {.version = KUMO__KV_DRIVER_VERSION, .scheme = "sqlite", .open = sqlite_open, .close = sqlite_close},
    .get = sqlite_get,
    .put = sqlite_put,
    .del = sqlite_del,
    .list = sqlite_list,
    .get_many = sqlite_get_many,
};
