/*
 * digest.c: see digest.h.
 */
#include "base/digest.h"

#include <bearssl.h>

void kumo__sha256(const void *p, size_t n, unsigned char out[KUMO__SHA256_LEN])
{
    br_sha256_context c;
    br_sha256_init(&c);
    br_sha256_update(&c, p, n);
    br_sha256_out(&c, out);
}

int kumo__same_secret(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}
