/*
 * test_firestore.c: the Firestore driver's document ids (stores/firestore.c,
 * included for its statics): readable for ordinary keys, escaped where
 * Firestore or a reader would trip, never two keys on one id, and a hash
 * past Firestore's 1,500 bytes (docs/stores-gcp.md). The driver's calls
 * run against the emulator in the conformance suite.
 */
#include "sdk/stores/firestore.c"

#include "check.h"

static const char *id(const char *key, size_t len)
{
    static char out[ID_BUF];
    doc_id(key, len, out);
    return out;
}

#define ID(s) id(s, sizeof(s) - 1)

int main(void)
{
    CHECK_STR(ID("users/42"), "users%2F42");
    CHECK_STR(ID("todo:01HX-abc_1"), "todo:01HX-abc_1");
    CHECK_STR(ID("caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x8d\xa3"),
              "caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x8d\xa3"); /* UTF-8 kept */
    CHECK_STR(ID("100%"), "100%25");
    CHECK_STR(ID("a%2Fb"), "a%252Fb"); /* not the id of "a/b" */
    CHECK_STR(ID("\x01tab\there\x7f"), "%01tab%09here%7F");
    CHECK_STR(ID("bad\xff\xc3"), "bad%FF%C3");  /* not UTF-8: escaped */
    CHECK_STR(ID("\xed\xa0\x80"), "%ED%A0%80"); /* a surrogate is not UTF-8 */
    CHECK_STR(ID("\xc0\xaf"), "%C0%AF");        /* nor an overlong '/' */
    CHECK_STR(ID("."), "%2E");
    CHECK_STR(ID(".."), "%2E.");
    CHECK_STR(ID("..."), "...");
    CHECK_STR(ID("__name__"), "%5F_name__"); /* Firestore keeps __X__ ids */
    CHECK_STR(ID("__x_"), "__x_");

    /* past 1,500 bytes: %%sha256-HEX, which no escaped id starts with */
    char big[KUMO_KV_KEY_MAX];
    memset(big, 1, sizeof(big));
    const char *h = id(big, sizeof(big));
    CHECK(strncmp(h, "%%sha256-", 9) == 0 && strlen(h) == 9 + 64);
    char h1[ID_BUF];
    snprintf(h1, sizeof(h1), "%s", h);
    big[0] = 2;
    CHECK(strcmp(id(big, sizeof(big)), h1) != 0);
    memset(big, 'k', sizeof(big)); /* 1,024 plain bytes stay themselves */
    CHECK_INT(strlen(id(big, sizeof(big))), sizeof(big));
    return check_report();
}
