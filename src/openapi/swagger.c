/*
 * swagger.c: Swagger 2.0 operations -> the model OpenAPI 3.x operations
 * read into (openapi.h), so that nothing after loading knows there were
 * two formats.
 *
 * Parameters in path, query and header carry their schema as fields of
 * their own (type, format, items, enum, minimum, ...): a schema is
 * synthesized from them (owned by the docset) and collectionFormat
 * becomes style and explode. The body parameter's schema becomes one
 * media type per `consumes`; formData parameters become one object schema
 * (a file is {type: string, format: binary}) for the form media types.
 * Responses' schemas become one media type per `produces`. $refs
 * (#/definitions, #/parameters, #/responses) go through the same docset
 * as 3.x's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "docset.h"

typedef struct conv {
    kumo__spec *s;
    kumo__docset *ds;
    kumo__error *err;
    kumo__operation *op;
    json_t *form_props; /* formData parameters -> synthesized properties */
    json_t *form_required;
    int has_file;
    json_t *form_first; /* the first formData parameter (for messages) */
    kumo__doc *form_doc;
    json_t *form_level; /* name -> 0 (path level) or 1 (operation level) */
    int level;
} conv;

static const char *const keywords[] = {"format",           "default",     "maximum",   "exclusiveMaximum", "minimum",
                                       "exclusiveMinimum", "maxLength",   "minLength", "pattern",          "maxItems",
                                       "minItems",         "uniqueItems", "enum",      "multipleOf",       NULL};

/* A schema from a parameter's (or Items Object's) own fields; `top`: the
 * parameter itself (type: file allowed in formData). NULL with err set. */
static json_t *synth_schema(conv *c, kumo__doc *doc, json_t *node, const char *pname, int file_ok)
{
    json_t *type = json_object_get(node, "type");
    const char *t = json_string_value(type);
    static const char *const types[] = {"string", "number", "integer", "boolean", "array", "file", NULL};
    int ok = 0;
    for (int i = 0; t && types[i]; i++)
        ok |= strcmp(t, types[i]) == 0;
    if (!ok) {
        if (type)
            kumo__doc_value_error(c->err, doc, node, "type",
                                  "parameter '%s': type must be string, number, integer, boolean, array or file",
                                  pname);
        else
            kumo__doc_error(c->err, doc, node,
                            "parameter '%s' has no type; add type: (Swagger 2.0 parameters other "
                            "than in: body carry their schema inline)",
                            pname);
        return NULL;
    }
    if (strcmp(t, "file") == 0 && !file_ok) {
        kumo__doc_value_error(c->err, doc, node, "type", "parameter '%s': type: file is only allowed in: formData",
                              pname);
        return NULL;
    }
    json_t *s = json_object();
    if (s == NULL)
        goto oom;
    if (strcmp(t, "file") == 0) {
        if (json_object_set_new(s, "type", json_string("string")) < 0 ||
            json_object_set_new(s, "format", json_string("binary")) < 0)
            goto oom;
        return s;
    }
    if (json_object_set(s, "type", type) < 0)
        goto oom;
    for (int i = 0; keywords[i]; i++) {
        json_t *v = json_object_get(node, keywords[i]);
        if (v && json_object_set(s, keywords[i], v) < 0)
            goto oom;
    }
    if (strcmp(t, "array") == 0) {
        json_t *items = json_object_get(node, "items");
        if (!json_is_object(items)) {
            kumo__doc_error(c->err, doc, node, "parameter '%s' is an array without items; add items: {type: ...}",
                            pname);
            json_decref(s);
            return NULL;
        }
        if (json_is_string(json_object_get(items, "type")) &&
            strcmp(json_string_value(json_object_get(items, "type")), "array") == 0) {
            kumo__doc_value_error(c->err, doc, items, "type",
                                  "parameter '%s': arrays of arrays are not supported in parameters; kumo cannot "
                                  "split nested collectionFormats",
                                  pname);
            json_decref(s);
            return NULL;
        }
        json_t *is = synth_schema(c, doc, items, pname, 0);
        if (is == NULL) {
            json_decref(s);
            return NULL;
        }
        if (json_object_set_new(s, "items", is) < 0)
            goto oom;
    }
    return s;
oom:
    json_decref(s);
    kumo__spec_oom(c->err);
    return NULL;
}

/* collectionFormat -> style and explode. */
static int collection_format(conv *c, kumo__doc *doc, json_t *node, kumo__param *p, int is_array)
{
    json_t *cfn = json_object_get(node, "collectionFormat");
    const char *cf = cfn ? json_string_value(cfn) : "csv";
    p->style = p->in == KUMO__IN_QUERY ? KUMO__STYLE_FORM : KUMO__STYLE_SIMPLE;
    p->explode = p->style == KUMO__STYLE_FORM;
    if (!is_array)
        return 0;
    if (cf == NULL) {
        kumo__doc_value_error(c->err, doc, node, "collectionFormat",
                              "parameter '%s': collectionFormat must be csv, ssv, pipes or multi", p->name);
        return -EINVAL;
    }
    if (strcmp(cf, "csv") == 0) {
        p->explode = 0;
        return 0;
    }
    if (strcmp(cf, "tsv") == 0) {
        kumo__doc_value_error(c->err, doc, node, "collectionFormat",
                              "parameter '%s': collectionFormat tsv is not supported (OpenAPI 3 has no tab-delimited "
                              "style); use csv, ssv, pipes or multi",
                              p->name);
        return -EINVAL;
    }
    int multi = strcmp(cf, "multi") == 0, ssv = strcmp(cf, "ssv") == 0, pipes = strcmp(cf, "pipes") == 0;
    if (!multi && !ssv && !pipes) {
        kumo__doc_value_error(c->err, doc, node, "collectionFormat",
                              "parameter '%s': collectionFormat must be csv, ssv, pipes or multi", p->name);
        return -EINVAL;
    }
    if (p->in != KUMO__IN_QUERY) {
        kumo__doc_value_error(c->err, doc, node, "collectionFormat",
                              "parameter '%s': collectionFormat %s is only allowed in: query; use csv", p->name, cf);
        return -EINVAL;
    }
    p->style = multi ? KUMO__STYLE_FORM : ssv ? KUMO__STYLE_SPACE_DELIMITED : KUMO__STYLE_PIPE_DELIMITED;
    p->explode = multi;
    return 0;
}

static int get_bool(conv *c, kumo__doc *doc, json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        kumo__doc_value_error(c->err, doc, obj, key, "%s must be true or false", key);
        return -EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

/* A formData parameter -> a property of the form schema. */
static int add_form_field(conv *c, kumo__doc *doc, json_t *node, const char *pname)
{
    json_t *type = json_object_get(node, "type");
    if (json_is_string(type) && strcmp(json_string_value(type), "array") == 0) {
        json_t *cf = json_object_get(node, "collectionFormat");
        if (!json_is_string(cf) || strcmp(json_string_value(cf), "multi") != 0) {
            kumo__doc_error(c->err, doc, node,
                            "formData array '%s' uses collectionFormat %s; kumo reads form bodies with one key per "
                            "value: set collectionFormat: multi",
                            pname, json_is_string(cf) ? json_string_value(cf) : "csv (the default)");
            return -EINVAL;
        }
    }
    json_t *schema = synth_schema(c, doc, node, pname, 1);
    if (schema == NULL)
        return -EINVAL;
    c->has_file |= json_is_string(type) && strcmp(json_string_value(type), "file") == 0;
    json_t *seen = json_object_get(c->form_level, pname);
    if (seen && json_integer_value(seen) == c->level) {
        json_decref(schema);
        kumo__doc_error(c->err, doc, node, "formData parameter '%s' is declared twice; keep one", pname);
        return -EINVAL;
    }
    if (seen) { /* the operation's replaces the path level's */
        size_t i;
        json_t *v;
        json_array_foreach(c->form_required, i, v)
        {
            if (strcmp(json_string_value(v), pname) == 0) {
                json_array_remove(c->form_required, i);
                break;
            }
        }
    }
    if (json_object_set_new(c->form_props, pname, schema) < 0 ||
        json_object_set_new(c->form_level, pname, json_integer(c->level)) < 0)
        return kumo__spec_oom(c->err);
    int required = 0;
    if (get_bool(c, doc, node, "required", &required) < 0)
        return -EINVAL;
    if (required && json_array_append_new(c->form_required, json_string(pname)) < 0)
        return kumo__spec_oom(c->err);
    if (c->form_first == NULL) {
        c->form_first = node;
        c->form_doc = doc;
    }
    return 0;
}

static int read_param(conv *c, json_t *node, kumo__loc loc, size_t first_own, json_t **body, kumo__loc *body_loc)
{
    kumo__error *err = c->err;
    if ((node = kumo__docset_deref(c->ds, node, &loc, "parameter", err)) == NULL)
        return -EINVAL;
    kumo__doc *doc = loc.doc;
    if (!json_is_object(node)) {
        kumo__doc_error(err, doc, node, "a parameter must be a mapping (a Parameter Object) with name: and in:");
        return -EINVAL;
    }
    json_t *name = json_object_get(node, "name"), *in = json_object_get(node, "in");
    if (!json_is_string(name) || json_string_length(name) == 0) {
        kumo__doc_error(err, doc, node, "this parameter has no name; add name:");
        return -EINVAL;
    }
    const char *pname = json_string_value(name), *pin = json_string_value(in);
    if (pin && strcmp(pin, "body") == 0) {
        if (*body && *body != node) {
            kumo__doc_error(err, doc, node, "a second in: body parameter ('%s'); an operation has one body", pname);
            return -EINVAL;
        }
        if (!json_object_get(node, "schema")) {
            kumo__doc_error(err, doc, node, "body parameter '%s' has no schema; add one", pname);
            return -EINVAL;
        }
        *body = node;
        *body_loc = loc;
        return 0;
    }
    if (pin && strcmp(pin, "formData") == 0)
        return add_form_field(c, doc, node, pname);
    kumo__param p = {0};
    if (pin && strcmp(pin, "path") == 0)
        p.in = KUMO__IN_PATH;
    else if (pin && strcmp(pin, "query") == 0)
        p.in = KUMO__IN_QUERY;
    else if (pin && strcmp(pin, "header") == 0)
        p.in = KUMO__IN_HEADER;
    else {
        kumo__doc_value_error(err, doc, node, "in", "parameter '%s': in must be path, query, header, body or formData",
                              pname);
        return -EINVAL;
    }
    if (p.in == KUMO__IN_HEADER && (strcasecmp(pname, "accept") == 0 || strcasecmp(pname, "content-type") == 0 ||
                                    strcasecmp(pname, "authorization") == 0))
        return 0; /* as OpenAPI 3 says: ignored */
    int rc = -EINVAL;
    if ((p.name = strdup(pname)) == NULL) {
        rc = kumo__spec_oom(err);
        goto out;
    }
    if (get_bool(c, doc, node, "required", &p.required) < 0 ||
        get_bool(c, doc, node, "allowEmptyValue", &p.allow_empty) < 0)
        goto out;
    if (p.in == KUMO__IN_PATH && !p.required) {
        kumo__doc_error(err, doc, node, "path parameter '%s' must have required: true", pname);
        goto out;
    }
    json_t *schema = synth_schema(c, doc, node, pname, 0);
    if (schema == NULL || (p.schema = kumo__docset_keep(c->ds, schema)) == NULL) {
        if (schema)
            rc = kumo__spec_oom(err);
        goto out;
    }
    json_t *type = json_object_get(node, "type");
    if (collection_format(c, doc, node, &p, strcmp(json_string_value(type), "array") == 0) < 0)
        goto out;
    if ((p.schema_location = kumo__docset_location(c->ds, &loc)) == NULL) {
        rc = kumo__spec_oom(err);
        goto out;
    }
    if ((rc = kumo__spec_put_param(c->op, &p, first_own)) == 1) {
        kumo__doc_error(err, doc, node, "parameter '%s' in %s is declared twice; keep one", pname, pin);
        rc = -EINVAL;
    } else if (rc < 0) {
        rc = kumo__spec_oom(err);
    }
out:
    kumo__spec_param_clear(&p);
    return rc;
}

static int read_params(conv *c, json_t *holder, const kumo__loc *holder_loc, size_t first_own, json_t **body,
                       kumo__loc *body_loc)
{
    json_t *list = json_object_get(holder, "parameters");
    if (list == NULL)
        return 0;
    if (!json_is_array(list)) {
        kumo__doc_value_error(c->err, holder_loc->doc, holder, "parameters", "parameters must be a list");
        return -EINVAL;
    }
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry)
    {
        kumo__loc loc = *holder_loc;
        kumo__ptrbuf_push(&loc.ptr, "parameters", 10);
        kumo__ptrbuf_push_index(&loc.ptr, i);
        int rc = read_param(c, entry, loc, first_own, body, body_loc);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The operation's `key` (consumes/produces), else the document's, else
 * application/json. A borrowed list, or NULL with err set. */
static json_t *media_list(conv *c, json_t *node, const kumo__loc *op_loc, const char *key, int *explicit)
{
    json_t *root = kumo__doc_root(c->s->doc);
    json_t *list = json_object_get(node, key);
    kumo__doc *doc = op_loc->doc;
    json_t *holder = node;
    if (list == NULL) {
        list = json_object_get(root, key);
        doc = c->s->doc;
        holder = root;
    }
    *explicit = list != NULL;
    if (list == NULL)
        return NULL;
    if (!json_is_array(list)) {
        kumo__doc_value_error(c->err, doc, holder, key, "%s must be a list of media types", key);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v) || strchr(json_string_value(v), '/') == NULL) {
            kumo__doc_error(c->err, doc, v, "%s: each entry must be a media type like application/json", key);
            return NULL;
        }
    }
    return list;
}

static int add_media(conv *c, kumo__media **arr, size_t *n, const char *type, json_t *schema, const char *where)
{
    kumo__media *m = kumo__spec_add_media(arr, n);
    if (m == NULL || (m->type = kumo__spec_lowerdup(type)) == NULL ||
        (where && (m->schema_location = strdup(where)) == NULL))
        return kumo__spec_oom(c->err);
    m->schema = schema;
    return 0;
}

/* Media types of `list` (or application/json when there is none); a
 * media type parameter like "; charset=utf-8" is kept as written. */
static int media_for(conv *c, json_t *list, kumo__media **arr, size_t *n, json_t *schema, const char *where)
{
    if (list == NULL || json_array_size(list) == 0)
        return add_media(c, arr, n, "application/json", schema, where);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        int rc = add_media(c, arr, n, json_string_value(v), schema, where);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int is_form_type(const char *t)
{
    return strncasecmp(t, "application/x-www-form-urlencoded", 33) == 0 ||
           strncasecmp(t, "multipart/form-data", 19) == 0;
}

static int read_body(conv *c, json_t *node, const kumo__loc *op_loc, json_t *body, const kumo__loc *body_loc)
{
    int explicit = 0;
    json_t *consumes = media_list(c, node, op_loc, "consumes", &explicit);
    if (consumes == NULL && explicit)
        return -EINVAL;
    kumo__operation *op = c->op;
    int rc = 0;
    char *where = NULL;
    if (body && c->form_first) {
        kumo__doc_error(c->err, c->form_doc, c->form_first,
                        "an operation has either an in: body parameter or in: formData parameters, not both");
        return -EINVAL;
    }
    if (body) {
        if (get_bool(c, body_loc->doc, body, "required", &op->body_required) < 0)
            return -EINVAL;
        if ((where = kumo__spec_location(c->ds, body_loc, "schema")) == NULL)
            return kumo__spec_oom(c->err);
        rc = media_for(c, consumes, &op->body, &op->nbody, json_object_get(body, "schema"), where);
        free(where);
        return rc;
    }
    if (c->form_first == NULL)
        return 0;
    json_t *schema = json_object();
    if (schema == NULL || kumo__docset_keep(c->ds, schema) == NULL ||
        json_object_set_new(schema, "type", json_string("object")) < 0 ||
        json_object_set(schema, "properties", c->form_props) < 0 ||
        (json_array_size(c->form_required) && json_object_set(schema, "required", c->form_required) < 0))
        return kumo__spec_oom(c->err);
    op->body_required = json_array_size(c->form_required) > 0;
    kumo__loc ploc = *op_loc;
    kumo__ptrbuf_push(&ploc.ptr, "parameters", 10);
    if ((where = kumo__docset_location(c->ds, &ploc)) == NULL)
        return kumo__spec_oom(c->err);
    if (consumes == NULL || json_array_size(consumes) == 0) {
        rc = add_media(c, &op->body, &op->nbody,
                       c->has_file ? "multipart/form-data" : "application/x-www-form-urlencoded", schema, where);
        goto out;
    }
    int multipart = 0;
    size_t i;
    json_t *v;
    json_array_foreach(consumes, i, v)
    {
        const char *t = json_string_value(v);
        if (!is_form_type(t))
            continue;
        multipart |= strncasecmp(t, "multipart/", 10) == 0;
        if (c->has_file && strncasecmp(t, "multipart/", 10) != 0)
            continue; /* a file cannot travel url-encoded */
        if ((rc = add_media(c, &op->body, &op->nbody, t, schema, where)) < 0)
            goto out;
    }
    if (op->nbody == 0 || (c->has_file && !multipart)) {
        kumo__doc_error(c->err, c->form_doc, c->form_first,
                        c->has_file ? "a type: file parameter needs consumes: [multipart/form-data]"
                                    : "formData parameters need consumes: application/x-www-form-urlencoded or "
                                      "multipart/form-data");
        rc = -EINVAL;
    }
out:
    free(where);
    return rc;
}

static int read_responses(conv *c, json_t *node, const kumo__loc *op_loc)
{
    json_t *responses = json_object_get(node, "responses");
    if (responses == NULL)
        return 0;
    if (!json_is_object(responses)) {
        kumo__doc_value_error(c->err, op_loc->doc, node, "responses",
                              "responses must be a mapping of status -> Response");
        return -EINVAL;
    }
    int explicit = 0;
    json_t *produces = media_list(c, node, op_loc, "produces", &explicit);
    if (produces == NULL && explicit)
        return -EINVAL;
    const char *status;
    json_t *resp;
    json_object_foreach(responses, status, resp)
    {
        if (strncmp(status, "x-", 2) == 0)
            continue;
        if (!kumo__spec_status_ok(status) || strchr(status, 'X') || strchr(status, 'x')) {
            kumo__doc_key_error(c->err, op_loc->doc, responses, status,
                                "'%s' is not a response status; write a code (200) or default", status);
            return -EINVAL;
        }
        kumo__loc loc = *op_loc;
        kumo__ptrbuf_push(&loc.ptr, "responses", 9);
        kumo__ptrbuf_push(&loc.ptr, status, strlen(status));
        if ((resp = kumo__docset_deref(c->ds, resp, &loc, "response", c->err)) == NULL)
            return -EINVAL;
        if (!json_is_object(resp)) {
            kumo__doc_error(c->err, loc.doc, resp, "response '%s' must be a mapping (a Response Object)", status);
            return -EINVAL;
        }
        kumo__response *out = kumo__spec_add_response(c->op);
        if (out == NULL || (out->status = strdup(status)) == NULL)
            return kumo__spec_oom(c->err);
        json_t *schema = json_object_get(resp, "schema");
        if (schema) {
            json_t *type = json_object_get(schema, "type");
            if (json_is_string(type) && strcmp(json_string_value(type), "file") == 0) {
                json_t *bin = json_pack("{s:s, s:s}", "type", "string", "format", "binary");
                if ((schema = kumo__docset_keep(c->ds, bin)) == NULL)
                    return kumo__spec_oom(c->err);
            }
            char *where = kumo__spec_location(c->ds, &loc, "schema");
            if (where == NULL)
                return kumo__spec_oom(c->err);
            int rc = media_for(c, produces, &out->content, &out->ncontent, schema, where);
            free(where);
            if (rc < 0)
                return rc;
        }
        json_t *headers = json_object_get(resp, "headers");
        if (headers && !json_is_object(headers)) {
            kumo__doc_value_error(c->err, loc.doc, resp, "headers", "headers must be a mapping of name -> Header");
            return -EINVAL;
        }
        const char *hname;
        json_t *h;
        json_object_foreach(headers, hname, h)
        {
            if (strcasecmp(hname, "content-type") == 0)
                continue;
            char **a = realloc(out->headers, (out->nheaders + 1) * sizeof *a);
            if (a == NULL)
                return kumo__spec_oom(c->err);
            out->headers = a;
            if ((a[out->nheaders] = kumo__spec_lowerdup(hname)) == NULL)
                return kumo__spec_oom(c->err);
            out->nheaders++;
        }
    }
    return 0;
}

int kumo__swagger_operation(kumo__spec *s, kumo__docset *ds, kumo__operation *op, json_t *item,
                            const kumo__loc *item_loc, json_t *node, const kumo__loc *op_loc, kumo__error *err)
{
    conv c = {.s = s, .ds = ds, .err = err, .op = op};
    json_t *body = NULL;
    kumo__loc body_loc = {0};
    int rc;
    if ((c.form_props = json_object()) == NULL || (c.form_required = json_array()) == NULL ||
        (c.form_level = json_object()) == NULL) {
        rc = kumo__spec_oom(err);
        goto out;
    }
    if ((rc = read_params(&c, item, item_loc, 0, &body, &body_loc)) < 0)
        goto out;
    /* an operation-level body parameter replaces the path level's */
    json_t *own = json_object_get(node, "parameters");
    size_t i;
    json_t *entry;
    json_array_foreach(own, i, entry)
    {
        kumo__loc l = *op_loc;
        json_t *t = kumo__docset_deref(ds, entry, &l, "parameter", err);
        if (t == NULL) {
            rc = -EINVAL;
            goto out;
        }
        const char *in = json_string_value(json_object_get(t, "in"));
        if (in && strcmp(in, "body") == 0)
            body = NULL;
    }
    c.level = 1;
    if ((rc = read_params(&c, node, op_loc, op->nparams, &body, &body_loc)) < 0 ||
        (rc = read_body(&c, node, op_loc, body, &body_loc)) < 0 || (rc = read_responses(&c, node, op_loc)) < 0)
        goto out;
out:
    json_decref(c.form_props);
    json_decref(c.form_required);
    json_decref(c.form_level);
    return rc;
}
