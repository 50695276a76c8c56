/*
 * admin.c: the CLI's client for a running `kumo up`'s admin port (loopback
 * by default): one HTTP/1.0 request, the status and the body back. Used by
 * `kumo status`, `kumo reload` and `kumo invoke`; also the place their shared option
 * parsing (--admin-port, --host, --admin-token-file) lives, and the
 * reading of the admin token, which `kumo up` shares.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli/cli.h"

/* Writes all of buf, or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int kumo__http_call(const char *host, int port, const char *what, const kumo__http_req *r, int timeout_s, size_t max,
                    kumo__http_res *res, kumo__error *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char *buf = NULL, *req = NULL;
    size_t len = 0;
    int fd = -1, rc = 0;
    memset(res, 0, sizeof(*res));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        kumo__error_set(err, -KUMO__EUSAGE, "'%s' is not an IPv4 address", host);
        return err->code;
    }
    struct timeval tv = {timeout_s, 0};
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        kumo__error_set(err, -errno, "cannot reach %s %s:%d: %s; is `kumo up` running (and with which %s)?", what, host,
                        port, strerror(errno), strstr(what, "admin") ? "--admin-port" : "--port");
        rc = err->code;
        goto out;
    }
    const char *extra = r->headers ? r->headers : "";
    size_t cap = strlen(r->method) + strlen(r->path) + strlen(host) + strlen(extra) + 128;
    if ((req = malloc(cap)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    int n = snprintf(req, cap, "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: %zu\r\n%s\r\n", r->method, r->path, host,
                     r->len, extra);
    if ((rc = write_all(fd, req, (size_t)n)) != 0 || (r->len && (rc = write_all(fd, r->body, r->len)) != 0)) {
        kumo__error_set(err, rc, "writing to %s: %s", what, strerror(-rc));
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
            if (errno == EINTR)
                continue;
            kumo__error_set(err, -errno, "waiting for the answer of %s: %s%s", what, strerror(errno),
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
    char *start = memmem(buf, len, "\r\n\r\n", 4);
    if (strncmp(buf, "HTTP/1.", 7) != 0 || start == NULL || len < 12) {
        kumo__error_set(err, -EPROTO, "%s answered: %.80s", what, buf);
        rc = err->code;
        goto out;
    }
    res->status = atoi(buf + 9);
    start[2] = '\0'; /* the head ends with its last header's CRLF */
    res->head = buf;
    res->body = start + 4;
    res->len = len - (size_t)(start + 4 - buf);
    buf = NULL;
out:
    free(req);
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

const char *kumo__http_header(const kumo__http_res *res, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *h = strstr(res->head, "\r\n"); h && h[2]; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, name, nl) == 0 && h[2 + nl] == ':') {
            const char *v = h + 3 + nl;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            *len = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

int kumo__admin_call(const kumo__admin_target *to, const char *token, const char *method, const char *path,
                     const char *content_type, const void *body, size_t len, int timeout_s, size_t max,
                     kumo__http_res *res, kumo__error *err)
{
    char headers[128 + KUMO__ADMIN_TOKEN_MAX];
    int n =
        snprintf(headers, sizeof(headers), "%s%s%s%s%s%s", token && token[0] ? "Authorization: Bearer " : "",
                 token && token[0] ? token : "", token && token[0] ? "\r\n" : "", content_type ? "Content-Type: " : "",
                 content_type ? content_type : "", content_type ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(headers)) {
        kumo__error_set(err, -KUMO__EUSAGE, "the admin request is too long (token or content type)");
        return err->code;
    }
    kumo__http_req r = {.method = method, .path = path, .headers = headers, .body = body, .len = len};
    return kumo__http_call(to->host, to->port, "kumo's admin port", &r, timeout_s, max, res, err);
}

int kumo__admin_request(const char *host, int port, const char *method, const char *path, const char *token,
                        int timeout_s, size_t max, int *status, int *retry_after, char **body, kumo__error *err)
{
    kumo__admin_target to = {.host = host, .port = port};
    kumo__http_res res;
    *body = NULL;
    int rc = kumo__admin_call(&to, token, method, path, NULL, NULL, 0, timeout_s, max, &res, err);
    if (rc != 0)
        return rc;
    *status = res.status;
    if (retry_after) {
        size_t vl;
        const char *v = kumo__http_header(&res, "retry-after", &vl);
        *retry_after = v ? atoi(v) : -1;
    }
    memmove(res.head, res.body, res.len + 1); /* the body, NUL-terminated, at the start of the block */
    *body = res.head;
    return 0;
}

int kumo__admin_option(int argc, char **argv, int *i, kumo__admin_target *to, kumo__error *err)
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
        to->port = (int)n;
        return 1;
    }
    if (strcmp(a, "--host") == 0 && *i + 1 < argc) {
        to->host = argv[++*i];
        return 1;
    }
    if (strcmp(a, "--admin-token-file") == 0) {
        if (*i + 1 >= argc || argv[*i + 1][0] == '\0') {
            kumo__error_set(err, -KUMO__EUSAGE, "--admin-token-file takes the file holding the admin token");
            return err->code;
        }
        to->token_file = argv[++*i];
        return 1;
    }
    return 0;
}

int kumo__admin_token(const char *file, char *out, size_t cap, kumo__error *err)
{
    char buf[KUMO__ADMIN_TOKEN_MAX + 2];
    size_t len = 0;
    const char *from = file;
    out[0] = '\0';
    if (file != NULL) {
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            kumo__error_set(err, -errno, "%s: cannot read the admin token: %s", file, strerror(errno));
            if (fd >= 0)
                close(fd);
            return err->code;
        }
        if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
            close(fd);
            kumo__error_set(err, -EPERM,
                            "%s: %s; an admin token belongs in a regular file only its owner can read or "
                            "write (chmod 600 %s)",
                            file, S_ISREG(st.st_mode) ? "others may read or write it" : "not a regular file", file);
            return err->code;
        }
        ssize_t got;
        while (len < sizeof(buf) && (got = read(fd, buf + len, sizeof(buf) - len)) > 0)
            len += (size_t)got;
        close(fd);
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
            len--; /* the newline an editor or echo leaves */
    } else {
        const char *env = getenv("KUMO_ADMIN_TOKEN");
        if (env == NULL)
            return 0;
        from = "KUMO_ADMIN_TOKEN";
        len = strlen(env);
        if (len > sizeof(buf))
            len = sizeof(buf);
        memcpy(buf, env, len);
    }
    if (len < KUMO__ADMIN_TOKEN_MIN || len > KUMO__ADMIN_TOKEN_MAX || len >= cap) {
        kumo__error_set(err, -EINVAL,
                        "%s: the admin token must be %d to %d characters long (like the output of `head -c 32 "
                        "/dev/urandom | base64`)",
                        from, KUMO__ADMIN_TOKEN_MIN, KUMO__ADMIN_TOKEN_MAX);
        return err->code;
    }
    for (size_t i = 0; i < len; i++) {
        if (buf[i] < 0x21 || buf[i] > 0x7e) {
            kumo__error_set(err, -EINVAL,
                            "%s: character %zu of the admin token is a space, control or non-ASCII byte; use "
                            "printable ASCII (like base64)",
                            from, i + 1);
            return err->code;
        }
    }
    memcpy(out, buf, len);
    out[len] = '\0';
    return 0;
}

int kumo__admin_show(int argc, char **argv, const char *path, size_t max, const char *what, json_t **doc,
                     kumo__error *err)
{
    kumo__admin_target to = {.host = "127.0.0.1", .port = 8081};
    int as_json = 0;
    *doc = NULL;
    for (int i = 0; i < argc; i++) {
        int rc = kumo__admin_option(argc, argv, &i, &to, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            continue;
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", argv[i]);
            return err->code;
        }
    }
    char token[KUMO__ADMIN_TOKEN_MAX + 1];
    int rc = kumo__admin_token(to.token_file, token, sizeof(token), err);
    if (rc != 0)
        return rc;
    char *body;
    int status = 0;
    rc = kumo__admin_request(to.host, to.port, "GET", path, token, 5, max, &status, NULL, &body, err);
    if (rc != 0)
        return rc;
    if (status != 200) {
        kumo__error_set(err, -EPROTO, "the admin port answered %d: %.200s", status, body);
        free(body);
        return err->code;
    }
    if (as_json) {
        fputs(body, stdout);
        if (body[0] && body[strlen(body) - 1] != '\n')
            putchar('\n');
        free(body);
        return 1;
    }
    json_error_t jerr;
    *doc = json_loads(body, 0, &jerr);
    free(body);
    if (*doc == NULL) {
        kumo__error_set(err, -EPROTO, "%s is not JSON: %s", what, jerr.text);
        return err->code;
    }
    return 0;
}
