/* AVERAGE_POOL_2D in float arithmetic, as onnxruntime's QLinearAveragePool computes it:
 * every input is dequantized, x = x_scale * (float)(q - x_zp); the window is summed in float
 * in row-major order from 0.0f, divided by the count (float), and quantized:
 * out = clamp(round_half_even(sum / count / y_scale + (float)y_zp)).
 * count is f_h * f_w when count_include_pad, else the in-bounds taps (ONNX semantics). */
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"

void mcuc_avg_pool_s8_f32(const mcuc_avg_pool_f32_params *p, const int8_t *input,
                          int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->channels;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            int32_t y0 = oy * p->stride_h - p->pad_top;
            int32_t y1 = y0 + p->f_h < p->in_h ? y0 + p->f_h : p->in_h;
            y0 = y0 > 0 ? y0 : 0;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                int32_t x0 = ox * p->stride_w - p->pad_left;
                int32_t x1 = x0 + p->f_w < p->in_w ? x0 + p->f_w : p->in_w;
                x0 = x0 > 0 ? x0 : 0;
                const float count = (float)(p->count_include_pad ? p->f_h * p->f_w
                                                                 : (y1 - y0) * (x1 - x0));
                for (int32_t c = 0; c < p->channels; ++c) {
                    float sum = 0.0f;
                    for (int32_t y = y0; y < y1; ++y) {
                        for (int32_t x = x0; x < x1; ++x) {
                            const int32_t q = in_b[((size_t)y * p->in_w + x) * p->channels + c];
                            sum += p->x_scale * (float)(q - p->x_zp);
                        }
                    }
                    const float avg = sum / count;
                    const float v = avg / p->y_scale + (float)p->y_zp;
                    *output++ = (int8_t)mcuc_quantize_f32(v, 0, -128, 127);
                }
            }
        }
    }
}
