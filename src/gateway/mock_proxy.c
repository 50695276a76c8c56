/*
 * mock_proxy.c: the record mode's call to the real service (mock_proxy.h),
 * with libcurl's easy interface: the request's method, path, query, body
 * and end-to-end headers go on; the status, end-to-end headers and body
 * come back, under a deadline and a size ceiling (base/growbuf.h).
 */
#include "gateway/mock_proxy.h"
#include "base/curl_lazy.h"
#include "base/growbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hop_by_hop(const char *name, size_t len)
{
    static const char *const hop[] = {"connection", "keep-alive",      "proxy-connection", "transfer-encoding",
                                      "te",         "upgrade",         "trailer",          "content-length",
                                      "host",       "accept-encoding", "expect",           NULL};
    for (size_t i = 0; hop[i]; i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
            return 1;
    return 0;
}

int kumo__proxy_url_check(const char *url, kumo__error *err)
{
    const char *host = strncmp(url, "http://", 7) == 0 ? url + 7 : strncmp(url, "https://", 8) == 0 ? url + 8 : NULL;
    if (host == NULL || host[0] == '\0' || host[0] == '/' || strpbrk(url, "?# \t") != NULL) {
        kumo__error_set(err, -EINVAL,
                        "--proxy '%s' is not a base URL; write the real service's origin and prefix, e.g. "
                        "--proxy https://api.example.com",
                        url);
        return -EINVAL;
    }
    return 0;
}

void kumo__proxy_response_free(kumo__proxy_response *r)
{
    free(r->headers);
    free(r->raw);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Splits the header block (after its status line) into views. */
static int split_headers(kumo__proxy_response *out)
{
    size_t cap = 0;
    char *p = out->raw, *end = out->raw ? out->raw + strlen(out->raw) : NULL;
    while (p && p < end) {
        char *eol = strstr(p, "\r\n");
        char *stop = eol ? eol : end;
        char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon && colon > p && strncmp(p, "HTTP/", 5) != 0) {
            size_t nlen = (size_t)(colon - p);
            char *v = colon + 1;
            while (v < stop && (*v == ' ' || *v == '\t'))
                v++;
            char *vend = stop;
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                vend--;
            for (size_t k = 0; k < nlen; k++)
                p[k] = (char)((p[k] >= 'A' && p[k] <= 'Z') ? p[k] + 32 : p[k]);
            if (!hop_by_hop(p, nlen) && out->nheaders < 200) {
                if (out->nheaders == cap) {
                    kumo__header_view *g = realloc(out->headers, (cap = cap ? cap * 2 : 16) * sizeof(*g));
                    if (g == NULL)
                        return -ENOMEM;
                    out->headers = g;
                }
                out->headers[out->nheaders++] = (kumo__header_view){{p, nlen}, {v, (size_t)(vend - v)}};
            }
        }
        p = eol ? eol + 2 : end;
    }
    return 0;
}

int kumo__mock_proxy(const char *base_url, const kumo__rec_message *req, kumo__proxy_response *out, char *why,
                     size_t why_len)
{
    memset(out, 0, sizeof(*out));
    size_t blen = strlen(base_url);
    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    char *url = NULL;
    if (asprintf(&url, "%.*s%.*s%s%.*s", (int)blen, base_url, (int)req->path.len, req->path.base,
                 req->query.len ? "?" : "", (int)req->query.len, req->query.base ? req->query.base : "") < 0) {
        snprintf(why, why_len, "out of memory");
        return -ENOMEM;
    }
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    kumo__growbuf body = {.max = KUMO__PROXY_MAX_BODY}, head = {.max = 256 * 1024};
    int rc = 0;
    if (c == NULL) {
        rc = -ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        const kumo__header_view *h = &req->headers[i];
        if (hop_by_hop(h->name.base, h->name.len))
            continue;
        char *line = NULL;
        if (asprintf(&line, "%.*s: %.*s", (int)h->name.len, h->name.base, (int)h->value.len, h->value.base) < 0)
            continue;
        struct curl_slist *n = curl_slist_append(hdrs, line);
        free(line);
        if (n)
            hdrs = n;
    }
    /* libcurl would add Expect: 100-continue to a large body: not sent on. */
    struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
    hdrs = n ? n : hdrs;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (strcmp(req->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (req->body.base != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body.base);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)KUMO__PROXY_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kumo__growbuf_curl_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, kumo__growbuf_curl_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = body.over ? -EFBIG : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
        snprintf(why, why_len, "%s %.*s: %s", req->method, (int)(strlen(url) > 300 ? 300 : strlen(url)), url,
                 body.over ? "the response passed 16 MiB" : curl_easy_strerror(cc));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    out->status = (int)status;
    out->raw = head.data;
    head.data = NULL;
    out->body = body.data;
    out->body_len = body.len;
    body.data = NULL;
    if (split_headers(out) != 0) {
        rc = -ENOMEM;
        snprintf(why, why_len, "out of memory");
    }
out:
    if (rc != 0)
        kumo__proxy_response_free(out);
    free(body.data);
    free(head.data);
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    free(url);
    return rc;
}
