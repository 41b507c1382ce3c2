/*
 * DEPTHWISE_CONV_2D, int8, Armv7E-M DSP path: planar int16 bands + SMLAD over tap pairs.
 *
 * A depthwise output sums k_h x k_w products of ONE channel, so SMLAD (two products into one
 * sum) needs two taps of the same channel in one register. NHWC keeps them in_c bytes apart;
 * this kernel therefore copies a band of input rows into channel planes of int16
 * ([in_c][band rows][plane_w], padding filled with the input zero point), where neighbouring
 * taps along a row are neighbouring halfwords: one 32-bit load gives a tap pair.
 *
 * "Rows" and "columns" are the image's (y, x), or (x, y) when the generator transposes a tall,
 * narrow layer so that rows are long: all addressing goes through row/column strides.
 *
 * Each step makes two neighbouring outputs of one channel. For each kernel row:
 *   column stride 1: out0 taps (c, c+1) = aligned word at c, out1 taps (c+1, c+2) = unaligned
 *                    word at c+1;
 *   column stride 2: out0 reads words at c, c+2 ..., out1 the same shifted by two (shared).
 * An odd last tap per kernel row is the bottom / top half of an aligned word; its weights are
 * packed two kernel rows per word (SMLABB / SMLABT / SMLATB / SMLATT pick the halves).
 * 3x3, column stride 1: per kernel row 3 loads + 4 multiply-accumulates for 6 MACs.
 *
 * Channels are processed in groups sharing a right shift, which the generated code passes as
 * a literal so the shift folds into SSAT, with the rounding term rnd (mcuc_dsp.h: it depends
 * only on the shift and the output zero point). Per channel the record is {bias2, mult,
 * c_out} (mcuc_dsp.h for the first two), weights per channel: k_r rows of k_c / 2 pair words,
 * then (k_c odd) ceil(k_r / 2) words of odd-tap pairs. The input offset is folded into the
 * bias: padding reads the zero point, which contributes 0. ONNX models (onnxruntime's float
 * requantisation, mcuc_fpreq.h) form one group with right shift -1 and rnd = the output zero
 * point, records {bias, bits of the float32 scale, c_out} and unscaled weights. Channels
 * whose fold could overflow (pack.py) form groups per TFLM shift s with "right shift"
 * MCUC_DW_UNFOLDED + s and rnd = the output zero point, records {bias, mult, c_out} and
 * unscaled weights (lsh 0): their store computes TFLM's MultiplyByQuantizedMultiplier on the
 * plain accumulator.
 *
 * Weights are int16 words (times 2^(left+1), see mcuc_dsp.h) or, with w8, int8 (half the
 * flash): each pair of words (u, v) as the bytes {u.lo, v.lo, u.hi, v.hi}, unpacked once per
 * channel and band into registers by SXTB16 / SXTB16-ror-8 and scaled there by `lsh`
 * halfword doublings (SADD16); groups then share a right shift and lsh. int8 weights need
 * the channel's words in registers: at most 16 (up to 5x5 kernels).
 *
 * The generated code may also cut the rows into strips of output columns, each with planes
 * of its own width (the input columns it reads), when a whole band does not fit the scratch.
 */
#ifndef MCUC_DEPTHWISE_CONV_S8_DSP_H
#define MCUC_DEPTHWISE_CONV_S8_DSP_H

#include <stdint.h>
#include <string.h>
#include <arm_acle.h>

#include "mcuc_dsp.h"
#include "mcuc_fpreq.h"

#define MCUC_DW_MAX_KC 16 /* longest kernel row (columns) the generator sends here */
#define MCUC_DW_UNFOLDED (-64) /* group literal MCUC_DW_UNFOLDED + s: unfolded, shift s */

MCUC_INLINE void mcuc_st32u(int16_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

MCUC_INLINE uint32_t mcuc_ld32u(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

MCUC_INLINE uint32_t mcuc_ld32a(const int16_t *p)
{
    return *(const uint32_t *)(const void *)p;
}

/* Copy input rows [r0, r0 + rows) into the planes (rows outside the input and columns outside
 * [pad, pad + in_cols): zero point). Element (r, c) of channel ch is at
 * in[r * in_rs + c * in_cs + ch]. */
MCUC_INLINE void mcuc_dw_planes(int16_t *planes, const int8_t *in, int32_t r0, int32_t rows,
                                int32_t in_rows, int32_t in_cols, int32_t in_rs, int32_t in_cs,
                                int32_t in_c, int32_t pad, int32_t plane_w, int32_t band_rows,
                                int32_t pad_value)
{
    const int32_t plane = band_rows * plane_w;
    const int32_t right = plane_w - pad - in_cols;  /* < 0: trailing columns not needed */
    const int32_t cols = right < 0 ? in_cols + right : in_cols;
    const uint32_t pad2 = (uint32_t)(pad_value & 0xFFFF) * 0x10001u;
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t iy = r0 + r;
        int16_t *row = planes + r * plane_w;
        if (iy < 0 || iy >= in_rows) {
            for (int32_t ch = 0; ch < in_c; ++ch) {
                for (int32_t x = 0; x < plane_w; x += 2) {
                    mcuc_st32u(row + ch * plane + x, pad2);
                }
            }
            continue;
        }
        for (int32_t ch = 0; ch < in_c; ++ch) {
            for (int32_t x = 0; x < pad; ++x) {
                row[ch * plane + x] = (int16_t)pad_value;
            }
            for (int32_t x = pad + cols; x < plane_w; ++x) {
                row[ch * plane + x] = (int16_t)pad_value;
            }
        }
        const int8_t *src = in + iy * in_rs;
        int16_t *dst = row + pad;
        int32_t x = 0;
        if (in_c % 4 == 0) {
            /* 4 channels of 2 pixels: [a0 b0 c0 d0], [a1 b1 c1 d1] -> (a0 a1) (b0 b1) ... */
            for (; x + 1 < cols; x += 2) {
                const int8_t *s = src + x * in_cs;
                int16_t *d = dst + x;
                for (int32_t ch = 0; ch < in_c; ch += 4) {
                    uint32_t p0, p1;
                    memcpy(&p0, s + ch, 4);
                    memcpy(&p1, s + in_cs + ch, 4);
                    const uint32_t ab = mcuc_pkhbt16(p0, p1);   /* [a0 b0 a1 b1] */
                    const uint32_t cd = mcuc_pkhtb16(p1, p0);   /* [c0 d0 c1 d1] */
                    mcuc_st32u(d + (ch + 0) * plane, __sxtb16(ab));
                    mcuc_st32u(d + (ch + 1) * plane, mcuc_sxtb16_ror8(ab));
                    mcuc_st32u(d + (ch + 2) * plane, __sxtb16(cd));
                    mcuc_st32u(d + (ch + 3) * plane, mcuc_sxtb16_ror8(cd));
                }
            }
        }
        for (; x < cols; ++x) {
            for (int32_t ch = 0; ch < in_c; ++ch) {
                dst[ch * plane + x] = src[x * in_cs + ch];
            }
        }
    }
}

/* Odd-tap multiply-accumulate: tap = bottom (top_t = 0) or top (1) half of t, weight = bottom
 * (top_w = 0) or top (1) half of w. */
MCUC_INLINE int32_t mcuc_smla_half(int32_t t, int32_t w, int32_t acc, int32_t top_t,
                                   int32_t top_w)
{
    if (top_t) {
        return top_w ? __smlatt(t, w, acc) : __smlatb(t, w, acc);
    }
    return top_w ? __smlabt(t, w, acc) : __smlabb(t, w, acc);
}

/* Words at p + 2i and p + 2i + 2 (byte offset 4i from p, a multiple of 4): one LDRD. */
MCUC_INLINE void mcuc_ld2_at(const int16_t *p, int32_t byte_off, uint32_t *a, uint32_t *b)
{
    if (byte_off <= 1020) {
        __asm__("ldrd %0, %1, [%2, %3]" : "=r"(*a), "=r"(*b) : "r"(p), "n"(byte_off), "m"(*p));
    } else {
        *a = mcuc_ld32a(p + byte_off / 2);
        *b = mcuc_ld32a(p + byte_off / 2 + 2);
    }
}

/* Accumulators of two neighbouring outputs whose window starts at plane column p. */
MCUC_INLINE void mcuc_dw_pair(const int16_t *p, const uint32_t *w, int32_t *acc0,
                              int32_t *acc1, int32_t plane_w, int32_t stride_c, int32_t k_r,
                              int32_t k_c)
{
    const int32_t kcp = k_c / 2;
    const int32_t n_al = kcp + (k_c & 1) + (stride_c == 2);  /* aligned words per row */
    int32_t a0 = *acc0, a1 = *acc1;
#pragma GCC unroll 8
    for (int32_t ky = 0; ky < k_r; ++ky) {
        const int16_t *pr = p + ky * plane_w;
        uint32_t al[MCUC_DW_MAX_KC / 2 + 2];
#pragma GCC unroll 10
        for (int32_t i = 0; i < n_al; i += 2) {
            if (i + 1 < n_al) {
                mcuc_ld2_at(p, (ky * plane_w + 2 * i) * 2, &al[i], &al[i + 1]);
            } else {
                al[i] = mcuc_ld32a(pr + 2 * i);
            }
        }
#pragma GCC unroll 8
        for (int32_t kp = 0; kp < kcp; ++kp) {
            const uint32_t wv = w[ky * kcp + kp];
            a0 = __smlad(al[kp], wv, a0);
            a1 = __smlad(stride_c == 1 ? mcuc_ld32u(pr + 2 * kp + 1) : al[kp + 1], wv, a1);
        }
        if (k_c & 1) {
            const int32_t wt = (int32_t)w[k_r * kcp + ky / 2];
            a0 = mcuc_smla_half((int32_t)al[kcp], wt, a0, 0, ky & 1);
            if (stride_c == 1) {
                a1 = mcuc_smla_half((int32_t)al[kcp], wt, a1, 1, ky & 1);
            } else {
                a1 = mcuc_smla_half((int32_t)al[kcp + 1], wt, a1, 0, ky & 1);
            }
        }
    }
    *acc0 = a0;
    *acc1 = a1;
}

/* The store of a channel outside the folded requantisation (group literal rsh < 0): ONNX's
 * float requantisation (rsh -1, `scale` = the record's bits), or TFLM's on the plain
 * accumulator (rsh = MCUC_DW_UNFOLDED + shift). */
MCUC_INLINE int8_t mcuc_dw_requant_plain(int32_t acc, float scale, int32_t mult, int32_t zp,
                                         int32_t rsh, int32_t act_min, int32_t act_max)
{
    if (rsh == -1) {
        return mcuc_requant_f32(acc, scale, zp, act_min, act_max);
    }
    const int32_t shift = rsh - MCUC_DW_UNFOLDED;
    const int32_t v = mcuc_dsp_requant_unfolded(acc, mult, zp, shift < 0 ? -shift : 0,
                                                shift > 0 ? shift : 0);
    return (int8_t)MCUC_DSP_CLAMP(v, act_min, act_max);
}

/* One channel over `rows` output rows of `cols` outputs (made two at a time). */
MCUC_INLINE void mcuc_dw_channel(const int16_t *plane, const uint32_t *wc, int32_t bias,
                                 int32_t mult, int32_t rnd, int32_t rsh, int8_t *out,
                                 int32_t rows, int32_t cols, int32_t plane_w, int32_t stride_r,
                                 int32_t stride_c, int32_t k_r, int32_t k_c, int32_t out_rs,
                                 int32_t out_cs, int32_t act_min, int32_t act_max, int32_t w8,
                                 int32_t lsh)
{
    /* Small kernels: weights copied to locals (registers); large ones read in place. */
    const int32_t words = k_r * (k_c / 2) + (k_c & 1) * ((k_r + 1) / 2);
    uint32_t local[16];
    const uint32_t *w = wc;
    if (w8) {
#pragma GCC unroll 8
        for (int32_t i = 0; i < words; i += 2) {
            uint32_t u = __sxtb16(wc[i / 2]), v = mcuc_sxtb16_ror8(wc[i / 2]);
#pragma GCC unroll 8
            for (int32_t l = 0; l < lsh; ++l) {
                u = __sadd16(u, u);
                v = __sadd16(v, v);
            }
            local[i] = u;
            if (i + 1 < words) {
                local[i + 1] = v;
            }
        }
        w = local;
    } else if (words <= 16) {
#pragma GCC unroll 16
        for (int32_t i = 0; i < words; ++i) {
            local[i] = wc[i];
        }
        w = local;
    }
    const int32_t sgn = rsh ? -1 : 0;
    if (rsh < 0) {          /* ONNX or unfolded (see the top): rnd holds the zero point */
        float scale;
        memcpy(&scale, &mult, sizeof scale);
        for (int32_t r = 0; r < rows; ++r) {
            const int16_t *p = plane + r * stride_r * plane_w;
            int8_t *o = out + r * out_rs;
            for (int32_t c = 0; c < cols; c += 2) {
                int32_t a0 = bias, a1 = bias;
                mcuc_dw_pair(p, w, &a0, &a1, plane_w, stride_c, k_r, k_c);
                o[0] = mcuc_dw_requant_plain(a0, scale, mult, rnd, rsh, act_min, act_max);
                if (c + 1 < cols)
                    o[out_cs] = mcuc_dw_requant_plain(a1, scale, mult, rnd, rsh, act_min,
                                                      act_max);
                o += 2 * out_cs;
                p += 2 * stride_c;
            }
        }
        return;
    }
    for (int32_t r = 0; r < rows; ++r) {
        const int16_t *p = plane + r * stride_r * plane_w;
        int8_t *o = out + r * out_rs;
        int32_t c = 0;
        for (; c + 1 < cols; c += 2) {
            int32_t a0 = bias, a1 = bias;
            mcuc_dw_pair(p, w, &a0, &a1, plane_w, stride_c, k_r, k_c);
            const int32_t v0 = mcuc_dsp_requant_e0(a0, mult, rnd, rsh, sgn);
            const int32_t v1 = mcuc_dsp_requant_e0(a1, mult, rnd, rsh, sgn);
            o[0] = (int8_t)MCUC_DSP_CLAMP(v0, act_min, act_max);
            o[out_cs] = (int8_t)MCUC_DSP_CLAMP(v1, act_min, act_max);
            o += 2 * out_cs;
            p += 2 * stride_c;
        }
        if (cols & 1) {
            int32_t a0 = bias, a1 = bias;
            mcuc_dw_pair(p, w, &a0, &a1, plane_w, stride_c, k_r, k_c);
            const int32_t v0 = mcuc_dsp_requant_e0(a0, mult, rnd, rsh, sgn);
            o[0] = (int8_t)MCUC_DSP_CLAMP(v0, act_min, act_max);
        }
    }
}

/* `count` channels sharing the right shift `rsh` and rounding term `rnd` (and, int8 weights,
 * `lsh`): records and weights in group order. */
MCUC_INLINE void mcuc_dw_group(const int16_t *planes, const int32_t *rec, const uint32_t *w,
                               int32_t count, int32_t rsh, int32_t rnd, int8_t *out, int32_t depth_mult,
                               int32_t band_rows, int32_t rows, int32_t cols, int32_t plane_w,
                               int32_t stride_r, int32_t stride_c, int32_t k_r, int32_t k_c,
                               int32_t out_rs, int32_t out_cs, int32_t act_min, int32_t act_max,
                               int32_t w8, int32_t lsh)
{
    const int32_t words = k_r * (k_c / 2) + (k_c & 1) * ((k_r + 1) / 2);
    const int32_t stored = w8 ? (words + 1) / 2 : words;      /* 32-bit words per channel */
    for (int32_t i = 0; i < count; ++i, rec += 3, w += stored) {
        const int32_t c_out = rec[2];
        mcuc_dw_channel(planes + (c_out / depth_mult) * band_rows * plane_w, w, rec[0], rec[1],
                        rnd, rsh, out + c_out, rows, cols, plane_w, stride_r, stride_c, k_r,
                        k_c, out_rs, out_cs, act_min, act_max, w8, lsh);
    }
}

#endif /* MCUC_DEPTHWISE_CONV_S8_DSP_H */
