"""Plain-C99 fast variants of CONV_2D, FULLY_CONNECTED and DEPTHWISE_CONV_2D for cores without
the DSP extension (Cortex-M0/M0+, Cortex-M3) and the host.

Each builder takes the portable KernelCall the lowering produced and returns a KernelCall to a
kernel generated for that layer (templates/kernels/*_fast.c.j2 around the inline bodies in
runtime_c/src/conv/conv_s8_fast.h, whose header states the algebra), or None when the layer is
outside what the kernel takes (it keeps the portable kernel):

    CONV_2D (no dilation), FULLY_CONNECTED, DEPTHWISE_CONV_2D on one input channel
        -> GEMM in blocks of NC output channels x NP output pixels, NC x NP accumulators in
           registers, each pixel's window read in place as k_h runs of k_w in_c values;
           a window reaching into the padding runs alone, its taps outside the input
           reading a constant row of zero points in flash; 1x1 stride-1 unpadded layers
           and FC read consecutive pixels ("direct")
    DEPTHWISE_CONV_2D (depth multiplier 1, no dilation, k_h <= 16)
        -> per output row and channel, NP pixels at a time, each weight loaded once for the
           NP pixels; padded rows read a constant row of zero points in flash, padded
           columns are unrolled at compile time
    In place (planner/inplace.py chose the layer; in_place()): the 1x1 GEMM with out_c <=
    in_c through NP pixels' outputs of scratch, the depthwise kernel through one output
    plane, as the portable in-place kernels

Algorithm of a builder (the reuse the DSP kernels have, in plain C):
1. The input offset is folded into the bias at compile time: bias_f = bias + input_offset *
   sum(w) per output channel (wrapped to int32, exact mod 2^32 as TFLM's own int32 sums), so
   the inner loop is a bare sum of int8 x int8 products.
2. Weights stay int8 (the model's flash): the GEMM's as the model has them ([out_c][K],
   channels padded to a multiple of NC), the depthwise kernel's taps per channel contiguous.
3. Requantisation is TFLM's MultiplyByQuantizedMultiplier (mcuc_fixedpoint.h), per channel:
   with the rounding and the output zero point folded into one constant (as the DSP
   kernels' records, pack.requant_records) when no channel can overflow, else split into
   its right and left shifts; bit-exact with the portable kernel either way.
4. The block shape is the core's (BLOCKS): the Cortex-M3 has MLA and 13 usable registers:
   4 channels x 2 pixels (8 accumulators, 14 instructions per 8 MACs); the Cortex-M0 has no
   MLA (MULS + ADDS), LDRSB only with a register offset and 8 low registers: 2 channels x 1
   pixel, all loads base[j] with one index j (gcc 12 then keeps the loop in low registers:
   10 instructions per 2 MACs; 2 x 2 and 4 x 1 spill, 6 per MAC). Shapes, strides, padding
   and block sizes are literals in the generated wrapper, so gcc unrolls and specialises.
Scratch: none but in place (scratch_bytes, the C's mcuc_conv_s8_fast_scratch_bytes, checked
against each other by tests/test_registry.py), so the search never trades these kernels
against memory: they take the portable kernel's place wherever it runs.
Not taken: dilation, ONNX (float requantisation), FC with weight zero points, depthwise with
a depth multiplier > 1 on several input channels.
"""
from __future__ import annotations

import functools

import numpy as np

from ..ir import Op
from . import gemm_view
from .gemm_view import GemmView, conv_args, needs_bounds
from .kernel_call import Arg, GeneratedKernel, KernelCall, Variant, layer_fn
from .pack import folded_bias, lsh_literal, requant_records, wrap32

HEADER = "conv/conv_s8_fast.h"
GEMM_NAME = "mcuc_conv_s8_fast"
DW_NAME = "mcuc_depthwise_conv_s8_fast"
DW_MAX_K = 16                        # rows[16] in conv_s8_fast.h
# (GEMM channels, GEMM pixels, depthwise pixels) per block, by core
BLOCKS = {"cortex-m0": (2, 1, 2), "cortex-m0plus": (2, 1, 2)}
DEFAULT_BLOCK = (4, 2, 4)            # Cortex-M3 and the host


def block(core: str | None) -> tuple[int, int, int]:
    return BLOCKS.get(core or "", DEFAULT_BLOCK)


def scratch_bytes(depthwise: bool, inplace: bool, np_: int, geo: dict) -> int:
    """Bytes of scratch: none, except in place: the 1x1 GEMM's np_ pixels' outputs, the
    depthwise kernel's output plane (conv_s8_fast.h: mcuc_conv_s8_fast_scratch_bytes)."""
    if not inplace:
        return 0
    return geo["out_h"] * geo["out_w"] if depthwise else np_ * geo["out_c"]


def _records(bias: np.ndarray | None, input_offset: int, w2d: np.ndarray, mult, shift,
             out_zp: int, padded: int) -> tuple[np.ndarray, dict]:
    """The requantisation records of a layer (conv_s8_fast.h), padded to `padded` channels
    (copies of the last), and the literals the kernel reads them with: folded records when
    every channel folds (pack.requant_records with unscaled weights), else split ones
    {bias_f, mult, rsh, left} (TFLM's shift s: rsh = max(-s, 0), left = max(s, 0))."""
    out_c = w2d.shape[0]
    w = w2d.astype(np.int64)
    bias_f = wrap32(folded_bias(bias, input_offset, w.sum(axis=1)))
    mult = np.resize(np.asarray(mult, np.int64), out_c)
    s = np.resize(np.asarray(shift, np.int64), out_c)
    rq = requant_records(bias_f, mult, s, out_zp, np.abs(w).sum(axis=1), scaled_weights=False)
    if rq is not None:
        rec, lits = rq.records, dict(folded=1, e0=int(rq.e0), lsh=lsh_literal(rq))
    else:
        rec = np.stack([bias_f, mult, np.maximum(-s, 0), np.maximum(s, 0)], axis=1)
        lits = dict(folded=0, e0=0, lsh=0)
    rec = np.asarray(rec, np.int64)
    rec = (rec & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
    if padded > out_c:
        rec = np.concatenate([rec, np.repeat(rec[-1:], padded - out_c, axis=0)])
    return np.ascontiguousarray(rec), dict(lits, qw=rec.shape[1], out_zp=out_zp)


def _generated(template: str, fn: str, ctx: dict, extra: str, scratch: bool) -> GeneratedKernel:
    """The kernel's prototype: (input, weights, quant, [extra], output[, scratch]), or in place
    (data, weights, quant, [extra], scratch), the order of the call's arguments."""
    tensors = ("int8_t *data, ", "") if ctx["inplace"] else ("const int8_t *input, ",
                                                              "int8_t *output, ")
    prototype = (f"void {fn}({tensors[0]}const int8_t *weights, const int32_t *quant, "
                 f"{extra}{tensors[1]}{'int8_t *scratch' if scratch else ''}")
    prototype = prototype.rstrip(", ") + ")"
    return GeneratedKernel(template, dict(ctx, fn=fn, prototype=prototype), prototype + ";",
                           runtime_files=(HEADER,))


def _direct(geo: dict) -> bool:
    return (geo["k_h"] == geo["k_w"] == 1 and geo["stride_h"] == geo["stride_w"] == 1
            and not needs_bounds(geo))


def _gemm_call(op: Op, call: KernelCall, view: GemmView | None, core: str | None,
               inplace: bool = False) -> KernelCall | None:
    if view is None or view.fpreq:
        return None
    geo = view.geo
    if geo["dil_h"] != 1 or geo["dil_w"] != 1:
        return None
    nc, np_, _ = block(core)
    pixels = geo["batches"] * geo["out_h"] * geo["out_w"]
    if pixels == 1:
        np_ = 1
    if inplace and (not _direct(geo) or geo["out_c"] > geo["in_c"]):
        return None     # (lower.pointwise_in_place's conditions, which inplace.py met)
    scratch = scratch_bytes(False, inplace, np_, geo)
    out_c, k = geo["out_c"], view.w2d.shape[1]
    blocks = -(-out_c // nc)
    w = np.zeros((blocks * nc, k), np.int8)
    w[:out_c] = view.w2d
    packed = w.reshape(-1)
    if np.any(np.asarray(view.mult) < 0):
        return None                 # (mcuc_requant_split takes non-negative multipliers)
    p = call.params
    quant, lits = _records(view.bias, view.input_offset, view.w2d, view.mult, view.shift,
                           p["output_offset"], blocks * nc)
    fn = layer_fn(GEMM_NAME + ("_inplace" if inplace else ""), op)
    ctx = dict(geo, what=view.what, op_index=op.index, direct=_direct(geo), scratch=scratch > 0,
               pad_value=int(op.inputs[0].quant.zero_point[0]), nc=nc, np=np_, core=core,
               inplace=inplace, act_min=p["act_min"], act_max=p["act_max"], **lits)
    consts = [Arg.constant("w8", packed), Arg.constant("quant", quant)]
    bounds = needs_bounds(geo) and not _direct(geo)
    if bounds:                  # zero points for the taps in the padding
        consts.append(Arg.constant("zrow", np.full(geo["k_w"] * geo["in_c"],
                                                   ctx["pad_value"], np.int8)))
    ctx["bounds"] = bounds
    return KernelCall(fn, None, {}, _tensors(call, inplace, consts),
                      scratch_bytes=scratch, macs=call.macs,
                      generated=_generated("kernels/conv_s8_fast.c.j2", fn, ctx,
                                           "const int8_t *zrow, " if bounds else "",
                                           scratch > 0),
                      variant=Variant(weights="int8", pixels=np_, direct=_direct(geo)))


def _tensors(call: KernelCall, inplace: bool, consts: list[Arg]) -> list[Arg]:
    """The call's arguments: input, constants, output; in place the output (over the input)
    first, then the constants."""
    x, y = call.args[0].tensor, call.args[-1].tensor
    if inplace:
        return [Arg.output(y)] + consts
    return [Arg.input(x)] + consts + [Arg.output(y)]


def conv(op: Op, call: KernelCall, core: str | None = None) -> KernelCall | None:
    return _gemm_call(op, call, gemm_view.conv(call), core)


def fully_connected(op: Op, call: KernelCall, core: str | None = None) -> KernelCall | None:
    return _gemm_call(op, call, gemm_view.fully_connected(call), core)


def _columns(p: dict) -> tuple[int, int]:
    """[lo, hi): the output columns whose window reads no padding column."""
    lo = min(-(-p["pad_left"] // p["stride_w"]), p["out_w"])
    hi = lo
    while hi < p["out_w"] and hi * p["stride_w"] - p["pad_left"] + p["k_w"] <= p["in_w"]:
        hi += 1
    return lo, hi


def depthwise(op: Op, call: KernelCall, core: str | None = None,
              inplace: bool = False) -> KernelCall | None:
    p = call.params
    if p["in_c"] == 1 and not inplace:
        return _gemm_call(op, call, gemm_view.one_channel_depthwise(call), core)
    if (p["depth_multiplier"] != 1 or p["dil_h"] != 1 or p["dil_w"] != 1
            or p["k_h"] > DW_MAX_K or call.fn.endswith("_fpreq")):
        return None
    filt, bias, mult, shift = conv_args(call)          # filter [1, k_h, k_w, c]
    if np.any(np.asarray(mult) < 0):
        return None
    c = p["in_c"]
    w = np.ascontiguousarray(filt[0].transpose(2, 0, 1)).reshape(c, -1)   # [c][k_h k_w]
    quant, lits = _records(bias, p["input_offset"], w, mult, shift, p["output_offset"], c)
    zp = int(op.inputs[0].quant.zero_point[0])
    zrow = np.full(p["in_w"] * c, zp, np.int8)
    lo, hi = _columns(p)
    np_ = max(1, min(block(core)[2], hi - lo))       # narrow rows: all inner columns at once
    fn = layer_fn(DW_NAME + ("_inplace" if inplace else ""), op)
    ctx = dict(p, what=f"DEPTHWISE_CONV_2D {p['k_h']}x{p['k_w']} stride "
                       f"{p['stride_h']}x{p['stride_w']}", op_index=op.index, pad_value=zp,
               np=np_, lo_cols=lo, hi_cols=hi, core=core, inplace=inplace, **lits)
    scratch = scratch_bytes(True, inplace, np_, p)
    return KernelCall(fn, None, {}, _tensors(call, inplace, [
                          Arg.constant("w8", w.reshape(-1)), Arg.constant("quant", quant),
                          Arg.constant("zrow", zrow)]),
                      scratch_bytes=scratch, macs=call.macs,
                      generated=_generated("kernels/depthwise_conv_s8_fast.c.j2", fn, ctx,
                                           "const int8_t *zrow, ", scratch > 0),
                      variant=Variant(weights="int8", pixels=np_))


_BUILDERS = {
    "mcuc_conv_s8": conv,
    "mcuc_fully_connected_s8": fully_connected,
    "mcuc_depthwise_conv_s8": depthwise,
}


def in_place(op: Op, fast: KernelCall, portable: KernelCall) -> KernelCall | None:
    """The in-place twin of this module's kernel `fast` (built from `portable`, the layer's
    portable call) for a layer inplace.py runs over its input (lower.depthwise_in_place /
    pointwise_in_place's conditions), or None when `fast` is not this module's."""
    if fast.generated is None or fast.fn not in (layer_fn(GEMM_NAME, op),
                                                 layer_fn(DW_NAME, op)):
        return None
    core = fast.generated.context["core"]
    if portable.fn == "mcuc_depthwise_conv_s8":
        if portable.params["in_c"] != portable.params["out_c"]:
            return None
        return depthwise(op, portable, core=core, inplace=True)
    if portable.fn == "mcuc_conv_s8":
        return _gemm_call(op, portable, gemm_view.conv(portable), core, inplace=True)
    return None


@functools.cache
def builders(core: str | None) -> dict:
    """The builder table for `core` (its block shapes)."""
    return {name: functools.partial(b, core=core) for name, b in _BUILDERS.items()}
