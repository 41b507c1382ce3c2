/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM, the Helium (MVE) path of lstm_s8.c (same arithmetic, same
 * params; weight zero points 0). The zero points leave the dot products at compile time:
 *   sum_k w[k] (x[k] + x_off) + bias = sum_k w[k] x[k] + (bias + x_off sum_k w[k])
 * and likewise for the hidden state (biases: [4][state] input-side, rec_biases the recurrent
 * side), so every dot product is VMLADAVA over int8 weights and int8 values, 16 MACs per
 * instruction. The compiler pads each weight row with zeros to a multiple of 16 (in_stride,
 * rec_stride); each step copies its input and the previous hidden state into scratch, padded
 * with zeros likewise (the hidden copy is what the gates read while units are updated).
 * Scratch (mcuc_lstm_s8_mve_scratch_bytes): in_stride + rec_stride bytes.
 */
#include "lstm_s8.h"

size_t mcuc_lstm_s8_mve_scratch_bytes(const mcuc_lstm_params *p)
{
    return (size_t)(p->in_stride + p->rec_stride);
}

#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>

/* v[0..n) then zeros up to `stride` */
static void mcuc_lstm_copy_padded(const int8_t *v, int32_t n, int32_t stride, int8_t *out)
{
    int32_t k;
    for (k = 0; k < stride; ++k)
        out[k] = k < n ? v[k] : 0;
}

static inline int32_t mcuc_lstm_dot_mve(const int8_t *w, const int8_t *x, int32_t stride)
{
    int32_t acc = 0, k;
    for (k = 0; k < stride; k += 16)
        acc = vmladavaq_s8(acc, vldrbq_s8(w + k), vldrbq_s8(x + k));
    return acc;
}

void mcuc_lstm_s8_mve(const mcuc_lstm_params *p, const int8_t *input, const int8_t *in_weights,
                      const int8_t *rec_weights, const int32_t *biases,
                      const int32_t *rec_biases, int8_t *hidden, void *cell, int8_t *output,
                      void *scratch)
{
    const int32_t n = p->state_size;
    int8_t *x8 = (int8_t *)scratch;
    int8_t *h8 = x8 + p->in_stride;
    int32_t b, t, g, j;
    for (b = 0; b < p->batches; ++b) {
        int8_t *h = hidden + (size_t)b * (size_t)n;
        int16_t *c = (int16_t *)cell + (size_t)b * (size_t)n;
        for (t = 0; t < p->steps; ++t) {
            const size_t row = mcuc_lstm_row(p, b, t);
            mcuc_lstm_copy_padded(input + row * (size_t)p->input_size, p->input_size,
                                  p->in_stride, x8);
            mcuc_lstm_copy_padded(h, n, p->rec_stride, h8);
            for (j = 0; j < n; ++j) {
                int32_t gate[4];
                for (g = 0; g < 4; ++g) {
                    const int32_t in_acc = mcuc_lstm_dot_mve(
                        in_weights + ((size_t)g * n + j) * (size_t)p->in_stride, x8,
                        p->in_stride) + biases[g * n + j];
                    const int32_t rec_acc = mcuc_lstm_dot_mve(
                        rec_weights + ((size_t)g * n + j) * (size_t)p->rec_stride, h8,
                        p->rec_stride) + rec_biases[g * n + j];
                    gate[g] = mcuc_lstm_gate(p, g, in_acc, rec_acc);
                }
                h[j] = mcuc_lstm_unit(p, gate[0], gate[1], gate[2], gate[3], &c[j]);
                output[row * (size_t)n + (size_t)j] = h[j];
            }
        }
    }
}
#endif
