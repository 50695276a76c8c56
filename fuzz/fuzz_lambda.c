/*
 * fuzz_lambda.c: libFuzzer target for the lambda adapter's mapping. The
 * input is an API Gateway event as the Runtime API would deliver it;
 * whatever kumo__lambda_parse_event accepts is encoded back as a reply in
 * the event's payload version (its headers and body echoed), and the
 * result must be JSON that says the same status. Nothing may read out of
 * bounds, leak or loop.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sdk/adapters/lambda.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_http req;
    kumo__error err = {0};
    if (kumo__lambda_parse_event(&a, (const char *)data, size, &req, &err) == 0) {
        if (req.method == NULL || req.path == NULL || req.query == NULL || (req.version != 1 && req.version != 2))
            __builtin_trap();
        kumo__lambda_reply r = {.status = 207,
                                .headers = req.headers,
                                .nheaders = req.nheaders,
                                .body = req.body,
                                .body_len = req.body_len};
        size_t len = 0;
        char *out = kumo__lambda_encode_reply(req.version, &r, &len);
        if (out) {
            json_t *doc = json_loadb(out, len, 0, NULL);
            if (doc == NULL || json_integer_value(json_object_get(doc, "statusCode")) != 207)
                __builtin_trap();
            json_decref(doc);
            free(out);
        }
    }
    kumo__arena_free(&a);
    return 0;
}
