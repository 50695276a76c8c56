/*
 * dispatch.h: from an HTTP request to either kumo's own answer or a
 * request frame for a handler, with no transport in sight.
 *
 * The gateway (server.c, over h2o) and kumo-host (src/host, over the
 * Lambda Runtime API or its own HTTP listener) both call
 * kumo__dispatch_request, so a request gets the same routing, the same
 * contract checks and the same problem documents wherever the function
 * runs: that is what makes `kumo up` and a deployed function answer alike.
 */
#ifndef KUMO_DISPATCH_H
#define KUMO_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/slowjob.h"
#include "openapi/check.h"
#include "gateway/ratelimit.h"
#include "project/project.h"
#include "proto/frame.h"

/* One request as the transport received it. */
typedef struct kumo__http_in {
    kumo__slice method;
    kumo__slice path;                 /* percent-encoded, without the query */
    kumo__slice query;                /* without '?'; base NULL when there is none */
    const kumo__header_view *headers; /* names lower case */
    size_t nheaders;
    kumo__slice body;     /* base NULL when there is no body */
    uint64_t deadline_ms; /* the platform's deadline (Lambda's), epoch ms; 0: none. The
                             handler's deadline is the earlier of it and the unit's timeout */
    /* Tracing: when traceparent is set, the frame carries it (and
     * tracestate, unless NULL or "") instead of the request's own headers
     * of those names: the worker's parent span is the invocation's. */
    const char *traceparent, *tracestate;
    /* The caller's address ("127.0.0.1", "::1"; under Lambda the event's
     * sourceIp), NULL when the transport does not say: what rate limits
     * count per client by default (ratelimit.h). */
    const char *client_addr;
    /* The subject (RFC 2253) of the client certificate the TLS handshake
     * verified against kumo.yaml's http.tls.client_ca (tls.c), NULL when
     * none: what the mutualTLS scheme checks. */
    const char *tls_client_subject;
    /* 1: work an event loop must not do (base/slowjob.h: a password only
     * a slow hash can check, kumo mock's call to the real service in
     * record mode) is not done here: kumo__dispatch_request answers
     * KUMO__DISPATCH_PARK with the job; the caller runs it on another
     * thread and dispatches again with it as slow_done. 0: done inline
     * (kumo-host, one invocation at a time). */
    int defer_slow;
    const kumo__slow_job *slow_done;
} kumo__http_in;

struct kumo__mock;
struct kumo__auth;

/* What a loaded project answers with. */
typedef struct kumo__api {
    const kumo__project *project;
    const kumo__spec *spec;
    const kumo__router *router;
    kumo__opcheck *const *checks; /* per operation (NULL entries, or NULL: no checks) */
    /* When set, an operation's checks come from here instead, made by the
     * first request that needs them (kumo-lambda: host.c); nonzero: they
     * cannot be made, and the request gets a 500, never goes unchecked. */
    int (*check_of)(void *ctx, size_t op_index, const kumo__opcheck **out);
    void *check_ctx;
    /* kumo-host serves one unit of a project: operations of other units
     * answer 501 like unbound ones. -1: every unit. */
    int only_unit;
    /* kumo mock and kumo up --mock (mock.h): an operation without a handler
     * is checked and answered by the mock engine instead of a 501. NULL:
     * the 501. */
    const struct kumo__mock *mock;
    /* The document's security enforced (auth/policy.h), checked before
     * the mock, the 501, the body limit and the contract; NULL: nothing
     * to enforce (kumo mock checks presence only, in mock.c). */
    struct kumo__auth *auth;
    /* http.rate_limits (ratelimit.h): taken after the security check,
     * before the function. NULL: no limits. */
    struct kumo__ratelimit *limits;
} kumo__api;

enum kumo__dispatch_kind {
    KUMO__DISPATCH_ANSWER = 0, /* answer out->status with out->body (may be NULL: empty) */
    KUMO__DISPATCH_INVOKE = 1, /* w holds a complete request frame for out->op's handler */
    KUMO__DISPATCH_PARK = 2,   /* in->defer_slow: run out->park off the loop, then dispatch again with it as
                                  in->slow_done; nothing was answered */
};

/* A header of an answer kumo builds itself (a mock's). */
typedef struct kumo__answer_header {
    char *name, *value; /* malloc'd */
} kumo__answer_header;

typedef struct kumo__dispatch {
    int status;                /* ANSWER: 204, 400, 401, 403, 404, 405, 406, 413, 415, 501, 503 */
    int no_route;              /* ANSWER 404 because no path matched (the gateway tries its docs first) */
    const kumo__operation *op; /* the matched operation, or NULL */
    size_t op_index;
    char allow[160];         /* the Allow header's value, "" when none */
    const char *retry_after; /* a Retry-After value, or NULL */
    char *body;              /* ANSWER: malloc'd application/problem+json, NULL when empty */
    size_t body_len;
    char *content_type;           /* ANSWER: the body's media type when it is not problem+json (a mock's), malloc'd */
    kumo__answer_header *headers; /* ANSWER: more headers to send (a mock's, WWW-Authenticate), malloc'd */
    size_t nheaders;
    int borrowed;        /* ANSWER: body, content_type and headers are a mock engine's kept answer: not freed */
    uint64_t timeout_ms; /* INVOKE: the unit's timeout (0: none) */
    /* Either kind: when limit.applied, its RateLimit-* headers go on the
     * answer, whoever gives it (a 429 of dispatch's own when refused;
     * retry_after then points into it). */
    kumo__ratelimit_verdict limit;
    kumo__slow_job *park; /* PARK: the slow work to run (owned until taken) */
} kumo__dispatch;

/* Routes and checks `in`. `now_epoch_ms` sets the frame's deadline.
 * Returns a kumo__dispatch_kind; free out with kumo__dispatch_free. */
int kumo__dispatch_request(const kumo__api *api, const kumo__http_in *in, const char *request_id, uint64_t now_epoch_ms,
                           kumo__frame_writer *w, kumo__dispatch *out);
void kumo__dispatch_free(kumo__dispatch *d);

/* An event's delivery (a schedule tick, ...) as a request frame for the
 * handler `symbol`: method POST, `path`, request_id, the headers given
 * (CloudEvents binary mode: the ce-* attributes and content-type; names
 * lower case), the body, and a deadline of now_epoch_ms + timeout_ms (0:
 * none). There is no route and no contract to check: the caller named the
 * handler. 0, or -E2BIG when the frame is over the frame limit (w is freed
 * then). */
int kumo__dispatch_event(const char *symbol, const char *path, const char *request_id, const kumo__header_view *headers,
                         size_t nheaders, kumo__slice body, uint64_t now_epoch_ms, uint64_t timeout_ms,
                         kumo__frame_writer *w);

/* An RFC 9457 problem document: {"type":"about:blank","title","status",
 * "detail","instance","request_id"} plus "errors": [{pointer, schema,
 * message}] when `v` has any. detail, request_id and v may be NULL.
 * malloc'd, NUL-terminated; NULL only when out of memory. */
char *kumo__problem_json(int status, const char *title, const char *detail, const char *instance, size_t instance_len,
                         const char *request_id, const kumo__violations *v, size_t *len);

/* The response frame a handler produced, read back: status (200 when the
 * handler set none; 500 when out of range), the headers it set (hop-by-hop
 * ones dropped) and the body, all pointing into the payload. A frame
 * carrying KF_ERROR (the handler failed) has error set instead. */
typedef struct kumo__response_in {
    int status;
    const char *error; /* NULL, or the failure (not NUL-terminated: error_len) */
    size_t error_len;
    const char *body;
    size_t body_len;
    const char *content_type; /* NULL when the handler set none */
    size_t content_type_len;
    /* NULL, or why a header cannot be sent (a name that is no token, a
     * value with CR, LF or NUL): the worker is not trusted to have used
     * the SDK, so what it sent is checked before anything is written. */
    const char *invalid;
} kumo__response_in;

void kumo__response_read(const char *payload, size_t len, kumo__response_in *out);
/* Iterates the response's headers: *pos starts at 0; 1 and the pair while
 * there is one (hop-by-hop headers skipped), 0 at the end. */
int kumo__response_header(const char *payload, size_t len, size_t *pos, const char **name, size_t *name_len,
                          const char **value, size_t *value_len);
/* Connection, keep-alive, transfer-encoding, ...: not the handler's to set. */
int kumo__is_hop_header(const char *name, size_t len);

#endif
