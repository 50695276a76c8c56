/*
 * h2o_glue.c: see h2o_glue.h. Problem bodies are built with jansson so that
 * any detail text (which may quote user input) is escaped correctly.
 */
#include "gateway/h2o_glue.h"

#include "base/log.h"
#include "gateway/cors.h"
#include "gateway/dispatch.h"
#include "gateway/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>

static char lower(char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

void kumo__h2o_http_in(h2o_req_t *req, kumo__http_in *in)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    kumo__header_view *hv = h2o_mem_alloc_pool(&req->pool, (req->headers.size + 1) * sizeof(*hv));
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        const char *name = h->name->base;
        for (size_t k = 0; k < h->name->len; k++) {
            if (name[k] >= 'A' && name[k] <= 'Z') { /* h2o gives lower-case names; be sure */
                char *low = h2o_mem_alloc_pool(&req->pool, h->name->len);
                for (size_t q = 0; q < h->name->len; q++)
                    low[q] = lower(name[q]);
                name = low;
                break;
            }
        }
        hv[i].name = (kumo__slice){name, h->name->len};
        hv[i].value = (kumo__slice){h->value.base, h->value.len};
    }
    *in = (kumo__http_in){
        .method = {req->method.base, req->method.len},
        .path = {req->path.base, path_len},
        .query = {req->query_at != SIZE_MAX ? req->path.base + path_len + 1 : NULL,
                  req->query_at != SIZE_MAX ? req->path.len - path_len - 1 : 0},
        .headers = hv,
        .nheaders = req->headers.size,
        .body = {req->entity.base, req->entity.len},
        .tls_client_subject = kumo__tls_client_subject(req),
    };
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername ? req->conn->callbacks->get_peername(req->conn, (void *)&ss) : 0;
    char addr[INET6_ADDRSTRLEN];
    if (sl > 0 && ss.ss_family == AF_INET) {
        /* by hand: inet_ntop's printf costs more than the rest of this
         * function, on every request */
        const unsigned char *b = (const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr;
        char *p = h2o_mem_alloc_pool(&req->pool, 16), *o = p;
        for (int i = 0; i < 4; i++) {
            unsigned v = b[i];
            if (v >= 100)
                *o++ = (char)('0' + v / 100);
            if (v >= 10)
                *o++ = (char)('0' + v / 10 % 10);
            *o++ = (char)('0' + v % 10);
            *o++ = i < 3 ? '.' : '\0';
        }
        in->client_addr = p;
    } else if (sl > 0 && ss.ss_family == AF_INET6 &&
               inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr))) {
        in->client_addr = h2o_strdup(&req->pool, addr, SIZE_MAX).base;
    }
}

int kumo__h2o_refuse_head(h2o_req_t *req, const kumo__http_limits *lim, const char *request_id)
{
    size_t bytes = 0;
    char why[200];
    if (req->headers.size > (size_t)lim->max_headers) {
        snprintf(why, sizeof(why), "the request has more than %d header fields (kumo.yaml http.max_headers)",
                 lim->max_headers);
        goto too_large;
    }
    for (size_t i = 0; i < req->headers.size; i++) {
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
        if (bytes > lim->max_header_bytes) {
            snprintf(why, sizeof(why),
                     "the request's header fields hold more than %zu bytes of names and values "
                     "(kumo.yaml http.max_header_bytes)",
                     lim->max_header_bytes);
            goto too_large;
        }
    }
    return 0;
too_large:
    kumo__send_problem(req, 431, "Request Header Fields Too Large", why, request_id, NULL);
    return 431;
}

/* Case-insensitive comparison of a field name with a lower-case literal. */
static int name_is(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != lit[i])
            return 0;
    return 1;
}

/* The value of a field line without its surrounding blanks. */
static void trim(const char **v, size_t *len)
{
    while (*len && (**v == ' ' || **v == '\t'))
        (*v)++, (*len)--;
    while (*len && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t' || (*v)[*len - 1] == '\r'))
        (*len)--;
}

int kumo__h2o_refuse_framing(h2o_req_t *req, const char *request_id)
{
    /* Only HTTP/1.x requests that came with a body have a framing to check
     * (with neither field h2o reads no body and entity.base stays NULL). */
    if (req->version >= 0x200 || req->entity.base == NULL || req->conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return 0;
    const char *head = sock->input->bytes, *end = req->entity.base;
    /* h2o keeps the request's head at the start of the connection's input
     * until the response is done, the body right after it; anything else
     * (a layout this code does not know) is left alone. */
    if (end < head || end > head + sock->input->size || (size_t)(end - head) < req->method.len ||
        memcmp(head, req->method.base, req->method.len) != 0)
        return 0;
    const char *cl = NULL, *why = NULL;
    size_t cl_len = 0;
    int te = 0, ncl = 0;
    const char *line = memchr(head, '\n', (size_t)(end - head)); /* after the request line */
    while (line && ++line < end && why == NULL) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon != NULL) {
            const char *v = colon + 1;
            size_t vlen = (size_t)(eol - v);
            trim(&v, &vlen);
            if (name_is(line, (size_t)(colon - line), "transfer-encoding")) {
                te = 1;
            } else if (name_is(line, (size_t)(colon - line), "content-length")) {
                if (ncl++ > 0 && (vlen != cl_len || memcmp(v, cl, vlen) != 0))
                    why = "the request has two Content-Length fields that differ; send one";
                cl = v;
                cl_len = vlen;
            }
        }
        line = eol < end ? eol : NULL;
    }
    if (why == NULL && te && ncl > 0)
        why = "the request has both Transfer-Encoding and Content-Length; send one (RFC 9112, 6.3)";
    if (why == NULL)
        return 0;
    /* Which body was meant is unknown, so what follows on this connection
     * cannot be trusted either: the answer closes it. */
    req->http1_is_persistent = 0;
    kumo__send_problem(req, 400, "Bad Request", why, request_id, NULL);
    return 400;
}

struct kumo__listener {
    h2o_socket_t *sock; /* NULL once closed */
    h2o_evloop_t *loop;
    h2o_accept_ctx_t *actx;
    h2o_timeout_t pause; /* how long accepting stops when descriptors run out */
    h2o_timeout_entry_t resume;
    size_t max_conns;                /* the bound on open connections; 0: none */
    size_t nconns;                   /* accepted and not yet closed */
    int at_bound;                    /* stopped at max_conns: resumes when one closes */
    int said_fds;                    /* this episode's "out of descriptors" is logged */
    int said_bound;                  /* this episode's "at the bound" is logged */
    int pressed;                     /* in an episode: idle connections are closed sooner (press) */
    uint64_t idle_http1, idle_http2; /* the context's own idle times, while pressed */
    int closed;                      /* kumo__listener_close was called: freed when the last connection closes */
    char name[32];
    struct kumo__listener *next; /* closed with connections open: the lingering list */
};

/* A listener closed while connections it accepted are still open stays
 * until the last closes (their on-close callback points at it), on this
 * list so that it is never lost. */
static pthread_mutex_t lingering_lock = PTHREAD_MUTEX_INITIALIZER;
static kumo__listener *lingering;

#define ACCEPT_PAUSE_MS 100
/* The least a derived bound allows a loop, however low the open-files limit. */

static void on_accept(h2o_socket_t *listener, const char *err);
static void take(kumo__listener *l, h2o_socket_t *sock);

static void on_resume(h2o_timeout_entry_t *entry)
{
    kumo__listener *l = (kumo__listener *)((char *)entry - offsetof(kumo__listener, resume));
    if (!l->at_bound)
        h2o_socket_read_start(l->sock, on_accept);
}

/* While new clients wait (at the bound, or out of descriptors), the
 * connections that only wait for a request are what can be given back:
 * the context closes those idle for PRESSURE_IDLE_MS instead of its usual
 * keep-alive time (h2o reads a timeout's length whenever it runs it), as
 * a busy server reclaims idle keep-alive connections. Undone when no
 * client waits any more, unless a drain has shortened them for good. */
#define PRESSURE_IDLE_MS 1000
static void press(kumo__listener *l, int on)
{
    h2o_context_t *ctx = l->actx->ctx;
    if (on && !l->pressed) {
        l->idle_http1 = ctx->http1.req_timeout.timeout;
        l->idle_http2 = ctx->http2.idle_timeout.timeout;
        if (ctx->http1.req_timeout.timeout > PRESSURE_IDLE_MS)
            ctx->http1.req_timeout.timeout = PRESSURE_IDLE_MS;
        if (ctx->http2.idle_timeout.timeout > PRESSURE_IDLE_MS)
            ctx->http2.idle_timeout.timeout = PRESSURE_IDLE_MS;
        l->pressed = 1;
    } else if (!on && l->pressed) {
        if (!ctx->shutdown_requested) {
            ctx->http1.req_timeout.timeout = l->idle_http1;
            ctx->http2.idle_timeout.timeout = l->idle_http2;
        }
        l->pressed = 0;
    }
}

/* An accepted connection's socket is disposed (its descriptor is closed). */
static void on_conn_close(void *data)
{
    kumo__listener *l = data;
    l->nconns--;
    if (l->sock == NULL) { /* stopped: no accepting to resume */
        if (l->nconns > 0 || !l->closed)
            return;
        pthread_mutex_lock(&lingering_lock);
        kumo__listener **pp = &lingering;
        while (*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
        pthread_mutex_unlock(&lingering_lock);
        free(l);
        return;
    }
    if (l->at_bound && l->nconns < l->max_conns) {
        l->at_bound = 0;
        if (!h2o_timeout_is_linked(&l->resume)) /* else the pause's end resumes it */
            h2o_socket_read_start(l->sock, on_accept);
    }
}

/* Accepts what the backlog holds, up to the bound. An episode (accepting
 * stopped for lack of descriptors or at the bound) is logged once when it
 * begins and once when it ends: when the backlog is found empty, that is
 * when no client waits any more. */
static void on_accept(h2o_socket_t *listener, const char *err)
{
    kumo__listener *l = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 16; i++) {
        if (l->max_conns > 0 && l->nconns >= l->max_conns) {
            if (!l->said_bound)
                kumo__log_event("warn",
                                "%s: %zu connections open, its bound (http.max_connections): new connections "
                                "wait in the listen backlog and are accepted as others close; connections idle "
                                "for %d ms are closed meanwhile",
                                l->name, l->nconns, PRESSURE_IDLE_MS);
            l->said_bound = 1;
            l->at_bound = 1;
            press(l, 1);
            h2o_socket_read_stop(listener);
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE) {
                if (!l->said_fds) {
                    struct rlimit rl;
                    getrlimit(RLIMIT_NOFILE, &rl);
                    kumo__log_event("warn",
                                    "%s: out of file descriptors (%llu open at most): new connections wait, "
                                    "accepted again every %d ms as others close; connections idle for %d ms "
                                    "are closed meanwhile",
                                    l->name, (unsigned long long)rl.rlim_cur, ACCEPT_PAUSE_MS, PRESSURE_IDLE_MS);
                    l->said_fds = 1;
                }
                press(l, 1);
                h2o_socket_read_stop(listener);
                h2o_timeout_link(l->loop, &l->pause, &l->resume);
            } else if ((errno == EAGAIN || errno == EWOULDBLOCK) && (l->said_fds || l->said_bound)) {
                kumo__log_event("info", "%s: accepting connections again (none waits in the backlog)", l->name);
                l->said_fds = l->said_bound = 0;
                press(l, 0);
            }
            return;
        }
        take(l, sock);
    }
}

kumo__listener *kumo__listener_start(h2o_evloop_t *loop, int fd, h2o_accept_ctx_t *actx, const char *name,
                                     size_t max_conns)
{
    kumo__listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->loop = loop;
    l->actx = actx;
    l->max_conns = max_conns;
    snprintf(l->name, sizeof(l->name), "%s", name);
    h2o_timeout_init(loop, &l->pause, ACCEPT_PAUSE_MS);
    l->resume.cb = on_resume;
    l->sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    h2o_socket_read_start(l->sock, on_accept);
    return l;
}

/* Takes a connection the listening socket accepted: counted until h2o
 * disposes of its socket. */
static void take(kumo__listener *l, h2o_socket_t *sock)
{
    l->nconns++;
    sock->on_close.cb = on_conn_close; /* h2o leaves it to us on accepted sockets */
    sock->on_close.data = l;
    h2o_accept(l->actx, sock);
}

void kumo__listener_stop(kumo__listener *l)
{
    if (l == NULL || l->sock == NULL)
        return;
    if (h2o_timeout_is_linked(&l->resume))
        h2o_timeout_unlink(&l->resume);
    h2o_socket_read_stop(l->sock);
    /* A connection the kernel completed but nobody accepted is reset when
     * the listening socket closes: take the backlog first and serve it
     * (after kumo__h2o_drain, its one request is answered with close). */
    for (int i = 0; i < 4096; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(l->sock);
        if (sock == NULL)
            break;
        take(l, sock);
    }
    h2o_socket_close(l->sock);
    l->sock = NULL;
}

size_t kumo__listener_connections(const kumo__listener *l)
{
    return l ? l->nconns : 0;
}

void kumo__listener_close(kumo__listener *l)
{
    if (l == NULL)
        return;
    kumo__listener_stop(l);
    h2o_timeout_dispose(l->loop, &l->pause);
    l->closed = 1;
    if (l->nconns == 0) {
        free(l);
        return;
    }
    pthread_mutex_lock(&lingering_lock);
    l->next = lingering;
    lingering = l;
    pthread_mutex_unlock(&lingering_lock);
}

void kumo__h2o_drain(h2o_context_t *ctx, uint64_t idle_ms)
{
    /* HTTP/1.1: the next response of every connection says Connection:
     * close; HTTP/2: GOAWAY now, and again with the last stream a second
     * later. */
    h2o_context_request_shutdown(ctx);
    /* Connections that wait for a request are closed after idle_ms of
     * waiting instead of the usual keep-alive time: h2o reads a timeout's
     * length whenever it runs it, so the ones already waiting follow. */
    if (ctx->http1.req_timeout.timeout > idle_ms)
        ctx->http1.req_timeout.timeout = idle_ms;
    if (ctx->http2.idle_timeout.timeout > idle_ms)
        ctx->http2.idle_timeout.timeout = idle_ms;
}

void kumo__h2o_add_header(h2o_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, name_len, 1, NULL, value, value_len);
}

void kumo__h2o_copy_header(h2o_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    char *low = h2o_mem_alloc_pool(&req->pool, name_len + 1);
    for (size_t i = 0; i < name_len; i++)
        low[i] = lower(name[i]);
    low[name_len] = '\0';
    h2o_iovec_t v = h2o_strdup(&req->pool, value, value_len);
    kumo__h2o_add_header(req, low, name_len, v.base, v.len);
}

void kumo__h2o_send_response(h2o_req_t *req, const kumo__response_in *r, const char *payload, size_t len,
                             const char *request_id, int kumo_cors)
{
    size_t pos = 0, nl, vl;
    const char *name, *value;
    while (kumo__response_header(payload, len, &pos, &name, &nl, &value, &vl) == 1)
        if (!kumo_cors || !kumo__cors_owned_header(name, nl))
            kumo__h2o_copy_header(req, name, nl, value, vl);
    req->res.status = r->status;
    req->res.reason = kumo__http_reason(r->status);
    kumo__h2o_add_header(req, H2O_STRLIT("x-request-id"), h2o_strdup(&req->pool, request_id, SIZE_MAX).base,
                         strlen(request_id));
    kumo__send_body(req, r->body, r->body_len);
}

void kumo__send_body(h2o_req_t *req, const char *body, size_t len)
{
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

void kumo__send_problem(h2o_req_t *req, int status, const char *title, const char *detail, const char *request_id,
                        const char *retry_after)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char *body = kumo__problem_json(status, title, detail, req->path.base, path_len, request_id, NULL, NULL);

    req->res.status = status;
    req->res.reason = kumo__http_reason(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/problem+json"));
    if (request_id) { /* copied: a call's id goes back to its loop's kept calls once answered (api.c) */
        h2o_iovec_t id = h2o_strdup(&req->pool, request_id, SIZE_MAX);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 1, NULL, id.base, id.len);
    }
    if (retry_after)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, retry_after, strlen(retry_after));
    if (body == NULL) {
        kumo__send_body(req, H2O_STRLIT("{\"title\":\"Internal Server Error\",\"status\":500}"));
        return;
    }
    kumo__send_body(req, body, strlen(body));
    free(body);
}

/* The body of an h2o error is known only when it is sent, so the rewrite
 * happens in the output stream: its text becomes the problem's detail. */
typedef struct problem_ostream {
    h2o_ostream_t super;
    int sent;
} problem_ostream;

static void problem_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                            h2o_send_state_t state)
{
    problem_ostream *o = (problem_ostream *)self;
    if (o->sent || h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"))) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    o->sent = 1;
    char detail[256];
    size_t n = 0;
    for (size_t i = 0; i < bufcnt && n < sizeof(detail) - 1; i++) {
        size_t take = bufs[i].len < sizeof(detail) - 1 - n ? bufs[i].len : sizeof(detail) - 1 - n;
        memcpy(detail + n, bufs[i].base, take);
        n += take;
    }
    while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == '\r'))
        n--;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char dtext[sizeof(detail) + 1];
    memcpy(dtext, detail, n);
    dtext[n] = '\0';
    char *body = kumo__problem_json(req->res.status, NULL, dtext, req->path.base, req->path.base ? path_len : 0, NULL,
                                    NULL, NULL);
    h2o_iovec_t out = body ? h2o_strdup(&req->pool, body, strlen(body)) : h2o_iovec_init(H2O_STRLIT("{}"));
    free(body);
    h2o_ostream_send_next(self, req, &out, 1, state);
}

static void on_setup_problem_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    int problem_already =
        i >= 0 && h2o_memis(req->res.headers.entries[i].value.base, req->res.headers.entries[i].value.len,
                            H2O_STRLIT("application/problem+json"));
    if (req->res.status >= 400 && !problem_already &&
        h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1) < 0) {
        if (i >= 0)
            req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/problem+json"));
        else
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                           H2O_STRLIT("application/problem+json"));
        req->res.content_length = SIZE_MAX;
        problem_ostream *o = (problem_ostream *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = problem_do_send;
        o->sent = 0;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void kumo__install_problem_filter(h2o_hostconf_t *host, h2o_pathconf_t *path)
{
    h2o_filter_t *f = h2o_create_filter(path, sizeof(*f));
    f->on_setup_ostream = on_setup_problem_ostream;
    f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_setup_problem_ostream;
}
