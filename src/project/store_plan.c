/*
 * store_plan.c: where each store lives (store_plan.h). The one place that
 * applies the precedence variable > kumo.yaml > default, the reload rule
 * (a placed store is never moved), and the KUMO_STORE_<NAME> variables a
 * worker gets, and the events= parameter of a file: blob store watched by
 * blob events (file_blob.c records them).
 */
#include "project/store_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of NAME in a "NAME=value" list, or NULL. */
static const char *lookup(char *const *vars, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; vars && vars[i]; i++)
        if (strncmp(vars[i], name, n) == 0 && vars[i][n] == '=')
            return vars[i] + n + 1;
    return NULL;
}

static int is_server(const char *url)
{
    return strncmp(url, "sqlite:", 7) != 0 && strncmp(url, "file:", 5) != 0;
}

/* Whether a URL's query has an events= parameter. */
static int has_events(const char *url)
{
    const char *q = strchr(url, '?');
    for (const char *p = q ? q + 1 : NULL; p && *p; p += strcspn(p, "&"), p += *p == '&')
        if (strncmp(p, "events=", 7) == 0)
            return 1;
    return 0;
}

/* The URL store `d` gets without a previous plan, into s. */
static int place(const kumo__project *p, const kumo__environment *e, char *const *vars, const kumo__store_decl *d,
                 kumo__store_place *s, kumo__error *err)
{
    const char *set = lookup(vars, s->var);
    const kumo__store_url *su = kumo__environment_store(e, d->name);
    int n;
    if (set != NULL && *set != '\0') {
        s->origin = KUMO__STORE_FROM_VARIABLE;
        s->url = strdup(set);
    } else if (su != NULL) {
        s->origin = KUMO__STORE_FROM_ENVIRONMENT;
        s->line = su->line;
        s->col = su->col;
        s->url = strdup(su->url);
    } else {
        s->origin = KUMO__STORE_FROM_DEFAULT;
        if (d->kind == KUMO__STORE_BLOB)
            n = asprintf(&s->url, "file:%s/.kumo/data/blob", p->dir);
        else
            n = asprintf(&s->url, "sqlite:%s/.kumo/data/%s.db", p->dir, kumo__store_kind_name(d->kind));
        if (n < 0)
            s->url = NULL;
    }
    if (s->url == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    if (d->kind == KUMO__STORE_BLOB && has_events(s->url)) {
        kumo__error_set(err, -EINVAL,
                        "blob store '%s': its URL sets events=, which kumo sets from kumo.yaml's events: (blob: %s); "
                        "remove it from %s",
                        d->name, d->name, s->origin == KUMO__STORE_FROM_VARIABLE ? s->var : "the store's URL");
        return -EINVAL;
    }
    return 0;
}

static int set_shown(kumo__store_place *s, kumo__error *err)
{
    size_t len = strlen(s->url) + 1;
    free(s->shown);
    if ((s->shown = malloc(len)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    kumo__store_url_redact(s->url, s->shown, len);
    s->needs_net = is_server(s->url);
    return 0;
}

/* ---- events= of a file: blob store (src/sdk/stores/file_blob.c reads it) ---- */

/* Appends `s` percent-encoded where a byte would end a field (':' ';'),
 * the parameter ('&' '#'), or is not printable ASCII. */
static void put_field(char *out, size_t *at, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= ' ' || *c >= 0x7f || strchr("%:;&#?=+,", *c)) {
            out[(*at)++] = '%';
            out[(*at)++] = hex[*c >> 4];
            out[(*at)++] = hex[*c & 15];
        } else {
            out[(*at)++] = (char)*c;
        }
    }
}

/* `url` with events= naming the blob events of store `name` appended:
 * events=NAME:ON:PREFIX:SUFFIX;... A malloc'd copy of url when the store
 * has none or is not file: (a deploy target's s3: store: its events are
 * the platform's notifications), NULL when out of memory. */
static char *with_events(const kumo__project *p, const char *name, const char *url)
{
    size_t room = strlen(url) + sizeof("?events=");
    int any = 0;
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        if (e->kind != KUMO__EVENT_BLOB || strcmp(e->blob, name) != 0)
            continue;
        room += strlen(e->name) + sizeof(":created,deleted:::") +
                3 * (strlen(e->prefix ? e->prefix : "") + strlen(e->suffix ? e->suffix : ""));
        any = 1;
    }
    char *out = malloc(room);
    if (out == NULL)
        return NULL;
    size_t at = (size_t)sprintf(out, "%s", url);
    if (!any || strncmp(url, "file:", 5) != 0)
        return out;
    at += (size_t)sprintf(out + at, "%sevents=", strchr(url, '?') ? "&" : "?");
    const char *sep = "";
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *e = &p->events[i];
        if (e->kind != KUMO__EVENT_BLOB || strcmp(e->blob, name) != 0)
            continue;
        at += (size_t)sprintf(out + at, "%s%s:%s%s%s:", sep, e->name, e->on & KUMO__BLOB_CREATED ? "created" : "",
                              (e->on & KUMO__BLOB_CREATED) && (e->on & KUMO__BLOB_DELETED) ? "," : "",
                              e->on & KUMO__BLOB_DELETED ? "deleted" : "");
        put_field(out, &at, e->prefix ? e->prefix : "");
        out[at++] = ':';
        put_field(out, &at, e->suffix ? e->suffix : "");
        sep = ";";
    }
    out[at] = '\0';
    return out;
}

/* `url` without an events= parameter (a previous plan's, for comparing
 * and keeping where a store lives): malloc'd, NULL when out of memory. */
static char *without_events(const char *url)
{
    char *out = strdup(url);
    char *q = out ? strchr(out, '?') : NULL;
    if (q == NULL)
        return out;
    for (char *p = q + 1; *p;) {
        size_t len = strcspn(p, "&");
        if (strncmp(p, "events=", 7) == 0) {
            memmove(p, p + len + (p[len] == '&'), strlen(p + len + (p[len] == '&')) + 1);
            continue;
        }
        p += len + (p[len] == '&');
    }
    size_t n = strlen(out);
    if (n && (out[n - 1] == '&' || out[n - 1] == '?'))
        out[n - 1] = '\0';
    return out;
}

/* Gives every file: blob store with blob events its events= parameter. */
static int add_events(const kumo__project *p, kumo__store_place *s, kumo__error *err)
{
    if (s->kind != KUMO__STORE_BLOB)
        return 0;
    char *url = with_events(p, s->name, s->url), *asked = with_events(p, s->name, s->asked);
    if (url == NULL || asked == NULL) {
        free(url);
        free(asked);
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    free(s->url);
    free(s->asked);
    s->url = url;
    s->asked = asked;
    return set_shown(s, err);
}

int kumo__store_plan_build(const kumo__project *p, const char *env_asked, char *const *vars,
                           const kumo__store_plan *previous,
                           void (*moved)(const kumo__store_place *kept, const char *wanted_shown),
                           kumo__store_plan *out, kumo__error *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = kumo__project_pick_environment(p, env_asked, &out->env, err)) != 0)
        return rc;
    const kumo__environment *e = kumo__project_environment(p, out->env);
    if (p->nstores && (out->stores = calloc(p->nstores, sizeof(*out->stores))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < p->nstores; i++) {
        const kumo__store_decl *d = &p->stores[i];
        kumo__store_place *s = &out->stores[out->n++];
        s->name = d->name;
        s->kind = d->kind;
        if (kumo__store_var(d->name, s->var, sizeof(s->var)) != 0) {
            kumo__error_set(err, -ENAMETOOLONG, "store '%s': the name is too long for a variable", d->name);
            rc = err->code;
            goto fail;
        }
        if ((rc = place(p, e, vars, d, s, err)) != 0 || (rc = set_shown(s, err)) != 0)
            goto fail;
        if ((s->asked = strdup(s->url)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto fail;
        }
        const kumo__store_place *was = previous ? kumo__store_plan_find(previous, d->name) : NULL;
        s->fresh = was == NULL;
        if (was == NULL) {
            if ((rc = add_events(p, s, err)) != 0)
                goto fail;
            continue;
        }
        if (was->kind != d->kind) {
            kumo__error_set(err, -EINVAL,
                            "store '%s' was a %s store and is now a %s store; a reload cannot change a store's kind: "
                            "restart kumo up",
                            d->name, kumo__store_kind_name(was->kind), kumo__store_kind_name(d->kind));
            rc = err->code;
            goto fail;
        }
        /* a store the workers already use is never moved by a reload (its
         * events= follows kumo.yaml: it is not where the store lives) */
        char *url = without_events(was->url), *asked = s->url, *was_asked = without_events(was->asked);
        if (url == NULL || was_asked == NULL) {
            free(url);
            free(was_asked);
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto fail;
        }
        if (strcmp(was_asked, s->url) != 0 && strcmp(url, s->url) != 0 && moved)
            moved(was, s->shown);
        free(was_asked);
        free(s->asked);
        s->url = url;
        s->asked = asked;
        s->origin = was->origin;
        s->line = was->line;
        s->col = was->col;
        s->kept = 1;
        if ((rc = set_shown(s, err)) != 0 || (rc = add_events(p, s, err)) != 0)
            goto fail;
    }
    return 0;
fail:
    kumo__store_plan_free(out);
    return rc;
}

void kumo__store_plan_free(kumo__store_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->stores[i].url);
        free(plan->stores[i].asked);
        free(plan->stores[i].shown);
    }
    free(plan->stores);
    memset(plan, 0, sizeof(*plan));
}

const kumo__store_place *kumo__store_plan_find(const kumo__store_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->n; i++)
        if (strcmp(plan->stores[i].name, name) == 0)
            return &plan->stores[i];
    return NULL;
}

int kumo__store_plan_needs_net(const kumo__store_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++)
        if (plan->stores[i].needs_net)
            return 1;
    return 0;
}

void kumo__store_place_fix(const kumo__project *p, const kumo__store_plan *plan, const kumo__store_place *s, char *buf,
                           size_t len)
{
    switch (s->origin) {
    case KUMO__STORE_FROM_VARIABLE: snprintf(buf, len, "fix %s in kumo's environment", s->var); break;
    case KUMO__STORE_FROM_ENVIRONMENT:
        if (s->line > 0)
            snprintf(buf, len, "fix environments.%s.stores.%s in %s:%d:%d", plan->env, s->name, kumo__doc_path(p->doc),
                     s->line, s->col);
        else
            snprintf(buf, len, "fix environments.%s.stores.%s in %s", plan->env, s->name, kumo__doc_path(p->doc));
        break;
    case KUMO__STORE_FROM_DEFAULT:
        snprintf(buf, len,
                 "make %s/.kumo/data writable, or put the store elsewhere with %s or "
                 "environments.ENV.stores.%s in kumo.yaml",
                 p->dir, s->var, s->name);
        break;
    }
}

char **kumo__store_plan_envp(const kumo__store_plan *plan, char *const *base)
{
    size_t count = 0, bytes = 0;
    for (size_t i = 0; base && base[i]; i++)
        if (strncmp(base[i], "KUMO_STORE_", 11) != 0) {
            count++;
            bytes += strlen(base[i]) + 1;
        }
    for (size_t i = 0; i < plan->n; i++)
        bytes += strlen(plan->stores[i].var) + 1 + strlen(plan->stores[i].url) + 1;
    count += plan->n;
    char **envp = malloc((count + 1) * sizeof(char *) + bytes);
    if (envp == NULL)
        return NULL;
    char *at = (char *)(envp + count + 1);
    size_t k = 0;
    for (size_t i = 0; base && base[i]; i++)
        if (strncmp(base[i], "KUMO_STORE_", 11) != 0) {
            size_t n = strlen(base[i]) + 1;
            envp[k++] = memcpy(at, base[i], n);
            at += n;
        }
    for (size_t i = 0; i < plan->n; i++) {
        envp[k++] = at;
        at += sprintf(at, "%s=%s", plan->stores[i].var, plan->stores[i].url) + 1;
    }
    envp[k] = NULL;
    return envp;
}
