/*
 * pcre2_lazy.c: PCRE2 loaded on first need (see pcre2_lazy.h).
 */
#include "openapi/pcre2_lazy.h"

#include <stdio.h>
#include <stdlib.h>

#if KUMO_PCRE2_LAZY

#include <pthread.h>

#include "base/dlload.h"

static kumo__pcre2_api api;
static char load_error[256];
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {
#define X(f) #f,
        KUMO__PCRE2_FNS(X)
#undef X
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(api) / sizeof(void (*)(void)),
                   "one name per entry of kumo__pcre2_api, in its order");
    loaded = kumo__dlload("libpcre2-8.so.0", names, sizeof(names) / sizeof(names[0]), &api, load_error,
                          sizeof(load_error)) == 0;
}

int kumo__pcre2_load(char *why, size_t why_len)
{
    pthread_once(&once, load);
    if (loaded)
        return 0;
    snprintf(why, why_len, "regular expressions need PCRE2, which this host loads on demand: %s", load_error);
    return -1;
}

const kumo__pcre2_api *kumo__pcre2(void)
{
    pthread_once(&once, load);
    if (!loaded) {
        fprintf(stderr, "kumo: PCRE2 is needed and could not be loaded: %s\n", load_error);
        abort();
    }
    return &api;
}

#else

int kumo__pcre2_load(char *why, size_t why_len)
{
    (void)why;
    (void)why_len;
    return 0;
}

#endif
