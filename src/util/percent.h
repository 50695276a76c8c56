/*
 * percent.h: RFC 3986 percent-decoding, shared by the gateway (path
 * parameters) and the SDK (query strings).
 */
#ifndef KUMO_PERCENT_H
#define KUMO_PERCENT_H

#include <stddef.h>
#include <sys/types.h>

/* Decodes `len` bytes of `s` into `out` (room for `len` bytes at least;
 * decoding never grows). With `plus`, '+' becomes ' ' (form encoding).
 * Returns the decoded length, or -1 on a malformed escape (%G1, % at the
 * end). `out` may equal `s`. The result is not NUL-terminated. */
ssize_t kumo__percent_decode_into(const char *s, size_t len, char *out, int plus);

#endif
