/* The float32 edges of a model, as TFLM computes them:
 *
 *   QUANTIZE   q = clamp(round_half_away_from_zero(x / scale) + zero_point, -128, 127)
 *              (x / scale in float32; measured against the tflite-micro interpreter)
 *   DEQUANTIZE x = scale * (q - zero_point) in float32: TFLM multiplies in double and casts
 *              to float, but the product of a float32 and an integer of 9 bits is exact in
 *              double, so one float32 multiply rounds it identically.
 *
 * Quotients beyond +-2^30 saturate before the conversion to int (C++ leaves it undefined; the
 * clamp makes them -128 / 127 either way); NaN gives -128, what TFLM's x86 build gives. */
#include "mcuc_runtime.h"

static int32_t round_half_away(float d)
{
    const float limit = 1073741824.0f;      /* 2^30 */
    if (!(d == d)) {
        return INT32_MIN;
    }
    if (d > limit) {
        return (int32_t)limit;
    }
    if (d < -limit) {
        return -(int32_t)limit;
    }
    int32_t t = (int32_t)d;                  /* truncation; d - t is exact */
    const float frac = d - (float)t;
    if (frac >= 0.5f) {
        ++t;
    } else if (frac <= -0.5f) {
        --t;
    }
    return t;
}

void mcuc_quantize_f32_s8(const mcuc_float_quant_params *p, const float *input,
                          int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t r = round_half_away(input[i] / p->scale);
        const int64_t q = (int64_t)r + p->zero_point;
        output[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
}

void mcuc_dequantize_s8_f32(const mcuc_float_quant_params *p, const int8_t *input,
                            float *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}
