/*
 * mock_proxy.h: `kumo mock --record DIR --proxy URL` sends each request on
 * to the real service and answers what it answered (recording.c stores
 * the pair). One libcurl easy call per request, made on one of the
 * gateway's slow-work threads while the request waits parked
 * (mock_modes.c's proxy job, gateway/slow_work.c), or in place under
 * kumo-host. A deadline and a response size ceiling are always set.
 */
#ifndef KUMO_GATEWAY_MOCK_PROXY_H
#define KUMO_GATEWAY_MOCK_PROXY_H

#include <stddef.h>

#include "gateway/recording.h"

#define KUMO__PROXY_TIMEOUT_MS 30000
#define KUMO__PROXY_MAX_BODY (16u << 20)

typedef struct kumo__proxy_response {
    int status;
    kumo__header_view *headers; /* lower-case names; slices into `raw` */
    size_t nheaders;
    char *raw;  /* the header block, malloc'd */
    char *body; /* malloc'd (NULL: empty) */
    size_t body_len;
} kumo__proxy_response;

/* Checks a --proxy URL: http or https, a host, no query or fragment. 0,
 * or -EINVAL with err naming what to write. */
int kumo__proxy_url_check(const char *url, kumo__error *err);

/* Sends `req` (method, path, query, headers, body) to base_url + path
 * (+ "?" query). 0 and *out (free with kumo__proxy_response_free), or
 * -errno with `why` (the service could not be reached, the deadline
 * passed, or the response passed KUMO__PROXY_MAX_BODY). */
int kumo__mock_proxy(const char *base_url, const kumo__rec_message *req, kumo__proxy_response *out, char *why,
                     size_t why_len);
void kumo__proxy_response_free(kumo__proxy_response *r);

#endif
