/*
 * aws.c: kumo__deploy_aws (deploy.h), `kumo deploy --target aws` and
 * `kumo destroy --target aws`.
 *
 * Deploy, in order:
 *   1. build the zips (kumo__build_target, which builds the units first)
 *      and bind the operations to units as kumo up does;
 *   2. write the template (cfn_template.c) to DIR/.kumo/deploy/aws/
 *      template.json; with --dry-run print what would follow and stop;
 *   3. find the account (STS GetCallerIdentity) and make the artifacts
 *      bucket kumo-STACK-ACCOUNT-REGION (bucket names are global, so the
 *      account and region keep two users' and two regions' apart);
 *   4. upload each zip as functions/UNIT/HEX.zip, HEX its sha256, unless
 *      that key is already there (an unchanged unit uploads nothing and
 *      leaves its function alone);
 *   5. CreateStack, or UpdateStack when the stack exists ("No updates are
 *      to be performed" is success); a stack left in ROLLBACK_COMPLETE by a
 *      failed first create is deleted first, since CloudFormation can only
 *      delete it;
 *   6. print each new stack event (status, type, logical id, reason) until
 *      the stack leaves *_IN_PROGRESS, then the API's URL from the outputs.
 *
 * moto: its CloudFormation (5.2) creates a RestApi from Name and
 * Description only, ignoring Body, and then refuses the Deployment of an
 * API without methods. When --endpoint-url is moto's server (it answers
 * GET /moto-api/), the template carries the same routes and integrations
 * as AWS::ApiGateway::Resource and Method resources instead of the Body
 * (kumo__cfn_input.api_resources), and says so. moto also has no
 * AWS::ApiGateway::Stage (it skips it with a warning) and emits stack
 * events only for the stack itself.
 *
 * Destroy: empty the stack's own S3 buckets (CloudFormation cannot delete a
 * bucket with objects), DeleteStack, wait the same way, then empty and
 * delete the artifacts bucket.
 *
 * The template goes to CloudFormation as TemplateBody, or from the
 * artifacts bucket (TemplateURL) when it is over the 51,200 bytes
 * TemplateBody takes. NoEcho parameter values (credentials in store URLs)
 * travel only in the API call.
 */
#include "deploy/deploy.h"

#include "deploy/aws_api.h"
#include "deploy/bundle.h"
#include "deploy/cfn.h"
#include "runtime/runtime.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define TEMPLATE_BODY_MAX 51200
#define WAIT_MAX_S (60 * 60)
#define STACK_NAME_MAX 100 /* CloudFormation allows 128; kept shorter for the bucket and function names */
#define BUCKET_MAX 63

typedef struct deploy {
    const kumo__deploy_opts *o;
    kumo__project *p;
    kumo__spec *spec;
    const kumo__environment *env;
    kumo__artifacts arts;
    kumo__aws_api *api;
    char region[40];
    char stack[STACK_NAME_MAX + 1];
    char stage[64];
    char bucket[BUCKET_MAX + 1];
    char **keys; /* S3 key per unit */
    int moto;    /* the endpoint is moto: routes as resources, not Body */
    kumo__cfn_template tpl;
    char *text; /* the template as written */
    char tpl_path[PATH_MAX];
} deploy;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int valid_region(const char *r)
{
    if (*r == '\0' || strlen(r) > 32)
        return 0;
    for (; *r; r++)
        if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
            return 0;
    return 1;
}

/* Names: the region, the stack, the stage. */
static int names(deploy *d, kumo__error *err)
{
    const kumo__deploy_opts *o = d->o;
    const char *r = o->region;
    if (r == NULL && d->env && d->env->region)
        r = d->env->region;
    if (r == NULL || *r == '\0')
        r = getenv("AWS_REGION");
    if (r == NULL || *r == '\0')
        r = getenv("AWS_DEFAULT_REGION");
    if (r == NULL || *r == '\0')
        r = "us-east-1";
    if (!valid_region(r)) {
        kumo__error_set(err, -EINVAL, "region '%s' is not a region name (e.g. us-east-1)", r);
        return -EINVAL;
    }
    snprintf(d->region, sizeof(d->region), "%s", r);

    if (o->stack) {
        size_t n = strlen(o->stack);
        int ok = n > 0 && n <= STACK_NAME_MAX && isalpha((unsigned char)o->stack[0]);
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)o->stack[i]) || o->stack[i] == '-';
        if (!ok) {
            kumo__error_set(err, -EINVAL,
                            "--stack '%s': a stack name starts with a letter and has only letters, digits and "
                            "'-' (at most %d)",
                            o->stack, STACK_NAME_MAX);
            return -EINVAL;
        }
        snprintf(d->stack, sizeof(d->stack), "%s", o->stack);
    } else {
        /* The project's name (and the environment's), made a stack name. */
        char raw[256];
        size_t w = 0;
        snprintf(raw, sizeof(raw), "%s%s%s", isalpha((unsigned char)d->p->name[0]) ? "" : "kumo-", d->p->name, "");
        if (o->env) {
            size_t n = strlen(raw);
            snprintf(raw + n, sizeof(raw) - n, "-%s", o->env);
        }
        for (const char *s = raw; *s && w < 48; s++) {
            char c = isalnum((unsigned char)*s) ? *s : '-';
            if (c == '-' && (w == 0 || d->stack[w - 1] == '-'))
                continue;
            d->stack[w++] = c;
        }
        while (w > 0 && d->stack[w - 1] == '-')
            w--;
        d->stack[w] = '\0';
        if (w == 0)
            snprintf(d->stack, sizeof(d->stack), "kumo");
    }
    /* The stage: the environment's name, else "prod". */
    const char *st = o->env ? o->env : "prod";
    size_t w = 0;
    for (const char *s = st; *s && w < sizeof(d->stage) - 1; s++)
        d->stage[w++] = isalnum((unsigned char)*s) || *s == '_' || *s == '-' ? *s : '_';
    d->stage[w] = '\0';
    return 0;
}

/* kumo-STACK-ACCOUNT-REGION, lower case, at most 63 characters (the
 * stack part is shortened to fit). */
static void bucket_name(deploy *d, const char *account)
{
    char tail[96];
    snprintf(tail, sizeof(tail), "-%s-%s", account, d->region);
    size_t room = BUCKET_MAX - strlen("kumo-") - strlen(tail);
    char stack[STACK_NAME_MAX + 1];
    size_t n = 0;
    for (const char *s = d->stack; *s && n < room; s++)
        stack[n++] = (char)tolower((unsigned char)*s);
    while (n > 0 && stack[n - 1] == '-')
        n--;
    stack[n] = '\0';
    snprintf(d->bucket, sizeof(d->bucket), "kumo-%s%s", stack, tail);
}

static const char *arch(void)
{
    struct utsname u;
    if (uname(&u) == 0 && (strcmp(u.machine, "aarch64") == 0 || strcmp(u.machine, "arm64") == 0))
        return "arm64";
    return "x86_64";
}

static void warn_unbound(const char *line)
{
    fprintf(stderr, "kumo deploy: %s (API Gateway answers it with 501)\n", line);
}

/* Steps 1 and 2: build, bind, template. */
static int prepare(deploy *d, kumo__error *err)
{
    int rc;
    const kumo__deploy_opts *o = d->o;
    double t0 = now_s();

    if ((rc = kumo__build_target(o->dir, "aws", &d->arts, err)) < 0) {
        kumo__error_wrap(err, "building the functions for aws");
        return rc;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < d->arts.n; i++)
        total += d->arts.items[i].size;
    printf("built %zu function zip%s (%.1f MiB) in %.1f s\n", d->arts.n, d->arts.n == 1 ? "" : "s",
           (double)total / (1024.0 * 1024.0), now_s() - t0);

    if ((rc = kumo__spec_load(d->p->api_path, &d->spec, err)) < 0)
        return rc;
    if ((rc = kumo__bind_operations(d->p, d->spec, warn_unbound, err)) < 0)
        return rc;

    d->keys = calloc(d->p->nunits + 1, sizeof(char *));
    if (d->keys == NULL)
        goto nomem;
    for (size_t i = 0; i < d->p->nunits; i++) {
        const kumo__artifact *a = NULL;
        for (size_t j = 0; j < d->arts.n; j++)
            if (d->arts.items[j].unit && strcmp(d->arts.items[j].unit, d->p->units[i].name) == 0)
                a = &d->arts.items[j];
        if (a == NULL || a->digest == NULL) {
            kumo__error_set(err, -EIO, "kumo build wrote no zip for function '%s'", d->p->units[i].name);
            return -EIO;
        }
        const char *hex = strncmp(a->digest, "sha256:", 7) == 0 ? a->digest + 7 : a->digest;
        if (asprintf(&d->keys[i], "functions/%s/%s.zip", d->p->units[i].name, hex) < 0) {
            d->keys[i] = NULL;
            goto nomem;
        }
    }

    kumo__cfn_input in = {.project = d->p,
                          .spec = d->spec,
                          .env = d->env,
                          .stack = d->stack,
                          .code_keys = (const char *const *)d->keys,
                          .arch = arch(),
                          .stage = d->stage,
                          .no_secret_values = d->o->dry_run,
                          .api_resources = d->moto};
    if ((rc = kumo__cfn_template_build(&in, &d->tpl, err)) < 0)
        return rc;
    d->text = json_dumps(d->tpl.doc, JSON_INDENT(2));
    if (d->text == NULL)
        goto nomem;

    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/.kumo/deploy/aws", d->p->dir);
    if ((rc = kumo__mkdirs(dir, 0755)) < 0) {
        kumo__error_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    snprintf(d->tpl_path, sizeof(d->tpl_path), "%s/template.json", dir);
    FILE *f = fopen(d->tpl_path, "w");
    if (f == NULL || fputs(d->text, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
        rc = -errno;
        kumo__error_set(err, rc ? rc : -EIO, "cannot write %s: %s", d->tpl_path, strerror(errno));
        if (f)
            fclose(f);
        return err->code;
    }
    printf("wrote %s (%zu bytes)\n", d->tpl_path, strlen(d->text));
    if (d->moto)
        printf("the endpoint is moto, whose CloudFormation ignores a RestApi's Body: the routes are written as "
               "AWS::ApiGateway::Resource and Method resources instead\n");
    return 0;
nomem:
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

static int is_in_progress(const char *status)
{
    size_t n = strlen(status);
    return n > 12 && strcmp(status + n - 12, "_IN_PROGRESS") == 0;
}

/* The newest event's id now (NULL when none or no stack). */
static char *newest_event(deploy *d, const char *stack)
{
    kumo__cfn_event *ev = NULL;
    size_t n = 0;
    kumo__error e = {0};
    char *id = NULL;
    if (kumo__cfn_events(d->api, stack, &ev, &n, &e) == 0 && n > 0)
        id = strdup(ev[0].id);
    kumo__cfn_events_free(ev, n);
    return id;
}

/* Polls until the stack leaves *_IN_PROGRESS, printing events newer than
 * *seen (updated). `stack` may be the stack id (needed after a delete).
 * *final receives the last status (malloc'd). */
static int wait_stack(deploy *d, const char *stack, char **seen, char **final, kumo__error *err)
{
    double start = now_s();
    double pause = d->o->endpoint_url ? 0.3 : 3.0;
    int rc = 0;
    *final = NULL;
    for (;;) {
        kumo__cfn_event *ev = NULL;
        size_t n = 0;
        if ((rc = kumo__cfn_events(d->api, stack, &ev, &n, err)) < 0)
            return rc;
        size_t fresh = 0;
        while (fresh < n && !(*seen && strcmp(ev[fresh].id, *seen) == 0))
            fresh++;
        for (size_t i = fresh; i-- > 0;) {
            printf("  %-20s %-32s %-28s %s\n", ev[i].status, ev[i].type ? ev[i].type : "",
                   ev[i].resource ? ev[i].resource : "", ev[i].reason ? ev[i].reason : "");
        }
        fflush(stdout);
        if (fresh > 0) {
            free(*seen);
            *seen = strdup(ev[0].id);
        }
        kumo__cfn_events_free(ev, n);

        kumo__cfn_stack s;
        rc = kumo__cfn_describe(d->api, stack, &s, err);
        if (rc == -ENOENT) {
            *final = strdup("DELETE_COMPLETE");
            err->code = 0;
            err->msg[0] = '\0';
            return *final ? 0 : -ENOMEM;
        }
        if (rc < 0)
            return rc;
        if (!is_in_progress(s.status)) {
            *final = strdup(s.status);
            kumo__cfn_stack_free(&s);
            return *final ? 0 : -ENOMEM;
        }
        kumo__cfn_stack_free(&s);
        if (now_s() - start > WAIT_MAX_S) {
            kumo__error_set(err, -ETIMEDOUT, "stack %s is still in progress after %d minutes; see the console",
                            d->stack, WAIT_MAX_S / 60);
            return -ETIMEDOUT;
        }
        sleep_s(pause);
    }
}

/* The reason of the first failed event since the operation began. */
static void failure_reason(deploy *d, const char *stack, char *buf, size_t len)
{
    kumo__cfn_event *ev = NULL;
    size_t n = 0;
    kumo__error e = {0};
    buf[0] = '\0';
    if (kumo__cfn_events(d->api, stack, &ev, &n, &e) == 0) {
        for (size_t i = n; i-- > 0;)
            if (strstr(ev[i].status, "FAILED") && ev[i].reason && strcmp(ev[i].type, "AWS::CloudFormation::Stack")) {
                snprintf(buf, len, "%s: %s", ev[i].resource ? ev[i].resource : "?", ev[i].reason);
                break;
            }
    }
    kumo__cfn_events_free(ev, n);
}

static int connect_api(deploy *d, kumo__error *err)
{
    char *account = NULL;
    int rc = kumo__aws_api_new(d->region, d->o->endpoint_url, &d->api, err);
    if (rc < 0)
        return rc;
    if ((rc = kumo__sts_account(d->api, &account, err)) < 0) {
        kumo__error_wrap(err, "finding the AWS account");
        return rc;
    }
    bucket_name(d, account);
    free(account);
    return 0;
}

static int apply(deploy *d, kumo__error *err)
{
    int rc;
    char *seen = NULL, *final = NULL, *url = NULL;
    kumo__cfn_stack s = {0};
    kumo__cfn_param *params = NULL;

    printf("region %s, stack %s, artifacts bucket %s%s%s\n", d->region, d->stack, d->bucket,
           d->o->endpoint_url ? ", endpoint " : "", d->o->endpoint_url ? d->o->endpoint_url : "");
    if ((rc = kumo__s3_bucket_create(d->api, d->bucket, err)) < 0) {
        kumo__error_wrap(err, "making the artifacts bucket");
        goto out;
    }
    for (size_t i = 0; i < d->p->nunits; i++) {
        const kumo__artifact *a = NULL;
        for (size_t j = 0; j < d->arts.n; j++)
            if (d->arts.items[j].unit && strcmp(d->arts.items[j].unit, d->p->units[i].name) == 0)
                a = &d->arts.items[j];
        int exists = 0;
        if ((rc = kumo__s3_object_exists(d->api, d->bucket, d->keys[i], &exists, err)) < 0)
            goto out;
        if (exists) {
            printf("  s3://%s/%s is there already\n", d->bucket, d->keys[i]);
            continue;
        }
        double t0 = now_s();
        if ((rc = kumo__s3_object_put_file(d->api, d->bucket, d->keys[i], a->path, "application/zip", err)) < 0) {
            kumo__error_wrap(err, "uploading %s", a->path);
            goto out;
        }
        printf("  uploaded s3://%s/%s (%.1f MiB, %.1f s)\n", d->bucket, d->keys[i], (double)a->size / (1024.0 * 1024.0),
               now_s() - t0);
    }

    /* The template: in the call, or from the bucket when too large. */
    const char *body = d->text;
    if (strlen(d->text) > TEMPLATE_BODY_MAX) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        char key[128];
        SHA256((const unsigned char *)d->text, strlen(d->text), md);
        int o = snprintf(key, sizeof(key), "templates/");
        for (int i = 0; i < 16; i++)
            o += snprintf(key + o, sizeof(key) - (size_t)o, "%02x", md[i]);
        snprintf(key + o, sizeof(key) - (size_t)o, ".json");
        if ((rc = kumo__s3_object_put(d->api, d->bucket, key, d->text, strlen(d->text), "application/json", err)) < 0)
            goto out;
        if ((url = kumo__s3_object_https_url(d->api, d->bucket, key)) == NULL) {
            rc = -ENOMEM;
            kumo__error_set(err, rc, "out of memory");
            goto out;
        }
        body = NULL;
    }

    params = calloc(d->tpl.nsecrets + 1, sizeof(*params));
    if (params == NULL) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    params[0] = (kumo__cfn_param){"ArtifactsBucket", d->bucket};
    for (size_t i = 0; i < d->tpl.nsecrets; i++)
        params[i + 1] = (kumo__cfn_param){d->tpl.secrets[i].param, d->tpl.secrets[i].value};

    int update = 0;
    rc = kumo__cfn_describe(d->api, d->stack, &s, err);
    if (rc == 0 && is_in_progress(s.status)) {
        kumo__error_set(err, -EBUSY, "stack %s is %s; wait for it to finish and deploy again", d->stack, s.status);
        rc = -EBUSY;
        goto out;
    }
    if (rc == 0 && strcmp(s.status, "ROLLBACK_COMPLETE") == 0) {
        /* A first create that failed: CloudFormation can only delete it. */
        printf("stack %s is ROLLBACK_COMPLETE from a failed first deploy; deleting it before creating it again\n",
               d->stack);
        seen = newest_event(d, s.id);
        if ((rc = kumo__cfn_delete(d->api, d->stack, err)) < 0 || (rc = wait_stack(d, s.id, &seen, &final, err)) < 0)
            goto out;
        free(final);
        final = NULL;
        free(seen);
        seen = NULL;
        rc = -ENOENT;
    }
    if (rc == 0) {
        update = 1;
        seen = newest_event(d, d->stack);
    } else if (rc != -ENOENT) {
        goto out;
    }
    kumo__cfn_stack_free(&s);
    err->code = 0;

    printf("%s stack %s\n", update ? "updating" : "creating", d->stack);
    rc = kumo__cfn_apply(d->api, update, d->stack, body, url, params, d->tpl.nsecrets + 1, err);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        printf("no changes: the stack is as the template says\n");
        rc = 0;
    } else if ((rc = wait_stack(d, d->stack, &seen, &final, err)) < 0) {
        goto out;
    }
    if ((rc = kumo__cfn_describe(d->api, d->stack, &s, err)) < 0)
        goto out;
    if (strcmp(s.status, "CREATE_COMPLETE") != 0 && strcmp(s.status, "UPDATE_COMPLETE") != 0) {
        char why[600];
        failure_reason(d, d->stack, why, sizeof(why));
        kumo__error_set(err, -EIO, "stack %s ended %s%s%s", d->stack, s.status, *why ? ": " : "", why);
        rc = -EIO;
        goto out;
    }
    printf("stack %s: %s\n", d->stack, s.status);
    const char *api_url = kumo__cfn_output(&s, "ApiUrl");
    if (api_url)
        printf("API: %s\n", api_url);
    rc = 0;
out:
    kumo__cfn_stack_free(&s);
    free(seen);
    free(final);
    free(url);
    free(params);
    return rc;
}

static int dry_run(deploy *d)
{
    char account_hint[] = "ACCOUNT";
    bucket_name(d, account_hint);
    printf("dry run: nothing is sent to AWS. kumo deploy would:\n");
    printf("  find the account (sts GetCallerIdentity) and make bucket %s in %s%s%s\n", d->bucket, d->region,
           d->o->endpoint_url ? " at " : "", d->o->endpoint_url ? d->o->endpoint_url : "");
    for (size_t i = 0; i < d->p->nunits; i++) {
        for (size_t j = 0; j < d->arts.n; j++)
            if (d->arts.items[j].unit && strcmp(d->arts.items[j].unit, d->p->units[i].name) == 0)
                printf("  upload %s to s3://%s/%s (unless there)\n", d->arts.items[j].path, d->bucket, d->keys[i]);
    }
    printf("  create or update stack %s from %s%s with parameters ArtifactsBucket=%s", d->stack, d->tpl_path,
           strlen(d->text) > TEMPLATE_BODY_MAX ? " (through the bucket: over 51,200 bytes)" : "", d->bucket);
    for (size_t i = 0; i < d->tpl.nsecrets; i++)
        printf(", %s=(NoEcho: %s)", d->tpl.secrets[i].param, d->tpl.secrets[i].said);
    printf("\n  wait for it, printing its events, then print the API URL (stage %s)\n", d->stage);
    return 0;
}

static int destroy_dry_run(deploy *d, kumo__error *err)
{
    char **what = NULL;
    size_t n = 0;
    int rc = kumo__destroy_data(d->o, &what, &n, err);
    if (rc < 0)
        return rc;
    bucket_name(d, "ACCOUNT");
    printf("dry run: nothing is sent to AWS. kumo destroy would:\n");
    if (d->o->keep_data && n)
        printf("  update stack %s so that its data stores are retained (DeletionPolicy Retain), then\n", d->stack);
    printf("  delete stack %s in %s%s%s, with its functions, API and roles%s\n", d->stack, d->region,
           d->o->endpoint_url ? " at " : "", d->o->endpoint_url ? d->o->endpoint_url : "",
           !n                ? ""
           : d->o->keep_data ? ", keeping these data stores (they stay, no longer the stack's):"
                             : ", and these data stores (their data is lost):");
    for (size_t i = 0; i < n; i++)
        printf("    %s\n", what[i]);
    printf("  empty and delete the artifacts bucket %s\n", d->bucket);
    kumo__destroy_data_free(what, n);
    return 0;
}

/* The resource types of the stack that hold a store's data. */
static int holds_data(const char *type)
{
    return strcmp(type, "AWS::DynamoDB::Table") == 0 || strcmp(type, "AWS::S3::Bucket") == 0 ||
           strcmp(type, "AWS::SQS::Queue") == 0;
}

/* kumo destroy --keep-data: the stack's current template again with
 * DeletionPolicy Retain on every table, bucket and queue (an UpdateStack
 * that changes nothing else: every parameter keeps its previous value),
 * so that deleting the stack leaves them. Prints what is kept; *kept is
 * how many. */
static int retain_data(deploy *d, const char *stack_id, char **seen, size_t *kept, kumo__error *err)
{
    char *body = NULL, *text = NULL, *final = NULL;
    kumo__cfn_param *params = NULL;
    json_t *tpl = NULL;
    size_t nparams = 0;
    int rc = kumo__cfn_get_template(d->api, d->stack, &body, err);
    *kept = 0;
    if (rc < 0)
        goto out;
    json_error_t je;
    if ((tpl = json_loads(body, 0, &je)) == NULL) {
        kumo__error_set(err, -EPROTO, "stack %s: its template is not JSON (%s); kumo did not write it", d->stack,
                        je.text);
        rc = -EPROTO;
        goto out;
    }
    const char *name;
    json_t *res, *param;
    int changed = 0;
    json_object_foreach(json_object_get(tpl, "Resources"), name, res)
    {
        const char *type = json_string_value(json_object_get(res, "Type"));
        if (type == NULL || !holds_data(type))
            continue;
        const char *policy = json_string_value(json_object_get(res, "DeletionPolicy"));
        changed |= policy == NULL || strcmp(policy, "Retain") != 0;
        if (json_object_set_new(res, "DeletionPolicy", json_string("Retain")) != 0 ||
            json_object_set_new(res, "UpdateReplacePolicy", json_string("Retain")) != 0) {
            rc = -ENOMEM;
            kumo__error_set(err, rc, "out of memory");
            goto out;
        }
        printf("  keeping %-24s %s\n", type, name);
        (*kept)++;
    }
    if (!changed)
        goto out;
    size_t cap = json_object_size(json_object_get(tpl, "Parameters"));
    if ((params = calloc(cap ? cap : 1, sizeof(*params))) == NULL || (text = json_dumps(tpl, JSON_COMPACT)) == NULL) {
        rc = -ENOMEM;
        kumo__error_set(err, rc, "out of memory");
        goto out;
    }
    json_object_foreach(json_object_get(tpl, "Parameters"), name, param) params[nparams++] =
        (kumo__cfn_param){.key = name, .value = NULL}; /* the stack's previous values, secrets included */
    printf("updating stack %s: its data stores are retained when it is deleted\n", d->stack);
    rc = kumo__cfn_apply(d->api, 1, d->stack, text, NULL, params, nparams, err);
    if (rc == 1) {
        rc = 0;
        goto out;
    }
    if (rc < 0 || (rc = wait_stack(d, stack_id, seen, &final, err)) < 0)
        goto out;
    if (strcmp(final, "UPDATE_COMPLETE") != 0) {
        char why[600];
        failure_reason(d, stack_id, why, sizeof(why));
        kumo__error_set(err, -EIO, "stack %s ended %s%s%s; nothing was deleted", d->stack, final, *why ? ": " : "",
                        why);
        rc = -EIO;
    }
out:
    json_decref(tpl);
    free(body);
    free(text);
    free(params);
    free(final);
    return rc;
}

static int destroy(deploy *d, kumo__error *err)
{
    int rc;
    char *seen = NULL, *final = NULL, **buckets = NULL;
    size_t nbuckets = 0;
    kumo__cfn_stack s = {0};

    if ((rc = connect_api(d, err)) < 0)
        goto out;
    rc = kumo__cfn_describe(d->api, d->stack, &s, err);
    if (rc == -ENOENT) {
        printf("stack %s does not exist in %s\n", d->stack, d->region);
        err->code = 0;
    } else if (rc < 0) {
        goto out;
    } else {
        if (is_in_progress(s.status)) {
            kumo__error_set(err, -EBUSY, "stack %s is %s; wait for it to finish and destroy again", d->stack, s.status);
            rc = -EBUSY;
            goto out;
        }
        seen = newest_event(d, s.id);
        size_t kept = 0;
        if (d->o->keep_data && (rc = retain_data(d, s.id, &seen, &kept, err)) < 0)
            goto out;
        /* CloudFormation cannot delete a bucket with objects in it (a kept
         * bucket keeps them). */
        if (!d->o->keep_data &&
            (rc = kumo__cfn_resources(d->api, d->stack, "AWS::S3::Bucket", &buckets, &nbuckets, err)) < 0)
            goto out;
        for (size_t i = 0; i < nbuckets; i++) {
            size_t n = 0;
            rc = kumo__s3_bucket_empty(d->api, buckets[i], &n, err);
            if (rc == -ENOENT) {
                rc = 0;
                err->code = 0;
                continue;
            }
            if (rc < 0)
                goto out;
            printf("  emptied bucket %s (%zu object%s)\n", buckets[i], n, n == 1 ? "" : "s");
        }
        printf("deleting stack %s\n", d->stack);
        if ((rc = kumo__cfn_delete(d->api, d->stack, err)) < 0 || (rc = wait_stack(d, s.id, &seen, &final, err)) < 0)
            goto out;
        if (strcmp(final, "DELETE_COMPLETE") != 0) {
            char why[600];
            failure_reason(d, s.id, why, sizeof(why));
            kumo__error_set(err, -EIO, "stack %s ended %s%s%s", d->stack, final, *why ? ": " : "", why);
            rc = -EIO;
            goto out;
        }
        printf("stack %s: DELETE_COMPLETE\n", d->stack);
        if (kept)
            printf("kept %zu data store resource%s (tables, buckets, queues): they are no longer the stack's; delete "
                   "them yourself when they are not needed (a new deploy makes new ones)\n",
                   kept, kept == 1 ? "" : "s");
    }
    size_t n = 0;
    rc = kumo__s3_bucket_empty(d->api, d->bucket, &n, err);
    if (rc == 0)
        rc = kumo__s3_bucket_delete(d->api, d->bucket, err);
    if (rc == -ENOENT) {
        printf("artifacts bucket %s does not exist\n", d->bucket);
        err->code = 0;
        rc = 0;
    } else if (rc == 0) {
        printf("deleted artifacts bucket %s (%zu object%s)\n", d->bucket, n, n == 1 ? "" : "s");
    }
out:
    kumo__cfn_stack_free(&s);
    kumo__cfn_strings_free(buckets, nbuckets);
    free(seen);
    free(final);
    return rc;
}

int kumo__deploy_aws(const kumo__deploy_opts *o, kumo__error *err)
{
    deploy d = {.o = o};
    int rc;
    /* Events: the template carries what AWS can express and refuses the
     * rest at its line (cfn_template.c). */
    if ((rc = kumo__project_load(o->dir, &d.p, err)) < 0)
        goto out;
    if (o->env) {
        d.env = kumo__project_environment(d.p, o->env);
        if (d.env == NULL) {
            const char *name = NULL;
            rc = kumo__project_pick_environment(d.p, o->env, &name, err); /* lists the defined ones */
            if (rc == 0) {
                kumo__error_set(err, -EINVAL, "no environment '%s' in kumo.yaml", o->env);
                rc = -EINVAL;
            }
            goto out;
        }
        if (d.env->target && strcmp(d.env->target, "aws") != 0) {
            kumo__error_set(err, -EINVAL, "environment '%s' in kumo.yaml has target %s, not aws", o->env,
                            d.env->target);
            rc = -EINVAL;
            goto out;
        }
    }
    if ((rc = names(&d, err)) < 0)
        goto out;
    kumo__cfn_input early = {.project = d.p, .env = d.env, .stack = d.stack};
    if (!o->destroy && (rc = kumo__cfn_events_check(&early, err)) < 0)
        goto out;
    if (o->destroy) {
        rc = o->dry_run ? destroy_dry_run(&d, err) : destroy(&d, err);
        goto out;
    }
    /* Credentials and the account before the build: fail early. */
    if (!o->dry_run) {
        if ((rc = connect_api(&d, err)) < 0)
            goto out;
        d.moto = o->endpoint_url && kumo__aws_api_is_moto(d.api);
    }
    if ((rc = prepare(&d, err)) < 0)
        goto out;
    rc = o->dry_run ? dry_run(&d) : apply(&d, err);
out:
    if (d.keys)
        for (size_t i = 0; d.p && i < d.p->nunits; i++)
            free(d.keys[i]);
    free(d.keys);
    if (d.text)
        free(d.text);
    kumo__cfn_template_free(&d.tpl);
    kumo__aws_api_free(d.api);
    kumo__artifacts_free(&d.arts);
    if (d.spec)
        kumo__spec_free(d.spec);
    if (d.p)
        kumo__project_free(d.p);
    return rc;
}
