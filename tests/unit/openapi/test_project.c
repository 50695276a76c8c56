/*
 * test_project.c: project.c loads kumo.yaml: a full project, then each
 * mistake a user makes, with the exact file:line:col of the message.
 * Fixture projects live in openapi/fixtures/proj_*; table cases write a
 * kumo.yaml into a temporary directory.
 */
#include "openapi/openapi.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "openapi/fixtures/"

static void test_ok(void)
{
    kumo__project *p = NULL;
    kumo__error err = {0};
    int rc = kumo__project_load(FIX "proj_ok", &p, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    if (p == NULL)
        return;
    char *abs = realpath(FIX "proj_ok", NULL);
    CHECK_STR(p->dir, abs);
    CHECK_STR(p->name, "todo-app");
    char want[4096];
    snprintf(want, sizeof want, "%s/openapi.yaml", abs);
    CHECK_STR(p->api_path, want);
    CHECK(p->timeout_s == 0.5);
    CHECK_INT(p->max_body, 512 * 1024);
    CHECK_INT(p->nunits, 2);
    const kumo__unit *u = kumo__project_unit(p, "todos");
    CHECK(u != NULL);
    if (u) {
        CHECK_INT(u->nsources, 2);
        snprintf(want, sizeof want, "%s/src/util.c", abs);
        CHECK_STR(u->sources[1], want);
        snprintf(want, sizeof want, "%s/.kumo/build/local/todos.so", abs);
        CHECK_STR(u->so_path, want);
        /* a unit starts from defaults: and overrides what it says */
        CHECK(u->tuning.timeout_s == 120);
        CHECK(u->tuning.idle_s == 300);
        CHECK_INT(u->tuning.max, 4);
        CHECK_INT(u->tuning.memory, 128 << 20);
        CHECK_INT(u->tuning.queue, 64);
        CHECK_INT(u->tuning.sandbox_seccomp, 1);
    }
    const kumo__unit *auth = kumo__project_unit(p, "auth_check");
    if (auth) {
        CHECK_INT(auth->tuning.max_body, 10000000);
        CHECK(auth->tuning.timeout_s == 0.5);
    }
    CHECK(kumo__project_unit(p, "auth_check") != NULL);
    CHECK(kumo__project_unit(p, "nope") == NULL);
    CHECK_INT(p->nkv_stores, 2);
    if (p->nkv_stores == 2) {
        CHECK_STR(p->kv_stores[0], "todos");
        CHECK_STR(p->kv_stores[1], "sessions");
    }
    CHECK(p->doc != NULL);
    free(abs);
    kumo__project_free(p);
}

static void expect_error(const char *dir, int code, const char *want)
{
    kumo__project *p = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__project_load(dir, &p, &err), code);
    CHECK(p == NULL);
    CHECK_STR(err.msg, want);
}

static void test_fixture_errors(void)
{
    expect_error(FIX "proj_badkey", -EINVAL,
                 FIX "proj_badkey/kumo.yaml:3:1: unknown key 'fucntions' in kumo.yaml (did you mean 'functions'?); "
                     "expected one of: name, api, defaults, functions, stores, environments, events, services");
    expect_error(FIX "proj_noname", -EINVAL,
                 FIX "proj_noname/kumo.yaml:2:1: missing required key 'name'; add name: my-project");
    kumo__project *p = NULL;
    kumo__error err = {0};
    CHECK_INT(kumo__project_load(FIX "proj_nosource", &p, &err), -ENOENT);
    const char *want = FIX "proj_nosource/kumo.yaml:6:9: source 'src/todos.c' is not a file (looked for /";
    CHECK(strncmp(err.msg, want, strlen(want)) == 0);
    CHECK(strstr(err.msg, "fix the path or create the file") != NULL);
    expect_error(FIX "proj_wrongtype", -EINVAL,
                 FIX "proj_wrongtype/kumo.yaml:4:12: defaults.timeout: expected a duration like \"10s\", \"500ms\" "
                     "or \"2m\", or a number of seconds");
    CHECK_INT(kumo__project_load(FIX "no-such-dir", &p, &err), -ENOENT);
    CHECK(strstr(err.msg, "no-such-dir: cannot open the project directory") != NULL);
}

/* kumo.yaml text -> the message after "DIR/", or "" when it loads. */
static const struct {
    const char *yaml;
    const char *want;
} cases[] = {
    {"name: x\napi: api.yaml\ndefaults: {timeout: 10s, max_body: 1Mi}\n", ""},
    {"name: x\napi: api.yaml\ndefaults: {timeout: 3, max_body: 2048}\n", ""},
    {"name: My_App\napi: api.yaml\n",
     "kumo.yaml:1:7: name must be a string of a-z, 0-9 and '-' (like my-project)"},
    {"name: true\napi: api.yaml\n", "kumo.yaml:1:1: name must be a string of a-z, 0-9 and '-' (like my-project)"},
    {"name: x\n", "kumo.yaml:1:1: missing required key 'api'; add api: openapi.yaml"},
    {"name: x\napi: 42\n", "kumo.yaml:2:6: api must be the path of the OpenAPI document"},
    {"- a\n- b\n", "kumo.yaml:1:1: expected a mapping with name:, api: and functions:"},
    {"", "kumo.yaml: expected a mapping with name:, api: and functions:"},
    {"name: x\napi: api.yaml\ndefaults:\n  max_body: 1Xi\n",
     "kumo.yaml:4:13: defaults.max_body: expected a size like \"1Mi\", \"512Ki\" or \"10M\", or a number of bytes"},
    {"name: x\napi: api.yaml\ndefaults:\n  concurrency: 0\n",
     "kumo.yaml:4:16: defaults.concurrency: expected an integer of at least 1"},
    {"name: x\napi: api.yaml\ndefaults: {min: 3, max: 1}\n",
     "kumo.yaml:3:25: defaults.max (1) is below min (3); raise max or lower min"},
    {"name: x\napi: api.yaml\ndefaults: {tiemout: 1}\n",
     "kumo.yaml:3:12: unknown key 'tiemout' in defaults (did you mean 'timeout'?); expected one of: timeout, "
     "max_body, memory, min, max, idle, queue, concurrency, sandbox"},
    {"name: x\napi: api.yaml\nfunctions: [a]\n",
     "kumo.yaml:3:12: functions must be a mapping of name -> {sources: [...]}"},
    {"name: x\napi: api.yaml\nfunctions:\n  Bad.Name: {sources: [api.yaml]}\n",
     "kumo.yaml:4:3: function name 'Bad.Name' must be made of a-z, 0-9, '_' and '-' (it names a .so)"},
    {"name: x\napi: api.yaml\nfunctions:\n  f:\n    timeout: 1s\n",
     "kumo.yaml:4:3: functions.f has no sources; add sources: [src/f.c]"},
    {"name: x\napi: api.yaml\nfunctions:\n  f: {sources: [api.yaml], memroy: 1Mi}\n",
     "kumo.yaml:4:28: unknown key 'memroy' in functions.f (did you mean 'memory'?); expected one of: sources, "
     "timeout, max_body, memory, min, max, idle, queue, concurrency, sandbox"},
    {"name: x\napi: api.yaml\ndefaults: {sandbox: {seccomp: yes}}\n",
     "kumo.yaml:3:31: defaults.sandbox.seccomp must be true or false"},
    {"name: x\napi: api.yaml\ndefaults: {sandbox: {secomp: true}}\n",
     "kumo.yaml:3:22: unknown key 'secomp' in defaults.sandbox (did you mean 'seccomp'?); expected one of: seccomp, "
     "namespaces, limits, no_new_privs"},
    {"name: x\napi: api.yaml\nfunctions:\n  f: {sources: [api.yaml, 7]}\n",
     "kumo.yaml:4:27: functions.f.sources: each source must be a path string"},
    {"name: x\napi: api.yaml\nstores:\n  kv: [a, a]\n", "kumo.yaml:4:11: stores.kv: 'a' is listed twice; remove one"},
    {"name: x\napi: api.yaml\nstores:\n  queue: jobs\n", "kumo.yaml:4:10: stores.queue must be a list of names"},
    {"name: x\napi: api.yaml\nstores:\n  cache: []\n",
     "kumo.yaml:4:3: unknown key 'cache' in stores; expected one of: kv, blob, queue"},
    {"name: x\napi: api.yaml\nevents: every day\n", "kumo.yaml:3:9: events must be a mapping or a list"},
    {"name: x\napi: missing.yaml\n",
     "kumo.yaml:2:6: api 'missing.yaml' is not a file (looked for DIR/missing.yaml); fix the path or create the file"},
    {"name: x\napi: api.yaml\nname: y\n", "kumo.yaml:3:1: duplicate key 'name' (first at line 1, column 1); remove one"},
};

static void test_table(void)
{
    char dir[] = "/tmp/kumo-test-project-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char path[256], abs[4096];
    snprintf(path, sizeof path, "%s/api.yaml", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK(realpath(dir, abs) != NULL);
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f = fopen(path, "w");
        if (f == NULL) {
            CHECK(!"fopen");
            break;
        }
        fputs(cases[i].yaml, f);
        fclose(f);
        kumo__project *p = NULL;
        kumo__error err = {0};
        int rc = kumo__project_load(dir, &p, &err);
        if (cases[i].want[0] == '\0') {
            CHECK_INT(rc, 0);
            if (rc)
                fprintf(stderr, "case %zu: %s\n", i, err.msg);
            kumo__project_free(p);
            continue;
        }
        CHECK(rc < 0);
        /* messages start with the directory as given; DIR stands for the absolute one */
        char want[4096], got[4096];
        snprintf(want, sizeof want, "%s/%s", dir, cases[i].want);
        const char *d = strlen(err.msg) > strlen(dir) ? strstr(err.msg + strlen(dir), abs) : NULL;
        if (d)
            snprintf(got, sizeof got, "%.*sDIR%s", (int)(d - err.msg), err.msg, d + strlen(abs));
        else
            snprintf(got, sizeof got, "%s", err.msg);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "case %zu:\n", i);
        CHECK_STR(got, want);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/api.yaml", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_ok();
    test_fixture_errors();
    test_table();
    return check_report();
}
