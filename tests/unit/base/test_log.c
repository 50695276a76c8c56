/*
 * test_log.c: the one log line (base/log.c) and the clock's RFC 3339
 * formatter (base/clock.c): shape and field order, escaping, a message cut
 * whole-character with the line still valid JSON, a field that does not
 * fit left out whole, and dates checked against gmtime_r.
 */
#include "base/clock.h"
#include "base/log.h"

#include "check.h"

#include <jansson.h>
#include <stdlib.h>
#include <time.h>

static json_t *parse(kumo__logline *l)
{
    size_t n = kumo__logline_end(l);
    CHECK(n > 0 && l->buf[n - 1] == '\n');
    json_error_t e;
    json_t *j = json_loadb(l->buf, n, 0, &e);
    if (j == NULL)
        fprintf(stderr, "not JSON (%s): %.*s\n", e.text, (int)(n > 300 ? 300 : n), l->buf);
    return j;
}

static void test_shape(void)
{
    kumo__logline l;
    const char *said = "said \"hi\"\n\x01 bad:\xff ok:\xc3\xa9";
    kumo__logline_begin(&l, "warn", said, strlen(said));
    kumo__logline_cstr(&l, "request_id", "r-1");
    kumo__logline_str(&l, "path", "/a/b?ignored", 4);
    kumo__logline_int(&l, "status", 503);
    kumo__logline_cstr(&l, "absent", NULL);
    json_t *j = parse(&l);
    CHECK(json_is_object(j));
    const char *keys[] = {"time", "level", "msg", "request_id", "path", "status"};
    size_t i = 0;
    const char *k;
    json_t *v;
    /* jansson keeps insertion order: the line's own */
    json_object_foreach(j, k, v)
    {
        CHECK(i < 6 && strcmp(k, keys[i]) == 0);
        i++;
    }
    CHECK_INT(i, 6);
    CHECK_STR(json_string_value(json_object_get(j, "level")), "warn");
    CHECK_STR(json_string_value(json_object_get(j, "msg")), "said \"hi\"\n\x01 bad:\xef\xbf\xbd ok:\xc3\xa9");
    CHECK_STR(json_string_value(json_object_get(j, "path")), "/a/b");
    CHECK_INT(json_integer_value(json_object_get(j, "status")), 503);
    CHECK(json_object_get(j, "truncated") == NULL);
    const char *t = json_string_value(json_object_get(j, "time"));
    CHECK(t && strlen(t) == 27 && t[10] == 'T' && t[26] == 'Z');
    json_decref(j);
}

static void test_truncation(void)
{
    /* a message far over the line: cut on a whole character, fields still fit */
    size_t big = 3 * KUMO__LOG_LINE_MAX;
    char *msg = malloc(big);
    for (size_t i = 0; i < big; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2);
    kumo__logline l;
    kumo__logline_begin(&l, "info", msg, big);
    kumo__logline_cstr(&l, "request_id", "after-the-message");
    json_t *j = parse(&l);
    CHECK(json_is_true(json_object_get(j, "truncated")));
    CHECK_STR(json_string_value(json_object_get(j, "request_id")), "after-the-message");
    const char *m = json_string_value(json_object_get(j, "msg"));
    CHECK(m && strlen(m) > 1000 && strlen(m) % 2 == 0 && strstr(m, "\xef\xbf\xbd") == NULL);
    json_decref(j);

    /* plain ASCII goes in runs: cut at the room left, still one line of JSON */
    memset(msg, 'a', big);
    kumo__logline_begin(&l, "info", msg, big);
    kumo__logline_cstr(&l, "request_id", "after");
    j = parse(&l);
    CHECK(json_is_true(json_object_get(j, "truncated")));
    CHECK_STR(json_string_value(json_object_get(j, "request_id")), "after");
    m = json_string_value(json_object_get(j, "msg"));
    CHECK(m && strlen(m) > 1000 && strspn(m, "a") == strlen(m));
    json_decref(j);

    /* ids in hex, written straight into the line */
    const uint8_t id[8] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0x10, 0x7f, 0xff};
    kumo__logline_begin(&l, "info", "m", 1);
    kumo__logline_hex(&l, "span_id", id, 8);
    kumo__logline_int(&l, "neg", -1234567890123LL);
    j = parse(&l);
    CHECK_STR(json_string_value(json_object_get(j, "span_id")), "0001abcdef107fff");
    CHECK(json_integer_value(json_object_get(j, "neg")) == -1234567890123LL);
    json_decref(j);

    /* escapes are never split: a message of quotes */
    memset(msg, '"', big);
    kumo__logline_begin(&l, "info", msg, big);
    j = parse(&l);
    CHECK(json_is_true(json_object_get(j, "truncated")));
    json_decref(j);

    /* fields until the line is full: the one that does not fit is left out whole */
    kumo__logline_begin(&l, "info", "m", 1);
    char name[16];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "f%d", i);
        kumo__logline_str(&l, name, msg, 1000); /* 1000 quotes: 2000 bytes escaped */
    }
    j = parse(&l);
    CHECK(json_is_true(json_object_get(j, "truncated")));
    CHECK(json_object_get(j, "f0") != NULL);
    CHECK(json_object_get(j, "f39") == NULL);
    CHECK_INT(strlen(json_string_value(json_object_get(j, "f0"))), 1000);
    json_decref(j);
    free(msg);
}

static void test_rfc3339(void)
{
    char a[KUMO__RFC3339_LEN], b[64];
    int same = 1;
    for (uint64_t s = 0; s < 5000000000ULL; s += 86399ULL * 37) {
        uint64_t us = s * 1000000 + s % 1000000;
        kumo__rfc3339(us, a, sizeof a);
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t n = strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(b + n, sizeof b - n, ".%06lluZ", (unsigned long long)(us % 1000000));
        if (strcmp(a, b) != 0) {
            fprintf(stderr, "%s != %s\n", a, b);
            same = 0;
            break;
        }
    }
    CHECK(same);
    kumo__rfc3339(951782400000000ULL, a, sizeof a);
    CHECK_STR(a, "2000-02-29T00:00:00.000000Z");
    CHECK_INT(kumo__rfc3339(0, a, 10), 0); /* too small: nothing */
}

int main(void)
{
    test_shape();
    test_truncation();
    test_rfc3339();
    return check_report();
}
