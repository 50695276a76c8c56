/*
 * tracectx.h: the trace context as it crosses process boundaries, shared by
 * the gateway (src/obs, src/gateway), the worker's SDK (src/sdk) and
 * kumo-host, which is why it lives in proto/ and not in obs/ (the SDK may
 * not see obs/).
 *
 * - W3C Trace Context `traceparent` (version 00 only): parse and format.
 *   A traceparent that is not exactly "00-<32 hex>-<16 hex>-<2 hex>" in
 *   lower case, or that has an all-zero trace or parent id, is refused; the
 *   caller then starts a new trace, as the W3C recommendation says.
 * - `tracestate`: kept as an opaque string of at most KUMO__TRACESTATE_MAX
 *   bytes of visible ASCII; anything else is dropped.
 * - AWS X-Ray's `Root=1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy;Parent=...;
 *   Sampled=1` (the Lambda adapter) as a traceparent: the trace id is the
 *   8 + 24 hex digits of Root.
 * - The store-call record a worker sends back in its response frame
 *   (KF_STORE_SPAN, frame.h), encoded and decoded here so the codec is
 *   fuzzed with the frame's (fuzz/fuzz_frame.c).
 */
#ifndef KUMO_PROTO_TRACECTX_H
#define KUMO_PROTO_TRACECTX_H

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

#define KUMO__TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */
#define KUMO__TRACESTATE_MAX 512
#define KUMO__TRACE_SAMPLED 0x01

typedef struct kumo__trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8]; /* the span that is the parent of whatever comes next */
    uint8_t flags;      /* bit 0: sampled */
} kumo__trace_ctx;

/* Parses a traceparent of `len` bytes: 0 and *out set, or -EINVAL (wrong
 * version, length, case or hex; an all-zero id). */
int kumo__traceparent_parse(const char *s, size_t len, kumo__trace_ctx *out);
/* Writes "00-TRACE-SPAN-FLAGS" and a NUL: out has 56 bytes. */
void kumo__traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char out[56]);
/* Whether a tracestate of `len` bytes is kept: 1 when at most
 * KUMO__TRACESTATE_MAX bytes of visible ASCII and spaces, else 0. */
int kumo__tracestate_ok(const char *s, size_t len);
/* Lower-case hex of n bytes into out (2n characters and a NUL). */
void kumo__hex_encode(const uint8_t *b, size_t n, char *out);
/* Whether all n bytes are zero. */
int kumo__id_is_zero(const uint8_t *b, size_t n);

/* An X-Ray trace header (X-Amzn-Trace-Id, Lambda-Runtime-Trace-Id) as a
 * trace context: Root's 32 hex digits are the trace id, Parent (16 hex)
 * the parent span (absent: *has_parent is 0 and span_id is zero), Sampled=1
 * the flag. 0, or -EINVAL when there is no valid Root. */
int kumo__xray_parse(const char *s, size_t len, kumo__trace_ctx *out, int *has_parent);

/* ---- store calls a worker recorded (KF_STORE_SPAN) ---- */

/* One store call: the kind ("kv", "blob", "queue", "topic"), the
 * operation ("get"), the store's name in kumo.yaml and its driver (the URL
 * scheme: "sqlite", "redis"...), when it started (epoch ns), how long it
 * took, and its result (0 or a KUMO_E* code). Strings are not
 * NUL-terminated when decoded: they point into the frame. */
typedef struct kumo__store_span {
    const char *kind, *op, *store, *driver;
    size_t kind_len, op_len, store_len, driver_len;
    uint64_t start_ns, duration_ns;
    int32_t result;
} kumo__store_span;

#define KUMO__STORE_SPAN_STR_MAX 128 /* each string; longer ones are cut */

/* Appends the field: u64 start_ns, u64 duration_ns, u32 result, then the
 * four strings as u32 length and bytes. */
void kumo__store_span_put(kumo__frame_writer *w, const kumo__store_span *s);
/* Splits a KF_STORE_SPAN field: 0, or -EPROTO when malformed. */
int kumo__store_span_read(const kumo__frame_field *f, kumo__store_span *out);

#endif
