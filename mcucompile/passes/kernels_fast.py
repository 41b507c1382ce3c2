"""Plain-C99 fast variants of CONV_2D, FULLY_CONNECTED and DEPTHWISE_CONV_2D for cores without
the DSP extension (Cortex-M0/M0+, Cortex-M3) and the host.

Each builder takes the portable KernelCall the lowering produced and returns a KernelCall to a
kernel generated for that layer (templates/kernels/*_fast.c.j2 around the inline bodies in
runtime_c/src/conv/conv_s8_fast.h, whose header states the algebra), or None when the layer is
outside what the kernel takes (it keeps the portable kernel):

    CONV_2D (no dilation), FULLY_CONNECTED, DEPTHWISE_CONV_2D on one input channel
        -> GEMM in blocks of NC output channels x NP output pixels, NC x NP accumulators in
           registers, each pixel's window read in place as k_h runs of k_w in_c values;
           a window reaching into the padding is first copied to `scratch` (K bytes, one
           pixel); 1x1 stride-1 unpadded layers and FC read consecutive pixels ("direct")
    DEPTHWISE_CONV_2D (depth multiplier 1, no dilation, k_h <= 16)
        -> per output row and channel, NP pixels at a time, each weight loaded once for the
           NP pixels; padded rows read a constant row of zero points in flash, padded
           columns are unrolled at compile time; no scratch

Algorithm of a builder (the reuse the DSP kernels have, in plain C):
1. The input offset is folded into the bias at compile time: bias_f = bias + input_offset *
   sum(w) per output channel (wrapped to int32, exact mod 2^32 as TFLM's own int32 sums), so
   the inner loop is a bare sum of int8 x int8 products.
2. Weights stay int8 (the model's flash), reordered: the GEMM's NC channels of a block
   interleaved per product (one pointer, NC loads at immediate offsets), the depthwise
   kernel's taps per channel contiguous.
3. Requantisation is TFLM's MultiplyByQuantizedMultiplier (mcuc_fixedpoint.h) on records
   {bias_f, mult, rsh, left} per channel: bit-exact with the portable kernel.
4. The block shape is the core's (BLOCKS): the Cortex-M3 has MLA and 13 usable registers:
   4 channels x 2 pixels (8 accumulators); the Cortex-M0 has no MLA (MULS + ADDS) and 8 low
   registers: 2 x 2. Shapes, strides, padding and block sizes are literals in the generated
   wrapper, so gcc unrolls and addresses with immediate offsets.
Scratch: scratch_bytes(geo) (the C's mcuc_conv_s8_fast_scratch_bytes, tests/test_registry.py);
a GEMM layer with padding whose step leaves less than K bytes keeps its portable kernel.
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
from .pack import folded_bias

HEADER = "conv/conv_s8_fast.h"
GEMM_NAME = "mcuc_conv_s8_fast"
DW_NAME = "mcuc_depthwise_conv_s8_fast"
DW_MAX_K = 16                        # rows[16] in conv_s8_fast.h
# (GEMM channels, GEMM pixels, depthwise pixels) per block, by core
BLOCKS = {"cortex-m0": (2, 2, 2), "cortex-m0plus": (2, 2, 2)}
DEFAULT_BLOCK = (4, 2, 4)            # Cortex-M3 and the host


def block(core: str | None) -> tuple[int, int, int]:
    return BLOCKS.get(core or "", DEFAULT_BLOCK)


def scratch_bytes(geo: dict) -> int:
    """Bytes of scratch of the GEMM: one pixel's window (K = k_h k_w in_c) when some window
    reaches into the padding, else none (conv_s8_fast.h: mcuc_conv_s8_fast_scratch_bytes)."""
    return geo["k_h"] * geo["k_w"] * geo["in_c"] if needs_bounds(geo) else 0


def _records(bias: np.ndarray | None, input_offset: int, w2d: np.ndarray, mult, shift,
             out_c: int, padded: int) -> np.ndarray:
    """{bias_f, mult, rsh, left} per channel, int32 (TFLM's shift s: rsh = max(-s, 0), left =
    max(s, 0)), padded to `padded` channels (copies of the last)."""
    bias_f = folded_bias(bias, input_offset, w2d.astype(np.int64).sum(axis=1))
    s = np.resize(np.asarray(shift, np.int64), out_c)
    rec = np.stack([bias_f.astype(np.int64), np.resize(np.asarray(mult, np.int64), out_c),
                    np.maximum(-s, 0), np.maximum(s, 0)], axis=1)
    rec = (rec & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
    if padded > out_c:
        rec = np.concatenate([rec, np.repeat(rec[-1:], padded - out_c, axis=0)])
    return np.ascontiguousarray(rec.astype(np.int32))


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
               scratch_budget: int | None, inplace: bool = False) -> KernelCall | None:
    if view is None or view.fpreq:
        return None
    geo = view.geo
    if geo["dil_h"] != 1 or geo["dil_w"] != 1:
        return None
    nc, np_, _ = block(core)
    pixels = geo["batches"] * geo["out_h"] * geo["out_w"]
    if pixels == 1:
        np_ = 1
    if inplace:         # (the conditions of lower.pointwise_in_place, which inplace.py met)
        if not _direct(geo) or geo["out_c"] > geo["in_c"]:
            return None
        scratch = np_ * geo["out_c"]
    else:
        scratch = scratch_bytes(geo)
        budget = op.kernel.scratch_budget if scratch_budget is None else scratch_budget
        if scratch > budget:
            return None
    out_c, k = geo["out_c"], view.w2d.shape[1]
    blocks = -(-out_c // nc)
    w = np.zeros((blocks * nc, k), np.int8)
    w[:out_c] = view.w2d
    packed = np.ascontiguousarray(w.reshape(blocks, nc, k).transpose(0, 2, 1)).reshape(-1)
    if np.any(np.asarray(view.mult) < 0):
        return None                 # (mcuc_requant_split takes non-negative multipliers)
    quant = _records(view.bias, view.input_offset, view.w2d, view.mult, view.shift, out_c,
                     blocks * nc)
    p = call.params
    fn = layer_fn(GEMM_NAME + ("_inplace" if inplace else ""), op)
    ctx = dict(geo, what=view.what, op_index=op.index, direct=_direct(geo), scratch=scratch > 0,
               pad_value=int(op.inputs[0].quant.zero_point[0]), nc=nc, np=np_, core=core,
               inplace=inplace, out_zp=p["output_offset"], act_min=p["act_min"],
               act_max=p["act_max"])
    return KernelCall(fn, None, {}, _tensors(call, inplace, [Arg.constant("w8", packed),
                                                             Arg.constant("quant", quant)]),
                      scratch_bytes=scratch, macs=call.macs,
                      generated=_generated("kernels/conv_s8_fast.c.j2", fn, ctx, "",
                                           scratch > 0),
                      variant=Variant(weights="int8", pixels=np_, direct=_direct(geo)))


def _tensors(call: KernelCall, inplace: bool, consts: list[Arg]) -> list[Arg]:
    """The call's arguments: input, constants, output; in place the output (over the input)
    first, then the constants."""
    x, y = call.args[0].tensor, call.args[-1].tensor
    if inplace:
        return [Arg.output(y)] + consts
    return [Arg.input(x)] + consts + [Arg.output(y)]


def conv(op: Op, call: KernelCall, scratch_budget: int | None = None,
         core: str | None = None) -> KernelCall | None:
    return _gemm_call(op, call, gemm_view.conv(call), core, scratch_budget)


def fully_connected(op: Op, call: KernelCall, scratch_budget: int | None = None,
                    core: str | None = None) -> KernelCall | None:
    return _gemm_call(op, call, gemm_view.fully_connected(call), core, scratch_budget)


def _columns(p: dict) -> tuple[int, int]:
    """[lo, hi): the output columns whose window reads no padding column."""
    lo = min(-(-p["pad_left"] // p["stride_w"]), p["out_w"])
    hi = lo
    while hi < p["out_w"] and hi * p["stride_w"] - p["pad_left"] + p["k_w"] <= p["in_w"]:
        hi += 1
    return lo, hi


def depthwise(op: Op, call: KernelCall, scratch_budget: int | None = None,
              core: str | None = None, inplace: bool = False) -> KernelCall | None:
    p = call.params
    if p["in_c"] == 1 and not inplace:
        return _gemm_call(op, call, gemm_view.one_channel_depthwise(call), core,
                          scratch_budget)
    if (p["depth_multiplier"] != 1 or p["dil_h"] != 1 or p["dil_w"] != 1
            or p["k_h"] > DW_MAX_K or call.fn.endswith("_fpreq")):
        return None
    filt, bias, mult, shift = conv_args(call)          # filter [1, k_h, k_w, c]
    if np.any(np.asarray(mult) < 0):
        return None
    c = p["in_c"]
    w = np.ascontiguousarray(filt[0].transpose(2, 0, 1)).reshape(c, -1)   # [c][k_h k_w]
    quant = _records(bias, p["input_offset"], w, mult, shift, c, c)
    zp = int(op.inputs[0].quant.zero_point[0])
    zrow = np.full(p["in_w"] * c, zp, np.int8)
    lo, hi = _columns(p)
    np_ = max(1, min(block(core)[2], hi - lo))       # narrow rows: all inner columns at once
    fn = layer_fn(DW_NAME + ("_inplace" if inplace else ""), op)
    ctx = dict(p, what=f"DEPTHWISE_CONV_2D {p['k_h']}x{p['k_w']} stride "
                       f"{p['stride_h']}x{p['stride_w']}", op_index=op.index, pad_value=zp,
               np=np_, lo_cols=lo, hi_cols=hi, out_zp=p["output_offset"], core=core,
               inplace=inplace)
    scratch = p["out_h"] * p["out_w"] if inplace else 0
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
        return _gemm_call(op, portable, gemm_view.conv(portable), core, None, inplace=True)
    return None


@functools.cache
def builders(core: str | None) -> dict:
    """The builder table for `core` (its block shapes)."""
    return {name: functools.partial(b, core=core) for name, b in _BUILDERS.items()}
