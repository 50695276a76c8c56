/*
 * apigw_event.c: what API Gateway's proxy integration does around a
 * Lambda function, for `kumo emulate lambda`: a request becomes an event
 * (payload 1.0 for a REST API, 2.0 for an HTTP API) and the function's
 * answer becomes the HTTP response, checked as API Gateway checks it (a
 * malformed one is a 502). This is the converse of kumo's own adapter,
 * sdk/adapters/lambda.c, which reads these events and writes the answers.
 *
 * Payload 1.0: stage "local", resource /{proxy+}, query parameters
 * decoded, binary bodies as base64 as with binaryMediaTypes set to any
 * type. Payload 2.0: stage $default, cookies apart, repeated headers
 * joined with ','. Unlike a real HTTP API, rawPath is passed as the client
 * sent it (still percent-encoded); kumo's adapter accepts both.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/percent.h"
#include "emulate/emulate_internal.h"
#include "sdk/adapters/lambda.h"
#include "sdk/stores/aws.h"

static json_t *decoded(const char *s, size_t len)
{
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return NULL;
    ssize_t n = kumo__percent_decode_into(s, len, buf, KUMO__PCT_PLUS | KUMO__PCT_LENIENT);
    json_t *j = n < 0 ? json_stringn(s, len) : json_stringn(buf, (size_t)n);
    if (j == NULL) /* not UTF-8 once decoded: as sent */
        j = json_stringn(s, len);
    free(buf);
    return j ? j : json_string("");
}

/* The query's parameters, decoded: v1 {name: last} and {name: [all]},
 * v2 {name: "a,b"}. NULLs when the query is empty. */
static void query_params(const char *q, int version, json_t **single, json_t **multi)
{
    *single = *multi = NULL;
    for (const char *p = q; *p;) {
        size_t n = strcspn(p, "&");
        if (n) {
            size_t eq = strcspn(p, "=");
            size_t nlen = eq < n ? eq : n;
            json_t *name = decoded(p, nlen);
            json_t *value = eq < n ? decoded(p + eq + 1, n - eq - 1) : json_string("");
            if (*single == NULL)
                *single = json_object();
            if (*multi == NULL && version == 1)
                *multi = json_object();
            const char *k = json_string_value(name);
            if (k && value && *single) {
                json_t *old = json_object_get(*single, k);
                if (version == 2 && old) {
                    size_t a = json_string_length(old), b = json_string_length(value);
                    char *s = malloc(a + b + 2);
                    if (s) {
                        memcpy(s, json_string_value(old), a);
                        s[a] = ',';
                        memcpy(s + a + 1, json_string_value(value), b + 1);
                        json_object_set_new(*single, k, json_stringn(s, a + b + 1));
                        free(s);
                    }
                } else {
                    json_object_set(*single, k, value);
                }
                if (*multi) {
                    json_t *arr = json_object_get(*multi, k);
                    if (arr == NULL) {
                        arr = json_array();
                        json_object_set_new(*multi, k, arr);
                    }
                    json_array_append(arr, value);
                }
            }
            json_decref(name);
            json_decref(value);
        }
        p += n;
        if (*p == '&')
            p++;
    }
}

json_t *kumo__emu_event(kumo__emu *e, kumo__emu_conn *c, const char *id, uint64_t epoch_ms)
{
    kumo__http1_req *r = &c->req;
    int version = e->o->payload == 2 ? 2 : 1;
    size_t plen = strcspn(r->target, "?");
    const char *q = r->target[plen] == '?' ? r->target + plen + 1 : "";
    json_t *path = json_stringn(r->target, plen);
    json_t *single = NULL, *multi = NULL;
    query_params(q, version, &single, &multi);
    const char *ct = kumo__http1_header(r, "content-type"), *ua = kumo__http1_header(r, "user-agent"),
               *host = kumo__http1_header(r, "host");
    json_t *body = json_null();
    int b64 = 0;
    if (r->body) {
        if (kumo__lambda_is_text(ct, r->body, r->body_len)) {
            body = json_stringn(r->body, r->body_len);
        } else {
            char *enc = kumo__aws_b64_encode(r->body, r->body_len);
            body = enc ? json_string(enc) : NULL;
            free(enc);
            b64 = 1;
        }
    }
    json_t *hdrs = json_object(), *ev = NULL;
    if (path == NULL || body == NULL || hdrs == NULL)
        goto out;
    if (version == 1) {
        json_t *mv = json_object();
        for (size_t i = 0; mv && i < r->nheaders; i++) {
            const char *n = r->headers[i].name, *v = r->headers[i].value;
            json_object_set_new(hdrs, n, json_string(v));
            json_t *arr = json_object_get(mv, n);
            if (arr == NULL) {
                arr = json_array();
                json_object_set_new(mv, n, arr);
            }
            json_array_append_new(arr, json_string(v));
        }
        int root = plen == 1;
        char ctx_path[600];
        snprintf(ctx_path, sizeof(ctx_path), "/local%s", json_string_value(path));
        ev = json_pack("{s:s, s:O, s:s, s:O, s:o, s:o, s:o, s:o, s:n, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
                       "s:I, s:s, s:{s:s, s:s}, s:s}, s:O, s:b}",
                       "resource", root ? "/" : "/{proxy+}", "path", path, "httpMethod", r->method, "headers", hdrs,
                       "multiValueHeaders", mv ? mv : json_object(), "queryStringParameters",
                       single ? single : json_null(), "multiValueQueryStringParameters", multi ? multi : json_null(),
                       "pathParameters", root ? json_null() : json_pack("{s:s}", "proxy", json_string_value(path) + 1),
                       "stageVariables", "requestContext", "accountId", "123456789012", "apiId", "kumoemulate",
                       "resourceId", "kumo", "resourcePath", root ? "/" : "/{proxy+}", "httpMethod", r->method, "path",
                       ctx_path, "stage", "local", "requestId", id, "requestTimeEpoch", (json_int_t)epoch_ms,
                       "protocol", "HTTP/1.1", "identity", "sourceIp", c->ip, "userAgent", ua ? ua : "", "domainName",
                       host ? host : "127.0.0.1", "body", body, "isBase64Encoded", b64);
        single = multi = NULL; /* stolen by "o" */
    } else {
        json_t *cookies = json_array();
        for (size_t i = 0; cookies && i < r->nheaders; i++) {
            char name[256];
            snprintf(name, sizeof(name), "%s", r->headers[i].name);
            for (char *p = name; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            const char *v = r->headers[i].value;
            if (strcmp(name, "cookie") == 0) {
                for (const char *p = v; *p;) {
                    while (*p == ' ' || *p == ';')
                        p++;
                    size_t n = strcspn(p, ";");
                    while (n && p[n - 1] == ' ')
                        n--;
                    if (n)
                        json_array_append_new(cookies, json_stringn(p, n));
                    p += n;
                    while (*p && *p != ';')
                        p++;
                }
                continue;
            }
            json_t *old = json_object_get(hdrs, name);
            if (old) {
                size_t a = json_string_length(old), b = strlen(v);
                char *s = malloc(a + b + 2);
                if (s) {
                    memcpy(s, json_string_value(old), a);
                    s[a] = ',';
                    memcpy(s + a + 1, v, b + 1);
                    json_object_set_new(hdrs, name, json_string(s));
                    free(s);
                }
            } else {
                json_object_set_new(hdrs, name, json_string(v));
            }
        }
        time_t t = (time_t)(epoch_ms / 1000);
        struct tm tm;
        char when[64];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
        ev = json_pack("{s:s, s:s, s:O, s:s, s:O, s:{s:s, s:s, s:s, s:s, s:{s:s, s:O, s:s, s:s, s:s}, s:s, s:s, "
                       "s:s, s:s, s:I}, s:O, s:b}",
                       "version", "2.0", "routeKey", "$default", "rawPath", path, "rawQueryString", q, "headers", hdrs,
                       "requestContext", "accountId", "123456789012", "apiId", "kumoemulate", "domainName",
                       host ? host : "127.0.0.1", "domainPrefix", "kumoemulate", "http", "method", r->method, "path",
                       path, "protocol", "HTTP/1.1", "sourceIp", c->ip, "userAgent", ua ? ua : "", "requestId", id,
                       "routeKey", "$default", "stage", "$default", "time", when, "timeEpoch", (json_int_t)epoch_ms,
                       "body", body, "isBase64Encoded", b64);
        if (ev && json_array_size(cookies))
            json_object_set(ev, "cookies", cookies);
        if (ev && single)
            json_object_set(ev, "queryStringParameters", single);
        if (ev && r->body == NULL)
            json_object_del(ev, "body");
        json_decref(cookies);
    }
out:
    json_decref(single);
    json_decref(multi);
    json_decref(path);
    json_decref(hdrs);
    json_decref(body);
    return ev;
}

/* A header of the function's that may be passed on: a token for a name,
 * no CR or LF in the value (no response splitting), and none of the
 * framing headers the emulator sets itself. */
static int header_allowed(const char *name)
{
    return kumo__http1_is_token(name) && strcasecmp(name, "content-length") != 0 &&
           strcasecmp(name, "transfer-encoding") != 0 && strcasecmp(name, "connection") != 0 &&
           strcasecmp(name, "keep-alive") != 0;
}

static int value_allowed(const char *v)
{
    return v && strpbrk(v, "\r\n") == NULL;
}

static const char *scalar_text(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return buf;
}

/* Sends the function's kumo__emu_answer (the proxy integration's response JSON) to
 * the client; a malformed one is a 502, as API Gateway answers it. */
int kumo__emu_answer(kumo__emu *e, kumo__emu_conn *c, const char *json, size_t len)
{
    int version = e->o->payload == 2 ? 2 : 1, status = 502;
    json_error_t jerr;
    json_t *res = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    kumo__emu_header hs[KUMO__HTTP1_HEADERS_MAX + 2];
    size_t nh = 0;
    char scratch[KUMO__HTTP1_HEADERS_MAX][64];
    char *body = NULL;
    size_t body_len = 0;
    const char *problem = NULL;
    json_t *sc = json_object_get(res, "statusCode");
    if (res == NULL) {
        problem = "the function's response is not JSON";
        goto out;
    }
    if (version == 2 && (!json_is_object(res) || sc == NULL)) {
        /* HTTP APIs take any other JSON as the body of a 200 */
        body = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
        body_len = body ? strlen(body) : 0;
        hs[nh++] = (kumo__emu_header){"content-type", "application/json"};
        status = 200;
        goto send;
    }
    if (!json_is_object(res) || sc == NULL) {
        problem = "malformed Lambda proxy response: no statusCode";
        goto out;
    }
    status = json_is_integer(sc) ? (int)json_integer_value(sc) : json_is_string(sc) ? atoi(json_string_value(sc)) : 0;
    if (status < 100 || status > 599) {
        status = 502;
        problem = "malformed Lambda proxy response: statusCode is not an HTTP status";
        goto out;
    }
    json_t *mv = version == 1 ? json_object_get(res, "multiValueHeaders") : NULL;
    json_t *sv = json_object_get(res, "headers");
    const char *key;
    json_t *val;
    if (json_is_object(mv)) {
        json_object_foreach(mv, key, val)
        {
            size_t i;
            json_t *v;
            if (!json_is_array(val) || !header_allowed(key))
                continue;
            json_array_foreach(val, i, v)
            {
                if (nh == KUMO__HTTP1_HEADERS_MAX)
                    break;
                const char *t = scalar_text(v, scratch[nh], sizeof(scratch[nh]));
                if (value_allowed(t))
                    hs[nh++] = (kumo__emu_header){key, t};
            }
        }
    }
    size_t from_mv = nh;
    if (json_is_object(sv)) {
        json_object_foreach(sv, key, val)
        {
            int dup = 0;
            for (size_t i = 0; i < from_mv && !dup; i++)
                dup = strcasecmp(hs[i].name, key) == 0;
            const char *t = scalar_text(val, scratch[nh < KUMO__HTTP1_HEADERS_MAX ? nh : 0], sizeof(scratch[0]));
            if (!dup && value_allowed(t) && header_allowed(key) && nh < KUMO__HTTP1_HEADERS_MAX)
                hs[nh++] = (kumo__emu_header){key, t};
        }
    }
    json_t *cookies = version == 2 ? json_object_get(res, "cookies") : NULL;
    if (json_is_array(cookies)) {
        size_t i;
        json_t *v;
        json_array_foreach(cookies, i, v)
        {
            if (value_allowed(json_string_value(v)) && nh < KUMO__HTTP1_HEADERS_MAX)
                hs[nh++] = (kumo__emu_header){"set-cookie", json_string_value(v)};
        }
    }
    json_t *b = json_object_get(res, "body");
    if (json_is_string(b)) {
        const char *s = json_string_value(b);
        size_t n = json_string_length(b);
        if (json_is_true(json_object_get(res, "isBase64Encoded"))) {
            body = malloc(n / 4 * 3 + 4);
            long got = body ? kumo__aws_b64_decode(s, n, (unsigned char *)body) : -1;
            if (got < 0) {
                status = 502;
                problem = "malformed Lambda proxy response: isBase64Encoded but the body is not base64";
                goto out;
            }
            body_len = (size_t)got;
        } else {
            body = malloc(n + 1);
            if (body)
                memcpy(body, s, n);
            body_len = n;
        }
    } else if (b && !json_is_null(b)) {
        status = 502;
        problem = "malformed Lambda proxy response: body is not a string";
        goto out;
    }
    int has_type = 0;
    for (size_t i = 0; i < nh; i++)
        has_type |= strcasecmp(hs[i].name, "content-type") == 0;
    if (!has_type && body_len)
        hs[nh++] = (kumo__emu_header){"content-type", "application/json"};
send:
    hs[nh++] = (kumo__emu_header){"x-amzn-requestid", e->inflight_id};
    kumo__emu_respond(e, c, status, hs, nh, body ? body : "", body_len);
out:
    if (problem)
        kumo__emu_respond_problem(e, c, 502, problem, e->inflight_id);
    free(body);
    json_decref(res);
    return status;
}
