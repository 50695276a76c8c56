/*
 * project.h: the project file kumo.yaml (project.c): function units and
 * their tuning, stores, environments. Read with positions (openapi/doc.c)
 * so every refusal names kumo.yaml:line:column.
 */
#ifndef KUMO_PROJECT_H
#define KUMO_PROJECT_H

#include <stddef.h>
#include <stdint.h>

#include "base/store_var.h"
#include "base/tz.h"
#include "openapi/openapi.h"
#include "project/edge.h"
#include "project/env.h"
#include "project/monitors.h"
#include "project/schedule.h"
#include "project/services.h"

/* How a function unit runs: from defaults:, overridden per unit. */
typedef struct kumo__tuning {
    double timeout_s; /* invocation deadline (10 s) */
    double idle_s;    /* scale to zero after this long without a request (300 s); 0: never */
    size_t max_body;  /* largest request body (1 MiB) */
    size_t memory;    /* memory limit of a worker (128 MiB); 0: none */
    int min;          /* workers kept warm (0) */
    int max;          /* most workers at once (8) */
    int concurrency;  /* in-flight invocations per worker (1) */
    int queue;        /* invocations waiting for a worker beyond those (64) */
    /* sandbox layers, each on by default; `sandbox: false` turns all off */
    unsigned sandbox_seccomp : 1, sandbox_namespaces : 1, sandbox_limits : 1, sandbox_no_new_privs : 1;
} kumo__tuning;

typedef struct kumo__unit {
    char *name; /* key under functions: */
    kumo__tuning tuning;
    char **sources; /* absolute paths */
    size_t nsources;
    char *so_path;      /* DIR/.kumo/build/local/NAME.so */
    kumo__env_list env; /* functions.NAME.env (project/env.h) */
    /* functions.NAME.cflags, libs, pkg_config: what its build adds (each NULL-ended, NULL when absent) */
    char **cflags, **libs, **pkg_config;
} kumo__unit;

/* One store's URL in one environment: environments.ENV.stores.NAME. */
typedef struct kumo__store_url {
    char *store;   /* a name declared under stores: */
    char *url;     /* has a scheme: "redis://host:6379/0", "sqlite:PATH" */
    int line, col; /* where the URL is in kumo.yaml; 0 when unknown */
} kumo__store_url;

/* environments.NAME: where the project's stores live in one deployment. */
typedef struct kumo__environment {
    char *name;              /* key under environments: */
    char *target;            /* target: ("aws", ...); NULL when absent */
    char *region;            /* region:; NULL when absent */
    kumo__store_url *stores; /* stores: NAME -> URL, in file order */
    size_t nstores;
    struct kumo__service_url *services; /* services: NAME -> {url:} (project/services.h) */
    size_t nservices;
    kumo__env_list env; /* env: (project/env.h) */
    char **embedded;    /* embedded: stores accepted on their embedded default with several replicas */
    size_t nembedded;
} kumo__environment;

/* The kinds of store (stores: kv:, blob:, queue:, topic: in kumo.yaml). */
typedef enum kumo__store_kind {
    KUMO__STORE_KV,
    KUMO__STORE_BLOB,
    KUMO__STORE_QUEUE,
    KUMO__STORE_TOPIC
} kumo__store_kind;
#define KUMO__STORE_KINDS 4

/* One store declared under stores:. */
typedef struct kumo__store_decl {
    char *name;
    kumo__store_kind kind;
} kumo__store_decl;

/* "kv", "blob", "queue" or "topic". */
const char *kumo__store_kind_name(kumo__store_kind kind);

/* http: the front's limits, the same under kumo up and kumo-host. */
typedef struct kumo__http_limits {
    int max_headers;         /* header fields in one request (100); more is 431 */
    size_t max_header_bytes; /* decoded bytes of names and values in one request (8 KiB); more is 431 */
    int max_connections;     /* open client connections per event loop; 0: from the open-files limit */
    size_t body_budget;      /* request bodies held at once, all loops together (256 MiB); more is 503 */
    kumo__edge_config edge;  /* cors:, tls:, rate_limits: (project/edge.h) */
} kumo__http_limits;

/* observability: (docs/metrics.md, docs/traces.md, docs/logs.md). The
 * OTEL_* variables win over the trace settings, as OpenTelemetry's SDKs
 * have it (obs/trace.c reads them). */
typedef struct kumo__obs_config {
    int enabled;                /* enabled: false turns every part off (for measuring what it costs) */
    double history_s;           /* metrics.history: how long the 10 s history is kept (24 h); 0: none */
    size_t history_max;         /* metrics.history_max: the history file's ceiling (64 MiB) */
    char *traces_endpoint;      /* traces.endpoint: OTLP/HTTP base URL; NULL: no export */
    char *traces_sampler;       /* traces.sampler; NULL: parentbased_always_on */
    char *traces_protocol;      /* traces.protocol: http/protobuf or http/json; NULL: http/protobuf */
    int traces_exporter_normal; /* traces.exporter_priority: normal (1) or idle (0, the default) */
    double traces_ratio;        /* traces.ratio, for the *traceidratio samplers (1.0) */
    size_t traces_buffer;       /* traces.buffer: spans held for export before dropping (4096) */
    size_t logs_max;            /* logs.max_size: the log store's ceiling (64 MiB); 0: no log store */
} kumo__obs_config;

/* events: what fires a function besides HTTP (docs/events.md): a
 * schedule, a queue, a topic (a subscription of its own), a blob store's
 * writes, or a CloudEvent POSTed from outside. */
typedef enum kumo__event_kind {
    KUMO__EVENT_SCHEDULE,
    KUMO__EVENT_QUEUE,
    KUMO__EVENT_TOPIC,
    KUMO__EVENT_BLOB,
    KUMO__EVENT_CLOUDEVENT,
} kumo__event_kind;
/* "schedule", "queue", "topic", "blob" or "cloudevent": the source's key. */
const char *kumo__event_kind_name(kumo__event_kind kind);
#define KUMO__BLOB_CREATED 1u
#define KUMO__BLOB_DELETED 2u
typedef struct kumo__event_decl {
    char *name; /* key under events:, [a-z0-9_-]+ */
    kumo__event_kind kind;
    char *unit, *symbol;      /* handler: UNIT.SYMBOL */
    size_t unit_index;        /* into p->units */
    char *schedule;           /* the expression as written */
    char *timezone;           /* NULL: UTC */
    int missed_once;          /* missed: once */
    int overlap;              /* overlap: true */
    kumo__schedule *compiled; /* owned; parsed at load (errors at the value's line:column) */
    int line, col;            /* of the entry's key */
    const json_t *node;       /* the entry's mapping in p->doc (borrowed), for positions */
    kumo__tz *tz;             /* owned; the zone `compiled` reads (NULL: UTC) */
    /* delivery through a queue (QUEUE, TOPIC, BLOB) */
    char *queue;             /* QUEUE: a store under stores: queue:; TOPIC: "TOPIC.EVENT", the subscription's
                                queue; BLOB: "STORE.EVENT", the outbox queue the blob driver records into */
    unsigned batch;          /* batch: 1..100 (default 1): messages per call (BLOB: 1) */
    uint64_t window_ms;      /* window: 0..5 min (default 0): how long to wait to fill a batch */
    uint64_t visibility_ms;  /* visibility: (default 30 s), at least the unit's timeout */
    unsigned max_receives;   /* max_receives: 1..1000 (default 5), then the queue QUEUE-dead */
    uint64_t backoff_ms;     /* backoff: first retry delay (default 1 s), doubling, capped at 5 min */
    char *data;              /* data: a JSON pointer into the OpenAPI document ("#/components/schemas/Order") as
                                written, or NULL; resolved where the spec is loaded (QUEUE, TOPIC, CLOUDEVENT) */
    int data_line, data_col; /* where data:'s value is in kumo.yaml */
    char *topic;             /* TOPIC: a store under stores: topic: */
    char *blob;              /* BLOB: a store under stores: blob: */
    unsigned on;             /* BLOB: KUMO__BLOB_CREATED | KUMO__BLOB_DELETED */
    char *prefix, *suffix;   /* BLOB: key filters, NULL: none */
    char *ce_type;           /* CLOUDEVENT: cloudevent: {type:} (required, exact) */
    char *ce_source;         /* CLOUDEVENT: cloudevent: {source:} (exact), NULL: any */
} kumo__event_decl;

typedef struct kumo__project {
    char *dir; /* absolute, no trailing slash */
    char *name;
    char *api_path; /* absolute path of the OpenAPI document */
    kumo__unit *units;
    size_t nunits;
    kumo__store_decl *stores; /* every store: kv:, then blob:, then queue:, each in file order */
    size_t nstores;
    kumo__environment *environments; /* environments:, in file order */
    size_t nenvironments;
    double timeout_s;         /* defaults: timeout (10 s when absent) */
    size_t max_body;          /* defaults: max_body, bytes (1 MiB when absent) */
    kumo__tuning defaults;    /* defaults:, which every unit starts from */
    kumo__http_limits http;   /* http: */
    kumo__obs_config obs;     /* observability: */
    kumo__event_decl *events; /* events:, in file order */
    size_t nevents;
    kumo__monitors_config monitors; /* monitors: and alerts: (project/monitors.h) */
    struct kumo__service *services; /* services:, in file order (project/services.h) */
    size_t nservices;
    kumo__env_list env; /* env: (project/env.h) */
    kumo__doc *doc;
    int prebuilt; /* loaded by kumo__project_load_prebuilt */
} kumo__project;

/* kumo.yaml's readers (project.c, monitors.c, services.c): refuses a key
 * of `obj` not in `allowed` (NULL-ended; `where` names the mapping),
 * naming the keys it takes and a near miss. */
int kumo__check_keys(const kumo__doc *doc, json_t *obj, const char *const *allowed, const char *where,
                     kumo__error *err);
/* What a kumo.yaml that says nothing gives: the tuning defaults, the HTTP
 * limits, the monitors' and observability's defaults (kumo__project_load
 * starts from these; spec_only.c too). */
void kumo__project_defaults(kumo__project *p);

/* Loads DIR/kumo.yaml; checks every key, that the files it names exist,
 * and that names are unique. */
int kumo__project_load(const char *dir, kumo__project **out, kumo__error *err);
/* The same for a package (kumo-host): the units are built already and
 * their sources need not be there. */
int kumo__project_load_prebuilt(const char *dir, kumo__project **out, kumo__error *err);
void kumo__project_free(kumo__project *p);
/* Edit distance (with transpositions) between two names of at most 63
 * characters, 99 for longer ones: what "did you mean" suggestions use
 * (kumo.yaml's keys, monitors: names). */
size_t kumo__edit_distance(const char *a, const char *b);
/* kumo.yaml's durations ("10s", "500ms", "2m", a number of seconds; > 0)
 * and sizes ("1Mi", "512Ki", a number of bytes; > 0): 0, or -1. */
int kumo__parse_duration(const json_t *v, double *out);
/* The same, 0 allowed (a bare 0 too): monitors' windows and delays. */
int kumo__parse_duration0(const json_t *v, double *out);
int kumo__parse_size(const json_t *v, size_t *out);
/* Reads every unit's cflags:, libs: and pkg_config: (unit_libs.c). */
int kumo__project_load_unit_libs(kumo__project *p, kumo__error *err);
/* The unit named `name`, or NULL. */
const kumo__unit *kumo__project_unit(const kumo__project *p, const char *name);

/* ---- where stores live ---------------------------------------------------- */

/* Store names are unique across kv:, blob: and queue: (after upper-casing
 * and '-' -> '_', since each has one variable KUMO_STORE_<NAME>). */

/* "kv", "blob", "queue" or "topic" for a declared store; NULL when `store` is not
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
/* Refuses a project with events for `what` (a deploy target, a package)
 * that cannot run them yet: a declaration is never dropped in silence.
 * 0 when there are none. */
int kumo__project_refuse_events(const kumo__project *p, const char *what, kumo__error *err);
/* An error about event e for a target that cannot carry it (or part of
 * it): "kumo.yaml:L:C: events.NAME: <fmt>", at the entry's key `key`
 * (NULL: the event's own key). Returns -EINVAL. */
int kumo__project_event_error(kumo__error *err, const kumo__project *p, const kumo__event_decl *e, const char *key,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int kumo__project_pick_environment(const kumo__project *p, const char *asked, const char **out, kumo__error *err);
/* kumo__store_var, the KUMO_STORE_<NAME> rule, is in base/store_var.h
 * (included above): the worker's SDK uses the same one. */
/* The URL as safe to print or log: a password in it ("user:pw@"), the
 * values of query parameters that hold secrets (password, secret, token)
 * and of any that carry credentials of their own (endpoint=http://u:p@h,
 * plain or percent-encoded) become "****". Returns buf (always NUL-terminated, truncated if need be). */
const char *kumo__store_url_redact(const char *url, char *buf, size_t len);
/* Copies msg (a driver's or a library's error about `url`) into buf with
 * every secret of url (the userinfo's password, the values of secret query
 * parameters, as written or percent-decoded) replaced by ****: drivers
 * quote what they could not parse. Returns buf. */
const char *kumo__store_url_scrub(const char *url, const char *msg, char *buf, size_t len);

#endif
