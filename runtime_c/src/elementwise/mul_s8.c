/* MUL, int8: out = clamp(output_offset + requant((a + off1) * (b + off2))). */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"
#include "broadcast.h"

static inline int8_t mul_one(const mcuc_mul_params *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t out = mcuc_mul_by_quantized_mult(prod, p->output_mult, p->output_shift) +
                        p->output_offset;
    return (int8_t)mcuc_clamp(out, p->act_min, p->act_max);
}

void mcuc_mul_s8(const mcuc_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
#define MUL_OP(i1, i2, o) out[o] = mul_one(p, in1[i1], in2[i2])
    MCUC_FOR_EACH_BROADCAST(&p->bc, MUL_OP);
#undef MUL_OP
}
