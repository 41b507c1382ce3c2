/* DEPTHWISE_CONV_2D with onnxruntime's requantisation (QLinearConv, group == channels):
 * integer accumulation as mcuc_depthwise_conv_s8, then
 * out = round_half_even((float)acc * scale[oc]) + output_offset. */
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"
#include "conv_taps.h"

void mcuc_depthwise_conv_s8_fpreq(const mcuc_dwconv_params *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, const float *scale,
                                  int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (int32_t ic = 0; ic < p->in_c; ++ic) {
                    for (int32_t m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        const int32_t acc =
                            mcuc_dwconv_taps(p, in_b, filter, y0, x0, ic, oc) +
                            (bias ? bias[oc] : 0);
                        output[((size_t)(b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                            mcuc_requant_f32(acc, scale[oc], p->output_offset, p->act_min,
                                             p->act_max);
                    }
                }
            }
        }
    }
}
