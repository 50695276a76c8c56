/*
 * kumo.h: the whole API a kumo function is written against.
 *
 * A handler is one C function with one signature, whatever fires it (HTTP,
 * schedules, queues, topics, storage events and CloudEvents from outside):
 *
 *     #include <kumo.h>
 *     int get_todo(kumo_ctx *ctx, const kumo_request *req, kumo_response *res);
 *
 * Return 0 when the response is set (any status, 4xx included); a non-zero
 * return means the handler failed and the client gets a 500 problem.
 *
 * Memory: every pointer the SDK hands out (strings, bodies, kv values) lives
 * in the request's arena and stays valid until the handler returns; the
 * handler frees none of it. JSON values follow jansson's rules, noted at
 * each call. The same code runs under every adapter (kumo's own runtime,
 * AWS Lambda, plain HTTP); the handler never knows which.
 */
#ifndef KUMO_H
#define KUMO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KUMO_API __attribute__((visibility("default")))

#define KUMO_SDK_VERSION 1

typedef struct kumo_ctx kumo_ctx;
typedef struct kumo_request kumo_request;
typedef struct kumo_response kumo_response;

typedef int kumo_handler(kumo_ctx *ctx, const kumo_request *req, kumo_response *res);

/* Error codes: every SDK call that can fail returns 0 or one of these. */
enum {
    KUMO_OK = 0,
    KUMO_ENOTFOUND = -1000,    /* no such key, object or message */
    KUMO_ECONFLICT = -1001,    /* a version did not match */
    KUMO_ETOOBIG = -1002,      /* a key or value over the driver's limit */
    KUMO_EUNAVAILABLE = -1003, /* the backend cannot be reached */
    KUMO_ETIMEDOUT = -1004,    /* the backend did not answer in time */
    KUMO_EINVAL = -1005,       /* a bad argument (NULL, empty key, unknown store) */
    KUMO_ENOMEM = -1006,       /* out of memory */
    KUMO_EIO = -1007,          /* any other backend failure; see kumo_strerror */
    KUMO_EDENIED = -1008,      /* an outbound call to a destination kumo.yaml does not declare
                                  (declare the service in kumo.yaml services:) */
};

/* A static English description of an error code. */
KUMO_API const char *kumo_strerror(int code);
/* The backend's own message for the last failed store call of this
 * invocation ("" when none): what Redis, PostgreSQL or AWS said. Never
 * holds secrets. */
KUMO_API const char *kumo_store_error(const kumo_ctx *ctx);

/* ---- the invocation ------------------------------------------------- */

/* The request id (also in every log line and the X-Request-Id header). */
KUMO_API const char *kumo_ctx_request_id(const kumo_ctx *ctx);
/* The operationId of the OpenAPI operation that routed here, or "". */
KUMO_API const char *kumo_ctx_operation(const kumo_ctx *ctx);
/* The W3C trace context of this invocation, "00-TRACEID-SPANID-FLAGS",
 * whose span is the invocation's own: send it as the `traceparent` header
 * of the handler's outbound HTTP calls so they join the trace. NULL when
 * the invocation has none (it was not started by kumo's gateway or
 * kumo-host). Valid until the handler returns. */
KUMO_API const char *kumo_ctx_traceparent(kumo_ctx *ctx);
/* Milliseconds left before the invocation's deadline (0 when passed). */
KUMO_API int64_t kumo_ctx_remaining_ms(const kumo_ctx *ctx);
/* Allocates from the request's arena; freed after the handler returns. */
KUMO_API void *kumo_alloc(kumo_ctx *ctx, size_t size);
/* printf into the request's arena. */
KUMO_API char *kumo_sprintf(kumo_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- request accessors: NULL when absent ------------------------------- */

KUMO_API const char *kumo_request_method(const kumo_request *req);
/* The path as the client sent it, percent-encoded, without the query. */
KUMO_API const char *kumo_request_path(const kumo_request *req);
/* The raw query string without '?', or "". */
KUMO_API const char *kumo_request_query_string(const kumo_request *req);
/* A path template parameter ("id" of /todos/{id}), percent-decoded. */
KUMO_API const char *kumo_request_param(const kumo_request *req, const char *name);
/* The first value of a query parameter, percent-decoded ('+' is a space). */
KUMO_API const char *kumo_request_query(const kumo_request *req, const char *name);
/* A request header by case-insensitive name; repeated headers: the first. */
KUMO_API const char *kumo_request_header(const kumo_request *req, const char *name);
/* The body; *len receives its size. Never NULL: an absent body is "" of 0. */
KUMO_API const void *kumo_request_body(const kumo_request *req, size_t *len);
/* The body parsed as JSON: a borrowed reference owned by the request (do not
 * json_decref it), or NULL when the body is empty or not JSON. */
KUMO_API json_t *kumo_request_json(const kumo_request *req);

/* The parameters as the OpenAPI document types them, checked by the
 * gateway: {"path":{..},"query":{..},"header":{..},"cookie":{..}} with
 * integers as integers, arrays as arrays (every style and explode read).
 * Borrowed; NULL when the request was not checked against a spec. */
KUMO_API json_t *kumo_request_params(const kumo_request *req);
/* One typed parameter: `in` is "path", "query", "header" or "cookie";
 * borrowed, NULL when absent. E.g. json_integer_value(kumo_request_typed(req, "query", "limit")). */
KUMO_API json_t *kumo_request_typed(const kumo_request *req, const char *in, const char *name);
/* A form (application/x-www-form-urlencoded or multipart/form-data) body's
 * fields as an object typed by the spec; borrowed, NULL for other bodies. */
KUMO_API json_t *kumo_request_form(const kumo_request *req);
/* A multipart file by its field name: its bytes (len in *len), and its
 * filename and content type when those pointers are given; NULL when none. */
KUMO_API const void *kumo_request_file(const kumo_request *req, const char *name, size_t *len, const char **filename,
                                       const char **content_type);
/* The media type the gateway chose from Accept among the operation's
 * response types, or NULL (no Accept, or nothing declared). */
KUMO_API const char *kumo_request_response_type(const kumo_request *req);

/* Who called, as the gateway checked it against the operation's security
 * requirements (docs/security.md). The scheme's name in the OpenAPI
 * document (components.securitySchemes), or NULL when the caller is
 * anonymous (the operation has no security, or `{}` let them in). */
KUMO_API const char *kumo_request_auth_scheme(const kumo_request *req);
/* The caller: the API key's name in kumo.yaml, the Basic user, a token's
 * `sub`; NULL when kumo_request_auth_scheme is NULL. */
KUMO_API const char *kumo_request_auth_subject(const kumo_request *req);
/* A verified token's claims (borrowed: do not json_decref), or NULL (an
 * API key or Basic user has none). */
KUMO_API json_t *kumo_request_auth_claims(const kumo_request *req);

/* ---- events: CloudEvents 1.0 over HTTP ----------------------------------
 *
 * A schedule tick, a queue or topic message, a storage event, or a
 * CloudEvent POSTed by another producer reaches its handler as a request in
 * one of CloudEvents' three HTTP modes:
 *  - binary (one event): the attributes in ce-* headers, the data as body;
 *  - structured (one event): content-type application/cloudevents+json,
 *    the whole event a JSON object in the body;
 *  - batch (several): content-type application/cloudevents-batch+json, a
 *    JSON array of structured events (a queue event with batch: > 1).
 * A plain HTTP request (binary mode needs a ce-specversion header) carries
 * none: the calls below then return NULL or 0. */

/* The attribute `name` ("id", "type", "source", "time", "subject",
 * "specversion", or an extension's lower-case name) of a binary-mode event
 * (its ce-<name> header) or a structured one (the member of the JSON body;
 * a number or boolean as its JSON text), or NULL when absent or when the
 * request is a batch (use kumo_event_at). */
KUMO_API const char *kumo_event_attr(const kumo_request *req, const char *name);
/* kumo_event_attr(req, "id"), "type", "source", "time" (RFC 3339) and "subject". */
KUMO_API const char *kumo_event_id(const kumo_request *req);
KUMO_API const char *kumo_event_type(const kumo_request *req);
KUMO_API const char *kumo_event_source(const kumo_request *req);
KUMO_API const char *kumo_event_time(const kumo_request *req);
KUMO_API const char *kumo_event_subject(const kumo_request *req);

/* One event of a request, whatever its mode. Every pointer lives in the
 * request's arena (or the request itself) until the handler returns. */
typedef struct kumo_event {
    const char *id, *type, *source, *time, *subject; /* NULL when absent */
    const char
        *content_type; /* the data's media type (datacontenttype, or the content-type header); NULL when absent */
    const void *data;  /* the data's bytes: data_base64 decoded, a JSON `data` serialised compactly (a JSON
                        * string with a non-JSON content_type: its text); "" of len 0 when none */
    size_t len;
    unsigned receives; /* kumo-receive-count / kumoreceivecount: the delivery's receive count; 0 when not queued */
} kumo_event;

/* How many events the request carries: 0 for a plain HTTP request (or a
 * batch body that is not a JSON array of objects), 1 for a binary-mode or
 * structured event, N for a batch. */
KUMO_API size_t kumo_event_count(const kumo_request *req);
/* The i-th event (0-based) into *out: 0, KUMO_ENOTFOUND past the end,
 * KUMO_EINVAL for NULL arguments, KUMO_ENOMEM. */
KUMO_API int kumo_event_at(const kumo_request *req, size_t i, kumo_event *out);
/* Marks the event whose id is `id` failed, for a queued source (a queue or
 * topic event): the response becomes status 200 (unless the handler set
 * one) with the body {"batchItemFailures":[{"itemIdentifier":"ID"},...]},
 * application/json, every id marked so far listed once. Only those
 * messages come back (retried, then dead-lettered); the others are done.
 * A non-2xx status fails every message whatever the body says, and an id
 * that is not in the request fails them all (Lambda's rule). Setting the
 * body afterwards replaces the list. 0, KUMO_EINVAL (NULL, empty, or not
 * UTF-8), KUMO_ENOMEM. */
KUMO_API int kumo_event_fail(kumo_response *res, const char *id);

/* Iteration over headers and query parameters: index from 0 until 0 is
 * returned. Names are lower case for headers. */
KUMO_API int kumo_request_header_at(const kumo_request *req, size_t i, const char **name, const char **value);
KUMO_API int kumo_request_query_at(const kumo_request *req, size_t i, const char **name, const char **value);

/* ---- response setters ---------------------------------------------------- */

/* The status; 200 when never set. */
KUMO_API void kumo_response_status(kumo_response *res, int status);
/* Adds a header (copied). Returns 0 or KUMO_EINVAL for a name or value with
 * CR, LF or NUL in it. */
KUMO_API int kumo_response_header(kumo_response *res, const char *name, const char *value);
/* Sets the body (copied) and its Content-Type (NULL: application/octet-stream). */
KUMO_API int kumo_response_body(kumo_response *res, const void *body, size_t len, const char *content_type);
/* Sets status and a JSON body; takes ownership of `json` (decrefs it). */
KUMO_API int kumo_response_json(kumo_response *res, int status, json_t *json);
/* An RFC 9457 application/problem+json response: type about:blank, title
 * (NULL: the status's reason phrase), status, detail (may be NULL), and,
 * like the problems kumo writes itself, instance (the request's path) and
 * request_id (the id on its log lines and in X-Request-Id). */
KUMO_API int kumo_response_problem(kumo_response *res, int status, const char *title, const char *detail);

/* ---- logs ------------------------------------------------------------------ */

enum kumo_log_level { KUMO_LOG_DEBUG, KUMO_LOG_INFO, KUMO_LOG_WARN, KUMO_LOG_ERROR };

/* One JSON line on stderr, tagged with the request id and the function. */
KUMO_API void kumo_log(kumo_ctx *ctx, enum kumo_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- key-value stores ---------------------------------------------------------
 *
 * A store is named in kumo.yaml (stores: {kv: [todos]}); its URL comes from
 * the environment (embedded default: sqlite in the project's .kumo/). Keys
 * are byte strings of 1 to KUMO_KV_KEY_MAX bytes given as C strings here.
 */

#define KUMO_KV_KEY_MAX 1024

typedef struct kumo_kv_item {
    const char *key;
    const void *value; /* NULL in kumo_kv_list results unless values were asked */
    size_t len;
    uint64_t version; /* bumped by every put; 0 never stored */
} kumo_kv_item;

typedef struct kumo_kv_page {
    kumo_kv_item *items; /* in the arena */
    size_t count;
    const char *next; /* cursor for the next page, NULL at the end */
} kumo_kv_page;

/* Reads `key`. On 0, *out holds the value (in the arena, NUL-terminated for
 * convenience beyond len). KUMO_ENOTFOUND when absent. */
KUMO_API int kumo_kv_get(kumo_ctx *ctx, const char *store, const char *key, kumo_kv_item *out);
/* Writes `key` unconditionally. */
KUMO_API int kumo_kv_put(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len);
/* Writes `key` only when its current version is `version` (0: only when
 * absent). KUMO_ECONFLICT otherwise. *new_version (may be NULL) receives the
 * version written. */
KUMO_API int kumo_kv_cas(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len,
                         uint64_t version, uint64_t *new_version);
/* Deletes `key`; KUMO_ENOTFOUND when it was absent. */
KUMO_API int kumo_kv_delete(kumo_ctx *ctx, const char *store, const char *key);
/* Lists keys starting with `prefix` in byte order, at most `limit` (1..1000)
 * after `cursor` (NULL: from the start). With `values`, items carry values. */
KUMO_API int kumo_kv_list(kumo_ctx *ctx, const char *store, const char *prefix, const char *cursor, size_t limit,
                          int values, kumo_kv_page *out);

/* Writes `key` with a time to live: after `ttl_ms` milliseconds it reads
 * as absent (0: no expiry, like kumo_kv_put). */
KUMO_API int kumo_kv_put_ttl(kumo_ctx *ctx, const char *store, const char *key, const void *value, size_t len,
                             uint64_t ttl_ms);
/* Reads `n` keys at once: out[i] for keys[i]; absent keys have value NULL
 * and version 0. Returns 0 (absent keys are not an error) or an error. */
KUMO_API int kumo_kv_get_many(kumo_ctx *ctx, const char *store, const char *const *keys, size_t n, kumo_kv_item *out);

/* ---- blob stores ------------------------------------------------------------------
 *
 * Named under stores: {blob: [uploads]}; URL from KUMO_STORE_<NAME>
 * (embedded default: file: under the project's .kumo/data). Keys are
 * 1 to KUMO_BLOB_KEY_MAX bytes, '/' allowed as a separator, no ".." segment.
 */

#define KUMO_BLOB_KEY_MAX 1024

typedef struct kumo_blob_info {
    const char *key;
    uint64_t size;
    const char *content_type; /* as put; "application/octet-stream" when none was given */
    const char *etag;         /* changes with every put */
    int64_t modified_ms;      /* epoch milliseconds */
} kumo_blob_info;

typedef struct kumo_blob_page {
    kumo_blob_info *items; /* in the arena */
    size_t count;
    const char *next; /* cursor, NULL at the end */
} kumo_blob_page;

/* Whole objects: the data is copied; what a get returns lives in the arena. */
KUMO_API int kumo_blob_put(kumo_ctx *ctx, const char *store, const char *key, const void *data, size_t len,
                           const char *content_type);
KUMO_API int kumo_blob_get(kumo_ctx *ctx, const char *store, const char *key, const void **data, size_t *len,
                           kumo_blob_info *info);
KUMO_API int kumo_blob_head(kumo_ctx *ctx, const char *store, const char *key, kumo_blob_info *info);
KUMO_API int kumo_blob_delete(kumo_ctx *ctx, const char *store, const char *key);
KUMO_API int kumo_blob_list(kumo_ctx *ctx, const char *store, const char *prefix, const char *cursor, size_t limit,
                            kumo_blob_page *out);

/* Streamed objects, for sizes that should not sit in memory: a writer takes
 * chunks and becomes visible only at commit (never a partial object); a
 * reader hands out chunks until it returns 0 bytes. Both are freed by
 * commit/abort or close, and at the end of the invocation at the latest. */
typedef struct kumo_blob_writer kumo_blob_writer;
typedef struct kumo_blob_reader kumo_blob_reader;
KUMO_API int kumo_blob_writer_open(kumo_ctx *ctx, const char *store, const char *key, const char *content_type,
                                   kumo_blob_writer **out);
KUMO_API int kumo_blob_write(kumo_blob_writer *w, const void *data, size_t len);
KUMO_API int kumo_blob_writer_commit(kumo_blob_writer *w);
KUMO_API void kumo_blob_writer_abort(kumo_blob_writer *w);
KUMO_API int kumo_blob_reader_open(kumo_ctx *ctx, const char *store, const char *key, kumo_blob_reader **out,
                                   kumo_blob_info *info);
/* Reads up to `cap` bytes into buf: the count in *got (0 at the end). */
KUMO_API int kumo_blob_read(kumo_blob_reader *r, void *buf, size_t cap, size_t *got);
KUMO_API void kumo_blob_reader_close(kumo_blob_reader *r);

/* ---- queues -----------------------------------------------------------------------
 *
 * Named under stores: {queue: [emails]}; URL from KUMO_STORE_<NAME>
 * (embedded default: sqlite). At least once: a message received and not
 * acked before its visibility timeout comes back; after `max_receives`
 * receives (the URL's max_receives=, default 5) it moves to the dead-letter
 * queue NAME-dead.
 */

typedef struct kumo_queue_message {
    const char *id;      /* the message's id */
    const char *receipt; /* this receive's handle, for ack/nack */
    const void *body;    /* in the arena, NUL-terminated beyond len */
    size_t len;
    unsigned receives; /* how many times it was received, this one included */
    int64_t sent_ms;   /* when it was sent, ms since the epoch (the queue's clock); 0 when unknown */
    const char *trace; /* the sender's W3C traceparent, or NULL */
} kumo_queue_message;

/* Sends a message, visible after `delay_ms`. *id (may be NULL) gets its id. */
KUMO_API int kumo_queue_send(kumo_ctx *ctx, const char *queue, const void *body, size_t len, uint64_t delay_ms,
                             const char **id);
/* Receives up to `max` (1..100) messages, each hidden from other receivers
 * for `visibility_ms`; *count may be 0. Messages live in the arena. */
KUMO_API int kumo_queue_receive(kumo_ctx *ctx, const char *queue, size_t max, uint64_t visibility_ms,
                                kumo_queue_message *out, size_t *count);
/* Done with a message: it is removed. KUMO_ENOTFOUND when the receipt is
 * stale (its visibility ran out and someone else received it). */
KUMO_API int kumo_queue_ack(kumo_ctx *ctx, const char *queue, const char *receipt);
/* Not done: back to the queue, visible again after `delay_ms` (backoff). */
KUMO_API int kumo_queue_nack(kumo_ctx *ctx, const char *queue, const char *receipt, uint64_t delay_ms);

/* ---- topics -----------------------------------------------------------------------
 *
 * Named under stores: {topic: [orders]}; URL from KUMO_STORE_<NAME>
 * (embedded default: sqlite). Publish/subscribe: every event of kumo.yaml
 * subscribed to the topic (events: NAME: {topic: orders, handler: ...})
 * gets every message published after kumo registered it, each through a
 * queue of its own (TOPIC.EVENT) with its own retries and dead letters
 * (TOPIC.EVENT-dead). A topic nobody subscribes to drops what is published.
 */

/* Publishes `len` bytes (at most 192 KiB) to every subscription of
 * `topic`, atomically: all of them get it or none does. *id (may be NULL)
 * gets the message's id, in the arena. */
KUMO_API int kumo_topic_publish(kumo_ctx *ctx, const char *topic, const void *data, size_t len, const char **id);

/* ---- outbound HTTP: the services of kumo.yaml ------------------------------
 *
 * A function calls the HTTP APIs its project declares under services:
 * (each with its OpenAPI document and a base URL per environment), and
 * nothing else: under kumo up the call goes through the gateway, which
 * checks the destination (a worker has no network of its own for it);
 * under kumo-host it is made in process with the same checks. The deadline
 * is the invocation's remaining time (and the service's timeout:), a
 * response is at most the service's max_response (1 MiB by default), the
 * request carries the invocation's traceparent, and the call is a CLIENT
 * span of its trace. Redirects are not followed (a 3xx is returned).
 * docs/outbound.md has the whole story. */

typedef struct kumo_http_request {
    const char *method;         /* "GET" when NULL */
    const char *service;        /* a service declared in kumo.yaml, or NULL */
    const char *url;            /* with service: a path and query ("/pets/42?x=1"), appended to the service's
                                   URL; without: an absolute URL whose origin (scheme, host, port) is a
                                   declared service's */
    const char *const *headers; /* "Name", "value", ..., NULL (may be NULL) */
    const void *body;
    size_t body_len;
    int timeout_ms; /* 0: the invocation's remaining time (and the service's timeout:); else at most that */
    int retries;    /* 0: none; N: up to N retries of an idempotent method (GET, HEAD, PUT, DELETE, OPTIONS)
                       after a connection failure, a 5xx or a 429, 100 ms * 2^k apart with jitter, or what
                       Retry-After says, within the deadline */
} kumo_http_request;

typedef struct kumo_http_response {
    int status;       /* the HTTP status (a 5xx is a response, not an error) */
    const char *body; /* in the invocation's arena, NUL-terminated beyond body_len */
    size_t body_len;
} kumo_http_response;

/* Makes the call: 0 and *out (in the arena) with any status; or
 * KUMO_EINVAL (a bad request: no service and no URL, a header with CR or
 * LF...), KUMO_EDENIED (the service or the URL's origin is not declared
 * in kumo.yaml services:), KUMO_ETIMEDOUT (the deadline passed),
 * KUMO_ETOOBIG (the response passed max_response), KUMO_EUNAVAILABLE (the
 * service could not be reached), KUMO_ENOMEM, KUMO_EIO; then
 * kumo_http_error(ctx) says what happened (never a secret). */
KUMO_API int kumo_http(kumo_ctx *ctx, const kumo_http_request *req, kumo_http_response **out);
/* A response header by case-insensitive name (the first when repeated),
 * or NULL. */
KUMO_API const char *kumo_http_header(const kumo_http_response *res, const char *name);
/* The message of the invocation's last failed kumo_http call ("" when none). */
KUMO_API const char *kumo_http_error(const kumo_ctx *ctx);
/* GET service+path. */
KUMO_API int kumo_http_get(kumo_ctx *ctx, const char *service, const char *path, kumo_http_response **out);
/* POST service+path with `json` serialised as the body (application/json);
 * the caller keeps its reference. */
KUMO_API int kumo_http_post_json(kumo_ctx *ctx, const char *service, const char *path, const json_t *json,
                                 kumo_http_response **out);
/* The body parsed as JSON (a new reference: json_decref it), or NULL. */
KUMO_API json_t *kumo_http_json(const kumo_http_response *res);

#ifdef __cplusplus
}
#endif
#endif
