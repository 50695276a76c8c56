/*
 * redis_conn.c: see redis_conn.h. One blocking hiredis connection per
 * driver handle, made on first use.
 *
 * A lost connection is never a crash nor a permanent failure: a call that
 * fails on the wire frees the context and returns KUMO_EUNAVAILABLE (or
 * KUMO_ETIMEDOUT), and the next call connects again. Before each command
 * an idle connection is checked with a non-blocking peek: a server that was
 * restarted closed it, the peek sees the end of file, and the call goes to
 * a new connection instead of failing once more. Nothing is retried after
 * a command was sent, so a write is never applied twice.
 *
 * Scripts are loaded (SCRIPT LOAD) on every connection and run by SHA; a
 * NOSCRIPT answer (SCRIPT FLUSH on the server) loads them again once.
 */
#include "sdk/stores/redis_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>

#define DEFAULT_PORT 6379
#define DEFAULT_TIMEOUT_MS 5000

/* Percent-decodes s[0..len) into a new string (NULL on a bad escape or no memory). */
static char *decode(const char *s, size_t len)
{
    char *out = malloc(len + 1), *p = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            unsigned v;
            char h[3] = {0};
            if (i + 2 >= len || (memcpy(h, s + i + 1, 2), sscanf(h, "%2x", &v) != 1)) {
                free(out);
                return NULL;
            }
            *p++ = (char)v;
            i += 2;
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    return out;
}

static int parse_uint(const char *s, size_t len, unsigned long max, unsigned long *out)
{
    if (len == 0 || len > 10)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_query(kumo__redis *r, const char *q, kumo__error *e)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        size_t nlen = eq ? (size_t)(eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;
        size_t vlen = eq ? n - nlen - 1 : 0;
        unsigned long u;
        if (nlen == 10 && strncmp(q, "timeout_ms", nlen) == 0 && parse_uint(v, vlen, 3600000, &u) == 0 && u > 0) {
            r->timeout_ms = (int)u;
        } else if (nlen == 6 && strncmp(q, "create", nlen) == 0 && vlen > 0) {
            r->create = !(strncmp(v, "false", vlen) == 0 || strncmp(v, "0", vlen) == 0 || strncmp(v, "no", vlen) == 0);
        } else if (nlen == 12 && strncmp(q, "max_receives", nlen) == 0 && parse_uint(v, vlen, 1000000, &u) == 0 &&
                   u > 0) {
            r->max_receives = (unsigned)u;
        } else {
            kumo__error_set(e, KUMO_EINVAL,
                            "redis URL: bad query parameter '%.*s'; known: timeout_ms=MS, create=true|false, "
                            "max_receives=N",
                            (int)n, q);
            return KUMO_EINVAL;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

int kumo__redis_parse(kumo__redis *r, const char *url, kumo__error *e)
{
    r->port = DEFAULT_PORT;
    r->timeout_ms = DEFAULT_TIMEOUT_MS;
    r->create = 1;
    r->max_receives = 5;
    if (strncmp(url, "redis://", 8) != 0) {
        kumo__error_set(e, KUMO_EINVAL, "store URL must start with redis://; expected redis://host:port/db");
        return KUMO_EINVAL;
    }
    const char *p = url + 8;
    const char *end = p + strcspn(p, "/?");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL) {
            kumo__error_set(e, KUMO_EINVAL, "redis URL: credentials must be [user]:password@");
            return KUMO_EINVAL;
        }
        if (colon > p && (r->user = decode(p, (size_t)(colon - p))) == NULL)
            goto bad_escape;
        if ((r->password = decode(colon + 1, (size_t)(at - colon - 1))) == NULL)
            goto bad_escape;
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon ? colon : end;
    if (hend == p) {
        kumo__error_set(e, KUMO_EINVAL, "redis URL has no host; expected redis://host:port/db");
        return KUMO_EINVAL;
    }
    r->host = strndup(p, (size_t)(hend - p));
    if (r->host == NULL) {
        kumo__error_set(e, KUMO_ENOMEM, "out of memory");
        return KUMO_ENOMEM;
    }
    unsigned long u;
    if (colon) {
        if (parse_uint(colon + 1, (size_t)(end - colon - 1), 65535, &u) != 0 || u == 0) {
            kumo__error_set(e, KUMO_EINVAL, "redis URL: bad port '%.*s'", (int)(end - colon - 1), colon + 1);
            return KUMO_EINVAL;
        }
        r->port = (int)u;
    }
    p = end;
    if (*p == '/') {
        p++;
        size_t n = strcspn(p, "?");
        if (n > 0) {
            if (parse_uint(p, n, 1000000, &u) != 0) {
                kumo__error_set(e, KUMO_EINVAL, "redis URL: database '%.*s' is not a number", (int)n, p);
                return KUMO_EINVAL;
            }
            r->db = (int)u;
        }
        p += n;
    }
    if (*p == '?')
        return parse_query(r, p + 1, e);
    return 0;
bad_escape:
    kumo__error_set(e, KUMO_EINVAL, "redis URL: bad %%-escape in the credentials (or out of memory)");
    return KUMO_EINVAL;
}

int kumo__redis_open(kumo__redis *r, const char *url, kumo__redis_script *scripts, const char *const *sources, size_t n,
                     char *error, size_t errlen, kumo__error *e)
{
    for (size_t i = 0; i < n; i++)
        scripts[i].source = sources[i];
    r->scripts = scripts;
    r->nscripts = n;
    r->error = error;
    r->errlen = errlen;
    int rc = kumo__redis_parse(r, url, e);
    if (rc == 0 && (rc = kumo__redis_ready(r)) != 0)
        kumo__error_set(e, rc, "%s", error);
    return rc;
}

static void set_error(kumo__redis *r, const char *fmt, const char *detail)
{
    if (r->error)
        snprintf(r->error, r->errlen, fmt, detail);
}

static void drop(kumo__redis *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

/* A wire failure: frees the context (the next call reconnects). */
static int lost(kumo__redis *r)
{
    int timed_out = r->c && r->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    set_error(r, "redis: %s", r->c ? r->c->errstr : "no connection");
    drop(r);
    return timed_out ? KUMO_ETIMEDOUT : KUMO_EUNAVAILABLE;
}

/* Maps an error reply, whose message goes to r->error. */
static int reply_error(kumo__redis *r, const redisReply *rep)
{
    set_error(r, "redis: %s", rep->str);
    if (strncmp(rep->str, "LOADING", 7) == 0 || strncmp(rep->str, "MASTERDOWN", 10) == 0)
        return KUMO_EUNAVAILABLE;
    if (strncmp(rep->str, "BUSY", 4) == 0)
        return KUMO_ETIMEDOUT;
    if (strncmp(rep->str, "OOM", 3) == 0)
        return KUMO_ETOOBIG;
    return KUMO_EIO;
}

/* Sends one command on the current connection (no reconnect). */
static int raw(kumo__redis *r, redisReply **reply, int argc, const char **argv, const size_t *lens)
{
    *reply = redisCommandArgv(r->c, argc, argv, lens);
    if (*reply == NULL)
        return lost(r);
    if ((*reply)->type == REDIS_REPLY_ERROR) {
        int rc = reply_error(r, *reply);
        freeReplyObject(*reply);
        *reply = NULL;
        return rc;
    }
    return 0;
}

static int load_scripts(kumo__redis *r)
{
    for (size_t i = 0; i < r->nscripts; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", r->scripts[i].source};
        redisReply *rep;
        int rc = raw(r, &rep, 3, argv, NULL);
        if (rc != 0)
            return rc;
        if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            freeReplyObject(rep);
            set_error(r, "redis: %s", "SCRIPT LOAD gave no SHA");
            return KUMO_EIO;
        }
        memcpy(r->scripts[i].sha, rep->str, 41);
        freeReplyObject(rep);
    }
    return 0;
}

/* Is an idle connection still open? A closed one reads as EOF. */
static int alive(redisContext *c)
{
    char b;
    if (c->err)
        return 0;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int kumo__redis_ready(kumo__redis *r)
{
    if (r->c && alive(r->c))
        return 0;
    drop(r);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (r->c == NULL) {
        set_error(r, "redis: %s", "out of memory");
        return KUMO_ENOMEM;
    }
    if (r->c->err) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s:%d: %s", r->host, r->port, r->c->errstr);
        set_error(r, "redis: cannot connect to %s", msg);
        drop(r);
        return KUMO_EUNAVAILABLE;
    }
    redisSetTimeout(r->c, tv);
    int rc;
    redisReply *rep;
    if (r->password) {
        const char *argv[] = {"AUTH", r->user ? r->user : r->password, r->password};
        rc = raw(r, &rep, r->user ? 3 : 2, argv, NULL);
        if (rc != 0)
            goto fail;
        freeReplyObject(rep);
    }
    if (r->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->db);
        const char *argv[] = {"SELECT", db};
        rc = raw(r, &rep, 2, argv, NULL);
        if (rc != 0)
            goto fail;
        freeReplyObject(rep);
    }
    rc = load_scripts(r);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    drop(r);
    return rc == KUMO_EIO ? KUMO_EUNAVAILABLE : rc;
}

int kumo__redis_command(kumo__redis *r, redisReply **reply, int argc, const char **argv, const size_t *lens)
{
    *reply = NULL;
    int rc = kumo__redis_ready(r);
    if (rc != 0)
        return rc;
    return raw(r, reply, argc, argv, lens);
}

#define EVAL_ARGS_MAX 256

int kumo__redis_eval(kumo__redis *r, redisReply **reply, size_t which, int nkeys, int argc, const char **argv,
                     const size_t *lens)
{
    const char *av[EVAL_ARGS_MAX + 3];
    size_t al[EVAL_ARGS_MAX + 3];
    char nk[16];
    *reply = NULL;
    if (argc > EVAL_ARGS_MAX || which >= r->nscripts)
        return KUMO_EINVAL;
    int rc = kumo__redis_ready(r);
    if (rc != 0)
        return rc;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = r->scripts[which].sha;
    al[1] = 40;
    av[2] = nk;
    al[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    for (int attempt = 0;; attempt++) {
        *reply = redisCommandArgv(r->c, argc + 3, av, al);
        if (*reply == NULL)
            return lost(r);
        if ((*reply)->type != REDIS_REPLY_ERROR)
            return 0;
        if (attempt == 0 && strncmp((*reply)->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(*reply);
            *reply = NULL;
            rc = load_scripts(r);
            if (rc != 0)
                return rc;
            continue;
        }
        rc = reply_error(r, *reply);
        freeReplyObject(*reply);
        *reply = NULL;
        return rc;
    }
}

void kumo__redis_free(kumo__redis *r)
{
    drop(r);
    free(r->host);
    free(r->user);
    if (r->password)
        explicit_bzero(r->password, strlen(r->password));
    free(r->password);
}

int kumo__random_hex(char *out, size_t n)
{
    unsigned char buf[64];
    if (n > sizeof(buf))
        return KUMO_EINVAL;
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(buf + got, n - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return KUMO_EIO;
        }
        got += (size_t)k;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * n] = '\0';
    return 0;
}
