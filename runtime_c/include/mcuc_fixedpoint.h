/*
 * Fixed-point requantisation shared by all kernels.
 *
 * A real multiplier M is stored as (mult, shift) with M = mult * 2^(shift - 31), mult in
 * [2^30, 2^31). TFLM's default (double-rounding) MultiplyByQuantizedMultiplier:
 *   x * 2^max(shift,0)  ->  rounding doubling high multiply by mult  ->  rounding right shift
 * Both roundings are half away from zero, as in gemmlowp.
 */
#ifndef MCUC_FIXEDPOINT_H
#define MCUC_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t mcuc_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    /* The only overflow case: INT32_MIN * INT32_MIN. */
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    /* Division (not shift) so that negative values truncate toward zero, like gemmlowp. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t mcuc_rounding_divide_by_pot(int32_t x, int exponent)
{
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
    return (x >> exponent) + ((remainder > threshold) ? 1 : 0);
}

static inline int32_t mcuc_mul_by_quantized_mult(int32_t x, int32_t mult, int32_t shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return mcuc_rounding_divide_by_pot(
        mcuc_sat_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), mult), right);
}

/* The same value plus `zp`, with the shift split at compile time into `left` = max(shift, 0)
 * and `rsh` = max(-shift, 0), and mult >= 0 (so the doubling high multiply never saturates).
 * Its rounding (half up: gemmlowp's nudge, then truncation toward zero) is
 * h = floor((x mult + 2^30) / 2^31): one 32x32->64 multiply. The rounding right shift is
 * half away from zero: +1 when the remainder exceeds half, or equals it for h >= 0. x wraps
 * where TFLM's does (acc * 2^left in int32). */
static inline int32_t mcuc_requant_split(int32_t acc, int32_t mult, int32_t zp, int32_t rsh,
                                         int32_t left)
{
    const int32_t x = (int32_t)((uint32_t)acc << left);
    const int32_t h = (int32_t)(((int64_t)x * mult + (1 << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << rsh) - 1u);
    return (h >> rsh) + ((h & mask) > (mask >> 1) - (h >> 31)) + zp;
}

/* The same value plus the output zero point, for an accumulator a = acc * 2^(left+1) that
 * does not overflow (checked at compile time, passes/pack.py requant_records): the doubling
 * high multiply is then floor((a mult + 2^31) / 2^32), and the rounding right shift by rsh
 * with the zero point folded into rnd = 2^(rsh-1) + zp 2^rsh is (h + rnd - [a < 0]) >> rsh
 * ([h < 0] may be replaced by [a < 0]: they differ only where h == 0, where both give 0);
 * sgn = -1, or 0 for rsh = 0 (rnd = zp, no rounding step). mcuc_dsp.h's
 * mcuc_dsp_requant_e0 is the same with one SMMLAR. */
static inline int32_t mcuc_requant_folded(int32_t a, int32_t mult, int32_t rnd, int32_t rsh,
                                          int32_t sgn)
{
    const int32_t h = (int32_t)(((int64_t)a * mult + ((int64_t)1 << 31)) >> 32);
    return (h + rnd + ((a >> 31) & sgn)) >> rsh;
}

static inline int32_t mcuc_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif /* MCUC_FIXEDPOINT_H */
