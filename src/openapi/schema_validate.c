/*
 * schema_validate.c: the validator half of schema.h: walks the compiled
 * form (schema_internal.h, built by schema.c) against an instance.
 *
 * It only reads the compiled form, so any number of threads may validate
 * with one schema at once. It allocates only to record violations, for
 * unevaluated* bookkeeping past 256 properties or items, one PCRE2 match
 * block per call (when a pattern runs), and a string per property name
 * under propertyNames. Annotations for unevaluatedProperties/Items are
 * bitsets over the instance's members, passed down to in-place
 * applicators and merged only from subschemas that passed. The instance
 * pointer is kept as a stack of segments and rendered only when a
 * violation is recorded. Depth (KUMO__SCHEMA_MAX_DEPTH) and work
 * (STEP_LIMIT) are bounded: a $ref loop that consumes no input, or an
 * exploding oneOf, ends in one violation, never a crash or a hang.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi/pointer.h"
#include "openapi/schema_internal.h"
#include "openapi/schema_regex.h"

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
    int abort; /* 1: too deep, 2: too many steps; everything fails from here */
    unsigned long steps;
    const snode *abort_at;
    const scope *dyn;
    pcre2_match_data *md;
    size_t npath; /* the instance pointer, rendered only for a violation */
    /* Not zeroed per call (kumo__schema_validate): new fields go above. */
    char abort_ip[512];
    struct seg {
        const char *key; /* NULL: an array index */
        size_t index;
    } path[KUMO__SCHEMA_MAX_DEPTH + 8];
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
    if (o == NULL || x->full || x->abort) /* after giving up, summaries would mislead */
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
    } names[] = {{T_OBJECT, "an object"}, {T_ARRAY, "an array"},    {T_STRING, "a string"}, {T_INTEGER, "an integer"},
                 {T_NUMBER, "a number"},  {T_BOOLEAN, "a boolean"}, {T_NULL, "null"}};
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

/* -1, 0, 1: the integer i compared with the double d, exactly (converting
 * i to a double would make 2^53 + 1 equal to 2^53). */
static int int_cmp_double(json_int_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double f = floor(d);
    json_int_t fi = (json_int_t)f; /* exact: f is integral and in range */
    if (i != fi)
        return i < fi ? -1 : 1;
    return d > f ? -1 : 0;
}

/* -1, 0, 1: the JSON numbers a and b compared exactly. */
static int json_num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    if (json_is_integer(a))
        return int_cmp_double(json_integer_value(a), json_real_value(b));
    if (json_is_integer(b))
        return -int_cmp_double(json_integer_value(b), json_real_value(a));
    double x = json_real_value(a), y = json_real_value(b);
    return x < y ? -1 : x > y;
}

/* -1, 0, 1: v compared with the limit. */
static int num_cmp(const json_t *v, const num *lim)
{
    if (json_is_integer(v) && lim->is_int) {
        json_int_t i = json_integer_value(v);
        return i < lim->i ? -1 : i > lim->i;
    }
    if (json_is_integer(v))
        return int_cmp_double(json_integer_value(v), lim->d);
    double d = json_number_value(v);
    if (lim->is_int)
        return -int_cmp_double(lim->i, d);
    return d < lim->d ? -1 : d > lim->d;
}

/* A number as digits x 10^exp, digits without trailing zeros: a double
 * becomes the shortest decimal that reads back as the same double, which
 * is what the document said for any number written with at most 15
 * significant digits. */
typedef struct decimal {
    uint64_t digits;
    int exp;
} decimal;

static void decimal_strip(decimal *x)
{
    while (x->digits != 0 && x->digits % 10 == 0) {
        x->digits /= 10;
        x->exp++;
    }
}

static void decimal_of_double(double d, decimal *x)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    char buf[40];
    d = fabs(d);
    /* Fast path: the fewest decimals p such that n / 10^p reads back as d.
     * n < 10^15 and 10^p are exact doubles and IEEE division rounds
     * correctly, so n / 10^p is exactly what strtod gives for "n e-p". */
    for (int p = 0; p <= 22 && d * pow10[p] < 1e15; p++) {
        double n = nearbyint(d * pow10[p]);
        if (n / pow10[p] == d) {
            x->digits = (uint64_t)n;
            x->exp = -p;
            decimal_strip(x);
            return;
        }
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d || prec == 17)
            break;
    }
    /* "D.DDDDe[+-]XX" */
    uint64_t digits = 0;
    int frac = 0, seen_point = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') {
            seen_point = 1;
            continue;
        }
        digits = digits * 10 + (uint64_t)(*p - '0');
        frac += seen_point;
    }
    x->digits = digits;
    x->exp = (*p == 'e' ? atoi(p + 1) : 0) - frac;
    decimal_strip(x);
}

static void decimal_of(const json_t *v, decimal *x)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        x->digits = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        x->exp = 0;
        decimal_strip(x);
    } else {
        decimal_of_double(json_real_value(v), x);
    }
}

/* Whether v is an integer multiple of m, in decimal arithmetic: 19.99 is
 * a multiple of 0.01, 0.010000000001 is not (no floating-point fmod, no
 * tolerance). */
static int is_multiple(const json_t *v, const num *m, const json_t *mv)
{
    if (json_is_integer(v) && m->is_int && json_is_integer(mv))
        return m->i == 0 || json_integer_value(v) % m->i == 0;
    decimal x, y;
    decimal_of(v, &x);
    decimal_of(mv, &y);
    if (x.digits == 0)
        return 1;
    if (y.digits == 0)
        return 0;
    /* x / y = (x.digits / y.digits) * 10^k */
    long k = (long)x.exp - y.exp;
    if (k < 0) {
        /* y.digits * 10^-k must divide x.digits (< 2^64) */
        if (k <= -20)
            return 0;
        unsigned __int128 d = y.digits;
        for (long i = 0; i < -k; i++)
            d *= 10;
        return (unsigned __int128)x.digits % d == 0;
    }
    /* x.digits * 10^k mod y.digits, by repeated squaring */
    unsigned __int128 r = x.digits % y.digits, base = 10 % y.digits;
    for (unsigned long e = (unsigned long)k; e; e >>= 1) {
        if (e & 1)
            r = r * base % y.digits;
        base = base * base % y.digits;
    }
    return r == 0;
}

/* JSON equality with 1 == 1.0. */
static int json_same(const json_t *a, const json_t *b, int depth)
{
    if (json_is_number(a) && json_is_number(b))
        return json_num_cmp(a, b) == 0;
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
        json_object_foreach((json_t *)a, k, va)
        {
            const json_t *vb = json_object_get(b, k);
            if (vb == NULL || !json_same(va, vb, depth + 1))
                return 0;
        }
        return 1;
    }
    default: return 1; /* null, true, false: same type */
    }
}

/* 1 match, 0 no match, -1 could not tell (match limit, memory). */
static int re_match(vctx *x, const pcre2_code *re, const char *s, size_t len)
{
    if (x->md == NULL && (x->md = pcre2_match_data_create(1, NULL)) == NULL) {
        x->oom = 1;
        return -1;
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, x->md, kumo__regex_match_context());
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
    const sprop *p = n->nprops ? bsearch(&key, n->props, n->nprops, sizeof(sprop), kumo__schema_cmp_prop) : NULL;
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

#define FAILED()                                                                                                       \
    do {                                                                                                               \
        bad = 1;                                                                                                       \
        if (x->stop || x->full || x->oom || x->abort)                                                                  \
            goto out;                                                                                                  \
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
    if ((n->flags & N_MULTIPLE) && !is_multiple(v, &n->multiple, n->multiple_of)) {
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
        report(x, n, x->s->dialect == KUMO__DIALECT_2020_12 ? "exclusiveMaximum" : "maximum",
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
        report(x, n, x->s->dialect == KUMO__DIALECT_2020_12 ? "exclusiveMinimum" : "minimum",
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
        if (x->dir == KUMO__DIR_REQUEST && prop_flag(n, name, N_READONLY, 0))
            continue;
        if (x->dir == KUMO__DIR_RESPONSE && prop_flag(n, name, N_WRITEONLY, 0))
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
    json_object_foreach((json_t *)v, key, val)
    {
        size_t i = idx++, before;
        int matched = 0;
        if (n->prop_names && check_property_name(n, key, x))
            FAILED();
        if (n->nprops) {
            sprop k = {key, NULL, strlen(key)};
            const sprop *p = bsearch(&k, n->props, n->nprops, sizeof(sprop), kumo__schema_cmp_prop);
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
        report(x, n, "minItems", "must have at least %lld item%s (has %zu)", n->min_items, n->min_items == 1 ? "" : "s",
               size);
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
            report(x, n, "contains", "must contain at least %lld item%s matching 'contains' (has %zu)", n->min_contains,
                   n->min_contains == 1 ? "" : "s", matches);
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
    const sprop *p = bsearch(&key, n->disc, n->ndisc, sizeof(sprop), kumo__schema_cmp_prop);
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
                report(x, n, "anyOf", "must match at least one of the %zu schemas in anyOf, but matches none", n->nany);
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
                report(x, n, "oneOf", "must match exactly one of the %zu schemas in oneOf, but matches none", n->none);
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
        json_object_foreach((json_t *)v, key, val)
        {
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
    if (x->abort)
        return 1;
    if (n->flags & N_FALSE)
        return report(x, n, NULL, "no value is allowed here (the schema is false)");
    if (n->flags & N_TRUE)
        return 0;
    if (x->depth >= KUMO__SCHEMA_MAX_DEPTH || ++x->steps > STEP_LIMIT) {
        /* reported once, by kumo__schema_validate, whatever mode we are in */
        x->abort = x->depth >= KUMO__SCHEMA_MAX_DEPTH ? 1 : 2;
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
    if ((n->flags & N_READONLY) && x->dir == KUMO__DIR_REQUEST) {
        report(x, n, "readOnly", "is read-only and must not be sent in a request");
        FAILED();
    }
    if ((n->flags & N_WRITEONLY) && x->dir == KUMO__DIR_RESPONSE) {
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
    /* Zeroed up to abort_ip only: the instance path (8 KB) and abort_ip
     * are written before they are read, and clearing them on every call
     * cost more than a small instance's whole validation. */
    vctx x;
    memset(&x, 0, offsetof(vctx, abort_ip));
    x.s = s;
    x.out = out;
    x.dir = dir;
    int bad = validate(s->root, instance, &x, NULL);
    if (x.abort) /* a verdict reached after giving up is not one */
        bad = 1;
    int gave_up = x.abort;
    x.abort = 0;
    if (gave_up && out) {
        x.full = 0;
        size_t had = out->count;
        x.npath = 0;
        if (gave_up == 1)
            report(&x, x.abort_at, NULL,
                   "schema recursion too deep (over %d nested schemas); the schema may loop "
                   "through $ref without consuming input",
                   KUMO__SCHEMA_MAX_DEPTH);
        else
            report(&x, x.abort_at, NULL,
                   "validation gave up after %d schema evaluations; the schema is too costly "
                   "for this value (oneOf/anyOf nested through $ref?)",
                   STEP_LIMIT);
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
