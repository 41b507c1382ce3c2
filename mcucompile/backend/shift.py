"""Shifted in-place layers: an output written over its own input, starting `gap` bytes below it.

TinyEngine runs depthwise layers in place; the same holds for any kernel that produces its
output in blocks, in memory order, and reads all the input one block needs before it writes
any of that block's output (the DSP GEMM: im2col of a block of pixels, then their outputs; the
DSP depthwise kernel: planes of a band of rows, then that band's outputs). Put the output at
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
    weights and 4 slots a last 1 or 2 pixels as one block of 2."""
    per_image = geo["out_h"] * geo["out_w"]
    pixels = geo["batches"] * per_image
    k2 = (geo["k_h"] * geo["k_w"] * geo["in_c"] + 1) // 2
    rest = pixels % slots
    tail = rest if w8 and slots == 4 and 0 < rest <= 2 and k2 <= max_k2 else 0
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
