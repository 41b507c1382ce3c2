/*
 * CONV_2D / FULLY_CONNECTED / DEPTHWISE_CONV_2D, int8, plain C99 for cores without the DSP
 * extension (Cortex-M0/M0+, Cortex-M3) and the host: register-blocked kernels whose loop
 * bounds, strides and offsets are compile-time constants (the generator emits one small
 * wrapper per layer, templates/kernels/conv_s8_fast.c.j2 and depthwise_conv_s8_fast.c.j2,
 * that calls these inline bodies with literals, so gcc unrolls and uses immediate offsets).
 *
 * Algebra (TFLM's integer reference kernels, bit for bit):
 *   acc[o] = bias[o] + sum_k w[o][k] (x[k] + input_offset)
 *          = (bias[o] + input_offset sum_k w[o][k]) + sum_k w[o][k] x[k]
 * The bracket is folded at compile time (passes/kernels_fast.py: `bias_f`, wrapped to int32;
 * int32 sums are exact mod 2^32, so the result equals TFLM's accumulator whenever TFLM's is
 * defined). A tap in the padding then reads the input zero point itself: (zp + input_offset)
 * w = 0, as TFLM's skipped tap. The accumulator is requantised with TFLM's
 * MultiplyByQuantizedMultiplier, plus the output zero point, clamped (mcuc_fixedpoint.h):
 *   folded   when no channel's acc * 2^(left+1) can overflow (checked at compile time, as
 *            for the DSP kernels: passes/pack.py requant_records): mcuc_requant_folded,
 *            records {bias_f, mult, rnd, rsh} (+ sgn when some channel has rsh 0) (+ left+1
 *            when the channels' left shifts differ; else it is the literal lsh);
 *   else     mcuc_requant_split, records {bias_f, mult, rsh, left}.
 *
 * Constants (passes/kernels_fast.py packs them):
 *   quant    per output channel a record of qw int32 (above), channels padded to a multiple
 *            of NC with copies of the last.
 *   GEMM weights, int8 (the model's bytes, same flash): [out_c][K], K = k_h k_w in_c in
 *            natural (ky, kx, c) order, channels padded with zeros to a multiple of NC.
 *   depthwise weights, int8: per channel its k_h x k_w taps, one after the other.
 *
 * GEMM (conv, FC, one-channel depthwise): blocks of NC channels x NP pixels (NP = 2: two
 * neighbouring output pixels of one row, or consecutive pixels of a layer reading its input
 * in place), NC x NP accumulators in registers; per product k: NP input loads, NC weight
 * loads, NC x NP multiply-accumulates (Cortex-M3, 4 x 2: 14 instructions per 8 MACs; the
 * Cortex-M0 has no MLA and eight low registers: 2 x 2). Each pixel reads its window in place
 * as k_h runs of k_w in_c values (no dilation); a window reaching into the padding runs as
 * a 1-pixel block, each kernel row split into the run inside the input and the runs left
 * and right of it, which read `zrow` (a constant row of zero points in flash). A 1x1
 * stride-1 unpadded layer or a fully connected one ("direct") reads consecutive pixels' K
 * values as one run each. No scratch (in place, see below).
 *
 * Depthwise (depth multiplier 1): one channel at a time, per output row the k_h input rows
 * (a padded row: `zrow`, a constant row of zero points in flash), NP output pixels of the
 * row at once (each weight loaded once for NP pixels, neighbouring taps' inputs shared by
 * the pixels). Columns whose window reaches into the left or right padding are unrolled one
 * by one at compile time (their valid taps are literals, the others read the zero point).
 * No scratch; in place (the output over the input), one output plane (out_h x out_w).
 * In place, the 1x1 GEMM (out_c <= in_c) takes np x out_c bytes of scratch.
 */
#ifndef MCUC_CONV_S8_FAST_H
#define MCUC_CONV_S8_FAST_H

#include <stdint.h>
#include <string.h>

#include "mcuc_fixedpoint.h"

#define MCUC_FAST_INLINE static inline __attribute__((always_inline))
#define MCUC_FAST_MAX_NC 4
#define MCUC_FAST_MAX_NP 4

/* Scratch of these kernels (passes/kernels_fast.py: scratch_bytes, tests/test_registry.py):
 * none, except in place: the 1x1 GEMM's np pixels of out_c outputs, the depthwise kernel's
 * output plane (out_h x out_w). */
static inline size_t mcuc_conv_s8_fast_scratch_bytes(int32_t depthwise, int32_t inplace,
                                                     int32_t np, int32_t out_c, int32_t out_h,
                                                     int32_t out_w)
{
    if (!inplace) {
        return 0;
    }
    return depthwise ? (size_t)out_h * (size_t)out_w : (size_t)np * (size_t)out_c;
}

/* The layer's requantisation, literals in the generated wrapper: records of qw words;
 * folded (see the top), with e0 (an sgn column) and lsh (the accumulators' left shift, -1:
 * the records' last column); the output zero point and the activation range. */
typedef struct {
    int32_t qw, folded, e0, lsh, out_zp, act_min, act_max;
} mcuc_fast_rq;

/* Requantise one accumulator with record q (TFLM's arithmetic, mcuc_fixedpoint.h). */
MCUC_FAST_INLINE int8_t mcuc_fast_requant(int32_t acc, const int32_t *q, const mcuc_fast_rq rq)
{
    int32_t v;
    if (rq.folded) {
        const int32_t l = rq.lsh >= 0 ? rq.lsh : q[rq.qw - 1];
        v = mcuc_requant_folded((int32_t)((uint32_t)acc << l), q[1], q[2], q[3],
                                rq.e0 ? q[4] : -1);
    } else {
        v = mcuc_requant_split(acc, q[1], rq.out_zp, q[2], q[3]);
    }
    return (int8_t)mcuc_clamp(v, rq.act_min, rq.act_max);
}

/* The NC x NP sums of one GEMM block: pixel t's window starts at x + t * px_stride, made of
 * `rows` runs of `run` values `row_stride` apart; channel c's weights at w + c * k. Every
 * load is base[j] with one index j (the Cortex-M0's LDRSB takes only a register offset). */
MCUC_FAST_INLINE void mcuc_fast_dot(const int8_t *x, const int8_t *w, int32_t *acc,
                                    int32_t rows, int32_t run, int32_t row_stride,
                                    int32_t px_stride, int32_t k, int32_t nc, int32_t np)
{
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *xr = x + r * row_stride;
        const int8_t *wr = w + r * run;
        for (int32_t j = 0; j < run; ++j) {
            int32_t xv[MCUC_FAST_MAX_NP];
#pragma GCC unroll 4
            for (int32_t t = 0; t < np; ++t) {
                xv[t] = xr[t * px_stride + j];
            }
#pragma GCC unroll 4
            for (int32_t c = 0; c < nc; ++c) {
                const int32_t wv = wr[c * k + j];
#pragma GCC unroll 4
                for (int32_t t = 0; t < np; ++t) {
                    acc[c * np + t] += wv * xv[t];
                }
            }
        }
    }
}

/* The window of a pixel reaching into the padding: its top-left input (y0, x0) in the
 * image `in`, and `zrow`, k_w * in_c zero points for the taps outside it. */
typedef struct {
    const int8_t *in, *zrow;
    int32_t y0, x0, in_h, in_w, in_c, k_h, k_w;
} mcuc_fast_border;

/* The nc sums of one pixel whose window reaches into the padding: per kernel row, the run
 * of columns inside the input read it, the columns left and right of it the zero points. */
MCUC_FAST_INLINE void mcuc_fast_dot_border(const mcuc_fast_border *bw, const int8_t *w,
                                           int32_t *acc, int32_t k, int32_t nc)
{
    const int32_t in_c = bw->in_c, run = bw->k_w * in_c;
    int32_t lo = bw->x0 < 0 ? -bw->x0 : 0;
    int32_t hi = bw->x0 + bw->k_w > bw->in_w ? bw->in_w - bw->x0 : bw->k_w;
    lo = lo < bw->k_w ? lo : bw->k_w;
    hi = hi > lo ? hi : lo;
    for (int32_t ky = 0; ky < bw->k_h; ++ky, w += run) {
        const int32_t y = bw->y0 + ky;
        if (y < 0 || y >= bw->in_h) {
            mcuc_fast_dot(bw->zrow, w, acc, 1, run, 0, 0, k, nc, 1);
            continue;
        }
        if (lo > 0) {
            mcuc_fast_dot(bw->zrow, w, acc, 1, lo * in_c, 0, 0, k, nc, 1);
        }
        if (hi > lo) {
            mcuc_fast_dot(bw->in + ((size_t)y * bw->in_w + bw->x0 + lo) * in_c, w + lo * in_c,
                          acc, 1, (hi - lo) * in_c, 0, 0, k, nc, 1);
        }
        if (hi < bw->k_w) {
            mcuc_fast_dot(bw->zrow, w + hi * in_c, acc, 1, (bw->k_w - hi) * in_c, 0, 0, k, nc,
                          1);
        }
    }
}

/* One block: np pixels (outputs at out, out + out_c, ...) x all channels, nc at a time;
 * with `border` (np = 1) the pixel's window reaches into the padding. */
MCUC_FAST_INLINE void mcuc_fast_gemm_block(const int8_t *x, const int8_t *weights,
                                           const int32_t *quant, int8_t *out, int32_t rows,
                                           int32_t run, int32_t row_stride, int32_t px_stride,
                                           int32_t out_c, int32_t nc, int32_t np,
                                           const mcuc_fast_border *border,
                                           const mcuc_fast_rq rq)
{
    const int32_t k = rows * run;
    const int8_t *w = weights;
    for (int32_t oc = 0; oc < out_c; oc += nc, w += nc * k) {
        const int32_t *q = quant + rq.qw * oc;
        int32_t acc[MCUC_FAST_MAX_NC * MCUC_FAST_MAX_NP];
#pragma GCC unroll 4
        for (int32_t c = 0; c < nc; ++c) {
#pragma GCC unroll 4
            for (int32_t t = 0; t < np; ++t) {
                acc[c * np + t] = q[rq.qw * c];
            }
        }
        if (border) {
            mcuc_fast_dot_border(border, w, acc, k, nc);
        } else {
            mcuc_fast_dot(x, w, acc, rows, run, row_stride, px_stride, k, nc, np);
        }
        const int32_t n = out_c - oc < nc ? out_c - oc : nc;
#pragma GCC unroll 4
        for (int32_t c = 0; c < nc; ++c) {
            if (c < n) {
#pragma GCC unroll 4
                for (int32_t t = 0; t < np; ++t) {
                    out[t * out_c + oc + c] = mcuc_fast_requant(acc[c * np + t],
                                                                q + rq.qw * c, rq);
                }
            }
        }
    }
}

/* A conv layer (no dilation) as blocks of nc channels x np pixels along each output row;
 * `zrow`: k_w * in_c zero points (NULL when no window reaches into the padding). */
MCUC_FAST_INLINE void mcuc_conv_s8_fast_body(const int8_t *input, const int8_t *weights,
                                             const int32_t *quant, int8_t *output,
                                             const int8_t *zrow, int32_t batches, int32_t in_h,
                                             int32_t in_w, int32_t in_c, int32_t out_h,
                                             int32_t out_w, int32_t out_c, int32_t k_h,
                                             int32_t k_w, int32_t stride_h, int32_t stride_w,
                                             int32_t pad_top, int32_t pad_left, int32_t nc,
                                             int32_t np, const mcuc_fast_rq rq)
{
    const int32_t run = k_w * in_c, row_stride = in_w * in_c;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * stride_h - pad_top;
            const int rows_in = y0 >= 0 && y0 + k_h <= in_h;
            int8_t *out = output + ((size_t)(b * out_h + oy) * out_w) * out_c;
            int32_t ox = 0;
            while (ox < out_w) {
                const int32_t x0 = ox * stride_w - pad_left;
                const int32_t left = out_w - ox;
                const int32_t n = left < np ? left : np;
                const int inside = rows_in && x0 >= 0
                                   && x0 + (n - 1) * stride_w + k_w <= in_w;
                if (inside && n == np) {
                    mcuc_fast_gemm_block(in + ((size_t)y0 * in_w + x0) * in_c, weights, quant,
                                         out + ox * out_c, k_h, run, row_stride,
                                         stride_w * in_c, out_c, nc, np, 0, rq);
                    ox += np;
                } else if (inside) {
                    mcuc_fast_gemm_block(in + ((size_t)y0 * in_w + x0) * in_c, weights, quant,
                                         out + ox * out_c, k_h, run, row_stride, 0, out_c, nc,
                                         1, 0, rq);
                    ox += 1;
                } else {
                    const mcuc_fast_border bw = {in, zrow, y0, x0, in_h, in_w, in_c, k_h, k_w};
                    mcuc_fast_gemm_block(0, weights, quant, out + ox * out_c, k_h, run, 0, 0,
                                         out_c, nc, 1, &bw, rq);
                    ox += 1;
                }
            }
        }
    }
}

/* A layer reading each pixel's k inputs as one run in place (1x1 stride-1 unpadded conv,
 * fully connected): `pixels` runs one after the other, np at a time. `inplace` (out_c <= k,
 * output == input): a block's outputs go to `scratch` (np * out_c bytes) and then over its
 * own inputs' first bytes, which no later block reads ([p out_c, (p + np) out_c) lies below
 * the next block's inputs at (p + np) k). */
MCUC_FAST_INLINE void mcuc_conv_s8_fast_direct_body(const int8_t *input, const int8_t *weights,
                                                    const int32_t *quant, int8_t *output,
                                                    int8_t *scratch, int32_t pixels, int32_t k,
                                                    int32_t out_c, int32_t nc, int32_t np,
                                                    int32_t inplace, const mcuc_fast_rq rq)
{
    int32_t p = 0;
    for (; p < pixels; p += np) {
        const int32_t n = pixels - p < np ? pixels - p : np;
        int8_t *out = inplace ? scratch : output + (size_t)p * out_c;
        if (n == np) {
            mcuc_fast_gemm_block(input + (size_t)p * k, weights, quant, out, 1, k, 0, k, out_c,
                                 nc, np, 0, rq);
        } else {
            mcuc_fast_gemm_block(input + (size_t)p * k, weights, quant, out, 1, k, 0, 0, out_c,
                                 nc, 1, 0, rq);
        }
        if (inplace) {
            memcpy(output + (size_t)p * out_c, scratch, (size_t)(n * out_c));
        }
    }
}

/* Depthwise: np output pixels of one row for one channel. rows[ky]: input row ky of the
 * window (at the channel's first value); x0: the first pixel's leftmost input column; taps
 * with kx outside [kx_lo, kx_hi) read pad_value (only at the row's borders, where np = 1).
 * Outputs at out, out + ostride, ... */
MCUC_FAST_INLINE void mcuc_fast_dw_pixels(const int8_t *const rows[], const int8_t *w,
                                          const int32_t *q, int8_t *out, int32_t ostride,
                                          int32_t x0, int32_t k_h, int32_t k_w,
                                          int32_t stride_w, int32_t in_c, int32_t np,
                                          int32_t kx_lo, int32_t kx_hi, int32_t pad_value,
                                          const mcuc_fast_rq rq)
{
    int32_t acc[MCUC_FAST_MAX_NP];
#pragma GCC unroll 4
    for (int32_t t = 0; t < np; ++t) {
        acc[t] = q[0];
    }
#pragma GCC unroll 16
    for (int32_t ky = 0; ky < k_h; ++ky) {
        const int8_t *r = rows[ky];
#pragma GCC unroll 16
        for (int32_t kx = 0; kx < k_w; ++kx) {
            const int32_t wv = w[ky * k_w + kx];
#pragma GCC unroll 4
            for (int32_t t = 0; t < np; ++t) {
                const int32_t xv = kx >= kx_lo && kx < kx_hi
                                       ? r[(x0 + t * stride_w + kx) * in_c] : pad_value;
                acc[t] += wv * xv;
            }
        }
    }
#pragma GCC unroll 4
    for (int32_t t = 0; t < np; ++t) {
        out[t * ostride] = mcuc_fast_requant(acc[t], q, rq);
    }
}

/* A depthwise layer, depth multiplier 1, no dilation, k_h <= 16, one channel at a time.
 * `zrow`: in_w * in_c zero points (the rows above and below the input). Columns
 * [lo_cols, hi_cols) read no padding, np at a time; the others are unrolled one by one.
 * `inplace` (output == input): each channel's out_h x out_w plane goes to `scratch`, then to
 * positions p * in_c + c, which only that channel's inputs occupy. */
MCUC_FAST_INLINE void mcuc_depthwise_conv_s8_fast_body(
    const int8_t *input, const int8_t *weights, const int32_t *quant, int8_t *output,
    const int8_t *zrow, int8_t *scratch, int32_t batches, int32_t in_h, int32_t in_w,
    int32_t in_c, int32_t out_h, int32_t out_w, int32_t k_h, int32_t k_w, int32_t stride_h,
    int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t pad_value, int32_t np,
    int32_t lo_cols, int32_t hi_cols, int32_t inplace, const mcuc_fast_rq rq)
{
    const int32_t ostride = inplace ? 1 : in_c;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + (size_t)b * in_h * in_w * in_c;
        int8_t *out_b = output + (size_t)b * out_h * out_w * in_c;
        for (int32_t c = 0; c < in_c; ++c) {
            const int8_t *w = weights + c * k_h * k_w;
            const int32_t *q = quant + rq.qw * c;
            int8_t *plane = inplace ? scratch : out_b + c;
            for (int32_t oy = 0; oy < out_h; ++oy) {
                const int8_t *rows[16];
                const int32_t y0 = oy * stride_h - pad_top;
#pragma GCC unroll 16
                for (int32_t ky = 0; ky < k_h; ++ky) {
                    const int32_t y = y0 + ky;
                    rows[ky] = (y >= 0 && y < in_h ? in + (size_t)y * in_w * in_c : zrow) + c;
                }
                int8_t *o = plane + oy * out_w * ostride;
#pragma GCC unroll 4
                for (int32_t ox = 0; ox < lo_cols; ++ox) {
                    const int32_t x0 = ox * stride_w - pad_left;
                    mcuc_fast_dw_pixels(rows, w, q, o + ox * ostride, ostride, x0, k_h, k_w,
                                        stride_w, in_c, 1, x0 < 0 ? -x0 : 0,
                                        x0 + k_w > in_w ? in_w - x0 : k_w, pad_value, rq);
                }
                int32_t ox = lo_cols;
                for (; ox + np <= hi_cols; ox += np) {
                    mcuc_fast_dw_pixels(rows, w, q, o + ox * ostride, ostride,
                                        ox * stride_w - pad_left, k_h, k_w, stride_w, in_c, np,
                                        0, k_w, pad_value, rq);
                }
                for (; ox < hi_cols; ++ox) {
                    mcuc_fast_dw_pixels(rows, w, q, o + ox * ostride, ostride,
                                        ox * stride_w - pad_left, k_h, k_w, stride_w, in_c, 1,
                                        0, k_w, pad_value, rq);
                }
#pragma GCC unroll 4
                for (int32_t ox2 = hi_cols; ox2 < out_w; ++ox2) {
                    const int32_t x0 = ox2 * stride_w - pad_left;
                    mcuc_fast_dw_pixels(rows, w, q, o + ox2 * ostride, ostride, x0, k_h, k_w,
                                        stride_w, in_c, 1, x0 < 0 ? -x0 : 0,
                                        x0 + k_w > in_w ? in_w - x0 : k_w, pad_value, rq);
                }
            }
            if (inplace) {
                for (int32_t p = 0; p < out_h * out_w; ++p) {
                    out_b[(size_t)p * in_c + c] = scratch[p];
                }
            }
        }
    }
}

#endif /* MCUC_CONV_S8_FAST_H */
