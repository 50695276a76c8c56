/*
 * ed25519.c: see ed25519.h. Written from RFC 8032 section 5.1: the field
 * GF(2^255 - 19) in five limbs of 51 bits (products in 128 bits), points
 * in extended coordinates (X:Y:Z:T) with the section's strongly unified
 * addition and its doubling, decoding by 5.1.3, and one joint
 * double-and-add for [S]B - [k]A. Nothing here is secret: every input
 * is public, so the code takes the simple variable-time path throughout
 * (a square-and-multiply for inversion and square roots, a bit-by-bit
 * reduction of the 512-bit hash modulo the group order).
 */
#include "auth/ed25519.h"

#include <stdint.h>
#include <string.h>

#include <bearssl.h>

typedef unsigned __int128 u128;
#define MASK51 ((UINT64_C(1) << 51) - 1)

typedef struct {
    uint64_t v[5];
} fe;

typedef struct {
    fe X, Y, Z, T;
} ge;

static const fe FE_ONE = {{1, 0, 0, 0, 0}};
/* d = -121665/121666, and 2d */
static const fe FE_D = {
    {0x34dca135978a3ULL, 0x1a8283b156ebdULL, 0x5e7a26001c029ULL, 0x739c663a03cbbULL, 0x52036cee2b6ffULL}};
static const fe FE_D2 = {
    {0x69b9426b2f159ULL, 0x35050762add7aULL, 0x3cf44c0038052ULL, 0x6738cc7407977ULL, 0x2406d9dc56dffULL}};
/* 2^((p-1)/4), a square root of -1 */
static const fe FE_SQRTM1 = {
    {0x61b274a0ea0b0ULL, 0xd5a5fc8f189dULL, 0x7ef5e9cbd0c60ULL, 0x78595a6804c9eULL, 0x2b8324804fc1dULL}};
/* the base point B: y = 4/5, x even */
static const ge GE_B = {
    {{0x62d608f25d51aULL, 0x412a4b4f6592aULL, 0x75b7171a4b31dULL, 0x1ff60527118feULL, 0x216936d3cd6e5ULL}},
    {{0x6666666666658ULL, 0x4ccccccccccccULL, 0x1999999999999ULL, 0x3333333333333ULL, 0x6666666666666ULL}},
    {{1, 0, 0, 0, 0}},
    {{0x68ab3a5b7dda3ULL, 0xeea2a5eadbbULL, 0x2af8df483c27eULL, 0x332b375274732ULL, 0x67875f0fd78b7ULL}}};
/* exponents, little-endian: p - 2 (inversion) and (p - 5) / 8 = 2^252 - 3 (square roots) */
static const unsigned char EXP_INV[32] = {0xeb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
static const unsigned char EXP_SQRT[32] = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
/* the group order L = 2^252 + 27742317777372353535851937790883648493, in 64-bit words, little-endian */
static const uint64_t ORDER[4] = {0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0, 0x1000000000000000ULL};

/* ---- the field ------------------------------------------------------------ */

/* Limbs back to about 51 bits: each carry into the next limb, the top one
 * folded into the bottom times 19 (2^255 = 19 modulo p); twice, so what
 * the fold adds is carried too. */
static void fe_carry(fe *h)
{
    for (int pass = 0; pass < 2; pass++) {
        uint64_t c;
        c = h->v[0] >> 51, h->v[0] &= MASK51, h->v[1] += c;
        c = h->v[1] >> 51, h->v[1] &= MASK51, h->v[2] += c;
        c = h->v[2] >> 51, h->v[2] &= MASK51, h->v[3] += c;
        c = h->v[3] >> 51, h->v[3] &= MASK51, h->v[4] += c;
        c = h->v[4] >> 51, h->v[4] &= MASK51, h->v[0] += 19 * c;
    }
}

static void fe_add(fe *h, const fe *f, const fe *g)
{
    for (int i = 0; i < 5; i++)
        h->v[i] = f->v[i] + g->v[i];
    fe_carry(h);
}

/* f - g + 2p, limb by limb (g's limbs are under 2^52), then carried */
static void fe_sub(fe *h, const fe *f, const fe *g)
{
    h->v[0] = f->v[0] + 0xfffffffffffdaULL - g->v[0];
    for (int i = 1; i < 5; i++)
        h->v[i] = f->v[i] + 0xffffffffffffeULL - g->v[i];
    fe_carry(h);
}

static void fe_neg(fe *h, const fe *f)
{
    static const fe zero = {{0, 0, 0, 0, 0}};
    fe_sub(h, &zero, f);
}

static void fe_mul(fe *h, const fe *f, const fe *g)
{
    const uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    const uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3], g4 = g->v[4];
    const uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
    u128 t0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 + (u128)f3 * g2_19 + (u128)f4 * g1_19;
    u128 t1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 + (u128)f3 * g3_19 + (u128)f4 * g2_19;
    u128 t2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4_19 + (u128)f4 * g3_19;
    u128 t3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4_19;
    u128 t4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
    t1 += (uint64_t)(t0 >> 51);
    t2 += (uint64_t)(t1 >> 51);
    t3 += (uint64_t)(t2 >> 51);
    t4 += (uint64_t)(t3 >> 51);
    u128 low = (u128)((uint64_t)t0 & MASK51) + (u128)(uint64_t)(t4 >> 51) * 19;
    h->v[0] = (uint64_t)low & MASK51;
    h->v[1] = ((uint64_t)t1 & MASK51) + (uint64_t)(low >> 51);
    h->v[2] = (uint64_t)t2 & MASK51;
    h->v[3] = (uint64_t)t3 & MASK51;
    h->v[4] = (uint64_t)t4 & MASK51;
}

static void fe_sq(fe *h, const fe *f)
{
    fe_mul(h, f, f);
}

static uint64_t load64(const unsigned char *s)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | s[i];
    return v;
}

static void store64(unsigned char *s, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        s[i] = (unsigned char)v;
}

/* The low 255 bits of s, little-endian (the top bit is the caller's). */
static void fe_frombytes(fe *h, const unsigned char s[32])
{
    uint64_t w0 = load64(s), w1 = load64(s + 8), w2 = load64(s + 16), w3 = load64(s + 24);
    h->v[0] = w0 & MASK51;
    h->v[1] = (w0 >> 51 | w1 << 13) & MASK51;
    h->v[2] = (w1 >> 38 | w2 << 26) & MASK51;
    h->v[3] = (w2 >> 25 | w3 << 39) & MASK51;
    h->v[4] = (w3 >> 12) & MASK51;
}

/* The canonical encoding: the value reduced below p, little-endian. */
static void fe_tobytes(unsigned char s[32], const fe *f)
{
    fe t = *f;
    fe_carry(&t); /* now under 2^255 + 19: one subtraction of p at most */
    /* q = 1 exactly when t >= p, that is when t + 19 reaches 2^255 */
    uint64_t q = (t.v[0] + 19) >> 51;
    q = (t.v[1] + q) >> 51;
    q = (t.v[2] + q) >> 51;
    q = (t.v[3] + q) >> 51;
    q = (t.v[4] + q) >> 51;
    t.v[0] += 19 * q; /* + 19 and - 2^255 below: - p */
    uint64_t c;
    c = t.v[0] >> 51, t.v[0] &= MASK51, t.v[1] += c;
    c = t.v[1] >> 51, t.v[1] &= MASK51, t.v[2] += c;
    c = t.v[2] >> 51, t.v[2] &= MASK51, t.v[3] += c;
    c = t.v[3] >> 51, t.v[3] &= MASK51, t.v[4] += c;
    t.v[4] &= MASK51;
    store64(s, t.v[0] | t.v[1] << 51);
    store64(s + 8, t.v[1] >> 13 | t.v[2] << 38);
    store64(s + 16, t.v[2] >> 26 | t.v[3] << 25);
    store64(s + 24, t.v[3] >> 39 | t.v[4] << 12);
}

/* z^e for a 256-bit exponent e (little-endian bytes) */
static void fe_pow(fe *h, const fe *z, const unsigned char e[32])
{
    fe r = FE_ONE, base = *z;
    for (int i = 255; i >= 0; i--) {
        fe_sq(&r, &r);
        if ((e[i >> 3] >> (i & 7)) & 1)
            fe_mul(&r, &r, &base);
    }
    *h = r;
}

static int fe_equal(const fe *f, const fe *g)
{
    unsigned char a[32], b[32];
    fe_tobytes(a, f);
    fe_tobytes(b, g);
    return memcmp(a, b, 32) == 0;
}

static int fe_iszero(const fe *f)
{
    unsigned char a[32];
    fe_tobytes(a, f);
    unsigned char d = 0;
    for (int i = 0; i < 32; i++)
        d |= a[i];
    return d == 0;
}

/* RFC 8032: x is "negative" when its canonical form is odd */
static int fe_isodd(const fe *f)
{
    unsigned char a[32];
    fe_tobytes(a, f);
    return a[0] & 1;
}

/* ---- the curve ------------------------------------------------------------ */

static void ge_identity(ge *r)
{
    static const fe zero = {{0, 0, 0, 0, 0}};
    r->X = zero;
    r->Y = FE_ONE;
    r->Z = FE_ONE;
    r->T = zero;
}

/* r = p + q (RFC 8032 5.1.4; valid for any two points, p == q included).
 * r may be p or q. */
static void ge_add(ge *r, const ge *p, const ge *q)
{
    fe a, b, c, d, e, f, g, h, t;
    fe_sub(&a, &p->Y, &p->X);
    fe_sub(&t, &q->Y, &q->X);
    fe_mul(&a, &a, &t);
    fe_add(&b, &p->Y, &p->X);
    fe_add(&t, &q->Y, &q->X);
    fe_mul(&b, &b, &t);
    fe_mul(&c, &p->T, &q->T);
    fe_mul(&c, &c, &FE_D2);
    fe_mul(&d, &p->Z, &q->Z);
    fe_add(&d, &d, &d);
    fe_sub(&e, &b, &a);
    fe_sub(&f, &d, &c);
    fe_add(&g, &d, &c);
    fe_add(&h, &b, &a);
    fe_mul(&r->X, &e, &f);
    fe_mul(&r->Y, &g, &h);
    fe_mul(&r->T, &e, &h);
    fe_mul(&r->Z, &f, &g);
}

/* r = 2p (RFC 8032 5.1.4); r may be p. */
static void ge_double(ge *r, const ge *p)
{
    fe a, b, c, e, f, g, h, t;
    fe_sq(&a, &p->X);
    fe_sq(&b, &p->Y);
    fe_sq(&c, &p->Z);
    fe_add(&c, &c, &c);
    fe_add(&h, &a, &b);
    fe_add(&t, &p->X, &p->Y);
    fe_sq(&t, &t);
    fe_sub(&e, &h, &t);
    fe_sub(&g, &a, &b);
    fe_add(&f, &c, &g);
    fe_mul(&r->X, &e, &f);
    fe_mul(&r->Y, &g, &h);
    fe_mul(&r->T, &e, &h);
    fe_mul(&r->Z, &f, &g);
}

/* RFC 8032 5.1.3: 1 and *r, or 0 when s is not a canonical encoding of a
 * point of the curve. */
static int ge_decode(ge *r, const unsigned char s[32])
{
    int x0 = s[31] >> 7;
    unsigned char ys[32], back[32];
    memcpy(ys, s, 32);
    ys[31] &= 0x7f;
    fe y, u, v, v3, t, x, vx2;
    fe_frombytes(&y, ys);
    fe_tobytes(back, &y);
    if (memcmp(back, ys, 32) != 0)
        return 0; /* y >= p */
    fe_sq(&u, &y);
    fe_mul(&v, &u, &FE_D);
    fe_sub(&u, &u, &FE_ONE); /* u = y^2 - 1 */
    fe_add(&v, &v, &FE_ONE); /* v = d y^2 + 1 */
    /* x = u v^3 (u v^7)^((p-5)/8) */
    fe_sq(&v3, &v);
    fe_mul(&v3, &v3, &v);
    fe_sq(&t, &v3);
    fe_mul(&t, &t, &v);
    fe_mul(&t, &t, &u);
    fe_pow(&t, &t, EXP_SQRT);
    fe_mul(&t, &t, &v3);
    fe_mul(&x, &t, &u);
    fe_sq(&vx2, &x);
    fe_mul(&vx2, &vx2, &v);
    if (!fe_equal(&vx2, &u)) {
        fe neg_u;
        fe_neg(&neg_u, &u);
        if (!fe_equal(&vx2, &neg_u))
            return 0; /* no square root: not a point */
        fe_mul(&x, &x, &FE_SQRTM1);
    }
    if (x0 && fe_iszero(&x))
        return 0;
    if (fe_isodd(&x) != x0)
        fe_neg(&x, &x);
    r->X = x;
    r->Y = y;
    r->Z = FE_ONE;
    fe_mul(&r->T, &x, &y);
    return 1;
}

static void ge_encode(unsigned char s[32], const ge *p)
{
    fe zi, x, y;
    fe_pow(&zi, &p->Z, EXP_INV);
    fe_mul(&x, &p->X, &zi);
    fe_mul(&y, &p->Y, &zi);
    fe_tobytes(s, &y);
    s[31] |= (unsigned char)(fe_isodd(&x) << 7);
}

/* ---- scalars ---------------------------------------------------------------- */

static int at_least_order(const uint64_t r[4])
{
    for (int i = 3; i >= 0; i--)
        if (r[i] != ORDER[i])
            return r[i] > ORDER[i];
    return 1;
}

static void minus_order(uint64_t r[4])
{
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t o = ORDER[i] + borrow;
        uint64_t next = (o < borrow) || (r[i] < o);
        r[i] -= o;
        borrow = next;
    }
}

/* out = h mod L, h 64 bytes little-endian: one bit at a time, r < L kept */
static void reduce512(unsigned char out[32], const unsigned char h[64])
{
    uint64_t r[4] = {0, 0, 0, 0};
    for (int i = 511; i >= 0; i--) {
        r[3] = r[3] << 1 | r[2] >> 63; /* r < L < 2^253: 2r + 1 fits */
        r[2] = r[2] << 1 | r[1] >> 63;
        r[1] = r[1] << 1 | r[0] >> 63;
        r[0] = r[0] << 1 | (uint64_t)((h[i >> 3] >> (i & 7)) & 1);
        if (at_least_order(r))
            minus_order(r);
    }
    for (int i = 0; i < 4; i++)
        store64(out + 8 * i, r[i]);
}

static int bit(const unsigned char s[32], int i)
{
    return (s[i >> 3] >> (i & 7)) & 1;
}

/* ---- the API ------------------------------------------------------------------ */

/* 1 when a point's order divides 8 (the curve's cofactor): [8]A is the
 * identity, X = 0 and Y = Z. Such a key verifies forged signatures (with
 * A the identity, R the identity and S = 0 pass for any message). */
static int small_order(const ge *a)
{
    ge t;
    ge_double(&t, a);
    ge_double(&t, &t);
    ge_double(&t, &t);
    return fe_iszero(&t.X) && fe_equal(&t.Y, &t.Z);
}

int kumo__ed25519_key_ok(const unsigned char pub[32])
{
    ge a;
    return ge_decode(&a, pub) && !small_order(&a);
}

int kumo__ed25519_verify(const unsigned char pub[32], const unsigned char *msg, size_t len, const unsigned char sig[64])
{
    const unsigned char *R = sig, *S = sig + 32;
    uint64_t s_words[4];
    for (int i = 0; i < 4; i++)
        s_words[i] = load64(S + 8 * i);
    if (at_least_order(s_words))
        return 0; /* RFC 8032 5.1.7: S must be below L (no malleable twin) */
    ge a;
    if (!ge_decode(&a, pub) || small_order(&a))
        return 0;
    /* k = SHA-512(R || A || M) mod L */
    br_sha512_context hc;
    unsigned char digest[64], k[32];
    br_sha512_init(&hc);
    br_sha512_update(&hc, R, 32);
    br_sha512_update(&hc, pub, 32);
    br_sha512_update(&hc, msg, len);
    br_sha512_out(&hc, digest);
    reduce512(k, digest);
    /* [S]B + [k](-A), jointly, from the top bit down */
    fe_neg(&a.X, &a.X);
    fe_neg(&a.T, &a.T);
    ge acc;
    ge_identity(&acc);
    for (int i = 255; i >= 0; i--) {
        ge_double(&acc, &acc);
        if (bit(S, i))
            ge_add(&acc, &acc, &GE_B);
        if (bit(k, i))
            ge_add(&acc, &acc, &a);
    }
    unsigned char check[32];
    ge_encode(check, &acc);
    return memcmp(check, R, 32) == 0;
}
