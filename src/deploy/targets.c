/*
 * targets.c: gcp, azure, knative, openfaas, kubernetes (being written).
 */
#include "deploy/deploy.h"

int kumo__deploy_other(const kumo__deploy_opts *o, kumo__error *err)
{
    kumo__error_set(err, -1, "target '%s' is not available yet", o->target);
    return err->code;
}
