/* CONV_2D 1x1, stride 1, no padding, out_c <= in_c (e.g. MobileNetV2's projection layers),
 * int8, output written over its own input.
 *
 * `data` holds the input [pixels][in_c] on entry and the output [pixels][out_c] on return.
 * Pixel q's outputs are computed into `scratch` (out_c bytes) from input pixel q, then stored
 * at bytes [q * out_c, (q + 1) * out_c), which lie inside input pixels 0..q (out_c <= in_c):
 * all already read. Arithmetic is that of mcuc_conv_s8, in the same order: bit-exact. */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#include "conv_taps.h"

size_t mcuc_conv_s8_inplace_scratch_bytes(const mcuc_conv_params *p)
{
    return (size_t)p->out_c;
}

void mcuc_conv_s8_inplace(const mcuc_conv_params *p, int8_t *data, const int8_t *filter,
                          const int32_t *bias, const int32_t *mult, const int32_t *shift,
                          int8_t *scratch)
{
    const size_t pixels = (size_t)p->batches * p->out_h * p->out_w;
    for (size_t q = 0; q < pixels; ++q) {
        const int8_t *in_px = data + q * p->in_c;
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            /* a 1x1 window at the pixel itself: the taps helper with a one-pixel image */
            int32_t acc = mcuc_conv_taps(p, in_px, filter + (size_t)oc * p->in_c, 0, 0);
            if (bias) {
                acc += bias[oc];
            }
            acc = mcuc_mul_by_quantized_mult(acc, mult[oc], shift[oc]) + p->output_offset;
            scratch[oc] = (int8_t)mcuc_clamp(acc, p->act_min, p->act_max);
        }
        int8_t *out_px = data + q * p->out_c;
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            out_px[oc] = scratch[oc];
        }
    }
}
