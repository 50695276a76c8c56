/*
 * monitors.c: kumo.yaml's `monitors:` and `alerts:` -> kumo__monitors_config
 * (the shape is in monitors.h). project.c hands both mappings over; every
 * key is checked here with its position, and every accepted key is acted
 * on by obs/monitor.c or obs/alert.c. Operation names are checked against
 * the spec later (kumo__monitors_check_spec), where the spec is loaded:
 * the project layer does not read the OpenAPI document.
 */
#include "project/monitors.h"
#include "project/project.h"
#include "base/strlist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double kumo__mon_quantile[KUMO__MON_QUANTILES] = {0.5, 0.9, 0.95, 0.99};
const char *const kumo__mon_quantile_key[KUMO__MON_QUANTILES] = {"p50", "p90", "p95", "p99"};

static const char *const monitors_keys[] = {"defaults", "probes", NULL};
static const char *const bounds_keys[] = {"p50",    "p90",       "p95",          "p99",   "errors",
                                          "window", "anomalies", "long_running", "probe", NULL};
static const char *const probes_keys[] = {"interval", "timeout", NULL};
static const char *const alerts_keys[] = {"webhooks", "for", "resend", NULL};

#define URL_MAX 2048

void kumo__monitors_defaults(kumo__monitors_config *c)
{
    memset(c, 0, sizeof(*c));
    c->defaults = (kumo__mon_bounds){
        .latency_s = {0, 0, 0, 0.5}, .errors = 0.05, .window_s = 300, .anomalies = 1, .long_running = 0.8, .probe = 1};
    c->probe_interval_s = 30;
    c->probe_timeout_s = 2;
    c->for_s = 60;
    c->resend_s = 60;
}

/* "5%", "0.5%": a share, 0..1 into *out. */
static int parse_percent(const json_t *v, double *out)
{
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    char *end;
    double x = strtod(s, &end);
    if (strcmp(end, "%") != 0 || !(x >= 0 && x <= 100))
        return -1;
    *out = x / 100;
    return 0;
}

/* One bounds mapping (defaults:, or an operation's) over *b. */
static int load_bounds(const kumo__doc *doc, json_t *obj, const char *where, kumo__mon_bounds *b, kumo__error *err)
{
    if (!json_is_object(obj)) {
        kumo__doc_error(err, doc, obj, "%s must be a mapping (p99:, errors:, window:, anomalies:, long_running:)",
                        where);
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, obj, bounds_keys, where, err);
    if (rc < 0)
        return rc;
    for (int q = 0; q < KUMO__MON_QUANTILES; q++) {
        json_t *v = json_object_get(obj, kumo__mon_quantile_key[q]);
        double d;
        if (v == NULL)
            continue;
        if (json_is_false(v)) {
            b->latency_s[q] = 0;
            continue;
        }
        if (kumo__parse_duration0(v, &d) < 0 || d < 0.0001 || d > 3600) {
            kumo__doc_value_error(err, doc, obj, kumo__mon_quantile_key[q],
                                  "%s.%s must be a duration from 100us to 1h (like 250ms), or false to not watch it",
                                  where, kumo__mon_quantile_key[q]);
            return -EINVAL;
        }
        b->latency_s[q] = d;
    }
    json_t *v = json_object_get(obj, "errors");
    if (v && json_is_false(v)) {
        b->errors = -1;
    } else if (v && (parse_percent(v, &b->errors) < 0 || b->errors <= 0 || b->errors >= 1)) {
        kumo__doc_value_error(err, doc, obj, "errors",
                              "%s.errors must be a percentage above 0%% and below 100%% (like 1%% or 0.5%%), or false",
                              where);
        return -EINVAL;
    }
    v = json_object_get(obj, "window");
    if (v && (kumo__parse_duration0(v, &b->window_s) < 0 || b->window_s < 1 || b->window_s > 3600)) {
        kumo__doc_value_error(err, doc, obj, "window", "%s.window must be a duration from 1s to 1h (like 5m)", where);
        return -EINVAL;
    }
    v = json_object_get(obj, "anomalies");
    if (v && !json_is_boolean(v)) {
        kumo__doc_value_error(err, doc, obj, "anomalies", "%s.anomalies must be true or false", where);
        return -EINVAL;
    }
    if (v)
        b->anomalies = json_is_true(v);
    v = json_object_get(obj, "probe");
    int always = json_is_string(v) && strcmp(json_string_value(v), "always") == 0;
    if (v && !json_is_boolean(v) && !always) {
        kumo__doc_value_error(err, doc, obj, "probe",
                              "%s.probe must be true, false (never send this operation a probe) or always (probe it "
                              "whatever its method, with its request example: it may write data)",
                              where);
        return -EINVAL;
    }
    if (always && strcmp(where, "monitors.defaults") == 0) {
        kumo__doc_value_error(err, doc, obj, "probe",
                              "monitors.defaults.probe: always would send every operation's request example, writes "
                              "included, every interval; say it per operation (monitors: {createTodo: {probe: "
                              "always}})");
        return -EINVAL;
    }
    if (v)
        b->probe = always ? KUMO__PROBE_ALWAYS : json_is_true(v);
    v = json_object_get(obj, "long_running");
    if (v && json_is_false(v)) {
        b->long_running = 0;
    } else if (v && (parse_percent(v, &b->long_running) < 0 || b->long_running < 0.01 || b->long_running > 1)) {
        kumo__doc_value_error(err, doc, obj, "long_running",
                              "%s.long_running must be a share of the timeout from 1%% to 100%% (like 80%%), or false",
                              where);
        return -EINVAL;
    }
    return 0;
}

static int load_probes(const kumo__doc *doc, json_t *monitors, json_t *obj, kumo__monitors_config *c, kumo__error *err)
{
    if (json_is_false(obj)) {
        c->probe_interval_s = 0;
        return 0;
    }
    if (!json_is_object(obj)) {
        kumo__doc_value_error(err, doc, monitors, "probes",
                              "monitors.probes must be a mapping (interval:, timeout:) or false");
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, obj, probes_keys, "monitors.probes", err);
    if (rc < 0)
        return rc;
    json_t *v = json_object_get(obj, "interval");
    if (v && (kumo__parse_duration0(v, &c->probe_interval_s) < 0 || c->probe_interval_s < 1 ||
              c->probe_interval_s > 86400)) {
        kumo__doc_value_error(err, doc, obj, "interval",
                              "monitors.probes.interval must be a duration from 1s to 24h (like 30s)");
        return -EINVAL;
    }
    v = json_object_get(obj, "timeout");
    if (v &&
        (kumo__parse_duration0(v, &c->probe_timeout_s) < 0 || c->probe_timeout_s < 0.001 || c->probe_timeout_s > 60)) {
        kumo__doc_value_error(err, doc, obj, "timeout",
                              "monitors.probes.timeout must be a duration from 1ms to 60s (like 2s)");
        return -EINVAL;
    }
    return 0;
}

static int load_alerts(const kumo__doc *doc, json_t *root_alerts, kumo__monitors_config *c, kumo__error *err)
{
    if (!json_is_object(root_alerts)) {
        kumo__doc_error(err, doc, root_alerts, "alerts must be a mapping (webhooks:, for:, resend:)");
        return -EINVAL;
    }
    int rc = kumo__check_keys(doc, root_alerts, alerts_keys, "alerts", err);
    if (rc < 0)
        return rc;
    json_t *hooks = json_object_get(root_alerts, "webhooks");
    if (hooks && (!json_is_array(hooks) || json_array_size(hooks) > KUMO__WEBHOOKS_MAX)) {
        kumo__doc_value_error(err, doc, root_alerts, "webhooks",
                              "alerts.webhooks must be a list of at most %d URLs (like "
                              "[http://127.0.0.1:9093/api/v2/alerts])",
                              KUMO__WEBHOOKS_MAX);
        return -EINVAL;
    }
    if (json_array_size(hooks) > 0 && (c->webhooks = calloc(json_array_size(hooks), sizeof(char *))) == NULL)
        goto oom;
    size_t i;
    json_t *u;
    json_array_foreach(hooks, i, u)
    {
        const char *s = json_is_string(u) ? json_string_value(u) : "";
        if ((strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) || strlen(s) > URL_MAX ||
            strpbrk(s, " \t\r\n") != NULL) {
            kumo__doc_error(err, doc, u,
                            "alerts.webhooks[%zu] must be an http:// or https:// URL of at most %d characters "
                            "(Alertmanager's is http://HOST:9093/api/v2/alerts)",
                            i, URL_MAX);
            return -EINVAL;
        }
        if ((c->webhooks[c->nwebhooks] = strdup(s)) == NULL)
            goto oom;
        c->nwebhooks++;
    }
    json_t *v = json_object_get(root_alerts, "for");
    if (v && (kumo__parse_duration0(v, &c->for_s) < 0 || c->for_s > 86400)) {
        kumo__doc_value_error(err, doc, root_alerts, "for",
                              "alerts.for must be a duration from 0s to 24h (like 1m): how long a condition holds "
                              "before its alert fires");
        return -EINVAL;
    }
    v = json_object_get(root_alerts, "resend");
    if (v && (kumo__parse_duration0(v, &c->resend_s) < 0 || c->resend_s < 1 || c->resend_s > 3600)) {
        kumo__doc_value_error(err, doc, root_alerts, "resend",
                              "alerts.resend must be a duration from 1s to 1h (like 1m): how often a firing alert "
                              "is sent again (Alertmanager resolves one it has not heard of for 5m)");
        return -EINVAL;
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

int kumo__monitors_load(const kumo__doc *doc, json_t *monitors, json_t *alerts, kumo__monitors_config *c,
                        kumo__error *err)
{
    int rc;
    if (c->file == NULL && (c->file = strdup(kumo__doc_path(doc))) == NULL)
        goto oom;
    if (alerts && (rc = load_alerts(doc, alerts, c, err)) < 0)
        return rc;
    if (monitors == NULL)
        return 0;
    if (!json_is_object(monitors)) {
        kumo__doc_error(err, doc, monitors,
                        "monitors must be a mapping (defaults:, probes:, and an operationId for each operation "
                        "with bounds of its own)");
        return -EINVAL;
    }
    json_t *v = json_object_get(monitors, "defaults");
    if (v && (rc = load_bounds(doc, v, "monitors.defaults", &c->defaults, err)) < 0)
        return rc;
    v = json_object_get(monitors, "probes");
    if (v && (rc = load_probes(doc, monitors, v, c, err)) < 0)
        return rc;
    size_t n = json_object_size(monitors);
    if ((c->ops = calloc(n ? n : 1, sizeof(*c->ops))) == NULL)
        goto oom;
    const char *key;
    json_object_foreach(monitors, key, v)
    {
        if (kumo__in_list(key, monitors_keys))
            continue;
        char where[300];
        snprintf(where, sizeof(where), "monitors.%s", key);
        kumo__mon_op *op = &c->ops[c->nops];
        op->bounds = c->defaults; /* defaults: is read first, whatever its place in the file */
        if ((rc = load_bounds(doc, v, where, &op->bounds, err)) < 0)
            return rc;
        if ((op->operation = strdup(key)) == NULL)
            goto oom;
        kumo__doc_key_pos(doc, monitors, key, &op->line, &op->col);
        c->nops++;
    }
    return 0;
oom:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

int kumo__monitors_check_spec(const kumo__project *p, const kumo__spec *spec, kumo__error *err)
{
    const kumo__monitors_config *c = &p->monitors;
    for (size_t i = 0; i < c->nops; i++) {
        const kumo__mon_op *m = &c->ops[i];
        const char *near = NULL;
        size_t best = 3;
        int found = 0;
        for (size_t e = 0; e < p->nevents && !found; e++)
            found = strcmp(p->events[e].name, m->operation) == 0;
        char list[600];
        size_t len = 0;
        list[0] = '\0';
        for (size_t o = 0; spec && o < spec->nops && !found; o++) {
            const char *id = spec->ops[o].operation_id;
            if (id == NULL)
                continue;
            if (strcmp(id, m->operation) == 0) {
                found = 1;
                break;
            }
            size_t d = kumo__edit_distance(id, m->operation);
            if (d < best) {
                best = d;
                near = id;
            }
            if (len < sizeof(list) - 1) {
                int w = snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "", id);
                len += w > 0 ? (size_t)w : 0;
            }
        }
        if (found)
            continue;
        char hint[200] = "";
        if (near)
            snprintf(hint, sizeof(hint), " (did you mean '%s'?)", near);
        kumo__error_set(err, -EINVAL,
                        "%s:%d:%d: monitors.%s: the OpenAPI document has no operation '%s'%s; a key under "
                        "monitors: is defaults:, probes:, an operationId (%s) or an event's name",
                        c->file ? c->file : "kumo.yaml", m->line, m->col, m->operation, m->operation, hint,
                        list[0] ? list : "the document has none");
        return -EINVAL;
    }
    return 0;
}

const kumo__mon_bounds *kumo__monitors_bounds(const kumo__monitors_config *c, const char *op)
{
    for (size_t i = 0; op && i < c->nops; i++)
        if (strcmp(c->ops[i].operation, op) == 0)
            return &c->ops[i].bounds;
    return &c->defaults;
}

void kumo__monitors_free(kumo__monitors_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nops; i++)
        free(c->ops[i].operation);
    free(c->ops);
    for (size_t i = 0; i < c->nwebhooks; i++)
        free(c->webhooks[i]);
    free(c->webhooks);
    free(c->file);
    c->ops = NULL;
    c->nops = 0;
    c->webhooks = NULL;
    c->nwebhooks = 0;
    c->file = NULL;
}

int kumo__monitors_copy(kumo__monitors_config *dst, const kumo__monitors_config *src)
{
    *dst = *src;
    dst->ops = NULL;
    dst->nops = 0;
    dst->webhooks = NULL;
    dst->nwebhooks = 0;
    dst->file = NULL;
    if (src->file && (dst->file = strdup(src->file)) == NULL)
        goto oom;
    if ((dst->ops = calloc(src->nops ? src->nops : 1, sizeof(*dst->ops))) == NULL)
        goto oom;
    for (size_t i = 0; i < src->nops; i++) {
        dst->ops[i] = src->ops[i];
        if ((dst->ops[i].operation = strdup(src->ops[i].operation)) == NULL)
            goto oom;
        dst->nops++;
    }
    if ((dst->webhooks = calloc(src->nwebhooks ? src->nwebhooks : 1, sizeof(char *))) == NULL)
        goto oom;
    for (size_t i = 0; i < src->nwebhooks; i++) {
        if ((dst->webhooks[i] = strdup(src->webhooks[i])) == NULL)
            goto oom;
        dst->nwebhooks++;
    }
    return 0;
oom:
    kumo__monitors_free(dst);
    return -ENOMEM;
}
