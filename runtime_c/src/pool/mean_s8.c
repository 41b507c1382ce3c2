/*
 * MEAN int8 -> int8 over the middle axis of a tensor viewed as [outer][reduce][inner].
 *
 *  - MCUC_MEAN_MODE_REQUANT (0): TFLM's reference QuantizedMeanOrSum, which the pinned
 *    tflite-micro runs for every int8 MEAN (any axes, keep_dims or not, identical input and
 *    output quantisation included). The int32 sum of the raw inputs has reduce * input_zp
 *    removed and is requantized with a multiplier that already folds in 1/reduce (computed at
 *    compile time exactly like TFLM does), then output_zp is added and the result clamped.
 *  - MCUC_MEAN_MODE_SAME_QPARAMS (1): the shortcut some TFLM source trees take when input and
 *    output quantisation are identical: raw int8 values summed and divided by the count with
 *    C integer division (truncation toward zero, zero points not removed); mult / shift unused.
 */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

#define MCUC_MEAN_MODE_REQUANT 0
#define MCUC_MEAN_MODE_SAME_QPARAMS 1

void mcuc_mean_s8(const mcuc_mean_params *p, const int8_t *input, int8_t *output)
{
    const int32_t zp_total = p->input_zp * p->reduce;
    int32_t o, k, r;
    for (o = 0; o < p->outer; ++o) {
        for (k = 0; k < p->inner; ++k) {
            const int8_t *src = input + (size_t)o * (size_t)p->reduce * (size_t)p->inner + k;
            int32_t sum = 0;
            int32_t y;
            for (r = 0; r < p->reduce; ++r) {
                sum += src[(size_t)r * (size_t)p->inner];
            }
            if (p->mode == MCUC_MEAN_MODE_SAME_QPARAMS) {
                y = p->reduce > 0 ? sum / p->reduce : 0;
            } else {
                y = mcuc_mul_by_quantized_mult(sum - zp_total, p->mult, p->shift) +
                    p->output_zp;
                y = mcuc_clamp(y, INT8_MIN, INT8_MAX);
            }
            output[(size_t)o * (size_t)p->inner + k] = (int8_t)y;
        }
    }
}
