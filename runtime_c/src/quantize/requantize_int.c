/*
 * QUANTIZE between integer types of other widths than int8 -> int8 (TFLM Requantize):
 * input int8 or int16, output int8, int16 or int32,
 *   out = clamp(output_zp + MultiplyByQuantizedMultiplier(in - input_zp, mult, shift),
 *               the output type's range).
 * The widths are params (in_bytes 1/2, out_bytes 1/2/4); int8 -> int8 is
 * mcuc_requantize_s8.
 */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

void mcuc_requantize_int(const mcuc_requant_int_params *p, const void *input, void *output)
{
    const int32_t lo = p->out_bytes == 1 ? INT8_MIN : p->out_bytes == 2 ? INT16_MIN : INT32_MIN;
    const int32_t hi = p->out_bytes == 1 ? INT8_MAX : p->out_bytes == 2 ? INT16_MAX : INT32_MAX;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (p->in_bytes == 2 ? (int32_t)((const int16_t *)input)[i]
                                            : (int32_t)((const int8_t *)input)[i]) - p->input_zp;
        /* the sum may leave int32 only for an int32 output, which TFLM wraps too */
        const int32_t y = (int32_t)((uint32_t)p->output_zp
                                    + (uint32_t)mcuc_mul_by_quantized_mult(x, p->mult, p->shift));
        const int32_t v = mcuc_clamp(y, lo, hi);
        if (p->out_bytes == 1)
            ((int8_t *)output)[i] = (int8_t)v;
        else if (p->out_bytes == 2)
            ((int16_t *)output)[i] = (int16_t)v;
        else
            ((int32_t *)output)[i] = v;
    }
}
