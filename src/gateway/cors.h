/*
 * cors.h: CORS from kumo.yaml's http.cors (project/edge.h), without a
 * transport: what to answer a browser's preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) before any route or function is
 * consulted, and which headers go on every other response to an allowed
 * origin. kumo up (api.c) and kumo-host (host.c) both call it, so a
 * browser meets the same rules locally and deployed. docs/edge.md.
 */
#ifndef KUMO_GATEWAY_CORS_H
#define KUMO_GATEWAY_CORS_H

#include <stddef.h>

#include "gateway/dispatch.h"
#include "project/edge.h"

#define KUMO__CORS_HEADERS 8

typedef struct kumo__cors_header {
    const char *name; /* a literal, lower case */
    const char *value;
    size_t value_len;
} kumo__cors_header;

/* What to do with one request. Values point into the config, into `buf`
 * or into the request: valid while both are and *out is not moved. */
typedef struct kumo__cors_answer {
    int status;       /* a preflight's answer: 204, or 403 when refused; 0 otherwise */
    char detail[300]; /* the 403's reason */
    kumo__cors_header headers[KUMO__CORS_HEADERS];
    size_t nheaders;
    char buf[64];
} kumo__cors_answer;

/* Decides for `in` under `c` (NULL or disabled: nothing to do, 0). Returns
 * 1 when `in` is a preflight the caller must answer now with out->status
 * and out->headers (no body on 204; a problem on 403, whose detail names
 * what kumo.yaml does not allow); 0 when the request goes on, and
 * out->headers (maybe none) go on its response, whatever answers it. */
int kumo__cors_decide(const kumo__cors_config *c, const kumo__http_in *in, kumo__cors_answer *out);

/* 1 when `name` (len bytes, any case) is one of the Access-Control-*
 * response headers: a handler's are dropped where kumo sets its own. */
int kumo__cors_owned_header(const char *name, size_t len);

#endif
