"""Shifted in-place layers: an output written over its own input, starting `gap` bytes below it.

TinyEngine runs depthwise layers in place; the same holds for any kernel that produces its
output in blocks, in memory order, and reads all the input one block needs before it writes
any of that block's output (the DSP GEMM: im2col of a block of pixels, then their outputs; the
DSP depthwise kernel: planes of a band of rows, then that band's outputs; the Helium ones:
im2col of a pixel pair, or planes of all channels for one output row, then their outputs). Put the output at
the input's offset - gap. When block k is written, what blocks after k will still read must
not lie under anything written so far, so (bytes relative to each tensor's start)

    gap >= max over k of ( end of the bytes written by blocks 0..k
                           - first input byte read by blocks k+1.. )

and the step needs the union of the two tensors, max(X + gap, Y), instead of X + Y. A 3x3
stride-1 layer over rows of R bytes needs about (pad + band rows) * R; a 1x1 layer or a fully
connected one needs nothing beyond the block it is writing.

Each function below models one kernel's loop nest exactly (the blocks and their order are the
C code's, see the file named); the builders record the result on their call
(KernelCall.shift) and the arena planner pins the output there when the input dies at the
call (planner/arena.py). tests/test_shift.py runs layers at exactly that gap, bit-exact.
"""
from __future__ import annotations

import numpy as np


def gap(reads: np.ndarray, writes: np.ndarray) -> int:
    """reads[k]: first input byte block k reads; writes[k]: end of block k's output bytes;
    blocks in execution order."""
    if len(reads) < 2:
        return 0
    written = np.maximum.accumulate(writes)[:-1]
    still_read = np.minimum.accumulate(reads[::-1])[::-1][1:]
    return max(0, int((written - still_read).max()))


def _first_read(start: np.ndarray, stride: int, pad: int, size: int) -> np.ndarray:
    """First row (or column) a window starting at output position `start` reads."""
    return np.clip(start * stride - pad, 0, size - 1)


def gemm(geo: dict, slots: int, w8: bool, max_k2: int) -> int:
    """runtime_c/src/conv/conv_s8_dsp.h, mcuc_conv_s8_dsp_body: pixels over batches x out_h x
    out_w, `slots` at a time (a block past the end repeats the last pixel), and with int8
    weights and 4 slots a last 1 or 2 pixels as one block of 2, with int16 weights and 2
    slots a last odd pixel as a block of 1."""
    per_image = geo["out_h"] * geo["out_w"]
    pixels = geo["batches"] * per_image
    k2 = (geo["k_h"] * geo["k_w"] * geo["in_c"] + 1) // 2
    rest = pixels % slots
    tail = (rest if slots == 4 and 0 < rest <= 2 and k2 <= max_k2 else 0) if w8 else \
        (1 if slots == 2 and rest == 1 else 0)
    starts = list(range(0, pixels - tail, slots)) + ([pixels - tail] if tail else [])
    n = np.arange(pixels)
    b, r = n // per_image, n % per_image
    iy = _first_read(r // geo["out_w"], geo["stride_h"], geo["pad_top"], geo["in_h"])
    ix = _first_read(r % geo["out_w"], geo["stride_w"], geo["pad_left"], geo["in_w"])
    first = (b * geo["in_h"] * geo["in_w"] + iy * geo["in_w"] + ix) * geo["in_c"]
    reads = np.minimum.reduceat(first, starts)
    ends = np.array(starts[1:] + [pixels])
    writes = ends * geo["out_c"]
    return gap(reads, writes)


def direct(geo: dict) -> int:
    """runtime_c/src/conv/conv_s8_dsp.h, mcuc_conv_s8_dsp_direct_body: pixel by pixel, each
    pixel's input row (in_c bytes) read again for every block of 4 output channels, the
    block's outputs written after it: so a pixel's first outputs are written while its row
    is still to be read, and the bytes written up to pixel p must stay below its row."""
    pixels = geo["batches"] * geo["out_h"] * geo["out_w"]
    p = np.arange(pixels)
    return max(0, int(((p + 1) * geo["out_c"] - p * geo["in_c"]).max()))


def planar(geo: dict, batches: int, in_c: int, out_c: int, band: int, strip: int) -> int:
    """templates/kernels/depthwise_conv_s8_dsp.c.j2: per batch, bands of `band` output rows,
    each in strips of `strip` output columns; a strip's planes (its input rows and columns)
    are copied before its outputs are written. `geo`: kernels_dsp._dw_geometry's view (rows
    may be the image's columns: the strides say where bytes are)."""
    reads, writes = [], []
    in_batch = geo["in_rows"] * geo["in_cols"] * in_c
    out_batch = geo["out_rows"] * geo["out_cols"] * out_c
    for bt in range(batches):
        for r0 in range(0, geo["out_rows"], band):
            rows = min(band, geo["out_rows"] - r0)
            ir = int(_first_read(np.array(r0), geo["stride_r"], geo["pad_r"], geo["in_rows"]))
            for c0 in range(0, geo["out_cols"], strip):
                cols = min(strip, geo["out_cols"] - c0)
                ic = int(_first_read(np.array(c0), geo["stride_c"], geo["pad_c"],
                                     geo["in_cols"]))
                reads.append(bt * in_batch + ir * geo["in_rs"] + ic * geo["in_cs"])
                writes.append(bt * out_batch + (r0 + rows - 1) * geo["out_rs"]
                              + (c0 + cols - 1) * geo["out_cs"] + out_c)
    return gap(np.array(reads), np.array(writes))


def mve_rows(p: dict) -> int:
    """templates/kernels/depthwise_conv_s8_mve.c.j2 with the planes of all channels at once
    (with fewer, a row's later channels are read after its first outputs are written: no
    shift is offered): per batch and output row, the planes of the input rows it reads, then
    all of that row's outputs. `p`: the portable depthwise call's params."""
    c, oc = p["in_c"], p["out_c"]
    geo = dict(in_rows=p["in_h"], in_cols=p["in_w"], in_rs=p["in_w"] * c, in_cs=c,
               out_rows=p["out_h"], out_cols=p["out_w"], out_rs=p["out_w"] * oc, out_cs=oc,
               stride_r=p["stride_h"], stride_c=p["stride_w"], pad_r=p["pad_top"],
               pad_c=p["pad_left"])
    return planar(geo, p["batches"], c, oc, 1, p["out_w"])


def mve_direct(geo: dict) -> int:
    """runtime_c/src/conv/conv_s8_mve.h, mcuc_conv_s8_mve_body with `direct`: pixel pairs
    (p, q = p + 1, or p again at the end), both input rows read in place again for every
    pair of output channels, each pair's four bytes written after its read. A pair's rows
    are last read for its last channel pair (from channel l = the largest even one), after
    its earlier channels are written: the bytes written up to then (all of the pixels before
    p, and q's channels below l) must stay below row p."""
    pixels = geo["batches"] * geo["out_h"] * geo["out_w"]
    cin, cout = geo["in_c"], geo["out_c"]
    p = np.arange(0, pixels, 2)
    q = np.minimum(p + 1, pixels - 1)
    last = (cout - 1) // 2 * 2
    need = p * cout - p * cin                            # before the pair's first read
    if last > 0:
        need = np.maximum(need, q * cout + last - p * cin)
    return max(0, int(need.max()))
