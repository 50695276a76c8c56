/*
 * test_media.c: media.c. Media type parsing and parameters, match
 * specificity, Accept negotiation with q-values and wildcards, and the
 * multipart/form-data splitter: preamble and epilogue, empty parts, files,
 * and the ways a body is refused (no closing boundary, too many parts, a
 * header block over 8 KiB, a part without a name).
 */
#include "openapi/check_internal.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static kumo__mtype mt(const char *s)
{
    kumo__mtype m;
    memset(&m, 0, sizeof m);
    if (kumo__mtype_parse(s, strlen(s), &m) < 0)
        fprintf(stderr, "not a media type: %s\n", s);
    return m;
}

static int sl_is(kumo__slice s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.base, lit, s.len) == 0;
}

static void parsing(void)
{
    kumo__mtype m;
    const char *s = " Multipart/Form-Data ; charset=UTF-8; boundary=\"a b;c\"";
    CHECK_INT(kumo__mtype_parse(s, strlen(s), &m), 0);
    CHECK(sl_is(m.type, "Multipart"));
    CHECK(sl_is(m.subtype, "Form-Data"));
    kumo__slice v;
    CHECK_INT(kumo__mtype_param(&m, "BOUNDARY", &v), 0);
    CHECK(sl_is(v, "a b;c"));
    CHECK_INT(kumo__mtype_param(&m, "charset", &v), 0);
    CHECK(sl_is(v, "UTF-8"));
    CHECK_INT(kumo__mtype_param(&m, "q", &v), -ENOENT);
    CHECK_INT(kumo__mtype_parse("text", 4, &m), -EINVAL);
    CHECK_INT(kumo__mtype_parse("text/", 5, &m), -EINVAL);
    CHECK_INT(kumo__mtype_parse("/plain", 6, &m), -EINVAL);
    CHECK_INT(kumo__mtype_parse("*/plain", 7, &m), -EINVAL);
    CHECK_INT(kumo__mtype_parse("text/plain x", 12, &m), -EINVAL);
    CHECK_INT(kumo__mtype_parse("*/*", 3, &m), 0);

    kumo__mtype json = mt("application/json"), prob = mt("application/problem+json"), xml = mt("text/xml");
    CHECK(kumo__mtype_is_json(&json));
    CHECK(kumo__mtype_is_json(&prob));
    CHECK(!kumo__mtype_is_json(&xml));
    kumo__mtype exact = mt("APPLICATION/JSON"), sub = mt("application/*"), any = mt("*/*");
    CHECK_INT(kumo__mtype_match(&exact, &json), 3);
    CHECK_INT(kumo__mtype_match(&sub, &json), 2);
    CHECK_INT(kumo__mtype_match(&any, &json), 1);
    CHECK_INT(kumo__mtype_match(&sub, &xml), 0);
    CHECK_INT(kumo__mtype_match(&exact, &prob), 0);
}

static int choose(const char *accept, const char *const *cands, size_t n)
{
    kumo__mtype m[8];
    for (size_t i = 0; i < n; i++)
        m[i] = mt(cands[i]);
    kumo__slice a = {accept, strlen(accept)};
    return kumo__accept_choose(&a, 1, m, n);
}

static void accept(void)
{
    const char *jx[] = {"application/json", "application/xml"};
    CHECK_INT(choose("application/json", jx, 2), 0);
    CHECK_INT(choose("application/xml", jx, 2), 1);
    CHECK_INT(choose("*/*", jx, 2), 0); /* tie: declared order */
    CHECK_INT(choose("application/*", jx, 2), 0);
    CHECK_INT(choose("application/json;q=0.5, application/xml", jx, 2), 1);
    CHECK_INT(choose("application/xml;q=0.9, */*;q=0.1", jx, 2), 1);
    CHECK_INT(choose("text/html", jx, 2), -1);
    CHECK_INT(choose("application/json;q=0", jx, 2), -1);
    /* the most specific range decides: json is refused although the any/any range allows it */
    CHECK_INT(choose("application/json;q=0, */*", jx, 2), 1);
    CHECK_INT(choose("text/*;q=0.3, application/xml ; q=0.2", jx, 2), 1);
    CHECK_INT(choose("APPLICATION/JSON", jx, 2), 0);
    /* malformed entries are skipped; q above 1 is malformed */
    CHECK_INT(choose("garbage, application/xml", jx, 2), 1);
    CHECK_INT(choose("application/json;q=2, application/xml;q=0.1", jx, 2), 1);
    /* nothing readable: as if there were no Accept */
    CHECK_INT(choose("garbage", jx, 2), 0);
    /* a declared wildcard serves a concrete range inside it */
    const char *img[] = {"image/*"};
    CHECK_INT(choose("image/png", img, 1), 0);
    CHECK_INT(choose("text/plain", img, 1), -1);
    /* several Accept lines */
    kumo__mtype m[2] = {mt("application/json"), mt("text/csv")};
    kumo__slice two[2] = {{"application/json;q=0.1", 22}, {"text/csv", 8}};
    CHECK_INT(kumo__accept_choose(two, 2, m, 2), 1);
}

#define B "XyZ"

static int parse(const char *body, kumo__part **parts, size_t *n, char *problem)
{
    kumo__slice b = {body, strlen(body)}, bd = {B, 3};
    problem[0] = '\0';
    return kumo__multipart_parse(b, bd, parts, n, problem, 256);
}

static void multipart(void)
{
    kumo__part *parts = NULL;
    size_t n = 0;
    char problem[256];
    const char *body = "preamble to ignore\r\n"
                       "--" B "\r\n"
                       "Content-Disposition: form-data; name=\"title\"\r\n"
                       "\r\n"
                       "Buy milk\r\n"
                       "--" B "\r\n"
                       "content-disposition: form-data; name=\"count\"\r\n"
                       "\r\n"
                       "3\r\n"
                       "--" B "  \r\n"
                       "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
                       "Content-Type: text/plain\r\n"
                       "\r\n"
                       "line1\r\nline2 --XY not a boundary\r\n"
                       "--" B "\r\n"
                       "Content-Disposition: form-data; name=\"empty\"\r\n"
                       "\r\n"
                       "\r\n"
                       "--" B "--\r\n"
                       "epilogue to ignore";
    CHECK_INT(parse(body, &parts, &n, problem), 0);
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK(sl_is(parts[0].name, "title"));
        CHECK(sl_is(parts[0].data, "Buy milk"));
        CHECK(parts[0].filename.base == NULL);
        CHECK(sl_is(parts[1].name, "count"));
        CHECK(sl_is(parts[2].filename, "a.txt"));
        CHECK(sl_is(parts[2].content_type, "text/plain"));
        CHECK(sl_is(parts[2].data, "line1\r\nline2 --XY not a boundary"));
        CHECK(sl_is(parts[3].data, ""));

        json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"}}}", 0, NULL);
        kumo__shapeinfo sh;
        CHECK_INT(kumo__shapeinfo_read(schema, NULL, &sh), 0);
        json_t *o = kumo__multipart_to_object(parts, n, &sh);
        json_t *want =
            json_loads("{\"title\":\"Buy milk\",\"count\":3,\"file\":\"line1\\r\\nline2 --XY not a boundary\","
                       "\"empty\":\"\"}",
                       0, NULL);
        CHECK(o && json_equal(o, want));
        json_decref(o);
        json_decref(want);
        kumo__shapeinfo_clear(&sh);
        json_decref(schema);
    }
    free(parts);

    /* a binary file is a "" placeholder in the instance */
    const char *bin =
        "--" B "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n\xff\xfe\r\n--" B "--";
    CHECK_INT(parse(bin, &parts, &n, problem), 0);
    CHECK_INT(n, 1);
    kumo__shapeinfo none = {0};
    json_t *o = kumo__multipart_to_object(parts, n, &none);
    CHECK_STR(json_string_value(json_object_get(o, "f")), "");
    json_decref(o);
    free(parts);

    /* first boundary at the very start, LF-only header lines, no parts */
    CHECK_INT(parse("--" B "--", &parts, &n, problem), 0);
    CHECK_INT(n, 0);
    free(parts);
    CHECK_INT(parse("--" B "\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--" B "--", &parts, &n, problem), 0);
    CHECK_INT(n, 1);
    free(parts);

    /* refusals */
    CHECK_INT(parse("--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", &parts, &n, problem),
              -EINVAL);
    CHECK(strstr(problem, "no closing boundary") != NULL);
    CHECK(parts == NULL);
    CHECK_INT(parse("--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--" B, &parts, &n, problem),
              -EINVAL);
    CHECK(strstr(problem, "closing boundary") != NULL);
    CHECK_INT(parse("no boundary here", &parts, &n, problem), -EINVAL);
    CHECK(strstr(problem, "no boundary line") != NULL);
    CHECK_INT(parse("", &parts, &n, problem), -EINVAL);
    CHECK_INT(parse("--" B "\r\nContent-Type: text/plain\r\n\r\nv\r\n--" B "--", &parts, &n, problem), -EINVAL);
    CHECK(strstr(problem, "no Content-Disposition") != NULL);
    CHECK_INT(parse("--" B "\r\nContent-Disposition: form-data\r\n\r\nv\r\n--" B "--", &parts, &n, problem), -EINVAL);
    CHECK(strstr(problem, "no name") != NULL);
    CHECK_INT(parse("--" B "\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--" B "--", &parts, &n, problem),
              -EINVAL);
    CHECK_INT(parse("--" B "junk\r\n", &parts, &n, problem), -EINVAL);
    kumo__slice empty_b = {"", 0}, b = {"x", 1};
    CHECK_INT(kumo__multipart_parse(b, empty_b, &parts, &n, problem, sizeof problem), -EINVAL);

    /* a header block over 8 KiB */
    size_t big = 9000;
    char *hb = malloc(big + 200);
    int off = sprintf(hb, "--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ");
    memset(hb + off, 'p', big);
    strcpy(hb + off + big, "\r\n\r\nv\r\n--" B "--");
    CHECK_INT(parse(hb, &parts, &n, problem), -EINVAL);
    CHECK(strstr(problem, "header block over 8192") != NULL);
    free(hb);

    /* 1000 parts pass, 1001 do not */
    const char *one = "--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n";
    size_t ol = strlen(one);
    char *many = malloc(ol * 1001 + 16);
    for (int k = 0; k < 1001; k++)
        memcpy(many + (size_t)k * ol, one, ol);
    strcpy(many + ol * 1000, "--" B "--");
    CHECK_INT(parse(many, &parts, &n, problem), 0);
    CHECK_INT(n, 1000);
    free(parts);
    strcpy(many + ol * 1001, "--" B "--");
    memcpy(many + ol * 1000, one, ol);
    CHECK_INT(parse(many, &parts, &n, problem), -EINVAL);
    CHECK(strstr(problem, "more than 1000 parts") != NULL);
    free(many);
}

int main(void)
{
    parsing();
    accept();
    multipart();
    return check_report();
}
