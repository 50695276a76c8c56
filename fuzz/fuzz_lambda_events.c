/*
 * fuzz_lambda_events.c: libFuzzer target for the lambda adapter's mapping
 * of the events that are not API Gateway's (sdk/adapters/lambda_events.c):
 * SQS, S3 and SNS records and scheduled events. Whatever
 * kumo__lambda_parse_any accepts must be whole: every record has an id and
 * a source, a body's length within what was given (base64 decoded), an S3
 * key; and the SQS answer built from the records' ids must be JSON listing
 * each of them. Nothing may read out of bounds, leak or loop.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdk/adapters/lambda.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_event ev;
    kumo__error err = {0};
    if (kumo__lambda_parse_any(&a, (const char *)data, size, &ev, &err) == 0 && ev.kind != KUMO__LAMBDA_HTTP) {
        if (ev.nrecords == 0 || ev.nrecords > KUMO__LAMBDA_RECORDS_MAX)
            __builtin_trap();
        const char **ids = malloc(ev.nrecords * sizeof(*ids));
        for (size_t i = 0; ids && i < ev.nrecords; i++) {
            const kumo__lambda_record *r = &ev.records[i];
            if (r->id == NULL || r->source == NULL || r->body_len > size || (r->body && r->body[r->body_len] != '\0'))
                __builtin_trap();
            if (ev.kind == KUMO__LAMBDA_S3 && r->key == NULL)
                __builtin_trap();
            if (ev.kind == KUMO__LAMBDA_SQS && r->receives == 0)
                __builtin_trap();
            ids[i] = r->id;
        }
        size_t len = 0;
        char *out = ids ? kumo__lambda_batch_failures(ids, ev.nrecords, &len) : NULL;
        if (out) {
            json_t *doc = json_loadb(out, len, 0, NULL);
            json_t *list = json_object_get(doc, "batchItemFailures");
            if (json_array_size(list) != ev.nrecords ||
                strcmp(json_string_value(json_object_get(json_array_get(list, 0), "itemIdentifier")), ids[0]) != 0)
                __builtin_trap();
            json_decref(doc);
            free(out);
        }
        free(ids);
    }
    kumo__arena_free(&a);
    return 0;
}
