/*
 * main.c: the kumo command. It finds the command in help.c's table (each
 * entry names the function in src/cli/CMD.c that runs it, and what it
 * takes) and is the only place that prints an error and picks an exit
 * status (0 success, 1 failure, 2 usage). `--help` or `-h` after a
 * command prints its entry instead of running it.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/help.h"

/* `--help` or `-h` anywhere after the command asks for its help. */
static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        kumo__help_overview(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        name = "help";
    else if (strcmp(name, "--version") == 0)
        name = "version";
    const kumo__help_entry *cmd = kumo__help_find(name);
    if (cmd == NULL || cmd->run == NULL) {
        fprintf(stderr, "kumo: unknown command '%s'\n\n", name);
        kumo__help_overview(stderr);
        return 2;
    }
    /* the subcommand's entry when argv[2] names one */
    const kumo__help_entry *help = kumo__help_for(argc - 1, argv + 1);
    if (cmd->run != kumo__cmd_help && wants_help(argc - 2, argv + 2)) {
        kumo__help_print(stdout, help);
        return 0;
    }
    kumo__error err = {0};
    int rc = cmd->run(argc - 2, argv + 2, &err);
    if (rc == 0)
        return 0;
    fprintf(stderr, "kumo %s: %s\n", name, err.msg[0] ? err.msg : "failed");
    if (rc == -KUMO__EUSAGE) {
        if (cmd->run != kumo__cmd_help)
            kumo__help_usage(stderr, help);
        return 2;
    }
    return 1;
}
