/*
 * test_aws.c: the pieces of the AWS drivers that need no server (aws.c):
 * store URL parsing, base64, SigV4's URI encoding, the XML scanner, the
 * error code mapping, the secret scrubbing, and a transport failure's code
 * and message against a loopback port nobody listens on. libcurl does the
 * signing itself; the drivers are exercised against moto by the
 * conformance suite (tests/conformance/run.sh aws).
 */
#include "sdk/sdk.h"
#include "sdk/stores/aws.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static void test_url(void)
{
    kumo__aws_url u;
    kumo__error err = {0};

    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    CHECK_INT(kumo__aws_url_parse("dynamodb://todos", "dynamodb", &u, &err), 0);
    CHECK_STR(u.resource, "todos");
    CHECK_STR(u.path, "");
    CHECK_STR(u.region, "us-east-1");
    CHECK(u.endpoint == NULL);
    CHECK_INT(u.create, 1);
    CHECK_INT(u.max_receives, 5);
    kumo__aws_url_free(&u);

    CHECK_INT(kumo__aws_url_parse("s3://bucket/up/loads?region=eu-west-1&endpoint=http://127.0.0.1:5000/&create=false",
                                  "s3", &u, &err),
              0);
    CHECK_STR(u.resource, "bucket");
    CHECK_STR(u.path, "up/loads");
    CHECK_STR(u.region, "eu-west-1");
    CHECK_STR(u.endpoint, "http://127.0.0.1:5000"); /* trailing '/' dropped */
    CHECK_INT(u.create, 0);
    kumo__aws_url_free(&u);

    /* percent-decoded values; the region from the environment */
    setenv("AWS_REGION", "ap-south-1", 1);
    CHECK_INT(kumo__aws_url_parse("sqs://q?endpoint=http%3A%2F%2Flocalhost%3A1&max_receives=3", "sqs", &u, &err), 0);
    CHECK_STR(u.endpoint, "http://localhost:1");
    CHECK_STR(u.region, "ap-south-1");
    CHECK_INT(u.max_receives, 3);
    kumo__aws_url_free(&u);
    unsetenv("AWS_REGION");

    /* refusals, each with a message naming the problem */
    CHECK_INT(kumo__aws_url_parse("s3://b", "dynamodb", &u, &err), KUMO_EINVAL);
    CHECK(strstr(err.msg, "dynamodb://") != NULL);
    CHECK_INT(kumo__aws_url_parse("dynamodb://?region=us-east-1", "dynamodb", &u, &err), KUMO_EINVAL);
    CHECK(strstr(err.msg, "names no table") != NULL);
    CHECK_INT(kumo__aws_url_parse("dynamodb://t?regoin=x", "dynamodb", &u, &err), KUMO_EINVAL);
    CHECK(strstr(err.msg, "unknown parameter 'regoin'") != NULL);
    CHECK_INT(kumo__aws_url_parse("dynamodb://t?region=US_EAST", "dynamodb", &u, &err), KUMO_EINVAL);
    CHECK_INT(kumo__aws_url_parse("dynamodb://t?endpoint=ftp://x", "dynamodb", &u, &err), KUMO_EINVAL);
    CHECK_INT(kumo__aws_url_parse("dynamodb://t?create=no", "dynamodb", &u, &err), KUMO_EINVAL);
    CHECK_INT(kumo__aws_url_parse("sqs://q?max_receives=0", "sqs", &u, &err), KUMO_EINVAL);
    CHECK_INT(kumo__aws_url_parse("dynamodb://t%00x", "dynamodb", &u, &err), KUMO_EINVAL);
    CHECK_INT(kumo__aws_url_parse("dynamodb://t?region", "dynamodb", &u, &err), KUMO_EINVAL);
}

static void test_base64(void)
{
    static const struct {
        const char *plain, *enc;
    } cases[] = {{"", ""},
                 {"f", "Zg=="},
                 {"fo", "Zm8="},
                 {"foo", "Zm9v"},
                 {"foob", "Zm9vYg=="},
                 {"fooba", "Zm9vYmE="},
                 {"foobar", "Zm9vYmFy"},
                 {"\xff\xfe\x00", "//4A"}};
    unsigned char out[16];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].enc) ? strlen(cases[i].enc) / 4 * 3 : 0;
        size_t plen = i == 7 ? 3 : strlen(cases[i].plain);
        char *e = kumo__aws_b64_encode(cases[i].plain, plen);
        CHECK_STR(e, cases[i].enc);
        free(e);
        long d = kumo__aws_b64_decode(cases[i].enc, strlen(cases[i].enc), out);
        CHECK_INT(d, (long)plen);
        CHECK(d >= 0 && memcmp(out, cases[i].plain, plen) == 0);
        (void)n;
    }
    CHECK_INT(kumo__aws_b64_decode("Zm9v!", 5, out), -1);
    CHECK_INT(kumo__aws_b64_decode("Zg==Zg", 6, out), -1);
    CHECK_INT(kumo__aws_b64_decode("Z", 1, out), -1);
}

static void test_uri_encode(void)
{
    char buf[64];
    CHECK_INT(kumo__aws_uri_encode("a b/c~d+e", 9, 1, buf, sizeof(buf)), 13);
    CHECK_STR(buf, "a%20b/c~d%2Be");
    CHECK(kumo__aws_uri_encode("a/b", 3, 0, buf, sizeof(buf)) > 0);
    CHECK_STR(buf, "a%2Fb");
    CHECK(kumo__aws_uri_encode("\xc3\xa9", 2, 0, buf, sizeof(buf)) > 0);
    CHECK_STR(buf, "%C3%A9");
    CHECK_INT(kumo__aws_uri_encode("    ", 4, 0, buf, 12), 0); /* needs 13 with the NUL */
    CHECK_INT(kumo__aws_uri_encode("    ", 4, 0, buf, 13), 12);
}

static void test_xml(void)
{
    const char *doc = "<R><Contents><Key>a&amp;b&#47;c</Key></Contents><Contents><Key>d</Key></Contents>"
                      "<IsTruncated>false</IsTruncated></R>";
    const char *end;
    char *c = kumo__aws_xml_text(doc, "Contents", &end);
    char *k = c ? kumo__aws_xml_text(c, "Key", NULL) : NULL;
    CHECK_STR(k, "a&b/c");
    free(k);
    free(c);
    c = kumo__aws_xml_text(end, "Contents", &end);
    k = c ? kumo__aws_xml_text(c, "Key", NULL) : NULL;
    CHECK_STR(k, "d");
    free(k);
    free(c);
    CHECK(kumo__aws_xml_text(end, "Contents", NULL) == NULL);
    char *t = kumo__aws_xml_text(doc, "IsTruncated", NULL);
    CHECK_STR(t, "false");
    free(t);
    CHECK(kumo__aws_xml_text("<Key>unterminated", "Key", NULL) == NULL);
}

static void test_errors(void)
{
    CHECK_INT(kumo__aws_map_error("ConditionalCheckFailedException", 400), KUMO_ECONFLICT);
    CHECK_INT(kumo__aws_map_error("NoSuchKey", 404), KUMO_ENOTFOUND);
    CHECK_INT(kumo__aws_map_error("ResourceNotFoundException", 400), KUMO_ENOTFOUND);
    CHECK_INT(kumo__aws_map_error("AWS.SimpleQueueService.NonExistentQueue", 400), KUMO_ENOTFOUND);
    CHECK_INT(kumo__aws_map_error("ProvisionedThroughputExceededException", 400), KUMO_EUNAVAILABLE);
    CHECK_INT(kumo__aws_map_error("EntityTooLarge", 400), KUMO_ETOOBIG);
    CHECK_INT(kumo__aws_map_error("SomethingNew", 503), KUMO_EUNAVAILABLE);
    CHECK_INT(kumo__aws_map_error("AccessDenied", 403), KUMO_EIO);
}

/* A port on loopback that refuses connections: bound, never listened on. */
static int dead_port(int *fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(*fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    return ntohs(sa.sin_port);
}

static void test_client(void)
{
    kumo__aws_url u;
    kumo__aws *c = NULL;
    kumo__error err = {0};
    char msg[256] = "", url[128];
    int fd = -1, port = dead_port(&fd);
    CHECK(port > 0);

    unsetenv("AWS_ACCESS_KEY_ID");
    snprintf(url, sizeof(url), "dynamodb://t?endpoint=http://127.0.0.1:%d", port);
    CHECK_INT(kumo__aws_url_parse(url, "dynamodb", &u, &err), 0);
    CHECK_INT(kumo__aws_new("dynamodb", &u, msg, sizeof(msg), &c, &err), KUMO_EINVAL);
    CHECK(strstr(err.msg, "AWS_ACCESS_KEY_ID") != NULL);

    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-example-value", 1);
    CHECK_INT(kumo__aws_new("dynamodb", &u, msg, sizeof(msg), &c, &err), 0);
    if (c) {
        CHECK_STR(kumo__aws_base(c), u.endpoint);
        /* Nothing listens: unavailable, with the service's words and no secret. */
        json_t *resp = NULL;
        CHECK_INT(kumo__aws_json(c, "application/x-amz-json-1.0", "DynamoDB_20120810.ListTables", json_object(), &resp),
                  KUMO_EUNAVAILABLE);
        CHECK(resp == NULL);
        CHECK_STR(kumo__aws_code(c), "curl");
        CHECK(strstr(msg, "dynamodb at http://127.0.0.1:") != NULL);
        CHECK(strstr(msg, "AKIDEXAMPLEKEY") == NULL && strstr(msg, "s3cr3t") == NULL);

        char echo[128] = "The key AKIDEXAMPLEKEY with s3cr3t-example-value is invalid";
        kumo__aws_scrub(c, echo);
        CHECK(strstr(echo, "AKIDEXAMPLEKEY") == NULL);
        CHECK(strstr(echo, "s3cr3t-example-value") == NULL);
        CHECK(strncmp(echo, "The key ", 8) == 0 && strstr(echo, " is invalid") != NULL);
        kumo__aws_free(c);
    }
    kumo__aws_url_free(&u);
    if (fd >= 0)
        close(fd);
}

static void test_sns_envelope(void)
{
    char tp[128];
    const char *env = "{\"Type\":\"Notification\",\"MessageId\":\"1\",\"TopicArn\":\"arn:aws:sns:r:1:t\","
                      "\"Message\":\"x\",\"MessageAttributes\":{\"traceparent\":{\"Type\":\"String\",\"Value\":"
                      "\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"}}}";
    CHECK_STR(kumo__sns_envelope_traceparent(env, strlen(env), tp, sizeof tp),
              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    /* not an envelope: a plain body, another Type, no TopicArn, no attribute, bad JSON, too small a buffer */
    const char *no[] = {
        "hello",
        "{\"Type\":\"SubscriptionConfirmation\",\"TopicArn\":\"a\",\"MessageAttributes\":{\"traceparent\":"
        "{\"Value\":\"x\"}},\"x\":\"Notification\"}",
        "{\"Type\":\"Notification\",\"MessageAttributes\":{\"traceparent\":{\"Value\":\"x\"}}}",
        "{\"Type\":\"Notification\",\"TopicArn\":\"a\",\"MessageAttributes\":{\"other\":{\"Value\":\"traceparent\"}}}",
        "{\"Type\":\"Notification\",\"TopicArn\":\"a\",\"traceparent\"",
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK(kumo__sns_envelope_traceparent(no[i], strlen(no[i]), tp, sizeof tp) == NULL);
    CHECK(kumo__sns_envelope_traceparent(env, strlen(env), tp, 10) == NULL);
}

int main(void)
{
    test_sns_envelope();
    test_url();
    test_base64();
    test_uri_encode();
    test_xml();
    test_errors();
    test_client();
    return check_report();
}
