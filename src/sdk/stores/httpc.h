/*
 * httpc.h: kumo's own small HTTP/1.1 client, TLS through BearSSL, for the
 * cloud drivers of the lean Lambda package (cloud_builtin.c), which must
 * carry neither libcurl nor OpenSSL. Written from RFC 9110/9112 and
 * BearSSL's headers.
 *
 * What it speaks: one request at a time on one connection (no pipelining),
 * kept alive between calls to the same scheme, host and port; http:// and
 * https://; a body from memory or streamed from a FILE, always sent with
 * Content-Length; answers framed by chunked transfer coding, by
 * Content-Length or by the server closing; 1xx interim answers skipped.
 * What it does not: proxies, redirects, cookies, compression, HTTP/2, user
 * info in URLs, transfer codings other than chunked (KUMO_EIO).
 *
 * TLS: BearSSL's full client profile held to TLS 1.2 (RFC 8996), the chain
 * checked against the process's trust anchors and its name against the
 * URL's host (SNI sent); a host that is an IP address is refused for https
 * (KUMO_EINVAL), since BearSSL checks names only. The trust anchors are
 * read once per process, at the first https call, from $SSL_CERT_FILE when
 * it is set (and then only from it), else from the first of
 * /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt,
 * /etc/ssl/cert.pem and /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem
 * that can be read and holds a certificate BearSSL can use;
 * a later change of SSL_CERT_FILE is not seen. When none can be read or it
 * holds no usable certificate, every https call fails (KUMO_EUNAVAILABLE)
 * saying which files were tried. A body that runs until the server closes
 * ends at the close even without TLS close_notify (a truncation of such a
 * body cannot be told; framed bodies are checked for their length).
 *
 * Time: the name lookup (getaddrinfo) blocks and is not bounded; connecting
 * to each address it gives in turn and the TLS handshake are bounded by
 * connect_timeout_ms, the whole call by timeout_ms. Sockets are
 * non-blocking, close-on-exec, TCP_NODELAY, and written with MSG_NOSIGNAL
 * (no SIGPIPE).
 *
 * A connection reused from an earlier call that turns out closed by the
 * server before any byte of the answer came (EPIPE, ECONNRESET, end of
 * stream) is opened again once and the request sent again, when its body
 * can be sent again (in memory, or a FILE whose position ftello gives and
 * fseeko restores). Any failure closes the connection; the next call opens
 * a new one.
 */
#ifndef KUMO_STORES_HTTPC_H
#define KUMO_STORES_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One connection, kept alive between calls to the same origin; one thread
 * at a time. */
typedef struct kumo__httpc kumo__httpc;

/* A client with no connection yet; NULL when out of memory. */
kumo__httpc *kumo__httpc_new(void);
/* Closes the connection (TLS close_notify sent when the socket takes it at
 * once) and frees c; NULL is fine. */
void kumo__httpc_free(kumo__httpc *c);

/* One request; every pointer is borrowed for the call only. */
typedef struct kumo__httpc_req {
    const char *method; /* GET, HEAD, PUT, POST, DELETE, PATCH, ... (a token) */
    /* http:// or https://, a host name, IPv4 address or [IPv6] address, an
     * optional :port, then the path and query as they are sent ("/" when
     * there is none; a fragment is not sent). No user info, no space,
     * control or non-ASCII byte (percent-encode them): else KUMO_EINVAL. */
    const char *url;
    /* NULL-terminated "Name: value" lines sent as given (may be NULL); one
     * with CR or LF, not "token:", or naming Host, Content-Length or
     * Transfer-Encoding (the client writes those) is KUMO_EINVAL. The
     * client adds Host (":port" when the URL names one that is not the
     * scheme's default) and Content-Length (whenever there is a body; "0"
     * for POST, PUT and PATCH without one), nothing else. */
    const char *const *headers;
    const void *body; /* a body in memory (len bytes), or */
    size_t len;
    FILE *in; /* in_len bytes streamed from `in` from its current position (it must have them); neither: no body */
    uint64_t in_len;
    long connect_timeout_ms; /* resolving + connecting + TLS handshake; over it, KUMO_EUNAVAILABLE; <= 0: none */
    long timeout_ms;         /* the whole call; over it, KUMO_ETIMEDOUT; <= 0: none */
    size_t max_body;         /* the answer's body ceiling (0: no body allowed); over it, KUMO_ETOOBIG */
    size_t max_headers;      /* the ceiling of each answer's status line and header block (0: 64 KiB); KUMO_ETOOBIG */
} kumo__httpc_req;

/* An answer, owned by the caller: kumo__httpc_res_free. */
typedef struct kumo__httpc_res {
    long status; /* 0 until a final status line was read */
    char *body;  /* malloc'd, NUL-terminated (len excludes the NUL); NULL when empty */
    size_t len;
    /* The final answer's header lines, each "Name: value\r\n" (the value
     * trimmed, names as the server wrote them, no status line, no empty
     * line), malloc'd, NUL-terminated; NULL when it had none. */
    char *headers;
    size_t hlen;
} kumo__httpc_res;

/* Frees what res holds and zeroes it. */
void kumo__httpc_res_free(kumo__httpc_res *res);

/* Performs req on c. res is overwritten (not freed first). Returns 0 when
 * the server answered, whatever the status; else KUMO_EINVAL (a bad
 * request: URL, method, header line, https to an IP address), KUMO_ENOMEM,
 * KUMO_ETOOBIG (max_body or max_headers passed), KUMO_ETIMEDOUT
 * (timeout_ms passed), KUMO_EUNAVAILABLE (cannot resolve or connect, TLS
 * handshake or certificate refused, no trust anchors, the connection closed
 * or reset before a complete answer) or KUMO_EIO (a malformed answer, a
 * FILE that could not be read or sought) with the reason in msg (msglen
 * bytes; msg may be NULL when msglen is 0); res then holds what came and
 * must be freed too. */
int kumo__httpc_perform(kumo__httpc *c, const kumo__httpc_req *req, kumo__httpc_res *res, char *msg, size_t msglen);

#endif
