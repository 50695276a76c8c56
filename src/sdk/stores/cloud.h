/*
 * cloud.h: the one HTTP exchange every cloud driver makes (aws.c, gcp.c,
 * azure.c, and through aws.c kumo deploy's AWS calls), over a libcurl easy
 * handle the caller keeps (so one kept-alive connection per client).
 *
 * Each cloud adds what is its own around it: its authentication (SigV4
 * through libcurl, a bearer token, a SharedKey signature), its error bodies
 * and its codes. What is the same everywhere lives here: the request (a
 * body in memory or a file streamed from disk), the bounds (time to connect,
 * time in all, the ceiling on the answer), the answer collected into memory,
 * and a transport failure turned into a KUMO_E* code and a message.
 */
#ifndef KUMO_STORES_CLOUD_H
#define KUMO_STORES_CLOUD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

/* An answer: the status, the body (malloc'd, NUL-terminated) and the raw
 * header block; freed by kumo__cloud_res_free. */
typedef struct kumo__cloud_res {
    long status;
    char *body;
    size_t len;
    char *headers;
    size_t hlen;
} kumo__cloud_res;

void kumo__cloud_res_free(kumo__cloud_res *res);
/* A response header's value (the first of that name, case-insensitive),
 * copied into buf (trimmed, cut to size); NULL when absent. */
const char *kumo__cloud_res_header(const kumo__cloud_res *res, const char *name, char *buf, size_t size);

/* One request. `headers` and `extra` are NULL-terminated "Name: value"
 * lines (either may be NULL; "Name:" removes a header libcurl would add);
 * `extra` is for what the caller makes per attempt (authorization). The
 * body is `body` (len bytes), or `in` (in_len bytes, read from its current
 * position), or none; a POST or PUT without one sends Content-Length: 0. */
typedef struct kumo__cloud_call {
    const char *method; /* GET, HEAD, PUT, POST, DELETE, PATCH, MERGE */
    const char *url;
    const char *const *headers;
    const char *const *extra;
    const void *body;
    size_t len;
    FILE *in;
    uint64_t in_len;
    long connect_timeout_ms; /* over it: KUMO_EUNAVAILABLE */
    long timeout_ms;         /* the whole exchange: over it, KUMO_ETIMEDOUT */
    size_t max_body;         /* the answer's ceiling: over it, KUMO_ETOOBIG */
    const char *sigv4;       /* CURLOPT_AWS_SIGV4 ("aws:amz:REGION:SERVICE") with user and password, or NULL */
    const char *user, *password;
    const char *service, *base; /* for messages: "SERVICE at BASE: what went wrong" */
} kumo__cloud_call;

/* The transport of the cloud drivers (aws.c, gcp.c, azure.c): 0, libcurl
 * (kumo up's, kumo test's); 1, kumo's own client (httpc.c, through
 * kumo__cloud_builtin_perform). kumo-host sets 1 as it starts, unless a
 * proxy variable asks for libcurl (host_main.c); kumo-lambda's SDK has the
 * built-in one alone (KUMO_DRIVERS_AWS_ONLY). Set once, before the first
 * store is opened: a connection does not record which transport made it. */
extern int kumo__cloud_builtin;
/* A connection of the current transport (a libcurl easy handle or a
 * kumo__httpc), NULL when out of memory (or libcurl cannot be loaded);
 * and its end (NULL is fine). */
void *kumo__cloud_conn_new(void);
void kumo__cloud_conn_free(void *conn);
/* Why kumo__cloud_conn_new gave NULL, into err: libcurl could not be
 * loaded (its loader's reason: a package without it, behind a proxy), or
 * out of memory. Returns the KUMO_E* code it set. */
int kumo__cloud_conn_error(kumo__error *err);

/* Performs `call` on the connection `curl` (one kumo__cloud_conn_new made;
 * a libcurl handle is reset first, so nothing of an earlier call carries
 * over but its connection). Returns 0 when the server
 * answered, whatever the status (res filled: the caller reads its errors),
 * else KUMO_ENOMEM, KUMO_ETOOBIG, KUMO_ETIMEDOUT, KUMO_EUNAVAILABLE or
 * KUMO_EIO with the reason in msg (msglen bytes); res holds what came. */
int kumo__cloud_perform(void *curl, const kumo__cloud_call *call, kumo__cloud_res *res, char *msg, size_t msglen);

/* The same exchange over the built-in client (cloud_builtin.c): `conn` is a
 * kumo__httpc (httpc.h), and the SigV4 signature, when call->sigv4 asks for
 * one, is sigv4.c's. What kumo__cloud_perform is in kumo-lambda's SDK
 * (KUMO_DRIVERS_AWS_ONLY), which has no libcurl. A body streamed from
 * call->in is signed as UNSIGNED-PAYLOAD. */
int kumo__cloud_builtin_perform(void *conn, const kumo__cloud_call *call, kumo__cloud_res *res, char *msg,
                                size_t msglen);

/* Zeroes a secret string, then frees it (NULL is fine). */
void kumo__cloud_free_secret(char *s);

#endif
