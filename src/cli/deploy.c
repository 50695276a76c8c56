/*
 * deploy.c: `kumo deploy` and `kumo destroy` (being written; see src/deploy/deploy.h).
 */
#include "cli/cli.h"

int kumo__cmd_deploy(int argc, char **argv, kumo__error *err)
{
    kumo__error_set(err, -KUMO_EUSAGE, "kumo deploy is not available yet");
    return err->code;
}

int kumo__cmd_destroy(int argc, char **argv, kumo__error *err)
{
    kumo__error_set(err, -KUMO_EUSAGE, "kumo destroy is not available yet");
    return err->code;
}
