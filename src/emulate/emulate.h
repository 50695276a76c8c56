/*
 * emulate.h: `kumo emulate lambda`, a local stand-in for AWS
 * Lambda behind API Gateway, so that a function package (a zip with a
 * `bootstrap` at its root, as `kumo build --target aws` writes) runs on
 * this machine unchanged: the zip is extracted to a temporary directory,
 * the Lambda Runtime API (2018-06-01) is served on a loopback port, the
 * bootstrap runs as a child with AWS_LAMBDA_RUNTIME_API pointing at it,
 * and every HTTP request on the public port becomes an API Gateway proxy
 * event (payload 1.0 or 2.0), queued one at a time to the bootstrap, its
 * answer mapped back to HTTP.
 *
 * The files of src/emulate/, in reading order: emulate.c (the loop and
 * set-up), conn.c (connections), http1.c (the request parser),
 * runtime_api.c (the Runtime API and the queue of requests),
 * apigw_event.c (requests as API Gateway events, answers back to HTTP),
 * bootstrap.c (the child). emulate_internal.h is what they share.
 */
#ifndef KUMO_EMULATE_H
#define KUMO_EMULATE_H

#include "base/error.h"

typedef struct kumo__lambda_emulator_opts {
    const char *zip;           /* the function package */
    const char *host;          /* public listen address; NULL: 127.0.0.1 */
    int port;                  /* public port; 0: any free one */
    int payload;               /* API Gateway payload version: 1 (REST API) or 2 (HTTP API) */
    unsigned timeout_s;        /* per invocation (Lambda's function timeout); 0: 30 */
    unsigned memory_mb;        /* AWS_LAMBDA_FUNCTION_MEMORY_SIZE (not enforced); 0: 128 */
    const char *function_name; /* NULL: the zip's file name without .zip */
    const char *handler;       /* _HANDLER; NULL: "bootstrap" */
    const char *env;           /* the environment of kumo.yaml whose env: applies; NULL: none */
} kumo__lambda_emulator_opts;

/* Serves until SIGINT or SIGTERM, then stops the bootstrap, removes the
 * temporary directory and returns 0. Prints one line to stdout when ready:
 * "kumo emulate: serving http://HOST:PORT (bootstrap pid N)"; logs one
 * line per request to stderr (method, path without the query, status,
 * time). Returns negative with err set when it cannot start (the zip,
 * the ports). */
int kumo__lambda_emulate(const kumo__lambda_emulator_opts *o, kumo__error *err);

#endif
