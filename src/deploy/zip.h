/*
 * zip.h: zip archives, written (zip_write.c) and read (zip_read.c) by kumo
 * itself with zlib's deflate: Lambda takes its code as a zip, Azure its
 * function app, and `kumo emulate lambda` opens what `kumo build` wrote.
 *
 * Writing is deterministic: entries in the order added, every timestamp
 * 1980-01-01 00:00, Unix modes kept (0755 for executables), so the same
 * input gives the same bytes and the same digest.
 */
#ifndef KUMO_ZIP_H
#define KUMO_ZIP_H

#include <stddef.h>

#include "base/error.h"

typedef struct kumo__zip_writer kumo__zip_writer;

/* Creates (truncates) the archive at `path`. */
int kumo__zip_open(const char *path, kumo__zip_writer **out, kumo__error *err);
/* Adds `name` (relative, '/'-separated) with `data`, deflated when that is
 * smaller; `mode` is the Unix mode (0644, 0755). */
int kumo__zip_add(kumo__zip_writer *z, const char *name, const void *data, size_t len, unsigned mode, kumo__error *err);
/* Adds the regular file at `path` (symlinks followed) as `name`, with its
 * executable bit; streamed, so large libraries are not held whole. */
int kumo__zip_add_file(kumo__zip_writer *z, const char *name, const char *path, kumo__error *err);
/* Writes the central directory and closes; frees z whatever happens. On an
 * earlier error call it anyway (it then removes the partial file). */
int kumo__zip_close(kumo__zip_writer *z, kumo__error *err);

/* Extracts every entry of the zip at `zip_path` under `dir` (created),
 * keeping executable bits. Refuses absolute names, '..' segments,
 * symlinks, and entries whose sizes or CRCs do not match, with an error
 * naming the entry. */
int kumo__zip_extract(const char *zip_path, const char *dir, kumo__error *err);

#endif
