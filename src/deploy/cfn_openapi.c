/*
 * cfn_openapi.c: the OpenAPI document API Gateway imports as a REST API's
 * Body (see cfn.h). API Gateway reads Swagger 2.0 and OpenAPI 3.0, not 3.1,
 * and knows nothing of kumo's own x-kumo-* keys, so the project's document
 * is rewritten, never edited in place:
 *
 *   - every x-kumo-* key goes, wherever it is;
 *   - a 3.1 document becomes 3.0.3: in schemas, `type: [T, "null"]` is
 *     `type: T` + `nullable: true` (several non-null types become an anyOf),
 *     a `{type: "null"}` branch of anyOf/oneOf becomes nullable on the
 *     parent, `const` is a one-value `enum`, `examples` (an array) its first
 *     item as `example`, a numeric exclusiveMinimum/Maximum the 3.0 pair
 *     (minimum + exclusiveMinimum: true), contentEncoding base64 is `format:
 *     byte` and a bare contentMediaType `format: binary`, a `$ref` with
 *     siblings an allOf around it, `false` is `not: {}`; webhooks,
 *     jsonSchemaDialect, $comment, $schema, info.summary and
 *     license.identifier are dropped (API Gateway serves none of them);
 *   - what 3.0 has no way to say (prefixItems, if/then/else, $defs,
 *     patternProperties, unevaluated*, dependent*, contains, $id, $anchor,
 *     $dynamicRef, a schema that is only null, components.pathItems) is
 *     refused with the file, line and column, as is any $ref into another
 *     file (API Gateway takes one document) or a path item that is a $ref;
 *   - each operation gets x-amazon-apigateway-integration from the caller:
 *     the unit's function for a bound operation, a 501 mock for an unbound
 *     one (kumo up answers those with 501 too).
 *
 * The walk follows the document's structure (paths, operations,
 * parameters, media types, responses, components), so only values in a
 * schema position are treated as schemas: a property named "const" is a
 * property, not a keyword. Example and default values are copied as they
 * are. The output is built from the original nodes so errors keep
 * positions (kumo__doc_error).
 */
#include "deploy/cfn.h"
#include "base/strlist.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct conv {
    const kumo__spec *spec;
    int v31; /* converting 3.1 to 3.0 */
    json_t *(*integration)(int unit_index, void *ud);
    void *ud;
    int cors_preflight; /* http.cors: an options operation on every path that has none */
    kumo__error *err;
} conv;

static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace", NULL};

static int is_kumo_key(const char *k)
{
    return strncmp(k, "x-kumo-", 7) == 0 || strcmp(k, "x-kumo") == 0;
}

static int fail(conv *c, const json_t *node, const char *fmt, const char *a, const char *b)
{
    kumo__doc *doc = kumo__spec_doc_of(c->spec, node);
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
    kumo__doc_error(c->err, doc, node, "%s", msg);
    c->err->code = -EINVAL;
    return -EINVAL;
}

static int nomem(conv *c)
{
    kumo__error_set(c->err, -ENOMEM, "out of memory converting the OpenAPI document");
    return -ENOMEM;
}

/* Sets key to a new reference, failing cleanly on NULL. */
static int put(conv *c, json_t *obj, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        return nomem(c);
    return 0;
}

/* A deep copy without x-kumo-* keys (not inside example values: those are
 * data, copied by json_deep_copy as they are). */
static json_t *copy_plain(const json_t *in)
{
    if (json_is_object(in)) {
        json_t *out = json_object();
        const char *k;
        json_t *v;
        if (out == NULL)
            return NULL;
        json_object_foreach((json_t *)in, k, v)
        {
            if (is_kumo_key(k))
                continue;
            json_t *cv = (strcmp(k, "example") == 0 || strcmp(k, "examples") == 0 || strcmp(k, "default") == 0 ||
                          strcmp(k, "enum") == 0 || strcmp(k, "value") == 0)
                             ? json_deep_copy(v)
                             : copy_plain(v);
            if (cv == NULL || json_object_set_new(out, k, cv) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (json_is_array(in)) {
        json_t *out = json_array();
        size_t i;
        json_t *v;
        if (out == NULL)
            return NULL;
        json_array_foreach(in, i, v)
        {
            if (json_array_append_new(out, copy_plain(v)) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_deep_copy(in);
}

/* A $ref must stay inside the document. */
static int check_ref(conv *c, const json_t *obj)
{
    json_t *r = json_object_get(obj, "$ref");
    if (r == NULL)
        return 0;
    const char *s = json_string_value(r);
    if (s == NULL)
        return fail(c, r, "$ref must be a string%s%s", NULL, NULL);
    if (s[0] != '#')
        return fail(c, r,
                    "$ref '%s' points into another file; API Gateway imports one document, so move what it "
                    "refers to under components: in the main document%s",
                    s, NULL);
    return 0;
}

static json_t *conv_schema(conv *c, const json_t *in);

/* Converts each element of an array of schemas. */
static json_t *conv_schema_array(conv *c, const json_t *in)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    if (out == NULL) {
        nomem(c);
        return NULL;
    }
    json_array_foreach(in, i, v)
    {
        json_t *s = conv_schema(c, v);
        if (s == NULL || json_array_append_new(out, s) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *conv_schema_map(conv *c, const json_t *in)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    if (out == NULL) {
        nomem(c);
        return NULL;
    }
    json_object_foreach((json_t *)in, k, v)
    {
        json_t *s = conv_schema(c, v);
        if (s == NULL || json_object_set_new(out, k, s) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static int is_null_branch(const json_t *s)
{
    return json_is_object(s) && json_object_size(s) == 1 && json_is_string(json_object_get(s, "type")) &&
           strcmp(json_string_value(json_object_get(s, "type")), "null") == 0;
}

/* 3.1 keywords 3.0 has no way to express. */
static const char *const refused_31[] = {"prefixItems",
                                         "if",
                                         "then",
                                         "else",
                                         "$defs",
                                         "definitions",
                                         "patternProperties",
                                         "unevaluatedProperties",
                                         "unevaluatedItems",
                                         "dependentRequired",
                                         "dependentSchemas",
                                         "contains",
                                         "minContains",
                                         "maxContains",
                                         "propertyNames",
                                         "$id",
                                         "$anchor",
                                         "$dynamicRef",
                                         "$dynamicAnchor",
                                         "$recursiveRef",
                                         "$recursiveAnchor",
                                         "$vocabulary",
                                         NULL};

/* The 3.1 `type` keyword (string or array) applied to out. */
static int conv_type(conv *c, const json_t *in, const json_t *type, json_t *out)
{
    if (json_is_string(type)) {
        if (strcmp(json_string_value(type), "null") == 0)
            return fail(c, type,
                        "a schema that only allows null has no OpenAPI 3.0 form (API Gateway reads 3.0); use "
                        "nullable on the schema that may be null%s%s",
                        NULL, NULL);
        return put(c, out, "type", json_deep_copy(type));
    }
    if (!json_is_array(type))
        return fail(c, type, "type must be a string or an array of strings%s%s", NULL, NULL);
    json_t *types = json_array();
    int nullable = 0;
    size_t i;
    json_t *t;
    if (types == NULL)
        return nomem(c);
    json_array_foreach(type, i, t)
    {
        if (!json_is_string(t)) {
            json_decref(types);
            return fail(c, t, "type must be a string or an array of strings%s%s", NULL, NULL);
        }
        if (strcmp(json_string_value(t), "null") == 0)
            nullable = 1;
        else if (json_array_append(types, t) != 0) {
            json_decref(types);
            return nomem(c);
        }
    }
    size_t n = json_array_size(types);
    int rc = 0;
    if (n == 0) {
        rc = fail(c, type,
                  "a schema that only allows null has no OpenAPI 3.0 form (API Gateway reads 3.0); use "
                  "nullable on the schema that may be null%s%s",
                  NULL, NULL);
    } else if (n == 1) {
        rc = put(c, out, "type", json_incref(json_array_get(types, 0)));
    } else {
        if (json_object_get(in, "anyOf") != NULL) {
            rc =
                fail(c, type, "a type array beside anyOf has no OpenAPI 3.0 form; list the types as anyOf branches%s%s",
                     NULL, NULL);
        } else {
            json_t *any = json_array();
            rc = any ? 0 : nomem(c);
            json_array_foreach(types, i, t)
            {
                if (rc == 0 && json_array_append_new(any, json_pack("{s:O}", "type", t)) != 0)
                    rc = nomem(c);
            }
            if (rc == 0)
                rc = put(c, out, "anyOf", any);
            else
                json_decref(any);
        }
    }
    if (rc == 0 && nullable)
        rc = put(c, out, "nullable", json_true());
    json_decref(types);
    return rc;
}

/* anyOf/oneOf in 3.1: {type: null} branches become nullable on out. */
static int conv_branches(conv *c, const char *key, const json_t *arr, json_t *out)
{
    if (!json_is_array(arr))
        return fail(c, arr, "%s must be an array of schemas%s", key, NULL);
    json_t *kept = json_array();
    int nullable = 0;
    size_t i;
    json_t *v;
    if (kept == NULL)
        return nomem(c);
    json_array_foreach(arr, i, v)
    {
        if (c->v31 && is_null_branch(v)) {
            nullable = 1;
            continue;
        }
        json_t *s = conv_schema(c, v);
        if (s == NULL || json_array_append_new(kept, s) != 0) {
            json_decref(kept);
            return c->err->code ? c->err->code : nomem(c);
        }
    }
    if (json_array_size(kept) == 0) {
        json_decref(kept);
        return fail(c, arr, "%s allows only null, which has no OpenAPI 3.0 form%s", key, NULL);
    }
    int rc = put(c, out, key, kept);
    if (rc == 0 && nullable)
        rc = put(c, out, "nullable", json_true());
    return rc;
}

static json_t *conv_schema(conv *c, const json_t *in)
{
    json_t *out = NULL;
    if (json_is_true(in) || (json_is_object(in) && json_object_size(in) == 0))
        return json_object();
    if (json_is_false(in)) {
        out = json_pack("{s:{}}", "not");
        if (out == NULL)
            nomem(c);
        return out;
    }
    if (!json_is_object(in)) {
        fail(c, in, "expected a schema (an object)%s%s", NULL, NULL);
        return NULL;
    }
    if (check_ref(c, in) < 0)
        return NULL;
    if ((out = json_object()) == NULL) {
        nomem(c);
        return NULL;
    }
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)in, k, v)
    {
        if (rc < 0)
            break;
        if (is_kumo_key(k))
            continue;
        if (strcmp(k, "properties") == 0) {
            json_t *m = json_is_object(v) ? conv_schema_map(c, v) : NULL;
            rc = m ? put(c, out, k, m)
                   : (c->err->code ? c->err->code : fail(c, v, "properties must be a mapping%s%s", NULL, NULL));
        } else if (strcmp(k, "items") == 0 || strcmp(k, "not") == 0 ||
                   (strcmp(k, "additionalProperties") == 0 && !json_is_boolean(v))) {
            if (strcmp(k, "items") == 0 && json_is_array(v)) {
                rc = fail(c, v, "items as an array (tuple) has no OpenAPI 3.0 form%s%s", NULL, NULL);
                break;
            }
            json_t *s = conv_schema(c, v);
            rc = s ? put(c, out, k, s) : c->err->code;
        } else if (strcmp(k, "allOf") == 0) {
            json_t *a = json_is_array(v) ? conv_schema_array(c, v) : NULL;
            rc = a ? put(c, out, k, a)
                   : (c->err->code ? c->err->code : fail(c, v, "allOf must be an array%s%s", NULL, NULL));
        } else if (strcmp(k, "anyOf") == 0 || strcmp(k, "oneOf") == 0) {
            rc = conv_branches(c, k, v, out);
        } else if (strcmp(k, "enum") == 0 || strcmp(k, "default") == 0 || strcmp(k, "example") == 0) {
            rc = put(c, out, k, json_deep_copy(v));
        } else if (!c->v31) {
            rc = put(c, out, k, copy_plain(v));
        } else if (strcmp(k, "type") == 0) {
            rc = conv_type(c, in, v, out);
        } else if (strcmp(k, "const") == 0) {
            rc = put(c, out, "enum", json_pack("[O]", v));
        } else if (strcmp(k, "examples") == 0) {
            if (!json_is_array(v))
                rc = fail(c, v, "examples in a schema must be an array%s%s", NULL, NULL);
            else if (json_array_size(v) > 0 && json_object_get(in, "example") == NULL)
                rc = put(c, out, "example", json_deep_copy(json_array_get(v, 0)));
        } else if (strcmp(k, "exclusiveMinimum") == 0 || strcmp(k, "exclusiveMaximum") == 0) {
            if (json_is_boolean(v)) {
                rc = put(c, out, k, json_deep_copy(v));
            } else if (json_is_number(v)) {
                const char *bound = k[9] == 'M' && k[10] == 'i' ? "minimum" : "maximum";
                if (json_object_get(in, bound) != NULL)
                    rc = fail(c, v, "%s beside %s has no OpenAPI 3.0 form; keep one of them", k, bound);
                else if ((rc = put(c, out, bound, json_deep_copy(v))) == 0)
                    rc = put(c, out, k, json_true());
            } else {
                rc = fail(c, v, "%s must be a number%s", k, NULL);
            }
        } else if (strcmp(k, "contentEncoding") == 0) {
            if (json_is_string(v) && strcmp(json_string_value(v), "base64") == 0)
                rc = json_object_get(in, "format") ? 0 : put(c, out, "format", json_string("byte"));
            else
                rc = fail(c, v, "contentEncoding other than base64 has no OpenAPI 3.0 form%s%s", NULL, NULL);
        } else if (strcmp(k, "contentMediaType") == 0) {
            if (json_object_get(in, "contentEncoding") == NULL && json_object_get(in, "format") == NULL)
                rc = put(c, out, "format", json_string("binary"));
        } else if (strcmp(k, "$comment") == 0 || strcmp(k, "$schema") == 0) {
            continue;
        } else if (kumo__in_list(k, refused_31)) {
            kumo__doc *doc = kumo__spec_doc_of(c->spec, in);
            kumo__doc_key_error(c->err, doc, in, k,
                                "'%s' has no OpenAPI 3.0 form, and API Gateway imports 3.0; rewrite the schema "
                                "without it",
                                k);
            c->err->code = rc = -EINVAL;
        } else {
            rc = put(c, out, k, copy_plain(v));
        }
    }
    /* 3.0 ignores what stands beside a $ref; 3.1 applies it: wrap. */
    if (rc == 0 && c->v31 && json_object_get(out, "$ref") != NULL && json_object_size(out) > 1) {
        json_t *ref = json_pack("{s:O}", "$ref", json_object_get(out, "$ref"));
        json_object_del(out, "$ref");
        json_t *all = json_object_get(out, "allOf");
        if (ref == NULL)
            rc = nomem(c);
        else if (all != NULL)
            rc = json_array_insert_new(all, 0, ref) == 0 ? 0 : nomem(c);
        else
            rc = put(c, out, "allOf", json_pack("[o]", ref));
    }
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* What a per-key converter gives back to leave the key out. */
static char skip_tag;
#define SKIP ((json_t *)&skip_tag)

typedef json_t *key_fn(conv *c, const char *key, const json_t *v, void *arg);

/* An object converted key by key: x-kumo-* keys dropped, every other
 * value through fn (NULL: failed, with the error set; SKIP: left out).
 * `what` names the expected object in the error for a non-object. */
static json_t *conv_object(conv *c, const json_t *in, const char *what, key_fn *fn, void *arg)
{
    if (!json_is_object(in)) {
        fail(c, in, "expected %s%s", what, NULL);
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    int rc = out ? 0 : nomem(c);
    json_object_foreach((json_t *)in, k, v)
    {
        if (rc < 0)
            break;
        if (is_kumo_key(k))
            continue;
        json_t *cv = fn(c, k, v, arg);
        if (cv == SKIP)
            continue;
        rc = cv ? put(c, out, k, cv) : (c->err->code ? c->err->code : nomem(c));
    }
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static int is_example(const char *k)
{
    return strcmp(k, "example") == 0 || strcmp(k, "examples") == 0;
}

static json_t *conv_content(conv *c, const json_t *in);

/* A Parameter or Header Object (or a $ref to one). */
static json_t *param_key(conv *c, const char *k, const json_t *v, void *arg)
{
    if (strcmp(k, "schema") == 0)
        return conv_schema(c, v);
    if (strcmp(k, "content") == 0)
        return conv_content(c, v);
    return is_example(k) ? json_deep_copy(v) : copy_plain(v);
}

static json_t *conv_param(conv *c, const json_t *in)
{
    if (json_is_object(in) && check_ref(c, in) < 0)
        return NULL;
    return conv_object(c, in, "an object", param_key, NULL);
}

/* A map NAME -> element converted by fn. */
typedef json_t *elem_fn(conv *, const json_t *);

static json_t *map_key(conv *c, const char *k, const json_t *v, void *arg)
{
    return (*(elem_fn **)arg)(c, v);
}

static json_t *conv_map(conv *c, const json_t *in, elem_fn *fn)
{
    return conv_object(c, in, "a mapping", map_key, &fn);
}

static json_t *encoding_key(conv *c, const char *k, const json_t *v, void *arg)
{
    return strcmp(k, "headers") == 0 ? conv_map(c, v, conv_param) : copy_plain(v);
}

static json_t *conv_encoding(conv *c, const json_t *in)
{
    return conv_object(c, in, "an Encoding Object", encoding_key, NULL);
}

static json_t *media_key(conv *c, const char *k, const json_t *v, void *arg)
{
    if (strcmp(k, "schema") == 0)
        return conv_schema(c, v);
    if (strcmp(k, "encoding") == 0)
        return conv_map(c, v, conv_encoding);
    return is_example(k) ? json_deep_copy(v) : copy_plain(v);
}

static json_t *conv_media(conv *c, const json_t *in)
{
    return conv_object(c, in, "a Media Type Object", media_key, NULL);
}

static json_t *conv_content(conv *c, const json_t *in)
{
    return conv_map(c, in, conv_media);
}

/* A Request Body or Response Object (or a $ref). */
static json_t *body_key(conv *c, const char *k, const json_t *v, void *arg)
{
    if (strcmp(k, "content") == 0)
        return conv_content(c, v);
    if (strcmp(k, "headers") == 0)
        return conv_map(c, v, conv_param);
    if (strcmp(k, "schema") == 0) /* Swagger 2.0 responses */
        return conv_schema(c, v);
    return copy_plain(v);
}

static json_t *conv_body(conv *c, const json_t *in)
{
    if (json_is_object(in) && check_ref(c, in) < 0)
        return NULL;
    return conv_object(c, in, "an object", body_key, NULL);
}

static json_t *conv_params(conv *c, const json_t *in)
{
    if (!json_is_array(in)) {
        fail(c, in, "parameters must be an array%s%s", NULL, NULL);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *v;
    if (out == NULL) {
        nomem(c);
        return NULL;
    }
    json_array_foreach(in, i, v)
    {
        json_t *p = conv_param(c, v);
        if (p == NULL || json_array_append_new(out, p) != 0) {
            json_decref(out);
            if (c->err->code == 0)
                nomem(c);
            return NULL;
        }
    }
    return out;
}

/* The unit an operation node is bound to: -1 when unbound or unknown. */
static int unit_of(conv *c, const json_t *op_node)
{
    for (size_t i = 0; i < c->spec->nops; i++)
        if (c->spec->ops[i].node == op_node)
            return c->spec->ops[i].unit_index;
    return -1;
}

static json_t *operation_key(conv *c, const char *k, const json_t *v, void *arg)
{
    if (strcmp(k, "x-amazon-apigateway-integration") == 0 || strcmp(k, "callbacks") == 0)
        return SKIP; /* kumo writes the integration; API Gateway serves no callbacks (documentation only) */
    if (strcmp(k, "parameters") == 0)
        return conv_params(c, v);
    if (strcmp(k, "requestBody") == 0)
        return conv_body(c, v);
    if (strcmp(k, "responses") == 0)
        return conv_map(c, v, conv_body);
    return copy_plain(v);
}

static json_t *conv_operation(conv *c, const json_t *in, int with_integration)
{
    json_t *out = conv_object(c, in, "an Operation Object", operation_key, NULL);
    if (out == NULL || !with_integration)
        return out;
    int unit = unit_of(c, in);
    json_t *integ = unit >= 0 ? c->integration(unit, c->ud)
                              : json_pack("{s:s, s:{s:s}, s:{s:{s:s}}, s:s}", "type", "mock", "requestTemplates",
                                          "application/json", "{\"statusCode\": 501}", "responses", "default",
                                          "statusCode", "501", "passthroughBehavior", "when_no_match");
    if (put(c, out, "x-amazon-apigateway-integration", integ) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *path_item_key(conv *c, const char *k, const json_t *v, void *arg)
{
    if (kumo__in_list(k, methods))
        return conv_operation(c, v, 1);
    if (strcmp(k, "parameters") == 0)
        return conv_params(c, v);
    return copy_plain(v);
}

static json_t *conv_path_item(conv *c, const json_t *in)
{
    if (json_is_object(in) && json_object_get(in, "$ref") != NULL) {
        fail(c, json_object_get(in, "$ref"),
             "a path item that is a $ref cannot be given to API Gateway with its integrations; write the path's "
             "operations in place%s%s",
             NULL, NULL);
        return NULL;
    }
    json_t *out = conv_object(c, in, "a Path Item Object", path_item_key, NULL);
    if (out == NULL || !c->cors_preflight || json_object_get(in, "options") != NULL)
        return out;
    /* the browser's preflight goes to the function of the path's first bound operation */
    int unit = -1;
    for (const char *const *m = methods; *m && unit < 0; m++) {
        const json_t *op = json_object_get(in, *m);
        if (op)
            unit = unit_of(c, op);
    }
    if (unit < 0)
        return out;
    json_t *pre =
        json_pack("{s:s, s:{s:{s:s}}}", "summary", "CORS preflight, answered by kumo-host (kumo.yaml http.cors)",
                  "responses", "204", "description", "what the origin may send");
    if (pre == NULL)
        nomem(c);
    else if (put(c, pre, "x-amazon-apigateway-integration", c->integration(unit, c->ud)) < 0)
        json_decref(pre);
    else if (put(c, out, "options", pre) == 0) /* json_object_set_new took pre, placed or not */
        return out;
    json_decref(out);
    return NULL;
}

static json_t *components_key(conv *c, const char *k, const json_t *v, void *arg)
{
    if (strcmp(k, "schemas") == 0) {
        json_t *cv = json_is_object(v) ? conv_schema_map(c, v) : NULL;
        if (cv == NULL && c->err->code == 0)
            fail(c, v, "components.schemas must be a mapping%s%s", NULL, NULL);
        return cv;
    }
    if (strcmp(k, "parameters") == 0 || strcmp(k, "headers") == 0)
        return conv_map(c, v, conv_param);
    if (strcmp(k, "requestBodies") == 0 || strcmp(k, "responses") == 0)
        return conv_map(c, v, conv_body);
    if (strcmp(k, "pathItems") == 0) {
        if (json_object_size(v) == 0)
            return SKIP;
        fail(c, v, "components.pathItems has no OpenAPI 3.0 form; write the paths in place%s%s", NULL, NULL);
        return NULL;
    }
    if (strcmp(k, "callbacks") == 0)
        return SKIP;
    return copy_plain(v);
}

static json_t *conv_components(conv *c, const json_t *in)
{
    if (!json_is_object(in)) {
        fail(c, in, "components must be a mapping%s%s", NULL, NULL);
        return NULL;
    }
    return conv_object(c, in, "a mapping", components_key, NULL);
}

/* Swagger 2.0 keeps schemas under definitions:. */
static json_t *conv_definitions(conv *c, const json_t *in)
{
    return json_is_object(in) ? conv_schema_map(c, in) : copy_plain(in);
}

int kumo__cfn_openapi(const kumo__spec *spec, json_t *(*integration)(int unit_index, void *ud), void *ud,
                      int cors_preflight, json_t **out, kumo__error *err)
{
    conv c = {.spec = spec,
              .v31 = spec->version == 31,
              .integration = integration,
              .ud = ud,
              .cors_preflight = cors_preflight,
              .err = err};
    const json_t *root = kumo__doc_root(spec->doc);
    json_t *doc = json_object();
    const char *k;
    json_t *v;
    int rc = doc ? 0 : nomem(&c);
    err->code = 0;
    *out = NULL;
    json_object_foreach((json_t *)root, k, v)
    {
        if (rc < 0)
            break;
        if (is_kumo_key(k))
            continue;
        json_t *cv;
        if (strcmp(k, "openapi") == 0 && c.v31) {
            cv = json_string("3.0.3");
        } else if (strcmp(k, "paths") == 0) {
            cv = conv_map(&c, v, conv_path_item);
        } else if (strcmp(k, "components") == 0) {
            cv = conv_components(&c, v);
        } else if (strcmp(k, "definitions") == 0 && spec->version == 20) {
            cv = conv_definitions(&c, v);
        } else if (strcmp(k, "parameters") == 0 && spec->version == 20) {
            cv = conv_map(&c, v, conv_param);
        } else if (strcmp(k, "responses") == 0 && spec->version == 20) {
            cv = conv_map(&c, v, conv_body);
        } else if (c.v31 && (strcmp(k, "webhooks") == 0 || strcmp(k, "jsonSchemaDialect") == 0)) {
            continue;
        } else if (c.v31 && strcmp(k, "info") == 0 && json_is_object(v)) {
            cv = copy_plain(v);
            if (cv) {
                json_object_del(cv, "summary");
                json_t *lic = json_object_get(cv, "license");
                if (json_is_object(lic))
                    json_object_del(lic, "identifier");
            }
        } else {
            cv = copy_plain(v);
        }
        rc = cv ? put(&c, doc, k, cv) : (err->code ? err->code : nomem(&c));
    }
    /* Every request body reaches the function as base64, whatever its media
     * type; the lambda adapter decodes it, and a binary answer goes back
     * intact. */
    if (rc == 0)
        rc = put(&c, doc, "x-amazon-apigateway-binary-media-types", json_pack("[s]", "*/*"));
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return 0;
}
