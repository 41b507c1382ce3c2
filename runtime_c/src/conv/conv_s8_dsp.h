/*
 * CONV_2D / FULLY_CONNECTED, int8, Armv7E-M DSP path: im2col to int16 + register-blocked GEMM.
 *
 * The body is a static inline function of compile-time constants: the generator emits one
 * small wrapper per layer (templates/kernels/conv_s8_dsp.c.j2) that calls it with the layer's
 * shapes as literals, so gcc specialises loops, strides and bounds checks for that layer.
 *
 * Data layout (prepared by passes/pack.py):
 *   - K = k_h * k_w * in_c products per output, taken in pairs j = 0 .. K2-1 (K2 = ceil(K/2));
 *     within a tap, channels go in the tap's natural order, except that when in_c % 4 == 0
 *     each group of 4 channels (c0 c1 c2 c3) is paired as (c0, c2), (c1, c3): that is the order
 *     SXTB16 produces from one 32-bit load, so im2col needs no repacking.
 *   - weights: int16, times 2^(left+1) (see mcuc_dsp.h), for each group of four output
 *     channels (a, b, c, d) and each j the four words {a: w[2j] w[2j+1], b: ..., c, d};
 *     missing channels of the last group are all-zero (padding: records of the last real one).
 *   - quant: per output channel {bias2, mult, rnd, rsh} (+ sgn with E0), see mcuc_dsp.h.
 *     The input offset is folded into bias2, so taps in the padding read the input zero
 *     point itself: (zp + input_offset) * w = 0.
 *   - im2col scratch: two output pixels p, q interleaved per pair j: {p: x[2j] x[2j+1],
 *     q: x[2j] x[2j+1]} as int16, so one LDRD feeds four SMLADs.
 *
 * Inner loop per pair j: 3 loads (inputs p|q, weights a|b, c|d) + 8 SMLAD = 16 MACs.
 */
#ifndef MCUC_CONV_S8_DSP_H
#define MCUC_CONV_S8_DSP_H

#include <stdint.h>
#include <string.h>
#include <arm_acle.h>

#include "mcuc_dsp.h"



/* Copy the in_c channels of one input pixel (or the zero point, for padding) into the
 * im2col slots starting at product index k (halfword index ((k >> 1) << 2) + (k & 1) + 2 s). */
MCUC_INLINE void mcuc_im2col_tap(int16_t *col, int32_t k, const int8_t *src, int32_t in_c,
                                 int32_t pad_value)
{
    if (in_c % 4 == 0) {
        uint32_t *dst = (uint32_t *)(col + ((k >> 1) << 2));
        if (src) {
            for (int32_t c = 0; c < in_c; c += 4) {
                uint32_t v;
                memcpy(&v, src + c, 4);
                dst[0] = __sxtb16(v);
                dst[2] = mcuc_sxtb16_ror8(v);
                dst += 4;
            }
        } else {
            const uint32_t pad2 = (uint32_t)(pad_value & 0xFFFF) * 0x10001u;
            for (int32_t c = 0; c < in_c; c += 4) {
                dst[0] = pad2;
                dst[2] = pad2;
                dst += 4;
            }
        }
    } else if (in_c % 2 == 0) {
        uint32_t *dst = (uint32_t *)(col + ((k >> 1) << 2));
        if (src) {
            for (int32_t c = 0; c < in_c; c += 2) {
                uint16_t h;
                memcpy(&h, src + c, 2);
                /* bytes [c0 c1 0 0] | [0 c0 c1 0]: SXTB16 reads bytes 0 and 2 = (c0, c1) */
                dst[0] = __sxtb16((uint32_t)h | ((uint32_t)h << 8));
                dst += 2;
            }
        } else {
            const uint32_t pad2 = (uint32_t)(pad_value & 0xFFFF) * 0x10001u;
            for (int32_t c = 0; c < in_c; c += 2) {
                dst[0] = pad2;
                dst += 2;
            }
        }
    } else {
        for (int32_t c = 0; c < in_c; ++c, ++k) {
            col[((k >> 1) << 2) + (k & 1)] = (int16_t)(src ? src[c] : pad_value);
        }
    }
}

/* im2col of output pixel (oy, ox) into slot s (0 or 1) of the interleaved buffer. */
MCUC_INLINE void mcuc_im2col_pixel(int16_t *col, int32_t s, const int8_t *in, int32_t oy,
                                   int32_t ox, int32_t in_h, int32_t in_w, int32_t in_c,
                                   int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                                   int32_t dil_h, int32_t dil_w, int32_t pad_top,
                                   int32_t pad_left, int32_t check_bounds, int32_t pad_value)
{
    col += 2 * s;
    int32_t k = 0;
    for (int32_t ky = 0; ky < k_h; ++ky) {
        const int32_t y = oy * stride_h - pad_top + ky * dil_h;
        for (int32_t kx = 0; kx < k_w; ++kx, k += in_c) {
            const int32_t x = ox * stride_w - pad_left + kx * dil_w;
            const int8_t *src = in + ((size_t)y * in_w + x) * in_c;
            if (check_bounds && (y < 0 || y >= in_h || x < 0 || x >= in_w)) {
                src = 0;
            }
            mcuc_im2col_tap(col, k, src, in_c, pad_value);
        }
    }
}

/* One pair of products for four channels (a, b, c, d) and two pixels (p, q): 3 loads and
 * 8 SMLADs = 16 MACs. Operands: a0..a7 = accumulators (a p, a q, b p, b q, c p ...). */
#define MCUC_GEMM_4X2_STEP                                                                    \
    "ldrd %[xp], %[xq], [%[x]], #8\n\t"                                                      \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                      \
    "smlad %[a0], %[wa], %[xp], %[a0]\n\t"                                                   \
    "smlad %[a1], %[wa], %[xq], %[a1]\n\t"                                                   \
    "smlad %[a2], %[wb], %[xp], %[a2]\n\t"                                                   \
    "smlad %[a3], %[wb], %[xq], %[a3]\n\t"                                                   \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                      \
    "smlad %[a4], %[wa], %[xp], %[a4]\n\t"                                                   \
    "smlad %[a5], %[wa], %[xq], %[a5]\n\t"                                                   \
    "smlad %[a6], %[wb], %[xp], %[a6]\n\t"                                                   \
    "smlad %[a7], %[wb], %[xq], %[a7]\n\t"

#define MCUC_GEMM_4X2_OPERANDS                                                                \
    [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]), [a4] "+r"(a[4]),      \
    [a5] "+r"(a[5]), [a6] "+r"(a[6]), [a7] "+r"(a[7]), [x] "+r"(x), [w] "+r"(w),              \
    [xp] "=&r"(xp), [xq] "=&r"(xq), [wa] "=&r"(wa), [wb] "=&r"(wb)

/* Sums over k2 pairs for 4 channels x 2 pixels. Written in assembly because the 14 values
 * live in the loop (8 sums, 4 operands, 2 pointers) fill every register gcc may use: the
 * steps are repeated (.rept) and, past 16 pairs, looped 8 at a time with the loop end read
 * from memory into a free operand register. */
MCUC_INLINE void mcuc_gemm_4x2(const uint32_t *w, const uint32_t *x, int32_t k2, int32_t a[8])
{
    uint32_t xp, xq, wa, wb;
    if (k2 > 16) {
        const uint32_t *x_end = x + 2 * 8 * (k2 / 8);
        __asm__ volatile("1:\n\t"
                         ".rept 8\n\t" MCUC_GEMM_4X2_STEP ".endr\n\t"
                         "ldr %[wa], %[end]\n\t"
                         "cmp %[x], %[wa]\n\t"
                         "bne 1b"
                         : MCUC_GEMM_4X2_OPERANDS
                         : [end] "m"(x_end)
                         : "cc", "memory");
    }
    if (k2 > 16 ? k2 % 8 : k2) {
        __asm__ volatile(".rept %c[n]\n\t" MCUC_GEMM_4X2_STEP ".endr"
                         : MCUC_GEMM_4X2_OPERANDS
                         : [n] "n"(k2 > 16 ? k2 % 8 : k2)
                         : "memory");
    }
}

/* Requantise and store the 8 sums of a 4x2 block (channels oc .. oc+3, n of them real),
 * one channel at a time: each channel's record is read right before its two stores, which
 * keeps few values live (the int8 stores may alias the records, so gcc keeps this order). */
MCUC_INLINE void mcuc_store_4x2(const int32_t a[8], const int32_t *q, int32_t qw, int32_t e0,
                                int32_t n, int32_t act_min, int32_t act_max, int8_t *out_p,
                                int8_t *out_q)
{
#pragma GCC unroll 4
    for (int32_t c = 0; c < n; ++c) {
        const int32_t m = q[c * qw + 1], r = q[c * qw + 2], s = q[c * qw + 3];
        const int32_t g = e0 ? q[c * qw + 4] : -1;
        const int32_t vp = mcuc_dsp_requant_e0(a[2 * c], m, r, s, g);
        const int32_t vq = mcuc_dsp_requant_e0(a[2 * c + 1], m, r, s, g);
        out_p[c] = (int8_t)MCUC_DSP_CLAMP(vp, act_min, act_max);
        out_q[c] = (int8_t)MCUC_DSP_CLAMP(vq, act_min, act_max);
    }
}

/* One conv layer. `col` holds 2 * K2 words. Pixels are numbered over batches x out_h x out_w;
 * an odd last pixel is computed twice (slot q = slot p) and stored once. */
MCUC_INLINE void mcuc_conv_s8_dsp_body(const int8_t *input, const int16_t *weights,
                                       const int32_t *quant, int8_t *output, int16_t *col,
                                       int32_t batches, int32_t in_h, int32_t in_w,
                                       int32_t in_c, int32_t out_h, int32_t out_w,
                                       int32_t out_c, int32_t k_h, int32_t k_w,
                                       int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                       int32_t dil_w, int32_t pad_top, int32_t pad_left,
                                       int32_t check_bounds, int32_t pad_value, int32_t e0,
                                       int32_t act_min, int32_t act_max)
{
    const int32_t k2 = (k_h * k_w * in_c + 1) / 2;
    const int32_t qw = e0 ? 5 : 4;
    const int32_t pixels = batches * out_h * out_w;
    const int32_t per_image = out_h * out_w;
    for (int32_t p = 0; p < pixels; p += 2) {
        const int32_t q = p + 1 < pixels ? p + 1 : p;
        for (int32_t s = 0; s < 2; ++s) {
            const int32_t n = s ? q : p;
            const int32_t b = n / per_image, r = n % per_image;
            mcuc_im2col_pixel(col, s, input + (size_t)b * in_h * in_w * in_c, r / out_w,
                              r % out_w, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w,
                              dil_h, dil_w, pad_top, pad_left, check_bounds, pad_value);
        }
        int8_t *out_p = output + (size_t)p * out_c;
        int8_t *out_q = output + (size_t)q * out_c;
        const uint32_t *w = (const uint32_t *)(const void *)weights;
        for (int32_t oc = 0; oc < out_c; oc += 4) {
            const int32_t *qr = quant + oc * qw;
            int32_t a[8] = {qr[0], qr[0], qr[qw], qr[qw], qr[2 * qw], qr[2 * qw], qr[3 * qw],
                            qr[3 * qw]};
            mcuc_gemm_4x2(w, (const uint32_t *)(const void *)col, k2, a);
            w += 4 * k2;
            mcuc_store_4x2(a, qr, qw, e0, out_c - oc < 4 ? out_c - oc : 4, act_min, act_max,
                           out_p + oc, out_q + oc);
        }
    }
}

#endif /* MCUC_CONV_S8_DSP_H */
