/*
 * otlp_proto.c: spans as OTLP/HTTP binary protobuf (an
 * ExportTraceServiceRequest, opentelemetry/proto/collector/trace/v1), the
 * exporter's default encoding, as the OpenTelemetry SDKs default to
 * http/protobuf. Written by hand, no protobuf library: the messages kumo
 * sends are few and fixed.
 *
 * A message's length comes before it, so each span is written after room
 * for the longest prefix it can need and moved back over the unused bytes
 * once its length is known; the small messages inside a span (attributes,
 * links, status) have their sizes computed up front. Ids go as raw bytes,
 * times as fixed64, so a span takes about a third of its JSON.
 *
 * Field numbers (proto3): ExportTraceServiceRequest.resource_spans 1;
 * ResourceSpans.resource 1, .scope_spans 2; Resource.attributes 1;
 * ScopeSpans.scope 1, .spans 2; InstrumentationScope.name 1, .version 2;
 * Span.trace_id 1, .span_id 2, .parent_span_id 4, .name 5, .kind 6,
 * .start_time_unix_nano 7 (fixed64), .end_time_unix_nano 8 (fixed64),
 * .attributes 9, .links 13, .dropped_links_count 14, .status 15, .flags 16
 * (fixed32); Span.Link.trace_id 1, .span_id 2, .flags 6 (fixed32);
 * Status.message 2, .code 3; KeyValue.key 1, .value 2; AnyValue
 * .string_value 1, .bool_value 2, .int_value 3.
 */
#include "obs/trace.h"
#include "base/growbuf.h"
#include "base/utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef KUMO_VERSION
#define KUMO_VERSION "0"
#endif

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

#define TAG(field, wt) ((uint32_t)(field) << 3 | (wt))

/* The bytes written so far of a growbuf, as protobuf's. */
#define BYTES(b) ((uint8_t *)(b)->data)

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *varint(uint8_t *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *o++ = (uint8_t)v;
    return o;
}

static uint8_t *fixed64(uint8_t *o, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(o, &v, 8); /* protobuf's fixed64 is little-endian: one store */
    return o + 8;
#else
    for (int i = 0; i < 8; i++)
        *o++ = (uint8_t)(v >> (8 * i));
    return o;
#endif
}

static uint8_t *fixed32(uint8_t *o, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *o++ = (uint8_t)(v >> (8 * i));
    return o;
}

/* A protobuf string must be UTF-8: the length of s once each invalid byte
 * is replaced by U+FFFD (3 bytes). Plain ASCII, the usual case, is one
 * scan. */
static size_t clean_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, out = 0;
    while (i + 8 <= n) { /* plain ASCII eight bytes at a time */
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull)
            break;
        i += 8, out += 8;
    }
    while (i < n) {
        if (p[i] < 0x80) {
            i++, out++;
            continue;
        }
        size_t k = kumo__utf8_seq(p + i, n - i);
        if (k == 0)
            i++, out += 3;
        else
            i += k, out += k;
    }
    return out;
}

static uint8_t *put_clean(uint8_t *o, const char *s, size_t n, size_t clean)
{
    if (clean == n) { /* nothing to replace */
        memcpy(o, s, n);
        return o + n;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = p[i] < 0x80 ? 1 : kumo__utf8_seq(p + i, n - i);
        if (k == 0) {
            *o++ = 0xef, *o++ = 0xbf, *o++ = 0xbd;
            i++;
        } else {
            memcpy(o, p + i, k);
            o += k, i += k;
        }
    }
    return o;
}

/* A string field: tag, length, the cleaned bytes. */
static uint8_t *str_field(uint8_t *o, uint32_t field, const char *s, size_t n)
{
    size_t clean = clean_len(s, n);
    o = varint(o, TAG(field, WT_LEN));
    o = varint(o, clean);
    return put_clean(o, s, n, clean);
}

static uint8_t *bytes_field(uint8_t *o, uint32_t field, const uint8_t *b, size_t n)
{
    o = varint(o, TAG(field, WT_LEN));
    o = varint(o, n);
    memcpy(o, b, n);
    return o + n;
}

/* The most a string field of n input bytes takes (each byte may become
 * three). */
#define STR_BOUND(n) (2 + 5 + 3 * (size_t)(n))

/* KeyValue{key, value: AnyValue{...}}, as field `field` of its parent. */
/* Whether n bytes at s are all ASCII (eight at a time): the usual value,
 * which then needs no cleaning. */
static inline int all_ascii(const char *s, size_t n)
{
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= (unsigned char)s[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* strlen of an attribute key. Keys are a few dozen literals (trace.h), so
 * each thread remembers the lengths by address. */
static size_t key_len(const char *key)
{
    static __thread struct {
        const char *key;
        size_t len;
    } seen[64];
    size_t h = ((uintptr_t)key >> 3) & 63;
    if (seen[h].key != key) {
        seen[h].key = key;
        seen[h].len = strlen(key);
    }
    return seen[h].len;
}

static uint8_t *attr(uint8_t *o, uint32_t field, const char *key, const kumo__span_attr *a, const char *sv, size_t sn)
{
    size_t klen = key_len(key), any, clean = 0;
    int str = a == NULL || a->type == KUMO__ATTR_STR;
    if (str) {
        clean = all_ascii(sv, sn) ? sn : clean_len(sv, sn);
        any = 1 + varint_len(clean) + clean;
    } else if (a->type == KUMO__ATTR_BOOL) {
        any = 2;
    } else {
        any = 1 + varint_len((uint64_t)a->num);
    }
    size_t kv = 1 + varint_len(klen) + klen + 1 + varint_len(any) + any;
    if (kv < 0x80 && field < 16) {
        /* every length under 128: one byte each (most attributes) */
        *o++ = (uint8_t)TAG(field, WT_LEN);
        *o++ = (uint8_t)kv;
        *o++ = (uint8_t)TAG(1, WT_LEN);
        *o++ = (uint8_t)klen;
        memcpy(o, key, klen);
        o += klen;
        *o++ = (uint8_t)TAG(2, WT_LEN);
        *o++ = (uint8_t)any;
    } else {
        o = varint(o, TAG(field, WT_LEN));
        o = varint(o, kv);
        o = varint(o, TAG(1, WT_LEN));
        o = varint(o, klen);
        memcpy(o, key, klen);
        o += klen;
        o = varint(o, TAG(2, WT_LEN));
        o = varint(o, any);
    }
    if (str) {
        o = varint(o, TAG(1, WT_LEN));
        o = varint(o, clean);
        if (clean == sn) {
            memcpy(o, sv, sn);
            o += sn;
        } else {
            o = put_clean(o, sv, sn, clean);
        }
    } else if (a->type == KUMO__ATTR_BOOL) {
        o = varint(o, TAG(2, WT_VARINT));
        *o++ = a->num ? 1 : 0;
    } else {
        o = varint(o, TAG(3, WT_VARINT));
        o = varint(o, (uint64_t)a->num); /* int64: two's complement, ten bytes when negative */
    }
    return o;
}

#define ATTR_BOUND(klen, vlen) (16 + (size_t)(klen) + 3 * (size_t)(vlen) + 16)

_Static_assert(128 + 2 * (2 + 5 + 3 * 160) + KUMO__SPAN_ATTRS_MAX * (32 + 64) + 3 * KUMO__SPAN_POOL +
                       KUMO__SPAN_LINKS_MAX * 48 <
                   (1 << 14),
               "a span's length fits two varint bytes");

static size_t span_bound(const kumo__span *s)
{
    size_t n =
        128 + STR_BOUND(strnlen(s->name, sizeof(s->name))) + STR_BOUND(strnlen(s->status_msg, sizeof(s->status_msg)));
    for (unsigned i = 0; i < s->nattrs && i < KUMO__SPAN_ATTRS_MAX; i++)
        n += ATTR_BOUND(key_len(s->attrs[i].key), s->attrs[i].type == KUMO__ATTR_STR ? s->attrs[i].len : 0);
    return n + (size_t)(s->nlinks < KUMO__SPAN_LINKS_MAX ? s->nlinks : KUMO__SPAN_LINKS_MAX) * 48;
}

static void span(kumo__growbuf *b, const kumo__span *s)
{
    size_t bound = span_bound(s);
    if (kumo__growbuf_reserve(b, bound + 3) != 0)
        return;
    /* ScopeSpans.spans: the tag, then two bytes for the length (a span is
     * under 2^14 bytes: span_bound), filled in once the body is written */
    size_t at = b->len;
    BYTES(b)[at] = TAG(2, WT_LEN);
    uint8_t *o = BYTES(b) + at + 3;
    o = bytes_field(o, 1, s->trace_id, 16);
    o = bytes_field(o, 2, s->span_id, 8);
    if (!kumo__id_is_zero(s->parent_id, 8))
        o = bytes_field(o, 4, s->parent_id, 8);
    o = str_field(o, 5, s->name, strnlen(s->name, sizeof(s->name)));
    o = varint(o, TAG(6, WT_VARINT));
    o = varint(o, s->kind);
    o = varint(o, TAG(7, WT_I64));
    o = fixed64(o, s->start_ns);
    o = varint(o, TAG(8, WT_I64));
    o = fixed64(o, s->end_ns >= s->start_ns ? s->end_ns : s->start_ns);
    for (unsigned i = 0; i < s->nattrs && i < KUMO__SPAN_ATTRS_MAX; i++) {
        const kumo__span_attr *a = &s->attrs[i];
        size_t off = a->off < sizeof(s->pool) ? a->off : sizeof(s->pool);
        size_t len = a->len <= sizeof(s->pool) - off ? a->len : sizeof(s->pool) - off;
        o = attr(o, 9, a->key, a, s->pool + off, a->type == KUMO__ATTR_STR ? len : 0);
    }
    for (unsigned i = 0; i < s->nlinks && i < KUMO__SPAN_LINKS_MAX; i++) {
        o = varint(o, TAG(13, WT_LEN));
        o = varint(o, 2 + 16 + 2 + 8 + 1 + 4);
        o = bytes_field(o, 1, s->links[i].trace_id, 16);
        o = bytes_field(o, 2, s->links[i].span_id, 8);
        /* SpanFlags: the W3C flags, and bits 8 and 9: known to be remote */
        o = varint(o, TAG(6, WT_I32));
        o = fixed32(o, (uint32_t)s->links[i].flags | 0x100u | 0x200u);
    }
    if (s->dropped_links > 0) {
        o = varint(o, TAG(14, WT_VARINT));
        o = varint(o, s->dropped_links);
    }
    size_t mlen = strnlen(s->status_msg, sizeof(s->status_msg));
    if (s->status != KUMO__STATUS_UNSET || mlen) {
        size_t clean = clean_len(s->status_msg, mlen);
        size_t st = (mlen ? 1 + varint_len(clean) + clean : 0) + (s->status ? 2 : 0);
        o = varint(o, TAG(15, WT_LEN));
        o = varint(o, st);
        if (mlen) {
            o = varint(o, TAG(2, WT_LEN));
            o = varint(o, clean);
            o = put_clean(o, s->status_msg, mlen, clean);
        }
        if (s->status) {
            o = varint(o, TAG(3, WT_VARINT));
            *o++ = s->status;
        }
    }
    size_t n = (size_t)(o - BYTES(b)) - (at + 3);
    if (n >= 0x80) {
        BYTES(b)[at + 1] = (uint8_t)(n | 0x80);
        BYTES(b)[at + 2] = (uint8_t)(n >> 7);
        b->len = at + 3 + n;
    } else { /* a one-byte length: the body moves back one byte */
        BYTES(b)[at + 1] = (uint8_t)n;
        memmove(BYTES(b) + at + 2, BYTES(b) + at + 3, n);
        b->len = at + 2 + n;
    }
}

static void resource_attr(kumo__growbuf *b, const char *key, const char *v)
{
    if (kumo__growbuf_reserve(b, ATTR_BOUND(strlen(key), strlen(v))) != 0)
        return;
    uint8_t *o = attr(BYTES(b) + b->len, 1, key, NULL, v, strlen(v));
    b->len = (size_t)(o - BYTES(b));
}

/* A length-delimited field from bytes already made. */
static uint8_t *len_field(uint8_t *o, uint32_t field, const uint8_t *body, size_t n)
{
    o = varint(o, TAG(field, WT_LEN));
    o = varint(o, n);
    memcpy(o, body, n);
    return o + n;
}

int kumo__otlp_pb_begin(kumo__otlp_pb *e, const char *service_name)
{
    /* The resource and the scope first, apart: their sizes are known once
     * made. The spans then go after room for every prefix, and the
     * prefixes, whose lengths the spans decide, are written back from the
     * first span at the finish: nothing is moved. */
    memset(e, 0, sizeof(*e));
    e->res.max = e->scope.max = e->b.max = SIZE_MAX;
    const char *svc = service_name && *service_name ? service_name : "kumo";
    resource_attr(&e->res, "service.name", svc);
    resource_attr(&e->res, "telemetry.sdk.name", "kumo");
    resource_attr(&e->res, "telemetry.sdk.language", "c");
    resource_attr(&e->res, "telemetry.sdk.version", KUMO_VERSION);
    if (kumo__growbuf_reserve(&e->scope, 2 * STR_BOUND(sizeof(KUMO_VERSION) + 4)) == 0) {
        uint8_t *o = str_field(BYTES(&e->scope), 1, "kumo", 4);
        o = str_field(o, 2, KUMO_VERSION, strlen(KUMO_VERSION));
        e->scope.len = (size_t)(o - BYTES(&e->scope));
    }
    /* ExportTraceServiceRequest.resource_spans{resource, scope_spans{scope, spans...}} */
    e->head = e->res.len + e->scope.len + 4 * (1 + 10);
    if (e->res.over || e->scope.over || kumo__growbuf_reserve(&e->b, e->head + 256) != 0) {
        kumo__otlp_pb_free(e);
        return -ENOMEM;
    }
    e->b.len = e->head;
    return 0;
}

void kumo__otlp_pb_add(kumo__otlp_pb *e, const kumo__span *s)
{
    span(&e->b, s);
    e->n++;
}

size_t kumo__otlp_pb_size(const kumo__otlp_pb *e)
{
    return e->b.len - e->head;
}

const char *kumo__otlp_pb_finish(kumo__otlp_pb *e, size_t *len)
{
    if (e->b.over || e->b.data == NULL)
        return NULL;
    size_t spans_len = e->b.len - e->head;
    size_t rl = e->res.len, sl = e->scope.len;
    size_t ss_body = 1 + varint_len(sl) + sl + spans_len;
    size_t rs_body = 1 + varint_len(rl) + rl + 1 + varint_len(ss_body) + ss_body;
    size_t hlen = 1 + varint_len(rs_body) + (rs_body - ss_body) + (1 + varint_len(sl) + sl);
    uint8_t *start = BYTES(&e->b) + e->head - hlen, *o = start;
    o = varint(o, TAG(1, WT_LEN));
    o = varint(o, rs_body);
    o = len_field(o, 1, BYTES(&e->res), rl);
    o = varint(o, TAG(2, WT_LEN));
    o = varint(o, ss_body);
    o = len_field(o, 1, BYTES(&e->scope), sl);
    *len = e->b.len - (e->head - hlen);
    return (const char *)start;
}

void kumo__otlp_pb_reset(kumo__otlp_pb *e)
{
    e->b.len = e->head;
    e->b.over = 0;
    e->n = 0;
}

void kumo__otlp_pb_free(kumo__otlp_pb *e)
{
    free(e->res.data);
    free(e->scope.data);
    free(e->b.data);
    memset(e, 0, sizeof(*e));
}

char *kumo__otlp_proto(const kumo__span *spans, size_t n, const char *service_name, size_t *len, size_t *start)
{
    kumo__otlp_pb e;
    if (kumo__otlp_pb_begin(&e, service_name) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        kumo__otlp_pb_add(&e, &spans[i]);
    const char *body = kumo__otlp_pb_finish(&e, len);
    char *out = NULL;
    if (body) {
        *start = (size_t)(body - e.b.data);
        out = e.b.data;
        e.b.data = NULL;
    }
    kumo__otlp_pb_free(&e);
    return out;
}
