/*
 * build.c: `kumo build --target T [DIR]`. Packages the project for one
 * vendor through kumo__build_target (src/deploy/build_target.c) and prints
 * what it wrote, one line per artifact: the unit, the artifact's path
 * relative to DIR, its size and the start of its digest, then the total
 * time. The units' compiler output goes to stderr as `kumo up` shows it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "deploy/deploy.h"

static const char *const targets[] = {"aws", "gcp", "azure", "knative", "openfaas", "kubernetes"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human_size(uint64_t bytes, char *buf, size_t len)
{
    if (bytes >= 1024 * 1024)
        snprintf(buf, len, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
    else
        snprintf(buf, len, "%.1f KiB", (double)bytes / 1024.0);
}

/* `path` relative to `dir` when it lies under it. */
static const char *relative(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

int kumo__cmd_build(int argc, char **argv, kumo__error *err)
{
    const char *target = NULL, *dir = NULL, *host = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--target") == 0 || strcmp(a, "-t") == 0) {
            if (i + 1 >= argc) {
                kumo__error_set(err, -KUMO__EUSAGE, "--target takes one of %s", KUMO__TARGETS);
                return -KUMO__EUSAGE;
            }
            target = argv[++i];
        } else if (strncmp(a, "--target=", 9) == 0) {
            target = a + 9;
        } else if (strcmp(a, "--host") == 0 || strncmp(a, "--host=", 7) == 0) {
            if (a[6] == '\0' && i + 1 >= argc) {
                kumo__error_set(err, -KUMO__EUSAGE, "--host takes kumo-lambda, kumo-http or kumo-host");
                return -KUMO__EUSAGE;
            }
            host = a[6] == '=' ? a + 7 : argv[++i];
            if (strcmp(host, "kumo-lambda") != 0 && strcmp(host, "kumo-http") != 0 && strcmp(host, "kumo-host") != 0) {
                kumo__error_set(err, -KUMO__EUSAGE, "--host takes kumo-lambda, kumo-http or kumo-host, not '%s'", host);
                return -KUMO__EUSAGE;
            }
        } else if (a[0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", a);
            return -KUMO__EUSAGE;
        } else if (dir == NULL) {
            dir = a;
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory only ('%s' and '%s')", dir, a);
            return -KUMO__EUSAGE;
        }
    }
    if (target == NULL) {
        kumo__error_set(err, -KUMO__EUSAGE, "say which vendor to build for: --target %s", KUMO__TARGETS);
        return -KUMO__EUSAGE;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        known |= strcmp(target, targets[i]) == 0;
    if (!known) {
        kumo__error_set(err, -KUMO__EUSAGE, "unknown target '%s'; the targets are %s", target, KUMO__TARGETS);
        return -KUMO__EUSAGE;
    }
    if (dir == NULL)
        dir = ".";
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL) {
        int e = errno;
        kumo__error_set(err, -e, "%s: %s; give the project's directory", dir, strerror(e));
        return -e;
    }

    kumo__artifacts arts = {0};
    double t0 = now_s();
    /* the lean host of each kind of package: kumo-lambda for aws's zips,
     * kumo-http for the images and the Azure app */
    int aws = strcmp(target, "aws") == 0;
    if (host && strcmp(host, aws ? "kumo-http" : "kumo-lambda") == 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "--host %s: %s packages carry kumo-host or %s", host, target,
                        aws ? "kumo-lambda" : "kumo-http");
        return -KUMO__EUSAGE;
    }
    int rc = kumo__build_target_host(real, target, host, &arts, err);
    if (rc < 0)
        return rc;
    double took = now_s() - t0;

    size_t wunit = 4, wpath = 8;
    for (size_t i = 0; i < arts.n; i++) {
        const char *u = arts.items[i].unit ? arts.items[i].unit : "(all)";
        size_t lu = strlen(u), lp = strlen(relative(real, arts.items[i].path));
        wunit = lu > wunit ? lu : wunit;
        wpath = lp > wpath ? lp : wpath;
    }
    printf("kumo build --target %s %s\n", target, dir);
    printf("  %-*s  %-*s  %10s  %s\n", (int)wunit, "unit", (int)wpath, "artifact", "size", "digest");
    uint64_t total = 0;
    for (size_t i = 0; i < arts.n; i++) {
        const kumo__artifact *a = &arts.items[i];
        char size[32], shortd[24];
        human_size(a->size, size, sizeof(size));
        /* "sha256:" and the first 12 hex digits, as container tools show */
        snprintf(shortd, sizeof(shortd), "%.19s", a->digest ? a->digest : "");
        printf("  %-*s  %-*s  %10s  %s\n", (int)wunit, a->unit ? a->unit : "(all)", (int)wpath, relative(real, a->path),
               size, shortd);
        total += a->size;
    }
    char tsize[32];
    human_size(total, tsize, sizeof(tsize));
    printf("built %zu artifact%s (%s) in %.2f s\n", arts.n, arts.n == 1 ? "" : "s", tsize, took);
    kumo__artifacts_free(&arts);
    return 0;
}
