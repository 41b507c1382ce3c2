/*
 * Scalar fixed-point math with gemmlowp semantics, for the nonlinear activation kernels.
 *
 * Values are raw two's-complement integers interpreted as Qm.n fixed point, where m
 * ("integer bits") is passed explicitly where it matters. All helpers are static inline,
 * C99, integer-only and free of undefined behaviour: additions / negations that gemmlowp
 * does as plain (possibly wrapping) signed arithmetic are done here in unsigned arithmetic
 * and converted back, which is what the reference produces on every two's-complement target.
 *
 * Naming: mcuc_gl_<op> works on int32 raw values, mcuc_gl_<op>16 on int16 raw values.
 */
#ifndef MCUC_GEMMLOWP_H
#define MCUC_GEMMLOWP_H

#include <stdint.h>

#include "mcuc_fixedpoint.h"

/* ------------------------------------------------------------------ int32 primitives */

/* Wrapping add / sub / negate (two's complement), no UB on overflow. */
static inline int32_t mcuc_gl_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t mcuc_gl_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t mcuc_gl_neg(int32_t a)
{
    return (int32_t)(0u - (uint32_t)a);
}

/* Fixed-point product: rounding doubling high multiply (VQRDMULH). */
static inline int32_t mcuc_gl_mul(int32_t a, int32_t b)
{
    return mcuc_sat_rounding_doubling_high_mul(a, b);
}

/* Rounding (half away from zero) arithmetic right shift, exponent in [0, 31]. */
static inline int32_t mcuc_gl_rdivpot(int32_t x, int exponent)
{
    return mcuc_rounding_divide_by_pot(x, exponent);
}

/* x * 2^exponent: saturating for exponent > 0, rounding for exponent < 0. */
static inline int32_t mcuc_gl_sat_mul_pot(int32_t x, int exponent)
{
    if (exponent > 0) {
        const int32_t limit = (int32_t)((((int64_t)1) << (31 - exponent)) - 1);
        if (x > limit) {
            return INT32_MAX;
        }
        if (x < -limit) {
            return INT32_MIN;
        }
        return (int32_t)((uint32_t)x << exponent);
    }
    if (exponent < 0) {
        return mcuc_gl_rdivpot(x, -exponent);
    }
    return x;
}

/* Change the number of integer bits of a value from src_bits to dst_bits. */
static inline int32_t mcuc_gl_rescale(int32_t x, int src_bits, int dst_bits)
{
    return mcuc_gl_sat_mul_pot(x, src_bits - dst_bits);
}

/* (a + b) / 2 rounded half away from zero, computed without overflow. */
static inline int32_t mcuc_gl_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* Number of leading zero bits of a 32-bit unsigned value (32 for 0). */
static inline int mcuc_gl_clz32(uint32_t v)
{
    int n = 0;
    if (v == 0u) {
        return 32;
    }
    while ((v & 0x80000000u) == 0u) {
        v <<= 1;
        ++n;
    }
    return n;
}

/* Number of leading zero bits of a 64-bit unsigned value (64 for 0). */
static inline int mcuc_gl_clz64(uint64_t v)
{
    const uint32_t hi = (uint32_t)(v >> 32);
    return hi != 0u ? mcuc_gl_clz32(hi) : 32 + mcuc_gl_clz32((uint32_t)v);
}

/* ------------------------------------------------------------------ transcendental (Q0 out) */

#define MCUC_GL_Q0_ONE INT32_MAX /* "1.0" in Q0.31 saturates to the largest raw value */

/* exp(a) for a in [-1/4, 0), a and result in Q0.31; Taylor expansion around -1/8. */
static inline int32_t mcuc_gl_exp_on_interval_m1_4_to_0(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0.31 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0.31 */
    const int32_t x = mcuc_gl_add(a, (int32_t)1 << 28);  /* a + 1/8 */
    const int32_t x2 = mcuc_gl_mul(x, x);
    const int32_t x3 = mcuc_gl_mul(x2, x);
    const int32_t x4 = mcuc_gl_mul(x2, x2);
    const int32_t x4_div_4 = mcuc_gl_rdivpot(x4, 2);
    /* (x^4/4 + x^3) / 3 + x^2, then halved: x^4/24 + x^3/6 + x^2/2 */
    const int32_t poly = mcuc_gl_rdivpot(
        mcuc_gl_add(mcuc_gl_mul(mcuc_gl_add(x4_div_4, x3), one_third), x2), 1);
    return mcuc_gl_add(exp_minus_one_eighth,
                       mcuc_gl_mul(exp_minus_one_eighth, mcuc_gl_add(x, poly)));
}

/* exp(a) for a <= 0 given in Q(int_bits).(31-int_bits); result in Q0.31. */
static inline int32_t mcuc_gl_exp_on_negative_values(int32_t a, int int_bits)
{
    /* exp(-2^k) in Q0.31 for k = -2 .. 4 */
    static const int32_t exp_neg_pot[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242
    };
    const int frac_bits = 31 - int_bits;
    const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    /* a = (a mod 1/4 - 1/4) - remainder, with remainder >= 0 a multiple of 1/4 */
    const int32_t a_mod_quarter_minus_quarter = mcuc_gl_sub(a & mask, one_quarter);
    const int32_t remainder = mcuc_gl_sub(a_mod_quarter_minus_quarter, a);
    int32_t result = mcuc_gl_exp_on_interval_m1_4_to_0(
        mcuc_gl_rescale(a_mod_quarter_minus_quarter, int_bits, 0));
    int k;

    for (k = -2; k <= 4; ++k) {
        if (int_bits > k) {
            const int bit = frac_bits + k;
            if ((remainder & ((int32_t)1 << bit)) != 0) {
                result = mcuc_gl_mul(result, exp_neg_pot[k + 2]);
            }
        }
    }
    if (int_bits > 5) {
        /* below -32 the result is flushed to zero */
        const int32_t minus_32 = -((int32_t)1 << (36 - int_bits));
        if (a < minus_32) {
            result = 0;
        }
    }
    if (a == 0) {
        result = MCUC_GL_Q0_ONE;
    }
    return result;
}

/* Newton-Raphson iterate for 1 / (1 + a), a in (0, 1) Q0.31; returns the Q2.29 estimate of
 * 1 / half_denominator (= 2 / (1 + a)). */
static inline int32_t mcuc_gl_nr_inverse_half_denominator(int32_t a)
{
    const int32_t c48_over_17 = 1515870810;      /* 48/17 in Q2.29 */
    const int32_t cneg32_over_17 = -1010580540;  /* -32/17 in Q2.29 */
    const int32_t one_q2 = (int32_t)1 << 29;
    const int32_t half_den = mcuc_gl_rounding_half_sum(a, MCUC_GL_Q0_ONE);
    int32_t x = mcuc_gl_add(c48_over_17, mcuc_gl_mul(half_den, cneg32_over_17));
    int i;

    for (i = 0; i < 3; ++i) {
        const int32_t hd_x = mcuc_gl_mul(half_den, x);              /* Q2 */
        const int32_t one_minus_hd_x = mcuc_gl_sub(one_q2, hd_x);   /* Q2 */
        /* x * (1 - hd*x) is Q4; bring back to Q2 */
        x = mcuc_gl_add(x, mcuc_gl_rescale(mcuc_gl_mul(x, one_minus_hd_x), 4, 2));
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t mcuc_gl_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t x = mcuc_gl_nr_inverse_half_denominator(a);
    /* x/2 as Q1 (same raw value), then rescale Q1 -> Q0 */
    return mcuc_gl_rescale(x, 1, 0);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t mcuc_gl_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t x = mcuc_gl_nr_inverse_half_denominator(a);
    return mcuc_gl_rescale(mcuc_gl_sub(x, (int32_t)1 << 29), 2, 0);
}

/* logistic(a) = 1 / (1 + exp(-a)); a in Q(int_bits), result in Q0.31. */
static inline int32_t mcuc_gl_logistic(int32_t a, int int_bits)
{
    int32_t abs_a;
    int32_t pos;

    if (a == 0) {
        return (int32_t)1 << 30; /* 0.5 */
    }
    abs_a = a > 0 ? a : mcuc_gl_neg(a);
    pos = mcuc_gl_one_over_one_plus_x_for_x_in_0_1(
        mcuc_gl_exp_on_negative_values(mcuc_gl_neg(abs_a), int_bits));
    return a > 0 ? pos : mcuc_gl_sub(MCUC_GL_Q0_ONE, pos);
}

/* tanh(a); a in Q(int_bits), result in Q0.31. */
static inline int32_t mcuc_gl_tanh(int32_t a, int int_bits)
{
    int32_t non_pos;
    int32_t t;

    if (a == 0) {
        return 0;
    }
    non_pos = a < 0 ? a : mcuc_gl_neg(a);
    /* -tanh(n) for n < 0 is (1 - exp(2n)) / (1 + exp(2n)); 2n has one more integer bit */
    t = mcuc_gl_one_minus_x_over_one_plus_x_for_x_in_0_1(
        mcuc_gl_exp_on_negative_values(non_pos, int_bits + 1));
    return a < 0 ? mcuc_gl_neg(t) : t;
}

/* Reciprocal of a positive value x in Q(x_int_bits): returns r in Q0.31 and the exponent e
 * (*num_bits_over_unit) such that 1/x ~= r * 2^-e. */
static inline int32_t mcuc_gl_reciprocal(int32_t x, int x_int_bits, int *num_bits_over_unit)
{
    const int headroom_plus_one = mcuc_gl_clz32((uint32_t)x);
    /* normalise x to [1, 2) and subtract 1 */
    const int32_t shifted_minus_one =
        (int32_t)(((uint32_t)x << headroom_plus_one) - 0x80000000u);
    *num_bits_over_unit = x_int_bits - headroom_plus_one;
    return mcuc_gl_one_over_one_plus_x_for_x_in_0_1(shifted_minus_one);
}

/* ------------------------------------------------------------------ int16 primitives */

/* Narrowing to int16 with two's-complement wrap (what a C++ static_cast<int16_t> does). */
static inline int16_t mcuc_gl_wrap16(int32_t v)
{
    const uint32_t u = (uint32_t)v & 0xFFFFu;
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

/* Rounding doubling high multiply on Q0.15 values (VQRDMULH.S16). */
static inline int16_t mcuc_gl_srdhm16(int16_t a, int16_t b)
{
    int32_t ab;
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    ab = (int32_t)a * (int32_t)b;
    return (int16_t)((ab + (ab >= 0 ? (1 << 14) : (1 - (1 << 14)))) / (1 << 15));
}

/* Doubling high multiply truncating toward zero (VQDMULH.S16). */
static inline int16_t mcuc_gl_sdhm16(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

/* gemmlowp's RoundingDivideByPOT instantiated for int16, exponent in [0, 31]. The mask is
 * (2^exponent - 1) narrowed to int16, i.e. -1 for exponent >= 16; that quirk is kept so
 * results match the reference for every exponent (x >= 0 -> 1, x < 0 -> -1 there). */
static inline int16_t mcuc_gl_rdivpot16(int16_t x, int exponent)
{
    const int32_t mask = mcuc_gl_wrap16((int32_t)((((int64_t)1) << exponent) - 1));
    const int32_t remainder = (int32_t)x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    const int32_t shifted = (int32_t)x >> (exponent > 31 ? 31 : exponent);
    return mcuc_gl_wrap16(shifted + (remainder > threshold ? 1 : 0));
}

/* value * 2^amount saturated to int16, amount in [0, 30]. */
static inline int16_t mcuc_gl_sat_lshift16(int16_t value, int amount)
{
    int64_t r = (int64_t)value * ((int64_t)1 << amount);
    if (r > INT16_MAX) {
        r = INT16_MAX;
    }
    if (r < INT16_MIN) {
        r = INT16_MIN;
    }
    return (int16_t)r;
}

#endif /* MCUC_GEMMLOWP_H */
