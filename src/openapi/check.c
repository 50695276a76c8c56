/*
 * check.c: an operation's request and response contract (check.h). At
 * start-up kumo__opcheck_build turns the operation into a plan: per
 * parameter its name, location, style, the shape and scalar types its
 * schema asks for, and the compiled schema; per request media type its
 * parsed type/subtype and compiled schema; per response its media types
 * and schemas; the list of types Accept chooses among. Per request,
 * kumo__opcheck_request walks that plan: 415 (body media type), then 406
 * (Accept), then every parameter and the body are read (params.c,
 * media.c), coerced and validated, and all violations are collected (400).
 * The plan is read-only after build, so any number of threads share it.
 */
#include "openapi/check_internal.h"
#include "openapi/docset.h"
#include "base/heap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct media_plan {
    const kumo__media *media;
    kumo__mtype mt;  /* slices into media->type */
    int wildcard_ok; /* media->type parsed */
    kumo__schema *schema;
    kumo__shapeinfo shape; /* for form and multipart bodies */
} media_plan;

typedef struct resp_plan {
    const kumo__response *resp;
    media_plan *content;
    size_t ncontent;
} resp_plan;

struct kumo__opcheck {
    const kumo__operation *op;
    kumo__param_plan *params;
    size_t nparams;
    media_plan *body;
    size_t nbody;
    resp_plan *resp;
    size_t nresp;
    kumo__mtype *offers; /* media types of 2xx and default responses, in order, unique */
    const char **offer_names;
    size_t noffers;
    char *body_list;  /* "application/json, text/plain", for 415 */
    char *offer_list; /* for 406 */
};

static const char *const in_names[] = {"path", "query", "header", "cookie"};

/* ---- violations ------------------------------------------------------------- */

/* Appends one violation; 0, or -ENOMEM. Past the limit: truncated. */
static int add_violation(kumo__violations *v, const char *instance, const char *schema, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int add_violation(kumo__violations *v, const char *instance, const char *schema, const char *fmt, ...)
{
    size_t limit = v->limit ? v->limit : 100;
    if (v->count >= limit) {
        v->truncated = 1;
        return 0;
    }
    if (v->count == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 8;
        kumo__violation *ni = realloc(v->items, ncap * sizeof *ni);
        if (!ni)
            return -ENOMEM;
        v->items = ni;
        v->cap = ncap;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kumo__violation *it = &v->items[v->count];
    it->instance = strdup(instance);
    it->schema = strdup(schema ? schema : "");
    it->message = strdup(msg);
    if (!it->instance || !it->schema || !it->message) {
        free(it->instance);
        free(it->schema);
        free(it->message);
        return -ENOMEM;
    }
    v->count++;
    return 0;
}

/* Prefixes the instance pointers of violations [from, count) with `prefix`. */
static int prefix_violations(kumo__violations *v, size_t from, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (size_t i = from; i < v->count; i++) {
        const char *old = v->items[i].instance ? v->items[i].instance : "";
        size_t olen = strlen(old);
        char *n = malloc(plen + olen + 1);
        if (!n)
            return -ENOMEM;
        memcpy(n, prefix, plen);
        memcpy(n + plen, old, olen + 1);
        free(v->items[i].instance);
        v->items[i].instance = n;
    }
    return 0;
}

static int validate(const kumo__schema *s, const json_t *instance, enum kumo__direction dir, const char *prefix,
                    kumo__violations *v)
{
    if (!s || !instance)
        return 0;
    size_t before = v->count;
    int rc = kumo__schema_validate(s, instance, dir, v);
    if (rc < 0)
        return rc;
    return prefix_violations(v, before, prefix);
}

/* ---- build ------------------------------------------------------------------------ */

static char *strjoin_types(const char **names, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(names[i]) + 2;
    char *s = malloc(total), *p = s;
    if (!s)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", names[i]);
    return s;
}

/* While kumo__opcheck_build_all runs on this thread: the component schemas
 * its operations share (schema.h), compiled once for all of them. */
static _Thread_local kumo__schema_cache *build_cache;

static int compile(const kumo__spec *spec, const json_t *schema, const char *location, kumo__schema **out,
                   kumo__error *err, const char *what)
{
    *out = NULL;
    if (!schema)
        return 0;
    int rc = kumo__schema_compile_cached(schema, (kumo__dialect)spec->dialect, location ? location : "", spec->refs,
                                         build_cache, out, err);
    if (rc < 0) {
        /* The compiler's message starts with the location of the keyword
         * that does not compile: point there, else at the schema. */
        const char *colon = strstr(err->msg, ": ");
        kumo__doc *doc = NULL;
        int line = 0, col = 0;
        if (spec->docset && colon &&
            kumo__docset_location_pos(spec->docset, err->msg, (size_t)(colon - err->msg), &doc, &line, &col))
            kumo__error_wrap(err, "%s:%d:%d: %s", kumo__doc_path(doc), line, col, what);
        else if ((doc = spec->docset ? kumo__spec_doc_of(spec, schema) : spec->doc) &&
                 kumo__doc_pos(doc, schema, &line, &col) && line > 0)
            kumo__error_wrap(err, "%s:%d:%d: %s", kumo__doc_path(doc), line, col, what);
        else
            kumo__error_wrap(err, "%s", what);
    }
    return rc;
}

static int media_plan_init(const kumo__spec *spec, const kumo__media *m, media_plan *p, kumo__error *err,
                           const char *what)
{
    p->media = m;
    p->wildcard_ok = kumo__mtype_parse(m->type, strlen(m->type), &p->mt) == 0;
    if (!p->wildcard_ok) {
        kumo__error_set(err, -EINVAL, "%s: '%s' is not a media type (type/subtype); fix the content key", what,
                        m->type);
        return -EINVAL;
    }
    if (kumo__shapeinfo_read(m->schema, spec->refs, &p->shape) < 0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    return compile(spec, m->schema, m->schema_location, &p->schema, err, what);
}

static void media_plan_clear(media_plan *p)
{
    kumo__schema_free(p->schema);
    kumo__shapeinfo_clear(&p->shape);
}

static int offered(const kumo__response *r)
{
    return strcmp(r->status, "default") == 0 || r->status[0] == '2';
}

int kumo__opcheck_build(const kumo__spec *spec, size_t op_index, kumo__opcheck **out, kumo__error *err)
{
    *out = NULL;
    if (op_index >= spec->nops) {
        kumo__error_set(err, -EINVAL, "operation %zu does not exist", op_index);
        return -EINVAL;
    }
    const kumo__operation *op = &spec->ops[op_index];
    int rc = -ENOMEM;
    char what[512];
    const char **names = NULL;
    kumo__opcheck *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->op = op;
    if (op->nparams && !(c->params = calloc(op->nparams, sizeof *c->params)))
        goto oom;
    for (size_t i = 0; i < op->nparams; i++) {
        const kumo__param *pa = &op->params[i];
        kumo__param_plan *p = &c->params[i];
        c->nparams++;
        p->param = pa;
        p->name_len = strlen(pa->name);
        if (asprintf(&p->pointer, "/%s/%s", in_names[pa->in], pa->name) < 0) {
            p->pointer = NULL;
            goto oom;
        }
        if (pa->content_type) {
            kumo__mtype mt;
            p->content_json =
                kumo__mtype_parse(pa->content_type, strlen(pa->content_type), &mt) == 0 && kumo__mtype_is_json(&mt);
        }
        if (kumo__shapeinfo_read(pa->schema, spec->refs, &p->shape) < 0)
            goto oom;
        snprintf(what, sizeof what, "the schema of %s parameter '%s' of %s %s", in_names[pa->in], pa->name, op->method,
                 op->path);
        if ((rc = compile(spec, pa->schema, pa->schema_location, &p->schema, err, what)) < 0)
            goto out;
    }
    if (op->nbody && !(c->body = calloc(op->nbody, sizeof *c->body)))
        goto oom;
    for (size_t i = 0; i < op->nbody; i++) {
        c->nbody++;
        snprintf(what, sizeof what, "the %s request body of %s %s", op->body[i].type, op->method, op->path);
        if ((rc = media_plan_init(spec, &op->body[i], &c->body[i], err, what)) < 0)
            goto out;
    }
    if (op->nresponses && !(c->resp = calloc(op->nresponses, sizeof *c->resp)))
        goto oom;
    size_t noffers = 0;
    for (size_t i = 0; i < op->nresponses; i++) {
        const kumo__response *r = &op->responses[i];
        resp_plan *rp = &c->resp[i];
        c->nresp++;
        rp->resp = r;
        if (r->ncontent && !(rp->content = calloc(r->ncontent, sizeof *rp->content)))
            goto oom;
        for (size_t k = 0; k < r->ncontent; k++) {
            rp->ncontent++;
            snprintf(what, sizeof what, "the %s content of response %s of %s %s", r->content[k].type, r->status,
                     op->method, op->path);
            if ((rc = media_plan_init(spec, &r->content[k], &rp->content[k], err, what)) < 0)
                goto out;
        }
        if (offered(r))
            noffers += r->ncontent;
    }
    /* Accept chooses among the 2xx (and default) types, in declared order */
    if (noffers) {
        c->offers = calloc(noffers, sizeof *c->offers);
        c->offer_names = calloc(noffers, sizeof *c->offer_names);
        if (!c->offers || !c->offer_names)
            goto oom;
        for (int pass = 0; pass < 2; pass++) /* 2xx first, then default */
            for (size_t i = 0; i < c->nresp; i++) {
                const resp_plan *rp = &c->resp[i];
                if (!offered(rp->resp) || (pass == 0) != (rp->resp->status[0] == '2'))
                    continue;
                for (size_t k = 0; k < rp->ncontent; k++) {
                    size_t d = 0;
                    while (d < c->noffers && strcmp(c->offer_names[d], rp->content[k].media->type) != 0)
                        d++;
                    if (d < c->noffers)
                        continue;
                    c->offers[c->noffers] = rp->content[k].mt;
                    c->offer_names[c->noffers++] = rp->content[k].media->type;
                }
            }
        if (!(c->offer_list = strjoin_types(c->offer_names, c->noffers)))
            goto oom;
    }
    if (c->nbody) {
        if (!(names = calloc(c->nbody, sizeof *names)))
            goto oom;
        for (size_t i = 0; i < c->nbody; i++)
            names[i] = c->body[i].media->type;
        if (!(c->body_list = strjoin_types(names, c->nbody)))
            goto oom;
    }
    *out = c;
    c = NULL;
    rc = 0;
    goto out;
oom:
    rc = -ENOMEM;
    kumo__error_set(err, -ENOMEM, "out of memory while preparing the checks of %s %s", op->method, op->path);
out:
    free(names);
    kumo__opcheck_free(c);
    return rc;
}

/* What one operation's compiled checks take, about (bench/docload.sh: the
 * 400 operations of bench/gen_spec.py's document compiled to 30 MB when
 * each compiled its own copy of the components it $refs; shared, to 6). */
#define OPCHECK_HEAP_GUESS (24u << 10)

int kumo__opcheck_build_all(const kumo__spec *spec, kumo__opcheck **checks, kumo__error *err)
{
    int rc = 0;
    if (spec->nops >= 64)
        kumo__heap_prepare(spec->nops * OPCHECK_HEAP_GUESS);
    /* without a cache (out of memory) each operation compiles its own copy */
    build_cache = kumo__schema_cache_new();
    for (size_t i = 0; i < spec->nops && rc == 0; i++)
        rc = kumo__opcheck_build(spec, i, &checks[i], err);
    kumo__schema_cache_free(build_cache); /* the checks hold what they use */
    build_cache = NULL;
    return rc;
}

void kumo__opcheck_free(kumo__opcheck *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nparams; i++) {
        kumo__schema_free(c->params[i].schema);
        kumo__shapeinfo_clear(&c->params[i].shape);
        free(c->params[i].pointer);
    }
    free(c->params);
    for (size_t i = 0; i < c->nbody; i++)
        media_plan_clear(&c->body[i]);
    free(c->body);
    for (size_t i = 0; i < c->nresp; i++) {
        for (size_t k = 0; k < c->resp[i].ncontent; k++)
            media_plan_clear(&c->resp[i].content[k]);
        free(c->resp[i].content);
    }
    free(c->resp);
    free(c->offers);
    free(c->offer_names);
    free(c->body_list);
    free(c->offer_list);
    free(c);
}

void kumo__checked_free(kumo__checked *c)
{
    if (!c)
        return;
    json_decref(c->params);
    json_decref(c->body);
    free(c->parts);
    memset(c, 0, sizeof *c);
}

/* ---- request ------------------------------------------------------------------------ */

static const kumo__slice *header_get(const kumo__http_view *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (kumo__slice_ieq(req->headers[i].name, name))
            return &req->headers[i].value;
    return NULL;
}

/* The plan whose media type matches `ct` most specifically (first on a tie). */
static const media_plan *best_media(const media_plan *plans, size_t n, const kumo__mtype *ct)
{
    const media_plan *best = NULL;
    int best_score = 0;
    for (size_t i = 0; i < n; i++) {
        int s = kumo__mtype_match(&plans[i].mt, ct);
        if (s > best_score) {
            best = &plans[i];
            best_score = s;
        }
    }
    return best;
}

static int check_params(const kumo__opcheck *c, const kumo__http_view *req, kumo__checked *out, kumo__violations *v)
{
    json_t *by_in[4];
    for (int i = 0; i < 4; i++)
        by_in[i] = json_object_get(out->params, in_names[i]);
    for (size_t i = 0; i < c->nparams; i++) {
        const kumo__param_plan *p = &c->params[i];
        const kumo__param *pa = p->param;
        json_t *val = NULL;
        char problem[256] = "";
        int rc = kumo__param_read(p, req, &val, problem, sizeof problem);
        if (rc < 0)
            return rc;
        if (rc == KUMO__PARAM_ABSENT) {
            if ((pa->required || pa->in == KUMO__IN_PATH) &&
                add_violation(v, p->pointer, pa->schema_location, "missing required %s parameter '%s'",
                              in_names[pa->in], pa->name) < 0)
                return -ENOMEM;
            continue;
        }
        if (rc == 2) {
            if (add_violation(v, p->pointer, pa->schema_location, "%s", problem) < 0)
                return -ENOMEM;
            continue;
        }
        int empty = json_is_string(val) && json_string_length(val) == 0 && p->shape.shape == KUMO__SHAPE_PRIMITIVE &&
                    pa->in == KUMO__IN_QUERY;
        json_t *untyped = by_in[pa->in] ? NULL : val; /* no typed values kept: freed once checked */
        if (untyped == NULL && json_object_set_new(by_in[pa->in], pa->name, val) < 0)
            return -ENOMEM;
        if (empty && pa->allow_empty) {
            json_decref(untyped);
            continue; /* allowEmptyValue: "" is the value, and the schema is not asked */
        }
        if (empty) {
            json_decref(untyped);
            if (add_violation(v, p->pointer, pa->schema_location,
                              "is empty; send a value or leave the parameter out (allowEmptyValue is not set)") < 0)
                return -ENOMEM;
            continue;
        }
        rc = validate(p->schema, val, KUMO__DIR_REQUEST, p->pointer, v);
        json_decref(untyped);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void detail_set(char *detail, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void detail_set(char *detail, size_t len, const char *fmt, ...)
{
    if (!detail || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, len, fmt, ap);
    va_end(ap);
}

/* Reads the body by the request's own media type into out->body. */
static int read_body(const kumo__http_view *req, const media_plan *mp, const kumo__mtype *ct, kumo__checked *out,
                     kumo__violations *v)
{
    const char *loc = mp->media->schema_location;
    kumo__slice b = req->body;
    if (kumo__mtype_is_json(ct)) {
        json_error_t je;
        out->body = json_loadb(b.base, b.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        if (!out->body)
            return add_violation(v, "/body", loc, "is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                                 je.column) < 0
                       ? -ENOMEM
                       : 1;
        return 0;
    }
    if (kumo__slice_ieq(ct->type, "application") && kumo__slice_ieq(ct->subtype, "x-www-form-urlencoded")) {
        out->body = kumo__form_to_object(b.base, b.len, &mp->shape);
        return out->body ? 0 : -ENOMEM;
    }
    if (kumo__slice_ieq(ct->type, "multipart") && kumo__slice_ieq(ct->subtype, "form-data")) {
        kumo__slice boundary;
        if (kumo__mtype_param(ct, "boundary", &boundary) < 0)
            return add_violation(v, "/body", loc,
                                 "multipart/form-data needs a boundary: Content-Type: multipart/form-data; "
                                 "boundary=...") < 0
                       ? -ENOMEM
                       : 1;
        char problem[256];
        int rc = kumo__multipart_parse(b, boundary, &out->parts, &out->nparts, problem, sizeof problem);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0)
            return add_violation(v, "/body", loc, "is not valid multipart/form-data: it %s", problem) < 0 ? -ENOMEM : 1;
        out->body = kumo__multipart_to_object(out->parts, out->nparts, &mp->shape);
        return out->body ? 0 : -ENOMEM;
    }
    if (kumo__slice_ieq(ct->type, "text")) {
        kumo__slice cs;
        int utf8 = kumo__mtype_param(ct, "charset", &cs) < 0 || kumo__slice_ieq(cs, "utf-8") ||
                   kumo__slice_ieq(cs, "utf8") || kumo__slice_ieq(cs, "us-ascii");
        if (!utf8)
            return 0; /* another charset: no instance to validate */
        if (!kumo__utf8_valid(b.base, b.len))
            return add_violation(v, "/body", loc, "is not valid UTF-8 text; send UTF-8 or name the charset") < 0
                       ? -ENOMEM
                       : 1;
        out->body = json_stringn_nocheck(b.base, b.len);
        return out->body ? 0 : -ENOMEM;
    }
    return 0; /* octet-stream, images, ...: nothing to validate but the size */
}

int kumo__opcheck_request(const kumo__opcheck *c, const kumo__http_view *req, kumo__checked *out,
                          kumo__violations *violations, char *detail, size_t detail_len)
{
    memset(out, 0, sizeof *out);
    if (detail && detail_len)
        detail[0] = '\0';
    size_t before = violations->count;
    const kumo__operation *op = c->op;
    /* {"path":{}, "query":{}, "header":{}, "cookie":{}}, built directly:
     * json_pack parses its format on every request; not at all when the
     * caller wants no typed values (ten allocations a request saved), nor
     * for an operation without parameters (the caller sends
     * KUMO__PARAMS_NONE's text: the same object, made once) */
    out->params_none = !req->untyped && c->nparams == 0;
    if (!req->untyped && c->nparams > 0) {
        if (!(out->params = json_object()))
            return -ENOMEM;
        for (size_t i = 0; i < sizeof in_names / sizeof in_names[0]; i++)
            if (json_object_set_new_nocheck(out->params, in_names[i], json_object()) < 0)
                return -ENOMEM;
    }

    /* 415: the body's media type */
    int has_body = req->body.base && req->body.len > 0;
    const media_plan *mp = NULL;
    kumo__mtype ct = {0};
    if (has_body) {
        if (c->nbody == 0) {
            detail_set(detail, detail_len, "%s %s takes no request body; send none", op->method, op->path);
            return KUMO__CHECK_UNSUPPORTED;
        }
        const kumo__slice *h = header_get(req, "content-type");
        if (!h) {
            static const char octet[] = "application/octet-stream";
            kumo__mtype_parse(octet, sizeof octet - 1, &ct);
            mp = best_media(c->body, c->nbody, &ct);
            if (!mp) {
                detail_set(detail, detail_len, "the request body has no Content-Type; use one of: %s", c->body_list);
                return KUMO__CHECK_UNSUPPORTED;
            }
        } else if (kumo__mtype_parse(h->base, h->len, &ct) < 0) {
            detail_set(detail, detail_len, "Content-Type '%.*s' is not a media type; use one of: %s",
                       (int)(h->len > 100 ? 100 : h->len), h->base, c->body_list);
            return KUMO__CHECK_UNSUPPORTED;
        } else if (!(mp = best_media(c->body, c->nbody, &ct))) {
            detail_set(detail, detail_len, "Content-Type '%.*s/%.*s' is not accepted; use one of: %s",
                       (int)(ct.type.len > 60 ? 60 : ct.type.len), ct.type.base,
                       (int)(ct.subtype.len > 60 ? 60 : ct.subtype.len), ct.subtype.base, c->body_list);
            return KUMO__CHECK_UNSUPPORTED;
        }
        out->media = mp->media;
    }

    /* 406: what the client accepts among the declared responses */
    if (c->noffers) {
        kumo__slice acc[8];
        size_t nacc = 0;
        for (size_t i = 0; i < req->nheaders && nacc < 8; i++)
            if (kumo__slice_ieq(req->headers[i].name, "accept"))
                acc[nacc++] = req->headers[i].value;
        if (nacc) {
            int k = kumo__accept_choose(acc, nacc, c->offers, c->noffers);
            if (k < 0) {
                detail_set(detail, detail_len, "nothing acceptable (Accept: %.*s); %s %s answers with: %s",
                           (int)(acc[0].len > 100 ? 100 : acc[0].len), acc[0].base, op->method, op->path,
                           c->offer_list);
                return KUMO__CHECK_NOT_ACCEPTABLE;
            }
            out->response_type = c->offer_names[k];
        }
    }

    /* 400: parameters and body */
    int rc = check_params(c, req, out, violations);
    if (rc < 0)
        return rc;
    if (!has_body) {
        if (op->nbody && op->body_required &&
            add_violation(violations, "/body", NULL, "a request body is required") < 0)
            return -ENOMEM;
    } else {
        rc = read_body(req, mp, &ct, out, violations);
        if (rc < 0)
            return rc;
        if (rc == 0 && (rc = validate(mp->schema, out->body, KUMO__DIR_REQUEST, "/body", violations)) < 0)
            return rc;
    }
    return violations->count > before || violations->truncated ? KUMO__CHECK_INVALID : KUMO__CHECK_OK;
}

/* ---- response ------------------------------------------------------------------------- */

static const resp_plan *find_response(const kumo__opcheck *c, int status)
{
    char exact[16], range[4];
    snprintf(exact, sizeof exact, "%d", status);
    snprintf(range, sizeof range, "%dXX", status / 100 % 10);
    const resp_plan *r_range = NULL, *r_default = NULL;
    for (size_t i = 0; i < c->nresp; i++) {
        const char *s = c->resp[i].resp->status;
        if (strcmp(s, exact) == 0)
            return &c->resp[i];
        if (strcasecmp(s, range) == 0 && !r_range)
            r_range = &c->resp[i];
        if (strcmp(s, "default") == 0)
            r_default = &c->resp[i];
    }
    return r_range ? r_range : r_default;
}

int kumo__opcheck_response(const kumo__opcheck *c, int status, kumo__slice content_type, kumo__slice body,
                           kumo__violations *violations)
{
    size_t before = violations->count;
    int rc = 0;
    if (c->nresp == 0)
        return 0;
    const resp_plan *rp = find_response(c, status);
    if (!rp) {
        const char *names[64];
        size_t n = 0;
        for (size_t i = 0; i < c->nresp && n < 64; i++)
            names[n++] = c->resp[i].resp->status;
        char *list = strjoin_types(names, n);
        rc = add_violation(violations, "/status", NULL, "%d is not a declared response; declared: %s", status,
                           list ? list : "?");
        free(list);
        goto out;
    }
    const kumo__response *r = rp->resp;
    if (rp->ncontent == 0) {
        if (body.len > 0)
            rc = add_violation(violations, "/body", NULL, "response %s declares no content, yet the body has %zu bytes",
                               r->status, body.len);
        goto out;
    }
    if (content_type.len == 0) {
        if (body.len > 0)
            rc = add_violation(violations, "/header/content-type", NULL, "is missing; response %s declares content",
                               r->status);
        goto out;
    }
    kumo__mtype ct;
    const media_plan *mp = NULL;
    if (kumo__mtype_parse(content_type.base, content_type.len, &ct) == 0)
        mp = best_media(rp->content, rp->ncontent, &ct);
    if (!mp) {
        const char *names[64];
        size_t n = 0;
        for (size_t i = 0; i < rp->ncontent && n < 64; i++)
            names[n++] = rp->content[i].media->type;
        char *list = strjoin_types(names, n);
        rc = add_violation(
            violations, "/header/content-type", NULL, "'%.*s' is not a declared type of response %s; declared: %s",
            (int)(content_type.len > 100 ? 100 : content_type.len), content_type.base, r->status, list ? list : "?");
        free(list);
        goto out;
    }
    if (!mp->schema || !kumo__mtype_is_json(&ct))
        goto out;
    json_error_t je;
    json_t *inst = json_loadb(body.base ? body.base : "", body.len, JSON_DECODE_ANY, &je);
    if (!inst) {
        rc = add_violation(violations, "/body", mp->media->schema_location,
                           "is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        goto out;
    }
    rc = validate(mp->schema, inst, KUMO__DIR_RESPONSE, "/body", violations);
    json_decref(inst);
out:
    if (rc < 0)
        return rc;
    return violations->count > before ? 1 : 0;
}
