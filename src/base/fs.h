/*
 * fs.h: the two file-system walks every layer needs (mkdir -p, rm -rf).
 */
#ifndef KUMO_BASE_FS_H
#define KUMO_BASE_FS_H

/* mkdir -p `path` with `mode` for each directory made; 0 or -errno. An
 * existing directory (or a path component that is one) is not an error. */
int kumo__mkdirs(const char *path, unsigned mode);
/* Removes `path` and all it holds (symlinks not followed); 0 when it did
 * not exist, else -errno. */
int kumo__rmtree(const char *path);

#endif
