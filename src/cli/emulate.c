/*
 * emulate.c: `kumo emulate lambda --zip FILE` (being written).
 */
#include "cli/cli.h"

int kumo__cmd_emulate(int argc, char **argv, kumo__error *err)
{
    kumo__error_set(err, -KUMO_EUSAGE, "kumo emulate is not available yet");
    return err->code;
}
