/*
 * test_lambda_events.c: the Lambda adapter's mapping of the events that
 * are not API Gateway's (src/sdk/adapters/lambda_events.c), without a
 * network: SQS records (receive count, send time, a base64 body the sqs
 * driver marked, content-type and traceparent attributes, the queue's
 * name from the ARN), S3 records (created and deleted, the form-encoded
 * key decoded, size and ETag), SNS records, scheduled events (kumo's
 * Scheduler Input and a plain EventBridge rule's), an API Gateway event
 * still mapped as one, what is refused with its reason, and the
 * batchItemFailures answer.
 */
#include "check.h"
#include "sdk/adapters/lambda.h"

#include <jansson.h>
#include <stdlib.h>

static int parse(kumo__arena *a, const char *json, kumo__lambda_event *ev, char *err)
{
    kumo__error e = {0};
    int rc = kumo__lambda_parse_any(a, json, strlen(json), ev, &e);
    snprintf(err, 512, "%s", e.msg);
    return rc;
}

static void test_sqs(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_event ev;
    char err[512];
    const char *json =
        "{\"Records\":[{\"messageId\":\"m1\",\"receiptHandle\":\"rh1\",\"body\":\"hello\","
        "\"attributes\":{\"ApproximateReceiveCount\":\"2\",\"SentTimestamp\":\"1764921600123\"},"
        "\"messageAttributes\":{\"content-type\":{\"stringValue\":\"text/plain\",\"dataType\":\"String\"},"
        "\"traceparent\":{\"stringValue\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\"}},"
        "\"eventSource\":\"aws:sqs\",\"eventSourceARN\":\"arn:aws:sqs:eu-west-1:123456789012:stack-QueueJobs-X1\"},"
        "{\"messageId\":\"m2\",\"receiptHandle\":\"rh2\",\"body\":\"aGkAdGhlcmU=\",\"attributes\":{},"
        "\"messageAttributes\":{\"kumo-encoding\":{\"stringValue\":\"base64\"}},"
        "\"eventSource\":\"aws:sqs\",\"eventSourceARN\":\"arn:aws:sqs:eu-west-1:123456789012:stack-QueueJobs-X1\"}]}";
    CHECK_INT(parse(&a, json, &ev, err), 0);
    CHECK_INT(ev.kind, KUMO__LAMBDA_SQS);
    CHECK_INT(ev.nrecords, 2);
    const kumo__lambda_record *r = &ev.records[0];
    CHECK_STR(r->id, "m1");
    CHECK_STR(r->receipt, "rh1");
    CHECK_STR(r->source, "stack-QueueJobs-X1");
    CHECK_STR(r->time, "2025-12-05T08:00:00.123Z");
    CHECK_INT(r->receives, 2);
    CHECK_STR(r->content_type, "text/plain");
    CHECK_STR(r->traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    CHECK_INT(r->body_len, 5);
    CHECK_STR(r->body, "hello");
    r = &ev.records[1];
    CHECK_INT(r->receives, 1); /* no count: the first receive */
    CHECK(r->time == NULL && r->content_type == NULL);
    CHECK_INT(r->body_len, 8);
    CHECK(memcmp(r->body, "hi\0there", 8) == 0);

    /* a topic's subscription without raw delivery: the body is SNS's
     * envelope, whose MessageAttributes carry the sender's context */
    const char *wrapped =
        "{\"Records\":[{\"messageId\":\"m3\",\"receiptHandle\":\"rh3\",\"body\":"
        "\"{\\\"Type\\\":\\\"Notification\\\",\\\"MessageId\\\":\\\"s1\\\",\\\"TopicArn\\\":\\\"arn:aws:sns:eu-west-1:"
        "1:t\\\","
        "\\\"Message\\\":\\\"hi\\\",\\\"MessageAttributes\\\":{\\\"traceparent\\\":{\\\"Type\\\":\\\"String\\\","
        "\\\"Value\\\":\\\"00-11111111111111111111111111111111-2222222222222222-01\\\"}}}\","
        "\"attributes\":{},\"messageAttributes\":{},"
        "\"eventSource\":\"aws:sqs\",\"eventSourceARN\":\"arn:aws:sqs:eu-west-1:123456789012:q\"}]}";
    CHECK_INT(parse(&a, wrapped, &ev, err), 0);
    CHECK_STR(ev.records[0].traceparent, "00-11111111111111111111111111111111-2222222222222222-01");
    CHECK(ev.records[0].body[0] == '{'); /* the body stays what SQS gave */
    kumo__arena_free(&a);
}

static void test_s3(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_event ev;
    char err[512];
    const char *json =
        "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventTime\":\"2026-12-05T08:00:00.000Z\","
        "\"eventName\":\"ObjectCreated:CompleteMultipartUpload\",\"responseElements\":{\"x-amz-request-id\":\"R1\"},"
        "\"s3\":{\"bucket\":{\"name\":\"evaws-files-1-us-east-1\"},\"object\":{\"key\":\"img/a+b%C3%A9%2B.png\","
        "\"size\":12,\"eTag\":\"abc\",\"sequencer\":\"0A\"}}},"
        "{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectRemoved:Delete\",\"eventTime\":\"2026-12-05T08:00:01Z\","
        "\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"x\",\"sequencer\":\"0B\"}}}]}";
    CHECK_INT(parse(&a, json, &ev, err), 0);
    CHECK_INT(ev.kind, KUMO__LAMBDA_S3);
    CHECK_INT(ev.nrecords, 2);
    CHECK_STR(ev.records[0].source, "evaws-files-1-us-east-1");
    CHECK_STR(ev.records[0].key, "img/a b\xc3\xa9+.png");
    CHECK_INT(ev.records[0].deleted, 0);
    CHECK_INT(ev.records[0].size, 12);
    CHECK_STR(ev.records[0].etag, "abc");
    CHECK_STR(ev.records[0].id, "R1-0A");
    CHECK_STR(ev.records[0].time, "2026-12-05T08:00:00.000Z");
    CHECK_INT(ev.records[1].deleted, 1);
    CHECK_INT(ev.records[1].size, -1);
    CHECK(ev.records[1].etag == NULL);
    CHECK(ev.records[1].body == NULL);
    kumo__arena_free(&a);
}

static void test_sns_and_ticks(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_event ev;
    char err[512];
    CHECK_INT(parse(&a,
                    "{\"Records\":[{\"EventSource\":\"aws:sns\",\"Sns\":{\"MessageId\":\"s1\",\"Message\":\"order\","
                    "\"Timestamp\":\"2026-12-05T08:00:00.000Z\",\"TopicArn\":\"arn:aws:sns:us-east-1:1:orders\","
                    "\"MessageAttributes\":{\"content-type\":{\"Type\":\"String\",\"Value\":\"application/json\"}}}}]}",
                    &ev, err),
              0);
    CHECK_INT(ev.kind, KUMO__LAMBDA_SNS);
    CHECK_STR(ev.records[0].id, "s1");
    CHECK_STR(ev.records[0].source, "orders");
    CHECK_STR(ev.records[0].body, "order");
    CHECK_STR(ev.records[0].content_type, "application/json");
    CHECK_INT(ev.records[0].receives, 0);

    kumo__arena_reset(&a);
    CHECK_INT(parse(&a,
                    "{\"version\":\"0\",\"id\":\"x1\",\"detail-type\":\"Scheduled Event\",\"source\":\"aws.scheduler\","
                    "\"time\":\"2026-12-07T01:30:00Z\",\"resources\":[\"arn:aws:scheduler:us-east-1:1:schedule/"
                    "default/evaws-tick\"],\"detail\":{\"kumo_event\":\"tick\"}}",
                    &ev, err),
              0);
    CHECK_INT(ev.kind, KUMO__LAMBDA_SCHEDULE);
    CHECK_INT(ev.nrecords, 1);
    CHECK_STR(ev.records[0].event_name, "tick");
    CHECK_STR(ev.records[0].source, "evaws-tick");
    CHECK_STR(ev.records[0].time, "2026-12-07T01:30:00Z");
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a,
                    "{\"id\":\"x2\",\"detail-type\":\"Scheduled Event\",\"source\":\"aws.events\",\"time\":\"t\","
                    "\"resources\":[\"arn:aws:events:us-east-1:1:rule/purge\"],\"detail\":{}}",
                    &ev, err),
              0);
    CHECK(ev.records[0].event_name == NULL);
    CHECK_STR(ev.records[0].source, "purge");

    /* API Gateway's events are still HTTP */
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a, "{\"httpMethod\":\"GET\",\"path\":\"/x\",\"requestContext\":{\"stage\":\"prod\"}}", &ev, err),
              0);
    CHECK_INT(ev.kind, KUMO__LAMBDA_HTTP);
    CHECK_STR(ev.http.path, "/x");
    kumo__arena_free(&a);
}

static void test_refused(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_event ev;
    char err[512];
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{\"Records\":[]}", "0 Records"},
        {"{\"Records\":[{\"eventSource\":\"aws:kinesis\"}]}", "aws:kinesis"},
        {"{\"Records\":[{\"eventSource\":\"aws:sqs\",\"body\":\"x\",\"eventSourceARN\":\"q\"}]}", "no messageId"},
        {"{\"Records\":[{\"eventSource\":\"aws:sqs\",\"messageId\":\"a\",\"body\":\"x\",\"eventSourceARN\":\"q\"},"
         "{\"eventSource\":\"aws:sns\"}]}",
         "record 1 comes from aws:sns"},
        {"{\"Records\":[{\"eventSource\":\"aws:sqs\",\"messageId\":\"a\",\"body\":\"%%\",\"eventSourceARN\":\"q\","
         "\"messageAttributes\":{\"kumo-encoding\":{\"stringValue\":\"base64\"}}}]}",
         "not base64"},
        {"{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectTagging:Put\",\"s3\":{\"bucket\":{\"name\":"
         "\"b\"},\"object\":{\"key\":\"k\"}}}]}",
         "ObjectCreated:* and ObjectRemoved:*"},
        {"{\"Records\":[{\"EventSource\":\"aws:sns\",\"Sns\":{\"MessageId\":\"m\",\"Message\":\"x\"}}]}",
         "Sns.TopicArn"},
        {"{\"detail-type\":\"Scheduled Event\",\"resources\":[\"r\"]}", "no id"},
        {"{\"hello\":\"world\"}", "neither an API Gateway proxy event nor SQS"},
        {"{\"httpMethod\":\"GET\",\"path\":\"/\",\"body\":\"!!\",\"isBase64Encoded\":true}", "not base64"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kumo__arena_reset(&a);
        CHECK_INT(parse(&a, cases[i].json, &ev, err), KUMO_EINVAL);
        if (strstr(err, cases[i].why) == NULL) {
            printf("case %zu: '%s' does not say '%s'\n", i, err, cases[i].why);
            CHECK(0);
        }
    }
    kumo__arena_free(&a);
}

static void test_batch_failures(void)
{
    const char *ids[] = {"a", "b\"c"};
    size_t len = 0;
    char *s = kumo__lambda_batch_failures(ids, 2, &len);
    CHECK_STR(s, "{\"batchItemFailures\":[{\"itemIdentifier\":\"a\"},{\"itemIdentifier\":\"b\\\"c\"}]}");
    CHECK_INT(len, strlen(s));
    free(s);
    s = kumo__lambda_batch_failures(NULL, 0, NULL);
    CHECK_STR(s, "{\"batchItemFailures\":[]}");
    free(s);
}

int main(void)
{
    test_sqs();
    test_s3();
    test_sns_and_ticks();
    test_refused();
    test_batch_failures();
    return check_report();
}
