/*
 * mock_io.c: the connection side of faults (mock_io.h).
 *
 * - Later: h2o 2.2.5's timeouts have one duration per h2o_timeout_t and
 *   cannot be disposed from their own callback, so a delayed answer gets a
 *   one-shot timerfd watched as an h2o socket on the request's loop. Its
 *   record lives in the request's pool; the pool's dispose hook closes the
 *   timer, so a client that leaves first cancels the answer.
 * - Reset: connect(AF_UNSPEC) on a TCP socket aborts the connection
 *   (Linux's tcp_disconnect sends RST) while h2o still owns the
 *   descriptor; the request then ends in error, and h2o closes the
 *   connection when its write fails.
 * - Truncate: the response goes out with the full Content-Length and only
 *   part of the body, in the error state, so h2o closes the connection
 *   after it.
 */
#include "gateway/mock_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

typedef struct later {
    h2o_req_t *req;
    h2o_socket_t *timer; /* NULL once fired or cancelled */
    void (*send)(h2o_req_t *req, void *arg);
    void *arg;
} later;

static void on_timer(h2o_socket_t *sock, const char *err)
{
    later *l = sock->data;
    h2o_socket_close(sock);
    l->timer = NULL;
    l->send(l->req, l->arg);
}

static void on_dispose(void *p)
{
    later *l = p;
    if (l->timer) {
        h2o_socket_close(l->timer);
        l->timer = NULL;
    }
}

int kumo__h2o_later(h2o_req_t *req, uint32_t ms, void (*send)(h2o_req_t *req, void *arg), void *arg)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct itimerspec its = {.it_value = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L}};
    if (ms == 0)
        its.it_value.tv_nsec = 1; /* zero would disarm it */
    if (timerfd_settime(fd, 0, &its, NULL) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    later *l = h2o_mem_alloc_shared(&req->pool, sizeof(*l), on_dispose);
    l->req = req;
    l->send = send;
    l->arg = arg;
    l->timer = h2o_evloop_socket_create(req->conn->ctx->loop, fd, 0);
    l->timer->data = l;
    h2o_socket_read_start(l->timer, on_timer);
    return 0;
}

static void end_in_error(h2o_req_t *req, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_start_response(req, &generator);
    h2o_iovec_t v = h2o_iovec_init(body, len);
    h2o_send(req, &v, len ? 1 : 0, H2O_SEND_STATE_ERROR);
}

void kumo__h2o_reset(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    int fd = sock ? h2o_socket_get_fd(sock) : -1;
    if (fd >= 0) {
        struct sockaddr sa = {.sa_family = AF_UNSPEC};
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        (void)connect(fd, &sa, sizeof(sa));
    }
    req->res.status = 500;
    req->res.reason = "Internal Server Error";
    end_in_error(req, NULL, 0);
}

void kumo__h2o_send_truncated(h2o_req_t *req, const char *body, size_t len, size_t keep)
{
    size_t n = keep < len ? keep : len;
    char *copy = n ? h2o_mem_alloc_pool(&req->pool, n) : NULL; /* h2o may write after this returns */
    if (n)
        memcpy(copy, body, n);
    req->res.content_length = len;
    end_in_error(req, copy, n);
}
