/*
 * test_check.c: check.c over openapi/fixtures/check_spec.yaml, loaded with
 * kumo__spec_load and compiled with the real validator: typed parameters,
 * missing and malformed ones (pointer and message asserted), allowEmptyValue,
 * content parameters, JSON / form / multipart / text bodies, 415 and 406
 * with their details, and response checks (status, Content-Type, body).
 */
#include "openapi/check_internal.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

#define FIX "openapi/fixtures/"

static kumo__spec *spec;

static kumo__opcheck *build(const char *operation_id)
{
    for (size_t i = 0; i < spec->nops; i++)
        if (spec->ops[i].operation_id && strcmp(spec->ops[i].operation_id, operation_id) == 0) {
            kumo__opcheck *c = NULL;
            kumo__error err = {0};
            if (kumo__opcheck_build(spec, i, &c, &err) < 0)
                fprintf(stderr, "build %s: %s\n", operation_id, err.msg);
            return c;
        }
    return NULL;
}

typedef struct rq {
    const char *id; /* raw path parameter */
    const char *query;
    const char *headers[12]; /* "name", "value", ... NULL */
    const char *body;        /* NULL: no body */
    size_t body_len;         /* 0: strlen(body) */
    int untyped;             /* check only: no typed parameters built */
} rq;

typedef struct result {
    int rc;
    kumo__checked out;
    kumo__violations v;
    char detail[256];
} result;

static void run(const kumo__opcheck *c, const rq *r, result *res)
{
    kumo__route_match m = {0};
    m.nparams = r->id ? 1 : 0;
    m.params[0].name = "id";
    m.params[0].value = r->id;
    m.params[0].value_len = r->id ? strlen(r->id) : 0;
    kumo__header_view h[6];
    size_t nh = 0;
    for (; nh < 6 && r->headers[nh * 2]; nh++) {
        h[nh].name = (kumo__slice){r->headers[nh * 2], strlen(r->headers[nh * 2])};
        h[nh].value = (kumo__slice){r->headers[nh * 2 + 1], strlen(r->headers[nh * 2 + 1])};
    }
    kumo__http_view req = {
        .method = {"POST", 4},
        .query = {r->query ? r->query : "", r->query ? strlen(r->query) : 0},
        .headers = h,
        .nheaders = nh,
        .match = &m,
        .body = {r->body, r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0},
        .untyped = r->untyped,
    };
    memset(res, 0, sizeof *res);
    res->rc = kumo__opcheck_request(c, &req, &res->out, &res->v, res->detail, sizeof res->detail);
}

static void done(result *res)
{
    kumo__checked_free(&res->out);
    kumo__violations_free(&res->v);
}

/* A violation at `ptr` whose message holds `msg`; prints them all when not. */
static int has(const kumo__violations *v, const char *ptr, const char *msg)
{
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->items[i].instance, ptr) == 0 && strstr(v->items[i].message, msg))
            return 1;
    fprintf(stderr, "no violation %s: ...%s...; have:\n", ptr, msg);
    for (size_t i = 0; i < v->count; i++)
        fprintf(stderr, "  %s: %s (%s)\n", v->items[i].instance, v->items[i].message, v->items[i].schema);
    return 0;
}

static int json_is(const json_t *j, const char *text)
{
    json_t *want = json_loads(text, JSON_DECODE_ANY, NULL);
    int ok = j && want && json_equal(j, want);
    if (!ok) {
        char *g = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        fprintf(stderr, "want %s, got %s\n", text, g ? g : "NULL");
        free(g);
    }
    json_decref(want);
    return ok;
}

#define CT "content-type"

static void params(const kumo__opcheck *c)
{
    result r;
    rq ok = {.id = "7",
             .query = "limit=10&ids=1,2&unknown=yes&filter=%7B%22a%22%3A1%7D&page[size]=20&page[after]=x",
             .headers = {"x-trace", "beef", "cookie", "theme=dark; session=abc%20d", CT, "application/json"},
             .body = "{\"title\":\"milk\",\"done\":false}"};
    run(c, &ok, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK_INT(r.v.count, 0);
    CHECK(json_is(r.out.params, "{\"path\":{\"id\":7},\"query\":{\"limit\":10,\"ids\":[1,2],\"filter\":{\"a\":1},"
                                "\"page\":{\"size\":20,\"after\":\"x\"}},"
                                "\"header\":{\"X-Trace\":\"beef\"},\"cookie\":{\"session\":\"abc d\"}}"));
    CHECK(json_is(r.out.body, "{\"title\":\"milk\",\"done\":false}"));
    CHECK(r.out.media && strcmp(r.out.media->type, "application/json") == 0);
    CHECK(r.out.response_type == NULL);
    done(&r);

    /* missing, uncoercible, out of range, bad items, bad header, bad content */
    rq bad = {.id = "0",
              .query = "ids=1,x,3&filter=%7B%22b%22%3A1%7D&page[size]=99&s=",
              .headers = {"X-TRACE", "XYZ", CT, "application/json"},
              .body = "{\"title\":\"milk\"}"};
    run(c, &bad, &r);
    CHECK_INT(r.rc, KUMO__CHECK_INVALID);
    CHECK(has(&r.v, "/path/id", "at least 1"));
    CHECK(has(&r.v, "/query/limit", "missing required query parameter 'limit'"));
    CHECK(has(&r.v, "/query/ids/1", "integer"));
    CHECK(has(&r.v, "/query/page/size", "at most 50"));
    CHECK(has(&r.v, "/query/filter/b", "not allowed"));
    CHECK(has(&r.v, "/query/s", "allowEmptyValue"));
    CHECK(has(&r.v, "/header/X-Trace", ""));
    CHECK_INT(r.v.count, 7);
    done(&r);

    rq types = {.id = "abc",
                .query = "limit=ten&filter=%7Bnope",
                .headers = {CT, "application/json"},
                .body = "{\"title\":\"a\"}"};
    run(c, &types, &r);
    CHECK_INT(r.rc, KUMO__CHECK_INVALID);
    CHECK(has(&r.v, "/path/id", "must be an integer"));
    CHECK(has(&r.v, "/query/limit", "must be an integer"));
    CHECK(has(&r.v, "/query/filter", "is not valid JSON"));
    /* the uncoercible value is kept as the string it was */
    CHECK(json_is(json_object_get(r.out.params, "query"), "{\"limit\":\"ten\"}"));
    done(&r);

    /* allowEmptyValue: "" passes without the schema (minLength 2) */
    rq empty = {.id = "1", .query = "limit=1&q=", .headers = {CT, "application/json"}, .body = "{\"title\":\"a\"}"};
    run(c, &empty, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK(json_is(json_object_get(json_object_get(r.out.params, "query"), "q"), "\"\""));
    done(&r);
    rq short_q = {.id = "1", .query = "limit=1&q=a", .headers = {CT, "application/json"}, .body = "{\"title\":\"a\"}"};
    run(c, &short_q, &r);
    CHECK(has(&r.v, "/query/q", "at least 2"));
    done(&r);
}

static void bodies(const kumo__opcheck *c)
{
    result r;
    rq json_bad = {.id = "1",
                   .query = "limit=1",
                   .headers = {CT, "application/json; charset=utf-8"},
                   .body = "{\"title\":\n \"x\",}"};
    run(c, &json_bad, &r);
    CHECK_INT(r.rc, KUMO__CHECK_INVALID);
    CHECK(has(&r.v, "/body", "is not valid JSON"));
    CHECK(has(&r.v, "/body", "line 2"));
    done(&r);

    rq dup = {.id = "1",
              .query = "limit=1",
              .headers = {CT, "application/json"},
              .body = "{\"title\":\"a\",\"title\":\"b\"}"};
    run(c, &dup, &r);
    CHECK(has(&r.v, "/body", "duplicate"));
    done(&r);

    rq json_invalid = {.id = "1",
                       .query = "limit=1",
                       .headers = {CT, "application/json"},
                       .body = "{\"title\":\"too long\",\"done\":1}"};
    run(c, &json_invalid, &r);
    CHECK(has(&r.v, "/body/title", "at most 5"));
    CHECK(has(&r.v, "/body/done", "boolean"));
    done(&r);

    rq form = {.id = "1",
               .query = "limit=1",
               .headers = {CT, "Application/X-WWW-Form-Urlencoded"},
               .body = "title=a+b&done=true&tags=x&tags=y"};
    run(c, &form, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK(json_is(r.out.body, "{\"title\":\"a b\",\"done\":true,\"tags\":[\"x\",\"y\"]}"));
    done(&r);
    rq form_bad = {
        .id = "1", .query = "limit=1", .headers = {CT, "application/x-www-form-urlencoded"}, .body = "done=maybe"};
    run(c, &form_bad, &r);
    CHECK(has(&r.v, "/body/done", "boolean"));
    CHECK(has(&r.v, "/body", "title"));
    done(&r);

    const char *mp = "--b1\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nreport\r\n"
                     "--b1\r\nContent-Disposition: form-data; name=\"count\"\r\n\r\nthree\r\n"
                     "--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\n"
                     "Content-Type: text/csv\r\n\r\na,b\r\n--b1--\r\n";
    rq multi = {.id = "1", .query = "limit=1", .headers = {CT, "multipart/form-data; boundary=b1"}, .body = mp};
    run(c, &multi, &r);
    CHECK_INT(r.rc, KUMO__CHECK_INVALID);
    CHECK(has(&r.v, "/body/count", "integer"));
    CHECK_INT(r.v.count, 1);
    CHECK_INT(r.out.nparts, 3);
    CHECK(json_is(r.out.body, "{\"name\":\"report\",\"count\":\"three\",\"file\":\"a,b\"}"));
    done(&r);
    rq multi_open = {.id = "1",
                     .query = "limit=1",
                     .headers = {CT, "multipart/form-data; boundary=b1"},
                     .body = "--b1\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx"};
    run(c, &multi_open, &r);
    CHECK_INT(r.rc, KUMO__CHECK_INVALID);
    CHECK(has(&r.v, "/body", "no closing boundary"));
    done(&r);
    rq multi_nob = {.id = "1", .query = "limit=1", .headers = {CT, "multipart/form-data"}, .body = "x"};
    run(c, &multi_nob, &r);
    CHECK(has(&r.v, "/body", "boundary"));
    done(&r);

    rq text = {.id = "1", .query = "limit=1", .headers = {CT, "text/plain"}, .body = "far too long text"};
    run(c, &text, &r);
    CHECK(has(&r.v, "/body", "at most 10"));
    done(&r);
    rq text_bin = {.id = "1", .query = "limit=1", .headers = {CT, "text/plain"}, .body = "\xff\xfe"};
    run(c, &text_bin, &r);
    CHECK(has(&r.v, "/body", "UTF-8"));
    done(&r);

    rq missing = {.id = "1", .query = "limit=1"};
    run(c, &missing, &r);
    CHECK_INT(r.rc, KUMO__CHECK_INVALID);
    CHECK(has(&r.v, "/body", "a request body is required"));
    done(&r);
    rq empty = {.id = "1", .query = "limit=1", .headers = {CT, "application/json"}, .body = ""};
    run(c, &empty, &r);
    CHECK(has(&r.v, "/body", "a request body is required"));
    done(&r);
}

static void status_415_406(const kumo__opcheck *c, const kumo__opcheck *ping, const kumo__opcheck *upload)
{
    result r;
    rq xml = {.id = "1", .query = "limit=1", .headers = {CT, "text/xml"}, .body = "<a/>"};
    run(c, &xml, &r);
    CHECK_INT(r.rc, KUMO__CHECK_UNSUPPORTED);
    CHECK_STR(r.detail, "Content-Type 'text/xml' is not accepted; use one of: application/json, "
                        "application/x-www-form-urlencoded, multipart/form-data, text/plain");
    done(&r);
    rq notype = {.id = "1", .query = "limit=1", .body = "{}"};
    run(c, &notype, &r);
    CHECK_INT(r.rc, KUMO__CHECK_UNSUPPORTED);
    CHECK(strstr(r.detail, "no Content-Type") != NULL);
    done(&r);
    rq garbage = {.id = "1", .query = "limit=1", .headers = {CT, "json"}, .body = "{}"};
    run(c, &garbage, &r);
    CHECK_INT(r.rc, KUMO__CHECK_UNSUPPORTED);
    done(&r);

    /* a body where none is declared is 415; an empty one without a type is fine */
    rq body = {.headers = {CT, "application/json"}, .body = "{}"};
    run(ping, &body, &r);
    CHECK_INT(r.rc, KUMO__CHECK_UNSUPPORTED);
    CHECK(strstr(r.detail, "takes no request body") != NULL);
    done(&r);
    rq nobody = {.body = ""};
    run(ping, &nobody, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK(r.out.body == NULL);
    done(&r);

    /* image/any beats any/any; a body without a type meets any/any */
    rq png = {.headers = {CT, "image/png"}, .body = "\x89PNG"};
    run(upload, &png, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK(r.out.media && strcmp(r.out.media->type, "image/*") == 0);
    CHECK(r.out.body == NULL);
    done(&r);
    rq raw = {.body = "bytes"};
    run(upload, &raw, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK(r.out.media && strcmp(r.out.media->type, "*/*") == 0);
    done(&r);

    /* Accept */
    rq html = {.id = "1",
               .query = "limit=1",
               .headers = {"accept", "text/html", CT, "application/json"},
               .body = "{\"title\":\"a\"}"};
    run(c, &html, &r);
    CHECK_INT(r.rc, KUMO__CHECK_NOT_ACCEPTABLE);
    CHECK(strstr(r.detail, "answers with: application/json, text/csv") != NULL);
    done(&r);
    rq csv = {.id = "1",
              .query = "limit=1",
              .headers = {"accept", "application/json;q=0.5, text/csv;q=0.9", CT, "application/json"},
              .body = "{\"title\":\"a\"}"};
    run(c, &csv, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK_STR(r.out.response_type, "text/csv");
    done(&r);
    rq any = {.id = "1",
              .query = "limit=1",
              .headers = {"accept", "*/*", CT, "application/json"},
              .body = "{\"title\":\"a\"}"};
    run(c, &any, &r);
    CHECK_STR(r.out.response_type, "application/json");
    done(&r);
    /* no 2xx content declared: Accept is not checked */
    rq pingacc = {.headers = {"accept", "text/html"}};
    run(ping, &pingacc, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    done(&r);
}

static int resp(const kumo__opcheck *c, int status, const char *ct, const char *body, kumo__violations *v)
{
    memset(v, 0, sizeof *v);
    return kumo__opcheck_response(c, status, (kumo__slice){ct, strlen(ct)}, (kumo__slice){body, strlen(body)}, v);
}

static void responses(const kumo__opcheck *c, const kumo__opcheck *ping)
{
    kumo__violations v;
    CHECK_INT(resp(c, 200, "application/json", "{\"title\":\"ok\"}", &v), 0);
    kumo__violations_free(&v);
    CHECK_INT(resp(c, 200, "application/json; charset=utf-8", "{\"title\":1,\"secret\":\"s\"}", &v), 1);
    CHECK(has(&v, "/body/title", "string"));
    CHECK(has(&v, "/body/secret", "write-only"));
    kumo__violations_free(&v);
    CHECK_INT(resp(c, 200, "application/json", "{oops", &v), 1);
    CHECK(has(&v, "/body", "is not valid JSON"));
    kumo__violations_free(&v);
    CHECK_INT(resp(c, 200, "text/html", "<p>", &v), 1);
    CHECK(has(&v, "/header/content-type", "'text/html' is not a declared type of response 200"));
    kumo__violations_free(&v);
    CHECK_INT(resp(c, 200, "text/csv", "a,b", &v), 0);
    kumo__violations_free(&v);
    /* 404 falls to 4XX, whose problem+json body is checked */
    CHECK_INT(resp(c, 404, "application/problem+json", "{\"detail\":\"x\"}", &v), 1);
    CHECK(has(&v, "/body", "title"));
    kumo__violations_free(&v);
    /* 500 falls to default, which declares no content */
    CHECK_INT(resp(c, 500, "", "", &v), 0);
    kumo__violations_free(&v);
    CHECK_INT(resp(ping, 418, "", "", &v), 1);
    CHECK(has(&v, "/status", "418 is not a declared response"));
    kumo__violations_free(&v);
    CHECK_INT(resp(ping, 204, "text/plain", "hi", &v), 1);
    CHECK(has(&v, "/body", "declares no content"));
    kumo__violations_free(&v);
    CHECK_INT(resp(ping, 204, "", "", &v), 0);
    kumo__violations_free(&v);
}

/* Checked without typed values (a stateless mock): the same verdicts and
 * violations, no params built, the body still read. */
static void untyped(const kumo__opcheck *c)
{
    result r;
    rq ok = {.id = "7",
             .query = "limit=10&ids=1,2&q=",
             .headers = {"x-trace", "beef", CT, "application/json"},
             .body = "{\"title\":\"milk\",\"done\":false}",
             .untyped = 1};
    run(c, &ok, &r);
    CHECK_INT(r.rc, KUMO__CHECK_OK);
    CHECK_INT(r.v.count, 0);
    CHECK(r.out.params == NULL);
    CHECK(json_is(r.out.body, "{\"title\":\"milk\",\"done\":false}"));
    done(&r);
    rq bad = {.id = "0",
              .query = "ids=1,x,3&filter=%7B%22b%22%3A1%7D&page[size]=99&s=",
              .headers = {"X-TRACE", "XYZ", CT, "application/json"},
              .body = "{\"title\":\"milk\"}",
              .untyped = 1};
    run(c, &bad, &r);
    CHECK_INT(r.rc, KUMO__CHECK_INVALID);
    CHECK(has(&r.v, "/path/id", "at least 1"));
    CHECK(has(&r.v, "/query/ids/1", "integer"));
    CHECK(has(&r.v, "/query/s", "allowEmptyValue"));
    CHECK_INT(r.v.count, 7);
    CHECK(r.out.params == NULL);
    done(&r);
}

int main(void)
{
    kumo__error err = {0};
    if (kumo__spec_load(FIX "check_spec.yaml", &spec, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return check_report();
    }
    kumo__opcheck *c = build("updateTodo"), *ping = build("ping"), *upload = build("upload");
    CHECK(c && ping && upload);
    if (c && ping && upload) {
        params(c);
        untyped(c);
        bodies(c);
        status_415_406(c, ping, upload);
        responses(c, ping);
    }
    kumo__opcheck_free(c);
    kumo__opcheck_free(ping);
    kumo__opcheck_free(upload);
    kumo__spec_free(spec);
    return check_report();
}
