/*
 * spec_only.h: a project made of one OpenAPI document and nothing else,
 * for `kumo mock SPEC`: no kumo.yaml, no functions, no stores, no events,
 * observability off (a mock writes nothing next to the document). The
 * gateway serves it with the same code as kumo up, in mock mode.
 */
#ifndef KUMO_SPEC_ONLY_H
#define KUMO_SPEC_ONLY_H

#include "project/project.h"

/* A project whose api_path is `spec` (which must exist), its dir the
 * document's folder, its name the file's name without extension, and
 * kumo.yaml's defaults for everything else. Free with kumo__project_free. */
int kumo__project_from_spec(const char *spec, kumo__project **out, kumo__error *err);

#endif
