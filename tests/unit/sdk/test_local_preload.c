/*
 * test_local_preload.c: kumo__local_preload (src/sdk/adapters/local.c),
 * which reads a unit's exported functions from its dynamic symbol table so
 * that a worker finds its handler without dlsym. Checked against dlsym on
 * real shared objects of this machine:
 * - libjansson (GNU hash, no symbol versions): every function asked for is
 *   found at dlsym's address; a name it does not define is not;
 * - libc (versioned): a function with two versions is found at the one
 *   dlsym returns (the default); data objects and indirect functions
 *   (IFUNC, whose address dlsym computes) are left to dlsym;
 * - two units side by side: a name is found in the unit asked, not the
 *   other.
 */
#include "check.h"
#include "sdk/sdk.h"

#include <dlfcn.h>
#include <stdlib.h>

static void *sym(void *unit, const char *name)
{
    return dlsym(unit, name);
}

static void *found(void *unit, const char *name)
{
    kumo_handler *fn = kumo__local_find(unit, name);
    void *p;
    *(kumo_handler **)&p = fn;
    return p;
}

static void test_jansson(void *jansson)
{
    static const char *const names[] = {
        "json_object",           "json_loads",       "json_dumps", "json_object_set_new",
        "json_array_append_new", "json_object_seed", "json_delete"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK(found(jansson, names[i]) != NULL);
        CHECK(found(jansson, names[i]) == sym(jansson, names[i]));
    }
    CHECK(found(jansson, "json_no_such_function") == NULL);
    CHECK(found(jansson, "") == NULL);
}

static void test_libc(void *libc)
{
    /* pthread_cond_wait has GLIBC_2.2.5 and GLIBC_2.3.2 (the default) on
     * x86-64; realpath has GLIBC_2.2.5 and GLIBC_2.3 */
    static const char *const names[] = {"pthread_cond_wait", "realpath", "fopen", "qsort", "getpid"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK(found(libc, names[i]) != NULL);
        CHECK(found(libc, names[i]) == sym(libc, names[i]));
    }
    CHECK(found(libc, "stdout") == NULL);  /* an object */
    CHECK(found(libc, "environ") == NULL); /* an object */
    CHECK(found(libc, "memcpy") == NULL);  /* an IFUNC: dlsym's to resolve */
}

int main(void)
{
    void *jansson = dlopen("libjansson.so.4", RTLD_NOW | RTLD_LOCAL);
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    CHECK(jansson != NULL);
    CHECK(libc != NULL);
    if (jansson == NULL || libc == NULL)
        return check_report();

    CHECK(found(jansson, "json_object") == NULL); /* nothing preloaded yet */
    CHECK_INT(kumo__local_preload(jansson), 0);
    test_jansson(jansson);
    CHECK(found(libc, "getpid") == NULL); /* libc is not preloaded yet */

    CHECK_INT(kumo__local_preload(libc), 0);
    test_libc(libc);
    test_jansson(jansson); /* still right with two units in the table */
    CHECK(found(jansson, "getpid") == NULL);
    CHECK(found(libc, "json_object") == NULL);
    return check_report();
}
