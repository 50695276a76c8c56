/*
 * test_mock.c: the mock engine (src/gateway/mock.c) through
 * kumo__dispatch_request, as kumo mock runs it: a spec-only project
 * (project/spec_only.c) of tests/integration/projects/mock/petstore.yaml,
 * contracts compiled on first use. What the integration test cannot
 * reach cheaply: Prefer's syntax (quotes, several headers, ';'), an apiKey
 * in a cookie, the hook answering or passing, a 204 without a body, the
 * same static answer from two requests (one kept value, lent to both), and the 501 that
 * stays when mock mode is off.
 */
#include "gateway/mock.h"

#include "check.h"
#include "project/spec_only.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PETSTORE "../integration/projects/mock/petstore.yaml"

typedef struct fixture {
    kumo__project *project;
    kumo__spec *spec;
    kumo__router *router;
    kumo__mock *mock;
    kumo__api api;
} fixture;

static kumo__dispatch run(fixture *f, const char *method, const char *path, const char *query,
                          const kumo__header_view *h, size_t nh, const char *body)
{
    kumo__http_in in = {
        .method = {method, strlen(method)},
        .path = {path, strlen(path)},
        .query = {query, query ? strlen(query) : 0},
        .headers = h,
        .nheaders = nh,
        .body = {body, body ? strlen(body) : 0},
    };
    kumo__frame_writer w = {0};
    kumo__dispatch d;
    int kind = kumo__dispatch_request(&f->api, &in, "r", 1000, &w, &d);
    CHECK_INT(kind, KUMO__DISPATCH_ANSWER);
    return d;
}

#define HV(n, v) ((kumo__header_view){{n, sizeof(n) - 1}, {v, sizeof(v) - 1}})

static void prefer_syntax(fixture *f)
{
    kumo__header_view h[2] = {HV("prefer", "dynamic=false; example=\"empty\"")};
    kumo__dispatch d = run(f, "GET", "/api/pets", NULL, h, 1, NULL);
    CHECK_INT(d.status, 200);
    CHECK(d.body && strcmp(d.body, "[]") == 0);
    CHECK_STR(d.content_type, "application/json");
    kumo__dispatch_free(&d);

    /* two Prefer headers: both count */
    h[0] = HV("prefer", "code=404");
    h[1] = HV("authorization", "Bearer t");
    kumo__header_view h2[3] = {h[0], h[1], HV("prefer", "  dynamic=true")};
    d = run(f, "GET", "/api/pets/3", NULL, h2, 3, NULL);
    CHECK_INT(d.status, 404);
    CHECK(d.body && strstr(d.body, "\"status\"") != NULL);
    kumo__dispatch_free(&d);

    h[0] = HV("prefer", "code=abc");
    d = run(f, "GET", "/api/pets", NULL, h, 1, NULL);
    CHECK_INT(d.status, 400);
    CHECK(d.body && strstr(d.body, "declares: 200"));
    kumo__dispatch_free(&d);
}

static void static_answers_are_kept(fixture *f)
{
    kumo__dispatch a = run(f, "GET", "/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d", NULL, NULL, 0, NULL);
    kumo__dispatch b = run(f, "GET", "/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d", NULL, NULL, 0, NULL);
    CHECK_INT(a.status, 200);
    CHECK(a.body && b.body && strcmp(a.body, b.body) == 0);
    /* the kept answer is lent to each request, not copied (and not freed
     * with it: ASan would see the second free) */
    CHECK(a.body == b.body);
    CHECK(a.content_type && a.content_type == b.content_type);
    kumo__dispatch_free(&a);
    kumo__dispatch_free(&b);
    /* a fresh value (Prefer: dynamic=true) is the request's own */
    kumo__header_view h[1] = {HV("prefer", "dynamic=true")};
    kumo__dispatch c = run(f, "GET", "/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d", NULL, h, 1, NULL);
    a = run(f, "GET", "/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d", NULL, NULL, 0, NULL);
    CHECK_INT(c.status, 200);
    CHECK(c.body && a.body && c.body != a.body && !c.borrowed && a.borrowed);
    kumo__dispatch_free(&c);
    kumo__dispatch_free(&a);
    CHECK(a.body == NULL && !a.borrowed);
}

static void credentials(fixture *f)
{
    kumo__dispatch d = run(f, "DELETE", "/api/pets/3", "other=1", NULL, 0, NULL);
    CHECK_INT(d.status, 401);
    CHECK(d.body && strstr(d.body, "the query parameter key (queryKey)"));
    kumo__dispatch_free(&d);
    d = run(f, "DELETE", "/api/pets/3", "other=1&key=k", NULL, 0, NULL);
    CHECK_INT(d.status, 204);
    CHECK(d.body == NULL && d.content_type == NULL);
    kumo__dispatch_free(&d);

    /* X-Api-Key or a bearer token: an empty header is no credential */
    kumo__header_view h[2] = {HV("x-api-key", ""), HV("content-type", "application/json")};
    d = run(f, "POST", "/api/pets", NULL, h, 2, "{\"name\":\"a\",\"kind\":\"dog\"}");
    CHECK_INT(d.status, 401);
    CHECK_INT(d.nheaders, 1);
    CHECK(d.nheaders == 1 && strcmp(d.headers[0].name, "www-authenticate") == 0 &&
          strcmp(d.headers[0].value, "Bearer") == 0);
    kumo__dispatch_free(&d);
    h[0] = HV("x-api-key", "k");
    d = run(f, "POST", "/api/pets", NULL, h, 2, "{\"name\":\"a\",\"kind\":\"dog\"}");
    CHECK_INT(d.status, 201);
    CHECK(d.body && strstr(d.body, "\"kind\""));
    kumo__dispatch_free(&d);
}

static int hook_calls;
static int hook(void *ctx, const kumo__mock *m, const kumo__mock_request *rq, kumo__mock_reply *out)
{
    (void)ctx;
    (void)m;
    hook_calls++;
    if (strcmp(rq->op->operation_id, "getOwner") != 0)
        return 0;
    json_t *id = json_object_get(json_object_get(rq->checked->params, "path"), "id");
    json_t *body = json_pack("{s:O}", "hooked", id);
    int rc = kumo__mock_reply_json(out, 299, body);
    json_decref(body);
    return rc == 0 ? 1 : -1;
}

static void hooks(fixture *f)
{
    kumo__mock_set_hook(f->mock, hook, NULL);
    kumo__dispatch d = run(f, "GET", "/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d", NULL, NULL, 0, NULL);
    CHECK_INT(d.status, 299);
    CHECK(d.body && strcmp(d.body, "{\"hooked\":\"7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d\"}") == 0);
    kumo__dispatch_free(&d);
    /* after validation: an invalid request never reaches the hook */
    int before = hook_calls;
    d = run(f, "GET", "/api/owners/not-a-uuid", NULL, NULL, 0, NULL);
    CHECK_INT(d.status, 400);
    CHECK_INT(hook_calls, before);
    kumo__dispatch_free(&d);
    d = run(f, "GET", "/api/pets", NULL, NULL, 0, NULL);
    CHECK_INT(d.status, 200);
    CHECK_INT(hook_calls, before + 1);
    kumo__dispatch_free(&d);
    kumo__mock_set_hook(f->mock, NULL, NULL);
}

static void examples_for_hooks(fixture *f)
{
    const kumo__operation *op = NULL;
    for (size_t i = 0; i < f->spec->nops; i++)
        if (strcmp(f->spec->ops[i].operation_id, "createPet") == 0)
            op = &f->spec->ops[i];
    json_t *v = NULL;
    char why[256];
    CHECK(op != NULL);
    CHECK_INT(kumo__mock_example(f->mock, op->body[0].schema, KUMO__DIR_RESPONSE, 5, 0, &v, why, sizeof(why)), 0);
    CHECK(json_is_integer(json_object_get(v, "id")) && json_object_get(v, "secret") == NULL);
    json_decref(v);
}

static void mock_off(fixture *f)
{
    f->api.mock = NULL;
    kumo__dispatch d = run(f, "GET", "/api/pets", NULL, NULL, 0, NULL);
    CHECK_INT(d.status, 501);
    kumo__dispatch_free(&d);
    f->api.mock = f->mock;
}

/* kumo mock reads the security model kumo up enforces (openapi/security.c):
 * a requirement naming a scheme the document does not declare is refused
 * with its place, not looked past (it was a silent pass before). */
static void undeclared_scheme_refused(void)
{
    static const char doc[] = "openapi: 3.0.3\n"
                              "info: {title: t, version: '1'}\n"
                              "paths:\n"
                              "  /a:\n"
                              "    get:\n"
                              "      security: [{nokey: []}]\n"
                              "      responses: {'200': {description: ok}}\n";
    char path[] = "/tmp/kumo-mock-sec-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, doc, sizeof(doc) - 1) == (ssize_t)(sizeof(doc) - 1));
    close(fd);
    kumo__spec *spec = NULL;
    kumo__mock *m = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__spec_load(path, &spec, &err), 0);
    if (spec) {
        CHECK(kumo__mock_build(spec, NULL, NULL, &m, &err) != 0);
        CHECK(strstr(err.msg, ":6:") && strstr(err.msg, "names 'nokey', which the document does not declare"));
    }
    CHECK(m == NULL);
    kumo__spec_free(spec);
    unlink(path);
}

int main(void)
{
    fixture f = {0};
    kumo__error err = {0};
    if (kumo__project_from_spec(PETSTORE, &f.project, &err) != 0 ||
        kumo__spec_load(f.project->api_path, &f.spec, &err) != 0 || kumo__router_build(f.spec, &f.router, &err) != 0 ||
        kumo__mock_build(f.spec, NULL, &(kumo__mock_config){.seed = 1}, &f.mock, &err) != 0) {
        fprintf(stderr, "fixture: %s\n", err.msg);
        return 1;
    }
    CHECK_STR(f.project->name, "petstore");
    CHECK_INT(f.project->obs.enabled, 0);
    f.api = (kumo__api){.project = f.project, .spec = f.spec, .router = f.router, .only_unit = -1, .mock = f.mock};
    prefer_syntax(&f);
    static_answers_are_kept(&f);
    credentials(&f);
    hooks(&f);
    examples_for_hooks(&f);
    mock_off(&f);
    undeclared_scheme_refused();
    kumo__project *p = NULL;
    CHECK(kumo__project_from_spec("../integration/projects/mock", &p, &err) != 0 && strstr(err.msg, "not a file"));
    CHECK(kumo__project_from_spec("nope.yaml", &p, &err) != 0 && strstr(err.msg, "nope.yaml"));
    kumo__mock_free(f.mock);
    kumo__router_free(f.router);
    kumo__spec_free(f.spec);
    kumo__project_free(f.project);
    return check_report();
}
