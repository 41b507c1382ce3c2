/*
 * SVDF, the Helium (MVE) path of svdf_s8.c (same arithmetic and params). The input zero
 * point leaves the feature dot products at compile time:
 *   sum_i wf[f][i] (x[i] - input_zp) = sum_i wf[f][i] x[i] + feature_offsets[f]
 * (feature_offsets[f] = -input_zp sum_i wf[f][i]), so each is VMLADAVA over int8 weights and
 * int8 inputs, 16 MACs per instruction, the weights_feature rows padded with zeros to
 * in_stride (a multiple of 16) and each batch row's input copied into scratch padded alike;
 * the state and time-weight steps are the portable ones (svdf_s8.h).
 * Scratch (mcuc_svdf_s8_mve_scratch_bytes): in_stride bytes.
 */
#include "svdf_s8.h"

size_t mcuc_svdf_s8_mve_scratch_bytes(const mcuc_svdf_params *p)
{
    return (size_t)p->in_stride;
}

#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>

void mcuc_svdf_s8_mve(const mcuc_svdf_params *p, const int8_t *input,
                      const int8_t *weights_feature, const int32_t *feature_offsets,
                      const void *weights_time, const int32_t *bias, void *state,
                      int8_t *output, void *scratch)
{
    int8_t *x8 = (int8_t *)scratch;
    int32_t b, f, k;
    mcuc_svdf_shift(p, state);
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->input_size;
        for (k = 0; k < p->in_stride; ++k)
            x8[k] = k < p->input_size ? x[k] : 0;
        for (f = 0; f < p->filters; ++f) {
            const int8_t *w = weights_feature + (size_t)f * (size_t)p->in_stride;
            int32_t dot = feature_offsets[f];
            for (k = 0; k < p->in_stride; k += 16)
                dot = vmladavaq_s8(dot, vldrbq_s8(w + k), vldrbq_s8(x8 + k));
            mcuc_svdf_store(p, state, b, f, dot);
        }
        mcuc_svdf_output(p, b, weights_time, bias, state, output);
    }
}
#endif
