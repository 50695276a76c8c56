/*
 * edge.h: kumo.yaml's http.cors, http.tls and http.rate_limits, read and
 * checked once (every key known, every value in range, files that exist)
 * so that the gateway (gateway/cors.c, gateway/tls.c,
 * gateway/ratelimit.c) and kumo-host act on a struct they trust.
 * docs/edge.md says what each key does.
 */
#ifndef KUMO_PROJECT_EDGE_H
#define KUMO_PROJECT_EDGE_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "openapi/openapi.h"

/* Ceilings on what kumo.yaml may list (each header value stays bounded). */
#define KUMO__CORS_MAX_ITEMS 64
#define KUMO__CORS_MAX_ITEM 200

/* http.cors: absent (enabled 0) means no CORS header is ever sent. */
typedef struct kumo__cors_config {
    int enabled;
    char **origins;     /* exact "scheme://host[:port]", lower case; NULL-ended */
    int any_origin;     /* origins: ["*"] */
    char *methods;      /* "GET, POST, ..." for Access-Control-Allow-Methods */
    char **method_list; /* NULL-ended, upper case */
    char **headers;     /* allowed request headers, lower case; NULL-ended */
    int any_header;     /* headers: ["*"]: any requested header is allowed */
    char *expose;       /* "x-request-id, ..." for Access-Control-Expose-Headers, or NULL */
    int credentials;    /* credentials: true */
    long max_age_s;     /* max_age:, seconds; -1: no Access-Control-Max-Age */
} kumo__cors_config;

/* http.tls: cert and key (PEM) make the API's listener speak TLS only
 * (HTTP/1.1 and HTTP/2 by ALPN); client_ca asks for and verifies client
 * certificates. Paths are absolute; `where_*` are "kumo.yaml:L:C" of each
 * value, for the errors the gateway gives when it loads them. */
typedef struct kumo__tls_config {
    char *cert, *key, *client_ca; /* NULL when absent (cert and key: both or neither) */
    int client_optional;          /* client_cert: optional (a client without one is served, its subject
                                     NULL); required (the default) refuses the handshake */
    char where_cert[96], where_key[96], where_client_ca[96];
} kumo__tls_config;

/* http.rate_limits: NAME -> {requests: N, per: DURATION, burst: M, by:
 * client|operation}. NAME is an operationId, or "*" for every operation
 * without an entry of its own. A token bucket of `burst` tokens (default
 * N) refilled at N per `per`. */
typedef struct kumo__rate_rule {
    char *operation; /* an operationId, or "*" */
    double requests; /* N */
    double per_s;    /* the window, seconds */
    double burst;    /* the bucket's size */
    int per_client;  /* by: client (default): a bucket per caller; by: operation: one for all */
    int line, col;   /* of the entry's key, for kumo__edge_check_spec */
} kumo__rate_rule;

typedef struct kumo__edge_config {
    kumo__cors_config cors;
    kumo__tls_config tls;
    kumo__rate_rule *rules; /* in file order */
    size_t nrules;
    char file[64]; /* kumo.yaml's name for messages */
} kumo__edge_config;

/* Reads http.cors, http.tls and http.rate_limits of the mapping `http`
 * (any may be absent) into *out; relative paths are taken from `dir`. Errors
 * name kumo.yaml:line:column. *out owns what it holds (kumo__edge_free). */
int kumo__edge_load(const kumo__doc *doc, json_t *http, const char *dir, kumo__edge_config *out, kumo__error *err);
void kumo__edge_free(kumo__edge_config *c);
/* Refuses a rate_limits entry naming an operation the document lacks. */
int kumo__edge_check_spec(const kumo__edge_config *c, const kumo__spec *spec, kumo__error *err);

#endif
