/* CONV_2D with onnxruntime's requantisation (QLinearConv): the integer accumulation of
 * mcuc_conv_s8, then out = round_half_even((float)acc * scale[oc]) + output_offset, with
 * scale[oc] = x_scale * w_scale[oc] / y_scale computed in float32 at compile time. */
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"
#include "conv_taps.h"

void mcuc_conv_s8_fpreq(const mcuc_conv_params *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, const float *scale, int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *f = filter + (size_t)oc * p->k_h * p->k_w * p->in_c;
                    const int32_t acc = mcuc_conv_taps(p, in_b, f, y0, x0) +
                                        (bias ? bias[oc] : 0);
                    *output++ = mcuc_requant_f32(acc, scale[oc], p->output_offset, p->act_min,
                                                 p->act_max);
                }
            }
        }
    }
}
