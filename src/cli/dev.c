/*
 * dev.c: `kumo dev [DIR] [--debug OPERATION [--debug-port N]] [kumo up's
 * options]` is `kumo up --dev` that watches the project
 * (gateway/watch.c): a saved change to a unit's source, a header it
 * includes, kumo.yaml or the OpenAPI document (and the files it $refs)
 * rebuilds what is stale and swaps the generation, as `kumo reload` does;
 * a failed build keeps the previous one serving. Each change prints what
 * it cost. See docs/dev.md.
 *
 * --debug OPERATION runs that operation's function with no deadline in
 * one worker a debugger can attach to, and prints how (gateway/debug.c;
 * docs/debugging.md); --debug-port N serves it with gdbserver instead.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* gdbserver on the PATH, where posix_spawnp will look for it. */
static int have_gdbserver(void)
{
    const char *path = getenv("PATH");
    char file[PATH_MAX];
    for (const char *p = path && *path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        if (snprintf(file, sizeof(file), "%.*s/gdbserver", (int)n, p) < (int)sizeof(file) && access(file, X_OK) == 0)
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

int kumo__dev_debug_check(const char *op, int port, kumo__error *err)
{
    if (port && op == NULL) {
        kumo__error_set(err, -KUMO__EUSAGE, "--debug-port goes with --debug OPERATION");
        return err->code;
    }
    if (port && !have_gdbserver()) {
        kumo__error_set(err, -KUMO__EUSAGE,
                        "--debug-port needs gdbserver, which is not on the PATH; install it (Debian: apt-get "
                        "install gdbserver) or leave --debug-port out and attach with gdb -p");
        return err->code;
    }
    return 0;
}

/* Takes --debug and --debug-port out of argv (the rest is kumo up's, which
 * refuses what it does not know before kumo__dev_debug_check runs). */
static int parse_debug(int *argc, char **argv, const char **op, int *port, kumo__error *err)
{
    int kept = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i], *v = i + 1 < *argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--debug") == 0) {
            if (v == NULL || *v == '\0' || v[0] == '-') {
                kumo__error_set(err, -KUMO__EUSAGE, "--debug takes an operationId of the OpenAPI document");
                return err->code;
            }
            *op = v;
            i++;
        } else if (strcmp(a, "--debug-port") == 0) {
            char *end;
            errno = 0;
            long n = v ? strtol(v, &end, 10) : 0;
            if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 || n < 1 || n > 65535) {
                kumo__error_set(err, -KUMO__EUSAGE, "--debug-port takes a port from 1 to 65535, not '%s'", v ? v : "");
                return err->code;
            }
            *port = (int)n;
            i++;
        } else {
            argv[kept++] = argv[i];
        }
    }
    *argc = kept;
    return 0;
}

int kumo__cmd_dev(int argc, char **argv, kumo__error *err)
{
    const char *op = NULL;
    int port = 0;
    int rc = parse_debug(&argc, argv, &op, &port, err);
    if (rc != 0)
        return rc;
    return kumo__up_run(argc, argv, 1, op, port, err);
}
