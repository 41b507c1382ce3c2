/* AVERAGE_POOL_2D, int8, Armv7E-M DSP path, for channels % 4 == 0 and windows of at most 256
 * taps (the compiler checks both): four channels at a time, summed as two pairs of 16-bit
 * lanes with SXTAB16 (one load and two adds per four values; 256 int8 values cannot overflow
 * a 16-bit lane). Rounding and clamping as in the portable kernel: mean of the in-bounds taps,
 * rounded half away from zero. */
#include "mcuc_runtime.h"

#if defined(__ARM_FEATURE_DSP)
#include <string.h>
#include "mcuc_dsp.h"

static inline __attribute__((always_inline)) int8_t mean_of(int32_t sum, int32_t count,
                                                            int32_t lo, int32_t hi)
{
    int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

void mcuc_avg_pool_s8_dsp(const mcuc_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels, lo = p->act_min, hi = p->act_max;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * ch;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ys = y0 < 0 ? 0 : y0;
            const int32_t ye = y0 + p->f_h > p->in_h ? p->in_h : y0 + p->f_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t xs = x0 < 0 ? 0 : x0;
                const int32_t xe = x0 + p->f_w > p->in_w ? p->in_w : x0 + p->f_w;
                const int32_t count = (ye - ys) * (xe - xs);
                for (int32_t c = 0; c < ch; c += 4) {
                    uint32_t even = 0, odd = 0;          /* lanes (c, c+2) and (c+1, c+3) */
                    for (int32_t y = ys; y < ye; ++y) {
                        const int8_t *row = in_b + ((size_t)y * p->in_w + xs) * ch + c;
                        for (int32_t x = xs; x < xe; ++x, row += ch) {
                            uint32_t v;
                            memcpy(&v, row, 4);
                            even = __sxtab16(even, v);
                            odd = mcuc_sxtab16_ror8(odd, v);
                        }
                    }
                    if (count > 0) {
                        output[0] = mean_of((int16_t)even, count, lo, hi);
                        output[1] = mean_of((int16_t)odd, count, lo, hi);
                        output[2] = mean_of((int16_t)(even >> 16), count, lo, hi);
                        output[3] = mean_of((int16_t)(odd >> 16), count, lo, hi);
                    } else {
                        for (int32_t k = 0; k < 4; ++k) {
                            output[k] = (int8_t)(0 < lo ? lo : (0 > hi ? hi : 0));
                        }
                    }
                    output += 4;
                }
            }
        }
    }
}
#endif
