/*
 * pq_lazy.h: libpq, loaded when a PostgreSQL store first connects rather
 * than when the process starts (pg_conn.c). libpq brings Kerberos, LDAP,
 * SASL and GnuTLS with it, about twenty libraries the loader would map at
 * every start of every kumo-host and worker, whatever its stores are
 * (base/curl_lazy.h does the same for libcurl).
 *
 * kumo__pq_load must have returned 0 before any PQ* call: pg_conn.c's
 * connect is the one way to a PGconn, and it loads first.
 */
#ifndef KUMO_STORES_PQ_LAZY_H
#define KUMO_STORES_PQ_LAZY_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct kumo__pq_api {
    PGconn *(*connectdb)(const char *conninfo);
    void (*finish)(PGconn *conn);
    void (*reset)(PGconn *conn);
    ConnStatusType (*status)(const PGconn *conn);
    char *(*errorMessage)(const PGconn *conn);
    int (*socket)(const PGconn *conn);
    int (*backendPID)(const PGconn *conn);
    PQnoticeProcessor (*setNoticeProcessor)(PGconn *conn, PQnoticeProcessor proc, void *arg);
    PGresult *(*exec)(PGconn *conn, const char *query);
    PGresult *(*execParams)(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                            const char *const *paramValues, const int *paramLengths, const int *paramFormats,
                            int resultFormat);
    PGresult *(*prepare)(PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes);
    PGresult *(*execPrepared)(PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues,
                              const int *paramLengths, const int *paramFormats, int resultFormat);
    int (*consumeInput)(PGconn *conn);
    PGnotify *(*notifies)(PGconn *conn);
    ExecStatusType (*resultStatus)(const PGresult *res);
    char *(*resultErrorMessage)(const PGresult *res);
    char *(*resultErrorField)(const PGresult *res, int fieldcode);
    int (*ntuples)(const PGresult *res);
    char *(*cmdTuples)(PGresult *res);
    char *(*getvalue)(const PGresult *res, int tup_num, int field_num);
    int (*getlength)(const PGresult *res, int tup_num, int field_num);
    int (*getisnull)(const PGresult *res, int tup_num, int field_num);
    void (*clear)(PGresult *res);
    void (*freemem)(void *ptr);
    char *(*escapeIdentifier)(PGconn *conn, const char *str, size_t len);
} kumo__pq_api;

extern kumo__pq_api kumo__pq;

/* Loads libpq once (thread-safe): 0, or -1 with why in err. */
int kumo__pq_load(char *err, size_t errlen);

#define PQconnectdb (kumo__pq.connectdb)
#define PQfinish (kumo__pq.finish)
#define PQreset (kumo__pq.reset)
#define PQstatus (kumo__pq.status)
#define PQerrorMessage (kumo__pq.errorMessage)
#define PQsocket (kumo__pq.socket)
#define PQbackendPID (kumo__pq.backendPID)
#define PQsetNoticeProcessor (kumo__pq.setNoticeProcessor)
#define PQexec (kumo__pq.exec)
#define PQexecParams (kumo__pq.execParams)
#define PQprepare (kumo__pq.prepare)
#define PQexecPrepared (kumo__pq.execPrepared)
#define PQconsumeInput (kumo__pq.consumeInput)
#define PQnotifies (kumo__pq.notifies)
#define PQresultStatus (kumo__pq.resultStatus)
#define PQresultErrorMessage (kumo__pq.resultErrorMessage)
#define PQresultErrorField (kumo__pq.resultErrorField)
#define PQntuples (kumo__pq.ntuples)
#define PQcmdTuples (kumo__pq.cmdTuples)
#define PQgetvalue (kumo__pq.getvalue)
#define PQgetlength (kumo__pq.getlength)
#define PQgetisnull (kumo__pq.getisnull)
#define PQclear (kumo__pq.clear)
#define PQfreemem (kumo__pq.freemem)
#define PQescapeIdentifier (kumo__pq.escapeIdentifier)

#endif
