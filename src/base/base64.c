/*
 * base64.c: RFC 4648 base64 and base64url decoding (base64.h).
 */
#include "base/base64.h"

#include <stdint.h>

static int value(unsigned char c, enum kumo__b64_alphabet alphabet)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (alphabet == KUMO__B64URL ? '-' : '+'))
        return 62;
    if (c == (alphabet == KUMO__B64URL ? '_' : '/'))
        return 63;
    return -1;
}

long kumo__b64_decode(const char *in, size_t len, enum kumo__b64_alphabet alphabet, unsigned char *out)
{
    size_t data = len;
    while (alphabet == KUMO__B64 && data > 0 && in[data - 1] == '=')
        data--;
    if (data < len && (len - data > 2 || len % 4 != 0))
        return -1;
    if (data % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data; i++) {
        int v = value((unsigned char)in[i], alphabet);
        if (v < 0)
            return -1; /* '=' inside the data is outside the alphabet too */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1;
    return (long)o;
}
