/*
 * schema_format.c: the `format` keyword's checks for the schema validator
 * (schema.c), plus two small string helpers it needs: UTF-8 code point
 * counting and RFC 3986 reference resolution (for $id and $ref).
 *
 * Formats are asserted by default, not just annotated: OpenAPI users
 * expect `format: date-time` to refuse "yesterday" (a schema compiled with
 * KUMO__FORMATS_ANNOTATE never calls these). Each check is a hand-written
 * scanner over the grammar of its RFC; none allocates except `regex`,
 * which compiles the pattern as `pattern` does (schema_regex.c).
 */
#include "openapi/schema_format.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openapi/schema_regex.h"

static const struct {
    const char *name;
    enum kumo__format f;
} formats[] = {
    {"date-time", KUMO__FMT_DATE_TIME},
    {"date", KUMO__FMT_DATE},
    {"time", KUMO__FMT_TIME},
    {"email", KUMO__FMT_EMAIL},
    {"uuid", KUMO__FMT_UUID},
    {"uri", KUMO__FMT_URI},
    {"uri-reference", KUMO__FMT_URI_REFERENCE},
    {"ipv4", KUMO__FMT_IPV4},
    {"ipv6", KUMO__FMT_IPV6},
    {"hostname", KUMO__FMT_HOSTNAME},
    {"int32", KUMO__FMT_INT32},
    {"int64", KUMO__FMT_INT64},
    {"float", KUMO__FMT_FLOAT},
    {"double", KUMO__FMT_DOUBLE},
    {"byte", KUMO__FMT_BYTE},
    {"binary", KUMO__FMT_BINARY},
    {"regex", KUMO__FMT_REGEX},
    {"json-pointer", KUMO__FMT_JSON_POINTER},
};

enum kumo__format kumo__format_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].name, name) == 0)
            return formats[i].f;
    return KUMO__FMT_NONE;
}

size_t kumo__utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* ---- dates and times (RFC 3339 section 5.6) ---------------------------- */

static int digits(const char *s, size_t *i, size_t len, int n, int *out)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return 0;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

static int scan_date(const char *s, size_t *i, size_t len)
{
    int y, m, d;
    if (!digits(s, i, len, 4, &y) || *i >= len || s[(*i)++] != '-' || !digits(s, i, len, 2, &m) || *i >= len ||
        s[(*i)++] != '-' || !digits(s, i, len, 2, &d))
        return 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* full-time: partial-time time-offset. A leap second (60) is accepted
 * only where it can happen: at 23:59 UTC once the offset is applied. */
static int scan_time(const char *s, size_t *i, size_t len)
{
    int h, m, sec, oh = 0, om = 0, sign = 0;
    if (!digits(s, i, len, 2, &h) || *i >= len || s[(*i)++] != ':' || !digits(s, i, len, 2, &m) || *i >= len ||
        s[(*i)++] != ':' || !digits(s, i, len, 2, &sec))
        return 0;
    if (h > 23 || m > 59 || sec > 60)
        return 0;
    if (*i < len && s[*i] == '.') {
        size_t start = ++*i;
        while (*i < len && s[*i] >= '0' && s[*i] <= '9')
            ++*i;
        if (*i == start)
            return 0;
    }
    if (*i >= len)
        return 0;
    if (s[*i] == 'Z' || s[*i] == 'z') {
        ++*i;
    } else if (s[*i] == '+' || s[*i] == '-') {
        sign = s[(*i)++] == '+' ? 1 : -1;
        if (!digits(s, i, len, 2, &oh) || *i >= len || s[(*i)++] != ':' || !digits(s, i, len, 2, &om))
            return 0;
        if (oh > 23 || om > 59)
            return 0;
    } else {
        return 0;
    }
    if (sec == 60) {
        int utc = ((h * 60 + m) - sign * (oh * 60 + om)) % 1440;
        if (utc < 0)
            utc += 1440;
        if (utc != 23 * 60 + 59)
            return 0;
    }
    return 1;
}

static int is_date_time(const char *s, size_t len)
{
    size_t i = 0;
    if (!scan_date(s, &i, len) || i >= len || (s[i] != 'T' && s[i] != 't'))
        return 0;
    i++;
    return scan_time(s, &i, len) && i == len;
}

/* ---- names and addresses ---------------------------------------------- */

static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 1123: labels of 1-63 letters, digits and inner hyphens; 253 bytes
 * at most; one trailing dot (a fully qualified name) is allowed. */
static int is_hostname(const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t n = i - start;
            if (n == 0 || n > 63 || s[start] == '-' || s[i - 1] == '-')
                return 0;
            start = i + 1;
        } else if (!is_alnum((unsigned char)s[i]) && s[i] != '-') {
            return 0;
        }
    }
    return 1;
}

static int is_ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0 && (i >= len || s[i++] != '.'))
            return 0;
        size_t start = i;
        int v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (s[i++] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return 0;
    }
    return i == len;
}

static int is_ipv6(const char *s, size_t len)
{
    char buf[64];
    unsigned char addr[16];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

/* Practical email: a dot-atom or quoted local part, '@', and a domain
 * that is a hostname (a dot-less one such as "localhost" included) or an
 * address literal in brackets. */
static int is_email(const char *s, size_t len)
{
    const char *at = NULL;
    if (len > 0 && s[0] == '"') {
        size_t i = 1;
        while (i < len && s[i] != '"') {
            if (s[i] == '\\')
                i++;
            i++;
        }
        if (i >= len || i + 1 >= len || s[i + 1] != '@' || i == 1)
            return 0;
        at = s + i + 1;
    } else {
        at = memchr(s, '@', len);
        if (at == NULL || at == s || at - s > 64)
            return 0;
        static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
        for (const char *p = s; p < at; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '.') {
                if (p == s || p + 1 == at || p[1] == '.')
                    return 0;
            } else if (!is_alnum(c) && c < 0x80 && strchr(atext, c) == NULL) {
                return 0;
            } else if (c == '\0') {
                return 0;
            }
        }
    }
    const char *d = at + 1;
    size_t dlen = len - (size_t)(d - s);
    if (dlen >= 2 && d[0] == '[' && d[dlen - 1] == ']') {
        if (dlen > 7 && strncmp(d + 1, "IPv6:", 5) == 0)
            return is_ipv6(d + 6, dlen - 7);
        return is_ipv4(d + 1, dlen - 2);
    }
    return is_hostname(d, dlen) && d[dlen - 1] != '.';
}

static int is_uuid(const char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_hex((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* RFC 3986 characters outside the host: unreserved, sub-delims, gen-delims
 * but brackets, and valid %XX escapes. Brackets are allowed only inside
 * the authority (IP literals). */
static int uri_chars_ok(const char *s, size_t len)
{
    static const char allowed[] = "-._~!$&'()*+,;=:@/?#";
    size_t auth_end = 0;
    if (len >= 2 && s[0] == '/' && s[1] == '/') {
        auth_end = 2;
        while (auth_end < len && s[auth_end] != '/' && s[auth_end] != '?' && s[auth_end] != '#')
            auth_end++;
    }
    int hashes = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return 0;
            if (!is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2]))
                return 0;
            i += 2;
        } else if (c == '[' || c == ']') {
            if (i >= auth_end)
                return 0;
        } else if (c == '#') {
            if (++hashes > 1)
                return 0;
        } else if (!is_alnum(c) && (c == '\0' || strchr(allowed, c) == NULL)) {
            return 0;
        }
    }
    return 1;
}

/* Length of a valid scheme followed by ':' at the start of s, else 0. */
static size_t scheme_len(const char *s, size_t len)
{
    if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    size_t i = 1;
    while (i < len && (is_alnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    return i < len && s[i] == ':' ? i : 0;
}

static int is_uri(const char *s, size_t len, int need_scheme)
{
    size_t n = scheme_len(s, len);
    if (n == 0) {
        if (need_scheme)
            return 0;
        /* a relative reference: a ':' before any '/' would make the first
         * segment a (bad) scheme */
        for (size_t i = 0; i < len && s[i] != '/' && s[i] != '?' && s[i] != '#'; i++)
            if (s[i] == ':')
                return 0;
        return uri_chars_ok(s, len);
    }
    return uri_chars_ok(s + n + 1, len - n - 1);
}

static int is_base64(const char *s, size_t len)
{
    if (len % 4 != 0)
        return 0;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '=') {
            pad++;
            if (i < len - 2)
                return 0;
        } else if (pad > 0 || !(is_alnum(c) || c == '+' || c == '/')) {
            return 0;
        }
    }
    return pad <= 2;
}

/* In the dialect `pattern` uses (schema_regex.c); running out of memory
 * counts as not a regex, for want of a third answer. */
static int is_regex(const char *s, size_t len)
{
    pcre2_code *re = NULL;
    char why[8];
    if (kumo__regex_compile(s, len, &re, why, sizeof why) < 0)
        return 0;
    pcre2_code_free(re);
    return 1;
}

static int is_json_pointer(const char *s, size_t len)
{
    if (len > 0 && s[0] != '/')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
            return 0;
    return 1;
}

/* Whether a number is integral and within [lo, hi]. */
static int int_in_range(const json_t *v, double lo, double hi)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return (double)i >= lo && (double)i <= hi;
    }
    double d = json_real_value(v);
    return d == floor(d) && d >= lo && d <= hi;
}

int kumo__format_check(enum kumo__format f, const json_t *v, const char **hint)
{
    *hint = NULL;
    switch (f) {
    case KUMO__FMT_INT32:
        *hint = "a 32-bit integer (-2147483648 to 2147483647)";
        return !json_is_number(v) || int_in_range(v, -2147483648.0, 2147483647.0);
    case KUMO__FMT_INT64:
        *hint = "a 64-bit integer";
        return !json_is_number(v) || json_is_integer(v) ||
               int_in_range(v, -9223372036854775808.0, 9223372036854775807.0);
    default: break;
    }
    if (!json_is_string(v))
        return 1;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    switch (f) {
    case KUMO__FMT_DATE_TIME: *hint = "an RFC 3339 date-time, e.g. 2024-05-01T12:00:00Z"; return is_date_time(s, len);
    case KUMO__FMT_DATE: {
        size_t i = 0;
        *hint = "an RFC 3339 date, e.g. 2024-05-01";
        return scan_date(s, &i, len) && i == len;
    }
    case KUMO__FMT_TIME: {
        size_t i = 0;
        *hint = "an RFC 3339 time with offset, e.g. 12:00:00Z";
        return scan_time(s, &i, len) && i == len;
    }
    case KUMO__FMT_EMAIL: *hint = "an email address, e.g. ada@example.com"; return is_email(s, len);
    case KUMO__FMT_UUID: *hint = "a UUID, e.g. 123e4567-e89b-12d3-a456-426614174000"; return is_uuid(s, len);
    case KUMO__FMT_URI: *hint = "an absolute URI with a scheme, e.g. https://example.com/x"; return is_uri(s, len, 1);
    case KUMO__FMT_URI_REFERENCE: *hint = "a URI reference"; return is_uri(s, len, 0);
    case KUMO__FMT_IPV4: *hint = "an IPv4 address, e.g. 192.0.2.1"; return is_ipv4(s, len);
    case KUMO__FMT_IPV6: *hint = "an IPv6 address, e.g. 2001:db8::1"; return is_ipv6(s, len);
    case KUMO__FMT_HOSTNAME: *hint = "a host name (RFC 1123), e.g. api.example.com"; return is_hostname(s, len);
    case KUMO__FMT_BYTE: *hint = "base64 with padding"; return is_base64(s, len);
    case KUMO__FMT_REGEX: *hint = "a regular expression"; return is_regex(s, len);
    case KUMO__FMT_JSON_POINTER: *hint = "a JSON Pointer, e.g. /a/b"; return is_json_pointer(s, len);
    default: return 1;
    }
}

/* ---- RFC 3986 section 5.2 ----------------------------------------------- */

typedef struct uri_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_n, auth_n, path_n, query_n, frag_n;
    int has_auth, has_query, has_frag;
} uri_parts;

static void uri_split(const char *s, uri_parts *u)
{
    memset(u, 0, sizeof(*u));
    size_t len = strlen(s), n = scheme_len(s, len), i = 0;
    if (n > 0) {
        u->scheme = s;
        u->scheme_n = n;
        i = n + 1;
    }
    if (i + 1 < len + 1 && s[i] == '/' && s[i + 1] == '/') {
        u->has_auth = 1;
        u->auth = s + i + 2;
        i += 2;
        while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
            i++;
        u->auth_n = (size_t)(s + i - u->auth);
    }
    u->path = s + i;
    while (i < len && s[i] != '?' && s[i] != '#')
        i++;
    u->path_n = (size_t)(s + i - u->path);
    if (i < len && s[i] == '?') {
        u->has_query = 1;
        u->query = s + ++i;
        while (i < len && s[i] != '#')
            i++;
        u->query_n = (size_t)(s + i - u->query);
    }
    if (i < len && s[i] == '#') {
        u->has_frag = 1;
        u->frag = s + i + 1;
        u->frag_n = len - i - 1;
    }
}

/* remove_dot_segments of `in` (n bytes) appended to out at *o. */
static void remove_dots(const char *in, size_t n, char *out, size_t *o)
{
    size_t start = *o, i = 0;
    while (i < n) {
        if (n - i >= 3 && strncmp(in + i, "../", 3) == 0) {
            i += 3;
        } else if (n - i >= 2 && strncmp(in + i, "./", 2) == 0) {
            i += 2;
        } else if ((n - i >= 3 && strncmp(in + i, "/./", 3) == 0)) {
            i += 2;
        } else if (n - i == 2 && strncmp(in + i, "/.", 2) == 0) {
            out[(*o)++] = '/';
            i += 2;
        } else if ((n - i >= 4 && strncmp(in + i, "/../", 4) == 0) || (n - i == 3 && strncmp(in + i, "/..", 3) == 0)) {
            i += 3;
            while (*o > start && out[*o - 1] != '/')
                (*o)--;
            if (*o > start)
                (*o)--;
            if (i >= n)
                out[(*o)++] = '/';
        } else if ((n - i == 1 && in[i] == '.') || (n - i == 2 && strncmp(in + i, "..", 2) == 0)) {
            i = n;
        } else {
            size_t j = i + (in[i] == '/' ? 1 : 0);
            while (j < n && in[j] != '/')
                j++;
            memcpy(out + *o, in + i, j - i);
            *o += j - i;
            i = j;
        }
    }
}

char *kumo__uri_resolve(const char *base, const char *ref)
{
    uri_parts b, r;
    uri_split(base, &b);
    uri_split(ref, &r);
    size_t cap = strlen(base) + strlen(ref) + 8;
    char *out = malloc(cap), *merged = malloc(cap);
    if (out == NULL || merged == NULL) {
        free(out);
        free(merged);
        return NULL;
    }
    size_t o = 0;
#define PUT(p, n)                                                                                                      \
    do {                                                                                                               \
        memcpy(out + o, (p), (n));                                                                                     \
        o += (n);                                                                                                      \
    } while (0)
    const uri_parts *sch = r.scheme ? &r : &b, *auth, *query;
    const char *path;
    size_t path_n;
    int dots = 1;
    if (r.scheme || r.has_auth) {
        auth = &r;
        query = &r;
        path = r.path;
        path_n = r.path_n;
    } else {
        auth = &b;
        if (r.path_n == 0) {
            path = b.path;
            path_n = b.path_n;
            query = r.has_query ? &r : &b;
            dots = 0;
        } else {
            query = &r;
            if (r.path[0] == '/') {
                path = r.path;
                path_n = r.path_n;
            } else {
                size_t m = 0;
                if (b.has_auth && b.path_n == 0) {
                    merged[m++] = '/';
                } else {
                    const char *slash = NULL;
                    for (size_t k = 0; k < b.path_n; k++)
                        if (b.path[k] == '/')
                            slash = b.path + k;
                    if (slash) {
                        memcpy(merged, b.path, (size_t)(slash - b.path) + 1);
                        m = (size_t)(slash - b.path) + 1;
                    }
                }
                memcpy(merged + m, r.path, r.path_n);
                path = merged;
                path_n = m + r.path_n;
            }
        }
    }
    if (sch->scheme) {
        PUT(sch->scheme, sch->scheme_n);
        PUT(":", 1);
    }
    if (auth->has_auth) {
        PUT("//", 2);
        PUT(auth->auth, auth->auth_n);
    }
    if (dots)
        remove_dots(path, path_n, out, &o);
    else
        PUT(path, path_n);
    if (query->has_query) {
        PUT("?", 1);
        PUT(query->query, query->query_n);
    }
    if (r.has_frag) {
        PUT("#", 1);
        PUT(r.frag, r.frag_n);
    }
#undef PUT
    out[o] = '\0';
    free(merged);
    return out;
}
