/*
 * test_lambda_event.c: the Lambda adapter's mapping (src/sdk/adapters/
 * lambda.c) without a network: API Gateway REST (payload 1.0) and HTTP
 * API (payload 2.0) events into kumo__lambda_http (multi-value headers,
 * the query rebuilt from decoded parameters, base64 bodies, cookies, the
 * stage prefix, paths escaped), events it must refuse, and replies
 * encoded back (multiValueHeaders, cookies, binary bodies as base64),
 * checked by parsing the JSON it wrote.
 */
#include "check.h"
#include "sdk/adapters/lambda.h"

#include <jansson.h>
#include <stdlib.h>

static const char *header(const kumo__lambda_http *h, const char *name, int nth)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcmp(h->headers[i].name, name) == 0 && nth-- == 0)
            return h->headers[i].value;
    return NULL;
}

static int parse(kumo__arena *a, const char *json, kumo__lambda_http *out, char *err)
{
    kumo__error e = {0};
    int rc = kumo__lambda_parse_event(a, json, strlen(json), out, &e);
    snprintf(err, 256, "%s", e.msg);
    return rc;
}

static void test_v1(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_http h;
    char err[256] = "";
    const char *ev =
        "{\"resource\":\"/items/{id}\",\"path\":\"/items/a%20b\",\"httpMethod\":\"POST\","
        "\"headers\":{\"Accept\":\"text/html\",\"Content-Type\":\"application/octet-stream\",\"X-Single\":\"s\"},"
        "\"multiValueHeaders\":{\"Accept\":[\"text/html\",\"application/json\"],"
        "\"Content-Type\":[\"application/octet-stream\"]},"
        "\"queryStringParameters\":{\"a\":\"2\",\"q\":\"x y&z\"},"
        "\"multiValueQueryStringParameters\":{\"a\":[\"1\",\"2\"],\"q\":[\"x y&z\"],\"\\u00e9\":[\"=\"]},"
        "\"pathParameters\":{\"id\":\"a b\"},\"stageVariables\":null,"
        "\"requestContext\":{\"stage\":\"prod\",\"path\":\"/prod/items/a%20b\",\"requestId\":\"gw-1\","
        "\"identity\":{\"sourceIp\":\"203.0.113.9\"}},"
        "\"body\":\"aGVsbG8AeA==\",\"isBase64Encoded\":true}";
    CHECK_INT(parse(&a, ev, &h, err), 0);
    CHECK_INT(h.version, 1);
    CHECK_STR(h.method, "POST");
    CHECK_STR(h.path, "/items/a%20b");
    CHECK_STR(h.query, "a=1&a=2&q=x%20y%26z&%C3%A9=%3D");
    CHECK_STR(h.stage, "prod");
    CHECK_STR(h.source_ip, "203.0.113.9");
    /* multiValueHeaders first, then what only headers has; names lower case */
    CHECK_INT(h.nheaders, 4);
    CHECK_STR(header(&h, "accept", 0), "text/html");
    CHECK_STR(header(&h, "accept", 1), "application/json");
    CHECK(header(&h, "accept", 2) == NULL);
    CHECK_STR(header(&h, "content-type", 0), "application/octet-stream");
    CHECK(header(&h, "content-type", 1) == NULL);
    CHECK_STR(header(&h, "x-single", 0), "s");
    CHECK_INT(h.body_len, 7);
    CHECK(h.body && memcmp(h.body, "hello\0x", 8) == 0);
    CHECK(h.request_id == NULL);

    /* only queryStringParameters, no body, no headers at all */
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a,
                    "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":null,\"multiValueHeaders\":null,"
                    "\"queryStringParameters\":{\"k\":\"v+w\"},\"multiValueQueryStringParameters\":null,"
                    "\"body\":null,\"isBase64Encoded\":false}",
                    &h, err),
              0);
    CHECK_STR(h.query, "k=v%2Bw");
    CHECK_INT(h.nheaders, 0);
    CHECK(h.body == NULL);
    CHECK_INT(h.body_len, 0);

    /* no query at all */
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a, "{\"httpMethod\":\"GET\",\"path\":\"/x\",\"body\":\"plain\"}", &h, err), 0);
    CHECK_STR(h.query, "");
    CHECK_STR(h.body, "plain");
    CHECK_INT(h.body_len, 5);
    kumo__arena_free(&a);
}

static void test_v1_stage(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_http h;
    char err[256];
    /* a nested proxy resource behind a mapping that keeps the stage */
    CHECK_INT(parse(&a,
                    "{\"resource\":\"/user/{proxy+}\",\"path\":\"/dev/user/session\",\"httpMethod\":\"GET\","
                    "\"requestContext\":{\"stage\":\"dev\",\"path\":\"/dev/user/session\"}}",
                    &h, err),
              0);
    CHECK_STR(h.path, "/user/session");
    /* the stage alone */
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a,
                    "{\"resource\":\"/\",\"path\":\"/dev\",\"httpMethod\":\"GET\","
                    "\"requestContext\":{\"stage\":\"dev\"}}",
                    &h, err),
              0);
    CHECK_STR(h.path, "/");
    /* a route that really starts like the stage is kept */
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a,
                    "{\"resource\":\"/{proxy+}\",\"path\":\"/prod/items\",\"httpMethod\":\"GET\","
                    "\"requestContext\":{\"stage\":\"prod\"}}",
                    &h, err),
              0);
    CHECK_STR(h.path, "/prod/items");
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a,
                    "{\"resource\":\"/production/{id}\",\"path\":\"/production/7\",\"httpMethod\":\"GET\","
                    "\"requestContext\":{\"stage\":\"prod\"}}",
                    &h, err),
              0);
    CHECK_STR(h.path, "/production/7");
    kumo__arena_free(&a);
}

static void test_v2(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_http h;
    char err[256] = "";
    const char *ev =
        "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"/prod/a b/%41?#\","
        "\"rawQueryString\":\"x=1&x=2&y=%20\",\"cookies\":[\"a=1\",\"b=2\"],"
        "\"headers\":{\"X-Foo\":\"1,2\",\"cookie\":\"ignored=1\",\"content-type\":\"application/json\"},"
        "\"queryStringParameters\":{\"x\":\"1,2\",\"y\":\" \"},"
        "\"requestContext\":{\"http\":{\"method\":\"PUT\",\"path\":\"/prod/a b\",\"sourceIp\":\"198.51.100.1\"},"
        "\"requestId\":\"r\",\"stage\":\"prod\"},"
        "\"body\":\"{\\\"k\\\":1}\",\"isBase64Encoded\":false}";
    CHECK_INT(parse(&a, ev, &h, err), 0);
    CHECK_INT(h.version, 2);
    CHECK_STR(h.method, "PUT");
    CHECK_STR(h.path, "/a%20b/%41%3F%23");
    CHECK_STR(h.query, "x=1&x=2&y=%20");
    CHECK_STR(h.source_ip, "198.51.100.1");
    CHECK_INT(h.nheaders, 3);
    CHECK_STR(header(&h, "x-foo", 0), "1,2");
    CHECK_STR(header(&h, "content-type", 0), "application/json");
    CHECK_STR(header(&h, "cookie", 0), "a=1; b=2");
    CHECK(header(&h, "cookie", 1) == NULL);
    CHECK_STR(h.body, "{\"k\":1}");

    /* $default stage: nothing stripped; base64 body; no cookies keeps the cookie header */
    kumo__arena_reset(&a);
    CHECK_INT(parse(&a,
                    "{\"version\":\"2.0\",\"rawPath\":\"/$default/x\",\"headers\":{\"Cookie\":\"c=3\"},"
                    "\"requestContext\":{\"http\":{\"method\":\"GET\"},\"stage\":\"$default\"},"
                    "\"body\":\"/wA=\",\"isBase64Encoded\":true}",
                    &h, err),
              0);
    CHECK_STR(h.path, "/$default/x");
    CHECK_STR(h.query, "");
    CHECK_STR(header(&h, "cookie", 0), "c=3");
    CHECK_INT(h.body_len, 2);
    CHECK(h.body && (unsigned char)h.body[0] == 0xff && h.body[1] == 0);
    kumo__arena_free(&a);
}

static void test_refused(void)
{
    kumo__arena a;
    kumo__arena_init(&a);
    kumo__lambda_http h;
    char err[256] = "";
    CHECK_INT(parse(&a, "{\"Records\":[{\"eventSource\":\"aws:sqs\"}]}", &h, err), KUMO_EINVAL);
    CHECK(strstr(err, "not an API Gateway") != NULL);
    CHECK_INT(parse(&a, "[1,2]", &h, err), KUMO_EINVAL);
    CHECK_INT(parse(&a, "{\"httpMethod\":", &h, err), KUMO_EINVAL);
    CHECK_INT(parse(&a, "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":{}}", &h, err), KUMO_EINVAL);
    CHECK(strstr(err, "http.method") != NULL);
    err[0] = '\0';
    CHECK_INT(parse(&a, "{\"httpMethod\":\"GET\",\"path\":\"/\",\"body\":\"!!!\",\"isBase64Encoded\":true}", &h, err),
              KUMO_EINVAL);
    CHECK(strstr(err, "base64") != NULL);
    kumo__arena_free(&a);
}

static json_t *encode(int version, const kumo__lambda_reply *r)
{
    size_t len = 0;
    char *s = kumo__lambda_encode_reply(version, r, &len);
    CHECK(s != NULL);
    if (s == NULL)
        return NULL;
    CHECK_INT(len, strlen(s));
    json_t *j = json_loads(s, 0, NULL);
    CHECK(j != NULL);
    free(s);
    return j;
}

static void test_reply_v1(void)
{
    static const kumo__pair hs[] = {
        {"content-type", "text/plain; charset=utf-8"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}, {"x-a", "z"}};
    kumo__lambda_reply r = {.status = 201, .headers = hs, .nheaders = 4, .body = "h\xc3\xa9llo", .body_len = 6};
    json_t *j = encode(1, &r);
    CHECK_INT(json_integer_value(json_object_get(j, "statusCode")), 201);
    json_t *mv = json_object_get(j, "multiValueHeaders");
    CHECK_INT(json_array_size(json_object_get(mv, "set-cookie")), 2);
    CHECK_STR(json_string_value(json_array_get(json_object_get(mv, "set-cookie"), 1)), "b=2");
    CHECK_STR(json_string_value(json_array_get(json_object_get(mv, "x-a"), 0)), "z");
    CHECK(json_object_get(j, "cookies") == NULL);
    CHECK_STR(json_string_value(json_object_get(j, "body")), "h\xc3\xa9llo");
    CHECK(json_is_false(json_object_get(j, "isBase64Encoded")));
    json_decref(j);

    /* no status, no body: 200 and "" */
    kumo__lambda_reply empty = {0};
    j = encode(1, &empty);
    CHECK_INT(json_integer_value(json_object_get(j, "statusCode")), 200);
    CHECK_STR(json_string_value(json_object_get(j, "body")), "");
    CHECK(json_is_false(json_object_get(j, "isBase64Encoded")));
    json_decref(j);

    /* an image is binary even when its bytes happen to be UTF-8 */
    static const kumo__pair png[] = {{"Content-Type", "image/png"}};
    kumo__lambda_reply img = {.status = 200, .headers = png, .nheaders = 1, .body = "abc", .body_len = 3};
    j = encode(1, &img);
    CHECK_STR(json_string_value(json_object_get(j, "body")), "YWJj");
    CHECK(json_is_true(json_object_get(j, "isBase64Encoded")));
    json_decref(j);
}

static void test_reply_v2(void)
{
    static const kumo__pair hs[] = {{"content-type", "application/octet-stream"},
                                    {"set-cookie", "a=1; Path=/"},
                                    {"x-dup", "1"},
                                    {"Set-Cookie", "b=2"},
                                    {"x-dup", "2"}};
    kumo__lambda_reply r = {.headers = hs, .nheaders = 5, .body = "\xff\x00\x01", .body_len = 3};
    json_t *j = encode(2, &r);
    CHECK_INT(json_integer_value(json_object_get(j, "statusCode")), 200);
    json_t *h = json_object_get(j, "headers");
    CHECK_STR(json_string_value(json_object_get(h, "x-dup")), "1,2");
    CHECK(json_object_get(h, "set-cookie") == NULL);
    CHECK(json_object_get(j, "multiValueHeaders") == NULL);
    json_t *c = json_object_get(j, "cookies");
    CHECK_INT(json_array_size(c), 2);
    CHECK_STR(json_string_value(json_array_get(c, 0)), "a=1; Path=/");
    CHECK_STR(json_string_value(json_array_get(c, 1)), "b=2");
    CHECK_STR(json_string_value(json_object_get(j, "body")), "/wAB");
    CHECK(json_is_true(json_object_get(j, "isBase64Encoded")));
    json_decref(j);

    /* JSON text without a content type stays text; invalid UTF-8 does not */
    kumo__lambda_reply t = {.status = 404, .body = "{\"a\":1}", .body_len = 7};
    j = encode(2, &t);
    CHECK_STR(json_string_value(json_object_get(j, "body")), "{\"a\":1}");
    CHECK(json_is_false(json_object_get(j, "isBase64Encoded")));
    CHECK(json_object_get(j, "cookies") == NULL);
    json_decref(j);
    kumo__lambda_reply bad = {.status = 200, .body = "a\xc3", .body_len = 2};
    j = encode(2, &bad);
    CHECK(json_is_true(json_object_get(j, "isBase64Encoded")));
    CHECK_STR(json_string_value(json_object_get(j, "body")), "YcM=");
    json_decref(j);
}

static void test_is_text(void)
{
    CHECK_INT(kumo__lambda_is_text("application/json; charset=utf-8", "{}", 2), 1);
    CHECK_INT(kumo__lambda_is_text("application/problem+json", "{}", 2), 1);
    CHECK_INT(kumo__lambda_is_text("image/svg+xml", "<svg/>", 6), 1);
    CHECK_INT(kumo__lambda_is_text("TEXT/HTML", "<p>", 3), 1);
    CHECK_INT(kumo__lambda_is_text("image/png", "abc", 3), 0);
    CHECK_INT(kumo__lambda_is_text("application/octet-stream", "abc", 3), 0);
    CHECK_INT(kumo__lambda_is_text(NULL, "abc", 3), 1);
    CHECK_INT(kumo__lambda_is_text(NULL, "a\0c", 3), 0);
    CHECK_INT(kumo__lambda_is_text("text/plain", "\xc3\x28", 2), 0);     /* bad continuation */
    CHECK_INT(kumo__lambda_is_text("text/plain", "\xc0\xaf", 2), 0);     /* overlong '/' */
    CHECK_INT(kumo__lambda_is_text("text/plain", "\xed\xa0\x80", 3), 0); /* a surrogate */
    CHECK_INT(kumo__lambda_is_text("text/plain", "\xf0\x9f\x98\x80", 4), 1);
    CHECK_INT(kumo__lambda_is_text("text/plain", "\xf0\x9f\x98", 3), 0); /* truncated */
    CHECK_INT(kumo__lambda_is_text("", "", 0), 1);
}

int main(void)
{
    test_v1();
    test_v1_stage();
    test_v2();
    test_refused();
    test_reply_v1();
    test_reply_v2();
    test_is_text();
    return check_report();
}
