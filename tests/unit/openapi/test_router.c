/*
 * test_router.c: router.c over openapi/fixtures/spec_router.yaml (base
 * path /api): a table of requests and what they must match, then the
 * templates the builder must refuse.
 */
#include "openapi/openapi.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define FIX "openapi/fixtures/"

/* method, path -> rc, then operationId and "name=value&..." or the Allow list. */
static const struct {
    const char *method, *path;
    int rc;
    const char *op, *params;
} cases[] = {
    {"GET", "/api/todos", 0, "listTodos", ""},
    {"POST", "/api/todos", 0, "createTodo", ""},
    {"GET", "/api/todos/42", 0, "getTodo", "id=42"},
    {"DELETE", "/api/todos/42", 0, "deleteTodo", "id=42"},
    {"GET", "/api/todos/7/tags/red", 0, "getTag", "id=7&tag=red"},
    /* concrete beats templated; the templated branch still serves other methods */
    {"GET", "/api/todos/search", 0, "searchTodos", ""},
    {"PUT", "/api/todos/search", 0, "putTodo", "id=search"},
    {"PATCH", "/api/todos/search", -KUMO__EMETHOD, NULL, "GET, HEAD, PUT, DELETE"},
    /* backtracking */
    {"GET", "/api/a/b/c", 0, "aby", "y=c"},
    {"GET", "/api/a/q/c", 0, "axc", "x=q"},
    {"GET", "/api/a/b/zz", 0, "aby", "y=zz"},
    {"GET", "/api/a/b/c/d", 0, "axcd", "x=b"},
    {"GET", "/api/a/q/x", -ENOENT, NULL, ""},
    /* mixed segments: literal, then more specific mixed, then mixed, then whole */
    {"GET", "/api/files/report.json", 0, "fileJson", "name=report"},
    {"GET", "/api/files/report-2024.csv", 0, "reportCsv", "year=2024"},
    {"GET", "/api/files/report-.csv", 0, "file", "name=report-.csv"},
    {"GET", "/api/files/a.b.json", 0, "fileJson", "name=a.b"},
    {"GET", "/api/files/.json", 0, "file", "name=.json"}, /* empty value: not the mixed route */
    {"GET", "/api/files/report", 0, "file", "name=report"},
    {"GET", "/api/v2/info", 0, "versionInfo", "major=2"},
    {"GET", "/api/v/info", -ENOENT, NULL, ""},
    /* percent-encoding stays raw; %2F does not split a segment */
    {"GET", "/api/blobs/a%2Fb", 0, "blob", "key=a%2Fb"},
    {"GET", "/api/blobs/a/b", -ENOENT, NULL, ""},
    {"GET", "/api/blobs/caf%C3%A9", 0, "blob", "key=caf%C3%A9"},
    /* empty parameter values do not match */
    {"GET", "/api/todos//tags/x", -ENOENT, NULL, ""},
    /* trailing slash */
    {"GET", "/api/todos/", 0, "listTodos", ""},
    {"GET", "/api/todos/42/", 0, "getTodo", "id=42"},
    {"GET", "/api/dir/", 0, "dirSlash", ""},
    {"GET", "/api/dir", -ENOENT, NULL, ""},
    {"POST", "/api/todos/42/", -KUMO__EMETHOD, NULL, "GET, HEAD, PUT, DELETE"},
    /* base path and root */
    {"GET", "/api", 0, "root", ""},
    {"GET", "/api/", 0, "root", ""},
    {"GET", "/todos", -ENOENT, NULL, ""},
    {"GET", "/apix/todos", -ENOENT, NULL, ""},
    {"GET", "/ap", -ENOENT, NULL, ""},
    {"GET", "", -ENOENT, NULL, ""},
    {"GET", "/api/nope", -ENOENT, NULL, ""},
    /* 405 and Allow */
    {"DELETE", "/api/todos", -KUMO__EMETHOD, NULL, "GET, HEAD, POST"},
    {"GET", "/api/only-post", -KUMO__EMETHOD, NULL, "POST"},
    {"BREW", "/api/todos", -KUMO__EMETHOD, NULL, "GET, HEAD, POST"},
    {"get", "/api/todos", -KUMO__EMETHOD, NULL, "GET, HEAD, POST"}, /* methods are case-sensitive */
    {"GET", "/api/misc", -KUMO__EMETHOD, NULL, "PATCH, OPTIONS, TRACE"},
    {"OPTIONS", "/api/misc", 0, "miscOptions", ""},
    {"TRACE", "/api/misc", 0, "miscTrace", ""},
    /* HEAD falls back to GET unless the path has its own HEAD */
    {"HEAD", "/api/todos/5", 0, "getTodo", "id=5"},
    {"HEAD", "/api/ping", 0, "pingHead", ""},
    {"HEAD", "/api/only-post", -KUMO__EMETHOD, NULL, "POST"},
    /* parameter names belong to the operation */
    {"GET", "/api/names/x", 0, "namesGet", "a=x"},
    {"PUT", "/api/names/x", 0, "namesPut", "b=x"},
};

static void test_matches(void)
{
    kumo__spec *spec = NULL;
    kumo__router *r = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__spec_load(FIX "spec_router.yaml", &spec, &err), 0);
    if (spec == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(spec->base_path, "/api");
    CHECK_INT(kumo__router_build(spec, &r, &err), 0);
    if (r == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        kumo__spec_free(spec);
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kumo__route_match m;
        memset(&m, 0x5a, sizeof m);
        int rc = kumo__router_match(r, cases[i].method, cases[i].path, strlen(cases[i].path), &m);
        char got[512] = "";
        size_t len = 0;
        if (rc == 0) {
            for (size_t j = 0; j < m.nparams && len < sizeof got; j++)
                len += (size_t)snprintf(got + len, sizeof got - len, "%s%s=%.*s", j ? "&" : "", m.params[j].name,
                                        (int)m.params[j].value_len, m.params[j].value);
        } else if (rc == -KUMO__EMETHOD) {
            snprintf(got, sizeof got, "%s", m.allow);
        }
        int ok = rc == cases[i].rc && strcmp(got, cases[i].params) == 0 &&
                 (cases[i].op == NULL
                      ? m.op == NULL
                      : m.op && m.op == &spec->ops[m.op_index] && strcmp(m.op->operation_id, cases[i].op) == 0);
        if (!ok)
            fprintf(stderr, "case %zu: %s %s -> %d %s [%s]\n", i, cases[i].method, cases[i].path, rc,
                    rc == 0 && m.op ? m.op->operation_id : "-", got);
        CHECK(ok);
    }
    kumo__router_free(r);
    kumo__spec_free(spec);
}

/* paths: text -> the message after "t.yaml" from kumo__router_build. */
static const struct {
    const char *paths, *want;
} refusals[] = {
    {"  /t/{a}{b}:\n    get: {}\n",
     ":4:3: path '/t/{a}{b}': segment '{a}{b}' has more than one parameter; kumo routes one parameter per segment, "
     "so split it with '/'"},
    {"  /t/x{a}-{b}.json:\n    get: {}\n", ":4:3: path '/t/x{a}-{b}.json': segment 'x{a}-{b}.json' has more"},
    {"  /t/{a}:\n    get: {}\n  /t/{b}:\n    get: {}\n",
     ":6:3: GET /t/{b} and GET /t/{a} differ only in parameter names, so no request can tell them apart; keep one"},
    {"  /t/{a}:\n    get: {}\n  /t/{b}:\n    post: {}\n", ""},
    {"  /t/{a:\n    get: {}\n", ":4:3: path '/t/{a': unbalanced '{' '}' in segment '{a'"},
    {"  /t/a}:\n    get: {}\n", ":4:3: path '/t/a}': unbalanced '{' '}' in segment 'a}'"},
    {"  /t/{}:\n    get: {}\n", ":4:3: path '/t/{}': a parameter has no name"},
    {"  /{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}:\n    get: {}\n",
     ":4:3: path '/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}' has more than 16 parameters"},
};

static void test_refusals(void)
{
    char dir[] = "/tmp/kumo-test-router-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/t.yaml", dir);
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            CHECK(!"fopen");
            break;
        }
        fprintf(f, "openapi: 3.1.0\ninfo: {title: t}\npaths:\n%s", refusals[i].paths);
        fclose(f);
        kumo__spec *spec = NULL;
        kumo__router *r = NULL;
        kumo__error err = {0};
        CHECK_INT(kumo__spec_load(path, &spec, &err), 0);
        if (spec == NULL) {
            fprintf(stderr, "case %zu: %s\n", i, err.msg);
            continue;
        }
        int rc = kumo__router_build(spec, &r, &err);
        if (refusals[i].want[0] == '\0') {
            CHECK_INT(rc, 0);
            CHECK(r != NULL);
        } else {
            char want[2048];
            snprintf(want, sizeof want, "%s%s", path, refusals[i].want);
            CHECK_INT(rc, -EINVAL);
            CHECK(r == NULL);
            if (strncmp(err.msg, want, strlen(want)) != 0) {
                fprintf(stderr, "case %zu:\n  got  %s\n  want %s\n", i, err.msg, want);
                CHECK(!"message");
            }
        }
        kumo__router_free(r);
        kumo__spec_free(spec);
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_matches();
    test_refusals();
    return check_report();
}
