/* SQUARED_DIFFERENCE, int8, as TFLM: both inputs (q - zp) shifted left by left_shift (7) and
 * rescaled to twice the larger input scale (multipliers < 1), the difference squared in int32
 * (at most (255 * 2^7)^2 < 2^31), requantised to the output. Shares ADD's params layout. */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#include "broadcast.h"

static inline int8_t squared_difference_one(const mcuc_add_params *p, int32_t a, int32_t b)
{
    const int32_t sa = mcuc_mul_by_quantized_mult((a + p->input1_offset) * (1 << p->left_shift),
                                                  p->input1_mult, p->input1_shift);
    const int32_t sb = mcuc_mul_by_quantized_mult((b + p->input2_offset) * (1 << p->left_shift),
                                                  p->input2_mult, p->input2_shift);
    const int32_t diff = sa - sb;
    const int32_t out = mcuc_mul_by_quantized_mult(diff * diff, p->output_mult,
                                                   p->output_shift) + p->output_offset;
    return (int8_t)mcuc_clamp(out, p->act_min, p->act_max);
}

void mcuc_squared_difference_s8(const mcuc_add_params *p, const int8_t *in1,
                                const int8_t *in2, int8_t *out)
{
#define SQD_OP(i1, i2, o) out[o] = squared_difference_one(p, in1[i1], in2[i2])
    MCUC_FOR_EACH_BROADCAST(&p->bc, SQD_OP);
#undef SQD_OP
}
