/*
 * target_k8s.c: the cluster targets (see target.h).
 *
 *   knative     one Knative Service per function unit (service-UNIT.yaml):
 *               scale bounds and the concurrency target as autoscaling
 *               annotations; kubectl apply.
 *   openfaas    stack.yml (faas-cli's format) with every unit, and one
 *               Function resource (openfaas.com/v1) per unit for clusters
 *               run by the OpenFaaS operator; faas-cli deploy.
 *   kubernetes  per unit a Deployment, a Service and an autoscaling/v2
 *               HorizontalPodAutoscaler (UNIT.yaml); kubectl apply.
 *
 * Each container is the unit's OCI image (kumo build --target T), pushed
 * with skopeo to $KUMO_REGISTRY (localhost:5000 when unset, the usual
 * kind/k3d registry) and named by digest, so a manifest always runs the
 * exact bytes that were built. kumo-host's http adapter listens on 8080.
 * Store URLs are env values; one holding a password is a secretKeyRef to
 * the secret kumo-<name>-stores, which deploy.sh creates from the user's
 * own environment (OpenFaaS has no env-from-secret: there each such URL is
 * an OpenFaaS secret, mounted as a file, see the note it prints).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/target.h"
#include "openapi/docset.h"
#include "project/schedule.h"

#define PORT 8080
#define METRICS_PORT 9090
#define METRICS_PORT_S "9090"

/* ---- events ----------------------------------------------------------------- */

/* <deployment>-<event> as a DNS label of at most `max` characters. */
static void event_resource(const kumo__target_ctx *t, const kumo__event_decl *e, char *buf, size_t max)
{
    char l[128], n[256];
    snprintf(n, sizeof n, "%s-%s", t->name, kumo__target_dns_label(e->name, l, sizeof l));
    kumo__target_dns_label(n, buf, max + 1);
}

/* The schedule's cron line and zone for a 5-field platform (checked
 * before by kumo__target_check_events). */
static const char *event_cron(const kumo__event_decl *e, char *cron, size_t cap, const char **tz)
{
    int utc = 0;
    const char *why = NULL;
    if (kumo__target_cron(e, 0, cron, cap, &utc, &why) < 0)
        return NULL;
    *tz = utc || e->timezone == NULL ? "UTC" : e->timezone;
    return cron;
}

/* A sink: the unit's Knative Service at /_kumo/events/NAME. */
static json_t *event_sink(const kumo__target_ctx *t, const kumo__event_decl *e)
{
    char uri[300];
    snprintf(uri, sizeof uri, "%s%s", KUMO__TARGET_EVENTS_PATH, e->name);
    return json_pack("{s:{s:s, s:s, s:s}, s:s}", "ref", "apiVersion", "serving.knative.dev/v1", "kind", "Service",
                     "name", t->units[e->unit_index].name, "uri", uri);
}

/* events.yaml for knative: a PingSource per schedule, a Trigger on the
 * broker `default` per cloudevent event. 0 when there are none. */
static int knative_events(kumo__target_ctx *t, int *wrote)
{
    json_t *docs = json_array();
    *wrote = 0;
    for (size_t i = 0; docs && i < t->p->nevents; i++) {
        const kumo__event_decl *e = &t->p->events[i];
        char name[64], cron[KUMO__SCHEDULE_MAX + 16];
        const char *tz = NULL;
        event_resource(t, e, name, 63);
        json_t *d = NULL;
        if (e->kind == KUMO__EVENT_SCHEDULE) {
            if (event_cron(e, cron, sizeof cron, &tz) == NULL)
                continue;
            d = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:s, s:o}}", "apiVersion", "sources.knative.dev/v1",
                          "kind", "PingSource", "metadata", "name", name, "labels", "app.kubernetes.io/part-of",
                          t->name, "spec", "schedule", cron, "timezone", tz, "sink", event_sink(t, e));
            if (!e->overlap)
                kumo__target_note(t,
                                  "events.%s: a PingSource sends each tick whether the previous run is still going or "
                                  "not (overlap: false is not enforced there)",
                                  e->name);
        } else if (e->kind == KUMO__EVENT_CLOUDEVENT) {
            json_t *attrs = json_pack("{s:s}", "type", e->ce_type);
            if (attrs && e->ce_source)
                json_object_set_new(attrs, "source", json_string(e->ce_source));
            d = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:{s:o}, s:o}}", "apiVersion",
                          "eventing.knative.dev/v1", "kind", "Trigger", "metadata", "name", name, "labels",
                          "app.kubernetes.io/part-of", t->name, "spec", "broker", "default", "filter", "attributes",
                          attrs, "subscriber", event_sink(t, e));
        } else {
            continue; /* refused by kumo__target_check_events */
        }
        if (d == NULL || json_array_append_new(docs, d) < 0) {
            json_decref(docs);
            return kumo__spec_oom(t->err);
        }
    }
    if (docs == NULL)
        return kumo__spec_oom(t->err);
    if (json_array_size(docs) == 0) {
        json_decref(docs);
        return 0;
    }
    *wrote = 1;
    return kumo__target_write_yaml(t, "events.yaml", docs, 1);
}

static json_t *labels(const kumo__target_ctx *t, const kumo__target_unit *u)
{
    return json_pack("{s:s, s:s, s:s}", "app.kubernetes.io/name", u->name, "app.kubernetes.io/part-of", t->name,
                     "app.kubernetes.io/managed-by", "kumo");
}

static json_t *metadata(const kumo__target_ctx *t, const kumo__target_unit *u)
{
    return json_pack("{s:s, s:o}", "name", u->name, "labels", labels(t, u));
}

static json_t *resources(const kumo__unit *unit, int cpu_request)
{
    char mem[32];
    json_t *r = json_object(), *lim = json_object(), *req = json_object();
    if (kumo__target_mem_quantity(unit->tuning.memory, mem, sizeof mem)) {
        json_object_set_new(lim, "memory", json_string(mem));
        json_object_set_new(req, "memory", json_string(mem));
    }
    if (cpu_request)
        json_object_set_new(req, "cpu", json_string("100m"));
    if (json_object_size(lim))
        json_object_set_new(r, "limits", lim);
    else
        json_decref(lim);
    if (json_object_size(req))
        json_object_set_new(r, "requests", req);
    else
        json_decref(req);
    return r;
}

/* Whether unit u handles a queue: event: its instances then consume the
 * queue themselves (kumo-host's KUMO_CONSUME=1, src/host/consume.c). */
static int consumes(const kumo__target_ctx *t, const kumo__target_unit *u)
{
    for (size_t i = 0; i < t->p->nevents; i++)
        if (t->p->events[i].kind == KUMO__EVENT_QUEUE && &t->units[t->p->events[i].unit_index] == u)
            return 1;
    return 0;
}

/* A note per queue event: who consumes it, and what that needs. */
static void consume_notes(kumo__target_ctx *t)
{
    for (size_t i = 0; i < t->p->nevents; i++) {
        const kumo__event_decl *e = &t->p->events[i];
        if (e->kind == KUMO__EVENT_QUEUE)
            kumo__target_note(t,
                              "events.%s: the instances of %s consume the queue %s themselves (KUMO_CONSUME=1, at "
                              "least one instance kept); each replica consumes, so the queue must be shared (Redis, "
                              "PostgreSQL or SQS under environments:), not an embedded default",
                              e->name, t->units[e->unit_index].name, e->queue);
    }
}

static json_t *container(kumo__target_ctx *t, const kumo__target_unit *u, int cpu_request)
{
    char name[64];
    json_t *env = kumo__target_k8s_env(t, u);
    if (env && consumes(t, u))
        json_array_append_new(env, json_pack("{s:s, s:s}", "name", "KUMO_CONSUME", "value", "1"));
    return json_pack("{s:s, s:s, s:[{s:s, s:i}], s:o, s:o}", "name",
                     kumo__target_dns_label(u->unit->name, name, sizeof name), "image",
                     kumo__target_cluster_image(t, u, 1), "ports", "name", "http1", "containerPort", PORT, "env", env,
                     "resources", resources(u->unit, cpu_request));
}

/* kumo-host's /metrics on a port of its own (KUMO_METRICS_PORT): a
 * Deployment's pod takes a second port and Prometheus's scrape annotations.
 * Knative, OpenFaaS and Cloud Run allow one port per container, so there
 * only a note says what is not exposed. */
static void add_metrics_port(const kumo__target_ctx *t, json_t *ctr, json_t *pod_meta)
{
    if (ctr == NULL || !t->p->obs.enabled)
        return;
    json_t *env = json_object_get(ctr, "env"), *ports = json_object_get(ctr, "ports");
    if (json_is_array(env))
        json_array_append_new(env, json_pack("{s:s, s:s}", "name", "KUMO_METRICS_PORT", "value", METRICS_PORT_S));
    if (json_is_array(ports))
        json_array_append_new(ports, json_pack("{s:s, s:i}", "name", "metrics", "containerPort", METRICS_PORT));
    json_object_set_new(pod_meta, "annotations",
                        json_pack("{s:s, s:s, s:s}", "prometheus.io/scrape", "true", "prometheus.io/port",
                                  METRICS_PORT_S, "prometheus.io/path", "/metrics"));
}

/* Where a container gets one port. */
void kumo__target_one_port_note(kumo__target_ctx *t, const char *platform)
{
    if (t->p->obs.enabled)
        kumo__target_note(t,
                          "observability: %s gives a container one port, so kumo-host's /metrics "
                          "(KUMO_METRICS_PORT) is not exposed; traces (observability.traces) and the JSON log lines "
                          "on stderr are",
                          platform);
}

static int timeout_s(const kumo__unit *u)
{
    double s = u->tuning.timeout_s;
    int n = (int)s;
    return n < s ? n + 1 : (n < 1 ? 1 : n);
}

/* ---- knative ---------------------------------------------------------------- */

static int knative(kumo__target_ctx *t)
{
    const char *ns = "";
    if (t->o->destroy) {
        for (size_t i = 0; i < t->p->nevents; i++) {
            const kumo__event_decl *e = &t->p->events[i];
            char name[64];
            event_resource(t, e, name, 63);
            if (e->kind == KUMO__EVENT_SCHEDULE || e->kind == KUMO__EVENT_CLOUDEVENT)
                kumo__target_cmd(t, "kubectl delete %s %s --ignore-not-found",
                                 e->kind == KUMO__EVENT_SCHEDULE ? "pingsource" : "trigger", name);
        }
        for (size_t i = 0; i < t->nunits; i++)
            kumo__target_cmd(t, "kubectl delete ksvc %s --ignore-not-found", t->units[i].name);
        if (t->nsecrets)
            kumo__target_cmd(t, "kubectl delete secret %s --ignore-not-found", t->secret_name);
        if (t->nenv_secrets)
            kumo__target_cmd(t, "kubectl delete secret %s --ignore-not-found", t->env_secret);
        return 0;
    }
    kumo__target_k8s_push_images(t);
    kumo__target_k8s_secret(t, ns);
    kumo__target_k8s_env_secret(t, ns);
    consume_notes(t);
    kumo__target_one_port_note(t, "Knative");
    kumo__target_cmd(t, "# one Knative Service per function unit");
    for (size_t i = 0; i < t->nunits; i++) {
        const kumo__target_unit *u = &t->units[i];
        const kumo__tuning *tu = &u->unit->tuning;
        char min[16], max[16], target[16], file[128];
        /* a consumer keeps one instance: nothing pushes its queue to it */
        snprintf(min, sizeof min, "%d", consumes(t, u) && tu->min < 1 ? 1 : tu->min);
        snprintf(max, sizeof max, "%d", tu->max);
        snprintf(target, sizeof target, "%d", tu->concurrency);
        json_t *svc =
            json_pack("{s:s, s:s, s:o, s:{s:{s:{s:o, s:{s:s, s:s, s:s}}, s:{s:i, s:i, s:[o]}}}}", "apiVersion",
                      "serving.knative.dev/v1", "kind", "Service", "metadata", metadata(t, u), "spec", "template",
                      "metadata", "labels", labels(t, u), "annotations", "autoscaling.knative.dev/min-scale", min,
                      "autoscaling.knative.dev/max-scale", max, "autoscaling.knative.dev/target", target, "spec",
                      "containerConcurrency", tu->concurrency, "timeoutSeconds", timeout_s(u->unit), "containers",
                      container(t, u, 0));
        snprintf(file, sizeof file, "service-%s.yaml", u->unit->name);
        int rc = kumo__target_write_yaml(t, file, svc, 0);
        if (rc < 0)
            return rc;
        kumo__target_cmd(t, "kubectl apply -f %s", kumo__target_sh_quote(t, kumo__target_path(t, file)));
    }
    for (size_t i = 0; i < t->nunits; i++)
        kumo__target_cmd(t, "kubectl wait ksvc/%s --for=condition=Ready --timeout=300s", t->units[i].name);
    int events = 0, rc = knative_events(t, &events);
    if (rc < 0)
        return rc;
    if (events) {
        kumo__target_cmd(t, "# events: PingSources and broker Triggers, each sinking to its unit at %sNAME",
                         KUMO__TARGET_EVENTS_PATH);
        kumo__target_cmd(t, "kubectl apply -f %s", kumo__target_sh_quote(t, kumo__target_path(t, "events.yaml")));
    }
    for (size_t i = 0; i < t->nunits; i++)
        kumo__target_cmd(t, "echo \"%s: $(kubectl get ksvc %s -o jsonpath='{.status.url}')\"", t->units[i].unit->name,
                         t->units[i].name);
    return 0;
}

/* ---- openfaas --------------------------------------------------------------- */

/* OpenFaaS secrets hold one value each and are mounted as files. */
static char *faas_secret(const kumo__target_ctx *t, const kumo__target_store *s)
{
    char l[64], *out = NULL;
    if (asprintf(&out, "%s-%s", t->secret_name, kumo__target_dns_label(s->store, l, sizeof l)) < 0)
        return NULL;
    return out;
}

/* An env: secret of unit u as an OpenFaaS secret: <deployment>-env-<unit>-<name>,
 * lower case, '_' as '-'. */
static char *faas_env_secret(const kumo__target_ctx *t, const kumo__target_unit *u, const kumo__env_var *v)
{
    char l[64], n[160], *out = NULL;
    kumo__target_dns_label(u->unit->name, l, sizeof l);
    kumo__target_dns_label(v->name, n, sizeof n);
    if (asprintf(&out, "%s-%s-%s", t->env_secret, l, n) < 0)
        return NULL;
    return out;
}

static int openfaas(kumo__target_ctx *t)
{
    if (t->o->destroy) {
        kumo__target_cmd(t, "faas-cli remove -f %s", kumo__target_sh_quote(t, kumo__target_path(t, "stack.yml")));
        return 0;
    }
    json_t *functions = json_object(), *secrets = json_array();
    json_t *env = json_object();
    int rc = -ENOMEM;
    if (functions == NULL || secrets == NULL || env == NULL)
        goto out;
    for (size_t i = 0; i < t->nstores; i++) {
        const kumo__target_store *s = &t->stores[i];
        if (s->url) {
            json_object_set_new(env, s->var, json_string(s->url));
        } else if (s->secret) {
            char *name = faas_secret(t, s), file[256], var[160];
            if (name == NULL)
                goto out;
            snprintf(file, sizeof file, "/var/openfaas/secrets/%s", name);
            snprintf(var, sizeof var, "%s_FILE", s->var);
            json_object_set_new(env, var, json_string(file));
            json_array_append_new(secrets, json_string(name));
            free(name);
        }
    }
    consume_notes(t);
    kumo__target_one_port_note(t, "OpenFaaS");
    if (json_array_size(secrets))
        kumo__target_note(t, "OpenFaaS passes secrets as files: each store URL with a password is an OpenFaaS secret "
                             "mounted at /var/openfaas/secrets/NAME and named by KUMO_STORE_<STORE>_FILE");
    const char *gw = getenv("OPENFAAS_URL");
    if (gw == NULL || *gw == '\0')
        gw = "http://127.0.0.1:8080";
    for (size_t i = 0; i < t->nunits; i++) {
        const kumo__target_unit *u = &t->units[i];
        const kumo__tuning *tu = &u->unit->tuning;
        char min[16], max[16], mem[32], file[128];
        snprintf(min, sizeof min, "%d", tu->min > 1 ? tu->min : 1);
        snprintf(max, sizeof max, "%d", tu->max > 1 ? tu->max : 1);
        json_t *lbl = json_pack("{s:s, s:s, s:s}", "com.openfaas.scale.min", min, "com.openfaas.scale.max", max,
                                "app.kubernetes.io/part-of", t->name);
        int consumer = consumes(t, u);
        if (lbl && tu->min == 0 && !consumer) /* a consumer keeps one instance */
            json_object_set_new(lbl, "com.openfaas.scale.zero", json_string("true"));
        const char *m = kumo__target_mem_quantity(tu->memory, mem, sizeof mem);
        json_t *fenv = json_deep_copy(env), *fsecrets = json_deep_copy(secrets);
        if (fenv && consumer)
            json_object_set_new(fenv, "KUMO_CONSUME", json_string("1"));
        /* env: plain values as they are; a secret is an OpenFaaS secret of
         * its own, mounted as a file that kumo-host reads into the variable
         * at start (KUMO_ENV_FILE_<NAME>) */
        for (size_t k = 0; fenv && fsecrets && k < u->nenv; k++) {
            const kumo__env_var *v = u->env[k].var;
            char var[200], file[300], *name = v->secret ? faas_env_secret(t, u, v) : NULL;
            if (!v->secret) {
                json_object_set_new(fenv, v->name, json_string(v->value));
                continue;
            }
            if (name == NULL)
                goto out;
            snprintf(var, sizeof var, "KUMO_ENV_FILE_%s", v->name);
            snprintf(file, sizeof file, "/var/openfaas/secrets/%s", name);
            json_object_set_new(fenv, var, json_string(file));
            json_array_append_new(fsecrets, json_string(name));
            free(name);
        }
        json_t *fn = json_pack("{s:s, s:o, s:o}", "image", kumo__target_cluster_image(t, u, 1), "environment", fenv,
                               "labels", lbl);
        if (fn == NULL) {
            json_decref(fsecrets);
            goto out;
        }
        if (json_array_size(fsecrets))
            json_object_set(fn, "secrets", fsecrets);
        json_decref(fsecrets);
        if (m) {
            json_object_set_new(fn, "limits", json_pack("{s:s}", "memory", m));
            json_object_set_new(fn, "requests", json_pack("{s:s}", "memory", m));
        }
        char timeout[32];
        snprintf(timeout, sizeof timeout, "%ds", timeout_s(u->unit));
        json_object_set_new(fn, "annotations", json_pack("{s:s}", "com.openfaas.timeout", timeout));
        json_object_set_new(functions, u->name, fn);
        /* the same function as an operator resource */
        json_t *spec = json_deep_copy(fn);
        json_object_set_new(spec, "name", json_string(u->name));
        json_t *crd = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "openfaas.com/v1", "kind", "Function",
                                "metadata", "name", u->name, "namespace", "openfaas-fn", "spec", spec);
        snprintf(file, sizeof file, "function-%s.yaml", u->unit->name);
        if ((rc = kumo__target_write_yaml(t, file, crd, 0)) < 0)
            goto out;
    }
    /* a function per schedule: the unit's image with KUMO_EVENT=NAME, which
     * the cron-connector invokes at its root */
    for (size_t i = 0; i < t->p->nevents; i++) {
        const kumo__event_decl *e = &t->p->events[i];
        char name[64], cron[KUMO__SCHEDULE_MAX + 16];
        const char *tz = NULL;
        if (e->kind != KUMO__EVENT_SCHEDULE || event_cron(e, cron, sizeof cron, &tz) == NULL)
            continue;
        event_resource(t, e, name, 63);
        json_t *base = json_object_get(functions, t->units[e->unit_index].name);
        json_t *fn = json_deep_copy(base);
        if (fn == NULL)
            goto out;
        json_t *fenv = json_object_get(fn, "environment");
        json_object_set_new(fenv, "KUMO_EVENT", json_string(e->name));
        json_object_del(fenv, "KUMO_CONSUME"); /* the unit's own function consumes */
        json_t *ann = json_object_get(fn, "annotations");
        json_object_set_new(ann, "topic", json_string("cron-function"));
        json_object_set_new(ann, "schedule", json_string(cron));
        json_object_set_new(functions, name, fn);
        if (!e->overlap)
            kumo__target_note(t,
                              "events.%s: the cron-connector invokes %s each time whether the previous run is still "
                              "going or not (overlap: false is not enforced there)",
                              e->name, name);
    }
    json_t *stack = json_pack("{s:s, s:{s:s, s:s}, s:O}", "version", "1.0", "provider", "name", "openfaas", "gateway",
                              gw, "functions", functions);
    if ((rc = kumo__target_write_yaml(t, "stack.yml", stack, 0)) < 0)
        goto out;
    kumo__target_k8s_push_images(t);
    if (json_array_size(secrets)) {
        kumo__target_cmd(t, "# store URLs with a password: OpenFaaS secrets, from your environment (never written)");
        kumo__target_require_secret_vars(t);
        for (size_t i = 0; i < t->nstores; i++) {
            if (!t->stores[i].secret)
                continue;
            char *name = faas_secret(t, &t->stores[i]);
            if (name == NULL)
                goto out;
            kumo__target_cmd(t,
                             "printf %%s \"$%s\" | faas-cli secret create %s --gateway %s 2>/dev/null || printf %%s "
                             "\"$%s\" | faas-cli secret update %s --gateway %s",
                             t->stores[i].var, name, kumo__target_sh_quote(t, gw), t->stores[i].var, name,
                             kumo__target_sh_quote(t, gw));
            free(name);
        }
    }
    if (t->nenv_secrets) {
        kumo__target_cmd(t, "# env: secrets: OpenFaaS secrets, computed here and piped to faas-cli (never written)");
        kumo__target_env_require(t);
        for (size_t i = 0; i < t->nunits; i++)
            for (size_t k = 0; k < t->units[i].nenv; k++) {
                const kumo__env_var *v = t->units[i].env[k].var;
                char *name = v->secret ? faas_env_secret(t, &t->units[i], v) : NULL;
                if (!v->secret)
                    continue;
                if (name == NULL)
                    goto out;
                const char *value = kumo__target_env_sh(t, v), *g = kumo__target_sh_quote(t, gw);
                kumo__target_cmd(t,
                                 "printf %%s %s | faas-cli secret create %s --gateway %s 2>/dev/null || printf %%s %s "
                                 "| faas-cli secret update %s --gateway %s",
                                 value, name, g, value, name, g);
                free(name);
            }
    }
    kumo__target_cmd(t, "faas-cli deploy -f %s", kumo__target_sh_quote(t, kumo__target_path(t, "stack.yml")));
    kumo__target_cmd(t, "# or, on a cluster run by the OpenFaaS operator: kubectl apply -f %s/function-UNIT.yaml",
                     kumo__target_sh_quote(t, t->out_dir));
    rc = 0;
out:
    if (rc == -ENOMEM)
        kumo__error_set(t->err, rc, "openfaas: out of memory");
    json_decref(functions);
    json_decref(secrets);
    json_decref(env);
    return rc;
}

/* ---- kubernetes ------------------------------------------------------------- */

/* A CronJob per schedule: its pod runs the unit's own image with
 * KUMO_FIRE=NAME, so kumo-host fires the event once and exits (no other
 * image); a failed tick is not retried (backoffLimit 0), as under kumo up. */
static int kubernetes_cronjobs(kumo__target_ctx *t)
{
    json_t *docs = json_array();
    for (size_t i = 0; docs && i < t->p->nevents; i++) {
        const kumo__event_decl *e = &t->p->events[i];
        char name[64], cron[KUMO__SCHEDULE_MAX + 16];
        const char *tz = NULL;
        if (e->kind != KUMO__EVENT_SCHEDULE || event_cron(e, cron, sizeof cron, &tz) == NULL)
            continue;
        event_resource(t, e, name, 52); /* a CronJob's name: at most 52 */
        const kumo__target_unit *u = &t->units[e->unit_index];
        json_t *ctr = container(t, u, 1);
        json_t *env = json_object_get(ctr, "env");
        size_t k = json_array_size(env);
        while (k-- > 0) /* the tick's pod consumes nothing */
            if (strcmp(json_string_value(json_object_get(json_array_get(env, k), "name")) ?: "", "KUMO_CONSUME") == 0)
                json_array_remove(env, k);
        json_array_append_new(env, json_pack("{s:s, s:s}", "name", "KUMO_FIRE", "value", e->name));
        json_object_del(ctr, "ports");
        json_t *job = json_pack(
            "{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:{s:s, s:s, s:s, s:{s:{s:i, s:i, s:{s:{s:s, s:[o]}}}}}}", "apiVersion",
            "batch/v1", "kind", "CronJob", "metadata", "name", name, "labels", "app.kubernetes.io/part-of", t->name,
            "app.kubernetes.io/managed-by", "kumo", "spec", "schedule", cron, "timeZone", tz, "concurrencyPolicy",
            e->overlap ? "Allow" : "Forbid", "jobTemplate", "spec", "backoffLimit", 0, "activeDeadlineSeconds",
            timeout_s(u->unit) + 60, "template", "spec", "restartPolicy", "Never", "containers", ctr);
        if (job && !e->missed_once) /* missed: skip: a tick more than a minute late is not started */
            json_object_set_new(json_object_get(job, "spec"), "startingDeadlineSeconds", json_integer(60));
        if (job == NULL || json_array_append_new(docs, job) < 0) {
            json_decref(docs);
            return kumo__spec_oom(t->err);
        }
    }
    if (docs == NULL)
        return kumo__spec_oom(t->err);
    if (json_array_size(docs) == 0) {
        json_decref(docs);
        return 0;
    }
    int rc = kumo__target_write_yaml(t, "events.yaml", docs, 1);
    if (rc < 0)
        return rc;
    kumo__target_cmd(t, "# events: a CronJob per schedule; each runs its unit's image with KUMO_FIRE=NAME (kumo-host "
                        "fires the event once and exits)");
    kumo__target_cmd(t, "kubectl apply -f %s", kumo__target_sh_quote(t, kumo__target_path(t, "events.yaml")));
    return 0;
}

static int kubernetes(kumo__target_ctx *t)
{
    if (t->o->destroy) {
        for (size_t i = 0; i < t->p->nevents; i++) {
            char name[64];
            event_resource(t, &t->p->events[i], name, 52);
            if (t->p->events[i].kind == KUMO__EVENT_SCHEDULE)
                kumo__target_cmd(t, "kubectl delete cronjob %s --ignore-not-found", name);
        }
        for (size_t i = 0; i < t->nunits; i++) {
            const char *n = t->units[i].name;
            kumo__target_cmd(t, "kubectl delete hpa/%s service/%s deployment/%s --ignore-not-found", n, n, n);
        }
        if (t->nsecrets)
            kumo__target_cmd(t, "kubectl delete secret %s --ignore-not-found", t->secret_name);
        if (t->nenv_secrets)
            kumo__target_cmd(t, "kubectl delete secret %s --ignore-not-found", t->env_secret);
        return 0;
    }
    kumo__target_k8s_push_images(t);
    kumo__target_k8s_secret(t, "");
    kumo__target_k8s_env_secret(t, "");
    consume_notes(t);
    kumo__target_cmd(t, "# per function unit: a Deployment, a Service and a HorizontalPodAutoscaler");
    for (size_t i = 0; i < t->nunits; i++) {
        const kumo__target_unit *u = &t->units[i];
        const kumo__tuning *tu = &u->unit->tuning;
        int min = tu->min > 1 ? tu->min : 1, max = tu->max > min ? tu->max : min;
        json_t *ctr = container(t, u, 1), *pod_meta = json_pack("{s:o}", "labels", labels(t, u));
        if (ctr)
            json_object_set_new(ctr, "readinessProbe", json_pack("{s:{s:i}}", "tcpSocket", "port", PORT));
        add_metrics_port(t, ctr, pod_meta);
        json_t *docs =
            json_pack("[{s:s, s:s, s:o, s:{s:i, s:{s:o}, s:{s:o, s:{s:[o]}}}},"
                      " {s:s, s:s, s:o, s:{s:o, s:[{s:s, s:i, s:i}]}},"
                      " {s:s, s:s, s:o, s:{s:{s:s, s:s, s:s}, s:i, s:i, s:[{s:s, s:{s:s, s:{s:s, s:i}}}]}}]",
                      "apiVersion", "apps/v1", "kind", "Deployment", "metadata", metadata(t, u), "spec", "replicas",
                      min, "selector", "matchLabels", json_pack("{s:s}", "app.kubernetes.io/name", u->name), "template",
                      "metadata", pod_meta, "spec", "containers", ctr,
                      /* Service */
                      "apiVersion", "v1", "kind", "Service", "metadata", metadata(t, u), "spec", "selector",
                      json_pack("{s:s}", "app.kubernetes.io/name", u->name), "ports", "name", "http", "port", 80,
                      "targetPort", PORT,
                      /* HorizontalPodAutoscaler */
                      "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler", "metadata", metadata(t, u),
                      "spec", "scaleTargetRef", "apiVersion", "apps/v1", "kind", "Deployment", "name", u->name,
                      "minReplicas", min, "maxReplicas", max, "metrics", "type", "Resource", "resource", "name", "cpu",
                      "target", "type", "Utilization", "averageUtilization", 70);
        char file[128];
        snprintf(file, sizeof file, "%s.yaml", u->unit->name);
        int rc = kumo__target_write_yaml(t, file, docs, 1);
        if (rc < 0)
            return rc;
        kumo__target_cmd(t, "kubectl apply -f %s", kumo__target_sh_quote(t, kumo__target_path(t, file)));
    }
    for (size_t i = 0; i < t->nunits; i++)
        kumo__target_cmd(t, "kubectl rollout status deployment/%s --timeout=300s", t->units[i].name);
    return kubernetes_cronjobs(t);
}

const kumo__target_driver kumo__target_knative = {1, "knative", "kubectl", 1, knative};
const kumo__target_driver kumo__target_openfaas = {1, "openfaas", "faas-cli", 1, openfaas};
const kumo__target_driver kumo__target_kubernetes = {1, "kubernetes", "kubectl", 1, kubernetes};
