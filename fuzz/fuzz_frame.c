/*
 * fuzz_frame.c: libFuzzer target for the frame decoder. The input is
 * treated as a stream of frames as a gateway or worker would receive it:
 * headers decoded with a small ceiling, payloads walked field by field,
 * pairs and numbers split, store-call records (KF_STORE_SPAN) and trace
 * headers (traceparent, X-Ray) decoded from every field; nothing may read
 * out of bounds or loop.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/tracectx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        kumo__frame_header h;
        if (kumo__frame_header_decode(data + off, size - off, 1 << 20, &h) != 0)
            break;
        if (size - off - KUMO__FRAME_HEADER_SIZE < h.length)
            break;
        kumo__frame_reader r;
        kumo__frame_field f;
        kumo__frame_reader_init(&r, data + off + KUMO__FRAME_HEADER_SIZE, h.length);
        while (kumo__frame_next(&r, &f) > 0) {
            const char *n, *v;
            size_t nl, vl;
            uint32_t u32;
            uint64_t u64;
            if (kumo__frame_pair(&f, &n, &nl, &v, &vl) == 0 && nl + vl + 4 != f.len)
                __builtin_trap();
            (void)kumo__frame_u32(&f, &u32);
            (void)kumo__frame_u64(&f, &u64);
            kumo__store_span span;
            kumo__frame_field as_span = f;
            as_span.tag = KF_STORE_SPAN;
            if (kumo__store_span_read(&as_span, &span) == 0 &&
                20 + 16 + span.kind_len + span.op_len + span.store_len + span.driver_len != f.len)
                __builtin_trap();
            kumo__trace_ctx tc;
            int has_parent;
            (void)kumo__traceparent_parse(f.data, f.len, &tc);
            (void)kumo__xray_parse(f.data, f.len, &tc, &has_parent);
        }
        off += KUMO__FRAME_HEADER_SIZE + h.length;
    }
    return 0;
}
