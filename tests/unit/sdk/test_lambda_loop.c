/*
 * test_lambda_loop.c: kumo__lambda_run and kumo__lambda_init_error
 * (src/sdk/adapters/lambda.c) against a scripted Runtime API on loopback
 * (a thread here): an API Gateway event answered with a response, an
 * event that is not API Gateway's reported as Runtime.UnsupportedEvent,
 * a function failure reported with its own type and message, and a
 * Runtime API that answers 500 to /next ending the loop with an error.
 * Checks what the loop posted and what the function was given (request
 * id, deadline, the trace id in _X_AMZN_TRACE_ID).
 */
#include "check.h"
#include "sdk/adapters/lambda.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct seen {
    char method[8], path[128], error_type[64];
    char *body;
} seen;

typedef struct server {
    int fd, port;
    seen got[16];
    int n;
} server;

/* What /next hands out, in order; NULL: answer 500. */
static const struct {
    const char *id, *event;
} script[] = {
    {"r1", "{\"httpMethod\":\"POST\",\"path\":\"/items\",\"headers\":{\"Content-Type\":\"text/plain\"},"
           "\"body\":\"hi\",\"requestContext\":{\"stage\":\"prod\"}}"},
    {"r2", "{\"Records\":[{\"eventSource\":\"aws:sqs\"}]}"},
    {"r3", "{\"version\":\"2.0\",\"rawPath\":\"/fail\",\"requestContext\":{\"http\":{\"method\":\"GET\"}}}"},
    {NULL, NULL},
};

static int read_request(int fd, seen *s)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end - buf) + 4, cl = 0;
    sscanf(buf, "%7s %127s", s->method, s->path);
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            cl = strtoul(line + 15, NULL, 10);
        if (strncasecmp(line, "Lambda-Runtime-Function-Error-Type:", 35) == 0)
            sscanf(line + 35, " %63[^\r]", s->error_type);
    }
    while (len < head + cl) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
    s->body = strndup(buf + head, cl);
    return 0;
}

static void reply(int fd, int status, const char *headers, const char *body)
{
    char out[8192];
    int n = snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n%s", status, headers,
                     strlen(body), body);
    send(fd, out, (size_t)n, MSG_NOSIGNAL);
}

static void *serve(void *p)
{
    server *sv = p;
    size_t step = 0;
    while (sv->n < 16) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        while (sv->n < 16) {
            seen *s = &sv->got[sv->n];
            if (read_request(c, s) != 0)
                break;
            sv->n++;
            if (strstr(s->path, "/invocation/next")) {
                if (script[step].id == NULL) {
                    reply(c, 500, "", "{}");
                    close(c);
                    return NULL;
                }
                char h[256];
                snprintf(h, sizeof(h),
                         "Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: 123\r\n"
                         "Lambda-Runtime-Trace-Id: Root=1-abc\r\n",
                         script[step].id);
                reply(c, 200, h, script[step].event);
                step++;
            } else {
                reply(c, 202, "", "{\"status\":\"OK\"}");
            }
        }
        close(c);
    }
    return NULL;
}

typedef struct calls {
    int n;
    char id[16];
    uint64_t deadline;
    char trace[64];
    char path[64];
} calls;

static int fn(void *data, const kumo__lambda_http *req, kumo__lambda_reply *out)
{
    calls *c = data;
    c->n++;
    if (strcmp(req->path, "/fail") == 0) {
        out->error_type = "Kumo.Failed";
        out->error_message = "boom";
        return -1;
    }
    snprintf(c->id, sizeof(c->id), "%s", req->request_id);
    snprintf(c->path, sizeof(c->path), "%s", req->path);
    c->deadline = req->deadline_ms;
    const char *t = getenv("_X_AMZN_TRACE_ID");
    snprintf(c->trace, sizeof(c->trace), "%s", t ? t : "");
    static const kumo__pair hs[] = {{"content-type", "text/plain"}, {"set-cookie", "s=1"}};
    *out = (kumo__lambda_reply){.status = 201, .headers = hs, .nheaders = 2, .body = "made", .body_len = 4};
    return 0;
}

static int start(server *sv, pthread_t *t)
{
    memset(sv, 0, sizeof(*sv));
    sv->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (sv->fd < 0 || bind(sv->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(sv->fd, 8) != 0 ||
        getsockname(sv->fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    sv->port = ntohs(a.sin_port);
    return pthread_create(t, NULL, serve, sv);
}

static json_t *body_json(const seen *s)
{
    return json_loads(s->body ? s->body : "", 0, NULL);
}

static void test_loop(void)
{
    server sv;
    pthread_t t;
    CHECK_INT(start(&sv, &t), 0);
    char api[64];
    kumo__error err = {0};
    snprintf(api, sizeof(api), "127.0.0.1:%d", sv.port);
    calls c = {0};
    int rc = kumo__lambda_run(api, fn, &c, &err);
    shutdown(sv.fd, SHUT_RDWR);
    close(sv.fd);
    pthread_join(t, NULL);
    CHECK(rc < 0);
    CHECK(strstr(err.msg, "500") != NULL);
    CHECK_INT(c.n, 2); /* r1 and r3; r2 never reached the function */
    CHECK_STR(c.id, "r1");
    CHECK_STR(c.path, "/items");
    CHECK_INT(c.deadline, 123);
    CHECK_STR(c.trace, "Root=1-abc");
    /* next, response, next, error, next, error, next */
    CHECK_INT(sv.n, 7);
    CHECK_STR(sv.got[0].path, "/2018-06-01/runtime/invocation/next");
    CHECK_STR(sv.got[0].method, "GET");
    CHECK_STR(sv.got[1].method, "POST");
    CHECK_STR(sv.got[1].path, "/2018-06-01/runtime/invocation/r1/response");
    json_t *j = body_json(&sv.got[1]);
    CHECK_INT(json_integer_value(json_object_get(j, "statusCode")), 201);
    CHECK_STR(json_string_value(json_object_get(j, "body")), "made");
    CHECK_STR(
        json_string_value(json_array_get(json_object_get(json_object_get(j, "multiValueHeaders"), "set-cookie"), 0)),
        "s=1");
    json_decref(j);
    CHECK_STR(sv.got[3].path, "/2018-06-01/runtime/invocation/r2/error");
    CHECK_STR(sv.got[3].error_type, "Runtime.UnsupportedEvent");
    j = body_json(&sv.got[3]);
    CHECK_STR(json_string_value(json_object_get(j, "errorType")), "Runtime.UnsupportedEvent");
    CHECK(strstr(json_string_value(json_object_get(j, "errorMessage")) ?: "", "not an API Gateway") != NULL);
    json_decref(j);
    CHECK_STR(sv.got[5].path, "/2018-06-01/runtime/invocation/r3/error");
    CHECK_STR(sv.got[5].error_type, "Kumo.Failed");
    j = body_json(&sv.got[5]);
    CHECK_STR(json_string_value(json_object_get(j, "errorMessage")), "boom");
    json_decref(j);
    CHECK_STR(sv.got[6].path, "/2018-06-01/runtime/invocation/next");
    for (int i = 0; i < sv.n; i++)
        free(sv.got[i].body);
}

static void test_init_error(void)
{
    server sv;
    pthread_t t;
    CHECK_INT(start(&sv, &t), 0);
    char api[64];
    snprintf(api, sizeof(api), "127.0.0.1:%d", sv.port);
    CHECK_INT(kumo__lambda_init_error(api, "Runtime.ConfigError", "no kumo.yaml"), 0);
    shutdown(sv.fd, SHUT_RDWR);
    close(sv.fd);
    pthread_join(t, NULL);
    CHECK_INT(sv.n, 1);
    CHECK_STR(sv.got[0].path, "/2018-06-01/runtime/init/error");
    CHECK_STR(sv.got[0].error_type, "Runtime.ConfigError");
    json_t *j = body_json(&sv.got[0]);
    CHECK_STR(json_string_value(json_object_get(j, "errorMessage")), "no kumo.yaml");
    json_decref(j);
    free(sv.got[0].body);
    /* nothing listening: an error, not a hang */
    CHECK(kumo__lambda_init_error(api, NULL, "x") != 0);
    kumo__error err = {0};
    CHECK(kumo__lambda_run("", fn, NULL, &err) != 0);
    CHECK(strstr(err.msg, "AWS_LAMBDA_RUNTIME_API") != NULL);
}

int main(void)
{
    test_loop();
    test_init_error();
    return check_report();
}
