/*
 * test_doc.c: doc.c reads YAML and JSON into jansson with positions:
 * scalar resolution, positions of nodes and keys, syntax errors,
 * duplicate keys, aliases and the alias bomb (in nodes and in bytes), the
 * size ceiling, and the JSON reader (surrogate pairs, long keys, large
 * numbers, errors with positions, a large generated document), and every
 * position of a large document in both syntaxes (the table is sorted once
 * the tree is whole and searched by halves), and a large file loaded
 * without a page fault per page of its tree (base/heap.h).
 */
#include "openapi/openapi.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif

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

static int parse_fails_as(const char *name, const char *text, kumo__error *err)
{
    kumo__doc *doc = NULL;
    memset(err, 0, sizeof *err);
    int rc = kumo__doc_parse(name, text, strlen(text), &doc, err);
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

/* A 64 KiB string aliased 100 times in a list, and the list 100 times:
 * few nodes, 66 KB of text, 650 MB written out. */
static char *alias_text(size_t outer, size_t *len)
{
    size_t big = 64 << 10, cap = big + 4096 + outer * 8;
    char *text = malloc(cap);
    if (text == NULL)
        return NULL;
    size_t n = (size_t)snprintf(text, cap, "s: &s \"");
    memset(text + n, 'x', big);
    n += big;
    n += (size_t)snprintf(text + n, cap - n, "\"\nl: &l [");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, cap - n, "*s, ");
    n += (size_t)snprintf(text + n, cap - n, "]\nm: [");
    for (size_t i = 0; i < outer; i++)
        n += (size_t)snprintf(text + n, cap - n, "*l, ");
    n += (size_t)snprintf(text + n, cap - n, "]\n");
    *len = n;
    return text;
}

static void test_alias_bytes(void)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    size_t len;
    char *text = alias_text(100, &len);
    if (text == NULL)
        return;
    CHECK(len < 70000);
    CHECK_INT(kumo__doc_parse("bomb.yaml", text, len, &doc, &err), -EINVAL);
    CHECK(doc == NULL);
    /* the list's own aliases add 6.5 MB, the first *l as much again: the
     * second takes the document past 16 MiB */
    CHECK(strncmp(err.msg, "bomb.yaml:3:9: alias *l repeats ", 32) == 0);
    CHECK(strstr(err.msg, "aliases may add at most 16 MiB to a document") != NULL);
    free(text);

    /* one (13 MB added in all) is within the ceiling */
    text = alias_text(1, &len);
    if (text == NULL)
        return;
    CHECK_INT(kumo__doc_parse("ok.yaml", text, len, &doc, &err), 0);
    if (doc) {
        json_t *m = json_object_get(kumo__doc_root(doc), "m");
        CHECK_INT(json_array_size(m), 1);
        CHECK_INT(json_string_length(json_array_get(json_array_get(m, 0), 99)), 64 << 10);
    }
    kumo__doc_free(doc);
    free(text);
}

static kumo__doc *parse_ok(const char *name, const char *text)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    int rc = kumo__doc_parse(name, text, strlen(text), &doc, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    return doc;
}

static void test_json_reader(void)
{
    /* a surrogate pair in a value and in a key: U+1F44D */
    kumo__doc *doc =
        parse_ok("t.json", "{\n  \"a\": \"ok \\ud83d\\udc4d!\",\n  \"\\uD83D\\uDC4D\": [1, \"\\u00e9\\/\"]\n}");
    if (doc) {
        json_t *r = kumo__doc_root(doc);
        CHECK_STR(json_string_value(json_object_get(r, "a")), "ok \xf0\x9f\x91\x8d!");
        json_t *arr = json_object_get(r, "\xf0\x9f\x91\x8d");
        CHECK_STR(json_string_value(json_array_get(arr, 1)), "\xc3\xa9/");
        int line, col;
        CHECK(kumo__doc_key_pos(doc, r, "\xf0\x9f\x91\x8d", &line, &col));
        CHECK_INT(line, 3);
        CHECK_INT(col, 3);
        CHECK(kumo__doc_pos(doc, arr, &line, &col));
        CHECK_INT(line, 3);
        CHECK_INT(col, 19);
        /* columns count characters, as libyaml's do: "é" is one */
        kumo__doc_free(doc);
    }
    doc = parse_ok("t.json", "{\"\xc3\xa9\xc3\xa9\": [true, \"x\"]}");
    if (doc) {
        int line, col;
        CHECK(kumo__doc_pos(doc, json_array_get(json_object_get(kumo__doc_root(doc), "\xc3\xa9\xc3\xa9"), 1), &line,
                            &col));
        CHECK_INT(col, 15);
        kumo__doc_free(doc);
    }

    /* large numbers: past 64 bits a double, as the YAML reader resolves them */
    doc = parse_ok("n.json", "[12345678901234567890, -9223372036854775807, 1e300, 0.5e-3, -0, 1E+2]");
    if (doc) {
        json_t *r = kumo__doc_root(doc);
        CHECK(json_is_real(json_array_get(r, 0)));
        CHECK(json_real_value(json_array_get(r, 0)) == 12345678901234567890.0);
        CHECK(json_is_integer(json_array_get(r, 1)));
        CHECK_INT(json_integer_value(json_array_get(r, 1)), -9223372036854775807LL);
        CHECK(json_real_value(json_array_get(r, 2)) == 1e300);
        CHECK(json_real_value(json_array_get(r, 3)) == 0.5e-3);
        CHECK_INT(json_integer_value(json_array_get(r, 4)), 0);
        CHECK(json_real_value(json_array_get(r, 5)) == 100.0);
        kumo__doc_free(doc);
    }

    /* a key longer than YAML's 1024-character simple keys */
    char longkey[3000];
    memset(longkey, 0, sizeof longkey);
    strcpy(longkey, "{\"");
    memset(longkey + 2, 'k', 2000);
    strcat(longkey, "\": 1}");
    doc = parse_ok("long.json", longkey);
    if (doc) {
        CHECK_INT(json_object_size(kumo__doc_root(doc)), 1);
        kumo__doc_free(doc);
    }
    /* a file not named .json that starts as JSON is read as JSON */
    doc = parse_ok("spec", "{\"x\": \"\\ud83d\\udc4d\"}");
    if (doc) {
        CHECK_STR(json_string_value(json_object_get(kumo__doc_root(doc), "x")), "\xf0\x9f\x91\x8d");
        kumo__doc_free(doc);
    }
    /* and YAML flow syntax that is no JSON still reads as YAML */
    doc = parse_ok("flow.yaml", "{a: 1, b: [x, y]}");
    if (doc) {
        CHECK_INT(json_integer_value(json_object_get(kumo__doc_root(doc), "a")), 1);
        kumo__doc_free(doc);
    }

    /* refusals, each at its position */
    kumo__error err = {0};
    CHECK_INT(parse_fails_as("t.json", "{\"a\": \"x\\ud83d\"}", &err), -EINVAL);
    CHECK_STR(
        err.msg,
        "t.json:1:9: lone surrogate \\uD83D: a high surrogate must be followed by a low one (\\uDC00 to \\uDFFF)");
    CHECK_INT(parse_fails_as("t.json", "[\n  \"\\udc4d\"]", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:2:4: lone surrogate \\uDC4D: a low surrogate must follow a high one", 72) == 0);
    CHECK_INT(parse_fails_as("t.json", "[\"\\ud83d\\u0041\"]", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:1:3: lone surrogate", 26) == 0);
    CHECK_INT(parse_fails_as("t.json", "[\"\\x41\"]", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:1:3: invalid escape", 26) == 0);
    CHECK_INT(parse_fails_as("t.json", "[\"a\tb\"]", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:1:4: a control character (U+0009)", 40) == 0);
    CHECK_INT(parse_fails_as("t.json", "[\"\xed\xa0\xbd\"]", &err), -EINVAL); /* a surrogate encoded raw */
    CHECK(strncmp(err.msg, "t.json:1:3: invalid UTF-8", 25) == 0);
    CHECK_INT(parse_fails_as("t.json", "{\"a\": 1,\n}", &err), -EINVAL);
    CHECK_STR(err.msg, "t.json:2:1: expected a key in double quotes");
    CHECK_INT(parse_fails_as("t.json", "[1 2]", &err), -EINVAL);
    CHECK_STR(err.msg, "t.json:1:4: expected ',' or ']' (the array starts at line 1, column 1)");
    CHECK_INT(parse_fails_as("t.json", "[01]", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:1:2: expected a JSON value", 33) == 0);
    CHECK_INT(parse_fails_as("t.json", "[tru]", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:1:2: expected a JSON value", 33) == 0);
    CHECK_INT(parse_fails_as("t.json", "{} x", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:1:4: text after the JSON value", 37) == 0);
    CHECK_INT(parse_fails_as("t.json", "[1e999]", &err), -EINVAL);
    CHECK_STR(err.msg, "t.json:1:2: number is out of range");
    char huge[420] = "[1";
    memset(huge + 2, '0', 400);
    strcpy(huge + 402, "]");
    CHECK_INT(parse_fails_as("t.json", huge, &err), -EINVAL);
    CHECK_STR(err.msg, "t.json:1:2: number is out of range");
    CHECK_INT(parse_fails_as("t.json", "{\"a\": \"x", &err), -EINVAL);
    CHECK(strncmp(err.msg, "t.json:1:7: the string that starts here never ends", 50) == 0);
    CHECK_INT(parse_fails_as("t.json", "{\"a\\u0000b\": 1}", &err), -EINVAL);
    CHECK_STR(err.msg, "t.json:1:2: mapping key contains a NUL character");
    CHECK_INT(parse_fails_as("t.json", "{\"a\": 1, \"a\": 2}", &err), -EINVAL);
    CHECK_STR(err.msg, "t.json:1:10: duplicate key 'a' (first at line 1, column 2); remove one");
    /* a .json file with YAML in it says JSON's error */
    CHECK_INT(parse_fails_as("t.json", "{a: 1}", &err), -EINVAL);
    CHECK_STR(err.msg, "t.json:1:2: expected a key in double quotes");
    char deep[1200];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    CHECK_INT(kumo__doc_parse("deep.json", deep, sizeof deep, &doc, &err), -EINVAL);
    CHECK(strstr(err.msg, "nesting deeper") != NULL);
}

/* A generated JSON document of a few MB (a large public API's size), with
 * escapes of every kind, read as jansson reads it, positions included. */
static void test_json_large(void)
{
    size_t cap = 8u << 20, n = 0;
    char *text = malloc(cap);
    if (text == NULL)
        return;
    n += (size_t)snprintf(text + n, cap - n, "{\"paths\": {");
    size_t count = 20000;
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "%s\n  \"/p%zu/{id}\": {\"get\": {\"summary\": \"r\\u00e9sum\\u00e9 \\ud83d\\udc4d "
                              "\\\"%zu\\\"\\n\", \"x\": [%zu, %zu.25, 1e%zu, true, null, \"\\u2603\"]}}",
                              i ? "," : "", i, i, i, i, i % 300);
    n += (size_t)snprintf(text + n, cap - n, "\n}}\n");
    CHECK(n > (2u << 20) && n < cap);
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    int rc = kumo__doc_parse("big.json", text, n, &doc, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    json_error_t jerr;
    json_t *want = json_loadb(text, n, JSON_ALLOW_NUL, &jerr);
    CHECK(want != NULL);
    if (doc && want) {
        CHECK(json_equal(kumo__doc_root(doc), want));
        json_t *paths = json_object_get(kumo__doc_root(doc), "paths");
        int line, col;
        CHECK(kumo__doc_key_pos(doc, paths, "/p12345/{id}", &line, &col));
        CHECK_INT(line, 12347);
        CHECK_INT(col, 3);
    }
    json_decref(want);
    kumo__doc_free(doc);
    free(text);
}

/* Every key, value and container of a generated document of `count`
 * entries has the position its line says: in YAML (`json` 0) and JSON,
 * parsed from memory or (`via_file`) loaded from a file (a YAML file is
 * read as libyaml goes, not whole). */
static void check_every_position(int json, size_t count, int via_file)
{
    size_t cap = count * 64 + 64, n = 0;
    char *text = malloc(cap);
    if (text == NULL)
        return;
    if (json)
        n += (size_t)snprintf(text + n, cap - n, "{\n");
    for (size_t i = 0; i < count; i++) {
        if (json)
            n += (size_t)snprintf(text + n, cap - n, "%s\"k%zu\": [\"s%zu\", %zu]\n", i ? "," : " ", i, i, i);
        else
            n += (size_t)snprintf(text + n, cap - n, "k%zu: [s%zu, %zu]\n", i, i, i);
    }
    if (json)
        n += (size_t)snprintf(text + n, cap - n, "}\n");
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    int rc;
    if (via_file) {
        char path[] = "/tmp/kumo-test-doc-XXXXXX.yaml";
        int fd = mkstemps(path, 5);
        CHECK(fd >= 0);
        CHECK(fd >= 0 && write(fd, text, n) == (ssize_t)n);
        if (fd >= 0)
            close(fd);
        rc = kumo__doc_load(path, &doc, &err);
        unlink(path);
    } else {
        rc = kumo__doc_parse(json ? "t.json" : "t.yaml", text, n, &doc, &err);
    }
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (doc == NULL) {
        free(text);
        return;
    }
    json_t *root = kumo__doc_root(doc);
    int line, col, bad = 0;
    CHECK(kumo__doc_pos(doc, root, &line, &col));
    CHECK_INT(line, 1);
    CHECK_INT(col, 1);
    for (size_t i = 0; i < count && bad < 5; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%zu", i);
        int w = (int)strlen(key) - 1; /* the digits */
        /* YAML: kI: [sI, I]    JSON (after "{" on line 1): ,"kI": ["sI", I] */
        int want_line = (int)i + 1 + json, key_col = json ? 2 : 1, list_col = json ? w + 7 : w + 4;
        int str_col = list_col + 1, num_col = json ? 2 * w + 13 : 2 * w + 8;
        json_t *list = json_object_get(root, key);
        int ok = kumo__doc_key_pos(doc, root, key, &line, &col) && line == want_line && col == key_col;
        ok = ok && kumo__doc_pos(doc, list, &line, &col) && line == want_line && col == list_col;
        ok = ok && kumo__doc_pos(doc, json_array_get(list, 0), &line, &col) && line == want_line && col == str_col;
        ok = ok && kumo__doc_pos(doc, json_array_get(list, 1), &line, &col) && line == want_line && col == num_col;
        if (!ok) {
            fprintf(stderr, "%s: k%zu: a position is wrong (last looked up %d:%d)\n", json ? "json" : "yaml", i, line,
                    col);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
    json_t *foreign = json_string("x");
    CHECK(!kumo__doc_pos(doc, foreign, &line, &col));
    json_decref(foreign);
    kumo__doc_free(doc);
    free(text);
}

static void test_every_position(void)
{
    check_every_position(0, 1, 0);
    check_every_position(1, 1, 0);
    check_every_position(0, 30000, 0);
    check_every_position(1, 30000, 0);
    check_every_position(0, 30000, 1);
    check_every_position(1, 30000, 1); /* JSON in a .yaml file: read whole, as JSON */
}

/* A YAML file is read in pieces: an error far into a large one still
 * names its line and column, bad UTF-8 its byte. */
static void test_yaml_file_errors(void)
{
    size_t count = 20000, cap = count * 32 + 64, n = 0;
    char *text = malloc(cap);
    if (text == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(text + n, cap - n, "k%zu: v%zu\n", i, i);
    size_t good = n;
    const char *tails[] = {"k1: again\n", "bad: [unclosed\n", "bad: \xff\xfe\n"};
    const char *want[] = {":20001:1: duplicate key 'k1' (first at line 2, column 1); remove one",
                          ":20002:1: did not find expected ',' or ']'", ": invalid leading UTF-8 octet at byte "};
    for (int t = 0; t < 3; t++) {
        n = good + (size_t)snprintf(text + good, cap - good, "%s", tails[t]);
        char path[] = "/tmp/kumo-test-doc-XXXXXX.yaml";
        int fd = mkstemps(path, 5);
        CHECK(fd >= 0);
        CHECK(fd >= 0 && write(fd, text, n) == (ssize_t)n);
        if (fd >= 0)
            close(fd);
        kumo__doc *doc = NULL;
        kumo__error err = {0};
        int rc = kumo__doc_load(path, &doc, &err);
        CHECK_INT(rc, -EINVAL);
        CHECK(doc == NULL);
        const char *msg = strncmp(err.msg, path, strlen(path)) == 0 ? err.msg + strlen(path) : err.msg;
        if (strncmp(msg, want[t], strlen(want[t])) != 0)
            fprintf(stderr, "case %d: %s\n", t, err.msg);
        CHECK(strncmp(msg, want[t], strlen(want[t])) == 0);
        kumo__doc_free(doc);
        unlink(path);
    }
    free(text);
}

#ifndef SANITIZED
static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}
#endif

/* A 720 KB JSON file of small values makes a tree of about 14 MB: without
 * room made first, one page fault per 4 KiB page of it (some 3600 here);
 * with it, what outgrows the room (this text is denser than an OpenAPI
 * document: some 550). Counted, not timed. */
static void test_load_faults(void)
{
#ifdef SANITIZED
    /* said loudly, without marking the whole test skipped: the rest ran */
    printf("SKIPPED (this case only): test_load_faults: a sanitizer's allocator is not glibc's, so the heap is "
           "not prepared under it\n");
#else
    void *probe = mmap(NULL, 1u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int populate = probe != MAP_FAILED && madvise(probe, 1u << 20, MADV_POPULATE_WRITE) == 0;
    if (probe != MAP_FAILED)
        munmap(probe, 1u << 20);
    if (!populate) {
        printf("SKIPPED (this case only): test_load_faults: madvise(MADV_POPULATE_WRITE) is refused (Linux "
               "before 5.14)\n");
        return;
    }
    char path[] = "/tmp/kumo-test-doc-XXXXXX.json";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL)
        return;
    fputs("{\"paths\": {", f);
    for (int i = 0; i < 6000; i++)
        fprintf(f,
                "%s\n \"/r%d\": {\"get\": {\"summary\": \"item %d\", \"tags\": [\"a\", \"b\"], \"n\": %d, "
                "\"ok\": true, \"x\": {\"y\": [1, 2.5, \"z\"]}}}",
                i ? "," : "", i, i, i);
    fputs("\n}}\n", f);
    fclose(f);
    long before = minor_faults();
    kumo__doc *doc = load(path);
    long faults = minor_faults() - before;
    fprintf(stderr, "test_load_faults: %ld minor faults loading %s\n", faults, path);
    CHECK(doc != NULL);
    CHECK(faults < 1200);
    kumo__doc_free(doc);
    unlink(path);
#endif
}

int main(void)
{
    test_load_faults(); /* first: later tests leave a heap grown and freed, already mapped */
    test_scalars();
    test_positions();
    test_json();
    test_errors();
    test_aliases();
    test_alias_bytes();
    test_json_reader();
    test_json_large();
    test_every_position();
    test_yaml_file_errors();
    return check_report();
}
