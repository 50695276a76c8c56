/*
 * fuzz_faults.c: libFuzzer target for kumo mock's fault rules
 * (src/gateway/faults.c): any YAML or JSON is accepted or refused cleanly,
 * and accepted rules decide within bounds: a latency of at most 60 s, a
 * status of 0 or 400-599, a truncation that keeps less than the whole
 * body, at most one outcome, and the same decision twice for the same
 * request index. Seeds: fuzz/corpus/faults/.
 */
#include "gateway/faults.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kumo__doc *doc = NULL;
    kumo__faults *f = NULL;
    kumo__error err = {0};
    if (kumo__doc_parse("fuzz.yaml", (const char *)data, size, &doc, &err) != 0)
        return 0;
    if (kumo__faults_from_json(doc, kumo__doc_root(doc), NULL, &f, &err) == 0) {
        if (kumo__faults_count(f) > KUMO__FAULTS_RULES_MAX)
            __builtin_trap();
        static const char *const ops[] = {NULL, "getPet", "listPets"};
        for (uint64_t n = 0; n < 16; n++) {
            kumo__fault_decision a, b;
            kumo__faults_decide(f, ops[n % 3], n, &a);
            kumo__faults_decide(f, ops[n % 3], n, &b);
            if (memcmp(&a, &b, sizeof(a)) != 0 || a.latency_ms > KUMO__FAULT_LATENCY_MAX_MS ||
                (a.status != 0 && (a.status < 400 || a.status > 599)) ||
                (a.truncate && (a.truncate_keep < 0 || a.truncate_keep >= 1)) ||
                (a.status != 0) + a.reset + a.truncate > 1 ||
                (a.rule >= 0) != ((a.status != 0) + a.reset + a.truncate == 1))
                __builtin_trap();
        }
        kumo__faults_free(f);
    } else if (err.msg[0] == '\0' || f != NULL) {
        __builtin_trap(); /* a refusal says why and hands nothing out */
    }
    kumo__doc_free(doc);
    return 0;
}
