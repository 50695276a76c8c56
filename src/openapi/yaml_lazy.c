/*
 * yaml_lazy.c: libyaml loaded on first need (see yaml_lazy.h).
 */
#include "openapi/yaml_lazy.h"

#include <stdio.h>
#include <stdlib.h>

#if KUMO_YAML_LAZY

#include "base/dlload.h"

static kumo__yaml_api api;
static const char *const names[] = {
#define X(f) #f,
    KUMO__YAML_FNS(X)
#undef X
};
_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(api) / sizeof(void (*)(void)),
               "one name per entry of kumo__yaml_api, in its order");
static kumo__lazy_lib lib = KUMO__LAZY_LIB("libyaml-0.so.2", names, api);

int kumo__yaml_load(char *why, size_t why_len)
{
    if (kumo__lazy_load(&lib) == 0)
        return 0;
    snprintf(why, why_len,
             "is YAML, and this host reads YAML with libyaml, loaded on demand: %s (kumo build writes a "
             "kumo-lambda package's documents as JSON; build the package again)",
             lib.error);
    return -1;
}

const kumo__yaml_api *kumo__yaml(void)
{
    if (kumo__lazy_load(&lib) != 0) {
        fprintf(stderr, "kumo: libyaml is needed and could not be loaded: %s\n", lib.error);
        abort();
    }
    return &api;
}

#else

int kumo__yaml_load(char *why, size_t why_len)
{
    (void)why;
    (void)why_len;
    return 0;
}

#endif
