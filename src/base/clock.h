/*
 * clock.h: the clocks every layer reads. Monotonic for deadlines and
 * durations, real time for what a person or a log query reads.
 */
#ifndef KUMO_BASE_CLOCK_H
#define KUMO_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t kumo__mono_ms(void);  /* CLOCK_MONOTONIC, milliseconds */
uint64_t kumo__mono_us(void);  /* CLOCK_MONOTONIC, microseconds */
uint64_t kumo__epoch_ms(void); /* CLOCK_REALTIME, milliseconds since 1970 */
uint64_t kumo__epoch_us(void); /* CLOCK_REALTIME, microseconds since 1970 */

/* A time as RFC 3339 in UTC with microseconds,
 * "2026-12-05T03:46:26.123456Z", into out (KUMO__RFC3339_LEN bytes at
 * least, else nothing is written); returns its length. Async-signal-safe. */
#define KUMO__RFC3339_LEN 28
size_t kumo__rfc3339(uint64_t epoch_us, char *out, size_t len);
/* The same for now. */
size_t kumo__rfc3339_now(char *out, size_t len);
/* Reads an RFC 3339 date-time ("2026-12-05T03:46:26.123456Z", any
 * fraction, Z or a +hh:mm/-hh:mm offset; 't', 'z' and a space for 'T'
 * accepted) of exactly len bytes into microseconds since 1970 (a leap
 * second reads as :59): 0, or -1 when it is not one (*epoch_us untouched). */
int kumo__rfc3339_parse(const char *s, size_t len, int64_t *epoch_us);

#endif
