/*
 * growbuf.c: see growbuf.h.
 */
#include "base/growbuf.h"

#include <stdlib.h>
#include <string.h>

int kumo__growbuf_add(kumo__growbuf *b, const char *p, size_t n)
{
    if (b->len + n > b->max) {
        b->over = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int kumo__growbuf_reserve(kumo__growbuf *b, size_t n)
{
    if (b->over || b->len + n > b->max) {
        b->over = 1;
        return -1;
    }
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->over = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

size_t kumo__growbuf_curl_body(char *p, size_t size, size_t n, void *ud)
{
    return kumo__growbuf_add(ud, p, size * n) == 0 ? size * n : 0;
}

size_t kumo__growbuf_curl_header(char *p, size_t size, size_t n, void *ud)
{
    kumo__growbuf *b = ud;
    if (size * n > 5 && strncmp(p, "HTTP/", 5) == 0)
        b->len = 0;
    return kumo__growbuf_add(b, p, size * n) == 0 ? size * n : 0;
}
