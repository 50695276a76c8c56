/*
 * docset.h: the documents of one OpenAPI description (the main file and
 * every file a $ref reaches, each loaded once, by real path) and $ref
 * resolution across them. Shared by spec.c (OpenAPI 3.x) and swagger.c
 * (Swagger 2.0); the validator reaches it through the kumo__refs it
 * embeds (spec->refs).
 *
 * A place in the set is a kumo__loc: the document and the JSON Pointer of
 * a node in it, so that messages and schema locations can say where a
 * thing was found after refs were followed.
 */
#ifndef KUMO_DOCSET_H
#define KUMO_DOCSET_H

#include <jansson.h>

#include "openapi/openapi.h"
#include "openapi/pointer.h"
#include "openapi/schema.h"

typedef struct kumo__docset kumo__docset;

/* Where a node is: its document and its pointer in it (escaped, as in a
 * message: "/paths/~1todos/get"). */
typedef struct kumo__loc {
    kumo__doc *doc;
    kumo__ptrbuf ptr;
} kumo__loc;

/* Loads the main document. The set owns every document it loads. */
int kumo__docset_open(const char *path, kumo__docset **out, kumo__error *err);
void kumo__docset_free(kumo__docset *ds);
kumo__doc *kumo__docset_main(const kumo__docset *ds);
/* The documents loaded so far (the main one first), by real path: what
 * kumo dev watches and a reload fingerprints. */
size_t kumo__docset_count(const kumo__docset *ds);
const char *kumo__docset_real_path(const kumo__docset *ds, size_t i);
/* The kumo__refs the validator calls (spec->refs); lives as long as ds.
 * It may load a file not loaded yet, so call it at start-up (schema
 * compilation), never from request threads. */
const kumo__refs *kumo__docset_refs(const kumo__docset *ds);
/* The loaded document `node` was read from, or NULL (a synthesized node,
 * or a singleton: null, true, false). */
kumo__doc *kumo__docset_doc_of(const kumo__docset *ds, const json_t *node);
/* Keeps `node` (a new reference, consumed) alive as long as the set:
 * schemas synthesized from Swagger 2.0 parameters. Returns it, or NULL
 * when memory ran out (then it was released). */
json_t *kumo__docset_keep(kumo__docset *ds, json_t *node);

/* Resolves the $ref string `ref` found as the "$ref" value of `holder` (a
 * mapping read from from->doc): loads the file it names if needed and
 * returns the target, with *to set to its location. Errors (remote refs,
 * missing files, missing targets) are positioned at the $ref. */
json_t *kumo__docset_resolve(kumo__docset *ds, const kumo__loc *from, const json_t *holder, const char *ref,
                             kumo__loc *to, kumo__error *err);
/* Follows `node` (at *loc) while it is a Reference Object ({$ref: ...}),
 * updating *loc; a cycle of refs or a chain longer than 32 is an error.
 * Returns the object reached (node itself when it is no ref). `what`
 * names the expected object for messages ("parameter"). */
json_t *kumo__docset_deref(kumo__docset *ds, json_t *node, kumo__loc *loc, const char *what, kumo__error *err);

/* "/components/schemas/Pet" for the main document, "pets.yaml#/Pet" for
 * another (its path relative to the main document's folder); malloc'd. */
char *kumo__docset_location(const kumo__docset *ds, const kumo__loc *loc);

/* Where the place a location names is in its source ("/components/schemas/
 * Pet/minimum" in the main document, "pets.yaml#/Pet/minimum" in another,
 * as kumo__docset_location and the schema compiler's messages write them;
 * `len` bytes): its document and the 1-based line and column of the node,
 * or of its key when the node has no position of its own (null, true,
 * false). 1 when found, 0 when it names nothing loaded. */
int kumo__docset_location_pos(const kumo__docset *ds, const char *location, size_t len, kumo__doc **doc, int *line,
                              int *col);

/* ---- shared by spec.c (OpenAPI 3.x) and swagger.c (Swagger 2.0) ---------- */

int kumo__spec_oom(kumo__error *err);
/* A malloc'd lower-case copy, or NULL. */
char *kumo__spec_lowerdup(const char *s);
/* Appends *p to op->params, taking its strings. When one of the same name
 * and `in` is there already: declared at index >= first_own (the same
 * level) -> 1, nothing taken (the caller reports the duplicate); before it
 * (path level) -> replaced by *p. -ENOMEM when memory ran out. */
int kumo__spec_put_param(kumo__operation *op, kumo__param *p, size_t first_own);
void kumo__spec_param_clear(kumo__param *p);
/* Appends a zeroed entry to *arr (n entries); NULL when memory ran out. */
kumo__media *kumo__spec_add_media(kumo__media **arr, size_t *n);
kumo__response *kumo__spec_add_response(kumo__operation *op);
/* The location string of loc + "/token" (escaped); malloc'd or NULL. */
char *kumo__spec_location(const kumo__docset *ds, const kumo__loc *loc, const char *token);
/* A response status key: "200", "2XX", "default". */
int kumo__spec_status_ok(const char *key);

/* Swagger 2.0: fills op's params, body and responses from the Operation
 * Object `node` (at *op_loc) under the Path Item `item` (at *item_loc). */
int kumo__swagger_operation(kumo__spec *s, kumo__docset *ds, kumo__operation *op, json_t *item,
                            const kumo__loc *item_loc, json_t *node, const kumo__loc *op_loc, kumo__error *err);

#endif
