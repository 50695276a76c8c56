/*
 * fuzz_regex.c: libFuzzer target for the ECMA-262 to PCRE2 pattern rewriter
 * (src/openapi/schema_regex.c). The input is a pattern; when it compiles,
 * it is matched against the input itself. Nothing may crash, leak, read
 * past the pattern or hang; a refusal must say where. Seeds:
 * fuzz/corpus/regex/.
 */
#include "openapi/schema_regex.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pcre2_code *re = NULL;
    char why[400];
    int rc = kumo__regex_compile((const char *)data, size, &re, why, sizeof why);
    if (rc == 0) {
        pcre2_match_context *mc = pcre2_match_context_create(NULL);
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        if (mc && md) {
            pcre2_set_match_limit(mc, 100000);
            pcre2_match(re, data, size, 0, 0, md, mc);
        }
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        pcre2_code_free(re);
    } else if (rc == -22 && strstr(why, "at offset ") == NULL) {
        __builtin_trap(); /* a refusal names its place */
    }
    return 0;
}
