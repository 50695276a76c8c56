/*
 * jwt.h: verifying a compact JWS (RFC 7515) carrying JWT claims (RFC
 * 7519) against a key set (jwks.h): RS256/384/512, PS256, ES256/384
 * (JOSE r||s signatures), EdDSA (Ed25519), and HS256/384/512 only with a
 * configured shared secret. `none` is refused, and so is any algorithm a
 * key is not tied to by its kty, crv and alg (an RSA or EC key is never an
 * HMAC secret). Then exp, nbf and iat with leeway, iss and aud. Called on
 * the gateway's loops: never blocks on the network. docs/jwt.md.
 */
#ifndef KUMO_AUTH_JWT_H
#define KUMO_AUTH_JWT_H

#include "auth/jwks.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define KUMO__JWT_MAX_BYTES (16 * 1024) /* a token's ceiling */

typedef struct {
    const char *issuer;           /* exact match, NULL = not checked */
    const char *const *audiences; /* NULL-terminated; aud must contain one; NULL = not checked */
    int leeway_s;                 /* clock skew allowed on exp/nbf/iat: 0 = the default 30, < 0 = none */
    int allow_no_exp;             /* 1: a token without exp is accepted (default: refused) */
    unsigned algs;                /* the algs accepted (kumo__jwt_alg_bit of each); 0 = every one kumo verifies */
} kumo__jwt_policy;

/* The bit of the alg named `name` for kumo__jwt_policy.algs, or 0 when kumo
 * does not verify it. */
unsigned kumo__jwt_alg_bit(const char *name);
/* Tests and benches: 1 verifies with BearSSL wherever a key has BearSSL's
 * form, as a lean host without libcrypto does; 0 (the default) takes
 * OpenSSL's key where there is one. Not thread-safe: set it before. */
void kumo__jwt_prefer_bearssl(int on);

typedef enum {
    KUMO__JWT_OK,
    KUMO__JWT_MALFORMED,
    KUMO__JWT_BAD_SIGNATURE,
    KUMO__JWT_ALG_REFUSED,
    KUMO__JWT_UNKNOWN_KEY,
    KUMO__JWT_EXPIRED,
    KUMO__JWT_NOT_YET,
    KUMO__JWT_BAD_ISSUER,
    KUMO__JWT_BAD_AUDIENCE,
    KUMO__JWT_KEYS_UNAVAILABLE
} kumo__jwt_result;

/* Verifies a compact JWS token of len bytes at time now_s (seconds since
 * 1970); on OK, *claims is the payload object (the caller json_decref's),
 * else *claims is NULL. why (may be NULL) gets a short reason fit for an
 * error_description, never the token. An unknown kid schedules a
 * rate-limited background refetch and returns UNKNOWN_KEY. ks NULL:
 * KEYS_UNAVAILABLE. Safe from any number of threads at once. */
kumo__jwt_result kumo__jwt_verify(kumo__jwks *ks, const kumo__jwt_policy *p, const char *token, size_t len,
                                  int64_t now_s, json_t **claims, char *why, size_t whylen);

/* The result's name ("ok", "malformed", "bad_signature", ...). */
const char *kumo__jwt_result_name(kumo__jwt_result r);

/* --- the parts of the verification, for the fuzz targets and tests ---- */

/* A compact token split and decoded; the caller frees with
 * kumo__jws_parts_free. */
typedef struct {
    json_t *header;     /* object */
    json_t *payload;    /* object */
    unsigned char *sig; /* decoded signature */
    size_t sig_len;
    size_t signing_len; /* the signing input is token[0..signing_len) */
} kumo__jws_parts;

/* Splits and decodes: 0, or -1 with why set (MALFORMED). */
int kumo__jws_parse(const char *token, size_t len, kumo__jws_parts *out, char *why, size_t whylen);
void kumo__jws_parts_free(kumo__jws_parts *p);

#endif
