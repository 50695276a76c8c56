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
 *                   TTL on `ttl`: the layout dynamodb.c expects
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

/* A store the stack creates. */
static int stack_store(builder *b, const char *store, const char *kind, const char *lname, const char *var)
{
    char id[NAME_MAX_LEN + 32], dlq[NAME_MAX_LEN + 32], fmt[256];
    int rc;
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
        if ((rc = add_resource(b, id, t)) < 0)
            return rc;
        snprintf(fmt, sizeof(fmt), "s3://${%s}?region=${AWS::Region}&create=false", id);
        if ((rc = set(b, b->env_vars, var, sub(fmt))) < 0)
            return rc;
        snprintf(fmt, sizeof(fmt), "${%s.Arn}/*", id);
        if ((rc = allow(b, s3_object_actions(), json_pack("[o]", sub(fmt)))) < 0)
            return rc;
        return allow(b, json_pack("[s]", "s3:ListBucket"), json_pack("[o]", getatt(id, "Arn")));
    }
    snprintf(id, sizeof(id), "Queue%s", lname);
    snprintf(dlq, sizeof(dlq), "DeadLetterQueue%s", lname);
    json_t *d = json_pack("{s:s, s:s, s:s, s:{s:i, s:[{s:s,s:s}]}}", "Type", "AWS::SQS::Queue", "DeletionPolicy",
                          "Delete", "UpdateReplacePolicy", "Delete", "Properties", "MessageRetentionPeriod", 1209600,
                          "Tags", "Key", "kumo:store", "Value", store);
    if ((rc = add_resource(b, dlq, d)) < 0)
        return rc;
    json_t *q =
        json_pack("{s:s, s:s, s:s, s:{s:{s:o, s:i}, s:[{s:s,s:s}]}}", "Type", "AWS::SQS::Queue", "DeletionPolicy",
                  "Delete", "UpdateReplacePolicy", "Delete", "Properties", "RedrivePolicy", "deadLetterTargetArn",
                  getatt(dlq, "Arn"), "maxReceiveCount", 5, "Tags", "Key", "kumo:store", "Value", store);
    if ((rc = add_resource(b, id, q)) < 0)
        return rc;
    snprintf(fmt, sizeof(fmt), "sqs://${%s.QueueName}?region=${AWS::Region}&create=false", id);
    if ((rc = set(b, b->env_vars, var, sub(fmt))) < 0)
        return rc;
    return allow(b, sqs_actions(), json_pack("[o]", getatt(id, "Arn")));
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
                        strcmp(kind, "kv") == 0     ? "DynamoDB table"
                        : strcmp(kind, "blob") == 0 ? "S3 bucket"
                                                    : "SQS queue");
        return -EINVAL;
    }
    const char *aws_scheme = strcmp(kind, "kv") == 0 ? "dynamodb" : strcmp(kind, "blob") == 0 ? "s3" : "sqs";
    if (strcmp(scheme, aws_scheme) == 0) {
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
    char pname[NAME_MAX_LEN + 16];
    snprintf(pname, sizeof(pname), "StoreUrl%s", lname);
    json_t *param = json_pack("{s:s, s:b, s:s}", "Type", "String", "NoEcho", 1, "Description",
                              "a store URL holding a credential (kumo passes it at deploy time)");
    if ((rc = set(b, b->parameters, pname, param)) < 0)
        return rc;
    kumo__cfn_secret *s = realloc(b->out->secrets, (b->out->nsecrets + 1) * sizeof(*s));
    if (s == NULL)
        return nomem(b);
    b->out->secrets = s;
    s[b->out->nsecrets].param = strdup(pname);
    s[b->out->nsecrets].value = strdup(url);
    b->out->nsecrets++;
    if (s[b->out->nsecrets - 1].param == NULL || s[b->out->nsecrets - 1].value == NULL)
        return nomem(b);
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
    if (!b.resources || !b.parameters || !b.env_vars || !b.store_statements) {
        nomem(&b);
        goto out;
    }
    if ((rc = stores(&b)) < 0)
        goto out;
    for (size_t i = 0; i < in->project->nunits; i++)
        if ((rc = function(&b, i)) < 0)
            goto out;

    if ((rc = kumo__cfn_openapi(in->spec, integration, &b, &body, err)) < 0) {
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
    if (rc < 0)
        kumo__cfn_template_free(out);
    return rc;
}
