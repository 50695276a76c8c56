/*
 * gateway.h: `kumo up`'s server. One h2o event loop per thread, all
 * accepting on the same port; each loop owns a pool per function unit, so
 * the request path takes no lock. The admin listener (health, readiness)
 * lives on the first loop, bound to loopback.
 */
#ifndef KUMO_GATEWAY_H
#define KUMO_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct kumo__gateway_config {
    const char *dir;  /* the project directory */
    const char *host; /* address to bind the API to (default 127.0.0.1) */
    int port;         /* 0: any free port */
    int admin_port;   /* 0: any free port; -1: none */
    int threads;      /* event loops; 0: one per core */
    int dev;          /* check responses against the spec and log violations */
    int strict;       /* with dev: replace a response that breaks the spec by a 500 */
    int watch;        /* kumo dev: reload when the project's files change (watch.c) */
    const char *env;  /* environments.NAME of kumo.yaml placing the stores (`--env`); NULL: "dev"
                         when the project defines it, else none. Kept for reloads. */
    int cpu_affinity; /* `--cpu-affinity`: loop i runs on the i-th CPU this process may use, and so do
                         its fork servers and workers (they inherit it) */
    /* kumo dev --debug OPERATION (debug.c): the operationId whose worker is
     * made debuggable, NULL: none; --debug-port: gdbserver's port, 0: none.
     * `--core-dumps`: a crashing worker leaves its core in DATA/cores
     * (crash_report.c). */
    const char *debug_op;
    int debug_port;
    int core_dumps;
    /* When set (not empty), every admin endpoint but /healthz and /readyz
     * needs `Authorization: Bearer TOKEN`; the caller's, for the run. */
    const char *admin_token;
    /* POST /reload starts at most one reload per this many ms (0: no
     * limit); see docs/reload.md. */
    int reload_interval_ms;
    /* kumo up's log store (obs/logstore.h), the caller's; the gateway
     * counts the lines it drops in its metrics. NULL: none. */
    struct kumo__logstore *logs;
    /* Mock mode (gateway/mock.h). `mock_spec` set: `kumo mock`, a project
     * of that one document (no kumo.yaml), every operation mocked, and
     * stdout's first line "listening on http://HOST:PORT". `mock` set:
     * `kumo up --mock`, operations without a handler are mocked instead
     * of answering 501. */
    const char *mock_spec;
    int mock;
    uint64_t mock_seed; /* --seed */
    /* kumo mock's stateful mode, record/replay and faults (mock_modes.h);
     * NULL: none. */
    const struct kumo__mock_modes *mock_modes;
} kumo__gateway_config;

/* Loads, builds and serves the project until SIGTERM or SIGINT, then
 * drains: stops accepting, finishes requests in flight, stops workers.
 * SIGHUP (or POST /reload on the admin port) loads the project again and
 * switches to it without refusing a connection (docs/reload.md).
 * Returns 0 after a clean drain. */
int kumo__gateway_run(const kumo__gateway_config *cfg, kumo__error *err);

#endif
