/*
 * gcp.h: what the Google Cloud drivers (firestore.c, pubsub.c, gcs.c)
 * share: their URLs, their credentials and one authorised HTTP exchange
 * over libcurl; aws.h's counterpart.
 *
 * Credentials, in this order: none when the store talks to an emulator
 * (endpoint= in the URL, or FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST,
 * STORAGE_EMULATOR_HOST); a service-account JSON key named by
 * GOOGLE_APPLICATION_CREDENTIALS (an RS256 JWT signed with OpenSSL,
 * exchanged at the key's token_uri); else the metadata server's token
 * (Cloud Run, GCE; GCE_METADATA_HOST overrides its host). A token is cached
 * until a minute before it expires. A kumo__gcp is one easy handle (one
 * kept-alive connection) and is not thread safe: each driver guards it with
 * its own mutex. Tokens and keys never reach a message or a log line.
 */
#ifndef KUMO_STORES_GCP_H
#define KUMO_STORES_GCP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "sdk/stores/cloud.h"

/* `SCHEME://RESOURCE[/PATH][?project=P&database=D&endpoint=URL&max_receives=N]` */
typedef struct kumo__gcp_url {
    char *resource; /* the collection, topic or bucket (non-empty) */
    char *path;     /* what follows "RESOURCE/" ("" when none): the gs:// prefix */
    char *project;  /* project=, else GOOGLE_CLOUD_PROJECT, GCLOUD_PROJECT; NULL: the key's or the metadata server's */
    char *database; /* database=, default "(default)" */
    char *endpoint; /* endpoint= or the service's emulator variable, as http(s)://HOST[:PORT]; NULL: Google's */
} kumo__gcp_url;

/* Parses `url` whose scheme must be `scheme`, refusing a parameter not in
 * `known` (NULL-terminated, of project, database, endpoint, max_receives;
 * max_receives is queue.c's and only checked for being known here).
 * `emulator_var` names the environment variable that gives an emulator's
 * host:port when the URL has no endpoint=. The caller frees with
 * kumo__gcp_url_free. */
int kumo__gcp_url_parse(const char *url, const char *scheme, const char *const *known, const char *emulator_var,
                        kumo__gcp_url *out, kumo__error *err);
void kumo__gcp_url_free(kumo__gcp_url *u);

typedef struct kumo__gcp kumo__gcp;

/* A client of `service` ("firestore", "pubsub", "storage") at u's endpoint
 * or else `google_base` ("https://firestore.googleapis.com"), with the
 * credentials the environment gives (above; a bad key file fails here).
 * Every later failure's message goes into msg (msglen bytes). */
int kumo__gcp_new(const char *service, const kumo__gcp_url *u, const char *google_base, char *msg, size_t msglen,
                  kumo__gcp **out, kumo__error *err);
void kumo__gcp_free(kumo__gcp *c);
/* scheme://host[:port], no trailing '/'. */
const char *kumo__gcp_base(const kumo__gcp *c);
/* The project: the URL's or environment's, else the key's project_id,
 * else asked of the metadata server once. NULL (message set) when none. */
const char *kumo__gcp_project(kumo__gcp *c);
/* The Google status of the last error ("NOT_FOUND", "ALREADY_EXISTS",
 * "FAILED_PRECONDITION", "curl" for a transport failure), "" after a success. */
const char *kumo__gcp_status(const kumo__gcp *c);

/* One exchange with a store's bounds (2 s to connect, 10 s in all; timeout_ms
 * 0 keeps those) and the bearer token when the client has credentials.
 * `headers` are "Name: value" lines (NULL-terminated, may be NULL); body
 * (len bytes) is sent when non-NULL. 0 for a 2xx answer, else a KUMO_E*
 * code with "SERVICE: STATUS: message (HTTP n)" in msg (res is still filled
 * when the service answered). */
int kumo__gcp_send(kumo__gcp *c, const char *method, const char *url, const char *const *headers, const void *body,
                   size_t len, size_t max_body, long timeout_ms, kumo__cloud_res *res);
/* kumo__gcp_send with the body read from `in` (len bytes, from its start;
 * rewound for a retry), for uploads kept in a spool file. */
int kumo__gcp_send_file(kumo__gcp *c, const char *method, const char *url, const char *const *headers, FILE *in,
                        uint64_t len, size_t max_body, long timeout_ms, kumo__cloud_res *res);
/* A JSON call: sends req (taken; NULL sends no body) as application/json
 * and parses the answer into *resp (NULL when the call failed). */
int kumo__gcp_json(kumo__gcp *c, const char *method, const char *url, json_t *req, json_t **resp);

/* Sets the client's message (printf-style). */
void kumo__gcp_msg(kumo__gcp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s (len bytes) percent-encoded for a URL path segment or query
 * value (all but A-Z a-z 0-9 - _ . ~) to buf: the length, or 0 when it does
 * not fit. */
size_t kumo__gcp_pct(const char *s, size_t len, char *buf, size_t size);

/* RFC 3339 "2024-05-01T12:00:00.123456789Z" <-> nanoseconds since the epoch;
 * parse returns 0 on a malformed time. */
uint64_t kumo__gcp_time_parse(const char *s);
void kumo__gcp_time_format(uint64_t ns, char *buf, size_t size);

/* For tests (tests/unit/test_gcp_auth.c): a fresh token from the client's
 * credentials into buf: 0, or a KUMO_E* code with the message set. */
int kumo__gcp_token_for_test(kumo__gcp *c, char *buf, size_t size);

#endif
