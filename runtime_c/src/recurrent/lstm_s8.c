/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM, integer 8x8->16 (int8 input, weights and hidden state, int16
 * cell state, int32 biases), TFLM's reference arithmetic (lstm_eval.h, the standard LSTM of
 * Keras: no peephole, projection or layer norm; all four gates). Per batch row, time step t:
 *
 *   gate g of (input, forget, cell, output), per unit j (int16, scale 2^-12):
 *     a = clamp16(MBQM(sum_k (w_g[j][k] + w_off) * (x_t[k] - input_zp) + bias_g[j], in_g))
 *       + clamp16(MBQM(sum_k (r_g[j][k] + r_off) * (h[k] - hidden_zp), rec_g)), saturated
 *     i, f, o = sigmoid(a); c~ = tanh(a) (or sigmoid: the op's activation)   (Q0.15)
 *   cell:   c = sat16(clamp16(MBQM(f * c, forget)) + clamp16(MBQM(i * c~, input))), then
 *           clipped to +-cell_clip when the model has a clip
 *   hidden: h = clamp8(hidden_zp + MBQM(tanh(c) * o, hidden)); output[t] = h
 * All gates of a step read the previous h, so they are computed before h is written.
 * sigmoid / tanh are TFLM's int16 table interpolations (reference_integer_ops Logistic/Tanh)
 * over the 256-entry table of sigmoid(i/24) in 0.16 below; tanh of the cell first scales it
 * by tanh_mult / 2^tanh_shift (from the cell scale's power of two). Hidden and cell state are
 * the op's variable tensors (the arena's state region), kept across runs.
 * Scratch: 4 x state_size int16 (the gates of one step: mcuc_lstm_s8_scratch_bytes).
 */
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

size_t mcuc_lstm_s8_scratch_bytes(const mcuc_lstm_params *p)
{
    return (size_t)4 * (size_t)p->state_size * sizeof(int16_t);
}

/* reference_integer_ops::Logistic(int16) with input multiplier 3, shift 0 (Q3.12 in) */
static int16_t mcuc_sigmoid_q15(int32_t x)
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
static int16_t mcuc_tanh_q15(int32_t x, int32_t mult, int32_t shift)
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

/* one gate's fully connected output for unit j, int16 (scale 2^-12) */
static int32_t mcuc_lstm_fc(const int8_t *w, int32_t w_off, const int8_t *x, int32_t x_off,
                            int32_t n, int32_t bias, int32_t mult, int32_t shift)
{
    int32_t acc = 0, k;
    for (k = 0; k < n; ++k)
        acc += ((int32_t)w[k] + w_off) * ((int32_t)x[k] + x_off);
    return mcuc_clamp(mcuc_mul_by_quantized_mult(acc + bias, mult, shift), INT16_MIN, INT16_MAX);
}

static void mcuc_lstm_step(const mcuc_lstm_params *p, const int8_t *x, const int8_t *in_w,
                           const int8_t *rec_w, const int32_t *bias, int8_t *hidden,
                           int16_t *cell, int8_t *out, int16_t *gates)
{
    const int32_t n = p->state_size;
    int32_t g, j;
    for (g = 0; g < 4; ++g) {
        int16_t *gate = gates + g * n;
        for (j = 0; j < n; ++j) {
            const int32_t a = mcuc_lstm_fc(in_w + ((size_t)g * n + j) * p->input_size,
                                           p->in_w_offset[g], x, p->input_offset,
                                           p->input_size, bias[g * n + j], p->in_mult[g],
                                           p->in_shift[g]);
            const int32_t r = mcuc_lstm_fc(rec_w + ((size_t)g * n + j) * n, p->rec_w_offset[g],
                                           hidden, p->hidden_offset, n, 0, p->rec_mult[g],
                                           p->rec_shift[g]);
            const int32_t sum = mcuc_clamp(a + r, INT16_MIN, INT16_MAX);
            gate[j] = (g == 2 && p->cell_tanh) ? mcuc_tanh_q15(sum, 3, 0) : mcuc_sigmoid_q15(sum);
        }
    }
    for (j = 0; j < n; ++j) {
        const int32_t i = gates[j], f = gates[n + j], c = gates[2 * n + j], o = gates[3 * n + j];
        const int32_t kept = mcuc_clamp(mcuc_mul_by_quantized_mult(f * cell[j], p->forget_mult,
                                                                   p->forget_shift),
                                        INT16_MIN, INT16_MAX);
        const int32_t added = mcuc_clamp(mcuc_mul_by_quantized_mult(i * c, p->input_mult,
                                                                    p->input_shift),
                                         INT16_MIN, INT16_MAX);
        int32_t cj = mcuc_clamp(kept + added, INT16_MIN, INT16_MAX);
        if (p->clip)
            cj = mcuc_clamp(cj, -p->cell_clip, p->cell_clip);
        cell[j] = (int16_t)cj;
        hidden[j] = (int8_t)mcuc_clamp(
            p->hidden_zp + mcuc_mul_by_quantized_mult(
                (int32_t)mcuc_tanh_q15(cj, p->tanh_mult, p->tanh_shift) * o, p->hidden_mult,
                p->hidden_shift),
            INT8_MIN, INT8_MAX);
        out[j] = hidden[j];
    }
}

void mcuc_lstm_s8(const mcuc_lstm_params *p, const int8_t *input, const int8_t *in_weights,
                  const int8_t *rec_weights, const int32_t *biases, int8_t *hidden,
                  void *cell, int8_t *output, void *scratch)
{
    int32_t b, t;
    for (b = 0; b < p->batches; ++b) {
        for (t = 0; t < p->steps; ++t) {
            /* [batches][steps][...], or [steps][batches][...] when time major */
            const size_t row = p->time_major ? (size_t)t * p->batches + b
                                             : (size_t)b * p->steps + t;
            mcuc_lstm_step(p, input + row * p->input_size, in_weights, rec_weights, biases,
                           hidden + (size_t)b * p->state_size,
                           (int16_t *)cell + (size_t)b * p->state_size,
                           output + row * p->state_size, (int16_t *)scratch);
        }
    }
}
