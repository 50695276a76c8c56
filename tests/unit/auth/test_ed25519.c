/*
 * test_ed25519.c: kumo__ed25519_verify (auth/ed25519.c) on RFC 8032's test
 * vectors (section 7.1, TESTs 1 to 3), then against OpenSSL's Ed25519 on
 * keys and messages made here: every genuine signature verifies, and for
 * signatures, messages and keys changed a bit at a time the two agree on
 * every verdict. Also the refusals RFC 8032 asks for: S at or above the
 * group order (S + L, the malleable twin), a key or R that is not a
 * canonical point (y >= p), a key with no square root.
 */
#include "auth/ed25519.h"

#include "check.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>

static void unhex(const char *h, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
}

static void rfc8032_vectors(void)
{
    static const struct {
        const char *pub, *msg, *sig;
    } v[] = {
        {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bb"
         "e24"
         "655141438e7a100b"},
        {"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302"
         "aee"
         "b00d291612bb0c00"},
        {"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed"
         "28d"
         "c027beceea1ec40a"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        unsigned char pub[32], msg[8], sig[64];
        size_t n = strlen(v[i].msg) / 2;
        unhex(v[i].pub, pub, 32);
        unhex(v[i].msg, msg, n);
        unhex(v[i].sig, sig, 64);
        CHECK(kumo__ed25519_key_ok(pub));
        CHECK(kumo__ed25519_verify(pub, msg, n, sig));
        sig[63] ^= 0x01;
        CHECK(!kumo__ed25519_verify(pub, msg, n, sig));
        sig[63] ^= 0x01;
        unsigned char other[8] = {0x01};
        CHECK(!kumo__ed25519_verify(pub, other, 1, sig));
        /* S + L: the same point, a scalar RFC 8032 refuses */
        static const unsigned char L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                            0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                            0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
        unsigned char twin[64];
        memcpy(twin, sig, 64);
        unsigned carry = 0;
        for (int k = 0; k < 32; k++) {
            unsigned s = twin[32 + k] + L[k] + carry;
            twin[32 + k] = (unsigned char)s;
            carry = s >> 8;
        }
        CHECK(carry == 0); /* S < 2^253 - L: S + L still fits the 32 bytes */
        CHECK(!kumo__ed25519_verify(pub, msg, n, twin));
    }
    /* y = p (not canonical: p itself encodes 0), y = 2^255 - 1, and the
     * key 2 (y = 2 has no x on the curve) */
    unsigned char bad[32];
    memset(bad, 0xff, 32);
    bad[0] = 0xed, bad[31] = 0x7f;
    CHECK(!kumo__ed25519_key_ok(bad));
    memset(bad, 0xff, 32);
    bad[31] = 0x7f;
    CHECK(!kumo__ed25519_key_ok(bad));
    memset(bad, 0, 32);
    bad[0] = 2;
    CHECK(!kumo__ed25519_key_ok(bad));
    bad[0] = 1; /* y = 1: x = 0, the identity; with the sign bit set, not even a point */
    bad[31] = 0x80;
    CHECK(!kumo__ed25519_key_ok(bad));
    /* small order: the identity, with which R = identity and S = 0 pass for
     * any message (OpenSSL accepts that key and that signature), and
     * (0, -1), of order 2 */
    bad[31] = 0;
    CHECK(!kumo__ed25519_key_ok(bad));
    unsigned char forged[64] = {1};
    CHECK(!kumo__ed25519_verify(bad, (const unsigned char *)"anything", 8, forged));
    memset(bad, 0xff, 32);
    bad[0] = 0xec, bad[31] = 0x7f; /* y = p - 1 = -1 */
    CHECK(!kumo__ed25519_key_ok(bad));
}

static int openssl_verify(EVP_PKEY *k, const unsigned char *msg, size_t n, const unsigned char *sig)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 && EVP_DigestVerify(c, sig, 64, msg, n) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

/* Random keys and messages signed by OpenSSL; verdicts compared on the
 * genuine signature and on one bit flipped in the signature, the message
 * or the key. */
static void against_openssl(void)
{
    int agree = 0, disagree = 0, genuine = 0;
    for (int round = 0; round < 300; round++) {
        EVP_PKEY *sk = NULL;
        EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
        if (kc == NULL || EVP_PKEY_keygen_init(kc) != 1 || EVP_PKEY_keygen(kc, &sk) != 1) {
            EVP_PKEY_CTX_free(kc);
            CHECK(!"Ed25519 keygen");
            return;
        }
        EVP_PKEY_CTX_free(kc);
        unsigned char pub[32], msg[300], sig[64];
        size_t publen = 32, siglen = 64, n = (size_t)(round * 7 % 300);
        EVP_PKEY_get_raw_public_key(sk, pub, &publen);
        RAND_bytes(msg, sizeof msg);
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        CHECK(c && EVP_DigestSignInit(c, NULL, NULL, NULL, sk) == 1 && EVP_DigestSign(c, sig, &siglen, msg, n) == 1);
        EVP_MD_CTX_free(c);
        genuine += kumo__ed25519_verify(pub, msg, n, sig);
        for (int t = 0; t < 6; t++) {
            unsigned char s2[64], m2[300], p2[32];
            memcpy(s2, sig, 64), memcpy(m2, msg, sizeof msg), memcpy(p2, pub, 32);
            unsigned r = (unsigned)rand();
            if (t < 3)
                s2[r % 64] ^= (unsigned char)(1u << (r / 64 % 8));
            else if (t < 5 && n > 0)
                m2[r % n] ^= (unsigned char)(1u << (r / 64 % 8));
            else
                p2[r % 32] ^= (unsigned char)(1u << (r / 64 % 8));
            int ours = kumo__ed25519_verify(p2, m2, n, s2), theirs = 0;
            EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p2, 32);
            if (pk)
                theirs = openssl_verify(pk, m2, n, s2);
            EVP_PKEY_free(pk);
            if (ours == theirs)
                agree++;
            else
                disagree++;
        }
        EVP_PKEY_free(sk);
    }
    CHECK_INT(genuine, 300);
    CHECK_INT(disagree, 0);
    CHECK(agree == 300 * 6);
}

int main(void)
{
    srand(42);
    rfc8032_vectors();
    against_openssl();
    return check_report();
}
