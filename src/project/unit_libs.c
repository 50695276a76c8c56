/*
 * unit_libs.c: what a function unit's build adds to the compiler's line,
 * read from kumo.yaml (functions.NAME.cflags, libs, pkg_config):
 *
 *     functions:
 *       notes:
 *         sources: [functions/notes.c]
 *         pkg_config: [sqlite3]          # pkg-config --cflags --libs sqlite3
 *         cflags: [-Iinclude, -DNOTES=1] # compiler flags
 *         libs: [-lz, -Llib]             # linker flags
 *
 * Each is a list of strings checked here (a flag, a package name); a
 * relative -I or -L path is made absolute under the project. The build
 * (runtime/build.c) asks pkg-config and passes the flags on; the deploy
 * bundle carries the shared libraries the unit then needs (ldd of the
 * unit, deploy/bundle.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "project/project.h"

#define UNIT_FLAGS_MAX 64 /* entries in one list */

static int flag_ok(const char *key, const char *s)
{
    if (strlen(s) > 1024)
        return 0;
    if (strcmp(key, "pkg_config") == 0) {
        if (*s == '\0' || *s == '-')
            return 0;
        for (; *s; s++)
            if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                  strchr("_.+-", *s)))
                return 0;
        return 1;
    }
    /* one flag, never -o (where the unit goes is kumo's) nor one that
     * names a file to read arguments from */
    if (s[0] != '-' || s[1] == '\0' || strncmp(s, "-o", 2) == 0 || s[1] == '@')
        return 0;
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n')
            return 0;
    return 1;
}

/* One NULL-ended block of strings (free once): the list `arr` of unit
 * `name`'s key, -I/-L paths made absolute under dir. */
static int load_list(const kumo__project *p, json_t *def, const char *unit, const char *key, char ***out,
                     kumo__error *err)
{
    const kumo__doc *doc = p->doc;
    json_t *arr = json_object_get(def, key);
    *out = NULL;
    if (arr == NULL || json_is_null(arr))
        return 0;
    const char *what = strcmp(key, "pkg_config") == 0 ? "pkg-config package names (like sqlite3 or zlib)"
                       : strcmp(key, "cflags") == 0   ? "compiler flags (like -Iinclude or -DNAME=1)"
                                                      : "linker flags (like -lz or -Llib)";
    if (!json_is_array(arr) || json_array_size(arr) > UNIT_FLAGS_MAX) {
        kumo__doc_value_error(err, doc, def, key, "functions.%s.%s must be a list of at most %d %s", unit, key,
                              UNIT_FLAGS_MAX, what);
        return -EINVAL;
    }
    size_t n = json_array_size(arr), bytes = 0, i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || !flag_ok(key, s)) {
            kumo__doc_error(err, doc, kumo__doc_pos(doc, v, NULL, NULL) ? v : arr,
                            "functions.%s.%s: each entry is one of the %s, as one string without spaces%s", unit, key,
                            what, strcmp(key, "pkg_config") == 0 ? "" : "; -o is kumo's");
            return -EINVAL;
        }
        bytes += strlen(s) + strlen(p->dir) + 3;
    }
    char **block = malloc((n + 1) * sizeof(char *) + bytes);
    if (block == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    char *at = (char *)(block + n + 1);
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        block[i] = at;
        if ((strncmp(s, "-I", 2) == 0 || strncmp(s, "-L", 2) == 0) && s[2] != '\0' && s[2] != '/')
            at += sprintf(at, "%.2s%s/%s", s, p->dir, s + 2) + 1;
        else
            at += sprintf(at, "%s", s) + 1;
    }
    block[n] = NULL;
    *out = block;
    return 0;
}

int kumo__project_load_unit_libs(kumo__project *p, kumo__error *err)
{
    json_t *functions = json_object_get(kumo__doc_root(p->doc), "functions");
    for (size_t i = 0; i < p->nunits; i++) {
        kumo__unit *u = &p->units[i];
        json_t *def = json_object_get(functions, u->name);
        int rc;
        if (!json_is_object(def))
            continue;
        if ((rc = load_list(p, def, u->name, "cflags", &u->cflags, err)) < 0 ||
            (rc = load_list(p, def, u->name, "libs", &u->libs, err)) < 0 ||
            (rc = load_list(p, def, u->name, "pkg_config", &u->pkg_config, err)) < 0)
            return rc;
    }
    return 0;
}
