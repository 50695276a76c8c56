/*
 * digest.h: SHA-256 and a comparison of secrets that takes the same time
 * wherever they differ, over BearSSL (linked in; no libcrypto), for the
 * API keys and Basic users (auth/apikey.c, auth/basic.c) and the token
 * cache (auth/policy.c): the lean hosts then load libcrypto only for a
 * token scheme's signatures (auth/crypto_lazy.h).
 */
#ifndef KUMO_BASE_DIGEST_H
#define KUMO_BASE_DIGEST_H

#include <stddef.h>

#define KUMO__SHA256_LEN 32

/* out = SHA-256 of p[0..n). */
void kumo__sha256(const void *p, size_t n, unsigned char out[KUMO__SHA256_LEN]);

/* 1 when a[0..n) and b[0..n) are equal, else 0, in a time that depends on
 * n alone. */
int kumo__same_secret(const void *a, const void *b, size_t n);

#endif
