/*
 * dlload.h: a library's functions resolved at run time, for the libraries
 * kumo loads only when it first needs them (curl_lazy.c, and the
 * PostgreSQL driver's sdk/stores/pq_lazy.c): their libraries and the
 * libraries those bring are not mapped at every start.
 */
#ifndef KUMO_DLLOAD_H
#define KUMO_DLLOAD_H

#include <pthread.h>
#include <stddef.h>

/* dlopens `soname` and resolves each of names[0..n) into table, an array
 * of n function pointers (a struct of nothing else, in names' order).
 * Returns 0, or -1 with why in err (errlen bytes) and table untouched. */
int kumo__dlload(const char *soname, const char *const *names, size_t n, void *table, char *err, size_t errlen);

/* A library loaded once for the process, on first need (the tables of
 * auth/crypto_lazy.c and openapi/pcre2_lazy.c): define one statically
 * with KUMO__LAZY_LIB, then kumo__lazy_load. */
typedef struct kumo__lazy_lib {
    const char *soname;
    const char *const *names;
    size_t n;
    void *table;
    pthread_mutex_t lock;
    int tried, loaded;
    char error[256];
} kumo__lazy_lib;
#define KUMO__LAZY_LIB(soname, names, table)                                                                           \
    {                                                                                                                  \
        (soname), (names), sizeof(names) / sizeof((names)[0]), &(table), PTHREAD_MUTEX_INITIALIZER, 0, 0, ""           \
    }

/* Loads lib the first time (thread-safe; later calls answer from that
 * attempt): 0 with the table filled, or -1 with lib->error saying why. */
int kumo__lazy_load(kumo__lazy_lib *lib);
/* 1 when lib is loaded already, without trying to load it. */
int kumo__lazy_loaded(kumo__lazy_lib *lib);

#endif
