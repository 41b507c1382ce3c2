/* FULLY_CONNECTED with onnxruntime's requantisation (QGemm, QLinearMatMul):
 * acc = bias[o] + sum_i (w[o][i] + filter_offset) * (in[b][i] + input_offset),
 * out = round_half_even((float)acc * scale[per_channel ? o : 0]) + output_offset. */
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"

void mcuc_fully_connected_s8_fpreq(const mcuc_fc_params *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias, const float *scale,
                                   int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + (size_t)b * p->in_depth;
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *w = filter + (size_t)o * p->in_depth;
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t i = 0; i < p->in_depth; ++i) {
                acc += ((int32_t)w[i] + p->filter_offset) * ((int32_t)in[i] + p->input_offset);
            }
            *output++ = mcuc_requant_f32(acc, scale[p->per_channel ? o : 0], p->output_offset,
                                         p->act_min, p->act_max);
        }
    }
}
