/*
 * media.c: media types on the request path: parsing a Content-Type or an
 * Accept range ("type/subtype; a=b"), matching a range against a type
 * (exact > type/any > any/any), choosing a response type from Accept with
 * q-values, and splitting a multipart/form-data body into parts (slices
 * into the body, nothing copied) and reading them as an object. check.c
 * decides what a body means; this file only reads text.
 */
#include "openapi/check_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 tchar */
static int is_tchar(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return 1;
    if ((c | 32) >= 'a' && (c | 32) <= 'z')
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int slice_ieq2(kumo__slice a, kumo__slice b)
{
    if (a.len != b.len)
        return 0;
    for (size_t i = 0; i < a.len; i++)
        if (lower((unsigned char)a.base[i]) != lower((unsigned char)b.base[i]))
            return 0;
    return 1;
}

int kumo__mtype_parse(const char *s, size_t len, kumo__mtype *out)
{
    size_t i = 0;
    memset(out, 0, sizeof *out);
    while (i < len && is_ows(s[i]))
        i++;
    size_t t0 = i;
    while (i < len && is_tchar((unsigned char)s[i]))
        i++;
    if (i == t0 || i >= len || s[i] != '/')
        return -EINVAL;
    out->type = (kumo__slice){s + t0, i - t0};
    size_t st0 = ++i;
    while (i < len && is_tchar((unsigned char)s[i]))
        i++;
    if (i == st0)
        return -EINVAL;
    out->subtype = (kumo__slice){s + st0, i - st0};
    while (i < len && is_ows(s[i]))
        i++;
    if (i < len && s[i] != ';')
        return -EINVAL;
    if (i < len)
        out->params = (kumo__slice){s + i + 1, len - i - 1};
    /* "*" as type only with "*" as subtype */
    if (out->type.len == 1 && out->type.base[0] == '*' && !(out->subtype.len == 1 && out->subtype.base[0] == '*'))
        return -EINVAL;
    return 0;
}

/* Scans "; k=v; k="v"" for `name` (case-insensitive). */
static int params_find(kumo__slice ps, const char *name, kumo__slice *value)
{
    const char *s = ps.base;
    size_t len = ps.len, i = 0, nlen = strlen(name);
    while (i < len) {
        while (i < len && (is_ows(s[i]) || s[i] == ';'))
            i++;
        size_t k0 = i;
        while (i < len && s[i] != '=' && s[i] != ';')
            i++;
        size_t k1 = i;
        while (k1 > k0 && is_ows(s[k1 - 1]))
            k1--;
        kumo__slice v = {s + i, 0};
        if (i < len && s[i] == '=') {
            i++;
            while (i < len && is_ows(s[i]))
                i++;
            if (i < len && s[i] == '"') {
                size_t v0 = ++i;
                while (i < len && s[i] != '"') {
                    if (s[i] == '\\' && i + 1 < len)
                        i++;
                    i++;
                }
                v = (kumo__slice){s + v0, i - v0};
                if (i < len)
                    i++;
                while (i < len && s[i] != ';')
                    i++;
            } else {
                size_t v0 = i;
                while (i < len && s[i] != ';')
                    i++;
                size_t v1 = i;
                while (v1 > v0 && is_ows(s[v1 - 1]))
                    v1--;
                v = (kumo__slice){s + v0, v1 - v0};
            }
        }
        if (k1 - k0 == nlen) {
            size_t j = 0;
            while (j < nlen && lower((unsigned char)s[k0 + j]) == lower((unsigned char)name[j]))
                j++;
            if (j == nlen) {
                *value = v;
                return 0;
            }
        }
    }
    return -ENOENT;
}

int kumo__mtype_param(const kumo__mtype *m, const char *name, kumo__slice *value)
{
    return params_find(m->params, name, value);
}

static int is_star(kumo__slice s)
{
    return s.len == 1 && s.base[0] == '*';
}

int kumo__mtype_match(const kumo__mtype *range, const kumo__mtype *t)
{
    if (is_star(range->type))
        return 1;
    if (!slice_ieq2(range->type, t->type))
        return 0;
    if (is_star(range->subtype))
        return 2;
    return slice_ieq2(range->subtype, t->subtype) ? 3 : 0;
}

int kumo__mtype_is_json(const kumo__mtype *m)
{
    if (kumo__slice_ieq(m->subtype, "json"))
        return 1;
    kumo__slice s = m->subtype;
    return s.len > 5 && kumo__slice_ieq((kumo__slice){s.base + s.len - 5, 5}, "+json");
}

/* ---- Accept ------------------------------------------------------------------------ */

#define ACCEPT_RANGES_MAX 64

typedef struct range {
    kumo__mtype mt;
    int q; /* thousandths */
} range;

/* "0.8" -> 800; -1 when malformed. */
static int parse_q(kumo__slice v)
{
    if (v.len == 0 || v.len > 5 || (v.base[0] != '0' && v.base[0] != '1'))
        return -1;
    int q = (v.base[0] - '0') * 1000;
    if (v.len > 1) {
        if (v.base[1] != '.')
            return -1;
        int scale = 100;
        for (size_t i = 2; i < v.len; i++, scale /= 10) {
            if (v.base[i] < '0' || v.base[i] > '9')
                return -1;
            q += (v.base[i] - '0') * scale;
        }
    }
    return q > 1000 ? -1 : q;
}

/* Splits on commas outside quotes into ranges; malformed entries skipped. */
static size_t accept_ranges(const kumo__slice *accept, size_t naccept, range *out, size_t cap)
{
    size_t n = 0;
    for (size_t h = 0; h < naccept; h++) {
        const char *s = accept[h].base;
        size_t len = accept[h].len, i = 0;
        while (i < len && n < cap) {
            size_t j = i;
            int quoted = 0;
            while (j < len && (quoted || s[j] != ',')) {
                if (s[j] == '"')
                    quoted = !quoted;
                else if (quoted && s[j] == '\\' && j + 1 < len)
                    j++;
                j++;
            }
            range *r = &out[n];
            size_t l = j - i;
            const char *e = s + i;
            while (l && is_ows(e[l - 1]))
                l--;
            if (kumo__mtype_parse(e, l, &r->mt) == 0) {
                kumo__slice q;
                r->q = 1000;
                if (params_find(r->mt.params, "q", &q) == 0)
                    r->q = parse_q(q);
                if (r->q >= 0)
                    n++;
            }
            i = j + 1;
        }
    }
    return n;
}

int kumo__accept_choose(const kumo__slice *accept, size_t naccept, const kumo__mtype *cand, size_t ncand)
{
    range ranges[ACCEPT_RANGES_MAX];
    size_t nr = accept_ranges(accept, naccept, ranges, ACCEPT_RANGES_MAX);
    if (nr == 0)
        return ncand ? 0 : -1; /* nothing readable in Accept: as if absent */
    int best = -1, best_q = 0;
    for (size_t c = 0; c < ncand; c++) {
        int spec = 0, q = 0;
        for (size_t i = 0; i < nr; i++) {
            int m = kumo__mtype_match(&ranges[i].mt, &cand[c]);
            /* a declared wildcard (image/any) is served to a range inside it */
            if (!m && kumo__mtype_match(&cand[c], &ranges[i].mt))
                m = 1;
            if (m > spec) {
                spec = m;
                q = ranges[i].q;
            }
        }
        if (spec && q > best_q) {
            best = (int)c;
            best_q = q;
        }
    }
    return best;
}

/* ---- multipart/form-data ------------------------------------------------------------ */

static const char *find(const char *hay, size_t haylen, const char *needle, size_t nlen)
{
    return memmem(hay, haylen, needle, nlen);
}

/* One part's header block s[0..len), lines ending in CRLF (or LF). */
static int part_headers(const char *s, size_t len, kumo__part *p, size_t index, char *problem, size_t plen)
{
    size_t i = 0;
    int disposition = 0;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t le = end;
        if (le > i && s[le - 1] == '\r')
            le--;
        const char *line = s + i;
        size_t ll = le - i;
        const char *colon = memchr(line, ':', ll);
        if (ll && !colon) {
            snprintf(problem, plen, "part %zu has a header line without ':'", index + 1);
            return -EINVAL;
        }
        if (colon) {
            kumo__slice name = {line, (size_t)(colon - line)};
            const char *v = colon + 1;
            size_t vl = ll - (size_t)(colon - line) - 1;
            while (vl && is_ows(*v))
                v++, vl--;
            while (vl && is_ows(v[vl - 1]))
                vl--;
            if (kumo__slice_ieq(name, "content-disposition")) {
                /* form-data; name="field"; filename="a.txt" */
                const char *semi = memchr(v, ';', vl);
                kumo__slice kind = {v, semi ? (size_t)(semi - v) : vl};
                while (kind.len && is_ows(kind.base[kind.len - 1]))
                    kind.len--;
                if (!kumo__slice_ieq(kind, "form-data")) {
                    snprintf(problem, plen, "part %zu is not form-data (Content-Disposition: %.*s)", index + 1,
                             (int)(kind.len > 40 ? 40 : kind.len), kind.base);
                    return -EINVAL;
                }
                kumo__slice ps = {semi ? semi + 1 : v + vl, semi ? vl - (size_t)(semi - v) - 1 : 0};
                if (params_find(ps, "name", &p->name) < 0) {
                    snprintf(problem, plen, "part %zu has no name in its Content-Disposition", index + 1);
                    return -EINVAL;
                }
                kumo__slice fn;
                if (params_find(ps, "filename", &fn) == 0)
                    p->filename = fn;
                disposition = 1;
            } else if (kumo__slice_ieq(name, "content-type")) {
                p->content_type = (kumo__slice){v, vl};
            }
        }
        i = end + 1;
    }
    if (!disposition) {
        snprintf(problem, plen, "part %zu has no Content-Disposition header", index + 1);
        return -EINVAL;
    }
    return 0;
}

int kumo__multipart_parse(kumo__slice body, kumo__slice boundary, kumo__part **parts, size_t *nparts, char *problem,
                          size_t problem_len)
{
    *parts = NULL;
    *nparts = 0;
    int rc = -EINVAL;
    kumo__part *arr = NULL;
    size_t n = 0, cap = 0;
    char delim[2 + 2 + 70];
    if (boundary.len == 0 || boundary.len > 70) {
        snprintf(problem, problem_len, "has a boundary of %zu characters; 1 to 70 are allowed", boundary.len);
        goto out;
    }
    /* delim = CRLF "--" boundary; the first one may lack the CRLF */
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary.base, boundary.len);
    size_t dlen = 4 + boundary.len;
    const char *s = body.base;
    size_t len = body.len, pos;
    if (len >= dlen - 2 && memcmp(s, delim + 2, dlen - 2) == 0) {
        pos = dlen - 2;
    } else {
        const char *f = len ? find(s, len, delim, dlen) : NULL;
        if (!f) {
            snprintf(problem, problem_len, "has no boundary line (--%.*s)", (int)boundary.len, boundary.base);
            goto out;
        }
        pos = (size_t)(f - s) + dlen;
    }
    for (;;) {
        /* after a delimiter: "--" closes; else padding, then CRLF */
        if (len - pos >= 2 && s[pos] == '-' && s[pos + 1] == '-')
            break;
        while (pos < len && is_ows(s[pos]))
            pos++;
        if (len - pos >= 2 && s[pos] == '\r' && s[pos + 1] == '\n') {
            pos += 2;
        } else if (pos < len && s[pos] == '\n') {
            pos++;
        } else {
            snprintf(problem, problem_len, "%s after boundary line %zu",
                     pos >= len ? "ends without a closing boundary" : "has text", n + 1);
            goto out;
        }
        if (n == KUMO__MULTIPART_MAX_PARTS) {
            snprintf(problem, problem_len, "has more than %d parts", KUMO__MULTIPART_MAX_PARTS);
            goto out;
        }
        /* the header block ends at an empty line */
        size_t hend, dstart;
        if (len - pos >= 2 && s[pos] == '\r' && s[pos + 1] == '\n') {
            hend = pos, dstart = pos + 2;
        } else {
            size_t window = len - pos < KUMO__MULTIPART_MAX_HEADER + 4 ? len - pos : KUMO__MULTIPART_MAX_HEADER + 4;
            const char *e = find(s + pos, window, "\r\n\r\n", 4);
            if (!e || (size_t)(e - (s + pos)) > KUMO__MULTIPART_MAX_HEADER) {
                if (e || window < len - pos)
                    snprintf(problem, problem_len, "part %zu has a header block over %d bytes", n + 1,
                             KUMO__MULTIPART_MAX_HEADER);
                else
                    snprintf(problem, problem_len, "part %zu has no end to its headers", n + 1);
                goto out;
            }
            hend = (size_t)(e - s) + 2, dstart = hend + 2;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            kumo__part *na = realloc(arr, ncap * sizeof *na);
            if (!na) {
                rc = -ENOMEM;
                goto out;
            }
            arr = na, cap = ncap;
        }
        kumo__part *p = &arr[n];
        memset(p, 0, sizeof *p);
        if (part_headers(s + pos, hend - pos, p, n, problem, problem_len) < 0)
            goto out;
        const char *f = find(s + dstart, len - dstart, delim, dlen);
        if (!f) {
            snprintf(problem, problem_len, "has no closing boundary (--%.*s--)", (int)boundary.len, boundary.base);
            goto out;
        }
        p->data = (kumo__slice){s + dstart, (size_t)(f - (s + dstart))};
        n++;
        pos = (size_t)(f - s) + dlen;
    }
    *parts = arr;
    *nparts = n;
    arr = NULL;
    rc = 0;
out:
    free(arr);
    return rc;
}

json_t *kumo__multipart_to_object(const kumo__part *parts, size_t nparts, const kumo__shapeinfo *shape)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < nparts; i++) {
        const kumo__part *p = &parts[i];
        if (!kumo__utf8_valid(p->name.base, p->name.len))
            continue;
        const kumo__field *f = kumo__shapeinfo_field(shape, p->name.base, p->name.len);
        json_t *v;
        if (p->filename.base) {
            int inline_ok =
                p->data.len < KUMO__MULTIPART_FILE_INLINE_MAX && kumo__utf8_valid(p->data.base, p->data.len);
            v = json_stringn_nocheck(inline_ok ? p->data.base : "", inline_ok ? p->data.len : 0);
        } else {
            kumo__vtype t = f ? f->type : shape->additional ? shape->additional_type : KUMO__VT_STRING;
            v = kumo__coerce(p->data.base, p->data.len, t);
        }
        if (kumo__object_put(obj, f, p->name.base, p->name.len, v) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
