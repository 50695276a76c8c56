/*
 * rtapi.h: the Lambda Runtime API's client (lambda.c's): HTTP/1.1 over one
 * kept-alive TCP connection to AWS_LAMBDA_RUNTIME_API, written here rather
 * than borrowed from libcurl so that a Lambda package's first GET /next
 * pays for neither libcurl's nor OpenSSL's initialisation (the Runtime API
 * is plain HTTP on the sandbox's own address).
 *
 * What it speaks is what the Runtime API needs: GET and POST, answers with
 * Content-Length, chunked or closed by the server; the three Lambda-Runtime-*
 * headers of /next kept; no timeout on an answer (/next is a long poll and
 * Lambda freezes the process between invocations), 5 s to connect. A
 * connection the server closed while idle is opened again once, for a
 * request of which no answer byte had come.
 */
#ifndef KUMO_ADAPTERS_RTAPI_H
#define KUMO_ADAPTERS_RTAPI_H

#include <stddef.h>

typedef struct kumo__rtapi {
    int fd;             /* -1 while not connected */
    char host[256];     /* AWS_LAMBDA_RUNTIME_API's host (brackets of an IPv6 address removed) */
    char port[8];       /* and its port */
    char hostport[300]; /* as given, for the Host header and messages */
    char *in;           /* bytes read and not yet taken */
    size_t in_len, in_cap;
    char *buf; /* the last answer's body, NUL-terminated */
    size_t len, cap;
    size_t max_body; /* over it: status 413, the body dropped, the connection closed */
    char request_id[128], deadline[32], trace_id[512];
    char err[256]; /* why the last call failed */
} kumo__rtapi;

/* Sets rt up for `api` ("HOST:PORT", "[V6]:PORT"); connects on the first
 * call. Returns 0, or -1 with the reason in rt->err. */
int kumo__rtapi_init(kumo__rtapi *rt, const char *api, size_t max_body);

/* One request: GET `path` when body is NULL, else POST of body (len bytes,
 * application/json) with Lambda-Runtime-Function-Error-Type: error_type
 * when that is not NULL. 0 with *status and rt->buf/len (and, from /next,
 * the Lambda-Runtime-* values) set; -1 with rt->err when the Runtime API
 * cannot be reached or answers with something that is not HTTP. */
int kumo__rtapi_call(kumo__rtapi *rt, const char *path, const char *body, size_t len, const char *error_type,
                     long *status);

void kumo__rtapi_close(kumo__rtapi *rt);

#endif
