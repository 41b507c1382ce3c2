/*
 * Shared by the Helium (MVE) kernels (Cortex-M55; include only where __ARM_FEATURE_MVE is
 * defined): vector requantisation bit-exact with TFLM's double-rounding
 * MultiplyByQuantizedMultiplier, four lanes at a time.
 *
 * Per lane: x = acc << left (only layers with a channel whose multiplier is >= 1 pass
 * has_left), h = VQRDMULH(x, mult) = TFLM's SaturatingRoundingDoublingHighMul exactly, then
 * RoundingDivideByPOT(h, e) = (h + 2^(e-1) - [h < 0]) >> e. VRSHL by -e computes
 * (v + 2^(e-1)) >> e, so it is applied to v = h - [h < 0 and e > 0]; the fixup
 * (h & -e) >> 31 is -1 exactly when h < 0 and e > 0 (all_shift: every e > 0, h >> 31 then).
 * The vector `neg_rsh` holds -e per lane.
 */
#ifndef MCUC_MVE_H
#define MCUC_MVE_H

#include <stdint.h>
#include <arm_mve.h>

#define MCUC_INLINE static inline __attribute__((always_inline))

/* Four scalars (e.g. VMLADAVA sums) as one vector: two VMOVs (gcc goes through the stack).
 * VMOV Qd[i], Qd[i-2], Rt, Rt2 writes Rt to lane i-2 and Rt2 to lane i. */
MCUC_INLINE int32x4_t mcuc_mve_vec4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %4"
            : "=&w"(v)
            : "r"(a), "r"(b), "r"(c), "r"(d));
    return v;
}

/* Clamp to [act_min, act_max]; the full int8 range is a saturating shift up and back. */
MCUC_INLINE int32x4_t mcuc_mve_clamp(int32x4_t v, int32_t act_min, int32_t act_max)
{
    if (act_min == -128 && act_max == 127) {
        return vshrq_n_s32(vqshlq_n_s32(v, 24), 24);
    }
    return vminq_s32(vmaxq_s32(v, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

MCUC_INLINE int32x4_t mcuc_mve_requant(int32x4_t acc, int32x4_t mult, int32x4_t neg_rsh,
                                       int32x4_t left, int32_t has_left, int32_t all_shift,
                                       int32_t out_zp, int32_t act_min, int32_t act_max)
{
    if (has_left) {
        acc = vshlq_s32(acc, left);
    }
    int32x4_t h = vqrdmulhq_s32(acc, mult);
    const int32x4_t fix = all_shift ? vshrq_n_s32(h, 31) : vshrq_n_s32(vandq_s32(h, neg_rsh), 31);
    h = vrshlq_s32(vaddq_s32(h, fix), neg_rsh);
    return mcuc_mve_clamp(vaddq_n_s32(h, out_zp), act_min, act_max);
}

#endif /* MCUC_MVE_H */
