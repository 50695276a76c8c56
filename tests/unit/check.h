/*
 * check.h: the unit tests' few macros. A failed CHECK prints file:line and
 * the expression and counts a failure; the test's main returns
 * check_report(), which prints "N passed, N failed" and the exit status.
 */
#ifndef KUMO_CHECK_H
#define KUMO_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(expr)                                                                  \
    do {                                                                             \
        if (expr) {                                                                  \
            check_passed++;                                                          \
        } else {                                                                     \
            check_failed++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
        }                                                                            \
    } while (0)

#define CHECK_INT(a, b)                                                                                   \
    do {                                                                                                  \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                  \
        if (check_a_ == check_b_) {                                                                       \
            check_passed++;                                                                               \
        } else {                                                                                          \
            check_failed++;                                                                               \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, check_a_, \
                    check_b_);                                                                            \
        }                                                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                                                       \
    do {                                                                                                      \
        const char *check_a_ = (a), *check_b_ = (b);                                                          \
        if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {                                        \
            check_passed++;                                                                                   \
        } else {                                                                                              \
            check_failed++;                                                                                   \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,         \
                    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");                          \
        }                                                                                                     \
    } while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
