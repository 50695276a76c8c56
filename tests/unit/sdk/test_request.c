/*
 * test_request.c: the handler's view of an invocation (src/sdk/request.c,
 * response.c, log.c) on a request built by hand, as an adapter builds one:
 * accessors, lazy query decoding, case-insensitive headers, the cached JSON
 * body, the response setters and what they refuse, the problem+json body,
 * and kumo_log's line (captured from stderr and parsed back).
 */
#include "check.h"
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct fixture {
    kumo_ctx ctx;
    kumo_request req;
    kumo_response res;
} fixture;

static const kumo__pair params[] = {{"id", "a b/c"}, {"other", "x"}};
static const kumo__pair headers[] = {
    {"content-type", "application/json"},
    {"x-multi", "first"},
    {"x-multi", "second"},
};

static void setup(fixture *f, const char *query, const char *body)
{
    memset(f, 0, sizeof(*f));
    kumo__arena_init(&f->ctx.arena);
    kumo__invocation_init(&f->ctx, &f->req, &f->res);
    f->ctx.request_id = "req-1";
    f->ctx.operation = "getTodo";
    f->ctx.function = "todos";
    f->req.method = "GET";
    f->req.path = "/todos/a%20b%2Fc";
    f->req.query_string = query;
    f->req.params = params;
    f->req.nparams = 2;
    f->req.headers = headers;
    f->req.nheaders = 3;
    f->req.body = body;
    f->req.body_len = body ? strlen(body) : 0;
    /* as the adapter does once the request is decoded */
    kumo__trace_request(&f->ctx, &f->req);
    f->ctx.path = f->req.path;
}

static void teardown(fixture *f)
{
    kumo__invocation_clear(&f->ctx, &f->req, &f->res);
    CHECK(f->req.json == NULL && f->res.body == NULL);
    CHECK(f->ctx.function != NULL && f->ctx.request_id == NULL);
    kumo__arena_free(&f->ctx.arena);
}

static void test_accessors(void)
{
    fixture f;
    setup(&f, NULL, NULL);
    CHECK_STR(kumo_request_method(&f.req), "GET");
    CHECK_STR(kumo_request_path(&f.req), "/todos/a%20b%2Fc");
    CHECK_STR(kumo_request_query_string(&f.req), "");
    CHECK_STR(kumo_request_param(&f.req, "id"), "a b/c");
    CHECK(kumo_request_param(&f.req, "ID") == NULL);
    CHECK(kumo_request_param(&f.req, "missing") == NULL);
    CHECK(kumo_request_query(&f.req, "a") == NULL);
    CHECK_INT(kumo_request_query_at(&f.req, 0, NULL, NULL), 0);

    CHECK_STR(kumo_request_header(&f.req, "Content-Type"), "application/json");
    CHECK_STR(kumo_request_header(&f.req, "CONTENT-TYPE"), "application/json");
    CHECK_STR(kumo_request_header(&f.req, "X-Multi"), "first");
    CHECK(kumo_request_header(&f.req, "x-absent") == NULL);
    const char *n, *v;
    CHECK_INT(kumo_request_header_at(&f.req, 2, &n, &v), 1);
    CHECK_STR(n, "x-multi");
    CHECK_STR(v, "second");
    CHECK_INT(kumo_request_header_at(&f.req, 3, &n, &v), 0);

    size_t len = 99;
    const char *body = kumo_request_body(&f.req, &len);
    CHECK(body != NULL && len == 0 && *body == '\0');
    CHECK(kumo_request_json(&f.req) == NULL);

    CHECK_STR(kumo_ctx_request_id(&f.ctx), "req-1");
    CHECK_STR(kumo_ctx_operation(&f.ctx), "getTodo");
    CHECK_STR(kumo_ctx_request_id(NULL), "");
    CHECK(kumo_ctx_remaining_ms(&f.ctx) == INT64_MAX);
    f.ctx.deadline_ms = now_ms() + 5000;
    int64_t left = kumo_ctx_remaining_ms(&f.ctx);
    CHECK(left > 4000 && left <= 5000);
    f.ctx.deadline_ms = now_ms() - 10;
    CHECK_INT(kumo_ctx_remaining_ms(&f.ctx), 0);

    char *s = kumo_sprintf(&f.ctx, "%s-%d-%05.1f", "x", 42, 3.14159);
    CHECK_STR(s, "x-42-003.1");
    char *big = kumo_sprintf(&f.ctx, "%5000d|", 7);
    CHECK(big != NULL && strlen(big) == 5001 && big[4999] == '7');
    void *p = kumo_alloc(&f.ctx, 100);
    CHECK(p != NULL && (uintptr_t)p % 16 == 0);
    CHECK(kumo_alloc(NULL, 1) == NULL);

    CHECK_STR(kumo_strerror(KUMO_ENOTFOUND), "not found");
    CHECK_STR(kumo_strerror(12345), "unknown error");

    CHECK(kumo_request_method(NULL) == NULL);
    CHECK(kumo_request_header(NULL, "a") == NULL);
    teardown(&f);
}

static void test_query(void)
{
    fixture f;
    setup(&f, "a=1&b=hello+world&c=%41%42%2b&d=100%&e=%G1&f&&=x&g=%00&a=2&h=%e2%82%AC&sp%20ace=1&t=%4", NULL);
    CHECK_STR(kumo_request_query_string(&f.req), f.req.query_string);
    CHECK_STR(kumo_request_query(&f.req, "a"), "1"); /* first of repeated */
    CHECK_STR(kumo_request_query(&f.req, "b"), "hello world");
    CHECK_STR(kumo_request_query(&f.req, "c"), "AB+");
    CHECK_STR(kumo_request_query(&f.req, "d"), "100%"); /* malformed: kept */
    CHECK_STR(kumo_request_query(&f.req, "e"), "%G1");
    CHECK_STR(kumo_request_query(&f.req, "f"), "");
    CHECK_STR(kumo_request_query(&f.req, ""), "x");
    CHECK_STR(kumo_request_query(&f.req, "g"), "%00"); /* NUL cannot be carried */
    CHECK_STR(kumo_request_query(&f.req, "h"), "\xe2\x82\xac");
    CHECK_STR(kumo_request_query(&f.req, "sp ace"), "1");
    CHECK_STR(kumo_request_query(&f.req, "t"), "%4");
    CHECK(kumo_request_query(&f.req, "zz") == NULL);
    const char *n, *v;
    size_t count = 0;
    while (kumo_request_query_at(&f.req, count, &n, &v))
        count++;
    CHECK_INT(count, 12); /* the empty segment between && is not a pair */
    CHECK(kumo_request_query_at(&f.req, 8, &n, &v) == 1);
    CHECK_STR(n, "a");
    CHECK_STR(v, "2");
    teardown(&f);

    kumo__arena a;
    kumo__arena_init(&a);
    CHECK_STR(kumo__percent_decode(&a, "%41b%63", 7, 0), "Abc");
    CHECK_STR(kumo__percent_decode(&a, "a+b", 3, 0), "a+b");
    CHECK_STR(kumo__percent_decode(&a, "a+b", 3, 1), "a b");
    CHECK_STR(kumo__percent_decode(&a, "%41%42", 3, 0), "A"); /* only len bytes */
    CHECK(kumo__percent_decode(&a, "%4", 2, 0) == NULL);
    CHECK(kumo__percent_decode(&a, "%zz", 3, 0) == NULL);
    CHECK(kumo__percent_decode(&a, "a%", 2, 0) == NULL);
    CHECK(kumo__percent_decode(&a, "%00", 3, 0) == NULL);
    CHECK_STR(kumo__percent_decode(&a, "", 0, 1), "");
    kumo__arena_free(&a);
}

static void test_json_body(void)
{
    fixture f;
    setup(&f, NULL, "{\"title\":\"milk\",\"done\":false}");
    json_t *j = kumo_request_json(&f.req);
    CHECK(json_is_object(j));
    CHECK_STR(json_string_value(json_object_get(j, "title")), "milk");
    CHECK(kumo_request_json(&f.req) == j); /* parsed once, cached */
    size_t len;
    CHECK_STR(kumo_request_body(&f.req, &len), "{\"title\":\"milk\",\"done\":false}");
    CHECK_INT(len, 29);
    teardown(&f); /* decrefs: ASan would report the leak */

    const char *bad[] = {"{\"a\":", "42", "\"str\"", "{} trailing", "   "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup(&f, NULL, bad[i]);
        CHECK(kumo_request_json(&f.req) == NULL);
        CHECK(kumo_request_json(&f.req) == NULL);
        teardown(&f);
    }
    setup(&f, NULL, "[1,2]");
    CHECK(json_is_array(kumo_request_json(&f.req)));
    teardown(&f);
}

static size_t count_header(const kumo_response *res, const char *name, const char **value)
{
    size_t n = 0;
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcmp(res->headers[i].name, name) == 0) {
            n++;
            if (value)
                *value = res->headers[i].value;
        }
    }
    return n;
}

static void test_response(void)
{
    fixture f;
    setup(&f, NULL, NULL);
    kumo_response *res = &f.res;
    CHECK_INT(res->status, 0);
    kumo_response_status(res, 201);
    CHECK_INT(res->status, 201);

    CHECK_INT(kumo_response_header(res, "X-Trace", "a\tb c"), 0);
    const char *v = NULL;
    CHECK_INT(count_header(res, "x-trace", &v), 1); /* stored lower case */
    CHECK_STR(v, "a\tb c");
    /* Injection and malformed names are refused and leave nothing behind. */
    CHECK_INT(kumo_response_header(res, "X-A", "a\r\nSet-Cookie: x=1"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "X-A", "a\nb"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "X-A", "a\rb"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "X-A", "bell\a"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "X-A\r\nEvil", "1"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "Bad Name", "1"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "X:", "1"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "", "1"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "X-\xc3\xa9", "1"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, NULL, "1"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "X-A", NULL), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "Content-Length", "5"), KUMO_EINVAL);
    CHECK_INT(kumo_response_header(res, "transfer-encoding", "chunked"), KUMO_EINVAL);
    CHECK_INT(count_header(res, "x-a", NULL), 0);
    CHECK_INT(res->nheaders, 1);

    /* Body twice: replaced; Content-Type stays single. */
    char buf[] = "first";
    CHECK_INT(kumo_response_body(res, buf, 5, "text/plain"), 0);
    buf[0] = 'X'; /* copied, so the handler's buffer is free again */
    CHECK_INT(kumo_response_body(res, "second!", 7, NULL), 0);
    CHECK_INT(res->body_len, 7);
    CHECK(memcmp(res->body, "second!", 8) == 0); /* NUL after */
    CHECK_INT(count_header(res, "content-type", &v), 1);
    CHECK_STR(v, "application/octet-stream");
    CHECK_INT(kumo_response_header(res, "Content-Type", "text/html"), 0);
    CHECK_INT(count_header(res, "content-type", &v), 1);
    CHECK_STR(v, "text/html");
    CHECK_INT(kumo_response_body(res, NULL, 3, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_response_body(res, NULL, 0, "text/plain"), 0);
    CHECK_INT(res->body_len, 0);

    /* The cap: KUMO__RESPONSE_HEADERS_MAX in all. */
    int rc = 0;
    size_t added = res->nheaders;
    while ((rc = kumo_response_header(res, "X-Many", "1")) == 0)
        added++;
    CHECK_INT(rc, KUMO_ETOOBIG);
    CHECK_INT(added, KUMO__RESPONSE_HEADERS_MAX);
    CHECK_INT(res->nheaders, KUMO__RESPONSE_HEADERS_MAX);
    /* Replacing Content-Type at the cap still works: it frees its slot. */
    CHECK_INT(kumo_response_header(res, "Content-Type", "text/csv"), 0);
    teardown(&f);

    setup(&f, NULL, NULL);
    json_t *j = json_pack("{s:s, s:i, s:[i,i]}", "msg", "h\xc3\xa9\"", "n", 7, "l", 1, 2);
    CHECK_INT(kumo_response_json(&f.res, 200, j), 0); /* consumed */
    CHECK_STR(f.res.body, "{\"msg\":\"h\xc3\xa9\\\"\",\"n\":7,\"l\":[1,2]}");
    CHECK_INT(f.res.body_len, strlen(f.res.body));
    CHECK_INT(f.res.status, 200);
    CHECK_INT(count_header(&f.res, "content-type", &v), 1);
    CHECK_STR(v, "application/json");
    CHECK_INT(kumo_response_json(&f.res, 200, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_response_json(&f.res, 202, json_true()), 0);
    CHECK_STR(f.res.body, "true");
    /* A big document grows its buffer across chunks. */
    json_t *arr = json_array();
    for (int i = 0; i < 5000; i++)
        json_array_append_new(arr, json_integer(i));
    CHECK_INT(kumo_response_json(&f.res, 200, arr), 0);
    json_t *back = json_loadb(f.res.body, f.res.body_len, 0, NULL);
    CHECK(json_array_size(back) == 5000);
    json_decref(back);
    teardown(&f);
}

static void test_problem(void)
{
    fixture f;
    setup(&f, NULL, NULL);
    CHECK_INT(kumo_response_problem(&f.res, 404, "Not Found", "no todo \"x\""), 0);
    CHECK_INT(f.res.status, 404);
    const char *v = NULL;
    CHECK_INT(count_header(&f.res, "content-type", &v), 1);
    CHECK_STR(v, "application/problem+json");
    json_t *p = json_loadb(f.res.body, f.res.body_len, 0, NULL);
    CHECK(json_is_object(p));
    CHECK_STR(json_string_value(json_object_get(p, "type")), "about:blank");
    CHECK_STR(json_string_value(json_object_get(p, "title")), "Not Found");
    CHECK_INT(json_integer_value(json_object_get(p, "status")), 404);
    CHECK_STR(json_string_value(json_object_get(p, "detail")), "no todo \"x\"");
    /* Like the gateway's own problems: the request's path and id. */
    CHECK_STR(json_string_value(json_object_get(p, "instance")), "/todos/a%20b%2Fc");
    CHECK_STR(json_string_value(json_object_get(p, "request_id")), "req-1");
    CHECK_INT(json_object_size(p), 6);
    json_decref(p);

    /* No detail: no key; no title: the reason phrase; bad UTF-8 title too. */
    CHECK_INT(kumo_response_problem(&f.res, 400, NULL, NULL), 0);
    p = json_loadb(f.res.body, f.res.body_len, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(p, "title")), "Bad Request");
    CHECK(json_object_get(p, "detail") == NULL);
    json_decref(p);
    CHECK_INT(kumo_response_problem(&f.res, 503, "\xff\xfe", "\xc3"), 0);
    p = json_loadb(f.res.body, f.res.body_len, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(p, "title")), "Service Unavailable");
    CHECK(json_object_get(p, "detail") == NULL);
    json_decref(p);
    CHECK_INT(count_header(&f.res, "content-type", NULL), 1);
    teardown(&f);

    /* Outside a request (no path, no id): neither member. */
    setup(&f, NULL, NULL);
    f.ctx.request_id = NULL;
    f.ctx.path = NULL;
    CHECK_INT(kumo_response_problem(&f.res, 500, NULL, NULL), 0);
    p = json_loadb(f.res.body, f.res.body_len, 0, NULL);
    CHECK(json_object_get(p, "instance") == NULL && json_object_get(p, "request_id") == NULL);
    json_decref(p);
    teardown(&f);
}

/* Runs kumo_log with stderr sent to a file; returns the bytes written. */
static char *capture_log(kumo_ctx *ctx, enum kumo_log_level level, const char *msg, size_t *len)
{
    static char out[KUMO__LOG_LINE_MAX * 2];
    FILE *tmp = tmpfile();
    int saved = dup(2);
    fflush(stderr);
    dup2(fileno(tmp), 2);
    kumo_log(ctx, level, "%s", msg);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    *len = fread(out, 1, sizeof(out) - 1, tmp);
    out[*len] = '\0';
    fclose(tmp);
    return out;
}

static void test_log(void)
{
    fixture f;
    setup(&f, NULL, NULL);
    size_t len;
    char *line = capture_log(&f.ctx, KUMO_LOG_WARN, "said \"hi\"\n\ttab \x01 bad:\xff ok:\xc3\xa9", &len);
    CHECK(len > 0 && line[len - 1] == '\n');
    CHECK(memchr(line, '\n', len) == line + len - 1); /* one line */
    json_error_t err;
    json_t *j = json_loadb(line, len, 0, &err);
    CHECK(json_is_object(j));
    CHECK_STR(json_string_value(json_object_get(j, "level")), "warn");
    CHECK_STR(json_string_value(json_object_get(j, "request_id")), "req-1");
    CHECK_STR(json_string_value(json_object_get(j, "function")), "todos");
    CHECK_STR(json_string_value(json_object_get(j, "operation")), "getTodo");
    CHECK_STR(json_string_value(json_object_get(j, "msg")), "said \"hi\"\n\ttab \x01 bad:\xef\xbf\xbd ok:\xc3\xa9");
    const char *t = json_string_value(json_object_get(j, "time"));
    CHECK(t && strlen(t) == 27 && t[10] == 'T' && t[19] == '.' && t[26] == 'Z'); /* RFC 3339, UTC, microseconds */
    CHECK(json_object_get(j, "truncated") == NULL);
    CHECK(json_object_get(j, "trace_id") == NULL && json_object_get(j, "span_id") == NULL); /* no traceparent */
    json_decref(j);

    /* A request with a traceparent: its trace and span on every line. */
    static const kumo__pair traced[] = {
        {"content-type", "application/json"},
        {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    };
    f.req.headers = traced;
    f.req.nheaders = 2;
    kumo__trace_request(&f.ctx, &f.req);
    line = capture_log(&f.ctx, KUMO_LOG_INFO, "traced", &len);
    j = json_loadb(line, len, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(j, "trace_id")), "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_STR(json_string_value(json_object_get(j, "span_id")), "00f067aa0ba902b7");
    json_decref(j);
    f.req.headers = headers;
    f.req.nheaders = 3;
    kumo__trace_request(&f.ctx, &f.req);
    CHECK(f.ctx.traceparent == NULL);

    /* No ctx: no request fields. */
    line = capture_log(NULL, KUMO_LOG_ERROR, "plain", &len);
    j = json_loadb(line, len, 0, NULL);
    CHECK(json_is_object(j));
    CHECK(json_object_get(j, "request_id") == NULL && json_object_get(j, "function") == NULL);
    CHECK_STR(json_string_value(json_object_get(j, "level")), "error");
    json_decref(j);

    /* Over the line's ceiling: cut, marked, still one valid JSON line. */
    size_t n = KUMO__LOG_LINE_MAX * 3 / 2;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = i % 3 == 0 ? '"' : (i % 3 == 1 ? 'a' : '\n');
    big[n] = '\0';
    line = capture_log(&f.ctx, KUMO_LOG_INFO, big, &len);
    CHECK(len <= KUMO__LOG_LINE_MAX);
    CHECK(memchr(line, '\n', len) == line + len - 1);
    j = json_loadb(line, len, 0, NULL);
    CHECK(json_is_object(j));
    CHECK(json_is_true(json_object_get(j, "truncated")));
    const char *m = json_string_value(json_object_get(j, "msg"));
    CHECK(m && strlen(m) > 1000 && strncmp(m, big, strlen(m)) == 0);
    json_decref(j);
    /* A multi-byte character at the cut is never split. */
    for (size_t i = 0; i < n; i++)
        big[i] = "\xe2\x82\xac"[i % 3];
    line = capture_log(NULL, KUMO_LOG_INFO, big, &len);
    j = json_loadb(line, len, 0, NULL);
    CHECK(json_is_true(json_object_get(j, "truncated")));
    m = json_string_value(json_object_get(j, "msg"));
    CHECK(m && strlen(m) % 3 == 0 && strstr(m, "\xef\xbf\xbd") == NULL);
    json_decref(j);
    free(big);
    teardown(&f);
}

/* Event attributes come from ce-* headers, and only on a request that
 * says it is a CloudEvent (ce-specversion). */
static void test_event(void)
{
    static const kumo__pair ce[] = {
        {"ce-specversion", "1.0"},
        {"ce-id", "abc-1"},
        {"ce-source", "/kumo/ticks/events/every"},
        {"ce-type", "dev.kumo.schedule.tick"},
        {"ce-time", "2024-05-01T10:00:01.000Z"},
        {"ce-subject", "every"},
        {"ce-traceid", "t1"},
        {"content-type", "application/json"},
    };
    fixture f;
    setup(&f, NULL, "{}");
    /* A plain HTTP request: no attributes. */
    CHECK(kumo_event_type(&f.req) == NULL);
    CHECK(kumo_event_id(&f.req) == NULL);
    CHECK(kumo_event_attr(&f.req, "specversion") == NULL);
    static const kumo__pair stray[] = {{"ce-type", "x"}};
    f.req.headers = stray;
    f.req.nheaders = 1;
    CHECK(kumo_event_type(&f.req) == NULL);

    f.req.headers = ce;
    f.req.nheaders = sizeof(ce) / sizeof(ce[0]);
    CHECK_STR(kumo_event_attr(&f.req, "specversion"), "1.0");
    CHECK_STR(kumo_event_attr(&f.req, "type"), "dev.kumo.schedule.tick");
    CHECK_STR(kumo_event_id(&f.req), "abc-1");
    CHECK_STR(kumo_event_type(&f.req), "dev.kumo.schedule.tick");
    CHECK_STR(kumo_event_source(&f.req), "/kumo/ticks/events/every");
    CHECK_STR(kumo_event_time(&f.req), "2024-05-01T10:00:01.000Z");
    CHECK_STR(kumo_event_subject(&f.req), "every");
    CHECK_STR(kumo_event_attr(&f.req, "traceid"), "t1");
    CHECK(kumo_event_attr(&f.req, "dataschema") == NULL);
    /* Names are CloudEvents attribute names: lower-case letters and digits. */
    CHECK(kumo_event_attr(&f.req, "Type") == NULL);
    CHECK(kumo_event_attr(&f.req, "") == NULL);
    CHECK(kumo_event_attr(&f.req, NULL) == NULL);
    CHECK(kumo_event_attr(&f.req, "type\r\nx") == NULL);
    CHECK(kumo_event_attr(&f.req, "averyveryverylongattributename") == NULL);
    CHECK(kumo_event_attr(NULL, "type") == NULL);
    CHECK(kumo_event_type(NULL) == NULL);
    f.req.headers = headers;
    f.req.nheaders = 3;
    teardown(&f);
}

int main(void)
{
    test_accessors();
    test_query();
    test_json_body();
    test_response();
    test_problem();
    test_log();
    test_event();
    return check_report();
}
