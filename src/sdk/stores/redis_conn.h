/*
 * redis_conn.h: the connection shared by the Redis kv driver (redis.c) and
 * the Redis queue driver (redis_queue.c): URL parsing, connecting on first
 * use and again after the server went away, Lua scripts run by SHA, and the
 * mapping of hiredis failures to KUMO_E* codes.
 *
 * A kumo__redis is used by one thread at a time: its owner (the driver
 * handle) holds its own mutex around every call.
 */
#ifndef KUMO_REDIS_CONN_H
#define KUMO_REDIS_CONN_H

#include "sdk/sdk.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

/* A Lua script, loaded with SCRIPT LOAD on each (re)connection. */
typedef struct kumo__redis_script {
    const char *source;
    char sha[41];
} kumo__redis_script;

typedef struct kumo__redis {
    redisContext *c; /* NULL until connected, and after a lost connection */
    char *host;
    int port;
    int db;
    char *user, *password; /* NULL when none; never logged */
    int timeout_ms;        /* connect and command timeout (URL timeout_ms=, default 5000) */
    int create;            /* URL create= (default 1) */
    unsigned max_receives; /* URL max_receives= (default 5), for queues */
    kumo__redis_script *scripts;
    size_t nscripts;
    char *error; /* the handle's message buffer (kumo__kv.error or kumo__queue.error) */
    size_t errlen;
} kumo__redis;

/* Parses redis://[[user]:password@]host[:port][/db][?timeout_ms=N&create=B&max_receives=N]
 * into r (whose scripts/error fields the caller sets). Does not connect. */
int kumo__redis_parse(kumo__redis *r, const char *url, kumo__error *e);
/* The open of both Redis drivers: sets r up (the `n` scripts, whose
 * sources are `sources`, in `scripts`; messages into the handle's buffer
 * error/errlen), parses `url` (kumo__redis_parse) and connects, so that a
 * wrong address or a server that is down shows at open (store.c tries a
 * failed open again later). 0, or a KUMO_E* code with e set; the caller
 * frees r either way. */
int kumo__redis_open(kumo__redis *r, const char *url, kumo__redis_script *scripts, const char *const *sources, size_t n,
                     char *error, size_t errlen, kumo__error *e);
/* Connects when not connected (or when the idle connection was closed by
 * the server): 0 or KUMO_EUNAVAILABLE with the reason in r->error. */
int kumo__redis_ready(kumo__redis *r);
/* Runs one command. On 0, *reply is the reply (freeReplyObject it); an
 * error reply is KUMO_EIO (or KUMO_ETOOBIG/ETIMEDOUT/EUNAVAILABLE by its
 * kind) with the server's message in r->error; a lost connection is
 * KUMO_EUNAVAILABLE (or KUMO_ETIMEDOUT) and the next call reconnects. */
int kumo__redis_command(kumo__redis *r, redisReply **reply, int argc, const char **argv, const size_t *lens);
/* EVALSHA of r->scripts[which] with `nkeys` keys then the other args:
 * argv/lens hold keys and args, without the EVALSHA/sha/numkeys head. */
int kumo__redis_eval(kumo__redis *r, redisReply **reply, size_t which, int nkeys, int argc, const char **argv,
                     const size_t *lens);
void kumo__redis_free(kumo__redis *r);

/* Fills `out` (2*n+1 bytes) with n random bytes in hex: ids and receipts. */
int kumo__random_hex(char *out, size_t n);

#endif
