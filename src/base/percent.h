/*
 * percent.h: RFC 3986 percent-decoding, shared by the gateway (path
 * parameters) and the SDK (query strings).
 */
#ifndef KUMO_PERCENT_H
#define KUMO_PERCENT_H

#include <stddef.h>
#include <sys/types.h>

enum {
    KUMO__PCT_PLUS = 1,    /* '+' is a space (form encoding) */
    KUMO__PCT_LENIENT = 2, /* a malformed escape (or a refused %00) is kept as written */
    KUMO__PCT_NO_NUL = 4,  /* %00 is refused: the value is handed out as a C string */
};

/* Decodes `len` bytes of `s` into `out` (room for `len` bytes at least;
 * decoding never grows). Returns the decoded length, or -1 on a malformed
 * escape (%G1, % at the end) or a refused %00 when not LENIENT. `out` may
 * equal `s`. The result is not NUL-terminated. */
ssize_t kumo__percent_decode_into(const char *s, size_t len, char *out, unsigned flags);

/* A malloc'd, NUL-terminated decoded copy of s[0..len); NULL on a
 * malformed escape (unless LENIENT), a refused %00, or no memory. */
char *kumo__percent_dup(const char *s, size_t len, unsigned flags);

#endif
