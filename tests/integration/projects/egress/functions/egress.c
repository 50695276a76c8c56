/*
 * Handlers for the egress rules' test (tests/integration/test_egress.py):
 * one uses the project's kv store, which lives on a server; the others try
 * to reach a destination no store declares, and answer with the errno
 * they got.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np */
#endif
#include <kumo.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errname(int e)
{
    const char *n = e ? strerrorname_np(e) : "0";
    return n ? n : "unknown";
}

static int answer(kumo_response *res, int ok, int e)
{
    return kumo_response_json(res, 200, json_pack("{s:b,s:s}", "ok", ok, "errno", errname(e)));
}

static struct sockaddr_in loopback(const kumo_request *req)
{
    const char *port = kumo_request_query(req, "port");
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(port ? port : "0"));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int use_store(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *v = kumo_request_query(req, "v");
    kumo_kv_item item;
    if (kumo_kv_put(ctx, "cache", "egress", v, strlen(v)) != 0 || kumo_kv_get(ctx, "cache", "egress", &item) != 0)
        return kumo_response_json(res, 503, json_pack("{s:s}", "error", kumo_store_error(ctx)));
    return kumo_response_body(res, item.value, item.len, "text/plain");
}

/* ok: connected (a non-blocking connect waits for the outcome, 2 s at most). */
int dial(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *nb = kumo_request_query(req, "nonblocking");
    int nonblocking = nb && strcmp(nb, "true") == 0;
    struct sockaddr_in a = loopback(req);
    int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return answer(res, 0, errno);
    int e = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            socklen_t len = sizeof(e);
            e = poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 ? e : ETIMEDOUT;
        }
    }
    close(fd);
    return answer(res, e == 0, e);
}

int datagram(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    struct sockaddr_in a = loopback(req);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return answer(res, 0, errno);
    ssize_t n = sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
    int e = n < 0 ? errno : 0;
    close(fd);
    return answer(res, n == 1, e);
}

/* The time-of-check/time-of-use attack on a supervisor that lets the call
 * through after checking it: a thread flips the port of the address being
 * connected. ok: every connect went where the rules allow (the test checks
 * that the other port never saw one); count: how many connected. */
typedef struct flipper {
    struct sockaddr_in *a;
    unsigned short allowed, other;
    atomic_int stop;
} flipper;

static void *flip(void *arg)
{
    flipper *f = arg;
    volatile unsigned short *port = &f->a->sin_port;
    for (unsigned long i = 0; !atomic_load(&f->stop); i++) {
        *port = htons(i & 1 ? f->other : f->allowed);
        for (volatile int spin = 0; spin < 2000; spin++) /* each value held a few microseconds */
            ;
    }
    return NULL;
}

int race(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    const char *allowed = kumo_request_query(req, "allowed"), *other = kumo_request_query(req, "other");
    static struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)atoi(allowed));
    flipper f = {&a, (unsigned short)atoi(allowed), (unsigned short)atoi(other), 0};
    pthread_t t;
    if (pthread_create(&t, NULL, flip, &f) != 0)
        return answer(res, 0, errno);
    long connected = 0;
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            connected++;
        close(fd);
    }
    atomic_store(&f.stop, 1);
    pthread_join(t, NULL);
    return kumo_response_json(res, 200, json_pack("{s:b,s:I}", "ok", 1, "count", (json_int_t)connected));
}
