/* GATHER, int8, as TFLM: the input is [batch, outer, axis_size, inner] (batch_dims dims,
 * the dims up to the axis, the axis, the rest); the output [batch, outer, coords, inner]
 * takes for coordinate c the input slice at indices[b * coords + c] along the axis. The
 * indices are compile-time constants, checked inside the axis. */
#include <string.h>
#include "mcuc_runtime.h"

void mcuc_gather_s8(const mcuc_gather_params *p, const int8_t *input, const int32_t *indices,
                    int8_t *output)
{
    const size_t inner = (size_t)p->inner;
    for (int32_t b = 0; b < p->batch; ++b) {
        const int32_t *idx = indices + (size_t)b * (size_t)p->coords;
        for (int32_t o = 0; o < p->outer; ++o) {
            const int8_t *src = input + ((size_t)b * (size_t)p->outer + (size_t)o) *
                                            (size_t)p->axis_size * inner;
            for (int32_t c = 0; c < p->coords; ++c) {
                memcpy(output, src + (size_t)idx[c] * inner, inner);
                output += inner;
            }
        }
    }
}
