"""Helium (MVE) variants (Cortex-M55) of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

Same contract as kernels_dsp: each builder takes the portable KernelCall and returns a call to
a kernel generated for the layer (templates/kernels/*_mve.c.j2 around the bodies in
runtime_c/src/conv/*_mve.h) with its weights repacked at compile time, or None.

    CONV_2D, FULLY_CONNECTED                   -> im2col (int8) + VMLADAVA GEMM
    DEPTHWISE_CONV_2D (no dilation)            -> window planes + VMLADAVA
      (other depthwise layers on one channel   -> as a GEMM)
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from .kernel_call import Arg, GeneratedKernel, KernelCall, layer_fn
from . import gemm_view
from .gemm_view import GemmView, conv_args, needs_bounds
from .pack import (conv_weights_mve, dw_weights_mve, folded_bias, mve_pair_records,
                   mve_quad_records, mve_requant)
from .templates import render

SIGNATURE = ("void {fn}(const int8_t *input, const int8_t *weights, const int32_t *quant, "
             "int8_t *output{scratch})")
MAX_PLANE = 9000   # byte-scatter offsets of 8 planes must fit 16 bits


def _generated(template: str, fn: str, ctx: dict, header: str,
               scratch: bool = True) -> GeneratedKernel:
    """The kernel takes the planned scratch as last argument when it has any."""
    prototype = SIGNATURE.format(fn=fn, scratch=", int8_t *scratch" if scratch else "")
    return GeneratedKernel(text=render(template, fn=fn, prototype=prototype, **ctx),
                           prototype=prototype + ";", runtime_files=(header,))


def _flags(rq) -> dict:
    return dict(has_left=int(rq.has_left), all_shift=int(rq.all_shift))


def _gemm_call(op: Op, call: KernelCall, view: GemmView) -> KernelCall:
    """A layer as im2col + GEMM (see gemm_view.py)."""
    p = call.params
    geo, w2d, bias, mult, shift = view.geo, view.w2d, view.bias, view.mult, view.shift
    input_offset, what = view.input_offset, view.what
    bias_f = folded_bias(bias, input_offset, w2d.astype(np.int64).sum(axis=1))
    rq = mve_requant(bias_f, mult, shift, w2d.shape[0])
    k = w2d.shape[1]
    nk = (k + 15) // 16
    direct = int(geo["k_h"] == geo["k_w"] == 1 and geo["stride_h"] == geo["stride_w"] == 1
                 and not needs_bounds(geo) and k % 16 == 0)
    fn = layer_fn("mcuc_conv_s8_mve", op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(geo, **_flags(rq), what=what, op_index=op.index,
               check_bounds=needs_bounds(geo),
               pad_value=int(op.inputs[0].quant.zero_point[0]), direct=direct,
               out_zp=p["output_offset"], act_min=p["act_min"], act_max=p["act_max"])
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w8", conv_weights_mve(w2d)),
                                     Arg.constant("quant", mve_pair_records(rq)),
                                     Arg.output(y)],
                      scratch_bytes=0 if direct else 32 * nk, macs=call.macs,
                      generated=_generated("kernels/conv_s8_mve.c.j2", fn, ctx,
                                           "conv/conv_s8_mve.h", scratch=not direct))


def conv(op: Op, call: KernelCall) -> KernelCall | None:
    return _gemm_call(op, call, gemm_view.conv(call))


def fully_connected(op: Op, call: KernelCall) -> KernelCall | None:
    view = gemm_view.fully_connected(call)
    return _gemm_call(op, call, view) if view else None


def _one_channel_gemm(op: Op, call: KernelCall) -> KernelCall | None:
    view = gemm_view.one_channel_depthwise(call)
    return _gemm_call(op, call, view) if view else None


def depthwise(op: Op, call: KernelCall) -> KernelCall | None:
    p = call.params
    filt, bias, mult, shift = conv_args(call)       # filter [1, k_h, k_w, out_c]
    if p["dil_h"] != 1 or p["dil_w"] != 1 or (p["in_c"] == 1 and p["k_h"] * p["k_w"] > 16):
        return _one_channel_gemm(op, call)   # (large one-channel kernels: better as a GEMM)
    w = filt[0]                                      # [k_h, k_w, out_c]
    k_h, k_w = p["k_h"], p["k_w"]
    cols = (p["out_w"] - 1) * p["stride_w"] + k_w    # plane columns the windows read
    plane = cols * k_h + 16
    if plane > MAX_PLANE:
        return _one_channel_gemm(op, call)
    bias_f = folded_bias(bias, p["input_offset"], w.astype(np.int64).sum(axis=(0, 1)))
    rq = mve_requant(bias_f, mult, shift, p["out_c"])
    fn = layer_fn("mcuc_depthwise_conv_s8_mve", op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(p, **_flags(rq), what=f"DEPTHWISE_CONV_2D {k_h}x{k_w} stride "
                                     f"{p['stride_h']}x{p['stride_w']}",
               op_index=op.index, pad_value=int(op.inputs[0].quant.zero_point[0]),
               cols=cols, plane=plane, nch=(k_h * k_w + 15) // 16, out_zp=p["output_offset"])
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w8", dw_weights_mve(w)),
                                     Arg.constant("quant", mve_quad_records(rq)),
                                     Arg.output(y)],
                      scratch_bytes=plane * p["in_c"], macs=call.macs,
                      generated=_generated("kernels/depthwise_conv_s8_mve.c.j2", fn, ctx,
                                           "conv/depthwise_conv_s8_mve.h"))


BUILDERS = {
    "mcuc_conv_s8": conv,
    "mcuc_fully_connected_s8": fully_connected,
    "mcuc_depthwise_conv_s8": depthwise,
}
