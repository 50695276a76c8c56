/*
 * spec.c: the OpenAPI document -> kumo__spec: the version (Swagger 2.0,
 * OpenAPI 3.0.x or 3.1.x), the title, the base path the gateway strips,
 * and one kumo__operation per (path, method) with the handler it names
 * (x-kumo-handler: UNIT.SYMBOL or SYMBOL, else operationId) and its
 * contract resolved: parameters (path-level and operation-level merged,
 * $refs followed, style and explode defaulted and checked), request body
 * media types and responses. Schemas are not expanded: they stay borrowed
 * nodes of the documents (recursive schemas are fine) and the validator
 * follows their $refs through spec->refs.
 *
 * $refs across files are docset.c's; Swagger 2.0 operations are converted
 * by swagger.c into the same model. What kumo would have to implement to
 * honour a feature, and does not, is refused with its position rather
 * than ignored (docs/openapi.md lists them).
 */
#include "openapi/openapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "docset.h"
#include "base/strlist.h"

#define URL_MAX 2048

static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace", NULL};

static int is_c_ident(const char *s, size_t len)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return 0;
    return 1;
}

static int is_unit_name(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int oom(kumo__error *err)
{
    return kumo__spec_oom(err);
}

int kumo__spec_oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int read_version(kumo__spec *s, json_t *root, kumo__error *err)
{
    json_t *oa = json_object_get(root, "openapi"), *sw = json_object_get(root, "swagger");
    const char *v = json_string_value(oa);
    if (oa && sw) {
        kumo__doc_key_error(err, s->doc, root, "swagger", "both 'openapi' and 'swagger' are set; keep one");
        return -EINVAL;
    }
    if (v && strncmp(v, "3.", 2) == 0 && (v[2] == '0' || v[2] == '1') && v[3] == '.' && v[4] >= '0' && v[4] <= '9') {
        s->version = v[2] == '0' ? 30 : 31;
        return 0;
    }
    if (v && v[0] == '3') {
        kumo__doc_value_error(err, s->doc, root, "openapi", "openapi '%s' is not supported; kumo reads 3.0.x and 3.1.x",
                              v);
        return -EINVAL;
    }
    if ((json_is_string(sw) && strcmp(json_string_value(sw), "2.0") == 0) ||
        (json_is_real(sw) && json_real_value(sw) == 2.0)) {
        s->version = 20;
        return 0;
    }
    const char *key = oa ? "openapi" : sw ? "swagger" : NULL;
    const char *what = "expected 'openapi: 3.x.y' or 'swagger: \"2.0\"'";
    if (key)
        kumo__doc_value_error(err, s->doc, root, key, "%s (a string: quote it)", what);
    else
        kumo__doc_error(err, s->doc, root, "%s at the top of the document", what);
    return -EINVAL;
}

/* servers[0].url with {variables} replaced by their defaults -> the path
 * part, without a trailing '/'. */
static int server_path(kumo__spec *s, kumo__doc *doc, json_t *root, int swagger, char **out, kumo__error *err)
{
    json_t *servers = json_object_get(root, "servers");
    json_t *server = json_array_get(servers, 0);
    json_t *url = server ? json_object_get(server, "url") : NULL;
    char buf[URL_MAX];
    size_t len = 0;
    (void)s;
    if (swagger) {
        url = json_object_get(root, "basePath");
        server = NULL;
    }
    if (url && !json_is_string(url)) {
        kumo__doc_error(err, doc, url, "%s must be a string", swagger ? "basePath" : "servers[0].url");
        return -EINVAL;
    }
    const char *u = url ? json_string_value(url) : "";
    json_t *vars = server ? json_object_get(server, "variables") : NULL;
    while (*u) {
        const char *piece = u;
        size_t n;
        if (*u == '{') {
            const char *close = strchr(u, '}');
            if (close == NULL) {
                kumo__doc_error(err, doc, url, "unclosed '{' in server url '%s'", json_string_value(url));
                return -EINVAL;
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(close - u - 1), u + 1);
            piece = json_string_value(json_object_get(json_object_get(vars, name), "default"));
            if (piece == NULL) {
                kumo__doc_error(err, doc, url,
                                "server variable '{%s}' has no default; add servers[0].variables.%s.default", name,
                                name);
                return -EINVAL;
            }
            n = strlen(piece);
            u = close + 1;
        } else {
            n = strcspn(u, "{");
            u += n;
        }
        if (n >= sizeof buf - len) {
            kumo__doc_error(err, doc, url, "server url is longer than %d bytes", URL_MAX - 1);
            return -EINVAL;
        }
        memcpy(buf + len, piece, n);
        len += n;
    }
    buf[len] = '\0';
    /* "https://host:8080/v1" or "//host/v1" -> "/v1"; "/v1" and "v1" -> "/v1" */
    const char *p = buf, *scheme = strstr(buf, "://");
    if (scheme || strncmp(buf, "//", 2) == 0) {
        const char *host = scheme ? scheme + 3 : buf + 2;
        p = host + strcspn(host, "/?#");
    }
    size_t plen = strcspn(p, "?#");
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    int slash = plen > 0 && p[0] != '/';
    if ((*out = malloc(plen + slash + 1)) == NULL)
        return oom(err);
    (*out)[0] = '/';
    memcpy(*out + slash, p, plen);
    (*out)[plen + slash] = '\0';
    return 0;
}

static int read_base_path(kumo__spec *s, json_t *root, kumo__error *err)
{
    return server_path(s, s->doc, root, s->version == 20, &s->base_path, err);
}

/* `servers` on a Path Item or an Operation: accepted only when it keeps
 * the document's base path, since kumo routes under one. */
static int check_servers(kumo__spec *s, kumo__doc *doc, json_t *holder, kumo__error *err)
{
    if (json_object_get(holder, "servers") == NULL)
        return 0;
    char *path = NULL;
    int rc = server_path(s, doc, holder, 0, &path, err);
    if (rc == 0 && strcmp(path, s->base_path) != 0) {
        kumo__doc_key_error(err, doc, holder, "servers",
                            "these servers put the API under '%s', but the document's servers[0] puts it under '%s'; "
                            "kumo routes under one base path: remove these servers or give them the same path",
                            path[0] ? path : "/", s->base_path[0] ? s->base_path : "/");
        rc = -EINVAL;
    }
    free(path);
    return rc;
}

/* x-kumo-handler and operationId -> op->unit, op->symbol. */
static int read_handler(kumo__doc *doc, json_t *node, kumo__operation *op, kumo__error *err)
{
    json_t *h = json_object_get(node, "x-kumo-handler");
    if (h) {
        const char *v = json_string_value(h);
        const char *dot = v ? strchr(v, '.') : NULL;
        const char *sym = dot ? dot + 1 : v;
        if (v == NULL || (dot && !is_unit_name(v, (size_t)(dot - v))) || !is_c_ident(sym, strlen(sym))) {
            kumo__doc_value_error(err, doc, node, "x-kumo-handler",
                                  "x-kumo-handler must be \"UNIT.SYMBOL\" or \"SYMBOL\" (UNIT: a-z, 0-9, '_', '-'; "
                                  "SYMBOL: a C identifier), like \"todos.list_todos\"");
            return -EINVAL;
        }
        if (dot && (op->unit = strndup(v, (size_t)(dot - v))) == NULL)
            return oom(err);
        if ((op->symbol = strdup(sym)) == NULL)
            return oom(err);
        return 0;
    }
    if (op->operation_id && is_c_ident(op->operation_id, strlen(op->operation_id)) &&
        (op->symbol = strdup(op->operation_id)) == NULL)
        return oom(err);
    return 0;
}

/* ---- shared helpers (docset.h) ------------------------------------------- */

char *kumo__spec_lowerdup(const char *s)
{
    char *d = strdup(s);
    if (d)
        for (char *c = d; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    return d;
}

void kumo__spec_param_clear(kumo__param *p)
{
    free(p->name);
    free(p->content_type);
    free((char *)p->schema_location);
    memset(p, 0, sizeof *p);
}

static int same_param(const kumo__param *a, const kumo__param *b)
{
    if (a->in != b->in)
        return 0;
    return a->in == KUMO__IN_HEADER ? strcasecmp(a->name, b->name) == 0 : strcmp(a->name, b->name) == 0;
}

int kumo__spec_put_param(kumo__operation *op, kumo__param *p, size_t first_own)
{
    for (size_t i = 0; i < op->nparams; i++) {
        if (!same_param(&op->params[i], p))
            continue;
        if (i >= first_own)
            return 1;
        kumo__spec_param_clear(&op->params[i]);
        op->params[i] = *p;
        memset(p, 0, sizeof *p);
        return 0;
    }
    kumo__param *a = realloc(op->params, (op->nparams + 1) * sizeof *a);
    if (a == NULL)
        return -ENOMEM;
    op->params = a;
    a[op->nparams++] = *p;
    memset(p, 0, sizeof *p);
    return 0;
}

kumo__media *kumo__spec_add_media(kumo__media **arr, size_t *n)
{
    kumo__media *a = realloc(*arr, (*n + 1) * sizeof *a);
    if (a == NULL)
        return NULL;
    *arr = a;
    memset(&a[*n], 0, sizeof a[*n]);
    return &a[(*n)++];
}

kumo__response *kumo__spec_add_response(kumo__operation *op)
{
    kumo__response *a = realloc(op->responses, (op->nresponses + 1) * sizeof *a);
    if (a == NULL)
        return NULL;
    op->responses = a;
    memset(&a[op->nresponses], 0, sizeof a[op->nresponses]);
    return &a[op->nresponses++];
}

char *kumo__spec_location(const kumo__docset *ds, const kumo__loc *loc, const char *token)
{
    kumo__loc l = *loc;
    if (token)
        kumo__ptrbuf_push(&l.ptr, token, strlen(token));
    return kumo__docset_location(ds, &l);
}

int kumo__spec_status_ok(const char *key)
{
    if (strcmp(key, "default") == 0)
        return 1;
    if (strlen(key) != 3 || key[0] < '1' || key[0] > '5')
        return 0;
    if ((key[1] == 'X' || key[1] == 'x') && (key[2] == 'X' || key[2] == 'x'))
        return 1;
    return key[1] >= '0' && key[1] <= '9' && key[2] >= '0' && key[2] <= '9';
}

static void free_media(kumo__media *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].type);
        free((char *)m[i].schema_location);
    }
    free(m);
}

/* ---- OpenAPI 3.x: parameters, request bodies, responses ------------------ */

typedef struct reader {
    kumo__spec *s;
    kumo__docset *ds;
    kumo__error *err;
} reader;

static const char *const in_names[] = {"path", "query", "header", "cookie", NULL};
static const char *const style_names[] = {"form",           "simple",        "label",      "matrix",
                                          "spaceDelimited", "pipeDelimited", "deepObject", NULL};
/* which styles each `in` allows (bit per kumo__param_style) */
static const unsigned style_allowed[] = {
    [KUMO__IN_PATH] = 1u << KUMO__STYLE_SIMPLE | 1u << KUMO__STYLE_LABEL | 1u << KUMO__STYLE_MATRIX,
    [KUMO__IN_QUERY] = 1u << KUMO__STYLE_FORM | 1u << KUMO__STYLE_SPACE_DELIMITED | 1u << KUMO__STYLE_PIPE_DELIMITED |
                       1u << KUMO__STYLE_DEEP_OBJECT,
    [KUMO__IN_HEADER] = 1u << KUMO__STYLE_SIMPLE,
    [KUMO__IN_COOKIE] = 1u << KUMO__STYLE_FORM,
};
static const char *const style_hint[] = {
    [KUMO__IN_PATH] = "simple, label or matrix",
    [KUMO__IN_QUERY] = "form, spaceDelimited, pipeDelimited or deepObject",
    [KUMO__IN_HEADER] = "simple",
    [KUMO__IN_COOKIE] = "form",
};

static int index_of(const char *s, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return i;
    return -1;
}

/* A boolean field: 0 and *out set (untouched when absent), or an error. */
static int get_bool(reader *r, kumo__doc *doc, json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        kumo__doc_value_error(r->err, doc, obj, key, "%s must be true or false", key);
        return -EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

/* A Media Type Object's entry of `content` -> *m. */
static int read_media(reader *r, const char *type, json_t *mt, const kumo__loc *content_loc, json_t *content,
                      kumo__media *m)
{
    kumo__loc loc = *content_loc;
    kumo__ptrbuf_push(&loc.ptr, type, strlen(type));
    if ((m->type = kumo__spec_lowerdup(type)) == NULL)
        return oom(r->err);
    if (!json_is_object(mt)) {
        kumo__doc_value_error(r->err, loc.doc, content, type, "media type '%s' must be a mapping (a Media Type Object)",
                              type);
        return -EINVAL;
    }
    if (json_object_get(mt, "encoding")) {
        kumo__doc_key_error(r->err, loc.doc, mt, "encoding",
                            "'encoding' is not supported: kumo parses %s bodies with the default rules and would not "
                            "apply it; remove it",
                            type);
        return -EINVAL;
    }
    m->schema = json_object_get(mt, "schema");
    if (m->schema && (m->schema_location = kumo__spec_location(r->ds, &loc, "schema")) == NULL)
        return oom(r->err);
    return 0;
}

/* A content map -> *arr; `loc` is the content map's location. */
static int read_content(reader *r, json_t *holder, const kumo__loc *holder_loc, kumo__media **arr, size_t *n)
{
    json_t *content = json_object_get(holder, "content");
    if (content == NULL)
        return 0;
    if (!json_is_object(content)) {
        kumo__doc_value_error(r->err, holder_loc->doc, holder, "content",
                              "content must be a mapping of media type -> Media Type Object");
        return -EINVAL;
    }
    kumo__loc loc = *holder_loc;
    kumo__ptrbuf_push(&loc.ptr, "content", 7);
    const char *type;
    json_t *mt;
    json_object_foreach(content, type, mt)
    {
        if (strchr(type, '/') == NULL) {
            kumo__doc_key_error(r->err, loc.doc, content, type,
                                "'%s' is not a media type; write type/subtype, like application/json", type);
            return -EINVAL;
        }
        kumo__media *m = kumo__spec_add_media(arr, n);
        if (m == NULL)
            return oom(r->err);
        int rc = read_media(r, type, mt, &loc, content, m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One Parameter Object (or a $ref to one) -> *p. Returns 1 when the
 * parameter is one OpenAPI says to ignore (header Accept, Content-Type,
 * Authorization). */
static int read_param(reader *r, json_t *node, kumo__loc loc, kumo__param *p)
{
    kumo__error *err = r->err;
    if ((node = kumo__docset_deref(r->ds, node, &loc, "parameter", err)) == NULL)
        return err->code ? err->code : -EINVAL;
    kumo__doc *doc = loc.doc;
    if (!json_is_object(node)) {
        kumo__doc_error(err, doc, node, "a parameter must be a mapping (a Parameter Object) with name: and in:");
        return -EINVAL;
    }
    json_t *name = json_object_get(node, "name"), *in = json_object_get(node, "in");
    if (!json_is_string(name) || json_string_length(name) == 0) {
        if (name)
            kumo__doc_value_error(err, doc, node, "name", "a parameter's name must be a non-empty string");
        else
            kumo__doc_error(err, doc, node, "this parameter has no name; add name:");
        return -EINVAL;
    }
    const char *pname = json_string_value(name);
    int which = json_is_string(in) ? index_of(json_string_value(in), in_names) : -1;
    if (which < 0) {
        if (json_is_string(in) && strcmp(json_string_value(in), "querystring") == 0)
            kumo__doc_value_error(err, doc, node, "in",
                                  "parameter '%s': in: querystring is not supported; declare the query parameters "
                                  "one by one with in: query",
                                  pname);
        else if (in)
            kumo__doc_value_error(err, doc, node, "in", "parameter '%s': in must be path, query, header or cookie",
                                  pname);
        else
            kumo__doc_error(err, doc, node, "parameter '%s' has no 'in'; add in: path, query, header or cookie", pname);
        return -EINVAL;
    }
    p->in = (kumo__param_in)which;
    if (p->in == KUMO__IN_HEADER && (strcasecmp(pname, "accept") == 0 || strcasecmp(pname, "content-type") == 0 ||
                                     strcasecmp(pname, "authorization") == 0))
        return 1;
    if ((p->name = strdup(pname)) == NULL)
        return oom(err);
    int rc;
    json_t *req = json_object_get(node, "required");
    if ((rc = get_bool(r, doc, node, "required", &p->required)) < 0)
        return rc;
    if (p->in == KUMO__IN_PATH && !p->required) {
        if (req)
            kumo__doc_value_error(err, doc, node, "required", "path parameter '%s' must have required: true", pname);
        else
            kumo__doc_error(err, doc, node, "path parameter '%s' must have required: true", pname);
        return -EINVAL;
    }
    p->style = p->in == KUMO__IN_PATH || p->in == KUMO__IN_HEADER ? KUMO__STYLE_SIMPLE : KUMO__STYLE_FORM;
    json_t *style = json_object_get(node, "style");
    if (style) {
        int st = json_is_string(style) ? index_of(json_string_value(style), style_names) : -1;
        if (st < 0 || !(style_allowed[p->in] & 1u << st)) {
            kumo__doc_value_error(err, doc, node, "style", "parameter '%s': style of a %s parameter must be %s", pname,
                                  in_names[p->in], style_hint[p->in]);
            return -EINVAL;
        }
        p->style = (kumo__param_style)st;
    }
    p->explode = p->style == KUMO__STYLE_FORM;
    if ((rc = get_bool(r, doc, node, "explode", &p->explode)) < 0 ||
        (rc = get_bool(r, doc, node, "allowEmptyValue", &p->allow_empty)) < 0 ||
        (rc = get_bool(r, doc, node, "allowReserved", &p->allow_reserved)) < 0)
        return rc;
    if (p->in != KUMO__IN_QUERY && (p->allow_empty || p->allow_reserved)) {
        const char *key = p->allow_empty ? "allowEmptyValue" : "allowReserved";
        kumo__doc_key_error(err, doc, node, key, "parameter '%s': %s applies only to query parameters; remove it",
                            pname, key);
        return -EINVAL;
    }
    json_t *schema = json_object_get(node, "schema"), *content = json_object_get(node, "content");
    if (schema && content) {
        kumo__doc_key_error(err, doc, node, "content", "parameter '%s' has both schema and content; keep one", pname);
        return -EINVAL;
    }
    if (schema) {
        p->schema = schema;
        if ((p->schema_location = kumo__spec_location(r->ds, &loc, "schema")) == NULL)
            return oom(err);
        return 0;
    }
    if (content == NULL) {
        kumo__doc_error(err, doc, node, "parameter '%s' has no schema; add one (or content:)", pname);
        return -EINVAL;
    }
    if (!json_is_object(content) || json_object_size(content) != 1) {
        kumo__doc_value_error(err, doc, node, "content", "parameter '%s': content must map exactly one media type",
                              pname);
        return -EINVAL;
    }
    kumo__media m = {0};
    kumo__media *arr = NULL;
    size_t n = 0;
    if ((rc = read_content(r, node, &loc, &arr, &n)) == 0 && n == 1) {
        p->content_type = arr[0].type;
        p->schema = arr[0].schema;
        p->schema_location = arr[0].schema_location;
        arr[0] = m;
    }
    free_media(arr, n);
    return rc;
}

/* A list of parameters (path level or operation level) into op. */
static int read_params(reader *r, kumo__operation *op, json_t *holder, const kumo__loc *holder_loc, size_t first_own)
{
    json_t *list = json_object_get(holder, "parameters");
    if (list == NULL)
        return 0;
    if (!json_is_array(list)) {
        kumo__doc_value_error(r->err, holder_loc->doc, holder, "parameters", "parameters must be a list");
        return -EINVAL;
    }
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry)
    {
        kumo__loc loc = *holder_loc;
        kumo__ptrbuf_push(&loc.ptr, "parameters", 10);
        kumo__ptrbuf_push_index(&loc.ptr, i);
        kumo__param p = {0};
        int rc = read_param(r, entry, loc, &p);
        if (rc == 0 && (rc = kumo__spec_put_param(op, &p, first_own)) == 1) {
            kumo__doc_error(r->err, holder_loc->doc, entry, "parameter '%s' in %s is declared twice; keep one", p.name,
                            in_names[p.in]);
            rc = -EINVAL;
        } else if (rc == 1) {
            rc = 0;
        }
        kumo__spec_param_clear(&p);
        if (rc < 0)
            return rc == -ENOMEM ? oom(r->err) : rc;
    }
    return 0;
}

static int read_body(reader *r, kumo__operation *op, json_t *node, const kumo__loc *op_loc)
{
    json_t *body = json_object_get(node, "requestBody");
    if (body == NULL)
        return 0;
    kumo__loc loc = *op_loc;
    kumo__ptrbuf_push(&loc.ptr, "requestBody", 11);
    if ((body = kumo__docset_deref(r->ds, body, &loc, "request body", r->err)) == NULL)
        return -EINVAL;
    if (!json_is_object(body)) {
        kumo__doc_error(r->err, loc.doc, body, "requestBody must be a mapping (a Request Body Object) with content:");
        return -EINVAL;
    }
    int rc = get_bool(r, loc.doc, body, "required", &op->body_required);
    if (rc < 0)
        return rc;
    if (!json_object_get(body, "content")) {
        kumo__doc_error(r->err, loc.doc, body, "requestBody has no content; add content: {application/json: ...}");
        return -EINVAL;
    }
    return read_content(r, body, &loc, &op->body, &op->nbody);
}

static int read_headers(reader *r, json_t *resp, const kumo__loc *resp_loc, kumo__response *out)
{
    json_t *headers = json_object_get(resp, "headers");
    if (headers == NULL)
        return 0;
    if (!json_is_object(headers)) {
        kumo__doc_value_error(r->err, resp_loc->doc, resp, "headers", "headers must be a mapping of name -> Header");
        return -EINVAL;
    }
    const char *name;
    json_t *h;
    json_object_foreach(headers, name, h)
    {
        kumo__loc loc = *resp_loc;
        kumo__ptrbuf_push(&loc.ptr, "headers", 7);
        kumo__ptrbuf_push(&loc.ptr, name, strlen(name));
        json_t *target = kumo__docset_deref(r->ds, h, &loc, "header", r->err);
        if (target == NULL)
            return -EINVAL;
        if (!json_is_object(target)) {
            kumo__doc_error(r->err, loc.doc, target, "header '%s' must be a mapping (a Header Object)", name);
            return -EINVAL;
        }
        if (strcasecmp(name, "content-type") == 0) /* OpenAPI: ignored */
            continue;
        char **a = realloc(out->headers, (out->nheaders + 1) * sizeof *a);
        if (a == NULL)
            return oom(r->err);
        out->headers = a;
        if ((a[out->nheaders] = kumo__spec_lowerdup(name)) == NULL)
            return oom(r->err);
        out->nheaders++;
    }
    return 0;
}

static int read_responses(reader *r, kumo__operation *op, json_t *node, const kumo__loc *op_loc)
{
    json_t *responses = json_object_get(node, "responses");
    if (responses == NULL)
        return 0;
    if (!json_is_object(responses)) {
        kumo__doc_value_error(r->err, op_loc->doc, node, "responses",
                              "responses must be a mapping of status -> Response");
        return -EINVAL;
    }
    const char *status;
    json_t *resp;
    json_object_foreach(responses, status, resp)
    {
        if (strncmp(status, "x-", 2) == 0)
            continue;
        if (!kumo__spec_status_ok(status)) {
            kumo__doc_key_error(r->err, op_loc->doc, responses, status,
                                "'%s' is not a response status; write a code (200), a range (2XX) or default", status);
            return -EINVAL;
        }
        kumo__loc loc = *op_loc;
        kumo__ptrbuf_push(&loc.ptr, "responses", 9);
        kumo__ptrbuf_push(&loc.ptr, status, strlen(status));
        if ((resp = kumo__docset_deref(r->ds, resp, &loc, "response", r->err)) == NULL)
            return -EINVAL;
        if (!json_is_object(resp)) {
            kumo__doc_error(r->err, loc.doc, resp, "response '%s' must be a mapping (a Response Object)", status);
            return -EINVAL;
        }
        kumo__response *out = kumo__spec_add_response(op);
        if (out == NULL || (out->status = strdup(status)) == NULL)
            return oom(r->err);
        int rc;
        if ((rc = read_content(r, resp, &loc, &out->content, &out->ncontent)) < 0 ||
            (rc = read_headers(r, resp, &loc, out)) < 0)
            return rc;
    }
    return 0;
}

/* ---- paths and operations --------------------------------------------------- */

/* The template's parameter names, or -1 when the template is malformed
 * (the router says how). */
static int template_params(const char *path, const char *names[KUMO__ROUTE_PARAMS_MAX + 1],
                           size_t lens[KUMO__ROUTE_PARAMS_MAX + 1])
{
    int n = 0;
    for (const char *seg = path; *seg;) {
        size_t len = strcspn(seg, "/");
        const char *open = memchr(seg, '{', len), *close = memchr(seg, '}', len);
        if (open || close) {
            if (!open || !close || close < open || close == open + 1 || n > KUMO__ROUTE_PARAMS_MAX ||
                memchr(open + 1, '{', (size_t)(seg + len - open - 1)) ||
                memchr(close + 1, '}', (size_t)(seg + len - close - 1)))
                return -1;
            names[n] = open + 1;
            lens[n++] = (size_t)(close - open - 1);
        }
        seg += len;
        if (*seg == '/')
            seg++;
    }
    return n;
}

/* Every {name} of the template is a declared path parameter and every
 * declared path parameter is in the template. An operation that declares
 * no path parameter at all (a sketch of an API) gets them implied: each a
 * required string; one that declares some must declare all. */
static int check_path_params(reader *r, json_t *paths, const char *path, kumo__operation *op, const kumo__loc *item_loc)
{
    kumo__spec *s = r->s;
    kumo__error *err = r->err;
    const char *names[KUMO__ROUTE_PARAMS_MAX + 1];
    size_t lens[KUMO__ROUTE_PARAMS_MAX + 1];
    int n = template_params(path, names, lens);
    if (n < 0)
        return 0;
    size_t declared = 0;
    for (size_t i = 0; i < op->nparams; i++) {
        if (op->params[i].in != KUMO__IN_PATH)
            continue;
        declared++;
        const char *pn = op->params[i].name;
        int found = 0;
        for (int k = 0; k < n && !found; k++)
            found = strlen(pn) == lens[k] && strncmp(pn, names[k], lens[k]) == 0;
        if (!found) {
            kumo__doc_key_error(err, s->doc, paths, path,
                                "%s %s declares the path parameter '%s', which the path does not have; remove it or "
                                "add {%s} to the path",
                                op->method, path, pn, pn);
            return -EINVAL;
        }
    }
    for (int k = 0; k < n; k++) {
        int found = 0;
        for (size_t i = 0; i < op->nparams && !found; i++)
            found = op->params[i].in == KUMO__IN_PATH && strlen(op->params[i].name) == lens[k] &&
                    strncmp(op->params[i].name, names[k], lens[k]) == 0;
        if (found)
            continue;
        if (declared) {
            kumo__doc_key_error(err, s->doc, paths, path,
                                "path '%s' has the parameter {%.*s} but %s declares no path parameter '%.*s'; add "
                                "{name: %.*s, in: path, required: true, schema: {type: string}}",
                                path, (int)lens[k], names[k], op->method, (int)lens[k], names[k], (int)lens[k],
                                names[k]);
            return -EINVAL;
        }
        kumo__param p = {.in = KUMO__IN_PATH, .style = KUMO__STYLE_SIMPLE, .required = 1};
        p.schema = kumo__docset_keep(r->ds, json_pack("{s:s}", "type", "string"));
        if (p.schema == NULL || (p.name = strndup(names[k], lens[k])) == NULL ||
            (p.schema_location = kumo__docset_location(r->ds, item_loc)) == NULL ||
            kumo__spec_put_param(op, &p, op->nparams) < 0) {
            kumo__spec_param_clear(&p);
            return oom(err);
        }
    }
    return 0;
}

static int read_operation(reader *r, json_t *paths, const char *path, const char *method, json_t *item,
                          const kumo__loc *item_loc, json_t *node, json_t *ids)
{
    kumo__spec *s = r->s;
    kumo__error *err = r->err;
    kumo__operation *op = &s->ops[s->nops++];
    kumo__loc op_loc = *item_loc;
    kumo__ptrbuf_push(&op_loc.ptr, method, strlen(method));
    op->unit_index = -1;
    op->node = node;
    if ((op->method = strdup(method)) == NULL || (op->path = strdup(path)) == NULL)
        return oom(err);
    for (char *c = op->method; *c; c++)
        *c = (char)(*c - 'a' + 'A');
    json_t *id = json_object_get(node, "operationId");
    if (id) {
        if (!json_is_string(id)) {
            kumo__doc_value_error(err, op_loc.doc, node, "operationId", "operationId must be a string");
            return -EINVAL;
        }
        json_t *first = json_object_get(ids, json_string_value(id));
        if (first) {
            int line = 0, col = 0;
            kumo__doc *fdoc = kumo__docset_doc_of(r->ds, first);
            kumo__doc_pos(fdoc, first, &line, &col);
            if (fdoc && fdoc != op_loc.doc)
                kumo__doc_error(err, op_loc.doc, id, "operationId '%s' is also used at %s:%d:%d; make them unique",
                                json_string_value(id), kumo__doc_path(fdoc), line, col);
            else
                kumo__doc_error(err, op_loc.doc, id,
                                "operationId '%s' is also used at line %d, column %d; make them unique",
                                json_string_value(id), line, col);
            return -EINVAL;
        }
        if (json_object_set(ids, json_string_value(id), id) < 0 ||
            (op->operation_id = strdup(json_string_value(id))) == NULL)
            return oom(err);
    }
    int rc = read_handler(op_loc.doc, node, op, err);
    if (rc < 0 || (rc = check_servers(s, op_loc.doc, node, err)) < 0)
        return rc;
    if (s->version == 20) {
        rc = kumo__swagger_operation(s, r->ds, op, item, item_loc, node, &op_loc, err);
    } else if ((rc = read_params(r, op, item, item_loc, 0)) == 0) {
        size_t first_own = op->nparams;
        if ((rc = read_params(r, op, node, &op_loc, first_own)) == 0 && (rc = read_body(r, op, node, &op_loc)) == 0)
            rc = read_responses(r, op, node, &op_loc);
    }
    if (rc < 0)
        return rc;
    return check_path_params(r, paths, path, op, item_loc);
}

/* The Path Item of `path`, its $refs followed; checks its fields and
 * counts its operations. */
static json_t *path_item(reader *r, json_t *paths, const char *path, json_t *item, kumo__loc *loc, size_t *nops)
{
    static const char *const fields[] = {"$ref", "summary", "description", "servers", "parameters", NULL};
    kumo__error *err = r->err;
    kumo__doc *doc = r->s->doc;
    const char *key;
    json_t *v;
    if (path[0] != '/') {
        kumo__doc_key_error(err, doc, paths, path, "path '%s' must start with '/'", path);
        return NULL;
    }
    if (!json_is_object(item)) {
        kumo__doc_value_error(err, doc, paths, path, "path '%s' must be a mapping (a Path Item)", path);
        return NULL;
    }
    if (json_object_get(item, "$ref")) {
        json_object_foreach(item, key, v)
        {
            if (kumo__in_list(key, methods) || strcmp(key, "parameters") == 0) {
                kumo__doc_key_error(err, doc, item, key,
                                    "path '%s' has both $ref and '%s'; move '%s' into the referenced Path Item", path,
                                    key, key);
                return NULL;
            }
        }
        if ((item = kumo__docset_deref(r->ds, item, loc, "path item", err)) == NULL)
            return NULL;
        if (!json_is_object(item)) {
            kumo__doc_error(err, loc->doc, item, "the $ref of path '%s' must reach a mapping (a Path Item)", path);
            return NULL;
        }
    }
    if (check_servers(r->s, loc->doc, item, err) < 0)
        return NULL;
    json_object_foreach(item, key, v)
    {
        if (kumo__in_list(key, methods)) {
            (*nops)++;
        } else if (!kumo__in_list(key, fields) && strncmp(key, "x-", 2) != 0) {
            kumo__doc_key_error(err, loc->doc, item, key,
                                "'%s' is not a method or Path Item field; methods are lower case: get, put, "
                                "post, delete, options, head, patch, trace",
                                key);
            return NULL;
        }
    }
    return item;
}

static int read_paths(reader *r, json_t *root)
{
    kumo__spec *s = r->s;
    kumo__error *err = r->err;
    json_t *paths = json_object_get(root, "paths");
    if (paths == NULL)
        return 0;
    if (!json_is_object(paths)) {
        kumo__doc_value_error(err, s->doc, root, "paths", "paths must be a mapping of '/path' -> Path Item");
        return -EINVAL;
    }
    const char *path, *key;
    json_t *item, *v;
    size_t n = 0;
    json_object_foreach(paths, path, item)
    {
        if (strncmp(path, "x-", 2) == 0)
            continue;
        kumo__loc loc = {.doc = s->doc};
        kumo__ptrbuf_init(&loc.ptr);
        kumo__ptrbuf_push(&loc.ptr, "paths", 5);
        kumo__ptrbuf_push(&loc.ptr, path, strlen(path));
        if (path_item(r, paths, path, item, &loc, &n) == NULL)
            return -EINVAL;
    }
    if (n == 0)
        return 0;
    json_t *ids = json_object();
    if (ids == NULL || (s->ops = calloc(n, sizeof *s->ops)) == NULL) {
        json_decref(ids);
        return oom(err);
    }
    int rc = 0;
    json_object_foreach(paths, path, item)
    {
        if (strncmp(path, "x-", 2) == 0)
            continue;
        kumo__loc loc = {.doc = s->doc};
        kumo__ptrbuf_init(&loc.ptr);
        kumo__ptrbuf_push(&loc.ptr, "paths", 5);
        kumo__ptrbuf_push(&loc.ptr, path, strlen(path));
        size_t unused = 0;
        if ((item = path_item(r, paths, path, item, &loc, &unused)) == NULL) {
            rc = -EINVAL;
            goto out;
        }
        json_object_foreach(item, key, v)
        {
            if (!kumo__in_list(key, methods))
                continue;
            if (!json_is_object(v)) {
                kumo__doc_value_error(err, loc.doc, item, key, "%s %s must be a mapping (an Operation Object)", key,
                                      path);
                rc = -EINVAL;
                goto out;
            }
            if ((rc = read_operation(r, paths, path, key, item, &loc, v, ids)) < 0)
                goto out;
        }
    }
out:
    json_decref(ids);
    return rc;
}

/* 3.1 webhooks are accepted (nothing is routed to them); their shape is
 * checked lightly so a typo does not pass unseen. */
static int read_webhooks(reader *r, json_t *root)
{
    json_t *hooks = json_object_get(root, "webhooks");
    if (hooks == NULL)
        return 0;
    if (r->s->version != 31) {
        kumo__doc_key_error(r->err, r->s->doc, root, "webhooks",
                            "webhooks are an OpenAPI 3.1 field; this document is %s",
                            r->s->version == 20 ? "Swagger 2.0" : "OpenAPI 3.0");
        return -EINVAL;
    }
    if (!json_is_object(hooks)) {
        kumo__doc_value_error(r->err, r->s->doc, root, "webhooks", "webhooks must be a mapping of name -> Path Item");
        return -EINVAL;
    }
    return 0;
}

int kumo__spec_load(const char *path, kumo__spec **out, kumo__error *err)
{
    *out = NULL;
    int rc;
    kumo__docset *ds = NULL;
    kumo__spec *s = calloc(1, sizeof *s);
    if (s == NULL)
        return oom(err);
    if ((rc = kumo__docset_open(path, &ds, err)) < 0)
        goto out;
    s->docset = ds;
    s->doc = kumo__docset_main(ds);
    s->refs = kumo__docset_refs(ds);
    json_t *root = kumo__doc_root(s->doc);
    if (!json_is_object(root)) {
        kumo__doc_error(err, s->doc, root, "expected an OpenAPI document: a mapping with openapi:, info: and paths:");
        rc = -EINVAL;
        goto out;
    }
    if ((rc = read_version(s, root, err)) < 0)
        goto out;
    s->dialect = s->version == 31 ? 31 : 30;
    json_t *info = json_object_get(root, "info");
    json_t *title = json_object_get(info, "title");
    if (title && !json_is_string(title)) {
        kumo__doc_value_error(err, s->doc, info, "title", "info.title must be a string");
        rc = -EINVAL;
        goto out;
    }
    if ((s->title = strdup(title ? json_string_value(title) : "")) == NULL) {
        rc = oom(err);
        goto out;
    }
    reader r = {s, ds, err};
    if ((rc = read_base_path(s, root, err)) < 0 || (rc = read_webhooks(&r, root)) < 0 ||
        (rc = read_paths(&r, root)) < 0)
        goto out;
out:
    if (rc < 0) {
        if (err->code == 0)
            kumo__error_set(err, rc, "loading the OpenAPI document failed");
        kumo__spec_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

kumo__doc *kumo__spec_doc_of(const kumo__spec *spec, const json_t *node)
{
    kumo__doc *d = spec->docset ? kumo__docset_doc_of(spec->docset, node) : NULL;
    return d ? d : spec->doc;
}

void kumo__spec_free(kumo__spec *spec)
{
    if (spec == NULL)
        return;
    for (size_t i = 0; i < spec->nops; i++) {
        kumo__operation *op = &spec->ops[i];
        free(op->method);
        free(op->path);
        free(op->operation_id);
        free(op->unit);
        free(op->symbol);
        for (size_t k = 0; k < op->nparams; k++)
            kumo__spec_param_clear(&op->params[k]);
        free(op->params);
        free_media(op->body, op->nbody);
        for (size_t k = 0; k < op->nresponses; k++) {
            kumo__response *resp = &op->responses[k];
            free(resp->status);
            free_media(resp->content, resp->ncontent);
            for (size_t h = 0; h < resp->nheaders; h++)
                free(resp->headers[h]);
            free(resp->headers);
        }
        free(op->responses);
    }
    free(spec->ops);
    free(spec->title);
    free(spec->base_path);
    if (spec->docset)
        kumo__docset_free(spec->docset);
    else
        kumo__doc_free(spec->doc);
    free(spec);
}
