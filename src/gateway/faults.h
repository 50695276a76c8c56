/*
 * faults.h: the faults `kumo mock --faults FILE` injects (docs/mocks.md,
 * "Faults"): rules read from YAML or JSON with positions in every
 * refusal, and the decision for each request drawn from a seeded PRNG.
 *
 * A decision depends only on the seed, the request's index in the run
 * (0, 1, 2...: the order the mock took them in) and its operation, never
 * on the clock: the same seed and the same sequence of requests give the
 * same latencies, statuses, resets and truncations, so a failing run can
 * be replayed. The rules are read on the control plane; deciding is the
 * hot path (no allocation, no lock: an atomic counter).
 */
#ifndef KUMO_GATEWAY_FAULTS_H
#define KUMO_GATEWAY_FAULTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "openapi/openapi.h"

#define KUMO__FAULTS_RULES_MAX 256
#define KUMO__FAULT_LATENCY_MAX_MS 60000 /* a rule's latency, and any lognormal draw, is capped here */

typedef struct kumo__faults kumo__faults;

/* What happens to one request. Latencies of every rule that fired add up;
 * the first rule that fired with an outcome (status, reset or truncate)
 * decides the outcome. */
typedef struct kumo__fault_decision {
    uint32_t latency_ms;    /* wait this long before answering (0: none) */
    int status;             /* answer this error status instead (0: none) */
    uint32_t retry_after_s; /* with status: the Retry-After header's seconds (0: none) */
    int reset;              /* close the connection without an answer */
    int truncate;           /* send only truncate_keep of the body, then close */
    double truncate_keep;   /* the fraction of the body kept, 0 <= keep < 1 */
    int rule;               /* index of the rule that decided the outcome, -1: none */
    int fired;              /* how many rules fired (latency-only rules included) */
} kumo__fault_decision;

/* Reads faults from `node` of `doc` (a list of rules, or a mapping with
 * `rules:` and an optional `seed:`); kumo.yaml's services.NAME.mock.faults
 * takes the same shape. Refusals name doc:line:column. `seed_override`
 * non-NULL replaces the file's seed (kumo mock --seed). *out is the
 * caller's (kumo__faults_free). */
int kumo__faults_from_json(const kumo__doc *doc, const json_t *node, const uint64_t *seed_override, kumo__faults **out,
                           kumo__error *err);
/* The same from a YAML or JSON file. */
int kumo__faults_load(const char *path, const uint64_t *seed_override, kumo__faults **out, kumo__error *err);
void kumo__faults_free(kumo__faults *f);

size_t kumo__faults_count(const kumo__faults *f);
uint64_t kumo__faults_seed(const kumo__faults *f);

/* The decision for the request of index `n` in the run, of operation
 * `operation_id` (NULL: matches only rules without `operation:`). Pure:
 * the same arguments give the same decision. */
void kumo__faults_decide(const kumo__faults *f, const char *operation_id, uint64_t n, kumo__fault_decision *d);
/* kumo__faults_decide for the next request of the run (an atomic counter;
 * thread-safe). */
void kumo__faults_next(kumo__faults *f, const char *operation_id, kumo__fault_decision *d);

/* The seeded generator faults and the stateful mock share: splitmix64
 * over a state. */
uint64_t kumo__prng_next(uint64_t *state);
/* Uniform in [0, 1). */
double kumo__prng_unit(uint64_t *state);

#endif
