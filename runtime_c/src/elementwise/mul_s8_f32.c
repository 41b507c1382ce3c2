/* MUL in float arithmetic, as onnxruntime's QLinearMul (MLAS, SSE2 kernel) computes it:
 *   out = sat8(round_half_even((float)((a - a_zp) * (b - b_zp)) * ratio + (float)out_zp))
 * ratio = a_scale * b_scale / out_scale in float32, computed at compile time; the product is
 * rounded before the zero point is added (two float ops, never fused). */
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"
#include "broadcast.h"

static inline int8_t mul_one(const mcuc_mul_f32_params *p, int32_t a, int32_t b)
{
    const int32_t prod = (a - p->in1_zp) * (b - p->in2_zp);
    const float scaled = (float)prod * p->ratio;
    const float v = scaled + p->out_zp_f;
    return (int8_t)mcuc_quantize_f32(v, 0, p->act_min, p->act_max);
}

void mcuc_mul_s8_f32(const mcuc_mul_f32_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out)
{
#define MUL_OP(i1, i2, o) out[o] = mul_one(p, in1[i1], in2[i2])
    MCUC_FOR_EACH_BROADCAST(&p->bc, MUL_OP);
#undef MUL_OP
}
