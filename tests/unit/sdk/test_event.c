/*
 * test_event.c: the CloudEvents a request carries as a handler reads them
 * (src/sdk/event.c): kumo_event_count/_at in the binary, structured and
 * batch modes (data vs data_base64, a JSON string with a non-JSON type,
 * receive counts), kumo_event_attr on a structured event, what is not an
 * event (a plain request, a malformed batch), and kumo_event_fail's
 * batchItemFailures body.
 */
#include "check.h"
#include "sdk/sdk.h"

#include <stdlib.h>

typedef struct fixture {
    kumo_ctx ctx;
    kumo_request req;
    kumo_response res;
    kumo__pair headers[16];
} fixture;

static void setup(fixture *f, const char *content_type, const char *body)
{
    memset(f, 0, sizeof(*f));
    kumo__arena_init(&f->ctx.arena);
    kumo__invocation_init(&f->ctx, &f->req, &f->res);
    f->ctx.request_id = "req-1";
    f->ctx.function = "mail";
    f->req.method = "POST";
    f->req.path = "/notify";
    f->req.headers = f->headers;
    if (content_type)
        f->headers[f->req.nheaders++] = (kumo__pair){"content-type", content_type};
    f->req.body = body;
    f->req.body_len = body ? strlen(body) : 0;
}

static void add_header(fixture *f, const char *name, const char *value)
{
    f->headers[f->req.nheaders++] = (kumo__pair){name, value};
}

static void teardown(fixture *f)
{
    kumo__invocation_clear(&f->ctx, &f->req, &f->res);
    CHECK(f->req.events == NULL && f->res.failed == NULL);
    kumo__arena_free(&f->ctx.arena);
}

static int data_is(const kumo_event *ev, const char *want)
{
    return ev->data && ev->len == strlen(want) && memcmp(ev->data, want, ev->len) == 0;
}

static void test_plain(void)
{
    fixture f;
    kumo_event ev;
    setup(&f, "application/json", "{\"a\":1}");
    CHECK_INT(kumo_event_count(&f.req), 0);
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), KUMO_ENOTFOUND);
    CHECK_INT(kumo_event_at(&f.req, 0, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_event_at(NULL, 0, &ev), KUMO_EINVAL);
    CHECK_INT(kumo_event_count(NULL), 0);
    teardown(&f);
}

static void test_binary(void)
{
    fixture f;
    kumo_event ev;
    setup(&f, "application/octet-stream", "hello");
    add_header(&f, "ce-specversion", "1.0");
    add_header(&f, "ce-id", "42");
    add_header(&f, "ce-type", "dev.kumo.queue.message");
    add_header(&f, "ce-source", "/kumo/p/queues/q");
    add_header(&f, "ce-subject", "notify");
    add_header(&f, "kumo-receive-count", "3");
    CHECK_INT(kumo_event_count(&f.req), 1);
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK_STR(ev.id, "42");
    CHECK_STR(ev.type, "dev.kumo.queue.message");
    CHECK_STR(ev.source, "/kumo/p/queues/q");
    CHECK_STR(ev.subject, "notify");
    CHECK(ev.time == NULL);
    CHECK_STR(ev.content_type, "application/octet-stream");
    CHECK(data_is(&ev, "hello"));
    CHECK_INT(ev.receives, 3);
    CHECK_INT(kumo_event_at(&f.req, 1, &ev), KUMO_ENOTFOUND);
    CHECK_STR(kumo_event_id(&f.req), "42");
    teardown(&f);

    /* No body, no receive count (a schedule tick has one; an outside event may not). */
    setup(&f, NULL, NULL);
    add_header(&f, "ce-specversion", "1.0");
    add_header(&f, "ce-id", "x");
    CHECK_INT(kumo_event_count(&f.req), 1);
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK(ev.content_type == NULL && ev.len == 0 && ev.data != NULL && ev.receives == 0);
    teardown(&f);
}

static void test_structured(void)
{
    fixture f;
    kumo_event ev;
    setup(&f, "application/cloudevents+json; charset=utf-8",
          "{\"specversion\":\"1.0\",\"id\":\"e-1\",\"source\":\"/shop\",\"type\":\"com.example.order.created\","
          "\"time\":\"2026-01-02T03:04:05Z\",\"datacontenttype\":\"application/json\",\"data\":{\"b\":2,\"a\":[1,"
          "\"x\"]},\"kumoreceivecount\":2,\"priority\":7,\"urgent\":true,\"nothing\":null}");
    CHECK_INT(kumo_event_count(&f.req), 1);
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK_STR(ev.id, "e-1");
    CHECK_STR(ev.type, "com.example.order.created");
    CHECK_STR(ev.source, "/shop");
    CHECK_STR(ev.time, "2026-01-02T03:04:05Z");
    CHECK(ev.subject == NULL);
    CHECK_STR(ev.content_type, "application/json");
    CHECK(data_is(&ev, "{\"b\":2,\"a\":[1,\"x\"]}")); /* member order kept */
    CHECK_INT(ev.receives, 2);
    /* The attributes come from the body, not from ce-* headers. */
    CHECK_STR(kumo_event_attr(&f.req, "specversion"), "1.0");
    CHECK_STR(kumo_event_type(&f.req), "com.example.order.created");
    CHECK_STR(kumo_event_id(&f.req), "e-1");
    CHECK_STR(kumo_event_source(&f.req), "/shop");
    CHECK_STR(kumo_event_time(&f.req), "2026-01-02T03:04:05Z");
    CHECK(kumo_event_subject(&f.req) == NULL);
    CHECK_STR(kumo_event_attr(&f.req, "priority"), "7");
    CHECK_STR(kumo_event_attr(&f.req, "urgent"), "true");
    CHECK(kumo_event_attr(&f.req, "nothing") == NULL);
    CHECK(kumo_event_attr(&f.req, "data") == NULL);
    CHECK(kumo_event_attr(&f.req, "Type") == NULL);
    teardown(&f);

    /* A JSON string with a non-JSON type is its text; with a JSON type, JSON. */
    setup(&f, "application/cloudevents+json",
          "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\"datacontenttype\":\"text/plain\","
          "\"data\":\"plain \\\"text\\\"\"}");
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK(data_is(&ev, "plain \"text\""));
    teardown(&f);
    setup(&f, "application/cloudevents+json",
          "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\"data\":\"quoted\"}");
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK(data_is(&ev, "\"quoted\""));
    CHECK(ev.content_type == NULL);
    teardown(&f);
    setup(&f, "application/cloudevents+json",
          "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
          "\"datacontenttype\":\"application/vnd.x+json\",\"data\":\"q\"}");
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK(data_is(&ev, "\"q\""));
    teardown(&f);

    /* A structured body that is not an object: no event, no attributes. */
    setup(&f, "application/cloudevents+json", "[1,2]");
    add_header(&f, "ce-specversion", "1.0");
    add_header(&f, "ce-id", "from-header");
    CHECK_INT(kumo_event_count(&f.req), 0);
    CHECK(kumo_event_id(&f.req) == NULL);
    teardown(&f);
    setup(&f, "application/cloudevents+json", "{not json");
    CHECK_INT(kumo_event_count(&f.req), 0);
    teardown(&f);
}

static void test_batch(void)
{
    fixture f;
    kumo_event ev;
    setup(&f, "application/cloudevents-batch+json",
          "[{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/kumo/p/queues/q\",\"type\":\"dev.kumo.queue.message\","
          "\"subject\":\"notify\",\"datacontenttype\":\"application/octet-stream\",\"data\":{\"to\":\"a@b\"},"
          "\"kumoreceivecount\":1},"
          "{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/kumo/p/queues/q\",\"type\":\"dev.kumo.queue.message\","
          "\"datacontenttype\":\"application/octet-stream\",\"data_base64\":\"AAH/aGk=\",\"kumoreceivecount\":4},"
          "{\"specversion\":\"1.0\",\"id\":\"3\",\"source\":\"s\",\"type\":\"t\"}]");
    add_header(&f, "kumo-batch-size", "3");
    CHECK_INT(kumo_event_count(&f.req), 3);
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK_STR(ev.id, "1");
    CHECK_STR(ev.subject, "notify");
    CHECK(data_is(&ev, "{\"to\":\"a@b\"}"));
    CHECK_INT(ev.receives, 1);
    CHECK_INT(kumo_event_at(&f.req, 1, &ev), 0);
    CHECK_STR(ev.id, "2");
    CHECK_INT(ev.len, 5);
    CHECK(ev.len == 5 && memcmp(ev.data, "\x00\x01\xffhi", 5) == 0);
    CHECK_INT(ev.receives, 4);
    CHECK_INT(kumo_event_at(&f.req, 2, &ev), 0);
    CHECK(ev.len == 0 && ev.receives == 0 && ev.content_type == NULL);
    CHECK_INT(kumo_event_at(&f.req, 3, &ev), KUMO_ENOTFOUND);
    /* A batch has no single event's attributes. */
    CHECK(kumo_event_id(&f.req) == NULL);
    teardown(&f);

    /* Not an array of objects: no events. */
    setup(&f, "application/cloudevents-batch+json", "[{\"id\":\"1\"}, 2]");
    CHECK_INT(kumo_event_count(&f.req), 0);
    teardown(&f);
    setup(&f, "Application/CloudEvents-Batch+JSON", "[]");
    CHECK_INT(kumo_event_count(&f.req), 0);
    teardown(&f);
    setup(&f, "application/cloudevents-batch+json", "{\"id\":\"1\"}");
    CHECK_INT(kumo_event_count(&f.req), 0);
    teardown(&f);
    /* Bad base64: the event is there, without data. */
    setup(&f, "application/cloudevents-batch+json", "[{\"id\":\"1\",\"data_base64\":\"!!\"}]");
    CHECK_INT(kumo_event_count(&f.req), 1);
    CHECK_INT(kumo_event_at(&f.req, 0, &ev), 0);
    CHECK(ev.len == 0);
    teardown(&f);
}

static void test_fail(void)
{
    fixture f;
    setup(&f, NULL, NULL);
    kumo_response *res = &f.res;
    CHECK_INT(kumo_event_fail(res, NULL), KUMO_EINVAL);
    CHECK_INT(kumo_event_fail(res, ""), KUMO_EINVAL);
    CHECK_INT(kumo_event_fail(res, "\xff\xfe"), KUMO_EINVAL);
    CHECK_INT(kumo_event_fail(NULL, "1"), KUMO_EINVAL);
    CHECK(res->body == NULL && res->status == 0);

    CHECK_INT(kumo_event_fail(res, "7"), 0);
    CHECK_INT(res->status, 200);
    CHECK_STR(res->body, "{\"batchItemFailures\":[{\"itemIdentifier\":\"7\"}]}");
    CHECK_INT(kumo_event_fail(res, "a\"b"), 0);
    CHECK_INT(kumo_event_fail(res, "7"), 0); /* once */
    CHECK_STR(res->body, "{\"batchItemFailures\":[{\"itemIdentifier\":\"7\"},{\"itemIdentifier\":\"a\\\"b\"}]}");
    CHECK_INT(res->body_len, strlen(res->body));
    CHECK_INT(res->nheaders, 1);
    CHECK_STR(res->headers[0].value, "application/json");
    /* Many: the list grows. */
    for (int i = 0; i < 100; i++) {
        char id[16];
        snprintf(id, sizeof(id), "m%d", i);
        CHECK_INT(kumo_event_fail(res, id), 0);
    }
    CHECK_INT(res->nfailed, 102);
    json_t *doc = json_loadb(res->body, res->body_len, 0, NULL);
    CHECK(doc && json_array_size(json_object_get(doc, "batchItemFailures")) == 102);
    json_decref(doc);
    teardown(&f);

    /* A status the handler set stays. */
    setup(&f, NULL, NULL);
    kumo_response_status(&f.res, 503);
    CHECK_INT(kumo_event_fail(&f.res, "1"), 0);
    CHECK_INT(f.res.status, 503);
    teardown(&f);
}

int main(void)
{
    test_plain();
    test_binary();
    test_structured();
    test_batch();
    test_fail();
    return check_report();
}
