/* CONV_2D with onnxruntime's requantisation (QLinearConv): the integer accumulation of
 * mcuc_conv_s8, then out = round_half_even((float)acc * scale[oc]) + output_offset, with
 * scale[oc] = x_scale * w_scale[oc] / y_scale computed in float32 at compile time. */
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"

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
                    int32_t acc = bias ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= p->in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t x = x0 + kx * p->dil_w;
                            if (x < 0 || x >= p->in_w) {
                                continue;
                            }
                            const int8_t *in_px = in_b + ((size_t)y * p->in_w + x) * p->in_c;
                            const int8_t *f_px = f + ((size_t)ky * p->k_w + kx) * p->in_c;
                            for (int32_t ic = 0; ic < p->in_c; ++ic) {
                                acc += (int32_t)f_px[ic] * ((int32_t)in_px[ic] + p->input_offset);
                            }
                        }
                    }
                    *output++ = mcuc_requant_f32(acc, scale[oc], p->output_offset, p->act_min,
                                                 p->act_max);
                }
            }
        }
    }
}
