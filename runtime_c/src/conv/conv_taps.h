/* The tap loops of the portable convolution kernels, shared by the TFLM-arithmetic kernels
 * (conv_s8.c, depthwise_conv_s8.c) and the onnxruntime-arithmetic ones (*_fpreq.c), which
 * differ only in how the int32 accumulator is requantised.
 *
 * Both return sum over the in-bounds taps of filter * (input + input_offset), without the
 * bias; taps that fall into the padding are skipped (they stand for the zero point, i.e. 0).
 * Integer sums: the order of the additions does not change the result. */
#ifndef MCUC_CONV_TAPS_H
#define MCUC_CONV_TAPS_H

#include "mcuc_runtime.h"

/* One output pixel and channel of CONV_2D. in_b: the batch's input [in_h][in_w][in_c];
 * f: the output channel's filter [k_h][k_w][in_c]; (y0, x0): the window's top-left corner. */
static inline int32_t mcuc_conv_taps(const mcuc_conv_params *p, const int8_t *in_b,
                                     const int8_t *f, int32_t y0, int32_t x0)
{
    int32_t acc = 0;
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
    return acc;
}

/* One output pixel and channel oc (reading input channel ic) of DEPTHWISE_CONV_2D.
 * filter: [k_h][k_w][out_c]. */
static inline int32_t mcuc_dwconv_taps(const mcuc_dwconv_params *p, const int8_t *in_b,
                                       const int8_t *filter, int32_t y0, int32_t x0,
                                       int32_t ic, int32_t oc)
{
    int32_t acc = 0;
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
            const int32_t v = in_b[((size_t)y * p->in_w + x) * p->in_c + ic];
            const int32_t w = filter[((size_t)ky * p->k_w + kx) * p->out_c + oc];
            acc += w * (v + p->input_offset);
        }
    }
    return acc;
}

#endif /* MCUC_CONV_TAPS_H */
