/*
 * DEPTHWISE_CONV_2D, int8, Helium (MVE) path: per-row window planes + one VMLADAVA per output.
 *
 * VMLADAVA multiplies 16 int8 lanes and sums them into one scalar: one output of one channel
 * if the lanes hold that output's k_h x k_w taps. For each output row the kernel copies the
 * k_h input rows it reads into one plane per channel, column by column ([in_c][plane_w][k_h],
 * zero point in the padding): the taps of output x are then the k_w * k_h contiguous bytes
 * from column x * stride, in (kx, ky) order. The copy goes 8 channels at a time (a widening
 * load of 8 channels and a byte scatter into 8 planes).
 *
 * Per output and channel: one load of the window and one VMLADAVA (two of each past 16 taps);
 * four channels are requantised as one vector (mcuc_mve.h) and stored with one 32-bit store.
 *
 * Layout (mcucompile/passes/pack.py): weights int8, per output channel its k_h*k_w taps in
 * (kx, ky) order: up to 16 taps back to back (loaded with a tail predicate, which zeroes the
 * lanes past them), more in nch = ceil(k_h*k_w/16) zero-padded chunks of 16, with 15 bytes of
 * slack after the last channel either way; quant per group of four output channels
 * {bias x4, mult x4, -rsh x4} (+ left x4 with has_left) with the input offset folded into the bias. The last
 * window's read runs up to 15 bytes past its taps: planes have 16 bytes of slack.
 *
 * When the planes of all channels do not fit the scratch, the generated code makes them for
 * a chunk of input channels at a time (a multiple of 4), and the output channels of that
 * chunk from them.
 */
#ifndef MCUC_DEPTHWISE_CONV_S8_MVE_H
#define MCUC_DEPTHWISE_CONV_S8_MVE_H

#include <stdint.h>
#include <arm_mve.h>

#include "mcuc_mve.h"

/* One plane column (all channels, row r) set to the zero point. */
MCUC_INLINE void mcuc_mve_dw_pad_column(int8_t *dst, uint16x8_t offs, int16x8_t padv,
                                        int32_t in_c, int32_t plane)
{
    int32_t c = 0;
    for (; c + 8 <= in_c; c += 8) {
        vstrbq_scatter_offset_s16(dst + c * plane, offs, padv);
    }
    if (c < in_c) {
        vstrbq_scatter_offset_p_s16(dst + c * plane, offs, padv, vctp16q((uint32_t)(in_c - c)));
    }
}

/* Planes for output row `oy`: input rows oy * stride_h - pad_top + r, r < k_h, of the
 * channels [0, in_c) of `in` (pixels `stride` bytes apart). */
MCUC_INLINE void mcuc_mve_dw_planes(int8_t *planes, const int8_t *in, int32_t iy0,
                                    int32_t in_h, int32_t in_w, int32_t in_c, int32_t stride,
                                    int32_t k_h, int32_t pad_left, int32_t cols, int32_t plane,
                                    int32_t pad_value)
{
    const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)plane);
    const int16x8_t padv = vdupq_n_s16((int16_t)pad_value);
    const int32_t x_end = pad_left + in_w < cols ? pad_left + in_w : cols;
    for (int32_t r = 0; r < k_h; ++r) {
        const int32_t iy = iy0 + r;
        const int row_ok = iy >= 0 && iy < in_h;
        int32_t x = 0;
        if (row_ok) {
            for (; x < pad_left; ++x) {
                mcuc_mve_dw_pad_column(planes + x * k_h + r, offs, padv, in_c, plane);
            }
            const int8_t *src = in + (iy * in_w + x - pad_left) * stride;
            for (; x < x_end; ++x, src += stride) {
                int8_t *dst = planes + x * k_h + r;
                int32_t c = 0;
#pragma GCC unroll 8
                for (; c + 8 <= in_c; c += 8) {
                    vstrbq_scatter_offset_s16(dst + c * plane, offs, vldrbq_s16(src + c));
                }
                if (c < in_c) {
                    const mve_pred16_t pr = vctp16q((uint32_t)(in_c - c));
                    vstrbq_scatter_offset_p_s16(dst + c * plane, offs,
                                                vldrbq_z_s16(src + c, pr), pr);
                }
            }
        }
        for (; x < cols; ++x) {
            mcuc_mve_dw_pad_column(planes + x * k_h + r, offs, padv, in_c, plane);
        }
    }
}

/* Sums of one output's window for four channels (one chunk of 16 taps): per channel one
 * window load (post-incremented by `step` to the next output) and one VMLADAV. */
#define MCUC_MVE_DW_SUMS4(p0, p1, p2, p3, w0, w1, w2, w3, step, a0, a1, a2, a3)             \
    __asm__("vldrb.u8 q7, [%[q0]], %[st]\n\t"                                            \
            "vmlav.s8 %[r0], q7, %q[v0]\n\t"                                              \
            "vldrb.u8 q7, [%[q1]], %[st]\n\t"                                            \
            "vmlav.s8 %[r1], q7, %q[v1]\n\t"                                              \
            "vldrb.u8 q7, [%[q2]], %[st]\n\t"                                            \
            "vmlav.s8 %[r2], q7, %q[v2]\n\t"                                              \
            "vldrb.u8 q7, [%[q3]], %[st]\n\t"                                            \
            "vmlav.s8 %[r3], q7, %q[v3]"                                                    \
            : [r0] "=&Te"(a0), [r1] "=&Te"(a1), [r2] "=&Te"(a2), [r3] "=&Te"(a3),            \
              [q0] "+r"(p0), [q1] "+r"(p1), [q2] "+r"(p2), [q3] "+r"(p3)                      \
            : [v0] "w"(w0), [v1] "w"(w1), [v2] "w"(w2), [v3] "w"(w3), [st] "n"(step),         \
              "m"(*(const int8_t(*)[1])p0)                                                     \
            : "q7")

/* Output row `oy` for the output channels [c0, c0 + 4) (fewer at the end), from the planes
 * of input channels ch0 onwards. */
MCUC_INLINE void mcuc_mve_dw_row4(const int8_t *planes, const int8_t *weights,
                                  const int32_t *quant, int8_t *out_row, int32_t c0,
                                  int32_t ch0, int32_t out_c, int32_t out_w,
                                  int32_t depth_mult, int32_t stride_w, int32_t k_h,
                                  int32_t taps, int32_t nch, int32_t plane, int32_t has_left,
                                  int32_t all_shift, int32_t out_zp, int32_t act_min,
                                  int32_t act_max)
{
    const int32_t n = out_c - c0 < 4 ? out_c - c0 : 4;
    const int8_t *p0 = planes + (c0 / depth_mult - ch0) * plane;
    const int8_t *p1 = planes + ((c0 + (n > 1)) / depth_mult - ch0) * plane;
    const int8_t *p2 = planes + ((c0 + 2 * (n > 2)) / depth_mult - ch0) * plane;
    const int8_t *p3 = planes + ((c0 + 3 * (n > 3)) / depth_mult - ch0) * plane;
    const int32_t wc = nch == 1 ? taps : 16 * nch;        /* weight bytes per channel */
    const int8_t *w = weights + c0 * wc;
    const int32x4_t bias = vldrwq_s32(quant), mult = vldrwq_s32(quant + 4);
    const int32x4_t nrsh = vldrwq_s32(quant + 8);
    const int32x4_t left = has_left ? vldrwq_s32(quant + 12) : nrsh;
    const int32_t step = stride_w * k_h;
    int8x16_t w0, w1, w2, w3;
    if (nch == 1) {   /* one VPT block for the four tail loads (lanes past the taps: zero) */
        const mve_pred16_t tail = vctp8q((uint32_t)taps);
        __asm__("vpstttt\n\t"
                "vldrbt.u8 %q[w0], [%[w]]\n\t"
                "vldrbt.u8 %q[w1], [%[w], #%c[o1]]\n\t"
                "vldrbt.u8 %q[w2], [%[w], #%c[o2]]\n\t"
                "vldrbt.u8 %q[w3], [%[w], #%c[o3]]"
                : [w0] "=&w"(w0), [w1] "=&w"(w1), [w2] "=&w"(w2), [w3] "=&w"(w3)
                : [p] "Up"(tail), [w] "r"(w), [o1] "n"(wc), [o2] "n"(2 * wc),
                  [o3] "n"(3 * wc), "m"(*(const int8_t(*)[4 * 16])w));
    } else {          /* (not read: the chunk loop loads its weights) */
        w0 = w1 = w2 = w3 = vdupq_n_s8(0);
    }
    int8_t *o = out_row + c0;
    for (int32_t x = 0; x < out_w; ++x) {
        int32_t a0, a1, a2, a3;
        if (nch == 1) {
            MCUC_MVE_DW_SUMS4(p0, p1, p2, p3, w0, w1, w2, w3, step, a0, a1, a2, a3);
        } else {
            a0 = a1 = a2 = a3 = 0;
            for (int32_t j = 0; j < nch; ++j) {
                a0 = vmladavaq_s8(a0, vldrbq_s8(p0 + 16 * j), vldrbq_s8(w + 16 * j));
                a1 = vmladavaq_s8(a1, vldrbq_s8(p1 + 16 * j), vldrbq_s8(w + 16 * (nch + j)));
                a2 = vmladavaq_s8(a2, vldrbq_s8(p2 + 16 * j),
                                  vldrbq_s8(w + 16 * (2 * nch + j)));
                a3 = vmladavaq_s8(a3, vldrbq_s8(p3 + 16 * j),
                                  vldrbq_s8(w + 16 * (3 * nch + j)));
            }
            p0 += step;
            p1 += step;
            p2 += step;
            p3 += step;
        }
        int32x4_t acc = vaddq_s32(mcuc_mve_vec4(a0, a1, a2, a3), bias);
        acc = mcuc_mve_requant(acc, mult, nrsh, left, has_left, all_shift, out_zp, act_min,
                               act_max);
        if (n == 4) {
            vstrbq_s32(o, acc);
        } else {
            /* scalar stores: gcc 12 mixes up constant predicates (see conv_s8_mve.h) */
            o[0] = (int8_t)vgetq_lane_s32(acc, 0);
            if (n > 1) {
                o[1] = (int8_t)vgetq_lane_s32(acc, 1);
            }
            if (n > 2) {
                o[2] = (int8_t)vgetq_lane_s32(acc, 2);
            }
        }
        o += out_c;
    }
}

#endif /* MCUC_DEPTHWISE_CONV_S8_MVE_H */
