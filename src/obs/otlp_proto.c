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

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef KUMO_VERSION
#define KUMO_VERSION "0"
#endif

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

#define TAG(field, wt) ((uint32_t)(field) << 3 | (wt))

typedef struct pbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} pbuf;

static int reserve(pbuf *b, size_t need)
{
    if (b->oom)
        return -1;
    if (b->len + need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + need)
        cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (np == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

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

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t need;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        need = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        need = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        need = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
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
        size_t k = utf8_len(p + i, n - i);
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
        size_t k = p[i] < 0x80 ? 1 : utf8_len(p + i, n - i);
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
static uint8_t *attr(uint8_t *o, uint32_t field, const char *key, const kumo__span_attr *a, const char *sv, size_t sn)
{
    size_t klen = strlen(key), any, clean = 0;
    if (a == NULL || a->type == KUMO__ATTR_STR) {
        clean = clean_len(sv, sn);
        any = 1 + varint_len(clean) + clean;
    } else if (a->type == KUMO__ATTR_BOOL) {
        any = 2;
    } else {
        any = 1 + varint_len((uint64_t)a->num);
    }
    size_t kv = 1 + varint_len(klen) + klen + 1 + varint_len(any) + any;
    o = varint(o, TAG(field, WT_LEN));
    o = varint(o, kv);
    o = varint(o, TAG(1, WT_LEN));
    o = varint(o, klen);
    memcpy(o, key, klen);
    o += klen;
    o = varint(o, TAG(2, WT_LEN));
    o = varint(o, any);
    if (a == NULL || a->type == KUMO__ATTR_STR) {
        o = varint(o, TAG(1, WT_LEN));
        o = varint(o, clean);
        o = put_clean(o, sv, sn, clean);
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
        n += ATTR_BOUND(strlen(s->attrs[i].key), s->attrs[i].type == KUMO__ATTR_STR ? s->attrs[i].len : 0);
    return n + (size_t)(s->nlinks < KUMO__SPAN_LINKS_MAX ? s->nlinks : KUMO__SPAN_LINKS_MAX) * 48;
}

/* The room kept for a length prefix of the containers: up to 2^28 - 1
 * bytes (a batch is a few MiB at most). */
#define PREFIX_MAX 4

/* Writes a length-delimited field `field` whose body is b->p[body..b->len)
 * and was written PREFIX_MAX bytes after `at`: the tag and length go at
 * `at` and the body moves back to follow them. */
static void close_len(pbuf *b, size_t at, uint32_t field)
{
    size_t body = at + PREFIX_MAX + varint_len(TAG(field, WT_LEN)), n = b->len - body;
    uint8_t *o = varint(b->p + at, TAG(field, WT_LEN));
    o = varint(o, n);
    memmove(o, b->p + body, n);
    b->len = (size_t)(o - b->p) + n;
}

/* Opens a length-delimited field: returns where it starts. */
static size_t open_len(pbuf *b, uint32_t field)
{
    size_t at = b->len;
    b->len += PREFIX_MAX + varint_len(TAG(field, WT_LEN));
    return at;
}

static void span(pbuf *b, const kumo__span *s)
{
    size_t bound = span_bound(s);
    if (reserve(b, bound + 3) != 0)
        return;
    /* ScopeSpans.spans: the tag, then two bytes for the length (a span is
     * under 2^14 bytes: span_bound), filled in once the body is written */
    size_t at = b->len;
    b->p[at] = TAG(2, WT_LEN);
    uint8_t *o = b->p + at + 3;
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
    size_t n = (size_t)(o - b->p) - (at + 3);
    if (n >= 0x80) {
        b->p[at + 1] = (uint8_t)(n | 0x80);
        b->p[at + 2] = (uint8_t)(n >> 7);
        b->len = at + 3 + n;
    } else { /* a one-byte length: the body moves back one byte */
        b->p[at + 1] = (uint8_t)n;
        memmove(b->p + at + 2, b->p + at + 3, n);
        b->len = at + 2 + n;
    }
}

static void resource_attr(pbuf *b, const char *key, const char *v)
{
    if (reserve(b, ATTR_BOUND(strlen(key), strlen(v))) != 0)
        return;
    uint8_t *o = attr(b->p + b->len, 1, key, NULL, v, strlen(v));
    b->len = (size_t)(o - b->p);
}

char *kumo__otlp_proto(const kumo__span *spans, size_t n, const char *service_name, size_t *len)
{
    pbuf b = {0};
    const char *svc = service_name && *service_name ? service_name : "kumo";
    if (reserve(&b, 64) != 0)
        return NULL;
    size_t rs = open_len(&b, 1);  /* ExportTraceServiceRequest.resource_spans */
    size_t res = open_len(&b, 1); /* ResourceSpans.resource */
    resource_attr(&b, "service.name", svc);
    resource_attr(&b, "telemetry.sdk.name", "kumo");
    resource_attr(&b, "telemetry.sdk.language", "c");
    resource_attr(&b, "telemetry.sdk.version", KUMO_VERSION);
    if (reserve(&b, 64 + sizeof(KUMO_VERSION)) != 0)
        goto out;
    close_len(&b, res, 1);
    size_t ss = open_len(&b, 2);    /* ResourceSpans.scope_spans */
    size_t scope = open_len(&b, 1); /* ScopeSpans.scope */
    uint8_t *o = str_field(b.p + b.len, 1, "kumo", 4);
    o = str_field(o, 2, KUMO_VERSION, strlen(KUMO_VERSION));
    b.len = (size_t)(o - b.p);
    close_len(&b, scope, 1);
    for (size_t i = 0; i < n; i++)
        span(&b, &spans[i]);
    if (!b.oom) {
        close_len(&b, ss, 2);
        close_len(&b, rs, 1);
    }
out:
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    if (b.p == NULL) /* nothing can be empty here, but never return NULL for success */
        b.p = malloc(1);
    return (char *)b.p;
}
