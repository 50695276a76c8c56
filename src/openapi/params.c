/*
 * params.c: reading an operation's parameters out of a request, by their
 * OpenAPI style and explode, into typed JSON values (check.c validates
 * them). The shape to read (primitive, array, object) and the scalar types
 * come from the parameter's schema, read once at start-up into a
 * kumo__shapeinfo.
 *
 * Delimiters (',' '.' ';' '|' ' ' '&' '=') are found in the raw text, and
 * only the pieces between them are percent-decoded, so "a%2Cb" is one
 * value "a,b" while "a,b" is two. Query text is form-encoded ('+' is a
 * space); path and cookie values are percent-decoded without that rule;
 * header values are taken as they are. A malformed escape is kept as
 * written. See docs/parameters.md for the table of styles.
 */
#include "openapi/check_internal.h"
#include "base/percent.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------- */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int kumo__slice_ieq(kumo__slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.base[i]) != lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

static int mem_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

int kumo__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        unsigned cp = c & (0x3F >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

json_t *kumo__string_lossy(const char *s, size_t len)
{
    if (kumo__utf8_valid(s, len))
        return json_stringn_nocheck(s, len);
    /* Each bad byte becomes U+FFFD (3 bytes). */
    char *buf = malloc(len * 3 + 1);
    if (!buf)
        return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t n = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (n > len - i || !kumo__utf8_valid(s + i, n)) {
                memcpy(buf + o, "\xEF\xBF\xBD", 3);
                o += 3;
                i++;
                continue;
            }
        }
        memcpy(buf + o, s + i, n);
        o += n;
        i += n;
    }
    json_t *j = json_stringn_nocheck(buf, o);
    free(buf);
    return j;
}

/* ---- what a schema asks for ------------------------------------------------ */

/* A $ref that does not resolve is left for the schema compiler to report;
 * running out of memory is not, and sets *nomem. */
static const json_t *deref(const json_t *s, const kumo__refs *refs, int *nomem)
{
    for (int depth = 0; depth < 16 && json_is_object(s); depth++) {
        const json_t *ref = json_object_get(s, "$ref");
        if (!json_is_string(ref) || !refs)
            return s;
        char where[256];
        kumo__error e = {0};
        const json_t *t = refs->resolve(refs, s, json_string_value(ref), where, sizeof where, &e);
        if (!t) {
            if (e.code == -ENOMEM)
                *nomem = 1;
            return s; /* the schema compiler reports it */
        }
        s = t;
    }
    return s;
}

/* The one type named by `type` (a string, or a 3.1 list with one type
 * besides "null"); NULL when absent or a real union. */
static const char *type_name(const json_t *schema)
{
    const json_t *t = json_object_get(schema, "type");
    if (json_is_string(t))
        return json_string_value(t);
    if (json_is_array(t)) {
        const char *one = NULL;
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v)
        {
            if (!json_is_string(v))
                return NULL;
            if (strcmp(json_string_value(v), "null") == 0)
                continue;
            if (one)
                return NULL;
            one = json_string_value(v);
        }
        return one;
    }
    return NULL;
}

static kumo__vtype scalar_type(const char *t)
{
    if (!t)
        return KUMO__VT_STRING;
    if (strcmp(t, "integer") == 0)
        return KUMO__VT_INTEGER;
    if (strcmp(t, "number") == 0)
        return KUMO__VT_NUMBER;
    if (strcmp(t, "boolean") == 0)
        return KUMO__VT_BOOLEAN;
    if (strcmp(t, "null") == 0)
        return KUMO__VT_NULL;
    return KUMO__VT_STRING;
}

/* Shape and type of a schema one level down (a property or the items). */
static void leaf(const json_t *schema, const kumo__refs *refs, kumo__shape *shape, kumo__vtype *type, int *nomem)
{
    schema = deref(schema, refs, nomem);
    const char *t = type_name(schema);
    if (t && strcmp(t, "array") == 0) {
        *shape = KUMO__SHAPE_ARRAY;
        *type = scalar_type(type_name(deref(json_object_get(schema, "items"), refs, nomem)));
        return;
    }
    *shape = KUMO__SHAPE_PRIMITIVE;
    *type = scalar_type(t);
}

int kumo__shapeinfo_read(const json_t *schema, const kumo__refs *refs, kumo__shapeinfo *out)
{
    memset(out, 0, sizeof *out);
    int nomem = 0;
    schema = deref(schema, refs, &nomem);
    const char *t = type_name(schema);
    if (t && strcmp(t, "array") == 0) {
        out->shape = KUMO__SHAPE_ARRAY;
        kumo__shape ignored;
        leaf(json_object_get(schema, "items"), refs, &ignored, &out->type, &nomem);
        if (ignored != KUMO__SHAPE_PRIMITIVE)
            out->type = KUMO__VT_STRING;
        return nomem ? -ENOMEM : 0;
    }
    if (!t || strcmp(t, "object") != 0) {
        out->shape = KUMO__SHAPE_PRIMITIVE;
        out->type = scalar_type(t);
        return nomem ? -ENOMEM : 0;
    }
    out->shape = KUMO__SHAPE_OBJECT;
    const json_t *props = json_object_get(schema, "properties");
    if (json_is_object(props) && json_object_size(props) > 0) {
        out->fields = calloc(json_object_size(props), sizeof *out->fields);
        if (!out->fields)
            return -ENOMEM;
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)props, k, klen, v)
        {
            kumo__field *f = &out->fields[out->nfields];
            f->name = malloc(klen + 1);
            if (!f->name) {
                kumo__shapeinfo_clear(out);
                return -ENOMEM;
            }
            memcpy(f->name, k, klen);
            f->name[klen] = '\0';
            f->name_len = klen;
            out->nfields++;
            leaf(v, refs, &f->shape, &f->type, &nomem);
        }
    }
    const json_t *ap = json_object_get(schema, "additionalProperties");
    if (ap && !json_is_false(ap)) {
        out->additional = 1;
        kumo__shape sh;
        leaf(ap, refs, &sh, &out->additional_type, &nomem);
        if (sh != KUMO__SHAPE_PRIMITIVE)
            out->additional_type = KUMO__VT_STRING;
    }
    if (nomem) {
        kumo__shapeinfo_clear(out);
        return -ENOMEM;
    }
    return 0;
}

void kumo__shapeinfo_clear(kumo__shapeinfo *s)
{
    for (size_t i = 0; i < s->nfields; i++)
        free(s->fields[i].name);
    free(s->fields);
    memset(s, 0, sizeof *s);
}

const kumo__field *kumo__shapeinfo_field(const kumo__shapeinfo *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].name_len == len && memcmp(s->fields[i].name, name, len) == 0)
            return &s->fields[i];
    return NULL;
}

/* ---- coercion ----------------------------------------------------------------- */

static int all_digits(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* JSON's number grammar, leading zeros allowed: -?D+(.D+)?([eE][+-]?D+)? */
static int number_text(const char *s, size_t len, int *integral)
{
    size_t i = 0;
    *integral = 1;
    if (i < len && s[i] == '-')
        i++;
    size_t d = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d)
        return 0;
    if (i < len && s[i] == '.') {
        *integral = 0;
        d = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        *integral = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i == len;
}

json_t *kumo__coerce(const char *s, size_t len, kumo__vtype type)
{
    char buf[64];
    switch (type) {
    case KUMO__VT_INTEGER:
        if (len < sizeof buf && all_digits(s + (len && s[0] == '-'), len - (len && s[0] == '-'))) {
            memcpy(buf, s, len);
            buf[len] = '\0';
            errno = 0;
            long long v = strtoll(buf, NULL, 10);
            if (errno == 0)
                return json_integer(v);
        }
        break;
    case KUMO__VT_NUMBER: {
        int integral;
        if (len < sizeof buf && number_text(s, len, &integral)) {
            memcpy(buf, s, len);
            buf[len] = '\0';
            errno = 0;
            if (integral) {
                long long v = strtoll(buf, NULL, 10);
                if (errno == 0)
                    return json_integer(v);
                errno = 0;
            }
            double d = strtod(buf, NULL);
            if (isfinite(d))
                return json_real(d);
        }
        break;
    }
    case KUMO__VT_BOOLEAN:
        if (len == 4 && memcmp(s, "true", 4) == 0)
            return json_true();
        if (len == 5 && memcmp(s, "false", 5) == 0)
            return json_false();
        break;
    case KUMO__VT_NULL:
        if (len == 0 || (len == 4 && memcmp(s, "null", 4) == 0))
            return json_null();
        break;
    case KUMO__VT_STRING: break;
    }
    return kumo__string_lossy(s, len);
}

/* ---- splitting ------------------------------------------------------------------ */

enum delim { D_COMMA, D_DOT, D_SEMI, D_SPACE, D_PIPE };

/* Index of the next delimiter at or after `from` in raw text, its length
 * in *dlen; `len` when none. */
static size_t next_delim(const char *s, size_t len, size_t from, enum delim d, size_t *dlen)
{
    for (size_t i = from; i < len; i++) {
        char c = s[i];
        *dlen = 1;
        switch (d) {
        case D_COMMA:
            if (c == ',')
                return i;
            break;
        case D_DOT:
            if (c == '.')
                return i;
            break;
        case D_SEMI:
            if (c == ';')
                return i;
            break;
        case D_SPACE:
            if (c == ' ' || c == '+')
                return i;
            if (c == '%' && len - i >= 3 && s[i + 1] == '2' && s[i + 2] == '0') {
                *dlen = 3;
                return i;
            }
            break;
        case D_PIPE:
            if (c == '|')
                return i;
            if (c == '%' && len - i >= 3 && s[i + 1] == '7' && lower((unsigned char)s[i + 2]) == 'c') {
                *dlen = 3;
                return i;
            }
            break;
        }
    }
    *dlen = 0;
    return len;
}

/* How the pieces of one parameter are decoded. */
typedef struct reader {
    const kumo__param_plan *p;
    unsigned pct; /* percent-decoding flags; ~0u: no decoding (headers) */
    int trim;     /* trim spaces and tabs around pieces (headers, cookies) */
} reader;

#define NO_DECODE (~0u)

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t'))
        (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

/* Decodes s[0..len) into buf (room: `cap`) or a malloc'd buffer in *heap. */
static const char *decode(const reader *r, const char *s, size_t *len, char *buf, size_t cap, char **heap)
{
    *heap = NULL;
    if (r->trim)
        trim(&s, len);
    if (r->pct == NO_DECODE || (!memchr(s, '%', *len) && !((r->pct & KUMO__PCT_PLUS) && memchr(s, '+', *len))))
        return s;
    char *out = buf;
    if (*len > cap) {
        out = *heap = malloc(*len);
        if (!out)
            return NULL;
    }
    ssize_t n = kumo__percent_decode_into(s, *len, out, r->pct | KUMO__PCT_LENIENT);
    *len = n < 0 ? 0 : (size_t)n;
    return out;
}

static json_t *scalar(const reader *r, const char *s, size_t len, kumo__vtype type)
{
    char buf[256], *heap;
    const char *d = decode(r, s, &len, buf, sizeof buf, &heap);
    if (!d)
        return NULL;
    json_t *j = kumo__coerce(d, len, type);
    free(heap);
    return j;
}

/* Puts val (consumed) at key into obj, typed by the object's shape: an
 * array field collects repeated keys. */
int kumo__object_put(json_t *obj, const kumo__field *f, const char *key, size_t klen, json_t *val)
{
    if (!val)
        return -ENOMEM;
    if (f && f->shape == KUMO__SHAPE_ARRAY) {
        json_t *arr = json_object_getn(obj, key, klen);
        if (!json_is_array(arr)) {
            arr = json_array();
            if (!arr || json_object_setn_new_nocheck(obj, key, klen, arr) < 0) {
                json_decref(val);
                return -ENOMEM;
            }
        }
        return json_array_append_new(arr, val) < 0 ? -ENOMEM : 0;
    }
    return json_object_setn_new_nocheck(obj, key, klen, val) < 0 ? -ENOMEM : 0;
}

/* A decoded key, then its value coerced per the object's field. */
static int obj_put_raw(const reader *r, json_t *obj, const kumo__shapeinfo *sh, const char *k, size_t klen,
                       const char *v, size_t vlen)
{
    char buf[256], *heap;
    const char *key = decode(r, k, &klen, buf, sizeof buf, &heap);
    if (!key)
        return -ENOMEM;
    int rc = -ENOMEM;
    if (!kumo__utf8_valid(key, klen))
        goto out_ok; /* a key that is not text cannot be a property name: dropped */
    const kumo__field *f = kumo__shapeinfo_field(sh, key, klen);
    kumo__vtype t = f ? f->type : sh->additional ? sh->additional_type : KUMO__VT_STRING;
    rc = kumo__object_put(obj, f, key, klen, scalar(r, v, vlen, t));
    goto out;
out_ok:
    rc = 0;
out:
    free(heap);
    return rc;
}

/* Builds the value of `shape` from raw text split on d. For objects,
 * `pairs` selects "k,v,k,v" (explode=false) over "k=v<d>k=v". */
static int build(const reader *r, const char *s, size_t len, enum delim d, int pairs, json_t **out, char *problem,
                 size_t plen)
{
    const kumo__shapeinfo *sh = &r->p->shape;
    *out = NULL;
    if (sh->shape == KUMO__SHAPE_PRIMITIVE) {
        *out = scalar(r, s, len, sh->type);
        return *out ? 0 : -ENOMEM;
    }
    json_t *v = sh->shape == KUMO__SHAPE_ARRAY ? json_array() : json_object();
    if (!v)
        return -ENOMEM;
    int rc = 0;
    const char *pending = NULL; /* pairs: the key waiting for its value */
    size_t pending_len = 0;
    size_t i = 0, dlen;
    while (len > 0 && i <= len) {
        size_t j = next_delim(s, len, i, d, &dlen);
        const char *piece = s + i;
        size_t plen_ = j - i;
        if (sh->shape == KUMO__SHAPE_ARRAY) {
            json_t *item = scalar(r, piece, plen_, sh->type);
            if (!item || json_array_append_new(v, item) < 0) {
                rc = -ENOMEM;
                goto out;
            }
        } else if (pairs) {
            if (!pending) {
                pending = piece;
                pending_len = plen_;
            } else {
                rc = obj_put_raw(r, v, sh, pending, pending_len, piece, plen_);
                if (rc < 0)
                    goto out;
                pending = NULL;
            }
        } else if (plen_ > 0) {
            const char *eq = memchr(piece, '=', plen_);
            size_t kl = eq ? (size_t)(eq - piece) : plen_;
            rc = obj_put_raw(r, v, sh, piece, kl, eq ? eq + 1 : piece + plen_, eq ? plen_ - kl - 1 : 0);
            if (rc < 0)
                goto out;
        }
        if (j == len)
            break;
        i = j + dlen;
    }
    if (pending) {
        snprintf(problem, plen, "has an odd number of items; an object is written as key,value pairs");
        rc = 2;
        goto out;
    }
out:
    if (rc == 0)
        *out = v;
    else
        json_decref(v);
    return rc;
}

/* ---- forms (query strings and urlencoded bodies) --------------------------------- */

int kumo__form_each(const char *s, size_t len, kumo__form_fn fn, void *arg)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - s) : len;
        if (end > i) {
            const char *seg = s + i;
            size_t seglen = end - i;
            const char *eq = memchr(seg, '=', seglen);
            int rc = eq ? fn(arg, seg, (size_t)(eq - seg), eq + 1, seglen - (size_t)(eq - seg) - 1)
                        : fn(arg, seg, seglen, NULL, 0);
            if (rc)
                return rc;
        }
        i = end + 1;
    }
    return 0;
}

typedef struct form_obj {
    const kumo__shapeinfo *shape;
    const reader *r;
    json_t *obj;
} form_obj;

static int form_obj_add(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
    form_obj *f = arg;
    return obj_put_raw(f->r, f->obj, f->shape, k, klen, v ? v : "", v ? vlen : 0) < 0 ? -ENOMEM : 0;
}

json_t *kumo__form_to_object(const char *s, size_t len, const kumo__shapeinfo *shape)
{
    kumo__param_plan dummy = {.shape = *shape};
    reader r = {.p = &dummy, .pct = KUMO__PCT_PLUS};
    form_obj f = {.shape = shape, .r = &r, .obj = json_object()};
    if (!f.obj)
        return NULL;
    if (kumo__form_each(s, len, form_obj_add, &f) < 0) {
        json_decref(f.obj);
        return NULL;
    }
    return f.obj;
}

static int read_json(const reader *r, const char *s, size_t len, json_t **out, char *problem, size_t plen)
{
    char buf[256], *heap;
    const char *d = decode(r, s, &len, buf, sizeof buf, &heap);
    if (!d)
        return -ENOMEM;
    json_error_t je;
    *out = json_loadb(d, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    free(heap);
    if (!*out) {
        snprintf(problem, plen, "is not valid JSON: %s (column %d)", je.text, je.column);
        return 2;
    }
    return 0;
}

/* ---- query ------------------------------------------------------------------------- */

/* Collects the raw values of query key `name` (decoded key compared). */
typedef struct qfind {
    const char *name;
    size_t name_len;
    int deep; /* deepObject: keys name[prop] */
    const reader *r;
    json_t *obj; /* deepObject: the object built */
    struct {
        const char *v;
        size_t len;
    } vals[64];
    size_t nvals, total;
    int err;
} qfind;

static int qfind_each(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
    qfind *q = arg;
    char buf[256], *heap;
    reader kr = {.p = q->r->p, .pct = KUMO__PCT_PLUS};
    const char *key = decode(&kr, k, &klen, buf, sizeof buf, &heap);
    if (!key)
        return q->err = -ENOMEM;
    int rc = 0;
    if (q->deep) {
        if (klen > q->name_len + 2 && memcmp(key, q->name, q->name_len) == 0 && key[q->name_len] == '[' &&
            key[klen - 1] == ']') {
            const char *prop = key + q->name_len + 1;
            size_t proplen = klen - q->name_len - 2;
            const kumo__shapeinfo *sh = &q->r->p->shape;
            if (kumo__utf8_valid(prop, proplen)) {
                const kumo__field *f = kumo__shapeinfo_field(sh, prop, proplen);
                kumo__vtype t = f ? f->type : sh->additional ? sh->additional_type : KUMO__VT_STRING;
                if (kumo__object_put(q->obj, f, prop, proplen, scalar(q->r, v ? v : "", v ? vlen : 0, t)) < 0)
                    rc = q->err = -ENOMEM;
            }
            q->total++;
        }
    } else if (klen == q->name_len && memcmp(key, q->name, klen) == 0) {
        if (q->nvals < sizeof q->vals / sizeof q->vals[0]) {
            q->vals[q->nvals].v = v ? v : "";
            q->vals[q->nvals].len = v ? vlen : 0;
            q->nvals++;
        }
        q->total++;
    }
    free(heap);
    return rc;
}

static int read_query(const kumo__param_plan *p, const kumo__http_view *req, json_t **out, char *problem, size_t plen)
{
    const kumo__param *pa = p->param;
    reader r = {.p = p, .pct = KUMO__PCT_PLUS};
    const kumo__shapeinfo *sh = &p->shape;
    int explode = pa->explode;
    if (pa->style == KUMO__STYLE_DEEP_OBJECT && sh->shape == KUMO__SHAPE_OBJECT) {
        qfind q = {.name = pa->name, .name_len = p->name_len, .deep = 1, .r = &r, .obj = json_object()};
        if (!q.obj)
            return -ENOMEM;
        kumo__form_each(req->query.base, req->query.len, qfind_each, &q);
        if (q.err < 0 || q.total == 0) {
            json_decref(q.obj);
            return q.err < 0 ? q.err : KUMO__PARAM_ABSENT;
        }
        *out = q.obj;
        return 0;
    }
    if (sh->shape == KUMO__SHAPE_OBJECT && explode && !p->content_json) {
        /* form (or a delimited style) exploded: each property is its own
         * query parameter. */
        json_t *obj = json_object();
        if (!obj)
            return -ENOMEM;
        size_t found = 0;
        for (size_t i = 0; i < sh->nfields; i++) {
            const kumo__field *f = &sh->fields[i];
            qfind q = {.name = f->name, .name_len = f->name_len, .r = &r};
            if (kumo__form_each(req->query.base, req->query.len, qfind_each, &q) < 0 || q.err < 0) {
                json_decref(obj);
                return -ENOMEM;
            }
            for (size_t k = 0; k < q.nvals && (k == 0 || f->shape == KUMO__SHAPE_ARRAY); k++) {
                if (kumo__object_put(obj, f, f->name, f->name_len, scalar(&r, q.vals[k].v, q.vals[k].len, f->type)) <
                    0) {
                    json_decref(obj);
                    return -ENOMEM;
                }
                found++;
            }
        }
        if (!found) {
            json_decref(obj);
            return KUMO__PARAM_ABSENT;
        }
        *out = obj;
        return 0;
    }
    qfind q = {.name = pa->name, .name_len = p->name_len, .r = &r};
    if (kumo__form_each(req->query.base, req->query.len, qfind_each, &q) < 0 || q.err < 0)
        return -ENOMEM;
    if (q.nvals == 0)
        return KUMO__PARAM_ABSENT;
    if (p->content_json)
        return read_json(&r, q.vals[0].v, q.vals[0].len, out, problem, plen);
    if (sh->shape == KUMO__SHAPE_ARRAY && explode && pa->style != KUMO__STYLE_DEEP_OBJECT) {
        json_t *arr = json_array();
        if (!arr)
            return -ENOMEM;
        if (!(q.nvals == 1 && q.vals[0].len == 0)) {
            for (size_t k = 0; k < q.nvals; k++) {
                json_t *item = scalar(&r, q.vals[k].v, q.vals[k].len, sh->type);
                if (!item || json_array_append_new(arr, item) < 0) {
                    json_decref(arr);
                    return -ENOMEM;
                }
            }
        }
        *out = arr;
        return 0;
    }
    enum delim d = pa->style == KUMO__STYLE_SPACE_DELIMITED  ? D_SPACE
                   : pa->style == KUMO__STYLE_PIPE_DELIMITED ? D_PIPE
                                                             : D_COMMA;
    return build(&r, q.vals[0].v, q.vals[0].len, d, 1, out, problem, plen);
}

/* ---- path ------------------------------------------------------------------------------ */

static int read_path(const kumo__param_plan *p, const char *v, size_t len, json_t **out, char *problem, size_t plen)
{
    const kumo__param *pa = p->param;
    reader r = {.p = p, .pct = 0};
    const kumo__shapeinfo *sh = &p->shape;
    switch (pa->style) {
    case KUMO__STYLE_LABEL:
        if (len == 0 || v[0] != '.') {
            snprintf(problem, plen, "must start with '.' (label style), as in .%s",
                     sh->shape == KUMO__SHAPE_PRIMITIVE ? "5" : "3,4,5");
            return 2;
        }
        /* explode=false: ".3,4,5" (RFC 6570, OpenAPI 3.1) or ".3.4.5" (the
         * 3.0.3 table): commas when there are any, else dots. */
        enum delim d = pa->explode || !memchr(v + 1, ',', len - 1) ? D_DOT : D_COMMA;
        return build(&r, v + 1, len - 1, d, !pa->explode, out, problem, plen);
    case KUMO__STYLE_MATRIX: {
        if (len == 0 || v[0] != ';') {
            snprintf(problem, plen, "must start with ';' (matrix style), as in ;%s=5", pa->name);
            return 2;
        }
        v++, len--;
        if (sh->shape == KUMO__SHAPE_OBJECT && pa->explode)
            return build(&r, v, len, D_SEMI, 0, out, problem, plen);
        /* ;id=5 ;id=3,4,5 ;id=3;id=4;id=5 ;id=role,admin */
        if (sh->shape == KUMO__SHAPE_ARRAY && pa->explode) {
            json_t *arr = json_array();
            if (!arr)
                return -ENOMEM;
            size_t i = 0, dlen;
            while (i <= len && len > 0) {
                size_t j = next_delim(v, len, i, D_SEMI, &dlen);
                const char *piece = v + i;
                size_t pl = j - i;
                if (pl < p->name_len || memcmp(piece, pa->name, p->name_len) != 0 ||
                    (pl > p->name_len && piece[p->name_len] != '=')) {
                    json_decref(arr);
                    snprintf(problem, plen, "must be written as ;%s=3;%s=4 (matrix style, exploded)", pa->name,
                             pa->name);
                    return 2;
                }
                size_t skip = pl > p->name_len ? p->name_len + 1 : p->name_len;
                json_t *item = scalar(&r, piece + skip, pl - skip, sh->type);
                if (!item || json_array_append_new(arr, item) < 0) {
                    json_decref(arr);
                    return -ENOMEM;
                }
                if (j == len)
                    break;
                i = j + dlen;
            }
            *out = arr;
            return 0;
        }
        if (len < p->name_len || memcmp(v, pa->name, p->name_len) != 0 ||
            (len > p->name_len && v[p->name_len] != '=')) {
            snprintf(problem, plen, "must be written as ;%s=VALUE (matrix style)", pa->name);
            return 2;
        }
        size_t skip = len > p->name_len ? p->name_len + 1 : p->name_len;
        return build(&r, v + skip, len - skip, D_COMMA, 1, out, problem, plen);
    }
    default: return build(&r, v, len, D_COMMA, !pa->explode, out, problem, plen);
    }
}

/* ---- header and cookie ------------------------------------------------------------------- */

/* The value of header `name` (case-insensitive); several lines are joined
 * with ',' into *heap. */
static int header_value(const kumo__http_view *req, const char *name, size_t name_len, kumo__slice *out, char **heap)
{
    size_t n = 0, total = 0;
    *heap = NULL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (mem_ieq(req->headers[i].name.base, req->headers[i].name.len, name, name_len)) {
            if (n++ == 0)
                *out = req->headers[i].value;
            total += req->headers[i].value.len + 1;
        }
    if (n <= 1)
        return n ? 0 : KUMO__PARAM_ABSENT;
    char *buf = *heap = malloc(total);
    if (!buf)
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        if (mem_ieq(req->headers[i].name.base, req->headers[i].name.len, name, name_len)) {
            if (o)
                buf[o++] = ',';
            memcpy(buf + o, req->headers[i].value.base, req->headers[i].value.len);
            o += req->headers[i].value.len;
        }
    out->base = buf;
    out->len = o;
    return 0;
}

/* Calls fn for each cookie "k=v" of every Cookie header. */
typedef int (*cookie_fn)(void *arg, const char *k, size_t klen, const char *v, size_t vlen);

static int cookies_each(const kumo__http_view *req, cookie_fn fn, void *arg)
{
    for (size_t h = 0; h < req->nheaders; h++) {
        if (!kumo__slice_ieq(req->headers[h].name, "cookie"))
            continue;
        const char *s = req->headers[h].value.base;
        size_t len = req->headers[h].value.len, i = 0;
        while (i < len) {
            const char *semi = memchr(s + i, ';', len - i);
            size_t end = semi ? (size_t)(semi - s) : len;
            const char *c = s + i;
            size_t clen = end - i;
            trim(&c, &clen);
            const char *eq = memchr(c, '=', clen);
            if (eq) {
                const char *k = c, *v = eq + 1;
                size_t kl = (size_t)(eq - c), vl = clen - kl - 1;
                trim(&k, &kl);
                trim(&v, &vl);
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
                    v++, vl -= 2;
                int rc = fn(arg, k, kl, v, vl);
                if (rc)
                    return rc;
            }
            i = end + 1;
        }
    }
    return 0;
}

typedef struct cfind {
    const char *name;
    size_t name_len;
    struct {
        const char *v;
        size_t len;
    } vals[64];
    size_t nvals;
} cfind;

static int cfind_each(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
    cfind *c = arg;
    if (klen == c->name_len && memcmp(k, c->name, klen) == 0 && c->nvals < sizeof c->vals / sizeof c->vals[0]) {
        c->vals[c->nvals].v = v;
        c->vals[c->nvals].len = vlen;
        c->nvals++;
    }
    return 0;
}

static int read_cookie(const kumo__param_plan *p, const kumo__http_view *req, json_t **out, char *problem, size_t plen)
{
    const kumo__shapeinfo *sh = &p->shape;
    reader r = {.p = p, .pct = 0, .trim = 1};
    if (sh->shape == KUMO__SHAPE_OBJECT && p->param->explode && !p->content_json) {
        json_t *obj = json_object();
        if (!obj)
            return -ENOMEM;
        size_t found = 0;
        for (size_t i = 0; i < sh->nfields; i++) {
            const kumo__field *f = &sh->fields[i];
            cfind c = {.name = f->name, .name_len = f->name_len};
            cookies_each(req, cfind_each, &c);
            for (size_t k = 0; k < c.nvals && (k == 0 || f->shape == KUMO__SHAPE_ARRAY); k++, found++)
                if (kumo__object_put(obj, f, f->name, f->name_len, scalar(&r, c.vals[k].v, c.vals[k].len, f->type)) <
                    0) {
                    json_decref(obj);
                    return -ENOMEM;
                }
        }
        if (!found) {
            json_decref(obj);
            return KUMO__PARAM_ABSENT;
        }
        *out = obj;
        return 0;
    }
    cfind c = {.name = p->param->name, .name_len = p->name_len};
    cookies_each(req, cfind_each, &c);
    if (c.nvals == 0)
        return KUMO__PARAM_ABSENT;
    if (sh->shape == KUMO__SHAPE_ARRAY && p->param->explode && !p->content_json) {
        json_t *arr = json_array();
        if (!arr)
            return -ENOMEM;
        for (size_t k = 0; k < c.nvals; k++) {
            json_t *item = scalar(&r, c.vals[k].v, c.vals[k].len, sh->type);
            if (!item || json_array_append_new(arr, item) < 0) {
                json_decref(arr);
                return -ENOMEM;
            }
        }
        *out = arr;
        return 0;
    }
    if (p->content_json)
        return read_json(&r, c.vals[0].v, c.vals[0].len, out, problem, plen);
    return build(&r, c.vals[0].v, c.vals[0].len, D_COMMA, 1, out, problem, plen);
}

/* ---- one parameter -------------------------------------------------------------------------- */

int kumo__param_read(const kumo__param_plan *p, const kumo__http_view *req, json_t **out, char *problem,
                     size_t problem_len)
{
    const kumo__param *pa = p->param;
    *out = NULL;
    switch (pa->in) {
    case KUMO__IN_PATH: {
        const kumo__route_match *m = req->match;
        for (size_t i = 0; m && i < m->nparams; i++)
            if (strcmp(m->params[i].name, pa->name) == 0) {
                if (p->content_json) {
                    reader r = {.p = p, .pct = 0};
                    return read_json(&r, m->params[i].value, m->params[i].value_len, out, problem, problem_len);
                }
                return read_path(p, m->params[i].value, m->params[i].value_len, out, problem, problem_len);
            }
        return KUMO__PARAM_ABSENT;
    }
    case KUMO__IN_QUERY: return read_query(p, req, out, problem, problem_len);
    case KUMO__IN_HEADER: {
        kumo__slice v = {NULL, 0};
        char *heap;
        int rc = header_value(req, pa->name, p->name_len, &v, &heap);
        if (rc)
            return rc;
        reader r = {.p = p, .pct = NO_DECODE, .trim = 1};
        if (p->content_json)
            rc = read_json(&r, v.base, v.len, out, problem, problem_len);
        else
            rc = build(&r, v.base, v.len, D_COMMA, !pa->explode, out, problem, problem_len);
        free(heap);
        return rc;
    }
    case KUMO__IN_COOKIE: return read_cookie(p, req, out, problem, problem_len);
    }
    return KUMO__PARAM_ABSENT;
}
