/*
 * test_docs.c: docs.c's served bodies without a server: /openapi.json is the
 * spec minus x-kumo-* keys (and only where they are extensions), the YAML
 * reads back as the same value through kumo's own loader (tricky strings
 * included), referenced files are served under /openapi/ unless they lie
 * outside the spec's directory, ETags and If-None-Match, and the page
 * names no other host. The page's Events section carries every event of
 * every kind with what kumo.yaml says of it (issue 13). Prepared bodies
 * are made on the first look-up only, once, when many threads ask at once
 * (issue 19).
 */
#include "gateway/docs.h"

#include "base/yaml_emit.h"
#include "check.h"
#include "project/project.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FIX "gateway/fixtures/docs/openapi.yaml"

static json_t *parse_json(const kumo__docs_entry *e)
{
    json_error_t je;
    json_t *v = json_loadb(e->body, e->len, 0, &je);
    if (v == NULL)
        fprintf(stderr, "bad JSON in %s: %s (line %d)\n", e->path, je.text, je.line);
    return v;
}

/* YAML text -> JSON through kumo's loader; NULL (and a message) on error. */
static json_t *parse_yaml(const char *name, const char *text)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    if (kumo__doc_parse(name, text, strlen(text), &doc, &err) != 0) {
        fprintf(stderr, "YAML did not parse: %s\n%s\n", err.msg, text);
        return NULL;
    }
    json_t *v = json_incref(kumo__doc_root(doc));
    kumo__doc_free(doc);
    return v;
}

static const json_t *at(const json_t *root, const char *ptr)
{
    /* a small JSON Pointer walk with '.' separators for readability here */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", ptr);
    const json_t *v = root;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    return v;
}

static void test_documents(void)
{
    kumo__spec *spec = NULL;
    kumo__docs *d = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__spec_load(FIX, &spec, &err), 0);
    if (spec == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_INT(kumo__docs_build(spec, "fixture <&>", &d, &err), 0);
    if (d == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        kumo__spec_free(spec);
        return;
    }

    const kumo__docs_entry *js = kumo__docs_find(d, "/openapi.json", 13);
    CHECK(js != NULL);
    CHECK_STR(js->content_type, "application/json");
    json_t *j = parse_json(js);
    CHECK(j != NULL);
    /* removed where they are extensions */
    CHECK(at(j, "x-kumo-top") == NULL);
    CHECK(at(j, "info.x-kumo-note") == NULL);
    CHECK(at(j, "paths./pets/{id}.x-kumo-path") == NULL);
    CHECK(at(j, "paths./pets/{id}.get.x-kumo-handler") == NULL);
    CHECK(at(j, "paths./pets/{id}.get.responses.x-kumo-response") == NULL);
    CHECK(at(j, "paths./pets/{id}.get.responses.default.x-kumo-extra") == NULL);
    CHECK(strstr(js->body, "removed") == NULL);
    /* kept where they are data or names */
    CHECK_STR(json_string_value(at(j, "info.x-other")), "kept");
    CHECK_STR(
        json_string_value(at(j, "paths./pets/{id}.get.responses.200.content.application/json.example.x-kumo-data")),
        "kept");
    CHECK(at(j, "paths./pets/{id}.get.responses.200.headers.x-kumo-trace") != NULL);
    CHECK(at(j, "components.schemas.x-kumo-name") != NULL);
    CHECK(at(j, "components.schemas.Strings.properties.x-kumo-prop") != NULL);
    CHECK(at(j, "components.schemas.Strings.enum.0.x-kumo-in-enum") != NULL);
    CHECK_STR(json_string_value(at(j, "paths./pets/{id}.get.parameters.0.$ref")), "schemas/params.yaml#/Id");
    /* everything else as written: compare with a copy stripped by hand */
    json_t *expect = json_deep_copy(kumo__doc_root(spec->doc));
    json_object_del(expect, "x-kumo-top");
    json_object_del(json_object_get(expect, "info"), "x-kumo-note");
    json_t *item = json_object_get(json_object_get(expect, "paths"), "/pets/{id}");
    json_object_del(item, "x-kumo-path");
    json_object_del(json_object_get(item, "get"), "x-kumo-handler");
    json_t *responses = json_object_get(json_object_get(item, "get"), "responses");
    json_object_del(responses, "x-kumo-response");
    json_object_del(json_object_get(responses, "default"), "x-kumo-extra");
    CHECK(json_equal(j, expect));
    json_decref(expect);

    /* the YAML reads back as the same value */
    const kumo__docs_entry *ys = kumo__docs_find(d, "/openapi.yaml", 13);
    CHECK(ys != NULL);
    CHECK(strncmp(ys->content_type, "application/yaml", 16) == 0);
    json_t *y = parse_yaml("openapi.yaml", ys->body);
    CHECK(y != NULL && json_equal(y, j));
    CHECK(strstr(ys->body, "description: |\n    Two lines\n    of text.\n") != NULL);
    CHECK(strstr(ys->body, "\"200\":") != NULL);
    json_decref(y);

    /* referenced files, stripped, in their own format */
    const kumo__docs_entry *pet = kumo__docs_find(d, "/openapi/schemas/pet.yaml", 25);
    CHECK(pet != NULL);
    if (pet) {
        CHECK(strstr(pet->body, "x-kumo-schema") == NULL);
        CHECK(strstr(pet->body, "owner.json#/Owner") != NULL);
    }
    const kumo__docs_entry *owner = kumo__docs_find(d, "/openapi/schemas/owner.json", 27);
    CHECK(owner != NULL);
    if (owner) {
        CHECK_STR(owner->content_type, "application/json");
        json_t *o = parse_json(owner);
        CHECK(o && at(o, "Owner.properties.name") != NULL && at(o, "Owner.x-kumo-owner") == NULL);
        json_decref(o);
    }
    CHECK(kumo__docs_find(d, "/openapi/schemas/params.yaml", 28) != NULL);
    CHECK(kumo__docs_find(d, "/openapi/openapi.yaml", 21) != NULL);
    CHECK(kumo__docs_find(d, "/openapi/../outside.yaml", 24) == NULL);
    CHECK(kumo__docs_find(d, "/outside.yaml", 13) == NULL);
    CHECK(strstr(js->body, "must not be served") == NULL);

    /* the page: same-origin only, title escaped, base path embedded */
    const kumo__docs_entry *page = kumo__docs_find(d, "/docs", 5);
    CHECK(page != NULL && kumo__docs_find(d, "/docs/", 6) != NULL);
    if (page) {
        CHECK(strncmp(page->content_type, "text/html", 9) == 0);
        CHECK(strstr(page->body, "http://") == NULL && strstr(page->body, "https://") == NULL);
        CHECK(strstr(page->body, "<title>fixture &lt;&amp;&gt; ") != NULL);
        CHECK(strstr(page->body, "\"basePath\":\"\\/v1\"") != NULL);
        CHECK(strstr(page->body, "{{") == NULL || strstr(page->body, "{{TITLE}}") == NULL);
    }
    CHECK(kumo__docs_find(d, "/doc", 4) == NULL);
    CHECK(kumo__docs_find(d, "/openapi.json/", 14) == NULL);

    /* ETags: quoted, stable per content, different across documents */
    CHECK(js->etag[0] == '"' && js->etag[strlen(js->etag) - 1] == '"');
    CHECK(strcmp(js->etag, ys->etag) != 0);
    kumo__docs *d2 = NULL;
    CHECK_INT(kumo__docs_build(spec, "fixture <&>", &d2, &err), 0);
    if (d2)
        CHECK_STR(kumo__docs_find(d2, "/openapi.json", 13)->etag, js->etag);
    kumo__docs_free(d2);

    json_decref(j);
    kumo__docs_free(d);
    kumo__spec_free(spec);
}

static void test_etag_matches(void)
{
    const char *tag = "\"abc\"";
    CHECK(kumo__docs_etag_matches("\"abc\"", 5, tag));
    CHECK(kumo__docs_etag_matches("W/\"abc\"", 7, tag));
    CHECK(kumo__docs_etag_matches("\"x\", \"abc\"", 10, tag));
    CHECK(kumo__docs_etag_matches("*", 1, tag));
    CHECK(!kumo__docs_etag_matches("\"abcd\"", 6, tag));
    CHECK(!kumo__docs_etag_matches("\"ab\"", 4, tag));
    CHECK(!kumo__docs_etag_matches("", 0, tag));
    CHECK(!kumo__docs_etag_matches("abc", 3, tag));
}

/* Strings and numbers that YAML readers resolve to other types unless
 * quoted; each must come back as written. */
static void test_yaml_round_trip(void)
{
    static const char *const cases[] = {
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "n",
        "true",
        "False",
        "null",
        "Null",
        "~",
        "",
        " ",
        "1",
        "1.0",
        "-1",
        "0x1f",
        "0o17",
        "017",
        "1_000",
        "1e3",
        ".inf",
        "-.Inf",
        ".nan",
        "12:30",
        "190:20:30",
        "2026-01-01",
        "2026-01-01T10:00:00Z",
        ":",
        "a:",
        "a: b",
        "a:b",
        "#x",
        "a #b",
        "a#b",
        "- x",
        "-",
        "[x",
        "]",
        "{x",
        "}",
        "*x",
        "&x",
        "!x",
        "|",
        ">",
        "%x",
        "@x",
        "`x",
        "'",
        "\"",
        "\\",
        "tab\there",
        " lead",
        "trail ",
        "line\n",
        "two\nlines",
        "two\nlines\n",
        "ends\n\n",
        "\nstarts",
        "  indented\nblock",
        "trailing \nspace",
        "caf\xc3\xa9",
        "\xe2\x80\xa8",
        "\xc2\x85",
        "\xc2\x80",
        "\xf0\x9f\x98\x80",
        "\xef\xbb\xbf"
        "bom",
        "\x01\x7f",
        "=",
        "<<",
        "?",
        "? x",
        "a\rb",
        "/todos/{id}",
        "$ref",
        "about:blank",
        "http://x/y",
        "x-kumo-handler",
        "Buy milk",
        "it's",
        "a, b",
        "{}",
        "[]",
    };
    json_t *strings = json_array(), *keys = json_object();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_array_append_new(strings, json_string(cases[i]));
        json_object_set_new(keys, cases[i], json_integer((json_int_t)i));
    }
    json_t *doc =
        json_pack("{s:o, s:o, s:[f,f,f,f,f,I,I], s:{}, s:[], s:[[s,[]],{s:{}}], s:n, s:b, s:b}", "strings", strings,
                  "keys", keys, "numbers", 1.0, 1e20, -0.5, 1.5e-7, 123456.789, (json_int_t)9007199254740993LL,
                  (json_int_t)-42, "empty_object", "empty_array", "nested", "a", "k", "none", "yes", 1, "no", 0);
    CHECK(doc != NULL);
    char *text = kumo__yaml_dump(doc);
    CHECK(text != NULL);
    json_t *back = text ? parse_yaml("round-trip.yaml", text) : NULL;
    CHECK(back != NULL);
    if (back && !json_equal(back, doc)) {
        CHECK(0);
        char *a = json_dumps(doc, JSON_INDENT(1)), *b = json_dumps(back, JSON_INDENT(1));
        fprintf(stderr, "YAML:\n%s\nexpected:\n%s\ngot:\n%s\n", text, a, b);
        free(a);
        free(b);
    }
    /* plain where that is safe: readable output */
    CHECK(text && strstr(text, "- Buy milk\n") != NULL);
    CHECK(text && strstr(text, "- \"yes\"\n") != NULL);
    CHECK(text && strstr(text, "- 1.0\n") != NULL);
    CHECK(text && strstr(text, "- 1.0e+20\n") != NULL);
    json_decref(back);
    free(text);

    /* a scalar document and an empty one */
    json_t *s = json_string("no");
    text = kumo__yaml_dump(s);
    back = text ? parse_yaml("scalar.yaml", text) : NULL;
    CHECK(back && json_equal(back, s));
    json_decref(back);
    json_decref(s);
    free(text);
    json_t *e = json_object();
    text = kumo__yaml_dump(e);
    CHECK(text && strcmp(text, "{}\n") == 0);
    json_decref(e);
    free(text);
    json_decref(doc);
}

/* One event of each kind, as the loader fills them in (no schedule
 * compiled: the page then lists no fire times). */
static void test_events_every_kind(void)
{
    kumo__spec *spec = NULL;
    kumo__docs *d = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__spec_load(FIX, &spec, &err), 0);
    if (spec == NULL)
        return;
    kumo__event_decl ev[5] = {
        {.name = "purge", .kind = KUMO__EVENT_SCHEDULE, .unit = "todos", .symbol = "purge", .schedule = "0 3 * * *"},
        {.name = "notify",
         .kind = KUMO__EVENT_QUEUE,
         .unit = "mail",
         .symbol = "send",
         .queue = "notes",
         .batch = 10,
         .window_ms = 200,
         .visibility_ms = 30000,
         .max_receives = 5,
         .backoff_ms = 1000,
         .data = "#/components/schemas/Pet"},
        {.name = "billing",
         .kind = KUMO__EVENT_TOPIC,
         .unit = "bill",
         .symbol = "charge",
         .topic = "orders",
         .queue = "orders.billing",
         .batch = 1,
         .visibility_ms = 30000,
         .max_receives = 3,
         .backoff_ms = 1000},
        {.name = "thumbs",
         .kind = KUMO__EVENT_BLOB,
         .unit = "media",
         .symbol = "thumb",
         .blob = "attachments",
         .queue = "attachments.thumbs",
         .on = KUMO__BLOB_CREATED,
         .prefix = "img/",
         .batch = 1,
         .visibility_ms = 30000,
         .max_receives = 5,
         .backoff_ms = 1000},
        {.name = "external",
         .kind = KUMO__EVENT_CLOUDEVENT,
         .unit = "bill",
         .symbol = "ext",
         .ce_type = "com.example.order.created"},
    };
    kumo__project p = {.name = "kinds", .events = ev, .nevents = 5};
    CHECK_INT(kumo__docs_build_events(spec, &p, 1774738800000, &d, &err), 0);
    const kumo__docs_entry *page = d ? kumo__docs_find(d, "/docs", 5) : NULL;
    CHECK(page != NULL);
    if (page) {
        static const char open[] = "<script id=\"kumo-config\" type=\"application/json\">";
        char *body = strndup(page->body, page->len);
        char *start = body ? strstr(body, open) : NULL, *end = start ? strstr(start, "</script>") : NULL;
        CHECK(end != NULL);
        json_t *cfg = NULL;
        if (end) {
            *end = '\0';
            json_error_t je;
            cfg = json_loads(start + sizeof(open) - 1, 0, &je);
        }
        CHECK(cfg != NULL);
        const json_t *list = at(cfg, "events.list");
        CHECK_INT((int)json_array_size(list), 5);
        CHECK_STR(json_string_value(at(list, "0.kind")), "schedule");
        CHECK_STR(json_string_value(at(list, "1.kind")), "queue");
        CHECK_STR(json_string_value(at(list, "1.queue")), "notes");
        CHECK_STR(json_string_value(at(list, "1.dead_letter_queue")), "notes-dead");
        CHECK_INT((int)json_integer_value(at(list, "1.batch")), 10);
        CHECK_INT((int)json_integer_value(at(list, "1.window_ms")), 200);
        CHECK_STR(json_string_value(at(list, "1.data")), "#/components/schemas/Pet");
        CHECK_STR(json_string_value(at(list, "2.topic")), "orders");
        CHECK_STR(json_string_value(at(list, "2.dead_letter_queue")), "orders.billing-dead");
        CHECK_STR(json_string_value(at(list, "3.blob")), "attachments");
        CHECK_STR(json_string_value(at(list, "3.on.0")), "created");
        CHECK(at(list, "3.on.1") == NULL);
        CHECK_STR(json_string_value(at(list, "3.prefix")), "img/");
        CHECK(json_is_null(at(list, "3.suffix")));
        CHECK_STR(json_string_value(at(list, "4.type")), "com.example.order.created");
        CHECK(json_is_null(at(list, "4.source")));
        CHECK_STR(json_string_value(at(list, "4.handler")), "bill.ext");
        json_decref(cfg);
        free(body);
    }
    kumo__docs_free(d);
    kumo__spec_free(spec);
}

#define RACERS 16

static const char *const served_paths[] = {"/openapi.json", "/openapi.yaml", "/docs", "/docs/",
                                           "/openapi/schemas/pet.yaml"};

typedef struct racer {
    const kumo__docs *d;
    pthread_barrier_t *go;
    const kumo__docs_entry *seen[5];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    for (size_t k = 0; k < 5; k++)
        r->seen[k] = kumo__docs_find(r->d, served_paths[k], strlen(served_paths[k]));
    return NULL;
}

/* kumo__docs_prepare makes nothing; the first look-ups, from many threads
 * at once, make every body once: all see the same entries, with the bodies
 * kumo__docs_build makes. */
static void test_prepared_once(void)
{
    kumo__spec *spec = NULL;
    kumo__docs *lazy = NULL, *eager = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__spec_load(FIX, &spec, &err), 0);
    if (spec == NULL)
        return;
    CHECK_INT(kumo__docs_prepare(spec, "fixture <&>", NULL, 0, &lazy, &err), 0);
    CHECK_INT(kumo__docs_build(spec, "fixture <&>", &eager, &err), 0);
    if (lazy == NULL || eager == NULL)
        goto out;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    racer r[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer){.d = lazy, .go = &go};
        CHECK_INT(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (size_t k = 0; k < 5; k++) {
        const kumo__docs_entry *want = kumo__docs_find(eager, served_paths[k], strlen(served_paths[k]));
        CHECK(want != NULL && r[0].seen[k] != NULL);
        for (int i = 1; i < RACERS; i++)
            CHECK(r[i].seen[k] == r[0].seen[k]); /* one table, made once */
        if (want && r[0].seen[k]) {
            CHECK(r[0].seen[k]->len == want->len && memcmp(r[0].seen[k]->body, want->body, want->len) == 0);
            CHECK_STR(r[0].seen[k]->etag, want->etag);
        }
    }
    CHECK(kumo__docs_find(lazy, "/openapi/../outside.yaml", 24) == NULL);
out:
    kumo__docs_free(lazy);
    kumo__docs_free(eager);
    kumo__spec_free(spec);
}

int main(void)
{
    test_documents();
    test_events_every_kind();
    test_etag_matches();
    test_yaml_round_trip();
    test_prepared_once();
    return check_report();
}
