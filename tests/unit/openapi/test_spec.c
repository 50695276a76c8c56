/*
 * test_spec.c: spec.c reads OpenAPI 3.0, 3.1 and Swagger 2.0 documents:
 * version, title, base path (servers[0].url with variables, basePath),
 * operations and their handlers; each refusal with its position.
 */
#include "openapi/openapi.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define FIX "openapi/fixtures/"

static kumo__spec *load(const char *path)
{
    kumo__spec *s = NULL;
    kumo__error err = {0};
    int rc = kumo__spec_load(path, &s, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    return s;
}

static void check_op(const kumo__operation *op, const char *method, const char *path, const char *id, const char *unit,
                     const char *symbol)
{
    CHECK_STR(op->method, method);
    CHECK_STR(op->path, path);
    CHECK(id ? op->operation_id && strcmp(op->operation_id, id) == 0 : op->operation_id == NULL);
    CHECK(unit ? op->unit && strcmp(op->unit, unit) == 0 : op->unit == NULL);
    CHECK(symbol ? op->symbol && strcmp(op->symbol, symbol) == 0 : op->symbol == NULL);
    CHECK_INT(op->unit_index, -1);
    CHECK(json_is_object(op->node));
}

static void test_30(void)
{
    kumo__spec *s = load(FIX "spec_30.yaml");
    if (s == NULL)
        return;
    CHECK_INT(s->version, 30);
    CHECK_INT(s->dialect, 30);
    CHECK_STR(s->title, "Todo API");
    CHECK_STR(s->base_path, "/v1");
    CHECK_INT(s->nops, 5);
    if (s->nops == 5) {
        check_op(&s->ops[0], "GET", "/todos", "listTodos", "todos", "list_todos");
        check_op(&s->ops[1], "POST", "/todos", "createTodo", NULL, "createTodo");
        check_op(&s->ops[2], "GET", "/todos/{id}", "get-todo", NULL, NULL); /* not a C identifier */
        check_op(&s->ops[3], "DELETE", "/todos/{id}", NULL, NULL, "delete_todo");
        check_op(&s->ops[4], "PATCH", "/todos/{id}", NULL, NULL, NULL);
        /* a sketch that declares no path parameter: {id} is implied, a required string */
        CHECK_INT(s->ops[2].nparams, 1);
        if (s->ops[2].nparams == 1) {
            CHECK_STR(s->ops[2].params[0].name, "id");
            CHECK_INT(s->ops[2].params[0].in, KUMO__IN_PATH);
            CHECK_INT(s->ops[2].params[0].required, 1);
            CHECK_STR(json_string_value(json_object_get(s->ops[2].params[0].schema, "type")), "string");
        }
        CHECK_INT(s->ops[0].nresponses, 1);
        CHECK_INT(s->ops[1].nresponses, 1);
        if (s->ops[1].nresponses == 1)
            CHECK_STR(s->ops[1].responses[0].status, "201");
        int line, col;
        CHECK(kumo__doc_pos(s->doc, s->ops[1].node, &line, &col));
        CHECK_INT(line, 17);
        CHECK_INT(col, 7);
    }
    kumo__spec_free(s);
}

static void test_31_and_20(void)
{
    kumo__spec *s = load(FIX "spec_31.yaml");
    if (s) {
        CHECK_INT(s->version, 31);
        CHECK_INT(s->dialect, 31);
        CHECK_STR(s->title, "Versioned");
        CHECK_STR(s->base_path, "/api/v2");
        CHECK_INT(s->nops, 1);
        if (s->nops == 1)
            check_op(&s->ops[0], "HEAD", "/ping", "ping", NULL, "ping");
        kumo__spec_free(s);
    }
    s = load(FIX "spec_20.json");
    if (s) {
        CHECK_INT(s->version, 20);
        CHECK_STR(s->title, "Old");
        CHECK_STR(s->base_path, "/legacy");
        CHECK_INT(s->nops, 2);
        if (s->nops == 2) {
            check_op(&s->ops[0], "GET", "/items", "listItems", "items-svc", "list_items");
            check_op(&s->ops[1], "PUT", "/items", "putItems", NULL, "putItems");
        }
        kumo__spec_free(s);
    }
    s = load(FIX "spec_relative.yaml");
    if (s) {
        CHECK_STR(s->base_path, "/base");
        CHECK_INT(s->nops, 0); /* no paths at all is fine */
        kumo__spec_free(s);
    }
}

/* document text -> the spec loads ("" want, then base path in `base`) or
 * fails with the message after "t.yaml". */
static const struct {
    const char *yaml;
    const char *want;
    const char *base;
} cases[] = {
    {"openapi: 3.0.1\nservers: [{url: 'http://h:8080'}]\n", "", ""},
    {"openapi: 3.0.1\nservers: [{url: 'https://h/a/b/?q=1'}]\n", "", "/a/b"},
    {"openapi: 3.0.1\nservers: [{url: /}]\n", "", ""},
    {"openapi: 3.0.1\nservers: [{url: 'v1/'}]\n", "", "/v1"},
    {"openapi: 3.0.1\nservers: [{url: '//cdn.example/{p}', variables: {p: {default: x}}}]\n", "", "/x"},
    {"swagger: 2.0\n", "", ""},
    {"openapi: 3.0.1\nservers: [{url: 'https://h/{v}'}]\n",
     ":2:17: server variable '{v}' has no default; add servers[0].variables.v.default"},
    {"info: {title: x}\n", ":1:1: expected 'openapi: 3.x.y' or 'swagger: \"2.0\"' at the top of the document"},
    {"openapi: 3.0\n", ":1:10: expected 'openapi: 3.x.y' or 'swagger: \"2.0\"' (a string: quote it)"},
    {"swagger: '1.2'\n", ":1:10: expected 'openapi: 3.x.y' or 'swagger: \"2.0\"' (a string: quote it)"},
    {"openapi: 3.2.0\n", ":1:10: openapi '3.2.0' is not supported; kumo reads 3.0.x and 3.1.x"},
    {"openapi: 3.0.0\npaths:\n  todos: {}\n", ":3:3: path 'todos' must start with '/'"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    $ref: '#/x'\n",
     ":4:11: $ref '#/x' points at nothing: the document has no 'x'"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    $ref: '#/x'\n    get: {}\n",
     ":5:5: path '/a' has both $ref and 'get'; move 'get' into the referenced Path Item"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    $ref: '#/x-items/a'\nx-items:\n  a: {get: {operationId: viaRef}}\n", "", ""},
    {"openapi: 3.0.0\npaths:\n  /a:\n    $ref: '#/x-items/a'\nx-items:\n  a: {$ref: '#/x-items/b'}\n  b: {$ref: "
     "'#/x-items/a'}\n",
     ":4:11: $ref cycle: '#/x-items/a' -> '#/x-items/b' -> '#/x-items/a' -> ... never reaches a path item"},
    /* parameters */
    {"openapi: 3.0.0\npaths:\n  /a/{id}:\n    get:\n      parameters:\n      - {name: id, in: path, schema: {}}\n",
     ":6:9: path parameter 'id' must have required: true"},
    {"openapi: 3.0.0\npaths:\n  /a/{id}:\n    get:\n      parameters:\n      - {name: id, in: path, required: false, "
     "schema: {}}\n",
     ":6:30: path parameter 'id' must have required: true"},
    {"openapi: 3.0.0\npaths:\n  /a/{id}:\n    get:\n      parameters:\n      - {name: id, in: path, required: true, "
     "style: deepObject, schema: {}}\n",
     ":6:53: parameter 'id': style of a path parameter must be simple, label or matrix"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: q, in: query, style: matrix, schema: "
     "{}}\n",
     ":6:37: parameter 'q': style of a query parameter must be form, spaceDelimited, pipeDelimited or deepObject"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: h, in: header, style: form, schema: "
     "{}}\n",
     ":6:38: parameter 'h': style of a header parameter must be simple"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: q, in: querystring, schema: {}}\n",
     ":6:23: parameter 'q': in: querystring is not supported"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: q, in: body, schema: {}}\n",
     ":6:23: parameter 'q': in must be path, query, header or cookie"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: q, in: query}\n",
     ":6:9: parameter 'q' has no schema; add one (or content:)"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: q, in: query, schema: {}, content: "
     "{a/b: {}}}\n",
     ":6:42: parameter 'q' has both schema and content; keep one"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: q, in: query, content: {a/b: {}, c/d: "
     "{}}}\n",
     ":6:39: parameter 'q': content must map exactly one media type"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: q, in: query, schema: {}}\n      - "
     "{name: q, in: query, schema: {}}\n",
     ":7:9: parameter 'q' in query is declared twice; keep one"},
    {"openapi: 3.0.0\npaths:\n  /a/{id}:\n    get:\n      parameters:\n      - {name: id, in: path, required: true, "
     "allowEmptyValue: true, schema: {}}\n",
     ":6:46: parameter 'id': allowEmptyValue applies only to query parameters; remove it"},
    {"openapi: 3.0.0\npaths:\n  /a/{id}/{tag}:\n    get:\n      parameters:\n      - {name: id, in: path, required: "
     "true, schema: {}}\n",
     ":3:3: path '/a/{id}/{tag}' has the parameter {tag} but GET declares no path parameter 'tag'; add {name: tag, "
     "in: path, required: true, schema: {type: string}}"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - {name: id, in: path, required: true, schema: "
     "{}}\n",
     ":3:3: GET /a declares the path parameter 'id', which the path does not have; remove it or add {id} to the "
     "path"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - $ref: 'https://example.com/p.yaml#/P'\n",
     ":6:15: $ref 'https://example.com/p.yaml#/P' is remote; kumo loads only local files; download it next to the "
     "spec"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - $ref: 'urn:x:y'\n",
     ":6:15: $ref 'urn:x:y' is not a relative file path; kumo loads only local files"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - $ref: '#/components/parameters/Limit'\n"
     "components: {parameters: {limt: {}}}\n",
     ":6:15: $ref '#/components/parameters/Limit' points at nothing: /components has no parameter 'Limit'"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - $ref: 'nowhere.yaml#/P'\n",
     ":6:15: $ref 'nowhere.yaml#/P' points at nothing: cannot open "},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - $ref: '#/components/parameters/A'\n"
     "components: {parameters: {A: {$ref: '#/components/parameters/A'}}}\n",
     ":6:15: $ref cycle: '#/components/parameters/A' -> '#/components/parameters/A' -> ... never reaches a parameter"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters:\n      - $ref: '#/components/parameters/A/x'\n"
     "components: {parameters: {A: [1]}}\n",
     ":6:15: $ref '#/components/parameters/A/x' points at nothing: /components/parameters/A has no item 'x' (it has "
     "1)"},
    /* bodies and responses */
    {"openapi: 3.0.0\npaths:\n  /a:\n    post:\n      requestBody: {content: {multipart/form-data: {schema: {}, "
     "encoding: {f: {contentType: image/png}}}}}\n",
     ":5:65: 'encoding' is not supported: kumo parses multipart/form-data bodies"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    post:\n      requestBody: {content: {json: {}}}\n",
     ":5:31: 'json' is not a media type; write type/subtype, like application/json"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    post:\n      requestBody: {required: true}\n",
     ":5:20: requestBody has no content"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses: {ok: {description: x}}\n",
     ":5:19: 'ok' is not a response status; write a code (200), a range (2XX) or default"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses: {'200': {$ref: '#/components/responses/Nope'}}\n",
     ":5:33: $ref '#/components/responses/Nope' points at nothing: the document has no 'components'"},
    {"openapi: 3.1.0\nwebhooks:\n  newPet:\n    post:\n      requestBody: {content: {application/json: {schema: "
     "{type: object}}}}\n      responses: {'200': {description: ok}}\n",
     "", ""},
    {"openapi: 3.0.0\nservers: [{url: /v1}]\npaths:\n  /a:\n    servers: [{url: 'https://other/v1/'}]\n    get: "
     "{servers: "
     "[{url: /v1}]}\n",
     "", "/v1"},
    {"openapi: 3.0.0\nservers: [{url: /v1}]\npaths:\n  /a:\n    get: {servers: [{url: /v2}]}\n",
     ":5:11: these servers put the API under '/v2', but the document's servers[0] puts it under '/v1'; kumo routes "
     "under one base path: remove these servers or give them the same path"},
    {"openapi: 3.0.0\nwebhooks: {}\n", ":2:1: webhooks are an OpenAPI 3.1 field; this document is OpenAPI 3.0"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    GET: {}\n",
     ":4:5: 'GET' is not a method or Path Item field; methods are lower case: get, put, post, delete, options, head, "
     "patch, trace"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: yes\n", ":4:10: get /a must be a mapping (an Operation Object)"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {x-kumo-handler: 'Todos.list'}\n",
     ":4:27: x-kumo-handler must be \"UNIT.SYMBOL\" or \"SYMBOL\" (UNIT: a-z, 0-9, '_', '-'; SYMBOL: a C "
     "identifier), like \"todos.list_todos\""},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {x-kumo-handler: 'a.b.c'}\n", ":4:27: x-kumo-handler must be"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {x-kumo-handler: '9lives'}\n", ":4:27: x-kumo-handler must be"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {x-kumo-handler: 'u.'}\n", ":4:27: x-kumo-handler must be"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {x-kumo-handler: 12}\n", ":4:27: x-kumo-handler must be"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {x-kumo-handler: 'u.sym'}\n", "", ""},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {operationId: list}\n  /b:\n    put: {operationId: list}\n",
     ":6:24: operationId 'list' is also used at line 4, column 24; make them unique"},
    {"openapi: 3.0.0\npaths:\n  /a:\n    get: {operationId: [x]}\n", ":4:24: operationId must be a string"},
};

static void test_table(void)
{
    char dir[] = "/tmp/kumo-test-spec-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/t.yaml", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            CHECK(!"fopen");
            break;
        }
        fputs(cases[i].yaml, f);
        fclose(f);
        kumo__spec *s = NULL;
        kumo__error err = {0};
        int rc = kumo__spec_load(path, &s, &err);
        if (cases[i].want[0] == '\0') {
            CHECK_INT(rc, 0);
            if (rc)
                fprintf(stderr, "case %zu: %s\n", i, err.msg);
            if (s)
                CHECK_STR(s->base_path, cases[i].base);
            kumo__spec_free(s);
            continue;
        }
        CHECK_INT(rc, -EINVAL);
        CHECK(s == NULL);
        char want[2048];
        snprintf(want, sizeof want, "%s%s", path, cases[i].want);
        if (strncmp(err.msg, want, strlen(want)) != 0) {
            fprintf(stderr, "case %zu:\n  got  %s\n  want %s\n", i, err.msg, want);
            CHECK(!"message");
        } else {
            CHECK(1);
        }
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_30();
    test_31_and_20();
    test_table();
    return check_report();
}
