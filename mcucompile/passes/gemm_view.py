"""Layers the fast backends (kernels_dsp, kernels_mve) run as im2col + GEMM, seen as one GEMM.

A GemmView holds what a backend's generated GEMM kernel needs from a portable call: the conv
geometry (in_c = channels per tap), the weights as a 2-D [out_c, taps * in_c] matrix, bias,
requantisation and a label for the generated code. Each backend packs a view its own way.

    CONV_2D                                   -> the convolution itself
    FULLY_CONNECTED (symmetric weights)       -> a 1x1 convolution over `batches` pixels
    DEPTHWISE_CONV_2D on one input channel    -> every output channel a one-channel convolution
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernel_call import KernelCall

GEO_KEYS = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
            "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left")


@dataclass
class GemmView:
    geo: dict
    w2d: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    input_offset: int
    what: str
    fpreq: bool = False    # ONNX: `mult` holds float32 scales (onnxruntime's requantisation)


def conv_args(call: KernelCall):
    """(filter, bias, multipliers, shifts) constants of a conv / depthwise / FC call; for a
    *_fpreq call (float32 scales, see lower_onnx.py): (filter, bias, scales, None)."""
    if call.fn.endswith("_fpreq"):
        _, filt, bias, scale, _ = call.args
        return filt.const, bias.const, scale.const, None
    _, filt, bias, mult, shift, _ = call.args
    return filt.const, bias.const, mult.const, shift.const


def needs_bounds(p: dict) -> int:
    """1 if some window reaches outside the input (padding, or a ragged right/bottom edge)."""
    y_max = (p["out_h"] - 1) * p["stride_h"] - p["pad_top"] + (p["k_h"] - 1) * p["dil_h"]
    x_max = (p["out_w"] - 1) * p["stride_w"] - p["pad_left"] + (p["k_w"] - 1) * p["dil_w"]
    return int(p["pad_top"] > 0 or p["pad_left"] > 0 or y_max >= p["in_h"] or x_max >= p["in_w"])


def conv(call: KernelCall) -> GemmView:
    p = call.params
    filt, bias, mult, shift = conv_args(call)
    return GemmView({k: p[k] for k in GEO_KEYS}, filt.reshape(filt.shape[0], -1), bias, mult,
                    shift, p["input_offset"],
                    f"CONV_2D {p['k_h']}x{p['k_w']} stride {p['stride_h']}", shift is None)


def fully_connected(call: KernelCall) -> GemmView | None:
    p = call.params
    if p["filter_offset"] != 0:
        return None
    filt, bias, mult, shift = conv_args(call)
    b = p["batches"]
    geo = dict(batches=1, in_h=1, in_w=b, in_c=p["in_depth"], out_h=1, out_w=b,
               out_c=p["out_depth"], k_h=1, k_w=1, stride_h=1, stride_w=1, dil_h=1, dil_w=1,
               pad_top=0, pad_left=0)
    if shift is None:                       # one scale for every output channel: broadcast
        mult = np.resize(np.asarray(mult, np.float32), p["out_depth"])
    return GemmView(geo, filt, bias, mult, shift, p["input_offset"], "FULLY_CONNECTED",
                    shift is None)


def one_channel_depthwise(call: KernelCall) -> GemmView | None:
    """A depthwise layer on one input channel (e.g. with dilation, which the depthwise kernels
    do not take): every output channel is a full one-channel convolution."""
    p = call.params
    if p["in_c"] != 1:
        return None
    filt, bias, mult, shift = conv_args(call)
    return GemmView({k: p[k] for k in GEO_KEYS}, filt[0].transpose(2, 0, 1).reshape(p["out_c"], -1),
                    bias, mult, shift, p["input_offset"],
                    f"DEPTHWISE_CONV_2D {p['k_h']}x{p['k_w']} on one channel as a GEMM",
                    shift is None)


def of_call(call: KernelCall) -> GemmView | None:
    """The GEMM view of a portable conv, fully connected or one-channel depthwise call."""
    if call.fn.startswith("mcuc_conv_s8"):
        return conv(call)
    if call.fn.startswith("mcuc_fully_connected_s8"):
        return fully_connected(call)
    return one_channel_depthwise(call)
