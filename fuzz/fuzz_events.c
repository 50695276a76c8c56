/*
 * fuzz_events.c: libFuzzer target for the SDK's reading of CloudEvents
 * (src/sdk/event.c). The first byte picks the mode (batch, structured,
 * binary), the rest is the body. Every event kumo_event_at gives must have
 * its data in bounds, kumo_event_attr must answer for any name, and
 * kumo_event_fail on each id must leave a batchItemFailures body that is
 * JSON listing each distinct id once. Nothing may read out of bounds,
 * leak or loop.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sdk/sdk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {"application/cloudevents-batch+json", "application/cloudevents+json",
                                        "application/json"};
    if (size < 1)
        return 0;
    kumo_ctx ctx;
    kumo_request req;
    kumo_response res;
    memset(&ctx, 0, sizeof(ctx));
    kumo__arena_init(&ctx.arena);
    kumo__invocation_init(&ctx, &req, &res);
    kumo__pair headers[] = {{"content-type", types[data[0] % 3]}, {"ce-specversion", "1.0"}, {"ce-id", "h"}};
    req.headers = headers;
    req.nheaders = data[0] % 3 == 2 ? 3 : 1;
    /* the adapter's body is NUL-terminated beyond its length */
    char *body = kumo__arena_strndup(&ctx.arena, (const char *)data + 1, size - 1);
    req.body = body;
    req.body_len = size - 1;
    size_t n = kumo_event_count(&req), distinct = 0;
    for (size_t i = 0; i < n; i++) {
        kumo_event ev;
        if (kumo_event_at(&req, i, &ev) != 0 || ev.data == NULL)
            __builtin_trap();
        volatile char sink = 0;
        for (size_t j = 0; j < ev.len; j++)
            sink ^= ((const char *)ev.data)[j];
        (void)sink;
        if (ev.id && *ev.id) {
            size_t before = res.nfailed;
            if (kumo_event_fail(&res, ev.id) == 0 && res.nfailed > before)
                distinct++;
        }
    }
    kumo_event ev;
    if (kumo_event_at(&req, n, &ev) != KUMO_ENOTFOUND)
        __builtin_trap();
    (void)kumo_event_attr(&req, "type");
    (void)kumo_event_attr(&req, "kumoreceivecount");
    if (distinct) {
        json_t *doc = json_loadb(res.body, res.body_len, 0, NULL);
        if (json_array_size(json_object_get(doc, "batchItemFailures")) != distinct)
            __builtin_trap();
        json_decref(doc);
    }
    kumo__invocation_clear(&ctx, &req, &res);
    kumo__arena_free(&ctx.arena);
    return 0;
}
