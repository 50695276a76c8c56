/*
 * test_rtapi.c: the Lambda Runtime API's HTTP/1.1 client
 * (src/sdk/adapters/rtapi.c) against a scripted server thread on
 * loopback: it answers each request with the next entry of a script
 * (raw bytes; an entry may close the connection after answering, which
 * the client, told nothing, finds out at its next request: an idle
 * keep-alive connection's end). Checks the answers' status,
 * body and Lambda-Runtime-* headers for Content-Length, chunked and
 * close-delimited bodies, a body over the ceiling (413), the reconnect
 * after the server closed an idle connection, the request bytes of a POST
 * with an error type, and the refusals of a bad address.
 */
#include "check.h"
#include "sdk/adapters/rtapi.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct step {
    const char *answer;
    int close_after;
} step;

typedef struct server {
    int fd, port;
    const step *script;
    size_t nsteps;
    int accepted;
    char last_request[4096];
} server;

/* Reads one request (headers, then Content-Length bytes). */
static int read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end - buf) + 4;
    const char *cl = strstr(buf, "Content-Length: ");
    size_t want = head + (cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0);
    while (len < want) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return 0;
}

static void *serve(void *p)
{
    server *sv = p;
    size_t i = 0;
    while (i < sv->nsteps) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        sv->accepted++;
        while (i < sv->nsteps) {
            const step *s = &sv->script[i];
            if (read_request(c, sv->last_request, sizeof(sv->last_request)) != 0)
                break; /* the client closed it: the step waits for the next connection */
            i++;
            send(c, s->answer, strlen(s->answer), MSG_NOSIGNAL);
            if (s->close_after)
                break;
        }
        close(c);
    }
    return NULL;
}

static int start(server *sv, const step *script, size_t n, pthread_t *t)
{
    memset(sv, 0, sizeof(*sv));
    sv->script = script;
    sv->nsteps = n;
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (sv->fd < 0 || bind(sv->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(sv->fd, 8) != 0 ||
        getsockname(sv->fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    sv->port = ntohs(a.sin_port);
    return pthread_create(t, NULL, serve, sv);
}

static void test_bodies(void)
{
    static const step script[] = {
        {"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\nLambda-Runtime-Deadline-Ms: 99\r\n"
         "lambda-runtime-trace-id: Root=1-x\r\nContent-Length: 5\r\n\r\nhello",
         0},
        {"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
         0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        /* no length: the body runs to the close */
        {"HTTP/1.0 200 OK\r\n\r\nto the end", 1},
        /* on a new connection: over the ceiling of 16 bytes */
        {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789", 0},
        /* on a third: answered, then closed by the server while the client keeps it */
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 1},
        /* so the next request meets a closed connection and goes again on a fourth */
        {"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok", 0},
    };
    server sv;
    pthread_t t;
    CHECK_INT(start(&sv, script, sizeof(script) / sizeof(script[0]), &t), 0);
    char api[64];
    snprintf(api, sizeof(api), "127.0.0.1:%d", sv.port);
    kumo__rtapi rt;
    CHECK_INT(kumo__rtapi_init(&rt, api, 16), 0);
    long status = 0;

    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/next", NULL, 0, NULL, &status), 0);
    CHECK_INT(status, 200);
    CHECK_INT((int)rt.len, 5);
    CHECK_STR(rt.buf, "hello");
    CHECK_STR(rt.request_id, "r1");
    CHECK_STR(rt.deadline, "99");
    CHECK_STR(rt.trace_id, "Root=1-x");
    CHECK(strstr(sv.last_request, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n") == sv.last_request);

    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/r1/error", "{\"a\":1}", 7, "Kumo.Failed", &status), 0);
    CHECK_INT(status, 202);
    CHECK_STR(rt.buf, "abcde");
    CHECK_STR(rt.request_id, ""); /* headers of the last answer only */
    CHECK(strstr(sv.last_request, "POST /2018-06-01/runtime/invocation/r1/error HTTP/1.1\r\n") == sv.last_request);
    CHECK(strstr(sv.last_request, "\r\nLambda-Runtime-Function-Error-Type: Kumo.Failed\r\n") != NULL);
    CHECK(strstr(sv.last_request, "\r\nContent-Length: 7\r\n") != NULL);
    CHECK(strstr(sv.last_request, "\r\n\r\n{\"a\":1}") != NULL);

    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/next", NULL, 0, NULL, &status), 0);
    CHECK_INT(status, 200);
    CHECK_INT((int)rt.len, 0);
    CHECK_INT(sv.accepted, 1); /* kept alive so far */

    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/next", NULL, 0, NULL, &status), 0);
    CHECK_INT(status, 200);
    CHECK_STR(rt.buf, "to the end");

    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/next", NULL, 0, NULL, &status), 0);
    CHECK_INT(status, 413);
    CHECK_INT(sv.accepted, 2);

    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/next", NULL, 0, NULL, &status), 0);
    CHECK_INT(status, 200);
    CHECK_STR(rt.buf, "x");
    CHECK_INT(sv.accepted, 3); /* the 413 closed the second */

    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/r2/response", "{}", 2, NULL, &status), 0);
    CHECK_INT(status, 202);
    CHECK_STR(rt.buf, "ok");
    CHECK_INT(sv.accepted, 4);

    kumo__rtapi_close(&rt);
    pthread_join(t, NULL);
    close(sv.fd);
}

static void test_refusals(void)
{
    kumo__rtapi rt;
    CHECK_INT(kumo__rtapi_init(&rt, "localhost", 1024), -1);
    CHECK(strstr(rt.err, "HOST:PORT") != NULL);
    CHECK_INT(kumo__rtapi_init(&rt, ":9001", 1024), -1);
    CHECK_INT(kumo__rtapi_init(&rt, "127.0.0.1:", 1024), -1);
    CHECK_INT(kumo__rtapi_init(&rt, "[::1]:9001", 1024), 0);
    CHECK_STR(rt.host, "::1");
    CHECK_STR(rt.port, "9001");
    kumo__rtapi_close(&rt);

    /* nothing listens: a clear error, not a hang */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    CHECK_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_INT(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char api[64];
    snprintf(api, sizeof(api), "127.0.0.1:%d", ntohs(a.sin_port));
    CHECK_INT(kumo__rtapi_init(&rt, api, 1024), 0);
    long status = 0;
    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/next", NULL, 0, NULL, &status), -1);
    CHECK(strstr(rt.err, "cannot connect") != NULL);
    kumo__rtapi_close(&rt);
    close(fd);

    /* not HTTP */
    static const step junk[] = {{"SSH-2.0-nope\r\n\r\n", 1}};
    server sv;
    pthread_t t;
    CHECK_INT(start(&sv, junk, 1, &t), 0);
    snprintf(api, sizeof(api), "127.0.0.1:%d", sv.port);
    CHECK_INT(kumo__rtapi_init(&rt, api, 1024), 0);
    CHECK_INT(kumo__rtapi_call(&rt, "/invocation/next", NULL, 0, NULL, &status), -1);
    CHECK(strstr(rt.err, "not HTTP") != NULL);
    kumo__rtapi_close(&rt);
    pthread_join(t, NULL);
    close(sv.fd);
}

int main(void)
{
    test_bodies();
    test_refusals();
    return check_report();
}
