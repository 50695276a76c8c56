/*
 * aws_api.h: the few AWS control-plane calls `kumo deploy --target aws`
 * makes (aws.c): S3 for the artifacts bucket, STS for the account id,
 * CloudFormation's Query API for the stack. Each call is one SigV4-signed
 * HTTPS exchange through libcurl (CURLOPT_AWS_SIGV4, as the store drivers
 * sign theirs), with the credentials of AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. With an endpoint (moto,
 * LocalStack) every service goes to that one URL, S3 path style.
 *
 * Control plane: errors go into a kumo__error as "SERVICE Action: Code:
 * message"; no credential, request body or parameter value is ever put in
 * one (a service that echoes the key id has it blanked).
 */
#ifndef KUMO_DEPLOY_AWS_API_H
#define KUMO_DEPLOY_AWS_API_H

#include <stddef.h>

#include "base/error.h"

typedef struct kumo__aws_api kumo__aws_api;

/* A client for `region`; endpoint NULL means AWS's own endpoints. Fails
 * (err set) when the credentials are not in the environment. */
int kumo__aws_api_new(const char *region, const char *endpoint, kumo__aws_api **out, kumo__error *err);
void kumo__aws_api_free(kumo__aws_api *a);
/* The last failed call's AWS error code ("ValidationError", "NoSuchBucket",
 * "curl" for a transport failure), "" after a success. */
const char *kumo__aws_api_code(const kumo__aws_api *a);
const char *kumo__aws_api_region(const kumo__aws_api *a);
/* 1 when the endpoint is moto's server (it answers GET /moto-api/), whose
 * CloudFormation creates a RestApi without reading its Body. */
int kumo__aws_api_is_moto(kumo__aws_api *a);

/* ---- STS ---- */

/* GetCallerIdentity's Account, malloc'd into *account. */
int kumo__sts_account(kumo__aws_api *a, char **account, kumo__error *err);

/* ---- S3 ---- */

/* CreateBucket; a bucket this account already owns is success. */
int kumo__s3_bucket_create(kumo__aws_api *a, const char *bucket, kumo__error *err);
/* HeadObject: *exists 1 or 0. */
int kumo__s3_object_exists(kumo__aws_api *a, const char *bucket, const char *key, int *exists, kumo__error *err);
/* PutObject of `len` bytes. */
int kumo__s3_object_put(kumo__aws_api *a, const char *bucket, const char *key, const void *data, size_t len,
                        const char *content_type, kumo__error *err);
/* PutObject of the file at `path`. */
int kumo__s3_object_put_file(kumo__aws_api *a, const char *bucket, const char *key, const char *path,
                             const char *content_type, kumo__error *err);
/* Deletes every object (ListObjectsV2 pages + DeleteObject); *deleted
 * counts them. A bucket that does not exist is -ENOENT. */
int kumo__s3_bucket_empty(kumo__aws_api *a, const char *bucket, size_t *deleted, kumo__error *err);
/* DeleteBucket (it must be empty); -ENOENT when it does not exist. */
int kumo__s3_bucket_delete(kumo__aws_api *a, const char *bucket, kumo__error *err);
/* The https URL of an object as CloudFormation's TemplateURL takes it
 * (malloc'd; NULL when out of memory). */
char *kumo__s3_object_https_url(const kumo__aws_api *a, const char *bucket, const char *key);

/* ---- CloudFormation ---- */

typedef struct kumo__cfn_stack {
    char *id;
    char *status; /* CREATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE, ... */
    char *reason; /* StackStatusReason, or NULL */
    char **output_keys;
    char **output_values;
    size_t noutputs;
} kumo__cfn_stack;

/* DescribeStacks of one stack; -ENOENT when there is none (or it is
 * DELETE_COMPLETE, which DescribeStacks by name does not return). */
int kumo__cfn_describe(kumo__aws_api *a, const char *stack, kumo__cfn_stack *out, kumo__error *err);
void kumo__cfn_stack_free(kumo__cfn_stack *s);
/* An output's value, or NULL. */
const char *kumo__cfn_output(const kumo__cfn_stack *s, const char *key);

typedef struct kumo__cfn_event {
    char *id;       /* EventId */
    char *resource; /* LogicalResourceId */
    char *type;     /* ResourceType */
    char *status;   /* ResourceStatus */
    char *reason;   /* ResourceStatusReason, or NULL */
} kumo__cfn_event;

/* DescribeStackEvents' first page (newest first) into *out (n items). */
int kumo__cfn_events(kumo__aws_api *a, const char *stack, kumo__cfn_event **out, size_t *n, kumo__error *err);
void kumo__cfn_events_free(kumo__cfn_event *ev, size_t n);

typedef struct kumo__cfn_param {
    const char *key;
    const char *value; /* may be a secret: sent, never logged; NULL: the stack's previous value */
} kumo__cfn_param;

/* GetTemplate: the stack's current template (as submitted), malloc'd in
 * *body. -ENOENT when there is no such stack. */
int kumo__cfn_get_template(kumo__aws_api *a, const char *stack, char **body, kumo__error *err);

/* CreateStack (update 0) or UpdateStack (update 1) with the template in
 * `body` or at `url` (one of them), CAPABILITY_IAM. Returns 0, or 1 for an
 * update CloudFormation answers "No updates are to be performed". */
int kumo__cfn_apply(kumo__aws_api *a, int update, const char *stack, const char *body, const char *url,
                    const kumo__cfn_param *params, size_t nparams, kumo__error *err);
int kumo__cfn_delete(kumo__aws_api *a, const char *stack, kumo__error *err);
/* PhysicalResourceIds of the stack's resources of `type` (DescribeStackResources). */
int kumo__cfn_resources(kumo__aws_api *a, const char *stack, const char *type, char ***ids, size_t *n,
                        kumo__error *err);
void kumo__cfn_strings_free(char **s, size_t n);

#endif
