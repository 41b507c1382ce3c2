/*
 * CONV_2D / FULLY_CONNECTED, int8, Armv7E-M DSP path: im2col to int16 + register-blocked GEMM.
 *
 * The body is a static inline function of compile-time constants: the generator emits one
 * small wrapper per layer (templates/kernels/conv_s8_dsp.c.j2) that calls it with the layer's
 * shapes as literals, so gcc specialises loops, strides and bounds checks for that layer.
 *
 * Data layout (prepared by passes/pack.py):
 *   - K = k_h * k_w * in_c products per output, taken in pairs j = 0 .. K2-1 (K2 = ceil(K/2));
 *     natural (ky, kx, c) order, except with perm4 (a kernel row's run of values, k_w * in_c
 *     without dilation, else in_c, is a multiple of 4): then each aligned group of 4 products
 *     (k0 k1 k2 k3) is paired as (k0, k2), (k1, k3), the order SXTB16 produces from one
 *     32-bit load, so im2col copies whole words without repacking.
 *   - im2col scratch: `slots` output pixels (1, 2 or 4) interleaved per pair j: {p0: x[2j]
 *     x[2j+1], p1: ..., } as int16, 4 * slots bytes per pair.
 *   - weights, one of two encodings (w8):
 *     int16 (w8 = 0, 2 slots): times 2^(left+1) (see mcuc_dsp.h), for each group of four
 *       output channels (a, b, c, d) and each j the four words {a: w[2j] w[2j+1], b: ..., c,
 *       d}. Per pair: 3 loads (inputs p|q, weights a|b, c|d) + 8 SMLAD = 16 MACs.
 *     int8 (w8 = 1), half the flash: per pair of channels (a, b), for each pair j the four
 *       bytes {a[2j], b[2j], a[2j+1], b[2j+1]}: SXTB16 of the word gives (a[2j], a[2j+1]),
 *       SXTB16 of it rotated by 8 gives (b[2j], b[2j+1]), the order of the im2col pairs (the
 *       reordering is done at compile time, so unpacking is two instructions); channel pairs
 *       one after the other, channels padded to a multiple of 4. The factor 2^(left+1) is
 *       applied to the sum before requantisation instead (lsh: a literal when every channel
 *       has the same, else the records' last column). Blocks:
 *         4 slots, 2 channels: per pair 2 LDRD (inputs) + 1 LDR + 2 SXTB16 + 8 SMLAD;
 *         2 slots, 4 channels (half the scratch; also the last 1-2 pixels of a layer run
 *         with 4 slots): 1 LDRD + 2 LDR + 4 SXTB16 + 8 SMLAD, the second channel pair read
 *         at an immediate offset of 4 * K2 bytes (K2 <= MCUC_GEMM_S8_MAX_K2).
 *     Missing channels of the last group are all-zero (their records: copies of the last).
 *   - one pixel per block (slots = 1: the im2col scratch of a single pixel, 4 * K2 bytes),
 *     4 channels, the weights of the 2-slot blocks (int16: per two pairs 1 LDRD + 4 LDRD + 8
 *     SMLAD = 16 MACs; int8: 3 LDR + 4 SXTB16 + 4 SMLAD, the two channel pairs' words of a
 *     pair j one after the other).
 *   - direct (no scratch; a 1x1 stride-1 unpadded conv or a fully connected layer, whose
 *     pixel's K inputs are one run in the input tensor): the input is read in place, one
 *     32-bit word (4 int8 values, any alignment) at a time, and unpacked in registers:
 *     SXTB16 gives (x0, x2), SXTB16 ror 8 (x1, x3), the perm4 order; so the weights are
 *     those of one pixel per block with perm4 over K padded with zero weights to a multiple
 *     of 4 (K4), and the input's last K % 4 values are read bytewise. Per input word and 4
 *     channels (16 MACs): int16 1 LDR + 2 SXTB16 + 4 LDRD + 8 SMLAD; int8 5 LDR + 10
 *     SXTB16 + 8 SMLAD.
 *   - quant: per output channel {bias2, mult, rnd, rsh} (+ sgn with E0), see mcuc_dsp.h;
 *     int8 weights: {bias, mult, rnd} (+ lsh) with the bias unscaled and the right shift
 *     recovered from rnd = 2^(rsh-1) (1 + 2 output_zp), an odd multiple of 2^(rsh-1):
 *     rsh = ctz(rnd) + 1 (RBIT + CLZ, once per channel and block); with E0 as int16
 *     weights (+ lsh); int16 weights with UNFOLDED (mcuc_dsp.h): + left, >= 0 for a
 *     channel whose weights and bias are not scaled; with fpreq (ONNX models, onnxruntime's float
 *     requantisation, mcuc_fpreq.h) the weights are not scaled and the records are {bias,
 *     bits of the float32 scale}.
 *     The input offset is folded into bias2, so taps in the padding read the input zero
 *     point itself: (zp + input_offset) * w = 0.
 *     When every channel has the same right shift (so the same rnd), the generated code
 *     passes rsh and rnd as literals (rsh > 0) and the store reads only each channel's mult.
 */
#ifndef MCUC_CONV_S8_DSP_H
#define MCUC_CONV_S8_DSP_H

#include <stdint.h>
#include <string.h>
#include <arm_acle.h>

#include "mcuc_dsp.h"
#include "mcuc_fpreq.h"
#include "conv/conv_s8_dsp_scratch.h"   /* the `col` bytes: mcuc_conv_s8_dsp_scratch_bytes */



/* Halfword index in the im2col buffer (slot 0) of product k, with `slots` pixels per pair.
 * With perm4 the products of each aligned group of 4 sit in the order SXTB16 makes them:
 * (k0 k2) in one pair, (k1 k3) in the next. */
MCUC_INLINE int32_t mcuc_col_index(int32_t k, int32_t perm4, int32_t slots)
{
    if (perm4) {
        k = (k & ~3) | ((k & 1) << 1) | ((k >> 1) & 1);
    }
    return (k >> 1) * 2 * slots + (k & 1);
}

/* Copy n int8 values (or the zero point, src == NULL) into the im2col slots of products
 * k .. k+n-1. Fast paths: n % 4 == 0 at k % 4 == 0 with perm4 (one load, two SXTB16: the
 * perm4 order); without perm4 one halfword per pair, a value alone at an odd start or end
 * (a row of 3 channels x 3 taps: 4 pairs and one value); otherwise one value at a time. */
MCUC_INLINE void mcuc_im2col_run(int16_t *col, int32_t k, const int8_t *src, int32_t n,
                                 int32_t pad_value, int32_t perm4, int32_t slots)
{
    if (perm4 && n % 4 == 0 && src) {
        uint32_t *dst = (uint32_t *)(void *)(col + (k >> 1) * 2 * slots);
        for (int32_t c = 0; c < n; c += 4, dst += 2 * slots) {
            uint32_t v;
            memcpy(&v, src + c, 4);
            dst[0] = __sxtb16(v);
            dst[slots] = mcuc_sxtb16_ror8(v);
        }
    } else if (!perm4 || (!src && n % 2 == 0 && k % 2 == 0)) {
        /* (the zero point goes in pairs whatever the order) */
        int32_t c = 0;
        if (k % 2) {
            col[mcuc_col_index(k, perm4, slots)] = (int16_t)(src ? src[0] : pad_value);
            c = 1;
        }
        uint32_t *dst = (uint32_t *)(void *)(col + ((k + c) >> 1) * 2 * slots);
        const uint32_t pad2 = (uint32_t)(pad_value & 0xFFFF) * 0x10001u;
        for (; c + 2 <= n; c += 2, dst += slots) {
            if (src) {
                uint16_t h;
                memcpy(&h, src + c, 2);
                /* bytes [c0 c1 0 0] | [0 c0 c1 0]: SXTB16 reads bytes 0 and 2 = (c0, c1) */
                dst[0] = __sxtb16((uint32_t)h | ((uint32_t)h << 8));
            } else {
                dst[0] = pad2;
            }
        }
        if (c < n) {
            col[mcuc_col_index(k + c, perm4, slots)] = (int16_t)(src ? src[c] : pad_value);
        }
    } else {
        for (int32_t c = 0; c < n; ++c) {
            col[mcuc_col_index(k + c, perm4, slots)] = (int16_t)(src ? src[c] : pad_value);
        }
    }
}

#define MCUC_IM2COL_ROW_BUF 64   /* bytes: kernel rows up to this long cross a border as a run */

/* im2col of output pixel (oy, ox) into slot s (0 .. slots-1) of the interleaved buffer. A kernel
 * row without dilation whose taps are all inside the input is one run of k_w * in_c values;
 * rows at the borders go tap by tap (the zero point for taps in the padding), or when short
 * as one run through a buffer. */
MCUC_INLINE void mcuc_im2col_pixel(int16_t *col, int32_t s, const int8_t *in, int32_t oy,
                                   int32_t ox, int32_t in_h, int32_t in_w, int32_t in_c,
                                   int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                                   int32_t dil_h, int32_t dil_w, int32_t pad_top,
                                   int32_t pad_left, int32_t check_bounds, int32_t pad_value,
                                   int32_t perm4, int32_t slots)
{
    col += 2 * s;
    const int32_t x0 = ox * stride_w - pad_left;
    const int row_inside = !check_bounds || (x0 >= 0 && x0 + (k_w - 1) * dil_w < in_w);
    for (int32_t ky = 0; ky < k_h; ++ky) {
        const int32_t y = oy * stride_h - pad_top + ky * dil_h;
        const int32_t k = ky * k_w * in_c;
        const int8_t *row = in + ((size_t)y * in_w + x0) * in_c;
        if (check_bounds && (y < 0 || y >= in_h)) {
            mcuc_im2col_run(col, k, 0, k_w * in_c, pad_value, perm4, slots);
        } else if (dil_w == 1 && row_inside) {
            mcuc_im2col_run(col, k, row, k_w * in_c, pad_value, perm4, slots);
        } else if (dil_w == 1 && k_w * in_c <= MCUC_IM2COL_ROW_BUF) {
            /* a short row across the left or right border: its values and the zero point
             * gathered on the stack, then copied as one run */
            int8_t buf[MCUC_IM2COL_ROW_BUF];
            const int32_t lo = x0 < 0 ? -x0 : 0;
            const int32_t hi = x0 + k_w > in_w ? in_w - x0 : k_w;
            memset(buf, pad_value, (size_t)(k_w * in_c));
            if (hi > lo) {
                memcpy(buf + lo * in_c, row + lo * in_c, (size_t)((hi - lo) * in_c));
            }
            mcuc_im2col_run(col, k, buf, k_w * in_c, pad_value, perm4, slots);
        } else {
            for (int32_t kx = 0; kx < k_w; ++kx) {
                const int32_t x = x0 + kx * dil_w;
                const int inside = !check_bounds || (x >= 0 && x < in_w);
                mcuc_im2col_run(col, k + kx * in_c, inside ? row + kx * dil_w * in_c : 0,
                                in_c, pad_value, perm4, slots);
            }
        }
    }
}

/* One pair of products j for a block of 8 sums (accumulator a[c * slots + s] = channel c,
 * pixel slot s); operands a0..a7, pointers x (im2col) and w (weights), temporaries xp, xq,
 * wa, wb.
 * int16 weights, 4 channels x 2 pixels: 3 loads + 8 SMLAD. */
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

/* int8 weights, 2 channels (a, b) x 4 pixels: the weight word unpacks to a's pair (wa) and
 * b's pair (wb), each used for all four pixels: 4 loads + 2 SXTB16 + 8 SMLAD. */
#define MCUC_GEMM_2X4_S8_STEP                                                                 \
    "ldr %[wb], [%[w]], #4\n\t"                                                              \
    "ldrd %[xp], %[xq], [%[x]], #8\n\t"                                                      \
    "sxtb16 %[wa], %[wb]\n\t"                                                                \
    "sxtb16 %[wb], %[wb], ror #8\n\t"                                                        \
    "smlad %[a0], %[wa], %[xp], %[a0]\n\t"                                                   \
    "smlad %[a1], %[wa], %[xq], %[a1]\n\t"                                                   \
    "smlad %[a4], %[wb], %[xp], %[a4]\n\t"                                                   \
    "smlad %[a5], %[wb], %[xq], %[a5]\n\t"                                                   \
    "ldrd %[xp], %[xq], [%[x]], #8\n\t"                                                      \
    "smlad %[a2], %[wa], %[xp], %[a2]\n\t"                                                   \
    "smlad %[a3], %[wa], %[xq], %[a3]\n\t"                                                   \
    "smlad %[a6], %[wb], %[xp], %[a6]\n\t"                                                   \
    "smlad %[a7], %[wb], %[xq], %[a7]\n\t"

/* int8 weights, 4 channels x 2 pixels (half the im2col scratch of 2x4): words (c|d), at
 * the immediate offset cd = 4 * K2 bytes, and (a|b): 3 loads + 4 SXTB16 + 8 SMLAD. */
#define MCUC_GEMM_S8_MAX_K2 1023   /* LDR's immediate offset: at most 4095 bytes */
#define MCUC_GEMM_4X2_S8_STEP                                                                 \
    "ldr %[wb], [%[w], #%c[cd]]\n\t"                                                         \
    "ldrd %[xp], %[xq], [%[x]], #8\n\t"                                                      \
    "sxtb16 %[wa], %[wb]\n\t"                                                                \
    "sxtb16 %[wb], %[wb], ror #8\n\t"                                                        \
    "smlad %[a4], %[wa], %[xp], %[a4]\n\t"                                                   \
    "smlad %[a5], %[wa], %[xq], %[a5]\n\t"                                                   \
    "smlad %[a6], %[wb], %[xp], %[a6]\n\t"                                                   \
    "smlad %[a7], %[wb], %[xq], %[a7]\n\t"                                                   \
    "ldr %[wb], [%[w]], #4\n\t"                                                              \
    "sxtb16 %[wa], %[wb]\n\t"                                                                \
    "sxtb16 %[wb], %[wb], ror #8\n\t"                                                        \
    "smlad %[a0], %[wa], %[xp], %[a0]\n\t"                                                   \
    "smlad %[a1], %[wa], %[xq], %[a1]\n\t"                                                   \
    "smlad %[a2], %[wb], %[xp], %[a2]\n\t"                                                   \
    "smlad %[a3], %[wb], %[xq], %[a3]\n\t"

/* One pair j for 4 channels x 1 pixel, the pixel's pair in operand X: int16 weights (4
 * words), or int8 weights (2 words of channel pairs). With 8 channels (13-14 registers) gcc
 * 12 finds no registers for some one-pixel layers ("impossible constraints"). */
#define MCUC_W16_4CH(X)                                                                       \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                      \
    "smlad %[a0], %[wa], %[" X "], %[a0]\n\t"                                                \
    "smlad %[a1], %[wb], %[" X "], %[a1]\n\t"                                                \
    "ldrd %[wa], %[wb], [%[w]], #8\n\t"                                                      \
    "smlad %[a2], %[wa], %[" X "], %[a2]\n\t"                                                \
    "smlad %[a3], %[wb], %[" X "], %[a3]\n\t"
#define MCUC_W8_PAIR(A, B, X)                                                                 \
    "ldr %[wa], [%[w]], #4\n\t"                                                              \
    "sxtb16 %[wb], %[wa], ror #8\n\t"                                                        \
    "sxtb16 %[wa], %[wa]\n\t"                                                                \
    "smlad %[" A "], %[wa], %[" X "], %[" A "]\n\t"                                          \
    "smlad %[" B "], %[wb], %[" X "], %[" B "]\n\t"
#define MCUC_W8_4CH(X) MCUC_W8_PAIR("a0", "a1", X) MCUC_W8_PAIR("a2", "a3", X)

/* 4 channels x 1 pixel from the im2col column (one word per pair); int16 weights two pairs
 * at a time (one LDRD of the column), the last pair of an odd K2 alone. */
#define MCUC_GEMM_1X4_STEP "ldr %[xp], [%[x]], #4\n\t" MCUC_W16_4CH("xp")
#define MCUC_GEMM_1X4_STEP2 "ldrd %[xp], %[xq], [%[x]], #8\n\t" MCUC_W16_4CH("xp") MCUC_W16_4CH("xq")
#define MCUC_GEMM_1X4_S8_STEP "ldr %[xp], [%[x]], #4\n\t" MCUC_W8_4CH("xp")

/* Direct: one input word (pairs 2m in xp, 2m+1 in xq) for 4 channels, W = MCUC_W16_4CH or
 * MCUC_W8_4CH. */
#define MCUC_DIRECT_STEP(W)                                                                   \
    "ldr %[xq], [%[x]], #4\n\t"                                                              \
    "sxtb16 %[xp], %[xq]\n\t"                                                                \
    "sxtb16 %[xq], %[xq], ror #8\n\t" W("xp") W("xq")

#define MCUC_GEMM_OPERANDS_4                                                                  \
    [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]), [x] "+r"(x),          \
    [w] "+r"(w), [xp] "=&r"(xp), [xq] "=&r"(xq), [wa] "=&r"(wa), [wb] "=&r"(wb)
#define MCUC_GEMM_OPERANDS                                                                    \
    MCUC_GEMM_OPERANDS_4, [a4] "+r"(a[4]), [a5] "+r"(a[5]), [a6] "+r"(a[6]), [a7] "+r"(a[7])

/* Sums over `steps` steps of STEP, then `tails` steps of TAIL (im2col pairs, or input words
 * for the direct kernel; words of x per STEP: words). Written in assembly because the 14
 * values live in the loop (8 sums, 4 operands, 2 pointers; 10 with 4 sums) fill every
 * register gcc may use: the steps are repeated (.rept) and, past 16, looped 8 at a time
 * with the loop end read from memory into a free operand register. One asm statement per
 * path: two in a row make gcc 12 run out of registers for the Cortex-M55 on some layers.
 * `cd`: the 4x2 int8 step's offset of its second channel pair, 4 * steps bytes. */
#define MCUC_GEMM_LOOP(STEP, words, steps, OPERANDS, TAIL, tails)                             \
    do {                                                                                      \
        uint32_t xp, xq, wa, wb;                                                              \
        if ((steps) > 16) {                                                                   \
            const uint32_t *x_end = x + (words) * 8 * ((steps) / 8);                          \
            __asm__ volatile("1:\n\t"                                                         \
                             ".rept 8\n\t" STEP ".endr\n\t"                                   \
                             "ldr %[wa], %[end]\n\t"                                          \
                             "cmp %[x], %[wa]\n\t"                                            \
                             "bne 1b\n\t"                                                     \
                             ".rept %c[n]\n\t" STEP ".endr\n\t"                               \
                             ".rept %c[t]\n\t" TAIL ".endr"                                   \
                             : OPERANDS                                                       \
                             : [end] "m"(x_end), [n] "n"((steps) % 8), [cd] "n"(4 * (steps)), \
                               [t] "n"(tails)                                                 \
                             : "cc", "memory");                                               \
        } else {                                                                              \
            __asm__ volatile(".rept %c[n]\n\t" STEP ".endr\n\t"                               \
                             ".rept %c[t]\n\t" TAIL ".endr"                                   \
                             : OPERANDS                                                       \
                             : [n] "n"(steps), [cd] "n"(4 * (steps)), [t] "n"(tails)          \
                             : "memory");                                                     \
        }                                                                                     \
    } while (0)

/* The sums of one block over k2 pairs: int16 4x2 or 1x4, int8 2x4, 4x2 or 1x4. */
MCUC_INLINE void mcuc_gemm_block(const uint32_t *w, const uint32_t *x, int32_t k2, int32_t a[8],
                                 int32_t w8, int32_t slots)
{
    if (slots == 1) {
        if (w8) {
            MCUC_GEMM_LOOP(MCUC_GEMM_1X4_S8_STEP, 1, k2, MCUC_GEMM_OPERANDS_4, "", 0);
        } else {
            MCUC_GEMM_LOOP(MCUC_GEMM_1X4_STEP2, 2, k2 / 2, MCUC_GEMM_OPERANDS_4,
                           MCUC_GEMM_1X4_STEP, k2 % 2);
        }
    } else if (!w8) {
        MCUC_GEMM_LOOP(MCUC_GEMM_4X2_STEP, 2, k2, MCUC_GEMM_OPERANDS, "", 0);
    } else if (slots == 4) {
        MCUC_GEMM_LOOP(MCUC_GEMM_2X4_S8_STEP, 4, k2, MCUC_GEMM_OPERANDS, "", 0);
    } else {
        MCUC_GEMM_LOOP(MCUC_GEMM_4X2_S8_STEP, 2, k2, MCUC_GEMM_OPERANDS, "", 0);
    }
}

/* SMLAD (x.lo * y.lo + x.hi * y.hi + acc) as one asm instruction: with gcc 12's __smlad
 * (which tracks the Q flag) next to the GEMM's assembly, gcc reports "impossible
 * constraints" on some layers. */
MCUC_INLINE int32_t mcuc_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
}

/* The last n (1..3) values of a direct block, read bytewise into a word (zero above) and
 * multiplied with their weights at w like the others. Not inlined: inlined, gcc 12 finds no
 * registers for the GEMM's assembly on some layers ("impossible constraints"). */
__attribute__((noinline, unused)) static void mcuc_gemm_direct_tail(const uint32_t *w,
                                                                    const void *x, int32_t n,
                                                                    int32_t a[4], int32_t w8)
{
    uint32_t v = 0;
    memcpy(&v, x, (size_t)n);
    const uint32_t even = (uint32_t)__sxtb16(v), odd = mcuc_sxtb16_ror8(v);
    for (int32_t c = 0; c < 4; ++c) {
        if (w8) {       /* words (a|b), (c|d) for the even pair, then the odd one */
            const uint32_t we = w[c / 2], wo = w[2 + c / 2];
            a[c] = __smlad(c % 2 ? mcuc_sxtb16_ror8(we) : (uint32_t)__sxtb16(we), even, a[c]);
            a[c] = __smlad(c % 2 ? mcuc_sxtb16_ror8(wo) : (uint32_t)__sxtb16(wo), odd, a[c]);
        } else {
            a[c] = __smlad(w[c], even, a[c]);
            a[c] = __smlad(w[4 + c], odd, a[c]);
        }
    }
}

/* The 4 sums of one direct block over a pixel's k int8 inputs at x (any alignment): k / 4
 * words in the loop, then the last k % 4 values. */
MCUC_INLINE void mcuc_gemm_direct_block(const uint32_t *w, const uint32_t *x, int32_t k,
                                        int32_t a[8], int32_t w8)
{
    if (w8) {
        MCUC_GEMM_LOOP(MCUC_DIRECT_STEP(MCUC_W8_4CH), 1, k / 4, MCUC_GEMM_OPERANDS_4, "", 0);
    } else {
        MCUC_GEMM_LOOP(MCUC_DIRECT_STEP(MCUC_W16_4CH), 1, k / 4, MCUC_GEMM_OPERANDS_4, "", 0);
    }
    if (k % 4) {            /* x and w now point at the last values and their weights */
        mcuc_gemm_direct_tail(w, x, k % 4, a, w8);
    }
}

/* Requantise and store the sums of a block (n real channels of 8 / slots), one channel at a
 * time: each channel's record is read right before its stores, which keeps few values live
 * (the int8 stores may alias the records, so gcc keeps this order). `lsh`: the sums' left
 * shift (int8 weights; -1: the record's last column), 0 for int16 weights. `compact`: the
 * records have no rsh column (see the top). `unfolded` (int16 weights): the records end with
 * `left`, >= 0 for a channel whose sums are not scaled. */
MCUC_INLINE void mcuc_store_block(const int32_t a[8], const int32_t *q, int32_t qw, int32_t e0,
                                  int32_t compact, int32_t n, int32_t slots, int32_t lsh,
                                  int32_t unfolded, int32_t rsh, int32_t rnd, int32_t act_min,
                                  int32_t act_max, int8_t *const o[4])
{
#pragma GCC unroll 4
    for (int32_t c = 0; c < n; ++c) {
        const int32_t m = q[c * qw + 1], r = rsh ? rnd : q[c * qw + 2];
        const int32_t s = rsh ? rsh
                              : compact ? (int32_t)__builtin_ctz((uint32_t)r) + 1 : q[c * qw + 3];
        const int32_t g = e0 ? q[c * qw + 4] : -1;
        const int32_t l = lsh >= 0 ? lsh : q[c * qw + qw - 1];
        const int32_t left = unfolded ? q[c * qw + qw - 1] : -1;
#pragma GCC unroll 4
        for (int32_t t = 0; t < slots; ++t) {
            int32_t v;
            if (left >= 0) {
                v = mcuc_dsp_requant_unfolded(a[c * slots + t], m, r, s, left);
            } else {
                const int32_t acc = (int32_t)((uint32_t)a[c * slots + t] << l);
                v = mcuc_dsp_requant_e0(acc, m, r, s, g);
            }
            o[t][c] = (int8_t)MCUC_DSP_CLAMP(v, act_min, act_max);
        }
    }
}

/* mcuc_store_block for fpreq records {bias, scale bits}: the very rounding of the portable
 * *_fpreq kernels (mcuc_requant_f32), so results are the same bits. Not inlined: float code
 * in the GEMM's function makes gcc 12 emit VFP spills the assembler rejects ("co-processor
 * offset out of range") next to the GEMM's inline assembly. */
__attribute__((noinline, unused)) static void mcuc_store_block_f32(const int32_t a[8], const int32_t *q,
                                                                   int32_t n, int32_t slots, int32_t out_zp,
                                                                   int32_t act_min, int32_t act_max,
                                                                   int8_t *const o[4])
{
    for (int32_t c = 0; c < n; ++c) {
        float scale;
        memcpy(&scale, &q[c * 2 + 1], sizeof scale);
        for (int32_t t = 0; t < slots; ++t) {
            o[t][c] = mcuc_requant_f32(a[c * slots + t], scale, out_zp, act_min, act_max);
        }
    }
}

/* int32 words per channel record (see the top). */
MCUC_INLINE int32_t mcuc_record_words(int32_t w8, int32_t e0, int32_t unfolded, int32_t fpreq,
                                      int32_t lsh)
{
    const int32_t compact = w8 && !e0 && !fpreq;                /* records without rsh */
    return fpreq ? 2 : (compact ? 3 : 4 + (e0 != 0)) + (lsh < 0) + (unfolded != 0);
}

/* The store of a block's n channels x slots pixels, by the records' kind. */
MCUC_INLINE void mcuc_store(const int32_t a[8], const int32_t *q, int32_t qw, int32_t e0,
                            int32_t w8, int32_t n, int32_t slots, int32_t lsh, int32_t unfolded,
                            int32_t fpreq, int32_t out_zp, int32_t rsh, int32_t rnd,
                            int32_t act_min, int32_t act_max, int8_t *const o[4])
{
    if (fpreq) {
        mcuc_store_block_f32(a, q, n, slots, out_zp, act_min, act_max, o);
    } else {
        mcuc_store_block(a, q, qw, e0, w8 && !e0, n, slots, lsh, unfolded, rsh, rnd, act_min,
                         act_max, o);
    }
}

/* Output pixels p .. p + slots - 1 (past the last pixel: the last again, computed and stored
 * again with the same values), all channels. */
MCUC_INLINE void mcuc_conv_s8_dsp_block(const int8_t *input, const void *weights,
                                        const int32_t *quant, int8_t *output, int16_t *col,
                                        int32_t p, int32_t pixels, int32_t in_h, int32_t in_w,
                                        int32_t in_c, int32_t out_h, int32_t out_w,
                                        int32_t out_c, int32_t k_h, int32_t k_w,
                                        int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                        int32_t dil_w, int32_t pad_top, int32_t pad_left,
                                        int32_t check_bounds, int32_t pad_value, int32_t perm4,
                                        int32_t e0, int32_t unfolded, int32_t fpreq,
                                        int32_t out_zp, int32_t w8,
                                        int32_t slots, int32_t lsh, int32_t rsh, int32_t rnd,
                                        int32_t act_min, int32_t act_max)
{
    const int32_t k2 = (k_h * k_w * in_c + 1) / 2;
    const int32_t qw = mcuc_record_words(w8, e0, unfolded, fpreq, lsh);
    const int32_t nc = slots == 1 ? 4 : 8 / slots;              /* channels per block */
    const int32_t w_words = (w8 ? nc / 2 : nc) * k2;            /* weight words per block */
    const int32_t per_image = out_h * out_w;
    int8_t *o[4];
    /* a 1x1 stride-1 unpadded layer: pixel n's K values are input row n */
    const int32_t pointwise = k_h == 1 && k_w == 1 && stride_h == 1 && stride_w == 1
                              && !check_bounds && in_h == out_h && in_w == out_w;
#pragma GCC unroll 2
    for (int32_t s = 0; s < slots; ++s) {
        const int32_t n = p + s < pixels ? p + s : pixels - 1;
        if (pointwise) {
            mcuc_im2col_run(col + 2 * s, 0, input + (size_t)n * in_c, in_c, pad_value, perm4,
                            slots);
        } else {
            const int32_t b = n / per_image, r = n % per_image;
            mcuc_im2col_pixel(col, s, input + (size_t)b * in_h * in_w * in_c, r / out_w,
                              r % out_w, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h,
                              dil_w, pad_top, pad_left, check_bounds, pad_value, perm4, slots);
        }
        o[s] = output + (size_t)n * out_c;
    }
    const uint32_t *w = (const uint32_t *)weights;
    for (int32_t oc = 0; oc < out_c; oc += nc) {
        const int32_t *qr = quant + oc * qw;
        int32_t a[8];
#pragma GCC unroll 4
        for (int32_t c = 0; c < nc; ++c) {
#pragma GCC unroll 4
            for (int32_t s = 0; s < slots; ++s) {
                a[c * slots + s] = qr[c * qw];
            }
        }
        mcuc_gemm_block(w, (const uint32_t *)(const void *)col, k2, a, w8, slots);
        w += w_words;
        const int32_t n = out_c - oc < nc ? out_c - oc : nc;
        int8_t *const oo[4] = {o[0] + oc, o[slots > 1 ? 1 : 0] + oc, o[slots > 2 ? 2 : 0] + oc,
                               o[slots > 2 ? 3 : 0] + oc};
        mcuc_store(a, qr, qw, e0, w8, n, slots, lsh, unfolded, fpreq, out_zp, rsh, rnd, act_min,
                   act_max, oo);
    }
}

/* One conv layer. `col` holds slots * K2 words. Pixels are numbered over batches x out_h x
 * out_w, `slots` at a time; with int8 weights and 4 slots, a last 1 or 2 pixels go as one
 * block of 2 (4 channels x 2 pixels: the same weights, less work than 4 slots); with int16
 * weights and 2 slots, a last odd pixel as a block of 1 (the same weights). */
MCUC_INLINE void mcuc_conv_s8_dsp_body(const int8_t *input, const void *weights,
                                       const int32_t *quant, int8_t *output, int16_t *col,
                                       int32_t batches, int32_t in_h, int32_t in_w,
                                       int32_t in_c, int32_t out_h, int32_t out_w,
                                       int32_t out_c, int32_t k_h, int32_t k_w,
                                       int32_t stride_h, int32_t stride_w, int32_t dil_h,
                                       int32_t dil_w, int32_t pad_top, int32_t pad_left,
                                       int32_t check_bounds, int32_t pad_value, int32_t perm4,
                                       int32_t e0, int32_t unfolded, int32_t fpreq,
                                       int32_t out_zp, int32_t w8,
                                       int32_t slots, int32_t lsh, int32_t rsh, int32_t rnd,
                                       int32_t act_min, int32_t act_max)
{
    const int32_t pixels = batches * out_h * out_w;
    const int32_t k2 = (k_h * k_w * in_c + 1) / 2;
    const int32_t rest = pixels % slots;
    /* a last odd pixel of int16-weight pairs runs alone (one-pixel blocks take the same
     * weights), a last 1-2 of int8-weight quads as a pair */
    const int32_t tail = w8 ? (slots == 4 && rest > 0 && rest <= 2 && k2 <= MCUC_GEMM_S8_MAX_K2
                               ? rest : 0)
                            : (slots == 2 && rest == 1 ? 1 : 0);
    for (int32_t p = 0; p < pixels - tail; p += slots) {
        mcuc_conv_s8_dsp_block(input, weights, quant, output, col, p, pixels, in_h, in_w, in_c,
                               out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                               pad_top, pad_left, check_bounds, pad_value, perm4, e0, unfolded,
                               fpreq, out_zp, w8, slots, lsh, rsh, rnd, act_min, act_max);
    }
    if (tail) {
        mcuc_conv_s8_dsp_block(input, weights, quant, output, col, pixels - tail, pixels, in_h,
                               in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w,
                               dil_h, dil_w, pad_top, pad_left, check_bounds, pad_value, perm4,
                               e0, unfolded, fpreq, out_zp, w8, w8 ? 2 : 1, lsh, rsh, rnd,
                               act_min, act_max);
    }
}

/* One direct layer (no scratch): `pixels` rows of k int8 inputs, one after the other in
 * `input`, each times out_c channels in blocks of 4 (weights and records as for one pixel
 * per block, over K4 = k rounded up to a multiple of 4 in perm4 order). */
MCUC_INLINE void mcuc_conv_s8_dsp_direct_body(const int8_t *input, const void *weights,
                                              const int32_t *quant, int8_t *output,
                                              int32_t pixels, int32_t k, int32_t out_c,
                                              int32_t e0, int32_t unfolded, int32_t fpreq,
                                              int32_t out_zp, int32_t w8, int32_t lsh,
                                              int32_t rsh, int32_t rnd, int32_t act_min,
                                              int32_t act_max)
{
    const int32_t qw = mcuc_record_words(w8, e0, unfolded, fpreq, lsh);
    const int32_t w_words = (w8 ? 2 : 4) * 2 * ((k + 3) / 4);   /* weight words per block */
    for (int32_t p = 0; p < pixels; ++p) {
        const uint32_t *x = (const uint32_t *)(const void *)(input + (size_t)p * k);
        int8_t *out = output + (size_t)p * out_c;
        const uint32_t *w = (const uint32_t *)weights;
        for (int32_t oc = 0; oc < out_c; oc += 4, w += w_words) {
            const int32_t *qr = quant + oc * qw;
            int32_t a[8];
#pragma GCC unroll 4
            for (int32_t c = 0; c < 4; ++c) {
                a[c] = qr[c * qw];
            }
            mcuc_gemm_direct_block(w, x, k, a, w8);
            const int32_t n = out_c - oc < 4 ? out_c - oc : 4;
            int8_t *const oo[4] = {out + oc, out + oc, out + oc, out + oc};
            mcuc_store(a, qr, qw, e0, w8, n, 1, lsh, unfolded, fpreq, out_zp, rsh, rnd, act_min,
                       act_max, oo);
        }
    }
}

#endif /* MCUC_CONV_S8_DSP_H */
