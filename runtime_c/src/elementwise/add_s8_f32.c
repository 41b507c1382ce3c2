/* ADD in float arithmetic, as onnxruntime's QLinearAdd (MLAS, AVX2 kernel) computes it:
 *   out = sat8(round_half_even(fmaf(x, ratio_x, fmaf(y, ratio_y, fixed))))
 * with x, y the raw int8 values (zero points live in `fixed`), ratio_x = x_scale / out_scale,
 * fixed = out_zp - fmaf(ratio_x, x_zp, ratio_y * y_zp), all float32 and computed at compile
 * time. Which operand is x (the vector one when onnxruntime broadcasts the other as a scalar
 * per span) is decided at compile time too: x_is_in2 swaps the roles. fmaf() is a single
 * VFMA.F32 on cores with an FPU (correctly rounded in software elsewhere), like vfmadd. */
#include <math.h>
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"
#include "broadcast.h"

static inline int8_t add_one(const mcuc_add_f32_params *p, int32_t a, int32_t b)
{
    const float x = (float)(p->x_is_in2 ? b : a);
    const float y = (float)(p->x_is_in2 ? a : b);
    const float v = fmaf(x, p->ratio_x, fmaf(y, p->ratio_y, p->fixed));
    return (int8_t)mcuc_quantize_f32(v, 0, p->act_min, p->act_max);
}

void mcuc_add_s8_f32(const mcuc_add_f32_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out)
{
#define ADD_OP(i1, i2, o) out[o] = add_one(p, in1[i1], in2[i2])
    MCUC_FOR_EACH_BROADCAST(&p->bc, ADD_OP);
#undef ADD_OP
}
