/*
 * test_http1: kumo-http's request reader (src/host/http1.c). Every head
 * and chunked body is also fed one byte at a time, as a slow client sends
 * it: the reader must say "more" until the last byte and then give what it
 * gives when the bytes come at once. The refusals carry the status
 * http1.h lists.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "host/http1.h"

static kumo__http_limits lim = {.max_headers = 8, .max_header_bytes = 256};
static kumo__header_view hv[8];
static char why[256];

/* Parses the head in text whole, and byte by byte: both must agree. */
static int parse(const char *text, kumo__h1_head *out)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    int rc = 0;
    for (size_t n = 1; n < len && rc == 0; n++) {
        memcpy(buf, text, n);
        rc = kumo__h1_parse_head(buf, n, &lim, hv, out, why, sizeof(why));
    }
    memcpy(buf, text, len + 1);
    int whole = kumo__h1_parse_head(buf, len, &lim, hv, out, why, sizeof(why));
    /* a prefix may be refused early (a bad line is bad whatever follows);
     * it must not be taken as complete before its end */
    CHECK(rc <= 0);
    if (rc < 0)
        CHECK_INT(rc, whole);
    static char *last; /* the slices point into it until the next parse */
    free(last);
    last = buf;
    return whole;
}

static int slice_is(kumo__slice s, const char *lit)
{
    return s.base && s.len == strlen(lit) && memcmp(s.base, lit, s.len) == 0;
}

static void test_heads(void)
{
    kumo__h1_head h;
    CHECK_INT(parse("GET /todos?limit=2 HTTP/1.1\r\nHost: x\r\nX-Trace: A b \r\n\r\n", &h), 1);
    CHECK(slice_is(h.method, "GET"));
    CHECK(slice_is(h.path, "/todos"));
    CHECK(slice_is(h.query, "limit=2"));
    CHECK_INT(h.minor, 1);
    CHECK_INT(h.nheaders, 2);
    CHECK(slice_is(hv[1].name, "x-trace")); /* lower-cased in place */
    CHECK(slice_is(hv[1].value, "A b"));    /* blanks around the value trimmed */
    CHECK_INT(h.content_length, -1);
    CHECK(h.keep_alive);
    CHECK(!h.chunked);
    CHECK_INT(h.len, strlen("GET /todos?limit=2 HTTP/1.1\r\nHost: x\r\nX-Trace: A b \r\n\r\n"));

    /* bare LF line ends, empty lines before the request line, no query */
    CHECK_INT(parse("\r\n\nPOST /a HTTP/1.0\nContent-Length: 12\nConnection: keep-alive\n\n", &h), 1);
    CHECK(slice_is(h.path, "/a"));
    CHECK(h.query.base == NULL);
    CHECK_INT(h.content_length, 12);
    CHECK_INT(h.minor, 0);
    CHECK(h.keep_alive); /* HTTP/1.0 asked for it */
    CHECK_INT(parse("GET / HTTP/1.0\r\n\r\n", &h), 1);
    CHECK(!h.keep_alive);
    CHECK_INT(parse("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", &h), 1);
    CHECK(!h.keep_alive);

    /* an empty query is a query */
    CHECK_INT(parse("GET /x? HTTP/1.1\r\n\r\n", &h), 1);
    CHECK(h.query.base != NULL && h.query.len == 0);

    /* absolute-form: the path after the authority */
    CHECK_INT(parse("GET http://example.com:8080/p/q?r=1 HTTP/1.1\r\n\r\n", &h), 1);
    CHECK(slice_is(h.path, "/p/q"));
    CHECK(slice_is(h.query, "r=1"));
    CHECK_INT(parse("OPTIONS * HTTP/1.1\r\n\r\n", &h), 1);
    CHECK(slice_is(h.path, "*"));

    /* repeated identical Content-Length fields are one */
    CHECK_INT(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", &h), 1);
    CHECK_INT(h.content_length, 5);
    CHECK_INT(parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n", &h), 1);
    CHECK(h.chunked);
    CHECK(h.expect_continue);
    CHECK_INT(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\nEXPECT: 100-Continue\r\n\r\n", &h), 1);
    CHECK(h.expect_continue);

    /* exactly at the limits is taken */
    CHECK_INT(parse("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\nf: 6\r\ng: 7\r\nh: 8\r\n\r\n", &h), 1);
    CHECK_INT(h.nheaders, 8);
}

static void test_refusals(void)
{
    kumo__h1_head h;
    static const struct {
        const char *text;
        int status;
    } bad[] = {
        {"GET / HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA : 1\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\n: 1\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA: x\001y\r\n\r\n", -400},
        {"GET  / HTTP/1.1\r\n\r\n", -400},
        {"GET /a b HTTP/1.1\r\n\r\n", -400},
        {"G(T / HTTP/1.1\r\n\r\n", -400},
        {"GET x HTTP/1.1\r\n\r\n", -400},
        {"GET / HTTP/1.1 \r\n\r\n", -400},
        {"GET / HTTP/2.0\r\n\r\n", -505},
        {"GET / HTTP/1.2\r\n\r\n", -505},
        {"GET / FOO/1.1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -501},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\n", -417},
        {"POST / HTTP/1.1\r\nExpect: 100-continue\r\nExpect: x\r\n\r\n", -417},
        {"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\nf: 6\r\ng: 7\r\nh: 8\r\ni: 9\r\n\r\n", -431},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i].text, &h);
        if (rc != bad[i].status)
            fprintf(stderr, "case %zu: %d (%s)\n", i, rc, why);
        CHECK_INT(rc, bad[i].status);
        CHECK(why[0] != '\0');
    }
    /* more bytes of names and values than max_header_bytes */
    char big[600];
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nA: %0250d\r\nB: 1234567\r\n\r\n", 7);
    CHECK_INT(parse(big, &h), -431);
    CHECK(strstr(why, "http.max_header_bytes") != NULL);
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nA: %0250d\r\nB: 1\r\n\r\n", 7);
    CHECK_INT(parse(big, &h), 1);
    /* blanks around values are not counted, but the head's bytes are:
     * over the ceiling it is refused even when it ended, so that a head
     * is taken or refused the same whether it comes at once or slowly */
    size_t pad = kumo__h1_head_max(&lim);
    char *padded = malloc(pad + 64);
    size_t at = (size_t)snprintf(padded, pad + 64, "GET / HTTP/1.1\r\nA:");
    memset(padded + at, ' ', pad);
    memcpy(padded + at + pad, "1\r\n\r\n", 6);
    CHECK_INT(kumo__h1_parse_head(padded, pad, &lim, hv, &h, why, sizeof(why)), 0); /* at the ceiling: more */
    CHECK_INT(kumo__h1_parse_head(padded, at + pad + 6, &lim, hv, &h, why, sizeof(why)), -431);
    memcpy(padded + at + 100, "1\r\n\r\n", 6);
    CHECK_INT(kumo__h1_parse_head(padded, at + 106, &lim, hv, &h, why, sizeof(why)), 1);
    CHECK(slice_is(hv[0].value, "1"));
    free(padded);
    /* a head that never ends is refused once past what the limits allow */
    size_t n = kumo__h1_head_max(&lim) + 10;
    char *endless = malloc(n);
    memcpy(endless, "GET / HTTP/1.1\r\n", 16);
    memset(endless + 16, 'a', n - 16);
    CHECK_INT(kumo__h1_parse_head(endless, n, &lim, hv, &h, why, sizeof(why)), -431);
    CHECK_INT(kumo__h1_parse_head(endless, 40, &lim, hv, &h, why, sizeof(why)), 0);
    /* nothing but empty lines, for ever: refused as a head that does not end */
    memset(endless, '\n', n);
    CHECK_INT(kumo__h1_parse_head(endless, n, &lim, hv, &h, why, sizeof(why)), -431);
    free(endless);
    /* a request line over KUMO__H1_LINE_MAX */
    n = KUMO__H1_LINE_MAX + 100;
    endless = malloc(n);
    memcpy(endless, "GET /", 5);
    memset(endless + 5, 'a', n - 5);
    CHECK_INT(kumo__h1_parse_head(endless, n, &lim, hv, &h, why, sizeof(why)), -414);
    free(endless);
}

/* Decodes text as a chunked body, whole and byte by byte. */
static int dechunk(const char *text, size_t max, char *body, size_t *body_len, size_t *used)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    kumo__h1_chunks c = {0};
    int rc = 0;
    /* byte by byte: each call sees one more byte, as the server's buffer
     * after a read (it compacts as the server does) */
    size_t have = 0, fed = 0;
    while (rc == 0 && fed < len) {
        buf[have++] = text[fed++];
        rc = kumo__h1_dechunk(buf, have, max, &c, why, sizeof(why));
        size_t rest = have - c.in;
        memmove(buf + c.out, buf + c.in, rest);
        have = c.out + rest;
        c.in = c.out;
    }
    int slow = rc;
    size_t slow_out = c.out;
    memcpy(buf, text, len);
    kumo__h1_chunks w = {0};
    rc = kumo__h1_dechunk(buf, len, max, &w, why, sizeof(why));
    CHECK_INT(rc, slow);
    if (rc == 1) {
        CHECK_INT(w.out, slow_out);
        CHECK_INT(fed, w.in); /* the byte-by-byte feed stopped where the coding ends */
        memcpy(body, buf, w.out);
        *body_len = w.out;
        *used = w.in;
    }
    free(buf);
    return rc;
}

static void test_chunked(void)
{
    char body[256];
    size_t blen = 0, used = 0;
    const char *t = "5\r\nhello\r\n1;ext=1\r\n \r\n6 ;e\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET /next";
    CHECK_INT(dechunk(t, 100, body, &blen, &used), 1);
    CHECK_INT(blen, 12);
    CHECK(memcmp(body, "hello  world", 12) == 0);
    CHECK_INT(used, strlen(t) - strlen("GET /next")); /* what follows is the next request */
    CHECK_INT(dechunk("A\nabcdefghij\n0\n\n", 100, body, &blen, &used), 1);
    CHECK_INT(blen, 10);
    CHECK_INT(dechunk("0\r\n\r\n", 100, body, &blen, &used), 1);
    CHECK_INT(blen, 0);
    /* refusals */
    CHECK_INT(dechunk("5\r\nhelloX\r\n0\r\n\r\n", 100, body, &blen, &used), -400);
    CHECK_INT(dechunk("g\r\n", 100, body, &blen, &used), -400);
    CHECK_INT(dechunk("\r\n", 100, body, &blen, &used), -400);
    CHECK_INT(dechunk("5 x\r\nhello\r\n", 100, body, &blen, &used), -400);
    CHECK_INT(dechunk("5 \r\nhello\r\n0\r\n\r\n", 100, body, &blen, &used), -400);     /* blanks, no ';' */
    CHECK_INT(dechunk("5;a\rb\r\nhello\r\n0\r\n\r\n", 100, body, &blen, &used), -400); /* a CR in the extension */
    CHECK_INT(dechunk("5 ;a=\"b c\"\t\r\nhello\r\n0\r\n\r\n", 100, body, &blen, &used), 1);
    CHECK_INT(dechunk("65\r\n", 100, body, &blen, &used), -413); /* 101 > 100 */
    CHECK_INT(dechunk("64\r\n", 100, body, &blen, &used), 0);    /* exactly 100: more to come */
    CHECK_INT(dechunk("32\r\n", 100, body, &blen, &used), 0);
    CHECK_INT(dechunk("ffffffffffffffffff\r\n", 100, body, &blen, &used), -413);
    /* a size line that never ends */
    char longline[5000];
    memset(longline, '0', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    CHECK_INT(dechunk(longline, 100, body, &blen, &used), -400);
    /* the same size line, ended: refused whole as in pieces */
    char *ended = malloc(6000 + 20);
    memcpy(ended, "5;x=", 4);
    memset(ended + 4, 'a', 6000);
    strcpy(ended + 6004, "\r\nhello\r\n0\r\n\r\n");
    CHECK_INT(dechunk(ended, 100, body, &blen, &used), -400);
    free(ended);
}

int main(void)
{
    test_heads();
    test_refusals();
    test_chunked();
    return check_report();
}
