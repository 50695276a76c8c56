/*
 * http1.h: the small HTTP/1.1 request parser of `kumo emulate` (both of
 * its listeners, the public API Gateway side and the Runtime API, speak
 * through it): the request line and headers parsed in place, then a body
 * sized by Content-Length or walked as chunked. Ceilings are fixed here
 * and checked while parsing: 64 KiB of head, 128 headers, Lambda's 6 MB
 * of body.
 */
#ifndef KUMO_EMULATE_HTTP1_H
#define KUMO_EMULATE_HTTP1_H

#include <stddef.h>
#include <sys/types.h>

#include "sdk/adapters/lambda.h"

#define KUMO__HTTP1_HEAD_MAX (64 * 1024)
#define KUMO__HTTP1_BODY_MAX KUMO__LAMBDA_PAYLOAD_MAX
#define KUMO__HTTP1_HEADERS_MAX 128

/* One request. `head` owns the text the other pointers point into. */
typedef struct kumo__http1_req {
    char *head; /* malloc'd copy of the head, parsed in place */
    char *method, *target;
    int minor; /* HTTP/1.minor */
    struct {
        char *name, *value;
    } headers[KUMO__HTTP1_HEADERS_MAX];
    size_t nheaders;
    char *body; /* malloc'd (NUL after body_len), NULL when none */
    size_t body_len;
    int keep_alive;
} kumo__http1_req;

/* Parses the head (request line and headers, CRLFs included, NUL
 * terminated) the caller copied into r->head. Returns 0, or the HTTP
 * status to refuse the request with (400, 413, 431, 501). The body's
 * framing comes back in *content_length and *chunked. */
int kumo__http1_parse_head(kumo__http1_req *r, size_t *content_length, int *chunked);

/* Walks a chunked body in p[0..n): returns the bytes it takes when
 * complete (its decoded size in *size), 0 when more is needed, -1 when
 * malformed, -2 when over KUMO__HTTP1_BODY_MAX. With `out` (room for
 * *size bytes, from a first call without it), copies the data there. */
ssize_t kumo__http1_chunked(const char *p, size_t n, size_t *size, char *out);

/* The first header called `name` (any case), or NULL. */
const char *kumo__http1_header(const kumo__http1_req *r, const char *name);

/* Whether s is an RFC 9110 token (a method or a header name). */
int kumo__http1_is_token(const char *s);

/* Frees the head and the body and zeroes r. */
void kumo__http1_req_clear(kumo__http1_req *r);

#endif
