/*
 * policy.h: the document's security enforced (policy.c). Built once per
 * generation from the security model (openapi/security.h) and kumo.yaml's
 * `security:` section (one entry per scheme name, docs/security.md), it
 * answers, for one request to one operation: pass (with who called), 401
 * (with a WWW-Authenticate challenge for each alternative), 403
 * (insufficient_scope) or 503 (a token's keys not fetched yet). The OAS rules: the requirements are OR, the
 * schemes inside one are AND, `{}` lets anonymous callers through, an
 * operation's `security: []` opts out.
 *
 * A scheme kumo cannot enforce, a used scheme kumo.yaml does not
 * configure, an entry for a scheme no operation uses: refused when built,
 * with file:line:column, never a silent pass. kumo up, kumo-host and kumo
 * lint build the same policy; the gateway's dispatch.c checks it before
 * the contract check and the function.
 */
#ifndef KUMO_AUTH_POLICY_H
#define KUMO_AUTH_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "openapi/check.h"
#include "openapi/openapi.h"
#include "auth/basic.h"
#include "openapi/security.h"
#include "project/project.h"

typedef struct kumo__auth kumo__auth;

/* Called with each refusal when building in report-all mode (kumo lint):
 * building goes on and returns -EINVAL at the end if there was any. */
typedef void (*kumo__auth_report_fn)(void *ctx, const char *message);

/* The policy of project p for spec in the environment `env` asked for
 * (kumo up --env, KUMO_ENV; NULL: "dev" when defined, as for stores):
 * kumo.yaml's `security:`, each entry replaced by the environment's own
 * (environments.ENV.security.NAME) where it has one. `previous`: the
 * policy this one replaces (a reload; NULL at start): a token scheme's key
 * set from a URL whose settings did not change is shared with it rather
 * than fetched again (either policy may be freed first). NULL report:
 * stop at the first refusal (err). *out is NULL when no operation has
 * security and kumo.yaml configures none (nothing to enforce). */
int kumo__auth_build(const kumo__project *p, const kumo__spec *spec, const char *env, const kumo__auth *previous,
                     kumo__auth_report_fn report, void *ctx, kumo__auth **out, kumo__error *err);
/* The same from its parts (tests): kumo.yaml's `security:` mapping `cfg`
 * and the environment's `env_cfg` (both may be NULL) in document cfg_doc,
 * files relative to dir, realm for the challenges, client_ca the CA that
 * verifies client certificates (http.tls.client_ca; NULL: none, and a
 * mutualTLS scheme is refused). */
int kumo__auth_build_from(const kumo__spec *spec, const kumo__doc *cfg_doc, const json_t *cfg, const json_t *env_cfg,
                          const char *dir, const char *realm, const char *client_ca, const kumo__auth *previous,
                          kumo__auth_report_fn report, void *ctx, kumo__auth **out, kumo__error *err);
void kumo__auth_free(kumo__auth *a);
/* The files the policy was built from (credentials files, JWKS files, CA
 * files), NULL-terminated; NULL when none. */
const char *const *kumo__auth_files(const kumo__auth *a);

/* What a request presents. */
typedef struct kumo__auth_request {
    const kumo__header_view *headers; /* names lower case */
    size_t nheaders;
    kumo__slice query;              /* raw, without '?'; base NULL: none */
    const char *tls_client_subject; /* the verified client certificate's subject (mutualTLS), or NULL */
    /* 1: a password that only a slow hash can check (http basic, not
     * remembered) is not hashed here: the answer is KUMO__AUTH_PENDING
     * with the job to run elsewhere, and the caller asks again with it
     * run as basic_done. 0: hashed here (kumo-host, tests). */
    int defer_hash;
    const kumo__slow_job *basic_done;
} kumo__auth_request;

#define KUMO__AUTH_PENDING 1 /* kumo__auth_result.status: run .pending, then check again */

typedef struct kumo__auth_result {
    int status;              /* 0: pass; 401 or 403: refused; 503: a token's keys are not available yet;
                                KUMO__AUTH_PENDING: see defer_hash */
    kumo__slow_job *pending; /* KUMO__AUTH_PENDING: the job (owned until taken) */
    const char *retry_after; /* 503: the Retry-After value */
    const char *scheme;      /* pass: the scheme that said who called (borrowed from the policy); NULL: anonymous */
    char subject[256];       /* pass with a scheme: the key's name, the user, the token's sub */
    json_t *claims;          /* pass: a verified token's claims (owned: kumo__auth_result_free), or NULL */
    char challenge[1024];    /* 401 and 403: the WWW-Authenticate value (challenges joined by ", ") */
    char detail[512];        /* 401 and 403: for the problem document; never a credential */
} kumo__auth_result;

/* Checks request rq against operation op_index's requirements. Never
 * fails: out of memory is a refusal (401). Thread-safe. */
void kumo__auth_check(kumo__auth *a, size_t op_index, const kumo__auth_request *rq, kumo__auth_result *out);
void kumo__auth_result_free(kumo__auth_result *r);
/* Requests scheme's verified-token cache answered (tests, figures); 0 for
 * a scheme that is not a token scheme. */
uint64_t kumo__auth_token_cache_hits(const kumo__auth *a, const char *scheme);
/* The key set a token scheme verifies with (borrowed), or NULL (no such
 * scheme, or not a token scheme): for tests and figures. */
struct kumo__jwks *kumo__auth_keys(const kumo__auth *a, const char *scheme);
/* The model the policy enforces (borrowed). */
const kumo__security *kumo__auth_security(const kumo__auth *a);

#endif
