/*
 * jwks.h: the keys that verify JSON Web Tokens (jwt.h), read from a JSON
 * Web Key Set (RFC 7517): a local file, a URL, or the `jwks_uri` of an
 * OpenID Connect discovery document, plus an optional HS* shared secret.
 * A URL's keys are fetched by one background thread per key set (libcurl,
 * or the process's getter: kumo__jwks_set_getter; with timeouts and a
 * size ceiling): every ttl_s, and again when a token
 * names a kid the set does not hold, at most once per min_refetch_s. A
 * failed fetch keeps the last good keys. Readers (the gateway's loops)
 * never wait on the network: they take a reference to the current
 * snapshot under a short lock. docs/jwt.md has the rules.
 */
#ifndef KUMO_AUTH_JWKS_H
#define KUMO_AUTH_JWKS_H

#include "base/error.h"

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define KUMO__JWKS_MAX_BYTES (256 * 1024) /* a JWKS or discovery document's ceiling */
#define KUMO__JWKS_MAX_KEYS 64            /* keys kept from one document */
#define KUMO__JWK_KID_MAX 256             /* a kid's length ceiling, bytes */
#define KUMO__JWKS_HS_MIN 32              /* a shared secret's least length, bytes */

typedef struct kumo__jwks kumo__jwks; /* thread-safe key set */

typedef struct {
    const char *jwks_url;      /* http(s)://.../jwks, or NULL */
    const char *discovery_url; /* openIdConnectUrl, or NULL */
    const char *jwks_file;     /* a local JWKS file, or NULL */
    const char *jwks_json;     /* a JWKS document itself (NUL-terminated), or NULL */
    const char *hs_secret;     /* HS* shared secret (bytes), or NULL */
    size_t hs_secret_len;
    int ttl_s;           /* cache TTL, 0: 300 */
    int min_refetch_s;   /* unknown-kid refetch rate limit, 0: 10 */
    int timeout_ms;      /* one fetch's ceiling, 0: 10000 */
    const char *ca_file; /* PEM CA bundle for https (a private issuer), NULL: the system's */
} kumo__jwks_config;

/* Makes a key set from c (copied). A file is read now (an error names it
 * and what is wrong); a URL is fetched in the background from now on
 * (kumo__jwks_wait waits for the first answer). One source at most
 * (URL, discovery, file, document), or only the secret. NULL with err set. */
kumo__jwks *kumo__jwks_new(const kumo__jwks_config *c, kumo__error *err);
/* Stops the fetcher (an in-flight fetch is aborted) and frees; NULL is a
 * no-op. No verify may be running on ks. */
void kumo__jwks_free(kumo__jwks *ks);

/* Waits at most timeout_ms for the first fetch (or discovery) to end,
 * well or not: 1 when keys are there, 0 when not (yet). Never needed by
 * the gateway; tests and `kumo up`'s start use it. */
int kumo__jwks_wait(kumo__jwks *ks, int timeout_ms);

/* How the fetchers GET a key set or a discovery document: libcurl unless a
 * process sets another getter before its first key set (kumo-host and
 * kumo-lambda set kumo's own HTTPS client: host/own_http.c). A getter fetches url
 * within timeout_ms, following redirects as libcurl does here (at most 3,
 * an https URL never to http), and returns 0 with the 200 answer's body in
 * *body (malloc'd, NUL-terminated, *len bytes, at most max_bytes), or -1
 * with why said (another status, a failure, a body over max_bytes). A
 * getter has no per-set CA file: a key set with ca_file is fetched with
 * libcurl all the same (kumo build packages kumo-host, and libcurl, for
 * such a scheme). */
typedef int (*kumo__jwks_getter)(const char *url, int timeout_ms, size_t max_bytes, char **body, size_t *len, char *why,
                                 size_t whylen);
void kumo__jwks_set_getter(kumo__jwks_getter get);

/* What the fetcher has done, for tests, logs and the admin port. */
typedef struct {
    unsigned fetches;  /* fetch rounds (discovery when needed, then the keys), ok or not */
    unsigned failures; /* fetches that failed (the keys kept) */
    unsigned keys;     /* keys in the current snapshot */
    unsigned skipped;  /* keys of the last document left out (kty, use, size) */
    char last_error[256];
    char issuer[512]; /* the discovery document's issuer, "" when none */
} kumo__jwks_stats;
void kumo__jwks_stats_get(kumo__jwks *ks, kumo__jwks_stats *out);

/* --- for jwt.c (and the fuzz targets) --------------------------------- */

#define KUMO__JWK_PUB_MAX 512 /* a 4096-bit modulus: BearSSL's largest */
#define KUMO__JWK_BEARSSL_RSA_BITS 4096
typedef enum { KUMO__KTY_RSA = 1, KUMO__KTY_EC, KUMO__KTY_OKP } kumo__kty;
typedef enum { KUMO__CRV_NONE = 0, KUMO__CRV_P256, KUMO__CRV_P384, KUMO__CRV_ED25519 } kumo__crv;

typedef struct {
    char kid[KUMO__JWK_KID_MAX + 1]; /* "" when the JWK has none */
    int has_kid;
    kumo__kty kty;
    kumo__crv crv;
    char alg[16]; /* the JWK's `alg`, "" when it has none (then any of its kty's) */
    int bits;     /* RSA modulus size */
    /* The public key as BearSSL and ed25519.c read it (jwt.c verifies
     * with it without libcrypto): RSA's n without leading zeros and e;
     * EC's uncompressed point (0x04, x, y); Ed25519's 32 bytes. */
    unsigned char pub[KUMO__JWK_PUB_MAX];
    size_t pub_len;
    unsigned char e[8];
    size_t e_len;
    EVP_PKEY *pkey; /* OpenSSL's, made whenever libcrypto is loaded (then jwt.c verifies with it); NULL without:
                       then an RSA key over 4096 bits, which has no BearSSL form, is left out */
} kumo__jwk;

/* An immutable snapshot of keys; shared by reference count. */
typedef struct kumo__jwk_set {
    int refs; /* atomic */
    size_t n;
    kumo__jwk keys[];
} kumo__jwk_set;

/* Reads a JWKS document (at most KUMO__JWKS_MAX_BYTES, at most
 * KUMO__JWKS_MAX_KEYS keys kept) into a new set (refs 1): 0, or -1 with
 * why set. Keys kumo cannot use for signatures (use "enc", kty "oct",
 * unknown kty or crv, RSA under 2048 bits, and an RSA key over 4096 bits
 * where libcrypto cannot be loaded: a lean host on a system without it)
 * are left out and counted in
 * *skipped (may be NULL); a malformed key of a known kty is an error. */
int kumo__jwks_parse(const char *doc, size_t len, kumo__jwk_set **out, unsigned *skipped, char *why, size_t whylen);
void kumo__jwk_set_release(kumo__jwk_set *s);

/* The current snapshot with a reference taken (release it), or NULL when
 * none was ever loaded. Never blocks on the network. */
kumo__jwk_set *kumo__jwks_acquire(kumo__jwks *ks);
/* How many key snapshots were installed so far: what a verified token
 * was checked against changed when it moved (a cache of verified tokens
 * keys its entries with it). */
uint64_t kumo__jwks_generation(kumo__jwks *ks);
/* A token named a kid the snapshot lacks: wakes the fetcher when the
 * last fetch started min_refetch_s ago or more; otherwise nothing. */
void kumo__jwks_unknown_kid(kumo__jwks *ks);
/* The shared secret (NULL when none), and its length. */
const unsigned char *kumo__jwks_hs_secret(kumo__jwks *ks, size_t *len);
/* 1 when the set has a remote source (a URL or discovery). */
int kumo__jwks_remote(kumo__jwks *ks);

#endif
