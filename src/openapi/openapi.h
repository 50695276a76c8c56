/*
 * openapi.h: documents with source positions (doc.c), the OpenAPI document
 * (spec.c) and the router built from it (router.c). The project file
 * kumo.yaml is project/project.h. Control plane: errors go into a kumo__error with
 * file:line:column, wrapped with context by each layer; only the CLI prints.
 */
#ifndef KUMO_OPENAPI_H
#define KUMO_OPENAPI_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* ---- documents: YAML (1.2 core scalars) or JSON, with positions -------- */

typedef struct kumo__doc kumo__doc;

/* Parses the file at `path` into a JSON tree. Syntax errors name
 * path:line:column. */
int kumo__doc_load(const char *path, kumo__doc **out, kumo__error *err);
/* Parses a buffer; `name` is used in messages. */
int kumo__doc_parse(const char *name, const char *text, size_t len, kumo__doc **out, kumo__error *err);
void kumo__doc_free(kumo__doc *doc);
json_t *kumo__doc_root(const kumo__doc *doc);
const char *kumo__doc_path(const kumo__doc *doc);
/* 1-based line and column where `node` starts in the source; 0 when the
 * node was not read from this document. */
int kumo__doc_pos(const kumo__doc *doc, const json_t *node, int *line, int *col);
/* Sets err to "path:line:col: <message>" for `node` (or "path: " when it
 * has no position). */
void kumo__doc_error(kumo__error *err, const kumo__doc *doc, const json_t *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Mapping keys are not json_t nodes, and jansson's null, true and false are
 * shared singletons with no position of their own; these name the key
 * `key` of mapping `object` (key_pos: 0 when unknown), or its value when
 * that has a position and else the key (value_error). */
int kumo__doc_key_pos(const kumo__doc *doc, const json_t *object, const char *key, int *line, int *col);
void kumo__doc_key_error(kumo__error *err, const kumo__doc *doc, const json_t *object, const char *key, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));
void kumo__doc_value_error(kumo__error *err, const kumo__doc *doc, const json_t *object, const char *key,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- the OpenAPI document ------------------------------------------------ */

typedef enum kumo__param_in {
    KUMO__IN_PATH,
    KUMO__IN_QUERY,
    KUMO__IN_HEADER,
    KUMO__IN_COOKIE,
} kumo__param_in;

typedef enum kumo__param_style {
    KUMO__STYLE_FORM,
    KUMO__STYLE_SIMPLE,
    KUMO__STYLE_LABEL,
    KUMO__STYLE_MATRIX,
    KUMO__STYLE_SPACE_DELIMITED,
    KUMO__STYLE_PIPE_DELIMITED,
    KUMO__STYLE_DEEP_OBJECT,
} kumo__param_style;

/* A Parameter Object, resolved ($ref followed), path-level and
 * operation-level merged (the operation's wins on name+in). Swagger 2.0
 * parameters are converted: type/format/items/enum/... become a schema,
 * collectionFormat becomes style+explode (csv: form/simple explode=false,
 * ssv: spaceDelimited, pipes: pipeDelimited, multi: form explode=true). */
typedef struct kumo__param {
    char *name;
    kumo__param_in in;
    kumo__param_style style; /* default by `in`: query/cookie form, path/header simple */
    int explode;             /* default: 1 for form, else 0 */
    int required;            /* path parameters are always required */
    int allow_empty;         /* allowEmptyValue */
    int allow_reserved;
    json_t *schema;              /* resolved schema, borrowed from the document set; NULL with `content` */
    char *content_type;          /* the one media type of `content` (e.g. application/json), or NULL */
    const char *schema_location; /* for messages: "/paths/~1todos/get/parameters/0/schema" */
} kumo__param;

/* One entry of a content map (requestBody or a response). */
typedef struct kumo__media {
    char *type;     /* lower case, as written: application/json, text/plain, a wildcard */
    json_t *schema; /* resolved, borrowed; NULL when the media type has none */
    const char *schema_location;
} kumo__media;

typedef struct kumo__response {
    char *status; /* "200", "2XX", "default" */
    kumo__media *content;
    size_t ncontent;
    char **headers; /* names of declared response headers (lower case) */
    size_t nheaders;
} kumo__response;

typedef struct kumo__operation {
    char *method;        /* upper case: GET, POST, ... */
    char *path;          /* the template as written: /todos/{id} */
    char *operation_id;  /* may be NULL */
    char *unit;          /* from x-kumo-handler UNIT.SYMBOL; NULL: not said */
    char *symbol;        /* x-kumo-handler's SYMBOL, else operationId; NULL: none */
    json_t *node;        /* the Operation Object (borrowed from the doc) */
    int unit_index;      /* resolved by the gateway; -1 when unbound */
    kumo__param *params; /* resolved and merged; see kumo__param */
    size_t nparams;
    kumo__media *body; /* requestBody content (Swagger: body param + consumes, or formData) */
    size_t nbody;      /* 0: the operation declares no body */
    int body_required;
    kumo__response *responses;
    size_t nresponses;
} kumo__operation;

typedef struct kumo__spec {
    kumo__doc *doc; /* the main document; others are loaded as $refs need them */
    int version;    /* 20 (Swagger 2.0), 30 (3.0.x), 31 (3.1.x) */
    char *title;
    char *base_path; /* "" or "/v1" (from servers[0].url or basePath) */
    kumo__operation *ops;
    size_t nops;
    int dialect;                   /* kumo__dialect of schema.h: 30 for 2.0 and 3.0, 31 for 3.1 */
    const struct kumo__refs *refs; /* resolves $refs across the spec's files (schema.h) */
    void *docset;                  /* spec.c's loaded documents, owned */
} kumo__spec;

int kumo__spec_load(const char *path, kumo__spec **out, kumo__error *err);
void kumo__spec_free(kumo__spec *spec);
/* The document `node` was read from (a schema in another file reached by
 * a $ref), for kumo__doc_error; spec->doc when no loaded document holds it
 * (a schema synthesized from Swagger 2.0 parameters). */
kumo__doc *kumo__spec_doc_of(const kumo__spec *spec, const json_t *node);

/* ---- the router ------------------------------------------------------------ */

#define KUMO__ROUTE_PARAMS_MAX 16

typedef struct kumo__router kumo__router;

typedef struct kumo__route_match {
    const kumo__operation *op;
    size_t op_index; /* index into spec->ops */
    size_t nparams;
    struct {
        const char *name;  /* NUL-terminated, owned by the router */
        const char *value; /* raw slice of the request path: still percent-encoded */
        size_t value_len;
    } params[KUMO__ROUTE_PARAMS_MAX];
    char allow[128]; /* on -EMETHOD: "GET, DELETE" */
} kumo__route_match;

#define KUMO__EMETHOD 1405 /* returned negated: path known, method not */

/* Builds a router over spec->ops (the spec must outlive it). Refuses
 * duplicate (method, path) pairs and malformed templates. */
int kumo__router_build(const kumo__spec *spec, kumo__router **out, kumo__error *err);
void kumo__router_free(kumo__router *r);
/* Matches `path` (no query; percent-encoded as received): 0 and *m
 * filled; -ENOENT when no path matches; -KUMO__EMETHOD when a path matches
 * but not the method (m->allow lists those that do). The base path is
 * stripped first. Concrete segments win over templated ones. */
int kumo__router_match(const kumo__router *r, const char *method, const char *path, size_t path_len,
                       kumo__route_match *m);

#endif
