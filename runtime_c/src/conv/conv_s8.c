/* CONV_2D, int8, portable reference path.
 * acc = bias[oc] + sum_{in-bounds taps} filter * (input + input_offset)
 * out = clamp(output_offset + requant(acc, mult[oc], shift[oc]))
 * Taps that fall into the padding are skipped: they stand for the zero point, i.e. 0. */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#include "conv_taps.h"

void mcuc_conv_s8(const mcuc_conv_params *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift,
                  int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *f = filter + (size_t)oc * p->k_h * p->k_w * p->in_c;
                    int32_t acc = mcuc_conv_taps(p, in_b, f, y0, x0);
                    if (bias) {
                        acc += bias[oc];
                    }
                    acc = mcuc_mul_by_quantized_mult(acc, mult[oc], shift[oc]) + p->output_offset;
                    *output++ = (int8_t)mcuc_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
