/*
 * history.c: the metrics history (see history.h). The recorder keeps the
 * previous snapshot's totals per registry target in memory and writes the
 * difference; a target's row in metrics.db is found (or made) once by its
 * labels, so ids in the file survive restarts and registry ids do not
 * leak into it. The file:
 *
 *   meta(key, value)           schema version
 *   targets(id, function, operation, route, method, trigger)
 *   points(t, target, requests, errors, timeouts, cold, rejected, sum_us, buckets)
 *   gauges(t, function, busy, idle, starting, queued, in_flight)
 *
 * t is the snapshot's epoch milliseconds (strictly increasing per file);
 * points and gauges are WITHOUT ROWID tables keyed by (t, ...), so the
 * oldest rows sit together and deleting them frees whole pages, which
 * auto_vacuum=INCREMENTAL gives back to the file system.
 */
#include "obs/history.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

#define SCHEMA_VERSION 1
#define GAUGES_MAX 256
/* Time-based pruning runs every this many samples (size-based: each one). */
#define PRUNE_EVERY 30

typedef struct totals {
    uint64_t requests, errors, timeouts, cold, rejected, sum_us;
    uint64_t buckets[KUMO__MBUCKETS];
} totals;

/* What the previous sample saw of one registry target. */
typedef struct tstate {
    int seen;
    int64_t dbid; /* 0: not looked up yet */
    totals last;
} tstate;

struct kumo__history {
    char *path;
    double keep_s;
    size_t max_bytes;
    unsigned interval_ms;
    kumo__metrics *metrics;
    kumo__history_gauges_fn *gauges;
    void *gauges_ctx;

    sqlite3 *db;
    sqlite3_stmt *ins_point, *ins_gauge, *ins_target, *find_target;
    tstate *prev;
    size_t nprev;
    kumo__hgauge *gbuf;  /* GAUGES_MAX: the callback's output */
    kumo__hgauge *glast; /* the last gauges written per function */
    size_t nglast;
    uint64_t last_t;
    unsigned samples;

    pthread_t tid;
    int running, stop;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    char error[512];
    char logged[512]; /* the last error logged, so a lasting failure logs once */
};

unsigned kumo__history_interval_ms(void)
{
    const char *v = getenv("KUMO_HISTORY_INTERVAL_MS");
    if (v && *v) {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (*end == '\0' && n >= 50 && n <= 3600000)
            return (unsigned)n;
    }
    return 10000;
}

const char *kumo__history_error(const kumo__history *h)
{
    return h->error;
}

static int db_fail(kumo__history *h, const char *what)
{
    snprintf(h->error, sizeof(h->error), "%s: %s: %s", h->path, what, sqlite3_errmsg(h->db));
    return -EIO;
}

/* ---- the bucket blob ----------------------------------------------------------- */

static size_t put_varint(unsigned char *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

static int get_varint(const unsigned char *p, size_t len, size_t *at, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= len)
            return -EINVAL;
        unsigned char b = p[(*at)++];
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -EINVAL;
}

size_t kumo__history_blob_encode(const uint64_t *buckets, unsigned char *out)
{
    size_t n = 0;
    for (int k = 0; k < KUMO__MBUCKETS; k++) {
        if (buckets[k] == 0)
            continue;
        out[n++] = (unsigned char)k;
        n += put_varint(out + n, buckets[k]);
    }
    return n;
}

int kumo__history_blob_add(const unsigned char *blob, size_t len, uint64_t *buckets)
{
    size_t at = 0;
    while (at < len) {
        uint64_t k, count;
        if (get_varint(blob, len, &at, &k) != 0 || k >= KUMO__MBUCKETS || get_varint(blob, len, &at, &count) != 0)
            return -EINVAL;
        buckets[k] += count;
    }
    return 0;
}

/* ---- opening ---------------------------------------------------------------------- */

static int exec(kumo__history *h, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(h->error, sizeof(h->error), "%s: %s", h->path, msg ? msg : sqlite3_errmsg(h->db));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

static int64_t scalar(sqlite3 *db, const char *sql, int64_t fallback)
{
    sqlite3_stmt *st = NULL;
    int64_t v = fallback;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE IF NOT EXISTS targets(id INTEGER PRIMARY KEY, function TEXT NOT NULL, operation TEXT NOT NULL,"
    " route TEXT NOT NULL, method TEXT NOT NULL, trigger TEXT NOT NULL,"
    " UNIQUE(function, operation, route, method, trigger));"
    "CREATE TABLE IF NOT EXISTS points(t INTEGER NOT NULL, target INTEGER NOT NULL, requests INTEGER NOT NULL,"
    " errors INTEGER NOT NULL, timeouts INTEGER NOT NULL, cold INTEGER NOT NULL, rejected INTEGER NOT NULL,"
    " sum_us INTEGER NOT NULL, buckets BLOB, PRIMARY KEY(t, target)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS gauges(t INTEGER NOT NULL, function TEXT NOT NULL, busy INTEGER NOT NULL,"
    " idle INTEGER NOT NULL, starting INTEGER NOT NULL, queued INTEGER NOT NULL, in_flight INTEGER NOT NULL,"
    " PRIMARY KEY(t, function)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', 1);";

int kumo__history_open(const kumo__history_config *cfg, kumo__history **out, kumo__error *err)
{
    int rc = 0;
    *out = NULL;
    kumo__history *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->path = strdup(cfg->path)) == NULL ||
        (h->gbuf = calloc(GAUGES_MAX, sizeof(*h->gbuf))) == NULL ||
        (h->glast = calloc(GAUGES_MAX, sizeof(*h->glast))) == NULL) {
        kumo__error_set(err, rc = -ENOMEM, "out of memory");
        goto out;
    }
    h->keep_s = cfg->keep_s;
    h->max_bytes = cfg->max_bytes;
    h->interval_ms = cfg->interval_ms ? cfg->interval_ms : kumo__history_interval_ms();
    h->metrics = cfg->metrics;
    h->gauges = cfg->gauges;
    h->gauges_ctx = cfg->gauges_ctx;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);

    if (sqlite3_open_v2(h->path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        kumo__error_set(err, rc = -EIO, "cannot open the metrics history %s: %s", h->path,
                        h->db ? sqlite3_errmsg(h->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(h->db, 2000);
    /* auto_vacuum takes effect only before the first table: a new file.
     * Set only when the file does not say it already: setting it on a file
     * that has it is a write transaction, with two fdatasyncs (the journal
     * and its directory, 5 to 20 ms here) on every start (issue 19). */
    if ((scalar(h->db, "PRAGMA auto_vacuum", -1) != 2 && exec(h, "PRAGMA auto_vacuum=INCREMENTAL")) ||
        exec(h, "PRAGMA journal_mode=WAL") || exec(h, "PRAGMA synchronous=NORMAL") ||
        exec(h, "PRAGMA cache_size=-256") || exec(h, "PRAGMA journal_size_limit=4194304") || exec(h, schema_sql)) {
        kumo__error_set(err, rc = -EIO, "cannot set up the metrics history: %s", h->error);
        goto out;
    }
    int64_t version = scalar(h->db, "SELECT value FROM meta WHERE key='schema'", 0);
    if (version != SCHEMA_VERSION) {
        kumo__error_set(err, rc = -EINVAL,
                        "%s holds metrics history of format %lld; this kumo writes format %d: move the file "
                        "away (its history is then lost) or run the kumo that wrote it",
                        h->path, (long long)version, SCHEMA_VERSION);
        goto out;
    }
    if (sqlite3_prepare_v2(h->db,
                           "INSERT INTO points(t, target, requests, errors, timeouts, cold, rejected, sum_us, "
                           "buckets) VALUES(?,?,?,?,?,?,?,?,?)",
                           -1, &h->ins_point, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "INSERT INTO gauges(t, function, busy, idle, starting, queued, in_flight) "
                           "VALUES(?,?,?,?,?,?,?)",
                           -1, &h->ins_gauge, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "INSERT OR IGNORE INTO targets(function, operation, route, method, trigger) "
                           "VALUES(?,?,?,?,?)",
                           -1, &h->ins_target, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db,
                           "SELECT id FROM targets WHERE function=? AND operation=? AND route=? AND method=? "
                           "AND trigger=?",
                           -1, &h->find_target, NULL) != SQLITE_OK) {
        db_fail(h, "preparing statements");
        kumo__error_set(err, rc = -EIO, "%s", h->error);
        goto out;
    }
    /* points continue after the newest one, even if the clock went back */
    int64_t newest = scalar(h->db,
                            "SELECT max(t) FROM (SELECT max(t) AS t FROM points UNION ALL "
                            "SELECT max(t) FROM gauges)",
                            0);
    h->last_t = newest > 0 ? (uint64_t)newest : 0;
out:
    if (rc != 0) {
        kumo__history_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---- recording -------------------------------------------------------------------- */

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* The file's id of the target labelled `l`, made when new; 0 on failure. */
static int64_t target_id(kumo__history *h, const kumo__mtarget *l)
{
    const char *v[5] = {nz(l->function), nz(l->operation), nz(l->route), nz(l->method), nz(l->trigger)};
    for (int i = 0; i < 5; i++) {
        sqlite3_bind_text(h->ins_target, i + 1, v[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(h->find_target, i + 1, v[i], -1, SQLITE_STATIC);
    }
    int64_t id = 0;
    if (sqlite3_step(h->ins_target) == SQLITE_DONE && sqlite3_step(h->find_target) == SQLITE_ROW)
        id = sqlite3_column_int64(h->find_target, 0);
    sqlite3_reset(h->ins_target);
    sqlite3_reset(h->find_target);
    sqlite3_clear_bindings(h->ins_target);
    sqlite3_clear_bindings(h->find_target);
    return id;
}

/* cur - prev, or cur whole when any counter went down (counted anew). */
static void delta_of(const totals *cur, const totals *prev, totals *d)
{
    int reset = cur->requests < prev->requests || cur->errors < prev->errors || cur->timeouts < prev->timeouts ||
                cur->cold < prev->cold || cur->rejected < prev->rejected || cur->sum_us < prev->sum_us;
    for (int k = 0; k < KUMO__MBUCKETS && !reset; k++)
        reset = cur->buckets[k] < prev->buckets[k];
    if (reset) {
        *d = *cur;
        return;
    }
    d->requests = cur->requests - prev->requests;
    d->errors = cur->errors - prev->errors;
    d->timeouts = cur->timeouts - prev->timeouts;
    d->cold = cur->cold - prev->cold;
    d->rejected = cur->rejected - prev->rejected;
    d->sum_us = cur->sum_us - prev->sum_us;
    for (int k = 0; k < KUMO__MBUCKETS; k++)
        d->buckets[k] = cur->buckets[k] - prev->buckets[k];
}

static int totals_empty(const totals *d)
{
    return d->requests == 0 && d->errors == 0 && d->timeouts == 0 && d->cold == 0 && d->rejected == 0;
}

static int insert_point(kumo__history *h, uint64_t t, int64_t dbid, const totals *d)
{
    unsigned char blob[KUMO__HISTORY_BLOB_MAX];
    size_t blen = kumo__history_blob_encode(d->buckets, blob);
    sqlite3_stmt *st = h->ins_point;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)t);
    sqlite3_bind_int64(st, 2, dbid);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)d->requests);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)d->errors);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)d->timeouts);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)d->cold);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)d->rejected);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)d->sum_us);
    if (blen)
        sqlite3_bind_blob(st, 9, blob, (int)blen, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 9);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(h, "writing a point");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Gauges are written when not all zero, or when they differ from the last
 * written for that function (so the drop to zero is there too): an idle
 * project writes nothing, and a missing row means zero. */
static int write_gauges(kumo__history *h, uint64_t t, const kumo__hgauge *g, size_t ng, kumo__hgauge *next,
                        size_t *nnext)
{
    size_t n = 0;
    for (size_t i = 0; i < ng && n < GAUGES_MAX; i++) {
        const kumo__hgauge *was = NULL;
        for (size_t j = 0; j < h->nglast; j++)
            if (strcmp(h->glast[j].function, g[i].function) == 0)
                was = &h->glast[j];
        int zero = g[i].busy == 0 && g[i].idle == 0 && g[i].starting == 0 && g[i].queued == 0 && g[i].in_flight == 0;
        int same = was ? was->busy == g[i].busy && was->idle == g[i].idle && was->starting == g[i].starting &&
                             was->queued == g[i].queued && was->in_flight == g[i].in_flight
                       : zero;
        next[n++] = g[i];
        if (zero && same)
            continue;
        sqlite3_stmt *st = h->ins_gauge;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)t);
        sqlite3_bind_text(st, 2, g[i].function, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, g[i].busy);
        sqlite3_bind_int(st, 4, g[i].idle);
        sqlite3_bind_int(st, 5, g[i].starting);
        sqlite3_bind_int(st, 6, g[i].queued);
        sqlite3_bind_int(st, 7, g[i].in_flight);
        int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(h, "writing gauges");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != 0)
            return rc;
    }
    *nnext = n;
    return 0;
}

int kumo__history_record(kumo__history *h, const kumo__msnap *snap, const kumo__hgauge *g, size_t ng)
{
    int rc = 0;
    size_t n = h->nprev;
    for (size_t i = 0; snap && i < snap->n; i++)
        if (snap->rows[i].target >= 0 && (size_t)snap->rows[i].target + 1 > n)
            n = (size_t)snap->rows[i].target + 1;
    tstate *cur = calloc(n ? n : 1, sizeof(*cur));
    const kumo__mtarget **labels = calloc(n ? n : 1, sizeof(*labels));
    kumo__hgauge *gnext = calloc(GAUGES_MAX, sizeof(*gnext));
    size_t ngnext = h->nglast;
    if (cur == NULL || labels == NULL || gnext == NULL) {
        rc = -ENOMEM;
        snprintf(h->error, sizeof(h->error), "out of memory");
        goto out;
    }
    memcpy(gnext, h->glast, h->nglast * sizeof(*gnext));
    /* totals per target, over its statuses */
    for (size_t i = 0; snap && i < snap->n; i++) {
        const kumo__mrow *r = &snap->rows[i];
        if (r->target < 0)
            continue;
        tstate *c = &cur[r->target];
        c->seen = 1;
        labels[r->target] = r->labels;
        c->last.rejected += r->rejected;
        if (r->answered)
            continue; /* the gateway answered (no route, the contract, admission): no invocation */
        c->last.requests += r->count;
        c->last.errors += r->errors;
        c->last.timeouts += r->timeouts;
        c->last.cold += r->cold;
        c->last.sum_us += r->sum_us;
        for (int k = 0; k < KUMO__MBUCKETS; k++)
            c->last.buckets[k] += r->buckets[k];
    }
    uint64_t t = snap && snap->taken_ms ? snap->taken_ms : 0;
    if (t == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    }
    if (t <= h->last_t)
        t = h->last_t + 1;
    if ((rc = exec(h, "BEGIN IMMEDIATE")) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        tstate *c = &cur[i];
        const tstate *p = i < h->nprev ? &h->prev[i] : NULL;
        if (!c->seen) {
            if (p)
                *c = *p; /* not in this snapshot: keep what we knew */
            continue;
        }
        c->dbid = p ? p->dbid : 0;
        totals d;
        static const totals zero;
        delta_of(&c->last, p && p->seen ? &p->last : &zero, &d);
        if (totals_empty(&d))
            continue;
        if (c->dbid == 0 && labels[i] && (c->dbid = target_id(h, labels[i])) == 0) {
            rc = db_fail(h, "recording a target");
            break;
        }
        if (c->dbid == 0)
            continue; /* a row without labels: nothing to file it under */
        if ((rc = insert_point(h, t, c->dbid, &d)) != 0)
            break;
    }
    if (rc == 0 && ng > 0)
        rc = write_gauges(h, t, g, ng, gnext, &ngnext);
    if (rc != 0) {
        exec(h, "ROLLBACK");
        goto out;
    }
    if ((rc = exec(h, "COMMIT")) != 0) {
        exec(h, "ROLLBACK");
        goto out;
    }
    /* only now: a failed write is counted again by the next sample */
    free(h->prev);
    h->prev = cur;
    h->nprev = n;
    cur = NULL;
    memcpy(h->glast, gnext, ngnext * sizeof(*gnext));
    h->nglast = ngnext;
    h->last_t = t;
out:
    free(cur);
    free(labels);
    free(gnext);
    return rc;
}

/* ---- pruning ---------------------------------------------------------------------- */

uint64_t kumo__history_bytes(kumo__history *h)
{
    int64_t pages = scalar(h->db, "PRAGMA page_count", 0), free_pages = scalar(h->db, "PRAGMA freelist_count", 0),
            size = scalar(h->db, "PRAGMA page_size", 4096);
    return pages > free_pages ? (uint64_t)(pages - free_pages) * (uint64_t)size : 0;
}

static long delete_before(kumo__history *h, const char *op, int64_t t)
{
    char sql[128];
    long n = 0;
    static const char *const tables[] = {"points", "gauges"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE t %s ?", tables[i], op);
        if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK)
            return db_fail(h, "pruning");
        sqlite3_bind_int64(st, 1, t);
        int ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (!ok)
            return db_fail(h, "pruning");
        n += sqlite3_changes(h->db);
    }
    return n;
}

long kumo__history_prune(kumo__history *h, uint64_t now_ms)
{
    long deleted = 0, rc;
    if (h->keep_s > 0) {
        int64_t cutoff = (int64_t)now_ms - (int64_t)(h->keep_s * 1000.0);
        if ((rc = delete_before(h, "<", cutoff)) < 0)
            return rc;
        deleted += rc;
    }
    /* over the ceiling: the oldest eighth of the points at a time, until
     * under it (a few rounds; each frees pages at the file's old end) */
    for (int round = 0; round < 64 && h->max_bytes > 0; round++) {
        if (exec(h, "PRAGMA incremental_vacuum") != 0)
            return -EIO;
        if (kumo__history_bytes(h) <= h->max_bytes)
            break;
        int64_t n = scalar(h->db, "SELECT count(*) FROM points", 0);
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT t FROM %s ORDER BY t LIMIT 1 OFFSET %lld", n > 0 ? "points" : "gauges",
                 (long long)(n > 0 ? n / 8 : scalar(h->db, "SELECT count(*) FROM gauges", 0) / 8));
        int64_t cut = scalar(h->db, sql, -1);
        if (cut < 0)
            break; /* nothing left to delete: the tables themselves are over it */
        if ((rc = delete_before(h, "<=", cut)) < 0)
            return rc;
        deleted += rc;
    }
    if (deleted > 0) {
        /* targets nothing refers to any more (an operation renamed long ago) */
        if (exec(h, "DELETE FROM targets WHERE id NOT IN (SELECT DISTINCT target FROM points)") == 0 &&
            sqlite3_changes(h->db) > 0)
            for (size_t i = 0; i < h->nprev; i++)
                h->prev[i].dbid = 0; /* looked up (made again) at its next point */
        if (exec(h, "PRAGMA incremental_vacuum") != 0)
            return -EIO;
    }
    return deleted;
}

/* ---- the thread ------------------------------------------------------------------- */

static uint64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void complain(kumo__history *h)
{
    if (strcmp(h->logged, h->error) == 0)
        return;
    snprintf(h->logged, sizeof(h->logged), "%s", h->error);
    kumo__log_event("warn", "metrics history: %s; the dashboard misses these points", h->error);
}

static void sample(kumo__history *h, int with_gauges)
{
    kumo__msnap s;
    memset(&s, 0, sizeof(s));
    if (h->metrics && kumo__metrics_snapshot(h->metrics, &s) != 0) {
        snprintf(h->error, sizeof(h->error), "out of memory taking a metrics snapshot");
        complain(h);
        return;
    }
    size_t ng = with_gauges && h->gauges ? h->gauges(h->gauges_ctx, h->gbuf, GAUGES_MAX) : 0;
    if (kumo__history_record(h, &s, h->gbuf, ng > GAUGES_MAX ? GAUGES_MAX : ng) != 0)
        complain(h);
    else
        h->logged[0] = '\0';
    kumo__msnap_free(&s);
    if (++h->samples % PRUNE_EVERY == 1 || (h->max_bytes > 0 && kumo__history_bytes(h) > h->max_bytes))
        if (kumo__history_prune(h, epoch_ms()) < 0)
            complain(h);
}

static void *run(void *arg)
{
    kumo__history *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += h->interval_ms / 1000;
        ts.tv_nsec += (long)(h->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &ts) != ETIMEDOUT)
            ;
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->lock);
        sample(h, 1);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    sample(h, 0); /* the last seconds' invocations; the pools are gone */
    return NULL;
}

int kumo__history_start(kumo__history *h, kumo__error *err)
{
    int rc = pthread_create(&h->tid, NULL, run, h);
    if (rc != 0) {
        kumo__error_set(err, -rc, "cannot start the metrics history's thread: %s", strerror(rc));
        return -rc;
    }
    h->running = 1;
    return 0;
}

void kumo__history_close(kumo__history *h)
{
    if (h == NULL)
        return;
    if (h->running) {
        pthread_mutex_lock(&h->lock);
        h->stop = 1;
        pthread_cond_signal(&h->cond);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->tid, NULL);
    }
    sqlite3_finalize(h->ins_point);
    sqlite3_finalize(h->ins_gauge);
    sqlite3_finalize(h->ins_target);
    sqlite3_finalize(h->find_target);
    if (h->db)
        sqlite3_close(h->db);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h->prev);
    free(h->gbuf);
    free(h->glast);
    free(h->path);
    free(h);
}

/* ---- queries ---------------------------------------------------------------------- */

typedef struct cell {
    uint64_t requests, errors, timeouts, cold, rejected, sum_us;
    uint64_t b[KUMO__MBUCKETS];
} cell;

typedef struct gcell {
    int v[5]; /* busy, idle, starting, queued, in_flight: the step's highest */
} gcell;

static void cell_add(cell *to, const cell *c)
{
    to->requests += c->requests;
    to->errors += c->errors;
    to->timeouts += c->timeouts;
    to->cold += c->cold;
    to->rejected += c->rejected;
    to->sum_us += c->sum_us;
    for (int k = 0; k < KUMO__MBUCKETS; k++)
        to->b[k] += c->b[k];
}

static json_t *ms_or_null(const cell *c, double q)
{
    if (c->requests == 0)
        return json_null();
    double s = kumo__mbuckets_quantile(c->b, q);
    return isfinite(s) ? json_real(round(s * 1e6) / 1e3) : json_null();
}

static json_t *round3(double v)
{
    return json_real(round(v * 1000.0) / 1000.0);
}

/* The arrays of one series (or the total) over nb cells. */
static json_t *series_json(const cell *cells, size_t nb, int64_t step_s)
{
    json_t *o = json_object();
    const char *names[] = {"requests",   "errors", "timeouts", "cold_starts", "rejected", "rate",
                           "error_rate", "p50_ms", "p90_ms",   "p99_ms",      "mean_ms"};
    enum { NA = sizeof(names) / sizeof(names[0]) };
    json_t *a[NA];
    cell all;
    memset(&all, 0, sizeof(all));
    for (int i = 0; i < NA; i++) {
        a[i] = json_array();
        if (o)
            json_object_set_new(o, names[i], a[i]);
    }
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < nb; i++) {
        const cell *c = &cells[i];
        cell_add(&all, c);
        json_array_append_new(a[0], json_integer((json_int_t)c->requests));
        json_array_append_new(a[1], json_integer((json_int_t)c->errors));
        json_array_append_new(a[2], json_integer((json_int_t)c->timeouts));
        json_array_append_new(a[3], json_integer((json_int_t)c->cold));
        json_array_append_new(a[4], json_integer((json_int_t)c->rejected));
        json_array_append_new(a[5], round3((double)c->requests / (double)step_s));
        json_array_append_new(a[6], c->requests ? round3((double)c->errors / (double)c->requests) : json_null());
        json_array_append_new(a[7], ms_or_null(c, 0.50));
        json_array_append_new(a[8], ms_or_null(c, 0.90));
        json_array_append_new(a[9], ms_or_null(c, 0.99));
        json_array_append_new(a[10],
                              c->requests ? round3((double)c->sum_us / (double)c->requests / 1000.0) : json_null());
    }
    json_object_set_new(
        o, "totals",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "requests", (json_int_t)all.requests, "errors",
                  (json_int_t)all.errors, "timeouts", (json_int_t)all.timeouts, "cold_starts", (json_int_t)all.cold,
                  "rejected", (json_int_t)all.rejected, "error_rate",
                  all.requests ? round3((double)all.errors / (double)all.requests) : json_null(), "p50_ms",
                  ms_or_null(&all, 0.50), "p99_ms", ms_or_null(&all, 0.99), "mean_ms",
                  all.requests ? round3((double)all.sum_us / (double)all.requests / 1000.0) : json_null()));
    return o;
}

/* A target a query shows: its id in the file, its place in the answer. */
typedef struct tref {
    int64_t id;
    size_t order;
    json_t *labels;
} tref;

static int by_id(const void *a, const void *b)
{
    const tref *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* What one query may hold in cells (targets x steps). */
#define QUERY_CELLS_MAX (48u << 20)

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

json_t *kumo__history_query_json(const char *path, const kumo__history_query *q, kumo__error *err)
{
    int64_t step = q->step_s > 0 ? q->step_s : 10, since = q->since_s > 0 ? q->since_s : 3600;
    size_t nb = (size_t)((since + step - 1) / step);
    if (nb > KUMO__HISTORY_MAX_STEPS)
        nb = KUMO__HISTORY_MAX_STEPS;
    if (nb == 0)
        nb = 1;
    int64_t step_ms = step * 1000;
    int64_t end_ms = (((int64_t)q->now_ms + step_ms - 1) / step_ms) * step_ms;
    int64_t start_ms = end_ms - (int64_t)nb * step_ms;

    sqlite3 *db = NULL;
    sqlite3_stmt *tq = NULL, *pq = NULL, *gq = NULL;
    cell *cells = NULL, *total = NULL;
    tref *refs = NULL;
    size_t nt = 0, capt = 0;
    unsigned char *has = NULL;
    gcell *gc = NULL;
    json_t *doc = NULL, *series = json_array(), *fns = json_array(), *tarr = json_array();
    int64_t oldest = 0, bytes = 0;
    if (series == NULL || fns == NULL || tarr == NULL || (cells = calloc(nb, sizeof(*cells))) == NULL ||
        (total = calloc(nb, sizeof(*total))) == NULL || (gc = calloc(nb, sizeof(*gc))) == NULL)
        goto oom;
    for (size_t i = 0; i < nb; i++)
        json_array_append_new(tarr, json_integer((json_int_t)((start_ms + (int64_t)i * step_ms) / 1000)));

    if (access(path, F_OK) == 0) {
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            kumo__error_set(err, -EIO, "cannot read the metrics history %s: %s", path,
                            db ? sqlite3_errmsg(db) : "out of memory");
            goto fail;
        }
        sqlite3_busy_timeout(db, 2000);
        if (sqlite3_prepare_v2(db,
                               "SELECT id, function, operation, route, method, trigger FROM targets WHERE "
                               "(?1 IS NULL OR operation = ?1) AND (?2 IS NULL OR function = ?2) "
                               "ORDER BY function, operation, route, method",
                               -1, &tq, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT t, target, requests, errors, timeouts, cold, rejected, sum_us, buckets FROM "
                               "points WHERE t > ? AND t <= ?",
                               -1, &pq, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT function, t, busy, idle, starting, queued, in_flight FROM gauges WHERE t > ? "
                               "AND t <= ? AND (?3 IS NULL OR function = ?3) ORDER BY function, t",
                               -1, &gq, NULL) != SQLITE_OK) {
            kumo__error_set(err, -EIO, "cannot read the metrics history %s: %s", path, sqlite3_errmsg(db));
            goto fail;
        }
        if (q->operation)
            sqlite3_bind_text(tq, 1, q->operation, -1, SQLITE_STATIC);
        if (q->function)
            sqlite3_bind_text(tq, 2, q->function, -1, SQLITE_STATIC);
        /* the targets asked for, then one pass over the window's points
         * (the key starts with t: a range scan), each into its target's
         * row of cells */
        while (sqlite3_step(tq) == SQLITE_ROW) {
            if (nt == capt) {
                size_t cap = capt ? capt * 2 : 16;
                tref *more = realloc(refs, cap * sizeof(*refs));
                if (more == NULL)
                    goto oom;
                refs = more;
                capt = cap;
            }
            refs[nt].id = sqlite3_column_int64(tq, 0);
            refs[nt].order = nt;
            refs[nt].labels =
                json_pack("{s:s, s:s, s:s, s:s, s:s}", "function", col_text(tq, 1), "operation", col_text(tq, 2),
                          "route", col_text(tq, 3), "method", col_text(tq, 4), "trigger", col_text(tq, 5));
            if (refs[nt++].labels == NULL)
                goto oom;
        }
        if (nt > 0 && nb * sizeof(cell) > QUERY_CELLS_MAX / nt) {
            kumo__error_set(err, -E2BIG,
                            "%zu series of %zu points is more than a query holds; ask for one operation= or "
                            "function=, or a larger step=",
                            nt, nb);
            goto fail;
        }
        free(cells);
        if ((cells = calloc(nt ? nt * nb : 1, sizeof(*cells))) == NULL || (has = calloc(nt ? nt : 1, 1)) == NULL)
            goto oom;
        tref *byid = malloc((nt ? nt : 1) * sizeof(*byid));
        if (byid == NULL)
            goto oom;
        if (nt > 0) {
            memcpy(byid, refs, nt * sizeof(*byid));
            qsort(byid, nt, sizeof(*byid), by_id);
        }
        sqlite3_bind_int64(pq, 1, start_ms);
        sqlite3_bind_int64(pq, 2, end_ms);
        while (sqlite3_step(pq) == SQLITE_ROW) {
            tref key = {.id = sqlite3_column_int64(pq, 1)};
            const tref *r = bsearch(&key, byid, nt, sizeof(*byid), by_id);
            size_t i = (size_t)((sqlite3_column_int64(pq, 0) - start_ms - 1) / step_ms);
            if (r == NULL || i >= nb)
                continue; /* another operation's, or outside */
            cell *c = &cells[r->order * nb + i];
            c->requests += (uint64_t)sqlite3_column_int64(pq, 2);
            c->errors += (uint64_t)sqlite3_column_int64(pq, 3);
            c->timeouts += (uint64_t)sqlite3_column_int64(pq, 4);
            c->cold += (uint64_t)sqlite3_column_int64(pq, 5);
            c->rejected += (uint64_t)sqlite3_column_int64(pq, 6);
            c->sum_us += (uint64_t)sqlite3_column_int64(pq, 7);
            const void *blob = sqlite3_column_blob(pq, 8);
            if (blob)
                kumo__history_blob_add(blob, (size_t)sqlite3_column_bytes(pq, 8), c->b);
            has[r->order] = 1;
        }
        free(byid);
        for (size_t k = 0; k < nt; k++) {
            if (!has[k])
                continue; /* no traffic in the window: no series */
            const cell *row = &cells[k * nb];
            for (size_t i = 0; i < nb; i++)
                cell_add(&total[i], &row[i]);
            json_t *s = series_json(row, nb, step);
            if (s == NULL || json_object_update(s, refs[k].labels) != 0 || json_array_append_new(series, s) != 0)
                goto oom;
        }
        sqlite3_bind_int64(gq, 1, start_ms);
        sqlite3_bind_int64(gq, 2, end_ms);
        if (q->function)
            sqlite3_bind_text(gq, 3, q->function, -1, SQLITE_STATIC);
        char fn[128] = "";
        int have = 0;
        for (int more = 1; more;) {
            more = sqlite3_step(gq) == SQLITE_ROW;
            if (have && (!more || strcmp(fn, col_text(gq, 0)) != 0)) {
                /* one function done: its arrays, the step's highest value */
                json_t *f = json_pack("{s:s}", "function", fn);
                const char *names[] = {"busy", "idle", "starting", "queued", "in_flight"};
                for (int k = 0; f && k < 5; k++) {
                    json_t *a = json_array();
                    for (size_t i = 0; a && i < nb; i++)
                        json_array_append_new(a, json_integer(gc[i].v[k]));
                    json_object_set_new(f, names[k], a);
                }
                if (f == NULL || json_array_append_new(fns, f) != 0)
                    goto oom;
                memset(gc, 0, nb * sizeof(*gc));
                have = 0;
            }
            if (!more)
                break;
            snprintf(fn, sizeof(fn), "%s", col_text(gq, 0));
            have = 1;
            size_t i = (size_t)((sqlite3_column_int64(gq, 1) - start_ms - 1) / step_ms);
            if (i >= nb)
                continue;
            for (int k = 0; k < 5; k++) {
                int x = sqlite3_column_int(gq, 2 + k);
                if (x > gc[i].v[k])
                    gc[i].v[k] = x;
            }
        }
        oldest = scalar(db, "SELECT min(t) FROM points", 0);
        int64_t pages = scalar(db, "PRAGMA page_count", 0), free_pages = scalar(db, "PRAGMA freelist_count", 0);
        bytes = (pages - free_pages) * scalar(db, "PRAGMA page_size", 4096);
    }
    json_t *tot = series_json(total, nb, step);
    doc = json_pack("{s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:o?, s:o, s:o, s:o}", "now", (json_int_t)(q->now_ms / 1000),
                    "since_s", (json_int_t)since, "step_s", (json_int_t)step, "interval_s", q->interval_ms / 1000.0,
                    "keep_s", (json_int_t)q->keep_s, "max_bytes", (json_int_t)q->max_bytes, "size_bytes",
                    (json_int_t)bytes, "oldest", oldest > 0 ? json_integer(oldest / 1000) : json_null(), "t", tarr,
                    "series", series, "functions", fns);
    tarr = series = fns = NULL;
    if (doc == NULL || tot == NULL) {
        json_decref(tot);
        goto oom;
    }
    json_object_set_new(doc, "total", tot);
    goto out;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
fail:
    json_decref(doc);
    doc = NULL;
out:
    json_decref(series);
    json_decref(fns);
    json_decref(tarr);
    sqlite3_finalize(tq);
    sqlite3_finalize(pq);
    sqlite3_finalize(gq);
    if (db)
        sqlite3_close(db);
    free(cells);
    free(total);
    free(gc);
    free(has);
    for (size_t k = 0; k < nt; k++)
        json_decref(refs[k].labels);
    free(refs);
    return doc;
}
