/*
 * test_refs.c: $refs across files (docset.c through kumo__spec_load and
 * spec->refs): a main document, a parameters file, a schema file, a Path
 * Item in a sub-folder and a shared file reached with "../"; chains, JSON
 * Pointer escapes (~0 ~1 %7B), recursive schemas, each file loaded once,
 * and the positioned errors: missing targets, pure ref cycles across
 * files, a broken referenced file, remote refs.
 */
#include "openapi/openapi.h"
#include "openapi/pointer.h"
#include "openapi/schema.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FIX "openapi/fixtures/"
#define MULTI FIX "refs_multi/api/openapi.yaml"

static const kumo__operation *find_op(const kumo__spec *s, const char *method, const char *path)
{
    for (size_t i = 0; i < s->nops; i++)
        if (strcmp(s->ops[i].method, method) == 0 && strcmp(s->ops[i].path, path) == 0)
            return &s->ops[i];
    CHECK(!"operation not found");
    return NULL;
}

static const kumo__param *find_param(const kumo__operation *op, const char *name)
{
    for (size_t i = 0; i < op->nparams; i++)
        if (strcmp(op->params[i].name, name) == 0)
            return &op->params[i];
    CHECK(!"parameter not found");
    return NULL;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static void test_multi_file(void)
{
    kumo__spec *s = NULL;
    kumo__error err = {0};
    int rc = kumo__spec_load(MULTI, &s, &err);
    if (rc)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (s == NULL)
        return;
    CHECK_INT(s->nops, 5);
    CHECK_INT(s->dialect, 30);
    CHECK(s->refs != NULL && s->refs->resolve != NULL);

    const kumo__operation *op = find_op(s, "GET", "/pets");
    const kumo__param *p;
    if (op) {
        CHECK_INT(op->nparams, 2);
        if ((p = find_param(op, "limit")) != NULL) { /* another file */
            CHECK_INT(p->in, KUMO__IN_QUERY);
            CHECK_INT(p->style, KUMO__STYLE_FORM);
            CHECK_INT(p->explode, 1);
            CHECK_INT(p->required, 0);
            CHECK_INT(json_integer_value(json_object_get(p->schema, "maximum")), 100);
            CHECK_STR(p->schema_location, "parameters.yaml#/Limit/schema");
        }
        if ((p = find_param(op, "t~x")) != NULL) {
            CHECK_INT(p->in, KUMO__IN_HEADER);
            CHECK_INT(p->style, KUMO__STYLE_SIMPLE);
            CHECK_INT(p->explode, 0);
            CHECK_STR(p->schema_location, "/components/parameters/Tilde/schema");
        }
        CHECK_INT(op->nbody, 0);
        CHECK_INT(op->nresponses, 2);
        if (op->nresponses == 2) {
            const kumo__response *r = &op->responses[0];
            CHECK_STR(r->status, "200");
            CHECK_INT(r->ncontent, 1);
            CHECK_INT(r->nheaders, 1); /* Content-Type is ignored, as OpenAPI says */
            if (r->nheaders == 1)
                CHECK_STR(r->headers[0], "x-total");
            if (r->ncontent == 1) {
                CHECK_STR(r->content[0].type, "application/json");
                CHECK_STR(r->content[0].schema_location,
                          "/paths/~1pets/get/responses/200/content/application~1json/schema");
            }
            r = &op->responses[1]; /* through "../shared/common.yaml" */
            CHECK_STR(r->status, "default");
            CHECK_INT(r->ncontent, 1);
            if (r->ncontent == 1) {
                CHECK_STR(r->content[0].type, "application/problem+json");
                CHECK_STR(r->content[0].schema_location,
                          "../shared/common.yaml#/responses/Problem/content/application~1problem+json/schema");
                CHECK_STR(json_string_value(json_object_get(r->content[0].schema, "$ref")), "#/Problem");
            }
        }
    }

    op = find_op(s, "POST", "/pets");
    if (op) {
        CHECK_INT(op->body_required, 1);
        CHECK_INT(op->nbody, 1);
        if (op->nbody == 1) {
            CHECK_STR(op->body[0].type, "application/json"); /* lower-cased */
            CHECK_STR(op->body[0].schema_location, "/components/requestBodies/NewPet/content/Application~1JSON/schema");
        }
    }

    /* a Path Item in ./paths/, its path-level parameter a chain in ../parameters.yaml */
    op = find_op(s, "GET", "/pets/{petId}");
    json_t *pet_from_item = NULL;
    if (op) {
        CHECK_STR(op->operation_id, "getPet");
        CHECK_INT(op->nparams, 2);
        if ((p = find_param(op, "petId")) != NULL) { /* the operation's wins over the path level's */
            CHECK_STR(json_string_value(json_object_get(p->schema, "type")), "integer");
            CHECK_INT(p->style, KUMO__STYLE_SIMPLE);
            CHECK_STR(p->schema_location, "paths/pet-item.yaml#/get/parameters/0/schema");
            kumo__doc *d = kumo__spec_doc_of(s, p->schema);
            CHECK(d != s->doc && ends_with(kumo__doc_path(d), "pet-item.yaml"));
        }
        CHECK(find_param(op, "verbose") != NULL);
        CHECK(kumo__spec_doc_of(s, op->node) != s->doc);
        if (op->nresponses == 1 && op->responses[0].ncontent == 1) {
            json_t *ref = op->responses[0].content[0].schema;
            char where[256] = "";
            kumo__error e = {0};
            pet_from_item = s->refs->resolve(s->refs, ref, json_string_value(json_object_get(ref, "$ref")), where,
                                             sizeof where, &e);
            CHECK(pet_from_item != NULL);
            CHECK_STR(where, "schemas/pet.yaml#/Pet");
        }
    }
    op = find_op(s, "DELETE", "/pets/{petId}");
    if (op && (p = find_param(op, "petId")) != NULL) {
        CHECK_STR(json_string_value(json_object_get(p->schema, "type")), "string");
        CHECK_INT(p->style, KUMO__STYLE_LABEL);
        CHECK_INT(p->required, 1);
        CHECK_STR(p->schema_location, "parameters.yaml#/PetIdReal/schema");
    }

    /* "#/components/parameters/a~1b%7Bc%7D~0d" names the key "a/b{c}~d" */
    op = find_op(s, "GET", "/odd");
    if (op && (p = find_param(op, "odd")) != NULL) {
        CHECK_STR(p->schema_location, "/components/parameters/a~1b{c}~0d/schema");
        char where[256] = "";
        kumo__error e = {0};
        json_t *name = s->refs->resolve(s->refs, p->schema, "schemas/pet.yaml#/Name", where, sizeof where, &e);
        CHECK(name != NULL);
        CHECK_INT(json_integer_value(json_object_get(name, "maxLength")), 40);
        CHECK_STR(where, "schemas/pet.yaml#/Name");
        /* the same file by another relative path is the same document */
        json_t *pet = s->refs->resolve(s->refs, p->schema, "schemas/./pet.yaml#/Pet", where, sizeof where, &e);
        CHECK(pet != NULL && pet == pet_from_item);
        /* a recursive schema: Pet.parent -> Pet, relative to pet.yaml */
        json_t *parent = json_object_get(json_object_get(pet, "properties"), "parent");
        json_t *again = s->refs->resolve(s->refs, parent, "#/Pet", where, sizeof where, &e);
        CHECK(again == pet);
        CHECK_STR(where, "schemas/pet.yaml#/Pet");
        /* "../../shared" from schemas/pet.yaml */
        json_t *tags = json_object_get(json_object_get(pet, "properties"), "tags");
        json_t *items = json_object_get(tags, "items");
        json_t *tag = s->refs->resolve(s->refs, items, "../../shared/common.yaml#/Tag", where, sizeof where, &e);
        CHECK(tag != NULL);
        CHECK_STR(where, "../shared/common.yaml#/Tag");
    }

    /* a node in no document (a synthesized schema) resolves against the main one */
    json_t *synth = json_pack("{s:s}", "$ref", "#/components/parameters/Tilde");
    char where[256] = "";
    kumo__error e = {0};
    json_t *t = s->refs->resolve(s->refs, synth, "#/components/parameters/Tilde", where, sizeof where, &e);
    CHECK(t != NULL);
    CHECK_STR(where, "/components/parameters/Tilde");
    json_decref(synth);

    /* a missing schema, reported at the $ref with what is missing */
    json_t *next = json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(kumo__doc_root(s->doc), "components"), "schemas"), "Todo"),
            "properties"),
        "next");
    CHECK(next != NULL);
    memset(&e, 0, sizeof e);
    t = s->refs->resolve(s->refs, next, "#/components/schemas/Todoo", where, sizeof where, &e);
    CHECK(t == NULL);
    CHECK_STR(e.msg, MULTI ":56:22: $ref '#/components/schemas/Todoo' points at nothing: /components has no schema "
                           "'Todoo'");
    /* a missing file, and a remote one */
    memset(&e, 0, sizeof e);
    CHECK(s->refs->resolve(s->refs, next, "schemas/nope.yaml#/X", where, sizeof where, &e) == NULL);
    CHECK(strstr(e.msg, MULTI ":56:22: $ref 'schemas/nope.yaml#/X' points at nothing: cannot open ") == e.msg);
    CHECK(strstr(e.msg, "schemas/nope.yaml: No such file or directory") != NULL);
    memset(&e, 0, sizeof e);
    CHECK(s->refs->resolve(s->refs, next, "https://example.com/x.json#/Pet", where, sizeof where, &e) == NULL);
    CHECK_STR(e.msg, MULTI ":56:22: $ref 'https://example.com/x.json#/Pet' is remote; kumo loads only local files; "
                           "download it next to the spec");
    /* missing inside another file: named by its path */
    memset(&e, 0, sizeof e);
    CHECK(s->refs->resolve(s->refs, next, "schemas/pet.yaml#/Pett", where, sizeof where, &e) == NULL);
    CHECK_STR(e.msg, MULTI ":56:22: $ref 'schemas/pet.yaml#/Pett' points at nothing: schemas/pet.yaml has no 'Pett'");
    memset(&e, 0, sizeof e);
    CHECK(s->refs->resolve(s->refs, next, "#/components/schemas/Todo/type/x", where, sizeof where, &e) == NULL);
    CHECK_STR(e.msg, MULTI ":56:22: $ref '#/components/schemas/Todo/type/x' points at nothing: "
                           "/components/schemas/Todo/type is a string, not a mapping");
    kumo__spec_free(s);
}

static void expect_error(const char *path, const char *want)
{
    kumo__spec *s = NULL;
    kumo__error err = {0};
    int rc = kumo__spec_load(path, &s, &err);
    CHECK(rc < 0);
    CHECK(s == NULL);
    if (strncmp(err.msg, want, strlen(want)) != 0) {
        fprintf(stderr, "  got  %s\n  want %s\n", err.msg, want);
        CHECK(!"message");
    } else {
        CHECK(1);
    }
    kumo__spec_free(s);
}

static void test_errors(void)
{
    /* a pure cycle across two files: A (cycle.yaml) -> B (cycle_other.yaml) -> A */
    expect_error(FIX "refs_errors/cycle.yaml",
                 FIX "refs_errors/cycle.yaml:7:17: $ref cycle: 'cycle_other.yaml#/B' -> "
                     "'cycle.yaml#/components/parameters/A' -> 'cycle_other.yaml#/B' -> ... never reaches a "
                     "parameter");
    /* the error is in the file that holds the broken $ref */
    expect_error(FIX "refs_errors/deep.yaml",
                 FIX "refs_errors/deep_params.yaml:2:9: $ref '#/Q' points at nothing: the document has no 'Q'");
    expect_error(FIX "refs_errors/syntax.yaml", FIX "refs_errors/syntax_broken.yaml:2:1: ");
    kumo__spec *s = NULL;
    kumo__error err = {0};
    kumo__spec_load(FIX "refs_errors/syntax.yaml", &s, &err);
    CHECK(strstr(err.msg,
                 "(reached through the $ref 'syntax_broken.yaml#/P' at " FIX "refs_errors/syntax.yaml:7:17)") != NULL);
    kumo__spec_free(s);
}

int main(void)
{
    test_multi_file();
    test_errors();
    return check_report();
}
