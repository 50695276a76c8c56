/*
 * test_schema.c: the JSON Schema validator (src/openapi/schema.c).
 *
 * Data-driven first: every .json file in fixtures/schema is a list of
 * {description, schema, [dialect], tests: [{data, valid, [dir]}]} cases
 * (written for kumo, in the style of the JSON-Schema-Test-Suite); files
 * named draft2020*.json default to 2020-12, the others to OpenAPI 3.0.
 * Then the things a table cannot say: message and pointer text, schema
 * locations through $ref, the resolver callback, compile errors, limits,
 * recursion, and validation from several threads at once.
 */
#include "openapi/schema.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "openapi/pointer.h"

#define FIXTURES "openapi/fixtures/schema"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
    return j;
}

static void run_fixture_file(const char *path, kumo__dialect file_dialect)
{
    json_error_t e;
    json_t *cases = json_load_file(path, 0, &e);
    CHECK(cases != NULL);
    if (cases == NULL) {
        fprintf(stderr, "%s: %s\n", path, e.text);
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *desc = json_string_value(json_object_get(c, "description"));
        const char *d = json_string_value(json_object_get(c, "dialect"));
        kumo__dialect dialect =
            d ? (strcmp(d, "2020-12") == 0 ? KUMO__DIALECT_2020_12 : KUMO__DIALECT_OAS30) : file_dialect;
        kumo__schema *s = NULL;
        kumo__error err = {0};
        int rc = kumo__schema_compile(json_object_get(c, "schema"), dialect, "", NULL, &s, &err);
        if (rc != 0) {
            check_failed++;
            fprintf(stderr, "%s: '%s': compile failed: %s\n", path, desc, err.msg);
            continue;
        }
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(c, "tests"), k, t)
        {
            const char *dir = json_string_value(json_object_get(t, "dir"));
            enum kumo__direction dv = dir == NULL                   ? KUMO__DIR_ANY
                                      : strcmp(dir, "request") == 0 ? KUMO__DIR_REQUEST
                                                                    : KUMO__DIR_RESPONSE;
            kumo__violations v = {0};
            int r = kumo__schema_validate(s, json_object_get(t, "data"), dv, &v);
            int want_valid = json_is_true(json_object_get(t, "valid"));
            /* an invalid result must come with at least one violation */
            if (r == (want_valid ? 0 : 1) && (want_valid ? v.count == 0 : v.count > 0)) {
                check_passed++;
            } else {
                check_failed++;
                char *data = json_dumps(json_object_get(t, "data"), JSON_ENCODE_ANY | JSON_COMPACT);
                fprintf(stderr, "%s: '%s' test %zu %s: expected %s, got %d with %zu violations%s%s\n", path, desc, k,
                        data, want_valid ? "valid" : "invalid", r, v.count, v.count ? ": " : "",
                        v.count ? v.items[0].message : "");
                free(data);
            }
            kumo__violations_free(&v);
        }
        kumo__schema_free(s);
    }
    json_decref(cases);
}

static void test_fixtures(void)
{
    DIR *d = opendir(FIXTURES);
    CHECK(d != NULL);
    if (d == NULL)
        return;
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", FIXTURES, de->d_name);
        run_fixture_file(path, strncmp(de->d_name, "draft2020", 9) == 0 ? KUMO__DIALECT_2020_12 : KUMO__DIALECT_OAS30);
        files++;
    }
    closedir(d);
    CHECK(files >= 3);
}

/* ---- a resolver over one document, as spec.c's would be ------------------ */

typedef struct doc_refs {
    kumo__refs base;
    json_t *root;
    int calls;
} doc_refs;

static json_t *doc_resolve(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                           kumo__error *err)
{
    doc_refs *r = (doc_refs *)self;
    r->calls++;
    if (ref[0] != '#') {
        kumo__error_set(err, -ENOENT, "only local refs in this test");
        return NULL;
    }
    json_t *t = kumo__pointer_get(r->root, ref + 1, strlen(ref + 1), 1);
    if (t == NULL) {
        kumo__error_set(err, -ENOENT, "no such node");
        return NULL;
    }
    snprintf(where, where_len, "%s", ref + 1);
    return t;
}

static const char *todo_doc =
    "{\"components\": {\"schemas\": {"
    "  \"TodoList\": {\"type\": \"object\", \"required\": [\"items\"], \"additionalProperties\": false,"
    "     \"properties\": {\"items\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Todo\"}}}},"
    "  \"Todo\": {\"type\": \"object\", \"required\": [\"title\"],"
    "     \"properties\": {\"title\": {\"type\": \"string\", \"maxLength\": 200},"
    "                      \"done\": {\"type\": \"boolean\"}, \"id\": {\"type\": \"integer\", \"readOnly\": true}}}"
    "}}}";

static const kumo__violation *find(const kumo__violations *v, const char *instance)
{
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->items[i].instance, instance) == 0)
            return &v->items[i];
    return NULL;
}

static void test_messages_and_locations(void)
{
    json_t *doc = parse(todo_doc);
    doc_refs refs = {{doc_resolve}, doc, 0};
    kumo__schema *s = NULL;
    kumo__error err = {0};
    json_t *list = kumo__pointer_get(doc, "/components/schemas/TodoList", 28, 0);
    CHECK_INT(kumo__schema_compile(list, KUMO__DIALECT_OAS30, "/components/schemas/TodoList", &refs.base, &s, &err), 0);
    CHECK(refs.calls >= 1);
    if (s == NULL) {
        fprintf(stderr, "compile: %s\n", err.msg);
        json_decref(doc);
        return;
    }

    char title[241];
    memset(title, 'x', 240);
    title[240] = '\0';
    char body[1024];
    snprintf(body, sizeof body, "{\"items\": [{\"title\": \"%s\"}, {\"title\": 5, \"done\": \"no\"}, {}], \"x\": 1}",
             title);
    json_t *inst = parse(body);
    kumo__violations v = {0};
    CHECK_INT(kumo__schema_validate(s, inst, KUMO__DIR_ANY, &v), 1);
    CHECK_INT(v.count, 5);
    const kumo__violation *a = find(&v, "/items/0/title");
    CHECK(a != NULL);
    if (a) {
        CHECK_STR(a->message, "must be at most 200 characters long (is 240)");
        CHECK_STR(a->schema, "/components/schemas/Todo/properties/title/maxLength");
    }
    a = find(&v, "/items/1/title");
    CHECK(a && strcmp(a->message, "must be a string, not an integer") == 0);
    a = find(&v, "/items/1/done");
    CHECK(a && strcmp(a->message, "must be a boolean, not a string") == 0);
    a = find(&v, "/items/2");
    CHECK(a && strcmp(a->message, "missing required property 'title'") == 0);
    CHECK(a && strcmp(a->schema, "/components/schemas/Todo/required") == 0);
    a = find(&v, "/x");
    CHECK(a && strcmp(a->message, "property 'x' is not allowed (additionalProperties: false)") == 0);
    CHECK(a && strcmp(a->schema, "/components/schemas/TodoList/additionalProperties") == 0);
    kumo__violations_free(&v);

    /* the limit: collection stops, `truncated` says so */
    v = (kumo__violations){.limit = 2};
    CHECK_INT(kumo__schema_validate(s, inst, KUMO__DIR_ANY, &v), 1);
    CHECK_INT(v.count, 2);
    CHECK_INT(v.truncated, 1);
    kumo__violations_free(&v);
    json_decref(inst);

    /* readOnly in a request: a violation at the property, and not required */
    inst = parse("{\"items\": [{\"title\": \"a\", \"id\": 3}]}");
    v = (kumo__violations){0};
    CHECK_INT(kumo__schema_validate(s, inst, KUMO__DIR_REQUEST, &v), 1);
    CHECK_INT(v.count, 1);
    if (v.count) {
        CHECK_STR(v.items[0].instance, "/items/0/id");
        CHECK_STR(v.items[0].message, "is read-only and must not be sent in a request");
    }
    kumo__violations_free(&v);
    CHECK_INT(kumo__schema_validate(s, inst, KUMO__DIR_RESPONSE, &v), 0);
    json_decref(inst);

    /* a NULL violations list: just the verdict */
    inst = parse("{\"items\": [{}]}");
    CHECK_INT(kumo__schema_validate(s, inst, KUMO__DIR_ANY, NULL), 1);
    json_decref(inst);
    kumo__schema_free(s);

    /* without a resolver, a ref outside the schema cannot compile */
    err = (kumo__error){0};
    s = NULL;
    CHECK(kumo__schema_compile(list, KUMO__DIALECT_OAS30, "/components/schemas/TodoList", NULL, &s, &err) < 0);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, "cannot resolve $ref '#/components/schemas/Todo'") != NULL);
    CHECK(strstr(err.msg, "/components/schemas/TodoList/properties/items/items/$ref") == err.msg);
    json_decref(doc);
}

static void test_self_reference_by_location(void)
{
    /* a schema that names itself by its place in the document compiles
     * without a resolver when its location is given */
    json_t *node = parse("{\"type\": \"object\", \"properties\": {\"next\": {\"$ref\": \"#/components/schemas/Node\"},"
                         "\"v\": {\"type\": \"integer\"}}}");
    kumo__schema *s = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__schema_compile(node, KUMO__DIALECT_OAS30, "/components/schemas/Node", NULL, &s, &err), 0);
    json_t *inst = parse("{\"next\": {\"next\": {\"v\": \"x\"}}}");
    kumo__violations v = {0};
    CHECK_INT(kumo__schema_validate(s, inst, KUMO__DIR_ANY, &v), 1);
    CHECK_INT(v.count, 1);
    if (v.count) {
        CHECK_STR(v.items[0].instance, "/next/next/v");
        CHECK_STR(v.items[0].schema, "/components/schemas/Node/properties/v/type");
    }
    kumo__violations_free(&v);
    json_decref(inst);
    kumo__schema_free(s);
    json_decref(node);
}

static void compile_fails(const char *schema, kumo__dialect d, const char *needle)
{
    json_t *j = parse(schema);
    kumo__schema *s = NULL;
    kumo__error err = {0};
    int rc = kumo__schema_compile(j, d, "/S", NULL, &s, &err);
    CHECK(rc < 0);
    CHECK(s == NULL);
    if (strstr(err.msg, needle) == NULL) {
        check_failed++;
        fprintf(stderr, "compile error for %s: '%s' lacks '%s'\n", schema, err.msg, needle);
    } else {
        check_passed++;
    }
    kumo__schema_free(s);
    json_decref(j);
}

static void test_compile_errors(void)
{
    compile_fails("{\"maxLength\": \"x\"}", KUMO__DIALECT_OAS30, "/S/maxLength: must be a non-negative integer");
    compile_fails("{\"maxLength\": -1}", KUMO__DIALECT_OAS30, "/S/maxLength: must be a non-negative integer");
    compile_fails("{\"pattern\": \"(unclosed\"}", KUMO__DIALECT_OAS30, "/S/pattern: invalid regular expression");
    compile_fails("{\"type\": \"strin\"}", KUMO__DIALECT_OAS30, "/S/type: must be one of");
    compile_fails("{\"type\": [\"string\", \"null\"]}", KUMO__DIALECT_OAS30, "/S/type");
    compile_fails("{\"exclusiveMaximum\": 5}", KUMO__DIALECT_OAS30, "/S/exclusiveMaximum: must be true or false");
    compile_fails("{\"exclusiveMaximum\": true}", KUMO__DIALECT_2020_12, "/S/exclusiveMaximum: must be a number");
    compile_fails("{\"properties\": {\"a\": 5}}", KUMO__DIALECT_2020_12, "/S/properties/a: a schema must be");
    compile_fails("{\"properties\": {\"a\": true}}", KUMO__DIALECT_OAS30,
                  "/S/properties/a: a schema must be an object");
    compile_fails("{\"items\": [{}]}", KUMO__DIALECT_2020_12, "use prefixItems");
    compile_fails("{\"$ref\": \"#/nope\"}", KUMO__DIALECT_OAS30, "cannot resolve $ref '#/nope'");
    compile_fails("{\"$ref\": \"other.yaml#/X\"}", KUMO__DIALECT_2020_12, "cannot resolve $ref 'other.yaml#/X'");
    compile_fails("{\"allOf\": []}", KUMO__DIALECT_OAS30, "/S/allOf: must be a non-empty array");
    compile_fails("{\"multipleOf\": 0}", KUMO__DIALECT_OAS30, "/S/multipleOf: must be greater than 0");
    compile_fails("{\"required\": [1]}", KUMO__DIALECT_OAS30, "/S/required");
    compile_fails("{\"discriminator\": {\"mapping\": {}}, \"oneOf\": [{}]}", KUMO__DIALECT_OAS30,
                  "/S/discriminator: must be an object with a propertyName");
    compile_fails("{\"oneOf\": [{}], \"discriminator\": {\"propertyName\": \"k\", \"mapping\": {\"a\": \"Nope\"}}}",
                  KUMO__DIALECT_OAS30, "cannot resolve $ref '#/components/schemas/Nope'");
    compile_fails("{\"patternProperties\": {\"(\": {}}}", KUMO__DIALECT_2020_12, "invalid regular expression");
}

/* Issue 12: what the 2020-12 metaschema says holds schemas is checked at
 * load even where nothing refers to it, and the message starts with the
 * location (callers turn that into file:line:column). */
static void test_metaschema_shape(void)
{
    compile_fails("{\"$defs\": {\"bad\": 5}}", KUMO__DIALECT_2020_12, "/S/$defs/bad: a schema must be an object");
    compile_fails("{\"$defs\": {\"bad\": {\"type\": \"strnig\"}}}", KUMO__DIALECT_2020_12,
                  "/S/$defs/bad/type: must be");
    compile_fails("{\"$defs\": {\"ok\": {}, \"deep\": {\"properties\": {\"p\": {\"minimum\": \"1\"}}}}}",
                  KUMO__DIALECT_2020_12, "/S/$defs/deep/properties/p/minimum: must be a number");
    compile_fails("{\"$defs\": [{}]}", KUMO__DIALECT_2020_12, "/S/$defs: must be an object of schemas");
    compile_fails("{\"then\": {\"type\": \"strnig\"}}", KUMO__DIALECT_2020_12, "/S/then/type: must be");
    compile_fails("{\"else\": 3}", KUMO__DIALECT_2020_12, "/S/else: a schema must be");
    compile_fails("{\"contentSchema\": \"x\"}", KUMO__DIALECT_2020_12, "/S/contentSchema: a schema must be");
    compile_fails("{\"$anchor\": \"1abc\"}", KUMO__DIALECT_2020_12, "/S/$anchor: must be a name");
    compile_fails("{\"$dynamicAnchor\": 5}", KUMO__DIALECT_2020_12, "/S/$dynamicAnchor: must be a name");
    compile_fails("{\"$id\": 5}", KUMO__DIALECT_2020_12, "/S/$id: must be a string");
    compile_fails("{\"title\": 5}", KUMO__DIALECT_2020_12, "/S/title: must be a string");
    compile_fails("{\"deprecated\": \"yes\"}", KUMO__DIALECT_2020_12, "/S/deprecated: must be true or false");
    compile_fails("{\"examples\": 5}", KUMO__DIALECT_2020_12, "/S/examples: must be an array");
    compile_fails("{\"$defs\": {\"x\": {\"pattern\": \"\\\\p{Greek}\"}}}", KUMO__DIALECT_2020_12,
                  "/S/$defs/x/pattern: ");
    /* an unused $defs entry that is a fine schema compiles */
    json_t *j = parse("{\"$defs\": {\"a\": {\"type\": \"string\"}, \"b\": true}, \"type\": \"integer\"}");
    kumo__schema *s = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__schema_compile(j, KUMO__DIALECT_2020_12, "", NULL, &s, &err), 0);
    kumo__schema_free(s);
    json_decref(j);
}

/* Patterns are ECMA-262 with the u flag: what PCRE2 would read differently,
 * and what ECMA-262 does not have, is refused at load, naming the place. */
static void test_regex_dialect_refusals(void)
{
    static const char *const refused[][2] = {
        {"\\\\p{Greek}", "write \\p{Script=Greek}"},
        {"\\\\p{L&}", "takes a property name"},
        {"\\\\p{Bidi_Class=L}", "not a Unicode property"},
        {"\\\\p{Nonsense}", "not a Unicode property"},
        {"\\\\p{Script=Nonsense}", "invalid regular expression"},
        {"\\\\p{L", "\\p{...}"},
        {"\\\\Aabc", "'\\A' is not an escape"},
        {"abc\\\\z", "'\\z' is not an escape"},
        {"(?i)abc", "'(?i' is not"},
        {"(*UTF)a", "'(*'"},
        {"a++", "possessive"},
        {"x{", "lone '{'"},
        {"\\\\uD800", "lone surrogate"},
        {"\\\\u{110000}", "beyond U+10FFFF"},
        {"\\\\01", "\\0 followed by a digit"},
        {"[\\\\d-z]", "cannot start a range"},
        {"[a-\\\\s]", "cannot end a range"},
        {"[\\\\1]", "backreference cannot be in a character class"},
        {"\\\\x4", "two hex digits"},
        {"a\\\\", "lone backslash"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char schema[200], want[200];
        snprintf(schema, sizeof schema, "{\"properties\": {\"p\": {\"pattern\": \"%s\"}}}", refused[i][0]);
        snprintf(want, sizeof want, "/S/properties/p/pattern: ");
        compile_fails(schema, KUMO__DIALECT_2020_12, want);
        compile_fails(schema, KUMO__DIALECT_2020_12, refused[i][1]);
        snprintf(schema, sizeof schema, "{\"patternProperties\": {\"%s\": {}}}", refused[i][0]);
        compile_fails(schema, KUMO__DIALECT_2020_12, "/S/patternProperties: ");
    }
    /* the same in 3.0 documents */
    compile_fails("{\"pattern\": \"\\\\p{Greek}\"}", KUMO__DIALECT_OAS30, "/S/pattern: ");
}

/* format: asserted by default (both dialects), an annotation when asked. */
static void test_format_modes(void)
{
    json_t *schema = parse("{\"properties\": {\"d\": {\"format\": \"date\"}, \"e\": {\"format\": \"email\"}}}");
    json_t *bad = parse("{\"d\": \"2024-13-45\", \"e\": \"nope\"}");
    kumo__dialect dialects[2] = {KUMO__DIALECT_OAS30, KUMO__DIALECT_2020_12};
    for (int i = 0; i < 2; i++) {
        kumo__schema *s = NULL;
        kumo__error err = {0};
        kumo__violations v = {0};
        CHECK_INT(kumo__schema_compile(schema, dialects[i], "", NULL, &s, &err), 0);
        CHECK_INT(kumo__schema_validate(s, bad, KUMO__DIR_ANY, &v), 1);
        CHECK_INT(v.count, 2);
        kumo__violations_free(&v);
        kumo__schema_free(s);
        kumo__schema_options o = {.formats = KUMO__FORMATS_ANNOTATE};
        s = NULL;
        CHECK_INT(kumo__schema_compile_opts(schema, dialects[i], "", NULL, &o, &s, &err), 0);
        CHECK_INT(kumo__schema_validate(s, bad, KUMO__DIR_ANY, &v), 0);
        CHECK_INT(v.count, 0);
        kumo__violations_free(&v);
        kumo__schema_free(s);
        o.formats = KUMO__FORMATS_ASSERT;
        s = NULL;
        CHECK_INT(kumo__schema_compile_opts(schema, dialects[i], "", NULL, &o, &s, &err), 0);
        CHECK_INT(kumo__schema_validate(s, bad, KUMO__DIR_ANY, &v), 1);
        kumo__violations_free(&v);
        kumo__schema_free(s);
    }
    /* an unknown mode is refused, not ignored */
    kumo__schema_options o = {.formats = 7};
    kumo__schema *s = NULL;
    kumo__error err = {0};
    CHECK(kumo__schema_compile_opts(schema, KUMO__DIALECT_2020_12, "", NULL, &o, &s, &err) < 0);
    CHECK(s == NULL);
    json_decref(bad);
    json_decref(schema);
}

/* $dynamicRef across schemas the resolver brings in, as in an OpenAPI 3.1
 * document: a generic List component specialised by StringList. */
static void test_dynamic_ref_across_documents(void)
{
    doc_refs r = {{doc_resolve}, NULL, 0};
    r.root = parse("{\"components\": {\"schemas\": {"
                   "\"List\": {\"type\": \"array\", \"items\": {\"$dynamicRef\": \"#items\"},"
                   "          \"$defs\": {\"items\": {\"$dynamicAnchor\": \"items\"}}},"
                   "\"StringList\": {\"$ref\": \"#/components/schemas/List\","
                   "          \"$defs\": {\"items\": {\"$dynamicAnchor\": \"items\", \"type\": \"string\"}}},"
                   "\"Body\": {\"type\": \"object\", \"properties\": {"
                   "     \"tags\": {\"$ref\": \"#/components/schemas/StringList\"},"
                   "     \"any\": {\"$ref\": \"#/components/schemas/List\"}}}}}}");
    json_t *media = parse("{\"$ref\": \"#/components/schemas/Body\"}");
    kumo__schema *s = NULL;
    kumo__error err = {0};
    int rc = kumo__schema_compile(media, KUMO__DIALECT_2020_12,
                                  "/paths/~1a/post/requestBody/content/application~1json/schema", &r.base, &s, &err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "compile: %s\n", err.msg);
    } else {
        static const struct {
            const char *inst;
            int valid;
        } cases[] = {{"{\"tags\": [\"a\", \"b\"], \"any\": [1, null]}", 1},
                     {"{\"tags\": [\"a\", 2]}", 0},
                     {"{\"any\": [2]}", 1}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            json_t *inst = parse(cases[i].inst);
            kumo__violations v = {0};
            CHECK_INT(kumo__schema_validate(s, inst, KUMO__DIR_ANY, &v), cases[i].valid ? 0 : 1);
            if (!cases[i].valid && v.count) {
                CHECK_STR(v.items[0].instance, "/tags/1");
                CHECK_STR(v.items[0].schema, "/components/schemas/StringList/$defs/items/type");
            }
            kumo__violations_free(&v);
            json_decref(inst);
        }
    }
    kumo__schema_free(s);
    json_decref(media);
    json_decref(r.root);
}

static kumo__violations run(const char *schema, kumo__dialect d, const char *instance, int *rc)
{
    json_t *j = parse(schema), *i = parse(instance);
    kumo__schema *s = NULL;
    kumo__error err = {0};
    kumo__violations v = {0};
    *rc = -99;
    if (kumo__schema_compile(j, d, "", NULL, &s, &err) == 0)
        *rc = kumo__schema_validate(s, i, KUMO__DIR_ANY, &v);
    else
        fprintf(stderr, "compile: %s\n", err.msg);
    kumo__schema_free(s);
    json_decref(j);
    json_decref(i);
    return v;
}

static void test_recursion_limits(void)
{
    int rc;
    /* a $ref loop that consumes no input: a violation, not a crash */
    kumo__violations v = run("{\"$ref\": \"#\"}", KUMO__DIALECT_2020_12, "1", &rc);
    CHECK_INT(rc, 1);
    CHECK_INT(v.count, 1);
    CHECK(v.count && strstr(v.items[0].message, "schema recursion too deep") != NULL);
    kumo__violations_free(&v);
    v = run("{\"definitions\": {\"a\": {\"$ref\": \"#/definitions/b\"}, \"b\": {\"$ref\": \"#/definitions/a\"}},"
            "\"properties\": {\"x\": {\"$ref\": \"#/definitions/a\"}}}",
            KUMO__DIALECT_OAS30, "{\"x\": 1}", &rc);
    CHECK_INT(rc, 1);
    CHECK(v.count == 1 && strstr(v.items[0].message, "schema recursion too deep") != NULL);
    CHECK(v.count == 1 && strcmp(v.items[0].instance, "/x") == 0);
    kumo__violations_free(&v);
    /* ...but the same schema is fine where the loop is not reached */
    v = run("{\"definitions\": {\"a\": {\"$ref\": \"#/definitions/a\"}}, \"properties\": {\"x\": {\"$ref\": "
            "\"#/definitions/a\"}}}",
            KUMO__DIALECT_OAS30, "{\"y\": 1}", &rc);
    CHECK_INT(rc, 0);
    kumo__violations_free(&v);
    /* a loop in one anyOf branch: the verdict is invalid even though the
     * other branch passes, since evaluation stopped */
    v = run("{\"anyOf\": [{\"$ref\": \"\"}, {}]}", KUMO__DIALECT_2020_12, "[0]", &rc);
    CHECK_INT(rc, 1);
    CHECK(v.count == 1 && strstr(v.items[0].message, "schema recursion too deep") != NULL);
    kumo__violations_free(&v);
    /* exponential anyOf through $ref gives up with a message */
    v = run("{\"anyOf\": [{\"$ref\": \"#\"}, {\"$ref\": \"#\"}, {\"$ref\": \"#\"}]}", KUMO__DIALECT_2020_12, "1", &rc);
    CHECK_INT(rc, 1);
    CHECK(v.count >= 1);
    kumo__violations_free(&v);
}

static void test_branch_messages(void)
{
    int rc;
    const char *pets =
        "{\"components\": {\"schemas\": {"
        "\"Cat\": {\"type\": \"object\", \"required\": [\"kind\", \"lives\"], \"properties\": "
        "{\"lives\": {\"type\": \"integer\", \"maximum\": 9}}},"
        "\"Dog\": {\"type\": \"object\", \"required\": [\"kind\", \"bark\"]}}},"
        "\"oneOf\": [{\"$ref\": \"#/components/schemas/Cat\"}, {\"$ref\": \"#/components/schemas/Dog\"}]";
    char schema[1024];
    /* plain oneOf: one summary plus the closest branch's errors */
    snprintf(schema, sizeof schema, "%s}", pets);
    kumo__violations v = run(schema, KUMO__DIALECT_OAS30, "{\"kind\": \"Cat\", \"lives\": 10}", &rc);
    CHECK_INT(rc, 1);
    CHECK_INT(v.count, 2);
    if (v.count == 2) {
        CHECK_STR(v.items[0].message, "must match exactly one of the 2 schemas in oneOf, but matches none");
        CHECK_STR(v.items[0].schema, "/oneOf");
        CHECK_STR(v.items[1].message, "must be at most 9 (is 10)");
        CHECK_STR(v.items[1].instance, "/lives");
        CHECK_STR(v.items[1].schema, "/components/schemas/Cat/properties/lives/maximum");
    }
    kumo__violations_free(&v);
    v = run(schema, KUMO__DIALECT_OAS30, "{\"kind\": \"Cat\", \"lives\": 1, \"bark\": true}", &rc);
    CHECK_INT(rc, 1);
    CHECK(v.count == 1 && strstr(v.items[0].message, "matches several (0 and 1)") != NULL);
    kumo__violations_free(&v);
    /* with a discriminator: the chosen branch speaks, unknown values are named */
    snprintf(schema, sizeof schema, "%s, \"discriminator\": {\"propertyName\": \"kind\"}}", pets);
    v = run(schema, KUMO__DIALECT_OAS30, "{\"kind\": \"Dog\"}", &rc);
    CHECK_INT(rc, 1);
    CHECK(v.count == 1 && strcmp(v.items[0].message, "missing required property 'bark'") == 0);
    CHECK(v.count == 1 && strcmp(v.items[0].schema, "/components/schemas/Dog/required") == 0);
    kumo__violations_free(&v);
    v = run(schema, KUMO__DIALECT_OAS30, "{\"kind\": \"Cow\"}", &rc);
    CHECK(v.count == 1 && strcmp(v.items[0].message, "'Cow' is not a known value of the discriminator 'kind'; "
                                                     "expected one of: 'Cat', 'Dog'") == 0);
    CHECK(v.count == 1 && strcmp(v.items[0].instance, "/kind") == 0);
    kumo__violations_free(&v);
    v = run(schema, KUMO__DIALECT_OAS30, "{\"lives\": 3}", &rc);
    CHECK(v.count == 1 && strcmp(v.items[0].message, "missing discriminator property 'kind'") == 0);
    kumo__violations_free(&v);
}

static void test_other_messages(void)
{
    int rc;
    struct {
        const char *schema, *instance, *message;
        kumo__dialect d;
    } cases[] = {
        {"{\"type\": \"integer\"}", "\"x\"", "must be an integer, not a string", KUMO__DIALECT_OAS30},
        {"{\"type\": \"integer\"}", "1.5", "must be an integer, not a number with a fraction", KUMO__DIALECT_OAS30},
        {"{\"type\": \"string\", \"nullable\": true}", "1", "must be a string or null, not an integer",
         KUMO__DIALECT_OAS30},
        {"{\"minLength\": 1}", "\"\"", "must be at least 1 character long (is 0)", KUMO__DIALECT_OAS30},
        {"{\"enum\": [\"a\", \"b\"]}", "\"c\"", "must be one of: \"a\", \"b\"", KUMO__DIALECT_OAS30},
        {"{\"maximum\": 5, \"exclusiveMaximum\": true}", "5", "must be less than 5 (is 5)", KUMO__DIALECT_OAS30},
        {"{\"multipleOf\": 0.5}", "1.25", "must be a multiple of 0.5 (is 1.25)", KUMO__DIALECT_OAS30},
        {"{\"format\": \"date-time\"}", "\"yesterday\"",
         "must be an RFC 3339 date-time, e.g. 2024-05-01T12:00:00Z (format 'date-time')", KUMO__DIALECT_OAS30},
        {"{\"pattern\": \"^[a-z]+$\"}", "\"A\"", "must match the pattern '^[a-z]+$'", KUMO__DIALECT_OAS30},
        {"{\"uniqueItems\": true}", "[1, 2, 1]", "items must be unique, but items 0 and 2 are equal",
         KUMO__DIALECT_OAS30},
        {"{\"minItems\": 2}", "[1]", "must have at least 2 items (has 1)", KUMO__DIALECT_OAS30},
        {"{\"const\": \"on\"}", "\"off\"", "must be exactly \"on\"", KUMO__DIALECT_2020_12},
        {"{\"not\": {}}", "1", "must not match the schema in 'not'", KUMO__DIALECT_2020_12},
        {"{\"dependentRequired\": {\"a\": [\"b\"]}}", "{\"a\": 1}",
         "missing property 'b', required when 'a' is present", KUMO__DIALECT_2020_12},
        {"{\"unevaluatedProperties\": false}", "{\"z\": 1}",
         "property 'z' is not allowed (unevaluatedProperties: false)", KUMO__DIALECT_2020_12},
        {"{\"propertyNames\": {\"maxLength\": 2}}", "{\"abc\": 1}",
         "property name 'abc' is not allowed: must be at most 2 characters long (is 3)", KUMO__DIALECT_2020_12},
        {"{\"contains\": {\"type\": \"string\"}}", "[1, 2]", "must contain at least 1 item matching 'contains' (has 0)",
         KUMO__DIALECT_2020_12},
        {"false", "1", "no value is allowed here (the schema is false)", KUMO__DIALECT_2020_12},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo__violations v = run(cases[i].schema, cases[i].d, cases[i].instance, &rc);
        CHECK_INT(rc, 1);
        if (v.count >= 1) {
            CHECK_STR(v.items[0].message, cases[i].message);
        } else {
            check_failed++;
            fprintf(stderr, "no violation for %s against %s\n", cases[i].instance, cases[i].schema);
        }
        kumo__violations_free(&v);
    }
}

/* ---- threads: one compiled schema, many validators ----------------------- */

typedef struct job {
    const kumo__schema *s;
    json_t *good, *bad;
    int failures;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (int i = 0; i < 200; i++) {
        kumo__violations v = {0};
        if (kumo__schema_validate(j->s, j->good, KUMO__DIR_ANY, &v) != 0)
            j->failures++;
        if (kumo__schema_validate(j->s, j->bad, KUMO__DIR_ANY, &v) != 1 || v.count != 1)
            j->failures++;
        kumo__violations_free(&v);
    }
    return NULL;
}

static void test_threads(void)
{
    json_t *schema = parse("{\"type\": \"array\", \"items\": {\"type\": \"string\", \"pattern\": \"^[a-z]+\\\\d$\"}}");
    kumo__schema *s = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__schema_compile(schema, KUMO__DIALECT_2020_12, "", NULL, &s, &err), 0);
    json_t *good = parse("[\"ab1\", \"c2\"]"), *bad = parse("[\"ab1\", \"C2\"]");
    pthread_t t[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){s, good, bad, 0};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(jobs[i].failures, 0);
    }
    json_decref(good);
    json_decref(bad);
    kumo__schema_free(s);
    json_decref(schema);
}

int main(void)
{
    test_fixtures();
    test_messages_and_locations();
    test_self_reference_by_location();
    test_compile_errors();
    test_metaschema_shape();
    test_regex_dialect_refusals();
    test_format_modes();
    test_dynamic_ref_across_documents();
    test_recursion_limits();
    test_branch_messages();
    test_other_messages();
    test_threads();
    return check_report();
}
