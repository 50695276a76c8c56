/*
 * fuzz_frame.c: libFuzzer target for the frame decoder. The input is
 * treated as a stream of frames as a gateway or worker would receive it:
 * headers decoded with a small ceiling, payloads walked field by field,
 * pairs and numbers split, store-call records (KF_STORE_SPAN) and trace
 * headers (traceparent, X-Ray) decoded from every field, and every payload
 * read as an outbound call (KUMO__FRAME_HTTP_CALL) and as its result
 * (KUMO__FRAME_HTTP_RESULT, sdk/http.c); nothing may read out of bounds,
 * leak or loop.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/tracectx.h"
#include "sdk/sdk.h"

#include <stdlib.h>

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
        const char *payload = (const char *)data + off + KUMO__FRAME_HEADER_SIZE;
        kumo__http_call call;
        char *mem = NULL;
        if (kumo__http_call_read(payload, h.length, &call, &mem) == 0)
            for (size_t i = 0; i < 2 * call.nheaders; i++)
                (void)strlen(call.headers[i]);
        free(mem);
        kumo__http_result res;
        if (kumo__http_result_read(payload, h.length, &res) == 0) {
            if (res.error == 0 && res.status == 0)
                __builtin_trap();
            kumo__http_result_free(&res);
        }
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
