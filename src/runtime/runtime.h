/*
 * runtime.h: the gateway's side of function execution. build.c turns a
 * unit's sources into a shared object and reads its exported symbols;
 * pool.c owns the worker processes of one unit on one event loop and
 * moves invocations to them as frames (frame.h).
 */
#ifndef KUMO_RUNTIME_H
#define KUMO_RUNTIME_H

#include <stdint.h>
#include <sys/types.h>

#include "openapi/openapi.h"
#include "runtime/frame.h"

/* ---- build.c ----------------------------------------------------------- */

/* The directory holding kumo.h: $KUMO_INCLUDE, else the install's
 * ../include beside the executable, else the source tree's. */
const char *kumo__include_dir(void);
/* The kumo-worker executable beside the running kumo. */
const char *kumo__worker_path(void);

/* Builds every unit whose .so is older than its sources or kumo.h (or
 * missing), with $CC (default cc). Compiler messages go to stderr as the
 * compiler prints them; *built counts the units rebuilt. */
int kumo__build_units(const kumo__project *p, int *built, kumo__error *err);

/* Exported (defined, global, function) symbols of a shared object: a
 * NULL-terminated array of strings in one allocation (free() it). */
int kumo__elf_symbols(const char *so_path, char ***out, kumo__error *err);

/* Binds every operation to a unit (op->unit_index), by x-kumo-handler's
 * unit or by finding the symbol in exactly one unit. Unbound operations
 * keep -1 and are reported through `warn` (one line each). */
int kumo__bind_operations(const kumo__project *p, kumo__spec *spec, void (*warn)(const char *line),
                          kumo__error *err);

/* ---- pool.c -------------------------------------------------------------- */

struct st_h2o_evloop_t;
typedef struct kumo__pool kumo__pool;
typedef struct kumo__call kumo__call;

enum kumo__call_result {
    KUMO_CALL_OK = 0,         /* a response frame arrived: payload is its fields */
    KUMO_CALL_FAILED = 1,     /* the handler returned non-zero (payload: message) */
    KUMO_CALL_CRASHED = 2,    /* the worker died (payload: why) */
    KUMO_CALL_TIMEOUT = 3,    /* past the deadline; the worker was killed */
    KUMO_CALL_NO_WORKER = 4,  /* a worker could not be started (payload: why) */
};

/* Called once per submitted call, on the loop's thread. `payload` is valid
 * only during the call; the callee owns `call` again from here on. */
typedef void kumo__call_cb(kumo__call *call, enum kumo__call_result result, const char *payload, size_t len);

struct kumo__call {
    kumo__frame_writer frame;  /* the request frame; the pool takes its buffer */
    uint64_t deadline_ms;      /* monotonic ms; 0: none */
    uint64_t submitted_ms;
    kumo__call_cb *cb;
    pid_t worker_pid;          /* set when dispatched */
    int cold;                  /* it waited for a worker to start */
    uint32_t id;               /* frame id on its worker */
    kumo__call *next;          /* the pool's queue, or its worker's in-flight list */
};

typedef struct kumo__pool_config {
    const char *unit_name;
    const char *so_path;
    const kumo__tuning *tuning; /* min, max, idle, concurrency, queue, memory, sandbox */
    int min, max;              /* this loop's share of the unit's min and max */
    const char *project_dir;   /* for the sandbox: a read-only view */
    const char *data_dir;      /* for the sandbox: stays writable */
    size_t frame_max;          /* ceiling of a response frame (0: KUMO_FRAME_MAX) */
} kumo__pool_config;

#define KUMO_HIST_BUCKETS 104

/* Per-pool figures for `kumo status`; read from other threads (relaxed). */
typedef struct kumo__pool_stats {
    unsigned long long invocations, errors, crashes, timeouts, cold_starts, rejected;
    int workers, busy, starting, queued, inflight;
    unsigned long long hist[KUMO_HIST_BUCKETS]; /* last minute's durations: bucket k holds
                                                   [2^(k/4), 2^((k+1)/4)) microseconds */
} kumo__pool_stats;

kumo__pool *kumo__pool_create(struct st_h2o_evloop_t *loop, const kumo__pool_config *cfg);
/* Admits a call: to a worker with room, else a new worker (up to max),
 * else the bounded queue. 0, or -EAGAIN when the queue is full (answer 503),
 * -EBUSY when the function is at its concurrency limit and has no queue
 * (429), -ECONNREFUSED when it is backing off after crashing in a loop
 * (503; *why says the last crash). The call was not taken on error. */
int kumo__pool_submit(kumo__pool *pool, kumo__call *call, char *why, size_t why_len);
/* Periodic work: deadlines, idle workers to zero, min warm, reaping. */
void kumo__pool_tick(kumo__pool *pool, uint64_t now_ms);
/* Calls in flight or queued. */
size_t kumo__pool_pending(const kumo__pool *pool);
/* Adds this pool's figures into *out (call on the pool's own thread or
 * accept slightly stale numbers). */
void kumo__pool_stats_add(const kumo__pool *pool, kumo__pool_stats *out, uint64_t now_ms);
/* Records an invocation's duration in the status histogram. */
void kumo__pool_record(kumo__pool *pool, uint64_t duration_us, int error, uint64_t now_ms);
/* Stops the workers (EOF, then SIGKILL after `grace_ms`) and frees. */
void kumo__pool_destroy(kumo__pool *pool, int grace_ms);

uint64_t kumo__now_ms(void);   /* CLOCK_MONOTONIC */
/* One JSON line to stderr from the gateway: {"time":..,"level":..,"msg":..}. */
void kumo__log_event(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
