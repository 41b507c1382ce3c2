/* RSQRT, int8, as TFLM's RsqrtEvalQuantized:
 *
 *   v = q - input_zp;  v == 0 -> 127 (TFLM's "close to 0 is the largest value")
 *   1/sqrt(v) as (inv, shift) with v normalised into [2^27, 2^29) by pairs of bits, then
 *   five Newton-Raphson steps x <- 3/2 x - v/2 x^3 in Q3.28 from x = 1 (gemmlowp fixed
 *   point: products are rounding doubling high multiplies, rescales saturate), times
 *   sqrt(2)/2 (GetInvSqrtQuantizedMultiplierExp);
 *   out = MBQM(MBQM(1, inv, shift + 20), mult, shift_out - 20) + output_zp, clamped,
 *   with mult / shift_out = 1 / (sqrt(input scale) output scale) (compile time).
 *
 * RSQRT is defined for q >= input_zp only: TFLM fails the invoke on a smaller input; here
 * such an input gives what v = 1 gives (the inverse square root code treats v <= 1 alike). */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#include "mcuc_gemmlowp.h"

/* 1/sqrt(v) = inv * 2^shift (shift <= 0 as a left shift), TFLM's reverse_shift = -1. */
static void inv_sqrt(int32_t v, int32_t *inv, int *shift)
{
    if (v <= 1) {
        *inv = INT32_MAX;
        *shift = 0;
        return;
    }
    int right = 11;
    while (v >= (1 << 29)) {
        v /= 4;
        ++right;
    }
    const int pairs = (mcuc_gl_clz32((uint32_t)v) - 1) / 2 - 1;
    right -= pairs;
    v <<= 2 * pairs;                                   /* now in [2^27, 2^29) */
    const int32_t half_v = mcuc_gl_rdivpot(v >> 1, 1);  /* Q3: v/2 */
    const int32_t three_halves = (1 << 28) + (1 << 27); /* Q3: 1.5 */
    int32_t x = 1 << 28;                               /* Q3: 1.0 */
    for (int i = 0; i < 5; ++i) {
        const int32_t x3 = mcuc_gl_sat_mul_pot(mcuc_gl_mul(mcuc_gl_mul(x, x), x), 6);
        x = mcuc_gl_sat_mul_pot(mcuc_gl_sub(mcuc_gl_mul(three_halves, x),
                                            mcuc_gl_mul(half_v, x3)), 3);
    }
    x = mcuc_gl_mul(x, 1518500250);                    /* times sqrt(2)/2 in Q0 */
    if (right < 0) {
        x = (int32_t)((uint32_t)x << -right);
        right = 0;
    }
    *inv = x;
    *shift = -right;
}

void mcuc_rsqrt_s8(const mcuc_requant_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = input[i] - p->input_zp;
        if (v == 0) {
            output[i] = 127;
            continue;
        }
        int32_t inv;
        int shift;
        inv_sqrt(v, &inv, &shift);
        const int32_t data = mcuc_mul_by_quantized_mult(1, inv, shift + 20);
        const int32_t out = mcuc_mul_by_quantized_mult(data, p->mult, p->shift - 20) +
                            p->output_zp;
        output[i] = (int8_t)mcuc_clamp(out, p->act_min, p->act_max);
    }
}
