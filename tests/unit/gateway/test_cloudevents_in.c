/*
 * test_cloudevents_in.c: the CloudEvents HTTP binding as
 * cloudevents_in.c reads it (binary, structured, batch; what is refused
 * and with which status), and one exchange against a project of two
 * cloudevent events: routing by type and source, the handler's
 * binary-mode frame (decoded ce-* headers, content-type, traceparent, the
 * data), and the answers of a single event and of a batch.
 */
#include "gateway/cloudevents_in.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

typedef struct req {
    kumo__header_view h[16];
    kumo__http_in in;
} req;

/* headers: "name: value" lines separated by '\n' (names lower case) */
static void make(req *r, const char *method, char *headers, const char *body)
{
    memset(r, 0, sizeof(*r));
    size_t n = 0;
    for (char *line = strtok(headers, "\n"); line && n < 16; line = strtok(NULL, "\n")) {
        char *colon = strstr(line, ": ");
        r->h[n++] = (kumo__header_view){{line, (size_t)(colon - line)}, {colon + 2, strlen(colon + 2)}};
    }
    r->in = (kumo__http_in){.method = {method, strlen(method)},
                            .path = {KUMO__CE_PATH, sizeof(KUMO__CE_PATH) - 1},
                            .headers = r->h,
                            .nheaders = n,
                            .body = {body, body ? strlen(body) : 0}};
}

static int parse(const char *headers, const char *body, kumo__ce_message *m, char *why)
{
    char h[2048];
    snprintf(h, sizeof(h), "%s", headers);
    req r;
    make(&r, "POST", h, body);
    return kumo__ce_parse(&r.in, m, why, 600);
}

static void test_parse(void)
{
    static const struct {
        const char *headers, *body;
        int status;
        const char *why; /* a part of the reason, or of the first event's error */
    } cases[] = {
        {"ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t", NULL, 0, ""},
        {"ce-specversion: 1.0\nce-source: /s\nce-type: t", NULL, 400, "has no id (header ce-id)"},
        {"ce-specversion: 0.3\nce-id: 1\nce-source: /s\nce-type: t", NULL, 400, "specversion '0.3' is not 1.0"},
        {"ce-specversion: 1.0\nce-id: 1\nce-type: t", NULL, 400, "has no source"},
        {"ce-specversion: 1.0\nce-id: 1\nce-source: /s", NULL, 400, "has no type"},
        {"ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\nce-time: yesterday", NULL, 400,
         "time 'yesterday' is not an RFC 3339"},
        {"ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\nce-foo-bar: x", NULL, 400,
         "header 'ce-foo-bar' names no CloudEvents attribute"},
        {"ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\nce-x: a%0Ab", NULL, 400,
         "attribute 'x' is not a CloudEvents string"},
        {"ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\nce-x: a%zz", NULL, 400, "malformed percent"},
        {"ce-specversion: 1.0\nce-id: 1\nce-id: 2\nce-source: /s\nce-type: t", NULL, 400, "'id' is given twice"},
        {"content-type: text/plain", "hi", 415, "no CloudEvent"},
        {"content-type: application/cloudevents+avro", "x", 415, "event format"},
        {"content-type: application/cloudevents+json", "{", 400, "not JSON"},
        {"content-type: application/cloudevents+json", "[]", 400, "is not a JSON object"},
        {"content-type: application/cloudevents+json",
         "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"id\":\"2\"}", 400, "not JSON"},
        {"content-type: application/cloudevents+json",
         "{\"specversion\":1.0,\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}", 400, "specversion is not"},
        {"content-type: application/cloudevents+json",
         "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"x\":{}}", 400,
         "attribute 'x' is an object"},
        {"content-type: application/cloudevents+json",
         "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"Bad\":1}", 400,
         "attribute name 'Bad'"},
        {"content-type: application/cloudevents+json",
         "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"data\":1,\"data_base64\":\"AA==\"}",
         400, "both data and data_base64"},
        {"content-type: application/cloudevents+json",
         "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"data_base64\":\"A\"}", 400,
         "not base64"},
        {"content-type: application/cloudevents-batch+json", "{}", 400, "not an array"},
        {"content-type: application/cloudevents-batch+json",
         "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"},{\"specversion\":\"1.0\"}]", 400,
         "1 of the batch's 2 events is malformed; the first, at index 1: has no id"},
        {"content-type: application/cloudevents-batch+json", "[]", 0, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo__ce_message m;
        char why[600];
        int rc = parse(cases[i].headers, cases[i].body, &m, why);
        if (rc != cases[i].status || strstr(why, cases[i].why) == NULL) {
            fprintf(stderr, "case %zu: %d \"%s\", wanted %d \"%s\"\n", i, rc, why, cases[i].status, cases[i].why);
            check_failed++;
        } else {
            check_passed++;
        }
        kumo__ce_message_free(&m);
    }

    /* a batch over the ceiling */
    char big[KUMO__CE_BATCH_MAX * 8 + 8] = "[";
    for (int i = 0; i <= KUMO__CE_BATCH_MAX; i++)
        strcat(big, i ? ",{}" : "{}");
    strcat(big, "]");
    kumo__ce_message m;
    char why[600];
    CHECK_INT(parse("content-type: application/cloudevents-batch+json", big, &m, why), 413);
    kumo__ce_message_free(&m);

    /* structured: attribute types, data as JSON, text, base64 */
    CHECK_INT(parse("content-type: application/cloudevents+json; charset=utf-8",
                    "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"n\":-3,\"b\":false,"
                    "\"gone\":null,\"data\":{\"a\":[1,2]}}",
                    &m, why),
              0);
    CHECK_INT(m.mode, KUMO__CE_STRUCTURED);
    CHECK_STR(kumo__ce_attr_get(&m.events[0], "n"), "-3");
    CHECK_STR(kumo__ce_attr_get(&m.events[0], "b"), "false");
    CHECK(kumo__ce_attr_get(&m.events[0], "gone") == NULL);
    CHECK_STR(m.events[0].data, "{\"a\":[1,2]}");
    CHECK_STR(m.events[0].content_type, "application/json");
    CHECK(m.events[0].json != NULL);
    kumo__ce_message_free(&m);
    CHECK_INT(parse("content-type: application/cloudevents+json",
                    "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                    "\"datacontenttype\":\"text/plain\",\"data\":\"caf\\u00e9\"}",
                    &m, why),
              0);
    CHECK_STR(m.events[0].data, "caf\xc3\xa9");
    CHECK_STR(m.events[0].content_type, "text/plain");
    CHECK(kumo__ce_attr_get(&m.events[0], "datacontenttype") == NULL);
    kumo__ce_message_free(&m);
    CHECK_INT(parse("content-type: application/cloudevents+json",
                    "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"data_base64\":\"AP8=\"}",
                    &m, why),
              0);
    CHECK_INT(m.events[0].data_len, 2);
    CHECK(m.events[0].data && (unsigned char)m.events[0].data[0] == 0 && (unsigned char)m.events[0].data[1] == 0xff);
    CHECK_STR(m.events[0].content_type, "application/octet-stream");
    kumo__ce_message_free(&m);

    /* binary: values percent-decoded, Content-Type is the data's type */
    CHECK_INT(
        parse("ce-specversion: 1.0\nce-id: a%20b\nce-source: /s\nce-type: t\ncontent-type: text/plain", "hi", &m, why),
        0);
    CHECK_INT(m.mode, KUMO__CE_BINARY);
    CHECK_STR(m.events[0].id, "a b");
    CHECK_STR(m.events[0].content_type, "text/plain");
    CHECK_STR(m.events[0].data, "hi");
    kumo__ce_message_free(&m);
}

/* ---- an exchange ---------------------------------------------------------- */

static kumo__project *project(void)
{
    static kumo__unit unit;
    static kumo__event_decl events[2];
    static kumo__project p;
    unit.name = "u";
    unit.tuning.timeout_s = 2;
    unit.tuning.max_body = 256;
    events[0] = (kumo__event_decl){
        .name = "any", .kind = KUMO__EVENT_CLOUDEVENT, .unit = "u", .symbol = "on_any", .ce_type = "t"};
    events[1] = (kumo__event_decl){.name = "shop",
                                   .kind = KUMO__EVENT_CLOUDEVENT,
                                   .unit = "u",
                                   .symbol = "on_shop",
                                   .ce_type = "t",
                                   .ce_source = "/shop"};
    p.name = "p";
    p.units = &unit;
    p.nunits = 1;
    p.events = events;
    p.nevents = 2;
    return &p;
}

/* The value of the pair field `tag` named `name` in request frame w. */
static const char *frame_pair(const kumo__frame_writer *w, uint16_t tag, const char *name, char *out, size_t cap)
{
    kumo__frame_header fh;
    if (kumo__frame_header_decode(w->buf, w->len, 0, &fh) != 0)
        return NULL;
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, w->buf + KUMO__FRAME_HEADER_SIZE, fh.length);
    while (kumo__frame_next(&r, &f) > 0) {
        if (f.tag != tag)
            continue;
        if (tag != KF_HEADER) {
            snprintf(out, cap, "%.*s", (int)f.len, f.data);
            return out;
        }
        const char *n, *v;
        size_t nl, vl;
        if (kumo__frame_pair(&f, &n, &nl, &v, &vl) == 0 && nl == strlen(name) && memcmp(n, name, nl) == 0) {
            snprintf(out, cap, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

static void test_exchange(void)
{
    kumo__ce_routes *routes = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__ce_routes_build(project(), NULL, &routes, &err), 0);
    CHECK_INT(kumo__ce_routes_max_body(routes), 256);

    /* from /shop: both events; the handler's request in binary mode */
    char h[] = "ce-specversion: 1.0\nce-id: e1\nce-source: /shop\nce-type: t\nce-subject: x%25y\n"
               "content-type: application/json\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    req r;
    make(&r, "POST", h, "{\"a\":1}");
    kumo__ce_exchange x;
    CHECK_INT(kumo__ce_begin(routes, &r.in, "rid", &x), 2);
    CHECK_INT(x.nd, 2);
    kumo__frame_writer w = {0};
    char buf[200];
    CHECK_INT(kumo__ce_frame(&x, 1, "rid.1", 1000, &w), 0);
    CHECK_STR(frame_pair(&w, KF_SYMBOL, "", buf, sizeof(buf)), "on_shop");
    CHECK_STR(frame_pair(&w, KF_PATH, "", buf, sizeof(buf)), "/shop");
    CHECK_STR(frame_pair(&w, KF_BODY, "", buf, sizeof(buf)), "{\"a\":1}");
    CHECK_STR(frame_pair(&w, KF_HEADER, "ce-subject", buf, sizeof(buf)), "x%y");
    CHECK_STR(frame_pair(&w, KF_HEADER, "ce-id", buf, sizeof(buf)), "e1");
    CHECK_STR(frame_pair(&w, KF_HEADER, "content-type", buf, sizeof(buf)), "application/json");
    CHECK_STR(frame_pair(&w, KF_HEADER, "traceparent", buf, sizeof(buf)),
              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    kumo__frame_writer_free(&w);
    kumo__ce_settle(&x, 0, 204, NULL, 0);
    kumo__ce_settle(&x, 1, 500, "boom", 4);
    CHECK_INT(x.pending, 0);
    kumo__ce_finish(&x, "rid");
    CHECK_INT(x.status, 500);
    CHECK(x.body && strstr(x.body, "handler u.on_shop failed (500): boom"));
    kumo__ce_exchange_free(&x);

    /* another source: the event without a source filter only; handled: 202, no body */
    char h2[] = "ce-specversion: 1.0\nce-id: e2\nce-source: /other\nce-type: t";
    make(&r, "POST", h2, NULL);
    CHECK_INT(kumo__ce_begin(routes, &r.in, "rid", &x), 1);
    CHECK(x.d[0].decl == &project()->events[0]);
    CHECK_INT(kumo__ce_frame(&x, 0, "rid", 1000, &w), 0);
    CHECK(frame_pair(&w, KF_HEADER, "content-type", buf, sizeof(buf)) == NULL); /* no data, no type */
    CHECK(frame_pair(&w, KF_HEADER, "traceparent", buf, sizeof(buf)) != NULL && strlen(buf) == 55); /* a new one */
    kumo__frame_writer_free(&w);
    kumo__ce_settle(&x, 0, 200, NULL, 0);
    kumo__ce_finish(&x, "rid");
    CHECK_INT(x.status, 202);
    CHECK(x.body == NULL);
    kumo__ce_exchange_free(&x);

    /* no such type: 404 naming it and what is taken; GET: 405; too large: 413 */
    char h3[] = "ce-specversion: 1.0\nce-id: e3\nce-source: /s\nce-type: nope";
    make(&r, "POST", h3, NULL);
    CHECK_INT(kumo__ce_begin(routes, &r.in, "rid", &x), 0);
    CHECK_INT(x.status, 404);
    CHECK(x.body && strstr(x.body, "type 'nope' from source '/s'; it takes: t, t (source /shop)"));
    kumo__ce_exchange_free(&x);
    char h4[] = "x: y";
    make(&r, "GET", h4, NULL);
    CHECK_INT(kumo__ce_begin(routes, &r.in, "rid", &x), 0);
    CHECK_INT(x.status, 405);
    CHECK_STR(x.allow, "POST, OPTIONS");
    kumo__ce_exchange_free(&x);
    char h5[] = "ce-specversion: 1.0\nce-id: e3\nce-source: /s\nce-type: t";
    char large[300];
    memset(large, 'x', sizeof(large) - 1);
    large[sizeof(large) - 1] = '\0';
    make(&r, "POST", h5, large);
    CHECK_INT(kumo__ce_begin(routes, &r.in, "rid", &x), 0);
    CHECK_INT(x.status, 413);
    kumo__ce_exchange_free(&x);
    /* no routes at all: 404 */
    make(&r, "POST", h5, NULL);
    CHECK_INT(kumo__ce_begin(NULL, &r.in, "rid", &x), 0);
    CHECK_INT(x.status, 404);
    kumo__ce_exchange_free(&x);

    /* a batch: each event's status; the worst is the answer's */
    char h6[] = "content-type: application/cloudevents-batch+json";
    make(&r, "POST", h6,
         "[{\"specversion\":\"1.0\",\"id\":\"a\",\"source\":\"/o\",\"type\":\"t\"},"
         "{\"specversion\":\"1.0\",\"id\":\"b\",\"source\":\"/o\",\"type\":\"u\"}]");
    CHECK_INT(kumo__ce_begin(routes, &r.in, "rid", &x), 1);
    kumo__ce_settle(&x, 0, 200, NULL, 0);
    kumo__ce_finish(&x, "rid");
    CHECK_INT(x.status, 404);
    CHECK_STR(x.content_type, "application/problem+json");
    CHECK(x.body && strstr(x.body, "\"events\":[{\"id\":\"a\",\"status\":202},{\"id\":\"b\",\"status\":404,"));
    kumo__ce_exchange_free(&x);

    kumo__ce_routes_free(routes);
}

int main(void)
{
    test_parse();
    test_exchange();
    return check_report();
}
