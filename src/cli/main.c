/*
 * main.c: the kumo command. A table of subcommands over the library; this
 * is the only place that prints an error and picks an exit status
 * (0 success, 1 failure, 2 usage). What each command takes (its usage,
 * options and example) is help.c's table: `kumo CMD --help` and the usage
 * printed after a usage error come from there.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/help.h"

static int cmd_version(int argc, char **argv, kumo__error *err)
{
    if (argc > 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", argv[0]);
        return err->code;
    }
    printf("kumo %s\n", KUMO_VERSION);
    return 0;
}

static const kumo__command commands[] = {
    {"up", kumo__cmd_up},
    {"mock", kumo__cmd_mock},
    {"schema", kumo__cmd_schema},
    {"lint", kumo__cmd_lint},
    {"events", kumo__cmd_events},
    {"invoke", kumo__cmd_invoke},
    {"logs", kumo__cmd_logs},
    {"status", kumo__cmd_status},
    {"monitors", kumo__cmd_monitors},
    {"reload", kumo__cmd_reload},
    {"build", kumo__cmd_build},
    {"deploy", kumo__cmd_deploy},
    {"destroy", kumo__cmd_destroy},
    {"emulate", kumo__cmd_emulate},
    {"completion", kumo__cmd_completion},
    {"help", kumo__cmd_help},
    {"version", cmd_version},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

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
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        const kumo__help_entry *help = kumo__help_for(argc - 1, argv + 1);
        if (strcmp(name, "help") != 0 && help && wants_help(argc - 2, argv + 2)) {
            kumo__help_print(stdout, help);
            return 0;
        }
        kumo__error err = {0};
        int rc = commands[i].run(argc - 2, argv + 2, &err);
        if (rc == 0)
            return 0;
        fprintf(stderr, "kumo %s: %s\n", name, err.msg[0] ? err.msg : "failed");
        if (rc == -KUMO__EUSAGE) {
            if (help && strcmp(name, "help") != 0)
                kumo__help_usage(stderr, help);
            return 2;
        }
        return 1;
    }
    fprintf(stderr, "kumo: unknown command '%s'\n\n", name);
    kumo__help_overview(stderr);
    return 2;
}
