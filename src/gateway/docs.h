/*
 * docs.h: the live contract. At start-up the gateway turns its loaded
 * OpenAPI document into the documents it serves beside the API:
 *
 *   /openapi.json            the spec with every x-kumo-* key removed
 *   /openapi.yaml            the same, as YAML (block style)
 *   /openapi/<relative path> each file the spec $refs (and the main file
 *                            under its own name), x-kumo-* removed too, so a
 *                            client can follow relative $refs
 *   /docs, /docs/            a self-contained HTML reference with a
 *                            "Try it" form per operation (docs_page.c)
 *
 * kumo up and kumo-host prepare them (kumo__docs_prepare) and make every
 * body on the first request for one of these paths, once, whichever loop
 * it reaches; afterwards they are only read, without a lock. The files
 * the spec $refs are read then, as they are on disk (a change to them
 * shows after a reload, as before). Bodies carry an ETag (a hash of the
 * content) and Cache-Control: no-cache; If-None-Match answers 304.
 */
#ifndef KUMO_DOCS_H
#define KUMO_DOCS_H

#include <stddef.h>

#include "openapi/openapi.h"
#include "project/project.h"

#include <jansson.h>
#include <stdint.h>

typedef struct kumo__docs kumo__docs;

/* Notes what the served documents are made from, without making them:
 * `spec` is borrowed for the life of *out (free *out first);
 * `project_name` names the page (NULL or "": the spec's title); the
 * `events:` of `events_of` (borrowed during the call; NULL: none) make its
 * Events section, with each event's next fire times after `now_ms`,
 * computed here. The bodies are made on the first kumo__docs_find or
 * kumo__docs_serve of one of the paths. *out is owned by the caller:
 * kumo__docs_free. */
int kumo__docs_prepare(const kumo__spec *spec, const char *project_name, const kumo__project *events_of, int64_t now_ms,
                       kumo__docs **out, kumo__error *err);

/* Prepares and makes every body now (what cannot be made is said here:
 * kumo lint). `spec` is borrowed for the life of *out. `project_name`
 * names the page (may be NULL: the spec's title). */
int kumo__docs_build(const kumo__spec *spec, const char *project_name, kumo__docs **out, kumo__error *err);
/* The same, with the `events:` of `project` (borrowed during the call)
 * shown on /docs: each event's name, schedule, zone, handler, missed and
 * overlap, and its next three fire times after `now_ms` (computed here,
 * when the generation is built: the page says as of when). Made now. */
int kumo__docs_build_events(const kumo__spec *spec, const kumo__project *project, int64_t now_ms, kumo__docs **out,
                            kumo__error *err);
void kumo__docs_free(kumo__docs *d);

/* One served document, looked up by request path (no query string):
 * body, length, Content-Type and quoted ETag, all owned by `d`. NULL when
 * the path is not one of the documents (or they could not be made: out of
 * memory). Makes the bodies on its first call. Thread-safe. */
typedef struct kumo__docs_entry {
    const char *path; /* "/openapi.json" */
    const char *body;
    size_t len;
    const char *content_type;
    const char *etag; /* "\"1f2e...\"", quotes included */
} kumo__docs_entry;

const kumo__docs_entry *kumo__docs_find(const kumo__docs *d, const char *path, size_t path_len);

/* Whether an If-None-Match header value (a list of entity tags, or "*")
 * matches `etag` (weak comparison, as RFC 9110 asks for GET). */
int kumo__docs_etag_matches(const char *if_none_match, size_t len, const char *etag);

/* The spec document without x-kumo-* keys (new reference). Keys are
 * removed wherever they are specification extensions; literal data is
 * left alone: the values of example, default, enum and const, the value
 * of an Example Object, and property names under properties. */
json_t *kumo__docs_strip(const json_t *doc);

/* The HTML page (docs_page.c): malloc'd, NUL-terminated. `title` and
 * `base_path` (the spec's server path, "" or "/v1") are embedded escaped;
 * `events` (NULL: none) is an object {"at": RFC 3339, "list": [...]}
 * embedded in the page's config for its Events section. */
char *kumo__docs_page(const char *title, const char *base_path, const json_t *events);

#define H2O_USE_LIBUV 0
#include <h2o.h>

/* Serves GET/HEAD of the paths above; returns 1 when it answered the
 * request (other methods get 405), 0 when the path is not one of these
 * (the caller routes it to the API). A 503 problem when the bodies could
 * not be made. Thread-safe. */
int kumo__docs_serve(const kumo__docs *d, h2o_req_t *req);
/* kumo__docs_serve, with `banner` (NULL: none) shown at the top of the
 * HTML page, escaped: kumo dev's last failed build. The page then has no
 * ETag, so that a browser does not keep it. */
int kumo__docs_serve_banner(const kumo__docs *d, h2o_req_t *req, const char *banner);

#endif
