/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM, the Armv7E-M DSP path of lstm_s8.c (same arithmetic, same
 * params; weight zero points 0): each step first widens its input and the hidden state to
 * int16 (dot_dsp.h), then every gate's dot products take 4 MACs per weight word; the
 * compiler pads the weight rows to in_stride / rec_stride. The int16 hidden state is
 * the step's copy of the previous h, so each unit is updated as soon as its gates are known.
 * Scratch (mcuc_lstm_s8_dsp_scratch_bytes): the step's int16 input (in_stride values), then
 * its hidden state (rec_stride).
 */
#include "lstm_s8.h"

size_t mcuc_lstm_s8_dsp_scratch_bytes(const mcuc_lstm_params *p)
{
    return (size_t)(p->in_stride + p->rec_stride) * sizeof(int16_t);
}

#if defined(__ARM_FEATURE_DSP)
#include "dot_dsp.h"

void mcuc_lstm_s8_dsp(const mcuc_lstm_params *p, const int8_t *input, const int8_t *in_weights,
                      const int8_t *rec_weights, const int32_t *biases, int8_t *hidden,
                      void *cell, int8_t *output, void *scratch)
{
    const int32_t n = p->state_size;
    int16_t *x16 = (int16_t *)scratch;
    int16_t *h16 = x16 + p->in_stride;
    int32_t b, t, g, j;
    for (b = 0; b < p->batches; ++b) {
        int8_t *h = hidden + (size_t)b * (size_t)n;
        int16_t *c = (int16_t *)cell + (size_t)b * (size_t)n;
        for (t = 0; t < p->steps; ++t) {
            const size_t row = mcuc_lstm_row(p, b, t);
            mcuc_widen_words(input + row * (size_t)p->input_size, p->input_size,
                            p->input_offset, p->in_stride, x16);
            mcuc_widen_words(h, n, p->hidden_offset, p->rec_stride, h16);
            for (j = 0; j < n; ++j) {
                int32_t gate[4];
                for (g = 0; g < 4; ++g) {
                    const int32_t in_acc = mcuc_dot_words(
                        in_weights + ((size_t)g * n + j) * (size_t)p->in_stride, x16,
                        p->in_stride / 4) + biases[g * n + j];
                    const int32_t rec_acc = mcuc_dot_words(
                        rec_weights + ((size_t)g * n + j) * (size_t)p->rec_stride, h16,
                        p->rec_stride / 4);
                    gate[g] = mcuc_lstm_gate(p, g, in_acc, rec_acc);
                }
                h[j] = mcuc_lstm_unit(p, gate[0], gate[1], gate[2], gate[3], &c[j]);
                output[row * (size_t)n + (size_t)j] = h[j];
            }
        }
    }
}
#endif
