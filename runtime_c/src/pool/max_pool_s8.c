/* MAX_POOL_2D, int8: maximum over the in-bounds window, then the activation clamp. */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

void mcuc_max_pool_s8(const mcuc_pool_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->channels;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ys = y0 < 0 ? 0 : y0;
            const int32_t ye = y0 + p->f_h > p->in_h ? p->in_h : y0 + p->f_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t xs = x0 < 0 ? 0 : x0;
                const int32_t xe = x0 + p->f_w > p->in_w ? p->in_w : x0 + p->f_w;
                for (int32_t c = 0; c < p->channels; ++c) {
                    int32_t m = -128;
                    for (int32_t y = ys; y < ye; ++y) {
                        for (int32_t x = xs; x < xe; ++x) {
                            int32_t v = in_b[((size_t)y * p->in_w + x) * p->channels + c];
                            m = v > m ? v : m;
                        }
                    }
                    *output++ = (int8_t)mcuc_clamp(m, p->act_min, p->act_max);
                }
            }
        }
    }
}
