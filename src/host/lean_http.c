/*
 * lean_http.c: kumo-http's http adapter, kumo-host's (http.c) over kumo's
 * own HTTP/1.1 server instead of h2o, so that an image or an Azure app
 * carries neither h2o nor OpenSSL (deploy/bundle.c). The platforms in
 * front of it (Cloud Run, Knative's queue-proxy, OpenFaaS's watchdog,
 * the Azure Functions host, a Kubernetes Service's clients) speak HTTP/1.1
 * to the container and terminate TLS themselves.
 *
 * One thread, one epoll set, level-triggered. Requests are answered one
 * at a time, as http.c answers them: a request whose head and body have
 * arrived is dispatched in place, its answer queued on its connection.
 * Pipelined requests are read in order, the next only once the previous
 * answer is written, so that a client that does not read holds its own
 * connection only. What a request may take is bounded: its head by
 * http.max_headers and http.max_header_bytes (http1.c), its body by the
 * largest max_body of the units (as h2o's max_request_entity_size in
 * http.c), the time its head takes from its first byte, the time between
 * its body's bytes and between requests by the idle time (IDLE_MS), and
 * the connections by http.max_connections.
 *
 * Drain on SIGTERM, as http.c: no new connections; a connection between
 * requests is closed after DRAIN_IDLE_MS, and so is one whose head is not
 * whole DRAIN_IDLE_MS after the drain began (a head is one packet from a
 * client that is not stalled); the next answer on each one is its last
 * (Connection: close); what is still open after DRAIN_MAX_MS is left to
 * the exit.
 */
#include "host/host.h"
#include "host/http1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fdlimit.h"
#include "base/growbuf.h"
#include "base/http.h"
#include "base/log.h"
#include "gateway/access_log.h"

#define IDLE_MS 10000      /* a head whole, between a body's bytes, between requests */
#define DRAIN_IDLE_MS 1000 /* a connection between requests, once draining */
#define DRAIN_MAX_MS 10000
#define READ_CHUNK 16384
#define LINGER_MS 2000       /* a closing connection's wait for the client's own close */
#define PRESSED_IDLE_MS 1000 /* between requests, while at the connection bound (as h2o_glue.c) */
#define STARVED_MS 100       /* out of descriptors: how long accepting pauses (as h2o_glue.c) */
#define METRICS_CONNS 16     /* the metrics port's connections (a scraper or two) */

typedef struct conn conn;
struct conn {
    int fd;
    int metrics; /* accepted on $KUMO_METRICS_PORT */
    uint32_t ev; /* what epoll watches for */
    char *in;    /* received, not yet answered */
    size_t in_len, in_cap;
    kumo__growbuf out; /* queued answer bytes, out_off of them written */
    size_t out_off;
    uint64_t deadline_ms; /* closed when reached */
    uint64_t head_until;  /* the head being read must be whole by then (a trickle does not extend it) */
    int outq;             /* bytes in the socket's send queue when writing last stalled */
    int eof;              /* the client has sent all it will */
    int closing;          /* close once the queued bytes are written */
    int lingering;        /* written and shut for writing: what still comes is read and dropped */
    int have_head;        /* head parsed: the fields below hold */
    kumo__h1_head head;   /* its lengths and flags (its slices are not kept: in may move) */
    kumo__h1_chunks chunks;
    int continued; /* 100 Continue sent for this request */
    char addr[INET6_ADDRSTRLEN];
    conn *prev, *next;
};

typedef struct server {
    kumo__host *h;
    int epfd, lfd, mfd;     /* mfd: -1 without $KUMO_METRICS_PORT */
    int accepting;          /* lfd is in the epoll set */
    int maccepting;         /* mfd is */
    int at_bound;           /* the API's connections are at max_conns */
    int said_bound;         /* this episode at the bound is logged (its end is, once the backlog is empty) */
    uint64_t starved_until; /* out of descriptors: neither port accepts until then (or until one closes) */
    int said_fds;           /* this episode out of descriptors is logged */
    size_t nmetrics;        /* of nconns, the metrics port's (at most METRICS_CONNS) */
    conn *conns;
    size_t nconns, max_conns;
    kumo__header_view *hv; /* http.max_headers of them, for the request being answered */
    const conn *hv_conn;   /* whose head hv (and its head's slices) point into, at hv_in */
    const char *hv_in;
    size_t max_body, head_max;
    int draining;
    uint64_t heads_by; /* draining: a head not whole by then is not waited for */
    uint64_t idle_ms;  /* IDLE_MS, or $KUMO_HTTP_IDLE_MS (a testing knob) */
    char date[40];     /* the Date field's value, made once a second */
    time_t date_at;
} server;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void watch(server *s, conn *c, uint32_t ev)
{
    if (c->ev == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->ev = ev;
}

static void listen_set(server *s, int fd, int *on, int want)
{
    if (fd < 0 || *on == want)
        return;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = fd == s->lfd ? (void *)&s->lfd : (void *)&s->mfd};
    epoll_ctl(s->epfd, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &e);
    *on = want;
}

/* Which ports accept now: none while draining or out of descriptors; the
 * API's below max_conns, the metrics' below METRICS_CONNS. A port taken
 * out of the epoll set leaves new connections in its listen backlog. */
static void listeners_update(server *s)
{
    int starved = s->starved_until > kumo__mono_ms();
    s->at_bound = s->nconns - s->nmetrics >= s->max_conns;
    listen_set(s, s->lfd, &s->accepting, !s->draining && !starved && !s->at_bound);
    listen_set(s, s->mfd, &s->maccepting, !s->draining && !starved && s->nmetrics < METRICS_CONNS);
}

static void conn_close(server *s, conn *c)
{
    if (s->hv_conn == c)
        s->hv_conn = NULL;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    s->nmetrics -= c->metrics != 0;
    free(c->in);
    free(c->out.data);
    free(c);
    s->starved_until = 0; /* a descriptor came back */
    listeners_update(s);
}

/* ---- the answer --------------------------------------------------------- */

static int out_add(conn *c, const char *p, size_t n)
{
    return kumo__growbuf_add(&c->out, p, n);
}

static int out_field(conn *c, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (kumo__growbuf_reserve(&c->out, nlen + vlen + 4) != 0)
        return -1;
    char *o = c->out.data + c->out.len;
    for (size_t i = 0; i < nlen; i++)
        o[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    o += nlen;
    *o++ = ':';
    *o++ = ' ';
    memcpy(o, value, vlen);
    o += vlen;
    *o++ = '\r';
    *o++ = '\n';
    c->out.len = (size_t)(o - c->out.data);
    return 0;
}

static const char *date_now(server *s)
{
    time_t now = time(NULL);
    if (now != s->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_at = now;
    }
    return s->date;
}

/* Whether a name is one of the fields this server writes itself. */
static int framing_field(const char *n, size_t len)
{
    static const char *const own[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive", "date", "server", "upgrade"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strlen(own[i]) == len && strncasecmp(n, own[i], len) == 0)
            return 1;
    return 0;
}

/* Queues one answer on c: the status line, the fields, the framing and
 * (unless a HEAD request's, a 204's or a 304's) the body. The connection
 * closes after it when the request asked, when draining, or when `last`. */
static void answer(server *s, conn *c, int status, const kumo__host_header *fields, size_t nfields, const char *body,
                   size_t len, int head_only, int last)
{
    if (status < 200 || status > 599) /* dispatch gives none such; never a 1xx as the final answer */
        status = 500;
    const char *reason = kumo__http_reason(status);
    char line[16] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    int ok = out_add(c, line, 13) == 0 && out_add(c, reason, strlen(reason)) == 0 && out_add(c, "\r\n", 2) == 0;
    const char *date = date_now(s);
    ok = ok && out_field(c, "date", 4, date, strlen(date)) == 0 && out_field(c, "server", 6, "kumo", 4) == 0;
    for (size_t i = 0; ok && i < nfields; i++)
        if (!framing_field(fields[i].name, fields[i].name_len))
            ok = out_field(c, fields[i].name, fields[i].name_len, fields[i].value, fields[i].value_len) == 0;
    if (last || s->draining || !c->have_head || !c->head.keep_alive)
        c->closing = 1;
    if (ok && c->closing)
        ok = out_field(c, "connection", 10, "close", 5) == 0;
    else if (ok && c->head.minor == 0)
        ok = out_field(c, "connection", 10, "keep-alive", 10) == 0;
    int bodiless = status == 204 || status == 304;
    if (ok && !bodiless) {
        char digits[24], *d = digits + sizeof(digits);
        size_t v = len;
        do
            *--d = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        ok = out_field(c, "content-length", 14, d, (size_t)(digits + sizeof(digits) - d)) == 0;
    }
    ok = ok && out_add(c, "\r\n", 2) == 0;
    if (ok && !bodiless && !head_only && len > 0)
        ok = out_add(c, body, len) == 0;
    if (!ok) { /* out of memory: what was queued is dropped with the connection */
        c->out.len = c->out_off = 0;
        c->closing = 1;
    }
}

/* A problem+json answer, its access line, and (for what the server
 * refuses before a handler sees it) the end of the connection. */
static void problem(server *s, conn *c, int status, const char *detail, const kumo__h1_head *hd, const char *request_id,
                    int last, uint64_t start_us)
{
    char *body = kumo__problem_json(status, kumo__http_reason(status), detail, hd ? hd->path.base : NULL,
                                    hd ? hd->path.len : 0, request_id, NULL, NULL);
    kumo__host_header f[2] = {{"content-type", "application/problem+json", 12, 24}};
    size_t nf = 1;
    if (request_id)
        f[nf++] = (kumo__host_header){"x-request-id", request_id, 12, strlen(request_id)};
    const char *b = body ? body : "{\"title\":\"Internal Server Error\",\"status\":500}";
    answer(s, c, status, f, nf, b, strlen(b), hd && hd->method.len == 4 && memcmp(hd->method.base, "HEAD", 4) == 0,
           last);
    free(body);
    kumo__logline l;
    kumo__access_line(&l, request_id ? request_id : "-", hd ? hd->method.base : "-", hd ? hd->method.len : 1,
                      hd ? hd->path.base : "-", hd ? hd->path.len : 1, NULL, status, kumo__mono_us() - start_us, NULL,
                      NULL);
    kumo__logline_write(&l, 2);
}

/* A head refused by http1.c: the request cannot be read on, so neither
 * can anything behind it on the connection. */
static void refuse(server *s, conn *c, int status, const char *why)
{
    char request_id[80];
    kumo__host_new_request_id(s->h, request_id, sizeof(request_id));
    c->have_head = 0;
    problem(s, c, status, why, NULL, request_id, 1, kumo__mono_us());
}

static int header_is(const kumo__header_view *v, const char *name)
{
    return v->name.len == strlen(name) && memcmp(v->name.base, name, v->name.len) == 0;
}

/* The live contract (docs.h) for a path no operation has: 1 when answered. */
static int serve_docs(server *s, conn *c, const kumo__h1_head *hd)
{
    const kumo__docs_entry *e = s->h->docs ? kumo__docs_find(s->h->docs, hd->path.base, hd->path.len) : NULL;
    if (e == NULL)
        return 0;
    int head = hd->method.len == 4 && memcmp(hd->method.base, "HEAD", 4) == 0;
    if (!head && !(hd->method.len == 3 && memcmp(hd->method.base, "GET", 3) == 0)) {
        kumo__host_header allow = {"allow", "GET, HEAD", 5, 9};
        char *body =
            kumo__problem_json(405, "Method Not Allowed", "the API description and docs are read-only: use GET",
                               hd->path.base, hd->path.len, NULL, NULL, NULL);
        kumo__host_header f[2] = {allow, {"content-type", "application/problem+json", 12, 24}};
        answer(s, c, 405, f, 2, body ? body : "", body ? strlen(body) : 0, 0, 0);
        free(body);
        return 1;
    }
    static const char csp[] = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                              "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                              "frame-ancestors 'none'";
    kumo__host_header f[8];
    size_t nf = 0;
    f[nf++] = (kumo__host_header){"etag", e->etag, 4, strlen(e->etag)};
    f[nf++] = (kumo__host_header){"cache-control", "no-cache", 13, 8};
    for (size_t i = 0; i < hd->nheaders; i++)
        if (header_is(&s->hv[i], "if-none-match") &&
            kumo__docs_etag_matches(s->hv[i].value.base, s->hv[i].value.len, e->etag)) {
            answer(s, c, 304, f, nf, NULL, 0, 1, 0);
            return 1;
        }
    f[nf++] = (kumo__host_header){"content-type", e->content_type, 12, strlen(e->content_type)};
    if (strncmp(e->content_type, "text/html", 9) == 0) {
        /* as docs.c says why: the page's own script only, never framed */
        f[nf++] = (kumo__host_header){"content-security-policy", csp, 23, sizeof(csp) - 1};
        f[nf++] = (kumo__host_header){"x-frame-options", "DENY", 15, 4};
    }
    f[nf++] = (kumo__host_header){"referrer-policy", "no-referrer", 15, 11};
    f[nf++] = (kumo__host_header){"x-content-type-options", "nosniff", 22, 7};
    answer(s, c, 200, f, nf, e->body, e->len, head, 0);
    return 1;
}

/* GET /metrics on the metrics port. */
static void serve_metrics(server *s, conn *c, const kumo__h1_head *hd)
{
    if (!(hd->path.len == 8 && memcmp(hd->path.base, "/metrics", 8) == 0)) {
        problem(s, c, 404, "this port serves GET /metrics only", hd, NULL, 0, kumo__mono_us());
        return;
    }
    pthread_mutex_lock(&s->h->call_lock); /* the consumers record under it */
    char *text = kumo__metrics_prometheus(s->h->metrics, NULL);
    pthread_mutex_unlock(&s->h->call_lock);
    if (text == NULL) {
        problem(s, c, 500, "out of memory", hd, NULL, 0, kumo__mono_us());
        return;
    }
    kumo__host_header f = {"content-type", "text/plain; version=0.0.4; charset=utf-8", 12, 40};
    answer(s, c, 200, &f, 1, text, strlen(text), hd->method.len == 4 && memcmp(hd->method.base, "HEAD", 4) == 0, 0);
    free(text);
}

/* Answers the complete request at the start of c->in: its head, then
 * body_len bytes of body (decoded) after it. */
static void dispatch(server *s, conn *c, size_t body_len, uint64_t start_us)
{
    kumo__h1_head hd = c->head;
    char why[256];
    /* read again for the fields' places when another head was read since,
     * or the buffer moved (it cannot fail the second time) */
    if ((s->hv_conn != c || s->hv_in != c->in) &&
        kumo__h1_parse_head(c->in, c->head.len, &s->h->project->http, s->hv, &hd, why, sizeof(why)) != 1) {
        refuse(s, c, 400, why);
        return;
    }
    s->hv_conn = NULL;
    if (c->metrics) {
        serve_metrics(s, c, &hd);
        return;
    }
    kumo__http_in in = {
        .method = hd.method,
        .path = hd.path,
        .query = hd.query,
        .headers = s->hv,
        .nheaders = hd.nheaders,
        /* a body when the request is framed for one, even empty */
        .body = {hd.content_length >= 0 || hd.chunked ? c->in + hd.len : NULL, body_len},
        .client_addr = c->addr[0] ? c->addr : NULL,
    };
    char request_id[80];
    kumo__host_new_request_id(s->h, request_id, sizeof(request_id));
    kumo__host_reply r;
    pthread_mutex_lock(&s->h->call_lock); /* the queue consumers take turns with requests */
    if (!kumo__host_event(s->h, &in, request_id, &r))
        kumo__host_handle(s->h, &in, request_id, &r);
    if (r.no_route && serve_docs(s, c, &hd)) {
        kumo__host_reply_free(&r);
        pthread_mutex_unlock(&s->h->call_lock);
        return;
    }
    int head_only = hd.method.len == 4 && memcmp(hd.method.base, "HEAD", 4) == 0;
    answer(s, c, r.status, r.headers, r.nheaders, r.body, r.body_len, head_only, 0);
    kumo__logline l;
    kumo__access_line(&l, r.request_id, hd.method.base, hd.method.len, hd.path.base, hd.path.len,
                      r.op ? r.op->operation_id : NULL, r.status, kumo__mono_us() - start_us,
                      r.trace_id[0] ? r.trace_id : NULL, r.span_id[0] ? r.span_id : NULL);
    kumo__logline_write(&l, 2);
    kumo__host_reply_free(&r);
    pthread_mutex_unlock(&s->h->call_lock);
}

/* ---- a connection's turn ------------------------------------------------ */

/* Writes what is queued; 0 when all of it is, 1 when the socket is full,
 * -1 when the connection is gone. A client that takes what is written
 * keeps its connection: each write gives it the idle time again. */
static int flush(server *s, conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->deadline_ms = kumo__mono_ms() + s->idle_ms;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (ioctl(c->fd, TIOCOUTQ, &c->outq) != 0)
                c->outq = 0;
            return 1;
        }
        return -1;
    }
    c->out_off = c->out.len = 0;
    if (c->out.cap > (256u << 10)) { /* a large answer's buffer is not kept for the next ones */
        free(c->out.data);
        c->out.data = NULL;
        c->out.cap = 0;
    }
    return 0;
}

/* Drops the request just answered, head and coded body (`used` bytes),
 * from the front of c->in: what follows is the next one. */
/* When a head that begins now must be whole: the idle time from its first
 * byte, and no later than the drain allows. */
static uint64_t head_deadline(const server *s, uint64_t now)
{
    uint64_t t = now + s->idle_ms;
    return s->draining && t > s->heads_by ? s->heads_by : t;
}

static void consume(server *s, conn *c, size_t used)
{
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->have_head = 0;
    c->continued = 0;
    if (c->in_len > 0) { /* the next request has begun */
        c->head_until = head_deadline(s, kumo__mono_ms());
    } else if (c->in_cap > 2 * READ_CHUNK) { /* a large body's buffer is not kept by an idle connection */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* Moves c along as far as what it has received allows: answers every
 * complete request in turn, writes, and says what to wait for next. */
static void serve(server *s, conn *c)
{
    char why[256];
    for (;;) {
        int f = flush(s, c);
        if (f < 0) {
            conn_close(s, c);
            return;
        }
        if (f > 0) { /* the client is not reading: nothing more is read from it until it does */
            watch(s, c, EPOLLOUT);
            return;
        }
        if (c->closing) {
            /* What was queued is written: say so with a FIN, and read what
             * the client still sends (a body refused unread) until it
             * closes too, or LINGER_MS pass. Closing with unread bytes
             * would send an RST, which can destroy the answer in flight. */
            if (!c->lingering) {
                shutdown(c->fd, SHUT_WR);
                c->lingering = 1;
                c->in_len = 0;
                c->deadline_ms = kumo__mono_ms() + LINGER_MS;
            }
            if (c->eof) {
                conn_close(s, c);
                return;
            }
            watch(s, c, EPOLLIN);
            return;
        }
        if (!c->have_head) {
            if (c->in_len == 0) {
                if (c->eof) {
                    conn_close(s, c);
                    return;
                }
                c->deadline_ms = kumo__mono_ms() + (s->draining   ? DRAIN_IDLE_MS
                                                    : s->at_bound ? PRESSED_IDLE_MS
                                                                  : s->idle_ms);
                watch(s, c, EPOLLIN);
                return;
            }
            int rc = kumo__h1_parse_head(c->in, c->in_len, &s->h->project->http, s->hv, &c->head, why, sizeof(why));
            s->hv_conn = rc == 1 ? c : NULL;
            s->hv_in = c->in;
            if (rc < 0) {
                refuse(s, c, -rc, why);
                continue;
            }
            if (rc == 0) {
                if (c->eof) {
                    conn_close(s, c);
                    return;
                }
                /* writing the last answer moved the deadline; the head
                 * begun behind it keeps its own (and the drain's) */
                if (c->deadline_ms > c->head_until)
                    c->deadline_ms = c->head_until;
                watch(s, c, EPOLLIN);
                return;
            }
            c->have_head = 1;
            memset(&c->chunks, 0, sizeof(c->chunks));
            if (c->head.content_length > (int64_t)s->max_body) {
                snprintf(why, sizeof(why), "the request's body is larger than %zu bytes", s->max_body);
                refuse(s, c, 413, why);
                continue;
            }
        }
        uint64_t start_us = kumo__mono_us();
        size_t hl = c->head.len, body_len, used;
        if (c->head.chunked) {
            int rc = kumo__h1_dechunk(c->in + hl, c->in_len - hl, s->max_body, &c->chunks, why, sizeof(why));
            /* what is decoded stays at the front; the coding not read yet
             * moves down to right after it */
            size_t rest = c->in_len - hl - c->chunks.in;
            memmove(c->in + hl + c->chunks.out, c->in + hl + c->chunks.in, rest);
            c->in_len = hl + c->chunks.out + rest;
            c->chunks.in = c->chunks.out;
            if (rc < 0) {
                refuse(s, c, -rc, why);
                continue;
            }
            body_len = c->chunks.out;
            used = hl + body_len;
            if (rc == 0)
                goto more;
        } else {
            body_len = c->head.content_length > 0 ? (size_t)c->head.content_length : 0;
            used = hl + body_len;
            if (c->in_len < used)
                goto more;
        }
        dispatch(s, c, body_len, start_us);
        consume(s, c, used);
        c->deadline_ms = kumo__mono_ms() + s->idle_ms; /* the handler's time is not the client's */
        continue;
    more:
        if (c->eof) {
            conn_close(s, c);
            return;
        }
        if (c->head.expect_continue && !c->continued && c->head.minor == 1) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            c->continued = 1;
            if (out_add(c, cont, sizeof(cont) - 1) == 0)
                continue; /* written by the loop's flush */
        }
        watch(s, c, EPOLLIN);
        return;
    }
}

/* Reads what the socket has, within what c may hold. */
static void on_readable(server *s, conn *c)
{
    if (c->lingering) {
        char drop[4096];
        ssize_t n;
        while ((n = recv(c->fd, drop, sizeof(drop), 0)) > 0 || (n < 0 && errno == EINTR))
            ;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            c->eof = 1;
        serve(s, c);
        return;
    }
    size_t limit = s->head_max + s->max_body + READ_CHUNK;
    for (;;) {
        if (c->in_cap - c->in_len < READ_CHUNK && c->in_cap < limit) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
            if (cap > limit)
                cap = limit;
            char *n = realloc(c->in, cap);
            if (n == NULL)
                break;
            c->in = n;
            c->in_cap = cap;
        }
        if (c->in_len == c->in_cap)
            break; /* full: http1.c refuses what is too large from what is here */
        size_t room = c->in_cap - c->in_len;
        int fresh = !c->have_head && c->in_len == 0; /* these are a new request's first bytes */
        ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
        if (n > 0) {
            uint64_t now = kumo__mono_ms();
            c->in_len += (size_t)n;
            if (fresh)
                c->head_until = head_deadline(s, now);
            /* a head must be whole within the idle time of its first byte;
             * a body's bytes each get the idle time */
            c->deadline_ms = c->have_head ? now + s->idle_ms : c->head_until;
            if ((size_t)n < room)
                break; /* the socket is empty for now */
            continue;
        }
        if (n == 0)
            c->eof = 1;
        else if (errno == EINTR)
            continue;
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            c->eof = 1;
        break;
    }
    serve(s, c);
}

static void on_accept(server *s, int lfd, int metrics)
{
    for (;;) {
        listeners_update(s);
        if (metrics ? !s->maccepting : !s->accepting) {
            if (!metrics && s->at_bound && !s->draining) {
                /* at the bound: the backlog waits until one closes, and
                 * the connections between requests are closed sooner */
                if (!s->said_bound)
                    kumo__log_event("warn",
                                    "kumo-http: %zu connections open, its bound (http.max_connections): new "
                                    "connections wait in the listen backlog and are accepted as others close; "
                                    "connections idle for %d ms are closed meanwhile",
                                    s->nconns - s->nmetrics, PRESSED_IDLE_MS);
                s->said_bound = 1;
                uint64_t soon = kumo__mono_ms() + PRESSED_IDLE_MS;
                for (conn *c = s->conns; c; c = c->next)
                    if (!c->have_head && c->in_len == 0 && c->deadline_ms > soon)
                        c->deadline_ms = soon;
            }
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* both ports pause (level-triggered, a listener left in
                 * the set would wake the loop at once, for ever) until a
                 * connection closes or STARVED_MS pass */
                if (!s->said_fds)
                    kumo__log_event("warn",
                                    "kumo-http: out of file descriptors (%zu connections open): new connections "
                                    "wait in the listen backlog",
                                    s->nconns);
                s->said_fds = 1;
                s->starved_until = kumo__mono_ms() + STARVED_MS;
                listeners_update(s);
            } else if ((errno == EAGAIN || errno == EWOULDBLOCK) && !metrics && (s->said_bound || s->said_fds)) {
                kumo__log_event("info", "kumo-http: accepting connections again (none waits in the backlog)");
                s->said_bound = s->said_fds = 0;
            }
            return;
        }
        conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->out.max = SIZE_MAX / 2;
        c->metrics = metrics;
        c->ev = EPOLLIN;
        c->deadline_ms = kumo__mono_ms() + s->idle_ms;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof(c->addr));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof(c->addr));
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
            close(fd);
            free(c);
            return;
        }
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        s->nmetrics += metrics != 0;
    }
}

/* Closes the connections whose time is up. One whose writing stalled is
 * given the idle time again while its client takes from the socket's
 * send queue: with a queue of megabytes, the kernel may not say the socket
 * is writable again for longer than the idle time, however steadily the
 * client reads. */
static void sweep(server *s)
{
    uint64_t now = kumo__mono_ms();
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        int q;
        if (now >= c->deadline_ms && c->ev == EPOLLOUT && ioctl(c->fd, TIOCOUTQ, &q) == 0 && q < c->outq) {
            c->outq = q;
            c->deadline_ms = now + s->idle_ms;
        } else if (now >= c->deadline_ms) {
            conn_close(s, c);
        }
    }
}

static void begin_drain(server *s)
{
    s->draining = 1;
    listeners_update(s); /* neither port accepts: the metrics' too, or a scraper could hold the drain */
    close(s->lfd);
    s->lfd = -1;
    uint64_t soon = s->heads_by = kumo__mono_ms() + DRAIN_IDLE_MS;
    for (conn *c = s->conns; c; c = c->next)
        if (!c->have_head && c->out_off == c->out.len) { /* between requests, or a head not whole yet */
            if (c->head_until > soon)
                c->head_until = soon;
            if (c->deadline_ms > soon)
                c->deadline_ms = soon;
        }
}

int kumo__host_serve_lean(kumo__host *h, const char *host, int port, kumo__error *err)
{
    if (h->project->http.edge.tls.cert) {
        kumo__error_set(err, -EINVAL,
                        "kumo.yaml's http.tls needs kumo-host (OpenSSL): kumo-http serves plain HTTP/1.1 behind the "
                        "platform's TLS; build with --host kumo-host");
        return err->code;
    }
    server s = {.h = h, .lfd = -1, .mfd = -1, .epfd = -1};
    int failed = 0;
    struct sockaddr_in sa, msa;
    if ((s.lfd = kumo__host_listen(host, port, &sa, err)) < 0)
        return err->code;
    if (kumo__host_metrics_listen(h, host, &msa, &s.mfd, err) != 0) {
        close(s.lfd);
        return err->code;
    }
    s.max_body = 1u << 20;
    for (size_t i = 0; i < h->project->nunits; i++)
        if (h->project->units[i].tuning.max_body > s.max_body)
            s.max_body = h->project->units[i].tuning.max_body;
    s.max_body++; /* as http.c: one byte over the largest reaches dispatch, which says whose ceiling */
    s.head_max = kumo__h1_head_max(&h->project->http);
    s.idle_ms = IDLE_MS;
    const char *idle = getenv("KUMO_HTTP_IDLE_MS");
    if (idle && *idle) {
        char *end;
        long v = strtol(idle, &end, 10);
        if (*end != '\0' || v < 100 || v > 600000) {
            kumo__error_set(err, -EINVAL, "KUMO_HTTP_IDLE_MS=%s: expected milliseconds, 100 to 600000", idle);
            goto fail;
        }
        s.idle_ms = (uint64_t)v;
    }
    s.hv = calloc((size_t)h->project->http.max_headers + 1, sizeof(*s.hv));
    s.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s.hv == NULL || s.epfd < 0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    kumo__raise_open_files(); /* one descriptor per connection: take what the hard limit allows */
    s.max_conns = kumo__connection_bound(h->project->http.max_connections, 1, 64);
    listeners_update(&s);
    struct sigaction sa_stop = {.sa_handler = on_signal};
    sigemptyset(&sa_stop.sa_mask);
    sigaction(SIGTERM, &sa_stop, NULL);
    sigaction(SIGINT, &sa_stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "kumo-http: %s serving http://%s:%d (at most %zu open connections)\n", h->project->name, host,
            ntohs(sa.sin_port), s.max_conns);
    if (s.mfd >= 0)
        fprintf(stderr, "kumo-http: metrics at http://%s:%d/metrics\n", host, ntohs(msa.sin_port));
    const char *consume_var = getenv("KUMO_CONSUME");
    if (consume_var && strcmp(consume_var, "1") == 0 && (failed = kumo__host_consumers_start(h, err)) != 0)
        stopping = 1; /* err says why */
    uint64_t until = 0, next_sweep = 0;
    for (;;) {
        if (stopping && !s.draining) {
            begin_drain(&s);
            until = kumo__mono_ms() + DRAIN_MAX_MS;
        }
        if (s.draining && (s.conns == NULL || kumo__mono_ms() >= until))
            break;
        struct epoll_event evs[64];
        int n = epoll_wait(s.epfd, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &s.lfd) {
                on_accept(&s, s.lfd, 0);
            } else if (p == &s.mfd) {
                on_accept(&s, s.mfd, 1);
            } else {
                conn *c = p;
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) && c->ev == EPOLLIN)
                    on_readable(&s, c);
                else
                    serve(&s, c);
            }
        }
        if (kumo__mono_ms() >= next_sweep) {
            sweep(&s);
            listeners_update(&s); /* a pause for descriptors ends */
            next_sweep = kumo__mono_ms() + 100;
        }
    }
    kumo__host_consumers_stop(h); /* they end after the message each holds */
    if (s.nconns > 0)
        fprintf(stderr, "kumo-http: stopping with %zu connections still open\n", s.nconns);
    while (s.conns)
        conn_close(&s, s.conns);
fail:
    if (s.lfd >= 0)
        close(s.lfd);
    if (s.mfd >= 0)
        close(s.mfd);
    if (s.epfd >= 0)
        close(s.epfd);
    free(s.hv);
    return failed ? failed : err->code;
}
