/*
 * ratelimit.h: kumo.yaml's http.rate_limits (project/edge.h) enforced:
 * a token bucket per operation, or per operation and caller, taken from
 * by dispatch.c after routing and before the function, so kumo up and
 * kumo-host refuse alike: 429 problem+json with Retry-After, and on every
 * answer of a limited operation the RateLimit-Limit, RateLimit-Remaining,
 * RateLimit-Reset and RateLimit-Policy headers (the IETF httpapi draft).
 * Thread-safe: kumo up's loops share one limiter per generation. A reload
 * starts with full buckets. docs/edge.md.
 */
#ifndef KUMO_GATEWAY_RATELIMIT_H
#define KUMO_GATEWAY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "project/edge.h"

struct kumo__http_in;
typedef struct kumo__ratelimit kumo__ratelimit;

/* Callers tracked at once per limiter; past it, buckets already full are
 * dropped, and if none is, new callers share one bucket per operation
 * (stricter, never looser). */
#define KUMO__RATELIMIT_MAX_KEYS 65536

/* A limiter for `c`'s rules over `spec`'s operations: *out NULL (and 0)
 * when there are none. Errors: out of memory. */
int kumo__ratelimit_new(const kumo__edge_config *c, const kumo__spec *spec, kumo__ratelimit **out, kumo__error *err);
void kumo__ratelimit_free(kumo__ratelimit *rl);

/* The key a caller's buckets are counted under. Today the verified TLS
 * client subject (tls.c), else the client's address (Lambda: the event's
 * sourceIp), else "" (one bucket for callers the transport does not name). The auth
 * code (issue 16, h-sec) puts the authenticated subject first here. Points
 * into `in`. */
const char *kumo__ratelimit_key(const struct kumo__http_in *in);

typedef struct kumo__ratelimit_verdict {
    int applied; /* a rule covers the operation: its headers go on the answer */
    int refused; /* no token: 429 */
    char limit[24], remaining[24], reset[24], policy[48], retry_after[24]; /* header values */
    char rule[96]; /* the rule in words, for a 429's detail: "3 requests per 3600 s for each caller" */
} kumo__ratelimit_verdict;

/* The verdict's response headers (none unless applied): names (lower
 * case literals) and values (into v) in `names`/`values`; returns how many. */
size_t kumo__ratelimit_headers(const kumo__ratelimit_verdict *v, const char *names[4], const char *values[4]);

/* Takes a token from operation op_index's bucket for `key` (ignored by a
 * `by: operation` rule) at `now_us` (monotonic). rl NULL: nothing applied. */
void kumo__ratelimit_take(kumo__ratelimit *rl, size_t op_index, const char *key, uint64_t now_us,
                          kumo__ratelimit_verdict *v);

#endif
