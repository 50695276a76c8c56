/*
 * fuzz_params.c: libFuzzer target for the parameter parsers
 * (src/openapi/params.c) and Accept/Content-Type parsing (media.c). The
 * first byte picks where the parameter lives, its style, explode and the
 * shape of its schema; the rest is the raw text (path value, query string,
 * header value or Cookie header). Any input must give a value, "absent" or
 * a problem, without leaks or crashes. Seeds: fuzz/corpus/params/.
 */
#include "openapi/check_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const schemas[] = {
    "{\"type\":\"integer\"}",
    "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}",
    ("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"},"
     "\"b\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},\"additionalProperties\":true}"),
    "{\"type\":\"string\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    kumo__param param = {
        .name = "id",
        .in = (kumo__param_in)(sel & 3),
        .style = (kumo__param_style)((sel >> 2) % 7),
        .explode = (sel >> 5) & 1,
    };
    json_t *schema = json_loads(schemas[(sel >> 6) & 3], 0, NULL);
    kumo__param_plan plan = {.param = &param, .name_len = 2, .content_json = (sel & 0x1c) == 0x1c};
    if (!schema || kumo__shapeinfo_read(schema, NULL, &plan.shape) < 0) {
        json_decref(schema);
        return 0;
    }
    kumo__route_match m = {0};
    m.nparams = 1;
    m.params[0].name = "id";
    m.params[0].value = text;
    m.params[0].value_len = len;
    kumo__header_view h[2] = {
        {{"id", 2}, {text, len}},
        {{"cookie", 6}, {text, len}},
    };
    kumo__http_view req = {.query = {text, len}, .headers = h, .nheaders = 2, .match = &m};
    json_t *out = NULL;
    char problem[256];
    kumo__param_read(&plan, &req, &out, problem, sizeof problem);
    json_decref(out);

    /* the same text as Accept and Content-Type */
    kumo__mtype cand[2], ct;
    kumo__mtype_parse("application/json", 16, &cand[0]);
    kumo__mtype_parse("text/*", 6, &cand[1]);
    kumo__slice acc = {text, len}, v;
    kumo__accept_choose(&acc, 1, cand, 2);
    if (kumo__mtype_parse(text, len, &ct) == 0)
        kumo__mtype_param(&ct, "boundary", &v);
    json_t *form = kumo__form_to_object(text, len, &plan.shape);
    json_decref(form);
    kumo__shapeinfo_clear(&plan.shape);
    json_decref(schema);
    return 0;
}
