/*
 * status.c: `kumo status [--admin-port N] [--host ADDR] [--json]` asks a
 * running `kumo up` for its functions' figures (GET /status on the admin
 * port, loopback by default) and prints them as a table, or as the JSON
 * the gateway sent.
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

#define STATUS_MAX (4u << 20)

/* GET `path` from host:port over HTTP/1.0; the body into *out (malloc'd). */
static int http_get(const char *host, int port, const char *path, char **out, kumo__error *err)
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
    struct timeval tv = {5, 0};
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        kumo__error_set(err, -errno, "cannot reach kumo's admin port %s:%d: %s; is `kumo up` running (and with "
                        "which --admin-port)?", host, port, strerror(errno));
        rc = err->code;
        goto out;
    }
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    if (write(fd, req, (size_t)n) != n) {
        kumo__error_set(err, -errno, "writing to the admin port: %s", strerror(errno));
        rc = err->code;
        goto out;
    }
    if ((buf = malloc(STATUS_MAX + 1)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    for (;;) {
        ssize_t got = read(fd, buf + len, STATUS_MAX - len);
        if (got == 0)
            break;
        if (got < 0) {
            kumo__error_set(err, -errno, "reading from the admin port: %s", strerror(errno));
            rc = err->code;
            goto out;
        }
        len += (size_t)got;
        if (len == STATUS_MAX) {
            kumo__error_set(err, -EMSGSIZE, "the status is larger than %u bytes", STATUS_MAX);
            rc = err->code;
            goto out;
        }
    }
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || body == NULL || strncmp(buf + 8, " 200", 4) != 0) {
        kumo__error_set(err, -EPROTO, "the admin port answered: %.80s", buf);
        rc = err->code;
        goto out;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    *out = buf;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int kumo__cmd_status(int argc, char **argv, kumo__error *err)
{
    const char *host = "127.0.0.1";
    int port = 8081, as_json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--admin-port") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 65535) {
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
    char *body;
    int rc = http_get(host, port, "/status", &body, err);
    if (rc != 0)
        return rc;
    if (as_json) {
        fputs(body, stdout);
        if (body[0] && body[strlen(body) - 1] != '\n')
            putchar('\n');
        free(body);
        return 0;
    }
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    free(body);
    if (doc == NULL) {
        kumo__error_set(err, -EPROTO, "the status is not JSON: %s", jerr.text);
        return err->code;
    }
    printf("project %s, %d event loop%s\n", json_string_value(json_object_get(doc, "project")),
           (int)json_integer_value(json_object_get(doc, "loops")),
           json_integer_value(json_object_get(doc, "loops")) == 1 ? "" : "s");
    printf("%-16s %5s %4s %4s %6s %8s %8s %6s %7s %7s %9s %9s\n", "FUNCTION", "REPL", "BUSY", "IDLE", "QUEUED",
           "INFLIGHT", "INVOKED", "COLD", "TIMEOUT", "CRASHES", "P50(MS)", "P99(MS)");
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "functions"), i, f) {
        json_t *r = json_object_get(f, "replicas"), *m = json_object_get(f, "last_minute");
#define I(obj, key) (long long)json_integer_value(json_object_get(obj, key))
        printf("%-16s %5lld %4lld %4lld %6lld %8lld %8lld %6lld %7lld %7lld %9.2f %9.2f\n",
               json_string_value(json_object_get(f, "name")), I(r, "total"), I(r, "busy"), I(r, "idle"),
               I(f, "queued"), I(f, "in_flight"), I(f, "invocations"), I(f, "cold_starts"), I(f, "timeouts"),
               I(f, "crashes"), json_real_value(json_object_get(m, "p50_ms")),
               json_real_value(json_object_get(m, "p99_ms")));
#undef I
    }
    json_decref(doc);
    return 0;
}
