/* MAXIMUM / MINIMUM, int8, with broadcasting: the larger / smaller raw value, as TFLM's
 * MaximumMinimumBroadcastSlow compares them (the inputs and the output share one
 * quantization, so comparing codes compares reals; no requantisation). */
#include "mcuc_runtime.h"
#include "broadcast.h"

void mcuc_maximum_s8(const mcuc_minmax_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out)
{
#define MAX_OP(i1, i2, o) out[o] = in1[i1] > in2[i2] ? in1[i1] : in2[i2]
    MCUC_FOR_EACH_BROADCAST(&p->bc, MAX_OP);
#undef MAX_OP
}

void mcuc_minimum_s8(const mcuc_minmax_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out)
{
#define MIN_OP(i1, i2, o) out[o] = in1[i1] < in2[i2] ? in1[i1] : in2[i2]
    MCUC_FOR_EACH_BROADCAST(&p->bc, MIN_OP);
#undef MIN_OP
}
