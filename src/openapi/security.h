/*
 * security.h: what an OpenAPI document says about who may call what, read
 * once with positions (security.c). The Security Scheme Objects
 * (components.securitySchemes of 3.0 and 3.1, securityDefinitions of
 * Swagger 2.0) and each operation's effective requirements (its own
 * `security`, else the document's), with the OAS meaning kept as data:
 *
 *   - the list of requirements is OR: one satisfied requirement is enough;
 *   - the schemes inside one requirement are AND: all of them must pass;
 *   - an empty requirement `{}` is the anonymous alternative;
 *   - an operation's `security: []` opts out of the document's.
 *
 * The model only reads; whether kumo can enforce a scheme and how is the
 * auth layer's (src/auth/policy.c). kumo mock reads the same model for its
 * presence-only check (gateway/mock.c).
 */
#ifndef KUMO_OPENAPI_SECURITY_H
#define KUMO_OPENAPI_SECURITY_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "openapi/openapi.h"

typedef enum kumo__sec_type {
    KUMO__SEC_APIKEY,     /* apiKey: in header, query or cookie */
    KUMO__SEC_HTTP,       /* http (3.x) or basic (2.0): see http_scheme */
    KUMO__SEC_OAUTH2,     /* oauth2 */
    KUMO__SEC_OIDC,       /* openIdConnect (3.x) */
    KUMO__SEC_MUTUAL_TLS, /* mutualTLS (3.1) */
} kumo__sec_type;

/* One Security Scheme Object, $ref followed. */
typedef struct kumo__sec_scheme {
    char *name; /* the key under securitySchemes / securityDefinitions */
    kumo__sec_type type;
    char *http_scheme;    /* HTTP: lower case, "basic", "bearer", "digest", ...; NULL otherwise */
    char *bearer_format;  /* HTTP bearer: bearerFormat as written, or NULL */
    kumo__param_in in;    /* APIKEY: KUMO__IN_HEADER, _QUERY or _COOKIE */
    char *key_name;       /* APIKEY: the header (lower case), query parameter or cookie's name */
    char *oidc_url;       /* OIDC: openIdConnectUrl */
    const json_t *node;   /* the object (borrowed from its document), for positions */
    const kumo__doc *doc; /* the document it was read from */
} kumo__sec_scheme;

/* One scheme named in a requirement, with its scopes (oauth2,
 * openIdConnect) or roles (3.1, other types). */
typedef struct kumo__sec_use {
    size_t scheme; /* index into kumo__security.schemes */
    char **scopes;
    size_t nscopes;
} kumo__sec_use;

/* One Security Requirement Object: its uses are ANDed. nuses == 0 is `{}`,
 * anonymous access. */
typedef struct kumo__sec_requirement {
    kumo__sec_use *uses;
    size_t nuses;
} kumo__sec_requirement;

/* An operation's effective security. nreqs == 0: no security at all (none
 * declared, or the operation's `security: []`): every request passes. */
typedef struct kumo__sec_op {
    kumo__sec_requirement *reqs; /* OR */
    size_t nreqs;
    int anonymous;      /* one of reqs is `{}` */
    const json_t *node; /* the `security` array in force (the operation's or the document's), or NULL */
    const kumo__doc *doc;
} kumo__sec_op;

typedef struct kumo__security {
    kumo__sec_scheme *schemes; /* every declared scheme, in document order */
    size_t nschemes;
    kumo__sec_op *ops; /* indexed like spec->ops */
    size_t nops;
    unsigned char *used; /* per scheme: 1 when some operation's requirements name it */
} kumo__security;

/* Reads the document's schemes and every operation's requirements. A
 * requirement naming a scheme the document does not declare, a scheme
 * without `type` (or of a type kumo does not know), an apiKey without
 * `name` or `in`, scopes that are not a list of strings: an error naming
 * file:line:column. *out is owned by the caller (kumo__security_free). */
int kumo__security_load(const kumo__spec *spec, kumo__security **out, kumo__error *err);
void kumo__security_free(kumo__security *s);
/* The scheme named `name`, or NULL. */
const kumo__sec_scheme *kumo__security_scheme(const kumo__security *s, const char *name);
/* Whether operation i of spec can be called without credentials: it has
 * no security in force (none declared, or its `security: []`), or one of
 * its requirements is `{}`. Reads the document as it is, without the
 * model (the monitors' probes, which hold no credential, ask). */
int kumo__security_op_anonymous(const kumo__spec *spec, size_t i);
/* "apiKey in header 'x-api-key'", "http basic", "oauth2", ...: for
 * messages; written into buf, which is returned. */
const char *kumo__sec_scheme_describe(const kumo__sec_scheme *sc, char *buf, size_t len);

#endif
