/*
 * utf8.h: reading UTF-8 byte by byte, for the writers that must send only
 * valid text (log lines, OTLP's JSON and protobuf strings).
 */
#ifndef KUMO_BASE_UTF8_H
#define KUMO_BASE_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 sequence at s, which has n > 0
 * bytes left, or 0 when it is not one (a bad lead or continuation byte,
 * a sequence cut by the end, an overlong form, a surrogate, past
 * U+10FFFF). */
size_t kumo__utf8_seq(const unsigned char *s, size_t n);

#endif
