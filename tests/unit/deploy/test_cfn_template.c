/*
 * test_cfn_template.c: the CloudFormation template and the API Gateway
 * Body (src/deploy/cfn_template.c, cfn_openapi.c). The todo example gives
 * the full template (every resource, the store URLs and IAM statements,
 * an integration on every operation, no x-kumo-* left); projects written
 * to a temporary directory give the 3.1 -> 3.0 conversions one keyword at a
 * time, the refusals with their file:line:column, and the secrets rule (a
 * credential in an environment's store URL is a NoEcho parameter and never
 * appears in the template's text). cfn-lint runs on the real template in
 * tests/integration/test_deploy_aws.py.
 */
#include "deploy/cfn.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
}

typedef struct loaded {
    kumo__project *p;
    kumo__spec *s;
} loaded;

static int load(const char *dir, loaded *l, kumo__error *err)
{
    memset(l, 0, sizeof(*l));
    int rc = kumo__project_load(dir, &l->p, err);
    if (rc == 0)
        rc = kumo__spec_load(l->p->api_path, &l->s, err);
    /* Bind every operation to the first unit, as kumo__bind_operations
     * would for a one-unit project whose .so exports every symbol. */
    for (size_t i = 0; rc == 0 && i < l->s->nops; i++)
        l->s->ops[i].unit_index = 0;
    return rc;
}

static void unload(loaded *l)
{
    kumo__spec_free(l->s);
    kumo__project_free(l->p);
}

static int build(loaded *l, const char *env, kumo__cfn_template *t, kumo__error *err)
{
    static const char *const keys[] = {"kumo/a/sha256-00.zip", "kumo/b/sha256-11.zip"};
    kumo__cfn_input in = {.project = l->p,
                          .spec = l->s,
                          .env = kumo__project_environment(l->p, env),
                          .stack = "todo",
                          .code_keys = keys,
                          .arch = "x86_64",
                          .stage = "prod"};
    return kumo__cfn_template_build(&in, t, err);
}

static json_t *res(const kumo__cfn_template *t, const char *id)
{
    return json_object_get(json_object_get(t->doc, "Resources"), id);
}

static const char *type_of(const kumo__cfn_template *t, const char *id)
{
    return json_string_value(json_object_get(res(t, id), "Type"));
}

/* Whether any object key in the tree starts with prefix. */
static int has_key_prefix(const json_t *j, const char *prefix)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            if (strncmp(k, prefix, strlen(prefix)) == 0 || has_key_prefix(v, prefix))
                return 1;
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            if (has_key_prefix(v, prefix))
                return 1;
        }
    }
    return 0;
}

static void test_todo(void)
{
    loaded l;
    kumo__error err = {0};
    kumo__cfn_template t;
    int rc = load("../../examples/todo", &l, &err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    rc = build(&l, NULL, &t, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        CHECK_STR(type_of(&t, "FunctionTodos"), "AWS::Lambda::Function");
        CHECK_STR(type_of(&t, "RoleTodos"), "AWS::IAM::Role");
        CHECK_STR(type_of(&t, "LogsTodos"), "AWS::Logs::LogGroup");
        CHECK_STR(type_of(&t, "InvokeTodos"), "AWS::Lambda::Permission");
        CHECK_STR(type_of(&t, "TableTodos"), "AWS::DynamoDB::Table");
        CHECK_STR(type_of(&t, "BucketAttachments"), "AWS::S3::Bucket");
        CHECK_STR(type_of(&t, "QueueNotifications"), "AWS::SQS::Queue");
        CHECK_STR(type_of(&t, "DeadLetterQueueNotifications"), "AWS::SQS::Queue");
        CHECK_STR(type_of(&t, "Api"), "AWS::ApiGateway::RestApi");
        CHECK_STR(type_of(&t, "ApiStage"), "AWS::ApiGateway::Stage");

        json_t *fp = json_object_get(res(&t, "FunctionTodos"), "Properties");
        CHECK_STR(json_string_value(json_object_get(fp, "FunctionName")), "todo-todos");
        CHECK_STR(json_string_value(json_object_get(fp, "Runtime")), "provided.al2023");
        CHECK_STR(json_string_value(json_object_get(fp, "Handler")), "bootstrap");
        CHECK_STR(json_string_value(json_object_get(json_object_get(fp, "Code"), "S3Key")), "kumo/a/sha256-00.zip");
        CHECK_INT(json_integer_value(json_object_get(fp, "MemorySize")), 128);
        CHECK_INT(json_integer_value(json_object_get(fp, "Timeout")), 10);
        json_t *vars = json_object_get(json_object_get(fp, "Environment"), "Variables");
        CHECK_STR(json_string_value(json_object_get(json_object_get(vars, "KUMO_STORE_TODOS"), "Fn::Sub")),
                  "dynamodb://${TableTodos}?region=${AWS::Region}&create=false");
        CHECK_STR(json_string_value(json_object_get(json_object_get(vars, "KUMO_STORE_ATTACHMENTS"), "Fn::Sub")),
                  "s3://${BucketAttachments}?region=${AWS::Region}&create=false");
        CHECK_STR(json_string_value(json_object_get(json_object_get(vars, "KUMO_STORE_NOTIFICATIONS"), "Fn::Sub")),
                  "sqs://${QueueNotifications.QueueName}?region=${AWS::Region}&create=false");

        /* The table's key schema is the one dynamodb.c reads and writes. */
        json_t *tp = json_object_get(res(&t, "TableTodos"), "Properties");
        char *ks = json_dumps(json_object_get(tp, "KeySchema"), JSON_COMPACT);
        CHECK_STR(ks,
                  "[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}]");
        free(ks);
        char *ad = json_dumps(json_object_get(tp, "AttributeDefinitions"), JSON_COMPACT);
        CHECK(ad && strstr(ad, "{\"AttributeName\":\"sk\",\"AttributeType\":\"B\"}") != NULL);
        free(ad);

        /* The role: logs on its own group, the drivers' actions on the stack's stores only. */
        char *role = json_dumps(res(&t, "RoleTodos"), JSON_COMPACT);
        CHECK(role && strstr(role, "\"dynamodb:UpdateItem\"") != NULL);
        CHECK(role && strstr(role, "{\"Fn::GetAtt\":[\"TableTodos\",\"Arn\"]}") != NULL);
        CHECK(role && strstr(role, "\"${BucketAttachments.Arn}/*\"") != NULL);
        CHECK(role && strstr(role, "{\"Fn::GetAtt\":[\"QueueNotifications\",\"Arn\"]}") != NULL);
        CHECK(role && strstr(role, "\"${LogsTodos.Arn}:*\"") != NULL);
        CHECK(role && strstr(role, "\"Resource\":\"*\"") == NULL);
        CHECK(role && strstr(role, "dynamodb:CreateTable") == NULL);
        free(role);

        /* The Body: 3.0, no x-kumo-*, every operation integrated with the function. */
        json_t *body = json_object_get(json_object_get(res(&t, "Api"), "Properties"), "Body");
        CHECK_STR(json_string_value(json_object_get(body, "openapi")), "3.0.3");
        CHECK(!has_key_prefix(body, "x-kumo"));
        size_t integrated = 0;
        const char *path;
        json_t *item;
        json_object_foreach(json_object_get(body, "paths"), path, item)
        {
            const char *m;
            json_t *op;
            json_object_foreach(item, m, op)
            {
                json_t *in = json_object_get(op, "x-amazon-apigateway-integration");
                if (strcmp(m, "parameters") == 0)
                    continue;
                CHECK(in != NULL);
                if (in == NULL)
                    continue;
                CHECK_STR(json_string_value(json_object_get(in, "type")), "aws_proxy");
                CHECK_STR(json_string_value(json_object_get(in, "httpMethod")), "POST");
                const char *uri = json_string_value(json_object_get(json_object_get(in, "uri"), "Fn::Sub"));
                CHECK(uri && strstr(uri, "/functions/${FunctionTodos.Arn}/invocations") != NULL);
                integrated++;
            }
        }
        CHECK_INT(integrated, l.s->nops);

        /* The deployment is named after the Body; the stage points at it. */
        const char *id;
        json_t *r;
        const char *dep = NULL;
        json_object_foreach(json_object_get(t.doc, "Resources"), id, r)
        {
            if (strcmp(json_string_value(json_object_get(r, "Type")), "AWS::ApiGateway::Deployment") == 0)
                dep = id;
        }
        CHECK(dep && strncmp(dep, "ApiDeployment", 13) == 0 && strlen(dep) == 23);
        json_t *sp = json_object_get(res(&t, "ApiStage"), "Properties");
        CHECK_STR(json_string_value(json_object_get(json_object_get(sp, "DeploymentId"), "Ref")), dep);
        CHECK_STR(json_string_value(json_object_get(sp, "StageName")), "prod");
        CHECK_INT(t.nsecrets, 0);
        kumo__cfn_template_free(&t);
    }
    unload(&l);
}

/* api_resources: the same routes as Resource and Method resources. */
static void test_resources_form(void)
{
    loaded l;
    kumo__error err = {0};
    kumo__cfn_template t;
    static const char *const keys[] = {"k.zip"};
    if (load("../../examples/todo", &l, &err) != 0) {
        CHECK(0);
        return;
    }
    kumo__cfn_input in = {.project = l.p,
                          .spec = l.s,
                          .stack = "todo",
                          .code_keys = keys,
                          .arch = "arm64",
                          .stage = "prod",
                          .api_resources = 1};
    int rc = kumo__cfn_template_build(&in, &t, &err);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        json_t *api = json_object_get(res(&t, "Api"), "Properties");
        CHECK(json_object_get(api, "Body") == NULL);
        size_t methods = 0, paths = 0;
        const char *id;
        json_t *r;
        int todos_id = 0;
        json_object_foreach(json_object_get(t.doc, "Resources"), id, r)
        {
            const char *type = json_string_value(json_object_get(r, "Type"));
            json_t *p = json_object_get(r, "Properties");
            if (strcmp(type, "AWS::ApiGateway::Method") == 0) {
                methods++;
                json_t *in = json_object_get(p, "Integration");
                CHECK_STR(json_string_value(json_object_get(in, "Type")), "AWS_PROXY");
                const char *uri = json_string_value(json_object_get(json_object_get(in, "Uri"), "Fn::Sub"));
                CHECK(uri && strstr(uri, "${FunctionTodos.Arn}") != NULL);
            } else if (strcmp(type, "AWS::ApiGateway::Resource") == 0) {
                paths++;
                todos_id |= strcmp(json_string_value(json_object_get(p, "PathPart")), "{id}") == 0;
            } else if (strcmp(type, "AWS::ApiGateway::Deployment") == 0) {
                CHECK_INT(json_array_size(json_object_get(r, "DependsOn")), l.s->nops);
            }
        }
        CHECK_INT(methods, l.s->nops);
        CHECK_INT(paths, 5); /* /todos, /todos/{id}, /todos/{id}/attachment, /notifications, /notifications/ack */
        CHECK(todos_id);
        CHECK_STR(json_string_value(json_array_get(
                      json_object_get(json_object_get(res(&t, "FunctionTodos"), "Properties"), "Architectures"), 0)),
                  "arm64");
        kumo__cfn_template_free(&t);
    }
    unload(&l);
}

static const char *const kumo_yaml = "name: conv\n"
                                     "api: openapi.yaml\n"
                                     "functions:\n"
                                     "  main: {sources: [main.c], memory: 300Mi, timeout: 2.5s}\n"
                                     "stores: {kv: [things], queue: [jobs]}\n"
                                     "environments:\n"
                                     "  prod:\n"
                                     "    stores:\n"
                                     "      things: \"redis://app:hunter2secret@cache.internal:6379/0\"\n"
                                     "      jobs: \"sqs://jobs-prod?region=eu-west-1\"\n"
                                     "  laptop:\n"
                                     "    stores:\n"
                                     "      things: \"sqlite:/tmp/things.db\"\n";

static const char *const spec31 =
    "openapi: 3.1.0\n"
    "info: {title: conv, version: '1', summary: dropped, license: {name: MIT, identifier: MIT}}\n"
    "jsonSchemaDialect: https://spec.openapis.org/oas/3.1/dialect/base\n"
    "x-kumo-anything: {a: 1}\n"
    "paths:\n"
    "  /things/{id}:\n"
    "    get:\n"
    "      operationId: getThing\n"
    "      x-kumo-handler: main.getThing\n"
    "      parameters:\n"
    "        - {name: id, in: path, required: true, schema: {type: integer, exclusiveMinimum: 0}}\n"
    "      responses:\n"
    "        '200':\n"
    "          description: ok\n"
    "          content:\n"
    "            application/json:\n"
    "              schema: {$ref: '#/components/schemas/Thing'}\n"
    "components:\n"
    "  schemas:\n"
    "    Thing:\n"
    "      type: object\n"
    "      properties:\n"
    "        name: {type: [string, 'null'], examples: [bolt, nut]}\n"
    "        kind: {const: widget}\n"
    "        const: {type: string, $comment: a property named const}\n"
    "        size: {type: [integer, string]}\n"
    "        parent: {anyOf: [{$ref: '#/components/schemas/Thing'}, {type: 'null'}]}\n"
    "        blob: {type: string, contentEncoding: base64}\n"
    "        file: {type: string, contentMediaType: image/png}\n"
    "        owner: {$ref: '#/components/schemas/Owner', description: who}\n"
    "        score: {type: number, exclusiveMaximum: 10}\n"
    "    Owner: {type: object}\n";

static void test_openapi31(void)
{
    loaded l;
    kumo__error err = {0};
    kumo__cfn_template t;
    write_file("kumo.yaml", kumo_yaml);
    write_file("main.c", "int x;\n");
    write_file("openapi.yaml", spec31);
    int rc = load(tmp, &l, &err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    rc = build(&l, NULL, &t, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        json_t *fp = json_object_get(res(&t, "FunctionMain"), "Properties");
        CHECK_INT(json_integer_value(json_object_get(fp, "MemorySize")), 300);
        CHECK_INT(json_integer_value(json_object_get(fp, "Timeout")), 3);
        json_t *body = json_object_get(json_object_get(res(&t, "Api"), "Properties"), "Body");
        CHECK_STR(json_string_value(json_object_get(body, "openapi")), "3.0.3");
        CHECK(json_object_get(body, "jsonSchemaDialect") == NULL);
        CHECK(json_object_get(json_object_get(body, "info"), "summary") == NULL);
        CHECK(json_object_get(json_object_get(json_object_get(body, "info"), "license"), "identifier") == NULL);
        CHECK(!has_key_prefix(body, "x-kumo"));
        CHECK(!has_key_prefix(body, "$comment"));
        json_t *props = json_object_get(
            json_object_get(json_object_get(json_object_get(body, "components"), "schemas"), "Thing"), "properties");
        char *s;
        s = json_dumps(json_object_get(props, "name"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"example\":\"bolt\",\"nullable\":true,\"type\":\"string\"}");
        free(s);
        s = json_dumps(json_object_get(props, "kind"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"enum\":[\"widget\"]}");
        free(s);
        s = json_dumps(json_object_get(props, "const"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"type\":\"string\"}");
        free(s);
        s = json_dumps(json_object_get(props, "size"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}");
        free(s);
        s = json_dumps(json_object_get(props, "parent"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"anyOf\":[{\"$ref\":\"#/components/schemas/Thing\"}],\"nullable\":true}");
        free(s);
        s = json_dumps(json_object_get(props, "blob"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"format\":\"byte\",\"type\":\"string\"}");
        free(s);
        s = json_dumps(json_object_get(props, "file"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"format\":\"binary\",\"type\":\"string\"}");
        free(s);
        s = json_dumps(json_object_get(props, "owner"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"allOf\":[{\"$ref\":\"#/components/schemas/Owner\"}],\"description\":\"who\"}");
        free(s);
        s = json_dumps(json_object_get(props, "score"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"exclusiveMaximum\":true,\"maximum\":10,\"type\":\"number\"}");
        free(s);
        json_t *param = json_array_get(
            json_object_get(json_object_get(json_object_get(json_object_get(body, "paths"), "/things/{id}"), "get"),
                            "parameters"),
            0);
        s = json_dumps(json_object_get(param, "schema"), JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR(s, "{\"exclusiveMinimum\":true,\"minimum\":0,\"type\":\"integer\"}");
        free(s);
        kumo__cfn_template_free(&t);
    }

    /* prod: the redis URL holds a password: a NoEcho parameter, never in
     * the text; the SQS queue is the environment's, not the stack's. */
    rc = build(&l, "prod", &t, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        char *text = json_dumps(t.doc, JSON_COMPACT);
        CHECK(text && strstr(text, "hunter2secret") == NULL);
        CHECK(text && strstr(text, "cache.internal") == NULL);
        CHECK(text && strstr(text, "arn:${AWS::Partition}:sqs:eu-west-1:${AWS::AccountId}:jobs-prod") != NULL);
        free(text);
        CHECK_INT(t.nsecrets, 1);
        if (t.nsecrets == 1) {
            CHECK_STR(t.secrets[0].param, "StoreUrlThings");
            CHECK_STR(t.secrets[0].value, "redis://app:hunter2secret@cache.internal:6379/0");
        }
        json_t *p = json_object_get(json_object_get(t.doc, "Parameters"), "StoreUrlThings");
        CHECK(json_is_true(json_object_get(p, "NoEcho")));
        CHECK(res(&t, "TableThings") == NULL);
        CHECK(res(&t, "QueueJobs") == NULL);
        json_t *vars = json_object_get(
            json_object_get(json_object_get(res(&t, "FunctionMain"), "Properties"), "Environment"), "Variables");
        CHECK_STR(json_string_value(json_object_get(json_object_get(vars, "KUMO_STORE_THINGS"), "Ref")),
                  "StoreUrlThings");
        CHECK_STR(json_string_value(json_object_get(vars, "KUMO_STORE_JOBS")), "sqs://jobs-prod?region=eu-west-1");
        kumo__cfn_template_free(&t);
    }

    /* laptop: a sqlite store cannot be shared by Lambda functions. */
    rc = build(&l, "laptop", &t, &err);
    CHECK_INT(rc, -EINVAL);
    CHECK(strstr(err.msg, "kumo.yaml:13:") != NULL);
    CHECK(strstr(err.msg, "store 'things'") != NULL);
    unload(&l);
}

/* Each refusal, with where it is. */
static void test_refusals(void)
{
    static const struct {
        const char *schema; /* the Thing schema, at line 11 of the document */
        const char *expect;
    } cases[] = {
        {"{type: array, prefixItems: [{type: string}]}", "openapi.yaml:11:"},
        {"{type: 'null'}", "only allows null"},
        {"{$ref: 'other.yaml#/Thing'}", "points into another file"},
        {"{type: object, if: {required: [a]}, then: {required: [b]}}", "'if' has no OpenAPI 3.0 form"},
        {"{$defs: {a: {type: string}}}", "'$defs' has no OpenAPI 3.0 form"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char spec[1024];
        snprintf(spec, sizeof(spec),
                 "openapi: 3.1.0\n"
                 "info: {title: conv, version: '1'}\n"
                 "paths:\n"
                 "  /things:\n"
                 "    get:\n"
                 "      operationId: getThing\n"
                 "      responses:\n"
                 "        '200': {description: ok}\n"
                 "components:\n"
                 "  schemas:\n"
                 "    Thing: %s\n",
                 cases[i].schema);
        write_file("openapi.yaml", spec);
        loaded l;
        kumo__error err = {0};
        kumo__cfn_template t;
        int rc = load(tmp, &l, &err);
        if (rc != 0) {
            /* the spec loader itself may refuse a file it cannot read */
            CHECK(strstr(err.msg, "other.yaml") != NULL);
            unload(&l);
            continue;
        }
        rc = build(&l, NULL, &t, &err);
        CHECK_INT(rc, -EINVAL);
        if (strstr(err.msg, cases[i].expect) == NULL)
            fprintf(stderr, "case %zu: '%s' not in: %s\n", i, cases[i].expect, err.msg);
        CHECK(strstr(err.msg, cases[i].expect) != NULL);
        CHECK(strstr(err.msg, "openapi.yaml:11:") != NULL);
        unload(&l);
    }
}

/* http.cors: each path with a bound operation and no options of its own
 * gets an options method integrated with that function, so API Gateway
 * passes a browser's preflight to kumo-host; without it, none. */
static void test_cors_preflight(void)
{
    static const char spec[] = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
                               "  /a:\n    get: {operationId: getA, responses: {'200': {description: ok}}}\n"
                               "    post: {operationId: postA, responses: {'200': {description: ok}}}\n"
                               "  /b:\n    get: {operationId: getB, responses: {'200': {description: ok}}}\n"
                               "    options: {operationId: optB, responses: {'200': {description: ok}}}\n";
    for (int cors = 0; cors < 2; cors++) {
        loaded l;
        kumo__error err = {0};
        kumo__cfn_template t;
        char yaml[300];
        snprintf(yaml, sizeof(yaml), "name: c\napi: openapi.yaml\nfunctions:\n  main: {sources: [main.c]}\n%s",
                 cors ? "http:\n  cors: {origins: [https://app.example.com]}\n" : "");
        write_file("kumo.yaml", yaml);
        write_file("main.c", "int x;\n");
        write_file("openapi.yaml", spec);
        int rc = load(tmp, &l, &err);
        CHECK_INT(rc, 0);
        if (rc != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return;
        }
        rc = build(&l, NULL, &t, &err);
        if (rc != 0)
            fprintf(stderr, "unexpected: %s\n", err.msg);
        CHECK_INT(rc, 0);
        if (rc == 0) {
            json_t *paths =
                json_object_get(json_object_get(json_object_get(res(&t, "Api"), "Properties"), "Body"), "paths");
            json_t *a = json_object_get(paths, "/a"), *b = json_object_get(paths, "/b");
            json_t *opt = json_object_get(a, "options");
            CHECK((opt != NULL) == cors);
            if (opt) {
                CHECK(json_equal(json_object_get(opt, "x-amazon-apigateway-integration"),
                                 json_object_get(json_object_get(a, "get"), "x-amazon-apigateway-integration")));
                CHECK(json_object_get(json_object_get(opt, "responses"), "204") != NULL);
            }
            /* a path's own options operation is kept as written */
            CHECK_STR(json_string_value(json_object_get(json_object_get(b, "options"), "operationId")), "optB");
            kumo__cfn_template_free(&t);
        }
        unload(&l);
    }
}

static void test_limits(void)
{
    CHECK_INT(kumo__cfn_lambda_memory(0), 128);
    CHECK_INT(kumo__cfn_lambda_memory((size_t)64 << 20), 128);
    CHECK_INT(kumo__cfn_lambda_memory(((size_t)512 << 20) + 1), 513);
    CHECK_INT(kumo__cfn_lambda_memory((size_t)10240 << 20), 10240);
    CHECK_INT(kumo__cfn_lambda_memory((size_t)10241 << 20), -1);
    CHECK_INT(kumo__cfn_lambda_timeout(0.2), 1);
    CHECK_INT(kumo__cfn_lambda_timeout(10), 10);
    CHECK_INT(kumo__cfn_lambda_timeout(900.5), -1);
    char b[16];
    CHECK_INT(kumo__cfn_logical_name("my-unit_2", b, sizeof(b)), 0);
    CHECK_STR(b, "MyUnit2");
    CHECK_INT(kumo__cfn_logical_name("---", b, sizeof(b)), -EINVAL);
    CHECK_INT(kumo__cfn_logical_name("aaaaaaaaaaaaaaaaaaaaaaa", b, sizeof(b)), -ENAMETOOLONG);
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/kumo-cfn-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return 1;
    test_limits();
    test_todo();
    test_resources_form();
    test_openapi31();
    test_refusals();
    test_cors_preflight();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return check_report();
}
