/*
 * policy.c: see policy.h. Building checks the document's schemes against
 * what kumo can enforce and what kumo.yaml configures; checking a request
 * walks the operation's requirements (OR of ANDs) with one verifier per
 * scheme: apikey.c, basic.c. The policy is shared by every loop: the
 * verifiers are read-only but for basic.c's cache, which locks.
 */
#include "auth/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/apikey.h"
#include "auth/basic.h"

#define CRED_MAX 4096 /* a presented key, or a decoded Basic user:password */

static const char *const apikey_keys[] = {"keys", NULL};
static const char *const basic_keys[] = {"file", "realm", NULL};

typedef struct verifier {
    kumo__apikeys *keys;   /* apiKey */
    kumo__htpasswd *users; /* http basic */
    char *realm;           /* http basic's realm, else the policy's */
} verifier;

struct kumo__auth {
    kumo__security *sec; /* owned */
    verifier *v;         /* per scheme */
    char *realm;
};

enum outcome { MISSING, INVALID, OK };

const kumo__security *kumo__auth_security(const kumo__auth *a)
{
    return a ? a->sec : NULL;
}

void kumo__auth_free(kumo__auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; a->v && a->sec && i < a->sec->nschemes; i++) {
        kumo__apikeys_free(a->v[i].keys);
        kumo__htpasswd_free(a->v[i].users);
        free(a->v[i].realm);
    }
    free(a->v);
    kumo__security_free(a->sec);
    free(a->realm);
    free(a);
}

/* ---- building ----------------------------------------------------------------- */

typedef struct builder {
    kumo__auth_report_fn report;
    void *ctx;
    int bad;
} builder;

/* A refusal: reported and cleared in report-all mode (returns 0 to go on),
 * else returned. */
static int refuse(builder *b, kumo__error *err, int rc)
{
    if (rc == -ENOMEM || b->report == NULL)
        return rc;
    b->report(b->ctx, err->msg);
    memset(err, 0, sizeof(*err));
    b->bad = 1;
    return 0;
}

/* Whether kumo enforces scheme sc today; else a refusal naming where it is. */
static int enforceable(const kumo__sec_scheme *sc, kumo__error *err)
{
    char what[160];
    kumo__sec_scheme_describe(sc, what, sizeof(what));
    if (sc->type == KUMO__SEC_APIKEY || (sc->type == KUMO__SEC_HTTP && strcmp(sc->http_scheme, "basic") == 0))
        return 0;
    if (sc->type == KUMO__SEC_OAUTH2 || sc->type == KUMO__SEC_OIDC ||
        (sc->type == KUMO__SEC_HTTP && strcmp(sc->http_scheme, "bearer") == 0))
        kumo__doc_error(err, sc->doc, sc->node,
                        "security scheme '%s' (%s) cannot be enforced by this kumo: JWT verification is not built "
                        "in yet; kumo refuses to serve it unchecked. Use an apiKey or http basic scheme, or remove "
                        "'%s' from the operations' security",
                        sc->name, what, sc->name);
    else
        kumo__doc_error(err, sc->doc, sc->node,
                        "security scheme '%s' (%s) cannot be enforced by kumo; kumo refuses to serve it unchecked. "
                        "kumo enforces apiKey and http basic: use one, or remove '%s' from the operations' security",
                        sc->name, what, sc->name);
    return -EINVAL;
}

static int configure(kumo__auth *a, size_t i, const kumo__doc *doc, json_t *cfg, const char *dir, kumo__error *err)
{
    const kumo__sec_scheme *sc = &a->sec->schemes[i];
    char where[300];
    snprintf(where, sizeof(where), "security.%s", sc->name);
    if (!json_is_object(cfg)) {
        kumo__doc_error(err, doc, cfg, "%s: expected a mapping (%s)", where,
                        sc->type == KUMO__SEC_APIKEY ? "keys: [${env:API_KEY}]" : "file: users.htpasswd");
        return -EINVAL;
    }
    if (sc->type == KUMO__SEC_APIKEY) {
        int rc = kumo__check_keys(doc, cfg, apikey_keys, where, err);
        return rc ? rc : kumo__apikeys_load(doc, cfg, sc->name, dir, &a->v[i].keys, err);
    }
    int rc = kumo__check_keys(doc, cfg, basic_keys, where, err);
    if (rc != 0)
        return rc;
    json_t *file = json_object_get(cfg, "file");
    json_t *realm = json_object_get(cfg, "realm");
    if (!json_is_string(file) || json_string_length(file) == 0) {
        kumo__doc_error(err, doc, file ? file : cfg,
                        "%s: an http basic scheme takes `file:`, a credentials file of user:hash lines "
                        "(htpasswd -B -c users.htpasswd USER), relative to kumo.yaml",
                        where);
        return -EINVAL;
    }
    if (realm && (!json_is_string(realm) || strchr(json_string_value(realm), '"') || json_string_length(realm) > 200)) {
        kumo__doc_error(err, doc, realm, "%s.realm: a string of at most 200 characters without '\"'", where);
        return -EINVAL;
    }
    if (realm && (a->v[i].realm = strdup(json_string_value(realm))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    const char *f = json_string_value(file);
    char path[4096];
    snprintf(path, sizeof(path), "%s%s%s", f[0] == '/' ? "" : dir, f[0] == '/' ? "" : "/", f);
    kumo__error e = {0};
    if ((rc = kumo__htpasswd_load(path, &a->v[i].users, &e)) != 0) {
        if (rc == -ENOMEM)
            *err = e;
        else
            kumo__doc_error(err, doc, file, "%s.file: %s", where, e.msg);
    }
    return rc;
}

/* Each entry of a `security:` mapping (kumo.yaml's, or an
 * environment's: `where` says which) names a scheme some operation uses. */
static int check_entries(kumo__auth *a, builder *b, const kumo__doc *cfg_doc, const json_t *cfg, const char *where,
                         kumo__error *err)
{
    if (cfg && !json_is_object(cfg)) {
        kumo__doc_error(err, cfg_doc, cfg,
                        "%s: expected a mapping of the document's security scheme names to their settings", where);
        return -EINVAL;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)cfg, name, v)
    {
        const kumo__sec_scheme *sc = kumo__security_scheme(a->sec, name);
        if (sc == NULL)
            kumo__doc_key_error(err, cfg_doc, cfg, name,
                                "%s.%s: the OpenAPI document declares no security scheme '%s'%s%s%s; use a "
                                "name of its securitySchemes",
                                where, name, name, a->sec->nschemes ? " (it declares '" : "",
                                a->sec->nschemes ? a->sec->schemes[0].name : "", a->sec->nschemes ? "', ...)" : "");
        else if (!a->sec->used[sc - a->sec->schemes])
            kumo__doc_key_error(err, cfg_doc, cfg, name,
                                "%s.%s: no operation's security requires scheme '%s', so this would not be "
                                "used; remove it, or add '%s' to a security requirement",
                                where, name, name, name);
        else
            continue;
        int rc = refuse(b, err, -EINVAL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int kumo__auth_build_from(const kumo__spec *spec, const kumo__doc *cfg_doc, const json_t *cfg, const json_t *env_cfg,
                          const char *dir, const char *realm, kumo__auth_report_fn report, void *ctx, kumo__auth **out,
                          kumo__error *err)
{
    *out = NULL;
    builder b = {.report = report, .ctx = ctx};
    int rc = 0;
    kumo__auth *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->realm = strdup(realm && *realm ? realm : "kumo")) == NULL) {
        free(a);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    if ((rc = kumo__security_load(spec, &a->sec, err)) != 0)
        goto out;
    if ((a->v = calloc(a->sec->nschemes ? a->sec->nschemes : 1, sizeof(*a->v))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = check_entries(a, &b, cfg_doc, cfg, "security", err)) != 0 ||
        (rc = check_entries(a, &b, cfg_doc, env_cfg, "environment's security", err)) != 0)
        goto out;
    /* every used scheme is one kumo enforces, configured */
    for (size_t i = 0; i < a->sec->nschemes; i++) {
        if (!a->sec->used[i])
            continue;
        const kumo__sec_scheme *sc = &a->sec->schemes[i];
        json_t *c = json_object_get(env_cfg, sc->name);
        if (c == NULL)
            c = json_object_get(cfg, sc->name);
        if ((rc = enforceable(sc, err)) == 0 && c == NULL) {
            char what[160];
            kumo__sec_scheme_describe(sc, what, sizeof(what));
            kumo__doc_error(err, sc->doc, sc->node,
                            "security scheme '%s' (%s) is required by operations but %s does not configure it; add "
                            "`security: {%s: {%s}}` to kumo.yaml",
                            sc->name, what, cfg_doc ? kumo__doc_path(cfg_doc) : "kumo.yaml", sc->name,
                            sc->type == KUMO__SEC_APIKEY ? "keys: [${env:API_KEY}]" : "file: users.htpasswd");
            rc = -EINVAL;
        } else if (rc == 0) {
            rc = configure(a, i, cfg_doc, c, dir, err);
        }
        if (rc != 0 && (rc = refuse(&b, err, rc)) != 0)
            goto out;
    }
    /* roles (3.1) are only meaningful to schemes that carry them */
    for (size_t o = 0; o < a->sec->nops; o++) {
        const kumo__sec_op *op = &a->sec->ops[o];
        for (size_t r = 0; r < op->nreqs; r++)
            for (size_t u = 0; u < op->reqs[r].nuses; u++) {
                const kumo__sec_use *use = &op->reqs[r].uses[u];
                const kumo__sec_scheme *sc = &a->sec->schemes[use->scheme];
                if (use->nscopes == 0 || sc->type == KUMO__SEC_OAUTH2 || sc->type == KUMO__SEC_OIDC)
                    continue;
                kumo__doc_error(err, op->doc, op->node,
                                "operation %s %s: the requirement lists roles for '%s' ('%s'); kumo cannot check "
                                "roles of an apiKey or http scheme, and will not pass them unchecked; remove them "
                                "(the handler can decide from kumo_request_auth_subject)",
                                spec->ops[o].method, spec->ops[o].path, sc->name, use->scopes[0]);
                if ((rc = refuse(&b, err, -EINVAL)) != 0)
                    goto out;
            }
    }
    if (b.bad) {
        kumo__error_set(err, -EINVAL, "the document's security cannot be enforced as configured");
        rc = -EINVAL;
    }
out:
    if (rc != 0)
        kumo__auth_free(a);
    else
        *out = a;
    return rc;
}

int kumo__auth_build(const kumo__project *p, const kumo__spec *spec, const char *env, kumo__auth_report_fn report,
                     void *ctx, kumo__auth **out, kumo__error *err)
{
    *out = NULL;
    json_t *root = p->doc ? kumo__doc_root(p->doc) : NULL;
    const json_t *cfg = json_object_get(root, "security");
    const char *picked = NULL;
    int rc = kumo__project_pick_environment(p, env, &picked, err);
    if (rc != 0)
        return rc;
    const json_t *env_cfg =
        picked ? json_object_get(json_object_get(json_object_get(root, "environments"), picked), "security") : NULL;
    kumo__auth *a = NULL;
    rc = kumo__auth_build_from(spec, p->doc, cfg, env_cfg, p->dir, p->name, report, ctx, &a, err);
    if (rc != 0)
        return rc;
    int any = cfg != NULL || env_cfg != NULL;
    for (size_t i = 0; i < a->sec->nops && !any; i++)
        any = a->sec->ops[i].nreqs > 0;
    if (!any) { /* nothing to enforce: the request path skips the policy */
        kumo__auth_free(a);
        return 0;
    }
    *out = a;
    return 0;
}

/* ---- checking a request --------------------------------------------------------- */

static const kumo__slice *header(const kumo__auth_request *rq, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < rq->nheaders; i++)
        if (rq->headers[i].name.len == n && memcmp(rq->headers[i].name.base, name, n) == 0)
            return &rq->headers[i].value;
    return NULL;
}

static enum outcome verify(kumo__auth *a, size_t s, const kumo__auth_request *rq, char *subject, size_t cap)
{
    const kumo__sec_scheme *sc = &a->sec->schemes[s];
    const verifier *v = &a->v[s];
    char buf[CRED_MAX + 1];
    if (sc->type == KUMO__SEC_APIKEY) {
        size_t len = 0;
        int rc = kumo__apikey_find(sc, rq->headers, rq->nheaders, rq->query, buf, CRED_MAX, &len);
        if (rc <= 0)
            return rc == 0 ? MISSING : INVALID;
        const char *name = kumo__apikeys_match(v->keys, buf, len);
        if (name == NULL)
            return INVALID;
        snprintf(subject, cap, "%s", name);
        return OK;
    }
    if (sc->type == KUMO__SEC_HTTP && v->users) {
        const kumo__slice *h = header(rq, "authorization");
        if (h == NULL)
            return MISSING;
        const char *user, *pw;
        size_t ul, pl;
        int rc = kumo__basic_parse(h->base, h->len, buf, sizeof(buf), &user, &ul, &pw, &pl);
        if (rc <= 0)
            return rc == 0 ? MISSING : INVALID;
        if (!kumo__htpasswd_check(v->users, user, ul, pw, pl))
            return INVALID;
        snprintf(subject, cap, "%.*s", (int)ul, user);
        return OK;
    }
    return INVALID; /* not built: a policy never holds a scheme it cannot check */
}

static void add_challenge(kumo__auth *a, size_t s, int bad, kumo__auth_result *out, size_t *n)
{
    const kumo__sec_scheme *sc = &a->sec->schemes[s];
    char one[400];
    if (sc->type == KUMO__SEC_APIKEY)
        snprintf(one, sizeof(one), "ApiKey realm=\"%s\", in=\"%s\", name=\"%s\"", a->realm,
                 sc->in == KUMO__IN_HEADER  ? "header"
                 : sc->in == KUMO__IN_QUERY ? "query"
                                            : "cookie",
                 sc->key_name);
    else
        snprintf(one, sizeof(one), "Basic realm=\"%s\", charset=\"UTF-8\"", a->v[s].realm ? a->v[s].realm : a->realm);
    (void)bad;
    if (strstr(out->challenge, one))
        return; /* one challenge per scheme */
    int w = snprintf(out->challenge + *n, sizeof(out->challenge) - *n, "%s%s", *n ? ", " : "", one);
    if (w > 0 && *n + (size_t)w < sizeof(out->challenge))
        *n += (size_t)w;
}

void kumo__auth_check(kumo__auth *a, size_t op_index, const kumo__auth_request *rq, kumo__auth_result *out)
{
    memset(out, 0, sizeof(*out));
    if (a == NULL || op_index >= a->sec->nops)
        return;
    const kumo__sec_op *op = &a->sec->ops[op_index];
    if (op->nreqs == 0)
        return;
    /* each scheme is verified once per request, however many requirements name it */
    enum { UNTRIED = -1 };
    int seen[64];
    char subjects[64][sizeof(out->subject)];
    size_t nschemes = a->sec->nschemes < 64 ? a->sec->nschemes : 64;
    for (size_t i = 0; i < nschemes; i++)
        seen[i] = UNTRIED;
    int any_invalid = 0;
    for (size_t r = 0; r < op->nreqs; r++) {
        const kumo__sec_requirement *q = &op->reqs[r];
        if (q->nuses == 0)
            continue; /* {}: anonymous, decided after the others had their chance to say who called */
        int all = 1;
        for (size_t u = 0; u < q->nuses; u++) {
            size_t s = q->uses[u].scheme;
            int o;
            if (s < nschemes) {
                if (seen[s] == UNTRIED)
                    seen[s] = verify(a, s, rq, subjects[s], sizeof(subjects[s]));
                o = seen[s];
            } else {
                o = verify(a, s, rq, out->subject, sizeof(out->subject));
            }
            any_invalid |= o == INVALID;
            all &= o == OK;
        }
        if (all) {
            size_t s = q->uses[0].scheme;
            out->scheme = a->sec->schemes[s].name;
            if (s < nschemes)
                memcpy(out->subject, subjects[s], sizeof(out->subject));
            return;
        }
    }
    if (op->anonymous) {
        out->subject[0] = '\0';
        return;
    }
    out->status = 401;
    size_t n = 0;
    for (size_t r = 0; r < op->nreqs; r++)
        for (size_t u = 0; u < op->reqs[r].nuses; u++)
            add_challenge(a, op->reqs[r].uses[u].scheme, any_invalid, out, &n);
    /* what it takes, alternatives in order: never what was presented */
    size_t d = (size_t)snprintf(out->detail, sizeof(out->detail), "%s",
                                any_invalid ? "the credentials given are not valid here; this operation takes "
                                            : "this operation needs credentials: ");
    for (size_t r = 0; r < op->nreqs && d < sizeof(out->detail); r++)
        for (size_t u = 0; u < op->reqs[r].nuses && d < sizeof(out->detail); u++) {
            char what[160];
            const kumo__sec_scheme *sc = &a->sec->schemes[op->reqs[r].uses[u].scheme];
            d += (size_t)snprintf(out->detail + d, sizeof(out->detail) - d, "%s%s (%s)",
                                  u   ? " and "
                                  : r ? "; or "
                                      : "",
                                  kumo__sec_scheme_describe(sc, what, sizeof(what)), sc->name);
        }
    out->subject[0] = '\0';
}

void kumo__auth_result_free(kumo__auth_result *r)
{
    json_decref(r->claims);
    r->claims = NULL;
}
