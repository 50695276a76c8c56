/*
 * test_jwt.c: kumo__jwt_verify against tokens the `openssl` command signs
 * at run time, for every algorithm kumo accepts, and each refusal: alg
 * none, algorithm confusion (HS256 keyed with the RSA public key's PEM),
 * a JWK's own alg, a tampered payload or signature, exp/nbf/iat with
 * leeway, iss, aud, malformed and oversized tokens; and the JWKS reader's
 * bounds (kumo__jwks_parse, kumo__jwks_new with a file). The signatures
 * are checked twice: with OpenSSL's keys (kumo, kumo-host) and with
 * BearSSL (kumo__jwt_prefer_bearssl: a lean host without libcrypto), and
 * for RSA moduli of odd sizes and over 4096 bits.
 */
#include "auth/jwt.h"
#include "base/base64.h"

#include "check.h"
#include "jose_openssl.h"

#include <time.h>

static const int64_t NOW = 1800000000; /* 2027-01-15 */
static const unsigned char SECRET[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
#define SECRET_LEN 64

static kumo__jwks *ks_file, *ks_secret;

static kumo__jwt_result verify(kumo__jwks *ks, const kumo__jwt_policy *p, const char *tok, char *why, size_t wl)
{
    json_t *claims = NULL;
    kumo__jwt_result r = kumo__jwt_verify(ks, p, tok, strlen(tok), NOW, &claims, why, wl);
    if (r == KUMO__JWT_OK) {
        CHECK(json_is_object(claims));
        CHECK_STR(json_string_value(json_object_get(claims, "sub")), "alice");
    } else {
        CHECK(claims == NULL);
    }
    json_decref(claims);
    return r;
}

static char *payload(const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "{\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":%lld%s}",
             (long long)NOW + 600, extra ? extra : "");
    return buf;
}

static char *sign_kid(const char *alg, const char *key, const char *kid, const char *pl)
{
    char header[256];
    if (kid)
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
    else
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    return jo_sign(alg, key, SECRET, SECRET_LEN, header, pl);
}

/* Flips one base64url character of part (0 header, 1 payload, 2 signature) to another valid one. */
static char *tamper(const char *tok, int part, const char *new_payload_json)
{
    char *t = strdup(tok);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    if (new_payload_json) {
        char *p = jo_b64url_str(new_payload_json);
        char *out = malloc(strlen(tok) + strlen(p) + 2);
        *d1 = 0;
        sprintf(out, "%s.%s.%s", t, p, d2 + 1);
        free(p);
        free(t);
        return out;
    }
    char *c = part == 2 ? d2 + 1 : part == 1 ? d1 + 1 : t;
    *c = *c == 'A' ? 'B' : 'A';
    return t;
}

static void every_algorithm(void)
{
    static const struct {
        const char *alg, *key, *kid;
    } cases[] = {
        {"RS256", "rsa.pem", "rsa1"},    {"RS384", "rsa.pem", "rsa1"},    {"RS512", "rsa.pem", "rsa1"},
        {"PS256", "rsa.pem", "rsa1"},    {"PS384", "rsa.pem", "rsa1"},    {"PS512", "rsa.pem", "rsa1"},
        {"ES256", "ec256.pem", "ec256"}, {"ES384", "ec384.pem", "ec384"}, {"EdDSA", "ed.pem", "ed1"},
        {"HS256", NULL, NULL},           {"HS384", NULL, NULL},           {"HS512", NULL, NULL},
    };
    char why[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kumo__jwks *ks = cases[i].key ? ks_file : ks_secret;
        char *tok = sign_kid(cases[i].alg, cases[i].key, cases[i].kid, payload(NULL));
        kumo__jwt_result r = verify(ks, NULL, tok, why, sizeof why);
        if (r != KUMO__JWT_OK)
            fprintf(stderr, "%s: %s (%s)\n", cases[i].alg, kumo__jwt_result_name(r), why);
        CHECK_INT(r, KUMO__JWT_OK);
        /* the signature over a changed payload, and a changed signature */
        char *t1 = tamper(tok, 0, "{\"sub\":\"alice\",\"admin\":true,\"exp\":1900000000}");
        CHECK_INT(verify(ks, NULL, t1, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
        char *t2 = tamper(tok, 2, NULL);
        CHECK_INT(verify(ks, NULL, t2, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
        /* the signature cut short */
        char *t3 = strdup(tok);
        t3[strlen(t3) - 4] = 0;
        CHECK(verify(ks, NULL, t3, why, sizeof why) != KUMO__JWT_OK);
        /* the same algorithm without the key's kid: any key that fits is tried */
        if (cases[i].key) {
            char *t4 = sign_kid(cases[i].alg, cases[i].key, NULL, payload(NULL));
            CHECK_INT(verify(ks, NULL, t4, why, sizeof why), KUMO__JWT_OK);
            free(t4);
            /* signed by another key under the same kid */
            if (cases[i].alg[0] == 'R' || cases[i].alg[0] == 'P') {
                char *t5 = sign_kid(cases[i].alg, "rsa_other.pem", cases[i].kid, payload(NULL));
                CHECK_INT(verify(ks, NULL, t5, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
                free(t5);
            }
        }
        free(tok), free(t1), free(t2), free(t3);
    }
}

static void refusals(void)
{
    char why[256];
    /* alg none, with and without a signature, in any spelling */
    const char *nones[] = {"none", "None", "NONE"};
    for (size_t i = 0; i < 3; i++) {
        char h[64];
        snprintf(h, sizeof h, "{\"alg\":\"%s\"}", nones[i]);
        char *hb = jo_b64url_str(h), *pb = jo_b64url_str(payload(NULL)), tok[2048];
        snprintf(tok, sizeof tok, "%s.%s.", hb, pb);
        CHECK_INT(verify(ks_file, NULL, tok, why, sizeof why), KUMO__JWT_ALG_REFUSED);
        CHECK_INT(verify(ks_secret, NULL, tok, why, sizeof why), KUMO__JWT_ALG_REFUSED);
        snprintf(tok, sizeof tok, "%s.%s.c2ln", hb, pb);
        CHECK_INT(verify(ks_file, NULL, tok, why, sizeof why), KUMO__JWT_ALG_REFUSED);
        free(hb), free(pb);
    }
    /* algorithm confusion: HS256 keyed with the RSA public key's PEM bytes */
    size_t pem_len = 0;
    unsigned char *pem = jo_read("rsa.pub.pem", &pem_len);
    char *conf = jo_sign("HS256", NULL, pem, pem_len, "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", payload(NULL));
    CHECK_INT(verify(ks_file, NULL, conf, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    CHECK(strstr(why, "shared secret") != NULL);
    CHECK_INT(verify(ks_secret, NULL, conf, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
    free(conf);
    free(pem);
    /* a key used only by its kty, crv and alg */
    char *t = sign_kid("ES256", "ec256.pem", "rsa1", payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    t = sign_kid("ES384", "ec384.pem", "ec256", payload(NULL)); /* P-384 signature, P-256 key */
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    t = sign_kid("ES256", "ec256.pem", "ec384", payload(NULL)); /* a P-384 key (no alg in its JWK) for ES256 */
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    t = sign_kid("EdDSA", "ed.pem", "ec384", payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    t = sign_kid("PS256", "rsa.pem", "rsa-rs256", payload(NULL)); /* that JWK says alg RS256 */
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    t = sign_kid("RS256", "rsa.pem", "rsa-rs256", payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_OK);
    free(t);
    /* HS* from a key set without a secret; and a secret shorter than the hash */
    t = sign_kid("HS256", NULL, NULL, payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    /* a 40-byte secret: enough for HS256, too short for HS384 (RFC 7518 3.2) */
    static const unsigned char s40[] = "0123456789012345678901234567890123456789";
    kumo__error err = {0};
    kumo__jwks_config c40 = {.hs_secret = (const char *)s40, .hs_secret_len = 40};
    kumo__jwks *ks40 = kumo__jwks_new(&c40, &err);
    CHECK(ks40 != NULL);
    t = jo_sign("HS256", NULL, s40, 40, "{\"alg\":\"HS256\"}", payload(NULL));
    CHECK_INT(verify(ks40, NULL, t, why, sizeof why), KUMO__JWT_OK);
    free(t);
    t = jo_sign("HS384", NULL, s40, 40, "{\"alg\":\"HS384\"}", payload(NULL));
    CHECK_INT(verify(ks40, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    t = sign_kid("RS256", "rsa.pem", "rsa1", payload(NULL)); /* a set of only a secret verifies no RS256 */
    CHECK_INT(verify(ks40, NULL, t, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(t);
    kumo__jwks_free(ks40);
    /* an unknown kid: never the kid in the reason */
    t = sign_kid("RS256", "rsa.pem", "SECRET-KID-XYZ", payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_UNKNOWN_KEY);
    CHECK(strstr(why, "SECRET-KID") == NULL);
    free(t);
    /* crit, whatever it names */
    t = jo_sign("RS256", "rsa.pem", NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"b64\"],\"b64\":false}",
                payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_MALFORMED);
    free(t);
    /* a kid that is not a string; a header with alg twice */
    t = jo_sign("RS256", "rsa.pem", NULL, 0, "{\"alg\":\"RS256\",\"kid\":7}", payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_MALFORMED);
    free(t);
    t = jo_sign("RS256", "rsa.pem", NULL, 0, "{\"alg\":\"RS256\",\"alg\":\"none\"}", payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_MALFORMED);
    free(t);
    /* an embedded jwk is never trusted */
    char *other = jo_jwk_members("rsa_other.pem", "RSA"), header[4200];
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"jwk\":{%s}}", other);
    t = jo_sign("RS256", "rsa_other.pem", NULL, 0, header, payload(NULL));
    CHECK_INT(verify(ks_file, NULL, t, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
    free(t);
    free(other);
}

static void claims(void)
{
    char why[256], extra[128], pl[1024];
    const char *auds[] = {"api", "api2", NULL};
    kumo__jwt_policy pol = {.issuer = "https://issuer.test", .audiences = auds};
#define ONE(json, lw, noexp, want)                                                                                     \
    do {                                                                                                               \
        pol.leeway_s = (lw);                                                                                           \
        pol.allow_no_exp = (noexp);                                                                                    \
        char *tk = sign_kid("ES256", "ec256.pem", "ec256", (json));                                                    \
        kumo__jwt_result r_ = verify(ks_file, &pol, tk, why, sizeof why);                                              \
        if (r_ != (want))                                                                                              \
            fprintf(stderr, "claims %s: %s (%s)\n", (json), kumo__jwt_result_name(r_), why);                           \
        CHECK_INT(r_, (want));                                                                                         \
        free(tk);                                                                                                      \
    } while (0)
    const char *base = "\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"aud\":\"api\"";
#define PL(fmt, ...)                                                                                                   \
    (snprintf(extra, sizeof extra, fmt, __VA_ARGS__), snprintf(pl, sizeof pl, "{%s,%s}", base, extra), pl)
    ONE(PL("\"exp\":%lld", (long long)NOW + 60), 0, 0, KUMO__JWT_OK);
    ONE(PL("\"exp\":%lld", (long long)NOW - 10), 0, 0, KUMO__JWT_OK);      /* within the default 30 s */
    ONE(PL("\"exp\":%lld", (long long)NOW - 31), 0, 0, KUMO__JWT_EXPIRED); /* past it */
    ONE(PL("\"exp\":%lld", (long long)NOW - 100), 120, 0, KUMO__JWT_OK);   /* a wider leeway */
    ONE(PL("\"exp\":%lld", (long long)NOW), -1, 0, KUMO__JWT_EXPIRED);     /* none: exp is the first instant refused */
    ONE(PL("\"exp\":%lld.5", (long long)NOW + 60), 0, 0, KUMO__JWT_OK);    /* a fraction */
    ONE(PL("\"exp\":\"%lld\"", (long long)NOW + 60), 0, 0, KUMO__JWT_MALFORMED);
    ONE(PL("\"nbf\":%lld", (long long)NOW + 20), 0, 1, KUMO__JWT_OK);
    ONE(PL("\"nbf\":%lld", (long long)NOW + 100), 0, 1, KUMO__JWT_NOT_YET);
    ONE(PL("\"iat\":%lld", (long long)NOW + 100), 0, 1, KUMO__JWT_NOT_YET);
    ONE(PL("\"iat\":%lld", (long long)NOW + 20), 0, 1, KUMO__JWT_OK); /* a clock 20 s ahead of ours */
    ONE(PL("\"iat\":%lld", (long long)NOW - 100000), 0, 1, KUMO__JWT_OK);
    ONE(PL("\"iat\":%lld", (long long)NOW), 0, 0, KUMO__JWT_MALFORMED); /* no exp */
    ONE(PL("\"iat\":%lld", (long long)NOW), 0, 1, KUMO__JWT_OK);
    long long e = (long long)NOW + 60;
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"iss\":\"https://other.test\",\"aud\":\"api\",\"exp\":%lld}", e);
    ONE(pl, 0, 0, KUMO__JWT_BAD_ISSUER);
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"iss\":\"https://issuer.test/\",\"aud\":\"api\",\"exp\":%lld}", e);
    ONE(pl, 0, 0, KUMO__JWT_BAD_ISSUER);
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"aud\":\"api\",\"exp\":%lld}", e);
    ONE(pl, 0, 0, KUMO__JWT_BAD_ISSUER);
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"aud\":\"api2\",\"exp\":%lld}", e);
    ONE(pl, 0, 0, KUMO__JWT_OK);
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"aud\":[\"x\",\"api\"],\"exp\":%lld}",
             e);
    ONE(pl, 0, 0, KUMO__JWT_OK);
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"aud\":[\"x\",7],\"exp\":%lld}", e);
    ONE(pl, 0, 0, KUMO__JWT_BAD_AUDIENCE);
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"aud\":\"apix\",\"exp\":%lld}", e);
    ONE(pl, 0, 0, KUMO__JWT_BAD_AUDIENCE);
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"exp\":%lld}", e);
    ONE(pl, 0, 0, KUMO__JWT_BAD_AUDIENCE);
    /* an expired token with a bad signature says bad signature: nothing unverified is read */
    snprintf(pl, sizeof pl, "{\"sub\":\"alice\",\"exp\":%lld}", (long long)NOW - 1000);
    char *tk = sign_kid("ES256", "ec256.pem", "ec256", pl), *bad = tamper(tk, 2, NULL);
    CHECK_INT(verify(ks_file, NULL, bad, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
    CHECK_INT(verify(ks_file, NULL, tk, why, sizeof why), KUMO__JWT_EXPIRED);
    free(tk), free(bad);
}

static void malformed(void)
{
    char why[256];
    const char *bad[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d.e",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln.x", /* four parts */
        "!!!.e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", /* payload not JSON */
        "WyJhbGciXQ.e30.c2ln",                   /* header an array */
        "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",        /* padding */
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln=",        /* padding in the signature */
        "eyJhbGciOiJSUzI1NiJ9.e31.c2ln",         /* non-canonical last character */
        "eyJhbGciOiJSUzI1NiJ9..c2ln",            /* empty payload */
        "e30.e30.c2ln",                          /* no alg */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kumo__jwt_result r = verify(ks_file, NULL, bad[i], why, sizeof why);
        if (r != KUMO__JWT_MALFORMED)
            fprintf(stderr, "malformed %zu: %s\n", i, kumo__jwt_result_name(r));
        CHECK_INT(r, KUMO__JWT_MALFORMED);
        CHECK(why[0] != '\0');
    }
    /* the length ceiling, before anything is decoded */
    size_t big = KUMO__JWT_MAX_BYTES + 1;
    char *tok = malloc(big + 1);
    memset(tok, 'A', big);
    tok[10] = '.', tok[20] = '.', tok[big] = 0;
    CHECK_INT(verify(ks_file, NULL, tok, why, sizeof why), KUMO__JWT_MALFORMED);
    CHECK(strstr(why, "longer") != NULL);
    free(tok);
    /* base64url itself */
    unsigned char out[16];
    CHECK_INT(kumo__b64_decode("QQ", 2, KUMO__B64URL, out), 1);
    CHECK_INT(kumo__b64_decode("QR", 2, KUMO__B64URL, out), -1); /* unused bits set */
    CHECK_INT(kumo__b64_decode("QUJD", 4, KUMO__B64URL, out), 3);
    CHECK_INT(kumo__b64_decode("Q", 1, KUMO__B64URL, out), -1);
    CHECK_INT(kumo__b64_decode("Q+", 2, KUMO__B64URL, out), -1);
    CHECK_INT(kumo__b64_decode("QQ==", 4, KUMO__B64URL, out), -1); /* no padding in base64url */
    /* the standard alphabet (Basic, CloudEvents): padding optional, only at the end */
    CHECK_INT(kumo__b64_decode("Q+8=", 4, KUMO__B64, out), 2);
    CHECK_INT(kumo__b64_decode("QQ==", 4, KUMO__B64, out), 1);
    CHECK_INT(kumo__b64_decode("QQ", 2, KUMO__B64, out), 1);
    CHECK_INT(kumo__b64_decode("QQ=", 3, KUMO__B64, out), -1);  /* padding that ends no quad */
    CHECK_INT(kumo__b64_decode("Q===", 4, KUMO__B64, out), -1); /* three */
    CHECK_INT(kumo__b64_decode("QQ=A", 4, KUMO__B64, out), -1); /* data after '=' */
    CHECK_INT(kumo__b64_decode("Q-8=", 4, KUMO__B64, out), -1); /* the url alphabet */
}

static void key_set_bounds(void)
{
    kumo__jwk_set *s = NULL;
    unsigned skipped = 0;
    char why[256], doc[8192];
    kumo__error err = {0};
    /* too many keys */
    char *many = malloc(64 * 1024);
    size_t o = (size_t)sprintf(many, "{\"keys\":[");
    for (int i = 0; i < KUMO__JWKS_MAX_KEYS + 1; i++)
        o += (size_t)sprintf(many + o, "%s{\"kty\":\"oct\",\"use\":\"enc\"}", i ? "," : "");
    strcpy(many + o, "]}");
    CHECK_INT(kumo__jwks_parse(many, strlen(many), &s, &skipped, why, sizeof why), -1);
    CHECK(strstr(why, "keys") != NULL);
    free(many);
    /* a document over the ceiling */
    char *huge = calloc(1, KUMO__JWKS_MAX_BYTES + 2);
    memset(huge, ' ', KUMO__JWKS_MAX_BYTES + 1);
    CHECK_INT(kumo__jwks_parse(huge, KUMO__JWKS_MAX_BYTES + 1, &s, &skipped, why, sizeof why), -1);
    free(huge);
    /* left out: encryption keys, oct, P-521, X25519, unknown kty, a 1024-bit RSA key, an alg kumo does not verify */
    jo_run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem");
    char *weak = jo_jwk_members("rsa1024.pem", "RSA"), *rsa = jo_jwk_members("rsa.pem", "RSA"),
         *ec = jo_jwk_members("ec256.pem", "P-256");
    snprintf(doc, sizeof doc,
             "{\"keys\":[{%s,\"use\":\"enc\"},{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"},"
             "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"},{\"kty\":\"XYZ\"},{%s},{%s,\"alg\":\"RSA-OAEP\"},"
             "{%s,\"alg\":\"ES256\"},{%s,\"key_ops\":[\"encrypt\"]},{%s,\"kid\":\"kept\"}]}",
             rsa, weak, rsa, rsa, ec, rsa);
    CHECK_INT(kumo__jwks_parse(doc, strlen(doc), &s, &skipped, why, sizeof why), 0);
    CHECK_INT(s ? s->n : 99, 1);
    CHECK_INT(skipped, 8);
    if (s)
        CHECK_STR(s->keys[0].kid, "kept");
    kumo__jwk_set_release(s);
    /* errors: private material, an EC point off its curve, a short x, no kty, not an object */
    snprintf(doc, sizeof doc, "{\"keys\":[{%s,\"d\":\"AQAB\"}]}", ec);
    CHECK_INT(kumo__jwks_parse(doc, strlen(doc), &s, &skipped, why, sizeof why), -1);
    CHECK(strstr(why, "private") != NULL);
    char *y = strstr(ec, "\"y\":\"") + 5;
    y[0] = y[0] == 'A' ? 'B' : 'A';
    snprintf(doc, sizeof doc, "{\"keys\":[{%s}]}", ec);
    CHECK_INT(kumo__jwks_parse(doc, strlen(doc), &s, &skipped, why, sizeof why), -1);
    CHECK(strstr(why, "curve") != NULL);
    /* an Ed25519 x that is not a point (y = 2 has no x), and one not canonical (y = p) */
    static const char *ed_bad[] = {"AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                   "7f_______________________________________38"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(doc, sizeof doc, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}", ed_bad[i]);
        CHECK_INT(kumo__jwks_parse(doc, strlen(doc), &s, &skipped, why, sizeof why), -1);
        CHECK(strstr(why, "not a point") != NULL);
    }
    const char *errs[] = {
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQAB\",\"y\":\"AQAB\"}]}",
        "{\"keys\":[{\"kid\":\"x\"}]}",
        "{\"keys\":[1]}",
        "{\"keys\":{}}",
        "[]",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"kid\":5}]}",
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        CHECK_INT(kumo__jwks_parse(errs[i], strlen(errs[i]), &s, &skipped, why, sizeof why), -1);
        CHECK(s == NULL);
    }
    free(weak), free(rsa), free(ec);
    /* kumo__jwks_new's refusals */
    kumo__jwks_config c = {.hs_secret = "short", .hs_secret_len = 5};
    CHECK(kumo__jwks_new(&c, &err) == NULL);
    CHECK(strstr(err.msg, "32") != NULL);
    c = (kumo__jwks_config){.jwks_url = "http://127.0.0.1:1/jwks", .jwks_file = "x.json"};
    CHECK(kumo__jwks_new(&c, &err) == NULL);
    c = (kumo__jwks_config){0};
    CHECK(kumo__jwks_new(&c, &err) == NULL);
    c = (kumo__jwks_config){.jwks_url = "file:///etc/passwd"};
    CHECK(kumo__jwks_new(&c, &err) == NULL);
    c = (kumo__jwks_config){.jwks_json = "{\"keys\":[{\"kty\":\"oct\",\"use\":\"enc\"}]}"};
    CHECK(kumo__jwks_new(&c, &err) == NULL);
    CHECK(strstr(err.msg, "no key") != NULL);
    c = (kumo__jwks_config){.jwks_file = "/nonexistent/jwks.json"};
    CHECK(kumo__jwks_new(&c, &err) == NULL);
    CHECK(strstr(err.msg, "/nonexistent/jwks.json") != NULL);
}

/* A fixed RSA key of 2049 bits (made with `openssl prime` and Python's
 * cryptography, which signed the tokens): a modulus one bit over a
 * multiple of 8, where PSS's encoded message is a byte shorter than the
 * modulus, behind a zero byte (RFC 8017 9.1.2 step 1 and 8.1.2). `openssl
 * genpkey` does not make such sizes. The payload is payload(NULL)'s. */
static const char ODD_MEMBERS[] =
    "\"kty\":\"RSA\",\"n\":\"ATvfG0bhOqVIXeRgR_Iu8JxPN3pXLqdnjM0sznf1o-mtnAsP12OQl1OzcMQ_vAjm93ZJwaaUh_A3BbaVqcn"
    "cf5g6mhadKao3AYHR4yJaFYO7OhxlsA8q6O2BycTAEwhZqlmpjclBNNT4pVNrcI3Zu28gov7oRyz3MgVdz3t4vpPWIHCkEKhlWht"
    "g57u2aReorVCfMTmVftCE5tgIqofb4m9iNtLdDwedCwIDYErOO_dYHYgdQEgZyt2ePcacw1AaD0MBvKPbf5ywfxmOSYLnkWW_mV6"
    "RC2AKtbQplBnq0KeYAnRAXtknBIAa9bg--dLsOnCQXLJH5HA4nr8k9DDdOck\",\"e\":\"AQAB\"";
static const char *const ODD_TOKENS[] = {
    "eyJhbGciOiJQUzI1NiIsImtpZCI6Im9kZCJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaXNzdWVyLnRlc3QiLCJhdWQ"
    "iOiJhcGkiLCJleHAiOjE4MDAwMDA2MDB9.ATKvkyHsD5FRupAen8dihQ5x1z2WXR9U7L_9tGS0qmn9sI_xMFlLRBFy92xf9b7Yli"
    "FrvIByz8tQjqzUS0gnSZC8XPMUoeqJW_BnvdgrVkJjB92cq3Zzf1hj84Vywpvkb3VSTq-zRXo65s-FZzeAi_W8oci4ZS2_8dJ8BI"
    "6bb8-sQm-Eg9EvecAXwEGHKDOO-M6gXlt4KHODpnIYgANCeigpMq8BBvd0eG7go0Rw4a6PlQlhYo1U2atgadkgECgf3fLgdZwKlB"
    "h_tMFdrxLQlrUqN4NPGh9H8rzK_SMejgorEUkApkkPc-x7_AXiGpDgAgA4fwvgTbq_8GkpKXZJ1rg",
    "eyJhbGciOiJQUzM4NCIsImtpZCI6Im9kZCJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaXNzdWVyLnRlc3QiLCJhdWQ"
    "iOiJhcGkiLCJleHAiOjE4MDAwMDA2MDB9.ABU8fjt1UT7A7-H1FOZA7RTJnY24mnAXsYDZSu1I1Vgwgf022O261WZ7a8goPoUrIe"
    "wYgLwVPmZa3hF2ebuKicdveA1roGvv-vujSeSWNIIbypd5Fzg-mzOZOHBCA7LMpin_j97wNs4iJwXqR0inCbEswDfO5cZtZMBLc3"
    "nkydaZYF_IGnRBonHgVNX2WZ8didrVD9NCgzM3LDBlQYzmMD85zgabTXC7TUJUszU9GD1tc3kdDI-YzfYgw3WSaZBIfqwToNyIDs"
    "5awixFPDrX07zGIM52ZRa65C88ObdSkDbRR9k2-LMYol9zudmuLbq3vqlQlmamgDimJeARLxPOJFo",
    "eyJhbGciOiJQUzUxMiIsImtpZCI6Im9kZCJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaXNzdWVyLnRlc3QiLCJhdWQ"
    "iOiJhcGkiLCJleHAiOjE4MDAwMDA2MDB9.AIRzJ-5wlQuXswW7Q4weMjOzIUv1qSjp3Y13VyFhaA8xfBH3pMpSev-z6we3ZR2BNV"
    "oWaoA5flvqXiBasJhmReEw4M-soAehVlvdR7Sv6jQkeTPMCyJO67kX9ENNdNXYuQnW1Ojj7VQuxSSORJDOMbTB44iGpD0g96h3Kd"
    "kgw1om0x1SnKlKE81Q3zkt8jlJRv_p_nffR2wBoav6N4r4w7xxpXsrsLgzo2_PmxIsyNLJl4stxHUKV2ldgMta1Q-dXmQLdSTXxO"
    "_HkLhbndNXppOsr3-o5zNBawLyDhZZp0ibsX3NMjuNLm7HmOamB_tYK53n_dnRDtL56JIpVe3B7zg",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6Im9kZCJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaXNzdWVyLnRlc3QiLCJhdWQ"
    "iOiJhcGkiLCJleHAiOjE4MDAwMDA2MDB9.ABTzal5chjl9MmWppTJTrp9LqOB3OLsCJrL0P6L5z46eW60I3w8e2b8c5BzAjX1HFO"
    "OECnb3vTDTY56k6L04aeAEgKykrv_mhLBHIXFPU5iZEM-guzc-neMzjApyojeR3yOkOJHPJcp8FiIOfDEhdkQRtmeVkdAUTJya1q"
    "KpvprDupBrV6QV2WMHr0kVr0nnHnGYLaiWvUwcB-WCUNN0zCzHEXiIRhdbQFUZfz_w-_GeglwR7T4-V3crtc80YfsJ9_FAg9v4A7"
    "NxtgSJgiATuGwLgr6cVgcnKpmEXterG_5d8Lv4elCbmy7czlFrJMEZj-iWPQ7qOlOtJOeCdzq5KtE",
};

/* tok verifies with ks; its signature changed, or its payload, does not.
 * `what` names the case in the failure's line. */
static void verifies_untampered(kumo__jwks *ks, const char *tok, const char *what)
{
    char why[256];
    kumo__jwt_result r = verify(ks, NULL, tok, why, sizeof why);
    if (r != KUMO__JWT_OK)
        fprintf(stderr, "%s: %s (%s)\n", what, kumo__jwt_result_name(r), why);
    CHECK_INT(r, KUMO__JWT_OK);
    char *t1 = tamper(tok, 2, NULL), *t2 = tamper(tok, 0, "{\"sub\":\"alice\",\"admin\":true,\"exp\":1900000000}");
    CHECK_INT(verify(ks, NULL, t1, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
    CHECK_INT(verify(ks, NULL, t2, why, sizeof why), KUMO__JWT_BAD_SIGNATURE);
    free(t1), free(t2);
}

/* A key set of one key (JWK members, without kid) under `kid`, read from
 * a file: NULL when it does not load. */
static kumo__jwks *one_key_set(const char *members, const char *kid)
{
    char doc[4096], path[512];
    snprintf(doc, sizeof doc, "{\"keys\":[{%s,\"kid\":\"%s\"}]}", members, kid);
    jo_write("one.json", doc, strlen(doc));
    snprintf(path, sizeof path, "%s/one.json", jo_dir);
    kumo__error err = {0};
    kumo__jwks_config c = {.jwks_file = path};
    kumo__jwks *ks = kumo__jwks_new(&c, &err);
    CHECK(ks != NULL);
    return ks;
}

static void pss_short_encoding(void)
{
    kumo__jwks *ks = one_key_set(ODD_MEMBERS, "odd");
    for (int bearssl = 0; ks && bearssl < 2; bearssl++) {
        kumo__jwt_prefer_bearssl(bearssl);
        for (size_t i = 0; i < sizeof ODD_TOKENS / sizeof ODD_TOKENS[0]; i++) {
            char what[64];
            snprintf(what, sizeof what, "2049 bits, token %zu, %s", i, bearssl ? "BearSSL" : "OpenSSL");
            verifies_untampered(ks, ODD_TOKENS[i], what);
        }
    }
    kumo__jwt_prefer_bearssl(0);
    kumo__jwks_free(ks);
}

/* Moduli whose size is not a multiple of 8 (PSS's encoded message is then
 * a byte shorter than the modulus, behind a zero byte), and one over 4096
 * bits, which BearSSL leaves to OpenSSL (jwks.c keeps its OpenSSL key). */
static void rsa_sizes(void)
{
    static const int bits[] = {3071, 4104}; /* openssl makes 3070 of the first */
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        char cmd[160], name[32];
        snprintf(name, sizeof name, "rsa%d.pem", bits[i]);
        snprintf(cmd, sizeof cmd, "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:%d -out %s", bits[i], name);
        CHECK_INT(jo_run(cmd), 0);
        char *members = jo_jwk_members(name, "RSA");
        kumo__jwks *ks = one_key_set(members, "k");
        static const char *const algs[] = {"RS256", "PS256", "PS384", "PS512", "RS512"};
        for (size_t k = 0; ks && k < 2 * (sizeof algs / sizeof algs[0]); k++) {
            const char *alg = algs[k / 2];
            kumo__jwt_prefer_bearssl((int)(k % 2)); /* OpenSSL's key, then BearSSL's (above 4096 bits: OpenSSL's) */
            char *tok = sign_kid(alg, name, "k", payload(NULL)), what[64];
            snprintf(what, sizeof what, "%d bits, %s, %s", bits[i], alg, k % 2 ? "BearSSL" : "OpenSSL");
            verifies_untampered(ks, tok, what);
            free(tok);
        }
        kumo__jwt_prefer_bearssl(0);
        kumo__jwks_free(ks);
        free(members);
    }
}

/* A policy's algorithms: only those named are accepted. */
static void pinned_algorithms(void)
{
    char why[256];
    kumo__jwt_policy p = {.algs = kumo__jwt_alg_bit("RS256") | kumo__jwt_alg_bit("ES256")};
    CHECK(kumo__jwt_alg_bit("RS256") != 0 && kumo__jwt_alg_bit("none") == 0 && kumo__jwt_alg_bit("rs256") == 0);
    char *rs = sign_kid("RS256", "rsa.pem", "rsa1", payload(NULL)),
         *es = sign_kid("ES256", "ec256.pem", "ec256", payload(NULL));
    char *ps = sign_kid("PS256", "rsa.pem", "rsa1", payload(NULL)),
         *ed = sign_kid("EdDSA", "ed.pem", "ed1", payload(NULL));
    char *hs = sign_kid("HS256", NULL, NULL, payload(NULL));
    CHECK_INT(verify(ks_file, &p, rs, why, sizeof why), KUMO__JWT_OK);
    CHECK_INT(verify(ks_file, &p, es, why, sizeof why), KUMO__JWT_OK);
    CHECK_INT(verify(ks_file, &p, ps, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    CHECK(strstr(why, "PS256") != NULL);
    CHECK_INT(verify(ks_file, &p, ed, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    CHECK_INT(verify(ks_secret, &p, hs, why, sizeof why), KUMO__JWT_ALG_REFUSED);
    free(rs), free(es), free(ps), free(ed), free(hs);
}

int main(void)
{
    if (jo_setup() < 0) {
        fprintf(stderr, "the openssl command is needed to sign the test tokens\n");
        return 1;
    }
    char *rsa = jo_jwk_members("rsa.pem", "RSA"), *ec256 = jo_jwk_members("ec256.pem", "P-256"),
         *ec384 = jo_jwk_members("ec384.pem", "P-384"), *ed = jo_jwk_members("ed.pem", "Ed25519");
    char doc[16384];
    snprintf(doc, sizeof doc,
             "{\"keys\":[{%s,\"kid\":\"rsa1\",\"use\":\"sig\"},{%s,\"kid\":\"rsa-rs256\",\"alg\":\"RS256\"},"
             "{%s,\"kid\":\"ec256\",\"alg\":\"ES256\"},{%s,\"kid\":\"ec384\"},{%s,\"kid\":\"ed1\",\"alg\":\"EdDSA\"}]}",
             rsa, rsa, ec256, ec384, ed);
    jo_write("jwks.json", doc, strlen(doc));
    char path[512];
    snprintf(path, sizeof path, "%s/jwks.json", jo_dir);
    kumo__error err = {0};
    kumo__jwks_config c = {.jwks_file = path};
    ks_file = kumo__jwks_new(&c, &err);
    if (ks_file == NULL)
        fprintf(stderr, "%s\n", err.msg);
    c = (kumo__jwks_config){.jwks_file = path, .hs_secret = (const char *)SECRET, .hs_secret_len = SECRET_LEN};
    ks_secret = kumo__jwks_new(&c, &err);
    CHECK(ks_file != NULL && ks_secret != NULL);
    if (ks_file && ks_secret) {
        kumo__jwks_stats st;
        kumo__jwks_stats_get(ks_file, &st);
        CHECK_INT(st.keys, 5);
        every_algorithm();
        refusals();
        claims();
        malformed();
        key_set_bounds();
        pinned_algorithms();
        rsa_sizes();
        pss_short_encoding();
        /* again with BearSSL, as a lean host without libcrypto verifies */
        kumo__jwt_prefer_bearssl(1);
        every_algorithm();
        refusals();
        pinned_algorithms();
        kumo__jwt_prefer_bearssl(0);
    }
    kumo__jwks_free(ks_file);
    kumo__jwks_free(ks_secret);
    free(rsa), free(ec256), free(ec384), free(ed);
    jo_cleanup();
    return check_report();
}
