/*
 * main.c: the kumo command. A table of subcommands over the library; this
 * is the only place that prints an error and picks an exit status
 * (0 success, 1 failure, 2 usage).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const kumo__command commands[] = {
    {"up", kumo__cmd_up, "build the functions and serve the project",
     "kumo up [DIR] [--port N] [--admin-port N|-1] [--host ADDR] [--threads N] [--dev] [--strict] [--env NAME] "
     "[--cpu-affinity] [--admin-token-file FILE] [--reload-interval S] [--mock [--seed S]]"},
    {"mock", kumo__cmd_mock, "serve an OpenAPI document's mock: validated requests, example answers",
     "kumo mock SPEC [--port N] [--host ADDR] [--seed S] [--threads N] [--cpu-affinity] "
     "[--stateful [--data FILE] | --state FILE] "
     "[--faults FILE] [--record DIR --proxy URL | --replay DIR] [--redact HEADER]..."},
    {"schema", kumo__cmd_schema, "validate JSON instances against a schema",
     "kumo schema validate --schema FILE [--pointer P] [--dialect oas30|2020-12] [--formats assert|annotate] "
     "INSTANCE..."},
    {"lint", kumo__cmd_lint, "check the project and its OpenAPI document", "kumo lint [DIR] [--json] [--env NAME]"},
    {"events", kumo__cmd_events,
     "list the project's events, next fire times, and a running kumo's queue depths; redrive dead letters",
     "kumo events [DIR] [--count N] [--json] [--from 2026-03-28T12:00:00Z] [--admin-port N] [--host ADDR] "
     "[--admin-token-file FILE]\n       kumo events redrive EVENT [--max N] [--admin-port N] [--host ADDR] "
     "[--admin-token-file FILE]"},
    {"invoke", kumo__cmd_invoke, "call a running kumo's event or operation by hand and print the answer",
     "kumo invoke EVENT|OPERATION_ID [--data FILE|-] [--header K:V]... [--param K=V]... [--json] [--verbose] "
     "[--admin-port N] [--host ADDR] [--admin-token-file FILE]"},
    {"logs", kumo__cmd_logs, "show what kumo up logged here (kept in .kumo/data/logs.db), running or stopped",
     "kumo logs [DIR] [--function F] [--operation O] [--level debug|info|warn|error] [--since 30s|5m|2h|RFC3339] "
     "[--trace ID] [--request ID] [--json] [--limit N] [--follow]"},
    {"status", kumo__cmd_status, "show a running kumo's functions: replicas, queue, latency",
     "kumo status [--admin-port N] [--host ADDR] [--admin-token-file FILE] [--json]"},
    {"monitors", kumo__cmd_monitors, "show a running kumo's monitors and alerts; write them as Prometheus rules",
     "kumo monitors [--admin-port N] [--host ADDR] [--admin-token-file FILE] [--json]\n       kumo monitors rules "
     "[DIR] [--output FILE]"},
    {"reload", kumo__cmd_reload, "make a running kumo load the project again, without downtime",
     "kumo reload [--admin-port N] [--host ADDR] [--admin-token-file FILE]"},
    {"build", kumo__cmd_build, "package the project for a vendor (zip, OCI image, function app)",
     "kumo build --target aws|gcp|azure|knative|openfaas|kubernetes [DIR]"},
    {"deploy", kumo__cmd_deploy, "generate the vendor's infrastructure as code and apply it",
     "kumo deploy --target T [DIR] [--env NAME] [--dry-run] [--endpoint-url URL] [--region R] [--stack NAME]"},
    {"destroy", kumo__cmd_destroy, "remove what kumo deploy created",
     "kumo destroy --target T [DIR] [--env NAME] [--dry-run] [--yes] [--keep-data] [--endpoint-url URL] [--region R] "
     "[--stack NAME]"},
    {"emulate", kumo__cmd_emulate, "run a packaged function locally (the Lambda Runtime API)",
     "kumo emulate lambda --zip FILE [--port N] [--payload 1|2]"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: kumo COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-8s %s\n", "version", "print the version");
    fprintf(f, "  %-8s %s\n", "help", "this text");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("kumo %s\n", KUMO_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        kumo__error err = {0};
        int rc = commands[i].run(argc - 2, argv + 2, &err);
        if (rc == 0)
            return 0;
        fprintf(stderr, "kumo %s: %s\n", name, err.msg[0] ? err.msg : "failed");
        if (rc == -KUMO__EUSAGE) {
            fprintf(stderr, "usage: %s\n", commands[i].usage);
            return 2;
        }
        return 1;
    }
    fprintf(stderr, "kumo: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
