/*
 * tracectx.c: the trace context codecs of tracectx.h. No I/O, no
 * allocation: each function reads a bounded input and writes into the
 * caller's memory, so the gateway, the SDK and kumo-host share them and
 * the fuzz target can run them on anything.
 */
#include "proto/tracectx.h"

#include <errno.h>
#include <string.h>

/* A lower-case hex digit's value, or -1 (W3C: upper case is invalid). */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n bytes from 2n lower-case hex digits: 0, or -1 on any other character. */
static int hex_decode(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Every byte's two hex digits: one two-byte copy a byte (ids are encoded
 * on every traced request). */
static const char hexpairs[513] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                                  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
                                  "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
                                  "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
                                  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
                                  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
                                  "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                                  "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void kumo__hex_encode(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        memcpy(out + 2 * i, hexpairs + 2 * b[i], 2);
    out[2 * n] = '\0';
}

int kumo__id_is_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

int kumo__traceparent_parse(const char *s, size_t len, kumo__trace_ctx *out)
{
    kumo__trace_ctx c;
    /* Version 00 has exactly this length; a later version may be longer,
     * but kumo speaks 00 only and starts a new trace for anything else. */
    if (s == NULL || len != KUMO__TRACEPARENT_LEN || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' ||
        s[52] != '-')
        return -EINVAL;
    if (hex_decode(s + 3, 16, c.trace_id) != 0 || hex_decode(s + 36, 8, c.span_id) != 0 ||
        hex_decode(s + 53, 1, &c.flags) != 0)
        return -EINVAL;
    if (kumo__id_is_zero(c.trace_id, 16) || kumo__id_is_zero(c.span_id, 8))
        return -EINVAL;
    *out = c;
    return 0;
}

void kumo__traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags, char out[56])
{
    memcpy(out, "00-", 3);
    kumo__hex_encode(trace_id, 16, out + 3);
    out[35] = '-';
    kumo__hex_encode(span_id, 8, out + 36);
    out[52] = '-';
    kumo__hex_encode(&flags, 1, out + 53);
}

int kumo__tracestate_ok(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > KUMO__TRACESTATE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* Root=1-8hex-24hex;Parent=16hex;Sampled=1, fields in any order, optional
 * spaces after ';', unknown fields (Lineage=...) skipped. */
int kumo__xray_parse(const char *s, size_t len, kumo__trace_ctx *out, int *has_parent)
{
    kumo__trace_ctx c;
    memset(&c, 0, sizeof(c));
    int root = 0, parent = 0;
    size_t i = 0;
    if (s == NULL)
        return -EINVAL;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == ';'))
            i++;
        size_t start = i;
        while (i < len && s[i] != ';')
            i++;
        const char *f = s + start;
        size_t n = i - start;
        if (n == 5 + 35 && memcmp(f, "Root=", 5) == 0) {
            /* 1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy */
            const char *r = f + 5;
            if (r[0] != '1' || r[1] != '-' || r[10] != '-' || hex_decode(r + 2, 4, c.trace_id) != 0 ||
                hex_decode(r + 11, 12, c.trace_id + 4) != 0)
                return -EINVAL;
            root = 1;
        } else if (n == 7 + 16 && memcmp(f, "Parent=", 7) == 0) {
            parent = hex_decode(f + 7, 8, c.span_id) == 0 && !kumo__id_is_zero(c.span_id, 8);
            if (!parent)
                memset(c.span_id, 0, sizeof(c.span_id));
        } else if (n == 9 && memcmp(f, "Sampled=1", 9) == 0) {
            c.flags = KUMO__TRACE_SAMPLED;
        }
    }
    if (!root || kumo__id_is_zero(c.trace_id, 16))
        return -EINVAL;
    *out = c;
    if (has_parent)
        *has_parent = parent;
    return 0;
}

/* ---- KF_STORE_SPAN ---- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void kumo__store_span_put(kumo__frame_writer *w, const kumo__store_span *s)
{
    const char *str[4] = {s->kind, s->op, s->store, s->driver};
    size_t len[4] = {s->kind_len, s->op_len, s->store_len, s->driver_len};
    uint8_t buf[20 + 4 * (4 + KUMO__STORE_SPAN_STR_MAX) + 8];
    size_t n = 0;
    put_le(buf, s->start_ns, 8);
    put_le(buf + 8, s->duration_ns, 8);
    put_le(buf + 16, (uint32_t)s->result, 4);
    n = 20;
    for (int i = 0; i < 4; i++) {
        size_t l = str[i] ? len[i] : 0;
        if (l > KUMO__STORE_SPAN_STR_MAX)
            l = KUMO__STORE_SPAN_STR_MAX;
        put_le(buf + n, l, 4);
        n += 4;
        if (l)
            memcpy(buf + n, str[i], l);
        n += l;
    }
    if (s->has_span_id) {
        memcpy(buf + n, s->span_id, 8);
        n += 8;
    }
    kumo__frame_put(w, KF_STORE_SPAN, buf, n);
}

int kumo__store_span_read(const kumo__frame_field *f, kumo__store_span *out)
{
    const uint8_t *p = (const uint8_t *)f->data, *end = p + f->len;
    const char **str[4] = {&out->kind, &out->op, &out->store, &out->driver};
    size_t *len[4] = {&out->kind_len, &out->op_len, &out->store_len, &out->driver_len};
    if (f->tag != KF_STORE_SPAN || f->len < 20)
        return -EPROTO;
    out->start_ns = get_le(p, 8);
    out->duration_ns = get_le(p + 8, 8);
    out->result = (int32_t)(uint32_t)get_le(p + 16, 4);
    p += 20;
    for (int i = 0; i < 4; i++) {
        if ((size_t)(end - p) < 4)
            return -EPROTO;
        uint64_t l = get_le(p, 4);
        p += 4;
        if (l > KUMO__STORE_SPAN_STR_MAX || l > (uint64_t)(end - p))
            return -EPROTO;
        *str[i] = (const char *)p;
        *len[i] = (size_t)l;
        p += l;
    }
    out->has_span_id = 0;
    if (end - p == 8) {
        memcpy(out->span_id, p, 8);
        out->has_span_id = !kumo__id_is_zero(out->span_id, 8);
        p += 8;
    }
    return p == end ? 0 : -EPROTO;
}
