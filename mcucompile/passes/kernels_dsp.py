"""Armv7E-M DSP variants (Cortex-M4/M7/M33) of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

Each builder takes the portable KernelCall the lowering produced and returns a KernelCall to a
kernel generated for that layer (templates/kernels/*_dsp.c.j2 around the bodies in
runtime_c/src/conv/*_dsp.h), with weights and requantisation records packed at compile time
(pack.py) and the scratch the kernel needs; or None when the layer is outside what the kernel
handles exactly (it then keeps the portable kernel).

    CONV_2D, FULLY_CONNECTED                                   -> im2col + 2x2-blocked GEMM
    DEPTHWISE_CONV_2D (a stride 1 or 2, no dilation)           -> planar bands + tap pairs
      (other depthwise layers on one input channel             -> as a GEMM)
    ADD / SUB without broadcasting                              -> per-input tables
    AVERAGE_POOL_2D (channels % 4 == 0, <= 256 taps)            -> 4 channels per load
"""
from __future__ import annotations

import numpy as np

from ..ir import Op
from . import gemm_view
from .gemm_view import GemmView, conv_args, needs_bounds
from .kernel_call import Arg, GeneratedKernel, KernelCall, layer_fn
from .pack import (add_tables, conv_k_order, conv_perm4, conv_weights_dsp, dw_weights_dsp,
                   folded_bias, fpreq_records, pad_records, requant_records)
from .templates import render

SIGNATURE = ("void {fn}(const int8_t *input, const int16_t *weights, const int32_t *quant, "
             "int8_t *output, int8_t *scratch)")
DW_SCRATCH_BUDGET = 4 * 1024   # planar band bytes the depthwise kernel may always use
DW_MAX_KC = 16                 # MCUC_DW_MAX_KC in depthwise_conv_s8_dsp.h


def _generated(template: str, fn: str, ctx: dict, header: str) -> GeneratedKernel:
    prototype = SIGNATURE.format(fn=fn)
    text = render(template, fn=fn, prototype=prototype, **ctx)
    return GeneratedKernel(text=text, prototype=prototype + ";",
                           runtime_files=(header,))


def _gemm_call(op: Op, call: KernelCall, view: GemmView) -> KernelCall | None:
    """A layer as im2col + GEMM (see gemm_view.py)."""
    p = call.params
    geo, w2d, bias, mult, shift = view.geo, view.w2d, view.bias, view.mult, view.shift
    input_offset, what = view.input_offset, view.what
    sums = w2d.astype(np.int64).sum(axis=1)
    bias_f = folded_bias(bias, input_offset, sums)
    abs_sums = np.abs(w2d.astype(np.int64)).sum(axis=1)
    if view.fpreq:
        rq = fpreq_records(bias_f, mult, abs_sums)
    else:
        rq = requant_records(bias_f, mult, shift, p["output_offset"], abs_sums)
    if rq is None:
        return None
    perm4 = conv_perm4(geo["k_w"], geo["in_c"], geo["dil_w"])
    order = conv_k_order(geo["k_h"], geo["k_w"], geo["in_c"], perm4)
    weights = conv_weights_dsp(w2d, rq.scale, order)
    k2 = (w2d.shape[1] + 1) // 2
    fn = layer_fn("mcuc_conv_s8_dsp", op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(geo, what=what, op_index=op.index, check_bounds=needs_bounds(geo),
               pad_value=int(op.inputs[0].quant.zero_point[0]), perm4=int(perm4),
               e0=int(rq.e0), fpreq=int(view.fpreq), out_zp=p["output_offset"],
               act_min=p["act_min"], act_max=p["act_max"])
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w16", weights),
                                     Arg.constant("quant", pad_records(rq.records, 4)),
                                     Arg.output(y)],
                      scratch_bytes=8 * k2, macs=call.macs,
                      generated=_generated("kernels/conv_s8_dsp.c.j2", fn, ctx,
                                           "conv/conv_s8_dsp.h"))


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
    # Rows run along x normally; along y ("transposed") when that makes rows longer or is the
    # only way to get a column stride of 1 or 2.
    normal_ok, transposed_ok = p["stride_w"] in (1, 2), p["stride_h"] in (1, 2)
    transposed = transposed_ok and (not normal_ok or p["out_h"] > p["out_w"])
    if not (normal_ok or transposed_ok) or max(p["k_h"], p["k_w"]) > DW_MAX_KC:
        return _one_channel_gemm(op, call)
    c, oc = p["in_c"], p["out_c"]
    w = filt[0]                                      # [k_h, k_w, out_c]
    sums = w.astype(np.int64).sum(axis=(0, 1))
    bias_f = folded_bias(bias, p["input_offset"], sums)
    abs_sums = np.abs(w.astype(np.int64)).sum(axis=(0, 1))
    if shift is None:       # ONNX: float requantisation, records {bias, scale bits, zp, rsh -1}
        rq = fpreq_records(bias_f, np.resize(np.asarray(mult, np.float32), oc), abs_sums)
        if rq is not None:
            rq.records = np.concatenate([rq.records, np.full((oc, 1), p["output_offset"]),
                                         np.full((oc, 1), -1)], axis=1).astype(np.int32)
    else:
        rq = requant_records(bias_f, mult, shift, p["output_offset"], abs_sums)
    if rq is None:
        return None
    if transposed:
        w = w.transpose(1, 0, 2)
        geo = dict(in_rows=p["in_w"], in_cols=p["in_h"], in_rs=c, in_cs=p["in_w"] * c,
                   out_rows=p["out_w"], out_cols=p["out_h"], out_rs=oc, out_cs=p["out_w"] * oc,
                   stride_r=p["stride_w"], stride_c=p["stride_h"], k_r=p["k_w"], k_c=p["k_h"],
                   pad_r=p["pad_left"], pad_c=p["pad_top"])
    else:
        geo = dict(in_rows=p["in_h"], in_cols=p["in_w"], in_rs=p["in_w"] * c, in_cs=c,
                   out_rows=p["out_h"], out_cols=p["out_w"], out_rs=p["out_w"] * oc, out_cs=oc,
                   stride_r=p["stride_h"], stride_c=p["stride_w"], k_r=p["k_h"], k_c=p["k_w"],
                   pad_r=p["pad_top"], pad_c=p["pad_left"])
    # Channels grouped by right shift (a literal in the generated code), records
    # {bias2, mult, rnd, c_out} and weights in that order.
    rsh = rq.records[:, 3]
    order = np.lexsort((np.arange(oc), rsh))
    records = np.concatenate([rq.records[order, :3], order[:, None]], axis=1).astype(np.int32)
    weights = dw_weights_dsp(w[:, :, order], rq.scale[order])
    groups, start = [], 0
    for value in sorted(set(rsh.tolist())):
        count = int((rsh == value).sum())
        groups.append(dict(start=start, count=count, rsh=int(value)))
        start += count
    k_r, k_c, sr, sc = geo["k_r"], geo["k_c"], geo["stride_r"], geo["stride_c"]
    cols_even = geo["out_cols"] + (geo["out_cols"] & 1)
    plane_w = (cols_even - 2) * sc + k_c + 3
    plane_w += plane_w & 1
    row_bytes = c * plane_w * 2
    budget = max(DW_SCRATCH_BUDGET, op.kernel.get("scratch_budget", 0))
    band = max(1, min(geo["out_rows"], (budget // row_bytes - k_r) // sr + 1))
    band_rows = (band - 1) * sr + k_r
    fn = layer_fn("mcuc_depthwise_conv_s8_dsp", op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(geo, what=f"DEPTHWISE_CONV_2D {p['k_h']}x{p['k_w']} stride "
                         f"{p['stride_h']}x{p['stride_w']}", op_index=op.index,
               transposed=transposed, batches=p["batches"], in_batch=p["in_h"] * p["in_w"] * c,
               out_batch=p["out_h"] * p["out_w"] * oc, in_c=c,
               depth_multiplier=p["depth_multiplier"],
               pad_value=int(op.inputs[0].quant.zero_point[0]), band=band, band_rows=band_rows,
               plane_w=plane_w, groups=groups, words=len(weights) // 2 // oc,
               act_min=p["act_min"], act_max=p["act_max"])
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w16", weights),
                                     Arg.constant("quant", records), Arg.output(y)],
                      scratch_bytes=row_bytes * band_rows, macs=call.macs,
                      generated=_generated("kernels/depthwise_conv_s8_dsp.c.j2", fn, ctx,
                                           "conv/depthwise_conv_s8_dsp.h"))


def add_sub(op: Op, call: KernelCall) -> KernelCall | None:
    p = call.params
    if p["bc"]["flat_size"] <= 0:
        return None                                  # broadcasting: portable kernel
    tables = add_tables(p, subtract=call.fn == "mcuc_sub_s8")
    if tables is None:
        return None
    t1, t2, rq = tables
    rec = rq.records[0]
    params = dict(size=p["bc"]["flat_size"], out_mult=int(rec[1]), out_rnd=int(rec[2]),
                  out_rsh=int(rec[3]), out_sgn=int(rec[4]) if rq.e0 else -1,
                  act_min=p["act_min"], act_max=p["act_max"])
    a, b, y = call.args
    return KernelCall("mcuc_add_s8_dsp", "mcuc_add_dsp_params", params,
                      [a, b, Arg.constant("table1", t1), Arg.constant("table2", t2), y],
                      macs=call.macs)


def avg_pool(op: Op, call: KernelCall) -> KernelCall | None:
    p = call.params
    if p["channels"] % 4 or p["f_h"] * p["f_w"] > 256:
        return None                                  # 16-bit lane sums: at most 256 taps
    return KernelCall("mcuc_avg_pool_s8_dsp", call.params_type, call.params, call.args,
                      macs=call.macs)


BUILDERS = {
    "mcuc_avg_pool_s8": avg_pool,
    "mcuc_add_s8": add_sub,
    "mcuc_sub_s8": add_sub,
    "mcuc_conv_s8": conv,
    "mcuc_fully_connected_s8": fully_connected,
    # ONNX models: the same GEMM, onnxruntime's float requantisation
    "mcuc_conv_s8_fpreq": conv,
    "mcuc_fully_connected_s8_fpreq": fully_connected,
    "mcuc_depthwise_conv_s8": depthwise,
    "mcuc_depthwise_conv_s8_fpreq": depthwise,
}
