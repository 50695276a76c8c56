/*
 * http1.h: kumo-http's reader of HTTP/1.1 requests (RFC 9112), over the
 * bytes a connection has received so far. No allocation: the head is
 * parsed in place (field names are lower-cased where they lie) and a
 * chunked body is decoded in place, so the body ends up contiguous right
 * after the head. lean_http.c drives it; the unit test feeds it byte by
 * byte.
 *
 * What is refused, and how (the status, negated, and why):
 *   400  a malformed request line or field line, a field line folded
 *        (obs-fold), whitespace before a field's colon, a control
 *        character in a value, Transfer-Encoding and Content-Length both,
 *        two Content-Length fields that differ, a Content-Length that is
 *        not a number, a bad chunk size, a Transfer-Encoding whose last
 *        coding is not chunked
 *   413  a body over the ceiling the caller gives
 *   414  a request line over KUMO__H1_LINE_MAX
 *   431  more field lines than http.max_headers, more bytes of names and
 *        values than http.max_header_bytes, a head that does not end
 *        within the bytes those allow
 *   417  an Expect field other than 100-continue
 *   501  a Transfer-Encoding other than chunked
 *   505  a version other than HTTP/1.0 and HTTP/1.1
 */
#ifndef KUMO_HOST_HTTP1_H
#define KUMO_HOST_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "openapi/check.h"
#include "project/project.h"

/* The longest request line taken (method, target, version). */
#define KUMO__H1_LINE_MAX 8192

typedef struct kumo__h1_head {
    kumo__slice method;
    kumo__slice path;  /* the target without its query */
    kumo__slice query; /* without '?'; base NULL when there is none */
    int minor;         /* HTTP/1.<minor> */
    size_t len;        /* bytes of the head, its empty line included */
    size_t nheaders;
    int64_t content_length; /* -1: none */
    int chunked;
    int keep_alive; /* whether the connection stays open after the answer */
    int expect_continue;
} kumo__h1_head;

/* The most bytes a head may take under `lim` before it is refused (431). */
size_t kumo__h1_head_max(const kumo__http_limits *lim);

/* Parses the head at the start of buf[0..len). `hv` has room for
 * lim->max_headers fields. 1: complete, *out and hv[0..out->nheaders)
 * point into buf; 0: more bytes are needed; a negative status (-400,
 * -414, -417, -431, -501, -505) when it is refused, with why. */
int kumo__h1_parse_head(char *buf, size_t len, const kumo__http_limits *lim, kumo__header_view *hv, kumo__h1_head *out,
                        char *why, size_t whylen);

/* A chunked body being decoded: start zeroed. */
typedef struct kumo__h1_chunks {
    int phase;     /* where in the chunked coding `in` is */
    size_t in;     /* bytes of the coding read */
    size_t out;    /* bytes of body decoded, at buf[0..out) */
    uint64_t left; /* of the current chunk's data */
    size_t trailer_bytes;
} kumo__h1_chunks;

/* Decodes the chunked body in buf[0..len) (the bytes after the head),
 * from where c left off, the data moved down to buf[0..c->out). 1: done,
 * the coding took c->in bytes; 0: more bytes are needed; -400 (a bad
 * coding) or -413 (more than max_body bytes of data), with why. */
int kumo__h1_dechunk(char *buf, size_t len, size_t max_body, kumo__h1_chunks *c, char *why, size_t whylen);

#endif
