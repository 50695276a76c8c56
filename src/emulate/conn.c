/*
 * conn.c: the connections of `kumo emulate lambda`, on both listeners
 * (the public API Gateway side and the loopback Runtime API): accepting,
 * reading into a buffer whose ceiling is set up front (a head and a
 * Lambda payload), taking whole requests out of it through http1.c,
 * answering 100-continue, and writing one response at a time. A
 * connection reads again only after its answer is out, so a client that
 * pipelines waits its turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/http.h"
#include "emulate/emulate_internal.h"

void kumo__emu_conn_close(kumo__emu *e, kumo__emu_conn *c)
{
    if (c == e->next_conn)
        e->next_conn = NULL;
    if (c == e->inflight)
        e->inflight = NULL;
    /* out of the FIFO */
    for (kumo__emu_conn **pp = &e->q_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->queued) {
        if (*pp == c) {
            *pp = c->queued;
            if (e->q_tail == c)
                e->q_tail = prev;
            break;
        }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        e->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    e->nconns--;
    close(c->fd);
    kumo__http1_req_clear(&c->req);
    free(c->in);
    free(c->out);
    free(c);
}

int kumo__emu_send_some(kumo__emu_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    return 1;
}

/* Queues a whole response on c (status line, headers, Content-Length,
 * body unless HEAD) and starts writing it. */
void kumo__emu_respond(kumo__emu *e, kumo__emu_conn *c, int status, const kumo__emu_header *hs, size_t nh,
                       const char *body, size_t len)
{
    int head_only = c->have_req && c->req.method && strcmp(c->req.method, "HEAD") == 0;
    size_t cap = 128 + len;
    for (size_t i = 0; i < nh; i++)
        cap += strlen(hs[i].name) + strlen(hs[i].value) + 4;
    char *out = malloc(cap);
    if (out == NULL) {
        kumo__emu_conn_close(e, c);
        return;
    }
    int close_after = !c->req.keep_alive || e->stopping;
    size_t w = (size_t)snprintf(out, cap, "HTTP/1.1 %d %s\r\n", status, kumo__http_reason(status));
    for (size_t i = 0; i < nh; i++)
        w += (size_t)snprintf(out + w, cap - w, "%s: %s\r\n", hs[i].name, hs[i].value);
    w += (size_t)snprintf(out + w, cap - w, "Content-Length: %zu\r\n%s\r\n", len,
                          close_after ? "Connection: close\r\n" : "");
    if (!head_only && len) {
        memcpy(out + w, body, len);
        w += len;
    }
    free(c->out);
    c->out = out;
    c->out_len = w;
    c->out_off = 0;
    c->close_after = close_after;
    c->state = ST_WRITING;
}

void kumo__emu_respond_json(kumo__emu *e, kumo__emu_conn *c, int status, const char *type, json_t *doc,
                            const char *request_id)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    kumo__emu_header hs[2] = {{"Content-Type", type}, {"X-Request-Id", request_id ? request_id : ""}};
    kumo__emu_respond(e, c, status, hs, request_id ? 2 : 1, body ? body : "{}", body ? strlen(body) : 2);
    free(body);
    json_decref(doc);
}

/* An RFC 9457 problem document, as kumo answers its own errors. */
void kumo__emu_respond_problem(kumo__emu *e, kumo__emu_conn *c, int status, const char *detail, const char *request_id)
{
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", kumo__http_reason(status), "status",
                            status, "detail", detail);
    if (doc && c->have_req && c->req.target)
        json_object_set_new(doc, "instance", json_stringn(c->req.target, strcspn(c->req.target, "?")));
    if (doc && request_id)
        json_object_set_new(doc, "request_id", json_string(request_id));
    kumo__emu_respond_json(e, c, status, "application/problem+json", doc, request_id);
}

/* Tries to take one whole request out of c->in. */
static void try_parse(kumo__emu *e, kumo__emu_conn *c)
{
    if (c->state != ST_READING || c->in_len == 0)
        return;
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->in_len > KUMO__HTTP1_HEAD_MAX) {
            c->req.keep_alive = 0;
            kumo__emu_respond_problem(e, c, 431, "the request's head is over 64 KiB", NULL);
        }
        return;
    }
    size_t head_len = (size_t)(end - c->in) + 4;
    kumo__http1_req_clear(&c->req);
    c->have_req = 0;
    kumo__http1_req *r = &c->req;
    r->head = malloc(head_len + 1);
    if (r->head == NULL) {
        kumo__emu_conn_close(e, c);
        return;
    }
    memcpy(r->head, c->in, head_len);
    r->head[head_len] = '\0';
    size_t cl = 0;
    int is_chunked = 0;
    int bad = head_len > KUMO__HTTP1_HEAD_MAX ? 431 : kumo__http1_parse_head(r, &cl, &is_chunked);
    if (bad) {
        c->have_req = r->method != NULL && r->target != NULL && r->target[0] == '/';
        r->keep_alive = 0;
        kumo__emu_respond_problem(e, c, bad,
                                  bad == 413   ? "the request body is over Lambda's 6 MB payload limit"
                                  : bad == 431 ? "the request's head is over 64 KiB or has too many headers"
                                  : bad == 501 ? "only the chunked transfer coding is supported"
                                               : "malformed HTTP request",
                                  NULL);
        return;
    }
    size_t avail = c->in_len - head_len, take = 0;
    if (is_chunked) {
        size_t size = 0;
        ssize_t n = kumo__http1_chunked(c->in + head_len, avail, &size, NULL);
        if (n < 0) {
            c->have_req = 1;
            r->keep_alive = 0;
            kumo__emu_respond_problem(
                e, c, n == -2 ? 413 : 400,
                n == -2 ? "the request body is over Lambda's 6 MB payload limit" : "malformed chunked body", NULL);
            return;
        }
        if (n == 0)
            goto incomplete;
        r->body = malloc(size + 1);
        if (r->body == NULL) {
            kumo__emu_conn_close(e, c);
            return;
        }
        kumo__http1_chunked(c->in + head_len, avail, &size, r->body);
        r->body[size] = '\0';
        r->body_len = size;
        take = (size_t)n;
    } else {
        if (avail < cl)
            goto incomplete;
        if (cl) {
            r->body = malloc(cl + 1);
            if (r->body == NULL) {
                kumo__emu_conn_close(e, c);
                return;
            }
            memcpy(r->body, c->in + head_len, cl);
            r->body[cl] = '\0';
            r->body_len = cl;
        }
        take = cl;
    }
    memmove(c->in, c->in + head_len + take, c->in_len - head_len - take);
    c->in_len -= head_len + take;
    c->have_req = 1;
    c->sent_continue = 0;
    kumo__emu_on_request(e, c);
    return;
incomplete : {
    const char *expect = kumo__http1_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && !c->sent_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) < 0) {
            kumo__emu_conn_close(e, c);
            return;
        }
        c->sent_continue = 1;
    }
    kumo__http1_req_clear(r);
}
}

void kumo__emu_on_readable(kumo__emu *e, kumo__emu_conn *c)
{
    size_t limit = KUMO__HTTP1_HEAD_MAX + KUMO__HTTP1_BODY_MAX + 65536;
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 32768;
            if (cap > limit + 16384)
                cap = limit + 16384;
            if (cap <= c->in_cap) {
                c->req.keep_alive = 0;
                kumo__emu_respond_problem(e, c, 413, "the request is over Lambda's 6 MB payload limit", NULL);
                return;
            }
            char *in = realloc(c->in, cap);
            if (in == NULL) {
                kumo__emu_conn_close(e, c);
                return;
            }
            c->in = in;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n == 0) {
            kumo__emu_conn_close(e, c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                kumo__emu_conn_close(e, c);
            else
                try_parse(e, c);
            return;
        }
        c->in_len += (size_t)n;
        if (c->state != ST_READING)
            return; /* nothing to do until our kumo__emu_answer is out */
    }
}

void kumo__emu_on_writable(kumo__emu *e, kumo__emu_conn *c)
{
    int r = kumo__emu_send_some(c);
    if (r < 0) {
        kumo__emu_conn_close(e, c);
        return;
    }
    if (r == 0)
        return;
    if (c->close_after) {
        kumo__emu_conn_close(e, c);
        return;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->state = ST_READING;
    kumo__http1_req_clear(&c->req);
    c->have_req = 0;
    try_parse(e, c);
}

void kumo__emu_on_accept(kumo__emu *e, int lfd, int kind)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (e->nconns >= KUMO__EMU_CONNS_MAX) {
            close(fd);
            continue;
        }
        kumo__emu_conn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->kind = kind;
        c->state = ST_READING;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->ip, sizeof(c->ip));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->ip, sizeof(c->ip));
        c->next = e->conns;
        if (e->conns)
            e->conns->prev = c;
        e->conns = c;
        e->nconns++;
    }
}

int kumo__emu_listen(const char *host, int port, int *bound, kumo__error *err)
{
    struct sockaddr_in6 a6 = {0};
    struct sockaddr_in a4 = {0};
    int family = AF_INET;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        family = AF_INET6;
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
    } else {
        kumo__error_set(err, -EINVAL, "--host %s: not an IP address; give one such as 127.0.0.1", host);
        return -1;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, family == AF_INET ? (struct sockaddr *)&a4 : (struct sockaddr *)&a6,
             family == AF_INET ? sizeof(a4) : sizeof(a6)) != 0 ||
        listen(fd, 128) != 0) {
        kumo__error_set(err, -errno, "cannot listen on %s:%d: %s%s", host, port, strerror(errno),
                        errno == EADDRINUSE ? "; choose another port with --port" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                           : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}
