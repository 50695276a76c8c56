/*
 * schema.c: kumo's JSON Schema validator (schema.h): the OpenAPI 3.0 Schema
 * Object and JSON Schema 2020-12.
 *
 * Two halves. The compiler turns a jansson schema into a graph of `snode`s:
 * numbers pre-parsed, patterns compiled with PCRE2, property tables sorted
 * for binary search, $ref and $dynamicRef resolved to nodes. It works from
 * a queue, not by recursion, and memoises nodes by their json_t, so a
 * recursive schema (a tree whose children are trees) compiles once and
 * terminates. Before compiling a 2020-12 schema it scans the tree for
 * $id (new base URIs), $anchor and $dynamicAnchor.
 *
 * The validator walks the graph against an instance. It only reads the
 * compiled form (thread-safe); it allocates only to record violations,
 * for unevaluated* bookkeeping past 256 properties or items, one PCRE2
 * match block per call, and a string per property name under
 * propertyNames. Annotations for unevaluatedProperties/unevaluatedItems
 * are bitsets over the instance's members, passed down to in-place
 * applicators and merged only from subschemas that passed. Depth is
 * bounded (KUMO_SCHEMA_MAX_DEPTH), so a $ref loop that consumes no input
 * is a violation, never a crash.
 *
 * Formats and URI resolution live in schema_format.c.
 */
#include "openapi/schema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "openapi/pointer.h"
#include "openapi/schema_format.h"
#include "util/percent.h"

#define KUMO_SCHEMA_MAX_DEPTH 512  /* nested evaluations during validation */
#define SCAN_MAX_DEPTH 512         /* schema nesting, for the $id/$anchor scan */
#define PCRE_MATCH_LIMIT 1000000   /* backtracking budget per pattern match */
#define DEFAULT_BASE "kumo://schema/root.json"
#define BRANCH_DETAIL_MAX 3
#define STEP_LIMIT 2000000         /* schema evaluations per validation: oneOf/anyOf through $ref can explode */        /* oneOf/anyOf: show the best branch when it has this few errors */

/* ---- compiled form ----------------------------------------------------- */

enum {
    T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64,
};

enum {
    N_FALSE = 1 << 0,     /* the schema `false`: nothing validates */
    N_TRUE = 1 << 1,      /* `true` or an empty schema: everything validates */
    N_MULTIPLE = 1 << 2,
    N_MAX = 1 << 3,
    N_EMAX = 1 << 4,
    N_MIN = 1 << 5,
    N_EMIN = 1 << 6,
    N_CONST = 1 << 7,
    N_UNIQUE = 1 << 8,
    N_READONLY = 1 << 9,
    N_WRITEONLY = 1 << 10,
    N_NULLABLE = 1 << 11, /* OAS 3.0: null passes type and enum */
};

typedef struct num {
    double d;
    json_int_t i;
    int is_int; /* integral and within json_int_t */
} num;

typedef struct snode snode;
typedef struct sprop {
    const char *name;
    snode *schema;
    size_t len;          /* sorted by length, then bytes: most probes end on the length */
} sprop;
typedef struct spat {
    pcre2_code *re;
    const char *src;
    snode *schema;
} spat;
typedef struct sdep {
    const char *name;
    const char **names; /* dependentRequired */
    size_t n;
    snode *schema;      /* dependentSchemas */
} sdep;

typedef struct resource {
    const char *uri;      /* absolute, no fragment */
    const json_t *root;
    const char *loc;
    int local;            /* fragments resolve inside `root` */
} resource;

typedef struct anchor {
    const char *base, *name, *loc;
    const json_t *node;
    int dynamic;
    snode *compiled;      /* dynamic anchors: compiled eagerly */
} anchor;

struct snode {
    const json_t *src;
    const char *loc;
    const resource *res;
    unsigned flags, types;
    num multiple, maximum, emax, minimum, emin;
    long long max_len, min_len, max_items, min_items, max_props, min_props, min_contains, max_contains;
    const json_t *enum_vals, *const_val;
    pcre2_code *pattern;
    const char *pattern_src;
    enum kumo__format format;
    const char *format_name;
    sprop *props;
    size_t nprops;
    spat *pats;
    size_t npats;
    snode *additional, *prop_names;
    const char **required;
    size_t nrequired;
    sdep *dep_req, *dep_sch;
    size_t ndep_req, ndep_sch;
    snode **all_of, **any_of, **one_of, **prefix;
    size_t nall, nany, none, nprefix;
    snode *not_, *if_, *then_, *else_, *items, *contains, *uneval_props, *uneval_items;
    snode *ref, *dynref;
    const char *dyn_name;  /* $dynamicRef to a dynamic anchor: resolved in the dynamic scope */
    const char *disc_prop; /* discriminator.propertyName */
    sprop *disc;           /* value -> branch, sorted */
    size_t ndisc;
};

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

struct kumo__schema {
    kumo__dialect dialect;
    snode *root;
    chunk *arena;
    pcre2_code **codes;
    size_t ncodes, capcodes;
    pcre2_match_context *mctx;
    resource **res;
    size_t nres, capres;
    anchor *anchors;
    size_t nanchors, capanchors;
    int has_dynamic;
};

/* ---- arena ------------------------------------------------------------- */

static void *arena_alloc(kumo__schema *s, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (s->arena == NULL || s->arena->cap - s->arena->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        chunk *c = malloc(sizeof(chunk) + cap);
        if (c == NULL)
            return NULL;
        c->next = s->arena;
        c->used = 0;
        c->cap = cap;
        s->arena = c;
    }
    void *p = s->arena->data + s->arena->used;
    s->arena->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(kumo__schema *s, const char *str, size_t n)
{
    char *p = arena_alloc(s, n + 1);
    if (p) {
        memcpy(p, str, n);
        p[n] = '\0';
    }
    return p;
}

static char *arena_strdup(kumo__schema *s, const char *str)
{
    return arena_strndup(s, str, strlen(str));
}

/* ---- the compiler ------------------------------------------------------ */

typedef struct pending {
    snode *n;
    const char *base;
    const resource *res;
} pending;

typedef struct compiler {
    kumo__schema *s;
    kumo__dialect dialect;
    const kumo__refs *refs;
    const char *root_loc;
    kumo__error *err;
    const json_t **mkeys; /* memo: json_t* -> snode*, open addressing */
    snode **mvals;
    size_t mcap, mcount;
    pending *queue;
    size_t nqueue, capqueue, next;
    unsigned ext_count;
} compiler;

static int oom(compiler *c)
{
    if (c->err->code == 0)
        kumo__error_set(c->err, -ENOMEM, "out of memory compiling a schema");
    return -1;
}

static int fail(compiler *c, const char *loc, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(compiler *c, const char *loc, const char *kw, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kumo__error_set(c->err, -EINVAL, "%s%s%s: %s", loc, kw ? "/" : "", kw ? kw : "", msg);
    return -1;
}

static size_t hash_ptr(const void *p, size_t cap)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 7) & (cap - 1);
}

static snode *memo_get(compiler *c, const json_t *j)
{
    if (c->mcap == 0)
        return NULL;
    for (size_t h = hash_ptr(j, c->mcap);; h = (h + 1) & (c->mcap - 1)) {
        if (c->mkeys[h] == NULL)
            return NULL;
        if (c->mkeys[h] == j)
            return c->mvals[h];
    }
}

static int memo_put(compiler *c, const json_t *j, snode *n)
{
    if ((c->mcount + 1) * 2 > c->mcap) {
        size_t cap = c->mcap ? c->mcap * 2 : 64;
        const json_t **keys = calloc(cap, sizeof(*keys));
        snode **vals = calloc(cap, sizeof(*vals));
        if (keys == NULL || vals == NULL) {
            free(keys);
            free(vals);
            return oom(c);
        }
        for (size_t i = 0; i < c->mcap; i++) {
            if (c->mkeys[i] == NULL)
                continue;
            size_t h = hash_ptr(c->mkeys[i], cap);
            while (keys[h])
                h = (h + 1) & (cap - 1);
            keys[h] = c->mkeys[i];
            vals[h] = c->mvals[i];
        }
        free(c->mkeys);
        free(c->mvals);
        c->mkeys = keys;
        c->mvals = vals;
        c->mcap = cap;
    }
    size_t h = hash_ptr(j, c->mcap);
    while (c->mkeys[h])
        h = (h + 1) & (c->mcap - 1);
    c->mkeys[h] = j;
    c->mvals[h] = n;
    c->mcount++;
    return 0;
}

/* "loc/tok1[/tok2]" with the tokens escaped, in the arena. */
static const char *loc_join(compiler *c, const char *loc, const char *tok1, const char *tok2)
{
    kumo__ptrbuf p;
    kumo__ptrbuf_init(&p);
    size_t n = strlen(loc);
    if (n >= sizeof(p.buf) - 4)
        n = sizeof(p.buf) - 4;
    memcpy(p.buf, loc, n);
    p.len = n;
    p.buf[n] = '\0';
    if (tok1)
        kumo__ptrbuf_push(&p, tok1, strlen(tok1));
    if (tok2)
        kumo__ptrbuf_push(&p, tok2, strlen(tok2));
    const char *r = arena_strndup(c->s, p.buf, p.len);
    if (r == NULL)
        oom(c);
    return r;
}

static const char *loc_index(compiler *c, const char *loc, const char *kw, size_t i)
{
    char num[24];
    snprintf(num, sizeof num, "%zu", i);
    return loc_join(c, loc, kw, num);
}

static snode *node_new(compiler *c, const json_t *j, const char *loc, const resource *res)
{
    snode *n = arena_alloc(c->s, sizeof(*n));
    if (n == NULL) {
        oom(c);
        return NULL;
    }
    n->src = j;
    n->loc = loc;
    n->res = res;
    n->max_len = n->min_len = n->max_items = n->min_items = -1;
    n->max_props = n->min_props = n->min_contains = n->max_contains = -1;
    return n;
}

/* The node for schema `j` at `loc`: memoised for objects, queued for
 * compilation when new. Booleans (2020-12) are fresh nodes: jansson shares
 * one true and one false, and each use needs its own location. */
static snode *want(compiler *c, const json_t *j, const char *loc, const char *base, const resource *res)
{
    if (loc == NULL)
        return NULL;
    if (json_is_boolean(j) && c->dialect == KUMO_DIALECT_2020_12) {
        snode *n = node_new(c, j, loc, res);
        if (n)
            n->flags = json_is_true(j) ? N_TRUE : N_FALSE;
        return n;
    }
    if (!json_is_object(j)) {
        fail(c, loc, NULL, "a schema must be an object%s, not %s",
             c->dialect == KUMO_DIALECT_2020_12 ? " or a boolean" : "",
             json_is_array(j) ? "an array" : json_is_string(j) ? "a string" : json_is_boolean(j) ? "a boolean"
                                                                : json_is_null(j) ? "null" : "a number");
        return NULL;
    }
    snode *n = memo_get(c, j);
    if (n)
        return n;
    if ((n = node_new(c, j, loc, res)) == NULL || memo_put(c, j, n) < 0)
        return NULL;
    if (c->nqueue == c->capqueue) {
        size_t cap = c->capqueue ? c->capqueue * 2 : 64;
        pending *q = realloc(c->queue, cap * sizeof(*q));
        if (q == NULL)
            return oom(c), NULL;
        c->queue = q;
        c->capqueue = cap;
    }
    c->queue[c->nqueue++] = (pending){n, base, res};
    return n;
}

static resource *add_resource(compiler *c, const char *uri, const json_t *root, const char *loc, int local)
{
    kumo__schema *s = c->s;
    if (s->nres == s->capres) {
        size_t cap = s->capres ? s->capres * 2 : 8;
        resource **r = realloc(s->res, cap * sizeof(*r));
        if (r == NULL)
            return oom(c), NULL;
        s->res = r;
        s->capres = cap;
    }
    resource *r = arena_alloc(s, sizeof(*r));
    if (r == NULL || (r->uri = arena_strdup(s, uri)) == NULL || (r->loc = arena_strdup(s, loc)) == NULL)
        return oom(c), NULL;
    r->root = root;
    r->local = local;
    s->res[s->nres++] = r;
    return r;
}

static int add_anchor(compiler *c, const char *base, const char *name, const json_t *node, const char *loc,
                      int dynamic)
{
    kumo__schema *s = c->s;
    if (s->nanchors == s->capanchors) {
        size_t cap = s->capanchors ? s->capanchors * 2 : 8;
        anchor *a = realloc(s->anchors, cap * sizeof(*a));
        if (a == NULL)
            return oom(c);
        s->anchors = a;
        s->capanchors = cap;
    }
    anchor *a = &s->anchors[s->nanchors];
    memset(a, 0, sizeof(*a));
    if ((a->base = arena_strdup(s, base)) == NULL || (a->name = arena_strdup(s, name)) == NULL ||
        (a->loc = arena_strdup(s, loc)) == NULL)
        return oom(c);
    a->node = node;
    a->dynamic = dynamic;
    s->nanchors++;
    return 0;
}

/* Keywords whose values are schemas, for the $id/$anchor scan. */
static const char *const map_keywords[] = {"properties", "patternProperties", "$defs", "definitions",
                                           "dependentSchemas", NULL};
static const char *const list_keywords[] = {"allOf", "anyOf", "oneOf", "prefixItems", "items", NULL};
static const char *const one_keywords[] = {"additionalProperties", "unevaluatedProperties", "unevaluatedItems",
                                           "contains", "propertyNames", "if", "then", "else", "not", "items",
                                           NULL};

/* Registers $id resources and anchors under `j` (2020-12). */
static int scan(compiler *c, const json_t *j, const char *base, const char *loc, int depth)
{
    if (!json_is_object(j))
        return 0;
    if (depth > SCAN_MAX_DEPTH)
        return fail(c, loc, NULL, "schema nested deeper than %d levels", SCAN_MAX_DEPTH);
    int rc = 0;
    char *mine = NULL;
    const json_t *id = json_object_get(j, "$id");
    if (json_is_string(id)) {
        mine = kumo__uri_resolve(base, json_string_value(id));
        if (mine == NULL)
            return oom(c);
        char *hash = strchr(mine, '#');
        if (hash)
            *hash = '\0';
        if (add_resource(c, mine, j, loc, 1) == NULL) {
            rc = -1;
            goto out;
        }
        base = mine;
    }
    const json_t *a = json_object_get(j, "$anchor");
    if (json_is_string(a) && (rc = add_anchor(c, base, json_string_value(a), j, loc, 0)) < 0)
        goto out;
    a = json_object_get(j, "$dynamicAnchor");
    if (json_is_string(a) && (rc = add_anchor(c, base, json_string_value(a), j, loc, 1)) < 0)
        goto out;
    for (size_t k = 0; map_keywords[k]; k++) {
        const json_t *m = json_object_get(j, map_keywords[k]), *v;
        const char *key;
        if (!json_is_object(m))
            continue;
        json_object_foreach((json_t *)m, key, v) {
            const char *l = loc_join(c, loc, map_keywords[k], key);
            if (l == NULL || (rc = scan(c, v, base, l, depth + 1)) < 0)
                goto out_rc;
        }
    }
    for (size_t k = 0; list_keywords[k]; k++) {
        const json_t *m = json_object_get(j, list_keywords[k]);
        for (size_t i = 0; json_is_array(m) && i < json_array_size(m); i++) {
            const char *l = loc_index(c, loc, list_keywords[k], i);
            if (l == NULL || (rc = scan(c, json_array_get(m, i), base, l, depth + 1)) < 0)
                goto out_rc;
        }
    }
    for (size_t k = 0; one_keywords[k]; k++) {
        const json_t *m = json_object_get(j, one_keywords[k]);
        if (json_is_object(m)) {
            const char *l = loc_join(c, loc, one_keywords[k], NULL);
            if (l == NULL || (rc = scan(c, m, base, l, depth + 1)) < 0)
                goto out_rc;
        }
    }
out:
    free(mine);
    return rc;
out_rc:
    rc = -1;
    goto out;
}

static const resource *find_resource(const kumo__schema *s, const char *uri)
{
    for (size_t i = 0; i < s->nres; i++)
        if (strcmp(s->res[i]->uri, uri) == 0)
            return s->res[i];
    return NULL;
}

static const anchor *find_anchor(const kumo__schema *s, const char *base, const char *name)
{
    for (size_t i = 0; i < s->nanchors; i++)
        if (strcmp(s->anchors[i].base, base) == 0 && strcmp(s->anchors[i].name, name) == 0)
            return &s->anchors[i];
    return NULL;
}

/* Resolves `ref` (written in schema `at`, whose base URI is `base`) to a
 * node; `kwloc` names the keyword for messages. *dyn_name is set (when
 * asked) to the anchor's name if the target is a $dynamicAnchor. */
static snode *resolve_ref(compiler *c, const json_t *at, const char *ref, const char *base, const char *kwloc,
                          const char **dyn_name)
{
    snode *n = NULL;
    char *abs = kumo__uri_resolve(base, ref), *dec = NULL;
    if (abs == NULL)
        return oom(c), NULL;
    char *frag = strchr(abs, '#');
    if (frag)
        *frag++ = '\0';
    else
        frag = abs + strlen(abs);
    const resource *r = find_resource(c->s, abs);
    const json_t *target = NULL;
    const char *tloc = NULL;
    if (r && r->local) {
        size_t flen = strlen(frag);
        if (flen == 0) {
            target = r->root;
            tloc = r->loc;
        } else if (frag[0] == '/') {
            dec = malloc(flen + 1);
            if (dec == NULL) {
                oom(c);
                goto out;
            }
            ssize_t dn = kumo__percent_decode_into(frag, flen, dec, KUMO_PCT_LENIENT);
            dec[dn < 0 ? 0 : dn] = '\0';
            size_t rl = strlen(r->loc);
            int is_root = r == c->s->res[0];
            if (is_root && rl > 0 && strncmp(dec, r->loc, rl) == 0 && (dec[rl] == '/' || dec[rl] == '\0')) {
                /* "#/components/schemas/X/..." while compiling X itself */
                target = kumo__pointer_get(r->root, dec + rl, strlen(dec + rl), 0);
                tloc = dec;
            } else if (!(is_root && rl > 0 && c->refs)) {
                target = kumo__pointer_get(r->root, frag, flen, 1);
                tloc = loc_join(c, r->loc, NULL, NULL);
                if (target && tloc) {
                    size_t need = strlen(tloc) + strlen(dec) + 1;
                    char *t = arena_alloc(c->s, need);
                    if (t == NULL) {
                        oom(c);
                        goto out;
                    }
                    snprintf(t, need, "%s%s", tloc, dec);
                    tloc = t;
                }
            }
        } else {
            const anchor *a = find_anchor(c->s, abs, frag);
            if (a) {
                target = a->node;
                tloc = a->loc;
                if (dyn_name && a->dynamic)
                    *dyn_name = a->name;
            }
        }
        if (target) {
            if (tloc != NULL && tloc == dec)
                tloc = arena_strdup(c->s, dec);
            n = want(c, target, tloc ? tloc : "", r->uri, r);
            goto out;
        }
    }
    if (c->refs == NULL) {
        fail(c, kwloc, NULL, "cannot resolve $ref '%s'; %s", ref,
             r && r->local ? "no such location in the schema"
                           : "it points outside the schema and no resolver for other documents was given");
        goto out;
    }
    char where[512] = "";
    kumo__error e2 = {0};
    json_t *ext = c->refs->resolve(c->refs, at, ref, where, sizeof where, &e2);
    if (ext == NULL) {
        fail(c, kwloc, NULL, "cannot resolve $ref '%s'; %s", ref, e2.msg[0] ? e2.msg : "not found");
        goto out;
    }
    n = memo_get(c, ext);
    if (n)
        goto out;
    char ebase[64];
    snprintf(ebase, sizeof ebase, "kumo-ext:%u", ++c->ext_count);
    const char *eb = arena_strdup(c->s, ebase), *eloc = arena_strdup(c->s, where);
    if (eb == NULL || eloc == NULL) {
        oom(c);
        goto out;
    }
    if (c->dialect == KUMO_DIALECT_2020_12 && scan(c, ext, eb, eloc, 0) < 0)
        goto out;
    n = want(c, ext, eloc, eb, NULL);
out:
    free(abs);
    free(dec);
    return n;
}

/* ---- keyword parsing helpers ------------------------------------------ */

static void to_num(const json_t *v, num *out)
{
    out->d = json_number_value(v);
    if (json_is_integer(v)) {
        out->i = json_integer_value(v);
        out->is_int = 1;
    } else {
        out->is_int = out->d == floor(out->d) && fabs(out->d) < 9.2e18;
        out->i = out->is_int ? (json_int_t)out->d : 0;
    }
}

static int get_count(compiler *c, const snode *n, const char *kw, long long *out)
{
    const json_t *v = json_object_get(n->src, kw);
    *out = -1;
    if (v == NULL)
        return 0;
    num x;
    if (!json_is_number(v) || (to_num(v, &x), !x.is_int) || x.i < 0)
        return fail(c, n->loc, kw, "must be a non-negative integer");
    *out = x.i;
    return 0;
}

static int get_number(compiler *c, const snode *n, const char *kw, num *out, unsigned flag, unsigned *flags)
{
    const json_t *v = json_object_get(n->src, kw);
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return fail(c, n->loc, kw, "must be a number");
    to_num(v, out);
    *flags |= flag;
    return 0;
}

static int get_bool(compiler *c, const snode *n, const char *kw, int *out)
{
    const json_t *v = json_object_get(n->src, kw);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return fail(c, n->loc, kw, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

static pcre2_code *compile_re(compiler *c, const char *src, size_t len, const char *loc, const char *kw)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                                   &code, &off, NULL);
    if (re == NULL) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(code, buf, sizeof buf);
        fail(c, loc, kw, "invalid regular expression '%s': %s at offset %zu; kumo uses PCRE2 syntax", src,
             (char *)buf, (size_t)off);
        return NULL;
    }
    kumo__schema *s = c->s;
    if (s->ncodes == s->capcodes) {
        size_t cap = s->capcodes ? s->capcodes * 2 : 8;
        pcre2_code **p = realloc(s->codes, cap * sizeof(*p));
        if (p == NULL) {
            pcre2_code_free(re);
            return oom(c), NULL;
        }
        s->codes = p;
        s->capcodes = cap;
    }
    s->codes[s->ncodes++] = re;
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    return re;
}

static int type_bit(const char *t)
{
    static const struct {
        const char *name;
        int bit;
    } types[] = {{"null", T_NULL},     {"boolean", T_BOOLEAN}, {"object", T_OBJECT}, {"array", T_ARRAY},
                 {"number", T_NUMBER}, {"string", T_STRING},   {"integer", T_INTEGER}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, t) == 0)
            return types[i].bit;
    return 0;
}

/* A subschema under keyword `kw` (and `tok`, a name or index). */
static snode *sub(compiler *c, const snode *n, const json_t *j, const char *kw, const char *tok, const char *base)
{
    return want(c, j, loc_join(c, n->loc, kw, tok), base, n->res);
}

/* An array of schemas; non-empty. */
static int sub_list(compiler *c, snode *n, const char *kw, const char *base, snode ***out, size_t *count)
{
    const json_t *v = json_object_get(n->src, kw);
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(c, n->loc, kw, "must be a non-empty array of schemas");
    size_t k = json_array_size(v);
    *out = arena_alloc(c->s, k * sizeof(**out));
    if (*out == NULL)
        return oom(c);
    for (size_t i = 0; i < k; i++) {
        (*out)[i] = want(c, json_array_get(v, i), loc_index(c, n->loc, kw, i), base, n->res);
        if ((*out)[i] == NULL)
            return -1;
    }
    *count = k;
    return 0;
}

static snode *sub_one(compiler *c, snode *n, const char *kw, const char *base, int *rc)
{
    const json_t *v = json_object_get(n->src, kw);
    if (v == NULL)
        return NULL;
    snode *r = sub(c, n, v, kw, NULL, base);
    if (r == NULL)
        *rc = -1;
    return r;
}

static int cmp_prop(const void *a, const void *b)
{
    const sprop *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->name, y->name, x->len);
}

static int compile_object_keywords(compiler *c, snode *n, const char *base)
{
    const json_t *j = n->src, *v;
    const char *key;
    int is2020 = c->dialect == KUMO_DIALECT_2020_12;
    if ((v = json_object_get(j, "properties"))) {
        if (!json_is_object(v))
            return fail(c, n->loc, "properties", "must be an object of schemas");
        n->props = arena_alloc(c->s, (json_object_size(v) + 1) * sizeof(sprop));
        if (n->props == NULL)
            return oom(c);
        json_t *pv;
        json_object_foreach((json_t *)v, key, pv) {
            sprop *p = &n->props[n->nprops++];
            if ((p->name = arena_strdup(c->s, key)) == NULL)
                return oom(c);
            p->len = strlen(key);
            if ((p->schema = sub(c, n, pv, "properties", key, base)) == NULL)
                return -1;
        }
        qsort(n->props, n->nprops, sizeof(sprop), cmp_prop);
    }
    if (is2020 && (v = json_object_get(j, "patternProperties"))) {
        if (!json_is_object(v))
            return fail(c, n->loc, "patternProperties", "must be an object of schemas");
        n->pats = arena_alloc(c->s, (json_object_size(v) + 1) * sizeof(spat));
        if (n->pats == NULL)
            return oom(c);
        json_t *pv;
        json_object_foreach((json_t *)v, key, pv) {
            spat *p = &n->pats[n->npats++];
            if ((p->src = arena_strdup(c->s, key)) == NULL)
                return oom(c);
            if ((p->re = compile_re(c, key, strlen(key), n->loc, "patternProperties")) == NULL)
                return -1;
            if ((p->schema = sub(c, n, pv, "patternProperties", key, base)) == NULL)
                return -1;
        }
    }
    if ((v = json_object_get(j, "additionalProperties"))) {
        if (!is2020 && json_is_boolean(v)) {
            if (json_is_false(v)) {
                const char *l = loc_join(c, n->loc, "additionalProperties", NULL);
                if (l == NULL || (n->additional = node_new(c, v, l, n->res)) == NULL)
                    return -1;
                n->additional->flags = N_FALSE;
            }
        } else if ((n->additional = sub(c, n, v, "additionalProperties", NULL, base)) == NULL) {
            return -1;
        }
    }
    if ((v = json_object_get(j, "required"))) {
        if (!json_is_array(v))
            return fail(c, n->loc, "required", "must be an array of property names");
        n->required = arena_alloc(c->s, (json_array_size(v) + 1) * sizeof(char *));
        if (n->required == NULL)
            return oom(c);
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *s = json_array_get(v, i);
            if (!json_is_string(s))
                return fail(c, n->loc, "required", "must be an array of property names; item %zu is not a string", i);
            n->required[n->nrequired++] = json_string_value(s);
        }
    }
    if (!is2020)
        return 0;
    int rc = 0;
    n->prop_names = sub_one(c, n, "propertyNames", base, &rc);
    n->uneval_props = sub_one(c, n, "unevaluatedProperties", base, &rc);
    if (rc < 0)
        return rc;
    if ((v = json_object_get(j, "dependentRequired"))) {
        if (!json_is_object(v))
            return fail(c, n->loc, "dependentRequired", "must be an object of arrays of property names");
        n->dep_req = arena_alloc(c->s, (json_object_size(v) + 1) * sizeof(sdep));
        if (n->dep_req == NULL)
            return oom(c);
        json_t *pv;
        json_object_foreach((json_t *)v, key, pv) {
            sdep *d = &n->dep_req[n->ndep_req++];
            if (!json_is_array(pv))
                return fail(c, n->loc, "dependentRequired", "'%s' must be an array of property names", key);
            d->name = key;
            d->names = arena_alloc(c->s, (json_array_size(pv) + 1) * sizeof(char *));
            if (d->names == NULL)
                return oom(c);
            for (size_t i = 0; i < json_array_size(pv); i++) {
                if (!json_is_string(json_array_get(pv, i)))
                    return fail(c, n->loc, "dependentRequired", "'%s' must list property names (strings)", key);
                d->names[d->n++] = json_string_value(json_array_get(pv, i));
            }
        }
    }
    if ((v = json_object_get(j, "dependentSchemas"))) {
        if (!json_is_object(v))
            return fail(c, n->loc, "dependentSchemas", "must be an object of schemas");
        n->dep_sch = arena_alloc(c->s, (json_object_size(v) + 1) * sizeof(sdep));
        if (n->dep_sch == NULL)
            return oom(c);
        json_t *pv;
        json_object_foreach((json_t *)v, key, pv) {
            sdep *d = &n->dep_sch[n->ndep_sch++];
            d->name = key;
            if ((d->schema = sub(c, n, pv, "dependentSchemas", key, base)) == NULL)
                return -1;
        }
    }
    return 0;
}

static int compile_discriminator(compiler *c, snode *n, const char *base)
{
    const json_t *d = json_object_get(n->src, "discriminator");
    if (d == NULL)
        return 0;
    const json_t *pn = json_object_get(d, "propertyName"), *map = json_object_get(d, "mapping");
    if (!json_is_object(d) || !json_is_string(pn))
        return fail(c, n->loc, "discriminator", "must be an object with a propertyName (a string)");
    if (map && !json_is_object(map))
        return fail(c, n->loc, "discriminator/mapping", "must be an object of schema names or $refs");
    const char *list = n->one_of ? "oneOf" : "anyOf";
    snode **br = n->one_of ? n->one_of : n->any_of;
    size_t nbr = n->one_of ? n->none : n->nany;
    if (br == NULL)
        return 0; /* only used to pick among oneOf/anyOf branches */
    n->disc_prop = json_string_value(pn);
    n->disc = arena_alloc(c->s, (json_object_size(map) + nbr + 1) * sizeof(sprop));
    if (n->disc == NULL)
        return oom(c);
    const char *key;
    json_t *mv;
    json_object_foreach((json_t *)map, key, mv) {
        if (!json_is_string(mv))
            return fail(c, n->loc, "discriminator/mapping", "'%s' must be a schema name or a $ref", key);
        const char *t = json_string_value(mv);
        char refbuf[600];
        if (strchr(t, '/') || strchr(t, '#') || strchr(t, '.'))
            snprintf(refbuf, sizeof refbuf, "%s", t);
        else
            snprintf(refbuf, sizeof refbuf, "#/components/schemas/%s", t);
        const char *kl = loc_join(c, n->loc, "discriminator", "mapping");
        snode *target = kl ? resolve_ref(c, n->src, refbuf, base, kl, NULL) : NULL;
        if (target == NULL)
            return -1;
        n->disc[n->ndisc++] = (sprop){key, target, strlen(key)};
    }
    /* implicit: a branch that is a $ref is named by the ref's last segment */
    const json_t *arr = json_object_get(n->src, list);
    for (size_t i = 0; i < nbr; i++) {
        const json_t *ref = json_object_get(json_array_get(arr, i), "$ref");
        if (!json_is_string(ref))
            continue;
        const char *r = json_string_value(ref), *slash = strrchr(r, '/');
        const char *name = slash ? slash + 1 : r;
        int dup = 0;
        for (size_t k = 0; k < n->ndisc; k++)
            dup |= strcmp(n->disc[k].name, name) == 0;
        if (!dup)
            n->disc[n->ndisc++] = (sprop){name, br[i], strlen(name)};
    }
    qsort(n->disc, n->ndisc, sizeof(sprop), cmp_prop);
    return 0;
}

static int compile_node(compiler *c, snode *n, const char *base, const resource *res)
{
    const json_t *j = n->src, *v;
    int is2020 = c->dialect == KUMO_DIALECT_2020_12, b, rc = 0;
    if (json_object_size(j) == 0) {
        n->flags |= N_TRUE;
        return 0;
    }
    if (!is2020 && (v = json_object_get(j, "$ref"))) {
        /* OpenAPI 3.0: a Reference Object; its siblings are ignored */
        if (!json_is_string(v))
            return fail(c, n->loc, "$ref", "must be a string");
        const char *kl = loc_join(c, n->loc, "$ref", NULL);
        return kl && (n->ref = resolve_ref(c, j, json_string_value(v), base, kl, NULL)) ? 0 : -1;
    }
    if (is2020) {
        for (size_t i = 0; i < c->s->nres; i++) {
            if (c->s->res[i]->root == j && c->s->res[i]->local && i > 0) {
                res = c->s->res[i];
                base = res->uri;
                n->res = res;
            }
        }
        if ((v = json_object_get(j, "$ref"))) {
            if (!json_is_string(v))
                return fail(c, n->loc, "$ref", "must be a string");
            const char *kl = loc_join(c, n->loc, "$ref", NULL);
            if (kl == NULL || (n->ref = resolve_ref(c, j, json_string_value(v), base, kl, NULL)) == NULL)
                return -1;
        }
        if ((v = json_object_get(j, "$dynamicRef"))) {
            if (!json_is_string(v))
                return fail(c, n->loc, "$dynamicRef", "must be a string");
            const char *kl = loc_join(c, n->loc, "$dynamicRef", NULL);
            if (kl == NULL ||
                (n->dynref = resolve_ref(c, j, json_string_value(v), base, kl, &n->dyn_name)) == NULL)
                return -1;
            if (n->dyn_name)
                c->s->has_dynamic = 1;
        }
    }
    if ((v = json_object_get(j, "type"))) {
        if (json_is_string(v) && (n->types = type_bit(json_string_value(v))) != 0) {
        } else if (is2020 && json_is_array(v) && json_array_size(v) > 0) {
            for (size_t i = 0; i < json_array_size(v); i++) {
                const json_t *t = json_array_get(v, i);
                int bit = json_is_string(t) ? type_bit(json_string_value(t)) : 0;
                if (bit == 0)
                    return fail(c, n->loc, "type", "unknown type in the list (item %zu); use null, boolean, object, "
                                "array, number, string or integer", i);
                n->types |= bit;
            }
        } else {
            return fail(c, n->loc, "type", "must be %s of null, boolean, object, array, number, string, integer",
                        is2020 ? "one or a list" : "one");
        }
    }
    if (!is2020) {
        if ((rc = get_bool(c, n, "nullable", &b)) < 0)
            return rc;
        if (b) {
            n->flags |= N_NULLABLE;
            if (n->types)
                n->types |= T_NULL;
        }
    }
    if ((v = json_object_get(j, "enum"))) {
        if (!json_is_array(v))
            return fail(c, n->loc, "enum", "must be an array of allowed values");
        n->enum_vals = v;
    }
    if (is2020 && (v = json_object_get(j, "const"))) {
        n->const_val = v;
        n->flags |= N_CONST;
    }
    if ((rc = get_number(c, n, "multipleOf", &n->multiple, N_MULTIPLE, &n->flags)) < 0)
        return rc;
    if ((n->flags & N_MULTIPLE) && n->multiple.d <= 0)
        return fail(c, n->loc, "multipleOf", "must be greater than 0");
    if ((rc = get_number(c, n, "maximum", &n->maximum, N_MAX, &n->flags)) < 0 ||
        (rc = get_number(c, n, "minimum", &n->minimum, N_MIN, &n->flags)) < 0)
        return rc;
    if (is2020) {
        if ((rc = get_number(c, n, "exclusiveMaximum", &n->emax, N_EMAX, &n->flags)) < 0 ||
            (rc = get_number(c, n, "exclusiveMinimum", &n->emin, N_EMIN, &n->flags)) < 0)
            return rc;
    } else {
        if ((rc = get_bool(c, n, "exclusiveMaximum", &b)) < 0)
            return rc;
        if (b && (n->flags & N_MAX)) {
            n->emax = n->maximum;
            n->flags = (n->flags & ~(unsigned)N_MAX) | N_EMAX;
        }
        if ((rc = get_bool(c, n, "exclusiveMinimum", &b)) < 0)
            return rc;
        if (b && (n->flags & N_MIN)) {
            n->emin = n->minimum;
            n->flags = (n->flags & ~(unsigned)N_MIN) | N_EMIN;
        }
    }
    if ((rc = get_count(c, n, "maxLength", &n->max_len)) < 0 || (rc = get_count(c, n, "minLength", &n->min_len)) < 0 ||
        (rc = get_count(c, n, "maxItems", &n->max_items)) < 0 ||
        (rc = get_count(c, n, "minItems", &n->min_items)) < 0 ||
        (rc = get_count(c, n, "maxProperties", &n->max_props)) < 0 ||
        (rc = get_count(c, n, "minProperties", &n->min_props)) < 0 ||
        (rc = get_count(c, n, "maxContains", &n->max_contains)) < 0 ||
        (rc = get_count(c, n, "minContains", &n->min_contains)) < 0)
        return rc;
    if (!is2020)
        n->max_contains = n->min_contains = -1;
    if ((v = json_object_get(j, "pattern"))) {
        if (!json_is_string(v))
            return fail(c, n->loc, "pattern", "must be a string (a regular expression)");
        n->pattern_src = json_string_value(v);
        if ((n->pattern = compile_re(c, n->pattern_src, json_string_length(v), n->loc, "pattern")) == NULL)
            return -1;
    }
    if ((v = json_object_get(j, "format"))) {
        if (!json_is_string(v))
            return fail(c, n->loc, "format", "must be a string");
        n->format_name = json_string_value(v);
        n->format = kumo__format_lookup(n->format_name);
    }
    if ((rc = get_bool(c, n, "uniqueItems", &b)) < 0)
        return rc;
    n->flags |= b ? N_UNIQUE : 0;
    if ((rc = get_bool(c, n, "readOnly", &b)) < 0)
        return rc;
    n->flags |= b ? N_READONLY : 0;
    if ((rc = get_bool(c, n, "writeOnly", &b)) < 0)
        return rc;
    n->flags |= b ? N_WRITEONLY : 0;
    if ((rc = compile_object_keywords(c, n, base)) < 0)
        return rc;
    if ((rc = sub_list(c, n, "allOf", base, &n->all_of, &n->nall)) < 0 ||
        (rc = sub_list(c, n, "anyOf", base, &n->any_of, &n->nany)) < 0 ||
        (rc = sub_list(c, n, "oneOf", base, &n->one_of, &n->none)) < 0)
        return rc;
    n->not_ = sub_one(c, n, "not", base, &rc);
    if (rc < 0 || (rc = compile_discriminator(c, n, base)) < 0)
        return rc;
    if ((v = json_object_get(j, "items"))) {
        if (json_is_array(v))
            return fail(c, n->loc, "items", "must be a schema%s", is2020 ? "; for tuples use prefixItems" : "");
        if ((n->items = sub(c, n, v, "items", NULL, base)) == NULL)
            return -1;
    }
    if (!is2020)
        return 0;
    if ((rc = sub_list(c, n, "prefixItems", base, &n->prefix, &n->nprefix)) < 0)
        return rc;
    n->contains = sub_one(c, n, "contains", base, &rc);
    n->uneval_items = sub_one(c, n, "unevaluatedItems", base, &rc);
    n->if_ = sub_one(c, n, "if", base, &rc);
    if (n->if_) {
        n->then_ = sub_one(c, n, "then", base, &rc);
        n->else_ = sub_one(c, n, "else", base, &rc);
    }
    if (n->contains && n->min_contains < 0)
        n->min_contains = 1;
    return rc;
}

int kumo__schema_compile(const json_t *schema, kumo__dialect dialect, const char *location, const kumo__refs *refs,
                         kumo__schema **out, kumo__error *err)
{
    int rc = -1;
    compiler c = {0};
    kumo__error local = {0};
    *out = NULL;
    if (err == NULL)
        err = &local;
    if (location == NULL)
        location = "";
    kumo__schema *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory compiling a schema");
        return -ENOMEM;
    }
    s->dialect = dialect;
    c.s = s;
    c.dialect = dialect;
    c.refs = refs;
    c.root_loc = location;
    c.err = err;
    if (dialect != KUMO_DIALECT_OAS30 && dialect != KUMO_DIALECT_2020_12) {
        kumo__error_set(err, -EINVAL, "unknown schema dialect %d", (int)dialect);
        goto out;
    }
    if ((s->mctx = pcre2_match_context_create(NULL)) == NULL) {
        oom(&c);
        goto out;
    }
    pcre2_set_match_limit(s->mctx, PCRE_MATCH_LIMIT);
    pcre2_set_depth_limit(s->mctx, 10000);
    const resource *root = add_resource(&c, DEFAULT_BASE, schema, location, 1);
    if (root == NULL)
        goto out;
    if (dialect == KUMO_DIALECT_2020_12 && scan(&c, schema, DEFAULT_BASE, location, 0) < 0)
        goto out;
    const char *rloc = arena_strdup(s, location);
    if (rloc == NULL) {
        oom(&c);
        goto out;
    }
    if ((s->root = want(&c, schema, rloc, DEFAULT_BASE, root)) == NULL)
        goto out;
    for (size_t i = 0; i < s->nanchors; i++) {
        anchor *a = &s->anchors[i];
        if (a->dynamic && (a->compiled = want(&c, a->node, a->loc, a->base, find_resource(s, a->base))) == NULL)
            goto out;
    }
    while (c.next < c.nqueue) {
        pending p = c.queue[c.next++];
        if (compile_node(&c, p.n, p.base, p.res) < 0)
            goto out;
        /* dynamic anchors of resources met through the resolver */
        for (size_t i = 0; c.next == c.nqueue && i < s->nanchors; i++) {
            anchor *a = &s->anchors[i];
            if (a->dynamic && a->compiled == NULL &&
                (a->compiled = want(&c, a->node, a->loc, a->base, find_resource(s, a->base))) == NULL)
                goto out;
        }
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    free(c.mkeys);
    free(c.mvals);
    free(c.queue);
    kumo__schema_free(s);
    if (rc < 0 && err->code == 0)
        kumo__error_set(err, -EINVAL, "cannot compile the schema");
    return rc < 0 ? err->code : 0;
}

void kumo__schema_free(kumo__schema *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncodes; i++)
        pcre2_code_free(s->codes[i]);
    free(s->codes);
    pcre2_match_context_free(s->mctx);
    free(s->res);
    free(s->anchors);
    while (s->arena) {
        chunk *next = s->arena->next;
        free(s->arena);
        s->arena = next;
    }
    free(s);
}

void kumo__violations_free(kumo__violations *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->count; i++) {
        free(v->items[i].instance);
        free(v->items[i].schema);
        free(v->items[i].message);
    }
    free(v->items);
    v->items = NULL;
    v->count = v->cap = 0;
    v->truncated = 0;
}

/* ---- validation ---------------------------------------------------------- */

typedef struct scope {
    const resource *res;
    const struct scope *up;
} scope;

typedef struct vctx {
    const kumo__schema *s;
    kumo__violations *out; /* NULL: count only */
    int stop;              /* return at the first failure */
    int full;              /* `out` reached its limit */
    int oom;
    size_t nerr;
    enum kumo__direction dir;
    int depth;
    int abort;             /* 1: too deep, 2: too many steps; everything fails from here */
    unsigned long steps;
    const snode *abort_at;
    char abort_ip[512];
    const scope *dyn;
    pcre2_match_data *md;
    size_t npath;          /* the instance pointer, rendered only for a violation */
    struct seg {
        const char *key;   /* NULL: an array index */
        size_t index;
    } path[KUMO_SCHEMA_MAX_DEPTH + 8];
} vctx;

/* Property or item indices evaluated so far, for unevaluated*. */
typedef struct ann {
    uint64_t *bits;
    size_t n;
    int heap;
} ann;

static int ann_init(ann *a, uint64_t *stack, size_t stack_words, size_t n, vctx *x)
{
    size_t words = (n + 63) / 64;
    a->n = n;
    a->heap = words > stack_words;
    a->bits = a->heap ? calloc(words, sizeof(uint64_t)) : stack;
    if (a->bits == NULL) {
        x->oom = 1;
        return -1;
    }
    if (!a->heap)
        memset(stack, 0, stack_words * sizeof(uint64_t));
    return 0;
}

static void ann_free(ann *a)
{
    if (a->heap)
        free(a->bits);
}

static void ann_set(ann *a, size_t i)
{
    if (a && i < a->n)
        a->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static int ann_has(const ann *a, size_t i)
{
    return (a->bits[i / 64] >> (i % 64)) & 1;
}

static void ann_merge(ann *into, const ann *from)
{
    if (into == NULL)
        return;
    for (size_t w = 0; w < (into->n + 63) / 64; w++)
        into->bits[w] |= from->bits[w];
}

static void render_path(const vctx *x, kumo__ptrbuf *p)
{
    kumo__ptrbuf_init(p);
    for (size_t i = 0; i < x->npath; i++) {
        if (x->path[i].key)
            kumo__ptrbuf_push(p, x->path[i].key, strlen(x->path[i].key));
        else
            kumo__ptrbuf_push_index(p, x->path[i].index);
    }
}

static int report(vctx *x, const snode *n, const char *kw, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int report(vctx *x, const snode *n, const char *kw, const char *fmt, ...)
{
    x->nerr++;
    kumo__violations *o = x->out;
    if (o == NULL || x->full)
        return 1;
    size_t limit = o->limit ? o->limit : 100;
    if (o->count >= limit) {
        o->truncated = 1;
        x->full = 1;
        return 1;
    }
    if (o->count == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        kumo__violation *items = realloc(o->items, cap * sizeof(*items));
        if (items == NULL) {
            x->oom = 1;
            return 1;
        }
        o->items = items;
        o->cap = cap;
    }
    char msg[768], loc[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(loc, sizeof loc, "%s%s%s", n->loc ? n->loc : "", kw ? "/" : "", kw ? kw : "");
    kumo__violation *v = &o->items[o->count];
    kumo__ptrbuf ip;
    render_path(x, &ip);
    v->instance = strdup(ip.buf);
    v->schema = strdup(loc);
    v->message = strdup(msg);
    if (v->instance == NULL || v->schema == NULL || v->message == NULL) {
        free(v->instance);
        free(v->schema);
        free(v->message);
        x->oom = 1;
        return 1;
    }
    o->count++;
    return 1;
}

static int is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return 1;
    if (!json_is_real(v))
        return 0;
    double d = json_real_value(v);
    return isfinite(d) && d == floor(d);
}

static int types_match(unsigned types, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return types & T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return types & T_BOOLEAN;
    case JSON_OBJECT: return types & T_OBJECT;
    case JSON_ARRAY: return types & T_ARRAY;
    case JSON_STRING: return types & T_STRING;
    case JSON_INTEGER:
    case JSON_REAL: return (types & T_NUMBER) || ((types & T_INTEGER) && is_integral(v));
    }
    return 0;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return "null";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return is_integral(v) ? "an integer" : "a number with a fraction";
    }
    return "a value";
}

static void expected_types(unsigned types, char *buf, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{T_OBJECT, "an object"}, {T_ARRAY, "an array"},     {T_STRING, "a string"},
                 {T_INTEGER, "an integer"}, {T_NUMBER, "a number"}, {T_BOOLEAN, "a boolean"}, {T_NULL, "null"}};
    size_t count = 0, total = 0, o = 0;
    for (size_t i = 0; i < 7; i++)
        total += (types & names[i].bit) != 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 7; i++) {
        if (!(types & names[i].bit))
            continue;
        count++;
        int w = snprintf(buf + o, len - o, "%s%s", count == 1 ? "" : count == total ? " or " : ", ", names[i].name);
        if (w < 0 || (size_t)w >= len - o)
            return;
        o += (size_t)w;
    }
}

static void fmt_double(double d, char *buf, size_t len)
{
    snprintf(buf, len, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, len, "%.17g", d);
}

static void fmt_num(const num *n, char *buf, size_t len)
{
    if (n->is_int)
        snprintf(buf, len, "%lld", (long long)n->i);
    else
        fmt_double(n->d, buf, len);
}

static void fmt_value(const json_t *v, char *buf, size_t len)
{
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        fmt_double(json_real_value(v), buf, len);
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(buf, len, "%s", s ? s : "?");
        if (s && strlen(s) >= len && len > 4)
            memcpy(buf + len - 4, "...", 4);
        free(s);
    }
}

/* -1, 0, 1: v compared with the limit. */
static int num_cmp(const json_t *v, const num *lim)
{
    if (json_is_integer(v) && lim->is_int) {
        json_int_t i = json_integer_value(v);
        return i < lim->i ? -1 : i > lim->i;
    }
    double d = json_number_value(v);
    return d < lim->d ? -1 : d > lim->d;
}

static int is_multiple(const json_t *v, const num *m)
{
    if (json_is_integer(v) && m->is_int)
        return m->i == 0 || json_integer_value(v) % m->i == 0;
    double x = json_number_value(v), r = fabs(fmod(x, m->d));
    if (!isfinite(x))
        return 0;
    double tol = fmax(m->d * 1e-9, fabs(x) * 1e-15);
    return r <= tol || fabs(m->d - r) <= tol;
}

/* JSON equality with 1 == 1.0. */
static int json_same(const json_t *a, const json_t *b, int depth)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b) || depth > 4096)
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i), depth + 1))
                return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *va;
        json_object_foreach((json_t *)a, k, va) {
            const json_t *vb = json_object_get(b, k);
            if (vb == NULL || !json_same(va, vb, depth + 1))
                return 0;
        }
        return 1;
    }
    default:
        return 1; /* null, true, false: same type */
    }
}

/* 1 match, 0 no match, -1 could not tell (match limit, memory). */
static int re_match(vctx *x, const pcre2_code *re, const char *s, size_t len)
{
    if (x->md == NULL && (x->md = pcre2_match_data_create(1, NULL)) == NULL) {
        x->oom = 1;
        return -1;
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, x->md, x->s->mctx);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static int validate(const snode *n, const json_t *v, vctx *x, ann *a);

/* Validates without recording; `a` as in validate. */
static int quietly(const snode *n, const json_t *v, vctx *x, ann *a)
{
    kumo__violations *o = x->out;
    int stop = x->stop;
    size_t nerr = x->nerr;
    x->out = NULL;
    x->stop = 1;
    int r = validate(n, v, x, a);
    x->out = o;
    x->stop = stop;
    x->nerr = nerr;
    return r;
}

/* Number of violations `n` finds in `v` (for picking a branch to explain). */
static size_t count_errors(const snode *n, const json_t *v, vctx *x)
{
    kumo__violations *o = x->out;
    int stop = x->stop;
    size_t nerr = x->nerr;
    x->out = NULL;
    x->stop = 0;
    x->nerr = 0;
    validate(n, v, x, NULL);
    size_t r = x->nerr;
    x->out = o;
    x->stop = stop;
    x->nerr = nerr;
    return r;
}

/* Whether v's type fits n at its top (following $refs a few hops). */
static int type_fits(const snode *n, const json_t *v)
{
    for (int hops = 0; n && hops < 8; hops++, n = n->ref) {
        if (n->flags & N_FALSE)
            return 0;
        if (n->types && !types_match(n->types, v))
            return 0;
    }
    return 1;
}

/* Appends the errors of the branch most likely meant, when they are few. */
static void explain_best(snode **br, size_t nbr, const json_t *v, vctx *x)
{
    if (x->out == NULL || x->full)
        return;
    size_t best = 0, best_rank = SIZE_MAX;
    for (size_t i = 0; i < nbr; i++) {
        size_t rank = count_errors(br[i], v, x) + (type_fits(br[i], v) ? 0 : 1000);
        if (rank < best_rank) {
            best_rank = rank;
            best = i;
        }
    }
    if (best_rank <= BRANCH_DETAIL_MAX)
        validate(br[best], v, x, NULL);
}

/* The read/write-only flag of property `name` under n (following $ref and
 * allOf a little: `allOf: [{$ref: Base}]` is the usual 3.0 inheritance). */
static int prop_flag(const snode *n, const char *name, unsigned flag, int depth)
{
    if (n == NULL || depth > 8)
        return 0;
    sprop key = {name, NULL, strlen(name)};
    const sprop *p = n->nprops ? bsearch(&key, n->props, n->nprops, sizeof(sprop), cmp_prop) : NULL;
    if (p) {
        for (const snode *t = p->schema; t; t = t->ref) {
            if (t->flags & flag)
                return 1;
            for (size_t i = 0; i < t->nall; i++)
                if (t->all_of[i]->flags & flag || (t->all_of[i]->ref && t->all_of[i]->ref->flags & flag))
                    return 1;
            if (depth++ > 8)
                break;
        }
        return 0;
    }
    for (size_t i = 0; i < n->nall; i++)
        if (prop_flag(n->all_of[i], name, flag, depth + 1))
            return 1;
    return prop_flag(n->ref, name, flag, depth + 1);
}

static size_t push_key(vctx *x, const char *key)
{
    size_t before = x->npath;
    if (x->npath < sizeof(x->path) / sizeof(x->path[0]))
        x->path[x->npath++] = (struct seg){key, 0};
    return before;
}

static size_t push_index(vctx *x, size_t i)
{
    size_t before = x->npath;
    if (x->npath < sizeof(x->path) / sizeof(x->path[0]))
        x->path[x->npath++] = (struct seg){NULL, i};
    return before;
}

#define FAILED()                                   \
    do {                                           \
        bad = 1;                                   \
        if (x->stop || x->full || x->oom || x->abort) \
            goto out;                              \
    } while (0)

static int check_string(const snode *n, const json_t *v, vctx *x)
{
    int bad = 0;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (n->max_len >= 0 || n->min_len >= 0) {
        size_t cp = kumo__utf8_length(s, len);
        if (n->max_len >= 0 && cp > (size_t)n->max_len) {
            report(x, n, "maxLength", "must be at most %lld character%s long (is %zu)", n->max_len,
                   n->max_len == 1 ? "" : "s", cp);
            FAILED();
        }
        if (n->min_len >= 0 && cp < (size_t)n->min_len) {
            report(x, n, "minLength", "must be at least %lld character%s long (is %zu)", n->min_len,
                   n->min_len == 1 ? "" : "s", cp);
            FAILED();
        }
    }
    if (n->pattern) {
        int m = re_match(x, n->pattern, s, len);
        if (m != 1) {
            if (m == 0)
                report(x, n, "pattern", "must match the pattern '%s'", n->pattern_src);
            else
                report(x, n, "pattern", "could not be checked against the pattern '%s' (too costly to match)",
                       n->pattern_src);
            FAILED();
        }
    }
out:
    return bad;
}

static int check_number(const snode *n, const json_t *v, vctx *x)
{
    int bad = 0;
    char a[40], b[40];
    if ((n->flags & N_MULTIPLE) && !is_multiple(v, &n->multiple)) {
        fmt_num(&n->multiple, a, sizeof a), fmt_value(v, b, sizeof b);
        report(x, n, "multipleOf", "must be a multiple of %s (is %s)", a, b);
        FAILED();
    }
    if ((n->flags & N_MAX) && num_cmp(v, &n->maximum) > 0) {
        fmt_num(&n->maximum, a, sizeof a), fmt_value(v, b, sizeof b);
        report(x, n, "maximum", "must be at most %s (is %s)", a, b);
        FAILED();
    }
    if ((n->flags & N_EMAX) && num_cmp(v, &n->emax) >= 0) {
        fmt_num(&n->emax, a, sizeof a), fmt_value(v, b, sizeof b);
        report(x, n, x->s->dialect == KUMO_DIALECT_2020_12 ? "exclusiveMaximum" : "maximum",
               "must be less than %s (is %s)", a, b);
        FAILED();
    }
    if ((n->flags & N_MIN) && num_cmp(v, &n->minimum) < 0) {
        fmt_num(&n->minimum, a, sizeof a), fmt_value(v, b, sizeof b);
        report(x, n, "minimum", "must be at least %s (is %s)", a, b);
        FAILED();
    }
    if ((n->flags & N_EMIN) && num_cmp(v, &n->emin) <= 0) {
        fmt_num(&n->emin, a, sizeof a), fmt_value(v, b, sizeof b);
        report(x, n, x->s->dialect == KUMO_DIALECT_2020_12 ? "exclusiveMinimum" : "minimum",
               "must be greater than %s (is %s)", a, b);
        FAILED();
    }
out:
    return bad;
}

static int check_property_name(const snode *n, const char *key, vctx *x)
{
    json_t *name = json_string_nocheck(key);
    if (name == NULL) {
        x->oom = 1;
        return 1;
    }
    int bad = quietly(n->prop_names, name, x, NULL);
    if (bad && x->out) {
        kumo__violations inner = {.limit = 3};
        kumo__violations *o = x->out;
        size_t nerr = x->nerr;
        size_t saved = x->npath;
        x->out = &inner;
        validate(n->prop_names, name, x, NULL);
        x->out = o;
        x->nerr = nerr;
        x->npath = saved;
        for (size_t i = 0; i < inner.count; i++) {
            snode at = {.loc = inner.items[i].schema};
            report(x, &at, NULL, "property name '%s' is not allowed: %s", key, inner.items[i].message);
        }
        if (inner.count == 0)
            report(x, n, "propertyNames", "property name '%s' is not allowed", key);
        kumo__violations_free(&inner);
    } else if (bad) {
        x->nerr++;
    }
    json_decref(name);
    return bad;
}

static int check_object(const snode *n, const json_t *v, vctx *x, ann *a)
{
    int bad = 0;
    size_t size = json_object_size(v);
    if (n->max_props >= 0 && size > (size_t)n->max_props) {
        report(x, n, "maxProperties", "must have at most %lld propert%s (has %zu)", n->max_props,
               n->max_props == 1 ? "y" : "ies", size);
        FAILED();
    }
    if (n->min_props >= 0 && size < (size_t)n->min_props) {
        report(x, n, "minProperties", "must have at least %lld propert%s (has %zu)", n->min_props,
               n->min_props == 1 ? "y" : "ies", size);
        FAILED();
    }
    for (size_t i = 0; i < n->nrequired; i++) {
        const char *name = n->required[i];
        if (json_object_get(v, name))
            continue;
        if (x->dir == KUMO_DIR_REQUEST && prop_flag(n, name, N_READONLY, 0))
            continue;
        if (x->dir == KUMO_DIR_RESPONSE && prop_flag(n, name, N_WRITEONLY, 0))
            continue;
        report(x, n, "required", "missing required property '%s'", name);
        FAILED();
    }
    for (size_t i = 0; i < n->ndep_req; i++) {
        const sdep *d = &n->dep_req[i];
        if (!json_object_get(v, d->name))
            continue;
        for (size_t k = 0; k < d->n; k++) {
            if (json_object_get(v, d->names[k]))
                continue;
            report(x, n, "dependentRequired", "missing property '%s', required when '%s' is present", d->names[k],
                   d->name);
            FAILED();
        }
    }
    if (n->nprops == 0 && n->npats == 0 && n->additional == NULL && n->prop_names == NULL)
        goto out;
    size_t idx = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        size_t i = idx++, before;
        int matched = 0;
        if (n->prop_names && check_property_name(n, key, x))
            FAILED();
        if (n->nprops) {
            sprop k = {key, NULL, strlen(key)};
            const sprop *p = bsearch(&k, n->props, n->nprops, sizeof(sprop), cmp_prop);
            if (p) {
                matched = 1;
                before = push_key(x, key);
                int r = validate(p->schema, val, x, NULL);
                x->npath = before;
                if (r)
                    FAILED();
                ann_set(a, i);
            }
        }
        for (size_t k = 0; k < n->npats; k++) {
            int m = re_match(x, n->pats[k].re, key, strlen(key));
            if (m == 0)
                continue;
            matched = 1;
            before = push_key(x, key);
            int r = m < 0 ? report(x, n, "patternProperties", "property name could not be matched against '%s'",
                                   n->pats[k].src)
                          : validate(n->pats[k].schema, val, x, NULL);
            x->npath = before;
            if (r)
                FAILED();
            ann_set(a, i);
        }
        if (!matched && n->additional) {
            before = push_key(x, key);
            int r;
            if (n->additional->flags & N_FALSE)
                r = report(x, n, "additionalProperties", "property '%s' is not allowed (additionalProperties: false)",
                           key);
            else
                r = validate(n->additional, val, x, NULL);
            x->npath = before;
            if (r)
                FAILED();
            ann_set(a, i);
        }
    }
out:
    return bad;
}

static int check_array(const snode *n, const json_t *v, vctx *x, ann *a)
{
    int bad = 0;
    size_t size = json_array_size(v), before;
    if (n->max_items >= 0 && size > (size_t)n->max_items) {
        report(x, n, "maxItems", "must have at most %lld item%s (has %zu)", n->max_items, n->max_items == 1 ? "" : "s",
               size);
        FAILED();
    }
    if (n->min_items >= 0 && size < (size_t)n->min_items) {
        report(x, n, "minItems", "must have at least %lld item%s (has %zu)", n->min_items,
               n->min_items == 1 ? "" : "s", size);
        FAILED();
    }
    if (n->flags & N_UNIQUE) {
        for (size_t i = 1; i < size; i++) {
            for (size_t k = 0; k < i; k++) {
                if (json_same(json_array_get(v, k), json_array_get(v, i), 0)) {
                    report(x, n, "uniqueItems", "items must be unique, but items %zu and %zu are equal", k, i);
                    FAILED();
                    goto unique_done;
                }
            }
        }
    }
unique_done:
    for (size_t i = 0; i < n->nprefix && i < size; i++) {
        before = push_index(x, i);
        int r = validate(n->prefix[i], json_array_get(v, i), x, NULL);
        x->npath = before;
        if (r)
            FAILED();
        ann_set(a, i);
    }
    if (n->items) {
        for (size_t i = n->nprefix; i < size; i++) {
            before = push_index(x, i);
            int r;
            if (n->items->flags & N_FALSE)
                r = report(x, n, "items", "item %zu is not allowed: the array takes at most %zu item%s (items: false)",
                           i, n->nprefix, n->nprefix == 1 ? "" : "s");
            else
                r = validate(n->items, json_array_get(v, i), x, NULL);
            x->npath = before;
            if (r)
                FAILED();
            ann_set(a, i);
        }
    }
    if (n->contains) {
        size_t matches = 0;
        for (size_t i = 0; i < size; i++) {
            if (quietly(n->contains, json_array_get(v, i), x, NULL) == 0) {
                matches++;
                ann_set(a, i);
            }
        }
        if (n->min_contains >= 0 && matches < (size_t)n->min_contains) {
            report(x, n, "contains", "must contain at least %lld item%s matching 'contains' (has %zu)",
                   n->min_contains, n->min_contains == 1 ? "" : "s", matches);
            if (x->out && size > 0 && n->min_contains == 1 && size <= 1)
                validate(n->contains, json_array_get(v, 0), x, NULL);
            FAILED();
        }
        if (n->max_contains >= 0 && matches > (size_t)n->max_contains) {
            report(x, n, "maxContains", "must contain at most %lld item%s matching 'contains' (has %zu)",
                   n->max_contains, n->max_contains == 1 ? "" : "s", matches);
            FAILED();
        }
    }
out:
    return bad;
}

static const snode *dynamic_target(const snode *n, const vctx *x)
{
    const snode *found = NULL;
    /* the outermost resource in the dynamic scope with this dynamic anchor */
    for (const scope *sc = x->dyn; sc; sc = sc->up) {
        for (size_t i = 0; i < x->s->nanchors; i++) {
            const anchor *an = &x->s->anchors[i];
            if (an->dynamic && an->compiled && sc->res && strcmp(an->base, sc->res->uri) == 0 &&
                strcmp(an->name, n->dyn_name) == 0)
                found = an->compiled;
        }
    }
    return found ? found : n->dynref;
}

/* oneOf/anyOf decided by the discriminator property. */
static int check_discriminator(const snode *n, const json_t *v, vctx *x, ann *a)
{
    const json_t *d = json_object_get(v, n->disc_prop);
    const char *kw = n->one_of ? "oneOf" : "anyOf";
    (void)kw;
    if (d == NULL)
        return report(x, n, "discriminator", "missing discriminator property '%s'", n->disc_prop);
    if (!json_is_string(d))
        return report(x, n, "discriminator", "discriminator property '%s' must be a string, not %s", n->disc_prop,
                      type_name(d));
    sprop key = {json_string_value(d), NULL, json_string_length(d)};
    const sprop *p = bsearch(&key, n->disc, n->ndisc, sizeof(sprop), cmp_prop);
    if (p == NULL) {
        char list[300];
        size_t o = 0;
        list[0] = '\0';
        for (size_t i = 0; i < n->ndisc && o < sizeof list; i++) {
            int w = snprintf(list + o, sizeof list - o, "%s'%s'", i ? ", " : "", n->disc[i].name);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        size_t before = push_key(x, n->disc_prop);
        report(x, n, "discriminator", "'%s' is not a known value of the discriminator '%s'; expected one of: %s",
               key.name, n->disc_prop, list);
        x->npath = before;
        return 1;
    }
    return validate(p->schema, v, x, a);
}

/* Runs one branch of anyOf/oneOf/if, quietly, merging its annotations
 * into `a` when it passes. */
static int branch(const snode *b, const json_t *v, vctx *x, ann *a)
{
    if (a == NULL)
        return quietly(b, v, x, NULL);
    uint64_t stack[4];
    ann tmp;
    if (ann_init(&tmp, stack, 4, a->n, x) < 0)
        return 1;
    int r = quietly(b, v, x, &tmp);
    if (r == 0)
        ann_merge(a, &tmp);
    ann_free(&tmp);
    return r;
}

static int check_applicators(const snode *n, const json_t *v, vctx *x, ann *a)
{
    int bad = 0;
    for (size_t i = 0; i < n->nall; i++)
        if (validate(n->all_of[i], v, x, a))
            FAILED();
    if (n->disc_prop && json_is_object(v)) {
        if (check_discriminator(n, v, x, a))
            FAILED();
    } else {
        if (n->any_of) {
            size_t ok = 0;
            for (size_t i = 0; i < n->nany && (ok == 0 || a); i++)
                ok += branch(n->any_of[i], v, x, a) == 0;
            if (ok == 0) {
                report(x, n, "anyOf", "must match at least one of the %zu schemas in anyOf, but matches none",
                       n->nany);
                explain_best(n->any_of, n->nany, v, x);
                FAILED();
            }
        }
        if (n->one_of) {
            size_t ok = 0, first = 0, second = 0;
            for (size_t i = 0; i < n->none && ok < 2; i++) {
                if (branch(n->one_of[i], v, x, ok == 0 ? a : NULL) == 0) {
                    if (ok++ == 0)
                        first = i;
                    else
                        second = i;
                }
            }
            if (ok == 0) {
                report(x, n, "oneOf", "must match exactly one of the %zu schemas in oneOf, but matches none",
                       n->none);
                explain_best(n->one_of, n->none, v, x);
                FAILED();
            } else if (ok > 1) {
                report(x, n, "oneOf", "must match exactly one schema in oneOf, but matches several (%zu and %zu)",
                       first, second);
                FAILED();
            }
        }
    }
    if (n->not_ && quietly(n->not_, v, x, NULL) == 0) {
        report(x, n, "not", "must not match the schema in 'not'");
        FAILED();
    }
    if (n->if_) {
        if (branch(n->if_, v, x, a) == 0) {
            if (n->then_ && validate(n->then_, v, x, a))
                FAILED();
        } else if (n->else_ && validate(n->else_, v, x, a)) {
            FAILED();
        }
    }
    if (json_is_object(v)) {
        for (size_t i = 0; i < n->ndep_sch; i++)
            if (json_object_get(v, n->dep_sch[i].name) && validate(n->dep_sch[i].schema, v, x, a))
                FAILED();
    }
out:
    return bad;
}

static int check_unevaluated(const snode *n, const json_t *v, vctx *x, ann *mine)
{
    int bad = 0;
    size_t before;
    if (n->uneval_props && json_is_object(v)) {
        size_t i = 0;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            size_t k = i++;
            if (ann_has(mine, k))
                continue;
            before = push_key(x, key);
            int r = (n->uneval_props->flags & N_FALSE)
                        ? report(x, n, "unevaluatedProperties",
                                 "property '%s' is not allowed (unevaluatedProperties: false)", key)
                        : validate(n->uneval_props, val, x, NULL);
            x->npath = before;
            if (r)
                FAILED();
            ann_set(mine, k);
        }
    }
    if (n->uneval_items && json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (ann_has(mine, i))
                continue;
            before = push_index(x, i);
            int r = (n->uneval_items->flags & N_FALSE)
                        ? report(x, n, "unevaluatedItems", "item %zu is not allowed (unevaluatedItems: false)", i)
                        : validate(n->uneval_items, json_array_get(v, i), x, NULL);
            x->npath = before;
            if (r)
                FAILED();
            ann_set(mine, i);
        }
    }
out:
    return bad;
}

static int validate(const snode *n, const json_t *v, vctx *x, ann *a)
{
    int bad = 0, own = 0;
    if (n->flags & N_FALSE)
        return report(x, n, NULL, "no value is allowed here (the schema is false)");
    if (n->flags & N_TRUE)
        return 0;
    if (x->abort)
        return 1;
    if (x->depth >= KUMO_SCHEMA_MAX_DEPTH || ++x->steps > STEP_LIMIT) {
        /* reported once, by kumo__schema_validate, whatever mode we are in */
        x->abort = x->depth >= KUMO_SCHEMA_MAX_DEPTH ? 1 : 2;
        x->abort_at = n;
        kumo__ptrbuf ip;
        render_path(x, &ip);
        memcpy(x->abort_ip, ip.buf, sizeof(x->abort_ip));
        return 1;
    }
    x->depth++;
    const scope *saved_dyn = x->dyn;
    scope sc;
    if (x->s->has_dynamic && n->res && (x->dyn == NULL || x->dyn->res != n->res)) {
        sc = (scope){n->res, x->dyn};
        x->dyn = &sc;
    }
    uint64_t stack[4];
    ann mine = {0};
    int container = json_is_object(v) || json_is_array(v);
    if (container && (a || (n->uneval_props && json_is_object(v)) || (n->uneval_items && json_is_array(v)))) {
        size_t size = json_is_object(v) ? json_object_size(v) : json_array_size(v);
        if (ann_init(&mine, stack, 4, size, x) < 0) {
            bad = 1;
            goto out;
        }
        own = 1;
    }
    ann *ma = own ? &mine : NULL;
    if (n->ref && validate(n->ref, v, x, ma))
        FAILED();
    if (n->dynref && validate(n->dyn_name ? dynamic_target(n, x) : n->dynref, v, x, ma))
        FAILED();
    if (n->types && !types_match(n->types, v)) {
        char want[120];
        expected_types(n->types, want, sizeof want);
        report(x, n, "type", "must be %s, not %s", want, type_name(v));
        FAILED();
    }
    if ((n->flags & N_READONLY) && x->dir == KUMO_DIR_REQUEST) {
        report(x, n, "readOnly", "is read-only and must not be sent in a request");
        FAILED();
    }
    if ((n->flags & N_WRITEONLY) && x->dir == KUMO_DIR_RESPONSE) {
        report(x, n, "writeOnly", "is write-only and must not appear in a response");
        FAILED();
    }
    if (n->enum_vals && !(json_is_null(v) && (n->flags & N_NULLABLE))) {
        size_t k = json_array_size(n->enum_vals), i;
        for (i = 0; i < k; i++)
            if (json_same(v, json_array_get(n->enum_vals, i), 0))
                break;
        if (i == k) {
            char list[256], one[64];
            size_t o = 0;
            list[0] = '\0';
            for (i = 0; i < k && i < 8; i++) {
                fmt_value(json_array_get(n->enum_vals, i), one, sizeof one);
                int w = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", one);
                if (w < 0 || (size_t)w >= sizeof list - o)
                    break;
                o += (size_t)w;
            }
            report(x, n, "enum", "must be one of: %s%s", list, k > 8 ? ", ..." : "");
            FAILED();
        }
    }
    if ((n->flags & N_CONST) && !json_same(v, n->const_val, 0)) {
        char one[120];
        fmt_value(n->const_val, one, sizeof one);
        report(x, n, "const", "must be exactly %s", one);
        FAILED();
    }
    if (json_is_string(v) && check_string(n, v, x))
        FAILED();
    if (json_is_number(v) && check_number(n, v, x))
        FAILED();
    if (n->format) {
        const char *hint;
        if (!kumo__format_check(n->format, v, &hint)) {
            report(x, n, "format", "must be %s (format '%s')", hint ? hint : "valid", n->format_name);
            FAILED();
        }
    }
    if (json_is_object(v) && check_object(n, v, x, ma))
        FAILED();
    if (json_is_array(v) && check_array(n, v, x, ma))
        FAILED();
    if ((n->nall || n->any_of || n->one_of || n->not_ || n->if_ || n->ndep_sch) && check_applicators(n, v, x, ma))
        FAILED();
    if ((n->uneval_props || n->uneval_items) && own && check_unevaluated(n, v, x, &mine))
        FAILED();
out:
    if (own) {
        if (!bad && a)
            ann_merge(a, &mine);
        ann_free(&mine);
    }
    x->dyn = saved_dyn;
    x->depth--;
    return bad;
}

int kumo__schema_validate(const kumo__schema *s, const json_t *instance, enum kumo__direction dir,
                          kumo__violations *out)
{
    vctx x = {.s = s, .out = out, .dir = dir};
    int bad = validate(s->root, instance, &x, NULL);
    if (x.abort && out) {
        x.full = 0;
        size_t had = out->count;
        x.npath = 0;
        if (x.abort == 1)
            report(&x, x.abort_at, NULL, "schema recursion too deep (over %d nested schemas); the schema may loop "
                   "through $ref without consuming input", KUMO_SCHEMA_MAX_DEPTH);
        else
            report(&x, x.abort_at, NULL, "validation gave up after %d schema evaluations; the schema is too costly "
                   "for this value (oneOf/anyOf nested through $ref?)", STEP_LIMIT);
        if (out->count > had) {
            char *ip = strdup(x.abort_ip);
            if (ip == NULL) {
                x.oom = 1;
            } else {
                free(out->items[had].instance);
                out->items[had].instance = ip;
            }
        }
    }
    if (x.md)
        pcre2_match_data_free(x.md);
    if (x.oom)
        return -ENOMEM;
    return bad ? 1 : 0;
}
