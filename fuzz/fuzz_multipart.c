/*
 * fuzz_multipart.c: libFuzzer target for the multipart/form-data splitter
 * (src/openapi/media.c). The first byte picks the boundary length (1..16,
 * its bytes follow), the rest is the body: any input must split or fail
 * cleanly, every part must lie inside the body, and reading the parts as
 * an object must not fail. Seeds: fuzz/corpus/multipart/.
 */
#include "openapi/check_internal.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t blen = (size_t)(data[0] % 16) + 1;
    if (size < 1 + blen)
        return 0;
    kumo__slice boundary = {(const char *)data + 1, blen};
    kumo__slice body = {(const char *)data + 1 + blen, size - 1 - blen};
    kumo__part *parts = NULL;
    size_t n = 0;
    char problem[256];
    if (kumo__multipart_parse(body, boundary, &parts, &n, problem, sizeof problem) == 0) {
        for (size_t i = 0; i < n; i++) {
            const kumo__part *p = &parts[i];
            if (p->data.base < body.base || p->data.base + p->data.len > body.base + body.len)
                abort();
        }
        kumo__shapeinfo none = {0};
        json_t *o = kumo__multipart_to_object(parts, n, &none);
        json_decref(o);
        free(parts);
    }
    return 0;
}
