/* FULLY_CONNECTED, int8: out[b][o] = requant(bias[o] + sum_i (w[o][i] + filter_offset) *
 * (in[b][i] + input_offset)), per-tensor or per-channel multiplier. */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

void mcuc_fully_connected_s8(const mcuc_fc_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + (size_t)b * p->in_depth;
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *w = filter + (size_t)o * p->in_depth;
            int32_t acc = 0;
            for (int32_t i = 0; i < p->in_depth; ++i) {
                acc += ((int32_t)w[i] + p->filter_offset) * ((int32_t)in[i] + p->input_offset);
            }
            if (bias) {
                acc += bias[o];
            }
            const int32_t c = p->per_channel ? o : 0;
            acc = mcuc_mul_by_quantized_mult(acc, mult[c], shift[c]) + p->output_offset;
            *output++ = (int8_t)mcuc_clamp(acc, p->act_min, p->act_max);
        }
    }
}
