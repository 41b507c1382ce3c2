/*
 * Scratch of the Armv7E-M DSP GEMM (conv_s8_dsp.h), as the planner asks it (kept apart from
 * the kernel, which needs the DSP extension, so the host can check it against
 * mcucompile/passes/kernels_dsp.py, tests/test_registry.py): the im2col column of `slots`
 * output pixels, K = k_h * k_w * in_c values taken in K2 = ceil(K / 2) int16 pairs per
 * pixel; none for the direct kernel (slots = 0), which reads its input in place.
 */
#ifndef MCUC_CONV_S8_DSP_SCRATCH_H
#define MCUC_CONV_S8_DSP_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

static inline size_t mcuc_conv_s8_dsp_scratch_bytes(int32_t k_h, int32_t k_w, int32_t in_c,
                                                    int32_t slots)
{
    return (size_t)4 * (size_t)slots * (size_t)((k_h * k_w * in_c + 1) / 2);
}

#endif /* MCUC_CONV_S8_DSP_SCRATCH_H */
