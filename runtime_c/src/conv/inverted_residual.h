/* The row-streaming steps of an inverted residual block (inverted_residual_s8.c and the
 * generated kernels/inverted_residual_rows.c.j2, which runs its 1x1 layers on DSP/Helium
 * kernels): which expanded rows an output row needs, and one depthwise output pixel read
 * from the ring of expanded rows (row y in slot y % span). */
#ifndef MCUC_INVERTED_RESIDUAL_H
#define MCUC_INVERTED_RESIDUAL_H

#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#if defined(__ARM_FEATURE_DSP)
#include <string.h>
#include "mcuc_dsp.h"
#endif

/* Rows of the ring: the depthwise window's height in input rows. */
static inline int32_t mcuc_irb_span(const mcuc_dwconv_params *d)
{
    return (d->k_h - 1) * d->dil_h + 1;
}

/* Expanded rows output row oy needs that are not in the ring yet: [*from, *to). Advances
 * *next_row (the first row not computed yet). */
static inline void mcuc_irb_rows_needed(const mcuc_dwconv_params *d, int32_t oy,
                                        int32_t *next_row, int32_t *from, int32_t *to)
{
    const int32_t y0 = oy * d->stride_h - d->pad_top;
    const int32_t y_end = y0 + mcuc_irb_span(d) < d->in_h ? y0 + mcuc_irb_span(d) : d->in_h;
    const int32_t first = y0 > 0 ? y0 : 0;
    *from = *next_row > first ? *next_row : first;
    *to = y_end;
    if (y_end > *next_row) {
        *next_row = y_end;
    }
}

/* Most taps a depthwise window may have here (5x5; planner/streaming.py streams no wider). */
#define MCUC_IRB_MAX_TAPS 25

/* Depthwise output pixel (oy, ox), all channels, into out[channels]: the arithmetic of
 * mcuc_depthwise_conv_s8 (depth multiplier 1), reading the ring. The in-bounds taps are
 * found once per pixel (pointers to their input pixel and filter row), then each channel
 * sums over them; taps in the padding are skipped, as in the layer kernel. */
static inline void mcuc_irb_dw_pixel(const mcuc_dwconv_params *d, const int8_t *ring,
                                     int32_t oy, int32_t ox, const int8_t *filter,
                                     const int32_t *bias, const int32_t *mult,
                                     const int32_t *shift, int8_t *out)
{
    const int32_t channels = d->in_c, span = mcuc_irb_span(d);
    const size_t row_bytes = (size_t)d->in_w * channels;
    const int32_t y0 = oy * d->stride_h - d->pad_top;
    const int32_t x0 = ox * d->stride_w - d->pad_left;
    const int8_t *px[MCUC_IRB_MAX_TAPS], *wt[MCUC_IRB_MAX_TAPS];
    int32_t taps = 0;
    for (int32_t ky = 0; ky < d->k_h; ++ky) {
        const int32_t y = y0 + ky * d->dil_h;
        if (y < 0 || y >= d->in_h) {
            continue;
        }
        const int8_t *row = ring + (size_t)(y % span) * row_bytes;
        for (int32_t kx = 0; kx < d->k_w && taps < MCUC_IRB_MAX_TAPS; ++kx) {
            const int32_t x = x0 + kx * d->dil_w;
            if (x < 0 || x >= d->in_w) {
                continue;
            }
            px[taps] = row + (size_t)x * channels;
            wt[taps] = filter + ((size_t)ky * d->k_w + kx) * channels;
            ++taps;
        }
    }
    int32_t c = 0;
#if defined(__ARM_FEATURE_DSP)
    /* Four channels at a time: one word of each tap's input and filter, split into halfword
     * pairs (input + offset fits 16 bits), one halfword multiply-accumulate per channel. */
    const uint32_t offset2 = ((uint32_t)d->input_offset & 0xFFFFu)
                             | ((uint32_t)d->input_offset << 16);
    for (; c + 4 <= channels; c += 4) {
        int32_t acc[4];
        for (int32_t k = 0; k < 4; ++k) {
            acc[k] = bias ? bias[c + k] : 0;
        }
        for (int32_t t = 0; t < taps; ++t) {
            uint32_t xv, wv;
            memcpy(&xv, px[t] + c, 4);
            memcpy(&wv, wt[t] + c, 4);
            const uint32_t x02 = __sxtab16(offset2, xv), x13 = mcuc_sxtab16_ror8(offset2, xv);
            const uint32_t w02 = __sxtb16(wv), w13 = mcuc_sxtb16_ror8(wv);
            acc[0] = __smlabb(w02, x02, acc[0]);
            acc[1] = __smlabb(w13, x13, acc[1]);
            acc[2] = __smlatt(w02, x02, acc[2]);
            acc[3] = __smlatt(w13, x13, acc[3]);
        }
        for (int32_t k = 0; k < 4; ++k) {
            const int32_t v = mcuc_mul_by_quantized_mult(acc[k], mult[c + k], shift[c + k])
                              + d->output_offset;
            out[c + k] = (int8_t)mcuc_clamp(v, d->act_min, d->act_max);
        }
    }
#endif
    for (; c < channels; ++c) {
        int32_t acc = bias ? bias[c] : 0;
        for (int32_t t = 0; t < taps; ++t) {
            acc += (int32_t)wt[t][c] * ((int32_t)px[t][c] + d->input_offset);
        }
        acc = mcuc_mul_by_quantized_mult(acc, mult[c], shift[c]) + d->output_offset;
        out[c] = (int8_t)mcuc_clamp(acc, d->act_min, d->act_max);
    }
}

#endif /* MCUC_INVERTED_RESIDUAL_H */
