/*
 * test_policy.c: the OpenAPI security semantics as kumo enforces them
 * (openapi/security.c, auth/policy.c, apikey.c, basic.c), driven by the
 * case files in auth/cases/: each holds a document, kumo.yaml's
 * `security:` section, and either the refusal building must give (`error`:
 * substrings of the message) or requests with what each must get (status
 * 200 for a pass, with the scheme and subject the handler would see; 401
 * or 403 with substrings of WWW-Authenticate).
 *
 * The credentials file users.htpasswd is made here, with libcrypt: alice
 * (yescrypt, "wonderland"), bob (bcrypt, "builder"), carol (sha512crypt,
 * "carol-pw"); weak.htpasswd holds an MD5-crypt hash, des.htpasswd a DES
 * one. The keys come from the environment: KUMO_TEST_KEY_A=alpha,
 * KUMO_TEST_KEY_B=bravo.
 */
#include "auth/policy.h"

#include "check.h"

#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth/basic.h"
#include "base/clock.h"

#include <openssl/core_names.h>

#define CASES "auth/cases"
#define HS_SECRET "a-shared-secret-of-32-bytes-or-more!"

static char tmp[] = "/tmp/kumo-auth-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void user_line(FILE *f, const char *user, const char *prefix, unsigned long cost, const char *pw)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    CHECK(crypt_gensalt_rn(prefix, cost, NULL, 0, salt, sizeof(salt)) != NULL);
    const char *h = crypt_r(pw, salt, &cd);
    CHECK(h != NULL && h[0] == '$');
    fprintf(f, "%s:%s\n", user, h ? h : "*");
}

static void make_files(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/users.htpasswd", tmp);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fprintf(f, "# made by test_policy.c\n\n");
    user_line(f, "alice", "$y$", 0, "wonderland");
    user_line(f, "bob", "$2b$", 4, "builder");
    user_line(f, "carol", "$6$", 1000, "carol-pw");
    fclose(f);
    write_file("weak.htpasswd", "dave:$1$saltsalt$2vjTSjw4hNBU6P1JJ6fPB/\n");
    write_file("des.htpasswd", "erin:abJnggxhB/yWI\n");
    setenv("KUMO_TEST_KEY_A", "alpha", 1);
    setenv("KUMO_TEST_KEY_B", "bravo", 1);
    setenv("KUMO_TEST_HS", HS_SECRET, 1);
    unsetenv("KUMO_TEST_KEY_UNSET");
}

/* base64url without padding of n bytes into out (room for 4n/3+4). */
static void b64url(const unsigned char *in, size_t n, char *out)
{
    int w = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (w > 0 && out[w - 1] == '=')
        w--;
    out[w] = '\0';
    for (char *c = out; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
}

/* An HS256 token of `claims` (exp_in: seconds from now, made exp; _secret:
 * another key) signed with HS_SECRET, into out. */
static void sign_hs256(const json_t *spec, char *out, size_t cap)
{
    json_t *claims = json_deep_copy(spec);
    const char *secret = json_string_value(json_object_get(claims, "_secret"));
    char key[128];
    snprintf(key, sizeof(key), "%s", secret ? secret : HS_SECRET);
    json_t *exp_in = json_object_get(claims, "exp_in");
    if (exp_in)
        json_object_set_new(claims, "exp",
                            json_integer((json_int_t)(kumo__epoch_ms() / 1000) + json_integer_value(exp_in)));
    json_object_del(claims, "exp_in");
    json_object_del(claims, "_secret");
    char *payload = json_dumps(claims, JSON_COMPACT);
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char h64[128], p64[2048];
    b64url((const unsigned char *)header, strlen(header), h64);
    b64url((const unsigned char *)payload, strlen(payload), p64);
    char signing[2300];
    snprintf(signing, sizeof(signing), "%s.%s", h64, p64);
    unsigned char mac[64];
    size_t maclen = 0;
    CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key), (const unsigned char *)signing,
                    strlen(signing), mac, sizeof(mac), &maclen) != NULL);
    char s64[128];
    b64url(mac, maclen, s64);
    snprintf(out, cap, "%s.%s", signing, s64);
    free(payload);
    json_decref(claims);
}

static size_t op_index(const kumo__spec *spec, const char *id)
{
    for (size_t i = 0; i < spec->nops; i++)
        if (spec->ops[i].operation_id && strcmp(spec->ops[i].operation_id, id) == 0)
            return i;
    fprintf(stderr, "no operation '%s'\n", id);
    return (size_t)-1;
}

static void run_request(const char *file, kumo__auth *a, const kumo__spec *spec, json_t *rq)
{
    const char *name = json_string_value(json_object_get(rq, "name"));
    size_t op = op_index(spec, json_string_value(json_object_get(rq, "op")));
    CHECK(op != (size_t)-1);
    if (op == (size_t)-1)
        return;
    kumo__header_view h[16];
    size_t nh = 0;
    char basic[600];
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(rq, "headers"), k, v)
    {
        if (nh < 16)
            h[nh++] = (kumo__header_view){{k, strlen(k)}, {json_string_value(v), json_string_length(v)}};
    }
    json_t *b = json_object_get(rq, "basic");
    if (b && nh < 16) {
        char up[256];
        snprintf(up, sizeof(up), "%s:%s", json_string_value(json_array_get(b, 0)),
                 json_string_value(json_array_get(b, 1)));
        int n = snprintf(basic, sizeof(basic), "Basic ");
        EVP_EncodeBlock((unsigned char *)basic + n, (const unsigned char *)up, (int)strlen(up));
        h[nh++] = (kumo__header_view){{"authorization", 13}, {basic, strlen(basic)}};
    }
    char bearer[3000];
    json_t *tok = json_object_get(rq, "bearer");
    const char *raw = json_string_value(json_object_get(rq, "bearer_raw"));
    if ((tok || raw) && nh < 16) {
        int n = snprintf(bearer, sizeof(bearer), "Bearer ");
        if (tok)
            sign_hs256(tok, bearer + n, sizeof(bearer) - (size_t)n);
        else
            snprintf(bearer + n, sizeof(bearer) - (size_t)n, "%s", raw);
        h[nh++] = (kumo__header_view){{"authorization", 13}, {bearer, strlen(bearer)}};
    }
    const char *q = json_string_value(json_object_get(rq, "query"));
    kumo__auth_request r = {.headers = h,
                            .nheaders = nh,
                            .query = {q, q ? strlen(q) : 0},
                            .tls_client_subject = json_string_value(json_object_get(rq, "tls_client_subject"))};
    kumo__auth_result res;
    kumo__auth_check(a, op, &r, &res);
    int want = (int)json_integer_value(json_object_get(rq, "status"));
    int got = res.status ? res.status : 200;
    if (got != want)
        fprintf(stderr, "%s: request '%s': status %d, expected %d (%s)\n", file, name, got, want, res.detail);
    CHECK_INT(got, want);
    const char *scheme = json_string_value(json_object_get(rq, "scheme"));
    const char *subject = json_string_value(json_object_get(rq, "subject"));
    if (want == 200) {
        if (!(scheme ? res.scheme && strcmp(res.scheme, scheme) == 0 : res.scheme == NULL))
            fprintf(stderr, "%s: request '%s': scheme %s, expected %s\n", file, name, res.scheme ? res.scheme : "NULL",
                    scheme ? scheme : "NULL");
        CHECK(scheme ? res.scheme && strcmp(res.scheme, scheme) == 0 : res.scheme == NULL);
        if (subject)
            CHECK_STR(res.subject, subject);
        if (json_is_true(json_object_get(rq, "claims")))
            CHECK(json_is_object(res.claims) && json_object_get(res.claims, "sub"));
        else
            CHECK(res.claims == NULL || tok != NULL);
        CHECK_STR(res.challenge, "");
    }
    size_t i;
    json_array_foreach(json_object_get(rq, "challenge"), i, v)
    {
        int has = strstr(res.challenge, json_string_value(v)) != NULL;
        if (!has)
            fprintf(stderr, "%s: request '%s': WWW-Authenticate '%s' lacks '%s'\n", file, name, res.challenge,
                    json_string_value(v));
        CHECK(has);
    }
    if (want == 503)
        CHECK(res.retry_after != NULL);
    const char *detail = json_string_value(json_object_get(rq, "detail"));
    if (detail) {
        if (strstr(res.detail, detail) == NULL)
            fprintf(stderr, "%s: request '%s': detail '%s' lacks '%s'\n", file, name, res.detail, detail);
        CHECK(strstr(res.detail, detail) != NULL);
    }
    json_array_foreach(json_object_get(rq, "no_challenge"), i, v)
        CHECK(strstr(res.challenge, json_string_value(v)) == NULL);
    /* a detail never quotes what was presented */
    json_object_foreach(json_object_get(rq, "headers"), k, v)
        CHECK(json_string_length(v) == 0 || strstr(res.detail, json_string_value(v)) == NULL);
    kumo__auth_result_free(&res);
}

static void run_case(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), CASES "/%s", file);
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__doc_load(path, &doc, &err), 0);
    if (doc == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    json_t *root = kumo__doc_root(doc);
    char spec_path[512];
    snprintf(spec_path, sizeof(spec_path), "%s/openapi.json", tmp);
    CHECK_INT(json_dump_file(json_object_get(root, "document"), spec_path, JSON_INDENT(2)), 0);
    kumo__spec *spec = NULL;
    kumo__auth *a = NULL;
    int rc = kumo__spec_load(spec_path, &spec, &err);
    if (rc == 0)
        rc = kumo__auth_build_from(spec, doc, json_object_get(root, "security"), json_object_get(root, "environment"),
                                   tmp, "test", json_string_value(json_object_get(root, "client_ca")), NULL, NULL, NULL,
                                   &a, &err);
    json_t *want_error = json_object_get(root, "error");
    if (want_error) {
        if (rc == 0)
            fprintf(stderr, "%s: built, but a refusal was expected\n", file);
        CHECK(rc != 0);
        size_t i;
        json_t *v;
        json_array_foreach(want_error, i, v)
        {
            int has = strstr(err.msg, json_string_value(v)) != NULL;
            if (!has)
                fprintf(stderr, "%s: the refusal '%s' lacks '%s'\n", file, err.msg, json_string_value(v));
            CHECK(has);
        }
    } else {
        if (rc != 0)
            fprintf(stderr, "%s: %s\n", file, err.msg);
        CHECK_INT(rc, 0);
        size_t i;
        json_t *rq;
        json_array_foreach(json_object_get(root, "requests"), i, rq)
        {
            if (a)
                run_request(file, a, spec, rq);
        }
    }
    kumo__auth_free(a);
    kumo__spec_free(spec);
    kumo__doc_free(doc);
}

static int by_name(const struct dirent **x, const struct dirent **y)
{
    return strcmp((*x)->d_name, (*y)->d_name);
}

static int yaml_only(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

/* Authorization values that are not Basic, or are broken Basic. */
static void test_basic_parse(void)
{
    char buf[64];
    const char *u, *p;
    size_t ul, pl;
    CHECK_INT(kumo__basic_parse("Basic YWxpY2U6d29uZGVybGFuZA==", 30, buf, sizeof(buf), &u, &ul, &p, &pl), 1);
    CHECK_STR(u, "alice");
    CHECK_STR(p, "wonderland");
    CHECK_INT(kumo__basic_parse("bAsIc  YTpi", 11, buf, sizeof(buf), &u, &ul, &p, &pl), 1);
    CHECK_STR(u, "a");
    CHECK_INT(kumo__basic_parse("Bearer abc", 10, buf, sizeof(buf), &u, &ul, &p, &pl), 0);
    CHECK_INT(kumo__basic_parse("Basic YWJj", 10, buf, sizeof(buf), &u, &ul, &p, &pl), -1);     /* no colon */
    CHECK_INT(kumo__basic_parse("Basic YW*6Yg==", 14, buf, sizeof(buf), &u, &ul, &p, &pl), -1); /* not base64 */
    CHECK_INT(kumo__basic_parse("Basic YTpi=Yg", 13, buf, sizeof(buf), &u, &ul, &p, &pl), -1);  /* data after = */
    CHECK_INT(kumo__basic_parse("Basic YQA6Yg==", 14, buf, sizeof(buf), &u, &ul, &p, &pl), -1); /* NUL inside */
    char big[200];
    memset(big, 'Q', sizeof(big));
    memcpy(big, "Basic ", 6);
    CHECK_INT(kumo__basic_parse(big, sizeof(big), buf, sizeof(buf), &u, &ul, &p, &pl), -1); /* over the ceiling */
}

/* A reload's policy keeps a token scheme's key set when where its keys
 * come from did not change (a new set from a URL has no keys until its
 * first fetch: 503s meanwhile); a changed source gets a new set; either
 * policy may go first. */
static void keys_kept_across_reloads(void)
{
    static const char doc[] = "openapi: 3.0.3\n"
                              "info: {title: t, version: '1'}\n"
                              "components: {securitySchemes: {Jwt: {type: http, scheme: bearer}}}\n"
                              "paths: {/a: {get: {operationId: getA, security: [{Jwt: []}], responses: {'200': "
                              "{description: ok}}}}}\n";
    char spec_path[512];
    snprintf(spec_path, sizeof(spec_path), "%s/reload.yaml", tmp);
    write_file("reload.yaml", doc);
    kumo__spec *spec = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__spec_load(spec_path, &spec, &err), 0);
    const char *cfgs[] = {
        "Jwt: {issuer: i, audience: a, jwks_url: 'http://127.0.0.1:9/keys'}",
        "Jwt: {issuer: i, audience: [a, b], jwks_url: 'http://127.0.0.1:9/keys'}", /* same source */
        "Jwt: {issuer: i, audience: a, jwks_url: 'http://127.0.0.1:9/other'}",     /* another */
    };
    kumo__doc *d[3] = {NULL};
    kumo__auth *a[3] = {NULL};
    for (int i = 0; i < 3 && spec; i++) {
        CHECK_INT(kumo__doc_parse("kumo.yaml", cfgs[i], strlen(cfgs[i]), &d[i], &err), 0);
        CHECK_INT(kumo__auth_build_from(spec, d[i], kumo__doc_root(d[i]), NULL, tmp, "t", NULL, i ? a[i - 1] : NULL,
                                        NULL, NULL, &a[i], &err),
                  0);
    }
    CHECK(a[0] && a[1] && a[2]);
    if (a[0] && a[1] && a[2]) {
        CHECK(kumo__auth_keys(a[0], "Jwt") != NULL);
        CHECK(kumo__auth_keys(a[1], "Jwt") == kumo__auth_keys(a[0], "Jwt"));
        CHECK(kumo__auth_keys(a[2], "Jwt") != kumo__auth_keys(a[1], "Jwt"));
        kumo__auth_free(a[0]); /* the old one first: the kept set lives on in a[1] */
        a[0] = NULL;
        kumo__header_view h = {{"authorization", 13}, {"Bearer a.b.c", 12}};
        kumo__auth_request rq = {.headers = &h, .nheaders = 1};
        kumo__auth_result r;
        kumo__auth_check(a[1], 0, &rq, &r);
        CHECK(r.status == 401 || r.status == 503); /* a malformed token, judged with the kept set */
        kumo__auth_result_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        kumo__auth_free(a[i]);
        kumo__doc_free(d[i]);
    }
    kumo__spec_free(spec);
}

/* A token verified once is answered from the scheme's cache the next
 * times, with the same subject and claims; another token is verified; a
 * token valid only within the leeway is never kept; a scope check still
 * reads the cached claims. */
static void verified_tokens_cached(void)
{
    static const char doc[] = "openapi: 3.0.3\n"
                              "info: {title: t, version: '1'}\n"
                              "components: {securitySchemes: {Jwt: {type: oauth2, flows: {clientCredentials: "
                              "{tokenUrl: 'https://id.example/token', scopes: {read: r, write: w}}}}}}\n"
                              "paths: {/a: {get: {operationId: getA, security: [{Jwt: [read]}], responses: {'200': "
                              "{description: ok}}}}, /b: {get: {operationId: getB, security: [{Jwt: [write]}], "
                              "responses: {'200': {description: ok}}}}}\n";
    char spec_path[512];
    snprintf(spec_path, sizeof(spec_path), "%s/cache.yaml", tmp);
    write_file("cache.yaml", doc);
    kumo__spec *spec = NULL;
    kumo__doc *d = NULL;
    kumo__auth *a = NULL;
    kumo__error err = {0};
    static const char cfg[] = "Jwt: {issuer: i, audience: api, hs_secret: '${env:KUMO_TEST_HS}'}";
    CHECK_INT(kumo__spec_load(spec_path, &spec, &err), 0);
    CHECK_INT(kumo__doc_parse("kumo.yaml", cfg, strlen(cfg), &d, &err), 0);
    CHECK_INT(kumo__auth_build_from(spec, d, kumo__doc_root(d), NULL, tmp, "t", NULL, NULL, NULL, NULL, &a, &err), 0);
    if (a == NULL)
        goto out;
    char tok[3][3000], bearer[3][3100];
    const char *claims[3] = {"{\"iss\":\"i\",\"aud\":\"api\",\"sub\":\"alice\",\"scope\":\"read\",\"exp_in\":300}",
                             "{\"iss\":\"i\",\"aud\":\"api\",\"sub\":\"bob\",\"scope\":\"read\",\"exp_in\":300}",
                             "{\"iss\":\"i\",\"aud\":\"api\",\"sub\":\"late\",\"scope\":\"read\",\"exp_in\":-5}"};
    for (int i = 0; i < 3; i++) {
        json_t *c = json_loads(claims[i], 0, NULL);
        sign_hs256(c, tok[i], sizeof(tok[i]));
        json_decref(c);
        snprintf(bearer[i], sizeof(bearer[i]), "Bearer %s", tok[i]);
    }
    struct {
        int token;
        const char *op;
        int status;
        const char *subject;
        uint64_t hits;
    } steps[] = {
        {0, "getA", 200, "alice", 0},                              /* verified */
        {0, "getA", 200, "alice", 1},                              /* from the cache */
        {0, "getB", 403, NULL, 2},                                 /* from the cache: its claims lack write */
        {1, "getA", 200, "bob", 2},                                /* another token: verified */
        {1, "getA", 200, "bob", 3},   {2, "getA", 200, "late", 3}, /* within the leeway: verified, not kept */
        {2, "getA", 200, "late", 3},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const char *b = bearer[steps[i].token];
        kumo__header_view h = {{"authorization", 13}, {b, strlen(b)}};
        kumo__auth_request rq = {.headers = &h, .nheaders = 1};
        kumo__auth_result r;
        kumo__auth_check(a, op_index(spec, steps[i].op), &rq, &r);
        CHECK_INT(r.status ? r.status : 200, steps[i].status);
        if (steps[i].subject) {
            CHECK_STR(r.subject, steps[i].subject);
            CHECK(json_is_object(r.claims) && json_object_get(r.claims, "scope"));
        }
        CHECK_INT(kumo__auth_token_cache_hits(a, "Jwt"), steps[i].hits);
        kumo__auth_result_free(&r);
    }
out:
    kumo__auth_free(a);
    kumo__doc_free(d);
    kumo__spec_free(spec);
}

/* A Basic user and password is hashed once: a success is remembered, and
 * so is a refusal (a client retrying a stale password), each a while; a
 * new wrong password is hashed. */
static void basic_checks_remembered(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/users.htpasswd", tmp);
    kumo__htpasswd *h = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__htpasswd_load(path, &h, &err), 0);
    if (h == NULL)
        return;
    struct {
        const char *user, *pw;
        int ok;
        uint64_t hashes;
    } steps[] = {
        {"carol", "carol-pw", 1, 1}, {"carol", "carol-pw", 1, 1}, /* remembered */
        {"carol", "stale", 0, 2},    {"carol", "stale", 0, 2},    /* the refusal too */
        {"carol", "other", 0, 3},                                 /* a new password is hashed */
        {"nobody", "x", 0, 4},       {"nobody", "x", 0, 4},       /* an unknown user likewise */
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        CHECK_INT(kumo__htpasswd_check(h, steps[i].user, strlen(steps[i].user), steps[i].pw, strlen(steps[i].pw)),
                  steps[i].ok);
        CHECK_INT(kumo__htpasswd_hashes(h), steps[i].hashes);
    }
    kumo__htpasswd_free(h);
}

/* What an event loop does: a lookup that only a hash can answer gives a
 * job and hashes nothing; the job run elsewhere answers the next lookup
 * (even for a password the memory does not keep), and is remembered. */
static void basic_lookup_deferred(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/users.htpasswd", tmp);
    kumo__htpasswd *h = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__htpasswd_load(path, &h, &err), 0);
    if (h == NULL)
        return;
    kumo__slow_job *job = NULL, *again = NULL;
    CHECK_INT(kumo__htpasswd_lookup(h, "carol", 5, "carol-pw", 8, NULL, &job), -EWOULDBLOCK);
    CHECK(job != NULL);
    CHECK_INT(kumo__htpasswd_hashes(h), 0); /* not hashed by the lookup */
    if (job) {
        job->run(job);
        CHECK_INT(kumo__htpasswd_hashes(h), 1);
        CHECK_INT(kumo__htpasswd_lookup(h, "carol", 5, "carol-pw", 8, job, &again), 1);
        CHECK(again == NULL);
        /* a job about other credentials does not answer for these */
        CHECK_INT(kumo__htpasswd_lookup(h, "carol", 5, "wrong", 5, job, &again), -EWOULDBLOCK);
        kumo__slow_job_free(again);
        again = NULL;
    }
    kumo__slow_job_free(job);
    CHECK_INT(kumo__htpasswd_lookup(h, "carol", 5, "carol-pw", 8, NULL, &again), 1); /* remembered */
    CHECK(again == NULL);
    CHECK_INT(kumo__htpasswd_hashes(h), 1);
    kumo__htpasswd_free(h);
}

int main(void)
{
    CHECK(mkdtemp(tmp) != NULL);
    make_files();
    test_basic_parse();
    keys_kept_across_reloads();
    verified_tokens_cached();
    basic_checks_remembered();
    basic_lookup_deferred();
    struct dirent **names = NULL;
    int n = scandir(CASES, &names, yaml_only, by_name);
    CHECK(n >= 8);
    for (int i = 0; i < n; i++) {
        int before = check_failed;
        run_case(names[i]->d_name);
        printf("%s %s\n", check_failed == before ? "ok  " : "FAIL", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    CHECK_INT(system(cmd), 0);
    return check_report();
}
