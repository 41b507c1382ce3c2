/* DEPTHWISE_CONV_2D, int8, depth multiplier 1, output written over its own input.
 *
 * `data` holds the input [batches][in_h][in_w][c] on entry and the output
 * [batches][out_h][out_w][c] on return (out_h * out_w <= in_h * in_w, so the output fits).
 * Output channel c reads input channel c only, so for each (batch, channel) the whole output
 * plane is computed into `scratch` (out_h * out_w bytes) and then stored at positions
 * p * c_count + c. That store overwrites bytes of channel c only (of this batch or of earlier
 * batches, never of a later one, since out_h * out_w <= in_h * in_w), which nothing reads
 * again. Arithmetic is that of mcuc_depthwise_conv_s8, in the same order: bit-exact. */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#include "conv_taps.h"

size_t mcuc_depthwise_conv_s8_inplace_scratch_bytes(const mcuc_dwconv_params *p)
{
    return (size_t)p->out_h * (size_t)p->out_w;
}

void mcuc_depthwise_conv_s8_inplace(const mcuc_dwconv_params *p, int8_t *data,
                                    const int8_t *filter, const int32_t *bias,
                                    const int32_t *mult, const int32_t *shift, int8_t *scratch)
{
    const int32_t c_count = p->in_c;
    const size_t plane = (size_t)p->out_h * p->out_w;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = data + (size_t)b * p->in_h * p->in_w * c_count;
        int8_t *out_b = data + (size_t)b * plane * c_count;
        for (int32_t c = 0; c < c_count; ++c) {
            int8_t *dst = scratch;
            for (int32_t oy = 0; oy < p->out_h; ++oy) {
                const int32_t y0 = oy * p->stride_h - p->pad_top;
                for (int32_t ox = 0; ox < p->out_w; ++ox) {
                    const int32_t x0 = ox * p->stride_w - p->pad_left;
                    int32_t acc = mcuc_dwconv_taps(p, in_b, filter, y0, x0, c, c);
                    if (bias) {
                        acc += bias[c];
                    }
                    acc = mcuc_mul_by_quantized_mult(acc, mult[c], shift[c]) + p->output_offset;
                    *dst++ = (int8_t)mcuc_clamp(acc, p->act_min, p->act_max);
                }
            }
            for (size_t i = 0; i < plane; ++i) {
                out_b[i * c_count + c] = scratch[i];
            }
        }
    }
}
