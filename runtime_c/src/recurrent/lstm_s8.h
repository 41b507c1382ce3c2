/*
 * What the portable and the DSP LSTM kernels share (lstm_s8.c, lstm_s8_dsp.c; the algebra is
 * at the top of lstm_s8.c): TFLM's int16 sigmoid and tanh, a gate's value from its two
 * fully connected sums, and one unit's cell and hidden update.
 */
#ifndef MCUC_LSTM_S8_H
#define MCUC_LSTM_S8_H

#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

/* sigmoid(i / 24) in unsigned 0.16, as TFLM's table holds it (its rounding is not one
 * formula's: generated otherwise, 43 entries would be 1 apart) */
static const uint16_t mcuc_sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
};

/* reference_integer_ops::Logistic(int16) with input multiplier 3, shift 0 (Q3.12 in) */
static inline int16_t mcuc_sigmoid_q15(int32_t x)
{
    const int32_t v = x * 3;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 9;
    uint32_t r;
    if (uh >= 255u) {
        r = 0x7FFFu << 10;
    } else {
        const uint32_t ua = mcuc_sigmoid_table[uh], ub = mcuc_sigmoid_table[uh + 1u];
        r = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    return (int16_t)(r >> 10);
}

/* reference_integer_ops::Tanh(int16): x scaled by mult / 2^shift (rounded), then the table */
static inline int16_t mcuc_tanh_q15(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    const int32_t v = (x * mult + round) >> shift;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 8;
    int32_t r;
    if (uh >= 255u) {
        r = (int32_t)(0xFFFFu << 8);
    } else {
        const uint32_t ua = mcuc_sigmoid_table[uh], ub = mcuc_sigmoid_table[uh + 1u];
        r = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
    }
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8);
}

/* Gate g's Q0.15 value from its input and recurrent sums (bias included in the first):
 * each requantised to int16 at 2^-12, added with saturation, then sigmoid (tanh for the
 * cell gate). */
static inline int16_t mcuc_lstm_gate(const mcuc_lstm_params *p, int32_t g, int32_t in_acc,
                                     int32_t rec_acc)
{
    const int32_t a = mcuc_clamp(mcuc_mul_by_quantized_mult(in_acc, p->in_mult[g], p->in_shift[g]),
                                 INT16_MIN, INT16_MAX);
    const int32_t r = mcuc_clamp(mcuc_mul_by_quantized_mult(rec_acc, p->rec_mult[g],
                                                            p->rec_shift[g]),
                                 INT16_MIN, INT16_MAX);
    const int32_t sum = mcuc_clamp(a + r, INT16_MIN, INT16_MAX);
    return (g == 2 && p->cell_tanh) ? mcuc_tanh_q15(sum, 3, 0) : mcuc_sigmoid_q15(sum);
}

/* Unit j's cell and hidden update from its four gates (input, forget, cell, output):
 * returns the new hidden value (the step's output too). */
static inline int8_t mcuc_lstm_unit(const mcuc_lstm_params *p, int32_t i, int32_t f, int32_t c,
                                    int32_t o, int16_t *cell)
{
    const int32_t kept = mcuc_clamp(mcuc_mul_by_quantized_mult(f * *cell, p->forget_mult,
                                                               p->forget_shift),
                                    INT16_MIN, INT16_MAX);
    const int32_t added = mcuc_clamp(mcuc_mul_by_quantized_mult(i * c, p->input_mult,
                                                                p->input_shift),
                                     INT16_MIN, INT16_MAX);
    int32_t cj = mcuc_clamp(kept + added, INT16_MIN, INT16_MAX);
    if (p->clip)
        cj = mcuc_clamp(cj, -p->cell_clip, p->cell_clip);
    *cell = (int16_t)cj;
    return (int8_t)mcuc_clamp(
        p->hidden_zp + mcuc_mul_by_quantized_mult(
            (int32_t)mcuc_tanh_q15(cj, p->tanh_mult, p->tanh_shift) * o, p->hidden_mult,
            p->hidden_shift),
        INT8_MIN, INT8_MAX);
}

/* Row offset of (batch b, step t) in the input / output: [batches][steps] or, time major,
 * [steps][batches]. */
static inline size_t mcuc_lstm_row(const mcuc_lstm_params *p, int32_t b, int32_t t)
{
    return p->time_major ? (size_t)t * (size_t)p->batches + (size_t)b
                         : (size_t)b * (size_t)p->steps + (size_t)t;
}

#endif /* MCUC_LSTM_S8_H */
