/*
 * logstore.h: kumo up's log store, `.kumo/data/logs.db` (logstore.c).
 *
 * kumo up's fd 2 becomes the write end of a pipe; the gateway, its fork
 * servers, workers and compilers inherit it, so every line any of them
 * writes passes through. A reader thread writes each byte unchanged to the
 * real stderr first, then queues each whole line; a writer thread parses
 * the lines (a JSON object: its time, level, msg, request_id, trace_id,
 * function, operation; anything else: the text as msg, level info) and
 * inserts them into SQLite (WAL), many per transaction, deleting the
 * oldest rows to stay under the size cap. `kumo logs` (cli/logs.c) reads
 * the file, while kumo runs or after it stopped. docs/logs.md has the
 * user's side.
 *
 * The table (KUMO__LOGSTORE_VERSION is its PRAGMA user_version):
 *
 *   logs(id INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order, never reused
 *        time INTEGER,   -- the line's `time`, epoch microseconds (else when read)
 *        level TEXT,     -- debug, info, warn or error
 *        msg TEXT, request_id TEXT, trace_id TEXT, function TEXT, operation TEXT,
 *        line TEXT)      -- the line as written, without its newline
 */
#ifndef KUMO_OBS_LOGSTORE_H
#define KUMO_OBS_LOGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define KUMO__LOGSTORE_FILE "logs.db"
#define KUMO__LOGSTORE_VERSION 1
/* A line is stored up to this many bytes (stderr gets all of it). */
#define KUMO__LOGSTORE_LINE_MAX 16384

typedef struct kumo__metrics kumo__metrics;

/* ---- the database: what the writer thread does, usable on its own ---- */

typedef struct kumo__logdb kumo__logdb;

/* Opens (creating it, its directory and its table when missing) the store
 * at `path`, capped at max_bytes (at least 1 MiB): 0 with *out the
 * caller's (kumo__logdb_close), or an error naming the file. A file over
 * the cap (a smaller cap than last time) is trimmed and compacted. */
int kumo__logdb_open(const char *path, size_t max_bytes, kumo__logdb **out, kumo__error *err);
/* Stores each line of buf[0..len) (lines end in '\n'; a last one without
 * is stored too), in transactions of bounded size, each followed by the
 * cap's check. Lines without a time of their own get now_us. 0, or a
 * negative code with err set (SQLite failed: the caller stops using db). */
int kumo__logdb_append(kumo__logdb *db, const char *buf, size_t len, int64_t now_us, kumo__error *err);
/* The same for several buffers at once, in as few transactions as their
 * bytes allow (the writer thread's batch: one transaction for many
 * pushes, not one each). A piece's lines without a time get its at_us. */
typedef struct kumo__logdb_piece {
    const char *buf;
    size_t len;
    int64_t at_us;
} kumo__logdb_piece;
int kumo__logdb_append_pieces(kumo__logdb *db, const kumo__logdb_piece *pieces, size_t n, kumo__error *err);
/* Closes db; NULL does nothing. */
void kumo__logdb_close(kumo__logdb *db);

/* One line read for the store: the fields point into the record's own
 * buffer (decoded, NUL-terminated) or into the line itself. */
typedef struct kumo__logrec {
    int64_t time_us;
    const char *level; /* "debug", "info", "warn", "error" (static) */
    const char *msg;
    size_t msg_len;
    const char *request_id, *trace_id, *function, *operation; /* NULL when absent */
    int is_json;
    char buf[KUMO__LOGSTORE_LINE_MAX + 8];
} kumo__logrec;
/* Reads line[0..len) (no newline; at most KUMO__LOGSTORE_LINE_MAX bytes,
 * a longer one is text): 1 when it is a JSON object (RFC 8259; duplicate
 * names: the last counts; bytes of 0x80 and up taken as they are): its
 * `time` when it is an RFC 3339 string, else now_us; `level` mapped onto
 * the four (warning is warn, fatal/critical/err... are error, trace is
 * debug, others info); `msg`, or `message`, or ""; and the string members
 * request_id, trace_id, function, operation. 0 for any other text: msg is
 * the text, level info, time now_us. Allocates nothing. */
int kumo__logrec_parse(const char *line, size_t len, int64_t now_us, kumo__logrec *out);
/* The rank of a level name (debug 0 ... error 3), -1 for another name. */
int kumo__log_level_rank(const char *level);

/* ---- the store: the pipe on fd 2 and its two threads ------------------ */

typedef struct kumo__logstore kumo__logstore;

/* Makes fd 2 the write end of a pipe (1 MiB where the system allows) read
 * by the store's threads; everything the process and its future children
 * write to fd 2 goes to the real stderr and to the store at
 * data_dir/logs.db, which the writer thread opens (kumo__logdb_open) as
 * its first act, off the caller's path: lines written meanwhile wait for
 * it; a file that cannot be opened is said on the real stderr (a warn
 * line) and the lines then reach stderr only. 0 with *out the caller's
 * (kumo__logstore_stop), or an error (fd 2 is then unchanged). Call
 * before starting other threads that write to fd 2. */
int kumo__logstore_start(const char *data_dir, size_t max_bytes, kumo__logstore **out, kumo__error *err);
/* Waits until the writer has opened the file: 0, or -1 when it could not
 * (for tests that then hold the file's lock; nothing else needs to). */
int kumo__logstore_wait_open(kumo__logstore *ls);
/* Gives fd 2 back its real stderr, reads what is still in the pipe
 * (until every writer closed it, or at most a couple of seconds for
 * children still alive), stores it, stops the threads and frees ls.
 * NULL does nothing. */
void kumo__logstore_stop(kumo__logstore *ls);
/* Lines the process itself writes at a high rate (the gateway's access
 * log), handed over without the pipe: buf[0..len) (whole lines; a last
 * one without its newline gets one) goes to the real stderr, then to the
 * store's queue (dropped, counted, when it is full). Any thread; never
 * waits for the database. Saves the pipe's two copies and the reader's
 * wake-up per write. */
void kumo__logstore_put(kumo__logstore *ls, const char *buf, size_t len);

/* Where lines the store could not keep are counted
 * (kumo_log_lines_dropped_total; those dropped before are added on
 * attach); NULL detaches (before m is freed). Any thread. */
void kumo__logstore_metrics(kumo__logstore *ls, kumo__metrics *m);
/* Lines that reached stderr but not the store so far: the writer fell
 * behind (its queue was full) or SQLite failed. */
uint64_t kumo__logstore_dropped(kumo__logstore *ls);

#endif
