/* RESIZE_NEAREST_NEIGHBOR, int8 (any type of byte): each output pixel is a copy of one input
 * pixel. Which one is decided at compile time (mcucompile/passes/lower.py nearest_indices,
 * TFLM's float32 GetNearestNeighbor): rows[y] is the input row of output row y, cols[x] the
 * input column of output column x. No arithmetic on the values, so no quantization change. */
#include <string.h>
#include "mcuc_runtime.h"

void mcuc_resize_nearest_s8(const mcuc_resize_params *p, const int8_t *input,
                            const int32_t *rows, const int32_t *cols, int8_t *output)
{
    const size_t depth = (size_t)p->depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * depth;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const int8_t *row = image + (size_t)rows[y] * (size_t)p->in_w * depth;
            for (int32_t x = 0; x < p->out_w; ++x) {
                memcpy(output, row + (size_t)cols[x] * depth, depth);
                output += depth;
            }
        }
    }
}
