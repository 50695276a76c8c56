/*
 * jwks.c: key sets for jwt.c. A JWKS document becomes an immutable,
 * reference-counted snapshot of OpenSSL public keys (kumo__jwk_set); the
 * key set (kumo__jwks) holds the current one under a mutex that readers
 * keep only long enough to take a reference. A remote set has one
 * fetcher thread: it fetches at start, every ttl_s after a good fetch,
 * min_refetch_s after a failed one, and when a reader reports an unknown
 * kid (at most once per min_refetch_s); a failed fetch keeps the last
 * good snapshot. Every document read from outside has a ceiling
 * (KUMO__JWKS_MAX_BYTES, KUMO__JWKS_MAX_KEYS, the sizes of a key's
 * members). jwks.h has the contract; docs/jwt.md the user's side.
 */
#include "auth/jwks.h"
#include "auth/ed25519.h"
#include "base/curl_lazy.h"

#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "auth/crypto_lazy.h" /* after OpenSSL's: kumo-lambda loads libcrypto on demand */

#include <bearssl.h>

#include "auth/jwt.h"
#include "base/base64.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BYTES 1024 /* 8192-bit modulus */

struct kumo__jwks {
    pthread_mutex_t mu;
    pthread_cond_t wake;                       /* the fetcher waits on it: a refetch is wanted, or stop */
    pthread_cond_t done;                       /* kumo__jwks_wait waits on it: the first fetch ended */
    kumo__jwk_set *cur;                        /* NULL until a document was read */
    char *jwks_url, *discovery_url, *jwks_uri; /* jwks_uri: from discovery, or jwks_url */
    char *ca_file;
    unsigned char *secret;
    size_t secret_len;
    int ttl_s, min_refetch_s, timeout_ms;
    int remote, started, stop, want, first_done;
    int failing;            /* the last fetch failed: logged once per streak */
    _Atomic uint64_t gen;   /* snapshots installed (kumo__jwks_generation) */
    uint64_t last_start_ms; /* when the last fetch began (monotonic) */
    kumo__jwks_stats stats;
    pthread_t thread;
};

static void say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

void kumo__jwk_set_release(kumo__jwk_set *s)
{
    if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->keys[i].pkey != NULL) /* else no call: libcrypto may not be loaded */
            EVP_PKEY_free(s->keys[i].pkey);
    free(s);
}

/* A base64url member of at most max bytes decoded: its length (> 0), 0
 * when absent, -1 when not a string of base64url or too long. */
static long member_bytes(json_t *jk, const char *name, unsigned char *out, size_t max)
{
    json_t *v = json_object_get(jk, name);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) > (max * 4 + 2) / 3)
        return -1;
    long n = kumo__b64_decode(json_string_value(v), json_string_length(v), KUMO__B64URL, out);
    return n > 0 ? n : -1;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *b)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (pkey != NULL) { /* the point is on the curve, the modulus is sane */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    ERR_clear_error();
    return pkey;
}

/* A key only OpenSSL verifies, where libcrypto could not be loaded (a
 * lean host on a system without it): left out, said once per process. */
static void left_out_without_libcrypto(const char *what, const char *load_error)
{
    static atomic_int said;
    if (atomic_exchange(&said, 1) == 0)
        kumo__log_event("warn",
                        "jwks: %s left out of the key set: only libcrypto verifies it, and it could not be loaded "
                        "(%s); tokens it signed are refused",
                        what, load_error);
}

/* An RSA key: its n and e for BearSSL (jwt.c) up to 4096 bits, and
 * OpenSSL's key where libcrypto is loaded (the only one over 4096 bits:
 * without libcrypto such a key is left out). */
static int rsa_key(json_t *jk, kumo__jwk *k, char *why, size_t whylen)
{
    unsigned char n[RSA_MAX_BYTES + 2], e[16];
    long nl = member_bytes(jk, "n", n, RSA_MAX_BYTES + 1), el = member_bytes(jk, "e", e, 8);
    if (nl <= 0 || el <= 0) {
        say(why, whylen, "an RSA key needs n and e, base64url, n at most %d bits, e at most 64", RSA_MAX_BYTES * 8);
        return -1;
    }
    const unsigned char *np = n, *ep = e;
    size_t nlen = (size_t)nl, elen = (size_t)el;
    while (nlen > 0 && *np == 0)
        np++, nlen--;
    while (elen > 0 && *ep == 0)
        ep++, elen--;
    k->bits = 0;
    if (nlen > 0) {
        k->bits = (int)nlen * 8;
        for (unsigned top = np[0]; !(top & 0x80); top <<= 1)
            k->bits--;
    }
    if (k->bits > RSA_MAX_BYTES * 8 || elen == 0 || !(ep[elen - 1] & 1) || (elen == 1 && ep[0] == 1)) {
        say(why, whylen, "an RSA key's n is over %d bits or its e is not an odd number above 1", RSA_MAX_BYTES * 8);
        return -1;
    }
    if (k->bits < RSA_MIN_BITS)
        return 0; /* too weak to trust: left out */
    if (!(np[nlen - 1] & 1)) {
        say(why, whylen, "an RSA key whose n is even");
        return -1;
    }
    if (k->bits <= KUMO__JWK_BEARSSL_RSA_BITS) {
        memcpy(k->pub, np, nlen);
        k->pub_len = nlen;
        memcpy(k->e, ep, elen);
        k->e_len = elen;
    }
    if (!kumo__crypto_loaded()) {
        if (k->pub_len > 0)
            return 1; /* BearSSL verifies it (jwt.c) */
        /* Over 4096 bits only OpenSSL verifies: a lean host loads
         * libcrypto now, for this key, where its system has it (its
         * package does not carry it: such keys are rare). */
        kumo__error e = {0};
        if (kumo__crypto_load(&e) != 0) {
            left_out_without_libcrypto("an RSA key over 4096 bits", e.msg);
            return 0;
        }
    }
    BIGNUM *bn = BN_bin2bn(np, (int)nlen, NULL), *be = BN_bin2bn(ep, (int)elen, NULL);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    int rc = -1;
    if (bn == NULL || be == NULL || b == NULL) {
        say(why, whylen, "out of memory");
        goto out;
    }
    if (OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) != 1 || (k->pkey = from_params("RSA", b)) == NULL) {
        say(why, whylen, "an RSA key OpenSSL refuses");
        goto out;
    }
    rc = 1;
out:
    BN_free(bn);
    BN_free(be);
    OSSL_PARAM_BLD_free(b);
    return rc;
}

/* An EC key: its point, checked to be on its curve (BearSSL's multiply by
 * one refuses any other), for BearSSL; and OpenSSL's key where libcrypto
 * is loaded, which verifies faster (jwt.c). */
static int ec_key(json_t *jk, kumo__jwk *k, char *why, size_t whylen)
{
    size_t size = k->crv == KUMO__CRV_P256 ? 32 : 48;
    unsigned char x[64], y[64], point[1 + 2 * 48], check[1 + 2 * 48];
    long xl = member_bytes(jk, "x", x, size), yl = member_bytes(jk, "y", y, size);
    if (xl != (long)size || yl != (long)size) {
        say(why, whylen, "an EC key on %s needs x and y of %zu bytes each, base64url",
            k->crv == KUMO__CRV_P256 ? "P-256" : "P-384", size);
        return -1;
    }
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, size);
    memcpy(point + 1 + size, y, size);
    static const unsigned char one[1] = {1};
    memcpy(check, point, 1 + 2 * size);
    if (!br_ec_get_default()->mul(check, 1 + 2 * size, one, sizeof one,
                                  k->crv == KUMO__CRV_P256 ? BR_EC_secp256r1 : BR_EC_secp384r1)) {
        say(why, whylen, "an EC key whose point is not on its curve");
        return -1;
    }
    memcpy(k->pub, point, 1 + 2 * size);
    k->pub_len = 1 + 2 * size;
    if (!kumo__crypto_loaded())
        return 1;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    int rc = -1;
    if (b != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
                                        k->crv == KUMO__CRV_P256 ? "prime256v1" : "secp384r1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size) == 1 &&
        (k->pkey = from_params("EC", b)) != NULL)
        rc = 1;
    else
        say(why, whylen, "an EC key whose point is not on its curve");
    OSSL_PARAM_BLD_free(b);
    return rc;
}

/* An Ed25519 key: its 32 bytes for ed25519.c (jwt.c verifies with them
 * without libcrypto), checked to be a point of the curve, and OpenSSL's
 * key where libcrypto is loaded. */
static int okp_key(json_t *jk, kumo__jwk *k, char *why, size_t whylen)
{
    unsigned char x[40];
    if (member_bytes(jk, "x", x, 32) != 32) {
        say(why, whylen, "an Ed25519 key needs x of 32 bytes, base64url");
        return -1;
    }
    if (!kumo__ed25519_key_ok(x)) {
        say(why, whylen, "an Ed25519 key whose x is not a point of the curve, or is one of small order");
        return -1;
    }
    memcpy(k->pub, x, 32);
    k->pub_len = 32;
    if (!kumo__crypto_loaded())
        return 1;
    k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    ERR_clear_error();
    if (k->pkey == NULL) {
        say(why, whylen, "an Ed25519 key OpenSSL refuses");
        return -1;
    }
    return 1;
}

/* The algs a JWK's own `alg` may name for its kty and crv. */
static int alg_fits_kty(const char *alg, kumo__kty kty, kumo__crv crv)
{
    static const char *const rsa[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"};
    switch (kty) {
    case KUMO__KTY_RSA:
        for (size_t i = 0; i < sizeof rsa / sizeof rsa[0]; i++)
            if (strcmp(alg, rsa[i]) == 0)
                return 1;
        return 0;
    case KUMO__KTY_EC: return strcmp(alg, crv == KUMO__CRV_P256 ? "ES256" : "ES384") == 0;
    case KUMO__KTY_OKP: return strcmp(alg, "EdDSA") == 0;
    }
    return 0;
}

/* One JWK: 1 kept into *k, 0 left out, -1 malformed (why set). */
static int parse_key(json_t *jk, kumo__jwk *k, char *why, size_t whylen)
{
    memset(k, 0, sizeof(*k));
    if (!json_is_object(jk)) {
        say(why, whylen, "is not an object");
        return -1;
    }
    json_t *kty = json_object_get(jk, "kty"), *use = json_object_get(jk, "use"), *kid = json_object_get(jk, "kid"),
           *alg = json_object_get(jk, "alg"), *crv = json_object_get(jk, "crv"), *ops = json_object_get(jk, "key_ops");
    if (!json_is_string(kty)) {
        say(why, whylen, "has no kty");
        return -1;
    }
    if ((use && !json_is_string(use)) || (kid && !json_is_string(kid)) || (alg && !json_is_string(alg)) ||
        (crv && !json_is_string(crv)) || (ops && !json_is_array(ops))) {
        say(why, whylen, "has a use, kid, alg, crv or key_ops of the wrong type");
        return -1;
    }
    if (kid && json_string_length(kid) > KUMO__JWK_KID_MAX) {
        say(why, whylen, "has a kid longer than %d bytes", KUMO__JWK_KID_MAX);
        return -1;
    }
    if (json_object_get(jk, "d") || json_object_get(jk, "p") || json_object_get(jk, "k")) {
        say(why, whylen, "holds private or secret key material (d, p or k); publish public keys only");
        return -1;
    }
    if (use && strcmp(json_string_value(use), "sig") != 0)
        return 0; /* an encryption key */
    if (ops) {
        int verify = 0;
        for (size_t i = 0; i < json_array_size(ops); i++)
            verify |= json_is_string(json_array_get(ops, i)) &&
                      strcmp(json_string_value(json_array_get(ops, i)), "verify") == 0;
        if (!verify)
            return 0;
    }
    const char *t = json_string_value(kty), *c = crv ? json_string_value(crv) : "";
    if (strcmp(t, "RSA") == 0) {
        k->kty = KUMO__KTY_RSA;
    } else if (strcmp(t, "EC") == 0) {
        k->kty = KUMO__KTY_EC;
        k->crv = strcmp(c, "P-256") == 0 ? KUMO__CRV_P256 : strcmp(c, "P-384") == 0 ? KUMO__CRV_P384 : KUMO__CRV_NONE;
    } else if (strcmp(t, "OKP") == 0) {
        k->kty = KUMO__KTY_OKP;
        k->crv = strcmp(c, "Ed25519") == 0 ? KUMO__CRV_ED25519 : KUMO__CRV_NONE;
    } else {
        return 0; /* oct (never from a key set: HS* takes only the configured secret) or unknown */
    }
    if (k->kty != KUMO__KTY_RSA && k->crv == KUMO__CRV_NONE)
        return 0; /* P-521, Ed448, X25519 ...: not verified by kumo */
    if (alg) {
        if (json_string_length(alg) >= sizeof k->alg || !alg_fits_kty(json_string_value(alg), k->kty, k->crv))
            return 0; /* an alg kumo does not verify, or not one of this kty */
        strcpy(k->alg, json_string_value(alg));
    }
    if (kid) {
        memcpy(k->kid, json_string_value(kid), json_string_length(kid) + 1);
        k->has_kid = 1;
        if (strlen(k->kid) != json_string_length(kid)) {
            say(why, whylen, "has a kid with a NUL byte");
            return -1;
        }
    }
    switch (k->kty) {
    case KUMO__KTY_RSA: return rsa_key(jk, k, why, whylen);
    case KUMO__KTY_EC: return ec_key(jk, k, why, whylen);
    case KUMO__KTY_OKP: return okp_key(jk, k, why, whylen);
    }
    return 0;
}

int kumo__jwks_parse(const char *doc, size_t len, kumo__jwk_set **out, unsigned *skipped, char *why, size_t whylen)
{
    *out = NULL;
    if (skipped)
        *skipped = 0;
    if (len > KUMO__JWKS_MAX_BYTES) {
        say(why, whylen, "the key set is larger than %d bytes", KUMO__JWKS_MAX_BYTES);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
    kumo__jwk_set *s = NULL;
    int rc = -1;
    if (root == NULL) {
        say(why, whylen, "the key set is not JSON: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        goto out;
    }
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        say(why, whylen, "the key set is not an object with a \"keys\" array");
        goto out;
    }
    size_t count = json_array_size(keys);
    if (count > KUMO__JWKS_MAX_KEYS) {
        say(why, whylen, "the key set has %zu keys; kumo reads %d at most", count, KUMO__JWKS_MAX_KEYS);
        goto out;
    }
    s = calloc(1, sizeof(*s) + count * sizeof(kumo__jwk));
    if (s == NULL) {
        say(why, whylen, "out of memory");
        goto out;
    }
    s->refs = 1;
    for (size_t i = 0; i < count; i++) {
        char kwhy[200] = "";
        int r = parse_key(json_array_get(keys, i), &s->keys[s->n], kwhy, sizeof kwhy);
        if (r < 0) {
            if (s->keys[s->n].pkey)
                EVP_PKEY_free(s->keys[s->n].pkey);
            say(why, whylen, "key %zu %s", i, kwhy);
            goto out;
        }
        if (r == 0) {
            if (s->keys[s->n].pkey)
                EVP_PKEY_free(s->keys[s->n].pkey);
            if (skipped)
                (*skipped)++;
            continue;
        }
        s->n++;
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    kumo__jwk_set_release(s);
    json_decref(root);
    return rc;
}

/* --- fetching ------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    int too_big;
} body;

static size_t body_write(char *p, size_t size, size_t n, void *ctx)
{
    body *b = ctx;
    size_t add = size * n;
    if (b->len + add > KUMO__JWKS_MAX_BYTES) {
        b->too_big = 1;
        return 0;
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return 0;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, add);
    b->len += add;
    b->buf[b->len] = '\0';
    return add;
}

static int abort_on_stop(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    kumo__jwks *ks = ctx;
    return __atomic_load_n(&ks->stop, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static kumo__jwks_getter getter; /* NULL: libcurl */

void kumo__jwks_set_getter(kumo__jwks_getter get)
{
    getter = get;
}

/* GETs url into *out (malloc'd, NUL-terminated): 0, or -1 with why set. */
static int http_get(kumo__jwks *ks, const char *url, body *out, char *why, size_t whylen)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    memset(out, 0, sizeof(*out));
    if (getter && !ks->ca_file) { /* a CA file of the set's own: libcurl reads it */
        if (getter(url, ks->timeout_ms, KUMO__JWKS_MAX_BYTES, &out->buf, &out->len, why, whylen) < 0) {
            free(out->buf);
            out->buf = NULL;
            return -1;
        }
        return 0;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        say(why, whylen, "cannot start libcurl");
        return -1;
    }
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* https stays https through redirects: no downgrade to read the keys in clear */
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, strncasecmp(url, "https:", 6) == 0 ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ks->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(ks->timeout_ms < 5000 ? ks->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (ks->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ks->ca_file);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kumo/" KUMO_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, ks);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (out->too_big) {
        say(why, whylen, "%s: the document is larger than %d bytes", url, KUMO__JWKS_MAX_BYTES);
    } else if (rc != CURLE_OK) {
        say(why, whylen, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (status != 200) {
        say(why, whylen, "%s: HTTP status %ld", url, status);
    } else {
        if (out->buf == NULL)
            out->buf = calloc(1, 1);
        return out->buf ? 0 : -1;
    }
    free(out->buf);
    out->buf = NULL;
    return -1;
}

static int is_http_url(const char *u)
{
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

/* Reads the discovery document: ks->jwks_uri and the issuer. */
static int discover(kumo__jwks *ks, char *why, size_t whylen)
{
    body b;
    int rc = -1;
    json_t *root = NULL;
    if (http_get(ks, ks->discovery_url, &b, why, whylen) < 0)
        return -1;
    root = json_loadb(b.buf, b.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *uri = json_object_get(root, "jwks_uri"), *iss = json_object_get(root, "issuer");
    if (!json_is_string(uri) || !is_http_url(json_string_value(uri))) {
        say(why, whylen, "%s: not an OpenID Connect discovery document with an http(s) jwks_uri", ks->discovery_url);
        goto out;
    }
    if (strncasecmp(ks->discovery_url, "https:", 6) == 0 && strncasecmp(json_string_value(uri), "https:", 6) != 0) {
        say(why, whylen, "%s: its jwks_uri is not https while the document is", ks->discovery_url);
        goto out;
    }
    char *dup = strdup(json_string_value(uri));
    if (dup == NULL)
        goto out;
    pthread_mutex_lock(&ks->mu);
    free(ks->jwks_uri);
    ks->jwks_uri = dup;
    snprintf(ks->stats.issuer, sizeof ks->stats.issuer, "%s", json_is_string(iss) ? json_string_value(iss) : "");
    pthread_mutex_unlock(&ks->mu);
    rc = 0;
out:
    json_decref(root);
    free(b.buf);
    return rc;
}

/* One round: discovery when needed, then the keys. 0 or -1 (why set). */
static int fetch_once(kumo__jwks *ks, char *why, size_t whylen)
{
    if (ks->discovery_url && ks->jwks_uri == NULL && discover(ks, why, whylen) < 0)
        return -1;
    body b;
    kumo__jwk_set *s = NULL;
    unsigned skipped = 0;
    if (http_get(ks, ks->jwks_uri, &b, why, whylen) < 0) {
        if (ks->discovery_url) { /* the keys may have moved: read discovery again next time */
            pthread_mutex_lock(&ks->mu);
            free(ks->jwks_uri);
            ks->jwks_uri = NULL;
            pthread_mutex_unlock(&ks->mu);
        }
        return -1;
    }
    char pwhy[200];
    int rc = kumo__jwks_parse(b.buf, b.len, &s, &skipped, pwhy, sizeof pwhy);
    if (rc < 0)
        say(why, whylen, "%s: %s", ks->jwks_uri, pwhy);
    free(b.buf);
    if (rc < 0)
        return -1;
    pthread_mutex_lock(&ks->mu);
    kumo__jwk_set *old = ks->cur;
    ks->cur = s;
    atomic_fetch_add_explicit(&ks->gen, 1, memory_order_release);
    ks->stats.keys = (unsigned)s->n;
    ks->stats.skipped = skipped;
    pthread_mutex_unlock(&ks->mu);
    kumo__jwk_set_release(old);
    return 0;
}

static void *fetcher(void *arg)
{
    kumo__jwks *ks = arg;
    uint64_t due = 0; /* monotonic ms of the next fetch; 0: now */
    pthread_mutex_lock(&ks->mu);
    while (!ks->stop) {
        uint64_t now = kumo__mono_ms();
        if (!ks->want && now < due) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t wait = due - now;
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&ks->wake, &ks->mu, &ts);
            continue;
        }
        ks->want = 0;
        ks->last_start_ms = now;
        pthread_mutex_unlock(&ks->mu);

        char why[256] = "";
        int rc = fetch_once(ks, why, sizeof why);

        pthread_mutex_lock(&ks->mu);
        if (ks->stop)
            break; /* aborted by kumo__jwks_free: nothing to say */
        ks->stats.fetches++;
        if (rc < 0) {
            ks->stats.failures++;
            snprintf(ks->stats.last_error, sizeof ks->stats.last_error, "%s", why);
            if (!ks->failing)
                kumo__log_event("warn", "jwks: %s; %s (retried every %d s)", why,
                                ks->cur ? "the keys fetched before are kept" : "no keys yet: bearer tokens are refused",
                                ks->min_refetch_s);
            ks->failing = 1;
            due = kumo__mono_ms() + (uint64_t)ks->min_refetch_s * 1000;
        } else {
            if (ks->failing)
                kumo__log_event("info", "jwks: %s fetched again, %u keys", ks->jwks_uri ? ks->jwks_uri : "",
                                ks->stats.keys);
            ks->failing = 0;
            ks->stats.last_error[0] = '\0';
            due = kumo__mono_ms() + (uint64_t)ks->ttl_s * 1000;
        }
        if (!ks->first_done) {
            ks->first_done = 1;
            pthread_cond_broadcast(&ks->done);
        }
    }
    pthread_mutex_unlock(&ks->mu);
    return NULL;
}

static int read_file(const char *path, char **out, size_t *len, kumo__error *err)
{
    struct stat st;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) < 0) {
        kumo__error_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (st.st_size > KUMO__JWKS_MAX_BYTES) {
        kumo__error_set(err, -EFBIG, "%s: a key set of %lld bytes; kumo reads %d at most", path, (long long)st.st_size,
                        KUMO__JWKS_MAX_BYTES);
        goto fail;
    }
    *out = malloc((size_t)st.st_size + 1);
    if (*out == NULL || fread(*out, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        kumo__error_set(err, -EIO, "%s: cannot read it", path);
        goto fail;
    }
    (*out)[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    fclose(f);
    return 0;
fail:
    free(*out);
    *out = NULL;
    if (f)
        fclose(f);
    return -1;
}

kumo__jwks *kumo__jwks_new(const kumo__jwks_config *c, kumo__error *err)
{
    int sources = !!c->jwks_url + !!c->discovery_url + !!c->jwks_file + !!c->jwks_json;
    if (sources > 1) {
        kumo__error_set(err, -EINVAL,
                        "give one of jwks_url, an OpenID Connect discovery URL, jwks_file and a key set, not %d",
                        sources);
        return NULL;
    }
    if (sources == 0 && c->hs_secret == NULL) {
        kumo__error_set(err, -EINVAL,
                        "no keys: give jwks_url, an OpenID Connect discovery URL, jwks_file or a "
                        "shared secret");
        return NULL;
    }
    if (c->hs_secret && c->hs_secret_len < KUMO__JWKS_HS_MIN) {
        kumo__error_set(err, -EINVAL, "the shared secret has %zu bytes; HS256 needs %d at least (RFC 7518 3.2)",
                        c->hs_secret_len, KUMO__JWKS_HS_MIN);
        return NULL;
    }
    const char *url = c->jwks_url ? c->jwks_url : c->discovery_url;
    if (url && !is_http_url(url)) {
        kumo__error_set(err, -EINVAL, "%s: not an http:// or https:// URL", url);
        return NULL;
    }
    if (c->ca_file && access(c->ca_file, R_OK) != 0) {
        kumo__error_set(err, -errno, "%s: %s (the CA bundle for the key set's https URL)", c->ca_file, strerror(errno));
        return NULL;
    }
    if (c->ca_file && url == NULL) {
        kumo__error_set(err, -EINVAL, "a CA bundle is for an https key set URL, and there is none");
        return NULL;
    }
    if (c->ttl_s < 0 || c->min_refetch_s < 0 || c->timeout_ms < 0) {
        kumo__error_set(err, -EINVAL, "ttl, min_refetch and timeout may not be negative");
        return NULL;
    }
    kumo__jwks *ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ks->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ks->wake, &ca);
    pthread_cond_init(&ks->done, &ca);
    pthread_condattr_destroy(&ca);
    ks->ttl_s = c->ttl_s ? c->ttl_s : 300;
    ks->min_refetch_s = c->min_refetch_s ? c->min_refetch_s : 10;
    ks->timeout_ms = c->timeout_ms ? c->timeout_ms : 10000;
    if (c->hs_secret) {
        if ((ks->secret = malloc(c->hs_secret_len)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(ks->secret, c->hs_secret, c->hs_secret_len);
        ks->secret_len = c->hs_secret_len;
    }
    if (c->jwks_file) {
        char *doc = NULL, why[256];
        size_t len = 0;
        unsigned skipped = 0;
        if (read_file(c->jwks_file, &doc, &len, err) < 0)
            goto fail;
        int rc = kumo__jwks_parse(doc, len, &ks->cur, &skipped, why, sizeof why);
        free(doc);
        if (rc < 0) {
            kumo__error_set(err, -EINVAL, "%s: %s", c->jwks_file, why);
            goto fail;
        }
        if (ks->cur->n == 0) {
            kumo__error_set(err, -EINVAL,
                            "%s: no key kumo can verify with (%u left out: encryption keys, oct, other curves, RSA "
                            "under 2048 bits); docs/jwt.md lists what is read",
                            c->jwks_file, skipped);
            goto fail;
        }
        ks->stats.keys = (unsigned)ks->cur->n;
        ks->stats.skipped = skipped;
        ks->first_done = 1;
    }
    if (c->jwks_json) {
        char why[256];
        unsigned skipped = 0;
        if (kumo__jwks_parse(c->jwks_json, strlen(c->jwks_json), &ks->cur, &skipped, why, sizeof why) < 0) {
            kumo__error_set(err, -EINVAL, "%s", why);
            goto fail;
        }
        if (ks->cur->n == 0) {
            kumo__error_set(err, -EINVAL, "the key set has no key kumo can verify with (%u left out)", skipped);
            goto fail;
        }
        ks->stats.keys = (unsigned)ks->cur->n;
        ks->stats.skipped = skipped;
    }
    if (url) {
        ks->remote = 1;
        if ((c->jwks_url && (ks->jwks_url = strdup(c->jwks_url)) == NULL) ||
            (c->jwks_url && (ks->jwks_uri = strdup(c->jwks_url)) == NULL) ||
            (c->discovery_url && (ks->discovery_url = strdup(c->discovery_url)) == NULL) ||
            (c->ca_file && (ks->ca_file = strdup(c->ca_file)) == NULL)) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT); /* thread-safe and counted since libcurl 7.84 */
        int rc = pthread_create(&ks->thread, NULL, fetcher, ks);
        if (rc != 0) {
            kumo__error_set(err, -rc, "cannot start the key fetcher: %s", strerror(rc));
            goto fail;
        }
        ks->started = 1;
    } else {
        ks->first_done = 1;
    }
    return ks;
fail:
    kumo__jwks_free(ks);
    return NULL;
}

void kumo__jwks_free(kumo__jwks *ks)
{
    if (ks == NULL)
        return;
    if (ks->started) {
        pthread_mutex_lock(&ks->mu);
        __atomic_store_n(&ks->stop, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&ks->wake);
        pthread_mutex_unlock(&ks->mu);
        pthread_join(ks->thread, NULL);
    }
    kumo__jwk_set_release(ks->cur);
    if (ks->secret)
        explicit_bzero(ks->secret, ks->secret_len);
    free(ks->secret);
    free(ks->jwks_url);
    free(ks->jwks_uri);
    free(ks->discovery_url);
    free(ks->ca_file);
    pthread_cond_destroy(&ks->wake);
    pthread_cond_destroy(&ks->done);
    pthread_mutex_destroy(&ks->mu);
    free(ks);
}

int kumo__jwks_wait(kumo__jwks *ks, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ks->mu);
    while (!ks->first_done && pthread_cond_timedwait(&ks->done, &ks->mu, &ts) == 0)
        ;
    int have = ks->cur != NULL;
    pthread_mutex_unlock(&ks->mu);
    return have;
}

void kumo__jwks_stats_get(kumo__jwks *ks, kumo__jwks_stats *out)
{
    pthread_mutex_lock(&ks->mu);
    *out = ks->stats;
    pthread_mutex_unlock(&ks->mu);
}

uint64_t kumo__jwks_generation(kumo__jwks *ks)
{
    return atomic_load_explicit(&ks->gen, memory_order_acquire);
}

kumo__jwk_set *kumo__jwks_acquire(kumo__jwks *ks)
{
    pthread_mutex_lock(&ks->mu);
    kumo__jwk_set *s = ks->cur;
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ks->mu);
    return s;
}

void kumo__jwks_unknown_kid(kumo__jwks *ks)
{
    if (!ks->remote)
        return;
    pthread_mutex_lock(&ks->mu);
    if (!ks->want && kumo__mono_ms() - ks->last_start_ms >= (uint64_t)ks->min_refetch_s * 1000) {
        ks->want = 1;
        pthread_cond_signal(&ks->wake);
    }
    pthread_mutex_unlock(&ks->mu);
}

const unsigned char *kumo__jwks_hs_secret(kumo__jwks *ks, size_t *len)
{
    *len = ks->secret_len;
    return ks->secret;
}

int kumo__jwks_remote(kumo__jwks *ks)
{
    return ks->remote;
}
