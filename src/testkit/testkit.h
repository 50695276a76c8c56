/*
 * testkit.h: `kumo test`'s engine, the harness behind include/kumo_test.h.
 *
 * A project's test files are built into shared objects (compile.c) and
 * dlopened into the kumo process, where their KUMO_TEST constructors
 * register each test (harness.c). The project itself is loaded once, as
 * kumo-host loads a package (src/host: the units dlopened, the router, the
 * security policy, the contract checks), then each test runs in a forked
 * child with its stores moved to a fresh temporary folder, so tests share
 * no data and a crash or a hang ends one test only (runner.c). A child
 * tells the parent what happened on a pipe: lines "@FILE:LINE: what" for
 * the request it is about to send (so a crash names it),
 * "=FILE:LINE: " when its answer came back, and "!FILE:LINE: message" for
 * the failure that ends it.
 */
#ifndef KUMO_TESTKIT_H
#define KUMO_TESTKIT_H

#include <stddef.h>

#include "base/error.h"
#include <kumo_test.h>

struct kumo__host; /* host/host.h */

/* One registered test: its name and where KUMO_TEST defined it. */
typedef struct kumo__test_case {
    const char *name, *file;
    int line;
    void (*fn)(struct kumo_test *t);
} kumo__test_case;

/* The tests registered so far (by the test objects loaded), in load order. */
const kumo__test_case *kumo__test_cases(size_t *n);
/* Forgets them (after a run). */
void kumo__test_cases_reset(void);

/* ---- harness.c: one test's state in the child ---------------------------- */

/* Runs test `c` against `host` in this (child) process and returns only
 * when it passed (the caller then exits 0); a failed assertion exits 1.
 * `report_fd` is the pipe to the parent. */
void kumo__test_run_case(struct kumo__host *host, const kumo__test_case *c, int report_fd);

/* ---- compile.c ------------------------------------------------------------ */

/* Builds the test file `src` (relative to the project folder `dir`, so
 * __FILE__ reads "tests/x.c") into the shared object `so` with $CC,
 * against kumo.h and kumo_test.h, the project folder also on the include
 * path. The compiler's messages go to stderr. */
int kumo__test_compile(const char *dir, const char *src, const char *so, kumo__error *err);

/* The units of the project in `dir` (an absolute path) built as kumo up
 * builds them, then each DIR/tests/NAME.c built into
 * DIR/.kumo/build/test/NAME.so. Free b with kumo__test_build_free. */
typedef struct kumo__test_build {
    char **objects; /* the shared objects */
    char **sources; /* their test files, relative to dir */
    size_t n;
} kumo__test_build;
int kumo__test_build_all(const char *dir, kumo__test_build *b, kumo__error *err);
void kumo__test_build_free(kumo__test_build *b);

/* ---- runner.c ------------------------------------------------------------- */

typedef struct kumo__test_options {
    const char *filter; /* run only tests whose name contains it; NULL: all */
    unsigned timeout_s; /* per test; the child is killed after it */
    int verbose;        /* show the output of passing tests too */
} kumo__test_options;

typedef struct kumo__test_summary {
    unsigned passed, failed;
} kumo__test_summary;

/* Loads the project in `dir` (its units already built), loads each test
 * object of `objects` (registering its tests; `sources[i]` is the file it
 * was built from, for messages) and runs every test, printing one line per
 * test on stdout, failures with file:line and what the test printed, and
 * the summary. 0 when it ran (whatever the tests' outcome: see *sum),
 * negative with err set when it could not. */
int kumo__test_run(const char *dir, char *const *objects, char *const *sources, size_t n, const kumo__test_options *o,
                   kumo__test_summary *sum, kumo__error *err);

#endif
