/*
 * test_example.c: example values made from schemas (src/openapi/example.c).
 *
 * The property that matters: what the generator makes validates against
 * the schema it was made from (kumo__schema_validate, the validator kumo
 * up uses). Checked over every schema of every operation of the specs
 * in examples/ and the unit and integration fixtures (requests and
 * responses, declared values on and off, several seeds), over the
 * validator's own table of schemas (the .json files of fixtures/schema), and over a
 * list of tricky schemas that a first attempt must get right. Then what a
 * table cannot say: determinism, readOnly/writeOnly by direction,
 * discriminators, patterns outside the subset, bounds on the output.
 */
#include "openapi/example.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int generated, unsupported, raw_invalid;

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
    return j;
}

/* One raw attempt: a value validates, or the generator said why not.
 * Returns 1 valid, 0 declined, -1 invalid (printed). */
static int attempt(const json_t *schema, const kumo__schema *compiled, const kumo__example_opts *o, const char *what)
{
    json_t *v = NULL;
    char why[512];
    int rc = kumo__example_generate(schema, o, &v, why, sizeof(why));
    if (rc != 0) {
        CHECK(rc == -EINVAL && why[0] != '\0');
        return 0;
    }
    kumo__example_schema_check c = {compiled, o->dir};
    int ok = kumo__example_check_schema(&c, v, why, sizeof(why));
    if (ok != 1) {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        fprintf(stderr, "  %s (seed %llu, declared %d, dir %d): %.300s: %s\n", what, (unsigned long long)o->seed,
                o->declared, (int)o->dir, text ? text : "?", why);
        free(text);
    }
    json_decref(v);
    return ok == 1 ? 1 : -1;
}

/* ---- every schema of the specs kumo ships and tests with -------------- */

static void spec_schema(const kumo__spec *spec, const json_t *schema, const char *loc, enum kumo__direction dir)
{
    kumo__schema *compiled = NULL;
    kumo__error err = {0};
    if (schema == NULL || kumo__schema_compile(schema, spec->dialect, loc, spec->refs, &compiled, &err) != 0)
        return;
    for (int declared = 0; declared < 2; declared++)
        for (uint64_t seed = 0; seed < 4; seed++) {
            kumo__example_opts o = {
                .seed = seed, .dialect = spec->dialect, .dir = dir, .refs = spec->refs, .declared = declared};
            int r = attempt(schema, compiled, &o, loc);
            if (r == 1)
                generated++;
            else if (r == 0)
                unsupported++;
            else if (declared) /* a declared example may break its schema: the spec's mistake */
                continue;
            else {
                /* a made value may miss a keyword the generator does not model, but then make() must retry it
                 * into a valid one */
                json_t *v = NULL;
                kumo__example_schema_check c = {compiled, dir};
                char why[512];
                int rc = kumo__example_make(schema, &o, kumo__example_check_schema, &c, 8, &v, why, sizeof(why));
                if (rc != 0)
                    fprintf(stderr, "  %s: no valid example in 8 attempts: %s\n", loc, why);
                CHECK(rc == 0 || rc == -EINVAL);
                raw_invalid++;
                json_decref(v);
            }
        }
    kumo__schema_free(compiled);
}

static void spec_file(const char *path)
{
    kumo__spec *spec = NULL;
    kumo__error err = {0};
    if (kumo__spec_load(path, &spec, &err) != 0)
        return; /* fixtures that are meant not to load */
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        for (size_t b = 0; b < op->nbody; b++)
            spec_schema(spec, op->body[b].schema, op->body[b].schema_location, KUMO__DIR_REQUEST);
        for (size_t r = 0; r < op->nresponses; r++)
            for (size_t m = 0; m < op->responses[r].ncontent; m++)
                spec_schema(spec, op->responses[r].content[m].schema, op->responses[r].content[m].schema_location,
                            KUMO__DIR_RESPONSE);
        for (size_t p = 0; p < op->nparams; p++)
            spec_schema(spec, op->params[p].schema, op->params[p].schema_location, KUMO__DIR_REQUEST);
    }
    kumo__spec_free(spec);
}

static void walk(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t n = strlen(e->d_name);
        if (e->d_type == DT_DIR && depth < 3)
            walk(path, depth + 1);
        else if ((n > 5 && strcmp(e->d_name + n - 5, ".yaml") == 0) ||
                 (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0 && strncmp(e->d_name, "spec", 4) == 0) ||
                 strcmp(e->d_name, "openapi.json") == 0)
            spec_file(path);
    }
    closedir(d);
}

static void test_specs(void)
{
    generated = unsupported = raw_invalid = 0;
    walk("../../examples", 0);
    walk("openapi/fixtures", 0);
    walk("../integration/projects", 0);
    printf("specs: %d values made and valid, %d declined with a reason, %d first attempts invalid\n", generated,
           unsupported, raw_invalid);
    CHECK(generated > 500);
    /* the generator models what these specs use: a first attempt is valid */
    CHECK_INT(raw_invalid, 0);
}

/* ---- the validator's own table of schemas ------------------------------- */

static void table_file(const char *path, kumo__dialect dialect)
{
    json_t *cases = json_load_file(path, 0, NULL);
    CHECK(cases != NULL);
    size_t i;
    json_t *c;
    int made = 0, declined = 0, retried = 0;
    json_array_foreach(cases, i, c)
    {
        const char *d = json_string_value(json_object_get(c, "dialect"));
        kumo__dialect dl = d ? (strcmp(d, "2020-12") == 0 ? KUMO__DIALECT_2020_12 : KUMO__DIALECT_OAS30) : dialect;
        json_t *schema = json_object_get(c, "schema");
        kumo__schema *compiled = NULL;
        kumo__error err = {0};
        if (kumo__schema_compile(schema, dl, "", NULL, &compiled, &err) != 0)
            continue;
        for (int dir = 0; dir < 3; dir++) {
            kumo__example_opts o = {.seed = (uint64_t)i, .dialect = dl, .dir = (enum kumo__direction)dir};
            kumo__example_schema_check chk = {compiled, o.dir};
            json_t *v = NULL;
            char why[512];
            int rc = kumo__example_make(schema, &o, kumo__example_check_schema, &chk, 8, &v, why, sizeof(why));
            CHECK(rc == 0 || rc == -EINVAL || rc == -EDOM);
            if (rc == 0) {
                CHECK(kumo__example_check_schema(&chk, v, why, sizeof(why)) == 1);
                made++;
            } else {
                CHECK(why[0] != '\0');
                declined++;
            }
            retried += attempt(schema, compiled, &o, json_string_value(json_object_get(c, "description"))) < 0;
            json_decref(v);
        }
        kumo__schema_free(compiled);
    }
    printf("%s: %d made, %d declined, %d first attempts invalid (then retried)\n", path, made, declined, retried);
    CHECK(made > declined);
    json_decref(cases);
}

static void test_validator_table(void)
{
    table_file("openapi/fixtures/schema/oas30.json", KUMO__DIALECT_OAS30);
    table_file("openapi/fixtures/schema/formats.json", KUMO__DIALECT_OAS30);
    table_file("openapi/fixtures/schema/draft2020.json", KUMO__DIALECT_2020_12);
}

/* ---- tricky schemas: the first attempt must be valid, every seed -------- */

static const struct {
    int dialect;
    const char *schema;
} tricky[] = {
    {30, "{\"type\":\"integer\",\"minimum\":5,\"exclusiveMinimum\":true,\"maximum\":6}"},
    {31, "{\"type\":\"integer\",\"exclusiveMinimum\":5,\"exclusiveMaximum\":7}"},
    {30, "{\"type\":\"integer\",\"minimum\":-20,\"maximum\":-10,\"multipleOf\":7}"},
    {30, "{\"type\":\"integer\",\"multipleOf\":1.5,\"minimum\":1}"},
    {30, "{\"type\":\"number\",\"multipleOf\":0.01,\"minimum\":0.015,\"maximum\":0.05}"},
    {30, "{\"type\":\"number\",\"minimum\":0,\"maximum\":1,\"exclusiveMinimum\":true,\"exclusiveMaximum\":true}"},
    {31, "{\"type\":\"number\",\"exclusiveMinimum\":1e-9,\"exclusiveMaximum\":2e-9}"},
    {30, "{\"type\":\"number\",\"multipleOf\":0.1}"},
    {30, "{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d{3,5}$\"}"},
    {30, "{\"type\":\"string\",\"pattern\":\"^(foo|ba[rz])+(?:-[a-f0-9]{4})?$\"}"},
    {30, "{\"type\":\"string\",\"pattern\":\"^\\\\+?[1-9]\\\\d{1,14}$\"}"},
    {30, "{\"type\":\"string\",\"pattern\":\"^[^@\\\\s]+@[^@\\\\s]+\\\\.[a-z]{2,}$\"}"},
    {30, "{\"type\":\"string\",\"pattern\":\"\\\\u00e9t\\\\u00e9[\\\\u0400-\\\\u04ff]\"}"},
    {30, "{\"type\":\"string\",\"pattern\":\"^(?<year>\\\\d{4})-(?<m>0[1-9]|1[0-2])$\"}"},
    {30, "{\"type\":\"string\",\"minLength\":30,\"maxLength\":32}"},
    {30, "{\"type\":\"string\",\"maxLength\":2}"},
    {30, "{\"type\":\"string\",\"format\":\"date-time\"}"},
    {30, "{\"type\":\"string\",\"format\":\"date\"}"},
    {30, "{\"type\":\"string\",\"format\":\"time\"}"},
    {30, "{\"type\":\"string\",\"format\":\"uuid\"}"},
    {30, "{\"type\":\"string\",\"format\":\"email\"}"},
    {30, "{\"type\":\"string\",\"format\":\"uri\"}"},
    {30, "{\"type\":\"string\",\"format\":\"uri-reference\"}"},
    {30, "{\"type\":\"string\",\"format\":\"hostname\"}"},
    {30, "{\"type\":\"string\",\"format\":\"ipv4\"}"},
    {30, "{\"type\":\"string\",\"format\":\"ipv6\"}"},
    {30, "{\"type\":\"string\",\"format\":\"byte\"}"},
    {30, "{\"type\":\"string\",\"format\":\"regex\"}"},
    {30, "{\"type\":\"string\",\"format\":\"json-pointer\"}"},
    {30, "{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":2147483600}"},
    {30, "{\"type\":\"string\",\"enum\":[\"a\",\"b\",\"c\"]}"},
    {30, "{\"type\":\"string\",\"nullable\":true}"},
    {31, "{\"type\":[\"null\",\"integer\"],\"minimum\":3}"},
    {31, "{\"type\":\"null\"}"},
    {30, "{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3},\"minItems\":4,"
         "\"uniqueItems\":true}"},
    {30, "{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"maxItems\":2,\"uniqueItems\":true}"},
    {31, "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}"},
    {31, "{\"type\":\"array\",\"contains\":{\"type\":\"string\",\"const\":\"x\"},\"items\":{\"type\":\"string\"}}"},
    {30, "{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"
         "\"integer\"}},\"additionalProperties\":false}"},
    {30, "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"},\"minProperties\":3}"},
    {30, "{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{},\"c\":{}},\"maxProperties\":1,\"required\":[\"c\"]}"},
    {30, "{\"type\":\"object\",\"required\":[\"x\",\"y\"],\"properties\":{\"x\":{\"type\":\"integer\"}},"
         "\"additionalProperties\":{\"type\":\"boolean\"}}"},
    {30, "{\"allOf\":[{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"integer\","
         "\"minimum\":10}}},{\"properties\":{\"a\":{\"maximum\":12}}},{\"required\":[\"b\"],\"properties\":{\"b\":"
         "{\"type\":\"string\",\"format\":\"email\"}}}]}"},
    {30, "{\"allOf\":[{\"type\":\"number\"},{\"type\":\"integer\",\"maximum\":3,\"minimum\":3}]}"},
    {30, "{\"oneOf\":[{\"type\":\"string\",\"maxLength\":3},{\"type\":\"integer\"}]}"},
    {30, "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}"},
    {30, "{\"type\":\"object\",\"properties\":{\"pw\":{\"type\":\"string\",\"writeOnly\":true},\"id\":{\"type\":"
         "\"integer\",\"readOnly\":true}},\"required\":[\"pw\",\"id\"]}"},
    {30, "{\"$ref\":\"#/definitions/Node\",\"definitions\":{\"Node\":{\"type\":\"object\",\"properties\":{"
         "\"value\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/definitions/Node\"}}}}}"},
    {31, "{\"$ref\":\"#/$defs/T\",\"minimum\":4,\"$defs\":{\"T\":{\"type\":\"integer\",\"maximum\":5}}}"},
    {31, "{\"$defs\":{\"Tree\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{"
         "\"$ref\":\"#/$defs/Tree\"}}}}},\"$ref\":\"#/$defs/Tree\"}"},
    {30, "{\"type\":\"object\",\"properties\":{\"kind\":{\"type\":\"string\"}},\"required\":[\"kind\"],"
         "\"discriminator\":{\"propertyName\":\"kind\",\"mapping\":{\"c\":\"#/definitions/Cat\",\"d\":"
         "\"#/definitions/Dog\"}},\"oneOf\":[{\"$ref\":\"#/definitions/Cat\"},{\"$ref\":\"#/definitions/Dog\"}],"
         "\"definitions\":{\"Cat\":{\"type\":\"object\",\"properties\":{\"kind\":{\"type\":\"string\"},\"meow\":{"
         "\"type\":\"boolean\"}},\"required\":[\"meow\"]},\"Dog\":{\"type\":\"object\",\"properties\":{\"kind\":{"
         "\"type\":\"string\"},\"bark\":{\"type\":\"integer\"}},\"required\":[\"bark\"]}}}"},
    {30, "{}"},
    {31, "true"},
    {30, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"object\","
         "\"properties\":{\"c\":{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"object\",\"properties\":{"
         "\"e\":{\"type\":\"object\",\"properties\":{\"f\":{\"type\":\"object\",\"properties\":{\"g\":{\"type\":"
         "\"string\"}}}}}}}}}}}}}}}"},
};

static void test_tricky(void)
{
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        json_t *schema = parse(tricky[i].schema);
        kumo__schema *compiled = NULL;
        kumo__error err = {0};
        CHECK(schema != NULL);
        int rc = kumo__schema_compile(schema, tricky[i].dialect, "", NULL, &compiled, &err);
        if (rc != 0) {
            fprintf(stderr, "tricky %zu does not compile: %s\n", i, err.msg);
            CHECK(rc == 0);
            json_decref(schema);
            continue;
        }
        for (uint64_t seed = 0; seed < 25; seed++)
            for (int dir = 0; dir < 3; dir++)
                for (int declared = 0; declared < 2; declared++) {
                    kumo__example_opts o = {.seed = seed,
                                            .dialect = tricky[i].dialect,
                                            .dir = (enum kumo__direction)dir,
                                            .declared = declared};
                    int r = attempt(schema, compiled, &o, tricky[i].schema);
                    if (r != 1)
                        fprintf(stderr, "tricky %zu: %s\n", i, r == 0 ? "declined" : "invalid");
                    CHECK(r == 1);
                }
        kumo__schema_free(compiled);
        json_decref(schema);
    }
}

/* ---- what a table cannot say -------------------------------------------- */

static char *make_text(const char *schema_text, uint64_t seed, int dialect, enum kumo__direction dir, int declared)
{
    json_t *schema = parse(schema_text), *v = NULL;
    kumo__example_opts o = {.seed = seed, .dialect = dialect, .dir = dir, .declared = declared};
    char why[256];
    char *text = NULL;
    if (kumo__example_generate(schema, &o, &v, why, sizeof(why)) == 0)
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    else
        text = strdup(why);
    json_decref(v);
    json_decref(schema);
    return text;
}

static void test_determinism(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
                    "\"n\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}";
    char *a = make_text(s, 42, 30, KUMO__DIR_RESPONSE, 0), *b = make_text(s, 42, 30, KUMO__DIR_RESPONSE, 0);
    char *c = make_text(s, 43, 30, KUMO__DIR_RESPONSE, 0);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    free(a), free(b), free(c);
}

static void test_declared(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"example\":\"Rex\"},"
                    "\"kind\":{\"type\":\"string\",\"enum\":[\"dog\",\"cat\"]},\"age\":{\"type\":\"integer\","
                    "\"default\":3}}}";
    char *t = make_text(s, 7, 30, KUMO__DIR_RESPONSE, 1);
    CHECK_STR(t, "{\"age\":3,\"kind\":\"dog\",\"name\":\"Rex\"}");
    free(t);
    t = make_text("{\"type\":\"string\",\"examples\":[\"first\",\"second\"]}", 1, 31, KUMO__DIR_RESPONSE, 1);
    CHECK_STR(t, "\"first\"");
    free(t);
    /* fresh data ignores the declared example */
    t = make_text("{\"type\":\"string\",\"example\":\"Rex\"}", 1, 30, KUMO__DIR_RESPONSE, 0);
    CHECK(strcmp(t, "\"Rex\"") != 0);
    free(t);
}

static void test_directions(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"pw\":{\"type\":\"string\",\"writeOnly\":true},"
                    "\"id\":{\"type\":\"integer\",\"readOnly\":true},\"name\":{\"type\":\"string\"}}}";
    char *resp = make_text(s, 1, 30, KUMO__DIR_RESPONSE, 0), *req = make_text(s, 1, 30, KUMO__DIR_REQUEST, 0);
    CHECK(strstr(resp, "\"pw\"") == NULL && strstr(resp, "\"id\"") != NULL);
    CHECK(strstr(req, "\"id\"") == NULL && strstr(req, "\"pw\"") != NULL);
    free(resp), free(req);
}

static void test_discriminator(void)
{
    size_t k = 0;
    while (strstr(tricky[k].schema, "discriminator") == NULL)
        k++;
    for (uint64_t seed = 0; seed < 8; seed++) {
        char *t = make_text(tricky[k].schema, seed, 30, KUMO__DIR_RESPONSE, 0);
        CHECK((strstr(t, "\"kind\":\"c\"") && strstr(t, "meow")) || (strstr(t, "\"kind\":\"d\"") && strstr(t, "bark")));
        free(t);
    }
}

static void test_declines(void)
{
    static const struct {
        const char *schema, *why;
    } cases[] = {
        {"{\"type\":\"string\",\"pattern\":\"^(?=.*\\\\d)[a-z0-9]{8}$\"}", "lookahead"},
        {"{\"type\":\"string\",\"pattern\":\"\\\\bword\\\\b\"}", "word boundary"},
        {"{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "backreference"},
        {"{\"type\":\"string\",\"pattern\":\"\\\\p{L}+\"}", "Unicode property"},
        {"{\"type\":\"integer\",\"minimum\":3,\"maximum\":2}", "no integer"},
        {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":5,\"multipleOf\":7}", "no multiple"},
        {"false", "nothing is valid"},
        {"{\"enum\":[]}", "nothing is valid"},
        {"{\"type\":\"array\",\"minItems\":100000}", "minItems"},
        {"{\"type\":\"string\",\"minLength\":1000000}", "minLength"},
        {"{\"$ref\":\"#/nowhere\"}", "cannot follow $ref"},
        {"{\"allOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "never meet"},
        {"{\"$ref\":\"#\"}", "$refs in a chain"},
        {"{\"type\":\"object\",\"required\":[\"self\"],\"properties\":{\"self\":{\"$ref\":\"#\"}}}", "deeper than"},
        {"{\"type\":\"string\",\"pattern\":\"a{5000}\"}", "longer than 4096"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = make_text(cases[i].schema, 0, 30, KUMO__DIR_RESPONSE, 0);
        if (strstr(t, cases[i].why) == NULL)
            fprintf(stderr, "decline %zu: '%s' does not say '%s'\n", i, t, cases[i].why);
        CHECK(strstr(t, cases[i].why) != NULL);
        free(t);
    }
}

static void test_bounded(void)
{
    /* wide and deep: the value stays under max_bytes or is declined */
    const char *s = "{\"$defs\":{\"N\":{\"type\":\"object\",\"required\":[\"a\",\"b\",\"c\"],\"properties\":{"
                    "\"a\":{\"type\":\"array\",\"minItems\":50,\"items\":{\"$ref\":\"#/$defs/N\"}},\"b\":{\"$ref\":"
                    "\"#/$defs/N\"},\"c\":{\"type\":\"string\",\"minLength\":4000}}}},\"$ref\":\"#/$defs/N\"}";
    json_t *schema = parse(s), *v = NULL;
    kumo__example_opts o = {.dialect = 31, .dir = KUMO__DIR_RESPONSE, .max_bytes = 100000};
    char why[256];
    int rc = kumo__example_generate(schema, &o, &v, why, sizeof(why));
    CHECK(rc == -EINVAL);
    CHECK(strstr(why, "larger than") != NULL || strstr(why, "too large") != NULL || strstr(why, "deeper") != NULL);
    json_decref(schema);
    json_decref(v);
}

int main(void)
{
    test_tricky();
    test_determinism();
    test_declared();
    test_directions();
    test_discriminator();
    test_declines();
    test_bounded();
    test_validator_table();
    test_specs();
    return check_report();
}
