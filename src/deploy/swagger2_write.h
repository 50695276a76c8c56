/*
 * swagger2_write.h: an OpenAPI 3.0 or 3.1 description converted to one Swagger
 * 2.0 document, for gateways that take only Swagger 2.0 (Google's API
 * Gateway). The converse of src/openapi/swagger.c, which reads Swagger
 * 2.0 into kumo's model.
 *
 * What maps is converted (servers -> host/basePath/schemes, requestBody ->
 * a body parameter or formData parameters, components/schemas ->
 * definitions with every schema $ref rewritten, responses' content ->
 * schema + examples and the operation's produces, nullable -> x-nullable,
 * securitySchemes -> securityDefinitions). What Swagger 2.0 cannot express
 * (oneOf/anyOf in a parameter, request media types with different schemas,
 * cookie parameters, callbacks, links, webhooks, 3.1-only keywords) is an
 * error naming file:line:column and the JSON pointer of the construct.
 */
#ifndef KUMO_SWAGGER2_H
#define KUMO_SWAGGER2_H

#include <jansson.h>

#include "base/error.h"

/* Reads the OpenAPI document at `path` (and the files its $refs reach)
 * and sets *out to a new Swagger 2.0 tree (the caller decrefs it). Files
 * reached by $refs are folded in: their schemas become definitions, the
 * rest is inlined. A Swagger 2.0 input is returned as a copy. 0, or a
 * negative code with err set and *out NULL. */
int kumo__swagger2_convert(const char *path, json_t **out, kumo__error *err);

#endif
