/*
 * cli.h: the kumo command table. One file per subcommand; each takes
 * argc/argv after its name and returns an error through kumo__error, which
 * only main prints and turns into an exit status.
 */
#ifndef KUMO_CLI_H
#define KUMO_CLI_H

#include "base/error.h"

typedef int kumo__command_fn(int argc, char **argv, kumo__error *err);

typedef struct kumo__command {
    const char *name;
    kumo__command_fn *run;
    const char *summary;
    const char *usage;
} kumo__command;

int kumo__cmd_up(int argc, char **argv, kumo__error *err);
int kumo__cmd_schema(int argc, char **argv, kumo__error *err);
int kumo__cmd_lint(int argc, char **argv, kumo__error *err);
int kumo__cmd_status(int argc, char **argv, kumo__error *err);
int kumo__cmd_reload(int argc, char **argv, kumo__error *err);
int kumo__cmd_build(int argc, char **argv, kumo__error *err);
int kumo__cmd_deploy(int argc, char **argv, kumo__error *err);
int kumo__cmd_destroy(int argc, char **argv, kumo__error *err);
int kumo__cmd_emulate(int argc, char **argv, kumo__error *err);

/* admin.c: one HTTP/1.0 request to a running kumo's admin port; *status
 * and *body (malloc'd, NUL-terminated, at most `max` bytes) on 0. */
int kumo__admin_request(const char *host, int port, const char *method, const char *path, int timeout_s, size_t max,
                        int *status, char **body, kumo__error *err);
/* Reads --admin-port N or --host ADDR at argv[*i] (advancing *i): 1 when
 * it was one of them, 0 when not, negative (err set) when malformed. */
int kumo__admin_option(int argc, char **argv, int *i, const char **host, int *port, kumo__error *err);

/* Exit status for usage errors: main prints the command's usage. */
#define KUMO__EUSAGE 1064

#endif
