/*
 * ed25519.h: Ed25519 signature verification (RFC 8032 section 5.1.7),
 * for JWTs signed with EdDSA (RFC 8037) where libcrypto is not loaded:
 * BearSSL has no Ed25519, and a lean package should not carry libcrypto
 * for it. Verification only, over public inputs: variable time is fine.
 * SHA-512 is BearSSL's.
 */
#ifndef KUMO_AUTH_ED25519_H
#define KUMO_AUTH_ED25519_H

#include <stddef.h>

/* 1 when pub (32 bytes, RFC 8032 5.1.5's encoding) is a point on the
 * curve, canonically encoded, and not of small order (one whose order
 * divides 8 lets forged signatures verify); 0 otherwise. OpenSSL accepts
 * both kinds: kumo refuses them whichever library verifies. */
int kumo__ed25519_key_ok(const unsigned char pub[32]);

/* 1 when sig (64 bytes: R, then S little-endian) is pub's signature of
 * msg[0..len): S below the group order, pub a key kumo__ed25519_key_ok
 * takes, R canonical, and
 * [S]B = R + [SHA-512(R || pub || msg)]pub (checked as the encoding of
 * [S]B - [k]pub being R's, as RFC 8032 and OpenSSL check it); 0 otherwise. */
int kumo__ed25519_verify(const unsigned char pub[32], const unsigned char *msg, size_t len,
                         const unsigned char sig[64]);

#endif
