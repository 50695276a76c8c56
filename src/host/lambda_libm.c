/*
 * lambda_libm.c: the few functions of libm that kumo-lambda's code calls
 * (floor, ceil, round, nearbyint, fmin, fmax), so that the lean Lambda
 * host does not need libm.so.6. Mapping and relocating libm was the
 * costliest library of kumo-lambda's start (bench/deploy.py: about
 * 0.2 ms of every cold start), for a handful of roundings.
 *
 * Only kumo-lambda links this file (CMakeLists.txt; the host layer leaves
 * it out); its definitions bind kumo-lambda's own calls and, with hidden
 * visibility like every kumo object, nothing else: a unit that uses libm
 * links it and gets it. Each function is exact for every double, as C
 * says (IEEE 754 results, the sign of zero kept, NaN and infinities
 * returned as they came), and is checked against libm by
 * tests/unit/host/test_lambda_libm.c.
 */
#include <math.h>
#include <stdint.h>

/* 2^52: from there up every double is an integer */
#define TWO52 4503599627370496.0

/* x toward zero; a zero result takes x's sign. |x| < 2^52. */
static double trunc_small(double x)
{
    double t = (double)(int64_t)x;
    return t == 0.0 ? __builtin_copysign(0.0, x) : t;
}

double floor(double x)
{
    if (!(__builtin_fabs(x) < TWO52))
        return x; /* integral already, or infinite, or NaN */
    double t = trunc_small(x);
    return t > x ? t - 1.0 : t;
}

double ceil(double x)
{
    if (!(__builtin_fabs(x) < TWO52))
        return x;
    double t = trunc_small(x);
    return t < x ? t + 1.0 : t; /* ceil(-0.5) is -0.0: trunc_small kept the sign */
}

double round(double x)
{
    if (!(__builtin_fabs(x) < TWO52))
        return x;
    double t = trunc_small(x);
    /* x - t is exact (the fraction of a double below 2^52) */
    if (__builtin_fabs(x - t) >= 0.5)
        t += __builtin_copysign(1.0, x);
    return t;
}

double nearbyint(double x)
{
    if (!(__builtin_fabs(x) < TWO52))
        return x;
    /* adding 2^52 rounds the fraction off in the current rounding mode
     * (to nearest, ties to even, by default); volatile keeps the compiler
     * from folding the pair of operations away */
    volatile double big = __builtin_fabs(x) + TWO52;
    double r = big - TWO52;
    return __builtin_copysign(r, x);
}

/* a signaling NaN: all ones in the exponent, the quiet bit (51) clear, a
 * fraction not zero */
static int signaling(double x)
{
    uint64_t u;
    __builtin_memcpy(&u, &x, sizeof u);
    return (u & 0x7ff8000000000000u) == 0x7ff0000000000000u && (u & 0x0007ffffffffffffu) != 0;
}

/* As glibc: a signaling NaN on either side gives a quiet NaN (IEEE
 * 754-2008's minNum and maxNum), a quiet one the other operand. 1 with
 * the result in *out when a NaN decides, else 0. */
static int nan_decides(double x, double y, double *out)
{
    if (signaling(x) || signaling(y))
        *out = x + y;
    else if (isnan(x))
        *out = y;
    else if (isnan(y))
        *out = x;
    else
        return 0;
    return 1;
}

double fmin(double x, double y)
{
    double r;
    return nan_decides(x, y, &r) ? r : x < y ? x : y;
}

double fmax(double x, double y)
{
    double r;
    return nan_decides(x, y, &r) ? r : x > y ? x : y;
}
