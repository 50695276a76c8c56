/*
 * lint.c: `kumo lint [DIR] [--json]`. Loads the project and its OpenAPI
 * document the way `kumo up` does, builds the function units, and reports
 * what would make the served API fall short of its contract, each with the
 * file:line:column to fix:
 *
 *   errors    the project or spec does not load; a unit does not build;
 *             x-kumo-handler names a unit kumo.yaml lacks, or a symbol its
 *             unit does not define; a handler found in two units
 *   warnings  an operation with no handler (it answers 501); a unit's
 *             exported function no operation uses; no example for a JSON
 *             request body or a 2xx JSON response; no operationId; a
 *             response without description
 *
 * Binding is checked here rather than through kumo__bind_operations so that
 * every problem is reported, not just the first hard one, each with its
 * position. Human output goes to stdout, sorted by file and line, with a
 * summary; --json prints an array of findings instead. The exit status is 1
 * when there are errors.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "project/project.h"
#include "openapi/pointer.h"
#include "runtime/runtime.h"

enum severity { SEV_ERROR = 0, SEV_WARNING = 1 };

typedef struct finding {
    char *file;
    int line, col;
    enum severity sev;
    char *message;
    char *operation; /* "GET /todos/{id}", or NULL */
    size_t seq;      /* order of discovery, to keep sorting stable */
} finding;

typedef struct lint {
    finding *items;
    size_t n, cap;
    int oom;
    char cwd[PATH_MAX];
    const kumo__spec *spec;
} lint;

/* A path relative to the working directory when it lies under it. */
static const char *shown_path(const lint *l, const char *path)
{
    size_t n = strlen(l->cwd);
    while (path && path[0] == '.' && path[1] == '/')
        path += 2;
    if (path && n > 0 && strncmp(path, l->cwd, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path ? path : "";
}

static void add(lint *l, const char *file, int line, int col, enum severity sev, const char *operation,
                const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void add(lint *l, const char *file, int line, int col, enum severity sev, const char *operation,
                const char *fmt, ...)
{
    if (l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        finding *f = realloc(l->items, cap * sizeof(*f));
        if (f == NULL) {
            l->oom = 1;
            return;
        }
        l->items = f;
        l->cap = cap;
    }
    finding *f = &l->items[l->n];
    memset(f, 0, sizeof(*f));
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&f->message, fmt, ap);
    va_end(ap);
    f->file = strdup(shown_path(l, file));
    f->operation = operation ? strdup(operation) : NULL;
    if (rc < 0 || f->file == NULL || (operation && f->operation == NULL)) {
        if (rc >= 0)
            free(f->message);
        free(f->file);
        free(f->operation);
        l->oom = 1;
        return;
    }
    f->line = line;
    f->col = col;
    f->sev = sev;
    f->seq = l->n;
    l->n++;
}

/* An error message of the loaders, "path:line:col: text" or "path: text"
 * (possibly after "context: " prefixes), split into a finding. */
static void add_error_message(lint *l, const char *fallback_file, const char *msg)
{
    const char *p = msg;
    /* find the first ":N:N: " */
    for (const char *c = strchr(msg, ':'); c; c = strchr(c + 1, ':')) {
        int line = 0, col = 0, used = 0;
        if (sscanf(c, ":%d:%d: %n", &line, &col, &used) == 2 && used > 0) {
            const char *start = c;
            while (start > msg && start[-1] != ' ')
                start--;
            char file[PATH_MAX];
            snprintf(file, sizeof(file), "%.*s", (int)(c - start), start);
            add(l, file, line, col, SEV_ERROR, NULL, "%s", c + used);
            return;
        }
    }
    add(l, fallback_file, 0, 0, SEV_ERROR, NULL, "%s", p);
}

/* ---- the spec: local $refs, examples ------------------------------------ */

static const json_t *deref(const lint *l, const json_t *v)
{
    json_t *root = kumo__doc_root(l->spec->doc);
    for (int i = 0; i < 32 && json_is_object(v); i++) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (ref == NULL || ref[0] != '#')
            return v;
        const json_t *t = kumo__pointer_get(root, ref + 1, strlen(ref + 1), 1);
        if (t == NULL)
            return v;
        v = t;
    }
    return v;
}

/* A schema carries an example: example or examples, on it or on one of its
 * properties (or its items), following local $refs and allOf. */
static int schema_has_example(const lint *l, const json_t *schema, int depth)
{
    schema = deref(l, schema);
    if (!json_is_object(schema) || depth > 8)
        return 0;
    if (json_object_get(schema, "example") || json_object_get(schema, "examples"))
        return 1;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(schema, "properties"), key, v) {
        const json_t *p = deref(l, v);
        if (json_object_get(p, "example") || json_object_get(p, "examples"))
            return 1;
    }
    if (json_object_get(schema, "items") && schema_has_example(l, json_object_get(schema, "items"), depth + 1))
        return 1;
    size_t i;
    json_array_foreach(json_object_get(schema, "allOf"), i, v) {
        if (schema_has_example(l, v, depth + 1))
            return 1;
    }
    return 0;
}

static int is_json_type(const char *type)
{
    size_t n = strcspn(type, ";");
    return (n == 16 && strncasecmp(type, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(type + n - 5, "+json", 5) == 0);
}

/* Whether a content map has a JSON media type, and whether each JSON one
 * has an example: 1 all do, 0 one lacks it, -1 no JSON media type. */
static int content_examples(const lint *l, const json_t *content)
{
    int any = 0;
    const char *type;
    json_t *media;
    json_object_foreach((json_t *)content, type, media) {
        if (!is_json_type(type))
            continue;
        any = 1;
        if (json_object_get(media, "example") || json_object_get(media, "examples"))
            continue;
        if (!schema_has_example(l, json_object_get(media, "schema"), 0))
            return 0;
    }
    return any ? 1 : -1;
}

/* 1-based position of `node`, or of the key `key` in `parent`, or of the
 * operation. */
static void pos_of(const lint *l, const json_t *node, const json_t *parent, const char *key, const json_t *op,
                   int *line, int *col)
{
    *line = *col = 0;
    if (node && kumo__doc_pos(l->spec->doc, node, line, col))
        return;
    if (parent && key && kumo__doc_key_pos(l->spec->doc, parent, key, line, col))
        return;
    kumo__doc_pos(l->spec->doc, op, line, col);
}

static void check_examples_and_responses(lint *l, const kumo__operation *op, const char *label)
{
    const char *file = kumo__doc_path(l->spec->doc);
    int line, col;
    const json_t *node = op->node;
    int swagger = l->spec->version == 20;

    /* the request body */
    if (!swagger) {
        const json_t *rb_ref = json_object_get(node, "requestBody");
        const json_t *rb = deref(l, rb_ref);
        if (json_is_object(rb) && content_examples(l, json_object_get(rb, "content")) == 0) {
            pos_of(l, rb_ref, node, "requestBody", node, &line, &col);
            add(l, file, line, col, SEV_WARNING, label,
                "no example for the request body; add `example:` under its application/json media type");
        }
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(node, "parameters"), i, p) {
            const json_t *param = deref(l, p);
            const char *in = json_string_value(json_object_get(param, "in"));
            if (in && strcmp(in, "body") == 0 && !schema_has_example(l, json_object_get(param, "schema"), 0)) {
                pos_of(l, p, NULL, NULL, node, &line, &col);
                add(l, file, line, col, SEV_WARNING, label,
                    "no example for the request body; add `example:` to its schema");
            }
        }
    }

    /* responses */
    const json_t *responses = json_object_get(node, "responses");
    const char *status;
    json_t *r_ref;
    json_object_foreach((json_t *)responses, status, r_ref) {
        if (strncmp(status, "x-", 2) == 0)
            continue;
        const json_t *r = deref(l, r_ref);
        if (!json_is_object(r))
            continue;
        const json_t *desc = json_object_get(r, "description");
        if (!json_is_string(desc) || json_string_length(desc) == 0) {
            pos_of(l, r_ref, responses, status, node, &line, &col);
            add(l, file, line, col, SEV_WARNING, label,
                "the %s response has no description; add one (OpenAPI requires it, and /docs shows it)", status);
        }
        if (status[0] != '2')
            continue;
        int has;
        if (swagger) {
            const json_t *schema = json_object_get(r, "schema");
            const json_t *ex = json_object_get(r, "examples");
            has = schema == NULL ? -1
                  : (json_object_get(ex, "application/json") || schema_has_example(l, schema, 0)) ? 1 : 0;
        } else {
            has = content_examples(l, json_object_get(r, "content"));
        }
        if (has == 0) {
            pos_of(l, r_ref, responses, status, node, &line, &col);
            add(l, file, line, col, SEV_WARNING, label, "no example for the %s response; add one", status);
        }
    }
}

/* ---- handlers and units --------------------------------------------------- */

static int has_symbol(char **syms, const char *name)
{
    for (size_t i = 0; syms && syms[i]; i++)
        if (strcmp(syms[i], name) == 0)
            return 1;
    return 0;
}

static void unit_pos(const kumo__project *p, const char *name, int *line, int *col)
{
    json_t *functions = json_object_get(kumo__doc_root(p->doc), "functions");
    *line = *col = 0;
    if (!kumo__doc_key_pos(p->doc, functions, name, line, col))
        kumo__doc_pos(p->doc, json_object_get(functions, name), line, col);
}

/* used[u][k]: the k-th symbol of unit u is some operation's handler. */
static void check_handler(lint *l, const kumo__project *p, const kumo__operation *op, const char *label,
                          char ***syms, const int *built, char **used)
{
    const char *file = kumo__doc_path(l->spec->doc);
    int line, col;
    const char *named_by = json_object_get(op->node, "x-kumo-handler") ? "x-kumo-handler" : "operationId";
    pos_of(l, json_object_get(op->node, named_by), op->node, named_by, op->node, &line, &col);
    if (op->symbol == NULL) {
        kumo__doc_pos(l->spec->doc, op->node, &line, &col);
        add(l, file, line, col, SEV_WARNING, label,
            "no handler: no operationId or x-kumo-handler, so it answers 501; add an operationId naming a C "
            "function");
        return;
    }
    if (op->unit) {
        const kumo__unit *u = kumo__project_unit(p, op->unit);
        if (u == NULL) {
            add(l, file, line, col, SEV_ERROR, label,
                "x-kumo-handler names unit '%s', which kumo.yaml does not define; add it under functions:", op->unit);
            return;
        }
        size_t ui = (size_t)(u - p->units);
        if (!built[ui])
            return;
        for (size_t k = 0; syms[ui] && syms[ui][k]; k++)
            if (strcmp(syms[ui][k], op->symbol) == 0) {
                used[ui][k] = 1;
                return;
            }
        add(l, file, line, col, SEV_ERROR, label,
            "x-kumo-handler names '%s' in unit '%s', which does not define it; define `int %s(kumo_ctx *, const "
            "kumo_request *, kumo_response *)` in %s or fix the name",
            op->symbol, op->unit, op->symbol, u->nsources ? shown_path(l, u->sources[0]) : "the unit");
        return;
    }
    int found = -1, all_built = 1;
    for (size_t u = 0; u < p->nunits; u++) {
        if (!built[u]) {
            all_built = 0;
            continue;
        }
        if (!has_symbol(syms[u], op->symbol))
            continue;
        if (found >= 0) {
            for (size_t k = 0; syms[u][k]; k++) /* it is an operation's, just ambiguous */
                if (strcmp(syms[u][k], op->symbol) == 0)
                    used[u][k] = 1;
            add(l, file, line, col, SEV_ERROR, label,
                "handler '%s' is defined in units '%s' and '%s'; say which with x-kumo-handler: %s.%s", op->symbol,
                p->units[found].name, p->units[u].name, p->units[found].name, op->symbol);
            return;
        }
        found = (int)u;
        for (size_t k = 0; syms[u][k]; k++)
            if (strcmp(syms[u][k], op->symbol) == 0)
                used[u][k] = 1;
    }
    if (found < 0 && all_built)
        add(l, file, line, col, SEV_WARNING, label,
            "handler '%s' is not defined in any function unit, so it answers 501; define it, or name another "
            "with x-kumo-handler: UNIT.SYMBOL",
            op->symbol);
}

/* ---- output ---------------------------------------------------------------- */

static int cmp_finding(const void *a, const void *b)
{
    const finding *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int print_json(const lint *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < l->n; i++) {
        const finding *f = &l->items[i];
        json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:s, s:o}", "file", f->file, "line", f->line, "column", f->col,
                              "severity", f->sev == SEV_ERROR ? "error" : "warning", "message", f->message,
                              "operation", f->operation ? json_string(f->operation) : json_null());
        if (o == NULL || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return -ENOMEM;
        }
    }
    if (arr == NULL || json_dumpf(arr, stdout, JSON_INDENT(2)) < 0) {
        json_decref(arr);
        return -ENOMEM;
    }
    fputc('\n', stdout);
    json_decref(arr);
    return 0;
}

static void print_human(const lint *l, int errors, int warnings)
{
    for (size_t i = 0; i < l->n; i++) {
        const finding *f = &l->items[i];
        if (f->line > 0)
            printf("%s:%d:%d: ", f->file, f->line, f->col);
        else
            printf("%s: ", f->file);
        printf("%s: ", f->sev == SEV_ERROR ? "error" : "warning");
        if (f->operation)
            printf("%s: ", f->operation);
        printf("%s\n", f->message);
    }
    printf("%d error%s, %d warning%s\n", errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
}

/* ---- the command ------------------------------------------------------------- */

static void lint_project(lint *l, kumo__project *p, kumo__spec *spec)
{
    char ***syms = calloc(p->nunits + 1, sizeof(*syms));
    char **used = calloc(p->nunits + 1, sizeof(*used));
    int *built = calloc(p->nunits + 1, sizeof(*built));
    kumo__error err = {0};
    int nbuilt = 0;
    if (syms == NULL || used == NULL || built == NULL) {
        l->oom = 1;
        goto out;
    }
    l->spec = spec;

    /* Build all units; on a failure, try each alone to say which. */
    if (kumo__build_units(p, &nbuilt, &err) != 0) {
        for (size_t u = 0; u < p->nunits; u++) {
            kumo__project one = *p;
            one.units = &p->units[u];
            one.nunits = 1;
            kumo__error e1 = {0};
            if (kumo__build_units(&one, &nbuilt, &e1) != 0) {
                int line, col;
                unit_pos(p, p->units[u].name, &line, &col);
                add(l, kumo__doc_path(p->doc), line, col, SEV_ERROR, NULL,
                    "function unit '%s' does not build (%s); the compiler's messages are above", p->units[u].name,
                    e1.msg);
            }
        }
    }
    for (size_t u = 0; u < p->nunits; u++) {
        kumo__error e1 = {0};
        if (access(p->units[u].so_path, R_OK) != 0 || kumo__elf_symbols(p->units[u].so_path, &syms[u], &e1) != 0)
            continue;
        size_t k = 0;
        while (syms[u][k])
            k++;
        if ((used[u] = calloc(k + 1, 1)) == NULL) {
            l->oom = 1;
            goto out;
        }
        built[u] = 1;
    }

    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        char label[512];
        snprintf(label, sizeof(label), "%s %s", op->method, op->path);
        int line = 0, col = 0;
        if (op->operation_id == NULL) {
            kumo__doc_pos(spec->doc, op->node, &line, &col);
            add(l, kumo__doc_path(spec->doc), line, col, SEV_WARNING, label,
                "no operationId; add one (it names the handler, the operation in logs, and its entry in /docs)");
        }
        check_handler(l, p, op, label, syms, built, used);
        check_examples_and_responses(l, op, label);
    }

    for (size_t u = 0; u < p->nunits; u++) {
        if (!built[u])
            continue;
        for (size_t k = 0; syms[u][k]; k++) {
            const char *name = syms[u][k];
            if (used[u][k] || strncmp(name, "kumo_", 5) == 0 || name[0] == '_')
                continue;
            int line, col;
            unit_pos(p, p->units[u].name, &line, &col);
            add(l, kumo__doc_path(p->doc), line, col, SEV_WARNING, NULL,
                "unit '%s' exports '%s', which no operation uses; make it static, or bind it with an operationId "
                "or x-kumo-handler",
                p->units[u].name, name);
        }
    }
out:
    for (size_t u = 0; syms && u < p->nunits; u++)
        free(syms[u]);
    for (size_t u = 0; used && u < p->nunits; u++)
        free(used[u]);
    free(syms);
    free(used);
    free(built);
}

int kumo__cmd_lint(int argc, char **argv, kumo__error *err)
{
    const char *dir = NULL;
    int as_json = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (argv[i][0] == '-') {
            kumo__error_set(err, -KUMO_EUSAGE, "unknown option '%s'", argv[i]);
            return -KUMO_EUSAGE;
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            kumo__error_set(err, -KUMO_EUSAGE, "one project directory at most ('%s' and '%s' given)", dir, argv[i]);
            return -KUMO_EUSAGE;
        }
    }
    if (dir == NULL)
        dir = ".";

    lint l = {0};
    kumo__project *p = NULL;
    kumo__spec *spec = NULL;
    kumo__error e = {0};
    if (getcwd(l.cwd, sizeof(l.cwd)) == NULL)
        l.cwd[0] = '\0';
    char project_file[PATH_MAX];
    snprintf(project_file, sizeof(project_file), "%s/kumo.yaml", dir);

    if (kumo__project_load(dir, &p, &e) != 0) {
        add_error_message(&l, project_file, e.msg);
    } else if (kumo__spec_load(p->api_path, &spec, &e) != 0) {
        add_error_message(&l, p->api_path, e.msg);
    } else {
        lint_project(&l, p, spec);
    }
    if (l.oom) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }

    if (l.n > 0)
        qsort(l.items, l.n, sizeof(*l.items), cmp_finding);
    int errors = 0, warnings = 0;
    for (size_t i = 0; i < l.n; i++)
        *(l.items[i].sev == SEV_ERROR ? &errors : &warnings) += 1;
    if (as_json) {
        if ((rc = print_json(&l)) < 0) {
            kumo__error_set(err, rc, "out of memory");
            goto out;
        }
    } else {
        print_human(&l, errors, warnings);
    }
    fflush(stdout);
    if (errors > 0) {
        kumo__error_set(err, -EINVAL, "%d error%s in %s; fix %s and run kumo lint again", errors,
                        errors == 1 ? "" : "s", dir, errors == 1 ? "it" : "them");
        rc = -EINVAL;
    }
out:
    for (size_t i = 0; i < l.n; i++) {
        free(l.items[i].file);
        free(l.items[i].message);
        free(l.items[i].operation);
    }
    free(l.items);
    kumo__spec_free(spec);
    kumo__project_free(p);
    return rc;
}
