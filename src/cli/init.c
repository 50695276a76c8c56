/*
 * init.c: `kumo init [DIR] [--template hello|crud|events] [--name NAME]`
 * writes a working project from one of the templates embedded in kumo
 * (templates/init/NAME, init_templates.h): kumo.yaml, openapi.yaml, the
 * handlers, a test for `kumo test`, a README. `kumo init --from SPEC
 * [DIR]` writes stubs for an existing document instead (init_from.c).
 * Nothing is ever overwritten: when any file it would write exists, it
 * writes none and says which.
 */
#include "cli/init.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "cli/cli.h"
#include "cli/init_templates.h"

static const char *const templates[] = {"hello", "crud", "events"};
#define NTEMPLATES (sizeof(templates) / sizeof(templates[0]))

int kumo__init_name_ok(const char *name)
{
    if (name == NULL || *name == '\0' || strlen(name) > 63)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

/* The project's name from its folder's: lower case, [a-z0-9-], "app" when
 * nothing is left. */
static void name_from_dir(const char *dir, char *out, size_t cap)
{
    char real[PATH_MAX];
    const char *base = realpath(dir, real) ? strrchr(real, '/') + 1 : dir;
    size_t n = 0;
    for (const char *p = base; *p && n + 1 < cap && n < 63; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            c = '-';
        if (c == '-' && (n == 0 || out[n - 1] == '-'))
            continue;
        out[n++] = c;
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "app");
}

int kumo__init_write(const char *dir, const kumo__init_out *files, size_t n, kumo__error *err)
{
    /* every path checked before anything is written */
    char path[PATH_MAX], taken[1024] = "";
    size_t tl = 0, ntaken = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].path);
        if (lstat(path, &st) == 0) {
            ntaken++;
            if (tl < sizeof(taken))
                tl += (size_t)snprintf(taken + tl, sizeof(taken) - tl, "%s%s", tl ? ", " : "", path);
        }
    }
    if (ntaken) {
        kumo__error_set(err, -EEXIST,
                        "%s already exist%s: kumo init writes only new files; choose an empty folder, or move %s away",
                        taken, ntaken == 1 ? "s" : "", ntaken == 1 ? "it" : "them");
        return err->code;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].path);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        int rc = kumo__mkdirs(path, 0755);
        *slash = '/';
        if (rc != 0) {
            kumo__error_set(err, rc, "cannot create the folder of %s: %s", path, strerror(-rc));
            return rc;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            kumo__error_set(err, -errno, "cannot create %s: %s", path, strerror(errno));
            return err->code;
        }
        size_t off = 0;
        while (off < files[i].len) {
            ssize_t w = write(fd, files[i].data + off, files[i].len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                kumo__error_set(err, -errno, "cannot write %s: %s", path, strerror(errno));
                close(fd);
                return err->code;
            }
            off += (size_t)w;
        }
        if (close(fd) != 0) {
            kumo__error_set(err, -errno, "cannot write %s: %s", path, strerror(errno));
            return err->code;
        }
        printf("wrote %s\n", path);
    }
    return 0;
}

/* `src` with every "{{name}}" replaced: malloc'd, *len set. */
static char *with_name(const unsigned char *src, size_t n, const char *name, size_t *len)
{
    static const char mark[] = "{{name}}";
    size_t ml = sizeof(mark) - 1, nl = strlen(name), count = 0;
    for (size_t i = 0; i + ml <= n; i++)
        if (memcmp(src + i, mark, ml) == 0)
            count++;
    char *out = malloc(n + count * nl + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + ml <= n && memcmp(src + i, mark, ml) == 0) {
            memcpy(out + o, name, nl);
            o += nl;
            i += ml;
        } else {
            out[o++] = (char)src[i++];
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static int from_template(const char *dir, const char *tpl, const char *name, kumo__error *err)
{
    size_t pl = strlen(tpl), n = 0;
    kumo__init_out *files = calloc(kumo__init_nfiles ? kumo__init_nfiles : 1, sizeof(*files));
    int rc = 0;
    if (files == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < kumo__init_nfiles && rc == 0; i++) {
        const kumo__init_file *f = &kumo__init_files[i];
        if (strncmp(f->path, tpl, pl) != 0 || f->path[pl] != '/')
            continue;
        files[n].path = f->path + pl + 1;
        if ((files[n].owned = with_name(f->data, f->len, name, &files[n].len)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
        }
        files[n].data = files[n].owned;
        n++;
    }
    if (rc == 0 && (rc = kumo__init_write(dir, files, n, err)) == 0)
        printf("\nproject '%s' (template %s) in %s; next:\n  cd %s\n  kumo test     # the handlers' tests, in "
               "process\n  kumo up       # serve it on http://localhost:8080\n",
               name, tpl, dir, dir);
    for (size_t i = 0; i < n; i++)
        free(files[i].owned);
    free(files);
    return rc;
}

int kumo__cmd_init(int argc, char **argv, kumo__error *err)
{
    const char *dir = NULL, *tpl = NULL, *from = NULL, *name = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--template") == 0 ? &tpl
                            : strcmp(a, "--from") == 0   ? &from
                            : strcmp(a, "--name") == 0   ? &name
                                                         : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                kumo__error_set(err, -KUMO__EUSAGE, "%s takes a value", a);
                return -KUMO__EUSAGE;
            }
            *slot = argv[++i];
        } else if (a[0] == '-') {
            kumo__error_set(err, -KUMO__EUSAGE, "unknown option '%s'", a);
            return -KUMO__EUSAGE;
        } else if (dir == NULL) {
            dir = a;
        } else {
            kumo__error_set(err, -KUMO__EUSAGE, "one project directory only ('%s' and '%s')", dir, a);
            return -KUMO__EUSAGE;
        }
    }
    if (tpl && from) {
        kumo__error_set(err, -KUMO__EUSAGE,
                        "--template and --from exclude each other: a template writes its own "
                        "openapi.yaml, --from writes stubs for yours");
        return -KUMO__EUSAGE;
    }
    int known = tpl == NULL;
    for (size_t i = 0; i < NTEMPLATES && !known; i++)
        known = strcmp(tpl, templates[i]) == 0;
    if (!known) {
        kumo__error_set(err, -KUMO__EUSAGE, "unknown template '%s'; the templates are hello, crud and events", tpl);
        return -KUMO__EUSAGE;
    }
    if (name && !kumo__init_name_ok(name)) {
        kumo__error_set(err, -KUMO__EUSAGE, "--name '%s': a project's name is 1 to 63 of a-z, 0-9 and '-'", name);
        return -KUMO__EUSAGE;
    }
    if (dir == NULL)
        dir = ".";
    char trimmed[PATH_MAX];
    snprintf(trimmed, sizeof(trimmed), "%s", dir);
    for (size_t n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
        trimmed[n - 1] = '\0'; /* "x/" writes x/kumo.yaml, not x//kumo.yaml */
    dir = trimmed;
    int rc = kumo__mkdirs(dir, 0755);
    if (rc != 0) {
        kumo__error_set(err, rc, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    char auto_name[64];
    if (name == NULL) {
        name_from_dir(dir, auto_name, sizeof(auto_name));
        name = auto_name;
    }
    if (from)
        return kumo__init_from(dir, from, name, err);
    return from_template(dir, tpl ? tpl : "hello", name, err);
}
