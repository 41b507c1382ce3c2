"""Lowering of ops with onnxruntime's arithmetic (op.attrs["requant"] == "float").

The ONNX frontend marks every op whose result onnxruntime computes differently from TFLM;
`lower` sends those here. Geometry, offsets, bias folding and broadcast strides are the TFLM
lowering's (passes/lower.py), only the requantisation differs. What onnxruntime 1.x does on
the CPU (MLAS), and what we emit for it:

  QLinearConv (conv / depthwise)   int32 accumulate, round_half_even((float)acc * s[c]) + zp,
  QGemm, QLinearMatMul             s[c] = (x_scale * w_scale[c]) / y_scale in float32
                                   -> mcuc_{conv,depthwise_conv,fully_connected}_s8_fpreq
  QLinearAdd                       fmaf(x, x_s/y_s, fmaf(y, y_s/y_s', fixed)), the AVX2 MLAS
                                   kernel's order, fixed = y_zp - fmaf(rx, x_zp, ry * y_zp)
                                   -> mcuc_add_s8_f32
  QLinearMul                       ((a-za)(b-zb)) * (a_s*b_s/y_s) + y_zp, two float ops
                                   -> mcuc_mul_s8_f32
  QLinearAveragePool               dequantize, float window sum, / count, / y_s + y_zp
                                   -> mcuc_avg_pool_s8_f32; a whole-image unpadded window is
                                   onnxruntime's global pool, as below
  QLinearGlobalAveragePool         int32 sum - zp*hw, * (x_s / (y_s * hw)) in float32
                                   -> mcuc_global_avg_pool_s8_fpreq
  any unary int8 -> int8 op        the table in op.attrs["lut"] (the frontend fills it by
                                   running onnxruntime on all 256 inputs) -> mcuc_lut_s8

All float32 constants are computed here with numpy float32 operations in onnxruntime's order
and written to C as exact hex literals.
"""
from __future__ import annotations

import importlib
from fractions import Fraction

import numpy as np

from ..escape import shown
from ..ir import Op, Tensor
from .kernel_call import Arg, KernelCall

# The module (the package re-exports its `lower` function under the same name).
tflm = importlib.import_module(".lower", __package__)

f32 = np.float32


def _qs(t: Tensor) -> tuple[np.float32, int]:
    return f32(t.quant.scale[0]), int(t.quant.zero_point[0])


def round_f32(x: Fraction) -> np.float32:
    """The float32 nearest to an exact rational (ties to even): what one IEEE operation on
    float32 operands returns for the exact result x."""
    near = f32(float(x))
    cands = [np.nextafter(near, f32(-np.inf)), near, np.nextafter(near, f32(np.inf))]

    def key(c):
        return abs(Fraction(float(c)) - x), int(np.frombuffer(c.tobytes(), np.uint32)[0]) & 1
    return f32(min(cands, key=key))


def fma_f32(a, b, c) -> np.float32:
    """fmaf(a, b, c): a * b + c rounded once to float32."""
    return round_f32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


def _swap_requant(call: KernelCall, fn: str, scale: np.ndarray) -> KernelCall:
    """A TFLM conv/FC call -> its *_fpreq twin: mult/shift become one float32 scale array."""
    args = [a for a in call.args if a.const_name not in ("mult", "shift")]
    args.insert(len(args) - 1, Arg.constant("scale", np.asarray(scale, np.float32)))
    return KernelCall(fn, call.params_type, dict(call.params), args, macs=call.macs)


def _weight_scales(x: Tensor, w: Tensor, y: Tensor, n: int) -> np.ndarray:
    xs, ys = _qs(x)[0], _qs(y)[0]
    ws = np.asarray(w.quant.scale, np.float32)
    if len(ws) not in (1, n):
        raise ValueError(f"weights {shown(w.name)} have {len(ws)} scales for {n} output channels")
    return (f32(xs) * ws / f32(ys)).astype(np.float32)   # (x_s * w_s) / y_s, float32


def _conv(op: Op) -> KernelCall:
    call = tflm._conv(op)
    n = op.outputs[0].shape[-1]
    return _swap_requant(call, "mcuc_conv_s8_fpreq",
                         np.resize(_weight_scales(op.inputs[0], op.inputs[1], op.outputs[0], n), n))


def _depthwise(op: Op) -> KernelCall:
    call = tflm._depthwise(op)
    n = op.outputs[0].shape[-1]
    return _swap_requant(call, "mcuc_depthwise_conv_s8_fpreq",
                         np.resize(_weight_scales(op.inputs[0], op.inputs[1], op.outputs[0], n), n))


def _fully_connected(op: Op) -> KernelCall:
    call = tflm._fully_connected(op)
    n = op.inputs[1].shape[0]
    scale = _weight_scales(op.inputs[0], op.inputs[1], op.outputs[0], n)
    call = _swap_requant(call, "mcuc_fully_connected_s8_fpreq", scale)
    call.params["per_channel"] = int(len(scale) > 1)
    return call


def _x_is_in2(op: Op, a: Tensor, b: Tensor, y: Tensor) -> bool:
    """Whether onnxruntime's broadcast loop hands input 1 to MLAS as the per-span scalar (so
    input 2 is MLAS's vector operand): input 1 has size 1 along the innermost axis where the
    two inputs differ, input 2 does not. Decided on the ONNX (logical) shapes."""
    sa, sb = op.attrs.get("onnx_shapes", (a.shape, b.shape))
    rank = max(len(sa), len(sb))
    sa = [1] * (rank - len(sa)) + list(sa)
    sb = [1] * (rank - len(sb)) + list(sb)
    for da, db in zip(reversed(sa), reversed(sb)):
        if da == db:
            if da == 1:
                continue
            return False
        return da == 1
    return False


def _add(op: Op) -> KernelCall:
    a, b = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    (sa, za), (sb, zb), (sc, zc) = _qs(a), _qs(b), _qs(y)
    swap = _x_is_in2(op, a, b, y)
    (sx, zx), (sy, zy) = ((sb, zb), (sa, za)) if swap else ((sa, za), (sb, zb))
    rx, ry = f32(sx / sc), f32(sy / sc)
    fixed = f32(f32(zc) - fma_f32(rx, f32(zx), f32(ry * f32(zy))))
    lo, hi = tflm._act(op, y)
    params = dict(bc=tflm._broadcast(op, a, b, y), x_is_in2=int(swap), ratio_x=rx, ratio_y=ry,
                  fixed=fixed, act_min=lo, act_max=hi)
    return KernelCall("mcuc_add_s8_f32", "mcuc_add_f32_params", params,
                      [tflm._in(a), tflm._in(b), Arg.output(y)])


def _mul(op: Op) -> KernelCall:
    a, b = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    (sa, za), (sb, zb), (sc, zc) = _qs(a), _qs(b), _qs(y)
    lo, hi = tflm._act(op, y)
    params = dict(bc=tflm._broadcast(op, a, b, y), in1_zp=za, in2_zp=zb,
                  ratio=f32(f32(sa * sb) / sc), out_zp_f=f32(zc), act_min=lo, act_max=hi)
    return KernelCall("mcuc_mul_s8_f32", "mcuc_mul_f32_params", params,
                      [tflm._in(a), tflm._in(b), Arg.output(y)], macs=y.size)


def _gap(x: Tensor, y: Tensor, n: int, hw: int, c: int) -> KernelCall:
    (xs, xz), (ys, yz) = _qs(x), _qs(y)
    scale = f32(xs / f32(ys * f32(hw)))
    if not (2.0 ** -32 <= scale < 256.0) or hw >= 1 << 24:
        raise ValueError("global average pool parameters are out of onnxruntime's range "
                         f"(scale {scale}, {hw} pixels)")
    params = dict(batches=n, hw=hw, channels=c, bias=-xz * hw, scale=scale, y_zp=yz)
    return KernelCall("mcuc_global_avg_pool_s8_fpreq", "mcuc_gap_fpreq_params", params,
                      [Arg.input(x), Arg.output(y)], macs=n * hw * c)


def _avg_pool(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    a = op.attrs
    n, ih, iw, c = x.shape
    kh, kw = a["filterHeight"], a["filterWidth"]
    pt, pl, pb, pr = a["pads"]
    oh = (ih + pt + pb - kh) // a["strideH"] + 1
    ow = (iw + pl + pr - kw) // a["strideW"] + 1
    if tuple(y.shape) != (n, oh, ow, c):
        raise ValueError(f"output shape {list(y.shape)} does not match computed {[n, oh, ow, c]}")
    if (kh, kw) == (ih, iw) and not any(a["pads"]):
        return _gap(x, y, n, ih * iw, c)   # onnxruntime falls back to its global pool here
    (xs, xz), (ys, yz) = _qs(x), _qs(y)
    params = dict(batches=n, in_h=ih, in_w=iw, channels=c, out_h=oh, out_w=ow, f_h=kh, f_w=kw,
                  stride_h=a["strideH"], stride_w=a["strideW"], pad_top=pt, pad_left=pl,
                  count_include_pad=int(a.get("countIncludePad", 0)), x_scale=xs, x_zp=xz,
                  y_scale=ys, y_zp=yz)
    return KernelCall("mcuc_avg_pool_s8_f32", "mcuc_avg_pool_f32_params", params,
                      [Arg.input(x), Arg.output(y)], macs=n * oh * ow * c * kh * kw)


def _mean(op: Op) -> KernelCall:
    """GlobalAveragePool: MEAN over H and W (NHWC), keep_dims."""
    x, y = op.inputs[0], op.outputs[0]
    n, h, w, c = x.shape
    axes = sorted(int(v) for v in np.asarray(op.inputs[1].data).reshape(-1))
    if axes != [1, 2] or y.size != n * c:
        raise ValueError(f"only a global average over H and W is supported (axes {axes})")
    return _gap(x, y, n, h * w, c)


def _lut(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    table = np.asarray(op.attrs["lut"], np.int8).reshape(-1)
    if table.size != 256:
        raise ValueError(f"lookup table has {table.size} entries, not 256")
    return KernelCall("mcuc_lut_s8", "mcuc_lut_params", dict(size=x.size),
                      [Arg.input(x), Arg.constant("table", table), Arg.output(y)])


_LOWERINGS = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _fully_connected,
    "ADD": _add, "MUL": _mul, "AVERAGE_POOL_2D": _avg_pool, "MEAN": _mean,
}


def lowering_for(op: Op):
    """The lowering function of an op with onnxruntime arithmetic."""
    if "lut" in op.attrs:
        return _lut
    fn = _LOWERINGS.get(op.type)
    if fn is None:
        raise ValueError(f"no onnxruntime-arithmetic lowering for {op.type}")
    return fn
