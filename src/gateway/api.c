/*
 * api.c: the API listener's handler, one request's round trip (data plane,
 * on its loop). Take the loop's live generation and hold it until the
 * request is disposed; route and check the request (dispatch.c, shared
 * with kumo-host) and encode one request frame; hand it to the unit's
 * pool; when the worker answers, write the response (h2o_glue.c, also
 * shared) and one access log line.
 *
 * Everything a request allocates lives in h2o's request pool, except the
 * in-flight call record, which must outlive a client that disconnects (its
 * request pool is gone then): the call ends when the worker answers, and
 * holds its generation until then. An ended call goes back to its loop's
 * short list, buffer and all, for the next request (call_new).
 */
#include "gateway/gateway_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/access_log.h"
#include "gateway/cors.h"
#include "gateway/h2o_glue.h"
#include "gateway/mock_modes.h"
#include "proto/tracectx.h"

static loop_thread *thread_of(h2o_req_t *req)
{
    return (loop_thread *)((char *)req->conn->ctx - offsetof(loop_thread, ctx));
}

/* A loop keeps up to GW_FREE_CALLS_MAX finished calls for its next
 * requests, each with its frame's buffer (cleared, capacity kept). A call
 * (about 1.1 KiB, for its tracestate) and a 4 KiB frame are too large for
 * malloc's per-thread cache: allocating and freeing both per request, with
 * the arena's consolidations, was some 3% of the gateway's CPU on the
 * hello bench (issue 19). Under AddressSanitizer a kept call and its
 * buffer are poisoned until reused, so a use after the end still shows. */
#if defined(__SANITIZE_ADDRESS__)
#define CALLS_POISON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CALLS_POISON 1
#endif
#endif
#ifdef CALLS_POISON
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif
#define FREE_CALL_FRAME_MAX (16u << 10) /* a larger buffer (a body's) is given back: at most 1 MiB kept a loop */

static gw_call *call_new(loop_thread *t)
{
    if (t->nfree_calls == 0)
        return calloc(1, sizeof(gw_call));
    gw_call *c = t->free_calls[--t->nfree_calls];
    UNPOISON(c, sizeof(*c));
    char *buf = c->call.frame.buf;
    size_t cap = c->call.frame.cap;
    UNPOISON(buf, cap);
    memset(c, 0, sizeof(*c));
    c->call.frame.buf = buf;
    c->call.frame.cap = cap;
    return c;
}

static void call_release(loop_thread *t, gw_call *c)
{
    if (t->nfree_calls < GW_FREE_CALLS_MAX && c->call.frame.cap <= FREE_CALL_FRAME_MAX) {
        POISON(c->call.frame.buf, c->call.frame.cap);
        POISON(c, sizeof(*c));
        t->free_calls[t->nfree_calls++] = c;
        return;
    }
    kumo__frame_writer_free(&c->call.frame);
    free(c);
}

void kumo__gw_free_calls(loop_thread *t)
{
    while (t->nfree_calls > 0) {
        gw_call *c = t->free_calls[--t->nfree_calls];
        UNPOISON(c, sizeof(*c));
        UNPOISON(c->call.frame.buf, c->call.frame.cap);
        kumo__frame_writer_free(&c->call.frame);
        free(c);
    }
}

/* n bytes at s (NUL or not) as a string in out[cap]: cut to cap - 1. */
static void copy_str(char *out, size_t cap, const char *s, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The request's method for the access log, at most 15 bytes. */
static void method_of(h2o_req_t *req, char out[16])
{
    size_t n = req->method.len < 15 ? req->method.len : 15;
    memcpy(out, req->method.base, n);
    out[n] = '\0';
}

/* A client-supplied X-Request-Id is kept when it is short and plain;
 * otherwise the gateway makes one: process prefix, thread, sequence. */
static void make_request_id(loop_thread *t, h2o_req_t *req, char *out, size_t cap)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        int ok = v.len > 0 && v.len < cap && v.len <= 64;
        for (size_t k = 0; ok && k < v.len; k++) {
            char c = v.base[k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 c == '.';
        }
        if (ok) {
            memcpy(out, v.base, v.len);
            out[v.len] = '\0';
            return;
        }
    }
    /* "%s-%d-%08x" of prefix, loop and sequence, by hand: this runs for
     * every request, and snprintf's cost shows at tens of thousands a second */
    static const char hex[] = "0123456789abcdef";
    char num[12], *d = num + sizeof(num);
    unsigned idx = (unsigned)t->index, seq = ++t->seq;
    do
        *--d = (char)('0' + idx % 10);
    while ((idx /= 10) != 0);
    size_t plen = strnlen(t->gw->id_prefix, sizeof(t->gw->id_prefix)), nlen = (size_t)(num + sizeof(num) - d);
    if (plen + 1 + nlen + 1 + 8 + 1 > cap) {
        snprintf(out, cap, "%s-%d-%08x", t->gw->id_prefix, t->index, seq);
        return;
    }
    char *p = out;
    memcpy(p, t->gw->id_prefix, plen);
    p += plen;
    *p++ = '-';
    memcpy(p, d, nlen);
    p += nlen;
    *p++ = '-';
    for (int i = 7; i >= 0; i--, seq >>= 4)
        p[i] = hex[seq & 15];
    p[8] = '\0';
}

/* Sends an answer kumo__dispatch_request (or the gateway itself) chose. */
static void send_answer(h2o_req_t *req, const char *request_id, int status, const char *allow, const char *retry_after,
                        const char *body, size_t body_len)
{
    req->res.status = status;
    req->res.reason = kumo__http_reason(status);
    if (allow && *allow)
        kumo__h2o_add_header(req, H2O_STRLIT("allow"), h2o_strdup(&req->pool, allow, SIZE_MAX).base, strlen(allow));
    if (body && h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1) < 0)
        kumo__h2o_add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("application/problem+json"));
    if (retry_after)
        kumo__h2o_add_header(req, H2O_STRLIT("retry-after"), retry_after, strlen(retry_after));
    kumo__h2o_add_header(req, H2O_STRLIT("x-request-id"), h2o_strdup(&req->pool, request_id, SIZE_MAX).base,
                         strlen(request_id));
    kumo__send_body(req, body ? body : "", body ? body_len : 0);
}

/* A request parked while its password is hashed (slow_work.c). */
typedef struct api_parked {
    kumo__gw_auth_parked base; /* first */
    h2o_req_t *req;            /* NULL once the client went away */
    req_hold *hold;            /* in req's pool: valid while req is */
    loop_thread *t;
    loop_gen *lg; /* counted in lg->users until delivered: the job reads its policy */
    uint64_t start;
    int rounds;
    char request_id[48];
} api_parked;

static void on_req_dispose(void *p)
{
    req_hold *h = p;
    if (h->call)
        h->call->req = NULL;
    if (h->parked)
        h->parked->req = NULL;
    if (h->body_cost)
        atomic_fetch_sub_explicit(&h->gw->bodies_held, h->body_cost, memory_order_relaxed);
    h->lg->users--;
}

/* A request's body is held twice until the request is disposed (h2o's
 * buffer, then the frame's copy). Takes that from the shared budget, or
 * returns -1 when the budget is spent: the caller answers 503 before
 * anything is copied. */
static int take_body_budget(gateway *gw, req_hold *hold, size_t body_len, size_t budget)
{
    size_t cost = body_len * 2;
    if (cost == 0)
        return 0;
    size_t before = atomic_fetch_add_explicit(&gw->bodies_held, cost, memory_order_relaxed);
    if (before + cost > budget) {
        atomic_fetch_sub_explicit(&gw->bodies_held, cost, memory_order_relaxed);
        return -1;
    }
    hold->body_cost = cost;
    return 0;
}

/* What the gateway answers a finished call with, decided before anything
 * is sent, so that /metrics, the traces and the pool's figures count the
 * call before its client can read the answer (a scrape right after a
 * response sees it). */
typedef struct call_answer {
    int status;
    const char *title; /* a problem of the gateway's own: its title; NULL: the handler's response (or doc) */
    const char *detail;
    char *doc; /* --strict: the problem listing the contract's violations (malloc'd); NULL: none */
    size_t doc_len;
    kumo__response_in r; /* the handler's response, when title and doc are NULL */
} call_answer;

/* In --dev, a response that breaks the spec is logged with its
 * violations; with --strict it is replaced by a 500 problem (a->doc, or
 * a->title when the document cannot be made). Returns 1 when the
 * response is replaced. */
static int check_response(gw_call *c, call_answer *a)
{
    gateway *gw = c->t->gw;
    const kumo__opcheck *chk = c->lg->gen->checks ? c->lg->gen->checks[c->op_index] : NULL;
    if (!gw->dev || chk == NULL)
        return 0;
    kumo__violations v = {.limit = 20};
    kumo__slice ct = {a->r.content_type, a->r.content_type_len}, b = {a->r.body, a->r.body_len};
    if (kumo__opcheck_response(chk, a->r.status, ct, b, &v) == 0) {
        kumo__violations_free(&v);
        return 0;
    }
    char list[1500];
    size_t n = 0;
    for (size_t i = 0; i < v.count && n < sizeof(list) - 1; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s: %s", i ? "; " : "", v.items[i].instance,
                              v.items[i].message);
    kumo__log_event(gw->strict ? "error" : "warn", "request %s: the response of %s breaks the spec: %s", c->request_id,
                    c->op->operation_id ? c->op->operation_id : c->op->path, list);
    if (gw->strict) {
        h2o_req_t *req = c->req;
        size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
        a->status = 500;
        a->doc = kumo__problem_json(500, "Internal Server Error", "the function's response breaks the API's contract",
                                    req->path.base, path_len, c->request_id, &v, &a->doc_len);
        if (a->doc == NULL) {
            a->title = "Internal Server Error";
            a->detail = NULL;
        }
    }
    kumo__violations_free(&v);
    return gw->strict;
}

/* The answer to a call that ended with `result`: the handler's response
 * (through the same decoding as kumo-host's, dispatch.c's
 * kumo__response_read, checked against the spec in --dev), or a problem
 * of the gateway's own. */
static void decide_answer(gw_call *c, enum kumo__call_result result, const char *payload, size_t len,
                          const char *detail, call_answer *a)
{
    memset(a, 0, sizeof(*a));
    a->detail = detail;
    switch (result) {
    case KUMO__CALL_OK: break;
    case KUMO__CALL_FAILED: a->status = 500, a->title = "Handler failed"; return;
    case KUMO__CALL_CRASHED: a->status = 502, a->title = "Worker crashed"; return;
    case KUMO__CALL_TIMEOUT: a->status = 504, a->title = "Function timed out"; return;
    case KUMO__CALL_NO_WORKER: a->status = 502, a->title = "Function unavailable"; return;
    }
    kumo__response_read(payload, len, &a->r);
    if (a->r.invalid) {
        kumo__log_event("error", "request %s: the response of %s cannot be sent: %s", c->request_id,
                        c->op->operation_id ? c->op->operation_id : c->op->path, a->r.invalid);
        a->status = 502;
        a->title = "Bad Gateway";
        a->detail = a->r.invalid;
        return;
    }
    a->status = a->r.status;
    check_response(c, a);
}

static void send_call_answer(gw_call *c, call_answer *a, const char *payload, size_t len)
{
    if (a->doc)
        send_answer(c->req, c->request_id, a->status, NULL, NULL, a->doc, a->doc_len);
    else if (a->title)
        kumo__send_problem(c->req, a->status, a->title, a->detail, c->request_id, NULL);
    else
        kumo__h2o_send_response(c->req, &a->r, payload, len, c->request_id,
                                c->lg->gen->project->http.edge.cors.enabled);
    free(a->doc);
}

static void on_call_done(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    gw_call *c = (gw_call *)call;
    loop_thread *t = c->t;
    int status = 499; /* the client went away first: nginx's convention */
    call_answer a;
    char detail[600];
    t->inflight--;
    if (c->req) {
        c->hold->call = NULL;
        /* Read before the signal, answered after it: the answer is the
         * connection's last (HTTP/2 has had its GOAWAY). */
        if (atomic_load_explicit(&t->gw->draining, memory_order_relaxed))
            c->req->http1_is_persistent = 0;
        detail[0] = '\0'; /* the payload as text is the detail of a failure only */
        if (result != KUMO__CALL_OK && payload)
            snprintf(detail, sizeof(detail), "%.*s", (int)(len < 500 ? len : 500), payload);
        decide_answer(c, result, payload, len, detail, &a);
        status = a.status;
    }
    uint64_t end = kumo__mono_us(), duration = end - c->start_us;
    kumo__pool_record(c->lg->pools[c->op->unit_index], duration, result != KUMO__CALL_OK, kumo__mono_ms());
    const generation *g = c->lg->gen;
    kumo__gw_obs o = {.target = g->mt_ops[c->op_index],
                      .function = g->project->units[c->op->unit_index].name,
                      .operation = c->op->operation_id,
                      .route = c->op->path,
                      .method = c->method,
                      .trigger = "http",
                      .request_id = c->request_id,
                      .status = status,
                      .result = result,
                      .cold = c->call.cold,
                      .start_us = c->start_us,
                      .start_epoch_us = kumo__epoch_us() - duration,
                      .dispatched_us = c->call.dispatched_us,
                      .end_us = end,
                      .timeout_s = g->project->units[c->op->unit_index].tuning.timeout_s,
                      .worker_pid = c->call.worker_pid,
                      .span = &c->span};
    kumo__gw_trace_store_calls(t->gw, &c->span, result, payload, len);
    kumo__gw_observe(t, &o);
    if (c->req)
        send_call_answer(c, &a, payload, len);
    /* The access line names the request's trace and SERVER span, so that
     * kumo logs --trace finds it beside the handler's lines. */
    int traced = !kumo__id_is_zero(c->span.trace_id, 16);
    kumo__access_log(c->request_id, c->method, c->path, strlen(c->path), c->op->operation_id, status, duration,
                     c->call.worker_pid, traced ? c->span.trace_id : NULL, traced ? c->span.span_id : NULL);
    c->lg->users--;
    call_release(t, c);
}

/* An answer the gateway gives itself: `lg` NULL when there is no
 * generation (nothing is counted then), op_index -1 when no operation is
 * known; `rejected` for admission's 429 and 503. */
static void reject(h2o_req_t *req, const char *request_id, uint64_t start, loop_gen *lg, const kumo__operation *op,
                   int op_index, int rejected, int status, const char *title, const char *detail, const char *allow)
{
    if (lg)
        kumo__gw_observe_answered(thread_of(req), lg->gen, op_index, status, start, rejected);
    if (allow)
        kumo__h2o_add_header(req, H2O_STRLIT("allow"), allow, strlen(allow));
    kumo__send_problem(req, status, title, detail, request_id, status == 503 ? "1" : NULL);
    char method[16];
    method_of(req, method);
    kumo__access_log(request_id, method, req->path.base, req->query_at != SIZE_MAX ? req->query_at : req->path.len,
                     op ? op->operation_id : NULL, status, kumo__mono_us() - start, 0, NULL, NULL);
}

static void route(loop_thread *t, req_hold *hold, h2o_req_t *req, kumo__http_in *inp, const char *request_id,
                  uint64_t start, const kumo__gw_auth_parked *done);

int kumo__gw_on_api_req(h2o_handler_t *self, h2o_req_t *req)
{
    gateway *gw = ((api_handler *)self)->gw;
    loop_thread *t = thread_of(req);
    uint64_t start = kumo__mono_us();
    char request_id[48];

    make_request_id(t, req, request_id, sizeof(request_id));
    if (atomic_load_explicit(&gw->draining, memory_order_relaxed))
        req->http1_is_persistent = 0;
    loop_gen *lg = t->live;
    if (lg == NULL) {
        reject(req, request_id, start, NULL, NULL, -1, 0, 503, "Service Unavailable",
               "this event loop could not start the functions' pools; see kumo's log", NULL);
        return 0;
    }
    /* The request keeps its generation (spec, router, pools) until it is
     * disposed, even if a reload publishes a newer one meanwhile. */
    req_hold *hold = h2o_mem_alloc_shared(&req->pool, sizeof(*hold), on_req_dispose);
    hold->lg = lg;
    hold->call = NULL;
    hold->parked = NULL;
    hold->body_cost = 0;
    hold->gw = gw;
    lg->users++;
    generation *g = lg->gen;
    /* A body over every function's max_body is refused (413) by dispatch
     * before it is copied, so it takes no budget. */
    if (req->entity.len <= kumo__gw_largest_body(g->project) &&
        take_body_budget(gw, hold, req->entity.len, g->project->http.body_budget) != 0) {
        char why[160];
        snprintf(why, sizeof(why),
                 "the gateway holds as many request bodies as http.body_budget allows (%zu bytes); retry shortly",
                 g->project->http.body_budget);
        reject(req, request_id, start, lg, NULL, -1, 1, 503, "Service Unavailable", why, NULL);
        return 0;
    }
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *path = req->path.base;
    char method[16];
    method_of(req, method);

    /* Before anything copies the header fields (to the worker's frame, or
     * to a live-contract answer): too many or too large is refused. */
    int refused = kumo__h2o_refuse_head(req, &g->project->http, request_id);
    if (!refused)
        refused = kumo__h2o_refuse_framing(req, request_id);
    if (refused) {
        kumo__gw_observe_answered(t, g, -1, refused, start, 0);
        kumo__access_log(request_id, method, path, path_len, NULL, refused, kumo__mono_us() - start, 0, NULL, NULL);
        return 0;
    }
    kumo__http_in in;
    kumo__h2o_http_in(req, &in);
    /* CORS (cors.c): a browser's preflight is answered here, before any
     * route or function; other responses carry the headers it decides. */
    kumo__cors_answer cors;
    int preflight = kumo__cors_decide(&g->project->http.edge.cors, &in, &cors);
    for (size_t i = 0; i < cors.nheaders; i++)
        kumo__h2o_copy_header(req, cors.headers[i].name, strlen(cors.headers[i].name), cors.headers[i].value,
                              cors.headers[i].value_len);
    if (preflight) {
        if (cors.status == 204)
            send_answer(req, request_id, 204, NULL, NULL, NULL, 0);
        else
            kumo__send_problem(req, cors.status, "Forbidden", cors.detail, request_id, NULL);
        kumo__gw_observe_answered(t, g, -1, cors.status, start, 0);
        kumo__access_log(request_id, method, path, path_len, NULL, cors.status, kumo__mono_us() - start, 0, NULL, NULL);
        return 0;
    }
    if (kumo__ce_is_path(in.path.base, in.path.len)) {
        kumo__gw_cloudevents(t, lg, req, &in, request_id, start); /* CloudEvents in (cloudevents_in.c) */
        return 0;
    }
    route(t, hold, req, &in, request_id, start, 0);
    return 0;
}

/* How many times one request may be parked for a password (one per
 * Basic scheme it presents, in practice one); then the check runs inline. */
#define PARK_ROUNDS_MAX 4

static void park(loop_thread *t, loop_gen *lg, req_hold *hold, h2o_req_t *req, kumo__dispatch *d,
                 const char *request_id, uint64_t start, int rounds);

/* Routes, checks and answers or hands to a worker a request whose head
 * passed the gateway's own checks; `done` is a password check run while
 * the request was parked, or NULL. */
/* /docs and the documents; under kumo dev's failed build, the page
 * carries its message (gw->build_error) until a build succeeds. */
static int serve_docs(gateway *gw, generation *g, h2o_req_t *req)
{
    char banner[sizeof(gw->build_error)];
    banner[0] = '\0';
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/docs")) ||
        h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/docs/"))) {
        pthread_mutex_lock(&gw->lock);
        memcpy(banner, gw->build_error, sizeof(banner));
        pthread_mutex_unlock(&gw->lock);
    }
    return kumo__docs_serve_banner(g->docs, req, banner[0] ? banner : NULL);
}

static void route(loop_thread *t, req_hold *hold, h2o_req_t *req, kumo__http_in *inp, const char *request_id,
                  uint64_t start, const kumo__gw_auth_parked *done)
{
    gateway *gw = t->gw;
    loop_gen *lg = hold->lg;
    generation *g = lg->gen;
    kumo__http_in in = *inp;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *path = req->path.base;
    char method[16];
    method_of(req, method);
    int rounds = done ? ((const api_parked *)done)->rounds : 0;
    in.slow_done = done ? done->job : NULL;
    in.defer_slow = rounds < PARK_ROUNDS_MAX;
    /* The call record, taken from the loop's kept ones before dispatch
     * writes the request frame into its buffer; an answer the gateway
     * gives (kumo mock's, every 4xx) gives it back at once. */
    gw_call *c = call_new(t);
    if (c == NULL) {
        reject(req, request_id, start, lg, NULL, -1, 0, 503, "Service Unavailable", "out of memory", NULL);
        return;
    }
    /* The trace: the caller's continued, or a new one; the worker's frame
     * names the invocation's span as its parent (tracing.c). */
    if (gw->tracer) { /* none with observability: {enabled: false}: the headers go as they came */
        ssize_t tp = h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), -1);
        ssize_t ts = h2o_find_header_by_str(&req->headers, H2O_STRLIT("tracestate"), -1);
        kumo__span_ctx_begin(&c->span, gw->tracer, tp >= 0 ? req->headers.entries[tp].value.base : NULL,
                             tp >= 0 ? req->headers.entries[tp].value.len : 0,
                             ts >= 0 ? req->headers.entries[ts].value.base : NULL,
                             ts >= 0 ? req->headers.entries[ts].value.len : 0);
        in.traceparent = c->span.traceparent;
        in.tracestate = c->span.tracestate;
    }
    kumo__dispatch d;
    int kind = kumo__dispatch_request(&g->api, &in, request_id, kumo__epoch_ms(), &c->call.frame, &d);
    if (kind == KUMO__DISPATCH_PARK) {
        call_release(t, c); /* nothing was written to its frame */
        park(t, lg, hold, req, &d, request_id, start, rounds);
        return;
    }
    const char *rl_names[4], *rl_values[4]; /* http.rate_limits: on whatever answers */
    for (size_t i = 0, n = kumo__ratelimit_headers(&d.limit, rl_names, rl_values); i < n; i++)
        kumo__h2o_copy_header(req, rl_names[i], strlen(rl_names[i]), rl_values[i], strlen(rl_values[i]));
    if (kind == KUMO__DISPATCH_ANSWER) {
        call_release(t, c);
        if ((d.no_route && g->docs && serve_docs(t->gw, g, req)) ||
            (d.no_route && kumo__mock_modes_admin(g->modes, req, request_id))) {
            kumo__dispatch_free(&d);
            return; /* the live contract: /openapi.json, /openapi.yaml, /docs; kumo mock's /__kumo/ */
        }
        int status = d.status;
        if (!kumo__mock_modes_send(g->modes, req, &d, request_id, &status)) { /* else kumo mock's faults send it */
            if (d.content_type) /* a mock's answer: its own media type and headers */
                kumo__h2o_copy_header(req, H2O_STRLIT("content-type"), d.content_type, strlen(d.content_type));
            for (size_t i = 0; i < d.nheaders; i++)
                kumo__h2o_copy_header(req, d.headers[i].name, strlen(d.headers[i].name), d.headers[i].value,
                                      strlen(d.headers[i].value));
            send_answer(req, request_id, d.status, d.allow, d.retry_after, d.body, d.body_len);
        }
        kumo__gw_observe_answered(t, g, d.op ? (int)d.op_index : -1, status, start, 0);
        kumo__access_log(request_id, method, path, path_len, d.op ? d.op->operation_id : NULL, status,
                         kumo__mono_us() - start, 0, NULL, NULL);
        kumo__dispatch_free(&d);
        return;
    }
    const kumo__operation *op = d.op;
    c->t = t;
    c->lg = lg;
    c->hold = hold;
    c->op = op;
    c->op_index = d.op_index;
    c->start_us = start;
    c->req = req;
    copy_str(c->request_id, sizeof(c->request_id), request_id, strlen(request_id));
    copy_str(c->method, sizeof(c->method), method, strlen(method));
    copy_str(c->path, sizeof(c->path), path, path_len);
    c->span.url_path = c->path;
    c->span.base_path = g->spec->base_path;
    c->span.symbol = op->symbol;
    c->call.cb = on_call_done;
    c->call.deadline_ms = d.timeout_ms ? kumo__mono_ms() + d.timeout_ms : 0;
    size_t c_op_index = d.op_index;
    kumo__dispatch_free(&d);

    char why[400];
    int rc = kumo__pool_submit(lg->pools[op->unit_index], &c->call, why, sizeof(why));
    if (rc != 0) {
        call_release(t, c);
        int at = (int)c_op_index;
        if (rc == -EBUSY)
            reject(req, request_id, start, lg, op, at, 1, 429, "Too Many Requests", why, NULL);
        else
            reject(req, request_id, start, lg, op, at, 1, 503, "Service Unavailable", why, NULL);
        return;
    }
    t->inflight++;
    lg->users++;
    hold->call = c;
}

/* A parked request's password was checked: back on its loop, dispatch it
 * again with the verdict (the generation it started with, the headers it
 * already has: CORS's stay). Its client may have gone meanwhile. */
static void on_checked(kumo__gw_posted *post, int live)
{
    api_parked *ap = (api_parked *)post;
    if (live) {
        ap->lg->users--;
        if (ap->req) {
            h2o_req_t *req = ap->req;
            req_hold *hold = ap->hold;
            hold->parked = NULL;
            kumo__http_in in;
            kumo__h2o_http_in(req, &in);
            route(ap->t, hold, req, &in, ap->request_id, ap->start, &ap->base);
        }
    }
    kumo__slow_job_free(ap->base.job);
    free(ap);
}

/* Dispatch handed out slow work (a password hash, a record-mode call):
 * the request waits for the slow-work threads (slow_work.c), not the
 * loop. */
static void park(loop_thread *t, loop_gen *lg, req_hold *hold, h2o_req_t *req, kumo__dispatch *d,
                 const char *request_id, uint64_t start, int rounds)
{
    api_parked *ap = calloc(1, sizeof(*ap));
    int rc = ap && t->outlet ? 0 : -ENOMEM;
    if (rc == 0) {
        ap->base.post.deliver = on_checked;
        ap->base.job = d->park;
        ap->base.outlet = t->outlet;
        ap->req = req;
        ap->hold = hold;
        ap->t = t;
        ap->lg = lg;
        ap->start = start;
        ap->rounds = rounds + 1;
        snprintf(ap->request_id, sizeof(ap->request_id), "%s", request_id);
        d->park = NULL;
        hold->parked = ap;
        lg->users++;
        if ((rc = kumo__gw_slow_work_submit(t->gw, &ap->base)) != 0) {
            lg->users--;
            hold->parked = NULL;
            d->park = ap->base.job;
        }
    }
    if (rc != 0) {
        free(ap);
        const kumo__operation *op = d->op;
        int at = (int)d->op_index;
        kumo__dispatch_free(d);
        reject(req, request_id, start, lg, op, at, 1, 503, "Service Unavailable",
               rc == -EBUSY ? "too many password checks are waiting (HTTP Basic, 256 at most); retry shortly"
                            : "the gateway cannot check passwords now (out of memory or threads)",
               NULL);
        return;
    }
    kumo__dispatch_free(d);
}
