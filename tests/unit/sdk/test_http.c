/*
 * test_http.c: sdk/http.c's rules without a network: origins, the
 * allow-list (a service and a path, or an absolute URL of a declared
 * origin; anything else KUMO_EDENIED naming the fix), the frames of a call
 * and of its result, and a refused call that never reaches libcurl.
 */
#include "sdk/sdk.h"

#include "check.h"
#include "proto/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const pay_headers[] = {"Authorization", "Bearer x"};
static const kumo__http_service svcs[] = {
    {.name = "pay", .url = "https://pay.example/v1", .headers = pay_headers, .nheaders = 1, .max_response = 100},
    {.name = "ship", .url = "http://127.0.0.1:8080", .max_response = 100},
};

static void test_origin(void)
{
    CHECK(kumo__http_same_origin("https://pay.example/v1", "https://PAY.example:443/other?x"));
    CHECK(kumo__http_same_origin("http://[::1]:80/", "http://[::1]/x"));
    CHECK(!kumo__http_same_origin("https://pay.example", "http://pay.example"));
    CHECK(!kumo__http_same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8081"));
    CHECK(!kumo__http_same_origin("http://pay.example", "http://pay.example.evil.com"));
    CHECK(!kumo__http_same_origin("http://user@pay.example", "http://pay.example"));
    CHECK(!kumo__http_same_origin("file:///etc/passwd", "file:///etc/passwd"));
}

static int resolve(const char *service, const char *url, char **out, const kumo__http_service **svc, char *msg)
{
    kumo__http_call c = {.method = "GET", .service = service, .url = url};
    return kumo__http_resolve(svcs, 2, &c, out, svc, msg, 256);
}

static void test_allow_list(void)
{
    char *url = NULL, msg[256];
    const kumo__http_service *svc = NULL;
    CHECK_INT(resolve("pay", "/charges/1?x=1", &url, &svc, msg), 0);
    CHECK_STR(url, "https://pay.example/v1/charges/1?x=1");
    CHECK(svc == &svcs[0]);
    free(url);
    CHECK_INT(resolve(NULL, "http://127.0.0.1:8080/a", &url, &svc, msg), 0);
    CHECK(svc == &svcs[1]);
    free(url);
    CHECK_INT(resolve("nope", "/x", &url, &svc, msg), KUMO_EDENIED);
    CHECK(strstr(msg, "declare it in kumo.yaml services:") != NULL);
    CHECK_INT(resolve(NULL, "http://127.0.0.1:8081/a", &url, &svc, msg), KUMO_EDENIED);
    CHECK_STR(msg, "http://127.0.0.1:8081 is not the origin of a declared service; declare the service in kumo.yaml "
                   "services: (with its spec: and url:)");
    CHECK_INT(resolve(NULL, "https://pay.example.evil.com/v1", &url, &svc, msg), KUMO_EDENIED);
    CHECK_INT(resolve("pay", "https://other.example/", &url, &svc, msg), KUMO_EINVAL);
    CHECK_INT(resolve("pay", "/a b", &url, &svc, msg), KUMO_EINVAL);
    CHECK_INT(resolve("pay", "@evil.example/", &url, &svc, msg), KUMO_EINVAL);
    CHECK_INT(resolve("pay", "?x=1", &url, &svc, msg), 0);
    CHECK_STR(url, "https://pay.example/v1?x=1");
    free(url);
    CHECK_INT(resolve(NULL, NULL, &url, &svc, msg), KUMO_EINVAL);
    CHECK_INT(resolve(NULL, "ftp://127.0.0.1:8080/", &url, &svc, msg), KUMO_EINVAL);
    CHECK_INT(resolve(NULL, "http://x@127.0.0.1:8080/", &url, &svc, msg), KUMO_EINVAL);
}

static void test_refused_exchange(void)
{
    kumo__http_result r;
    kumo__http_call c = {.method = "GET", .url = "http://10.0.0.1/"};
    kumo__http_perform(svcs, 2, &c, &r);
    CHECK_INT(r.error, KUMO_EDENIED);
    const char *const bad[] = {"X-A", "b\r\nX-Evil: 1"};
    kumo__http_call c2 = {.method = "GET", .service = "pay", .url = "/", .headers = bad, .nheaders = 1};
    kumo__http_perform(svcs, 2, &c2, &r);
    CHECK_INT(r.error, KUMO_EINVAL);
    kumo__http_call c3 = {.method = "get", .service = "pay", .url = "/"};
    kumo__http_perform(svcs, 2, &c3, &r);
    CHECK_INT(r.error, KUMO_EINVAL);
}

static void test_frames(void)
{
    const char *const hs[] = {"Accept", "application/json", "traceparent", "00-x"};
    kumo__http_call c = {.method = "POST",
                         .service = "pay",
                         .url = "/charges",
                         .headers = hs,
                         .nheaders = 2,
                         .body = "{}",
                         .body_len = 2,
                         .deadline_ms = 12345,
                         .timeout_ms = 500,
                         .retries = 2};
    kumo__frame_writer w = {0};
    kumo__http_call_put(&w, 7, &c);
    CHECK_INT(kumo__frame_end(&w), 0);
    kumo__frame_header h;
    CHECK_INT(kumo__frame_header_decode(w.buf, w.len, 0, &h), 0);
    CHECK_INT(h.type, KUMO__FRAME_HTTP_CALL);
    CHECK_INT(h.id, 7);
    kumo__http_call d;
    char *mem = NULL;
    CHECK_INT(kumo__http_call_read(w.buf + KUMO__FRAME_HEADER_SIZE, h.length, &d, &mem), 0);
    CHECK_STR(d.method, "POST");
    CHECK_STR(d.service, "pay");
    CHECK_STR(d.url, "/charges");
    CHECK_INT(d.nheaders, 2);
    CHECK_STR(d.headers[3], "00-x");
    CHECK_INT(d.body_len, 2);
    CHECK_INT(d.deadline_ms, 12345);
    CHECK_INT(d.timeout_ms, 500);
    CHECK_INT(d.retries, 2);
    free(mem);
    /* a truncated payload is refused */
    CHECK_INT(kumo__http_call_read(w.buf + KUMO__FRAME_HEADER_SIZE, h.length - 1, &d, &mem), -EPROTO);
    free(mem);

    char head[] = "content-type\0application/json\0x-a\0b";
    kumo__http_result r = {
        .status = 201, .body = "{\"ok\":1}", .body_len = 8, .head = head, .head_len = sizeof head, .nheaders = 2};
    strcpy(r.service, "pay");
    kumo__frame_reset(&w);
    kumo__http_result_put(&w, 9, &r);
    CHECK_INT(kumo__frame_end(&w), 0);
    kumo__http_result back;
    CHECK_INT(kumo__http_result_read(w.buf + KUMO__FRAME_HEADER_SIZE, w.len - KUMO__FRAME_HEADER_SIZE, &back), 0);
    CHECK_INT(back.status, 201);
    CHECK_INT(back.nheaders, 2);
    CHECK_STR(back.body, "{\"ok\":1}");
    CHECK_STR(back.service, "pay");
    kumo__http_result_free(&back);

    kumo__http_result e = {.error = KUMO_ETIMEDOUT};
    strcpy(e.message, "too slow");
    kumo__frame_reset(&w);
    kumo__http_result_put(&w, 9, &e);
    CHECK_INT(kumo__frame_end(&w), 0);
    CHECK_INT(kumo__http_result_read(w.buf + KUMO__FRAME_HEADER_SIZE, w.len - KUMO__FRAME_HEADER_SIZE, &back), 0);
    CHECK_INT(back.error, KUMO_ETIMEDOUT);
    CHECK_STR(back.message, "too slow");
    kumo__http_result_free(&back);
    kumo__frame_writer_free(&w);
}

int main(void)
{
    test_origin();
    test_allow_list();
    test_refused_exchange();
    test_frames();
    return check_report();
}
