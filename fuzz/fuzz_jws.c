/*
 * fuzz_jws.c: libFuzzer target for the compact JWS reader and the whole
 * verification (src/auth/jwt.c): the input is a token, verified against
 * a fixed key set (an ES256, an Ed25519 and an RSA key, and an HS secret)
 * at a fixed time with an issuer and an audience. Nothing may crash, leak
 * or read past the token; the contract is checked on every answer:
 * claims only with OK, an object then; the reason set and within its
 * buffer; what the parser refuses is MALFORMED. Seeds (fuzz/corpus/jws/) are tokens
 * the openssl command signed with those keys, valid and broken.
 */
#include "auth/jwt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the same keys as fuzz/corpus/jwks/three_keys.json */
static const char JWKS[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\",\"alg\":\"ES256\",\"x\":\"TrdEZror_a_"
    "qEPzQNSeFuKZJ8Jk7PyA89z1td11Y9eM\",\"y\":\"Plk_ojJ6Nje7ghVkPzq9mMagnYb30MPPiN1u4wEPFDg\"},{\"kty\":\"OKP\","
    "\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"NBsY14E4vetOhSZ1POTgRtYAvhOI74_KB2G19pVO_x8\"},{\"kty\":\"RSA\","
    "\"kid\":\"rsa\",\"use\":\"sig\",\"n\":\"2wNKyMckIPJCs2n5hWRhgil_14J3qjlsZP85GxpqsRN-"
    "Z8SWErfV1raUeXy4VSq9KX3XaCoumP8wffcrvhwqA5qpuT8t_M9maN8go1z_r59oammRL2lWcBZs8Wzo9VV_3OM5en580Es-"
    "T4mPqqvxWSkFUBtiOP1CcJUoU91V24wcBJBOE_plkeBIxegDHZRbDPBBqXSinv3pdb2vbHymgLhAW0PeaoLjaM07P_o8AyMSkch8uL_L_"
    "bEtLCLEtTsags_-B1u-3LDvL42s0hGcZLUn9yYEt2TRQZpdPl2GIm0AElE1athJE5PHdfTZpn5wMzNIaB2-LWGwnci_wDrfbQ\",\"e\":"
    "\"AQAB\"}]}";
static const char SECRET[] = "kumo-fuzz-secret-kumo-fuzz-secret-kumo-fuzz-secret-0123456789ab";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kumo__jwks *ks;
    if (ks == NULL) {
        kumo__error err = {0};
        kumo__jwks_config c = {.jwks_json = JWKS, .hs_secret = SECRET, .hs_secret_len = sizeof SECRET - 1};
        if ((ks = kumo__jwks_new(&c, &err)) == NULL)
            __builtin_trap();
    }
    static const char *const auds[] = {"api", NULL};
    kumo__jwt_policy pol = {.issuer = "https://issuer.test", .audiences = auds};
    char *tok = malloc(size + 1); /* exactly size bytes readable before the NUL a reader must not need */
    if (tok == NULL)
        return 0;
    memcpy(tok, data, size);
    tok[size] = '\0';
    json_t *claims = NULL;
    char why[160];
    memset(why, 'x', sizeof why);
    kumo__jwt_result r = kumo__jwt_verify(ks, &pol, tok, size, 1800000000, &claims, why, sizeof why);
    if ((r == KUMO__JWT_OK) != (claims != NULL) || (claims && !json_is_object(claims)))
        __builtin_trap();
    if (memchr(why, '\0', sizeof why) == NULL || (r != KUMO__JWT_OK && why[0] == '\0'))
        __builtin_trap();
    if (r == KUMO__JWT_KEYS_UNAVAILABLE) /* a static set is never unavailable */
        __builtin_trap();
    json_decref(claims);

    kumo__jws_parts parts;
    if (kumo__jws_parse(tok, size, &parts, why, sizeof why) == 0) {
        if (!json_is_object(parts.header) || !json_is_object(parts.payload) || parts.signing_len >= size)
            __builtin_trap();
        kumo__jws_parts_free(&parts);
    } else if (r != KUMO__JWT_MALFORMED) {
        __builtin_trap(); /* what the parser refuses is malformed */
    }
    free(tok);
    return 0;
}
