/*
 * SVDF (singular value decomposition filter) with int8 input, weights and output and an
 * int8 or int16 state, TFLM's integer reference arithmetic:
 *
 *   state   [batches][filters][memory], kept across runs (the arena's state region);
 *           filter f's row holds its last `memory` feature activations, oldest first.
 *   1. the whole state moves one element to the front (each row forgets its oldest value;
 *      a row's last slot gets the next row's first, overwritten in step 2);
 *   2. feature:  s = clamp(MBQM(sum_i wf[f][i] * (x[i] - input_zp), mult1, shift1), state
 *      type range) + state_zp, wrapped to the state type, goes to the last slot of filter f's
 *      row. The zero point comes after the clamp and the sum wraps: so the pinned
 *      tflite-micro computes it (measured: tests/test_svdf.py); newer TFLM sources add it
 *      before the clamp;
 *   3. time:     t[f] = sum_j wt[f][j] * (state[f][j] - state_zp)   (int32);
 *   4. reduce:   acc[u] = bias[u] + sum_{r < rank} t[u * rank + r]   (int32);
 *   5. output:   y[u] = clamp(output_zp + MBQM(acc[u], mult2, shift2), -128, 127);
 *                the fused activation is not applied (TFLM's integer SVDF ignores it).
 * mult1/shift1 = in_scale * wf_scale / state_scale, mult2/shift2 = state_scale * wt_scale /
 * out_scale (float32 products, as TFLM's Prepare forms them). The int32 sums wrap as
 * two's complement (TFLM's would overflow the same way). Scratch: one int32 per filter and
 * batch (mcuc_svdf_s8_scratch_bytes).
 */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

size_t mcuc_svdf_s8_scratch_bytes(const mcuc_svdf_params *p)
{
    return (size_t)p->batches * (size_t)p->filters * sizeof(int32_t);
}

static int32_t mcuc_svdf_load(const void *base, int32_t i, int32_t bytes)
{
    return bytes == 2 ? (int32_t)((const int16_t *)base)[i] : (int32_t)((const int8_t *)base)[i];
}

static int32_t mcuc_wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

void mcuc_svdf_s8(const mcuc_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                  const void *weights_time, const int32_t *bias, void *state, int8_t *output,
                  void *scratch)
{
    const int32_t wide = p->state_bytes == 2;
    const int32_t lo = wide ? INT16_MIN : INT8_MIN;
    const int32_t hi = wide ? INT16_MAX : INT8_MAX;
    const int32_t total = p->batches * p->filters * p->memory;
    int32_t *time_sums = (int32_t *)scratch;
    int32_t b, f, i;

    /* 1. every value one slot to the front */
    if (wide) {
        int16_t *s = (int16_t *)state;
        for (i = 0; i + 1 < total; ++i)
            s[i] = s[i + 1];
    } else {
        int8_t *s = (int8_t *)state;
        for (i = 0; i + 1 < total; ++i)
            s[i] = s[i + 1];
    }

    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * (size_t)p->input_size;
        for (f = 0; f < p->filters; ++f) {
            /* 2. this run's feature activation into the row's last slot */
            const int8_t *w = weights_feature + (size_t)f * (size_t)p->input_size;
            const int32_t slot = (b * p->filters + f) * p->memory + p->memory - 1;
            int32_t dot = 0, s;
            for (i = 0; i < p->input_size; ++i)
                dot = mcuc_wrap_add(dot, (int32_t)w[i] * ((int32_t)x[i] - p->input_zp));
            s = mcuc_clamp(mcuc_mul_by_quantized_mult(dot, p->mult1, p->shift1), lo, hi)
                + p->state_zp;
            s = (int32_t)((uint32_t)(s - lo) & (uint32_t)(hi - lo)) + lo;   /* wrap */
            if (wide)
                ((int16_t *)state)[slot] = (int16_t)s;
            else
                ((int8_t *)state)[slot] = (int8_t)s;
        }
        for (f = 0; f < p->filters; ++f) {
            /* 3. the row against the time weights */
            const int32_t row = (b * p->filters + f) * p->memory;
            int32_t sum = 0, j;
            for (j = 0; j < p->memory; ++j) {
                const int32_t wt = mcuc_svdf_load(weights_time, f * p->memory + j, p->state_bytes);
                const int32_t sv = mcuc_svdf_load(state, row + j, p->state_bytes) - p->state_zp;
                sum = mcuc_wrap_add(sum, wt * sv);
            }
            time_sums[b * p->filters + f] = sum;
        }
        for (i = 0; i < p->units; ++i) {
            /* 4. bias + the rank sums of each unit; 5. requantised to int8 */
            int32_t a = bias ? bias[i] : 0, r;
            for (r = 0; r < p->rank; ++r)
                a = mcuc_wrap_add(a, time_sums[b * p->filters + i * p->rank + r]);
            output[b * p->units + i] = (int8_t)mcuc_clamp(
                p->output_zp + mcuc_mul_by_quantized_mult(a, p->mult2, p->shift2),
                INT8_MIN, INT8_MAX);
        }
    }
}
