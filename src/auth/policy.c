/*
 * policy.c: see policy.h. Building checks the document's schemes against
 * what kumo can enforce and what kumo.yaml configures; checking a request
 * walks the operation's requirements (OR of ANDs) with one verifier per
 * scheme: apikey.c, basic.c, jwt.c (with jwks.c's key sets). The policy is
 * shared by every loop: the verifiers are read-only but for basic.c's
 * cache and jwks.c's sets, which lock.
 */
#include "auth/policy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/apikey.h"
#include "auth/basic.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "base/clock.h"
#include "base/digest.h"
#include "project/services.h"

#define CRED_MAX 4096 /* a presented key, or a decoded Basic user:password */

static const char *const apikey_keys[] = {"keys", NULL};
static const char *const basic_keys[] = {"file", "realm", NULL};
static const char *const mtls_keys[] = {"subjects", NULL};
static const char *const jwt_keys[] = {"issuer",        "audience",   "jwks_url", "jwks_file",
                                       "discovery_url", "hs_secret",  "leeway",   "ca_file",
                                       "realm",         "algorithms", NULL};

/* A token scheme's `algorithms`: 0 and *bits (0 when absent: every alg
 * kumo verifies), or -1 with the problem in why. */
static int jwt_algorithms(json_t *cfg, unsigned *bits, json_t **bad, char *why, size_t whylen)
{
    json_t *list = json_object_get(cfg, "algorithms");
    *bits = 0;
    *bad = list;
    if (list == NULL)
        return 0;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        snprintf(why, whylen, "a list of the algs a token may be signed with, such as [RS256]");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *x = json_array_get(list, i);
        unsigned bit = json_is_string(x) ? kumo__jwt_alg_bit(json_string_value(x)) : 0;
        if (bit == 0) {
            *bad = x;
            snprintf(why, whylen,
                     "'%s' is not an alg kumo verifies (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, "
                     "EdDSA, HS256, HS384, HS512)",
                     json_is_string(x) ? json_string_value(x) : "?");
            return -1;
        }
        *bits |= bit;
    }
    return 0;
}

/* A key set shared by the policies of successive generations while its
 * settings do not change: a set from a URL has no keys until its first
 * fetch, so a reload that made a new one would answer 503 meanwhile. */
typedef struct shared_keys {
    kumo__jwks *ks;
    atomic_int refs;
    char *identity; /* what made it: every source, and a digest of the shared secret */
} shared_keys;

static void shared_keys_release(shared_keys *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    kumo__jwks_free(k->ks); /* joins its fetcher */
    free(k->identity);
    free(k);
}

/* Tokens verified lately, per token scheme: a client sends the same token
 * on every request until it expires, and an ES256 or RS256 signature
 * costs 50 to 100 us to check where this costs a digest and a lookup.
 * Direct-mapped by the SHA-256 of the token (the token itself is never
 * kept), striped locks; an entry holds the claims as JSON text, until the
 * token's exp and at most TOKEN_HOLD_S, and only for the key snapshot it
 * was verified with (a key rotation or removal empties it in effect). */
#define TOKEN_SLOTS 4096
#define TOKEN_STRIPES 64
#define TOKEN_HOLD_S 60

typedef struct token_slot {
    unsigned char digest[32];
    int64_t until_s;
    uint64_t gen;
    char *claims; /* NULL: empty */
} token_slot;

typedef struct token_cache {
    pthread_mutex_t mu[TOKEN_STRIPES];
    token_slot slot[TOKEN_SLOTS];
    _Atomic uint64_t hits, misses;
} token_cache;

static token_cache *token_cache_new(void)
{
    token_cache *c = calloc(1, sizeof(*c));
    if (c)
        for (int i = 0; i < TOKEN_STRIPES; i++)
            pthread_mutex_init(&c->mu[i], NULL);
    return c;
}

static void token_cache_free(token_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < TOKEN_SLOTS; i++)
        free(c->slot[i].claims);
    for (int i = 0; i < TOKEN_STRIPES; i++)
        pthread_mutex_destroy(&c->mu[i]);
    free(c);
}

static size_t token_index(const unsigned char d[32])
{
    return ((size_t)d[0] | (size_t)d[1] << 8 | (size_t)d[2] << 16) % TOKEN_SLOTS;
}

/* The claims of a token verified before with key snapshot gen and still
 * valid at now_s (a new object), or NULL. */
static json_t *token_cache_get(token_cache *c, const unsigned char d[32], uint64_t gen, int64_t now_s)
{
    size_t i = token_index(d);
    char *text = NULL;
    pthread_mutex_lock(&c->mu[i % TOKEN_STRIPES]);
    token_slot *s = &c->slot[i];
    if (s->claims && s->gen == gen && now_s < s->until_s && memcmp(s->digest, d, 32) == 0)
        text = strdup(s->claims);
    pthread_mutex_unlock(&c->mu[i % TOKEN_STRIPES]);
    json_t *claims = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    atomic_fetch_add_explicit(claims ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return claims;
}

static void token_cache_put(token_cache *c, const unsigned char d[32], uint64_t gen, int64_t now_s,
                            const json_t *claims)
{
    const json_t *exp = json_object_get(claims, "exp");
    int64_t until = now_s + TOKEN_HOLD_S;
    if (json_is_number(exp) && json_number_value(exp) < (double)until)
        until = (int64_t)json_number_value(exp);
    if (until <= now_s)
        return; /* valid only within the leeway: checked each time */
    char *text = json_dumps(claims, JSON_COMPACT);
    if (text == NULL)
        return;
    size_t i = token_index(d);
    pthread_mutex_lock(&c->mu[i % TOKEN_STRIPES]);
    token_slot *s = &c->slot[i];
    char *old = s->claims;
    memcpy(s->digest, d, 32);
    s->gen = gen;
    s->until_s = until;
    s->claims = text;
    pthread_mutex_unlock(&c->mu[i % TOKEN_STRIPES]);
    free(old);
}

typedef struct verifier {
    kumo__apikeys *keys;   /* apiKey */
    kumo__htpasswd *users; /* http basic */
    kumo__jwks *jwks;      /* http bearer, oauth2, openIdConnect: the keys tokens are verified with */
    token_cache *tokens;   /* their tokens verified lately */
    shared_keys *shared;   /* owns jwks, shared with the next generation's policy */
    kumo__jwt_policy pol;  /* their issuer, audiences, leeway (pointing into issuer, aud) */
    char *issuer;
    char **subjects; /* mutualTLS: the client certificates' subjects allowed (NULL-terminated); NULL: any the CA
                        verified */
    char **aud;      /* NULL-terminated */
    char *realm;     /* the challenge's realm, else the policy's */
} verifier;

struct kumo__auth {
    kumo__security *sec; /* owned */
    verifier *v;         /* per scheme */
    char *realm;
    char **files; /* the files the policy read (htpasswd, jwks_file, ca_file), NULL-terminated */
    size_t nfiles;
};

/* Remembers a file the policy was built from; a reload whose files are
 * unchanged can be a no-op (gateway/watch.c). */
static int note_file(kumo__auth *a, const char *path, kumo__error *err)
{
    char **grown = realloc(a->files, (a->nfiles + 2) * sizeof(*grown));
    if (grown == NULL || (grown[a->nfiles] = strdup(path)) == NULL) {
        if (grown)
            a->files = grown;
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    a->files = grown;
    a->files[++a->nfiles] = NULL;
    return 0;
}

const char *const *kumo__auth_files(const kumo__auth *a)
{
    return a ? (const char *const *)a->files : NULL;
}

enum outcome { MISSING, INVALID, UNAVAILABLE, PENDING, OK };

static int is_jwt(const kumo__sec_scheme *sc)
{
    return sc->type == KUMO__SEC_OAUTH2 || sc->type == KUMO__SEC_OIDC ||
           (sc->type == KUMO__SEC_HTTP && strcmp(sc->http_scheme, "bearer") == 0);
}

kumo__jwks *kumo__auth_keys(const kumo__auth *a, const char *scheme)
{
    const kumo__sec_scheme *sc = a ? kumo__security_scheme(a->sec, scheme) : NULL;
    return sc ? a->v[sc - a->sec->schemes].jwks : NULL;
}

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
        shared_keys_release(a->v[i].shared);
        free(a->v[i].issuer);
        for (size_t k = 0; a->v[i].aud && a->v[i].aud[k]; k++)
            free(a->v[i].aud[k]);
        free(a->v[i].aud);
        token_cache_free(a->v[i].tokens);
        for (size_t k = 0; a->v[i].subjects && a->v[i].subjects[k]; k++)
            free(a->v[i].subjects[k]);
        free(a->v[i].subjects);
        free(a->v[i].realm);
    }
    free(a->v);
    kumo__security_free(a->sec);
    free(a->realm);
    for (size_t i = 0; i < a->nfiles; i++)
        free(a->files[i]);
    free(a->files);
    free(a);
}

/* ---- building ----------------------------------------------------------------- */

typedef struct builder {
    const kumo__auth *previous; /* the policy being replaced (a reload), or NULL */
    kumo__auth_report_fn report;
    void *ctx;
    int bad;
    const char *client_ca; /* kumo.yaml's http.tls.client_ca (mutualTLS needs it), or NULL */
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
static int enforceable(const kumo__sec_scheme *sc, const builder *b, kumo__error *err)
{
    char what[160];
    kumo__sec_scheme_describe(sc, what, sizeof(what));
    if (sc->type == KUMO__SEC_APIKEY || (sc->type == KUMO__SEC_HTTP && strcmp(sc->http_scheme, "basic") == 0) ||
        is_jwt(sc) || (sc->type == KUMO__SEC_MUTUAL_TLS && b->client_ca))
        return 0;
    if (sc->type == KUMO__SEC_MUTUAL_TLS) {
        kumo__doc_error(err, sc->doc, sc->node,
                        "security scheme '%s' (mutualTLS) needs the client's certificate, verified against a CA: "
                        "add http: {tls: {cert: server.pem, key: server.key, client_ca: clients-ca.pem}} to "
                        "kumo.yaml (docs/edge.md); kumo refuses to serve it unchecked",
                        sc->name);
        return -EINVAL;
    }
    kumo__doc_error(err, sc->doc, sc->node,
                    "security scheme '%s' (%s) cannot be enforced by kumo; kumo refuses to serve it unchecked. "
                    "kumo enforces apiKey, http basic, http bearer (JWT), oauth2, openIdConnect and mutualTLS: use "
                    "one, "
                    "or remove '%s' from the operations' security",
                    sc->name, what, sc->name);
    return -EINVAL;
}

static char *dup_or_oom(const char *s, kumo__error *err)
{
    char *d = strdup(s);
    if (d == NULL)
        kumo__error_set(err, -ENOMEM, "out of memory");
    return d;
}

/* A path of kumo.yaml, relative to its folder unless absolute. */
static void path_under(const char *dir, const char *f, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", f[0] == '/' ? "" : dir, f[0] == '/' ? "" : "/", f);
}

/* http bearer, oauth2, openIdConnect: where the keys come from (a JWKS
 * file or URL, OpenID discovery, a shared secret for HS*), and what a
 * token must say (issuer, audience), docs/security.md. */
static int configure_jwt(kumo__auth *a, const builder *b, size_t i, const kumo__doc *doc, json_t *cfg, const char *dir,
                         const char *where, kumo__error *err)
{
    const kumo__sec_scheme *sc = &a->sec->schemes[i];
    verifier *v = &a->v[i];
    int rc = kumo__check_keys(doc, cfg, jwt_keys, where, err);
    if (rc != 0)
        return rc;
    static const char *const strings[] = {"issuer",    "jwks_url", "jwks_file", "discovery_url",
                                          "hs_secret", "ca_file",  "realm",     NULL};
    for (size_t k = 0; strings[k]; k++) {
        json_t *x = json_object_get(cfg, strings[k]);
        if (x && (!json_is_string(x) || json_string_length(x) == 0 || strchr(json_string_value(x), '"'))) {
            kumo__doc_value_error(err, doc, cfg, strings[k], "%s.%s: a non-empty string without '\"'", where,
                                  strings[k]);
            return -EINVAL;
        }
    }
    const char *issuer = json_string_value(json_object_get(cfg, "issuer"));
    json_t *aud = json_object_get(cfg, "audience");
    if (issuer == NULL) {
        kumo__doc_error(err, doc, cfg,
                        "%s: a token's issuer must be said: add issuer: (the `iss` your tokens carry, exactly)", where);
        return -EINVAL;
    }
    if (!(json_is_string(aud) && json_string_length(aud) > 0) && !(json_is_array(aud) && json_array_size(aud) > 0)) {
        kumo__doc_error(err, doc, aud ? aud : cfg,
                        "%s: add audience: (a string or a list: the `aud` a token for this API carries), so that "
                        "a token the issuer made for another API is refused",
                        where);
        return -EINVAL;
    }
    size_t naud = json_is_array(aud) ? json_array_size(aud) : 1;
    if ((v->aud = calloc(naud + 1, sizeof(char *))) == NULL || (v->issuer = dup_or_oom(issuer, err)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t k = 0; k < naud; k++) {
        json_t *x = json_is_array(aud) ? json_array_get(aud, k) : aud;
        if (!json_is_string(x) || json_string_length(x) == 0) {
            kumo__doc_error(err, doc, x, "%s.audience: each audience is a non-empty string", where);
            return -EINVAL;
        }
        if ((v->aud[k] = dup_or_oom(json_string_value(x), err)) == NULL)
            return -ENOMEM;
    }
    v->pol.issuer = v->issuer;
    v->pol.audiences = (const char *const *)v->aud;
    json_t *leeway = json_object_get(cfg, "leeway");
    if (leeway) {
        double l = 0;
        if (kumo__parse_duration0(leeway, &l) != 0 || l > 300) {
            kumo__doc_error(err, doc, leeway, "%s.leeway: a duration from 0s to 5m (the clock skew allowed)", where);
            return -EINVAL;
        }
        v->pol.leeway_s = l == 0 ? -1 : (int)l;
    }
    const char *realm = json_string_value(json_object_get(cfg, "realm"));
    if (realm && (v->realm = dup_or_oom(realm, err)) == NULL)
        return -ENOMEM;
    char awhy[200];
    json_t *abad = NULL;
    if (jwt_algorithms(cfg, &v->pol.algs, &abad, awhy, sizeof awhy) != 0) {
        kumo__doc_error(err, doc, abad, "%s.algorithms: %s", where, awhy);
        return -EINVAL;
    }

    char file[4096], ca[4096];
    const char *f = json_string_value(json_object_get(cfg, "jwks_file"));
    const char *c = json_string_value(json_object_get(cfg, "ca_file"));
    if (f) {
        path_under(dir, f, file, sizeof(file));
        if ((rc = note_file(a, file, err)) != 0)
            return rc;
    }
    if (c) {
        path_under(dir, c, ca, sizeof(ca));
        if ((rc = note_file(a, ca, err)) != 0)
            return rc;
    }
    kumo__jwks_config jc = {
        .jwks_url = json_string_value(json_object_get(cfg, "jwks_url")),
        .discovery_url = json_string_value(json_object_get(cfg, "discovery_url")),
        .jwks_file = f ? file : NULL,
        .ca_file = c ? ca : NULL,
    };
    if (jc.jwks_url == NULL && jc.discovery_url == NULL && jc.jwks_file == NULL && sc->type == KUMO__SEC_OIDC)
        jc.discovery_url = sc->oidc_url; /* the document's openIdConnectUrl */
    char *secret = NULL;
    const char *hs = json_string_value(json_object_get(cfg, "hs_secret"));
    if (hs) {
        kumo__error e = {0};
        int refs = kumo__secret_refs_check(hs, &e);
        if (refs <= 0) {
            kumo__doc_value_error(err, doc, cfg, "hs_secret", "%s.hs_secret: %s", where,
                                  refs < 0 ? e.msg
                                           : "a shared secret written in kumo.yaml would be in the repository; give "
                                             "${env:NAME} or ${file:PATH}");
            return -EINVAL;
        }
        if ((rc = kumo__secret_expand(hs, dir, &secret, &e)) != 0) {
            kumo__doc_value_error(err, doc, cfg, "hs_secret", "%s.hs_secret: %s", where, e.msg);
            return rc;
        }
        jc.hs_secret = secret;
        jc.hs_secret_len = strlen(secret);
    }
    if (jc.jwks_url == NULL && jc.discovery_url == NULL && jc.jwks_file == NULL && jc.hs_secret == NULL) {
        kumo__doc_error(err, doc, cfg,
                        "%s: where do the keys come from? add jwks_url: (the issuer's JWKS), jwks_file:, "
                        "discovery_url: (OpenID discovery) or hs_secret: (HS* tokens)",
                        where);
        return -EINVAL;
    }
    unsigned char md[32] = {0};
    unsigned int mdlen = 0;
    if (secret) {
        kumo__sha256(secret, strlen(secret), md);
        mdlen = sizeof(md);
    }
    char hex[65] = "";
    for (unsigned k = 0; k < mdlen && k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", md[k]);
    char *identity = NULL;
    if (asprintf(&identity, "%s\n%s\n%s\n%s\n%s", jc.jwks_url ? jc.jwks_url : "",
                 jc.discovery_url ? jc.discovery_url : "", jc.jwks_file ? jc.jwks_file : "",
                 jc.ca_file ? jc.ca_file : "", hex) < 0)
        identity = NULL;
    for (size_t k = 0; identity && b->previous && k < b->previous->sec->nschemes && !v->shared; k++) {
        shared_keys *old = b->previous->v[k].shared;
        if (old && strcmp(old->identity, identity) == 0 && jc.jwks_file == NULL) { /* a file is read again */
            atomic_fetch_add(&old->refs, 1);
            v->shared = old;
        }
    }
    kumo__error e = {0};
    if (v->shared == NULL && identity && (v->shared = calloc(1, sizeof(*v->shared))) != NULL) {
        atomic_init(&v->shared->refs, 1);
        v->shared->identity = identity;
        identity = NULL;
        if ((v->shared->ks = kumo__jwks_new(&jc, &e)) == NULL) {
            shared_keys_release(v->shared);
            v->shared = NULL;
        } else if (jc.jwks_url || jc.discovery_url) {
            /* a URL's first fetch: a bounded wait, so the first requests
             * are not all 503 (the keys are not there yet); an issuer down
             * at start is not a refusal: its tokens get 503 until it answers */
            kumo__jwks_wait(v->shared->ks, 3000);
        }
    } else if (v->shared == NULL) {
        kumo__error_set(&e, -ENOMEM, "out of memory");
    }
    free(identity);
    if (secret) {
        memset(secret, 0, strlen(secret));
        free(secret);
    }
    if (v->shared == NULL) {
        if (e.code == -ENOMEM)
            *err = e;
        else
            kumo__doc_error(err, doc, cfg, "%s: %s", where, e.msg);
        return e.code ? e.code : -EINVAL;
    }
    v->jwks = v->shared->ks;
    if ((v->tokens = token_cache_new()) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* mutualTLS: the handshake verified the certificate against
 * http.tls.client_ca; `subjects:` (optional) lists the subjects (RFC 2253,
 * as tls.c writes them) allowed among those, exactly. */
static int configure_mtls(kumo__auth *a, size_t i, const kumo__doc *doc, json_t *cfg, const char *where,
                          kumo__error *err)
{
    int rc = kumo__check_keys(doc, cfg, mtls_keys, where, err);
    if (rc != 0)
        return rc;
    json_t *list = json_object_get(cfg, "subjects");
    if (list == NULL)
        return 0;
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > 4096) {
        kumo__doc_value_error(err, doc, cfg, "subjects",
                              "%s.subjects: a list of certificate subjects (\"CN=alice,O=Example\"), or leave it "
                              "out to take any certificate http.tls.client_ca verifies",
                              where);
        return -EINVAL;
    }
    size_t n = json_array_size(list);
    if ((a->v[i].subjects = calloc(n + 1, sizeof(char *))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        json_t *x = json_array_get(list, k);
        if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > 1024) {
            kumo__doc_error(err, doc, x, "%s.subjects: each subject is a non-empty string (RFC 2253)", where);
            return -EINVAL;
        }
        if ((a->v[i].subjects[k] = dup_or_oom(json_string_value(x), err)) == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int configure(kumo__auth *a, const builder *b, size_t i, const kumo__doc *doc, json_t *cfg, const char *dir,
                     kumo__error *err)
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
    if (is_jwt(sc))
        return configure_jwt(a, b, i, doc, cfg, dir, where, err);
    if (sc->type == KUMO__SEC_MUTUAL_TLS)
        return configure_mtls(a, i, doc, cfg, where, err);
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
    if ((rc = note_file(a, path, err)) != 0)
        return rc;
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
                          const char *dir, const char *realm, const char *client_ca, const kumo__auth *previous,
                          kumo__auth_report_fn report, void *ctx, kumo__auth **out, kumo__error *err)
{
    *out = NULL;
    builder b = {.previous = previous, .report = report, .ctx = ctx, .client_ca = client_ca};
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
        if ((rc = enforceable(sc, &b, err)) == 0 && c == NULL) {
            char what[160];
            kumo__sec_scheme_describe(sc, what, sizeof(what));
            kumo__doc_error(err, sc->doc, sc->node,
                            "security scheme '%s' (%s) is required by operations but %s does not configure it; add "
                            "`security: {%s: {%s}}` to kumo.yaml",
                            sc->name, what, cfg_doc ? kumo__doc_path(cfg_doc) : "kumo.yaml", sc->name,
                            sc->type == KUMO__SEC_APIKEY       ? "keys: [${env:API_KEY}]"
                            : sc->type == KUMO__SEC_MUTUAL_TLS ? "subjects: [\"CN=alice\"]"
                            : is_jwt(sc) ? "issuer: https://issuer.example/, audience: my-api, jwks_url: "
                                           "https://issuer.example/.well-known/jwks.json"
                                         : "file: users.htpasswd");
            rc = -EINVAL;
        } else if (rc == 0) {
            rc = configure(a, &b, i, cfg_doc, c, dir, err);
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

int kumo__auth_build(const kumo__project *p, const kumo__spec *spec, const char *env, const kumo__auth *previous,
                     kumo__auth_report_fn report, void *ctx, kumo__auth **out, kumo__error *err)
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
    rc = kumo__auth_build_from(spec, p->doc, cfg, env_cfg, p->dir, p->name, p->http.edge.tls.client_ca, previous,
                               report, ctx, &a, err);
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

/* What one scheme said of the request, found once per request. */
typedef struct seen {
    int tried;
    enum outcome o;
    char subject[256];
    json_t *claims;      /* a verified token's (owned) */
    char why[128];       /* a refused token's reason (jwt.c's fixed phrases) */
    kumo__slow_job *job; /* PENDING: the password check to run elsewhere (owned) */
} seen;

static enum outcome verify_jwt(kumo__auth *a, size_t s, const kumo__auth_request *rq, seen *out)
{
    const kumo__slice *h = header(rq, "authorization");
    if (h == NULL || h->len < 7 || strncasecmp(h->base, "bearer ", 7) != 0)
        return MISSING;
    size_t i = 7;
    while (i < h->len && h->base[i] == ' ')
        i++;
    size_t end = h->len;
    while (end > i && h->base[end - 1] == ' ')
        end--;
    if (end == i)
        return MISSING;
    json_t *claims = NULL;
    int64_t now_s = (int64_t)(kumo__epoch_ms() / 1000);
    unsigned char digest[32];
    uint64_t gen = kumo__jwks_generation(a->v[s].jwks);
    token_cache *tc = a->v[s].tokens;
    if (tc)
        kumo__sha256(h->base + i, end - i, digest);
    if (tc)
        claims = token_cache_get(tc, digest, gen, now_s);
    if (claims == NULL) {
        kumo__jwt_result r = kumo__jwt_verify(a->v[s].jwks, &a->v[s].pol, h->base + i, end - i, now_s, &claims,
                                              out->why, sizeof(out->why));
        if (r == KUMO__JWT_KEYS_UNAVAILABLE)
            return UNAVAILABLE;
        if (r != KUMO__JWT_OK) {
            json_decref(claims);
            if (out->why[0] == '\0')
                snprintf(out->why, sizeof(out->why), "%s", kumo__jwt_result_name(r));
            return INVALID;
        }
        if (tc)
            token_cache_put(tc, digest, gen, now_s, claims);
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    snprintf(out->subject, sizeof(out->subject), "%s", sub ? sub : "");
    out->claims = claims;
    return OK;
}

static enum outcome verify(kumo__auth *a, size_t s, const kumo__auth_request *rq, seen *out)
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
        snprintf(out->subject, sizeof(out->subject), "%s", name);
        return OK;
    }
    if (v->jwks)
        return verify_jwt(a, s, rq, out);
    if (sc->type == KUMO__SEC_MUTUAL_TLS) {
        if (rq->tls_client_subject == NULL)
            return MISSING;
        int allowed = v->subjects == NULL;
        for (size_t k = 0; v->subjects && v->subjects[k] && !allowed; k++)
            allowed = strcmp(v->subjects[k], rq->tls_client_subject) == 0;
        if (!allowed)
            return INVALID;
        snprintf(out->subject, sizeof(out->subject), "%s", rq->tls_client_subject);
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
        kumo__slow_job *job = NULL;
        int ok = kumo__htpasswd_lookup(v->users, user, ul, pw, pl, rq->basic_done, &job);
        if (ok == -EWOULDBLOCK && rq->defer_hash) {
            out->job = job; /* the caller runs it off its loop and asks again */
            return PENDING;
        }
        if (ok == -EWOULDBLOCK) {
            kumo__slow_job *again = NULL;
            job->run(job);
            ok = kumo__htpasswd_lookup(v->users, user, ul, pw, pl, job, &again); /* job answers: no new one */
            kumo__slow_job_free(again);
            kumo__slow_job_free(job);
        }
        if (ok != 1)
            return INVALID;
        snprintf(out->subject, sizeof(out->subject), "%.*s", (int)ul, user);
        return OK;
    }
    return INVALID; /* not built: a policy never holds a scheme it cannot check */
}

/* Whether the verified claims grant every scope of `use`: `scope` (space
 * separated) or `scp` (a list, or a string like scope). */
static int has_scopes(const json_t *claims, const kumo__sec_use *use)
{
    const json_t *scope = json_object_get(claims, "scope");
    const json_t *scp = json_object_get(claims, "scp");
    for (size_t k = 0; k < use->nscopes; k++) {
        const char *want = use->scopes[k];
        size_t wl = strlen(want);
        int found = 0;
        const json_t *lists[2] = {scope, scp};
        for (int l = 0; l < 2 && !found; l++) {
            if (json_is_string(lists[l])) {
                const char *t = json_string_value(lists[l]);
                while (*t && !found) {
                    while (*t == ' ')
                        t++;
                    size_t n = strcspn(t, " ");
                    found = n == wl && memcmp(t, want, n) == 0;
                    t += n;
                }
            } else if (json_is_array(lists[l])) {
                size_t i;
                const json_t *x;
                json_array_foreach(lists[l], i, x)
                {
                    found |= json_is_string(x) && strcmp(json_string_value(x), want) == 0;
                }
            }
        }
        if (!found)
            return 0;
    }
    return 1;
}

static const char *realm_of(const kumo__auth *a, size_t s)
{
    return a->v[s].realm ? a->v[s].realm : a->realm;
}

static void add_challenge(kumo__auth_result *out, size_t *n, const char *one)
{
    if (strstr(out->challenge, one))
        return; /* one challenge per scheme */
    int w = snprintf(out->challenge + *n, sizeof(out->challenge) - *n, "%s%s", *n ? ", " : "", one);
    if (w > 0 && *n + (size_t)w < sizeof(out->challenge))
        *n += (size_t)w;
    else
        out->challenge[*n] = '\0'; /* a challenge is whole or absent */
}

static void challenge_of(const kumo__auth *a, size_t s, const seen *sn, kumo__auth_result *out, size_t *n)
{
    const kumo__sec_scheme *sc = &a->sec->schemes[s];
    char one[400];
    if (sc->type == KUMO__SEC_MUTUAL_TLS)
        return; /* the handshake is where a certificate goes: HTTP has no challenge for it */
    if (sc->type == KUMO__SEC_APIKEY)
        snprintf(one, sizeof(one), "ApiKey realm=\"%s\", in=\"%s\", name=\"%s\"", realm_of(a, s),
                 sc->in == KUMO__IN_HEADER  ? "header"
                 : sc->in == KUMO__IN_QUERY ? "query"
                                            : "cookie",
                 sc->key_name);
    else if (a->v[s].jwks && sn && sn->tried && sn->o == INVALID) /* RFC 6750: a token was sent and refused */
        snprintf(one, sizeof(one), "Bearer realm=\"%s\", error=\"invalid_token\", error_description=\"%s\"",
                 realm_of(a, s), sn->why);
    else if (a->v[s].jwks)
        snprintf(one, sizeof(one), "Bearer realm=\"%s\"", realm_of(a, s));
    else
        snprintf(one, sizeof(one), "Basic realm=\"%s\", charset=\"UTF-8\"", realm_of(a, s));
    add_challenge(out, n, one);
}

#define SEEN_MAX 32 /* schemes one operation's requirements name, verified once each */

void kumo__auth_check(kumo__auth *a, size_t op_index, const kumo__auth_request *rq, kumo__auth_result *out)
{
    memset(out, 0, sizeof(*out));
    if (a == NULL || op_index >= a->sec->nops)
        return;
    const kumo__sec_op *op = &a->sec->ops[op_index];
    if (op->nreqs == 0)
        return;
    seen sn[SEEN_MAX];
    size_t ids[SEEN_MAX], nseen = 0;
    int any_invalid = 0, any_unavailable = 0, any_pending = 0;
    const kumo__sec_requirement *scope_short = NULL; /* a requirement met but for its scopes */
    const kumo__sec_requirement *met = NULL;
    for (size_t r = 0; r < op->nreqs && met == NULL; r++) {
        const kumo__sec_requirement *q = &op->reqs[r];
        if (q->nuses == 0)
            continue; /* {}: anonymous, decided after the others had their chance to say who called */
        int all = 1, scopes_ok = 1;
        for (size_t u = 0; u < q->nuses; u++) {
            size_t s = q->uses[u].scheme, k = 0;
            while (k < nseen && ids[k] != s)
                k++;
            if (k == nseen && nseen < SEEN_MAX) {
                memset(&sn[k], 0, sizeof(sn[k]));
                ids[nseen++] = s;
                sn[k].tried = 1;
                sn[k].o = verify(a, s, rq, &sn[k]);
            }
            enum outcome o = k < nseen ? sn[k].o : INVALID;
            any_invalid |= o == INVALID;
            any_unavailable |= o == UNAVAILABLE;
            any_pending |= o == PENDING;
            all &= o == OK;
            if (o == OK && q->uses[u].nscopes && !has_scopes(sn[k].claims, &q->uses[u]))
                scopes_ok = 0;
        }
        if (all && scopes_ok)
            met = q;
        else if (all && scope_short == NULL)
            scope_short = q;
    }
    if (met) {
        size_t s = met->uses[0].scheme;
        out->scheme = a->sec->schemes[s].name;
        for (size_t u = 0; u < met->nuses; u++)
            for (size_t k = 0; k < nseen; k++)
                if (ids[k] == met->uses[u].scheme) {
                    if (u == 0)
                        memcpy(out->subject, sn[k].subject, sizeof(out->subject));
                    if (out->claims == NULL && sn[k].claims)
                        out->claims = json_incref(sn[k].claims);
                }
    } else if (any_pending) {
        /* a password only a hash can check: asked again once it ran (an
         * alternative, or who called under `{}`, may depend on it) */
        out->status = KUMO__AUTH_PENDING;
        for (size_t k = 0; k < nseen && out->pending == NULL; k++)
            if (sn[k].job) {
                out->pending = sn[k].job;
                sn[k].job = NULL;
            }
    } else if (op->anonymous) {
        /* anonymous: who called is not said */
    } else if (scope_short) {
        /* RFC 6750: the token is good, its scopes are not enough */
        out->status = 403;
        char scopes[300] = "";
        size_t w = 0;
        for (size_t u = 0; u < scope_short->nuses; u++)
            for (size_t k = 0; k < scope_short->uses[u].nscopes && w < sizeof(scopes); k++)
                w += (size_t)snprintf(scopes + w, sizeof(scopes) - w, "%s%s", w ? " " : "",
                                      scope_short->uses[u].scopes[k]);
        snprintf(out->challenge, sizeof(out->challenge),
                 "Bearer realm=\"%s\", error=\"insufficient_scope\", scope=\"%s\"",
                 realm_of(a, scope_short->uses[0].scheme), scopes);
        snprintf(out->detail, sizeof(out->detail), "the token does not grant the scopes this operation needs: %s",
                 scopes);
    } else if (any_unavailable && !any_invalid) {
        out->status = 503;
        out->retry_after = "10";
        snprintf(out->detail, sizeof(out->detail), "%s",
                 "the keys that verify the token are not available yet (the issuer has not answered); try again");
    } else {
        out->status = 401;
        size_t n = 0;
        for (size_t r = 0; r < op->nreqs; r++)
            for (size_t u = 0; u < op->reqs[r].nuses; u++) {
                size_t s = op->reqs[r].uses[u].scheme, k = 0;
                while (k < nseen && ids[k] != s)
                    k++;
                challenge_of(a, s, k < nseen ? &sn[k] : NULL, out, &n);
            }
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
    }
    for (size_t k = 0; k < nseen; k++) {
        json_decref(sn[k].claims);
        kumo__slow_job_free(sn[k].job);
    }
}

void kumo__auth_result_free(kumo__auth_result *r)
{
    json_decref(r->claims);
    r->claims = NULL;
    kumo__slow_job_free(r->pending);
    r->pending = NULL;
}

uint64_t kumo__auth_token_cache_hits(const kumo__auth *a, const char *scheme)
{
    for (size_t i = 0; a && i < a->sec->nschemes; i++)
        if (strcmp(a->sec->schemes[i].name, scheme) == 0 && a->v[i].tokens)
            return atomic_load_explicit(&a->v[i].tokens->hits, memory_order_relaxed);
    return 0;
}
