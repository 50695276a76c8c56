/*
 * target_gcp.c: Google Cloud (see target.h). Each function unit is a
 * Cloud Run service, written as the Knative serving YAML `gcloud run
 * services replace` takes (service-UNIT.yaml): the unit's image in
 * Artifact Registry by digest, the unit's memory, timeout, concurrency
 * and scale bounds. In front of them one API Gateway whose config is the
 * project's OpenAPI converted to Swagger 2.0 (swagger2_write.c), each operation
 * sent by x-google-backend to the Cloud Run service of the unit that
 * serves it.
 *
 * A Cloud Run URL is known only once the service exists, so
 * api-config.yaml names it ${KUMO_URL_<UNIT>}; deploy.sh reads each URL
 * with `gcloud run services describe` and writes api-config.resolved.yaml.
 *
 * The project is $GOOGLE_CLOUD_PROJECT (else $CLOUDSDK_CORE_PROJECT); the
 * region --region, else the environment's region:, else
 * $CLOUDSDK_RUN_REGION, else us-central1. A store URL with a password is
 * a Secret Manager secret (one per store) referenced by secretKeyRef.
 *
 * A store the environment places nowhere is provisioned (the "stores"
 * section below): kv in the Firestore database kumo-<name>, one collection
 * per store, with a TTL policy on `expires`; blob in the bucket
 * kumo-<name>-<store>; queue and topic as the Pub/Sub topic
 * kumo-<name>-<store> (a queue also with the pull subscription, NAME-delay
 * and NAME-dead that src/sdk/stores/pubsub.c uses). Each service runs as
 * a service account of its own, granted only the roles on those resources,
 * and gets each store's URL as a plain env value (it names resources, it
 * holds no secret).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deploy/swagger2_write.h"
#include "deploy/target.h"
#include "openapi/docset.h"
#include "project/schedule.h"
#include "runtime/runtime.h"

static void url_var(const kumo__unit *u, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "KUMO_URL_");
    for (const char *s = u->name; *s && n + 1 < len; s++)
        buf[n++] = isalnum((unsigned char)*s) ? (char)toupper((unsigned char)*s) : '_';
    buf[n] = '\0';
}

static char *store_secret(const kumo__target_ctx *t, const kumo__target_store *s)
{
    char l[64], *out = NULL;
    if (asprintf(&out, "%s-%s", t->secret_name, kumo__target_dns_label(s->store, l, sizeof l)) < 0)
        return NULL;
    return out;
}

/* An env: secret of unit u in Secret Manager: <deployment>-env-<unit>-<NAME>
 * (letters, digits, '-' and '_'). */
static char *env_secret(const kumo__target_ctx *t, const kumo__target_unit *u, const kumo__env_var *v)
{
    char l[64], *out = NULL;
    if (asprintf(&out, "%s-%s-%s", t->env_secret, kumo__target_dns_label(u->unit->name, l, sizeof l), v->name) < 0)
        return NULL;
    return out;
}

static const char *env_or(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = b ? getenv(b) : NULL;
    return v && *v ? v : NULL;
}

static const char *kind_word(const kumo__event_decl *e)
{
    return e->kind == KUMO__EVENT_TOPIC ? "topic" : "queue";
}

static void warn_line(const char *line)
{
    fprintf(stderr, "kumo: %s\n", line);
}

/* ---- stores provisioned by deploy ------------------------------------------ */

static void res_name(const kumo__target_ctx *t, const char *part, char *buf, size_t len);

/* The service account id of unit u: 6 to 30 of [a-z0-9-], "k-" then the
 * service's name cut to fit, then 4 hex digits of the whole name (so two
 * long names cut alike still differ). */
static void sa_id(const kumo__target_unit *u, char *buf, size_t len)
{
    uint32_t h = 2166136261u;
    for (const char *c = u->name; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    char cut[24];
    snprintf(cut, sizeof cut, "%.21s", u->name);
    size_t n = strlen(cut);
    while (n && cut[n - 1] == '-')
        cut[--n] = '\0';
    snprintf(buf, len, "k-%s-%04x", cut, (unsigned)(h & 0xffff));
}

/* ID@PROJECT.iam.gserviceaccount.com, with PROJECT as given ("$PROJECT"
 * in the script, the project's id in files). */
static void sa_email(const kumo__target_unit *u, const char *project, char *buf, size_t len)
{
    char id[40];
    sa_id(u, id, sizeof id);
    snprintf(buf, len, "%s@%s.iam.gserviceaccount.com", id, project);
}

/* The Firestore database of the deployment's kv stores: kumo-<name>. */
static void fs_database(const kumo__target_ctx *t, char *buf, size_t len)
{
    snprintf(buf, len, "kumo-%s", t->name);
}

/* The URL a provisioned store gets (the names src/sdk/stores/firestore.c,
 * gcs.c and pubsub.c take), into buf. */
static void provisioned_url(const kumo__target_ctx *t, const kumo__target_store *s, const char *project, char *buf,
                            size_t len)
{
    char name[300], db[64];
    res_name(t, s->store, name, sizeof name);
    if (strcmp(s->kind, "kv") == 0) {
        fs_database(t, db, sizeof db);
        snprintf(buf, len, "firestore://%s?project=%s&database=%s", s->store, project, db);
    } else if (strcmp(s->kind, "blob") == 0) {
        snprintf(buf, len, "gs://%s", name);
    } else {
        /* a queue's dead letters after max_receives: the count an events:
         * consumer of it asks for, else the driver's default */
        unsigned max = 5;
        for (size_t i = 0; i < t->p->nevents; i++)
            if (t->p->events[i].kind == KUMO__EVENT_QUEUE && t->p->events[i].queue &&
                strcmp(t->p->events[i].queue, s->store) == 0)
                max = t->p->events[i].max_receives;
        if (strcmp(s->kind, "queue") == 0)
            snprintf(buf, len, "pubsub://%s?project=%s&max_receives=%u", name, project, max);
        else
            snprintf(buf, len, "pubsub://%s?project=%s", name, project);
    }
}

/* Gives every provisioned store its URL (malloc'd; provisioned_free). */
static int provisioned_urls(kumo__target_ctx *t, const char *project)
{
    for (size_t i = 0; i < t->nstores; i++) {
        kumo__target_store *s = &t->stores[i];
        if (!s->provisioned)
            continue;
        char url[1024];
        provisioned_url(t, s, project, url, sizeof url);
        if ((s->url = strdup(url)) == NULL)
            return kumo__spec_oom(t->err);
    }
    return 0;
}

static void provisioned_free(kumo__target_ctx *t)
{
    for (size_t i = 0; i < t->nstores; i++)
        if (t->stores[i].provisioned) {
            free((char *)t->stores[i].url);
            t->stores[i].url = NULL;
        }
}

/* The commands that make the provisioned stores and each service's
 * account with the roles on them. */
static void gcp_provision(kumo__target_ctx *t)
{
    int kv = 0, blob = 0, ps = 0;
    for (size_t i = 0; i < t->nstores; i++) {
        const kumo__target_store *s = &t->stores[i];
        kv |= s->provisioned && strcmp(s->kind, "kv") == 0;
        blob |= s->provisioned && strcmp(s->kind, "blob") == 0;
        ps |= s->provisioned && (strcmp(s->kind, "queue") == 0 || strcmp(s->kind, "topic") == 0);
    }
    kumo__target_cmd(t, "# each service runs as a service account of its own, granted only what its stores need");
    kumo__target_cmd(t, "gcloud services enable iam.googleapis.com%s%s%s --project=\"$PROJECT\"",
                     kv ? " firestore.googleapis.com" : "", blob ? " storage.googleapis.com" : "",
                     ps ? " pubsub.googleapis.com" : "");
    for (size_t i = 0; i < t->nunits; i++) {
        char id[40], email[200];
        sa_id(&t->units[i], id, sizeof id);
        sa_email(&t->units[i], "$PROJECT", email, sizeof email);
        kumo__target_cmd(t,
                         "gcloud iam service-accounts describe \"%s\" --project=\"$PROJECT\" >/dev/null 2>&1 || "
                         "gcloud iam service-accounts create %s --display-name=\"kumo %s\" --project=\"$PROJECT\"",
                         email, id, t->units[i].name);
    }
    if (kv) {
        char db[64];
        fs_database(t, db, sizeof db);
        kumo__target_cmd(t, "# kv stores: collections of the Firestore database %s (Native mode)", db);
        kumo__target_cmd(t,
                         "gcloud firestore databases describe --database=%s --project=\"$PROJECT\" >/dev/null 2>&1 "
                         "|| gcloud firestore databases create --database=%s --location=\"$REGION\" "
                         "--type=firestore-native --project=\"$PROJECT\"",
                         db, db);
        for (size_t i = 0; i < t->nstores; i++) {
            const kumo__target_store *s = &t->stores[i];
            if (s->provisioned && strcmp(s->kind, "kv") == 0)
                kumo__target_cmd(t,
                                 "gcloud firestore fields ttls update expires --collection-group=%s --enable-ttl "
                                 "--database=%s --project=\"$PROJECT\" --async --quiet",
                                 kumo__target_sh_quote(t, s->store), db);
        }
        for (size_t i = 0; i < t->nunits; i++) {
            char email[200];
            sa_email(&t->units[i], "$PROJECT", email, sizeof email);
            kumo__target_cmd(t,
                             "gcloud projects add-iam-policy-binding \"$PROJECT\" --member=\"serviceAccount:%s\" "
                             "--role=roles/datastore.user --condition=\"expression=resource.name=='projects/"
                             "$PROJECT/databases/%s',title=%s\" >/dev/null",
                             email, db, db);
        }
    }
    for (size_t i = 0; i < t->nstores; i++) {
        const kumo__target_store *s = &t->stores[i];
        char name[300];
        if (!s->provisioned || strcmp(s->kind, "kv") == 0)
            continue;
        res_name(t, s->store, name, sizeof name);
        if (strcmp(s->kind, "blob") == 0) {
            kumo__target_cmd(t, "# blob store %s: the Cloud Storage bucket %s", s->store, name);
            kumo__target_cmd(t,
                             "gcloud storage buckets describe gs://%s --project=\"$PROJECT\" >/dev/null 2>&1 || "
                             "gcloud storage buckets create gs://%s --location=\"$REGION\" "
                             "--uniform-bucket-level-access --public-access-prevention --project=\"$PROJECT\"",
                             name, name);
            for (size_t k = 0; k < t->nunits; k++) {
                char email[200];
                sa_email(&t->units[k], "$PROJECT", email, sizeof email);
                kumo__target_cmd(t,
                                 "gcloud storage buckets add-iam-policy-binding gs://%s "
                                 "--member=\"serviceAccount:%s\" --role=roles/storage.objectUser >/dev/null",
                                 name, email);
            }
            continue;
        }
        int queue = strcmp(s->kind, "queue") == 0;
        if (!queue) {
            kumo__target_cmd(t, "# topic store %s: the Pub/Sub topic %s (its events: add their subscriptions)",
                             s->store, name);
            kumo__target_cmd(t,
                             "gcloud pubsub topics describe %s --project=\"$PROJECT\" >/dev/null 2>&1 || gcloud "
                             "pubsub topics create %s --project=\"$PROJECT\"",
                             name, name);
            for (size_t k = 0; k < t->nunits; k++) {
                char email[200];
                sa_email(&t->units[k], "$PROJECT", email, sizeof email);
                kumo__target_cmd(t,
                                 "gcloud pubsub topics add-iam-policy-binding %s --member=\"serviceAccount:%s\" "
                                 "--role=roles/pubsub.publisher --project=\"$PROJECT\" >/dev/null",
                                 name, email);
            }
            continue;
        }
        /* a queue: topic and pull subscription NAME, dead letters to NAME-dead
         * after 100 attempts (Pub/Sub's most; the driver applies max_receives
         * itself), delayed sends wait in NAME-delay */
        kumo__target_cmd(t,
                         "# queue store %s: the Pub/Sub topic and pull subscription %s, with %s-delay (delayed sends) "
                         "and %s-dead (dead letters)",
                         s->store, name, name, name);
        kumo__target_cmd(
            t, "PUBSUB_AGENT=\"serviceAccount:service-$PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com\"");
        static const char *const parts[] = {"-dead", "-delay", ""};
        for (size_t j = 0; j < 3; j++) {
            kumo__target_cmd(t,
                             "gcloud pubsub topics describe %s%s --project=\"$PROJECT\" >/dev/null 2>&1 || gcloud "
                             "pubsub topics create %s%s --project=\"$PROJECT\"",
                             name, parts[j], name, parts[j]);
            kumo__target_cmd(t,
                             "gcloud pubsub subscriptions describe %s%s --project=\"$PROJECT\" >/dev/null 2>&1 || "
                             "gcloud pubsub subscriptions create %s%s --topic=%s%s --ack-deadline=30%s%s%s "
                             "--project=\"$PROJECT\"",
                             name, parts[j], name, parts[j], name, parts[j], j == 2 ? " --dead-letter-topic=" : "",
                             j == 2 ? name : "", j == 2 ? "-dead --max-delivery-attempts=100" : "");
            for (size_t k = 0; k < t->nunits; k++) {
                char email[200];
                sa_email(&t->units[k], "$PROJECT", email, sizeof email);
                kumo__target_cmd(t,
                                 "gcloud pubsub topics add-iam-policy-binding %s%s --member=\"serviceAccount:%s\" "
                                 "--role=roles/pubsub.publisher --project=\"$PROJECT\" >/dev/null",
                                 name, parts[j], email);
                kumo__target_cmd(t,
                                 "gcloud pubsub subscriptions add-iam-policy-binding %s%s "
                                 "--member=\"serviceAccount:%s\" --role=roles/pubsub.subscriber "
                                 "--project=\"$PROJECT\" >/dev/null",
                                 name, parts[j], email);
            }
        }
        /* Pub/Sub's own agent moves dead letters: it publishes to NAME-dead and acks on NAME */
        kumo__target_cmd(t,
                         "gcloud pubsub topics add-iam-policy-binding %s-dead --member=\"$PUBSUB_AGENT\" "
                         "--role=roles/pubsub.publisher --project=\"$PROJECT\" >/dev/null",
                         name);
        kumo__target_cmd(t,
                         "gcloud pubsub subscriptions add-iam-policy-binding %s --member=\"$PUBSUB_AGENT\" "
                         "--role=roles/pubsub.subscriber --project=\"$PROJECT\" >/dev/null",
                         name);
    }
}

/* The Cloud Run service of unit u. */
static json_t *service(kumo__target_ctx *t, const kumo__target_unit *u, const char *image, const char *region,
                       const char *project)
{
    char email[200];
    sa_email(u, project, email, sizeof email);
    const kumo__tuning *tu = &u->unit->tuning;
    char min[16], max[16], mem[32];
    snprintf(min, sizeof min, "%d", tu->min);
    snprintf(max, sizeof max, "%d", tu->max > 0 ? tu->max : 1);
    json_t *env = json_array();
    for (size_t i = 0; env && i < t->nstores; i++) {
        const kumo__target_store *s = &t->stores[i];
        if (s->secret) {
            char *name = store_secret(t, s);
            json_array_append_new(env, name ? json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", s->var, "valueFrom",
                                                        "secretKeyRef", "name", name, "key", "latest")
                                            : NULL);
            free(name);
        } else if (s->url) {
            json_array_append_new(env, json_pack("{s:s, s:s}", "name", s->var, "value", s->url));
        }
    }
    /* env: plain values as they are, secrets from Secret Manager */
    for (size_t i = 0; env && i < u->nenv; i++) {
        const kumo__env_var *v = u->env[i].var;
        char *name = v->secret ? env_secret(t, u, v) : NULL;
        json_array_append_new(env, !v->secret ? json_pack("{s:s, s:s}", "name", v->name, "value", v->value)
                                   : name     ? json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", v->name, "valueFrom",
                                                          "secretKeyRef", "name", name, "key", "latest")
                                              : NULL);
        free(name);
    }
    json_t *limits = json_pack("{s:s}", "cpu", "1");
    if (kumo__target_mem_quantity(tu->memory, mem, sizeof mem))
        json_object_set_new(limits, "memory", json_string(mem));
    double ts = tu->timeout_s;
    int timeout = (int)ts < ts ? (int)ts + 1 : (int)ts;
    return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}, s:{s:s}}, s:{s:{s:{s:{s:s, s:s}}, s:{s:s, s:i, s:i, "
                     "s:[{s:s, s:[{s:s, s:i}], s:o, s:{s:o}}]}}}}",
                     "apiVersion", "serving.knative.dev/v1", "kind", "Service", "metadata", "name", u->name, "labels",
                     "cloud.googleapis.com/location", region, "app.kubernetes.io/part-of", t->name, "annotations",
                     "run.googleapis.com/ingress", "all", "spec", "template", "metadata", "annotations",
                     "autoscaling.knative.dev/minScale", min, "autoscaling.knative.dev/maxScale", max, "spec",
                     "serviceAccountName", email, "containerConcurrency", tu->concurrency > 0 ? tu->concurrency : 1,
                     "timeoutSeconds", timeout > 0 ? timeout : 1, "containers", "image", image, "ports", "name",
                     "http1", "containerPort", 8080, "env", env, "resources", "limits", limits);
}

/* Which unit serves each operation: all of them when there is one unit,
 * else bound as kumo up binds them (by x-kumo-handler or by symbol). */
static int bind(kumo__target_ctx *t)
{
    int rc = kumo__spec_load(t->p->api_path, &t->spec, t->err);
    if (rc < 0)
        return rc;
    if (t->p->nunits == 1) {
        for (size_t i = 0; i < t->spec->nops; i++)
            t->spec->ops[i].unit_index = 0;
        return 0;
    }
    int built = 0;
    if ((rc = kumo__build_units(t->p, &built, t->err)) < 0)
        return rc;
    return kumo__bind_operations(t->p, t->spec, warn_line, t->err);
}

/* operationId for an operation without one: API Gateway requires it. */
static void make_op_id(const char *method, const char *path, char *buf, size_t len)
{
    size_t n = 0;
    for (const char *s = method; *s && n + 1 < len; s++)
        buf[n++] = (char)tolower((unsigned char)*s);
    int up = 1;
    for (const char *s = path; *s && n + 1 < len; s++) {
        if (!isalnum((unsigned char)*s)) {
            up = 1;
            continue;
        }
        buf[n++] = up ? (char)toupper((unsigned char)*s) : *s;
        up = 0;
    }
    buf[n] = '\0';
}

/* Adds x-google-backend to every operation of the Swagger 2.0 document;
 * operations no unit serves are left out (with a note). */
static int backends(kumo__target_ctx *t, json_t *sw)
{
    static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", NULL};
    json_t *paths = json_object_get(sw, "paths");
    const char *path;
    json_t *item;
    void *tmp;
    json_object_foreach_safe(paths, tmp, path, item)
    {
        if (strncmp(path, "x-", 2) == 0)
            continue;
        int left = 0;
        for (int m = 0; methods[m]; m++) {
            json_t *op = json_object_get(item, methods[m]);
            if (op == NULL)
                continue;
            const kumo__operation *kop = NULL;
            for (size_t i = 0; i < t->spec->nops; i++) {
                if (strcasecmp(t->spec->ops[i].method, methods[m]) == 0 && strcmp(t->spec->ops[i].path, path) == 0)
                    kop = &t->spec->ops[i];
            }
            if (kop == NULL || kop->unit_index < 0 || (size_t)kop->unit_index >= t->nunits) {
                kumo__target_note(t, "%s %s is served by no function unit; the gateway leaves it out", methods[m],
                                  path);
                json_object_del(item, methods[m]);
                continue;
            }
            const kumo__unit *u = t->units[kop->unit_index].unit;
            char var[128], addr[160];
            url_var(u, var, sizeof var);
            snprintf(addr, sizeof addr, "${%s}", var);
            double deadline = u->tuning.timeout_s > 0 ? u->tuning.timeout_s : 15;
            json_t *b = json_pack("{s:s, s:s, s:f}", "address", addr, "path_translation", "APPEND_PATH_TO_ADDRESS",
                                  "deadline", deadline);
            if (b == NULL || json_object_set_new(op, "x-google-backend", b) < 0)
                return -ENOMEM;
            if (!json_is_string(json_object_get(op, "operationId"))) {
                char id[256];
                make_op_id(methods[m], path, id, sizeof id);
                json_object_set_new(op, "operationId", json_string(id));
            }
            left++;
        }
        if (!left)
            json_object_del(paths, path);
    }
    return 0;
}

/* ---- events ------------------------------------------------------------------- */

/* A Pub/Sub or Scheduler resource name: kumo-<deployment>-<part> with
 * characters outside [a-z0-9-] made '-'. */
static void res_name(const kumo__target_ctx *t, const char *part, char *buf, size_t len)
{
    char l[200];
    snprintf(buf, len, "kumo-%s-%s", t->name, kumo__target_dns_label(part, l, sizeof l));
}

static unsigned secs_up(uint64_t ms)
{
    return (unsigned)((ms + 999) / 1000);
}

/* The store a queue/topic event reads: its Pub/Sub topic is
 * kumo-<name>-<store>; the dead letters of a queue event go to
 * kumo-<name>-<queue>-dead (as NAME-dead under kumo up), a topic event's
 * to kumo-<name>-<topic>-<event>-dead (TOPIC.EVENT-dead). */
static void pubsub_names(const kumo__target_ctx *t, const kumo__event_decl *e, char *topic, char *dead, char *sub,
                         size_t len)
{
    char part[300];
    const char *store = e->kind == KUMO__EVENT_TOPIC ? e->topic : e->queue;
    res_name(t, store ? store : "", topic, len);
    if (e->kind == KUMO__EVENT_TOPIC)
        snprintf(part, sizeof part, "%s-%s-dead", store ? store : "", e->name);
    else
        snprintf(part, sizeof part, "%s-dead", store ? store : "");
    res_name(t, part, dead, len);
    res_name(t, e->name, sub, len);
}

/* Whether deploy makes store `name` (so its events read what it holds). */
static int store_provisioned(const kumo__target_ctx *t, const char *name)
{
    for (size_t i = 0; name && i < t->nstores; i++)
        if (strcmp(t->stores[i].store, name) == 0)
            return t->stores[i].provisioned;
    return 0;
}

/* Cloud Scheduler jobs, Pub/Sub push subscriptions and Eventarc triggers:
 * each pushes to the event's unit at /_kumo/events/NAME (kumo-host's
 * src/host/events.c) with an OIDC token of `sa`, which may invoke the
 * services. Run after the services exist and their URLs are read. */
static void gcp_events(kumo__target_ctx *t, const char *sa)
{
    const kumo__project *p = t->p;
    int sched = 0, ps = 0, blob = 0;
    for (size_t i = 0; i < p->nevents; i++) {
        sched |= p->events[i].kind == KUMO__EVENT_SCHEDULE;
        ps |= p->events[i].kind == KUMO__EVENT_QUEUE || p->events[i].kind == KUMO__EVENT_TOPIC;
        blob |= p->events[i].kind == KUMO__EVENT_BLOB;
    }
    if (!sched && !ps && !blob && p->nevents == 0)
        return;
    kumo__target_cmd(t, "# events: each pushes to its unit's service at %sNAME with an OIDC token of %s",
                     KUMO__TARGET_EVENTS_PATH, sa);
    if (sched || ps || blob)
        kumo__target_cmd(t, "gcloud services enable%s%s%s --project=\"$PROJECT\"",
                         sched ? " cloudscheduler.googleapis.com" : "", ps || blob ? " pubsub.googleapis.com" : "",
                         blob ? " eventarc.googleapis.com storage.googleapis.com" : "");
    if (ps)
        kumo__target_cmd(
            t, "PUBSUB_AGENT=\"serviceAccount:service-$PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com\"");
    if (blob) {
        kumo__target_cmd(t,
                         "gcloud projects add-iam-policy-binding \"$PROJECT\" --member=\"serviceAccount:%s\" "
                         "--role=roles/eventarc.eventReceiver --condition=None >/dev/null",
                         sa);
        kumo__target_cmd(t, "GCS_AGENT=\"serviceAccount:$(gcloud storage service-agent --project=\"$PROJECT\")\"");
        kumo__target_cmd(t, "gcloud projects add-iam-policy-binding \"$PROJECT\" --member=\"$GCS_AGENT\" "
                            "--role=roles/pubsub.publisher --condition=None >/dev/null");
    }
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        const kumo__target_unit *u = &t->units[e->unit_index];
        char var[128], name[300], cron[KUMO__SCHEDULE_MAX + 16];
        url_var(u->unit, var, sizeof var);
        switch (e->kind) {
        case KUMO__EVENT_SCHEDULE: {
            int utc = 0;
            const char *why = NULL;
            if (kumo__target_cron(e, 0, cron, sizeof cron, &utc, &why) < 0)
                break; /* refused before (kumo__target_check_events) */
            res_name(t, e->name, name, sizeof name);
            const char *tz = utc || e->timezone == NULL ? "UTC" : e->timezone;
            char uri[400];
            snprintf(uri, sizeof uri, "\"$%s%s%s\"", var, KUMO__TARGET_EVENTS_PATH, e->name);
            int deadline = (int)u->unit->tuning.timeout_s + 1;
            if (deadline < 15)
                deadline = 15;
            if (deadline > 1800)
                deadline = 1800;
            kumo__target_cmd(t, "# events.%s: schedule %s (%s), a Cloud Scheduler job", e->name, cron, tz);
            kumo__target_cmd(t,
                             "if gcloud scheduler jobs describe %s --location=\"$REGION\" --project=\"$PROJECT\" "
                             ">/dev/null 2>&1; then JOB=update; else JOB=create; fi",
                             name);
            kumo__target_cmd(t,
                             "gcloud scheduler jobs \"$JOB\" http %s --location=\"$REGION\" --project=\"$PROJECT\" "
                             "--schedule=%s --time-zone=%s --uri=%s --http-method=POST --attempt-deadline=%ds "
                             "--oidc-service-account-email=\"%s\" --oidc-token-audience=\"$%s\"",
                             name, kumo__target_sh_quote(t, cron), kumo__target_sh_quote(t, tz), uri, deadline, sa,
                             var);
            if (!e->overlap)
                kumo__target_note(t,
                                  "events.%s: Cloud Scheduler starts each tick whether the previous run is still going "
                                  "or not (overlap: false is not enforced there); keep the handler shorter than the "
                                  "interval",
                                  e->name);
            break;
        }
        case KUMO__EVENT_QUEUE:
        case KUMO__EVENT_TOPIC: {
            char topic[300], dead[300], sub[300], push[400];
            pubsub_names(t, e, topic, dead, sub, sizeof topic);
            snprintf(push, sizeof push, "\"$%s%s%s\"", var, KUMO__TARGET_EVENTS_PATH, e->name);
            unsigned ack = secs_up(e->visibility_ms);
            if (ack < 10)
                ack = 10;
            unsigned min_delay = secs_up(e->backoff_ms);
            if (min_delay > 600)
                min_delay = 600;
            kumo__target_cmd(t, "# events.%s: %s %s, a Pub/Sub push subscription (dead letters: %s)", e->name,
                             kind_word(e), e->kind == KUMO__EVENT_TOPIC ? e->topic : e->queue, dead);
            kumo__target_cmd(t,
                             "gcloud pubsub topics describe %s --project=\"$PROJECT\" >/dev/null 2>&1 || gcloud pubsub "
                             "topics create %s --project=\"$PROJECT\"",
                             topic, topic);
            kumo__target_cmd(t,
                             "gcloud pubsub topics describe %s --project=\"$PROJECT\" >/dev/null 2>&1 || gcloud pubsub "
                             "topics create %s --project=\"$PROJECT\"",
                             dead, dead);
            kumo__target_cmd(t,
                             "gcloud pubsub subscriptions describe %s-sub --project=\"$PROJECT\" >/dev/null 2>&1 || "
                             "gcloud pubsub subscriptions create %s-sub --topic=%s --project=\"$PROJECT\"",
                             dead, dead, dead);
            kumo__target_cmd(t,
                             "if gcloud pubsub subscriptions describe %s --project=\"$PROJECT\" >/dev/null 2>&1; then "
                             "SUB=\"update %s\"; else SUB=\"create %s --topic=%s\"; fi",
                             sub, sub, sub, topic);
            kumo__target_cmd(t,
                             "gcloud pubsub subscriptions $SUB --project=\"$PROJECT\" --push-endpoint=%s "
                             "--push-auth-service-account=\"%s\" --ack-deadline=%u --dead-letter-topic=%s "
                             "--max-delivery-attempts=%u --min-retry-delay=%us --max-retry-delay=300s",
                             push, sa, ack, dead, e->max_receives, min_delay);
            kumo__target_cmd(t,
                             "gcloud pubsub topics add-iam-policy-binding %s --member=\"$PUBSUB_AGENT\" "
                             "--role=roles/pubsub.publisher --project=\"$PROJECT\" >/dev/null",
                             dead);
            kumo__target_cmd(t,
                             "gcloud pubsub subscriptions add-iam-policy-binding %s --member=\"$PUBSUB_AGENT\" "
                             "--role=roles/pubsub.subscriber --project=\"$PROJECT\" >/dev/null",
                             sub);
            if (!store_provisioned(t, e->kind == KUMO__EVENT_TOPIC ? e->topic : e->queue))
                kumo__target_note(t,
                                  "events.%s: the Pub/Sub topic %s feeds it; store '%s' is not made by deploy here (it "
                                  "has a URL, or is embedded), so kumo_%s_%s to it does not reach this subscription "
                                  "(a store placed nowhere would be this topic)",
                                  e->name, topic, e->kind == KUMO__EVENT_TOPIC ? e->topic : e->queue,
                                  e->kind == KUMO__EVENT_TOPIC ? "topic" : "queue",
                                  e->kind == KUMO__EVENT_TOPIC ? "publish" : "send");
            if (e->batch > 1 || e->window_ms > 0)
                kumo__target_note(t,
                                  "events.%s: a Pub/Sub push delivers one message per request, so each call carries "
                                  "one message (batch: %u and window: are upper bounds there)",
                                  e->name, e->batch);
            break;
        }
        case KUMO__EVENT_BLOB: {
            char bucket[300];
            res_name(t, e->blob ? e->blob : "", bucket, sizeof bucket);
            kumo__target_cmd(t, "# events.%s: blob %s, Eventarc triggers on the Cloud Storage bucket %s", e->name,
                             e->blob, bucket);
            kumo__target_cmd(t,
                             "gcloud storage buckets describe gs://%s --project=\"$PROJECT\" >/dev/null 2>&1 || "
                             "gcloud storage buckets create gs://%s --location=\"$REGION\" --project=\"$PROJECT\"",
                             bucket, bucket);
            static const struct {
                unsigned bit;
                const char *word, *type;
            } kinds[] = {{KUMO__BLOB_CREATED, "created", "google.cloud.storage.object.v1.finalized"},
                         {KUMO__BLOB_DELETED, "deleted", "google.cloud.storage.object.v1.deleted"}};
            for (size_t k = 0; k < 2; k++) {
                if (!(e->on & kinds[k].bit))
                    continue;
                char trig[300], part[200];
                snprintf(part, sizeof part, "%s-%s", e->name, kinds[k].word);
                res_name(t, part, trig, sizeof trig);
                kumo__target_cmd(t,
                                 "gcloud eventarc triggers describe %s --location=\"$REGION\" --project=\"$PROJECT\" "
                                 ">/dev/null 2>&1 || gcloud eventarc triggers create %s --location=\"$REGION\" "
                                 "--project=\"$PROJECT\" --destination-run-service=%s "
                                 "--destination-run-region=\"$REGION\" --destination-run-path=%s%s "
                                 "--event-filters=type=%s --event-filters=bucket=%s --service-account=\"%s\"",
                                 trig, trig, u->name, KUMO__TARGET_EVENTS_PATH, e->name, kinds[k].type, bucket, sa);
            }
            if (e->prefix || e->suffix)
                kumo__target_note(t,
                                  "events.%s: Eventarc filters Cloud Storage events by bucket only, so kumo-host "
                                  "applies prefix:/suffix: when an event arrives (others are answered 204 and not "
                                  "delivered)",
                                  e->name);
            if (!store_provisioned(t, e->blob))
                kumo__target_note(t,
                                  "events.%s: the bucket %s feeds it; store '%s' is not made by deploy here (it has a "
                                  "URL, or is embedded), so kumo_blob_put to it does not write to this bucket (a store "
                                  "placed nowhere would be this bucket)",
                                  e->name, bucket, e->blob);
            break;
        }
        case KUMO__EVENT_CLOUDEVENT:
            kumo__target_note(t,
                              "events.%s: CloudEvents of type %s reach it when POSTed (binary or structured mode) to "
                              "the service %s at %s%s, with a token that may invoke it",
                              e->name, e->ce_type, u->name, KUMO__TARGET_EVENTS_PATH, e->name);
            break;
        }
    }
}

/* What gcp_provision made: the service accounts and their bindings always;
 * the Firestore database, the buckets (with every object) and the Pub/Sub
 * topics and subscriptions unless --keep-data (kumo destroy asked first). */
static void gcp_destroy_stores(kumo__target_ctx *t, const char *P)
{
    int kv = 0;
    for (size_t i = 0; i < t->nstores; i++)
        kv |= t->stores[i].provisioned && strcmp(t->stores[i].kind, "kv") == 0;
    for (size_t i = 0; i < t->nunits; i++) {
        char email[200];
        sa_email(&t->units[i], "$PROJECT", email, sizeof email);
        if (kv)
            kumo__target_cmd(t,
                             "gcloud projects remove-iam-policy-binding \"$PROJECT\" --member=\"serviceAccount:%s\" "
                             "--role=roles/datastore.user --all >/dev/null || true",
                             email);
        kumo__target_cmd(t, "gcloud iam service-accounts delete \"%s\" --project=\"$PROJECT\" --quiet || true", email);
    }
    for (size_t i = 0; i < t->nstores; i++) {
        const kumo__target_store *s = &t->stores[i];
        char name[300], db[64];
        if (!s->provisioned)
            continue;
        res_name(t, s->store, name, sizeof name);
        fs_database(t, db, sizeof db);
        if (t->o->keep_data) {
            kumo__target_cmd(t, "# kept (--keep-data): %s store %s, %s %s", s->kind, s->store,
                             strcmp(s->kind, "kv") == 0     ? "the collection of the Firestore database"
                             : strcmp(s->kind, "blob") == 0 ? "the bucket"
                                                            : "the Pub/Sub topic",
                             strcmp(s->kind, "kv") == 0 ? db : name);
            continue;
        }
        if (strcmp(s->kind, "kv") == 0) {
            if (kv == 1) /* one database holds every kv store */
                kumo__target_cmd(t, "gcloud firestore databases delete --database=%s --project=%s --quiet || true", db,
                                 P);
            kv = 2;
        } else if (strcmp(s->kind, "blob") == 0) {
            kumo__target_cmd(t, "gcloud storage rm --recursive gs://%s --quiet || true", name);
        } else if (strcmp(s->kind, "queue") == 0) {
            static const char *const parts[] = {"", "-delay", "-dead"};
            for (size_t j = 0; j < 3; j++)
                kumo__target_cmd(t, "gcloud pubsub subscriptions delete %s%s --project=%s --quiet || true", name,
                                 parts[j], P);
            for (size_t j = 0; j < 3; j++)
                kumo__target_cmd(t, "gcloud pubsub topics delete %s%s --project=%s --quiet || true", name, parts[j], P);
        } else {
            kumo__target_cmd(t, "gcloud pubsub topics delete %s --project=%s --quiet || true", name, P);
        }
    }
}

/* kumo deploy --destroy: the commands that remove what gcp_deploy made. */
static int gcp_destroy(kumo__target_ctx *t, const char *P, const char *R)
{
    kumo__target_cmd(t, "gcloud api-gateway gateways delete %s --location=%s --project=%s --quiet || true", t->name, R,
                     P);
    kumo__target_cmd(t,
                     "for c in $(gcloud api-gateway api-configs list --api=%s --project=%s "
                     "--format='value(name.basename())'); do gcloud api-gateway api-configs delete \"$c\" --api=%s "
                     "--project=%s --quiet; done",
                     t->name, P, t->name, P);
    kumo__target_cmd(t, "gcloud api-gateway apis delete %s --project=%s --quiet || true", t->name, P);
    for (size_t i = 0; i < t->p->nevents; i++) {
        const kumo__event_decl *e = &t->p->events[i];
        char name[300], topic[300], dead[300], sub[300], part[200];
        if (e->kind == KUMO__EVENT_SCHEDULE) {
            res_name(t, e->name, name, sizeof name);
            kumo__target_cmd(t, "gcloud scheduler jobs delete %s --location=%s --project=%s --quiet || true", name, R,
                             P);
        } else if (e->kind == KUMO__EVENT_QUEUE || e->kind == KUMO__EVENT_TOPIC) {
            pubsub_names(t, e, topic, dead, sub, sizeof topic);
            kumo__target_cmd(t, "gcloud pubsub subscriptions delete %s --project=%s --quiet || true", sub, P);
            if (store_provisioned(t, e->kind == KUMO__EVENT_TOPIC ? e->topic : e->queue) && !t->o->keep_data) {
                /* the store's topic goes with the store (gcp_destroy_stores) */
                kumo__target_cmd(t, "gcloud pubsub subscriptions delete %s-sub --project=%s --quiet || true", dead, P);
                if (e->kind == KUMO__EVENT_TOPIC)
                    kumo__target_cmd(t, "gcloud pubsub topics delete %s --project=%s --quiet || true", dead, P);
            } else {
                kumo__target_cmd(t,
                                 "# kept: the topics %s and %s and the subscription %s-sub (messages and dead "
                                 "letters); delete them with gcloud pubsub topics delete",
                                 topic, dead, dead);
            }
        } else if (e->kind == KUMO__EVENT_BLOB) {
            for (int k = 0; k < 2; k++) {
                snprintf(part, sizeof part, "%s-%s", e->name, k ? "deleted" : "created");
                res_name(t, part, name, sizeof name);
                if (e->on & (k ? KUMO__BLOB_DELETED : KUMO__BLOB_CREATED))
                    kumo__target_cmd(t, "gcloud eventarc triggers delete %s --location=%s --project=%s --quiet || true",
                                     name, R, P);
            }
        }
    }
    for (size_t i = 0; i < t->nunits; i++)
        kumo__target_cmd(t, "gcloud run services delete %s --region=%s --project=%s --quiet", t->units[i].name, R, P);
    kumo__target_cmd(t, "PROJECT=%s", P);
    gcp_destroy_stores(t, P);
    for (size_t i = 0; i < t->nstores; i++) {
        char *s = t->stores[i].secret ? store_secret(t, &t->stores[i]) : NULL;
        if (s)
            kumo__target_cmd(t, "gcloud secrets delete %s --project=%s --quiet || true", s, P);
        free(s);
    }
    for (size_t i = 0; i < t->nunits; i++)
        for (size_t k = 0; k < t->units[i].nenv; k++) {
            char *s = t->units[i].env[k].var->secret ? env_secret(t, &t->units[i], t->units[i].env[k].var) : NULL;
            if (s)
                kumo__target_cmd(t, "gcloud secrets delete %s --project=%s --quiet || true", s, P);
            free(s);
        }
    return 0;
}

/* Secret s may be read by every service's own account (what Cloud Run
 * reads a secretKeyRef as). */
static void secret_readers(kumo__target_ctx *t, const char *s)
{
    for (size_t i = 0; i < t->nunits; i++) {
        char email[200];
        sa_email(&t->units[i], "$PROJECT", email, sizeof email);
        kumo__target_cmd(t,
                         "gcloud secrets add-iam-policy-binding %s --member=\"serviceAccount:%s\" "
                         "--role=roles/secretmanager.secretAccessor --project=\"$PROJECT\" >/dev/null",
                         s, email);
    }
}

/* The files (Cloud Run services, the API Gateway config) and the commands
 * that push the images and apply them. */
static int gcp_deploy(kumo__target_ctx *t, const char *project, const char *region, const char *P, const char *R,
                      const char *sa)
{
    int rc = bind(t);
    if (rc < 0)
        return rc;
    kumo__target_one_port_note(t, "Cloud Run");
    /* the API Gateway config */
    json_t *sw = NULL;
    if ((rc = kumo__swagger2_convert(t->p->api_path, &sw, t->err)) < 0) {
        kumo__error_wrap(t->err, "gcp: API Gateway takes Swagger 2.0");
        return rc;
    }
    if ((rc = backends(t, sw)) < 0) {
        json_decref(sw);
        return kumo__spec_oom(t->err);
    }
    if ((rc = kumo__target_write_yaml(t, "api-config.yaml", sw, 0)) < 0)
        return rc;
    /* the services */
    kumo__target_cmd(t, "PROJECT=%s", P);
    kumo__target_cmd(t, "REGION=%s", R);
    kumo__target_cmd(t, "REGISTRY=\"$REGION-docker.pkg.dev/$PROJECT/kumo\"");
    kumo__target_cmd(t, "PROJECT_NUMBER=$(gcloud projects describe \"$PROJECT\" --format='value(projectNumber)')");
    kumo__target_cmd(t,
                     "gcloud services enable run.googleapis.com artifactregistry.googleapis.com "
                     "apigateway.googleapis.com servicemanagement.googleapis.com servicecontrol.googleapis.com%s "
                     "--project=\"$PROJECT\"",
                     t->nsecrets || t->nenv_secrets ? " secretmanager.googleapis.com" : "");
    gcp_provision(t);
    kumo__target_cmd(t, "gcloud artifacts repositories describe kumo --location=\"$REGION\" --project=\"$PROJECT\" "
                        ">/dev/null 2>&1 || gcloud artifacts repositories create kumo --repository-format=docker "
                        "--location=\"$REGION\" --project=\"$PROJECT\"");
    kumo__target_cmd(t, "gcloud auth print-access-token | skopeo login -u oauth2accesstoken --password-stdin "
                        "\"$REGION-docker.pkg.dev\"");
    for (size_t i = 0; i < t->nunits; i++) {
        const kumo__target_unit *u = &t->units[i];
        char unit[64], image[1024], oci[4200], tag[32];
        kumo__target_dns_label(u->unit->name, unit, sizeof unit);
        snprintf(image, sizeof image, "%s-docker.pkg.dev/%s/kumo/%s@%s", region, project, unit, u->digest);
        snprintf(oci, sizeof oci, "oci:%s", u->layout);
        snprintf(tag, sizeof tag, "%.19s", u->digest);
        tag[6] = '-';
        kumo__target_cmd(t, "skopeo copy --preserve-digests %s \"docker://$REGISTRY/%s:%s\"",
                         kumo__target_sh_quote(t, oci), unit, tag);
        char file[128];
        snprintf(file, sizeof file, "service-%s.yaml", u->unit->name);
        if ((rc = kumo__target_write_yaml(t, file, service(t, u, image, region, project), 0)) < 0)
            return rc;
    }
    if (t->nsecrets) {
        kumo__target_cmd(t,
                         "# store URLs with a password: Secret Manager secrets, from your environment (never written)");
        kumo__target_require_secret_vars(t);
        for (size_t i = 0; i < t->nstores; i++) {
            if (!t->stores[i].secret)
                continue;
            char *s = store_secret(t, &t->stores[i]);
            if (s == NULL)
                return kumo__spec_oom(t->err);
            kumo__target_cmd(
                t,
                "gcloud secrets describe %s --project=\"$PROJECT\" >/dev/null 2>&1 || gcloud secrets create "
                "%s --replication-policy=automatic --project=\"$PROJECT\"",
                s, s);
            kumo__target_cmd(t,
                             "printf %%s \"$%s\" | gcloud secrets versions add %s --data-file=- --project=\"$PROJECT\"",
                             t->stores[i].var, s);
            secret_readers(t, s);
            free(s);
        }
    }
    if (t->nenv_secrets) {
        kumo__target_cmd(t,
                         "# env: secrets: Secret Manager secrets, computed here and piped to gcloud (never written)");
        kumo__target_env_require(t);
        for (size_t i = 0; i < t->nunits; i++)
            for (size_t k = 0; k < t->units[i].nenv; k++) {
                const kumo__env_var *v = t->units[i].env[k].var;
                if (!v->secret)
                    continue;
                char *s = env_secret(t, &t->units[i], v);
                if (s == NULL)
                    return kumo__spec_oom(t->err);
                kumo__target_cmd(t,
                                 "gcloud secrets describe %s --project=\"$PROJECT\" >/dev/null 2>&1 || gcloud secrets "
                                 "create %s --replication-policy=automatic --project=\"$PROJECT\"",
                                 s, s);
                kumo__target_cmd(t,
                                 "printf %%s %s | gcloud secrets versions add %s --data-file=- --project=\"$PROJECT\"",
                                 kumo__target_env_sh(t, v), s);
                secret_readers(t, s);
                free(s);
            }
    }
    kumo__target_cmd(t, "# one Cloud Run service per function unit; the gateway calls them as %s", sa);
    for (size_t i = 0; i < t->nunits; i++) {
        const kumo__target_unit *u = &t->units[i];
        char file[128], var[128];
        snprintf(file, sizeof file, "service-%s.yaml", u->unit->name);
        url_var(u->unit, var, sizeof var);
        kumo__target_cmd(t, "gcloud run services replace %s --region=\"$REGION\" --project=\"$PROJECT\"",
                         kumo__target_sh_quote(t, kumo__target_path(t, file)));
        kumo__target_cmd(t,
                         "gcloud run services add-iam-policy-binding %s --member=\"serviceAccount:%s\" "
                         "--role=roles/run.invoker --region=\"$REGION\" --project=\"$PROJECT\" >/dev/null",
                         u->name, sa);
        kumo__target_cmd(t,
                         "%s=$(gcloud run services describe %s --region=\"$REGION\" --project=\"$PROJECT\" "
                         "--format='value(status.url)')",
                         var, u->name);
    }
    gcp_events(t, sa);
    kumo__target_cmd(t, "# the API Gateway: Swagger 2.0 with each operation's Cloud Run URL filled in");
    char sed[4096];
    size_t n = 0;
    for (size_t i = 0; i < t->nunits && n < sizeof sed; i++) {
        char var[128];
        url_var(t->units[i].unit, var, sizeof var);
        n += (size_t)snprintf(sed + n, sizeof sed - n, " -e \"s|\\${%s}|$%s|g\"", var, var);
    }
    const char *api = kumo__target_path(t, "api-config.yaml"),
               *resolved = kumo__target_path(t, "api-config.resolved.yaml");
    kumo__target_cmd(t, "sed%s %s > %s", sed, kumo__target_sh_quote(t, api), kumo__target_sh_quote(t, resolved));
    kumo__target_cmd(t,
                     "gcloud api-gateway apis describe %s --project=\"$PROJECT\" >/dev/null 2>&1 || gcloud "
                     "api-gateway apis create %s --project=\"$PROJECT\"",
                     t->name, t->name);
    kumo__target_cmd(t, "CONFIG=%s-$(date +%%Y%%m%%d-%%H%%M%%S)", t->name);
    kumo__target_cmd(t,
                     "gcloud api-gateway api-configs create \"$CONFIG\" --api=%s --openapi-spec=%s "
                     "--backend-auth-service-account=\"%s\" --project=\"$PROJECT\"",
                     t->name, kumo__target_sh_quote(t, resolved), sa);
    kumo__target_cmd(
        t,
        "if gcloud api-gateway gateways describe %s --location=\"$REGION\" --project=\"$PROJECT\" >/dev/null "
        "2>&1; then gcloud api-gateway gateways update %s --api=%s --api-config=\"$CONFIG\" "
        "--location=\"$REGION\" --project=\"$PROJECT\"; else gcloud api-gateway gateways create %s --api=%s "
        "--api-config=\"$CONFIG\" --location=\"$REGION\" --project=\"$PROJECT\"; fi",
        t->name, t->name, t->name, t->name, t->name);
    kumo__target_cmd(t,
                     "echo \"API: https://$(gcloud api-gateway gateways describe %s --location=\"$REGION\" "
                     "--project=\"$PROJECT\" --format='value(defaultHostname)')\"",
                     t->name);
    return 0;
}

/* The project and region both directions need, then one of them. */
static int gcp(kumo__target_ctx *t)
{
    const char *project = env_or("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT");
    const char *region = t->o->region                          ? t->o->region
                         : t->env && t->env->region            ? t->env->region
                         : env_or("CLOUDSDK_RUN_REGION", NULL) ? env_or("CLOUDSDK_RUN_REGION", NULL)
                                                               : "us-central1";
    if (project == NULL) {
        kumo__error_set(t->err, -EINVAL,
                        "gcp: which Google Cloud project? set GOOGLE_CLOUD_PROJECT=ID (or CLOUDSDK_CORE_PROJECT), "
                        "e.g. GOOGLE_CLOUD_PROJECT=$(gcloud config get-value project)");
        return t->err->code;
    }
    const char *P = kumo__target_sh_quote(t, project), *R = kumo__target_sh_quote(t, region);
    char sa[256];
    snprintf(sa, sizeof sa, "$PROJECT_NUMBER-compute@developer.gserviceaccount.com");
    if (t->o->destroy)
        return gcp_destroy(t, P, R);
    int rc = provisioned_urls(t, project);
    if (rc == 0)
        rc = gcp_deploy(t, project, region, P, R, sa);
    provisioned_free(t);
    return rc;
}

const kumo__target_driver kumo__target_gcp = {1, "gcp", "gcloud", 1, gcp, "kv blob queue topic"};
