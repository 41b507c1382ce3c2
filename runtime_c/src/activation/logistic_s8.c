/*
 * LOGISTIC int8 -> int8 (output scale 1/256, zero point -128), TFLM reference arithmetic:
 * inputs outside +-input_range_radius saturate; others are rescaled to Q4.27, run through the
 * fixed-point logistic and rounded to 8 fractional bits.
 */
#include "mcuc_runtime.h"
#include "mcuc_gemmlowp.h"

#define MCUC_LOGISTIC_INPUT_INT_BITS 4

void mcuc_logistic_s8(const mcuc_sigmoid_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zp;
        if (x <= -p->input_range_radius) {
            output[i] = INT8_MIN;
        } else if (x >= p->input_range_radius) {
            output[i] = INT8_MAX;
        } else {
            const int32_t x_q4 =
                mcuc_mul_by_quantized_mult(x, p->input_mult, p->input_left_shift);
            const int32_t y_q0 = mcuc_gl_logistic(x_q4, MCUC_LOGISTIC_INPUT_INT_BITS);
            const int32_t y = mcuc_gl_rdivpot(y_q0, 31 - 8) + INT8_MIN;
            output[i] = (int8_t)mcuc_clamp(y, INT8_MIN, INT8_MAX);
        }
    }
}
