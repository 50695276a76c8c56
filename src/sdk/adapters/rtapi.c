/*
 * rtapi.c: the Lambda Runtime API's client (see rtapi.h).
 */
#include "sdk/adapters/rtapi.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 5000
#define HEAD_MAX (64u << 10) /* an answer's status line and headers */

int kumo__rtapi_init(kumo__rtapi *rt, const char *api, size_t max_body)
{
    memset(rt, 0, sizeof(*rt));
    rt->fd = -1;
    rt->max_body = max_body;
    const char *colon = api ? strrchr(api, ':') : NULL;
    if (api == NULL || *api == '\0' || colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= sizeof(rt->port) ||
        strlen(api) >= sizeof(rt->hostport)) {
        snprintf(rt->err, sizeof(rt->err), "AWS_LAMBDA_RUNTIME_API is '%s', not HOST:PORT", api ? api : "");
        return -1;
    }
    const char *h = api, *he = colon;
    if (*h == '[' && he > h + 1 && he[-1] == ']') {
        h++;
        he--;
    }
    if (he == h || (size_t)(he - h) >= sizeof(rt->host)) {
        snprintf(rt->err, sizeof(rt->err), "AWS_LAMBDA_RUNTIME_API is '%s', not HOST:PORT", api);
        return -1;
    }
    memcpy(rt->host, h, (size_t)(he - h));
    snprintf(rt->port, sizeof(rt->port), "%s", colon + 1);
    snprintf(rt->hostport, sizeof(rt->hostport), "%s", api);
    return 0;
}

void kumo__rtapi_close(kumo__rtapi *rt)
{
    if (rt->fd >= 0)
        close(rt->fd);
    rt->fd = -1;
    free(rt->in);
    free(rt->buf);
    rt->in = rt->buf = NULL;
    rt->in_len = rt->in_cap = rt->len = rt->cap = 0;
}

static void drop_connection(kumo__rtapi *rt)
{
    if (rt->fd >= 0)
        close(rt->fd);
    rt->fd = -1;
    rt->in_len = 0;
}

/* Connects within CONNECT_TIMEOUT_MS to any of the host's addresses. */
static int connect_api(kumo__rtapi *rt)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int gai = getaddrinfo(rt->host, rt->port, &hints, &res);
    if (gai != 0) {
        snprintf(rt->err, sizeof(rt->err), "cannot resolve %s: %s", rt->host, gai_strerror(gai));
        return -1;
    }
    int e = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n;
            while ((n = poll(&p, 1, CONNECT_TIMEOUT_MS)) < 0 && errno == EINTR)
                ;
            socklen_t sl = sizeof(e);
            if (n == 0) {
                e = ETIMEDOUT;
            } else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0) {
                e = errno;
            }
            r = e == 0 ? 0 : -1;
        } else if (r < 0) {
            e = errno;
        }
        if (r == 0) {
            /* blocking from here on: an answer has no timeout */
            int one = 1;
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            rt->fd = fd;
            rt->in_len = 0;
            freeaddrinfo(res);
            return 0;
        }
        close(fd);
    }
    freeaddrinfo(res);
    snprintf(rt->err, sizeof(rt->err), "cannot connect to %s: %s", rt->hostport, strerror(e ? e : ECONNREFUSED));
    return -1;
}

/* Writes every byte of the iovecs; -1 with errno on failure. */
static int send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Reads more into rt->in: the count read, 0 at the end of the stream, -1
 * on an error (errno) or no memory (ENOMEM). */
static ssize_t fill(kumo__rtapi *rt)
{
    if (rt->in_cap - rt->in_len < 4096) {
        size_t cap = rt->in_cap ? rt->in_cap * 2 : 16384;
        char *p = realloc(rt->in, cap);
        if (p == NULL) {
            errno = ENOMEM;
            return -1;
        }
        rt->in = p;
        rt->in_cap = cap;
    }
    ssize_t r; /* one byte kept for the NUL that makes rt->in a string for the parsers */
    while ((r = read(rt->fd, rt->in + rt->in_len, rt->in_cap - rt->in_len - 1)) < 0 && errno == EINTR)
        ;
    if (r > 0)
        rt->in_len += (size_t)r;
    rt->in[rt->in_len] = '\0';
    return r;
}

static void take(kumo__rtapi *rt, size_t n)
{
    memmove(rt->in, rt->in + n, rt->in_len - n);
    rt->in_len -= n;
    rt->in[rt->in_len] = '\0';
}

/* Appends n bytes of rt->in to the body, within max_body; -1 on no memory. */
static int body_add(kumo__rtapi *rt, size_t n, int *over)
{
    if (*over || rt->len + n > rt->max_body) {
        *over = 1;
        take(rt, n);
        return 0;
    }
    if (rt->len + n + 1 > rt->cap) {
        size_t cap = rt->cap ? rt->cap : 16384;
        while (cap < rt->len + n + 1)
            cap *= 2;
        char *b = realloc(rt->buf, cap);
        if (b == NULL)
            return -1;
        rt->buf = b;
        rt->cap = cap;
    }
    memcpy(rt->buf + rt->len, rt->in, n);
    rt->len += n;
    rt->buf[rt->len] = '\0';
    take(rt, n);
    return 0;
}

static void header_value(const char *line, size_t n, const char *name, char *dst, size_t size)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t len = (size_t)(end - v);
    if (len >= size)
        len = size - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* Reads one answer. Returns 0 (status and body set), -1 with rt->err, or
 * -2 when the connection ended before any byte of it (the caller may send
 * again on a new one). */
static int read_answer(kumo__rtapi *rt, long *status, int *keep)
{
    char *eoh;
    size_t scanned = 0;
    int got_any = rt->in_len > 0;
    while ((eoh = rt->in_len >= 4 ? memmem(rt->in + scanned, rt->in_len - scanned, "\r\n\r\n", 4) : NULL) == NULL) {
        if (rt->in_len > HEAD_MAX) {
            snprintf(rt->err, sizeof(rt->err), "the answer's headers are over %u bytes", HEAD_MAX);
            return -1;
        }
        scanned = rt->in_len > 3 ? rt->in_len - 3 : 0;
        ssize_t r = fill(rt);
        if (r == 0 && !got_any)
            return -2;
        if (r < 0 && !got_any && (errno == ECONNRESET || errno == EPIPE))
            return -2;
        if (r <= 0) {
            snprintf(rt->err, sizeof(rt->err), "reading the answer: %s",
                     r == 0 ? "the connection closed in its headers" : strerror(errno));
            return -1;
        }
        got_any = 1;
    }
    size_t head = (size_t)(eoh - rt->in) + 4;
    int minor = 0;
    if (sscanf(rt->in, "HTTP/1.%d %ld", &minor, status) != 2) {
        snprintf(rt->err, sizeof(rt->err), "the answer is not HTTP/1.x: %.40s", rt->in);
        return -1;
    }
    long long clen = -1;
    int chunked = 0;
    *keep = minor >= 1;
    char cl[32] = "", te[64] = "", conn[64] = "";
    for (char *line = memchr(rt->in, '\n', head) + 1; line < rt->in + head - 2;) {
        char *nl = memchr(line, '\n', (size_t)(rt->in + head - line));
        size_t n = (size_t)(nl - line) - (nl > line && nl[-1] == '\r');
        header_value(line, n, "Content-Length", cl, sizeof(cl));
        header_value(line, n, "Transfer-Encoding", te, sizeof(te));
        header_value(line, n, "Connection", conn, sizeof(conn));
        header_value(line, n, "Lambda-Runtime-Aws-Request-Id", rt->request_id, sizeof(rt->request_id));
        header_value(line, n, "Lambda-Runtime-Deadline-Ms", rt->deadline, sizeof(rt->deadline));
        header_value(line, n, "Lambda-Runtime-Trace-Id", rt->trace_id, sizeof(rt->trace_id));
        line = nl + 1;
    }
    if (*cl) {
        char *end;
        clen = strtoll(cl, &end, 10);
        if (*end != '\0' || clen < 0) {
            snprintf(rt->err, sizeof(rt->err), "the answer's Content-Length is '%s'", cl);
            return -1;
        }
    }
    chunked = strcasecmp(te, "chunked") == 0;
    if (strcasecmp(conn, "close") == 0)
        *keep = 0;
    else if (strcasecmp(conn, "keep-alive") == 0)
        *keep = 1;
    take(rt, head);

    int over = 0;
    if (chunked) {
        for (;;) {
            char *nl;
            while ((nl = memchr(rt->in, '\n', rt->in_len)) == NULL) {
                if (rt->in_len > 1024 || fill(rt) <= 0)
                    goto broken;
            }
            unsigned long long size = strtoull(rt->in, NULL, 16);
            take(rt, (size_t)(nl - rt->in) + 1);
            if (size > rt->max_body + 1)
                over = 1;
            if (size == 0) {
                /* the trailer: lines up to an empty one */
                for (;;) {
                    while ((nl = memchr(rt->in, '\n', rt->in_len)) == NULL) {
                        if (rt->in_len > HEAD_MAX || fill(rt) <= 0)
                            goto broken;
                    }
                    size_t n = (size_t)(nl - rt->in) + 1;
                    take(rt, n);
                    if (n <= 2)
                        break;
                }
                break;
            }
            while (size > 0) {
                if (rt->in_len == 0 && fill(rt) <= 0)
                    goto broken;
                size_t n = rt->in_len < size ? rt->in_len : (size_t)size;
                if (body_add(rt, n, &over) < 0)
                    goto nomem;
                size -= n;
            }
            while (rt->in_len < 2)
                if (fill(rt) <= 0)
                    goto broken;
            take(rt, rt->in[0] == '\r' ? 2 : 1);
        }
    } else if (clen >= 0) {
        unsigned long long left = (unsigned long long)clen;
        while (left > 0) {
            if (rt->in_len == 0 && fill(rt) <= 0)
                goto broken;
            size_t n = rt->in_len < left ? rt->in_len : (size_t)left;
            if (body_add(rt, n, &over) < 0)
                goto nomem;
            left -= n;
        }
    } else if (*status >= 200 && *status != 204 && *status != 304) {
        /* no length: the body runs to the end of the stream */
        *keep = 0;
        for (;;) {
            if (rt->in_len && body_add(rt, rt->in_len, &over) < 0)
                goto nomem;
            ssize_t r = fill(rt);
            if (r == 0)
                break;
            if (r < 0)
                goto broken;
        }
    }
    if (over) {
        *status = 413;
        *keep = 0;
    }
    return 0;
broken:
    snprintf(rt->err, sizeof(rt->err), "the connection broke in the answer's body");
    return -1;
nomem:
    snprintf(rt->err, sizeof(rt->err), "out of memory reading the answer");
    return -1;
}

int kumo__rtapi_call(kumo__rtapi *rt, const char *path, const char *body, size_t len, const char *error_type,
                     long *status)
{
    char head[1024];
    int n;
    if (body)
        n = snprintf(head, sizeof(head),
                     "POST /2018-06-01/runtime%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kumo\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     path, rt->hostport, len, error_type ? "Lambda-Runtime-Function-Error-Type: " : "",
                     error_type ? error_type : "", error_type ? "\r\n" : "");
    else
        n = snprintf(head, sizeof(head), "GET /2018-06-01/runtime%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kumo\r\n\r\n",
                     path, rt->hostport);
    if (n < 0 || (size_t)n >= sizeof(head)) {
        snprintf(rt->err, sizeof(rt->err), "the request's path is too long");
        return -1;
    }
    rt->err[0] = '\0';
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = rt->fd >= 0;
        if (!reused && connect_api(rt) < 0)
            return -1;
        rt->len = 0;
        if (rt->buf)
            rt->buf[0] = '\0';
        rt->request_id[0] = rt->deadline[0] = rt->trace_id[0] = '\0';
        struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, body ? len : 0}};
        int keep = 1, rc;
        if (send_all(rt->fd, iov, body && len ? 2 : 1) < 0) {
            int e = errno;
            drop_connection(rt);
            if (reused && (e == EPIPE || e == ECONNRESET))
                continue; /* the server closed it while idle */
            snprintf(rt->err, sizeof(rt->err), "sending to %s: %s", rt->hostport, strerror(e));
            return -1;
        }
        rc = read_answer(rt, status, &keep);
        if (rc == -2) {
            drop_connection(rt);
            if (reused)
                continue;
            snprintf(rt->err, sizeof(rt->err), "%s closed the connection without an answer", rt->hostport);
            return -1;
        }
        if (rc < 0 || !keep)
            drop_connection(rt);
        return rc < 0 ? -1 : 0;
    }
    snprintf(rt->err, sizeof(rt->err), "%s closed the connection without an answer, twice", rt->hostport);
    return -1;
}
