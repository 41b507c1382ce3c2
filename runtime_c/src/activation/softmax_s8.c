/*
 * SOFTMAX int8 -> int8 (output scale 1/256, zero point -128) or int8 -> int16 (scale 1/65536,
 * zero point -32768: mcuc_softmax_s8_s16), TFLM reference arithmetic:
 * per row, input differences to the row maximum are rescaled to Q5.26 by input_mult /
 * input_left_shift, exponentiated in fixed point, summed in Q12.19, and every exp is
 * multiplied by the fixed-point reciprocal of the sum, keeping the output type's top bits
 * (offset by its minimum). Differences below diff_min are treated as exp() == 0.
 */
#include "mcuc_runtime.h"
#include "mcuc_gemmlowp.h"

#define MCUC_SOFTMAX_DIFF_INT_BITS 5
#define MCUC_SOFTMAX_ACCUM_INT_BITS 12

/* exp(diff * beta * scale) in Q0.31 for a non-positive input difference. */
static int32_t mcuc_softmax_exp(const mcuc_softmax_params *p, int32_t diff)
{
    /* x * 2^left_shift cannot overflow: |diff| <= |diff_min| keeps it below 2^31 */
    const int32_t scaled = mcuc_sat_rounding_doubling_high_mul(
        (int32_t)((uint32_t)diff << p->input_left_shift), p->input_mult);
    return mcuc_gl_exp_on_negative_values(scaled, MCUC_SOFTMAX_DIFF_INT_BITS);
}

/* out_bits 8: int8 output, 16: int16 output */
static void mcuc_softmax_rows(const mcuc_softmax_params *p, const int8_t *input, void *output,
                              int out_bits)
{
    const int32_t out_min = out_bits == 8 ? INT8_MIN : INT16_MIN;
    const int32_t out_max = out_bits == 8 ? INT8_MAX : INT16_MAX;
    int32_t r;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *in = input + (size_t)r * (size_t)p->depth;
        const size_t row = (size_t)r * (size_t)p->depth;
        int32_t max_in_row = INT8_MIN;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t reciprocal;
        int num_bits_over_unit;
        int exponent;
        int32_t c;

        for (c = 0; c < p->depth; ++c) {
            if (in[c] > max_in_row) {
                max_in_row = in[c];
            }
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t e = mcuc_softmax_exp(p, diff);
                sum_of_exps = mcuc_gl_add(
                    sum_of_exps, mcuc_gl_rescale(e, 0, MCUC_SOFTMAX_ACCUM_INT_BITS));
            }
        }

        reciprocal = mcuc_gl_reciprocal(sum_of_exps, MCUC_SOFTMAX_ACCUM_INT_BITS,
                                        &num_bits_over_unit);
        /* keep the top out_bits of the Q0.31 probability */
        exponent = num_bits_over_unit + 31 - out_bits;
        /* TFLM aborts (TFLITE_CHECK) when the sum of exps reaches 2^9 with an int8 output,
         * i.e. exponent > 31; clamp so that such a row still has defined behaviour here. */
        if (exponent > 31) {
            exponent = 31;
        }

        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            int32_t v = out_min;
            if (diff >= p->diff_min) {
                const int32_t e = mcuc_softmax_exp(p, diff);
                const int32_t unsat =
                    mcuc_gl_rdivpot(mcuc_gl_mul(reciprocal, e), exponent);
                v = mcuc_clamp(unsat + out_min, out_min, out_max);
            }
            if (out_bits == 8)
                ((int8_t *)output)[row + (size_t)c] = (int8_t)v;
            else
                ((int16_t *)output)[row + (size_t)c] = (int16_t)v;
        }
    }
}

void mcuc_softmax_s8(const mcuc_softmax_params *p, const int8_t *input, int8_t *output)
{
    mcuc_softmax_rows(p, input, output, 8);
}

void mcuc_softmax_s8_s16(const mcuc_softmax_params *p, const int8_t *input, int16_t *output)
{
    mcuc_softmax_rows(p, input, output, 16);
}
