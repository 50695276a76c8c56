/*
 * tls.h: the API listener's TLS from kumo.yaml's http.tls (project/edge.h),
 * over h2o 2.2.5's OpenSSL sockets: the certificate chain and its key
 * (checked to belong together at start), ALPN offering h2 and http/1.1 so
 * HTTP/2 works over TLS, and with client_ca, client certificates verified
 * against it during the handshake. kumo up (server.c) and kumo-host
 * (host/http.c) put the context on their accept contexts; h2o_glue.c asks
 * for the verified subject of each request. docs/edge.md.
 */
#ifndef KUMO_GATEWAY_TLS_H
#define KUMO_GATEWAY_TLS_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "base/error.h"
#include "project/edge.h"

/* A server context for `c` (cert and key set), or NULL with err naming
 * kumo.yaml:line:column, the file and OpenSSL's reason. The caller frees
 * it with SSL_CTX_free once no connection uses it (at exit). */
SSL_CTX *kumo__tls_context(const kumo__tls_config *c, kumo__error *err);

/* The subject (RFC 2253, like "CN=alice,O=Example") of the client
 * certificate req's connection presented and the handshake verified
 * against http.tls.client_ca, copied into req's pool; NULL when the
 * connection is not TLS, has no certificate, or none was asked for. */
const char *kumo__tls_client_subject(h2o_req_t *req);

#endif
