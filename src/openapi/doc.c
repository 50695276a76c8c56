/*
 * doc.c: YAML or JSON text -> jansson tree, remembering where every node
 * (and every mapping key) starts, so that later layers can say
 * "openapi.yaml:42:7: ...". YAML is read by libyaml's event loop, JSON by
 * a strict reader of its own (libyaml refuses valid JSON such as escaped
 * surrogate pairs) that feeds the same event handlers. Plain scalars
 * resolve by the YAML 1.2 core schema; quoted and block scalars are
 * strings. Aliases share the anchored node (json_incref), with ceilings on
 * how far they may expand the tree, in nodes and in bytes.
 *
 * Positions live in a side table keyed by address: a json_t for nodes, the
 * key string jansson stores for keys. null, true and false are jansson
 * singletons, so they have no position; callers use the key's instead.
 */
#include "openapi/openapi.h"
#include "base/growbuf.h"
#include "base/heap.h"
#include "openapi/yaml_lazy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define DOC_MAX_BYTES (64u << 20)
#define DOC_MAX_DEPTH 256
#define DOC_MAX_ALIASES 10000
#define DOC_MAX_EXPANDED (1u << 22) /* nodes the tree would have with aliases unshared */
/* Bytes aliases may add: each alias counts the text its anchored node
 * would take written out (scalars, keys and separators, about its JSON
 * size). Real documents use aliases for small shared parts; the largest
 * public API descriptions are a few MB in all. */
#define DOC_MAX_ALIAS_BYTES (16u << 20)
#if JSON_INTEGER_IS_LONG_LONG
#define JSON_INT_MAX LLONG_MAX
#else
#define JSON_INT_MAX LONG_MAX
#endif

typedef struct pos_entry {
    const void *key;
    int line, col;
} pos_entry;

struct kumo__doc {
    char *path;
    json_t *root;
    /* Appended in the order the reader meets nodes and keys (one sequential
     * write each, no hashing: a hash table over a few hundred thousand
     * addresses was a cache miss per node, the largest cost of a load), then
     * sorted by address once the tree is whole (pos_seal) and searched by
     * halves. */
    pos_entry *pos;
    size_t npos, cap;
    int sealed;
};

/* ---- the position table --------------------------------------------------- */

/* Room for about one entry per 8 bytes of text (a node or key takes more,
 * "a: 1" is 3 entries in 5 bytes at the least, so the table may still grow);
 * malloc'd, not zeroed, so what is never used is never touched. */
static int pos_reserve(kumo__doc *d, size_t text_len)
{
    size_t cap = text_len / 8 + 64;
    d->pos = malloc(cap * sizeof *d->pos);
    if (d->pos == NULL)
        return -ENOMEM;
    d->cap = cap;
    return 0;
}

/* Records where `key` starts. A key is met once on a successful load
 * (nodes are freed only on errors, so no address comes back); while
 * loading, a look-up finds the first entry for it. */
static int pos_put(kumo__doc *d, const void *key, int line, int col)
{
    if (d->npos == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        pos_entry *t = realloc(d->pos, cap * sizeof *t);
        if (t == NULL)
            return -ENOMEM;
        d->pos = t;
        d->cap = cap;
    }
    d->pos[d->npos++] = (pos_entry){key, line, col};
    return 0;
}

static unsigned pos_digit(const pos_entry *e, uintptr_t lo, unsigned shift)
{
    return (unsigned)(((uintptr_t)e->key - lo) >> shift & 0xff);
}

/* Sorts a[0..n) by address in place (no second table to fault in): a
 * radix sort from the highest byte in which the addresses differ down, 8
 * bits a level, short runs by insertion. */
static void pos_sort(pos_entry *a, size_t n, uintptr_t lo, unsigned shift)
{
    if (n < 32) {
        for (size_t i = 1; i < n; i++) {
            pos_entry e = a[i];
            size_t j = i;
            for (; j > 0 && (uintptr_t)a[j - 1].key > (uintptr_t)e.key; j--)
                a[j] = a[j - 1];
            a[j] = e;
        }
        return;
    }
    size_t count[256] = {0}, next[256], end[256];
    for (size_t i = 0; i < n; i++)
        count[pos_digit(&a[i], lo, shift)]++;
    for (size_t b = 0, at = 0; b < 256; b++) {
        next[b] = at;
        at += count[b];
        end[b] = at;
    }
    for (unsigned b = 0; b < 256; b++) {
        while (next[b] < end[b]) { /* carry the entry at next[b] to its bucket, and the one there on */
            pos_entry e = a[next[b]];
            unsigned d = pos_digit(&e, lo, shift);
            while (d != b) {
                pos_entry t = a[next[d]];
                a[next[d]++] = e;
                e = t;
                d = pos_digit(&e, lo, shift);
            }
            a[next[b]++] = e;
        }
    }
    if (shift == 0)
        return;
    for (size_t b = 0, at = 0; b < 256; at += count[b], b++)
        if (count[b] > 1)
            pos_sort(a + at, count[b], lo, shift - 8);
}

/* Sorts the table by address for pos_get and drops a key met twice (which
 * a successful load does not have: nodes are freed only on errors). */
static void pos_seal(kumo__doc *d)
{
    size_t n = d->npos;
    if (n > 1) {
        uintptr_t lo = UINTPTR_MAX, hi = 0;
        for (size_t i = 0; i < n; i++) {
            uintptr_t k = (uintptr_t)d->pos[i].key;
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
        }
        unsigned shift = 0;
        while (shift + 8 < sizeof(uintptr_t) * 8 && ((hi - lo) >> (shift + 8)) != 0)
            shift += 8;
        pos_sort(d->pos, n, lo, shift);
        size_t w = 1;
        for (size_t i = 1; i < n; i++)
            if (d->pos[i].key != d->pos[w - 1].key)
                d->pos[w++] = d->pos[i];
        d->npos = w;
    }
    d->sealed = 1;
}

static int pos_get(const kumo__doc *d, const void *key, int *line, int *col)
{
    if (d == NULL || key == NULL || d->npos == 0)
        return 0;
    const pos_entry *hit = NULL;
    if (d->sealed) {
        size_t a = 0, b = d->npos;
        while (a < b) {
            size_t m = a + (b - a) / 2;
            if ((uintptr_t)d->pos[m].key < (uintptr_t)key)
                a = m + 1;
            else
                b = m;
        }
        if (a < d->npos && d->pos[a].key == key)
            hit = &d->pos[a];
    } else { /* while loading (a duplicate key's message): in order, first wins */
        for (size_t i = 0; i < d->npos && hit == NULL; i++)
            if (d->pos[i].key == key)
                hit = &d->pos[i];
    }
    if (hit == NULL)
        return 0;
    *line = hit->line;
    *col = hit->col;
    return 1;
}

/* ---- scalars: the YAML 1.2 core schema ---------------------------------- */

static int is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return 1;
    return 0;
}

/* Digits of `base` only, at least one; the value, or -1 when it overflows
 * json_int_t (then *real holds it). */
static int parse_digits(const char *s, int base, json_int_t *out, double *real)
{
    if (*s == '\0')
        return 0;
    json_int_t v = 0;
    double r = 0;
    int overflow = 0;
    for (; *s; s++) {
        int dgt;
        if (*s >= '0' && *s <= '9')
            dgt = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            dgt = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            dgt = *s - 'A' + 10;
        else
            return 0;
        if (dgt >= base)
            return 0;
        r = r * base + dgt;
        if (!overflow && (v > (JSON_INT_MAX - dgt) / base))
            overflow = 1;
        if (!overflow)
            v = v * base + dgt;
    }
    *out = v;
    *real = r;
    return overflow ? -1 : 1;
}

static int is_float(const char *s)
{
    /* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    if (*s == '-' || *s == '+')
        s++;
    size_t ip = strspn(s, "0123456789");
    s += ip;
    size_t fp = 0;
    if (*s == '.') {
        s++;
        fp = strspn(s, "0123456789");
        s += fp;
    }
    if (ip == 0 && fp == 0)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        size_t ep = strspn(s, "0123456789");
        if (ep == 0)
            return 0;
        s += ep;
    }
    return *s == '\0';
}

/* A plain scalar's node; NULL with *what set when it cannot be one. */
static json_t *resolve_plain(const char *s, size_t len, const char **what)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const specials[] = {".inf",  ".Inf",  ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
                                           "-.Inf", "-.INF", ".nan", ".NaN",  ".NAN",  NULL};

    *what = NULL;
    if (strlen(s) != len) /* a NUL inside: not a number, keep the bytes */
        return json_stringn_nocheck(s, len);
    /* what the core schema resolves starts with one of these (most plain
     * scalars of a document, words and sentences, do not) */
    if (len > 0 && strchr("~nNtTfF.+-0123456789", s[0]) == NULL)
        return json_stringn_nocheck(s, len);
    if (is_one_of(s, nulls))
        return json_null();
    if (is_one_of(s, trues))
        return json_true();
    if (is_one_of(s, falses))
        return json_false();
    if (is_one_of(s, specials)) {
        *what = "infinity and NaN cannot be held in JSON; quote the value if a string is meant";
        return NULL;
    }
    json_int_t iv;
    double rv;
    int r = 0;
    int neg = 0;
    if (s[0] == '0' && s[1] == 'x')
        r = parse_digits(s + 2, 16, &iv, &rv);
    else if (s[0] == '0' && s[1] == 'o')
        r = parse_digits(s + 2, 8, &iv, &rv);
    else {
        const char *d = s;
        if (*d == '-' || *d == '+')
            neg = *d++ == '-';
        r = parse_digits(d, 10, &iv, &rv);
    }
    if (r == 1)
        return json_integer(neg ? -iv : iv);
    if (r == -1 && s[0] != '0') { /* past 64 bits: the nearest double, as strtod rounds */
        double v = strtod(s, NULL);
        if (!isfinite(v)) {
            *what = "number is out of range";
            return NULL;
        }
        return json_real(v);
    }
    if (r == -1)
        return json_real(neg ? -rv : rv);
    if (is_float(s)) {
        double v = strtod(s, NULL);
        if (!isfinite(v)) {
            *what = "number is out of range";
            return NULL;
        }
        return json_real(v);
    }
    return json_stringn_nocheck(s, len);
}

/* ---- the event loop -------------------------------------------------------- */

typedef struct frame {
    json_t *node;
    int has_key; /* a mapping's key is pending: keys[depth] holds it */
    size_t key_len;
    int key_line, key_col;
    void *last;    /* a mapping's last pair (its iterator): the next one follows it */
    char *anchor;  /* the container's anchor, owned */
    size_t weight; /* nodes in the subtree with aliases expanded */
    size_t bytes;  /* its text with aliases expanded (about its JSON size) */
} frame;

typedef struct anchor {
    char *name;
    json_t *node; /* borrowed: the tree holds it */
    size_t weight, bytes;
} anchor;

typedef struct builder {
    kumo__doc *doc;
    kumo__error *err;
    int depth;
    int reached; /* the deepest depth so far: keys[] and keys_cap[] are set below it */
    anchor *anchors;
    size_t nanchors, anchors_cap;
    size_t aliases, expanded;
    size_t alias_bytes; /* what aliases added, in text bytes */
    /* Last, and not zeroed (BUILDER_ZEROED): 20 KB that a document of a
     * few levels would otherwise touch whole, page faults on a cold start. */
    frame stack[DOC_MAX_DEPTH];
    /* pending keys, a buffer per depth kept for the whole load (no copy of
     * each key made and freed) */
    char *keys[DOC_MAX_DEPTH];
    size_t keys_cap[DOC_MAX_DEPTH];
} builder;
#define BUILDER_ZEROED offsetof(builder, stack)

static int fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    kumo__error_set(b->err, -EINVAL, "%s:%zu:%zu: %s", b->doc->path, mark.line + 1, mark.column + 1, what);
    return -EINVAL;
}

static int oom(builder *b)
{
    kumo__error_set(b->err, -ENOMEM, "%s: out of memory", b->doc->path);
    return -ENOMEM;
}

static int add_anchor(builder *b, const char *name, json_t *node, size_t weight, size_t bytes)
{
    if (b->nanchors == b->anchors_cap) {
        size_t cap = b->anchors_cap ? b->anchors_cap * 2 : 16;
        anchor *a = realloc(b->anchors, cap * sizeof *a);
        if (a == NULL)
            return oom(b);
        b->anchors = a;
        b->anchors_cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return oom(b);
    b->anchors[b->nanchors++] = (anchor){copy, node, weight, bytes};
    return 0;
}

/* Hangs `node` (a new reference, consumed) under the current container;
 * `weight` and `bytes` are its size with aliases expanded. */
static int attach(builder *b, json_t *node, size_t weight, size_t bytes)
{
    if (b->depth == 0) {
        b->doc->root = node;
        return 0;
    }
    frame *top = &b->stack[b->depth - 1];
    top->weight += weight;
    top->bytes += bytes + 2; /* ", " */
    if (json_is_array(top->node)) {
        if (json_array_append_new(top->node, node) < 0)
            return oom(b);
        return 0;
    }
    const char *key = b->keys[b->depth - 1];
    top->bytes += top->key_len + 4; /* "key": */
    top->has_key = 0;
    /* the key is valid UTF-8 (see on_scalar) and not in the object yet
     * (take_key): jansson need not check either */
    if (json_object_setn_new_nocheck(top->node, key, top->key_len, node) < 0)
        return oom(b);
    /* The pair jansson stores (and its copy of the key, whose address is
     * the key's position): objects keep insertion order, so it follows the
     * last one; looked up by the key only should that ever not hold. */
    void *it = top->last ? json_object_iter_next(top->node, top->last) : json_object_iter(top->node);
    if (it == NULL || json_object_iter_value(it) != node || strcmp(json_object_iter_key(it), key) != 0)
        it = json_object_iter_at(top->node, key);
    top->last = it;
    if (it == NULL || pos_put(b->doc, json_object_iter_key(it), top->key_line, top->key_col) < 0)
        return oom(b);
    return 0;
}

/* Takes a scalar as the pending key of the mapping on top. */
static int take_key(builder *b, const yaml_event_t *ev)
{
    frame *top = &b->stack[b->depth - 1];
    const char *k = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (strlen(k) != len)
        return fail_at(b, ev->start_mark, "mapping key contains a NUL character");
    if (json_object_getn(top->node, k, len)) {
        int line = 0, col = 0;
        kumo__doc_key_pos(b->doc, top->node, k, &line, &col);
        return fail_at(b, ev->start_mark, "duplicate key '%s' (first at line %d, column %d); remove one", k, line, col);
    }
    int d = b->depth - 1;
    if (len + 1 > b->keys_cap[d]) {
        size_t cap = len + 1 > 64 ? len + 1 : 64;
        char *buf = realloc(b->keys[d], cap);
        if (buf == NULL)
            return oom(b);
        b->keys[d] = buf;
        b->keys_cap[d] = cap;
    }
    memcpy(b->keys[d], k, len + 1);
    top->key_len = len;
    top->has_key = 1;
    top->key_line = (int)ev->start_mark.line + 1;
    top->key_col = (int)ev->start_mark.column + 1;
    return 0;
}

static int awaiting_key(const builder *b)
{
    return b->depth > 0 && json_is_object(b->stack[b->depth - 1].node) && !b->stack[b->depth - 1].has_key;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
    if (awaiting_key(b))
        return take_key(b, ev);
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    int as_string = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                    (tag && (strcmp(tag, "!") == 0 || strcmp(tag, YAML_STR_TAG) == 0));
    const char *what = NULL;
    json_t *node = as_string ? json_stringn_nocheck(s, len) : resolve_plain(s, len, &what);
    /* libyaml and the JSON reader hand over valid UTF-8 only (they refuse
     * bad bytes, overlong forms and lone surrogates), so jansson failing is
     * memory */
    if (node == NULL)
        return what ? fail_at(b, ev->start_mark, "%s", what) : oom(b);
    if (++b->expanded > DOC_MAX_EXPANDED) {
        json_decref(node);
        return fail_at(b, ev->start_mark, "document has more than %u nodes", DOC_MAX_EXPANDED);
    }
    int shared = json_is_null(node) || json_is_boolean(node); /* singletons: no position */
    if (!shared && pos_put(b->doc, node, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1) < 0) {
        json_decref(node);
        return oom(b);
    }
    size_t bytes = len + 2;
    if (ev->data.scalar.anchor && add_anchor(b, (const char *)ev->data.scalar.anchor, node, 1, bytes) < 0) {
        json_decref(node);
        return -ENOMEM;
    }
    return attach(b, node, 1, bytes);
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    if (awaiting_key(b))
        return fail_at(b, ev->start_mark, "alias *%s as a mapping key is not supported; write the key out", name);
    const anchor *a = NULL;
    for (size_t i = b->nanchors; i-- > 0;)
        if (strcmp(b->anchors[i].name, name) == 0) {
            a = &b->anchors[i];
            break;
        }
    if (a == NULL)
        return fail_at(b, ev->start_mark, "alias *%s names no anchor defined before it (or one that encloses it)",
                       name);
    if (++b->aliases > DOC_MAX_ALIASES)
        return fail_at(b, ev->start_mark, "more than %d aliases; refusing to expand the document", DOC_MAX_ALIASES);
    if (a->weight > DOC_MAX_EXPANDED - b->expanded)
        return fail_at(b, ev->start_mark, "aliases expand the document past %u nodes; refusing (alias bomb?)",
                       DOC_MAX_EXPANDED);
    if (a->bytes > DOC_MAX_ALIAS_BYTES - b->alias_bytes)
        return fail_at(b, ev->start_mark,
                       "alias *%s repeats %zu bytes, and the aliases before it %zu; aliases may add at most 16 MiB to "
                       "a document (an alias bomb?); write a large shared part once and $ref it",
                       name, a->bytes, b->alias_bytes);
    b->expanded += a->weight;
    b->alias_bytes += a->bytes;
    return attach(b, json_incref(a->node), a->weight, a->bytes);
}

static int on_start(builder *b, const yaml_event_t *ev)
{
    if (awaiting_key(b))
        return fail_at(b, ev->start_mark, "mapping keys must be scalars");
    if (b->depth == DOC_MAX_DEPTH)
        return fail_at(b, ev->start_mark, "nesting deeper than %d levels", DOC_MAX_DEPTH);
    if (++b->expanded > DOC_MAX_EXPANDED)
        return fail_at(b, ev->start_mark, "document has more than %u nodes", DOC_MAX_EXPANDED);
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    const yaml_char_t *anc = is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    json_t *node = is_map ? json_object() : json_array();
    if (node == NULL)
        return oom(b);
    frame *f = &b->stack[b->depth++];
    *f = (frame){.node = node, .weight = 1, .bytes = 2};
    if (b->depth > b->reached) {
        b->keys[b->depth - 1] = NULL;
        b->keys_cap[b->depth - 1] = 0;
        b->reached = b->depth;
    }
    if (anc && (f->anchor = strdup((const char *)anc)) == NULL)
        return oom(b);
    if (pos_put(b->doc, node, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1) < 0)
        return oom(b);
    return 0;
}

static int on_end(builder *b)
{
    frame f = b->stack[--b->depth];
    int rc = 0;
    if (f.anchor)
        rc = add_anchor(b, f.anchor, f.node, f.weight, f.bytes);
    free(f.anchor);
    if (rc < 0) {
        json_decref(f.node);
        return rc;
    }
    return attach(b, f.node, f.weight, f.bytes);
}

static int syntax_error(builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->error == YAML_MEMORY_ERROR)
        return oom(b);
    if (p->error == YAML_READER_ERROR) {
        kumo__error_set(b->err, -EINVAL, "%s: %s at byte %zu; the file must be UTF-8 (or UTF-16) text", b->doc->path,
                        problem, p->problem_offset);
        return -EINVAL;
    }
    if (p->context)
        return fail_at(b, p->problem_mark, "%s %s (line %zu, column %zu)", problem, p->context,
                       p->context_mark.line + 1, p->context_mark.column + 1);
    return fail_at(b, p->problem_mark, "%s", problem);
}

/* ---- JSON: a reader of its own ------------------------------------------- */

/*
 * JSON is YAML flow syntax in principle, but libyaml refuses valid JSON:
 * a character outside the BMP escaped as a surrogate pair ("\ud83d\udc4d";
 * YAML escapes name code points), a key longer than 1024 characters. So a
 * JSON text is read by this strict RFC 8259 reader, which hands the same
 * events to on_scalar, on_start and on_end as libyaml's loop does: the tree,
 * the positions, duplicate keys, the depth and node ceilings and number
 * resolution are one code. Positions count as libyaml counts them: 0-based
 * marks, columns in characters.
 */
typedef struct jreader {
    builder *b;
    const unsigned char *start, *p, *end;
    size_t line, col;
    kumo__growbuf str; /* a decoded string, NUL-terminated; never longer than the text */
} jreader;

static yaml_mark_t jmark(const jreader *r)
{
    yaml_mark_t m = {.index = (size_t)(r->p - r->start), .line = r->line, .column = r->col};
    return m;
}

/* One byte on; a line break is LF, CR LF or CR. */
static void jadv(jreader *r)
{
    unsigned char c = *r->p++;
    if (c == '\n' || (c == '\r' && (r->p == r->end || *r->p != '\n'))) {
        r->line++;
        r->col = 0;
    } else if (c != '\r' && (c & 0xc0) != 0x80) {
        r->col++;
    }
}

static void jskip_ws(jreader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        jadv(r);
}

static int jput(jreader *r, const void *bytes, size_t n)
{
    return kumo__growbuf_add(&r->str, bytes, n) == 0 ? 0 : oom(r->b);
}

static int jput_code_point(jreader *r, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return jput(r, u, n);
}

/* The length of the well-formed UTF-8 sequence at p (no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || p[0] > 0xf4 || (size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return n;
}

/* Four hex digits after "\u"; -1 when they are not there. */
static int jhex4(jreader *r, uint32_t *out)
{
    uint32_t v = 0;
    if (r->end - r->p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = r->p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    for (int i = 0; i < 4; i++)
        jadv(r);
    *out = v;
    return 0;
}

/* The escape after a backslash (at `em`), decoded into r->str. */
static int jescape(jreader *r, yaml_mark_t em)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    unsigned char c = *r->p;
    const char *at = c ? strchr(from, c) : NULL;
    if (at) {
        jadv(r);
        return jput(r, &to[at - from], 1);
    }
    if (c != 'u')
        return fail_at(r->b, em, "invalid escape in a string; JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX");
    jadv(r);
    uint32_t cp, lo;
    if (jhex4(r, &cp) < 0)
        return fail_at(r->b, em, "\\u must be followed by four hex digits");
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail_at(r->b, em, "lone surrogate \\u%04X: a low surrogate must follow a high one (\\uD800 to \\uDBFF)",
                       (unsigned)cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
            return fail_at(r->b, em,
                           "lone surrogate \\u%04X: a high surrogate must be followed by a low one (\\uDC00 to "
                           "\\uDFFF)",
                           (unsigned)cp);
        jadv(r);
        jadv(r);
        if (jhex4(r, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return fail_at(r->b, em,
                           "lone surrogate \\u%04X: a high surrogate must be followed by a low one (\\uDC00 to "
                           "\\uDFFF)",
                           (unsigned)cp);
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    return jput_code_point(r, cp);
}

/* A string at r->p (its opening quote), decoded into r->str; *m its start. */
static int jstring(jreader *r, yaml_mark_t *m)
{
    *m = jmark(r);
    jadv(r);
    r->str.len = 0;
    int rc = jput(r, "", 0);
    while (rc == 0) {
        if (r->p == r->end)
            return fail_at(r->b, *m, "the string that starts here never ends; close it with \"");
        unsigned char c = *r->p;
        if (c == '"') {
            jadv(r);
            return 0;
        }
        if (c < 0x20)
            return fail_at(r->b, jmark(r), "a control character (U+%04X) in a string; write it as \\u%04X", c, c);
        if (c == '\\') {
            yaml_mark_t em = jmark(r);
            jadv(r);
            if (r->p == r->end)
                continue;
            rc = jescape(r, em);
            continue;
        }
        if (c < 0x80) { /* a run of plain ASCII, taken at once: no line breaks in it */
            const unsigned char *q = r->p + 1;
            while (q < r->end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
                q++;
            rc = jput(r, r->p, (size_t)(q - r->p));
            r->col += (size_t)(q - r->p);
            r->p = q;
            continue;
        }
        size_t n = utf8_seq(r->p, r->end);
        if (n == 0)
            return fail_at(r->b, jmark(r), "invalid UTF-8 in a string; the file must be UTF-8 text");
        rc = jput(r, r->p, n);
        r->p += n;
        r->col++; /* one character */
    }
    return rc;
}

static int jscalar(jreader *r, yaml_mark_t m, int quoted)
{
    yaml_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = YAML_SCALAR_EVENT;
    ev.start_mark = m;
    ev.data.scalar.value = (yaml_char_t *)r->str.data;
    ev.data.scalar.length = r->str.len;
    ev.data.scalar.style = quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE;
    return on_scalar(r->b, &ev);
}

static int jdigits(jreader *r)
{
    if (r->p == r->end || *r->p < '0' || *r->p > '9')
        return -1;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        jadv(r);
    return 0;
}

/* A number or true, false, null: the YAML core schema resolves them as
 * JSON means them (integers past 64 bits become doubles). */
static int jplain(jreader *r)
{
    yaml_mark_t m = jmark(r);
    const unsigned char *s = r->p;
    int bad = 0;
    if (*s == '-' || (*s >= '0' && *s <= '9')) {
        if (*r->p == '-')
            jadv(r);
        if (r->p < r->end && *r->p == '0')
            jadv(r);
        else
            bad |= jdigits(r);
        if (!bad && r->p < r->end && *r->p == '.') {
            jadv(r);
            bad |= jdigits(r);
        }
        if (!bad && r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
            jadv(r);
            if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
                jadv(r);
            bad |= jdigits(r);
        }
    } else {
        while (r->p < r->end && *r->p >= 'a' && *r->p <= 'z')
            jadv(r);
        size_t n = (size_t)(r->p - s);
        bad = !((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
                (n == 4 && memcmp(s, "null", 4) == 0));
    }
    if (bad || (r->p < r->end && (isalnum(*r->p) || *r->p == '.' || *r->p == '_')))
        return fail_at(r->b, m, "expected a JSON value (an object, array, string, number, true, false or null)");
    r->str.len = 0;
    int rc = jput(r, s, (size_t)(r->p - s));
    return rc < 0 ? rc : jscalar(r, m, 0);
}

static int jvalue(jreader *r);

/* An object or array at r->p; `close` is '}' or ']'. */
static int jcontainer(jreader *r, char close)
{
    yaml_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = close == '}' ? YAML_MAPPING_START_EVENT : YAML_SEQUENCE_START_EVENT;
    ev.start_mark = jmark(r);
    int rc = on_start(r->b, &ev);
    if (rc < 0)
        return rc;
    jadv(r);
    jskip_ws(r);
    if (r->p < r->end && *r->p == close) {
        jadv(r);
        return on_end(r->b);
    }
    for (;;) {
        jskip_ws(r);
        if (close == '}') {
            yaml_mark_t km;
            if (r->p == r->end || *r->p != '"')
                return fail_at(r->b, jmark(r), "expected a key in double quotes");
            if ((rc = jstring(r, &km)) < 0 || (rc = jscalar(r, km, 1)) < 0)
                return rc;
            jskip_ws(r);
            if (r->p == r->end || *r->p != ':')
                return fail_at(r->b, jmark(r), "expected ':' after the key");
            jadv(r);
        }
        if ((rc = jvalue(r)) < 0)
            return rc;
        jskip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            jadv(r);
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            jadv(r);
            return on_end(r->b);
        }
        return fail_at(r->b, jmark(r), "expected ',' or '%c' (the %s starts at line %zu, column %zu)", close,
                       close == '}' ? "object" : "array", ev.start_mark.line + 1, ev.start_mark.column + 1);
    }
}

static int jvalue(jreader *r)
{
    jskip_ws(r);
    if (r->p == r->end)
        return fail_at(r->b, jmark(r), "the text ends where a value was expected");
    if (*r->p == '{')
        return jcontainer(r, '}');
    if (*r->p == '[')
        return jcontainer(r, ']');
    if (*r->p == '"') {
        yaml_mark_t m;
        int rc = jstring(r, &m);
        return rc < 0 ? rc : jscalar(r, m, 1);
    }
    return jplain(r);
}

static int parse_json(builder *b, const char *text, size_t len)
{
    jreader r = {.b = b, .start = (const unsigned char *)text, .p = (const unsigned char *)text, .str.max = SIZE_MAX};
    r.end = r.p + len;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        r.p += 3; /* a byte order mark, which RFC 8259 lets readers ignore */
    int rc = jvalue(&r);
    if (rc == 0) {
        jskip_ws(&r);
        if (r.p != r.end)
            rc = fail_at(b, jmark(&r), "text after the JSON value; a document holds one value");
    }
    free(r.str.data);
    return rc;
}

/* ---- the entry points ------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Whether the text starts (after white space or a byte order mark) as a
 * JSON object or array does. */
static int looks_like_json(const char *text, size_t len)
{
    size_t i = len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    return i < len && (text[i] == '{' || text[i] == '[');
}

/* A YAML file read as libyaml asks (its own buffer of a few KB), so that a
 * large document is never held whole: first the bytes kumo__doc_load took
 * to tell YAML from JSON, then the rest of the file, within the ceiling. */
typedef struct file_in {
    int fd;
    const char *head; /* the bytes already read */
    size_t head_len, head_at;
    size_t total; /* bytes handed over */
    int error;    /* errno of a failed read */
    int too_big;  /* the file grew past the ceiling while read */
} file_in;

static int file_read(void *data, unsigned char *buf, size_t size, size_t *size_read)
{
    file_in *in = data;
    size_t n = 0;
    if (in->head_at < in->head_len) {
        n = in->head_len - in->head_at < size ? in->head_len - in->head_at : size;
        memcpy(buf, in->head + in->head_at, n);
        in->head_at += n;
    } else {
        ssize_t got;
        do
            got = read(in->fd, buf, size);
        while (got < 0 && errno == EINTR);
        if (got < 0) {
            in->error = errno;
            return 0;
        }
        n = (size_t)got;
    }
    if (n > DOC_MAX_BYTES - in->total) {
        in->too_big = 1;
        return 0;
    }
    in->total += n;
    *size_read = n;
    return 1;
}

/* Reads YAML from `text`, or from `in` when it is not NULL. */
static int parse_yaml(builder *b, const char *text, size_t len, file_in *in)
{
    yaml_parser_t parser;
    int ndocs = 0, rc = 0;
    char why[512];
    if (kumo__yaml_load(why, sizeof(why)) != 0) {
        kumo__error_set(b->err, -ENOEXEC, "%s %s", b->doc->path, why);
        return -ENOEXEC;
    }
    if (!yaml_parser_initialize(&parser))
        return oom(b);
    if (in)
        yaml_parser_set_input(&parser, file_read, in);
    else
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (int done = 0; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (in && in->error) {
                kumo__error_set(b->err, -in->error, "%s: read: %s", b->doc->path, strerror(in->error));
                rc = -in->error;
            } else if (in && in->too_big) {
                kumo__error_set(b->err, -EFBIG, "%s: file grew past 64 MiB while read", b->doc->path);
                rc = -EFBIG;
            } else {
                rc = syntax_error(b, &parser);
            }
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (ndocs++ > 0)
                rc = fail_at(b, ev.start_mark, "a second document in one file; keep one document per file");
            break;
        case YAML_SCALAR_EVENT: rc = on_scalar(b, &ev); break;
        case YAML_ALIAS_EVENT: rc = on_alias(b, &ev); break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: rc = on_start(b, &ev); break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: rc = on_end(b); break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Reads `text` (or the YAML file `in`; `len` is then its size as stat
 * said) with the JSON reader or libyaml into a new document. */
static int parse_as(const char *name, const char *text, size_t len, int json, file_in *in, kumo__doc **out,
                    kumo__error *err)
{
    kumo__doc *doc = calloc(1, sizeof *doc);
    builder *b = malloc(sizeof *b);
    if (b)
        memset(b, 0, BUILDER_ZEROED);
    int rc = 0;
    if (doc == NULL || b == NULL || (doc->path = strdup(name)) == NULL) {
        kumo__error_set(err, -ENOMEM, "%s: out of memory", name);
        rc = -ENOMEM;
        goto out;
    }
    b->doc = doc;
    b->err = err;
    if (pos_reserve(doc, len) < 0) {
        rc = oom(b);
        goto out;
    }
    rc = json ? parse_json(b, text, len) : parse_yaml(b, text, len, in);
    if (rc == 0 && doc->root == NULL)
        doc->root = json_null(); /* an empty file */
    if (rc == 0)
        pos_seal(doc);
out:
    if (b) {
        while (b->depth > 0) {
            frame *f = &b->stack[--b->depth];
            json_decref(f->node);
            free(f->anchor);
        }
        for (int i = 0; i < b->reached; i++)
            free(b->keys[i]);
        for (size_t i = 0; i < b->nanchors; i++)
            free(b->anchors[i].name);
        free(b->anchors);
        free(b);
    }
    if (rc < 0) {
        kumo__doc_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

int kumo__doc_parse(const char *name, const char *text, size_t len, kumo__doc **out, kumo__error *err)
{
    *out = NULL;
    if (len > DOC_MAX_BYTES) {
        kumo__error_set(err, -EFBIG, "%s: document is %zu bytes; the limit is 64 MiB", name, len);
        return -EFBIG;
    }
    /* A .json file is JSON. Another that starts as JSON does is read as JSON
     * first and, when that fails, as YAML ({a: 1} is YAML flow syntax); a
     * .yaml file then says YAML's error, any other JSON's. */
    if (ends_with(name, ".json"))
        return parse_as(name, text, len, 1, NULL, out, err);
    if (!looks_like_json(text, len))
        return parse_as(name, text, len, 0, NULL, out, err);
    int rc = parse_as(name, text, len, 1, NULL, out, err);
    if (rc != -EINVAL)
        return rc;
    kumo__error yaml_err = {0};
    int yrc = parse_as(name, text, len, 0, NULL, out, &yaml_err);
    if (yrc == 0 || ends_with(name, ".yaml") || ends_with(name, ".yml")) {
        *err = yaml_err;
        return yrc;
    }
    return rc;
}

int kumo__doc_load(const char *path, kumo__doc **out, kumo__error *err)
{
    *out = NULL;
    char *text = NULL;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        kumo__error_set(err, rc, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > DOC_MAX_BYTES) {
        rc = -EFBIG;
        kumo__error_set(err, rc, "%s: file is %lld bytes; the limit is 64 MiB", path, (long long)st.st_size);
        goto out;
    }
    /* the tree is about ten times the text: room for it first, in huge
     * pages where there are some (base/heap.h: page faults cost more than
     * the parsing on the machines kumo runs on) */
    kumo__heap_prepare(kumo__heap_for_document((size_t)st.st_size));
    /* The first bytes say whether it is JSON (kumo__doc_parse's rule); a
     * YAML file is then read as libyaml goes, not held whole */
    size_t len = 0, cap = (size_t)st.st_size + 1;
    if (!ends_with(path, ".json")) {
        char head[4096];
        ssize_t n;
        do
            n = read(fd, head, sizeof head);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            rc = -errno;
            kumo__error_set(err, rc, "%s: read: %s", path, strerror(errno));
            goto out;
        }
        size_t i = (size_t)n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
        while (i < (size_t)n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
            i++;
        if (i < (size_t)n && head[i] != '{' && head[i] != '[') {
            file_in in = {.fd = fd, .head = head, .head_len = (size_t)n};
            rc = parse_as(path, NULL, (size_t)st.st_size, 0, &in, out, err);
            goto out;
        }
        /* JSON, or all white space so far: read it whole after what was read */
        if ((text = malloc(cap)) == NULL) {
            rc = -ENOMEM;
            kumo__error_set(err, rc, "%s: out of memory", path);
            goto out;
        }
        memcpy(text, head, (size_t)n);
        len = (size_t)n;
    }
    if (text == NULL && (text = malloc(cap)) == NULL) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "%s: out of memory", path);
        goto out;
    }
    for (;;) { /* the file may change size under us: read to EOF, within the ceiling */
        if (len == cap) {
            if (cap > DOC_MAX_BYTES) {
                rc = -EFBIG;
                kumo__error_set(err, rc, "%s: file grew past 64 MiB while read", path);
                goto out;
            }
            char *t = realloc(text, cap * 2);
            if (t == NULL) {
                rc = -ENOMEM;
                kumo__error_set(err, rc, "%s: out of memory", path);
                goto out;
            }
            text = t;
            cap *= 2;
        }
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            kumo__error_set(err, rc, "%s: read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    rc = kumo__doc_parse(path, text, len, out, err);
out:
    if (fd >= 0)
        close(fd);
    free(text);
    return rc;
}

void kumo__doc_free(kumo__doc *doc)
{
    if (doc == NULL)
        return;
    json_decref(doc->root);
    free(doc->pos);
    free(doc->path);
    free(doc);
}

json_t *kumo__doc_root(const kumo__doc *doc)
{
    return doc->root;
}

const char *kumo__doc_path(const kumo__doc *doc)
{
    return doc->path;
}

int kumo__doc_pos(const kumo__doc *doc, const json_t *node, int *line, int *col)
{
    int l = 0, c = 0;
    int found = pos_get(doc, node, &l, &c);
    if (line)
        *line = l;
    if (col)
        *col = c;
    return found;
}

int kumo__doc_key_pos(const kumo__doc *doc, const json_t *object, const char *key, int *line, int *col)
{
    int l = 0, c = 0, found = 0;
    if (json_is_object(object) && key) {
        void *it = json_object_iter_at((json_t *)object, key);
        found = it && pos_get(doc, json_object_iter_key(it), &l, &c);
    }
    if (line)
        *line = l;
    if (col)
        *col = c;
    return found;
}

static void error_at(kumo__error *err, const kumo__doc *doc, int found, int line, int col, const char *fmt, va_list ap)
{
    char what[1536];
    vsnprintf(what, sizeof what, fmt, ap);
    if (found)
        kumo__error_set(err, -EINVAL, "%s:%d:%d: %s", doc->path, line, col, what);
    else
        kumo__error_set(err, -EINVAL, "%s: %s", doc->path, what);
}

void kumo__doc_error(kumo__error *err, const kumo__doc *doc, const json_t *node, const char *fmt, ...)
{
    int line, col;
    int found = kumo__doc_pos(doc, node, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    error_at(err, doc, found, line, col, fmt, ap);
    va_end(ap);
}

void kumo__doc_key_error(kumo__error *err, const kumo__doc *doc, const json_t *object, const char *key, const char *fmt,
                         ...)
{
    int line, col;
    int found = kumo__doc_key_pos(doc, object, key, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    error_at(err, doc, found, line, col, fmt, ap);
    va_end(ap);
}

void kumo__doc_value_error(kumo__error *err, const kumo__doc *doc, const json_t *object, const char *key,
                           const char *fmt, ...)
{
    int line, col;
    int found = kumo__doc_pos(doc, json_object_get(object, key), &line, &col) ||
                kumo__doc_key_pos(doc, object, key, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    error_at(err, doc, found, line, col, fmt, ap);
    va_end(ap);
}
