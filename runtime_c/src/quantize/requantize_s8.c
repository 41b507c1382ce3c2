/*
 * Requantisation int8 -> int8 with a clamp: QUANTIZE (int8 -> int8), RELU and RELU_N1_TO_1
 * (rescale + activation clamp) and RELU6 (TFLM clamps in the input's quantisation without
 * rescaling; the generator expresses that as zero points 0, the identity multiplier
 * (2^30, shift 1) and the clamp bounds).
 */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

void mcuc_requantize_s8(const mcuc_requant_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zp;
        const int32_t y = p->output_zp + mcuc_mul_by_quantized_mult(x, p->mult, p->shift);
        output[i] = (int8_t)mcuc_clamp(y, p->act_min, p->act_max);
    }
}
