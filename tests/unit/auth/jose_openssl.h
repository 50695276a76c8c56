/*
 * jose_openssl.h: the auth tests' tokens and keys, made by the `openssl`
 * command at run time (keys generated in a fresh directory, tokens
 * signed by `openssl dgst`/`pkeyutl`), so that what kumo verifies was
 * signed by something other than kumo. The JWKs are written from what
 * `openssl` prints (the RSA modulus, the SubjectPublicKeyInfo's last
 * bytes for EC and Ed25519); only the base64url and DER-to-r||s steps are
 * done here, by hand.
 */
#ifndef KUMO_TEST_JOSE_OPENSSL_H
#define KUMO_TEST_JOSE_OPENSSL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char jo_dir[256];

static int jo_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int jo_run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "cd '%s' && { %s; } >/dev/null 2>jo_err.txt", jo_dir, cmd);
    int rc = system(full);
    if (rc != 0)
        fprintf(stderr, "jose_openssl: `%s` failed (%d)\n", cmd, rc);
    return rc;
}

static unsigned char *jo_read(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", jo_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void jo_write(const char *name, const void *data, size_t len)
{
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", jo_dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    rename(tmp, path); /* whole, for a server reading it meanwhile */
}

static char *jo_b64url(const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4), *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = abc[v >> 18], *o++ = abc[(v >> 12) & 63], *o++ = abc[(v >> 6) & 63], *o++ = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        *o++ = abc[v >> 18], *o++ = abc[(v >> 12) & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *o++ = abc[v >> 18], *o++ = abc[(v >> 12) & 63], *o++ = abc[(v >> 6) & 63];
    }
    *o = 0;
    return out;
}

static char *jo_b64url_str(const char *s)
{
    return jo_b64url((const unsigned char *)s, strlen(s));
}

/* A fresh directory and the keys: rsa.pem, rsa_other.pem (2048), ec256.pem,
 * ec384.pem, ed.pem. 0, or -1 when openssl is missing or failed. */
static int jo_setup(void)
{
    snprintf(jo_dir, sizeof jo_dir, "/tmp/kumo-jose-XXXXXX");
    if (mkdtemp(jo_dir) == NULL)
        return -1;
    return jo_run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem && "
                  "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa_other.pem && "
                  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.pem && "
                  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem && "
                  "openssl genpkey -algorithm ED25519 -out ed.pem && "
                  "openssl pkey -in rsa.pem -pubout -out rsa.pub.pem") == 0
               ? 0
               : -1;
}

static void jo_cleanup(void)
{
    if (jo_dir[0])
        jo_run("rm -rf '%s'", jo_dir);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The JWK (without kid or alg) of a key file's public half, malloc'd JSON members: "kty":...,... */
static char *jo_jwk_members(const char *keyfile, const char *kind)
{
    char *out = malloc(4096);
    size_t len = 0;
    if (strcmp(kind, "RSA") == 0) {
        jo_run("openssl rsa -in %s -noout -modulus > mod.txt", keyfile);
        unsigned char *txt = jo_read("mod.txt", &len), bytes[1024];
        const char *hex = strchr((char *)txt, '=') + 1;
        size_t n = 0;
        for (; hexval(hex[0]) >= 0 && hexval(hex[1]) >= 0; hex += 2)
            bytes[n++] = (unsigned char)(hexval(hex[0]) << 4 | hexval(hex[1]));
        char *nb = jo_b64url(bytes, n);
        snprintf(out, 4096, "\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"", nb);
        free(nb);
        free(txt);
        return out;
    }
    jo_run("openssl pkey -in %s -pubout -outform DER -out pub.der", keyfile);
    unsigned char *der = jo_read("pub.der", &len);
    if (strcmp(kind, "Ed25519") == 0) {
        char *x = jo_b64url(der + len - 32, 32);
        snprintf(out, 4096, "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"", x);
        free(x);
    } else {
        size_t c = strcmp(kind, "P-256") == 0 ? 32 : 48;
        const unsigned char *pt = der + len - (2 * c + 1); /* 04 || x || y */
        char *x = jo_b64url(pt + 1, c), *y = jo_b64url(pt + 1 + c, c);
        snprintf(out, 4096, "\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"", kind, x, y);
        free(x);
        free(y);
    }
    free(der);
    return out;
}

/* DER ECDSA-Sig-Value to JOSE r||s of 2*c bytes. */
static size_t jo_der_to_raw(const unsigned char *d, size_t len, size_t c, unsigned char *out)
{
    size_t i = 2;
    if (d[1] & 0x80)
        i += d[1] & 0x7f;
    memset(out, 0, 2 * c);
    for (int k = 0; k < 2; k++) {
        size_t n = d[i + 1];
        const unsigned char *v = d + i + 2;
        i += 2 + n;
        while (n > c && *v == 0)
            v++, n--;
        memcpy(out + k * c + (c - n), v, n);
    }
    return i == len ? 2 * c : 0;
}

static void jo_hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* Signs header.payload with alg: keyfile for RS/PS/ES/EdDSA, the secret
 * bytes for HS; the token, malloc'd. */
static char *jo_sign(const char *alg, const char *keyfile, const unsigned char *secret, size_t secret_len,
                     const char *header_json, const char *payload_json)
{
    char *h = jo_b64url_str(header_json), *p = jo_b64url_str(payload_json);
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *in = malloc(in_len + 1);
    sprintf(in, "%s.%s", h, p);
    jo_write("in.txt", in, in_len);
    const char *bits = alg + 2;
    int rc;
    if (alg[0] == 'H') {
        char *hex = malloc(secret_len * 2 + 1);
        jo_hex(secret, secret_len, hex);
        rc = jo_run("openssl dgst -sha%s -mac HMAC -macopt hexkey:%s -binary -out sig.bin in.txt", bits, hex);
        free(hex);
    } else if (alg[0] == 'R') {
        rc = jo_run("openssl dgst -sha%s -sign %s -out sig.bin in.txt", bits, keyfile);
    } else if (alg[0] == 'P') {
        rc = jo_run("openssl dgst -sha%s -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -sign %s -out "
                    "sig.bin in.txt",
                    bits, keyfile);
    } else if (alg[0] == 'E' && alg[1] == 'S') {
        rc = jo_run("openssl dgst -sha%s -sign %s -out sig.der in.txt", bits, keyfile);
        size_t dl = 0;
        unsigned char *der = jo_read("sig.der", &dl), raw[96];
        size_t rl = jo_der_to_raw(der, dl, strcmp(alg, "ES256") == 0 ? 32 : 48, raw);
        jo_write("sig.bin", raw, rl);
        free(der);
    } else {
        rc = jo_run("openssl pkeyutl -sign -rawin -inkey %s -in in.txt -out sig.bin", keyfile);
    }
    size_t sl = 0;
    unsigned char *sig = rc == 0 ? jo_read("sig.bin", &sl) : NULL;
    char *s = sig ? jo_b64url(sig, sl) : strdup("");
    char *tok = malloc(in_len + strlen(s) + 2);
    sprintf(tok, "%s.%s", in, s);
    free(h), free(p), free(in), free(sig), free(s);
    return tok;
}

#endif
