/*
 * Float requantisation, as onnxruntime's MLAS does it (models from the ONNX frontend).
 *
 * onnxruntime rescales an int32 accumulator with a float32 multiply and rounds half to even
 * (MlasRequantizeOutput: cvtdq2ps, mulps, clamp, cvtps2dq, + zero point). The same IEEE
 * single-precision operations give the same bits on any core: the FPU on Cortex-M4F/M7/M33/M55,
 * libgcc's soft-float on cores without one. Needs -ffp-contract=off semantics (the generated
 * Makefile compiles with -std=c99, which implies it), so a*b+c is never fused unless asked for
 * with fmaf().
 */
#ifndef MCUC_FPREQ_H
#define MCUC_FPREQ_H

#include <stdint.h>

/* Round half to even for |x| < 2^22: adding 1.5 * 2^23 leaves no fraction bits, so the FPU's
 * default rounding mode (nearest, ties to even) does the rounding; subtracting is exact. */
static inline float mcuc_round_even_f32(float x)
{
    const float magic = 12582912.0f;
    return (x + magic) - magic;
}

/* clamp(round_even(x), lo - zp, hi - zp) + zp, clamping first as MLAS does (same result). */
static inline int32_t mcuc_quantize_f32(float x, int32_t zp, int32_t lo, int32_t hi)
{
    const float fmin = (float)(lo - zp);
    const float fmax = (float)(hi - zp);
    x = x < fmin ? fmin : (x > fmax ? fmax : x);
    return (int32_t)mcuc_round_even_f32(x) + zp;
}

/* MlasRequantizeOutput for one value: (float)acc * scale, rounded half to even. */
static inline int8_t mcuc_requant_f32(int32_t acc, float scale, int32_t zp, int32_t lo,
                                      int32_t hi)
{
    return (int8_t)mcuc_quantize_f32((float)acc * scale, zp, lo, hi);
}

#endif /* MCUC_FPREQ_H */
