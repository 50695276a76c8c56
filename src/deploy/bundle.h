/*
 * bundle.h: a function package ("bundle") gathered into a directory, the
 * one thing every target of `kumo build` wraps: the aws zip stores it as
 * is, an OCI image puts it under /kumo, the azure function app is one.
 * Layout (deploy.h):
 *
 *     bootstrap                   sh: exec lib/LOADER --library-path lib bin/kumo-host ADAPTER app [UNIT]
 *                                 (on a platform's glibc: LD_LIBRARY_PATH=lib exec bin/kumo-host ...)
 *     bin/kumo-host               (or bin/kumo-lambda, the lean Lambda host; see below: on the
 *                                 platform's glibc it is the bootstrap itself, and
 *                                 app/.kumo/lambda-unit names its unit)
 *     lib/LOADER, lib/<soname>... the dynamic loader and every library ldd lists
 *                                 for kumo-host and the unit(s) (glibc's and the
 *                                 loader left out on a platform's glibc)
 *     app/kumo.yaml, app/<api>    the project file, the OpenAPI document and every
 *                                 file its $refs reach, at their relative paths
 *     app/<sources>               the units' sources (kumo.yaml names them, and
 *                                 loading a project checks that they exist)
 *     app/.kumo/build/local/UNIT.so
 *
 * Starting kumo-host through the bundled loader is what makes it run
 * whatever the machine's glibc is: the loader, libc and every library
 * come from the machine that built the package, and nothing is looked up
 * outside lib/.
 *
 * Also here: the sorted walk of a directory that the zip and tar writers
 * share, so that archives list their entries in the same order every time.
 */
#ifndef KUMO_BUNDLE_H
#define KUMO_BUNDLE_H

#include <stdint.h>

#include "base/fs.h"
#include "project/project.h"

/* Writes the bundle of project `p` into `dest`, which must not exist
 * (created; on error it is removed). `unit`: the one unit packaged, NULL
 * for every unit (azure: kumo-host then serves them all). `adapter`:
 * "lambda" or "http", what bootstrap asks kumo-host for. `platform_glibc`:
 * the glibc of the platform the package runs on, as its minor version (34
 * for Lambda's provided.al2023, glibc 2.34), or 0 when it has none to rely
 * on (an OCI image from scratch): when every file asks for no more, the
 * bundle carries neither glibc nor its loader, and bootstrap starts
 * kumo-host directly with lib/ on LD_LIBRARY_PATH. The units must be built
 * already (kumo__build_units). *loader (malloc'd, the caller frees) gets
 * the loader's file name under lib/, e.g. "ld-linux-x86-64.so.2", or NULL
 * when the platform's is used. kumo-host and the units are packaged
 * without their debug information (objcopy --strip-debug, when binutils
 * is there).
 *
 * bin/ holds a lean host instead of kumo-host when it serves the package:
 * under "lambda" kumo-lambda (the lambda adapter alone, the AWS drivers
 * over a built-in HTTPS client), under "http" kumo-http (the http adapter
 * over kumo's own HTTP/1.1 server, every cloud's drivers over that
 * client); neither has libcurl, h2o, SQLite, libssl or libcrypto (tokens
 * are verified with BearSSL and auth/ed25519.c). The package is then a fraction of the size
 * and starts faster. *info (may be NULL: as {0}) says which, and why not. */
typedef struct kumo__bundle_info {
    const char *host; /* in: "kumo-host", the lean host's name (refused where it does not serve), NULL: the
                         lean host when it serves */
    int lean;         /* out: bin/ holds the lean host, not kumo-host */
    char bin[16];     /* out: "kumo-host", "kumo-lambda" or "kumo-http" */
    char why[256];    /* out: when not lean, why kumo-host */
} kumo__bundle_info;
int kumo__bundle_write(const kumo__project *p, const char *unit, const char *adapter, int platform_glibc,
                       const char *dest, char **loader, kumo__bundle_info *info, kumo__error *err);

/* One entry of a directory tree, by its path relative to the root. */
typedef struct kumo__tree_entry {
    char *path; /* "bin/kumo-host", "lib" (directories have no trailing '/') */
    int is_dir;
    unsigned mode; /* normalised: 0755 for directories and executables, else 0644 */
    uint64_t size; /* files only */
} kumo__tree_entry;

typedef struct kumo__tree {
    kumo__tree_entry *items;
    size_t n;
} kumo__tree;

/* Lists every directory and regular file under `root` (not root itself),
 * depth first with the names of each directory in byte order, so a
 * directory comes before what it holds. Symlinks and other file types are
 * refused. Free with kumo__tree_free. */
int kumo__tree_list(const char *root, kumo__tree *out, kumo__error *err);
void kumo__tree_free(kumo__tree *t);

/* Copies the file at `src` (symlinks followed) to `dst` (created or
 * truncated, parents made) with mode 0755 when src is executable by
 * anyone, else 0644. */
int kumo__copy_file(const char *src, const char *dst, kumo__error *err);

#endif
