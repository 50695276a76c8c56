/*
 * test_build_deps.c: build.c's header dependencies (issue 17). The make
 * rules it reads (continuations, escaped spaces, phony rules, several
 * rules), then real builds with the system's C compiler: a one-source
 * unit (-MMD) and a two-source unit (-MM per source) each learn the
 * headers they include, a touched header makes its unit stale and an
 * untouched project is not rebuilt.
 */
#include "runtime/build.c"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static int listed(char **deps, const char *suffix)
{
    for (size_t i = 0; deps && deps[i]; i++) {
        size_t n = strlen(deps[i]), m = strlen(suffix);
        if (n >= m && strcmp(deps[i] + n - m, suffix) == 0)
            return 1;
    }
    return 0;
}

static void test_rules(const char *dir)
{
    char **deps = NULL;
    char *d = write_file(dir, "rules.d",
                         "/x/app.so.tmp1: /p/functions/app.c /p/include/kumo.h \\\n"
                         "  /p/functions/my\\ header.h\n"
                         "/p/functions/b.o: /p/functions/b.c /p/functions/b.h\n"
                         "/p/include/kumo.h:\n");
    CHECK_INT(kumo__read_deps(d, &deps), 0);
    CHECK(deps != NULL);
    if (deps) {
        const char *want[] = {"/p/functions/app.c", "/p/include/kumo.h", "/p/functions/my header.h",
                              "/p/functions/b.c",   "/p/functions/b.h",  NULL};
        size_t i = 0;
        for (; want[i] && deps[i]; i++)
            CHECK(strcmp(deps[i], want[i]) == 0);
        CHECK(want[i] == NULL && deps[i] == NULL);
    }
    free(deps);
    free(d);
    CHECK_INT(kumo__read_deps("/nonexistent/kumo/x.d", &deps), -ENOENT);
    CHECK(deps == NULL);
}

/* Sets a file's mtime `ago` seconds back, so that "newer" does not
 * depend on the clock's grain. */
static void age(const char *path, int ago)
{
    struct timespec old[2] = {{.tv_sec = time(NULL) - ago, .tv_nsec = 0}, {.tv_sec = time(NULL) - ago, .tv_nsec = 0}};
    utimensat(AT_FDCWD, path, old, 0);
}

static void test_builds(const char *dir)
{
    char fdir[PATH_MAX], built_dir[PATH_MAX];
    snprintf(fdir, sizeof(fdir), "%s/functions", dir);
    mkdir(fdir, 0755);
    char *one_h = write_file(fdir, "one.h", "#define ONE 1\n");
    char *two_h = write_file(fdir, "two.h", "#define TWO 2\n");
    char *one_c = write_file(fdir, "one.c", "#include <kumo.h>\n#include \"one.h\"\nint one(void) { return ONE; }\n");
    char *two_c = write_file(fdir, "two.c", "#include \"two.h\"\nint two(void) { return TWO; }\n");
    snprintf(built_dir, sizeof(built_dir), "%s/.kumo/build/local", dir);
    char so_a[PATH_MAX + 16], so_b[PATH_MAX + 16];
    snprintf(so_a, sizeof(so_a), "%s/a.so", built_dir);
    snprintf(so_b, sizeof(so_b), "%s/b.so", built_dir);
    char *a_sources[] = {one_c};
    char *b_sources[] = {one_c, two_c};
    kumo__unit units[2] = {{.name = "a", .sources = a_sources, .nsources = 1, .so_path = so_a},
                           {.name = "b", .sources = b_sources, .nsources = 2, .so_path = so_b}};
    kumo__project p = {.dir = (char *)dir, .units = units, .nunits = 2};
    kumo__error err = {0};
    int built = -1;
    CHECK_INT(kumo__build_units(&p, &built, &err), 0);
    CHECK_INT(built, 2);
    char **deps = NULL;
    CHECK_INT(kumo__unit_deps(&units[0], &deps), 0);
    CHECK(listed(deps, "/functions/one.h"));
    CHECK(listed(deps, "/kumo.h"));
    CHECK(!listed(deps, "/functions/two.h"));
    free(deps);
    CHECK_INT(kumo__unit_deps(&units[1], &deps), 0); /* both sources' headers, not only the last's */
    CHECK(listed(deps, "/functions/one.h"));
    CHECK(listed(deps, "/functions/two.h"));
    free(deps);
    char header[PATH_MAX];
    snprintf(header, sizeof(header), "%s/kumo.h", kumo__include_dir());
    CHECK(!needs_build(&units[0], header));
    CHECK(!needs_build(&units[1], header));
    CHECK_INT(kumo__build_units(&p, &built, &err), 0);
    CHECK_INT(built, 0);
    /* two.h edited: only b, which includes it, is stale */
    age(one_c, 20);
    age(two_c, 20);
    age(one_h, 20);
    age(two_h, 20);
    age(so_a, 10);
    age(so_b, 10);
    utimensat(AT_FDCWD, two_h, NULL, 0);
    CHECK(!needs_build(&units[0], header));
    CHECK(needs_build(&units[1], header));
    CHECK_INT(kumo__build_units(&p, &built, &err), 0);
    CHECK_INT(built, 1);
    /* a unit whose dependency list is gone is rebuilt to learn it again */
    char d[PATH_MAX + 8];
    deps_path(&units[0], d, sizeof(d));
    CHECK_INT(unlink(d), 0);
    CHECK(needs_build(&units[0], header));
    /* a failed build says the compiler's file:line */
    FILE *f = fopen(one_c, "a");
    fputs("int broken(void) { return }\n", f);
    fclose(f);
    kumo__error berr = {0};
    CHECK(kumo__build_units(&p, &built, &berr) != 0);
    CHECK(strstr(berr.msg, "did not compile:\n") != NULL);
    CHECK(strstr(berr.msg, "one.c:4:") != NULL);
    free(one_h);
    free(two_h);
    free(one_c);
    free(two_c);
}

int main(void)
{
    char dir[] = "/tmp/kumo-deps-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    test_rules(dir);
    test_builds(dir);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
