/*
 * check_internal.h: what check.c, params.c and media.c share, and what the
 * unit tests reach: the precomputed plan of a parameter or a body field
 * (the shape and scalar types its schema asks for), the parameter parsers
 * by style, scalar coercion, media type parsing and matching, Accept
 * negotiation and the multipart/form-data splitter. None of this needs a
 * compiled schema; check.c puts it together with the validator.
 */
#ifndef KUMO_CHECK_INTERNAL_H
#define KUMO_CHECK_INTERNAL_H

#include "openapi/check.h"

#include <stddef.h>

/* ---- types a schema asks for ------------------------------------------- */

typedef enum kumo__vtype {
    KUMO__VT_STRING = 0, /* also: no type, a union, an object nested too deep */
    KUMO__VT_INTEGER,
    KUMO__VT_NUMBER,
    KUMO__VT_BOOLEAN,
    KUMO__VT_NULL,
} kumo__vtype;

typedef enum kumo__shape {
    KUMO__SHAPE_PRIMITIVE = 0,
    KUMO__SHAPE_ARRAY,
    KUMO__SHAPE_OBJECT,
} kumo__shape;

/* One property of an object-shaped parameter or body: its own shape (a
 * primitive, or an array of primitives) and scalar type. */
typedef struct kumo__field {
    char *name;
    size_t name_len;
    kumo__shape shape; /* PRIMITIVE or ARRAY (an object property is read as a string) */
    kumo__vtype type;  /* the primitive's type, or the array items' */
} kumo__field;

typedef struct kumo__shapeinfo {
    kumo__shape shape;
    kumo__vtype type;    /* PRIMITIVE: its type; ARRAY: the items' type */
    kumo__field *fields; /* OBJECT: declared properties (malloc'd) */
    size_t nfields;
    int additional; /* OBJECT: additionalProperties is present and not false */
    kumo__vtype additional_type;
} kumo__shapeinfo;

/* Reads the shape of `schema` (following top-level $refs through `refs`,
 * which may be NULL). 0, or -ENOMEM. */
int kumo__shapeinfo_read(const json_t *schema, const kumo__refs *refs, kumo__shapeinfo *out);
void kumo__shapeinfo_clear(kumo__shapeinfo *s);
/* The field named name[0..len) or NULL. */
const kumo__field *kumo__shapeinfo_field(const kumo__shapeinfo *s, const char *name, size_t len);

/* A new JSON value for the text s[0..len): an integer, number, boolean or
 * null when `type` asks for one and the text is one; else a string (so
 * that the validator reports the type). NULL: out of memory (or text that
 * is not UTF-8, which becomes the string with bad bytes replaced by U+FFFD). */
json_t *kumo__coerce(const char *s, size_t len, kumo__vtype type);

/* Puts `val` (consumed, NULL: out of memory) at key into obj: an array
 * field (f->shape ARRAY) collects repeated keys, else the last wins. */
int kumo__object_put(json_t *obj, const kumo__field *f, const char *key, size_t klen, json_t *val);

/* ---- parameters -------------------------------------------------------- */

typedef struct kumo__param_plan {
    const kumo__param *param;
    size_t name_len;
    kumo__shapeinfo shape;
    int content_json;     /* `content` with a JSON media type: the raw value is parsed as JSON */
    kumo__schema *schema; /* compiled; NULL when there is none (or no validator) */
    char *pointer;        /* "/query/limit" */
} kumo__param_plan;

enum {
    KUMO__PARAM_ABSENT = 1, /* kumo__param_read: the request does not carry it */
};

/* Reads parameter p out of the request: 0 and *out (a new value) set;
 * KUMO__PARAM_ABSENT; 2 with *problem set (a short message: "is not valid
 * JSON: ...") when its raw text cannot be read; -ENOMEM. Empty values are
 * returned as "" (allowEmptyValue is check.c's business). */
int kumo__param_read(const kumo__param_plan *p, const kumo__http_view *req, json_t **out, char *problem,
                     size_t problem_len);

/* Splits a form-encoded string (a query, or an x-www-form-urlencoded body)
 * on '&'; calls fn with each raw (still encoded) key and value; value is
 * NULL for a bare "key". Stops and returns fn's first nonzero result. */
typedef int (*kumo__form_fn)(void *arg, const char *key, size_t key_len, const char *val, size_t val_len);
int kumo__form_each(const char *s, size_t len, kumo__form_fn fn, void *arg);

/* Reads a form-encoded text into an object whose fields are coerced per
 * `shape` (repeated keys become an array when the field is an array, else
 * the last wins). NULL: out of memory. */
json_t *kumo__form_to_object(const char *s, size_t len, const kumo__shapeinfo *shape);

/* ---- media types ---------------------------------------------------------- */

typedef struct kumo__mtype {
    kumo__slice type, subtype; /* as written; compare case-insensitively */
    kumo__slice params;        /* after the first ';', raw */
} kumo__mtype;

/* Parses "type/subtype; a=b". 0, or -EINVAL when it is not a media type. */
int kumo__mtype_parse(const char *s, size_t len, kumo__mtype *out);
/* The value of parameter `name` (quotes removed; backslash escapes are
 * kept as written). 0 and *value set, or -ENOENT. */
int kumo__mtype_param(const kumo__mtype *m, const char *name, kumo__slice *value);
/* How specifically `range` (may hold wildcards) matches `t`: 3 exact, 2
 * type/any, 1 any/any, 0 no match. */
int kumo__mtype_match(const kumo__mtype *range, const kumo__mtype *t);
/* application/json, any +json: 1. */
int kumo__mtype_is_json(const kumo__mtype *m);

/* Chooses among `ncand` candidate types (in order of preference) what the
 * Accept header value(s) allow: the index, or -1 when none is acceptable.
 * q-values are honoured; the most specific range that matches a candidate
 * gives its quality; ties go to the earlier candidate. */
int kumo__accept_choose(const kumo__slice *accept, size_t naccept, const kumo__mtype *cand, size_t ncand);

/* ---- multipart/form-data ---------------------------------------------------- */

#define KUMO__MULTIPART_MAX_PARTS 1000
#define KUMO__MULTIPART_MAX_HEADER 8192

/* Splits `body` by `boundary` into *parts (malloc'd; slices into body).
 * 0; -EINVAL with *problem set ("has no closing boundary", ...); -ENOMEM. */
int kumo__multipart_parse(kumo__slice body, kumo__slice boundary, kumo__part **parts, size_t *nparts, char *problem,
                          size_t problem_len);

/* The instance of a multipart body: fields coerced per `shape`, files as
 * their content when it is UTF-8 and under 64 KiB, else "". NULL: OOM. */
#define KUMO__MULTIPART_FILE_INLINE_MAX 65536
json_t *kumo__multipart_to_object(const kumo__part *parts, size_t nparts, const kumo__shapeinfo *shape);

/* 1 when s[0..len) is well-formed UTF-8. */
int kumo__utf8_valid(const char *s, size_t len);
/* A JSON string of s[0..len), ill-formed UTF-8 replaced by U+FFFD. NULL: OOM. */
json_t *kumo__string_lossy(const char *s, size_t len);

/* ASCII case-insensitive equality of a slice and a C string. */
int kumo__slice_ieq(kumo__slice s, const char *lit);

#endif
