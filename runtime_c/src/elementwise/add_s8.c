/* ADD and SUB, int8 (TFLM's algorithm): both inputs are shifted left by left_shift bits,
 * rescaled to a common scale (2 x the larger input scale), summed, then rescaled to the
 * output. SUB subtracts the rescaled second input (not the same as negating its multiplier:
 * the rounding of the high multiply is not symmetric). */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#include "broadcast.h"

static inline int32_t rescale_input(int32_t q, int32_t offset, int32_t left_shift,
                                    int32_t mult, int32_t shift)
{
    const int32_t shifted = (int32_t)((uint32_t)(q + offset) << left_shift);
    return mcuc_mul_by_quantized_mult(shifted, mult, shift);
}

static inline int8_t add_one(const mcuc_add_params *p, int32_t a, int32_t b, int negate_b)
{
    const int32_t sa = rescale_input(a, p->input1_offset, p->left_shift, p->input1_mult,
                                     p->input1_shift);
    const int32_t sb = rescale_input(b, p->input2_offset, p->left_shift, p->input2_mult,
                                     p->input2_shift);
    const int32_t sum = negate_b ? sa - sb : sa + sb;
    const int32_t out = mcuc_mul_by_quantized_mult(sum, p->output_mult, p->output_shift) +
                        p->output_offset;
    return (int8_t)mcuc_clamp(out, p->act_min, p->act_max);
}

void mcuc_add_s8(const mcuc_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
#define ADD_OP(i1, i2, o) out[o] = add_one(p, in1[i1], in2[i2], 0)
    MCUC_FOR_EACH_BROADCAST(&p->bc, ADD_OP);
#undef ADD_OP
}

void mcuc_sub_s8(const mcuc_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
#define SUB_OP(i1, i2, o) out[o] = add_one(p, in1[i1], in2[i2], 1)
    MCUC_FOR_EACH_BROADCAST(&p->bc, SUB_OP);
#undef SUB_OP
}
