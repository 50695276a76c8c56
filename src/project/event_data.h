/*
 * event_data.h: the schema an event's data must match (kumo.yaml's
 * `data: '#/components/schemas/Order'` on a queue, topic or cloudevent
 * event), resolved in the OpenAPI document and compiled, for the gateway
 * (the consumer validates each message before a handler sees it) and
 * kumo lint (an unknown pointer is an error at kumo.yaml:line:column).
 */
#ifndef KUMO_PROJECT_EVENT_DATA_H
#define KUMO_PROJECT_EVENT_DATA_H

#include "openapi/openapi.h"
#include "openapi/schema.h"
#include "project/project.h"

/* Compiles every event's data: schema: on 0, *out is an array of
 * p->nevents entries (calloc'd; NULL where an event has no data:), freed
 * with kumo__event_data_free. An error (a pointer to nothing, a schema
 * that does not compile) names kumo.yaml:line:column of the data: value,
 * and for a pointer to nothing the schemas the document has. */
int kumo__event_data_compile(const kumo__project *p, const kumo__spec *spec, kumo__schema ***out, kumo__error *err);
void kumo__event_data_free(kumo__schema **schemas, size_t n);

/* Validates the data `body` (len bytes) against `schema`: 0 when it
 * matches; 1 when not, with the violations as the request validator words
 * them ("/data/title: is 240 characters long; at most 200 are allowed",
 * joined by "; ", or why it is not JSON) in why; negative when out of memory. */
int kumo__event_data_check(const kumo__schema *schema, const char *body, size_t len, char *why, size_t why_len);

#endif
