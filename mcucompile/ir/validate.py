"""Semantic validation of a model's graph, after its frontend and before any arithmetic.

verify.py checks that the IR is well formed (ranks, sizes, topological order); this module
checks that the model's fields make sense for the ops that read them, so that nothing later
divides by zero, indexes a missing operand, overflows a C integer or silently computes
something TFLM or onnxruntime would not. It runs once per model (both frontends call
`validate` right after building the graph) and owns these checks:

  1. the graph: at least one output; no output a constant (it would have no arena place);
     every input and output quantized (the I/O table of model.h states their scales);
  2. operands per op type (OPERANDS): input count within [min, max] (a fourth CONV_2D input is
     refused as TFLM's Prepare does), required inputs present (a -1 operand is None in the
     IR), the number of outputs; the data input not a constant (DATA_INPUT);
  3. every quantization: scales finite, > 0 and normal in float32 (the kernels divide by
     them), zero points within the tensor dtype's range (int8 -128..127 ...), per-channel
     scale counts equal to the quantized dimension; int8 data operands (activations and
     weights) must be quantized;
  4. per op: constant int8 filters/weights of the right rank with one scale or one per output
     channel, int32 biases with one value per output channel; strides, dilations, filter
     sizes and depth multipliers >= 1, the depth multiplier equal to output / input channels;
     the output shape the op computes (convolution and pooling geometry as TFLM's Prepare
     derives it, broadcast shapes, softmax and the unary ops shape-preserving, FULLY_CONNECTED
     batches, MEAN's reduced shape, CONCATENATION's inputs filling the output); no data
     tensor without values (a zero dimension); in onnxruntime's arithmetic a QDQ bias scale equal to input scale x weight
     scale within BIAS_SCALE_RTOL (onnxruntime's quantizer writes exactly the float32
     product; onnxruntime 1.32 uses a bias's own scale when it differs (measured: x2 on one
     channel changes its outputs) where our kernels add the int32 bias as it is); the
     requantisation multiplier input x weight / output scale below 2^31 (TFLM's fixed point
     shifts an int32 left by at most 31);
  5. every integer attribute that reaches generated C within int32;
  6. state: a variable tensor only where an op keeps its state (SVDF input 4, an LSTM's
     inputs 18 and 19), never a graph input or output, and those operands always one (TFLM
     checks is_variable).

Each failure is one McucError line naming the file, the op index and type, and the tensor
(its index and name, escaped: escape.shown).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import McucError
from ..escape import shown
from .graph import Graph, Op, Tensor

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
BIAS_SCALE_RTOL = 1e-6        # float32 products round differently by a few ulp, 1.2e-7 each
MAX_MULTIPLIER = float(1 << 31)

# op type -> (fewest inputs, most inputs (None: any), input positions that must be present,
#             number of outputs (None: one or more))
_UNARY = (1, 1, (0,), 1)
OPERANDS = {
    "CONV_2D": (2, 3, (0, 1), 1), "DEPTHWISE_CONV_2D": (2, 3, (0, 1), 1),
    "FULLY_CONNECTED": (2, 3, (0, 1), 1),
    "ADD": (2, 2, (0, 1), 1), "SUB": (2, 2, (0, 1), 1), "MUL": (2, 2, (0, 1), 1),
    "AVERAGE_POOL_2D": _UNARY, "MAX_POOL_2D": _UNARY, "MEAN": (2, 2, (0, 1), 1),
    "SOFTMAX": _UNARY, "LOGISTIC": _UNARY, "TANH": _UNARY, "HARD_SWISH": _UNARY,
    "HARD_SIGMOID": _UNARY, "RELU": _UNARY, "RELU6": _UNARY, "LEAKY_RELU": _UNARY,
    "QUANTIZE": _UNARY,
    "RESHAPE": (1, 2, (0,), 1), "SQUEEZE": _UNARY, "EXPAND_DIMS": (2, 2, (0,), 1),
    "PAD": (2, 2, (0, 1), 1), "PADV2": (2, 3, (0, 1), 1),
    "CONCATENATION": (1, None, None, 1), "TRANSPOSE": (2, 2, (0, 1), 1),
    "STRIDED_SLICE": (4, 4, (0, 1, 2, 3), 1), "SLICE": (3, 3, (0, 1, 2), 1),
    "SPLIT": (2, 2, (0, 1), None), "SPLIT_V": (3, 3, (0, 1, 2), None),
    # TFLM's integer SVDF reads the bias's scale whether or not it is there: required here
    "SVDF": (5, 5, (0, 1, 2, 3, 4), 1),
    # the standard (Keras) LSTM: all four gates, no peephole, projection or layer norm
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (24, 24, (*range(9), 12, 13, 14, 15, 18, 19), 1),
    "RESIZE_NEAREST_NEIGHBOR": (2, 2, (0, 1), 1), "RESIZE_BILINEAR": (2, 2, (0, 1), 1),
    "MINIMUM": (2, 2, (0, 1), 1), "MAXIMUM": (2, 2, (0, 1), 1),
    "ARG_MAX": (2, 2, (0, 1), 1), "ARG_MIN": (2, 2, (0, 1), 1),
    "GATHER": (2, 2, (0, 1), 1), "SQUARED_DIFFERENCE": (2, 2, (0, 1), 1), "RSQRT": _UNARY,
    "TRANSPOSE_CONV": (3, 4, (0, 1, 2), 1), "BATCH_MATMUL": (2, 2, (0, 1), 1),
    "DEQUANTIZE": _UNARY,
}
# op type -> the inputs that hold its state (variable tensors)
STATE_INPUTS = {"SVDF": (4,), "UNIDIRECTIONAL_SEQUENCE_LSTM": (18, 19)}
LSTM_VARIANT_INPUTS = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection",
                       17: "projection", 20: "layer norm", 21: "layer norm",
                       22: "layer norm", 23: "layer norm"}
# Inputs that hold parameters (shapes, axes, paddings ...), not quantized data.
PARAM_INPUTS = {"MEAN": (1,), "RESHAPE": (1,), "EXPAND_DIMS": (1,), "PAD": (1,),
                "PADV2": (1, 2), "TRANSPOSE": (1,), "STRIDED_SLICE": (1, 2, 3),
                "SLICE": (1, 2), "SPLIT": (0,), "SPLIT_V": (1, 2),
                "RESIZE_NEAREST_NEIGHBOR": (1,), "RESIZE_BILINEAR": (1,),
                "ARG_MAX": (1,), "ARG_MIN": (1,), "GATHER": (1,), "TRANSPOSE_CONV": (0,)}
# The input an op computes from (0 unless listed), which must not be a constant: TFLite's
# converter folds an op on constants, and the kernels read that input from the arena. Ops
# that take a constant operand from flash (the elementwise binary ops, BATCH_MATMUL, GATHER's
# data) are not checked.
DATA_INPUT = {"SPLIT": 1, "TRANSPOSE_CONV": 2}
CONSTANT_OPERAND_OK = frozenset({"ADD", "SUB", "MUL", "MINIMUM", "MAXIMUM",
                                 "SQUARED_DIFFERENCE", "BATCH_MATMUL", "GATHER"})
SHAPE_PRESERVING = ("SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH", "HARD_SIGMOID", "RELU",
                    "RELU6", "LEAKY_RELU", "QUANTIZE", "RSQRT", "DEQUANTIZE")
_DTYPE_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
                "int32": (INT32_MIN, INT32_MAX)}


class _Fail(Exception):
    """A failed check inside one op: (message, the tensor it concerns or None)."""

    def __init__(self, message: str, tensor: Tensor | None = None):
        super().__init__(message)
        self.message, self.tensor = message, tensor


def tensor_label(t: Tensor) -> str:
    return f"tensor {t.index} {shown(t.name)}"


def at_least_one(values, what: str) -> str | None:
    """Strides, dilations, filter sizes: integers from 1 to INT32_MAX, else what is wrong (the
    ONNX frontend asks this of its raw attributes before computing any geometry with them)."""
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= INT32_MAX:
            return f"{what} {list(values)}: every value must be an integer from 1 to {INT32_MAX}"
    return None


def _at_least_one(values, what: str) -> None:
    problem = at_least_one(values, what)
    if problem:
        raise _Fail(problem)


def conv_geometry(in_size: int, k: int, stride: int, dil: int, same: bool):
    """TFLM's output size and padding for one spatial axis: (out, pad before, pad total)."""
    eff = (k - 1) * dil + 1
    out = (in_size + stride - 1) // stride if same else (in_size - eff + stride) // stride
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, total // 2, total


def validate(graph: Graph) -> None:
    where = graph.source or graph.name
    if not graph.outputs:
        raise McucError("the model has no outputs: nothing to compute", where)
    for t in graph.outputs:
        if t.is_const:
            raise McucError(f"graph output {tensor_label(t)} is a constant: an output must be "
                            "computed by an op", where)
    producers = {id(t): op.type for op in graph.ops for t in op.outputs}
    for kind, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for t in tensors:
            if t.variable:
                raise McucError(f"graph {kind} {tensor_label(t)} is a variable tensor (state "
                                "kept inside the model)", where)
            if t.quant is None and (t.dtype in ("int8", "int16")
                                    or producers.get(id(t)) == "QUANTIZE"):
                raise McucError(f"graph {kind} {tensor_label(t)} has no quantization "
                                "parameters (scale, zero point)", where)
            _check_tensor(t, f"{where}: graph {kind}")
    tflite = not str(where).lower().endswith(".onnx")
    for op in graph.ops:
        try:
            _check_op(op)
            if tflite and op.type == "TRANSPOSE" and len(op.inputs[0].shape) > 5:
                # TFLM's transpose_common.cc takes 1D-5D (onnxruntime, the ONNX reference,
                # and our copy kernel take 6)
                raise _Fail(f"input of rank {len(op.inputs[0].shape)}: TRANSPOSE takes at "
                            "most 5 dims")
        except _Fail as e:
            about = f"{tensor_label(e.tensor)}: " if e.tensor is not None else ""
            raise McucError(about + e.message, f"{where}: {op.where}") from None


def _check_tensor(t: Tensor, where: str) -> None:
    try:
        _check_quant(t)
    except _Fail as e:
        raise McucError(f"{tensor_label(t)}: {e.message}", where) from None


def _check_quant(t: Tensor) -> None:
    q = t.quant
    if q is None:
        return
    scale = np.asarray(q.scale, np.float64).reshape(-1)
    as_f32 = scale.astype(np.float32)
    if len(scale) == 0:
        raise _Fail("quantization without a scale", t)
    bad = ~np.isfinite(as_f32) | (as_f32 < np.finfo(np.float32).tiny)
    if bad.any():
        k = int(np.argmax(bad))
        raise _Fail(f"scale {str(as_f32[k])}{f' (channel {k})' if len(scale) > 1 else ''} must be "
                    f"finite and positive (at least {np.finfo(np.float32).tiny:.3g} as float32)",
                    t)
    lo, hi = _DTYPE_RANGE.get(t.dtype, (INT32_MIN, INT32_MAX))
    zp = [int(z) for z in np.asarray(q.zero_point).reshape(-1)]
    for z in zp:
        if not lo <= z <= hi:
            raise _Fail(f"zero point {z} is outside the {t.dtype} range {lo}..{hi}", t)
    if len(scale) > 1:
        if not 0 <= q.axis < len(t.shape) or t.shape[q.axis] != len(scale):
            raise _Fail(f"{len(scale)} per-channel scales along dimension {q.axis} of shape "
                        f"{list(t.shape)}", t)


def _check_op(op: Op) -> None:
    lo, hi, required, n_out = OPERANDS.get(op.type, (0, None, (), None))
    n_in = len(op.inputs)
    if n_in < lo or (hi is not None and n_in > hi):
        want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
        raise _Fail(f"{op.type} takes {want} inputs, the model gives it {n_in}")
    for k, t in enumerate(op.inputs):
        if t is None and (required is None or k in required):
            raise _Fail(f"required input {k} is missing (operand -1)")
    if (n_out is not None and len(op.outputs) != n_out) or not op.outputs:
        raise _Fail(f"{op.type} has {n_out or 'one or more'} outputs, the model gives it "
                    f"{len(op.outputs)}")
    state = STATE_INPUTS.get(op.type, ())
    for k, t in enumerate(op.inputs):
        if t is not None and t.variable and t.data is not None:
            raise _Fail("a variable tensor with constant data (state that starts from a "
                        "buffer) is not supported", t)
        if t is not None and t.variable != (k in state):
            raise _Fail(f"input {k} is a variable tensor, which only an op's state may be"
                        if t.variable else f"the state (input {k}) must be a variable tensor",
                        t)
    data = op.inputs[DATA_INPUT.get(op.type, 0)] if op.inputs else None
    if data is not None and data.is_const and op.type not in CONSTANT_OPERAND_OK:
        raise _Fail("the input data is a constant: an op on constants alone is not supported "
                    "(TFLite's converter folds it into a constant)", data)
    params = PARAM_INPUTS.get(op.type, ())
    if op.type in CONSTANT_OPERAND_OK:
        for k, t in enumerate(op.inputs):
            if t is not None and t.is_const and k not in params and t.dtype != "int8":
                raise _Fail(f"a constant operand of {op.type} is {t.dtype}, not int8 data", t)
    for k, t in enumerate(op.inputs + op.outputs):
        if t is None:
            continue
        _check_quant(t)
        if t.size == 0 and k not in params:
            raise _Fail(f"shape {list(t.shape)} holds no values", t)
        if t.dtype == "int8" and t.quant is None and k not in params:
            raise _Fail("int8 data without quantization parameters (scale, zero point)", t)
    for name, value in op.attrs.items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool) \
                    and not INT32_MIN <= v <= INT32_MAX:
                raise _Fail(f"attribute {name} = {value} does not fit a 32-bit integer")
    check = _PER_OP.get(op.type)
    if check is not None:
        check(op)


# ------------------------------------------------------------------ per op type

def _weights(op: Op, rank: int, channels_axis: int) -> tuple[Tensor, int]:
    """The constant int8 filter/weights (input 1): quantized, `rank` dims, one scale or one
    per output channel. Returns (tensor, output channels)."""
    w = op.inputs[1]
    if w.data is None:
        raise _Fail("filter/weights must be a constant tensor", w)
    if w.dtype != "int8":
        raise _Fail(f"filter/weights are {w.dtype}; only int8 is supported", w)
    if w.quant is None:
        raise _Fail("int8 filter/weights without quantization parameters (scale)", w)
    if len(w.shape) != rank or min(w.shape) < 1:
        raise _Fail(f"filter/weights shape {list(w.shape)} must have {rank} non-zero "
                    "dimensions", w)
    n = w.shape[channels_axis]
    if len(w.quant.scale) not in (1, n):
        raise _Fail(f"{len(w.quant.scale)} weight scales for {n} output channels", w)
    return w, n


def _bias_and_scales(op: Op, w: Tensor, n: int) -> None:
    """The bias (input 2, optional): int32 constant, n values; the requantisation multiplier
    in_scale * w_scale / out_scale below 2^31 on every channel; and in onnxruntime's
    arithmetic a bias scale equal to in_scale * w_scale."""
    x, y = op.inputs[0], op.outputs[0]
    b = op.inputs[2] if len(op.inputs) > 2 else None
    if b is not None and (b.data is None or b.dtype != "int32" or b.size != n):
        raise _Fail(f"bias must be a constant int32 vector of {n} values (is "
                    f"{'a constant ' if b.data is not None else ''}{b.dtype}{list(b.shape)})", b)
    if x.quant is None or y.quant is None:
        return
    ws = np.asarray(w.quant.scale, np.float32)
    product = np.float32(x.quant.scale[0]) * ws          # float32, as both runtimes do
    mult = product.astype(np.float64) / float(np.float32(y.quant.scale[0]))
    if not np.all(mult < MAX_MULTIPLIER):
        raise _Fail(f"input scale x weight scale / output scale = {float(np.max(mult)):.4g} "
                    "is too large (the requantisation multiplier must be below 2^31)", y)
    if op.attrs.get("requant") == "float" and b is not None and b.quant is not None:
        bs = np.resize(np.asarray(b.quant.scale, np.float64), n)
        want = np.resize(product.astype(np.float64), n)
        off = ~(np.abs(bs - want) <= BIAS_SCALE_RTOL * want)
        if off.any():
            c = int(np.argmax(off))
            raise _Fail(f"bias scale {bs[c]!r} (channel {c}) is not input scale x weight scale "
                        f"= {want[c]!r}", b)


def _spatial(op: Op, out_c: int, k_h: int, k_w: int, dilate: bool) -> None:
    """Convolution/pooling geometry: strides (dilations) >= 1, the output shape TFLM derives
    ([n, out_h, out_w, out_c], SAME or VALID padding; ONNX pools give explicit pads)."""
    x, y = op.inputs[0], op.outputs[0]
    a = op.attrs
    if len(x.shape) != 4:
        raise _Fail(f"input must be 4-D NHWC, is {list(x.shape)}", x)
    _at_least_one([a.get("strideH", 0), a.get("strideW", 0)], "strides")
    dil = [a.get("dilationHFactor", 1), a.get("dilationWFactor", 1)] if dilate else [1, 1]
    _at_least_one(dil, "dilations")
    _at_least_one([k_h, k_w], "filter size")
    if a.get("padding", 0) not in (0, 1):
        raise _Fail(f"padding code {a.get('padding')} (only SAME 0 and VALID 1 exist)")
    n, ih, iw, _ = x.shape
    if "pads" in a:     # ONNX pooling: explicit pads
        pt, pl, pb, pr = a["pads"]
        oh = (ih + pt + pb - k_h) // a["strideH"] + 1
        ow = (iw + pl + pr - k_w) // a["strideW"] + 1
    else:
        same = a.get("padding", 0) == 0
        oh = conv_geometry(ih, k_h, a["strideH"], dil[0], same)[0]
        ow = conv_geometry(iw, k_w, a["strideW"], dil[1], same)[0]
    if tuple(y.shape) != (n, oh, ow, out_c):
        raise _Fail(f"output shape {list(y.shape)} does not match the {list(x.shape)} input, "
                    f"filter {k_h}x{k_w}, strides and padding: expected {[n, oh, ow, out_c]}", y)


def _conv(op: Op) -> None:
    w, oc = _weights(op, 4, 0)
    x = op.inputs[0]
    if len(x.shape) == 4 and w.shape[3] != x.shape[3]:
        raise _Fail(f"filter has {w.shape[3]} input channels, the input {x.shape[3]} "
                    "(grouped convolution is not supported)", w)
    _spatial(op, oc, w.shape[1], w.shape[2], True)
    _bias_and_scales(op, w, oc)


def _transpose_conv(op: Op) -> None:
    """Inputs (output shape, filter [oc, kh, kw, ic], input, bias): the output shape a
    constant int32 [n, h, w, oc] equal to the output's (TFLM sizes from the output tensor),
    the filter's input channels the input's; strides >= 1, SAME or VALID."""
    shape_t, w, x, y = op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]
    # the op with CONV_2D's operand order (input, filter, bias), for the shared checks
    wop = Op(op.type, [x, w] + op.inputs[3:], op.outputs, op.attrs, op.index)
    w, oc = _weights(wop, 4, 0)
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise _Fail(f"input {list(x.shape)} and output {list(y.shape)} must be 4-D NHWC", x)
    if shape_t.data is None or shape_t.dtype != "int32" or \
            [int(v) for v in np.asarray(shape_t.data).reshape(-1)] != list(y.shape):
        raise _Fail(f"the output shape must be a constant int32 tensor equal to the output's "
                    f"{list(y.shape)}", shape_t)
    if w.shape[3] != x.shape[3] or y.shape[3] != oc or y.shape[0] != x.shape[0]:
        raise _Fail(f"filter {list(w.shape)} does not take the {list(x.shape)} input to the "
                    f"{list(y.shape)} output", w)
    _at_least_one([op.attrs.get("strideH", 0), op.attrs.get("strideW", 0)], "strides")
    if op.attrs.get("padding", 0) not in (0, 1):
        raise _Fail(f"padding code {op.attrs.get('padding')} (only SAME 0 and VALID 1 exist)")
    _bias_and_scales(wop, w, oc)


def matmul_dims(op: Op) -> tuple[list[int], int, int, int]:
    """BATCH_MATMUL's (batch dims of the output, rows, columns, depth) as TFLM derives them:
    both operands extended to the larger rank with leading 1s; batch dims equal or 1;
    adj_x / adj_y transpose the last two dims of the left / right operand."""
    a, b = op.inputs[0], op.inputs[1]
    rank = max(len(a.shape), len(b.shape))
    ea = [1] * (rank - len(a.shape)) + list(a.shape)
    eb = [1] * (rank - len(b.shape)) + list(b.shape)
    batch = []
    for k, (da, db) in enumerate(zip(ea[:-2], eb[:-2])):
        if da != db and 1 not in (da, db):
            raise _Fail(f"batch dimension {k} of {list(a.shape)} and {list(b.shape)} do not "
                        "broadcast")
        batch.append(max(da, db))
    rows, depth = (ea[-1], ea[-2]) if op.attrs.get("adjX") else (ea[-2], ea[-1])
    depth_b, cols = (eb[-1], eb[-2]) if op.attrs.get("adjY") else (eb[-2], eb[-1])
    if depth != depth_b:
        raise _Fail(f"{list(a.shape)} x {list(b.shape)} (adj_x {bool(op.attrs.get('adjX'))}, "
                    f"adj_y {bool(op.attrs.get('adjY'))}): the depths {depth} and {depth_b} "
                    "differ")
    return batch, rows, cols, depth


def _batch_matmul(op: Op) -> None:
    """Operands of rank 2 to 5 (TFLM's limits), one scale each, the output their product's
    shape; the requantisation multiplier below 2^31."""
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    for t in (a, b):
        if not 2 <= len(t.shape) <= 5:
            raise _Fail(f"rank {len(t.shape)}: BATCH_MATMUL takes ranks 2 to 5", t)
        if t.quant is not None and t.quant.per_channel:
            raise _Fail("per-channel quantization on a BATCH_MATMUL operand (TFLM reads one "
                        "scale)", t)
    batch, rows, cols, _ = matmul_dims(op)
    if list(y.shape) != batch + [rows, cols]:
        raise _Fail(f"output shape {list(y.shape)} is not the product's "
                    f"{batch + [rows, cols]}", y)
    if None not in (a.quant, b.quant, y.quant):
        m = float(np.float32(a.quant.scale[0]) * np.float32(b.quant.scale[0])) \
            / float(np.float32(y.quant.scale[0]))
        if not m < MAX_MULTIPLIER:
            raise _Fail(f"input scales / output scale = {m:.4g} is too large (the "
                        "requantisation multiplier must be below 2^31)", y)


def _depthwise(op: Op) -> None:
    w, oc = _weights(op, 4, 3)
    if w.shape[0] != 1:
        raise _Fail(f"depthwise filter shape {list(w.shape)} must be [1, h, w, channels]", w)
    x = op.inputs[0]
    if len(x.shape) == 4:
        ic = x.shape[3]
        dm = op.attrs.get("depthMultiplier", oc // ic if ic else 0)
        if ic < 1 or dm < 1 or ic * dm != oc:
            raise _Fail(f"depth multiplier {dm} with {ic} input channels does not give the "
                        f"filter's {oc} output channels", w)
    _spatial(op, oc, w.shape[1], w.shape[2], True)
    _bias_and_scales(op, w, oc)


def _fully_connected(op: Op) -> None:
    w, out_d = _weights(op, 2, 0)
    x, y = op.inputs[0], op.outputs[0]
    in_d = w.shape[1]
    if x.size % in_d:
        raise _Fail(f"input of {x.size} values is not a whole number of {in_d}-value rows", x)
    if y.size != x.size // in_d * out_d:
        raise _Fail(f"output shape {list(y.shape)} does not hold {x.size // in_d} x {out_d} "
                    "values", y)
    _bias_and_scales(op, w, out_d)


def _pool(op: Op) -> None:
    x = op.inputs[0]
    _spatial(op, x.shape[3] if len(x.shape) == 4 else -1,
             op.attrs.get("filterHeight", 0), op.attrs.get("filterWidth", 0), False)


def _same_shape(op: Op) -> None:
    x, y = op.inputs[0], op.outputs[0]
    if tuple(x.shape) != tuple(y.shape):
        raise _Fail(f"output shape {list(y.shape)} differs from the input's {list(x.shape)} "
                    f"({op.type} keeps the shape)", y)
    if op.type in ("QUANTIZE", "DEQUANTIZE"):
        for t in (x, y):
            if t.quant is not None and t.quant.per_channel:
                raise _Fail(f"per-channel quantization on {op.type}'s int8 side is not "
                            "supported", t)
    if op.type == "SOFTMAX" and not x.shape:       # TFLM: NumDimensions(input) >= 1
        raise _Fail("the input is a scalar (rank 0): softmax needs rank 1 or more", x)
    if op.type == "SOFTMAX" and not math.isfinite(float(op.attrs.get("beta", 1.0))):
        raise _Fail(f"beta {op.attrs.get('beta')!r} is not finite")


def _elementwise(op: Op) -> None:
    a, b, y = op.inputs[0], op.inputs[1], op.outputs[0]
    try:
        shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        shape = None
    if shape != tuple(y.shape):
        raise _Fail(f"input shapes {list(a.shape)} and {list(b.shape)} do not broadcast to the "
                    f"output's {list(y.shape)}", y)
    if op.type in ("MUL", "SQUARED_DIFFERENCE") and None not in (a.quant, b.quant, y.quant):
        s1, s2 = float(np.float32(a.quant.scale[0])), float(np.float32(b.quant.scale[0]))
        m = s1 * s2 / float(np.float32(y.quant.scale[0]))
        if op.type == "SQUARED_DIFFERENCE":      # lower.py _squared_difference
            m = (2 * max(s1, s2)) ** 2 / ((1 << 14) * float(np.float32(y.quant.scale[0])))
        if not m < MAX_MULTIPLIER:
            raise _Fail(f"input scales / output scale = {m:.4g} is too large (the "
                        "requantisation multiplier must be below 2^31)", y)


def _axis(axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < rank:
        raise _Fail(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


def _mean(op: Op) -> None:
    """The output shape MEAN computes: the reduced axes dropped, or kept as 1 (keepDims)."""
    x, axes_t, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if axes_t.data is None:
        raise _Fail("the axes must be a constant tensor", axes_t)
    axes = {_axis(int(a), len(x.shape), "axis") for a in np.asarray(axes_t.data).reshape(-1)}
    keep = bool(op.attrs.get("keepDims", False))
    want = [1 if k in axes else d for k, d in enumerate(x.shape) if keep or k not in axes]
    if list(y.shape) != want:
        raise _Fail(f"output shape {list(y.shape)} is not the mean of {list(x.shape)} over "
                    f"axes {sorted(axes)} (expected {want})", y)


def _concat(op: Op) -> None:
    """Inputs of the output's rank, equal to it except along the axis, which they fill."""
    y = op.outputs[0]
    axis = _axis(int(op.attrs.get("axis", 0)), len(y.shape), "axis")
    total = 0
    for x in op.inputs:
        same = len(x.shape) == len(y.shape) and all(
            a == b for k, (a, b) in enumerate(zip(x.shape, y.shape)) if k != axis)
        if not same:
            raise _Fail(f"input shape {list(x.shape)} does not fit the output's "
                        f"{list(y.shape)} outside axis {axis}", x)
        total += x.shape[axis]
    if total != y.shape[axis]:
        raise _Fail(f"inputs fill {total} of the output's {y.shape[axis]} along axis {axis}", y)


def _svdf(op: Op) -> None:
    """TFLM PrepareSvdf: input [batches, input_size]; weights_feature [filters, input_size];
    weights_time [filters, memory] of the state's type (int8 or int16: the kernel reads both
    as one type); bias [units = filters / rank] int32 with scale state x time scale (1e-5);
    state [batches, memory x filters]; output int8 [batches, units]; one scale each."""
    x, wf, wt, b, st = op.inputs
    y = op.outputs[0]
    rank = op.attrs.get("rank", 0)
    if len(x.shape) != 2 or x.dtype != "int8":
        raise _Fail(f"input must be 2-D int8 [batches, input_size], is {x.dtype}"
                    f"{list(x.shape)}", x)
    batches, input_size = x.shape
    for t, what in ((wf, "weights_feature"), (wt, "weights_time")):
        if t.data is None or len(t.shape) != 2 or t.quant is None or t.quant.per_channel:
            raise _Fail(f"{what} must be a constant 2-D tensor with one scale", t)
    filters, memory = wt.shape
    if wf.dtype != "int8" or tuple(wf.shape) != (filters, input_size):
        raise _Fail(f"weights_feature must be int8 [{filters}, {input_size}], is {wf.dtype}"
                    f"{list(wf.shape)}", wf)
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1 \
            or filters % rank:
        raise _Fail(f"rank {rank} must be >= 1 and divide the {filters} filters")
    units = filters // rank
    if st.dtype not in ("int8", "int16") or wt.dtype != st.dtype:
        raise _Fail(f"state and weights_time must both be int8 or both int16 (are "
                    f"{st.dtype}, {wt.dtype})", st)
    if tuple(st.shape) != (batches, memory * filters) or st.quant is None \
            or st.quant.per_channel:
        raise _Fail(f"state must be [{batches}, {memory * filters}] with one scale, is "
                    f"{list(st.shape)}", st)
    if b.data is None or b.dtype != "int32" or b.size != units or b.quant is None:
        raise _Fail(f"bias must be a constant quantized int32 vector of {units} values", b)
    if y.dtype != "int8" or tuple(y.shape) != (batches, units):
        raise _Fail(f"output must be int8 [{batches}, {units}], is {y.dtype}{list(y.shape)}", y)
    if x.quant is None or y.quant is None:
        return
    f32 = np.float32
    st_s, wt_s = f32(st.quant.scale[0]), f32(wt.quant.scale[0])
    if not abs(float(b.quant.scale[0]) - float(st_s * wt_s)) < 1e-5:
        raise _Fail(f"bias scale {float(b.quant.scale[0])!r} is not state scale x "
                    f"weights_time scale = {float(st_s * wt_s)!r} (TFLM refuses)", b)
    for m, what, t in (((f32(x.quant.scale[0]) * f32(wf.quant.scale[0])) / st_s,
                        "input x weights_feature / state", st),
                       (st_s * wt_s / f32(y.quant.scale[0]), "state x weights_time / output", y)):
        if not float(m) < MAX_MULTIPLIER:
            raise _Fail(f"scale ratio {what} = {float(m):.4g} is too large (the requantisation "
                        "multiplier must be below 2^31)", t)


def _lstm(op: Op) -> None:
    """TFLM's integer LSTM (8x8->16): input int8 [batches, steps, input] ([steps, batches,
    input] when time major); the eight gate weights int8 [state, input] / [state, state] with
    one scale; four int32 biases [state]; hidden state int8 and cell state int16 of batches x
    state values; output int8 of the input's first two dimensions x state; the cell gate's
    activation tanh. LSTM variants (peephole, projection, layer norm) are not supported."""
    for k, what in LSTM_VARIANT_INPUTS.items():
        if op.inputs[k] is not None:
            raise _Fail(f"input {k} is given: {what} LSTMs are not supported (TFLM runs the "
                        "standard Keras LSTM only)", op.inputs[k])
    x, h, c, y = op.inputs[0], op.inputs[18], op.inputs[19], op.outputs[0]
    if x.dtype != "int8" or len(x.shape) != 3:
        raise _Fail(f"input must be 3-D int8, is {x.dtype}{list(x.shape)}", x)
    time_major = bool(op.attrs.get("timeMajor", False))
    batches = x.shape[1] if time_major else x.shape[0]
    n_in = x.shape[2]
    w = op.inputs[4]
    if w.data is None or len(w.shape) != 2:
        raise _Fail("input-to-output weights must be a constant 2-D tensor", w)
    n = w.shape[0]
    for k in range(1, 9):
        t = op.inputs[k]
        want = (n, n_in) if k < 5 else (n, n)
        if t.data is None or t.dtype != "int8" or tuple(t.shape) != want or t.quant is None \
                or t.quant.per_channel:
            raise _Fail(f"weights must be constant int8 {list(want)} with one scale", t)
    for k in range(12, 16):
        t = op.inputs[k]
        if t.data is None or t.dtype != "int32" or tuple(t.shape) != (n,):
            raise _Fail(f"gate bias must be a constant int32 vector of {n} values", t)
    for t, dtype in ((h, "int8"), (c, "int16")):
        if t.dtype != dtype or t.size != batches * n or t.quant is None or t.quant.per_channel:
            raise _Fail(f"state must be {dtype} with {batches * n} values and one scale", t)
    if y.dtype != "int8" or tuple(y.shape) != (x.shape[0], x.shape[1], n):
        raise _Fail(f"output must be int8 {[x.shape[0], x.shape[1], n]}, is {y.dtype}"
                    f"{list(y.shape)}", y)
    if op.attrs.get("fusedActivationFunction", 0) != 4:
        raise _Fail(f"cell gate activation code {op.attrs.get('fusedActivationFunction')} "
                    "(TFLM's integer LSTM runs tanh, code 4)")
    clip = op.attrs.get("cellClip", 0.0) or 0.0
    if not math.isfinite(float(clip)) or clip < 0:
        raise _Fail(f"cell clip {clip!r} must be finite and not negative")


def _resize(op: Op) -> None:
    """[n, h, w, c] -> [n, size[0], size[1], c] with a constant int32 size of two values,
    1024 x input size + output size within int32 (TFLM's bilinear scale); RESIZE_BILINEAR
    refuses align_corners with half_pixel_centers (TFLM's Prepare does)."""
    x, size_t, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if len(x.shape) != 4:
        raise _Fail(f"input must be 4-D NHWC, is {list(x.shape)}", x)
    if size_t.data is None or size_t.dtype != "int32" or size_t.size != 2:
        raise _Fail(f"the size must be a constant int32 tensor of 2 values (is "
                    f"{'a constant ' if size_t.data is not None else ''}{size_t.dtype}"
                    f"{list(size_t.shape)})", size_t)
    h, w = (int(v) for v in np.asarray(size_t.data).reshape(-1))
    _at_least_one([h, w], "size")
    for n_in, n_out in ((x.shape[1], h), (x.shape[2], w)):
        if (n_in << 10) + n_out > INT32_MAX:     # TFLM's 10-bit bilinear scale, in int32
            raise _Fail(f"resizing {n_in} to {n_out} overflows TFLM's int32 arithmetic")
    if tuple(y.shape) != (x.shape[0], h, w, x.shape[3]):
        raise _Fail(f"output shape {list(y.shape)} is not the {list(x.shape)} input resized to "
                    f"{[h, w]}", y)
    a = op.attrs
    if op.type == "RESIZE_BILINEAR" and a.get("alignCorners") and a.get("halfPixelCenters"):
        raise _Fail("align_corners and half_pixel_centers are both set (TFLM refuses that)")


def _arg_min_max(op: Op) -> None:
    """One constant int32 axis; the output the input without that axis, int32 (TFLM writes
    no other index type)."""
    x, axis_t, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if axis_t.data is None or axis_t.dtype != "int32" or axis_t.size != 1:
        raise _Fail("the axis must be a constant int32 tensor of one value", axis_t)
    axis = _axis(int(np.asarray(axis_t.data).reshape(-1)[0]), len(x.shape), "axis")
    if y.dtype != "int32":
        raise _Fail(f"output is {y.dtype}: TFLM computes {op.type} into int32 only (convert "
                    "with output_type=tf.int32)", y)
    want = [d for k, d in enumerate(x.shape) if k != axis]
    if list(y.shape) != want:
        raise _Fail(f"output shape {list(y.shape)} is not {list(x.shape)} without axis {axis} "
                    f"(expected {want})", y)


def gather_axes(op: Op) -> tuple[int, int]:
    """GATHER's (axis, batch_dims), both made non-negative as TFLM does."""
    x, coords = op.inputs[0], op.inputs[1]
    rank = len(x.shape)
    axis = _axis(int(op.attrs.get("axis", 0)), rank, "axis")
    bd = int(op.attrs.get("batchDims", 0))
    bd = bd + len(coords.shape) if bd < 0 else bd
    if not (0 <= bd <= axis and bd < rank and bd <= len(coords.shape)) \
            or list(x.shape[:bd]) != list(coords.shape[:bd]):
        raise _Fail(f"batch_dims {op.attrs.get('batchDims', 0)} does not fit axis {axis}, "
                    f"the input {list(x.shape)} and the indices {list(coords.shape)}")
    return axis, bd


def _gather(op: Op) -> None:
    """Constant int32 indices inside the axis (TFLM fails the invoke on one outside); the
    output input[:axis] + indices[batch_dims:] + input[axis + 1:]."""
    x, coords, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if coords.data is None or coords.dtype != "int32":
        raise _Fail("the indices must be a constant int32 tensor (indices computed at run "
                    "time are not supported)", coords)
    if not x.shape:
        raise _Fail("input is a scalar", x)
    axis, bd = gather_axes(op)
    values = np.asarray(coords.data).reshape(-1)
    bad = (values < 0) | (values >= x.shape[axis])
    if bad.any():
        raise _Fail(f"index {int(values[np.argmax(bad)])} is outside the axis "
                    f"(0..{x.shape[axis] - 1})", coords)
    want = list(x.shape[:axis]) + list(coords.shape[bd:]) + list(x.shape[axis + 1:])
    if list(y.shape) != want:
        raise _Fail(f"output shape {list(y.shape)} is not the gathered {want}", y)


_PER_OP = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise,
           "TRANSPOSE_CONV": _transpose_conv, "BATCH_MATMUL": _batch_matmul,
           "FULLY_CONNECTED": _fully_connected,
           "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool,
           "ADD": _elementwise, "SUB": _elementwise, "MUL": _elementwise,
           "MEAN": _mean, "CONCATENATION": _concat, "SVDF": _svdf,
           "UNIDIRECTIONAL_SEQUENCE_LSTM": _lstm,
           "MINIMUM": _elementwise, "MAXIMUM": _elementwise,
           "RESIZE_NEAREST_NEIGHBOR": _resize, "RESIZE_BILINEAR": _resize,
           "ARG_MAX": _arg_min_max, "ARG_MIN": _arg_min_max, "GATHER": _gather,
           "SQUARED_DIFFERENCE": _elementwise,
           **{t: _same_shape for t in SHAPE_PRESERVING}}
