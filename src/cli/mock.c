/*
 * mock.c: `kumo mock SPEC [--port N] [--host ADDR] [--seed S] [--threads N] [--cpu-affinity]`
 * serves the OpenAPI document SPEC (3.0, 3.1 or Swagger 2.0) alone: the
 * gateway of kumo up over a project of that one document (project/
 * spec_only.h), every operation answered by the mock engine
 * (gateway/mock.h) after the same routing and request checks. The first
 * line on stdout is "listening on http://HOST:PORT" (with --port 0, the
 * port the system picked), which kumo up reads when it mocks a service.
 * No admin port, no log store, nothing written next to the document.
 * The modes that keep something between requests (gateway/mock_modes.h):
 * --stateful [--data FILE] or --state FILE, --faults FILE, --record DIR
 * --proxy URL, --replay DIR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gateway/gateway.h"
#include "gateway/mock_modes.h"

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out, kumo__error *err)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        kumo__error_set(err, -KUMO__EUSAGE, "%s takes a whole number from %ld to %ld, not '%s'", opt, lo, hi,
                        s ? s : "");
        return err->code;
    }
    *out = v;
    return 0;
}

/* --seed: a whole number (0 to 2^64-1). */
int kumo__parse_seed(const char *s, uint64_t *out, kumo__error *err)
{
    char *end;
    errno = 0;
    unsigned long long v = s && *s != '-' ? strtoull(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *s == '-' || *end != '\0' || errno != 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "--seed takes a whole number from 0 to 18446744073709551615, not '%s'",
                        s ? s : "");
        return err->code;
    }
    *out = v;
    return 0;
}

typedef struct path_flag {
    const char *flag;
    const char **to;
} path_flag;

/* --state, --data, --faults, --record, --proxy, --replay: each takes one
 * value. 1 when `a` is one of them (*rc set: 0, or the usage error). */
static int mock_path_flag(const path_flag *paths, size_t n, const char *a, const char *v, kumo__error *err, int *rc)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a, paths[i].flag) != 0)
            continue;
        *rc = 0;
        if (v == NULL || *v == '\0') {
            kumo__error_set(err, -KUMO__EUSAGE, "%s takes a %s", a, strcmp(a, "--proxy") == 0 ? "URL" : "path");
            *rc = err->code;
        }
        *paths[i].to = v;
        return 1;
    }
    return 0;
}

int kumo__cmd_mock(int argc, char **argv, kumo__error *err)
{
    kumo__gateway_config cfg = {.host = "127.0.0.1", .port = 4010, .admin_port = -1, .threads = 0};
    kumo__mock_modes modes = {0};
    size_t nredact = 0;
    path_flag paths[] = {{"--state", &modes.state_file},   {"--data", &modes.data_file},
                         {"--faults", &modes.faults_file}, {"--record", &modes.record_dir},
                         {"--proxy", &modes.proxy_url},    {"--replay", &modes.replay_dir}};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        int rc = 0;
        if (strcmp(a, "--port") == 0) {
            rc = parse_long(a, v, 0, 65535, &n, err);
            cfg.port = (int)n;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            rc = parse_long(a, v, 1, 256, &n, err);
            cfg.threads = (int)n;
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            rc = kumo__parse_seed(v, &cfg.mock_seed, err);
            modes.seed_given = 1;
            i++;
        } else if (strcmp(a, "--cpu-affinity") == 0) {
            cfg.cpu_affinity = 1; /* loop i on the i-th allowed CPU, as kumo up --cpu-affinity */
        } else if (strcmp(a, "--stateful") == 0) {
            modes.stateful = 1;
        } else if (mock_path_flag(paths, sizeof(paths) / sizeof(paths[0]), a, v, err, &rc)) {
            i++;
        } else if (strcmp(a, "--redact") == 0) {
            if (v == NULL || *v == '\0' || nredact == KUMO__MOCK_REDACT_MAX) {
                kumo__error_set(err, -KUMO__EUSAGE, "--redact takes a header name (at most %d of them)",
                                KUMO__MOCK_REDACT_MAX);
                return err->code;
            }
            modes.redact[nredact++] = v;
            i++;
        } else if (strcmp(a, "--host") == 0) {
            if (v == NULL || *v == '\0') {
                kumo__error_set(err, -KUMO__EUSAGE, "--host takes an address");
                return err->code;
            }
            cfg.host = v;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", a);
            return err->code;
        } else if (cfg.mock_spec == NULL) {
            cfg.mock_spec = a;
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one OpenAPI document only ('%s' and '%s')", cfg.mock_spec, a);
            return err->code;
        }
        if (rc != 0)
            return rc;
    }
    if (cfg.mock_spec == NULL) {
        kumo__error_set(err, -KUMO__EUSAGE, "which OpenAPI document? kumo mock SPEC (a .yaml or .json file)");
        return err->code;
    }
    int rc = kumo__mock_modes_check(&modes, -KUMO__EUSAGE, err);
    if (rc != 0)
        return rc;
    cfg.mock_modes = &modes;
    cfg.dir = ".";
    return kumo__gateway_run(&cfg, err);
}
