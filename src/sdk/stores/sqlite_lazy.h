/*
 * sqlite_lazy.h: SQLite for the embedded default's drivers (sqlite.c,
 * sqlite_queue.c, sqlite_topic.c), and in kumo-http's SDK
 * (KUMO_SQLITE_LAZY: CMakeLists.txt) loaded when the first such store
 * opens rather than linked: an image whose stores are all in a cloud then
 * carries no SQLite, and one that keeps a store embedded carries
 * libsqlite3 beside kumo-http (deploy/bundle.c). Elsewhere the calls are
 * SQLite's own and kumo__sqlite_load does nothing.
 *
 * kumo__sqlite_load must have returned 0 before any other sqlite3_* call:
 * kumo__sqlite_open_url (sqlite.c) is the one way to a database, and it
 * loads first.
 */
#ifndef KUMO_STORES_SQLITE_LAZY_H
#define KUMO_STORES_SQLITE_LAZY_H

#include <sqlite3.h>
#include <stddef.h>

/* Loads SQLite once (thread-safe): 0, or -1 with why in err. */
int kumo__sqlite_load(char *err, size_t errlen);

#if KUMO_SQLITE_LAZY
/* clang-format off */
typedef struct kumo__sqlite_api {
    __typeof__(sqlite3_open_v2) *open_v2;
    __typeof__(sqlite3_close) *close;
    __typeof__(sqlite3_exec) *exec;
    __typeof__(sqlite3_prepare_v2) *prepare_v2;
    __typeof__(sqlite3_prepare_v3) *prepare_v3;
    __typeof__(sqlite3_step) *step;
    __typeof__(sqlite3_reset) *reset;
    __typeof__(sqlite3_finalize) *finalize;
    __typeof__(sqlite3_clear_bindings) *clear_bindings;
    __typeof__(sqlite3_bind_int) *bind_int;
    __typeof__(sqlite3_bind_int64) *bind_int64;
    __typeof__(sqlite3_bind_text) *bind_text;
    __typeof__(sqlite3_bind_blob) *bind_blob;
    __typeof__(sqlite3_bind_null) *bind_null;
    __typeof__(sqlite3_column_int) *column_int;
    __typeof__(sqlite3_column_int64) *column_int64;
    __typeof__(sqlite3_column_text) *column_text;
    __typeof__(sqlite3_column_blob) *column_blob;
    __typeof__(sqlite3_column_bytes) *column_bytes;
    __typeof__(sqlite3_changes) *changes;
    __typeof__(sqlite3_get_autocommit) *get_autocommit;
    __typeof__(sqlite3_db_filename) *db_filename;
    __typeof__(sqlite3_randomness) *randomness;
    __typeof__(sqlite3_extended_result_codes) *extended_result_codes;
    __typeof__(sqlite3_extended_errcode) *extended_errcode;
    __typeof__(sqlite3_errcode) *errcode;
    __typeof__(sqlite3_errmsg) *errmsg;
    __typeof__(sqlite3_errstr) *errstr;
    __typeof__(sqlite3_busy_timeout) *busy_timeout;
    __typeof__(sqlite3_busy_handler) *busy_handler;
} kumo__sqlite_api;
/* clang-format on */

extern kumo__sqlite_api kumo__sqlite;

#define sqlite3_open_v2 (kumo__sqlite.open_v2)
#define sqlite3_close (kumo__sqlite.close)
#define sqlite3_exec (kumo__sqlite.exec)
#define sqlite3_prepare_v2 (kumo__sqlite.prepare_v2)
#define sqlite3_prepare_v3 (kumo__sqlite.prepare_v3)
#define sqlite3_step (kumo__sqlite.step)
#define sqlite3_reset (kumo__sqlite.reset)
#define sqlite3_finalize (kumo__sqlite.finalize)
#define sqlite3_clear_bindings (kumo__sqlite.clear_bindings)
#define sqlite3_bind_int (kumo__sqlite.bind_int)
#define sqlite3_bind_int64 (kumo__sqlite.bind_int64)
#define sqlite3_bind_text (kumo__sqlite.bind_text)
#define sqlite3_bind_blob (kumo__sqlite.bind_blob)
#define sqlite3_bind_null (kumo__sqlite.bind_null)
#define sqlite3_column_int (kumo__sqlite.column_int)
#define sqlite3_column_int64 (kumo__sqlite.column_int64)
#define sqlite3_column_text (kumo__sqlite.column_text)
#define sqlite3_column_blob (kumo__sqlite.column_blob)
#define sqlite3_column_bytes (kumo__sqlite.column_bytes)
#define sqlite3_changes (kumo__sqlite.changes)
#define sqlite3_get_autocommit (kumo__sqlite.get_autocommit)
#define sqlite3_db_filename (kumo__sqlite.db_filename)
#define sqlite3_randomness (kumo__sqlite.randomness)
#define sqlite3_extended_result_codes (kumo__sqlite.extended_result_codes)
#define sqlite3_extended_errcode (kumo__sqlite.extended_errcode)
#define sqlite3_errcode (kumo__sqlite.errcode)
#define sqlite3_errmsg (kumo__sqlite.errmsg)
#define sqlite3_errstr (kumo__sqlite.errstr)
#define sqlite3_busy_timeout (kumo__sqlite.busy_timeout)
#define sqlite3_busy_handler (kumo__sqlite.busy_handler)
#endif

#endif
