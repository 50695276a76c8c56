/*
 * recording.h: record and replay for `kumo mock --record DIR --proxy URL`
 * and `kumo mock --replay DIR` (docs/mocks.md, "Record and replay").
 *
 * A recording is one readable JSON file per request/response pair,
 * DIR/OPERATION/NNNN.json (OPERATION: the operationId, or METHOD_path
 * when the operation has none):
 *
 *   {"kumo_recording": 1, "operation": "getPet",
 *    "request": {"method": "GET", "path": "/pets/2", "query": {"limit": "2"},
 *                "headers": {"accept": "application/json", "authorization": "<redacted>"}},
 *    "response": {"status": 200, "headers": {"content-type": "application/json"},
 *                 "body": {"id": 2, "name": "Rex"}}}
 *
 * A body is `body` (JSON, when the media type is JSON), `body_text`
 * (other UTF-8) or `body_base64`. Credentials are never written:
 * Authorization, Proxy-Authorization, Cookie, Set-Cookie, the spec's
 * apiKey names (header, query, cookie), the caller's extra names (a
 * service's `headers:`), and body fields the schema declares secret
 * (`x-kumo-secret: true` or `format: password`) become "<redacted>".
 *
 * Replay matches a request by operation, then parameters (path and query;
 * a redacted value matches any), then body (exact JSON equality first,
 * else the one with the fewest differences); among equally good
 * recordings each is used in turn (file order), then the last again, so a
 * recorded sequence (GET, POST, GET) plays back in order. A request no
 * recording matches is counted and reported with the closest recording; a
 * recorded response that breaks the document (status, media type or body
 * against the schema) is drift, found when the recordings are loaded.
 *
 * Loading is control plane (kumo__error with file:line:column); matching
 * and writing are called from any loop thread (a mutex guards the counts
 * and the file numbering).
 */
#ifndef KUMO_GATEWAY_RECORDING_H
#define KUMO_GATEWAY_RECORDING_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "openapi/check.h"
#include "openapi/openapi.h"
#include "openapi/schema.h"

#define KUMO__RECORDING_MAX_BYTES (16u << 20) /* one recording file */
#define KUMO__RECORDINGS_MAX 100000           /* files one replay loads */
#define KUMO__RECORDING_REDACTED "<redacted>"

typedef struct kumo__recordings kumo__recordings;

/* One side of a pair as the gateway saw it. Header names lower case. */
typedef struct kumo__rec_message {
    const char *method; /* request only */
    kumo__slice path;   /* request only: percent-encoded, without the query */
    kumo__slice query;  /* request only: raw, without '?' */
    int status;         /* response only */
    const kumo__header_view *headers;
    size_t nheaders;
    kumo__slice body; /* base NULL: none */
} kumo__rec_message;

/* Opens DIR for `spec` (borrowed; it must outlive the set). `extra_secret`
 * (NULL-terminated, may be NULL): more header names to redact. With
 * `load`, every DIR/OPERATION/NNNN.json is read (refusals name file:line:column)
 * and checked against the document for drift; DIR must exist. Without,
 * DIR is created when missing (record mode). *out is the caller's. */
int kumo__recordings_open(const char *dir, const kumo__spec *spec, const char *const *extra_secret, int load,
                          kumo__recordings **out, kumo__error *err);
void kumo__recordings_free(kumo__recordings *r);
size_t kumo__recordings_count(const kumo__recordings *r);
/* The $ref resolver matching and writing use from the loops (the mock
 * engine's locked one); spec->refs until this is called. */
void kumo__recordings_set_refs(kumo__recordings *r, const kumo__refs *refs);

/* The directory name of an operation: its operationId, or METHOD_path
 * with every byte outside [A-Za-z0-9._-] as '_'. */
void kumo__recording_op_dir(const kumo__operation *op, char *buf, size_t len);

/* Builds the recording of a pair of spec->ops[op_index] (redacted), as
 * the JSON document written to a file; NULL when out of memory. */
json_t *kumo__recording_build(const kumo__recordings *r, size_t op_index, const kumo__rec_message *req,
                              const kumo__rec_message *res);
/* Builds and writes it to DIR/OPERATION/NNNN.json (the next number in
 * that directory); the file's path in `path` when not NULL. 0 or -errno. */
int kumo__recordings_write(kumo__recordings *r, size_t op_index, const kumo__rec_message *req,
                           const kumo__rec_message *res, char *path, size_t path_len);

/* A recorded response, owned by the set. */
typedef struct kumo__recorded {
    int status;
    json_t *headers; /* {"name": "value"} (lower-case names), borrowed */
    char *body;      /* the body's bytes (JSON written compact), NULL when none */
    size_t body_len;
    const char *file; /* "getPet/0002.json" (relative to DIR) */
} kumo__recorded;

/* Finds the recording for a request of spec->ops[op_index]: the recorded
 * response, or NULL when none matches, after which `detail` names the
 * closest recording and the difference (and the request is counted for
 * the report). Thread-safe. */
const kumo__recorded *kumo__recordings_match(kumo__recordings *r, size_t op_index, const kumo__rec_message *req,
                                             char *detail, size_t detail_len);

/* The report: {"recordings": N, "matched": N, "unmatched": [{"operation",
 * "method", "path", "count", "closest"}], "drift": [{"file",
 * "operation", "status", "errors": ["..."]}]}. New reference. */
json_t *kumo__recordings_report(kumo__recordings *r);
/* The report for a terminal: a few lines, "" when all matched and there
 * is no drift. malloc'd. */
char *kumo__recordings_report_text(kumo__recordings *r);

/* Reads one recording from text (the fuzz target's entry, and what load
 * does per file): the parsed recording's operation directory name in
 * `op` and the recorded response in *out (free with
 * kumo__recorded_clear). Refusals name name:line:column. */
int kumo__recording_parse(const char *name, const char *text, size_t len, char *op, size_t op_len, kumo__recorded *out,
                          json_t **request, kumo__error *err);
void kumo__recorded_clear(kumo__recorded *rec);

#endif
