/*
 * swagger2_write.c: OpenAPI 3.x -> Swagger 2.0 (see swagger2_write.h), for the gcp
 * target's API Gateway config (target_gcp.c).
 *
 * The walk reads the raw documents through the same docset the loader
 * uses (src/openapi/docset.h), so every $ref is resolved exactly as `kumo
 * up` resolves it and every error can name the file, line and column of
 * the construct plus its JSON pointer. Schemas reached by a $ref become
 * definitions (components/schemas/NAME keeps NAME; a schema elsewhere, in
 * another file say, gets a name made from its location); parameters,
 * request bodies, responses and headers are inlined, since Swagger 2.0's
 * parameters and headers cannot $ref a schema.
 *
 * Function units validate every request against the original document
 * (kumo-host loads it), so a schema keyword with no Swagger 2.0 form
 * (oneOf, anyOf, not, writeOnly, deprecated) is kept as an x- extension in
 * bodies and responses rather than refused: the gateway's copy is
 * documentation. In a parameter, whose schema is its type, oneOf and
 * anyOf cannot be kept and are errors.
 */
#include "deploy/swagger2_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openapi/docset.h"

#define DEPTH_MAX 64

typedef struct sw {
    kumo__docset *ds;
    kumo__error *err;
    int v31; /* the input is OpenAPI 3.1 */
    int oom;
    json_t *defs;      /* the output's definitions */
    json_t *def_names; /* location string -> definition name */
} sw;

/* ---- small helpers ------------------------------------------------------- */

/* Sets o[k] = v (v consumed); marks memory exhaustion instead of failing
 * at each call, checked once per object built. */
static void put(sw *c, json_t *o, const char *k, json_t *v)
{
    if (v == NULL || json_object_set_new(o, k, v) < 0)
        c->oom = 1;
}

static void append(sw *c, json_t *a, json_t *v)
{
    if (v == NULL || json_array_append_new(a, v) < 0)
        c->oom = 1;
}

static json_t *oom(sw *c)
{
    kumo__error_set(c->err, -ENOMEM, "converting to Swagger 2.0: out of memory");
    return NULL;
}

/* "file:line:col: /pointer: message" at node (or at key `key` of node when
 * key is given: keys and shared singletons carry no position). */
static json_t *fail(sw *c, const kumo__loc *loc, const json_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static json_t *fail(sw *c, const kumo__loc *loc, const json_t *node, const char *key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kumo__ptrbuf p = loc->ptr;
    if (key)
        kumo__ptrbuf_push(&p, key, strlen(key));
    const char *where = p.len ? p.buf : "/";
    if (key)
        kumo__doc_key_error(c->err, loc->doc, node, key, "%s: %s", where, msg);
    else
        kumo__doc_error(c->err, loc->doc, node, "%s: %s", where, msg);
    return NULL;
}

static kumo__loc sub(const kumo__loc *loc, const char *token)
{
    kumo__loc l = *loc;
    kumo__ptrbuf_push(&l.ptr, token, strlen(token));
    return l;
}

static kumo__loc sub_index(const kumo__loc *loc, size_t i)
{
    kumo__loc l = *loc;
    kumo__ptrbuf_push_index(&l.ptr, i);
    return l;
}

static int is_ext(const char *key)
{
    return strncmp(key, "x-", 2) == 0;
}

/* Copies the x- extensions of `from` into `to`. */
static void copy_ext(sw *c, json_t *to, const json_t *from)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)from, k, v)
    {
        if (is_ext(k))
            put(c, to, k, json_deep_copy(v));
    }
}

static void copy_keys(sw *c, json_t *to, const json_t *from, const char *const *keys)
{
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(from, keys[i]);
        if (v)
            put(c, to, keys[i], json_deep_copy(v));
    }
}

/* ---- schemas ------------------------------------------------------------- */

static json_t *schema(sw *c, json_t *node, kumo__loc loc, int in_param, int depth);

/* Keywords a Swagger 2.0 Schema Object has, copied as they are. */
static const char *const plain_keys[] = {"title",    "description", "default",       "multipleOf",    "maximum",
                                         "minimum",  "maxLength",   "minLength",     "pattern",       "maxItems",
                                         "minItems", "uniqueItems", "maxProperties", "minProperties", "required",
                                         "enum",     "format",      "xml",           "externalDocs",  "readOnly",
                                         "example",  NULL};

/* JSON Schema 2020-12 keywords OpenAPI 3.1 allows that neither Swagger
 * 2.0 nor an x- extension can carry with their meaning. */
static const char *const v31_only[] = {"prefixItems",
                                       "$defs",
                                       "if",
                                       "then",
                                       "else",
                                       "dependentSchemas",
                                       "dependentRequired",
                                       "unevaluatedProperties",
                                       "unevaluatedItems",
                                       "contains",
                                       "minContains",
                                       "maxContains",
                                       "propertyNames",
                                       "patternProperties",
                                       "$anchor",
                                       "$dynamicRef",
                                       "$dynamicAnchor",
                                       "$id",
                                       "$schema",
                                       "contentMediaType",
                                       "contentEncoding",
                                       "contentSchema",
                                       NULL};

/* The definition name for the schema at *to (reached by a $ref): NAME for
 * the main document's /components/schemas/NAME, else one made from the
 * location. Converts the schema the first time. Borrowed from c->def_names. */
static const char *definition(sw *c, json_t *target, const kumo__loc *to, int depth)
{
    char *where = kumo__docset_location(c->ds, to);
    if (where == NULL) {
        oom(c);
        return NULL;
    }
    json_t *known = json_object_get(c->def_names, where);
    if (known) {
        free(where);
        return json_string_value(known);
    }
    char name[512];
    const char *prefix = "/components/schemas/";
    if (to->doc == kumo__docset_main(c->ds) && strncmp(to->ptr.buf, prefix, strlen(prefix)) == 0 &&
        strchr(to->ptr.buf + strlen(prefix), '/') == NULL) {
        /* unescape ~1 and ~0 */
        size_t n = 0;
        for (const char *s = to->ptr.buf + strlen(prefix); *s && n + 1 < sizeof name; s++) {
            if (s[0] == '~' && (s[1] == '0' || s[1] == '1')) {
                name[n++] = s[1] == '1' ? '/' : '~';
                s++;
            } else {
                name[n++] = *s;
            }
        }
        name[n] = '\0';
    } else {
        size_t n = 0;
        for (const char *s = where; *s && n + 1 < sizeof name; s++) {
            if (n == 0 && *s == '/')
                continue;
            name[n++] =
                (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *s) && *s) ? *s : '_';
        }
        name[n] = '\0';
    }
    /* the same name from another location: number it */
    char unique[560];
    snprintf(unique, sizeof unique, "%s", name);
    for (int i = 2; json_object_get(c->defs, unique); i++)
        snprintf(unique, sizeof unique, "%s_%d", name, i);
    if (json_object_set_new(c->def_names, where, json_string(unique)) < 0 ||
        json_object_set_new(c->defs, unique, json_object()) < 0) {
        free(where);
        oom(c);
        return NULL;
    }
    json_t *s = schema(c, target, *to, 0, depth + 1);
    if (s == NULL) {
        free(where);
        return NULL;
    }
    put(c, c->defs, unique, s);
    const char *out = json_string_value(json_object_get(c->def_names, where));
    free(where);
    return out;
}

static json_t *schema_list(sw *c, json_t *list, const kumo__loc *loc, const char *key, int in_param, int depth)
{
    kumo__loc l = sub(loc, key);
    if (!json_is_array(list))
        return fail(c, &l, list, NULL, "%s must be a list of schemas", key);
    json_t *out = json_array();
    if (out == NULL)
        return oom(c);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        json_t *s = schema(c, v, sub_index(&l, i), in_param, depth + 1);
        if (s == NULL) {
            json_decref(out);
            return NULL;
        }
        append(c, out, s);
    }
    return out;
}

/* A $ref: to a definition (converted the first time), or inlined in a
 * parameter (Swagger 2.0 parameters cannot $ref). */
static json_t *schema_ref(sw *c, json_t *node, json_t *ref, kumo__loc loc, int in_param, int depth)
{
    kumo__loc to;
    json_t *target = kumo__docset_resolve(c->ds, &loc, node, json_string_value(ref), &to, c->err);
    if (target == NULL)
        return NULL;
    if (in_param)
        return schema(c, target, to, 1, depth + 1);
    const char *name = definition(c, target, &to, depth);
    if (name == NULL)
        return NULL;
    char buf[600];
    snprintf(buf, sizeof buf, "#/definitions/%s", name);
    json_t *r = json_pack("{s:s}", "$ref", buf);
    if (r == NULL)
        return oom(c);
    /* 3.1 applies a $ref's siblings; 2.0 ignores them: keep them with allOf */
    int siblings = 0;
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v)
    {
        siblings |= strcmp(k, "$ref") != 0 && strcmp(k, "description") != 0 && strcmp(k, "summary") != 0 && !is_ext(k);
    }
    if (!c->v31 || !siblings)
        return r;
    json_t *rest = json_deep_copy(node), *all = json_array();
    if (rest == NULL || all == NULL) {
        json_decref(rest);
        json_decref(all);
        json_decref(r);
        return oom(c);
    }
    json_object_del(rest, "$ref");
    json_t *rs = schema(c, rest, loc, 0, depth + 1);
    json_decref(rest);
    if (rs == NULL) {
        json_decref(all);
        json_decref(r);
        return NULL;
    }
    append(c, all, r);
    append(c, all, rs);
    return json_pack("{s:o}", "allOf", all);
}

/* ---- one converter per Schema Object keyword that needs more than a copy:
 * each writes keyword k (value v, of schema `node` at loc) into `out`;
 * 0, or -1 with c->err set. */

typedef struct keyword_ctx {
    sw *c;
    json_t *out, *node;
    const kumo__loc *loc;
    int in_param, depth;
} keyword_ctx;

typedef int (*keyword_fn)(keyword_ctx *x, const char *k, json_t *v);

static int kw_type(keyword_ctx *x, const char *k, json_t *v)
{
    if (json_is_string(v)) {
        put(x->c, x->out, "type", json_incref(v));
        return 0;
    }
    if (!json_is_array(v)) /* not a type: nothing to carry */
        return 0;
    /* 3.1: [string, "null"] */
    json_t *only = NULL;
    size_t i, others = 0;
    json_t *t;
    json_array_foreach(v, i, t)
    {
        if (json_is_string(t) && strcmp(json_string_value(t), "null") == 0) {
            put(x->c, x->out, "x-nullable", json_true());
        } else {
            only = t;
            others++;
        }
    }
    if (others != 1 || !json_is_string(only)) {
        fail(x->c, x->loc, x->node, k,
             "a type list with %s than one type other than \"null\" has no Swagger 2.0 form; "
             "use one type (and oneOf in a body schema)",
             others ? "more" : "less");
        return -1;
    }
    put(x->c, x->out, "type", json_incref(only));
    return 0;
}

static int kw_nullable(keyword_ctx *x, const char *k, json_t *v)
{
    if (json_is_true(v))
        put(x->c, x->out, "x-nullable", json_true());
    return 0;
}

static int kw_const(keyword_ctx *x, const char *k, json_t *v)
{
    json_t *e = json_array();
    append(x->c, e, json_deep_copy(v));
    put(x->c, x->out, "enum", e);
    return 0;
}

/* 3.1: a list; 2.0 has one example */
static int kw_examples(keyword_ctx *x, const char *k, json_t *v)
{
    if (json_is_array(v) && json_array_size(v) && !json_object_get(x->node, "example"))
        put(x->c, x->out, "example", json_deep_copy(json_array_get(v, 0)));
    return 0;
}

/* 3.1: the bound itself; 3.0: a boolean beside minimum/maximum */
static int kw_exclusive(keyword_ctx *x, const char *k, json_t *v)
{
    if (json_is_number(v)) {
        put(x->c, x->out, strcmp(k, "exclusiveMinimum") == 0 ? "minimum" : "maximum", json_incref(v));
        put(x->c, x->out, k, json_true());
    } else {
        put(x->c, x->out, k, json_incref(v));
    }
    return 0;
}

/* oneOf, anyOf, not: kept as x-oneOf... in bodies (documentation only) */
static int kw_composition(keyword_ctx *x, const char *k, json_t *v)
{
    if (x->in_param) {
        fail(x->c, x->loc, x->node, k,
             "a parameter's schema with %s has no Swagger 2.0 form (parameters carry one type); "
             "give the parameter one type, or move the value into the request body",
             k);
        return -1;
    }
    char ext[16];
    snprintf(ext, sizeof ext, "x-%s", k);
    json_t *s = strcmp(k, "not") == 0 ? schema(x->c, v, sub(x->loc, k), 0, x->depth + 1)
                                      : schema_list(x->c, v, x->loc, k, 0, x->depth);
    if (s == NULL)
        return -1;
    put(x->c, x->out, ext, s);
    return 0;
}

static int kw_all_of(keyword_ctx *x, const char *k, json_t *v)
{
    if (x->in_param) {
        fail(x->c, x->loc, x->node, k,
             "a parameter's schema with allOf has no Swagger 2.0 form; write the parameter's "
             "type and constraints directly");
        return -1;
    }
    json_t *s = schema_list(x->c, v, x->loc, k, 0, x->depth);
    if (s == NULL)
        return -1;
    put(x->c, x->out, k, s);
    return 0;
}

static int kw_items(keyword_ctx *x, const char *k, json_t *v)
{
    if (json_is_array(v)) {
        fail(x->c, x->loc, x->node, k,
             "items must be one schema (a list of schemas is a tuple, which Swagger 2.0 cannot express)");
        return -1;
    }
    json_t *s = schema(x->c, v, sub(x->loc, k), x->in_param, x->depth + 1);
    if (s == NULL)
        return -1;
    put(x->c, x->out, k, s);
    return 0;
}

static int kw_properties(keyword_ctx *x, const char *k, json_t *v)
{
    json_t *props = json_object();
    kumo__loc pl = sub(x->loc, k);
    const char *pn;
    json_t *pv;
    json_object_foreach(v, pn, pv)
    {
        json_t *s = schema(x->c, pv, sub(&pl, pn), x->in_param, x->depth + 1);
        if (s == NULL) {
            json_decref(props);
            return -1;
        }
        put(x->c, props, pn, s);
    }
    put(x->c, x->out, k, props);
    return 0;
}

static int kw_additional_properties(keyword_ctx *x, const char *k, json_t *v)
{
    json_t *s = json_is_boolean(v) ? json_incref(v) : schema(x->c, v, sub(x->loc, k), x->in_param, x->depth + 1);
    if (s == NULL)
        return -1;
    put(x->c, x->out, k, s);
    return 0;
}

/* 2.0 names the property only; the mapping is kept as an extension */
static int kw_discriminator(keyword_ctx *x, const char *k, json_t *v)
{
    json_t *pn = json_is_object(v) ? json_object_get(v, "propertyName") : v;
    if (json_is_string(pn))
        put(x->c, x->out, k, json_incref(pn));
    if (json_is_object(v) && json_object_get(v, "mapping"))
        put(x->c, x->out, "x-discriminator-mapping", json_deep_copy(json_object_get(v, "mapping")));
    return 0;
}

/* writeOnly, deprecated: no 2.0 keyword, kept as x-writeOnly... */
static int kw_as_extension(keyword_ctx *x, const char *k, json_t *v)
{
    char ext[16];
    snprintf(ext, sizeof ext, "x-%s", k);
    put(x->c, x->out, ext, json_incref(v));
    return 0;
}

static const struct {
    const char *keyword;
    keyword_fn convert;
} keyword_converters[] = {
    {"type", kw_type},
    {"nullable", kw_nullable},
    {"const", kw_const},
    {"examples", kw_examples},
    {"exclusiveMinimum", kw_exclusive},
    {"exclusiveMaximum", kw_exclusive},
    {"oneOf", kw_composition},
    {"anyOf", kw_composition},
    {"not", kw_composition},
    {"allOf", kw_all_of},
    {"items", kw_items},
    {"properties", kw_properties},
    {"additionalProperties", kw_additional_properties},
    {"discriminator", kw_discriminator},
    {"writeOnly", kw_as_extension},
    {"deprecated", kw_as_extension},
};

/* Converts a Schema Object. in_param: it is a parameter's or header's
 * schema, so refs are inlined (Swagger 2.0 parameters cannot $ref) and
 * composition is an error. Keywords in plain_keys are copied; those with
 * a converter are converted; anything else (a $comment, an unknown word)
 * has no meaning to carry. */
static json_t *schema(sw *c, json_t *node, kumo__loc loc, int in_param, int depth)
{
    if (depth > DEPTH_MAX)
        return fail(c, &loc, node, NULL, "schemas nest deeper than %d (a cycle of $refs in a parameter?)", DEPTH_MAX);
    if (json_is_true(node))
        return json_object();
    if (!json_is_object(node))
        return fail(c, &loc, node, NULL, "a schema must be a mapping%s",
                    json_is_false(node) ? " (a false schema has no Swagger 2.0 form)" : "");
    json_t *ref = json_object_get(node, "$ref");
    if (json_is_string(ref))
        return schema_ref(c, node, ref, loc, in_param, depth);
    for (int i = 0; v31_only[i]; i++) {
        if (json_object_get(node, v31_only[i]))
            return fail(c, &loc, node, v31_only[i],
                        "'%s' (OpenAPI 3.1 / JSON Schema 2020-12) has no Swagger 2.0 form; express the schema "
                        "without it",
                        v31_only[i]);
    }
    json_t *out = json_object();
    if (out == NULL)
        return oom(c);
    keyword_ctx x = {.c = c, .out = out, .node = node, .loc = &loc, .in_param = in_param, .depth = depth};
    copy_keys(c, out, node, plain_keys);
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v)
    {
        if (is_ext(k)) {
            put(c, out, k, json_deep_copy(v));
            continue;
        }
        for (size_t i = 0; i < sizeof keyword_converters / sizeof keyword_converters[0]; i++) {
            if (strcmp(k, keyword_converters[i].keyword) == 0) {
                if (keyword_converters[i].convert(&x, k, v) < 0)
                    goto fail;
                break;
            }
        }
    }
    if (c->oom) {
        oom(c);
        goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* ---- parameters and headers ---------------------------------------------- */

/* Keys of a Swagger 2.0 parameter (or header, or Items Object) that come
 * from its schema. */
static const char *const param_schema_keys[] = {
    "type",     "format",           "items",     "default",    "maximum",    "exclusiveMaximum",
    "minimum",  "exclusiveMinimum", "maxLength", "minLength",  "pattern",    "maxItems",
    "minItems", "uniqueItems",      "enum",      "multipleOf", "x-nullable", NULL};

/* A converted (inlined) schema -> the fields of a parameter, header or
 * Items Object in `to`. Object types and missing types are errors. */
static int inline_schema(sw *c, json_t *to, json_t *s, const kumo__loc *loc, json_t *at, const char *what,
                         const char *name, int file_ok)
{
    const char *type = json_string_value(json_object_get(s, "type"));
    if (type == NULL || strcmp(type, "object") == 0 || strcmp(type, "null") == 0) {
        fail(c, loc, at, NULL, "%s '%s' %s; Swagger 2.0 %ss are strings, numbers, integers, booleans or arrays of them",
             what, name, type ? "is an object" : "has a schema without a type", what);
        return -EINVAL;
    }
    const char *format = json_string_value(json_object_get(s, "format"));
    if (file_ok && strcmp(type, "string") == 0 && format && strcmp(format, "binary") == 0) {
        put(c, to, "type", json_string("file"));
        return 0;
    }
    for (int i = 0; param_schema_keys[i]; i++) {
        json_t *v = json_object_get(s, param_schema_keys[i]);
        if (v == NULL)
            continue;
        if (strcmp(param_schema_keys[i], "items") == 0) {
            json_t *items = json_object();
            if (items == NULL || inline_schema(c, items, v, loc, at, what, name, 0) < 0) {
                json_decref(items);
                return c->oom ? -ENOMEM : -EINVAL;
            }
            put(c, to, "items", items);
        } else {
            put(c, to, param_schema_keys[i], json_incref(v));
        }
    }
    return c->oom ? -ENOMEM : 0;
}

/* style + explode -> collectionFormat, for an array parameter. */
static int collection_format(sw *c, json_t *out, json_t *p, const kumo__loc *loc, const char *in, const char *name)
{
    const char *style = json_string_value(json_object_get(p, "style"));
    json_t *ex = json_object_get(p, "explode");
    int is_array = json_is_string(json_object_get(out, "type")) &&
                   strcmp(json_string_value(json_object_get(out, "type")), "array") == 0;
    if (style == NULL)
        style = strcmp(in, "query") == 0 ? "form" : "simple";
    int explode = ex ? json_is_true(ex) : strcmp(style, "form") == 0;
    if (strcmp(style, "deepObject") == 0 || strcmp(style, "label") == 0 || strcmp(style, "matrix") == 0) {
        fail(c, loc, p, "style", "parameter '%s': style %s has no Swagger 2.0 form; use %s", name, style,
             strcmp(in, "query") == 0 ? "form" : "simple");
        return -EINVAL;
    }
    if (!is_array)
        return 0;
    const char *cf = NULL;
    if (strcmp(style, "form") == 0)
        cf = explode ? "multi" : "csv";
    else if (strcmp(style, "simple") == 0)
        cf = "csv";
    else if (strcmp(style, "spaceDelimited") == 0)
        cf = "ssv";
    else if (strcmp(style, "pipeDelimited") == 0)
        cf = "pipes";
    if (cf == NULL || (explode && strcmp(style, "form") != 0)) {
        fail(c, loc, p, "style", "parameter '%s': style %s%s has no Swagger 2.0 collectionFormat", name, style,
             explode ? " with explode: true" : "");
        return -EINVAL;
    }
    put(c, out, "collectionFormat", json_string(cf));
    return 0;
}

static json_t *parameter(sw *c, json_t *node, kumo__loc loc)
{
    if ((node = kumo__docset_deref(c->ds, node, &loc, "parameter", c->err)) == NULL)
        return NULL;
    const char *name = json_string_value(json_object_get(node, "name"));
    const char *in = json_string_value(json_object_get(node, "in"));
    if (name == NULL || in == NULL)
        return fail(c, &loc, node, NULL, "a parameter needs name: and in:");
    if (strcmp(in, "cookie") == 0)
        return fail(c, &loc, node, "in",
                    "parameter '%s' is in: cookie, which Swagger 2.0 does not have; read it from a header or "
                    "the query instead",
                    name);
    if (strcmp(in, "path") && strcmp(in, "query") && strcmp(in, "header"))
        return fail(c, &loc, node, "in", "parameter '%s': in must be path, query, header or cookie", name);
    if (json_object_get(node, "content"))
        return fail(c, &loc, node, "content",
                    "parameter '%s' has content: (a media type), which Swagger 2.0 parameters cannot carry; give "
                    "it a schema: with a type",
                    name);
    json_t *raw = json_object_get(node, "schema");
    if (raw == NULL)
        return fail(c, &loc, node, NULL, "parameter '%s' has no schema; add one", name);
    json_t *s = schema(c, raw, sub(&loc, "schema"), 1, 0);
    if (s == NULL)
        return NULL;
    json_t *out = json_object();
    if (out == NULL) {
        json_decref(s);
        return oom(c);
    }
    put(c, out, "name", json_string(name));
    put(c, out, "in", json_string(in));
    static const char *const keys[] = {"description", "required", "allowEmptyValue", NULL};
    copy_keys(c, out, node, keys);
    kumo__loc sl = sub(&loc, "schema");
    if (inline_schema(c, out, s, &sl, raw, "parameter", name, 0) < 0 ||
        collection_format(c, out, node, &loc, in, name) < 0) {
        json_decref(s);
        json_decref(out);
        return c->oom ? oom(c) : NULL;
    }
    json_t *ex = json_object_get(node, "example");
    if (ex == NULL)
        ex = json_object_get(s, "example");
    if (ex)
        put(c, out, "x-example", json_deep_copy(ex));
    if (json_is_true(json_object_get(node, "deprecated")))
        put(c, out, "x-deprecated", json_true());
    copy_ext(c, out, node);
    json_decref(s);
    if (c->oom) {
        json_decref(out);
        return oom(c);
    }
    return out;
}

/* Converted parameters of `holder` appended to `list`. */
static int parameters(sw *c, json_t *holder, const kumo__loc *loc, json_t *list)
{
    json_t *params = json_object_get(holder, "parameters");
    if (params == NULL)
        return 0;
    if (!json_is_array(params)) {
        fail(c, loc, holder, "parameters", "parameters must be a list");
        return -EINVAL;
    }
    kumo__loc pl = sub(loc, "parameters");
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        json_t *out = parameter(c, p, sub_index(&pl, i));
        if (out == NULL)
            return c->err->code ? c->err->code : -EINVAL;
        append(c, list, out);
    }
    return 0;
}

static json_t *header(sw *c, json_t *node, kumo__loc loc, const char *name)
{
    if ((node = kumo__docset_deref(c->ds, node, &loc, "header", c->err)) == NULL)
        return NULL;
    if (json_object_get(node, "content"))
        return fail(c, &loc, node, "content",
                    "header '%s' has content: (a media type), which Swagger 2.0 headers cannot carry; give it a "
                    "schema: with a type",
                    name);
    json_t *out = json_object();
    if (out == NULL)
        return oom(c);
    json_t *raw = json_object_get(node, "schema");
    if (raw) {
        json_t *s = schema(c, raw, sub(&loc, "schema"), 1, 0);
        kumo__loc sl = sub(&loc, "schema");
        if (s == NULL || inline_schema(c, out, s, &sl, raw, "header", name, 0) < 0) {
            json_decref(s);
            json_decref(out);
            return c->oom ? oom(c) : NULL;
        }
        json_decref(s);
    } else {
        put(c, out, "type", json_string("string"));
    }
    json_t *d = json_object_get(node, "description");
    if (d)
        put(c, out, "description", json_incref(d));
    copy_ext(c, out, node);
    return out;
}

/* ---- request bodies and responses ---------------------------------------- */

static int is_form(const char *type)
{
    return strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0 ||
           strncasecmp(type, "multipart/form-data", 19) == 0;
}

/* Adds the media types of `content` to the list `set` (once each). */
static void add_media_types(sw *c, json_t *set, json_t *content)
{
    const char *mt;
    json_t *m;
    json_object_foreach(content, mt, m)
    {
        int seen = 0;
        size_t i;
        json_t *v;
        json_array_foreach(set, i, v)
        {
            seen |= strcasecmp(json_string_value(v), mt) == 0;
        }
        if (!seen)
            append(c, set, json_string(mt));
    }
}

/* The one schema every media type of `content` shares (NULL: none has
 * one, *same = 1); *same = 0 and err set when two differ. */
static json_t *shared_schema(sw *c, json_t *content, const kumo__loc *loc, const char *what, int *same)
{
    json_t *first = NULL;
    const char *first_type = NULL, *mt;
    json_t *m;
    int n = 0;
    *same = 1;
    json_object_foreach(content, mt, m)
    {
        json_t *s = json_object_get(m, "schema");
        if (n++ == 0) {
            first = s;
            first_type = mt;
            continue;
        }
        if ((first == NULL) != (s == NULL) || (s && !json_equal(first, s))) {
            *same = 0;
            kumo__loc ml = sub(loc, mt);
            fail(c, &ml, m, s ? "schema" : NULL,
                 "%s media types %s and %s have different schemas; Swagger 2.0 has one schema for every media "
                 "type of a%s: give them the same schema or keep one media type",
                 what, first_type, mt, strcmp(what, "request") == 0 ? " body" : " response");
            return NULL;
        }
    }
    return first;
}

/* requestBody -> a body parameter or formData parameters appended to
 * `params`, and the operation's consumes. */
static int request_body(sw *c, json_t *node, kumo__loc loc, json_t *params, json_t *op_out)
{
    if ((node = kumo__docset_deref(c->ds, node, &loc, "request body", c->err)) == NULL)
        return -EINVAL;
    json_t *content = json_object_get(node, "content");
    if (!json_is_object(content) || json_object_size(content) == 0) {
        fail(c, &loc, node, NULL, "a request body needs content: with at least one media type");
        return -EINVAL;
    }
    kumo__loc cl = sub(&loc, "content");
    int forms = 0, others = 0;
    const char *mt;
    json_t *m;
    json_object_foreach(content, mt, m)
    {
        if (is_form(mt))
            forms++;
        else
            others++;
    }
    if (forms && others) {
        fail(c, &cl, content, NULL,
             "a request body with both form and other media types has no Swagger 2.0 form (formData "
             "parameters or one body parameter, not both); keep one kind");
        return -EINVAL;
    }
    int same;
    json_t *raw = shared_schema(c, content, &cl, "request", &same);
    if (!same)
        return -EINVAL;
    json_t *consumes = json_array();
    if (consumes == NULL)
        return -ENOMEM;
    add_media_types(c, consumes, content);
    put(c, op_out, "consumes", consumes);
    int required = json_is_true(json_object_get(node, "required"));
    json_t *first_media = json_object_iter_value(json_object_iter(content));
    kumo__loc sl = sub(&cl, json_object_iter_key(json_object_iter(content)));
    kumo__ptrbuf_push(&sl.ptr, "schema", 6);
    if (!forms) {
        json_t *s = raw ? schema(c, raw, sl, 0, 0) : json_object();
        if (s == NULL)
            return -EINVAL;
        json_t *p = json_object();
        if (p == NULL) {
            json_decref(s);
            return -ENOMEM;
        }
        put(c, p, "name", json_string("body"));
        put(c, p, "in", json_string("body"));
        if (json_object_get(node, "description"))
            put(c, p, "description", json_incref(json_object_get(node, "description")));
        put(c, p, "required", json_boolean(required));
        put(c, p, "schema", s);
        append(c, params, p);
        return c->oom ? -ENOMEM : 0;
    }
    /* forms: one formData parameter per property of an object schema */
    (void)first_media;
    kumo__loc ol = sl;
    json_t *obj = raw ? kumo__docset_deref(c->ds, raw, &ol, "schema", c->err) : NULL;
    if (raw && obj == NULL)
        return -EINVAL;
    json_t *props = json_object_get(obj, "properties");
    if (!json_is_object(props) || json_object_get(obj, "allOf") || json_object_get(obj, "oneOf") ||
        json_object_get(obj, "anyOf")) {
        fail(c, raw ? &ol : &cl, raw ? obj : content, NULL,
             "a form body becomes Swagger 2.0 formData parameters, one per property: give it an object schema "
             "with properties: (no allOf, oneOf or anyOf)");
        return -EINVAL;
    }
    json_t *req = json_object_get(obj, "required");
    kumo__loc pl = sub(&ol, "properties");
    const char *pn;
    json_t *pv;
    json_object_foreach(props, pn, pv)
    {
        kumo__loc fl = sub(&pl, pn);
        json_t *s = schema(c, pv, fl, 1, 0);
        if (s == NULL)
            return -EINVAL;
        json_t *p = json_object();
        if (p == NULL) {
            json_decref(s);
            return -ENOMEM;
        }
        put(c, p, "name", json_string(pn));
        put(c, p, "in", json_string("formData"));
        int is_req = 0;
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r)
        {
            is_req |= json_is_string(r) && strcmp(json_string_value(r), pn) == 0;
        }
        put(c, p, "required", json_boolean(is_req));
        if (json_object_get(s, "description"))
            put(c, p, "description", json_incref(json_object_get(s, "description")));
        int rc = inline_schema(c, p, s, &fl, pv, "form field", pn, 1);
        const char *t = json_string_value(json_object_get(p, "type"));
        if (rc == 0 && t && strcmp(t, "array") == 0)
            put(c, p, "collectionFormat", json_string("multi")); /* one key per value */
        json_decref(s);
        if (rc < 0) {
            json_decref(p);
            return rc;
        }
        append(c, params, p);
    }
    return c->oom ? -ENOMEM : 0;
}

static json_t *response(sw *c, json_t *node, kumo__loc loc, json_t *produces)
{
    if ((node = kumo__docset_deref(c->ds, node, &loc, "response", c->err)) == NULL)
        return NULL;
    json_t *links = json_object_get(node, "links");
    if (json_object_size(links))
        return fail(c, &loc, node, "links",
                    "links have no Swagger 2.0 form; describe the relation in the response's description instead");
    json_t *out = json_object();
    if (out == NULL)
        return oom(c);
    json_t *d = json_object_get(node, "description");
    put(c, out, "description", d ? json_incref(d) : json_string(""));
    json_t *content = json_object_get(node, "content");
    if (json_object_size(content)) {
        kumo__loc cl = sub(&loc, "content");
        int same;
        json_t *raw = shared_schema(c, content, &cl, "response", &same);
        if (!same) {
            json_decref(out);
            return NULL;
        }
        if (raw) {
            kumo__loc sl = sub(&cl, json_object_iter_key(json_object_iter(content)));
            kumo__ptrbuf_push(&sl.ptr, "schema", 6);
            json_t *s = schema(c, raw, sl, 0, 0);
            if (s == NULL) {
                json_decref(out);
                return NULL;
            }
            const char *t = json_string_value(json_object_get(s, "type"));
            const char *f = json_string_value(json_object_get(s, "format"));
            if (t && f && strcmp(t, "string") == 0 && strcmp(f, "binary") == 0) {
                json_object_clear(s);
                put(c, s, "type", json_string("file"));
            }
            put(c, out, "schema", s);
        }
        add_media_types(c, produces, content);
        json_t *examples = json_object();
        const char *mt;
        json_t *m;
        json_object_foreach(content, mt, m)
        {
            json_t *ex = json_object_get(m, "example");
            if (ex)
                put(c, examples, mt, json_deep_copy(ex));
        }
        if (json_object_size(examples))
            put(c, out, "examples", examples);
        else
            json_decref(examples);
    }
    json_t *headers = json_object_get(node, "headers");
    if (json_object_size(headers)) {
        json_t *h = json_object();
        kumo__loc hl = sub(&loc, "headers");
        const char *hn;
        json_t *hv;
        json_object_foreach(headers, hn, hv)
        {
            json_t *one = header(c, hv, sub(&hl, hn), hn);
            if (one == NULL) {
                json_decref(h);
                json_decref(out);
                return NULL;
            }
            put(c, h, hn, one);
        }
        put(c, out, "headers", h);
    }
    copy_ext(c, out, node);
    if (c->oom) {
        json_decref(out);
        return oom(c);
    }
    return out;
}

/* ---- operations and paths ------------------------------------------------ */

static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", NULL};

static json_t *operation(sw *c, json_t *node, kumo__loc loc)
{
    if (!json_is_object(node))
        return fail(c, &loc, node, NULL, "an operation must be a mapping");
    if (json_object_size(json_object_get(node, "callbacks")))
        return fail(c, &loc, node, "callbacks",
                    "callbacks have no Swagger 2.0 form; document the callback request in the description "
                    "instead, or deploy to a target that takes OpenAPI 3 (aws, azure)");
    if (json_object_get(node, "servers"))
        return fail(c, &loc, node, "servers",
                    "an operation's own servers have no Swagger 2.0 form (one host and basePath for the whole "
                    "API); remove them");
    json_t *out = json_object();
    json_t *params = json_array(), *produces = json_array();
    if (out == NULL || params == NULL || produces == NULL)
        goto oom;
    static const char *const keys[] = {"tags",        "summary",    "description", "externalDocs",
                                       "operationId", "deprecated", "security",    NULL};
    copy_keys(c, out, node, keys);
    if (parameters(c, node, &loc, params) < 0)
        goto fail;
    json_t *body = json_object_get(node, "requestBody");
    if (body && request_body(c, body, sub(&loc, "requestBody"), params, out) < 0)
        goto fail;
    json_t *responses = json_object_get(node, "responses");
    json_t *rout = json_object();
    if (rout == NULL)
        goto oom;
    put(c, out, "responses", rout);
    kumo__loc rl = sub(&loc, "responses");
    const char *status;
    json_t *r;
    json_object_foreach(responses, status, r)
    {
        if (is_ext(status)) {
            put(c, rout, status, json_deep_copy(r));
            continue;
        }
        if (strchr(status, 'X') || strchr(status, 'x')) {
            fail(c, &rl, responses, status,
                 "status range '%s' has no Swagger 2.0 form; list the codes (e.g. 200, 201) or use default", status);
            goto fail;
        }
        json_t *one = response(c, r, sub(&rl, status), produces);
        if (one == NULL)
            goto fail;
        put(c, rout, status, one);
    }
    if (json_array_size(params))
        put(c, out, "parameters", json_incref(params));
    if (json_array_size(produces))
        put(c, out, "produces", json_incref(produces));
    copy_ext(c, out, node);
    json_decref(params);
    json_decref(produces);
    if (c->oom)
        goto oom;
    return out;
oom:
    oom(c);
fail:
    json_decref(out);
    json_decref(params);
    json_decref(produces);
    return NULL;
}

static json_t *path_item(sw *c, json_t *node, kumo__loc loc)
{
    if ((node = kumo__docset_deref(c->ds, node, &loc, "path item", c->err)) == NULL)
        return NULL;
    if (json_object_get(node, "trace"))
        return fail(c, &loc, node, "trace", "Swagger 2.0 has no trace operations; remove it");
    if (json_object_get(node, "servers"))
        return fail(c, &loc, node, "servers",
                    "a path's own servers have no Swagger 2.0 form (one host and basePath for the whole API); "
                    "remove them");
    json_t *out = json_object(), *params = json_array();
    if (out == NULL || params == NULL) {
        json_decref(out);
        json_decref(params);
        return oom(c);
    }
    if (parameters(c, node, &loc, params) < 0)
        goto fail;
    if (json_array_size(params))
        put(c, out, "parameters", json_incref(params));
    for (int i = 0; methods[i]; i++) {
        json_t *op = json_object_get(node, methods[i]);
        if (op == NULL)
            continue;
        json_t *o = operation(c, op, sub(&loc, methods[i]));
        if (o == NULL)
            goto fail;
        put(c, out, methods[i], o);
    }
    static const char *const keys[] = {"summary", "description", NULL};
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(node, keys[i]);
        char ext[32];
        snprintf(ext, sizeof ext, "x-%s", keys[i]);
        if (v)
            put(c, out, ext, json_incref(v));
    }
    copy_ext(c, out, node);
    json_decref(params);
    if (c->oom) {
        json_decref(out);
        return oom(c);
    }
    return out;
fail:
    json_decref(out);
    json_decref(params);
    return NULL;
}

/* ---- the document -------------------------------------------------------- */

/* servers[0].url, variables filled with their defaults -> host, basePath,
 * schemes. */
static int servers(sw *c, json_t *root, json_t *out, const kumo__loc *loc)
{
    json_t *list = json_object_get(root, "servers");
    json_t *first = json_array_get(list, 0);
    const char *url = json_string_value(json_object_get(first, "url"));
    if (url == NULL) {
        put(c, out, "basePath", json_string("/"));
        return 0;
    }
    char buf[1024];
    size_t n = 0;
    json_t *vars = json_object_get(first, "variables");
    for (const char *s = url; *s && n + 1 < sizeof buf;) {
        if (*s == '{') {
            const char *e = strchr(s, '}');
            if (e == NULL)
                break;
            char var[128];
            snprintf(var, sizeof var, "%.*s", (int)(e - s - 1), s + 1);
            const char *d = json_string_value(json_object_get(json_object_get(vars, var), "default"));
            if (d == NULL) {
                kumo__loc sl = sub(loc, "servers");
                sl = sub_index(&sl, 0);
                fail(c, &sl, first, "url", "server variable '%s' has no default; add variables: {%s: {default: ...}}",
                     var, var);
                return -EINVAL;
            }
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", d);
            if (n >= sizeof buf)
                n = sizeof buf - 1;
            s = e + 1;
        } else {
            buf[n++] = *s++;
        }
    }
    buf[n] = '\0';
    const char *path = buf;
    const char *sep = strstr(buf, "://");
    if (sep) {
        json_t *schemes = json_array();
        append(c, schemes, json_stringn(buf, (size_t)(sep - buf)));
        put(c, out, "schemes", schemes);
        const char *host = sep + 3, *slash = strchr(host, '/');
        put(c, out, "host", slash ? json_stringn(host, (size_t)(slash - host)) : json_string(host));
        path = slash ? slash : "/";
    } else if (strncmp(buf, "//", 2) == 0) {
        const char *host = buf + 2, *slash = strchr(host, '/');
        put(c, out, "host", slash ? json_stringn(host, (size_t)(slash - host)) : json_string(host));
        path = slash ? slash : "/";
    }
    if (*path != '/')
        path = "/";
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    put(c, out, "basePath", json_stringn(path, len));
    return 0;
}

static json_t *security_definitions(sw *c, json_t *schemes, const kumo__loc *loc)
{
    json_t *out = json_object();
    if (out == NULL)
        return oom(c);
    kumo__loc sl = sub(loc, "securitySchemes");
    const char *name;
    json_t *s;
    json_object_foreach(schemes, name, s)
    {
        kumo__loc one = sub(&sl, name);
        if ((s = kumo__docset_deref(c->ds, s, &one, "security scheme", c->err)) == NULL)
            goto fail;
        const char *type = json_string_value(json_object_get(s, "type"));
        const char *scheme = json_string_value(json_object_get(s, "scheme"));
        json_t *d = json_object();
        put(c, out, name, d);
        if (d == NULL)
            goto fail;
        if (json_object_get(s, "description"))
            put(c, d, "description", json_incref(json_object_get(s, "description")));
        copy_ext(c, d, s);
        if (type && strcmp(type, "http") == 0 && scheme && strcasecmp(scheme, "basic") == 0) {
            put(c, d, "type", json_string("basic"));
        } else if (type && strcmp(type, "apiKey") == 0) {
            const char *in = json_string_value(json_object_get(s, "in"));
            if (in == NULL || strcmp(in, "cookie") == 0) {
                fail(c, &one, s, "in", "API key '%s' in a cookie has no Swagger 2.0 form; send it in a header", name);
                goto fail;
            }
            put(c, d, "type", json_string("apiKey"));
            put(c, d, "in", json_string(in));
            put(c, d, "name", json_incref(json_object_get(s, "name")));
        } else if (type && strcmp(type, "oauth2") == 0) {
            json_t *flows = json_object_get(s, "flows");
            if (json_object_size(flows) != 1) {
                fail(c, &one, s, "flows",
                     "OAuth2 scheme '%s' has %zu flows; Swagger 2.0 has one flow per scheme: split it", name,
                     json_object_size(flows));
                goto fail;
            }
            const char *fname = json_object_iter_key(json_object_iter(flows));
            json_t *f = json_object_iter_value(json_object_iter(flows));
            const char *flow = strcmp(fname, "clientCredentials") == 0   ? "application"
                               : strcmp(fname, "authorizationCode") == 0 ? "accessCode"
                                                                         : fname;
            put(c, d, "type", json_string("oauth2"));
            put(c, d, "flow", json_string(flow));
            static const char *const keys[] = {"authorizationUrl", "tokenUrl", NULL};
            copy_keys(c, d, f, keys);
            json_t *scopes = json_object_get(f, "scopes");
            put(c, d, "scopes", scopes ? json_deep_copy(scopes) : json_object());
        } else {
            fail(c, &one, s, "type",
                 "security scheme '%s' (%s%s%s) has no Swagger 2.0 form (it has basic, apiKey and oauth2); use "
                 "one of those or an x-google-* extension",
                 name, type ? type : "no type", scheme ? " " : "", scheme ? scheme : "");
            goto fail;
        }
    }
    if (c->oom) {
        json_decref(out);
        return oom(c);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *convert(sw *c, kumo__doc *main)
{
    json_t *root = kumo__doc_root(main);
    kumo__loc loc = {.doc = main};
    kumo__ptrbuf_init(&loc.ptr);
    json_t *oas = json_object_get(root, "openapi");
    const char *v = json_string_value(oas);
    if (v == NULL || (strncmp(v, "3.0", 3) != 0 && strncmp(v, "3.1", 3) != 0))
        return fail(c, &loc, root, oas ? "openapi" : NULL, "not an OpenAPI 3.0 or 3.1 document (openapi: %s)",
                    v ? v : "missing");
    c->v31 = strncmp(v, "3.1", 3) == 0;
    if (json_object_size(json_object_get(root, "webhooks")))
        return fail(c, &loc, root, "webhooks",
                    "webhooks (OpenAPI 3.1) have no Swagger 2.0 form; remove them from the gateway's document");
    json_t *out = json_object();
    if (out == NULL)
        return oom(c);
    put(c, out, "swagger", json_string("2.0"));
    json_t *info = json_object_get(root, "info");
    json_t *io = json_deep_copy(info ? info : json_object());
    if (io) {
        json_t *sum = json_object_get(io, "summary");
        if (sum) {
            put(c, io, "x-summary", json_incref(sum));
            json_object_del(io, "summary");
        }
        json_object_del(json_object_get(io, "license"), "identifier");
    }
    put(c, out, "info", io);
    if (servers(c, root, out, &loc) < 0)
        goto fail;
    static const char *const keys[] = {"tags", "externalDocs", "security", NULL};
    copy_keys(c, out, root, keys);
    json_t *paths = json_object();
    put(c, out, "paths", paths);
    if (paths == NULL)
        goto oom;
    json_t *components = json_object_get(root, "components");
    kumo__loc cl = sub(&loc, "components");
    /* every named schema first, in the document's order */
    json_t *schemas = json_object_get(components, "schemas");
    kumo__loc schl = sub(&cl, "schemas");
    const char *name;
    json_t *s;
    json_object_foreach(schemas, name, s)
    {
        kumo__loc one = sub(&schl, name);
        if (definition(c, s, &one, 0) == NULL)
            goto fail;
    }
    kumo__loc pl = sub(&loc, "paths");
    json_t *item;
    json_object_foreach(json_object_get(root, "paths"), name, item)
    {
        if (is_ext(name)) {
            put(c, paths, name, json_deep_copy(item));
            continue;
        }
        json_t *pi = path_item(c, item, sub(&pl, name));
        if (pi == NULL)
            goto fail;
        put(c, paths, name, pi);
    }
    if (json_object_size(c->defs))
        put(c, out, "definitions", json_incref(c->defs));
    json_t *sec = json_object_get(components, "securitySchemes");
    if (json_object_size(sec)) {
        json_t *sd = security_definitions(c, sec, &cl);
        if (sd == NULL)
            goto fail;
        put(c, out, "securityDefinitions", sd);
    }
    copy_ext(c, out, root);
    if (c->oom)
        goto oom;
    return out;
oom:
    oom(c);
fail:
    json_decref(out);
    return NULL;
}

int kumo__swagger2_convert(const char *path, json_t **out, kumo__error *err)
{
    *out = NULL;
    kumo__docset *ds = NULL;
    int rc = kumo__docset_open(path, &ds, err);
    if (rc < 0)
        return rc;
    sw c = {.ds = ds, .err = err, .defs = json_object(), .def_names = json_object()};
    if (c.defs == NULL || c.def_names == NULL) {
        rc = kumo__spec_oom(err);
        goto out;
    }
    kumo__doc *main = kumo__docset_main(ds);
    json_t *root = kumo__doc_root(main);
    if (json_is_string(json_object_get(root, "swagger"))) {
        if ((*out = json_deep_copy(root)) == NULL)
            rc = kumo__spec_oom(err);
        goto out;
    }
    err->code = 0;
    *out = convert(&c, main);
    if (*out == NULL)
        rc = err->code ? err->code : -EINVAL;
out:
    json_decref(c.defs);
    json_decref(c.def_names);
    kumo__docset_free(ds);
    return rc;
}
