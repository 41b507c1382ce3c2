/* ARG_MAX / ARG_MIN over one axis of an int8 tensor, as TFLM's ArgMinMax: the input is seen
 * as [outer, size, inner] (the axis in the middle, sizes from the compiler); each output is
 * the index along the axis of the largest / smallest value, the first one on ties (strict
 * comparison). The output is int32. */
#include "mcuc_runtime.h"

static void arg_min_max(const mcuc_arg_params *p, const int8_t *input, int32_t *output,
                        int is_max)
{
    for (int32_t o = 0; o < p->outer; ++o) {
        const int8_t *block = input + (size_t)o * (size_t)p->size * (size_t)p->inner;
        for (int32_t i = 0; i < p->inner; ++i) {
            int8_t best = block[i];
            int32_t index = 0;
            for (int32_t k = 1; k < p->size; ++k) {
                const int8_t v = block[(size_t)k * (size_t)p->inner + (size_t)i];
                if (is_max ? v > best : v < best) {
                    best = v;
                    index = k;
                }
            }
            *output++ = index;
        }
    }
}

void mcuc_arg_max_s8(const mcuc_arg_params *p, const int8_t *input, int32_t *output)
{
    arg_min_max(p, input, output, 1);
}

void mcuc_arg_min_s8(const mcuc_arg_params *p, const int8_t *input, int32_t *output)
{
    arg_min_max(p, input, output, 0);
}
