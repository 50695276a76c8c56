/*
 * fuzz_doc.c: libFuzzer target for the YAML/JSON document loader
 * (src/openapi/doc.c): any input must parse or fail cleanly, without
 * leaks, crashes or runaway alias expansion. Seeds: fuzz/corpus/doc/.
 */
#include "openapi/openapi.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    if (kumo__doc_parse("fuzz.yaml", (const char *)data, size, &doc, &err) == 0) {
        int line, col;
        kumo__doc_pos(doc, kumo__doc_root(doc), &line, &col);
        kumo__doc_free(doc);
    }
    return 0;
}
