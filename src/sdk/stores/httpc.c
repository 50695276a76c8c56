/*
 * httpc.c: the built-in HTTP/1.1 client (see httpc.h).
 *
 * Bottom up: the trust anchors, read once per process; the connection
 * (resolve, connect, TLS handshake) and its two moves, conn_send and
 * conn_fill, which drive either the socket or BearSSL's engine
 * (br_ssl_engine_* buffers, tls_pump) from poll() against the call's
 * deadline; the request written; the answer parsed out of c->in, the bytes
 * read and not yet taken; and kumo__httpc_perform, which reuses or opens
 * the connection and sends once more when a reused one turns out closed.
 *
 * While the request is being sent, whatever the server already answers is
 * read too (up to ABSORB_MAX), so that neither side waits for the other to
 * read, and a server that answers early and closes (an error before the
 * whole body came) still has its answer seen.
 */
#include "sdk/stores/httpc.h"

#include <kumo.h>

#include <bearssl.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/growbuf.h"

#define HEADERS_DEFAULT (64u << 10) /* max_headers when the caller gives 0 */
#define READ_ROOM 16384             /* room made in c->in before each read */
#define ABSORB_MAX (256u << 10)     /* answer bytes taken in while the request is still being sent */
#define IN_KEEP_MAX (256u << 10)    /* a larger c->in is freed after the call */
#define CA_FILE_MAX (64u << 20)     /* a CA bundle is ~200 KiB */
#define NO_DEADLINE INT64_MAX

/* ---- trust anchors, once per process --------------------------------------------------------------------------- */

static const char *const ca_paths[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Alpine */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* Amazon Linux, RHEL, Fedora */
    "/etc/ssl/cert.pem",                                 /* macOS, OpenBSD, Alpine */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL's extracted bundle */
};

static struct {
    pthread_once_t once;
    br_x509_trust_anchor *tas;
    size_t n, cap;
    char *file; /* where they came from */
    char *err;  /* why there are none; NULL when out of memory saying it */
} anchors = {.once = PTHREAD_ONCE_INIT};

/* A growbuf fed by BearSSL's callbacks, which cannot fail: the failure is
 * kept in `failed`. */
typedef struct sink {
    kumo__growbuf b;
    int failed;
} sink;

static void sink_add(void *ctx, const void *p, size_t n)
{
    sink *s = ctx;
    if (!s->failed && kumo__growbuf_add(&s->b, p, n) != 0)
        s->failed = 1;
}

static unsigned char *dup_bytes(const unsigned char *p, size_t n)
{
    unsigned char *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

static void anchor_free(br_x509_trust_anchor *ta)
{
    free(ta->dn.data);
    if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
        free(ta->pkey.key.rsa.n);
        free(ta->pkey.key.rsa.e);
    } else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
        free(ta->pkey.key.ec.q);
    }
}

/* Adds the DER certificate as a trust anchor: 0 (added, or skipped when
 * BearSSL cannot use it), -1 out of memory. */
static int add_anchor(const unsigned char *der, size_t len)
{
    sink dn = {.b = {.max = 1u << 20}};
    br_x509_decoder_context dc;
    br_x509_decoder_init(&dc, sink_add, &dn);
    br_x509_decoder_push(&dc, der, len);
    const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
    if (pk == NULL || dn.failed || (pk->key_type != BR_KEYTYPE_RSA && pk->key_type != BR_KEYTYPE_EC)) {
        free(dn.b.data);
        return dn.failed && !dn.b.over ? -1 : 0;
    }
    if (anchors.n == anchors.cap) {
        size_t cap = anchors.cap ? anchors.cap * 2 : 64;
        br_x509_trust_anchor *t = realloc(anchors.tas, cap * sizeof(*t));
        if (t == NULL) {
            free(dn.b.data);
            return -1;
        }
        anchors.tas = t;
        anchors.cap = cap;
    }
    br_x509_trust_anchor ta = {.flags = BR_X509_TA_CA};
    ta.dn.data = dn.b.data ? (unsigned char *)dn.b.data : malloc(1);
    ta.dn.len = dn.b.len;
    ta.pkey.key_type = pk->key_type;
    int ok = ta.dn.data != NULL;
    if (pk->key_type == BR_KEYTYPE_RSA) {
        ta.pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
        ta.pkey.key.rsa.nlen = pk->key.rsa.nlen;
        ta.pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
        ta.pkey.key.rsa.elen = pk->key.rsa.elen;
        ok = ok && ta.pkey.key.rsa.n && ta.pkey.key.rsa.e;
    } else {
        ta.pkey.key.ec.curve = pk->key.ec.curve;
        ta.pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
        ta.pkey.key.ec.qlen = pk->key.ec.qlen;
        ok = ok && ta.pkey.key.ec.q;
    }
    if (!ok) {
        anchor_free(&ta);
        return -1;
    }
    anchors.tas[anchors.n++] = ta;
    return 0;
}

/* Reads a whole file: 0, or an errno value (EFBIG over CA_FILE_MAX). */
static int read_file(const char *path, kumo__growbuf *b)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno;
    char buf[8192];
    size_t n;
    int e = 0;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (kumo__growbuf_add(b, buf, n) != 0) {
            e = b->over ? EFBIG : ENOMEM;
            break;
        }
    }
    if (e == 0 && ferror(f))
        e = EIO;
    fclose(f);
    return e;
}

/* Adds every CERTIFICATE of a PEM file: 0, or -1 out of memory. */
static int add_pem(const char *data, size_t len)
{
    br_pem_decoder_context pc;
    sink der = {.b = {.max = CA_FILE_MAX}};
    int in_cert = 0, rc = 0;
    br_pem_decoder_init(&pc);
    /* the decoder needs the end of the last line: a newline pushed after the data */
    for (size_t off = 0, total = len + 1; off < total && rc == 0;) {
        size_t n = off < len ? br_pem_decoder_push(&pc, data + off, len - off) : br_pem_decoder_push(&pc, "\n", 1);
        off += n;
        int ev = br_pem_decoder_event(&pc);
        if (ev == BR_PEM_BEGIN_OBJ) {
            const char *name = br_pem_decoder_name(&pc);
            in_cert = strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
                      strcmp(name, "TRUSTED CERTIFICATE") == 0;
            der.b.len = 0;
            der.failed = 0;
            br_pem_decoder_setdest(&pc, in_cert ? sink_add : NULL, &der);
        } else if (ev == BR_PEM_END_OBJ) {
            if (in_cert && der.failed && !der.b.over)
                rc = -1;
            else if (in_cert && !der.failed)
                rc = add_anchor((const unsigned char *)der.b.data, der.b.len);
            in_cert = 0;
        } else if (ev == BR_PEM_ERROR) {
            in_cert = 0; /* a damaged object is skipped */
        } else if (n == 0) {
            break;
        }
    }
    free(der.b.data);
    return rc;
}

static void set_anchor_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_anchor_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(anchors.err);
    if (vasprintf(&anchors.err, fmt, ap) < 0)
        anchors.err = NULL;
    va_end(ap);
}

/* Appends "PATH: WHY" to the list of files tried: 0, or -1 out of memory. */
static int tried_add(kumo__growbuf *tried, const char *path, const char *why)
{
    return (tried->len && kumo__growbuf_add(tried, "; ", 2)) || kumo__growbuf_add(tried, path, strlen(path)) ||
                   kumo__growbuf_add(tried, ": ", 2) || kumo__growbuf_add(tried, why, strlen(why))
               ? -1
               : 0;
}

/* Tries one CA file: 1 when it gave anchors, 0 when not (why appended to
 * `tried`), -1 out of memory. */
static int load_file(const char *path, kumo__growbuf *tried)
{
    kumo__growbuf data = {.max = CA_FILE_MAX};
    int e = read_file(path, &data), rc;
    if (e == ENOMEM)
        rc = -1;
    else if (e != 0)
        rc = tried_add(tried, path, e == EFBIG ? "larger than 64 MiB" : strerror(e));
    else if (add_pem(data.data ? data.data : "", data.len) != 0)
        rc = -1;
    else if (anchors.n == 0)
        rc = tried_add(tried, path, "no certificate BearSSL can use");
    else
        rc = (anchors.file = strdup(path)) ? 1 : -1;
    free(data.data);
    return rc;
}

static void load_anchors(void)
{
    kumo__growbuf tried = {.max = 1u << 20};
    const char *env = getenv("SSL_CERT_FILE");
    int rc = 0;
    if (env && *env) {
        rc = load_file(env, &tried);
        if (rc == 0)
            set_anchor_error("no CA certificates for https: SSL_CERT_FILE names %s; point it at a PEM file of CA "
                             "certificates",
                             tried.data);
    } else {
        for (size_t i = 0; i < sizeof(ca_paths) / sizeof(ca_paths[0]) && rc == 0; i++)
            rc = load_file(ca_paths[i], &tried);
        if (rc == 0)
            set_anchor_error("no CA certificates for https: %s; install the CA certificates (ca-certificates) or set "
                             "SSL_CERT_FILE to a PEM file of them",
                             tried.data);
    }
    if (rc < 0) {
        for (size_t i = 0; i < anchors.n; i++)
            anchor_free(&anchors.tas[i]);
        anchors.n = 0;
        free(anchors.file);
        anchors.file = NULL;
        set_anchor_error("out of memory reading the CA certificates for https");
    }
    free(tried.data);
}

/* ---- the client and one call --------------------------------------------------------------------------------- */

typedef struct tls_conn {
    br_ssl_client_context sc;
    br_x509_minimal_context xc;
    unsigned char buf[BR_SSL_BUFSIZE_BIDI];
    char *session_host; /* the host the engine's session is with (resumed when it is this call's), or NULL */
} tls_conn;

struct kumo__httpc {
    int fd;    /* -1: no connection */
    int https; /* the connection's scheme, host and port */
    char *host;
    unsigned port;
    int keep;   /* the last answer left the connection open for another request */
    int tls_on; /* the connection speaks TLS through `tls` */
    tls_conn *tls;
    char *in; /* bytes read: in[pos, len) not yet taken */
    size_t pos, len, cap;
};

/* The URL, pointing into req->url. */
typedef struct url {
    int https, v6;
    unsigned port;
    const char *host; /* without brackets */
    size_t host_len;
    const char *host_hdr; /* Host's value as written: host (brackets kept), ":port" unless the default */
    size_t host_hdr_len;
    const char *target; /* path and query, before any '#'; "/" put before it when empty or "?..." */
    size_t target_len;
} url;

typedef struct call {
    kumo__httpc *c;
    const kumo__httpc_req *req;
    url u;
    char *host;   /* u.host, NUL-terminated */
    char *origin; /* "host:port" for messages */
    int64_t end;  /* timeout_ms's deadline */
    int64_t deadline;
    int deadline_code;  /* what passing `deadline` is: KUMO_EUNAVAILABLE connecting, KUMO_ETIMEDOUT after */
    int handshaking;    /* in the TLS handshake (for messages) */
    size_t received;    /* answer bytes read on this attempt */
    int lost;           /* the connection ended or was reset (EOF, EPIPE, ECONNRESET) */
    int wbroken;        /* writing failed (EPIPE, ECONNRESET): nothing more is sent */
    int rdone;          /* the server's end of stream was read while sending */
    int caller_close;   /* the caller sent Connection: close */
    size_t max_headers; /* req's, 0 made the default */
    char *msg;
    size_t msglen;
} call;

static int fail(call *x, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(call *x, int code, const char *fmt, ...)
{
    if (x->msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->msg, x->msglen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The first bytes of a line, made printable, for messages. */
static const char *shown(const char *p, size_t n, char *buf, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < size; i++)
        buf[k++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    buf[k] = '\0';
    return buf;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int timed_out(call *x)
{
    if (x->deadline_code == KUMO_EUNAVAILABLE)
        return fail(x, KUMO_EUNAVAILABLE, "%s: no connection%s within connect_timeout_ms (%ld ms)", x->origin,
                    x->handshaking ? " (TLS handshake unfinished)" : "", x->req->connect_timeout_ms);
    return fail(x, KUMO_ETIMEDOUT, "%s: no complete answer within timeout_ms (%ld ms)", x->origin, x->req->timeout_ms);
}

/* Waits for `events` on fd until the phase's deadline: the revents, or a
 * negative code (the deadline passed, poll failed) with the message. */
static int wait_fd(call *x, int fd, short events)
{
    for (;;) {
        int ms = -1;
        if (x->deadline != NO_DEADLINE) {
            int64_t left = x->deadline - now_ms();
            if (left <= 0)
                return timed_out(x);
            ms = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return p.revents;
        if (n < 0 && errno != EINTR)
            return fail(x, KUMO_EIO, "%s: poll: %s", x->origin, strerror(errno));
    }
}

/* Room for `want` more bytes after in[len]: 0, or -1 out of memory. */
static int in_room(kumo__httpc *c, size_t want)
{
    if (c->pos == c->len)
        c->pos = c->len = 0;
    if (c->cap - c->len >= want)
        return 0;
    if (c->pos > 0) {
        memmove(c->in, c->in + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
        if (c->cap - c->len >= want)
            return 0;
    }
    size_t cap = c->cap ? c->cap : READ_ROOM;
    while (cap - c->len < want)
        cap *= 2;
    char *p = realloc(c->in, cap);
    if (p == NULL)
        return -1;
    c->in = p;
    c->cap = cap;
    return 0;
}

/* ---- TLS ------------------------------------------------------------------------------------------------------- */

static const char *tls_error_name(int err)
{
    switch (err) {
    case BR_ERR_BAD_PARAM: return "bad parameter";
    case BR_ERR_BAD_STATE: return "bad state";
    case BR_ERR_UNSUPPORTED_VERSION: return "unsupported TLS version";
    case BR_ERR_BAD_VERSION: return "wrong version in a record";
    case BR_ERR_BAD_LENGTH: return "bad record length (is it TLS?)";
    case BR_ERR_TOO_LARGE: return "record too large";
    case BR_ERR_BAD_MAC: return "bad record MAC";
    case BR_ERR_NO_RANDOM: return "no random source";
    case BR_ERR_UNKNOWN_TYPE: return "unknown record type";
    case BR_ERR_UNEXPECTED: return "unexpected message";
    case BR_ERR_BAD_CCS: return "bad ChangeCipherSpec";
    case BR_ERR_BAD_ALERT: return "bad alert";
    case BR_ERR_BAD_HANDSHAKE: return "bad handshake message";
    case BR_ERR_OVERSIZED_ID: return "oversized session id";
    case BR_ERR_BAD_CIPHER_SUITE: return "the server chose a cipher suite that was not offered";
    case BR_ERR_BAD_COMPRESSION: return "the server chose compression";
    case BR_ERR_BAD_FRAGLEN: return "bad fragment length";
    case BR_ERR_BAD_SECRENEG: return "bad secure renegotiation";
    case BR_ERR_EXTRA_EXTENSION: return "unexpected extension";
    case BR_ERR_BAD_SNI: return "bad server name";
    case BR_ERR_BAD_HELLO_DONE: return "bad ServerHelloDone";
    case BR_ERR_LIMIT_EXCEEDED: return "limit exceeded";
    case BR_ERR_BAD_FINISHED: return "bad Finished";
    case BR_ERR_RESUME_MISMATCH: return "session resumption mismatch";
    case BR_ERR_INVALID_ALGORITHM: return "unsupported algorithm";
    case BR_ERR_BAD_SIGNATURE: return "bad signature in the key exchange";
    case BR_ERR_WRONG_KEY_USAGE: return "the certificate's key usage forbids this key exchange";
    case BR_ERR_NO_CLIENT_AUTH: return "the server asked for a client certificate";
    case BR_ERR_X509_NOT_CA: return "a certificate in the chain is not a CA";
    case BR_ERR_X509_FORBIDDEN_KEY_USAGE: return "a key usage forbids it";
    case BR_ERR_X509_WEAK_PUBLIC_KEY: return "a key is too weak";
    case BR_ERR_X509_BAD_SIGNATURE: return "a signature in the chain is wrong";
    case BR_ERR_X509_CRITICAL_EXTENSION: return "an unsupported critical extension";
    case BR_ERR_X509_UNSUPPORTED: return "an unsupported algorithm or feature";
    case BR_ERR_X509_EMPTY_CHAIN: return "the server sent no certificate";
    case BR_ERR_X509_DN_MISMATCH: return "issuer and subject names do not chain";
    case BR_ERR_X509_WRONG_KEY_TYPE: return "the key type does not fit the cipher suite";
    case BR_ERR_X509_LIMIT_EXCEEDED: return "the chain is too long";
    default: return NULL;
    }
}

static const char *alert_name(int alert)
{
    switch (alert) {
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 112: return "unrecognized_name";
    default: return "alert";
    }
}

/* BearSSL's error as a message (KUMO_EUNAVAILABLE: the server cannot be
 * talked to safely). */
static int tls_fail(call *x, int err)
{
    const char *what = x->handshaking ? "TLS handshake failed" : "TLS failed";
    switch (err) {
    case BR_ERR_X509_NOT_TRUSTED:
        return fail(x, KUMO_EUNAVAILABLE,
                    "%s: the server's certificate is not trusted (no CA of %s signed its chain; set SSL_CERT_FILE "
                    "to add one)",
                    x->origin, anchors.file ? anchors.file : "the trust anchors");
    case BR_ERR_X509_BAD_SERVER_NAME:
        return fail(x, KUMO_EUNAVAILABLE, "%s: the server's certificate is not valid for the name '%s'", x->origin,
                    x->host);
    case BR_ERR_X509_EXPIRED:
        return fail(x, KUMO_EUNAVAILABLE,
                    "%s: the server's certificate has expired or is not valid yet (is this machine's clock right?)",
                    x->origin);
    case BR_ERR_X509_TIME_UNKNOWN:
        return fail(x, KUMO_EUNAVAILABLE, "%s: %s: the current time is unknown to check the certificate", x->origin,
                    what);
    case BR_ERR_UNSUPPORTED_VERSION:
        return fail(x, KUMO_EUNAVAILABLE, "%s: %s: the server does not speak TLS 1.2 (BearSSL error %d)", x->origin,
                    what, err);
    }
    if (err >= BR_ERR_RECV_FATAL_ALERT && err < BR_ERR_SEND_FATAL_ALERT)
        return fail(x, KUMO_EUNAVAILABLE, "%s: %s: the server sent the fatal alert %d (%s)", x->origin, what,
                    err - BR_ERR_RECV_FATAL_ALERT, alert_name(err - BR_ERR_RECV_FATAL_ALERT));
    if (err >= BR_ERR_SEND_FATAL_ALERT)
        return fail(x, KUMO_EUNAVAILABLE, "%s: %s: sent the fatal alert %d (%s)", x->origin, what,
                    err - BR_ERR_SEND_FATAL_ALERT, alert_name(err - BR_ERR_SEND_FATAL_ALERT));
    const char *name = tls_error_name(err);
    if (err >= BR_ERR_X509_OK && err < BR_ERR_RECV_FATAL_ALERT)
        return fail(x, KUMO_EUNAVAILABLE, "%s: the server's certificate was refused: %s (BearSSL error %d)", x->origin,
                    name ? name : "invalid", err);
    return fail(x, KUMO_EUNAVAILABLE, "%s: %s: %s (BearSSL error %d)", x->origin, what, name ? name : "error", err);
}

static int sending_broken(call *x)
{
    x->wbroken = 1;
    x->lost = 1;
    return 0;
}

/* Whether the bytes taken in while sending hold the whole head of a final
 * answer (after any interim ones): the server has decided without the rest
 * of the body, so sending stops (RFC 9112 9.5) and the answer is read. */
static int early_answer(const kumo__httpc *c)
{
    const char *s = c->in + c->pos, *e = c->in + c->len;
    for (;;) {
        while (s < e && (*s == '\r' || *s == '\n'))
            s++;
        if (e - s < 12 || memcmp(s, "HTTP/1.", 7) != 0)
            return 0;
        const char *end = NULL;
        for (const char *q = memchr(s, '\n', (size_t)(e - s)); q && !end;
             q = memchr(q + 1, '\n', (size_t)(e - q - 1))) {
            if (q + 1 < e && q[1] == '\n')
                end = q + 2;
            else if (q + 2 < e && q[1] == '\r' && q[2] == '\n')
                end = q + 3;
        }
        if (end == NULL)
            return 0;
        if (s[9] != '1')
            return 1;
        s = end;
    }
}

static void took_in(call *x)
{
    if (early_answer(x->c))
        x->wbroken = 1;
}

/* Takes in what the engine decrypted while the request is still sent:
 * 1 some came, 0 no room (the engine then holds it), or a negative code. */
static int tls_absorb(call *x)
{
    kumo__httpc *c = x->c;
    size_t n;
    if (c->len - c->pos >= ABSORB_MAX + x->max_headers)
        return 0;
    unsigned char *p = br_ssl_engine_recvapp_buf(&c->tls->sc.eng, &n);
    if (in_room(c, n) != 0)
        return fail(x, KUMO_ENOMEM, "out of memory reading the answer");
    memcpy(c->in + c->len, p, n);
    c->len += n;
    x->received += n;
    br_ssl_engine_recvapp_ack(&c->tls->sc.eng, n);
    took_in(x);
    return 1;
}

/*
 * Drives the engine over the socket until its state has `want`
 * (BR_SSL_SENDAPP: it takes data to send, which also means the handshake
 * is done; BR_SSL_RECVAPP: it has data for us) or, with want 0, until it
 * has no record left to send. Returns 0; 1 when the server ended the
 * stream (close_notify or end of TCP stream) or, when sending, the socket
 * refused more (x->wbroken); or a negative code with the message.
 */
static int tls_pump(call *x, unsigned want)
{
    kumo__httpc *c = x->c;
    br_ssl_engine_context *eng = &c->tls->sc.eng;
    for (;;) {
        unsigned st = br_ssl_engine_current_state(eng);
        if (st & BR_SSL_CLOSED) {
            int err = br_ssl_engine_last_error(eng);
            if (err == BR_ERR_OK) {
                x->lost = 1;
                return 1;
            }
            return tls_fail(x, err);
        }
        if (want ? (st & want) != 0 : (st & BR_SSL_SENDREC) == 0)
            return 0;
        if (x->wbroken && want != BR_SSL_RECVAPP)
            return 1;
        if ((st & BR_SSL_RECVAPP) && want != BR_SSL_RECVAPP) {
            int r = tls_absorb(x);
            if (r < 0)
                return r;
            if (r > 0)
                continue;
        }
        short ev = 0;
        if ((st & BR_SSL_SENDREC) && !x->wbroken) {
            size_t n;
            unsigned char *p = br_ssl_engine_sendrec_buf(eng, &n);
            ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w > 0) {
                br_ssl_engine_sendrec_ack(eng, (size_t)w);
                continue;
            }
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                ev |= POLLOUT;
            else if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
                sending_broken(x);
            else
                return fail(x, KUMO_EUNAVAILABLE, "%s: sending: %s", x->origin, strerror(errno));
        }
        if (st & BR_SSL_RECVREC) {
            size_t n;
            unsigned char *p = br_ssl_engine_recvrec_buf(eng, &n);
            ssize_t r = recv(c->fd, p, n, 0);
            if (r > 0) {
                br_ssl_engine_recvrec_ack(eng, (size_t)r);
                continue;
            }
            if (r == 0) {
                x->lost = 1;
                return 1;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev |= POLLIN;
            } else if (errno == ECONNRESET) {
                x->lost = 1;
                return fail(x, KUMO_EUNAVAILABLE, "%s reset the connection", x->origin);
            } else {
                return fail(x, KUMO_EUNAVAILABLE, "%s: receiving: %s", x->origin, strerror(errno));
            }
        }
        if (ev == 0) {
            if (x->wbroken)
                return 1;
            return fail(x, KUMO_EIO, "%s: the TLS engine is stuck (state %#x)", x->origin, st);
        }
        int r = wait_fd(x, c->fd, ev);
        if (r < 0)
            return r;
    }
}

static int tls_handshake(call *x)
{
    kumo__httpc *c = x->c;
    pthread_once(&anchors.once, load_anchors);
    if (anchors.n == 0)
        return fail(x, KUMO_EUNAVAILABLE, "%s: %s", x->origin,
                    anchors.err ? anchors.err : "out of memory reading the CA certificates for https");
    if (c->tls == NULL) {
        c->tls = malloc(sizeof(*c->tls));
        if (c->tls == NULL)
            return fail(x, KUMO_ENOMEM, "out of memory");
        br_ssl_client_init_full(&c->tls->sc, &c->tls->xc, anchors.tas, anchors.n);
        /* RFC 8996: TLS 1.0 and 1.1 are deprecated; every cloud endpoint speaks 1.2 */
        br_ssl_engine_set_versions(&c->tls->sc.eng, BR_TLS12, BR_TLS12);
        br_ssl_engine_set_buffer(&c->tls->sc.eng, c->tls->buf, sizeof(c->tls->buf), 1);
        c->tls->session_host = NULL;
    }
    /* a session is resumed only with the host it was made with */
    int resume = c->tls->session_host && strcmp(c->tls->session_host, x->host) == 0;
    if (!resume) {
        free(c->tls->session_host);
        c->tls->session_host = NULL;
        br_ssl_client_forget_session(&c->tls->sc);
    }
    x->handshaking = 1;
    if (!br_ssl_client_reset(&c->tls->sc, x->host, resume))
        return tls_fail(x, br_ssl_engine_last_error(&c->tls->sc.eng));
    c->tls_on = 1;
    int r = tls_pump(x, BR_SSL_SENDAPP);
    x->handshaking = 0;
    if (r != 0) {
        /* what the engine holds of a session may be half this failed one's */
        free(c->tls->session_host);
        c->tls->session_host = NULL;
        br_ssl_client_forget_session(&c->tls->sc);
    }
    if (r == 1)
        return fail(x, KUMO_EUNAVAILABLE, "%s: TLS handshake failed: the server closed the connection", x->origin);
    if (r < 0)
        return r;
    if (!resume)
        c->tls->session_host = strdup(x->host); /* NULL (no memory): no resumption, nothing else */
    return 0;
}

/* ---- the connection ------------------------------------------------------------------------------------------ */

/* Closes the connection; `clean`: after a complete answer, so TLS
 * close_notify is sent if the socket takes it at once. */
static void drop(kumo__httpc *c, int clean)
{
    if (c->fd >= 0) {
        if (c->tls_on && clean) {
            br_ssl_engine_context *eng = &c->tls->sc.eng;
            br_ssl_engine_close(eng);
            size_t n;
            unsigned char *p;
            if ((br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) && (p = br_ssl_engine_sendrec_buf(eng, &n)))
                (void)!send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        close(c->fd);
    }
    c->fd = -1;
    c->tls_on = 0;
    c->keep = 0;
    c->pos = c->len = 0;
    free(c->host);
    c->host = NULL;
}

/* Whether the idle connection is still usable: nothing may have come on it
 * since the last answer (data, end of stream or an error all mean no). */
static int idle_usable(kumo__httpc *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ;
    if (n != 0)
        return 0;
    if (c->tls_on) {
        unsigned st = br_ssl_engine_current_state(&c->tls->sc.eng);
        return (st & BR_SSL_SENDAPP) && !(st & (BR_SSL_CLOSED | BR_SSL_RECVAPP));
    }
    return 1;
}

static int open_conn(call *x)
{
    kumo__httpc *c = x->c;
    char port[8];
    snprintf(port, sizeof(port), "%u", x->u.port);
    x->deadline = x->end;
    x->deadline_code = KUMO_ETIMEDOUT;
    if (x->req->connect_timeout_ms > 0) {
        int64_t d = now_ms() + x->req->connect_timeout_ms;
        if (d < x->end) {
            x->deadline = d;
            x->deadline_code = KUMO_EUNAVAILABLE;
        }
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(x->host, port, &hints, &ai);
    if (g != 0)
        return fail(x, KUMO_EUNAVAILABLE, "cannot resolve %s: %s", x->host,
                    g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    int e = 0, rc = 0;
    for (struct addrinfo *a = ai; a && c->fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            if (errno != EINPROGRESS && errno != EINTR) {
                e = errno;
                close(fd);
                continue;
            }
            int r = wait_fd(x, fd, POLLOUT);
            if (r < 0) {
                close(fd);
                rc = r;
                break;
            }
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                soerr = errno;
            if (soerr != 0) {
                e = soerr;
                close(fd);
                continue;
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
    }
    freeaddrinfo(ai);
    if (rc != 0)
        return rc;
    if (c->fd < 0)
        return fail(x, KUMO_EUNAVAILABLE, "cannot connect to %s: %s", x->origin, strerror(e ? e : ECONNREFUSED));
    c->https = x->u.https;
    c->port = x->u.port;
    c->host = strdup(x->host);
    if (c->host == NULL)
        return fail(x, KUMO_ENOMEM, "out of memory");
    if (x->u.https && (rc = tls_handshake(x)) != 0)
        return rc;
    x->deadline = x->end;
    x->deadline_code = KUMO_ETIMEDOUT;
    return 0;
}

/* Sends n bytes (TLS: into the engine). A server that stops reading
 * (EPIPE, ECONNRESET, its end of stream) sets x->wbroken and is not an
 * error here: its answer, if it gave one, is read next. */
static int conn_send(call *x, const void *data, size_t n)
{
    kumo__httpc *c = x->c;
    const unsigned char *p = data;
    while (n > 0 && !x->wbroken) {
        if (c->tls_on) {
            int r = tls_pump(x, BR_SSL_SENDAPP);
            if (r < 0)
                return r;
            if (r == 1) {
                x->wbroken = 1; /* tls_pump set x->lost when the connection went */
                return 0;
            }
            size_t room;
            unsigned char *buf = br_ssl_engine_sendapp_buf(&c->tls->sc.eng, &room);
            size_t k = room < n ? room : n;
            memcpy(buf, p, k);
            br_ssl_engine_sendapp_ack(&c->tls->sc.eng, k);
            p += k;
            n -= k;
            continue;
        }
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return sending_broken(x);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(x, KUMO_EUNAVAILABLE, "%s: sending: %s", x->origin, strerror(errno));
        short ev = POLLOUT;
        if (!x->rdone && c->len - c->pos < ABSORB_MAX + x->max_headers)
            ev |= POLLIN;
        int r = wait_fd(x, c->fd, ev);
        if (r < 0)
            return r;
        if ((r & (POLLIN | POLLHUP | POLLERR)) && (ev & POLLIN)) {
            if (in_room(c, READ_ROOM) != 0)
                return fail(x, KUMO_ENOMEM, "out of memory reading the answer");
            ssize_t k = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
            if (k > 0) {
                c->len += (size_t)k;
                x->received += (size_t)k;
                took_in(x);
            } else if (k == 0) {
                x->rdone = 1;
            } else if (errno == ECONNRESET) {
                return sending_broken(x);
            }
        }
    }
    return 0;
}

/* TLS: the engine's buffered data sealed into a record and sent. */
static int conn_flush(call *x)
{
    if (!x->c->tls_on || x->wbroken)
        return 0;
    br_ssl_engine_flush(&x->c->tls->sc.eng, 0);
    int r = tls_pump(x, 0);
    if (r == 1)
        x->wbroken = 1;
    return r < 0 ? r : 0;
}

/* Reads more of the answer into c->in: the count (> 0), 0 at the end of
 * the stream, or a negative code with the message. */
static long conn_fill(call *x)
{
    kumo__httpc *c = x->c;
    if (in_room(c, READ_ROOM) != 0)
        return fail(x, KUMO_ENOMEM, "out of memory reading the answer");
    if (c->tls_on) {
        int r = tls_pump(x, BR_SSL_RECVAPP);
        if (r < 0)
            return r;
        if (r == 1)
            return 0;
        size_t n;
        unsigned char *p = br_ssl_engine_recvapp_buf(&c->tls->sc.eng, &n);
        if (n > c->cap - c->len)
            n = c->cap - c->len;
        memcpy(c->in + c->len, p, n);
        br_ssl_engine_recvapp_ack(&c->tls->sc.eng, n);
        c->len += n;
        x->received += n;
        return (long)n;
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            x->received += (size_t)r;
            return (long)r;
        }
        if (r == 0) {
            x->lost = 1;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(x, c->fd, POLLIN);
            if (w < 0)
                return w;
            continue;
        }
        if (errno == ECONNRESET) {
            x->lost = 1;
            return fail(x, KUMO_EUNAVAILABLE, "%s reset the connection%s", x->origin,
                        x->received ? " in the middle of its answer" : " before answering");
        }
        return fail(x, KUMO_EUNAVAILABLE, "%s: receiving: %s", x->origin, strerror(errno));
    }
}

/* ---- the request --------------------------------------------------------------------------------------------- */

static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int is_token(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)p[i]))
            return 0;
    return 1;
}

static int parse_url(call *x, const char *s)
{
    url *u = &x->u;
    const char *p;
    unsigned dflt;
    if (strncasecmp(s, "http://", 7) == 0) {
        p = s + 7;
        dflt = 80;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        p = s + 8;
        dflt = 443;
        u->https = 1;
    } else {
        return fail(x, KUMO_EINVAL, "URL '%s' is not http:// or https://", s);
    }
    const char *auth_end = p + strcspn(p, "/?#");
    const char *rest;
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return fail(x, KUMO_EINVAL, "URL '%s' has user info (user@host), which is not supported; drop it", s);
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(auth_end - p));
        if (close == NULL)
            return fail(x, KUMO_EINVAL, "URL '%s': an IPv6 host is written [ADDRESS]", s);
        u->host = p + 1;
        u->host_len = (size_t)(close - p - 1);
        for (size_t i = 0; i < u->host_len; i++)
            if (!strchr("0123456789abcdefABCDEF:.", u->host[i]) || u->host[i] == '\0')
                return fail(x, KUMO_EINVAL, "URL '%s': an IPv6 host holds hex digits, ':' and '.' only", s);
        u->v6 = 1;
        rest = close + 1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        u->host = p;
        rest = colon ? colon : auth_end;
        u->host_len = (size_t)(rest - p);
        for (size_t i = 0; i < u->host_len; i++) {
            unsigned char ch = (unsigned char)u->host[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  strchr("-._~", ch)))
                return fail(x, KUMO_EINVAL, "URL '%s': the host holds letters, digits, '-', '.', '_' and '~' only", s);
        }
    }
    if (u->host_len == 0)
        return fail(x, KUMO_EINVAL, "URL '%s' names no host", s);
    u->port = dflt;
    u->host_hdr = p;
    u->host_hdr_len = (size_t)(rest - p);
    if (rest < auth_end) {
        if (*rest != ':')
            return fail(x, KUMO_EINVAL, "URL '%s': after the host comes ':PORT' or the path", s);
        size_t n = (size_t)(auth_end - rest - 1);
        unsigned long port = 0;
        for (size_t i = 0; i < n; i++) {
            if (rest[1 + i] < '0' || rest[1 + i] > '9' || port > 65535)
                return fail(x, KUMO_EINVAL, "URL '%s': the port is a number from 1 to 65535", s);
            port = port * 10 + (unsigned long)(rest[1 + i] - '0');
        }
        if (n > 0 && (port == 0 || port > 65535))
            return fail(x, KUMO_EINVAL, "URL '%s': the port is a number from 1 to 65535", s);
        if (n > 0 && port != dflt) {
            u->port = (unsigned)port;
            u->host_hdr_len = (size_t)(auth_end - p);
        }
    }
    u->target = auth_end;
    u->target_len = strcspn(auth_end, "#");
    for (size_t i = 0; i < u->target_len; i++) {
        unsigned char ch = (unsigned char)u->target[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return fail(x, KUMO_EINVAL,
                        "URL '%s': the path or query has a space, control or non-ASCII byte; percent-encode it", s);
    }
    x->host = strndup(u->host, u->host_len);
    if (x->host == NULL ||
        asprintf(&x->origin, "%s%s%s:%u", u->v6 ? "[" : "", x->host, u->v6 ? "]" : "", u->port) < 0) {
        x->origin = NULL;
        return fail(x, KUMO_ENOMEM, "out of memory");
    }
    if (u->https) {
        struct in_addr a4;
        if (u->v6 || inet_aton(x->host, &a4))
            return fail(x, KUMO_EINVAL,
                        "URL '%s': https to an IP address is refused, since the certificate's name could not be "
                        "checked; use the server's host name",
                        s);
    }
    return 0;
}

/* Whether a caller's header line names `name`. */
static int names(const char *line, size_t nlen, const char *name)
{
    return strlen(name) == nlen && strncasecmp(line, name, nlen) == 0;
}

/* Checks the caller's lines, and notes a Connection: close among them. */
static int check_headers(call *x)
{
    const char *const *h = x->req->headers;
    for (size_t i = 0; h && h[i]; i++) {
        const char *line = h[i], *colon = strchr(line, ':');
        char buf[64];
        for (const char *q = line; *q; q++)
            if ((unsigned char)*q < 0x20 ? *q != '\t' : *q == 0x7f)
                return fail(x, KUMO_EINVAL, "header line %zu has a CR, LF or other control character: '%s'", i + 1,
                            shown(line, strlen(line), buf, sizeof(buf)));
        if (colon == NULL || !is_token(line, (size_t)(colon - line)))
            return fail(x, KUMO_EINVAL, "header line %zu is not 'Name: value': '%s'", i + 1,
                        shown(line, strlen(line), buf, sizeof(buf)));
        size_t nlen = (size_t)(colon - line);
        if (names(line, nlen, "host") || names(line, nlen, "content-length") || names(line, nlen, "transfer-encoding"))
            return fail(x, KUMO_EINVAL, "header '%.*s' is written by the client; leave it out", (int)nlen, line);
        if (names(line, nlen, "connection")) {
            for (const char *v = colon + 1; *v;) {
                v += strspn(v, " \t,");
                size_t n = strcspn(v, " \t,");
                if (n == 5 && strncasecmp(v, "close", 5) == 0)
                    x->caller_close = 1;
                v += n;
            }
        }
    }
    return 0;
}

/* The request line and headers, into a malloc'd string. */
static int build_head(call *x, char **out, size_t *outlen)
{
    const kumo__httpc_req *r = x->req;
    kumo__growbuf b = {.max = SIZE_MAX / 2};
    int fresh = r->body == NULL && r->in == NULL;
    char cl[48] = "";
    if (!fresh)
        snprintf(cl, sizeof(cl), "Content-Length: %llu\r\n",
                 (unsigned long long)(r->in ? r->in_len : (uint64_t)r->len));
    else if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 || strcmp(r->method, "PATCH") == 0)
        snprintf(cl, sizeof(cl), "Content-Length: 0\r\n");
    const url *u = &x->u;
    int bad = kumo__growbuf_add(&b, r->method, strlen(r->method)) || kumo__growbuf_add(&b, " ", 1);
    if (u->target_len == 0 || u->target[0] == '?')
        bad = bad || kumo__growbuf_add(&b, "/", 1);
    bad = bad || kumo__growbuf_add(&b, u->target, u->target_len) || kumo__growbuf_add(&b, " HTTP/1.1\r\nHost: ", 17) ||
          kumo__growbuf_add(&b, u->host_hdr, u->host_hdr_len) || kumo__growbuf_add(&b, "\r\n", 2);
    for (size_t i = 0; r->headers && r->headers[i] && !bad; i++)
        bad = kumo__growbuf_add(&b, r->headers[i], strlen(r->headers[i])) || kumo__growbuf_add(&b, "\r\n", 2);
    bad = bad || kumo__growbuf_add(&b, cl, strlen(cl)) || kumo__growbuf_add(&b, "\r\n", 2);
    if (bad) {
        free(b.data);
        return fail(x, KUMO_ENOMEM, "out of memory");
    }
    *out = b.data;
    *outlen = b.len;
    return 0;
}

static int send_request(call *x, const char *head, size_t head_len)
{
    const kumo__httpc_req *r = x->req;
    int rc = conn_send(x, head, head_len);
    if (rc == 0 && r->body && r->len)
        rc = conn_send(x, r->body, r->len);
    if (rc == 0 && r->in) {
        unsigned char buf[16384];
        uint64_t left = r->in_len;
        while (rc == 0 && left > 0 && !x->wbroken) {
            size_t k = fread(buf, 1, left < sizeof(buf) ? (size_t)left : sizeof(buf), r->in);
            if (k == 0)
                return fail(x, KUMO_EIO, "the request body's file %s after %llu of %llu bytes",
                            ferror(r->in) ? "could not be read" : "ended", (unsigned long long)(r->in_len - left),
                            (unsigned long long)r->in_len);
            rc = conn_send(x, buf, k);
            left -= k;
        }
    }
    if (rc == 0)
        rc = conn_flush(x);
    return rc;
}

/* ---- the answer ---------------------------------------------------------------------------------------------- */

typedef struct head {
    int minor; /* HTTP/1.minor */
    long status;
    int has_clen;
    uint64_t clen;
    int te;      /* a Transfer-Encoding came */
    int chunked; /* and it is exactly "chunked" */
    int conn_close, conn_keepalive;
} head;

static int closed_early(call *x, const char *where)
{
    if (x->received == 0)
        return fail(x, KUMO_EUNAVAILABLE, "%s closed the connection without answering%s", x->origin,
                    x->wbroken ? " (it stopped reading the request)" : "");
    return fail(x, KUMO_EUNAVAILABLE, "%s closed the connection in the middle of the answer's %s", x->origin, where);
}

/* One line from c->in (CRLF or LF ended), at most `max` bytes: its start
 * (an offset into c->in, good until the next read) and length without the
 * line end. */
static int read_line(call *x, size_t max, const char *what, size_t *start, size_t *n)
{
    kumo__httpc *c = x->c;
    size_t scanned = 0;
    for (;;) {
        char *nl = memchr(c->in + c->pos + scanned, '\n', c->len - c->pos - scanned);
        if (nl) {
            size_t end = (size_t)(nl - c->in);
            *start = c->pos;
            *n = end - c->pos;
            if (*n && c->in[end - 1] == '\r')
                (*n)--;
            c->pos = end + 1;
            if (*n > max)
                return fail(x, KUMO_ETOOBIG, "%s: the answer's %s is over %zu bytes", x->origin, what, max);
            return 0;
        }
        scanned = c->len - c->pos;
        if (scanned > max)
            return fail(x, KUMO_ETOOBIG, "%s: the answer's %s is over %zu bytes", x->origin, what, max);
        long r = conn_fill(x);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return closed_early(x, what);
    }
}

/* Whether a comma-separated list has `token` (case-insensitive). */
static int list_has(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
            return 1;
    }
    return 0;
}

/* A header field the client acts on. */
static int header_field(call *x, head *h, const char *name, size_t nlen, const char *v, size_t vlen)
{
    char buf[64];
    if (nlen == 14 && strncasecmp(name, "content-length", 14) == 0) {
        /* 1#DIGIT, every element the same (RFC 9110 8.6) */
        for (size_t i = 0; i < vlen;) {
            while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
                i++;
            if (i == vlen)
                break;
            uint64_t n = 0;
            size_t s = i;
            while (i < vlen && v[i] >= '0' && v[i] <= '9') {
                if (n > (UINT64_MAX - 9) / 10)
                    return fail(x, KUMO_EIO, "%s: the answer's Content-Length '%s' is too large", x->origin,
                                shown(v, vlen, buf, sizeof(buf)));
                n = n * 10 + (uint64_t)(v[i++] - '0');
            }
            while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
                i++;
            if (i == s || (i < vlen && v[i] != ',') || (h->has_clen && h->clen != n))
                return fail(x, KUMO_EIO, "%s: the answer's Content-Length '%s' is not one number", x->origin,
                            shown(v, vlen, buf, sizeof(buf)));
            h->has_clen = 1;
            h->clen = n;
        }
        if (!h->has_clen)
            return fail(x, KUMO_EIO, "%s: the answer's Content-Length is empty", x->origin);
    } else if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
        /* only "chunked", once: the client asks for no other coding */
        for (size_t i = 0; i < vlen;) {
            while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
                i++;
            if (i == vlen)
                break;
            size_t s = i;
            while (i < vlen && v[i] != ',')
                i++;
            size_t e = i;
            while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                e--;
            if (e - s != 7 || strncasecmp(v + s, "chunked", 7) != 0 || h->chunked)
                return fail(x, KUMO_EIO, "%s: the answer's Transfer-Encoding '%s' is not supported (only chunked)",
                            x->origin, shown(v, vlen, buf, sizeof(buf)));
            h->chunked = 1;
        }
        h->te = 1;
    } else if (nlen == 10 && strncasecmp(name, "connection", 10) == 0) {
        h->conn_close |= list_has(v, vlen, "close");
        h->conn_keepalive |= list_has(v, vlen, "keep-alive");
    }
    return 0;
}

/* Reads one status line and header block: the header lines into hb
 * (emptied first), what matters into h. */
static int read_head(call *x, head *h, kumo__growbuf *hb)
{
    kumo__httpc *c = x->c;
    size_t max = x->max_headers, start, n, used = 0;
    char buf[64];
    memset(h, 0, sizeof(*h));
    hb->len = 0;
    if (hb->data)
        hb->data[0] = '\0';

    /* the status line, after any empty lines (RFC 9112 2.2); what cannot
     * start one is refused as soon as it shows */
    for (;;) {
        while (c->pos < c->len && (c->in[c->pos] == '\r' || c->in[c->pos] == '\n'))
            c->pos++;
        size_t avail = c->len - c->pos;
        if (avail > 0 && memcmp(c->in + c->pos, "HTTP/1.", avail < 7 ? avail : 7) != 0)
            return fail(x, KUMO_EIO, "%s: the answer is not HTTP/1.x: '%s'", x->origin,
                        shown(c->in + c->pos, avail, buf, 40));
        if (avail >= 7 && memchr(c->in + c->pos, '\n', avail))
            break;
        if (avail > max)
            return fail(x, KUMO_ETOOBIG, "%s: the answer's status line is over %zu bytes (max_headers)", x->origin,
                        max);
        long r = conn_fill(x);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return closed_early(x, "status line");
    }
    int rc = read_line(x, max, "status line", &start, &n);
    if (rc)
        return rc;
    used = n + 2;
    const char *s = c->in + start;
    /* HTTP/1.D SP DDD [SP reason] */
    if (n < 12 || s[7] < '0' || s[7] > '9' || s[8] != ' ' || s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' ||
        s[11] < '0' || s[11] > '9' || (n > 12 && s[12] != ' '))
        return fail(x, KUMO_EIO, "%s: the answer's status line is malformed: '%s'", x->origin,
                    shown(s, n, buf, sizeof(buf)));
    for (size_t i = 12; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return fail(x, KUMO_EIO, "%s: the answer's status line has a control character", x->origin);
    h->minor = s[7] - '0';
    h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');

    for (;;) {
        rc = read_line(x, used < max ? max - used : 0, "header block (max_headers)", &start, &n);
        if (rc == KUMO_ETOOBIG)
            return fail(x, KUMO_ETOOBIG, "%s: the answer's header block is over %zu bytes (max_headers)", x->origin,
                        max);
        if (rc)
            return rc;
        used += n + 2;
        if (n == 0)
            break;
        if (used > max)
            return fail(x, KUMO_ETOOBIG, "%s: the answer's header block is over %zu bytes (max_headers)", x->origin,
                        max);
        const char *line = c->in + start;
        if (line[0] == ' ' || line[0] == '\t')
            return fail(x, KUMO_EIO, "%s: the answer folds a header over lines (obs-fold), which is refused",
                        x->origin);
        const char *colon = memchr(line, ':', n);
        if (colon == NULL || !is_token(line, (size_t)(colon - line)))
            return fail(x, KUMO_EIO, "%s: the answer has a malformed header line: '%s'", x->origin,
                        shown(line, n, buf, sizeof(buf)));
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1, *e = line + n;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        for (const char *q = v; q < e; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
                return fail(x, KUMO_EIO, "%s: the answer's header '%.*s' has a control character", x->origin, (int)nlen,
                            line);
        if ((rc = header_field(x, h, line, nlen, v, (size_t)(e - v))) != 0)
            return rc;
        if (kumo__growbuf_add(hb, line, nlen) || kumo__growbuf_add(hb, ": ", 2) ||
            kumo__growbuf_add(hb, v, (size_t)(e - v)) || kumo__growbuf_add(hb, "\r\n", 2))
            return hb->over ? fail(x, KUMO_ETOOBIG, "%s: the answer's header block is over %zu bytes (max_headers)",
                                   x->origin, max)
                            : fail(x, KUMO_ENOMEM, "out of memory");
    }
    return 0;
}

static int body_too_big(call *x)
{
    return fail(x, KUMO_ETOOBIG, "%s: the answer's body is over max_body (%zu bytes)", x->origin, x->req->max_body);
}

/* Moves n bytes of the stream into the body. */
static int body_take(call *x, kumo__growbuf *bb, uint64_t n)
{
    kumo__httpc *c = x->c;
    while (n > 0) {
        if (c->pos == c->len) {
            long r = conn_fill(x);
            if (r < 0)
                return (int)r;
            if (r == 0)
                return closed_early(x, "body");
        }
        size_t k = c->len - c->pos < n ? c->len - c->pos : (size_t)n;
        if (kumo__growbuf_add(bb, c->in + c->pos, k) != 0)
            return bb->over ? body_too_big(x) : fail(x, KUMO_ENOMEM, "out of memory");
        c->pos += k;
        n -= k;
    }
    return 0;
}

static int read_chunked(call *x, kumo__growbuf *bb)
{
    kumo__httpc *c = x->c;
    size_t start, n, max = x->max_headers;
    char buf[64];
    int rc;
    for (;;) {
        if ((rc = read_line(x, max, "chunk size line", &start, &n)) != 0)
            return rc;
        const char *s = c->in + start;
        uint64_t size = 0;
        size_t i = 0;
        for (; i < n && isxdigit((unsigned char)s[i]); i++) {
            if (size > (UINT64_MAX >> 4))
                return fail(x, KUMO_EIO, "%s: the answer's chunk size '%s' is too large", x->origin,
                            shown(s, n, buf, sizeof(buf)));
            int d = s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10;
            size = size << 4 | (uint64_t)d;
        }
        size_t digits = i;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (digits == 0 || (i < n && s[i] != ';'))
            return fail(x, KUMO_EIO, "%s: the answer's chunk size line is malformed: '%s'", x->origin,
                        shown(s, n, buf, sizeof(buf)));
        for (; i < n; i++) /* chunk extensions, ignored */
            if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
                return fail(x, KUMO_EIO, "%s: the answer's chunk extension has a control character", x->origin);
        if (size == 0)
            break;
        if (size > x->req->max_body - bb->len)
            return body_too_big(x);
        if ((rc = body_take(x, bb, size)) != 0)
            return rc;
        if ((rc = read_line(x, max, "chunk end", &start, &n)) != 0)
            return rc;
        if (n != 0)
            return fail(x, KUMO_EIO, "%s: the answer's chunk is longer than its size says", x->origin);
    }
    /* the trailer section: fields up to an empty line, dropped */
    for (size_t used = 0;;) {
        if ((rc = read_line(x, max - used, "trailer section (max_headers)", &start, &n)) != 0)
            return rc;
        if (n == 0)
            return 0;
        used += n + 2;
        if (used > max)
            return fail(x, KUMO_ETOOBIG, "%s: the answer's trailer section is over %zu bytes (max_headers)", x->origin,
                        max);
    }
}

/* Reads the answer: interim ones skipped, the final one's status, headers
 * and body into res; *keep whether the connection can carry another
 * request. */
static int read_answer(call *x, kumo__httpc_res *res, int *keep)
{
    kumo__httpc *c = x->c;
    kumo__growbuf hb = {.max = x->max_headers}, bb = {.max = x->req->max_body};
    head h;
    int rc;
    *keep = 0;
    for (;;) {
        if ((rc = read_head(x, &h, &hb)) != 0)
            goto out;
        if (h.status >= 200)
            break;
        if (h.status == 101) {
            rc = fail(x, KUMO_EIO, "%s: the answer switches protocols (101), which was not asked for", x->origin);
            goto out;
        }
    }
    res->status = h.status;
    int no_body = strcmp(x->req->method, "HEAD") == 0 || h.status == 204 || h.status == 304;
    int until_close = 0;
    if (no_body) {
        /* nothing */
    } else if (h.te) {
        rc = read_chunked(x, &bb);
    } else if (h.has_clen) {
        if (h.clen > x->req->max_body) {
            rc = body_too_big(x);
            goto out;
        }
        if (h.clen > 0 && kumo__growbuf_reserve(&bb, (size_t)h.clen) != 0) {
            rc = fail(x, KUMO_ENOMEM, "out of memory for a body of %llu bytes", (unsigned long long)h.clen);
            goto out;
        }
        rc = body_take(x, &bb, h.clen);
    } else {
        /* no framing: the body runs until the server closes */
        until_close = 1;
        for (;;) {
            if (c->pos < c->len) {
                if (kumo__growbuf_add(&bb, c->in + c->pos, c->len - c->pos) != 0) {
                    rc = bb.over ? body_too_big(x) : fail(x, KUMO_ENOMEM, "out of memory");
                    break;
                }
                c->pos = c->len;
            }
            long r = conn_fill(x);
            if (r <= 0) {
                rc = (int)r;
                break;
            }
        }
    }
    if (rc != 0)
        goto out;
    *keep = !until_close && !(h.te && h.has_clen) && !x->wbroken && !x->caller_close && !h.conn_close &&
            (h.minor >= 1 || h.conn_keepalive);
    /* bytes past the answer: nothing was asked for them, the connection is not trusted further */
    if (c->pos != c->len || (c->tls_on && (br_ssl_engine_current_state(&c->tls->sc.eng) & BR_SSL_RECVAPP)))
        *keep = 0;
out:
    if (hb.len) {
        res->headers = hb.data;
        res->hlen = hb.len;
    } else {
        free(hb.data);
    }
    if (bb.len) {
        res->body = bb.data;
        res->len = bb.len;
    } else {
        free(bb.data);
    }
    return rc;
}

/* ---- the call ------------------------------------------------------------------------------------------------ */

kumo__httpc *kumo__httpc_new(void)
{
    kumo__httpc *c = calloc(1, sizeof(*c));
    if (c)
        c->fd = -1;
    return c;
}

void kumo__httpc_free(kumo__httpc *c)
{
    if (c == NULL)
        return;
    drop(c, 1);
    if (c->tls) {
        free(c->tls->session_host);
        explicit_bzero(c->tls, sizeof(*c->tls)); /* session keys */
        free(c->tls);
    }
    free(c->in);
    free(c);
}

void kumo__httpc_res_free(kumo__httpc_res *res)
{
    if (res == NULL)
        return;
    free(res->body);
    free(res->headers);
    memset(res, 0, sizeof(*res));
}

static int check_request(call *x)
{
    const kumo__httpc_req *r = x->req;
    if (r->method == NULL || !is_token(r->method, strlen(r->method)))
        return fail(x, KUMO_EINVAL, "the method '%s' is not a token", r->method ? r->method : "(null)");
    if (r->url == NULL)
        return fail(x, KUMO_EINVAL, "no URL");
    if ((r->body && r->in) || (r->body == NULL && r->len > 0))
        return fail(x, KUMO_EINVAL, "a body is either in memory (body, len) or in a FILE (in, in_len)");
    int rc = parse_url(x, r->url);
    return rc ? rc : check_headers(x);
}

int kumo__httpc_perform(kumo__httpc *c, const kumo__httpc_req *req, kumo__httpc_res *res, char *msg, size_t msglen)
{
    call x = {.c = c, .req = req, .msg = msg, .msglen = msg ? msglen : 0};
    char *head = NULL;
    size_t head_len = 0;
    int rc;

    if (x.msglen)
        msg[0] = '\0';
    if (res)
        memset(res, 0, sizeof(*res));
    if (c == NULL || req == NULL || res == NULL)
        return fail(&x, KUMO_EINVAL, "kumo__httpc_perform: a NULL argument");
    x.max_headers = req->max_headers ? req->max_headers : HEADERS_DEFAULT;
    x.end = req->timeout_ms > 0 ? now_ms() + req->timeout_ms : NO_DEADLINE;
    x.deadline = x.end;
    x.deadline_code = KUMO_ETIMEDOUT;
    if ((rc = check_request(&x)) != 0 || (rc = build_head(&x, &head, &head_len)) != 0)
        goto out;

    /* where a streamed body starts, to send it again */
    off_t in_at = req->in ? ftello(req->in) : 0;
    int resendable = in_at >= 0;

    if (c->fd >= 0 &&
        !(c->keep && c->https == x.u.https && c->port == x.u.port && c->host && strcasecmp(c->host, x.host) == 0))
        drop(c, c->keep);
    for (int attempt = 0;; attempt++) {
        int reused = c->fd >= 0 && idle_usable(c);
        if (!reused) {
            drop(c, 0);
            if ((rc = open_conn(&x)) != 0)
                break;
        }
        c->keep = 0;
        c->pos = c->len = 0;
        x.received = 0;
        x.lost = x.wbroken = x.rdone = 0;
        int keep = 0;
        rc = send_request(&x, head, head_len);
        if (rc == 0)
            rc = read_answer(&x, res, &keep);
        if (rc == 0) {
            c->keep = keep;
            if (!keep)
                drop(c, 1);
            break;
        }
        drop(c, 0);
        /* a kept connection the server had closed while idle: once more on a new one */
        if (rc == KUMO_EUNAVAILABLE && reused && attempt == 0 && x.lost && x.received == 0 && resendable) {
            if (req->in && fseeko(req->in, in_at, SEEK_SET) != 0) {
                rc = fail(&x, KUMO_EIO, "cannot seek back in the request body's file to send it again: %s",
                          strerror(errno));
                break;
            }
            kumo__httpc_res_free(res);
            continue;
        }
        break;
    }
out:
    if (rc != 0)
        drop(c, 0);
    if (c && c->cap > IN_KEEP_MAX && c->pos == c->len) {
        free(c->in);
        c->in = NULL;
        c->cap = c->pos = c->len = 0;
    }
    free(head);
    free(x.host);
    free(x.origin);
    return rc;
}
