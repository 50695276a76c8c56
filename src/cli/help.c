/*
 * help.c: the command table. Each entry is a command, with the function
 * that runs it (src/cli/CMD.c), or a subcommand ("events redrive", run by
 * its command): its summary, positional arguments, options (one line
 * each) and an example. main.c dispatches through it and prints an entry
 * for `kumo CMD --help`, `kumo help CMD` and after a usage error;
 * completion.c writes the bash completion from the same entries. A new
 * command is one entry here (and docs/cli.md: scripts/cli_doc.py).
 *
 * A command's parser and its entry here must agree: the binary is run
 * with every option of every entry (tests/integration/test_cli.py), and
 * every option any entry or doc names is passed to every other parser
 * (tests/unit/cli/test_help.c), so an option added to a parser without a
 * line here, or listed here and refused, fails the suite.
 */
#include "cli/help.h"

#include <string.h>

#define ADMIN_OPTIONS                                                                                                  \
    {"--admin-port", NULL, "N", KUMO__ARG_VALUE, 0, "the running kumo's admin port (default 8081)"},                   \
        {"--host", NULL, "ADDR", KUMO__ARG_VALUE, 0, "the running kumo's address (default 127.0.0.1)"},                \
    {                                                                                                                  \
        "--admin-token-file", NULL, "FILE", KUMO__ARG_FILE, 0,                                                         \
            "the admin token, in a file only you can read (default: $KUMO_ADMIN_TOKEN)"                                \
    }

static const kumo__help_option up_options[] = {
    {"--port", NULL, "N", KUMO__ARG_VALUE, 0, "the API's port (default 8080; 0 picks a free one)"},
    {"--admin-port", NULL, "N|-1", KUMO__ARG_VALUE, 0, "the admin port (default 8081; -1 turns it off)"},
    {"--host", NULL, "ADDR", KUMO__ARG_VALUE, 0, "the address to listen on (default 127.0.0.1)"},
    {"--threads", NULL, "N", KUMO__ARG_VALUE, 0, "event loops, 1 to 256 (default: one per core)"},
    {"--dev", NULL, NULL, KUMO__ARG_NONE, 0, "check every response against the OpenAPI document, log mismatches"},
    {"--strict", NULL, NULL, KUMO__ARG_NONE, 0, "--dev, and a response that breaks the document becomes a 500"},
    {"--env", NULL, "NAME", KUMO__ARG_VALUE, 0, "apply kumo.yaml's environments.NAME"},
    {"--cpu-affinity", NULL, NULL, KUMO__ARG_NONE, 0, "pin each event loop to a core"},
    {"--admin-token-file", NULL, "FILE", KUMO__ARG_FILE, 0,
     "require this bearer token on the admin port (default: $KUMO_ADMIN_TOKEN)"},
    {"--reload-interval", NULL, "S", KUMO__ARG_VALUE, 0, "at most one reload per S seconds, 0 to 3600 (default 1)"},
    {"--mock", NULL, NULL, KUMO__ARG_NONE, 0, "operations without a handler answer mock responses, not 501"},
    {"--seed", NULL, "S", KUMO__ARG_VALUE, 0, "with --mock: the seed of generated values"},
    {"--core-dumps", NULL, NULL, KUMO__ARG_NONE, 0,
     "a crashing worker leaves its core in .kumo/data/cores (docs/debugging.md)"},
    {NULL},
};

/* kumo dev takes kumo up's options and --debug's. */
static const kumo__help_option dev_options[] = {
    {"--port", NULL, "N", KUMO__ARG_VALUE, 0, "the API's port (default 8080; 0 picks a free one)"},
    {"--admin-port", NULL, "N|-1", KUMO__ARG_VALUE, 0, "the admin port (default 8081; -1 turns it off)"},
    {"--host", NULL, "ADDR", KUMO__ARG_VALUE, 0, "the address to listen on (default 127.0.0.1)"},
    {"--threads", NULL, "N", KUMO__ARG_VALUE, 0, "event loops, 1 to 256 (default: one per core)"},
    {"--dev", NULL, NULL, KUMO__ARG_NONE, 0, "check every response against the OpenAPI document, log mismatches"},
    {"--strict", NULL, NULL, KUMO__ARG_NONE, 0, "--dev, and a response that breaks the document becomes a 500"},
    {"--env", NULL, "NAME", KUMO__ARG_VALUE, 0, "apply kumo.yaml's environments.NAME"},
    {"--cpu-affinity", NULL, NULL, KUMO__ARG_NONE, 0, "pin each event loop to a core"},
    {"--admin-token-file", NULL, "FILE", KUMO__ARG_FILE, 0,
     "require this bearer token on the admin port (default: $KUMO_ADMIN_TOKEN)"},
    {"--reload-interval", NULL, "S", KUMO__ARG_VALUE, 0, "at most one reload per S seconds, 0 to 3600 (default 1)"},
    {"--mock", NULL, NULL, KUMO__ARG_NONE, 0, "operations without a handler answer mock responses, not 501"},
    {"--seed", NULL, "S", KUMO__ARG_VALUE, 0, "with --mock: the seed of generated values"},
    {"--core-dumps", NULL, NULL, KUMO__ARG_NONE, 0,
     "a crashing worker leaves its core in .kumo/data/cores (docs/debugging.md)"},
    {"--debug", NULL, "OPERATION", KUMO__ARG_VALUE, 0,
     "run OPERATION's function in one worker without a deadline, for gdb or VS Code (docs/debugging.md)"},
    {"--debug-port", NULL, "N", KUMO__ARG_VALUE, 0, "with --debug: serve the worker with gdbserver on port N"},
    {NULL},
};

static const kumo__help_option mock_options[] = {
    {"--port", NULL, "N", KUMO__ARG_VALUE, 0, "the port (default 4010; 0 picks a free one)"},
    {"--host", NULL, "ADDR", KUMO__ARG_VALUE, 0, "the address to listen on (default 127.0.0.1)"},
    {"--seed", NULL, "S", KUMO__ARG_VALUE, 0, "the seed of generated values (same seed, same answers)"},
    {"--threads", NULL, "N", KUMO__ARG_VALUE, 0, "event loops, 1 to 256 (default: one per core)"},
    {"--cpu-affinity", NULL, NULL, KUMO__ARG_NONE, 0, "pin each event loop to a core"},
    {"--stateful", NULL, NULL, KUMO__ARG_NONE, 0, "remember what POST, PUT and DELETE did, in memory"},
    {"--data", NULL, "FILE", KUMO__ARG_FILE, 0, "with --stateful: the records to start from (JSON or YAML)"},
    {"--state", NULL, "FILE", KUMO__ARG_FILE, 0, "stateful, kept in FILE across runs"},
    {"--faults", NULL, "FILE", KUMO__ARG_FILE, 0, "inject latency and errors as FILE says (docs/mocks.md)"},
    {"--record", NULL, "DIR", KUMO__ARG_DIR, 0, "with --proxy: record the real answers into DIR"},
    {"--proxy", NULL, "URL", KUMO__ARG_VALUE, 0, "forward validated requests to URL"},
    {"--replay", NULL, "DIR", KUMO__ARG_DIR, 0, "answer with what --record wrote in DIR"},
    {"--redact", NULL, "HEADER", KUMO__ARG_VALUE, KUMO__OPT_REPEAT, "leave this header's value out of recordings"},
    {NULL},
};

static const kumo__help_option schema_validate_options[] = {
    {"--schema", NULL, "FILE", KUMO__ARG_FILE, KUMO__OPT_REQUIRED, "the schema (JSON or YAML)"},
    {"--pointer", NULL, "P", KUMO__ARG_VALUE, 0, "the schema at this JSON pointer of FILE (default: the root)"},
    {"--dialect", NULL, "oas30|2020-12", KUMO__ARG_WORDS, 0, "OpenAPI 3.0's schema or JSON Schema 2020-12"},
    {"--formats", NULL, "assert|annotate", KUMO__ARG_WORDS, 0, "whether a failed `format` is an error"},
    {"--direction", NULL, "request|response", KUMO__ARG_WORDS, 0,
     "apply readOnly (request) or writeOnly (response) as a body in that direction"},
    {NULL},
};

static const kumo__help_option lint_options[] = {
    {"--json", NULL, NULL, KUMO__ARG_NONE, 0, "the findings as JSON"},
    {"--env", NULL, "NAME", KUMO__ARG_VALUE, 0, "check kumo.yaml with environments.NAME applied"},
    {NULL},
};

static const kumo__help_option events_options[] = {
    {"--count", NULL, "N", KUMO__ARG_VALUE, 0, "next fire times per schedule (default 3)"},
    {"--json", NULL, NULL, KUMO__ARG_NONE, 0, "print JSON"},
    {"--from", NULL, "TIME", KUMO__ARG_VALUE, 0, "fire times after this UTC time (like 2026-03-28T12:00:00Z)"},
    ADMIN_OPTIONS,
    {NULL},
};

static const kumo__help_option redrive_options[] = {
    {"--max", NULL, "N", KUMO__ARG_VALUE, 0, "move at most N dead letters back (default: all)"},
    ADMIN_OPTIONS,
    {NULL},
};

static const kumo__help_option invoke_options[] = {
    {"--data", NULL, "FILE|-", KUMO__ARG_FILE, 0, "the body (or the event's payload), from FILE or stdin"},
    {"--header", NULL, "K:V", KUMO__ARG_VALUE, KUMO__OPT_REPEAT, "a request header"},
    {"--param", NULL, "K=V", KUMO__ARG_VALUE, KUMO__OPT_REPEAT, "a path or query parameter of the operation"},
    {"--json", NULL, NULL, KUMO__ARG_NONE, 0, "print the answer as JSON (status, headers, body)"},
    {"--verbose", "-v", NULL, KUMO__ARG_NONE, 0, "print the request and the answer's headers too"},
    ADMIN_OPTIONS,
    {NULL},
};

static const kumo__help_option logs_options[] = {
    {"--function", NULL, "F", KUMO__ARG_VALUE, 0, "only this function's records"},
    {"--operation", NULL, "O", KUMO__ARG_VALUE, 0, "only this operation's records"},
    {"--level", NULL, "debug|info|warn|error", KUMO__ARG_WORDS, 0, "this level and above"},
    {"--since", NULL, "30s|5m|2h|RFC3339", KUMO__ARG_VALUE, 0, "records since a duration ago or a time"},
    {"--trace", NULL, "ID", KUMO__ARG_VALUE, 0, "one trace's records"},
    {"--request", NULL, "ID", KUMO__ARG_VALUE, 0, "one request's records"},
    {"--json", NULL, NULL, KUMO__ARG_NONE, 0, "one JSON object a line"},
    {"--limit", NULL, "N", KUMO__ARG_VALUE, 0, "the last N records (0: all)"},
    {"--follow", "-f", NULL, KUMO__ARG_NONE, 0, "keep printing new records as they come"},
    {NULL},
};

static const kumo__help_option admin_show_options[] = {
    ADMIN_OPTIONS,
    {"--json", NULL, NULL, KUMO__ARG_NONE, 0, "print the admin port's JSON as it came"},
    {NULL},
};

static const kumo__help_option rules_options[] = {
    {"--output", "-o", "FILE", KUMO__ARG_FILE, 0, "write the rules to FILE (default: stdout)"},
    {NULL},
};

static const kumo__help_option reload_options[] = {
    ADMIN_OPTIONS,
    {NULL},
};

#define TARGETS_ARG "aws|gcp|azure|knative|openfaas|kubernetes"

static const kumo__help_option build_options[] = {
    {"--target", "-t", TARGETS_ARG, KUMO__ARG_WORDS, KUMO__OPT_REQUIRED, "the vendor to package for"},
    {"--host", NULL, "kumo-lambda|kumo-http|kumo-host", KUMO__ARG_WORDS, 0,
     "the package's host (default: the lean one, kumo-lambda for aws, kumo-http for the images and azure, "
     "when it serves the unit)"},
    {NULL},
};

static const kumo__help_option deploy_options[] = {
    {"--target", NULL, TARGETS_ARG, KUMO__ARG_WORDS, KUMO__OPT_REQUIRED, "the vendor to deploy to"},
    {"--env", NULL, "NAME", KUMO__ARG_VALUE, 0, "apply kumo.yaml's environments.NAME"},
    {"--dry-run", NULL, NULL, KUMO__ARG_NONE, 0, "write the generated files and print them; apply nothing"},
    {"--endpoint-url", NULL, "URL", KUMO__ARG_VALUE, 0, "aws: another endpoint (a local emulator)"},
    {"--region", NULL, "R", KUMO__ARG_VALUE, 0,
     "aws: the region (default: the environment's region:, else $AWS_REGION)"},
    {"--stack", NULL, "NAME", KUMO__ARG_VALUE, 0,
     "aws: the CloudFormation stack's name (default: the project's name, -ENV)"},
    {NULL},
};

static const kumo__help_option destroy_options[] = {
    {"--target", NULL, TARGETS_ARG, KUMO__ARG_WORDS, KUMO__OPT_REQUIRED, "the vendor to remove the project from"},
    {"--env", NULL, "NAME", KUMO__ARG_VALUE, 0, "apply kumo.yaml's environments.NAME"},
    {"--dry-run", NULL, NULL, KUMO__ARG_NONE, 0,
     "print what would be deleted (destroy.sh, or the aws plan); delete nothing"},
    {"--yes", "-y", NULL, KUMO__ARG_NONE, 0,
     "delete the data stores too without asking (aws's stack stores, azure's group)"},
    {"--keep-data", NULL, NULL, KUMO__ARG_NONE, 0,
     "keep what holds data (aws: the stack's tables, buckets and queues; azure: the storage account)"},
    {"--endpoint-url", NULL, "URL", KUMO__ARG_VALUE, 0, "aws: another endpoint (a local emulator)"},
    {"--region", NULL, "R", KUMO__ARG_VALUE, 0,
     "aws: the region (default: the environment's region:, else $AWS_REGION)"},
    {"--stack", NULL, "NAME", KUMO__ARG_VALUE, 0,
     "aws: the CloudFormation stack's name (default: the project's name, -ENV)"},
    {NULL},
};

static const kumo__help_option lambda_options[] = {
    {"--zip", NULL, "FILE", KUMO__ARG_FILE, KUMO__OPT_REQUIRED, "the function package (kumo build --target aws)"},
    {"--port", NULL, "N", KUMO__ARG_VALUE, 0, "the invoke API's port (default 9000; 0 picks a free one)"},
    {"--host", NULL, "ADDR", KUMO__ARG_VALUE, 0, "the address to listen on (default 127.0.0.1)"},
    {"--payload", NULL, "1|2", KUMO__ARG_WORDS, 0, "API Gateway's payload format version (default 1)"},
    {"--timeout", NULL, "S", KUMO__ARG_VALUE, 0, "an invocation's time limit, 1 to 900 s (default 30)"},
    {"--memory", NULL, "MB", KUMO__ARG_VALUE, 0, "the function's memory, 128 to 10240 MB (default 128)"},
    {"--function-name", NULL, "NAME", KUMO__ARG_VALUE, 0,
     "the function's name in its context (default: the zip's name)"},
    {"--env", NULL, "ENV", KUMO__ARG_VALUE, 0,
     "the environment of the package's kumo.yaml whose env: the function gets (default: none)"},
    {NULL},
};

static const kumo__help_option init_options[] = {
    {"--template", NULL, "hello|crud|events", KUMO__ARG_WORDS, 0, "the project to start from (default hello)"},
    {"--from", NULL, "SPEC", KUMO__ARG_FILE, 0, "an OpenAPI document: a stub handler for each of its operations"},
    {"--name", NULL, "NAME", KUMO__ARG_VALUE, 0, "the project's name (default: DIR's name)"},
    {NULL},
};

static const kumo__help_option test_options[] = {
    {"--filter", NULL, "TEXT", KUMO__ARG_VALUE, 0, "run only the tests whose name contains TEXT"},
    {"--timeout", NULL, "S", KUMO__ARG_VALUE, 0, "a test's time limit in seconds, 1 to 86400 (default 60)"},
    {"--env", NULL, "NAME", KUMO__ARG_VALUE, 0, "apply kumo.yaml's environments.NAME"},
    {"--verbose", NULL, NULL, KUMO__ARG_NONE, 0, "print what passing tests printed too"},
    {NULL},
};

static const kumo__help_option no_options[] = {{NULL}};

static int cmd_version(int argc, char **argv, kumo__error *err)
{
    if (argc > 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "unknown argument '%s'", argv[0]);
        return err->code;
    }
    printf("kumo %s\n", KUMO_VERSION);
    return 0;
}

static const kumo__help_entry entries[] = {
    {"init", kumo__cmd_init, "write a new project (a template, or stubs for an OpenAPI document), with a test", "[DIR]",
     KUMO__ARG_DIR, NULL, 0, init_options, "kumo init hello --template crud"},
    {"up", kumo__cmd_up, "build the functions and serve the project", "[DIR]", KUMO__ARG_DIR, NULL, 0, up_options,
     "kumo up examples/todo --port 8080 --dev"},
    {"dev", kumo__cmd_dev, "kumo up --dev, reloading on each saved change (docs/dev.md)", "[DIR]", KUMO__ARG_DIR, NULL,
     0, dev_options, "kumo dev examples/hello --port 8080"},
    {"mock", kumo__cmd_mock, "serve an OpenAPI document's mock: validated requests, example answers", "SPEC",
     KUMO__ARG_FILE, NULL, 0, mock_options, "kumo mock openapi.yaml --port 4010 --stateful"},
    {"schema", kumo__cmd_schema, "validate JSON instances against a schema", NULL, KUMO__ARG_NONE, NULL, 1, no_options,
     "kumo schema validate --schema openapi.yaml --pointer /components/schemas/Todo todo.json"},
    {"schema validate", NULL, "check each INSTANCE file against the schema; one line per error", "INSTANCE...",
     KUMO__ARG_FILE, NULL, 0, schema_validate_options,
     "kumo schema validate --schema openapi.yaml --pointer /components/schemas/Todo todo.json"},
    {"lint", kumo__cmd_lint, "check the project and its OpenAPI document", "[DIR]", KUMO__ARG_DIR, NULL, 0,
     lint_options, "kumo lint examples/todo --json"},
    {"events", kumo__cmd_events, "list the project's events, next fire times, and a running kumo's queue depths",
     "[DIR]", KUMO__ARG_DIR, NULL, 0, events_options, "kumo events . --count 5 --from 2026-03-28T12:00:00Z"},
    {"events redrive", NULL, "move an event's dead letters back to its queue (a running kumo)", "EVENT",
     KUMO__ARG_VALUE, NULL, 0, redrive_options, "kumo events redrive work --max 10"},
    {"invoke", kumo__cmd_invoke, "call a running kumo's event or operation by hand and print the answer",
     "EVENT|OPERATION_ID", KUMO__ARG_VALUE, NULL, 0, invoke_options, "kumo invoke getTodo --param id=1 --verbose"},
    {"logs", kumo__cmd_logs, "show what kumo up logged here (kept in .kumo/data/logs.db), running or stopped", "[DIR]",
     KUMO__ARG_DIR, NULL, 0, logs_options, "kumo logs --function todos --level warn --since 5m"},
    {"status", kumo__cmd_status, "show a running kumo's functions: replicas, queue, latency", NULL, KUMO__ARG_NONE,
     NULL, 0, admin_show_options, "kumo status --admin-port 8081"},
    {"monitors", kumo__cmd_monitors, "show a running kumo's monitors and alerts", NULL, KUMO__ARG_NONE, NULL, 0,
     admin_show_options, "kumo monitors --json"},
    {"monitors rules", NULL, "write the project's monitors as Prometheus alerting rules", "[DIR]", KUMO__ARG_DIR, NULL,
     0, rules_options, "kumo monitors rules examples/todo --output rules.yaml"},
    {"test", kumo__cmd_test, "build the project's tests (tests/*.c) and run them against its handlers, in process",
     "[DIR]", KUMO__ARG_DIR, NULL, 0, test_options, "kumo test examples/todo --filter create"},
    {"reload", kumo__cmd_reload, "make a running kumo load the project again, without downtime", NULL, KUMO__ARG_NONE,
     NULL, 0, reload_options, "kumo reload --admin-port 8081"},
    {"build", kumo__cmd_build, "package the project for a vendor (zip, OCI image, function app)", "[DIR]",
     KUMO__ARG_DIR, NULL, 0, build_options, "kumo build --target aws examples/todo"},
    {"deploy", kumo__cmd_deploy, "generate the vendor's infrastructure as code and apply it", "[DIR]", KUMO__ARG_DIR,
     NULL, 0, deploy_options, "kumo deploy --target aws examples/todo --dry-run"},
    {"destroy", kumo__cmd_destroy, "remove what kumo deploy created", "[DIR]", KUMO__ARG_DIR, NULL, 0, destroy_options,
     "kumo destroy --target aws examples/todo --region eu-west-1"},
    {"emulate", kumo__cmd_emulate, "run a packaged function locally", NULL, KUMO__ARG_NONE, NULL, 1, no_options,
     "kumo emulate lambda --zip .kumo/build/aws/todos.zip"},
    {"emulate lambda", NULL, "serve a function package behind the Lambda Runtime API and an invoke endpoint", NULL,
     KUMO__ARG_NONE, NULL, 0, lambda_options, "kumo emulate lambda --zip .kumo/build/aws/todos.zip --port 9000"},
    {"completion", kumo__cmd_completion, "print a shell's completion script for kumo", "bash", KUMO__ARG_WORDS, "bash",
     0, no_options, "source <(kumo completion bash)"},
    {"help", kumo__cmd_help, "show a command's usage, options and an example", "[COMMAND [SUBCOMMAND]]", KUMO__ARG_NONE,
     NULL, 0, no_options, "kumo help events redrive"},
    {"version", cmd_version, "print the version", NULL, KUMO__ARG_NONE, NULL, 0, no_options, "kumo version"},
};

#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

const kumo__help_entry *kumo__help_entries(size_t *n)
{
    *n = NENTRIES;
    return entries;
}

const kumo__help_entry *kumo__help_find(const char *name)
{
    for (size_t i = 0; i < NENTRIES; i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

/* The entry "cmd sub", without building the string. */
static const kumo__help_entry *find_sub(const char *cmd, const char *sub)
{
    size_t n = strlen(cmd);
    for (size_t i = 0; i < NENTRIES; i++)
        if (strncmp(entries[i].name, cmd, n) == 0 && entries[i].name[n] == ' ' &&
            strcmp(entries[i].name + n + 1, sub) == 0)
            return &entries[i];
    return NULL;
}

const kumo__help_entry *kumo__help_for(int argc, char **argv)
{
    if (argc < 1)
        return NULL;
    if (argc > 1) {
        const kumo__help_entry *s = find_sub(argv[0], argv[1]);
        if (s)
            return s;
    }
    return kumo__help_find(argv[0]);
}

/* Writes one usage word, wrapping before it passes 100 columns. */
static void word(FILE *f, int *col, const char *w, size_t len)
{
    if (*col + 1 + (int)len > 100) {
        fputs("\n           ", f);
        *col = 11;
    }
    fprintf(f, " %.*s", (int)len, w);
    *col += 1 + (int)len;
}

void kumo__help_usage(FILE *f, const kumo__help_entry *e)
{
    char buf[256];
    int col = 11;
    fprintf(f, "usage: kumo");
    word(f, &col, e->name, strlen(e->name));
    if (e->needs_sub) {
        /* the subcommands, each with its own usage */
        size_t n = strlen(e->name);
        int first = 1;
        for (size_t i = 0; i < NENTRIES; i++) {
            if (strncmp(entries[i].name, e->name, n) != 0 || entries[i].name[n] != ' ')
                continue;
            int len = snprintf(buf, sizeof(buf), "%s%s", first ? "" : "|", entries[i].name + n + 1);
            word(f, &col, buf, (size_t)len);
            first = 0;
        }
        word(f, &col, "...", 3);
        fputc('\n', f);
        return;
    }
    if (e->args)
        word(f, &col, e->args, strlen(e->args));
    for (const kumo__help_option *o = e->options; o->name; o++) {
        int req = o->flags & KUMO__OPT_REQUIRED;
        int len = snprintf(buf, sizeof(buf), "%s%s%s%s%s%s", req ? "" : "[", o->name, o->arg ? " " : "",
                           o->arg ? o->arg : "", req ? "" : "]", o->flags & KUMO__OPT_REPEAT ? "..." : "");
        word(f, &col, buf, (size_t)len);
    }
    fputc('\n', f);
}

void kumo__help_print(FILE *f, const kumo__help_entry *e)
{
    kumo__help_usage(f, e);
    fprintf(f, "\n%s\n", e->summary);
    size_t n = strlen(e->name);
    int subs = 0;
    for (size_t i = 0; i < NENTRIES; i++) {
        if (strncmp(entries[i].name, e->name, n) != 0 || entries[i].name[n] != ' ')
            continue;
        if (subs++ == 0)
            fprintf(f, "\nsubcommands:\n");
        fprintf(f, "  %-24s %s\n", entries[i].name + n + 1, entries[i].summary);
    }
    if (e->options[0].name) {
        fprintf(f, "\noptions:\n");
        for (const kumo__help_option *o = e->options; o->name; o++) {
            char left[128];
            snprintf(left, sizeof(left), "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
            if (strlen(left) > 24)
                fprintf(f, "  %s\n  %-24s %s\n", left, "", o->text);
            else
                fprintf(f, "  %-24s %s\n", left, o->text);
        }
    }
    if (subs)
        fprintf(f, "\n`kumo help %s SUBCOMMAND` shows a subcommand's options.\n", e->name);
    fprintf(f, "\nexample:\n  %s\n", e->example);
}

void kumo__help_overview(FILE *f)
{
    fprintf(f, "usage: kumo COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NENTRIES; i++)
        if (strchr(entries[i].name, ' ') == NULL)
            fprintf(f, "  %-11s %s\n", entries[i].name, entries[i].summary);
    fprintf(f, "\n`kumo help COMMAND` (or `kumo COMMAND --help`) shows a command's options and an example;\n"
               "docs/cli.md has them all.\n");
}

int kumo__cmd_help(int argc, char **argv, kumo__error *err)
{
    if (argc == 0) {
        kumo__help_overview(stdout);
        return 0;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)
        argv[0] = "help";
    const kumo__help_entry *e = argc > 1 ? find_sub(argv[0], argv[1]) : kumo__help_find(argv[0]);
    if (e == NULL || argc > 2) {
        if (argc > 1 && kumo__help_find(argv[0]))
            kumo__error_set(err, -KUMO__EUSAGE, "'%s' has no subcommand '%s'; `kumo help %s` lists them", argv[0],
                            argv[1], argv[0]);
        else
            kumo__error_set(err, -KUMO__EUSAGE, "no command '%s'; `kumo help` lists them", argv[0]);
        return err->code;
    }
    kumo__help_print(stdout, e);
    return 0;
}
