/*
 * cfn.h: the CloudFormation template `kumo deploy --target aws` applies
 * (cfn_template.c) and the OpenAPI document it gives API Gateway as the
 * REST API's Body (cfn_openapi.c). Both are pure: they turn a loaded
 * project and spec into JSON and call no AWS API, so they are unit tested
 * without a network (tests/unit/deploy/test_cfn_template.c); aws.c writes
 * the template to DIR/.kumo/deploy/aws/template.json and applies it.
 */
#ifndef KUMO_DEPLOY_CFN_H
#define KUMO_DEPLOY_CFN_H

#include <jansson.h>
#include <stddef.h>

#include "project/project.h"
#include "project/store_plan.h"

/* The Body of the REST API: the spec's main document with every x-kumo-*
 * key removed, converted to OpenAPI 3.0.3 when it is 3.1 (type arrays with
 * "null" -> nullable, examples -> example, const -> enum, numeric
 * exclusiveMinimum/Maximum -> the boolean form, contentEncoding base64 ->
 * format byte, ...), and `x-amazon-apigateway-integration` added to every
 * operation: aws_proxy to its unit's function when the operation is bound
 * (op->unit_index >= 0; `integration(unit_index, ud)` gives the integration
 * object, a new reference), a mock answering 501 when not. What 3.0 cannot
 * say (prefixItems, if/then/else, $defs, a schema that is only "null", a
 * $ref into another file, ...) is refused with file:line:column. With
 * `cors_preflight` (kumo.yaml's http.cors), a path without an options
 * operation gets one integrated with the function of its first bound
 * operation: API Gateway answers an OPTIONS with no method itself, and the
 * preflight must reach kumo-host, which answers it as kumo up does
 * (docs/edge.md). *out is a new reference on 0. */
int kumo__cfn_openapi(const kumo__spec *spec, json_t *(*integration)(int unit_index, void *ud), void *ud,
                      int cors_preflight, json_t **out, kumo__error *err);

/* A NoEcho parameter of the template: a store URL of the environment that
 * holds a credential. The value goes to CloudFormation in the API call,
 * never into template.json or a log. */
typedef struct kumo__cfn_secret {
    char *param; /* the parameter's logical name: StoreUrlTodos, EnvOrdersApiToken */
    char *value; /* the URL or the variable's value (a secret); NULL in a dry run */
    char *said;  /* where the value comes from, safe to print: "kumo.yaml environment prod",
                    "env API_TOKEN = ${env:TOKEN}" */
} kumo__cfn_secret;

typedef struct kumo__cfn_input {
    const kumo__project *project;
    const kumo__spec *spec;       /* operations bound (kumo__bind_operations) */
    const kumo__environment *env; /* the --env environment, or NULL */
    const char *stack;            /* the stack name; functions are STACK-UNIT */
    const char *const *code_keys; /* the S3 key of each unit's zip, by unit index */
    const char *arch;             /* "x86_64" or "arm64" */
    const char *stage;            /* the API Gateway stage name */
    int no_secret_values;         /* a dry run: the env: secrets' parameters are declared, their
                                   * values not read (kumo__cfn_secret.value NULL) */
    int api_resources;            /* write the routes as AWS::ApiGateway::Resource and Method
                                   * resources instead of the RestApi's Body (for moto, whose
                                   * CloudFormation ignores Body) */
} kumo__cfn_input;

typedef struct kumo__cfn_template {
    json_t *doc;               /* the template (owned) */
    kumo__cfn_secret *secrets; /* the NoEcho parameters' values (owned) */
    size_t nsecrets;
} kumo__cfn_template;

/* The template: parameter ArtifactsBucket (the bucket holding the zips),
 * per unit a function, its role, log group and API Gateway permission, the
 * stores' resources (unless the environment places a store elsewhere), the
 * REST API, a deployment named after a digest of the Body (so a changed
 * API is deployed again) and its stage, and the outputs ApiUrl and ApiId.
 * Refuses what it cannot deploy (a store on sqlite: or file:, names that
 * collide, memory or timeout beyond Lambda's). Free with
 * kumo__cfn_template_free. */
int kumo__cfn_template_build(const kumo__cfn_input *in, kumo__cfn_template *out, kumo__error *err);
/* What kumo__cfn_template_build refuses of the stores and events alone
 * (needs in->project, env and stack only): so that kumo deploy says it
 * before it builds anything. 0, or negative with err. */
int kumo__cfn_events_check(const kumo__cfn_input *in, kumo__error *err);
void kumo__cfn_template_free(kumo__cfn_template *t);

/* A schedule event's expression for AWS::Scheduler::Schedule: "cron(0 3 ?
 * * MON-FRI *)" (5-field cron with '?' in the day field that does not
 * restrict, Sunday = SUN) or "rate(5 minutes)" for `every`. Refused at the
 * schedule's file:line:column: a seconds field, `every` under a minute or
 * not whole minutes, both day fields restricted. 0, or -EINVAL with err. */
int kumo__cfn_schedule_expression(const kumo__project *p, const kumo__event_decl *e, char *out, size_t len,
                                  kumo__error *err);

/* Lambda's memory size in MB for a unit's memory limit in bytes: rounded
 * up to whole MiB, at least 128 (also for 0, no limit); -1 above 10240. */
long kumo__cfn_lambda_memory(size_t bytes);
/* Lambda's timeout in whole seconds (rounded up, at least 1); -1 above 900. */
long kumo__cfn_lambda_timeout(double seconds);
/* A CloudFormation logical id part: "my-unit_2" -> "MyUnit2" (letters and
 * digits only). 0, or -ENAMETOOLONG when it does not fit `len`. */
int kumo__cfn_logical_name(const char *name, char *buf, size_t len);

#endif
