/*
 * fuzz_example.c: libFuzzer target for the example generator
 * (src/openapi/example.c). The input is a schema (JSON); an optional
 * first byte after a NUL picks the seed. For each dialect, each direction
 * and declared values on and off, the generator must end (no hang, no
 * crash, no leak), keep under its byte ceiling, and say why whenever it
 * declines; when the schema compiles, what kumo__example_make returns
 * must validate against it (it checks and retries; this checks the
 * check). Seeds: fuzz/corpus/example/.
 */
#include "openapi/example.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BYTES 16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    uint64_t seed = nul && nul + 1 < data + size ? nul[1] : 0;
    json_error_t e;
    json_t *schema = json_loadb((const char *)data, slen, JSON_DECODE_ANY, &e);
    if (schema == NULL)
        return 0;
    static const kumo__dialect dialects[] = {KUMO__DIALECT_OAS30, KUMO__DIALECT_2020_12};
    for (size_t d = 0; d < 2; d++) {
        kumo__schema *s = NULL;
        kumo__error err = {0};
        int compiled = kumo__schema_compile(schema, dialects[d], "", NULL, &s, &err) == 0;
        for (int dir = 0; dir < 3; dir++)
            for (int declared = 0; declared < 2; declared++) {
                kumo__example_opts o = {.seed = seed,
                                        .dialect = dialects[d],
                                        .dir = (enum kumo__direction)dir,
                                        .declared = declared,
                                        .max_bytes = MAX_BYTES};
                json_t *v = NULL;
                char why[256];
                int rc = kumo__example_generate(schema, &o, &v, why, sizeof(why));
                if (rc == 0) {
                    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                    /* the ceiling is approximate: numbers and literals count a little under */
                    if (text && strlen(text) > 2 * MAX_BYTES)
                        __builtin_trap();
                    free(text);
                } else if (rc != -ENOMEM && why[0] == '\0') {
                    __builtin_trap(); /* a decline says why */
                }
                json_decref(v);
                if (!compiled)
                    continue;
                kumo__example_schema_check c = {s, o.dir};
                v = NULL;
                rc = kumo__example_make(schema, &o, kumo__example_check_schema, &c, 3, &v, why, sizeof(why));
                if (rc == 0 && kumo__example_check_schema(&c, v, why, sizeof(why)) != 1)
                    __builtin_trap();
                json_decref(v);
            }
        kumo__schema_free(s);
    }
    json_decref(schema);
    return 0;
}
