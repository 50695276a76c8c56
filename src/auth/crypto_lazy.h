/*
 * crypto_lazy.h: libcrypto, loaded when a key needs it, in the lean hosts'
 * auth layer (kumo_auth_lambda, built with KUMO_CRYPTO_LAZY;
 * CMakeLists.txt). Elsewhere this header changes nothing: kumo and
 * kumo-host link libcrypto (h2o needs it anyway).
 *
 * Why: libcrypto is 4.7 MB, most of a lean package, and the lean hosts
 * verify every token without it (BearSSL, and ed25519.c for EdDSA): only
 * an RSA key over 4096 bits, past BearSSL's limit, needs OpenSSL. jwt.c and
 * jwks.c include this after their OpenSSL headers; every OpenSSL function
 * they call is then a call through a table that kumo__crypto_load fills by
 * dlopen("libcrypto.so.3"). jwks.c loads it when it meets such a key,
 * from the system (`kumo build` does not package it: deploy/bundle.c);
 * where the system has none the key is left out, said once. The table is
 * filled before any entry is used: kumo__crypto aborts if it is not, which
 * no request can reach (kumo__crypto_loaded guards every use).
 *
 * A function added to the auth layer's OpenSSL calls goes into
 * KUMO__CRYPTO_FNS and gets its #define below; kumo-lambda's link fails
 * with an undefined symbol otherwise.
 */
#ifndef KUMO_AUTH_CRYPTO_LAZY_H
#define KUMO_AUTH_CRYPTO_LAZY_H

#include <stddef.h>

#include "base/error.h"

/* 0 when libcrypto's functions are there (linked, or loaded now); else
 * -ENOENT with why in err. Thread-safe; loads once. */
int kumo__crypto_load(kumo__error *err);
/* 1 when libcrypto's functions can be called now: linked, or loaded
 * already by kumo__crypto_load (never loads it: a lean host without an
 * RSA key over 4096 bits does not map it, even where the system has it).
 * Without it the other keys are verified with BearSSL and ed25519.c. */
int kumo__crypto_loaded(void);

#if KUMO_CRYPTO_LAZY

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

/* clang-format off */
#define KUMO__CRYPTO_FNS(X) \
    X(BN_bin2bn) \
    X(BN_free) \
    X(CRYPTO_free) \
    X(ECDSA_SIG_free) \
    X(ECDSA_SIG_new) \
    X(ECDSA_SIG_set0) \
    X(ERR_clear_error) \
    X(EVP_DigestVerify) \
    X(EVP_DigestVerifyInit) \
    X(EVP_MD_CTX_free) \
    X(EVP_MD_CTX_new) \
    X(EVP_PKEY_CTX_free) \
    X(EVP_PKEY_CTX_new_from_name) \
    X(EVP_PKEY_CTX_new_from_pkey) \
    X(EVP_PKEY_CTX_set_rsa_mgf1_md) \
    X(EVP_PKEY_CTX_set_rsa_padding) \
    X(EVP_PKEY_CTX_set_rsa_pss_saltlen) \
    X(EVP_PKEY_free) \
    X(EVP_PKEY_fromdata) \
    X(EVP_PKEY_fromdata_init) \
    X(EVP_PKEY_new_raw_public_key) \
    X(EVP_PKEY_public_check) \
    X(EVP_sha256) \
    X(EVP_sha384) \
    X(EVP_sha512) \
    X(OSSL_PARAM_BLD_free) \
    X(OSSL_PARAM_BLD_new) \
    X(OSSL_PARAM_BLD_push_BN) \
    X(OSSL_PARAM_BLD_push_octet_string) \
    X(OSSL_PARAM_BLD_push_utf8_string) \
    X(OSSL_PARAM_BLD_to_param) \
    X(OSSL_PARAM_free) \
    X(i2d_ECDSA_SIG)
/* clang-format on */

typedef struct kumo__crypto_api {
#define X(f) __typeof__(&f) f;
    KUMO__CRYPTO_FNS(X)
#undef X
} kumo__crypto_api;

/* The table, filled; aborts when kumo__crypto_load has not succeeded. */
const kumo__crypto_api *kumo__crypto(void);

/* The digests are taken as function pointers too (jwt.c's table of
 * algorithms, a constant): these are functions of our own that call
 * through the table. */
const EVP_MD *kumo__crypto_sha256(void);
const EVP_MD *kumo__crypto_sha384(void);
const EVP_MD *kumo__crypto_sha512(void);
#define EVP_sha256 kumo__crypto_sha256
#define EVP_sha384 kumo__crypto_sha384
#define EVP_sha512 kumo__crypto_sha512

/* clang-format off */
#define BN_bin2bn (kumo__crypto()->BN_bin2bn)
#define BN_free (kumo__crypto()->BN_free)
#define CRYPTO_free (kumo__crypto()->CRYPTO_free)
#define ECDSA_SIG_free (kumo__crypto()->ECDSA_SIG_free)
#define ECDSA_SIG_new (kumo__crypto()->ECDSA_SIG_new)
#define ECDSA_SIG_set0 (kumo__crypto()->ECDSA_SIG_set0)
#define ERR_clear_error (kumo__crypto()->ERR_clear_error)
#define EVP_DigestVerify (kumo__crypto()->EVP_DigestVerify)
#define EVP_DigestVerifyInit (kumo__crypto()->EVP_DigestVerifyInit)
#define EVP_MD_CTX_free (kumo__crypto()->EVP_MD_CTX_free)
#define EVP_MD_CTX_new (kumo__crypto()->EVP_MD_CTX_new)
#define EVP_PKEY_CTX_free (kumo__crypto()->EVP_PKEY_CTX_free)
#define EVP_PKEY_CTX_new_from_name (kumo__crypto()->EVP_PKEY_CTX_new_from_name)
#define EVP_PKEY_CTX_new_from_pkey (kumo__crypto()->EVP_PKEY_CTX_new_from_pkey)
#define EVP_PKEY_CTX_set_rsa_mgf1_md (kumo__crypto()->EVP_PKEY_CTX_set_rsa_mgf1_md)
#define EVP_PKEY_CTX_set_rsa_padding (kumo__crypto()->EVP_PKEY_CTX_set_rsa_padding)
#define EVP_PKEY_CTX_set_rsa_pss_saltlen (kumo__crypto()->EVP_PKEY_CTX_set_rsa_pss_saltlen)
#define EVP_PKEY_free (kumo__crypto()->EVP_PKEY_free)
#define EVP_PKEY_fromdata (kumo__crypto()->EVP_PKEY_fromdata)
#define EVP_PKEY_fromdata_init (kumo__crypto()->EVP_PKEY_fromdata_init)
#define EVP_PKEY_new_raw_public_key (kumo__crypto()->EVP_PKEY_new_raw_public_key)
#define EVP_PKEY_public_check (kumo__crypto()->EVP_PKEY_public_check)
#define OSSL_PARAM_BLD_free (kumo__crypto()->OSSL_PARAM_BLD_free)
#define OSSL_PARAM_BLD_new (kumo__crypto()->OSSL_PARAM_BLD_new)
#define OSSL_PARAM_BLD_push_BN (kumo__crypto()->OSSL_PARAM_BLD_push_BN)
#define OSSL_PARAM_BLD_push_octet_string (kumo__crypto()->OSSL_PARAM_BLD_push_octet_string)
#define OSSL_PARAM_BLD_push_utf8_string (kumo__crypto()->OSSL_PARAM_BLD_push_utf8_string)
#define OSSL_PARAM_BLD_to_param (kumo__crypto()->OSSL_PARAM_BLD_to_param)
#define OSSL_PARAM_free (kumo__crypto()->OSSL_PARAM_free)
#define i2d_ECDSA_SIG (kumo__crypto()->i2d_ECDSA_SIG)
/* clang-format on */

#endif
#endif
