/*
 * deploy.c: `kumo deploy --target T [DIR] [--env NAME] [--dry-run]
 * [--endpoint-url URL] [--region R] [--stack NAME]` and `kumo destroy`
 * (the same, and --yes, --keep-data). Reads the options into a
 * kumo__deploy_opts and hands it to the target: kumo__deploy_aws
 * (src/deploy/aws.c) for aws, else kumo__deploy_other
 * (src/deploy/targets.c). Prints the time taken. A destroy that would
 * delete data asks first (or takes --yes or --keep-data).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "deploy/deploy.h"

static const char *const targets[] = {"aws", "gcp", "azure", "knative", "openfaas", "kubernetes"};

static int usage(kumo__error *err, const char *fmt, const char *a)
{
    kumo__error_set(err, -KUMO__EUSAGE, fmt, a, KUMO__TARGETS);
    return -KUMO__EUSAGE;
}

/* --name VALUE or --name=VALUE at argv[*i]: 1 (value in *out), 0 when
 * argv[*i] is not that option, negative when the value is missing. */
static int option(int argc, char **argv, int *i, const char *name, const char **out, kumo__error *err)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc || argv[*i + 1][0] == '\0')
        return usage(err, "%s needs a value", name);
    *out = argv[++*i];
    return 1;
}

/* Before a destroy deletes data (deploy/destroy.c): the list, then a
 * question on a terminal (delete, keep the data, or stop); elsewhere an
 * error asking for --yes or --keep-data. */
static int confirm_destroy(kumo__deploy_opts *o, kumo__error *err)
{
    char **what = NULL;
    size_t n = 0;
    int rc = kumo__destroy_data(o, &what, &n, err);
    if (rc < 0 || n == 0)
        return rc;
    char list[4096];
    size_t at = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? "; " : "", what[i]);
    kumo__destroy_data_free(what, n);
    if (!isatty(STDIN_FILENO)) {
        kumo__error_set(err, -EPERM,
                        "kumo destroy --target %s would delete data: %s; say --yes to delete it, --keep-data to "
                        "keep it, or --dry-run to see the plan (nothing was deleted)",
                        o->target, list);
        return err->code;
    }
    fprintf(stderr, "kumo destroy --target %s deletes data: %s\ndelete it [y], keep it [k], or stop [N]? ", o->target,
            list);
    fflush(stderr);
    char answer[16] = "";
    if (fgets(answer, sizeof answer, stdin) == NULL)
        answer[0] = '\0';
    if (answer[0] == 'y' || answer[0] == 'Y')
        return 0;
    if (answer[0] == 'k' || answer[0] == 'K') {
        o->keep_data = 1;
        return 0;
    }
    kumo__error_set(err, -ECANCELED, "stopped: nothing was deleted");
    return err->code;
}

static int run(int argc, char **argv, int destroy, kumo__error *err)
{
    kumo__deploy_opts o = {.destroy = destroy};
    int yes = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (strcmp(a, "--dry-run") == 0) {
            o.dry_run = 1;
            continue;
        }
        if (destroy && (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0)) {
            yes = 1;
            continue;
        }
        if (destroy && strcmp(a, "--keep-data") == 0) {
            o.keep_data = 1;
            continue;
        }
        if ((r = option(argc, argv, &i, "--target", &o.target, err)) != 0 ||
            (r = option(argc, argv, &i, "--env", &o.env, err)) != 0 ||
            (r = option(argc, argv, &i, "--endpoint-url", &o.endpoint_url, err)) != 0 ||
            (r = option(argc, argv, &i, "--region", &o.region, err)) != 0 ||
            (r = option(argc, argv, &i, "--stack", &o.stack, err)) != 0) {
            if (r < 0)
                return r;
            continue;
        }
        if (a[0] == '-')
            return usage(err, "unknown option '%s'", a);
        if (o.dir != NULL)
            return usage(err, "one project directory only (also given '%s')", a);
        o.dir = a;
    }
    if (o.target == NULL)
        return usage(err, "say where to deploy: --target %s%s", "");
    int known = 0;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        known |= strcmp(o.target, targets[i]) == 0;
    if (!known) {
        kumo__error_set(err, -KUMO__EUSAGE, "unknown target '%s'; the targets are %s", o.target, KUMO__TARGETS);
        return -KUMO__EUSAGE;
    }
    if (o.dir == NULL)
        o.dir = ".";
    if (strcmp(o.target, "aws") != 0 && (o.endpoint_url || o.region || o.stack)) {
        kumo__error_set(err, -KUMO__EUSAGE, "--endpoint-url, --region and --stack are for --target aws");
        return -KUMO__EUSAGE;
    }

    if (destroy && !o.dry_run && !o.keep_data && !yes) {
        int rc = confirm_destroy(&o, err);
        if (rc < 0)
            return rc;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = strcmp(o.target, "aws") == 0 ? kumo__deploy_aws(&o, err) : kumo__deploy_other(&o, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == 0 && !o.dry_run)
        printf("%s in %.1f s\n", destroy ? "destroyed" : "deployed",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return rc < 0 ? rc : 0;
}

int kumo__cmd_deploy(int argc, char **argv, kumo__error *err)
{
    return run(argc, argv, 0, err);
}

int kumo__cmd_destroy(int argc, char **argv, kumo__error *err)
{
    return run(argc, argv, 1, err);
}
