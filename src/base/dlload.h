/*
 * dlload.h: a library's functions resolved at run time, for the libraries
 * kumo loads only when it first needs them (curl_lazy.c, and the
 * PostgreSQL driver's sdk/stores/pq_lazy.c): their libraries and the
 * libraries those bring are not mapped at every start.
 */
#ifndef KUMO_DLLOAD_H
#define KUMO_DLLOAD_H

#include <stddef.h>

/* dlopens `soname` and resolves each of names[0..n) into table, an array
 * of n function pointers (a struct of nothing else, in names' order).
 * Returns 0, or -1 with why in err (errlen bytes) and table untouched. */
int kumo__dlload(const char *soname, const char *const *names, size_t n, void *table, char *err, size_t errlen);

#endif
