/*
 * build.c: `kumo build --target T [DIR]` (being written; see src/deploy/deploy.h).
 */
#include "cli/cli.h"

int kumo__cmd_build(int argc, char **argv, kumo__error *err)
{
    kumo__error_set(err, -KUMO_EUSAGE, "kumo build is not available yet");
    return err->code;
}
