/*
 * fuzz_credentials.c: libFuzzer target for what a client's credentials go
 * through before any check (src/auth/basic.c, src/auth/apikey.c): the
 * first byte picks the reader, the rest is the input. 0: an Authorization
 * value read as Basic (the user and password must lie in the buffer, NUL
 * terminated, with the lengths given); 1: a query string searched for the
 * apiKey parameter `api_key` (percent-decoded into a bounded buffer); 2: a
 * Cookie header searched for `sid`. Seeds: fuzz/corpus/credentials/.
 */
#include "auth/apikey.h"
#include "auth/basic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    char buf[256];
    if (data[0] % 3 == 0) {
        const char *u, *p;
        size_t ul, pl;
        if (kumo__basic_parse(in, len, buf, sizeof(buf), &u, &ul, &p, &pl) == 1) {
            if (u != buf || u[ul] != '\0' || p != buf + ul + 1 || p + pl >= buf + sizeof(buf) || p[pl] != '\0' ||
                strlen(u) != ul)
                abort();
        }
        return 0;
    }
    kumo__sec_scheme sc = {.type = KUMO__SEC_APIKEY};
    size_t got = 0;
    int rc;
    if (data[0] % 3 == 1) {
        sc.in = KUMO__IN_QUERY;
        sc.key_name = "api_key";
        rc = kumo__apikey_find(&sc, NULL, 0, (kumo__slice){in, len}, buf, sizeof(buf), &got);
    } else {
        sc.in = KUMO__IN_COOKIE;
        sc.key_name = "sid";
        kumo__header_view h = {{"cookie", 6}, {in, len}};
        rc = kumo__apikey_find(&sc, &h, 1, (kumo__slice){NULL, 0}, buf, sizeof(buf), &got);
    }
    if (rc == 1 && (got == 0 || got > sizeof(buf)))
        abort();
    return 0;
}
