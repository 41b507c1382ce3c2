/*
 * LEAKY_RELU int8 -> int8, TFLM reference arithmetic: non-negative inputs (after removing the
 * input zero point) are requantized with the identity multiplier, negative ones with
 * alpha * identity. A negative alpha multiplier is applied as a negated positive one.
 */
#include "mcuc_runtime.h"
#include "mcuc_gemmlowp.h"

void mcuc_leaky_relu_s8(const mcuc_leaky_relu_params *p, const int8_t *input, int8_t *output)
{
    const int alpha_negative = p->mult_alpha < 0;
    const int32_t alpha_mult = alpha_negative ? mcuc_gl_neg(p->mult_alpha) : p->mult_alpha;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zp;
        int32_t y = p->output_zp;
        if (x >= 0) {
            y += mcuc_mul_by_quantized_mult(x, p->mult_identity, p->shift_identity);
        } else {
            const int32_t s = mcuc_mul_by_quantized_mult(x, alpha_mult, p->shift_alpha);
            y += alpha_negative ? -s : s;
        }
        output[i] = (int8_t)mcuc_clamp(y, INT8_MIN, INT8_MAX);
    }
}
