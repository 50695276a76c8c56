/*
 * admin.c: the CLI's client for a running `kumo up`'s admin port (loopback
 * by default): one HTTP/1.0 request, the status and the body back. Used by
 * `kumo status` and `kumo reload`; also the place their shared option
 * parsing (--admin-port, --host) lives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/cli.h"

int kumo__admin_request(const char *host, int port, const char *method, const char *path, int timeout_s, size_t max,
                        int *status, char **body, kumo__error *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char *buf = NULL;
    size_t len = 0;
    int fd = -1, rc = 0;
    *body = NULL;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        kumo__error_set(err, -KUMO__EUSAGE, "'%s' is not an IPv4 address", host);
        return err->code;
    }
    struct timeval tv = {timeout_s, 0};
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        kumo__error_set(err, -errno,
                        "cannot reach kumo's admin port %s:%d: %s; is `kumo up` running (and with which "
                        "--admin-port)?",
                        host, port, strerror(errno));
        rc = err->code;
        goto out;
    }
    char req[256];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n", method, path, host);
    if (write(fd, req, (size_t)n) != n) {
        kumo__error_set(err, -errno, "writing to the admin port: %s", strerror(errno));
        rc = err->code;
        goto out;
    }
    if ((buf = malloc(max + 1)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    for (;;) {
        ssize_t got = read(fd, buf + len, max - len);
        if (got == 0)
            break;
        if (got < 0) {
            kumo__error_set(err, -errno, "waiting for the admin port's answer: %s%s", strerror(errno),
                            errno == EAGAIN ? " (no answer in time; see kumo's log)" : "");
            rc = err->code;
            goto out;
        }
        len += (size_t)got;
        if (len == max) {
            kumo__error_set(err, -EMSGSIZE, "the answer is larger than %zu bytes", max);
            rc = err->code;
            goto out;
        }
    }
    buf[len] = '\0';
    char *start = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || start == NULL || len < 12) {
        kumo__error_set(err, -EPROTO, "the admin port answered: %.80s", buf);
        rc = err->code;
        goto out;
    }
    *status = atoi(buf + 9);
    memmove(buf, start + 4, strlen(start + 4) + 1);
    *body = buf;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int kumo__admin_option(int argc, char **argv, int *i, const char **host, int *port, kumo__error *err)
{
    const char *a = argv[*i];
    if (strcmp(a, "--admin-port") == 0 && *i + 1 < argc) {
        const char *v = argv[++*i];
        char *end;
        long n = strtol(v, &end, 10);
        if (v[0] == '\0' || *end != '\0' || n < 1 || n > 65535) {
            kumo__error_set(err, -KUMO__EUSAGE, "--admin-port takes a port number, not '%s'", v);
            return err->code;
        }
        *port = (int)n;
        return 1;
    }
    if (strcmp(a, "--host") == 0 && *i + 1 < argc) {
        *host = argv[++*i];
        return 1;
    }
    return 0;
}
