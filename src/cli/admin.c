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

int kumo__admin_request(const char *host, int port, const char *method, const char *path, const char *token,
                        int timeout_s, size_t max, int *status, int *retry_after, char **body, kumo__error *err)
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
    char req[256 + KUMO__ADMIN_TOKEN_MAX];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n%s%s%s\r\n", method, path,
                     host, token && token[0] ? "Authorization: Bearer " : "", token && token[0] ? token : "",
                     token && token[0] ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        kumo__error_set(err, -KUMO__EUSAGE, "the admin request is too long (host or token)");
        rc = err->code;
        goto out;
    }
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
    if (retry_after) {
        *retry_after = -1;
        for (const char *h = strstr(buf, "\r\n"); h && h < start; h = strstr(h + 2, "\r\n"))
            if (strncasecmp(h + 2, "retry-after:", 12) == 0)
                *retry_after = atoi(h + 14);
    }
    memmove(buf, start + 4, strlen(start + 4) + 1);
    *body = buf;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
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
