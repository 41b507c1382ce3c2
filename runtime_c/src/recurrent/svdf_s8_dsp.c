/*
 * SVDF, the Armv7E-M DSP path of svdf_s8.c (same arithmetic and params): each batch row's
 * input, zero point subtracted, is widened to int16 once (dot_dsp.h) and every filter's
 * feature dot product takes 4 MACs per word of its weights_feature row (padded to in_stride
 * at compile time); the state and time-weight steps are the portable ones (svdf_s8.h).
 * Scratch (mcuc_svdf_s8_dsp_scratch_bytes): the widened input, in_stride int16.
 */
#include "svdf_s8.h"

size_t mcuc_svdf_s8_dsp_scratch_bytes(const mcuc_svdf_params *p)
{
    return (size_t)p->in_stride * sizeof(int16_t);
}

#if defined(__ARM_FEATURE_DSP)
#include "dot_dsp.h"

void mcuc_svdf_s8_dsp(const mcuc_svdf_params *p, const int8_t *input,
                      const int8_t *weights_feature, const void *weights_time,
                      const int32_t *bias, void *state, int8_t *output, void *scratch)
{
    int16_t *x16 = (int16_t *)scratch;
    int32_t b, f;
    mcuc_svdf_shift(p, state);
    for (b = 0; b < p->batches; ++b) {
        mcuc_widen_words(input + (size_t)b * (size_t)p->input_size, p->input_size, -p->input_zp,
                         p->in_stride, x16);
        for (f = 0; f < p->filters; ++f)
            mcuc_svdf_store(p, state, b, f,
                            mcuc_dot_words(weights_feature + (size_t)f * (size_t)p->in_stride,
                                           x16, p->in_stride / 4));
        mcuc_svdf_output(p, b, weights_time, bias, state, output);
    }
}
#endif
