/*
 * HARD_SWISH int8 -> int8, TFLM reference arithmetic, which works on int16 fixed point:
 *   x_hires  = (in - input_zp) * 2^7                       (Q0.15-ish, exact)
 *   x_out    = x_hires * output_mult                        (pre-shift output scale)
 *   reluish  = x_hires rescaled so that +-3.0 maps to +-1.0, saturated, then mapped to [0, 1]
 *   out      = round(reluish * x_out (truncating high mul) / 2^-output_exponent) + output_zp
 * All int16 narrowing wraps exactly like the reference's int16 arithmetic.
 */
#include "mcuc_runtime.h"
#include "mcuc_gemmlowp.h"

void mcuc_hard_swish_s8(const mcuc_hard_swish_params *p, const int8_t *input, int8_t *output)
{
    const int rexp = (int)p->reluish_mult_exponent;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int16_t x = mcuc_gl_wrap16((int32_t)input[i] - p->input_zp);
        const int16_t x_hires = mcuc_gl_wrap16((int32_t)x * (1 << 7));
        const int16_t x_preshift_out =
            mcuc_gl_srdhm16(x_hires, p->output_mult_fixedpoint_int16);
        int16_t reluish = x_hires;
        int16_t preshift_out;
        int16_t out;

        /* all but one bit of the left shift first, so that saturation there cannot matter */
        if (rexp > 0) {
            reluish = mcuc_gl_sat_lshift16(reluish, rexp - 1);
        }
        reluish = mcuc_gl_srdhm16(reluish, p->reluish_mult_fixedpoint_int16);
        if (rexp > 0) {
            reluish = mcuc_gl_sat_lshift16(reluish, 1);
        }
        if (rexp < 0) {
            reluish = mcuc_gl_rdivpot16(reluish, -rexp);
        }
        /* [-1, 1] -> [0, 1] */
        reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);

        preshift_out = mcuc_gl_sdhm16(reluish, x_preshift_out);
        out = mcuc_gl_rdivpot16(preshift_out, -(int)p->output_mult_exponent);
        out = mcuc_gl_wrap16((int32_t)out + p->output_zp);
        output[i] = (int8_t)(out > INT8_MAX ? INT8_MAX : (out < INT8_MIN ? INT8_MIN : out));
    }
}
