/*
 * schema_format.h: private to the schema validator (schema.c and
 * schema_format.c): the `format` checks, UTF-8 length, and RFC 3986
 * reference resolution for $id/$ref.
 */
#ifndef KUMO_SCHEMA_FORMAT_H
#define KUMO_SCHEMA_FORMAT_H

#include <jansson.h>
#include <stddef.h>

enum kumo__format {
    KUMO__FMT_NONE = 0, /* unknown or absent: passes */
    KUMO__FMT_DATE_TIME,
    KUMO__FMT_DATE,
    KUMO__FMT_TIME,
    KUMO__FMT_EMAIL,
    KUMO__FMT_UUID,
    KUMO__FMT_URI,
    KUMO__FMT_URI_REFERENCE,
    KUMO__FMT_IPV4,
    KUMO__FMT_IPV6,
    KUMO__FMT_HOSTNAME,
    KUMO__FMT_INT32,
    KUMO__FMT_INT64,
    KUMO__FMT_FLOAT,
    KUMO__FMT_DOUBLE,
    KUMO__FMT_BYTE,
    KUMO__FMT_BINARY,
    KUMO__FMT_REGEX,
    KUMO__FMT_JSON_POINTER,
};

/* The format named `name`, or KUMO__FMT_NONE when kumo does not check it. */
enum kumo__format kumo__format_lookup(const char *name);
/* 1 when `v` satisfies the format (values of other types always do). On
 * failure *hint is a short description for messages ("RFC 3339 date-time,
 * e.g. 2024-05-01T12:00:00Z"). */
int kumo__format_check(enum kumo__format f, const json_t *v, const char **hint);

/* Code points in a UTF-8 string of `len` bytes. */
size_t kumo__utf8_length(const char *s, size_t len);

/* Resolves `ref` against the absolute `base` (RFC 3986 section 5.2) into a
 * malloc'd string, or NULL when out of memory. */
char *kumo__uri_resolve(const char *base, const char *ref);

#endif
