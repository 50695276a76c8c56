/*
 * mock_io.h: what faults (faults.h) do to a connection, over h2o: answer
 * later, reset the connection, or send part of a body and close.
 *
 * All three run on the request's loop thread. An answer put off with
 * kumo__h2o_later is cancelled when h2o disposes the request first (the
 * client went away): `send` is then never called.
 */
#ifndef KUMO_GATEWAY_MOCK_IO_H
#define KUMO_GATEWAY_MOCK_IO_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

/* Calls send(req, arg) after `ms` milliseconds (a timerfd on the loop).
 * 0, or -errno (no timer: the caller answers now). */
int kumo__h2o_later(h2o_req_t *req, uint32_t ms, void (*send)(h2o_req_t *req, void *arg), void *arg);

/* Resets the request's connection (the peer reads ECONNRESET) and ends
 * the request. HTTP/2: the whole connection, as a reset would be. */
void kumo__h2o_reset(h2o_req_t *req);

/* Sends the response set up in req->res with a Content-Length of `len`
 * but only the first `keep` bytes of `body`, then closes the connection. */
void kumo__h2o_send_truncated(h2o_req_t *req, const char *body, size_t len, size_t keep);

#endif
