/*
 * completion.c: `kumo completion bash`, the bash completion script written
 * from help.c's table (commands, subcommands, options, the values an
 * option takes: files, directories or a list of words). `make install`
 * puts its output in share/bash-completion/completions/kumo; without an
 * install, `source <(kumo completion bash)` in ~/.bashrc does the same.
 *
 * The script finds the command in COMP_WORDS[1] and a subcommand in
 * COMP_WORDS[2] (as main.c does), then completes the value of the option
 * before the cursor, an option when the word starts with '-', or else the
 * command's positional argument.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/help.h"

/* `a|b|c` as `a b c`. */
static void words(FILE *f, const char *arg)
{
    for (const char *p = arg; *p; p++)
        fputc(*p == '|' ? ' ' : *p, f);
}

/* The compgen line that completes something of `kind`. */
static void complete_kind(FILE *f, kumo__help_arg kind, const char *arg, const char *indent)
{
    switch (kind) {
    case KUMO__ARG_FILE: fprintf(f, "%s_kumo_reply -f\n", indent); break;
    case KUMO__ARG_DIR: fprintf(f, "%s_kumo_reply -d\n", indent); break;
    case KUMO__ARG_WORDS:
        fprintf(f, "%s_kumo_reply -W \"", indent);
        words(f, arg);
        fprintf(f, "\"\n");
        break;
    default: break;
    }
}

/* The subcommands of the command `name`, space-separated. */
static void subcommands(FILE *f, const kumo__help_entry *all, size_t n, const char *name)
{
    size_t len = strlen(name);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(all[i].name, name, len) == 0 && all[i].name[len] == ' ') {
            fprintf(f, "%s%s", first ? "" : " ", all[i].name + len + 1);
            first = 0;
        }
    }
}

static void entry_case(FILE *f, const kumo__help_entry *e)
{
    fprintf(f, "    \"%s\")\n", e->name);
    /* the value of the option before the cursor */
    int any_value = 0;
    for (const kumo__help_option *o = e->options; o->name; o++)
        any_value |= o->arg != NULL;
    if (any_value) {
        fprintf(f, "        case $prev in\n");
        for (const kumo__help_option *o = e->options; o->name; o++) {
            if (o->arg == NULL)
                continue;
            fprintf(f, "        %s%s%s)\n", o->name, o->alias ? "|" : "", o->alias ? o->alias : "");
            complete_kind(f, o->kind, o->arg, "            ");
            fprintf(f, "            return ;;\n");
        }
        fprintf(f, "        esac\n");
    }
    fprintf(f, "        opts=\"--help");
    for (const kumo__help_option *o = e->options; o->name; o++)
        fprintf(f, " %s%s%s", o->name, o->alias ? " " : "", o->alias ? o->alias : "");
    fprintf(f, "\"\n");
    /* the positional argument: pos is -f, -d, -W (with posw), help or none */
    if (strcmp(e->name, "help") == 0)
        fprintf(f, "        pos=help ;;\n");
    else if (e->args_kind == KUMO__ARG_FILE)
        fprintf(f, "        pos=-f ;;\n");
    else if (e->args_kind == KUMO__ARG_DIR)
        fprintf(f, "        pos=-d ;;\n");
    else if (e->args_kind == KUMO__ARG_WORDS) {
        fprintf(f, "        pos=-W posw=\"");
        words(f, e->args_words);
        fprintf(f, "\" ;;\n");
    } else
        fprintf(f, "        pos= ;;\n");
}

static void write_bash(FILE *f)
{
    size_t n;
    const kumo__help_entry *all = kumo__help_entries(&n);
    fprintf(f,
            "# bash completion for kumo %s, written by `kumo completion bash` from the\n"
            "# command table (src/cli/help.c). Install it as\n"
            "# share/bash-completion/completions/kumo (make install does), or\n"
            "# `source <(kumo completion bash)` in ~/.bashrc.\n\n",
            KUMO_VERSION);
    fprintf(f, "# _kumo_reply -f|-d|-W WORDS: COMPREPLY from compgen for the word at the cursor.\n"
               "_kumo_reply() {\n"
               "    if [ \"$1\" = -W ]; then\n"
               "        mapfile -t COMPREPLY < <(compgen -P \"$pre\" -W \"$2\" -- \"$cur\")\n"
               "    else\n"
               "        compopt -o filenames 2>/dev/null\n"
               "        mapfile -t COMPREPLY < <(compgen -P \"$pre\" \"$1\" -- \"$cur\")\n"
               "    fi\n"
               "}\n\n");
    fprintf(f, "# _kumo_subs COMMAND: its subcommands.\n_kumo_subs() {\n    case $1 in\n");
    for (size_t i = 0; i < n; i++) {
        if (strchr(all[i].name, ' '))
            continue;
        size_t len = strlen(all[i].name);
        int has = 0;
        for (size_t j = 0; j < n; j++)
            has |= strncmp(all[j].name, all[i].name, len) == 0 && all[j].name[len] == ' ';
        if (!has)
            continue;
        fprintf(f, "    %s) echo \"", all[i].name);
        subcommands(f, all, n, all[i].name);
        fprintf(f, "\" ;;\n");
    }
    fprintf(f, "    esac\n}\n\n");

    fprintf(f, "_kumo() {\n"
               "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
               "    local cmd=${COMP_WORDS[1]} sub= opts= subs= pos= posw= pre= commands=\"");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (strchr(all[i].name, ' ') == NULL) {
            fprintf(f, "%s%s", first ? "" : " ", all[i].name);
            first = 0;
        }
    }
    fprintf(f, "\"\n"
               "    COMPREPLY=()\n"
               "    # --opt=value: bash splits at '=' (COMP_WORDBREAKS), or keeps one word\n"
               "    if [ \"$cur\" = = ]; then\n"
               "        cur=\n"
               "    elif [ \"$prev\" = = ] && [ \"$COMP_CWORD\" -gt 2 ]; then\n"
               "        prev=${COMP_WORDS[COMP_CWORD - 2]}\n"
               "    elif [[ $cur == --*=* ]]; then\n"
               "        prev=${cur%%%%=*} pre=${cur%%%%=*}= cur=${cur#*=}\n"
               "    fi\n"
               "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
               "        _kumo_reply -W \"$commands --help --version\"\n"
               "        return\n"
               "    fi\n"
               "    subs=$(_kumo_subs \"$cmd\")\n"
               "    if [ \"$COMP_CWORD\" -gt 2 ] && [[ \" $subs \" == *\" ${COMP_WORDS[2]} \"* ]]; then\n"
               "        sub=${COMP_WORDS[2]}\n"
               "    fi\n"
               "    case \"$cmd${sub:+ $sub}\" in\n");
    for (size_t i = 0; i < n; i++)
        entry_case(f, &all[i]);
    fprintf(f, "    *) return ;;\n"
               "    esac\n"
               "    if [[ $cur == -* ]]; then\n"
               "        _kumo_reply -W \"$opts\"\n"
               "    else\n"
               "        case $pos in\n"
               "        -f | -d) _kumo_reply \"$pos\" ;;\n"
               "        -W) _kumo_reply -W \"$posw\" ;;\n"
               "        help)\n"
               "            if [ \"$COMP_CWORD\" -eq 2 ]; then\n"
               "                _kumo_reply -W \"$commands\"\n"
               "            elif [ \"$COMP_CWORD\" -eq 3 ]; then\n"
               "                _kumo_reply -W \"$(_kumo_subs \"${COMP_WORDS[2]}\")\"\n"
               "            fi ;;\n"
               "        esac\n"
               "        if [ \"$COMP_CWORD\" -eq 2 ] && [ -n \"$subs\" ]; then\n"
               "            local more=(\"${COMPREPLY[@]}\")\n"
               "            _kumo_reply -W \"$subs\"\n"
               "            COMPREPLY+=(\"${more[@]}\")\n"
               "        fi\n"
               "    fi\n"

               "}\n\n"
               "complete -F _kumo kumo\n");
}

int kumo__cmd_completion(int argc, char **argv, kumo__error *err)
{
    if (argc != 1 || strcmp(argv[0], "bash") != 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "%s",
                        argc == 0  ? "which shell? kumo completion bash"
                        : argc > 1 ? "one shell only: kumo completion bash"
                                   : "only bash is supported: kumo completion bash");
        return err->code;
    }
    write_bash(stdout);
    return 0;
}
