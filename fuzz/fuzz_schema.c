/*
 * fuzz_schema.c: libFuzzer target for the JSON Schema validator
 * (src/openapi/schema.c). The input is a schema and an instance separated
 * by the first NUL byte, both JSON; the schema is compiled in both
 * dialects and each result validated against the instance in all three
 * directions. Nothing may crash, leak or hang: refs loop, oneOf explodes
 * and patterns backtrack, and each must end in a violation or a compile
 * error. Seeds: fuzz/corpus/schema/.
 */
#include "openapi/schema.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    json_error_t e;
    json_t *schema = json_loadb((const char *)data, slen, JSON_DECODE_ANY, &e);
    json_t *inst = nul ? json_loadb((const char *)nul + 1, size - slen - 1, JSON_DECODE_ANY, &e) : json_null();
    if (schema == NULL || inst == NULL)
        goto out;
    static const kumo__dialect dialects[] = {KUMO__DIALECT_OAS30, KUMO__DIALECT_2020_12};
    for (size_t d = 0; d < 2; d++) {
        kumo__schema *s = NULL;
        kumo__error err = {0};
        if (kumo__schema_compile(schema, dialects[d], "/components/schemas/X", NULL, &s, &err) != 0)
            continue;
        for (int dir = 0; dir < 3; dir++) {
            kumo__violations v = {.limit = 20};
            int rc = kumo__schema_validate(s, inst, (enum kumo__direction)dir, &v);
            if (rc == 1 && v.count == 0 && !v.truncated)
                __builtin_trap(); /* invalid must say why */
            if (rc == 0 && v.count != 0)
                __builtin_trap();
            kumo__violations_free(&v);
        }
        kumo__schema_free(s);
    }
out:
    json_decref(schema);
    json_decref(inst);
    return 0;
}
