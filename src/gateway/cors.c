/*
 * cors.c: see cors.h. The rules follow the Fetch standard's CORS
 * protocol: an origin is compared whole (scheme, host, port); a preflight
 * is allowed when its origin, its method and every header it asks for are
 * in kumo.yaml's lists, and answered 204 with what is allowed, else 403
 * (a problem document saying which list lacks what: the browser only shows
 * a CORS failure, the developer reads the answer in its network panel).
 * Responses whose value depends on the Origin say so in Vary, so caches
 * keep one answer per origin.
 */
#include "gateway/cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const kumo__slice *header(const kumo__http_in *in, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < in->nheaders; i++)
        if (in->headers[i].name.len == n && memcmp(in->headers[i].name.base, name, n) == 0)
            return &in->headers[i].value;
    return NULL;
}

static void put(kumo__cors_answer *out, const char *name, const char *value, size_t len)
{
    if (out->nheaders < KUMO__CORS_HEADERS)
        out->headers[out->nheaders++] = (kumo__cors_header){name, value, len};
}

static void put_str(kumo__cors_answer *out, const char *name, const char *value)
{
    put(out, name, value, strlen(value));
}

/* The configured origin equal to `o` (case-insensitive, as schemes and
 * host names are), or NULL. */
static const char *origin_allowed(const kumo__cors_config *c, const kumo__slice *o)
{
    for (size_t i = 0; c->origins[i]; i++)
        if (strlen(c->origins[i]) == o->len && strncasecmp(c->origins[i], o->base, o->len) == 0)
            return c->origins[i];
    return NULL;
}

static int listed(char *const *l, const char *s, size_t len)
{
    for (size_t i = 0; l && l[i]; i++)
        if (strlen(l[i]) == len && strncasecmp(l[i], s, len) == 0)
            return 1;
    return 0;
}

/* The first header of Access-Control-Request-Headers not allowed, or
 * NULL when all are (*bad_len its length). */
static const char *header_refused(const kumo__cors_config *c, const kumo__slice *req, size_t *bad_len)
{
    const char *p = req->base, *end = req->base + req->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > s && !c->any_header && !listed(c->headers, s, (size_t)(e - s))) {
            *bad_len = (size_t)(e - s);
            return s;
        }
    }
    return NULL;
}

int kumo__cors_decide(const kumo__cors_config *c, const kumo__http_in *in, kumo__cors_answer *out)
{
    out->status = 0;
    out->detail[0] = '\0';
    out->nheaders = 0;
    if (c == NULL || !c->enabled)
        return 0;
    const kumo__slice *origin = header(in, "origin");
    const kumo__slice *want = header(in, "access-control-request-method");
    int preflight = in->method.len == 7 && memcmp(in->method.base, "OPTIONS", 7) == 0 && origin && want;
    /* the answer depends on the Origin unless every origin gets "*" */
    int varies = !c->any_origin || c->credentials;
    const char *allowed = NULL;
    if (origin && !c->any_origin)
        allowed = origin_allowed(c, origin);
    if (!preflight) {
        if (varies)
            put_str(out, "vary", "Origin");
        if (origin == NULL || (!c->any_origin && allowed == NULL))
            return 0;
        if (c->any_origin && !c->credentials)
            put_str(out, "access-control-allow-origin", "*");
        else
            put(out, "access-control-allow-origin", origin->base, origin->len);
        if (c->credentials)
            put_str(out, "access-control-allow-credentials", "true");
        if (c->expose)
            put_str(out, "access-control-expose-headers", c->expose);
        return 0;
    }
    put_str(out, "vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    out->status = 403;
    int olen = (int)(origin->len < 120 ? origin->len : 120);
    if (!c->any_origin && allowed == NULL) {
        snprintf(out->detail, sizeof(out->detail),
                 "the origin '%.*s' is not in kumo.yaml's http.cors.origins; add it there to let browsers call "
                 "from it",
                 olen, origin->base);
        return 1;
    }
    if (!listed(c->method_list, want->base, want->len)) {
        snprintf(out->detail, sizeof(out->detail),
                 "the method '%.*s' is not in kumo.yaml's http.cors.methods (%s); add it there to let browsers send "
                 "it",
                 (int)(want->len < 20 ? want->len : 20), want->base, c->methods);
        return 1;
    }
    const kumo__slice *asked = header(in, "access-control-request-headers");
    size_t bad_len = 0;
    const char *bad = asked ? header_refused(c, asked, &bad_len) : NULL;
    if (bad) {
        snprintf(out->detail, sizeof(out->detail),
                 "the header '%.*s' is not in kumo.yaml's http.cors.headers; add it there to let browsers send it",
                 (int)(bad_len < 80 ? bad_len : 80), bad);
        return 1;
    }
    out->status = 204;
    if (c->any_origin && !c->credentials)
        put_str(out, "access-control-allow-origin", "*");
    else
        put(out, "access-control-allow-origin", origin->base, origin->len);
    if (c->credentials)
        put_str(out, "access-control-allow-credentials", "true");
    put_str(out, "access-control-allow-methods", c->methods);
    if (asked && asked->len > 0) /* every one is allowed: say so for these */
        put(out, "access-control-allow-headers", asked->base, asked->len);
    if (c->max_age_s >= 0) {
        snprintf(out->buf, sizeof(out->buf), "%ld", c->max_age_s);
        put_str(out, "access-control-max-age", out->buf);
    }
    return 1;
}

int kumo__cors_owned_header(const char *name, size_t len)
{
    return len > 15 && strncasecmp(name, "access-control-", 15) == 0;
}
