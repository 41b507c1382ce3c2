/*
 * SVDF (singular value decomposition filter) with int8 input, weights and output and an
 * int8 or int16 state, TFLM's integer reference arithmetic:
 *
 *   state   [batches][filters][memory], kept across runs (the arena's state region);
 *           filter f's row holds its last `memory` feature activations, oldest first.
 *   1. the whole state moves one element to the front (each row forgets its oldest value;
 *      a row's last slot gets the next row's first, overwritten in step 2);
 *   2. feature:  s = clamp(MBQM(sum_i wf[f][i] * (x[i] - input_zp), mult1, shift1), state
 *      type range) + state_zp, wrapped to the state type, goes to the last slot of filter f's
 *      row. The zero point comes after the clamp and the sum wraps: so the pinned
 *      tflite-micro computes it (measured: tests/test_svdf.py); newer TFLM sources add it
 *      before the clamp;
 *   3. time:     t[f] = sum_j wt[f][j] * (state[f][j] - state_zp)   (int32);
 *   4. reduce:   acc[u] = bias[u] + sum_{r < rank} t[u * rank + r]   (int32);
 *   5. output:   y[u] = clamp(output_zp + MBQM(acc[u], mult2, shift2), -128, 127);
 *                the fused activation is not applied (TFLM's integer SVDF ignores it).
 * mult1/shift1 = in_scale * wf_scale / state_scale, mult2/shift2 = state_scale * wt_scale /
 * out_scale (float32 products, as TFLM's Prepare forms them). The int32 sums wrap as
 * two's complement (TFLM's would overflow the same way), and are added in TFLM's order, so
 * each unit's filters are summed as they come (TFLM keeps them in scratch first): no scratch.
 * The weights_feature rows are in_stride values apart (input_size here; the DSP kernel's
 * are padded, svdf_s8_dsp.c).
 */
#include "svdf_s8.h"

void mcuc_svdf_s8(const mcuc_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                  const void *weights_time, const int32_t *bias, void *state, int8_t *output)
{
    int32_t b, f, i;
    mcuc_svdf_shift(p, state);
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->input_size;
        for (f = 0; f < p->filters; ++f) {
            const int8_t *w = weights_feature + (size_t)f * (size_t)p->in_stride;
            int32_t dot = 0;
            for (i = 0; i < p->input_size; ++i)
                dot = mcuc_wrap_add(dot, (int32_t)w[i] * ((int32_t)x[i] - p->input_zp));
            mcuc_svdf_store(p, state, b, f, dot);
        }
        mcuc_svdf_output(p, b, weights_time, bias, state, output);
    }
}
