/*
 * env.c: kumo.yaml's env: (env.h). Reads the three levels with positions,
 * applies their precedence (environment > function > project), expands a
 * secret's references only when a value is handed to a process, and
 * builds what a worker of kumo up gets: kumo's own needs from the
 * environment it started with (kumo__env_worker_base), the stores'
 * variables, and the unit's declared variables (kumo__env_unit_block),
 * nothing else of the user's shell.
 *
 * The references are services.c's (${env:NAME}, ${file:PATH}): one syntax
 * and one expander for every secret of kumo.yaml.
 */
#include "project/env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "project/project.h"
#include "project/store_plan.h"

static int oom(kumo__error *err)
{
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > 128 || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

int kumo__env_name_reserved(const char *name)
{
    return strncmp(name, "KUMO_", 5) == 0 || strcmp(name, "PORT") == 0;
}

/* Whether a variable of this name carries a credential, so that its value
 * must be a reference (as a service header's, services.c): a name holding
 * PASSWORD, PASSWD, SECRET, TOKEN or CREDENTIAL, or ending in KEY
 * (case-insensitive). */
static int name_is_credential(const char *name)
{
    static const char *const parts[] = {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", NULL};
    char up[160];
    size_t n = strlen(name);
    if (n >= sizeof up)
        n = sizeof up - 1;
    for (size_t i = 0; i < n; i++)
        up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    up[n] = '\0';
    for (size_t i = 0; parts[i]; i++)
        if (strstr(up, parts[i]))
            return 1;
    return n >= 3 && strcmp(up + n - 3, "KEY") == 0;
}

void kumo__env_list_free(kumo__env_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* One env: mapping at `node` (the value of key "env" in `parent`). */
static int load_list(const kumo__doc *doc, json_t *parent, const char *where, kumo__env_list *l, kumo__error *err)
{
    json_t *node = json_object_get(parent, "env");
    if (node == NULL || json_is_null(node))
        return 0;
    if (!json_is_object(node)) {
        kumo__doc_value_error(err, doc, parent, "env",
                              "%s must be a mapping of variable name -> value (a string, or a reference: "
                              "\"${env:NAME}\", \"${file:PATH}\")",
                              where);
        return -EINVAL;
    }
    if (json_object_size(node) > KUMO__ENV_MAX) {
        kumo__doc_value_error(err, doc, parent, "env", "%s has %zu variables; at most %d", where,
                              json_object_size(node), KUMO__ENV_MAX);
        return -EINVAL;
    }
    if ((l->v = calloc(json_object_size(node) + 1, sizeof *l->v)) == NULL)
        return oom(err);
    const char *name;
    json_t *v;
    json_object_foreach(node, name, v)
    {
        if (!name_ok(name)) {
            kumo__doc_key_error(err, doc, node, name,
                                "%s: '%s' is not a variable name: letters, digits and '_', not starting with a digit",
                                where, name);
            return -EINVAL;
        }
        if (kumo__env_name_reserved(name)) {
            kumo__doc_key_error(err, doc, node, name,
                                "%s: %s is kumo's own (KUMO_* and PORT are set by kumo and the platforms); rename it",
                                where, name);
            return -EINVAL;
        }
        char buf[64];
        const char *text = NULL;
        if (json_is_string(v))
            text = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), text = buf;
        else if (json_is_boolean(v))
            text = json_is_true(v) ? "true" : "false";
        if (text == NULL) {
            kumo__doc_value_error(err, doc, node, name,
                                  "%s.%s must be a string (quote a number with a fraction: \"1.5\"), an integer or "
                                  "true/false",
                                  where, name);
            return -EINVAL;
        }
        kumo__error rerr = {0};
        int refs = kumo__secret_refs_check(text, &rerr);
        if (refs < 0) {
            kumo__doc_value_error(err, doc, node, name, "%s.%s: %s", where, name, rerr.msg);
            return -EINVAL;
        }
        if (refs == 0 && *text && name_is_credential(name)) {
            kumo__doc_value_error(err, doc, node, name,
                                  "%s.%s looks like a credential and is written as a literal: kumo.yaml is not the "
                                  "place for it; put it in the environment and write \"${env:%s}\" (or a mounted "
                                  "file: \"${file:PATH}\")",
                                  where, name, name);
            return -EINVAL;
        }
        kumo__env_var *e = &l->v[l->n];
        if ((e->name = strdup(name)) == NULL || (e->value = strdup(text)) == NULL) {
            free(e->name);
            e->name = NULL;
            return oom(err);
        }
        l->n++;
        e->secret = refs > 0;
        kumo__doc_pos(doc, v, &e->line, &e->col);
    }
    return 0;
}

int kumo__project_load_env(kumo__project *p, kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *root = kumo__doc_root(doc);
    int rc = load_list(doc, root, "env", &p->env, err);
    json_t *functions = json_object_get(root, "functions");
    for (size_t i = 0; rc == 0 && i < p->nunits; i++) {
        char where[160];
        snprintf(where, sizeof where, "functions.%s.env", p->units[i].name);
        json_t *def = json_object_get(functions, p->units[i].name);
        if (json_is_object(def))
            rc = load_list(doc, def, where, &p->units[i].env, err);
    }
    json_t *envs = json_object_get(root, "environments");
    for (size_t i = 0; rc == 0 && i < p->nenvironments; i++) {
        char where[160];
        snprintf(where, sizeof where, "environments.%s.env", p->environments[i].name);
        json_t *def = json_object_get(envs, p->environments[i].name);
        if (json_is_object(def))
            rc = load_list(doc, def, where, &p->environments[i].env, err);
    }
    return rc;
}

/* Sets or replaces `name` in out[0..*n). */
static void put(kumo__env_entry *out, size_t *n, const kumo__env_var *v, const char *level)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i].var->name, v->name) == 0) {
            out[i] = (kumo__env_entry){.var = v, .level = level};
            return;
        }
    out[(*n)++] = (kumo__env_entry){.var = v, .level = level};
}

int kumo__env_effective(const kumo__project *p, const kumo__unit *u, const char *env, kumo__env_entry **out, size_t *n,
                        kumo__error *err)
{
    const kumo__environment *e = kumo__project_environment(p, env);
    size_t cap = p->env.n + (u ? u->env.n : 0) + (e ? e->env.n : 0);
    *out = NULL;
    *n = 0;
    if (cap == 0)
        return 0;
    kumo__env_entry *list = calloc(cap, sizeof *list);
    if (list == NULL)
        return oom(err);
    for (size_t i = 0; i < p->env.n; i++)
        put(list, n, &p->env.v[i], "env");
    for (size_t i = 0; u && i < u->env.n; i++)
        put(list, n, &u->env.v[i], "functions.*.env");
    for (size_t i = 0; e && i < e->env.n; i++)
        put(list, n, &e->env.v[i], "environments.*.env");
    *out = list;
    return 0;
}

int kumo__env_any(const kumo__project *p, const char *env)
{
    const kumo__environment *e = kumo__project_environment(p, env);
    if (p->env.n || (e && e->env.n))
        return 1;
    for (size_t i = 0; i < p->nunits; i++)
        if (p->units[i].env.n)
            return 1;
    return 0;
}

int kumo__env_expand(const kumo__project *p, const kumo__env_entry *e, char **out, kumo__error *err)
{
    *out = NULL;
    if (!e->var->secret)
        return (*out = strdup(e->var->value)) ? 0 : oom(err);
    kumo__error xerr = {0};
    int rc = kumo__secret_expand_multiline(e->var->value, p->dir, out, &xerr);
    if (rc < 0)
        kumo__error_set(err, rc, "%s:%d:%d: env %s: %s", kumo__doc_path(p->doc), e->var->line, e->var->col,
                        e->var->name, xerr.msg);
    return rc;
}

/* ---- a worker's environment ------------------------------------------------ */

static int plan_has(const kumo__store_plan *plan, const char *const *schemes)
{
    for (size_t i = 0; plan && i < plan->n; i++)
        for (size_t k = 0; schemes[k]; k++)
            if (strncmp(plan->stores[i].url, schemes[k], strlen(schemes[k])) == 0)
                return 1;
    return 0;
}

int kumo__env_kept(const kumo__store_plan *plan, const char *entry)
{
    /* what kumo-worker itself needs to run (sanitizer builds, a library
     * path an installation relies on, where time zones are) */
    static const char *const always[] = {
        "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS", "LD_LIBRARY_PATH", "TZDIR", NULL};
    /* what the store drivers read (src/sdk/stores/aws.c; libpq) */
    static const char *const aws_vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "AWS_REGION",        "AWS_DEFAULT_REGION",    NULL};
    static const char *const aws[] = {"dynamodb:", "s3:", "sqs:", "sns:", NULL};
    /* src/sdk/stores/gcp.c */
    static const char *const gcp_vars[] = {"GOOGLE_CLOUD_PROJECT",
                                           "GCLOUD_PROJECT",
                                           "GOOGLE_APPLICATION_CREDENTIALS",
                                           "FIRESTORE_EMULATOR_HOST",
                                           "PUBSUB_EMULATOR_HOST",
                                           "STORAGE_EMULATOR_HOST",
                                           "GCE_METADATA_HOST",
                                           NULL};
    static const char *const gcp[] = {"firestore:", "pubsub:", "gs:", NULL};
    static const char *const pg[] = {"postgres:", "postgresql:", NULL};
    /* src/sdk/stores/azure.c */
    static const char *const az_vars[] = {"AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING",
                                          "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                                          "AZURE_CLIENT_ID",   NULL};
    static const char *const az[] = {"aztable:", "azblob:", "azqueue:", NULL};
    const char *eq = strchr(entry, '=');
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; always[i]; i++)
        if (strlen(always[i]) == len && strncmp(entry, always[i], len) == 0)
            return 1;
    if (plan_has(plan, aws))
        for (size_t i = 0; aws_vars[i]; i++)
            if (strlen(aws_vars[i]) == len && strncmp(entry, aws_vars[i], len) == 0)
                return 1;
    if (plan_has(plan, gcp))
        for (size_t i = 0; gcp_vars[i]; i++)
            if (strlen(gcp_vars[i]) == len && strncmp(entry, gcp_vars[i], len) == 0)
                return 1;
    if (plan_has(plan, az))
        for (size_t i = 0; az_vars[i]; i++)
            if (strlen(az_vars[i]) == len && strncmp(entry, az_vars[i], len) == 0)
                return 1;
    return len > 2 && strncmp(entry, "PG", 2) == 0 && plan_has(plan, pg);
}

char **kumo__env_worker_base(const kumo__store_plan *plan, char *const *vars)
{
    size_t n = 0;
    for (size_t i = 0; vars && vars[i]; i++)
        n += kumo__env_kept(plan, vars[i]) && strncmp(vars[i], "KUMO_STORE_", 11) != 0;
    char **kept = calloc(n + 1, sizeof *kept);
    if (kept == NULL)
        return NULL;
    n = 0;
    for (size_t i = 0; vars && vars[i]; i++)
        if (kumo__env_kept(plan, vars[i]) && strncmp(vars[i], "KUMO_STORE_", 11) != 0)
            kept[n++] = vars[i];
    char **envp = kumo__store_plan_envp(plan, kept);
    free(kept);
    return envp;
}

int kumo__env_unit_block(const kumo__project *p, const kumo__unit *u, const char *env, char ***out, kumo__error *err)
{
    kumo__env_entry *list = NULL;
    size_t n = 0, bytes = 0;
    char **values = NULL, **block = NULL;
    int rc = kumo__env_effective(p, u, env, &list, &n, err);
    *out = NULL;
    if (rc < 0 || n == 0)
        goto out;
    if ((values = calloc(n, sizeof *values)) == NULL) {
        rc = oom(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = kumo__env_expand(p, &list[i], &values[i], err)) < 0)
            goto out;
        bytes += strlen(list[i].var->name) + 1 + strlen(values[i]) + 1;
    }
    if ((block = malloc((n + 1) * sizeof(char *) + bytes)) == NULL) {
        rc = oom(err);
        goto out;
    }
    char *at = (char *)(block + n + 1);
    for (size_t i = 0; i < n; i++) {
        block[i] = at;
        at += sprintf(at, "%s=%s", list[i].var->name, values[i]) + 1;
    }
    block[n] = NULL;
    *out = block;
out:
    for (size_t i = 0; values && i < n; i++) {
        if (values[i]) /* a secret's copy: wiped before it goes back to the heap */
            memset(values[i], 0, strlen(values[i]));
        free(values[i]);
    }
    free(values);
    free(list);
    return rc;
}

void kumo__env_block_free(char **block)
{
    for (size_t i = 0; block && block[i]; i++)
        memset(block[i], 0, strlen(block[i])); /* secrets do not go back to the heap as they were */
    free(block);
}
