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
 * All gates of a step read the previous h: the kernel reads a copy of it taken at the start
 * of the step, so each unit is updated as soon as its four gates are known.
 * sigmoid / tanh are TFLM's int16 table interpolations (reference_integer_ops Logistic/Tanh)
 * over the 256-entry table of sigmoid(i/24) in 0.16 below; tanh of the cell first scales it
 * by tanh_mult / 2^tanh_shift (from the cell scale's power of two). Hidden and cell state are
 * the op's variable tensors (the arena's state region), kept across runs.
 * Scratch: state_size bytes (that copy of h: mcuc_lstm_s8_scratch_bytes).
 * The weight rows are in_stride / rec_stride values apart (the sizes here; the DSP kernel's
 * rows are padded, lstm_s8_dsp.c).
 */
#include "lstm_s8.h"

size_t mcuc_lstm_s8_scratch_bytes(const mcuc_lstm_params *p)
{
    return (size_t)p->state_size;
}

/* sum_k (w[k] + w_off) * (x[k] + x_off) */
static int32_t mcuc_lstm_dot(const int8_t *w, int32_t w_off, const int8_t *x, int32_t x_off,
                             int32_t n)
{
    int32_t acc = 0, k;
    for (k = 0; k < n; ++k)
        acc += ((int32_t)w[k] + w_off) * ((int32_t)x[k] + x_off);
    return acc;
}

void mcuc_lstm_s8(const mcuc_lstm_params *p, const int8_t *input, const int8_t *in_weights,
                  const int8_t *rec_weights, const int32_t *biases, int8_t *hidden,
                  void *cell, int8_t *output, void *scratch)
{
    const int32_t n = p->state_size;
    int8_t *h_old = (int8_t *)scratch;
    int32_t b, t, g, j;
    for (b = 0; b < p->batches; ++b) {
        int8_t *h = hidden + (size_t)b * (size_t)n;
        int16_t *c = (int16_t *)cell + (size_t)b * (size_t)n;
        for (t = 0; t < p->steps; ++t) {
            const size_t row = mcuc_lstm_row(p, b, t);
            const int8_t *x = input + row * (size_t)p->input_size;
            for (j = 0; j < n; ++j)
                h_old[j] = h[j];
            for (j = 0; j < n; ++j) {
                int32_t gate[4];
                for (g = 0; g < 4; ++g) {
                    const int32_t in_acc = mcuc_lstm_dot(
                        in_weights + ((size_t)g * n + j) * (size_t)p->in_stride,
                        p->in_w_offset[g], x, p->input_offset, p->input_size)
                        + biases[g * n + j];
                    const int32_t rec_acc = mcuc_lstm_dot(
                        rec_weights + ((size_t)g * n + j) * (size_t)p->rec_stride,
                        p->rec_w_offset[g], h_old, p->hidden_offset, n);
                    gate[g] = mcuc_lstm_gate(p, g, in_acc, rec_acc);
                }
                h[j] = mcuc_lstm_unit(p, gate[0], gate[1], gate[2], gate[3], &c[j]);
                output[row * (size_t)n + (size_t)j] = h[j];
            }
        }
    }
}
