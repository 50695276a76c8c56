/*
 * host.c: see host.h. Loading a package's app folder, and one request
 * through the dispatcher and the unit's handler, in this process.
 */
#include "host/host.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/policy.h"
#include "base/clock.h"
#include "base/log.h"
#include "project/env.h"
#include "runtime/runtime.h"

/* kumo_http's calls made in this process, counted in the host's metrics
 * (kumo__http_set_observer): one host a process, so one registry. */
static _Atomic(kumo__metrics *) g_outbound_metrics;

static void count_outbound(const kumo__http_result *r)
{
    kumo__metrics *m = atomic_load_explicit(&g_outbound_metrics, memory_order_acquire);
    if (m == NULL)
        return;
    char name[160];
    kumo__http_series(r, name, sizeof(name));
    kumo__metrics_count(m, name, KUMO__HTTP_SERIES_HELP, 1);
}

static uint64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t epoch_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A request header by its lower-case name, or NULL. */
static const kumo__slice *header_of(const kumo__http_in *in, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < in->nheaders; i++)
        if (in->headers[i].name.len == n && memcmp(in->headers[i].name.base, name, n) == 0)
            return &in->headers[i].value;
    return NULL;
}

/* "kumo-host: ...", or "kumo: ..." when kumo test loads the project */
static void warn_line(const char *line)
{
    fprintf(stderr, "%s: %s\n", program_invocation_short_name, line);
}

/* KUMO_STORE_<NAME>_FILE: the URL is in a file (a mounted secret, as
 * OpenFaaS passes them). 1 and url filled, 0 when the variable is not
 * set, negative with err set when the file cannot be read. */
static int url_from_file(const char *name, const char *var, char *url, size_t len, kumo__error *err)
{
    char fvar[160];
    snprintf(fvar, sizeof(fvar), "%s_FILE", var);
    const char *path = getenv(fvar);
    if (path == NULL || *path == '\0')
        return 0;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        kumo__error_set(err, -errno, "store '%s': %s names %s, which cannot be read: %s", name, fvar, path,
                        strerror(errno));
        return err->code;
    }
    size_t n = fread(url, 1, len - 1, f);
    int full = n == len - 1 && fgetc(f) != EOF;
    fclose(f);
    url[n] = '\0';
    while (n > 0 && (url[n - 1] == '\n' || url[n - 1] == '\r' || url[n - 1] == ' '))
        url[--n] = '\0';
    if (full || n == 0) {
        kumo__error_set(err, -EINVAL, "store '%s': %s (%s) is %s", name, fvar, path, full ? "too long" : "empty");
        return err->code;
    }
    return 1;
}

/* KUMO_ENV_FILE_<NAME>=PATH: the env: variable NAME's value is in the file
 * PATH (a mounted secret: OpenFaaS passes secrets as files), its trailing
 * newline dropped, at most 64 KiB. Set before any handler runs, before
 * any thread; the KUMO_ENV_FILE_ variable itself goes. */
static int env_from_files(kumo__error *err)
{
    extern char **environ;
    static const char prefix[] = "KUMO_ENV_FILE_";
    char *todo[KUMO__ENV_MAX];
    size_t n = 0;
    int rc = 0;
    for (char **e = environ; e && *e && n < KUMO__ENV_MAX; e++)
        if (strncmp(*e, prefix, sizeof(prefix) - 1) == 0 && strchr(*e, '=') && (todo[n] = strdup(*e)) != NULL)
            n++;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *eq = strchr(todo[i], '=');
        *eq = '\0';
        const char *name = todo[i] + sizeof(prefix) - 1, *path = eq + 1;
        char *buf = malloc(KUMO__SECRET_FILE_MAX + 1);
        FILE *f = buf ? fopen(path, "re") : NULL;
        size_t got = f ? fread(buf, 1, KUMO__SECRET_FILE_MAX + 1, f) : 0;
        if (f == NULL || got > KUMO__SECRET_FILE_MAX) {
            kumo__error_set(err, -EINVAL, "env %s: %s names %s, which %s", name, todo[i], path,
                            f == NULL ? "cannot be read" : "is over 64 KiB");
            rc = err->code;
        } else {
            while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
                got--;
            buf[got] = '\0';
            if (setenv(name, buf, 1) != 0 || unsetenv(todo[i]) != 0) {
                kumo__error_set(err, -errno, "env %s: %s", name, strerror(errno));
                rc = err->code;
            }
            memset(buf, 0, got);
        }
        if (f)
            fclose(f);
        free(buf);
    }
    for (size_t i = 0; i < n; i++)
        free(todo[i]);
    return rc;
}

/* Every store gets its URL in KUMO_STORE_<NAME> before any handler runs,
 * as kumo up's workers do, from the same plan (project/store_plan.h); two
 * rules are kumo-host's own: KUMO_STORE_<NAME>_FILE may name a file
 * holding the URL (a mounted secret), and an embedded default moves out of
 * a read-only package (Lambda's task root) to $KUMO_DATA. The handler runs
 * in this process, so the variables are set here, before any thread. */
static int place_stores(const kumo__project *p, kumo__error *err)
{
    extern char **environ;
    const char *env = getenv("KUMO_ENV");
    const char *data = getenv("KUMO_DATA");
    int readonly = access(p->dir, W_OK) != 0;
    kumo__store_plan plan;
    int rc = kumo__store_plan_build(p, env && *env ? env : NULL, environ, NULL, NULL, &plan, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < plan.n && rc == 0; i++) {
        const kumo__store_place *s = &plan.stores[i];
        char url[4096];
        snprintf(url, sizeof(url), "%s", s->url);
        if (s->origin != KUMO__STORE_FROM_VARIABLE &&
            (rc = url_from_file(s->name, s->var, url, sizeof(url), err)) != 0) {
            if (rc < 0)
                break;
            rc = 0; /* KUMO_STORE_<NAME>_FILE named a secret's file */
        } else if (s->origin == KUMO__STORE_FROM_DEFAULT && (readonly || (data && *data))) {
            const char *dir = data && *data ? data : "/tmp/kumo-data";
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                kumo__error_set(err, -errno, "store '%s': cannot create %s: %s", s->name, dir, strerror(errno));
                rc = err->code;
                break;
            }
            if (s->kind == KUMO__STORE_BLOB)
                snprintf(url, sizeof(url), "file:%s/blob", dir);
            else
                snprintf(url, sizeof(url), "sqlite:%s/%s.db", dir, kumo__store_kind_name(s->kind));
        }
        if (setenv(s->var, url, 1) != 0) {
            kumo__error_set(err, -errno, "store '%s': %s", s->name, strerror(errno));
            rc = err->code;
        }
    }
    kumo__store_plan_free(&plan);
    return rc;
}

/* The services of kumo.yaml, placed for $KUMO_ENV by the same rule as
 * kumo up's (project/services.h: KUMO_SERVICE_<NAME>_URL, the
 * environment's url, the default), secrets expanded now: the handler runs
 * in this process, so its kumo_http calls are made here, in process, with
 * sdk/http.c's rules (docs/outbound.md). */
static int place_services(const kumo__project *p, kumo__error *err)
{
    const char *env = getenv("KUMO_ENV");
    kumo__service_target *t = NULL;
    size_t n = 0;
    int rc = kumo__services_resolve(p, env && *env ? env : NULL, NULL, NULL, &t, &n, err);
    if (rc != 0)
        return rc;
    kumo__http_service *hs = n ? calloc(n, sizeof(*hs)) : NULL;
    if (n && hs == NULL) {
        kumo__service_targets_free(t, n);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        hs[i] = (kumo__http_service){.name = t[i].decl->name,
                                     .url = t[i].url,
                                     .headers = (const char *const *)t[i].headers,
                                     .nheaders = t[i].nheaders,
                                     .timeout_ms = t[i].decl->timeout_ms,
                                     .max_response = t[i].decl->max_response};
    if (kumo__http_services_set(hs, n) != 0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
    }
    free(hs);
    kumo__service_targets_free(t, n);
    return rc;
}

int kumo__host_lazy_checks;

/* kumo__api.check_of under kumo__host_lazy_checks: operation op's checks,
 * compiled the first time they are asked for. */
static int check_of(void *ctx, size_t op, const kumo__opcheck **out)
{
    kumo__host *h = ctx;
    if (!h->checks_built[op]) {
        kumo__error err = {0};
        if (kumo__opcheck_build(h->spec, op, &h->checks[op], &err) != 0) {
            kumo__log_event("error", "operation %s %s: its request contract cannot be compiled: %s",
                            h->spec->ops[op].method, h->spec->ops[op].path, err.msg);
            return -1;
        }
        h->checks_built[op] = 1;
    }
    *out = h->checks[op];
    return 0;
}

int kumo__host_load(const char *appdir, const char *unit, kumo__host **out, kumo__error *err)
{
    int rc;
    *out = NULL;
    kumo__host *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&h->call_lock, NULL);
    if ((rc = kumo__project_load_prebuilt(appdir, &h->project, err)) != 0)
        goto out;
    const kumo__project *p = h->project;
    int only = -1;
    if (unit != NULL) {
        const kumo__unit *u = kumo__project_unit(p, unit);
        if (u == NULL) {
            kumo__error_set(err, -ENOENT, "%s/kumo.yaml has no function unit '%s'", appdir, unit);
            rc = err->code;
            goto out;
        }
        only = (int)(u - p->units);
    }
    if ((rc = kumo__spec_load(p->api_path, &h->spec, err)) != 0 ||
        (rc = kumo__router_build(h->spec, &h->router, err)) != 0 || (rc = kumo__ce_check_spec(h->spec, err)) != 0 ||
        (rc = kumo__edge_check_spec(&p->http.edge, h->spec, err)) != 0 ||
        (rc = kumo__ce_routes_build(p, h->spec, &h->ce, err)) != 0 ||
        (rc = kumo__bind_operations(p, h->spec, warn_line, err)) != 0 ||
        (rc = kumo__docs_prepare(h->spec, p->name, NULL, 0, &h->docs, err)) != 0)
        goto out;
    size_t nops = h->spec->nops;
    h->checks = calloc(nops ? nops : 1, sizeof(*h->checks));
    h->handles = calloc(p->nunits ? p->nunits : 1, sizeof(*h->handles));
    h->invokers = calloc(p->nunits ? p->nunits : 1, sizeof(*h->invokers));
    if (h->checks == NULL || h->handles == NULL || h->invokers == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nops && !kumo__host_lazy_checks; i++)
        if ((rc = kumo__opcheck_build(h->spec, i, &h->checks[i], err)) != 0)
            goto out;
    if (kumo__host_lazy_checks && (h->checks_built = calloc(nops ? nops : 1, 1)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = env_from_files(err)) != 0 || (rc = place_stores(p, err)) != 0 || (rc = place_services(p, err)) != 0)
        goto out;
    kumo__trace_config tc = {
        .endpoint = p->obs.traces_endpoint,
        .sampler = p->obs.traces_sampler,
        .ratio = p->obs.traces_ratio,
        .buffer = p->obs.traces_buffer,
        .protocol = p->obs.traces_protocol,
        .exporter_normal = p->obs.traces_exporter_normal,
        .service_name = p->name,
    };
    if (p->obs.enabled && (rc = kumo__tracer_create(&tc, NULL, &h->tracer, err)) != 0) {
        kumo__error_wrap(err, "%s/kumo.yaml: observability.traces", appdir);
        goto out;
    }
    if (p->obs.enabled &&
        ((h->metrics = kumo__metrics_create(1)) == NULL ||
         kumo__metrics_project_targets(h->metrics, p, h->spec, &h->mt_ops, &h->mt_events, &h->mt_noroute) != 0)) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if (h->metrics) {
        atomic_store_explicit(&g_outbound_metrics, h->metrics, memory_order_release);
        kumo__http_set_observer(count_outbound);
    }
    for (size_t i = 0; i < p->nunits; i++) {
        if (only >= 0 && (int)i != only)
            continue;
        if ((h->handles[i] = dlopen(p->units[i].so_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
            const char *why = dlerror();
            kumo__error_set(err, -ENOEXEC, "function unit '%s': %s", p->units[i].name, why ? why : "dlopen failed");
            rc = err->code;
            goto out;
        }
        if ((h->invokers[i] = kumo__invoker_new(h->handles[i], p->units[i].name)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
    }
    if ((rc = kumo__auth_build(p, h->spec, getenv("KUMO_ENV"), NULL, NULL, NULL, &h->auth, err)) != 0 ||
        (rc = kumo__ratelimit_new(&p->http.edge, h->spec, &h->limits, err)) != 0)
        goto out;
    h->api = (kumo__api){.project = h->project,
                         .spec = h->spec,
                         .router = h->router,
                         .checks = h->checks,
                         .check_of = kumo__host_lazy_checks ? check_of : NULL,
                         .check_ctx = h,
                         .only_unit = only,
                         .auth = h->auth,
                         .limits = h->limits};
out:
    if (rc != 0)
        kumo__host_free(h);
    else
        *out = h;
    return rc;
}

void kumo__host_free(kumo__host *h)
{
    if (h == NULL)
        return;
    kumo__host_consumers_stop(h);
    if (atomic_load_explicit(&g_outbound_metrics, memory_order_acquire) == h->metrics) {
        kumo__http_set_observer(NULL);
        atomic_store_explicit(&g_outbound_metrics, NULL, memory_order_release);
    }
    kumo__tracer_free(h->tracer); /* a last export of what is buffered */
    kumo__metrics_free(h->metrics);
    free(h->mt_ops);
    free(h->mt_events);
    for (size_t i = 0; h->project && i < h->project->nunits; i++) {
        if (h->invokers)
            kumo__invoker_free(h->invokers[i]);
        if (h->handles && h->handles[i])
            dlclose(h->handles[i]);
    }
    free(h->invokers);
    free(h->handles);
    for (size_t i = 0; h->unit_env && i < h->project->nunits; i++)
        kumo__env_block_free(h->unit_env[i]);
    free(h->unit_env);
    for (size_t i = 0; h->checks && h->spec && i < h->spec->nops; i++)
        kumo__opcheck_free(h->checks[i]);
    free(h->checks);
    free(h->checks_built);
    kumo__ce_routes_free(h->ce);
    kumo__auth_free(h->auth);
    kumo__docs_free(h->docs);
    kumo__router_free(h->router);
    kumo__ratelimit_free(h->limits);
    kumo__spec_free(h->spec);
    kumo__project_free(h->project);
    kumo__frame_writer_free(&h->request);
    kumo__frame_writer_free(&h->response);
    pthread_mutex_destroy(&h->call_lock);
    free(h);
}

static void add(kumo__host_reply *r, const char *name, const char *value, size_t value_len)
{
    if (r->nheaders < sizeof(r->headers) / sizeof(r->headers[0]))
        r->headers[r->nheaders++] = (kumo__host_header){name, value, strlen(name), value_len};
}

/* kumo's own answer with a problem document (what the gateway sends when
 * the pool fails a call). */
static void problem(kumo__host_reply *r, const kumo__http_in *in, int status, const char *title, const char *detail)
{
    r->status = status;
    r->owned =
        kumo__problem_json(status, title, detail, in->path.base, in->path.len, r->request_id, NULL, &r->body_len);
    r->body = r->owned ? r->owned : "";
    if (r->owned == NULL)
        r->body_len = 0;
    add(r, "content-type", "application/problem+json", 24);
}

static const char *run(kumo__host *h, size_t unit, const kumo__http_in *in, kumo__host_reply *r);

void kumo__host_reply_problem(kumo__host_reply *r, const kumo__http_in *in, int status, const char *title,
                              const char *detail)
{
    problem(r, in, status, title, detail);
    add(r, "x-request-id", r->request_id, strlen(r->request_id));
}

void kumo__host_new_request_id(kumo__host *h, char *out, size_t cap)
{
    /* the HTTP loop and the queue consumers (consume.c) both ask */
    snprintf(out, cap, "h%d-%08lx", (int)getpid(), __atomic_add_fetch(&h->seq, 1, __ATOMIC_RELAXED));
}

/* POST /_kumo/events (cloudevents_in.h): each event to its handlers, one
 * after the other, in this process. */
static void handle_cloudevents(kumo__host *h, const kumo__http_in *in, kumo__host_reply *r)
{
    kumo__ce_exchange x;
    kumo__ce_begin(h->ce, in, r->request_id, &x);
    for (size_t i = 0; i < x.nd; i++) {
        const kumo__event_decl *decl = x.d[i].decl;
        if (x.d[i].status != 0)
            continue;
        char detail[300], rid[100];
        if (h->invokers[decl->unit_index] == NULL) {
            int n = snprintf(detail, sizeof(detail), "function unit '%s' is not served here", decl->unit);
            kumo__ce_settle(&x, i, 501, detail, (size_t)n);
            continue;
        }
        snprintf(rid, sizeof(rid), x.nd == 1 ? "%s" : "%s.%zu", r->request_id, i);
        kumo__frame_header fh;
        kumo__frame_reset(&h->request);
        kumo__frame_reset(&h->response);
        /* the producer's trace (the event's extension, else the request's
         * headers) goes on under this invocation's span */
        const char *tp, *ts;
        kumo__ce_trace_of(&x, i, &tp, &ts);
        kumo__host_event_trace t = {0};
        kumo__span_ctx_begin(&t.sc, h->tracer, tp, tp ? strlen(tp) : 0, ts, ts ? strlen(ts) : 0);
        t.sc.symbol = decl->symbol;
        t.start_ns = epoch_ns();
        t.cold = h->served++ == 0;
        if (kumo__ce_frame_traced(&x, i, rid, epoch_ms(), t.sc.traceparent, t.sc.tracestate[0] ? t.sc.tracestate : NULL,
                                  &h->request) != 0) {
            static const char big[] = "the event's request is larger than the frame limit";
            kumo__ce_settle(&x, i, 413, big, sizeof(big) - 1);
            kumo__host_event_trace_end(h, decl, &t, rid, 413, big, NULL, 0);
        } else if (kumo__frame_header_decode(h->request.buf, h->request.len, 0, &fh) != 0 ||
                   kumo__invoker_call(h->invokers[decl->unit_index], h->request.buf + KUMO__FRAME_HEADER_SIZE,
                                      fh.length, &h->response) != 0 ||
                   kumo__frame_header_decode(h->response.buf, h->response.len, 0, &fh) != 0) {
            static const char oom[] = "the host could not run the handler (out of memory?)";
            kumo__ce_settle(&x, i, 500, oom, sizeof(oom) - 1);
            kumo__host_event_trace_end(h, decl, &t, rid, 500, oom, NULL, 0);
        } else {
            const char *rp = h->response.buf + KUMO__FRAME_HEADER_SIZE;
            kumo__ce_settle_response(&x, i, rp, fh.length);
            kumo__response_in ri;
            kumo__response_read(rp, fh.length, &ri);
            kumo__host_event_trace_end(h, decl, &t, rid, ri.error || ri.invalid ? 500 : ri.status,
                                       ri.error || ri.invalid ? "the handler failed" : NULL, rp, fh.length);
        }
    }
    kumo__ce_finish(&x, r->request_id);
    r->status = x.status;
    r->owned = x.body;
    r->body = x.body ? x.body : "";
    r->body_len = x.body_len;
    x.body = NULL;
    if (x.content_type)
        add(r, "content-type", x.content_type, strlen(x.content_type));
    if (x.allow)
        add(r, "allow", x.allow, strlen(x.allow));
    if (x.retry_after)
        add(r, "retry-after", x.retry_after, strlen(x.retry_after));
    if (x.webhook_origin) {
        r->owned2 = x.webhook_origin;
        x.webhook_origin = NULL;
        add(r, "webhook-allowed-origin", r->owned2, strlen(r->owned2));
        add(r, "webhook-allowed-rate", "*", 1);
    }
    kumo__ce_exchange_free(&x);
}

void kumo__host_handle(kumo__host *h, const kumo__http_in *in, const char *request_id, kumo__host_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->body = "";
    if (request_id && *request_id)
        snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
    else
        kumo__host_new_request_id(h, r->request_id, sizeof(r->request_id));
    /* CORS as kumo up answers it (gateway/cors.c): a preflight here,
     * before any route; the headers on every other answer. */
    if (kumo__cors_decide(&h->project->http.edge.cors, in, &r->cors)) {
        for (size_t i = 0; i < r->cors.nheaders; i++)
            add(r, r->cors.headers[i].name, r->cors.headers[i].value, r->cors.headers[i].value_len);
        if (r->cors.status == 204)
            r->status = 204;
        else
            problem(r, in, r->cors.status, "Forbidden", r->cors.detail);
        add(r, "x-request-id", r->request_id, strlen(r->request_id));
        return;
    }
    for (size_t i = 0; i < r->cors.nheaders; i++)
        add(r, r->cors.headers[i].name, r->cors.headers[i].value, r->cors.headers[i].value_len);
    if (kumo__ce_is_path(in->path.base, in->path.len)) {
        handle_cloudevents(h, in, r);
        add(r, "x-request-id", r->request_id, strlen(r->request_id));
        return;
    }

    /* The trace: the caller's traceparent, else the platform's (X-Ray
     * under Lambda), else a new one; the handler's parent is the
     * invocation's span. */
    kumo__span_ctx sc;
    const kumo__slice *tp = header_of(in, "traceparent"), *ts = header_of(in, "tracestate");
    char xray_tp[56];
    kumo__trace_ctx xc;
    int has_parent = 0;
    if (tp == NULL && h->platform_trace &&
        kumo__xray_parse(h->platform_trace, strlen(h->platform_trace), &xc, &has_parent) == 0 && has_parent)
        kumo__traceparent_format(xc.trace_id, xc.span_id, xc.flags, xray_tp);
    else
        has_parent = 0;
    kumo__span_ctx_begin(&sc, h->tracer, tp ? tp->base : (has_parent ? xray_tp : NULL),
                         tp ? tp->len : (has_parent ? KUMO__TRACEPARENT_LEN : 0), ts ? ts->base : NULL,
                         ts ? ts->len : 0);
    uint64_t start_ns = epoch_ns();
    kumo__http_in traced = *in;
    traced.traceparent = sc.traceparent;
    traced.tracestate = sc.tracestate;
    in = &traced;

    kumo__dispatch d;
    kumo__frame_reset(&h->request);
    uint64_t start_us = kumo__mono_us();
    int kind = kumo__dispatch_request(&h->api, in, r->request_id, epoch_ms(), &h->request, &d);
    r->op = d.op;
    r->limit = d.limit; /* http.rate_limits: on whatever answers; the headers point into r */
    const char *rl_names[4], *rl_values[4];
    for (size_t i = 0, n = kumo__ratelimit_headers(&r->limit, rl_names, rl_values); i < n; i++)
        add(r, rl_names[i], rl_values[i], strlen(rl_values[i]));
    if (kind == KUMO__DISPATCH_ANSWER) {
        if (h->metrics)
            kumo__metrics_answered(h->metrics, 0, d.op ? h->mt_ops[d.op_index] : h->mt_noroute, d.status,
                                   kumo__mono_us() - start_us, 0);
        r->status = d.status;
        r->no_route = d.no_route;
        snprintf(r->allow, sizeof(r->allow), "%s", d.allow);
        if (r->allow[0])
            add(r, "allow", r->allow, strlen(r->allow));
        if (d.retry_after == d.limit.retry_after)
            add(r, "retry-after", r->limit.retry_after, strlen(r->limit.retry_after));
        else if (d.retry_after)
            add(r, "retry-after", d.retry_after, strlen(d.retry_after));
        if (d.body) {
            r->owned = d.body;
            r->body = d.body;
            r->body_len = d.body_len;
            d.body = NULL;
            add(r, "content-type", "application/problem+json", 24);
        }
        for (size_t i = 0; i < d.nheaders && !d.borrowed; i++) /* WWW-Authenticate */
            if (strcmp(d.headers[i].name, "www-authenticate") == 0 && r->owned2 == NULL) {
                r->owned2 = d.headers[i].value;
                d.headers[i].value = NULL;
                add(r, "www-authenticate", r->owned2, strlen(r->owned2));
            }
        kumo__dispatch_free(&d);
        add(r, "x-request-id", r->request_id, strlen(r->request_id));
        return;
    }
    kumo__dispatch_free(&d);
    const kumo__operation *op = d.op;
    int cold = h->served++ == 0;
    h->trace_sc = &sc;
    const char *failure = run(h, op->unit_index, in, r);
    h->trace_sc = NULL;
    if (h->tracer) {
        kumo__hex_encode(sc.trace_id, 16, r->trace_id);
        kumo__hex_encode(sc.span_id, 8, r->span_id);
    }
    if (h->metrics) {
        unsigned flags = (failure || r->status >= 500 ? KUMO__INV_ERROR : 0) | (cold ? KUMO__INV_COLD : 0);
        uint64_t took = kumo__mono_us() - start_us;
        double timeout_s = h->project->units[op->unit_index].tuning.timeout_s;
        if (timeout_s > 0 && (double)took > timeout_s * 1e6 * KUMO__LONG_SHARE)
            flags |= KUMO__INV_LONG;
        kumo__metrics_invocation(h->metrics, 0, h->mt_ops[d.op_index], r->status, took, flags);
        kumo__host_emf(h, &(kumo__host_emf_point){.request_id = r->request_id,
                                                  .function = h->project->units[op->unit_index].name,
                                                  .operation = op->operation_id,
                                                  .trigger = "http",
                                                  .status = r->status,
                                                  .error = (flags & KUMO__INV_ERROR) != 0,
                                                  .cold = cold,
                                                  .duration_us = took});
    }
    if (!sc.recording)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%.*s", (int)in->path.len, in->path.base);
    sc.url_path = path;
    sc.symbol = op->symbol;
    char method[16];
    snprintf(method, sizeof(method), "%.*s", (int)(in->method.len < 15 ? in->method.len : 15), in->method.base);
    kumo__inv_record rec = {
        .sc = &sc,
        .http = 1,
        .method = method,
        .route_prefix = h->spec->base_path,
        .route = op->path,
        .trigger = "http",
        .function = h->project->units[op->unit_index].name,
        .operation = op->operation_id,
        .request_id = r->request_id,
        .status = r->status,
        .failure = failure,
        .cold = cold,
        .start_ns = start_ns,
        .end_ns = epoch_ns(),
    };
    kumo__trace_invocation(h->tracer, &rec);
}

/* Runs the request frame in h->request with unit `unit`'s handler and
 * fills r with its answer (or kumo's problem document when it failed).
 * Returns NULL, or why the invocation failed (for its span). The store
 * calls the handler recorded become spans when the request's trace is
 * recorded (h->request's traceparent, which run reads back). */
int kumo__host_apply_unit_env(kumo__host *h, const char *env, kumo__error *err)
{
    const kumo__project *p = h->project;
    if ((h->unit_env = calloc(p->nunits ? p->nunits : 1, sizeof(*h->unit_env))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    h->env_unit = SIZE_MAX;
    for (size_t i = 0; i < p->nunits; i++) {
        int rc = kumo__env_unit_block(p, &p->units[i], env, &h->unit_env[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Whether block holds a variable named like entry ("NAME=..."). */
static int block_has(char **block, const char *entry)
{
    size_t l = (size_t)(strchr(entry, '=') - entry);
    for (size_t i = 0; block && block[i]; i++)
        if (strncmp(block[i], entry, l + 1) == 0)
            return 1;
    return 0;
}

/* Sets unit's env: in this process's environment (kumo test). */
static void switch_unit_env(kumo__host *h, size_t unit)
{
    if (h->unit_env == NULL || h->env_unit == unit)
        return;
    char **now = h->unit_env[unit];
    for (size_t u = 0; u < h->project->nunits; u++)
        for (size_t i = 0; u != unit && h->unit_env[u] && h->unit_env[u][i]; i++)
            if (!block_has(now, h->unit_env[u][i])) {
                char name[256];
                const char *eq = strchr(h->unit_env[u][i], '=');
                snprintf(name, sizeof(name), "%.*s", (int)(eq - h->unit_env[u][i]), h->unit_env[u][i]);
                unsetenv(name);
            }
    for (size_t i = 0; now && now[i]; i++) {
        char name[256];
        const char *eq = strchr(now[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - now[i]), now[i]);
        setenv(name, eq + 1, 1);
    }
    h->env_unit = unit;
}

static const char *run(kumo__host *h, size_t unit, const kumo__http_in *in, kumo__host_reply *r)
{
    const char *failure = NULL;
    switch_unit_env(h, unit);
    kumo__frame_header fh;
    kumo__frame_reset(&h->response);
    const char *payload = h->request.buf + KUMO__FRAME_HEADER_SIZE;
    if (kumo__frame_header_decode(h->request.buf, h->request.len, 0, &fh) != 0 ||
        kumo__invoker_call(h->invokers[unit], payload, fh.length, &h->response) != 0 ||
        kumo__frame_header_decode(h->response.buf, h->response.len, 0, &fh) != 0) {
        problem(r, in, 500, "Handler failed", "the host could not run the handler (out of memory?)");
        failure = "the host could not run the handler";
    } else {
        const char *rp = h->response.buf + KUMO__FRAME_HEADER_SIZE;
        kumo__response_in ri;
        kumo__response_read(rp, fh.length, &ri);
        if (h->trace_sc)
            kumo__trace_store_calls(h->tracer, h->trace_sc, rp, fh.length);
        if (ri.invalid) {
            problem(r, in, 502, "Bad Gateway", ri.invalid);
            failure = "the response cannot be sent";
        } else if (ri.error) {
            failure = "the handler failed";
            char detail[600];
            snprintf(detail, sizeof(detail), "%.*s", (int)(ri.error_len < 500 ? ri.error_len : 500), ri.error);
            problem(r, in, 500, "Handler failed", detail);
        } else {
            r->status = ri.status;
            r->body = ri.body;
            r->body_len = ri.body_len;
            size_t pos = 0;
            const char *name, *value;
            size_t nl, vl;
            int kumo_cors = h->project->http.edge.cors.enabled; /* the Access-Control-* headers are kumo.yaml's */
            while (kumo__response_header(rp, fh.length, &pos, &name, &nl, &value, &vl) == 1)
                if (r->nheaders < sizeof(r->headers) / sizeof(r->headers[0]) - 1 &&
                    !(kumo_cors && kumo__cors_owned_header(name, nl)))
                    r->headers[r->nheaders++] = (kumo__host_header){name, value, nl, vl};
        }
    }
    add(r, "x-request-id", r->request_id, strlen(r->request_id));
    return failure;
}

static const char *trigger_of(kumo__event_kind k)
{
    switch (k) {
    case KUMO__EVENT_SCHEDULE: return "timer";
    case KUMO__EVENT_QUEUE:
    case KUMO__EVENT_TOPIC: return "pubsub";
    case KUMO__EVENT_BLOB: return "datasource";
    case KUMO__EVENT_CLOUDEVENT: return "other";
    }
    return "other";
}

void kumo__host_event_trace_begin(kumo__host *h, const kumo__event_decl *e, const kumo__header_view *headers,
                                  size_t nheaders, kumo__host_event_trace *t)
{
    const kumo__slice *tp = NULL, *ts = NULL;
    for (size_t i = 0; i < nheaders; i++) {
        if (headers[i].name.len == 11 && memcmp(headers[i].name.base, "traceparent", 11) == 0)
            tp = &headers[i].value;
        else if (headers[i].name.len == 10 && memcmp(headers[i].name.base, "tracestate", 10) == 0)
            ts = &headers[i].value;
    }
    kumo__span_ctx_begin(&t->sc, h->tracer, tp ? tp->base : NULL, tp ? tp->len : 0, ts ? ts->base : NULL,
                         ts ? ts->len : 0);
    t->sc.symbol = e->symbol;
    t->start_ns = epoch_ns();
    t->cold = h->served++ == 0;
    /* the same headers, the traceparent the invocation's (added when the
     * producer sent none); without memory, the producer's go as they came */
    t->nheaders = 0;
    t->headers = malloc((nheaders + 1) * sizeof(*t->headers));
    if (t->headers == NULL)
        return;
    for (size_t i = 0; i < nheaders; i++)
        if (&headers[i].value != tp)
            t->headers[t->nheaders++] = headers[i];
    t->headers[t->nheaders++] =
        (kumo__header_view){{"traceparent", 11}, {t->sc.traceparent, strlen(t->sc.traceparent)}};
}

void kumo__host_event_trace_end(kumo__host *h, const kumo__event_decl *e, kumo__host_event_trace *t,
                                const char *request_id, int status, const char *failure, const char *payload,
                                size_t len)
{
    free(t->headers);
    t->headers = NULL;
    if (!t->sc.recording)
        return;
    if (payload)
        kumo__trace_store_calls(h->tracer, &t->sc, payload, len);
    kumo__inv_record rec = {
        .sc = &t->sc,
        .trigger = trigger_of(e->kind),
        .function = h->project->units[e->unit_index].name,
        .operation = e->name,
        .request_id = request_id,
        .status = status,
        .failure = failure,
        .cold = t->cold,
        .start_ns = t->start_ns,
        .end_ns = epoch_ns(),
    };
    kumo__trace_invocation(h->tracer, &rec);
}

void kumo__host_call_event(kumo__host *h, const kumo__event_decl *e, const kumo__http_in *in,
                           const kumo__header_view *headers, size_t nheaders, kumo__slice body, const char *request_id,
                           kumo__host_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->body = "";
    snprintf(r->request_id, sizeof(r->request_id), "%s", request_id);
    const kumo__project *p = h->project;
    if (e->unit_index >= p->nunits || h->invokers[e->unit_index] == NULL) {
        char detail[300];
        snprintf(detail, sizeof(detail), "the event '%s' is handled by unit '%s', which this kumo-host does not serve",
                 e->name, e->unit_index < p->nunits ? p->units[e->unit_index].name : "?");
        problem(r, in, 501, "Not Implemented", detail);
        add(r, "x-request-id", r->request_id, strlen(r->request_id));
        return;
    }
    char path[300];
    snprintf(path, sizeof(path), "/%s", e->name);
    uint64_t timeout_ms = (uint64_t)(p->units[e->unit_index].tuning.timeout_s * 1000.0);
    if (in->deadline_ms && (timeout_ms == 0 || in->deadline_ms < epoch_ms() + timeout_ms))
        timeout_ms = in->deadline_ms > epoch_ms() ? in->deadline_ms - epoch_ms() : 1;
    kumo__frame_reset(&h->request);
    kumo__host_event_trace t;
    kumo__host_event_trace_begin(h, e, headers, nheaders, &t);
    if (kumo__dispatch_event(e->symbol, path, r->request_id, t.headers ? t.headers : headers,
                             t.headers ? t.nheaders : nheaders, body, epoch_ms(), timeout_ms, &h->request) != 0) {
        kumo__host_event_trace_end(h, e, &t, r->request_id, 413, "the event is larger than the frame limit", NULL, 0);
        problem(r, in, 413, "Content Too Large", "the event is larger than the frame limit");
        add(r, "x-request-id", r->request_id, strlen(r->request_id));
        return;
    }
    h->trace_sc = &t.sc; /* run records the store calls */
    uint64_t start_us = kumo__mono_us();
    const char *failure = run(h, e->unit_index, in, r);
    h->trace_sc = NULL;
    if (h->metrics) {
        size_t i = (size_t)(e - p->events);
        uint64_t took = kumo__mono_us() - start_us;
        kumo__metrics_invocation(h->metrics, 0, i < p->nevents ? h->mt_events[i] : -1, r->status, took,
                                 failure || r->status >= 500 ? KUMO__INV_ERROR : 0);
        kumo__host_emf(h, &(kumo__host_emf_point){.request_id = r->request_id,
                                                  .function = p->units[e->unit_index].name,
                                                  .operation = e->name,
                                                  .trigger = kumo__faas_trigger((int)e->kind),
                                                  .status = r->status,
                                                  .error = failure || r->status >= 500,
                                                  .duration_us = took});
    }
    kumo__host_event_trace_end(h, e, &t, r->request_id, r->status, failure, NULL, 0);
}

void kumo__host_reply_free(kumo__host_reply *r)
{
    free(r->owned);
    r->owned = NULL;
    free(r->owned2);
    r->owned2 = NULL;
}
