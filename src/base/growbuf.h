/*
 * growbuf.h: a byte buffer that grows up to a ceiling, always
 * NUL-terminated, with the two callbacks libcurl writes responses through
 * (body, and headers that start over at each status line). The AWS store
 * drivers and kumo deploy's AWS calls share it.
 */
#ifndef KUMO_GROWBUF_H
#define KUMO_GROWBUF_H

#include <stddef.h>

typedef struct kumo__growbuf {
    char *data; /* malloc'd; NULL until the first byte */
    size_t len, cap;
    size_t max; /* the ceiling; over it, `over` is set and adding fails */
    int over;
} kumo__growbuf;

/* Appends n bytes; 0, or -1 over the ceiling or out of memory. */
int kumo__growbuf_add(kumo__growbuf *b, const char *p, size_t n);
/* Room for n more bytes and a NUL after data + len, for a writer that
 * fills it through a pointer and then moves len (the OTLP encoders): 0,
 * or -1 with `over` set (over the ceiling or out of memory), and every
 * later call fails too. */
int kumo__growbuf_reserve(kumo__growbuf *b, size_t n);

/* libcurl CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION callbacks
 * (userdata: a kumo__growbuf). A header block restarts at each "HTTP/"
 * status line (after 100 Continue or a redirect). */
size_t kumo__growbuf_curl_body(char *p, size_t size, size_t n, void *ud);
size_t kumo__growbuf_curl_header(char *p, size_t size, size_t n, void *ud);

#endif
