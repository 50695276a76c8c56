/*
 * yaml_emit.c: JSON to block YAML (see yaml_emit.h).
 *
 * The quoting rule, in one place (plain_ok): a string is plain when it
 * starts with a letter, '/', '_' or '$' (never a number, a date, an
 * indicator or .inf), holds printable ASCII only, has no ": " or " #", no
 * trailing ':' or blank, is at most 200 characters, is not a YAML 1.1
 * bool or null in any case (y, no, On, NULL, ~...), and holds no "${":
 * deploy files carry ${VAR} placeholders that scripts substitute as text
 * (deploy.sh's sed), and a quoted placeholder stays one string whatever
 * is put in its place. Everything else is double-quoted with YAML's own
 * escapes, which also cover what a YAML 1.1 reader refuses raw (C1
 * controls, U+2028/9, U+FEFF), or written as a literal block when it is
 * multi-line text that reads back exactly (block_ok). Floats always carry
 * a '.' (1.0e+20): a YAML 1.1 reader takes 1e+20 for a string. Keys over
 * 1000 characters use the explicit "? " form (implicit keys stop at 1024).
 */
#include "base/yaml_emit.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appending never stops half-way through a call: after a failure the
 * rest is skipped and `failed` says so. */
typedef struct out {
    kumo__growbuf *b;
    int failed;
} out;

static void buf_add(out *o, const char *s, size_t n)
{
    if (!o->failed && kumo__growbuf_add(o->b, s, n) != 0)
        o->failed = 1;
}

static void buf_str(out *o, const char *s)
{
    buf_add(o, s, strlen(s));
}

static void buf_indent(out *o, int n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        int k = n < 32 ? n : 32;
        buf_add(o, spaces, (size_t)k);
        n -= k;
    }
}

static char last_char(const out *o)
{
    return o->b->len ? o->b->data[o->b->len - 1] : '\0';
}

static int is_reserved_word(const char *s)
{
    static const char *const words[] = {
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", NULL,
    };
    char low[8];
    size_t n = strlen(s);
    if (n >= sizeof(low))
        return 0;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    for (const char *const *w = words; *w; w++)
        if (strcmp(low, *w) == 0)
            return 1;
    return 0;
}

/* A string that may be written plain (the rule in the opening comment). */
static int plain_ok(const char *s, size_t len)
{
    if (len == 0 || len > 200 || strlen(s) != len)
        return 0;
    char c0 = s[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '/' || c0 == '_' || c0 == '$'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
        if (c == ':' && (i + 1 == len || s[i + 1] == ' '))
            return 0;
        if (c == '#' && s[i - 1] == ' ')
            return 0;
    }
    if (s[len - 1] == ' ' || strstr(s, "${") != NULL)
        return 0;
    return !is_reserved_word(s);
}

/* Length of the UTF-8 sequence at s (1 for an invalid byte) and its code
 * point in *cp. */
static size_t utf8_next(const unsigned char *s, size_t left, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 1;
    if (n == 1 || n > left) {
        *cp = 0xfffd;
        return 1;
    }
    uint32_t v = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++)
        v = (v << 6) | (s[i] & 0x3f);
    *cp = v;
    return n;
}

static void yaml_quoted(out *b, const char *s, size_t len)
{
    char tmp[16];
    buf_add(b, "\"", 1);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (c == '"' || c == '\\') {
            buf_add(b, "\\", 1);
            buf_add(b, s + i, 1);
        } else if (c == '\n') {
            buf_add(b, "\\n", 2);
        } else if (c == '\t') {
            buf_add(b, "\\t", 2);
        } else if (c == '\r') {
            buf_add(b, "\\r", 2);
        } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            snprintf(tmp, sizeof(tmp), "\\x%02" PRIx32, cp);
            buf_str(b, tmp);
        } else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe || cp == 0xffff ||
                   (cp >= 0xd800 && cp <= 0xdfff)) {
            snprintf(tmp, sizeof(tmp), "\\u%04" PRIx32, cp);
            buf_str(b, tmp);
        } else {
            buf_add(b, s + i, n);
        }
        i += n;
    }
    buf_add(b, "\"", 1);
}

/* Multi-line text as a literal block (|, |-), when that reads back
 * exactly: every character printable, no line with trailing blanks, the
 * first line not indented, at most one final newline. */
static int block_ok(const char *s, size_t len)
{
    if (memchr(s, '\n', len) == NULL || strlen(s) != len)
        return 0;
    if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
        return 0;
    if (len >= 2 && s[len - 1] == '\n' && s[len - 2] == '\n')
        return 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == '\r' || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
            cp == 0x2028 || cp == 0x2029 || cp >= 0xfeff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffd)
            return 0;
        if (cp == '\n' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
            return 0;
        i += n;
    }
    return s[len - 1] != ' ' && s[len - 1] != '\t';
}

static void yaml_block(out *b, const char *s, size_t len, int indent)
{
    buf_str(b, s[len - 1] == '\n' ? "|\n" : "|-\n");
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(s + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - s) : len;
        if (end > start)
            buf_indent(b, indent);
        buf_add(b, s + start, end - start);
        buf_add(b, "\n", 1);
        start = end + 1;
    }
}

static void yaml_string(out *b, const char *s, size_t len)
{
    if (plain_ok(s, len))
        buf_add(b, s, len);
    else
        yaml_quoted(b, s, len);
}

static void yaml_real(out *b, double d)
{
    char tmp[48];
    snprintf(tmp, sizeof(tmp), "%.17g", d);
    /* YAML 1.1 readers want a '.' in a float: 1e+20 -> 1.0e+20, 3 -> 3.0 */
    if (strchr(tmp, '.') == NULL) {
        char *e = strchr(tmp, 'e');
        char out[56];
        if (e)
            snprintf(out, sizeof(out), "%.*s.0%s", (int)(e - tmp), tmp, e);
        else
            snprintf(out, sizeof(out), "%s.0", tmp);
        buf_str(b, out);
        return;
    }
    buf_str(b, tmp);
}

static int is_empty_container(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0);
}

static void yaml_node(out *b, const json_t *v, int indent, int depth, int inline_first);

/* Writes a scalar or empty container on the current line, or nothing when
 * the value is a block collection (the caller puts it on new lines). */
static int yaml_inline(out *b, const json_t *v, int indent)
{
    char tmp[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (json_object_size(v) > 0)
            return 0;
        buf_str(b, "{}");
        return 1;
    case JSON_ARRAY:
        if (json_array_size(v) > 0)
            return 0;
        buf_str(b, "[]");
        return 1;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (block_ok(s, len))
            yaml_block(b, s, len, indent);
        else
            yaml_string(b, s, len);
        return 1;
    }
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_str(b, tmp);
        return 1;
    case JSON_REAL: yaml_real(b, json_real_value(v)); return 1;
    case JSON_TRUE: buf_str(b, "true"); return 1;
    case JSON_FALSE: buf_str(b, "false"); return 1;
    default: buf_str(b, "null"); return 1;
    }
}

/* A value after "key:" or "- ": same line when inline, else the
 * collection on the following lines at `indent`. A block scalar brings
 * its own newline. */
static void yaml_value(out *b, const json_t *v, int indent, int depth)
{
    size_t before = b->b->len;
    if (yaml_inline(b, v, indent)) {
        if (b->b->len == before || last_char(b) != '\n')
            buf_add(b, "\n", 1);
        return;
    }
    buf_add(b, "\n", 1);
    yaml_node(b, v, indent, depth + 1, 0);
}

static void yaml_key(out *b, const char *key)
{
    size_t len = strlen(key);
    if (len > 1000) { /* implicit keys are limited to 1024 characters */
        buf_str(b, "? ");
        yaml_quoted(b, key, len);
        buf_str(b, "\n:"); /* the caller adds the space or the newline */
        return;
    }
    yaml_string(b, key, len);
    buf_str(b, ":");
}

/* A block collection at `indent`; with `inline_first` its first line
 * continues the current one (after "- "). */
static void yaml_node(out *b, const json_t *v, int indent, int depth, int inline_first)
{
    int first = 1;
    if (depth > 1000) {
        buf_str(b, "null\n");
        return;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item)
        {
            if (!(first && inline_first))
                buf_indent(b, indent);
            first = 0;
            yaml_key(b, key);
            if (!is_empty_container(item) && (json_is_object(item) || json_is_array(item))) {
                buf_add(b, "\n", 1);
                yaml_node(b, item, indent + 2, depth + 1, 0);
            } else {
                buf_add(b, " ", 1);
                yaml_value(b, item, indent + 2, depth);
            }
        }
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!(first && inline_first))
            buf_indent(b, indent);
        first = 0;
        buf_str(b, "- ");
        if (!is_empty_container(item) && (json_is_object(item) || json_is_array(item)))
            yaml_node(b, item, indent + 2, depth + 1, 1);
        else
            yaml_value(b, item, indent + 2, depth);
    }
}

int kumo__yaml_emit(const json_t *v, kumo__growbuf *b)
{
    out o = {.b = b};
    if (is_empty_container(v) || !(json_is_object(v) || json_is_array(v)))
        yaml_value(&o, v, 2, 0);
    else
        yaml_node(&o, v, 0, 0, 0);
    return o.failed ? -1 : 0;
}

char *kumo__yaml_dump(const json_t *v)
{
    kumo__growbuf b = {.max = SIZE_MAX / 2};
    if (kumo__yaml_emit(v, &b) != 0 || b.data == NULL) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
