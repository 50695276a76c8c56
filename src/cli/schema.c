/*
 * schema.c: `kumo schema validate --schema FILE [--pointer P]
 * [--dialect oas30|2020-12] [--direction request|response]
 * [--formats assert|annotate] INSTANCE...`
 * checks JSON files against a schema with the gateway's own validator
 * (src/openapi/schema.c), so a user can try a schema without a server.
 *
 * FILE is YAML or JSON; P picks the schema inside it (default: the root).
 * $refs to other files are resolved relative to the file that holds them,
 * each file loaded once, by the library's document set (openapi/docset.h),
 * the resolver kumo up uses for a spec. Prints "INSTANCE: valid" or one line per
 * violation; the status is 0 when all are valid, 1 when any is invalid, 2
 * on usage errors and on files that cannot be read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "openapi/docset.h"
#include "openapi/pointer.h"
#include "openapi/schema.h"

typedef struct options {
    const char *file;          /* --schema */
    const char *pointer;       /* --pointer, "" for the root */
    const char *dialect;       /* --dialect, NULL: guess */
    enum kumo__direction dir;  /* --direction */
    kumo__schema_options opts; /* --formats */
    char **instances;          /* the instance files, borrowed from argv; the array is malloc'd */
    int ninstances;
} options;

static int usage(kumo__error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage(kumo__error *err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kumo__error_set(err, -KUMO__EUSAGE, "%s", msg);
    return err->code;
}

/* argv after "validate" into *o (o->instances to free on every return). */
static int parse_options(int argc, char **argv, options *o, kumo__error *err)
{
    *o = (options){.pointer = "", .dir = KUMO__DIR_ANY};
    if ((o->instances = calloc((size_t)argc + 1, sizeof(char *))) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = strcmp(a, "--schema") == 0 || strcmp(a, "--pointer") == 0 || strcmp(a, "--dialect") == 0 ||
                          strcmp(a, "--direction") == 0 || strcmp(a, "--formats") == 0;
        if (takes_value && v == NULL)
            return usage(err, "%s takes a value", a);
        if (takes_value)
            i++;
        if (strcmp(a, "--schema") == 0) {
            o->file = v;
        } else if (strcmp(a, "--pointer") == 0) {
            o->pointer = v;
        } else if (strcmp(a, "--dialect") == 0) {
            if (strcmp(v, "2020-12") != 0 && strcmp(v, "oas30") != 0)
                return usage(err, "--dialect is oas30 or 2020-12, not '%s'", v);
            o->dialect = v;
        } else if (strcmp(a, "--direction") == 0) {
            if (strcmp(v, "request") == 0)
                o->dir = KUMO__DIR_REQUEST;
            else if (strcmp(v, "response") == 0)
                o->dir = KUMO__DIR_RESPONSE;
            else
                return usage(err, "--direction is request or response, not '%s'", v);
        } else if (strcmp(a, "--formats") == 0) {
            if (strcmp(v, "assert") == 0)
                o->opts.formats = KUMO__FORMATS_ASSERT;
            else if (strcmp(v, "annotate") == 0)
                o->opts.formats = KUMO__FORMATS_ANNOTATE;
            else
                return usage(err, "--formats is assert or annotate, not '%s'", v);
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage(err, "unknown option '%s'", a);
        } else {
            o->instances[o->ninstances++] = argv[i];
        }
    }
    if (o->file == NULL)
        return usage(err, "--schema FILE is required");
    if (o->ninstances == 0)
        return usage(err, "name at least one instance file");
    return 0;
}

static kumo__dialect guess_dialect(const json_t *root, const json_t *schema)
{
    const json_t *v = json_object_get(root, "openapi");
    if (json_is_string(v) && strncmp(json_string_value(v), "3.1", 3) == 0)
        return KUMO__DIALECT_2020_12;
    const json_t *s[2] = {root, schema};
    for (int i = 0; i < 2; i++) {
        v = json_object_get(s[i], "$schema");
        if (json_is_string(v) && strstr(json_string_value(v), "2020-12"))
            return KUMO__DIALECT_2020_12;
    }
    return KUMO__DIALECT_OAS30;
}

/* A compile error starts with the location of the keyword that does not
 * compile: prefix it with that keyword's FILE:line:col (or the schema
 * file's name when it has no position). */
static void position_error(kumo__error *err, const kumo__docset *ds)
{
    const char *colon = strstr(err->msg, ": ");
    kumo__doc *doc = NULL;
    int line = 0, col = 0;
    if (colon && kumo__docset_location_pos(ds, err->msg, (size_t)(colon - err->msg), &doc, &line, &col))
        kumo__error_wrap(err, "%s:%d:%d", kumo__doc_path(doc), line, col);
    else
        kumo__error_wrap(err, "%s", kumo__doc_path(kumo__docset_main(ds)));
}

/* Loads o->file (and, while compiling, what its $refs reach) into *ds and
 * compiles the schema at o->pointer into *out. Every failure is a usage
 * error: the schema, not an instance, is wrong. */
static int compile_schema(const options *o, kumo__docset **ds, kumo__schema **out, kumo__error *err)
{
    if (kumo__docset_open(o->file, ds, err) != 0) {
        err->code = -KUMO__EUSAGE;
        return err->code;
    }
    const char *pointer = o->pointer;
    int fragment = pointer[0] == '#';
    pointer += fragment;
    json_t *root = kumo__doc_root(kumo__docset_main(*ds));
    json_t *schema = kumo__pointer_get(root, pointer, strlen(pointer), fragment);
    if (schema == NULL) {
        kumo__error_set(err, -KUMO__EUSAGE,
                        "%s has nothing at '%s'; --pointer takes a JSON Pointer such as /components/schemas/Pet",
                        o->file, pointer);
        return err->code;
    }
    kumo__dialect dialect = o->dialect == NULL                   ? guess_dialect(root, schema)
                            : strcmp(o->dialect, "2020-12") == 0 ? KUMO__DIALECT_2020_12
                                                                 : KUMO__DIALECT_OAS30;
    if (kumo__schema_compile_opts(schema, dialect, pointer, kumo__docset_refs(*ds), &o->opts, out, err) != 0) {
        position_error(err, *ds);
        err->code = -KUMO__EUSAGE;
        return err->code;
    }
    return 0;
}

/* Checks one instance file and prints the outcome: 0 valid, 1 invalid,
 * -1 not checked (unreadable, or memory ran out). */
static int validate_file(const kumo__schema *s, const char *path, enum kumo__direction dir)
{
    json_error_t je;
    json_t *inst = json_load_file(path, JSON_DECODE_ANY, &je);
    if (inst == NULL) {
        printf("%s:%d:%d: cannot read JSON: %s\n", path, je.line, je.column, je.text);
        return -1;
    }
    kumo__violations v = {0};
    int r = kumo__schema_validate(s, inst, dir, &v);
    if (r == 0) {
        printf("%s: valid\n", path);
    } else if (r < 0) {
        printf("%s: out of memory while validating\n", path);
        r = -1;
    } else {
        for (size_t k = 0; k < v.count; k++)
            printf("%s: %s: %s (schema: %s)\n", path, v.items[k].instance[0] ? v.items[k].instance : "(root)",
                   v.items[k].message, v.items[k].schema[0] ? v.items[k].schema : "(root)");
        if (v.truncated)
            printf("%s: more violations not shown (the first %zu are)\n", path, v.count);
        r = 1;
    }
    kumo__violations_free(&v);
    json_decref(inst);
    return r;
}

int kumo__cmd_schema(int argc, char **argv, kumo__error *err)
{
    options o;
    kumo__docset *ds = NULL;
    kumo__schema *s = NULL;
    int rc = 0, invalid = 0, unreadable = 0;
    if (argc < 1 || strcmp(argv[0], "validate") != 0) {
        kumo__error_set(err, -KUMO__EUSAGE, "the only subcommand is 'validate'");
        return err->code;
    }
    if ((rc = parse_options(argc - 1, argv + 1, &o, err)) != 0 || (rc = compile_schema(&o, &ds, &s, err)) != 0)
        goto out;
    for (int i = 0; i < o.ninstances; i++) {
        int r = validate_file(s, o.instances[i], o.dir);
        invalid += r > 0;
        unreadable += r < 0;
    }
    fflush(stdout);
    if (unreadable) {
        kumo__error_set(err, -KUMO__EUSAGE, "%d of %d instance files could not be checked", unreadable, o.ninstances);
        rc = err->code;
    } else if (invalid) {
        kumo__error_set(err, -EINVAL, "%d of %d instances are invalid", invalid, o.ninstances);
        rc = err->code;
    }
out:
    kumo__schema_free(s);
    kumo__docset_free(ds);
    free(o.instances);
    return rc;
}
