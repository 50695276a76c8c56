/*
 * dev.c: `kumo dev [DIR] [kumo up's options]` is `kumo up --dev` that
 * watches the project (gateway/watch.c): a saved change to a unit's
 * source, a header it includes, kumo.yaml or the OpenAPI document (and
 * the files it $refs) rebuilds what is stale and swaps the generation, as
 * `kumo reload` does; a failed build keeps the previous one serving. Each
 * change prints what it cost. See docs/dev.md.
 */
#include <stddef.h>

#include "cli/cli.h"

int kumo__cmd_dev(int argc, char **argv, kumo__error *err)
{
    return kumo__up_run(argc, argv, 1, err);
}
