/*
 * pg_conn.h: the connection shared by the PostgreSQL kv driver
 * (postgres.c) and queue driver (postgres_queue.c): URL parsing (kumo's own
 * query options taken out, the rest handed to libpq), connecting on first
 * use and again after the connection was lost, the schema created once,
 * prepared statements, and the mapping of failures to KUMO_E* codes.
 *
 * A kumo__pg is used by one thread at a time: its owner (the driver
 * handle) holds its own mutex around every call.
 */
#ifndef KUMO_PG_CONN_H
#define KUMO_PG_CONN_H

#include "sdk/sdk.h"

#include "sdk/stores/pq_lazy.h"
#include <stddef.h>
#include <stdint.h>

#define KUMO__PG_STATEMENTS_MAX 16

typedef struct kumo__pg {
    PGconn *conn;          /* NULL until connected */
    char *conninfo;        /* the URL for libpq: kumo's options out, connect_timeout in */
    char table[64];        /* URL table= (a plain identifier), else the driver's default */
    int create;            /* URL create= (default 1): create the table when absent */
    int timeout_ms;        /* statement_timeout and connect_timeout (URL timeout_ms=, default 5000) */
    unsigned max_receives; /* URL max_receives= (default 5), for queues */
    const char *ddl;       /* schema, "@T" standing for the table name */
    const char *sql[KUMO__PG_STATEMENTS_MAX]; /* statements, "@T" likewise */
    int nsql;
    char *prepared[KUMO__PG_STATEMENTS_MAX]; /* sql with the table name put in */
    int schema_done;
    char *error; /* the handle's message buffer */
    size_t errlen;
} kumo__pg;

/* Parses postgres://user:password@host:port/db?... (any libpq URI) and the
 * options table=, create=, timeout_ms=, max_receives=. Sets pg->table to
 * `default_table` unless the URL names one. Does not connect. */
int kumo__pg_parse(kumo__pg *pg, const char *url, const char *default_table, kumo__error *e);
/* The open of both PostgreSQL drivers: sets pg up (the schema `ddl`, the
 * `nsql` statements, messages into the handle's buffer error/errlen),
 * parses `url` (kumo__pg_parse) and connects, so that a wrong address or a
 * server that is down shows at open (store.c tries a failed open again
 * later). 0, or a KUMO_E* code with e set; the caller frees pg either way. */
int kumo__pg_open(kumo__pg *pg, const char *url, const char *default_table, const char *ddl, const char *const *sql,
                  int nsql, char *error, size_t errlen, kumo__error *e);
/* Connects (or reconnects after a lost connection), creates the schema the
 * first time, prepares the statements: 0 or a KUMO_E* code with the reason
 * in pg->error. */
int kumo__pg_ready(kumo__pg *pg);
/* Runs prepared statement `which` with text-or-binary parameters (formats[i]
 * 1: binary; lens ignored for text) and binary results. On 0, *res is a
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK result to PQclear. */
int kumo__pg_exec(kumo__pg *pg, int which, int n, const char *const *values, const int *lens, const int *formats,
                  PGresult **res);
void kumo__pg_free(kumo__pg *pg);

/* Binary result columns. */
uint64_t kumo__pg_int8(const PGresult *res, int row, int col);
uint32_t kumo__pg_int4(const PGresult *res, int row, int col);

#endif
