/* TRANSPOSE_CONV, int8, per-channel requantisation, as TFLM's reference kernel.
 *
 * TFLM scatters: every input pixel (iy, ix) adds (x + input_offset) * w[oc][fy][fx][ic] to
 * output pixel (oy, ox) = (iy s_h - pad_top + fy, ix s_w - pad_left + fx) when inside the
 * output, in an int32 buffer, then requantises. This kernel gathers the same products per
 * output pixel: tap (fy, fx) reads input row iy = (oy + pad_top - fy) / s_h when that
 * division is exact and iy is inside the input (likewise for columns). The sums hold the
 * same integer terms, so the int32 accumulator is the same (no scratch buffer needed):
 *
 *   out = clamp(MBQM(acc + bias[oc], mult[oc], shift[oc]) + output_offset, act_min, act_max)
 */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

/* The input coordinate that output coordinate o reads through filter tap f, or -1. */
static inline int32_t source(int32_t o, int32_t pad, int32_t f, int32_t stride, int32_t size)
{
    const int32_t t = o + pad - f;
    if (t < 0 || t % stride != 0 || t / stride >= size) {
        return -1;
    }
    return t / stride;
}

void mcuc_transpose_conv_s8(const mcuc_conv_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int8_t *output)
{
    const int32_t ic = p->in_c, oc_n = p->out_c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)ic;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                for (int32_t oc = 0; oc < oc_n; ++oc) {
                    int32_t acc = 0;
                    for (int32_t fy = 0; fy < p->k_h; ++fy) {
                        const int32_t iy = source(oy, p->pad_top, fy, p->stride_h, p->in_h);
                        if (iy < 0) {
                            continue;
                        }
                        for (int32_t fx = 0; fx < p->k_w; ++fx) {
                            const int32_t ix = source(ox, p->pad_left, fx, p->stride_w,
                                                      p->in_w);
                            if (ix < 0) {
                                continue;
                            }
                            const int8_t *x = image + ((size_t)iy * (size_t)p->in_w +
                                                       (size_t)ix) * (size_t)ic;
                            const int8_t *w = filter + (((size_t)oc * (size_t)p->k_h +
                                                         (size_t)fy) * (size_t)p->k_w +
                                                        (size_t)fx) * (size_t)ic;
                            for (int32_t c = 0; c < ic; ++c) {
                                acc += (x[c] + p->input_offset) * w[c];
                            }
                        }
                    }
                    if (bias) {
                        acc += bias[oc];
                    }
                    acc = mcuc_mul_by_quantized_mult(acc, mult[oc], shift[oc]) +
                          p->output_offset;
                    *output++ = (int8_t)mcuc_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
