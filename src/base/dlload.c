/*
 * dlload.c: see dlload.h.
 */
#include "base/dlload.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kumo__dlload(const char *soname, const char *const *names, size_t n, void *table, char *err, size_t errlen)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(err, errlen, "%s cannot be loaded: %s", soname, dlerror());
        return -1;
    }
    void **syms = calloc(n, sizeof(*syms));
    if (syms == NULL) {
        snprintf(err, errlen, "out of memory loading %s", soname);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if ((syms[i] = dlsym(lib, names[i])) == NULL) {
            snprintf(err, errlen, "%s has no %s (too old?)", soname, names[i]);
            free(syms);
            return -1; /* the library stays mapped: harmless */
        }
    }
    /* ISO C has no cast from void * to a function pointer; POSIX gives
     * them one size, and memcpy is the portable way over that */
    memcpy(table, syms, n * sizeof(*syms));
    free(syms);
    return 0;
}
