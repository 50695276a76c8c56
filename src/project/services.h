/*
 * services.h: kumo.yaml's services: (services.c), the external HTTP APIs a
 * project's functions call (docs/outbound.md), and the one rule that says
 * where each lives in an environment: KUMO_SERVICE_<NAME>_URL beats
 * environments.ENV.services.NAME.url, which beats services.NAME.url; a
 * service with none of them is mocked (or refused while kumo has no mock).
 * Header values may hold secret references, ${env:NAME} and ${file:PATH},
 * expanded when a generation is built (kumo up) or at start (kumo-host);
 * the expanded values are never logged and never written anywhere.
 */
#ifndef KUMO_PROJECT_SERVICES_H
#define KUMO_PROJECT_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct kumo__project;

/* A header of services.NAME.headers, as written (value may hold refs). */
typedef struct kumo__service_header {
    char *name, *value;
    int line, col; /* of the value */
} kumo__service_header;

/* services.NAME.mock: how kumo up mocks a service that has no URL. */
typedef struct kumo__service_mock {
    char *mode;         /* "static" (default), "stateful", "replay", "record" */
    uint64_t seed;      /* seed: (0) */
    char *data;         /* data: absolute path, or NULL */
    char *recordings;   /* recordings: absolute path, or NULL */
    const void *faults; /* faults: the json_t node in p->doc as written (borrowed), or NULL */
} kumo__service_mock;

/* One entry of services:. */
typedef struct kumo__service {
    char *name;            /* [a-z0-9_-]+ */
    char *spec;            /* absolute path of its OpenAPI document */
    char *url;             /* url: (http or https), NULL when absent */
    int url_line, url_col; /* of url: */
    kumo__service_header *headers;
    size_t nheaders;
    uint32_t timeout_ms; /* timeout: (0: only the invocation's remaining time) */
    size_t max_response; /* max_response: (1 MiB) */
    kumo__service_mock mock;
    int line, col; /* of the entry's key */
} kumo__service;

/* environments.ENV.services.NAME: {url: URL}. */
typedef struct kumo__service_url {
    char *service, *url;
    int line, col; /* of the URL */
} kumo__service_url;

#define KUMO__SERVICE_MAX_RESPONSE_DEFAULT (1u << 20)
#define KUMO__SECRET_FILE_MAX 65536 /* a ${file:PATH} larger than this is refused */

/* Parses services: and every environments.ENV.services: of p's document
 * (p->environments already loaded) into p->services, p->environments[i].
 * services. 0, or a negative errno with err naming kumo.yaml:line:col. */
int kumo__project_load_services(struct kumo__project *p, kumo__error *err);
/* Frees what kumo__project_load_services allocated. */
void kumo__project_free_services(struct kumo__project *p);
/* The service named `name`, or NULL. */
const kumo__service *kumo__project_service(const struct kumo__project *p, const char *name);

/* One service as an environment places it. */
typedef struct kumo__service_target {
    const kumo__service *decl; /* borrowed from the project */
    char *url;                 /* the base URL, no trailing '/' */
    char *from;                /* where the URL came from: "KUMO_SERVICE_X_URL", "kumo.yaml:L:C" */
    char **headers;            /* name, value (secrets expanded), ...: 2 * nheaders strings */
    size_t nheaders;
} kumo__service_target;

/* Gives a URL (malloc'd into *url) for service s served by a `kumo mock`
 * kumo up starts: when no setting places it in the environment (upstream
 * NULL), or, with mock.mode record, in front of the URL placed (upstream),
 * recording what passes. 0, or a negative errno with err set. */
typedef int kumo__service_mock_fn(void *ctx, const kumo__service *s, const char *upstream, char **url,
                                  kumo__error *err);

/* Places every service of p for environment `env` (NULL: none) and
 * expands its headers' secret references: *out (n of them, indexed like
 * p->services) is the caller's (kumo__service_targets_free). A service
 * with no URL gets mock's (its `from` then "kumo mock"); with mock NULL
 * (kumo-host) it is refused, saying which setting gives it one. A
 * reference that cannot be expanded is refused (the variable or file
 * named, never a value). */
int kumo__services_resolve(const struct kumo__project *p, const char *env, kumo__service_mock_fn *mock, void *mock_ctx,
                           kumo__service_target **out, size_t *n, kumo__error *err);
void kumo__service_targets_free(kumo__service_target *t, size_t n);

/* ---- pure rules, for tests ---- */

/* KUMO_SERVICE_<NAME>_URL (upper case, '-' as '_') into buf: 0, or
 * -ENAMETOOLONG / -EINVAL. */
int kumo__service_var(const char *name, char *buf, size_t len);
/* Whether a header of this name carries a credential, so that its value
 * must be a reference: Authorization, Proxy-Authorization, Cookie,
 * X-Api-Key, and any name holding "token", "secret" or "key"
 * (case-insensitive). */
int kumo__header_is_credential(const char *name);
/* Checks the references of a header value: 1 when it holds at least one,
 * 0 when none, -1 for a malformed one (message in err, without the value). */
int kumo__secret_refs_check(const char *value, kumo__error *err);
/* Expands ${env:NAME} and ${file:PATH} (a relative PATH is under dir) in
 * value: *out malloc'd. 0, or -ENOENT (a variable not set, a file not
 * there), -EINVAL (malformed, a value with CR, LF or NUL), -EFBIG, with err
 * naming the reference, never its value. */
int kumo__secret_expand(const char *value, const char *dir, char **out, kumo__error *err);
/* The same for an environment variable's value (env:): line breaks kept. */
int kumo__secret_expand_multiline(const char *value, const char *dir, char **out, kumo__error *err);
/* Whether url is http:// or https:// with a host (and no userinfo, no
 * fragment): 1 or 0. */
int kumo__service_url_ok(const char *url);

#endif
