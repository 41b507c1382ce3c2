/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM, the Armv7E-M DSP path of lstm_s8.c (same arithmetic, same
 * params; weight zero points 0): each step first writes its input and the hidden state,
 * zero points added, as int16 into scratch, in the order SXTB16 unpacks a weight word
 * (elements 0, 2, 1, 3 of every 4); every dot product then takes 4 MACs per weight word,
 * two SMLADs. The compiler pads each weight row with zeros to a multiple of 4 (in_stride,
 * rec_stride), so the words are aligned and no row has a tail. The int16 hidden state is
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
#include <string.h>
#include "mcuc_dsp.h"

/* v + offset as int16, 0 2 1 3 within every 4, zeros up to `stride` */
static void mcuc_lstm_widen(const int8_t *v, int32_t n, int32_t offset, int32_t stride,
                            int16_t *out)
{
    static const int32_t slot[4] = {0, 2, 1, 3};
    int32_t k;
    for (k = 0; k < stride; ++k)
        out[(k & ~3) + slot[k & 3]] = (int16_t)(k < n ? (int32_t)v[k] + offset : 0);
}

/* sum over `words` weight words of w . x (x widened by mcuc_lstm_widen) */
MCUC_INLINE int32_t mcuc_lstm_dot_dsp(const int8_t *w, const int16_t *x, int32_t words)
{
    int32_t acc = 0, k;
    for (k = 0; k < words; ++k) {
        uint32_t wv, xa, xb;
        memcpy(&wv, w + 4 * k, 4);
        memcpy(&xa, x + 4 * k, 4);
        memcpy(&xb, x + 4 * k + 2, 4);
        acc = __smlad(__sxtb16(wv), xa, acc);
        acc = __smlad(mcuc_sxtb16_ror8(wv), xb, acc);
    }
    return acc;
}

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
            mcuc_lstm_widen(input + row * (size_t)p->input_size, p->input_size,
                            p->input_offset, p->in_stride, x16);
            mcuc_lstm_widen(h, n, p->hidden_offset, p->rec_stride, h16);
            for (j = 0; j < n; ++j) {
                int32_t gate[4];
                for (g = 0; g < 4; ++g) {
                    const int32_t in_acc = mcuc_lstm_dot_dsp(
                        in_weights + ((size_t)g * n + j) * (size_t)p->in_stride, x16,
                        p->in_stride / 4) + biases[g * n + j];
                    const int32_t rec_acc = mcuc_lstm_dot_dsp(
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
