/*
 * pq_lazy.c: libpq loaded on first use (see pq_lazy.h).
 */
#include "sdk/stores/pq_lazy.h"

#include <pthread.h>
#include <stdio.h>

#include "base/dlload.h"

kumo__pq_api kumo__pq;
static char load_error[256];
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {
        "PQconnectdb",
        "PQfinish",
        "PQreset",
        "PQstatus",
        "PQerrorMessage",
        "PQsocket",
        "PQbackendPID",
        "PQsetNoticeProcessor",
        "PQexec",
        "PQexecParams",
        "PQprepare",
        "PQexecPrepared",
        "PQconsumeInput",
        "PQnotifies",
        "PQresultStatus",
        "PQresultErrorMessage",
        "PQresultErrorField",
        "PQntuples",
        "PQcmdTuples",
        "PQgetvalue",
        "PQgetlength",
        "PQgetisnull",
        "PQclear",
        "PQfreemem",
        "PQescapeIdentifier",
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(kumo__pq) / sizeof(void (*)(void)),
                   "one name per entry of kumo__pq_api, in its order");
    loaded = kumo__dlload("libpq.so.5", names, sizeof(names) / sizeof(names[0]), &kumo__pq, load_error,
                          sizeof(load_error)) == 0;
}

int kumo__pq_load(char *err, size_t errlen)
{
    pthread_once(&once, load);
    if (!loaded)
        snprintf(err, errlen, "%s", load_error);
    return loaded ? 0 : -1;
}
