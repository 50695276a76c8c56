/*
 * pcre2_lazy.c: PCRE2 loaded on first need (see pcre2_lazy.h).
 */
#include "openapi/pcre2_lazy.h"

#include <stdio.h>
#include <stdlib.h>

#if KUMO_PCRE2_LAZY

#include "base/dlload.h"

static kumo__pcre2_api api;
static const char *const names[] = {
#define X(f) #f,
    KUMO__PCRE2_FNS(X)
#undef X
};
_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(api) / sizeof(void (*)(void)),
               "one name per entry of kumo__pcre2_api, in its order");
static kumo__lazy_lib lib = KUMO__LAZY_LIB("libpcre2-8.so.0", names, api);

int kumo__pcre2_load(char *why, size_t why_len)
{
    if (kumo__lazy_load(&lib) == 0)
        return 0;
    snprintf(why, why_len, "regular expressions need PCRE2, which this host loads on demand: %s", lib.error);
    return -1;
}

const kumo__pcre2_api *kumo__pcre2(void)
{
    if (kumo__lazy_load(&lib) != 0) {
        fprintf(stderr, "kumo: PCRE2 is needed and could not be loaded: %s\n", lib.error);
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
