/*
 * docset.c: the set of documents one OpenAPI description spans, and $ref
 * resolution across them (see docset.h).
 *
 * A $ref is "[file][#fragment]": the file is relative to the document
 * holding the $ref (percent-decoded), the fragment a JSON Pointer (with
 * ~0 ~1 and percent-encoding). Each file is loaded once, keyed by its real
 * path, so "a.yaml" and "./x/../a.yaml" are one document. Remote refs
 * (any URI with a scheme) are refused: kumo serves from local files only
 * and never fetches at start-up. Which document a node belongs to is found
 * by asking each document's position table (kumo__doc_pos), so borrowed
 * nodes need no back-pointers.
 */
#include "docset.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/percent.h"

#define CHAIN_MAX 32

struct kumo__docset {
    kumo__refs refs;  /* handed out as spec->refs; resolve_cb finds the set from it */
    kumo__doc **docs; /* docs[0] is the main document */
    char **real;      /* realpath of each */
    size_t n, cap;
    char *main_dir; /* realpath of the folder holding the main document as named */
    json_t *kept;   /* synthesized nodes (an array) */
};

static json_t *resolve_cb(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                          kumo__error *err);

static int add_doc(kumo__docset *ds, kumo__doc *doc, char *real)
{
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 4;
        kumo__doc **d = realloc(ds->docs, cap * sizeof *d);
        if (d == NULL)
            return -ENOMEM;
        ds->docs = d;
        char **r = realloc(ds->real, cap * sizeof *r);
        if (r == NULL)
            return -ENOMEM;
        ds->real = r;
        ds->cap = cap;
    }
    ds->docs[ds->n] = doc;
    ds->real[ds->n] = real;
    ds->n++;
    return 0;
}

int kumo__docset_open(const char *path, kumo__docset **out, kumo__error *err)
{
    *out = NULL;
    int rc = 0;
    kumo__doc *doc = NULL;
    char *real = NULL;
    kumo__docset *ds = calloc(1, sizeof *ds);
    if (ds == NULL || (ds->kept = json_array()) == NULL) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    ds->refs.resolve = resolve_cb;
    if ((rc = kumo__doc_load(path, &doc, err)) < 0)
        goto out;
    if ((real = realpath(path, NULL)) == NULL) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: %s", path, strerror(errno));
        goto out;
    }
    /* $refs are relative to the main document as named (join_path), so
     * locations are too: its folder, not a symlink target's */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    ds->main_dir = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (ds->main_dir == NULL && errno != ENOMEM) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (ds->main_dir == NULL || add_doc(ds, doc, real) < 0) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    doc = NULL;
    real = NULL;
out:
    kumo__doc_free(doc);
    free(real);
    if (rc < 0) {
        kumo__docset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}

void kumo__docset_free(kumo__docset *ds)
{
    if (ds == NULL)
        return;
    for (size_t i = 0; i < ds->n; i++) {
        kumo__doc_free(ds->docs[i]);
        free(ds->real[i]);
    }
    free(ds->docs);
    free(ds->real);
    free(ds->main_dir);
    json_decref(ds->kept);
    free(ds);
}

size_t kumo__docset_count(const kumo__docset *ds)
{
    return ds ? ds->n : 0;
}

const char *kumo__docset_real_path(const kumo__docset *ds, size_t i)
{
    return ds && i < ds->n ? ds->real[i] : NULL;
}

kumo__doc *kumo__docset_main(const kumo__docset *ds)
{
    return ds->docs[0];
}

const kumo__refs *kumo__docset_refs(const kumo__docset *ds)
{
    return &ds->refs;
}

kumo__doc *kumo__docset_doc_of(const kumo__docset *ds, const json_t *node)
{
    for (size_t i = 0; i < ds->n; i++)
        if (kumo__doc_pos(ds->docs[i], node, NULL, NULL))
            return ds->docs[i];
    return NULL;
}

json_t *kumo__docset_keep(kumo__docset *ds, json_t *node)
{
    if (node == NULL || json_array_append_new(ds->kept, node) < 0)
        return NULL;
    return node;
}

/* ---- paths ------------------------------------------------------------------ */

/* dir of `base` + "/" + rel, with "." and "dir/.." segments folded
 * lexically (for messages; the real path decides identity). */
static char *join_path(const char *base, const char *rel)
{
    size_t dirlen = 0;
    const char *slash = strrchr(base, '/');
    if (rel[0] != '/' && slash)
        dirlen = (size_t)(slash - base) + 1;
    size_t len = dirlen + strlen(rel);
    char *joined = malloc(len + 1), *outp = malloc(len + 2);
    if (joined == NULL || outp == NULL) {
        free(joined);
        free(outp);
        return NULL;
    }
    memcpy(joined, base, dirlen);
    strcpy(joined + dirlen, rel);
    /* fold segment by segment into outp */
    size_t o = 0, keep = 0; /* keep: length of a leading "../../" run or "/" that cannot fold */
    const char *s = joined;
    if (*s == '/') {
        outp[o++] = '/';
        keep = 1;
        s++;
    }
    while (*s) {
        size_t n = strcspn(s, "/");
        if ((n == 1 && s[0] == '.') || n == 0) {
            /* skip */
        } else if (n == 2 && s[0] == '.' && s[1] == '.' && o > keep) {
            /* drop the last segment written */
            size_t back = o - 1; /* o points past a '/' */
            while (back > keep && outp[back - 1] != '/')
                back--;
            o = back;
        } else {
            memcpy(outp + o, s, n);
            o += n;
            outp[o++] = '/';
            if (n == 2 && s[0] == '.' && s[1] == '.')
                keep = o;
        }
        s += n;
        if (*s == '/')
            s++;
    }
    if (o > 1 && outp[o - 1] == '/')
        o--;
    if (o == 0)
        outp[o++] = '.';
    outp[o] = '\0';
    free(joined);
    return outp;
}

/* `path` relative to the folder `dir` (both absolute, no trailing '/'). */
static char *relative_to(const char *dir, const char *path)
{
    size_t common = 0, i = 0;
    for (; dir[i] && dir[i] == path[i]; i++)
        if (dir[i] == '/')
            common = i;
    if (dir[i] == '\0' && path[i] == '/')
        common = i;
    else if (strcmp(dir, "/") == 0)
        common = 0;
    size_t ups = 0;
    if (strcmp(dir, "/") != 0)
        for (const char *p = dir + common; *p; p++)
            ups += *p == '/';
    const char *rest = path + common + 1;
    char *r = malloc(ups * 3 + strlen(rest) + 1);
    if (r == NULL)
        return NULL;
    size_t o = 0;
    for (size_t k = 0; k < ups; k++) {
        memcpy(r + o, "../", 3);
        o += 3;
    }
    strcpy(r + o, rest);
    return r;
}

char *kumo__docset_location(const kumo__docset *ds, const kumo__loc *loc)
{
    size_t i = 0;
    while (i < ds->n && ds->docs[i] != loc->doc)
        i++;
    if (i == 0 || i == ds->n)
        return strdup(loc->ptr.buf);
    char *rel = relative_to(ds->main_dir, ds->real[i]);
    if (rel == NULL)
        return NULL;
    size_t n = strlen(rel) + 1 + loc->ptr.len + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s#%s", rel, loc->ptr.buf);
    free(rel);
    return s;
}

int kumo__docset_location_pos(const kumo__docset *ds, const char *location, size_t len, kumo__doc **doc, int *line,
                              int *col)
{
    const char *hash = memchr(location, '#', len);
    const char *ptr = location;
    kumo__doc *d = ds->docs[0];
    if (hash) {
        d = NULL;
        for (size_t i = 1; i < ds->n && d == NULL; i++) {
            char *rel = relative_to(ds->main_dir, ds->real[i]);
            if (rel && strlen(rel) == (size_t)(hash - location) && memcmp(rel, location, strlen(rel)) == 0)
                d = ds->docs[i];
            free(rel);
        }
        if (d == NULL)
            return 0;
        ptr = hash + 1;
    }
    size_t plen = len - (size_t)(ptr - location);
    json_t *root = kumo__doc_root(d);
    const json_t *node = kumo__pointer_get(root, ptr, plen, 0);
    if (node && kumo__doc_pos(d, node, line, col)) {
        *doc = d;
        return 1;
    }
    /* null, true and false have no position: name their key in the parent */
    const char *slash = ptr + plen;
    while (slash > ptr && slash[-1] != '/')
        slash--;
    if (slash == ptr) /* no '/': the root, or not a pointer */
        return 0;
    slash--;
    const json_t *parent = kumo__pointer_get(root, ptr, (size_t)(slash - ptr), 0);
    char key[256];
    size_t k = 0;
    for (const char *s = slash + 1; s < ptr + plen && k + 1 < sizeof key; s++) {
        if (s[0] == '~' && s + 1 < ptr + plen && (s[1] == '0' || s[1] == '1')) {
            key[k++] = s[1] == '1' ? '/' : '~';
            s++;
        } else {
            key[k++] = *s;
        }
    }
    key[k] = '\0';
    if (!json_is_object(parent) || !kumo__doc_key_pos(d, parent, key, line, col))
        return 0;
    *doc = d;
    return 1;
}

/* ---- resolution ------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "a mapping";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static const struct {
    const char *section, *one;
} component_names[] = {
    {"/components/schemas", "schema"},
    {"/components/parameters", "parameter"},
    {"/components/responses", "response"},
    {"/components/requestBodies", "request body"},
    {"/components/headers", "header"},
    {"/components/examples", "example"},
    {"/components/securitySchemes", "security scheme"},
    {"/components/links", "link"},
    {"/components/callbacks", "callback"},
    {"/components/pathItems", "path item"},
    {"/definitions", "definition"},
    {"/parameters", "parameter"},
    {"/responses", "response"},
};

/* Why the decoded pointer `frag` finds nothing in `root`: "what has no X". */
static void explain_missing(const json_t *root, const char *frag, size_t len, const char *docname, char *out,
                            size_t out_len)
{
    if (len > 0 && frag[0] != '/') {
        snprintf(out, out_len, "the fragment is not a JSON Pointer; write '#/path/to/it'");
        return;
    }
    size_t at = 0; /* prefix [0, at) resolves */
    const json_t *node = root;
    for (;;) {
        size_t next = at + 1;
        while (next < len && frag[next] != '/')
            next++;
        const json_t *child = kumo__pointer_get(root, frag, next, 0);
        if (child == NULL) {
            char tok[256];
            size_t tlen = next - at - 1;
            snprintf(tok, sizeof tok, "%.*s", (int)tlen, frag + at + 1);
            /* unescape ~1 ~0 for the message */
            char *w = tok;
            for (char *r = tok; *r; r++) {
                if (r[0] == '~' && (r[1] == '1' || r[1] == '0')) {
                    *w++ = r[1] == '1' ? '/' : '~';
                    r++;
                } else {
                    *w++ = *r;
                }
            }
            *w = '\0';
            char parent[512];
            if (at == 0)
                snprintf(parent, sizeof parent, "%s", docname);
            else
                snprintf(parent, sizeof parent, "%.*s", (int)at, frag);
            if (!json_is_object(node) && !json_is_array(node)) {
                snprintf(out, out_len, "%s is %s, not a mapping", parent, type_name(node));
                return;
            }
            if (json_is_array(node)) {
                snprintf(out, out_len, "%s has no item '%s' (it has %zu)", parent, tok, json_array_size(node));
                return;
            }
            for (size_t i = 0; i < sizeof component_names / sizeof component_names[0]; i++) {
                const char *sec = component_names[i].section;
                if (strlen(sec) == at && strncmp(sec, frag, at) == 0) {
                    const char *cut = strrchr(sec, '/');
                    if (cut == sec)
                        snprintf(out, out_len, "%s has no %s '%s'", docname, component_names[i].one, tok);
                    else
                        snprintf(out, out_len, "%.*s has no %s '%s'", (int)(cut - sec), sec, component_names[i].one,
                                 tok);
                    return;
                }
            }
            snprintf(out, out_len, "%s has no '%s'", parent, tok);
            return;
        }
        if (next >= len) { /* everything resolved after all: a malformed escape elsewhere */
            snprintf(out, out_len, "the pointer is malformed (~ must be followed by 0 or 1)");
            return;
        }
        node = child;
        at = next;
    }
}

static int has_scheme(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
           s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' && i > 1; /* one letter: a Windows drive, not a scheme */
}

/* The document for file part `file` (percent-encoded) of a $ref in `from`;
 * loaded on first use. NULL with err set. */
static kumo__doc *doc_for(kumo__docset *ds, const kumo__loc *from, const json_t *holder, const char *ref,
                          const char *file, size_t flen, kumo__error *err)
{
    char decoded[PATH_MAX];
    char *joined = NULL, *real = NULL;
    kumo__doc *doc = NULL, *found = NULL;
    ssize_t n = flen < sizeof decoded ? kumo__percent_decode_into(file, flen, decoded, KUMO__PCT_NO_NUL) : -1;
    if (n < 0) {
        kumo__doc_value_error(err, from->doc, holder, "$ref", "$ref '%s': the file name is malformed or too long", ref);
        return NULL;
    }
    decoded[n] = '\0';
    if ((joined = join_path(kumo__doc_path(from->doc), decoded)) == NULL)
        goto oom;
    if ((real = realpath(joined, NULL)) == NULL) {
        if (errno == ENOMEM)
            goto oom;
        kumo__doc_value_error(err, from->doc, holder, "$ref", "$ref '%s' points at nothing: cannot open %s: %s", ref,
                              joined, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < ds->n; i++)
        if (strcmp(ds->real[i], real) == 0) {
            found = ds->docs[i];
            goto out;
        }
    kumo__error inner = {0};
    if (kumo__doc_load(joined, &doc, &inner) < 0) {
        int line = 0, col = 0;
        if (!kumo__doc_pos(from->doc, json_object_get(holder, "$ref"), &line, &col))
            kumo__doc_key_pos(from->doc, holder, "$ref", &line, &col);
        kumo__error_set(err, inner.code, "%s (reached through the $ref '%s' at %s:%d:%d)", inner.msg, ref,
                        kumo__doc_path(from->doc), line, col);
        goto out;
    }
    if (add_doc(ds, doc, real) < 0)
        goto oom;
    found = doc;
    doc = NULL;
    real = NULL;
    goto out;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
out:
    kumo__doc_free(doc);
    free(real);
    free(joined);
    return found;
}

json_t *kumo__docset_resolve(kumo__docset *ds, const kumo__loc *from, const json_t *holder, const char *ref,
                             kumo__loc *to, kumo__error *err)
{
    const char *hash = strchr(ref, '#');
    size_t flen = hash ? (size_t)(hash - ref) : strlen(ref);
    const char *frag = hash ? hash + 1 : "";
    if (has_scheme(ref)) {
        if (strncmp(ref, "http://", 7) == 0 || strncmp(ref, "https://", 8) == 0)
            kumo__doc_value_error(err, from->doc, holder, "$ref",
                                  "$ref '%s' is remote; kumo loads only local files; download it next to the spec",
                                  ref);
        else
            kumo__doc_value_error(err, from->doc, holder, "$ref",
                                  "$ref '%s' is not a relative file path; kumo loads only local files", ref);
        return NULL;
    }
    kumo__doc *doc = from->doc;
    if (flen > 0 && (doc = doc_for(ds, from, holder, ref, ref, flen, err)) == NULL)
        return NULL;
    /* the pointer, percent-decoded, is also the location */
    size_t rawlen = strlen(frag);
    char *dec = malloc(rawlen + 1);
    if (dec == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    ssize_t dlen = kumo__percent_decode_into(frag, rawlen, dec, 0);
    json_t *target = NULL;
    if (dlen < 0) {
        kumo__doc_value_error(err, from->doc, holder, "$ref", "$ref '%s': malformed percent-encoding", ref);
        goto out;
    }
    dec[dlen] = '\0';
    target = kumo__pointer_get(kumo__doc_root(doc), dec, (size_t)dlen, 0);
    if (target == NULL) {
        char why[768];
        char name[512];
        if (doc == from->doc)
            snprintf(name, sizeof name, "the document");
        else
            snprintf(name, sizeof name, "%.*s", (int)flen, ref);
        explain_missing(kumo__doc_root(doc), dec, (size_t)dlen, name, why, sizeof why);
        kumo__doc_value_error(err, from->doc, holder, "$ref", "$ref '%s' points at nothing: %s", ref, why);
        goto out;
    }
    to->doc = doc;
    kumo__ptrbuf_init(&to->ptr);
    if ((size_t)dlen < sizeof to->ptr.buf - 4) {
        memcpy(to->ptr.buf, dec, (size_t)dlen + 1);
        to->ptr.len = (size_t)dlen;
    } else {
        memcpy(to->ptr.buf, dec, sizeof to->ptr.buf - 4);
        memcpy(to->ptr.buf + sizeof to->ptr.buf - 4, "...", 4);
        to->ptr.len = sizeof to->ptr.buf - 1;
    }
out:
    free(dec);
    return target;
}

json_t *kumo__docset_deref(kumo__docset *ds, json_t *node, kumo__loc *loc, const char *what, kumo__error *err)
{
    const json_t *seen[CHAIN_MAX];
    const char *refs[CHAIN_MAX];
    kumo__loc first = *loc;
    json_t *start = node;
    size_t n = 0;
    json_t *r;
    while (json_is_object(node) && (r = json_object_get(node, "$ref")) != NULL) {
        if (!json_is_string(r)) {
            kumo__doc_value_error(err, loc->doc, node, "$ref", "$ref must be a string (a URI reference)");
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            if (seen[i] != node)
                continue;
            char chain[1024];
            size_t o = 0;
            for (size_t k = 0; k < n && o < sizeof chain; k++)
                o += (size_t)snprintf(chain + o, sizeof chain - o, "'%s' -> ", refs[k]);
            if (o < sizeof chain)
                snprintf(chain + o, sizeof chain - o, "...");
            kumo__doc_value_error(err, first.doc, start, "$ref",
                                  "$ref cycle: %s never reaches a %s; make one of them a %s", chain, what, what);
            return NULL;
        }
        if (n == CHAIN_MAX) {
            kumo__doc_value_error(err, first.doc, start, "$ref", "more than %d $refs in a chain; shorten it",
                                  CHAIN_MAX);
            return NULL;
        }
        seen[n] = node;
        refs[n] = json_string_value(r);
        n++;
        kumo__loc to;
        json_t *t = kumo__docset_resolve(ds, loc, node, json_string_value(r), &to, err);
        if (t == NULL)
            return NULL;
        node = t;
        *loc = to;
    }
    return node;
}

/* The validator's view: `at` holds the $ref; its document decides what a
 * relative ref means (the main document for synthesized schemas). */
static json_t *resolve_cb(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                          kumo__error *err)
{
    kumo__docset *ds = (kumo__docset *)((char *)self - offsetof(kumo__docset, refs));
    kumo__loc from = {.doc = kumo__docset_doc_of(ds, at)};
    if (from.doc == NULL)
        from.doc = ds->docs[0];
    kumo__ptrbuf_init(&from.ptr);
    kumo__loc to;
    json_t *t = kumo__docset_resolve(ds, &from, at, ref, &to, err);
    if (t == NULL)
        return NULL;
    if (where && where_len) {
        char *loc = kumo__docset_location(ds, &to);
        if (loc == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return NULL;
        }
        snprintf(where, where_len, "%s", loc);
        free(loc);
    }
    return t;
}
