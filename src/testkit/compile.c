/*
 * compile.c: a project's test file built into a shared object that
 * `kumo test` dlopens. Built like a function unit (runtime/build.c: $CC,
 * -shared -fPIC, kumo.h's folder on the include path, jansson) but from
 * the project's folder, so that __FILE__, and with it every failure's
 * file:line, reads as the user wrote the path ("tests/todo_test.c").
 */
#include "testkit/testkit.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "runtime/runtime.h"

int kumo__test_compile(const char *dir, const char *src, const char *so, kumo__error *err)
{
    const char *cc = getenv("CC");
    if (cc == NULL || *cc == '\0')
        cc = "cc";
    char inc[PATH_MAX + 3], proj[PATH_MAX + 3];
    snprintf(inc, sizeof(inc), "-I%s", kumo__include_dir());
    snprintf(proj, sizeof(proj), "-I%s", dir);
    char *argv[] = {(char *)cc, "-shared", "-fPIC",    "-g",        "-O0",       "-Wall", inc,
                    proj,       "-o",      (char *)so, (char *)src, "-ljansson", NULL};
    pid_t pid = fork();
    if (pid < 0) {
        kumo__error_set(err, -errno, "cannot start the C compiler: %s", strerror(errno));
        return err->code;
    }
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        execvp(cc, argv);
        fprintf(stderr, "kumo test: cannot run the C compiler '%s': %s; install gcc or set CC\n", cc, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            kumo__error_set(err, -errno, "waiting for the compiler: %s", strerror(errno));
            return err->code;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        kumo__error_set(err, -EINVAL, "%s did not compile (compiler messages above)", src);
        return err->code;
    }
    return 0;
}

int kumo__test_build_all(const char *real, kumo__test_build *b, kumo__error *err)
{
    memset(b, 0, sizeof(*b));
    kumo__project *p = NULL;
    glob_t g = {0};
    int built = 0, rc = kumo__project_load(real, &p, err);
    if (rc != 0)
        goto out;
    if ((rc = kumo__build_units(p, &built, err)) != 0) {
        kumo__error_wrap(err, "building the functions");
        goto out;
    }
    char pattern[PATH_MAX + 16];
    snprintf(pattern, sizeof(pattern), "%s/tests/*.c", real);
    int grc = glob(pattern, 0, NULL, &g);
    if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
        kumo__error_set(err, -ENOENT,
                        "%s/tests has no test file (NAME.c): write one with #include <kumo_test.h> and "
                        "KUMO_TEST(name) { ... } (docs/testing.md)",
                        real);
        rc = err->code;
        goto out;
    }
    if (grc != 0) {
        kumo__error_set(err, -EIO, "cannot list %s", pattern);
        rc = err->code;
        goto out;
    }
    char outdir[PATH_MAX + 32];
    snprintf(outdir, sizeof(outdir), "%s/.kumo/build/test", real);
    if ((rc = kumo__mkdirs(outdir, 0755)) != 0) {
        kumo__error_set(err, rc, "cannot create %s: %s", outdir, strerror(-rc));
        goto out;
    }
    b->objects = calloc(g.gl_pathc, sizeof(*b->objects));
    b->sources = calloc(g.gl_pathc, sizeof(*b->sources));
    if (b->objects == NULL || b->sources == NULL) {
        kumo__error_set(err, -ENOMEM, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *src = g.gl_pathv[i] + strlen(real) + 1; /* tests/x.c */
        const char *base = strrchr(src, '/') + 1;
        b->n = i + 1;
        if (asprintf(&b->objects[i], "%s/%.*s.so", outdir, (int)(strlen(base) - 2), base) < 0 ||
            (b->sources[i] = strdup(src)) == NULL) {
            kumo__error_set(err, -ENOMEM, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        if ((rc = kumo__test_compile(real, b->sources[i], b->objects[i], err)) != 0)
            goto out;
    }
out:
    globfree(&g);
    kumo__project_free(p);
    if (rc != 0)
        kumo__test_build_free(b);
    return rc;
}

void kumo__test_build_free(kumo__test_build *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->objects ? b->objects[i] : NULL);
        free(b->sources ? b->sources[i] : NULL);
    }
    free(b->objects);
    free(b->sources);
    memset(b, 0, sizeof(*b));
}
