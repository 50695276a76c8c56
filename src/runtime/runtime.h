/*
 * runtime.h: the gateway's side of function execution. build.c turns a
 * unit's sources into a shared object and reads its exported symbols;
 * spawner.c starts a loop's worker processes (through its fork server, or
 * by exec when there is none); pool.c owns the workers of one unit on one
 * event loop and moves invocations to them as frames (frame.h).
 */
#ifndef KUMO_RUNTIME_H
#define KUMO_RUNTIME_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/clock.h"
#include "base/log.h"
#include "project/project.h"
#include "proto/frame.h"

/* ---- build.c ----------------------------------------------------------- */

/* The directory holding kumo.h: $KUMO_INCLUDE, else the install's
 * ../include beside the executable, else the source tree's. */
const char *kumo__include_dir(void);
/* The kumo-worker executable beside the running kumo. */
const char *kumo__worker_path(void);
/* kumo-host (src/host): next to the kumo binary; $KUMO_HOST overrides. */
const char *kumo__host_path(void);
/* kumo-lambda, the lean Lambda host (the lambda adapter alone, AWS drivers
 * only): $KUMO_LAMBDA_HOST, else beside the running kumo. */
const char *kumo__lambda_host_path(void);
/* kumo-http, the lean http host (the http adapter over kumo's own HTTP/1.1
 * server, the clouds' drivers only): $KUMO_HTTP_HOST, else beside the
 * running kumo. */
const char *kumo__http_host_path(void);

/* Builds every unit whose .so is older than its sources, the headers its
 * last build included (NAME.d) or kumo.h (or missing), with $CC
 * (default cc). Compiler messages go to stderr as the compiler prints
 * them, and a failed build's first lines are in err after "function unit
 * 'NAME' did not compile:\n"; *built counts the units rebuilt. */
int kumo__build_units(const kumo__project *p, int *built, kumo__error *err);

/* The files a make rule (a compiler's -MMD output) names as
 * prerequisites, "\\ " unescaped: a NULL-terminated array in one
 * allocation (free() it), or -errno (-EFBIG over 1 MiB). */
int kumo__read_deps(const char *d_path, char ***out);
/* kumo__read_deps of the unit's NAME.d, written by its last successful
 * build: its sources and every header they include (not system ones). */
int kumo__unit_deps(const kumo__unit *u, char ***out);

/* Exported (defined, global, function) symbols of a shared object: a
 * NULL-terminated array of strings in one allocation (free() it). */
int kumo__elf_symbols(const char *so_path, char ***out, kumo__error *err);

/* ---- binding operations to units: the one set of rules kumo up, kumo lint,
 * kumo-host and the deploy targets follow ---------------------------------- */

/* What binding found about one operation. */
enum kumo__bind_kind {
    KUMO__BIND_NO_HANDLER,  /* no operationId or x-kumo-handler: it answers 501 */
    KUMO__BIND_NO_UNIT,     /* x-kumo-handler names a unit kumo.yaml lacks: refused */
    KUMO__BIND_NOT_IN_UNIT, /* x-kumo-handler's unit does not define the symbol: it answers 501 */
    KUMO__BIND_NOT_FOUND,   /* no unit defines the symbol: it answers 501 */
    KUMO__BIND_AMBIGUOUS,   /* two units define it and x-kumo-handler does not say which: refused */
};

typedef struct kumo__bind_finding {
    enum kumo__bind_kind kind;
    int refused; /* kumo up does not start; otherwise the operation answers 501 */
    const kumo__operation *op;
    const char *file;    /* the spec, and the position of the name of the handler */
    int line, col;       /* (or of the operation); 0 when unknown */
    const char *message; /* what is wrong and what to do; no position, no operation */
} kumo__bind_finding;

/* Called once per finding; `f` and its strings live only during the call. */
typedef void kumo__bind_cb(void *data, const kumo__bind_finding *f);

enum kumo__bind_mode {
    KUMO__BIND_STOP_AT_REFUSAL, /* kumo up: the first refusal is the error */
    KUMO__BIND_REPORT_ALL,      /* kumo lint: every finding, and return 0 */
};

/* Every unit's exported symbols (kumo__elf_symbols), indexed like
 * p->units: *syms is malloc'd, free it with kumo__unit_symbols_free. A .so
 * that cannot be read is an error naming its unit. */
int kumo__unit_symbols(const kumo__project *p, char ****syms, kumo__error *err);
void kumo__unit_symbols_free(const kumo__project *p, char ***syms);

/* Binds every operation to a unit (op->unit_index; -1 when unbound) by
 * x-kumo-handler's unit or by finding the symbol in exactly one unit, from
 * the symbol tables `syms` (indexed like p->units; syms[u] NULL: unit u's
 * symbols are not known, as when it did not build, and an operation whose
 * binding depends on them is neither bound nor reported). Each finding goes
 * to cb (may be NULL). In stop mode the first refusal also sets err
 * ("spec:line:col: METHOD PATH: message") and is returned; in report-all
 * mode binding goes on and the return is 0. */
int kumo__bind_symbols(const kumo__project *p, kumo__spec *spec, char **const *syms, enum kumo__bind_mode mode,
                       kumo__bind_cb *cb, void *data, kumo__error *err);

/* kumo up's binding: reads every unit's symbols, then kumo__bind_symbols
 * in stop mode; operations left answering 501 are reported through `warn`
 * (one line each, "METHOD PATH: message"). */
int kumo__bind_operations(const kumo__project *p, kumo__spec *spec, void (*warn)(const char *line), kumo__error *err);

/* ---- spawner.c: how a loop's workers are started ------------------------ */

/* A spawner starts the workers of a loop's pools; pool.c knows it only
 * through these methods and never learns who a worker's parent is. The
 * spawner kumo__spawner_start makes owns both strategies: a fork server
 * (`kumo-worker --fork-server`, forkserver.h) while it runs, and an exec of
 * kumo-worker per worker (posix_spawn) when it cannot start or has died.
 * Another spawner (a test's fake) is a struct that begins with
 * kumo__spawner, its `methods` pointing at its own table (SQLite's VFS). */
struct st_h2o_evloop_t;
struct st_h2o_socket_t;
typedef struct kumo__spawner kumo__spawner;

#define KUMO__SPAWNER_VERSION 3

typedef struct kumo__spawner_methods {
    int version; /* KUMO__SPAWNER_VERSION */
    /* Starts a worker of unit `unit` on `fd` (the worker's end of its
     * socket; the caller still closes its own copy). 0 and either *pid (the
     * worker's pid, known now) or *pid = 0 and *tag (the pid comes later
     * through the pid callback, or the worker's hello); or -errno and err. */
    int (*spawn)(kumo__spawner *s, int unit, int fd, uint32_t *tag, pid_t *pid, kumo__error *err);
    /* Like waitpid(pid, WNOHANG): 1 and *status when `pid` has exited (*oom:
     * its memory cgroup's OOM killer struck; its cgroup is released), 0 when
     * not yet, -ECHILD when its status is lost. */
    int (*exit_status)(kumo__spawner *s, pid_t pid, int *status, int *oom);
    /* The pool stops waiting for `pid` (it was killed and still has not been
     * reported): the spawner reaps what it can and forgets it. */
    void (*release)(kumo__spawner *s, pid_t pid);
    /* Waits up to timeout_ms for news (exits), outside the loop (shutdown). */
    void (*poll)(kumo__spawner *s, int timeout_ms);
    /* Version 3, may be NULL: a process already started and connected that
     * can become a worker of `unit`. 0 with *sock (the socket, on the
     * caller's loop and reading already, its input holding what the
     * process sent so far, usually its HELLO; the caller's now: it sets
     * the socket's data and read callback, and the first frame it writes
     * must be a KUMO__FRAME_ASSIGN naming the unit) and *pid; -EAGAIN when
     * there is none (then spawn). Version 2 handed over a bare fd. */
    int (*take_primed)(kumo__spawner *s, int unit, struct st_h2o_socket_t **sock, pid_t *pid);
} kumo__spawner_methods;

/* The base every spawner begins with. */
struct kumo__spawner {
    const kumo__spawner_methods *methods;
};

static inline int kumo__spawner_spawn(kumo__spawner *s, int unit, int fd, uint32_t *tag, pid_t *pid, kumo__error *err)
{
    return s->methods->spawn(s, unit, fd, tag, pid, err);
}
static inline int kumo__spawner_exit_status(kumo__spawner *s, pid_t pid, int *status, int *oom)
{
    return s->methods->exit_status(s, pid, status, oom);
}
static inline void kumo__spawner_release(kumo__spawner *s, pid_t pid)
{
    s->methods->release(s, pid);
}
static inline void kumo__spawner_poll(kumo__spawner *s, int timeout_ms)
{
    s->methods->poll(s, timeout_ms);
}
static inline int kumo__spawner_take_primed(kumo__spawner *s, int unit, struct st_h2o_socket_t **sock, pid_t *pid)
{
    if (s->methods->version < 3 || s->methods->take_primed == NULL)
        return -EAGAIN;
    return s->methods->take_primed(s, unit, sock, pid);
}

/* One unit as both strategies start it (the one description of a unit's
 * worker; spawner.c alone turns it into kumo-worker's arguments). */
typedef struct kumo__spawner_unit {
    const char *name, *so_path;
    const char *layers; /* "seccomp,namespaces,limits,no_new_privs" or "none" */
    size_t memory;      /* bytes; 0: none */
    unsigned timeout_ms;
    char *const *env; /* the unit's declared variables, NAME=value (NULL-terminated; NULL: none), added to
                         the config's envp for its workers alone */
} kumo__spawner_unit;

typedef struct kumo__spawner_config {
    const kumo__spawner_unit *units; /* index = the project's unit index */
    size_t nunits;
    const char *project_dir, *data_dir;
    char *const *envp; /* the workers' whole environment (NULL-terminated; NULL: none); the
                          fork server and every exec'd worker get exactly this, never `environ` */
    int spares;        /* children forked ahead of demand */
    int net;           /* workers keep the network: a store is remote */
    /* kumo dev --debug: this unit's workers can be traced (sandbox.h's
     * debug); kumo up --core-dumps: where crashing workers leave their
     * cores (worker/crash.c). NULL: neither. */
    const char *debug_unit;
    const char *core_dir;
} kumo__spawner_config;

/* A worker's pid once the fork server forked or assigned it (err: errno
 * when it could not); and that an exit status arrived for `pid`. */
typedef void kumo__spawner_pid_cb(void *data, uint32_t tag, pid_t pid, int err);
typedef void kumo__spawner_exit_cb(void *data, pid_t pid);

/* The following are for the spawner kumo__spawner_start returns only. */

/* Starts the fork server; when it cannot, the spawner says so (a warn
 * event) and execs each worker itself. Copies everything in *cfg (units,
 * strings, envp). NULL with err set only when out of memory. */
kumo__spawner *kumo__spawner_start(struct st_h2o_evloop_t *loop, const kumo__spawner_config *cfg, kumo__error *err);
void kumo__spawner_set_callbacks(kumo__spawner *s, kumo__spawner_pid_cb *on_pid, kumo__spawner_exit_cb *on_exit,
                                 void *data);
/* Closes the control socket, waits for the fork server to exit and frees. */
void kumo__spawner_stop(kumo__spawner *s);
/* The same without waiting for the fork server to exit (it may be busy
 * removing its workers' cgroups): 0 when it is gone already, else its pid
 * for kumo__spawner_reap. */
pid_t kumo__spawner_stop_nowait(kumo__spawner *s);
/* 1 once the stopped fork server `pid` is reaped; `force` kills it first. */
int kumo__spawner_reap(pid_t pid, int force);

/* ---- pool.c -------------------------------------------------------------- */

struct st_h2o_evloop_t;
typedef struct kumo__pool kumo__pool;
typedef struct kumo__call kumo__call;

enum kumo__call_result {
    KUMO__CALL_OK = 0,        /* a response frame arrived: payload is its fields */
    KUMO__CALL_FAILED = 1,    /* the handler returned non-zero (payload: message) */
    KUMO__CALL_CRASHED = 2,   /* the worker died (payload: why) */
    KUMO__CALL_TIMEOUT = 3,   /* past the deadline; the worker was killed */
    KUMO__CALL_NO_WORKER = 4, /* a worker could not be started (payload: why) */
};

/* Called once per submitted call, on the loop's thread. `payload` is valid
 * only during the call; the callee owns `call` again from here on. */
typedef void kumo__call_cb(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len);

struct kumo__call {
    kumo__frame_writer frame; /* the request frame; the caller frees it once the call is answered */
    uint64_t deadline_ms;     /* monotonic ms; 0: none */
    uint64_t submitted_ms;
    uint64_t dispatched_us; /* monotonic: when it was sent to a worker (0: never) */
    kumo__call_cb *cb;
    pid_t worker_pid; /* set when dispatched */
    int cold;         /* it waited for a worker to start */
    uint32_t id;      /* frame id on its worker */
    kumo__call *next; /* the pool's queue, or its worker's in-flight list */
};

/* What a worker's outbound HTTP call holds on its pool (the answer may
 * come after the pool is gone): counted, on the pool's loop thread. */
typedef struct kumo__pool_anchor kumo__pool_anchor;
typedef struct kumo__crash kumo__crash;

typedef struct kumo__pool_config {
    const char *unit_name;
    const kumo__tuning *tuning; /* min, max, idle, concurrency, queue, memory, sandbox */
    int min, max;               /* this loop's share of the unit's min and max */
    kumo__spawner *spawner;     /* starts the workers (required; borrowed: it outlives the pool) */
    int unit_index;             /* this unit's index for the spawner */
    size_t frame_max;           /* ceiling of a response frame (0: KUMO__FRAME_MAX) */
    /* Told, on the pool's thread, when a new worker says hello (its pid,
     * 0 when not known yet): how long after it was asked for (a cold start's share before the handler).
     * NULL: nobody listens. */
    void (*on_ready)(void *ctx, const char *unit_name, pid_t pid, uint64_t init_us);
    void *ready_ctx;
    /* A worker's outbound HTTP call (a KUMO__FRAME_HTTP_CALL payload, valid
     * during the call): the callee owns one reference of `anchor`, and
     * answers with kumo__pool_http_answer(anchor, worker, frame) on this
     * loop's thread, then kumo__pool_anchor_release. NULL: every call is
     * refused (KUMO_EDENIED). */
    void (*on_http_call)(void *ctx, kumo__pool_anchor *anchor, uint64_t worker, uint32_t id, const char *payload,
                         size_t len);
    void *http_ctx;
    /* A worker that reported a crash (a KUMO__FRAME_CRASH, worker/crash.c),
     * once its exit status is known, on the pool's thread; everything in
     * *crash is valid during the call only. NULL: crashes are only logged
     * as deaths. */
    void (*on_crash)(void *ctx, const kumo__crash *crash);
    void *crash_ctx;
} kumo__pool_config;

/* What the pool knows of a crash when it tells on_crash. */
struct kumo__crash {
    const char *unit_name;
    pid_t pid;
    int status;             /* as waitpid says it */
    const char *request_id; /* of the invocation it was running; "" when none */
    const char *payload;    /* the KUMO__FRAME_CRASH fields */
    size_t len;
};

#define KUMO__HIST_BUCKETS 104

/* Per-pool figures for `kumo status`; read from other threads (relaxed). */
typedef struct kumo__pool_stats {
    unsigned long long invocations, errors, crashes, timeouts, cold_starts, rejected;
    int workers, busy, starting, queued, inflight;
    unsigned long long hist[KUMO__HIST_BUCKETS]; /* last minute's durations: bucket k holds
                                                   [2^(k/4), 2^((k+1)/4)) microseconds */
} kumo__pool_stats;

/* The sandbox layers a unit's tuning asks for, as kumo-worker reads them:
 * "seccomp,namespaces,limits,no_new_privs" (those that are on) or "none". */
void kumo__tuning_layers(const kumo__tuning *t, char *out, size_t len);

kumo__pool *kumo__pool_create(struct st_h2o_evloop_t *loop, const kumo__pool_config *cfg);
/* Writes a whole KUMO__FRAME_HTTP_RESULT frame (copied) to the worker
 * `worker` of the anchor's pool; nothing when either is gone. */
void kumo__pool_http_answer(kumo__pool_anchor *anchor, uint64_t worker, const void *frame, size_t len);
void kumo__pool_anchor_release(kumo__pool_anchor *anchor);
/* Admits a call: to a worker with room, else a new worker (up to max),
 * else the bounded queue. 0, or -EAGAIN when the queue is full (answer 503),
 * -EBUSY when the function is at its concurrency limit and has no queue
 * (429), -ECONNREFUSED when it is backing off after crashing in a loop or
 * cannot start a worker at all (503; *why says why). The call was not
 * taken on error: the callback is never run from inside submit. */
int kumo__pool_submit(kumo__pool *pool, kumo__call *call, char *why, size_t why_len);
/* Workers the pool has (starting, ready or busy). */
int kumo__pool_workers(const kumo__pool *pool);
/* Starts one worker now when the pool has none (and may have one): a new
 * generation's pool for a function that had warm workers, so the first
 * call after a reload finds one started. It goes at its idle time like any
 * other. */
void kumo__pool_prewarm(kumo__pool *pool);
/* Periodic work: deadlines, idle workers to zero, min warm, reaping. */
void kumo__pool_tick(kumo__pool *pool, uint64_t now_ms);
/* How long (ms after now_ms) until kumo__pool_tick has something to do,
 * if nothing happens on the loop meanwhile: 0 while a call is queued or
 * running, a worker starts or goes, or the pool is under its min; the time
 * to the first idle worker's idle time while it has more than its min
 * (0 until a tick has seen that no call runs: kumo__pool_oldest_us);
 * UINT64_MAX when it waits for nothing (no workers, or its min, idle).
 * What changes that (a request, a worker's frame or EOF, the spawner's
 * news) wakes the loop. */
uint64_t kumo__pool_next_tick_ms(const kumo__pool *pool, uint64_t now_ms);
/* Calls in flight or queued. */
size_t kumo__pool_pending(const kumo__pool *pool);
/* How long (microseconds) the oldest call running on one of the pool's
 * workers has been running, as of the pool's last tick; 0 when none runs.
 * *usual_us (may be NULL) gets how long a warm call usually runs (the
 * pool's moving average; 0: none yet). Any thread (relaxed loads: the
 * monitor reads them). */
uint64_t kumo__pool_oldest_us(const kumo__pool *pool, uint64_t *usual_us);
/* The spawner's news, passed on to every pool of its loop: a worker's pid
 * (matched by tag), and that an exit status is there for `pid`. */
void kumo__pool_on_spawned(kumo__pool *pool, uint32_t tag, pid_t pid, int err);
void kumo__pool_on_exit(kumo__pool *pool, pid_t pid);
/* Adds this pool's figures into *out (call on the pool's own thread or
 * accept slightly stale numbers). */
void kumo__pool_stats_add(const kumo__pool *pool, kumo__pool_stats *out, uint64_t now_ms);
/* Records an invocation's duration in the status histogram. */
void kumo__pool_record(kumo__pool *pool, uint64_t duration_us, int error, uint64_t now_ms);
/* Stops the workers (EOF, then SIGKILL after `grace_ms`) and frees. */
void kumo__pool_destroy(kumo__pool *pool, int grace_ms);
/* The same without waiting, for a generation a reload replaced: answers
 * what is queued, closes every worker's socket (EOF: it exits) and starts
 * none any more. kumo__pool_retired then says, at each tick, whether all
 * are gone (reaped); once `force` is set it kills those still there. Then
 * kumo__pool_destroy(pool, 0) frees without blocking. */
void kumo__pool_retire(kumo__pool *pool);
int kumo__pool_retired(kumo__pool *pool, int force, uint64_t now_ms);

#endif
