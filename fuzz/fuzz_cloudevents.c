/*
 * fuzz_cloudevents.c: libFuzzer target for the CloudEvents HTTP mapping
 * (src/gateway/cloudevents_in.c). The input is a request: header lines
 * "name: value" up to an empty line, then the body. It goes through the
 * whole exchange of POST /_kumo/events against a project with two
 * cloudevent events (one of them filtered by source): parse, route, the
 * handler's request frame of each delivery, every handler answering 200,
 * and the answer. Checks: a parsed event has the required attributes
 * (specversion 1.0, id, source, type) and values without control
 * characters; a frame is built for every pending delivery; the answer is
 * 202 without a body, or a JSON body of the status it carries. Nothing may
 * read out of bounds, leak or loop.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/cloudevents_in.h"

#define HEADERS_MAX 80

static kumo__project *project(void)
{
    static kumo__unit unit;
    static kumo__event_decl events[2];
    static kumo__project p;
    if (p.nunits)
        return &p;
    unit.name = "u";
    unit.tuning.timeout_s = 1;
    unit.tuning.max_body = 1u << 20;
    events[0] = (kumo__event_decl){.name = "orders",
                                   .kind = KUMO__EVENT_CLOUDEVENT,
                                   .unit = "u",
                                   .symbol = "on_order",
                                   .ce_type = "com.example.order.created"};
    events[1] = (kumo__event_decl){.name = "shop",
                                   .kind = KUMO__EVENT_CLOUDEVENT,
                                   .unit = "u",
                                   .symbol = "on_shop",
                                   .ce_type = "com.example.order.created",
                                   .ce_source = "/shop"};
    p.name = "fuzz";
    p.units = &unit;
    p.nunits = 1;
    p.events = events;
    p.nevents = 2;
    return &p;
}

static void check_value(const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u < 0x20 || *u == 0x7f)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kumo__ce_routes *routes;
    kumo__error err = {0};
    if (routes == NULL && kumo__ce_routes_build(project(), NULL, &routes, &err) != 0)
        __builtin_trap();

    kumo__header_view headers[HEADERS_MAX];
    size_t nheaders = 0, i = 0;
    const char *s = (const char *)data;
    while (i < size && nheaders < HEADERS_MAX) {
        size_t end = i;
        while (end < size && s[end] != '\n')
            end++;
        if (end == i) { /* the empty line: the body follows */
            i = end + 1;
            break;
        }
        size_t colon = i;
        while (colon < end && s[colon] != ':')
            colon++;
        size_t v = colon + 1 < end && s[colon + 1] == ' ' ? colon + 2 : colon + 1;
        if (colon < end)
            headers[nheaders++] = (kumo__header_view){{s + i, colon - i}, {s + v, v <= end ? end - v : 0}};
        i = end + 1;
    }
    kumo__http_in in = {
        .method = {"POST", 4},
        .path = {KUMO__CE_PATH, sizeof(KUMO__CE_PATH) - 1},
        .headers = headers,
        .nheaders = nheaders,
        .body = {i < size ? s + i : s + size, i < size ? size - i : 0},
    };

    kumo__ce_exchange x;
    size_t pending = kumo__ce_begin(routes, &in, "fuzz-1", &x);
    if (x.status == 0 && pending == 0)
        __builtin_trap();
    for (size_t k = 0; x.status == 0 && k < x.msg.n; k++) {
        const kumo__ce_event *e = &x.msg.events[k];
        if (e->error[0] || e->specversion == NULL || strcmp(e->specversion, "1.0") != 0 || !e->id || !*e->id ||
            !e->source || !*e->source || !e->type || !*e->type)
            __builtin_trap();
        for (size_t a = 0; a < e->nattrs; a++)
            check_value(e->attrs[a].value);
    }
    for (size_t d = 0; d < x.nd; d++) {
        if (x.d[d].status != 0)
            continue;
        kumo__frame_writer w = {0};
        if (kumo__ce_frame(&x, d, "fuzz-1.0", 1, &w) == 0)
            kumo__frame_writer_free(&w);
        kumo__ce_settle(&x, d, 200, NULL, 0);
    }
    if (pending) {
        if (x.pending != 0)
            __builtin_trap();
        kumo__ce_finish(&x, "fuzz-1");
    }
    if (x.status == 202 && x.body != NULL)
        __builtin_trap();
    if (x.body) {
        json_t *doc = json_loadb(x.body, x.body_len, 0, NULL);
        json_t *st = json_object_get(doc, "status");
        if (doc == NULL || (st && json_integer_value(st) != x.status))
            __builtin_trap();
        json_decref(doc);
    }
    kumo__ce_exchange_free(&x);
    return 0;
}
