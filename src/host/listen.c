/*
 * listen.c: the listening sockets of kumo-host's and kumo-http's http
 * adapters (http.c, lean_http.c): the API's port and $KUMO_METRICS_PORT.
 */
#include "host/host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int kumo__host_listen(const char *host, int port, struct sockaddr_in *sa, kumo__error *err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        kumo__error_set(err, -EINVAL, "'%s' is not an IPv4 address", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)sa, sizeof(*sa)) != 0 || listen(fd, 1024) != 0) {
        kumo__error_set(err, -errno, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    socklen_t sl = sizeof(*sa);
    getsockname(fd, (struct sockaddr *)sa, &sl);
    return fd;
}

int kumo__host_metrics_listen(const kumo__host *h, const char *host, struct sockaddr_in *sa, int *fd, kumo__error *err)
{
    *fd = -1;
    const char *mport = getenv("KUMO_METRICS_PORT");
    if (mport == NULL || *mport == '\0')
        return 0;
    char *end;
    long mp = strtol(mport, &end, 10);
    if (*end != '\0' || mp < 0 || mp > 65535) {
        kumo__error_set(err, -EINVAL, "KUMO_METRICS_PORT=%s is not a port number (0 to 65535)", mport);
        return err->code;
    }
    if (h->metrics == NULL) {
        kumo__error_set(err, -EINVAL,
                        "KUMO_METRICS_PORT is set but kumo.yaml has observability: {enabled: false}: there are "
                        "no metrics to serve; unset one of them");
        return err->code;
    }
    if ((*fd = kumo__host_listen(host, (int)mp, sa, err)) < 0) {
        kumo__error_wrap(err, "KUMO_METRICS_PORT");
        return err->code;
    }
    return 0;
}
