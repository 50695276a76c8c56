/*
 * main.c: the kumo command. It finds the command in help.c's table (each
 * entry names the function in src/cli/CMD.c that runs it, and what it
 * takes) and is the only place that prints an error and picks an exit
 * status (0 success, 1 failure, 2 usage). `--help` or `-h` after a
 * command prints its entry instead of running it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/help.h"

/* --name=value, for an option of `e` that takes a value, becomes --name
 * value (as GNU tools take it); up to "--", which ends the options.
 * `out` has room for twice argc. */
static int split_values(const kumo__help_entry *e, int argc, char **argv, char **out, char *buf, size_t cap)
{
    int n = 0, options = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        if (strcmp(a, "--") == 0)
            options = 0;
        const kumo__help_option *o = NULL;
        for (const kumo__help_option *k = e->options; options && eq && a[0] == '-' && a[1] == '-' && k->name; k++)
            if (k->arg && strlen(k->name) == (size_t)(eq - a) && strncmp(k->name, a, (size_t)(eq - a)) == 0)
                o = k;
        size_t len = eq ? (size_t)(eq - a) + 1 : 0;
        if (o == NULL || len > cap) {
            out[n++] = argv[i];
            continue;
        }
        memcpy(buf, a, len - 1);
        buf[len - 1] = '\0';
        out[n++] = buf;
        out[n++] = (char *)eq + 1;
        buf += len;
        cap -= len;
    }
    out[n] = NULL;
    return n;
}

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
    char **args = calloc((size_t)argc * 2 + 1, sizeof(*args)), names[8192];
    if (args == NULL) {
        fprintf(stderr, "kumo %s: out of memory\n", name);
        return 1;
    }
    int nargs = split_values(help, argc - 2, argv + 2, args, names, sizeof names);
    int rc = cmd->run(nargs, args, &err);
    free(args);
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
