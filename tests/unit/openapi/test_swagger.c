/*
 * test_swagger.c: Swagger 2.0 operations in the OpenAPI 3 model
 * (swagger.c): parameters' inline schemas synthesized, collectionFormat
 * -> style/explode, the body parameter per consumes, formData (with a
 * file) as a form schema, responses per produces, #/definitions,
 * #/parameters and #/responses refs; each refusal with its position.
 */
#include "openapi/openapi.h"
#include "openapi/schema.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "openapi/fixtures/"

static const kumo__operation *find_op(const kumo__spec *s, const char *id)
{
    for (size_t i = 0; i < s->nops; i++)
        if (s->ops[i].operation_id && strcmp(s->ops[i].operation_id, id) == 0)
            return &s->ops[i];
    CHECK(!"operation not found");
    return NULL;
}

static const kumo__param *find_param(const kumo__operation *op, const char *name)
{
    for (size_t i = 0; i < op->nparams; i++)
        if (strcmp(op->params[i].name, name) == 0)
            return &op->params[i];
    return NULL;
}

static const char *type_of(const json_t *schema)
{
    return json_string_value(json_object_get(schema, "type"));
}

static void check_param(const kumo__operation *op, const char *name, kumo__param_in in, kumo__param_style style,
                        int explode, const char *type)
{
    const kumo__param *p = find_param(op, name);
    CHECK(p != NULL);
    if (p == NULL) {
        fprintf(stderr, "  no parameter '%s'\n", name);
        return;
    }
    CHECK_INT(p->in, in);
    CHECK_INT(p->style, style);
    CHECK_INT(p->explode, explode);
    CHECK_STR(type_of(p->schema), type);
    CHECK(p->content_type == NULL);
}

static void test_petstore(void)
{
    kumo__spec *s = NULL;
    kumo__error err = {0};
    int rc = kumo__spec_load(FIX "swagger_petstore/swagger.yaml", &s, &err);
    if (rc)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (s == NULL)
        return;
    CHECK_INT(s->version, 20);
    CHECK_INT(s->dialect, 30);
    CHECK_STR(s->base_path, "/v2");
    CHECK_INT(s->nops, 6);

    const kumo__operation *op = find_op(s, "findPets");
    if (op) {
        CHECK_INT(op->nparams, 7); /* the header Accept is dropped; X-Trace comes from the path level */
        check_param(op, "X-Trace", KUMO__IN_HEADER, KUMO__STYLE_SIMPLE, 0, "string");
        check_param(op, "tags", KUMO__IN_QUERY, KUMO__STYLE_FORM, 0, "array"); /* csv */
        check_param(op, "ids", KUMO__IN_QUERY, KUMO__STYLE_FORM, 1, "array");  /* multi */
        check_param(op, "words", KUMO__IN_QUERY, KUMO__STYLE_SPACE_DELIMITED, 0, "array");
        check_param(op, "codes", KUMO__IN_QUERY, KUMO__STYLE_PIPE_DELIMITED, 0, "array");
        check_param(op, "limit", KUMO__IN_QUERY, KUMO__STYLE_FORM, 1, "integer");
        check_param(op, "offset", KUMO__IN_QUERY, KUMO__STYLE_FORM, 1, "integer"); /* #/parameters/Offset */
        CHECK(find_param(op, "Accept") == NULL);
        const kumo__param *p = find_param(op, "ids");
        if (p) {
            json_t *items = json_object_get(p->schema, "items");
            CHECK_STR(type_of(items), "integer");
            CHECK_INT(json_integer_value(json_object_get(items, "minimum")), 1);
            CHECK_STR(p->schema_location, "/paths/~1pets/get/parameters/1");
            CHECK(kumo__spec_doc_of(s, p->schema) == s->doc); /* synthesized: the main document */
        }
        if ((p = find_param(op, "limit")) != NULL) {
            CHECK_STR(json_string_value(json_object_get(p->schema, "format")), "int32");
            CHECK_INT(json_integer_value(json_object_get(p->schema, "maximum")), 100);
            CHECK_INT(json_integer_value(json_object_get(p->schema, "default")), 20);
        }
        if ((p = find_param(op, "offset")) != NULL)
            CHECK_STR(p->schema_location, "/parameters/Offset");
        CHECK_INT(op->nbody, 0);
        CHECK_INT(op->nresponses, 2);
        if (op->nresponses == 2) {
            const kumo__response *r = &op->responses[0];
            CHECK_STR(r->status, "200");
            CHECK_INT(r->ncontent, 2); /* the document's produces */
            if (r->ncontent == 2) {
                CHECK_STR(r->content[0].type, "application/json");
                CHECK_STR(r->content[1].type, "application/xml");
                CHECK_STR(type_of(r->content[0].schema), "array");
                CHECK_STR(r->content[0].schema_location, "/paths/~1pets/get/responses/200/schema");
                /* #/definitions refs resolve through spec->refs */
                json_t *items = json_object_get(r->content[0].schema, "items");
                char where[128] = "";
                kumo__error e = {0};
                json_t *pet = s->refs->resolve(s->refs, items, "#/definitions/Pet", where, sizeof where, &e);
                CHECK(json_is_object(pet));
                CHECK_STR(where, "/definitions/Pet");
            }
            CHECK_INT(r->nheaders, 1);
            if (r->nheaders == 1)
                CHECK_STR(r->headers[0], "x-rate-limit");
            r = &op->responses[1];
            CHECK_STR(r->status, "default");
            CHECK_INT(r->ncontent, 2);
            if (r->ncontent)
                CHECK_STR(r->content[0].schema_location, "/responses/Problem/schema");
        }
    }

    if ((op = find_op(s, "addPet")) != NULL) {
        CHECK_INT(op->nparams, 1); /* X-Trace */
        CHECK_INT(op->body_required, 1);
        CHECK_INT(op->nbody, 1);
        if (op->nbody == 1) {
            CHECK_STR(op->body[0].type, "application/json"); /* the document's consumes */
            CHECK_STR(json_string_value(json_object_get(op->body[0].schema, "$ref")), "#/definitions/NewPet");
            CHECK_STR(op->body[0].schema_location, "/paths/~1pets/post/parameters/0/schema");
        }
        CHECK(op->nresponses == 1 && op->responses[0].ncontent == 2);
    }

    if ((op = find_op(s, "getPet")) != NULL) {
        check_param(op, "id", KUMO__IN_PATH, KUMO__STYLE_SIMPLE, 0, "array"); /* csv in a path */
        const kumo__param *p = find_param(op, "id");
        CHECK(p && p->required);
        CHECK_INT(op->nresponses, 2);
        if (op->nresponses == 2) {
            CHECK_INT(op->responses[0].ncontent, 1); /* the operation's produces */
            CHECK_INT(op->responses[1].ncontent, 0); /* no schema: no content */
        }
    }

    if ((op = find_op(s, "updatePetForm")) != NULL) {
        CHECK_INT(op->nparams, 1);
        CHECK_INT(op->nbody, 1); /* only the form type of consumes */
        CHECK_INT(op->body_required, 1);
        if (op->nbody == 1) {
            const kumo__media *m = &op->body[0];
            CHECK_STR(m->type, "application/x-www-form-urlencoded");
            CHECK_STR(type_of(m->schema), "object");
            json_t *props = json_object_get(m->schema, "properties");
            CHECK_INT(json_object_size(props), 3);
            CHECK_STR(type_of(json_object_get(props, "nick")), "array");
            CHECK_INT(json_array_size(json_object_get(json_object_get(props, "status"), "enum")), 2);
            json_t *req = json_object_get(m->schema, "required");
            CHECK(json_array_size(req) == 1 && strcmp(json_string_value(json_array_get(req, 0)), "name") == 0);
            CHECK_STR(m->schema_location, "/paths/~1pets~1{id}/post/parameters");
        }
    }

    if ((op = find_op(s, "uploadPhoto")) != NULL) {
        CHECK_INT(op->nbody, 1);
        if (op->nbody == 1) {
            CHECK_STR(op->body[0].type, "multipart/form-data");
            json_t *file = json_object_get(json_object_get(op->body[0].schema, "properties"), "file");
            CHECK_STR(type_of(file), "string");
            CHECK_STR(json_string_value(json_object_get(file, "format")), "binary");
        }
        if (op->nresponses == 1 && op->responses[0].ncontent == 1) {
            CHECK_STR(op->responses[0].content[0].type, "image/png");
            json_t *schema = op->responses[0].content[0].schema;
            CHECK_STR(type_of(schema), "string"); /* type: file */
            CHECK_STR(json_string_value(json_object_get(schema, "format")), "binary");
        } else {
            CHECK(!"uploadPhoto's response");
        }
    }

    if ((op = find_op(s, "uploadDefault")) != NULL) { /* empty consumes: a file means multipart */
        CHECK(op->nbody == 1 && strcmp(op->body[0].type, "multipart/form-data") == 0);
        CHECK_INT(op->body_required, 0);
    }
    kumo__spec_free(s);
}

static const struct {
    const char *yaml, *want;
} cases[] = {
    {"paths:\n  /a:\n    get:\n      parameters:\n      - {name: x, in: query, type: array, items: {type: string}, "
     "collectionFormat: tsv}\n",
     ":6:84: parameter 'x': collectionFormat tsv is not supported (OpenAPI 3 has no tab-delimited style); use csv, "
     "ssv, pipes or multi"},
    {"paths:\n  /a/{x}:\n    get:\n      parameters:\n      - {name: x, in: path, required: true, type: array, items: "
     "{type: string}, collectionFormat: ssv}\n",
     ":6:99: parameter 'x': collectionFormat ssv is only allowed in: query; use csv"},
    {"paths:\n  /a:\n    get:\n      parameters:\n      - {name: x, in: query, type: file}\n",
     ":6:36: parameter 'x': type: file is only allowed in: formData"},
    {"paths:\n  /a:\n    get:\n      parameters:\n      - {name: x, in: query}\n",
     ":6:9: parameter 'x' has no type; add type:"},
    {"paths:\n  /a:\n    get:\n      parameters:\n      - {name: x, in: query, type: array}\n",
     ":6:9: parameter 'x' is an array without items; add items: {type: ...}"},
    {"paths:\n  /a/{x}:\n    get:\n      parameters:\n      - {name: x, in: path, type: string}\n",
     ":6:9: path parameter 'x' must have required: true"},
    {"paths:\n  /a:\n    post:\n      consumes: [application/json]\n      parameters:\n      - {name: f, in: formData, "
     "type: string}\n",
     ":7:9: formData parameters need consumes: application/x-www-form-urlencoded or multipart/form-data"},
    {"paths:\n  /a:\n    post:\n      consumes: [application/x-www-form-urlencoded]\n      parameters:\n      - {name: "
     "f, in: formData, type: file}\n",
     ":7:9: a type: file parameter needs consumes: [multipart/form-data]"},
    {"paths:\n  /a:\n    post:\n      consumes: [application/x-www-form-urlencoded]\n      parameters:\n      - {name: "
     "f, in: formData, type: array, items: {type: string}}\n",
     ":7:9: formData array 'f' uses collectionFormat csv (the default); kumo reads form bodies with one key per value: "
     "set collectionFormat: multi"},
    {"paths:\n  /a:\n    post:\n      parameters:\n      - {name: b, in: body, schema: {}}\n      - {name: f, in: "
     "formData, type: string}\n",
     ":7:9: an operation has either an in: body parameter or in: formData parameters, not both"},
    {"paths:\n  /a:\n    post:\n      parameters:\n      - {name: b, in: body, schema: {}}\n      - {name: c, in: "
     "body, "
     "schema: {}}\n",
     ":7:9: a second in: body parameter ('c'); an operation has one body"},
    {"paths:\n  /a:\n    post:\n      parameters:\n      - {name: b, in: body}\n",
     ":6:9: body parameter 'b' has no schema; add one"},
    {"paths:\n  /a:\n    get:\n      parameters:\n      - {name: c, in: cookie, type: string}\n",
     ":6:23: parameter 'c': in must be path, query, header, body or formData"},
    {"paths:\n  /a:\n    get:\n      responses: {2XX: {description: x}}\n",
     ":5:19: '2XX' is not a response status; write a code (200) or default"},
    {"paths:\n  /a:\n    get:\n      parameters: [{$ref: '#/parameters/Nope'}]\n",
     ":5:27: $ref '#/parameters/Nope' points at nothing: the document has no 'parameters'"},
    {"parameters: {A: {name: a, in: query, type: string}}\npaths:\n  /a:\n    get:\n      parameters: [{$ref: "
     "'#/parameters/Nope'}]\n",
     ":6:27: $ref '#/parameters/Nope' points at nothing: the document has no parameter 'Nope'"},
    {"paths:\n  /a:\n    get:\n      parameters:\n      - {name: x, in: query, type: array, items: {type: array, "
     "items: "
     "{type: string}}}\n",
     ":6:57: parameter 'x': arrays of arrays are not supported in parameters"},
};

static void test_refusals(void)
{
    char dir[] = "/tmp/kumo-test-swagger-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/s.yaml", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            CHECK(!"fopen");
            break;
        }
        fprintf(f, "swagger: '2.0'\n%s", cases[i].yaml);
        fclose(f);
        kumo__spec *s = NULL;
        kumo__error err = {0};
        int rc = kumo__spec_load(path, &s, &err);
        CHECK_INT(rc, -EINVAL);
        CHECK(s == NULL);
        kumo__spec_free(s);
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
    test_petstore();
    test_refusals();
    return check_report();
}
