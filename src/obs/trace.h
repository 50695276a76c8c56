/*
 * trace.h: distributed tracing inside the gateway (issue 14, "Traces").
 *
 * The parts, bottom up:
 * - ids: random trace and span ids from a per-thread generator seeded from
 *   getrandom (no lock, no system call per id);
 * - samplers: the OpenTelemetry ones by their OTEL_TRACES_SAMPLER names;
 * - the span record: fixed size, with a few bounded attributes, filled on
 *   a loop thread and copied into
 * - the span buffer: bounded, many producers (the loops) and one consumer
 *   (the exporter); a push never blocks or allocates, and a span that
 *   finds it full is dropped and counted;
 * - the tracer (otlp.c): configuration (kumo.yaml and OTEL_* variables),
 *   the buffer and the exporter thread that batches spans into OTLP/HTTP
 *   JSON and POSTs them with libcurl. No loop thread ever waits on it.
 *
 * The context codecs (traceparent, tracestate, X-Ray) are in
 * proto/tracectx.h, shared with the SDK and kumo-host.
 */
#ifndef KUMO_OBS_TRACE_H
#define KUMO_OBS_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/growbuf.h"
#include "proto/tracectx.h"

typedef struct kumo__tracer kumo__tracer;

/* ---- ids ---- */

/* n random bytes from this thread's generator (xoshiro256**, seeded from
 * getrandom on first use, again after a fork). Not for secrets. */
void kumo__trace_random(void *out, size_t n);
/* A new trace id / span id, never all zero. */
void kumo__trace_new_trace_id(uint8_t out[16]);
void kumo__trace_new_span_id(uint8_t out[8]);

/* ---- samplers ---- */

enum kumo__sampler_kind {
    KUMO__SAMPLER_ALWAYS_ON = 0,
    KUMO__SAMPLER_ALWAYS_OFF,
    KUMO__SAMPLER_RATIO,
    KUMO__SAMPLER_PARENT_ON,
    KUMO__SAMPLER_PARENT_OFF,
    KUMO__SAMPLER_PARENT_RATIO,
};

typedef struct kumo__sampler {
    enum kumo__sampler_kind kind;
    double ratio;   /* the *ratio samplers' */
    uint64_t bound; /* ratio scaled to 2^63: sampled when the id's value is below it */
} kumo__sampler;

/* The sampler called `name` (always_on ... parentbased_traceidratio; NULL:
 * parentbased_always_on) with `ratio` (0..1, for the ratio samplers). 0, or
 * -EINVAL with why filled (it names the accepted values). */
int kumo__sampler_init(kumo__sampler *s, const char *name, double ratio, char *why, size_t why_len);
/* The sampler's name and, for the ratio ones, its ratio: "traceidratio 0.25". */
const char *kumo__sampler_name(const kumo__sampler *s);
/* Whether a span of `trace_id` is sampled. has_parent: the context came
 * from a caller (its flags in parent_flags). traceidratio reads the trace
 * id's last 8 bytes as a big-endian number, as the OpenTelemetry SDKs do,
 * so every service of a trace decides alike. */
int kumo__sampler_decide(const kumo__sampler *s, const uint8_t trace_id[16], int has_parent, uint8_t parent_flags);

/* ---- spans ---- */

/* OTLP's SpanKind values, as the JSON encoding sends them. */
enum kumo__span_kind {
    KUMO__SPAN_INTERNAL = 1,
    KUMO__SPAN_SERVER = 2,
    KUMO__SPAN_CLIENT = 3,
    KUMO__SPAN_PRODUCER = 4,
    KUMO__SPAN_CONSUMER = 5,
};

/* OTLP's StatusCode. */
enum kumo__span_status { KUMO__STATUS_UNSET = 0, KUMO__STATUS_OK = 1, KUMO__STATUS_ERROR = 2 };

#define KUMO__SPAN_NAME_MAX 96
#define KUMO__SPAN_MSG_MAX 160
#define KUMO__SPAN_ATTRS_MAX 16
#define KUMO__SPAN_POOL 640     /* bytes shared by the string attributes' values */
#define KUMO__SPAN_LINKS_MAX 16 /* more are counted in dropped_links */

enum { KUMO__ATTR_STR = 0, KUMO__ATTR_INT = 1, KUMO__ATTR_BOOL = 2 };

typedef struct kumo__span_attr {
    const char *key;   /* a string literal: it must outlive the span */
    uint8_t type;      /* KUMO__ATTR_STR, _INT, _BOOL */
    uint16_t off, len; /* a string: the value in the span's pool */
    int64_t num;       /* an int or a bool */
} kumo__span_attr;

/* One finished span, fixed size, copied by value into the buffer. */
typedef struct kumo__span {
    uint8_t trace_id[16], span_id[8], parent_id[8]; /* parent all zero: a root span */
    uint8_t kind, status, nattrs;
    uint64_t start_ns, end_ns; /* since the epoch */
    char name[KUMO__SPAN_NAME_MAX];
    char status_msg[KUMO__SPAN_MSG_MAX];
    kumo__span_attr attrs[KUMO__SPAN_ATTRS_MAX];
    uint16_t pool_used;
    char pool[KUMO__SPAN_POOL];
    /* Links (OTLP Span.links): a batch's CONSUMER span names the other
     * messages' contexts. Last, so a copy takes only those in use. */
    uint16_t nlinks, dropped_links;
    struct kumo__span_link {
        uint8_t trace_id[16], span_id[8];
        uint8_t flags;
    } links[KUMO__SPAN_LINKS_MAX];
} kumo__span;

/* Starts filling *s (every field reset). parent NULL: a root span. The
 * name is cut to KUMO__SPAN_NAME_MAX - 1 bytes. */
void kumo__span_init(kumo__span *s, const uint8_t trace_id[16], const uint8_t span_id[8], const uint8_t *parent,
                     enum kumo__span_kind kind, const char *name, uint64_t start_ns);
/* Attributes; a value that does not fit is cut (whole UTF-8 characters
 * are not guaranteed: the exporter replaces what is not valid), one past
 * KUMO__SPAN_ATTRS_MAX is left out. `key` must be a literal of plain
 * ASCII with no quote or backslash: the exporter writes it unescaped. */
void kumo__span_str(kumo__span *s, const char *key, const char *v, size_t len);
void kumo__span_int(kumo__span *s, const char *key, int64_t v);
void kumo__span_bool(kumo__span *s, const char *key, int v);
/* Adds a link to the span of another trace context (past
 * KUMO__SPAN_LINKS_MAX it is only counted). */
void kumo__span_link(kumo__span *s, const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags);
void kumo__span_set_status(kumo__span *s, enum kumo__span_status code, const char *msg, size_t len);

/* ---- an invocation's trace context ---- */

/* What the gateway keeps for one traced invocation (kumo__gw_obs's
 * `span`): its SERVER or CONSUMER span, the "invoke" child span that is
 * the worker's parent, and the traceparent the worker gets. */
typedef struct kumo__span_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];                        /* the SERVER / CONSUMER span */
    uint8_t parent_id[8];                      /* the caller's span; all zero: this is the trace's root */
    uint8_t invoke_id[8];                      /* the worker invocation's span, parent of the handler's work */
    uint8_t flags;                             /* W3C flags passed on: bit 0 sampled */
    int recording;                             /* sampled, and the tracer exports: spans are made at the end */
    char traceparent[56];                      /* for the worker: 00-TRACE-INVOKE_ID-FLAGS */
    char tracestate[KUMO__TRACESTATE_MAX + 1]; /* the caller's, passed on; "" when none or refused */
    /* Borrowed until the spans are made (the invocation's end): */
    const char *url_path;  /* SERVER: the request's path (url.path); NULL for events */
    const char *base_path; /* SERVER: the API's base path, before the route template; NULL: none */
    const char *symbol;    /* the handler's symbol, for "invoke UNIT.SYMBOL" */
    /* A batch's other messages: their traceparents (NULL entries and
     * invalid ones are skipped), linked from the CONSUMER span; n_links
     * 0 (kumo__span_ctx_begin's) for anything but a batch. */
    const char *const *link_tps;
    size_t n_links;
} kumo__span_ctx;

/* Starts the context of an invocation: continues the caller's traceparent
 * (`tp`, tp_len bytes; NULL or invalid: a new trace) and keeps its
 * tracestate (`ts`, NULL or refused: none), makes the span ids, asks t's
 * sampler. t NULL: sampled when the parent is (or when there is none),
 * never recording. */
void kumo__span_ctx_begin(kumo__span_ctx *sc, const kumo__tracer *t, const char *tp, size_t tp_len, const char *ts,
                          size_t ts_len);

/* ---- an invocation's spans ---- */

/* What the end of an invocation says, for kumo__trace_invocation. */
typedef struct kumo__inv_record {
    const kumo__span_ctx *sc;
    int http;                 /* SERVER span (else CONSUMER) */
    const char *method;       /* http: the method */
    const char *route_prefix; /* http: the API's base path (NULL: none), then */
    const char *route;        /* the route template */
    const char *trigger;      /* faas.trigger */
    const char *function, *operation, *request_id;
    int status;          /* HTTP status, or the event's outcome as one */
    const char *failure; /* NULL, or why the invocation failed (the worker crashed...) */
    int cold;
    long worker_pid;                          /* 0: none (kumo-host runs the handler in process) */
    uint64_t start_ns, dispatched_ns, end_ns; /* epoch; dispatched 0: never sent to a worker */
} kumo__inv_record;

/* Makes the invocation's spans, when sc->recording: SERVER "METHOD ROUTE"
 * or CONSUMER "process OPERATION" (the caller's child, or the root), and
 * under it "queue wait" (start -> dispatched) and "invoke FUNCTION.SYMBOL"
 * (dispatched -> end, sc->invoke_id: the handler's parent). */
void kumo__trace_invocation(kumo__tracer *t, const kumo__inv_record *r);
/* The store calls a handler recorded (KF_STORE_SPAN fields of a response
 * payload), as CLIENT spans under sc's invoke span. */
void kumo__trace_store_calls(kumo__tracer *t, const kumo__span_ctx *sc, const char *payload, size_t len);

/* ---- the bounded buffer ---- */

typedef struct kumo__span_buf kumo__span_buf;
/* Holds at least `capacity` spans (rounded up to a power of two, at least
 * 2); NULL when out of memory. Memory is reserved, not touched, until used. */
kumo__span_buf *kumo__span_buf_create(size_t capacity);
void kumo__span_buf_free(kumo__span_buf *b);
/* Any thread, never blocks: 0, or -ENOSPC when full (the span is dropped
 * and counted). */
int kumo__span_buf_push(kumo__span_buf *b, const kumo__span *s);
/* One consumer: 1 and *out filled, or 0 when empty. */
int kumo__span_buf_pop(kumo__span_buf *b, kumo__span *out);
/* One consumer, without a copy: the oldest span, readable in place until
 * kumo__span_buf_release, or NULL when empty. */
const kumo__span *kumo__span_buf_peek(kumo__span_buf *b);
/* The span kumo__span_buf_peek gave is done with: its cell is free. */
void kumo__span_buf_release(kumo__span_buf *b);
/* The consumer drops everything waiting without reading it: how many. */
size_t kumo__span_buf_discard(kumo__span_buf *b);
/* Whether a push would be refused now (a hint: the consumer may make room
 * at any moment); and counting n spans as dropped without pushing them. */
int kumo__span_buf_full(const kumo__span_buf *b);
/* How many spans wait (a hint, as above). */
size_t kumo__span_buf_waiting(const kumo__span_buf *b);
void kumo__span_buf_count_dropped(kumo__span_buf *b, uint64_t n);
/* Spans pushed so far (accepted, maybe not yet readable), and spans the
 * buffer refused. */
uint64_t kumo__span_buf_pushed(const kumo__span_buf *b);
uint64_t kumo__span_buf_dropped(const kumo__span_buf *b);
size_t kumo__span_buf_capacity(const kumo__span_buf *b);

/* ---- OTLP/HTTP JSON ---- */

/* The ExportTraceServiceRequest for n spans of one service, malloc'd and
 * NUL-terminated (*len without the NUL); NULL when out of memory. Ids are
 * hex, enums integers, 64-bit numbers strings (proto3's JSON mapping). */
char *kumo__otlp_json(const kumo__span *spans, size_t n, const char *service_name, size_t *len);

/* ---- OTLP/HTTP protobuf (otlp_proto.c) ---- */

/* The same request in binary protobuf: a malloc'd buffer (free it) in
 * which the message is the *len bytes from offset *start; NULL when out of
 * memory. Ids raw bytes, times fixed64, invalid UTF-8 replaced. */
char *kumo__otlp_proto(const kumo__span *spans, size_t n, const char *service_name, size_t *len, size_t *start);
/* The same message made span by span, so that the exporter encodes
 * straight from the buffer's cells, with no batch of copies: begin, add
 * each span, finish; reset starts the next message in the same memory. */
typedef struct kumo__otlp_pb {
    kumo__growbuf res, scope, b; /* the resource and the scope (made once); the message */
    size_t head;                 /* room kept before the spans for the prefixes */
    size_t n;                    /* spans added */
} kumo__otlp_pb;
/* 0, or -ENOMEM. */
int kumo__otlp_pb_begin(kumo__otlp_pb *e, const char *service_name);
void kumo__otlp_pb_add(kumo__otlp_pb *e, const kumo__span *s);
/* The message's bytes (inside e, valid until the next reset), or NULL
 * when memory ran out on the way. */
const char *kumo__otlp_pb_finish(kumo__otlp_pb *e, size_t *len);
/* Bytes of span data so far. */
size_t kumo__otlp_pb_size(const kumo__otlp_pb *e);
void kumo__otlp_pb_reset(kumo__otlp_pb *e);
void kumo__otlp_pb_free(kumo__otlp_pb *e);

/* ---- the tracer: configuration, buffer, exporter (otlp.c) ---- */

/* What kumo.yaml says (observability.traces); NULL and 0 fields take the
 * defaults. The OTEL_* variables win over it. */
typedef struct kumo__trace_config {
    const char *endpoint;     /* OTLP/HTTP base URL; "/v1/traces" is added */
    const char *sampler;      /* NULL: parentbased_always_on */
    double ratio;             /* < 0: the default, 1.0 */
    size_t buffer;            /* 0: 4096 */
    const char *protocol;     /* "http/protobuf" or "http/json"; NULL: http/protobuf */
    int exporter_normal;      /* the exporter at the loops' priority; 0: SCHED_IDLE (spans give way) */
    const char *service_name; /* the default service.name: the project's name */
} kumo__trace_config;

struct kumo__metrics;

/* Reads the configuration and the environment (OTEL_SDK_DISABLED,
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_TIMEOUT,
 * OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_SERVICE_NAME) and,
 * when there is an endpoint, starts the exporter thread. `env` NULL reads
 * the process's environment; otherwise a NULL-terminated "K=V" list
 * (tests). 0 and *out (the caller's: kumo__tracer_free), or a negative
 * code with err set (a protocol other than http/protobuf or http/json
 * (grpc is refused: kumo speaks OTLP/HTTP), an unknown sampler,
 * a bad ratio or header). */
int kumo__tracer_create(const kumo__trace_config *cfg, char *const *env, kumo__tracer **out, kumo__error *err);
/* Stops the exporter after one last export of what is buffered (bounded
 * by the export timeout), and frees. NULL does nothing. */
void kumo__tracer_free(kumo__tracer *t);
/* How the exporter POSTs a batch: libcurl unless a process sets another
 * poster before its first tracer (kumo-host and kumo-lambda set kumo's own
 * HTTP client:
 * host/own_http.c). A poster sends body (len bytes) to url with the
 * NULL-terminated "Name: value" headers (OTEL_EXPORTER_OTLP_HEADERS',
 * then Content-Type), within timeout_ms, and returns 0 with the
 * answer's status in *status, or -1 with why said (no answer). It is
 * called from the exporter thread only. */
typedef int (*kumo__otlp_poster)(const char *url, const char *const *headers, const void *body, size_t len,
                                 long timeout_ms, long *status, char *why, size_t whylen);
void kumo__otlp_set_poster(kumo__otlp_poster post);
/* Counters go to the metrics registry too from now on (m may be NULL). */
void kumo__tracer_set_metrics(kumo__tracer *t, struct kumo__metrics *m);
/* Whether spans are recorded at all (an endpoint, and not disabled). */
int kumo__tracer_recording(const kumo__tracer *t);
const kumo__sampler *kumo__tracer_sampler(const kumo__tracer *t);
/* The export URL ("" when none) and service name, for the start-up line. */
const char *kumo__tracer_endpoint(const kumo__tracer *t);
const char *kumo__tracer_service(const kumo__tracer *t);
/* Hands a finished span to the exporter: never blocks; a full buffer
 * drops it (counted). */
void kumo__tracer_submit(kumo__tracer *t, const kumo__span *s);
/* When the buffer is full: counts n spans as dropped and returns 1, so
 * the caller need not build them; else 0. */
int kumo__tracer_shed(kumo__tracer *t, uint64_t n);
/* Spans the collector accepted, and spans dropped (buffer full, or a
 * failed export), since the tracer started. */
uint64_t kumo__tracer_exported(const kumo__tracer *t);
uint64_t kumo__tracer_dropped(const kumo__tracer *t);

#endif
