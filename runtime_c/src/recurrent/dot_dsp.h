/*
 * The recurrent layers' dot products on Armv7E-M DSP (lstm_s8_dsp.c, svdf_s8_dsp.c; include
 * only where __ARM_FEATURE_DSP is defined): the vector, zero point added, is written once as
 * int16 in the order SXTB16 unpacks a word of int8 weights (elements 0, 2, 1, 3 of every 4),
 * then each weight row takes 4 MACs per word with two SMLADs. Weight rows are padded with
 * zeros to whole words at compile time (the strides), so loads are aligned and rows have no
 * tail; the padded vector values are 0.
 */
#ifndef MCUC_DOT_DSP_H
#define MCUC_DOT_DSP_H

#include <string.h>
#include "mcuc_dsp.h"

/* v + offset as int16, 0 2 1 3 within every 4, zeros up to `stride` */
static inline void mcuc_widen_words(const int8_t *v, int32_t n, int32_t offset, int32_t stride,
                            int16_t *out)
{
    static const int32_t slot[4] = {0, 2, 1, 3};
    int32_t k;
    for (k = 0; k < stride; ++k)
        out[(k & ~3) + slot[k & 3]] = (int16_t)(k < n ? (int32_t)v[k] + offset : 0);
}

/* sum over `words` weight words of w . x (x widened by mcuc_lstm_widen) */
MCUC_INLINE int32_t mcuc_dot_words(const int8_t *w, const int16_t *x, int32_t words)
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

#endif /* MCUC_DOT_DSP_H */
