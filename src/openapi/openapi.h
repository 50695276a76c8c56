/*
 * openapi.h: everything the gateway knows about a project before it serves:
 * documents with source positions (doc.c), the project file kumo.yaml
 * (project.c), the OpenAPI document (spec.c) and the router built from it
 * (router.c). Control plane: errors go into a kumo__error with
 * file:line:column, wrapped with context by each layer; only the CLI prints.
 */
#ifndef KUMO_OPENAPI_H
#define KUMO_OPENAPI_H

#include <jansson.h>
#include <stddef.h>

/* ---- errors ---------------------------------------------------------- */

typedef struct kumo__error {
    int code;          /* 0: no error; else a negative errno-style code */
    char msg[2048];
} kumo__error;

/* Sets the message (printf); code defaults to -EINVAL when 0 is given. */
void kumo__error_set(kumo__error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes context: "loading project: <old message>". */
void kumo__error_wrap(kumo__error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- documents: YAML (1.2 core scalars) or JSON, with positions -------- */

typedef struct kumo__doc kumo__doc;

/* Parses the file at `path` into a JSON tree. Syntax errors name
 * path:line:column. */
int kumo__doc_load(const char *path, kumo__doc **out, kumo__error *err);
/* Parses a buffer; `name` is used in messages. */
int kumo__doc_parse(const char *name, const char *text, size_t len, kumo__doc **out, kumo__error *err);
void kumo__doc_free(kumo__doc *doc);
json_t *kumo__doc_root(const kumo__doc *doc);
const char *kumo__doc_path(const kumo__doc *doc);
/* 1-based line and column where `node` starts in the source; 0 when the
 * node was not read from this document. */
int kumo__doc_pos(const kumo__doc *doc, const json_t *node, int *line, int *col);
/* Sets err to "path:line:col: <message>" for `node` (or "path: " when it
 * has no position). */
void kumo__doc_error(kumo__error *err, const kumo__doc *doc, const json_t *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Mapping keys are not json_t nodes, and jansson's null, true and false are
 * shared singletons with no position of their own; these name the key
 * `key` of mapping `object` (key_pos: 0 when unknown), or its value when
 * that has a position and else the key (value_error). */
int kumo__doc_key_pos(const kumo__doc *doc, const json_t *object, const char *key, int *line, int *col);
void kumo__doc_key_error(kumo__error *err, const kumo__doc *doc, const json_t *object, const char *key,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void kumo__doc_value_error(kumo__error *err, const kumo__doc *doc, const json_t *object, const char *key,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- the project: kumo.yaml -------------------------------------------- */

/* How a function unit runs: from defaults:, overridden per unit. */
typedef struct kumo__tuning {
    double timeout_s;       /* invocation deadline (10 s) */
    double idle_s;          /* scale to zero after this long without a request (300 s); 0: never */
    size_t max_body;        /* largest request body (1 MiB) */
    size_t memory;          /* memory limit of a worker (128 MiB); 0: none */
    int min;                /* workers kept warm (0) */
    int max;                /* most workers at once (8) */
    int concurrency;        /* in-flight invocations per worker (1) */
    int queue;              /* invocations waiting for a worker beyond those (64) */
    /* sandbox layers, each on by default; `sandbox: false` turns all off */
    unsigned sandbox_seccomp : 1, sandbox_namespaces : 1, sandbox_limits : 1, sandbox_no_new_privs : 1;
} kumo__tuning;

typedef struct kumo__unit {
    char *name;             /* key under functions: */
    kumo__tuning tuning;
    char **sources;         /* absolute paths */
    size_t nsources;
    char *so_path;          /* DIR/.kumo/build/local/NAME.so */
} kumo__unit;

/* One store's URL in one environment: environments.ENV.stores.NAME. */
typedef struct kumo__store_url {
    char *store;            /* a name declared under stores: */
    char *url;              /* has a scheme: "redis://host:6379/0", "sqlite:PATH" */
    int line, col;          /* where the URL is in kumo.yaml; 0 when unknown */
} kumo__store_url;

/* environments.NAME: where the project's stores live in one deployment. */
typedef struct kumo__environment {
    char *name;             /* key under environments: */
    char *target;           /* target: ("aws", ...); NULL when absent */
    char *region;           /* region:; NULL when absent */
    kumo__store_url *stores; /* stores: NAME -> URL, in file order */
    size_t nstores;
} kumo__environment;

typedef struct kumo__project {
    char *dir;              /* absolute, no trailing slash */
    char *name;
    char *api_path;         /* absolute path of the OpenAPI document */
    kumo__unit *units;
    size_t nunits;
    char **kv_stores;       /* names under stores: kv: */
    size_t nkv_stores;
    char **blob_stores;     /* names under stores: blob: */
    size_t nblob_stores;
    char **queue_stores;    /* names under stores: queue: */
    size_t nqueue_stores;
    kumo__environment *environments; /* environments:, in file order */
    size_t nenvironments;
    double timeout_s;       /* defaults: timeout (10 s when absent) */
    size_t max_body;        /* defaults: max_body, bytes (1 MiB when absent) */
    kumo__tuning defaults;  /* defaults:, which every unit starts from */
    kumo__doc *doc;
    int prebuilt;           /* loaded by kumo__project_load_prebuilt */
} kumo__project;

/* Loads DIR/kumo.yaml; checks every key, that the files it names exist,
 * and that names are unique. */
int kumo__project_load(const char *dir, kumo__project **out, kumo__error *err);
/* The same for a package (kumo-host): the units are built already and
 * their sources need not be there. */
int kumo__project_load_prebuilt(const char *dir, kumo__project **out, kumo__error *err);
void kumo__project_free(kumo__project *p);
/* The unit named `name`, or NULL. */
const kumo__unit *kumo__project_unit(const kumo__project *p, const char *name);

/* ---- where stores live ---------------------------------------------------- */

/* Store names are unique across kv:, blob: and queue: (after upper-casing
 * and '-' -> '_', since each has one variable KUMO_STORE_<NAME>). */

/* "kv", "blob" or "queue" for a declared store; NULL when `store` is not
 * declared. */
const char *kumo__project_store_kind(const kumo__project *p, const char *store);
/* The environment named `name`, or NULL (also for a NULL name). */
const kumo__environment *kumo__project_environment(const kumo__project *p, const char *name);
/* The URL environments.ENV.stores.STORE, or NULL when `e` (may be NULL)
 * does not place that store. */
const kumo__store_url *kumo__environment_store(const kumo__environment *e, const char *store);
/* The environment `kumo up --env` asked for, checked: `asked` itself when
 * defined; with asked NULL, "dev" when the project defines it, else NULL
 * (no environment: every store takes its default). An undefined name is an
 * error listing the defined ones. *out points into p. */
int kumo__project_pick_environment(const kumo__project *p, const char *asked, const char **out,
                                   kumo__error *err);
/* Writes KUMO_STORE_<NAME> (upper case, '-' as '_') into buf; 0, or
 * -EINVAL for a name with other characters, -ENAMETOOLONG when len is
 * too small. */
int kumo__store_var(const char *store, char *buf, size_t len);
/* Where store `store` lives, into buf (len bytes): the environment
 * variable KUMO_STORE_<NAME> when set and not empty, else the URL that
 * environment `env` (may be NULL) gives it, else the embedded default
 * (kv: sqlite:DIR/.kumo/data/kv.db, queue: sqlite:DIR/.kumo/data/queue.db,
 * blob: file:DIR/.kumo/data/blob). Returns buf, or NULL when the store is
 * not declared, `env` is given but not defined, or the URL does not fit. */
const char *kumo__project_store_url(const kumo__project *p, const char *env, const char *store, char *buf,
                                    size_t len);
/* The URL as safe to print or log: a password in it ("user:pw@") and the
 * values of query parameters that hold secrets (password, secret, token)
 * become "****". Returns buf (always NUL-terminated, truncated if need be). */
const char *kumo__store_url_redact(const char *url, char *buf, size_t len);

/* ---- the OpenAPI document ------------------------------------------------ */

typedef enum kumo__param_in {
    KUMO_IN_PATH, KUMO_IN_QUERY, KUMO_IN_HEADER, KUMO_IN_COOKIE,
} kumo__param_in;

typedef enum kumo__param_style {
    KUMO_STYLE_FORM, KUMO_STYLE_SIMPLE, KUMO_STYLE_LABEL, KUMO_STYLE_MATRIX,
    KUMO_STYLE_SPACE_DELIMITED, KUMO_STYLE_PIPE_DELIMITED, KUMO_STYLE_DEEP_OBJECT,
} kumo__param_style;

/* A Parameter Object, resolved ($ref followed), path-level and
 * operation-level merged (the operation's wins on name+in). Swagger 2.0
 * parameters are converted: type/format/items/enum/... become a schema,
 * collectionFormat becomes style+explode (csv: form/simple explode=false,
 * ssv: spaceDelimited, pipes: pipeDelimited, multi: form explode=true). */
typedef struct kumo__param {
    char *name;
    kumo__param_in in;
    kumo__param_style style;   /* default by `in`: query/cookie form, path/header simple */
    int explode;               /* default: 1 for form, else 0 */
    int required;              /* path parameters are always required */
    int allow_empty;           /* allowEmptyValue */
    int allow_reserved;
    json_t *schema;            /* resolved schema, borrowed from the document set; NULL with `content` */
    char *content_type;        /* the one media type of `content` (e.g. application/json), or NULL */
    const char *schema_location; /* for messages: "/paths/~1todos/get/parameters/0/schema" */
} kumo__param;

/* One entry of a content map (requestBody or a response). */
typedef struct kumo__media {
    char *type;                /* lower case, as written: application/json, text/plain, a wildcard */
    json_t *schema;            /* resolved, borrowed; NULL when the media type has none */
    const char *schema_location;
} kumo__media;

typedef struct kumo__response {
    char *status;              /* "200", "2XX", "default" */
    kumo__media *content;
    size_t ncontent;
    char **headers;            /* names of declared response headers (lower case) */
    size_t nheaders;
} kumo__response;

typedef struct kumo__operation {
    char *method;           /* upper case: GET, POST, ... */
    char *path;             /* the template as written: /todos/{id} */
    char *operation_id;     /* may be NULL */
    char *unit;             /* from x-kumo-handler UNIT.SYMBOL; NULL: not said */
    char *symbol;           /* x-kumo-handler's SYMBOL, else operationId; NULL: none */
    json_t *node;           /* the Operation Object (borrowed from the doc) */
    int unit_index;         /* resolved by the gateway; -1 when unbound */
    kumo__param *params;    /* resolved and merged; see kumo__param */
    size_t nparams;
    kumo__media *body;      /* requestBody content (Swagger: body param + consumes, or formData) */
    size_t nbody;           /* 0: the operation declares no body */
    int body_required;
    kumo__response *responses;
    size_t nresponses;
} kumo__operation;

typedef struct kumo__spec {
    kumo__doc *doc;         /* the main document; others are loaded as $refs need them */
    int version;            /* 20 (Swagger 2.0), 30 (3.0.x), 31 (3.1.x) */
    char *title;
    char *base_path;        /* "" or "/v1" (from servers[0].url or basePath) */
    kumo__operation *ops;
    size_t nops;
    int dialect;            /* kumo__dialect of schema.h: 30 for 2.0 and 3.0, 31 for 3.1 */
    const struct kumo__refs *refs; /* resolves $refs across the spec's files (schema.h) */
    void *docset;           /* spec.c's loaded documents, owned */
} kumo__spec;

int kumo__spec_load(const char *path, kumo__spec **out, kumo__error *err);
void kumo__spec_free(kumo__spec *spec);
/* The document `node` was read from (a schema in another file reached by
 * a $ref), for kumo__doc_error; spec->doc when no loaded document holds it
 * (a schema synthesized from Swagger 2.0 parameters). */
kumo__doc *kumo__spec_doc_of(const kumo__spec *spec, const json_t *node);

/* ---- the router ------------------------------------------------------------ */

#define KUMO_ROUTE_PARAMS_MAX 16

typedef struct kumo__router kumo__router;

typedef struct kumo__route_match {
    const kumo__operation *op;
    size_t op_index;        /* index into spec->ops */
    size_t nparams;
    struct {
        const char *name;   /* NUL-terminated, owned by the router */
        const char *value;  /* raw slice of the request path: still percent-encoded */
        size_t value_len;
    } params[KUMO_ROUTE_PARAMS_MAX];
    char allow[128];        /* on -EMETHOD: "GET, DELETE" */
} kumo__route_match;

#define KUMO_EMETHOD 1405   /* returned negated: path known, method not */

/* Builds a router over spec->ops (the spec must outlive it). Refuses
 * duplicate (method, path) pairs and malformed templates. */
int kumo__router_build(const kumo__spec *spec, kumo__router **out, kumo__error *err);
void kumo__router_free(kumo__router *r);
/* Matches `path` (no query; percent-encoded as received): 0 and *m
 * filled; -ENOENT when no path matches; -KUMO_EMETHOD when a path matches
 * but not the method (m->allow lists those that do). The base path is
 * stripped first. Concrete segments win over templated ones. */
int kumo__router_match(const kumo__router *r, const char *method, const char *path, size_t path_len,
                       kumo__route_match *m);

#endif
