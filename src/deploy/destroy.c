/*
 * destroy.c: what `kumo destroy --target T` deletes that holds data, so
 * that the command can ask before it does (cli/deploy.c): on aws, the
 * stores the stack made (a DynamoDB table per kv store, a bucket per blob
 * store, emptied first, a queue and its dead-letter queue per queue
 * store); on azure, the resource group, with the storage account the
 * Functions host keeps its queues and blobs in, and the tables, containers
 * and queues of the stores deploy made there; on gcp, what deploy made for
 * the stores placed nowhere (target_gcp.c: the Firestore database, the
 * buckets, the Pub/Sub topics). The cluster targets delete the services
 * only: a store there lives at the URL kumo.yaml gives (or in the
 * instances themselves), which a destroy never touches; so does a store
 * with a URL, or listed as embedded, on gcp and azure.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/deploy.h"
#include "deploy/target.h"
#include "project/project.h"
#include "project/store_plan.h"

static int push(char ***what, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int push(char ***what, size_t *n, const char *fmt, ...)
{
    char *s = NULL, **grown = realloc(*what, (*n + 1) * sizeof(**what));
    if (grown == NULL)
        return -ENOMEM;
    *what = grown;
    va_list ap;
    va_start(ap, fmt);
    int len = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -ENOMEM;
    (*what)[(*n)++] = s;
    return 0;
}

/* On gcp: the stores deploy made, those placed nowhere and not listed as
 * embedded (target_gcp.c names them kumo-<deployment>-<store>). */
static int gcp_data(const kumo__deploy_opts *o, const kumo__project *p, const char *env_name,
                    const kumo__store_plan *plan, char ***what, size_t *n)
{
    const kumo__environment *e = kumo__project_environment(p, env_name);
    char label[64], store[64], name[160];
    kumo__target_dns_label(o->stack ? o->stack : p->name, label, 31);
    int rc = 0;
    for (size_t i = 0; i < plan->n && rc == 0; i++) {
        const kumo__store_place *s = &plan->stores[i];
        int listed = 0;
        for (size_t k = 0; e && k < e->nembedded; k++)
            listed |= strcmp(e->embedded[k], s->name) == 0;
        if (s->origin != KUMO__STORE_FROM_DEFAULT || listed)
            continue;
        kumo__target_dns_label(s->name, store, sizeof store);
        if (s->kind == KUMO__STORE_KV)
            snprintf(name, sizeof name, "the collection %s of the Firestore database kumo-%s", s->name, label);
        else
            snprintf(name, sizeof name, "%s kumo-%s-%s",
                     s->kind == KUMO__STORE_BLOB ? "the bucket" : "the Pub/Sub topic", label, store);
        rc = push(what, n,
                  s->kind == KUMO__STORE_KV     ? "%s store '%s': %s (the database, with every kv store's documents)"
                  : s->kind == KUMO__STORE_BLOB ? "%s store '%s': %s and every object in it"
                                                : "%s store '%s': %s and its subscriptions (undelivered messages)",
                  kumo__store_kind_name(s->kind), s->name, name);
    }
    return rc;
}

int kumo__destroy_data(const kumo__deploy_opts *o, char ***what, size_t *n, kumo__error *err)
{
    kumo__project *p = NULL;
    kumo__store_plan plan = {0};
    const char *env = NULL;
    int rc;
    *what = NULL;
    *n = 0;
    int aws = strcmp(o->target, "aws") == 0, azure = strcmp(o->target, "azure") == 0,
        gcp = strcmp(o->target, "gcp") == 0;
    if (!aws && !azure && !gcp)
        return 0;
    if ((rc = kumo__project_load(o->dir, &p, err)) < 0)
        return rc;
    if (azure) {
        rc = push(what, n,
                  "the resource group of '%s'%s, with its storage account (the queues and blobs of the app, and the "
                  "tables, containers and queues of the stores deploy made there)",
                  o->stack ? o->stack : p->name, "");
        goto out;
    }
    if ((rc = kumo__project_pick_environment(p, o->env, &env, err)) < 0 ||
        (rc = kumo__store_plan_build(p, env, NULL, NULL, NULL, &plan, err)) < 0)
        goto out;
    if (gcp) {
        rc = gcp_data(o, p, env, &plan, what, n);
        goto out;
    }
    for (size_t i = 0; i < plan.n && rc == 0; i++) {
        const kumo__store_place *s = &plan.stores[i];
        if (s->origin == KUMO__STORE_FROM_ENVIRONMENT)
            continue; /* lives where kumo.yaml says: not the stack's */
        rc = push(what, n,
                  s->kind == KUMO__STORE_KV      ? "%s store '%s': its DynamoDB table"
                  : s->kind == KUMO__STORE_BLOB  ? "%s store '%s': its S3 bucket and every object in it"
                  : s->kind == KUMO__STORE_QUEUE ? "%s store '%s': its SQS queue and dead-letter queue"
                                                 : "%s store '%s': its SNS topic",
                  kumo__store_kind_name(s->kind), s->name);
    }
out:
    if (rc == -ENOMEM)
        kumo__error_set(err, rc, "out of memory");
    if (rc < 0) {
        kumo__destroy_data_free(*what, *n);
        *what = NULL;
        *n = 0;
    }
    kumo__store_plan_free(&plan);
    kumo__project_free(p);
    return rc;
}

void kumo__destroy_data_free(char **what, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(what[i]);
    free(what);
}
