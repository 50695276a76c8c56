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

int kumo__lazy_load(kumo__lazy_lib *lib)
{
    pthread_mutex_lock(&lib->lock);
    if (!lib->tried) {
        lib->loaded = kumo__dlload(lib->soname, lib->names, lib->n, lib->table, lib->error, sizeof(lib->error)) == 0;
        lib->tried = 1;
    }
    int loaded = lib->loaded;
    pthread_mutex_unlock(&lib->lock);
    return loaded ? 0 : -1;
}

int kumo__lazy_loaded(kumo__lazy_lib *lib)
{
    pthread_mutex_lock(&lib->lock);
    int loaded = lib->tried && lib->loaded;
    pthread_mutex_unlock(&lib->lock);
    return loaded;
}
