/*
 * schema.c: the compiler half of kumo's JSON Schema validator (schema.h):
 * the OpenAPI 3.0 Schema Object and JSON Schema 2020-12.
 *
 * The compiler turns a jansson schema into a graph of `snode`s:
 * numbers pre-parsed, patterns compiled with PCRE2, property tables sorted
 * for binary search, $ref and $dynamicRef resolved to nodes. It works from
 * a queue, not by recursion, and memoises nodes by their json_t, so a
 * recursive schema (a tree whose children are trees) compiles once and
 * terminates. Before compiling a 2020-12 schema it scans the tree for
 * $id (new base URIs), $anchor and $dynamicAnchor.
 *
 * The validator that walks this graph is schema_validate.c; the compiled
 * form they share is schema_internal.h.
 *
 * Formats and URI resolution live in schema_format.c.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi/pointer.h"
#include "openapi/schema_internal.h"
#include "openapi/schema_regex.h"
#include "base/percent.h"

/* ---- arena ------------------------------------------------------------- */

/* Chunks start small and double up to 16 KiB: most schemas an operation
 * compiles are a parameter's {type: string}, and kumo up compiles a few
 * thousand of them (a 16 KiB first chunk each was 30 MB of page faults for
 * bench/gen_spec.py's document). */
static void *arena_alloc(kumo__schema *s, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (s->arena == NULL || s->arena->cap - s->arena->used < n) {
        size_t want = s->arena == NULL ? 1024 : s->arena->cap >= 8192 ? 16384 : s->arena->cap * 2;
        size_t cap = n > want ? n : want;
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
    kumo__schema_options opts;
    const char *root_loc;
    kumo__error *err;
    const json_t **mkeys; /* memo: json_t* -> snode*, open addressing */
    snode **mvals;
    size_t mcap, mcount;
    pending *queue;
    size_t nqueue, capqueue, next;
    unsigned ext_count;
    kumo__schema_cache *cache; /* NULL: nothing shared */
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

/* ---- shared component schemas (schema.h, kumo__schema_cache) ---------- */

typedef struct shared {
    const json_t *node;
    char *where;
    kumo__schema *s; /* NULL: being compiled, or does not compile alone */
    int busy;
} shared;

struct kumo__schema_cache {
    shared *items;
    size_t n, cap;
};

kumo__schema_cache *kumo__schema_cache_new(void)
{
    return calloc(1, sizeof(kumo__schema_cache));
}

void kumo__schema_cache_free(kumo__schema_cache *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < cache->n; i++) {
        kumo__schema_free(cache->items[i].s);
        free(cache->items[i].where);
    }
    free(cache->items);
    free(cache);
}

static int compile_with(const json_t *schema, kumo__dialect dialect, const char *location, const kumo__refs *refs,
                        const kumo__schema_options *opts, kumo__schema_cache *cache, kumo__schema **out,
                        kumo__error *err);

static int add_dep(kumo__schema *s, kumo__schema *dep)
{
    for (size_t i = 0; i < s->ndeps; i++)
        if (s->deps[i] == dep)
            return 0;
    if (s->ndeps == s->capdeps) {
        size_t cap = s->capdeps ? s->capdeps * 2 : 8;
        kumo__schema **d = realloc(s->deps, cap * sizeof(*d));
        if (d == NULL)
            return -1;
        s->deps = d;
        s->capdeps = cap;
    }
    atomic_fetch_add(&dep->refs, 1);
    s->deps[s->ndeps++] = dep;
    return 0;
}

/* The root node of `target` (at `where`) compiled once in the cache, with
 * a reference taken for c's schema; NULL when it is to be compiled inline
 * (being compiled further up: a cycle; or it does not compile alone), or
 * out of memory (c->err set). */
static snode *shared_node(compiler *c, const json_t *target, const char *where)
{
    kumo__schema_cache *cache = c->cache;
    shared *it = NULL;
    for (size_t i = 0; i < cache->n && it == NULL; i++)
        if (cache->items[i].node == target && strcmp(cache->items[i].where, where) == 0)
            it = &cache->items[i];
    if (it == NULL) {
        if (cache->n == cache->cap) {
            size_t cap = cache->cap ? cache->cap * 2 : 64;
            shared *t = realloc(cache->items, cap * sizeof(*t));
            if (t == NULL)
                return oom(c), NULL;
            cache->items = t;
            cache->cap = cap;
        }
        char *w = strdup(where);
        if (w == NULL)
            return oom(c), NULL;
        size_t at = cache->n++;
        cache->items[at] = (shared){.node = target, .where = w, .busy = 1};
        kumo__schema *sub = NULL;
        kumo__error e2 = {0};
        int rc = compile_with(target, c->dialect, where, c->refs, &c->opts, cache, &sub, &e2);
        it = &cache->items[at]; /* the table may have moved meanwhile */
        it->busy = 0;
        if (rc == -ENOMEM)
            return oom(c), NULL;
        it->s = rc == 0 ? sub : NULL; /* one that does not compile: inline, for the message it gives there */
    }
    if (it->busy || it->s == NULL)
        return NULL;
    if (add_dep(c->s, it->s) < 0)
        return oom(c), NULL;
    return it->s->root;
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
    if (json_is_boolean(j) && c->dialect == KUMO__DIALECT_2020_12) {
        snode *n = node_new(c, j, loc, res);
        if (n)
            n->flags = json_is_true(j) ? N_TRUE : N_FALSE;
        return n;
    }
    if (!json_is_object(j)) {
        fail(c, loc, NULL, "a schema must be an object%s, not %s",
             c->dialect == KUMO__DIALECT_2020_12 ? " or a boolean" : "",
             json_is_array(j)     ? "an array"
             : json_is_string(j)  ? "a string"
             : json_is_boolean(j) ? "a boolean"
             : json_is_null(j)    ? "null"
                                  : "a number");
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

static int add_anchor(compiler *c, const char *base, const char *name, const json_t *node, const char *loc, int dynamic)
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
static const char *const map_keywords[] = {"properties",  "patternProperties", "$defs",
                                           "definitions", "dependentSchemas",  NULL};
static const char *const list_keywords[] = {"allOf", "anyOf", "oneOf", "prefixItems", "items", NULL};
static const char *const one_keywords[] = {"additionalProperties",
                                           "unevaluatedProperties",
                                           "unevaluatedItems",
                                           "contains",
                                           "propertyNames",
                                           "if",
                                           "then",
                                           "else",
                                           "not",
                                           "items",
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
        json_object_foreach((json_t *)m, key, v)
        {
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
    size_t flen = strlen(frag);
    if (r && frag[0] != '\0' && frag[0] != '/') {
        /* an anchor; those of resources the resolver brought in count too */
        const anchor *a = find_anchor(c->s, abs, frag);
        if (a) {
            target = a->node;
            tloc = a->loc;
            if (dyn_name && a->dynamic)
                *dyn_name = a->name;
        }
    } else if (r && r->local) {
        if (flen == 0) {
            target = r->root;
            tloc = r->loc;
        } else if (frag[0] == '/') {
            dec = malloc(flen + 1);
            if (dec == NULL) {
                oom(c);
                goto out;
            }
            ssize_t dn = kumo__percent_decode_into(frag, flen, dec, KUMO__PCT_LENIENT);
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
        }
    }
    if (r && target) {
        if (tloc != NULL && tloc == dec)
            tloc = arena_strdup(c->s, dec);
        n = want(c, target, tloc ? tloc : "", r->uri, r);
        goto out;
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
    if (c->cache && c->dialect == KUMO__DIALECT_OAS30) {
        if ((n = shared_node(c, ext, where)) != NULL) {
            if (memo_put(c, ext, n) < 0)
                n = NULL;
            goto out;
        }
        if (c->err->code == -ENOMEM)
            goto out;
    }
    char ebase[64];
    snprintf(ebase, sizeof ebase, "kumo-ext:%u", ++c->ext_count);
    const char *eb = arena_strdup(c->s, ebase), *eloc = arena_strdup(c->s, where);
    if (eb == NULL || eloc == NULL) {
        oom(c);
        goto out;
    }
    /* A schema the resolver brings in is a resource of its own: it takes
     * part in the dynamic scope ($dynamicRef) and its anchors resolve; its
     * "#/..." fragments still go to the resolver (they point into the
     * document around it, not into it). */
    const resource *er = add_resource(c, eb, ext, eloc, 0);
    if (er == NULL)
        goto out;
    if (c->dialect == KUMO__DIALECT_2020_12 && scan(c, ext, eb, eloc, 0) < 0)
        goto out;
    n = want(c, ext, eloc, eb, er);
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
    pcre2_code *re = NULL;
    char why[400];
    int rc = kumo__regex_compile(src, len, &re, why, sizeof why);
    if (rc == -ENOMEM)
        return oom(c), NULL;
    if (rc < 0) {
        fail(c, loc, kw,
             "invalid regular expression '%.200s%s': %s; patterns are ECMA-262 regular expressions (u flag), "
             "see docs/validation.md",
             src, len > 200 ? "..." : "", why);
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
    } types[] = {{"null", T_NULL},     {"boolean", T_BOOLEAN}, {"object", T_OBJECT},  {"array", T_ARRAY},
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

static int compile_object_keywords(compiler *c, snode *n, const char *base)
{
    const json_t *j = n->src, *v;
    const char *key;
    int is2020 = c->dialect == KUMO__DIALECT_2020_12;
    if ((v = json_object_get(j, "properties"))) {
        if (!json_is_object(v))
            return fail(c, n->loc, "properties", "must be an object of schemas");
        n->props = arena_alloc(c->s, (json_object_size(v) + 1) * sizeof(sprop));
        if (n->props == NULL)
            return oom(c);
        json_t *pv;
        json_object_foreach((json_t *)v, key, pv)
        {
            sprop *p = &n->props[n->nprops++];
            if ((p->name = arena_strdup(c->s, key)) == NULL)
                return oom(c);
            p->len = strlen(key);
            if ((p->schema = sub(c, n, pv, "properties", key, base)) == NULL)
                return -1;
        }
        qsort(n->props, n->nprops, sizeof(sprop), kumo__schema_cmp_prop);
    }
    if (is2020 && (v = json_object_get(j, "patternProperties"))) {
        if (!json_is_object(v))
            return fail(c, n->loc, "patternProperties", "must be an object of schemas");
        n->pats = arena_alloc(c->s, (json_object_size(v) + 1) * sizeof(spat));
        if (n->pats == NULL)
            return oom(c);
        json_t *pv;
        json_object_foreach((json_t *)v, key, pv)
        {
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
        json_object_foreach((json_t *)v, key, pv)
        {
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
        json_object_foreach((json_t *)v, key, pv)
        {
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
    json_object_foreach((json_t *)map, key, mv)
    {
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
    qsort(n->disc, n->ndisc, sizeof(sprop), kumo__schema_cmp_prop);
    return 0;
}

static int is_anchor_name(const char *a)
{
    /* 2020-12: ^[A-Za-z_][-A-Za-z0-9._]*$ */
    if (!((*a >= 'A' && *a <= 'Z') || (*a >= 'a' && *a <= 'z') || *a == '_'))
        return 0;
    for (a++; *a; a++)
        if (!((*a >= 'A' && *a <= 'Z') || (*a >= 'a' && *a <= 'z') || (*a >= '0' && *a <= '9') || *a == '-' ||
              *a == '.' || *a == '_'))
            return 0;
    return 1;
}

/* 2020-12: what the metaschema says about keywords that do not validate
 * (core identifiers, meta-data, content) and about schemas nothing refers
 * to ($defs, contentSchema): checked here so that a typo is refused at
 * load rather than found when a $ref first reaches it. */
static int compile_shape(compiler *c, snode *n, const char *base)
{
    static const char *const strings[] = {"$schema",         "$comment",         "title", "description",
                                          "contentEncoding", "contentMediaType", NULL};
    const json_t *j = n->src, *v;
    const char *key;
    int b, rc = 0;
    for (size_t i = 0; strings[i]; i++)
        if ((v = json_object_get(j, strings[i])) && !json_is_string(v))
            return fail(c, n->loc, strings[i], "must be a string");
    if ((v = json_object_get(j, "$id")) && !json_is_string(v))
        return fail(c, n->loc, "$id", "must be a string (a URI reference)");
    if (v && strchr(json_string_value(v), '#') && strchr(json_string_value(v), '#')[1] != '\0')
        return fail(c, n->loc, "$id", "must not have a fragment; name a place with $anchor instead");
    if ((v = json_object_get(j, "$anchor")) && !(json_is_string(v) && is_anchor_name(json_string_value(v))))
        return fail(c, n->loc, "$anchor", "must be a name: a letter or '_', then letters, digits, '-', '.', '_'");
    if ((v = json_object_get(j, "$dynamicAnchor")) && !(json_is_string(v) && is_anchor_name(json_string_value(v))))
        return fail(c, n->loc, "$dynamicAnchor",
                    "must be a name: a letter or '_', then letters, digits, '-', '.', '_'");
    if ((v = json_object_get(j, "$vocabulary")) && !json_is_object(v))
        return fail(c, n->loc, "$vocabulary", "must be an object of URIs to booleans");
    if ((v = json_object_get(j, "examples")) && !json_is_array(v))
        return fail(c, n->loc, "examples", "must be an array");
    if ((rc = get_bool(c, n, "deprecated", &b)) < 0)
        return rc;
    if ((v = json_object_get(j, "$defs"))) {
        if (!json_is_object(v))
            return fail(c, n->loc, "$defs", "must be an object of schemas");
        json_t *dv;
        json_object_foreach((json_t *)v, key, dv)
        {
            if (sub(c, n, dv, "$defs", key, base) == NULL)
                return -1;
        }
    }
    if (json_object_get(j, "contentSchema"))
        sub_one(c, n, "contentSchema", base, &rc);
    return rc;
}

static int compile_node(compiler *c, snode *n, const char *base, const resource *res)
{
    const json_t *j = n->src, *v;
    int is2020 = c->dialect == KUMO__DIALECT_2020_12, b, rc = 0;
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
            if (kl == NULL || (n->dynref = resolve_ref(c, j, json_string_value(v), base, kl, &n->dyn_name)) == NULL)
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
                    return fail(c, n->loc, "type",
                                "unknown type in the list (item %zu); use null, boolean, object, "
                                "array, number, string or integer",
                                i);
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
    n->multiple_of = json_object_get(j, "multipleOf");
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
        /* asserted unless asked to annotate only (schema.h, kumo__formats) */
        n->format = c->opts.formats == KUMO__FORMATS_ASSERT ? kumo__format_lookup(n->format_name) : KUMO__FMT_NONE;
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
    /* then/else without if do nothing, but must still be schemas */
    n->then_ = sub_one(c, n, "then", base, &rc);
    n->else_ = sub_one(c, n, "else", base, &rc);
    if (rc < 0 || (rc = compile_shape(c, n, base)) < 0)
        return rc;
    if (n->contains && n->min_contains < 0)
        n->min_contains = 1;
    return rc;
}

int kumo__schema_compile(const json_t *schema, kumo__dialect dialect, const char *location, const kumo__refs *refs,
                         kumo__schema **out, kumo__error *err)
{
    return kumo__schema_compile_opts(schema, dialect, location, refs, NULL, out, err);
}

int kumo__schema_compile_opts(const json_t *schema, kumo__dialect dialect, const char *location, const kumo__refs *refs,
                              const kumo__schema_options *opts, kumo__schema **out, kumo__error *err)
{
    return compile_with(schema, dialect, location, refs, opts, NULL, out, err);
}

int kumo__schema_compile_cached(const json_t *schema, kumo__dialect dialect, const char *location,
                                const kumo__refs *refs, kumo__schema_cache *cache, kumo__schema **out, kumo__error *err)
{
    return compile_with(schema, dialect, location, refs, NULL, cache, out, err);
}

static int compile_with(const json_t *schema, kumo__dialect dialect, const char *location, const kumo__refs *refs,
                        const kumo__schema_options *opts, kumo__schema_cache *cache, kumo__schema **out,
                        kumo__error *err)
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
    atomic_init(&s->refs, 1);
    c.s = s;
    c.dialect = dialect;
    c.refs = refs;
    c.cache = cache;
    c.root_loc = location;
    c.err = err;
    if (dialect != KUMO__DIALECT_OAS30 && dialect != KUMO__DIALECT_2020_12) {
        kumo__error_set(err, -EINVAL, "unknown schema dialect %d", (int)dialect);
        goto out;
    }
    if (opts)
        c.opts = *opts;
    if (c.opts.formats != KUMO__FORMATS_ASSERT && c.opts.formats != KUMO__FORMATS_ANNOTATE) {
        kumo__error_set(err, -EINVAL, "unknown format mode %d; use assert or annotate", (int)c.opts.formats);
        goto out;
    }
    const resource *root = add_resource(&c, DEFAULT_BASE, schema, location, 1);
    if (root == NULL)
        goto out;
    if (dialect == KUMO__DIALECT_2020_12 && scan(&c, schema, DEFAULT_BASE, location, 0) < 0)
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
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->ndeps; i++)
        kumo__schema_free(s->deps[i]);
    free(s->deps);
    for (size_t i = 0; i < s->ncodes; i++)
        pcre2_code_free(s->codes[i]);
    free(s->codes);
    free(s->res);
    free(s->anchors);
    while (s->arena) {
        chunk *next = s->arena->next;
        free(s->arena);
        s->arena = next;
    }
    free(s);
}
