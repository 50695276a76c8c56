/*
 * check.h: the unit tests' few macros. A failed CHECK prints file:line and
 * the expression and counts a failure; the test's main returns
 * check_report(), which prints "N passed, N failed" and the exit status.
 * A check that cannot run here (no cgroup v1, no python yaml) calls
 * check_skip(why): the test then exits 77, which ctest (SKIP_RETURN_CODE
 * in CMakeLists.txt) reports as "Skipped" instead of a silent pass; a
 * failure still wins over a skip.
 */
#ifndef KUMO_CHECK_H
#define KUMO_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;
static const char *check_skipped; /* the last reason given to check_skip */

#define CHECK_SKIP_CODE 77

#define CHECK(expr)                                                                                                    \
    do {                                                                                                               \
        if (expr) {                                                                                                    \
            check_passed++;                                                                                            \
        } else {                                                                                                       \
            check_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);                                   \
        }                                                                                                              \
    } while (0)

#define CHECK_INT(a, b)                                                                                                \
    do {                                                                                                               \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                                \
        if (check_a_ == check_b_) {                                                                                    \
            check_passed++;                                                                                            \
        } else {                                                                                                       \
            check_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, check_a_, check_b_); \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *check_a_ = (a), *check_b_ = (b);                                                                   \
        if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {                                                 \
            check_passed++;                                                                                            \
        } else {                                                                                                       \
            check_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,                  \
                    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");                                   \
        }                                                                                                              \
    } while (0)

/* Says loudly, on stdout and stderr, that part of the test did not run and
 * why; `why` must outlive the test (a literal or a static buffer). */
static inline void check_skip(const char *why)
{
    check_skipped = why;
    printf("SKIPPED: %s\n", why);
    fprintf(stderr, "SKIPPED: %s\n", why);
}

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    if (check_failed)
        return 1;
    if (check_skipped) {
        printf("exit %d (skipped): %s\n", CHECK_SKIP_CODE, check_skipped);
        return CHECK_SKIP_CODE;
    }
    return 0;
}

#endif
