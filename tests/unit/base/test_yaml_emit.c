/*
 * test_yaml_emit.c: the one JSON -> YAML writer (base/yaml_emit.c). Every
 * tricky string is written as a value and as a key, then read back twice:
 * through kumo's own loader (libyaml, the YAML 1.2 core schema kumo reads
 * specs with) and through PyYAML (YAML 1.1, what many deploy tools read
 * with; skipped, saying so, when python3 has no yaml module). Both must
 * give the same JSON. Then the forms themselves: plain where that is safe,
 * a literal block for multi-line text, quoted placeholders, floats with a
 * '.', the explicit key form for very long keys, and the buffer's ceiling.
 */
#include "base/yaml_emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "openapi/openapi.h"

static const char *const tricky[] = {
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "",
    " ",
    "0x10",
    "0o17",
    "010",
    "1_000",
    "12:30",
    "12:30:45",
    "2026-01-01",
    "1e3",
    ".inf",
    "-.inf",
    ".nan",
    "+1",
    "-",
    "- x",
    "? x",
    "! x",
    "&anchor",
    "*alias",
    "|",
    ">",
    "%TAG",
    "@at",
    "`tick`",
    "'single'",
    "\"double\"",
    "  leading",
    "trailing  ",
    "a: b",
    "a:b",
    "a:",
    "key: value: more",
    "#comment",
    "a #b",
    "a#b",
    "a, b",
    "[x]",
    "{x: 1}",
    "${KUMO_URL_TODOS}",
    "$ref",
    "héllo wörld",
    "日本語",
    "tab\there",
    "line\nbreak",
    "two\nlines\n",
    "ends with two\n\n",
    "\nleading newline",
    "  indented\nblock",
    "trailing space \nnext",
    "cr\r\nlf",
    "nul-free \x01 control",
    "\xc2\x85 next line",
    "\xe2\x80\xa8",
    "\xef\xbb\xbf bom",
    "back\\slash",
    "<<",
    "=",
    "Buy milk",
    "/path/{id}",
    "application/json",
    "a  b",
    "x\ty",
};

static json_t *parse_kumo(const char *text)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    if (kumo__doc_parse("emit.yaml", text, strlen(text), &doc, &err) != 0) {
        fprintf(stderr, "kumo's loader refused the YAML: %s\n%s\n", err.msg, text);
        return NULL;
    }
    json_t *v = json_incref(kumo__doc_root(doc));
    kumo__doc_free(doc);
    return v;
}

/* PyYAML's reading as JSON; NULL when it failed; *skip when python3 or its
 * yaml module is missing. */
static json_t *parse_pyyaml(const char *text, int *skip)
{
    char in[] = "/tmp/kumo-yaml-XXXXXX";
    int fd = mkstemp(in);
    if (fd < 0)
        return NULL;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1], encoding=\"utf-8\")), "
             "sys.stdout)' %s 2>/dev/null || echo SKIP",
             in);
    FILE *p = ok ? popen(cmd, "r") : NULL;
    char *out = NULL;
    size_t cap = 0, n = 0;
    if (p) {
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
            out = realloc(out, cap = n + got + 1);
            memcpy(out + n, chunk, got);
            n += got;
            out[n] = '\0';
        }
        pclose(p);
    }
    unlink(in);
    json_t *v = NULL;
    if (out && strncmp(out, "SKIP", 4) == 0 && system("python3 -c 'import yaml' 2>/dev/null") != 0)
        *skip = 1;
    else if (out)
        v = json_loads(out, JSON_DECODE_ANY, NULL);
    free(out);
    return v;
}

static void test_round_trip(void)
{
    json_t *values = json_array(), *keys = json_object();
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        json_array_append_new(values, json_string(tricky[i]));
        json_object_set_new(keys, tricky[i], json_string(tricky[i]));
    }
    json_t *doc = json_pack("{s:O, s:O, s:{s:O}, s:[[s,s],[]], s:[f,f,f,I]}", "values", values, "keys", keys, "nested",
                            "deeper", values, "lists", "a", "b", "numbers", 1.0, 1e20, -1.5e-7, (json_int_t)-42);
    char *text = kumo__yaml_dump(doc);
    CHECK(text != NULL);
    json_t *back = text ? parse_kumo(text) : NULL;
    CHECK(back != NULL && json_equal(back, doc));
    int skip = 0;
    json_t *py = text ? parse_pyyaml(text, &skip) : NULL;
    if (skip) {
        fprintf(stderr, "test_yaml_emit: SKIPPED the PyYAML (YAML 1.1) read-back: python3 has no yaml module\n");
    } else {
        CHECK(py != NULL && json_equal(py, doc));
        if (py && !json_equal(py, doc)) {
            char *a = json_dumps(py, JSON_INDENT(1));
            fprintf(stderr, "PyYAML read:\n%s\nfrom:\n%s\n", a, text);
            free(a);
        }
    }
    json_decref(py);
    json_decref(back);
    free(text);
    json_decref(doc);
    json_decref(values);
    json_decref(keys);
}

/* Single values: what each becomes, byte for byte. */
static void form(const char *s, const char *expected)
{
    json_t *v = json_pack("{s:s}", "k", s);
    char *text = kumo__yaml_dump(v);
    CHECK(text != NULL);
    if (text && strcmp(text, expected) != 0) {
        CHECK_STR(text, expected);
    } else {
        CHECK(1);
    }
    free(text);
    json_decref(v);
}

static void test_forms(void)
{
    form("Buy milk", "k: Buy milk\n");
    form("yes", "k: \"yes\"\n");
    form("0x10", "k: \"0x10\"\n");
    form("", "k: \"\"\n");
    form("  lead", "k: \"  lead\"\n");
    form("a: b", "k: \"a: b\"\n");
    form("#x", "k: \"#x\"\n");
    form("a, b", "k: a, b\n");
    form("$ref", "k: $ref\n");
    form("${KUMO_URL_TODOS}", "k: \"${KUMO_URL_TODOS}\"\n");
    form("héllo", "k: \"héllo\"\n");
    form("\xc2\x85", "k: \"\\x85\"\n");
    form("\xe2\x80\xa8", "k: \"\\u2028\"\n");
    form("two\nlines\n", "k: |\n  two\n  lines\n");
    form("two\nlines", "k: |-\n  two\n  lines\n");
    form("  two\nlines", "k: \"  two\\nlines\"\n");

    json_t *v = json_pack("{s:f, s:[[s],[]], s:{}, s:n, s:b}", "f", 1e20, "aa", "x", "o", "z", "t", 1);
    char *text = kumo__yaml_dump(v);
    CHECK_STR(text, "f: 1.0e+20\naa:\n  - - x\n  - []\no: {}\nz: null\nt: true\n");
    free(text);
    json_decref(v);

    /* implicit keys stop at 1024 characters: a longer one is explicit */
    char key[1101];
    memset(key, 'k', 1100);
    key[1100] = '\0';
    v = json_pack("{s:i}", key, 1);
    text = kumo__yaml_dump(v);
    CHECK(text && strncmp(text, "? \"kkk", 6) == 0 && strstr(text, "\"\n: 1\n") != NULL);
    json_t *back = text ? parse_kumo(text) : NULL;
    CHECK(back && json_equal(back, v));
    json_decref(back);
    free(text);
    json_decref(v);
}

/* Appending to a caller's buffer, and its ceiling. */
static void test_buffer(void)
{
    json_t *v = json_pack("{s:s}", "name", "todo");
    kumo__growbuf b = {.max = 1 << 20};
    CHECK_INT(kumo__growbuf_add(&b, "---\n", 4), 0);
    CHECK_INT(kumo__yaml_emit(v, &b), 0);
    CHECK_INT(kumo__yaml_emit(v, &b), 0);
    CHECK_STR(b.data, "---\nname: todo\nname: todo\n");
    free(b.data);
    kumo__growbuf small = {.max = 5};
    CHECK_INT(kumo__yaml_emit(v, &small), -1);
    CHECK(small.over);
    free(small.data);
    json_decref(v);
}

int main(void)
{
    test_round_trip();
    test_forms();
    test_buffer();
    return check_report();
}
