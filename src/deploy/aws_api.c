/*
 * aws_api.c: S3, STS and CloudFormation calls for `kumo deploy --target
 * aws` (see aws_api.h), each one signed exchange over a client (a libcurl
 * easy handle) per service kept for the whole deploy.
 *
 * Every call is one kumo__aws_exchange (src/sdk/stores/aws.c), the same
 * signed exchange the store drivers use, through one client per service
 * (s3, sts, cloudformation), with a deploy's limits instead of a data
 * path's: a minute per call, UPLOAD_TIMEOUT_MS for a zip of tens of MiB,
 * BODY_MAX of answer. The drivers' pure helpers serve here too:
 * percent-encoding (kumo__aws_uri_encode), XML text (kumo__aws_xml_text)
 * and region checks.
 *
 * Signing is libcurl's, in the exchange; for S3, libcurl adds
 * x-amz-content-sha256 over the body. The Query API (STS, CloudFormation) is a form POST to "/" with
 * Action and Version; answers are XML, from which the few elements used are
 * cut by tag: members of a list are the text between <member> and
 * </member>, which holds for the lists read here (none nests another list
 * inside a member, except DescribeStacks, whose <Outputs> is cut out
 * first).
 *
 * Messages: "cloudformation CreateStack: ValidationError: ..." with the key
 * id and secret blanked should a service echo them; request bodies (which
 * carry NoEcho parameter values) are never copied into one.
 */
#include "deploy/aws_api.h"

#include <kumo.h>

#include "sdk/stores/aws.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/growbuf.h"

#define CONNECT_TIMEOUT_MS 5000L
#define CALL_TIMEOUT_MS 60000L
#define UPLOAD_TIMEOUT_MS 900000L
#define BODY_MAX ((size_t)16 << 20)
#define UPLOAD_MAX ((size_t)250 << 20) /* Lambda's unzipped limit; a zip is smaller */
#define CFN_VERSION "2010-05-15"
#define STS_VERSION "2011-06-15"

struct kumo__aws_api {
    kumo__aws *s3, *sts, *cfn; /* one signing client per service */
    char msg[1024];            /* their messages */
    char *region;
    char *endpoint; /* no trailing '/', or NULL */
    char *key, *secret, *token;
    char code[96];
};

void kumo__aws_api_free(kumo__aws_api *a)
{
    if (a == NULL)
        return;
    kumo__aws_free(a->s3);
    kumo__aws_free(a->sts);
    kumo__aws_free(a->cfn);
    free(a->region);
    free(a->endpoint);
    kumo__cloud_free_secret(a->key);
    kumo__cloud_free_secret(a->secret);
    kumo__cloud_free_secret(a->token);
    free(a);
}

int kumo__aws_api_new(const char *region, const char *endpoint, kumo__aws_api **out, kumo__error *err)
{
    const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    *out = NULL;
    if (key == NULL || *key == '\0' || secret == NULL || *secret == '\0') {
        kumo__error_set(err, -EINVAL,
                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (kumo reads no profile files); "
                        "export them, or use --dry-run to write the template only");
        return err->code;
    }
    if (strchr(key, ':') != NULL) {
        kumo__error_set(err, -EINVAL, "AWS_ACCESS_KEY_ID has a ':' in it; check the variable");
        return err->code;
    }
    if (endpoint && strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
        kumo__error_set(err, -EINVAL, "--endpoint-url '%s' must start with http:// or https://", endpoint);
        return err->code;
    }
    kumo__aws_api *a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto nomem;
    a->region = strdup(region);
    a->key = strdup(key);
    a->secret = strdup(secret);
    a->token = token && *token ? strdup(token) : NULL;
    a->endpoint = endpoint ? strdup(endpoint) : NULL;
    if (!a->region || !a->key || !a->secret || (token && *token && !a->token) || (endpoint && !a->endpoint))
        goto nomem;
    if (a->endpoint) {
        size_t n = strlen(a->endpoint);
        while (n > 0 && a->endpoint[n - 1] == '/')
            a->endpoint[--n] = '\0';
    }
    kumo__aws_url u = {.resource = "deploy", .path = "", .region = a->region, .endpoint = a->endpoint};
    kumo__aws **clients[] = {&a->s3, &a->sts, &a->cfn};
    const char *services[] = {"s3", "sts", "cloudformation"};
    for (size_t i = 0; i < 3; i++) {
        if (kumo__aws_new(services[i], &u, a->msg, sizeof(a->msg), clients[i], err) != 0) {
            kumo__aws_api_free(a);
            err->code = -EINVAL;
            return err->code;
        }
    }
    *out = a;
    return 0;
nomem:
    kumo__aws_api_free(a);
    kumo__error_set(err, -ENOMEM, "out of memory");
    return -ENOMEM;
}

const char *kumo__aws_api_code(const kumo__aws_api *a)
{
    return a->code;
}

const char *kumo__aws_api_region(const kumo__aws_api *a)
{
    return a->region;
}

/* Blanks the key id and secret wherever they occur in msg. */
static void scrub(const kumo__aws_api *a, char *msg)
{
    const char *secrets[] = {a->key, a->secret, a->token};
    for (size_t i = 0; i < 3; i++) {
        size_t n = secrets[i] ? strlen(secrets[i]) : 0;
        char *hit;
        if (n < 4)
            continue;
        while ((hit = strstr(msg, secrets[i])) != NULL)
            memset(hit, '*', n);
    }
}

static int set_err(kumo__aws_api *a, kumo__error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_err(kumo__aws_api *a, kumo__error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    scrub(a, err->msg);
    err->code = code;
    return code;
}

/* The text of the first <tag>...</tag> as it is (entities not decoded),
 * malloc'd; NULL when absent. */
static char *xml_raw(const char *from, const char *tag, const char **end)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *s = strstr(from, open);
    if (s == NULL)
        return NULL;
    s += strlen(open);
    const char *e = strstr(s, close);
    if (e == NULL)
        return NULL;
    if (end)
        *end = e + strlen(close);
    return strndup(s, (size_t)(e - s));
}

typedef kumo__cloud_res answer;

static void answer_free(answer *r)
{
    kumo__cloud_res_free(r);
}

static kumo__aws *client_for(const kumo__aws_api *a, const char *service)
{
    return strcmp(service, "s3") == 0 ? a->s3 : strcmp(service, "sts") == 0 ? a->sts : a->cfn;
}

/* One signed exchange (kumo__aws_exchange, with a deploy's limits). 0 for
 * a 2xx answer; else a negative errno-style code with the message
 * ("SERVICE ACTION: Code: message") in err and a->code set; the answer is
 * filled whenever the service answered. */
static int exchange(kumo__aws_api *a, const char *service, const char *action, const char *method, const char *url,
                    const char *const *headers, const void *body, size_t len, long timeout_ms, answer *r,
                    kumo__error *err)
{
    kumo__aws *c = client_for(a, service);
    kumo__aws_limits limits = {CONNECT_TIMEOUT_MS, timeout_ms, BODY_MAX};
    *a->msg = '\0';
    int krc = kumo__aws_exchange(c, method, url, headers, body, len, &limits, r);
    snprintf(a->code, sizeof(a->code), "%s", kumo__aws_code(c));
    if (krc == 0)
        return 0;
    /* The client's message is "SERVICE: ..." or "SERVICE at BASE: ...";
     * the action goes after the service. */
    size_t sl = strlen(service);
    const char *rest = strncmp(a->msg, service, sl) == 0 ? a->msg + sl : a->msg;
    int rc;
    if (strcmp(a->code, "curl") == 0 || r->status == 0)
        rc = krc == KUMO_ETIMEDOUT      ? -ETIMEDOUT
             : krc == KUMO_EUNAVAILABLE ? -ECONNREFUSED
             : krc == KUMO_ENOMEM       ? -ENOMEM
                                        : -EIO;
    else
        rc = r->status == 404 ? -ENOENT : r->status == 403 ? -EACCES : r->status >= 500 ? -EAGAIN : -EINVAL;
    return set_err(a, err, rc, "%s %s%s%s", service, action, *rest == ':' || *rest == ' ' ? "" : ": ", rest);
}

int kumo__aws_api_is_moto(kumo__aws_api *a)
{
    answer r;
    kumo__error e = {0};
    char *url = NULL;
    if (a->endpoint == NULL || asprintf(&url, "%s/moto-api/", a->endpoint) < 0)
        return 0;
    int rc = exchange(a, "s3", "moto-api", "GET", url, NULL, NULL, 0, CALL_TIMEOUT_MS, &r, &e);
    int moto = rc == 0 && r.status == 200;
    free(url);
    answer_free(&r);
    *a->code = '\0';
    return moto;
}

/* ---- the Query API --------------------------------------------------- */

typedef struct form {
    kumo__growbuf b;
    int oom;
} form;

static void form_add(form *f, const char *name, const char *value)
{
    size_t vlen = strlen(value);
    size_t need = vlen * 3 + 1;
    char *enc = malloc(need);
    if (enc == NULL) {
        f->oom = 1;
        return;
    }
    enc[0] = '\0';
    if (vlen > 0 && kumo__aws_uri_encode(value, vlen, 0, enc, need) == 0) {
        free(enc);
        f->oom = 1;
        return;
    }
    if ((f->b.len && kumo__growbuf_add(&f->b, "&", 1) < 0) || kumo__growbuf_add(&f->b, name, strlen(name)) < 0 ||
        kumo__growbuf_add(&f->b, "=", 1) < 0 || kumo__growbuf_add(&f->b, enc, strlen(enc)) < 0)
        f->oom = 1;
    free(enc);
}

static void form_free(form *f)
{
    if (f->b.data) {
        /* it may hold NoEcho parameter values */
        memset(f->b.data, 0, f->b.len);
        free(f->b.data);
    }
    memset(f, 0, sizeof(*f));
}

static char *service_url(const kumo__aws_api *a, const char *service)
{
    char *u;
    if (a->endpoint)
        return asprintf(&u, "%s/", a->endpoint) < 0 ? NULL : u;
    return asprintf(&u, "https://%s.%s.amazonaws.com/", service, a->region) < 0 ? NULL : u;
}

/* POSTs the form (which must hold Action) to SERVICE; *xml is the answer
 * (malloc'd) on 0. Frees nothing of f. */
static int query(kumo__aws_api *a, const char *service, const char *action, form *f, char **xml, kumo__error *err)
{
    static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    answer r;
    *xml = NULL;
    if (f->oom)
        return set_err(a, err, -ENOMEM, "out of memory");
    char *url = service_url(a, service);
    if (url == NULL)
        return set_err(a, err, -ENOMEM, "out of memory");
    int rc = exchange(a, service, action, "POST", url, headers, f->b.data ? f->b.data : "", f->b.len, CALL_TIMEOUT_MS,
                      &r, err);
    free(url);
    if (rc == 0) {
        *xml = r.body ? r.body : strdup("");
        r.body = NULL;
        if (*xml == NULL)
            rc = set_err(a, err, -ENOMEM, "out of memory");
    }
    answer_free(&r);
    return rc;
}

int kumo__sts_account(kumo__aws_api *a, char **account, kumo__error *err)
{
    form f = {.b.max = BODY_MAX};
    char *xml = NULL;
    *account = NULL;
    form_add(&f, "Action", "GetCallerIdentity");
    form_add(&f, "Version", STS_VERSION);
    int rc = query(a, "sts", "GetCallerIdentity", &f, &xml, err);
    form_free(&f);
    if (rc == 0) {
        *account = kumo__aws_xml_text(xml, "Account", NULL);
        if (*account == NULL)
            rc = set_err(a, err, -EIO, "sts GetCallerIdentity: the answer has no Account");
    }
    free(xml);
    return rc;
}

/* ---- S3 ---------------------------------------------------------------- */

/* The URL of bucket/key (key may be NULL: the bucket; query may be NULL). */
static char *s3_url(const kumo__aws_api *a, const char *bucket, const char *key, const char *query)
{
    char *enc = NULL, *u = NULL;
    if (key) {
        size_t n = strlen(key) * 3 + 1;
        if ((enc = malloc(n)) == NULL || kumo__aws_uri_encode(key, strlen(key), 1, enc, n) == 0) {
            free(enc);
            return NULL;
        }
    }
    int r;
    if (a->endpoint)
        r = asprintf(&u, "%s/%s/%s%s%s", a->endpoint, bucket, enc ? enc : "", query ? "?" : "", query ? query : "");
    else
        r = asprintf(&u, "https://%s.s3.%s.amazonaws.com/%s%s%s", bucket, a->region, enc ? enc : "", query ? "?" : "",
                     query ? query : "");
    free(enc);
    return r < 0 ? NULL : u;
}

char *kumo__s3_object_https_url(const kumo__aws_api *a, const char *bucket, const char *key)
{
    char *u = NULL;
    size_t n = strlen(key) * 3 + 1;
    char *enc = malloc(n);
    if (enc == NULL || kumo__aws_uri_encode(key, strlen(key), 1, enc, n) == 0) {
        free(enc);
        return NULL;
    }
    /* CloudFormation fetches it itself; moto reads the bucket from the host. */
    if (asprintf(&u, "https://%s.s3.%s.amazonaws.com/%s", bucket, a->region, enc) < 0)
        u = NULL;
    free(enc);
    return u;
}

int kumo__s3_bucket_create(kumo__aws_api *a, const char *bucket, kumo__error *err)
{
    char body[256];
    answer r;
    char *url = s3_url(a, bucket, NULL, NULL);
    if (url == NULL)
        return set_err(a, err, -ENOMEM, "out of memory");
    /* us-east-1 is the one region that takes no LocationConstraint. */
    int plain = strcmp(a->region, "us-east-1") == 0;
    snprintf(body, sizeof(body),
             "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
             "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
             a->region);
    const char *headers[] = {"Content-Type: application/xml", NULL};
    int rc = exchange(a, "s3", "CreateBucket", "PUT", url, headers, plain ? "" : body, plain ? 0 : strlen(body),
                      CALL_TIMEOUT_MS, &r, err);
    free(url);
    answer_free(&r);
    if (rc != 0 && strcmp(a->code, "BucketAlreadyOwnedByYou") == 0) {
        err->code = 0;
        err->msg[0] = '\0';
        rc = 0;
    } else if (rc != 0 && strcmp(a->code, "BucketAlreadyExists") == 0) {
        kumo__error_wrap(err, "the bucket name '%s' belongs to another account; pick another --stack name", bucket);
    }
    return rc;
}

int kumo__s3_object_exists(kumo__aws_api *a, const char *bucket, const char *key, int *exists, kumo__error *err)
{
    answer r;
    char *url = s3_url(a, bucket, key, NULL);
    *exists = 0;
    if (url == NULL)
        return set_err(a, err, -ENOMEM, "out of memory");
    int rc = exchange(a, "s3", "HeadObject", "HEAD", url, NULL, NULL, 0, CALL_TIMEOUT_MS, &r, err);
    free(url);
    answer_free(&r);
    if (rc == 0)
        *exists = 1;
    else if (rc == -ENOENT) {
        err->code = 0;
        err->msg[0] = '\0';
        rc = 0;
    }
    return rc;
}

int kumo__s3_object_put(kumo__aws_api *a, const char *bucket, const char *key, const void *data, size_t len,
                        const char *content_type, kumo__error *err)
{
    char ct[128];
    answer r;
    char *url = s3_url(a, bucket, key, NULL);
    if (url == NULL)
        return set_err(a, err, -ENOMEM, "out of memory");
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    const char *headers[] = {ct, NULL};
    int rc = exchange(a, "s3", "PutObject", "PUT", url, headers, data, len, UPLOAD_TIMEOUT_MS, &r, err);
    free(url);
    answer_free(&r);
    return rc;
}

int kumo__s3_object_put_file(kumo__aws_api *a, const char *bucket, const char *key, const char *path,
                             const char *content_type, kumo__error *err)
{
    int rc = 0;
    char *data = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        rc = set_err(a, err, -errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    if ((size_t)st.st_size > UPLOAD_MAX) {
        rc = set_err(a, err, -EFBIG, "%s: %lld bytes, more than Lambda takes", path, (long long)st.st_size);
        goto out;
    }
    if ((data = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = set_err(a, err, -ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    if (fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        rc = set_err(a, err, -EIO, "%s: short read", path);
        goto out;
    }
    rc = kumo__s3_object_put(a, bucket, key, data, (size_t)st.st_size, content_type, err);
out:
    if (f)
        fclose(f);
    free(data);
    return rc;
}

int kumo__s3_bucket_empty(kumo__aws_api *a, const char *bucket, size_t *deleted, kumo__error *err)
{
    int rc = 0;
    *deleted = 0;
    for (;;) {
        answer r;
        char *url = s3_url(a, bucket, NULL, "list-type=2&max-keys=1000");
        if (url == NULL)
            return set_err(a, err, -ENOMEM, "out of memory");
        rc = exchange(a, "s3", "ListObjectsV2", "GET", url, NULL, NULL, 0, CALL_TIMEOUT_MS, &r, err);
        free(url);
        if (rc != 0) {
            if (strcmp(a->code, "NoSuchBucket") == 0)
                rc = -ENOENT;
            answer_free(&r);
            return rc;
        }
        const char *p = r.body ? r.body : "";
        size_t n = 0;
        char *contents;
        while (rc == 0 && (contents = xml_raw(p, "Contents", &p)) != NULL) {
            char *key = kumo__aws_xml_text(contents, "Key", NULL);
            free(contents);
            if (key == NULL) {
                rc = set_err(a, err, -ENOMEM, "out of memory");
                break;
            }
            answer d;
            char *du = s3_url(a, bucket, key, NULL);
            free(key);
            if (du == NULL) {
                rc = set_err(a, err, -ENOMEM, "out of memory");
                break;
            }
            rc = exchange(a, "s3", "DeleteObject", "DELETE", du, NULL, NULL, 0, CALL_TIMEOUT_MS, &d, err);
            free(du);
            answer_free(&d);
            n++;
        }
        answer_free(&r);
        *deleted += n;
        if (rc != 0 || n == 0)
            return rc;
        /* Deleted keys are gone: list again from the start until empty. */
    }
}

int kumo__s3_bucket_delete(kumo__aws_api *a, const char *bucket, kumo__error *err)
{
    answer r;
    char *url = s3_url(a, bucket, NULL, NULL);
    if (url == NULL)
        return set_err(a, err, -ENOMEM, "out of memory");
    int rc = exchange(a, "s3", "DeleteBucket", "DELETE", url, NULL, NULL, 0, CALL_TIMEOUT_MS, &r, err);
    free(url);
    answer_free(&r);
    if (rc != 0 && strcmp(a->code, "NoSuchBucket") == 0)
        rc = -ENOENT;
    return rc;
}

/* ---- CloudFormation ---------------------------------------------------- */

void kumo__cfn_strings_free(char **s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

void kumo__cfn_stack_free(kumo__cfn_stack *s)
{
    if (s == NULL)
        return;
    free(s->id);
    free(s->status);
    free(s->reason);
    kumo__cfn_strings_free(s->output_keys, s->noutputs);
    kumo__cfn_strings_free(s->output_values, s->noutputs);
    memset(s, 0, sizeof(*s));
}

const char *kumo__cfn_output(const kumo__cfn_stack *s, const char *key)
{
    for (size_t i = 0; i < s->noutputs; i++)
        if (strcmp(s->output_keys[i], key) == 0)
            return s->output_values[i];
    return NULL;
}

static int stack_missing(const kumo__aws_api *a, const kumo__error *err)
{
    return strcmp(a->code, "ValidationError") == 0 && strstr(err->msg, "does not exist") != NULL;
}

int kumo__cfn_describe(kumo__aws_api *a, const char *stack, kumo__cfn_stack *out, kumo__error *err)
{
    form f = {.b.max = BODY_MAX};
    char *xml = NULL, *outputs = NULL;
    memset(out, 0, sizeof(*out));
    form_add(&f, "Action", "DescribeStacks");
    form_add(&f, "Version", CFN_VERSION);
    form_add(&f, "StackName", stack);
    int rc = query(a, "cloudformation", "DescribeStacks", &f, &xml, err);
    form_free(&f);
    if (rc != 0) {
        if (stack_missing(a, err))
            rc = -ENOENT;
        goto out;
    }
    out->status = kumo__aws_xml_text(xml, "StackStatus", NULL);
    if (out->status == NULL) {
        rc = -ENOENT;
        set_err(a, err, rc, "cloudformation DescribeStacks: stack '%s' does not exist", stack);
        goto out;
    }
    out->id = kumo__aws_xml_text(xml, "StackId", NULL);
    out->reason = kumo__aws_xml_text(xml, "StackStatusReason", NULL);
    outputs = xml_raw(xml, "Outputs", NULL);
    const char *p = outputs;
    char *member;
    while (p && (member = xml_raw(p, "member", &p)) != NULL) {
        char *k = kumo__aws_xml_text(member, "OutputKey", NULL);
        char *v = kumo__aws_xml_text(member, "OutputValue", NULL);
        free(member);
        char **nk = realloc(out->output_keys, (out->noutputs + 1) * sizeof(char *));
        if (nk)
            out->output_keys = nk;
        char **nv = realloc(out->output_values, (out->noutputs + 1) * sizeof(char *));
        if (nv)
            out->output_values = nv;
        if (!k || !v || !nk || !nv) {
            free(k);
            free(v);
            rc = set_err(a, err, -ENOMEM, "out of memory");
            goto out;
        }
        out->output_keys[out->noutputs] = k;
        out->output_values[out->noutputs] = v;
        out->noutputs++;
    }
    if (out->id == NULL)
        rc = set_err(a, err, -ENOMEM, "out of memory");
out:
    free(xml);
    free(outputs);
    if (rc != 0)
        kumo__cfn_stack_free(out);
    return rc;
}

void kumo__cfn_events_free(kumo__cfn_event *ev, size_t n)
{
    for (size_t i = 0; ev && i < n; i++) {
        free(ev[i].id);
        free(ev[i].resource);
        free(ev[i].type);
        free(ev[i].status);
        free(ev[i].reason);
    }
    free(ev);
}

int kumo__cfn_events(kumo__aws_api *a, const char *stack, kumo__cfn_event **out, size_t *n, kumo__error *err)
{
    form f = {.b.max = BODY_MAX};
    char *xml = NULL;
    kumo__cfn_event *ev = NULL;
    size_t count = 0;
    *out = NULL;
    *n = 0;
    form_add(&f, "Action", "DescribeStackEvents");
    form_add(&f, "Version", CFN_VERSION);
    form_add(&f, "StackName", stack);
    int rc = query(a, "cloudformation", "DescribeStackEvents", &f, &xml, err);
    form_free(&f);
    if (rc != 0)
        goto out;
    const char *p = xml;
    char *member;
    while ((member = xml_raw(p, "member", &p)) != NULL) {
        kumo__cfn_event *ne = realloc(ev, (count + 1) * sizeof(*ev));
        if (ne == NULL) {
            free(member);
            rc = set_err(a, err, -ENOMEM, "out of memory");
            goto out;
        }
        ev = ne;
        kumo__cfn_event *e = &ev[count++];
        e->id = kumo__aws_xml_text(member, "EventId", NULL);
        e->resource = kumo__aws_xml_text(member, "LogicalResourceId", NULL);
        e->type = kumo__aws_xml_text(member, "ResourceType", NULL);
        e->status = kumo__aws_xml_text(member, "ResourceStatus", NULL);
        e->reason = kumo__aws_xml_text(member, "ResourceStatusReason", NULL);
        free(member);
        if (e->id == NULL || e->status == NULL) {
            rc = set_err(a, err, -EIO, "cloudformation DescribeStackEvents: an event without EventId or status");
            goto out;
        }
    }
out:
    free(xml);
    if (rc != 0) {
        kumo__cfn_events_free(ev, count);
        return rc;
    }
    *out = ev;
    *n = count;
    return 0;
}

int kumo__cfn_apply(kumo__aws_api *a, int update, const char *stack, const char *body, const char *url,
                    const kumo__cfn_param *params, size_t nparams, kumo__error *err)
{
    const char *action = update ? "UpdateStack" : "CreateStack";
    form f = {.b.max = BODY_MAX};
    char *xml = NULL, name[64];
    form_add(&f, "Action", action);
    form_add(&f, "Version", CFN_VERSION);
    form_add(&f, "StackName", stack);
    if (body)
        form_add(&f, "TemplateBody", body);
    else
        form_add(&f, "TemplateURL", url);
    form_add(&f, "Capabilities.member.1", "CAPABILITY_IAM");
    for (size_t i = 0; i < nparams; i++) {
        snprintf(name, sizeof(name), "Parameters.member.%zu.ParameterKey", i + 1);
        form_add(&f, name, params[i].key);
        if (params[i].value == NULL) {
            snprintf(name, sizeof(name), "Parameters.member.%zu.UsePreviousValue", i + 1);
            form_add(&f, name, "true");
            continue;
        }
        snprintf(name, sizeof(name), "Parameters.member.%zu.ParameterValue", i + 1);
        form_add(&f, name, params[i].value);
    }
    if (!update) {
        form_add(&f, "Tags.member.1.Key", "kumo:stack");
        form_add(&f, "Tags.member.1.Value", stack);
    }
    int rc = query(a, "cloudformation", action, &f, &xml, err);
    form_free(&f);
    free(xml);
    if (rc != 0 && update && strcmp(a->code, "ValidationError") == 0 &&
        strstr(err->msg, "No updates are to be performed") != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
        return 1;
    }
    return rc;
}

int kumo__cfn_get_template(kumo__aws_api *a, const char *stack, char **body, kumo__error *err)
{
    form f = {.b.max = BODY_MAX};
    char *xml = NULL;
    *body = NULL;
    form_add(&f, "Action", "GetTemplate");
    form_add(&f, "Version", CFN_VERSION);
    form_add(&f, "StackName", stack);
    int rc = query(a, "cloudformation", "GetTemplate", &f, &xml, err);
    form_free(&f);
    if (rc != 0) {
        if (stack_missing(a, err))
            rc = -ENOENT;
        free(xml);
        return rc;
    }
    *body = kumo__aws_xml_text(xml, "TemplateBody", NULL);
    free(xml);
    if (*body == NULL)
        return set_err(a, err, -EPROTO, "cloudformation GetTemplate: no TemplateBody in the answer");
    return 0;
}

int kumo__cfn_delete(kumo__aws_api *a, const char *stack, kumo__error *err)
{
    form f = {.b.max = BODY_MAX};
    char *xml = NULL;
    form_add(&f, "Action", "DeleteStack");
    form_add(&f, "Version", CFN_VERSION);
    form_add(&f, "StackName", stack);
    int rc = query(a, "cloudformation", "DeleteStack", &f, &xml, err);
    form_free(&f);
    free(xml);
    return rc;
}

int kumo__cfn_resources(kumo__aws_api *a, const char *stack, const char *type, char ***ids, size_t *n, kumo__error *err)
{
    form f = {.b.max = BODY_MAX};
    char *xml = NULL, **list = NULL;
    size_t count = 0;
    *ids = NULL;
    *n = 0;
    form_add(&f, "Action", "DescribeStackResources");
    form_add(&f, "Version", CFN_VERSION);
    form_add(&f, "StackName", stack);
    int rc = query(a, "cloudformation", "DescribeStackResources", &f, &xml, err);
    form_free(&f);
    if (rc != 0) {
        if (stack_missing(a, err))
            rc = -ENOENT;
        goto out;
    }
    const char *p = xml;
    char *member;
    while ((member = xml_raw(p, "member", &p)) != NULL) {
        char *t = kumo__aws_xml_text(member, "ResourceType", NULL);
        char *id = t && strcmp(t, type) == 0 ? kumo__aws_xml_text(member, "PhysicalResourceId", NULL) : NULL;
        free(t);
        free(member);
        if (id == NULL)
            continue;
        char **nl = realloc(list, (count + 1) * sizeof(char *));
        if (nl == NULL) {
            free(id);
            rc = set_err(a, err, -ENOMEM, "out of memory");
            goto out;
        }
        list = nl;
        list[count++] = id;
    }
out:
    free(xml);
    if (rc != 0) {
        kumo__cfn_strings_free(list, count);
        return rc;
    }
    *ids = list;
    *n = count;
    return 0;
}
