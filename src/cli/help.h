/*
 * help.h: the command table (help.c): every kumo command and subcommand,
 * the function that runs it and what it takes. main.c dispatches through
 * it; `kumo help`, `kumo CMD --help`, the usage line printed after a usage
 * error and `kumo completion bash` are all generated from it, so they
 * cannot disagree; tests/unit/cli/test_help.c and
 * tests/integration/test_cli.py check it against each command's parser.
 */
#ifndef KUMO_CLI_HELP_H
#define KUMO_CLI_HELP_H

#include <stdio.h>

#include "cli/cli.h"

/* What an option's value (or a command's positional argument) is, for
 * completion: nothing, free text, a file, a directory, or one of the
 * words of `arg` separated by '|'. */
typedef enum kumo__help_arg {
    KUMO__ARG_NONE = 0,
    KUMO__ARG_VALUE,
    KUMO__ARG_FILE,
    KUMO__ARG_DIR,
    KUMO__ARG_WORDS,
} kumo__help_arg;

#define KUMO__OPT_REQUIRED 1 /* shown without brackets in the usage line */
#define KUMO__OPT_REPEAT 2   /* may be given several times ("..." after it) */

typedef struct kumo__help_option {
    const char *name;  /* "--target" */
    const char *alias; /* "-t", or NULL */
    const char *arg;   /* the value's placeholder ("FILE", "aws|gcp"), NULL for a flag */
    kumo__help_arg kind;
    int flags;        /* KUMO__OPT_* */
    const char *text; /* one line */
} kumo__help_option;

typedef struct kumo__help_entry {
    const char *name;         /* "up", "events redrive" */
    kumo__command_fn *run;    /* a command's (argv after its name); NULL for a subcommand, which its command runs */
    const char *summary;      /* one line */
    const char *args;         /* positional arguments in the usage line ("[DIR]"), or NULL */
    kumo__help_arg args_kind; /* what they are, for completion */
    const char *args_words;   /* the words, for KUMO__ARG_WORDS ("bash") */
    int needs_sub;            /* 1: the command does nothing without one of its subcommands */
    const kumo__help_option *options; /* ends with an entry whose name is NULL */
    const char *example;              /* one or more lines, each a complete command */
} kumo__help_entry;

/* The entry named `name` ("events redrive"), or NULL. */
const kumo__help_entry *kumo__help_find(const char *name);
/* Every entry, in the order `kumo help` lists them; *n set. */
const kumo__help_entry *kumo__help_entries(size_t *n);
/* The entry for argv (argv[0] is the command): the subcommand's when
 * argv[1] names one, else the command's; NULL when the command has none. */
const kumo__help_entry *kumo__help_for(int argc, char **argv);
/* The usage line(s) ("usage: kumo up [DIR] [--port N] ...") of e, wrapped. */
void kumo__help_usage(FILE *f, const kumo__help_entry *e);
/* The whole help of e: usage, summary, subcommands, options, example. */
void kumo__help_print(FILE *f, const kumo__help_entry *e);
/* `kumo help` without a command: every command with its summary. */
void kumo__help_overview(FILE *f);
/* `kumo help [COMMAND [SUBCOMMAND]]` (argv after "help"): 0 printed, or
 * -KUMO__EUSAGE with err set for an unknown command. */
int kumo__cmd_help(int argc, char **argv, kumo__error *err);
/* `kumo completion bash`: the bash completion script, from the table. */
int kumo__cmd_completion(int argc, char **argv, kumo__error *err);

#endif
