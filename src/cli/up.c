/*
 * up.c: `kumo up [DIR] [--port N] [--admin-port N] [--host ADDR] [--threads N]
 * [--dev] [--strict] [--env NAME] [--admin-token-file FILE]
 * [--reload-interval S] [--core-dumps] [--mock [--seed S]]` loads the project in DIR
 * (default .), builds its functions and serves it. --mock answers the
 * operations that have no handler yet with mock responses (gateway/mock.h)
 * instead of 501. --env picks the environments: entry of
 * kumo.yaml that says where the stores live (default: dev when the project
 * defines it); the gateway checks the name against the project. The admin
 * token comes from --admin-token-file or KUMO_ADMIN_TOKEN (cli/admin.c),
 * which is then taken out of the environment that compilers and workers
 * inherit. The log store (obs/logstore.h) runs around the whole serve, so
 * that what the compilers, the gateway, its fork servers and workers
 * write to stderr is kept in DIR/.kumo/data/logs.db for `kumo logs`.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/starttime.h"
#include "base/log.h"
#include "cli/cli.h"
#include "gateway/gateway.h"
#include "obs/logstore.h"
#include "project/project.h"

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out, kumo__error *err)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        kumo__error_set(err, -KUMO__EUSAGE, "%s takes a whole number from %d to %d, not '%s'", opt, lo, hi, s ? s : "");
        return err->code;
    }
    *out = (int)v;
    return 0;
}

/* Started before the gateway builds anything, so that the compilers'
 * messages are stored too. The project is read here only for its
 * directory and observability.logs.max_size (0, or enabled: false: no
 * store); one that does not load gets no store, and the gateway then
 * says why. A store that cannot start is worth a warning, not a refusal
 * to serve. */
static kumo__logstore *start_log_store(const char *dir)
{
    kumo__project *p = NULL;
    kumo__logstore *ls = NULL;
    kumo__error e = {0};
    if (kumo__project_load(dir, &p, &e) != 0)
        return NULL;
    char data[PATH_MAX];
    if (p->obs.enabled && p->obs.logs_max > 0 &&
        snprintf(data, sizeof(data), "%s/.kumo/data", p->dir) < (int)sizeof(data) &&
        kumo__logstore_start(data, p->obs.logs_max, &ls, &e) != 0)
        kumo__log_event("warn", "%s; serving without the log store (kumo logs will not show this run)", e.msg);
    kumo__project_free(p);
    return ls;
}

int kumo__cmd_up(int argc, char **argv, kumo__error *err)
{
    return kumo__up_run(argc, argv, 0, NULL, 0, err);
}

int kumo__up_run(int argc, char **argv, int watch, const char *debug_op, int debug_port, kumo__error *err)
{
    kumo__gateway_config cfg = {.dir = NULL,
                                .host = "127.0.0.1",
                                .port = 8080,
                                .admin_port = 8081,
                                .threads = 0,
                                .reload_interval_ms = 1000,
                                .dev = watch,
                                .watch = watch,
                                .debug_op = debug_op,
                                .debug_port = debug_port};
    const char *token_file = NULL;
    char token[KUMO__ADMIN_TOKEN_MAX + 1];
    int seeded = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--port") == 0) {
            rc = parse_int(a, v, 0, 65535, &cfg.port, err);
            i++;
        } else if (strcmp(a, "--admin-port") == 0) {
            rc = parse_int(a, v, -1, 65535, &cfg.admin_port, err);
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            rc = parse_int(a, v, 1, 256, &cfg.threads, err);
            i++;
        } else if (strcmp(a, "--reload-interval") == 0) {
            int seconds = 0;
            rc = parse_int(a, v, 0, 3600, &seconds, err);
            cfg.reload_interval_ms = seconds * 1000;
            i++;
        } else if (strcmp(a, "--admin-token-file") == 0) {
            if (v == NULL || *v == '\0') {
                kumo__error_set(err, -KUMO__EUSAGE, "--admin-token-file takes the file holding the admin token");
                return err->code;
            }
            token_file = v;
            i++;
        } else if (strcmp(a, "--cpu-affinity") == 0) {
            cfg.cpu_affinity = 1;
        } else if (strcmp(a, "--core-dumps") == 0) {
            cfg.core_dumps = 1;
        } else if (strcmp(a, "--mock") == 0) {
            cfg.mock = 1;
        } else if (strcmp(a, "--seed") == 0) {
            rc = kumo__parse_seed(v, &cfg.mock_seed, err);
            seeded = 1;
            i++;
        } else if (strcmp(a, "--dev") == 0) {
            cfg.dev = 1;
        } else if (strcmp(a, "--strict") == 0) {
            cfg.dev = cfg.strict = 1;
        } else if (strcmp(a, "--host") == 0) {
            if (v == NULL) {
                kumo__error_set(err, -KUMO__EUSAGE, "--host takes an address");
                return err->code;
            }
            cfg.host = v;
            i++;
        } else if (strcmp(a, "--env") == 0) {
            if (v == NULL || *v == '\0' || v[0] == '-') {
                kumo__error_set(err, -KUMO__EUSAGE, "--env takes the name of an environment in kumo.yaml (like prod)");
                return err->code;
            }
            cfg.env = v;
            i++;
        } else if (a[0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", a);
            return err->code;
        } else if (cfg.dir == NULL) {
            cfg.dir = a;
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory only ('%s' and '%s')", cfg.dir, a);
            return err->code;
        }
        if (rc != 0)
            return rc;
    }
    if (cfg.dir == NULL)
        cfg.dir = ".";
    int rc0 = kumo__dev_debug_check(debug_op, debug_port, err);
    if (rc0 != 0)
        return rc0;
    if (debug_op && cfg.threads > 1) {
        kumo__error_set(err, -KUMO__EUSAGE,
                        "--debug runs one event loop (one worker to attach to); leave --threads out");
        return err->code;
    }
    if (debug_op)
        cfg.threads = 1;
    if (seeded && !cfg.mock) {
        kumo__error_set(err, -KUMO__EUSAGE, "--seed sets the mock answers' values; it goes with --mock");
        return err->code;
    }
    int rc = kumo__admin_token(token_file, token, sizeof(token), err);
    if (rc != 0)
        return rc;
    unsetenv("KUMO_ADMIN_TOKEN"); /* workers run code the sandbox treats as hostile */
    if (token[0] != '\0' && cfg.admin_port < 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "an admin token is given but --admin-port -1 turns the admin port off");
        return err->code;
    }
    cfg.admin_token = token;
    kumo__start_mark("args");
    cfg.logs = start_log_store(cfg.dir);
    kumo__start_mark("log store");
    rc = kumo__gateway_run(&cfg, err);
    kumo__logstore_stop(cfg.logs);
    return rc;
}
