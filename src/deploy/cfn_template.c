/*
 * cfn_template.c: the CloudFormation template of `kumo deploy --target aws`
 * (see cfn.h). One stack holds the whole project:
 *
 *   per function unit U (logical names from kumo__cfn_logical_name):
 *     FunctionU     AWS::Lambda::Function, STACK-U, provided.al2023, handler
 *                   "bootstrap", code from the ArtifactsBucket parameter and
 *                   the zip's digest key, memory and timeout from the unit's
 *                   tuning, KUMO_STORE_<NAME> for every store
 *     RoleU         AWS::IAM::Role Lambda assumes: writing to its own log
 *                   group, and the data actions of the drivers on the
 *                   project's stores, on those resources only (kumo.yaml
 *                   does not say which unit uses which store, so each unit
 *                   may use every store of the project and no other)
 *     LogsU         AWS::Logs::LogGroup /aws/lambda/STACK-U (so the stack
 *                   owns it and destroy removes it)
 *     InvokeU       AWS::Lambda::Permission for apigateway.amazonaws.com
 *                   from this API only
 *   per store S, unless the environment (--env) places it elsewhere:
 *     TableS        kv: AWS::DynamoDB::Table, pk (S, hash) + sk (B, range),
 *                   TTL on `ttl`: the key schema dynamodb.c expects (its
 *                   items sit under pk "STORE#NN", 16 shards, with text
 *                   keys and values as S attributes: no schema change)
 *     BucketS       blob: AWS::S3::Bucket, public access blocked
 *     QueueS + DeadLetterQueueS   queue: AWS::SQS::Queue with the redrive
 *                   policy sqs.c gives the queues it makes (5 receives)
 *   Api             AWS::ApiGateway::RestApi, Body from cfn_openapi.c
 *   ApiDeploymentH  AWS::ApiGateway::Deployment; H is a digest of the Body,
 *                   so a changed API gets a new deployment (CloudFormation
 *                   never redeploys an unchanged Deployment resource)
 *   ApiStage        AWS::ApiGateway::Stage
 *   Outputs         ApiUrl, ApiId
 *
 * With api_resources (for moto, whose CloudFormation ignores Body) the
 * RestApi has no Body; each path segment prefix is an ApiPathH
 * AWS::ApiGateway::Resource and each operation an ApiMethodH
 * AWS::ApiGateway::Method with the same integration (H: a digest of the
 * path, or of method and path), and the deployment depends on them.
 *
 * The functions reach their stores by URL with create=false: the stack made
 * the table, bucket or queue, and a role that may not create one should
 * fail loudly rather than have a driver try. A store the environment places
 * at an AWS URL (dynamodb://, s3://, sqs://) is used as it is, not created,
 * and the roles get access to it by ARN; a URL of another kind (redis://,
 * postgres://) is passed as it is, unless it holds a credential: then it is
 * a NoEcho parameter whose value aws.c hands CloudFormation in the API
 * call, so no secret is ever written into template.json. sqlite: and file:
 * stores live on one machine's disk and are refused.
 */
#include "deploy/cfn.h"

#include "project/schedule.h"
#include "sdk/stores/aws.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64      /* a logical id part; CloudFormation allows 255 in all */
#define FUNCTION_NAME_MAX 64 /* Lambda */
#define MIB ((size_t)1 << 20)

long kumo__cfn_lambda_memory(size_t bytes)
{
    size_t mb = (bytes + MIB - 1) / MIB;
    if (mb > 10240)
        return -1;
    return mb < 128 ? 128 : (long)mb;
}

long kumo__cfn_lambda_timeout(double seconds)
{
    double s = ceil(seconds);
    if (s > 900)
        return -1;
    return s < 1 ? 1 : (long)s;
}

int kumo__cfn_logical_name(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    int upper = 1;
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!isalnum(ch)) {
            upper = 1;
            continue;
        }
        if (o + 2 > len)
            return -ENAMETOOLONG;
        buf[o++] = upper ? (char)toupper(ch) : (char)ch;
        upper = 0;
    }
    if (o == 0 || len == 0)
        return -EINVAL;
    buf[o] = '\0';
    return 0;
}

void kumo__cfn_template_free(kumo__cfn_template *t)
{
    if (t == NULL)
        return;
    json_decref(t->doc);
    for (size_t i = 0; i < t->nsecrets; i++) {
        free(t->secrets[i].param);
        free(t->secrets[i].said);
        if (t->secrets[i].value) {
            memset(t->secrets[i].value, 0, strlen(t->secrets[i].value));
            free(t->secrets[i].value);
        }
    }
    free(t->secrets);
    memset(t, 0, sizeof(*t));
}

typedef struct builder {
    const kumo__cfn_input *in;
    kumo__cfn_template *out;
    json_t *resources;
    json_t *parameters;
    json_t *env_vars;         /* KUMO_STORE_* -> value, shared by every function */
    json_t *store_statements; /* IAM statements for the stores */
    json_t *unit_events;      /* unit name -> "NAME=${...},..." (KUMO_EVENTS, a Fn::Sub format) */
    json_t *sched_targets;    /* function logical id -> true: what the Scheduler role may invoke */
    kumo__error *err;
} builder;

static int nomem(builder *b)
{
    kumo__error_set(b->err, -ENOMEM, "out of memory building the CloudFormation template");
    return -ENOMEM;
}

static int set(builder *b, json_t *obj, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        return nomem(b);
    return 0;
}

static int add_resource(builder *b, const char *id, json_t *res)
{
    if (res == NULL)
        return nomem(b);
    if (json_object_get(b->resources, id) != NULL) {
        json_decref(res);
        kumo__error_set(b->err, -EEXIST,
                        "two names in kumo.yaml give the same CloudFormation name '%s' (only letters and digits "
                        "count); rename one",
                        id);
        return -EEXIST;
    }
    return set(b, b->resources, id, res);
}

static json_t *sub(const char *fmt)
{
    return json_pack("{s:s}", "Fn::Sub", fmt);
}

static json_t *getatt(const char *id, const char *attr)
{
    return json_pack("{s:[s,s]}", "Fn::GetAtt", id, attr);
}

static json_t *ref(const char *id)
{
    return json_pack("{s:s}", "Ref", id);
}

/* Appends one Allow statement; takes actions and resources. */
static int allow(builder *b, json_t *actions, json_t *resources)
{
    json_t *st = actions && resources
                     ? json_pack("{s:s, s:o, s:o}", "Effect", "Allow", "Action", actions, "Resource", resources)
                     : NULL;
    if (st == NULL) {
        json_decref(actions);
        json_decref(resources);
        return nomem(b);
    }
    return json_array_append_new(b->store_statements, st) == 0 ? 0 : nomem(b);
}

static json_t *ddb_actions(void)
{
    return json_pack("[s,s,s,s,s,s,s]", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                     "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable");
}

static json_t *s3_object_actions(void)
{
    return json_pack("[s,s,s,s,s]", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                     "s3:ListMultipartUploadParts");
}

static json_t *sqs_actions(void)
{
    return json_pack("[s,s,s,s,s,s]", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SendMessage",
                     "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility");
}

/* ---- what the events ask of the stores ------------------------------------ */

/* The queue event that consumes `queue`, or NULL; two events on one queue
 * are refused by events() (Lambda cannot tell their records apart). */
static const kumo__event_decl *queue_event(const kumo__project *p, const char *queue)
{
    for (size_t i = 0; i < p->nevents; i++)
        if (p->events[i].kind == KUMO__EVENT_QUEUE && strcmp(p->events[i].queue, queue) == 0)
            return &p->events[i];
    return NULL;
}

static int has_blob_events(const kumo__project *p, const char *store)
{
    for (size_t i = 0; i < p->nevents; i++)
        if (p->events[i].kind == KUMO__EVENT_BLOB && strcmp(p->events[i].blob, store) == 0)
            return 1;
    return 0;
}

/* A bucket with events has a name of kumo's making: its notification
 * invokes a function whose environment names the bucket, so neither may
 * refer to the other's resource (a circular dependency); both use this
 * name. lower(STACK)-STORE, cut to leave room for
 * -ACCOUNT-REGION within S3's 63 characters: a Fn::Sub format. */
static void bucket_name_fmt(const char *stack, const char *store, char *out, size_t len)
{
    char base[40];
    size_t o = 0;
    for (const char *p = stack; *p && o < 20; p++)
        if (isalnum((unsigned char)*p) || *p == '-')
            base[o++] = (char)tolower((unsigned char)*p);
    if (o < sizeof(base) - 1)
        base[o++] = '-';
    for (const char *p = store; *p && o < 34; p++)
        base[o++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    while (o > 0 && base[o - 1] == '-')
        o--;
    base[o] = '\0';
    snprintf(out, len, "%s-${AWS::AccountId}-${AWS::Region}", o ? base : "kumo");
}

/* A store the stack creates. */
static int stack_store(builder *b, const char *store, const char *kind, const char *lname, const char *var)
{
    char id[NAME_MAX_LEN + 32], dlq[NAME_MAX_LEN + 32], fmt[256];
    int rc = 0;
    if (strcmp(kind, "kv") == 0) {
        snprintf(id, sizeof(id), "Table%s", lname);
        json_t *t =
            json_pack("{s:s, s:s, s:s, s:{s:s, s:[{s:s,s:s},{s:s,s:s}], s:[{s:s,s:s},{s:s,s:s}], s:{s:s,s:b}, "
                      "s:[{s:s,s:s}]}}",
                      "Type", "AWS::DynamoDB::Table", "DeletionPolicy", "Delete", "UpdateReplacePolicy", "Delete",
                      "Properties", "BillingMode", "PAY_PER_REQUEST", "AttributeDefinitions", "AttributeName", "pk",
                      "AttributeType", "S", "AttributeName", "sk", "AttributeType", "B", "KeySchema", "AttributeName",
                      "pk", "KeyType", "HASH", "AttributeName", "sk", "KeyType", "RANGE", "TimeToLiveSpecification",
                      "AttributeName", "ttl", "Enabled", 1, "Tags", "Key", "kumo:store", "Value", store);
        if ((rc = add_resource(b, id, t)) < 0)
            return rc;
        snprintf(fmt, sizeof(fmt), "dynamodb://${%s}?region=${AWS::Region}&create=false", id);
        if ((rc = set(b, b->env_vars, var, sub(fmt))) < 0)
            return rc;
        return allow(b, ddb_actions(), json_pack("[o]", getatt(id, "Arn")));
    }
    if (strcmp(kind, "blob") == 0) {
        snprintf(id, sizeof(id), "Bucket%s", lname);
        json_t *t =
            json_pack("{s:s, s:s, s:s, s:{s:{s:b,s:b,s:b,s:b}, s:[{s:s,s:s}]}}", "Type", "AWS::S3::Bucket",
                      "DeletionPolicy", "Delete", "UpdateReplacePolicy", "Delete", "Properties",
                      "PublicAccessBlockConfiguration", "BlockPublicAcls", 1, "BlockPublicPolicy", 1,
                      "IgnorePublicAcls", 1, "RestrictPublicBuckets", 1, "Tags", "Key", "kumo:store", "Value", store);
        char bname[160];
        int named = has_blob_events(b->in->project, store);
        if (named) {
            bucket_name_fmt(b->in->stack, store, bname, sizeof(bname));
            if (t && (rc = set(b, json_object_get(t, "Properties"), "BucketName", sub(bname))) < 0) {
                json_decref(t);
                return rc;
            }
        } else {
            snprintf(bname, sizeof(bname), "${%s}", id);
        }
        if ((rc = add_resource(b, id, t)) < 0)
            return rc;
        snprintf(fmt, sizeof(fmt), "s3://%s?region=${AWS::Region}&create=false", bname);
        if ((rc = set(b, b->env_vars, var, sub(fmt))) < 0)
            return rc;
        if (named)
            snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:s3:::%s/*", bname);
        else
            snprintf(fmt, sizeof(fmt), "${%s.Arn}/*", id);
        if ((rc = allow(b, s3_object_actions(), json_pack("[o]", sub(fmt)))) < 0)
            return rc;
        snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:s3:::%s", bname);
        return allow(b, json_pack("[s]", "s3:ListBucket"), json_pack("[o]", named ? sub(fmt) : getatt(id, "Arn")));
    }
    if (strcmp(kind, "topic") == 0) {
        snprintf(id, sizeof(id), "Topic%s", lname);
        json_t *t = json_pack("{s:s, s:{s:[{s:s,s:s}]}}", "Type", "AWS::SNS::Topic", "Properties", "Tags", "Key",
                              "kumo:store", "Value", store);
        if ((rc = add_resource(b, id, t)) < 0)
            return rc;
        snprintf(fmt, sizeof(fmt), "sns://${%s.TopicName}?region=${AWS::Region}&create=false", id);
        if ((rc = set(b, b->env_vars, var, sub(fmt))) < 0)
            return rc;
        return allow(b, json_pack("[s,s]", "sns:Publish", "sns:GetTopicAttributes"), json_pack("[o]", ref(id)));
    }
    snprintf(id, sizeof(id), "Queue%s", lname);
    snprintf(dlq, sizeof(dlq), "DeadLetterQueue%s", lname);
    json_t *d = json_pack("{s:s, s:s, s:s, s:{s:i, s:[{s:s,s:s}]}}", "Type", "AWS::SQS::Queue", "DeletionPolicy",
                          "Delete", "UpdateReplacePolicy", "Delete", "Properties", "MessageRetentionPeriod", 1209600,
                          "Tags", "Key", "kumo:store", "Value", store);
    if ((rc = add_resource(b, dlq, d)) < 0)
        return rc;
    /* A queue an event consumes takes the event's visibility and
     * max_receives (the Lambda event source mapping reads them there). */
    const kumo__event_decl *qe = queue_event(b->in->project, store);
    json_t *q = json_pack("{s:s, s:s, s:s, s:{s:{s:o, s:i}, s:[{s:s,s:s}]}}", "Type", "AWS::SQS::Queue",
                          "DeletionPolicy", "Delete", "UpdateReplacePolicy", "Delete", "Properties", "RedrivePolicy",
                          "deadLetterTargetArn", getatt(dlq, "Arn"), "maxReceiveCount", qe ? (int)qe->max_receives : 5,
                          "Tags", "Key", "kumo:store", "Value", store);
    if (q && qe)
        rc = set(b, json_object_get(q, "Properties"), "VisibilityTimeout",
                 json_integer((json_int_t)((qe->visibility_ms + 999) / 1000)));
    if (rc < 0)
        return rc;
    if ((rc = add_resource(b, id, q)) < 0)
        return rc;
    snprintf(fmt, sizeof(fmt), "sqs://${%s.QueueName}?region=${AWS::Region}&create=false", id);
    if ((rc = set(b, b->env_vars, var, sub(fmt))) < 0)
        return rc;
    return allow(b, sqs_actions(), json_pack("[o]", getatt(id, "Arn")));
}

/* A NoEcho parameter `pname` whose value (NULL: not read, a dry run) aws.c
 * passes in the API call; `said` tells where it comes from, safe to print. */
static int add_secret(builder *b, const char *pname, const char *desc, const char *value, const char *said)
{
    if (json_object_get(b->parameters, pname) != NULL) {
        kumo__error_set(b->err, -EINVAL,
                        "two secrets would be the one CloudFormation parameter %s; rename one of the variables", pname);
        return -EINVAL;
    }
    json_t *param = json_pack("{s:s, s:b, s:s}", "Type", "String", "NoEcho", 1, "Description", desc);
    int rc = set(b, b->parameters, pname, param);
    if (rc < 0)
        return rc;
    kumo__cfn_secret *s = realloc(b->out->secrets, (b->out->nsecrets + 1) * sizeof(*s));
    if (s == NULL)
        return nomem(b);
    b->out->secrets = s;
    s += b->out->nsecrets++;
    *s = (kumo__cfn_secret){.param = strdup(pname), .value = value ? strdup(value) : NULL, .said = strdup(said)};
    if (s->param == NULL || (value && s->value == NULL) || s->said == NULL)
        return nomem(b);
    return 0;
}

/* Names Lambda sets itself and refuses in a function's Environment. */
static int lambda_reserved(const char *name)
{
    return strncmp(name, "AWS_", 4) == 0 || strncmp(name, "LAMBDA_", 7) == 0 || name[0] == '_';
}

/* Unit u's env: variables into `vars` (its Environment.Variables): a plain
 * value as written, a secret as a NoEcho parameter Env<Unit><Name> whose
 * value (the reference expanded on this machine) goes in the API call. */
static int unit_env(builder *b, const kumo__unit *u, const char *lname, json_t *vars)
{
    const kumo__project *p = b->in->project;
    kumo__env_entry *list = NULL;
    size_t n = 0;
    int rc = kumo__env_effective(p, u, b->in->env ? b->in->env->name : NULL, &list, &n, b->err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const kumo__env_var *v = list[i].var;
        if (lambda_reserved(v->name)) {
            kumo__error_set(b->err, -EINVAL,
                            "%s:%d:%d: env %s: Lambda sets AWS_*, LAMBDA_* and _* variables itself and refuses them "
                            "in a function's environment; rename it",
                            kumo__doc_path(p->doc), v->line, v->col, v->name);
            rc = -EINVAL;
            break;
        }
        if (!v->secret) {
            rc = set(b, vars, v->name, json_string(v->value));
            continue;
        }
        char vname[NAME_MAX_LEN], pname[2 * NAME_MAX_LEN + 8], said[600], lower[NAME_MAX_LEN];
        char *value = NULL;
        /* API_TOKEN: EnvUnitApiToken */
        snprintf(lower, sizeof(lower), "%s", v->name);
        for (char *c = lower; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (kumo__cfn_logical_name(lower, vname, sizeof(vname)) < 0) {
            kumo__error_set(b->err, -EINVAL, "%s:%d:%d: env %s cannot name a CloudFormation parameter",
                            kumo__doc_path(p->doc), v->line, v->col, v->name);
            rc = -EINVAL;
            break;
        }
        snprintf(pname, sizeof(pname), "Env%s%s", lname, vname);
        snprintf(said, sizeof(said), "env %s = %s", v->name, v->value);
        if (!b->in->no_secret_values && (rc = kumo__env_expand(p, &list[i], &value, b->err)) < 0)
            break;
        rc = add_secret(b, pname, "a secret env: variable (kumo passes it at deploy time)", value, said);
        if (value) {
            memset(value, 0, strlen(value));
            free(value);
        }
        if (rc == 0)
            rc = set(b, vars, v->name, ref(pname));
    }
    free(list);
    return rc;
}

/* A store the environment places: used as it is. */
static int env_store(builder *b, const char *store, const char *kind, const char *lname, const char *var,
                     const kumo__store_place *su)
{
    const kumo__project *p = b->in->project;
    const char *url = su->url;
    const char *colon = strchr(url, ':');
    size_t slen = colon ? (size_t)(colon - url) : 0;
    char scheme[32], fmt[600], redacted[1024];
    int rc;
    snprintf(scheme, sizeof(scheme), "%.*s", (int)(slen < sizeof(scheme) ? slen : sizeof(scheme) - 1), url);

    if (strcmp(scheme, "sqlite") == 0 || strcmp(scheme, "file") == 0) {
        kumo__error_set(b->err, -EINVAL,
                        "%s:%d:%d: store '%s' is at '%s' in environment '%s': a file on one machine, which a "
                        "Lambda function cannot share; drop it from the environment (the stack then makes a "
                        "%s) or give a remote URL",
                        kumo__doc_path(p->doc), su->line, su->col, store, scheme, b->in->env->name,
                        strcmp(kind, "kv") == 0      ? "DynamoDB table"
                        : strcmp(kind, "blob") == 0  ? "S3 bucket"
                        : strcmp(kind, "topic") == 0 ? "SNS topic"
                                                     : "SQS queue");
        return -EINVAL;
    }
    const char *aws_scheme = strcmp(kind, "kv") == 0      ? "dynamodb"
                             : strcmp(kind, "blob") == 0  ? "s3"
                             : strcmp(kind, "topic") == 0 ? "sns"
                                                          : "sqs";
    if (strcmp(aws_scheme, "sns") == 0 && strcmp(scheme, "sns") == 0) {
        /* sns://TOPIC?region=R: publishing to that topic */
        size_t n = strcspn(url + 6, "?/");
        snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:sns:*:${AWS::AccountId}:%.*s", (int)(n < 256 ? n : 256),
                 url + 6);
        if ((rc = allow(b, json_pack("[s,s]", "sns:Publish", "sns:GetTopicAttributes"), json_pack("[o]", sub(fmt)))) <
            0)
            return rc;
    } else if (strcmp(scheme, aws_scheme) == 0) {
        kumo__aws_url u;
        kumo__error aerr = {0};
        if (kumo__aws_url_parse(url, aws_scheme, &u, &aerr) != 0) {
            kumo__error_set(b->err, -EINVAL, "%s:%d:%d: %s", kumo__doc_path(p->doc), su->line, su->col, aerr.msg);
            return -EINVAL;
        }
        json_t *actions = NULL, *res = NULL;
        if (strcmp(kind, "kv") == 0) {
            snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:dynamodb:%s:${AWS::AccountId}:table/%s", u.region,
                     u.resource);
            actions = ddb_actions();
            res = json_pack("[o]", sub(fmt));
            rc = allow(b, actions, res);
        } else if (strcmp(kind, "blob") == 0) {
            snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:s3:::%s/%s*", u.resource, u.path);
            rc = allow(b, s3_object_actions(), json_pack("[o]", sub(fmt)));
            snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:s3:::%s", u.resource);
            if (rc == 0)
                rc = allow(b, json_pack("[s]", "s3:ListBucket"), json_pack("[o]", sub(fmt)));
        } else {
            snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:sqs:%s:${AWS::AccountId}:%s", u.region, u.resource);
            rc = allow(b, sqs_actions(), json_pack("[o]", sub(fmt)));
        }
        kumo__aws_url_free(&u);
        if (rc < 0)
            return rc;
    }
    /* Any credential in it (user:password@, password=, secret=, token=)
     * makes the URL a NoEcho parameter. */
    kumo__store_url_redact(url, redacted, sizeof(redacted));
    if (strcmp(redacted, url) == 0)
        return set(b, b->env_vars, var, json_string(url));
    char pname[NAME_MAX_LEN + 16], said[300];
    snprintf(pname, sizeof(pname), "StoreUrl%s", lname);
    snprintf(said, sizeof(said), "from kumo.yaml environment %s", b->in->env ? b->in->env->name : "");
    if ((rc = add_secret(b, pname, "a store URL holding a credential (kumo passes it at deploy time)", url, said)) < 0)
        return rc;
    (void)store;
    return set(b, b->env_vars, var, ref(pname));
}

/* Each store from the store plan of the environment deployed: one that
 * kumo.yaml places there is used as it is; any other is made in the stack. */
static int stores(builder *b)
{
    const kumo__project *p = b->in->project;
    kumo__store_plan plan;
    int rc = kumo__store_plan_build(p, b->in->env ? b->in->env->name : NULL, NULL, NULL, NULL, &plan, b->err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < plan.n && rc >= 0; i++) {
        const kumo__store_place *pl = &plan.stores[i];
        const char *kind = kumo__store_kind_name(pl->kind);
        char lname[NAME_MAX_LEN];
        if (kumo__cfn_logical_name(pl->name, lname, sizeof(lname)) < 0) {
            kumo__error_set(b->err, -EINVAL, "%s: store name '%s' cannot name a CloudFormation resource",
                            kumo__doc_path(p->doc), pl->name);
            rc = -EINVAL;
            break;
        }
        rc = pl->origin == KUMO__STORE_FROM_ENVIRONMENT ? env_store(b, pl->name, kind, lname, pl->var, pl)
                                                        : stack_store(b, pl->name, kind, lname, pl->var);
    }
    kumo__store_plan_free(&plan);
    return rc < 0 ? rc : 0;
}

static int function(builder *b, size_t ui)
{
    const kumo__project *p = b->in->project;
    const kumo__unit *u = &p->units[ui];
    char lname[NAME_MAX_LEN], fn[NAME_MAX_LEN + 16], role[NAME_MAX_LEN + 16], logs[NAME_MAX_LEN + 16],
        perm[NAME_MAX_LEN + 16], fname[256], fmt[512];
    int rc;
    if (kumo__cfn_logical_name(u->name, lname, sizeof(lname)) < 0) {
        kumo__error_set(b->err, -EINVAL, "%s: function unit '%s' cannot name a CloudFormation resource",
                        kumo__doc_path(p->doc), u->name);
        return -EINVAL;
    }
    snprintf(fn, sizeof(fn), "Function%s", lname);
    snprintf(role, sizeof(role), "Role%s", lname);
    snprintf(logs, sizeof(logs), "Logs%s", lname);
    snprintf(perm, sizeof(perm), "Invoke%s", lname);
    int n = snprintf(fname, sizeof(fname), "%s-%s", b->in->stack, u->name);
    if (n < 0 || (size_t)n > FUNCTION_NAME_MAX) {
        kumo__error_set(b->err, -ENAMETOOLONG,
                        "the function name '%s' is longer than Lambda's %d characters; use a shorter --stack", fname,
                        FUNCTION_NAME_MAX);
        return -ENAMETOOLONG;
    }
    long mem = kumo__cfn_lambda_memory(u->tuning.memory);
    long tmo = kumo__cfn_lambda_timeout(u->tuning.timeout_s);
    if (mem < 0 || tmo < 0) {
        kumo__error_set(b->err, -EINVAL, "%s: function '%s': %s is beyond Lambda's limit (%s); lower it in kumo.yaml",
                        kumo__doc_path(p->doc), u->name, mem < 0 ? "memory" : "timeout",
                        mem < 0 ? "10240 MiB" : "900 s");
        return -EINVAL;
    }

    char group[300];
    snprintf(group, sizeof(group), "/aws/lambda/%s", fname);
    rc = add_resource(b, logs,
                      json_pack("{s:s, s:s, s:s, s:{s:s, s:i}}", "Type", "AWS::Logs::LogGroup", "DeletionPolicy",
                                "Delete", "UpdateReplacePolicy", "Delete", "Properties", "LogGroupName", group,
                                "RetentionInDays", 30));
    if (rc < 0)
        return rc;

    json_t *statements = json_deep_copy(b->store_statements);
    if (statements == NULL)
        return nomem(b);
    snprintf(fmt, sizeof(fmt), "${%s.Arn}:*", logs);
    json_t *logst = json_pack("{s:s, s:[s,s], s:[o]}", "Effect", "Allow", "Action", "logs:CreateLogStream",
                              "logs:PutLogEvents", "Resource", sub(fmt));
    if (logst == NULL || json_array_insert_new(statements, 0, logst) != 0) {
        json_decref(statements);
        return nomem(b);
    }
    rc = add_resource(b, role,
                      json_pack("{s:s, s:{s:{s:s, s:[{s:s, s:{s:s}, s:s}]}, s:[{s:s, s:{s:s, s:o}}]}}", "Type",
                                "AWS::IAM::Role", "Properties", "AssumeRolePolicyDocument", "Version", "2012-10-17",
                                "Statement", "Effect", "Allow", "Principal", "Service", "lambda.amazonaws.com",
                                "Action", "sts:AssumeRole", "Policies", "PolicyName", "kumo-function", "PolicyDocument",
                                "Version", "2012-10-17", "Statement", statements));
    if (rc < 0)
        return rc;

    json_t *vars = json_deep_copy(b->env_vars);
    if (vars == NULL)
        return nomem(b);
    if ((rc = unit_env(b, u, lname, vars)) < 0) {
        json_decref(vars);
        return rc;
    }
    const char *evs = json_string_value(json_object_get(b->unit_events, u->name));
    if (evs && json_object_set_new(vars, "KUMO_EVENTS", sub(evs)) != 0) {
        json_decref(vars);
        return nomem(b);
    }
    rc = add_resource(
        b, fn,
        json_pack("{s:s, s:[s], s:{s:s, s:s, s:s, s:[s], s:{s:o, s:s}, s:I, s:I, s:o, s:{s:o}, s:[{s:s,s:s}]}}", "Type",
                  "AWS::Lambda::Function", "DependsOn", logs, "Properties", "FunctionName", fname, "Runtime",
                  "provided.al2023", "Handler", "bootstrap", "Architectures", b->in->arch, "Code", "S3Bucket",
                  ref("ArtifactsBucket"), "S3Key", b->in->code_keys[ui], "MemorySize", (json_int_t)mem, "Timeout",
                  (json_int_t)tmo, "Role", getatt(role, "Arn"), "Environment", "Variables", vars, "Tags", "Key",
                  "kumo:unit", "Value", u->name));
    if (rc < 0)
        return rc;

    return add_resource(b, perm,
                        json_pack("{s:s, s:{s:s, s:o, s:s, s:o}}", "Type", "AWS::Lambda::Permission", "Properties",
                                  "Action", "lambda:InvokeFunction", "FunctionName", getatt(fn, "Arn"), "Principal",
                                  "apigateway.amazonaws.com", "SourceArn",
                                  sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*")));
}

static json_t *integration(int unit_index, void *ud)
{
    builder *b = ud;
    const kumo__unit *u = &b->in->project->units[unit_index];
    char lname[NAME_MAX_LEN], fmt[256];
    if (kumo__cfn_logical_name(u->name, lname, sizeof(lname)) < 0)
        return NULL;
    snprintf(fmt, sizeof(fmt),
             "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Function%s.Arn}/"
             "invocations",
             lname);
    /* REST APIs wait at most 29 s for an integration. */
    double ms = ceil(u->tuning.timeout_s * 1000);
    json_int_t timeout = ms > 29000 || ms < 50 ? 29000 : (json_int_t)ms;
    return json_pack("{s:s, s:s, s:o, s:s, s:I}", "type", "aws_proxy", "httpMethod", "POST", "uri", sub(fmt),
                     "passthroughBehavior", "when_no_match", "timeoutInMillis", timeout);
}

/* The digest-named logical id PREFIX + 10 hex digits of sha256(text). */
static void hashed_id(const char *prefix, const char *text, char *buf, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), md);
    snprintf(buf, len, "%s%02x%02x%02x%02x%02x", prefix, md[0], md[1], md[2], md[3], md[4]);
}

/* The routes as Resource and Method resources (api_resources): one
 * Resource per path segment prefix, one Method per operation, with the same
 * integrations the Body would carry. The Method ids go into `methods` for
 * the deployment's DependsOn. */
static int api_resources(builder *b, json_t *methods)
{
    const kumo__spec *spec = b->in->spec;
    json_t *seen = json_object(); /* path prefix -> logical id */
    int rc = seen ? 0 : nomem(b);
    for (size_t i = 0; rc == 0 && i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        char prefix[2048] = "";
        json_t *parent = getatt("Api", "RootResourceId");
        const char *p = op->path;
        while (rc == 0 && *p) {
            while (*p == '/')
                p++;
            if (*p == '\0')
                break;
            size_t n = strcspn(p, "/");
            size_t pl = strlen(prefix);
            snprintf(prefix + pl, sizeof(prefix) - pl, "/%.*s", (int)n, p);
            const char *known = json_string_value(json_object_get(seen, prefix));
            char id[64];
            if (known) {
                snprintf(id, sizeof(id), "%s", known);
            } else {
                char seg[1024];
                hashed_id("ApiPath", prefix, id, sizeof(id));
                snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
                rc = add_resource(b, id,
                                  json_pack("{s:s, s:{s:o, s:o, s:s}}", "Type", "AWS::ApiGateway::Resource",
                                            "Properties", "RestApiId", ref("Api"), "ParentId", json_incref(parent),
                                            "PathPart", seg));
                if (rc == 0)
                    rc = set(b, seen, prefix, json_string(id));
            }
            json_decref(parent);
            parent = ref(id);
            p += n;
        }
        if (rc < 0) {
            json_decref(parent);
            break;
        }
        char key[2100], mid[64];
        snprintf(key, sizeof(key), "%s %s", op->method, op->path);
        hashed_id("ApiMethod", key, mid, sizeof(mid));
        json_t *integ;
        if (op->unit_index >= 0) {
            json_t *body_form = integration(op->unit_index, b);
            integ = body_form ? json_pack("{s:s, s:s, s:O, s:I}", "Type", "AWS_PROXY", "IntegrationHttpMethod", "POST",
                                          "Uri", json_object_get(body_form, "uri"), "TimeoutInMillis",
                                          json_integer_value(json_object_get(body_form, "timeoutInMillis")))
                              : NULL;
            json_decref(body_form);
        } else {
            integ = json_pack("{s:s, s:{s:s}, s:[{s:s}]}", "Type", "MOCK", "RequestTemplates", "application/json",
                              "{\"statusCode\": 501}", "IntegrationResponses", "StatusCode", "501");
        }
        rc = integ ? add_resource(b, mid,
                                  json_pack("{s:s, s:{s:o, s:o, s:s, s:s, s:o}}", "Type", "AWS::ApiGateway::Method",
                                            "Properties", "RestApiId", ref("Api"), "ResourceId", parent, "HttpMethod",
                                            op->method, "AuthorizationType", "NONE", "Integration", integ))
                   : (json_decref(parent), nomem(b));
        if (rc == 0 && json_array_append_new(methods, json_string(mid)) != 0)
            rc = nomem(b);
    }
    json_decref(seen);
    return rc;
}

/* ---- events ------------------------------------------------------------------ */

/* One cron field's bits (lo..hi) as EventBridge writes them: "*" when all
 * are set, else a list of values and runs "a-b"; `names` (lo-based) spell
 * the values when given. */
static void cron_field(uint64_t bits, int lo, int hi, const char *const *names, char *out, size_t len)
{
    uint64_t all = 0;
    for (int i = lo; i <= hi; i++)
        all |= (uint64_t)1 << i;
    if ((bits & all) == all) {
        snprintf(out, len, "*");
        return;
    }
    size_t o = 0;
    out[0] = '\0';
    for (int i = lo; i <= hi; i++) {
        if (!(bits >> i & 1))
            continue;
        int j = i;
        while (j + 1 <= hi && (bits >> (j + 1) & 1))
            j++;
        char a[8], z[8];
        snprintf(a, sizeof(a), "%s", names ? names[i - lo] : "");
        snprintf(z, sizeof(z), "%s", names ? names[j - lo] : "");
        if (!names) {
            snprintf(a, sizeof(a), "%d", i);
            snprintf(z, sizeof(z), "%d", j);
        }
        if (j == i)
            o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s", o ? "," : "", a);
        else
            o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s-%s", o ? "," : "", a, z);
        i = j;
    }
}

/* kumo's schedule as an EventBridge Scheduler expression: cron(M H DOM MON
 * DOW *) with '?' in the day field that does not restrict, or rate() for
 * `every`. What EventBridge cannot say is refused at the schedule. */
int kumo__cfn_schedule_expression(const kumo__project *p, const kumo__event_decl *e, char *out, size_t len,
                                  kumo__error *err)
{
    static const char *const dows[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
    kumo__schedule_fields f;
    kumo__schedule_get_fields(e->compiled, &f);
    if (f.every_s > 0) {
        int64_t v = f.every_s;
        if (v % 60 != 0)
            return kumo__project_event_error(err, p, e, "schedule",
                                             "'%s': EventBridge Scheduler's rate() counts whole minutes; use a "
                                             "multiple of 60s (every 1m at least)",
                                             e->schedule);
        const char *unit = v % 86400 == 0 ? "day" : v % 3600 == 0 ? "hour" : "minute";
        int64_t n = v % 86400 == 0 ? v / 86400 : v % 3600 == 0 ? v / 3600 : v / 60;
        snprintf(out, len, "rate(%lld %s%s)", (long long)n, unit, n == 1 ? "" : "s");
        return 0;
    }
    if (f.sec != 1)
        return kumo__project_event_error(err, p, e, "schedule",
                                         "'%s' has a seconds field; EventBridge Scheduler fires at whole minutes at "
                                         "most; drop the seconds field (5 fields) for aws",
                                         e->schedule);
    uint32_t dow = (f.dow | (f.dow >> 7)) & 0x7F, dom = f.dom & 0xFFFFFFFEu;
    int dow_all = dow == 0x7F, dom_all = dom == 0xFFFFFFFEu;
    char m[200], h[100], d[120], mo[60], w[60];
    cron_field(f.min, 0, 59, NULL, m, sizeof(m));
    cron_field(f.hour, 0, 23, NULL, h, sizeof(h));
    cron_field(f.mon, 1, 12, NULL, mo, sizeof(mo));
    if (!f.dom_star && !f.dow_star && !dow_all && !dom_all)
        return kumo__project_event_error(err, p, e, "schedule",
                                         "'%s' restricts both the day of the month and the day of the week (a day "
                                         "matching either fires); EventBridge cron takes one of them ('?' in the "
                                         "other): split it into two events",
                                         e->schedule);
    if ((f.dom_star || f.dow_star) && !dow_all && !dom_all)
        return kumo__project_event_error(err, p, e, "schedule",
                                         "'%s' restricts both the day of the month and the day of the week (a day "
                                         "matching both fires); EventBridge cron takes one of them ('?' in the "
                                         "other)",
                                         e->schedule);
    if (!f.dom_star && !f.dow_star && (dow_all || dom_all)) {
        /* either matching: one field that takes every day makes every day */
        snprintf(d, sizeof(d), "*");
        snprintf(w, sizeof(w), "?");
    } else if (dow_all) {
        cron_field(dom, 1, 31, NULL, d, sizeof(d));
        snprintf(w, sizeof(w), "?");
    } else {
        snprintf(d, sizeof(d), "?");
        cron_field(dow, 0, 6, dows, w, sizeof(w));
    }
    if ((size_t)snprintf(out, len, "cron(%s %s %s %s %s *)", m, h, d, mo, w) >= len)
        return kumo__project_event_error(err, p, e, "schedule",
                                         "'%s' is longer than EventBridge takes once written as its cron; simplify it",
                                         e->schedule);
    return 0;
}

/* Appends "NAME=VALUE" to the unit's KUMO_EVENTS (a Fn::Sub format). */
static int unit_event(builder *b, const kumo__event_decl *e, const char *value)
{
    const char *unit = b->in->project->units[e->unit_index].name;
    const char *old = json_string_value(json_object_get(b->unit_events, unit));
    size_t n = (old ? strlen(old) + 1 : 0) + strlen(e->name) + strlen(value) + 2;
    char *v = malloc(n);
    if (v == NULL)
        return nomem(b);
    snprintf(v, n, "%s%s%s=%s", old ? old : "", old ? "," : "", e->name, value);
    int rc = set(b, b->unit_events, unit, json_string(v));
    free(v);
    return rc;
}

/* A delivery key the target cannot honour, refused when written. */
static int refuse_key(builder *b, const kumo__event_decl *e, const char *key, const char *why)
{
    if (e->node == NULL || json_object_get(e->node, key) == NULL)
        return 0;
    return kumo__project_event_error(b->err, b->in->project, e, key, "%s: %s", key, why);
}

static int event_source_mapping(builder *b, const kumo__event_decl *e, const char *elname, const char *fn,
                                json_t *queue_arn)
{
    char id[NAME_MAX_LEN + 32];
    snprintf(id, sizeof(id), "EventSource%s", elname);
    json_t *esm = json_pack("{s:s, s:{s:o, s:o, s:I, s:[s], s:b}}", "Type", "AWS::Lambda::EventSourceMapping",
                            "Properties", "EventSourceArn", queue_arn, "FunctionName", ref(fn), "BatchSize",
                            (json_int_t)(e->batch ? e->batch : 1), "FunctionResponseTypes", "ReportBatchItemFailures",
                            "Enabled", 1);
    if (esm && e->window_ms > 0 &&
        json_object_set_new(json_object_get(esm, "Properties"), "MaximumBatchingWindowInSeconds",
                            json_integer((json_int_t)(e->window_ms / 1000))) != 0) {
        json_decref(esm);
        return nomem(b);
    }
    return add_resource(b, id, esm);
}

/* Checks what an SQS event source mapping can carry of a queue or topic
 * event's delivery keys. */
static int check_sqs_delivery(builder *b, const kumo__event_decl *e)
{
    const kumo__project *p = b->in->project;
    int rc;
    if (e->window_ms % 1000 != 0)
        return kumo__project_event_error(b->err, p, e, "window",
                                         "window: Lambda's batching window is whole seconds (0-300); use 0 or 1s");
    if (e->batch > 10 && e->window_ms < 1000)
        return kumo__project_event_error(
            b->err, p, e, "batch",
            "batch: %u: an SQS event source mapping takes more than 10 messages only with a batching window; set "
            "window: to at least 1s, or batch: to 10 or fewer",
            e->batch);
    /* backoff: and data: are the adapter's (ChangeMessageVisibility; the
     * schema checked before the handler is called) */
    (void)rc;
    return 0;
}

static int schedule_event(builder *b, const kumo__event_decl *e, const char *elname, const char *fn)
{
    char expr[600], id[NAME_MAX_LEN + 32], input[700];
    int rc = kumo__cfn_schedule_expression(b->in->project, e, expr, sizeof(expr), b->err);
    if (rc < 0)
        return rc;
    json_t *detail =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:{s:s}}", "version", "0", "id", "<aws.scheduler.execution-id>",
                  "detail-type", "Scheduled Event", "source", "aws.scheduler", "time", "<aws.scheduler.scheduled-time>",
                  "resources", "<aws.scheduler.schedule-arn>", "detail", "kumo_event", e->name);
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (text == NULL)
        return nomem(b);
    snprintf(input, sizeof(input), "%s", text);
    free(text);
    snprintf(id, sizeof(id), "Schedule%s", elname);
    char desc[300];
    snprintf(desc, sizeof(desc), "kumo event %s: %s", e->name, e->schedule);
    json_t *sch =
        json_pack("{s:s, s:{s:s, s:{s:s}, s:s, s:s, s:{s:o, s:o, s:s, s:{s:i}}}}", "Type", "AWS::Scheduler::Schedule",
                  "Properties", "Description", desc, "FlexibleTimeWindow", "Mode", "OFF", "ScheduleExpression", expr,
                  "State", "ENABLED", "Target", "Arn", getatt(fn, "Arn"), "RoleArn", getatt("SchedulerRole", "Arn"),
                  "Input", input, "RetryPolicy", "MaximumRetryAttempts", 0);
    if (sch && strncmp(expr, "cron(", 5) == 0 &&
        json_object_set_new(json_object_get(sch, "Properties"), "ScheduleExpressionTimezone",
                            json_string(e->timezone ? e->timezone : "UTC")) != 0) {
        json_decref(sch);
        return nomem(b);
    }
    if ((rc = add_resource(b, id, sch)) < 0)
        return rc;
    /* the role's functions, each once */
    return set(b, b->sched_targets, fn, json_true());
}

static int queue_event_source(builder *b, const kumo__event_decl *e, const char *elname, const char *fn)
{
    const kumo__project *p = b->in->project;
    char qlname[NAME_MAX_LEN], fmt[600];
    int rc;
    if ((rc = check_sqs_delivery(b, e)) < 0)
        return rc;
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *o = &p->events[i];
        if (o == e || o->kind != KUMO__EVENT_QUEUE || strcmp(o->queue, e->queue) != 0)
            continue;
        if (o < e)
            return kumo__project_event_error(
                b->err, p, e, "queue",
                "queue: events.%s consumes the queue '%s' too; on aws each queue feeds one event source mapping "
                "(its visibility timeout and redrive policy are the event's); give each event its own queue",
                o->name, e->queue);
    }
    const kumo__store_url *placed = kumo__environment_store(b->in->env, e->queue);
    json_t *arn;
    if (placed == NULL) {
        if (kumo__cfn_logical_name(e->queue, qlname, sizeof(qlname)) < 0)
            return nomem(b);
        char qid[NAME_MAX_LEN + 16];
        snprintf(qid, sizeof(qid), "Queue%s", qlname);
        arn = getatt(qid, "Arn");
        snprintf(fmt, sizeof(fmt), "${%s.QueueName}", qid);
    } else {
        if (strncmp(placed->url, "sqs://", 6) != 0)
            return kumo__project_event_error(b->err, p, e, "queue",
                                             "queue: '%s' is not an SQS queue in environment '%s'; a Lambda event "
                                             "source mapping reads SQS only",
                                             e->queue, b->in->env->name);
        if ((rc = refuse_key(b, e, "visibility",
                             "the queue is the environment's, not the stack's: kumo cannot set its visibility "
                             "timeout; set it on the queue and remove visibility: for aws")) < 0 ||
            (rc = refuse_key(b, e, "max_receives",
                             "the queue is the environment's, not the stack's: kumo cannot set its redrive policy; "
                             "set it on the queue and remove max_receives: for aws")) < 0)
            return rc;
        kumo__aws_url u;
        kumo__error aerr = {0};
        if (kumo__aws_url_parse(placed->url, "sqs", &u, &aerr) != 0)
            return kumo__project_event_error(b->err, p, e, "queue", "queue: %s", aerr.msg);
        snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:sqs:%s:${AWS::AccountId}:%s", u.region, u.resource);
        arn = sub(fmt);
        snprintf(fmt, sizeof(fmt), "%s", u.resource);
        kumo__aws_url_free(&u);
    }
    if ((rc = unit_event(b, e, fmt)) < 0) {
        json_decref(arn);
        return rc;
    }
    return event_source_mapping(b, e, elname, fn, arn);
}

static int topic_event(builder *b, const kumo__event_decl *e, const char *elname, const char *fn)
{
    const kumo__project *p = b->in->project;
    char tl[NAME_MAX_LEN], tid[NAME_MAX_LEN + 16], q[NAME_MAX_LEN * 2 + 32], dlq[NAME_MAX_LEN * 2 + 48],
        subid[NAME_MAX_LEN * 2 + 32], pol[NAME_MAX_LEN * 2 + 32], fmt[300];
    int rc;
    if ((rc = check_sqs_delivery(b, e)) < 0)
        return rc;
    if (kumo__environment_store(b->in->env, e->topic) != NULL)
        return kumo__project_event_error(b->err, p, e, "topic",
                                         "topic: '%s' is placed by environment '%s'; on aws a topic event subscribes "
                                         "a queue of the stack to the stack's own SNS topic; drop the topic from the "
                                         "environment",
                                         e->topic, b->in->env->name);
    if (kumo__cfn_logical_name(e->topic, tl, sizeof(tl)) < 0)
        return nomem(b);
    snprintf(tid, sizeof(tid), "Topic%s", tl);
    snprintf(q, sizeof(q), "SubscriptionQueue%s", elname);
    snprintf(dlq, sizeof(dlq), "SubscriptionDeadLetterQueue%s", elname);
    snprintf(subid, sizeof(subid), "Subscription%s", elname);
    snprintf(pol, sizeof(pol), "SubscriptionPolicy%s", elname);
    char tag[300];
    snprintf(tag, sizeof(tag), "%s", e->queue); /* TOPIC.EVENT */
    if ((rc = add_resource(b, dlq,
                           json_pack("{s:s, s:s, s:s, s:{s:i, s:[{s:s,s:s}]}}", "Type", "AWS::SQS::Queue",
                                     "DeletionPolicy", "Delete", "UpdateReplacePolicy", "Delete", "Properties",
                                     "MessageRetentionPeriod", 1209600, "Tags", "Key", "kumo:subscription", "Value",
                                     tag))) < 0)
        return rc;
    if ((rc = add_resource(b, q,
                           json_pack("{s:s, s:s, s:s, s:{s:I, s:{s:o, s:i}, s:[{s:s,s:s}]}}", "Type", "AWS::SQS::Queue",
                                     "DeletionPolicy", "Delete", "UpdateReplacePolicy", "Delete", "Properties",
                                     "VisibilityTimeout", (json_int_t)((e->visibility_ms + 999) / 1000),
                                     "RedrivePolicy", "deadLetterTargetArn", getatt(dlq, "Arn"), "maxReceiveCount",
                                     (int)e->max_receives, "Tags", "Key", "kumo:subscription", "Value", tag))) < 0)
        return rc;
    if ((rc = add_resource(b, subid,
                           json_pack("{s:s, s:{s:o, s:s, s:o, s:b}}", "Type", "AWS::SNS::Subscription", "Properties",
                                     "TopicArn", ref(tid), "Protocol", "sqs", "Endpoint", getatt(q, "Arn"),
                                     "RawMessageDelivery", 1))) < 0)
        return rc;
    if ((rc = add_resource(b, pol,
                           json_pack("{s:s, s:{s:[o], s:{s:s, s:[{s:s, s:{s:s}, s:s, s:o, s:{s:{s:o}}}]}}}", "Type",
                                     "AWS::SQS::QueuePolicy", "Properties", "Queues", ref(q), "PolicyDocument",
                                     "Version", "2012-10-17", "Statement", "Effect", "Allow", "Principal", "Service",
                                     "sns.amazonaws.com", "Action", "sqs:SendMessage", "Resource", getatt(q, "Arn"),
                                     "Condition", "ArnEquals", "aws:SourceArn", ref(tid)))) < 0)
        return rc;
    if ((rc = allow(b, sqs_actions(), json_pack("[o]", getatt(q, "Arn")))) < 0)
        return rc;
    snprintf(fmt, sizeof(fmt), "${%s.QueueName}", q);
    if ((rc = unit_event(b, e, fmt)) < 0)
        return rc;
    return event_source_mapping(b, e, elname, fn, getatt(q, "Arn"));
}

/* Whether two blob events' filters can both match one key and event. */
static int blob_overlap(const kumo__event_decl *a, const kumo__event_decl *c)
{
    const char *pa = a->prefix ? a->prefix : "", *pc = c->prefix ? c->prefix : "";
    const char *sa = a->suffix ? a->suffix : "", *sc = c->suffix ? c->suffix : "";
    size_t lpa = strlen(pa), lpc = strlen(pc), lsa = strlen(sa), lsc = strlen(sc);
    int prefixes = strncmp(pa, pc, lpa < lpc ? lpa : lpc) == 0;
    int suffixes = lsa < lsc ? strcmp(sc + lsc - lsa, sa) == 0 : strcmp(sa + lsa - lsc, sc) == 0;
    return (a->on & c->on) && prefixes && suffixes;
}

static int blob_event(builder *b, const kumo__event_decl *e, const char *elname, const char *fn)
{
    const kumo__project *p = b->in->project;
    char bl[NAME_MAX_LEN], bid[NAME_MAX_LEN + 16], perm[NAME_MAX_LEN + 32], bname[160], fmt[300];
    int rc;
    if (kumo__environment_store(b->in->env, e->blob) != NULL)
        return kumo__project_event_error(b->err, p, e, "blob",
                                         "blob: '%s' is placed by environment '%s'; on aws blob events are the "
                                         "notifications of the stack's own S3 bucket; drop the store from the "
                                         "environment",
                                         e->blob, b->in->env->name);
    for (size_t i = 0; i < p->nevents; i++) {
        const kumo__event_decl *o = &p->events[i];
        if (o != e && o < e && o->kind == KUMO__EVENT_BLOB && strcmp(o->blob, e->blob) == 0 && blob_overlap(o, e))
            return kumo__project_event_error(b->err, p, e, "blob",
                                             "blob: its filters overlap those of events.%s on the same store (a key "
                                             "both match); S3 refuses overlapping notifications: make the prefixes "
                                             "or suffixes exclusive",
                                             o->name);
    }
    if ((rc = refuse_key(b, e, "backoff",
                         "on aws Lambda retries a failed S3 notification itself (after about 1 and 2 minutes); "
                         "remove backoff: for aws")) < 0 ||
        (rc = refuse_key(b, e, "visibility",
                         "on aws an S3 notification invokes the function directly, with no queue to hide it "
                         "in; remove visibility: for aws")) < 0)
        return rc;
    if (e->node && json_object_get(e->node, "max_receives") && e->max_receives > 3)
        return kumo__project_event_error(b->err, p, e, "max_receives",
                                         "max_receives: %u: Lambda tries an S3 notification at most 3 times; use 1 "
                                         "to 3 for aws",
                                         e->max_receives);
    if (kumo__cfn_logical_name(e->blob, bl, sizeof(bl)) < 0)
        return nomem(b);
    snprintf(bid, sizeof(bid), "Bucket%s", bl);
    json_t *bucket = json_object_get(b->resources, bid);
    if (bucket == NULL)
        return nomem(b);
    bucket_name_fmt(b->in->stack, e->blob, bname, sizeof(bname));
    snprintf(perm, sizeof(perm), "BlobInvoke%s", elname);
    snprintf(fmt, sizeof(fmt), "arn:${AWS::Partition}:s3:::%s", bname);
    if ((rc = add_resource(b, perm,
                           json_pack("{s:s, s:{s:s, s:o, s:s, s:o, s:o}}", "Type", "AWS::Lambda::Permission",
                                     "Properties", "Action", "lambda:InvokeFunction", "FunctionName", getatt(fn, "Arn"),
                                     "Principal", "s3.amazonaws.com", "SourceAccount", ref("AWS::AccountId"),
                                     "SourceArn", sub(fmt)))) < 0)
        return rc;
    json_t *props = json_object_get(bucket, "Properties");
    json_t *nc = json_object_get(props, "NotificationConfiguration");
    if (nc == NULL) {
        if ((rc = set(b, props, "NotificationConfiguration", json_pack("{s:[]}", "LambdaConfigurations"))) < 0)
            return rc;
        nc = json_object_get(props, "NotificationConfiguration");
    }
    json_t *list = json_object_get(nc, "LambdaConfigurations");
    for (int k = 0; k < 2; k++) {
        unsigned bit = k == 0 ? KUMO__BLOB_CREATED : KUMO__BLOB_DELETED;
        if (!(e->on & bit))
            continue;
        json_t *c = json_pack("{s:s, s:o}", "Event", k == 0 ? "s3:ObjectCreated:*" : "s3:ObjectRemoved:*", "Function",
                              getatt(fn, "Arn"));
        json_t *rules = json_array();
        if (c == NULL || rules == NULL) {
            json_decref(c);
            json_decref(rules);
            return nomem(b);
        }
        if (e->prefix)
            json_array_append_new(rules, json_pack("{s:s, s:s}", "Name", "prefix", "Value", e->prefix));
        if (e->suffix)
            json_array_append_new(rules, json_pack("{s:s, s:s}", "Name", "suffix", "Value", e->suffix));
        if (json_array_size(rules) > 0)
            json_object_set_new(c, "Filter", json_pack("{s:{s:o}}", "S3Key", "Rules", rules));
        else
            json_decref(rules);
        if (json_array_append_new(list, c) != 0)
            return nomem(b);
    }
    json_t *deps = json_object_get(bucket, "DependsOn");
    if (deps == NULL) {
        if ((rc = set(b, bucket, "DependsOn", json_array())) < 0)
            return rc;
        deps = json_object_get(bucket, "DependsOn");
    }
    if (json_array_append_new(deps, json_string(perm)) != 0)
        return nomem(b);
    /* Lambda's own retries of an asynchronous invocation: max_receives - 1, at most 2 */
    const char *unit = p->units[e->unit_index].name;
    char ul[NAME_MAX_LEN], cid[NAME_MAX_LEN + 32];
    if (kumo__cfn_logical_name(unit, ul, sizeof(ul)) < 0)
        return nomem(b);
    snprintf(cid, sizeof(cid), "EventInvokeConfig%s", ul);
    json_int_t retries = e->max_receives > 3 ? 2 : (json_int_t)e->max_receives - 1;
    json_t *cfg = json_object_get(b->resources, cid);
    if (cfg) {
        json_t *props2 = json_object_get(cfg, "Properties");
        json_int_t had = json_integer_value(json_object_get(props2, "MaximumRetryAttempts"));
        if (retries < had)
            json_object_set_new(props2, "MaximumRetryAttempts", json_integer(retries));
    } else if ((rc = add_resource(b, cid,
                                  json_pack("{s:s, s:{s:o, s:s, s:I}}", "Type", "AWS::Lambda::EventInvokeConfig",
                                            "Properties", "FunctionName", ref(fn), "Qualifier", "$LATEST",
                                            "MaximumRetryAttempts", retries))) < 0) {
        return rc;
    }
    return unit_event(b, e, bname);
}

/* Every event of the project, as the resources that fire it on AWS (see
 * the file's opening comment); runs before the functions, whose roles and
 * KUMO_EVENTS it feeds. */
static int events(builder *b)
{
    const kumo__project *p = b->in->project;
    int rc = 0;
    for (size_t i = 0; i < p->nevents && rc == 0; i++) {
        const kumo__event_decl *e = &p->events[i];
        char elname[NAME_MAX_LEN], ul[NAME_MAX_LEN], fn[NAME_MAX_LEN + 16];
        if (kumo__cfn_logical_name(e->name, elname, sizeof(elname)) < 0 ||
            kumo__cfn_logical_name(p->units[e->unit_index].name, ul, sizeof(ul)) < 0)
            return kumo__project_event_error(b->err, p, e, NULL, "its name cannot name a CloudFormation resource");
        snprintf(fn, sizeof(fn), "Function%s", ul);
        switch (e->kind) {
        case KUMO__EVENT_SCHEDULE: rc = schedule_event(b, e, elname, fn); break;
        case KUMO__EVENT_QUEUE: rc = queue_event_source(b, e, elname, fn); break;
        case KUMO__EVENT_TOPIC: rc = topic_event(b, e, elname, fn); break;
        case KUMO__EVENT_BLOB: rc = blob_event(b, e, elname, fn); break;
        case KUMO__EVENT_CLOUDEVENT:
            rc = kumo__project_event_error(
                b->err, p, e, "cloudevent",
                "cloudevent: events are not carried on aws: API Gateway serves the OpenAPI document's paths only, "
                "so nothing would receive POST /_kumo/events; deploy this event with kumo-host http (gcp, azure, "
                "knative, kubernetes) or send it to a queue or topic instead");
            break;
        }
    }
    json_t *targets = json_array();
    const char *fid;
    json_t *v;
    if (targets == NULL)
        return nomem(b);
    json_object_foreach(b->sched_targets, fid, v)
    {
        if (json_array_append_new(targets, getatt(fid, "Arn")) != 0) {
            json_decref(targets);
            return nomem(b);
        }
    }
    if (rc == 0 && json_array_size(targets) > 0)
        rc = add_resource(
            b, "SchedulerRole",
            json_pack("{s:s, s:{s:{s:s, s:[{s:s, s:{s:s}, s:s}]}, s:[{s:s, s:{s:s, s:[{s:s, s:s, s:O}]}}]}}", "Type",
                      "AWS::IAM::Role", "Properties", "AssumeRolePolicyDocument", "Version", "2012-10-17", "Statement",
                      "Effect", "Allow", "Principal", "Service", "scheduler.amazonaws.com", "Action", "sts:AssumeRole",
                      "Policies", "PolicyName", "kumo-schedules", "PolicyDocument", "Version", "2012-10-17",
                      "Statement", "Effect", "Allow", "Action", "lambda:InvokeFunction", "Resource", targets));
    json_decref(targets);
    return rc;
}

int kumo__cfn_events_check(const kumo__cfn_input *in, kumo__error *err)
{
    kumo__cfn_template scratch;
    memset(&scratch, 0, sizeof(scratch));
    builder b = {.in = in, .out = &scratch, .err = err};
    int rc;
    err->code = 0;
    b.resources = json_object();
    b.parameters = json_object();
    b.env_vars = json_object();
    b.store_statements = json_array();
    b.unit_events = json_object();
    b.sched_targets = json_object();
    if (!b.resources || !b.parameters || !b.env_vars || !b.store_statements || !b.unit_events || !b.sched_targets)
        rc = nomem(&b);
    else if ((rc = stores(&b)) == 0)
        rc = events(&b);
    json_decref(b.resources);
    json_decref(b.parameters);
    json_decref(b.env_vars);
    json_decref(b.store_statements);
    json_decref(b.unit_events);
    json_decref(b.sched_targets);
    kumo__cfn_template_free(&scratch);
    return rc < 0 ? rc : 0;
}

int kumo__cfn_template_build(const kumo__cfn_input *in, kumo__cfn_template *out, kumo__error *err)
{
    builder b = {.in = in, .out = out, .err = err};
    json_t *body = NULL;
    int rc = -ENOMEM;
    memset(out, 0, sizeof(*out));
    err->code = 0;

    b.resources = json_object();
    b.parameters = json_pack("{s:{s:s, s:s}}", "ArtifactsBucket", "Type", "String", "Description",
                             "the S3 bucket holding the functions' zips (kumo deploy makes it)");
    b.env_vars = json_object();
    b.store_statements = json_array();
    b.unit_events = json_object();
    b.sched_targets = json_object();
    if (!b.resources || !b.parameters || !b.env_vars || !b.store_statements || !b.unit_events || !b.sched_targets) {
        nomem(&b);
        goto out;
    }
    if ((rc = stores(&b)) < 0 || (rc = events(&b)) < 0)
        goto out;
    for (size_t i = 0; i < in->project->nunits; i++)
        if ((rc = function(&b, i)) < 0)
            goto out;

    if ((rc = kumo__cfn_openapi(in->spec, integration, &b, in->project->http.edge.cors.enabled, &body, err)) < 0) {
        kumo__error_wrap(err, "converting the OpenAPI document for API Gateway");
        goto out;
    }
    json_t *methods = json_array();
    if (methods == NULL) {
        rc = nomem(&b);
        goto out;
    }
    if (in->api_resources && (rc = api_resources(&b, methods)) < 0) {
        json_decref(methods);
        goto out;
    }
    /* The deployment's name carries a digest of the Body. */
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        rc = nomem(&b);
        goto out;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), md);
    free(text);
    char dep[64];
    snprintf(dep, sizeof(dep), "ApiDeployment%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4]);

    const char *title = in->spec->title && *in->spec->title ? in->spec->title : in->project->name;
    char desc[512];
    snprintf(desc, sizeof(desc), "%s (kumo deploy, stack %s)", title, in->stack);
    json_t *api = json_pack("{s:s, s:{s:s, s:s, s:{s:[s]}}}", "Type", "AWS::ApiGateway::RestApi", "Properties", "Name",
                            in->stack, "Description", desc, "EndpointConfiguration", "Types", "REGIONAL");
    if (api && in->api_resources)
        rc = set(&b, json_object_get(api, "Properties"), "BinaryMediaTypes", json_pack("[s]", "*/*"));
    else if (api)
        rc = set(&b, json_object_get(api, "Properties"), "Body", json_incref(body));
    if (api == NULL || rc < 0 || (rc = add_resource(&b, "Api", api)) < 0) {
        json_decref(methods);
        rc = rc < 0 ? rc : nomem(&b);
        goto out;
    }
    json_t *deployment = json_pack("{s:s, s:{s:o, s:s}}", "Type", "AWS::ApiGateway::Deployment", "Properties",
                                   "RestApiId", ref("Api"), "Description", "kumo deploy");
    if (deployment && json_array_size(methods) > 0)
        rc = set(&b, deployment, "DependsOn", json_incref(methods));
    json_decref(methods);
    if (rc < 0 || (rc = add_resource(&b, dep, deployment)) < 0)
        goto out;
    rc = add_resource(&b, "ApiStage",
                      json_pack("{s:s, s:{s:o, s:o, s:s}}", "Type", "AWS::ApiGateway::Stage", "Properties", "RestApiId",
                                ref("Api"), "DeploymentId", ref(dep), "StageName", in->stage));
    if (rc < 0)
        goto out;

    char url[256];
    snprintf(url, sizeof(url), "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/%s", in->stage);
    out->doc = json_pack("{s:s, s:s, s:O, s:O, s:{s:{s:s, s:o}, s:{s:s, s:o}}}", "AWSTemplateFormatVersion",
                         "2010-09-09", "Description", desc, "Parameters", b.parameters, "Resources", b.resources,
                         "Outputs", "ApiUrl", "Description", "the API's base URL", "Value", sub(url), "ApiId",
                         "Description", "the REST API's id", "Value", ref("Api"));
    rc = out->doc ? 0 : nomem(&b);
out:
    json_decref(body);
    json_decref(b.resources);
    json_decref(b.parameters);
    json_decref(b.env_vars);
    json_decref(b.store_statements);
    json_decref(b.unit_events);
    json_decref(b.sched_targets);
    if (rc < 0)
        kumo__cfn_template_free(out);
    return rc;
}
