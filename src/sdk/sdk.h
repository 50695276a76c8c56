/*
 * sdk.h: libkumo's internals shared across its files (kumo__ prefix).
 *
 * An adapter (adapters/local.c for kumo's runtime; lambda and http later)
 * fills a kumo_request from its transport, with every string pointing into
 * memory that lives as long as the invocation (the frame buffer or the
 * arena), calls the handler, then reads the kumo_response back out. Nothing
 * here is seen by a function author.
 */
#ifndef KUMO_SDK_H
#define KUMO_SDK_H

#include <kumo.h>
#include "base/error.h"
#include "base/log.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- arena: one per invocation, reset after the response is sent ---- */

typedef struct kumo__arena_chunk kumo__arena_chunk;
typedef struct kumo__arena {
    kumo__arena_chunk *head;
    size_t used; /* bytes handed out, for limits and tests */
} kumo__arena;

void kumo__arena_init(kumo__arena *a);
/* 16-byte aligned; NULL only when malloc fails. */
void *kumo__arena_alloc(kumo__arena *a, size_t size);
char *kumo__arena_strndup(kumo__arena *a, const char *s, size_t len);
/* Frees every chunk but the first, which is kept for the next invocation. */
void kumo__arena_reset(kumo__arena *a);
void kumo__arena_free(kumo__arena *a);

/* ---- request / response --------------------------------------------- */

typedef struct kumo__pair {
    const char *name;  /* NUL-terminated */
    const char *value; /* NUL-terminated */
} kumo__pair;

typedef struct kumo__part_view {
    const char *name, *filename, *content_type; /* NUL-terminated copies */
    const char *data;
    size_t len; /* in the frame */
} kumo__part_view;

struct kumo_request {
    const char *method, *path, *query_string;
    const kumo__pair *params;
    size_t nparams; /* path parameters, decoded */
    const kumo__pair *headers;
    size_t nheaders; /* names lower case */
    kumo__pair *query;
    size_t nquery; /* decoded lazily by kumo__request_parse_query */
    int query_parsed;
    const char *body;
    size_t body_len; /* NUL after body_len */
    json_t *json;    /* parsed lazily; decref'd by kumo__invocation_clear */
    int json_parsed;
    /* What the gateway's contract check produced (NULL when it did not run):
     * JSON texts parsed on first use, like the body. */
    const char *typed_text, *form_text;
    json_t *typed, *form;
    int typed_parsed, form_parsed;
    kumo__part_view *parts;
    size_t nparts; /* multipart files, in the arena */
    const char *response_type;
    /* Who called, as the gateway's security check found (NULL: anonymous,
     * or the operation has no security); the claims' JSON text parsed on
     * first use. */
    const char *auth_scheme, *auth_subject, *auth_claims_text;
    json_t *auth_claims;
    int auth_claims_parsed;
    /* The CloudEvents it carries (event.c), read on the first kumo_event_*
     * call into the arena: events[nevents]; for a structured single event
     * also its attributes as strings (attrs[nattrs]). */
    kumo_event *events;
    size_t nevents;
    kumo__pair *ce_attrs;
    size_t nce_attrs;
    int events_parsed;
    kumo_ctx *ctx; /* for lazy allocations */
};

struct kumo_response {
    int status; /* 0 until set: the adapter sends 200 */
    kumo__pair *headers;
    size_t nheaders, cap_headers; /* in the arena */
    const char *body;
    size_t body_len; /* in the arena */
    /* The ids kumo_event_fail marked (event.c), in the arena, each once. */
    const char **failed;
    size_t nfailed, cap_failed;
    kumo_ctx *ctx;
};

/* Ceilings of what a handler may produce (the gateway has its own). */
#define KUMO__RESPONSE_HEADERS_MAX 100
/* a log line's ceiling, KUMO__LOG_LINE_MAX, is base/log.h's */

struct kumo__http_call;
struct kumo__http_result;

struct kumo_ctx {
    kumo__arena arena;
    const char *request_id;
    const char *operation;
    const char *function; /* the unit's name, for log lines */
    uint64_t deadline_ms; /* epoch ms; 0: none */
    /* The request's path: a problem document's `instance` (NULL outside
     * an invocation). */
    const char *path;
    /* Stores (src/sdk/stores): the backend's message of the invocation's last
     * failed store call ("" when none). */
    char store_error[256];
    /* What the invocation must release when it ends (kumo__ctx_defer),
     * latest first; NULL when nothing. */
    struct kumo__defer *defers;
    /* Tracing (sdk/trace.c): the request's valid traceparent (NULL when it
     * has none); while it is sampled, each store call is recorded into
     * store_calls (in the arena, at most KUMO__STORE_CALLS_MAX, the rest
     * counted) and sent back in the response frame as KF_STORE_SPAN. */
    const char *traceparent;
    int trace_sampled;
    struct kumo__store_call *store_calls;
    size_t nstore_calls, store_calls_dropped;
    const char *store_driver; /* the driver of the store the last kumo__store_get found */
    /* The span id the store call in progress was given ahead of time (a
     * send or publish, whose message names it as its consumer's parent):
     * valid while store_span_set, which kumo__trace_store_begin clears. */
    uint8_t store_span_id[8];
    int store_span_set;
    /* Outbound HTTP (sdk/http.c): the last failed call's message, and how
     * calls leave this process: through the gateway (the local adapter
     * sets http_transport: a KF_HTTP_CALL frame) or, when NULL, in process
     * with libcurl against the services kumo__http_services_set gave. */
    char http_error[256];
    int (*http_transport)(kumo_ctx *ctx, const struct kumo__http_call *call, struct kumo__http_result *out);
    void *http_transport_data;
};

/* Prepares ctx/req/res for one invocation (arena must be initialised). */
void kumo__invocation_init(kumo_ctx *ctx, kumo_request *req, kumo_response *res);
/* Releases what the invocation holds (JSON body, then its deferred calls,
 * latest first), and resets the arena. */
void kumo__invocation_clear(kumo_ctx *ctx, kumo_request *req, kumo_response *res);

/* A resource of the invocation that is not memory (a blob stream's fd, a
 * temporary file) is released by the invocation when its owner forgets
 * to (lwan's coro_defer, h2o's dispose callbacks): kumo__ctx_defer makes
 * kumo__invocation_clear call fn(arg); the owner that releases it itself
 * first takes the call back with kumo__ctx_undefer. The entry lives in
 * ctx's arena; NULL when out of memory (nothing is deferred then). */
typedef struct kumo__defer kumo__defer;
kumo__defer *kumo__ctx_defer(kumo_ctx *ctx, void (*fn)(void *arg), void *arg);
/* Takes back a call that has not run; d NULL does nothing. */
void kumo__ctx_undefer(kumo_ctx *ctx, kumo__defer *d);

/* ---- tracing (sdk/trace.c) ---- */

#define KUMO__STORE_CALLS_MAX 64 /* recorded per invocation; more are counted, not sent */

typedef struct kumo__store_call {
    const char *kind, *op, *store, *driver; /* kind, op: literals; store, driver: in the arena */
    uint64_t start_ns, duration_ns;
    int result;
    uint8_t span_id[8]; /* the CLIENT span's id when the SDK chose it (has_span_id) */
    int has_span_id;
} kumo__store_call;

/* Reads the request's traceparent header (decode_request has filled the
 * headers): sets ctx->traceparent and ctx->trace_sampled. */
void kumo__trace_request(kumo_ctx *ctx, const kumo_request *req);
/* Around a store call: begin returns its start (epoch ns), 0 when the
 * invocation is not traced; end records the call when begin did not
 * return 0. kind and op must be literals. */
uint64_t kumo__trace_store_begin(kumo_ctx *ctx);
void kumo__trace_store_end(kumo_ctx *ctx, uint64_t start_ns, const char *kind, const char *op, const char *store,
                           int rc);
/* The traceparent a message sent now carries (kumo_queue_send,
 * kumo_topic_publish), between begin (start_ns) and end: while the call is
 * recorded, a span id chosen now for its CLIENT span (so the consumer's
 * span is that span's child), written into buf; else the invocation's own
 * traceparent; NULL when the invocation has none. */
const char *kumo__trace_send_context(kumo_ctx *ctx, uint64_t start_ns, char buf[56]);
/* Puts the recorded store calls into the response frame being written. */
struct kumo__frame_writer;
void kumo__trace_put_store_calls(kumo_ctx *ctx, struct kumo__frame_writer *w);

/* Percent-decodes in place-safe fashion into the arena; `plus` turns '+'
 * into ' ' (query strings). NULL on a malformed escape or no memory. */
char *kumo__percent_decode(kumo__arena *a, const char *s, size_t len, int plus);

/* ---- stores: four kinds, drivers behind versioned tables ------------ */

/* A store is of one kind (kv, blob, queue, topic: kv.c, blob.c, queue.c, topic.c) and is
 * served by one driver of that kind, picked by its URL's scheme. store.c
 * opens, names, caches and closes stores of every kind the same way,
 * through the two heads below; a kind adds its operations after them. */

typedef struct kumo__store kumo__store;

/* The head of every driver table: store.c finds a driver by it, opens and
 * closes through it. A new driver is one file and one line in its kind's
 * table (kv.c, blob.c, queue.c). */
typedef struct kumo__driver_head {
    int version;        /* the kind's KUMO__*_DRIVER_VERSION */
    const char *scheme; /* the URL scheme it serves: "sqlite" */
    /* Opens the store at `url` (called `name` in kumo.yaml): 0, or a KUMO_E*
     * code with e set (the message never quotes a password). */
    int (*open)(const char *url, const char *name, kumo__store **out, kumo__error *e);
    void (*close)(kumo__store *s); /* frees the driver's handle */
} kumo__driver_head;

/* The head of every open store, whatever its kind. */
struct kumo__store {
    const kumo__driver_head *driver;
    char *name;      /* the store's name in kumo.yaml; store.c's */
    char error[256]; /* the backend's last message */
};

/* A kind's open store starts with the store head, seen both as such
 * (`store`, for store.c) and through the kind's own driver type (`driver`,
 * `name`, `error`, for the kind's file and its drivers). A driver's handle
 * in turn starts with its kind's (`kumo__kv base;`). */
#define KUMO__STORE_HEAD(driver_type)                                                                                  \
    union {                                                                                                            \
        kumo__store store;                                                                                             \
        struct {                                                                                                       \
            const driver_type *driver;                                                                                 \
            char *name;                                                                                                \
            char error[256];                                                                                           \
        };                                                                                                             \
    }

/* What makes a kind of store: the one descriptor a new kind adds. */
typedef struct kumo__store_kind_desc {
    const char *name;  /* "kv", "blob", "queue": in driver messages */
    const char *label; /* "kv store", "blob store", "queue": in lookup messages */
    int version;       /* its drivers' KUMO__*_DRIVER_VERSION */
    const kumo__driver_head *const *drivers;
    size_t ndrivers;
    /* Optional: the kind's own URL options (queue: max_receives=). Called
     * with s NULL before the driver opens, to refuse a bad URL (0, or a
     * KUMO_E* code with e set), then with the open store to apply them. */
    int (*options)(const char *url, kumo__store *s, kumo__error *e);
} kumo__store_kind_desc;

extern const kumo__store_kind_desc kumo__kv_kind, kumo__blob_kind, kumo__queue_kind; /* and kumo__topic_kind */

/* Opens a store of `kind` from a URL directly (the gateway's start-up
 * check, tests, tools): 0 with *out the caller's (kumo__store_close), or
 * a KUMO_E* code with e set and *out NULL. */
int kumo__store_open(const kumo__store_kind_desc *kind, const char *url, const char *name, kumo__store **out,
                     kumo__error *e);
/* Closes a store kumo__store_open opened; NULL does nothing. */
void kumo__store_close(kumo__store *s);

/* The store of `kind` named `name`: opened on first use from the URL in
 * the environment variable KUMO_STORE_<NAME> (base/store_var.h), cached
 * for the process (one table for every kind; forgotten in a forked child,
 * whose parent's handles are not its own). A failed open is not cached.
 * NULL and a KUMO_E* code in *err when it cannot be; the reason is then
 * logged and, with ctx, recorded as its store error (never the URL: it may
 * hold a password). */
#define KUMO__STORES_MAX 32 /* of one kind in one process */
kumo__store *kumo__store_get(const kumo__store_kind_desc *kind, kumo_ctx *ctx, const char *name, int *err);
/* Closes every cached store of every kind (worker exit). */
void kumo__stores_close_all(void);

/* The value of `key` in a store URL's query (after '?', '&'-separated,
 * undecoded) copied into buf: 1 when present, 0 when absent. */
int kumo__url_query(const char *url, const char *key, char *buf, size_t size);
/* Refuses a URL with a query parameter not in `known` (NULL-terminated):
 * KUMO_EINVAL and a message that names the parameter, never its value. A
 * parameter a driver would not act on is never ignored. */
int kumo__url_params_known(const char *url, const char *const *known, kumo__error *e);
/* Records a failed call's message in ctx->store_error (msg "" or NULL: the
 * code's kumo_strerror). */
void kumo__store_error_set(kumo_ctx *ctx, int code, const char *msg);

/* Every driver call past open returns 0 or a KUMO_E* code, and may leave
 * the backend's message in the handle's `error` (see kumo_store_error),
 * cleared by the kind's file before each call. A driver that lost its
 * connection reconnects on the next call. */

/* ---- kv drivers ---- */

#define KUMO__KV_DRIVER_VERSION 3 /* 2: put takes a TTL; get_many. 3: the driver head */

typedef struct kumo__kv kumo__kv; /* a driver's open store; extends this base */
struct kumo__kv {
    KUMO__STORE_HEAD(struct kumo__kv_driver);
};

typedef struct kumo__kv_driver {
    kumo__driver_head common; /* .version = KUMO__KV_DRIVER_VERSION */
    /* Values are allocated in `a`. */
    int (*get)(kumo__kv *kv, kumo__arena *a, const char *key, size_t klen, kumo_kv_item *out);
    /* expect_version: UINT64_MAX for an unconditional put, else CAS.
     * ttl_ms: 0 for no expiry; an expired key reads as absent. */
    int (*put)(kumo__kv *kv, const char *key, size_t klen, const void *val, size_t vlen, uint64_t expect_version,
               uint64_t ttl_ms, uint64_t *new_version);
    int (*del)(kumo__kv *kv, const char *key, size_t klen);
    int (*list)(kumo__kv *kv, kumo__arena *a, const char *prefix, const char *cursor, size_t limit, int values,
                kumo_kv_page *out);
    /* Optional (NULL: kv.c calls get per key). */
    int (*get_many)(kumo__kv *kv, kumo__arena *a, const char *const *keys, size_t n, kumo_kv_item *out);
} kumo__kv_driver;

/* The key range a list of `prefix` ("" for all) after `cursor` (NULL at
 * the start) reads, for drivers that keep keys as ordered bytes: from
 * lower (included; the prefix, or cursor||0x00 when that is further) up to
 * upper (excluded: the prefix's successor, its last byte below 0xff raised
 * by one and what follows cut; ulen 0 when there is none and the range is
 * open above). upper is in the arena; lower points at prefix or cursor.
 * 0, or KUMO_ENOMEM. */
typedef struct kumo__kv_range {
    const char *lower;
    size_t llen;
    char *upper;
    size_t ulen;
} kumo__kv_range;
int kumo__kv_list_range(kumo__arena *a, const char *prefix, const char *cursor, kumo__kv_range *r);

/* ---- blob drivers ---- */

#define KUMO__BLOB_DRIVER_VERSION 2 /* 2: the driver head */

typedef struct kumo__blob kumo__blob;
struct kumo__blob {
    KUMO__STORE_HEAD(struct kumo__blob_driver);
};

typedef struct kumo__blob_stream kumo__blob_stream; /* a driver's open writer or reader */

typedef struct kumo__blob_driver {
    kumo__driver_head common; /* .version = KUMO__BLOB_DRIVER_VERSION */
    int (*put)(kumo__blob *b, const char *key, const void *data, size_t len, const char *content_type);
    int (*get)(kumo__blob *b, kumo__arena *a, const char *key, const void **data, size_t *len, kumo_blob_info *info);
    int (*head)(kumo__blob *b, kumo__arena *a, const char *key, kumo_blob_info *info);
    int (*del)(kumo__blob *b, const char *key);
    int (*list)(kumo__blob *b, kumo__arena *a, const char *prefix, const char *cursor, size_t limit,
                kumo_blob_page *out);
    /* Streaming: a writer's data is invisible until commit. */
    int (*writer_open)(kumo__blob *b, const char *key, const char *content_type, kumo__blob_stream **out);
    int (*write)(kumo__blob_stream *s, const void *data, size_t len);
    int (*commit)(kumo__blob_stream *s); /* frees s */
    void (*abort)(kumo__blob_stream *s); /* frees s */
    int (*reader_open)(kumo__blob *b, kumo__arena *a, const char *key, kumo__blob_stream **out, kumo_blob_info *info);
    int (*read)(kumo__blob_stream *s, void *buf, size_t cap, size_t *got);
    void (*reader_close)(kumo__blob_stream *s);
} kumo__blob_driver;

/* ---- queue drivers ---- */

#define KUMO__QUEUE_DRIVER_VERSION 4 /* 2: the driver head. 3: wait. 4: send's trace, message.trace */

typedef struct kumo__queue kumo__queue;
struct kumo__queue {
    KUMO__STORE_HEAD(struct kumo__queue_driver);
    unsigned max_receives; /* dead-letter after this many (URL max_receives=, default 5) */
};

/* A backend that cannot tell a stale receipt from a current one (SQS: an
 * ack with an old receipt "succeeds" and may or may not delete). */
#define KUMO__QUEUE_STALE_RECEIPTS_UNDETECTED 1u
/* A backend whose messages hold less than queue.c's 192 KiB body (Azure
 * Queue storage: 48,000 bytes; larger is KUMO_ETOOBIG). */
#define KUMO__QUEUE_SMALL_BODIES 2u
/* A backend whose depth cannot tell a delayed message from an in-flight
 * one (Azure Queue storage: both are invisible): depth counts delayed ones
 * in in_flight and says delayed -1. */
#define KUMO__QUEUE_DEPTH_DELAYED_UNSPLIT 4u

/* A queue's messages by state (kumo__queue_driver.depth). */
typedef struct kumo__queue_depth {
    int64_t ready, in_flight, delayed;
} kumo__queue_depth;

typedef struct kumo__queue_driver {
    kumo__driver_head common; /* .version = KUMO__QUEUE_DRIVER_VERSION */
    /* trace: the sender's W3C traceparent (NULL: none), kept with the
     * message and given back by receive in kumo_queue_message.trace (NULL
     * when it had none), through nacks, dead-lettering and redrive. */
    int (*send)(kumo__queue *q, kumo__arena *a, const void *body, size_t len, uint64_t delay_ms, const char *trace,
                const char **id);
    int (*receive)(kumo__queue *q, kumo__arena *a, size_t max, uint64_t visibility_ms, kumo_queue_message *out,
                   size_t *count);
    int (*ack)(kumo__queue *q, const char *receipt);
    int (*nack)(kumo__queue *q, const char *receipt, uint64_t delay_ms);
    /* Optional (NULL: the caller polls). Blocks until a message may be ready
     * (something was sent since the last receive, as far as the backend
     * can tell) or `timeout_ms` passed: 0 either way (a wake-up is a hint,
     * never a promise: receive decides), or a KUMO_E* code, after which the
     * caller polls. Called by the one thread that also receives on q (the
     * gateway's consumers); a send from any process or thread wakes it.
     * Delayed messages coming due do not wake it: callers bound timeout_ms. */
    int (*wait)(kumo__queue *q, uint64_t timeout_ms);
    /* What the backend cannot do, so that callers (and the conformance
     * suite) know: KUMO__QUEUE_* bits below; 0 for a full driver. */
    unsigned limits;
    /* Optional (NULL: the backend cannot tell): how many messages the queue
     * holds, for `kumo events` (-1 in a field the backend cannot count).
     * A message is ready (receivable now), in flight (received, neither
     * acked nor nacked, its visibility not over) or delayed (sent with a
     * delay, or nacked with one). Counts may be approximate (SQS). */
    int (*depth)(kumo__queue *q, kumo__queue_depth *out);
} kumo__queue_driver;

/* A received message's trace as the drivers hand it out: a copy in a of
 * the len bytes at s, or NULL when there are none or more than a
 * traceparent's 55 (what a backend row holds is not trusted further; the
 * consumer checks the rest). */
const char *kumo__queue_trace_copy(kumo__arena *a, const char *s, size_t len);

/* ---- topic drivers ---- */

/* A topic (topic.c) fans each message published to it out to every
 * subscription registered at that moment, atomically: every subscription
 * gets it or none does. A subscription is an event of kumo.yaml (events:
 * NAME: {topic: TOPIC}); its messages wait in a queue of its own, named
 * TOPIC.EVENT (kumo__topic_subscription_queue), that the driver holds and
 * hands out as an ordinary queue store (receive/ack/nack, dead letters in
 * TOPIC.EVENT-dead), so the gateway's consumer reads it like any queue. */

#define KUMO__TOPIC_DRIVER_VERSION 2 /* 2: publish's trace */

typedef struct kumo__topic kumo__topic;
struct kumo__topic {
    KUMO__STORE_HEAD(struct kumo__topic_driver);
};

typedef struct kumo__topic_driver {
    kumo__driver_head common; /* .version = KUMO__TOPIC_DRIVER_VERSION */
    /* One message to every subscription registered now (none: dropped, as
     * SNS does); *id, in a, names it. trace: the sender's traceparent
     * (NULL: none), which every subscription's copy carries. */
    int (*publish)(kumo__topic *t, kumo__arena *a, const void *data, size_t len, const char *trace, const char **id);
    /* Registers the subscription `event` for `owner` (the project whose
     * event it is; the last to register owns it); registering it again is
     * not an error. Messages published before it was registered never
     * reach it. */
    int (*subscribe)(kumo__topic *t, const char *event, const char *owner);
    /* Stops fanning out to `event` (absent: not an error); what already
     * waits in its queue is kept. */
    int (*unsubscribe)(kumo__topic *t, const char *event);
    /* The events subscribed now for `owner` (NULL: anyone's): *names (n of
     * them) and each name in a, sorted. */
    int (*list)(kumo__topic *t, kumo__arena *a, const char *owner, const char ***names, size_t *n);
    /* Opens the queue of subscription `event` as a queue store (the
     * caller's, kumo__store_close): 0, or a KUMO_E* code with e set. */
    int (*open_subscription)(kumo__topic *t, const char *event, kumo__queue **out, kumo__error *e);
} kumo__topic_driver;

extern const kumo__store_kind_desc kumo__topic_kind;
extern const kumo__topic_driver kumo__topic_sqlite_driver, kumo__topic_redis_driver, kumo__topic_sns_driver;

/* TOPIC.EVENT into buf: 0, or KUMO_EINVAL when it does not fit (with
 * "-dead" after it) or a name is empty or holds a character outside
 * [A-Za-z0-9_-]. */
#define KUMO__TOPIC_QUEUE_MAX 160
int kumo__topic_subscription_queue(const char *topic, const char *event, char *buf, size_t size);
/* The gateway's calls (each clears the handle's error first; the
 * backend's message is left in t->error). */
int kumo__topic_subscribe(kumo__topic *t, const char *event, const char *owner);
int kumo__topic_unsubscribe(kumo__topic *t, const char *event);
int kumo__topic_list(kumo__topic *t, kumo__arena *a, const char *owner, const char ***names, size_t *n);
int kumo__topic_open_subscription(kumo__topic *t, const char *event, kumo__queue **out, kumo__error *e);

extern const kumo__kv_driver kumo__kv_sqlite_driver;
/* A SQLite result code as a KUMO_E* code (busy: timed out; cannot open:
 * unavailable; ...), for the sqlite kv and queue drivers. */
int kumo__sqlite_status(int rc);
/* SQLite answers SQLITE_BUSY without calling its busy handler in a few
 * WAL cases (another connection running recovery or cleaning up as the
 * last one out). Given a result and the retries so far, sleeps a little and
 * returns 1 when the caller should run the statement again, 0 when the
 * result stands (not busy, or the busy timeout is spent). */
int kumo__sqlite_busy_again(int rc, unsigned *tries);
/* Both sqlite drivers: opens sqlite:PATH[?create=false] (making the
 * directory), WAL, busy timeout, and, unless create=false, runs `schema`
 * then `migrate` (may be NULL; it sets *step to what it runs) in one
 * BEGIN IMMEDIATE transaction. *created says whether create was allowed.
 * 0, or a KUMO_E* code with a message naming the path and the statement. */
struct sqlite3;
struct sqlite3_stmt;
int kumo__sqlite_open_url(const char *url, const char *schema, int (*migrate)(struct sqlite3 *db, const char **step),
                          struct sqlite3 **out, int *created, kumo__error *e);
/* Steps a statement that returns no row, then resets it and clears its
 * bindings; with retry_busy, kumo__sqlite_busy_again decides retries. */
int kumo__sqlite_step(struct sqlite3_stmt *st, int retry_busy);
/* Writes what failed for the result code `rc` a call on `db` returned:
 * "<SQLite's message> (SQLite code N)", N the extended code. The message
 * is db's own only while db still holds that error (a later call, such as
 * a ROLLBACK, clears it to "not an error"); else sqlite3_errstr(rc).
 * Call it before anything else runs on db. db may be NULL. */
void kumo__sqlite_describe(struct sqlite3 *db, int rc, char *out, size_t len);
extern const kumo__blob_driver kumo__blob_file_driver;
/* The URL of the blob events' outbox of the file: blob store at `blob_url`
 * (sqlite:DIR/.kumo-events.db; file_blob.c), into buf: 0, KUMO_EINVAL for
 * a URL that is not file:, KUMO_ETOOBIG when buf is too small. */
int kumo__file_blob_outbox_url(const char *blob_url, char *buf, size_t size);
/* Whether the object `key` of store `store` exists in the file: blob store
 * at `blob_url`: 1, 0, or a KUMO_E* code (a key the driver refuses, an
 * unreadable directory). For the blob events' consumer, which checks that
 * a created event's object came. */
int kumo__file_blob_exists(const char *blob_url, const char *store, const char *key);
extern const kumo__queue_driver kumo__queue_sqlite_driver;
/* Sends n messages in one transaction, all or none: bodies[i] (lens[i]
 * bytes) to the queue queues[i] of the same file as q, which must be an
 * open sqlite queue (the blob outbox of file_blob.c). 0 or a KUMO_E* code. */
int kumo__sqlite_queue_send_many(kumo__queue *q, const char *const *queues, const void *const *bodies,
                                 const size_t *lens, size_t n);
/* The AWS drivers (stores/dynamodb.c, s3.c, sqs.c over stores/aws.c). */
extern const kumo__kv_driver kumo__kv_dynamodb_driver;
extern const kumo__blob_driver kumo__blob_s3_driver;
extern const kumo__queue_driver kumo__queue_sqs_driver;
/* For the SNS topic driver (sns.c), from sqs.c: whether SQS takes `body` as
 * text (else it goes base64 with the attribute kumo-encoding=base64); and
 * the ARN of the open SQS queue kq (made, with its dead-letter queue, when
 * its URL allows), malloc'd into *arn, the queue's policy then letting the
 * SNS topic topic_arn (unless NULL) send to it. */
/* The Google Cloud drivers (stores/firestore.c, pubsub.c, gcs.c over stores/gcp.c). */
extern const kumo__kv_driver kumo__kv_firestore_driver;
extern const kumo__queue_driver kumo__queue_pubsub_driver;
extern const kumo__blob_driver kumo__blob_gcs_driver;
extern const kumo__topic_driver kumo__topic_pubsub_driver;
/* For the Pub/Sub topic driver (pubsub_topic.c), from pubsub.c: the queue
 * store of subscription `sub` of `topic` (the topic's URL gives project,
 * endpoint and max_receives=), which it reads but never makes: the
 * caller's, kumo__store_close. */
int kumo__pubsub_subscription_open(const char *url, const char *topic, const char *sub, kumo__queue **out,
                                   kumo__error *e);
int kumo__sqs_plain_text(const void *body, size_t len);
/* The Azure Storage drivers (stores/aztable.c, azblob.c, azqueue.c over
 * stores/azure.c); azservicebus: topics refused with what to use instead. */
extern const kumo__kv_driver kumo__kv_aztable_driver;
extern const kumo__blob_driver kumo__blob_azblob_driver;
extern const kumo__queue_driver kumo__queue_azqueue_driver;
extern const kumo__topic_driver kumo__topic_azure_driver;
int kumo__sqs_queue_arn(kumo__queue *kq, const char *topic_arn, char **arn);
/* Redis and PostgreSQL (stores/redis.c, redis_queue.c, postgres.c, postgres_queue.c). */
extern const kumo__kv_driver kumo__kv_redis_driver, kumo__kv_postgres_driver;
extern const kumo__queue_driver kumo__queue_redis_driver, kumo__queue_postgres_driver;

/* ---- outbound HTTP (sdk/http.c): the one implementation of the rules ----
 *
 * The gateway's egress thread (kumo up) and the SDK in process (kumo-host)
 * both run a call through a kumo__http_exchange: resolve the destination
 * against the declared services (the allow-list), set up a libcurl easy
 * handle for each attempt (deadline, size ceiling, headers, no redirects,
 * http and https only), and decide after each attempt whether to retry. */

/* A service as the gateway or kumo-host placed it (project/services.h's
 * target, secrets expanded). Borrowed strings. */
typedef struct kumo__http_service {
    const char *name;
    const char *url;            /* base URL, no trailing '/' */
    const char *const *headers; /* name, value, ...: 2 * nheaders */
    size_t nheaders;
    uint32_t timeout_ms; /* 0: none */
    size_t max_response;
} kumo__http_service;

/* One call as the handler asked for it. Borrowed strings; headers are
 * 2 * nheaders (name, value). */
typedef struct kumo__http_call {
    const char *method, *service, *url;
    const char *const *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
    uint64_t deadline_ms; /* epoch ms; 0: none */
    uint32_t timeout_ms, retries;
} kumo__http_call;

#define KUMO__HTTP_HEADERS_MAX 100      /* request or response header fields */
#define KUMO__HTTP_HEAD_MAX (64u << 10) /* a response's header block */
#define KUMO__HTTP_URL_MAX 8192
#define KUMO__HTTP_RETRIES_MAX 10

/* What a call produced: an error (0, or KUMO_E* with message), else the
 * status, headers ("name\0value\0" * nheaders in head, names lower case)
 * and body. service and url (no query) name what was called, for spans
 * and logs. Owned by whoever filled it: kumo__http_result_free. */
typedef struct kumo__http_result {
    int error;
    char message[256];
    int status;
    char *body;
    size_t body_len;
    char *head;
    size_t head_len, nheaders;
    char service[64];
    char url[256];
} kumo__http_result;
void kumo__http_result_free(kumo__http_result *r);
/* The Prometheus series a finished call counts in,
 * kumo_outbound_calls_total{service, outcome}: the status class (2xx...)
 * or the error (denied, timeout, too_big, unavailable, invalid, error);
 * service "-" for a call refused before one was matched. Into buf. */
void kumo__http_series(const kumo__http_result *r, char *buf, size_t len);
#define KUMO__HTTP_SERIES_HELP                                                                                         \
    "Outbound HTTP calls of the functions, by service and outcome (a status class or the error)"
/* Called with every call kumo_http makes in this process (not those a
 * transport hands to kumo up's gateway, which counts its own): how
 * kumo-host counts outbound calls. NULL: none. Set before serving. */
void kumo__http_set_observer(void (*fn)(const kumo__http_result *r));

/* Whether `a` and `b` have the same origin (scheme, host, port; default
 * ports filled in, case ignored): 1 or 0 (also for a URL that is not
 * http(s) with a host). */
int kumo__http_same_origin(const char *a, const char *b);
/* The allow-list: the URL a call goes to (malloc'd into *url) and its
 * service (*svc), or KUMO_EDENIED / KUMO_EINVAL with msg saying what to do. */
int kumo__http_resolve(const kumo__http_service *svcs, size_t n, const kumo__http_call *c, char **url,
                       const kumo__http_service **svc, char *msg, size_t msglen);
/* The URL without its query and fragment (what spans and logs show),
 * into buf. */
void kumo__http_url_for_logs(const char *url, char *buf, size_t len);

struct kumo__http_exchange;
typedef struct kumo__http_exchange kumo__http_exchange;
/* Starts an exchange for call c against svcs (copied: c may go away).
 * NULL only when out of memory; a refused call is an exchange that is
 * already done (kumo__http_exchange_next returns -1 at once). */
kumo__http_exchange *kumo__http_exchange_new(const kumo__http_service *svcs, size_t n, const kumo__http_call *c);
/* The easy handle for the next attempt (set up, not started), or NULL
 * when the exchange is done (the result is in). */
void *kumo__http_exchange_easy(kumo__http_exchange *x);
/* An attempt ended with libcurl's code: -1 when the exchange is done, else
 * the milliseconds to wait before the next attempt (a retry). */
long kumo__http_exchange_attempt_done(kumo__http_exchange *x, int curl_code);
/* The result (moved out: the exchange keeps nothing). */
void kumo__http_exchange_result(kumo__http_exchange *x, kumo__http_result *out);
/* Lends the exchange an easy handle to use instead of making one (its
 * connection cache is what makes a later call reuse a connection): reset,
 * never cleaned up, when the exchange is freed; the lender keeps it.
 * Before the first attempt only. */
void kumo__http_exchange_lend(kumo__http_exchange *x, void *easy);
/* The easy handle the exchange made or was lent (NULL before its first attempt). */
void *kumo__http_exchange_handle(kumo__http_exchange *x);
void kumo__http_exchange_free(kumo__http_exchange *x);
/* A whole exchange, blocking, with one easy handle (in process). */
void kumo__http_perform(const kumo__http_service *svcs, size_t n, const kumo__http_call *c, kumo__http_result *out);
/* on: kumo__http_perform runs its calls with kumo's own client
 * (sdk/stores/httpc.h: HTTP/1.1, TLS 1.2 through BearSSL with the
 * platform's CAs, no compression, no proxy, https only to a host name)
 * instead of libcurl: kumo-lambda, which carries no libcurl. Set before
 * serving. */
void kumo__http_use_builtin(int on);

/* The services calls in this process may reach (kumo-host; tests): copied.
 * Not thread-safe against calls in flight: set once at start. */
int kumo__http_services_set(const kumo__http_service *svcs, size_t n);

/* The frames: a call (worker -> gateway) and a result (gateway -> worker). */
void kumo__http_call_put(struct kumo__frame_writer *w, uint32_t id, const kumo__http_call *c);
/* Decodes a KUMO__FRAME_HTTP_CALL payload into *c, whose strings are
 * copies in *mem (the caller frees it). 0, -EPROTO or -ENOMEM. */
int kumo__http_call_read(const char *payload, size_t len, kumo__http_call *c, char **mem);
void kumo__http_result_put(struct kumo__frame_writer *w, uint32_t id, const kumo__http_result *r);
/* Decodes a KUMO__FRAME_HTTP_RESULT payload into *r (malloc'd copies). */
int kumo__http_result_read(const char *payload, size_t len, kumo__http_result *r);

/* ---- the local adapter (kumo's runtime): see adapters/local.c ---------- */

/* Serves invocations read from `fd` until EOF: dispatches each request
 * frame to the handler named in it, resolved with dlsym in `unit`
 * (a dlopen handle). Returns 0 on a clean EOF, negative on a protocol
 * error. */
int kumo__local_serve(int fd, void *unit, const char *function);
/* A primed spare's loop: its first frame is a KUMO__FRAME_ASSIGN, read
 * with the requests behind it, whose unit index goes to `assign`, which
 * makes this process that unit's worker and sets *unit (the dlopen handle)
 * and *function; 0, or a negative errno that ends the loop (returned). Then
 * as kumo__local_serve. -EPROTO when the first frame is not an ASSIGN. */
typedef int kumo__local_assign_fn(void *ctx, int unit_index, void **unit, const char **function);
int kumo__local_serve_primed(int fd, kumo__local_assign_fn *assign, void *ctx);
/* Reads the exported functions of `unit` (a dlopen handle) from its
 * dynamic symbol table, for kumo__local_serve's lookups without dlsym. A
 * fork server calls it once per unit, before it forks. 0, or -1 (then
 * lookups fall back to dlsym). */
int kumo__local_preload(void *unit);
/* What kumo__local_preload found for `name` in `unit`, or NULL. */
kumo_handler *kumo__local_find(void *unit, const char *name);
/* A spare's rehearsal, before it waits for a unit: one request frame
 * decoded (its trace context, typed parameters and JSON body read), a
 * handler of the SDK's own answering JSON, the answer encoded; nothing
 * written anywhere, no store, no log. The first request's path then runs
 * on memory this process has touched already (kumo-worker's fork server).
 * 0 when the answer was the one expected; negative errno otherwise. */
int kumo__local_rehearse(void);

/* The same, in this process (kumo-host): runs the request frame `payload`
 * (len bytes, a KUMO__FRAME_REQUEST's payload) through the handler it names
 * in `unit` and appends the whole response frame to w. 0, or a negative
 * errno when even an error frame could not be written. */
typedef struct kumo__invoker kumo__invoker;
struct kumo__frame_writer;
kumo__invoker *kumo__invoker_new(void *unit, const char *function);
int kumo__invoker_call(kumo__invoker *iv, const char *payload, size_t len, struct kumo__frame_writer *w);
void kumo__invoker_free(kumo__invoker *iv);

#endif
