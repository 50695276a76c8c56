/*
 * host.h: kumo-host, one project's function units outside kumo's runtime.
 *
 *     kumo-host http APPDIR [UNIT]     HTTP on $PORT (Cloud Run, Knative,
 *                                      OpenFaaS, Azure custom handlers)
 *     kumo-host lambda APPDIR [UNIT]   the AWS Lambda Runtime API loop
 *
 * APPDIR is a package's app/ folder (src/deploy/deploy.h): kumo.yaml, the
 * OpenAPI document and the units already built. The units are dlopened
 * into this process and every request goes through kumo__dispatch_request,
 * exactly as kumo up routes and checks it, then straight to the handler:
 * the vendor's platform is the sandbox, and its instance the worker. One
 * invocation at a time, as a kumo worker with concurrency 1.
 */
#ifndef KUMO_HOST_H
#define KUMO_HOST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/cloudevents_in.h"
#include "gateway/cors.h"
#include "gateway/dispatch.h"
#include "gateway/docs.h"
#include "obs/trace.h"
#include "obs/metrics.h"
#include "openapi/check.h"
#include "project/project.h"
#include "project/store_plan.h"
#include "proto/frame.h"
#include "sdk/sdk.h"

/* A lean Lambda package's bootstrap is kumo-lambda itself, run with no
 * arguments: it serves the app/ folder beside it, and the unit named in
 * this file under app/ (deploy/bundle.c writes it). */
#define KUMO__LAMBDA_UNIT_FILE ".kumo/lambda-unit"

/* Set before kumo__host_load (kumo-lambda's main): each operation's
 * schemas are compiled by its first request instead of at load, so a
 * Lambda instance compiles only what it is asked (`kumo build` compiled
 * them all once already). For a host that takes one invocation at a time:
 * nothing here is locked. */
extern int kumo__host_lazy_checks;

typedef struct kumo__host {
    kumo__project *project;
    kumo__spec *spec;
    kumo__router *router;
    kumo__opcheck **checks;
    unsigned char *checks_built; /* under kumo__host_lazy_checks: per operation, 1 once checks[i] is compiled */
    kumo__docs *docs;
    struct kumo__auth *auth; /* the document's security enforced (auth/policy.h), NULL: none */
    kumo__ce_routes *ce;     /* the cloudevent: events, for POST /_kumo/events; NULL: none */
    kumo__api api;
    kumo__ratelimit *limits;    /* http.rate_limits (gateway/ratelimit.h), NULL: none */
    void **handles;             /* per unit: dlopen handle, NULL when not served here */
    kumo__invoker **invokers;   /* per unit */
    kumo__frame_writer request; /* reused per invocation */
    kumo__frame_writer response;
    unsigned long seq; /* request ids when the transport gives none */
    /* held around each invocation: the HTTP loop and the queue consumers
     * (consume.c) take turns, one invocation at a time */
    pthread_mutex_t call_lock;
    struct kumo__host_consumers *consumers; /* NULL unless KUMO_CONSUME=1 */
    /* Traces (docs/traces.md): the tracer (kumo.yaml and the OTEL_*
     * variables, as kumo up), and the platform's trace header of the
     * invocation being served when it has one that is not a traceparent
     * (Lambda's X-Ray Lambda-Runtime-Trace-Id), else NULL. */
    kumo__tracer *tracer;
    /* Metrics (docs/metrics.md): one shard, since invocations take turns
     * under call_lock; NULL with observability: {enabled: false}. Served
     * on $KUMO_METRICS_PORT when it is set (http.c). */
    kumo__metrics *metrics;
    int *mt_ops, *mt_events, mt_noroute;
    const char *platform_trace;
    const kumo__span_ctx *trace_sc; /* the trace of the API invocation being run, else NULL */
    unsigned long served;           /* API invocations so far: the first is the instance's cold start */
    /* Under AWS Lambda, with observability on: each invocation's metrics
     * as one CloudWatch EMF line on stdout (emf.c). */
    int emf;
    /* kumo test: each unit's env: variables (kumo__env_unit_block), set
     * in this process's environment before the unit runs, since several
     * units share it (kumo__host_apply_unit_env); NULL elsewhere, where the
     * platform sets the environment. */
    char ***unit_env;
    size_t env_unit; /* the unit whose variables are set; SIZE_MAX: none yet */
} kumo__host;

/* One invocation, for kumo__host_emf. */
typedef struct kumo__host_emf_point {
    const char *request_id, *function, *operation, *trigger;
    int status, error, cold;
    uint64_t duration_us;
} kumo__host_emf_point;

/* Writes pt as a CloudWatch embedded-metric-format line on stdout when
 * h->emf is set (emf.c); nothing otherwise. */
void kumo__host_emf(const kumo__host *h, const kumo__host_emf_point *pt);

typedef struct kumo__host_consumers kumo__host_consumers;

/* Loads APPDIR and the unit named `unit` (NULL: every unit). Store URLs:
 * KUMO_STORE_<NAME> when set, else the environment $KUMO_ENV (or the
 * project's default one) names, else the embedded default, placed under
 * $KUMO_DATA (default /tmp/kumo-data) when APPDIR is read-only. */
int kumo__host_load(const char *appdir, const char *unit, kumo__host **out, kumo__error *err);
void kumo__host_free(kumo__host *h);
/* Gives each unit the env: of kumo.yaml in environment `env` (NULL: none)
 * in this process: before a unit runs, its variables are set and those
 * only another unit declares are removed. For a process that serves its
 * invocations one at a time (kumo test). 0, or an error naming the
 * reference that cannot be expanded. */
int kumo__host_apply_unit_env(kumo__host *h, const char *env, kumo__error *err);

/* One header of a reply: slices into the reply's own memory. */
typedef struct kumo__host_header {
    const char *name, *value;
    size_t name_len, value_len;
} kumo__host_header;

typedef struct kumo__host_reply {
    int status;
    kumo__host_header headers[KUMO__RESPONSE_HEADERS_MAX + 16]; /* the handler's, and kumo's own (CORS, limits) */
    size_t nheaders;
    const char *body;
    size_t body_len;
    const kumo__operation *op; /* for logs; NULL when none matched */
    char *owned;               /* a problem document the reply points into */
    char *owned2;              /* another string it points into (a WebHook-Allowed-Origin), or NULL */
    char request_id[80];
    char allow[160];
    int no_route; /* 404 because no path matched */
    /* The trace and SERVER span of a handler's invocation, hex, for the
     * access line as kumo up writes it; "" when no handler ran or tracing
     * is off. */
    char trace_id[33], span_id[17];
    kumo__cors_answer cors;        /* CORS headers point into it (gateway/cors.h) */
    kumo__ratelimit_verdict limit; /* RateLimit-* headers point into it (gateway/ratelimit.h) */
} kumo__host_reply;

/* Answers one request: kumo's own answer (problem+json, 204) or the
 * handler's. `request_id` is the platform's (Lambda's) or NULL for a new
 * one. The reply is valid until the next call or kumo__host_reply_free. */
void kumo__host_handle(kumo__host *h, const kumo__http_in *in, const char *request_id, kumo__host_reply *out);
void kumo__host_reply_free(kumo__host_reply *r);
/* A new request id, "h<pid>-<sequence>", for a request that has none of
 * its platform's. */
void kumo__host_new_request_id(kumo__host *h, char *out, size_t cap);

/* Calls the handler of event `e` with one CloudEvents binary-mode request
 * (POST /NAME, the headers given, names lower case, and the body), as kumo
 * up's scheduler and consumers do; `in` is the request that carried it
 * (for problem documents). Fills r as kumo__host_handle does: the
 * handler's answer, or 500/502 when it failed, 501 when its unit is not
 * served here. */
void kumo__host_call_event(kumo__host *h, const kumo__event_decl *e, const kumo__http_in *in,
                           const kumo__header_view *headers, size_t nheaders, kumo__slice body, const char *request_id,
                           kumo__host_reply *r);

/* An event invocation's trace (host.c): begin continues the traceparent
 * among `headers` (else starts a trace) and makes t->headers, the same
 * headers with the invocation's own traceparent (malloc'd: end frees it);
 * end makes the CONSUMER span and its children when the trace is
 * recorded, from the handler's response payload (NULL when there was
 * none) and its status. */
typedef struct kumo__host_event_trace {
    kumo__span_ctx sc;
    kumo__header_view *headers;
    size_t nheaders;
    uint64_t start_ns;
    int cold;
} kumo__host_event_trace;
void kumo__host_event_trace_begin(kumo__host *h, const kumo__event_decl *e, const kumo__header_view *headers,
                                  size_t nheaders, kumo__host_event_trace *t);
void kumo__host_event_trace_end(kumo__host *h, const kumo__event_decl *e, kumo__host_event_trace *t,
                                const char *request_id, int status, const char *failure, const char *payload,
                                size_t len);

/* Fills r (its request_id already set) with kumo's problem document. */
void kumo__host_reply_problem(kumo__host_reply *r, const kumo__http_in *in, int status, const char *title,
                              const char *detail);
/* The Azure Functions function name of event `name` (what the Functions
 * host POSTs to: /FUNCTION): the name itself when it starts with a
 * letter, else "event_" + name. */
void kumo__host_azure_function(const char *name, char *out, size_t cap);

/* events.c: whether `in` is an event a platform pushes (POST
 * /_kumo/events/NAME: CloudEvents binary or structured mode, a Pub/Sub
 * push envelope, an Eventarc Cloud Storage event, a Cloud Scheduler or
 * PingSource tick; an Azure Functions custom-handler invocation of an
 * event's function). 0: it is not (dispatch it as HTTP); 1: it was
 * answered into r (free with kumo__host_reply_free). */
int kumo__host_event(kumo__host *h, const kumo__http_in *in, const char *request_id, kumo__host_reply *r);

/* Fires event `name` once, as a tick pushed to /_kumo/events/NAME would
 * (KUMO_FIRE=NAME: a Kubernetes CronJob's container runs the unit's own
 * image and exits). 0 when the handler answered 2xx, else negative with
 * err set; the outcome is printed on stderr. */
int kumo__host_fire(kumo__host *h, const char *name, kumo__error *err);

/* A message received from event e's queue (consume.c), mapped as a
 * pushed one is (events.c) and handled; r as kumo__host_call_event.
 * trace: the sender's traceparent the message carried (NULL: none, a new
 * trace starts). */
void kumo__host_deliver_message(kumo__host *h, const kumo__event_decl *e, const char *id, const void *body, size_t len,
                                unsigned receives, const char *trace, const char *request_id, kumo__host_reply *r);
/* consume.c: a thread per queue event of the units served here
 * (KUMO_CONSUME=1); stop ends them after the message each holds. */
int kumo__host_consumers_start(kumo__host *h, kumo__error *err);
void kumo__host_consumers_stop(kumo__host *h);

/* http.c: serves until SIGTERM/SIGINT; 0 on a clean stop. */
int kumo__host_serve_http(kumo__host *h, const char *host, int port, kumo__error *err);
/* lean_http.c: the same over kumo's own HTTP/1.1 server, without h2o or
 * OpenSSL (kumo-http); refuses kumo.yaml's http.tls, which needs them. */
int kumo__host_serve_lean(kumo__host *h, const char *host, int port, kumo__error *err);

/* listen.c: a listening TCP socket on host:port (port 0: any) with its
 * address in *sa; its fd, or -1 with err set. */
struct sockaddr_in;
int kumo__host_listen(const char *host, int port, struct sockaddr_in *sa, kumo__error *err);
/* $KUMO_METRICS_PORT's listening socket in *fd, -1 when the variable is
 * not set; 0, or an error (not a port, metrics off, cannot listen). */
int kumo__host_metrics_listen(const kumo__host *h, const char *host, struct sockaddr_in *sa, int *fd, kumo__error *err);

#endif
