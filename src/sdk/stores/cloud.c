/*
 * cloud.c: the cloud drivers' one HTTP exchange (see cloud.h), over
 * libcurl, or over the built-in client (cloud_builtin.c) when
 * kumo__cloud_builtin says so: in kumo-host, and always in kumo-lambda's
 * and kumo-http's SDKs (KUMO_DRIVERS_AWS_ONLY, KUMO_DRIVERS_CLOUD_ONLY),
 * which have no libcurl.
 */
#include "sdk/stores/cloud.h"
#include "sdk/stores/httpc.h"
#if !KUMO_DRIVERS_AWS_ONLY && !KUMO_DRIVERS_CLOUD_ONLY
#include "base/curl_lazy.h"
#endif

#include <kumo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/growbuf.h"

#define HEADERS_MAX (64u << 10)

void kumo__cloud_res_free(kumo__cloud_res *res)
{
    free(res->body);
    free(res->headers);
    memset(res, 0, sizeof(*res));
}

const char *kumo__cloud_res_header(const kumo__cloud_res *res, const char *name, char *buf, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = res->headers;
    if (p == NULL || size == 0)
        return NULL;
    while (*p) {
        const char *eol = strchr(p, '\n');
        const char *next = eol ? eol + 1 : p + strlen(p);
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            const char *e = eol ? eol : next;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            size_t n = (size_t)(e - v);
            if (n >= size)
                n = size - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        p = next;
    }
    return NULL;
}

#if KUMO_DRIVERS_AWS_ONLY || KUMO_DRIVERS_CLOUD_ONLY

int kumo__cloud_builtin = 1;

void *kumo__cloud_conn_new(void)
{
    return kumo__httpc_new();
}

void kumo__cloud_conn_free(void *conn)
{
    kumo__httpc_free(conn);
}

int kumo__cloud_conn_error(kumo__error *err)
{
    kumo__error_set(err, KUMO_ENOMEM, "out of memory");
    return KUMO_ENOMEM;
}

int kumo__cloud_perform(void *conn, const kumo__cloud_call *call, kumo__cloud_res *res, char *msg, size_t msglen)
{
    return kumo__cloud_builtin_perform(conn, call, res, msg, msglen);
}

#else

int kumo__cloud_builtin;

void *kumo__cloud_conn_new(void)
{
    return kumo__cloud_builtin ? (void *)kumo__httpc_new() : (void *)curl_easy_init();
}

int kumo__cloud_conn_error(kumo__error *err)
{
    if (!kumo__cloud_builtin && kumo__curl_error()) {
        kumo__error_set(err, KUMO_EUNAVAILABLE,
                        "the store's HTTP calls go through libcurl here, which cannot be loaded: %s",
                        kumo__curl_error());
        return KUMO_EUNAVAILABLE;
    }
    kumo__error_set(err, KUMO_ENOMEM, "out of memory");
    return KUMO_ENOMEM;
}

void kumo__cloud_conn_free(void *conn)
{
    if (conn == NULL)
        return;
    if (kumo__cloud_builtin)
        kumo__httpc_free(conn);
    else
        curl_easy_cleanup(conn);
}

static int append_all(struct curl_slist **list, const char *const *lines)
{
    for (size_t i = 0; lines && lines[i]; i++) {
        struct curl_slist *l = curl_slist_append(*list, lines[i]);
        if (l == NULL)
            return -1;
        *list = l;
    }
    return 0;
}

/* A transport failure's KUMO_E* code. */
static int transport_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT: return KUMO_ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR: return KUMO_ENOMEM;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PARTIAL_FILE: return KUMO_EUNAVAILABLE;
    default: return KUMO_EIO;
    }
}

int kumo__cloud_perform(void *curl, const kumo__cloud_call *call, kumo__cloud_res *res, char *msg, size_t msglen)
{
    if (kumo__cloud_builtin)
        return kumo__cloud_builtin_perform(curl, call, res, msg, msglen);
    CURL *h = curl;
    struct curl_slist *list = NULL;
    kumo__growbuf bs = {.max = call->max_body}, hs = {.max = HEADERS_MAX};
    char curl_err[CURL_ERROR_SIZE] = "";
    const char *method = call->method;
    int rc;

    memset(res, 0, sizeof(*res));
    /* No "Expect: 100-continue" round trip. */
    if (append_all(&list, call->headers) != 0 || append_all(&list, call->extra) != 0 ||
        append_all(&list, (const char *const[]){"Expect:", NULL}) != 0) {
        curl_slist_free_all(list);
        snprintf(msg, msglen, "out of memory");
        return KUMO_ENOMEM;
    }

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, call->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, call->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, call->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kumo__growbuf_curl_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &bs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, kumo__growbuf_curl_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (call->sigv4) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, call->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, call->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, call->password);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (call->in) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READDATA, call->in);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)call->in_len);
        if (strcmp(method, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (call->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body && call->len ? call->body : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    res->body = bs.data;
    res->len = bs.len;
    res->headers = hs.data;
    res->hlen = hs.len;
    if (cc == CURLE_OK) {
        rc = 0;
    } else if (cc == CURLE_WRITE_ERROR && (bs.over || hs.over)) {
        snprintf(msg, msglen, "%s: the answer is larger than %zu bytes", call->service,
                 bs.over ? call->max_body : (size_t)HEADERS_MAX);
        rc = KUMO_ETOOBIG;
    } else {
        snprintf(msg, msglen, "%s at %s: %s", call->service, call->base, *curl_err ? curl_err : curl_easy_strerror(cc));
        rc = transport_error(cc);
    }
    /* The handle outlives the call: nothing of it may point at this frame. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    if (call->sigv4)
        curl_easy_setopt(h, CURLOPT_PASSWORD, "");
    curl_slist_free_all(list);
    return rc;
}

#endif

void kumo__cloud_free_secret(char *s)
{
    if (s == NULL)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}
