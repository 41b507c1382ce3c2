/*
 * What the portable and the DSP SVDF kernels share (svdf_s8.c, svdf_s8_dsp.c; the algebra is
 * at the top of svdf_s8.c): moving the state, storing a feature activation, and the time
 * weights, rank sums and output of one batch row.
 */
#ifndef MCUC_SVDF_S8_H
#define MCUC_SVDF_S8_H

#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

static inline int32_t mcuc_svdf_load(const void *base, int32_t i, int32_t bytes)
{
    return bytes == 2 ? (int32_t)((const int16_t *)base)[i] : (int32_t)((const int8_t *)base)[i];
}

static inline int32_t mcuc_wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* 1. every value one slot to the front */
static inline void mcuc_svdf_shift(const mcuc_svdf_params *p, void *state)
{
    const int32_t total = p->batches * p->filters * p->memory;
    int32_t i;
    if (p->state_bytes == 2) {
        int16_t *s = (int16_t *)state;
        for (i = 0; i + 1 < total; ++i)
            s[i] = s[i + 1];
    } else {
        int8_t *s = (int8_t *)state;
        for (i = 0; i + 1 < total; ++i)
            s[i] = s[i + 1];
    }
}

/* 2. a filter's feature dot product, requantised, into its row's last slot */
static inline void mcuc_svdf_store(const mcuc_svdf_params *p, void *state, int32_t b, int32_t f,
                                   int32_t dot)
{
    const int32_t wide = p->state_bytes == 2;
    const int32_t lo = wide ? INT16_MIN : INT8_MIN;
    const int32_t hi = wide ? INT16_MAX : INT8_MAX;
    const int32_t slot = (b * p->filters + f) * p->memory + p->memory - 1;
    int32_t s = mcuc_clamp(mcuc_mul_by_quantized_mult(dot, p->mult1, p->shift1), lo, hi)
        + p->state_zp;
    s = (int32_t)((uint32_t)(s - lo) & (uint32_t)(hi - lo)) + lo;   /* wrap */
    if (wide)
        ((int16_t *)state)[slot] = (int16_t)s;
    else
        ((int8_t *)state)[slot] = (int8_t)s;
}

/* 3-5. batch row b: each unit's bias + its filters' rows against the time weights,
 * requantised to int8 */
static inline void mcuc_svdf_output(const mcuc_svdf_params *p, int32_t b,
                                    const void *weights_time, const int32_t *bias,
                                    const void *state, int8_t *output)
{
    int32_t u, r, j;
    for (u = 0; u < p->units; ++u) {
        int32_t a = bias ? bias[u] : 0;
        for (r = 0; r < p->rank; ++r) {
            const int32_t f = u * p->rank + r;
            const int32_t row = (b * p->filters + f) * p->memory;
            int32_t sum = 0;
            for (j = 0; j < p->memory; ++j) {
                const int32_t wt = mcuc_svdf_load(weights_time, f * p->memory + j, p->state_bytes);
                const int32_t sv = mcuc_svdf_load(state, row + j, p->state_bytes) - p->state_zp;
                sum = mcuc_wrap_add(sum, wt * sv);
            }
            a = mcuc_wrap_add(a, sum);
        }
        output[b * p->units + u] = (int8_t)mcuc_clamp(
            p->output_zp + mcuc_mul_by_quantized_mult(a, p->mult2, p->shift2), INT8_MIN, INT8_MAX);
    }
}

#endif /* MCUC_SVDF_S8_H */
