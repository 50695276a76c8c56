/*
 * deploy.h: packaging a project for a vendor and deploying it.
 *
 * `kumo build --target T` (cli/build.c) turns a project into artifacts
 * under DIR/.kumo/build/T/: for aws one zip per function unit whose
 * `bootstrap` runs kumo-host's lambda adapter; for gcp, knative, openfaas
 * and kubernetes an OCI image layout whose entrypoint is kumo-host's http
 * adapter; for azure a function app folder and zip. Every artifact is
 * self-contained: kumo-host, the shared libraries it and the unit need and
 * the dynamic loader travel with it (lib/), so it runs whatever the
 * vendor's libraries are.
 *
 * `kumo deploy --target T` (cli/deploy.c) writes the vendor's
 * infrastructure as code next to the artifacts and applies it: aws.c
 * through CloudFormation's API, targets.c through the vendor's CLI.
 *
 * A function package ("bundle") always has this layout, in a zip or under
 * /kumo in an image:
 *
 *     bootstrap               sh script: exec lib/ld-linux... kumo-host ADAPTER app UNIT
 *     bin/kumo-host
 *     lib/                    the loader and every shared library (ldd)
 *     app/kumo.yaml           the project file
 *     app/<spec files>        the OpenAPI document and every file it refs
 *     app/.kumo/build/local/UNIT.so  the unit, where kumo up builds it
 */
#ifndef KUMO_DEPLOY_H
#define KUMO_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The targets, by the name the CLI takes. */
#define KUMO__TARGETS "aws, gcp, azure, knative, openfaas, kubernetes"

/* One artifact that `kumo build` wrote. */
typedef struct kumo__artifact {
    char *unit;    /* the function unit it packages (NULL: the whole project, azure) */
    char *path;    /* absolute: a .zip file or an OCI layout directory */
    char *digest;  /* "sha256:..." of the zip or of the image manifest */
    uint64_t size; /* bytes on disk */
} kumo__artifact;

typedef struct kumo__artifacts {
    kumo__artifact *items;
    size_t n;
} kumo__artifacts;

void kumo__artifacts_free(kumo__artifacts *a);

/* Builds the project in `dir` for `target` (builds the units first, as
 * kumo up does). Prints nothing; cli/build.c prints the summary. */
int kumo__build_target(const char *dir, const char *target, kumo__artifacts *out, kumo__error *err);
/* The same with the Lambda packages' host chosen (`kumo build --host`):
 * "kumo-lambda", "kumo-host", or NULL for kumo-lambda when it serves the
 * unit (bundle.h). Asked for kumo-lambda where it does not serve, it fails
 * and says why. Only the aws target has a choice. */
int kumo__build_target_host(const char *dir, const char *target, const char *host, kumo__artifacts *out,
                            kumo__error *err);

/* What `kumo deploy` and `kumo destroy` were asked. */
typedef struct kumo__deploy_opts {
    const char *dir;          /* the project */
    const char *target;       /* one of KUMO__TARGETS */
    const char *env;          /* kumo.yaml environment, or NULL */
    const char *endpoint_url; /* aws: every AWS API at this URL (moto); NULL: AWS's own */
    const char *region;       /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1 */
    const char *stack;        /* stack / service name; NULL: from the project's name */
    int dry_run;              /* write and print, apply nothing */
    int destroy;              /* kumo destroy */
    int keep_data;            /* kumo destroy --keep-data: leave what holds data (azure: the storage account) */
} kumo__deploy_opts;

/* destroy.c: what `kumo destroy` with these options would delete that holds
 * data (aws: the stores the stack made; azure: the resource group and its
 * storage account), one line each for the user, in *what (free with
 * kumo__destroy_data_free); *n 0 when nothing. */
int kumo__destroy_data(const kumo__deploy_opts *o, char ***what, size_t *n, kumo__error *err);
void kumo__destroy_data_free(char **what, size_t n);

/* aws.c: CloudFormation. */
int kumo__deploy_aws(const kumo__deploy_opts *o, kumo__error *err);
/* targets.c: gcp, azure, knative, openfaas, kubernetes. */
int kumo__deploy_other(const kumo__deploy_opts *o, kumo__error *err);

#endif
