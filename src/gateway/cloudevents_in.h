/*
 * cloudevents_in.h: CloudEvents from outside over HTTP, `POST
 * /_kumo/events` on the API port (kumo up and kumo-host alike;
 * docs/events.md, "CloudEvents in").
 *
 * A request carries one event in the HTTP binding's binary mode (ce-*
 * headers, the data as body) or structured mode (application/
 * cloudevents+json), or several in batch mode (application/
 * cloudevents-batch+json). Each event is routed by its exact type (and
 * source, when the kumo.yaml event declares one) to every `cloudevent:`
 * event that accepts it, its data checked against the event's `data:`
 * schema, and delivered to the handler as a binary-mode request.
 *
 * This part has no transport: the gateway (api.c, through the pools; the
 * async half is kumo__gw_cloudevents in cloudevents_in.c) and kumo-host
 * (host.c, in process) both run one request as an exchange:
 *
 *     kumo__ce_begin      parse, check, route, validate: the deliveries
 *     kumo__ce_frame      each pending delivery's request frame
 *     kumo__ce_settle     each delivery's outcome
 *     kumo__ce_finish     the answer: status, content type, body
 *
 * so both answer alike.
 */
#ifndef KUMO_CLOUDEVENTS_IN_H
#define KUMO_CLOUDEVENTS_IN_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/dispatch.h"
#include "openapi/openapi.h"
#include "openapi/schema.h"
#include "project/project.h"
#include "proto/frame.h"

#define KUMO__CE_PATH "/_kumo/events"
#define KUMO__CE_BATCH_MAX 100  /* events in one batch request; more is 413 */
#define KUMO__CE_ATTRS_MAX 64   /* context attributes of one event; more is 400 */
#define KUMO__CE_VALUE_MAX 4096 /* bytes of one attribute's value; more is 400 */

/* ---- the project's side: built with a generation, read-only after ---- */

typedef struct kumo__ce_routes kumo__ce_routes;

/* The cloudevent: events of `p`, each with its data: schema compiled from
 * `spec` (borrowed: both must outlive the routes). An unknown pointer is
 * an error at kumo.yaml:LINE:COL of data:. *out is NULL when p has no
 * cloudevent events (everything below accepts NULL routes). */
int kumo__ce_routes_build(const kumo__project *p, const kumo__spec *spec, kumo__ce_routes **out, kumo__error *err);
void kumo__ce_routes_free(kumo__ce_routes *r);
/* The largest body the endpoint takes: the largest max_body of the units
 * whose handlers take CloudEvents (0 when there are none). */
size_t kumo__ce_routes_max_body(const kumo__ce_routes *r);

/* /_kumo/ is kumo's: an OpenAPI document with a path under it (after its
 * base path) is refused, at the path's line:column. */
int kumo__ce_check_spec(const kumo__spec *spec, kumo__error *err);
/* Whether the request path (no query) is the endpoint. */
int kumo__ce_is_path(const char *path, size_t len);

/* ---- parsing: the HTTP binding, transport-free (fuzz/fuzz_cloudevents.c) */

enum kumo__ce_mode { KUMO__CE_BINARY = 1, KUMO__CE_STRUCTURED = 2, KUMO__CE_BATCH = 3 };

typedef struct kumo__ce_attr {
    char *name;  /* [a-z0-9]+ */
    char *value; /* decoded (binary mode: percent-decoding); valid UTF-8, no control characters */
} kumo__ce_attr;

typedef struct kumo__ce_event {
    kumo__ce_attr *attrs; /* every context attribute but data, datacontenttype and data_base64 */
    size_t nattrs;
    const char *specversion, *id, *source, *type; /* point into attrs; NULL when absent */
    char *content_type;                           /* datacontenttype (binary: Content-Type); NULL: none */
    char *data;                                   /* owned, the data's bytes; NULL: no data */
    size_t data_len;
    json_t *json;    /* structured with a JSON "data": that value (one reference); NULL otherwise */
    char error[256]; /* "" when the event is well formed, else why not */
} kumo__ce_event;

typedef struct kumo__ce_message {
    enum kumo__ce_mode mode;
    kumo__ce_event *events;
    size_t n;
} kumo__ce_message;

/* Reads the events `in` carries (method and path are not looked at).
 * Returns 0 with every event well formed, 400 when one or more is not
 * (each says why in its error; `why` sums up), 413 for a batch of more
 * than KUMO__CE_BATCH_MAX events, 415 for a request that is no
 * CloudEvent (no ce-specversion and another content type) or another
 * event format than JSON, with `why` said. `out` is to be freed with
 * kumo__ce_message_free whatever the result. */
int kumo__ce_parse(const kumo__http_in *in, kumo__ce_message *out, char *why, size_t why_len);
void kumo__ce_message_free(kumo__ce_message *m);
/* The value of attribute `name` of e, or NULL. */
const char *kumo__ce_attr_get(const kumo__ce_event *e, const char *name);

/* ---- one request's exchange -------------------------------------------- */

/* One event to one handler (or the reason it goes to none). */
typedef struct kumo__ce_delivery {
    size_t event;                 /* index into msg.events */
    const kumo__event_decl *decl; /* NULL: no event of the project accepts it (404) */
    int status;                   /* 0 while pending; then an HTTP status (202 for a handled event) */
    char *detail;                 /* malloc'd: why it failed; NULL */
    kumo__violations violations;  /* the data's, against data: (400) */
} kumo__ce_delivery;

typedef struct kumo__ce_exchange {
    const kumo__ce_routes *routes; /* borrowed */
    kumo__ce_message msg;
    /* the request's headers that go on to every handler (malloc'd, NULL
     * when absent): W3C trace context and Authorization */
    char *traceparent, *tracestate, *authorization;
    kumo__ce_delivery *d;
    size_t nd;
    size_t pending; /* deliveries with status 0: to frame, call and settle */
    /* the answer (kumo__ce_finish, or kumo__ce_begin when nothing is
     * delivered) */
    int status;
    const char *content_type; /* a literal; NULL: no body */
    char *body;               /* malloc'd; NULL: empty */
    size_t body_len;
    const char *allow;       /* an Allow value (405, OPTIONS), or NULL */
    char *webhook_origin;    /* OPTIONS with WebHook-Request-Origin: the WebHook-Allowed-Origin to answer
                                (malloc'd; with WebHook-Allowed-Rate: *), or NULL */
    const char *retry_after; /* a Retry-After value (429, 503), or NULL */
} kumo__ce_exchange;

/* Parses `in`, checks the method and the body's size, routes each event
 * and validates its data. Returns how many deliveries wait for a handler
 * (x->pending; frame, call and settle each, then kumo__ce_finish); 0 when
 * the answer is there already (x->status, x->body). `routes` may be NULL
 * (a project without cloudevent events: 404). x is to be freed with
 * kumo__ce_exchange_free whatever the result. */
size_t kumo__ce_begin(const kumo__ce_routes *routes, const kumo__http_in *in, const char *request_id,
                      kumo__ce_exchange *x);
/* The request frame of delivery i (pending): POST /EVENTNAME in binary
 * mode, the handler's deadline now + the unit's timeout. `request_id` is
 * the delivery's. 0, or -E2BIG (w freed). */
int kumo__ce_frame(const kumo__ce_exchange *x, size_t i, const char *request_id, uint64_t now_epoch_ms,
                   kumo__frame_writer *w);
/* The producer's trace context of delivery i: the event's distributed
 * tracing extension (traceparent, tracestate), else the request's
 * headers; *traceparent NULL when there is none. */
void kumo__ce_trace_of(const kumo__ce_exchange *x, size_t i, const char **traceparent, const char **tracestate);
/* kumo__ce_frame with the traceparent (and tracestate, NULL: none) the
 * handler gets; traceparent NULL: the producer's, else a new trace. */
int kumo__ce_frame_traced(const kumo__ce_exchange *x, size_t i, const char *request_id, uint64_t now_epoch_ms,
                          const char *traceparent, const char *tracestate, kumo__frame_writer *w);
/* Settles delivery i: the handler's status (or what kumo__gw_event_outcome
 * made of a failed call) and its reason (error_len bytes, may be NULL). A
 * 2xx is recorded as 202. */
void kumo__ce_settle(kumo__ce_exchange *x, size_t i, int status, const char *error, size_t error_len);
/* The same from the handler's response frame's payload. */
void kumo__ce_settle_response(kumo__ce_exchange *x, size_t i, const char *payload, size_t len);
/* Once every delivery is settled: the answer (x->status, content_type,
 * body). Nothing to do when kumo__ce_begin answered already. */
void kumo__ce_finish(kumo__ce_exchange *x, const char *request_id);
void kumo__ce_exchange_free(kumo__ce_exchange *x);

#endif
