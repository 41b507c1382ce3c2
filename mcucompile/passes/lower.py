"""Lowering: every op -> the runtime calls that execute it, with all numbers resolved.

Everything TFLM computes in its Prepare step is computed here, once, at compile time:
padding, requantisation multipliers and shifts (per channel), activation ranges, broadcast
strides, slice boxes. Zero points are folded into offsets/biases where the kernel allows.
The result goes into op.kernel.calls as KernelCall objects. The model's fields were
validated before (ir/validate.py: operands, quantization, geometry and output shapes of the
convolution, pooling and FULLY_CONNECTED ops); the checks left here are those of ops whose
parameters are constant tensors (slices, pads, splits, transposes).
"""
from __future__ import annotations

import numpy as np

from ..errors import McucError
from ..escape import shown
from ..ir import Graph, Op, Tensor
from ..ir.validate import conv_geometry, gather_axes, matmul_dims
from ..frontend.ops import ALIAS_OPS
from ..backend.registry import scratch_bytes, spec_of
from .kernel_call import Arg, KernelCall
from .quant_util import activation_range, f32, quantize_multiplier

MAX_DIMS = 6


class _LazyParams:
    """activation_params is imported on first use (it is only needed by those ops)."""

    def __getattr__(self, name):
        from . import activation_params
        return getattr(activation_params, name)


ap = _LazyParams()


def lower(graph: Graph) -> Graph:
    for op in graph.ops:
        if op.type in ALIAS_OPS:
            continue
        if op.attrs.get("requant") == "float":  # onnxruntime arithmetic (ONNX frontend)
            from .lower_onnx import lowering_for
            fn = lowering_for(op)
        else:
            fn = _LOWERINGS[op.type]
        try:
            calls = fn(op)
        except McucError:
            raise
        except (ValueError, AssertionError, IndexError, KeyError, TypeError) as e:
            raise McucError(str(e), f"{graph.source}: {op.where}") from None
        op.kernel.calls = calls if isinstance(calls, list) else [calls]
        # The portable calls stay available (patch-based inference re-tiles them) even after
        # select_kernels swaps "calls" for a board's optimised kernels.
        op.kernel.portable = list(op.kernel.calls)
    return graph


# ------------------------------------------------------------------ helpers

def _fail(op: Op, msg: str):
    raise ValueError(msg)


def _qs(t: Tensor) -> tuple[float, int]:
    return t.quant.scalar()


def _const(op: Op, i: int, what: str) -> np.ndarray:
    t = op.inputs[i] if i < len(op.inputs) else None
    if t is None or t.data is None:
        _fail(op, f"{what} (input {i}) must be a constant tensor")
    return t.data


def window_geometry(op: Op, ih: int, iw: int, kh: int, kw: int, dh: int = 1, dw: int = 1):
    """(out_h, out_w, pad_top, pad_left, padded) of a windowed op: TFLite SAME / VALID, or the
    explicit pads attrs["pads"] = (top, left, bottom, right) that canonicalize.py (a folded PAD)
    and the ONNX frontend write. The kernels take the top/left amounts; bottom/right ones are
    implied by out_h/out_w (taps past the input are skipped like those before it)."""
    a = op.attrs
    if "pads" in a:
        pt, pl, pb, pr = (int(v) for v in a["pads"])
        oh = (ih + pt + pb - (kh - 1) * dh - 1) // a["strideH"] + 1
        ow = (iw + pl + pr - (kw - 1) * dw - 1) // a["strideW"] + 1
        return oh, ow, pt, pl, pt + pl + pb + pr > 0
    same = a.get("padding", 0) == 0
    oh, pt, pad_h = conv_geometry(ih, kh, a["strideH"], dh, same)
    ow, pl, pad_w = conv_geometry(iw, kw, a["strideW"], dw, same)
    return oh, ow, pt, pl, pad_h + pad_w > 0


def _per_channel_multipliers(in_scale: float, filt: Tensor, out_scale: float, n: int):
    scales = filt.quant.scale
    if len(scales) not in (1, n):
        raise ValueError(f"filter {shown(filt.name)} has {len(scales)} scales for {n} output "
                         "channels")
    mult, shift = [], []
    for c in range(n):
        fs = f32(scales[c if len(scales) > 1 else 0])
        m, s = quantize_multiplier(f32(in_scale) * fs / f32(out_scale))
        mult.append(m)
        shift.append(s)
    return np.array(mult, np.int32), np.array(shift, np.int32)


def _fold_zero_point(params: dict, bias: np.ndarray | None, filter_sums: np.ndarray):
    """Zero-point folding: sum_i w_i (x_i + off) + b == sum_i w_i x_i + (b + off sum_i w_i).
    Exact in integers, so allowed only where every tap reads a real input (no padding); the
    kernel then skips one add per MAC. Returns the new bias (params updated in place)."""
    folded = (np.zeros(len(filter_sums), np.int64) if bias is None else bias.astype(np.int64))
    folded = folded + params["input_offset"] * filter_sums.astype(np.int64)
    if np.abs(folded).max(initial=0) >= 2**31:
        return bias
    params["input_offset"] = 0
    return folded.astype(np.int32)


def _bias(op: Op, i: int, n: int) -> np.ndarray | None:
    t = op.inputs[i] if len(op.inputs) > i else None
    if t is None:
        return None
    if t.data is None or t.dtype != "int32" or t.size != n:
        raise ValueError(f"bias {shown(t.name)} must be a constant int32 vector of {n} values "
                         f"(is {t.dtype}{list(t.shape)})")
    return t.data.reshape(-1).astype(np.int32)


def _pad6(shape) -> list[int]:
    shape = list(shape)
    if len(shape) > MAX_DIMS:
        raise ValueError(f"rank {len(shape)} > {MAX_DIMS}")
    return [1] * (MAX_DIMS - len(shape)) + shape


def _strides(shape) -> list[int]:
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return list(reversed(st))


def _in(t: Tensor) -> Arg:
    """An input argument: from the arena, or from flash when the model made it constant."""
    return Arg.constant("operand", t.data) if t.is_const else Arg.input(t)


def _act(op: Op, out: Tensor):
    s, z = _qs(out)
    return activation_range(int(op.attrs.get("fusedActivationFunction", 0)), s, z, op.where)


# ------------------------------------------------------------------ convolution family

def _conv(op: Op) -> KernelCall:
    x, w = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    n, ih, iw, ic = x.shape
    oc, kh, kw, wc = w.shape
    a = op.attrs
    oh, ow, pt, pl, padded = window_geometry(op, ih, iw, kh, kw, a.get("dilationHFactor", 1),
                                             a.get("dilationWFactor", 1))
    in_s, in_z = _qs(x)
    out_s, out_z = _qs(y)
    mult, shift = _per_channel_multipliers(in_s, w, out_s, oc)
    lo, hi = _act(op, y)
    params = dict(batches=n, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc,
                  k_h=kh, k_w=kw, stride_h=a["strideH"], stride_w=a["strideW"],
                  dil_h=a.get("dilationHFactor", 1), dil_w=a.get("dilationWFactor", 1),
                  pad_top=pt, pad_left=pl, input_offset=-in_z, output_offset=out_z,
                  act_min=lo, act_max=hi)
    bias = _bias(op, 2, oc)
    if not padded:
        bias = _fold_zero_point(params, bias, w.data.astype(np.int64).sum(axis=(1, 2, 3)))
    return KernelCall("mcuc_conv_s8", "mcuc_conv_params", params,
                      [Arg.input(x), Arg.constant("filter", w.data),
                       Arg.constant("bias", bias),
                       Arg.constant("mult", mult), Arg.constant("shift", shift), Arg.output(y)],
                      macs=n * oh * ow * oc * kh * kw * ic)


def _depthwise(op: Op) -> KernelCall:
    x, w = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    n, ih, iw, ic = x.shape
    _, kh, kw, oc = w.shape
    a = op.attrs
    dm = oc // ic    # ir/validate.py: equal to the depthMultiplier attribute, >= 1
    oh, ow, pt, pl, padded = window_geometry(op, ih, iw, kh, kw, a.get("dilationHFactor", 1),
                                             a.get("dilationWFactor", 1))
    in_s, in_z = _qs(x)
    out_s, out_z = _qs(y)
    mult, shift = _per_channel_multipliers(in_s, w, out_s, oc)
    lo, hi = _act(op, y)
    params = dict(batches=n, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc,
                  depth_multiplier=dm, k_h=kh, k_w=kw, stride_h=a["strideH"],
                  stride_w=a["strideW"], dil_h=a.get("dilationHFactor", 1),
                  dil_w=a.get("dilationWFactor", 1), pad_top=pt, pad_left=pl,
                  input_offset=-in_z, output_offset=out_z, act_min=lo, act_max=hi)
    bias = _bias(op, 2, oc)
    if not padded:
        bias = _fold_zero_point(params, bias, w.data.astype(np.int64).sum(axis=(0, 1, 2)))
    return KernelCall("mcuc_depthwise_conv_s8", "mcuc_dwconv_params", params,
                      [Arg.input(x), Arg.constant("filter", w.data),
                       Arg.constant("bias", bias),
                       Arg.constant("mult", mult), Arg.constant("shift", shift), Arg.output(y)],
                      macs=n * oh * ow * oc * kh * kw)


def _transpose_conv(op: Op) -> KernelCall:
    """TRANSPOSE_CONV (inputs: output shape, filter [oc, kh, kw, ic], input, bias). Input
    pixel (iy, ix) adds its products to output pixel (iy s_h - pad_top + fy, ...); TFLM
    scatters them into an int32 buffer, the kernel gathers them per output pixel (the same
    integer sums, no scratch). The padding is the one a SAME convolution of the output's
    size would use (TFLM: ComputePaddingHeightWidth on the output dims), 0 for VALID."""
    w, x, y = op.inputs[1], op.inputs[2], op.outputs[0]
    n, ih, iw, ic = x.shape
    oc, kh, kw, _ = w.shape
    _, oh, ow, _ = y.shape
    a = op.attrs
    same = a.get("padding", 0) == 0
    pt = conv_geometry(oh, kh, a["strideH"], 1, same)[1]
    pl = conv_geometry(ow, kw, a["strideW"], 1, same)[1]
    in_s, in_z = _qs(x)
    out_s, out_z = _qs(y)
    mult, shift = _per_channel_multipliers(in_s, w, out_s, oc)
    lo, hi = _act(op, y)
    params = dict(batches=n, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc,
                  k_h=kh, k_w=kw, stride_h=a["strideH"], stride_w=a["strideW"],
                  dil_h=1, dil_w=1, pad_top=pt, pad_left=pl, input_offset=-in_z,
                  output_offset=out_z, act_min=lo, act_max=hi)
    return KernelCall("mcuc_transpose_conv_s8", "mcuc_conv_params", params,
                      [Arg.input(x), Arg.constant("filter", w.data),
                       Arg.constant("bias", _bias(op, 3, oc)),
                       Arg.constant("mult", mult), Arg.constant("shift", shift), Arg.output(y)],
                      macs=n * ih * iw * ic * kh * kw * oc)


def depthwise_in_place(call: KernelCall) -> KernelCall | None:
    """The in-place variant of a portable depthwise call (depth multiplier 1): its output
    overwrites its input, one channel at a time through an out_h x out_w scratch plane
    (runtime_c/src/conv/depthwise_conv_s8_inplace.c). None when the layer does not qualify."""
    p = call.params
    if spec_of(call).in_place != "mcuc_depthwise_conv_s8_inplace" or p["depth_multiplier"] != 1 \
            or p["in_c"] != p["out_c"]:
        return None
    x, filt, bias, mult, shift, y = call.args
    if y.tensor.nbytes > x.tensor.nbytes:
        return None
    return KernelCall("mcuc_depthwise_conv_s8_inplace", call.params_type, dict(p),
                      [Arg.output(y.tensor), filt, bias, mult, shift],
                      scratch_bytes=scratch_bytes("mcuc_depthwise_conv_s8_inplace", p),
                      macs=call.macs)


def pointwise_in_place(call: KernelCall) -> KernelCall | None:
    """The in-place variant of a portable 1x1, stride 1, unpadded convolution with no more
    output than input channels: each pixel's outputs go through an out_c-byte scratch and
    land on input bytes already read (runtime_c/src/conv/conv_s8_inplace.c)."""
    p = call.params
    if spec_of(call).in_place != "mcuc_conv_s8_inplace" \
            or (p["k_h"], p["k_w"], p["stride_h"], p["stride_w"]) != \
            (1, 1, 1, 1) or p["pad_top"] or p["pad_left"] or p["out_c"] > p["in_c"] \
            or (p["in_h"], p["in_w"]) != (p["out_h"], p["out_w"]):
        return None
    x, filt, bias, mult, shift, y = call.args
    return KernelCall("mcuc_conv_s8_inplace", call.params_type, dict(p),
                      [Arg.output(y.tensor), filt, bias, mult, shift],
                      scratch_bytes=scratch_bytes("mcuc_conv_s8_inplace", p), macs=call.macs)


def _fully_connected(op: Op) -> KernelCall:
    x, w = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    if op.attrs.get("weightsFormat", 0) != 0:
        _fail(op, "shuffled FULLY_CONNECTED weights are not supported")
    out_d, in_d = w.shape
    batches = x.size // in_d
    in_s, in_z = _qs(x)
    out_s, out_z = _qs(y)
    per_channel = w.quant.per_channel
    if per_channel:
        mult, shift = _per_channel_multipliers(in_s, w, out_s, out_d)
    else:
        m, s = quantize_multiplier(f32(in_s) * f32(w.quant.scale[0]) / f32(out_s))
        mult, shift = np.array([m], np.int32), np.array([s], np.int32)
    lo, hi = _act(op, y)
    params = dict(batches=batches, in_depth=in_d, out_depth=out_d, input_offset=-in_z,
                  filter_offset=-int(w.quant.zero_point[0]), output_offset=out_z,
                  per_channel=int(per_channel), act_min=lo, act_max=hi)
    bias = _bias(op, 2, out_d)
    if params["filter_offset"] == 0:
        bias = _fold_zero_point(params, bias, w.data.astype(np.int64).sum(axis=1))
    return KernelCall("mcuc_fully_connected_s8", "mcuc_fc_params", params,
                      [Arg.input(x), Arg.constant("filter", w.data),
                       Arg.constant("bias", bias),
                       Arg.constant("mult", mult), Arg.constant("shift", shift), Arg.output(y)],
                      macs=batches * in_d * out_d)


# ------------------------------------------------------------------ pooling and reduction

def _pool(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    a = op.attrs
    n, ih, iw, c = x.shape
    oh, ow, pt, pl, _ = window_geometry(op, ih, iw, a["filterHeight"], a["filterWidth"])
    if op.type == "AVERAGE_POOL_2D" and not x.quant.same_as(y.quant):
        _fail(op, "AVERAGE_POOL_2D needs the same input and output quantization")
    lo, hi = _act(op, y)
    params = dict(batches=n, in_h=ih, in_w=iw, channels=c, out_h=oh, out_w=ow,
                  f_h=a["filterHeight"], f_w=a["filterWidth"], stride_h=a["strideH"],
                  stride_w=a["strideW"], pad_top=pt, pad_left=pl, act_min=lo, act_max=hi)
    fn = "mcuc_avg_pool_s8" if op.type == "AVERAGE_POOL_2D" else "mcuc_max_pool_s8"
    return KernelCall(fn, "mcuc_pool_params", params, [Arg.input(x), Arg.output(y)])


def _mean(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    axes = [int(v) for v in np.asarray(_const(op, 1, "axis")).reshape(-1)]
    in_s, in_z = _qs(x)
    out_s, out_z = _qs(y)
    params = ap.mean_params(tuple(x.shape), axes, in_s, in_z, out_s, out_z,
                            bool(op.attrs.get("keepDims", False)))
    return KernelCall("mcuc_mean_s8", "mcuc_mean_params", params, [Arg.input(x), Arg.output(y)])


# ------------------------------------------------------------------ elementwise

def _broadcast(op: Op, a: Tensor, b: Tensor, y: Tensor) -> dict:
    if tuple(a.shape) == tuple(b.shape) == tuple(y.shape) or (a.size == b.size == y.size):
        return dict(out_shape=[1] * MAX_DIMS, in1_strides=[0] * MAX_DIMS,
                    in2_strides=[0] * MAX_DIMS, flat_size=y.size)
    out = _pad6(y.shape)
    sa, sb = _pad6(a.shape), _pad6(b.shape)
    st_a, st_b = _strides(sa), _strides(sb)
    for k in range(MAX_DIMS):
        for s, st in ((sa, st_a), (sb, st_b)):
            if s[k] == 1 and out[k] != 1:
                st[k] = 0
            elif s[k] != out[k]:
                _fail(op, f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast to "
                          f"{list(y.shape)}")
    return dict(out_shape=out, in1_strides=st_a, in2_strides=st_b, flat_size=0)


def _add_sub(op: Op) -> KernelCall:
    a, b = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    s1, z1 = _qs(a)
    s2, z2 = _qs(b)
    so, zo = _qs(y)
    left_shift = 20
    twice_max = 2.0 * f32(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(f32(s1) / twice_max)
    m2, sh2 = quantize_multiplier(f32(s2) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * f32(so)))
    lo, hi = _act(op, y)
    params = dict(bc=_broadcast(op, a, b, y), input1_offset=-z1, input2_offset=-z2,
                  output_offset=zo, left_shift=left_shift, input1_mult=m1, input1_shift=sh1,
                  input2_mult=m2, input2_shift=sh2, output_mult=mo, output_shift=sho,
                  act_min=lo, act_max=hi)
    fn = "mcuc_add_s8" if op.type == "ADD" else "mcuc_sub_s8"
    return KernelCall(fn, "mcuc_add_params", params, [_in(a), _in(b), Arg.output(y)])


def _mul(op: Op) -> KernelCall:
    a, b = op.inputs[0], op.inputs[1]
    y = op.outputs[0]
    s1, z1 = _qs(a)
    s2, z2 = _qs(b)
    so, zo = _qs(y)
    m, sh = quantize_multiplier(f32(s1) * f32(s2) / f32(so))
    lo, hi = _act(op, y)
    params = dict(bc=_broadcast(op, a, b, y), input1_offset=-z1, input2_offset=-z2,
                  output_offset=zo, output_mult=m, output_shift=sh, act_min=lo, act_max=hi)
    return KernelCall("mcuc_mul_s8", "mcuc_mul_params", params,
                      [_in(a), _in(b), Arg.output(y)], macs=y.size)


# ------------------------------------------------------------------ activations

def _softmax(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    depth = x.shape[-1] if x.shape else 1
    # TFLM requires exactly scale 1/256, zero point -128 on an int8 output, 1/65536 and
    # -32768 on an int16 one (checked in there).
    wide = y.dtype == "int16"
    params = ap.softmax_params(_qs(x)[0], float(op.attrs.get("beta", 1.0)),
                               x.size // max(depth, 1), depth, *_qs(y),
                               output_bits=16 if wide else 8)
    return KernelCall("mcuc_softmax_s8_s16" if wide else "mcuc_softmax_s8",
                      "mcuc_softmax_params", params, [Arg.input(x), Arg.output(y)])


def _logistic_tanh(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    s, z = _qs(x)
    # The kernels produce scale 1/256 zp -128 (LOGISTIC) and 1/128 zp 0 (TANH) whatever the
    # output tensor says; TFLM only insists on LOGISTIC's zero point, so that is all we check.
    if op.type == "LOGISTIC":
        params, fn = ap.logistic_params(s, z, x.size, None, _qs(y)[1]), "mcuc_logistic_s8"
    else:
        params, fn = ap.tanh_params(s, z, x.size), "mcuc_tanh_s8"
    return KernelCall(fn, "mcuc_sigmoid_params", params, [Arg.input(x), Arg.output(y)])


def _hard_swish(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    params = ap.hard_swish_params(*_qs(x), *_qs(y), x.size)
    return KernelCall("mcuc_hard_swish_s8", "mcuc_hard_swish_params", params,
                      [Arg.input(x), Arg.output(y)])


def _leaky_relu(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    params = ap.leaky_relu_params(float(op.attrs.get("alpha", 0.2)), *_qs(x), *_qs(y), x.size)
    return KernelCall("mcuc_leaky_relu_s8", "mcuc_leaky_relu_params", params,
                      [Arg.input(x), Arg.output(y)])


def _relu_like(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    params = ap.relu_params(op.type, *_qs(x), *_qs(y), x.size)
    return KernelCall("mcuc_requantize_s8", "mcuc_requant_params", params,
                      [Arg.input(x), Arg.output(y)])


def _quantize(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    if x.dtype == "float32":            # a float32 graph input (frontend/tflite.py)
        scale, zp = _qs(y)
        return KernelCall("mcuc_quantize_f32_s8", "mcuc_float_quant_params",
                          dict(size=x.size, scale=scale, zero_point=zp),
                          [Arg.input(x), Arg.output(y)])
    if (x.dtype, y.dtype) != ("int8", "int8"):      # int16 graph inputs, int32 outputs
        params = ap.requant_int_params(*_qs(x), x.nbytes // x.size, *_qs(y),
                                       y.nbytes // y.size, x.size)
        return KernelCall("mcuc_requantize_int", "mcuc_requant_int_params", params,
                          [Arg.input(x), Arg.output(y)])
    params = ap.quantize_params(*_qs(x), *_qs(y), x.size)
    return KernelCall("mcuc_requantize_s8", "mcuc_requant_params", params,
                      [Arg.input(x), Arg.output(y)])


# ------------------------------------------------------------------ recurrent layers

def _svdf(op: Op) -> KernelCall:
    """TFLM's integer SVDF (runtime_c/src/recurrent/svdf_s8.c); the state is the variable
    tensor at input 4 (the arena's state region). Scales as TFLM's Prepare forms them: float32
    products and quotients, widened to double for QuantizeMultiplier."""
    x, wf, wt, b, state = op.inputs
    y = op.outputs[0]
    batches, input_size = x.shape
    filters, memory = wt.shape
    rank = int(op.attrs["rank"])
    in_s, in_z = _qs(x)
    st_s, st_z = _qs(state)
    out_s, out_z = _qs(y)
    scale1 = np.float32(np.float32(in_s) * np.float32(wf.quant.scale[0])) / np.float32(st_s)
    scale2 = np.float32(np.float32(st_s) * np.float32(wt.quant.scale[0])) / np.float32(out_s)
    m1, s1 = quantize_multiplier(float(np.float32(scale1)))
    m2, s2 = quantize_multiplier(float(np.float32(scale2)))
    params = dict(batches=batches, input_size=input_size, filters=filters,
                  units=filters // rank, rank=rank, memory=memory, in_stride=input_size,
                  state_bytes=state.nbytes // state.size, input_zp=in_z, state_zp=st_z,
                  output_zp=out_z, mult1=m1, shift1=s1, mult2=m2, shift2=s2)
    return KernelCall("mcuc_svdf_s8", "mcuc_svdf_params", params,
                      [Arg.input(x), Arg.constant("weights_feature", wf.data),
                       Arg.constant("weights_time", wt.data),
                       Arg.constant("bias", None if b is None else b.data.reshape(-1)),
                       Arg.input(state), Arg.output(y)],
                      macs=batches * filters * (input_size + memory))


# The fixed scales around the LSTM's nonlinearities: gate FC outputs Q3.12, sigmoid / tanh
# outputs Q0.15. Exact powers of two: TFLM sources write the second as the float literal
# 0.00003051757 (2.4e-7 below 2^-15), but the pinned tflite-micro computes as with 2^-15
# (measured: tests/test_lstm.py, a 2^-13 cell scale, 4 outputs 1 apart with the literal).
LSTM_GATE_SCALE = 2.0 ** -12
LSTM_ACTIVATION_SCALE = 2.0 ** -15


def _lstm(op: Op) -> KernelCall:
    """TFLM's integer LSTM (runtime_c/src/recurrent/lstm_s8.c); hidden and cell state are the
    variable tensors at inputs 18 and 19. Parameters as TFLM's Prepare forms them: gate FC
    multipliers in_scale x weight scale / 2^-12 (double), the element-wise products'
    scale1 x scale2 / out_scale (double), tanh's input scaling from the rounded log2 of the
    cell scale (float32 log, as CheckedLog2), the cell clip quantized by truncation."""
    x, h, c, y = op.inputs[0], op.inputs[18], op.inputs[19], op.outputs[0]
    a = op.attrs
    time_major = bool(a.get("timeMajor", False))
    steps, batches = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    n = op.inputs[4].shape[0]
    in_s, in_z = _qs(x)
    h_s, h_z = _qs(h)
    c_s = _qs(c)[0]
    gate_s = LSTM_GATE_SCALE
    # TFLite input order: input_to_{input, forget, cell, output}, recurrent_to_{...}, biases
    in_w, rec_w, biases = op.inputs[1:5], op.inputs[5:9], op.inputs[12:16]
    in_m = [quantize_multiplier(in_s * f32(w.quant.scale[0]) / gate_s) for w in in_w]
    rec_m = [quantize_multiplier(h_s * f32(w.quant.scale[0]) / gate_s) for w in rec_w]
    act_s = LSTM_ACTIVATION_SCALE
    forget_m = quantize_multiplier(act_s * c_s / c_s)
    input_m = quantize_multiplier(act_s * act_s / c_s)
    hidden_m = quantize_multiplier(act_s * act_s / h_s)
    log2 = np.float32(np.log(np.float32(c_s))) * np.float32(1.0 / np.log(np.float32(2.0)))
    power = int(np.round(np.float32(log2)))
    left = 15 + power - 3
    tanh_mult, tanh_shift = (3 << left, 0) if left >= 0 else (3, -left)
    clip = float(a.get("cellClip", 0.0) or 0.0)
    params = dict(batches=batches, steps=steps, input_size=x.shape[2], state_size=n,
                  time_major=int(time_major), in_stride=x.shape[2], rec_stride=n,
                  input_offset=-in_z, hidden_offset=-h_z,
                  in_w_offset=[-int(w.quant.zero_point[0]) for w in in_w],
                  rec_w_offset=[-int(w.quant.zero_point[0]) for w in rec_w],
                  in_mult=[m for m, _ in in_m], in_shift=[s for _, s in in_m],
                  rec_mult=[m for m, _ in rec_m], rec_shift=[s for _, s in rec_m],
                  cell_tanh=1, forget_mult=forget_m[0], forget_shift=forget_m[1],
                  input_mult=input_m[0], input_shift=input_m[1], hidden_mult=hidden_m[0],
                  hidden_shift=hidden_m[1], hidden_zp=h_z, tanh_mult=tanh_mult,
                  tanh_shift=tanh_shift, clip=int(clip > 0),
                  cell_clip=int(min(max(clip / c_s, -32768.0), 32767.0)))
    return KernelCall(
        "mcuc_lstm_s8", "mcuc_lstm_params", params,
        [Arg.input(x), Arg.constant("in_weights", np.stack([w.data for w in in_w])),
         Arg.constant("rec_weights", np.stack([w.data for w in rec_w])),
         Arg.constant("biases", np.stack([b.data.reshape(-1) for b in biases])),
         Arg.input(h), Arg.input(c), Arg.output(y)],
        scratch_bytes=scratch_bytes("mcuc_lstm_s8", params),
        macs=batches * steps * 4 * n * (x.shape[2] + n))


# ------------------------------------------------------------------ data movement

def _copy_call(x: Tensor, y: Tensor, box, in_strides, out_strides, in_off, out_off) -> KernelCall:
    """A strided copy, with dims merged where both sides are contiguous (fewer loop levels)."""
    dims = list(zip(box, in_strides, out_strides))
    dims = [d for d in dims if d[0] != 1] or [(1, 1, 1)]
    merged = [dims[-1]]
    for n, si, so in reversed(dims[:-1]):
        mn, msi, mso = merged[0]
        if si == mn * msi and so == mn * mso:
            merged[0] = (n * mn, msi, mso)
        else:
            merged.insert(0, (n, si, so))
    pad = MAX_DIMS - len(merged)
    params = dict(shape=[1] * pad + [d[0] for d in merged],
                  in_strides=[0] * pad + [d[1] for d in merged],
                  out_strides=[0] * pad + [d[2] for d in merged],
                  in_offset=int(in_off), out_offset=int(out_off))
    return KernelCall("mcuc_strided_copy_s8", "mcuc_copy_params", params,
                      [Arg.input(x), Arg.output(y)])


def _same_quant(op: Op, a: Tensor, b: Tensor):
    if a.quant is not None and not a.quant.same_as(b.quant):
        _fail(op, f"{shown(a.name)} and {shown(b.name)} must have the same quantization "
                  f"(requantizing {op.type} is not supported)")


def _transpose(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    perm = [int(v) for v in np.asarray(_const(op, 1, "perm")).reshape(-1)]
    if sorted(perm) != list(range(len(x.shape))):
        _fail(op, f"perm {perm} is not a permutation of {len(x.shape)} dims")
    out_shape = [x.shape[p] for p in perm]
    if list(y.shape) != out_shape:
        _fail(op, f"output shape {list(y.shape)} does not match {out_shape}")
    st = _strides(x.shape)
    return _copy_call(x, y, out_shape, [st[p] for p in perm], _strides(out_shape), 0, 0)


def _slice_box(op: Op, x: Tensor, begin, end, strides, shrink_mask=0):
    starts, counts, steps = [], [], []
    for k, dim in enumerate(x.shape):
        start, stop, step = slice(begin[k], end[k], strides[k]).indices(dim)
        n = len(range(start, stop, step))
        if shrink_mask >> k & 1:
            n, step = 1, 1
        starts.append(start)
        counts.append(n)
        steps.append(step)
    return starts, counts, steps


def _emit_slice(op, x, y, starts, counts, steps, dropped=0):
    """The copy of a box of x into y; y's shape must be the box's (without the `dropped`
    bit-mask's axes: STRIDED_SLICE's shrink axes), and the box inside x."""
    shape = [c for k, c in enumerate(counts) if not dropped >> k & 1]
    if len(starts) != len(x.shape) or shape != list(y.shape):
        _fail(op, f"slice of {counts} does not match output shape {list(y.shape)}")
    for k, (s0, c, step, dim) in enumerate(zip(starts, counts, steps, x.shape)):
        if c and not (0 <= s0 < dim and 0 <= s0 + (c - 1) * step < dim):
            _fail(op, f"slice {s0}+{c}x{step} leaves axis {k} of {list(x.shape)}")
    st = _strides(x.shape)
    in_off = sum(s * t for s, t in zip(starts, st))
    return _copy_call(x, y, counts, [t * p for t, p in zip(st, steps)], _strides(counts),
                      in_off, 0)


def _strided_slice(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    a = op.attrs
    if a.get("ellipsisMask", 0) or a.get("newAxisMask", 0):
        _fail(op, "STRIDED_SLICE with ellipsis_mask or new_axis_mask is not supported")
    rank = len(x.shape)
    b = [int(v) for v in np.asarray(_const(op, 1, "begin")).reshape(-1)]
    e = [int(v) for v in np.asarray(_const(op, 2, "end")).reshape(-1)]
    s = [int(v) for v in np.asarray(_const(op, 3, "strides")).reshape(-1)]
    if not (len(b) == len(e) == len(s) == rank):
        _fail(op, f"begin/end/strides must have {rank} entries")
    if any(v == 0 for v in s):
        _fail(op, "stride 0")
    begin, end = [], []
    for k in range(rank):
        bk, ek = b[k], e[k]
        if a.get("offset", False):
            ek = bk + ek
        begin.append(None if a.get("beginMask", 0) >> k & 1 else bk)
        end.append(None if a.get("endMask", 0) >> k & 1 else ek)
        if a.get("shrinkAxisMask", 0) >> k & 1:
            bk = bk + x.shape[k] if bk < 0 else bk
            begin[k], end[k] = bk, bk + 1
    shrink = a.get("shrinkAxisMask", 0)
    starts, counts, steps = _slice_box(op, x, begin, end, s, shrink)
    return _emit_slice(op, x, y, starts, counts, steps, shrink)


def _slice(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    b = [int(v) for v in np.asarray(_const(op, 1, "begin")).reshape(-1)]
    sz = [int(v) for v in np.asarray(_const(op, 2, "size")).reshape(-1)]
    counts = [x.shape[k] - b[k] if sz[k] == -1 else sz[k] for k in range(len(x.shape))]
    return _emit_slice(op, x, y, b, counts, [1] * len(b))


def _split_common(op: Op, x: Tensor, axis: int, sizes: list[int]) -> list[KernelCall]:
    axis = axis + len(x.shape) if axis < 0 else axis
    if sum(sizes) != x.shape[axis] or len(sizes) != len(op.outputs):
        _fail(op, f"split sizes {sizes} do not cover axis {axis} of {list(x.shape)}")
    calls, begin = [], 0
    for y, n in zip(op.outputs, sizes):
        _same_quant(op, x, y)
        counts = list(x.shape)
        counts[axis] = n
        starts = [0] * len(x.shape)
        starts[axis] = begin
        calls.append(_emit_slice(op, x, y, starts, counts, [1] * len(counts)))
        begin += n
    return calls


def _split(op: Op):
    axis = int(np.asarray(_const(op, 0, "axis")).reshape(-1)[0])
    x = op.inputs[1]
    ax = axis + len(x.shape) if axis < 0 else axis
    num = int(op.attrs.get("numSplits", len(op.outputs)))
    if num != len(op.outputs):
        _fail(op, f"num_splits is {num} for {len(op.outputs)} outputs")
    if x.shape[ax] % num:
        _fail(op, f"axis {axis} of {list(x.shape)} is not divisible into {num}")
    return _split_common(op, x, axis, [x.shape[ax] // num] * num)


def _split_v(op: Op):
    x = op.inputs[0]
    sizes = [int(v) for v in np.asarray(_const(op, 1, "size_splits")).reshape(-1)]
    axis = int(np.asarray(_const(op, 2, "axis")).reshape(-1)[0])
    ax = axis + len(x.shape) if axis < 0 else axis
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = x.shape[ax] - (sum(sizes) + 1)
    return _split_common(op, x, axis, sizes)


def _concat(op: Op) -> list[KernelCall]:
    y = op.outputs[0]
    axis = int(op.attrs.get("axis", 0))
    axis = axis + len(y.shape) if axis < 0 else axis
    if op.attrs.get("fusedActivationFunction", 0) != 0:
        _fail(op, "CONCATENATION with a fused activation is not supported")
    calls, offset = [], 0
    ost = _strides(y.shape)
    for x in op.inputs:
        if x.is_const:
            _fail(op, f"constant input {shown(x.name)} to CONCATENATION is not supported")
        _same_quant(op, x, y)
        calls.append(_copy_call(x, y, list(x.shape), _strides(x.shape), ost, 0,
                                offset * ost[axis]))
        offset += x.shape[axis]         # the inputs fill the output: ir/validate.py
    return calls


def _pad(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    pads = np.asarray(_const(op, 1, "paddings")).reshape(-1, 2).astype(np.int64)
    if len(pads) != len(x.shape):
        _fail(op, f"paddings has {len(pads)} rows for a rank-{len(x.shape)} input")
    out = [int(d + p[0] + p[1]) for d, p in zip(x.shape, pads)]
    if out != list(y.shape) or (pads < 0).any():
        _fail(op, f"padded shape {out} does not match output {list(y.shape)}")
    _same_quant(op, x, y)
    value = _qs(y)[1]
    if op.type == "PADV2" and len(op.inputs) > 2 and op.inputs[2] is not None:
        value = int(np.asarray(_const(op, 2, "constant_values")).reshape(-1)[0])
    pad = MAX_DIMS - len(x.shape)
    params = dict(in_shape=_pad6(x.shape), out_shape=_pad6(out),
                  before=[0] * pad + [int(p[0]) for p in pads], pad_value=value)
    return KernelCall("mcuc_pad_s8", "mcuc_pad_params", params, [Arg.input(x), Arg.output(y)])


# ------------------------------------------------------------------ resize and min/max
# RESIZE_*: which input rows/columns each output row/column reads is worked out here, with
# TFLM's arithmetic (nearest: float32 coordinates; bilinear, int8: 10-bit fixed point), into
# small constant tables; the kernels only gather (resize_s8.c).

def _c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def nearest_indices(in_size: int, out_size: int, align: bool, half: bool) -> np.ndarray:
    """TFLM's GetNearestNeighbor for every output index, in float32 as TFLM computes it:
    scale = in / out (align_corners: (in - 1) / (out - 1)), source = (i + 0.5 if
    half_pixel_centers) * scale, rounded half away from zero (align_corners) or floored,
    then clamped to [0, in - 1]."""
    f = np.float32
    scale = f(in_size - 1) / f(out_size - 1) if align and out_size > 1 \
        else f(in_size) / f(out_size)
    src = ((np.arange(out_size, dtype=np.float32) + f(0.5 if half else 0.0)) * scale)
    src = src.astype(np.float64)            # (exact; src >= 0: half away from zero is up)
    idx = np.floor(src) + (src - np.floor(src) >= 0.5) if align else np.floor(src)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return (np.maximum(idx, 0) if half else idx).astype(np.int32)


def bilinear_table(in_size: int, out_size: int, align: bool, half: bool) -> np.ndarray:
    """TFLM's ResizeBilinearInteger coordinates per output index, as [lower, upper, weight]
    rows: scale in 10-bit fixed point s = round(1024 in / out) (align_corners: of
    (in - 1) / (out - 1)), source p = i s (half_pixel_centers: + s / 2 - 512), lower =
    max(p / 1024, 0) and upper = min(ceil(p / 1024), in - 1) in C's truncating division,
    weight = p - 1024 lower (below 0 or up to 1024 at the edges, as TFLM leaves it)."""
    if align and out_size > 1:
        s = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        s = ((1 << 10) * in_size + out_size // 2) // out_size
    rows = []
    for i in range(out_size):
        p = i * s + s // 2 - (1 << 9) if half else i * s
        lo = max(_c_div(p, 1 << 10), 0)
        hi = min(_c_div(p + (1 << 10) - 1, 1 << 10), in_size - 1)
        rows.append((lo, hi, p - (1 << 10) * lo))
    return np.array(rows, np.int32).reshape(-1)


def _resize(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    align, half = bool(op.attrs.get("alignCorners")), bool(op.attrs.get("halfPixelCenters"))
    params = dict(batches=n, in_h=ih, in_w=iw, depth=c, out_h=oh, out_w=ow)
    if op.type == "RESIZE_NEAREST_NEIGHBOR":
        fn = "mcuc_resize_nearest_s8"
        rows, cols = nearest_indices(ih, oh, align, half), nearest_indices(iw, ow, align, half)
    else:
        fn = "mcuc_resize_bilinear_s8"
        rows, cols = bilinear_table(ih, oh, align, half), bilinear_table(iw, ow, align, half)
    return KernelCall(fn, "mcuc_resize_params", params,
                      [Arg.input(x), Arg.constant("rows", rows), Arg.constant("cols", cols),
                       Arg.output(y)])


def _batch_matmul(op: Op) -> KernelCall:
    """out[b, i, j] = requant(sum_k (L[b, i, k] - zp_l) (R[b, k, j] - zp_r)) as TFLM (its
    multiplier: the float32 product of the operand scales over the output scale, in double).
    Up to 3 batch dims (rank 5), broadcast by stride 0; adj_x / adj_y become the strides of
    i, k in L and of k, j in R."""
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    batch, rows, cols, depth = matmul_dims(op)
    nb = len(batch)

    def batch_strides(t: Tensor) -> list[int]:
        dims = [1] * (nb + 2 - len(t.shape)) + list(t.shape)
        st = _strides(dims)
        return [0] * (3 - nb) + [0 if dims[k] == 1 else st[k] for k in range(nb)]
    m0, m1 = a.shape[-2], a.shape[-1]
    n0, n1 = b.shape[-2], b.shape[-1]
    (sa, za), (sb, zb), (so, zo) = _qs(a), _qs(b), _qs(y)
    mult, shift = quantize_multiplier(float(np.float32(sa) * np.float32(sb)) / f32(so))
    params = dict(batch=[1] * (3 - nb) + batch, lhs_batch_stride=batch_strides(a),
                  rhs_batch_stride=batch_strides(b), rows=rows, cols=cols, depth=depth,
                  lhs_row_stride=1 if op.attrs.get("adjX") else m1,
                  lhs_depth_stride=m1 if op.attrs.get("adjX") else 1,
                  rhs_depth_stride=1 if op.attrs.get("adjY") else n1,
                  rhs_col_stride=n1 if op.attrs.get("adjY") else 1,
                  lhs_offset=-za, rhs_offset=-zb, output_offset=zo, output_mult=mult,
                  output_shift=shift, act_min=-128, act_max=127)
    return KernelCall("mcuc_batch_matmul_s8", "mcuc_batch_matmul_params", params,
                      [_in(a), _in(b), Arg.output(y)],
                      macs=int(np.prod(batch, dtype=np.int64)) * rows * cols * depth)


def _min_max(op: Op) -> KernelCall:
    """TFLM compares the raw int8 values (no requantisation: the converter gives both inputs
    and the output one quantization)."""
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    fn = "mcuc_maximum_s8" if op.type == "MAXIMUM" else "mcuc_minimum_s8"
    return KernelCall(fn, "mcuc_minmax_params", dict(bc=_broadcast(op, a, b, y)),
                      [_in(a), _in(b), Arg.output(y)])


def _arg_min_max(op: Op) -> KernelCall:
    x, y = op.inputs[0], op.outputs[0]
    axis = int(np.asarray(_const(op, 1, "axis")).reshape(-1)[0]) % len(x.shape)
    params = dict(outer=int(np.prod(x.shape[:axis], dtype=np.int64)), size=x.shape[axis],
                  inner=int(np.prod(x.shape[axis + 1:], dtype=np.int64)))
    fn = "mcuc_arg_max_s8" if op.type == "ARG_MAX" else "mcuc_arg_min_s8"
    return KernelCall(fn, "mcuc_arg_params", params, [Arg.input(x), Arg.output(y)])


def _gather(op: Op) -> KernelCall:
    """TFLM's split of the input: [batch, outer, axis, inner]; each (batch, outer, index)
    copies `inner` values (the indices are constants, checked inside the axis)."""
    x, coords, y = op.inputs[0], op.inputs[1], op.outputs[0]
    axis, bd = gather_axes(op)

    def prod(dims) -> int:
        return int(np.prod(dims, dtype=np.int64))
    params = dict(batch=prod(x.shape[:bd]), outer=prod(x.shape[bd:axis]),
                  axis_size=x.shape[axis], coords=prod(coords.shape[bd:]),
                  inner=prod(x.shape[axis + 1:]))
    return KernelCall("mcuc_gather_s8", "mcuc_gather_params", params,
                      [_in(x), Arg.constant("indices", coords.data.reshape(-1).astype(np.int32)),
                       Arg.output(y)])


def _squared_difference(op: Op) -> KernelCall:
    """TFLM's SQUARED_DIFFERENCE (int8): both inputs shifted left by 7 and rescaled to
    twice the larger input scale, the difference squared in int32, requantised by
    (2 max scale)^2 / (2^14 output scale); multipliers computed in double as TFLM does."""
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    (s1, z1), (s2, z2), (so, zo) = _qs(a), _qs(b), _qs(y)
    left_shift = 7
    twice_max = 2.0 * max(f32(s1), f32(s2))
    m1, sh1 = quantize_multiplier(f32(s1) / twice_max)
    m2, sh2 = quantize_multiplier(f32(s2) / twice_max)
    mo, sho = quantize_multiplier(twice_max * twice_max / f32(f32(1 << 2 * left_shift) * f32(so)))
    params = dict(bc=_broadcast(op, a, b, y), input1_offset=-z1, input2_offset=-z2,
                  output_offset=zo, left_shift=left_shift, input1_mult=m1, input1_shift=sh1,
                  input2_mult=m2, input2_shift=sh2, output_mult=mo, output_shift=sho,
                  act_min=-128, act_max=127)
    return KernelCall("mcuc_squared_difference_s8", "mcuc_add_params", params,
                      [_in(a), _in(b), Arg.output(y)])


def _dequantize(op: Op) -> KernelCall:
    """int8 -> a float32 graph output: scale (q - zp), one float32 rounding as TFLM's
    double product cast to float (the exact product of a float32 and a 9-bit integer)."""
    x, y = op.inputs[0], op.outputs[0]
    scale, zp = _qs(x)
    return KernelCall("mcuc_dequantize_s8_f32", "mcuc_float_quant_params",
                      dict(size=x.size, scale=scale, zero_point=zp),
                      [Arg.input(x), Arg.output(y)])


def _rsqrt(op: Op) -> KernelCall:
    """TFLM's RSQRT (int8): 1 / sqrt(q - zp) by gemmlowp's fixed-point Newton-Raphson
    (rsqrt_s8.c), then times 1 / (sqrt(input scale) output scale) (double, as TFLM)."""
    x, y = op.inputs[0], op.outputs[0]
    (si, zi), (so, zo) = _qs(x), _qs(y)
    mult, shift = quantize_multiplier(1.0 / (np.sqrt(f32(si)) * f32(so)))
    params = dict(size=x.size, input_zp=zi, output_zp=zo, mult=mult, shift=shift,
                  act_min=-128, act_max=127)
    return KernelCall("mcuc_rsqrt_s8", "mcuc_requant_params", params,
                      [Arg.input(x), Arg.output(y)])


_LOWERINGS = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "MEAN": _mean,
    "ADD": _add_sub, "SUB": _add_sub, "MUL": _mul,
    "SOFTMAX": _softmax, "LOGISTIC": _logistic_tanh, "TANH": _logistic_tanh,
    "HARD_SWISH": _hard_swish, "LEAKY_RELU": _leaky_relu,
    "RELU": _relu_like, "RELU6": _relu_like,
    "QUANTIZE": _quantize, "SVDF": _svdf, "UNIDIRECTIONAL_SEQUENCE_LSTM": _lstm,
    "TRANSPOSE": _transpose, "STRIDED_SLICE": _strided_slice, "SLICE": _slice,
    "SPLIT": _split, "SPLIT_V": _split_v, "CONCATENATION": _concat,
    "PAD": _pad, "PADV2": _pad,
    "RESIZE_NEAREST_NEIGHBOR": _resize, "RESIZE_BILINEAR": _resize,
    "MINIMUM": _min_max, "MAXIMUM": _min_max,
    "ARG_MAX": _arg_min_max, "ARG_MIN": _arg_min_max,
    "GATHER": _gather, "SQUARED_DIFFERENCE": _squared_difference, "RSQRT": _rsqrt,
    "TRANSPOSE_CONV": _transpose_conv, "BATCH_MATMUL": _batch_matmul,
    "DEQUANTIZE": _dequantize,
}
