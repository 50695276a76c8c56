/*
 * test_lambda_libm: kumo-lambda's own floor, ceil, round, nearbyint, fmin
 * and fmax (src/host/lambda_libm.c) give libm's results, bit for bit, for
 * the edge cases and for a million doubles of every magnitude.
 */
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "../../../src/host/lambda_libm.c"

typedef double (*fn1)(double);
typedef double (*fn2)(double, double);

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double of_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* the same double, or both NaN */
static int same(double a, double b)
{
    return (isnan(a) && isnan(b)) || bits(a) == bits(b);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int mismatches;
static void one(const char *name, fn1 ours, fn1 theirs, double x)
{
    double a = ours(x), b = theirs(x);
    if (!same(a, b) && mismatches++ < 10)
        fprintf(stderr, "  %s(%.17g): ours %.17g, libm %.17g\n", name, x, a, b);
}

int main(void)
{
    void *libm = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    CHECK(libm != NULL);
    struct {
        const char *name;
        fn1 ours;
    } f1[] = {{"floor", floor}, {"ceil", ceil}, {"round", round}, {"nearbyint", nearbyint}};
    const double edges[] = {0.0,
                            -0.0,
                            0.5,
                            -0.5,
                            1.5,
                            -1.5,
                            2.5,
                            -2.5,
                            0.49999999999999994,
                            -0.49999999999999994,
                            0.3,
                            -0.3,
                            1.0,
                            -1.0,
                            4503599627370495.5,
                            -4503599627370495.5,
                            4503599627370496.0,
                            4503599627370497.0,
                            9007199254740993.0,
                            1e300,
                            -1e300,
                            DBL_MAX,
                            -DBL_MAX,
                            DBL_MIN,
                            -DBL_MIN,
                            4.9406564584124654e-324,
                            -4.9406564584124654e-324,
                            INFINITY,
                            -INFINITY,
                            NAN,
                            -NAN};
    for (size_t i = 0; i < sizeof(f1) / sizeof(f1[0]); i++) {
        fn1 theirs = (fn1)dlsym(libm, f1[i].name);
        CHECK(theirs != NULL);
        CHECK(theirs != f1[i].ours);
        mismatches = 0;
        for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++)
            one(f1[i].name, f1[i].ours, theirs, edges[k]);
        /* every bit pattern: most have huge exponents, so half of them are
         * also drawn between 2^-3 and 2^53, where the fraction matters */
        for (int k = 0; k < 500000; k++) {
            one(f1[i].name, f1[i].ours, theirs, of_bits(next()));
            double small = of_bits((next() & 0x800fffffffffffffu) | ((uint64_t)(1020 + next() % 56) << 52));
            one(f1[i].name, f1[i].ours, theirs, small);
            one(f1[i].name, f1[i].ours, theirs, (double)(int64_t)(next() % 2000001) / 2.0 - 500000.0);
        }
        if (mismatches)
            fprintf(stderr, "%s differs from libm's in %d cases\n", f1[i].name, mismatches);
        CHECK_INT(mismatches, 0);
    }
    fn2 lmin = (fn2)dlsym(libm, "fmin"), lmax = (fn2)dlsym(libm, "fmax");
    CHECK(lmin != NULL && lmax != NULL);
    const double pairs[][2] = {{1, 2},
                               {2, 1},
                               {-1, 1},
                               {NAN, 1},
                               {1, NAN},
                               {NAN, NAN},
                               {INFINITY, -INFINITY},
                               {-INFINITY, 3},
                               {DBL_MAX, -DBL_MAX},
                               {0.5, 0.25}};
    for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
        CHECK(same(fmin(pairs[k][0], pairs[k][1]), lmin(pairs[k][0], pairs[k][1])));
        CHECK(same(fmax(pairs[k][0], pairs[k][1]), lmax(pairs[k][0], pairs[k][1])));
    }
    for (int k = 0; k < 100000; k++) {
        double a = of_bits(next()), b = of_bits(next());
        CHECK(same(fmin(a, b), lmin(a, b)));
        CHECK(same(fmax(a, b), lmax(a, b)));
    }
    dlclose(libm);
    return check_report();
}
