/*
 * crypto_lazy.c: libcrypto loaded on first need (see crypto_lazy.h).
 */
#include "auth/crypto_lazy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#if KUMO_CRYPTO_LAZY

#include "base/dlload.h"

static kumo__crypto_api api;
/* the names, spelled out: the macros of crypto_lazy.h are in force here */
static const char *const names[] = {
#define X(f) #f,
    KUMO__CRYPTO_FNS(X)
#undef X
};
_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(api) / sizeof(void (*)(void)),
               "one name per entry of kumo__crypto_api, in its order");
static kumo__lazy_lib lib = KUMO__LAZY_LIB("libcrypto.so.3", names, api);

int kumo__crypto_load(kumo__error *err)
{
    if (kumo__lazy_load(&lib) == 0)
        return 0;
    kumo__error_set(err, -ENOENT, "the document's security needs libcrypto, which this host loads on demand: %s",
                    lib.error);
    return -ENOENT;
}

int kumo__crypto_loaded(void)
{
    return kumo__lazy_loaded(&lib);
}

const kumo__crypto_api *kumo__crypto(void)
{
    if (kumo__lazy_load(&lib) != 0) {
        fprintf(stderr, "kumo: libcrypto is needed and could not be loaded: %s\n", lib.error);
        abort();
    }
    return &api;
}

/* the table's own names here, not the header's wrappers */
#undef EVP_sha256
#undef EVP_sha384
#undef EVP_sha512

const EVP_MD *kumo__crypto_sha256(void)
{
    return kumo__crypto()->EVP_sha256();
}

const EVP_MD *kumo__crypto_sha384(void)
{
    return kumo__crypto()->EVP_sha384();
}

const EVP_MD *kumo__crypto_sha512(void)
{
    return kumo__crypto()->EVP_sha512();
}

#else

int kumo__crypto_load(kumo__error *err)
{
    (void)err;
    return 0;
}

int kumo__crypto_loaded(void)
{
    return 1;
}

#endif
