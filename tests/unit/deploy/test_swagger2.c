/*
 * test_swagger2_write.c: OpenAPI 3 -> Swagger 2.0 (src/deploy/swagger2_write.c).
 *
 * The todo example's document converted, written as YAML and read back
 * through kumo's own Swagger 2.0 loader (kumo__spec_load) gives the same
 * operations: methods, paths, operationIds, parameters, body media types
 * and response statuses. Then each construct Swagger 2.0 cannot express
 * is refused with file:line:column and the JSON pointer of the construct.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/yaml_emit.h"
#include "check.h"
#include "deploy/swagger2_write.h"
#include "deploy/target.h"

#define TODO_SPEC "../../examples/todo/openapi.yaml"

static char tmpdir[] = "/tmp/kumo-sw2-XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const kumo__operation *find_op(const kumo__spec *s, const char *method, const char *path)
{
    for (size_t i = 0; i < s->nops; i++) {
        if (strcmp(s->ops[i].method, method) == 0 && strcmp(s->ops[i].path, path) == 0)
            return &s->ops[i];
    }
    return NULL;
}

static int has_status(const kumo__operation *op, const char *status)
{
    for (size_t i = 0; i < op->nresponses; i++) {
        if (strcmp(op->responses[i].status, status) == 0)
            return 1;
    }
    return 0;
}

static void test_todo_round_trip(void)
{
    kumo__error err = {0};
    json_t *sw = NULL;
    CHECK_INT(kumo__swagger2_convert(TODO_SPEC, &sw, &err), 0);
    if (sw == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(json_string_value(json_object_get(sw, "swagger")), "2.0");
    CHECK_STR(json_string_value(json_object_get(sw, "basePath")), "/");
    json_t *defs = json_object_get(sw, "definitions");
    CHECK(json_object_get(defs, "Todo") != NULL);
    CHECK(json_is_true(json_object_get(
        json_object_get(json_object_get(json_object_get(defs, "TodoPage"), "properties"), "next"), "x-nullable")));
    CHECK(json_object_get(json_object_get(json_object_get(defs, "TodoPage"), "properties"), "nullable") == NULL);
    CHECK_STR(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(json_object_get(defs, "TodoPage"), "properties"), "items"),
                            "items"),
            "$ref")),
        "#/definitions/Todo");
    json_t *paths = json_object_get(sw, "paths");
    json_t *post = json_object_get(json_object_get(paths, "/todos"), "post");
    json_t *body = json_array_get(json_object_get(post, "parameters"), 0);
    CHECK_STR(json_string_value(json_object_get(body, "in")), "body");
    CHECK_STR(json_string_value(json_object_get(json_object_get(body, "schema"), "$ref")), "#/definitions/TodoInput");
    CHECK(json_is_true(json_object_get(body, "required")));
    CHECK_STR(json_string_value(json_array_get(json_object_get(post, "consumes"), 0)), "application/json");
    /* produces: the union of the responses' media types */
    json_t *produces = json_object_get(post, "produces");
    CHECK_INT(json_array_size(produces), 2);
    CHECK_STR(json_string_value(json_array_get(produces, 1)), "application/problem+json");
    /* examples moved to the response */
    CHECK(json_object_get(json_object_get(json_object_get(json_object_get(post, "responses"), "201"), "examples"),
                          "application/json") != NULL);
    /* a binary download is type: file */
    json_t *att = json_object_get(json_object_get(paths, "/todos/{id}/attachment"), "get");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(json_object_get(att, "responses"), "200"), "schema"), "type")),
              "file");
    /* parameters carry their schema inline; path-level ones stay there */
    json_t *limit =
        json_array_get(json_object_get(json_object_get(json_object_get(paths, "/todos"), "get"), "parameters"), 0);
    CHECK_STR(json_string_value(json_object_get(limit, "type")), "integer");
    CHECK_INT(json_integer_value(json_object_get(limit, "maximum")), 100);
    CHECK(json_object_get(limit, "schema") == NULL);
    json_t *id = json_array_get(json_object_get(json_object_get(paths, "/todos/{id}"), "parameters"), 0);
    CHECK_STR(json_string_value(json_object_get(id, "in")), "path");
    CHECK_INT(json_integer_value(json_object_get(id, "maxLength")), 64);

    /* written as YAML, read back by kumo's Swagger 2.0 loader */
    char *buf = kumo__yaml_dump(sw);
    CHECK(buf != NULL);
    const char *path = write_tmp("todo-swagger.yaml", buf);
    free(buf);
    json_decref(sw);
    kumo__spec *orig = NULL, *back = NULL;
    CHECK_INT(kumo__spec_load(TODO_SPEC, &orig, &err), 0);
    int rc = kumo__spec_load(path, &back, &err);
    CHECK_INT(rc, 0);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        kumo__spec_free(orig);
        return;
    }
    CHECK_INT(back->version, 20);
    CHECK_INT(back->nops, orig->nops);
    CHECK_INT(orig->nops, 9);
    for (size_t i = 0; i < orig->nops; i++) {
        const kumo__operation *a = &orig->ops[i], *b = find_op(back, a->method, a->path);
        CHECK(b != NULL);
        if (b == NULL) {
            fprintf(stderr, "missing %s %s\n", a->method, a->path);
            continue;
        }
        CHECK_STR(b->operation_id, a->operation_id);
        CHECK_INT(b->nparams, a->nparams);
        for (size_t j = 0; j < a->nparams && j < b->nparams; j++) {
            CHECK_STR(b->params[j].name, a->params[j].name);
            CHECK_INT(b->params[j].in, a->params[j].in);
            CHECK_INT(b->params[j].required, a->params[j].required);
        }
        CHECK_INT(b->nbody, a->nbody);
        CHECK_INT(b->body_required, a->body_required);
        for (size_t j = 0; j < a->nbody && j < b->nbody; j++)
            CHECK_STR(b->body[j].type, a->body[j].type);
        CHECK_INT(b->nresponses, a->nresponses);
        for (size_t j = 0; j < a->nresponses; j++)
            CHECK(has_status(b, a->responses[j].status));
    }
    kumo__spec_free(orig);
    kumo__spec_free(back);
}

/* Converting `doc` fails with a message holding every one of `want`. */
static void refused(const char *name, const char *doc, const char *const *want)
{
    kumo__error err = {0};
    json_t *sw = NULL;
    const char *path = write_tmp(name, doc);
    int rc = kumo__swagger2_convert(path, &sw, &err);
    CHECK(rc < 0);
    CHECK(sw == NULL);
    for (int i = 0; want[i]; i++) {
        int found = strstr(err.msg, want[i]) != NULL;
        CHECK(found);
        if (!found)
            fprintf(stderr, "%s: '%s' not in: %s\n", name, want[i], err.msg);
    }
    json_decref(sw);
}

#define HEAD "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"

static void test_refusals(void)
{
    /* line 6, column 19: the oneOf key of the parameter's schema */
    refused("oneof.yaml",
            HEAD
            "  /a:\n    get:\n      parameters:\n        - name: q\n          in: query\n          schema: {oneOf: "
            "[{type: string}, {type: integer}]}\n      responses: {'200': {description: ok}}\n",
            (const char *const[]){"oneof.yaml:9:", "/paths/~1a/get/parameters/0/schema/oneOf", "oneOf", NULL});
    refused("cookie.yaml",
            HEAD "  /a:\n    get:\n      parameters:\n        - {name: sid, in: cookie, schema: {type: string}}\n"
                 "      responses: {'200': {description: ok}}\n",
            (const char *const[]){"cookie.yaml:7:", "/paths/~1a/get/parameters/0/in", "cookie", NULL});
    refused("callbacks.yaml",
            HEAD "  /a:\n    post:\n      callbacks:\n        done: {}\n      responses: {'200': {description: ok}}\n",
            (const char *const[]){"callbacks.yaml:6:", "/paths/~1a/post/callbacks", NULL});
    refused("links.yaml",
            HEAD "  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          links:\n"
                 "            self: {operationId: x}\n",
            (const char *const[]){"links.yaml:", "/paths/~1a/get/responses/200/links", "links", NULL});
    refused("media.yaml",
            HEAD "  /a:\n    post:\n      requestBody:\n        content:\n          application/json: {schema: "
                 "{type: object}}\n          text/plain: {schema: {type: string}}\n      responses: {'200': "
                 "{description: ok}}\n",
            (const char *const[]){"media.yaml:9:", "/paths/~1a/post/requestBody/content/text~1plain",
                                  "different schemas", NULL});
    refused("v31.yaml",
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        "
            "'200':\n          description: ok\n          content:\n            application/json:\n              "
            "schema:\n                type: array\n                prefixItems: [{type: string}]\n",
            (const char *const[]){"v31.yaml:13:", "prefixItems", "3.1", NULL});
    refused("deep.yaml",
            HEAD "  /a:\n    get:\n      parameters:\n        - {name: f, in: query, style: deepObject, schema: "
                 "{type: string}}\n      responses: {'200': {description: ok}}\n",
            (const char *const[]){"deep.yaml:7:", "deepObject", NULL});
    refused("range.yaml", HEAD "  /a:\n    get:\n      responses:\n        2XX: {description: ok}\n",
            (const char *const[]){"range.yaml:7:", "2XX", NULL});
}

/* What maps does: servers, 3.1 types, form bodies, security. */
static void test_mapping(void)
{
    const char *doc =
        "openapi: 3.1.0\n"
        "info: {title: t, version: '1'}\n"
        "servers: [{url: 'https://{host}/v1/', variables: {host: {default: api.example.com}}}]\n"
        "paths:\n"
        "  /up:\n"
        "    post:\n"
        "      parameters:\n"
        "        - {name: tags, in: query, style: form, explode: false, schema: {type: array, items: {type: "
        "string}}}\n"
        "        - {name: ids, in: query, schema: {type: array, items: {type: integer}}}\n"
        "      requestBody:\n"
        "        content:\n"
        "          multipart/form-data:\n"
        "            schema:\n"
        "              type: object\n"
        "              required: [file]\n"
        "              properties:\n"
        "                file: {type: string, format: binary}\n"
        "                note: {type: ['string', 'null'], maxLength: 10}\n"
        "      responses:\n"
        "        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/R'}}}}\n"
        "components:\n"
        "  schemas:\n"
        "    R: {type: object, properties: {n: {type: integer, exclusiveMinimum: 0}, k: {const: a}}}\n"
        "  securitySchemes:\n"
        "    key: {type: apiKey, in: header, name: X-Key}\n";
    kumo__error err = {0};
    json_t *sw = NULL;
    CHECK_INT(kumo__swagger2_convert(write_tmp("map.yaml", doc), &sw, &err), 0);
    if (sw == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(json_string_value(json_object_get(sw, "host")), "api.example.com");
    CHECK_STR(json_string_value(json_object_get(sw, "basePath")), "/v1");
    CHECK_STR(json_string_value(json_array_get(json_object_get(sw, "schemes"), 0)), "https");
    json_t *op = json_object_get(json_object_get(json_object_get(sw, "paths"), "/up"), "post");
    json_t *params = json_object_get(op, "parameters");
    CHECK_INT(json_array_size(params), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(params, 0), "collectionFormat")), "csv");
    CHECK_STR(json_string_value(json_object_get(json_array_get(params, 1), "collectionFormat")), "multi");
    json_t *file = json_array_get(params, 2), *note = json_array_get(params, 3);
    CHECK_STR(json_string_value(json_object_get(file, "in")), "formData");
    CHECK_STR(json_string_value(json_object_get(file, "type")), "file");
    CHECK(json_is_true(json_object_get(file, "required")));
    CHECK_STR(json_string_value(json_object_get(note, "type")), "string");
    CHECK(json_is_true(json_object_get(note, "x-nullable")));
    CHECK(json_is_false(json_object_get(note, "required")));
    CHECK_STR(json_string_value(json_array_get(json_object_get(op, "consumes"), 0)), "multipart/form-data");
    json_t *n =
        json_object_get(json_object_get(json_object_get(json_object_get(sw, "definitions"), "R"), "properties"), "n");
    CHECK_INT(json_integer_value(json_object_get(n, "minimum")), 0);
    CHECK(json_is_true(json_object_get(n, "exclusiveMinimum")));
    json_t *k =
        json_object_get(json_object_get(json_object_get(json_object_get(sw, "definitions"), "R"), "properties"), "k");
    CHECK_STR(json_string_value(json_array_get(json_object_get(k, "enum"), 0)), "a");
    json_t *key = json_object_get(json_object_get(sw, "securityDefinitions"), "key");
    CHECK_STR(json_string_value(json_object_get(key, "type")), "apiKey");
    CHECK_STR(json_string_value(json_object_get(key, "name")), "X-Key");
    /* and kumo's loader reads it */
    char *buf = kumo__yaml_dump(sw);
    CHECK(buf != NULL);
    kumo__spec *back = NULL;
    int rc = kumo__spec_load(write_tmp("map-sw.yaml", buf), &back, &err);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        CHECK_STR(back->base_path, "/v1");
        CHECK_INT(back->nops, 1);
        CHECK_STR(back->ops[0].body[0].type, "multipart/form-data");
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    kumo__spec_free(back);
    free(buf);
    json_decref(sw);
}

/* A schema in another file becomes a definition of its own, refs in it
 * followed from that file. */
static void test_external_refs(void)
{
    write_tmp("common.yaml", "Pet:\n  type: object\n  properties:\n    tag: {$ref: '#/Tag'}\nTag: {type: string}\n");
    const char *doc = HEAD "  /pets:\n    get:\n      responses:\n        '200':\n          description: ok\n"
                           "          content: {application/json: {schema: {$ref: 'common.yaml#/Pet'}}}\n";
    kumo__error err = {0};
    json_t *sw = NULL;
    CHECK_INT(kumo__swagger2_convert(write_tmp("ext.yaml", doc), &sw, &err), 0);
    if (sw == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    json_t *r200 = json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(sw, "paths"), "/pets"), "get"), "responses"),
        "200");
    const char *ref = json_string_value(json_object_get(json_object_get(r200, "schema"), "$ref"));
    CHECK(ref && strncmp(ref, "#/definitions/", 14) == 0);
    json_t *pet = ref ? json_object_get(json_object_get(sw, "definitions"), ref + 14) : NULL;
    CHECK_STR(json_string_value(json_object_get(pet, "type")), "object");
    const char *tag =
        json_string_value(json_object_get(json_object_get(json_object_get(pet, "properties"), "tag"), "$ref"));
    CHECK(tag && strncmp(tag, "#/definitions/", 14) == 0);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(json_object_get(sw, "definitions"), tag ? tag + 14 : ""), "type")),
              "string");
    char *buf = kumo__yaml_dump(sw);
    CHECK(buf != NULL);
    kumo__spec *back = NULL;
    CHECK_INT(kumo__spec_load(write_tmp("ext-sw.yaml", buf), &back, &err), 0);
    kumo__spec_free(back);
    free(buf);
    json_decref(sw);
}

/* Strings that read as something else in YAML are quoted. */
static void test_yaml_scalars(void)
{
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:[]}", "a", "8080", "b", "true", "c", "plain text", "d",
                          "${KUMO_URL_TODOS}", "e", "a: b", "f", "", "g", 3, "h");
    char *buf = kumo__yaml_dump(v);
    CHECK(buf != NULL);
    CHECK(strstr(buf, "a: \"8080\"\n") != NULL);
    CHECK(strstr(buf, "b: \"true\"\n") != NULL);
    CHECK(strstr(buf, "c: plain text\n") != NULL);
    CHECK(strstr(buf, "d: \"${KUMO_URL_TODOS}\"\n") != NULL); /* a placeholder stays quoted */
    CHECK(strstr(buf, "e: \"a: b\"\n") != NULL);
    CHECK(strstr(buf, "f: \"\"\n") != NULL);
    CHECK(strstr(buf, "g: 3\n") != NULL);
    CHECK(strstr(buf, "h: []\n") != NULL);
    free(buf);
    json_decref(v);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_todo_round_trip();
    test_refusals();
    test_mapping();
    test_external_refs();
    test_yaml_scalars();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report();
}
