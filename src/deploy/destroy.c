/*
 * destroy.c: what `kumo destroy --target T` deletes that holds data, so
 * that the command can ask before it does (cli/deploy.c): on aws, the
 * stores the stack made (a DynamoDB table per kv store, a bucket per blob
 * store, emptied first, a queue and its dead-letter queue per queue
 * store); on azure, the resource group, with the storage account the
 * Functions host keeps its queues and blobs in. The cluster targets and
 * gcp delete the services only: a store there lives at the URL kumo.yaml
 * gives (or in the instances themselves), which a destroy never touches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/deploy.h"
#include "project/project.h"
#include "project/store_plan.h"

static int push(char ***what, size_t *n, const char *fmt, const char *a, const char *b)
{
    char *s = NULL, **grown = realloc(*what, (*n + 1) * sizeof(**what));
    if (grown == NULL)
        return -ENOMEM;
    *what = grown;
    if (asprintf(&s, fmt, a, b) < 0)
        return -ENOMEM;
    (*what)[(*n)++] = s;
    return 0;
}

int kumo__destroy_data(const kumo__deploy_opts *o, char ***what, size_t *n, kumo__error *err)
{
    kumo__project *p = NULL;
    kumo__store_plan plan = {0};
    const char *env = NULL;
    int rc;
    *what = NULL;
    *n = 0;
    int aws = strcmp(o->target, "aws") == 0, azure = strcmp(o->target, "azure") == 0;
    if (!aws && !azure)
        return 0;
    if ((rc = kumo__project_load(o->dir, &p, err)) < 0)
        return rc;
    if (azure) {
        rc = push(what, n, "the resource group of '%s'%s, with its storage account (the queues and blobs of the app)",
                  o->stack ? o->stack : p->name, "");
        goto out;
    }
    if ((rc = kumo__project_pick_environment(p, o->env, &env, err)) < 0 ||
        (rc = kumo__store_plan_build(p, env, NULL, NULL, NULL, &plan, err)) < 0)
        goto out;
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
