/*
 * test_project.c: project.c loads kumo.yaml: a full project, then each
 * mistake a user makes, with the exact file:line:col of the message.
 * Fixture projects live in openapi/fixtures/proj_*; table cases write a
 * kumo.yaml into a temporary directory.
 */
#include "project/project.h"
#include "project/store_plan.h"

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
    /* one list, kv then blob then queue, each with its kind */
    CHECK_INT(p->nstores, 3);
    if (p->nstores == 3) {
        CHECK_STR(p->stores[0].name, "todos");
        CHECK_INT(p->stores[0].kind, KUMO__STORE_KV);
        CHECK_STR(p->stores[1].name, "sessions");
        CHECK_INT(p->stores[1].kind, KUMO__STORE_KV);
        CHECK_STR(p->stores[2].name, "uploads");
        CHECK_INT(p->stores[2].kind, KUMO__STORE_BLOB);
    }
    CHECK_STR(kumo__project_store_kind(p, "uploads"), "blob");
    CHECK_INT(p->nenvironments, 1);
    const kumo__environment *prod = kumo__project_environment(p, "prod");
    CHECK(prod != NULL);
    if (prod) {
        CHECK_STR(prod->region, "eu-west-1");
        CHECK(prod->target == NULL);
        CHECK_INT(prod->nstores, 0);
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
                     "expected one of: name, api, defaults, functions, stores, environments, events, services, "
                     "http, observability, monitors, alerts, security, env");
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
    {"name: My_App\napi: api.yaml\n", "kumo.yaml:1:7: name must be a string of a-z, 0-9 and '-' (like my-project)"},
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
     "timeout, max_body, memory, min, max, idle, queue, concurrency, sandbox, env, cflags, pkg_config, libs"},
    /* env: (project/env.c) */
    {"name: x\napi: api.yaml\nenv:\n  DB_PASSWORD: hunter2\n",
     "kumo.yaml:4:16: env.DB_PASSWORD looks like a credential and is written as a literal: kumo.yaml is not the "
     "place for it; put it in the environment and write \"${env:DB_PASSWORD}\" (or a mounted file: "
     "\"${file:PATH}\")"},
    {"name: x\napi: api.yaml\nenv:\n  KUMO_STORE_X: a\n",
     "kumo.yaml:4:3: env: KUMO_STORE_X is kumo's own (KUMO_* and PORT are set by kumo and the platforms); rename it"},
    {"name: x\napi: api.yaml\nenv:\n  9LIVES: a\n",
     "kumo.yaml:4:3: env: '9LIVES' is not a variable name: letters, digits and '_', not starting with a digit"},
    {"name: x\napi: api.yaml\nenv:\n  RATIO: 1.5\n",
     "kumo.yaml:4:10: env.RATIO must be a string (quote a number with a fraction: \"1.5\"), an integer or true/false"},
    {"name: x\napi: api.yaml\nenv:\n  A: \"${vault:x}\"\n",
     "kumo.yaml:4:6: env.A: a reference is ${env:NAME} or ${file:PATH}; '$' followed by '{' starts one"},
    {"name: x\napi: api.yaml\nenv: [A]\n",
     "kumo.yaml:3:6: env must be a mapping of variable name -> value (a string, or a reference: \"${env:NAME}\", "
     "\"${file:PATH}\")"},
    {"name: x\napi: api.yaml\nfunctions:\n  f: {sources: [api.yaml], env: {TOKEN: abc}}\n",
     "kumo.yaml:4:41: functions.f.env.TOKEN looks like a credential and is written as a literal: kumo.yaml is not "
     "the place for it; put it in the environment and write \"${env:TOKEN}\" (or a mounted file: \"${file:PATH}\")"},
    {"name: x\napi: api.yaml\nenvironments:\n  prod: {env: {A: [1]}}\n",
     "kumo.yaml:4:19: environments.prod.env.A must be a string (quote a number with a fraction: \"1.5\"), an integer "
     "or true/false"},
    /* a unit's own flags (project/unit_libs.c) */
    {"name: x\napi: api.yaml\nfunctions:\n  f: {sources: [api.yaml], cflags: [-o, x]}\n",
     "kumo.yaml:4:37: functions.f.cflags: each entry is one of the compiler flags (like -Iinclude or -DNAME=1), as "
     "one string without spaces; -o is kumo's"},
    {"name: x\napi: api.yaml\nfunctions:\n  f: {sources: [api.yaml], pkg_config: [\"zlib; rm\"]}\n",
     "kumo.yaml:4:41: functions.f.pkg_config: each entry is one of the pkg-config package names (like sqlite3 or "
     "zlib), as one string without spaces"},
    {"name: x\napi: api.yaml\nfunctions:\n  f: {sources: [api.yaml], libs: -lz}\n",
     "kumo.yaml:4:34: functions.f.libs must be a list of at most 64 linker flags (like -lz or -Llib)"},
    /* environments.NAME.embedded */
    {"name: x\napi: api.yaml\nstores: {kv: [a]}\nenvironments:\n  prod: {embedded: [b]}\n",
     "kumo.yaml:5:21: environments.prod.embedded: 'b' is not a store declared under stores:"},
    {"name: x\napi: api.yaml\nstores: {kv: [a]}\nenvironments:\n  prod: {stores: {a: 'redis://h/0'}, embedded: [a]}\n",
     "kumo.yaml:5:49: environments.prod.embedded: store 'a' is placed by environments.prod.stores, so it is not "
     "embedded; remove one of the two"},
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
     "kumo.yaml:4:3: unknown key 'cache' in stores; expected one of: kv, blob, queue, topic"},
    {"name: x\napi: api.yaml\nhttp: {max_headers: 50, max_header_bytes: 16Ki, max_connections: 10, body_budget: "
     "64Mi}\n",
     ""},
    {"name: x\napi: api.yaml\nhttp: 7\n",
     "kumo.yaml:3:7: http must be a mapping (max_headers:, max_header_bytes:, ...)"},
    {"name: x\napi: api.yaml\nhttp: {max_header: 5}\n",
     "kumo.yaml:3:8: unknown key 'max_header' in http (did you mean 'max_headers'?); expected one of: max_headers, "
     "max_header_bytes, max_connections, body_budget, cors, tls, rate_limits"},
    {"name: x\napi: api.yaml\nhttp: {max_headers: 0}\n",
     "kumo.yaml:3:21: http.max_headers must be a whole number from 1 to 10000"},
    {"name: x\napi: api.yaml\nhttp: {max_header_bytes: 100}\n",
     "kumo.yaml:3:26: http.max_header_bytes must be a size from 1Ki to 16Mi (like 16Ki)"},
    {"name: x\napi: api.yaml\nhttp: {body_budget: 1Mi}\ndefaults: {max_body: 1Mi}\n",
     "kumo.yaml:3:21: http.body_budget (1048576 bytes) must hold at least two of the largest max_body (1048576 "
     "bytes): a body is held twice while it is served; raise it or lower max_body"},
    {"name: x\napi: api.yaml\nevents: every day\n",
     "kumo.yaml:3:9: events must be a mapping of name -> {schedule: \"0 3 * * *\", handler: UNIT.SYMBOL}"},
    {"name: x\napi: api.yaml\nevents: [purge]\n",
     "kumo.yaml:3:9: events must be a mapping of name -> {schedule: \"0 3 * * *\", handler: UNIT.SYMBOL}"},
    {"name: x\napi: api.yaml\nevents: []\n", ""},
    {"name: x\napi: api.yaml\nevents: {}\n", ""},
    /* events: schedules (issue 13); the other sources are refused by name */
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "timezone: Europe/Zurich, handler: todos.purge, missed: once, "
     "overlap: true}\n",
     ""},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  tick: {schedule: every 30s, "
     "handler: todos.tick}\n  weekly: {schedule: \"@weekly\", handler: todos._w2}\n",
     ""},
    /* queue consumers (issue 13, slice 2) */
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 20s}\n",
     ""},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, batch: 100, visibility: 1m, max_receives: 1000, backoff: 5m}\n",
     ""},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 1m}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge}\n",
     "kumo.yaml:7:11: events.purge.visibility (30 s, the default) is shorter than the timeout of unit 'todos' (60 s): "
     "a "
     "message would come back to another worker while its handler still runs; set visibility: to at least 60s"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 10s}\n",
     "kumo.yaml:7:58: events.purge.visibility (10 s) is shorter than the timeout of unit 'todos' (20 s): a message "
     "would come back to another worker while its handler still runs; set visibility: to at least 20s"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: mail, handler: "
     "todos.purge, visibility: 20s}\n",
     "kumo.yaml:7:18: events.purge.queue: no queue 'mail' under stores: queue: (there are: jobs)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 20s, batch: 101}\n",
     "kumo.yaml:7:70: events.purge.batch must be a whole number from 1 to 100"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 20s, window: 200ms}\n",
     "kumo.yaml:7:63: events.purge.window waits to fill a batch, and batch: is 1; set batch: above 1 or remove "
     "window:"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 20s, batch: 10, window: 200ms, data: '#/components/schemas/Job'}\n",
     ""},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 20s, batch: 10, window: 6m}\n",
     "kumo.yaml:7:82: events.purge.window must be a duration like \"30s\", \"500ms\" or \"2m\" (0s to 5m)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 20s, data: Job}\n",
     "kumo.yaml:7:69: events.purge.data must be a reference to a schema of the OpenAPI document, like "
     "'#/components/schemas/Order' (quote it: '#' starts a YAML comment)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, handler: "
     "todos.purge, visibility: 20s, timezone: UTC}\n",
     "kumo.yaml:7:63: unknown key 'timezone' in events.purge; expected one of: queue, handler, batch, window, "
     "visibility, max_receives, backoff, data"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml], timeout: 20s}\nstores: {queue: "
     "[jobs]}\nevents:\n  purge: {queue: jobs, schedule: "
     "\"@daily\", handler: todos.purge}\n",
     "kumo.yaml:7:11: events.purge has two sources (schedule: and queue:); an event has one: split it in two"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  thumbs: {blob: files, on: "
     "[created], handler: todos.thumb}\n",
     "kumo.yaml:6:18: events.thumbs.blob: no blob 'files' under stores: blob:; declare it there"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nstores: {blob: [files]}\nevents:\n  thumbs: "
     "{blob: files, on: [created, moved], handler: todos.thumb}\n",
     "kumo.yaml:7:29: events.thumbs.on must be created, deleted or a list of them (like [created, deleted])"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nstores: {blob: [files]}\nevents:\n  thumbs: "
     "{blob: files, on: deleted, prefix: img/, suffix: .png, handler: todos.thumb}\n",
     ""},
    /* topics run (gateway/topics.c): a topic and its subscribed event load */
    {"name: x\napi: api.yaml\nstores: {topic: [orders]}\n", ""},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nstores: {topic: [orders]}\nevents:\n  "
     "billing: {topic: orders, handler: todos.charge, batch: 2}\n",
     ""},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nstores: {blob: [files]}\nevents:\n  thumbs: "
     "{blob: files, batch: 10, handler: todos.thumb}\n",
     "kumo.yaml:7:25: unknown key 'batch' in events.thumbs; expected one of: blob, on, prefix, suffix, handler, "
     "visibility, max_receives, backoff"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  billing: {topic: orders, handler: "
     "todos.charge}\n",
     "kumo.yaml:6:20: events.billing.topic: no topic 'orders' under stores: topic:; declare it there"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  ext:\n    cloudevent: {source: "
     "/shop}\n    handler: todos.ext\n",
     "kumo.yaml:7:5: events.ext.cloudevent has no type; add type: (the CloudEvents type to route here, like "
     "com.example.order.created)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  ext:\n    cloudevent: {type: "
     "com.example, kind: x}\n    handler: todos.ext\n",
     "kumo.yaml:7:37: unknown key 'kind' in events.ext.cloudevent; expected one of: type, source"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos.purge, timzone: UTC}\n",
     "kumo.yaml:6:56: unknown key 'timzone' in events.purge (did you mean 'timezone'?); expected one of: schedule, "
     "timezone, handler, missed, overlap"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  Purge: {schedule: \"0 3 * * *\", "
     "handler: todos.purge}\n",
     "kumo.yaml:6:3: event name 'Purge' must be made of a-z, 0-9, '_' and '-'"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: \"0 3 * * *\"\n",
     "kumo.yaml:6:10: events.purge must be a mapping like {schedule: \"0 3 * * *\", handler: UNIT.SYMBOL}"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {handler: todos.purge}\n",
     "kumo.yaml:6:3: events.purge has no source; add one of schedule: \"0 3 * * *\" (cron, @daily or every 5m), "
     "queue: NAME, topic: NAME, blob: NAME (stores under stores:) or cloudevent: {type: T}"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * "
     "*\"}\n",
     "kumo.yaml:6:3: events.purge has no handler; add handler: UNIT.SYMBOL"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 24 * * *\", "
     "handler: todos.purge}\n",
     "kumo.yaml:6:21: events.purge.schedule: field 2 (hour): 24 is out of 0-23"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge:\n    handler: "
     "todos.purge\n    schedule: \"@fortnightly\"\n",
     "kumo.yaml:8:15: events.purge.schedule: unknown schedule '@fortnightly'; the names are @yearly, @annually, "
     "@monthly, @weekly, @daily, @midnight and @hourly"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: 5, handler: "
     "todos.purge}\n",
     "kumo.yaml:6:21: events.purge.schedule must be a cron expression in quotes (like \"0 3 * * *\")"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos.purge, timezone: Mars/Base}\n",
     "kumo.yaml:6:66: events.purge.timezone: unknown time zone 'Mars/Base': /usr/share/zoneinfo has no such zone "
     "(No such file or directory); use an IANA name such as Europe/Zurich, or set TZDIR"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos.purge, timezone: ../../etc/passwd}\n",
     "kumo.yaml:6:66: events.purge.timezone: time zone '../../etc/passwd' is not an IANA zone name (letters, "
     "digits, _ + - and /, such as Europe/Zurich)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: mail.purge}\n",
     "kumo.yaml:6:43: events.purge.handler: no function unit 'mail' under functions: (there are: todos)"},
    {"name: x\napi: api.yaml\nevents:\n  purge: {schedule: \"0 3 * * *\", handler: mail.purge}\n",
     "kumo.yaml:4:43: events.purge.handler: no function unit 'mail' under functions:; declare it there"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos}\n",
     "kumo.yaml:6:43: events.purge.handler must be UNIT.SYMBOL: a function unit under functions: and the C function "
     "to call in it (like todos.purge)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos.9lives}\n",
     "kumo.yaml:6:43: events.purge.handler must be UNIT.SYMBOL: a function unit under functions: and the C function "
     "to call in it (like todos.purge)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos.purge, missed: twice}\n",
     "kumo.yaml:6:64: events.purge.missed must be skip (the default: runs missed while kumo was down are dropped) or "
     "once (one run makes up for them)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos.purge, overlap: sometimes}\n",
     "kumo.yaml:6:65: events.purge.overlap must be true or false (false, the default, skips a tick while the last "
     "run still goes)"},
    {"name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n  purge: {schedule: \"0 3 * * *\", "
     "handler: todos.purge}\n  purge: {schedule: \"0 4 * * *\", handler: "
     "todos.purge}\n",
     "kumo.yaml:7:3: duplicate key 'purge' (first at line 6, column 3); remove one"},
    /* services: (issue 15; project/services.c) */
    {"name: x\napi: api.yaml\nservices: [stripe]\n",
     "kumo.yaml:3:11: services must be a mapping of name -> {spec:, url:, headers:, timeout:, ...}"},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, url: \"https://pay.example/v1\", timeout: 2s, "
     "max_response: 2Mi, headers: {Authorization: \"Bearer ${env:PAY_TOKEN}\", X-Client: kumo}, mock: {mode: "
     "stateful, seed: 7}}\nenvironments:\n  prod: {services: {pay: {url: \"https://pay.prod.example\"}}}\n",
     ""},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, headers: {Authorization: \"Bearer sk_live_1\"}}\n",
     "kumo.yaml:4:50: services.pay.headers.Authorization is a credential written in kumo.yaml; put it in the "
     "environment: ${env:NAME} (or a mounted file: ${file:PATH}), e.g. \"Bearer ${env:PAY_TOKEN}\""},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, headers: {X-Api-Key: abc}}\n",
     "kumo.yaml:4:46: services.pay.headers.X-Api-Key is a credential written in kumo.yaml; put it in the "
     "environment: ${env:NAME} (or a mounted file: ${file:PATH}), e.g. \"Bearer ${env:PAY_TOKEN}\""},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, headers: {X-Token: \"${vault:x}\"}}\n",
     "kumo.yaml:4:44: services.pay.headers.X-Token: a reference is ${env:NAME} or ${file:PATH}; '$' followed by '{' "
     "starts one"},
    {"name: x\napi: api.yaml\nservices:\n  pay: {url: \"https://pay.example\"}\n",
     "kumo.yaml:4:3: services.pay has no spec:; give the service's OpenAPI document, a file in the project (spec: "
     "services/pay.yaml)"},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, url: \"ftp://pay.example\"}\n",
     "kumo.yaml:4:30: services.pay.url must be an http:// or https:// URL with a host and no credentials, like "
     "https://api.example.com/v1"},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, url: \"https://u:p@pay.example\"}\n",
     "kumo.yaml:4:30: services.pay.url must be an http:// or https:// URL with a host and no credentials, like "
     "https://api.example.com/v1"},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, retry: 3}\n",
     "kumo.yaml:4:25: unknown key 'retry' in services.pay; expected one of: spec, url, headers, timeout, "
     "max_response, mock"},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml, mock: {mode: live}}\n",
     "kumo.yaml:4:38: services.pay.mock.mode must be static, stateful, replay or record"},
    {"name: x\napi: api.yaml\nservices:\n  Pay: {spec: api.yaml}\n",
     "kumo.yaml:4:3: service name 'Pay' must be made of a-z, 0-9, '_' and '-' (like payments)"},
    {"name: x\napi: api.yaml\nservices:\n  pay: {spec: api.yaml}\nenvironments:\n  prod: {services: {shop: {url: "
     "\"https://x.example\"}}}\n",
     "kumo.yaml:6:21: environments.prod.services.shop: service 'shop' is not declared under services:; add it there "
     "(with its spec:), or remove it here"},
    {"name: x\napi: missing.yaml\n",
     "kumo.yaml:2:6: api 'missing.yaml' is not a file (looked for DIR/missing.yaml); fix the path or create the file"},
    {"name: x\napi: api.yaml\nname: y\n",
     "kumo.yaml:3:1: duplicate key 'name' (first at line 1, column 1); remove one"},
    /* stores: one variable per name, across kinds */
    {"name: x\napi: api.yaml\nstores: {kv: [a], blob: [a]}\n",
     "kumo.yaml:3:26: stores.blob: 'a' and stores.kv: 'a' would share the variable KUMO_STORE_A; rename one"},
    {"name: x\napi: api.yaml\nstores: {kv: [a-b, a_b]}\n",
     "kumo.yaml:3:20: stores.kv: 'a_b' and stores.kv: 'a-b' would share the variable KUMO_STORE_A_B; rename one"},
    /* environments: */
    {"name: x\napi: api.yaml\nstores: {kv: [todos], queue: [jobs]}\nenvironments:\n  dev:\n  prod:\n"
     "    target: aws\n    region: eu-west-1\n    stores: {todos: \"dynamodb://todo\", jobs: \"sqs://jobs\"}\n",
     ""},
    {"name: x\napi: api.yaml\nenvironments: {}\n", ""},
    {"name: x\napi: api.yaml\nenvironments: [dev]\n",
     "kumo.yaml:3:15: environments must be a mapping of name -> {target:, region:, stores: {STORE: URL}}"},
    {"name: x\napi: api.yaml\nenvironments:\n  Prod: {}\n",
     "kumo.yaml:4:3: environment name 'Prod' must be made of a-z, 0-9, '_' and '-' (like dev or prod)"},
    {"name: x\napi: api.yaml\nenvironments:\n  dev: redis\n",
     "kumo.yaml:4:8: environments.dev must be a mapping with target:, region: or stores:"},
    {"name: x\napi: api.yaml\nenvironments:\n  dev: {stroes: {}}\n",
     "kumo.yaml:4:9: unknown key 'stroes' in environments.dev (did you mean 'stores'?); expected one of: target, "
     "region, stores, services, security, env, embedded"},
    {"name: x\napi: api.yaml\nenvironments:\n  prod: {target: 7}\n",
     "kumo.yaml:4:18: environments.prod.target must be a deploy target name like aws"},
    {"name: x\napi: api.yaml\nenvironments:\n  prod: {region: \"\"}\n",
     "kumo.yaml:4:18: environments.prod.region must be a region name like eu-west-1"},
    {"name: x\napi: api.yaml\nenvironments:\n  dev: {stores: [todos]}\n",
     "kumo.yaml:4:17: environments.dev.stores must be a mapping of store name -> URL"},
    {"name: x\napi: api.yaml\nstores: {kv: [todos]}\nenvironments:\n  dev:\n    stores:\n"
     "      todos: \"redis://h/0\"\n      tods: \"redis://h/1\"\n",
     "kumo.yaml:8:7: environments.dev.stores: store 'tods' is not declared under stores:; add it to stores: kv: "
     "(or blob:, queue:), or remove it here"},
    {"name: x\napi: api.yaml\nenvironments:\n  dev: {stores: {todos: \"redis://h/0\"}}\n",
     "kumo.yaml:4:18: environments.dev.stores: store 'todos' is not declared under stores:; add it to stores: kv: "
     "(or blob:, queue:), or remove it here"},
    {"name: x\napi: api.yaml\nstores: {blob: [files]}\nenvironments:\n  dev: {stores: {files: /srv/files}}\n",
     "kumo.yaml:5:25: environments.dev.stores.files must be a URL with a scheme, like redis://127.0.0.1:6379/0, "
     "sqlite:/var/lib/app/kv.db or dynamodb://table"},
    {"name: x\napi: api.yaml\nstores: {blob: [files]}\nenvironments:\n  dev: {stores: {files: true}}\n",
     "kumo.yaml:5:18: environments.dev.stores.files must be a URL with a scheme, like redis://127.0.0.1:6379/0, "
     "sqlite:/var/lib/app/kv.db or dynamodb://table"},
    {"name: x\napi: api.yaml\nstores: {kv: [todos]}\nenvironments:\n  dev: {stores: {todos: \"sqlite:\"}}\n",
     "kumo.yaml:5:25: environments.dev.stores.todos must be a URL with a scheme, like redis://127.0.0.1:6379/0, "
     "sqlite:/var/lib/app/kv.db or dynamodb://table"},
    {"name: x\napi: api.yaml\nobservability:\n  metrics: {history: 12h, history_max: 8Mi}\n  traces: {endpoint: "
     "http://127.0.0.1:4318, sampler: traceidratio, ratio: 0.25, buffer: 100}\n  logs: {max_size: 0}\n",
     ""},
    {"name: x\napi: api.yaml\nobservability: {metrix: {}}\n",
     "kumo.yaml:3:17: unknown key 'metrix' in observability (did you mean 'metrics'?); expected one of: enabled, "
     "metrics, traces, logs"},
    {"name: x\napi: api.yaml\nobservability: {traces: {sampler: sometimes}}\n",
     "kumo.yaml:3:35: observability.traces.sampler must be one of always_on, always_off, traceidratio, "
     "parentbased_always_on, parentbased_always_off, parentbased_traceidratio"},
    {"name: x\napi: api.yaml\nobservability: {traces: {endpoint: 127.0.0.1:4318}}\n",
     "kumo.yaml:3:36: observability.traces.endpoint must be an http:// or https:// URL (an OTLP/HTTP "
     "collector, like http://127.0.0.1:4318)"},
    {"name: x\napi: api.yaml\nobservability: {traces: {ratio: 2}}\n",
     "kumo.yaml:3:33: observability.traces.ratio must be a number from 0 to 1"},
    {"name: x\napi: api.yaml\nobservability: {metrics: {history: 10s}}\n",
     "kumo.yaml:3:36: observability.metrics.history must be a duration from 1m to 2160h (90 days; like "
     "24h), or 0 to keep no history"},
    {"name: x\napi: api.yaml\nobservability: {logs: {max_size: 1Ki}}\n",
     "kumo.yaml:3:34: observability.logs.max_size must be a size of at least 1Mi (like 64Mi), or 0 to keep "
     "no log store"},
    {"name: x\napi: api.yaml\nobservability: {logs: {keep: 1d}}\n",
     "kumo.yaml:3:24: unknown key 'keep' in observability.logs; expected one of: max_size"},
    {"name: x\napi: api.yaml\nobservability: {enabled: false}\n", ""},
    {"name: x\napi: api.yaml\nobservability: {enabled: 0}\n",
     "kumo.yaml:3:26: observability.enabled must be true or false"},
    {"name: x\napi: api.yaml\nobservability: [metrics]\n",
     "kumo.yaml:3:16: observability must be a mapping (enabled:, metrics:, traces:, logs:)"},
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

/* A project in a fresh directory with kumo.yaml `yaml`; NULL on failure. */
static kumo__project *load_text(char *dir, const char *yaml)
{
    char path[256];
    kumo__project *p = NULL;
    kumo__error err = {0};
    if (mkdtemp(dir) == NULL)
        return NULL;
    snprintf(path, sizeof path, "%s/api.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    if ((f = fopen(path, "w")) == NULL)
        return NULL;
    fputs(yaml, f);
    fclose(f);
    if (kumo__project_load(dir, &p, &err) != 0)
        fprintf(stderr, "load_text: %s\n", err.msg);
    return p;
}

static void remove_text(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/api.yaml", dir);
    unlink(path);
    rmdir(dir);
}

/* KUMO_STORE_<NAME> beats the environment's URL, which beats the default. */
/* The URL the plan gives `name`, into buf; "(error)" when the plan cannot
 * be built, "(none)" for an undeclared store. */
static const char *url_of(const kumo__project *p, const char *env, char *const *vars, const char *name, char *buf)
{
    kumo__store_plan plan;
    kumo__error err = {0};
    if (kumo__store_plan_build(p, env, vars, NULL, NULL, &plan, &err) != 0)
        return strcpy(buf, "(error)");
    const kumo__store_place *s = kumo__store_plan_find(&plan, name);
    snprintf(buf, 4096, "%s", s ? s->url : "(none)");
    kumo__store_plan_free(&plan);
    return buf;
}

static int nmoved;
static void count_moved(const kumo__store_place *kept, const char *wanted)
{
    (void)kept;
    (void)wanted;
    nmoved++;
}

/* The plan: where the URL came from, what a worker's environment holds,
 * and a reload's rule (a placed store never moves). */
static void test_plan(const kumo__project *p)
{
    kumo__store_plan dev, prod, again;
    kumo__error err = {0};
    char *base[] = {"PATH=/bin", "KUMO_STORE_STALE=sqlite:/old.db", "HOME=/root", NULL};
    CHECK_INT(kumo__store_plan_build(p, "dev", base, NULL, NULL, &dev, &err), 0);
    CHECK_INT(dev.n, p->nstores);
    CHECK_STR(dev.env, "dev");
    const kumo__store_place *todos = kumo__store_plan_find(&dev, "todos");
    CHECK(todos != NULL && todos->origin == KUMO__STORE_FROM_ENVIRONMENT && todos->line == 7 && todos->col == 14);
    CHECK(todos != NULL && todos->needs_net && todos->fresh && !todos->kept);
    CHECK(todos != NULL && strcmp(todos->var, "KUMO_STORE_TODOS") == 0);
    const kumo__store_place *files = kumo__store_plan_find(&dev, "files");
    CHECK(files != NULL && files->origin == KUMO__STORE_FROM_DEFAULT && !files->needs_net);
    CHECK_INT(kumo__store_plan_needs_net(&dev), 1);
    char fix[512];
    kumo__store_place_fix(p, &dev, todos, fix, sizeof fix);
    CHECK(strstr(fix, "fix environments.dev.stores.todos in ") && strstr(fix, "kumo.yaml:7:14"));

    /* the workers' environment: kumo's, less its own KUMO_STORE_*, plus one per store */
    char **envp = kumo__store_plan_envp(&dev, base);
    CHECK(envp != NULL);
    size_t n = 0, stores = 0;
    int stale = 0, path = 0;
    for (; envp && envp[n]; n++) {
        stale |= strncmp(envp[n], "KUMO_STORE_STALE=", 17) == 0;
        path |= strcmp(envp[n], "PATH=/bin") == 0;
        stores += strncmp(envp[n], "KUMO_STORE_", 11) == 0;
        if (strncmp(envp[n], "KUMO_STORE_TODOS=", 17) == 0)
            CHECK_STR(envp[n] + 17, "redis://127.0.0.1:6390/0");
    }
    CHECK_INT(stale, 0);
    CHECK_INT(path, 1);
    CHECK_INT(stores, p->nstores);
    CHECK_INT(n, 2 + p->nstores);
    free(envp);

    /* a reload to prod keeps every store where dev placed it, and says so */
    nmoved = 0;
    CHECK_INT(kumo__store_plan_build(p, "prod", base, &dev, count_moved, &prod, &err), 0);
    const kumo__store_place *kept = kumo__store_plan_find(&prod, "todos");
    CHECK(kept != NULL && kept->kept && !kept->fresh);
    CHECK(kept != NULL && strcmp(kept->url, "redis://127.0.0.1:6390/0") == 0);
    CHECK(nmoved >= 1);
    /* nothing moved: nothing said */
    nmoved = 0;
    CHECK_INT(kumo__store_plan_build(p, "prod", base, &prod, count_moved, &again, &err), 0);
    CHECK_INT(nmoved, 0);
    kumo__store_plan_free(&again);
    kumo__store_plan_free(&prod);
    kumo__store_plan_free(&dev);
}

static void test_store_urls(void)
{
    char dir[] = "/tmp/kumo-test-stores-XXXXXX";
    kumo__project *p =
        load_text(dir, "name: x\n"
                       "api: api.yaml\n"
                       "stores: {kv: [todos, user-sessions], blob: [files], queue: [jobs]}\n"
                       "environments:\n"
                       "  dev:\n"
                       "    stores:\n"
                       "      todos: \"redis://127.0.0.1:6390/0\"\n"
                       "  prod:\n"
                       "    target: aws\n"
                       "    region: eu-west-1\n"
                       "    stores: {todos: \"dynamodb://todo?region=eu-west-1\", files: \"s3://bucket\"}\n");
    CHECK(p != NULL);
    if (p == NULL)
        return;
    char buf[4096], want[4096];
    const char *abs = p->dir;
    unsetenv("KUMO_STORE_TODOS");
    unsetenv("KUMO_STORE_USER_SESSIONS");
    unsetenv("KUMO_STORE_FILES");
    unsetenv("KUMO_STORE_JOBS");

    CHECK_INT(p->nenvironments, 2);
    const kumo__environment *prod = kumo__project_environment(p, "prod");
    CHECK(prod != NULL);
    if (prod) {
        CHECK_STR(prod->target, "aws");
        CHECK_STR(prod->region, "eu-west-1");
        CHECK_INT(prod->nstores, 2);
        const kumo__store_url *su = kumo__environment_store(prod, "files");
        CHECK(su != NULL);
        if (su) {
            CHECK_STR(su->url, "s3://bucket");
            CHECK_INT(su->line, 11);
            CHECK_INT(su->col, 64);
        }
        CHECK(kumo__environment_store(prod, "jobs") == NULL);
    }
    const kumo__store_url *dev_todos = kumo__environment_store(kumo__project_environment(p, "dev"), "todos");
    CHECK(dev_todos != NULL);
    if (dev_todos) {
        CHECK_INT(dev_todos->line, 7);
        CHECK_INT(dev_todos->col, 14);
    }

    /* defaults, per kind */
    snprintf(want, sizeof want, "sqlite:%s/.kumo/data/kv.db", abs);
    CHECK_STR(url_of(p, "prod", NULL, "user-sessions", buf), want);
    snprintf(want, sizeof want, "sqlite:%s/.kumo/data/queue.db", abs);
    CHECK_STR(url_of(p, "prod", NULL, "jobs", buf), want);
    snprintf(want, sizeof want, "file:%s/.kumo/data/blob", abs);
    CHECK_STR(url_of(p, "dev", NULL, "files", buf), want);
    /* the environment's URL beats the default */
    CHECK_STR(url_of(p, "dev", NULL, "todos", buf), "redis://127.0.0.1:6390/0");
    CHECK_STR(url_of(p, "prod", NULL, "todos", buf), "dynamodb://todo?region=eu-west-1");
    CHECK_STR(url_of(p, "prod", NULL, "files", buf), "s3://bucket");
    /* the variable beats both; an empty one counts as unset */
    char *vars1[] = {"PATH=/bin", "KUMO_STORE_TODOS=sqlite:/elsewhere/kv.db",
                     "KUMO_STORE_USER_SESSIONS=redis://other/2", NULL};
    char *vars2[] = {"KUMO_STORE_TODOS=", NULL};
    CHECK_STR(url_of(p, "prod", vars1, "todos", buf), "sqlite:/elsewhere/kv.db");
    CHECK_STR(url_of(p, NULL, vars1, "todos", buf), "sqlite:/elsewhere/kv.db");
    CHECK_STR(url_of(p, "dev", vars1, "user-sessions", buf), "redis://other/2");
    CHECK_STR(url_of(p, "dev", vars2, "todos", buf), "redis://127.0.0.1:6390/0");
    /* an undefined environment */
    CHECK_STR(url_of(p, "staging", NULL, "todos", buf), "(error)");
    test_plan(p);

    /* --env: the asked one, else dev when defined; an unknown one lists them */
    const char *env = "x";
    kumo__error err = {0};
    CHECK_INT(kumo__project_pick_environment(p, NULL, &env, &err), 0);
    CHECK_STR(env, "dev");
    CHECK_INT(kumo__project_pick_environment(p, "prod", &env, &err), 0);
    CHECK_STR(env, "prod");
    CHECK_INT(kumo__project_pick_environment(p, "nope", &env, &err), -EINVAL);
    CHECK(env == NULL);
    snprintf(want, sizeof want, "%s/kumo.yaml: environment 'nope' is not defined; defined: dev, prod", dir);
    CHECK_STR(err.msg, want);
    kumo__project_free(p);
    remove_text(dir);

    char dir2[] = "/tmp/kumo-test-stores-XXXXXX";
    p = load_text(dir2, "name: x\napi: api.yaml\nstores: {kv: [todos]}\n");
    CHECK(p != NULL);
    if (p == NULL)
        return;
    env = "x";
    CHECK_INT(kumo__project_pick_environment(p, NULL, &env, &err), 0);
    CHECK(env == NULL);
    CHECK_INT(kumo__project_pick_environment(p, "prod", &env, &err), -EINVAL);
    CHECK(strstr(err.msg, "environment 'prod' is not defined (there is no environments: section)") != NULL);
    kumo__project_free(p);
    remove_text(dir2);
}

static void test_store_var(void)
{
    char var[32];
    CHECK_INT(kumo__store_var("user-sessions", var, sizeof var), 0);
    CHECK_STR(var, "KUMO_STORE_USER_SESSIONS");
    CHECK_INT(kumo__store_var("a.b", var, sizeof var), -EINVAL);
    CHECK_INT(kumo__store_var("", var, sizeof var), -EINVAL);
    CHECK_INT(kumo__store_var("a-very-long-store-name-indeed", var, sizeof var), -ENAMETOOLONG);
}

static void test_redact(void)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"postgres://user:s3cret@db:5432/app", "postgres://user:****@db:5432/app"},
        {"redis://:pw@127.0.0.1:6379/0", "redis://:****@127.0.0.1:6379/0"},
        {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
        {"redis://user@host/0", "redis://user@host/0"},
        {"sqlite:/var/lib/a@b:c/kv.db", "sqlite:/var/lib/a@b:c/kv.db"},
        {"postgres://u:p@h/db?sslmode=require&password=x&Auth_Token=y#f",
         "postgres://u:****@h/db?sslmode=require&password=****&Auth_Token=****#f"},
        {"dynamodb://todo?region=eu-west-1&aws_secret_access_key=abc",
         "dynamodb://todo?region=eu-west-1&aws_secret_access_key=****"},
        {"s3://bucket/path?x=a@b:c", "s3://bucket/path?x=a@b:c"},
        /* a parameter that is a URL with credentials of its own */
        {"dynamodb://todos?endpoint=http://user:pw@127.0.0.1:5000&region=us-east-1",
         "dynamodb://todos?endpoint=****&region=us-east-1"},
        {"s3://b?endpoint=http%3A%2F%2Fu%3Apw%40h", "s3://b?endpoint=****"},
        {"s3://b?endpoint=http://127.0.0.1:5000", "s3://b?endpoint=http://127.0.0.1:5000"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_STR(kumo__store_url_redact(cases[i].url, buf, sizeof buf), cases[i].want);
    /* truncated, still terminated */
    CHECK_STR(kumo__store_url_redact("postgres://user:secret@h/db", buf, 20), "postgres://user:***");

    /* a driver's message that quotes a secret, as written or decoded */
    static const struct {
        const char *url, *msg, *want;
    } said[] = {
        {"redis://h/0?password=hunter2", "bad query parameter 'password=hunter2'",
         "bad query parameter 'password=****'"},
        {"postgres://u@h/db?password=hunter2%zz", "invalid percent-encoded token: \"hunter2%zz\"",
         "invalid percent-encoded token: \"****\""},
        {"postgres://u:s%40cret@h/db", "password authentication failed: s@cret",
         "password authentication failed: ****"},
        {"s3://b?token=abcdef&region=x", "token abcdef expired; abcdef", "token **** expired; ****"},
        {"redis://:pw@h/0", "pw is short: kept", "pw is short: kept"}, /* under 3 bytes: left alone */
        {"redis://h/0", "nothing secret", "nothing secret"},
    };
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        CHECK_STR(kumo__store_url_scrub(said[i].url, said[i].msg, buf, sizeof buf), said[i].want);
}

/* events: the fields the gateway and `kumo events` read */
static void test_events(void)
{
    char dir[] = "/tmp/kumo-test-events-XXXXXX";
    kumo__project *p =
        load_text(dir, "name: x\napi: api.yaml\nfunctions:\n  other: {sources: [api.yaml]}\n"
                       "  todos: {sources: [api.yaml]}\nevents:\n"
                       "  purge: {schedule: \"30 2 * * *\", timezone: Europe/Zurich, handler: todos.purge, "
                       "missed: once, overlap: true}\n"
                       "  tick: {schedule: every 30s, handler: other.tick}\n");
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(p->nevents, 2);
        if (p->nevents == 2) {
            kumo__event_decl *e = &p->events[0];
            CHECK_STR(e->name, "purge");
            CHECK_INT(e->kind, KUMO__EVENT_SCHEDULE);
            CHECK_STR(e->unit, "todos");
            CHECK_STR(e->symbol, "purge");
            CHECK_INT(e->unit_index, 1);
            CHECK_STR(e->schedule, "30 2 * * *");
            CHECK_STR(e->timezone, "Europe/Zurich");
            CHECK_INT(e->missed_once, 1);
            CHECK_INT(e->overlap, 1);
            CHECK_INT(e->line, 7);
            CHECK_INT(e->col, 3);
            CHECK(e->compiled != NULL);
            /* compiled in its zone: 2026-03-29 02:30 does not exist, 03:00 CEST = 01:00Z */
            if (e->compiled && e->tz)
                CHECK_INT(kumo__schedule_next(e->compiled, 1774699200000), 1774746000000);
            e = &p->events[1];
            CHECK_STR(e->name, "tick");
            CHECK_INT(e->unit_index, 0);
            CHECK(e->timezone == NULL);
            CHECK(e->tz == NULL);
            CHECK_INT(e->missed_once, 0);
            CHECK_INT(e->overlap, 0);
            CHECK_INT(kumo__schedule_next(e->compiled, 1000), 30000);
        }
        kumo__project_free(p);
    }
    remove_text(dir);

    /* cloudevent: runs (POST /_kumo/events): loaded, not refused */
    char dir2[] = "/tmp/kumo-test-events-XXXXXX";
    p = load_text(dir2, "name: x\napi: api.yaml\nfunctions:\n  todos: {sources: [api.yaml]}\nevents:\n"
                        "  ext: {cloudevent: {type: com.example.a, source: /shop}, handler: todos.ext}\n");
    CHECK(p != NULL);
    if (p && p->nevents == 1) {
        CHECK_INT(p->events[0].kind, KUMO__EVENT_CLOUDEVENT);
        CHECK_STR(p->events[0].ce_type, "com.example.a");
        CHECK_STR(p->events[0].ce_source, "/shop");
    }
    kumo__project_free(p);
    remove_text(dir2);
}

int main(void)
{
    test_ok();
    test_events();
    test_fixture_errors();
    test_table();
    test_store_urls();
    test_store_var();
    test_redact();
    return check_report();
}
