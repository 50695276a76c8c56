/*
 * pg_conn.c: see pg_conn.h. One blocking libpq connection per driver
 * handle, made on first use.
 *
 * A lost connection is never a crash nor a permanent failure: a statement
 * that fails because the connection broke returns KUMO_EUNAVAILABLE, and
 * the next call connects again (PQreset) and prepares its statements anew
 * (they belong to a session). Before each statement an idle connection is
 * polled: a server that shut down sent its FATAL message and closed the
 * socket, which PQconsumeInput reads, so the call goes to a new connection
 * instead of failing once more. Nothing is retried after a statement was
 * sent, so a write is never applied twice.
 *
 * The schema is created (when create= is not false) inside a transaction
 * holding an advisory lock, so that workers starting together do not race
 * on CREATE TABLE IF NOT EXISTS (which is not safe against itself).
 */
#include "sdk/stores/pg_conn.h"

#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 5000

static int parse_uint(const char *s, size_t len, unsigned long max, unsigned long *out)
{
    if (len == 0 || len > 10)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int is_identifier(const char *s, size_t n)
{
    if (n == 0 || n > 40 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

int kumo__pg_parse(kumo__pg *pg, const char *url, const char *default_table, kumo__error *e)
{
    pg->create = 1;
    pg->timeout_ms = DEFAULT_TIMEOUT_MS;
    pg->max_receives = 5;
    snprintf(pg->table, sizeof(pg->table), "%s", default_table);
    if (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0) {
        kumo__error_set(e, KUMO_EINVAL,
                        "store URL must start with postgres://; expected postgres://user:pass@host:port/db");
        return KUMO_EINVAL;
    }
    size_t ulen = strlen(url);
    char *ci = malloc(ulen + 32);
    if (ci == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    const char *q = strchr(url, '?');
    size_t base = q ? (size_t)(q - url) : ulen;
    memcpy(ci, url, base);
    size_t len = base;
    int has_connect_timeout = 0;
    char sep = '?';
    for (const char *p = q ? q + 1 : url + ulen; *p;) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        size_t nlen = eq ? (size_t)(eq - p) : n;
        const char *v = eq ? eq + 1 : p + n;
        size_t vlen = eq ? n - nlen - 1 : 0;
        unsigned long u;
#define IS(name) (nlen == strlen(name) && strncmp(p, name, nlen) == 0)
        if (IS("table")) {
            if (!is_identifier(v, vlen)) {
                kumo__error_set(e, KUMO_EINVAL, "postgres URL: table=%.*s is not a plain lower-case identifier",
                                (int)vlen, v);
                free(ci);
                return KUMO_EINVAL;
            }
            snprintf(pg->table, sizeof(pg->table), "%.*s", (int)vlen, v);
        } else if (IS("create")) {
            pg->create = !(vlen > 0 && (strncmp(v, "false", vlen) == 0 || strncmp(v, "0", vlen) == 0 ||
                                        strncmp(v, "no", vlen) == 0));
        } else if (IS("timeout_ms") || IS("max_receives")) {
            if (parse_uint(v, vlen, 3600000, &u) != 0 || u == 0) {
                kumo__error_set(e, KUMO_EINVAL, "postgres URL: %.*s needs a positive number", (int)nlen, p);
                free(ci);
                return KUMO_EINVAL;
            }
            if (IS("timeout_ms"))
                pg->timeout_ms = (int)u;
            else
                pg->max_receives = (unsigned)u;
        } else {
            /* libpq's own (sslmode=, application_name=, ...) */
            if (IS("connect_timeout"))
                has_connect_timeout = 1;
            ci[len++] = sep;
            sep = '&';
            memcpy(ci + len, p, n);
            len += n;
        }
#undef IS
        p += n;
        if (*p == '&')
            p++;
    }
    if (!has_connect_timeout)
        len += (size_t)sprintf(ci + len, "%cconnect_timeout=%d", sep, (pg->timeout_ms + 999) / 1000);
    ci[len] = '\0';
    pg->conninfo = ci;
    return 0;
}

int kumo__pg_open(kumo__pg *pg, const char *url, const char *default_table, const char *ddl, const char *const *sql,
                  int nsql, char *error, size_t errlen, kumo__error *e)
{
    pg->ddl = ddl;
    for (int i = 0; i < nsql; i++)
        pg->sql[i] = sql[i];
    pg->nsql = nsql;
    pg->error = error;
    pg->errlen = errlen;
    int rc = kumo__pg_parse(pg, url, default_table, e);
    if (rc == 0 && (rc = kumo__pg_ready(pg)) != 0)
        kumo__error_set(e, rc, "%s", error);
    return rc;
}

/* "@T" in `sql` replaced by the table name, malloc'd. */
static char *with_table(const char *sql, const char *table)
{
    size_t tl = strlen(table), n = strlen(sql) + 1;
    for (const char *p = sql; (p = strstr(p, "@T")); p += 2)
        n += tl;
    char *out = malloc(n), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = sql; *p;) {
        if (p[0] == '@' && p[1] == 'T') {
            memcpy(o, table, tl);
            o += tl;
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* The message of a failed result or connection, on one line, into pg->error. */
static void set_error(kumo__pg *pg, const char *what, const char *msg)
{
    if (pg->error == NULL)
        return;
    snprintf(pg->error, pg->errlen, "postgres: %s%s%s", what, *what ? ": " : "", msg ? msg : "");
    for (char *p = pg->error; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = (p[1] ? ' ' : '\0');
}

/* Maps a failed result: the connection's state first, then the SQLSTATE. */
static int map_result(kumo__pg *pg, const PGresult *res)
{
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return KUMO_EUNAVAILABLE;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state == NULL)
        return KUMO_EIO;
    if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0)
        return KUMO_ETIMEDOUT; /* statement timeout, lock not available */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0)
        return KUMO_EUNAVAILABLE; /* connection, shutdown, resources */
    if (strcmp(state, "54000") == 0)
        return KUMO_ETOOBIG;
    return KUMO_EIO;
}

static int run_simple(kumo__pg *pg, const char *sql, const char *what)
{
    PGresult *res = PQexec(pg->conn, sql);
    int ok = res && (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK);
    int rc = 0;
    if (!ok) {
        set_error(pg, what, res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
        rc = map_result(pg, res);
    }
    PQclear(res);
    return rc;
}

/* Is the idle connection still usable? Reads what the server sent while
 * idle (a shutdown's FATAL message and EOF) and asks libpq. */
static int alive(PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK)
        return 0;
    struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
    if (p.fd < 0)
        return 0;
    if (poll(&p, 1, 0) > 0) {
        /* Unasked-for input: a shutdown's message, then EOF. */
        if (!PQconsumeInput(c))
            return 0;
        PGnotify *n;
        while ((n = PQnotifies(c)))
            PQfreemem(n);
        char b;
        if (poll(&p, 1, 0) > 0 && recv(p.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
            return 0;
    }
    return PQstatus(c) == CONNECTION_OK;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int prepare_all(kumo__pg *pg)
{
    for (int i = 0; i < pg->nsql; i++) {
        char name[16];
        snprintf(name, sizeof(name), "kumo%d", i);
        PGresult *res = PQprepare(pg->conn, name, pg->prepared[i], 0, NULL);
        if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
            set_error(pg, "prepare", res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
            int rc = map_result(pg, res);
            PQclear(res);
            return rc;
        }
        PQclear(res);
    }
    return 0;
}

int kumo__pg_ready(kumo__pg *pg)
{
    int rc;
    if (pg->conn && alive(pg->conn))
        return 0;
    for (int i = 0; i < pg->nsql; i++) {
        if (pg->prepared[i] == NULL && (pg->prepared[i] = with_table(pg->sql[i], pg->table)) == NULL) {
            set_error(pg, "", "out of memory");
            return KUMO_ENOMEM;
        }
    }
    char why[256];
    if (pg->conn == NULL && kumo__pq_load(why, sizeof(why)) != 0) {
        set_error(pg, "cannot connect", why);
        return KUMO_EUNAVAILABLE;
    }
    if (pg->conn)
        PQreset(pg->conn);
    else
        pg->conn = PQconnectdb(pg->conninfo);
    if (pg->conn == NULL) {
        set_error(pg, "", "out of memory");
        return KUMO_ENOMEM;
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        set_error(pg, "cannot connect", PQerrorMessage(pg->conn));
        return KUMO_EUNAVAILABLE;
    }
    PQsetNoticeProcessor(pg->conn, ignore_notice, NULL); /* "already exists, skipping" is not news */
    char set[64];
    snprintf(set, sizeof(set), "SET statement_timeout = %d", pg->timeout_ms);
    rc = run_simple(pg, set, "statement_timeout");
    if (rc != 0)
        goto fail;
    if (pg->create && !pg->schema_done && pg->ddl) {
        char *ddl = with_table(pg->ddl, pg->table);
        if (ddl == NULL) {
            rc = KUMO_ENOMEM;
            goto fail;
        }
        rc = run_simple(pg, ddl, "creating the table");
        free(ddl);
        if (rc != 0) {
            run_simple(pg, "ROLLBACK", "rollback");
            goto fail;
        }
    }
    pg->schema_done = 1;
    rc = prepare_all(pg);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    /* Closed: the next call starts over with a fresh connection. */
    PQfinish(pg->conn);
    pg->conn = NULL;
    return rc;
}

int kumo__pg_exec(kumo__pg *pg, int which, int n, const char *const *values, const int *lens, const int *formats,
                  PGresult **res)
{
    *res = NULL;
    int rc = kumo__pg_ready(pg);
    if (rc != 0)
        return rc;
    char name[16];
    snprintf(name, sizeof(name), "kumo%d", which);
    PGresult *r = PQexecPrepared(pg->conn, name, n, values, lens, formats, 1);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *res = r;
        return 0;
    }
    set_error(pg, "", r ? PQresultErrorMessage(r) : PQerrorMessage(pg->conn));
    rc = map_result(pg, r);
    PQclear(r);
    return rc;
}

void kumo__pg_free(kumo__pg *pg)
{
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = NULL;
    if (pg->conninfo)
        explicit_bzero(pg->conninfo, strlen(pg->conninfo)); /* holds the password */
    free(pg->conninfo);
    for (int i = 0; i < pg->nsql; i++)
        free(pg->prepared[i]);
}

uint64_t kumo__pg_int8(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    if (PQgetlength(res, row, col) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

uint32_t kumo__pg_int4(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    if (PQgetlength(res, row, col) != 4)
        return 0;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
