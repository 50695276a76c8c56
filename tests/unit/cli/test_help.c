/*
 * test_help.c: the command table (src/cli/help.c) against the parsers of
 * the commands it runs. Each probe calls a command's own function with
 * `[SUBCOMMAND] OPTION [VALUE] --zz-a --zz-b`: the two options no command
 * knows end every parse with a usage error, so nothing runs, and the
 * message says which argument the parser refused first.
 *
 * - Every option an entry lists (and its alias) is accepted by that
 *   command: the parser refuses --zz-a, not the option.
 * - No command accepts an option it does not list, among every option any
 *   entry lists and every --option on a line of README.md and the docs
 *   that shows a kumo command: the parser refuses the option itself.
 * - The table is well formed: commands have a function, subcommands a
 *   command, every option a line of text, word lists their words.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli/help.h"

#define BOGUS_A "--zz-a"
#define BOGUS_B "--zz-b"
#define CANDIDATES_MAX 512

static char *candidates[CANDIDATES_MAX];
static size_t ncandidates;

static void add_candidate(const char *s, size_t n)
{
    for (size_t i = 0; i < ncandidates; i++)
        if (strlen(candidates[i]) == n && strncmp(candidates[i], s, n) == 0)
            return;
    if (ncandidates < CANDIDATES_MAX)
        candidates[ncandidates++] = strndup(s, n);
}

/* Every --option on the lines of `path` that show a kumo command. */
static void scan_doc(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "kumo ") == NULL)
            continue;
        for (char *p = line; (p = strstr(p, "--")) != NULL;) {
            int start_ok = p == line || !(p[-1] == '-' || p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                                          (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9'));
            size_t n = 2;
            if (p[2] >= 'a' && p[2] <= 'z')
                n += strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
            if (start_ok && n > 2)
                add_candidate(p, n);
            p += n;
        }
    }
    fclose(f);
}

static int scan_docs(void)
{
    int files = 0;
    DIR *d = opendir("../../docs");
    if (d == NULL)
        return 0;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 3 && strcmp(e->d_name + n - 3, ".md") == 0) {
            snprintf(path, sizeof(path), "../../docs/%s", e->d_name);
            scan_doc(path);
            files++;
        }
    }
    closedir(d);
    scan_doc("../../README.md");
    return files;
}

/* A value each parser takes for an option of this placeholder. */
static const char *sample(const kumo__help_option *o)
{
    static const struct {
        const char *arg, *value;
    } samples[] = {
        {"N", "1"},
        {"N|-1", "1"},
        {"S", "1"},
        {"MB", "256"},
        {"ADDR", "127.0.0.1"},
        {"NAME", "prod"},
        {"URL", "http://127.0.0.1:9/"},
        {"K:V", "X-A:b"},
        {"K=V", "id=1"},
        {"TIME", "2026-03-28T12:00:00Z"},
        {"30s|5m|2h|RFC3339", "5m"},
    };
    static char word[64];
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        if (strcmp(o->arg, samples[i].arg) == 0)
            return samples[i].value;
    if (o->kind == KUMO__ARG_WORDS) {
        snprintf(word, sizeof(word), "%.*s", (int)strcspn(o->arg, "|"), o->arg);
        return word;
    }
    return "/nonexistent/kumo-probe"; /* FILE, DIR and the rest: never opened, the parse fails first */
}

/* The command entry that runs `e`, and whether e is a subcommand. */
static const kumo__help_entry *runner(const kumo__help_entry *e, int *is_sub)
{
    const char *space = strchr(e->name, ' ');
    *is_sub = space != NULL;
    if (space == NULL)
        return e;
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "%.*s", (int)(space - e->name), e->name);
    return kumo__help_find(cmd);
}

/* What the parser of `e` refused first in `[SUB] opt [value] BOGUS_A
 * BOGUS_B` (a static buffer), or "" when it was no unknown argument. */
static const char *probe(const kumo__help_entry *e, const char *opt, const char *value)
{
    static char refused[256];
    int is_sub;
    const kumo__help_entry *cmd = runner(e, &is_sub);
    char *argv[8];
    int argc = 0;
    if (is_sub)
        argv[argc++] = (char *)strchr(e->name, ' ') + 1;
    argv[argc++] = (char *)opt;
    if (value)
        argv[argc++] = (char *)value;
    argv[argc++] = BOGUS_A;
    argv[argc++] = BOGUS_B;
    argv[argc] = NULL;
    kumo__error err = {0};
    int rc = cmd->run(argc, argv, &err);
    refused[0] = '\0';
    if (rc != -KUMO__EUSAGE) {
        fprintf(stderr, "kumo %s %s %s: returned %d (%s), not a usage error\n", e->name, opt, value ? value : "", rc,
                err.msg);
        return "(no usage error)";
    }
    static const char *const forms[] = {"unknown option '", "unknown argument '", "unknown option or missing value: "};
    for (size_t i = 0; i < 3; i++) {
        const char *m = strstr(err.msg, forms[i]);
        if (m == NULL)
            continue;
        m += strlen(forms[i]);
        snprintf(refused, sizeof(refused), "%.*s", (int)strcspn(m, "' "), m);
        break;
    }
    return refused;
}

static int lists(const kumo__help_entry *e, const char *opt)
{
    for (const kumo__help_option *o = e->options; o->name; o++)
        if (strcmp(o->name, opt) == 0 || (o->alias && strcmp(o->alias, opt) == 0))
            return 1;
    return 0;
}

static void test_table_is_well_formed(const kumo__help_entry *all, size_t n)
{
    CHECK(n > 15);
    for (size_t i = 0; i < n; i++) {
        const kumo__help_entry *e = &all[i];
        int is_sub;
        const kumo__help_entry *cmd = runner(e, &is_sub);
        CHECK(cmd != NULL && cmd->run != NULL);
        CHECK(is_sub ? e->run == NULL : e->run != NULL);
        CHECK(e->summary && *e->summary && e->example && strstr(e->example, "kumo "));
        CHECK(e->args_kind != KUMO__ARG_WORDS || (e->args_words && *e->args_words));
        for (const kumo__help_option *o = e->options; o->name; o++) {
            CHECK(strncmp(o->name, "--", 2) == 0 && o->text && *o->text);
            CHECK((o->arg == NULL) == (o->kind == KUMO__ARG_NONE));
            CHECK(o->kind != KUMO__ARG_WORDS || strchr(o->arg, '|'));
        }
    }
    CHECK(kumo__help_find("events redrive") != NULL);
    int argc = 2;
    char *argv[] = {"events", "redrive", NULL};
    CHECK(kumo__help_for(argc, argv) == kumo__help_find("events redrive"));
    argv[1] = "examples/todo";
    CHECK(kumo__help_for(argc, argv) == kumo__help_find("events"));
}

static void test_listed_options_are_accepted(const kumo__help_entry *all, size_t n)
{
    int probes = 0;
    for (size_t i = 0; i < n; i++) {
        for (const kumo__help_option *o = all[i].options; o->name; o++) {
            const char *names[] = {o->name, o->alias};
            for (int k = 0; k < 2 && names[k]; k++) {
                const char *got = probe(&all[i], names[k], o->arg ? sample(o) : NULL);
                probes++;
                if (strcmp(got, BOGUS_A) != 0)
                    fprintf(stderr, "kumo %s refuses %s, which its help lists (refused: '%s')\n", all[i].name, names[k],
                            got);
                CHECK(strcmp(got, BOGUS_A) == 0);
            }
        }
    }
    CHECK(probes > 80);
}

static void test_unlisted_options_are_refused(const kumo__help_entry *all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (const kumo__help_option *o = all[i].options; o->name; o++) {
            add_candidate(o->name, strlen(o->name));
            if (o->alias)
                add_candidate(o->alias, strlen(o->alias));
        }
    size_t from_table = ncandidates;
    CHECK(scan_docs() > 20);
    CHECK(ncandidates > from_table);
    int probes = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].options[0].name == NULL)
            continue; /* takes no option (help, version, completion) or only picks a subcommand */
        for (size_t c = 0; c < ncandidates; c++) {
            if (lists(&all[i], candidates[c]) || strcmp(candidates[c], "--help") == 0)
                continue;
            const char *got = probe(&all[i], candidates[c], NULL);
            probes++;
            if (strcmp(got, candidates[c]) != 0)
                fprintf(stderr, "kumo %s accepts %s, which its help does not list (refused: '%s')\n", all[i].name,
                        candidates[c], got);
            CHECK(strcmp(got, candidates[c]) == 0);
        }
    }
    CHECK(probes > 500);
    printf("%zu candidate options (%zu from the table), %d probes\n", ncandidates, from_table, probes);
}

int main(void)
{
    size_t n;
    const kumo__help_entry *all = kumo__help_entries(&n);
    test_table_is_well_formed(all, n);
    test_listed_options_are_accepted(all, n);
    test_unlisted_options_are_refused(all, n);
    for (size_t i = 0; i < ncandidates; i++)
        free(candidates[i]);
    return check_report();
}
