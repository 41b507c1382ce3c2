/* RESIZE_BILINEAR, int8, as TFLM's ResizeBilinearInteger (10-bit fixed-point coordinates).
 *
 * rows / cols hold per output row / column {lower, upper, weight} (compile time,
 * mcucompile/passes/lower.py bilinear_table): the source coordinate is lower + weight / 1024
 * (weight in [-512, 1024]: TFLM keeps a coordinate left of the first pixel as a negative
 * weight on it, with upper == lower). With wy, wx the weights and v_rc the four neighbours
 * (r: row lower/upper, c: column lower/upper):
 *
 *   acc = v_ll (1024 - wy)(1024 - wx) + v_ul wy (1024 - wx) + v_lu (1024 - wy) wx + v_uu wy wx
 *   out = acc / 2^20 rounded half away from zero     (TFLM's default double-rounding build)
 *
 * |acc| <= 128 (1536 + 512)^2 < 2^31: int32 holds it (TFLM uses int64). The weights of a
 * pixel sum to 2^20, so out is a weighted mean of int8 values: no clamp, no requantisation
 * (the output has the input's quantization). */
#include "mcuc_runtime.h"

void mcuc_resize_bilinear_s8(const mcuc_resize_params *p, const int8_t *input,
                             const int32_t *rows, const int32_t *cols, int8_t *output)
{
    const int32_t depth = p->depth;
    const int32_t row_bytes = p->in_w * depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * (size_t)p->in_h * (size_t)row_bytes;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const int8_t *lo_row = image + (size_t)rows[3 * y] * (size_t)row_bytes;
            const int8_t *hi_row = image + (size_t)rows[3 * y + 1] * (size_t)row_bytes;
            const int32_t wy = rows[3 * y + 2];
            for (int32_t x = 0; x < p->out_w; ++x) {
                const int32_t lo = cols[3 * x] * depth;
                const int32_t hi = cols[3 * x + 1] * depth;
                const int32_t wx = cols[3 * x + 2];
                const int32_t w_ll = (1024 - wy) * (1024 - wx), w_ul = wy * (1024 - wx);
                const int32_t w_lu = (1024 - wy) * wx, w_uu = wy * wx;
                for (int32_t c = 0; c < depth; ++c) {
                    const int32_t acc = lo_row[lo + c] * w_ll + hi_row[lo + c] * w_ul +
                                        lo_row[hi + c] * w_lu + hi_row[hi + c] * w_uu;
                    const int32_t half = acc > 0 ? (1 << 19) : -(1 << 19);
                    *output++ = (int8_t)((acc + half) / (1 << 20));
                }
            }
        }
    }
}
