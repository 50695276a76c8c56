/*
 * project.c: DIR/kumo.yaml -> kumo__project. Every key is checked here,
 * once, so that later layers trust the struct: unknown keys, wrong types,
 * bad names and files that do not exist are refused with the position of
 * the offending node and what to do about it.
 *
 *   name: todo                 # [a-z0-9-]+
 *   api: openapi.yaml          # relative to DIR
 *   defaults: {timeout: 10s, max_body: 1Mi, memory: 128Mi, min: 0, max: 4, idle: 5m, concurrency: 1}
 *   functions:
 *     todos: {sources: [src/todos.c], timeout: 5s}
 *   stores: {kv: [todos], blob: [], queue: []}
 *   environments:              # where the stores live, per deployment
 *     dev: {stores: {todos: "redis://127.0.0.1:6379/0"}}
 *     prod: {target: aws, region: eu-west-1, stores: {todos: "dynamodb://todo"}}
 *   events:                    # what fires a function besides HTTP (docs/events.md)
 *     purge: {schedule: "0 3 * * *", timezone: Europe/Zurich, handler: todos.purge}
 *   services: {...}            # the HTTP APIs the functions call (services.c)
 *   monitors: {...}            # what the monitor thread watches (monitors.c)
 *   alerts: {...}              # where its alerts go (monitors.c)
 *
 * The second half answers "where does store NAME live?" for `kumo up`:
 * KUMO_STORE_<NAME> in the environment beats the chosen environment's URL,
 * which beats the embedded default under DIR/.kumo/data.
 */
#include "project/project.h"

#include "base/strlist.h"
#include "base/percent.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const top_keys[] = {"name",         "api",    "defaults", "functions", "stores",
                                       "environments", "events", "services", "http",      "observability",
                                       "monitors",     "alerts", "security", "env",       NULL};
static const char *const http_keys[] = {
    "max_headers", "max_header_bytes", "max_connections", "body_budget", "cors", "tls", "rate_limits", NULL};
static const char *const tuning_keys[] = {"timeout", "max_body", "memory",      "min",     "max",
                                          "idle",    "queue",    "concurrency", "sandbox", NULL};
static const char *const unit_keys[] = {"sources", "timeout", "max_body",   "memory",      "min",
                                        "max",     "idle",    "queue",      "concurrency", "sandbox",
                                        "env",     "cflags",  "pkg_config", "libs",        NULL};
static const char *const sandbox_keys[] = {"seccomp", "namespaces", "limits", "no_new_privs", NULL};
static const char *const store_keys[] = {"kv", "blob", "queue", "topic", NULL};
static const char *const environment_keys[] = {"target",   "region", "stores",   "services",
                                               "security", "env",    "embedded", NULL};
static const char *const event_keys[] = {"schedule", "timezone", "handler", "missed", "overlap", NULL};
/* The keys each source takes besides handler: (the source's own key first). */
static const char *const queue_event_keys[] = {"queue",        "handler", "batch", "window", "visibility",
                                               "max_receives", "backoff", "data",  NULL};
static const char *const topic_event_keys[] = {"topic",        "handler", "batch", "window", "visibility",
                                               "max_receives", "backoff", "data",  NULL};
static const char *const blob_event_keys[] = {"blob",       "on",           "prefix",  "suffix", "handler",
                                              "visibility", "max_receives", "backoff", NULL};
static const char *const cloudevent_event_keys[] = {"cloudevent", "handler", "data", NULL};
static const char *const event_sources[] = {"schedule", "queue", "topic", "blob", "cloudevent", NULL};
/* Which sources run under kumo up today, in event_sources' order: the
 * others are parsed and checked, then refused, never left idle. */
static const int source_runs[] = {1, 1, 1, 1, 1};

size_t kumo__edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

int kumo__check_keys(const kumo__doc *doc, json_t *obj, const char *const *allowed, const char *where, kumo__error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (kumo__in_list(key, allowed))
            continue;
        char list[512] = "", hint[128] = "";
        size_t len = 0;
        for (const char *const *a = allowed; *a; a++) {
            int n = snprintf(list + len, sizeof list - len, "%s%s", a == allowed ? "" : ", ", *a);
            if (n < 0 || (size_t)n >= sizeof list - len)
                break;
            len += (size_t)n;
            if (hint[0] == '\0' && kumo__edit_distance(key, *a) <= 2)
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", *a);
        }
        kumo__doc_key_error(err, doc, obj, key, "unknown key '%s' in %s%s; expected one of: %s", key, where, hint,
                            list);
        return -EINVAL;
    }
    return 0;
}

static int name_ok(const char *s, const char *extra)
{
    if (*s == '\0' || strlen(s) > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(extra, *s)))
            return 0;
    return 1;
}

static int duration(const json_t *v, int allow_zero, double *out)
{
    double x;
    if (json_is_number(v)) {
        x = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (!(*s >= '0' && *s <= '9'))
            return -1;
        x = strtod(s, &end);
        if (strcmp(end, "ms") == 0)
            x /= 1000;
        else if (strcmp(end, "m") == 0)
            x *= 60;
        else if (strcmp(end, "h") == 0)
            x *= 3600;
        else if (strcmp(end, "s") != 0 && !(allow_zero && *end == '\0' && x == 0))
            return -1;
    } else {
        return -1;
    }
    if (!(allow_zero ? x >= 0 : x > 0) || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}

/* "1Mi", "512Ki", "10M", "2G" or a number of bytes; > 0. */
static int parse_size(const json_t *v, size_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) <= 0)
            return -1;
        *out = (size_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    static const struct {
        const char *suffix;
        unsigned long long mult;
    } units[] = {{"", 1},
                 {"K", 1000ULL},
                 {"M", 1000000ULL},
                 {"G", 1000000000ULL},
                 {"Ki", 1ULL << 10},
                 {"Mi", 1ULL << 20},
                 {"Gi", 1ULL << 30}};
    const char *s = json_string_value(v);
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || n == 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (n > SIZE_MAX / units[i].mult)
            return -1;
        *out = (size_t)(n * units[i].mult);
        return 0;
    }
    return -1;
}

/* http: {max_headers: N, max_header_bytes: SIZE, max_connections: N, body_budget: SIZE} */
static int check_http(const kumo__doc *doc, json_t *obj, const char *dir, kumo__http_limits *h, kumo__error *err)
{
    if (!json_is_object(obj)) {
        kumo__doc_error(err, doc, obj, "http must be a mapping (max_headers:, max_header_bytes:, ...)");
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, obj, http_keys, "http", err);
    if (rc < 0)
        return rc;
    static const struct {
        const char *key;
        long long lo, hi;
    } ints[] = {{"max_headers", 1, 10000}, {"max_connections", 1, 1000000}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_object_get(obj, ints[i].key);
        if (v == NULL)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < ints[i].lo || json_integer_value(v) > ints[i].hi) {
            kumo__doc_value_error(err, doc, obj, ints[i].key, "http.%s must be a whole number from %lld to %lld",
                                  ints[i].key, ints[i].lo, ints[i].hi);
            return -EINVAL;
        }
        *(i == 0 ? &h->max_headers : &h->max_connections) = (int)json_integer_value(v);
    }
    json_t *v = json_object_get(obj, "max_header_bytes");
    if (v &&
        (parse_size(v, &h->max_header_bytes) < 0 || h->max_header_bytes < 1024 || h->max_header_bytes > (16u << 20))) {
        kumo__doc_value_error(err, doc, obj, "max_header_bytes",
                              "http.max_header_bytes must be a size from 1Ki to 16Mi (like 16Ki)");
        return -EINVAL;
    }
    v = json_object_get(obj, "body_budget");
    if (v && (parse_size(v, &h->body_budget) < 0 || h->body_budget < (1u << 20))) {
        kumo__doc_value_error(err, doc, obj, "body_budget",
                              "http.body_budget must be a size of at least 1Mi (like 512Mi)");
        return -EINVAL;
    }
    return kumo__edge_load(doc, obj, dir, &h->edge, err); /* cors:, tls:, rate_limits: (edge.c) */
}

/* observability: {metrics: {history, history_max}, traces: {endpoint,
 * sampler, ratio, buffer}, logs: {max_size}} */
static const char *const obs_keys[] = {"enabled", "metrics", "traces", "logs", NULL};
static const char *const obs_metrics_keys[] = {"history", "history_max", NULL};
static const char *const obs_traces_keys[] = {"endpoint", "sampler",           "ratio", "buffer",
                                              "protocol", "exporter_priority", NULL};
static const char *const obs_logs_keys[] = {"max_size", NULL};
static const char *const samplers[] = {"always_on",
                                       "always_off",
                                       "traceidratio",
                                       "parentbased_always_on",
                                       "parentbased_always_off",
                                       "parentbased_traceidratio",
                                       NULL};

/* A section of observability: that must be a mapping of `keys`; NULL
 * (and no error) when absent. */
static int obs_section(const kumo__doc *doc, json_t *obs, const char *name, const char *const *keys, json_t **out,
                       kumo__error *err)
{
    *out = json_object_get(obs, name);
    if (*out == NULL)
        return 0;
    char where[64];
    snprintf(where, sizeof where, "observability.%s", name);
    if (!json_is_object(*out)) {
        kumo__doc_value_error(err, doc, obs, name, "%s must be a mapping", where);
        return -EINVAL;
    }
    return kumo__check_keys(doc, *out, keys, where, err);
}

/* A size that may be 0 (turns the thing off): 0, or parse_size's. */
static int parse_size0(const json_t *v, size_t *out)
{
    if ((json_is_integer(v) && json_integer_value(v) == 0) ||
        (json_is_string(v) && strcmp(json_string_value(v), "0") == 0)) {
        *out = 0;
        return 0;
    }
    return parse_size(v, out);
}

static int check_observability(const kumo__doc *doc, json_t *obs, kumo__obs_config *o, kumo__error *err)
{
    if (!json_is_object(obs)) {
        kumo__doc_error(err, doc, obs, "observability must be a mapping (enabled:, metrics:, traces:, logs:)");
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, obs, obs_keys, "observability", err);
    json_t *m, *t, *l, *v;
    if (rc < 0 || (rc = obs_section(doc, obs, "metrics", obs_metrics_keys, &m, err)) < 0 ||
        (rc = obs_section(doc, obs, "traces", obs_traces_keys, &t, err)) < 0 ||
        (rc = obs_section(doc, obs, "logs", obs_logs_keys, &l, err)) < 0)
        return rc;
    if ((v = json_object_get(obs, "enabled"))) {
        if (!json_is_boolean(v)) {
            kumo__doc_value_error(err, doc, obs, "enabled", "observability.enabled must be true or false");
            return -EINVAL;
        }
        o->enabled = json_is_true(v);
    }
    if (m && (v = json_object_get(m, "history"))) {
        int off = (json_is_integer(v) && json_integer_value(v) == 0) ||
                  (json_is_string(v) && strcmp(json_string_value(v), "0") == 0);
        if (off)
            o->history_s = 0;
        else if (kumo__parse_duration(v, &o->history_s) < 0 || o->history_s < 60 || o->history_s > 90 * 86400.0) {
            kumo__doc_value_error(
                err, doc, m, "history",
                "observability.metrics.history must be a duration from 1m to 2160h (90 days; like 24h), or 0 "
                "to keep no history");
            return -EINVAL;
        }
    }
    if (m && (v = json_object_get(m, "history_max")) &&
        (parse_size(v, &o->history_max) < 0 || o->history_max < (1u << 20))) {
        kumo__doc_value_error(err, doc, m, "history_max",
                              "observability.metrics.history_max must be a size of at least 1Mi (like 64Mi)");
        return -EINVAL;
    }
    if (t && (v = json_object_get(t, "endpoint"))) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
            kumo__doc_value_error(err, doc, t, "endpoint",
                                  "observability.traces.endpoint must be an http:// or https:// URL (an OTLP/HTTP "
                                  "collector, like http://127.0.0.1:4318)");
            return -EINVAL;
        }
        if ((o->traces_endpoint = strdup(s)) == NULL)
            goto oom;
    }
    if (t && (v = json_object_get(t, "sampler"))) {
        if (!json_is_string(v) || !kumo__in_list(json_string_value(v), samplers)) {
            kumo__doc_value_error(err, doc, t, "sampler",
                                  "observability.traces.sampler must be one of always_on, always_off, traceidratio, "
                                  "parentbased_always_on, parentbased_always_off, parentbased_traceidratio");
            return -EINVAL;
        }
        if ((o->traces_sampler = strdup(json_string_value(v))) == NULL)
            goto oom;
    }
    if (t && (v = json_object_get(t, "protocol"))) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "http/protobuf") != 0 && strcmp(s, "http/json") != 0) {
            kumo__doc_value_error(err, doc, t, "protocol",
                                  "observability.traces.protocol must be http/protobuf (the default) or http/json "
                                  "(kumo speaks OTLP over HTTP, not gRPC)");
            return -EINVAL;
        }
        if ((o->traces_protocol = strdup(s)) == NULL)
            goto oom;
    }
    if (t && (v = json_object_get(t, "exporter_priority"))) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "idle") != 0 && strcmp(s, "normal") != 0) {
            kumo__doc_value_error(err, doc, t, "exporter_priority",
                                  "observability.traces.exporter_priority must be idle (the default: under full load "
                                  "spans are dropped, not requests slowed) or normal (every span exported, at the "
                                  "CPU it takes)");
            return -EINVAL;
        }
        o->traces_exporter_normal = strcmp(s, "normal") == 0;
    }
    if (t && (v = json_object_get(t, "ratio"))) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
            kumo__doc_value_error(err, doc, t, "ratio", "observability.traces.ratio must be a number from 0 to 1");
            return -EINVAL;
        }
        o->traces_ratio = json_number_value(v);
    }
    if (t && (v = json_object_get(t, "buffer"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 16 || json_integer_value(v) > 1000000) {
            kumo__doc_value_error(err, doc, t, "buffer",
                                  "observability.traces.buffer must be a number of spans from 16 to 1000000");
            return -EINVAL;
        }
        o->traces_buffer = (size_t)json_integer_value(v);
    }
    if (l && (v = json_object_get(l, "max_size")) &&
        (parse_size0(v, &o->logs_max) < 0 || (o->logs_max && o->logs_max < (1u << 20)))) {
        kumo__doc_value_error(err, doc, l, "max_size",
                              "observability.logs.max_size must be a size of at least 1Mi (like 64Mi), or 0 to keep "
                              "no log store");
        return -EINVAL;
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* sandbox: false | true | {seccomp: bool, namespaces: bool, limits: bool, no_new_privs: bool} */
static int check_sandbox(const kumo__doc *doc, json_t *obj, const char *where, kumo__tuning *t, kumo__error *err)
{
    json_t *v = json_object_get(obj, "sandbox");
    if (v == NULL)
        return 0;
    if (json_is_boolean(v)) {
        unsigned on = json_is_true(v);
        t->sandbox_seccomp = t->sandbox_namespaces = t->sandbox_limits = t->sandbox_no_new_privs = on;
        return 0;
    }
    char sub[160];
    snprintf(sub, sizeof sub, "%s.sandbox", where);
    if (!json_is_object(v)) {
        kumo__doc_value_error(
            err, doc, obj, "sandbox",
            "%s must be true, false, or a mapping of seccomp:, namespaces:, limits:, no_new_privs:", sub);
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, v, sandbox_keys, sub, err);
    if (rc < 0)
        return rc;
    const char *key;
    json_t *flag;
    json_object_foreach(v, key, flag)
    {
        if (!json_is_boolean(flag)) {
            kumo__doc_value_error(err, doc, v, key, "%s.%s must be true or false", sub, key);
            return -EINVAL;
        }
        unsigned on = json_is_true(flag);
        if (strcmp(key, "seccomp") == 0)
            t->sandbox_seccomp = on;
        else if (strcmp(key, "namespaces") == 0)
            t->sandbox_namespaces = on;
        else if (strcmp(key, "limits") == 0)
            t->sandbox_limits = on;
        else
            t->sandbox_no_new_privs = on;
    }
    return 0;
}

/* The tuning keys shared by defaults: and each function: checks them and
 * overrides the fields of *t that are given. */
static int check_tuning(const kumo__doc *doc, json_t *obj, const char *where, kumo__tuning *t, kumo__error *err)
{
    enum { DURATION, SIZE, COUNT0, COUNT1 };
    static const struct {
        const char *key;
        int kind;
    } fields[] = {{"timeout", DURATION}, {"idle", DURATION}, {"max_body", SIZE},      {"memory", SIZE},
                  {"min", COUNT0},       {"max", COUNT0},    {"concurrency", COUNT1}, {"queue", COUNT0}};
    static const char *const expected[] = {
        "a duration like \"10s\", \"500ms\" or \"2m\", or a number of seconds",
        "a size like \"1Mi\", \"512Ki\" or \"10M\", or a number of bytes",
        "an integer of at least 0",
        "an integer of at least 1",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(obj, fields[i].key);
        double d = 0;
        size_t sz = 0;
        int ok;
        if (v == NULL)
            continue;
        switch (fields[i].kind) {
        case DURATION: ok = kumo__parse_duration(v, &d) == 0; break;
        case SIZE: ok = parse_size(v, &sz) == 0; break;
        default:
            ok = json_is_integer(v) && json_integer_value(v) >= (fields[i].kind == COUNT1 ? 1 : 0) &&
                 json_integer_value(v) <= 100000;
            break;
        }
        if (!ok) {
            kumo__doc_value_error(err, doc, obj, fields[i].key, "%s.%s: expected %s", where, fields[i].key,
                                  expected[fields[i].kind]);
            return -EINVAL;
        }
        int n = (int)json_integer_value(v);
        switch (i) {
        case 0: t->timeout_s = d; break;
        case 1: t->idle_s = d; break;
        case 2: t->max_body = sz; break;
        case 3: t->memory = sz; break;
        case 4: t->min = n; break;
        case 5: t->max = n; break;
        case 6: t->concurrency = n; break;
        case 7: t->queue = n; break;
        }
    }
    if (t->max < 1) {
        kumo__doc_value_error(err, doc, obj, "max", "%s.max must be at least 1", where);
        return -EINVAL;
    }
    if (t->min > t->max) {
        kumo__doc_value_error(err, doc, obj, json_object_get(obj, "max") ? "max" : "min",
                              "%s.max (%d) is below min (%d); raise max or lower min", where, t->max, t->min);
        return -EINVAL;
    }
    return check_sandbox(doc, obj, where, t, err);
}

/* DIR/rel (rel as is when absolute), which must be a regular file. */
static int existing_file(const kumo__doc *doc, const json_t *node, const char *dir, const char *what, char **out,
                         kumo__error *err)
{
    const char *rel = json_string_value(node);
    if (rel == NULL || *rel == '\0') {
        kumo__doc_error(err, doc, node, "%s must be a non-empty string: a path relative to the project", what);
        return -EINVAL;
    }
    char *path;
    if (asprintf(&path, "%s%s%s", rel[0] == '/' ? "" : dir, rel[0] == '/' ? "" : "/", rel) < 0) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        kumo__doc_error(err, doc, node, "%s '%s' is not a file (looked for %s); fix the path or create the file", what,
                        rel, path);
        free(path);
        return -ENOENT;
    }
    *out = path;
    return 0;
}

/* The list stores.KIND: unique names, each appended to p->stores. */
/* stores: topic: is parsed, and refused until topics run. */
static int refuse_topics(const kumo__doc *doc, json_t *stores, kumo__error *err)
{
    if (source_runs[KUMO__EVENT_TOPIC] || json_array_size(json_object_get(stores, "topic")) == 0)
        return 0;
    kumo__doc_key_error(err, doc, stores, "topic", "stores.topic: topics are not implemented yet (issue 13)");
    return -EINVAL;
}

static int check_store_names(const kumo__doc *doc, json_t *stores, kumo__store_kind kind, kumo__project *p,
                             kumo__error *err)
{
    const char *key = kumo__store_kind_name(kind);
    json_t *list = json_object_get(stores, key);
    if (list == NULL)
        return 0;
    if (!json_is_array(list)) {
        kumo__doc_value_error(err, doc, stores, key, "stores.%s must be a list of names", key);
        return -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || !name_ok(s, "_-")) {
            kumo__doc_error(err, doc, kumo__doc_pos(doc, v, NULL, NULL) ? v : list,
                            "stores.%s: a store name is made of a-z, 0-9, '_' and '-'", key);
            return -EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, json_string_value(json_array_get(list, j))) == 0) {
                kumo__doc_error(err, doc, v, "stores.%s: '%s' is listed twice; remove one", key, s);
                return -EINVAL;
            }
    }
    size_t n = json_array_size(list);
    if (n == 0)
        return 0;
    kumo__store_decl *grown = realloc(p->stores, (p->nstores + n) * sizeof *grown);
    if (grown == NULL)
        goto oom;
    p->stores = grown;
    json_array_foreach(list, i, v)
    {
        char *name = strdup(json_string_value(v));
        if (name == NULL)
            goto oom;
        p->stores[p->nstores++] = (kumo__store_decl){name, kind};
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

const char *kumo__store_kind_name(kumo__store_kind kind)
{
    switch (kind) {
    case KUMO__STORE_KV: return "kv";
    case KUMO__STORE_BLOB: return "blob";
    case KUMO__STORE_QUEUE: return "queue";
    case KUMO__STORE_TOPIC: return "topic";
    }
    return "?";
}

/* Each store has one variable KUMO_STORE_<NAME>, so two stores whose
 * names spell the same variable (the same name under two kinds, or "a-b"
 * beside "a_b") could not be told apart: refused at the second one. */
static int check_store_vars(const kumo__doc *doc, json_t *stores, kumo__error *err)
{
    for (size_t k = 0; store_keys[k]; k++) {
        json_t *list = json_object_get(stores, store_keys[k]);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            char var[96], other[96];
            if (kumo__store_var(json_string_value(v), var, sizeof var) != 0)
                continue;
            for (size_t k2 = 0; k2 <= k; k2++) {
                json_t *list2 = json_object_get(stores, store_keys[k2]);
                size_t end = k2 == k ? i : json_array_size(list2);
                for (size_t j = 0; j < end; j++) {
                    const char *name2 = json_string_value(json_array_get(list2, j));
                    if (kumo__store_var(name2, other, sizeof other) != 0 || strcmp(var, other) != 0 ||
                        (k2 == k && strcmp(name2, json_string_value(v)) == 0))
                        continue;
                    kumo__doc_error(err, doc, v,
                                    "stores.%s: '%s' and stores.%s: '%s' would share the variable %s; rename one",
                                    store_keys[k], json_string_value(v), store_keys[k2], name2, var);
                    return -EINVAL;
                }
            }
        }
    }
    return 0;
}

/* scheme ":" rest, with scheme = letter *(letter / digit / "+" / "-" / "."). */
static int has_scheme(const char *url)
{
    const char *s = url;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' ||
           *s == '.')
        s++;
    return s[0] == ':' && s[1] != '\0';
}

/* environments.NAME.stores: {STORE: URL}, each STORE declared under stores:. */
static int load_environment_stores(kumo__project *p, kumo__environment *e, json_t *def, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *stores = json_object_get(def, "stores");
    if (stores == NULL || json_is_null(stores))
        return 0;
    if (!json_is_object(stores)) {
        kumo__doc_value_error(err, doc, def, "stores", "environments.%s.stores must be a mapping of store name -> URL",
                              e->name);
        return -EINVAL;
    }
    if (json_object_size(stores) == 0)
        return 0;
    if ((e->stores = calloc(json_object_size(stores), sizeof *e->stores)) == NULL)
        goto oom;
    const char *store;
    json_t *url;
    json_object_foreach(stores, store, url)
    {
        if (kumo__project_store_kind(p, store) == NULL) {
            kumo__doc_key_error(err, doc, stores, store,
                                "environments.%s.stores: store '%s' is not declared under stores:; add it to "
                                "stores: kv: (or blob:, queue:), or remove it here",
                                e->name, store);
            return -EINVAL;
        }
        if (!json_is_string(url) || !has_scheme(json_string_value(url))) {
            kumo__doc_value_error(err, doc, stores, store,
                                  "environments.%s.stores.%s must be a URL with a scheme, like "
                                  "redis://127.0.0.1:6379/0, sqlite:/var/lib/app/kv.db or dynamodb://table",
                                  e->name, store);
            return -EINVAL;
        }
        kumo__store_url *su = &e->stores[e->nstores];
        if ((su->store = strdup(store)) == NULL || (su->url = strdup(json_string_value(url))) == NULL) {
            free(su->store);
            su->store = NULL;
            goto oom;
        }
        kumo__doc_pos(doc, url, &su->line, &su->col);
        e->nstores++;
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* environments.NAME.embedded: [STORE, ...]: stores accepted on their
 * embedded default where a target runs several replicas (each then has a
 * copy of its own: deploy/targets.c refuses that otherwise). */
static int load_environment_embedded(kumo__project *p, kumo__environment *e, json_t *def, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *list = json_object_get(def, "embedded");
    if (list == NULL || json_is_null(list))
        return 0;
    if (!json_is_array(list)) {
        kumo__doc_value_error(err, doc, def, "embedded",
                              "environments.%s.embedded must be a list of store names that may keep their embedded "
                              "default on a target with several replicas, one copy each (like [cache])",
                              e->name);
        return -EINVAL;
    }
    if ((e->embedded = calloc(json_array_size(list) + 1, sizeof *e->embedded)) == NULL)
        goto oom;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *store = json_string_value(v);
        const json_t *at = kumo__doc_pos(doc, v, NULL, NULL) ? v : list;
        if (store == NULL || kumo__project_store_kind(p, store) == NULL) {
            kumo__doc_error(err, doc, at,
                            "environments.%s.embedded: '%s' is not a store declared under stores:", e->name,
                            store ? store : "(not a string)");
            return -EINVAL;
        }
        if (kumo__environment_store(e, store) != NULL) {
            kumo__doc_error(err, doc, at,
                            "environments.%s.embedded: store '%s' is placed by environments.%s.stores, so it is not "
                            "embedded; remove one of the two",
                            e->name, store, e->name);
            return -EINVAL;
        }
        if ((e->embedded[e->nembedded] = strdup(store)) == NULL)
            goto oom;
        e->nembedded++;
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

/* An optional string key of environments.NAME; `kind` says what it holds. */
static int environment_string(const kumo__doc *doc, json_t *def, const char *env, const char *key, const char *kind,
                              char **out, kumo__error *err)
{
    json_t *v = json_object_get(def, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || !name_ok(json_string_value(v), "-")) {
        kumo__doc_value_error(err, doc, def, key, "environments.%s.%s must be %s", env, key, kind);
        return -EINVAL;
    }
    if ((*out = strdup(json_string_value(v))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* environments: {NAME: {target:, region:, stores: {...}}}; NAME: (empty) is
 * an environment where every store takes its default. */
static int load_environments(kumo__project *p, json_t *envs, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    if (!json_is_object(envs)) {
        kumo__doc_value_error(err, doc, kumo__doc_root(doc), "environments",
                              "environments must be a mapping of name -> {target:, region:, stores: {STORE: URL}}");
        return -EINVAL;
    }
    if (json_object_size(envs) == 0)
        return 0;
    if ((p->environments = calloc(json_object_size(envs), sizeof *p->environments)) == NULL)
        goto oom;
    const char *name;
    json_t *def;
    json_object_foreach(envs, name, def)
    {
        char where[96];
        int rc;
        if (!name_ok(name, "_-")) {
            kumo__doc_key_error(err, doc, envs, name,
                                "environment name '%s' must be made of a-z, 0-9, '_' and '-' (like dev or prod)", name);
            return -EINVAL;
        }
        kumo__environment *e = &p->environments[p->nenvironments];
        if ((e->name = strdup(name)) == NULL)
            goto oom;
        p->nenvironments++;
        if (json_is_null(def))
            continue;
        snprintf(where, sizeof where, "environments.%s", name);
        if (!json_is_object(def)) {
            kumo__doc_value_error(err, doc, envs, name, "%s must be a mapping with target:, region: or stores:", where);
            return -EINVAL;
        }
        if ((rc = kumo__check_keys(doc, def, environment_keys, where, err)) < 0 ||
            (rc = environment_string(doc, def, name, "target", "a deploy target name like aws", &e->target, err)) < 0 ||
            (rc = environment_string(doc, def, name, "region", "a region name like eu-west-1", &e->region, err)) < 0 ||
            (rc = load_environment_stores(p, e, def, err)) < 0 || (rc = load_environment_embedded(p, e, def, err)) < 0)
            return rc;
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int load_unit(kumo__project *p, const char *name, json_t *def, kumo__unit *u, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *functions = json_object_get(kumo__doc_root(doc), "functions");
    char where[128];
    snprintf(where, sizeof where, "functions.%s", name);
    if (!name_ok(name, "_-")) {
        kumo__doc_key_error(err, doc, functions, name,
                            "function name '%s' must be made of a-z, 0-9, '_' and '-' (it names a .so)", name);
        return -EINVAL;
    }
    if ((u->name = strdup(name)) == NULL || asprintf(&u->so_path, "%s/.kumo/build/local/%s.so", p->dir, name) < 0) {
        u->so_path = NULL;
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    if (!json_is_object(def)) {
        kumo__doc_value_error(err, doc, functions, name, "%s must be a mapping with sources: [...]", where);
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, def, unit_keys, where, err);
    u->tuning = p->defaults;
    if (rc == 0)
        rc = check_tuning(doc, def, where, &u->tuning, err);
    if (rc < 0)
        return rc;
    json_t *sources = json_object_get(def, "sources");
    if (!json_is_array(sources) || json_array_size(sources) == 0) {
        if (sources)
            kumo__doc_value_error(err, doc, def, "sources", "%s.sources must be a non-empty list of C files", where);
        else
            kumo__doc_key_error(err, doc, functions, name, "%s has no sources; add sources: [src/%s.c]", where, name);
        return -EINVAL;
    }
    if ((u->sources = calloc(json_array_size(sources), sizeof *u->sources)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    size_t i;
    json_t *v;
    json_array_foreach(sources, i, v)
    {
        const json_t *at = kumo__doc_pos(doc, v, NULL, NULL) ? v : sources;
        if (!json_is_string(v)) {
            kumo__doc_error(err, doc, at, "%s.sources: each source must be a path string", where);
            return -EINVAL;
        }
        if (p->prebuilt) {
            /* a package holds the built unit, not its sources */
            const char *rel = json_string_value(v);
            if (asprintf(&u->sources[i], "%s%s%s", rel[0] == '/' ? "" : p->dir, rel[0] == '/' ? "" : "/", rel) < 0) {
                u->sources[i] = NULL;
                kumo__error_set(err, -ENOMEM, "out of memory");
                return -ENOMEM;
            }
        } else if ((rc = existing_file(doc, at, p->dir, "source", &u->sources[i], err)) < 0) {
            return rc;
        }
        u->nsources++;
    }
    return 0;
}

static int event_string(const kumo__doc *doc, json_t *def, const char *event, const char *key, const char *like,
                        char **out, kumo__error *err)
{
    json_t *v = json_object_get(def, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        kumo__doc_value_error(err, doc, def, key, "events.%s.%s must be %s", event, key, like);
        return -EINVAL;
    }
    if ((*out = strdup(json_string_value(v))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int c_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_') || strlen(s) > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* handler: UNIT.SYMBOL, UNIT under functions:, SYMBOL a C identifier. */
static int event_handler(kumo__project *p, json_t *def, kumo__event_decl *e, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *v = json_object_get(def, "handler");
    const char *h = json_string_value(v);
    const char *dot = h ? strchr(h, '.') : NULL;
    if (!dot || dot == h || !c_identifier(dot + 1)) {
        kumo__doc_value_error(err, doc, def, "handler",
                              "events.%s.handler must be UNIT.SYMBOL: a function unit under functions: and the C "
                              "function to call in it (like todos.purge)",
                              e->name);
        return -EINVAL;
    }
    if ((e->unit = strndup(h, (size_t)(dot - h))) == NULL || (e->symbol = strdup(dot + 1)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->nunits; i++) {
        if (strcmp(p->units[i].name, e->unit) == 0) {
            e->unit_index = i;
            return 0;
        }
    }
    char list[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < p->nunits; i++) {
        int n = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", p->units[i].name);
        if (n < 0 || (size_t)n >= sizeof list - len)
            break;
        len += (size_t)n;
    }
    kumo__doc_value_error(err, doc, def, "handler", "events.%s.handler: no function unit '%s' under functions:%s%s",
                          e->name, e->unit, p->nunits ? " (there are: " : "; declare it there", p->nunits ? list : "");
    if (p->nunits)
        snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), ")");
    return -EINVAL;
}

/* The store named by the source key `key` of an event (queue:, topic:,
 * blob:), which must be declared under stores: with that kind. */
static int event_store(kumo__project *p, json_t *def, kumo__event_decl *e, const char *key, kumo__store_kind kind,
                       char **out, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    char like[96];
    snprintf(like, sizeof like, "the name of a store under stores: %s:", key);
    int rc = event_string(doc, def, e->name, key, like, out, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < p->nstores; i++)
        if (p->stores[i].kind == kind && strcmp(p->stores[i].name, *out) == 0)
            return 0;
    char list[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < p->nstores; i++) {
        if (p->stores[i].kind != kind)
            continue;
        int n = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", p->stores[i].name);
        if (n < 0 || (size_t)n >= sizeof list - len)
            break;
        len += (size_t)n;
    }
    kumo__doc_value_error(err, doc, def, key, "events.%s.%s: no %s '%s' under stores: %s:%s%s%s", e->name, key,
                          kumo__store_kind_name(kind), *out, key, len ? " (there are: " : "; declare it there", list,
                          len ? ")" : "");
    return -EINVAL;
}

/* The keys every queued source shares: batch:, window:, visibility:,
 * max_receives:, backoff: (those present in `keys`), with their defaults. */
static int load_delivery(kumo__project *p, json_t *def, kumo__event_decl *e, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    const char *name = e->name;
    e->batch = 1;
    e->visibility_ms = 30000;
    e->max_receives = 5;
    e->backoff_ms = 1000;
    static const struct {
        const char *key;
        unsigned lo, hi;
    } counts[] = {{"batch", 1, 100}, {"max_receives", 1, 1000}};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(def, counts[i].key);
        if (v == NULL)
            continue;
        json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
        if (n < counts[i].lo || n > counts[i].hi) {
            kumo__doc_value_error(err, doc, def, counts[i].key, "events.%s.%s must be a whole number from %u to %u",
                                  name, counts[i].key, counts[i].lo, counts[i].hi);
            return -EINVAL;
        }
        if (i == 0)
            e->batch = (unsigned)n;
        else
            e->max_receives = (unsigned)n;
    }
    static const struct {
        const char *key, *range;
        double lo, hi; /* seconds */
    } durations[] = {{"visibility", "1ms to 12h", 0.001, 12 * 3600},
                     {"backoff", "1ms to 5m", 0.001, 300},
                     {"window", "0s to 5m", 0, 300}};
    uint64_t *dest[] = {&e->visibility_ms, &e->backoff_ms, &e->window_ms};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(def, durations[i].key);
        double d = 0;
        if (v == NULL)
            continue;
        int zero =
            durations[i].lo == 0 &&
            ((json_is_integer(v) && json_integer_value(v) == 0) ||
             (json_is_string(v) && (strcmp(json_string_value(v), "0") == 0 || strcmp(json_string_value(v), "0s") == 0 ||
                                    strcmp(json_string_value(v), "0ms") == 0)));
        if (!zero && (kumo__parse_duration(v, &d) != 0 || d < durations[i].lo || d * 1000 < 1 || d > durations[i].hi)) {
            kumo__doc_value_error(err, doc, def, durations[i].key,
                                  "events.%s.%s must be a duration like \"30s\", \"500ms\" or \"2m\" (%s)", name,
                                  durations[i].key, durations[i].range);
            return -EINVAL;
        }
        *dest[i] = (uint64_t)(d * 1000 + 0.5);
    }
    if (e->window_ms > 0 && e->batch == 1) {
        kumo__doc_key_error(err, doc, def, "window",
                            "events.%s.window waits to fill a batch, and batch: is 1; set batch: above 1 or remove "
                            "window:",
                            name);
        return -EINVAL;
    }
    double timeout_s = p->units[e->unit_index].tuning.timeout_s;
    if ((double)e->visibility_ms < timeout_s * 1000) {
        const char *why = "events.%s.visibility (%.3g s%s) is shorter than the timeout of unit '%s' (%.3g s): a "
                          "message would come back to another worker while its handler still runs; set visibility: "
                          "to at least %.3gs";
        json_t *v = json_object_get(def, "visibility");
        if (v)
            kumo__doc_value_error(err, doc, def, "visibility", why, name, (double)e->visibility_ms / 1000, "", e->unit,
                                  timeout_s, timeout_s);
        else
            kumo__doc_key_error(err, doc, def, kumo__event_kind_name(e->kind), why, name,
                                (double)e->visibility_ms / 1000, ", the default", e->unit, timeout_s, timeout_s);
        return -EINVAL;
    }
    return 0;
}

/* data: a JSON pointer into the OpenAPI document, resolved where the spec
 * is loaded; here only its shape is checked and its position kept. */
static int load_data(kumo__project *p, json_t *def, kumo__event_decl *e, kumo__error *err)
{
    json_t *v = json_object_get(def, "data");
    if (v == NULL)
        return 0;
    const char *s = json_string_value(v);
    if (s == NULL || strncmp(s, "#/", 2) != 0) {
        kumo__doc_value_error(err, p->doc, def, "data",
                              "events.%s.data must be a reference to a schema of the OpenAPI document, like "
                              "'#/components/schemas/Order' (quote it: '#' starts a YAML comment)",
                              e->name);
        return -EINVAL;
    }
    if ((e->data = strdup(s)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    kumo__doc_pos(p->doc, v, &e->data_line, &e->data_col);
    return 0;
}

/* "STORE.EVENT": the queue a topic subscription or a blob store's outbox
 * gives this event (a '.' cannot occur in a store's own name). */
static int derived_queue(kumo__event_decl *e, const char *store, kumo__error *err)
{
    if (asprintf(&e->queue, "%s.%s", store, e->name) < 0) {
        e->queue = NULL;
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* blob: STORE, on: [created, deleted], prefix:, suffix: */
static int load_blob_filters(kumo__project *p, json_t *def, kumo__event_decl *e, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *on = json_object_get(def, "on");
    e->on = KUMO__BLOB_CREATED | KUMO__BLOB_DELETED;
    if (on) {
        json_t *one = json_is_string(on) ? on : NULL;
        size_t n = one ? 1 : json_is_array(on) ? json_array_size(on) : 0;
        e->on = 0;
        for (size_t i = 0; i < n; i++) {
            const char *w = json_string_value(one ? one : json_array_get(on, i));
            unsigned bit = w && strcmp(w, "created") == 0   ? KUMO__BLOB_CREATED
                           : w && strcmp(w, "deleted") == 0 ? KUMO__BLOB_DELETED
                                                            : 0;
            if (bit == 0) {
                n = 0;
                break;
            }
            e->on |= bit;
        }
        if (n == 0) {
            kumo__doc_value_error(err, doc, def, "on",
                                  "events.%s.on must be created, deleted or a list of them (like [created, deleted])",
                                  e->name);
            return -EINVAL;
        }
    }
    int rc;
    if ((rc = event_string(doc, def, e->name, "prefix", "a key prefix in quotes (like \"img/\")", &e->prefix, err)) <
            0 ||
        (rc = event_string(doc, def, e->name, "suffix", "a key suffix in quotes (like \".png\")", &e->suffix, err)) < 0)
        return rc;
    return 0;
}

/* cloudevent: {type: T, source: S} */
static int load_cloudevent(kumo__project *p, json_t *def, kumo__event_decl *e, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *ce = json_object_get(def, "cloudevent");
    static const char *const ce_keys[] = {"type", "source", NULL};
    char where[160];
    snprintf(where, sizeof where, "events.%s.cloudevent", e->name);
    if (!json_is_object(ce)) {
        kumo__doc_value_error(err, doc, def, "cloudevent",
                              "events.%s.cloudevent must be a mapping like {type: com.example.order.created, source: "
                              "/shop} (source: optional)",
                              e->name);
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, ce, ce_keys, where, err);
    if (rc < 0)
        return rc;
    json_t *type = json_object_get(ce, "type");
    if (type == NULL) {
        kumo__doc_key_error(err, doc, def, "cloudevent",
                            "events.%s.cloudevent has no type; add type: (the CloudEvents type to route here, like "
                            "com.example.order.created)",
                            e->name);
        return -EINVAL;
    }
    char ename[160];
    snprintf(ename, sizeof ename, "%s.cloudevent", e->name);
    if ((rc = event_string(doc, ce, ename, "type", "a CloudEvents type (like com.example.order.created)", &e->ce_type,
                           err)) < 0 ||
        (rc = event_string(doc, ce, ename, "source", "a CloudEvents source (a URI-reference, like /shop)",
                           &e->ce_source, err)) < 0)
        return rc;
    return 0;
}

/* events.NAME with a source other than schedule: (queue:, topic:, blob:,
 * cloudevent:): its keys, its store and its delivery. */
static int load_sourced_event(kumo__project *p, json_t *def, kumo__event_decl *e, kumo__event_kind kind,
                              const char *where, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    static const char *const *const keys[] = {[KUMO__EVENT_QUEUE] = queue_event_keys,
                                              [KUMO__EVENT_TOPIC] = topic_event_keys,
                                              [KUMO__EVENT_BLOB] = blob_event_keys,
                                              [KUMO__EVENT_CLOUDEVENT] = cloudevent_event_keys};
    const char *src = kumo__event_kind_name(kind);
    int rc;
    e->kind = kind;
    if ((rc = kumo__check_keys(doc, def, keys[kind], where, err)) < 0)
        return rc;
    if (json_object_get(def, "handler") == NULL) {
        kumo__doc_key_error(err, doc, def, src, "events.%s has no handler; add handler: UNIT.SYMBOL", e->name);
        return -EINVAL;
    }
    if ((rc = event_handler(p, def, e, err)) < 0)
        return rc;
    switch (kind) {
    case KUMO__EVENT_QUEUE: rc = event_store(p, def, e, "queue", KUMO__STORE_QUEUE, &e->queue, err); break;
    case KUMO__EVENT_TOPIC:
        if ((rc = event_store(p, def, e, "topic", KUMO__STORE_TOPIC, &e->topic, err)) == 0)
            rc = derived_queue(e, e->topic, err);
        break;
    case KUMO__EVENT_BLOB:
        if ((rc = event_store(p, def, e, "blob", KUMO__STORE_BLOB, &e->blob, err)) == 0 &&
            (rc = load_blob_filters(p, def, e, err)) == 0)
            rc = derived_queue(e, e->blob, err);
        break;
    case KUMO__EVENT_CLOUDEVENT: rc = load_cloudevent(p, def, e, err); break;
    default: rc = -EINVAL; break;
    }
    if (rc < 0)
        return rc;
    if (kind != KUMO__EVENT_CLOUDEVENT && (rc = load_delivery(p, def, e, err)) < 0)
        return rc;
    return load_data(p, def, e, err);
}

static int load_event(kumo__project *p, json_t *events, const char *name, json_t *def, kumo__event_decl *e,
                      kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    int rc;
    kumo__doc_key_pos(doc, events, name, &e->line, &e->col);
    if ((e->name = strdup(name)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    if (!name_ok(name, "_-")) {
        kumo__doc_key_error(err, doc, events, name, "event name '%s' must be made of a-z, 0-9, '_' and '-'", name);
        return -EINVAL;
    }
    if (!json_is_object(def)) {
        kumo__doc_value_error(err, doc, events, name,
                              "events.%s must be a mapping like {schedule: \"0 3 * * *\", handler: UNIT.SYMBOL}", name);
        return -EINVAL;
    }
    e->node = def;
    char where[128];
    snprintf(where, sizeof where, "events.%s", name);
    const char *first = NULL;
    kumo__event_kind kind = KUMO__EVENT_SCHEDULE;
    for (size_t k = 0; event_sources[k]; k++) {
        if (json_object_get(def, event_sources[k]) == NULL)
            continue;
        if (first) {
            kumo__doc_key_error(err, doc, def, event_sources[k],
                                "events.%s has two sources (%s: and %s:); an event has one: split it in two", name,
                                first, event_sources[k]);
            return -EINVAL;
        }
        first = event_sources[k];
        kind = (kumo__event_kind)k;
    }
    if (first && kind != KUMO__EVENT_SCHEDULE) {
        if ((rc = load_sourced_event(p, def, e, kind, where, err)) < 0)
            return rc;
        if (!source_runs[kind]) {
            kumo__doc_key_error(err, doc, def, first, "events.%s: %s events are not implemented yet (issue 13)", name,
                                first);
            return -EINVAL;
        }
        return 0;
    }
    if ((rc = kumo__check_keys(doc, def, event_keys, where, err)) < 0)
        return rc;
    json_t *sched = json_object_get(def, "schedule");
    if (sched == NULL) {
        kumo__doc_key_error(err, doc, events, name,
                            "events.%s has no source; add one of schedule: \"0 3 * * *\" (cron, @daily or every 5m), "
                            "queue: NAME, topic: NAME, blob: NAME (stores under stores:) or cloudevent: {type: T}",
                            name);
        return -EINVAL;
    }
    if (json_object_get(def, "handler") == NULL) {
        kumo__doc_key_error(err, doc, events, name, "events.%s has no handler; add handler: UNIT.SYMBOL", name);
        return -EINVAL;
    }
    e->kind = KUMO__EVENT_SCHEDULE;
    if ((rc = event_string(doc, def, name, "schedule", "a cron expression in quotes (like \"0 3 * * *\")", &e->schedule,
                           err)) < 0 ||
        (rc = event_string(doc, def, name, "timezone", "an IANA zone name (like Europe/Zurich)", &e->timezone, err)) <
            0 ||
        (rc = event_handler(p, def, e, err)) < 0)
        return rc;
    if (e->timezone) {
        kumo__error tzerr = {0};
        if ((rc = kumo__tz_load(e->timezone, &e->tz, &tzerr)) < 0) {
            kumo__doc_value_error(err, doc, def, "timezone", "events.%s.timezone: %s", name, tzerr.msg);
            return rc == -ENOMEM ? rc : -EINVAL;
        }
    }
    char why[512];
    if ((rc = kumo__schedule_parse(e->schedule, e->tz, &e->compiled, why, sizeof why)) < 0) {
        if (rc == -ENOMEM)
            kumo__error_set(err, rc, "out of memory");
        else
            kumo__doc_value_error(err, doc, def, "schedule", "events.%s.schedule: %s", name, why);
        return rc;
    }
    json_t *missed = json_object_get(def, "missed");
    if (missed) {
        const char *m = json_string_value(missed);
        if (!m || (strcmp(m, "skip") != 0 && strcmp(m, "once") != 0)) {
            kumo__doc_value_error(err, doc, def, "missed",
                                  "events.%s.missed must be skip (the default: runs missed while kumo was down are "
                                  "dropped) or once (one run makes up for them)",
                                  name);
            return -EINVAL;
        }
        e->missed_once = strcmp(m, "once") == 0;
    }
    json_t *overlap = json_object_get(def, "overlap");
    if (overlap) {
        if (!json_is_boolean(overlap)) {
            kumo__doc_value_error(err, doc, def, "overlap",
                                  "events.%s.overlap must be true or false (false, the default, skips a tick while "
                                  "the last run still goes)",
                                  name);
            return -EINVAL;
        }
        e->overlap = json_is_true(overlap);
    }
    return 0;
}

/* events: NAME -> {schedule:, timezone:, handler:, missed:, overlap:} */
static int load_events(kumo__project *p, json_t *events, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *root = kumo__doc_root(doc);
    if (json_is_array(events) && json_array_size(events) == 0)
        return 0; /* a placeholder */
    if (!json_is_object(events)) {
        kumo__doc_value_error(err, doc, root, "events",
                              "events must be a mapping of name -> {schedule: \"0 3 * * *\", handler: UNIT.SYMBOL}");
        return -EINVAL;
    }
    if (json_object_size(events) == 0)
        return 0;
    if ((p->events = calloc(json_object_size(events), sizeof *p->events)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    const char *key;
    json_t *def;
    json_object_foreach(events, key, def)
    {
        int rc = load_event(p, events, key, def, &p->events[p->nevents++], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int load_root(kumo__project *p, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *root = kumo__doc_root(doc);
    if (!json_is_object(root)) {
        kumo__doc_error(err, doc, root, "expected a mapping with name:, api: and functions:");
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, root, top_keys, "kumo.yaml", err);
    if (rc < 0)
        return rc;

    json_t *name = json_object_get(root, "name");
    if (name == NULL) {
        kumo__doc_error(err, doc, root, "missing required key 'name'; add name: my-project");
        return -EINVAL;
    }
    if (!json_is_string(name) || !name_ok(json_string_value(name), "-")) {
        kumo__doc_value_error(err, doc, root, "name", "name must be a string of a-z, 0-9 and '-' (like my-project)");
        return -EINVAL;
    }
    if ((p->name = strdup(json_string_value(name))) == NULL)
        goto oom;

    json_t *api = json_object_get(root, "api");
    if (api == NULL) {
        kumo__doc_error(err, doc, root, "missing required key 'api'; add api: openapi.yaml");
        return -EINVAL;
    }
    if (!json_is_string(api)) {
        kumo__doc_value_error(err, doc, root, "api", "api must be the path of the OpenAPI document");
        return -EINVAL;
    }
    if ((rc = existing_file(doc, api, p->dir, "api", &p->api_path, err)) < 0)
        return rc;

    json_t *defaults = json_object_get(root, "defaults");
    if (defaults) {
        if (!json_is_object(defaults)) {
            kumo__doc_value_error(err, doc, root, "defaults", "defaults must be a mapping (timeout:, max_body:, ...)");
            return -EINVAL;
        }
        if ((rc = kumo__check_keys(doc, defaults, tuning_keys, "defaults", err)) < 0 ||
            (rc = check_tuning(doc, defaults, "defaults", &p->defaults, err)) < 0)
            return rc;
        p->timeout_s = p->defaults.timeout_s;
        p->max_body = p->defaults.max_body;
    }

    json_t *http = json_object_get(root, "http");
    if (http && (rc = check_http(doc, http, p->dir, &p->http, err)) < 0)
        return rc;
    json_t *obs = json_object_get(root, "observability");
    if (obs && (rc = check_observability(doc, obs, &p->obs, err)) < 0)
        return rc;

    json_t *functions = json_object_get(root, "functions");
    if (functions && !json_is_object(functions)) {
        kumo__doc_value_error(err, doc, root, "functions", "functions must be a mapping of name -> {sources: [...]}");
        return -EINVAL;
    }
    if (json_object_size(functions) > 0) {
        if ((p->units = calloc(json_object_size(functions), sizeof *p->units)) == NULL)
            goto oom;
        const char *key;
        json_t *def;
        json_object_foreach(functions, key, def)
        {
            rc = load_unit(p, key, def, &p->units[p->nunits++], err);
            if (rc < 0)
                return rc;
        }
    }

    json_t *stores = json_object_get(root, "stores");
    if (stores) {
        if (!json_is_object(stores)) {
            kumo__doc_value_error(err, doc, root, "stores",
                                  "stores must be a mapping with kv:, blob:, queue: or topic: lists");
            return -EINVAL;
        }
        if ((rc = kumo__check_keys(doc, stores, store_keys, "stores", err)) < 0 ||
            (rc = check_store_names(doc, stores, KUMO__STORE_KV, p, err)) < 0 ||
            (rc = check_store_names(doc, stores, KUMO__STORE_BLOB, p, err)) < 0 ||
            (rc = check_store_names(doc, stores, KUMO__STORE_QUEUE, p, err)) < 0 ||
            (rc = check_store_names(doc, stores, KUMO__STORE_TOPIC, p, err)) < 0 ||
            (rc = refuse_topics(doc, stores, err)) < 0 || (rc = check_store_vars(doc, stores, err)) < 0)
            return rc;
    }

    json_t *environments = json_object_get(root, "environments");
    if (environments && (rc = load_environments(p, environments, err)) < 0)
        return rc;

    /* A body is held twice (h2o's buffer, the copy to the worker): a budget
     * smaller than that for the largest body would refuse it always. */
    size_t largest = p->defaults.max_body;
    for (size_t u = 0; u < p->nunits; u++)
        if (p->units[u].tuning.max_body > largest)
            largest = p->units[u].tuning.max_body;
    if (p->http.body_budget / 2 < largest) {
        const char *why = "http.body_budget (%zu bytes) must hold at least two of the largest max_body (%zu bytes): "
                          "a body is held twice while it is served; raise it or lower max_body";
        if (http && json_object_get(http, "body_budget"))
            kumo__doc_value_error(err, doc, http, "body_budget", why, p->http.body_budget, largest);
        else
            kumo__doc_error(err, doc, root, why, p->http.body_budget, largest);
        return -EINVAL;
    }

    json_t *events = json_object_get(root, "events");
    if (events && (rc = load_events(p, events, err)) < 0)
        return rc;

    if ((rc = kumo__monitors_load(doc, json_object_get(root, "monitors"), json_object_get(root, "alerts"), &p->monitors,
                                  err)) < 0)
        return rc;
    /* the monitors read the metrics: with nothing recorded they would watch nothing */
    for (int i = 0; i < 2 && !p->obs.enabled; i++) {
        const char *key = i == 0 ? "monitors" : "alerts";
        if (json_object_get(root, key)) {
            kumo__doc_key_error(err, doc, root, key,
                                "%s: needs the metrics, and observability.enabled is false; remove %s: or turn "
                                "observability back on",
                                key, key);
            return -EINVAL;
        }
    }

    if ((rc = kumo__project_load_services(p, err)) < 0 || (rc = kumo__project_load_env(p, err)) < 0 ||
        (rc = kumo__project_load_unit_libs(p, err)) < 0)
        return rc;
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int project_load(const char *dir, int prebuilt, kumo__project **out, kumo__error *err);

int kumo__project_load(const char *dir, kumo__project **out, kumo__error *err)
{
    return project_load(dir, 0, out, err);
}

int kumo__project_load_prebuilt(const char *dir, kumo__project **out, kumo__error *err)
{
    return project_load(dir, 1, out, err);
}

void kumo__project_defaults(kumo__project *p)
{
    p->defaults = (kumo__tuning){.timeout_s = 10,
                                 .idle_s = 300,
                                 .max_body = 1u << 20,
                                 .memory = 128u << 20,
                                 .min = 0,
                                 .max = 8,
                                 .concurrency = 1,
                                 .queue = 64,
                                 .sandbox_seccomp = 1,
                                 .sandbox_namespaces = 1,
                                 .sandbox_limits = 1,
                                 .sandbox_no_new_privs = 1};
    p->timeout_s = p->defaults.timeout_s;
    p->max_body = p->defaults.max_body;
    p->http = (kumo__http_limits){
        .max_headers = 100, .max_header_bytes = 8u << 10, .max_connections = 0, .body_budget = 256u << 20};
    kumo__monitors_defaults(&p->monitors);
    p->obs = (kumo__obs_config){.enabled = 1,
                                .history_s = 86400,
                                .history_max = 64u << 20,
                                .traces_ratio = 1.0,
                                .traces_buffer = 4096,
                                .logs_max = 64u << 20};
}

static int project_load(const char *dir, int prebuilt, kumo__project **out, kumo__error *err)
{
    *out = NULL;
    char *file = NULL;
    int rc = 0;
    kumo__project *p = calloc(1, sizeof *p);
    if (p == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    kumo__project_defaults(p);
    p->prebuilt = prebuilt;
    if ((p->dir = realpath(dir, NULL)) == NULL) {
        rc = -errno;
        kumo__error_set(err, rc, "%s: cannot open the project directory: %s", dir, strerror(errno));
        goto out;
    }
    /* Messages name the file as the user wrote the directory. */
    if (asprintf(&file, "%s%skumo.yaml", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/") < 0) {
        file = NULL;
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    if ((rc = kumo__doc_load(file, &p->doc, err)) < 0)
        goto out;
    rc = load_root(p, err);
out:
    free(file);
    if (rc < 0) {
        kumo__project_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void kumo__project_free(kumo__project *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nunits; i++) {
        kumo__unit *u = &p->units[i];
        for (size_t j = 0; j < u->nsources; j++)
            free(u->sources[j]);
        free(u->sources);
        free(u->name);
        free(u->so_path);
        kumo__env_list_free(&u->env);
        free(u->cflags);
        free(u->libs);
        free(u->pkg_config);
    }
    free(p->units);
    free(p->obs.traces_endpoint);
    free(p->obs.traces_sampler);
    free(p->obs.traces_protocol);
    for (size_t i = 0; i < p->nstores; i++)
        free(p->stores[i].name);
    free(p->stores);
    for (size_t i = 0; i < p->nenvironments; i++) {
        kumo__environment *e = &p->environments[i];
        for (size_t j = 0; j < e->nstores; j++) {
            free(e->stores[j].store);
            free(e->stores[j].url);
        }
        free(e->stores);
        for (size_t j = 0; j < e->nembedded; j++)
            free(e->embedded[j]);
        free(e->embedded);
        kumo__env_list_free(&e->env);
        free(e->name);
        free(e->target);
        free(e->region);
    }
    for (size_t i = 0; i < p->nevents; i++) {
        kumo__event_decl *e = &p->events[i];
        kumo__schedule_free(e->compiled); /* before the zone it reads */
        kumo__tz_free(e->tz);
        free(e->name);
        free(e->unit);
        free(e->symbol);
        free(e->schedule);
        free(e->timezone);
        free(e->queue);
        free(e->data);
        free(e->topic);
        free(e->blob);
        free(e->prefix);
        free(e->suffix);
        free(e->ce_type);
        free(e->ce_source);
    }
    free(p->events);
    kumo__monitors_free(&p->monitors);
    kumo__edge_free(&p->http.edge);
    kumo__project_free_services(p);
    kumo__env_list_free(&p->env);
    free(p->environments);
    free(p->dir);
    free(p->name);
    free(p->api_path);
    kumo__doc_free(p->doc);
    free(p);
}

int kumo__parse_duration(const json_t *v, double *out)
{
    return duration(v, 0, out);
}

int kumo__parse_duration0(const json_t *v, double *out)
{
    return duration(v, 1, out);
}

int kumo__parse_size(const json_t *v, size_t *out)
{
    return parse_size(v, out);
}

const kumo__unit *kumo__project_unit(const kumo__project *p, const char *name)
{
    for (size_t i = 0; i < p->nunits; i++)
        if (strcmp(p->units[i].name, name) == 0)
            return &p->units[i];
    return NULL;
}

/* ---- where stores live ---------------------------------------------------- */

const char *kumo__project_store_kind(const kumo__project *p, const char *store)
{
    for (size_t i = 0; i < p->nstores; i++)
        if (strcmp(p->stores[i].name, store) == 0)
            return kumo__store_kind_name(p->stores[i].kind);
    return NULL;
}

const kumo__environment *kumo__project_environment(const kumo__project *p, const char *name)
{
    for (size_t i = 0; name && i < p->nenvironments; i++)
        if (strcmp(p->environments[i].name, name) == 0)
            return &p->environments[i];
    return NULL;
}

const kumo__store_url *kumo__environment_store(const kumo__environment *e, const char *store)
{
    for (size_t i = 0; e && i < e->nstores; i++)
        if (strcmp(e->stores[i].store, store) == 0)
            return &e->stores[i];
    return NULL;
}

int kumo__project_pick_environment(const kumo__project *p, const char *asked, const char **out, kumo__error *err)
{
    *out = NULL;
    const kumo__environment *e = kumo__project_environment(p, asked ? asked : "dev");
    if (e != NULL || asked == NULL) {
        *out = e ? e->name : NULL;
        return 0;
    }
    const char *file = p->doc ? kumo__doc_path(p->doc) : "kumo.yaml";
    if (p->nenvironments == 0) {
        kumo__error_set(err, -EINVAL,
                        "%s: environment '%s' is not defined (there is no environments: section); add "
                        "environments: {%s: {stores: {...}}} or leave out --env",
                        file, asked, asked);
        return -EINVAL;
    }
    char list[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < p->nenvironments; i++) {
        int n = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", p->environments[i].name);
        if (n < 0 || (size_t)n >= sizeof list - len)
            break;
        len += (size_t)n;
    }
    kumo__error_set(err, -EINVAL, "%s: environment '%s' is not defined; defined: %s", file, asked, list);
    return -EINVAL;
}

/* Query parameters whose values are secrets, by a part of their name. */
static int secret_param(const char *name, size_t len)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", NULL};
    char low[64];
    if (len >= sizeof low)
        len = sizeof low - 1;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    low[len] = '\0';
    for (const char *const *w = words; *w; w++)
        if (strstr(low, *w))
            return 1;
    return 0;
}

/* Whether a query parameter's value carries credentials of its own, as an
 * endpoint=http://user:pw@host does: a URL (a "://", plain or
 * percent-encoded) with an '@' in it. */
static int holds_userinfo(const char *v, size_t len)
{
    int scheme = 0, at = 0;
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len && v[i] == ':' && v[i + 1] == '/' && v[i + 2] == '/')
            scheme = 1;
        if (i + 8 < len && strncasecmp(v + i, "%3a%2f%2f", 9) == 0)
            scheme = 1;
        if (scheme && (v[i] == '@' || (i + 2 < len && strncmp(v + i, "%40", 3) == 0)))
            at = 1;
    }
    return at;
}

const char *kumo__store_url_redact(const char *url, char *buf, size_t len)
{
    size_t o = 0;
    if (len == 0)
        return buf;
#define PUT(s, n)                                                                                                      \
    do {                                                                                                               \
        size_t n_ = (n);                                                                                               \
        if (n_ > len - 1 - o)                                                                                          \
            n_ = len - 1 - o;                                                                                          \
        memcpy(buf + o, (s), n_);                                                                                      \
        o += n_;                                                                                                       \
    } while (0)
    const char *s = url;
    const char *auth = strstr(url, "://");
    const char *query = strchr(url, '?');
    if (auth != NULL && (query == NULL || auth < query)) {
        auth += 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', alen);
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon != NULL) {
            PUT(url, (size_t)(colon + 1 - url));
            PUT("****", 4);
            s = at;
        }
    }
    if (query == NULL) {
        PUT(s, strlen(s));
    } else {
        PUT(s, (size_t)(query + 1 - s));
        for (const char *q = query + 1; *q;) {
            size_t plen = strcspn(q, "&#");
            const char *eq = memchr(q, '=', plen);
            if (eq != NULL &&
                (secret_param(q, (size_t)(eq - q)) || holds_userinfo(eq + 1, plen - (size_t)(eq + 1 - q)))) {
                PUT(q, (size_t)(eq + 1 - q));
                PUT("****", 4);
            } else {
                PUT(q, plen);
            }
            q += plen;
            if (*q == '#') {
                PUT(q, strlen(q));
                break;
            }
            if (*q == '&') {
                PUT("&", 1);
                q++;
            }
        }
    }
#undef PUT
    buf[o] = '\0';
    return buf;
}

/* The secrets of a store URL, as they are written in it: the userinfo's
 * password and the values of secret query parameters. */
#define SCRUB_MAX 16
typedef struct secret_span {
    const char *p;
    size_t n;
} secret_span;

static size_t url_secrets(const char *url, secret_span *out)
{
    size_t k = 0;
    const char *auth = strstr(url, "://");
    const char *query = strchr(url, '?');
    if (auth != NULL && (query == NULL || auth < query)) {
        auth += 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', alen);
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon != NULL)
            out[k++] = (secret_span){colon + 1, (size_t)(at - colon - 1)};
    }
    for (const char *q = query ? query + 1 : NULL; q && *q && k < SCRUB_MAX;) {
        size_t plen = strcspn(q, "&#");
        const char *eq = memchr(q, '=', plen);
        if (eq != NULL && (secret_param(q, (size_t)(eq - q)) || holds_userinfo(eq + 1, plen - (size_t)(eq + 1 - q))))
            out[k++] = (secret_span){eq + 1, plen - (size_t)(eq + 1 - q)};
        q += plen;
        if (*q != '&')
            break;
        q++;
    }
    return k;
}

const char *kumo__store_url_scrub(const char *url, const char *msg, char *buf, size_t len)
{
    secret_span raw[SCRUB_MAX], all[2 * SCRUB_MAX];
    char decoded[SCRUB_MAX][256];
    size_t n = url_secrets(url, raw), m = 0;
    for (size_t i = 0; i < n; i++) {
        if (raw[i].n < 3) /* a secret this short would blank ordinary text; nobody uses one */
            continue;
        all[m++] = raw[i];
        /* a driver may quote the value decoded (libpq does) */
        ssize_t d = raw[i].n < sizeof decoded[i]
                        ? kumo__percent_decode_into(raw[i].p, raw[i].n, decoded[i], KUMO__PCT_LENIENT)
                        : -1;
        if (d >= 3 && ((size_t)d != raw[i].n || memcmp(decoded[i], raw[i].p, raw[i].n) != 0))
            all[m++] = (secret_span){decoded[i], (size_t)d};
    }
    size_t o = 0;
    if (len == 0)
        return buf;
    for (const char *c = msg; *c && o + 1 < len;) {
        size_t hit = 0;
        for (size_t i = 0; i < m && !hit; i++)
            if (strncmp(c, all[i].p, all[i].n) == 0)
                hit = all[i].n;
        if (hit) {
            for (const char *r = "****"; *r && o + 1 < len; r++)
                buf[o++] = *r;
            c += hit;
        } else {
            buf[o++] = *c++;
        }
    }
    buf[o] = '\0';
    return buf;
}

const char *kumo__event_kind_name(kumo__event_kind kind)
{
    switch (kind) {
    case KUMO__EVENT_SCHEDULE: return "schedule";
    case KUMO__EVENT_QUEUE: return "queue";
    case KUMO__EVENT_TOPIC: return "topic";
    case KUMO__EVENT_BLOB: return "blob";
    case KUMO__EVENT_CLOUDEVENT: return "cloudevent";
    }
    return "?";
}

int kumo__project_event_error(kumo__error *err, const kumo__project *p, const kumo__event_decl *e, const char *key,
                              const char *fmt, ...)
{
    int line = e->line, col = e->col;
    if (key && p->doc && e->node)
        kumo__doc_key_pos(p->doc, e->node, key, &line, &col);
    char why[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    kumo__error_set(err, -EINVAL, "%s:%d:%d: events.%s: %s", p->doc ? kumo__doc_path(p->doc) : "kumo.yaml", line, col,
                    e->name, why);
    return -EINVAL;
}

int kumo__project_refuse_events(const kumo__project *p, const char *what, kumo__error *err)
{
    if (p->nevents == 0)
        return 0;
    const kumo__event_decl *e = &p->events[0];
    kumo__error_set(err, -EINVAL,
                    "%s:%d:%d: events.%s: %s cannot carry events yet (issue 13): schedules and queue consumers run "
                    "under kumo up only; remove events: from the project you build or deploy",
                    p->doc ? kumo__doc_path(p->doc) : "kumo.yaml", e->line, e->col, e->name, what);
    return -EINVAL;
}
