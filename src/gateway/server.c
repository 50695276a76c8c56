/*
 * server.c: the HTTP front of `kumo up`.
 *
 * Start-up (control plane, on the main thread): build the first
 * generation (below), open the listeners, start one event loop per thread,
 * then wait for a signal. Errors are returned up to the CLI.
 *
 * A generation is everything derived from the project's files: kumo.yaml,
 * the OpenAPI document, the router, the docs, the compiled contract checks
 * and a private hard link to each unit's shared object. It is read-only
 * once published and refcounted: gw->current holds one reference, and so
 * does each loop that still has pools for it. A reload (SIGHUP, or POST
 * /reload on the admin port, which signals the main thread) builds a new
 * generation on the main thread; on any error the old one stays live. The
 * loops notice the new one after their next wait (at most 20 ms), make
 * their own pools for it (pools live and die on their loop's thread), send
 * new requests there, and retire the old pools once nothing is pending on
 * them. Listeners are never touched, so no connection is refused.
 *
 * A request (data plane, on its loop): take the loop's live generation and
 * hold it until the request is disposed; route, check, encode one request
 * frame, hand it to the unit's pool; when the worker answers, write the
 * response and one JSON log line. Everything a request allocates lives in
 * h2o's request pool, except the in-flight call record, which must outlive
 * a client that disconnects (its request pool is gone then): the call is
 * freed when the worker answers, and holds its generation until then.
 */
#include "gateway/gateway.h"

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/access_log.h"
#include "gateway/dispatch.h"
#include "gateway/docs.h"
#include "gateway/problem.h"
#include "openapi/check.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"
#include "sdk/sdk.h"
#include "base/percent.h"


typedef struct gateway gateway;

/* Everything derived from the project's files. Built on the main thread,
 * read-only once published, freed by whoever drops the last reference. */
typedef struct generation {
    atomic_int refs;
    unsigned long number;      /* 1 at start, +1 per successful reload */
    kumo__project *project;
    kumo__spec *spec;
    kumo__router *router;
    kumo__docs *docs;
    kumo__opcheck **checks;    /* one per operation: the contract enforced */
    kumo__api api;             /* the above, as kumo__dispatch_request reads them */
    char **so_links;           /* per unit: this generation's hard link to the .so, or NULL (use so_path) */
    char data_dir[4096];
    gateway *gw;
} generation;

/* One loop's pools for one generation, and what still uses them: requests
 * not yet disposed and calls not yet answered. Only its loop touches it,
 * except /status, which reads the pools under gw->lock. */
typedef struct loop_gen {
    generation *gen;           /* one reference */
    kumo__spawner *spawner;    /* this loop's fork server for gen's units; NULL: pools posix_spawn */
    kumo__pool **pools;        /* one per unit of gen->project */
    size_t users;
    uint64_t retiring_since;   /* 0, or when its workers were told to stop (tick_pools) */
    struct loop_gen *next;     /* the loop's retired list */
} loop_gen;

/* A retired generation's workers get this long to exit after EOF, and
 * its fork server as long again, before they are killed. */
#define RETIRE_GRACE_MS 1000
#define EXITING_MAX 16

/* A POST /reload waiting (on loop 0) for the main thread's answer. */
typedef struct reload_wait {
    h2o_req_t *req;            /* NULL once the client went away */
    struct reload_wait **slot; /* in the request pool; cleared on dispose */
    unsigned long ticket;
    struct reload_wait *next;
} reload_wait;

typedef struct loop_thread {
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    h2o_context_t admin_ctx;
    h2o_accept_ctx_t admin_accept;
    h2o_socket_t *admin_listener;
    loop_gen *live;            /* new requests go here; lists change under gw->lock */
    loop_gen *retired;         /* older generations still draining */
    uint64_t switch_failed_ms; /* when making pools for a new generation last failed */
    reload_wait *reload_waits; /* loop 0 only */
    loop_gen *spent;           /* stopped at exit; freed by gateway_free */
    size_t inflight;           /* calls in flight, every generation */
    int cpu;                   /* --cpu-affinity: the CPU this loop, its fork servers and workers run on; -1: any */
    pid_t exiting[EXITING_MAX];      /* stopped fork servers not yet reaped */
    uint64_t exiting_since[EXITING_MAX];
    int nexiting;
    uint32_t seq;
    pthread_t tid;
    int index;
    gateway *gw;
} loop_thread;

struct gateway {
    kumo__gateway_config cfg;
    int dev, strict;           /* --dev: check responses too; --strict: refuse bad ones */
    h2o_globalconf_t conf, admin_conf;
    int *listen_fds, nlisten;  /* one per loop, sharing the port */
    int admin_fd;
    int port, admin_port;
    loop_thread *threads;
    int nthreads;
    atomic_int draining;
    pthread_mutex_t stop_lock;  /* loops drained so far; pools go once all have */
    pthread_cond_t stop_cond;
    int nstopped, nstarted;
    int barrier_ready;
    char id_prefix[9];

    /* Generations. `lock` guards current, every loop's live and retired
     * lists (so /status can read other loops' pools), the reload outcome
     * and the parking of loops. */
    pthread_mutex_t lock;
    pthread_cond_t park_cond;
    int lock_ready;
    generation *current;
    atomic_ulong current_number; /* current->number, for the loops' check after each wait */
    atomic_int generations;      /* alive, current included */
    pthread_t main_tid;
    unsigned long reload_asked, reload_done; /* tickets of POST /reload */
    int reload_failed;           /* the last reload's outcome */
    char reload_msg[2048];
    unsigned long reloads;       /* attempts so far */
    atomic_int park;             /* loops wait in park_here while set */
    int nparked;
};

typedef struct api_handler {
    h2o_handler_t super;
    gateway *gw;
} api_handler;

typedef struct gw_call gw_call;

/* In the request pool: the generation the request uses, released when the
 * request is disposed, and its call while one is in flight. */
typedef struct req_hold {
    loop_gen *lg;
    gw_call *call;
} req_hold;

struct gw_call {
    kumo__call call;           /* first: the pool hands this pointer back */
    h2o_req_t *req;            /* NULL once the client went away */
    req_hold *hold;            /* in the request pool; valid while req is */
    loop_thread *t;
    loop_gen *lg;              /* counted in lg->users until the worker answers */
    const kumo__operation *op;
    size_t op_index;
    uint64_t start_us;
    char request_id[48];
    char method[16];
    char path[256];
};

static loop_thread *thread_of(h2o_req_t *req)
{
    return (loop_thread *)((char *)req->conn->ctx - offsetof(loop_thread, ctx));
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
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '_' || c == '.';
        }
        if (ok) {
            memcpy(out, v.base, v.len);
            out[v.len] = '\0';
            return;
        }
    }
    snprintf(out, cap, "%s-%d-%08x", t->gw->id_prefix, t->index, ++t->seq);
}

static void add_header(h2o_req_t *req, const char *name, size_t nlen, const char *value, size_t vlen)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, nlen, 1, NULL, value, vlen);
}

/* Sends an answer kumo__dispatch_request (or the gateway itself) chose. */
static void send_answer(h2o_req_t *req, const char *request_id, int status, const char *allow, const char *retry_after,
                        const char *body, size_t body_len)
{
    req->res.status = status;
    req->res.reason = kumo__http_reason(status);
    if (allow && *allow)
        add_header(req, H2O_STRLIT("allow"), h2o_strdup(&req->pool, allow, SIZE_MAX).base, strlen(allow));
    if (body)
        add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("application/problem+json"));
    if (retry_after)
        add_header(req, H2O_STRLIT("retry-after"), retry_after, strlen(retry_after));
    add_header(req, H2O_STRLIT("x-request-id"), h2o_strdup(&req->pool, request_id, SIZE_MAX).base,
               strlen(request_id));
    kumo__send_body(req, body ? body : "", body ? body_len : 0);
}

static void on_req_dispose(void *p)
{
    req_hold *h = p;
    if (h->call)
        h->call->req = NULL;
    h->lg->users--;
}

/* In --dev, a response that breaks the spec is logged with its
 * violations; with --strict it is replaced by a 500 problem. Returns 1
 * when the response was replaced. */
static int check_response(gw_call *c, int status, const char *ctype, size_t ctype_len, const char *body,
                          size_t body_len)
{
    gateway *gw = c->t->gw;
    const kumo__opcheck *chk = c->lg->gen->checks ? c->lg->gen->checks[c->op_index] : NULL;
    if (!gw->dev || chk == NULL)
        return 0;
    kumo__violations v = {.limit = 20};
    kumo__slice ct = {ctype, ctype_len}, b = {body, body_len};
    if (kumo__opcheck_response(chk, status, ct, b, &v) == 0) {
        kumo__violations_free(&v);
        return 0;
    }
    char list[1500];
    size_t n = 0;
    for (size_t i = 0; i < v.count && n < sizeof(list) - 1; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s: %s", i ? "; " : "", v.items[i].instance,
                              v.items[i].message);
    kumo__log_event(gw->strict ? "error" : "warn", "request %s: the response of %s breaks the spec: %s",
                    c->request_id, c->op->operation_id ? c->op->operation_id : c->op->path, list);
    if (gw->strict) {
        h2o_req_t *req = c->req;
        size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len, blen = 0;
        char *doc = kumo__problem_json(500, "Internal Server Error", "the function's response breaks the API's contract",
                                       req->path.base, path_len, c->request_id, &v, &blen);
        if (doc)
            send_answer(req, c->request_id, 500, NULL, NULL, doc, blen);
        else
            kumo__send_problem(req, 500, "Internal Server Error", NULL, c->request_id, NULL);
        free(doc);
    }
    kumo__violations_free(&v);
    return gw->strict;
}

static void respond_from_frame(gw_call *c, const char *payload, size_t len)
{
    h2o_req_t *req = c->req;
    kumo__frame_reader r;
    kumo__frame_field f;
    uint32_t status = 200;
    const char *body = "", *ctype = NULL;
    size_t body_len = 0, ctype_len = 0;

    kumo__frame_reader_init(&r, payload, len);
    while (kumo__frame_next(&r, &f) > 0) {
        if (f.tag == KF_STATUS) {
            if (kumo__frame_u32(&f, &status) != 0 || status < 100 || status > 999)
                status = 500;
        } else if (f.tag == KF_HEADER) {
            const char *name, *value;
            size_t nl, vl;
            if (kumo__frame_pair(&f, &name, &nl, &value, &vl) == 0 && nl == 12 &&
                strncasecmp(name, "content-type", 12) == 0) {
                ctype = value;
                ctype_len = vl;
            }
        } else if (f.tag == KF_BODY) {
            body = f.data;
            body_len = f.len;
        }
    }
    if (check_response(c, (int)status, ctype, ctype_len, body, body_len))
        return;
    kumo__frame_reader_init(&r, payload, len);
    while (kumo__frame_next(&r, &f) > 0) {
        const char *name, *value;
        size_t nl, vl;
        if (f.tag != KF_HEADER || kumo__frame_pair(&f, &name, &nl, &value, &vl) != 0 || nl == 0 ||
            kumo__is_hop_header(name, nl))
            continue;
        char *lname = h2o_mem_alloc_pool(&req->pool, nl);
        for (size_t i = 0; i < nl; i++)
            lname[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        h2o_iovec_t v = h2o_strdup(&req->pool, value, vl);
        add_header(req, lname, nl, v.base, v.len);
    }
    req->res.status = (int)status;
    req->res.reason = kumo__http_reason((int)status);
    add_header(req, H2O_STRLIT("x-request-id"), c->request_id, strlen(c->request_id));
    if (status == 204 || status == 304 || status < 200)
        body_len = 0;
    kumo__send_body(req, body, body_len);
}

static void on_call_done(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len)
{
    gw_call *c = (gw_call *)call;
    loop_thread *t = c->t;
    int status;
    t->inflight--;
    if (c->req == NULL) {
        status = 499; /* the client went away first: nginx's convention */
    } else {
        h2o_req_t *req = c->req;
        c->hold->call = NULL;
        char detail[600];
        snprintf(detail, sizeof(detail), "%.*s", (int)(len < 500 ? len : 500), payload ? payload : "");
        switch (result) {
        case KUMO_CALL_OK:
            respond_from_frame(c, payload, len);
            break;
        case KUMO_CALL_FAILED:
            kumo__send_problem(req, 500, "Handler failed", detail, c->request_id, NULL);
            break;
        case KUMO_CALL_CRASHED:
            kumo__send_problem(req, 502, "Worker crashed", detail, c->request_id, NULL);
            break;
        case KUMO_CALL_TIMEOUT:
            kumo__send_problem(req, 504, "Function timed out", detail, c->request_id, NULL);
            break;
        case KUMO_CALL_NO_WORKER:
            kumo__send_problem(req, 502, "Function unavailable", detail, c->request_id, NULL);
            break;
        }
        status = req->res.status;
    }
    uint64_t duration = kumo__mono_us() - c->start_us;
    kumo__pool_record(c->lg->pools[c->op->unit_index], duration, result != KUMO_CALL_OK, kumo__mono_ms());
    kumo__access_log(c->request_id, c->method, c->path, strlen(c->path), c->op->operation_id, status, duration,
                c->call.worker_pid);
    c->lg->users--;
    kumo__frame_writer_free(&c->call.frame);
    free(c);
}

static void reject(h2o_req_t *req, const char *request_id, uint64_t start, const kumo__operation *op, int status,
                   const char *title, const char *detail, const char *allow)
{
    if (allow)
        add_header(req, H2O_STRLIT("allow"), allow, strlen(allow));
    kumo__send_problem(req, status, title, detail, request_id, status == 503 ? "1" : NULL);
    char method[16];
    snprintf(method, sizeof(method), "%.*s", (int)(req->method.len < 15 ? req->method.len : 15), req->method.base);
    kumo__access_log(request_id, method, req->path.base,
                req->query_at != SIZE_MAX ? req->query_at : req->path.len, op ? op->operation_id : NULL, status,
                kumo__mono_us() - start, 0);
}

static int on_api_req(h2o_handler_t *self, h2o_req_t *req)
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
        reject(req, request_id, start, NULL, 503, "Service Unavailable",
               "this event loop could not start the functions' pools; see kumo's log", NULL);
        return 0;
    }
    /* The request keeps its generation (spec, router, pools) until it is
     * disposed, even if a reload publishes a newer one meanwhile. */
    req_hold *hold = h2o_mem_alloc_shared(&req->pool, sizeof(*hold), on_req_dispose);
    hold->lg = lg;
    hold->call = NULL;
    lg->users++;
    generation *g = lg->gen;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *path = req->path.base;
    char method[16];
    snprintf(method, sizeof(method), "%.*s", (int)(req->method.len < 15 ? req->method.len : 15), req->method.base);

    kumo__header_view *hv = h2o_mem_alloc_pool(&req->pool, (req->headers.size + 1) * sizeof(*hv));
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        const char *name = h->name->base;
        for (size_t k = 0; k < h->name->len; k++) {
            if (name[k] >= 'A' && name[k] <= 'Z') { /* HTTP/1 names arrive lower case from h2o; be sure */
                char *lower = h2o_mem_alloc_pool(&req->pool, h->name->len);
                for (size_t q = 0; q < h->name->len; q++)
                    lower[q] = (char)(name[q] >= 'A' && name[q] <= 'Z' ? name[q] + 32 : name[q]);
                name = lower;
                break;
            }
        }
        hv[i].name = (kumo__slice){name, h->name->len};
        hv[i].value = (kumo__slice){h->value.base, h->value.len};
    }
    kumo__http_in in = {
        .method = {req->method.base, req->method.len},
        .path = {path, path_len},
        .query = {req->query_at != SIZE_MAX ? path + path_len + 1 : NULL,
                  req->query_at != SIZE_MAX ? req->path.len - path_len - 1 : 0},
        .headers = hv,
        .nheaders = req->headers.size,
        .body = {req->entity.base, req->entity.len},
    };
    gw_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        reject(req, request_id, start, NULL, 503, "Service Unavailable", "out of memory", NULL);
        return 0;
    }
    kumo__dispatch d;
    int kind = kumo__dispatch_request(&g->api, &in, request_id, kumo__epoch_ms(), &c->call.frame, &d);
    if (kind == KUMO_DISPATCH_ANSWER) {
        free(c);
        if (d.no_route && g->docs && kumo__docs_serve(g->docs, req)) {
            kumo__dispatch_free(&d);
            return 0; /* the live contract: /openapi.json, /openapi.yaml, /docs */
        }
        send_answer(req, request_id, d.status, d.allow, d.retry_after, d.body, d.body_len);
        kumo__access_log(request_id, method, path, path_len, d.op ? d.op->operation_id : NULL, d.status,
                    kumo__mono_us() - start, 0);
        kumo__dispatch_free(&d);
        return 0;
    }
    const kumo__operation *op = d.op;
    c->t = t;
    c->lg = lg;
    c->hold = hold;
    c->op = op;
    c->op_index = d.op_index;
    c->start_us = start;
    c->req = req;
    snprintf(c->request_id, sizeof(c->request_id), "%s", request_id);
    snprintf(c->method, sizeof(c->method), "%s", method);
    snprintf(c->path, sizeof(c->path), "%.*s", (int)path_len, path);
    c->call.cb = on_call_done;
    c->call.deadline_ms = d.timeout_ms ? kumo__mono_ms() + d.timeout_ms : 0;
    kumo__dispatch_free(&d);

    char why[400];
    int rc = kumo__pool_submit(lg->pools[op->unit_index], &c->call, why, sizeof(why));
    if (rc != 0) {
        kumo__frame_writer_free(&c->call.frame);
        free(c);
        if (rc == -EBUSY)
            reject(req, request_id, start, op, 429, "Too Many Requests", why, NULL);
        else
            reject(req, request_id, start, op, 503, "Service Unavailable", why, NULL);
        return 0;
    }
    t->inflight++;
    lg->users++;
    hold->call = c;
    return 0;
}

/* The upper bound, in milliseconds, of the histogram bucket holding the
 * q-quantile of `h` (bucket k: [2^(k/4), 2^((k+1)/4)) microseconds). */
static double quantile_ms(const unsigned long long *h, unsigned long long total, double q)
{
    if (total == 0)
        return 0;
    unsigned long long rank = (unsigned long long)(q * (double)total), seen = 0;
    for (int k = 0; k < KUMO_HIST_BUCKETS; k++) {
        seen += h[k];
        if (seen > rank)
            return exp2((k + 1) / 4.0) / 1000.0;
    }
    return exp2(KUMO_HIST_BUCKETS / 4.0) / 1000.0;
}

/* Adds the figures of every pool, on every loop and in every generation
 * still alive, of the unit named `name`: a unit keeps its name across a
 * reload, so its figures span the old pools still draining and the new
 * ones. Call with gw->lock held (the loops' lists change under it). */
static void unit_stats(gateway *gw, const char *name, kumo__pool_stats *st, uint64_t now)
{
    for (int i = 0; i < gw->nthreads; i++) {
        loop_thread *t = &gw->threads[i];
        for (loop_gen *lg = t->live; lg; lg = lg == t->live ? t->retired : lg->next) {
            const kumo__project *p = lg->gen->project;
            for (size_t u = 0; u < p->nunits; u++)
                if (strcmp(p->units[u].name, name) == 0)
                    kumo__pool_stats_add(lg->pools[u], st, now);
        }
    }
}

/* GET /status: per function of the live generation, figures summed over
 * every loop's pools; and the generation and the last reload's outcome. */
static char *status_json(gateway *gw)
{
    json_t *fns = json_array();
    uint64_t now = kumo__mono_ms();
    pthread_mutex_lock(&gw->lock);
    const generation *g = gw->current;
    for (size_t u = 0; u < g->project->nunits; u++) {
        const kumo__unit *unit = &g->project->units[u];
        kumo__pool_stats st;
        memset(&st, 0, sizeof(st));
        unit_stats(gw, unit->name, &st, now);
        unsigned long long recent = 0;
        for (int k = 0; k < KUMO_HIST_BUCKETS; k++)
            recent += st.hist[k];
        json_t *f = json_pack("{s:s, s:{s:i, s:i, s:i, s:i}, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, "
                              "s:{s:I, s:f, s:f}, s:{s:i, s:i, s:i, s:f, s:f}}",
                              "name", unit->name, "replicas", "total", st.workers, "busy", st.busy, "idle",
                              st.workers - st.busy - st.starting, "starting", st.starting, "queued", st.queued,
                              "in_flight", st.inflight, "invocations", (json_int_t)st.invocations, "errors",
                              (json_int_t)st.errors, "cold_starts", (json_int_t)st.cold_starts, "timeouts",
                              (json_int_t)st.timeouts, "crashes", (json_int_t)st.crashes, "rejected",
                              (json_int_t)st.rejected, "last_minute", "invocations", (json_int_t)recent, "p50_ms",
                              quantile_ms(st.hist, recent, 0.50), "p99_ms", quantile_ms(st.hist, recent, 0.99),
                              "limits", "min", unit->tuning.min, "max", unit->tuning.max, "concurrency",
                              unit->tuning.concurrency, "idle_s", unit->tuning.idle_s, "timeout_s",
                              unit->tuning.timeout_s);
        json_array_append_new(fns, f);
    }
    const char *last = gw->reloads == 0 ? "none" : gw->reload_failed ? "failed" : "ok";
    json_t *doc = json_pack("{s:s, s:i, s:I, s:{s:I, s:s, s:s?, s:i}, s:o}", "project", g->project->name, "loops",
                            gw->nthreads, "generation", (json_int_t)g->number, "reload", "count",
                            (json_int_t)gw->reloads, "last", last, "error",
                            gw->reloads && gw->reload_failed ? gw->reload_msg : NULL, "draining",
                            atomic_load(&gw->generations) - 1, "functions", fns);
    pthread_mutex_unlock(&gw->lock);
    char *out = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    return out;
}

static void on_reload_wait_dispose(void *p)
{
    reload_wait **slot = p;
    if (*slot)
        (*slot)->req = NULL;
}

/* POST /reload: the main thread builds the new generation (a compiler may
 * run, so never on a loop); the request waits in loop 0's list and is
 * answered on a tick after the main thread records the outcome. */
static void ask_reload(gateway *gw, h2o_req_t *req)
{
    loop_thread *t = &gw->threads[0]; /* the admin listener's loop */
    if (atomic_load(&gw->draining)) {
        kumo__send_problem(req, 503, "Service Unavailable", "kumo is shutting down; no reload", "reload", NULL);
        return;
    }
    reload_wait *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        kumo__send_problem(req, 503, "Service Unavailable", "out of memory", "reload", "1");
        return;
    }
    pthread_mutex_lock(&gw->lock);
    w->ticket = ++gw->reload_asked;
    pthread_mutex_unlock(&gw->lock);
    w->req = req;
    w->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*w->slot), on_reload_wait_dispose);
    *w->slot = w;
    w->next = t->reload_waits;
    t->reload_waits = w;
    pthread_kill(gw->main_tid, SIGHUP);
}

/* Answers the POST /reload requests whose reload has run (all of them
 * when `closing`: 503 for those that did not run). On loop 0. */
static void answer_reload_waits(loop_thread *t, int closing)
{
    gateway *gw = t->gw;
    if (t->reload_waits == NULL)
        return;
    char msg[sizeof(gw->reload_msg)];
    pthread_mutex_lock(&gw->lock);
    unsigned long done = gw->reload_done, number = gw->current->number;
    int failed = gw->reload_failed;
    memcpy(msg, gw->reload_msg, sizeof(msg));
    pthread_mutex_unlock(&gw->lock);
    reload_wait **pp = &t->reload_waits;
    while (*pp) {
        reload_wait *w = *pp;
        if (w->req != NULL && !closing && w->ticket > done) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        h2o_req_t *req = w->req;
        if (req != NULL) {
            *w->slot = NULL;
            char rid[32];
            snprintf(rid, sizeof(rid), "reload-%lu", w->ticket);
            const char *id = h2o_strdup(&req->pool, rid, SIZE_MAX).base;
            if (w->ticket > done) {
                kumo__send_problem(req, 503, "Service Unavailable", "kumo is shutting down; the reload did not run",
                                   id, NULL);
            } else if (failed) {
                kumo__send_problem(req, 422, "Reload failed", msg, id, NULL);
            } else {
                json_t *doc = json_pack("{s:s, s:I, s:s}", "status", "reloaded", "generation", (json_int_t)number,
                                        "detail", msg);
                char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
                json_decref(doc);
                if (body == NULL) {
                    kumo__send_problem(req, 500, "Internal Server Error", "out of memory", id, NULL);
                } else {
                    req->res.status = 200;
                    req->res.reason = "OK";
                    add_header(req, H2O_STRLIT("content-type"), H2O_STRLIT("application/json"));
                    add_header(req, H2O_STRLIT("x-request-id"), id, strlen(id));
                    kumo__send_body(req, body, strlen(body));
                    free(body);
                }
            }
        }
        free(w);
    }
}

static int on_admin_req(h2o_handler_t *self, h2o_req_t *req)
{
    gateway *gw = ((api_handler *)self)->gw;
    static const char ctype[] = "application/json";
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/healthz"))) {
        req->res.status = 200;
        req->res.reason = "OK";
        add_header(req, H2O_STRLIT("content-type"), ctype, sizeof(ctype) - 1);
        kumo__send_body(req, H2O_STRLIT("{\"status\":\"ok\"}\n"));
        return 0;
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/readyz"))) {
        int draining = atomic_load(&gw->draining);
        req->res.status = draining ? 503 : 200;
        req->res.reason = draining ? "Service Unavailable" : "OK";
        add_header(req, H2O_STRLIT("content-type"), ctype, sizeof(ctype) - 1);
        if (draining)
            kumo__send_body(req, H2O_STRLIT("{\"status\":\"draining\"}\n"));
        else
            kumo__send_body(req, H2O_STRLIT("{\"status\":\"ready\"}\n"));
        return 0;
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/status"))) {
        char *body = status_json(gw);
        if (body == NULL) {
            kumo__send_problem(req, 500, "Internal Server Error", "out of memory", NULL, NULL);
            return 0;
        }
        req->res.status = 200;
        req->res.reason = "OK";
        add_header(req, H2O_STRLIT("content-type"), ctype, sizeof(ctype) - 1);
        kumo__send_body(req, body, strlen(body));
        free(body);
        return 0;
    }
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/reload"))) {
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
            add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("POST"));
            kumo__send_problem(req, 405, "Method Not Allowed", "reload with POST /reload (or `kumo reload`)",
                               "reload", NULL);
            return 0;
        }
        ask_reload(gw, req);
        return 0;
    }
    kumo__send_problem(req, 404, "Not Found", "admin endpoints: /healthz, /readyz, /status, POST /reload", NULL,
                       NULL);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *actx = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        h2o_accept(actx, sock);
    }
}

static h2o_socket_t *listen_on(h2o_evloop_t *loop, int fd, h2o_accept_ctx_t *actx)
{
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0)
        return NULL;
    h2o_socket_t *sock = h2o_evloop_socket_create(loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = actx;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

/* ---- generations -------------------------------------------------------- */

static void warn_line(const char *line)
{
    fprintf(stderr, "kumo: warning: %s\n", line);
}

static void generation_free(generation *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; g->checks && i < g->spec->nops; i++)
        kumo__opcheck_free(g->checks[i]);
    free(g->checks);
    kumo__docs_free(g->docs);
    kumo__router_free(g->router);
    kumo__spec_free(g->spec);
    for (size_t u = 0; g->so_links && u < g->project->nunits; u++) {
        if (g->so_links[u]) {
            unlink(g->so_links[u]);
            free(g->so_links[u]);
        }
    }
    free(g->so_links);
    kumo__project_free(g->project);
    if (g->gw)
        atomic_fetch_sub(&g->gw->generations, 1);
    free(g);
}

/* Drops one reference; the last frees (on whichever thread that is). */
static void generation_release(generation *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        generation_free(g);
}

/* Removes links to `so_path` left by a kumo that died without cleaning up:
 * <so_path>.<pid>.<generation> whose process is gone. */
static void sweep_stale_links(const char *so_path)
{
    const char *slash = strrchr(so_path, '/');
    if (slash == NULL)
        return;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - so_path), so_path);
    const char *base = slash + 1;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, blen) != 0 || e->d_name[blen] != '.')
            continue;
        char *end;
        long pid = strtol(e->d_name + blen + 1, &end, 10);
        if (pid <= 0 || *end != '.' || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* Each generation's pools load their unit through a hard link of its own
 * (<so_path>.<pid>.<generation>): a rebuild renames a new file over
 * so_path, and a worker an old pool starts later must still get the old
 * code. Without hard links (some filesystems) the pools use so_path. */
static int link_units(generation *g, kumo__error *err)
{
    const kumo__project *p = g->project;
    if ((g->so_links = calloc(p->nunits ? p->nunits : 1, sizeof(*g->so_links))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    for (size_t u = 0; u < p->nunits; u++) {
        const char *so = p->units[u].so_path;
        if (g->number == 1)
            sweep_stale_links(so);
        if (asprintf(&g->so_links[u], "%s.%d.%lu", so, (int)getpid(), g->number) < 0) {
            g->so_links[u] = NULL;
            kumo__error_set(err, -ENOMEM, "out of memory");
            return err->code;
        }
        unlink(g->so_links[u]);
        if (link(so, g->so_links[u]) != 0) {
            free(g->so_links[u]);
            g->so_links[u] = NULL;
        }
    }
    return 0;
}

/* Loads, builds and checks everything from the project's files into a new
 * generation holding one reference (*out), or leaves *out NULL and says
 * what is wrong in err (file:line:column where it has one). */
static int generation_build(gateway *gw, unsigned long number, generation **out, int *built, kumo__error *err)
{
    int rc = 0;
    generation *g = calloc(1, sizeof(*g));
    *out = NULL;
    *built = 0;
    if (g == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    atomic_init(&g->refs, 1);
    g->number = number;
    if ((rc = kumo__project_load(gw->cfg.dir, &g->project, err)) != 0)
        goto out;
    if ((rc = kumo__spec_load(g->project->api_path, &g->spec, err)) != 0)
        goto out;
    if ((rc = kumo__router_build(g->spec, &g->router, err)) != 0)
        goto out;
    if ((rc = kumo__build_units(g->project, built, err)) != 0)
        goto out;
    if ((rc = kumo__bind_operations(g->project, g->spec, warn_line, err)) != 0)
        goto out;
    if ((rc = kumo__docs_build(g->spec, g->project->name, &g->docs, err)) != 0)
        goto out;
    if ((g->checks = calloc(g->spec->nops ? g->spec->nops : 1, sizeof(*g->checks))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    for (size_t i = 0; i < g->spec->nops; i++)
        if ((rc = kumo__opcheck_build(g->spec, i, &g->checks[i], err)) != 0)
            goto out;
    if ((rc = link_units(g, err)) != 0)
        goto out;
    snprintf(g->data_dir, sizeof(g->data_dir), "%s/.kumo/data", g->project->dir);
    g->api = (kumo__api){.project = g->project, .spec = g->spec, .router = g->router, .checks = g->checks,
                         .only_unit = -1};
    g->gw = gw;
    atomic_fetch_add(&gw->generations, 1);
out:
    if (rc != 0)
        generation_free(g);
    else
        *out = g;
    return rc;
}

/* The largest body any unit accepts. */
static size_t largest_body(const kumo__project *p)
{
    size_t largest = p->max_body;
    for (size_t u = 0; u < p->nunits; u++)
        if (p->units[u].tuning.max_body > largest)
            largest = p->units[u].tuning.max_body;
    return largest;
}

/* ---- parking the loops ---------------------------------------------------- */

/* setenv may reallocate `environ` while a loop's posix_spawn copies it into
 * a new worker. The only writer is the main thread; before writing, it
 * parks every loop between two waits (where no loop spawns), briefly. */
static void park_here(loop_thread *t)
{
    gateway *gw = t->gw;
    pthread_mutex_lock(&gw->lock);
    gw->nparked++;
    pthread_cond_broadcast(&gw->park_cond);
    while (atomic_load(&gw->park))
        pthread_cond_wait(&gw->park_cond, &gw->lock);
    gw->nparked--;
    pthread_mutex_unlock(&gw->lock);
}

static void park_loops(gateway *gw)
{
    pthread_mutex_lock(&gw->lock);
    atomic_store(&gw->park, 1);
    while (gw->nparked < gw->nstarted)
        pthread_cond_wait(&gw->park_cond, &gw->lock);
    pthread_mutex_unlock(&gw->lock);
}

static void unpark_loops(gateway *gw)
{
    pthread_mutex_lock(&gw->lock);
    atomic_store(&gw->park, 0);
    pthread_cond_broadcast(&gw->park_cond);
    pthread_mutex_unlock(&gw->lock);
}

/* Where each declared store lives, made known to the workers as
 * KUMO_STORE_<NAME> (upper case, '-' as '_'), which the SDK opens. The URL
 * is kumo__project_store_url's: a variable already set, else the URL the
 * environment gives (--env, or "dev" when the project defines one), else
 * the embedded default under .kumo/data.
 *   STORES_START: before any thread runs (setenv is safe): resolve every
 *     store, open each once here and close it, so that a store that cannot
 *     be reached stops `kumo up` with its name, its URL (password hidden)
 *     and where that URL came from; then set the variables.
 *   STORES_PRINT: one line per store for the start-up banner.
 *   STORES_RELOAD: a store that already has its variable is left alone (a
 *     reload never moves a store workers are using; a change of its URL in
 *     kumo.yaml is logged as waiting for a restart). Only stores new to
 *     this generation are resolved, checked and set, with the loops parked
 *     (see park_loops). An error refuses the reload; nothing is set then.
 * Opening a store may create it (the drivers create their file, table,
 * bucket or queue unless the URL says create=false): the same thing the
 * first worker to use it would do. */
enum { STORES_START, STORES_PRINT, STORES_RELOAD };

static int default_store_urls(gateway *gw, const generation *g, int mode, kumo__error *err)
{
    const kumo__project *p = g->project;
    const kumo__project *old = mode == STORES_RELOAD && gw->current ? gw->current->project : NULL;
    const char *env = NULL, *old_env = NULL;
    const struct {
        const char *kind;
        const kumo__store_kind *sdk;
        char *const *names;
        size_t n;
    } kinds[] = {{"kv", &kumo__kv_kind, p->kv_stores, p->nkv_stores},
                 {"blob", &kumo__blob_kind, p->blob_stores, p->nblob_stores},
                 {"queue", &kumo__queue_kind, p->queue_stores, p->nqueue_stores}};
    char var[128], url[4096], shown[4096], msg[512];
    int rc = 0, parked = 0;

    if ((rc = kumo__project_pick_environment(p, gw->cfg.env, &env, err)) != 0)
        return rc;
    if (old != NULL && kumo__project_pick_environment(old, gw->cfg.env, &old_env, &(kumo__error){0}) != 0)
        old_env = NULL;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0 resolves and checks; pass 1 sets and reports */
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            for (size_t i = 0; i < kinds[k].n; i++) {
                const char *name = kinds[k].names[i], *kind = kinds[k].kind;
                const char *set;
                if (kumo__store_var(name, var, sizeof(var)) != 0 ||
                    kumo__project_store_url(p, env, name, url, sizeof(url)) == NULL) {
                    kumo__error_set(err, -ENAMETOOLONG, "store '%s': its URL is too long (over %zu bytes)", name,
                                    sizeof(url) - 1);
                    return err->code;
                }
                kumo__store_url_redact(url, shown, sizeof(shown));
                set = getenv(var);
                if (mode == STORES_PRINT) {
                    if (pass == 0)
                        printf("  store    %s '%s' -> %s\n", kind, name, shown);
                    continue;
                }
                const char *old_kind = old ? kumo__project_store_kind(old, name) : NULL;
                if (old_kind != NULL && set != NULL && *set != '\0') {
                    /* a store the workers already use: never moved by a reload */
                    if (pass == 1)
                        continue;
                    if (strcmp(old_kind, kind) != 0) {
                        kumo__error_set(err, -EINVAL,
                                        "store '%s' was a %s store and is now a %s store; a reload cannot change a "
                                        "store's kind: restart kumo up",
                                        name, old_kind, kind);
                        return err->code;
                    }
                    const kumo__store_url *was = kumo__environment_store(kumo__project_environment(old, old_env), name);
                    const kumo__store_url *now = kumo__environment_store(kumo__project_environment(p, env), name);
                    if ((was == NULL) != (now == NULL) || (was && strcmp(was->url, now->url) != 0)) {
                        char to[4096];
                        kumo__store_url_redact(now ? now->url : "its default", to, sizeof(to));
                        kumo__store_url_redact(set, shown, sizeof(shown));
                        kumo__log_event("warn",
                                        "store %s '%s': kumo.yaml now places it at %s; a reload does not move a "
                                        "store: it stays at %s (%s) until kumo up restarts",
                                        kind, name, to, shown, var);
                    }
                    continue;
                }
                if (pass == 1) {
                    if (set == NULL || strcmp(set, url) != 0) {
                        if (mode == STORES_RELOAD && !parked) {
                            park_loops(gw);
                            parked = 1;
                        }
                        setenv(var, url, 1);
                    }
                    if (mode == STORES_RELOAD)
                        kumo__log_event("info", "new store %s '%s' -> %s", kind, name, shown);
                    continue;
                }
                /* pass 0: can it be opened from here? */
                kumo__store *opened = NULL;
                kumo__error oerr = {0};
                int orc = kumo__store_open(kinds[k].sdk, url, name, &opened, &oerr);
                kumo__store_close(opened);
                if (orc == 0)
                    continue;
                snprintf(msg, sizeof(msg), "%s", oerr.msg);
                /* the driver's message may quote the URL: show it redacted */
                char *at = strcmp(url, shown) != 0 ? strstr(msg, url) : NULL;
                char said[1024];
                if (at != NULL)
                    snprintf(said, sizeof(said), "%.*s%s%s", (int)(at - msg), msg, shown, at + strlen(url));
                else
                    snprintf(said, sizeof(said), "%s", msg[0] ? msg : "no reason given");
                char fix[1200];
                const kumo__store_url *su = kumo__environment_store(kumo__project_environment(p, env), name);
                if (set != NULL && *set != '\0')
                    snprintf(fix, sizeof(fix), "fix %s in kumo's environment", var);
                else if (su != NULL && su->line > 0)
                    snprintf(fix, sizeof(fix), "fix environments.%s.stores.%s in %s:%d:%d", env, name,
                             kumo__doc_path(p->doc), su->line, su->col);
                else if (su != NULL)
                    snprintf(fix, sizeof(fix), "fix environments.%s.stores.%s in %s", env, name,
                             kumo__doc_path(p->doc));
                else
                    snprintf(fix, sizeof(fix),
                             "make %s/.kumo/data writable, or put the store elsewhere with %s or "
                             "environments.ENV.stores.%s in kumo.yaml",
                             p->dir, var, name);
                if (orc == KUMO_EINVAL)
                    kumo__error_set(err, -EINVAL, "store '%s' (%s) cannot be opened: %s; %s", name, shown, said, fix);
                else
                    kumo__error_set(err, -EIO, "store '%s' (%s) cannot be reached: %s; start the server or %s", name,
                                    shown, said, fix);
                return err->code;
            }
        }
    }
    if (parked)
        unpark_loops(gw);
    return 0;
}

/* ---- each loop's pools ------------------------------------------------------ */

/* Loop i's share of a unit's `total` workers over n loops; at least one
 * for max, so that every loop can serve every function. */
static int share(int total, int n, int i)
{
    return total / n + (i < total % n);
}

static void on_spawned(void *data, uint32_t tag, pid_t pid, int err)
{
    loop_gen *lg = data;
    for (size_t u = 0; lg->pools && u < lg->gen->project->nunits; u++)
        if (lg->pools[u])
            kumo__pool_on_spawned(lg->pools[u], tag, pid, err);
}

static void on_exited(void *data, pid_t pid)
{
    loop_gen *lg = data;
    for (size_t u = 0; lg->pools && u < lg->gen->project->nunits; u++)
        if (lg->pools[u])
            kumo__pool_on_exit(lg->pools[u], pid);
}

/* Whether any store of the project lives outside the worker's sandbox (a
 * server: redis://, postgres://, dynamodb:// ...): its workers then keep
 * the network (the sandbox's --net: no net namespace, client sockets
 * allowed). The embedded sqlite: and file: stores need none. The URLs are
 * those kumo up put in the environment for the workers. */
static int stores_need_net(const kumo__project *p)
{
    char *const *lists[3] = {p->kv_stores, p->blob_stores, p->queue_stores};
    size_t counts[3] = {p->nkv_stores, p->nblob_stores, p->nqueue_stores};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < counts[k]; i++) {
            char var[300];
            if (kumo__store_var(lists[k][i], var, sizeof(var)) != 0)
                continue;
            const char *url = getenv(var);
            if (url && strncmp(url, "sqlite:", 7) != 0 && strncmp(url, "file:", 5) != 0)
                return 1;
        }
    return 0;
}

/* The fork server of generation g on loop t: it preloads g's units (their
 * links), so each generation has its own. NULL when it cannot start: the
 * pools then start each worker with posix_spawn. */
static kumo__spawner *start_spawner(loop_thread *t, generation *g, loop_gen *lg)
{
    const kumo__project *p = g->project;
    kumo__spawner_unit *units = calloc(p->nunits ? p->nunits : 1, sizeof(*units));
    char (*layers)[96] = calloc(p->nunits ? p->nunits : 1, sizeof(*layers));
    kumo__spawner *s = NULL;
    kumo__error err = {0};
    if (units == NULL || layers == NULL)
        goto out;
    for (size_t u = 0; u < p->nunits; u++) {
        const kumo__unit *unit = &p->units[u];
        kumo__tuning_layers(&unit->tuning, layers[u], sizeof(layers[u]));
        units[u] = (kumo__spawner_unit){.name = unit->name,
                                        .so_path = g->so_links[u] ? g->so_links[u] : unit->so_path,
                                        .layers = layers[u],
                                        .memory = unit->tuning.memory,
                                        .timeout_ms = (unsigned)(unit->tuning.timeout_s * 1000.0)};
    }
    kumo__spawner_config sc = {.units = units, .nunits = p->nunits, .project_dir = p->dir, .data_dir = g->data_dir,
                               .spares = 1, .net = stores_need_net(p)};
    if ((s = kumo__spawner_start(t->loop, &sc, &err)) == NULL)
        kumo__log_event("warn", "loop %d: %s; its workers start one by one instead", t->index, err.msg);
    else
        kumo__spawner_set_callbacks(s, on_spawned, on_exited, lg);
out:
    free(units);
    free(layers);
    return s;
}

/* Pools for generation g on loop t (made on t's thread: a pool's sockets
 * belong to its loop). Takes over the caller's reference to g. */
static loop_gen *loop_gen_create(loop_thread *t, generation *g)
{
    gateway *gw = t->gw;
    const kumo__project *p = g->project;
    loop_gen *lg = calloc(1, sizeof(*lg));
    if (lg == NULL)
        return NULL;
    if ((lg->pools = calloc(p->nunits ? p->nunits : 1, sizeof(*lg->pools))) == NULL) {
        free(lg);
        return NULL;
    }
    lg->gen = g; /* the callbacks read it; the caller's reference until we succeed */
    lg->spawner = start_spawner(t, g, lg);
    for (size_t u = 0; u < p->nunits; u++) {
        const kumo__unit *unit = &p->units[u];
        kumo__pool_config pc = {.unit_name = unit->name,
                                .so_path = g->so_links[u] ? g->so_links[u] : unit->so_path,
                                .tuning = &unit->tuning,
                                .min = share(unit->tuning.min, gw->nthreads, t->index),
                                .max = share(unit->tuning.max, gw->nthreads, t->index),
                                .project_dir = p->dir,
                                .data_dir = g->data_dir,
                                .spawner = lg->spawner,
                                .net = stores_need_net(p),
                                .unit_index = (int)u};
        if ((lg->pools[u] = kumo__pool_create(t->loop, &pc)) == NULL) {
            for (size_t k = 0; k < u; k++)
                kumo__pool_destroy(lg->pools[k], 0);
            free(lg->pools);
            kumo__spawner_stop(lg->spawner);
            free(lg);
            return NULL;
        }
    }
    return lg;
}

/* Stops the pools' workers (EOF, then SIGKILL after grace_ms) and drops the
 * generation; the loop_gen itself stays (requests may still point at it
 * until they are disposed): loop_gen_free. */
static void loop_gen_stop(loop_gen *lg, int grace_ms)
{
    for (size_t u = 0; lg->pools && u < lg->gen->project->nunits; u++) {
        kumo__pool_destroy(lg->pools[u], grace_ms);
        lg->pools[u] = NULL;
    }
    free(lg->pools);
    lg->pools = NULL;
    kumo__spawner_stop(lg->spawner);
    lg->spawner = NULL;
    generation_release(lg->gen);
    lg->gen = NULL;
}

static void loop_gen_free_list(loop_gen *lg)
{
    while (lg) {
        loop_gen *next = lg->next;
        if (lg->gen)
            loop_gen_stop(lg, 0);
        free(lg);
        lg = next;
    }
}

/* After each wait: when a newer generation is live, make this loop's pools
 * for it and send new requests there; the old pools join the retired list. */
static void follow_current(loop_thread *t, uint64_t now)
{
    gateway *gw = t->gw;
    unsigned long want = atomic_load_explicit(&gw->current_number, memory_order_acquire);
    if (t->live && t->live->gen->number == want)
        return;
    if (t->switch_failed_ms && now - t->switch_failed_ms < 1000)
        return;
    pthread_mutex_lock(&gw->lock);
    generation *g = gw->current;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&gw->lock);
    loop_gen *lg = loop_gen_create(t, g);
    if (lg == NULL) {
        kumo__log_event("error", "loop %d: cannot make the pools of generation %lu (out of memory); retrying in 1 s",
                        t->index, g->number);
        generation_release(g);
        t->switch_failed_ms = now ? now : 1;
        return;
    }
    t->switch_failed_ms = 0;
    pthread_mutex_lock(&gw->lock);
    if (t->live) {
        t->live->next = t->retired;
        t->retired = t->live;
    }
    t->live = lg;
    pthread_mutex_unlock(&gw->lock);
}

/* Periodic pool work; an old generation's pools go once nothing uses them. */
static void tick_pools(loop_thread *t, uint64_t now)
{
    gateway *gw = t->gw;
    for (size_t u = 0; t->live && u < t->live->gen->project->nunits; u++)
        kumo__pool_tick(t->live->pools[u], now);
    loop_gen **pp = &t->retired;
    while (*pp) {
        loop_gen *lg = *pp;
        size_t pending = 0;
        for (size_t u = 0; u < lg->gen->project->nunits; u++) {
            kumo__pool_tick(lg->pools[u], now);
            pending += kumo__pool_pending(lg->pools[u]);
        }
        if (lg->users > 0 || pending > 0) {
            pp = &lg->next;
            continue;
        }
        /* Drained: its workers get EOF now and are reaped over the next
         * ticks; the loop never waits for them. */
        if (lg->retiring_since == 0) {
            lg->retiring_since = now ? now : 1;
            for (size_t u = 0; u < lg->gen->project->nunits; u++)
                kumo__pool_retire(lg->pools[u]);
        }
        int gone = 1, force = now - lg->retiring_since >= RETIRE_GRACE_MS;
        for (size_t u = 0; u < lg->gen->project->nunits; u++)
            gone &= kumo__pool_retired(lg->pools[u], force, now);
        if (!gone) {
            pp = &lg->next;
            continue;
        }
        pthread_mutex_lock(&gw->lock);
        *pp = lg->next;
        pthread_mutex_unlock(&gw->lock);
        unsigned long number = lg->gen->number;
        if (lg->spawner && t->nexiting < EXITING_MAX) {
            pid_t pid = kumo__spawner_stop_nowait(lg->spawner);
            lg->spawner = NULL;
            if (pid > 0) {
                t->exiting[t->nexiting] = pid;
                t->exiting_since[t->nexiting++] = now;
            }
        }
        loop_gen_stop(lg, 0); /* nothing left to wait for */
        free(lg);
        kumo__log_event("info", "loop %d: generation %lu drained; its workers are stopped", t->index, number);
    }
    for (int i = 0; i < t->nexiting;) {
        if (kumo__spawner_reap(t->exiting[i], now - t->exiting_since[i] >= RETIRE_GRACE_MS)) {
            t->exiting[i] = t->exiting[--t->nexiting];
            t->exiting_since[i] = t->exiting_since[t->nexiting];
        } else {
            i++;
        }
    }
}

static void *thread_main(void *arg)
{
    loop_thread *t = arg;
    gateway *gw = t->gw;
    uint64_t last_tick = 0;

    /* Before the first fork server is started from this thread: it, and
     * every worker it forks, inherit the CPU (a request then passes from
     * loop to worker and back on one CPU, without waking another). */
    if (t->cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(t->cpu, &one);
        if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0)
            kumo__log_event("warn", "loop %d: cannot run on CPU %d only; it runs on any", t->index, t->cpu);
    }
    follow_current(t, kumo__mono_ms());
    while (1) {
        h2o_evloop_run(t->loop, 20);
        kumo__access_log_flush();
        if (atomic_load(&gw->park))
            park_here(t);
        uint64_t now = kumo__mono_ms();
        follow_current(t, now);
        if (now - last_tick >= 20) {
            last_tick = now;
            tick_pools(t, now);
            answer_reload_waits(t, 0);
        }
        if (atomic_load(&gw->draining)) {
            if (t->listener) {
                h2o_socket_read_stop(t->listener);
                h2o_socket_close(t->listener);
                t->listener = NULL;
            }
            if (t->inflight == 0)
                break;
        }
    }
    /* Let the last responses flush; close the admin listener; then wait
     * for every loop, since /status reads all loops' pools. */
    answer_reload_waits(t, 1);
    for (int i = 0; i < 5; i++)
        h2o_evloop_run(t->loop, 10);
    if (t->admin_listener) {
        h2o_socket_read_stop(t->admin_listener);
        h2o_socket_close(t->admin_listener);
        t->admin_listener = NULL;
    }
    h2o_evloop_run(t->loop, 0);
    pthread_mutex_lock(&gw->stop_lock);
    gw->nstopped++;
    pthread_cond_broadcast(&gw->stop_cond);
    while (gw->nstopped < gw->nstarted)
        pthread_cond_wait(&gw->stop_cond, &gw->stop_lock);
    pthread_mutex_unlock(&gw->stop_lock);
    /* Stop every generation's workers. The loop_gen records stay until
     * gateway_free: a request still writing to a slow client holds one and
     * releases it when disposed, which may happen in the runs below. */
    pthread_mutex_lock(&gw->lock);
    loop_gen *all = t->live;
    if (all)
        all->next = t->retired;
    else
        all = t->retired;
    t->live = t->retired = NULL;
    pthread_mutex_unlock(&gw->lock);
    for (loop_gen *lg = all; lg; lg = lg->next)
        loop_gen_stop(lg, 2000);
    t->spent = all;
    /* Fork servers of generations retired earlier, still exiting. */
    uint64_t until = kumo__mono_ms() + RETIRE_GRACE_MS;
    while (t->nexiting > 0) {
        if (kumo__spawner_reap(t->exiting[t->nexiting - 1], kumo__mono_ms() >= until)) {
            t->nexiting--;
        } else {
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < 2; i++)
        h2o_evloop_run(t->loop, 0);
    /* The h2o context and loop are not disposed: connections a client keeps
     * open (keep-alive) still hold timers, which h2o_context_dispose
     * asserts against, and the process exits next anyway. */
    kumo__access_log_flush();
    return NULL;
}

/* One listening socket on host:port (0: any free port, *bound_port says
 * which); `reuseport` lets the loops' sockets share the port (see
 * open_listeners). */
static int open_listener(const char *host, int port, int reuseport, int *bound_port, kumo__error *err)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        kumo__error_set(err, -EINVAL, "'%s' is not an IPv4 address; use e.g. 127.0.0.1 or 0.0.0.0", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0) {
        kumo__error_set(err, -errno, "cannot listen on %s:%d: %s%s", host, port, strerror(errno),
                        errno == EADDRINUSE ? "; pick another with --port" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *bound_port = ntohs(sa.sin_port);
    return fd;
}

/* A listening socket per loop, all on one port (SO_REUSEPORT): the kernel
 * spreads new connections evenly over the loops, where one shared socket
 * wakes every loop for each connection and leaves the first to accept it
 * with more than its share. A port already in use is refused as before:
 * a socket without SO_REUSEPORT is bound to it first (and closed), so a
 * second kumo up (or anything else) on the port fails with EADDRINUSE
 * instead of silently sharing it. */
static int open_listeners(const char *host, int port, int n, int *fds, int *bound_port, kumo__error *err)
{
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    if (n == 1)
        return (fds[0] = open_listener(host, port, 0, bound_port, err)) < 0 ? -1 : 0;
    int probe = open_listener(host, port, 0, bound_port, err);
    if (probe < 0)
        return -1;
    close(probe);
    for (int i = 0; i < n; i++) {
        if ((fds[i] = open_listener(host, *bound_port, 1, bound_port, err)) < 0) {
            for (int j = 0; j < i; j++) {
                close(fds[j]);
                fds[j] = -1;
            }
            return -1;
        }
    }
    return 0;
}

static void register_handler(h2o_globalconf_t *conf, gateway *gw, int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_config_init(conf);
    conf->server_name = h2o_iovec_init(H2O_STRLIT("kumo"));
    h2o_hostconf_t *host = h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    api_handler *h = (api_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->gw = gw;
    kumo__install_problem_filter(host, path);
}

static void gateway_free(gateway *gw)
{
    if (gw->threads) {
        for (int i = 0; i < gw->nthreads; i++) {
            loop_thread *t = &gw->threads[i];
            loop_gen_free_list(t->live);
            loop_gen_free_list(t->retired);
            loop_gen_free_list(t->spent);
            for (reload_wait *w = t->reload_waits, *next; w; w = next) {
                next = w->next;
                free(w);
            }
        }
        free(gw->threads);
    }
    generation_release(gw->current);
    if (gw->barrier_ready) {
        pthread_mutex_destroy(&gw->stop_lock);
        pthread_cond_destroy(&gw->stop_cond);
    }
    if (gw->lock_ready) {
        pthread_mutex_destroy(&gw->lock);
        pthread_cond_destroy(&gw->park_cond);
    }
    for (int i = 0; gw->listen_fds && i < gw->nlisten; i++)
        if (gw->listen_fds[i] >= 0)
            close(gw->listen_fds[i]);
    free(gw->listen_fds);
    if (gw->admin_fd >= 0)
        close(gw->admin_fd);
}

/* SIGHUP or POST /reload, on the main thread: build the next generation
 * and publish it, or keep the live one and record why not. */
static void reload(gateway *gw)
{
    kumo__error err = {0};
    generation *g = NULL, *old = NULL;
    int built = 0;
    unsigned long number = gw->current->number + 1; /* only this thread changes current */
    char msg[sizeof(gw->reload_msg)];

    pthread_mutex_lock(&gw->lock);
    unsigned long ticket = gw->reload_asked; /* the requests this reload answers */
    pthread_mutex_unlock(&gw->lock);
    kumo__log_event("info", "reloading %s (generation %lu keeps serving meanwhile)", gw->cfg.dir, number - 1);
    uint64_t start = kumo__mono_ms();
    int rc = generation_build(gw, number, &g, &built, &err);
    if (rc == 0 && (rc = default_store_urls(gw, g, STORES_RELOAD, &err)) != 0) {
        generation_release(g);
        g = NULL;
    }
    if (rc == 0) {
        size_t largest = largest_body(g->project);
        if (largest > gw->conf.max_request_entity_size)
            kumo__log_event("warn", "a function now accepts bodies of %zu bytes; until kumo up restarts, bodies over "
                            "%zu bytes are refused before they reach it", largest,
                            gw->conf.max_request_entity_size);
        size_t bound = 0;
        for (size_t i = 0; i < g->spec->nops; i++)
            bound += g->spec->ops[i].unit_index >= 0;
        snprintf(msg, sizeof(msg),
                 "generation %lu of '%s': %d unit%s rebuilt, %zu operations (%zu with handlers), ready in %llu ms",
                 number, g->project->name, built, built == 1 ? "" : "s", g->spec->nops, bound,
                 (unsigned long long)(kumo__mono_ms() - start));
    } else {
        snprintf(msg, sizeof(msg), "%s", err.msg[0] ? err.msg : "the reload failed");
    }
    pthread_mutex_lock(&gw->lock);
    if (rc == 0) {
        old = gw->current;
        gw->current = g;
        atomic_store_explicit(&gw->current_number, number, memory_order_release);
    }
    if (ticket > gw->reload_done)
        gw->reload_done = ticket;
    gw->reloads++;
    gw->reload_failed = rc != 0;
    memcpy(gw->reload_msg, msg, sizeof(msg));
    pthread_mutex_unlock(&gw->lock);
    if (rc == 0)
        kumo__log_event("info", "reloaded: %s; requests already running finish on generation %lu", msg,
                        number - 1);
    else
        kumo__log_event("error", "reload failed; generation %lu keeps serving: %s", number - 1, msg);
    generation_release(old);
}

int kumo__gateway_run(const kumo__gateway_config *cfg, kumo__error *err)
{
    gateway gwv, *gw = &gwv;
    int rc = 0, started = 0, built = 0;
    sigset_t sigs;

    memset(gw, 0, sizeof(*gw));
    gw->cfg = *cfg;
    gw->admin_fd = -1;
    atomic_init(&gw->draining, 0);
    atomic_init(&gw->park, 0);
    atomic_init(&gw->generations, 0);
    atomic_init(&gw->current_number, 0);
    pthread_mutex_init(&gw->lock, NULL);
    pthread_cond_init(&gw->park_cond, NULL);
    gw->lock_ready = 1;
    snprintf(gw->id_prefix, sizeof(gw->id_prefix), "%08x", (unsigned)(kumo__epoch_ms() ^ ((uint64_t)getpid() << 20)));
    gw->dev = cfg->dev || cfg->strict;
    gw->strict = cfg->strict;

    if ((rc = generation_build(gw, 1, &gw->current, &built, err)) != 0 ||
        (rc = default_store_urls(gw, gw->current, STORES_START, err)) != 0)
        goto out;
    atomic_store(&gw->current_number, 1);
    const generation *g = gw->current;

    register_handler(&gw->conf, gw, on_api_req);
    /* h2o refuses a body over its own ceiling before reading it and closes
     * the connection, which a client still sending sees as a reset. So h2o's
     * ceiling sits well above the project's limit: bodies up to it are read
     * and refused here with a 413 problem on a connection that stays open;
     * only larger ones meet h2o's early refusal (problem+json too, through
     * the filter, if the client reads it). Set once: a reload that raises
     * the limit past it says so. */
    size_t largest = largest_body(g->project);
    size_t ceiling = largest * 4;
    if (ceiling < largest + (1u << 20))
        ceiling = largest + (1u << 20);
    gw->conf.max_request_entity_size = ceiling;
    register_handler(&gw->admin_conf, gw, on_admin_req);

    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    gw->nthreads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (gw->nthreads < 1)
        gw->nthreads = 1;
    if ((gw->listen_fds = malloc((size_t)gw->nthreads * sizeof(*gw->listen_fds))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    gw->nlisten = gw->nthreads;
    if (open_listeners(host, cfg->port, gw->nthreads, gw->listen_fds, &gw->port, err) != 0) {
        rc = err->code;
        goto out;
    }
    if (cfg->admin_port >= 0 && (gw->admin_fd = open_listener("127.0.0.1", cfg->admin_port, 0, &gw->admin_port, err)) < 0) {
        kumo__error_wrap(err, "admin port");
        rc = err->code;
        goto out;
    }

    size_t bound = 0;
    for (size_t i = 0; i < g->spec->nops; i++)
        bound += g->spec->ops[i].unit_index >= 0;
    printf("kumo: serving '%s' from %s (%d unit%s rebuilt)\n", g->project->name, g->project->dir, built,
           built == 1 ? "" : "s");
    printf("  API      http://%s:%d%s/  (%zu operations, %zu with handlers)\n", host, gw->port, g->spec->base_path,
           g->spec->nops, bound);
    printf("  spec     %s  (served at /openapi.json, /openapi.yaml; docs at http://%s:%d/docs)\n",
           g->project->api_path, host, gw->port);
    default_store_urls(gw, g, STORES_PRINT, err);
    printf("  data     %s\n", g->data_dir);
    if (gw->admin_fd >= 0)
        printf("  admin    http://127.0.0.1:%d/healthz, /readyz, /status; POST /reload (or SIGHUP) reloads\n",
               gw->admin_port);
    for (size_t u = 0; u < g->project->nunits; u++) {
        const kumo__tuning *t = &g->project->units[u].tuning;
        kumo__sandbox_config sc = {
            .layers = (t->sandbox_seccomp ? KUMO_SANDBOX_SECCOMP : 0u) |
                      (t->sandbox_namespaces ? KUMO_SANDBOX_NAMESPACES : 0u) |
                      (t->sandbox_limits ? KUMO_SANDBOX_LIMITS : 0u) |
                      (t->sandbox_no_new_privs ? KUMO_SANDBOX_NO_NEW_PRIVS : 0u),
            .memory = t->memory,
            .cpu_seconds = kumo__sandbox_cpu_seconds((unsigned)(t->timeout_s * 1000.0)),
            .project_dir = g->project->dir,
            .data_dir = g->data_dir,
        };
        char layers[512];
        kumo__sandbox_describe(&sc, layers, sizeof(layers));
        printf("  function %s: min %d, max %d, concurrency %d, idle %gs, timeout %gs; %s\n",
               g->project->units[u].name, t->min, t->max, t->concurrency, t->idle_s, t->timeout_s, layers);
    }
    fflush(stdout);

    /* Signals are taken by sigwait on this thread only (the loops inherit
     * the mask); SIGHUP reloads, and POST /reload sends this thread one. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    gw->main_tid = pthread_self();

    gw->threads = calloc((size_t)gw->nthreads, sizeof(*gw->threads));
    pthread_mutex_init(&gw->stop_lock, NULL);
    pthread_cond_init(&gw->stop_cond, NULL);
    gw->barrier_ready = 1;
    if (gw->threads == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = err->code;
        goto out;
    }
    cpu_set_t allowed;
    int ncpus = 0, cpus[CPU_SETSIZE];
    CPU_ZERO(&allowed);
    if (cfg->cpu_affinity && sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[ncpus++] = c;
    if (cfg->cpu_affinity) {
        printf("  cpus     loop i on CPU:");
        for (int i = 0; i < gw->nthreads && ncpus > 0; i++)
            printf(" %d->%d", i, cpus[i % ncpus]);
        printf("%s (with its fork servers and workers)\n", ncpus ? "" : " none (no CPU set)");
        fflush(stdout);
    }
    for (int i = 0; i < gw->nthreads; i++) {
        loop_thread *t = &gw->threads[i];
        t->gw = gw;
        t->index = i;
        t->cpu = ncpus > 0 ? cpus[i % ncpus] : -1;
        t->loop = h2o_evloop_create();
        h2o_context_init(&t->ctx, t->loop, &gw->conf);
        t->accept.ctx = &t->ctx;
        t->accept.hosts = gw->conf.hosts;
        t->listener = listen_on(t->loop, gw->listen_fds[i], &t->accept);
        if (i == 0 && gw->admin_fd >= 0) {
            h2o_context_init(&t->admin_ctx, t->loop, &gw->admin_conf);
            t->admin_accept.ctx = &t->admin_ctx;
            t->admin_accept.hosts = gw->admin_conf.hosts;
            t->admin_listener = listen_on(t->loop, gw->admin_fd, &t->admin_accept);
        }
        if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
            kumo__error_set(err, -EAGAIN, "cannot start event loop thread %d", i);
            rc = err->code;
            atomic_store(&gw->draining, 1);
            break;
        }
        started++;
        pthread_mutex_lock(&gw->stop_lock);
        gw->nstarted = started;
        pthread_mutex_unlock(&gw->stop_lock);
    }

    while (rc == 0) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(gw);
            continue;
        }
        kumo__log_event("info", "received %s: draining (finishing requests in flight, then stopping workers)",
                        sig == SIGTERM ? "SIGTERM" : "SIGINT");
        atomic_store(&gw->draining, 1);
        break;
    }
    for (int i = 0; i < started; i++)
        pthread_join(gw->threads[i].tid, NULL);
    if (rc == 0)
        kumo__log_event("info", "stopped cleanly");
out:
    gateway_free(gw);
    return rc;
}
