/*
 * test_dispatch.c: kumo__dispatch_request over examples/todo: what it
 * answers itself (400 path, 404, 405, OPTIONS, 501, 413, 400 with
 * violations, 415) and the frame it builds for a handler (method, path,
 * query, symbol, request id, path parameters decoded, the deadline: the
 * unit's timeout or the platform's, whichever is earlier).
 */
#include "gateway/dispatch.h"

#include "check.h"

#include <string.h>

#define TODO "../../examples/todo"

typedef struct fixture {
    kumo__project *project;
    kumo__spec *spec;
    kumo__router *router;
    kumo__opcheck **checks;
    kumo__api api;
} fixture;

static kumo__http_in request(const char *method, const char *path, const char *query, const char *ctype,
                             const char *body)
{
    static kumo__header_view h[1];
    kumo__http_in in = {
        .method = {method, strlen(method)},
        .path = {path, strlen(path)},
        .query = {query, query ? strlen(query) : 0},
        .body = {body, body ? strlen(body) : 0},
    };
    if (ctype) {
        h[0] = (kumo__header_view){{"content-type", 12}, {ctype, strlen(ctype)}};
        in.headers = h;
        in.nheaders = 1;
    }
    return in;
}

/* The u64 or string field `tag` of a request frame in w. */
static int frame_field(const kumo__frame_writer *w, uint16_t tag, kumo__frame_field *out)
{
    kumo__frame_header fh;
    if (kumo__frame_header_decode(w->buf, w->len, 0, &fh) != 0)
        return -1;
    kumo__frame_reader r;
    kumo__frame_reader_init(&r, w->buf + KUMO__FRAME_HEADER_SIZE, fh.length);
    while (kumo__frame_next(&r, out) > 0)
        if (out->tag == tag)
            return 0;
    return -1;
}

static void answers(fixture *f)
{
    kumo__frame_writer w = {0};
    kumo__dispatch d;
    kumo__http_in in;

    in = request("GET", "/todos/../etc", NULL, NULL, NULL);
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r1", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 400);
    CHECK(d.body && strstr(d.body, "\"request_id\":\"r1\"") && strstr(d.body, "Bad request path"));
    kumo__dispatch_free(&d);

    in = request("GET", "/nope", NULL, NULL, NULL);
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r2", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 404);
    CHECK_INT(d.no_route, 1);
    CHECK(d.body && strstr(d.body, "\"instance\":\"/nope\""));
    kumo__dispatch_free(&d);

    in = request("PUT", "/todos", NULL, NULL, NULL);
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r3", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 405);
    CHECK_STR(d.allow, "GET, HEAD, POST");
    kumo__dispatch_free(&d);

    in = request("OPTIONS", "/todos", NULL, NULL, NULL);
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r4", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 204);
    CHECK_STR(d.allow, "GET, HEAD, POST, OPTIONS");
    CHECK(d.body == NULL);
    kumo__dispatch_free(&d);

    in = request("POST", "/todos", NULL, "application/json", "{\"title\":5,\"x\":1}");
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r5", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 400);
    CHECK(d.body && strstr(d.body, "\"errors\":[") && strstr(d.body, "\"pointer\":\"/body/title\""));
    kumo__dispatch_free(&d);

    in = request("POST", "/todos", NULL, "text/plain", "x");
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r6", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 415);
    kumo__dispatch_free(&d);

    /* the body limit is the unit's */
    size_t was = f->project->units[0].tuning.max_body;
    f->project->units[0].tuning.max_body = 4;
    in = request("POST", "/todos", NULL, "application/json", "{\"title\":\"long\"}");
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r7", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 413);
    kumo__dispatch_free(&d);
    f->project->units[0].tuning.max_body = was;

    /* another unit's operation (kumo-host serving one unit) and an unbound one */
    f->api.only_unit = 1;
    in = request("GET", "/todos", NULL, NULL, NULL);
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r8", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 501);
    CHECK(d.body && strstr(d.body, "served by function unit 'todos'"));
    kumo__dispatch_free(&d);
    f->api.only_unit = -1;
    for (size_t i = 0; i < f->spec->nops; i++)
        f->spec->ops[i].unit_index = -1;
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "r9", 1000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 501);
    CHECK(d.body && strstr(d.body, "has no handler yet"));
    kumo__dispatch_free(&d);
    for (size_t i = 0; i < f->spec->nops; i++)
        f->spec->ops[i].unit_index = 0;
    kumo__frame_writer_free(&w);
}

static void invocations(fixture *f)
{
    kumo__frame_writer w = {0};
    kumo__dispatch d;
    kumo__frame_field fld;
    uint64_t deadline = 0;

    kumo__http_in in = request("GET", "/todos/caf%C3%A9", "a=1", NULL, NULL);
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "req-1", 1000000, &w, &d), KUMO__DISPATCH_INVOKE);
    CHECK_STR(d.op->operation_id, "getTodo");
    CHECK(d.timeout_ms == 10000); /* kumo.yaml's default */
    CHECK(frame_field(&w, KF_SYMBOL, &fld) == 0 && fld.len == 7 && memcmp(fld.data, "getTodo", 7) == 0);
    CHECK(frame_field(&w, KF_REQUEST_ID, &fld) == 0 && fld.len == 5 && memcmp(fld.data, "req-1", 5) == 0);
    CHECK(frame_field(&w, KF_QUERY, &fld) == 0 && fld.len == 3 && memcmp(fld.data, "a=1", 3) == 0);
    const char *name, *value;
    size_t nl, vl;
    CHECK(frame_field(&w, KF_PARAM, &fld) == 0 && kumo__frame_pair(&fld, &name, &nl, &value, &vl) == 0 && vl == 5 &&
          memcmp(value, "caf\xc3\xa9", 5) == 0);
    CHECK(frame_field(&w, KF_DEADLINE_MS, &fld) == 0 && kumo__frame_u64(&fld, &deadline) == 0);
    CHECK(deadline == 1000000 + 10000);
    kumo__dispatch_free(&d);

    /* Lambda's deadline, when earlier, is the handler's */
    kumo__frame_reset(&w);
    in.deadline_ms = 1000000 + 2500;
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "req-2", 1000000, &w, &d), KUMO__DISPATCH_INVOKE);
    CHECK(frame_field(&w, KF_DEADLINE_MS, &fld) == 0 && kumo__frame_u64(&fld, &deadline) == 0);
    CHECK(deadline == 1000000 + 2500);
    kumo__dispatch_free(&d);
    /* a later one does not extend the unit's timeout */
    kumo__frame_reset(&w);
    in.deadline_ms = 1000000 + 60000;
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "req-3", 1000000, &w, &d), KUMO__DISPATCH_INVOKE);
    CHECK(frame_field(&w, KF_DEADLINE_MS, &fld) == 0 && kumo__frame_u64(&fld, &deadline) == 0);
    CHECK(deadline == 1000000 + 10000);
    kumo__dispatch_free(&d);

    /* a malformed escape in a path parameter */
    kumo__frame_reset(&w);
    in = request("GET", "/todos/%ZZ", NULL, NULL, NULL);
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "req-4", 1000000, &w, &d), KUMO__DISPATCH_ANSWER);
    CHECK_INT(d.status, 400);
    kumo__dispatch_free(&d);
    kumo__frame_writer_free(&w);
}

/* The frame's headers named `name`: how many, and the last one's value. */
static int frame_headers(const kumo__frame_writer *w, const char *name, char *value, size_t cap)
{
    kumo__frame_header fh;
    kumo__frame_reader r;
    kumo__frame_field f;
    int n = 0;
    value[0] = '\0';
    if (kumo__frame_header_decode(w->buf, w->len, 0, &fh) != 0)
        return -1;
    kumo__frame_reader_init(&r, w->buf + KUMO__FRAME_HEADER_SIZE, fh.length);
    while (kumo__frame_next(&r, &f) > 0) {
        const char *hn, *hv;
        size_t nl, vl;
        if (f.tag == KF_HEADER && kumo__frame_pair(&f, &hn, &nl, &hv, &vl) == 0 && nl == strlen(name) &&
            memcmp(hn, name, nl) == 0) {
            n++;
            snprintf(value, cap, "%.*s", (int)vl, hv);
        }
    }
    return n;
}

/* Traces: the worker's frame carries the invocation's traceparent and
 * tracestate instead of the caller's; without an override, the caller's
 * headers pass as they came. */
static void trace_headers(fixture *f)
{
    kumo__frame_writer w = {0};
    kumo__dispatch d;
    char v[600];
    static kumo__header_view h[3] = {
        {{"traceparent", 11}, {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 55}},
        {{"tracestate", 10}, {"caller=1", 8}},
        {{"x-other", 7}, {"kept", 4}},
    };
    kumo__http_in in = request("GET", "/todos/1", NULL, NULL, NULL);
    in.headers = h;
    in.nheaders = 3;
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "t1", 1000, &w, &d), KUMO__DISPATCH_INVOKE);
    CHECK_INT(frame_headers(&w, "traceparent", v, sizeof(v)), 1);
    CHECK_STR(v, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    kumo__dispatch_free(&d);

    kumo__frame_reset(&w);
    in.traceparent = "00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01";
    in.tracestate = "caller=1";
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "t2", 1000, &w, &d), KUMO__DISPATCH_INVOKE);
    CHECK_INT(frame_headers(&w, "traceparent", v, sizeof(v)), 1);
    CHECK_STR(v, "00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01");
    CHECK_INT(frame_headers(&w, "tracestate", v, sizeof(v)), 1);
    CHECK_STR(v, "caller=1");
    CHECK_INT(frame_headers(&w, "x-other", v, sizeof(v)), 1);
    kumo__dispatch_free(&d);

    /* a refused tracestate ("") is not passed on */
    kumo__frame_reset(&w);
    in.tracestate = "";
    CHECK_INT(kumo__dispatch_request(&f->api, &in, "t3", 1000, &w, &d), KUMO__DISPATCH_INVOKE);
    CHECK_INT(frame_headers(&w, "tracestate", v, sizeof(v)), 0);
    CHECK_INT(frame_headers(&w, "traceparent", v, sizeof(v)), 1);
    kumo__dispatch_free(&d);
    kumo__frame_writer_free(&w);
}

/* A response frame's payload with one header, as a worker might send it
 * without going through the SDK (which refuses such headers itself). */
static void response_with(kumo__frame_writer *w, const char *name, const char *value, size_t value_len)
{
    kumo__frame_begin(w, 0, KUMO__FRAME_RESPONSE, 1);
    kumo__frame_put_u32(w, KF_STATUS, 200);
    kumo__frame_put_pair(w, KF_HEADER, "content-type", 12, "text/plain", 10);
    kumo__frame_put_pair(w, KF_HEADER, name, strlen(name), value, value_len);
    kumo__frame_put(w, KF_BODY, "hi", 2);
    CHECK_INT(kumo__frame_end(w), 0);
}

/* Response headers are checked whatever the worker sent: a CR, LF or NUL
 * in a value (a second header or a second response on the wire) or a name
 * that is no token makes the response unsendable, and the header
 * iterator never hands such a header out. */
static void response_headers(void)
{
    static const struct {
        const char *name, *value;
        size_t value_len;
        int ok;
    } cases[] = {
        {"x-fine", "a value\twith a tab", 18, 1},
        {"x-inject", "a\r\nset-cookie: s=1", 19, 0},
        {"x-lf", "a\nb", 3, 0},
        {"x-nul", "a\0b", 3, 0},
        {"x-del", "a\x7f", 2, 0},
        {"bad name", "v", 1, 0},
        {"x-split\r\nx-more", "v", 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo__frame_writer w = {0};
        response_with(&w, cases[i].name, cases[i].value, cases[i].value_len);
        const char *payload = w.buf + KUMO__FRAME_HEADER_SIZE;
        size_t len = w.len - KUMO__FRAME_HEADER_SIZE;
        kumo__response_in r;
        kumo__response_read(payload, len, &r);
        CHECK_INT(r.invalid == NULL, cases[i].ok);
        CHECK_INT(r.status, 200);
        size_t pos = 0, nl, vl, seen = 0, bad = 0;
        const char *n, *v;
        while (kumo__response_header(payload, len, &pos, &n, &nl, &v, &vl) == 1) {
            seen++;
            bad += memchr(v, '\r', vl) || memchr(v, '\n', vl) || memchr(v, 0, vl) || memchr(n, ' ', nl);
        }
        CHECK_INT(bad, 0);
        CHECK_INT(seen, cases[i].ok ? 2 : 1);
        kumo__frame_writer_free(&w);
    }
}

int main(void)
{
    response_headers();
    fixture f = {0};
    kumo__error err = {0};
    if (kumo__project_load_prebuilt(TODO, &f.project, &err) != 0 ||
        kumo__spec_load(f.project->api_path, &f.spec, &err) != 0 || kumo__router_build(f.spec, &f.router, &err) != 0) {
        fprintf(stderr, "fixture: %s\n", err.msg);
        return 1;
    }
    f.checks = calloc(f.spec->nops, sizeof(*f.checks));
    for (size_t i = 0; i < f.spec->nops; i++) {
        f.spec->ops[i].unit_index = 0; /* examples/todo has one unit */
        if (kumo__opcheck_build(f.spec, i, &f.checks[i], &err) != 0) {
            fprintf(stderr, "fixture: %s\n", err.msg);
            return 1;
        }
    }
    f.api = (kumo__api){.project = f.project, .spec = f.spec, .router = f.router, .checks = f.checks, .only_unit = -1};
    answers(&f);
    invocations(&f);
    trace_headers(&f);
    for (size_t i = 0; i < f.spec->nops; i++)
        kumo__opcheck_free(f.checks[i]);
    free(f.checks);
    kumo__router_free(f.router);
    kumo__spec_free(f.spec);
    kumo__project_free(f.project);
    return check_report();
}
