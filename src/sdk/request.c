/*
 * request.c: the invocation as a handler sees it: the kumo_ctx_* calls,
 * kumo_alloc/kumo_sprintf, the kumo_request_* accessors (the kumo_event_*
 * ones are event.c's); and its end, which runs what was deferred on it
 * (kumo__ctx_defer) and resets the arena.
 *
 * An adapter fills a kumo_request whose strings point into memory that lives
 * for the invocation (sdk.h); nothing is copied up front. What a handler may
 * never ask for costs nothing: the query string is split and decoded on the
 * first kumo_request_query call, the body is parsed as JSON on the first
 * kumo_request_json call, both into the arena and cached on the request
 * (which is const to the handler, so the cache fields are written through a
 * cast; they are the request's own, never the caller's).
 *
 * Decoding rules:
 *  - path parameters arrive decoded from the gateway;
 *  - query pairs follow application/x-www-form-urlencoded as browsers parse
 *    it: '+' is a space, %XX a byte, and a malformed escape ("%", "%G1") is
 *    kept literally rather than losing the pair. %00 is kept literally too,
 *    since a C string cannot carry it;
 *  - kumo__percent_decode (for callers that must be strict) refuses both;
 *  - the JSON body is parsed with jansson's default flags: an object or an
 *    array at the top level (a bare scalar is refused, as RFC 7159 parsers
 *    used to), the whole body must be consumed, duplicate keys keep the last
 *    value (as the gateway's validator sees it).
 */
#include "sdk/sdk.h"
#include "base/percent.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- the invocation ------------------------------------------------- */

/* An entry of ctx->defers, in the arena: unlinked when taken back, so the
 * list holds only what is still to run. */
struct kumo__defer {
    kumo__defer *next, *prev;
    void (*fn)(void *arg);
    void *arg;
};

void kumo__invocation_init(kumo_ctx *ctx, kumo_request *req, kumo_response *res)
{
    memset(req, 0, sizeof(*req));
    memset(res, 0, sizeof(*res));
    req->ctx = ctx;
    res->ctx = ctx;
}

void kumo__invocation_clear(kumo_ctx *ctx, kumo_request *req, kumo_response *res)
{
    if (req) {
        if (req->json)
            json_decref(req->json);
        if (req->typed)
            json_decref(req->typed);
        if (req->form)
            json_decref(req->form);
        if (req->auth_claims)
            json_decref(req->auth_claims);
        memset(req, 0, sizeof(*req));
        req->ctx = ctx;
    }
    if (res) {
        memset(res, 0, sizeof(*res));
        res->ctx = ctx;
    }
    if (ctx) {
        /* These pointed into the finished request's memory; the function's
         * name belongs to the worker and stays. */
        ctx->request_id = NULL;
        ctx->operation = NULL;
        ctx->deadline_ms = 0;
        ctx->path = NULL;
        /* What the handler left open (blob writers are aborted, never
         * visible; readers closed), latest first; then the store error is
         * forgotten. A deferred call may not defer another. */
        while (ctx->defers) {
            kumo__defer *d = ctx->defers;
            ctx->defers = d->next;
            if (ctx->defers)
                ctx->defers->prev = NULL;
            void (*fn)(void *) = d->fn;
            d->fn = NULL; /* run: taking it back now does nothing */
            fn(d->arg);
        }
        ctx->store_error[0] = '\0';
        ctx->http_error[0] = '\0';
        ctx->traceparent = NULL;
        ctx->trace_sampled = 0;
        ctx->store_calls = NULL;
        ctx->nstore_calls = ctx->store_calls_dropped = 0;
        ctx->store_driver = NULL;
        kumo__arena_reset(&ctx->arena);
    }
}

kumo__defer *kumo__ctx_defer(kumo_ctx *ctx, void (*fn)(void *arg), void *arg)
{
    kumo__defer *d = kumo__arena_alloc(&ctx->arena, sizeof(*d));
    if (d == NULL)
        return NULL;
    *d = (kumo__defer){.next = ctx->defers, .fn = fn, .arg = arg};
    if (d->next)
        d->next->prev = d;
    ctx->defers = d;
    return d;
}

void kumo__ctx_undefer(kumo_ctx *ctx, kumo__defer *d)
{
    if (d == NULL || d->fn == NULL)
        return;
    d->fn = NULL;
    if (d->prev)
        d->prev->next = d->next;
    else
        ctx->defers = d->next;
    if (d->next)
        d->next->prev = d->prev;
}

const char *kumo_ctx_request_id(const kumo_ctx *ctx)
{
    return ctx && ctx->request_id ? ctx->request_id : "";
}

const char *kumo_ctx_operation(const kumo_ctx *ctx)
{
    return ctx && ctx->operation ? ctx->operation : "";
}

/* Without a deadline there is all the time in the world: INT64_MAX. */
int64_t kumo_ctx_remaining_ms(const kumo_ctx *ctx)
{
    if (ctx == NULL || ctx->deadline_ms == 0)
        return INT64_MAX;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    if (now >= ctx->deadline_ms)
        return 0;
    uint64_t left = ctx->deadline_ms - now;
    return left > INT64_MAX ? INT64_MAX : (int64_t)left;
}

void *kumo_alloc(kumo_ctx *ctx, size_t size)
{
    return ctx ? kumo__arena_alloc(&ctx->arena, size) : NULL;
}

char *kumo_sprintf(kumo_ctx *ctx, const char *fmt, ...)
{
    char *out = NULL;
    va_list ap, ap2;
    if (ctx == NULL || fmt == NULL)
        return NULL;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0)
        goto out;
    out = kumo__arena_alloc(&ctx->arena, (size_t)n + 1);
    if (out == NULL)
        goto out;
    vsnprintf(out, (size_t)n + 1, fmt, ap2);
out:
    va_end(ap2);
    va_end(ap);
    return out;
}

/* ---- percent-decoding --------------------------------------------------- */

/* Decodes s[0..len) into the arena, NUL-terminated. */
static char *decode(kumo__arena *a, const char *s, size_t len, unsigned flags)
{
    if (len == SIZE_MAX)
        return NULL;
    char *out = kumo__arena_alloc(a, len + 1);
    if (out == NULL)
        return NULL;
    ssize_t n = kumo__percent_decode_into(s, len, out, flags | KUMO__PCT_NO_NUL);
    if (n < 0)
        return NULL;
    out[n] = '\0';
    return out;
}

char *kumo__percent_decode(kumo__arena *a, const char *s, size_t len, int plus)
{
    return decode(a, s, len, plus ? KUMO__PCT_PLUS : 0);
}

/* ---- request accessors ---------------------------------------------------- */

const char *kumo_request_method(const kumo_request *req)
{
    return req ? req->method : NULL;
}

const char *kumo_request_path(const kumo_request *req)
{
    return req ? req->path : NULL;
}

const char *kumo_request_query_string(const kumo_request *req)
{
    if (req == NULL)
        return NULL;
    return req->query_string ? req->query_string : "";
}

const char *kumo_request_param(const kumo_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

/* Splits and decodes the query string into req->query, once. A failed
 * allocation leaves it unparsed, so a later call may try again. */
static int parse_query(kumo_request *req)
{
    if (req->query_parsed)
        return 0;
    if (req->ctx == NULL)
        return KUMO_EINVAL;
    const char *qs = req->query_string ? req->query_string : "";
    size_t n = 1;
    for (const char *p = qs; *p; p++)
        n += *p == '&';
    kumo__pair *pairs = kumo__arena_alloc(&req->ctx->arena, n * sizeof(*pairs));
    if (pairs == NULL)
        return KUMO_ENOMEM;
    size_t count = 0;
    const char *p = qs;
    while (*p) {
        const char *end = strchr(p, '&');
        if (end == NULL)
            end = p + strlen(p);
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *name_end = eq ? eq : end;
            const char *val = eq ? eq + 1 : end;
            char *name = decode(&req->ctx->arena, p, (size_t)(name_end - p), KUMO__PCT_PLUS | KUMO__PCT_LENIENT);
            char *value = decode(&req->ctx->arena, val, (size_t)(end - val), KUMO__PCT_PLUS | KUMO__PCT_LENIENT);
            if (name == NULL || value == NULL)
                return KUMO_ENOMEM;
            pairs[count].name = name;
            pairs[count].value = value;
            count++;
        }
        p = *end ? end + 1 : end;
    }
    req->query = pairs;
    req->nquery = count;
    req->query_parsed = 1;
    return 0;
}

const char *kumo_request_query(const kumo_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    kumo_request *r = (kumo_request *)req;
    if (parse_query(r) != 0)
        return NULL;
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->query[i].name, name) == 0)
            return r->query[i].value;
    return NULL;
}

int kumo_request_query_at(const kumo_request *req, size_t i, const char **name, const char **value)
{
    if (req == NULL)
        return 0;
    kumo_request *r = (kumo_request *)req;
    if (parse_query(r) != 0 || i >= r->nquery)
        return 0;
    if (name)
        *name = r->query[i].name;
    if (value)
        *value = r->query[i].value;
    return 1;
}

const char *kumo_request_header(const kumo_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

int kumo_request_header_at(const kumo_request *req, size_t i, const char **name, const char **value)
{
    if (req == NULL || i >= req->nheaders)
        return 0;
    if (name)
        *name = req->headers[i].name;
    if (value)
        *value = req->headers[i].value;
    return 1;
}

const void *kumo_request_body(const kumo_request *req, size_t *len)
{
    if (req == NULL || req->body == NULL) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = req->body_len;
    return req->body;
}

json_t *kumo_request_json(const kumo_request *req)
{
    if (req == NULL)
        return NULL;
    kumo_request *r = (kumo_request *)req;
    if (!r->json_parsed) {
        r->json_parsed = 1;
        if (r->body && r->body_len)
            r->json = json_loadb(r->body, r->body_len, 0, NULL);
    }
    return r->json;
}

/* ---- what the contract check typed ------------------------------------ */

static json_t *parse_once(const char *text, json_t **slot, int *parsed)
{
    if (!*parsed) {
        *parsed = 1;
        if (text)
            *slot = json_loads(text, JSON_DECODE_ANY, NULL);
    }
    return *slot;
}

json_t *kumo_request_params(const kumo_request *req)
{
    if (req == NULL)
        return NULL;
    kumo_request *r = (kumo_request *)req;
    return parse_once(r->typed_text, &r->typed, &r->typed_parsed);
}

json_t *kumo_request_typed(const kumo_request *req, const char *in, const char *name)
{
    json_t *all = kumo_request_params(req);
    if (all == NULL || in == NULL || name == NULL)
        return NULL;
    return json_object_get(json_object_get(all, in), name);
}

json_t *kumo_request_form(const kumo_request *req)
{
    if (req == NULL)
        return NULL;
    kumo_request *r = (kumo_request *)req;
    return parse_once(r->form_text, &r->form, &r->form_parsed);
}

const void *kumo_request_file(const kumo_request *req, const char *name, size_t *len, const char **filename,
                              const char **content_type)
{
    for (size_t i = 0; req && name && i < req->nparts; i++) {
        const kumo__part_view *p = &req->parts[i];
        if (strcmp(p->name, name) != 0)
            continue;
        if (len)
            *len = p->len;
        if (filename)
            *filename = p->filename;
        if (content_type)
            *content_type = p->content_type;
        return p->data;
    }
    return NULL;
}

const char *kumo_request_response_type(const kumo_request *req)
{
    return req ? req->response_type : NULL;
}

/* ---- who called ------------------------------------------------------------ */

const char *kumo_request_auth_scheme(const kumo_request *req)
{
    return req ? req->auth_scheme : NULL;
}

const char *kumo_request_auth_subject(const kumo_request *req)
{
    return req && req->auth_scheme ? req->auth_subject : NULL;
}

json_t *kumo_request_auth_claims(const kumo_request *req)
{
    if (req == NULL)
        return NULL;
    kumo_request *r = (kumo_request *)req;
    return parse_once(r->auth_claims_text, &r->auth_claims, &r->auth_claims_parsed);
}
