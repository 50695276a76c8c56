/*
 * base64.h: decoding RFC 4648 base64, the one decoder of kumo: HTTP Basic
 * credentials and CloudEvents' data_base64 (the standard alphabet), JWS
 * segments and JWK members (base64url, RFC 7515: no padding).
 */
#ifndef KUMO_BASE_BASE64_H
#define KUMO_BASE_BASE64_H

#include <stddef.h>

enum kumo__b64_alphabet {
    KUMO__B64,    /* A-Z a-z 0-9 + /, with at most two '=' at the end (optional) */
    KUMO__B64URL, /* A-Z a-z 0-9 - _, no padding */
};

/* Decodes in[0..len) into out, which has room for len * 3 / 4 + 1 bytes:
 * the decoded length, or -1 when a byte is outside the alphabet, padding
 * is misplaced (anything after '=', more than two, padding that does not
 * end a multiple of four, or any in base64url), one character is left
 * over, or the last character's unused bits are not zero (one spelling
 * per value). */
long kumo__b64_decode(const char *in, size_t len, enum kumo__b64_alphabet alphabet, unsigned char *out);

#endif
