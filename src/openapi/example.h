/*
 * example.h: example values made from a schema, for mock responses
 * (gateway/mock.c) and anything else that needs a plausible instance.
 *
 * The generator reads the schema as written (OpenAPI 3.0 and Swagger 2.0's
 * Schema Object, JSON Schema 2020-12 for OpenAPI 3.1), following $refs
 * through the spec's resolver: declared values first (example, examples,
 * const, default, the first enum value) unless asked for fresh data; else
 * values made from type, format, enum, bounds (exclusive ones too),
 * multipleOf, length and item counts, and patterns in the subset of
 * ECMA-262 a small generator can walk (literals, classes, groups,
 * alternation, quantifiers; lookarounds, backreferences and \b are not:
 * such a schema gets no example, and the reason says so). allOf is merged,
 * one branch of oneOf/anyOf is taken (discriminator values set), readOnly
 * is left out of requests and writeOnly out of responses, depth and array
 * lengths are capped and the output has a byte ceiling. The same schema,
 * options and seed give the same value.
 *
 * A made value may still break a keyword the generator does not model
 * (not, if/then/else, dependentSchemas ...): kumo__example_make checks
 * each attempt with a caller's validator and retries with other seeds, so
 * what it returns is valid by construction or not returned at all.
 */
#ifndef KUMO_EXAMPLE_H
#define KUMO_EXAMPLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "openapi/schema.h"

typedef struct kumo__example_opts {
    uint64_t seed;
    int dialect;              /* kumo__dialect: 30 (OpenAPI 3.0, Swagger 2.0) or 31 (3.1) */
    enum kumo__direction dir; /* RESPONSE leaves writeOnly properties out, REQUEST readOnly ones */
    const kumo__refs *refs;   /* the spec's $ref resolver; NULL: only "#/..." inside the schema itself */
    int declared;             /* 1: example, examples, const, default and enum[0] win over made values */
    unsigned max_depth;       /* nesting past which only required properties and minItems are made (0: 6) */
    unsigned max_items;       /* items of an array beyond minItems (0: 2) */
    size_t max_bytes;         /* ceiling on the value's JSON size, roughly (0: 256 KiB) */
} kumo__example_opts;

/* One attempt: 0 and *out (a new reference); -EINVAL with `why` (one line)
 * when the schema admits nothing the generator can make (false, a
 * pattern outside its subset, a $ref it cannot follow, bounds that do not
 * meet, a value over max_bytes); -ENOMEM. Terminates on any input. */
int kumo__example_generate(const json_t *schema, const kumo__example_opts *o, json_t **out, char *why, size_t why_len);

/* Says whether `value` is valid: 1 yes; 0 no, with the first reason in
 * `why`; negative: could not tell (out of memory). */
typedef int (*kumo__example_check_fn)(void *arg, const json_t *value, char *why, size_t why_len);

/* kumo__example_generate, checked with `check` (NULL: unchecked): the
 * first attempt with o as given, then up to `attempts` - 1 more with
 * other seeds and declared values off, until one passes. 0 and *out;
 * -EDOM when none passed (`why` says what broke last); -EINVAL as for
 * generate; -ENOMEM. */
int kumo__example_make(const json_t *schema, const kumo__example_opts *o, kumo__example_check_fn check, void *arg,
                       unsigned attempts, json_t **out, char *why, size_t why_len);

/* A check over a compiled schema, for kumo__example_make: arg is a
 * kumo__example_schema_check. What the unit tests and the fuzz target use. */
typedef struct kumo__example_schema_check {
    const kumo__schema *schema;
    enum kumo__direction dir;
} kumo__example_schema_check;
int kumo__example_check_schema(void *arg, const json_t *value, char *why, size_t why_len);

#endif
