/* Global average over H x W with onnxruntime's arithmetic (QLinearGlobalAveragePool, and
 * QLinearAveragePool when the window is the whole unpadded image): an integer sum per channel,
 * acc = sum(q) - x_zp * hw, then out = round_half_even((float)acc * scale) + y_zp with
 * scale = x_scale / (y_scale * (float)hw) computed in float32 at compile time. */
#include "mcuc_runtime.h"
#include "mcuc_fpreq.h"

void mcuc_global_avg_pool_s8_fpreq(const mcuc_gap_fpreq_params *p, const int8_t *input,
                                   int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->hw * p->channels;
        for (int32_t c = 0; c < p->channels; ++c) {
            int32_t acc = p->bias;
            for (int32_t i = 0; i < p->hw; ++i) {
                acc += in_b[(size_t)i * p->channels + c];
            }
            *output++ = mcuc_requant_f32(acc, p->scale, p->y_zp, -128, 127);
        }
    }
}
