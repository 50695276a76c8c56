/*
 * fuzz_recording.c: libFuzzer target for the recording reader of kumo
 * mock's replay (kumo__recording_parse, src/gateway/recording.c): any
 * input is accepted or refused cleanly (no crash, leak or hang), and what
 * is accepted holds: a status from 100 to 599, headers as a mapping, a
 * request with a method and a path starting with '/', and a body of the
 * length said. Seeds: fuzz/corpus/recording/.
 */
#include "gateway/recording.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char op[256];
    kumo__recorded rec;
    json_t *req = NULL;
    kumo__error err = {0};
    if (kumo__recording_parse("fuzz.json", (const char *)data, size, op, sizeof(op), &rec, &req, &err) != 0) {
        if (err.msg[0] == '\0' || req != NULL)
            __builtin_trap(); /* a refusal says why, and hands nothing out */
        return 0;
    }
    const char *path = json_string_value(json_object_get(req, "path"));
    if (rec.status < 100 || rec.status > 599 || !json_is_object(rec.headers) || path == NULL || path[0] != '/' ||
        json_string_value(json_object_get(req, "method")) == NULL || !json_is_object(json_object_get(req, "query")) ||
        strlen(op) == 0 || (rec.body == NULL && rec.body_len != 0))
        __builtin_trap();
    if (rec.body_len > 0)
        (void)((volatile const char *)rec.body)[rec.body_len - 1]; /* the length is the buffer's */
    kumo__recorded_clear(&rec);
    json_decref(req);
    return 0;
}
