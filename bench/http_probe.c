/*
 * http_probe.c: one keep-alive HTTP/1.1 connection, timed from C, for
 * benches that drive it from a script (bench/coldstart.py).
 *
 *   http_probe PORT        then, on stdin, one path per line
 *
 * For each path it sends `GET path` on its connection to 127.0.0.1:PORT,
 * reads the whole answer (Content-Length or chunked), and prints
 * "STATUS MICROSECONDS" on stdout, from just before the write to the
 * answer's last byte. A script's own HTTP client (Python's http.client)
 * adds its interpreter to each figure, and more after an idle spell, when
 * the interpreter's pages have gone cold too: about 0.2 ms per request on
 * this project's VM. This client's work is a write, a read or two and a
 * scan of the head. Exits 1 on a connection it cannot make or an answer it
 * cannot read.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* More bytes into buf[*got..]; 0 on EOF or an error. */
static int more(int fd, size_t *got)
{
    for (;;) {
        if (*got >= sizeof(buf) - 1)
            return 0;
        ssize_t n = read(fd, buf + *got, sizeof(buf) - 1 - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        *got += (size_t)n;
        buf[*got] = '\0';
        return 1;
    }
}

/* Reads one answer; its status, or -1. */
static int answer(int fd)
{
    size_t got = 0;
    char *end;
    buf[0] = '\0';
    while ((end = strstr(buf, "\r\n\r\n")) == NULL)
        if (!more(fd, &got))
            return -1;
    int status = atoi(buf + 9);
    size_t head = (size_t)(end + 4 - buf);
    *end = '\0'; /* the head's fields, searched as one string */
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    int chunked = strcasestr(buf, "\r\ntransfer-encoding: chunked") != NULL;
    *end = '\r';
    if (!chunked) {
        size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
        while (got < head + len)
            if (!more(fd, &got))
                return -1;
        return status;
    }
    /* chunked: sizes in hex, each chunk then CRLF, until the 0 chunk and
     * the blank line after it (no trailers expected) */
    size_t pos = head;
    for (;;) {
        char *eol;
        while ((eol = strstr(buf + pos, "\r\n")) == NULL)
            if (!more(fd, &got))
                return -1;
        size_t size = strtoul(buf + pos, NULL, 16);
        pos = (size_t)(eol + 2 - buf) + size + 2;
        while (got < pos)
            if (!more(fd, &got))
                return -1;
        if (size == 0)
            return status;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: http_probe PORT (paths on stdin, one per line)\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("http_probe: connect");
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char path[1024], req[1200];
    while (fgets(path, sizeof(path), stdin)) {
        path[strcspn(path, "\r\n")] = '\0';
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
        double t0 = now_us();
        if (write(fd, req, (size_t)n) != n) {
            perror("http_probe: write");
            return 1;
        }
        int status = answer(fd);
        double t1 = now_us();
        if (status < 0) {
            fprintf(stderr, "http_probe: no whole answer to GET %s\n", path);
            return 1;
        }
        printf("%d %.1f\n", status, t1 - t0);
        fflush(stdout);
    }
    return 0;
}
