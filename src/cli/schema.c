/*
 * schema.c: `kumo schema validate --schema FILE [--pointer P]
 * [--dialect oas30|2020-12] [--direction request|response] INSTANCE...`
 * checks JSON files against a schema with the gateway's own validator
 * (src/openapi/schema.c), so a user can try a schema without a server.
 *
 * FILE is YAML or JSON; P picks the schema inside it (default: the root).
 * $refs to other files are resolved relative to the file that holds them,
 * each file loaded once. Prints "INSTANCE: valid" or one line per
 * violation; the status is 0 when all are valid, 1 when any is invalid, 2
 * on usage errors and on files that cannot be read.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "openapi/pointer.h"
#include "openapi/schema.h"

typedef struct loaded {
    char *path; /* as resolved (realpath) */
    kumo__doc *doc;
} loaded;

typedef struct file_refs {
    kumo__refs base;
    loaded *docs; /* docs[0]: the schema file */
    size_t ndocs, cap;
} file_refs;

static int contains(const json_t *root, const json_t *node, int depth)
{
    if (root == node)
        return 1;
    if (depth > 512)
        return 0;
    if (json_is_object(root)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)root, k, v) {
            if (contains(v, node, depth + 1))
                return 1;
        }
    } else if (json_is_array(root)) {
        size_t i;
        json_t *v;
        json_array_foreach(root, i, v) {
            if (contains(v, node, depth + 1))
                return 1;
        }
    }
    return 0;
}

static loaded *load_doc(file_refs *r, const char *path, kumo__error *err)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        kumo__error_set(err, -errno, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (size_t i = 0; i < r->ndocs; i++)
        if (strcmp(r->docs[i].path, real) == 0)
            return &r->docs[i];
    if (r->ndocs == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        loaded *d = realloc(r->docs, cap * sizeof(*d));
        if (d == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            return NULL;
        }
        r->docs = d;
        r->cap = cap;
    }
    loaded *d = &r->docs[r->ndocs];
    if ((d->path = strdup(real)) == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if (kumo__doc_load(path, &d->doc, err) != 0) {
        free(d->path);
        return NULL;
    }
    r->ndocs++;
    return d;
}

static json_t *resolve(const kumo__refs *self, const json_t *at, const char *ref, char *where, size_t where_len,
                       kumo__error *err)
{
    file_refs *r = (file_refs *)self;
    size_t from = 0;
    for (size_t i = 0; i < r->ndocs; i++) {
        if (contains(kumo__doc_root(r->docs[i].doc), at, 0)) {
            from = i;
            break;
        }
    }
    const char *hash = strchr(ref, '#');
    size_t flen = hash ? (size_t)(hash - ref) : strlen(ref);
    const char *frag = hash ? hash + 1 : "";
    loaded *d = &r->docs[from];
    if (flen > 0) {
        if (flen >= PATH_MAX || memchr(ref, ':', flen)) {
            kumo__error_set(err, -EINVAL, "only files are supported, not '%.*s'", (int)flen, ref);
            return NULL;
        }
        char dir[PATH_MAX], path[PATH_MAX * 2];
        snprintf(dir, sizeof dir, "%s", r->docs[from].path);
        if (ref[0] == '/')
            snprintf(path, sizeof path, "%.*s", (int)flen, ref);
        else
            snprintf(path, sizeof path, "%s/%.*s", dirname(dir), (int)flen, ref);
        if ((d = load_doc(r, path, err)) == NULL) /* may move r->docs */
            return NULL;
    }
    if (frag[0] != '\0' && frag[0] != '/') {
        kumo__error_set(err, -EINVAL, "'#%s' is an anchor; across files kumo follows JSON Pointers only", frag);
        return NULL;
    }
    json_t *t = kumo__pointer_get(kumo__doc_root(d->doc), frag, strlen(frag), 1);
    if (t == NULL) {
        kumo__error_set(err, -ENOENT, "%s has nothing at '#%s'", kumo__doc_path(d->doc), frag);
        return NULL;
    }
    if (d == &r->docs[0])
        snprintf(where, where_len, "%s", frag);
    else {
        /* other files are named relative to the schema file's folder */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", r->docs[0].path);
        const char *base = dirname(dir), *p = d->path;
        size_t bl = strlen(base);
        if (strncmp(p, base, bl) == 0 && p[bl] == '/')
            p += bl + 1;
        snprintf(where, where_len, "%s#%s", p, frag);
    }
    return t;
}

static void free_refs(file_refs *r)
{
    for (size_t i = 0; i < r->ndocs; i++) {
        kumo__doc_free(r->docs[i].doc);
        free(r->docs[i].path);
    }
    free(r->docs);
}

static kumo__dialect guess_dialect(const json_t *root, const json_t *schema)
{
    const json_t *v = json_object_get(root, "openapi");
    if (json_is_string(v) && strncmp(json_string_value(v), "3.1", 3) == 0)
        return KUMO_DIALECT_2020_12;
    const json_t *s[2] = {root, schema};
    for (int i = 0; i < 2; i++) {
        v = json_object_get(s[i], "$schema");
        if (json_is_string(v) && strstr(json_string_value(v), "2020-12"))
            return KUMO_DIALECT_2020_12;
    }
    return KUMO_DIALECT_OAS30;
}

/* "FILE:line:col: " for a compile error whose message starts with a
 * location in the schema file. */
static void position_error(kumo__error *err, const kumo__doc *doc)
{
    const char *colon = strstr(err->msg, ": ");
    json_t *node = NULL;
    int line = 0, col = 0;
    if (colon && (err->msg[0] == '/' || err->msg[0] == ':'))
        node = kumo__pointer_get(kumo__doc_root(doc), err->msg, (size_t)(colon - err->msg), 0);
    /* the keyword itself may not be a node (null, booleans): try its parent */
    if (node == NULL && colon) {
        const char *slash = colon;
        while (slash > err->msg && *slash != '/')
            slash--;
        node = kumo__pointer_get(kumo__doc_root(doc), err->msg, (size_t)(slash - err->msg), 0);
    }
    if (node && kumo__doc_pos(doc, node, &line, &col))
        kumo__error_wrap(err, "%s:%d:%d", kumo__doc_path(doc), line, col);
    else
        kumo__error_wrap(err, "%s", kumo__doc_path(doc));
}

int kumo__cmd_schema(int argc, char **argv, kumo__error *err)
{
    const char *file = NULL, *pointer = "", *dialect_s = NULL;
    enum kumo__direction dir = KUMO_DIR_ANY;
    char **instances = NULL;
    int ninstances = 0, rc = 0, invalid = 0, unreadable = 0;
    file_refs refs = {.base = {resolve}};
    kumo__schema *s = NULL;
    if (argc < 1 || strcmp(argv[0], "validate") != 0) {
        kumo__error_set(err, -KUMO_EUSAGE, "the only subcommand is 'validate'");
        return err->code;
    }
    instances = calloc((size_t)argc, sizeof(char *));
    if (instances == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return err->code;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--schema") == 0 || strcmp(a, "--pointer") == 0 || strcmp(a, "--dialect") == 0 ||
            strcmp(a, "--direction") == 0) {
            if (v == NULL) {
                kumo__error_set(err, -KUMO_EUSAGE, "%s takes a value", a);
                rc = err->code;
                goto out;
            }
            i++;
            if (a[2] == 's')
                file = v;
            else if (a[2] == 'p')
                pointer = v;
            else if (a[3] == 'i' && a[4] == 'a')
                dialect_s = v;
            else if (strcmp(v, "request") == 0)
                dir = KUMO_DIR_REQUEST;
            else if (strcmp(v, "response") == 0)
                dir = KUMO_DIR_RESPONSE;
            else {
                kumo__error_set(err, -KUMO_EUSAGE, "--direction is request or response, not '%s'", v);
                rc = err->code;
                goto out;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            kumo__error_set(err, -KUMO_EUSAGE, "unknown option '%s'", a);
            rc = err->code;
            goto out;
        } else {
            instances[ninstances++] = argv[i];
        }
    }
    if (file == NULL || ninstances == 0) {
        kumo__error_set(err, -KUMO_EUSAGE, "%s", file ? "name at least one instance file" : "--schema FILE is required");
        rc = err->code;
        goto out;
    }
    kumo__dialect dialect = KUMO_DIALECT_OAS30;
    if (dialect_s && strcmp(dialect_s, "2020-12") != 0 && strcmp(dialect_s, "oas30") != 0) {
        kumo__error_set(err, -KUMO_EUSAGE, "--dialect is oas30 or 2020-12, not '%s'", dialect_s);
        rc = err->code;
        goto out;
    }
    loaded *main_doc = load_doc(&refs, file, err);
    if (main_doc == NULL) {
        err->code = -KUMO_EUSAGE;
        rc = err->code;
        goto out;
    }
    int frag = pointer[0] == '#';
    if (frag)
        pointer++;
    json_t *root = kumo__doc_root(main_doc->doc);
    json_t *schema = kumo__pointer_get(root, pointer, strlen(pointer), frag);
    if (schema == NULL) {
        kumo__error_set(err, -KUMO_EUSAGE, "%s has nothing at '%s'; --pointer takes a JSON Pointer such as "
                        "/components/schemas/Pet", file, pointer);
        rc = err->code;
        goto out;
    }
    if (dialect_s)
        dialect = strcmp(dialect_s, "2020-12") == 0 ? KUMO_DIALECT_2020_12 : KUMO_DIALECT_OAS30;
    else
        dialect = guess_dialect(root, schema);
    if (kumo__schema_compile(schema, dialect, pointer, &refs.base, &s, err) != 0) {
        position_error(err, refs.docs[0].doc); /* main_doc may have moved */
        err->code = -KUMO_EUSAGE;
        rc = err->code;
        goto out;
    }
    for (int i = 0; i < ninstances; i++) {
        json_error_t je;
        json_t *inst = json_load_file(instances[i], JSON_DECODE_ANY, &je);
        if (inst == NULL) {
            printf("%s:%d:%d: cannot read JSON: %s\n", instances[i], je.line, je.column, je.text);
            unreadable++;
            continue;
        }
        kumo__violations v = {0};
        int r = kumo__schema_validate(s, inst, dir, &v);
        if (r == 0) {
            printf("%s: valid\n", instances[i]);
        } else if (r < 0) {
            printf("%s: out of memory while validating\n", instances[i]);
            unreadable++;
        } else {
            invalid++;
            for (size_t k = 0; k < v.count; k++)
                printf("%s: %s: %s (schema: %s)\n", instances[i], v.items[k].instance[0] ? v.items[k].instance : "(root)",
                       v.items[k].message, v.items[k].schema[0] ? v.items[k].schema : "(root)");
            if (v.truncated)
                printf("%s: more violations not shown (the first %zu are)\n", instances[i], v.count);
        }
        kumo__violations_free(&v);
        json_decref(inst);
    }
    fflush(stdout);
    if (unreadable) {
        kumo__error_set(err, -KUMO_EUSAGE, "%d of %d instance files could not be checked", unreadable, ninstances);
        rc = err->code;
    } else if (invalid) {
        kumo__error_set(err, -EINVAL, "%d of %d instances are invalid", invalid, ninstances);
        rc = err->code;
    }
out:
    kumo__schema_free(s);
    free_refs(&refs);
    free(instances);
    return rc;
}
