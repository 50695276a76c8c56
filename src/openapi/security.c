/*
 * security.c: see security.h. Reads the Security Scheme Objects and each
 * operation's Security Requirement Objects into plain arrays, once per
 * loaded document, so a request never walks the JSON tree: the auth layer
 * (src/auth/policy.c) enforces from these, and kumo mock checks presence
 * from them. Every refusal names file:line:column of the node at fault.
 */
#include "openapi/security.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openapi/schema.h"

static int oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return d;
}

/* Follows a Reference Object (3.x allows one in place of a scheme). */
static json_t *deref(const kumo__spec *spec, json_t *node, kumo__error *err)
{
    for (int n = 0; n < 32 && json_is_object(node) && json_is_string(json_object_get(node, "$ref")); n++) {
        node = spec->refs->resolve(spec->refs, node, json_string_value(json_object_get(node, "$ref")), NULL, 0, err);
        if (node == NULL)
            return NULL;
    }
    return node;
}

static int read_scheme(const kumo__spec *spec, kumo__sec_scheme *sc, const char *name, json_t *raw, kumo__error *err)
{
    const kumo__doc *doc = kumo__spec_doc_of(spec, raw);
    json_t *o = deref(spec, raw, err);
    if (o == NULL)
        return err->code ? err->code : -EINVAL;
    doc = kumo__spec_doc_of(spec, o);
    sc->node = o;
    sc->doc = doc;
    if ((sc->name = strdup(name)) == NULL)
        return oom(err);
    if (!json_is_object(o)) {
        kumo__doc_error(err, doc, o, "security scheme '%s' is not an object; give it a `type`", name);
        return -EINVAL;
    }
    const char *type = json_string_value(json_object_get(o, "type"));
    if (type == NULL) {
        kumo__doc_error(err, doc, o, "security scheme '%s' has no `type`; use apiKey, http, oauth2, openIdConnect%s",
                        name, spec->version == 20 ? " (2.0: basic, apiKey, oauth2)" : "");
        return -EINVAL;
    }
    if (strcmp(type, "apiKey") == 0) {
        sc->type = KUMO__SEC_APIKEY;
        const char *in = json_string_value(json_object_get(o, "in"));
        const char *key = json_string_value(json_object_get(o, "name"));
        if (key == NULL || *key == '\0') {
            kumo__doc_error(err, doc, o,
                            "security scheme '%s' (apiKey) has no `name`; name the header, query "
                            "parameter or cookie that carries the key",
                            name);
            return -EINVAL;
        }
        if (in && strcmp(in, "header") == 0)
            sc->in = KUMO__IN_HEADER;
        else if (in && strcmp(in, "query") == 0)
            sc->in = KUMO__IN_QUERY;
        else if (in && strcmp(in, "cookie") == 0 && spec->version != 20)
            sc->in = KUMO__IN_COOKIE;
        else {
            kumo__doc_value_error(err, doc, o, "in", "security scheme '%s' (apiKey): `in` must be header, query%s",
                                  name, spec->version == 20 ? "" : " or cookie");
            return -EINVAL;
        }
        sc->key_name = sc->in == KUMO__IN_HEADER ? lower_dup(key) : strdup(key);
        return sc->key_name ? 0 : oom(err);
    }
    if (strcmp(type, "http") == 0 && spec->version != 20) {
        sc->type = KUMO__SEC_HTTP;
        const char *s = json_string_value(json_object_get(o, "scheme"));
        if (s == NULL || *s == '\0') {
            kumo__doc_error(err, doc, o, "security scheme '%s' (http) has no `scheme`; use basic or bearer", name);
            return -EINVAL;
        }
        const char *bf = json_string_value(json_object_get(o, "bearerFormat"));
        if ((sc->http_scheme = lower_dup(s)) == NULL || (bf && (sc->bearer_format = strdup(bf)) == NULL))
            return oom(err);
        return 0;
    }
    if (strcmp(type, "basic") == 0 && spec->version == 20) {
        sc->type = KUMO__SEC_HTTP;
        return (sc->http_scheme = strdup("basic")) ? 0 : oom(err);
    }
    if (strcmp(type, "oauth2") == 0) {
        sc->type = KUMO__SEC_OAUTH2;
        return 0;
    }
    if (strcmp(type, "openIdConnect") == 0 && spec->version != 20) {
        sc->type = KUMO__SEC_OIDC;
        const char *u = json_string_value(json_object_get(o, "openIdConnectUrl"));
        if (u && (sc->oidc_url = strdup(u)) == NULL)
            return oom(err);
        return 0;
    }
    if (strcmp(type, "mutualTLS") == 0 && spec->version == 31) {
        sc->type = KUMO__SEC_MUTUAL_TLS;
        return 0;
    }
    kumo__doc_value_error(err, doc, o, "type", "security scheme '%s': type '%s' is not one OpenAPI %s defines (%s)",
                          name, type,
                          spec->version == 20   ? "2.0"
                          : spec->version == 30 ? "3.0"
                                                : "3.1",
                          spec->version == 20   ? "basic, apiKey, oauth2"
                          : spec->version == 30 ? "apiKey, http, oauth2, openIdConnect"
                                                : "apiKey, http, mutualTLS, oauth2, openIdConnect");
    return -EINVAL;
}

const kumo__sec_scheme *kumo__security_scheme(const kumo__security *s, const char *name)
{
    for (size_t i = 0; s && i < s->nschemes; i++)
        if (strcmp(s->schemes[i].name, name) == 0)
            return &s->schemes[i];
    return NULL;
}

/* Reads a `security` array (sec, in doc) into op. */
static int read_requirements(const kumo__security *s, const kumo__doc *doc, json_t *sec, kumo__sec_op *op,
                             kumo__error *err)
{
    op->node = sec;
    op->doc = doc;
    if (!json_is_array(sec)) {
        kumo__doc_error(err, doc, sec, "`security` is not a list; write a list of requirements ([] for none)");
        return -EINVAL;
    }
    size_t n = json_array_size(sec);
    if (n == 0)
        return 0;
    if ((op->reqs = calloc(n, sizeof(*op->reqs))) == NULL)
        return oom(err);
    size_t i;
    json_t *req;
    json_array_foreach(sec, i, req)
    {
        if (!json_is_object(req)) {
            kumo__doc_error(err, doc, req,
                            "a security requirement is a mapping of scheme names to lists of scopes; use {} for "
                            "anonymous access");
            return -EINVAL;
        }
        kumo__sec_requirement *r = &op->reqs[op->nreqs++];
        if (json_object_size(req) == 0) {
            op->anonymous = 1;
            continue;
        }
        if ((r->uses = calloc(json_object_size(req), sizeof(*r->uses))) == NULL)
            return oom(err);
        const char *name;
        json_t *scopes;
        json_object_foreach(req, name, scopes)
        {
            const kumo__sec_scheme *sc = kumo__security_scheme(s, name);
            if (sc == NULL) {
                kumo__doc_key_error(err, doc, req, name,
                                    "security requirement names '%s', which the document does not declare; add it "
                                    "under components.securitySchemes (securityDefinitions in Swagger 2.0) or "
                                    "correct the name",
                                    name);
                return -EINVAL;
            }
            kumo__sec_use *u = &r->uses[r->nuses++];
            u->scheme = (size_t)(sc - s->schemes);
            if (!json_is_array(scopes)) {
                kumo__doc_value_error(err, doc, req, name, "the scopes of '%s' must be a list of strings ([] for none)",
                                      name);
                return -EINVAL;
            }
            if (json_array_size(scopes) && (u->scopes = calloc(json_array_size(scopes), sizeof(char *))) == NULL)
                return oom(err);
            size_t k;
            json_t *v;
            json_array_foreach(scopes, k, v)
            {
                if (!json_is_string(v)) {
                    kumo__doc_error(err, doc, v, "a scope of '%s' is not a string", name);
                    return -EINVAL;
                }
                if ((u->scopes[u->nscopes++] = strdup(json_string_value(v))) == NULL)
                    return oom(err);
            }
        }
    }
    return 0;
}

int kumo__security_load(const kumo__spec *spec, kumo__security **out, kumo__error *err)
{
    int rc = 0;
    *out = NULL;
    kumo__security *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return oom(err);
    json_t *root = kumo__doc_root(spec->doc);
    json_t *schemes = spec->version == 20 ? json_object_get(root, "securityDefinitions")
                                          : json_object_get(json_object_get(root, "components"), "securitySchemes");
    if (schemes && !json_is_object(schemes)) {
        kumo__doc_error(err, spec->doc, schemes, "%s is not a mapping of names to security schemes",
                        spec->version == 20 ? "securityDefinitions" : "components.securitySchemes");
        rc = -EINVAL;
        goto out;
    }
    size_t n = json_object_size(schemes);
    if ((s->schemes = calloc(n ? n : 1, sizeof(*s->schemes))) == NULL || (s->used = calloc(n ? n : 1, 1)) == NULL ||
        (s->ops = calloc(spec->nops ? spec->nops : 1, sizeof(*s->ops))) == NULL) {
        rc = oom(err);
        goto out;
    }
    s->nops = spec->nops;
    const char *name;
    json_t *v;
    json_object_foreach(schemes, name, v)
    {
        if ((rc = read_scheme(spec, &s->schemes[s->nschemes++], name, v, err)) != 0)
            goto out;
    }
    json_t *top = json_object_get(root, "security");
    for (size_t i = 0; i < spec->nops; i++) {
        json_t *sec = json_object_get(spec->ops[i].node, "security");
        const kumo__doc *doc = sec ? kumo__spec_doc_of(spec, spec->ops[i].node) : spec->doc;
        if (sec == NULL)
            sec = top;
        if (sec == NULL)
            continue;
        if ((rc = read_requirements(s, doc, sec, &s->ops[i], err)) != 0) {
            kumo__error_wrap(err, "operation %s %s", spec->ops[i].method, spec->ops[i].path);
            goto out;
        }
        for (size_t r = 0; r < s->ops[i].nreqs; r++)
            for (size_t u = 0; u < s->ops[i].reqs[r].nuses; u++)
                s->used[s->ops[i].reqs[r].uses[u].scheme] = 1;
    }
out:
    if (rc != 0)
        kumo__security_free(s);
    else
        *out = s;
    return rc;
}

void kumo__security_free(kumo__security *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->schemes && i < s->nschemes; i++) {
        free(s->schemes[i].name);
        free(s->schemes[i].http_scheme);
        free(s->schemes[i].bearer_format);
        free(s->schemes[i].key_name);
        free(s->schemes[i].oidc_url);
    }
    free(s->schemes);
    for (size_t i = 0; s->ops && i < s->nops; i++) {
        for (size_t r = 0; r < s->ops[i].nreqs; r++) {
            kumo__sec_requirement *q = &s->ops[i].reqs[r];
            for (size_t u = 0; u < q->nuses; u++) {
                for (size_t k = 0; k < q->uses[u].nscopes; k++)
                    free(q->uses[u].scopes[k]);
                free(q->uses[u].scopes);
            }
            free(q->uses);
        }
        free(s->ops[i].reqs);
    }
    free(s->ops);
    free(s->used);
    free(s);
}

int kumo__security_op_anonymous(const kumo__spec *spec, size_t i)
{
    json_t *sec = json_object_get(spec->ops[i].node, "security");
    if (sec == NULL)
        sec = json_object_get(kumo__doc_root(spec->doc), "security");
    if (!json_is_array(sec) || json_array_size(sec) == 0)
        return 1;
    size_t k;
    json_t *req;
    json_array_foreach(sec, k, req)
    {
        if (json_is_object(req) && json_object_size(req) == 0)
            return 1;
    }
    return 0;
}

const char *kumo__sec_scheme_describe(const kumo__sec_scheme *sc, char *buf, size_t len)
{
    static const char *const where[] = {"path", "query parameter", "header", "cookie"};
    switch (sc->type) {
    case KUMO__SEC_APIKEY: snprintf(buf, len, "apiKey in the %s '%s'", where[sc->in], sc->key_name); break;
    case KUMO__SEC_HTTP: snprintf(buf, len, "http %s", sc->http_scheme); break;
    case KUMO__SEC_OAUTH2: snprintf(buf, len, "oauth2"); break;
    case KUMO__SEC_OIDC: snprintf(buf, len, "openIdConnect"); break;
    case KUMO__SEC_MUTUAL_TLS: snprintf(buf, len, "mutualTLS"); break;
    }
    return buf;
}
