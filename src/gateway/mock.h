/*
 * mock.h: the mock engine. `kumo mock SPEC` answers every operation of a
 * document with it, and `kumo up --mock` the operations that have no
 * handler yet (dispatch.c calls it where the 501 would be).
 *
 * A request reaches the engine routed and checked like any other (404,
 * 405, 400 with every violation, 415, 406 are dispatch.c's); the engine
 * adds the 401 of a missing credential (presence only) and then answers
 * as the spec says, the way Prism does:
 *   - status: `Prefer: code=N`, else the lowest 2xx declared (then 2XX,
 *     default, the lowest declared);
 *   - media type: by Accept among the response's content;
 *   - body: `Prefer: example=NAME` (a named example of the media type),
 *     else the declared example, else one made from the schema
 *     (openapi/example.c), deterministic for the seed and made once;
 *     `Prefer: dynamic=true` makes a fresh one per request;
 *   - headers: the response's declared headers, from their examples or
 *     schemas.
 * A made body is checked against the operation's response contract
 * before it is sent (the same check kumo up --dev applies to handlers);
 * one that cannot be made valid is a 500 saying why.
 *
 * Hooks: a stateful mode, faults or replay plug in before the answer is
 * built (kumo__mock_set_hook); the hook answers or lets the engine.
 *
 * Threads: built on the main thread; answered from every loop at once.
 * Static answers are made on first use and kept (one atomic pointer per
 * response and media type); $refs are followed under a lock.
 */
#ifndef KUMO_MOCK_H
#define KUMO_MOCK_H

#include <jansson.h>
#include <stdint.h>

#include "gateway/dispatch.h"
#include "openapi/schema.h"

typedef struct kumo__mock kumo__mock;

/* An answer the engine (or a hook) built: every pointer malloc'd, unless
 * `borrowed`: then content_type, body and headers are the engine's kept
 * answer (valid as long as the engine, read-only, never freed), which
 * kumo__mock_answer gives for a request whose answer it has kept. */
typedef struct kumo__mock_reply {
    int status;
    char *content_type; /* NULL: no body, or problem+json when body is set */
    char *body;
    size_t body_len;
    kumo__answer_header *headers;
    size_t nheaders;
    int borrowed;
    /* A hook's work the loop must not do (record mode's call to the real
     * service; only when rq->in->defer_slow): set with the hook returning
     * 1, the rest of the reply empty; dispatch parks the request with it
     * and asks again with it done (base/slowjob.h). Owned; freed by
     * kumo__mock_reply_free when not taken. */
    kumo__slow_job *defer;
} kumo__mock_reply;

/* What the engine (and a hook) knows of one request, all borrowed. */
typedef struct kumo__mock_request {
    const kumo__operation *op;
    size_t op_index;
    const kumo__http_in *in;
    const kumo__route_match *match;
    const kumo__checked *checked; /* the typed parameters and body */
    const char *request_id;
} kumo__mock_request;

/* Called before the engine answers: 1 when it filled *out (the engine
 * sends it), 0 to let the engine answer, negative for a 500. */
typedef int (*kumo__mock_hook_fn)(void *ctx, const kumo__mock *m, const kumo__mock_request *rq, kumo__mock_reply *out);

typedef struct kumo__mock_config {
    uint64_t seed; /* --seed: the same seed, the same made values */
} kumo__mock_config;

/* Builds the engine over spec (which, with checks, must outlive it):
 * reads each operation's examples, response headers and security. Errors
 * name the spec's file:line:column. */
int kumo__mock_build(const kumo__spec *spec, kumo__opcheck *const *checks, const kumo__mock_config *cfg,
                     kumo__mock **out, kumo__error *err);
void kumo__mock_free(kumo__mock *m);
void kumo__mock_set_hook(kumo__mock *m, kumo__mock_hook_fn fn, void *ctx);
const kumo__spec *kumo__mock_spec(const kumo__mock *m);
/* The spec's $ref resolver behind the engine's lock: what a hook uses from
 * the loops (the document set may load a file on first use). */
const kumo__refs *kumo__mock_refs(const kumo__mock *m);

/* The contract check of operation op_index: the gateway's (kumo up
 * --mock), else compiled on its first use (kumo mock, to start fast) and
 * kept. 0 and *out (NULL: nothing to check); -EINVAL with *why (the
 * compiler's message, kept) when a schema of the operation does not
 * compile; -ENOMEM. */
int kumo__mock_check(const kumo__mock *m, size_t op_index, const kumo__opcheck **out, const char **why);

/* 0 when the operation's security is met (or it has none); else 1 with
 * *out a 401 problem naming the credentials it takes. Presence only. */
int kumo__mock_authorize(const kumo__mock *m, const kumo__mock_request *rq, kumo__mock_reply *out);

/* The answer to a request that passed routing, the contract and
 * authorization: 0 with *out filled (whatever its status), -ENOMEM. */
int kumo__mock_answer(const kumo__mock *m, const kumo__mock_request *rq, kumo__mock_reply *out);
/* Whether an answer may read the request's typed values
 * (kumo__mock_request.checked->params): only a hook does (stateful mode).
 * 0: the caller may check the request without building them. */
int kumo__mock_uses_typed(const kumo__mock *m);
void kumo__mock_reply_free(kumo__mock_reply *r);

/* For hooks: a reply of `status` with `body` as compact JSON (NULL: none)
 * and application/json; a problem+json reply. 0 or -ENOMEM. */
int kumo__mock_reply_json(kumo__mock_reply *r, int status, const json_t *body);
int kumo__mock_reply_problem(kumo__mock_reply *r, const kumo__mock_request *rq, int status, const char *title,
                             const char *detail);

/* A value made from `schema` (a node of the spec) in direction `dir`, valid
 * against it: declared values first when `declared`. 0 and *out (a new
 * reference); -EINVAL with why; -ENOMEM. Thread-safe. */
int kumo__mock_example(const kumo__mock *m, const json_t *schema, enum kumo__direction dir, uint64_t seed, int declared,
                       json_t **out, char *why, size_t why_len);

#endif
