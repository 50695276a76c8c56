/*
 * jwt.c: a compact JWS checked in the order an attacker cannot steer:
 * split and decode (bounded), the header's alg looked up in the table of
 * what kumo verifies (never `none`, never `crit`), a key chosen only
 * among those the alg may use (kty, crv and the JWK's own alg; HS* only
 * with the configured secret), the signature, and only then the claims
 * (exp, nbf, iat with leeway; iss; aud). The reasons written to `why` are
 * fixed phrases and numbers, never bytes of the token: they may end up in
 * a WWW-Authenticate header. jwt.h has the contract.
 *
 * Two ways to check a signature. Where libcrypto is loaded (kumo and
 * kumo-host link it), OpenSSL's: its ECDSA is ten times faster than
 * BearSSL's. Where it is not (the lean hosts), BearSSL's: RS*, ES*, and
 * PS* as EMSA-PSS (RFC 8017 section 9.1.2) written here over BearSSL's
 * RSA and hashes; EdDSA by ed25519.c (RFC 8032, over BearSSL's SHA-512).
 * HS* is always BearSSL's HMAC. jwks.c gives each key what it has: its
 * bytes, and OpenSSL's key when libcrypto is loaded (the only form of an
 * RSA key over 4096 bits).
 */
#include "auth/jwt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "auth/crypto_lazy.h" /* after OpenSSL's: kumo-lambda loads libcrypto on demand */

#include <bearssl.h>

#include "auth/ed25519.h"
#include "base/base64.h"

typedef enum { FAM_RSA, FAM_PSS, FAM_EC, FAM_ED, FAM_HMAC } family;

typedef struct {
    const char *name;
    family fam;
    const br_hash_class *hash;
    const unsigned char *oid;  /* RS*: the hash's DigestInfo OID, as BearSSL wants it */
    const EVP_MD *(*md)(void); /* the same hash for OpenSSL */
    kumo__crv crv;
    size_t coord; /* ES*: the size of r and of s */
} alg_info;

static const alg_info algs[] = {
    {"RS256", FAM_RSA, &br_sha256_vtable, BR_HASH_OID_SHA256, EVP_sha256, KUMO__CRV_NONE, 0},
    {"RS384", FAM_RSA, &br_sha384_vtable, BR_HASH_OID_SHA384, EVP_sha384, KUMO__CRV_NONE, 0},
    {"RS512", FAM_RSA, &br_sha512_vtable, BR_HASH_OID_SHA512, EVP_sha512, KUMO__CRV_NONE, 0},
    {"PS256", FAM_PSS, &br_sha256_vtable, NULL, EVP_sha256, KUMO__CRV_NONE, 0},
    {"PS384", FAM_PSS, &br_sha384_vtable, NULL, EVP_sha384, KUMO__CRV_NONE, 0},
    {"PS512", FAM_PSS, &br_sha512_vtable, NULL, EVP_sha512, KUMO__CRV_NONE, 0},
    {"ES256", FAM_EC, &br_sha256_vtable, NULL, EVP_sha256, KUMO__CRV_P256, 32},
    {"ES384", FAM_EC, &br_sha384_vtable, NULL, EVP_sha384, KUMO__CRV_P384, 48},
    {"EdDSA", FAM_ED, NULL, NULL, NULL, KUMO__CRV_ED25519, 0},
    {"HS256", FAM_HMAC, &br_sha256_vtable, NULL, NULL, KUMO__CRV_NONE, 0},
    {"HS384", FAM_HMAC, &br_sha384_vtable, NULL, NULL, KUMO__CRV_NONE, 0},
    {"HS512", FAM_HMAC, &br_sha512_vtable, NULL, NULL, KUMO__CRV_NONE, 0},
};

static const alg_info *alg_find(const char *name)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

static int prefer_bearssl; /* tests and benches: BearSSL even where OpenSSL's keys are there */

void kumo__jwt_prefer_bearssl(int on)
{
    prefer_bearssl = on;
}

unsigned kumo__jwt_alg_bit(const char *name)
{
    const alg_info *a = alg_find(name);
    return a ? 1u << (a - algs) : 0;
}

const char *kumo__jwt_result_name(kumo__jwt_result r)
{
    static const char *const names[] = {"ok",      "malformed", "bad_signature", "alg_refused",  "unknown_key",
                                        "expired", "not_yet",   "bad_issuer",    "bad_audience", "keys_unavailable"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

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

void kumo__jws_parts_free(kumo__jws_parts *p)
{
    if (p == NULL)
        return;
    json_decref(p->header);
    json_decref(p->payload);
    free(p->sig);
    memset(p, 0, sizeof(*p));
}

/* A base64url segment holding a JSON object: the object, or NULL. */
static json_t *segment_object(const char *s, size_t len)
{
    unsigned char *buf = malloc(len * 3 / 4 + 1);
    json_t *v = NULL;
    if (buf == NULL)
        return NULL;
    long n = kumo__b64_decode(s, len, KUMO__B64URL, buf);
    if (n > 0)
        v = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

int kumo__jws_parse(const char *token, size_t len, kumo__jws_parts *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        say(why, whylen, "empty token");
        return -1;
    }
    if (len > KUMO__JWT_MAX_BYTES) {
        say(why, whylen, "token longer than %d bytes", KUMO__JWT_MAX_BYTES);
        return -1;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL) {
        say(why, whylen, "not a compact JWS (three base64url parts joined by '.')");
        return -1;
    }
    const char *end = token + len;
    if (memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL) {
        say(why, whylen, "more than three parts: an encrypted token (JWE) is not supported");
        return -1;
    }
    out->header = segment_object(token, (size_t)(dot1 - token));
    if (out->header == NULL) {
        say(why, whylen, "the header is not base64url of a JSON object");
        goto fail;
    }
    out->payload = segment_object(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (out->payload == NULL) {
        say(why, whylen, "the payload is not base64url of a JSON object");
        goto fail;
    }
    size_t slen = (size_t)(end - dot2 - 1);
    out->sig = malloc(slen * 3 / 4 + 1);
    if (out->sig == NULL) {
        say(why, whylen, "out of memory");
        goto fail;
    }
    long n = kumo__b64_decode(dot2 + 1, slen, KUMO__B64URL, out->sig);
    if (n < 0) { /* empty is read: `none` is refused by its alg, not here */
        say(why, whylen, "the signature is not base64url");
        goto fail;
    }
    out->sig_len = (size_t)n;
    out->signing_len = (size_t)(dot2 - token);
    return 0;
fail:
    kumo__jws_parts_free(out);
    return -1;
}

/* OpenSSL's verification, with the key jwks.c made where libcrypto is
 * loaded (md NULL for EdDSA; pss for PS*). 1 when sig verifies msg. */
static int verify_evp(EVP_PKEY *pkey, const EVP_MD *md, int pss, const unsigned char *msg, size_t n,
                      const unsigned char *sig, size_t sig_len)
{
    int ok = 0;
    EVP_PKEY_CTX *pc = NULL;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL || EVP_DigestVerifyInit(c, &pc, md, NULL, pkey) != 1)
        goto out;
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1 ||
                EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) != 1))
        goto out;
    ok = EVP_DigestVerify(c, sig, sig_len, msg, n) == 1;
out:
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return ok;
}

static size_t hash_len(const br_hash_class *h)
{
    return (size_t)((h->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK);
}

/* out = hash(a || b || c); its length. */
static size_t hash3(const br_hash_class *h, const void *a, size_t alen, const void *b, size_t blen, const void *c,
                    size_t clen, unsigned char *out)
{
    br_hash_compat_context ctx;
    h->init(&ctx.vtable);
    h->update(&ctx.vtable, a, alen);
    h->update(&ctx.vtable, b, blen);
    h->update(&ctx.vtable, c, clen);
    h->out(&ctx.vtable, out);
    return hash_len(h);
}

/* 1 when a and b (n bytes each) are equal, in time that does not depend
 * on where they differ. */
static int same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* MGF1 (RFC 8017 B.2.1) over h: mask ^= MGF1(seed, len). */
static void mgf1_xor(const br_hash_class *h, const unsigned char *seed, size_t seed_len, unsigned char *mask,
                     size_t len)
{
    unsigned char t[64];
    size_t hl = hash_len(h);
    for (uint32_t counter = 0; len > 0; counter++) {
        unsigned char c[4] = {(unsigned char)(counter >> 24), (unsigned char)(counter >> 16),
                              (unsigned char)(counter >> 8), (unsigned char)counter};
        hash3(h, seed, seed_len, c, sizeof c, NULL, 0, t);
        size_t take = len < hl ? len : hl;
        for (size_t i = 0; i < take; i++)
            mask[i] ^= t[i];
        mask += take;
        len -= take;
    }
}

/* EMSA-PSS-VERIFY (RFC 8017 section 9.1.2) with MGF1 over the same hash
 * and a salt as long as the hash (RFC 7518 section 3.5), after the RSA
 * public operation (RSASSA-PSS-VERIFY, section 8.1.2). */
static int verify_pss(const br_rsa_public_key *pk, int bits, const br_hash_class *h, const unsigned char *mhash,
                      const unsigned char *sig, size_t sig_len)
{
    unsigned char em[KUMO__JWK_PUB_MAX];
    if (sig_len != pk->nlen || sig_len > sizeof em)
        return 0;
    memcpy(em, sig, sig_len);
    if (br_rsa_public_get_default()(em, sig_len, pk) != 1)
        return 0;
    size_t hl = hash_len(h), em_bits = (size_t)bits - 1, em_len = (em_bits + 7) / 8;
    const unsigned char *e = em + (sig_len - em_len); /* a leading zero byte when em_bits is a multiple of 8 */
    for (size_t i = 0; i < sig_len - em_len; i++)
        if (em[i] != 0)
            return 0;
    if (em_len < 2 * hl + 2 || e[em_len - 1] != 0xbc)
        return 0;
    size_t db_len = em_len - hl - 1;
    const unsigned char *hh = e + db_len;
    unsigned char top = (unsigned char)(0xff >> (8 * em_len - em_bits));
    if (e[0] & ~top)
        return 0;
    unsigned char db[KUMO__JWK_PUB_MAX];
    memcpy(db, e, db_len);
    mgf1_xor(h, hh, hl, db, db_len);
    db[0] &= top;
    size_t ps = db_len - hl - 1;
    for (size_t i = 0; i < ps; i++)
        if (db[i] != 0)
            return 0;
    if (db[ps] != 0x01)
        return 0;
    static const unsigned char zeros[8];
    unsigned char h2[64];
    hash3(h, zeros, sizeof zeros, mhash, hl, db + ps + 1, hl, h2);
    return same_bytes(h2, hh, hl);
}

static int verify_rsa(const kumo__jwk *k, const alg_info *a, const unsigned char *msg, size_t n,
                      const unsigned char *sig, size_t sig_len)
{
    if (k->pkey != NULL && (!prefer_bearssl || k->pub_len == 0))
        return verify_evp(k->pkey, a->md(), a->fam == FAM_PSS, msg, n, sig, sig_len);
    if (k->pub_len == 0)
        return 0;
    br_rsa_public_key pk = {(unsigned char *)k->pub, k->pub_len, (unsigned char *)k->e, k->e_len};
    unsigned char mhash[64], got[64];
    size_t hl = hash3(a->hash, msg, n, NULL, 0, NULL, 0, mhash);
    if (a->fam == FAM_PSS)
        return verify_pss(&pk, k->bits, a->hash, mhash, sig, sig_len);
    if (sig_len != k->pub_len)
        return 0;
    return br_rsa_pkcs1_vrfy_get_default()(sig, sig_len, a->oid, hl, &pk, got) == 1 && same_bytes(got, mhash, hl);
}

/* JOSE's r||s (RFC 7518 section 3.4) as the DER ECDSA-Sig-Value OpenSSL verifies. */
static int verify_ec_evp(EVP_PKEY *pkey, const alg_info *a, const unsigned char *msg, size_t n,
                         const unsigned char *sig)
{
    int ok = 0;
    unsigned char *der = NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)a->coord, NULL), *s = BN_bin2bn(sig + a->coord, (int)a->coord, NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    int der_len = i2d_ECDSA_SIG(es, &der);
    if (der_len > 0)
        ok = verify_evp(pkey, a->md(), 0, msg, n, der, (size_t)der_len);
out:
    ECDSA_SIG_free(es);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

/* JOSE's r||s is BearSSL's raw form. */
static int verify_ec(const kumo__jwk *k, const alg_info *a, const unsigned char *msg, size_t n,
                     const unsigned char *sig, size_t sig_len)
{
    if (sig_len != 2 * a->coord)
        return 0;
    if (k->pkey != NULL && !prefer_bearssl)
        return verify_ec_evp(k->pkey, a, msg, n, sig);
    unsigned char h[64];
    size_t hl = hash3(a->hash, msg, n, NULL, 0, NULL, 0, h);
    br_ec_public_key pk = {k->crv == KUMO__CRV_P256 ? BR_EC_secp256r1 : BR_EC_secp384r1, (unsigned char *)k->pub,
                           k->pub_len};
    return br_ecdsa_vrfy_raw_get_default()(br_ec_get_default(), h, hl, &pk, sig, sig_len) == 1;
}

static int key_fits(const kumo__jwk *k, const alg_info *a)
{
    if (k->alg[0] && strcmp(k->alg, a->name) != 0)
        return 0;
    switch (a->fam) {
    case FAM_RSA:
    case FAM_PSS: return k->kty == KUMO__KTY_RSA;
    case FAM_EC: return k->kty == KUMO__KTY_EC && k->crv == a->crv;
    case FAM_ED: return k->kty == KUMO__KTY_OKP && k->crv == KUMO__CRV_ED25519;
    case FAM_HMAC: return 0; /* never a JWK: only the configured secret */
    }
    return 0;
}

static int verify_with(const kumo__jwk *k, const alg_info *a, const unsigned char *msg, size_t n,
                       const unsigned char *sig, size_t sig_len)
{
    switch (a->fam) {
    case FAM_RSA:
    case FAM_PSS: return verify_rsa(k, a, msg, n, sig, sig_len);
    case FAM_EC: return verify_ec(k, a, msg, n, sig, sig_len);
    case FAM_ED:
        if (sig_len != 64 || k->pub_len != 32)
            return 0;
        if (k->pkey != NULL && !prefer_bearssl)
            return verify_evp(k->pkey, NULL, 0, msg, n, sig, sig_len);
        return kumo__ed25519_verify(k->pub, msg, n, sig);
    case FAM_HMAC: return 0;
    }
    return 0;
}

static kumo__jwt_result verify_hmac(kumo__jwks *ks, const alg_info *a, const unsigned char *msg, size_t n,
                                    const unsigned char *sig, size_t sig_len, char *why, size_t whylen)
{
    size_t secret_len = 0;
    const unsigned char *secret = kumo__jwks_hs_secret(ks, &secret_len);
    size_t want = hash_len(a->hash);
    if (secret == NULL) {
        say(why, whylen, "%s needs a shared secret and none is configured", a->name);
        return KUMO__JWT_ALG_REFUSED;
    }
    if (secret_len < want) { /* RFC 7518 section 3.2: a key at least as long as the hash */
        say(why, whylen, "%s needs a shared secret of %zu bytes at least", a->name, want);
        return KUMO__JWT_ALG_REFUSED;
    }
    br_hmac_key_context kc;
    br_hmac_context hc;
    unsigned char mac[64];
    br_hmac_key_init(&kc, a->hash, secret, secret_len);
    br_hmac_init(&hc, &kc, 0);
    br_hmac_update(&hc, msg, n);
    size_t mac_len = br_hmac_out(&hc, mac);
    int same = sig_len == mac_len && same_bytes(mac, sig, mac_len);
    explicit_bzero(&kc, sizeof kc); /* state derived from the secret */
    explicit_bzero(&hc, sizeof hc);
    if (!same) {
        say(why, whylen, "the signature does not verify");
        return KUMO__JWT_BAD_SIGNATURE;
    }
    return KUMO__JWT_OK;
}

static kumo__jwt_result verify_signature(kumo__jwks *ks, const kumo__jwt_policy *p, const kumo__jws_parts *parts,
                                         const char *token, char *why, size_t whylen)
{
    json_t *jalg = json_object_get(parts->header, "alg");
    if (!json_is_string(jalg)) {
        say(why, whylen, "the header has no alg");
        return KUMO__JWT_MALFORMED;
    }
    if (json_object_get(parts->header, "crit") != NULL) { /* RFC 7515 4.1.11: kumo understands no extension */
        say(why, whylen, "the header's crit names extensions kumo does not support");
        return KUMO__JWT_MALFORMED;
    }
    json_t *jkid = json_object_get(parts->header, "kid");
    if (jkid != NULL && !json_is_string(jkid)) {
        say(why, whylen, "the header's kid is not a string");
        return KUMO__JWT_MALFORMED;
    }
    const alg_info *a = alg_find(json_string_value(jalg));
    if (a == NULL) { /* `none` among them */
        say(why, whylen, "alg not accepted (RS256/384/512, PS256/384/512, ES256/384, EdDSA, HS256/384/512 are)");
        return KUMO__JWT_ALG_REFUSED;
    }
    if (p && p->algs && !(p->algs & kumo__jwt_alg_bit(a->name))) {
        say(why, whylen, "alg %s not among this scheme's algorithms", a->name);
        return KUMO__JWT_ALG_REFUSED;
    }
    if (parts->sig_len == 0) {
        say(why, whylen, "the signature is empty");
        return KUMO__JWT_BAD_SIGNATURE;
    }
    const unsigned char *msg = (const unsigned char *)token;
    size_t n = parts->signing_len;
    if (a->fam == FAM_HMAC)
        return verify_hmac(ks, a, msg, n, parts->sig, parts->sig_len, why, whylen);

    const char *kid = jkid ? json_string_value(jkid) : NULL;
    kumo__jwk_set *set = kumo__jwks_acquire(ks);
    if (set == NULL && kumo__jwks_remote(ks)) {
        say(why, whylen, "the signing keys are not available yet");
        return KUMO__JWT_KEYS_UNAVAILABLE;
    }
    if (set == NULL) {
        say(why, whylen, "no key may verify %s: only a shared secret is configured", a->name);
        return KUMO__JWT_ALG_REFUSED;
    }
    kumo__jwt_result r;
    int named = 0, fitting = 0;
    for (size_t i = 0; i < set->n; i++) {
        const kumo__jwk *k = &set->keys[i];
        if (kid != NULL && !(k->has_kid && strcmp(k->kid, kid) == 0))
            continue;
        named++;
        if (!key_fits(k, a))
            continue;
        fitting++;
        if (verify_with(k, a, msg, n, parts->sig, parts->sig_len)) {
            r = KUMO__JWT_OK;
            goto out;
        }
    }
    if (kid != NULL && named == 0) {
        kumo__jwks_unknown_kid(ks);
        say(why, whylen, "no key with the token's kid");
        r = KUMO__JWT_UNKNOWN_KEY;
    } else if (fitting == 0) {
        say(why, whylen, "no key may verify %s%s", a->name, kid ? " under the token's kid" : "");
        r = KUMO__JWT_ALG_REFUSED;
    } else {
        say(why, whylen, "the signature does not verify");
        r = KUMO__JWT_BAD_SIGNATURE;
    }
out:
    kumo__jwk_set_release(set);
    return r;
}

/* A NumericDate claim: 1 and *v when present, 0 when absent, -1 when not a number. */
static int numeric_date(json_t *claims, const char *name, double *v)
{
    json_t *j = json_object_get(claims, name);
    if (j == NULL)
        return 0;
    if (!json_is_number(j))
        return -1;
    *v = json_number_value(j);
    return isfinite(*v) ? 1 : -1;
}

static kumo__jwt_result check_claims(const kumo__jwt_policy *p, json_t *claims, int64_t now_s, char *why, size_t whylen)
{
    int leeway = p == NULL || p->leeway_s == 0 ? 30 : p->leeway_s < 0 ? 0 : p->leeway_s;
    double now = (double)now_s, exp = 0, nbf = 0, iat = 0;
    int has_exp = numeric_date(claims, "exp", &exp), has_nbf = numeric_date(claims, "nbf", &nbf),
        has_iat = numeric_date(claims, "iat", &iat);
    if (has_exp < 0 || has_nbf < 0 || has_iat < 0) {
        say(why, whylen, "%s is not a number", has_exp < 0 ? "exp" : has_nbf < 0 ? "nbf" : "iat");
        return KUMO__JWT_MALFORMED;
    }
    if (has_exp == 0 && !(p && p->allow_no_exp)) {
        say(why, whylen, "the token has no exp");
        return KUMO__JWT_MALFORMED;
    }
    if (has_exp && now >= exp + leeway) {
        say(why, whylen, "the token expired %.0f s ago", now - exp);
        return KUMO__JWT_EXPIRED;
    }
    if (has_nbf && now + leeway < nbf) {
        say(why, whylen, "the token is not valid for another %.0f s", nbf - now);
        return KUMO__JWT_NOT_YET;
    }
    if (has_iat && now + leeway < iat) {
        say(why, whylen, "the token was issued %.0f s in the future", iat - now);
        return KUMO__JWT_NOT_YET;
    }
    if (p && p->issuer) {
        json_t *iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), p->issuer) != 0) {
            say(why, whylen, iss ? "the token's issuer is not the one expected" : "the token has no iss");
            return KUMO__JWT_BAD_ISSUER;
        }
    }
    if (p && p->audiences) {
        json_t *aud = json_object_get(claims, "aud");
        int found = 0;
        for (const char *const *want = p->audiences; *want && !found; want++) {
            if (json_is_string(aud)) {
                found = strcmp(json_string_value(aud), *want) == 0;
            } else if (json_is_array(aud)) {
                for (size_t i = 0; i < json_array_size(aud) && !found; i++) {
                    json_t *v = json_array_get(aud, i);
                    found = json_is_string(v) && strcmp(json_string_value(v), *want) == 0;
                }
            }
        }
        if (!found) {
            say(why, whylen, aud ? "the token's audience is not this API" : "the token has no aud");
            return KUMO__JWT_BAD_AUDIENCE;
        }
    }
    return KUMO__JWT_OK;
}

kumo__jwt_result kumo__jwt_verify(kumo__jwks *ks, const kumo__jwt_policy *p, const char *token, size_t len,
                                  int64_t now_s, json_t **claims, char *why, size_t whylen)
{
    kumo__jws_parts parts;
    if (claims)
        *claims = NULL;
    say(why, whylen, "%s", "");
    if (ks == NULL) {
        say(why, whylen, "no key set");
        return KUMO__JWT_KEYS_UNAVAILABLE;
    }
    if (kumo__jws_parse(token, len, &parts, why, whylen) < 0)
        return KUMO__JWT_MALFORMED;
    kumo__jwt_result r = verify_signature(ks, p, &parts, token, why, whylen);
    if (r == KUMO__JWT_OK)
        r = check_claims(p, parts.payload, now_s, why, whylen);
    if (r == KUMO__JWT_OK && claims) {
        *claims = parts.payload;
        parts.payload = NULL;
    }
    kumo__jws_parts_free(&parts);
    return r;
}
