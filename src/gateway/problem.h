/*
 * problem.h: every error kumo itself answers is an RFC 9457
 * application/problem+json document.
 */
#ifndef KUMO_PROBLEM_H
#define KUMO_PROBLEM_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "base/http.h"

/* Sends `body` (copied) with a Content-Length; status and headers must be
 * set. HEAD requests get the headers only. */
void kumo__send_body(h2o_req_t *req, const char *body, size_t len);

/* Sends {"type":"about:blank","title":..,"status":..,"detail":..,
 * "instance":PATH,"request_id":..} with the status. `detail`, `request_id`
 * and `retry_after` (a Retry-After value) may be NULL. */
void kumo__send_problem(h2o_req_t *req, int status, const char *title, const char *detail, const char *request_id,
                        const char *retry_after);

/* Registers a filter on `path` and on the host's fallback path that turns
 * the errors h2o answers by itself (a body over the limit, a malformed
 * request) into problem+json too. Responses of kumo's own carry an
 * X-Request-Id and are left alone. */
void kumo__install_problem_filter(h2o_hostconf_t *host, h2o_pathconf_t *path);

#endif
