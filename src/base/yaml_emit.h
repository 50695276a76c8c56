/*
 * yaml_emit.h: a JSON value as block-style YAML, the one writer behind
 * /docs/openapi.yaml (gateway/docs.c) and every YAML file a deploy target
 * writes (Knative and Kubernetes objects, stack.yml, the Swagger 2.0 API
 * config). One quoting rule: a string is written plain only when every
 * YAML 1.1 reader (PyYAML, go-yaml v2 under kubectl) and every 1.2 reader
 * (kumo's own, libyaml) reads it back as the same string; otherwise it is
 * double-quoted with YAML's escapes, or a literal block (|) for multi-line
 * text that reads back exactly.
 */
#ifndef KUMO_BASE_YAML_EMIT_H
#define KUMO_BASE_YAML_EMIT_H

#include <jansson.h>

#include "base/growbuf.h"

/* Appends `v` as YAML (ending in a newline) to b, within b->max (the
 * caller sets the ceiling). 0, or -1 over the ceiling (b->over set) or out
 * of memory. */
int kumo__yaml_emit(const json_t *v, kumo__growbuf *b);

/* The same as a new malloc'd NUL-terminated string (no ceiling); NULL
 * when out of memory. */
char *kumo__yaml_dump(const json_t *v);

#endif
