/*
 * http1.c: see http1.h. Strict where a lenient reading would let two
 * readers of the same bytes disagree on where a request ends (RFC 9112
 * 6.1, 6.3, 11.2: folded lines, whitespace before a colon, Transfer-
 * Encoding with Content-Length); lenient where RFC 9112 allows it (bare
 * LF line ends, empty lines before the request line).
 */
#include "host/http1.h"

#include <stdio.h>
#include <string.h>

/* Bytes of a chunk's size line and of the trailer section taken. */
#define CHUNK_LINE_MAX 4096
#define TRAILERS_MAX 8192

enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_DONE };

static int refuse(int status, char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return -status;
}

/* RFC 9110 5.6.2 tchar */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char lower(char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* Whether s[0..n) equals the lower-case literal, ignoring case. */
static int equals_ci(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lit[i])
            return 0;
    return 1;
}

/* Trims optional whitespace around v[0..*n). */
static const char *trim(const char *v, size_t *n)
{
    while (*n && (*v == ' ' || *v == '\t'))
        v++, (*n)--;
    while (*n && (v[*n - 1] == ' ' || v[*n - 1] == '\t'))
        (*n)--;
    return v;
}

/* Whether the comma-separated list v[0..n) holds `token` (lower case). */
static int list_has(const char *v, size_t n, const char *token)
{
    while (n > 0) {
        const char *comma = memchr(v, ',', n);
        size_t k = comma ? (size_t)(comma - v) : n, t = k;
        const char *item = trim(v, &t);
        if (equals_ci(item, t, token))
            return 1;
        if (comma == NULL)
            break;
        v = comma + 1;
        n -= k + 1;
    }
    return 0;
}

size_t kumo__h1_head_max(const kumo__http_limits *lim)
{
    /* the request line, the fields' names and values, and per field its
     * colon, a blank and its line end */
    return KUMO__H1_LINE_MAX + lim->max_header_bytes + 4 * (size_t)lim->max_headers + 2;
}

/* The length of the head in buf[start..len) through its empty line, or 0
 * when it has not ended yet. */
static size_t head_end(const char *buf, size_t start, size_t len)
{
    for (const char *p = buf + start, *end = buf + len; (p = memchr(p, '\n', (size_t)(end - p))) != NULL;) {
        p++;
        if (p < end && *p == '\n')
            return (size_t)(p + 1 - buf);
        if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
            return (size_t)(p + 2 - buf);
        if (p + 1 >= end)
            break;
    }
    return 0;
}

/* The end of the line at p (before its CR LF or LF), and *next after it. */
static const char *line_end(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    *next = lf + 1;
    return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

static int request_line(char *p, const char *eol, kumo__h1_head *out, char *why, size_t whylen)
{
    char *m = p;
    while (p < eol && is_tchar((unsigned char)*p))
        p++;
    if (p == m || p >= eol || *p != ' ')
        return refuse(400, why, whylen, "the request line does not start with a method and a space");
    out->method = (kumo__slice){m, (size_t)(p - m)};
    char *t = ++p;
    while (p < eol && (unsigned char)*p > ' ' && *p != 0x7f)
        p++;
    if (p == t || p >= eol || *p != ' ')
        return refuse(400, why, whylen, "the request line has no target, or a control character in it");
    const char *target = t;
    size_t tlen = (size_t)(p - t);
    p++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT */
    if ((size_t)(eol - p) != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' ||
        p[7] > '9')
        return refuse(400, why, whylen, "the request line does not end with an HTTP version (HTTP/1.1)");
    if (p[5] != '1' || p[7] > '1')
        return refuse(505, why, whylen, "only HTTP/1.0 and HTTP/1.1 are served here");
    out->minor = p[7] - '0';
    /* absolute-form (RFC 9112 3.2.2): the path is what follows the authority */
    if (tlen > 7 && (equals_ci(target, 7, "http://") || (tlen > 8 && equals_ci(target, 8, "https://")))) {
        const char *a = target + (target[4] == ':' ? 7 : 8);
        const char *slash = memchr(a, '/', tlen - (size_t)(a - target));
        const char *q = memchr(a, '?', tlen - (size_t)(a - target));
        if (slash == NULL || (q && q < slash))
            return refuse(400, why, whylen, "an absolute request target without a path");
        tlen -= (size_t)(slash - target);
        target = slash;
    } else if (target[0] != '/' && !(tlen == 1 && target[0] == '*' && equals_ci(m, out->method.len, "options"))) {
        return refuse(400, why, whylen, "the request target is not a path");
    }
    const char *q = memchr(target, '?', tlen);
    out->path = (kumo__slice){target, q ? (size_t)(q - target) : tlen};
    out->query = q ? (kumo__slice){q + 1, tlen - (size_t)(q + 1 - target)} : (kumo__slice){NULL, 0};
    return 0;
}

int kumo__h1_parse_head(char *buf, size_t len, const kumo__http_limits *lim, kumo__header_view *hv, kumo__h1_head *out,
                        char *why, size_t whylen)
{
    size_t skip = 0;
    while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
        skip++; /* empty lines before the request line (RFC 9112 2.2) */
    const char *lf = memchr(buf + skip, '\n', len - skip);
    if ((lf ? (size_t)(lf - buf) - skip : len - skip) > KUMO__H1_LINE_MAX)
        return refuse(414, why, whylen, "the request line is longer than 8192 bytes");
    size_t hlen = lf ? head_end(buf, (size_t)(lf - buf), len) : 0;
    if (hlen == 0 || hlen > kumo__h1_head_max(lim)) {
        /* over the ceiling whether it ended or not, so that a head is
         * taken or refused the same however its bytes arrive; empty lines
         * before the request line count too */
        if (hlen > 0 || len > kumo__h1_head_max(lim))
            return refuse(431, why, whylen,
                          "the request's head does not end within the bytes http.max_headers "
                          "and http.max_header_bytes allow");
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    const char *end = buf + hlen, *next;
    char *p = buf + skip;
    const char *eol = line_end(p, end, &next);
    int rc = request_line(p, eol, out, why, whylen);
    if (rc != 0)
        return rc;
    int close = 0, keep = 0, te = 0, ncl = 0, expect_other = 0;
    size_t bytes = 0;
    const char *cl = NULL;
    size_t cl_len = 0;
    for (p = (char *)next; (eol = line_end(p, end, &next)) > p; p = (char *)next) {
        if (*p == ' ' || *p == '\t')
            return refuse(400, why, whylen, "a header field line is folded (obs-fold), which is not accepted");
        char *n = p;
        while (p < eol && is_tchar((unsigned char)*p))
            *p = lower(*p), p++;
        if (p == n || p >= eol || *p != ':')
            return refuse(400, why, whylen, "a header field line has no name, or whitespace before its colon");
        size_t nlen = (size_t)(p - n), vlen = (size_t)(eol - p - 1);
        const char *v = trim(p + 1, &vlen);
        for (size_t i = 0; i < vlen; i++) {
            unsigned char c = (unsigned char)v[i];
            if ((c < ' ' && c != '\t') || c == 0x7f)
                return refuse(400, why, whylen, "a header field's value holds a control character");
        }
        if (out->nheaders >= (size_t)lim->max_headers) {
            snprintf(why, whylen, "the request has more than %d header fields (kumo.yaml http.max_headers)",
                     lim->max_headers);
            return -431;
        }
        bytes += nlen + vlen;
        if (bytes > lim->max_header_bytes) {
            snprintf(why, whylen,
                     "the request's header fields hold more than %zu bytes of names and values "
                     "(kumo.yaml http.max_header_bytes)",
                     lim->max_header_bytes);
            return -431;
        }
        hv[out->nheaders].name = (kumo__slice){n, nlen};
        hv[out->nheaders].value = (kumo__slice){v, vlen};
        out->nheaders++;
        if (nlen == 14 && memcmp(n, "content-length", 14) == 0) {
            if (ncl++ > 0 && (vlen != cl_len || memcmp(v, cl, vlen) != 0))
                return refuse(400, why, whylen, "the request has two Content-Length fields that differ; send one");
            cl = v;
            cl_len = vlen;
        } else if (nlen == 17 && memcmp(n, "transfer-encoding", 17) == 0) {
            /* RFC 9112 6.3: chunked must be the last coding, or where the
             * body ends cannot be told (400); kumo decodes no other (501) */
            if (te++ > 0)
                return refuse(400, why, whylen, "the request has more than one Transfer-Encoding field");
            const char *comma = v + vlen;
            while (comma > v && comma[-1] != ',')
                comma--;
            size_t last = vlen - (size_t)(comma - v);
            const char *lastv = trim(comma, &last);
            if (!equals_ci(lastv, last, "chunked"))
                return refuse(400, why, whylen, "the request's last transfer coding is not chunked");
            if (comma != v)
                return refuse(501, why, whylen, "only the chunked transfer coding is accepted");
            out->chunked = 1;
        } else if (nlen == 10 && memcmp(n, "connection", 10) == 0) {
            close |= list_has(v, vlen, "close");
            keep |= list_has(v, vlen, "keep-alive");
        } else if (nlen == 6 && memcmp(n, "expect", 6) == 0) {
            if (equals_ci(v, vlen, "100-continue"))
                out->expect_continue = 1;
            else
                expect_other = 1;
        }
    }
    if (te && ncl > 0)
        return refuse(400, why, whylen,
                      "the request has both Transfer-Encoding and Content-Length; send one (RFC 9112 6.1)");
    if (te && out->minor == 0)
        return refuse(400, why, whylen, "an HTTP/1.0 request cannot be chunked");
    if (cl) {
        if (cl_len == 0)
            return refuse(400, why, whylen, "the request's Content-Length is empty");
        int64_t n = 0;
        for (size_t i = 0; i < cl_len; i++) {
            if (cl[i] < '0' || cl[i] > '9')
                return refuse(400, why, whylen, "the request's Content-Length is not a number");
            n = n > (INT64_MAX - 9) / 10 ? INT64_MAX : n * 10 + (cl[i] - '0');
        }
        out->content_length = n;
    }
    /* RFC 9110 10.1.1: 100-continue is the only expectation there is; a
     * request that expects anything else is refused before its body is
     * read (h2o answers kumo up's the same way). */
    if (expect_other)
        return refuse(417, why, whylen, "the request's Expect field asks for something other than 100-continue");
    out->keep_alive = out->minor == 1 ? !close : keep && !close;
    out->len = hlen;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int kumo__h1_dechunk(char *buf, size_t len, size_t max_body, kumo__h1_chunks *c, char *why, size_t whylen)
{
    while (c->phase != CH_DONE) {
        if (c->phase == CH_DATA) {
            size_t n = len - c->in < c->left ? len - c->in : (size_t)c->left;
            if (n == 0)
                return 0;
            memmove(buf + c->out, buf + c->in, n);
            c->in += n;
            c->out += n;
            c->left -= n;
            if (c->left == 0)
                c->phase = CH_DATA_END;
            continue;
        }
        if (c->phase == CH_DATA_END) {
            if (c->in < len && buf[c->in] == '\n') {
                c->in++;
            } else if (len - c->in >= 2 && buf[c->in] == '\r' && buf[c->in + 1] == '\n') {
                c->in += 2;
            } else if (len - c->in >= 2 || (c->in < len && buf[c->in] != '\r')) {
                return refuse(400, why, whylen, "a chunk's data is not followed by a line end");
            } else {
                return 0;
            }
            c->phase = CH_SIZE;
            continue;
        }
        /* a size line or a trailer line: whole lines only */
        const char *lf = memchr(buf + c->in, '\n', len - c->in);
        if (lf == NULL) {
            if (len - c->in > (c->phase == CH_SIZE ? CHUNK_LINE_MAX : TRAILERS_MAX))
                return refuse(400, why, whylen, "a chunk's size line or the trailers are too long");
            return 0;
        }
        const char *p = buf + c->in, *eol = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
        if (c->phase == CH_SIZE && (size_t)(lf - p) > CHUNK_LINE_MAX) /* as when its end had not come yet */
            return refuse(400, why, whylen, "a chunk's size line or the trailers are too long");
        c->in = (size_t)(lf + 1 - buf);
        if (c->phase == CH_TRAILER) {
            if (eol == p) {
                c->phase = CH_DONE;
            } else if ((c->trailer_bytes += (size_t)(eol - p)) > TRAILERS_MAX) {
                return refuse(400, why, whylen, "the chunked body's trailers are too long");
            }
            continue; /* trailer fields are read past, not kept */
        }
        uint64_t size = 0;
        const char *d = p;
        for (int v; d < eol && (v = hexval(*d)) >= 0; d++) {
            if (size >> 60)
                return refuse(413, why, whylen, "a chunk is larger than the body may be");
            size = size << 4 | (uint64_t)v;
        }
        const char *ws = d;
        while (d < eol && (*d == ' ' || *d == '\t'))
            d++;
        /* RFC 9112 7.1.1: blanks only before an extension's ';', and no
         * control character in the extension */
        if (d == p || (d < eol && *d != ';') || (d == eol && d != ws))
            return refuse(400, why, whylen, "a chunk's size is not a hexadecimal number");
        for (const char *x = d; x < eol; x++)
            if (((unsigned char)*x < ' ' && *x != '\t') || *x == 0x7f)
                return refuse(400, why, whylen, "a chunk's extension holds a control character");
        if (size > max_body - c->out) {
            snprintf(why, whylen, "the request's body is larger than %zu bytes", max_body);
            return -413;
        }
        c->left = size;
        c->phase = size == 0 ? CH_TRAILER : CH_DATA;
    }
    return 1;
}
