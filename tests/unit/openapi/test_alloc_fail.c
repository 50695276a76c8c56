/*
 * test_alloc_fail.c: allocation-failure mode (SQLite's faultsim, curl's
 * torture) over the control plane's loaders: the OpenAPI loader with the
 * router built on it (kumo__spec_load + kumo__router_build) and each
 * operation's compiled schemas (kumo__opcheck_build, as `kumo up` binds),
 * and the kumo.yaml loader (kumo__project_load, and _prebuilt as
 * kumo-host loads a package), on the fixture documents, the example
 * project and a few documents written here. For each input the
 * load runs once to count its allocations, then again failing the Nth
 * allocation, for N = 1, 2, 3, ... until a run no longer reaches N. Each
 * failed run must return a negative code with err set and no result;
 * AddressSanitizer (make test) catches a crash or a use after free, and
 * LeakSanitizer a leak on the failure path. A second pass fails every
 * allocation from the Nth on, so that the error paths' own allocations
 * fail too.
 *
 * How: this executable is linked with -Wl,--wrap=malloc,... (CMakeLists.txt,
 * the test section), so every call the static libraries make to malloc,
 * calloc, realloc, strdup, strndup, asprintf and realpath(.., NULL) comes
 * here first; jansson's allocator is pointed at the same counter with
 * json_set_alloc_funcs. What cannot be reached this way: allocations made
 * inside other shared libraries (libyaml's parser and its events, PCRE2's
 * compiler, glibc's own stdio buffers), which go to libc directly.
 */
#include "check.h"
#include "openapi/check.h"
#include "openapi/openapi.h"
#include "project/project.h"

#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "openapi/fixtures/"

/* ---- the counting allocator ------------------------------------------------ */

static long fail_at; /* 0: no failures; else the number of the allocation to fail */
static int persist;  /* fail every allocation from fail_at on, not only that one */
static long seen;    /* allocations counted since the run started */
static long failed;  /* allocations refused in this run */

/* Where the first refused allocation of a run was made, printed when the
 * run's outcome is wrong; symbolized when a sanitizer runtime is linked. */
static void *refused_at[24];
static int nrefused_at;
void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out, size_t size) __attribute__((weak));

static void print_refused_at(void)
{
    for (int i = 1; i < nrefused_at; i++) {
        char line[512];
        if (__sanitizer_symbolize_pc == NULL) {
            backtrace_symbols_fd(&refused_at[i], 1, 2);
            continue;
        }
        __sanitizer_symbolize_pc(refused_at[i], "%f %S", line, sizeof line);
        fprintf(stderr, "    %s\n", line);
    }
}

static int refuse(void)
{
    if (fail_at == 0)
        return 0;
    seen++;
    if (seen == fail_at || (persist && seen > fail_at)) {
        if (failed == 0)
            nrefused_at = backtrace(refused_at, (int)(sizeof refused_at / sizeof refused_at[0]));
        failed++;
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
char *__real_realpath(const char *path, char *resolved);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *__wrap_realpath(const char *path, char *resolved);

void *__wrap_malloc(size_t n)
{
    return refuse() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return refuse() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return refuse() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return refuse() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return refuse() ? NULL : __real_strndup(s, n);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
    if (refuse())
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

/* realpath allocates only when `resolved` is NULL. */
char *__wrap_realpath(const char *path, char *resolved)
{
    if (resolved == NULL && refuse())
        return NULL;
    return __real_realpath(path, resolved);
}

/* ---- the loaders under test ------------------------------------------------ */

/* Loads the spec and builds its router; frees both. */
static int load_spec(const char *path, kumo__error *err)
{
    kumo__spec *spec = NULL;
    kumo__router *router = NULL;
    int rc = kumo__spec_load(path, &spec, err);
    if (rc < 0) {
        if (spec != NULL)
            rc = 1; /* a failure returned a result: reported by the caller */
        return rc;
    }
    rc = kumo__router_build(spec, &router, err);
    if (rc < 0 && router != NULL)
        rc = 1;
    /* and compiles each operation's schemas, as `kumo up` does next */
    for (size_t i = 0; rc == 0 && i < spec->nops; i++) {
        kumo__opcheck *check = NULL;
        rc = kumo__opcheck_build(spec, i, &check, err);
        if (rc < 0 && check != NULL)
            rc = 1;
        kumo__opcheck_free(check);
    }
    kumo__router_free(router);
    kumo__spec_free(spec);
    return rc;
}

static int load_project(const char *dir, kumo__error *err)
{
    kumo__project *p = NULL;
    int rc = kumo__project_load(dir, &p, err);
    if (rc < 0 && p != NULL)
        rc = 1;
    kumo__project_free(p);
    return rc;
}

/* As kumo-host loads a package's kumo.yaml. */
static int load_project_prebuilt(const char *dir, kumo__error *err)
{
    kumo__project *p = NULL;
    int rc = kumo__project_load_prebuilt(dir, &p, err);
    if (rc < 0 && p != NULL)
        rc = 1;
    kumo__project_free(p);
    return rc;
}

static long total_runs;

/* One input through the loader: a clean run to learn its allocations and
 * result, then failing runs until a run completes without a failure. */
static void torture(const char *what, int (*load)(const char *, kumo__error *), const char *path)
{
    kumo__error err = {0};
    fail_at = 0;
    int want = load(path, &err);
    char want_msg[sizeof err.msg];
    memcpy(want_msg, err.msg, sizeof want_msg);
    for (persist = 0; persist < 2; persist++) {
        long n;
        for (n = 1;; n++) {
            memset(&err, 0, sizeof err);
            seen = failed = 0;
            fail_at = n;
            int rc = load(path, &err);
            fail_at = 0;
            total_runs++;
            if (failed == 0) {
                /* no allocation was refused: the same result as the clean run */
                CHECK_INT(rc, want);
                CHECK_STR(err.msg, want_msg);
                break;
            }
            /* a refused allocation is an error: a load that still succeeds
             * has dropped something without saying so */
            if (rc >= 0 || err.code >= 0 || err.msg[0] == '\0') {
                fprintf(stderr, "%s %s: allocation %ld%s refused: rc %d, err.code %d, err \"%s\"\n", what, path, n,
                        persist ? " and later" : "", rc, err.code, err.msg);
                print_refused_at();
                CHECK(rc < 0 && err.code < 0 && err.msg[0] != '\0');
            }
        }
        printf("%s %s: %ld allocations%s\n", what, path, n - 1, persist ? " (failing from each on)" : "");
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    /* jansson's nodes, strings and tables count as allocations too */
    json_set_alloc_funcs(__wrap_malloc, free);

    static const char *const specs[] = {
        FIX "spec_30.yaml",
        FIX "spec_31.yaml",
        FIX "spec_20.json",
        FIX "spec_relative.yaml",
        FIX "spec_router.yaml",
        FIX "check_spec.yaml",
        FIX "refs_multi/api/openapi.yaml",
        FIX "swagger_petstore/swagger.yaml",
        FIX "refs_errors/cycle.yaml",
        FIX "refs_errors/syntax.yaml",
        FIX "refs_errors/deep_params.yaml",
        "../../examples/todo/openapi.yaml",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        torture("spec", load_spec, specs[i]);

    static const char *const projects[] = {
        FIX "proj_ok",       FIX "proj_badkey",    FIX "proj_noname",
        FIX "proj_nosource", FIX "proj_wrongtype", "../../examples/todo",
    };
    for (size_t i = 0; i < sizeof projects / sizeof projects[0]; i++)
        torture("project", load_project, projects[i]);
    torture("prebuilt project", load_project_prebuilt, FIX "proj_ok");
    torture("prebuilt project", load_project_prebuilt, FIX "proj_nosource");

    /* environments, stores, events and the sandbox mapping, which the fixtures lack */
    char dir[] = "/tmp/kumo-alloc-fail-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/openapi.yaml", dir);
    write_file(path, "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n");
    snprintf(path, sizeof path, "%s/f.c", dir);
    write_file(path, "int f;\n");
    snprintf(path, sizeof path, "%s/kumo.yaml", dir);
    write_file(path,
               "name: shop\napi: openapi.yaml\n"
               "defaults: {timeout: 2s, sandbox: {seccomp: false}}\n"
               "functions:\n  carts: {sources: [f.c, f.c], sandbox: false}\n  orders: {sources: [f.c]}\n"
               "stores: {kv: [carts], blob: [images], queue: [orders, mail]}\n"
               "environments:\n  dev:\n"
               "  prod: {target: aws, region: eu-west-1, stores: {carts: \"dynamodb://c\", orders: \"sqs://o\"}}\n"
               "events:\n  purge: {schedule: \"30 2 * * *\", timezone: Europe/Zurich, handler: carts.purge, "
               "missed: once}\n  tick: {schedule: every 5m, handler: orders.tick}\n");
    torture("project", load_project, dir);
    /* and a refusal late in the file, after everything above was allocated */
    write_file(path, "name: shop\napi: openapi.yaml\nfunctions:\n  carts: {sources: [f.c]}\n"
                     "stores: {kv: [carts], queue: [orders]}\n"
                     "environments:\n  prod: {stores: {carts: \"dynamodb://c\", nope: \"sqs://o\"}}\n");
    torture("project", load_project, dir);
    char rm[160];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    CHECK_INT(system(rm), 0);

    printf("%ld failing runs\n", total_runs);
    return check_report();
}
