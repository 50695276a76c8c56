/*
 * fuzz_emulator_http.c: libFuzzer target for kumo emulate lambda's own
 * HTTP/1.1 parser (src/emulate/http1.c). The input is a request as a
 * client would send it: the head up to the empty line is parsed in place
 * as the emulator does, and the rest is walked as a chunked body, once to size it and once to copy it,
 * which must agree. Nothing may read out of bounds or loop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emulate/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *end = memmem(data, size, "\r\n\r\n", 4);
    size_t head_len = end ? (size_t)(end - (const char *)data) + 4 : size;
    if (head_len > KUMO__HTTP1_HEAD_MAX)
        return 0;
    kumo__http1_req r;
    memset(&r, 0, sizeof(r));
    if ((r.head = malloc(head_len + 1)) == NULL)
        return 0;
    memcpy(r.head, data, head_len);
    r.head[head_len] = '\0';
    size_t content_length = 0;
    int is_chunked = 0;
    int status = kumo__http1_parse_head(&r, &content_length, &is_chunked);
    if (status == 0 &&
        (r.method == NULL || r.target == NULL || r.target[0] != '/' || r.nheaders > KUMO__HTTP1_HEADERS_MAX))
        __builtin_trap();
    const char *body = (const char *)data + head_len;
    size_t body_len = size - head_len, decoded = 0;
    ssize_t took = kumo__http1_chunked(body, body_len, &decoded, NULL);
    if (took > 0) {
        if ((size_t)took > body_len || decoded > (size_t)took)
            __builtin_trap();
        char *out = malloc(decoded + 1);
        size_t again = 0;
        if (out && kumo__http1_chunked(body, body_len, &again, out) != took)
            __builtin_trap();
        if (out && again != decoded)
            __builtin_trap();
        free(out);
    }
    kumo__http1_req_clear(&r);
    return 0;
}
