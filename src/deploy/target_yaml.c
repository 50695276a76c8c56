/*
 * target_yaml.c: a JSON tree as block-style YAML, for the manifests the
 * deploy targets write (Knative and Kubernetes objects, stack.yml, the
 * Swagger 2.0 API config). The output is meant for people as much as for
 * kubectl: plain scalars where they read back as the same string, JSON's
 * double-quoted form otherwise (a valid YAML 1.1 and 1.2 flow scalar), so
 * that "8080", "true" or "1e3" stay strings whichever parser reads them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deploy/target.h"

typedef struct out {
    char **buf;
    size_t *len, *cap;
    int oom;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (*o->len + n + 1 > *o->cap) {
        size_t cap = *o->cap ? *o->cap : 1024;
        while (*o->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(*o->buf, cap);
        if (b == NULL) {
            o->oom = 1;
            return;
        }
        *o->buf = b;
        *o->cap = cap;
    }
    memcpy(*o->buf + *o->len, s, n);
    *o->len += n;
    (*o->buf)[*o->len] = '\0';
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void indent(out *o, int n)
{
    for (int i = 0; i < n; i++)
        put(o, " ", 1);
}

/* A string that a YAML 1.1 or 1.2 parser reads back, unquoted, as the
 * same string. Conservative: anything doubtful is quoted. */
static int plain_ok(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", NULL};
    size_t n = strlen(s);
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == '/'))
        return 0;
    if (s[n - 1] == ' ' || s[n - 1] == ':')
        return 0;
    for (int i = 0; words[i]; i++) {
        if (strcasecmp(s, words[i]) == 0)
            return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch) || strchr("_./-@+=()", ch))
            continue;
        if (ch == ':' && s[i + 1] != ' ')
            continue;
        if (ch == ' ' && s[i + 1] != ' ' && s[i + 1] != '#')
            continue;
        return 0;
    }
    return 1;
}

static void scalar(out *o, const json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_NULL:
        puts_(o, "null");
        break;
    case JSON_TRUE:
        puts_(o, "true");
        break;
    case JSON_FALSE:
        puts_(o, "false");
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        puts_(o, num);
        break;
    case JSON_REAL: {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        if (s == NULL) {
            o->oom = 1;
            break;
        }
        puts_(o, s);
        free(s);
        break;
    }
    case JSON_STRING:
        if (plain_ok(json_string_value(v))) {
            put(o, json_string_value(v), json_string_length(v));
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY);
            if (s == NULL) {
                o->oom = 1;
                break;
            }
            puts_(o, s);
            free(s);
        }
        break;
    default:
        break;
    }
}

static int is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static void key(out *o, const char *k)
{
    json_t *s = json_string(k);
    if (s == NULL) {
        o->oom = 1;
        return;
    }
    scalar(o, s);
    json_decref(s);
    put(o, ":", 1);
}

static void value(out *o, const json_t *v, int level);

/* A mapping whose first line continues one already started (after "- "). */
static void mapping(out *o, const json_t *v, int level, int first_inline)
{
    const char *k;
    json_t *x;
    int first = 1;
    json_object_foreach((json_t *)v, k, x) {
        if (!(first && first_inline))
            indent(o, level);
        first = 0;
        key(o, k);
        if (is_block(x)) {
            put(o, "\n", 1);
            value(o, x, level + 2);
        } else {
            put(o, " ", 1);
            value(o, x, level);
        }
    }
}

static void value(out *o, const json_t *v, int level)
{
    if (json_is_object(v)) {
        if (json_object_size(v) == 0) {
            puts_(o, "{}\n");
            return;
        }
        mapping(o, v, level, 0);
    } else if (json_is_array(v)) {
        if (json_array_size(v) == 0) {
            puts_(o, "[]\n");
            return;
        }
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            indent(o, level);
            if (json_is_object(x) && json_object_size(x)) {
                puts_(o, "- ");
                mapping(o, x, level + 2, 1);
            } else if (is_block(x)) {
                puts_(o, "-\n");
                value(o, x, level + 2);
            } else {
                puts_(o, "- ");
                value(o, x, level);
            }
        }
    } else {
        scalar(o, v);
        put(o, "\n", 1);
    }
}

int kumo__yaml_emit(const json_t *v, char **buf, size_t *len, size_t *cap)
{
    out o = {.buf = buf, .len = len, .cap = cap};
    value(&o, v, 0);
    return o.oom ? -ENOMEM : 0;
}
