/*
 * init.h: what kumo init's two halves share (init.c: the templates;
 * init_from.c: stubs for an existing OpenAPI document).
 */
#ifndef KUMO_CLI_INIT_H
#define KUMO_CLI_INIT_H

#include <stddef.h>

#include "base/error.h"

/* One file to write, `path` relative to the project's folder. */
typedef struct kumo__init_out {
    const char *path;
    const char *data;
    size_t len;
    char *owned; /* what to free, or NULL */
} kumo__init_out;

/* Writes every file under `dir` (creating folders), after checking that
 * none exists: when one does, nothing is written and err names them all.
 * Prints one "wrote PATH" line per file. */
int kumo__init_write(const char *dir, const kumo__init_out *files, size_t n, kumo__error *err);

/* Whether `name` is a project name kumo.yaml accepts: [a-z0-9-], 1 to 63. */
int kumo__init_name_ok(const char *name);

/* kumo init --from SPEC: kumo.yaml, functions/api.c with a stub per
 * operation answering the document's example (as kumo mock answers), a
 * test, a README (init_from.c). */
int kumo__init_from(const char *dir, const char *spec, const char *name, kumo__error *err);

#endif
