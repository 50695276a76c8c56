/*
 * lambda.h: the AWS Lambda adapter. A function packaged by `kumo build
 * --target aws` runs as a custom runtime: its bootstrap starts kumo-host,
 * which calls kumo__lambda_run. The loop long-polls the Runtime API
 * (2018-06-01) at $AWS_LAMBDA_RUNTIME_API for the next invocation, maps
 * the API Gateway event (REST API payload 1.0 or HTTP API payload 2.0)
 * to a kumo__lambda_http, calls the host's function, encodes its reply
 * in the same payload version and posts it back; the function's failures
 * are posted as Lambda errors (errorType, errorMessage). With
 * kumo__lambda_run_events, SQS, S3 and SNS records and scheduled events
 * are mapped too (lambda_events.c) and handed to a second callback, whose
 * JSON answer (an SQS batch's batchItemFailures) is posted as it is.
 *
 * The mapping functions are pure (no network) so that tests and the
 * emulator (deploy/lambda_emulator.c, which plays API Gateway and the
 * Runtime API locally) can call them.
 */
#ifndef KUMO_SDK_LAMBDA_H
#define KUMO_SDK_LAMBDA_H

#include <stddef.h>
#include <stdint.h>

#include "sdk/sdk.h"

/* The Runtime API's payload ceiling (6 MB), for events and responses. */
#define KUMO__LAMBDA_PAYLOAD_MAX (6u * 1024 * 1024)

typedef struct kumo__lambda_http { /* one API Gateway request, mapped */
    const char *method;            /* "GET" */
    const char *path;              /* raw (percent-encoded) path, the stage prefix removed when the event's path
                                      carries it */
    const char *query;             /* raw query string without '?', "" when none (v1: rebuilt from
                                      multiValueQueryStringParameters, percent-encoding each name and value) */
    const kumo__pair *headers;     /* names lower case; multi-value headers as several entries; */
    size_t nheaders;               /* v2 cookies as one "cookie" header joined with "; " */
    const char *body;              /* base64-decoded when isBase64Encoded; NULL when no body; */
    size_t body_len;               /* a NUL follows body_len bytes */
    const char *request_id;        /* Lambda-Runtime-Aws-Request-Id (NULL from parse_event alone) */
    uint64_t deadline_ms;          /* Lambda-Runtime-Deadline-Ms (epoch ms; 0 from parse_event alone) */
    int version;                   /* 1 or 2 */
    const char *stage;             /* requestContext.stage, "" when absent */
    const char *source_ip;         /* requestContext identity.sourceIp / http.sourceIp, "" when absent */
} kumo__lambda_http;

typedef struct kumo__lambda_reply {
    int status;                /* 0: 200 */
    const kumo__pair *headers; /* set-cookie may repeat */
    size_t nheaders;
    const char *body; /* may be NULL (no body) */
    size_t body_len;
    /* When the function returns negative: what the Lambda error says
     * (NULL: "Runtime.HandlerError" and a generic message). */
    const char *error_type, *error_message;
} kumo__lambda_reply;

/* Called once per invocation; fills *out (its memory must stay valid until
 * the function returns to the loop: the loop sends the reply before the
 * next call). Returns 0, or negative to report an invocation error. */
typedef int kumo__lambda_fn(void *data, const kumo__lambda_http *req, kumo__lambda_reply *out);

/* Runs the Runtime API loop at `api` ($AWS_LAMBDA_RUNTIME_API, host:port)
 * forever; returns only on a fatal error (negative, message in err): the
 * Runtime API cannot be reached or answers what it should not. Events
 * that are not API Gateway events are reported as invocation errors
 * (errorType "Runtime.UnsupportedEvent"). `req` and everything it points
 * to live until fn returns. */
int kumo__lambda_run(const char *api, kumo__lambda_fn *fn, void *data, kumo__error *err);

/* ---- events other than API Gateway's (lambda_events.c) ------------------- */

/* What invoked the function. */
enum kumo__lambda_kind {
    KUMO__LAMBDA_HTTP = 0, /* an API Gateway proxy event (kumo__lambda_http) */
    KUMO__LAMBDA_SQS,      /* an SQS event source mapping's batch of records */
    KUMO__LAMBDA_S3,       /* S3 event notifications */
    KUMO__LAMBDA_SNS,      /* an SNS subscription's notification (not through SQS) */
    KUMO__LAMBDA_SCHEDULE, /* EventBridge Scheduler (kumo's Input) or an EventBridge "Scheduled Event" */
};

/* The most records one invocation may carry (SQS's ESM: 10000). */
#define KUMO__LAMBDA_RECORDS_MAX 10000

/* One record of a non-HTTP event; every string lives in the arena, NULL
 * when the event does not carry it. */
typedef struct kumo__lambda_record {
    const char *id;     /* SQS messageId, SNS MessageId, S3 the sequencer-based id, schedule the event's id */
    const char *source; /* the resource: the SQS queue's name (eventSourceARN's last part), the S3 bucket,
                           the SNS topic's name, the schedule's or rule's name */
    const char *time;   /* RFC 3339 UTC: SQS SentTimestamp, S3 eventTime, SNS Timestamp, the planned time */
    const char *body;   /* SQS body (base64-decoded when kumo-encoding is base64), SNS Message; a NUL follows */
    size_t body_len;
    unsigned receives;        /* SQS ApproximateReceiveCount, 0 for the others */
    const char *receipt;      /* SQS receiptHandle */
    const char *content_type; /* the content-type message attribute (SQS, SNS) */
    const char *traceparent;  /* the traceparent message attribute (SQS, SNS) */
    const char *key;          /* S3: the object's key, decoded */
    int deleted;              /* S3: an ObjectRemoved:* event (else ObjectCreated:*) */
    int64_t size;             /* S3 created: the object's size; -1 when absent */
    const char *etag;         /* S3 created: its ETag */
    const char *event_name;   /* schedule: detail.kumo_event, the event kumo's Scheduler Input names */
} kumo__lambda_record;

typedef struct kumo__lambda_event {
    int kind;                     /* enum kumo__lambda_kind */
    kumo__lambda_http http;       /* KUMO__LAMBDA_HTTP */
    kumo__lambda_record *records; /* the other kinds: nrecords >= 1 */
    size_t nrecords;
    const char *request_id; /* Lambda-Runtime-Aws-Request-Id (NULL from parse alone) */
    uint64_t deadline_ms;
} kumo__lambda_event;

/* Maps any event the adapter knows: API Gateway (as kumo__lambda_parse_event),
 * SQS, S3, SNS records, an EventBridge Scheduled Event or kumo's Scheduler
 * Input. KUMO_EINVAL with a message for anything else (a record of another
 * source, a record missing what kumo needs, more than
 * KUMO__LAMBDA_RECORDS_MAX records, records of mixed sources). */
int kumo__lambda_parse_any(kumo__arena *a, const char *json, size_t len, kumo__lambda_event *out, kumo__error *err);

/* What a non-HTTP invocation answers: `body` (JSON, may be NULL: "null")
 * is posted as the response, e.g. {"batchItemFailures":[...]} for SQS; a
 * negative return from the callback reports error_type/error_message. */
typedef struct kumo__lambda_event_reply {
    const char *body;
    size_t body_len;
    const char *error_type, *error_message;
} kumo__lambda_event_reply;

typedef int kumo__lambda_event_fn(void *data, const kumo__lambda_event *ev, kumo__lambda_event_reply *out);

/* kumo__lambda_run with a callback for the other events (efn NULL: they
 * are reported as Runtime.UnsupportedEvent, as kumo__lambda_run does). */
int kumo__lambda_run_events(const char *api, kumo__lambda_fn *fn, kumo__lambda_event_fn *efn, void *data,
                            kumo__error *err);

/* The SQS answer {"batchItemFailures":[{"itemIdentifier":ID},...]} for the
 * ids given (n may be 0). malloc'd, NULL when out of memory. */
char *kumo__lambda_batch_failures(const char *const *ids, size_t n, size_t *len);

/* Reports an initialisation failure (POST /runtime/init/error); the
 * caller then exits. `type` like "Runtime.ConfigError"; NULL is
 * "Runtime.InitError". Returns 0 when the Runtime API took it. */
int kumo__lambda_init_error(const char *api, const char *type, const char *message);

/* Maps an API Gateway event (payload 1.0 or 2.0, told apart by its
 * "version") into *out, every string allocated in `a`. Returns 0, or
 * KUMO_EINVAL with a message in err when the JSON is not an API Gateway
 * proxy event. */
int kumo__lambda_parse_event(kumo__arena *a, const char *json, size_t len, kumo__lambda_http *out, kumo__error *err);

/* Encodes a reply as the Lambda proxy integration's response for payload
 * `version` (1: statusCode, multiValueHeaders, body, isBase64Encoded;
 * 2: statusCode, headers with repeated names joined by ",", cookies from
 * set-cookie, body, isBase64Encoded). A body that is not UTF-8 text, or
 * whose content-type is not a text type, is base64 with isBase64Encoded.
 * Returns malloc'd JSON (*len its length, may be NULL), or NULL when out
 * of memory. */
char *kumo__lambda_encode_reply(int version, const kumo__lambda_reply *r, size_t *len);

/* 1 when a body of this content type (NULL or "": judged by the bytes
 * alone) travels as text in an API Gateway payload: valid UTF-8 without
 * NUL bytes, and a text/ *, JSON, XML, YAML, JavaScript or form type. */
int kumo__lambda_is_text(const char *content_type, const char *body, size_t len);

#endif
