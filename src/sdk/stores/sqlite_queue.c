/*
 * sqlite_queue.c: the embedded queue driver, `sqlite:PATH` (as the kv
 * driver, sqlite.c: `sqlite:///abs/file.db` is /abs/file.db). The default
 * queue of the local runtime: every worker process of a project opens the
 * same file and takes messages from it.
 *
 * Layout: one table for every queue in the file, with a queue column (the
 * dead-letter queue NAME-dead is just another value of it):
 *
 *   kumo_queue(id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT, body BLOB,
 *              visible_at INTEGER, receives INTEGER, receipt TEXT,
 *              sent_at INTEGER, trace TEXT)
 *   kumo_queue_ready ON kumo_queue(queue, visible_at, id)
 *
 * Times are epoch milliseconds (CLOCK_REALTIME: shared by the processes).
 * A message is ready when visible_at <= now. AUTOINCREMENT: ids are never
 * reused, so an old receipt can never name a new message.
 *
 * Receive, in one BEGIN IMMEDIATE transaction (writers of the file are
 * serialized, and WAL keeps readers of kv stores in the same file going):
 *  1. ready messages already received max_receives times move to NAME-dead
 *     (receives reset, ready at once there);
 *  2. one UPDATE ... WHERE id IN (the first `max` ready ids) ... RETURNING
 *     claims them: visible_at = now + visibility, receives + 1, and a fresh
 *     receipt "ID:RANDOM". Two workers can never claim the same message
 *     while its visibility lasts: the second transaction runs after the
 *     first committed and no longer sees it as ready.
 * Ack deletes the row whose id and current receipt match; nack makes it
 * ready after its delay and clears the receipt. A receipt goes stale when
 * another receive replaced it, and then ack and nack are KUMO_ENOTFOUND.
 * Order: oldest visible_at first, ids breaking ties (roughly FIFO; not a
 * promise the API makes).
 *
 * Durability: a send commits with synchronous=FULL, a receive, ack or
 * nack with NORMAL (set_sync). wait: inotify on the database's
 * directory (sq_wait). sent_at is the message's send time (sent_ms),
 * trace the sender's traceparent (NULL: none); a file from before the
 * trace column gets it when opened (ALTER TABLE, its rows NULL).
 *
 * The URL's query: max_receives= (queue.c), create=false (the file and the
 * table must exist; KUMO_EUNAVAILABLE otherwise). Errors map as in
 * sqlite.c; sqlite's message goes to the handle's `error`.
 */
#include "sdk/sdk.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include "sdk/stores/sqlite_lazy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SEND,
    ST_DEAD,
    ST_CLAIM,
    ST_ACK,
    ST_NACK,
    ST_SYNC_FULL,
    ST_SYNC_NORMAL,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SEND] = "INSERT INTO kumo_queue (queue, body, visible_at, receives, sent_at, trace) "
                "VALUES (?1, ?2, ?3, 0, ?4, ?5) RETURNING id",
    [ST_DEAD] = "UPDATE kumo_queue SET queue = ?2, receives = 0, receipt = NULL, visible_at = ?3 "
                "WHERE queue = ?1 AND visible_at <= ?3 AND receives >= ?4",
    [ST_CLAIM] = "UPDATE kumo_queue SET visible_at = ?3, receives = receives + 1, "
                 "receipt = id || ':' || lower(hex(randomblob(12))) "
                 "WHERE id IN (SELECT id FROM kumo_queue WHERE queue = ?1 AND visible_at <= ?2 "
                 "ORDER BY visible_at, id LIMIT ?4) RETURNING id, body, receives, receipt, sent_at, trace",
    [ST_ACK] = "DELETE FROM kumo_queue WHERE id = ?1 AND queue = ?2 AND receipt = ?3",
    [ST_NACK] = "UPDATE kumo_queue SET visible_at = ?4, receipt = NULL WHERE id = ?1 AND queue = ?2 AND receipt = ?3",
    [ST_SYNC_FULL] = "PRAGMA synchronous=FULL",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS kumo_queue ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,"
    "  visible_at INTEGER NOT NULL, receives INTEGER NOT NULL DEFAULT 0, receipt TEXT, sent_at INTEGER NOT NULL,"
    "  trace TEXT);"
    "CREATE INDEX IF NOT EXISTS kumo_queue_ready ON kumo_queue (queue, visible_at, id);";

/* Files from before the trace column get it (old rows: NULL, no trace). */
static const char schema_trace[] = "ALTER TABLE kumo_queue ADD COLUMN trace TEXT;";
static int migrate_trace(sqlite3 *db, const char **step)
{
    if (sqlite3_exec(db, "SELECT trace FROM kumo_queue LIMIT 0", NULL, NULL, NULL) == SQLITE_OK)
        return SQLITE_OK;
    *step = schema_trace;
    return sqlite3_exec(db, schema_trace, NULL, NULL, NULL);
}

typedef struct sqlite_queue {
    kumo__queue base; /* first: queue.c sees a kumo__queue */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    pthread_mutex_t lock;
    char *dead; /* NAME-dead, made on first use */
    /* wait: an inotify descriptor on the database's directory (-1 until
     * the first wait), and the names in it that mean "written": the
     * database, its -wal and its -journal. */
    int notify_fd;
    char *file_base; /* the database's file name, without its directory */
    int sync_full;   /* the connection's synchronous setting: 1 FULL (as opened), 0 NORMAL */
} sqlite_queue;

/* Visibility times are epoch milliseconds: they mean the same to every
 * process that opens the file. */
static int64_t now_ms(void)
{
    return (int64_t)kumo__epoch_ms();
}

static int fail(sqlite_queue *s, const char *what, int rc)
{
    char why[200];
    kumo__sqlite_describe(s->db, rc, why, sizeof(why));
    snprintf(s->base.error, sizeof(s->base.error), "sqlite %.40s: %s", what, why);
    kumo_log(NULL, KUMO_LOG_ERROR, "queue '%s': %s", s->base.name ? s->base.name : "?", s->base.error);
    return kumo__sqlite_status(rc);
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int exec_st(sqlite_queue *s, int which)
{
    int rc = kumo__sqlite_step(s->st[which], which == ST_BEGIN);
    return rc == SQLITE_DONE ? 0 : fail(s, sql[which], rc);
}

/* The queue's busy handler, in place of busy_timeout's. A consumer woken
 * by a send (sq_wait) runs its receive while the sender still holds the
 * write lock for its commit's fsync: SQLite's own handler would sleep 1,
 * 2, 5, 10 ms ... and add them to every delivery. This one retries every
 * 200 us for the first 20 ms, then every 2 ms, and gives up after about
 * the same 5 s. */
#define QUEUE_BUSY_FINE 100                       /* tries of 200 us */
#define QUEUE_BUSY_TRIES (QUEUE_BUSY_FINE + 2490) /* then 2 ms each: about 5 s in all */
static int queue_busy(void *arg, int count)
{
    (void)arg;
    if (count >= QUEUE_BUSY_TRIES)
        return 0;
    struct timespec ts = {0, count < QUEUE_BUSY_FINE ? 200000L : 2000000L};
    nanosleep(&ts, NULL);
    return 1;
}

static void sq_close(kumo__store *q)
{
    sqlite_queue *s = (sqlite_queue *)q;
    if (s == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    if (s->notify_fd >= 0)
        close(s->notify_fd);
    free(s->file_base);
    pthread_mutex_destroy(&s->lock);
    free(s->dead);
    free(s);
}

static int sq_open(const char *url, const char *name, kumo__store **out, kumo__error *e)
{
    *out = NULL;
    sqlite_queue *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->notify_fd = -1;
    s->sync_full = 1;
    int rc = 0, may_create = 1, src;
    size_t dlen = strlen(name) + sizeof("-dead");
    if ((s->dead = malloc(dlen)) == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    snprintf(s->dead, dlen, "%s-dead", name);
    static const char *const known[] = {"create", "max_receives", NULL};
    if ((rc = kumo__url_params_known(url, known, e)) != 0 ||
        (rc = kumo__sqlite_open_url(url, schema, migrate_trace, &s->db, &may_create, e)) != 0)
        goto out;
    sqlite3_busy_handler(s->db, queue_busy, NULL);
    for (int i = 0; i < ST_COUNT; i++) {
        src = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (src != SQLITE_OK) {
            char why[256];
            kumo__sqlite_describe(s->db, src, why, sizeof(why));
            rc = may_create ? kumo__sqlite_status(src) : KUMO_EUNAVAILABLE;
            kumo__error_set(e, rc, "%s: %s%s", sqlite3_db_filename(s->db, "main"), why,
                            may_create ? ""
                                       : " (create=false: the table kumo_queue must exist, as this kumo makes it: "
                                         "a table from before message traces needs ALTER TABLE kumo_queue ADD "
                                         "COLUMN trace TEXT)");
            goto out;
        }
    }
    *out = &s->base.store;
out:
    if (rc != 0)
        sq_close(&s->base.store);
    return rc;
}

/* Durability per call (the lock held). A send is acknowledged to its
 * caller, so its commit is synced (FULL). A receive, ack or nack that a
 * power loss undoes only brings a message back (received again, or
 * visible again): at least once still holds, so they commit without an
 * fsync (NORMAL: WAL stays consistent; the next synced commit or
 * checkpoint makes them durable). That takes an fsync off every delivery. */
static void set_sync(sqlite_queue *s, int full)
{
    if (s->sync_full == full)
        return;
    sqlite3_stmt *st = s->st[full ? ST_SYNC_FULL : ST_SYNC_NORMAL];
    if (sqlite3_step(st) == SQLITE_DONE) /* else it stays as it was, and is tried again next call */
        s->sync_full = full;
    done(st);
}

static int sq_send(kumo__queue *q, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms, const char *trace,
                   const char **id)
{
    sqlite_queue *s = (sqlite_queue *)q;
    sqlite3_stmt *st = s->st[ST_SEND];
    int64_t now = now_ms();
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    set_sync(s, 1);
    sqlite3_bind_text(st, 1, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now + (int64_t)delay_ms);
    sqlite3_bind_int64(st, 4, now);
    if (trace)
        sqlite3_bind_text(st, 5, trace, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = fail(s, "send", src);
        goto out;
    }
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)sqlite3_column_int64(st, 0));
    src = sqlite3_step(st); /* finishes the statement: the insert commits */
    if (src != SQLITE_DONE) {
        rc = fail(s, "send", src);
        goto out;
    }
    if ((*id = kumo__arena_strndup(a, buf, strlen(buf))) == NULL)
        rc = KUMO_ENOMEM;
out:
    done(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_receive(kumo__queue *q, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                      size_t *count)
{
    sqlite_queue *s = (sqlite_queue *)q;
    int64_t now = now_ms();
    int rc, src, in_tx = 0;
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    set_sync(s, 0);
    if ((rc = exec_st(s, ST_BEGIN)) != 0)
        goto out;
    in_tx = 1;

    sqlite3_stmt *dead = s->st[ST_DEAD];
    sqlite3_bind_text(dead, 1, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(dead, 2, s->dead, -1, SQLITE_STATIC);
    sqlite3_bind_int64(dead, 3, now);
    sqlite3_bind_int64(dead, 4, s->base.max_receives);
    src = sqlite3_step(dead);
    done(dead);
    if (src != SQLITE_DONE) {
        rc = fail(s, "dead-lettering", src);
        goto out;
    }

    sqlite3_stmt *claim = s->st[ST_CLAIM];
    sqlite3_bind_text(claim, 1, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(claim, 2, now);
    sqlite3_bind_int64(claim, 3, now + (int64_t)visibility_ms);
    sqlite3_bind_int64(claim, 4, (sqlite3_int64)max);
    while ((src = sqlite3_step(claim)) == SQLITE_ROW) {
        kumo_queue_message *m = &out[n];
        char id[24];
        snprintf(id, sizeof(id), "%" PRId64, (int64_t)sqlite3_column_int64(claim, 0));
        m->len = (size_t)sqlite3_column_bytes(claim, 1);
        m->body = kumo__arena_strndup(a, sqlite3_column_blob(claim, 1), m->len);
        m->receives = (unsigned)sqlite3_column_int(claim, 2);
        m->sent_ms = (int64_t)sqlite3_column_int64(claim, 4);
        const char *receipt = (const char *)sqlite3_column_text(claim, 3);
        m->receipt = receipt ? kumo__arena_strndup(a, receipt, strlen(receipt)) : NULL;
        m->id = kumo__arena_strndup(a, id, strlen(id));
        m->trace = kumo__queue_trace_copy(a, (const char *)sqlite3_column_text(claim, 5),
                                          (size_t)sqlite3_column_bytes(claim, 5));
        if (m->body == NULL || m->receipt == NULL || m->id == NULL) {
            done(claim);
            rc = KUMO_ENOMEM;
            goto out;
        }
        n++;
    }
    done(claim);
    if (src != SQLITE_DONE) {
        rc = fail(s, "receive", src);
        goto out;
    }
    if ((rc = exec_st(s, ST_COMMIT)) != 0)
        goto out;
    in_tx = 0;
    *count = n;
out:
    /* The ROLLBACK's own outcome is not reported: the error that led here
     * is the one kumo_store_error must name. */
    if (in_tx && sqlite3_get_autocommit(s->db) == 0)
        kumo__sqlite_step(s->st[ST_ROLLBACK], 0);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Ack (which == ST_ACK) or nack: the row whose id and receipt match. */
static int settle(sqlite_queue *s, int which, const char *receipt, uint64_t delay_ms)
{
    char *end;
    errno = 0;
    long long id = strtoll(receipt, &end, 10);
    if (errno != 0 || end == receipt || *end != ':') {
        snprintf(s->base.error, sizeof(s->base.error), "'%.64s' is not a receipt of this queue", receipt);
        return KUMO_ENOTFOUND;
    }
    sqlite3_stmt *st = s->st[which];
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    set_sync(s, 0);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, s->base.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, receipt, -1, SQLITE_STATIC);
    if (which == ST_NACK)
        sqlite3_bind_int64(st, 4, now_ms() + (int64_t)delay_ms);
    int src = sqlite3_step(st);
    done(st);
    if (src != SQLITE_DONE) {
        rc = fail(s, which == ST_ACK ? "ack" : "nack", src);
    } else if (sqlite3_changes(s->db) == 0) {
        snprintf(s->base.error, sizeof(s->base.error),
                 "receipt is stale: the message was acked, or its visibility ran out and it was received again");
        rc = KUMO_ENOTFOUND;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_ack(kumo__queue *q, const char *receipt)
{
    return settle((sqlite_queue *)q, ST_ACK, receipt, 0);
}

static int sq_nack(kumo__queue *q, const char *receipt, uint64_t delay_ms)
{
    return settle((sqlite_queue *)q, ST_NACK, receipt, delay_ms);
}

/* ---- wait: inotify on the database's directory ------------------------
 *
 * In WAL mode a commit appends to FILE-wal with write(2), which inotify
 * reports as IN_MODIFY from any process; a checkpoint writes FILE itself.
 * The -wal file may be missing (the last connection to close deletes it,
 * and the next writer creates it again) or replaced, so the watch is on
 * the directory, not on the file, and events are matched by name: FILE,
 * FILE-wal, FILE-journal. Changes to the -shm file are made through
 * mmap(2) and never reported; they need not be: every commit writes the
 * -wal. A wake-up may be spurious (another store in the directory's file,
 * a receive's own commit, an ack): receive decides. The descriptor is made
 * at the first wait, which returns at once, since a message sent between
 * the caller's last receive and the watch would not be reported. */

static int sq_notify_open(sqlite_queue *s)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    if (path == NULL || *path == '\0') {
        snprintf(s->base.error, sizeof(s->base.error), "sqlite wait: the database has no file name to watch");
        return KUMO_EINVAL;
    }
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 1;
    if (dlen == 0)
        dlen = 1; /* a file in / */
    if (dlen >= sizeof(dir)) {
        snprintf(s->base.error, sizeof(s->base.error), "sqlite wait: the database's directory name is too long");
        return KUMO_EINVAL;
    }
    if (s->file_base == NULL && (s->file_base = strdup(slash ? slash + 1 : path)) == NULL)
        return KUMO_ENOMEM;
    memcpy(dir, slash ? path : ".", dlen);
    dir[dlen] = '\0';
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        snprintf(s->base.error, sizeof(s->base.error), "sqlite wait: cannot watch %.180s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return KUMO_EIO;
    }
    s->notify_fd = fd;
    return 0;
}

/* Reads every pending event: 1 when one names the database or its logs. */
static int sq_notify_drain(sqlite_queue *s)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    size_t blen = strlen(s->file_base);
    int hit = 0;
    ssize_t n;
    while ((n = read(s->notify_fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW)
                hit = 1;
            else if (ev->len > 0 && strncmp(ev->name, s->file_base, blen) == 0 &&
                     (ev->name[blen] == '\0' || strcmp(ev->name + blen, "-wal") == 0 ||
                      strcmp(ev->name + blen, "-journal") == 0))
                hit = 1;
            p += sizeof(*ev) + ev->len;
        }
    }
    return hit;
}

static int sq_wait(kumo__queue *q, uint64_t timeout_ms)
{
    sqlite_queue *s = (sqlite_queue *)q;
    if (s->notify_fd < 0)
        return sq_notify_open(s); /* the first wait: see above */
    uint64_t end = kumo__mono_ms() + timeout_ms;
    for (;;) {
        uint64_t now = kumo__mono_ms();
        if (now >= end)
            return 0;
        uint64_t left = end - now;
        struct pollfd p = {.fd = s->notify_fd, .events = POLLIN};
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0 && errno != EINTR) {
            snprintf(s->base.error, sizeof(s->base.error), "sqlite wait: poll: %s", strerror(errno));
            return KUMO_EIO;
        }
        if (r > 0 && sq_notify_drain(s))
            return 0;
    }
}
static int sq_depth(kumo__queue *q, kumo__queue_depth *out);
/* Several sends in one transaction (the blob outbox, file_blob.c): all of
 * them or none. Each goes to its own queue of q's file, with q's statement. */
int kumo__sqlite_queue_send_many(kumo__queue *q, const char *const *queues, const void *const *bodies,
                                 const size_t *lens, size_t n)
{
    if (q == NULL || q->driver != &kumo__queue_sqlite_driver)
        return KUMO_EINVAL;
    sqlite_queue *s = (sqlite_queue *)q;
    sqlite3_stmt *st = s->st[ST_SEND];
    int64_t now = now_ms();
    int rc, src, in_tx = 0;
    pthread_mutex_lock(&s->lock);
    if ((rc = exec_st(s, ST_BEGIN)) != 0)
        goto out;
    in_tx = 1;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, queues[i], -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, bodies[i], (int)lens[i], SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, now);
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            ;
        done(st);
        if (src != SQLITE_DONE) {
            rc = fail(s, "send", src);
            goto out;
        }
    }
    if ((rc = exec_st(s, ST_COMMIT)) != 0)
        goto out;
    in_tx = 0;
out:
    if (in_tx && sqlite3_get_autocommit(s->db) == 0)
        kumo__sqlite_step(s->st[ST_ROLLBACK], 0);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

const kumo__queue_driver kumo__queue_sqlite_driver = {
    .common = {.version = KUMO__QUEUE_DRIVER_VERSION, .scheme = "sqlite", .open = sq_open, .close = sq_close},
    .send = sq_send,
    .receive = sq_receive,
    .ack = sq_ack,
    .nack = sq_nack,
    .wait = sq_wait,
    .depth = sq_depth,
};

/* `kumo events`' figures: one read of the queue's rows by state. A row with
 * a receipt and a visibility still running is in flight; one without a
 * receipt that is not visible yet was sent or nacked with a delay. */
static int sq_depth(kumo__queue *q, kumo__queue_depth *out)
{
    sqlite_queue *s = (sqlite_queue *)q;
    static const char count[] =
        "SELECT coalesce(sum(visible_at <= ?2), 0), "
        "coalesce(sum(visible_at > ?2 AND receipt IS NOT NULL), 0), "
        "coalesce(sum(visible_at > ?2 AND receipt IS NULL), 0) FROM kumo_queue WHERE queue = ?1";
    sqlite3_stmt *st = NULL;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    int src = sqlite3_prepare_v2(s->db, count, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->base.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms());
        src = sqlite3_step(st);
    }
    if (src != SQLITE_ROW) {
        rc = fail(s, "depth", src);
    } else {
        out->ready = sqlite3_column_int64(st, 0);
        out->in_flight = sqlite3_column_int64(st, 1);
        out->delayed = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
