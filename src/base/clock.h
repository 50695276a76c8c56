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

/* The current time as RFC 3339 in UTC with microseconds,
 * "2026-12-05T03:46:26.123456Z", into out (at least 28 bytes); returns
 * its length. */
#define KUMO__RFC3339_LEN 28
size_t kumo__rfc3339_now(char *out, size_t len);

#endif
