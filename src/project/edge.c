/*
 * edge.c: see edge.h. kumo.yaml's http.cors, http.tls and
 * http.rate_limits, checked key by key: what the gateway cannot act on
 * (an unknown key, a credentialed wildcard, a missing file) is refused
 * here with kumo.yaml:line:column, never left to a silent default.
 */
#include "project/edge.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/http.h"
#include "base/strlist.h"
#include "project/project.h"

static const char *const cors_keys[] = {"origins",     "methods", "headers", "expose_headers",
                                        "credentials", "max_age", NULL};
static const char *const tls_keys[] = {"cert", "key", "client_ca", "client_cert", NULL};
static const char *const rule_keys[] = {"requests", "per", "burst", "by", NULL};
static const char *const methods_known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", NULL};

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

/* A list of strings under `key` of `obj`: each checked by `ok` (NULL: any
 * non-empty string of at most KUMO__CORS_MAX_ITEM bytes) and changed by
 * `fold` (tolower/toupper or NULL); *out is NULL-ended, malloc'd. */
static int read_list(const kumo__doc *doc, json_t *obj, const char *key, const char *what, const char *hint,
                     int (*ok)(const char *), int (*fold)(int), char ***out, kumo__error *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > KUMO__CORS_MAX_ITEMS) {
        kumo__doc_value_error(err, doc, obj, key, "http.cors.%s must be a list of 1 to %d %ss (like %s)", key,
                              KUMO__CORS_MAX_ITEMS, what, hint);
        return -EINVAL;
    }
    char **l = calloc(json_array_size(v) + 1, sizeof(*l));
    if (l == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        const char *s = json_is_string(e) ? json_string_value(e) : "";
        if (*s == '\0' || strlen(s) > KUMO__CORS_MAX_ITEM || (ok && !ok(s))) {
            kumo__doc_error(err, doc, e, "http.cors.%s: '%s' is not a valid %s (like %s)", key, s, what, hint);
            free_list(l);
            return -EINVAL;
        }
        if ((l[i] = strdup(s)) == NULL) {
            free_list(l);
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        for (char *c = l[i]; fold && *c; c++)
            *c = (char)fold((unsigned char)*c);
    }
    *out = l;
    return 0;
}

/* "*", or scheme://host[:port] with no path, query or userinfo. */
static int origin_ok(const char *s)
{
    if (strcmp(s, "*") == 0)
        return 1;
    const char *h = strstr(s, "://");
    if (h == NULL || h == s || h[3] == '\0')
        return 0;
    for (const char *c = s; c < h; c++)
        if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.')
            return 0;
    for (const char *c = h + 3; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != ':' && *c != '[' && *c != ']')
            return 0;
    return 1;
}

static int method_ok(const char *s)
{
    char up[16];
    size_t n = strlen(s);
    if (n >= sizeof(up))
        return 0;
    for (size_t i = 0; i <= n; i++)
        up[i] = (char)toupper((unsigned char)s[i]);
    return kumo__in_list(up, methods_known);
}

static int header_ok(const char *s)
{
    return strcmp(s, "*") == 0 || kumo__http_token(s, strlen(s));
}

/* "a, b, c" of a list, malloc'd. */
static char *join(char *const *l)
{
    size_t n = 1;
    for (size_t i = 0; l[i]; i++)
        n += strlen(l[i]) + 2;
    char *s = malloc(n), *p = s;
    if (s == NULL)
        return NULL;
    for (size_t i = 0; l[i]; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", l[i]);
    *p = '\0';
    return s;
}

static int in(char *const *l, const char *s)
{
    for (size_t i = 0; l && l[i]; i++)
        if (strcmp(l[i], s) == 0)
            return 1;
    return 0;
}

static int load_cors(const kumo__doc *doc, json_t *obj, kumo__cors_config *c, kumo__error *err)
{
    int rc;
    if (!json_is_object(obj)) {
        kumo__doc_error(err, doc, obj, "http.cors must be a mapping (origins:, methods:, headers:, ...)");
        return -EINVAL;
    }
    if ((rc = kumo__check_keys(doc, obj, cors_keys, "http.cors", err)) < 0)
        return rc;
    c->max_age_s = -1;
    if (json_object_get(obj, "origins") == NULL) {
        kumo__doc_error(err, doc, obj,
                        "http.cors needs origins: the origins browsers may call from (like [https://app.example.com]), "
                        "or [\"*\"] for any");
        return -EINVAL;
    }
    if ((rc = read_list(doc, obj, "origins", "origin", "https://app.example.com:8443 or \"*\"", origin_ok, tolower,
                        &c->origins, err)) < 0)
        return rc;
    c->any_origin = in(c->origins, "*");
    if (c->any_origin && c->origins[1] != NULL) {
        kumo__doc_value_error(err, doc, obj, "origins", "http.cors.origins: \"*\" allows every origin; list it alone");
        return -EINVAL;
    }
    static char *const default_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", NULL};
    if (json_object_get(obj, "methods")) {
        if ((rc = read_list(doc, obj, "methods", "HTTP method", "[GET, POST]", method_ok, toupper, &c->method_list,
                            err)) < 0)
            return rc;
    } else {
        if ((c->method_list = calloc(7, sizeof(char *))) == NULL)
            goto oom;
        for (size_t i = 0; default_methods[i]; i++)
            if ((c->method_list[i] = strdup(default_methods[i])) == NULL)
                goto oom;
    }
    if ((c->methods = join(c->method_list)) == NULL)
        goto oom;
    if (json_object_get(obj, "headers")) {
        if ((rc = read_list(doc, obj, "headers", "header name", "[content-type, authorization]", header_ok, tolower,
                            &c->headers, err)) < 0)
            return rc;
        c->any_header = in(c->headers, "*");
    }
    if (json_object_get(obj, "expose_headers")) {
        char **l = NULL;
        if ((rc = read_list(doc, obj, "expose_headers", "header name", "[x-request-id]", header_ok, tolower, &l, err)) <
            0)
            return rc;
        c->expose = join(l);
        free_list(l);
        if (c->expose == NULL)
            goto oom;
    }
    json_t *v = json_object_get(obj, "credentials");
    if (v && !json_is_boolean(v)) {
        kumo__doc_value_error(err, doc, obj, "credentials", "http.cors.credentials must be true or false");
        return -EINVAL;
    }
    c->credentials = v && json_is_true(v);
    if (c->credentials && c->any_origin) {
        kumo__doc_value_error(err, doc, obj, "credentials",
                              "http.cors.credentials: true cannot go with origins: [\"*\"] (browsers refuse a "
                              "credentialed answer to any origin); list the origins");
        return -EINVAL;
    }
    if (c->credentials && c->any_header) {
        kumo__doc_value_error(err, doc, obj, "credentials",
                              "http.cors.credentials: true cannot go with headers: [\"*\"] (browsers take \"*\" "
                              "literally then); list the headers");
        return -EINVAL;
    }
    if ((v = json_object_get(obj, "max_age"))) {
        double d = 0;
        if (kumo__parse_duration0(v, &d) < 0 || d > 86400 || d != floor(d)) {
            kumo__doc_value_error(err, doc, obj, "max_age",
                                  "http.cors.max_age must be whole seconds from 0 to 24h (like 10m)");
            return -EINVAL;
        }
        c->max_age_s = (long)d;
    }
    c->enabled = 1;
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* A file under tls: made absolute from dir, and readable. */
static int tls_file(const kumo__doc *doc, json_t *obj, const char *key, const char *dir, char **out, char *where,
                    size_t where_len, kumo__error *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    int line = 0, col = 0;
    kumo__doc_key_pos(doc, obj, key, &line, &col);
    kumo__doc_pos(doc, v, &line, &col);
    snprintf(where, where_len, "%s:%d:%d", kumo__doc_path(doc), line, col);
    if (*s == '\0') {
        kumo__doc_value_error(err, doc, obj, key, "http.tls.%s must be the path of a PEM file", key);
        return -EINVAL;
    }
    if ((s[0] == '/' ? asprintf(out, "%s", s) : asprintf(out, "%s/%s", dir, s)) < 0) {
        *out = NULL;
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    struct stat st;
    const char *why = NULL;
    if (stat(*out, &st) != 0 || access(*out, R_OK) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    if (why) {
        kumo__doc_value_error(err, doc, obj, key,
                              "http.tls.%s: cannot read '%s': %s; give the path of a PEM file (relative to the "
                              "project)",
                              key, *out, why);
        return -EINVAL;
    }
    return 0;
}

static int load_tls(const kumo__doc *doc, json_t *obj, const char *dir, kumo__tls_config *t, kumo__error *err)
{
    int rc;
    if (!json_is_object(obj)) {
        kumo__doc_error(err, doc, obj, "http.tls must be a mapping (cert:, key:, client_ca:)");
        return -EINVAL;
    }
    if ((rc = kumo__check_keys(doc, obj, tls_keys, "http.tls", err)) < 0)
        return rc;
    if (!json_object_get(obj, "cert") || !json_object_get(obj, "key")) {
        kumo__doc_error(err, doc, obj,
                        "http.tls needs both cert: and key: (PEM files: the certificate chain and its private key)");
        return -EINVAL;
    }
    if ((rc = tls_file(doc, obj, "cert", dir, &t->cert, t->where_cert, sizeof(t->where_cert), err)) < 0 ||
        (rc = tls_file(doc, obj, "key", dir, &t->key, t->where_key, sizeof(t->where_key), err)) < 0 ||
        (rc = tls_file(doc, obj, "client_ca", dir, &t->client_ca, t->where_client_ca, sizeof(t->where_client_ca),
                       err)) < 0)
        return rc;
    json_t *v = json_object_get(obj, "client_cert");
    if (v) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "required") != 0 && strcmp(s, "optional") != 0) {
            kumo__doc_value_error(err, doc, obj, "client_cert",
                                  "http.tls.client_cert must be required (the default: a client without a "
                                  "certificate is refused) or optional");
            return -EINVAL;
        }
        if (t->client_ca == NULL) {
            kumo__doc_key_error(err, doc, obj, "client_cert",
                                "http.tls.client_cert needs client_ca: (the PEM file of the CAs client certificates "
                                "are verified against)");
            return -EINVAL;
        }
        t->client_optional = strcmp(s, "optional") == 0;
    }
    return 0;
}

static int load_rules(const kumo__doc *doc, json_t *obj, kumo__edge_config *c, kumo__error *err)
{
    int rc;
    if (!json_is_object(obj) || json_object_size(obj) == 0) {
        kumo__doc_error(err, doc, obj,
                        "http.rate_limits must be a mapping of operationId (or \"*\" for every other operation) -> "
                        "{requests: N, per: DURATION}");
        return -EINVAL;
    }
    if ((c->rules = calloc(json_object_size(obj), sizeof(*c->rules))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    const char *name;
    json_t *e;
    json_object_foreach(obj, name, e)
    {
        kumo__rate_rule *r = &c->rules[c->nrules];
        kumo__doc_key_pos(doc, obj, name, &r->line, &r->col);
        if (!json_is_object(e)) {
            kumo__doc_value_error(err, doc, obj, name,
                                  "http.rate_limits.%s must be a mapping {requests: N, per: DURATION, burst: M, by: "
                                  "client|operation}",
                                  name);
            return -EINVAL;
        }
        char where[300];
        snprintf(where, sizeof(where), "http.rate_limits.%s", name);
        if ((rc = kumo__check_keys(doc, e, rule_keys, where, err)) < 0)
            return rc;
        json_t *v = json_object_get(e, "requests");
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000) {
            kumo__doc_value_error(err, doc, v ? e : obj, v ? "requests" : name,
                                  "http.rate_limits.%s.requests must be a whole number from 1 to 1000000000", name);
            return -EINVAL;
        }
        r->requests = (double)json_integer_value(v);
        v = json_object_get(e, "per");
        if (v == NULL || kumo__parse_duration(v, &r->per_s) < 0 || r->per_s > 86400 * 31.0) {
            kumo__doc_value_error(err, doc, v ? e : obj, v ? "per" : name,
                                  "http.rate_limits.%s.per must be a duration from 1ms to 744h (like 1s, 1m, 1h)",
                                  name);
            return -EINVAL;
        }
        r->burst = r->requests;
        if ((v = json_object_get(e, "burst"))) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000) {
                kumo__doc_value_error(err, doc, e, "burst",
                                      "http.rate_limits.%s.burst must be a whole number from 1 to 1000000000 (the "
                                      "bucket's size; requests: by default)",
                                      name);
                return -EINVAL;
            }
            r->burst = (double)json_integer_value(v);
        }
        r->per_client = 1;
        if ((v = json_object_get(e, "by"))) {
            const char *s = json_is_string(v) ? json_string_value(v) : "";
            if (strcmp(s, "client") != 0 && strcmp(s, "operation") != 0) {
                kumo__doc_value_error(err, doc, e, "by",
                                      "http.rate_limits.%s.by must be client (a bucket per caller, the default) or "
                                      "operation (one bucket for every caller)",
                                      name);
                return -EINVAL;
            }
            r->per_client = strcmp(s, "client") == 0;
        }
        if ((r->operation = strdup(name)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        c->nrules++;
    }
    return 0;
}

int kumo__edge_load(const kumo__doc *doc, json_t *http, const char *dir, kumo__edge_config *out, kumo__error *err)
{
    int rc = 0;
    json_t *v;
    snprintf(out->file, sizeof(out->file), "%s", kumo__doc_path(doc));
    if ((v = json_object_get(http, "cors")) && (rc = load_cors(doc, v, &out->cors, err)) < 0)
        return rc;
    if ((v = json_object_get(http, "tls")) && (rc = load_tls(doc, v, dir, &out->tls, err)) < 0)
        return rc;
    if ((v = json_object_get(http, "rate_limits")) && (rc = load_rules(doc, v, out, err)) < 0)
        return rc;
    return 0;
}

int kumo__edge_check_spec(const kumo__edge_config *c, const kumo__spec *spec, kumo__error *err)
{
    for (size_t i = 0; i < c->nrules; i++) {
        const kumo__rate_rule *r = &c->rules[i];
        if (strcmp(r->operation, "*") == 0)
            continue;
        const char *near = NULL;
        size_t best = 3;
        int found = 0;
        for (size_t o = 0; spec && o < spec->nops && !found; o++) {
            const char *id = spec->ops[o].operation_id;
            if (id == NULL)
                continue;
            found = strcmp(id, r->operation) == 0;
            size_t d = kumo__edit_distance(id, r->operation);
            if (d < best) {
                best = d;
                near = id;
            }
        }
        if (found)
            continue;
        char hint[200] = "";
        if (near)
            snprintf(hint, sizeof(hint), " (did you mean '%s'?)", near);
        kumo__error_set(err, -EINVAL,
                        "%s:%d:%d: http.rate_limits.%s: the OpenAPI document has no operation '%s'%s; a key under "
                        "rate_limits: is an operationId, or \"*\" for every operation without its own entry",
                        c->file, r->line, r->col, r->operation, r->operation, hint);
        return -EINVAL;
    }
    return 0;
}

void kumo__edge_free(kumo__edge_config *c)
{
    if (c == NULL)
        return;
    free_list(c->cors.origins);
    free_list(c->cors.method_list);
    free_list(c->cors.headers);
    free(c->cors.methods);
    free(c->cors.expose);
    free(c->tls.cert);
    free(c->tls.key);
    free(c->tls.client_ca);
    for (size_t i = 0; i < c->nrules; i++)
        free(c->rules[i].operation);
    free(c->rules);
    memset(c, 0, sizeof(*c));
}
