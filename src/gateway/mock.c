/*
 * mock.c: the mock engine (see mock.h): what `kumo mock` and `kumo up
 * --mock` answer for an operation without a handler.
 *
 * At build, each operation's responses are read from the document as
 * written (the spec model keeps schemas, not examples): per response its
 * status, per media type the declared example and the named ones (OpenAPI
 * 3's example/examples, Swagger 2.0's response examples by MIME type),
 * its headers; and the operation's security requirements (read by the
 * security model, openapi/security.c, that kumo up enforces) as the
 * credentials each alternative needs: kumo mock checks they are there,
 * not their values. Nothing is generated at build, so a large document starts as
 * fast as kumo up loads it.
 *
 * Per request: the hook, if any; else the status (Prefer: code=N), the
 * media type (Accept), the body (Prefer: example=NAME, the declared one,
 * the made one kept after its first use, or with Prefer: dynamic=true a
 * fresh one), checked against the operation's response contract.
 */
#include "gateway/mock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/http.h"
#include "openapi/check_internal.h"
#include "openapi/example.h"
#include "openapi/security.h"

#define ATTEMPTS 8 /* made values tried before a 500 */

typedef struct named {
    char *name;
    json_t *value; /* a reference */
} named;

/* A made (or declared) answer for one response and media type, kept. */
typedef struct made {
    char *why; /* non-NULL: no valid body could be made; why */
    char *body;
    size_t len;
    kumo__answer_header *headers;
    size_t nheaders;
} made;

typedef struct mock_media {
    const kumo__media *media; /* NULL: the response has no content */
    char *send_type;          /* the Content-Type sent (a wildcard made concrete) */
    int json;                 /* a JSON media type: bodies are JSON text */
    json_t *example;          /* the declared example, or NULL (a reference) */
    named *examples;
    size_t nexamples;
    _Atomic(made *) cache;
} mock_media;

typedef struct mock_header {
    char *name;
    json_t *schema;  /* borrowed */
    json_t *example; /* a reference, or NULL */
} mock_header;

typedef struct mock_resp {
    const kumo__response *resp;
    int status; /* 200 for default and 2XX; N00 for NXX */
    mock_media *media;
    size_t nmedia; /* at least 1 (a NULL media when there is no content) */
    mock_header *headers;
    size_t nheaders;
} mock_resp;

enum { CRED_HEADER, CRED_QUERY, CRED_COOKIE, CRED_UNCHECKED };

typedef struct cred {
    int where;
    char *name;      /* lower case for headers */
    char *scheme;    /* the security scheme's name, for messages */
    char *challenge; /* WWW-Authenticate: "Bearer", "Basic realm=\"kumo mock\"", or NULL */
} cred;

typedef struct alternative {
    cred *creds;
    size_t ncreds;
} alternative;

typedef struct mock_op {
    mock_resp *resps;
    size_t nresps;
    int preferred; /* the response answered without Prefer: code; -1: none */
    alternative *alts;
    size_t nalts;
    int open; /* no security, or an empty alternative */
} mock_op;

typedef struct locked_refs {
    kumo__refs refs;
    const kumo__refs *inner;
    pthread_mutex_t *lock;
} locked_refs;

/* An operation's contract compiled on first use (kumo mock). */
typedef struct lazy_check {
    kumo__opcheck *chk;
    char *why; /* the compile error, or NULL */
} lazy_check;

struct kumo__mock {
    const kumo__spec *spec;
    kumo__opcheck *const *checks;
    _Atomic(lazy_check *) *lazy; /* per operation, when checks has none */
    uint64_t seed;
    mock_op *ops;
    pthread_mutex_t lock; /* the document set's $ref resolution */
    locked_refs refs;
    atomic_uint_fast64_t fresh; /* dynamic=true: one more per request */
    kumo__mock_hook_fn hook;
    void *hook_ctx;
    kumo__security *sec; /* the document's security model: what credentials to look for */
};

static json_t *locked_resolve(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                              kumo__error *err)
{
    const locked_refs *l = (const locked_refs *)self;
    pthread_mutex_lock(l->lock);
    json_t *t = l->inner->resolve(l->inner, at, ref, where, where_len, err);
    pthread_mutex_unlock(l->lock);
    return t;
}

/* ---- build ------------------------------------------------------------------ */

static int oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* Follows a Reference Object ($ref to components/responses, examples,
 * headers, securitySchemes); NULL when it cannot be. */
static json_t *deref(const kumo__mock *m, json_t *node)
{
    for (int n = 0; n < 32 && json_is_object(node) && json_is_string(json_object_get(node, "$ref")); n++) {
        kumo__error e = {0};
        node =
            m->spec->refs->resolve(m->spec->refs, node, json_string_value(json_object_get(node, "$ref")), NULL, 0, &e);
    }
    return node;
}

static int status_of(const char *key)
{
    if (strcmp(key, "default") == 0 || strcasecmp(key, "2XX") == 0)
        return 200;
    if (key[0] >= '1' && key[0] <= '5' && (key[1] == 'X' || key[1] == 'x'))
        return (key[0] - '0') * 100;
    return atoi(key);
}

static int build_media(kumo__mock *m, mock_media *mm, const kumo__media *media, json_t *resp_node)
{
    mm->media = media;
    atomic_init(&mm->cache, NULL);
    if (media == NULL)
        return 0;
    const char *t = media->type;
    kumo__mtype mt;
    int parsed = kumo__mtype_parse(t, strlen(t), &mt) == 0;
    if (strchr(t, '*')) {
        static const char json[] = "application/json";
        kumo__mtype jt;
        kumo__mtype_parse(json, sizeof(json) - 1, &jt);
        t = parsed && kumo__mtype_match(&mt, &jt) ? json : "application/octet-stream";
        parsed = kumo__mtype_parse(t, strlen(t), &mt) == 0;
    }
    if ((mm->send_type = strdup(t)) == NULL)
        return -ENOMEM;
    mm->json = parsed && kumo__mtype_is_json(&mt);
    json_t *mnode = NULL;
    if (m->spec->version == 20) {
        json_t *ex = json_object_get(json_object_get(resp_node, "examples"), media->type);
        if (ex)
            mm->example = json_incref(ex);
        return 0;
    }
    json_t *content = json_object_get(resp_node, "content");
    const char *k;
    json_t *v;
    json_object_foreach(content, k, v) if (strcasecmp(k, media->type) == 0) mnode = v;
    if (mnode == NULL)
        return 0;
    if (json_object_get(mnode, "example"))
        mm->example = json_incref(json_object_get(mnode, "example"));
    json_t *examples = json_object_get(mnode, "examples");
    if (json_is_object(examples) && json_object_size(examples) > 0) {
        if ((mm->examples = calloc(json_object_size(examples), sizeof(*mm->examples))) == NULL)
            return -ENOMEM;
        json_object_foreach(examples, k, v)
        {
            json_t *ex = deref(m, v);
            json_t *value = json_object_get(ex, "value");
            if (value == NULL)
                continue; /* externalValue: not fetched */
            named *n = &mm->examples[mm->nexamples];
            if ((n->name = strdup(k)) == NULL)
                return -ENOMEM;
            n->value = json_incref(value);
            mm->nexamples++;
        }
        if (mm->example == NULL && mm->nexamples > 0)
            mm->example = json_incref(mm->examples[0].value);
    }
    return 0;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return d;
}

static int build_headers(kumo__mock *m, mock_resp *r, json_t *resp_node)
{
    json_t *headers = json_object_get(resp_node, "headers");
    if (!json_is_object(headers) || json_object_size(headers) == 0)
        return 0;
    if ((r->headers = calloc(json_object_size(headers), sizeof(*r->headers))) == NULL)
        return -ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v)
    {
        json_t *h = deref(m, v);
        if (!json_is_object(h) || strcasecmp(k, "content-type") == 0 || !kumo__http_token(k, strlen(k)))
            continue;
        mock_header *mh = &r->headers[r->nheaders];
        if ((mh->name = lower_dup(k)) == NULL)
            return -ENOMEM;
        /* Swagger 2.0: the header object is its own schema */
        mh->schema = m->spec->version == 20 ? h : json_object_get(h, "schema");
        json_t *ex = json_object_get(h, "example");
        if (ex == NULL && m->spec->version != 20)
            ex = json_object_get(mh->schema, "example");
        mh->example = ex ? json_incref(ex) : NULL;
        r->nheaders++;
    }
    return 0;
}

static int build_responses(kumo__mock *m, mock_op *mo, const kumo__operation *op)
{
    json_t *responses = json_object_get(op->node, "responses");
    mo->preferred = -1;
    if (op->nresponses == 0)
        return 0;
    if ((mo->resps = calloc(op->nresponses, sizeof(*mo->resps))) == NULL)
        return -ENOMEM;
    mo->nresps = op->nresponses;
    int best = -1, best_rank = 1 << 30;
    for (size_t i = 0; i < op->nresponses; i++) {
        const kumo__response *resp = &op->responses[i];
        mock_resp *r = &mo->resps[i];
        json_t *node = deref(m, json_object_get(responses, resp->status));
        r->resp = resp;
        r->status = status_of(resp->status);
        r->nmedia = resp->ncontent ? resp->ncontent : 1;
        if ((r->media = calloc(r->nmedia, sizeof(*r->media))) == NULL)
            return -ENOMEM;
        for (size_t k = 0; k < r->nmedia; k++)
            if (build_media(m, &r->media[k], resp->ncontent ? &resp->content[k] : NULL, node) != 0)
                return -ENOMEM;
        if (build_headers(m, r, node) != 0)
            return -ENOMEM;
        /* the lowest 2xx, then 2XX, default, then the lowest of the rest */
        int exact =
            resp->status[0] >= '1' && resp->status[0] <= '5' && resp->status[1] >= '0' && resp->status[1] <= '9';
        int rank = exact && r->status >= 200 && r->status < 300 ? r->status
                   : strcasecmp(resp->status, "2XX") == 0       ? 1000
                   : strcmp(resp->status, "default") == 0       ? 1001
                                                                : 2000 + r->status;
        if (rank < best_rank)
            best = (int)i, best_rank = rank;
    }
    mo->preferred = best;
    return 0;
}

/* One credential of scheme sc (the security model, openapi/security.h). */
static int build_cred(cred *c, const kumo__sec_scheme *sc)
{
    if ((c->scheme = strdup(sc->name)) == NULL)
        return -ENOMEM;
    c->where = CRED_HEADER;
    switch (sc->type) {
    case KUMO__SEC_APIKEY:
        c->where = sc->in == KUMO__IN_QUERY ? CRED_QUERY : sc->in == KUMO__IN_COOKIE ? CRED_COOKIE : CRED_HEADER;
        c->name = strdup(sc->key_name); /* a header's is lower case already */
        return c->name ? 0 : -ENOMEM;
    case KUMO__SEC_HTTP:
    case KUMO__SEC_OAUTH2:
    case KUMO__SEC_OIDC: {
        c->name = strdup("authorization");
        char other[64];
        const char *ch = "Bearer";
        if (sc->type == KUMO__SEC_HTTP && strcmp(sc->http_scheme, "basic") == 0)
            ch = "Basic realm=\"kumo mock\"";
        else if (sc->type == KUMO__SEC_HTTP && strcmp(sc->http_scheme, "bearer") != 0) {
            snprintf(other, sizeof(other), "%s", sc->http_scheme);
            if (other[0] >= 'a' && other[0] <= 'z')
                other[0] = (char)(other[0] - 'a' + 'A');
            ch = other;
        }
        if ((c->challenge = strdup(ch)) == NULL)
            return -ENOMEM;
        return c->name ? 0 : -ENOMEM;
    }
    case KUMO__SEC_MUTUAL_TLS: break;
    }
    c->where = CRED_UNCHECKED; /* mutualTLS: no client certificate to look at */
    return 0;
}

/* The operation's requirements (OR of ANDs) as the credentials to look for. */
static int build_security(kumo__mock *m, mock_op *mo, size_t op_index)
{
    const kumo__sec_op *so = &m->sec->ops[op_index];
    mo->open = so->nreqs == 0 || so->anonymous;
    if (mo->open)
        return 0;
    if ((mo->alts = calloc(so->nreqs, sizeof(*mo->alts))) == NULL)
        return -ENOMEM;
    for (size_t r = 0; r < so->nreqs; r++) {
        const kumo__sec_requirement *q = &so->reqs[r];
        alternative *a = &mo->alts[mo->nalts++];
        if ((a->creds = calloc(q->nuses, sizeof(*a->creds))) == NULL)
            return -ENOMEM;
        for (size_t u = 0; u < q->nuses; u++)
            if (build_cred(&a->creds[a->ncreds++], &m->sec->schemes[q->uses[u].scheme]) != 0)
                return -ENOMEM;
    }
    return 0;
}

int kumo__mock_build(const kumo__spec *spec, kumo__opcheck *const *checks, const kumo__mock_config *cfg,
                     kumo__mock **out, kumo__error *err)
{
    *out = NULL;
    kumo__mock *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return oom(err);
    m->spec = spec;
    m->checks = checks;
    m->seed = cfg ? cfg->seed : 0;
    pthread_mutex_init(&m->lock, NULL);
    m->refs = (locked_refs){.refs = {.resolve = locked_resolve}, .inner = spec->refs, .lock = &m->lock};
    atomic_init(&m->fresh, 0);
    if ((m->ops = calloc(spec->nops ? spec->nops : 1, sizeof(*m->ops))) == NULL ||
        (m->lazy = calloc(spec->nops ? spec->nops : 1, sizeof(*m->lazy))) == NULL) {
        kumo__mock_free(m);
        return oom(err);
    }
    int rc = kumo__security_load(spec, &m->sec, err);
    if (rc != 0) {
        kumo__mock_free(m);
        return rc;
    }
    for (size_t i = 0; i < spec->nops; i++) {
        if (build_responses(m, &m->ops[i], &spec->ops[i]) != 0 || build_security(m, &m->ops[i], i) != 0) {
            kumo__mock_free(m);
            return oom(err);
        }
    }
    *out = m;
    return 0;
}

static void made_free(made *d)
{
    if (d == NULL)
        return;
    free(d->why);
    free(d->body);
    for (size_t i = 0; i < d->nheaders; i++) {
        free(d->headers[i].name);
        free(d->headers[i].value);
    }
    free(d->headers);
    free(d);
}

void kumo__mock_free(kumo__mock *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; m->ops && i < m->spec->nops; i++) {
        mock_op *mo = &m->ops[i];
        for (size_t r = 0; r < mo->nresps; r++) {
            mock_resp *mr = &mo->resps[r];
            for (size_t k = 0; mr->media && k < mr->nmedia; k++) {
                mock_media *mm = &mr->media[k];
                free(mm->send_type);
                json_decref(mm->example);
                for (size_t e = 0; e < mm->nexamples; e++) {
                    free(mm->examples[e].name);
                    json_decref(mm->examples[e].value);
                }
                free(mm->examples);
                made_free(atomic_load(&mm->cache));
            }
            free(mr->media);
            for (size_t h = 0; h < mr->nheaders; h++) {
                free(mr->headers[h].name);
                json_decref(mr->headers[h].example);
            }
            free(mr->headers);
        }
        free(mo->resps);
        for (size_t a = 0; a < mo->nalts; a++) {
            for (size_t c = 0; c < mo->alts[a].ncreds; c++) {
                free(mo->alts[a].creds[c].name);
                free(mo->alts[a].creds[c].scheme);
                free(mo->alts[a].creds[c].challenge);
            }
            free(mo->alts[a].creds);
        }
        free(mo->alts);
    }
    free(m->ops);
    for (size_t i = 0; m->lazy && i < m->spec->nops; i++) {
        lazy_check *l = atomic_load(&m->lazy[i]);
        if (l) {
            kumo__opcheck_free(l->chk);
            free(l->why);
            free(l);
        }
    }
    free(m->lazy);
    kumo__security_free(m->sec);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void kumo__mock_set_hook(kumo__mock *m, kumo__mock_hook_fn fn, void *ctx)
{
    m->hook = fn;
    m->hook_ctx = ctx;
}

int kumo__mock_uses_typed(const kumo__mock *m)
{
    return m->hook != NULL;
}

const kumo__refs *kumo__mock_refs(const kumo__mock *m)
{
    return &m->refs.refs;
}

const kumo__spec *kumo__mock_spec(const kumo__mock *m)
{
    return m->spec;
}

int kumo__mock_check(const kumo__mock *m, size_t op_index, const kumo__opcheck **out, const char **why)
{
    *out = NULL;
    *why = NULL;
    if (m->checks && m->checks[op_index]) {
        *out = m->checks[op_index];
        return 0;
    }
    _Atomic(lazy_check *) *slot = &m->lazy[op_index];
    lazy_check *l = atomic_load_explicit(slot, memory_order_acquire);
    if (l == NULL) {
        /* under the lock: compiling follows $refs through the document set */
        pthread_mutex_lock((pthread_mutex_t *)&m->lock);
        if ((l = atomic_load_explicit(slot, memory_order_acquire)) == NULL && (l = calloc(1, sizeof(*l))) != NULL) {
            kumo__error err = {0};
            if (kumo__opcheck_build(m->spec, op_index, &l->chk, &err) != 0 && (l->why = strdup(err.msg)) == NULL) {
                free(l);
                l = NULL;
            } else {
                atomic_store_explicit(slot, l, memory_order_release);
            }
        }
        pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
        if (l == NULL)
            return -ENOMEM;
    }
    *out = l->chk;
    *why = l->why;
    return l->why ? -EINVAL : 0;
}

/* ---- replies ---------------------------------------------------------------- */

void kumo__mock_reply_free(kumo__mock_reply *r)
{
    kumo__slow_job_free(r->defer);
    r->defer = NULL;
    if (r->borrowed) { /* the engine's kept answer */
        memset(r, 0, sizeof(*r));
        return;
    }
    free(r->content_type);
    free(r->body);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

static int reply_header(kumo__mock_reply *r, const char *name, const char *value)
{
    kumo__answer_header *h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    r->headers = h;
    h[r->nheaders].name = strdup(name);
    h[r->nheaders].value = strdup(value);
    if (h[r->nheaders].name == NULL || h[r->nheaders].value == NULL) {
        free(h[r->nheaders].name);
        free(h[r->nheaders].value);
        return -ENOMEM;
    }
    r->nheaders++;
    return 0;
}

int kumo__mock_reply_json(kumo__mock_reply *r, int status, const json_t *body)
{
    r->status = status;
    if (body == NULL)
        return 0;
    if ((r->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL ||
        (r->content_type = strdup("application/json")) == NULL)
        return -ENOMEM;
    r->body_len = strlen(r->body);
    return 0;
}

int kumo__mock_reply_problem(kumo__mock_reply *r, const kumo__mock_request *rq, int status, const char *title,
                             const char *detail)
{
    r->status = status;
    r->body = kumo__problem_json(status, title, detail, rq->in->path.base, rq->in->path.len, rq->request_id, NULL,
                                 &r->body_len);
    return r->body ? 0 : -ENOMEM;
}

/* ---- security: presence only ------------------------------------------------- */

static const kumo__slice *header(const kumo__http_in *in, const char *name, size_t from, size_t *at)
{
    size_t n = strlen(name);
    for (size_t i = from; i < in->nheaders; i++)
        if (in->headers[i].name.len == n && memcmp(in->headers[i].name.base, name, n) == 0) {
            if (at)
                *at = i;
            return &in->headers[i].value;
        }
    return NULL;
}

/* Whether `list` ("a=1&b" or "a=1; b=2") has a key `name`. */
static int has_key(const char *list, size_t len, char sep, const char *name)
{
    size_t n = strlen(name), i = 0;
    while (i < len) {
        while (i < len && (list[i] == ' ' || list[i] == sep))
            i++;
        size_t s = i;
        while (i < len && list[i] != '=' && list[i] != sep)
            i++;
        if (i - s == n && memcmp(list + s, name, n) == 0)
            return 1;
        while (i < len && list[i] != sep)
            i++;
    }
    return 0;
}

static int present(const kumo__http_in *in, const cred *c)
{
    switch (c->where) {
    case CRED_HEADER: {
        const kumo__slice *v = header(in, c->name, 0, NULL);
        return v && v->len > 0;
    }
    case CRED_QUERY: return in->query.base && has_key(in->query.base, in->query.len, '&', c->name);
    case CRED_COOKIE:
        for (size_t i = 0, at; header(in, "cookie", i, &at); i = at + 1)
            if (has_key(in->headers[at].value.base, in->headers[at].value.len, ';', c->name))
                return 1;
        return 0;
    default: return 1;
    }
}

int kumo__mock_authorize(const kumo__mock *m, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    const mock_op *mo = &m->ops[rq->op_index];
    if (mo->open)
        return 0;
    for (size_t a = 0; a < mo->nalts; a++) {
        size_t ok = 0;
        for (size_t c = 0; c < mo->alts[a].ncreds; c++)
            ok += present(rq->in, &mo->alts[a].creds[c]);
        if (ok == mo->alts[a].ncreds)
            return 0;
    }
    char detail[1024];
    size_t n = (size_t)snprintf(detail, sizeof(detail), "operation '%s' (%s %s) needs a credential: ",
                                rq->op->operation_id ? rq->op->operation_id : "", rq->op->method, rq->op->path);
    static const char *const where[] = {"the header", "the query parameter", "the cookie", ""};
    for (size_t a = 0; a < mo->nalts && n < sizeof(detail); a++)
        for (size_t c = 0; c < mo->alts[a].ncreds && n < sizeof(detail); c++) {
            const cred *cr = &mo->alts[a].creds[c];
            n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s%s %s (%s)",
                                  c   ? " and "
                                  : a ? "; or "
                                      : "",
                                  where[cr->where], cr->name ? cr->name : "", cr->scheme);
        }
    if (n < sizeof(detail))
        snprintf(detail + n, sizeof(detail) - n, " (kumo mock checks that one is present, not its value)");
    memset(out, 0, sizeof(*out));
    if (kumo__mock_reply_problem(out, rq, 401, "Unauthorized", detail) != 0)
        return -ENOMEM;
    for (size_t a = 0; a < mo->nalts; a++)
        for (size_t c = 0; c < mo->alts[a].ncreds; c++)
            if (mo->alts[a].creds[c].challenge) {
                if (reply_header(out, "www-authenticate", mo->alts[a].creds[c].challenge) != 0)
                    return -ENOMEM;
                return 1;
            }
    return 1;
}

/* ---- Prefer ---------------------------------------------------------------------- */

typedef struct prefer {
    int code;          /* 0: none */
    char example[128]; /* "" : none */
    int dynamic;
} prefer;

/* Prefer: code=404, example="cat", dynamic=true (RFC 7240 preferences,
 * separated by ',' or ';'), over every Prefer header. */
static void read_prefer(const kumo__http_in *in, prefer *p)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0, at; header(in, "prefer", i, &at); i = at + 1) {
        const char *s = in->headers[at].value.base;
        size_t len = in->headers[at].value.len, k = 0;
        while (k < len) {
            while (k < len && (s[k] == ' ' || s[k] == '\t' || s[k] == ',' || s[k] == ';'))
                k++;
            size_t ks = k;
            while (k < len && s[k] != '=' && s[k] != ',' && s[k] != ';' && s[k] != ' ')
                k++;
            size_t klen = k - ks;
            const char *v = "";
            size_t vlen = 0;
            while (k < len && s[k] == ' ')
                k++;
            if (k < len && s[k] == '=') {
                k++;
                while (k < len && s[k] == ' ')
                    k++;
                if (k < len && s[k] == '"') {
                    v = s + ++k;
                    while (k < len && s[k] != '"')
                        k++;
                    vlen = (size_t)(s + k - v);
                    k++;
                } else {
                    v = s + k;
                    while (k < len && s[k] != ',' && s[k] != ';' && s[k] != ' ')
                        k++;
                    vlen = (size_t)(s + k - v);
                }
            }
            if (klen == 4 && strncasecmp(s + ks, "code", 4) == 0) {
                p->code = 0;
                for (size_t j = 0; j < vlen && j < 4 && v[j] >= '0' && v[j] <= '9'; j++)
                    p->code = p->code * 10 + (v[j] - '0');
                if (vlen != 3 || p->code < 100 || p->code > 599)
                    p->code = -1;
            } else if (klen == 7 && strncasecmp(s + ks, "example", 7) == 0) {
                snprintf(p->example, sizeof(p->example), "%.*s", (int)(vlen < 127 ? vlen : 127), v);
            } else if (klen == 7 && strncasecmp(s + ks, "dynamic", 7) == 0) {
                p->dynamic = vlen == 4 && strncasecmp(v, "true", 4) == 0;
            }
        }
    }
}

/* ---- bodies --------------------------------------------------------------------- */

typedef struct check_arg {
    const kumo__mock *m;
    const kumo__opcheck *chk;
    int status;
    const mock_media *mm;
} check_arg;

/* The body text of `v` for media mm: a string as is for a non-JSON type. */
static char *body_text(const mock_media *mm, const json_t *v, size_t *len)
{
    char *s = !mm->json && json_is_string(v) ? strndup(json_string_value(v), json_string_length(v))
                                             : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s)
        *len = !mm->json && json_is_string(v) ? json_string_length(v) : strlen(s);
    return s;
}

/* kumo__example_make's check: the operation's response contract, the
 * check kumo up --dev runs on a handler's answer. */
static int check_body(void *arg, const json_t *v, char *why, size_t why_len)
{
    const check_arg *a = arg;
    if (a->chk == NULL)
        return 1;
    size_t len = 0;
    char *text = body_text(a->mm, v, &len);
    if (text == NULL)
        return -1;
    kumo__violations vs = {.limit = 1};
    kumo__slice ct = {a->mm->send_type, strlen(a->mm->send_type)}, b = {text, len};
    int rc = kumo__opcheck_response(a->chk, a->status, ct, b, &vs);
    if (rc != 0 && vs.count > 0)
        snprintf(why, why_len, "%s: %s", vs.items[0].instance[0] ? vs.items[0].instance : "(root)",
                 vs.items[0].message);
    else if (rc != 0)
        snprintf(why, why_len, "it breaks the response contract");
    kumo__violations_free(&vs);
    free(text);
    return rc == 0 ? 1 : 0;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    a ^= b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2);
    return a;
}

/* The value of a header made from its example or schema, as header text. */
static char *header_text(const kumo__mock *m, const mock_header *h, uint64_t seed, int declared)
{
    json_t *v = NULL;
    if (declared && h->example)
        v = json_incref(h->example);
    else if (h->schema) {
        kumo__example_opts o = {.seed = seed,
                                .dialect = m->spec->dialect,
                                .dir = KUMO__DIR_RESPONSE,
                                .refs = &m->refs.refs,
                                .declared = declared,
                                .max_depth = 2,
                                .max_bytes = 1024};
        char why[256];
        if (kumo__example_generate(h->schema, &o, &v, why, sizeof(why)) != 0)
            return NULL;
    }
    if (v == NULL)
        return NULL;
    char buf[1024];
    size_t n = 0;
    buf[0] = '\0';
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            char *t = json_is_string(e) ? strdup(json_string_value(e)) : json_dumps(e, JSON_ENCODE_ANY);
            if (t && n < sizeof(buf))
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "", t);
            free(t);
        }
    } else if (!json_is_object(v)) {
        char *t = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
        if (t)
            snprintf(buf, sizeof(buf), "%s", t);
        free(t);
    }
    json_decref(v);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return buf[0] ? strdup(buf) : NULL;
}

/* Makes the answer for (response r, media mm): the declared example or a
 * made one, its headers. `fresh`: a new value, declared ones ignored. */
static made *make(const kumo__mock *m, size_t op_index, const mock_resp *r, const mock_media *mm, const json_t *chosen,
                  uint64_t seed, int fresh)
{
    made *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    const json_t *schema = mm->media ? mm->media->schema : NULL;
    json_t *v = NULL;
    char why[512] = "";
    if (chosen)
        v = json_incref((json_t *)chosen);
    else if (!fresh && mm->example)
        v = json_incref(mm->example);
    else if (schema) {
        kumo__example_opts o = {.seed = seed,
                                .dialect = m->spec->dialect,
                                .dir = KUMO__DIR_RESPONSE,
                                .refs = &m->refs.refs,
                                .declared = !fresh};
        const kumo__opcheck *chk = NULL;
        const char *cwhy = NULL;
        kumo__mock_check(m, op_index, &chk, &cwhy);
        check_arg a = {m, chk, r->status, mm};
        int rc = kumo__example_make(schema, &o, check_body, &a, ATTEMPTS, &v, why, sizeof(why));
        if (rc == -ENOMEM)
            goto oom;
        if (rc != 0) {
            char msg[800];
            snprintf(msg, sizeof(msg), "no valid example of the %s response (%s) could be made: %s; add an example",
                     r->resp->status, mm->media->type, why);
            if ((d->why = strdup(msg)) == NULL)
                goto oom;
            return d;
        }
    }
    if (v && mm->media) {
        if ((d->body = body_text(mm, v, &d->len)) == NULL)
            goto oom;
    }
    json_decref(v);
    v = NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        char *value = header_text(m, &r->headers[i], mix(seed, i), !fresh);
        if (value == NULL)
            continue;
        kumo__answer_header *h = realloc(d->headers, (d->nheaders + 1) * sizeof(*h));
        if (h == NULL || (h[d->nheaders].name = strdup(r->headers[i].name)) == NULL) {
            free(value);
            if (h)
                d->headers = h;
            goto oom;
        }
        d->headers = h;
        h[d->nheaders++].value = value;
    }
    return d;
oom:
    json_decref(v);
    made_free(d);
    return NULL;
}

/* The response for Prefer: code=N: exact, then NXX, then default. */
static int find_response(const mock_op *mo, int code)
{
    int range = -1, dflt = -1;
    for (size_t i = 0; i < mo->nresps; i++) {
        const char *s = mo->resps[i].resp->status;
        if (mo->resps[i].status == code && s[1] >= '0' && s[1] <= '9')
            return (int)i;
        if ((s[1] == 'X' || s[1] == 'x') && s[0] - '0' == code / 100)
            range = (int)i;
        if (strcmp(s, "default") == 0)
            dflt = (int)i;
    }
    return range >= 0 ? range : dflt;
}

static void list_statuses(const mock_op *mo, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < mo->nresps && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", mo->resps[i].resp->status);
}

/* The media type Accept picks among r's, else the first. */
static const mock_media *pick_media(const mock_resp *r, const kumo__mock_request *rq)
{
    if (r->nmedia <= 1)
        return &r->media[0];
    if (rq->checked && rq->checked->response_type)
        for (size_t i = 0; i < r->nmedia; i++)
            if (strcmp(r->media[i].media->type, rq->checked->response_type) == 0)
                return &r->media[i];
    kumo__slice accept[8];
    size_t nacc = 0;
    for (size_t i = 0, at; nacc < 8 && header(rq->in, "accept", i, &at); i = at + 1)
        accept[nacc++] = (kumo__slice){rq->in->headers[at].value.base, rq->in->headers[at].value.len};
    if (nacc == 0)
        return &r->media[0];
    kumo__mtype cand[16];
    size_t ncand = r->nmedia < 16 ? r->nmedia : 16;
    for (size_t i = 0; i < ncand; i++)
        if (kumo__mtype_parse(r->media[i].send_type, strlen(r->media[i].send_type), &cand[i]) != 0)
            cand[i] = (kumo__mtype){{"x", 1}, {"x", 1}, {NULL, 0}};
    int k = kumo__accept_choose(accept, nacc, cand, ncand);
    return &r->media[k >= 0 ? k : 0];
}

/* The reply of a kept answer: borrowed, nothing copied (every request
 * without Prefer: example= or dynamic=true gets one of these). */
static void lend_made(kumo__mock_reply *out, const made *d, const mock_media *mm)
{
    out->borrowed = 1;
    if (d->body) {
        out->body = d->body;
        out->body_len = d->len;
        out->content_type = mm->send_type;
    }
    out->headers = d->headers;
    out->nheaders = d->nheaders;
}

/* The reply of an answer made for this request alone: its body and
 * headers move to the reply (d keeps nothing of them). */
static int take_made(kumo__mock_reply *out, made *d, const mock_media *mm)
{
    if (d->body) {
        if ((out->content_type = strdup(mm->send_type)) == NULL)
            return -ENOMEM;
        out->body = d->body;
        out->body_len = d->len;
        d->body = NULL;
    }
    out->headers = d->headers;
    out->nheaders = d->nheaders;
    d->headers = NULL;
    d->nheaders = 0;
    return 0;
}

int kumo__mock_answer(const kumo__mock *m, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (m->hook) {
        int rc = m->hook(m->hook_ctx, m, rq, out);
        if (rc > 0)
            return 0;
        kumo__mock_reply_free(out);
        if (rc < 0)
            return kumo__mock_reply_problem(out, rq, 500, "Internal Server Error", "the mock's hook failed");
    }
    const mock_op *mo = &m->ops[rq->op_index];
    prefer p;
    char detail[900], list[300];
    read_prefer(rq->in, &p);
    int ri = mo->preferred;
    if (p.code != 0) {
        ri = p.code > 0 ? find_response(mo, p.code) : -1;
        if (ri < 0) {
            list_statuses(mo, list, sizeof(list));
            snprintf(detail, sizeof(detail),
                     "Prefer: code asks for a response operation '%s' does not declare; it declares: %s",
                     rq->op->operation_id ? rq->op->operation_id : rq->op->path, list[0] ? list : "none");
            return kumo__mock_reply_problem(out, rq, 400, "Bad Request", detail);
        }
    }
    if (ri < 0) {
        out->status = 204; /* no responses declared at all (a spec the loader accepts only in 2.0) */
        return 0;
    }
    const mock_resp *r = &mo->resps[ri];
    const mock_media *mm = pick_media(r, rq);
    out->status = p.code > 0 ? p.code : r->status;
    const json_t *chosen = NULL;
    if (p.example[0]) {
        for (size_t i = 0; i < mm->nexamples && !chosen; i++)
            if (strcmp(mm->examples[i].name, p.example) == 0)
                chosen = mm->examples[i].value;
        if (chosen == NULL) {
            size_t n = 0;
            list[0] = '\0';
            for (size_t i = 0; i < mm->nexamples && n < sizeof(list); i++)
                n += (size_t)snprintf(list + n, sizeof(list) - n, "%s'%s'", i ? ", " : "", mm->examples[i].name);
            snprintf(detail, sizeof(detail),
                     "Prefer: example=%s names no example of the %s response (%s) of operation '%s'; it has: %s",
                     p.example, r->resp->status, mm->media ? mm->media->type : "no content",
                     rq->op->operation_id ? rq->op->operation_id : rq->op->path, list[0] ? list : "none");
            memset(out, 0, sizeof(*out));
            return kumo__mock_reply_problem(out, rq, 400, "Bad Request", detail);
        }
    }
    uint64_t seed = mix(mix(m->seed, rq->op_index), (uint64_t)ri * 64 + (uint64_t)(mm - r->media));
    made *d;
    int kept = 0;
    if (chosen || p.dynamic) {
        if (p.dynamic)
            seed = mix(seed, atomic_fetch_add((atomic_uint_fast64_t *)&m->fresh, 1) + 1);
        d = make(m, rq->op_index, r, mm, chosen, seed, p.dynamic && !chosen);
    } else if ((d = atomic_load_explicit(&((mock_media *)mm)->cache, memory_order_acquire)) != NULL) {
        kept = 1;
    } else {
        d = make(m, rq->op_index, r, mm, NULL, seed, 0);
        made *none = NULL;
        if (d && atomic_compare_exchange_strong(&((mock_media *)mm)->cache, &none, d))
            kept = 1;
        else if (d) {
            made_free(d); /* another loop made it first: the same value */
            d = none;
            kept = 1;
        }
    }
    if (d == NULL)
        return -ENOMEM;
    int rc;
    if (d->why) {
        memset(out, 0, sizeof(*out));
        rc = kumo__mock_reply_problem(out, rq, 500, "Internal Server Error", d->why);
    } else if (out->status == 204 || out->status == 304 || out->status < 200) {
        rc = 0; /* no body, whatever the document says */
    } else if (kept) {
        lend_made(out, d, mm);
        rc = 0;
    } else {
        rc = take_made(out, d, mm);
    }
    if (!kept)
        made_free(d);
    return rc;
}

int kumo__mock_example(const kumo__mock *m, const json_t *schema, enum kumo__direction dir, uint64_t seed, int declared,
                       json_t **out, char *why, size_t why_len)
{
    kumo__example_opts o = {.seed = mix(m->seed, seed),
                            .dialect = m->spec->dialect,
                            .dir = dir,
                            .refs = &m->refs.refs,
                            .declared = declared};
    kumo__schema *compiled = NULL;
    kumo__error err = {0};
    if (kumo__schema_compile(schema, m->spec->dialect, "", &m->refs.refs, &compiled, &err) != 0) {
        snprintf(why, why_len, "%s", err.msg);
        return err.code == -ENOMEM ? -ENOMEM : -EINVAL;
    }
    kumo__example_schema_check c = {compiled, dir};
    int rc = kumo__example_make(schema, &o, kumo__example_check_schema, &c, ATTEMPTS, out, why, why_len);
    kumo__schema_free(compiled);
    return rc == -EDOM ? -EINVAL : rc;
}
