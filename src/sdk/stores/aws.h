/*
 * aws.h: what the AWS drivers (dynamodb.c, s3.c, sqs.c, sns.c) share: their
 * URLs, their credentials, and one signed HTTP exchange over libcurl (in
 * kumo-lambda, over httpc.c, signed by sigv4.c: aws.c).
 *
 * Each request is signed (SigV4) with the keys taken from
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when set)
 * when the store is opened. A kumo__aws is one connection, kept alive, and
 * is not thread safe: each driver guards it with its own
 * mutex. Nothing here logs or copies a secret into a message: messages pass
 * through kumo__aws_scrub, which blanks the key id and secret wherever a
 * service echoed them.
 */
#ifndef KUMO_STORES_AWS_H
#define KUMO_STORES_AWS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sdk/stores/cloud.h"

/* `SCHEME://RESOURCE[/PATH][?region=R&endpoint=URL&create=false&max_receives=N]` */
typedef struct kumo__aws_url {
    char *resource;        /* the table, bucket or queue (non-empty) */
    char *path;            /* what follows "RESOURCE/" ("" when none): the S3 prefix */
    char *region;          /* region=, else AWS_REGION, AWS_DEFAULT_REGION, "us-east-1" */
    char *endpoint;        /* endpoint= without a trailing '/', or NULL: the service's own */
    int create;            /* 0 when create=false */
    unsigned max_receives; /* max_receives= (queues), default 5 */
} kumo__aws_url;

/* Parses `url` whose scheme must be `scheme`; on failure a KUMO_E* code
 * and a message in err. The caller frees the fields with kumo__aws_url_free. */
int kumo__aws_url_parse(const char *url, const char *scheme, kumo__aws_url *out, kumo__error *err);
void kumo__aws_url_free(kumo__aws_url *u);

typedef struct kumo__aws kumo__aws;

/* A client of `service` ("dynamodb", "s3", "sqs") for the URL's region and
 * endpoint, with the environment's credentials. `msg` (size msglen, e.g. a
 * store handle's error field) receives every later failure's message. */
int kumo__aws_new(const char *service, const kumo__aws_url *u, char *msg, size_t msglen, kumo__aws **out,
                  kumo__error *err);
void kumo__aws_free(kumo__aws *c);
/* The base URL requests go to: the endpoint, or https://SERVICE.REGION.amazonaws.com. */
const char *kumo__aws_base(const kumo__aws *c);
/* The code of the last error ("ResourceNotFoundException", "NoSuchKey",
 * "curl" for a transport failure), "" after a success. */
const char *kumo__aws_code(const kumo__aws *c);

/* The bounds of one exchange, which differ by caller: a store's data path
 * (kumo__aws_send: 2 s to connect, 10 s in all) or a deploy uploading
 * zips of tens of MiB (deploy/aws_api.c). */
typedef struct kumo__aws_limits {
    long connect_timeout_ms; /* to connect: over it, KUMO_EUNAVAILABLE */
    long timeout_ms;         /* the whole exchange: over it, KUMO_ETIMEDOUT */
    size_t max_body;         /* the response body's ceiling: over it, KUMO_ETOOBIG */
} kumo__aws_limits;

/* The one signed exchange. `headers` are "Name: value" lines
 * (NULL-terminated array, may be NULL); `body` (len bytes) is sent when
 * non-NULL. Returns 0 for a 2xx answer (res filled), else a KUMO_E* code
 * with "SERVICE: Code: message (HTTP n)" or "SERVICE at BASE: transport
 * error" in the client's msg buffer and the code in kumo__aws_code (res is
 * still filled when the service answered). */
int kumo__aws_exchange(kumo__aws *c, const char *method, const char *url, const char *const *headers, const void *body,
                       size_t len, const kumo__aws_limits *limits, kumo__cloud_res *res);

/* kumo__aws_exchange with a store's limits and a response body of at most
 * max_body bytes. */
int kumo__aws_send(kumo__aws *c, const char *method, const char *url, const char *const *headers, const void *body,
                   size_t len, size_t max_body, kumo__cloud_res *res);

/* A JSON-protocol call (DynamoDB, SQS): POST / with X-Amz-Target TARGET.
 * Takes `req` (decref'd); *resp is the parsed answer on 0 (NULL otherwise). */
int kumo__aws_json(kumo__aws *c, const char *content_type, const char *target, json_t *req, json_t **resp);

/* An AWS error code → KUMO_E* (status is the HTTP status). */
int kumo__aws_map_error(const char *code, long status);

/* The text of the first <tag>…</tag> at or after `from` (entities
 * decoded) in a malloc'd string; NULL when absent or out of memory.
 * *end (may be NULL) is set just past the closing tag. */
char *kumo__aws_xml_text(const char *from, const char *tag, const char **end);

/* Base64 (standard alphabet, padded): the encoder returns a malloc'd string;
 * the decoder returns the byte count or -1 on bad input (out has room for
 * 3*len/4 + 3 bytes). */
char *kumo__aws_b64_encode(const void *data, size_t len);
long kumo__aws_b64_decode(const char *s, size_t len, unsigned char *out);

/* The traceparent an SNS envelope carries: when body (len bytes) is the
 * JSON an SNS topic puts in an SQS message of a subscription without raw
 * delivery ({"Type":"Notification","TopicArn":..,"Message":..,
 * "MessageAttributes":{"traceparent":{"Type":"String","Value":..}}}), its
 * traceparent's value copied into out (cap bytes) and returned; else NULL.
 * Only the context is read: the body stays the envelope, as SQS gave it. */
const char *kumo__sns_envelope_traceparent(const char *body, size_t len, char *out, size_t cap);

/* Appends `s` (len bytes) to buf percent-encoded as SigV4 wants: every
 * byte but A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash). Returns the
 * number of bytes written, or 0 when it would not fit (with the NUL). */
size_t kumo__aws_uri_encode(const char *s, size_t len, int keep_slash, char *buf, size_t size);

/* Blanks the client's key id and secret wherever they occur in msg. */
void kumo__aws_scrub(const kumo__aws *c, char *msg);

/* Epoch milliseconds (CLOCK_REALTIME). */
uint64_t kumo__aws_now_ms(void);

#endif
