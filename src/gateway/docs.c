/*
 * docs.c: the live contract (see docs.h). kumo__docs_prepare notes what to
 * serve from (the spec, the page's title and events); the bodies are made
 * on the first request for one of the paths, once, under a lock, and only
 * read afterwards: the spec without x-kumo-* keys as JSON and YAML, each
 * file the spec $refs (found by walking every $ref, resolved against the
 * referring file, lexically normalised and refused when it leaves the
 * spec's directory, also through a symlink), and the HTML page. A 2 MB
 * document takes a few hundred milliseconds to write out three times,
 * which kumo up no longer pays before it serves. Serving is a lookup in
 * the table and a copy of the body into the response. The YAML text is
 * base/yaml_emit.c's, the same writer as the deploy targets'.
 */
#include "gateway/docs.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strlist.h"
#include "base/yaml_emit.h"
#include "gateway/cloudevents_in.h"
#include "project/schedule.h"
#include "gateway/h2o_glue.h"

#define DOCS_MAX_FILES 256

struct kumo__docs {
    kumo__docs_entry *entries;
    size_t n, cap;
    /* what the bodies are made from: the spec (borrowed: it outlives d),
     * the page's title and its events section (NULL: none) */
    const kumo__spec *spec;
    char *title;
    json_t *events;
    pthread_mutex_t lock; /* held while the bodies are made */
    atomic_int state;     /* 0: not made yet; 1: made (entries read without the lock); -1: could not be */
};

/* ---- x-kumo-* removal ------------------------------------------------- */

enum strip_ctx {
    CTX_NORMAL,    /* an OpenAPI or Schema object: x-kumo-* keys go */
    CTX_LITERAL,   /* data (example, default, enum, const): copied as is */
    CTX_NAMES,     /* a map of user-chosen names (properties, schemas, headers...) */
    CTX_EXAMPLES,  /* the examples map: names -> Example Objects */
    CTX_EXAMPLE,   /* an Example Object: its value is data */
    CTX_RESPONSES, /* status -> Response; "default" here is a response, not data */
};

static const char *const name_maps[] = {
    "properties",    "patternProperties",
    "definitions",   "$defs",
    "schemas",       "parameters",
    "headers",       "content",
    "encoding",      "securitySchemes",
    "requestBodies", "links",
    "callbacks",     "pathItems",
    "variables",     "dependentSchemas",
    "mapping",       NULL,
};

static enum strip_ctx child_ctx(enum strip_ctx ctx, const char *key, const json_t *value)
{
    if (ctx == CTX_LITERAL)
        return CTX_LITERAL;
    if (ctx == CTX_NAMES || ctx == CTX_RESPONSES)
        return CTX_NORMAL;
    if (ctx == CTX_EXAMPLES)
        return CTX_EXAMPLE;
    if (ctx == CTX_EXAMPLE && strcmp(key, "value") == 0)
        return CTX_LITERAL;
    if (strcmp(key, "example") == 0 || strcmp(key, "default") == 0 || strcmp(key, "enum") == 0 ||
        strcmp(key, "const") == 0)
        return CTX_LITERAL;
    if (strcmp(key, "responses") == 0 && json_is_object(value))
        return CTX_RESPONSES;
    if (strcmp(key, "examples") == 0)
        return json_is_object(value) ? CTX_EXAMPLES : CTX_LITERAL;
    if (json_is_object(value) && kumo__in_list(key, name_maps))
        return CTX_NAMES;
    return CTX_NORMAL;
}

static json_t *strip(const json_t *v, enum strip_ctx ctx, int depth)
{
    if (ctx == CTX_LITERAL || depth > 512)
        return json_deep_copy(v);
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            json_t *c = strip(item, ctx == CTX_NAMES ? CTX_NORMAL : ctx, depth + 1);
            if (out == NULL || c == NULL || json_array_append_new(out, c) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    json_t *out = json_object();
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)v, key, item)
    {
        if (ctx != CTX_NAMES && ctx != CTX_EXAMPLES && strncmp(key, "x-kumo-", 7) == 0)
            continue;
        json_t *c = strip(item, child_ctx(ctx, key, item), depth + 1);
        if (out == NULL || c == NULL || json_object_set_new(out, key, c) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *kumo__docs_strip(const json_t *doc)
{
    return strip(doc, CTX_NORMAL, 0);
}

/* ---- the table of served documents ------------------------------------- */

static void entry_free(kumo__docs_entry *e)
{
    free((char *)e->path);
    free((char *)e->body);
    free((char *)e->etag);
}

static void entries_free(kumo__docs *d)
{
    for (size_t i = 0; i < d->n; i++)
        entry_free(&d->entries[i]);
    free(d->entries);
    d->entries = NULL;
    d->n = d->cap = 0;
}

void kumo__docs_free(kumo__docs *d)
{
    if (d == NULL)
        return;
    entries_free(d);
    free(d->title);
    json_decref(d->events);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* FNV-1a, 64 bits: enough to tell versions of one document apart. */
static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Adds path -> body; takes `body` (malloc'd) even on failure. */
static int add_entry(kumo__docs *d, const char *path, char *body, const char *content_type, kumo__error *err)
{
    if (body == NULL)
        goto oom;
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->entries[i].path, path) == 0) {
            free(body);
            return 0;
        }
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        kumo__docs_entry *e = realloc(d->entries, cap * sizeof(*e));
        if (e == NULL)
            goto oom;
        d->entries = e;
        d->cap = cap;
    }
    kumo__docs_entry *e = &d->entries[d->n];
    memset(e, 0, sizeof(*e));
    e->body = body;
    e->len = strlen(body);
    e->content_type = content_type;
    char tag[24];
    snprintf(tag, sizeof(tag), "\"%016" PRIx64 "\"", fnv1a(body, e->len));
    if ((e->path = strdup(path)) == NULL || (e->etag = strdup(tag)) == NULL) {
        entry_free(e);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    d->n++;
    return 0;
oom:
    free(body);
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int ensure_rendered(kumo__docs *d, kumo__error *err);

const kumo__docs_entry *kumo__docs_find(const kumo__docs *d, const char *path, size_t path_len)
{
    kumo__error err = {0};
    /* the table is made on first use: logically const */
    if (ensure_rendered((kumo__docs *)d, &err) != 0)
        return NULL;
    for (size_t i = 0; i < d->n; i++) {
        const kumo__docs_entry *e = &d->entries[i];
        if (strlen(e->path) == path_len && memcmp(e->path, path, path_len) == 0)
            return e;
    }
    return NULL;
}

static const char CT_JSON[] = "application/json";
static const char CT_YAML[] = "application/yaml; charset=utf-8";
static const char CT_HTML[] = "text/html; charset=utf-8";

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A document in the format its file name says: .json as JSON, else YAML. */
static int add_document(kumo__docs *d, const char *path, const json_t *root, int as_json, kumo__error *err)
{
    json_t *clean = kumo__docs_strip(root);
    if (clean == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    char *body = NULL;
    if (as_json) {
        body = json_dumps(clean, JSON_INDENT(2) | JSON_ENCODE_ANY);
        if (body) {
            size_t n = strlen(body);
            char *nl = realloc(body, n + 2);
            if (nl == NULL) {
                free(body);
                body = NULL;
            } else {
                body = nl;
                memcpy(body + n, "\n", 2);
            }
        }
    } else {
        body = kumo__yaml_dump(clean);
    }
    json_decref(clean);
    return add_entry(d, path, body, as_json ? CT_JSON : CT_YAML, err);
}

/* ---- files the spec $refs ---------------------------------------------- */

/* Normalises a relative path lexically ("a/./b/../c" -> "a/c"); NULL when it
 * climbs above its start or is absolute. */
static char *normalize_rel(const char *path)
{
    if (path[0] == '/' || path[0] == '\0')
        return NULL;
    size_t n = strlen(path);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t len = 0;
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t seg = slash ? (size_t)(slash - p) : strlen(p);
        if (seg == 0 || (seg == 1 && p[0] == '.')) {
            /* skip */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.') {
            if (len == 0) {
                free(out);
                return NULL;
            }
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else {
            if (len > 0)
                out[len++] = '/';
            memcpy(out + len, p, seg);
            len += seg;
        }
        p += seg;
        if (*p == '/')
            p++;
    }
    out[len] = '\0';
    if (len == 0) {
        free(out);
        return NULL;
    }
    return out;
}

typedef struct refwalk {
    kumo__docs *d;
    const char *root_dir; /* realpath of the spec's directory */
    char *seen[DOCS_MAX_FILES];
    size_t nseen;
} refwalk;

static int walk_refs(refwalk *w, const char *rel, const json_t *v, int depth, kumo__error *err);

/* `rel`: the referring file, relative to the spec's directory; `ref`: a
 * $ref value. Loads and adds the file it names when it lies inside. */
static int follow_ref(refwalk *w, const char *rel, const char *ref, int depth, kumo__error *err)
{
    const char *hash = strchr(ref, '#');
    size_t flen = hash ? (size_t)(hash - ref) : strlen(ref);
    if (flen == 0 || memchr(ref, ':', flen) || ref[0] == '/' || memchr(ref, '?', flen) || memchr(ref, '%', flen))
        return 0; /* same document, a URL, an absolute path, or escaped: not served */
    const char *slash = strrchr(rel, '/');
    size_t dlen = slash ? (size_t)(slash - rel) + 1 : 0;
    char *joined = malloc(dlen + flen + 1);
    if (joined == NULL)
        goto oom;
    memcpy(joined, rel, dlen);
    memcpy(joined + dlen, ref, flen);
    joined[dlen + flen] = '\0';
    char *target = normalize_rel(joined);
    free(joined);
    if (target == NULL)
        return 0; /* outside the spec's directory */
    for (size_t i = 0; i < w->nseen; i++) {
        if (strcmp(w->seen[i], target) == 0) {
            free(target);
            return 0;
        }
    }
    if (w->nseen == DOCS_MAX_FILES) {
        free(target);
        return 0;
    }
    w->seen[w->nseen++] = target;

    int rc = 0;
    char full[PATH_MAX], real[PATH_MAX];
    kumo__doc *doc = NULL;
    kumo__error ignored = {0};
    snprintf(full, sizeof(full), "%s/%s", w->root_dir, target);
    size_t rlen = strlen(w->root_dir);
    if (realpath(full, real) == NULL || strncmp(real, w->root_dir, rlen) != 0 || real[rlen] != '/')
        return 0; /* missing, or a symlink out of the directory */
    if (kumo__doc_load(real, &doc, &ignored) != 0)
        return 0; /* the spec loader reports broken files; here they are just not served */
    char served[PATH_MAX + 16];
    snprintf(served, sizeof(served), "/openapi/%s", target);
    if ((rc = add_document(w->d, served, kumo__doc_root(doc), ends_with(target, ".json"), err)) == 0)
        rc = walk_refs(w, target, kumo__doc_root(doc), depth + 1, err);
    kumo__doc_free(doc);
    return rc;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int walk_refs(refwalk *w, const char *rel, const json_t *v, int depth, kumo__error *err)
{
    if (depth > 512)
        return 0;
    int rc = 0;
    if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item)
        {
            if (strcmp(key, "$ref") == 0 && json_is_string(item))
                rc = follow_ref(w, rel, json_string_value(item), depth, err);
            else
                rc = walk_refs(w, rel, item, depth + 1, err);
            if (rc < 0)
                return rc;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if ((rc = walk_refs(w, rel, item, depth + 1, err)) < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- build ---------------------------------------------------------------- */

/* The delivery keys of an event consumed from a queue (queue, topic, blob). */
static int delivery_json(json_t *o, const kumo__event_decl *e)
{
    char dead[512];
    snprintf(dead, sizeof(dead), "%s-dead", e->queue ? e->queue : "");
    return json_object_update_new(o, json_pack("{s:s?, s:s, s:i, s:I, s:I, s:i, s:I}", "queue", e->queue,
                                               "dead_letter_queue", dead, "batch", (int)e->batch, "window_ms",
                                               (json_int_t)e->window_ms, "visibility_ms", (json_int_t)e->visibility_ms,
                                               "max_receives", (int)e->max_receives, "backoff_ms",
                                               (json_int_t)e->backoff_ms));
}

/* One event of the page's Events section; NULL when out of memory. */
static json_t *event_json(const kumo__event_decl *e, int64_t now_ms)
{
    char handler[512];
    snprintf(handler, sizeof(handler), "%s.%s", e->unit, e->symbol);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?}", "name", e->name, "handler", handler, "kind",
                          kumo__event_kind_name(e->kind), "data", e->data);
    if (o == NULL)
        return NULL;
    int rc = 0;
    switch (e->kind) {
    case KUMO__EVENT_SCHEDULE: {
        json_t *next = json_array();
        rc =
            json_object_update_new(o, json_pack("{s:s?, s:s, s:s, s:b, s:o}", "schedule", e->schedule, "timezone",
                                                e->timezone ? e->timezone : "UTC", "missed",
                                                e->missed_once ? "once" : "skip", "overlap", e->overlap, "next", next));
        int64_t t = now_ms;
        for (int k = 0; k < 3 && e->compiled && rc == 0; k++) {
            if ((t = kumo__schedule_next(e->compiled, t)) < 0)
                break;
            char local[64], utc[64];
            kumo__schedule_format(e->tz, t, local, sizeof(local), utc, sizeof(utc));
            rc = json_array_append_new(next, json_pack("{s:s, s:s}", "local", local, "utc", utc));
        }
        break;
    }
    case KUMO__EVENT_QUEUE: rc = delivery_json(o, e); break;
    case KUMO__EVENT_TOPIC: rc = json_object_set_new(o, "topic", json_string(e->topic)) || delivery_json(o, e); break;
    case KUMO__EVENT_BLOB: {
        json_t *on = json_array();
        if (on && (e->on & KUMO__BLOB_CREATED))
            json_array_append_new(on, json_string("created"));
        if (on && (e->on & KUMO__BLOB_DELETED))
            json_array_append_new(on, json_string("deleted"));
        rc = json_object_update_new(o, json_pack("{s:s?, s:o, s:s?, s:s?}", "blob", e->blob, "on", on, "prefix",
                                                 e->prefix, "suffix", e->suffix)) ||
             delivery_json(o, e);
        break;
    }
    case KUMO__EVENT_CLOUDEVENT:
        rc = json_object_update_new(
            o, json_pack("{s:s?, s:s?, s:s}", "type", e->ce_type, "source", e->ce_source, "endpoint", KUMO__CE_PATH));
        break;
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The page's Events section: {"at": now, "list": [{name, handler, kind,
 * data?, and per kind: schedule, timezone, missed, overlap, next: [{local,
 * utc}] | queue, dead_letter_queue, batch, window_ms, visibility_ms,
 * max_receives, backoff_ms (queue; topic adds topic; blob adds blob, on,
 * prefix, suffix) | type, source (cloudevent)}]}: every event of every
 * kind. NULL when out of memory. */
static json_t *events_json(const kumo__project *p, int64_t now_ms)
{
    char at_local[64], at_utc[64];
    kumo__schedule_format(NULL, now_ms, at_local, sizeof(at_local), at_utc, sizeof(at_utc));
    json_t *list = json_array(), *doc = json_pack("{s:s, s:o}", "at", at_utc, "list", list);
    if (doc == NULL)
        return NULL;
    for (size_t i = 0; i < p->nevents; i++) {
        json_t *o = event_json(&p->events[i], now_ms);
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* Makes every body into d's table from d->spec; on failure the table is
 * left empty. Called once, under d->lock (or before d is shared). */
static int render(kumo__docs *d, kumo__error *err)
{
    int rc = 0;
    refwalk w = {0};
    char real[PATH_MAX];
    const kumo__spec *spec = d->spec;
    const json_t *root = kumo__doc_root(spec->doc);
    if ((rc = add_document(d, "/openapi.json", root, 1, err)) < 0 ||
        (rc = add_document(d, "/openapi.yaml", root, 0, err)) < 0)
        goto out;

    char *page = kumo__docs_page(d->title, spec->base_path ? spec->base_path : "", d->events);
    if ((rc = add_entry(d, "/docs", page, CT_HTML, err)) < 0)
        goto out;
    char *page2 = strdup(d->entries[d->n - 1].body);
    if ((rc = add_entry(d, "/docs/", page2, CT_HTML, err)) < 0)
        goto out;

    /* The main file under the name kumo.yaml gives it (not its target's when
     * it is a symlink), then whatever it $refs, found from its folder as the
     * spec loader finds them (docset.c). */
    const char *path = kumo__doc_path(spec->doc);
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    char dir[PATH_MAX] = ".";
    if (path == NULL || *base == '\0' || dlen >= sizeof(dir))
        goto out; /* a spec parsed from memory: no files to serve */
    if (dlen > 0)
        snprintf(dir, sizeof(dir), "%.*s", (int)dlen, path);
    if (realpath(dir, real) == NULL)
        goto out;
    w.d = d;
    w.root_dir = real;
    char served[PATH_MAX + 16];
    snprintf(served, sizeof(served), "/openapi/%s", base);
    if ((rc = add_document(d, served, root, ends_with(base, ".json"), err)) < 0)
        goto out;
    if ((w.seen[0] = strdup(base)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    w.nseen = 1;
    rc = walk_refs(&w, base, root, 0, err);
out:
    for (size_t i = 0; i < w.nseen; i++)
        free(w.seen[i]);
    if (rc < 0) {
        kumo__error_wrap(err, "preparing /openapi.json and /docs");
        entries_free(d);
    }
    return rc;
}

/* The bodies, made on the first call (by whichever thread comes first; the
 * others wait for it): 0, or negative when they could not be made (err set
 * on the call that tried; later calls say the same without trying again). */
static int ensure_rendered(kumo__docs *d, kumo__error *err)
{
    int state = atomic_load_explicit(&d->state, memory_order_acquire);
    if (state == 0) {
        pthread_mutex_lock(&d->lock);
        state = atomic_load_explicit(&d->state, memory_order_relaxed);
        if (state == 0) {
            state = render(d, err) == 0 ? 1 : -1;
            atomic_store_explicit(&d->state, state, memory_order_release);
        } else if (state < 0) {
            kumo__error_set(err, -ENOMEM, "preparing /openapi.json and /docs: out of memory");
        }
        pthread_mutex_unlock(&d->lock);
    } else if (state < 0) {
        kumo__error_set(err, -ENOMEM, "preparing /openapi.json and /docs: out of memory");
    }
    return state == 1 ? 0 : -ENOMEM;
}

int kumo__docs_prepare(const kumo__spec *spec, const char *project_name, const kumo__project *events_of, int64_t now_ms,
                       kumo__docs **out, kumo__error *err)
{
    *out = NULL;
    kumo__docs *d = calloc(1, sizeof(*d));
    const char *name = project_name && *project_name ? project_name : spec->title;
    if (d == NULL || (d->title = strdup(name ? name : "API")) == NULL)
        goto oom;
    pthread_mutex_init(&d->lock, NULL);
    atomic_init(&d->state, 0);
    d->spec = spec;
    if (events_of && events_of->nevents > 0 && (d->events = events_json(events_of, now_ms)) == NULL) {
        kumo__docs_free(d);
        d = NULL;
        goto oom;
    }
    *out = d;
    return 0;
oom:
    if (d)
        free(d->title);
    free(d);
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* The eager forms: prepared and made at once, so that what cannot be made
 * is said now (kumo lint, the unit tests). */
static int build_now(const kumo__spec *spec, const char *project_name, const kumo__project *events_of, int64_t now_ms,
                     kumo__docs **out, kumo__error *err)
{
    int rc = kumo__docs_prepare(spec, project_name, events_of, now_ms, out, err);
    if (rc == 0 && (rc = ensure_rendered(*out, err)) != 0) {
        kumo__docs_free(*out);
        *out = NULL;
    }
    return rc;
}

int kumo__docs_build(const kumo__spec *spec, const char *project_name, kumo__docs **out, kumo__error *err)
{
    return build_now(spec, project_name, NULL, 0, out, err);
}

int kumo__docs_build_events(const kumo__spec *spec, const kumo__project *project, int64_t now_ms, kumo__docs **out,
                            kumo__error *err)
{
    return build_now(spec, project->name, project, now_ms, out, err);
}

/* ---- serving ---------------------------------------------------------------- */

int kumo__docs_etag_matches(const char *v, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i >= len)
            break;
        if (v[i] == '*')
            return 1;
        if (i + 2 <= len && v[i] == 'W' && v[i + 1] == '/')
            i += 2;
        size_t start = i;
        if (i < len && v[i] == '"') {
            i++;
            while (i < len && v[i] != '"')
                i++;
            if (i < len)
                i++;
        } else {
            while (i < len && v[i] != ',' && v[i] != ' ')
                i++;
        }
        if (i - start == elen && memcmp(v + start, etag, elen) == 0)
            return 1;
    }
    return 0;
}

int kumo__docs_serve(const kumo__docs *d, h2o_req_t *req)
{
    return kumo__docs_serve_banner(d, req, NULL);
}

/* The page with a banner after <body>: in req's pool. */
static h2o_iovec_t with_banner(h2o_req_t *req, const char *page, size_t len, const char *banner)
{
    static const char open_tag[] = "<div id=\"kumo-build-error\" role=\"alert\" style=\"background:#fde8e8;"
                                   "border:2px solid #c00;color:#600;padding:8px 12px;margin:0 0 12px\">"
                                   "<strong>The last build failed; the previous generation keeps serving.</strong>"
                                   "<pre style=\"white-space:pre-wrap;margin:6px 0 0\">";
    static const char close_tag[] = "</pre></div>\n";
    const char *body = strstr(page, "<body");
    const char *after = body ? strchr(body, '>') : NULL;
    size_t at = after ? (size_t)(after + 1 - page) : 0;
    size_t blen = strlen(banner), cap = len + sizeof(open_tag) + sizeof(close_tag) + blen * 6 + 1;
    char *out = h2o_mem_alloc_pool(&req->pool, cap), *w = out;
    memcpy(w, page, at);
    w += at;
    memcpy(w, open_tag, sizeof(open_tag) - 1);
    w += sizeof(open_tag) - 1;
    for (size_t i = 0; i < blen; i++) {
        const char *esc = banner[i] == '<'   ? "&lt;"
                          : banner[i] == '>' ? "&gt;"
                          : banner[i] == '&' ? "&amp;"
                          : banner[i] == '"' ? "&quot;"
                                             : NULL;
        if (esc) {
            memcpy(w, esc, strlen(esc));
            w += strlen(esc);
        } else {
            *w++ = banner[i];
        }
    }
    memcpy(w, close_tag, sizeof(close_tag) - 1);
    w += sizeof(close_tag) - 1;
    memcpy(w, page + at, len - at);
    w += len - at;
    return h2o_iovec_init(out, (size_t)(w - out));
}

int kumo__docs_serve_banner(const kumo__docs *d, h2o_req_t *req, const char *banner)
{
    if (d == NULL)
        return 0;
    const char *path = req->path_normalized.base;
    size_t len = req->path_normalized.len;
    /* only these can be served from the table: other paths (the API's 404s)
     * do not make it */
    if (!h2o_memis(path, len, H2O_STRLIT("/openapi.json")) && !h2o_memis(path, len, H2O_STRLIT("/openapi.yaml")) &&
        !h2o_memis(path, len, H2O_STRLIT("/docs")) && !h2o_memis(path, len, H2O_STRLIT("/docs/")) &&
        !(len > 9 && memcmp(path, "/openapi/", 9) == 0))
        return 0;
    kumo__error err = {0};
    if (ensure_rendered((kumo__docs *)d, &err) != 0) {
        kumo__send_problem(req, 503, "Service Unavailable", err.msg, NULL, NULL);
        return 1;
    }
    const kumo__docs_entry *e = kumo__docs_find(d, path, len);
    if (e == NULL)
        return 0;
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (!head && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
        kumo__send_problem(req, 405, "Method Not Allowed", "the API description and docs are read-only: use GET", NULL,
                           NULL);
        return 1;
    }
    int html = strncmp(e->content_type, "text/html", 9) == 0;
    if (!(html && banner))
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, e->etag, strlen(e->etag));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    ssize_t inm = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (inm >= 0 && !(html && banner) &&
        kumo__docs_etag_matches(req->headers.entries[inm].value.base, req->headers.entries[inm].value.len, e->etag)) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, "", 0);
        return 1;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, e->content_type,
                   strlen(e->content_type));
    if (strncmp(e->content_type, "text/html", 9) == 0) {
        /* the page runs only its own inline script and talks only to this
         * origin; no other site may frame it (clickjacking the "try it"
         * forms), and it tells no site where it was reached from */
        static const char csp[] = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                  "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                                  "frame-ancestors 'none'";
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, NULL, csp,
                              sizeof(csp) - 1);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-frame-options"), 0, NULL,
                              H2O_STRLIT("DENY"));
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    if (html && banner) {
        h2o_iovec_t page = with_banner(req, e->body, e->len, banner);
        kumo__send_body(req, page.base, page.len);
        return 1;
    }
    kumo__send_body(req, e->body, e->len);
    return 1;
}
