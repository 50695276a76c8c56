/*
 * gateway_internal.h: what the rooms of the gateway share. The gateway is
 * split along its concepts:
 *
 *   server.c      start-up, listeners, threads, signals (kumo__gateway_run)
 *   generation.c  everything built from the project's files, and reload
 *   watch.c       a generation's inputs and their fingerprint; kumo dev's watcher
 *   loop.c        each loop's thread, its pools and fork servers per generation
 *   api.c         the API handler: a request to a worker and back
 *   admin.c       /healthz, /readyz, /status, POST /reload, /events (kumo events, kumo invoke)
 *   dashboard.c   /dashboard, /history, /recent: the metrics history's thread, recent invocations
 *   observe.c     where every finished invocation goes: metrics, the recent invocations
 *   access_log.c  one log line per request (shared with kumo-host)
 *   scheduler.c   loop 0's schedule events: ticks to handlers, at most once
 *   consumer.c    queue events: a thread per event receives, loop 0 delivers
 *   topics.c      topic events: their subscriptions, registered per generation
 *   dispatch.c    routing and the contract, transport-free (shared with kumo-host)
 *   h2o_glue.c    h2o requests and responses, problem+json (shared with kumo-host)
 *
 * Memory and threads: a generation is built on the main thread, read-only
 * once published and refcounted; a loop_gen (one loop's pools for one
 * generation) lives and dies on its loop's thread.
 */
#ifndef KUMO_GATEWAY_INTERNAL_H
#define KUMO_GATEWAY_INTERNAL_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <pthread.h>
#include <stdatomic.h>

#include "gateway/cloudevents_in.h"
#include "gateway/docs.h"
#include "gateway/gateway.h"
#include "gateway/dispatch.h"
#include "gateway/h2o_glue.h"
#include "obs/metrics.h"
#include "obs/monitor.h"
#include "obs/trace.h"
#include "openapi/check.h"
#include "project/event_data.h"
#include "project/store_plan.h"
#include "runtime/runtime.h"
#include "sdk/sdk.h"

typedef struct gateway gateway;
typedef struct kumo__gw_sched kumo__gw_sched;
typedef struct kumo__gw_consumers kumo__gw_consumers;
typedef struct kumo__gw_event_stats kumo__gw_event_stats;
typedef struct kumo__gw_dashboard kumo__gw_dashboard;
typedef struct kumo__gw_watch kumo__gw_watch;

/* Everything derived from the project's files. Built on the main thread,
 * read-only once published, freed by whoever drops the last reference. */
typedef struct generation {
    atomic_int refs;
    unsigned long number; /* 1 at start, +1 per successful reload */
    kumo__project *project;
    kumo__spec *spec;
    kumo__router *router;
    kumo__ratelimit *limits; /* http.rate_limits; NULL: none (a reload starts full buckets) */
    kumo__docs *docs;
    /* kumo mock's state, recordings and faults (mock_modes.h); NULL: none */
    struct kumo__mock_modes_rt *modes;
    kumo__opcheck **checks;    /* one per operation: the contract enforced */
    kumo__schema **event_data; /* one per event: its data: schema compiled (project/event_data.h), or NULL */
    kumo__api api;             /* the above, as kumo__dispatch_request reads them */
    char **so_links;           /* per unit: this generation's hard link to the .so, or NULL (use so_path) */
    kumo__store_plan stores;   /* where each store lives (project/store_plan.h) */
    kumo__ce_routes *ce;       /* the cloudevent: events, for POST /_kumo/events; NULL: none */
    struct kumo__auth *auth;   /* the document's security enforced (auth/policy.h), NULL: none to enforce */
    struct kumo__mock *mock;   /* mock mode's engine (mock.h), NULL: operations without a handler answer 501 */
    char **envp;               /* the workers' environment: kumo's needs and the stores' variables (one block) */
    char ***unit_env;          /* per unit: its env: variables expanded, NAME=value (one block each; NULL: none) */
    /* services: placed, secrets expanded (egress.c); NULL: none */
    struct kumo__gw_services *services;
    /* Metrics targets (gw->metrics, obs/metrics.h): one per operation, one
     * per event, and the one of requests no operation matched. -1: none. */
    int *mt_ops, *mt_events, mt_noroute;
    char data_dir[4096];
    int debug_unit; /* kumo dev --debug: 1 + the index of the unit made debuggable (debug.c); 0: none */
    /* What it was built from and their fingerprint (watch.c): a reload
     * whose inputs still match it changes nothing. 0: always rebuild. */
    char **inputs;
    size_t ninputs;
    uint64_t fingerprint;
    uint64_t build_ms; /* the compilers' time in this generation's build */
    gateway *gw;
} generation;

/* One loop's pools for one generation, and what still uses them: requests
 * not yet disposed and calls not yet answered. Only its loop touches it,
 * except /status, which reads the pools under gw->lock. */
typedef struct loop_gen {
    generation *gen;        /* one reference */
    kumo__spawner *spawner; /* starts this loop's workers for gen's units (its fork server, or exec) */
    kumo__pool **pools;     /* one per unit of gen->project */
    size_t users;
    uint64_t retiring_since;    /* 0, or when its workers were told to stop (tick_pools) */
    struct loop_gen *next;      /* the loop's retired list */
    struct loop_thread *thread; /* its loop (the egress answers there) */
} loop_gen;

/* A retired generation's workers get this long to exit after EOF, and
 * its fork server as long again, before they are killed. */
#define RETIRE_GRACE_MS 1000
#define EXITING_MAX 16
/* Draining: a connection that waits this long for a request is closed; the
 * drain gives up on what is still open after the longest function timeout
 * plus DRAIN_SLACK_MS (a client that reads its response very slowly). */
#define DRAIN_IDLE_MS 1000
#define DRAIN_SLACK_MS 10000
/* The admin listener's bound on open connections: a few tools at a time. */
#define ADMIN_MAX_CONNECTIONS 64

/* A POST /reload waiting (on loop 0) for the main thread's answer. */
typedef struct reload_wait {
    h2o_req_t *req;            /* NULL once the client went away */
    struct reload_wait **slot; /* in the request pool; cleared on dispose */
    unsigned long ticket;
    struct reload_wait *next;
} reload_wait;

#define GW_FREE_CALLS_MAX 64

typedef struct loop_thread {
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    h2o_evloop_t *loop;
    kumo__listener *listener;
    h2o_context_t admin_ctx;
    h2o_accept_ctx_t admin_accept;
    kumo__listener *admin_listener;
    loop_gen *live;                /* new requests go here; lists change under gw->lock */
    loop_gen *retired;             /* older generations still draining */
    uint64_t switch_failed_ms;     /* when making pools for a new generation last failed */
    reload_wait *reload_waits;     /* loop 0 only */
    kumo__gw_sched *sched;         /* loop 0 only: the schedule events (scheduler.c); NULL until there are some */
    kumo__gw_consumers *consumers; /* loop 0 only: the queue events (consumer.c); NULL until there are some; other loops
                                      read it atomically */
    loop_gen *spent;               /* stopped at exit; freed by gateway_free */
    size_t inflight;               /* calls in flight, every generation, schedule ticks included */
    uint64_t drain_since;          /* when this loop saw gw->draining; 0: serving */
    int cpu;                       /* --cpu-affinity: the CPU this loop, its fork servers and workers run on; -1: any */
    pid_t exiting[EXITING_MAX];    /* stopped fork servers not yet reaped */
    uint64_t exiting_since[EXITING_MAX];
    int nexiting;
    uint32_t seq;
    pthread_t tid;
    int index;
    gateway *gw;
    struct kumo__gw_outlet *outlet; /* where other threads hand back this loop's work (outlet.c) */
    struct gw_call
        *free_calls[GW_FREE_CALLS_MAX]; /* api.c: finished calls kept for the next, with their frame buffer */
    int nfree_calls;
} loop_thread;

struct gateway {
    kumo__gateway_config cfg;
    int dev, strict; /* --dev: check responses too; --strict: refuse bad ones */
    h2o_globalconf_t conf, admin_conf;
    int *listen_fds, nlisten; /* one per loop, sharing the port */
    size_t max_conns;         /* each loop's bound on open connections, set at start */
    int admin_fd;
    SSL_CTX *ssl_ctx; /* http.tls, read at start (tls.c); NULL: plain HTTP */
    int port, admin_port;
    loop_thread *threads;
    int nthreads;
    atomic_int draining;
    /* Bytes of request bodies the gateway holds for requests not yet
     * disposed, all loops together: h2o's buffer of each body and its copy
     * in the frame to a worker. Bounded by http.body_budget. */
    atomic_size_t bodies_held;
    pthread_mutex_t stop_lock; /* loops drained so far; pools go once all have */
    pthread_cond_t stop_cond;
    int nstopped, nstarted;
    int barrier_ready;
    char id_prefix[9];

    /* Generations. `lock` guards current, every loop's live and retired
     * lists (so /status can read other loops' pools) and the reload
     * outcome. */
    pthread_mutex_t lock;
    int lock_ready;
    generation *current;
    atomic_ulong current_number; /* current->number, for the loops' check after each wait */
    atomic_int generations;      /* alive, current included */
    pthread_t main_tid;
    unsigned long reload_asked, reload_done; /* tickets of POST /reload */
    unsigned long reload_sent;               /* the last ticket the main thread was signalled for */
    unsigned long reload_queued;             /* the ticket waiting for the running reload to end, if above done */
    uint64_t reload_sent_ms;                 /* when it was signalled; 0: never */
    int reload_failed;                       /* the last reload's outcome */
    char reload_msg[2048];
    unsigned long reloads; /* attempts so far */
    int reload_unchanged;  /* the last reload found nothing changed (no generation) */
    /* The last failed build's message (the compiler's first lines), shown
     * on /docs until a reload succeeds; "" when none. Under `lock`. */
    char build_error[2048];
    /* kumo dev (watch.c): the watcher, and the change it asks the main
     * thread to reload for (under `lock`; pending cleared by the reload). */
    kumo__gw_watch *watch;
    struct {
        int pending;
        char names[512];
        int64_t detected_ms, debounced_ms;
    } devwatch;
    char *const *start_env;            /* the environment kumo up started with; workers' environments start from it */
    kumo__gw_event_stats *event_stats; /* admin.c; the list changes under `lock` */
    kumo__metrics *metrics;            /* for the gateway's life: a reload keeps the counts (observe.c) */
    kumo__log_sink log_sink;           /* with kumo up's log store: its lines go there directly (base/log.h) */
    kumo__monitor *monitor;            /* monitors and alerts (obs/monitor.h); NULL before start and after drain */
    kumo__gw_dashboard *dash;          /* dashboard.c: the history's thread, the recent invocations */
    kumo__tracer *tracer;              /* for the gateway's life, from the first generation (tracing.c) */
    struct kumo__gw_egress *egress;    /* the outbound calls' thread (egress.c); NULL when it could not start */
    _Atomic(struct kumo__gw_slow_work *) slow_work; /* the slow-work threads (slow_work.c); NULL until used */
    struct kumo__mock_set *mocks; /* the kumo mock children of services without a URL (service_mocks.c); main
                                    thread only */
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
    size_t body_cost; /* counted in gw->bodies_held until the request is disposed */
    gateway *gw;
    struct api_parked *parked; /* while its password is checked (api.c) */
} req_hold;

struct gw_call {
    kumo__call call; /* first: the pool hands this pointer back */
    h2o_req_t *req;  /* NULL once the client went away */
    req_hold *hold;  /* in the request pool; valid while req is */
    loop_thread *t;
    loop_gen *lg; /* counted in lg->users until the worker answers */
    const kumo__operation *op;
    size_t op_index;
    uint64_t start_us;
    char request_id[48];
    char method[16];
    char path[256];
    kumo__span_ctx span; /* its trace context (tracing.c) */
};

/* ---- between the rooms ------------------------------------------------------ */

/* outlet.c: a loop's inbox for work other threads finish (the egress
 * thread's calls, the password checks' parked requests). An item embeds a
 * kumo__gw_posted; deliver runs on the loop's thread, live 1, or with
 * live 0 once the loop is gone (only free it then). */
typedef struct kumo__gw_posted {
    struct kumo__gw_posted *next_posted;
    void (*deliver)(struct kumo__gw_posted *p, int live);
} kumo__gw_posted;
/* Opened when the loop starts (t->outlet), closed once its pools are
 * stopped; freed by gateway_free after every posting thread is stopped. */
int kumo__gw_outlet_open(loop_thread *t);
void kumo__gw_outlet_close(loop_thread *t);
void kumo__gw_outlet_free(loop_thread *t);
/* Any thread. */
void kumo__gw_outlet_post(struct kumo__gw_outlet *o, kumo__gw_posted *p);
/* Any thread: the loop wakes (and, once awake, follows the current
 * generation) with nothing posted. */
void kumo__gw_outlet_wake(struct kumo__gw_outlet *o);

/* slow_work.c: requests parked while a thread checks a password
 * (dispatch's KUMO__DISPATCH_PARK). The thread starts with the first one
 * and is stopped (joined, its jobs dropped) by kumo__gw_slow_work_free
 * after the loops, before the generations are freed. */
typedef struct kumo__gw_auth_parked {
    kumo__gw_posted post; /* first; deliver set by the caller */
    struct kumo__gw_auth_parked *next;
    kumo__slow_job *job; /* run on the thread, then post goes to outlet */
    struct kumo__gw_outlet *outlet;
} kumo__gw_auth_parked;
/* 0: queued; -EBUSY: too many waiting; -EAGAIN: no thread. Any loop. */
int kumo__gw_slow_work_submit(gateway *gw, kumo__gw_auth_parked *p);
void kumo__gw_slow_work_free(gateway *gw);

/* egress.c: the workers' outbound HTTP calls (docs/outbound.md) */
/* Places g's services (kumo.yaml services:, the environment's URLs,
 * secrets expanded) and, in --dev, loads their documents: g->services. */
int kumo__gw_services_build(gateway *gw, generation *g, kumo__error *err);
void kumo__gw_services_release(struct kumo__gw_services *s);
/* The services' lines of kumo up's start-up summary ("NAME -> URL (from)"). */
void kumo__gw_services_print(const generation *g);
/* The egress thread, for the gateway's life: start before the loops,
 * free after they are joined. */
int kumo__gw_egress_start(gateway *gw, kumo__error *err);
void kumo__gw_egress_free(gateway *gw);
/* The pools' on_http_call (ctx: the loop_gen). */
void kumo__gw_egress_call(void *ctx, kumo__pool_anchor *anchor, uint64_t worker, uint32_t id, const char *payload,
                          size_t len);

/* generation.c */
int kumo__gw_generation_build(gateway *gw, unsigned long number, const generation *previous, generation **out,
                              int *built, kumo__error *err);
void kumo__gw_generation_release(generation *g);
size_t kumo__gw_largest_body(const kumo__project *p);
/* Each loop's bound on open client connections for project p served by
 * `loops` loops: http.max_connections, or derived from the open-files
 * limit less what workers, fork servers and stores need. */
size_t kumo__gw_connection_bound(const kumo__project *p, int loops);
void kumo__gw_reload(gateway *gw);

/* watch.c: a generation's inputs (kumo.yaml, the documents, kumo.h, the
 * units' sources and included headers) and their fingerprint, noted once
 * it is built; started_ns (CLOCK_REALTIME) is when its build began: an
 * input written since makes the fingerprint 0 (never unchanged). */
int kumo__gw_inputs_note(generation *g, int64_t started_ns);
/* Whether g's inputs are as they were when it was built. */
int kumo__gw_inputs_unchanged(const generation *g);
/* kumo dev's watcher thread (after gw->main_tid and gw->current are set);
 * refresh after a reload (main thread) watches the new inputs' folders. */
int kumo__gw_watch_start(gateway *gw, kumo__error *err);
void kumo__gw_watch_refresh(gateway *gw);
void kumo__gw_watch_stop(kumo__gw_watch *w);

/* loop.c */
void *kumo__gw_thread_main(void *arg);
void kumo__gw_loop_gen_free_list(loop_gen *lg);

/* scheduler.c, on loop 0 only. Follows the loop's live generation's
 * events, fires the ticks that are due (not while draining: the caller
 * stops calling) and returns how long the loop may wait for the next one:
 * at most max_wait_ms. */
/* An event call's outcome (a schedule tick, a queue message) as an HTTP
 * status, and what says why it failed: the worker's error, or the
 * handler's own body for a status of body_from or more; *error is NULL
 * when there is nothing to say. Points into payload. */
int kumo__gw_event_outcome(enum kumo__call_result result, const char *payload, size_t len, int body_from,
                           const char **error, size_t *error_len);
int kumo__gw_sched_run(loop_thread *t, int max_wait_ms);
/* Frees the events' state, once no tick is in flight (after the pools
 * stopped). */
void kumo__gw_sched_free(loop_thread *t);
/* The outcome of a tick fired by hand: the handler's status (or 429/503
 * when the pool refused it, 502 for a crash, 504 for a timeout), the
 * tick's request id, and the handler's error (NULL, or error_len bytes). */
typedef void kumo__gw_fire_cb(void *ctx, int status, const char *request_id, const char *error, size_t error_len,
                              uint64_t duration_us);
/* POST /events/NAME/fire (admin.c, on loop 0): fires the schedule event
 * `name` now (ce-time = now, `ce-kumotrigger: manual`), without touching
 * its planned schedule or its .last file. Returns 0 when the tick was
 * started: `cb` is then called exactly once with its outcome (maybe
 * before this returns). -ENOENT: no such schedule event (`why` lists the
 * known ones); -EBUSY: a run of it is still going and overlap is false. */
int kumo__gw_sched_fire(loop_thread *t, const char *name, size_t name_len, kumo__gw_fire_cb *cb, void *ctx, char *why,
                        size_t why_len);

/* consumer.c, on loop 0 only. Follows the live generation's queue events
 * (a consumer thread each), submits the messages they received to the
 * pools, and stops them all once gw->draining is set. Call after each
 * wait. */
void kumo__gw_consumers_run(loop_thread *t);
/* Whether loop t can wait without the periodic tick as far as the queue
 * events go: there are none, in the live generation or still running. */
int kumo__gw_consumers_idle(loop_thread *t);
/* Stops and joins every consumer, once the pools answered every call
 * (after loop_gen_stop): what is not acked goes back to its queue. */
void kumo__gw_consumers_free(loop_thread *t);
/* consumer.c, on the other loops: their share of the calls. _serve
 * submits what the consumers handed to loop t (call after each wait);
 * _close, once loop t left its event loop and before the loops' stop
 * barrier, hands back what is left and takes no more. */
void kumo__gw_consumers_serve(loop_thread *t);
void kumo__gw_consumers_close(loop_thread *t);

/* cloudevents_in.c: POST /_kumo/events (api.c hands it over after the
 * head checks). Answers req now, or once every handler answered; holds
 * lg (lg->users) while calls are in flight. */
void kumo__gw_cloudevents(loop_thread *t, loop_gen *lg, h2o_req_t *req, const kumo__http_in *in, const char *request_id,
                          uint64_t start_us);

/* admin.c: per-event figures for `kumo events` (GET /events), one record
 * per event name for the gateway's life, so they survive a reload. The
 * consumers update them (consumer.c: received when handed to loop 0,
 * settled when acked or nacked); a `kumo invoke` of a queue event waits
 * on them for its message's first answer. Thread-safe. */
/* The record of event `name` (made on first use); NULL when out of memory
 * (the hooks below then do nothing). */
kumo__gw_event_stats *kumo__gw_event_stats_of(gateway *gw, const char *name);
void kumo__gw_event_received(kumo__gw_event_stats *s, size_t n);
/* One message settled: `attempted` (it reached a handler, which answered
 * `status`), `last` (it failed on its max_receives-th receive: it goes to
 * the dead-letter queue), with the call's request id and error. */
void kumo__gw_event_settled(kumo__gw_event_stats *s, const char *message_id, int attempted, int status, int last,
                            const char *request_id, const char *error);
void kumo__gw_event_stats_free(gateway *gw);

/* topics.c, on the main thread. Makes each topic's subscriptions p's topic
 * events exactly (subscribes them; unsubscribes those no longer declared,
 * keeping their queues): 0, or an error naming the topic. */
struct kumo__queue;
int kumo__gw_topics_subscribe(const kumo__project *p, const kumo__store_plan *plan, kumo__error *err);
/* The queue of topic event d's subscription, opened through its topic's
 * driver (the caller's, kumo__store_close): 0, or a code with err set. */
int kumo__gw_topic_queue_open(const kumo__store_plan *plan, const kumo__event_decl *d, struct kumo__queue **out,
                              kumo__error *err);

/* blob_events.c: blob storage events, consumed by consumer.c from the
 * outbox the file: blob driver writes. */
/* Refuses (file:line:column) a blob event whose store the plan does not
 * place on file: (no driver records its events under kumo up). */
int kumo__gw_blob_events_check(const kumo__project *p, const kumo__store_plan *plan, kumo__error *err);
/* The URL of the queue event d is consumed from: its store's (`place`,
 * the plan's entry for d->queue, or d->blob for a blob event), or for a
 * blob event the outbox beside the objects, into buf. NULL: none. */
const char *kumo__gw_event_queue_url(const kumo__event_decl *d, const kumo__store_place *place, char *buf, size_t size);
/* On the consumer's thread, after a receive: drops (ack, info line) or
 * puts back (nack until it is older than the visibility) the created
 * events whose object is not there; returns how many of msgs[0..n) are
 * left to deliver, moved to the front. */
size_t kumo__gw_blob_events_sort(const char *event, const kumo__event_decl *d, const kumo__store_place *place,
                                 kumo__queue *q, kumo_queue_message *msgs, size_t n);
/* A blob event message's CloudEvents attributes (source is set even when
 * it is not one: -1, and the message goes as a queue message would). */
typedef struct kumo__gw_blob_attrs {
    const char *type; /* dev.kumo.blob.created or dev.kumo.blob.deleted */
    char source[512]; /* /kumo/PROJECT/blobs/STORE */
    char subject[KUMO_BLOB_KEY_MAX + 1];
    char time[40]; /* the write's, "" when the message has none */
} kumo__gw_blob_attrs;
int kumo__gw_blob_event_attrs(const kumo__project *p, const kumo__event_decl *d, const char *body, size_t len,
                              kumo__gw_blob_attrs *out);

/* observe.c: every finished invocation, HTTP or event, on its loop's
 * thread: the metrics, and what hangs off them (docs/metrics.md). */
typedef struct kumo__gw_obs {
    int target; /* the generation's mt_ops[] or mt_events[] id */
    const char *function, *operation, *route, *method, *trigger;
    const char *request_id;
    int status; /* the HTTP status answered, or the event's outcome as one */
    enum kumo__call_result result;
    int cold;
    uint64_t start_us;       /* monotonic: the request arrived, or the event was submitted */
    uint64_t start_epoch_us; /* the same instant on the wall clock */
    uint64_t dispatched_us;  /* monotonic: the pool sent it to a worker (0: never) */
    uint64_t end_us;         /* monotonic */
    double timeout_s;        /* the function's */
    pid_t worker_pid;
    const struct kumo__span_ctx *span; /* the invocation's trace context (tracing.c); NULL: not traced */
} kumo__gw_obs;
void kumo__gw_observe(loop_thread *t, const kumo__gw_obs *o);
/* An event call's end (scheduler.c, consumer.c, cloudevents_in.c): fills
 * a kumo__gw_obs from the declaration of `event` in g (the generation the
 * call ran in) and the call. */
void kumo__gw_observe_event(loop_thread *t, const generation *g, const char *event, const kumo__call *call,
                            enum kumo__call_result result, int status, uint64_t start_us, const char *request_id,
                            const kumo__span_ctx *span);
/* The answers the gateway gives without an invocation, and admission's refusals. */
void kumo__gw_observe_answered(loop_thread *t, const generation *g, int op_index, int status, uint64_t start_us,
                               int rejected);
/* debug.c (kumo dev --debug OPERATION): _apply, once g's operations are bound, makes the operation's
 * unit debuggable (no deadline, one worker) or says which operations there
 * are; _unit names it (NULL: none); _ready, when a worker of g says hello,
 * prints how to attach to it and writes .vscode/launch.json. */
int kumo__gw_debug_apply(gateway *gw, generation *g, kumo__error *err);
const char *kumo__gw_debug_unit(const generation *g);
void kumo__gw_debug_ready(gateway *gw, const generation *g, const char *unit_name, pid_t pid);
/* crash_report.c: the pools' on_crash (ctx: the loop_gen): the crashed
 * worker's backtrace, symbolized off the loop, logged with its request id;
 * its core moved to core.<function>.<pid> (kumo up --core-dumps). */
void kumo__gw_on_crash(void *ctx, const kumo__crash *crash);
/* The pools' on_ready (ctx: the loop_thread). */
void kumo__gw_on_worker_ready(void *ctx, const char *unit_name, pid_t pid, uint64_t init_us);
/* tracing.c: the tracer, made at start from the first generation's
 * kumo.yaml and the OTEL_* variables (0, or an error naming what is
 * wrong); the spans of a finished invocation (from kumo__gw_observe); the
 * store calls a worker recorded in a response's payload (result OK only:
 * a failed call's payload is its error text), as CLIENT spans. */
int kumo__gw_tracer_start(gateway *gw, const kumo__project *p, kumo__error *err);
void kumo__gw_trace_observed(gateway *gw, const kumo__gw_obs *o);
/* A reload keeps the tracer: says (warn) when observability.traces changed. */
void kumo__gw_trace_reload_check(const kumo__project *was, const kumo__project *now);
void kumo__gw_trace_store_calls(gateway *gw, const kumo__span_ctx *sc, enum kumo__call_result result,
                                const char *payload, size_t len);
/* An event's context: continues `traceparent` (NULL or invalid: a new
 * trace), for the handler `symbol`. */
void kumo__gw_trace_event_begin(gateway *gw, kumo__span_ctx *sc, const char *traceparent, const char *tracestate,
                                const char *symbol);
/* generation.c: the metrics targets of g's operations and events. */
int kumo__gw_metrics_targets(gateway *gw, generation *g, kumo__error *err);
/* admin.c: how long the oldest call running on a worker of `function`
 * (any loop, any generation) has run, in microseconds (0: none), and in
 * *usual_us how long its warm calls usually run (the largest of its pools'
 * moving averages; 0: not known yet). Any thread; takes gw->lock. */
uint64_t kumo__gw_oldest_running_us(gateway *gw, const char *function, uint64_t *usual_us);
/* generation.c: hands g (one more reference) to the monitor, which
 * watches with it from its next round. */
void kumo__gw_monitor_generation(gateway *gw, generation *g);
/* GET /metrics: the Prometheus text (malloc'd), with the gauges read from
 * the pools under gw->lock and the events' counters. */
char *kumo__gw_metrics_text(gateway *gw);

/* dashboard.c (docs/dashboard.md). _start (main thread, before the loops
 * start, signals blocked): the recent invocations' per-loop records;
 * _history_open (main thread, once the loops serve): the metrics history's
 * file and thread unless observability.metrics.history is 0 (until then
 * GET /history answers 503); _stop after the loops stopped (the history
 * records one last point).
 * _page answers GET /dashboard (served without the admin token: the page
 * holds no data), _route GET /history and /recent: 1 when it answered. */
int kumo__gw_dashboard_start(gateway *gw, const generation *g, kumo__error *err);
int kumo__gw_dashboard_history_open(gateway *gw, kumo__error *err);
void kumo__gw_dashboard_stop(gateway *gw);
/* After a reload built p (main thread): a warn line when p's history
 * settings differ from those the history runs with (they wait for a
 * restart). */
void kumo__gw_dashboard_reloaded(gateway *gw, const kumo__project *p);
int kumo__gw_dashboard_page(gateway *gw, h2o_req_t *req);
int kumo__gw_dashboard_route(gateway *gw, h2o_req_t *req);
/* From kumo__gw_observe: keeps o when it failed or was among the slowest. */
void kumo__gw_recent_observe(loop_thread *t, const kumo__gw_obs *o);

/* admin.c: runs fn(arg, generation, ...) on a thread of its own (an admin
 * job: file or store reads never block loop 0) and answers req with the
 * JSON it returns, or with a problem of *status and detail when it returns
 * NULL. free_arg(arg) once done, whatever happened. On loop 0. */
typedef json_t *kumo__gw_job_fn(void *arg, const generation *g, int *status, char *detail, size_t detail_len);
void kumo__gw_admin_job(gateway *gw, h2o_req_t *req, kumo__gw_job_fn *fn, void *arg, void (*free_arg)(void *));

/* api.c and admin.c: the h2o handlers of the two listeners */
int kumo__gw_on_api_req(h2o_handler_t *self, h2o_req_t *req);
/* api.c: frees the calls loop t keeps for reuse (after its pools are gone). */
void kumo__gw_free_calls(loop_thread *t);
int kumo__gw_on_admin_req(h2o_handler_t *self, h2o_req_t *req);
/* Answers the POST /reload requests whose reload has run (all when
 * `closing`). On loop 0. */
void kumo__gw_answer_reload_waits(loop_thread *t, int closing);
/* Whether a POST /reload is queued behind the running one (loop 0's tick
 * starts it). Takes gw->lock. */
int kumo__gw_reload_queued(gateway *gw);
/* Any thread: every loop wakes now and looks at the gateway's state (a
 * new generation, the drain) instead of at the end of its wait. */
void kumo__gw_wake_loops(gateway *gw);

#endif
