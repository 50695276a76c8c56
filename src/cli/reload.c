/*
 * reload.c: `kumo reload [--admin-port N] [--host ADDR]` asks a running
 * `kumo up` to load the project again (POST /reload on its admin port,
 * loopback by default) and waits for the outcome: the new generation's
 * summary on success, or why the files were refused (file:line:column),
 * in which case the old generation is still serving. See docs/reload.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/cli.h"

#define ANSWER_MAX (256u << 10)
/* A reload may compile every unit: wait as long as a slow build takes. */
#define RELOAD_TIMEOUT_S 600

/* POST /reload to host:port over HTTP/1.0: the status code into *status,
 * the body into *out (malloc'd, NUL-terminated). */
static int post_reload(const char *host, int port, int *status, char **out, kumo__error *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char *buf = NULL;
    size_t len = 0;
    int fd = -1, rc = 0;
    *out = NULL;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        kumo__error_set(err, -KUMO_EUSAGE, "'%s' is not an IPv4 address", host);
        return err->code;
    }
    struct timeval tv = {RELOAD_TIMEOUT_S, 0};
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        kumo__error_set(err, -errno,
                        "cannot reach kumo's admin port %s:%d: %s; is `kumo up` running (and with which "
                        "--admin-port)? Without an admin port, send it SIGHUP",
                        host, port, strerror(errno));
        rc = err->code;
        goto out;
    }
    char req[256];
    int n = snprintf(req, sizeof(req), "POST /reload HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n", host);
    if (write(fd, req, (size_t)n) != n) {
        kumo__error_set(err, -errno, "writing to the admin port: %s", strerror(errno));
        rc = err->code;
        goto out;
    }
    if ((buf = malloc(ANSWER_MAX + 1)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    for (;;) {
        ssize_t got = read(fd, buf + len, ANSWER_MAX - len);
        if (got == 0)
            break;
        if (got < 0) {
            kumo__error_set(err, -errno, "waiting for the reload's outcome: %s%s", strerror(errno),
                            errno == EAGAIN ? " (no answer in time; see kumo's log)" : "");
            rc = err->code;
            goto out;
        }
        len += (size_t)got;
        if (len == ANSWER_MAX) {
            kumo__error_set(err, -EMSGSIZE, "the answer is larger than %u bytes", ANSWER_MAX);
            rc = err->code;
            goto out;
        }
    }
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || body == NULL || len < 12) {
        kumo__error_set(err, -EPROTO, "the admin port answered: %.80s", buf);
        rc = err->code;
        goto out;
    }
    *status = atoi(buf + 9);
    memmove(buf, body + 4, strlen(body + 4) + 1);
    *out = buf;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int kumo__cmd_reload(int argc, char **argv, kumo__error *err)
{
    const char *host = "127.0.0.1";
    int port = 8081;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--admin-port") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (argv[i][0] == '\0' || *end != '\0' || v < 1 || v > 65535) {
                kumo__error_set(err, -KUMO_EUSAGE, "--admin-port takes a port number, not '%s'", argv[i]);
                return err->code;
            }
            port = (int)v;
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else {
            kumo__error_set(err, -KUMO_EUSAGE, "unknown argument '%s'", argv[i]);
            return err->code;
        }
    }
    int status = 0;
    char *body = NULL;
    int rc = post_reload(host, port, &status, &body, err);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    const char *detail = json_string_value(json_object_get(doc, "detail"));
    if (status == 200) {
        printf("kumo: reloaded: %s\n", detail ? detail : "ok");
    } else if (status == 422) {
        kumo__error_set(err, -EINVAL, "the new files were refused; the running generation keeps serving:\n%s",
                        detail ? detail : body);
        rc = err->code;
    } else {
        kumo__error_set(err, -EPROTO, "the admin port answered %d: %.300s", status, detail ? detail : body);
        rc = err->code;
    }
    json_decref(doc);
    free(body);
    return rc;
}
