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

static inline int32_t mcuc_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif /* MCUC_FIXEDPOINT_H */
