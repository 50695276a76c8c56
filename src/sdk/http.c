/*
 * http.c: outbound HTTP calls to the services of kumo.yaml, the one
 * implementation of their rules (docs/outbound.md).
 *
 * A handler's kumo_http call leaves its process one of two ways. Under
 * kumo up the local adapter's transport (adapters/local.c) writes it to
 * the gateway as a KUMO__FRAME_HTTP_CALL frame, and the gateway's egress
 * thread (gateway/egress.c) runs it with libcurl multi: a worker keeps no
 * network for services. Under kumo-host it is run here, in process, with
 * one easy handle (kumo__http_perform); under kumo-lambda, which carries
 * no libcurl, with kumo's own client (sdk/stores/httpc.h) instead:
 * HTTP/1.1, TLS 1.2 through BearSSL with the platform's CAs, no
 * compression, no proxy (kumo__http_use_builtin). All run the same
 * exchange:
 *
 *  - the allow-list: a declared service's name and a path, or an absolute
 *    URL whose origin (scheme, host, port) is a declared service's; else
 *    KUMO_EDENIED, whose message names the fix;
 *  - the deadline: the earliest of the invocation's, the service's
 *    timeout: and the call's own timeout_ms; past it KUMO_ETIMEDOUT;
 *  - the response's ceiling: the service's max_response (KUMO_ETOOBIG);
 *  - the service's headers (secrets expanded by whoever placed it) over
 *    the handler's of the same name; no redirects; http and https only;
 *  - retries, when asked, of idempotent methods after a connection
 *    failure, a 5xx or a 429: 100 ms * 2^k with jitter, or Retry-After,
 *    never past the deadline (then the last status is the answer).
 */
#include "sdk/sdk.h"
#include "base/curl_lazy.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "base/growbuf.h"
#include "proto/frame.h"
#include "sdk/stores/httpc.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void kumo__http_result_free(kumo__http_result *r)
{
    free(r->body);
    free(r->head);
    r->body = r->head = NULL;
    r->body_len = r->head_len = r->nheaders = 0;
}

static void set_error(kumo__http_result *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(kumo__http_result *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->error = code;
}

/* ---- origins and the allow-list ---- */

typedef struct origin {
    char scheme[8];
    char host[256];
    unsigned port;
} origin;

/* Splits an http(s) URL's origin; 0, or -1. */
static int parse_origin(const char *url, origin *o, const char **path)
{
    const char *rest;
    if (strncasecmp(url, "http://", 7) == 0) {
        strcpy(o->scheme, "http");
        o->port = 80;
        rest = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        strcpy(o->scheme, "https");
        o->port = 443;
        rest = url + 8;
    } else {
        return -1;
    }
    size_t auth = strcspn(rest, "/?#");
    if (auth == 0 || memchr(rest, '@', auth) != NULL)
        return -1;
    const char *end = rest + auth, *colon = NULL;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', auth);
        if (close == NULL)
            return -1;
        if (close + 1 < end) {
            if (close[1] != ':')
                return -1;
            colon = close + 1;
        }
    } else {
        colon = memchr(rest, ':', auth);
    }
    size_t hl = (size_t)((colon ? colon : end) - rest);
    if (hl == 0 || hl >= sizeof o->host)
        return -1;
    for (size_t i = 0; i < hl; i++)
        o->host[i] = (char)tolower((unsigned char)rest[i]);
    o->host[hl] = '\0';
    if (colon && colon + 1 < end) {
        unsigned long p = 0;
        for (const char *c = colon + 1; c < end; c++) {
            if (!isdigit((unsigned char)*c))
                return -1;
            p = p * 10 + (unsigned long)(*c - '0');
            if (p > 65535)
                return -1;
        }
        o->port = (unsigned)p;
    }
    if (path)
        *path = end;
    return 0;
}

int kumo__http_same_origin(const char *a, const char *b)
{
    origin x, y;
    return parse_origin(a, &x, NULL) == 0 && parse_origin(b, &y, NULL) == 0 && strcmp(x.scheme, y.scheme) == 0 &&
           strcmp(x.host, y.host) == 0 && x.port == y.port;
}

static int text_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return 0;
    return 1;
}

void kumo__http_url_for_logs(const char *url, char *buf, size_t len)
{
    size_t n = strcspn(url, "?#");
    snprintf(buf, len, "%.*s", (int)n, url);
}

int kumo__http_resolve(const kumo__http_service *svcs, size_t n, const kumo__http_call *c, char **url,
                       const kumo__http_service **svc, char *msg, size_t msglen)
{
    *url = NULL;
    *svc = NULL;
    if (c->service && *c->service) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(svcs[i].name, c->service) == 0)
                *svc = &svcs[i];
        if (*svc == NULL) {
            snprintf(msg, msglen,
                     "service '%.64s' is not declared; declare it in kumo.yaml services: (with its spec: and url:)",
                     c->service);
            return KUMO_EDENIED;
        }
        const char *path = c->url ? c->url : "";
        if (*path && *path != '/' && *path != '?') {
            snprintf(msg, msglen, "with service '%.64s', url must be a path starting with '/' (like /pets/42)",
                     c->service);
            return KUMO_EINVAL;
        }
        if (!text_ok(path) || strlen(path) > KUMO__HTTP_URL_MAX) {
            snprintf(msg, msglen,
                     "the path has a space or control character in it, or is over 8 KiB; percent-encode it");
            return KUMO_EINVAL;
        }
        if (asprintf(url, "%s%s", (*svc)->url, path) < 0) {
            *url = NULL;
            snprintf(msg, msglen, "out of memory");
            return KUMO_ENOMEM;
        }
        /* what the path may not do: move the call to another origin */
        if (!kumo__http_same_origin((*svc)->url, *url)) {
            free(*url);
            *url = NULL;
            snprintf(msg, msglen, "the path would take the call away from service '%.64s''s origin", c->service);
            return KUMO_EINVAL;
        }
        return 0;
    }
    if (c->url == NULL || *c->url == '\0') {
        snprintf(msg, msglen, "a call needs a service (and a path) or an absolute URL");
        return KUMO_EINVAL;
    }
    origin o;
    if (parse_origin(c->url, &o, NULL) != 0 || !text_ok(c->url) || strlen(c->url) > KUMO__HTTP_URL_MAX) {
        snprintf(msg, msglen,
                 "url must be an absolute http:// or https:// URL with a host and no credentials, or a path "
                 "with a service");
        return KUMO_EINVAL;
    }
    for (size_t i = 0; i < n && *svc == NULL; i++)
        if (kumo__http_same_origin(svcs[i].url, c->url))
            *svc = &svcs[i];
    if (*svc == NULL) {
        snprintf(msg, msglen,
                 "%s://%.128s:%u is not the origin of a declared service; declare the service in kumo.yaml "
                 "services: (with its spec: and url:)",
                 o.scheme, o.host, o.port);
        return KUMO_EDENIED;
    }
    if ((*url = strdup(c->url)) == NULL) {
        snprintf(msg, msglen, "out of memory");
        return KUMO_ENOMEM;
    }
    return 0;
}

/* ---- the exchange ---- */

struct kumo__http_exchange {
    kumo__http_service svc; /* copied: name, url, headers point into mem */
    char *mem;
    char *method, *url;
    char *body;
    size_t body_len;
    char **user_headers;
    size_t nuser;
    uint64_t deadline_ms; /* epoch; 0: none */
    unsigned retries, attempt;
    CURL *easy;
    int borrowed; /* easy is the caller's (kept for its connection cache): reset, never cleaned up */
    struct curl_slist *slist;
    kumo__growbuf resp, head;
    char errbuf[CURL_ERROR_SIZE];
    int done;
    kumo__http_result r;
};

static int idempotent(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", NULL};
    for (const char *const *o = ok; *o; o++)
        if (strcmp(m, *o) == 0)
            return 1;
    return 0;
}

static int method_ok(const char *m)
{
    if (*m == '\0' || strlen(m) > 32)
        return 0;
    for (; *m; m++)
        if (!(isupper((unsigned char)*m) || *m == '-' || *m == '_'))
            return 0;
    return 1;
}

static int header_ok(const char *name, const char *value)
{
    if (*name == '\0' || strlen(name) > 256)
        return 0;
    for (const char *c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || strchr("!#$%&'*+-.^_`|~", *c)))
            return 0;
    for (const char *c = value; *c; c++)
        if (*c == '\r' || *c == '\n')
            return 0;
    return 1;
}

kumo__http_exchange *kumo__http_exchange_new(const kumo__http_service *svcs, size_t n, const kumo__http_call *c)
{
    kumo__http_exchange *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    kumo__http_result *r = &x->r;
    const char *method = c->method && *c->method ? c->method : "GET";
    x->method = strdup(method);
    if (x->method == NULL)
        goto oom;
    if (c->service)
        snprintf(r->service, sizeof r->service, "%s", c->service);
    if (!method_ok(method)) {
        set_error(r, KUMO_EINVAL, "method '%.32s' is not an upper-case HTTP method", method);
        goto refused;
    }
    if (c->nheaders > KUMO__HTTP_HEADERS_MAX) {
        set_error(r, KUMO_EINVAL, "more than %d request headers", KUMO__HTTP_HEADERS_MAX);
        goto refused;
    }
    for (size_t i = 0; i < c->nheaders; i++)
        if (!header_ok(c->headers[2 * i], c->headers[2 * i + 1])) {
            set_error(r, KUMO_EINVAL, "request header '%.64s' is not a token, or its value holds CR or LF",
                      c->headers[2 * i]);
            goto refused;
        }
    if (c->retries > KUMO__HTTP_RETRIES_MAX) {
        set_error(r, KUMO_EINVAL, "retries must be 0 to %d", KUMO__HTTP_RETRIES_MAX);
        goto refused;
    }
    const kumo__http_service *svc;
    int rc = kumo__http_resolve(svcs, n, c, &x->url, &svc, r->message, sizeof r->message);
    if (rc != 0) {
        r->error = rc;
        if (c->url && !(c->service && *c->service))
            kumo__http_url_for_logs(c->url, r->url, sizeof r->url);
        goto refused;
    }
    snprintf(r->service, sizeof r->service, "%s", svc->name);
    kumo__http_url_for_logs(x->url, r->url, sizeof r->url);
    /* the service, copied with its headers */
    size_t need = strlen(svc->name) + strlen(svc->url) + 2;
    for (size_t i = 0; i < 2 * svc->nheaders; i++)
        need += strlen(svc->headers[i]) + 1;
    if ((x->mem = malloc(need)) == NULL ||
        (svc->nheaders && (x->svc.headers = calloc(2 * svc->nheaders, sizeof(char *))) == NULL))
        goto oom;
    char *m = x->mem;
    x->svc = (kumo__http_service){.headers = x->svc.headers,
                                  .nheaders = svc->nheaders,
                                  .timeout_ms = svc->timeout_ms,
                                  .max_response = svc->max_response};
    x->svc.name = strcpy(m, svc->name);
    m += strlen(m) + 1;
    x->svc.url = strcpy(m, svc->url);
    m += strlen(m) + 1;
    for (size_t i = 0; i < 2 * svc->nheaders; i++) {
        ((const char **)x->svc.headers)[i] = strcpy(m, svc->headers[i]);
        m += strlen(m) + 1;
    }
    /* the handler's headers, but not those the service sets */
    if (c->nheaders && (x->user_headers = calloc(2 * c->nheaders, sizeof(char *))) == NULL)
        goto oom;
    for (size_t i = 0; i < c->nheaders; i++) {
        int mine = 0;
        for (size_t j = 0; j < svc->nheaders; j++)
            mine |= strcasecmp(c->headers[2 * i], svc->headers[2 * j]) == 0;
        if (mine)
            continue;
        if ((x->user_headers[2 * x->nuser] = strdup(c->headers[2 * i])) == NULL ||
            (x->user_headers[2 * x->nuser + 1] = strdup(c->headers[2 * i + 1])) == NULL) {
            x->nuser++;
            goto oom;
        }
        x->nuser++;
    }
    if (c->body_len) {
        if ((x->body = malloc(c->body_len)) == NULL)
            goto oom;
        memcpy(x->body, c->body, c->body_len);
        x->body_len = c->body_len;
    }
    /* the earliest of the three deadlines */
    uint64_t now = now_ms();
    x->deadline_ms = c->deadline_ms;
    uint32_t t[2] = {c->timeout_ms, svc->timeout_ms};
    for (int i = 0; i < 2; i++)
        if (t[i] && (x->deadline_ms == 0 || now + t[i] < x->deadline_ms))
            x->deadline_ms = now + t[i];
    x->retries = c->retries && idempotent(method) ? c->retries : 0;
    x->resp.max = svc->max_response ? svc->max_response : (1u << 20);
    x->head.max = KUMO__HTTP_HEAD_MAX;
    return x;
oom:
    set_error(r, KUMO_ENOMEM, "out of memory");
refused:
    x->done = 1;
    return x;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return kumo__growbuf_curl_body(p, size, n, ud);
}

void *kumo__http_exchange_easy(kumo__http_exchange *x)
{
    if (x->done)
        return NULL;
    kumo__http_result *r = &x->r;
    int64_t left = x->deadline_ms ? (int64_t)(x->deadline_ms - now_ms()) : 0;
    if (x->deadline_ms && (x->deadline_ms <= now_ms() || left <= 0)) {
        set_error(r, KUMO_ETIMEDOUT, "%.128s: no time left before the deadline", r->url);
        x->done = 1;
        return NULL;
    }
    if (x->slist == NULL) {
        if (x->easy == NULL && (x->easy = curl_easy_init()) == NULL) {
            set_error(r, KUMO_ENOMEM, "out of memory");
            x->done = 1;
            return NULL;
        }
        struct curl_slist *l = NULL, *nl;
        char line[8192];
        for (size_t i = 0; i < x->svc.nheaders; i++) {
            snprintf(line, sizeof line, "%s: %s", x->svc.headers[2 * i], x->svc.headers[2 * i + 1]);
            if ((nl = curl_slist_append(l, line)) == NULL)
                goto oom;
            l = nl;
        }
        for (size_t i = 0; i < x->nuser; i++) {
            /* "Name;" sends a header with an empty value: "Name:" would drop it */
            if (*x->user_headers[2 * i + 1])
                snprintf(line, sizeof line, "%s: %s", x->user_headers[2 * i], x->user_headers[2 * i + 1]);
            else
                snprintf(line, sizeof line, "%s;", x->user_headers[2 * i]);
            if ((nl = curl_slist_append(l, line)) == NULL)
                goto oom;
            l = nl;
        }
        if ((nl = curl_slist_append(l, "Expect:")) == NULL) /* no 100-continue round trip */
            goto oom;
        x->slist = l = nl;
        CURL *e = x->easy;
        curl_easy_setopt(e, CURLOPT_URL, x->url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->slist);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &x->resp);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, kumo__growbuf_curl_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &x->head);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
        if (strcmp(x->method, "HEAD") == 0)
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        else if (strcmp(x->method, "GET") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body_len || strcmp(x->method, "POST") == 0 || strcmp(x->method, "PUT") == 0 ||
            strcmp(x->method, "PATCH") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body ? x->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
        }
    }
    x->resp.len = x->head.len = 0;
    x->resp.over = x->head.over = 0;
    x->errbuf[0] = '\0';
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, x->deadline_ms ? (long)left : 0L);
    x->attempt++;
    return x->easy;
oom:
    set_error(r, KUMO_ENOMEM, "out of memory");
    x->done = 1;
    return NULL;
}

/* Retry-After as milliseconds (delta-seconds or an HTTP date), or -1. */
static long retry_after_ms(const char *v)
{
    if (v == NULL)
        return -1;
    char *end;
    long s = strtol(v, &end, 10);
    if (end != v && *end == '\0' && s >= 0)
        return s > 86400 ? 86400000L : s * 1000L;
    /* an HTTP-date: IMF-fixdate, what RFC 9110 has senders write */
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    time_t t = rest && *rest == '\0' ? timegm(&tm) : -1;
    if (t < 0)
        return -1;
    int64_t d = (int64_t)t * 1000 - (int64_t)now_ms();
    return d < 0 ? 0 : (long)d;
}

/* Turns the raw header block into "name\0value\0" pairs, names lower case. */
static int keep_headers(kumo__http_exchange *x)
{
    kumo__http_result *r = &x->r;
    free(r->head);
    r->head = NULL;
    r->head_len = r->nheaders = 0;
    if (x->head.len == 0)
        return 0;
    if ((r->head = malloc(x->head.len + 1)) == NULL)
        return -1;
    const char *p = x->head.data, *end = p + x->head.len;
    char *o = r->head;
    int first = 1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        size_t l = (size_t)(le - p);
        if (l && p[l - 1] == '\r')
            l--;
        const char *colon = memchr(p, ':', l);
        if (!first && colon && colon > p && r->nheaders < KUMO__HTTP_HEADERS_MAX) {
            for (const char *c = p; c < colon; c++)
                *o++ = (char)tolower((unsigned char)*c);
            *o++ = '\0';
            const char *v = colon + 1, *ve = p + l;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            memcpy(o, v, (size_t)(ve - v));
            o += ve - v;
            *o++ = '\0';
            r->nheaders++;
        }
        first = 0;
        p = eol ? eol + 1 : end;
    }
    r->head_len = (size_t)(o - r->head);
    return 0;
}

static const char *result_header(const kumo__http_result *r, const char *name)
{
    const char *p = r->head;
    for (size_t i = 0; p && i < r->nheaders; i++) {
        const char *v = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

static long settle(kumo__http_exchange *x, int transient);

long kumo__http_exchange_attempt_done(kumo__http_exchange *x, int curl_code)
{
    kumo__http_result *r = &x->r;
    CURLcode cc = (CURLcode)curl_code;
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    int transient = 0;
    r->error = 0;
    r->message[0] = '\0';
    if (cc == CURLE_WRITE_ERROR && x->resp.over) {
        set_error(r, KUMO_ETOOBIG, "%.128s: the response is over the service's max_response (%zu bytes)", r->url,
                  x->resp.max);
    } else if (cc == CURLE_WRITE_ERROR && x->head.over) {
        set_error(r, KUMO_ETOOBIG, "%.128s: the response's headers are over %u bytes", r->url, KUMO__HTTP_HEAD_MAX);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        set_error(r, KUMO_ETIMEDOUT, "%.128s: no answer before the deadline", r->url);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
               cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
               cc == CURLE_SSL_CONNECT_ERROR) {
        set_error(r, KUMO_EUNAVAILABLE, "%.128s: %s", r->url, x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
        transient = 1;
    } else if (cc != CURLE_OK) {
        set_error(r, KUMO_EIO, "%.128s: %s", r->url, x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
    } else {
        r->status = (int)status;
        transient = status >= 500 || status == 429;
        if (keep_headers(x) < 0) {
            set_error(r, KUMO_ENOMEM, "out of memory");
            transient = 0;
        }
    }
    return settle(x, transient);
}

/* After an attempt (r->error, or r->status and the headers kept): the wait
 * in ms before the next one, or -1 when this one is the result (then the
 * body moves into it). */
static long settle(kumo__http_exchange *x, int transient)
{
    kumo__http_result *r = &x->r;
    if (transient && x->attempt <= x->retries) {
        long wait = r->error == 0 ? retry_after_ms(result_header(r, "retry-after")) : -1;
        if (wait < 0) {
            unsigned k = x->attempt - 1, j = 0;
            long base = 100L << (k > 10 ? 10 : k);
            if (getrandom(&j, sizeof j, GRND_NONBLOCK) != (ssize_t)sizeof j)
                j = 0;
            wait = base / 2 + (long)(j % (unsigned)(base / 2 + 1)); /* half to all of it */
        }
        if (x->deadline_ms == 0 || now_ms() + (uint64_t)wait < x->deadline_ms)
            return wait;
    }
    x->done = 1;
    if (r->error == 0) {
        free(r->body);
        r->body = x->resp.data;
        r->body_len = x->resp.len;
        x->resp.data = NULL;
        x->resp.len = x->resp.cap = 0;
    }
    return -1;
}

void kumo__http_exchange_result(kumo__http_exchange *x, kumo__http_result *out)
{
    *out = x->r;
    if (out->error)
        kumo__http_result_free(out);
    memset(&x->r, 0, sizeof x->r);
}

void *kumo__http_exchange_handle(kumo__http_exchange *x)
{
    return x ? x->easy : NULL;
}

void kumo__http_exchange_lend(kumo__http_exchange *x, void *easy)
{
    if (x->easy == NULL && x->slist == NULL && easy != NULL) {
        x->easy = easy;
        x->borrowed = 1;
    }
}

void kumo__http_exchange_free(kumo__http_exchange *x)
{
    if (x == NULL)
        return;
    if (x->easy && x->borrowed)
        curl_easy_reset(x->easy);
    else if (x->easy)
        curl_easy_cleanup(x->easy);
    if (x->slist) /* never called without libcurl (kumo-lambda has none) */
        curl_slist_free_all(x->slist);
    free(x->resp.data);
    free(x->head.data);
    kumo__http_result_free(&x->r);
    for (size_t i = 0; i < 2 * x->nuser; i++)
        free(x->user_headers[i]);
    free(x->user_headers);
    if (x->svc.headers)
        for (size_t i = 0; i < 2 * x->svc.nheaders; i++)
            explicit_bzero((char *)x->svc.headers[i], strlen(x->svc.headers[i]));
    free((void *)x->svc.headers);
    free(x->mem);
    free(x->method);
    free(x->url);
    free(x->body);
    free(x);
}

/* In process, each thread keeps one easy handle across calls: its
 * connection cache lets a function calling the same service again reuse
 * its connection, as the gateway's multi handle does. */
static pthread_key_t g_easy_key;
static pthread_once_t g_easy_once = PTHREAD_ONCE_INIT;

static void easy_drop(void *e)
{
    curl_easy_cleanup(e);
}

static void easy_key_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&g_easy_key, easy_drop);
}

/* The wait between two attempts, in process. */
static void pause_ms(long wait)
{
    struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- kumo's own client (kumo-lambda) ---- */

static atomic_int g_builtin;

void kumo__http_use_builtin(int on)
{
    atomic_store(&g_builtin, on != 0);
}

/* one connection per thread, kept alive between calls to one origin */
static pthread_key_t g_httpc_key;
static pthread_once_t g_httpc_once = PTHREAD_ONCE_INIT;

static void httpc_drop(void *c)
{
    kumo__httpc_free(c);
}

static void httpc_key_init(void)
{
    pthread_key_create(&g_httpc_key, httpc_drop);
}

/* One attempt of the exchange over httpc, its outcome put in the classes
 * libcurl's are (kumo__http_exchange_attempt_done), then settled. */
static long builtin_attempt(kumo__http_exchange *x, kumo__httpc *hc)
{
    kumo__http_result *r = &x->r;
    int64_t left = x->deadline_ms ? (int64_t)(x->deadline_ms - now_ms()) : 0;
    if (x->deadline_ms && (x->deadline_ms <= now_ms() || left <= 0)) {
        set_error(r, KUMO_ETIMEDOUT, "%.128s: no time left before the deadline", r->url);
        x->done = 1;
        return -1;
    }
    x->attempt++;
    /* the service's headers, then the handler's it does not set */
    size_t nlines = x->svc.nheaders + x->nuser;
    char **lines = calloc(nlines + 1, sizeof(char *));
    int oom = lines == NULL;
    for (size_t i = 0; !oom && i < nlines; i++) {
        int svc = i < x->svc.nheaders;
        const char *const *pair =
            svc ? &x->svc.headers[2 * i] : (const char *const *)&x->user_headers[2 * (i - x->svc.nheaders)];
        if (asprintf(&lines[i], "%s: %s", pair[0], pair[1]) < 0) {
            lines[i] = NULL;
            oom = 1;
        }
    }
    kumo__httpc_res res;
    memset(&res, 0, sizeof res);
    char msg[200] = "";
    int rc = KUMO_ENOMEM;
    if (!oom) {
        kumo__httpc_req req = {
            .method = x->method,
            .url = x->url,
            .headers = (const char *const *)lines,
            .body = x->body,
            .len = x->body_len,
            .connect_timeout_ms = (long)left,
            .timeout_ms = (long)left,
            .max_body = x->resp.max,
            .max_headers = x->head.max,
        };
        rc = kumo__httpc_perform(hc, &req, &res, msg, sizeof msg);
    }
    for (size_t i = 0; lines && i < nlines; i++)
        free(lines[i]);
    free(lines);
    int transient = 0;
    r->error = 0;
    r->message[0] = '\0';
    x->head.len = 0;
    if (rc == 0) {
        r->status = (int)res.status;
        transient = res.status >= 500 || res.status == 429;
        /* keep_headers reads a raw block whose first line is the status */
        if (kumo__growbuf_add(&x->head, "HTTP/1.1\r\n", 10) != 0 ||
            (res.hlen && kumo__growbuf_add(&x->head, res.headers, res.hlen) != 0) || keep_headers(x) < 0) {
            set_error(r, KUMO_ENOMEM, "out of memory");
            transient = 0;
        } else {
            free(x->resp.data);
            x->resp.data = res.body;
            x->resp.len = res.len;
            x->resp.cap = res.len;
            res.body = NULL;
        }
    } else if (rc == KUMO_ETOOBIG) {
        set_error(r, KUMO_ETOOBIG,
                  "%.128s: the response is over the service's max_response (%zu bytes) or its headers over %u bytes",
                  r->url, x->resp.max, KUMO__HTTP_HEAD_MAX);
    } else if (rc == KUMO_ETIMEDOUT) {
        set_error(r, KUMO_ETIMEDOUT, "%.128s: no answer before the deadline", r->url);
    } else if (rc == KUMO_EUNAVAILABLE) {
        set_error(r, KUMO_EUNAVAILABLE, "%.128s: %s", r->url, msg);
        transient = 1;
    } else if (rc == KUMO_ENOMEM) {
        set_error(r, KUMO_ENOMEM, "out of memory");
    } else {
        set_error(r, KUMO_EIO, "%.128s: %s", r->url, msg[0] ? msg : kumo_strerror(rc));
    }
    kumo__httpc_res_free(&res);
    return settle(x, transient);
}

static void perform_builtin(const kumo__http_service *svcs, size_t n, const kumo__http_call *c, kumo__http_result *out)
{
    pthread_once(&g_httpc_once, httpc_key_init);
    kumo__httpc *hc = pthread_getspecific(g_httpc_key);
    if (hc == NULL && (hc = kumo__httpc_new()) != NULL && pthread_setspecific(g_httpc_key, hc) != 0) {
        kumo__httpc_free(hc);
        hc = NULL;
    }
    kumo__http_exchange *x = hc ? kumo__http_exchange_new(svcs, n, c) : NULL;
    if (x == NULL) {
        set_error(out, KUMO_ENOMEM, "out of memory");
        return;
    }
    while (!x->done) {
        long wait = builtin_attempt(x, hc);
        if (wait < 0)
            break;
        pause_ms(wait);
    }
    kumo__http_exchange_result(x, out);
    kumo__http_exchange_free(x);
}

void kumo__http_perform(const kumo__http_service *svcs, size_t n, const kumo__http_call *c, kumo__http_result *out)
{
    memset(out, 0, sizeof *out);
    if (atomic_load(&g_builtin)) {
        perform_builtin(svcs, n, c, out);
        return;
    }
    pthread_once(&g_easy_once, easy_key_init);
    kumo__http_exchange *x = kumo__http_exchange_new(svcs, n, c);
    if (x == NULL) {
        set_error(out, KUMO_ENOMEM, "out of memory");
        return;
    }
    CURL *mine = pthread_getspecific(g_easy_key);
    if (mine == NULL && (mine = curl_easy_init()) != NULL && pthread_setspecific(g_easy_key, mine) != 0) {
        curl_easy_cleanup(mine);
        mine = NULL;
    }
    if (mine) {
        x->easy = mine;
        x->borrowed = 1;
    }
    void *e;
    while ((e = kumo__http_exchange_easy(x)) != NULL) {
        long wait = kumo__http_exchange_attempt_done(x, (int)curl_easy_perform(e));
        if (wait < 0)
            break;
        pause_ms(wait);
    }
    kumo__http_exchange_result(x, out);
    kumo__http_exchange_free(x);
}

/* ---- the services of this process (kumo-host) ---- */

static _Atomic(void (*)(const kumo__http_result *)) g_observer;

void kumo__http_set_observer(void (*fn)(const kumo__http_result *r))
{
    atomic_store_explicit(&g_observer, fn, memory_order_release);
}

void kumo__http_series(const kumo__http_result *r, char *buf, size_t len)
{
    const char *outcome;
    char cls[8];
    switch (r->error) {
    case 0:
        snprintf(cls, sizeof(cls), "%dxx", r->status / 100 % 10);
        outcome = cls;
        break;
    case KUMO_EDENIED: outcome = "denied"; break;
    case KUMO_ETIMEDOUT: outcome = "timeout"; break;
    case KUMO_ETOOBIG: outcome = "too_big"; break;
    case KUMO_EUNAVAILABLE: outcome = "unavailable"; break;
    case KUMO_EINVAL: outcome = "invalid"; break;
    default: outcome = "error"; break;
    }
    int declared = r->error != KUMO_EDENIED && r->error != KUMO_EINVAL && r->service[0];
    snprintf(buf, len, "kumo_outbound_calls_total{service=\"%s\",outcome=\"%s\"}", declared ? r->service : "-",
             outcome);
}

static kumo__http_service *g_svcs;
static size_t g_nsvcs;
static char *g_mem;

int kumo__http_services_set(const kumo__http_service *svcs, size_t n)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        need += strlen(svcs[i].name) + strlen(svcs[i].url) + 2 + 2 * svcs[i].nheaders * sizeof(char *);
        for (size_t j = 0; j < 2 * svcs[i].nheaders; j++)
            need += strlen(svcs[i].headers[j]) + 1;
    }
    kumo__http_service *v = n ? calloc(n, sizeof *v) : NULL;
    char *mem = need ? malloc(need) : NULL;
    if (n && (v == NULL || mem == NULL)) {
        free(v);
        free(mem);
        return KUMO_ENOMEM;
    }
    /* the block holds the header arrays first, then the strings */
    char **arr = (char **)mem, *m = mem;
    for (size_t i = 0; i < n; i++)
        m += 2 * svcs[i].nheaders * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        v[i] = svcs[i];
        v[i].name = strcpy(m, svcs[i].name);
        m += strlen(m) + 1;
        v[i].url = strcpy(m, svcs[i].url);
        m += strlen(m) + 1;
        v[i].headers = (const char *const *)arr;
        for (size_t j = 0; j < 2 * svcs[i].nheaders; j++) {
            *arr++ = strcpy(m, svcs[i].headers[j]);
            m += strlen(m) + 1;
        }
    }
    free(g_svcs);
    free(g_mem);
    g_mem = mem;
    g_svcs = v;
    g_nsvcs = n;
    return 0;
}

/* ---- frames ---- */

void kumo__http_call_put(kumo__frame_writer *w, uint32_t id, const kumo__http_call *c)
{
    kumo__frame_begin(w, 0, KUMO__FRAME_HTTP_CALL, id);
    kumo__frame_put_str(w, KF_METHOD, c->method ? c->method : "GET");
    if (c->service)
        kumo__frame_put_str(w, KF_SERVICE, c->service);
    if (c->url)
        kumo__frame_put_str(w, KF_URL, c->url);
    for (size_t i = 0; i < c->nheaders; i++)
        kumo__frame_put_pair(w, KF_HEADER, c->headers[2 * i], strlen(c->headers[2 * i]), c->headers[2 * i + 1],
                             strlen(c->headers[2 * i + 1]));
    if (c->deadline_ms)
        kumo__frame_put_u64(w, KF_DEADLINE_MS, c->deadline_ms);
    if (c->timeout_ms)
        kumo__frame_put_u32(w, KF_TIMEOUT_MS, c->timeout_ms);
    if (c->retries)
        kumo__frame_put_u32(w, KF_RETRIES, c->retries);
    if (c->body_len)
        kumo__frame_put(w, KF_BODY, c->body, c->body_len);
}

int kumo__http_call_read(const char *payload, size_t len, kumo__http_call *c, char **mem)
{
    kumo__frame_reader rd;
    kumo__frame_field f;
    size_t nh = 0;
    int rc;
    memset(c, 0, sizeof *c);
    *mem = NULL;
    kumo__frame_reader_init(&rd, payload, len);
    while ((rc = kumo__frame_next(&rd, &f)) > 0)
        nh += f.tag == KF_HEADER;
    if (rc < 0)
        return -EPROTO;
    if (nh > KUMO__HTTP_HEADERS_MAX)
        return -EPROTO;
    /* every string NUL-terminated in one block, after the header array */
    char *m = malloc(2 * nh * sizeof(char *) + len + 4 * nh + 16);
    if (m == NULL)
        return -ENOMEM;
    *mem = m;
    const char **hs = (const char **)m;
    char *o = m + 2 * nh * sizeof(char *);
    c->headers = hs;
    kumo__frame_reader_init(&rd, payload, len);
    while (kumo__frame_next(&rd, &f) > 0) {
        const char **slot = NULL;
        switch (f.tag) {
        case KF_METHOD: slot = &c->method; break;
        case KF_SERVICE: slot = &c->service; break;
        case KF_URL: slot = &c->url; break;
        case KF_BODY:
            c->body = f.data; /* in the payload: the caller copies before it goes */
            c->body_len = f.len;
            break;
        case KF_DEADLINE_MS:
            if (kumo__frame_u64(&f, &c->deadline_ms) != 0)
                return -EPROTO;
            break;
        case KF_TIMEOUT_MS:
            if (kumo__frame_u32(&f, &c->timeout_ms) != 0)
                return -EPROTO;
            break;
        case KF_RETRIES:
            if (kumo__frame_u32(&f, &c->retries) != 0)
                return -EPROTO;
            break;
        case KF_HEADER: {
            const char *n, *v;
            size_t nl, vl;
            if (kumo__frame_pair(&f, &n, &nl, &v, &vl) != 0 || memchr(n, 0, nl) || memchr(v, 0, vl))
                return -EPROTO;
            hs[2 * c->nheaders] = memcpy(o, n, nl);
            o[nl] = '\0';
            o += nl + 1;
            hs[2 * c->nheaders + 1] = memcpy(o, v, vl);
            o[vl] = '\0';
            o += vl + 1;
            c->nheaders++;
            break;
        }
        default: break;
        }
        if (slot) {
            if (memchr(f.data, 0, f.len))
                return -EPROTO;
            *slot = memcpy(o, f.data, f.len);
            o[f.len] = '\0';
            o += f.len + 1;
        }
    }
    return 0;
}

void kumo__http_result_put(kumo__frame_writer *w, uint32_t id, const kumo__http_result *r)
{
    kumo__frame_begin(w, 0, KUMO__FRAME_HTTP_RESULT, id);
    if (r->service[0])
        kumo__frame_put_str(w, KF_SERVICE, r->service);
    if (r->url[0])
        kumo__frame_put_str(w, KF_URL, r->url);
    if (r->error) {
        kumo__frame_put_u32(w, KF_ERRCODE, (uint32_t)-r->error);
        kumo__frame_put_str(w, KF_ERROR, r->message);
        return;
    }
    kumo__frame_put_u32(w, KF_STATUS, (uint32_t)r->status);
    const char *p = r->head;
    for (size_t i = 0; p && i < r->nheaders; i++) {
        const char *v = p + strlen(p) + 1;
        kumo__frame_put_pair(w, KF_HEADER, p, strlen(p), v, strlen(v));
        p = v + strlen(v) + 1;
    }
    if (r->body_len)
        kumo__frame_put(w, KF_BODY, r->body, r->body_len);
}

static void copy_field(char *dst, size_t size, const kumo__frame_field *f)
{
    size_t n = f->len < size - 1 ? f->len : size - 1;
    memcpy(dst, f->data, n);
    dst[n] = '\0';
}

int kumo__http_result_read(const char *payload, size_t len, kumo__http_result *r)
{
    kumo__frame_reader rd;
    kumo__frame_field f;
    int rc;
    memset(r, 0, sizeof *r);
    size_t head = 0;
    kumo__frame_reader_init(&rd, payload, len);
    while ((rc = kumo__frame_next(&rd, &f)) > 0)
        if (f.tag == KF_HEADER)
            head += f.len + 2;
    if (rc < 0)
        return -EPROTO;
    if (head && (r->head = malloc(head)) == NULL)
        return -ENOMEM;
    char *o = r->head;
    kumo__frame_reader_init(&rd, payload, len);
    while (kumo__frame_next(&rd, &f) > 0) {
        uint32_t u;
        switch (f.tag) {
        case KF_SERVICE: copy_field(r->service, sizeof r->service, &f); break;
        case KF_URL: copy_field(r->url, sizeof r->url, &f); break;
        case KF_ERROR: copy_field(r->message, sizeof r->message, &f); break;
        case KF_ERRCODE:
            if (kumo__frame_u32(&f, &u) != 0)
                goto bad;
            r->error = -(int)u;
            break;
        case KF_STATUS:
            if (kumo__frame_u32(&f, &u) != 0 || u > 999)
                goto bad;
            r->status = (int)u;
            break;
        case KF_HEADER: {
            const char *n, *v;
            size_t nl, vl;
            if (kumo__frame_pair(&f, &n, &nl, &v, &vl) != 0 || r->nheaders >= KUMO__HTTP_HEADERS_MAX)
                goto bad;
            memcpy(o, n, nl);
            o[nl] = '\0';
            o += nl + 1;
            memcpy(o, v, vl);
            o[vl] = '\0';
            o += vl + 1;
            r->nheaders++;
            break;
        }
        case KF_BODY:
            free(r->body);
            if ((r->body = malloc(f.len + 1)) == NULL)
                goto bad;
            memcpy(r->body, f.data, f.len);
            r->body[f.len] = '\0';
            r->body_len = f.len;
            break;
        default: break;
        }
    }
    r->head_len = (size_t)(o - r->head);
    if (r->error == 0 && r->status == 0)
        goto bad;
    if (r->error != 0 && (r->error > KUMO_ENOTFOUND || r->error < KUMO_EDENIED))
        r->error = KUMO_EIO;
    return 0;
bad:
    kumo__http_result_free(r);
    return -EPROTO;
}

/* ---- the public API ---- */

typedef struct http_response {
    kumo_http_response pub; /* first: kumo_http_header casts back */
    kumo__pair *headers;
    size_t nheaders;
} http_response;

static int fail(kumo_ctx *ctx, int code, const char *msg)
{
    if (ctx)
        snprintf(ctx->http_error, sizeof ctx->http_error, "%s", msg);
    return code;
}

int kumo_http(kumo_ctx *ctx, const kumo_http_request *req, kumo_http_response **out)
{
    if (out)
        *out = NULL;
    if (ctx == NULL || req == NULL || out == NULL)
        return fail(ctx, KUMO_EINVAL, "kumo_http needs a context, a request and a place for the response");
    ctx->http_error[0] = '\0';
    if (req->timeout_ms < 0 || req->retries < 0 || (req->body == NULL && req->body_len))
        return fail(ctx, KUMO_EINVAL, "timeout_ms and retries must be >= 0, and a body_len needs a body");
    /* the handler's headers, plus the trace context (replacing its own) */
    size_t nh = 0;
    while (req->headers && req->headers[2 * nh] && nh <= KUMO__HTTP_HEADERS_MAX) {
        if (req->headers[2 * nh + 1] == NULL)
            return fail(ctx, KUMO_EINVAL, "headers must be name, value pairs ending with NULL");
        nh++;
    }
    if (nh > KUMO__HTTP_HEADERS_MAX)
        return fail(ctx, KUMO_EINVAL, "more than 100 request headers");
    const char **hs = kumo__arena_alloc(&ctx->arena, (2 * nh + 2) * sizeof(char *));
    if (hs == NULL)
        return fail(ctx, KUMO_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < nh; i++) {
        if (strcasecmp(req->headers[2 * i], "traceparent") == 0 && ctx->traceparent)
            continue;
        hs[2 * k] = req->headers[2 * i];
        hs[2 * k + 1] = req->headers[2 * i + 1];
        k++;
    }
    uint64_t start = kumo__trace_store_begin(ctx);
    char tpbuf[56];
    const char *tp = kumo__trace_send_context(ctx, start, tpbuf);
    if (tp) {
        hs[2 * k] = "traceparent";
        hs[2 * k + 1] = tp;
        k++;
    }
    kumo__http_call c = {
        .method = req->method ? req->method : "GET",
        .service = req->service,
        .url = req->url,
        .headers = hs,
        .nheaders = k,
        .body = req->body,
        .body_len = req->body_len,
        .deadline_ms = ctx->deadline_ms,
        .timeout_ms = (uint32_t)req->timeout_ms,
        .retries = (uint32_t)req->retries,
    };
    kumo__http_result r;
    memset(&r, 0, sizeof r);
    if (ctx->http_transport) {
        ctx->http_transport(ctx, &c, &r);
    } else {
        kumo__http_perform(g_svcs, g_nsvcs, &c, &r);
        void (*observe)(const kumo__http_result *) = atomic_load_explicit(&g_observer, memory_order_acquire);
        if (observe)
            observe(&r);
    }
    int rc = r.error;
    /* the span: kind http, the method, the service; the URL without its
     * query as the "driver" (spans.c reads it as url.full); the status as
     * the result when there is one */
    if (start) {
        ctx->store_driver = kumo__arena_strndup(&ctx->arena, r.url, strlen(r.url));
        kumo__trace_store_end(ctx, start, "http", c.method, r.service[0] ? r.service : "-", rc ? rc : r.status);
    }
    if (rc != 0) {
        fail(ctx, rc, r.message[0] ? r.message : kumo_strerror(rc));
        kumo__http_result_free(&r);
        return rc;
    }
    http_response *hr = kumo__arena_alloc(&ctx->arena, sizeof *hr);
    char *body = hr ? kumo__arena_alloc(&ctx->arena, r.body_len + 1) : NULL;
    kumo__pair *pairs = body ? kumo__arena_alloc(&ctx->arena, (r.nheaders + 1) * sizeof *pairs) : NULL;
    char *head = pairs && r.head_len ? kumo__arena_alloc(&ctx->arena, r.head_len) : NULL;
    if (pairs == NULL || (r.head_len && head == NULL)) {
        kumo__http_result_free(&r);
        return fail(ctx, KUMO_ENOMEM, "out of memory");
    }
    if (r.body_len)
        memcpy(body, r.body, r.body_len);
    body[r.body_len] = '\0';
    if (r.head_len)
        memcpy(head, r.head, r.head_len);
    const char *p = head;
    for (size_t i = 0; i < r.nheaders; i++) {
        pairs[i].name = p;
        p += strlen(p) + 1;
        pairs[i].value = p;
        p += strlen(p) + 1;
    }
    hr->pub.status = r.status;
    hr->pub.body = body;
    hr->pub.body_len = r.body_len;
    hr->headers = pairs;
    hr->nheaders = r.nheaders;
    kumo__http_result_free(&r);
    *out = &hr->pub;
    return 0;
}

const char *kumo_http_header(const kumo_http_response *res, const char *name)
{
    if (res == NULL || name == NULL)
        return NULL;
    const http_response *hr = (const http_response *)res;
    for (size_t i = 0; i < hr->nheaders; i++)
        if (strcasecmp(hr->headers[i].name, name) == 0)
            return hr->headers[i].value;
    return NULL;
}

const char *kumo_http_error(const kumo_ctx *ctx)
{
    return ctx ? ctx->http_error : "";
}

int kumo_http_get(kumo_ctx *ctx, const char *service, const char *path, kumo_http_response **out)
{
    kumo_http_request r = {.method = "GET", .service = service, .url = path};
    return kumo_http(ctx, &r, out);
}

int kumo_http_post_json(kumo_ctx *ctx, const char *service, const char *path, const json_t *json,
                        kumo_http_response **out)
{
    if (json == NULL)
        return fail(ctx, KUMO_EINVAL, "kumo_http_post_json needs a JSON value");
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return fail(ctx, KUMO_ENOMEM, "out of memory");
    static const char *const hs[] = {"Content-Type", "application/json", "Accept", "application/json", NULL};
    kumo_http_request r = {
        .method = "POST", .service = service, .url = path, .headers = hs, .body = text, .body_len = strlen(text)};
    int rc = kumo_http(ctx, &r, out);
    free(text);
    return rc;
}

json_t *kumo_http_json(const kumo_http_response *res)
{
    if (res == NULL || res->body_len == 0)
        return NULL;
    return json_loadb(res->body, res->body_len, JSON_DECODE_ANY, NULL);
}
