/*
 * h2o_glue.h: what kumo up and kumo-host share on top of h2o: the request
 * as the transport-free kumo__http_in that dispatch.c reads, a worker's
 * response frame written out, and every error kumo itself answers as an
 * RFC 9457 application/problem+json document. Only this file, tls.c and
 * the servers (server.c and its rooms, host/http.c) know h2o's types.
 */
#ifndef KUMO_H2O_GLUE_H
#define KUMO_H2O_GLUE_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "base/fdlimit.h"
#include "base/http.h"
#include "gateway/dispatch.h"
#include "project/project.h"

/* The request as dispatch.c reads it: method, path (without the query),
 * query, headers with lower-case names, body. Points into req and its
 * pool: valid while req is. */
void kumo__h2o_http_in(h2o_req_t *req, kumo__http_in *in);

/* Checks a request's header fields before anything reads or copies them:
 * their count and the bytes of their names and values against `lim`
 * (kumo.yaml http:), in one pass that stops at the first excess (HPACK
 * lets an HTTP/2 client repeat one indexed 4 KB field for a byte each, so
 * the decoded fields can be thousands of times what was sent). Returns 0
 * when the request may go on; otherwise it has answered 431 with
 * problem+json and returns 431. The caller writes the access log line. */
int kumo__h2o_refuse_head(h2o_req_t *req, const kumo__http_limits *lim, const char *request_id);

/* Request smuggling: an HTTP/1.1 request that carries both
 * Transfer-Encoding and Content-Length, or two Content-Length fields that
 * differ, is answered 400 problem+json and its connection closed (RFC 9112
 * 6.1, 6.3). h2o 2.2.5 reads such a request (the first Content-Length, or
 * chunked) and takes both fields out before a handler runs, so the check
 * reads the raw head h2o still holds at the start of the connection's
 * input. Returns 0 when the request may go on, else 400 (answered). */
int kumo__h2o_refuse_framing(h2o_req_t *req, const char *request_id);

/* A listening socket on an h2o loop that accepts connections for `actx`.
 * It holds at most `max_conns` open connections (0: no bound): at the
 * bound it stops accepting, so that new clients wait in the kernel's
 * listen backlog, and accepts again when one closes. When accept fails
 * for lack of file descriptors (EMFILE, ENFILE), it stops listening for a
 * short pause instead of waking the loop again at once (which would spin
 * the CPU while every new client waits). Either episode is said in the
 * log once when it begins and once when no client waits any more. `fd`
 * becomes the listener's. On the loop's thread only. */
typedef struct kumo__listener kumo__listener;
kumo__listener *kumo__listener_start(h2o_evloop_t *loop, int fd, h2o_accept_ctx_t *actx, const char *name,
                                     size_t max_conns);
/* Stops accepting: what waits in the kernel's backlog is accepted first,
 * then the listening socket is closed; the connections accepted go on and
 * are still counted. A NULL or stopped listener is ignored. */
void kumo__listener_stop(kumo__listener *l);
/* Connections `l` accepted that are not closed yet (HTTP/1.1 or HTTP/2). */
size_t kumo__listener_connections(const kumo__listener *l);
/* Stops accepting and gives `l` up: it is freed now, or when the last of its
 * connections closes. NULL is allowed. */
void kumo__listener_close(kumo__listener *l);
/* Begins a graceful stop of the connections of `ctx`: the next response on
 * each HTTP/1.1 connection carries Connection: close, HTTP/2 connections
 * get GOAWAY, and a connection that waits more than idle_ms for a request is
 * closed (cleanly: nothing of a request was read on it). */
void kumo__h2o_drain(h2o_context_t *ctx, uint64_t idle_ms);

/* Adds a response header; name and value must live as long as req (a
 * literal, or memory of its pool). */
void kumo__h2o_add_header(h2o_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len);
/* The same for a name and value from elsewhere: both are copied into the
 * request's pool, the name lower-cased. */
void kumo__h2o_copy_header(h2o_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len);

/* Writes a handler's response: the status and body kumo__response_read
 * found in `payload` (a response frame's payload), its headers but the
 * hop-by-hop ones (and, with `kumo_cors`, when kumo.yaml's http.cors
 * decides them, the Access-Control-* ones), and X-Request-Id. */
void kumo__h2o_send_response(h2o_req_t *req, const kumo__response_in *r, const char *payload, size_t len,
                             const char *request_id, int kumo_cors);

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
 * request) into problem+json too. Responses of kumo's own (they carry an
 * X-Request-Id, or are a problem document already) are left alone. */
void kumo__install_problem_filter(h2o_hostconf_t *host, h2o_pathconf_t *path);

#endif
