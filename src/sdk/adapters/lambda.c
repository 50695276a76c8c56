/*
 * lambda.c: the AWS Lambda adapter (see lambda.h). Two halves:
 *
 *   - the mapping: an API Gateway proxy event (REST API payload 1.0, HTTP
 *     API payload 2.0) into a kumo__lambda_http whose strings live in the
 *     invocation's arena, and a reply back into the proxy response JSON;
 *   - the Runtime API loop: one kept-alive connection (rtapi.c, plain
 *     HTTP/1.1, not libcurl) long-polls /runtime/invocation/next
 *     with no timeout, as the Runtime API asks, and posts each answer to
 *     /runtime/invocation/ID/response or /error.
 *
 * Payload 1.0 carries the path still percent-encoded and the query
 * already decoded (names and values), so the query is encoded again;
 * payload 2.0 carries rawPath (decoded by HTTP APIs) and rawQueryString.
 * Either path is escaped of what cannot stand in a raw path (a decoded
 * space, '?', '#', a '%' without two hex digits), which leaves an encoded
 * path as it was. Nothing from an event (headers, bodies) is ever logged:
 * they may hold credentials.
 */
#include "sdk/adapters/lambda.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sdk/adapters/rtapi.h"
#include "sdk/stores/aws.h"

#define RUNTIME_API_VERSION "2018-06-01"

/* ---- small helpers ---------------------------------------------------- */

static void set_err(kumo__error *err, const char *msg)
{
    kumo__error_set(err, -EINVAL, "%s", msg);
}

static char *arena_str(kumo__arena *a, const char *s)
{
    return kumo__arena_strndup(a, s, strlen(s));
}

static char *arena_lower(kumo__arena *a, const char *s)
{
    char *d = arena_str(a, s);
    if (d)
        for (char *p = d; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return d;
}

static int is_hex(char c)
{
    return isxdigit((unsigned char)c) != 0;
}

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* Writes `s` into out (room for 3 bytes per byte), percent-encoding every
 * byte but the unreserved ones; returns the bytes written. */
static size_t pct_encode(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p)) {
            out[w++] = (char)*p;
        } else {
            out[w++] = '%';
            out[w++] = hex[*p >> 4];
            out[w++] = hex[*p & 15];
        }
    }
    return w;
}

/* A path as it may stand in a request target: what an encoded path holds
 * is kept (so an encoded path comes out unchanged), anything else (space,
 * '?', '#', controls, non-ASCII, a lone '%') is percent-encoded. */
static char *path_escape(kumo__arena *a, const char *p, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = kumo__arena_alloc(a, len * 3 + 2);
    if (out == NULL)
        return NULL;
    size_t w = 0;
    if (len == 0 || p[0] != '/')
        out[w++] = '/';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        int keep = unreserved(c) || (c != '\0' && strchr("/!$&'()*+,;=:@", c) != NULL) ||
                   (c == '%' && i + 2 < len && is_hex(p[i + 1]) && is_hex(p[i + 2]));
        if (keep) {
            out[w++] = (char)c;
        } else {
            out[w++] = '%';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        }
    }
    out[w] = '\0';
    return out;
}

/* 1 when the API Gateway resource template (/items/{id}, /{proxy+}) can
 * match `path`. */
static int template_matches(const char *tpl, const char *path)
{
    while (*tpl == '/' && *path == '/') {
        tpl++;
        path++;
        size_t tl = strcspn(tpl, "/"), pl = strcspn(path, "/");
        if (tl > 2 && tpl[0] == '{' && tpl[tl - 1] == '}') {
            if (tpl[tl - 2] == '+')
                return pl > 0 || path[pl] == '/';
            if (pl == 0)
                return 0;
        } else if (tl != pl || strncmp(tpl, path, tl) != 0) {
            return 0;
        }
        tpl += tl;
        path += pl;
    }
    return *tpl == '\0' && *path == '\0';
}

/* The length of "/STAGE" when `path` starts with it as a whole segment. */
static size_t stage_prefix(const char *path, const char *stage)
{
    size_t n = strlen(stage);
    if (n == 0 || strcmp(stage, "$default") == 0 || path[0] != '/' || strncmp(path + 1, stage, n) != 0)
        return 0;
    if (path[n + 1] != '/' && path[n + 1] != '\0')
        return 0;
    return n + 1;
}

/* ---- headers ------------------------------------------------------------ */

typedef struct header_list {
    kumo__pair *items;
    size_t n, cap;
} header_list;

static int header_add(kumo__arena *a, header_list *h, const char *name, const char *value)
{
    if (h->n == h->cap)
        return -1; /* sized beforehand */
    char *n = arena_lower(a, name), *v = arena_str(a, value);
    if (n == NULL || v == NULL)
        return -1;
    h->items[h->n].name = n;
    h->items[h->n].value = v;
    h->n++;
    return 0;
}

static int has_header(const header_list *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->items[i].name, name) == 0)
            return 1;
    return 0;
}

/* ---- events ------------------------------------------------------------- */

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* multiValueQueryStringParameters (or queryStringParameters), decoded by
 * API Gateway, encoded again into a raw query string. */
static char *v1_query(kumo__arena *a, json_t *ev)
{
    json_t *mv = json_object_get(ev, "multiValueQueryStringParameters");
    json_t *sv = json_object_get(ev, "queryStringParameters");
    json_t *src = json_is_object(mv) ? mv : json_is_object(sv) ? sv : NULL;
    if (src == NULL)
        return arena_str(a, "");
    size_t cap = 1;
    const char *key;
    json_t *val;
    json_object_foreach(src, key, val)
    {
        if (json_is_array(val)) {
            size_t i;
            json_t *v;
            json_array_foreach(val, i, v) cap += 3 * (strlen(key) + json_string_length(v)) + 2;
        } else {
            cap += 3 * (strlen(key) + json_string_length(val)) + 2;
        }
    }
    char *out = kumo__arena_alloc(a, cap);
    if (out == NULL)
        return NULL;
    size_t w = 0;
    json_object_foreach(src, key, val)
    {
        size_t n = json_is_array(val) ? json_array_size(val) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_is_array(val) ? json_array_get(val, i) : val;
            if (!json_is_string(v))
                continue;
            if (w)
                out[w++] = '&';
            w += pct_encode(out + w, key);
            out[w++] = '=';
            w += pct_encode(out + w, json_string_value(v));
        }
    }
    out[w] = '\0';
    return out;
}

static int v1_headers(kumo__arena *a, json_t *ev, header_list *h)
{
    json_t *mv = json_object_get(ev, "multiValueHeaders"), *sv = json_object_get(ev, "headers");
    size_t cap = 0;
    const char *key;
    json_t *val;
    if (json_is_object(mv))
        json_object_foreach(mv, key, val) cap += json_is_array(val) ? json_array_size(val) : 1;
    if (json_is_object(sv))
        cap += json_object_size(sv);
    h->items = kumo__arena_alloc(a, (cap + 1) * sizeof(*h->items));
    h->cap = cap;
    if (h->items == NULL)
        return -1;
    if (json_is_object(mv)) {
        json_object_foreach(mv, key, val)
        {
            size_t n = json_is_array(val) ? json_array_size(val) : 1;
            for (size_t i = 0; i < n; i++) {
                json_t *v = json_is_array(val) ? json_array_get(val, i) : val;
                if (json_is_string(v) && header_add(a, h, key, json_string_value(v)) != 0)
                    return -1;
            }
        }
    }
    size_t from_mv = h->n;
    if (json_is_object(sv)) {
        json_object_foreach(sv, key, val)
        {
            if (!json_is_string(val))
                continue;
            header_list seen = {h->items, from_mv, from_mv};
            if (has_header(&seen, key))
                continue;
            if (header_add(a, h, key, json_string_value(val)) != 0)
                return -1;
        }
    }
    return 0;
}

static int v2_headers(kumo__arena *a, json_t *ev, header_list *h)
{
    json_t *sv = json_object_get(ev, "headers"), *cookies = json_object_get(ev, "cookies");
    h->cap = (json_is_object(sv) ? json_object_size(sv) : 0) + 1;
    h->items = kumo__arena_alloc(a, h->cap * sizeof(*h->items));
    if (h->items == NULL)
        return -1;
    int have_cookies = json_is_array(cookies) && json_array_size(cookies) > 0;
    const char *key;
    json_t *val;
    if (json_is_object(sv)) {
        json_object_foreach(sv, key, val)
        {
            if (!json_is_string(val) || (have_cookies && strcasecmp(key, "cookie") == 0))
                continue;
            if (header_add(a, h, key, json_string_value(val)) != 0)
                return -1;
        }
    }
    if (have_cookies) {
        size_t len = 1, i;
        json_t *c;
        json_array_foreach(cookies, i, c) len += json_string_length(c) + 2;
        char *joined = kumo__arena_alloc(a, len), *w = joined;
        if (joined == NULL)
            return -1;
        json_array_foreach(cookies, i, c)
        {
            if (!json_is_string(c))
                continue;
            if (w != joined) {
                *w++ = ';';
                *w++ = ' ';
            }
            memcpy(w, json_string_value(c), json_string_length(c));
            w += json_string_length(c);
        }
        *w = '\0';
        if (header_add(a, h, "cookie", joined) != 0)
            return -1;
    }
    return 0;
}

static int event_body(kumo__arena *a, json_t *ev, kumo__lambda_http *out, kumo__error *err)
{
    json_t *b = json_object_get(ev, "body");
    if (!json_is_string(b))
        return 0; /* null or absent: no body */
    const char *s = json_string_value(b);
    size_t n = json_string_length(b);
    if (json_is_true(json_object_get(ev, "isBase64Encoded"))) {
        unsigned char *d = kumo__arena_alloc(a, n / 4 * 3 + 4);
        if (d == NULL)
            return KUMO_ENOMEM;
        long got = kumo__aws_b64_decode(s, n, d);
        if (got < 0) {
            set_err(err, "the event's body is marked isBase64Encoded but is not base64");
            return KUMO_EINVAL;
        }
        d[got] = '\0';
        out->body = (const char *)d;
        out->body_len = (size_t)got;
        return 0;
    }
    char *d = kumo__arena_strndup(a, s, n);
    if (d == NULL)
        return KUMO_ENOMEM;
    out->body = d;
    out->body_len = n;
    return 0;
}

int kumo__lambda_parse_event(kumo__arena *a, const char *json, size_t len, kumo__lambda_http *out, kumo__error *err)
{
    int rc = KUMO_EINVAL;
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *ev = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(ev)) {
        set_err(err, "the event is not a JSON object");
        goto out;
    }
    json_t *ctx = json_object_get(ev, "requestContext");
    const char *version = jstr(ev, "version");
    const char *stage = jstr(ctx, "stage");
    out->stage = arena_str(a, stage ? stage : "");
    header_list h = {0};
    if (version && strcmp(version, "2.0") == 0 && json_is_string(json_object_get(ev, "rawPath"))) {
        json_t *http = json_object_get(ctx, "http");
        const char *method = jstr(http, "method"), *raw = jstr(ev, "rawPath"), *q = jstr(ev, "rawQueryString");
        if (method == NULL) {
            set_err(err, "the payload 2.0 event has no requestContext.http.method");
            goto out;
        }
        out->version = 2;
        out->method = arena_str(a, method);
        size_t skip = stage ? stage_prefix(raw, stage) : 0;
        out->path = path_escape(a, raw + skip, strlen(raw + skip));
        out->query = arena_str(a, q ? q : "");
        const char *ip = jstr(http, "sourceIp");
        out->source_ip = arena_str(a, ip ? ip : "");
        if (v2_headers(a, ev, &h) != 0) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    } else if (json_is_string(json_object_get(ev, "httpMethod")) && json_is_string(json_object_get(ev, "path"))) {
        const char *path = jstr(ev, "path");
        const char *resource = jstr(ev, "resource");
        if (resource == NULL)
            resource = jstr(ctx, "resourcePath");
        /* REST APIs give the path without the stage, except behind some
         * mappings; strip "/STAGE" only when the resource cannot match the
         * path as it is. */
        size_t skip = stage ? stage_prefix(path, stage) : 0;
        if (skip && resource && template_matches(resource, path))
            skip = 0;
        out->version = 1;
        out->method = arena_str(a, jstr(ev, "httpMethod"));
        out->path = path_escape(a, path + skip, strlen(path + skip));
        out->query = v1_query(a, ev);
        const char *ip = jstr(json_object_get(ctx, "identity"), "sourceIp");
        out->source_ip = arena_str(a, ip ? ip : "");
        if (v1_headers(a, ev, &h) != 0) {
            rc = KUMO_ENOMEM;
            goto out;
        }
    } else {
        set_err(err, "the event is not an API Gateway proxy event (neither payload 1.0 with httpMethod and path nor "
                     "payload 2.0 with rawPath); invoke this function through API Gateway");
        goto out;
    }
    out->headers = h.items;
    out->nheaders = h.n;
    if (out->method == NULL || out->path == NULL || out->query == NULL || out->stage == NULL ||
        out->source_ip == NULL) {
        set_err(err, "out of memory");
        rc = KUMO_ENOMEM;
        goto out;
    }
    rc = event_body(a, ev, out, err);
out:
    json_decref(ev);
    return rc;
}

/* ---- replies -------------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        unsigned cp;
        if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

int kumo__lambda_is_text(const char *ct, const char *body, size_t len)
{
    if (ct && *ct) {
        char type[128];
        size_t n = strcspn(ct, ";");
        while (n && isspace((unsigned char)ct[n - 1]))
            n--;
        if (n >= sizeof(type))
            return 0;
        for (size_t i = 0; i < n; i++)
            type[i] = (char)tolower((unsigned char)ct[i]);
        type[n] = '\0';
        static const char *const exact[] = {
            "application/json", "application/xml",    "application/javascript", "application/x-www-form-urlencoded",
            "application/yaml", "application/x-yaml", "application/ecmascript", "application/graphql"};
        int text = (n >= 5 && memcmp(type, "text/", 5) == 0) || (n > 5 && strcmp(type + n - 5, "+json") == 0) ||
                   (n > 4 && strcmp(type + n - 4, "+xml") == 0);
        for (size_t i = 0; !text && i < sizeof(exact) / sizeof(exact[0]); i++)
            text = strcmp(type, exact[i]) == 0;
        if (!text)
            return 0;
    }
    return body == NULL || utf8_valid((const unsigned char *)body, len);
}

static const char *reply_header(const kumo__lambda_reply *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* Adds `value` to the comma-joined string at obj[name]. */
static int join_header(json_t *obj, const char *name, const char *value)
{
    json_t *old = json_object_get(obj, name);
    if (old == NULL)
        return json_object_set_new(obj, name, json_string(value));
    size_t a = json_string_length(old), b = strlen(value);
    char *s = malloc(a + b + 2);
    if (s == NULL)
        return -1;
    memcpy(s, json_string_value(old), a);
    s[a] = ',';
    memcpy(s + a + 1, value, b + 1);
    int rc = json_object_set_new(obj, name, json_string(s));
    free(s);
    return rc;
}

char *kumo__lambda_encode_reply(int version, const kumo__lambda_reply *r, size_t *len)
{
    char *out = NULL, *b64 = NULL;
    json_t *o = json_object();
    json_t *hdrs = json_object();
    json_t *cookies = json_array();
    if (o == NULL || hdrs == NULL || cookies == NULL)
        goto out;
    if (json_object_set_new(o, "statusCode", json_integer(r->status ? r->status : 200)) != 0)
        goto out;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[i].name, *value = r->headers[i].value;
        if (version == 2 && strcasecmp(name, "set-cookie") == 0) {
            if (json_array_append_new(cookies, json_string(value)) != 0)
                goto out;
        } else if (version == 2) {
            if (join_header(hdrs, name, value) != 0)
                goto out;
        } else {
            json_t *arr = json_object_get(hdrs, name);
            if (arr == NULL) {
                arr = json_array();
                if (json_object_set_new(hdrs, name, arr) != 0)
                    goto out;
            }
            if (json_array_append_new(arr, json_string(value)) != 0)
                goto out;
        }
    }
    if (json_object_set(o, version == 2 ? "headers" : "multiValueHeaders", hdrs) != 0)
        goto out;
    if (version == 2 && json_array_size(cookies) && json_object_set(o, "cookies", cookies) != 0)
        goto out;
    const char *body = r->body ? r->body : "";
    size_t blen = r->body ? r->body_len : 0;
    int text = kumo__lambda_is_text(reply_header(r, "content-type"), body, blen);
    json_t *jb;
    if (text) {
        jb = json_stringn(body, blen);
    } else {
        b64 = kumo__aws_b64_encode(body, blen);
        jb = b64 ? json_string(b64) : NULL;
    }
    if (jb == NULL || json_object_set_new(o, "body", jb) != 0)
        goto out;
    if (json_object_set_new(o, "isBase64Encoded", json_boolean(!text)) != 0)
        goto out;
    out = json_dumps(o, JSON_COMPACT);
    if (out && len)
        *len = strlen(out);
out:
    free(b64);
    json_decref(hdrs);
    json_decref(cookies);
    json_decref(o);
    return out;
}

/* ---- the Runtime API client ---------------------------------------------- */

typedef kumo__rtapi runtime;

static int runtime_open(runtime *rt, const char *api, kumo__error *err)
{
    if (api == NULL || *api == '\0') {
        memset(rt, 0, sizeof(*rt));
        rt->fd = -1;
        set_err(err, "AWS_LAMBDA_RUNTIME_API is not set: this runs inside AWS Lambda (or `kumo emulate "
                     "lambda`)");
        return KUMO_EINVAL;
    }
    if (kumo__rtapi_init(rt, api, KUMO__LAMBDA_PAYLOAD_MAX + 4096) < 0) {
        set_err(err, rt->err);
        return KUMO_EINVAL;
    }
    return 0;
}

static void runtime_close(runtime *rt)
{
    kumo__rtapi_close(rt);
}

/* One request on the kept connection: GET when body is NULL, else POST
 * of JSON. *status is the HTTP status (413: the answer was over the
 * payload limit); returns 0 or KUMO_EUNAVAILABLE (message in rt->err)
 * when the Runtime API cannot be reached. */
static int runtime_call(runtime *rt, const char *path, const char *body, size_t len, const char *error_type,
                        long *status)
{
    *status = 0;
    return kumo__rtapi_call(rt, path, body, len, error_type, status) == 0 ? 0 : KUMO_EUNAVAILABLE;
}

static char *error_json(const char *type, const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:[]}", "errorMessage", message, "errorType", type, "stackTrace");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* Posts an invocation error; a failure to reach the API is fatal. */
static int post_error(runtime *rt, const char *id, const char *type, const char *message, kumo__error *err)
{
    char path[256];
    snprintf(path, sizeof(path), "/invocation/%s/error", id);
    char *body = error_json(type, message);
    if (body == NULL) {
        set_err(err, "out of memory");
        return KUMO_ENOMEM;
    }
    long status = 0;
    int rc = runtime_call(rt, path, body, strlen(body), type, &status);
    free(body);
    if (rc != 0) {
        kumo__error_set(err, -EIO, "posting an invocation error to the Lambda Runtime API: %s", rt->err);
        return rc;
    }
    if (status != 202)
        fprintf(stderr, "kumo lambda: the Runtime API answered %ld to the error of invocation %s\n", status, id);
    return 0;
}

/* Posts an event callback's answer (a JSON document, or its error). */
static int post_event_reply(runtime *rt, const char *id, int frc, const kumo__lambda_event_reply *er, kumo__error *err)
{
    char path[256], generic[96];
    long status = 0;
    if (frc < 0) {
        snprintf(generic, sizeof(generic), "the function failed (code %d)", frc);
        return post_error(rt, id, er->error_type ? er->error_type : "Runtime.HandlerError",
                          er->error_message ? er->error_message : generic, err);
    }
    const char *body = er->body ? er->body : "null";
    size_t blen = er->body ? er->body_len : 4;
    if (blen > KUMO__LAMBDA_PAYLOAD_MAX)
        return post_error(rt, id, "Function.ResponseSizeTooLarge", "the response is over Lambda's 6 MB payload limit",
                          err);
    snprintf(path, sizeof(path), "/invocation/%s/response", id);
    if (runtime_call(rt, path, body, blen, NULL, &status) != 0) {
        kumo__error_set(err, -EIO, "posting the response to the Lambda Runtime API: %s", rt->err);
        return KUMO_EIO;
    }
    if (status != 202)
        fprintf(stderr, "kumo lambda: the Runtime API answered %ld to the response of invocation %s\n", status, id);
    return 0;
}

int kumo__lambda_run(const char *api, kumo__lambda_fn *fn, void *data, kumo__error *err)
{
    return kumo__lambda_run_events(api, fn, NULL, data, err);
}

int kumo__lambda_run_events(const char *api, kumo__lambda_fn *fn, kumo__lambda_event_fn *efn, void *data,
                            kumo__error *err)
{
    runtime rt;
    kumo__arena arena;
    kumo__arena_init(&arena);
    int rc = runtime_open(&rt, api, err);
    if (rc != 0)
        goto out;
    for (;;) {
        long status = 0;
        rc = runtime_call(&rt, "/invocation/next", NULL, 0, NULL, &status);
        if (rc != 0) {
            kumo__error_set(err, -EIO, "waiting for the next invocation at %s: %s", api, rt.err);
            goto out;
        }
        if (status != 200 || rt.request_id[0] == '\0') {
            kumo__error_set(err, -EIO, "the Lambda Runtime API answered %ld to /runtime/invocation/next%s", status,
                            rt.request_id[0] ? "" : " without a Lambda-Runtime-Aws-Request-Id");
            rc = KUMO_EIO;
            goto out;
        }
        char id[sizeof(rt.request_id)], msg[512];
        memcpy(id, rt.request_id, sizeof(id));
        kumo__arena_reset(&arena);
        kumo__lambda_http req;
        if (rt.trace_id[0])
            setenv("_X_AMZN_TRACE_ID", rt.trace_id, 1);
        else
            unsetenv("_X_AMZN_TRACE_ID");
        kumo__error perr = {0};
        kumo__lambda_event ev;
        int prc;
        if (efn) {
            prc = kumo__lambda_parse_any(&arena, rt.buf ? rt.buf : "", rt.len, &ev, &perr);
            if (prc == 0 && ev.kind != KUMO__LAMBDA_HTTP) {
                ev.request_id = kumo__arena_strndup(&arena, id, strlen(id));
                ev.deadline_ms = strtoull(rt.deadline, NULL, 10);
                kumo__lambda_event_reply er;
                memset(&er, 0, sizeof(er));
                int frc = efn(data, &ev, &er);
                if ((rc = post_event_reply(&rt, id, frc, &er, err)) != 0)
                    goto out;
                continue;
            }
            req = ev.http;
        } else {
            prc = kumo__lambda_parse_event(&arena, rt.buf ? rt.buf : "", rt.len, &req, &perr);
        }
        if (prc != 0) {
            rc = post_error(&rt, id, prc == KUMO_ENOMEM ? "Runtime.OutOfMemory" : "Runtime.UnsupportedEvent", perr.msg,
                            err);
            if (rc != 0)
                goto out;
            continue;
        }
        req.request_id = kumo__arena_strndup(&arena, id, strlen(id));
        req.deadline_ms = strtoull(rt.deadline, NULL, 10);
        kumo__lambda_reply reply;
        memset(&reply, 0, sizeof(reply));
        int frc = fn(data, &req, &reply);
        if (frc < 0) {
            char generic[96];
            snprintf(generic, sizeof(generic), "the function failed (code %d)", frc);
            rc = post_error(&rt, id, reply.error_type ? reply.error_type : "Runtime.HandlerError",
                            reply.error_message ? reply.error_message : generic, err);
            if (rc != 0)
                goto out;
            continue;
        }
        size_t blen = 0;
        char *body = kumo__lambda_encode_reply(req.version, &reply, &blen);
        if (body == NULL) {
            rc = post_error(&rt, id, "Runtime.OutOfMemory", "out of memory encoding the response", err);
            if (rc != 0)
                goto out;
            continue;
        }
        char path[256];
        snprintf(path, sizeof(path), "/invocation/%s/response", id);
        rc = blen > KUMO__LAMBDA_PAYLOAD_MAX ? 0 : runtime_call(&rt, path, body, blen, NULL, &status);
        if (blen > KUMO__LAMBDA_PAYLOAD_MAX)
            status = 413;
        free(body);
        if (rc != 0) {
            kumo__error_set(err, -EIO, "posting the response to the Lambda Runtime API: %s", rt.err);
            goto out;
        }
        if (status == 413) {
            snprintf(msg, sizeof(msg), "the response (%zu bytes encoded) is over Lambda's 6 MB payload limit", blen);
            rc = post_error(&rt, id, "Function.ResponseSizeTooLarge", msg, err);
            if (rc != 0)
                goto out;
        } else if (status != 202) {
            fprintf(stderr, "kumo lambda: the Runtime API answered %ld to the response of invocation %s\n", status, id);
        }
    }
out:
    runtime_close(&rt);
    kumo__arena_free(&arena);
    return rc;
}

int kumo__lambda_init_error(const char *api, const char *type, const char *message)
{
    runtime rt;
    kumo__error err = {0};
    int rc = runtime_open(&rt, api, &err);
    if (rc != 0)
        goto out;
    if (type == NULL)
        type = "Runtime.InitError";
    char *body = error_json(type, message ? message : "initialisation failed");
    if (body == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    long status = 0;
    rc = runtime_call(&rt, "/init/error", body, strlen(body), type, &status);
    free(body);
    if (rc == 0 && status != 202)
        rc = KUMO_EIO;
out:
    runtime_close(&rt);
    return rc;
}
