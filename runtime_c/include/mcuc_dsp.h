/*
 * Shared by the Armv7E-M DSP kernels (Cortex-M4/M7/M33/M55; include only where
 * __ARM_FEATURE_DSP is defined): a few one-instruction helpers, and requantisation bit-exact
 * with TFLM's double-rounding MultiplyByQuantizedMultiplier in three instructions.
 *
 * The compiler (mcucompile/passes/pack.py) prepares per output channel {bias2, mult, rnd, rsh}:
 *   - the weights are stored times 2^(left+1) and bias2 = (bias) * 2^(left+1), so the
 *     accumulator `a` the kernel ends with is 2^(left+1) * acc (checked at compile time not to
 *     overflow, so TFLM's `acc << left` does not overflow either);
 *   - rsh = the right shift e >= 1 (a layer with a channel at e = 0 uses the masked variant);
 *   - rnd = 2^(e-1) + output_zp * 2^e.
 * A channel where that fold could overflow (the scaled accumulator, the int16 weights, or
 * SMMLAR's sum; e.g. a "dead" channel with a tiny weight scale and a bias near 2^31) keeps its
 * weights and bias unscaled; its record is {bias, mult, output_zp, e[, 0], left} and the store
 * runs mcuc_dsp_requant_unfolded. Layers with such a channel have the `left` column last,
 * -1 for folded channels.
 *
 * Algebra (all floors are exact integer arithmetic):
 *   SRDHM(acc << left, mult) = floor((2 (acc << left) mult + 2^31) / 2^32)
 *                            = floor((a mult + 2^31) / 2^32)          = SMMULR(a, mult)   (= h)
 *   RoundingDivideByPOT(h, e) = floor((h + 2^(e-1) - [h < 0]) / 2^e)         (half away from 0)
 *   [h < 0] may be replaced by [a < 0]: they differ only when h == 0, where both give 0.
 *   Adding output_zp * 2^e before the shift adds output_zp after it.
 * So  out = (SMMLAR(a, mult, rnd + (a >> 31))) >> e, then the activation clamp.
 */
#ifndef MCUC_DSP_H
#define MCUC_DSP_H

#include <stdint.h>
#include <arm_acle.h>

#include "mcuc_fixedpoint.h"

#define MCUC_INLINE static inline __attribute__((always_inline))

/* SXTB16 of the value rotated right by 8 (bytes 1 and 3 -> two int16), one instruction
 * (gcc 12's arm_acle.h has no __ror, and gcc does not fold a rotate into __sxtb16). */
MCUC_INLINE uint32_t mcuc_sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* a + SXTB16(v rotated right by 8) per halfword: bytes 1 and 3 of v, sign-extended, added to
 * a's two halves; one instruction. */
MCUC_INLINE uint32_t mcuc_sxtab16_ror8(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* Halfword packing, one instruction each (gcc 12's arm_acle.h has no __pkhbt, and gcc
 * builds these from 2-3 logic instructions). */
MCUC_INLINE uint32_t mcuc_pkhbt16(uint32_t a, uint32_t b) /* (a & 0xFFFF) | (b << 16) */
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

MCUC_INLINE uint32_t mcuc_pkhtb16(uint32_t a, uint32_t b) /* (a & 0xFFFF0000) | (b >> 16) */
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* (a * m + 2^31) / 2^32 + c, rounded down; one SMMLAR. */
MCUC_INLINE int32_t mcuc_smmlar(int32_t a, int32_t m, int32_t c)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(m), "r"(c));
    return r;
}

/* Requantised value before the activation clamp (output zero point included). */
MCUC_INLINE int32_t mcuc_dsp_requant(int32_t a, int32_t mult, int32_t rnd, int32_t rsh)
{
    return mcuc_smmlar(a, mult, rnd + (a >> 31)) >> rsh;
}

/* Variant for layers where some channel has e = 0: `sgn` is -1 for e >= 1, 0 for e = 0
 * (then rnd = output_zp and no rounding step happens). With sgn = -1 (a constant in layers
 * without such a channel) it is mcuc_dsp_requant. */
MCUC_INLINE int32_t mcuc_dsp_requant_e0(int32_t a, int32_t mult, int32_t rnd, int32_t rsh,
                                        int32_t sgn)
{
    return mcuc_smmlar(a, mult, rnd + ((a >> 31) & sgn)) >> rsh;
}

/* Requantised value (output zero point included) of an unfolded channel: TFLM's
 * MultiplyByQuantizedMultiplier itself on the plain int32 accumulator (mcuc_fixedpoint.h). */
MCUC_INLINE int32_t mcuc_dsp_requant_unfolded(int32_t acc, int32_t mult, int32_t zp,
                                              int32_t rsh, int32_t left)
{
    return mcuc_requant_split(acc, mult, zp, rsh, left);
}

/* Activation clamp; [-128, 127] is one SSAT. */
#define MCUC_DSP_CLAMP(v, lo, hi)                                                              \
    (((lo) == -128 && (hi) == 127) ? __ssat((v), 8)                                            \
                                   : ((v) < (lo) ? (lo) : ((v) > (hi) ? (hi) : (v))))

#endif /* MCUC_DSP_H */
