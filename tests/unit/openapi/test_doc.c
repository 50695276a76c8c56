/*
 * test_doc.c: doc.c reads YAML and JSON into jansson with positions:
 * scalar resolution, positions of nodes and keys, syntax errors,
 * duplicate keys, aliases and the alias bomb, the size ceiling.
 */
#include "openapi/openapi.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>

#define FIX "openapi/fixtures/"

static kumo__doc *load(const char *path)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    int rc = kumo__doc_load(path, &doc, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    return doc;
}

/* Parses `text`, expects failure, returns the message in `err`. */
static int parse_fails(const char *text, kumo__error *err)
{
    kumo__doc *doc = NULL;
    memset(err, 0, sizeof *err);
    int rc = kumo__doc_parse("t.yaml", text, strlen(text), &doc, err);
    CHECK(doc == NULL);
    kumo__doc_free(doc);
    return rc;
}

static void test_scalars(void)
{
    kumo__doc *doc = load(FIX "doc_scalars.yaml");
    if (doc == NULL)
        return;
    json_t *r = kumo__doc_root(doc);
    json_t *nulls = json_object_get(r, "nulls");
    CHECK_INT(json_array_size(nulls), 4); /* a trailing comma adds no item */
    for (size_t i = 0; i < json_array_size(nulls); i++)
        CHECK(json_is_null(json_array_get(nulls, i)));
    CHECK(json_is_null(json_object_get(r, "empty")));
    json_t *bools = json_object_get(r, "bools");
    for (size_t i = 0; i < 3; i++)
        CHECK(json_is_true(json_array_get(bools, i)));
    for (size_t i = 3; i < 6; i++)
        CHECK(json_is_false(json_array_get(bools, i)));
    json_t *ints = json_object_get(r, "ints");
    static const json_int_t want[] = {0, -17, 5, 31, 15, 7};
    for (size_t i = 0; i < 6; i++) {
        CHECK(json_is_integer(json_array_get(ints, i)));
        CHECK_INT(json_integer_value(json_array_get(ints, i)), want[i]);
    }
    json_t *big = json_object_get(r, "big");
    CHECK(json_is_real(big));
    CHECK(json_real_value(big) > 1.2e29 && json_real_value(big) < 1.3e29);
    json_t *reals = json_object_get(r, "reals");
    static const double wantr[] = {1.5, -0.25, 1000, 0.5, 6.02e23};
    for (size_t i = 0; i < 5; i++) {
        CHECK(json_is_real(json_array_get(reals, i)));
        CHECK(json_real_value(json_array_get(reals, i)) == wantr[i]);
    }
    json_t *s = json_object_get(r, "strings");
    CHECK_STR(json_string_value(json_object_get(s, "plain")), "hello world");
    CHECK_STR(json_string_value(json_object_get(s, "quoted_int")), "42");
    CHECK_STR(json_string_value(json_object_get(s, "single")), "true");
    CHECK_STR(json_string_value(json_object_get(s, "yes_is_string")), "yes");
    CHECK_STR(json_string_value(json_object_get(s, "block")), "line one\nline two\n");
    CHECK_STR(json_string_value(json_object_get(s, "folded")), "folded text");
    CHECK_STR(json_string_value(json_object_get(s, "tagged")), "12");
    kumo__doc_free(doc);
}

static void test_positions(void)
{
    kumo__doc *doc = load(FIX "doc_scalars.yaml");
    if (doc == NULL)
        return;
    json_t *r = kumo__doc_root(doc);
    int line = -1, col = -1;
    CHECK(kumo__doc_pos(doc, r, &line, &col));
    CHECK_INT(line, 2); /* the root mapping starts at its first key, after the comment */
    CHECK_INT(col, 1);
    CHECK(kumo__doc_pos(doc, json_object_get(r, "ints"), &line, &col));
    CHECK_INT(line, 5);
    CHECK_INT(col, 7);
    CHECK(kumo__doc_pos(doc, json_array_get(json_object_get(r, "ints"), 3), &line, &col));
    CHECK_INT(line, 5);
    CHECK_INT(col, 20); /* 0x1F */
    json_t *s = json_object_get(r, "strings");
    CHECK(kumo__doc_pos(doc, s, &line, &col));
    CHECK_INT(line, 9);
    CHECK_INT(col, 3);
    CHECK(kumo__doc_pos(doc, json_object_get(s, "quoted_int"), &line, &col));
    CHECK_INT(line, 10);
    CHECK_INT(col, 15);
    CHECK(kumo__doc_pos(doc, json_object_get(s, "block"), &line, &col));
    CHECK_INT(line, 13);
    CHECK_INT(col, 10);
    json_t *item = json_array_get(json_object_get(json_object_get(r, "nested"), "list"), 0);
    CHECK(kumo__doc_pos(doc, json_object_get(item, "b"), &line, &col));
    CHECK_INT(line, 23);
    CHECK_INT(col, 10);
    CHECK(kumo__doc_pos(doc, json_object_get(r, "big"), &line, &col));
    CHECK_INT(line, 6);
    CHECK(kumo__doc_pos(doc, json_array_get(json_object_get(r, "reals"), 1), &line, &col));
    CHECK_INT(line, 7);
    CHECK_INT(col, 14);
    /* keys have their own positions */
    CHECK(kumo__doc_key_pos(doc, s, "folded", &line, &col));
    CHECK_INT(line, 16);
    CHECK_INT(col, 3);
    CHECK(!kumo__doc_key_pos(doc, s, "absent", &line, &col));
    /* null and booleans are jansson singletons: no position of their own,
     * and an error about them falls back to the key */
    CHECK(!kumo__doc_pos(doc, json_object_get(r, "empty"), &line, &col));
    CHECK_INT(line, 0);
    kumo__error err = {0};
    kumo__doc_value_error(&err, doc, r, "empty", "needs a value");
    CHECK_STR(err.msg, FIX "doc_scalars.yaml:3:1: needs a value");
    kumo__doc_value_error(&err, doc, r, "ints", "wrong");
    CHECK_STR(err.msg, FIX "doc_scalars.yaml:5:7: wrong");
    kumo__doc_error(&err, doc, json_object_get(s, "plain"), "bad %s", "thing");
    CHECK_STR(err.msg, FIX "doc_scalars.yaml:9:10: bad thing");
    CHECK_INT(err.code, -EINVAL);
    json_t *foreign = json_string("x");
    kumo__doc_error(&err, doc, foreign, "elsewhere");
    CHECK_STR(err.msg, FIX "doc_scalars.yaml: elsewhere");
    json_decref(foreign);
    kumo__doc_free(doc);
}

static void test_json(void)
{
    kumo__doc *doc = load(FIX "doc_sample.json");
    if (doc == NULL)
        return;
    json_t *r = kumo__doc_root(doc);
    CHECK_STR(json_string_value(json_object_get(r, "name")), "sample");
    CHECK_INT(json_integer_value(json_object_get(r, "count")), 3);
    CHECK(json_real_value(json_object_get(r, "ratio")) == 0.5);
    CHECK(json_is_true(json_object_get(r, "ok")));
    CHECK(json_is_null(json_object_get(r, "none")));
    CHECK_STR(json_string_value(json_object_get(r, "escaped")), "tab\there \"quoted\" \xc3\xa9");
    json_t *nested = json_object_get(r, "nested");
    CHECK_INT(json_array_size(nested), 3);
    CHECK_INT(json_integer_value(json_array_get(json_array_get(json_array_get(nested, 1), 1), 1)), 5);
    CHECK_STR(json_string_value(json_object_get(json_array_get(nested, 2), "k")), "v");
    CHECK(json_is_object(json_object_get(r, "empty_obj")));
    CHECK_INT(json_array_size(json_object_get(r, "empty_arr")), 0);
    /* the same tree jansson's own parser gives */
    json_t *ref = json_load_file(FIX "doc_sample.json", 0, NULL);
    CHECK(ref && json_equal(ref, r));
    json_decref(ref);
    int line, col;
    CHECK(kumo__doc_pos(doc, json_object_get(r, "count"), &line, &col));
    CHECK_INT(line, 3);
    CHECK_INT(col, 12);
    CHECK(kumo__doc_pos(doc, json_array_get(nested, 1), &line, &col));
    CHECK_INT(line, 8);
    CHECK_INT(col, 22);
    kumo__doc_free(doc);
}

static void test_errors(void)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__doc_load(FIX "doc_syntax.yaml", &doc, &err), -EINVAL);
    CHECK(doc == NULL);
    CHECK(strncmp(err.msg, FIX "doc_syntax.yaml:4:3: ", strlen(FIX "doc_syntax.yaml:4:3: ")) == 0);
    CHECK(strstr(err.msg, "did not find expected") != NULL);

    CHECK_INT(kumo__doc_load(FIX "no-such-file.yaml", &doc, &err), -ENOENT);
    CHECK(strstr(err.msg, "no-such-file.yaml: cannot open") != NULL);

    CHECK_INT(parse_fails("a: 1\nb: 2\na: 3\n", &err), -EINVAL);
    CHECK_STR(err.msg, "t.yaml:3:1: duplicate key 'a' (first at line 1, column 1); remove one");
    CHECK_INT(parse_fails("{\"x\": 1, \"x\": 2}", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.yaml:1:10: duplicate key 'x'", 30) == 0);
    CHECK_INT(parse_fails("? [a, b]\n: 1\n", &err), -EINVAL);
    CHECK_STR(err.msg, "t.yaml:1:3: mapping keys must be scalars");
    CHECK_INT(parse_fails("a: 1\n---\nb: 2\n", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.yaml:2:1: a second document", 29) == 0);
    CHECK_INT(parse_fails("x: .inf\n", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.yaml:1:4: infinity and NaN", 28) == 0);
    CHECK_INT(parse_fails("x: 1e999\n", &err), -EINVAL);
    CHECK_INT(parse_fails("x: *nope\n", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.yaml:1:4: alias *nope names no anchor", 39) == 0);
    CHECK_INT(parse_fails("x: &a [1, *a]\n", &err), -EINVAL); /* a cycle */
    CHECK_INT(parse_fails("a: \xff\xfe\n", &err), -EINVAL);
    CHECK(strstr(err.msg, "UTF-8") != NULL);

    /* deep nesting is refused, not a stack overflow in a later walk */
    char deep[1200];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    CHECK_INT(kumo__doc_parse("deep", deep, sizeof deep, &doc, &err), -EINVAL);
    CHECK(strstr(err.msg, "nesting deeper") != NULL);

    /* the ceiling is checked before reading a byte */
    CHECK_INT(kumo__doc_parse("huge", "", (64u << 20) + 1, &doc, &err), -EFBIG);
}

static void test_aliases(void)
{
    kumo__doc *doc = load(FIX "doc_aliases.yaml");
    if (doc) {
        json_t *r = kumo__doc_root(doc);
        CHECK(json_object_get(r, "first") == json_object_get(r, "base"));
        CHECK(json_object_get(r, "second") == json_object_get(r, "base"));
        CHECK_STR(json_string_value(json_object_get(json_object_get(r, "second"), "timeout")), "10s");
        int line, col;
        CHECK(kumo__doc_pos(doc, json_object_get(r, "first"), &line, &col));
        CHECK_INT(line, 1); /* the anchored node, which starts at its anchor */
        kumo__doc_free(doc);
    }

    kumo__error err = {0};
    doc = NULL;
    CHECK_INT(kumo__doc_load(FIX "doc_bomb.yaml", &doc, &err), -EINVAL);
    CHECK(doc == NULL);
    CHECK(strstr(err.msg, "alias bomb") != NULL);
    CHECK(strncmp(err.msg, FIX "doc_bomb.yaml:7:", strlen(FIX "doc_bomb.yaml:7:")) == 0);

    /* too many aliases, even of a tiny node */
    size_t n = 10001, cap = 32 + n * 5;
    char *text = malloc(cap);
    if (text == NULL)
        return;
    size_t len = (size_t)snprintf(text, cap, "a: &x 1\nb: [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "*x, ");
    len += (size_t)snprintf(text + len, cap - len, "]\n");
    CHECK_INT(kumo__doc_parse("many", text, len, &doc, &err), -EINVAL);
    CHECK(strstr(err.msg, "more than 10000 aliases") != NULL);
    free(text);
}

int main(void)
{
    test_scalars();
    test_positions();
    test_json();
    test_errors();
    test_aliases();
    return check_report();
}
