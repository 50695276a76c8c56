/*
 * fuzz_logline.c: libFuzzer target for the log store's line reader
 * (kumo__logrec_parse in src/obs/logstore.c), which reads whatever kumo
 * up's processes write to stderr, handlers' workers included. Nothing may
 * read out of bounds or recurse without end, the fields must be C strings
 * of the length given, and a line jansson reads as an object (not nested
 * past the reader's 64 levels, no NUL byte) must be read as JSON too.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "obs/logstore.h"

static kumo__logrec rec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    int json = kumo__logrec_parse(line, size, 42, &rec);
    if (json) {
        if (strlen(rec.msg) != rec.msg_len)
            __builtin_trap();
        const char *f[] = {rec.request_id, rec.trace_id, rec.function, rec.operation};
        for (int i = 0; i < 4; i++)
            if (f[i] && (f[i] < rec.buf || f[i] >= rec.buf + sizeof(rec.buf)))
                __builtin_trap();
    } else if (rec.msg != line || rec.msg_len != size || rec.time_us != 42) {
        __builtin_trap();
    }
    if (kumo__log_level_rank(rec.level) < 0)
        __builtin_trap();
    size_t opens = 0;
    for (size_t i = 0; i < size; i++)
        opens += data[i] == '[' || data[i] == '{';
    /* jansson takes a NUL byte between tokens; JSON (and this reader) does not. */
    if (size <= KUMO__LOGSTORE_LINE_MAX && opens <= 64 && memchr(data, 0, size) == NULL) {
        json_t *j = json_loadb(line, size, 0, NULL);
        if (json_is_object(j) && !json)
            __builtin_trap();
        json_decref(j);
    }
    return 0;
}
