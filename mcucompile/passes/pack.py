"""Compile-time data layouts for the fast kernels: weights reordered into the order the kernel
reads them, and per-channel requantisation records.

Everything here is exact integer arithmetic on the numbers the lowering pass produced; a
layout that cannot represent a layer exactly returns None and the layer keeps the portable
kernel.

Requantisation records:
    DSP (runtime_c/include/mcuc_dsp.h): {bias2, mult, rnd, rsh[, sgn]} per output channel,
    where the accumulator is scaled by 2^(left+1) through int16 weights ("folded"), rsh =
    right shift, rnd = 2^(rsh-1) + out_zp * 2^rsh; with int8 weights (which cannot hold the
    factor) the kernel shifts the sum left by lsh = left+1 instead: {bias, mult, rnd, rsh[,
    sgn][, lsh]} (the lsh column only when the channels' shifts differ; the GEMM drops rsh
    when no channel has e = 0, see conv_s8_dsp.h).
    The fold is exact only while the scaled accumulator, the int16 weights and SMMLAR's sum
    fit. A channel where they might not (a "dead" channel of a trained network: weights ~0,
    so a tiny weight scale and a bias near 2^31; a multiplier >= 2^7; a rounding constant
    out_zp * 2^rsh past int32) keeps its weights and bias unscaled (int16 weights), and its
    record {bias, mult, out_zp, rsh[, 0], left >= 0} asks the store step for TFLM's
    MultiplyByQuantizedMultiplier on the plain int32 accumulator (which wraps exactly as
    TFLM's does). The `left` column exists only in layers with such a channel (-1 elsewhere).
    The int8-weight GEMM has no such store yet (None: the int16 or portable kernel).
    MVE (runtime_c/include/mcuc_mve.h): vectors of bias, mult, -rsh and left per lane (no fold,
    so every layer fits).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INT32_LIMIT = 2**31
INT16_MAX = 32767
MAX_INPUT = 128  # |int8 input value|


@dataclass
class Requant:
    records: np.ndarray      # int32 [channels, width]
    scale: np.ndarray        # int64 [channels]: factor the weights are multiplied by
    e0: bool                 # some folded channel has no right shift (sgn column)
    folded: np.ndarray       # bool [channels]: False = unscaled, TFLM's arithmetic at the store

    @property
    def unfolded(self) -> bool:
        """Some channel is not folded: the records end with the `left` column."""
        return not self.folded.all()


def folded_bias(bias: np.ndarray | None, input_offset: int, filter_sums: np.ndarray) -> np.ndarray:
    """bias + input_offset * sum(w): the input offset folded in (padding then reads the zero
    point itself, whose product with the offset-corrected weight is 0)."""
    b = np.zeros(len(filter_sums), np.int64) if bias is None else bias.astype(np.int64)
    return b + int(input_offset) * filter_sums.astype(np.int64)


def requant_records(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, out_zp: int,
                    abs_weight_sums: np.ndarray,
                    scaled_weights: bool = True) -> Requant | None:
    """Records for accumulators `bias + sum w x` with |x| <= 128 (see the module docstring).
    A channel is folded when, with a = 2^(left+1) * accumulator and |a| <= A =
    2^(left+1) (|bias| + 128 sum|w|): A < 2^31; 128 * 2^(left+1) fits int16 (|w| <= 128);
    and SMMLAR's sum h + rnd - 1 fits int32 (|h| <= A/2 + 1 since mult < 2^31, and
    |rnd| <= 2^(rsh-1) + |out_zp| 2^rsh). Otherwise it gets the plain record.
    `scaled_weights` False (int8 weights): the kernel shifts the sum instead, so the bias
    stays unscaled and, when the channels' shifts differ, each record ends with its shift
    (see lsh_literal); None when a channel is not folded."""
    n = len(bias)
    bias = np.asarray(bias, np.int64)
    mult = np.broadcast_to(np.asarray(mult, np.int64), (n,))
    shift = np.broadcast_to(np.asarray(shift, np.int64), (n,))
    left = np.maximum(shift, 0)
    rsh = np.maximum(-shift, 0)
    scale = np.left_shift(np.int64(1), np.minimum(left + 1, 31))   # (>= 2^31: not folded)
    bound = (np.abs(bias) + MAX_INPUT * abs_weight_sums.astype(np.int64)) * scale
    rnd = np.where(rsh > 0, np.left_shift(np.int64(1), np.maximum(rsh - 1, 0)), 0) \
        + np.int64(out_zp) * np.left_shift(np.int64(1), rsh)
    folded = (bound < INT32_LIMIT) & (bound // 2 + 2 + np.abs(rnd) < INT32_LIMIT)
    if scaled_weights:
        folded &= MAX_INPUT * scale <= INT16_MAX + 1
    elif not folded.all():
        return None
    scale = np.where(folded, scale, 1)
    e0 = bool((folded & (rsh == 0)).any())
    cols = [np.where(folded, bias * scale if scaled_weights else bias, wrap32(bias)), mult,
            np.where(folded, rnd, out_zp), rsh]
    if e0:
        cols.append(np.where(folded & (rsh > 0), -1, 0))
    if not scaled_weights and len(set(left.tolist())) > 1:
        cols.append(left + 1)
    if not folded.all():
        cols.append(np.where(folded, -1, left))
    return Requant(np.stack(cols, axis=1).astype(np.int32), scale, e0, folded)


def lsh_literal(rq: Requant) -> int:
    """The left shift an int8-weight DSP kernel applies to every sum (log2 of the scale), or
    -1 when it differs between channels (then it is each record's last column)."""
    shifts = {int(s).bit_length() - 1 for s in rq.scale}
    return shifts.pop() if len(shifts) == 1 else -1


def fpreq_records(bias: np.ndarray, scale: np.ndarray) -> Requant:
    """Records {bias, bits of the float32 scale} for onnxruntime's float requantisation
    (mcuc_fpreq.h): the kernel needs the plain accumulator, so the weights stay unscaled; it
    accumulates in wrapping int32 like the portable kernels (and onnxruntime), so any bias
    fits."""
    bits = np.asarray(scale, np.float32).view(np.int32)
    n = len(bias)
    return Requant(np.stack([wrap32(bias), bits], axis=1).astype(np.int32),
                   np.ones(n, np.int64), False, np.ones(n, bool))


def mul_by_quantized_mult(x, mult: int, shift: int) -> np.ndarray:
    """TFLM's MultiplyByQuantizedMultiplier (double rounding) on int32 values, exactly as
    runtime_c/include/mcuc_fixedpoint.h computes it (vectorised, int64 intermediates)."""
    x = np.asarray(x, np.int64)
    left, right = max(shift, 0), max(-shift, 0)
    shifted = ((x << left) + 2**31) % 2**32 - 2**31            # int32 wrap, as the C does
    ab = shifted * int(mult)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    high = np.where(num >= 0, num >> 31, -((-num) >> 31))       # division truncating to 0
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)


def add_tables(params: dict, subtract: bool) -> tuple[np.ndarray, np.ndarray, Requant] | None:
    """ADD / SUB via tables: each input's rescaled value for all 256 int8 codes (TFLM's
    left shift + MultiplyByQuantizedMultiplier per input), the second negated for SUB, both
    pre-multiplied by the output requantisation's 2^(left+1); and the output record."""
    q = np.arange(256, dtype=np.int64)
    q = np.where(q >= 128, q - 256, q)                           # index = code as uint8
    t1 = mul_by_quantized_mult((q + params["input1_offset"]) << params["left_shift"],
                               params["input1_mult"], params["input1_shift"])
    t2 = mul_by_quantized_mult((q + params["input2_offset"]) << params["left_shift"],
                               params["input2_mult"], params["input2_shift"])
    if subtract:
        t2 = -t2
    # the largest table sum, as a weight sum: the record is folded only if the sum fits
    largest = np.abs(t1).max() + np.abs(t2).max()
    rq = requant_records(np.zeros(1, np.int64), params["output_mult"], params["output_shift"],
                         params["output_offset"], np.array([-(-largest // MAX_INPUT)]))
    if not rq.folded.all():
        return None
    scale = int(rq.scale[0])
    return (t1 * scale).astype(np.int32), (t2 * scale).astype(np.int32), rq


def conv_perm4(k_w: int, in_c: int, dil_w: int) -> bool:
    """Whether the DSP im2col copies a kernel row (k_w * in_c values without dilation, in_c
    with) in whole words: then the products go in the SXTB16 order (conv_k_order)."""
    return (k_w * in_c if dil_w == 1 else in_c) % 4 == 0


def conv_k_order(k_h: int, k_w: int, in_c: int, perm4: bool) -> np.ndarray:
    """Order of the K = k_h*k_w*in_c products in the DSP kernels' im2col rows: natural, or
    with perm4 each aligned group of 4 (k0 k1 k2 k3) as (k0 k2 k1 k3)."""
    k = np.arange(k_h * k_w * in_c)
    if perm4:
        k = k.reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1)
    return k


def conv_weights_dsp(w2d: np.ndarray, scale: np.ndarray, order: np.ndarray,
                     group: int = 4) -> np.ndarray:
    """[OC, K] int8 weights -> int16 words for the DSP GEMM: K reordered, padded to even,
    channels in groups of `group`, for each pair of products j the words
    {a: w[2j], w[2j+1]}, {b: ...}, ...; missing channels of the last group all zero."""
    oc, k = w2d.shape
    w = w2d[:, order].astype(np.int64) * scale[:, None]
    k2 = (k + 1) // 2
    ng = (oc + group - 1) // group
    padded = np.zeros((ng * group, k2 * 2), np.int64)
    padded[:oc, :k] = w
    # [g, channel, j, 2] -> [g, j, channel, 2]
    out = padded.reshape(ng, group, k2, 2).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(out).reshape(-1).astype(np.int16)


def conv_weights_dsp_s8(w2d: np.ndarray, order: np.ndarray, pairs: int = 1) -> np.ndarray:
    """[OC, K] int8 weights -> int8 bytes for the DSP GEMM with int8 weights: K reordered,
    padded to even, channels padded to a multiple of 4 (and of 2 * pairs); per channel pair
    (a, b), for each pair of products j the bytes {a[2j], b[2j], a[2j+1], b[2j+1]} (SXTB16
    and SXTB16-ror-8 of that word give a's and b's pair). `pairs` channel pairs are
    interleaved per j (1: one pair's words after the other's; 2: the one-pixel blocks of 4
    channels, which read the 2 words of a j one after the other)."""
    oc, k = w2d.shape
    k2 = (k + 1) // 2
    group = max(4, 2 * pairs)
    padded = np.zeros(((oc + group - 1) // group * group, k2 * 2), np.int8)
    padded[:oc, :k] = w2d[:, order]
    # [group, pair, a/b, j, 2j/2j+1] -> [group, j, pair, 2j/2j+1, a/b]
    out = padded.reshape(-1, pairs, 2, k2, 2).transpose(0, 3, 1, 4, 2)
    return np.ascontiguousarray(out).reshape(-1)


def direct_k(w2d: np.ndarray) -> np.ndarray:
    """[OC, K] weights padded with zero columns to a multiple of 4 (the direct DSP GEMM reads
    its input a 32-bit word at a time; conv_s8_dsp.h)."""
    oc, k = w2d.shape
    padded = np.zeros((oc, -(-k // 4) * 4), w2d.dtype)
    padded[:, :k] = w2d
    return padded


def pad_records(records: np.ndarray, group: int) -> np.ndarray:
    """Records padded to a whole number of channel groups with copies of the last one."""
    n = len(records)
    extra = (-n) % group
    return np.concatenate([records, np.repeat(records[-1:], extra, axis=0)]) if extra else records


def dw_weights_dsp(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """[k_r, k_c, OC] int8 depthwise weights (rows as the kernel walks them) -> int16 words,
    per output channel: k_r rows of k_c // 2 tap pairs (w[c], w[c+1]), then, for odd k_c,
    the odd last taps of the rows two per word (row 2i bottom, row 2i+1 top)."""
    k_r, k_c, oc = w.shape
    ws = w.transpose(2, 0, 1).astype(np.int64) * scale[:, None, None]     # [OC, k_r, k_c]
    kcp = k_c // 2
    parts = [ws[:, :, :2 * kcp].reshape(oc, -1)]
    if k_c % 2:
        tails = np.zeros((oc, 2 * ((k_r + 1) // 2)), np.int64)
        tails[:, :k_r] = ws[:, :, k_c - 1]
        parts.append(tails)
    return np.concatenate(parts, axis=1).reshape(-1).astype(np.int16)


def dw_weights_dsp_s8(w: np.ndarray) -> np.ndarray:
    """[k_r, k_c, OC] int8 depthwise weights -> int8 bytes: per output channel the words of
    dw_weights_dsp (unscaled, padded to an even count) two at a time as the bytes {u.lo, v.lo,
    u.hi, v.hi}, so SXTB16 of the 32-bit word rebuilds u and SXTB16-ror-8 rebuilds v."""
    oc = w.shape[2]
    halves = dw_weights_dsp(w, np.ones(oc, np.int64)).reshape(oc, -1)   # [OC, 2 * words]
    words = halves.shape[1] // 2
    padded = np.zeros((oc, 2 * (words + words % 2)), np.int8)
    padded[:, :2 * words] = halves
    out = padded.reshape(oc, -1, 2, 2).transpose(0, 1, 3, 2)            # [OC, pair, half, u/v]
    return np.ascontiguousarray(out).reshape(-1)


@dataclass
class MveRequant:
    bias: np.ndarray         # int32 per channel (input offset folded in, wrapped like int32)
    mult: np.ndarray
    neg_rsh: np.ndarray
    left: np.ndarray
    has_left: bool           # some channel shifts left (multiplier >= 1)
    all_shift: bool          # every channel shifts right


def wrap32(x) -> np.ndarray:
    """int64 values reduced to int32 the way two's-complement int32 arithmetic wraps."""
    return ((np.asarray(x, np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def mve_requant(bias: np.ndarray, mult, shift, n: int) -> MveRequant:
    """Requantisation vectors for VQRDMULH-based kernels. No bound check is needed: the
    kernels accumulate and shift in wrapping int32 like TFLM, and folding the offset into the
    bias changes no int32 result (both sides are equal modulo 2^32)."""
    mult = np.broadcast_to(np.asarray(mult, np.int64), (n,))
    shift = np.broadcast_to(np.asarray(shift, np.int64), (n,))
    rsh = np.maximum(-shift, 0)
    left = np.maximum(shift, 0)
    return MveRequant(wrap32(bias), mult.astype(np.int32), (-rsh).astype(np.int32),
                      left.astype(np.int32), bool((left > 0).any()), bool((rsh > 0).all()))


def mve_pair_records(rq: MveRequant) -> np.ndarray:
    """Per pair of channels (a, b): {bias, mult, -rsh[, left]} each as (a, b) (the kernel's
    gather loads make the lanes (a, b, a, b)); left only when some channel shifts left."""
    n = len(rq.bias)
    n2 = (n + 1) // 2
    fields = (rq.bias, rq.mult, rq.neg_rsh) + ((rq.left,) if rq.has_left else ())
    out = np.zeros((n2, len(fields), 2), np.int64)
    for k, v in enumerate(fields):
        padded = np.zeros(2 * n2, np.int64)
        padded[:n] = v
        if n % 2:
            padded[n] = v[-1]                   # a harmless copy for the missing channel
        out[:, k, :] = padded.reshape(n2, 2)
    return out.reshape(-1).astype(np.int32)


def mve_quad_records(rq: MveRequant) -> np.ndarray:
    """Per group of four channels: {bias x4, mult x4, -rsh x4[, left x4]}, padded; left only
    when some channel shifts left."""
    n = len(rq.bias)
    n4 = (n + 3) // 4
    fields = (rq.bias, rq.mult, rq.neg_rsh) + ((rq.left,) if rq.has_left else ())
    out = np.zeros((n4, len(fields), 4), np.int64)
    for k, v in enumerate(fields):
        padded = np.full(4 * n4, v[-1], np.int64)
        padded[:n] = v
        out[:, k, :] = padded.reshape(n4, 4)
    return out.reshape(-1).astype(np.int32)


def conv_weights_mve(w2d: np.ndarray) -> np.ndarray:
    """[OC, K] int8 -> for each pair of channels and chunk of 16 products, 16 bytes of channel
    a then 16 of channel b (K zero-padded to whole chunks, an odd last channel with zeros)."""
    oc, k = w2d.shape
    nk = (k + 15) // 16
    oc2 = (oc + 1) // 2
    padded = np.zeros((2 * oc2, 16 * nk), np.int8)
    padded[:oc, :k] = w2d
    out = padded.reshape(oc2, 2, nk, 16).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(out).reshape(-1)


def dw_weights_mve(w: np.ndarray) -> np.ndarray:
    """[k_h, k_w, OC] int8 -> per output channel (padded to a multiple of 4) the taps in
    (kx, ky) order: back to back up to 16 taps, else zero-padded to whole chunks of 16; then
    15 zero bytes (the last 16-byte load's slack)."""
    k_h, k_w, oc = w.shape
    taps = k_h * k_w
    nch = (taps + 15) // 16
    oc4 = (oc + 3) // 4 * 4
    out = np.zeros((oc4, taps if nch == 1 else 16 * nch), np.int8)
    out[:oc, :taps] = w.transpose(2, 1, 0).reshape(oc, taps)
    return np.concatenate([out.reshape(-1), np.zeros(15, np.int8)])
