/*
 * spec.c: the OpenAPI document -> kumo__spec: the version (Swagger 2.0,
 * OpenAPI 3.0.x or 3.1.x), the title, the base path the gateway strips,
 * and one kumo__operation per (path, method) with the handler it names
 * (x-kumo-handler: UNIT.SYMBOL or SYMBOL, else operationId). Schemas and
 * parameters stay in the tree (op->node) for the layers that need them.
 */
#include "openapi/openapi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 2048

static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace", NULL};
static const char *const item_fields[] = {"$ref", "summary", "description", "servers", "parameters", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

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
    if (v && strncmp(v, "3.", 2) == 0 && (v[2] == '0' || v[2] == '1') && v[3] == '.' && v[4] >= '0' &&
        v[4] <= '9') {
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
static int read_base_path(kumo__spec *s, json_t *root, kumo__error *err)
{
    json_t *servers = json_object_get(root, "servers");
    json_t *server = json_array_get(servers, 0);
    json_t *url = server ? json_object_get(server, "url") : NULL;
    char buf[URL_MAX];
    size_t len = 0;
    if (s->version == 20) {
        url = json_object_get(root, "basePath");
        server = NULL;
    }
    if (url && !json_is_string(url)) {
        kumo__doc_error(err, s->doc, url, "%s must be a string", s->version == 20 ? "basePath" : "servers[0].url");
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
                kumo__doc_error(err, s->doc, url, "unclosed '{' in server url '%s'", json_string_value(url));
                return -EINVAL;
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(close - u - 1), u + 1);
            piece = json_string_value(json_object_get(json_object_get(vars, name), "default"));
            if (piece == NULL) {
                kumo__doc_error(err, s->doc, url,
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
            kumo__doc_error(err, s->doc, url, "server url is longer than %d bytes", URL_MAX - 1);
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
    if ((s->base_path = malloc(plen + slash + 1)) == NULL)
        return oom(err);
    s->base_path[0] = '/';
    memcpy(s->base_path + slash, p, plen);
    s->base_path[plen + slash] = '\0';
    return 0;
}

/* x-kumo-handler and operationId -> op->unit, op->symbol. */
static int read_handler(kumo__spec *s, json_t *node, kumo__operation *op, kumo__error *err)
{
    json_t *h = json_object_get(node, "x-kumo-handler");
    if (h) {
        const char *v = json_string_value(h);
        const char *dot = v ? strchr(v, '.') : NULL;
        const char *sym = dot ? dot + 1 : v;
        if (v == NULL || (dot && !is_unit_name(v, (size_t)(dot - v))) || !is_c_ident(sym, strlen(sym))) {
            kumo__doc_value_error(err, s->doc, node, "x-kumo-handler",
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

static int read_operation(kumo__spec *s, const char *path, const char *method, json_t *node, json_t *ids,
                          kumo__error *err)
{
    kumo__operation *op = &s->ops[s->nops++];
    op->unit_index = -1;
    op->node = node;
    if ((op->method = strdup(method)) == NULL || (op->path = strdup(path)) == NULL)
        return oom(err);
    for (char *c = op->method; *c; c++)
        *c = (char)(*c - 'a' + 'A');
    json_t *id = json_object_get(node, "operationId");
    if (id) {
        if (!json_is_string(id)) {
            kumo__doc_value_error(err, s->doc, node, "operationId", "operationId must be a string");
            return -EINVAL;
        }
        json_t *first = json_object_get(ids, json_string_value(id));
        if (first) {
            int line = 0, col = 0;
            kumo__doc_pos(s->doc, first, &line, &col);
            kumo__doc_error(err, s->doc, id, "operationId '%s' is also used at line %d, column %d; make them unique",
                            json_string_value(id), line, col);
            return -EINVAL;
        }
        if (json_object_set(ids, json_string_value(id), id) < 0 ||
            (op->operation_id = strdup(json_string_value(id))) == NULL)
            return oom(err);
    }
    return read_handler(s, node, op, err);
}

static int read_paths(kumo__spec *s, json_t *root, kumo__error *err)
{
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
    json_object_foreach(paths, path, item) {
        if (path[0] != '/') {
            kumo__doc_key_error(err, s->doc, paths, path, "path '%s' must start with '/'", path);
            return -EINVAL;
        }
        if (!json_is_object(item)) {
            kumo__doc_value_error(err, s->doc, paths, path, "path '%s' must be a mapping (a Path Item)", path);
            return -EINVAL;
        }
        if (json_object_get(item, "$ref")) {
            kumo__doc_key_error(err, s->doc, item, "$ref",
                                "a Path Item $ref is not supported yet; inline the operations under '%s'", path);
            return -EINVAL;
        }
        json_object_foreach(item, key, v) {
            if (in_list(key, methods)) {
                n++;
            } else if (!in_list(key, item_fields) && strncmp(key, "x-", 2) != 0) {
                kumo__doc_key_error(err, s->doc, item, key,
                                    "'%s' is not a method or Path Item field; methods are lower case: get, put, "
                                    "post, delete, options, head, patch, trace",
                                    key);
                return -EINVAL;
            }
        }
    }
    if (n == 0)
        return 0;
    json_t *ids = json_object();
    if (ids == NULL || (s->ops = calloc(n, sizeof *s->ops)) == NULL) {
        json_decref(ids);
        return oom(err);
    }
    int rc = 0;
    json_object_foreach(paths, path, item) {
        json_object_foreach(item, key, v) {
            if (!in_list(key, methods))
                continue;
            if (!json_is_object(v)) {
                kumo__doc_value_error(err, s->doc, item, key, "%s %s must be a mapping (an Operation Object)", key,
                                      path);
                rc = -EINVAL;
                goto out;
            }
            if ((rc = read_operation(s, path, key, v, ids, err)) < 0)
                goto out;
        }
    }
out:
    json_decref(ids);
    return rc;
}

int kumo__spec_load(const char *path, kumo__spec **out, kumo__error *err)
{
    *out = NULL;
    int rc;
    kumo__spec *s = calloc(1, sizeof *s);
    if (s == NULL)
        return oom(err);
    if ((rc = kumo__doc_load(path, &s->doc, err)) < 0)
        goto out;
    json_t *root = kumo__doc_root(s->doc);
    if (!json_is_object(root)) {
        kumo__doc_error(err, s->doc, root, "expected an OpenAPI document: a mapping with openapi:, info: and paths:");
        rc = -EINVAL;
        goto out;
    }
    if ((rc = read_version(s, root, err)) < 0)
        goto out;
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
    if ((rc = read_base_path(s, root, err)) < 0 || (rc = read_paths(s, root, err)) < 0)
        goto out;
out:
    if (rc < 0) {
        kumo__spec_free(s);
        return rc;
    }
    *out = s;
    return 0;
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
    }
    free(spec->ops);
    free(spec->title);
    free(spec->base_path);
    kumo__doc_free(spec->doc);
    free(spec);
}
