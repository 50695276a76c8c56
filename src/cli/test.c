/*
 * test.c: `kumo test [DIR] [--filter TEXT] [--timeout S] [--env NAME] [--verbose]`.
 * Builds the project's function units (as kumo up does), builds each test
 * file, DIR/tests/NAME.c, into .kumo/build/test/NAME.so against
 * <kumo_test.h>, and runs every test with src/testkit (runner.c: one
 * process per test, fresh stores). Exits 1 when a test fails
 * (docs/testing.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "testkit/testkit.h"

static int usage_error(kumo__error *err, const char *fmt, const char *a)
{
    kumo__error_set(err, -KUMO__EUSAGE, fmt, a);
    return -KUMO__EUSAGE;
}

int kumo__cmd_test(int argc, char **argv, kumo__error *err)
{
    const char *dir = NULL;
    kumo__test_options opt = {.timeout_s = 60};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--filter") == 0) {
            if (i + 1 >= argc)
                return usage_error(err, "%s takes a part of a test's name", a);
            opt.filter = argv[++i];
        } else if (strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc)
                return usage_error(err, "%s takes a number of seconds", a);
            char *end;
            errno = 0;
            unsigned long s = strtoul(argv[++i], &end, 10);
            if (errno || *end || s == 0 || s > 86400 || argv[i][0] == '-')
                return usage_error(err, "--timeout '%s': give a number of seconds from 1 to 86400", argv[i]);
            opt.timeout_s = (unsigned)s;
        } else if (strcmp(a, "--env") == 0) {
            if (i + 1 >= argc)
                return usage_error(err, "%s takes an environment of kumo.yaml", a);
            /* what kumo-host's load reads: the environment's security
             * settings and services (stores are the tests' own anyway) */
            if (setenv("KUMO_ENV", argv[++i], 1) != 0) {
                kumo__error_set(err, -errno, "--env: %s", strerror(errno));
                return err->code;
            }
        } else if (strcmp(a, "--verbose") == 0) {
            opt.verbose = 1;
        } else if (a[0] == '-') {
            return usage_error(err, "unknown option '%s'", a);
        } else if (dir == NULL) {
            dir = a;
        } else {
            return usage_error(err, "one project directory only (and '%s')", a);
        }
    }
    char real[PATH_MAX];
    if (realpath(dir ? dir : ".", real) == NULL) {
        kumo__error_set(err, -errno, "%s: %s", dir ? dir : ".", strerror(errno));
        return err->code;
    }

    kumo__test_build b;
    int rc = kumo__test_build_all(real, &b, err);
    if (rc != 0)
        return rc;
    kumo__test_summary sum;
    if ((rc = kumo__test_run(real, b.objects, b.sources, b.n, &opt, &sum, err)) == 0 && sum.failed) {
        kumo__error_set(err, -EIO, "%u of %u tests failed", sum.failed, sum.failed + sum.passed);
        rc = err->code;
    }
    kumo__test_build_free(&b);
    return rc;
}
