"""Helium (MVE) variants (Cortex-M55) of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

Same contract as kernels_dsp: each builder takes the portable KernelCall and returns a call to
a kernel generated for the layer (templates/kernels/*_mve.c.j2 around the bodies in
runtime_c/src/conv/*_mve.h) with its weights repacked at compile time, or None.

    CONV_2D, FULLY_CONNECTED                   -> im2col (int8) + VMLADAVA GEMM
    DEPTHWISE_CONV_2D (no dilation)            -> window planes + VMLADAVA (a kernel
      family of its own, _chunks, when the planes go a few channels at a time: slower; with
      all channels the output may be shifted over the input, backend/shift.py)
      (other depthwise layers on one channel   -> as a GEMM)
    UNIDIRECTIONAL_SEQUENCE_LSTM (weight zero  -> the gates' dot products on VMLADAVA, the
      points 0), SVDF                             zero points folded into biases (SVDF: the
                                                  feature dot products, into offsets)

The builders take kernels_dsp's two choices and record them in KernelCall.variant:
    weights        these kernels read TFLite's int8 weights as they are (reordered, padded
                   to 16-byte chunks: the GEMM's K and the depthwise taps); "int16" is not
                   an encoding they have (None).
    scratch_budget the GEMM's im2col (two int8 columns) is fixed, so it fits or None; the
                   depthwise planes are made for as many input channels at a time (a
                   multiple of 4) as fit, None when 4 do not. None: all channels at once.
scratch_bytes(call, variant) and minimum_variant(call, weights) as in kernels_dsp.
"""
from __future__ import annotations

import numpy as np

from ..backend import shift as shifted
from ..backend.registry import scratch_bytes as registry_scratch
from ..ir import Op
from .kernel_call import Arg, GeneratedKernel, KernelCall, Variant, layer_fn
from . import gemm_view
from .gemm_view import GemmView, conv_args, needs_bounds
from .pack import (conv_weights_mve, dw_weights_mve, folded_bias, mve_pair_records,
                   mve_quad_records, mve_requant)

SIGNATURE = ("void {fn}(const int8_t *input, const int8_t *weights, const int32_t *quant, "
             "int8_t *output{scratch})")
MAX_PLANE = 9000   # byte-scatter offsets of 8 planes must fit 16 bits


def _generated(template: str, fn: str, ctx: dict, header: str,
               scratch: bool = True) -> GeneratedKernel:
    """The kernel takes the planned scratch as last argument when it has any."""
    prototype = SIGNATURE.format(fn=fn, scratch=", int8_t *scratch" if scratch else "")
    return GeneratedKernel(template, dict(ctx, fn=fn, prototype=prototype), prototype + ";",
                           runtime_files=(header,))


def _flags(rq) -> dict:
    return dict(has_left=int(rq.has_left), all_shift=int(rq.all_shift))


def _direct(geo: dict) -> bool:
    """A 1x1, stride-1, unpadded layer with K % 16 == 0 reads its input rows (no im2col)."""
    return (geo["k_h"] == geo["k_w"] == 1 and geo["stride_h"] == geo["stride_w"] == 1
            and not needs_bounds(geo) and geo["in_c"] % 16 == 0)


def _gemm_scratch(geo: dict) -> int:
    """im2col bytes: two pixels' K values, each padded to whole chunks of 16."""
    return 0 if _direct(geo) else 32 * ((geo["k_h"] * geo["k_w"] * geo["in_c"] + 15) // 16)


def _gemm_call(op: Op, call: KernelCall, view: GemmView,
               budget: int | None) -> KernelCall | None:
    """A layer as im2col + GEMM (see gemm_view.py)."""
    p = call.params
    geo, w2d, bias, mult, shift = view.geo, view.w2d, view.bias, view.mult, view.shift
    input_offset, what = view.input_offset, view.what
    scratch = _gemm_scratch(geo)
    if budget is not None and scratch > budget:
        return None
    bias_f = folded_bias(bias, input_offset, w2d.astype(np.int64).sum(axis=1))
    rq = mve_requant(bias_f, mult, shift, w2d.shape[0])
    direct = int(_direct(geo))
    fn = layer_fn("mcuc_conv_s8_mve", op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(geo, **_flags(rq), what=what, op_index=op.index,
               check_bounds=needs_bounds(geo),
               pad_value=int(op.inputs[0].quant.zero_point[0]), direct=direct,
               out_zp=p["output_offset"], act_min=p["act_min"], act_max=p["act_max"])
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w8", conv_weights_mve(w2d)),
                                     Arg.constant("quant", mve_pair_records(rq)),
                                     Arg.output(y)],
                      scratch_bytes=scratch, macs=call.macs,
                      generated=_generated("kernels/conv_s8_mve.c.j2", fn, ctx,
                                           "conv/conv_s8_mve.h", scratch=not direct),
                      variant=Variant(weights="int8", pixels=2),
                      shift=shifted.mve_direct(geo) if direct else shifted.gemm(geo, 2, True, 0))


def conv(op: Op, call: KernelCall, weights: str | None = None,
         scratch_budget: int | None = None) -> KernelCall | None:
    if weights not in (None, "int8"):
        return None
    return _gemm_call(op, call, gemm_view.conv(call), scratch_budget)


def fully_connected(op: Op, call: KernelCall, weights: str | None = None,
                    scratch_budget: int | None = None) -> KernelCall | None:
    view = gemm_view.fully_connected(call)
    if weights not in (None, "int8") or view is None:
        return None
    return _gemm_call(op, call, view, scratch_budget)


def _plane(p: dict) -> int | None:
    """Bytes of one channel's window plane for one output row (16 bytes of slack), or None
    when the layer goes to the one-channel GEMM (or the portable kernel)."""
    if p["dil_h"] != 1 or p["dil_w"] != 1 or (p["in_c"] == 1 and p["k_h"] * p["k_w"] > 16):
        return None          # (large one-channel kernels: better as a GEMM)
    cols = (p["out_w"] - 1) * p["stride_w"] + p["k_w"]    # plane columns the windows read
    plane = cols * p["k_h"] + 16
    return plane if plane <= MAX_PLANE else None


def _dw_chunk(p: dict, plane: int, budget: int | None) -> int | None:
    """Input channels per plane chunk: all, or the most (a multiple of 4) that fit."""
    c = p["in_c"]
    if budget is None or c * plane <= budget:
        return c
    chunk = budget // plane // 4 * 4
    return chunk if chunk >= 4 else None


def depthwise(op: Op, call: KernelCall, weights: str | None = None,
              scratch_budget: int | None = None) -> KernelCall | None:
    if weights not in (None, "int8"):
        return None
    p = call.params
    plane = _plane(p)
    if plane is None:
        view = gemm_view.one_channel_depthwise(call)
        return _gemm_call(op, call, view, scratch_budget) if view else None
    chunk = _dw_chunk(p, plane, scratch_budget)
    if chunk is None:
        return None
    filt, bias, mult, shift = conv_args(call)       # filter [1, k_h, k_w, out_c]
    w = filt[0]                                      # [k_h, k_w, out_c]
    k_h, k_w = p["k_h"], p["k_w"]
    cols = (p["out_w"] - 1) * p["stride_w"] + k_w
    bias_f = folded_bias(bias, p["input_offset"], w.astype(np.int64).sum(axis=(0, 1)))
    rq = mve_requant(bias_f, mult, shift, p["out_c"])
    whole = chunk == p["in_c"]
    fn = layer_fn("mcuc_depthwise_conv_s8_mve" if whole else "mcuc_depthwise_conv_s8_mve_chunks",
                  op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(p, **_flags(rq), what=f"DEPTHWISE_CONV_2D {k_h}x{k_w} stride "
                                     f"{p['stride_h']}x{p['stride_w']}",
               op_index=op.index, pad_value=int(op.inputs[0].quant.zero_point[0]),
               cols=cols, plane=plane, nch=(k_h * k_w + 15) // 16, out_zp=p["output_offset"],
               chunk=chunk)
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w8", dw_weights_mve(w)),
                                     Arg.constant("quant", mve_quad_records(rq)),
                                     Arg.output(y)],
                      scratch_bytes=plane * chunk, macs=call.macs,
                      generated=_generated("kernels/depthwise_conv_s8_mve.c.j2", fn, ctx,
                                           "conv/depthwise_conv_s8_mve.h"),
                      variant=Variant(weights="int8", channels=chunk),
                      shift=shifted.mve_rows(p) if whole else None)


def scratch_bytes(call: KernelCall, variant: Variant) -> int:
    """Scratch of the fast kernel for the portable `call` with `variant`'s tiling (the
    formula the builders use)."""
    if call.fn.startswith("mcuc_depthwise_conv_s8"):
        plane = _plane(call.params)
        if plane is not None:
            return plane * (variant.channels or call.params["in_c"])
    if call.fn == "mcuc_lstm_s8":
        return _lstm_params(call.params)["in_stride"] + _lstm_params(call.params)["rec_stride"]
    if call.fn == "mcuc_svdf_s8":
        return -(-call.params["input_size"] // 16) * 16
    view = gemm_view.of_call(call)
    return _gemm_scratch(view.geo) if view else 0


def minimum_variant(call: KernelCall, weights: str | None = None) -> Variant | None:
    """The tiling with the least scratch the kernel for `call` can run in (None: no
    Helium kernel for the layer shape)."""
    if call.fn not in BUILDERS or weights not in (None, "int8"):
        return None
    if call.fn.startswith("mcuc_depthwise_conv_s8"):
        if _plane(call.params) is not None:
            return Variant(weights="int8", channels=min(4, call.params["in_c"]))
    return Variant(weights="int8", pixels=2) if gemm_view.of_call(call) else None


def _lstm_params(p: dict) -> dict:
    """The Helium LSTM's params: weight rows padded to 16-byte vectors."""
    return dict(p, in_stride=-(-p["input_size"] // 16) * 16,
                rec_stride=-(-p["state_size"] // 16) * 16)


def lstm(op: Op, call: KernelCall, weights: str | None = None,
         scratch_budget: int | None = None) -> KernelCall | None:
    """The gates' dot products on VMLADAVA (runtime_c/src/recurrent/lstm_s8_mve.c): weight
    rows padded with zeros to 16-byte vectors; the input and hidden zero points folded into
    an input-side and a recurrent-side bias per gate and unit (None where a folded value
    leaves int32, or the weights have a zero point)."""
    p = call.params
    if any(p["in_w_offset"]) or any(p["rec_w_offset"]):
        return None
    params = _lstm_params(p)
    scratch = registry_scratch("mcuc_lstm_s8_mve", params)
    if scratch_budget is not None and scratch > scratch_budget:
        return None
    x, in_w, rec_w, biases, h, c, y = call.args
    bias = biases.const.astype(np.int64) \
        + p["input_offset"] * in_w.const.astype(np.int64).sum(axis=2)
    rec_bias = p["hidden_offset"] * rec_w.const.astype(np.int64).sum(axis=2)
    if max(np.abs(bias).max(), np.abs(rec_bias).max()) >= 2 ** 31:
        return None

    def padded(a: np.ndarray, stride: int) -> np.ndarray:
        return np.pad(a, [(0, 0), (0, 0), (0, stride - a.shape[2])])
    return KernelCall("mcuc_lstm_s8_mve", call.params_type, params,
                      [x, Arg.constant("in_weights", padded(in_w.const, params["in_stride"])),
                       Arg.constant("rec_weights", padded(rec_w.const, params["rec_stride"])),
                       Arg.constant("biases", bias.astype(np.int32)),
                       Arg.constant("rec_biases", rec_bias.astype(np.int32)), h, c, y],
                      scratch_bytes=scratch, macs=call.macs, variant=Variant(weights="int8"))


def svdf(op: Op, call: KernelCall, weights: str | None = None,
         scratch_budget: int | None = None) -> KernelCall | None:
    """The feature dot products on VMLADAVA (runtime_c/src/recurrent/svdf_s8_mve.c): the
    weights_feature rows padded to 16-byte vectors, -input_zp x each row's sum an offset per
    filter."""
    params = dict(call.params, in_stride=-(-call.params["input_size"] // 16) * 16)
    scratch = registry_scratch("mcuc_svdf_s8_mve", params)
    if scratch_budget is not None and scratch > scratch_budget:
        return None
    x, wf, wt, bias, state, y = call.args
    offsets = -params["input_zp"] * wf.const.astype(np.int64).sum(axis=1)
    padded = np.pad(wf.const, [(0, 0), (0, params["in_stride"] - wf.const.shape[1])])
    return KernelCall("mcuc_svdf_s8_mve", call.params_type, params,
                      [x, Arg.constant("weights_feature", padded),
                       Arg.constant("feature_offsets", offsets.astype(np.int32)), wt, bias,
                       state, y],
                      scratch_bytes=scratch, macs=call.macs, variant=Variant(weights="int8"))


BUILDERS = {
    "mcuc_conv_s8": conv,
    "mcuc_fully_connected_s8": fully_connected,
    "mcuc_depthwise_conv_s8": depthwise,
    "mcuc_lstm_s8": lstm,
    "mcuc_svdf_s8": svdf,
}
