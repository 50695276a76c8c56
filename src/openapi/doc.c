/*
 * doc.c: YAML or JSON text -> jansson tree, remembering where every node
 * (and every mapping key) starts, so that later layers can say
 * "openapi.yaml:42:7: ...". JSON is YAML flow syntax, so one libyaml event
 * loop reads both. Plain scalars resolve by the YAML 1.2 core schema;
 * quoted and block scalars are strings. Aliases share the anchored node
 * (json_incref), with a ceiling on how far they may expand the tree.
 *
 * Positions live in a side table keyed by address: a json_t for nodes, the
 * key string jansson stores for keys. null, true and false are jansson
 * singletons, so they have no position; callers use the key's instead.
 */
#include "openapi/openapi.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define DOC_MAX_BYTES (64u << 20)
#define DOC_MAX_DEPTH 256
#define DOC_MAX_ALIASES 10000
#define DOC_MAX_EXPANDED (1u << 22) /* nodes the tree would have with aliases unshared */
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
    pos_entry *pos; /* open addressing, linear probing; cap is a power of two */
    size_t npos, cap;
};

/* ---- the position table --------------------------------------------------- */

static size_t pos_hash(const void *p, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

static int pos_grow(kumo__doc *d)
{
    size_t cap = d->cap ? d->cap * 2 : 256;
    pos_entry *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < d->cap; i++) {
        if (d->pos[i].key == NULL)
            continue;
        size_t j = pos_hash(d->pos[i].key, cap);
        while (t[j].key)
            j = (j + 1) & (cap - 1);
        t[j] = d->pos[i];
    }
    free(d->pos);
    d->pos = t;
    d->cap = cap;
    return 0;
}

/* Records the first position seen for `key`; later ones (aliases) keep it. */
static int pos_put(kumo__doc *d, const void *key, int line, int col)
{
    if ((d->npos + 1) * 2 > d->cap && pos_grow(d) < 0)
        return -ENOMEM;
    size_t j = pos_hash(key, d->cap);
    while (d->pos[j].key) {
        if (d->pos[j].key == key)
            return 0;
        j = (j + 1) & (d->cap - 1);
    }
    d->pos[j] = (pos_entry){key, line, col};
    d->npos++;
    return 0;
}

static int pos_get(const kumo__doc *d, const void *key, int *line, int *col)
{
    if (d == NULL || key == NULL || d->cap == 0)
        return 0;
    size_t j = pos_hash(key, d->cap);
    while (d->pos[j].key) {
        if (d->pos[j].key == key) {
            *line = d->pos[j].line;
            *col = d->pos[j].col;
            return 1;
        }
        j = (j + 1) & (d->cap - 1);
    }
    return 0;
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
        return json_stringn(s, len);
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
    return json_stringn(s, len);
}

/* ---- the event loop -------------------------------------------------------- */

typedef struct frame {
    json_t *node;
    char *key; /* a mapping's pending key, owned */
    int key_line, key_col;
    char *anchor;  /* the container's anchor, owned */
    size_t weight; /* nodes in the subtree with aliases expanded */
} frame;

typedef struct anchor {
    char *name;
    json_t *node; /* borrowed: the tree holds it */
    size_t weight;
} anchor;

typedef struct builder {
    kumo__doc *doc;
    kumo__error *err;
    frame stack[DOC_MAX_DEPTH];
    int depth;
    anchor *anchors;
    size_t nanchors, anchors_cap;
    size_t aliases, expanded;
} builder;

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

static int add_anchor(builder *b, const char *name, json_t *node, size_t weight)
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
    b->anchors[b->nanchors++] = (anchor){copy, node, weight};
    return 0;
}

/* Hangs `node` (a new reference, consumed) under the current container. */
static int attach(builder *b, json_t *node, size_t weight)
{
    if (b->depth == 0) {
        b->doc->root = node;
        return 0;
    }
    frame *top = &b->stack[b->depth - 1];
    top->weight += weight;
    if (json_is_array(top->node)) {
        if (json_array_append_new(top->node, node) < 0)
            return oom(b);
        return 0;
    }
    if (json_object_set_new_nocheck(top->node, top->key, node) < 0)
        return oom(b);
    const char *stored = json_object_iter_key(json_object_iter_at(top->node, top->key));
    if (stored == NULL || pos_put(b->doc, stored, top->key_line, top->key_col) < 0)
        return oom(b);
    free(top->key);
    top->key = NULL;
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
    if (json_object_get(top->node, k)) {
        int line = 0, col = 0;
        kumo__doc_key_pos(b->doc, top->node, k, &line, &col);
        return fail_at(b, ev->start_mark, "duplicate key '%s' (first at line %d, column %d); remove one", k, line, col);
    }
    top->key = strdup(k);
    if (top->key == NULL)
        return oom(b);
    top->key_line = (int)ev->start_mark.line + 1;
    top->key_col = (int)ev->start_mark.column + 1;
    return 0;
}

static int awaiting_key(const builder *b)
{
    return b->depth > 0 && json_is_object(b->stack[b->depth - 1].node) && b->stack[b->depth - 1].key == NULL;
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
    json_t *node = as_string ? json_stringn(s, len) : resolve_plain(s, len, &what);
    /* libyaml hands over valid UTF-8 only (it refuses bad bytes, overlong
     * forms and surrogate escapes), so jansson failing is memory */
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
    if (ev->data.scalar.anchor && add_anchor(b, (const char *)ev->data.scalar.anchor, node, 1) < 0) {
        json_decref(node);
        return -ENOMEM;
    }
    return attach(b, node, 1);
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
    b->expanded += a->weight;
    return attach(b, json_incref(a->node), a->weight);
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
    *f = (frame){.node = node, .weight = 1};
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
        rc = add_anchor(b, f.anchor, f.node, f.weight);
    free(f.anchor);
    free(f.key);
    if (rc < 0) {
        json_decref(f.node);
        return rc;
    }
    return attach(b, f.node, f.weight);
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

int kumo__doc_parse(const char *name, const char *text, size_t len, kumo__doc **out, kumo__error *err)
{
    *out = NULL;
    if (len > DOC_MAX_BYTES) {
        kumo__error_set(err, -EFBIG, "%s: document is %zu bytes; the limit is 64 MiB", name, len);
        return -EFBIG;
    }
    kumo__doc *doc = calloc(1, sizeof *doc);
    builder *b = calloc(1, sizeof *b);
    yaml_parser_t parser;
    int parser_ready = 0, ndocs = 0, rc = 0;
    if (doc == NULL || b == NULL || (doc->path = strdup(name)) == NULL) {
        kumo__error_set(err, -ENOMEM, "%s: out of memory", name);
        rc = -ENOMEM;
        goto out;
    }
    b->doc = doc;
    b->err = err;
    if (!yaml_parser_initialize(&parser)) {
        rc = oom(b);
        goto out;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (int done = 0; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = syntax_error(b, &parser);
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
    if (rc == 0 && doc->root == NULL)
        doc->root = json_null(); /* an empty file */
out:
    if (parser_ready)
        yaml_parser_delete(&parser);
    if (b) {
        while (b->depth > 0) {
            frame *f = &b->stack[--b->depth];
            json_decref(f->node);
            free(f->key);
            free(f->anchor);
        }
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
    size_t len = 0, cap = (size_t)st.st_size + 1;
    if ((text = malloc(cap)) == NULL) {
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
