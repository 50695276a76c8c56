/*
 * schema.h: kumo's JSON Schema validator, for the OpenAPI 3.0 Schema Object
 * and JSON Schema 2020-12 (OpenAPI 3.1).
 *
 * A schema is compiled once (at start-up, on the control plane) and then
 * validated against any number of instances, from any number of threads at
 * once: validation only reads the compiled form. Validation collects every
 * violation, not just the first, each with the instance's JSON Pointer, the
 * schema location and a message a person can act on.
 */
#ifndef KUMO_SCHEMA_H
#define KUMO_SCHEMA_H

#include <jansson.h>

#include "openapi/openapi.h"

typedef enum kumo__dialect {
    KUMO__DIALECT_OAS30 = 30,   /* OpenAPI 3.0 Schema Object (also Swagger 2.0's) */
    KUMO__DIALECT_2020_12 = 31, /* JSON Schema 2020-12, as in OpenAPI 3.1 */
} kumo__dialect;

enum kumo__direction {
    KUMO__DIR_ANY = 0,
    KUMO__DIR_REQUEST = 1,  /* readOnly properties must not be sent */
    KUMO__DIR_RESPONSE = 2, /* writeOnly properties must not be returned */
};

/* Resolves a $ref that is not inside the schema resource being compiled
 * (another file, or a pointer into the enclosing OpenAPI document). `at` is
 * the schema object holding the $ref. Returns the target (borrowed; it
 * must live as long as the compiled schema) and its location for messages
 * in *where (e.g. "/components/schemas/Pet" or "pet.yaml#/Pet"), or NULL
 * with err set. */
typedef struct kumo__refs kumo__refs;
struct kumo__refs {
    json_t *(*resolve)(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                       kumo__error *err);
};

typedef struct kumo__violation {
    char *instance; /* JSON Pointer into the instance: "/items/0/title" */
    char *schema;   /* where the failing keyword is: "/components/schemas/Todo/properties/title/maxLength" */
    char *message;  /* "is 240 characters long; at most 200 are allowed" */
} kumo__violation;

typedef struct kumo__violations {
    kumo__violation *items;
    size_t count, cap;
    size_t limit; /* stop after this many (0: 100); `truncated` is set */
    int truncated;
} kumo__violations;

void kumo__violations_free(kumo__violations *v);

typedef struct kumo__schema kumo__schema;

/* Compiles `schema` (borrowed; it must outlive the result). `location` is
 * the schema's own location for messages ("/components/schemas/Todo", or
 * "" for a standalone file). `refs` may be NULL: then only refs inside the
 * schema's own document (fragments "#...", $anchor, $id-relative) work.
 * Refused, with a message that starts with the keyword's location: a
 * keyword's value of the wrong type, a subschema that is not a schema even
 * where nothing refers to it (2020-12 $defs, contentSchema), a pattern
 * that is not an ECMA-262 regular expression kumo can match as ECMA-262
 * would (schema_regex.h), an unresolvable $ref. */
int kumo__schema_compile(const json_t *schema, kumo__dialect dialect, const char *location, const kumo__refs *refs,
                         kumo__schema **out, kumo__error *err);

/* What `format` does. JSON Schema 2020-12 makes it an annotation unless the
 * format-assertion vocabulary is in use; OpenAPI users expect it enforced,
 * so kumo asserts by default (docs/validation.md, "Formats"). */
enum kumo__formats {
    KUMO__FORMATS_ASSERT = 0,   /* known formats are checked (the default) */
    KUMO__FORMATS_ANNOTATE = 1, /* `format` is only checked to be a string */
};

typedef struct kumo__schema_options {
    enum kumo__formats formats;
} kumo__schema_options;

/* kumo__schema_compile with options; `opts` NULL means the defaults (all
 * zero). An option value kumo does not know is refused. */
int kumo__schema_compile_opts(const json_t *schema, kumo__dialect dialect, const char *location, const kumo__refs *refs,
                              const kumo__schema_options *opts, kumo__schema **out, kumo__error *err);
/* Drops a reference to `s` (the caller's, from compiling; shared schemas
 * hold more, see below): the last frees it. Thread-safe. */
void kumo__schema_free(kumo__schema *s);

/* Compiled component schemas shared between compilations. Compiling an
 * OpenAPI 3.0 schema through a cache, a $ref that leaves the schema (a
 * component, another file) compiles its target once, as a schema of its
 * own at the location the resolver names, and every later compilation
 * that reaches the same target at the same location points into that one
 * instead of compiling its own copy: kumo up's 400 operations of bench/
 * gen_spec.py's document compile each component once instead of six
 * times. What is compiled and validated is what a compilation without
 * the cache gives: the same nodes, locations and messages (a target that
 * does not compile alone, or that is being compiled when it is reached
 * again, a cycle, is compiled inline as without a cache). JSON Schema
 * 2020-12 (OpenAPI 3.1) compiles without sharing: its dynamic scope
 * depends on the way a schema is reached. A compiled schema holds
 * references on the shared ones it points into, so the cache may be freed
 * first. One thread at a time per cache. */
typedef struct kumo__schema_cache kumo__schema_cache;
kumo__schema_cache *kumo__schema_cache_new(void);
void kumo__schema_cache_free(kumo__schema_cache *cache);
/* kumo__schema_compile through `cache` (NULL: none). */
int kumo__schema_compile_cached(const json_t *schema, kumo__dialect dialect, const char *location,
                                const kumo__refs *refs, kumo__schema_cache *cache, kumo__schema **out,
                                kumo__error *err);

/* 0: valid; 1: invalid, violations appended to *out; negative: out of
 * memory. Thread-safe. */
int kumo__schema_validate(const kumo__schema *s, const json_t *instance, enum kumo__direction dir,
                          kumo__violations *out);

#endif
