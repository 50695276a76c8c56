/*
 * test_httpc.c: the built-in HTTP/1.1 client (stores/httpc.c) against
 * httpc_server.py, a python process on loopback whose paths each behave
 * some way on purpose (see its docstring): plain HTTP framing (length,
 * chunked, until close, HEAD, 204, interim answers), keep-alive and the one
 * retry on a kept connection the server closed, the bounds (body, headers,
 * time, refused and unanswered connections, malformed answers), requests
 * refused before anything is sent, and https through BearSSL against a CA
 * the server makes at start: trusted, wrong name, untrusted CA, expired.
 *
 * The trust anchors load once per process, so the case without any CA file
 * runs in a forked child before the parent's first https call, and the
 * parent sets SSL_CERT_FILE to the server's CA before its own. SIGPIPE is
 * left at its default on purpose: the client must never raise it.
 */
#include "sdk/stores/httpc.h"

#include <kumo.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_server.h"

static helper_server server;
static int plain, good, wrongname, untrusted, expired, v6;
static char msg[512];

static int start_server(const char *dir)
{
    char line[256];
    return helper_server_start(&server, "sdk/httpc_server.py", dir, line, sizeof(line)) == 0 &&
                   sscanf(line, "%d %d %d %d %d %d", &plain, &good, &wrongname, &untrusted, &expired, &v6) == 6
               ? 0
               : -1;
}

static void stop_server(void)
{
    helper_server_stop(&server);
}

static kumo__httpc_req req(const char *method, const char *url)
{
    return (kumo__httpc_req){.method = method,
                             .url = url,
                             .connect_timeout_ms = 2000,
                             .timeout_ms = 5000,
                             .max_body = 32u << 20,
                             .max_headers = 16384};
}

/* Performs r; a failure's message is printed, so the run shows them. */
static int run(kumo__httpc *c, const kumo__httpc_req *r, kumo__httpc_res *res)
{
    int rc = kumo__httpc_perform(c, r, res, msg, sizeof(msg));
    if (rc != 0)
        printf("  %s %s: %d: %s\n", r->method, r->url, rc, msg);
    return rc;
}

/* A GET whose answer is freed; the code. */
static int get_rc(kumo__httpc *c, const char *url, long timeout_ms)
{
    kumo__httpc_req r = req("GET", url);
    kumo__httpc_res res;
    r.timeout_ms = timeout_ms;
    int rc = run(c, &r, &res);
    kumo__httpc_res_free(&res);
    return rc;
}

/* A header's value in res (the first of that name), copied; "" when absent. */
static const char *hdr(const kumo__httpc_res *res, const char *name)
{
    static char buf[4][256];
    static int next;
    char *out = buf[next++ % 4];
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = res->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ') {
            snprintf(out, sizeof(buf[0]), "%.*s", (int)(eol - p - n - 2), p + n + 2);
            break;
        }
        p = eol + 2;
    }
    return out;
}

static char *url(int port, const char *path)
{
    static char buf[8][256];
    static int next;
    char *out = buf[next++ % 8];
    snprintf(out, sizeof(buf[0]), "http://127.0.0.1:%d%s", port, path);
    return out;
}

static char *tls_url(int port, const char *path)
{
    static char buf[8][256];
    static int next;
    char *out = buf[next++ % 8];
    snprintf(out, sizeof(buf[0]), "https://localhost:%d%s", port, path);
    return out;
}

/* The X-Conn of a GET to path (-1 on failure). */
static long conn_of(kumo__httpc *c, const char *u)
{
    kumo__httpc_req r = req("GET", u);
    kumo__httpc_res res;
    long id = run(c, &r, &res) == 0 ? atol(hdr(&res, "X-Conn")) : -1;
    kumo__httpc_res_free(&res);
    return id;
}

/* A file holding a prefix and then n pseudo-random bytes (also in *data),
 * positioned after the prefix. */
static FILE *body_file(size_t n, unsigned char **data)
{
    FILE *f = tmpfile();
    unsigned char *d = malloc(n);
    if (f == NULL || d == NULL) {
        if (f)
            fclose(f);
        free(d);
        return NULL;
    }
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        d[i] = (unsigned char)(x >> 16);
    }
    fputs("prefix:", f);
    fwrite(d, 1, n, f);
    fseeko(f, 7, SEEK_SET);
    *data = d;
    return f;
}

/* ---- plain HTTP framing ------------------------------------------------------------------------------------- */

static void test_framing(void)
{
    kumo__httpc *c = kumo__httpc_new();
    kumo__httpc_req r;
    kumo__httpc_res res;
    CHECK(c != NULL);

    /* a body with Content-Length; three requests on one connection */
    r = req("GET", url(plain, "/hello"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 200);
    CHECK_INT(res.len, 12);
    CHECK_STR(res.body, "hello, world");
    CHECK_STR(hdr(&res, "Content-Length"), "12");
    long conn = atol(hdr(&res, "X-Conn"));
    CHECK_STR(hdr(&res, "X-Req"), "1");
    kumo__httpc_res_free(&res);
    for (int i = 2; i <= 3; i++) {
        CHECK_INT(run(c, &r, &res), 0);
        CHECK_INT(atol(hdr(&res, "X-Conn")), conn);
        CHECK_INT(atol(hdr(&res, "X-Req")), i);
        kumo__httpc_res_free(&res);
    }

    /* POST from memory (binary, a NUL inside): exact bytes, Content-Length, only Host added */
    static const char bin[] = "a\0b\r\n\x01\xff end";
    const char *const hs[] = {"X-Test: yes", NULL};
    r = req("POST", url(plain, "/echo"));
    r.headers = hs;
    r.body = bin;
    r.len = sizeof(bin) - 1;
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 200);
    CHECK_INT(res.len, sizeof(bin) - 1);
    CHECK(res.body && memcmp(res.body, bin, sizeof(bin) - 1) == 0 && res.body[res.len] == '\0');
    CHECK_STR(hdr(&res, "X-Got-Length"), "11");
    CHECK_STR(hdr(&res, "X-Got-Method"), "POST");
    CHECK_STR(hdr(&res, "X-Got-Names"), "host,x-test,content-length");
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", plain);
    CHECK_STR(hdr(&res, "X-Got-Host"), host);
    CHECK_INT(atol(hdr(&res, "X-Conn")), conn);
    kumo__httpc_res_free(&res);

    /* Content-Length: 0 for a POST without a body; none for GET and DELETE */
    r = req("POST", url(plain, "/echo"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_STR(hdr(&res, "X-Got-Length"), "0");
    CHECK(res.body == NULL && res.len == 0);
    kumo__httpc_res_free(&res);
    r = req("GET", url(plain, "/echo"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_STR(hdr(&res, "X-Got-Length"), "none");
    CHECK_STR(hdr(&res, "X-Got-Names"), "host");
    kumo__httpc_res_free(&res);
    r = req("DELETE", url(plain, "/echo"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_STR(hdr(&res, "X-Got-Length"), "none");
    CHECK_STR(hdr(&res, "X-Got-Method"), "DELETE");
    kumo__httpc_res_free(&res);

    /* PUT streamed from a FILE, from its current position; the query sent as given */
    unsigned char *data = NULL;
    FILE *f = body_file(300000, &data);
    CHECK(f != NULL);
    if (f) {
        r = req("PUT", url(plain, "/echo?a=1&b=%20"));
        r.in = f;
        r.in_len = 300000;
        CHECK_INT(run(c, &r, &res), 0);
        CHECK_INT(res.len, 300000);
        CHECK(res.body && memcmp(res.body, data, 300000) == 0);
        CHECK_STR(hdr(&res, "X-Got-Length"), "300000");
        CHECK_STR(hdr(&res, "X-Got-Target"), "/echo?a=1&b=%20");
        kumo__httpc_res_free(&res);
        /* a file shorter than in_len: refused, nothing hangs */
        fseeko(f, 7, SEEK_SET);
        r.in_len = 300001;
        CHECK_INT(run(c, &r, &res), KUMO_EIO);
        CHECK(strstr(msg, "ended after 300000 of 300001") != NULL);
        kumo__httpc_res_free(&res);
        fclose(f);
        free(data);
    }

    /* an empty path is "/", a fragment is not sent */
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d?x=1#frag", plain);
    r = req("GET", u);
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 404);
    CHECK_STR(hdr(&res, "X-Got-Target"), "/?x=1");
    kumo__httpc_res_free(&res);

    /* chunked, with extensions and a trailer (dropped); the connection stays usable */
    r = req("GET", url(plain, "/chunked"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 200);
    CHECK_STR(res.body, "hello, world");
    CHECK_STR(hdr(&res, "X-Trailer"), "");
    conn = atol(hdr(&res, "X-Conn"));
    kumo__httpc_res_free(&res);
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn);

    /* HEAD: a Content-Length and no body; the next answer on the same connection is intact */
    r = req("HEAD", url(plain, "/head"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 200);
    CHECK(res.body == NULL && res.len == 0);
    CHECK_STR(hdr(&res, "Content-Length"), "1234");
    kumo__httpc_res_free(&res);
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn);

    /* 204: no body */
    r = req("DELETE", url(plain, "/204"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 204);
    CHECK_INT(res.len, 0);
    kumo__httpc_res_free(&res);
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn);

    /* 100 and 103 skipped: the final answer's headers only */
    r = req("GET", url(plain, "/interim"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 200);
    CHECK_STR(res.body, "final");
    CHECK_STR(hdr(&res, "Link"), "");
    CHECK(res.headers && strncmp(res.headers, "X-Conn: ", 8) == 0);
    kumo__httpc_res_free(&res);

    /* a body until the server closes (HTTP/1.0, no length); then a new connection */
    r = req("GET", url(plain, "/until-close"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 200);
    CHECK_STR(res.body, "all of this, until the close");
    kumo__httpc_res_free(&res);
    long after = conn_of(c, url(plain, "/hello"));
    CHECK(after > conn);

    /* HTTP/1.0 is kept only with Connection: keep-alive; Connection: close is honoured */
    conn = conn_of(c, url(plain, "/http10-ka"));
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn);
    conn = conn_of(c, url(plain, "/http10"));
    CHECK(conn_of(c, url(plain, "/hello")) > conn);
    conn = conn_of(c, url(plain, "/conn-close"));
    CHECK(conn_of(c, url(plain, "/hello")) > conn);

    /* a caller's Connection: close: the connection is not kept */
    const char *const close_hs[] = {"Connection: close", NULL};
    r = req("GET", url(plain, "/hello"));
    r.headers = close_hs;
    CHECK_INT(run(c, &r, &res), 0);
    conn = atol(hdr(&res, "X-Conn"));
    kumo__httpc_res_free(&res);
    CHECK(conn_of(c, url(plain, "/hello")) > conn);

    /* IPv6 literal: Host keeps the brackets */
    if (v6) {
        snprintf(u, sizeof(u), "http://[::1]:%d/echo", v6);
        r = req("GET", u);
        CHECK_INT(run(c, &r, &res), 0);
        snprintf(host, sizeof(host), "[::1]:%d", v6);
        CHECK_STR(hdr(&res, "X-Got-Host"), host);
        kumo__httpc_res_free(&res);
    } else {
        printf("note: no IPv6 loopback here; the [::1] case did not run\n");
    }
    kumo__httpc_free(c);
}

/* ---- keep-alive and the one retry ---------------------------------------------------------------------------- */

static void test_reuse(void)
{
    kumo__httpc *c = kumo__httpc_new();
    kumo__httpc_req r;
    kumo__httpc_res res;

    /* the server drops the kept connection as the next request comes: sent once more on a new one */
    long conn = conn_of(c, url(plain, "/close-next"));
    CHECK(conn > 0);
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn + 1);

    /* the same with a body streamed from a file: sought back and sent whole */
    unsigned char *data = NULL;
    FILE *f = body_file(100000, &data);
    conn = conn_of(c, url(plain, "/close-next"));
    if (f) {
        r = req("PUT", url(plain, "/echo"));
        r.in = f;
        r.in_len = 100000;
        CHECK_INT(run(c, &r, &res), 0);
        CHECK_INT(atol(hdr(&res, "X-Conn")), conn + 1);
        CHECK_INT(res.len, 100000);
        CHECK(res.body && memcmp(res.body, data, 100000) == 0);
        kumo__httpc_res_free(&res);
        fclose(f);
        free(data);
    }

    /* a body from a pipe cannot be sent again: the failure is the answer */
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "piped", 5) == 5);
    close(p[1]);
    FILE *pf = fdopen(p[0], "r");
    conn = conn_of(c, url(plain, "/close-next"));
    r = req("PUT", url(plain, "/echo"));
    r.in = pf;
    r.in_len = 5;
    CHECK_INT(run(c, &r, &res), KUMO_EUNAVAILABLE);
    CHECK(strstr(msg, "without answering") != NULL);
    kumo__httpc_res_free(&res);
    fclose(pf);
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn + 1);

    /* the server closed the kept connection while idle */
    conn = conn_of(c, url(plain, "/idle-close"));
    usleep(100 * 1000);
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn + 1);

    /* a request the server never answers: on a kept connection, tried twice (two connections) ... */
    conn = conn_of(c, url(plain, "/hello"));
    CHECK_INT(get_rc(c, url(plain, "/drop"), 5000), KUMO_EUNAVAILABLE);
    CHECK_INT(conn_of(c, url(plain, "/hello")), conn + 2);
    /* ... on a new connection, once */
    kumo__httpc *fresh = kumo__httpc_new();
    CHECK_INT(get_rc(fresh, url(plain, "/drop"), 5000), KUMO_EUNAVAILABLE);
    CHECK_INT(conn_of(fresh, url(plain, "/hello")), conn + 4);
    kumo__httpc_free(fresh);

    /* a new origin closes the old connection */
    conn = conn_of(c, url(plain, "/hello"));
    char u[128];
    snprintf(u, sizeof(u), "http://localhost:%d/hello", plain);
    long other = conn_of(c, u);
    CHECK(other > conn);
    kumo__httpc_free(c);
}

/* ---- bounds and broken servers ------------------------------------------------------------------------------- */

/* A port nothing listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void test_bounds(void)
{
    kumo__httpc *c = kumo__httpc_new();
    kumo__httpc_req r;
    kumo__httpc_res res;

    /* max_body: at it, fine; over it, by length, chunked or until close */
    r = req("GET", url(plain, "/big?n=1000"));
    r.max_body = 1000;
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.len, 1000);
    kumo__httpc_res_free(&res);
    r.url = url(plain, "/big?n=1001");
    CHECK_INT(run(c, &r, &res), KUMO_ETOOBIG);
    CHECK(strstr(msg, "max_body") != NULL);
    CHECK_INT(res.status, 200);
    kumo__httpc_res_free(&res);
    r.url = url(plain, "/big-chunked?n=5000");
    CHECK_INT(run(c, &r, &res), KUMO_ETOOBIG);
    kumo__httpc_res_free(&res);
    r.url = url(plain, "/big-close?n=5000");
    CHECK_INT(run(c, &r, &res), KUMO_ETOOBIG);
    kumo__httpc_res_free(&res);
    r.url = url(plain, "/big-chunked?n=5000");
    r.max_body = 5000;
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.len, 5000);
    kumo__httpc_res_free(&res);

    /* max_headers */
    r = req("GET", url(plain, "/bighead"));
    r.max_headers = 4096;
    CHECK_INT(run(c, &r, &res), KUMO_ETOOBIG);
    CHECK(strstr(msg, "max_headers") != NULL);
    kumo__httpc_res_free(&res);
    r.max_headers = 0; /* the default, 64 KiB */
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(strlen(hdr(&res, "X-Big")) > 0, 1);
    kumo__httpc_res_free(&res);

    /* no answer: timeout_ms */
    CHECK_INT(get_rc(c, url(plain, "/silent"), 300), KUMO_ETIMEDOUT);
    CHECK(strstr(msg, "timeout_ms") != NULL);

    /* refused */
    int port = closed_port();
    CHECK(port > 0);
    CHECK_INT(get_rc(c, url(port, "/"), 2000), KUMO_EUNAVAILABLE);
    CHECK(strstr(msg, "cannot connect") != NULL);

    /* connect_timeout_ms: a listener whose queue is full drops the SYN */
    int l = socket(AF_INET, SOCK_STREAM, 0), fill[4];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    CHECK(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 0) == 0 &&
          getsockname(l, (struct sockaddr *)&a, &alen) == 0);
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof(a));
    }
    usleep(20 * 1000);
    r = req("GET", url(ntohs(a.sin_port), "/"));
    r.connect_timeout_ms = 200;
    r.timeout_ms = 3000;
    CHECK_INT(run(c, &r, &res), KUMO_EUNAVAILABLE);
    CHECK(strstr(msg, "connect_timeout_ms") != NULL);
    kumo__httpc_res_free(&res);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(l);

    /* malformed answers */
    CHECK_INT(get_rc(c, url(plain, "/garbage"), 3000), KUMO_EIO); /* seen at once, not at the close */
    CHECK(strstr(msg, "not HTTP/1.x") != NULL);
    CHECK_INT(get_rc(c, url(plain, "/obsfold"), 3000), KUMO_EIO);
    CHECK(strstr(msg, "obs-fold") != NULL);
    CHECK_INT(get_rc(c, url(plain, "/badchunk"), 3000), KUMO_EIO);
    CHECK_INT(get_rc(c, url(plain, "/short"), 3000), KUMO_EUNAVAILABLE);
    CHECK(strstr(msg, "middle of the answer's body") != NULL);

    /* an answer before the body was read: seen; with a server that never reads the body, sending stops */
    size_t big = 16u << 20;
    char *body = calloc(1, big);
    CHECK(body != NULL);
    r = req("POST", url(plain, "/early"));
    r.body = body;
    r.len = 2u << 20;
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 413);
    kumo__httpc_res_free(&res);
    r.url = url(plain, "/early-nodrain");
    r.len = big;
    r.timeout_ms = 3000;
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 413);
    CHECK_STR(res.body, "too large");
    kumo__httpc_res_free(&res);
    free(body);

    /* after all this the client still works */
    CHECK(conn_of(c, url(plain, "/hello")) > 0);
    kumo__httpc_free(c);
}

/* ---- requests refused before anything is sent ---------------------------------------------------------------- */

static void test_refused(void)
{
    kumo__httpc *c = kumo__httpc_new();
    kumo__httpc_req r;
    kumo__httpc_res res;
    const char *const crlf[] = {"X-A: b\r\nX-Evil: 1", NULL};
    const char *const lf[] = {"X-A: b\nX-Evil: 1", NULL};
    const char *const nocolon[] = {"X-A b", NULL};
    const char *const own[] = {"Content-Length: 5", NULL};
    const char *const *bad[] = {crlf, lf, nocolon, own};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = req("GET", url(plain, "/hello"));
        r.headers = bad[i];
        CHECK_INT(run(c, &r, &res), KUMO_EINVAL);
        kumo__httpc_res_free(&res);
    }
    static const char *const urls[] = {
        "ftp://127.0.0.1/",     "http://user@127.0.0.1/", "http://127.0.0.1:70000/",
        "http://127.0.0.1:8x/", "http:///path",           "http://127.0.0.1/a b",
        "http://[::1/",         "http://ex ample/",       "https://127.0.0.1:443/",
        "https://[::1]:443/",   "http://127.0.0.1/\x7f",  "https://2130706433/",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        r = req("GET", urls[i]);
        CHECK_INT(run(c, &r, &res), KUMO_EINVAL);
        kumo__httpc_res_free(&res);
    }
    r = req("GET", "https://127.0.0.1:443/");
    run(c, &r, &res);
    CHECK(strstr(msg, "IP address") != NULL);
    r = req("GE T", url(plain, "/hello"));
    CHECK_INT(run(c, &r, &res), KUMO_EINVAL);
    r = req("POST", url(plain, "/echo"));
    r.body = "x";
    r.len = 1;
    r.in = stdin;
    CHECK_INT(run(c, &r, &res), KUMO_EINVAL);
    CHECK_INT(kumo__httpc_perform(c, NULL, &res, msg, sizeof(msg)), KUMO_EINVAL);
    CHECK_INT(kumo__httpc_perform(NULL, &r, &res, NULL, 0), KUMO_EINVAL);
    kumo__httpc_free(c);
    kumo__httpc_free(NULL);
    kumo__httpc_res_free(NULL);
}

/* ---- https --------------------------------------------------------------------------------------------------- */

/* In a child (the anchors load once per process): no CA file, every https call says which file. */
static void test_no_ca_file(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("SSL_CERT_FILE", "/nonexistent/kumo-test-ca.pem", 1);
        kumo__httpc *c = kumo__httpc_new();
        int bad = 0;
        for (int i = 0; i < 2; i++) {
            kumo__httpc_req r = req("GET", tls_url(good, "/hello"));
            kumo__httpc_res res;
            bad |= kumo__httpc_perform(c, &r, &res, msg, sizeof(msg)) != KUMO_EUNAVAILABLE;
            bad |= strstr(msg, "/nonexistent/kumo-test-ca.pem") == NULL;
            kumo__httpc_res_free(&res);
        }
        printf("  (child) %s\n", msg);
        fflush(stdout);
        kumo__httpc_free(c);
        _exit(bad);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_tls(const char *dir)
{
    char ca[512];
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    setenv("SSL_CERT_FILE", ca, 1);
    kumo__httpc *c = kumo__httpc_new();
    kumo__httpc_req r;
    kumo__httpc_res res;

    r = req("GET", tls_url(good, "/hello"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_INT(res.status, 200);
    CHECK_STR(res.body, "hello, world");
    long conn = atol(hdr(&res, "X-Conn"));
    kumo__httpc_res_free(&res);
    CHECK_INT(conn_of(c, tls_url(good, "/hello")), conn); /* kept alive */

    /* bodies of several records both ways, from memory and from a file */
    unsigned char *data = NULL;
    FILE *f = body_file(200000, &data);
    if (f) {
        r = req("POST", tls_url(good, "/echo"));
        r.body = data;
        r.len = 200000;
        CHECK_INT(run(c, &r, &res), 0);
        CHECK_INT(res.len, 200000);
        CHECK(res.body && memcmp(res.body, data, 200000) == 0);
        char host[64];
        snprintf(host, sizeof(host), "localhost:%d", good);
        CHECK_STR(hdr(&res, "X-Got-Host"), host);
        kumo__httpc_res_free(&res);
        r = req("PUT", tls_url(good, "/echo"));
        r.in = f;
        r.in_len = 200000;
        CHECK_INT(run(c, &r, &res), 0);
        CHECK(res.len == 200000 && memcmp(res.body, data, 200000) == 0);
        CHECK_INT(atol(hdr(&res, "X-Conn")), conn);
        kumo__httpc_res_free(&res);
        fclose(f);
        free(data);
    }
    r = req("GET", tls_url(good, "/chunked"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_STR(res.body, "hello, world");
    kumo__httpc_res_free(&res);
    r = req("GET", tls_url(good, "/until-close"));
    CHECK_INT(run(c, &r, &res), 0);
    CHECK_STR(res.body, "all of this, until the close");
    kumo__httpc_res_free(&res);

    /* the retry over TLS */
    conn = conn_of(c, tls_url(good, "/close-next"));
    CHECK_INT(conn_of(c, tls_url(good, "/hello")), conn + 1);
    CHECK_INT(get_rc(c, tls_url(good, "/silent"), 300), KUMO_ETIMEDOUT);

    /* refused certificates, each saying why */
    CHECK_INT(get_rc(c, tls_url(wrongname, "/hello"), 3000), KUMO_EUNAVAILABLE);
    CHECK(strstr(msg, "not valid for the name 'localhost'") != NULL);
    CHECK_INT(get_rc(c, tls_url(untrusted, "/hello"), 3000), KUMO_EUNAVAILABLE);
    CHECK(strstr(msg, "not trusted") != NULL && strstr(msg, ca) != NULL);
    CHECK_INT(get_rc(c, tls_url(expired, "/hello"), 3000), KUMO_EUNAVAILABLE);
    CHECK(strstr(msg, "expired") != NULL);

    /* https to a server that speaks plain HTTP: refused, within connect_timeout_ms at worst */
    r = req("GET", tls_url(plain, "/hello"));
    r.connect_timeout_ms = 500;
    CHECK_INT(run(c, &r, &res), KUMO_EUNAVAILABLE);
    kumo__httpc_res_free(&res);

    /* and a good one again on the same client */
    CHECK(conn_of(c, tls_url(good, "/hello")) > conn);
    kumo__httpc_free(c);
}

int main(void)
{
    alarm(60); /* a guard: the test takes a few seconds; a hang fails it */
    if (system("python3 -c 'import cryptography' 2>/dev/null") != 0) {
        check_skip("python3's cryptography is not installed (Debian: python3-cryptography)");
        return check_report();
    }
    char dir[] = "/tmp/kumo-test-httpc-XXXXXX", cmd[128];
    if (mkdtemp(dir) == NULL || start_server(dir) != 0) {
        CHECK(0);
        return check_report();
    }
    test_no_ca_file();
    test_framing();
    test_reuse();
    test_bounds();
    test_refused();
    test_tls(dir);
    stop_server();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        CHECK(0);
    return check_report();
}
