/*
 * test_cors.c: kumo.yaml's http.cors read by project/edge.c and decided by
 * gateway/cors.c, without a server: preflights allowed and refused (origin,
 * method, header; each 403 naming the list), actual requests, "*" without
 * credentials, Vary, and a handler's Access-Control-* headers recognised.
 */
#include "gateway/cors.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

static kumo__edge_config load(const char *yaml)
{
    kumo__doc *doc = NULL;
    kumo__error err = {0};
    kumo__edge_config c;
    memset(&c, 0, sizeof(c));
    CHECK_INT(kumo__doc_parse("kumo.yaml", yaml, strlen(yaml), &doc, &err), 0);
    if (doc == NULL)
        return c;
    int rc = kumo__edge_load(doc, json_object_get(kumo__doc_root(doc), "http"), "/nonexistent", &c, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    CHECK_INT(rc, 0);
    kumo__doc_free(doc);
    return c;
}

static kumo__header_view hv[4];

static kumo__http_in req(const char *method, const char *origin, const char *want, const char *asked)
{
    size_t n = 0;
    if (origin)
        hv[n++] = (kumo__header_view){{"origin", 6}, {origin, strlen(origin)}};
    if (want)
        hv[n++] = (kumo__header_view){{"access-control-request-method", 29}, {want, strlen(want)}};
    if (asked)
        hv[n++] = (kumo__header_view){{"access-control-request-headers", 30}, {asked, strlen(asked)}};
    return (kumo__http_in){.method = {method, strlen(method)}, .path = {"/x", 2}, .headers = hv, .nheaders = n};
}

/* The value of header `name` in the answer, or NULL. */
static const char *get(const kumo__cors_answer *a, const char *name)
{
    static char buf[512];
    for (size_t i = 0; i < a->nheaders; i++)
        if (strcmp(a->headers[i].name, name) == 0) {
            snprintf(buf, sizeof(buf), "%.*s", (int)a->headers[i].value_len, a->headers[i].value);
            return buf;
        }
    return NULL;
}

static void test_listed(void)
{
    kumo__edge_config c = load("http:\n  cors:\n    origins: [https://App.example.com, 'http://localhost:3000']\n"
                               "    methods: [get, post]\n    headers: [Content-Type, x-trace]\n"
                               "    expose_headers: [x-request-id, etag]\n    credentials: true\n    max_age: 1h\n");
    kumo__cors_answer a;
    kumo__http_in in = req("OPTIONS", "https://app.example.com", "POST", "content-type,X-Trace");
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 1);
    CHECK_INT(a.status, 204);
    CHECK_STR(get(&a, "access-control-allow-origin"), "https://app.example.com");
    CHECK_STR(get(&a, "access-control-allow-methods"), "GET, POST");
    CHECK_STR(get(&a, "access-control-allow-headers"), "content-type,X-Trace");
    CHECK_STR(get(&a, "access-control-allow-credentials"), "true");
    CHECK_STR(get(&a, "access-control-max-age"), "3600");
    CHECK(strstr(get(&a, "vary"), "Origin") != NULL);

    in = req("OPTIONS", "https://app.example.com.evil", "POST", NULL);
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 1);
    CHECK_INT(a.status, 403);
    CHECK(strstr(a.detail, "http.cors.origins") != NULL);
    CHECK(get(&a, "access-control-allow-origin") == NULL);
    in = req("OPTIONS", "http://localhost:3000", "PUT", NULL);
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 1);
    CHECK_INT(a.status, 403);
    CHECK(strstr(a.detail, "'PUT' is not in kumo.yaml's http.cors.methods (GET, POST)") != NULL);
    in = req("OPTIONS", "http://localhost:3000", "GET", "x-trace, authorization");
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 1);
    CHECK_INT(a.status, 403);
    CHECK(strstr(a.detail, "'authorization'") != NULL);

    /* actual requests */
    in = req("POST", "http://localhost:3000", NULL, NULL);
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 0);
    CHECK_STR(get(&a, "access-control-allow-origin"), "http://localhost:3000");
    CHECK_STR(get(&a, "access-control-expose-headers"), "x-request-id, etag");
    CHECK_STR(get(&a, "vary"), "Origin");
    in = req("GET", "http://localhost:3001", NULL, NULL);
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 0);
    CHECK(get(&a, "access-control-allow-origin") == NULL);
    CHECK_STR(get(&a, "vary"), "Origin");
    /* OPTIONS without Access-Control-Request-Method: not a preflight */
    in = req("OPTIONS", "http://localhost:3000", NULL, NULL);
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 0);
    kumo__edge_free(&c);
}

static void test_any(void)
{
    kumo__edge_config c = load("http:\n  cors: {origins: ['*'], headers: ['*']}\n");
    kumo__cors_answer a;
    kumo__http_in in = req("OPTIONS", "https://anywhere.example", "DELETE", "x-anything");
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 1);
    CHECK_INT(a.status, 204);
    CHECK_STR(get(&a, "access-control-allow-origin"), "*");
    CHECK_STR(get(&a, "access-control-allow-methods"), "GET, HEAD, POST, PUT, PATCH, DELETE");
    CHECK(get(&a, "access-control-allow-credentials") == NULL);
    CHECK(get(&a, "access-control-max-age") == NULL);
    in = req("GET", "https://anywhere.example", NULL, NULL);
    CHECK_INT(kumo__cors_decide(&c.cors, &in, &a), 0);
    CHECK_STR(get(&a, "access-control-allow-origin"), "*");
    CHECK(get(&a, "vary") == NULL);
    kumo__edge_free(&c);
    /* no cors: nothing */
    CHECK_INT(kumo__cors_decide(NULL, &in, &a), 0);
    CHECK_INT(a.nheaders, 0);
    CHECK(kumo__cors_owned_header("Access-Control-Allow-Origin", 27));
    CHECK(!kumo__cors_owned_header("access-control-", 15));
    CHECK(!kumo__cors_owned_header("vary", 4));
}

int main(void)
{
    test_listed();
    test_any();
    return check_report();
}
