/*
 * target_azure.c: Azure (see target.h). One ARM template,
 * azuredeploy.json: a storage account (the Functions host needs one), a
 * Linux consumption plan, the function app running the project as a
 * custom handler (FUNCTIONS_WORKER_RUNTIME custom; the package `kumo build
 * --target azure` writes to DIR/.kumo/build/azure/app.zip carries
 * host.json and one function.json per operation), the stores' URLs as app
 * settings, and an API Management service (consumption tier) with the
 * project's OpenAPI imported (format openapi+json, the document inlined)
 * in front of the function app.
 *
 * A store URL with a password is a securestring parameter of the
 * template: deploy.sh passes it from the user's environment variable, so
 * it is in no file. The resource group is $AZURE_RESOURCE_GROUP, else
 * kumo-<name>; the location --region, the environment's region:, else
 * $AZURE_LOCATION, else eastus.
 *
 * A store the environment places nowhere is provisioned in the template's
 * storage account (the "stores" section below): kv a table, blob a
 * container, queue a queue and its QUEUE-poison (the names the Functions
 * triggers of events: read, so an event sees what kumo_queue_send and
 * kumo_blob_put write). The function app's system-assigned identity gets
 * only the data roles those stores need, scoped to the account, and the
 * URLs (aztable://, azblob://, azqueue://, with create=false: the template
 * made them) are app settings: they name resources and hold no secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/target.h"
#include "base/fs.h"
#include "host/host.h"
#include "openapi/docset.h"
#include "project/schedule.h"

#define WEB_API "2022-09-01"
#define VAULT_API "2022-07-01"
#define STORAGE_API "2023-01-01"
#define APIM_API "2022-08-01"
#define ROLES_API "2022-04-01"

/* KUMO_STORE_TODO_ITEMS -> kumoStoreTodoItems */
/* A Key Vault secret's name for an env: variable: letters, digits, '-'. */
static void vault_secret_name(const kumo__env_var *v, char *buf, size_t len)
{
    size_t n = 0;
    for (const char *c = v->name; *c && n + 1 < len; c++)
        buf[n++] = *c == '_' ? '-' : *c;
    buf[n] = '\0';
}

static void param_name(const char *var, char *buf, size_t len);

/* The securestring parameter of an env: secret: env<Name>. */
static void env_param(const kumo__env_var *v, char *buf, size_t len)
{
    char pn[180];
    param_name(v->name, pn, sizeof pn);
    snprintf(buf, len, "env%c%s", pn[0] >= 'a' && pn[0] <= 'z' ? pn[0] - 32 : pn[0], pn[0] ? pn + 1 : "");
}

static void param_name(const char *var, char *buf, size_t len)
{
    size_t n = 0;
    int up = 0;
    for (const char *s = var; *s && n + 1 < len; s++) {
        if (*s == '_') {
            up = 1;
            continue;
        }
        char c = *s;
        if (!up && 'A' <= c && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        buf[n++] = c;
        up = 0;
    }
    buf[n] = '\0';
}

/* A $ref to another file somewhere under v: API Management imports one
 * document. Returns the ref, or NULL. */
static const char *external_ref(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (strcmp(k, "$ref") == 0 && json_is_string(x) && json_string_value(x)[0] != '#')
                return json_string_value(x);
            const char *r = external_ref(x);
            if (r)
                return r;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            const char *r = external_ref(x);
            if (r)
                return r;
        }
    }
    return NULL;
}

/* The routePrefix of the package's host.json ("" when it says none). */
static char *route_prefix(const kumo__target_ctx *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.kumo/build/azure/app/host.json", t->p->dir);
    json_t *host = json_load_file(path, 0, NULL);
    json_t *rp = json_object_get(json_object_get(json_object_get(host, "extensions"), "http"), "routePrefix");
    char *out = strdup(json_is_string(rp) ? json_string_value(rp) : host ? "api" : "");
    json_decref(host);
    return out;
}

/* ---- stores provisioned by deploy ------------------------------------------ */

static void storage_name(const char *store, char *buf, size_t len);

/* A Table storage name for store `store`: letters and digits, starting
 * with a letter, 3 to 63 characters. */
static void table_name(const char *store, char *buf, size_t len)
{
    size_t n = 0;
    if (!(('a' <= store[0] && store[0] <= 'z') || ('A' <= store[0] && store[0] <= 'Z')))
        n = (size_t)snprintf(buf, len, "kv");
    for (const char *c = store; *c && n + 1 < len && n < 63; c++)
        if (('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9'))
            buf[n++] = *c;
    while (n < 3 && n + 1 < len)
        buf[n++] = '0';
    buf[n] = '\0';
}

/* The receives before a message of queue store `store` goes to
 * QUEUE-poison: its events: consumer's max_receives, else 5. */
static unsigned queue_max_receives(const kumo__target_ctx *t, const char *store)
{
    for (size_t i = 0; i < t->p->nevents; i++)
        if (t->p->events[i].kind == KUMO__EVENT_QUEUE && t->p->events[i].queue &&
            strcmp(t->p->events[i].queue, store) == 0)
            return t->p->events[i].max_receives;
    return 5;
}

/* The app setting of a provisioned store: its URL as an ARM expression
 * over the storage account's name. */
static json_t *provisioned_setting(const kumo__target_ctx *t, const kumo__target_store *st)
{
    char name[80], expr[400];
    if (strcmp(st->kind, "kv") == 0) {
        table_name(st->store, name, sizeof name);
        snprintf(expr, sizeof expr, "[concat('aztable://', variables('storageName'), '/%s?create=false')]", name);
    } else if (strcmp(st->kind, "blob") == 0) {
        storage_name(st->store, name, sizeof name);
        snprintf(expr, sizeof expr, "[concat('azblob://', variables('storageName'), '/%s?create=false')]", name);
    } else {
        storage_name(st->store, name, sizeof name);
        snprintf(expr, sizeof expr,
                 "[concat('azqueue://', variables('storageName'), '/%s?max_receives=%u&create=false')]", name,
                 queue_max_receives(t, st->store));
    }
    return json_pack("{s:s, s:s}", "name", st->var, "value", expr);
}

/* Whether deploy makes store `name`. */
static int store_provisioned(const kumo__target_ctx *t, const char *name)
{
    for (size_t i = 0; name && i < t->nstores; i++)
        if (strcmp(t->stores[i].store, name) == 0)
            return t->stores[i].provisioned;
    return 0;
}

/* A child of the storage account: TYPE (tableServices/tables, ...) NAME. */
static json_t *storage_child(const char *type, const char *name, json_t *props)
{
    char full[200], n[200];
    snprintf(full, sizeof full, "Microsoft.Storage/storageAccounts/%s", type);
    snprintf(n, sizeof n, "[concat(variables('storageName'), '/default/%s')]", name);
    return json_pack("{s:s, s:s, s:s, s:[s], s:o}", "type", full, "apiVersion", STORAGE_API, "name", n, "dependsOn",
                     "[resourceId('Microsoft.Storage/storageAccounts', variables('storageName'))]", "properties",
                     props ? props : json_object());
}

/* A role of the app's identity on the storage account. */
static json_t *storage_role(const char *role, const char *what)
{
    char def[200], name[300];
    snprintf(def, sizeof def, "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '%s')]", role);
    snprintf(name, sizeof name,
             "[guid(resourceId('Microsoft.Storage/storageAccounts', variables('storageName')), variables('appName'), "
             "'%s')]",
             role);
    return json_pack("{s:s, s:s, s:s, s:s, s:[s, s], s:{s:s, s:s, s:s, s:s}}", "type",
                     "Microsoft.Authorization/roleAssignments", "apiVersion", ROLES_API, "name", name, "scope",
                     "[concat('Microsoft.Storage/storageAccounts/', variables('storageName'))]", "dependsOn",
                     "[resourceId('Microsoft.Storage/storageAccounts', variables('storageName'))]",
                     "[resourceId('Microsoft.Web/sites', variables('appName'))]", "properties", "roleDefinitionId", def,
                     "principalId",
                     "[reference(resourceId('Microsoft.Web/sites', variables('appName')), '" WEB_API
                     "', 'full').identity.principalId]",
                     "principalType", "ServicePrincipal", "description", what);
}

/* Built-in roles (their ids are the same in every tenant). */
#define ROLE_TABLE_DATA_CONTRIBUTOR "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
#define ROLE_BLOB_DATA_CONTRIBUTOR "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
#define ROLE_QUEUE_MESSAGE_PROCESSOR "8a0f0c08-91a1-4084-bc3d-661d67233fed"
#define ROLE_QUEUE_MESSAGE_SENDER "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"

/* The tables, containers and queues of the provisioned stores, the app's
 * system-assigned identity and its roles, into the template. */
static int azure_provision(kumo__target_ctx *t, json_t *tmpl)
{
    json_t *res = json_object_get(tmpl, "resources");
    int kv = 0, blob = 0, queue = 0;
    for (size_t i = 0; i < t->nstores; i++) {
        const kumo__target_store *st = &t->stores[i];
        char name[80], poison[90];
        if (!st->provisioned)
            continue;
        json_t *r = NULL, *r2 = NULL;
        if (strcmp(st->kind, "kv") == 0) {
            kv = 1;
            table_name(st->store, name, sizeof name);
            r = storage_child("tableServices/tables", name, NULL);
        } else if (strcmp(st->kind, "blob") == 0) {
            blob = 1;
            storage_name(st->store, name, sizeof name);
            r = storage_child("blobServices/containers", name, json_pack("{s:s}", "publicAccess", "None"));
        } else {
            queue = 1;
            storage_name(st->store, name, sizeof name);
            snprintf(poison, sizeof poison, "%s-poison", name);
            r = storage_child("queueServices/queues", name, NULL);
            r2 = storage_child("queueServices/queues", poison, NULL);
        }
        if (r == NULL || json_array_append_new(res, r) < 0 || (r2 && json_array_append_new(res, r2) < 0))
            return kumo__spec_oom(t->err);
    }
    if (!kv && !blob && !queue)
        return 0;
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *r = json_array_get(res, i);
        if (strcmp(json_string_value(json_object_get(r, "type")) ?: "", "Microsoft.Web/sites") == 0)
            json_object_set_new(r, "identity", json_pack("{s:s}", "type", "SystemAssigned"));
    }
    struct {
        int want;
        const char *role, *what;
    } roles[] = {
        {kv, ROLE_TABLE_DATA_CONTRIBUTOR, "kumo: the kv stores' tables"},
        {blob, ROLE_BLOB_DATA_CONTRIBUTOR, "kumo: the blob stores' containers"},
        {queue, ROLE_QUEUE_MESSAGE_PROCESSOR, "kumo: receiving from the queue stores"},
        {queue, ROLE_QUEUE_MESSAGE_SENDER, "kumo: sending to the queue stores"},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        json_t *r = roles[i].want ? storage_role(roles[i].role, roles[i].what) : NULL;
        if (roles[i].want && (r == NULL || json_array_append_new(res, r) < 0))
            return kumo__spec_oom(t->err);
    }
    return 0;
}

static json_t *app_settings(kumo__target_ctx *t, json_t *params)
{
    json_t *s = json_pack(
        "[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "name", "AzureWebJobsStorage", "value",
        "[concat('DefaultEndpointsProtocol=https;AccountName=', variables('storageName'), ';EndpointSuffix=', "
        "environment().suffixes.storage, ';AccountKey=', listKeys(resourceId('Microsoft.Storage/storageAccounts', "
        "variables('storageName')), '" STORAGE_API "').keys[0].value)]",
        "name", "FUNCTIONS_EXTENSION_VERSION", "value", "~4", "name", "FUNCTIONS_WORKER_RUNTIME", "value", "custom");
    for (size_t i = 0; s && i < t->p->nevents; i++) {
        const kumo__event_decl *e = &t->p->events[i];
        char cron[KUMO__SCHEDULE_MAX + 16];
        int utc = 0;
        const char *why = NULL;
        if (e->kind != KUMO__EVENT_SCHEDULE || !e->timezone || strcmp(e->timezone, "UTC") == 0 ||
            kumo__target_cron(e, 1, cron, sizeof cron, &utc, &why) < 0 || utc)
            continue;
        /* one zone for the app's timer triggers (kumo__target_check_events saw to it); on Linux an IANA name */
        json_array_append_new(s, json_pack("{s:s, s:s}", "name", "WEBSITE_TIME_ZONE", "value", e->timezone));
        break;
    }
    for (size_t i = 0; s && i < t->nstores; i++) {
        const kumo__target_store *st = &t->stores[i];
        if (st->secret) {
            char pn[160], expr[200];
            param_name(st->var, pn, sizeof pn);
            snprintf(expr, sizeof expr, "[parameters('%s')]", pn);
            json_object_set_new(params, pn,
                                json_pack("{s:s, s:{s:s}}", "type", "securestring", "metadata", "description",
                                          "the URL of a store that holds a password"));
            json_array_append_new(s, json_pack("{s:s, s:s}", "name", st->var, "value", expr));
        } else if (st->provisioned) {
            json_array_append_new(s, provisioned_setting(t, st));
        } else if (st->url) {
            /* a value starting with '[' would be read as an expression: "[[" escapes it */
            char *v = NULL;
            if (asprintf(&v, "%s%s", st->url[0] == '[' ? "[" : "", st->url) < 0)
                return NULL;
            json_array_append_new(s, json_pack("{s:s, s:s}", "name", st->var, "value", v));
            free(v);
        }
    }
    /* env: (the same for every unit: checked by same_env) plain values as
     * app settings, secrets as Key Vault references */
    const kumo__target_unit *u = t->nunits ? &t->units[0] : NULL;
    for (size_t i = 0; s && u && i < u->nenv; i++) {
        const kumo__env_var *v = u->env[i].var;
        char *val = NULL;
        if (v->secret) {
            char sn[200];
            vault_secret_name(v, sn, sizeof sn);
            if (asprintf(&val, "[concat('@Microsoft.KeyVault(VaultName=', variables('vaultName'), ';SecretName=%s)')]",
                         sn) < 0)
                return NULL;
        } else if (asprintf(&val, "%s%s", v->value[0] == '[' ? "[" : "", v->value) < 0) {
            return NULL;
        }
        json_array_append_new(s, json_pack("{s:s, s:s}", "name", v->name, "value", val));
        free(val);
    }
    return s;
}

/* One function app runs every unit: env: may not differ between them. */
static int same_env(kumo__target_ctx *t)
{
    for (size_t i = 1; i < t->nunits; i++) {
        const kumo__target_unit *a = &t->units[0], *b = &t->units[i];
        for (int pass = 0; pass < 2; pass++) {
            const kumo__target_unit *x = pass ? b : a, *y = pass ? a : b;
            for (size_t k = 0; k < x->nenv; k++) {
                const kumo__env_var *v = x->env[k].var, *w = NULL;
                for (size_t j = 0; j < y->nenv; j++)
                    if (strcmp(y->env[j].var->name, v->name) == 0)
                        w = y->env[j].var;
                if (w == NULL || strcmp(w->value, v->value) != 0) {
                    kumo__error_set(t->err, -EINVAL,
                                    "%s:%d:%d: env %s differs between functions %s and %s; azure runs every unit in "
                                    "one function app, whose settings are the same for all: move it to env: (or "
                                    "environments.ENV.env) so every function has it alike",
                                    kumo__doc_path(t->p->doc), v->line, v->col, v->name, a->unit->name, b->unit->name);
                    return t->err->code;
                }
            }
        }
    }
    return 0;
}

/* The Key Vault holding the env: secrets, readable by the function app's
 * own identity; each secret's value a securestring parameter that
 * deploy.sh passes. */
static int key_vault(kumo__target_ctx *t, json_t *tmpl, json_t *params)
{
    const kumo__target_unit *u = t->nunits ? &t->units[0] : NULL;
    if (t->nenv_secrets == 0 || u == NULL)
        return 0;
    json_t *res = json_object_get(tmpl, "resources"), *vars = json_object_get(tmpl, "variables");
    json_object_set_new(vars, "vaultName", json_string("[concat('kv', variables('suffix'))]"));
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *r = json_array_get(res, i);
        if (strcmp(json_string_value(json_object_get(r, "type")) ?: "", "Microsoft.Web/sites") == 0)
            json_object_set_new(r, "identity", json_pack("{s:s}", "type", "SystemAssigned"));
    }
    json_t *vault =
        json_pack("{s:s, s:s, s:s, s:s, s:[s], s:{s:s, s:{s:s, s:s}, s:[{s:s, s:s, s:{s:[s]}}]}}", "type",
                  "Microsoft.KeyVault/vaults", "apiVersion", VAULT_API, "name", "[variables('vaultName')]", "location",
                  "[parameters('location')]", "dependsOn", "[resourceId('Microsoft.Web/sites', variables('appName'))]",
                  "properties", "tenantId", "[subscription().tenantId]", "sku", "family", "A", "name", "standard",
                  "accessPolicies", "tenantId", "[subscription().tenantId]", "objectId",
                  "[reference(resourceId('Microsoft.Web/sites', variables('appName')), '" WEB_API
                  "', 'full').identity.principalId]",
                  "permissions", "secrets", "get");
    if (vault == NULL || json_array_append_new(res, vault) < 0)
        return kumo__spec_oom(t->err);
    for (size_t i = 0; i < u->nenv; i++) {
        const kumo__env_var *v = u->env[i].var;
        if (!v->secret)
            continue;
        char sn[200], pn[200], name[300], value[300];
        vault_secret_name(v, sn, sizeof sn);
        env_param(v, pn, sizeof pn);
        snprintf(name, sizeof name, "[concat(variables('vaultName'), '/%s')]", sn);
        snprintf(value, sizeof value, "[parameters('%s')]", pn);
        json_object_set_new(params, pn,
                            json_pack("{s:s, s:{s:s}}", "type", "securestring", "metadata", "description",
                                      "a secret env: variable (kumo passes it at deploy time)"));
        json_t *sec = json_pack("{s:s, s:s, s:s, s:[s], s:{s:s}}", "type", "Microsoft.KeyVault/vaults/secrets",
                                "apiVersion", VAULT_API, "name", name, "dependsOn",
                                "[resourceId('Microsoft.KeyVault/vaults', variables('vaultName'))]", "properties",
                                "value", value);
        if (sec == NULL || json_array_append_new(res, sec) < 0)
            return kumo__spec_oom(t->err);
    }
    return 0;
}

/* ---- events ------------------------------------------------------------------- */

/* An Azure Storage queue or container name for store `store`: lower case,
 * letters, digits and '-' (3 to 63 characters). */
static void storage_name(const char *store, char *buf, size_t len)
{
    kumo__target_dns_label(store, buf, len < 64 ? len : 64);
    size_t n = strlen(buf);
    while (n < 3 && n + 1 < len) /* "ab" -> "ab0" */
        buf[n++] = '0';
    buf[n] = '\0';
}

/* "00:00:02" for a duration (Azure's TimeSpan). */
static void timespan(uint64_t ms, char *buf, size_t len)
{
    uint64_t s = (ms + 999) / 1000;
    snprintf(buf, len, "%02llu:%02llu:%02llu", (unsigned long long)(s / 3600), (unsigned long long)(s / 60 % 60),
             (unsigned long long)(s % 60));
}

static int write_fn(const char *app, const char *name, json_t *fn, kumo__error *err)
{
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/%s", app, name);
    snprintf(path, sizeof path, "%s/function.json", dir);
    int rc = fn ? kumo__mkdirs(dir, 0755) : -ENOMEM;
    if (rc == 0 && json_dump_file(fn, path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
        rc = -EIO;
    json_decref(fn);
    if (rc < 0)
        kumo__error_set(err, rc, "cannot write %s: %s", path, strerror(-rc));
    return rc;
}

int kumo__azure_event_functions(const kumo__project *p, const char *app, json_t *taken, json_t *host, kumo__error *err)
{
    int rc = 0, http = 0;
    const kumo__event_decl *queued = NULL;
    for (size_t i = 0; i < p->nevents && rc == 0; i++) {
        const kumo__event_decl *e = &p->events[i];
        char fn_name[160], cron[KUMO__SCHEDULE_MAX + 16], store[80], path[600];
        kumo__host_azure_function(e->name, fn_name, sizeof fn_name);
        json_t *fn = NULL;
        switch (e->kind) {
        case KUMO__EVENT_SCHEDULE: {
            int utc = 0;
            const char *why = NULL;
            if (kumo__target_cron(e, 1, cron, sizeof cron, &utc, &why) < 0)
                return kumo__project_event_error(err, p, e, "schedule", "schedule \"%s\" %s (azure)", e->schedule, why);
            fn = json_pack("{s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}", "bindings", "type", "timerTrigger", "direction",
                           "in", "name", "timer", "schedule", cron, "useMonitor", e->missed_once, "runOnStartup", 0);
            break;
        }
        case KUMO__EVENT_QUEUE:
            storage_name(e->queue, store, sizeof store);
            fn = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "bindings", "type", "queueTrigger", "direction", "in",
                           "name", "message", "queueName", store, "connection", "AzureWebJobsStorage");
            queued = e;
            break;
        case KUMO__EVENT_BLOB:
            storage_name(e->blob, store, sizeof store);
            snprintf(path, sizeof path, "%s/%s{name}%s", store, e->prefix ? e->prefix : "", e->suffix ? e->suffix : "");
            fn = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "bindings", "type", "blobTrigger", "direction", "in",
                           "name", "blob", "path", path, "connection", "AzureWebJobsStorage", "dataType", "binary");
            break;
        case KUMO__EVENT_CLOUDEVENT: http = 1; continue;
        default: /* refused by kumo__target_check_events */ continue;
        }
        json_object_set_new(taken, fn_name, json_true());
        rc = write_fn(app, fn_name, fn, err);
    }
    if (rc == 0 && http) {
        /* CloudEvents from outside: forwarded as they came, to /_kumo/events/NAME */
        json_t *fn =
            json_pack("{s:[{s:s, s:s, s:s, s:s, s:[s], s:s}, {s:s, s:s, s:s}]}", "bindings", "type", "httpTrigger",
                      "direction", "in", "name", "req", "authLevel", "function", "methods", "post", "route",
                      "_kumo/events/{name}", "type", "http", "direction", "out", "name", "res");
        json_object_set_new(taken, "kumo_events", json_true());
        rc = write_fn(app, "kumo_events", fn, err);
    }
    if (rc == 0 && (queued || p->nevents)) {
        json_t *ext = json_object_get(host, "extensions");
        if (queued) {
            char vis[32];
            timespan(queued->backoff_ms, vis, sizeof vis);
            json_object_set_new(ext, "queues",
                                json_pack("{s:i, s:i, s:s}", "batchSize", (int)queued->batch, "maxDequeueCount",
                                          (int)queued->max_receives, "visibilityTimeout", vis));
        }
        json_object_set_new(
            host, "extensionBundle",
            json_pack("{s:s, s:s}", "id", "Microsoft.Azure.Functions.ExtensionBundle", "version", "[4.*, 5.0.0)"));
    }
    return rc;
}

/* kumo destroy --keep-data: the roles the app's identity holds on the
 * storage account go before the app (the account, and the stores' data in
 * it, stay). */
static void azure_destroy_roles(kumo__target_ctx *t)
{
    int any = 0;
    for (size_t i = 0; i < t->nstores; i++)
        any |= t->stores[i].provisioned;
    if (!any)
        return;
    kumo__target_cmd(
        t, "# the roles of the app's identity on the storage account (kept: the account and the stores in it)");
    kumo__target_cmd(t, "for p in $(az resource list --resource-group \"$RESOURCE_GROUP\" --resource-type "
                        "Microsoft.Web/sites --query '[].identity.principalId' --output tsv); do for id in $(az role "
                        "assignment list --assignee \"$p\" --all --query '[].id' --output tsv); do az role assignment "
                        "delete --ids \"$id\" --output none; done; done");
}

/* kumo deploy --destroy: the resource group goes, with all it holds. */
static int azure_destroy(kumo__target_ctx *t, const char *rg, const char *RG)
{
    if (t->o->keep_data) {
        /* kumo destroy --keep-data: the app, its plan, API Management and
         * the Key Vault go; the group and its storage account stay */
        kumo__target_cmd(t, "# kept: the resource group %s and its storage account (the app's queues and blobs)", rg);
        kumo__target_cmd(t, "RESOURCE_GROUP=%s", RG);
        azure_destroy_roles(t);
        static const char *const types[] = {"Microsoft.Web/sites", "Microsoft.ApiManagement/service",
                                            "Microsoft.Web/serverfarms", "Microsoft.KeyVault/vaults"};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            kumo__target_cmd(t,
                             "for id in $(az resource list --resource-group \"$RESOURCE_GROUP\" --resource-type %s "
                             "--query '[].id' --output tsv); do az resource delete --ids \"$id\" --output none; done",
                             types[i]);
        return 0;
    }
    kumo__target_cmd(t, "# everything kumo deployed lives in the resource group %s", rg);
    kumo__target_cmd(t, "az group delete --name %s --yes", RG);
    return 0;
}

/* azuredeploy.json (an ARM template) and the commands that deploy it and the app zip. */
static int azure_deploy(kumo__target_ctx *t, const char *rg, const char *loc, const char *RG)
{
    char zip[4200];
    snprintf(zip, sizeof zip, "%s/.kumo/build/azure/app.zip", t->p->dir);
    kumo__artifacts arts = {0};
    int rc = same_env(t);
    if (rc < 0)
        return rc;
    rc = kumo__target_build(t, zip, &arts);
    if (rc < 0)
        return rc;
    if (rc == 1)
        kumo__artifacts_free(&arts);
    /* the OpenAPI document, inlined as JSON */
    kumo__doc *doc = NULL;
    if ((rc = kumo__doc_load(t->p->api_path, &doc, t->err)) < 0)
        return rc;
    const char *ext = external_ref(kumo__doc_root(doc));
    if (ext) {
        kumo__error_set(t->err, -EINVAL,
                        "azure: %s $refs '%s'; API Management imports one document: move what it refers to into "
                        "%s (under components:)",
                        t->p->api_path, ext, t->p->api_path);
        kumo__doc_free(doc);
        return t->err->code;
    }
    char *spec = json_dumps(kumo__doc_root(doc), JSON_COMPACT | JSON_PRESERVE_ORDER);
    kumo__doc_free(doc);
    char *prefix = route_prefix(t);
    if (spec == NULL || prefix == NULL) {
        free(spec);
        free(prefix);
        return kumo__spec_oom(t->err);
    }
    char service_url[256];
    snprintf(service_url, sizeof service_url,
             "[concat('https://', reference(resourceId('Microsoft.Web/sites', variables('appName')), '" WEB_API
             "').defaultHostName%s%s%s)]",
             *prefix ? ", '/" : "", prefix, *prefix ? "'" : "");
    free(prefix);
    json_t *params = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}}", "name", "type", "string",
                               "defaultValue", t->name, "location", "type", "string", "defaultValue",
                               "[resourceGroup().location]", "publisherEmail", "type", "string", "defaultValue",
                               "api@example.com", "publisherName", "type", "string", "defaultValue", "kumo");
    json_t *settings = params ? app_settings(t, params) : NULL;
    json_t *tmpl = json_pack(
        "{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:s, s:s},"
        " s:["
        "  {s:s, s:s, s:s, s:s, s:{s:s}, s:s, s:{s:s, s:b}},"
        "  {s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:{s:b}},"
        "  {s:s, s:s, s:s, s:s, s:s, s:[s, s], s:{s:s, s:b, s:{s:s, s:o}}},"
        "  {s:s, s:s, s:s, s:s, s:{s:s, s:i}, s:{s:s, s:s}},"
        "  {s:s, s:s, s:s, s:[s, s], s:{s:s, s:s, s:s, s:s, s:[s], s:s, s:b}}"
        " ],"
        " s:{s:{s:s, s:s}, s:{s:s, s:s}}}",
        "$schema", "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion",
        "1.0.0.0", "parameters", params, "variables", "suffix", "[uniqueString(resourceGroup().id)]", "storageName",
        "[concat('kumo', variables('suffix'))]", "planName", "[concat(parameters('name'), '-plan')]", "appName",
        "[concat(parameters('name'), '-', variables('suffix'))]", "apimName",
        "[concat(parameters('name'), '-apim-', variables('suffix'))]", "resources",
        /* storage */
        "type", "Microsoft.Storage/storageAccounts", "apiVersion", STORAGE_API, "name", "[variables('storageName')]",
        "location", "[parameters('location')]", "sku", "name", "Standard_LRS", "kind", "StorageV2", "properties",
        "minimumTlsVersion", "TLS1_2", "allowBlobPublicAccess", 0,
        /* plan */
        "type", "Microsoft.Web/serverfarms", "apiVersion", WEB_API, "name", "[variables('planName')]", "location",
        "[parameters('location')]", "sku", "name", "Y1", "tier", "Dynamic", "kind", "linux", "properties", "reserved",
        1,
        /* function app */
        "type", "Microsoft.Web/sites", "apiVersion", WEB_API, "name", "[variables('appName')]", "location",
        "[parameters('location')]", "kind", "functionapp,linux", "dependsOn",
        "[resourceId('Microsoft.Web/serverfarms', variables('planName'))]",
        "[resourceId('Microsoft.Storage/storageAccounts', variables('storageName'))]", "properties", "serverFarmId",
        "[resourceId('Microsoft.Web/serverfarms', variables('planName'))]", "httpsOnly", 1, "siteConfig",
        "linuxFxVersion", "", "appSettings", settings,
        /* API Management */
        "type", "Microsoft.ApiManagement/service", "apiVersion", APIM_API, "name", "[variables('apimName')]",
        "location", "[parameters('location')]", "sku", "name", "Consumption", "capacity", 0, "properties",
        "publisherEmail", "[parameters('publisherEmail')]", "publisherName", "[parameters('publisherName')]",
        /* the API, imported from the OpenAPI document */
        "type", "Microsoft.ApiManagement/service/apis", "apiVersion", APIM_API, "name",
        "[concat(variables('apimName'), '/', parameters('name'))]", "dependsOn",
        "[resourceId('Microsoft.ApiManagement/service', variables('apimName'))]",
        "[resourceId('Microsoft.Web/sites', variables('appName'))]", "properties", "format", "openapi+json", "value",
        spec, "path", "[parameters('name')]", "serviceUrl", service_url, "protocols", "https", "displayName",
        "[parameters('name')]", "subscriptionRequired", 0, "outputs", "functionAppName", "type", "string", "value",
        "[variables('appName')]", "apiUrl", "type", "string", "value",
        "[concat(reference(resourceId('Microsoft.ApiManagement/service', variables('apimName')), '" APIM_API
        "').gatewayUrl, '/', parameters('name'))]");
    free(spec);
    if (tmpl == NULL) /* json_pack released what it was given */
        return kumo__spec_oom(t->err);
    if ((rc = key_vault(t, tmpl, params)) < 0 || (rc = azure_provision(t, tmpl)) < 0) {
        json_decref(tmpl);
        return rc;
    }
    if ((rc = kumo__target_write_json(t, "azuredeploy.json", tmpl)) < 0)
        return rc;
    /* the secret parameters: NAME=VARIABLE pairs; python3 reads each
     * value from the environment and writes the parameters document that
     * az reads on its stdin, so no value is on a command line (what ps
     * shows) nor in a file */
    char args[2048];
    size_t n = 0, nsecret = 0;
    args[0] = '\0';
    for (size_t i = 0; i < t->nstores && n < sizeof args; i++) {
        if (!t->stores[i].secret)
            continue;
        char pn[160];
        param_name(t->stores[i].var, pn, sizeof pn);
        n += (size_t)snprintf(args + n, sizeof args - n, " %s=%s", pn, t->stores[i].var);
        nsecret++;
    }
    size_t nstore_secrets = nsecret;
    for (size_t i = 0; t->nunits && i < t->units[0].nenv; i++) {
        const kumo__env_var *v = t->units[0].env[i].var;
        char pn[200];
        if (!v->secret)
            continue;
        env_param(v, pn, sizeof pn);
        n += (size_t)snprintf(args + n, n < sizeof args ? sizeof args - n : 0, " %s=KUMO_SECRET_%zu", pn, nsecret);
        nsecret++;
    }
    if (n >= sizeof args) {
        kumo__error_set(t->err, -E2BIG, "azure: too many secret parameters for one command");
        return t->err->code;
    }
    for (size_t i = 0; i < t->p->nevents; i++) {
        const kumo__event_decl *e = &t->p->events[i];
        char store[80], fn[160];
        kumo__host_azure_function(e->name, fn, sizeof fn);
        if (e->kind == KUMO__EVENT_QUEUE && store_provisioned(t, e->queue)) {
            storage_name(e->queue, store, sizeof store);
            kumo__target_note(t,
                              "events.%s: the function %s is a queue trigger on the Storage queue '%s', which is "
                              "store '%s' (failed messages go to '%s-poison' after max_receives)",
                              e->name, fn, store, e->queue, store);
        } else if (e->kind == KUMO__EVENT_BLOB && store_provisioned(t, e->blob)) {
            storage_name(e->blob, store, sizeof store);
            kumo__target_note(t,
                              "events.%s: the function %s is a blob trigger on the container '%s', which is store '%s'",
                              e->name, fn, store, e->blob);
        } else if (e->kind == KUMO__EVENT_QUEUE) {
            storage_name(e->queue, store, sizeof store);
            kumo__target_note(
                t,
                "events.%s: the function %s is a queue trigger on the Storage queue '%s' of the app's "
                "storage account (failed messages go to '%s-poison' after max_receives, retried after "
                "backoff: each time, not doubled); store '%s' is not made by deploy here (it has a URL, or is "
                "embedded), so kumo_queue_send to it does not reach this trigger",
                e->name, fn, store, store, e->queue);
        } else if (e->kind == KUMO__EVENT_BLOB) {
            storage_name(e->blob, store, sizeof store);
            kumo__target_note(t,
                              "events.%s: the function %s is a blob trigger on the container '%s' of the app's storage "
                              "account; store '%s' is not made by deploy here (it has a URL, or is embedded), so "
                              "kumo_blob_put to it does not write to this container",
                              e->name, fn, store, e->blob);
        } else if (e->kind == KUMO__EVENT_CLOUDEVENT) {
            kumo__target_note(t,
                              "events.%s: CloudEvents of type %s reach it when POSTed to https://APP/_kumo/events/%s "
                              "with the function key of kumo_events",
                              e->name, e->ce_type, e->name);
        }
    }
    kumo__target_cmd(t, "RESOURCE_GROUP=%s", RG);
    kumo__target_cmd(t, "LOCATION=%s", kumo__target_sh_quote(t, loc));
    if (t->nsecrets) {
        kumo__target_cmd(
            t, "# store URLs with a password: securestring parameters, from your environment (never written)");
        kumo__target_require_secret_vars(t);
        for (size_t i = 0; i < t->nstores; i++)
            if (t->stores[i].secret) /* python3 below reads it */
                kumo__target_cmd(t, "export %s", t->stores[i].var);
    }
    if (t->nenv_secrets) {
        kumo__target_cmd(t, "# env: secrets: Key Vault secrets the app settings reference, passed as securestring "
                            "parameters computed here (never written)");
        kumo__target_env_require(t);
    }
    for (size_t i = 0, k = nstore_secrets; t->nunits && i < t->units[0].nenv; i++) {
        const kumo__env_var *v = t->units[0].env[i].var;
        if (!v->secret)
            continue;
        /* the env: secrets' values, computed here for python3 below */
        kumo__target_cmd(t, "KUMO_SECRET_%zu=%s; export KUMO_SECRET_%zu", k, kumo__target_env_sh(t, v), k);
        k++;
    }
    kumo__target_cmd(t, "az group create --name \"$RESOURCE_GROUP\" --location \"$LOCATION\" --output none");
    if (nsecret)
        kumo__target_cmd(t,
                         "python3 -c 'import json, os, sys; print(json.dumps({\"parameters\": {a.split(\"=\", 1)[0]: "
                         "{\"value\": os.environ[a.split(\"=\", 1)[1]]} for a in sys.argv[1:]}}))'%s |",
                         args);
    kumo__target_cmd(t,
                     "%saz deployment group create --name kumo-%s --resource-group \"$RESOURCE_GROUP\" --template-file "
                     "%s --parameters name=%s%s --output none",
                     nsecret ? "  " : "", t->name, kumo__target_sh_quote(t, kumo__target_path(t, "azuredeploy.json")),
                     t->name, nsecret ? " --parameters @/dev/stdin" : "");
    kumo__target_cmd(t,
                     "APP=$(az deployment group show --name kumo-%s --resource-group \"$RESOURCE_GROUP\" --query "
                     "properties.outputs.functionAppName.value --output tsv)",
                     t->name);
    kumo__target_cmd(t,
                     "az functionapp deployment source config-zip --resource-group \"$RESOURCE_GROUP\" --name \"$APP\" "
                     "--src %s",
                     kumo__target_sh_quote(t, zip));
    kumo__target_cmd(
        t,
        "echo \"API: $(az deployment group show --name kumo-%s --resource-group \"$RESOURCE_GROUP\" --query "
        "properties.outputs.apiUrl.value --output tsv)\"",
        t->name);
    return 0;
}

/* The resource group and location both directions need, then one of them. */
static int azure(kumo__target_ctx *t)
{
    const char *rg_env = getenv("AZURE_RESOURCE_GROUP");
    char rg[128];
    snprintf(rg, sizeof rg, "%s%s", rg_env && *rg_env ? "" : "kumo-", rg_env && *rg_env ? rg_env : t->name);
    const char *loc = t->o->region                                            ? t->o->region
                      : t->env && t->env->region                              ? t->env->region
                      : getenv("AZURE_LOCATION") && *getenv("AZURE_LOCATION") ? getenv("AZURE_LOCATION")
                                                                              : "eastus";
    const char *RG = kumo__target_sh_quote(t, rg);
    return t->o->destroy ? azure_destroy(t, rg, RG) : azure_deploy(t, rg, loc, RG);
}

const kumo__target_driver kumo__target_azure = {1, "azure", "az", 0, azure, "kv blob queue"};
