/*
 * router.c: request path -> operation, on the gateway's hot path. The
 * templates of spec->ops compile into a tree with one level per path
 * segment. Each node has literal edges (sorted, binary searched), mixed
 * edges (a literal prefix and/or suffix around one parameter: "v{major}",
 * "{name}.json"; most specific first) and at most one whole-segment
 * parameter edge. Matching tries them in that order and backtracks, so a
 * concrete segment wins over a templated one without hiding a route that
 * only the templated branch has. Every node is visited at most once per
 * match, and match allocates nothing: parameter values are slices of the
 * raw path, so an encoded %2F stays inside its segment.
 *
 * Parameter names belong to operations, not nodes: GET /t/{a} and
 * PUT /t/{b} share a node; GET /t/{a} and GET /t/{b} are refused.
 */
#include "openapi/openapi.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_SEGMENTS_MAX 128

/* In the order of the Allow header. */
enum { M_GET, M_HEAD, M_POST, M_PUT, M_PATCH, M_DELETE, M_OPTIONS, M_TRACE, M_COUNT };
static const char *const method_names[M_COUNT] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"};

typedef struct rnode rnode;

typedef struct edge {
    char *prefix; /* the whole literal for a literal edge */
    size_t plen;
    char *suffix; /* mixed edges only */
    size_t slen;
    rnode *child;
} edge;

struct rnode {
    int ops[M_COUNT]; /* index into spec->ops; -1: none */
    unsigned mask;    /* bit m set when ops[m] >= 0 */
    edge *lits;
    size_t nlits;
    edge *mixed;
    size_t nmixed;
    rnode *param;
};

typedef struct op_params {
    char *names[KUMO__ROUTE_PARAMS_MAX];
    size_t n;
} op_params;

struct kumo__router {
    const kumo__spec *spec;
    rnode *root;
    op_params *params; /* one per spec op */
};

static int method_index(const char *m)
{
    for (int i = 0; i < M_COUNT; i++)
        if (strcmp(m, method_names[i]) == 0)
            return i;
    return -1;
}

static rnode *node_new(void)
{
    rnode *n = calloc(1, sizeof *n);
    if (n)
        for (int i = 0; i < M_COUNT; i++)
            n->ops[i] = -1;
    return n;
}

static void node_free(rnode *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nlits; i++) {
        free(n->lits[i].prefix);
        node_free(n->lits[i].child);
    }
    for (size_t i = 0; i < n->nmixed; i++) {
        free(n->mixed[i].prefix);
        free(n->mixed[i].suffix);
        node_free(n->mixed[i].child);
    }
    free(n->lits);
    free(n->mixed);
    node_free(n->param);
    free(n);
}

static int lit_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

/* Binary search: the edge for literal `s`, or where it would go. */
static size_t lit_find(const rnode *n, const char *s, size_t len, int *found)
{
    size_t lo = 0, hi = n->nlits;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = lit_cmp(n->lits[mid].prefix, n->lits[mid].plen, s, len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Inserts an edge at `at` of (*edges, *n); takes prefix and suffix. */
static rnode *edge_insert(edge **edges, size_t *n, size_t at, char *prefix, size_t plen, char *suffix, size_t slen)
{
    edge *e = realloc(*edges, (*n + 1) * sizeof *e);
    rnode *child = e ? node_new() : NULL;
    if (e)
        *edges = e;
    if (child == NULL) {
        free(prefix);
        free(suffix);
        return NULL;
    }
    memmove(e + at + 1, e + at, (*n - at) * sizeof *e);
    e[at] = (edge){prefix, plen, suffix, slen, child};
    (*n)++;
    return child;
}

static rnode *child_lit(rnode *n, const char *s, size_t len)
{
    int found;
    size_t at = lit_find(n, s, len, &found);
    if (found)
        return n->lits[at].child;
    char *copy = strndup(s, len);
    return copy ? edge_insert(&n->lits, &n->nlits, at, copy, len, NULL, 0) : NULL;
}

static rnode *child_mixed(rnode *n, const char *pre, size_t plen, const char *suf, size_t slen)
{
    size_t at = 0;
    for (; at < n->nmixed; at++) {
        const edge *e = &n->mixed[at];
        if (e->plen == plen && e->slen == slen && memcmp(e->prefix, pre, plen) == 0 &&
            memcmp(e->suffix, suf, slen) == 0)
            return e->child;
        if (e->plen + e->slen < plen + slen) /* keep the most specific first */
            break;
    }
    char *p = strndup(pre, plen), *s = strndup(suf, slen);
    if (p == NULL || s == NULL) {
        free(p);
        free(s);
        return NULL;
    }
    return edge_insert(&n->mixed, &n->nmixed, at, p, plen, s, slen);
}

static int route_error(kumo__error *err, const kumo__spec *spec, const kumo__operation *op, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* At the path's key in the document when there is one. */
static int route_error(kumo__error *err, const kumo__spec *spec, const kumo__operation *op, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    json_t *paths = spec->doc ? json_object_get(kumo__doc_root(spec->doc), "paths") : NULL;
    if (paths)
        kumo__doc_key_error(err, spec->doc, paths, op->path, "%s", what);
    else
        kumo__error_set(err, -EINVAL, "%s", what);
    return -EINVAL;
}

/* Adds op `i` to the tree. */
static int add_route(kumo__router *r, size_t i, kumo__error *err)
{
    const kumo__operation *op = &r->spec->ops[i];
    op_params *names = &r->params[i];
    const char *t = op->path;
    int m = method_index(op->method);
    if (m < 0)
        return route_error(err, r->spec, op, "method '%s' cannot be routed", op->method);
    if (t[0] != '/')
        return route_error(err, r->spec, op, "path '%s' must start with '/'", t);
    rnode *n = r->root;
    const char *seg = t[1] ? t + 1 : NULL; /* "/" has no segments */
    for (size_t depth = 0; seg; depth++) {
        size_t len = strcspn(seg, "/");
        const char *open = memchr(seg, '{', len), *close = memchr(seg, '}', len);
        if (depth == ROUTE_SEGMENTS_MAX)
            return route_error(err, r->spec, op, "path '%s' has more than %d segments", t, ROUTE_SEGMENTS_MAX);
        if (open == NULL && close == NULL) {
            n = child_lit(n, seg, len);
        } else {
            const char *rest = close ? close + 1 : NULL;
            size_t rlen = rest ? len - (size_t)(rest - seg) : 0;
            if (open == NULL || close == NULL || close < open || memchr(open + 1, '{', (size_t)(close - open - 1)))
                return route_error(err, r->spec, op, "path '%s': unbalanced '{' '}' in segment '%.*s'", t, (int)len,
                                   seg);
            if (memchr(rest, '{', rlen) || memchr(rest, '}', rlen))
                return route_error(err, r->spec, op,
                                   "path '%s': segment '%.*s' has more than one parameter; kumo routes one "
                                   "parameter per segment, so split it with '/'",
                                   t, (int)len, seg);
            if (close == open + 1)
                return route_error(err, r->spec, op, "path '%s': a parameter has no name", t);
            if (names->n == KUMO__ROUTE_PARAMS_MAX)
                return route_error(err, r->spec, op, "path '%s' has more than %d parameters", t,
                                   KUMO__ROUTE_PARAMS_MAX);
            if ((names->names[names->n] = strndup(open + 1, (size_t)(close - open - 1))) == NULL)
                goto oom;
            names->n++;
            if (open == seg && rlen == 0) {
                if (n->param == NULL)
                    n->param = node_new();
                n = n->param;
            } else {
                n = child_mixed(n, seg, (size_t)(open - seg), rest, rlen);
            }
        }
        if (n == NULL)
            goto oom;
        seg = seg[len] == '/' ? seg + len + 1 : NULL;
    }
    if (n->ops[m] >= 0) {
        const kumo__operation *other = &r->spec->ops[n->ops[m]];
        if (strcmp(other->path, op->path) == 0)
            return route_error(err, r->spec, op, "%s %s is defined twice", op->method, op->path);
        return route_error(err, r->spec, op,
                           "%s %s and %s %s differ only in parameter names, so no request can tell them apart; "
                           "keep one",
                           op->method, op->path, other->method, other->path);
    }
    n->ops[m] = (int)i;
    n->mask |= 1u << m;
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

int kumo__router_build(const kumo__spec *spec, kumo__router **out, kumo__error *err)
{
    *out = NULL;
    int rc = 0;
    kumo__router *r = calloc(1, sizeof *r);
    if (r == NULL || (r->root = node_new()) == NULL ||
        (spec->nops && (r->params = calloc(spec->nops, sizeof *r->params)) == NULL)) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    r->spec = spec;
    for (size_t i = 0; i < spec->nops && rc == 0; i++)
        rc = add_route(r, i, err);
out:
    if (rc < 0) {
        kumo__router_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void kumo__router_free(kumo__router *r)
{
    if (r == NULL)
        return;
    node_free(r->root);
    if (r->params)
        for (size_t i = 0; i < r->spec->nops; i++)
            for (size_t j = 0; j < r->params[i].n; j++)
                free(r->params[i].names[j]);
    free(r->params);
    free(r);
}

/* ---- matching ---------------------------------------------------------- */

typedef struct walk {
    int method; /* M_*, or -1 for a method no operation can have */
    const char *end;
    unsigned allow; /* methods of every node the path reached */
    const char *vals[KUMO__ROUTE_PARAMS_MAX];
    size_t lens[KUMO__ROUTE_PARAMS_MAX];
} walk;

static int serves(const rnode *n, int m)
{
    return m >= 0 && (n->ops[m] >= 0 || (m == M_HEAD && n->ops[M_GET] >= 0));
}

/* `seg` starts the next segment, or is NULL when the path is used up. */
static const rnode *walk_node(walk *w, const rnode *n, const char *seg, size_t k)
{
    if (seg == NULL) {
        w->allow |= n->mask;
        return serves(n, w->method) ? n : NULL;
    }
    const char *slash = memchr(seg, '/', (size_t)(w->end - seg));
    size_t len = (size_t)((slash ? slash : w->end) - seg);
    const char *next = slash ? slash + 1 : NULL;
    const rnode *found;
    int hit;
    size_t at = lit_find(n, seg, len, &hit);
    if (hit && (found = walk_node(w, n->lits[at].child, next, k)))
        return found;
    if (k == KUMO__ROUTE_PARAMS_MAX)
        return NULL;
    for (size_t i = 0; i < n->nmixed; i++) {
        const edge *e = &n->mixed[i];
        if (len <= e->plen + e->slen || memcmp(seg, e->prefix, e->plen) != 0 ||
            memcmp(seg + len - e->slen, e->suffix, e->slen) != 0)
            continue;
        w->vals[k] = seg + e->plen;
        w->lens[k] = len - e->plen - e->slen;
        if ((found = walk_node(w, e->child, next, k + 1)))
            return found;
    }
    if (n->param && len > 0) {
        w->vals[k] = seg;
        w->lens[k] = len;
        if ((found = walk_node(w, n->param, next, k + 1)))
            return found;
    }
    return NULL;
}

static void format_allow(unsigned mask, char *buf, size_t cap)
{
    if (mask & (1u << M_GET))
        mask |= 1u << M_HEAD;
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < M_COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        size_t n = strlen(method_names[i]);
        if (len + n + 3 > cap)
            break;
        if (len) {
            memcpy(buf + len, ", ", 2);
            len += 2;
        }
        memcpy(buf + len, method_names[i], n + 1);
        len += n;
    }
}

static int match_once(const kumo__router *r, int method, const char *path, size_t len, kumo__route_match *m)
{
    walk w;
    w.method = method;
    w.end = path + len;
    w.allow = 0;
    const rnode *n = walk_node(&w, r->root, len > 1 ? path + 1 : NULL, 0);
    if (n == NULL) {
        if (w.allow == 0)
            return -ENOENT;
        format_allow(w.allow, m->allow, sizeof m->allow);
        return -KUMO__EMETHOD;
    }
    int idx = n->ops[method] >= 0 ? n->ops[method] : n->ops[M_GET];
    const op_params *names = &r->params[idx];
    m->op = &r->spec->ops[idx];
    m->op_index = (size_t)idx;
    m->nparams = names->n;
    for (size_t i = 0; i < names->n; i++) {
        m->params[i].name = names->names[i];
        m->params[i].value = w.vals[i];
        m->params[i].value_len = w.lens[i];
    }
    return 0;
}

int kumo__router_match(const kumo__router *r, const char *method, const char *path, size_t path_len,
                       kumo__route_match *m)
{
    m->op = NULL;
    m->nparams = 0;
    m->allow[0] = '\0';
    const char *base = r->spec->base_path;
    size_t blen = base ? strlen(base) : 0;
    if (blen) {
        if (path_len < blen || memcmp(path, base, blen) != 0 || (path_len > blen && path[blen] != '/'))
            return -ENOENT;
        path += blen;
        path_len -= blen;
        if (path_len == 0) { /* "/v1" is the root of the API, like "/v1/" */
            path = "/";
            path_len = 1;
        }
    }
    if (path_len == 0 || path[0] != '/')
        return -ENOENT;
    int mi = method_index(method);
    int rc = match_once(r, mi, path, path_len, m);
    if (rc == -ENOENT && path_len > 1 && path[path_len - 1] == '/')
        rc = match_once(r, mi, path, path_len - 1, m);
    return rc;
}
