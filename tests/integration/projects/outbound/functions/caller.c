/*
 * caller.c: POST /call (operationId call). Makes the one outbound call the
 * request's JSON body describes, with kumo_http (or kumo_http_post_json
 * when the body has "json"), and answers with what came back, so
 * test_outbound.py can check the allow-list, the deadline, the size
 * ceiling, retries and the trace context from the outside.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <kumo.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connection made the hard way, around kumo_http: 0, or the errno that
 * refused it (the sandbox gives a worker no network for services). */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int call(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    json_t *in = kumo_request_json(req);
    if (in == NULL)
        return kumo_response_problem(res, 400, NULL, "a JSON body is needed");
    kumo_http_response *out = NULL;
    int rc;
    json_t *raw = json_object_get(in, "raw_connect");
    if (raw != NULL) {
        int e = raw_connect((int)json_integer_value(raw));
        return kumo_response_json(res, 200, json_pack("{s:i, s:s}", "errno", e, "error", e ? strerror(e) : ""));
    }
    json_t *body = json_object_get(in, "json");
    if (body != NULL) {
        rc = kumo_http_post_json(ctx, str(in, "service"), str(in, "path"), body, &out);
    } else {
        kumo_http_request r = {
            .method = str(in, "method"),
            .service = str(in, "service"),
            .url = str(in, "service") ? str(in, "path") : str(in, "url"),
            .retries = (int)json_integer_value(json_object_get(in, "retries")),
            .timeout_ms = (int)json_integer_value(json_object_get(in, "timeout_ms")),
        };
        rc = kumo_http(ctx, &r, &out);
    }
    const char *tp = kumo_ctx_traceparent(ctx);
    json_t *ans = json_pack("{s:i, s:s, s:s?}", "rc", rc, "error", kumo_http_error(ctx), "traceparent", tp);
    if (rc == 0) {
        json_object_set_new(ans, "status", json_integer(out->status));
        json_object_set_new(ans, "body", json_stringn(out->body, out->body_len));
        const char *seen = kumo_http_header(out, "X-Seen-Traceparent");
        const char *auth = kumo_http_header(out, "x-seen-authorization");
        if (seen)
            json_object_set_new(ans, "seen_traceparent", json_string(seen));
        if (auth)
            json_object_set_new(ans, "seen_authorization", json_string(auth));
    }
    if (rc == KUMO_EDENIED)
        json_object_set_new(ans, "denied_text", json_string(kumo_strerror(rc)));
    return kumo_response_json(res, 200, ans);
}
