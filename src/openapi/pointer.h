/*
 * pointer.h: JSON Pointers (RFC 6901) as they appear in $ref fragments and
 * in error messages: reading them (with ~0 ~1 and URI percent-encoding)
 * and building them (escaping names).
 */
#ifndef KUMO_POINTER_H
#define KUMO_POINTER_H

#include <jansson.h>
#include <stddef.h>

/* The node at `ptr` (len bytes, "" = the root, else starting with '/')
 * under `root`, or NULL when absent or malformed. With `uri_fragment`,
 * each token is percent-decoded first (a $ref's "#/paths/~1todos%7Bid%7D").
 * Borrowed. */
json_t *kumo__pointer_get(const json_t *root, const char *ptr, size_t len, int uri_fragment);

/* A pointer being built: a fixed buffer, truncated (and marked with "...")
 * past its size, so building never fails. */
typedef struct kumo__ptrbuf {
    char buf[512];
    size_t len;
} kumo__ptrbuf;

static inline void kumo__ptrbuf_init(kumo__ptrbuf *p)
{
    p->buf[0] = '\0';
    p->len = 0;
}

/* Appends "/token" with ~ and / escaped; returns the previous length, for
 * kumo__ptrbuf_truncate to restore. */
size_t kumo__ptrbuf_push(kumo__ptrbuf *p, const char *token, size_t len);
size_t kumo__ptrbuf_push_index(kumo__ptrbuf *p, size_t index);
static inline void kumo__ptrbuf_truncate(kumo__ptrbuf *p, size_t len)
{
    p->len = len;
    p->buf[len] = '\0';
}

#endif
