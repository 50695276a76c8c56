/*
 * test_monitors.c: kumo.yaml's monitors: and alerts: (src/project/monitors.c):
 * the defaults of an absent section, a full section read back, each
 * mistake refused at its kumo.yaml:line:column, an operation the spec does
 * not have named with a suggestion, and the keys reached through
 * kumo__project_load.
 */
#include "project/project.h"

#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int load(const char *yaml, kumo__monitors_config *c, kumo__error *err)
{
    kumo__doc *doc = NULL;
    kumo__monitors_defaults(c);
    int rc = kumo__doc_parse("kumo.yaml", yaml, strlen(yaml), &doc, err);
    if (rc != 0)
        return rc;
    json_t *root = kumo__doc_root(doc);
    rc = kumo__monitors_load(doc, json_object_get(root, "monitors"), json_object_get(root, "alerts"), c, err);
    kumo__doc_free(doc);
    return rc;
}

static void test_defaults(void)
{
    kumo__monitors_config c;
    kumo__error err = {0};
    CHECK_INT(load("name: x\n", &c, &err), 0);
    CHECK(c.defaults.latency_s[3] == 0.5);
    CHECK(c.defaults.latency_s[0] == 0);
    CHECK(c.defaults.errors == 0.05);
    CHECK(c.defaults.window_s == 300);
    CHECK_INT(c.defaults.anomalies, 1);
    CHECK(c.defaults.long_running == 0.8);
    CHECK_INT(c.defaults.probe, 1);
    CHECK(c.probe_interval_s == 30);
    CHECK(c.probe_timeout_s == 2);
    CHECK(c.for_s == 60);
    CHECK(c.resend_s == 60);
    CHECK_INT(c.nops, 0);
    CHECK_INT(c.nwebhooks, 0);
    CHECK(kumo__monitors_bounds(&c, "anything") == &c.defaults);
    kumo__monitors_free(&c);
}

static void test_full(void)
{
    kumo__monitors_config c, copy;
    kumo__error err = {0};
    const char *yaml = "monitors:\n"
                       "  createTodo: {p99: 50ms, errors: 1%}\n"
                       "  defaults: {p50: 20ms, p99: 2s, errors: 0.5%, window: 1m, anomalies: false,"
                       " long_running: 50%}\n"
                       "  listTodos: {p95: 0.25, errors: false, long_running: false, p99: false, probe: false}\n"
                       "  probes: {interval: 5s, timeout: 300ms}\n"
                       "alerts:\n"
                       "  webhooks: [http://127.0.0.1:9093/api/v2/alerts, https://hooks.example/a]\n"
                       "  for: 0s\n"
                       "  resend: 30s\n";
    int rc = load(yaml, &c, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    CHECK(c.defaults.latency_s[0] == 0.02);
    CHECK(c.defaults.latency_s[3] == 2);
    CHECK(c.defaults.errors == 0.005);
    CHECK(c.defaults.window_s == 60);
    CHECK_INT(c.defaults.anomalies, 0);
    CHECK(c.defaults.long_running == 0.5);
    CHECK_INT(c.nops, 2);
    const kumo__mon_bounds *b = kumo__monitors_bounds(&c, "createTodo");
    /* an operation starts from defaults: even when it comes first */
    CHECK(b->latency_s[3] == 0.05);
    CHECK(b->latency_s[0] == 0.02);
    CHECK(b->errors == 0.01);
    CHECK(b->window_s == 60);
    CHECK_INT(b->anomalies, 0);
    b = kumo__monitors_bounds(&c, "listTodos");
    CHECK(b->latency_s[2] == 0.25);
    CHECK(b->latency_s[3] == 0);
    CHECK(b->errors < 0);
    CHECK(b->long_running == 0);
    CHECK_INT(b->probe, 0);
    CHECK_INT(kumo__monitors_bounds(&c, "createTodo")->probe, 1);
    CHECK_INT(c.ops[0].line, 2);
    CHECK_INT(c.ops[0].col, 3);
    CHECK(c.probe_interval_s == 5);
    CHECK(c.probe_timeout_s == 0.3);
    CHECK_INT(c.nwebhooks, 2);
    if (c.nwebhooks == 2)
        CHECK_STR(c.webhooks[1], "https://hooks.example/a");
    CHECK(c.for_s == 0);
    CHECK(c.resend_s == 30);
    CHECK_INT(kumo__monitors_copy(&copy, &c), 0);
    kumo__monitors_free(&c);
    CHECK_INT(load("monitors:\n  createTodo: {probe: always}\n", &c, &err), 0);
    CHECK_INT(kumo__monitors_bounds(&c, "createTodo")->probe, KUMO__PROBE_ALWAYS);
    CHECK_INT(kumo__monitors_bounds(&c, "getTodo")->probe, 1);
    kumo__monitors_free(&c);
    CHECK_INT(copy.nops, 2);
    CHECK_STR(copy.ops[1].operation, "listTodos");
    CHECK_STR(copy.webhooks[0], "http://127.0.0.1:9093/api/v2/alerts");
    kumo__monitors_free(&copy);

    CHECK_INT(load("monitors: {probes: false}\n", &c, &err), 0);
    CHECK(c.probe_interval_s == 0);
    kumo__monitors_free(&c);
}

static const struct {
    const char *yaml, *want;
} bad[] = {
    {"monitors: [1]\n", "kumo.yaml:1:11: monitors must be a mapping"},
    {"monitors:\n  defaults: {p99: fast}\n", "kumo.yaml:2:19: monitors.defaults.p99 must be a duration"},
    {"monitors:\n  defaults: {p98: 1s}\n",
     "kumo.yaml:2:14: unknown key 'p98' in monitors.defaults (did you mean 'p50'?); expected one of"},
    {"monitors:\n  getTodo: {errors: 5}\n", "kumo.yaml:2:21: monitors.getTodo.errors must be a percentage"},
    {"monitors:\n  getTodo: {errors: 100%}\n", "kumo.yaml:2:21: monitors.getTodo.errors must be a percentage"},
    {"monitors:\n  getTodo: {window: 0s}\n", "kumo.yaml:2:21: monitors.getTodo.window must be a duration from 1s"},
    {"monitors:\n  getTodo: {window: 2h}\n",
     "kumo.yaml:2:21: monitors.getTodo.window must be a duration from 1s to 1h"},
    {"monitors:\n  getTodo: {anomalies: yes please}\n", "kumo.yaml:2:24: monitors.getTodo.anomalies must be true"},
    {"monitors:\n  getTodo: {probe: off}\n", "kumo.yaml:2:20: monitors.getTodo.probe must be true, false"},
    {"monitors:\n  defaults: {probe: always}\n",
     "kumo.yaml:2:21: monitors.defaults.probe: always would send every operation's request example"},
    {"monitors:\n  getTodo: {long_running: 0.8}\n", "kumo.yaml:2:27: monitors.getTodo.long_running must be a share"},
    {"monitors:\n  getTodo: 50ms\n", "kumo.yaml:2:12: monitors.getTodo must be a mapping"},
    {"monitors:\n  probes: {interval: 1h, every: 2s}\n", "kumo.yaml:2:26: unknown key 'every' in monitors.probes"},
    {"monitors:\n  probes: {timeout: 2m}\n", "kumo.yaml:2:21: monitors.probes.timeout must be a duration"},
    {"monitors:\n  probes: true\n", "kumo.yaml:2:3: monitors.probes must be a mapping"},
    {"alerts: {webhooks: [ftp://x]}\n", "kumo.yaml:1:21: alerts.webhooks[0] must be an http:// or https:// URL"},
    {"alerts: {webhooks: http://x}\n", "kumo.yaml:1:20: alerts.webhooks must be a list"},
    {"alerts: {for: soon}\n", "kumo.yaml:1:15: alerts.for must be a duration"},
    {"alerts: {resend: 0s}\n", "kumo.yaml:1:18: alerts.resend must be a duration from 1s"},
    {"alerts: {repeat: 4h}\n",
     "kumo.yaml:1:10: unknown key 'repeat' in alerts; expected one of: webhooks, for, resend"},
    {"alerts: []\n", "kumo.yaml:1:9: alerts must be a mapping"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kumo__monitors_config c;
        kumo__error err = {0};
        int rc = load(bad[i].yaml, &c, &err);
        CHECK_INT(rc, -EINVAL);
        if (strncmp(err.msg, bad[i].want, strlen(bad[i].want)) != 0) {
            fprintf(stderr, "case %zu: got:  %s\n         want: %s...\n", i, err.msg, bad[i].want);
            CHECK(0);
        }
        kumo__monitors_free(&c);
    }
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Through kumo__project_load, and the operation names against a spec. */
static void test_project_and_spec(void)
{
    char dir[] = "/tmp/kumo-test-monitors-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    write_file(dir, "openapi.yaml",
               "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
               "  /todos:\n    get: {operationId: listTodos, responses: {'200': {description: ok}}}\n"
               "    post: {operationId: createTodo, responses: {'201': {description: ok}}}\n");
    write_file(dir, "kumo.yaml",
               "name: t\napi: openapi.yaml\nmonitors:\n  createTodo: {p99: 50ms}\n  creatTodo: {p99: 1s}\n"
               "alerts: {for: 10s}\n");
    kumo__project *p = NULL;
    kumo__spec *spec = NULL;
    kumo__error err = {0};
    int rc = kumo__project_load(dir, &p, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected: %s\n", err.msg);
    CHECK_INT(rc, 0);
    char api[512];
    snprintf(api, sizeof(api), "%s/openapi.yaml", dir);
    CHECK_INT(kumo__spec_load(api, &spec, &err), 0);
    if (p && spec) {
        CHECK(p->monitors.for_s == 10);
        CHECK_INT(p->monitors.nops, 2);
        rc = kumo__monitors_check_spec(p, spec, &err);
        CHECK_INT(rc, -EINVAL);
        CHECK(strstr(err.msg, "kumo.yaml:5:3: monitors.creatTodo: the OpenAPI document has no operation "
                              "'creatTodo' (did you mean 'createTodo'?)") != NULL);
        if (rc == 0 || strstr(err.msg, "kumo.yaml:5:3:") == NULL)
            fprintf(stderr, "got: %s\n", err.msg);
    }
    kumo__project_free(p);
    kumo__spec_free(spec);

    /* monitors without metrics to read */
    write_file(dir, "kumo.yaml", "name: t\napi: openapi.yaml\nobservability: {enabled: false}\nalerts: {for: 0s}\n");
    rc = kumo__project_load(dir, &p, &err);
    CHECK_INT(rc, -EINVAL);
    CHECK(strstr(err.msg, "kumo.yaml:4:1: alerts: needs the metrics, and observability.enabled is false") != NULL);
    if (rc == 0 || strstr(err.msg, "kumo.yaml:4:1:") == NULL)
        fprintf(stderr, "got: %s\n", err.msg);
    kumo__project_free(p);
    p = NULL;
    write_file(dir, "kumo.yaml", "name: t\napi: openapi.yaml\nobservability: {enabled: false}\n");
    CHECK_INT(kumo__project_load(dir, &p, &err), 0);
    kumo__project_free(p);
    p = NULL;

    /* a misspelt top-level key is still refused */
    write_file(dir, "kumo.yaml", "name: t\napi: openapi.yaml\nmonitor: {}\n");
    rc = kumo__project_load(dir, &p, &err);
    CHECK_INT(rc, -EINVAL);
    CHECK(strstr(err.msg, "unknown key 'monitor'") != NULL && strstr(err.msg, "did you mean 'monitors'") != NULL);
    kumo__project_free(p);

    char path[512];
    snprintf(path, sizeof(path), "%s/kumo.yaml", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/openapi.yaml", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_defaults();
    test_full();
    test_errors();
    test_project_and_spec();
    return check_report();
}
