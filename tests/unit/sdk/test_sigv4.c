/*
 * test_sigv4.c: the SigV4 signer (sdk/stores/sigv4.c), included so that its
 * steps can be compared one by one: the canonical request, the string to
 * sign, then the lines kumo__sigv4_sign hands back.
 *
 * Every expected value below was computed with botocore 1.43.11
 * (SigV4Auth / S3SigV4Auth: canonical_request, string_to_sign, signature
 * and _inject_signature_to_request, with request.context['timestamp'] =
 * '20150830T123600Z'), by a throwaway script, not by this code. The first
 * case is AWS's own test-suite case "get-vanilla". botocore names the S3
 * hash header X-Amz-Content-SHA256; ours is X-Amz-Content-Sha256, the same
 * header (names are case-insensitive).
 */
#include "sdk/stores/sigv4.c"

#include "check.h"

#define KEY "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define NOW ((time_t)1440938160) /* 2015-08-30T12:36:00Z */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static kumo__sigv4_req req(const char *method, const char *url, const char *service)
{
    kumo__sigv4_req r = {0};
    r.method = method;
    r.url = url;
    r.region = "us-east-1";
    r.service = service;
    r.key = KEY;
    r.secret = SECRET;
    r.now = NOW;
    return r;
}

/* Checks the canonical request and the string to sign, then the lines
 * (NULL-terminated `lines`, and nothing after them). */
static void check_signed(const char *name, const kumo__sigv4_req *r, const char *creq, const char *sts,
                         const char *const *lines)
{
    int failed = check_failed;
    char msg[256] = "";
    steps s;
    int rc = make_steps(r, &s, msg, sizeof(msg));
    CHECK_INT(rc, 0);
    if (rc == 0) {
        CHECK_STR(s.creq.data, creq);
        CHECK_STR(s.sts.data, sts);
        steps_free(&s);
    }
    kumo__sigv4_out out;
    rc = kumo__sigv4_sign(r, &out, msg, sizeof(msg));
    CHECK_INT(rc, 0);
    size_t i = 0;
    for (; lines[i]; i++)
        CHECK_STR(out.lines[i], lines[i]);
    CHECK(out.lines[i] == NULL);
    kumo__sigv4_out_free(&out);
    CHECK(out.lines[0] == NULL);
    if (check_failed != failed)
        fprintf(stderr, "  in case %s%s%s\n", name, *msg ? ": " : "", msg);
}

/* The canonical request only. */
static char *creq_of(const kumo__sigv4_req *r)
{
    steps s;
    char msg[256] = "";
    if (make_steps(r, &s, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "make_steps(%s): %s\n", r->url, msg);
        return NULL;
    }
    char *c = strdup(s.creq.data);
    steps_free(&s);
    return c;
}

/* kumo__sigv4_sign refuses r with KUMO_EINVAL, leaves every line NULL, and
 * says `why` without the key id or the secret. */
static void check_refused(const kumo__sigv4_req *r, const char *why)
{
    int failed = check_failed;
    kumo__sigv4_out out;
    for (size_t i = 0; i < 5; i++)
        out.lines[i] = (char *)"not touched";
    char msg[512] = "";
    CHECK_INT(kumo__sigv4_sign(r, &out, msg, sizeof(msg)), KUMO_EINVAL);
    for (size_t i = 0; i < 5; i++)
        CHECK(out.lines[i] == NULL);
    CHECK(strstr(msg, why) != NULL);
    CHECK(strstr(msg, SECRET) == NULL);
    CHECK(strstr(msg, KEY) == NULL);
    if (check_failed != failed)
        fprintf(stderr, "  refusing %s: wanted '%s' in '%s'\n", r->url ? r->url : "(null)", why, msg);
}

/* ---- cases computed with botocore ------------------------------------ */

#define VANILLA_AUTH                                                                                                   \
    "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "                 \
    "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

/* AWS's test-suite case get-vanilla */
static void test_get_vanilla(void)
{
    kumo__sigv4_req r = req("GET", "https://example.amazonaws.com/", "service");
    static const char *const lines[] = {VANILLA_AUTH, "X-Amz-Date: 20150830T123600Z", NULL};
    check_signed("get-vanilla", &r,
                 "GET\n"
                 "/\n"
                 "\n"
                 "host:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n"
                 "\n"
                 "host;x-amz-date\n" EMPTY_SHA256,
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-east-1/service/aws4_request\n"
                 "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
                 lines);

    /* the same request written otherwise signs the same: no path, the
     * default port, an empty query, an empty token */
    static const char *const same[] = {"https://example.amazonaws.com", "https://example.amazonaws.com:443/",
                                       "HTTPS://example.amazonaws.com/?", "https://example.amazonaws.com?&"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        r = req("GET", same[i], "service");
        r.token = "";
        check_signed(same[i], &r,
                     "GET\n"
                     "/\n"
                     "\n"
                     "host:example.amazonaws.com\n"
                     "x-amz-date:20150830T123600Z\n"
                     "\n"
                     "host;x-amz-date\n" EMPTY_SHA256,
                     "AWS4-HMAC-SHA256\n"
                     "20150830T123600Z\n"
                     "20150830/us-east-1/service/aws4_request\n"
                     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
                     lines);
    }
}

/* DynamoDB GetItem: a JSON body, Content-Type and X-Amz-Target signed, a
 * session token; Content-Length, User-Agent, Expect and a stale
 * Authorization given too, and left unsigned (botocore was given none of
 * them). */
static void test_dynamodb(void)
{
    static const char body[] = "{\"TableName\":\"todos\",\"Key\":{\"id\":{\"S\":\"1\"}}}";
    static const char *const headers[] = {"Content-Type: application/x-amz-json-1.0",
                                          "X-Amz-Target:  DynamoDB_20120810.GetItem",
                                          "Content-Length: 44",
                                          "User-Agent: kumo/0.1.0",
                                          "Expect:",
                                          "Authorization: AWS4-HMAC-SHA256 stale",
                                          NULL};
    kumo__sigv4_req r = req("POST", "https://dynamodb.us-east-1.amazonaws.com/", "dynamodb");
    r.headers = headers;
    r.body = body;
    r.len = strlen(body);
    r.token = "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLETOKEN+/=";
    static const char *const lines[] = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
        "Signature=04eeadde30a3e4bafbbc1195dd27a3c11abbc0ed855569ebc43486f4b8471ad5",
        "X-Amz-Date: 20150830T123600Z", "X-Amz-Security-Token: FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLETOKEN+/=", NULL};
    check_signed("dynamodb", &r,
                 "POST\n"
                 "/\n"
                 "\n"
                 "content-type:application/x-amz-json-1.0\n"
                 "host:dynamodb.us-east-1.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n"
                 "x-amz-security-token:FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLETOKEN+/=\n"
                 "x-amz-target:DynamoDB_20120810.GetItem\n"
                 "\n"
                 "content-type;host;x-amz-date;x-amz-security-token;x-amz-target\n"
                 "b19ffdbc13b19faa4838a6571596bf2851c3a469f96f28e3390dbfa572a5fb27",
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-east-1/dynamodb/aws4_request\n"
                 "2248acf7f712519e9da04f4f80087ce20a8156986fdcb03bcdd84cc615658806",
                 lines);
}

/* S3 PUT of a key with an encoded space and '+', the body not hashed
 * (UNSIGNED-PAYLOAD), to a local endpoint on a port of its own. */
static void test_s3_put_unsigned(void)
{
    static const char *const headers[] = {"Content-Type: text/plain", NULL};
    kumo__sigv4_req r = req("PUT", "http://127.0.0.1:5000/bucket/a%20b%2Bc", "s3");
    r.headers = headers;
    r.body = "not hashed";
    r.len = 10;
    r.payload_hash = "UNSIGNED-PAYLOAD";
    static const char *const lines[] = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
        "Signature=5428a8e12b17580a10d615b181eed9c2e975e43f07ced1d10be823563b23eb8f",
        "X-Amz-Date: 20150830T123600Z", "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD", NULL};
    check_signed("s3-put-unsigned", &r,
                 "PUT\n"
                 "/bucket/a%20b%2Bc\n"
                 "\n"
                 "content-type:text/plain\n"
                 "host:127.0.0.1:5000\n"
                 "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                 "x-amz-date:20150830T123600Z\n"
                 "\n"
                 "content-type;host;x-amz-content-sha256;x-amz-date\n"
                 "UNSIGNED-PAYLOAD",
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-east-1/s3/aws4_request\n"
                 "2ed37f5b107d46b8a11b90b04de841b1beb179cfeeed0afa796fc543840b9e1b",
                 lines);
}

/* S3 GET with a query, the scheme's default port written out (not
 * signed), another region, an empty body hashed. */
static void test_s3_get_default_port(void)
{
    kumo__sigv4_req r = req("GET", "https://s3.us-west-2.amazonaws.com:443/bucket/key?prefix=a/b&list-type=2", "s3");
    r.region = "us-west-2";
    static const char *const lines[] = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=ab01cfcbac09d28acba268fdb7cc054b0551c1afb43cda9e5f3257e7dc3775ed",
        "X-Amz-Date: 20150830T123600Z", "X-Amz-Content-Sha256: " EMPTY_SHA256, NULL};
    check_signed("s3-get-default-port", &r,
                 "GET\n"
                 "/bucket/key\n"
                 "list-type=2&prefix=a%2Fb\n"
                 "host:s3.us-west-2.amazonaws.com\n"
                 "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                 "x-amz-date:20150830T123600Z\n"
                 "\n"
                 "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-west-2/s3/aws4_request\n"
                 "c23cc5684fd6b8bf7258894453f2f72aad396a6cd4cdb28f710f722090918f2b",
                 lines);
}

/* S3 PUT with its body hashed (SHA-256 of "hello"). */
static void test_s3_put_hashed(void)
{
    kumo__sigv4_req r = req("PUT", "http://localhost:4566/bucket/k", "s3");
    r.body = "hello";
    r.len = 5;
#define HELLO_SHA256 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    static const char *const lines[] = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
        "Signature=9beaba9b2ed714ba5513e9ad6a4706ecdc360d3327a16aa499e91017a83402a4",
        "X-Amz-Date: 20150830T123600Z", "X-Amz-Content-Sha256: " HELLO_SHA256, NULL};
    check_signed("s3-put-hashed", &r,
                 "PUT\n"
                 "/bucket/k\n"
                 "\n"
                 "host:localhost:4566\n"
                 "x-amz-content-sha256:" HELLO_SHA256 "\n"
                 "x-amz-date:20150830T123600Z\n"
                 "\n"
                 "host;x-amz-content-sha256;x-amz-date\n" HELLO_SHA256,
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-east-1/s3/aws4_request\n"
                 "a4572192d0f7c74c3098500e44d6aff5ae6826fe7ac3d16111c6a0bf60d30e96",
                 lines);
}

/* An unsorted query: repeated names, a name without '=', lower-case and
 * needless escapes, raw ':', '=', '!', '*', '(' and ')' that must be
 * encoded, upper case
 * before lower. botocore was given the decoded pairs. */
static void test_query(void)
{
    kumo__sigv4_req r = req(
        "GET", "https://example.amazonaws.com/?b=2&a=x%2fy&a=1&c&t=%7e&s=a%20b&A=Z&d=p:q&e=k=v&f=a!b*(c)", "service");
    static const char *const lines[] = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=c462a0156fc0fe240bf5b5612fa962572ef033309c89956abbc90652b8da6233",
        "X-Amz-Date: 20150830T123600Z", NULL};
    check_signed("query", &r,
                 "GET\n"
                 "/\n"
                 "A=Z&a=1&a=x%2Fy&b=2&c=&d=p%3Aq&e=k%3Dv&f=a%21b%2A%28c%29&s=a%20b&t=~\n"
                 "host:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n"
                 "\n"
                 "host;x-amz-date\n" EMPTY_SHA256,
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-east-1/service/aws4_request\n"
                 "21536dd39da1bc39ae111e6bf879b4c0ba2bfa06d02edec908132d09d10b8ab7",
                 lines);
}

/* Not S3: the path's segments are encoded once more ("%20" → "%2520"). */
static void test_path_double_encoded(void)
{
    kumo__sigv4_req r = req("GET", "https://example.amazonaws.com/my%20dir/file%2Bname.txt", "execute-api");
    static const char *const lines[] = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=906707e137564d8f1ceb41d8b1ea31026c65919aaff940c4d1146f50ad27e5b6",
        "X-Amz-Date: 20150830T123600Z", NULL};
    check_signed("path-space", &r,
                 "GET\n"
                 "/my%2520dir/file%252Bname.txt\n"
                 "\n"
                 "host:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n"
                 "\n"
                 "host;x-amz-date\n" EMPTY_SHA256,
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-east-1/execute-api/aws4_request\n"
                 "0cd59046fdd2d70923105df318a0f6c9871399fb986c0193e244baf4d70ffc91",
                 lines);
}

/* Header values trimmed and their inner spaces and tabs collapsed, a name
 * repeated in two cases joined in order, names sorted, User-Agent and
 * Connection not signed. */
static void test_header_whitespace(void)
{
    static const char *const headers[] = {"My-Header1:    value1   with \t  spaces  ",
                                          "X-Dup: a",
                                          "x-dup:  b   c ",
                                          "Another:z",
                                          "User-Agent: kumo/0.1.0",
                                          "Connection: keep-alive",
                                          NULL};
    kumo__sigv4_req r = req("GET", "https://example.amazonaws.com/", "service");
    r.headers = headers;
    static const char *const lines[] = {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=another;host;my-header1;x-amz-date;x-dup, "
        "Signature=69c5d0fc97ad4bd4b319306db62e916d8bbb9617ee074e0da522b432dd023452",
        "X-Amz-Date: 20150830T123600Z", NULL};
    check_signed("header-whitespace", &r,
                 "GET\n"
                 "/\n"
                 "\n"
                 "another:z\n"
                 "host:example.amazonaws.com\n"
                 "my-header1:value1 with spaces\n"
                 "x-amz-date:20150830T123600Z\n"
                 "x-dup:a,b c\n"
                 "\n"
                 "another;host;my-header1;x-amz-date;x-dup\n" EMPTY_SHA256,
                 "AWS4-HMAC-SHA256\n"
                 "20150830T123600Z\n"
                 "20150830/us-east-1/service/aws4_request\n"
                 "e68d7f34daf67dc75bcc4f051d983aefc682805a5516f7044b13ca7ba9b93b5c",
                 lines);
}

/* ---- rules checked on the canonical request alone ---------------------- */

/* The host line: ":port" only when it is not the scheme's default. */
static void test_host(void)
{
    static const struct {
        const char *url, *line;
    } cases[] = {
        {"http://example.com:443/", "\nhost:example.com:443\n"},
        {"https://example.com:80/", "\nhost:example.com:80\n"},
        {"http://example.com:80/", "\nhost:example.com\n"},
        {"https://example.com:8443/", "\nhost:example.com:8443\n"},
        {"http://[::1]:8080/x", "\nhost:[::1]:8080\n"},
        {"https://[::1]:443/x", "\nhost:[::1]\n"},
        {"https://[::1]", "\nhost:[::1]\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo__sigv4_req r = req("GET", cases[i].url, "service");
        char *c = creq_of(&r);
        CHECK(c != NULL && strstr(c, cases[i].line) != NULL);
        if (c == NULL || strstr(c, cases[i].line) == NULL)
            fprintf(stderr, "  %s: wanted '%s' in:\n%s\n", cases[i].url, cases[i].line + 1, c ? c : "(null)");
        free(c);
    }
}

/* Empty query parts name nothing; a given payload_hash is signed as is
 * (without an S3 header outside S3); an X-Amz-Security-Token of the
 * caller's is signed when the signer adds none. */
static void test_misc(void)
{
    kumo__sigv4_req a = req("GET", "https://example.amazonaws.com/?a=1&&b=2&", "service");
    kumo__sigv4_req b = req("GET", "https://example.amazonaws.com/?b=2&a=1", "service");
    char *ca = creq_of(&a), *cb = creq_of(&b);
    CHECK(ca && cb && strcmp(ca, cb) == 0);
    CHECK(cb && strstr(cb, "\n/\na=1&b=2\n") != NULL);
    free(ca);
    free(cb);

    kumo__sigv4_req r = req("POST", "https://example.amazonaws.com/", "service");
    r.payload_hash = "UNSIGNED-PAYLOAD";
    r.body = "x";
    r.len = 1;
    char *c = creq_of(&r);
    size_t n = c ? strlen(c) : 0;
    CHECK(n > 17 && strcmp(c + n - 17, "\nUNSIGNED-PAYLOAD") == 0);
    free(c);
    kumo__sigv4_out out;
    CHECK_INT(kumo__sigv4_sign(&r, &out, NULL, 0), 0);
    CHECK(out.lines[0] && out.lines[1] && out.lines[2] == NULL);
    kumo__sigv4_out_free(&out);

    static const char *const tok[] = {"X-Amz-Security-Token: from-elsewhere", NULL};
    r = req("GET", "https://example.amazonaws.com/", "service");
    r.headers = tok;
    c = creq_of(&r);
    CHECK(c && strstr(c, "\nx-amz-security-token:from-elsewhere\n") != NULL);
    free(c);

    /* a body of NULL signs as empty, whatever len says */
    r = req("GET", "https://example.amazonaws.com/", "service");
    r.len = 7;
    c = creq_of(&r);
    n = c ? strlen(c) : 0;
    CHECK(n > 64 && strcmp(c + n - 64, EMPTY_SHA256) == 0);
    free(c);

    /* a repeated name keeps its values in order among many other names
     * (qsort need not be stable: glibc's is here, musl's is not) */
    char names[60][16];
    const char *many[61];
    char want[256] = "\nx-rep:";
    for (int i = 0; i < 30; i++) {
        snprintf(names[2 * i], sizeof(names[0]), "%s: %d", i % 2 ? "X-Rep" : "x-REP", i);
        snprintf(names[2 * i + 1], sizeof(names[0]), "A-%02d: v", 29 - i);
        many[2 * i] = names[2 * i];
        many[2 * i + 1] = names[2 * i + 1];
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%d", i ? "," : "", i);
    }
    many[60] = NULL;
    strcat(want, "\n\na-00;a-01;");
    r = req("GET", "https://example.amazonaws.com/", "service");
    r.headers = many;
    c = creq_of(&r);
    CHECK(c && strstr(c, want) != NULL);
    CHECK(c && strstr(c, "\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-rep:0,") != NULL);
    free(c);

    kumo__sigv4_out_free(NULL);
}

/* ---- refusals ---------------------------------------------------------- */

static void test_refused(void)
{
    static const char *const host[] = {"Host: example.amazonaws.com", NULL};
    static const char *const date[] = {"x-amz-date: 20150830T123600Z", NULL};
    static const char *const sha[] = {"X-Amz-Content-Sha256: UNSIGNED-PAYLOAD", NULL};
    static const char *const tok[] = {"X-Amz-Security-Token: t", NULL};
    static const char *const nocolon[] = {"Content-Type", NULL};
    static const char *const badname[] = {"Bad Name: x", NULL};
    static const char *const crlf[] = {"X-A: " SECRET "\r\nX-Evil: 1", NULL};

    kumo__sigv4_req r = req("GET", "https://example.amazonaws.com/", "service");
    r.headers = host;
    check_refused(&r, "header 'Host' is the signer's");
    r.headers = date;
    check_refused(&r, "header 'x-amz-date' is the signer's");
    r.headers = nocolon;
    check_refused(&r, "is not 'Name: value'");
    r.headers = badname;
    check_refused(&r, "is not 'Name: value'");
    r.headers = crlf;
    check_refused(&r, "control character");
    r.headers = tok;
    r.token = "session";
    check_refused(&r, "header 'X-Amz-Security-Token' is the signer's");

    r = req("PUT", "https://s3.amazonaws.com/b/k", "s3");
    r.headers = sha;
    check_refused(&r, "header 'X-Amz-Content-Sha256' is the signer's");

    /* bad percent-escapes, in the query and in the path */
    static const char *const escapes[] = {"https://example.amazonaws.com/?a=%G1", "https://example.amazonaws.com/?a=%2",
                                          "https://example.amazonaws.com/?%zz=1",
                                          "https://example.amazonaws.com/a%zz/b", "http://127.0.0.1:5000/bucket/a%"};
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        r = req("GET", escapes[i], i == 4 ? "s3" : "service");
        check_refused(&r, "bad percent-escape");
    }

    static const struct {
        const char *url, *why;
    } urls[] = {
        {"ftp://example.com/", "expected http:// or https://"},
        {"example.com/", "expected http:// or https://"},
        {"https:///path", "names no host"},
        {"https://:8080/", "names no host"},
        {"https://h:0/", "port is not a number"},
        {"https://h:65536/", "port is not a number"},
        {"https://h:12a/", "port is not a number"},
        {"https://h:/", "port is not a number"},
        {"https://[::1]x/", "port is not a number"},
        {"https://[::1/", "an IPv6 host"},
        {"https://u:p@h/", "user info"},
        {"https://h/a b", "percent-encode it"},
        {"https://h/caf\xc3\xa9", "percent-encode it"},
        {"https://h/#frag", "fragment"},
        {"https://h%41/", "the host holds"},
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        r = req("GET", urls[i].url, "service");
        check_refused(&r, urls[i].why);
    }

    r = req("GET", "https://example.amazonaws.com/", "service");
    r.key = NULL;
    check_refused(&r, "access key id");
    r = req("GET", "https://example.amazonaws.com/", "service");
    r.region = "us/east";
    check_refused(&r, "region");
    r = req("GET", "https://example.amazonaws.com/", "");
    check_refused(&r, "service");
    r = req("GET /x", "https://example.amazonaws.com/", "service");
    check_refused(&r, "method");
    r = req("GET", NULL, "service");
    check_refused(&r, "URL is missing");
    r = req("GET", "https://example.amazonaws.com/", "service");
    r.token = "a\nb";
    check_refused(&r, "session token");
    r = req("GET", "https://example.amazonaws.com/", "service");
    r.now = (time_t)253402300800LL; /* 10000-01-01 */
    check_refused(&r, "years 0 to 9999");

    kumo__sigv4_out out;
    CHECK_INT(kumo__sigv4_sign(NULL, &out, NULL, 0), KUMO_EINVAL);
}

int main(void)
{
    test_get_vanilla();
    test_dynamodb();
    test_s3_put_unsigned();
    test_s3_get_default_port();
    test_s3_put_hashed();
    test_query();
    test_path_double_encoded();
    test_header_whitespace();
    test_host();
    test_misc();
    test_refused();
    return check_report();
}
