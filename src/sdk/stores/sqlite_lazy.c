/*
 * sqlite_lazy.c: SQLite loaded on first use in kumo-http (see
 * sqlite_lazy.h).
 */
#include "sdk/stores/sqlite_lazy.h"

#if KUMO_SQLITE_LAZY
#include <pthread.h>
#include <stdio.h>

#include "base/dlload.h"

kumo__sqlite_api kumo__sqlite;
static char load_error[256];
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {
        "sqlite3_open_v2",          "sqlite3_close",        "sqlite3_exec",         "sqlite3_prepare_v2",
        "sqlite3_prepare_v3",       "sqlite3_step",         "sqlite3_reset",        "sqlite3_finalize",
        "sqlite3_clear_bindings",   "sqlite3_bind_int",     "sqlite3_bind_int64",   "sqlite3_bind_text",
        "sqlite3_bind_blob",        "sqlite3_bind_null",    "sqlite3_column_int",   "sqlite3_column_int64",
        "sqlite3_column_text",      "sqlite3_column_blob",  "sqlite3_column_bytes", "sqlite3_changes",
        "sqlite3_get_autocommit",   "sqlite3_db_filename",  "sqlite3_randomness",   "sqlite3_extended_result_codes",
        "sqlite3_extended_errcode", "sqlite3_errcode",      "sqlite3_errmsg",       "sqlite3_errstr",
        "sqlite3_busy_timeout",     "sqlite3_busy_handler",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(kumo__sqlite) / sizeof(void (*)(void)),
                   "one name per entry of kumo__sqlite_api, in its order");
    loaded = kumo__dlload("libsqlite3.so.0", names, sizeof(names) / sizeof(names[0]), &kumo__sqlite, load_error,
                          sizeof(load_error)) == 0;
}

int kumo__sqlite_load(char *err, size_t errlen)
{
    pthread_once(&once, load);
    if (!loaded)
        snprintf(err, errlen, "%s", load_error);
    return loaded ? 0 : -1;
}
#else
int kumo__sqlite_load(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return 0;
}
#endif
