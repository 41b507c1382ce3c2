/*
 * CONV_2D / FULLY_CONNECTED, int8, Helium (MVE) path: im2col (int8) + 2x2-blocked GEMM with
 * VMLADAVA (16 multiply-accumulates per instruction, summed into a scalar).
 *
 * The body is a static inline function of compile-time constants, called with literals by a
 * wrapper generated per layer (templates/kernels/conv_s8_mve.c.j2).
 *
 * Data layout (mcucompile/passes/pack.py):
 *   - K = k_h * k_w * in_c products per output in natural order, in chunks of 16 (the last
 *     one shorter: it is loaded with a tail predicate, and its weights are zero-padded);
 *   - weights: int8, for each pair of output channels (a, b) and chunk j the 32 bytes
 *     {a: w[16j .. 16j+15], b: ...}; an odd last channel is paired with zeros;
 *   - quant: per channel pair {bias a, bias b, mult a, mult b, -rsh a, -rsh b} (+ {left
 *     a, left b} with has_left), see mcuc_mve.h, read as lanes (p, a) (p, b) (q, a) (q, b)
 *     by gather loads from a vector of addresses that each load moves on by 8 bytes. The input offset is folded into
 *     the bias: padding taps read the zero point, whose product is then 0;
 *   - im2col scratch: the K int8 values of pixel p, then of pixel q, each padded to 16 * nk.
 * A 1x1, stride-1, unpadded layer reads its input rows directly (no im2col).
 *
 * Per chunk: 4 loads + 4 VMLADAVA = 64 MACs; the four sums are requantised as one vector and
 * stored with one byte scatter.
 */
#ifndef MCUC_CONV_S8_MVE_H
#define MCUC_CONV_S8_MVE_H

#include <stdint.h>
#include <string.h>
#include <arm_mve.h>

#include "mcuc_mve.h"

/* n bytes from src (or n copies of pad_value) to dst. */
MCUC_INLINE void mcuc_mve_copy(int8_t *dst, const int8_t *src, int32_t n, int32_t pad_value)
{
    if (n < 4) {
        for (int32_t i = 0; i < n; ++i) {
            dst[i] = src ? src[i] : (int8_t)pad_value;
        }
        return;
    }
    const int8x16_t padv = vdupq_n_s8((int8_t)pad_value);
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        vstrbq_s8(dst + i, src ? vldrbq_s8(src + i) : padv);
    }
    if (i < n) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, src ? vldrbq_z_s8(src + i, pr) : padv, pr);
    }
}

/* im2col of one output pixel: a kernel row without dilation whose taps are all inside the
 * input is one run of k_w * in_c bytes; rows at the borders go tap by tap. */
MCUC_INLINE void mcuc_mve_im2col(int8_t *col, const int8_t *in, int32_t oy, int32_t ox,
                                 int32_t in_h, int32_t in_w, int32_t in_c, int32_t k_h,
                                 int32_t k_w, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                 int32_t dil_w, int32_t pad_top, int32_t pad_left,
                                 int32_t check_bounds, int32_t pad_value)
{
    const int32_t x0 = ox * stride_w - pad_left;
    const int row_inside = !check_bounds || (x0 >= 0 && x0 + (k_w - 1) * dil_w < in_w);
    for (int32_t ky = 0; ky < k_h; ++ky, col += k_w * in_c) {
        const int32_t y = oy * stride_h - pad_top + ky * dil_h;
        const int8_t *row = in + ((size_t)y * in_w + x0) * in_c;
        if (check_bounds && (y < 0 || y >= in_h)) {
            mcuc_mve_copy(col, 0, k_w * in_c, pad_value);
        } else if (dil_w == 1 && row_inside) {
            mcuc_mve_copy(col, row, k_w * in_c, pad_value);
        } else {
            for (int32_t kx = 0; kx < k_w; ++kx) {
                const int32_t x = x0 + kx * dil_w;
                const int inside = !check_bounds || (x >= 0 && x < in_w);
                mcuc_mve_copy(col + kx * in_c, inside ? row + kx * dil_w * in_c : 0, in_c,
                              pad_value);
            }
        }
    }
}

/* Sums of chunks [0, nk) for pixels p, q and channels a, b: per chunk 4 loads + 4 VMLADAVA
 * in a low-overhead loop (written out: gcc keeps re-deriving the pointers). */
MCUC_INLINE void mcuc_mve_gemm_2x2(const int8_t *xp, const int8_t *xq, const int8_t *w,
                                   int32_t nk, int32_t *pa, int32_t *pb, int32_t *qa,
                                   int32_t *qb)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    if (nk == 1) {
        __asm__("vldrb.u8 q0, [%[xp]]\n\t"
                "vldrb.u8 q2, [%[w]]\n\t"
                "vldrb.u8 q3, [%[w], #16]\n\t"
                "vldrb.u8 q1, [%[xq]]\n\t"
                "vmlav.s8 %[a0], q0, q2\n\t"
                "vmlav.s8 %[a1], q0, q3\n\t"
                "vmlav.s8 %[a2], q1, q2\n\t"
                "vmlav.s8 %[a3], q1, q3"
                : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3)
                : [xp] "r"(xp), [xq] "r"(xq), [w] "r"(w)
                : "q0", "q1", "q2", "q3", "memory");
    } else {
        __asm__("dls lr, %[n]\n"
                "1:\tvldrb.u8 q0, [%[xp]], #16\n\t"
                "vldrb.u8 q2, [%[w]], #16\n\t"
                "vldrb.u8 q3, [%[w]], #16\n\t"
                "vldrb.u8 q1, [%[xq]], #16\n\t"
                "vmlava.s8 %[a0], q0, q2\n\t"
                "vmlava.s8 %[a1], q0, q3\n\t"
                "vmlava.s8 %[a2], q1, q2\n\t"
                "vmlava.s8 %[a3], q1, q3\n\t"
                "le lr, 1b"
                : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3),
                  [xp] "+r"(xp), [xq] "+r"(xq), [w] "+r"(w)
                : [n] "r"(nk)
                : "q0", "q1", "q2", "q3", "lr", "memory");
    }
    *pa = a0;
    *pb = a1;
    *qa = a2;
    *qb = a3;
}

MCUC_INLINE void mcuc_conv_s8_mve_body(const int8_t *input, const int8_t *weights,
                                       const int32_t *quant, int8_t *output, int8_t *col,
                                       int32_t batches, int32_t in_h, int32_t in_w,
                                       int32_t in_c, int32_t out_h, int32_t out_w,
                                       int32_t out_c, int32_t k_h, int32_t k_w,
                                       int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                       int32_t dil_w, int32_t pad_top, int32_t pad_left,
                                       int32_t check_bounds, int32_t pad_value, int32_t direct,
                                       int32_t has_left, int32_t all_shift, int32_t out_zp,
                                       int32_t act_min, int32_t act_max)
{
    const int32_t k = k_h * k_w * in_c;
    const int32_t nk = (k + 15) / 16;
    const int32_t pixels = batches * out_h * out_w;
    const int32_t per_image = out_h * out_w;
    for (int32_t p = 0; p < pixels; p += 2) {
        const int32_t q = p + 1 < pixels ? p + 1 : p;
        const int8_t *xp, *xq;
        if (direct) {                  /* k % 16 == 0: the rows are read in place */
            xp = input + (size_t)p * k;
            xq = input + (size_t)q * k;
        } else {
            for (int32_t s = 0; s < 2; ++s) {
                const int32_t n = s ? q : p;
                const int32_t b = n / per_image, r = n % per_image;
                mcuc_mve_im2col(col + s * 16 * nk, input + (size_t)b * in_h * in_w * in_c,
                                r / out_w, r % out_w, in_h, in_w, in_c, k_h, k_w, stride_h,
                                stride_w, dil_h, dil_w, pad_top, pad_left, check_bounds,
                                pad_value);
            }
            xp = col;
            xq = col + 16 * nk;
        }
        /* byte offsets of the four lanes (p, a) (p, b) (q, a) (q, b) from out + p * out_c */
        const int32_t dq = (q - p) * out_c;
        const uint32x4_t offsets = vreinterpretq_u32_s32(mcuc_mve_vec4(0, 1, dq, dq + 1));
        int8_t *out = output + (size_t)p * out_c;
        const int8_t *w = weights;
        /* lanes a, b, a, b of the record field before the first: each gather goes 8 on */
        uint32x4_t rec = vaddq_n_u32(vreinterpretq_u32_s32(mcuc_mve_vec4(-8, -4, -8, -4)),
                                     (uint32_t)(uintptr_t)quant);
        for (int32_t oc = 0; oc < out_c; oc += 2, w += 32 * nk) {
            int32_t pa, pb, qa, qb;
            mcuc_mve_gemm_2x2(xp, xq, w, nk, &pa, &pb, &qa, &qb);
            const int32x4_t bias = vldrwq_gather_base_wb_s32(&rec, 8);
            const int32x4_t mult = vldrwq_gather_base_wb_s32(&rec, 8);
            const int32x4_t neg_rsh = vldrwq_gather_base_wb_s32(&rec, 8);
            const int32x4_t left = has_left ? vldrwq_gather_base_wb_s32(&rec, 8) : mult;
            int32x4_t acc = vaddq_s32(mcuc_mve_vec4(pa, pb, qa, qb), bias);
            acc = mcuc_mve_requant(acc, mult, neg_rsh, left, has_left, all_shift, out_zp,
                                   act_min, act_max);
            if (oc + 1 < out_c) {
                vstrbq_scatter_offset_s32(out + oc, offsets, acc);
            } else {
                /* odd last channel: lanes (p, a) and (q, a) only. (Scalar stores: gcc 12
                 * mixes up constant predicates.) */
                out[oc] = (int8_t)vgetq_lane_s32(acc, 0);
                out[oc + dq] = (int8_t)vgetq_lane_s32(acc, 2);
            }
        }
    }
}

#endif /* MCUC_CONV_S8_MVE_H */
