/*
 * pointer.c: see pointer.h.
 */
#include "openapi/pointer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/percent.h"

/* Unescapes one token (~1 -> /, ~0 -> ~) into out; -1 when malformed. */
static long unescape(const char *s, size_t len, char *out, int uri_fragment)
{
    char tmp[1024];
    if (len >= sizeof(tmp))
        return -1;
    if (uri_fragment) {
        ssize_t n = kumo__percent_decode_into(s, len, tmp, 0);
        if (n < 0)
            return -1;
        s = tmp;
        len = (size_t)n;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '~') {
            if (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1'))
                return -1;
            out[o++] = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return (long)o;
}

json_t *kumo__pointer_get(const json_t *root, const char *ptr, size_t len, int uri_fragment)
{
    json_t *node = (json_t *)root;
    size_t i = 0;
    char token[1024];
    if (len == 0)
        return node;
    if (ptr[0] != '/')
        return NULL;
    while (i < len && node != NULL) {
        size_t start = ++i;
        while (i < len && ptr[i] != '/')
            i++;
        long n = unescape(ptr + start, i - start, token, uri_fragment);
        if (n < 0)
            return NULL;
        if (json_is_object(node)) {
            node = json_object_getn(node, token, (size_t)n);
        } else if (json_is_array(node)) {
            char *end;
            if (n == 0 || (n > 1 && token[0] == '0'))
                return NULL;
            unsigned long idx = strtoul(token, &end, 10);
            if (*end != '\0')
                return NULL;
            node = json_array_get(node, idx);
        } else {
            return NULL;
        }
    }
    return node;
}

static void put(kumo__ptrbuf *p, const char *s, size_t n)
{
    const size_t cap = sizeof(p->buf) - 4; /* room for "..." */
    if (p->len + n > cap) {
        memcpy(p->buf + (p->len < cap ? p->len : cap), "...", 4);
        p->len = cap + 3;
        return;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

size_t kumo__ptrbuf_push(kumo__ptrbuf *p, const char *token, size_t len)
{
    size_t before = p->len;
    put(p, "/", 1);
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '~')
            put(p, "~0", 2);
        else if (token[i] == '/')
            put(p, "~1", 2);
        else
            put(p, token + i, 1);
    }
    return before;
}

size_t kumo__ptrbuf_push_index(kumo__ptrbuf *p, size_t index)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%zu", index);
    size_t before = p->len;
    put(p, "/", 1);
    put(p, num, (size_t)n);
    return before;
}
