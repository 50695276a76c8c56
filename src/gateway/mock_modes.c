/*
 * mock_modes.c: the stateful mode, record and replay, and faults of kumo
 * mock, wired to the engine's hook and to api.c (mock_modes.h).
 *
 * The hook answers in this order: the state (for operations of a
 * collection; the others fall through to the engine's examples), else the
 * recordings (replay), else the real service (record). Faults are drawn
 * per answered request of an operation, in the order the loops take them
 * (an atomic counter), and applied on the request's loop: an answer put
 * off is copied into the request's pool first, since dispatch's is freed
 * when api.c returns.
 */
#include "gateway/mock_modes.h"
#include "base/http.h"
#include "base/log.h"
#include "gateway/faults.h"
#include "gateway/h2o_glue.h"
#include "gateway/mock_io.h"
#include "gateway/mock_proxy.h"
#include "gateway/mock_state.h"
#include "gateway/recording.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct kumo__mock_modes_rt {
    kumo__mock *m;
    const kumo__spec *spec;
    kumo__mock_state *state;
    kumo__faults *faults;
    kumo__recordings *rec;
    int replay; /* rec is for replay (else for record) */
    char *proxy_url;
    char *describe;
};

int kumo__mock_modes_check(const kumo__mock_modes *modes, int usage_code, kumo__error *err)
{
    int stateful = modes->stateful || modes->state_file || modes->data_file;
    if (modes->record_dir && modes->replay_dir) {
        kumo__error_set(err, usage_code, "--record and --replay go one at a time: record first, then replay");
        return usage_code;
    }
    if (modes->record_dir && modes->proxy_url == NULL) {
        kumo__error_set(err, usage_code, "--record needs --proxy URL, the real service the requests go to");
        return usage_code;
    }
    if (modes->proxy_url && modes->record_dir == NULL) {
        kumo__error_set(err, usage_code, "--proxy goes with --record DIR (where the pairs are written)");
        return usage_code;
    }
    if (stateful && (modes->record_dir || modes->replay_dir)) {
        kumo__error_set(err, usage_code,
                        "a stateful mock answers from its own store; drop --stateful/--state/--data "
                        "or --record/--replay");
        return usage_code;
    }
    if (modes->redact[0] && modes->record_dir == NULL && modes->replay_dir == NULL) {
        kumo__error_set(err, usage_code,
                        "--redact names headers the recordings leave out; it goes with --record or "
                        "--replay");
        return usage_code;
    }
    if (modes->proxy_url && kumo__proxy_url_check(modes->proxy_url, err) != 0) {
        err->code = usage_code;
        return usage_code;
    }
    return 0;
}

/* ---- the hook --------------------------------------------------------------- */

static int reply_header(kumo__mock_reply *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
    kumo__answer_header *g = realloc(r->headers, (r->nheaders + 1) * sizeof(*g));
    if (g == NULL)
        return -ENOMEM;
    r->headers = g;
    g[r->nheaders].name = strndup(name, nlen);
    g[r->nheaders].value = strndup(value, vlen);
    if (g[r->nheaders].name == NULL || g[r->nheaders].value == NULL) {
        free(g[r->nheaders].name);
        free(g[r->nheaders].value);
        return -ENOMEM;
    }
    r->nheaders++;
    return 0;
}

/* Headers kumo writes itself, or that describe the body as it was sent
 * upstream: never copied from a recording or the real service. */
static int own_header(const char *name, size_t len)
{
    static const char *const own[] = {
        "content-type",      "content-length",   "date",       "server", "x-request-id", "connection",
        "transfer-encoding", "content-encoding", "keep-alive", NULL};
    for (size_t i = 0; own[i]; i++)
        if (strlen(own[i]) == len && strncasecmp(own[i], name, len) == 0)
            return 1;
    return 0;
}

static int reply_body(kumo__mock_reply *r, int status, const char *ctype, const char *body, size_t len)
{
    r->status = status;
    if (ctype && (r->content_type = strdup(ctype)) == NULL)
        return -ENOMEM;
    if (len > 0 || body) {
        if ((r->body = malloc(len + 1)) == NULL)
            return -ENOMEM;
        if (len)
            memcpy(r->body, body, len);
        r->body[len] = '\0';
        r->body_len = len;
        if (r->content_type == NULL && (r->content_type = strdup("application/octet-stream")) == NULL)
            return -ENOMEM;
    }
    return 0;
}

static kumo__rec_message message_of(const kumo__mock_request *rq, char *method, size_t method_len)
{
    const kumo__http_in *in = rq->in;
    snprintf(method, method_len, "%.*s", (int)(in->method.len < method_len ? in->method.len : method_len - 1),
             in->method.base);
    kumo__rec_message msg = {0};
    msg.method = method;
    msg.path = in->path;
    msg.query = in->query;
    msg.headers = in->headers;
    msg.nheaders = in->nheaders;
    msg.body = in->body;
    return msg;
}

static int from_state(kumo__mock_modes_rt *rt, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    kumo__mock_state_reply a;
    const json_t *params = rq->checked ? rq->checked->params : NULL, *body = rq->checked ? rq->checked->body : NULL;
    int rc = kumo__mock_state_answer(rt->state, rq->op_index, params, body, &a);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (a.content_type && strcmp(a.content_type, "application/problem+json") == 0) {
        /* the engine's problem document: with the request's path and id */
        json_t *doc = json_loadb(a.body, a.body_len, 0, NULL);
        const char *title = json_string_value(json_object_get(doc, "title"));
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        rc = kumo__mock_reply_problem(out, rq, a.status, title ? title : "Not Found", detail);
        json_decref(doc);
        kumo__mock_state_reply_clear(&a);
        return rc == 0 ? 1 : rc;
    }
    out->status = a.status;
    out->body = a.body;
    out->body_len = a.body_len;
    a.body = NULL;
    rc = 0;
    if (out->body && a.content_type && strcmp(a.content_type, "application/problem+json") != 0)
        rc = (out->content_type = strdup(a.content_type)) ? 0 : -ENOMEM;
    if (rc == 0 && a.location[0])
        rc = reply_header(out, "location", 8, a.location, strlen(a.location));
    kumo__mock_state_reply_clear(&a);
    return rc == 0 ? 1 : rc;
}

static int from_recordings(kumo__mock_modes_rt *rt, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    char method[16], detail[1200];
    kumo__rec_message msg = message_of(rq, method, sizeof(method));
    const kumo__recorded *rec = kumo__recordings_match(rt->rec, rq->op_index, &msg, detail, sizeof(detail));
    if (rec == NULL) {
        kumo__log_event("warn", "replay: %s", detail);
        int rc = kumo__mock_reply_problem(out, rq, 404, "Not Found", detail);
        return rc == 0 ? 1 : rc;
    }
    const char *ctype = json_string_value(json_object_get(rec->headers, "content-type"));
    int rc = reply_body(out, rec->status, ctype, rec->body, rec->body_len);
    const char *k;
    json_t *v;
    json_object_foreach(rec->headers, k, v)
    {
        const char *s = json_string_value(v);
        if (rc == 0 && s && !own_header(k, strlen(k)) && strcmp(s, KUMO__RECORDING_REDACTED) != 0)
            rc = reply_header(out, k, strlen(k), s, strlen(s));
    }
    return rc == 0 ? 1 : rc;
}

/* Record mode's call to the real service, as a slow job (base/slowjob.h):
 * the request copied (the client may leave while the call runs), then on
 * a thread of the gateway the call and the pair written; the loop builds
 * the answer from it when it asks again. */
typedef struct proxy_job {
    kumo__slow_job base; /* first */
    kumo__mock_modes_rt *rt;
    size_t op_index;
    char method[16];
    kumo__rec_message msg; /* into mem and headers */
    kumo__header_view *headers;
    char *mem;
    int rc; /* the call's: 0, or -errno with why */
    char why[600];
    kumo__proxy_response pr;
} proxy_job;

static const char proxy_kind[] = "record";

static void proxy_run(kumo__slow_job *sj)
{
    proxy_job *j = (proxy_job *)sj;
    char file[1024] = "";
    if ((j->rc = kumo__mock_proxy(j->rt->proxy_url, &j->msg, &j->pr, j->why, sizeof(j->why))) != 0) {
        kumo__log_event("warn", "record: the real service did not answer: %s", j->why);
        return;
    }
    kumo__rec_message res = {0};
    res.status = j->pr.status;
    res.headers = j->pr.headers;
    res.nheaders = j->pr.nheaders;
    res.body = (kumo__slice){j->pr.body, j->pr.body_len};
    int wrc = kumo__recordings_write(j->rt->rec, j->op_index, &j->msg, &res, file, sizeof(file));
    if (wrc != 0)
        kumo__log_event("warn", "record: %s %.*s: the pair could not be written: %s", j->method, (int)j->msg.path.len,
                        j->msg.path.base, strerror(-wrc));
    else
        kumo__log_event("info", "record: %s %.*s -> %d, %s", j->method, (int)j->msg.path.len, j->msg.path.base,
                        j->pr.status, file);
}

static void proxy_free(kumo__slow_job *sj)
{
    proxy_job *j = (proxy_job *)sj;
    kumo__proxy_response_free(&j->pr);
    free(j->headers);
    free(j->mem);
    free(j);
}

/* A copy of what the call sends: method, path, query, headers, body. */
static proxy_job *proxy_job_new(kumo__mock_modes_rt *rt, const kumo__mock_request *rq)
{
    proxy_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->base = (kumo__slow_job){.run = proxy_run, .free = proxy_free, .kind = proxy_kind};
    j->rt = rt;
    j->op_index = rq->op_index;
    kumo__rec_message m = message_of(rq, j->method, sizeof(j->method));
    size_t bytes = m.path.len + 1 + m.query.len + 1 + m.body.len + 1;
    for (size_t i = 0; i < m.nheaders; i++)
        bytes += m.headers[i].name.len + m.headers[i].value.len + 2;
    j->mem = malloc(bytes);
    j->headers = calloc(m.nheaders ? m.nheaders : 1, sizeof(*j->headers));
    if (j->mem == NULL || j->headers == NULL) {
        proxy_free(&j->base);
        return NULL;
    }
    char *at = j->mem;
#define COPY(dst, src)                                                                                                 \
    do {                                                                                                               \
        if ((src).len)                                                                                                 \
            memcpy(at, (src).base, (src).len);                                                                         \
        at[(src).len] = '\0';                                                                                          \
        (dst) = (kumo__slice){(src).base ? at : NULL, (src).len};                                                      \
        at += (src).len + 1;                                                                                           \
    } while (0)
    j->msg.method = j->method;
    COPY(j->msg.path, m.path);
    COPY(j->msg.query, m.query);
    COPY(j->msg.body, m.body);
    for (size_t i = 0; i < m.nheaders; i++) {
        COPY(j->headers[i].name, m.headers[i].name);
        COPY(j->headers[i].value, m.headers[i].value);
    }
#undef COPY
    j->msg.headers = j->headers;
    j->msg.nheaders = m.nheaders;
    return j;
}

/* The answer from a call that ran: the service's, or a 502. */
static int proxy_reply(const proxy_job *j, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    if (j->rc != 0) {
        char detail[800];
        snprintf(detail, sizeof(detail), "the real service did not answer: %s", j->why);
        int rc = kumo__mock_reply_problem(out, rq, 502, "Bad Gateway", detail);
        return rc == 0 ? 1 : rc;
    }
    const kumo__proxy_response *pr = &j->pr;
    const char *ctype = NULL;
    char ctbuf[256];
    for (size_t i = 0; i < pr->nheaders; i++)
        if (pr->headers[i].name.len == 12 && memcmp(pr->headers[i].name.base, "content-type", 12) == 0) {
            snprintf(ctbuf, sizeof(ctbuf), "%.*s", (int)pr->headers[i].value.len, pr->headers[i].value.base);
            ctype = ctbuf;
        }
    int rc = reply_body(out, pr->status, ctype, pr->body, pr->body_len);
    for (size_t i = 0; rc == 0 && i < pr->nheaders; i++)
        if (!own_header(pr->headers[i].name.base, pr->headers[i].name.len))
            rc = reply_header(out, pr->headers[i].name.base, pr->headers[i].name.len, pr->headers[i].value.base,
                              pr->headers[i].value.len);
    return rc == 0 ? 1 : rc;
}

/* Record mode: under a gateway loop the call leaves the loop (the request
 * waits parked, other requests go on); else (kumo-host) it runs here. */
static int from_service(kumo__mock_modes_rt *rt, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    const kumo__slow_job *done = rq->in->slow_done;
    if (done && done->kind == proxy_kind && ((const proxy_job *)done)->rt == rt)
        return proxy_reply((const proxy_job *)done, rq, out);
    proxy_job *j = proxy_job_new(rt, rq);
    if (j == NULL)
        return -ENOMEM;
    if (rq->in->defer_slow) {
        out->defer = &j->base;
        return 1;
    }
    proxy_run(&j->base);
    int rc = proxy_reply(j, rq, out);
    proxy_free(&j->base);
    return rc;
}

static int hook(void *ctx, const kumo__mock *m, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    kumo__mock_modes_rt *rt = ctx;
    (void)m;
    if (rt->state)
        return from_state(rt, rq, out);
    if (rt->rec && rt->replay)
        return from_recordings(rt, rq, out);
    if (rt->rec)
        return from_service(rt, rq, out);
    return 0;
}

/* readOnly values of the stateful mode, made by the engine's generator. */
static json_t *generate(void *ud, const json_t *schema, uint64_t n)
{
    json_t *v = NULL;
    char why[256];
    if (kumo__mock_example(ud, schema, KUMO__DIR_RESPONSE, n, 0, &v, why, sizeof(why)) != 0)
        return NULL;
    return v;
}

/* ---- building ------------------------------------------------------------------ */

void kumo__mock_modes_free(kumo__mock_modes_rt *rt)
{
    if (rt == NULL)
        return;
    if (rt->rec && rt->replay) {
        char *text = kumo__recordings_report_text(rt->rec);
        if (text && text[0]) {
            fputs(text, stdout);
            fflush(stdout);
        }
        free(text);
    }
    kumo__mock_state_free(rt->state);
    kumo__faults_free(rt->faults);
    kumo__recordings_free(rt->rec);
    free(rt->proxy_url);
    free(rt->describe);
    free(rt);
}

int kumo__mock_modes_attach(kumo__mock *m, const kumo__spec *spec, const kumo__mock_modes *modes, uint64_t seed,
                            const kumo__mock_modes_rt *prev, kumo__mock_modes_rt **out, kumo__error *err)
{
    *out = NULL;
    if (modes == NULL)
        return 0;
    int stateful = modes->stateful || modes->state_file || modes->data_file;
    if (!stateful && !modes->faults_file && !modes->record_dir && !modes->replay_dir)
        return 0;
    kumo__mock_modes_rt *rt = calloc(1, sizeof(*rt));
    char *desc = NULL;
    size_t desc_len = 0;
    FILE *d = open_memstream(&desc, &desc_len);
    int rc = 0;
    if (rt == NULL || d == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    rt->m = m;
    rt->spec = spec;
    if (stateful) {
        kumo__mock_state_options o = {.state_file = modes->state_file,
                                      .seed_file = modes->data_file,
                                      .seed = seed,
                                      .gen = generate,
                                      .gen_ud = m,
                                      .carry = prev ? prev->state : NULL};
        if ((rc = kumo__mock_state_open(spec, &o, &rt->state, err)) != 0)
            goto out;
        long carried = kumo__mock_state_carried(rt->state);
        if (carried > 0)
            kumo__log_event("info", "reload: the stateful mock keeps its items (%ld store entries)", carried);
        else if (carried < 0)
            kumo__log_event("warn", "reload: the document's collections changed, so the stateful mock starts over%s",
                            modes->data_file ? " from its seed data" : " empty");
        const char *colls = kumo__mock_state_describe(rt->state);
        fprintf(d, "  stateful  %s%s, in %s%s%s; POST /__kumo/reset starts over\n",
                colls[0] ? "collections " : "no collection inferred from the paths", colls,
                modes->state_file ? modes->state_file : "memory", modes->data_file ? ", seeded from " : "",
                modes->data_file ? modes->data_file : "");
    }
    if (modes->faults_file) {
        if ((rc = kumo__faults_load(modes->faults_file, modes->seed_given ? &seed : NULL, &rt->faults, err)) != 0)
            goto out;
        fprintf(d, "  faults    %zu rule%s from %s, seed %llu\n", kumo__faults_count(rt->faults),
                kumo__faults_count(rt->faults) == 1 ? "" : "s", modes->faults_file,
                (unsigned long long)kumo__faults_seed(rt->faults));
    }
    if (modes->record_dir) {
        if ((rc = kumo__recordings_open(modes->record_dir, spec, modes->redact, 0, &rt->rec, err)) != 0)
            goto out;
        kumo__recordings_set_refs(rt->rec, kumo__mock_refs(m));
        if ((rt->proxy_url = strdup(modes->proxy_url)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        fprintf(d, "  record    every request goes on to %s; pairs written to %s/OPERATION/NNNN.json\n",
                modes->proxy_url, modes->record_dir);
    } else if (modes->replay_dir) {
        rt->replay = 1;
        if ((rc = kumo__recordings_open(modes->replay_dir, spec, modes->redact, 1, &rt->rec, err)) != 0)
            goto out;
        kumo__recordings_set_refs(rt->rec, kumo__mock_refs(m));
        json_t *rep = kumo__recordings_report(rt->rec);
        fprintf(d, "  replay    %zu recording%s from %s (%zu break the document); GET /__kumo/report\n",
                kumo__recordings_count(rt->rec), kumo__recordings_count(rt->rec) == 1 ? "" : "s", modes->replay_dir,
                json_array_size(json_object_get(rep, "drift")));
        json_decref(rep);
    }
out:
    if (d)
        fclose(d);
    if (rc != 0 || rt == NULL) {
        free(desc);
        kumo__mock_modes_free(rt);
        return rc;
    }
    rt->describe = desc;
    kumo__mock_set_hook(m, hook, rt);
    *out = rt;
    return 0;
}

const char *kumo__mock_modes_describe(const kumo__mock_modes_rt *rt)
{
    return rt && rt->describe ? rt->describe : "";
}

/* ---- kumo's own paths ------------------------------------------------------------- */

static void send_json(h2o_req_t *req, const char *request_id, int status, const char *ctype, char *body)
{
    req->res.status = status;
    req->res.reason = kumo__http_reason(status);
    if (ctype)
        kumo__h2o_copy_header(req, H2O_STRLIT("content-type"), ctype, strlen(ctype));
    kumo__h2o_copy_header(req, H2O_STRLIT("x-request-id"), request_id, strlen(request_id));
    size_t len = body ? strlen(body) : 0;
    char *copy = len ? h2o_mem_alloc_pool(&req->pool, len) : NULL;
    if (len)
        memcpy(copy, body, len);
    free(body);
    kumo__send_body(req, copy ? copy : "", len);
}

int kumo__mock_modes_admin(kumo__mock_modes_rt *rt, h2o_req_t *req, const char *request_id)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (rt == NULL || path_len < 8 || memcmp(req->path.base, "/__kumo/", 8) != 0)
        return 0;
    h2o_iovec_t p = h2o_iovec_init(req->path.base, path_len);
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/__kumo/reset")) &&
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        if (rt->state == NULL) {
            kumo__send_problem(req, 404, "Not Found", "this mock is not stateful; start it with --stateful", request_id,
                               NULL);
            return 1;
        }
        kumo__error e = {0};
        if (kumo__mock_state_reset(rt->state, &e) != 0) {
            kumo__log_event("error", "reset: %s", e.msg);
            kumo__send_problem(req, 500, "Internal Server Error", e.msg, request_id, NULL);
            return 1;
        }
        kumo__log_event("info", "the mock's state was reset");
        send_json(req, request_id, 204, NULL, NULL);
        return 1;
    }
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/__kumo/report")) &&
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        if (rt->rec == NULL || !rt->replay) {
            kumo__send_problem(req, 404, "Not Found", "the report is replay's; start the mock with --replay DIR",
                               request_id, NULL);
            return 1;
        }
        json_t *rep = kumo__recordings_report(rt->rec);
        char *text = rep ? json_dumps(rep, JSON_INDENT(2)) : NULL;
        json_decref(rep);
        if (text == NULL) {
            kumo__send_problem(req, 500, "Internal Server Error", "out of memory", request_id, NULL);
            return 1;
        }
        send_json(req, request_id, 200, "application/json", text);
        return 1;
    }
    kumo__send_problem(req, 404, "Not Found",
                       "kumo mock's own paths are POST /__kumo/reset (stateful) and GET /__kumo/report (replay)",
                       request_id, NULL);
    return 1;
}

/* ---- faults on the way out ------------------------------------------------------------ */

typedef struct pending {
    kumo__fault_decision f;
    int status;
    const char *ctype, *allow, *retry_after, *request_id;
    char *body;
    size_t body_len;
    kumo__answer_header *headers; /* in the pool */
    size_t nheaders;
} pending;

static char *pool_dup(h2o_req_t *req, const char *s, size_t len)
{
    if (s == NULL)
        return NULL;
    char *d = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static void send_pending(h2o_req_t *req, void *arg)
{
    pending *p = arg;
    if (p->f.reset) {
        kumo__h2o_reset(req);
        return;
    }
    req->res.status = p->status;
    req->res.reason = kumo__http_reason(p->status);
    if (p->ctype)
        kumo__h2o_copy_header(req, H2O_STRLIT("content-type"), p->ctype, strlen(p->ctype));
    else if (p->body)
        kumo__h2o_add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("application/problem+json"));
    for (size_t i = 0; i < p->nheaders; i++)
        kumo__h2o_copy_header(req, p->headers[i].name, strlen(p->headers[i].name), p->headers[i].value,
                              strlen(p->headers[i].value));
    if (p->allow && *p->allow)
        kumo__h2o_copy_header(req, H2O_STRLIT("allow"), p->allow, strlen(p->allow));
    if (p->retry_after)
        kumo__h2o_copy_header(req, H2O_STRLIT("retry-after"), p->retry_after, strlen(p->retry_after));
    kumo__h2o_copy_header(req, H2O_STRLIT("x-request-id"), p->request_id, strlen(p->request_id));
    if (p->f.truncate)
        kumo__h2o_send_truncated(req, p->body ? p->body : "", p->body_len,
                                 (size_t)((double)p->body_len * p->f.truncate_keep));
    else
        kumo__send_body(req, p->body ? p->body : "", p->body_len);
}

int kumo__mock_modes_send(kumo__mock_modes_rt *rt, h2o_req_t *req, const kumo__dispatch *d, const char *request_id,
                          int *status)
{
    if (rt == NULL || rt->faults == NULL || d->op == NULL)
        return 0;
    kumo__fault_decision f;
    kumo__faults_next(rt->faults, d->op->operation_id, &f);
    if (f.fired == 0)
        return 0;
    pending *p = h2o_mem_alloc_pool(&req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->f = f;
    p->request_id = pool_dup(req, request_id, strlen(request_id));
    if (f.status) {
        char detail[160], ra[16];
        snprintf(detail, sizeof(detail), "a fault kumo mock injected (--faults rule %d)", f.rule + 1);
        size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len, blen = 0;
        char *doc = kumo__problem_json(f.status, kumo__http_reason(f.status), detail, req->path.base, path_len,
                                       request_id, NULL, &blen);
        p->status = f.status;
        p->body = doc ? pool_dup(req, doc, blen) : NULL;
        p->body_len = doc ? blen : 0;
        free(doc);
        if (f.retry_after_s) {
            snprintf(ra, sizeof(ra), "%u", f.retry_after_s);
            p->retry_after = pool_dup(req, ra, strlen(ra));
        }
    } else {
        p->status = d->status;
        p->ctype = d->content_type ? pool_dup(req, d->content_type, strlen(d->content_type)) : NULL;
        p->allow = pool_dup(req, d->allow, strlen(d->allow));
        p->retry_after = d->retry_after ? pool_dup(req, d->retry_after, strlen(d->retry_after)) : NULL;
        p->body = d->body ? pool_dup(req, d->body, d->body_len) : NULL;
        p->body_len = d->body ? d->body_len : 0;
        p->headers = d->nheaders ? h2o_mem_alloc_pool(&req->pool, d->nheaders * sizeof(*p->headers)) : NULL;
        for (size_t i = 0; i < d->nheaders; i++) {
            p->headers[i].name = pool_dup(req, d->headers[i].name, strlen(d->headers[i].name));
            p->headers[i].value = pool_dup(req, d->headers[i].value, strlen(d->headers[i].value));
        }
        p->nheaders = d->nheaders;
    }
    *status = f.reset ? 0 : p->status;
    if (f.latency_ms == 0 || kumo__h2o_later(req, f.latency_ms, send_pending, p) != 0)
        send_pending(req, p);
    return 1;
}
