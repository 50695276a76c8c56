/*
 * test_schema_share.c: compiling through a kumo__schema_cache (schema.h;
 * kumo__opcheck_build_all compiles every operation this way) gives what
 * compiling each schema alone gives: the same verdict and the same
 * violations, word for word (instance pointer, schema location, message),
 * in both directions, for components shared by many operations, a
 * component that refers to itself, two that refer to each other (a cycle:
 * compiled inline), patterns, readOnly and writeOnly; one compiled
 * component is shared (the second compilation takes no copy), the cache
 * may go first, and a component that does not compile gives the same
 * error with or without the cache.
 */
#include "openapi/check.h"
#include "openapi/openapi.h"
#include "openapi/schema.h"
#include "openapi/schema_internal.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SPEC[] =
    "openapi: 3.0.3\n"
    "info: {title: share, version: '1'}\n"
    "paths:\n"
    "  /pets:\n"
    "    get:\n"
    "      responses:\n"
    "        '200':\n"
    "          description: ok\n"
    "          content: {application/json: {schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}}}\n"
    "    post:\n"
    "      requestBody:\n"
    "        content: {application/json: {schema: {$ref: '#/components/schemas/Pet'}}}\n"
    "      responses:\n"
    "        '201':\n"
    "          description: ok\n"
    "          content: {application/json: {schema: {$ref: '#/components/schemas/Pet'}}}\n"
    "  /owners/{id}:\n"
    "    parameters: [{$ref: '#/components/parameters/Id'}]\n"
    "    get:\n"
    "      responses:\n"
    "        '200':\n"
    "          description: ok\n"
    "          content: {application/json: {schema: {$ref: '#/components/schemas/Owner'}}}\n"
    "    put:\n"
    "      requestBody:\n"
    "        content: {application/json: {schema: {allOf: [{$ref: '#/components/schemas/Owner'}, {required: "
    "[name]}]}}}\n"
    "      responses:\n"
    "        '200':\n"
    "          description: ok\n"
    "          content: {application/json: {schema: {$ref: '#/components/schemas/Owner'}}}\n"
    "components:\n"
    "  parameters:\n"
    "    Id: {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}\n"
    "  schemas:\n"
    "    Tag:\n"
    "      type: object\n"
    "      required: [name]\n"
    "      properties: {name: {type: string, pattern: '^[a-z]+$', maxLength: 8}}\n"
    "    Pet:\n"
    "      type: object\n"
    "      required: [name]\n"
    "      additionalProperties: false\n"
    "      properties:\n"
    "        id: {type: integer, readOnly: true}\n"
    "        secret: {type: string, writeOnly: true}\n"
    "        name: {type: string, maxLength: 5}\n"
    "        kind: {type: string, enum: [cat, dog]}\n"
    "        tags: {type: array, maxItems: 2, items: {$ref: '#/components/schemas/Tag'}}\n"
    "        parent: {$ref: '#/components/schemas/Pet'}\n"
    "        owner: {$ref: '#/components/schemas/Owner'}\n"
    "    Owner:\n"
    "      type: object\n"
    "      properties:\n"
    "        name: {type: string, minLength: 2}\n"
    "        pets: {type: array, items: {$ref: '#/components/schemas/Pet'}}\n"
    "        best: {oneOf: [{$ref: '#/components/schemas/Pet'}, {$ref: '#/components/schemas/Tag'}]}\n";

static const char *const INSTANCES[] = {
    "[]",
    "{}",
    "[{\"name\": \"rex\"}]",
    "[{\"name\": \"toolongname\", \"id\": 3, \"secret\": \"s\", \"extra\": 1}]",
    "{\"name\": \"rex\", \"id\": 1, \"secret\": \"x\"}",
    "{\"name\": 5, \"kind\": \"cow\", \"tags\": [{\"name\": \"ok\"}, {\"name\": \"NO\"}, {}]}",
    "{\"name\": \"a\", \"parent\": {\"name\": \"b\", \"parent\": {\"name\": 1}}}",
    "{\"name\": \"a\", \"owner\": {\"name\": \"x\", \"pets\": [{\"name\": \"bb\", \"owner\": {\"name\": 1}}]}}",
    "{\"name\": \"ab\", \"pets\": [{\"name\": \"c\"}, {\"nam\": 1}], \"best\": {\"name\": \"zz\"}}",
    "{\"best\": {\"name\": \"cat\", \"tags\": []}, \"pets\": \"no\"}",
    "{\"best\": 3}",
    "42",
};

/* The violations as one string, to compare word for word. */
static char *said(const kumo__schema *s, const json_t *v, enum kumo__direction dir, int *verdict)
{
    kumo__violations out = {0};
    *verdict = kumo__schema_validate(s, v, dir, &out);
    size_t cap = 64;
    for (size_t i = 0; i < out.count; i++)
        cap += strlen(out.items[i].instance) + strlen(out.items[i].schema) + strlen(out.items[i].message) + 8;
    char *text = malloc(cap), *p = text;
    if (text) {
        p += sprintf(p, "%d:", *verdict);
        for (size_t i = 0; i < out.count; i++)
            p += sprintf(p, "%s|%s|%s\n", out.items[i].instance, out.items[i].schema, out.items[i].message);
    }
    kumo__violations_free(&out);
    return text;
}

typedef struct compiled {
    const char *what;
    kumo__schema *alone, *shared;
} compiled;

static void test_same_violations(const kumo__spec *spec)
{
    compiled c[32];
    size_t n = 0;
    kumo__schema_cache *cache = kumo__schema_cache_new();
    CHECK(cache != NULL);
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        const kumo__media *all[8];
        size_t nm = 0;
        for (size_t k = 0; k < op->nbody && nm < 8; k++)
            all[nm++] = &op->body[k];
        for (size_t r = 0; r < op->nresponses; r++)
            for (size_t k = 0; k < op->responses[r].ncontent && nm < 8; k++)
                all[nm++] = &op->responses[r].content[k];
        for (size_t k = 0; k < nm && n < 32; k++, n++) {
            kumo__error e1 = {0}, e2 = {0};
            c[n].what = all[k]->schema_location;
            CHECK_INT(kumo__schema_compile(all[k]->schema, (kumo__dialect)spec->dialect, all[k]->schema_location,
                                           spec->refs, &c[n].alone, &e1),
                      0);
            CHECK_INT(kumo__schema_compile_cached(all[k]->schema, (kumo__dialect)spec->dialect, all[k]->schema_location,
                                                  spec->refs, cache, &c[n].shared, &e2),
                      0);
        }
    }
    CHECK(n == 6);
    kumo__schema_cache_free(cache); /* the compiled schemas hold what they use */
    size_t compared = 0;
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < sizeof(INSTANCES) / sizeof(*INSTANCES); i++) {
            json_error_t je;
            json_t *v = json_loads(INSTANCES[i], JSON_DECODE_ANY, &je);
            CHECK(v != NULL);
            for (int dir = KUMO__DIR_ANY; v && dir <= KUMO__DIR_RESPONSE; dir++) {
                int va = 0, vs = 0;
                char *a = said(c[k].alone, v, (enum kumo__direction)dir, &va);
                char *s = said(c[k].shared, v, (enum kumo__direction)dir, &vs);
                CHECK_INT(vs, va);
                CHECK(a && s);
                if (a && s && strcmp(a, s) != 0)
                    fprintf(stderr, "%s, %s, direction %d:\nalone:\n%s\nshared:\n%s\n", c[k].what, INSTANCES[i], dir, a,
                            s);
                CHECK(a && s && strcmp(a, s) == 0);
                compared += va == 1;
                free(a);
                free(s);
            }
            json_decref(v);
        }
        kumo__schema_free(c[k].alone);
        kumo__schema_free(c[k].shared);
    }
    CHECK(compared > 20); /* most instances are invalid somewhere: messages were compared */
}

/* Sharing shows in the memory: compiling the six schemas alone copies Pet
 * and Owner into each; through the cache the later ones take no copy. */
static void test_shared_once(const kumo__spec *spec)
{
    const kumo__media *post = &spec->ops[1].body[0];
    kumo__schema_cache *cache = kumo__schema_cache_new();
    kumo__schema *a = NULL, *b = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__schema_compile_cached(post->schema, (kumo__dialect)spec->dialect, post->schema_location, spec->refs,
                                          cache, &a, &err),
              0);
    CHECK_INT(kumo__schema_compile_cached(post->schema, (kumo__dialect)spec->dialect, post->schema_location, spec->refs,
                                          cache, &b, &err),
              0);
    /* the one node of each: a {$ref} whose target is the same compiled Pet */
    CHECK(a && b && a->root != b->root && a->root->ref != NULL && a->root->ref == b->root->ref);
    kumo__schema_free(a);
    kumo__schema_cache_free(cache);
    json_t *v = json_loads("{\"name\": \"toolong\"}", 0, NULL);
    kumo__violations out = {0};
    CHECK_INT(kumo__schema_validate(b, v, KUMO__DIR_ANY, &out), 1); /* still whole after the others went */
    kumo__violations_free(&out);
    json_decref(v);
    kumo__schema_free(b);
}

/* A component that does not compile: the same message through the cache,
 * from kumo__opcheck_build_all as from kumo__opcheck_build. */
static void test_same_error(void)
{
    char path[] = "/tmp/kumo-share-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0);
    static const char bad[] = "openapi: 3.0.3\ninfo: {title: bad, version: '1'}\npaths:\n"
                              "  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n"
                              "          content: {application/json: {schema: {$ref: '#/components/schemas/A'}}}\n"
                              "  /b:\n    get:\n      responses:\n        '200':\n          description: ok\n"
                              "          content: {application/json: {schema: {$ref: '#/components/schemas/B'}}}\n"
                              "components:\n  schemas:\n"
                              "    A: {type: object, properties: {b: {$ref: '#/components/schemas/B'}}}\n"
                              "    B: {type: string, pattern: '[a-'}\n";
    CHECK(fd >= 0 && write(fd, bad, sizeof(bad) - 1) == (ssize_t)(sizeof(bad) - 1));
    if (fd >= 0)
        close(fd);
    kumo__spec *spec = NULL;
    kumo__error err = {0}, e1 = {0}, e2 = {0};
    CHECK_INT(kumo__spec_load(path, &spec, &err), 0);
    if (spec) {
        kumo__opcheck *one = NULL, *all[2] = {NULL, NULL};
        CHECK(kumo__opcheck_build(spec, 0, &one, &e1) < 0);
        CHECK(kumo__opcheck_build_all(spec, all, &e2) < 0);
        CHECK_STR(e2.msg, e1.msg);
        CHECK(strstr(e1.msg, "invalid regular expression") != NULL);
        kumo__opcheck_free(one);
        kumo__opcheck_free(all[0]);
        kumo__opcheck_free(all[1]);
        kumo__spec_free(spec);
    }
    unlink(path);
}

int main(void)
{
    char path[] = "/tmp/kumo-share-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0 && write(fd, SPEC, sizeof(SPEC) - 1) == (ssize_t)(sizeof(SPEC) - 1));
    if (fd >= 0)
        close(fd);
    kumo__spec *spec = NULL;
    kumo__error err = {0};
    int rc = kumo__spec_load(path, &spec, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    CHECK_INT(rc, 0);
    if (spec) {
        test_same_violations(spec);
        test_shared_once(spec);
        /* every operation's checks through the cache, as kumo up builds them */
        kumo__opcheck *checks[8] = {0};
        CHECK_INT(kumo__opcheck_build_all(spec, checks, &err), 0);
        for (size_t i = 0; i < spec->nops; i++)
            kumo__opcheck_free(checks[i]);
        kumo__spec_free(spec);
    }
    unlink(path);
    test_same_error();
    return check_report();
}
