/*
 * example.c: example values made from a schema (see example.h).
 *
 * One attempt walks the schema once, with a splitmix64 generator seeded
 * from the options, so the same schema and seed give the same value.
 * Composition is flattened before a value is made: allOf members (and a
 * 3.1 $ref's target beside its siblings) are merged into one schema
 * (properties joined, required united, types intersected, the tighter
 * bound kept), and one branch of each oneOf/anyOf is merged in too, with
 * the discriminator's property pinned to the branch's name. What the
 * merge cannot express (not, if/then/else, contains beyond one item) is
 * left to the caller's check and retries (kumo__example_make).
 *
 * Everything is bounded: schema nodes visited per attempt (STEPS_MAX),
 * nesting (HARD_DEPTH, whatever the options), $ref chains, counts asked
 * by minItems/minProperties/minLength, the pattern generator's output,
 * and the value's size (max_bytes).
 */
#include "openapi/example.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi/pointer.h"

#define DEPTH_DEFAULT 6
#define ITEMS_DEFAULT 2
#define BYTES_DEFAULT (256u << 10)
#define HARD_DEPTH 64       /* nesting of schemas walked, whatever max_depth says */
#define STEPS_MAX 100000    /* schema nodes visited per attempt */
#define REF_CHAIN_MAX 32    /* $ref followed in a row */
#define COUNT_MAX 1000      /* minItems, minProperties honoured */
#define STRING_MAX 4096     /* minLength honoured, and a pattern's output */
#define ALTERNATIVES_MAX 64 /* oneOf/anyOf branches considered */
#define REFS_TRACKED 64     /* $ref targets remembered along the way down */

typedef struct gen {
    const kumo__example_opts *o;
    const json_t *root; /* the schema given: "#/..." refs without a resolver */
    uint64_t rng;
    size_t bytes, steps, max_bytes;
    unsigned max_depth, max_items;
    int declared;
    int failed, oom;
    const json_t *refs[REFS_TRACKED]; /* the $ref targets being made, outermost first */
    unsigned nrefs;
    char *why;
    size_t why_len;
} gen;

static uint64_t next(gen *g)
{
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(gen *g, uint64_t n)
{
    return n ? next(g) % n : 0;
}

static json_t *fail(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *fail(gen *g, const char *fmt, ...)
{
    if (!g->failed && g->why && g->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->why, g->why_len, fmt, ap);
        va_end(ap);
    }
    g->failed = 1;
    return NULL;
}

static json_t *oom(gen *g)
{
    g->oom = 1;
    return fail(g, "out of memory");
}

/* Counts toward max_bytes; 0 when over. */
static int spend(gen *g, size_t n)
{
    g->bytes += n;
    if (g->bytes > g->max_bytes) {
        fail(g, "the example would be larger than %zu bytes; add an example to the spec", g->max_bytes);
        return 0;
    }
    return 1;
}

/* Roughly the JSON size of v, stopping past `cap`. */
static size_t json_size(const json_t *v, size_t cap, int depth)
{
    size_t n = 2;
    if (json_is_string(v))
        return json_string_length(v) + 2;
    if (json_is_number(v))
        return 24;
    if (depth > 64)
        return cap + 1;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if ((n += json_size(e, cap, depth + 1) + 1) > cap) return n;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) if ((n += strlen(k) + 4 + json_size(e, cap, depth + 1)) > cap) return n;
    } else {
        n = 5;
    }
    return n;
}

/* A deep copy of a declared value (example, enum member, const), counted. */
static json_t *copy_value(gen *g, const json_t *v)
{
    if (!spend(g, json_size(v, g->max_bytes, 0)))
        return NULL;
    json_t *c = json_deep_copy(v);
    return c ? c : oom(g);
}

static const char *const words[] = {"alpha",  "bravo",  "charlie", "delta", "echo",    "foxtrot",  "golf",    "hotel",
                                    "india",  "juliet", "kilo",    "lima",  "mike",    "november", "oscar",   "papa",
                                    "quebec", "romeo",  "sierra",  "tango", "uniform", "victor",   "whiskey", "yankee"};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static const char *word(gen *g)
{
    return words[below(g, NWORDS)];
}

/* ---- small readers ------------------------------------------------------- */

static int num_of(const json_t *s, const char *key, double *out)
{
    json_t *v = json_object_get(s, key);
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

static long long count_of(const json_t *s, const char *key, long long dflt)
{
    json_t *v = json_object_get(s, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        return (long long)json_real_value(v);
    return dflt;
}

static int is_true(const json_t *s, const char *key)
{
    return json_is_true(json_object_get(s, key));
}

/* An empty object or `true`: anything. */
static int is_any(const json_t *s)
{
    return s == NULL || json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0);
}

/* ---- $ref ---------------------------------------------------------------- */

static const json_t *resolve_ref(gen *g, const json_t *holder, const json_t *ref)
{
    if (!json_is_string(ref))
        return fail(g, "$ref must be a string");
    const char *r = json_string_value(ref);
    if (g->o->refs) {
        kumo__error e = {0};
        json_t *t = g->o->refs->resolve(g->o->refs, holder, r, NULL, 0, &e);
        if (t)
            return t;
    }
    if (r[0] == '#') {
        json_t *t = kumo__pointer_get(g->root, r + 1, strlen(r + 1), 1);
        if (t)
            return t;
    }
    return fail(g, "cannot follow $ref '%.200s'", r);
}

/* OpenAPI 3.0 (and Swagger 2.0): a $ref replaces its object, siblings and
 * all. Follows chains; NULL when one cannot be followed. */
static const json_t *deref30(gen *g, const json_t *s)
{
    for (int n = 0; json_is_object(s) && json_object_get(s, "$ref"); n++) {
        if (n == REF_CHAIN_MAX)
            return fail(g, "more than %d $refs in a chain", REF_CHAIN_MAX);
        s = resolve_ref(g, s, json_object_get(s, "$ref"));
    }
    return s;
}

/* ---- merging (allOf, oneOf/anyOf branches, 3.1 $ref siblings) ------------ */

static json_t *gen_node(gen *g, const json_t *s, unsigned depth);
static int merge_into(gen *g, json_t *acc, const json_t *s, unsigned depth);

enum { T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64 };
static const char *const type_names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};

static unsigned type_bit(const char *name)
{
    for (unsigned i = 0; i < 7; i++)
        if (strcmp(name, type_names[i]) == 0)
            return 1u << i;
    return 0;
}

/* The `type` keyword as a set; 0 when absent (anything). */
static unsigned types_of(const json_t *t)
{
    unsigned m = 0;
    if (json_is_string(t))
        return type_bit(json_string_value(t));
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v) if (json_is_string(v)) m |= type_bit(json_string_value(v));
    return m;
}

static json_t *types_json(unsigned m)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < 7; i++)
        if (m & (1u << i))
            json_array_append_new(a, json_string(type_names[i]));
    return a;
}

/* A map keyword (properties, patternProperties ...): entries in both
 * become {"allOf": [theirs, ours]}. */
static int merge_map(gen *g, json_t *acc, const char *key, const json_t *val)
{
    if (!json_is_object(val))
        return 0;
    json_t *have = json_object_get(acc, key);
    if (have == NULL) {
        json_t *copy = json_copy((json_t *)val);
        if (copy == NULL || json_object_set_new(acc, key, copy) != 0)
            return oom(g), -1;
        return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)val, k, v)
    {
        json_t *old = json_object_get(have, k);
        json_t *nv = old ? json_pack("{s:[OO]}", "allOf", old, v) : json_incref(v);
        if (nv == NULL || json_object_set_new(have, k, nv) != 0)
            return oom(g), -1;
    }
    return 0;
}

/* A subschema keyword (items, additionalProperties ...): false wins, two
 * schemas become an allOf. */
static int merge_sub(gen *g, json_t *acc, const char *key, json_t *val)
{
    json_t *have = json_object_get(acc, key);
    json_t *nv;
    if (have == NULL || json_is_false(val) || is_any(have))
        nv = json_incref(val);
    else if (json_is_false(have) || is_any(val))
        return 0;
    else
        nv = json_pack("{s:[OO]}", "allOf", have, val);
    if (nv == NULL || json_object_set_new(acc, key, nv) != 0)
        return oom(g), -1;
    return 0;
}

static int merge_bound(gen *g, json_t *acc, const char *key, json_t *val, int keep_larger)
{
    json_t *have = json_object_get(acc, key);
    if (!json_is_number(val))
        return 0;
    if (json_is_number(have)) {
        double a = json_number_value(have), b = json_number_value(val);
        if (keep_larger ? a >= b : a <= b)
            return 0;
    }
    if (json_object_set(acc, key, val) != 0)
        return oom(g), -1;
    return 0;
}

/* The branch of a oneOf/anyOf to take: declared mode takes the first that
 * is not `false`, else one at random. */
static const json_t *pick_branch(gen *g, const json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return NULL;
    if (n > ALTERNATIVES_MAX)
        n = ALTERNATIVES_MAX;
    size_t start = g->declared ? 0 : below(g, n);
    for (size_t k = 0; k < n; k++) {
        const json_t *b = json_array_get(arr, (start + k) % n);
        if (!json_is_false(b))
            return b;
    }
    return json_array_get(arr, 0);
}

int kumo__example_disc_value(const json_t *disc, const char *ref, char *buf, size_t len)
{
    if (ref == NULL)
        return 0;
    const char *k;
    json_t *v;
    json_t *mapping = json_object_get(disc, "mapping");
    json_object_foreach(mapping, k, v)
    {
        const char *target = json_string_value(v);
        if (target && (strcmp(target, ref) == 0 || (strchr(target, '/') == NULL && strrchr(ref, '/') &&
                                                    strcmp(strrchr(ref, '/') + 1, target) == 0))) {
            snprintf(buf, len, "%s", k);
            return 1;
        }
    }
    const char *slash = strrchr(ref, '/');
    if (slash == NULL || slash[1] == '\0')
        return 0;
    snprintf(buf, len, "%s", slash + 1);
    return 1;
}

/* Merges the chosen branch of s's oneOf/anyOf `arr` into acc, and pins
 * the discriminator's property to the branch's name. */
static int merge_branch(gen *g, json_t *acc, const json_t *s, const json_t *arr, unsigned depth)
{
    const json_t *b = pick_branch(g, arr);
    if (b == NULL)
        return 0;
    if (merge_into(g, acc, b, depth) != 0)
        return -1;
    json_t *disc = json_object_get(s, "discriminator");
    const char *prop = json_string_value(json_object_get(disc, "propertyName"));
    char name[256];
    if (prop && kumo__example_disc_value(disc, json_string_value(json_object_get(b, "$ref")), name, sizeof(name))) {
        json_t *pin = json_pack("{s:{s:{s:s}}, s:[s]}", "properties", prop, "const", name, "required", prop);
        if (pin == NULL)
            return oom(g), -1;
        int rc = merge_into(g, acc, pin, depth);
        json_decref(pin);
        return rc;
    }
    return 0;
}

static int merge_into(gen *g, json_t *acc, const json_t *s, unsigned depth)
{
    if (++g->steps > STEPS_MAX)
        return fail(g, "the schema is too large to walk (more than %d nodes)", STEPS_MAX), -1;
    if (depth > HARD_DEPTH)
        return fail(g, "the schema nests deeper than %d levels (a $ref cycle through allOf?)", HARD_DEPTH), -1;
    if (is_any(s))
        return 0;
    if (json_is_false(s))
        return fail(g, "a schema of the allOf is false: nothing is valid"), -1;
    if (!json_is_object(s))
        return fail(g, "a schema must be an object or a boolean"), -1;
    if (g->o->dialect != KUMO__DIALECT_2020_12 && json_object_get(s, "$ref"))
        return (s = deref30(g, s)) ? merge_into(g, acc, s, depth + 1) : -1;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        int rc = 0;
        if (strcmp(k, "$ref") == 0) {
            const json_t *t = resolve_ref(g, s, v);
            rc = t ? merge_into(g, acc, t, depth + 1) : -1;
        } else if (strcmp(k, "allOf") == 0) {
            size_t i;
            json_t *m;
            json_array_foreach(v, i, m) if ((rc = merge_into(g, acc, m, depth + 1)) != 0) break;
        } else if (strcmp(k, "oneOf") == 0 || strcmp(k, "anyOf") == 0) {
            rc = merge_branch(g, acc, s, v, depth + 1);
        } else if (strcmp(k, "example") == 0 || strcmp(k, "examples") == 0 || strcmp(k, "default") == 0 ||
                   strcmp(k, "discriminator") == 0 || strcmp(k, "$id") == 0 || strcmp(k, "$schema") == 0 ||
                   strcmp(k, "$anchor") == 0 || strcmp(k, "$dynamicAnchor") == 0) {
            continue; /* a member's example is not the whole's */
        } else if (strcmp(k, "properties") == 0 || strcmp(k, "patternProperties") == 0 || strcmp(k, "$defs") == 0 ||
                   strcmp(k, "definitions") == 0 || strcmp(k, "dependentSchemas") == 0) {
            rc = merge_map(g, acc, k, v);
        } else if (strcmp(k, "items") == 0 || strcmp(k, "additionalProperties") == 0 || strcmp(k, "contains") == 0 ||
                   strcmp(k, "propertyNames") == 0 || strcmp(k, "unevaluatedProperties") == 0 ||
                   strcmp(k, "unevaluatedItems") == 0) {
            rc =
                json_is_array(v) ? (json_object_get(acc, k) ? 0 : json_object_set(acc, k, v)) : merge_sub(g, acc, k, v);
        } else if (strcmp(k, "required") == 0) {
            json_t *have = json_object_get(acc, "required");
            if (have == NULL) {
                if ((have = json_array()) == NULL || json_object_set_new(acc, "required", have) != 0)
                    return oom(g), -1;
            }
            size_t i, j;
            json_t *n, *h;
            json_array_foreach(v, i, n)
            {
                int dup = 0;
                json_array_foreach(have, j, h) dup |= json_equal(h, n);
                if (!dup && json_array_append(have, n) != 0)
                    return oom(g), -1;
            }
        } else if (strcmp(k, "type") == 0) {
            unsigned mine = types_of(v), have = types_of(json_object_get(acc, "type"));
            if (json_object_get(acc, "type")) {
                unsigned both = mine & have;
                if ((mine & T_NUMBER) && (have & T_INTEGER))
                    both |= T_INTEGER;
                if ((have & T_NUMBER) && (mine & T_INTEGER))
                    both |= T_INTEGER;
                if (both == 0)
                    return fail(g, "allOf asks for types that never meet"), -1;
                mine = both;
            }
            json_t *t = types_json(mine);
            if (t == NULL || json_object_set_new(acc, "type", t) != 0)
                return oom(g), -1;
        } else if (strcmp(k, "minimum") == 0 || strcmp(k, "minLength") == 0 || strcmp(k, "minItems") == 0 ||
                   strcmp(k, "minProperties") == 0 || strcmp(k, "minContains") == 0 ||
                   (strcmp(k, "exclusiveMinimum") == 0 && json_is_number(v))) {
            rc = merge_bound(g, acc, k, v, 1);
        } else if (strcmp(k, "maximum") == 0 || strcmp(k, "maxLength") == 0 || strcmp(k, "maxItems") == 0 ||
                   strcmp(k, "maxProperties") == 0 || strcmp(k, "maxContains") == 0 ||
                   (strcmp(k, "exclusiveMaximum") == 0 && json_is_number(v))) {
            rc = merge_bound(g, acc, k, v, 0);
        } else if (strcmp(k, "enum") == 0 && json_object_get(acc, "enum")) {
            json_t *have = json_object_get(acc, "enum"), *keep = json_array();
            size_t i, j;
            json_t *a, *b;
            if (keep == NULL)
                return oom(g), -1;
            json_array_foreach(have, i, a) json_array_foreach(v, j, b) if (json_equal(a, b)) json_array_append(keep, a);
            if (json_array_size(keep) == 0) {
                json_decref(keep);
                return fail(g, "allOf asks for enums with no value in common"), -1;
            }
            json_object_set_new(acc, "enum", keep);
        } else if (json_object_get(acc, k) == NULL) {
            if (json_object_set(acc, k, v) != 0)
                return oom(g), -1;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- patterns: a generator for a subset of ECMA-262 ---------------------- */

typedef struct rx {
    gen *g;
    const char *p;
    size_t len;
    char out[STRING_MAX + 8];
    size_t olen;
    const char *bad; /* why the pattern is outside the subset */
    size_t bad_at;
    size_t steps;
} rx;

static size_t rx_alt(rx *r, size_t i, int emit);

static void rx_bad(rx *r, size_t at, const char *why)
{
    if (r->bad == NULL) {
        r->bad = why;
        r->bad_at = at;
    }
}

static void rx_put_cp(rx *r, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp >= 0xd800 && cp <= 0xdfff)
        cp = 'x';
    if (cp < 0x80)
        b[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[2] = (char)(0x80 | (cp & 0x3f)),
        n = 3;
    else
        b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    if (r->olen + n > STRING_MAX) {
        rx_bad(r, 0, "its matches are longer than 4096 characters");
        return;
    }
    memcpy(r->out + r->olen, b, n);
    r->olen += n;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Reads the UTF-8 code point at r->p[i]; *n its length. */
static uint32_t rx_cp(const rx *r, size_t i, size_t *n)
{
    unsigned char c = (unsigned char)r->p[i];
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (i + len > r->len)
        len = 1;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < len; k++)
        cp = cp << 6 | ((unsigned char)r->p[i + k] & 0x3f);
    *n = len;
    return cp;
}

typedef struct ranges {
    uint32_t r[64][2];
    size_t n;
} ranges;

static void add_range(ranges *c, uint32_t a, uint32_t b)
{
    if (c->n < 64)
        c->r[c->n][0] = a, c->r[c->n][1] = b, c->n++;
}

/* An escape at p[i] == '\\': a single code point (*cp, returns 1), a class
 * shorthand added to *cls (returns 2), or 0 (r->bad set). *end past it. */
static int rx_escape(rx *r, size_t i, uint32_t *cp, ranges *cls, int in_class, size_t *end)
{
    if (i + 1 >= r->len) {
        rx_bad(r, i, "a lone '\\' ends it");
        return 0;
    }
    char c = r->p[i + 1];
    *end = i + 2;
    switch (c) {
    case 'd': add_range(cls, '0', '9'); return 2;
    case 'w':
        add_range(cls, 'a', 'z'), add_range(cls, 'A', 'Z'), add_range(cls, '0', '9'), add_range(cls, '_', '_');
        return 2;
    case 's': add_range(cls, ' ', ' '); return 2;
    case 'D':
    case 'W':
    case 'S':
        if (in_class) {
            rx_bad(r, i, "a negated shorthand inside a class");
            return 0;
        }
        add_range(cls, c == 'W' ? '-' : 'a', c == 'W' ? '-' : 'z');
        return 2;
    case 't': *cp = '\t'; return 1;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'v': *cp = '\v'; return 1;
    case 'x':
        if (i + 3 < r->len && hexval(r->p[i + 2]) >= 0 && hexval(r->p[i + 3]) >= 0) {
            *cp = (uint32_t)(hexval(r->p[i + 2]) * 16 + hexval(r->p[i + 3]));
            *end = i + 4;
            return *cp ? 1 : (rx_bad(r, i, "it matches NUL"), 0);
        }
        break;
    case 'u':
        if (i + 2 < r->len && r->p[i + 2] == '{') {
            uint32_t v = 0;
            size_t k = i + 3;
            while (k < r->len && hexval(r->p[k]) >= 0 && v < 0x110000)
                v = v * 16 + (uint32_t)hexval(r->p[k++]);
            if (k < r->len && r->p[k] == '}' && v > 0 && v < 0x110000) {
                *cp = v;
                *end = k + 1;
                return 1;
            }
        } else if (i + 5 < r->len) {
            uint32_t v = 0;
            int ok = 1;
            for (size_t k = i + 2; k < i + 6; k++)
                ok &= hexval(r->p[k]) >= 0, v = v * 16 + (uint32_t)(hexval(r->p[k]) & 15);
            if (ok && v > 0 && (v < 0xd800 || v > 0xdfff)) {
                *cp = v;
                *end = i + 6;
                return 1;
            }
        }
        break;
    case 'b':
    case 'B': rx_bad(r, i, "a word boundary (\\b)"); return 0;
    case 'p':
    case 'P': rx_bad(r, i, "a Unicode property (\\p)"); return 0;
    case 'k': rx_bad(r, i, "a named backreference"); return 0;
    case 'c': rx_bad(r, i, "a control escape (\\c)"); return 0;
    default:
        if (c >= '0' && c <= '9') {
            rx_bad(r, i, "a backreference or \\0");
            return 0;
        }
        if ((unsigned char)c >= 0x80) {
            size_t n;
            *cp = rx_cp(r, i + 1, &n);
            *end = i + 1 + n;
            return 1;
        }
        *cp = (uint32_t)(unsigned char)c; /* an identity escape: \. \/ \- ... */
        return 1;
    }
    rx_bad(r, i, "a malformed escape");
    return 0;
}

static void rx_emit_ranges(rx *r, const ranges *c, int negated)
{
    if (negated) {
        uint32_t start = (uint32_t)below(r->g, 95);
        for (uint32_t k = 0; k < 95; k++) {
            uint32_t cp = 0x20 + (start + k) % 95;
            int in = 0;
            for (size_t j = 0; j < c->n && !in; j++)
                in = cp >= c->r[j][0] && cp <= c->r[j][1];
            if (!in) {
                rx_put_cp(r, cp);
                return;
            }
        }
        rx_bad(r, 0, "a negated class that excludes every printable character");
        return;
    }
    if (c->n == 0) {
        rx_bad(r, 0, "an empty class, which matches nothing");
        return;
    }
    const uint32_t *pick = c->r[below(r->g, c->n)];
    uint32_t lo = pick[0], hi = pick[1];
    /* a huge range: keep to its printable ASCII part when it has one */
    if (hi - lo > 0x100 && lo <= 0x7e && hi >= 0x21) {
        lo = lo < 0x21 ? 0x21 : lo;
        hi = hi > 0x7e ? 0x7e : hi;
    }
    rx_put_cp(r, lo + (uint32_t)below(r->g, (uint64_t)(hi - lo) + 1));
}

static size_t rx_class(rx *r, size_t i, int emit)
{
    ranges c = {.n = 0};
    int negated = 0;
    i++; /* '[' */
    if (i < r->len && r->p[i] == '^')
        negated = 1, i++;
    while (i < r->len && r->p[i] != ']' && !r->bad) {
        uint32_t a;
        size_t end, n;
        int kind = 1;
        if (r->p[i] == '\\')
            kind = rx_escape(r, i, &a, &c, 1, &end);
        else
            a = rx_cp(r, i, &n), end = i + n;
        if (kind == 0)
            return r->len;
        i = end;
        if (kind == 2)
            continue;
        if (i + 1 < r->len && r->p[i] == '-' && r->p[i + 1] != ']') {
            uint32_t b;
            ranges dummy = {.n = 0};
            if (r->p[i + 1] == '\\') {
                if (rx_escape(r, i + 1, &b, &dummy, 1, &end) != 1) {
                    rx_bad(r, i, "a range with a class shorthand");
                    return r->len;
                }
            } else {
                b = rx_cp(r, i + 1, &n), end = i + 1 + n;
            }
            if (b < a) {
                rx_bad(r, i, "a range out of order");
                return r->len;
            }
            add_range(&c, a, b);
            i = end;
        } else {
            add_range(&c, a, a);
        }
    }
    if (i >= r->len) {
        rx_bad(r, i, "an unclosed class");
        return r->len;
    }
    if (emit)
        rx_emit_ranges(r, &c, negated);
    return i + 1;
}

/* One atom at p[i]: returns the position after it. */
static size_t rx_atom(rx *r, size_t i, int emit)
{
    if (++r->steps > 200000) {
        rx_bad(r, i, "too much work");
        return r->len;
    }
    char c = r->p[i];
    if (c == '(') {
        size_t j = i + 1;
        if (j < r->len && r->p[j] == '?') {
            if (j + 1 < r->len && r->p[j + 1] == ':')
                j += 2;
            else if (j + 2 < r->len && r->p[j + 1] == '<' && r->p[j + 2] != '=' && r->p[j + 2] != '!') {
                while (j < r->len && r->p[j] != '>')
                    j++;
                j++;
            } else {
                rx_bad(r, i, "a lookahead or lookbehind");
                return r->len;
            }
        }
        size_t e = rx_alt(r, j, emit);
        if (e >= r->len || r->p[e] != ')') {
            rx_bad(r, i, "an unclosed group");
            return r->len;
        }
        return e + 1;
    }
    if (c == '[')
        return rx_class(r, i, emit);
    if (c == '^' || c == '$')
        return i + 1;
    if (c == '.') {
        if (emit)
            rx_put_cp(r, (uint32_t) "abcdefghijklmnopqrstuvwxyz0123456789"[below(r->g, 36)]);
        return i + 1;
    }
    if (c == '*' || c == '+' || c == '?' || c == '{') {
        rx_bad(r, i, "a quantifier with nothing to repeat");
        return r->len;
    }
    if (c == '\\') {
        ranges cls = {.n = 0};
        uint32_t cp;
        size_t end;
        int kind = rx_escape(r, i, &cp, &cls, 0, &end);
        if (kind == 1 && emit)
            rx_put_cp(r, cp);
        else if (kind == 2 && emit)
            rx_emit_ranges(r, &cls, 0);
        return kind ? end : r->len;
    }
    size_t n;
    uint32_t cp = rx_cp(r, i, &n);
    if (emit)
        rx_put_cp(r, cp);
    return i + n;
}

/* A quantifier at p[i], if any: *lo, *hi (-1 unbounded); returns the
 * position after it (i when there is none). */
static size_t rx_quant(rx *r, size_t i, long *lo, long *hi)
{
    *lo = *hi = 1;
    if (i >= r->len)
        return i;
    char c = r->p[i];
    size_t e = i + 1;
    if (c == '*')
        *lo = 0, *hi = -1;
    else if (c == '+')
        *lo = 1, *hi = -1;
    else if (c == '?')
        *lo = 0, *hi = 1;
    else if (c == '{') {
        char *end;
        long a = strtol(r->p + i + 1, &end, 10), b = a;
        if (end == r->p + i + 1 || a < 0) {
            rx_bad(r, i, "a '{' that is not a quantifier");
            return r->len;
        }
        if (*end == ',') {
            char *end2;
            b = strtol(end + 1, &end2, 10);
            if (end2 == end + 1)
                b = -1;
            end = end2;
        }
        if (*end != '}' || (b >= 0 && b < a)) {
            rx_bad(r, i, "a malformed {n,m}");
            return r->len;
        }
        *lo = a, *hi = b;
        e = (size_t)(end - r->p) + 1;
    } else {
        return i;
    }
    if (e < r->len && r->p[e] == '?')
        e++; /* lazy: the same language */
    return e;
}

static size_t rx_seq(rx *r, size_t i, int emit)
{
    while (i < r->len && r->p[i] != '|' && r->p[i] != ')' && !r->bad) {
        size_t a = i, e = rx_atom(r, i, 0);
        if (r->bad)
            return r->len;
        long lo, hi;
        size_t q = rx_quant(r, e, &lo, &hi);
        if (r->bad)
            return r->len;
        if (emit) {
            if (lo > STRING_MAX) {
                rx_bad(r, e, "its matches are longer than 4096 characters");
                return r->len;
            }
            long top = hi < 0 || hi > lo + 3 ? lo + 3 : hi;
            long n = lo + (long)below(r->g, (uint64_t)(top - lo) + 1);
            for (long k = 0; k < n && !r->bad; k++)
                rx_atom(r, a, 1);
        }
        i = q;
    }
    return i;
}

static size_t rx_alt(rx *r, size_t i, int emit)
{
    size_t n = 0, j = i;
    for (;;) { /* count the alternatives and find the end */
        n++;
        j = rx_seq(r, j, 0);
        if (r->bad)
            return r->len;
        if (j < r->len && r->p[j] == '|')
            j++;
        else
            break;
    }
    if (!emit)
        return j;
    size_t pick = below(r->g, n), k = i;
    for (size_t a = 0; a < pick; a++)
        k = rx_seq(r, k, 0) + 1;
    rx_seq(r, k, 1);
    return j;
}

/* A string matching `pattern` (the whole of it, so the unanchored search
 * finds it too), or NULL with why set. */
static json_t *gen_pattern(gen *g, const char *pattern)
{
    rx *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return oom(g);
    r->g = g;
    r->p = pattern;
    r->len = strlen(pattern);
    size_t e = rx_alt(r, 0, 1);
    json_t *v = NULL;
    if (r->bad == NULL && e < r->len)
        rx_bad(r, e, "an unbalanced ')'");
    if (r->bad)
        fail(g, "pattern '%.120s' uses %s (offset %zu), which the example generator does not handle; add an example",
             pattern, r->bad, r->bad_at);
    else if ((v = json_stringn(r->out, r->olen)) == NULL)
        oom(g);
    free(r);
    return v;
}

/* ---- scalars -------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A value for a string format kumo knows (or a common one it does not
 * check): 1 and buf set, 0 when the format is not one of them. */
static int gen_format(gen *g, const char *f, char *buf, size_t len)
{
    int y = 2020 + (int)below(g, 6), mo = 1 + (int)below(g, 12), d = 1 + (int)below(g, 28);
    int h = (int)below(g, 24), mi = (int)below(g, 60), s = (int)below(g, 60);
    if (strcmp(f, "date-time") == 0)
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
    else if (strcmp(f, "date") == 0)
        snprintf(buf, len, "%04d-%02d-%02d", y, mo, d);
    else if (strcmp(f, "time") == 0)
        snprintf(buf, len, "%02d:%02d:%02dZ", h, mi, s);
    else if (strcmp(f, "email") == 0 || strcmp(f, "idn-email") == 0)
        snprintf(buf, len, "%s@example.com", word(g));
    else if (strcmp(f, "uuid") == 0) {
        uint64_t a = next(g), b = next(g);
        snprintf(buf, len, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
                 (unsigned)a & 0xfff, (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
                 (unsigned long long)(b & 0xffffffffffffull));
    } else if (strcmp(f, "uri") == 0 || strcmp(f, "iri") == 0 || strcmp(f, "url") == 0)
        snprintf(buf, len, "https://example.com/%s", word(g));
    else if (strcmp(f, "uri-reference") == 0 || strcmp(f, "iri-reference") == 0)
        snprintf(buf, len, "/%s", word(g));
    else if (strcmp(f, "uri-template") == 0)
        snprintf(buf, len, "https://example.com/%s/{id}", word(g));
    else if (strcmp(f, "hostname") == 0 || strcmp(f, "idn-hostname") == 0)
        snprintf(buf, len, "%s.example.com", word(g));
    else if (strcmp(f, "ipv4") == 0)
        snprintf(buf, len, "192.0.2.%d", 1 + (int)below(g, 254));
    else if (strcmp(f, "ipv6") == 0)
        snprintf(buf, len, "2001:db8::%x", 1 + (unsigned)below(g, 0xfffe));
    else if (strcmp(f, "byte") == 0) {
        const char *w = word(g);
        size_t n = strlen(w), o = 0;
        for (size_t i = 0; i < n && o + 4 < len; i += 3) {
            unsigned v = (unsigned)(unsigned char)w[i] << 16 | (i + 1 < n ? (unsigned char)w[i + 1] << 8 : 0) |
                         (i + 2 < n ? (unsigned char)w[i + 2] : 0);
            buf[o++] = b64[v >> 18 & 63];
            buf[o++] = b64[v >> 12 & 63];
            buf[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
            buf[o++] = i + 2 < n ? b64[v & 63] : '=';
        }
        buf[o] = '\0';
    } else if (strcmp(f, "regex") == 0)
        snprintf(buf, len, "^[a-z]+$");
    else if (strcmp(f, "json-pointer") == 0)
        snprintf(buf, len, "/%s/0", word(g));
    else if (strcmp(f, "relative-json-pointer") == 0)
        snprintf(buf, len, "0/%s", word(g));
    else if (strcmp(f, "duration") == 0)
        snprintf(buf, len, "P%dD", 1 + (int)below(g, 30));
    else
        return 0;
    return 1;
}

static json_t *gen_string(gen *g, const json_t *s)
{
    const char *pattern = json_string_value(json_object_get(s, "pattern"));
    const char *format = json_string_value(json_object_get(s, "format"));
    long long minl = count_of(s, "minLength", 0), maxl = count_of(s, "maxLength", -1);
    if (minl > STRING_MAX)
        return fail(g, "minLength %lld is over the generator's %d characters; add an example", minl, STRING_MAX);
    if (maxl >= 0 && maxl < minl)
        return fail(g, "maxLength %lld is below minLength %lld", maxl, minl);
    json_t *v;
    char buf[STRING_MAX + 64];
    if (pattern) {
        v = gen_pattern(g, pattern);
        if (v && !spend(g, json_string_length(v) + 2)) {
            json_decref(v);
            return NULL;
        }
        return v;
    }
    if (format && gen_format(g, format, buf, 128))
        return spend(g, strlen(buf) + 2) ? json_string(buf) : NULL;
    size_t n = (size_t)snprintf(buf, sizeof(buf), "%s", word(g));
    while ((long long)n < minl)
        buf[n] = (char)('a' + n % 26), n++;
    if (maxl >= 0 && (long long)n > maxl)
        n = (size_t)maxl;
    buf[n] = '\0';
    if (!spend(g, n + 2))
        return NULL;
    return (v = json_stringn(buf, n)) ? v : oom(g);
}

/* Whether `format` is a string format the generator makes (so a schema
 * without a type that names one is a string). */
static int string_format(const char *f)
{
    static const char *const fs[] = {"date-time", "date",          "time",     "email", "uuid",
                                     "uri",       "uri-reference", "hostname", "ipv4",  "ipv6",
                                     "byte",      "binary",        "password", "regex", "json-pointer"};
    for (size_t i = 0; f && i < sizeof(fs) / sizeof(fs[0]); i++)
        if (strcmp(f, fs[i]) == 0)
            return 1;
    return 0;
}

/* The lower and upper bounds of s, as OpenAPI 3.0 (boolean exclusives
 * beside minimum/maximum) or 2020-12 (numeric exclusives) writes them. */
static void bounds(const json_t *s, double *lo, int *lo_ex, double *hi, int *hi_ex)
{
    double v;
    *lo = -INFINITY, *hi = INFINITY, *lo_ex = *hi_ex = 0;
    if (num_of(s, "minimum", &v))
        *lo = v, *lo_ex = is_true(s, "exclusiveMinimum");
    if (num_of(s, "exclusiveMinimum", &v) && v >= *lo)
        *lo = v, *lo_ex = 1;
    if (num_of(s, "maximum", &v))
        *hi = v, *hi_ex = is_true(s, "exclusiveMaximum");
    if (num_of(s, "exclusiveMaximum", &v) && v <= *hi)
        *hi = v, *hi_ex = 1;
}

#define SAFE_INT 9007199254740992.0 /* 2^53: integers beyond lose digits as doubles */

static json_t *gen_integer(gen *g, const json_t *s)
{
    double lo, hi;
    int lo_ex, hi_ex;
    bounds(s, &lo, &lo_ex, &hi, &hi_ex);
    const char *format = json_string_value(json_object_get(s, "format"));
    if (format && strcmp(format, "int32") == 0) {
        lo = fmax(lo, -2147483648.0);
        hi = fmin(hi, 2147483647.0);
    }
    double ilo = isinf(lo) ? -SAFE_INT : lo_ex ? floor(lo) + 1 : ceil(lo);
    double ihi = isinf(hi) ? SAFE_INT : hi_ex ? ceil(hi) - 1 : floor(hi);
    ilo = fmax(ilo, -SAFE_INT), ihi = fmin(ihi, SAFE_INT);
    if (ilo > ihi)
        return fail(g, "no integer lies within the bounds");
    long long a = (long long)ilo, b = (long long)ihi, v;
    if (!isinf(lo) && !isinf(hi))
        v = a + (long long)below(g, (uint64_t)(b - a > 1000 ? 1000 : b - a) + 1);
    else if (!isinf(lo))
        v = a + (long long)below(g, 100);
    else if (!isinf(hi))
        v = b - (long long)below(g, 100);
    else
        v = 1 + (long long)below(g, 100);
    double m;
    if (num_of(s, "multipleOf", &m) && m > 0) {
        if (m == floor(m) && m < SAFE_INT) {
            long long mi = (long long)m;
            long long k = v >= 0 ? (v + mi - 1) / mi : -((-v) / mi);
            v = k * mi;
            if (v > b) {
                k = b >= 0 ? b / mi : -((-b + mi - 1) / mi);
                v = k * mi;
            }
            if (v < a)
                return fail(g, "no multiple of %g lies within the bounds", m);
        } else if (1.0 / m != floor(1.0 / m)) {
            /* a fraction like 1.5: k * m is an integer when k is a multiple of its denominator */
            double step = m;
            for (int q = 1; q <= 1000 && step != floor(step); q++)
                step = m * (q + 1);
            if (step != floor(step))
                return fail(g, "multipleOf %g leaves no integer the generator can find", m);
            double k = ceil((double)v / step);
            v = (long long)(k * step);
            if (v > b)
                v = (long long)(floor((double)b / step) * step);
            if (v < a)
                return fail(g, "no multiple of %g lies within the bounds", m);
        }
    }
    if (!spend(g, 12))
        return NULL;
    json_t *j = json_integer(v);
    return j ? j : oom(g);
}

/* Decimal places of m as written in the shortest form (0 for integers). */
static int decimals(double m)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.15g", m);
    const char *e = strchr(buf, 'e');
    const char *dot = strchr(buf, '.');
    int d = dot ? (int)((e ? (size_t)(e - dot) : strlen(dot)) - 1) : 0;
    if (e)
        d -= atoi(e + 1);
    return d < 0 ? 0 : d > 15 ? 15 : d;
}

static json_t *gen_number(gen *g, const json_t *s)
{
    double lo, hi, m, v;
    int lo_ex, hi_ex;
    bounds(s, &lo, &lo_ex, &hi, &hi_ex);
    if (lo > hi || (lo == hi && (lo_ex || hi_ex)))
        return fail(g, "no number lies within the bounds");
    if (num_of(s, "multipleOf", &m) && m > 0) {
        double klo = isinf(lo) ? (isinf(hi) ? 1 : floor(hi / m) - 100) : ceil(lo / m);
        double khi = isinf(hi) ? klo + 100 : floor(hi / m);
        if (!isinf(lo) && lo_ex && klo * m <= lo)
            klo += 1;
        if (!isinf(hi) && hi_ex && khi * m >= hi)
            khi -= 1;
        if (klo > khi || fabs(klo) > SAFE_INT)
            return fail(g, "no multiple of %g lies within the bounds", m);
        double k = klo + (double)below(g, (uint64_t)fmin(khi - klo, 100) + 1);
        static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        double p = pow10[decimals(m)]; /* decimals: 0 to 15, each power exact */
        v = round(k * m * p) / p;
    } else if (!isinf(lo) && !isinf(hi)) {
        v = lo + (hi - lo) * ((double)(1 + below(g, 998)) / 1000.0);
        double r = round(v * 100) / 100;
        if (r > lo && r < hi)
            v = r;
        if ((lo_ex && v <= lo) || (hi_ex && v >= hi) || v < lo || v > hi)
            v = lo + (hi - lo) / 2;
    } else if (!isinf(lo)) {
        v = lo + 1 + (double)below(g, 100) + (double)below(g, 100) / 100;
    } else if (!isinf(hi)) {
        v = hi - 1 - (double)below(g, 100) - (double)below(g, 100) / 100;
    } else {
        v = (double)below(g, 10000) / 100;
    }
    if (!spend(g, 24))
        return NULL;
    json_t *j = json_real(v);
    return j ? j : oom(g);
}

/* ---- objects and arrays --------------------------------------------------- */

/* Whether property schema p is to be left out in this direction. */
static int left_out(gen *g, const json_t *p)
{
    if (g->o->dialect != KUMO__DIALECT_2020_12 && json_is_object(p) && json_object_get(p, "$ref")) {
        int failed = g->failed;
        const json_t *t = deref30(g, p);
        g->failed = failed;
        p = t;
    }
    if (!json_is_object(p))
        return 0;
    if (g->o->dir == KUMO__DIR_RESPONSE && is_true(p, "writeOnly"))
        return 1;
    if (g->o->dir == KUMO__DIR_REQUEST && is_true(p, "readOnly"))
        return 1;
    return 0;
}

static int in_required(const json_t *req, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v) if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) return 1;
    return 0;
}

/* The schema for a property not in `properties`: the first
 * patternProperties entry, else additionalProperties (NULL: anything). */
static const json_t *extra_schema(const json_t *s)
{
    json_t *add = json_object_get(s, "additionalProperties");
    return add ? add : NULL;
}

static json_t *gen_object(gen *g, const json_t *s, unsigned depth)
{
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *extra = extra_schema(s);
    int capped = depth >= g->max_depth;
    long long minp = count_of(s, "minProperties", 0), maxp = count_of(s, "maxProperties", -1);
    if (minp > COUNT_MAX)
        return fail(g, "minProperties %lld is over the generator's %d; add an example", minp, COUNT_MAX);
    json_t *obj = json_object();
    if (obj == NULL)
        return oom(g);
    size_t nreq = 0;
    const char *k;
    json_t *p;
    json_object_foreach(props, k, p) nreq += in_required(req, k) && !left_out(g, p);
    json_object_foreach(props, k, p)
    {
        int required = in_required(req, k);
        if (left_out(g, p))
            continue;
        if (!required && (capped || (maxp >= 0 && (long long)(json_object_size(obj) + nreq) >= maxp)))
            continue;
        json_t *v = spend(g, strlen(k) + 4) ? gen_node(g, p, depth + 1) : NULL;
        if (v == NULL || json_object_set_new(obj, k, v) != 0) {
            json_decref(obj);
            return v ? oom(g) : NULL;
        }
        nreq -= required;
    }
    /* required names no property declares: from additionalProperties */
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r)
    {
        if (!json_is_string(r) || json_object_get(obj, json_string_value(r)) ||
            (props && json_object_get(props, json_string_value(r))))
            continue;
        if (json_is_false(extra)) {
            json_decref(obj);
            return fail(g, "'%s' is required but no property declares it and additionalProperties is false",
                        json_string_value(r));
        }
        json_t *v = gen_node(g, extra, depth + 1);
        if (v == NULL || json_object_set_new(obj, json_string_value(r), v) != 0) {
            json_decref(obj);
            return v ? oom(g) : NULL;
        }
    }
    /* a map (no properties, additionalProperties a schema): one entry */
    long long want = minp;
    if (!capped && props == NULL && json_is_object(extra) && want < 1)
        want = 1;
    for (int n = 1; (long long)json_object_size(obj) < want; n++) {
        if (json_is_false(extra) || (maxp >= 0 && (long long)json_object_size(obj) >= maxp)) {
            json_decref(obj);
            return fail(g, "minProperties %lld asks for more properties than the schema allows", minp);
        }
        char name[32];
        snprintf(name, sizeof(name), "additionalProp%d", n);
        if (json_object_get(obj, name))
            continue;
        json_t *v = spend(g, 20) ? gen_node(g, extra, depth + 1) : NULL;
        if (v == NULL || json_object_set_new(obj, name, v) != 0) {
            json_decref(obj);
            return v ? oom(g) : NULL;
        }
    }
    return obj;
}

static json_t *gen_array(gen *g, const json_t *s, unsigned depth)
{
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    if (json_is_array(items)) /* draft 4 tuples */
        prefix = items, items = json_object_get(s, "additionalItems");
    long long minn = count_of(s, "minItems", 0), maxn = count_of(s, "maxItems", -1);
    if (minn > COUNT_MAX)
        return fail(g, "minItems %lld is over the generator's %d; add an example", minn, COUNT_MAX);
    if (maxn >= 0 && maxn < minn)
        return fail(g, "maxItems %lld is below minItems %lld", maxn, minn);
    long long n = minn;
    if (depth < g->max_depth)
        n = g->declared ? (minn > 1 ? minn : 1) : minn + (long long)below(g, g->max_items + 1);
    if (maxn >= 0 && n > maxn)
        n = maxn;
    json_t *contains = json_object_get(s, "contains");
    long long need = 0; /* items made from `contains` first */
    if (contains && !is_any(contains)) {
        need = count_of(s, "minContains", 1);
        if (need > COUNT_MAX)
            return fail(g, "minContains %lld is over the generator's %d; add an example", need, COUNT_MAX);
        if (n < need)
            n = need;
    }
    size_t nprefix = json_array_size(prefix);
    if (json_is_false(items) && n > (long long)nprefix)
        n = (long long)nprefix;
    if (n < minn)
        return fail(g, "minItems %lld asks for more items than the schema allows", minn);
    int unique = is_true(s, "uniqueItems");
    json_t *arr = json_array();
    if (arr == NULL)
        return oom(g);
    for (long long i = 0; i < n; i++) {
        const json_t *sub = (size_t)i < nprefix ? json_array_get(prefix, (size_t)i) : items;
        json_t *both = NULL;
        if (i < need) {
            if ((both = json_pack("{s:[OO]}", "allOf", sub ? sub : json_true(), contains)) == NULL) {
                json_decref(arr);
                return oom(g);
            }
            sub = both;
        }
        json_t *v = NULL;
        for (int attempt = 0; attempt < 32; attempt++) {
            v = spend(g, 2) ? gen_node(g, sub, depth + 1) : NULL;
            if (v == NULL || !unique)
                break;
            int dup = 0;
            size_t j;
            json_t *w;
            json_array_foreach(arr, j, w) dup |= json_equal(w, v);
            if (!dup)
                break;
            json_decref(v);
            v = NULL;
            if (attempt == 31 && !g->failed) {
                json_decref(both);
                if (i >= minn)
                    return arr; /* fewer, but unique */
                json_decref(arr);
                return fail(g, "uniqueItems with minItems %lld: the items' schema gives too few distinct values", minn);
            }
        }
        json_decref(both);
        if (v == NULL || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return v ? oom(g) : NULL;
        }
    }
    return arr;
}

/* ---- one schema ---------------------------------------------------------- */

/* The declared value of s: example, examples[0], const, default. */
static const json_t *declared_value(const json_t *s)
{
    json_t *v;
    if ((v = json_object_get(s, "example")) != NULL)
        return v;
    if ((v = json_object_get(s, "examples")) != NULL && json_is_array(v) && json_array_size(v) > 0)
        return json_array_get(v, 0);
    if ((v = json_object_get(s, "const")) != NULL)
        return v;
    if ((v = json_object_get(s, "default")) != NULL)
        return v;
    return NULL;
}

/* The type to make for s (one bit), from `type` (and nullable), else from
 * the keywords present. 0: anything. */
static unsigned choose_type(gen *g, const json_t *s)
{
    json_t *t = json_object_get(s, "type");
    unsigned set = types_of(t);
    if (t && set == 0)
        return T_STRING; /* an unknown type name: the compiler refuses it anyway */
    if (set == 0) {
        const char *f = json_string_value(json_object_get(s, "format"));
        if (json_object_get(s, "properties") || json_object_get(s, "required") ||
            json_object_get(s, "additionalProperties") || json_object_get(s, "minProperties") ||
            json_object_get(s, "patternProperties"))
            return T_OBJECT;
        if (json_object_get(s, "items") || json_object_get(s, "prefixItems") || json_object_get(s, "minItems") ||
            json_object_get(s, "maxItems") || json_object_get(s, "contains") || json_object_get(s, "uniqueItems"))
            return T_ARRAY;
        if (json_object_get(s, "minLength") || json_object_get(s, "maxLength") || json_object_get(s, "pattern") ||
            string_format(f))
            return T_STRING;
        if (f && (strcmp(f, "int32") == 0 || strcmp(f, "int64") == 0))
            return T_INTEGER;
        if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
            json_is_number(json_object_get(s, "exclusiveMinimum")) ||
            json_is_number(json_object_get(s, "exclusiveMaximum")) || json_object_get(s, "multipleOf"))
            return T_NUMBER;
        return 0;
    }
    if (set == T_NULL)
        return T_NULL;
    set &= ~(unsigned)T_NULL;
    /* in the order written, the first (declared) or any (fresh) */
    unsigned order[8], n = 0;
    if (json_is_string(t))
        order[n++] = set;
    else {
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v)
        {
            unsigned b = json_is_string(v) ? type_bit(json_string_value(v)) : 0;
            if (b && b != T_NULL && n < 8)
                order[n++] = b;
        }
    }
    if (n == 0)
        return T_STRING;
    return order[g->declared ? 0 : below(g, n)];
}

static json_t *gen_plain(gen *g, const json_t *s, unsigned depth)
{
    json_t *v = json_object_get(s, "enum");
    if (json_is_array(v) && json_array_size(v) > 0) {
        return copy_value(g, json_array_get(v, g->declared ? 0 : below(g, json_array_size(v))));
    }
    if (json_is_array(v))
        return fail(g, "enum is empty: nothing is valid");
    if ((v = json_object_get(s, "const")) != NULL)
        return copy_value(g, v);
    switch (choose_type(g, s)) {
    case T_NULL: return json_null();
    case T_BOOLEAN: return json_boolean(below(g, 2));
    case T_OBJECT: return gen_object(g, s, depth);
    case T_ARRAY: return gen_array(g, s, depth);
    case T_NUMBER: return gen_number(g, s);
    case T_INTEGER: return gen_integer(g, s);
    case T_STRING: return gen_string(g, s);
    default: break;
    }
    /* no type, no keyword that says one: anything; a word */
    return gen_string(g, s);
}

static json_t *gen_node(gen *g, const json_t *s, unsigned depth)
{
    if (g->failed)
        return NULL;
    if (++g->steps > STEPS_MAX)
        return fail(g, "the schema is too large to walk (more than %d nodes)", STEPS_MAX);
    if (depth > HARD_DEPTH)
        return fail(g, "the schema nests deeper than %d levels (does it require itself?)", HARD_DEPTH);
    if (s == NULL || json_is_true(s))
        return json_string(word(g));
    if (json_is_false(s))
        return fail(g, "the schema is false: nothing is valid");
    if (!json_is_object(s))
        return fail(g, "a schema must be an object or a boolean");
    if (json_object_get(s, "$ref") && (g->o->dialect != KUMO__DIALECT_2020_12 || json_object_size(s) == 1)) {
        /* a $ref alone: its target, where a target already being made
         * (a tree's children, a pet's parent) gets only what it requires */
        const json_t *t =
            g->o->dialect != KUMO__DIALECT_2020_12 ? deref30(g, s) : resolve_ref(g, s, json_object_get(s, "$ref"));
        if (t == NULL)
            return NULL;
        int again = 0;
        for (unsigned i = 0; i < g->nrefs && !again; i++)
            again = g->refs[i] == t;
        unsigned at = g->nrefs;
        if (at < REFS_TRACKED)
            g->refs[g->nrefs++] = t;
        json_t *v = gen_node(g, t, again && depth + 1 < g->max_depth ? g->max_depth : depth + 1);
        g->nrefs = at;
        return v;
    }
    if (json_is_boolean(s))
        return gen_node(g, s, depth + 1);
    const json_t *d = g->declared ? declared_value(s) : json_object_get(s, "const");
    if (d != NULL)
        return copy_value(g, d);
    if (json_object_get(s, "allOf") || json_object_get(s, "oneOf") || json_object_get(s, "anyOf") ||
        json_object_get(s, "$ref")) {
        json_t *acc = json_object();
        if (acc == NULL)
            return oom(g);
        json_t *v = merge_into(g, acc, s, depth + 1) == 0 ? gen_node(g, acc, depth + 1) : NULL;
        json_decref(acc);
        return v;
    }
    return gen_plain(g, s, depth);
}

int kumo__example_generate(const json_t *schema, const kumo__example_opts *o, json_t **out, char *why, size_t why_len)
{
    gen g = {.o = o,
             .root = schema,
             .rng = o->seed ^ 0x6b756d6f6d6f636bull,
             .max_bytes = o->max_bytes ? o->max_bytes : BYTES_DEFAULT,
             .max_depth = o->max_depth ? o->max_depth : DEPTH_DEFAULT,
             .max_items = o->max_items ? o->max_items : ITEMS_DEFAULT,
             .declared = o->declared,
             .why = why,
             .why_len = why_len};
    if (why && why_len)
        why[0] = '\0';
    json_t *v = gen_node(&g, schema, 0);
    if (v == NULL || g.failed) {
        json_decref(v);
        *out = NULL;
        return g.oom ? -ENOMEM : -EINVAL;
    }
    *out = v;
    return 0;
}

int kumo__example_make(const json_t *schema, const kumo__example_opts *o, kumo__example_check_fn check, void *arg,
                       unsigned attempts, json_t **out, char *why, size_t why_len)
{
    kumo__example_opts oo = *o;
    char w[512] = "";
    int last = -EINVAL;
    *out = NULL;
    if (attempts == 0)
        attempts = 1;
    for (unsigned a = 0; a < attempts; a++) {
        if (a > 0) {
            oo.declared = 0;
            oo.seed = o->seed + a * 0x9e3779b97f4a7c15ull;
        }
        json_t *v = NULL;
        int rc = kumo__example_generate(schema, &oo, &v, w, sizeof(w));
        if (rc == -ENOMEM)
            return rc;
        if (rc != 0) {
            last = rc;
            continue;
        }
        int ok = check ? check(arg, v, w, sizeof(w)) : 1;
        if (ok == 1) {
            *out = v;
            return 0;
        }
        json_decref(v);
        if (ok < 0)
            return -ENOMEM;
        last = -EDOM;
    }
    if (why && why_len)
        snprintf(why, why_len, "%s", w);
    return last;
}

int kumo__example_check_schema(void *arg, const json_t *value, char *why, size_t why_len)
{
    const kumo__example_schema_check *c = arg;
    kumo__violations v = {.limit = 1};
    int rc = kumo__schema_validate(c->schema, value, c->dir, &v);
    if (rc == 1 && v.count > 0)
        snprintf(why, why_len, "%s: %s", v.items[0].instance[0] ? v.items[0].instance : "(root)", v.items[0].message);
    else if (rc == 1)
        snprintf(why, why_len, "it breaks the schema");
    kumo__violations_free(&v);
    return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}
