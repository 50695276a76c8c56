/*
 * mock_modes.h: what `kumo mock` keeps between requests, plugged into the
 * mock engine (mock.h) and the API handler (api.c): the stateful mode
 * (mock_state.h), record and replay (recording.h, mock_proxy.h) and
 * faults (faults.h, mock_io.h). docs/mocks.md describes them.
 *
 * The engine's hook answers a request from the state, the real service
 * (record) or the recordings (replay). Faults act on the way out, in
 * api.c, on every answer to a request that reached an operation. Two
 * paths of kumo's own are answered before routing: POST /__kumo/reset
 * (the stateful mode starts over) and GET /__kumo/report (replay's
 * unmatched requests and drift).
 *
 * One runtime per generation (a reload starts an in-memory state and the
 * replay counts over); built on the main thread, used from every loop.
 */
#ifndef KUMO_GATEWAY_MOCK_MODES_H
#define KUMO_GATEWAY_MOCK_MODES_H

#include <h2o.h>
#include <stdint.h>

#include "base/error.h"
#include "gateway/dispatch.h"
#include "gateway/mock.h"

#define KUMO__MOCK_REDACT_MAX 32

/* The flags of kumo mock, as given (strings borrowed from argv). */
typedef struct kumo__mock_modes {
    int stateful;            /* --stateful (also implied by --state and --data) */
    const char *state_file;  /* --state FILE: the store in a file, kept across runs */
    const char *data_file;   /* --data FILE: seed data */
    const char *faults_file; /* --faults FILE */
    int seed_given;          /* --seed was given: it wins over the faults file's */
    const char *record_dir;  /* --record DIR (with --proxy) */
    const char *proxy_url;   /* --proxy URL */
    const char *replay_dir;  /* --replay DIR */
    /* --redact NAME...: more headers the recordings never hold (a service's
     * `headers:`), NULL-terminated. */
    const char *redact[KUMO__MOCK_REDACT_MAX + 1];
} kumo__mock_modes;

/* Refuses combinations that cannot work together (record and replay,
 * record without --proxy, --proxy alone, stateful with record or
 * replay, --redact without either), naming the fix. 0 or -KUMO__EUSAGE-like code from `usage`. */
int kumo__mock_modes_check(const kumo__mock_modes *modes, int usage_code, kumo__error *err);

typedef struct kumo__mock_modes_rt kumo__mock_modes_rt;

/* Builds what `modes` asks for over the engine `m` and its spec, and sets
 * the engine's hook. *out NULL when nothing is asked. Errors name the
 * file:line:column of the faults, seed or recording at fault. `prev`: the
 * generation before's (a reload), whose in-memory stateful items carry
 * over when the collections are the same; NULL: none. */
int kumo__mock_modes_attach(kumo__mock *m, const kumo__spec *spec, const kumo__mock_modes *modes, uint64_t seed,
                            const kumo__mock_modes_rt *prev, kumo__mock_modes_rt **out, kumo__error *err);
/* Frees the runtime; a replay prints its report on stdout first (when
 * there is something to say). NULL does nothing. */
void kumo__mock_modes_free(kumo__mock_modes_rt *rt);
/* The start-up lines ("" when none), e.g. "  stateful /pets, /notes\n". */
const char *kumo__mock_modes_describe(const kumo__mock_modes_rt *rt);

/* POST /__kumo/reset and GET /__kumo/report: 1 when req was one of them
 * (answered), 0 otherwise. */
int kumo__mock_modes_admin(kumo__mock_modes_rt *rt, h2o_req_t *req, const char *request_id);

/* Sends dispatch's answer `d` to a request of an operation with the
 * faults drawn for it: later, as an error status, a reset or a truncated
 * body. 1 when it took the answer over (*status: what the access line
 * says, 0 for a reset), 0 when no fault fired (the caller sends as
 * usual). */
int kumo__mock_modes_send(kumo__mock_modes_rt *rt, h2o_req_t *req, const kumo__dispatch *d, const char *request_id,
                          int *status);

#endif
