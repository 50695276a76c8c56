/*
 * test_frame.c: the frame codec: round trips, truncation, oversize and
 * malformed input at every position.
 */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "proto/frame.c"

static void test_round_trip(void)
{
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, KUMO__FRAME_REQUEST, 77);
    kumo__frame_put_str(&w, KF_METHOD, "GET");
    kumo__frame_put_pair(&w, KF_HEADER, "x-a", 3, "1", 1);
    kumo__frame_put_pair(&w, KF_PARAM, "", 0, "", 0);
    kumo__frame_put_u32(&w, KF_STATUS, 404);
    kumo__frame_put_u64(&w, KF_DEADLINE_MS, 0x0102030405060708ull);
    kumo__frame_put(&w, KF_BODY, "\0bin\xff", 5);
    CHECK_INT(kumo__frame_end(&w), 0);

    kumo__frame_header h;
    CHECK_INT(kumo__frame_header_decode(w.buf, w.len, 0, &h), 0);
    CHECK_INT(h.type, KUMO__FRAME_REQUEST);
    CHECK_INT(h.id, 77);
    CHECK_INT(h.length + KUMO__FRAME_HEADER_SIZE, w.len);

    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_reader_init(&r, w.buf + KUMO__FRAME_HEADER_SIZE, h.length);
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(f.tag, KF_METHOD);
    CHECK(f.len == 3 && memcmp(f.data, "GET", 3) == 0);

    const char *n, *v;
    size_t nl, vl;
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(kumo__frame_pair(&f, &n, &nl, &v, &vl), 0);
    CHECK(nl == 3 && memcmp(n, "x-a", 3) == 0 && vl == 1 && v[0] == '1');
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(kumo__frame_pair(&f, &n, &nl, &v, &vl), 0);
    CHECK(nl == 0 && vl == 0);

    uint32_t u32 = 0;
    uint64_t u64;
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(kumo__frame_u32(&f, &u32), 0);
    CHECK_INT(u32, 404);
    CHECK_INT(kumo__frame_u64(&f, &u64), -EPROTO);
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(kumo__frame_u64(&f, &u64), 0);
    CHECK(u64 == 0x0102030405060708ull);
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK(f.len == 5 && memcmp(f.data, "\0bin\xff", 5) == 0);
    CHECK_INT(kumo__frame_next(&r, &f), 0);

    /* a second frame in the same buffer */
    kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, 78);
    CHECK_INT(kumo__frame_end(&w), 0);
    size_t first = h.length + KUMO__FRAME_HEADER_SIZE;
    CHECK_INT(kumo__frame_header_decode(w.buf + first, w.len - first, 0, &h), 0);
    CHECK_INT(h.length, 0);
    CHECK_INT(h.id, 78);
    kumo__frame_writer_free(&w);
}

static void test_truncated(void)
{
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, KUMO__FRAME_RESPONSE, 1);
    kumo__frame_put_str(&w, KF_BODY, "abcdef");
    kumo__frame_put_pair(&w, KF_HEADER, "name", 4, "value", 5);
    CHECK_INT(kumo__frame_end(&w), 0);
    kumo__frame_header h;
    /* every prefix shorter than a header asks for more */
    for (size_t n = 0; n < KUMO__FRAME_HEADER_SIZE; n++)
        CHECK_INT(kumo__frame_header_decode(w.buf, n, 0, &h), -EAGAIN);
    /* every truncated payload is refused by the reader, never over-read */
    const char *payload = w.buf + KUMO__FRAME_HEADER_SIZE;
    size_t len = w.len - KUMO__FRAME_HEADER_SIZE;
    int refused = 0;
    for (size_t n = 1; n < len; n++) {
        char *copy = malloc(n); /* exact size: ASan catches any over-read */
        memcpy(copy, payload, n);
        kumo__frame_reader r;
        kumo__frame_field f;
        kumo__frame_reader_init(&r, copy, n);
        int rc;
        while ((rc = kumo__frame_next(&r, &f)) > 0)
            ;
        refused += rc == -EPROTO;
        free(copy);
    }
    CHECK_INT(refused, (int)len - 2); /* all but the cut right after the first field */
    kumo__frame_writer_free(&w);
}

static void test_malformed_pair(void)
{
    kumo__frame_field f = {KF_HEADER, "\x09\0\0\0abc", 7};
    const char *n, *v;
    size_t nl, vl;
    CHECK_INT(kumo__frame_pair(&f, &n, &nl, &v, &vl), -EPROTO);
    f.len = 3;
    CHECK_INT(kumo__frame_pair(&f, &n, &nl, &v, &vl), -EPROTO);
}

static void test_bad_header(void)
{
    unsigned char buf[KUMO__FRAME_HEADER_SIZE] = {'K', 'F', KUMO__FRAME_VERSION, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    kumo__frame_header h;
    CHECK_INT(kumo__frame_header_decode(buf, sizeof(buf), 0, &h), 0);
    buf[0] = 'X';
    CHECK_INT(kumo__frame_header_decode(buf, sizeof(buf), 0, &h), -EPROTO);
    buf[0] = 'K';
    buf[2] = KUMO__FRAME_VERSION + 1;
    CHECK_INT(kumo__frame_header_decode(buf, sizeof(buf), 0, &h), -EPROTO);
    buf[2] = KUMO__FRAME_VERSION;
    /* a length over the reader's ceiling is refused before any allocation */
    buf[4] = 0x01;
    buf[5] = 0x10;
    CHECK_INT(kumo__frame_header_decode(buf, sizeof(buf), 0x1000, &h), -EMSGSIZE);
    CHECK_INT(kumo__frame_header_decode(buf, sizeof(buf), 0x1001, &h), 0);
    buf[7] = 0xff;
    CHECK_INT(kumo__frame_header_decode(buf, sizeof(buf), 0, &h), -EMSGSIZE);
}

static void test_writer_ceiling(void)
{
    kumo__frame_writer w = {0};
    char big[100];
    memset(big, 'x', sizeof(big));
    kumo__frame_begin(&w, 64, KUMO__FRAME_REQUEST, 1);
    kumo__frame_put(&w, KF_BODY, big, 50);
    CHECK_INT(w.err, 0);
    kumo__frame_put(&w, KF_BODY, big, 50);
    CHECK_INT(kumo__frame_end(&w), -EMSGSIZE);
    kumo__frame_reset(&w);
    kumo__frame_begin(&w, 64, KUMO__FRAME_REQUEST, 1);
    kumo__frame_put(&w, KF_BODY, big, 58);
    CHECK_INT(kumo__frame_end(&w), 0);
    kumo__frame_writer_free(&w);
}

static void test_part(void)
{
    kumo__frame_writer w = {0};
    kumo__frame_begin(&w, 0, KUMO__FRAME_REQUEST, 1);
    kumo__frame_put_part(&w, KF_PART, "file", 4, "a.txt", 5, "text/plain", 10, "hi\0there", 8);
    kumo__frame_put_part(&w, KF_PART, "", 0, "", 0, "", 0, "", 0);
    CHECK_INT(kumo__frame_end(&w), 0);
    kumo__frame_reader r;
    kumo__frame_field f;
    kumo__frame_part_view pv;
    kumo__frame_reader_init(&r, w.buf + KUMO__FRAME_HEADER_SIZE, w.len - KUMO__FRAME_HEADER_SIZE);
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(kumo__frame_part(&f, &pv), 0);
    CHECK(pv.name_len == 4 && memcmp(pv.name, "file", 4) == 0);
    CHECK(pv.filename_len == 5 && memcmp(pv.filename, "a.txt", 5) == 0);
    CHECK(pv.ctype_len == 10 && memcmp(pv.ctype, "text/plain", 10) == 0);
    CHECK(pv.data_len == 8 && memcmp(pv.data, "hi\0there", 8) == 0);
    CHECK_INT(kumo__frame_next(&r, &f), 1);
    CHECK_INT(kumo__frame_part(&f, &pv), 0);
    CHECK(pv.name_len == 0 && pv.data_len == 0);
    /* lengths pointing past the field are refused */
    kumo__frame_field bad = {KF_PART, "\x05\0\0\0ab", 6};
    CHECK_INT(kumo__frame_part(&bad, &pv), -EPROTO);
    bad.len = 3;
    CHECK_INT(kumo__frame_part(&bad, &pv), -EPROTO);
    kumo__frame_writer_free(&w);
}

int main(void)
{
    test_part();
    test_round_trip();
    test_truncated();
    test_malformed_pair();
    test_bad_header();
    test_writer_ceiling();
    return check_report();
}
