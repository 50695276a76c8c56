/*
 * init_templates.h: kumo init's templates, embedded. Each file of
 * templates/init/NAME/ in the source tree is one entry, its path
 * "NAME/relative/path" and its bytes (generated into the build tree by
 * cmake/embed_templates.cmake). "{{name}}" in a file is the project's name.
 */
#ifndef KUMO_CLI_INIT_TEMPLATES_H
#define KUMO_CLI_INIT_TEMPLATES_H

#include <stddef.h>

typedef struct kumo__init_file {
    const char *path;
    const unsigned char *data; /* len bytes, NUL after */
    size_t len;
} kumo__init_file;

extern const kumo__init_file kumo__init_files[];
extern const size_t kumo__init_nfiles;

#endif
