/*
 * fuzz_jwks.c: libFuzzer target for the JWKS reader (kumo__jwks_parse,
 * src/auth/jwks.c): any document is read or refused with a reason, never
 * a crash or a leak; a set read keeps within KUMO__JWKS_MAX_KEYS, every
 * key in it has an OpenSSL key, a kty kumo verifies, a bounded kid and an
 * alg that fits its kty. Seeds: fuzz/corpus/jwks/.
 */
#include "auth/jwks.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kumo__jwk_set *s = NULL;
    unsigned skipped = 0;
    char why[256] = "";
    if (kumo__jwks_parse((const char *)data, size, &s, &skipped, why, sizeof why) < 0) {
        if (s != NULL || why[0] == '\0')
            __builtin_trap();
        return 0;
    }
    if (s == NULL || s->n > KUMO__JWKS_MAX_KEYS || s->n + skipped > KUMO__JWKS_MAX_KEYS)
        __builtin_trap();
    for (size_t i = 0; i < s->n; i++) {
        const kumo__jwk *k = &s->keys[i];
        if (k->pkey == NULL || strlen(k->kid) > KUMO__JWK_KID_MAX || (k->kty == KUMO__KTY_RSA && k->bits < 2048))
            __builtin_trap();
        if (k->kty != KUMO__KTY_RSA && k->crv == KUMO__CRV_NONE)
            __builtin_trap();
        if (k->alg[0] && k->kty == KUMO__KTY_EC && strcmp(k->alg, k->crv == KUMO__CRV_P256 ? "ES256" : "ES384") != 0)
            __builtin_trap();
    }
    kumo__jwk_set_release(s);
    return 0;
}
