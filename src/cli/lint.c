/*
 * lint.c: `kumo lint [DIR] [--json] [--env NAME]`. Runs what `kumo up` runs
 * at start, with the same library functions (kumo.yaml, the store plan, the
 * spec and every file its $refs reach, the router, the live contract,
 * every operation's schemas, building the units, binding operations to
 * handlers through kumo__bind_symbols), so the two never disagree about
 * whether a project starts (only reaching a store's server and linking the
 * units are left to kumo up); where kumo up stops at the first problem, lint goes on
 * and reports them all. It adds what would make the served API fall short
 * of its contract. Each finding has the file:line:column to fix:
 *
 *   errors    what kumo up refuses: the project or spec does not load, the
 *             router or a schema does not build (a $ref to nothing, a
 *             pattern that is no regex, a minimum that is no number), a
 *             unit does not build, x-kumo-handler names a unit kumo.yaml
 *             lacks, a handler is found in two units; and x-kumo-handler
 *             naming a symbol its unit does not define (kumo up serves it
 *             as 501); the document's security where kumo cannot enforce
 *             it (a scheme it does not check, a used scheme kumo.yaml
 *             does not configure, an entry of kumo.yaml's security: for
 *             no used scheme)
 *   warnings  an operation with no handler (it answers 501); a unit's
 *             exported function no operation uses; no example for a JSON
 *             request body or a 2xx JSON response; no operationId; a
 *             response without description
 *
 * Human output goes to stdout, sorted by file and line, with a summary;
 * --json prints an array of findings instead. The exit status is 1 when
 * there are errors.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/policy.h"
#include "cli/cli.h"
#include "gateway/cloudevents_in.h"
#include "gateway/docs.h"
#include "openapi/check.h"
#include "openapi/pointer.h"
#include "project/event_data.h"
#include "project/project.h"
#include "project/store_plan.h"
#include "runtime/runtime.h"

extern char **environ;

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

static void add(lint *l, const char *file, int line, int col, enum severity sev, const char *operation, const char *fmt,
                ...) __attribute__((format(printf, 7, 8)));

static void add(lint *l, const char *file, int line, int col, enum severity sev, const char *operation, const char *fmt,
                ...)
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
 * (possibly after "context: " prefixes), split into a finding. With
 * `once_per_place`, not when an error at that position is there already:
 * two operations that use one broken schema make one finding. */
static void add_error_message(lint *l, const char *fallback_file, const char *msg, int once_per_place)
{
    const char *file = fallback_file, *text = msg;
    char buf[PATH_MAX];
    int line = 0, col = 0;
    /* find the first ":N:N: " */
    for (const char *c = strchr(msg, ':'); c; c = strchr(c + 1, ':')) {
        int used = 0;
        if (sscanf(c, ":%d:%d: %n", &line, &col, &used) == 2 && used > 0) {
            const char *start = c;
            while (start > msg && start[-1] != ' ')
                start--;
            snprintf(buf, sizeof(buf), "%.*s", (int)(c - start), start);
            file = buf;
            text = c + used;
            break;
        }
        line = col = 0;
    }
    if (once_per_place) {
        const char *shown = shown_path(l, file);
        for (size_t i = 0; i < l->n; i++)
            if (l->items[i].sev == SEV_ERROR && l->items[i].line == line && l->items[i].col == col &&
                strcmp(l->items[i].file, shown) == 0)
                return;
    }
    add(l, file, line, col, SEV_ERROR, NULL, "%s", text);
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
    json_object_foreach(json_object_get(schema, "properties"), key, v)
    {
        const json_t *p = deref(l, v);
        if (json_object_get(p, "example") || json_object_get(p, "examples"))
            return 1;
    }
    if (json_object_get(schema, "items") && schema_has_example(l, json_object_get(schema, "items"), depth + 1))
        return 1;
    size_t i;
    json_array_foreach(json_object_get(schema, "allOf"), i, v)
    {
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
    json_object_foreach((json_t *)content, type, media)
    {
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
        json_array_foreach(json_object_get(node, "parameters"), i, p)
        {
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
    json_object_foreach((json_t *)responses, status, r_ref)
    {
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
            has = schema == NULL                                                                  ? -1
                  : (json_object_get(ex, "application/json") || schema_has_example(l, schema, 0)) ? 1
                                                                                                  : 0;
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

static void unit_pos(const kumo__project *p, const char *name, int *line, int *col)
{
    json_t *functions = json_object_get(kumo__doc_root(p->doc), "functions");
    *line = *col = 0;
    if (!kumo__doc_key_pos(p->doc, functions, name, line, col))
        kumo__doc_pos(p->doc, json_object_get(functions, name), line, col);
}

/* What binding needs to say per finding, and which exported symbols some
 * operation uses: used[u][k] for the k-th symbol of unit u. */
typedef struct bind_state {
    lint *l;
    const kumo__project *p;
    char ***syms;
    char **used;
} bind_state;

static void mark_used(bind_state *b, size_t u, const char *symbol)
{
    for (size_t k = 0; b->syms[u] && b->syms[u][k]; k++)
        if (strcmp(b->syms[u][k], symbol) == 0)
            b->used[u][k] = 1;
}

/* kumo__bind_symbols' findings as lint's. kumo up refuses to start on a
 * refusal; lint also makes an x-kumo-handler naming a symbol its unit lacks
 * an error, since the name was written on purpose and is wrong (kumo up
 * serves it as 501). */
static void on_bind_finding(void *data, const kumo__bind_finding *f)
{
    bind_state *b = data;
    char label[512];
    snprintf(label, sizeof(label), "%s %s", f->op->method, f->op->path);
    enum severity sev = f->refused || f->kind == KUMO__BIND_NOT_IN_UNIT ? SEV_ERROR : SEV_WARNING;
    add(b->l, f->file, f->line, f->col, sev, label, "%s", f->message);
    if (f->kind == KUMO__BIND_AMBIGUOUS) /* it is an operation's handler, just ambiguous */
        for (size_t u = 0; u < b->p->nunits; u++)
            mark_used(b, u, f->op->symbol);
}

/* Builds the units as kumo up does; a unit that does not build is an
 * error and its symbols stay unknown (NULL in syms) so binding neither
 * needs nor guesses them. */
static void build_and_read_symbols(lint *l, const kumo__project *p, char ***syms, char **used)
{
    kumo__error err = {0};
    int nbuilt = 0;
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
        if (access(p->units[u].so_path, R_OK) != 0 || kumo__elf_symbols(p->units[u].so_path, &syms[u], &e1) != 0) {
            syms[u] = NULL;
            continue;
        }
        size_t k = 0;
        while (syms[u][k])
            k++;
        if ((used[u] = calloc(k + 1, 1)) == NULL) {
            l->oom = 1;
            return;
        }
    }
}

static void check_unused_exports(lint *l, const kumo__project *p, char ***syms, char **used)
{
    for (size_t u = 0; u < p->nunits; u++) {
        for (size_t k = 0; syms[u] && syms[u][k]; k++) {
            const char *name = syms[u][k];
            if (used[u][k] || strncmp(name, "kumo_", 5) == 0 || name[0] == '_')
                continue;
            int by_event = 0; /* an events: handler (a schedule, a queue) uses it too */
            for (size_t e = 0; e < p->nevents && !by_event; e++)
                by_event = p->events[e].unit_index == u && strcmp(p->events[e].symbol, name) == 0;
            if (by_event)
                continue;
            int line, col;
            unit_pos(p, p->units[u].name, &line, &col);
            add(l, kumo__doc_path(p->doc), line, col, SEV_WARNING, NULL,
                "unit '%s' exports '%s', which no operation uses; make it static, or bind it with an operationId "
                "or x-kumo-handler",
                p->units[u].name, name);
        }
    }
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
                              "severity", f->sev == SEV_ERROR ? "error" : "warning", "message", f->message, "operation",
                              f->operation ? json_string(f->operation) : json_null());
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

/* The rest of what kumo up runs at start, after loading: the router, the
 * live contract (/openapi.json, /docs) and every operation's schemas.
 * kumo up stops at the first error; lint reports one per operation (an
 * operation's schemas compile until the first that does not), and the same
 * error reached from two operations once. */
static void check_router_and_schemas(lint *l, kumo__spec *spec, const char *project_name)
{
    kumo__error e = {0};
    kumo__router *router = NULL;
    if (kumo__router_build(spec, &router, &e) != 0)
        add_error_message(l, kumo__doc_path(spec->doc), e.msg, 0);
    kumo__router_free(router);
    kumo__docs *docs = NULL;
    kumo__error ed = {0};
    if (kumo__docs_build(spec, project_name, &docs, &ed) != 0)
        add_error_message(l, kumo__doc_path(spec->doc), ed.msg, 0);
    kumo__docs_free(docs);
    for (size_t i = 0; i < spec->nops; i++) {
        kumo__opcheck *c = NULL;
        kumo__error e1 = {0};
        if (kumo__opcheck_build(spec, i, &c, &e1) != 0)
            add_error_message(l, kumo__doc_path(spec->doc), e1.msg, 1);
        kumo__opcheck_free(c);
    }
}

typedef struct auth_lint {
    lint *l;
    int reported;
} auth_lint;

static void on_auth_refusal(void *ctx, const char *message)
{
    auth_lint *al = ctx;
    al->reported++;
    add_error_message(al->l, kumo__doc_path(al->l->spec->doc), message, 0);
}

/* The document's security, as kumo up builds it (auth/policy.c): every
 * scheme kumo cannot enforce, every used scheme kumo.yaml does not
 * configure, every entry of kumo.yaml's security: no operation uses. */
static void check_security(lint *l, kumo__project *p, kumo__spec *spec, const char *env)
{
    kumo__error e = {0};
    kumo__auth *a = NULL;
    auth_lint al = {.l = l};
    int rc = kumo__auth_build(p, spec, env, NULL, on_auth_refusal, &al, &a, &e);
    if (rc == -ENOMEM)
        l->oom = 1;
    else if (rc != 0 && al.reported == 0) /* the model itself (a requirement naming no scheme) */
        add_error_message(l, kumo__doc_path(spec->doc), e.msg, 0);
    kumo__auth_free(a);
}

static void lint_project(lint *l, kumo__project *p, kumo__spec *spec, const char *env)
{
    char ***syms = calloc(p->nunits + 1, sizeof(*syms));
    char **used = calloc(p->nunits + 1, sizeof(*used));
    kumo__error err = {0};
    if (syms == NULL || used == NULL) {
        l->oom = 1;
        goto out;
    }
    l->spec = spec;

    check_router_and_schemas(l, spec, p->name);
    check_security(l, p, spec, env);
    kumo__error ece = {0}; /* /_kumo/ paths, as kumo up refuses them (data: schemas: below) */
    if (kumo__ce_check_spec(spec, &ece) != 0)
        add_error_message(l, kumo__doc_path(spec->doc), ece.msg, 0);
    build_and_read_symbols(l, p, syms, used);
    if (l->oom)
        goto out;
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        if (op->operation_id == NULL) {
            char label[512];
            int line = 0, col = 0;
            snprintf(label, sizeof(label), "%s %s", op->method, op->path);
            kumo__doc_pos(spec->doc, op->node, &line, &col);
            add(l, kumo__doc_path(spec->doc), line, col, SEV_WARNING, label,
                "no operationId; add one (it names the handler, the operation in logs, and its entry in /docs)");
        }
    }
    bind_state b = {.l = l, .p = p, .syms = syms, .used = used};
    /* in report-all mode every finding arrives through on_bind_finding and
     * the return is 0 */
    kumo__bind_symbols(p, spec, syms, KUMO__BIND_REPORT_ALL, on_bind_finding, &b, &err);
    for (size_t i = 0; i < spec->nops; i++) {
        const kumo__operation *op = &spec->ops[i];
        char label[512];
        snprintf(label, sizeof(label), "%s %s", op->method, op->path);
        if (op->unit_index >= 0)
            mark_used(&b, (size_t)op->unit_index, op->symbol);
        check_examples_and_responses(l, op, label);
    }
    check_unused_exports(l, p, syms, used);
out:
    kumo__unit_symbols_free(p, syms);
    for (size_t u = 0; used && u < p->nunits; u++)
        free(used[u]);
    free(used);
}

int kumo__cmd_lint(int argc, char **argv, kumo__error *err)
{
    const char *dir = NULL, *env = NULL;
    int as_json = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--env") == 0) {
            if (i + 1 == argc) {
                kumo__error_set(err, -KUMO__EUSAGE, "--env needs the name of an environment of kumo.yaml");
                return -KUMO__EUSAGE;
            }
            env = argv[++i];
        } else if (argv[i][0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", argv[i]);
            return -KUMO__EUSAGE;
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory at most ('%s' and '%s' given)", dir, argv[i]);
            return -KUMO__EUSAGE;
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

    kumo__store_plan plan = {0};
    if (kumo__project_load(dir, &p, &e) != 0) {
        add_error_message(&l, project_file, e.msg, 0);
    } else if (kumo__store_plan_build(p, env, environ, NULL, NULL, &plan, &e) != 0) {
        /* where kumo up (with the same --env and variables) places the
         * stores; whether their servers answer is kumo up's to find out */
        add_error_message(&l, project_file, e.msg, 0);
    } else if (kumo__spec_load(p->api_path, &spec, &e) != 0) {
        add_error_message(&l, p->api_path, e.msg, 0);
    } else {
        kumo__schema **data = NULL; /* events' data: schemas, as kumo up resolves them */
        if (kumo__event_data_compile(p, spec, &data, &e) != 0)
            add_error_message(&l, project_file, e.msg, 0);
        if (kumo__monitors_check_spec(p, spec, &e) != 0)
            add_error_message(&l, project_file, e.msg, 0);
        if (kumo__edge_check_spec(&p->http.edge, spec, &e) != 0)
            add_error_message(&l, project_file, e.msg, 0);
        kumo__event_data_free(data, p->nevents);
        lint_project(&l, p, spec, env);
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
    kumo__store_plan_free(&plan);
    kumo__spec_free(spec);
    kumo__project_free(p);
    return rc;
}
