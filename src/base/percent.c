/*
 * percent.c: see percent.h.
 */
#include "base/percent.h"

#include <stdlib.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t kumo__percent_decode_into(const char *s, size_t len, char *out, unsigned flags)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = -1, lo = -1;
            if (len - i >= 3) {
                hi = hexval((unsigned char)s[i + 1]);
                lo = hexval((unsigned char)s[i + 2]);
            }
            int ok = hi >= 0 && lo >= 0 && !((flags & KUMO__PCT_NO_NUL) && (hi | lo) == 0);
            if (ok) {
                out[o++] = (char)(hi << 4 | lo);
                i += 2;
                continue;
            }
            if (!(flags & KUMO__PCT_LENIENT))
                return -1;
            out[o++] = '%';
        } else if (c == '+' && (flags & KUMO__PCT_PLUS)) {
            out[o++] = ' ';
        } else {
            out[o++] = (char)c;
        }
    }
    return (ssize_t)o;
}

char *kumo__percent_dup(const char *s, size_t len, unsigned flags)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    ssize_t n = kumo__percent_decode_into(s, len, out, flags);
    if (n < 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}
