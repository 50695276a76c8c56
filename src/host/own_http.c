/*
 * own_http.c: the HTTP calls kumo-host and kumo-lambda make of their own
 * over kumo's own client (sdk/stores/httpc.h: TLS through BearSSL, the
 * platform's CAs) instead of libcurl, which their packages then need not
 * carry (deploy/bundle.c): a token scheme's key set and its OpenID Connect
 * discovery document (auth/jwks.c's getter), and the trace exporter's
 * POSTs to an OTLP/HTTP collector (obs/otlp.c's poster: one connection,
 * kept alive, of the exporter thread's own). host_main.c sets both before
 * the package is loaded, and the cloud stores' transport with them
 * (sdk/stores/cloud.h), unless a proxy variable asks for libcurl. Only the
 * two hosts link this file (CMakeLists.txt).
 *
 * Key sets, as auth/jwks.c's libcurl path fetches them: Accept:
 * application/json, the User-Agent, at most 3 redirects (301, 302, 303, 307, 308; an https
 * URL is never followed to http), a 200 answer's body within the ceiling,
 * the whole fetch within the key set's timeout, its connection within 5 s
 * of it.
 */
#include "auth/jwks.h"
#include "obs/trace.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <kumo.h>

#include "sdk/stores/httpc.h"

#define OWN_FETCH_REDIRECTS 3

int kumo__own_fetch(const char *url, int timeout_ms, size_t max_bytes, char **body, size_t *len, char *why,
                    size_t whylen);
int kumo__own_post(const char *url, const char *const *headers, const void *body, size_t len, long timeout_ms,
                   long *status, char *why, size_t whylen);

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The Location header's value of an answer (copied into out), or 0. */
static int location_of(const kumo__httpc_res *res, char *out, size_t cap)
{
    for (const char *h = res->headers; h && *h;) {
        const char *eol = strstr(h, "\r\n");
        size_t n = eol ? (size_t)(eol - h) : strlen(h);
        if (n > 9 && strncasecmp(h, "Location:", 9) == 0) {
            const char *v = h + 9;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vn = n - (size_t)(v - h);
            if (vn == 0 || vn >= cap)
                return 0;
            memcpy(out, v, vn);
            out[vn] = '\0';
            return 1;
        }
        h += n + (eol ? 2 : 0);
    }
    return 0;
}

/* Where `loc` points from `base`: an absolute http(s) URL, or a path
 * from the base's origin. 0, or -1 for a form not followed. */
static int resolve(const char *base, const char *loc, char *out, size_t cap)
{
    if (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0) {
        return snprintf(out, cap, "%s", loc) < (int)cap ? 0 : -1;
    }
    if (loc[0] != '/' || loc[1] == '/')
        return -1;
    const char *host = strstr(base, "://");
    if (host == NULL)
        return -1;
    size_t origin = (size_t)(host + 3 - base) + strcspn(host + 3, "/?#");
    return snprintf(out, cap, "%.*s%s", (int)origin, base, loc) < (int)cap ? 0 : -1;
}

int kumo__own_fetch(const char *url, int timeout_ms, size_t max_bytes, char **body, size_t *len, char *why,
                    size_t whylen)
{
    *body = NULL;
    *len = 0;
    kumo__httpc *c = kumo__httpc_new();
    if (c == NULL) {
        snprintf(why, whylen, "%s: out of memory", url);
        return -1;
    }
    static const char *const headers[] = {"Accept: application/json", "User-Agent: kumo/" KUMO_VERSION, NULL};
    char at[2048], next[2048], msg[512];
    snprintf(at, sizeof(at), "%s", url);
    long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
    int rc = -1;
    for (int hops = 0;; hops++) {
        long left = deadline - now_ms();
        if (left <= 0) {
            snprintf(why, whylen, "%s: no answer within %d ms", url, timeout_ms);
            break;
        }
        kumo__httpc_req req = {
            .method = "GET",
            .url = at,
            .headers = headers,
            .connect_timeout_ms = left < 5000 ? left : 5000,
            .timeout_ms = left,
            .max_body = max_bytes,
        };
        kumo__httpc_res res = {0};
        int e = kumo__httpc_perform(c, &req, &res, msg, sizeof(msg));
        if (e != 0) {
            if (e == KUMO_ETOOBIG)
                snprintf(why, whylen, "%s: the document is larger than %zu bytes", at, max_bytes);
            else
                snprintf(why, whylen, "%s: %s", at, msg);
            kumo__httpc_res_free(&res);
            break;
        }
        int redirect =
            res.status == 301 || res.status == 302 || res.status == 303 || res.status == 307 || res.status == 308;
        if (res.status == 200) {
            *body = res.body ? res.body : calloc(1, 1);
            *len = res.len;
            res.body = NULL;
            kumo__httpc_res_free(&res);
            rc = *body ? 0 : -1;
            if (rc < 0)
                snprintf(why, whylen, "%s: out of memory", at);
            break;
        }
        if (!redirect) {
            snprintf(why, whylen, "%s: HTTP status %ld", at, res.status);
            kumo__httpc_res_free(&res);
            break;
        }
        char loc[2048];
        int found = location_of(&res, loc, sizeof(loc));
        long status = res.status;
        kumo__httpc_res_free(&res);
        if (hops == OWN_FETCH_REDIRECTS) {
            snprintf(why, whylen, "%s: more than %d redirects", url, OWN_FETCH_REDIRECTS);
            break;
        }
        if (!found || resolve(at, loc, next, sizeof(next)) < 0) {
            snprintf(why, whylen, "%s: a redirect (%ld) without a Location this client follows", at, status);
            break;
        }
        if (strncasecmp(at, "https:", 6) == 0 && strncasecmp(next, "https:", 6) != 0) {
            snprintf(why, whylen, "%s: redirected to %s, not https", at, next);
            break;
        }
        snprintf(at, sizeof(at), "%s", next);
    }
    kumo__httpc_free(c);
    return rc;
}

static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static pthread_key_t conn_key;

static void conn_end(void *conn)
{
    kumo__httpc_free(conn);
}

static void conn_key_make(void)
{
    pthread_key_create(&conn_key, conn_end);
}

int kumo__own_post(const char *url, const char *const *headers, const void *body, size_t len, long timeout_ms,
                   long *status, char *why, size_t whylen)
{
    /* the exporter thread's connection, kept alive between batches and
     * closed when the thread ends (the key's destructor) */
    pthread_once(&conn_once, conn_key_make);
    kumo__httpc *conn = pthread_getspecific(conn_key);
    *status = 0;
    if (conn == NULL && ((conn = kumo__httpc_new()) == NULL || pthread_setspecific(conn_key, conn) != 0)) {
        kumo__httpc_free(conn);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    kumo__httpc_req req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = body,
        .len = len,
        .connect_timeout_ms = timeout_ms < 1000 ? timeout_ms : 1000,
        .timeout_ms = timeout_ms,
        .max_body = 64 << 10,
    };
    kumo__httpc_res res = {0};
    int e = kumo__httpc_perform(conn, &req, &res, why, whylen);
    *status = res.status;
    kumo__httpc_res_free(&res);
    return e == 0 ? 0 : -1;
}
