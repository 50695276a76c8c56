/*
 * crypto_lazy.c: libcrypto loaded on first need (see crypto_lazy.h).
 */
#include "auth/crypto_lazy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#if KUMO_CRYPTO_LAZY

#include "base/dlload.h"

static kumo__crypto_api api;
static char load_error[256];
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    /* the names, spelled out: the macros of crypto_lazy.h are in force here */
    static const char *const names[] = {
#define X(f) #f,
        KUMO__CRYPTO_FNS(X)
#undef X
    };
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(api) / sizeof(void (*)(void)),
                   "one name per entry of kumo__crypto_api, in its order");
    loaded = kumo__dlload("libcrypto.so.3", names, sizeof(names) / sizeof(names[0]), &api, load_error,
                          sizeof(load_error)) == 0;
}

int kumo__crypto_load(kumo__error *err)
{
    pthread_once(&once, load);
    if (loaded)
        return 0;
    kumo__error_set(err, -ENOENT, "the document's security needs libcrypto, which this host loads on demand: %s",
                    load_error);
    return -ENOENT;
}

const kumo__crypto_api *kumo__crypto(void)
{
    pthread_once(&once, load);
    if (!loaded) {
        fprintf(stderr, "kumo: libcrypto is needed and could not be loaded: %s\n", load_error);
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

#endif
