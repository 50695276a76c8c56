/*
 * sigv4.c: AWS Signature Version 4 (see sigv4.h), in the order AWS
 * describes it:
 *
 *   1. the canonical request: METHOD, URI, query, headers, the signed
 *      header names and the payload's hash, one per line;
 *   2. the string to sign: the algorithm, the time, the scope and the
 *      canonical request's SHA-256;
 *   3. the signing key: HMAC-SHA256 chained from "AWS4" + secret over the
 *      date, the region, the service and "aws4_request";
 *   4. the signature: HMAC of the string to sign under that key, in hex.
 *
 * Steps 1 and 2 are kept in a struct of their own (struct steps) so that the
 * unit test, which includes this file, can compare each with what botocore
 * computes. Every text grows in a kumo__growbuf without a ceiling: all of
 * it comes from the caller's own request, which is as large as it is, and
 * a fixed buffer could only cut it short and sign something else.
 *
 * The URL is taken as the client will send it: it must already be
 * percent-encoded (no space, control character or byte over 0x7e, every
 * '%' followed by two hex digits), so that what is signed is what goes on
 * the wire. Two choices the description leaves open: a query's empty
 * parts ("a=1&&b=2", a trailing '&') name no parameter and are not signed,
 * and the host is signed as the URL writes it (no lower-casing), which is
 * what an HTTP client sends in Host.
 */
#include "sdk/stores/sigv4.h"

#include <kumo.h>

#include <bearssl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/growbuf.h"
#include "base/percent.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

/* ---- small helpers --------------------------------------------------- */

static void fail(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg == NULL || msglen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* Zeroes n bytes in a way the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/* Appends to b; a failure (out of memory) sets b->over, which stays set and
 * is checked once when the text is complete. */
static void put(kumo__growbuf *b, const char *p, size_t n)
{
    if (kumo__growbuf_add(b, p, n) != 0)
        b->over = 1;
}

static void put_str(kumo__growbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void buf_init(kumo__growbuf *b)
{
    memset(b, 0, sizeof(*b));
    b->max = SIZE_MAX / 2; /* no ceiling: see the top of the file */
}

static void buf_free(kumo__growbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 9110's token characters: a header name, a method. */
static int is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Appends s[0..n) percent-encoded: every byte but the unreserved ones (and
 * '/' when keep_slash) as %XX with upper-case hex. */
static void put_encoded(kumo__growbuf *b, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && (is_unreserved((unsigned char)s[run]) || (keep_slash && s[run] == '/')))
            run++;
        put(b, s + i, run - i);
        if (run == n)
            break;
        unsigned char c = (unsigned char)s[run];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        put(b, esc, 3);
        i = run + 1;
    }
}

static void put_hex(kumo__growbuf *b, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        put(b, h, 2);
    }
}

static void hex_into(char *out, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    br_sha256_context c;
    br_sha256_init(&c);
    if (n > 0)
        br_sha256_update(&c, p, n);
    br_sha256_out(&c, out);
}

/* out = HMAC-SHA256(key, msg). out may be key: the key is taken into the
 * key context before out is written. Both contexts hold key material and
 * are wiped. */
static void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
    br_hmac_key_context kc;
    br_hmac_context hc;
    br_hmac_key_init(&kc, &br_sha256_vtable, key, klen);
    br_hmac_init(&hc, &kc, 0);
    br_hmac_update(&hc, msg, mlen);
    br_hmac_out(&hc, out);
    wipe(&kc, sizeof(kc));
    wipe(&hc, sizeof(hc));
}

/* ---- the URL --------------------------------------------------------- */

typedef struct url_parts {
    const char *host; /* the host as written, brackets included for IPv6 */
    size_t host_len;
    const char *port; /* the port's digits when not the scheme's default, else NULL */
    size_t port_len;
    const char *path; /* from the first '/' to '?' or the end; path_len 0 when none */
    size_t path_len;
    const char *query; /* after '?' (NULL when none) */
    size_t query_len;
} url_parts;

/* The first bad escape in s[0..n): a '%' not followed by two hex digits. */
static const char *bad_escape(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '%' && (n - i < 3 || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2])))
            return s + i;
    return NULL;
}

static int parse_url(const char *url, url_parts *u, char *msg, size_t msglen)
{
    memset(u, 0, sizeof(*u));
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f) {
            fail(msg, msglen,
                 "sigv4: URL '%s': byte 0x%02x at %zu is a space, a control character or not ASCII; "
                 "percent-encode it",
                 url, c, (size_t)(p - url));
            return KUMO_EINVAL;
        }
        if (c == '#') {
            fail(msg, msglen, "sigv4: URL '%s' has a fragment ('#'), which is never sent; drop it", url);
            return KUMO_EINVAL;
        }
    }
    const char *auth;
    const char *def_port;
    if (strncasecmp(url, "https://", 8) == 0) {
        auth = url + 8;
        def_port = "443";
    } else if (strncasecmp(url, "http://", 7) == 0) {
        auth = url + 7;
        def_port = "80";
    } else {
        fail(msg, msglen, "sigv4: URL '%s': expected http:// or https://", url);
        return KUMO_EINVAL;
    }
    size_t alen = strcspn(auth, "/?");
    if (memchr(auth, '@', alen) != NULL) {
        fail(msg, msglen, "sigv4: URL '%s' has user info (user@host), which is not signed; drop it", url);
        return KUMO_EINVAL;
    }
    const char *rest; /* after the host: ":port" or nothing */
    u->host = auth;
    if (alen > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (close == NULL || close == auth + 1) {
            fail(msg, msglen, "sigv4: URL '%s': an IPv6 host is [ADDRESS]", url);
            return KUMO_EINVAL;
        }
        for (const char *p = auth + 1; p < close; p++)
            if (!is_hex((unsigned char)*p) && *p != ':' && *p != '.') {
                fail(msg, msglen, "sigv4: URL '%s': an IPv6 host holds hex digits, ':' and '.' only", url);
                return KUMO_EINVAL;
            }
        rest = close + 1;
    } else {
        rest = memchr(auth, ':', alen);
        if (rest == NULL)
            rest = auth + alen;
        for (const char *p = auth; p < rest; p++)
            if (!is_unreserved((unsigned char)*p)) {
                fail(msg, msglen, "sigv4: URL '%s': the host holds letters, digits, '-', '.', '_' and '~' only", url);
                return KUMO_EINVAL;
            }
    }
    u->host_len = (size_t)(rest - auth);
    if (u->host_len == 0) {
        fail(msg, msglen, "sigv4: URL '%s' names no host", url);
        return KUMO_EINVAL;
    }
    if (rest < auth + alen) {
        const char *port = rest + 1;
        size_t plen = (size_t)(auth + alen - port);
        unsigned long n = 0;
        int ok = *rest == ':' && plen >= 1 && plen <= 5;
        for (size_t i = 0; ok && i < plen; i++) {
            ok = port[i] >= '0' && port[i] <= '9';
            n = n * 10 + (unsigned long)(port[i] - '0');
        }
        if (!ok || n < 1 || n > 65535) {
            fail(msg, msglen, "sigv4: URL '%s': the port is not a number from 1 to 65535", url);
            return KUMO_EINVAL;
        }
        /* "8080" signs as written; "0443" would be sent as written too,
         * so only the exact default is left out */
        if (!(plen == strlen(def_port) && memcmp(port, def_port, plen) == 0)) {
            u->port = port;
            u->port_len = plen;
        }
    }
    const char *p = auth + alen;
    if (*p == '/') {
        u->path = p;
        u->path_len = strcspn(p, "?");
    } else {
        u->path = "";
    }
    p += u->path_len;
    if (*p == '?') {
        u->query = p + 1;
        u->query_len = strlen(p + 1);
    }
    const char *bad = bad_escape(u->path, u->path_len);
    if (bad == NULL && u->query)
        bad = bad_escape(u->query, u->query_len);
    if (bad != NULL) {
        fail(msg, msglen, "sigv4: URL '%s': bad percent-escape at %zu ('%%' needs two hex digits)", url,
             (size_t)(bad - url));
        return KUMO_EINVAL;
    }
    return 0;
}

/* ---- the canonical query ----------------------------------------------- */

typedef struct param {
    size_t name_off, name_len, value_off, value_len; /* in the encoded text, which moves as it grows */
    const char *name, *value;                        /* set once it is complete */
} param;

static int param_cmp(const void *a, const void *b)
{
    const param *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0 || x->name_len != y->name_len)
        return c != 0 ? c : (x->name_len < y->name_len ? -1 : 1);
    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    c = memcmp(x->value, y->value, n);
    if (c != 0 || x->value_len == y->value_len)
        return c;
    return x->value_len < y->value_len ? -1 : 1;
}

/* Decodes s[0..n) into scratch and appends it encoded to enc; 0 or -1 on a
 * bad escape (parse_url has refused those already). */
static int recode(kumo__growbuf *enc, const char *s, size_t n, char *scratch)
{
    ssize_t d = kumo__percent_decode_into(s, n, scratch, 0);
    if (d < 0)
        return -1;
    put_encoded(enc, scratch, (size_t)d, 0);
    return 0;
}

static int put_query(kumo__growbuf *out, const char *q, size_t qlen, char *msg, size_t msglen)
{
    int rc = KUMO_ENOMEM;
    size_t count = 1;
    for (size_t i = 0; i < qlen; i++)
        count += q[i] == '&';
    kumo__growbuf enc;
    buf_init(&enc);
    param *ps = calloc(count, sizeof(*ps));
    char *scratch = malloc(qlen + 1);
    size_t n = 0;
    if (ps == NULL || scratch == NULL)
        goto out;
    for (const char *p = q, *end = q + qlen; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pend = amp ? amp : end;
        if (pend > p) {
            const char *eq = memchr(p, '=', (size_t)(pend - p));
            const char *nend = eq ? eq : pend;
            param *x = &ps[n++];
            x->name_off = enc.len;
            if (recode(&enc, p, (size_t)(nend - p), scratch) != 0)
                goto bad;
            x->name_len = enc.len - x->name_off;
            x->value_off = enc.len;
            if (eq && recode(&enc, eq + 1, (size_t)(pend - eq - 1), scratch) != 0)
                goto bad;
            x->value_len = enc.len - x->value_off;
        }
        p = pend + (amp != NULL);
    }
    if (enc.over)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ps[i].name = enc.data + ps[i].name_off;
        ps[i].value = enc.data + ps[i].value_off;
    }
    qsort(ps, n, sizeof(*ps), param_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            put(out, "&", 1);
        put(out, ps[i].name, ps[i].name_len);
        put(out, "=", 1);
        put(out, ps[i].value, ps[i].value_len);
    }
    rc = 0;
    goto out;
bad:
    fail(msg, msglen, "sigv4: bad percent-escape in the query");
    rc = KUMO_EINVAL;
out:
    free(scratch);
    free(ps);
    buf_free(&enc);
    return rc;
}

/* ---- the headers ------------------------------------------------------- */

typedef struct hdr {
    const char *name; /* as written: compared and signed lower-cased */
    size_t name_len;
    const char *value; /* untrimmed: trimmed and collapsed when signed */
    size_t value_len;
    size_t order; /* repeated names keep the order they were given in */
} hdr;

static int hdr_cmp(const void *a, const void *b)
{
    const hdr *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    for (size_t i = 0; i < n; i++) {
        int c = (int)ascii_lower((unsigned char)x->name[i]) - (int)ascii_lower((unsigned char)y->name[i]);
        if (c != 0)
            return c;
    }
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int same_name(const hdr *x, const hdr *y)
{
    return x->name_len == y->name_len && strncasecmp(x->name, y->name, x->name_len) == 0;
}

static int name_is(const char *name, size_t len, const char *lower)
{
    return strlen(lower) == len && strncasecmp(name, lower, len) == 0;
}

static void put_lower(kumo__growbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = (char)ascii_lower((unsigned char)s[i]);
        put(b, &c, 1);
    }
}

/* The value without leading and trailing spaces and tabs, each inner run
 * of them one space. */
static void put_value(kumo__growbuf *b, const char *v, size_t n)
{
    size_t i = 0;
    int first = 1;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t start = i;
        while (i < n && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i > start) {
            if (!first)
                put(b, " ", 1);
            put(b, v + start, i - start);
            first = 0;
        }
    }
}

/* Headers that are not signed: clients and proxies add, drop or rewrite
 * them on the way, and authorization is what is being made. */
static const char *const unsigned_headers[] = {"user-agent",        "expect",     "content-length",
                                               "transfer-encoding", "connection", "authorization"};

/* Splits "Name: value" into h (borrowing the line); 1 when it is to be
 * signed, 0 when it is one of unsigned_headers, or KUMO_EINVAL. */
static int split_header(const char *line, size_t index, const kumo__sigv4_req *r, int s3, hdr *h, char *msg,
                        size_t msglen)
{
    const char *colon = strchr(line, ':');
    size_t nlen = colon ? (size_t)(colon - line) : 0;
    for (size_t i = 0; i < nlen; i++)
        if (!is_tchar((unsigned char)line[i]))
            nlen = 0;
    if (nlen == 0) {
        fail(msg, msglen, "sigv4: header line %zu is not 'Name: value' (a name of token characters, then ':')", index);
        return KUMO_EINVAL;
    }
    for (const char *p = colon + 1; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            /* the value is not quoted: it may be a credential */
            fail(msg, msglen, "sigv4: header '%.*s' has a CR, LF or other control character in its value", (int)nlen,
                 line);
            return KUMO_EINVAL;
        }
    }
    if (name_is(line, nlen, "host") || name_is(line, nlen, "x-amz-date") ||
        (s3 && name_is(line, nlen, "x-amz-content-sha256")) ||
        (r->token && *r->token && name_is(line, nlen, "x-amz-security-token"))) {
        fail(msg, msglen,
             "sigv4: header '%.*s' is the signer's (Host comes from the URL, X-Amz-Date from the time, "
             "X-Amz-Content-Sha256 from the payload, X-Amz-Security-Token from the token); drop it",
             (int)nlen, line);
        return KUMO_EINVAL;
    }
    for (size_t i = 0; i < sizeof(unsigned_headers) / sizeof(unsigned_headers[0]); i++)
        if (name_is(line, nlen, unsigned_headers[i]))
            return 0;
    h->name = line;
    h->name_len = nlen;
    h->value = colon + 1;
    h->value_len = strlen(colon + 1);
    return 1;
}

/* ---- steps 1 and 2 ----------------------------------------------------- */

/* What the signature is made from, kept for the unit test to compare. */
typedef struct steps {
    kumo__growbuf creq;           /* the canonical request */
    kumo__growbuf sts;            /* the string to sign */
    kumo__growbuf signed_headers; /* "host;x-amz-date;..." */
    kumo__growbuf host;           /* the host header's value */
    char amz_date[32];            /* YYYYMMDDTHHMMSSZ; the first 8 bytes are the scope's date */
    char hash[65];                /* the payload's hash when computed here */
    const char *payload;          /* hash, or the request's payload_hash */
} steps;

static void steps_free(steps *s)
{
    buf_free(&s->creq);
    buf_free(&s->sts);
    buf_free(&s->signed_headers);
    buf_free(&s->host);
}

/* A part of the credential scope or of a header line: printable, no
 * space, and not the scope's separator. */
static int scope_safe(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '/' || *s == ',')
            return 0;
    return 1;
}

/* A value put on a header line of its own: no control character. */
static int line_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

static int check_req(const kumo__sigv4_req *r, char *msg, size_t msglen)
{
    const char *what = NULL;
    if (r->method == NULL || *r->method == '\0')
        what = "the method is missing";
    else if (r->url == NULL)
        what = "the URL is missing";
    else if (!scope_safe(r->region))
        what = "the region is missing or has '/', ',', a space or a control character";
    else if (!scope_safe(r->service))
        what = "the service is missing or has '/', ',', a space or a control character";
    else if (!scope_safe(r->key))
        what = "the access key id is missing or has '/', ',', a space or a control character";
    else if (r->secret == NULL)
        what = "the secret is missing";
    else if (r->token && !line_safe(r->token))
        what = "the session token has a control character";
    else if (r->payload_hash && !line_safe(r->payload_hash))
        what = "payload_hash has a control character";
    for (const char *p = r->method; what == NULL && *p; p++)
        if (!is_tchar((unsigned char)*p))
            what = "the method is not a token (GET, PUT, ...)";
    if (what != NULL) {
        fail(msg, msglen, "sigv4: %s", what);
        return KUMO_EINVAL;
    }
    return 0;
}

static int make_steps(const kumo__sigv4_req *r, steps *s, char *msg, size_t msglen)
{
    memset(s, 0, sizeof(*s));
    buf_init(&s->creq);
    buf_init(&s->sts);
    buf_init(&s->signed_headers);
    buf_init(&s->host);
    hdr *hs = NULL;
    int rc = check_req(r, msg, msglen);
    if (rc != 0)
        goto out;
    int s3 = strcmp(r->service, "s3") == 0;
    int token = r->token && *r->token;

    struct tm tm;
    if (gmtime_r(&r->now, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        fail(msg, msglen, "sigv4: the signing time %lld is not in years 0 to 9999", (long long)r->now);
        rc = KUMO_EINVAL;
        goto out;
    }
    snprintf(s->amz_date, sizeof(s->amz_date), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);

    url_parts u;
    rc = parse_url(r->url, &u, msg, msglen);
    if (rc != 0)
        goto out;
    put(&s->host, u.host, u.host_len);
    if (u.port) {
        put(&s->host, ":", 1);
        put(&s->host, u.port, u.port_len);
    }

    if (r->payload_hash && *r->payload_hash) {
        s->payload = r->payload_hash;
    } else {
        unsigned char h[32];
        sha256(r->body, r->body ? r->len : 0, h);
        hex_into(s->hash, h, sizeof(h));
        s->payload = s->hash;
    }

    /* the headers: the caller's that are signed, then the signer's own */
    size_t n = 0, cap = 4;
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        cap++;
    hs = calloc(cap, sizeof(*hs));
    if (hs == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    for (size_t i = 0; r->headers && r->headers[i]; i++) {
        rc = split_header(r->headers[i], i, r, s3, &hs[n], msg, msglen);
        if (rc < 0)
            goto out;
        if (rc == 1) {
            hs[n].order = n;
            n++;
        }
    }
    rc = 0;
    if (s->host.over) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    hs[n] = (hdr){"host", 4, s->host.data, s->host.len, n};
    n++;
    hs[n] = (hdr){"x-amz-date", 10, s->amz_date, strlen(s->amz_date), n};
    n++;
    if (token) {
        hs[n] = (hdr){"x-amz-security-token", 20, r->token, strlen(r->token), n};
        n++;
    }
    if (s3) {
        hs[n] = (hdr){"x-amz-content-sha256", 20, s->payload, strlen(s->payload), n};
        n++;
    }
    qsort(hs, n, sizeof(*hs), hdr_cmp);

    /* step 1: the canonical request */
    kumo__growbuf *c = &s->creq;
    put_str(c, r->method);
    put(c, "\n", 1);
    if (u.path_len == 0)
        put(c, "/", 1);
    else if (s3)
        put(c, u.path, u.path_len);
    else
        put_encoded(c, u.path, u.path_len, 1);
    put(c, "\n", 1);
    if (u.query) {
        rc = put_query(c, u.query, u.query_len, msg, msglen);
        if (rc != 0)
            goto out;
    }
    put(c, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || !same_name(&hs[i - 1], &hs[i])) {
            if (i > 0) {
                put(c, "\n", 1);
                put(&s->signed_headers, ";", 1);
            }
            put_lower(c, hs[i].name, hs[i].name_len);
            put(c, ":", 1);
            put_lower(&s->signed_headers, hs[i].name, hs[i].name_len);
        } else {
            put(c, ",", 1);
        }
        put_value(c, hs[i].value, hs[i].value_len);
    }
    put(c, "\n\n", 2);
    put(c, s->signed_headers.data, s->signed_headers.len);
    put(c, "\n", 1);
    put_str(c, s->payload);

    /* step 2: the string to sign */
    if (!c->over && !s->signed_headers.over) {
        unsigned char h[32];
        sha256(c->data, c->len, h);
        put_str(&s->sts, ALGORITHM "\n");
        put_str(&s->sts, s->amz_date);
        put(&s->sts, "\n", 1);
        put(&s->sts, s->amz_date, 8);
        put(&s->sts, "/", 1);
        put_str(&s->sts, r->region);
        put(&s->sts, "/", 1);
        put_str(&s->sts, r->service);
        put_str(&s->sts, "/aws4_request\n");
        put_hex(&s->sts, h, sizeof(h));
    }
    if (c->over || s->signed_headers.over || s->sts.over || s->sts.data == NULL)
        rc = KUMO_ENOMEM;
out:
    free(hs);
    if (rc == KUMO_ENOMEM)
        fail(msg, msglen, "sigv4: out of memory");
    if (rc != 0)
        steps_free(s);
    return rc;
}

/* ---- steps 3 and 4, and the lines ---------------------------------------- */

static char *line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *line(const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

void kumo__sigv4_out_free(kumo__sigv4_out *out)
{
    if (out == NULL)
        return;
    for (size_t i = 0; i < sizeof(out->lines) / sizeof(out->lines[0]); i++) {
        free(out->lines[i]);
        out->lines[i] = NULL;
    }
}

int kumo__sigv4_sign(const kumo__sigv4_req *r, kumo__sigv4_out *out, char *msg, size_t msglen)
{
    if (out == NULL || r == NULL) {
        fail(msg, msglen, "sigv4: no request or no place for the result");
        return KUMO_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    steps s;
    int rc = make_steps(r, &s, msg, msglen);
    if (rc != 0)
        return rc;

    /* step 3: the signing key, from "AWS4" + secret; each HMAC's result is
     * the next one's key */
    unsigned char k[32], sig[32];
    char sig_hex[65];
    size_t slen = strlen(r->secret);
    char *k0 = slen < SIZE_MAX - 4 ? malloc(slen + 4) : NULL;
    if (k0 == NULL) {
        rc = KUMO_ENOMEM;
        goto out;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, r->secret, slen);
    hmac_sha256(k0, slen + 4, s.amz_date, 8, k);
    wipe(k0, slen + 4);
    free(k0);
    hmac_sha256(k, sizeof(k), r->region, strlen(r->region), k);
    hmac_sha256(k, sizeof(k), r->service, strlen(r->service), k);
    hmac_sha256(k, sizeof(k), "aws4_request", 12, k);

    /* step 4: the signature */
    hmac_sha256(k, sizeof(k), s.sts.data, s.sts.len, sig);
    wipe(k, sizeof(k));
    hex_into(sig_hex, sig, sizeof(sig));

    size_t i = 0;
    out->lines[i++] = line("Authorization: " ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
                           "Signature=%s",
                           r->key, s.amz_date, r->region, r->service, s.signed_headers.data, sig_hex);
    out->lines[i++] = line("X-Amz-Date: %s", s.amz_date);
    if (r->token && *r->token)
        out->lines[i++] = line("X-Amz-Security-Token: %s", r->token);
    if (strcmp(r->service, "s3") == 0)
        out->lines[i++] = line("X-Amz-Content-Sha256: %s", s.payload);
    while (i-- > 0)
        if (out->lines[i] == NULL)
            rc = KUMO_ENOMEM;
out:
    steps_free(&s);
    if (rc != 0) {
        kumo__sigv4_out_free(out);
        fail(msg, msglen, "sigv4: out of memory");
    }
    return rc;
}
