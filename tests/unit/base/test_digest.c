/*
 * test_digest: base/digest.c's SHA-256 against FIPS 180-2's vectors and a
 * million 'a's, and kumo__same_secret on equal and unequal secrets of
 * every length up to 64, the difference at every place.
 */
#include <stdlib.h>
#include <string.h>

#include "base/digest.h"
#include "check.h"

static int hex_is(const unsigned char d[32], const char *hex)
{
    char got[65];
    for (int i = 0; i < 32; i++)
        snprintf(got + 2 * i, 3, "%02x", d[i]);
    return strcmp(got, hex) == 0;
}

int main(void)
{
    unsigned char d[KUMO__SHA256_LEN];
    kumo__sha256("", 0, d);
    CHECK(hex_is(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    kumo__sha256("abc", 3, d);
    CHECK(hex_is(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    kumo__sha256(two, strlen(two), d);
    CHECK(hex_is(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    kumo__sha256(million, 1000000, d);
    CHECK(hex_is(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    free(million);

    unsigned char a[64], b[64];
    for (size_t n = 0; n <= 64; n++) {
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] = (unsigned char)(i * 7 + n);
        CHECK(kumo__same_secret(a, b, n));
        for (size_t at = 0; at < n; at++) {
            b[at] ^= 0x80;
            CHECK(!kumo__same_secret(a, b, n));
            b[at] ^= 0x81;
            CHECK(!kumo__same_secret(a, b, n));
            b[at] ^= 0x01;
        }
    }
    return check_report();
}
