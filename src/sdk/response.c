/*
 * response.c: the kumo_response_* setters. A handler builds its answer here;
 * the adapter reads the struct back (sdk.h) once the handler returns.
 *
 * Everything is copied into the invocation's arena, so a handler may pass
 * stack buffers. What reaches the wire is checked here, where the handler can
 * still be told: header names must be HTTP tokens (RFC 9110 5.6.2) and
 * values may hold no control character but HTAB (so no CR, LF or NUL: no
 * header injection). Names are stored lower case (HTTP/2 wants them so, and
 * lookups stay simple). Content-Type is single: setting it again, by
 * kumo_response_header or a body setter, replaces it. Content-Length and
 * Transfer-Encoding are refused: the body's framing is the adapter's job,
 * and a handler's value could only disagree with it. At most
 * KUMO__RESPONSE_HEADERS_MAX headers (KUMO_ETOOBIG beyond).
 */
#include "sdk/sdk.h"
#include "base/http.h"

#include <string.h>
#include <strings.h>

void kumo_response_status(kumo_response *res, int status)
{
    if (res == NULL)
        return;
    if (status < 100 || status > 599) {
        kumo_log(res->ctx, KUMO_LOG_ERROR, "kumo_response_status: %d is not an HTTP status; sending 500", status);
        status = 500;
    }
    res->status = status;
}

/* Removes every header named `lname` (lower case). */
static void remove_header(kumo_response *res, const char *lname)
{
    size_t o = 0;
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcmp(res->headers[i].name, lname) != 0)
            res->headers[o++] = res->headers[i];
    res->nheaders = o;
}

/* Appends an already checked header, copying name (lowered) and value. */
static int append_header(kumo_response *res, const char *name, const char *value)
{
    kumo__arena *a = &res->ctx->arena;
    if (res->nheaders >= KUMO__RESPONSE_HEADERS_MAX)
        return KUMO_ETOOBIG;
    if (res->nheaders == res->cap_headers) {
        size_t cap = res->cap_headers ? res->cap_headers * 2 : 8;
        if (cap > KUMO__RESPONSE_HEADERS_MAX)
            cap = KUMO__RESPONSE_HEADERS_MAX;
        kumo__pair *h = kumo__arena_alloc(a, cap * sizeof(*h));
        if (h == NULL)
            return KUMO_ENOMEM;
        if (res->nheaders)
            memcpy(h, res->headers, res->nheaders * sizeof(*h));
        res->headers = h;
        res->cap_headers = cap;
    }
    size_t nlen = strlen(name);
    char *n = kumo__arena_strndup(a, name, nlen);
    char *v = kumo__arena_strndup(a, value, strlen(value));
    if (n == NULL || v == NULL)
        return KUMO_ENOMEM;
    for (size_t i = 0; i < nlen; i++)
        if (n[i] >= 'A' && n[i] <= 'Z')
            n[i] = (char)(n[i] - 'A' + 'a');
    res->headers[res->nheaders].name = n;
    res->headers[res->nheaders].value = v;
    res->nheaders++;
    return 0;
}

int kumo_response_header(kumo_response *res, const char *name, const char *value)
{
    if (res == NULL || res->ctx == NULL || name == NULL || value == NULL)
        return KUMO_EINVAL;
    if (!kumo__http_token(name, strlen(name)) || !kumo__http_field_value(value, strlen(value)))
        return KUMO_EINVAL;
    if (strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0)
        return KUMO_EINVAL;
    if (strcasecmp(name, "content-type") == 0)
        remove_header(res, "content-type");
    return append_header(res, name, value);
}

/* Sets the body to a copy of body[0..len) with a NUL after it. */
static int set_body(kumo_response *res, const void *body, size_t len, const char *content_type)
{
    if (res == NULL || res->ctx == NULL || (body == NULL && len > 0))
        return KUMO_EINVAL;
    char *copy = kumo__arena_strndup(&res->ctx->arena, body, len);
    if (copy == NULL)
        return KUMO_ENOMEM;
    int rc = kumo_response_header(res, "content-type", content_type ? content_type : "application/octet-stream");
    if (rc != 0)
        return rc;
    res->body = copy;
    res->body_len = len;
    return 0;
}

int kumo_response_body(kumo_response *res, const void *body, size_t len, const char *content_type)
{
    return set_body(res, body, len, content_type);
}

/* Serialises straight into the arena: a buffer that doubles as needed (the
 * outgrown ones stay in the arena until the invocation ends). */
typedef struct dump_buf {
    kumo__arena *a;
    char *p;
    size_t len, cap;
} dump_buf;

static int dump_cb(const char *s, size_t n, void *data)
{
    dump_buf *b = data;
    if (n > SIZE_MAX / 4 || b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) {
            if (cap > SIZE_MAX / 4)
                return -1;
            cap *= 2;
        }
        char *p = kumo__arena_alloc(b->a, cap);
        if (p == NULL)
            return -1;
        if (b->len)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int set_json_body(kumo_response *res, int status, json_t *json, const char *content_type)
{
    int rc = KUMO_EINVAL;
    if (res == NULL || res->ctx == NULL || json == NULL)
        goto out;
    dump_buf b = {.a = &res->ctx->arena, .p = NULL, .len = 0, .cap = 0};
    rc = KUMO_ENOMEM;
    if (json_dump_callback(json, dump_cb, &b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        goto out;
    rc = kumo_response_header(res, "content-type", content_type);
    if (rc != 0)
        goto out;
    res->body = b.p ? b.p : "";
    res->body_len = b.len;
    kumo_response_status(res, status);
out:
    json_decref(json);
    return rc;
}

int kumo_response_json(kumo_response *res, int status, json_t *json)
{
    return set_json_body(res, status, json, "application/json");
}

int kumo_response_problem(kumo_response *res, int status, const char *title, const char *detail)
{
    if (res == NULL || res->ctx == NULL)
        return KUMO_EINVAL;
    if (status < 100 || status > 599)
        status = 500;
    json_t *p = json_object();
    if (p == NULL)
        return KUMO_ENOMEM;
    /* json_string refuses invalid UTF-8 (NULL), and set_new then fails
     * without leaking; a problem must still go out, so a bad title falls
     * back to the status's reason phrase and a bad detail is left out. */
    json_t *t = json_string(title ? title : kumo__http_reason(status));
    if (t == NULL)
        t = json_string(kumo__http_reason(status));
    int err = json_object_set_new(p, "type", json_string("about:blank"));
    err |= json_object_set_new(p, "title", t);
    err |= json_object_set_new(p, "status", json_integer(status));
    if (detail) {
        json_t *d = json_string(detail);
        if (d)
            err |= json_object_set_new(p, "detail", d);
    }
    /* The same members as the gateway's own problems (kumo__problem_json),
     * so a client reads a handler's 404 like kumo's: which request, and
     * the id its log lines carry. The path arrives as the client sent it,
     * but a percent-decoded byte could still be invalid UTF-8: then no
     * instance, rather than no problem. */
    if (res->ctx->path) {
        json_t *i = json_string(res->ctx->path);
        if (i)
            err |= json_object_set_new(p, "instance", i);
    }
    if (res->ctx->request_id && res->ctx->request_id[0] != '\0') {
        json_t *r = json_string(res->ctx->request_id);
        if (r)
            err |= json_object_set_new(p, "request_id", r);
    }
    if (err) {
        json_decref(p);
        return KUMO_ENOMEM;
    }
    return set_json_body(res, status, p, "application/problem+json");
}
