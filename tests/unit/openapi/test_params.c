/*
 * test_params.c: params.c. The style table runs from
 * openapi/fixtures/check_styles.tsv (every style x explode x shape of the
 * OpenAPI style examples, percent-decoding against delimiters, coercion
 * and its failures); then header name case, repeated headers, content
 * (JSON) parameters, schemas behind $refs, 3.1 type lists, and forms.
 */
#include "openapi/check_internal.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

static const char *schema_text(const char *code)
{
    static const struct {
        const char *code, *schema;
    } codes[] = {
        {"P", "{\"type\":\"integer\"}"},
        {"S", "{\"type\":\"string\"}"},
        {"B", "{\"type\":\"boolean\"}"},
        {"N", "{\"type\":\"number\"}"},
        {"A", "{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}"},
        {"SA", "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"},
        {"O",
         "{\"type\":\"object\",\"properties\":{\"role\":{\"type\":\"string\"},\"firstName\":{\"type\":\"string\"}}}"},
        {"OI", "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
               "\"b\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}}"},
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].code, code) == 0)
            return codes[i].schema;
    return NULL;
}

static int style_of(const char *s, kumo__param_style *out)
{
    static const char *names[] = {"form", "simple", "label", "matrix", "spaceDelimited", "pipeDelimited", "deepObject"};
    for (int i = 0; i < 7; i++)
        if (strcmp(names[i], s) == 0) {
            *out = (kumo__param_style)i;
            return 0;
        }
    return -1;
}

static int in_of(const char *s, kumo__param_in *out)
{
    static const char *names[] = {"path", "query", "header", "cookie"};
    for (int i = 0; i < 4; i++)
        if (strcmp(names[i], s) == 0) {
            *out = (kumo__param_in)i;
            return 0;
        }
    return -1;
}

/* Reads parameter `param` from a request carrying `raw` where it lives. */
static int read_one(kumo__param *param, const json_t *schema, const kumo__refs *refs, const char *raw, json_t **out,
                    char *problem, size_t plen)
{
    kumo__param_plan plan = {.param = param, .name_len = strlen(param->name)};
    if (kumo__shapeinfo_read(schema, refs, &plan.shape) < 0)
        return -99;
    kumo__route_match m = {0};
    kumo__header_view h[2];
    kumo__http_view req = {0};
    req.match = &m;
    switch (param->in) {
    case KUMO__IN_PATH:
        m.nparams = 1;
        m.params[0].name = param->name;
        m.params[0].value = raw;
        m.params[0].value_len = strlen(raw);
        break;
    case KUMO__IN_QUERY: req.query = (kumo__slice){raw, strlen(raw)}; break;
    case KUMO__IN_HEADER:
        h[0] = (kumo__header_view){{"x-other", 7}, {"1", 1}};
        h[1] = (kumo__header_view){{param->name, strlen(param->name)}, {raw, strlen(raw)}};
        req.headers = h;
        req.nheaders = 2;
        break;
    case KUMO__IN_COOKIE:
        h[0] = (kumo__header_view){{"cookie", 6}, {raw, strlen(raw)}};
        req.headers = h;
        req.nheaders = 1;
        break;
    }
    problem[0] = '\0';
    int rc = kumo__param_read(&plan, &req, out, problem, plen);
    kumo__shapeinfo_clear(&plan.shape);
    return rc;
}

static void style_table(void)
{
    FILE *f = fopen("openapi/fixtures/check_styles.tsv", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[1024];
    int lineno = 0, rows = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *col[6];
        char *p = line;
        int n = 0;
        for (; n < 6 && p; n++) {
            col[n] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (n != 6) {
            fprintf(stderr, "check_styles.tsv:%d: needs 6 columns\n", lineno);
            CHECK(0);
            continue;
        }
        kumo__param param = {.name = "id", .explode = strcmp(col[2], "true") == 0};
        json_t *schema = json_loads(schema_text(col[3]) ? schema_text(col[3]) : "x", 0, NULL);
        if (in_of(col[0], &param.in) < 0 || style_of(col[1], &param.style) < 0 || !schema) {
            fprintf(stderr, "check_styles.tsv:%d: bad in, style or schema code\n", lineno);
            CHECK(0);
            json_decref(schema);
            continue;
        }
        json_t *got = NULL;
        char problem[256];
        int rc = read_one(&param, schema, NULL, col[4], &got, problem, sizeof problem);
        int ok;
        if (strcmp(col[5], "ABSENT") == 0) {
            ok = rc == KUMO__PARAM_ABSENT;
        } else if (strcmp(col[5], "ERROR") == 0) {
            ok = rc == 2 && problem[0] != '\0';
        } else {
            json_t *want = json_loads(col[5], JSON_DECODE_ANY, NULL);
            ok = rc == 0 && want && json_equal(got, want);
            json_decref(want);
        }
        if (!ok) {
            char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            fprintf(stderr, "check_styles.tsv:%d: %s %s explode=%s %s '%s': want %s, got rc %d %s %s\n", lineno, col[0],
                    col[1], col[2], col[3], col[4], col[5], rc, g ? g : "", problem);
            free(g);
        }
        CHECK(ok);
        rows++;
        json_decref(got);
        json_decref(schema);
    }
    fclose(f);
    CHECK(rows >= 95);
}

static void header_names(void)
{
    /* the spec says X-Rate-Limit; the request line came as x-rate-limit, twice */
    kumo__param param = {.name = "X-Rate-Limit", .in = KUMO__IN_HEADER, .style = KUMO__STYLE_SIMPLE};
    json_t *schema = json_loads("{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", 0, NULL);
    kumo__param_plan plan = {.param = &param, .name_len = strlen(param.name)};
    CHECK_INT(kumo__shapeinfo_read(schema, NULL, &plan.shape), 0);
    kumo__header_view h[] = {
        {{"x-rate-limit", 12}, {"1, 2", 4}},
        {{"accept", 6}, {"*/*", 3}},
        {{"X-RATE-LIMIT", 12}, {"3", 1}},
    };
    kumo__http_view req = {.headers = h, .nheaders = 3};
    json_t *got = NULL;
    char problem[128];
    CHECK_INT(kumo__param_read(&plan, &req, &got, problem, sizeof problem), 0);
    json_t *want = json_loads("[1,2,3]", 0, NULL);
    CHECK(got && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    req.nheaders = 2;
    h[0].name = (kumo__slice){"x-rate", 6};
    CHECK_INT(kumo__param_read(&plan, &req, &got, problem, sizeof problem), KUMO__PARAM_ABSENT);
    kumo__shapeinfo_clear(&plan.shape);
    json_decref(schema);
}

static void content_params(void)
{
    kumo__param param = {.name = "filter",
                         .in = KUMO__IN_QUERY,
                         .style = KUMO__STYLE_FORM,
                         .explode = 1,
                         .content_type = "application/json"};
    kumo__param_plan plan = {.param = &param, .name_len = 6, .content_json = 1};
    kumo__http_view req = {0};
    const char *q = "filter=%7B%22a%22%3A%5B1%2C2%5D%7D";
    req.query = (kumo__slice){q, strlen(q)};
    json_t *got = NULL;
    char problem[128];
    CHECK_INT(kumo__param_read(&plan, &req, &got, problem, sizeof problem), 0);
    json_t *want = json_loads("{\"a\":[1,2]}", 0, NULL);
    CHECK(got && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    q = "filter=%7B%22a%22";
    req.query = (kumo__slice){q, strlen(q)};
    got = NULL;
    CHECK_INT(kumo__param_read(&plan, &req, &got, problem, sizeof problem), 2);
    CHECK(strncmp(problem, "is not valid JSON", 17) == 0);
    CHECK(got == NULL);
    /* duplicate keys are refused */
    q = "filter=%7B%22a%22:1,%22a%22:2%7D";
    req.query = (kumo__slice){q, strlen(q)};
    CHECK_INT(kumo__param_read(&plan, &req, &got, problem, sizeof problem), 2);
}

/* A refs resolver over one document: "#/..." pointers only. */
typedef struct doc_refs {
    kumo__refs base;
    json_t *root;
} doc_refs;

static json_t *doc_resolve(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                           kumo__error *err)
{
    const doc_refs *d = (const doc_refs *)self;
    if (strncmp(ref, "#/components/schemas/", 21) != 0) {
        kumo__error_set(err, 0, "cannot resolve %s", ref);
        return NULL;
    }
    snprintf(where, where_len, "%s", ref + 1);
    return json_object_get(json_object_get(json_object_get(d->root, "components"), "schemas"), ref + 21);
}

static void shapes(void)
{
    json_t *root = json_loads("{\"components\":{\"schemas\":{"
                              "\"Ids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Id\"}},"
                              "\"Id\":{\"type\":\"integer\"},"
                              "\"Alias\":{\"$ref\":\"#/components/schemas/Ids\"}}}}",
                              0, NULL);
    doc_refs refs = {{doc_resolve}, root};
    json_t *s = json_loads("{\"$ref\":\"#/components/schemas/Alias\"}", 0, NULL);
    kumo__shapeinfo sh;
    CHECK_INT(kumo__shapeinfo_read(s, &refs.base, &sh), 0);
    CHECK_INT(sh.shape, KUMO__SHAPE_ARRAY);
    CHECK_INT(sh.type, KUMO__VT_INTEGER);
    kumo__shapeinfo_clear(&sh);
    /* without a resolver: a string */
    CHECK_INT(kumo__shapeinfo_read(s, NULL, &sh), 0);
    CHECK_INT(sh.shape, KUMO__SHAPE_PRIMITIVE);
    CHECK_INT(sh.type, KUMO__VT_STRING);
    kumo__shapeinfo_clear(&sh);
    json_decref(s);

    /* 3.1: ["integer","null"] is an integer; a real union is a string */
    s = json_loads("{\"type\":[\"integer\",\"null\"]}", 0, NULL);
    CHECK_INT(kumo__shapeinfo_read(s, NULL, &sh), 0);
    CHECK_INT(sh.type, KUMO__VT_INTEGER);
    json_decref(s);
    s = json_loads("{\"type\":[\"integer\",\"string\"]}", 0, NULL);
    CHECK_INT(kumo__shapeinfo_read(s, NULL, &sh), 0);
    CHECK_INT(sh.type, KUMO__VT_STRING);
    json_decref(s);
    s = json_loads("{}", 0, NULL);
    CHECK_INT(kumo__shapeinfo_read(s, NULL, &sh), 0);
    CHECK_INT(sh.shape, KUMO__SHAPE_PRIMITIVE);
    CHECK_INT(sh.type, KUMO__VT_STRING);
    json_decref(s);

    /* object: fields and additionalProperties */
    s = json_loads("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"number\"},"
                   "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}}},"
                   "\"additionalProperties\":{\"type\":\"integer\"}}",
                   0, NULL);
    CHECK_INT(kumo__shapeinfo_read(s, NULL, &sh), 0);
    CHECK_INT(sh.shape, KUMO__SHAPE_OBJECT);
    CHECK_INT(sh.nfields, 2);
    const kumo__field *f = kumo__shapeinfo_field(&sh, "tags", 4);
    CHECK(f && f->shape == KUMO__SHAPE_ARRAY && f->type == KUMO__VT_BOOLEAN);
    CHECK(kumo__shapeinfo_field(&sh, "nope", 4) == NULL);
    CHECK_INT(sh.additional, 1);
    CHECK_INT(sh.additional_type, KUMO__VT_INTEGER);

    /* a form body read with that shape */
    const char *form = "n=2.5&tags=true&tags=nope&extra=4&x+y=a+b%26c&bare";
    json_t *o = kumo__form_to_object(form, strlen(form), &sh);
    json_t *want =
        json_loads("{\"n\":2.5,\"tags\":[true,\"nope\"],\"extra\":4,\"x y\":\"a b&c\",\"bare\":\"\"}", 0, NULL);
    CHECK(o && json_equal(o, want));
    json_decref(o);
    json_decref(want);
    kumo__shapeinfo_clear(&sh);
    json_decref(s);
    json_decref(root);
}

static void coercion(void)
{
    json_t *j = kumo__coerce("9223372036854775807", 19, KUMO__VT_INTEGER);
    CHECK(json_is_integer(j) && json_integer_value(j) == 9223372036854775807LL);
    json_decref(j);
    j = kumo__coerce("9223372036854775808", 19, KUMO__VT_INTEGER);
    CHECK(json_is_string(j));
    json_decref(j);
    j = kumo__coerce("", 0, KUMO__VT_INTEGER);
    CHECK(json_is_string(j) && json_string_length(j) == 0);
    json_decref(j);
    j = kumo__coerce("-", 1, KUMO__VT_INTEGER);
    CHECK(json_is_string(j));
    json_decref(j);
    j = kumo__coerce("1e999", 5, KUMO__VT_NUMBER);
    CHECK(json_is_string(j));
    json_decref(j);
    j = kumo__coerce("null", 4, KUMO__VT_NULL);
    CHECK(json_is_null(j));
    json_decref(j);
    /* bytes that are not UTF-8 become U+FFFD, never a NULL */
    j = kumo__coerce("a\xff"
                     "b",
                     3, KUMO__VT_STRING);
    CHECK_STR(json_string_value(j), "a\xEF\xBF\xBD"
                                    "b");
    json_decref(j);
    CHECK(kumo__utf8_valid("\xC3\xA9", 2));
    CHECK(!kumo__utf8_valid("\xC3", 1));
    CHECK(!kumo__utf8_valid("\xED\xA0\x80", 3)); /* a surrogate */
    CHECK(!kumo__utf8_valid("\xC0\x80", 2));     /* overlong */
}

int main(void)
{
    style_table();
    header_names();
    content_params();
    shapes();
    coercion();
    return check_report();
}
