"""Small ONNX models for tests: float graphs built with onnx.helper, quantized to INT8 by
onnxruntime (`quantize`) in the QDQ or the QOperator form, per-channel or per-tensor.

Every builder returns a float onnx.ModelProto with inputs "x0", "x1", ... (NCHW for images)
and one output "y"; weights come from numpy.random.default_rng(seed). `quantize` calibrates
on seeded random inputs (uniform in [-1, 1]) with activation_type=QInt8, weight_type=QInt8.
"""
from __future__ import annotations

import functools
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _Builder:
    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.inputs = [], [], []
        self.n = 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def input(self, shape) -> str:
        name = f"x{len(self.inputs)}"
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name

    def const(self, arr, base="c") -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def weights(self, shape, scale=None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = scale or 1.0 / np.sqrt(fan_in)
        return self.const((self.rng.normal(size=shape) * scale).astype(np.float32), "w")

    def node(self, op, inputs, **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], **attrs))
        return out

    def conv(self, x, cin, cout, k=3, stride=1, pad=None, group=1, bias=True, dil=1):
        pad = (k // 2) * dil if pad is None else pad
        w = self.weights((cout, cin // group, k, k))
        ins = [x, w] + ([self.const((self.rng.normal(size=cout) * 0.1).astype(np.float32), "b")]
                        if bias else [])
        pads = pad if isinstance(pad, (list, tuple)) else [pad] * 4
        return self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride],
                         pads=list(pads), group=group, dilations=[dil, dil])

    def model(self, y) -> onnx.ModelProto:
        last = self.nodes[-1]
        assert last.output[0] == y
        last.output[0] = "y"
        g = helper.make_graph(self.nodes, "m", self.inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        m = onnx.shape_inference.infer_shapes(m)
        onnx.checker.check_model(m)
        return m


# ------------------------------------------------------------------ quantization

def quantize(model: onnx.ModelProto, fmt: str = "QDQ", per_channel: bool = True,
             seed: int = 0, samples: int = 16, keep_activations: bool = False) -> bytes:
    """INT8 with onnxruntime.quantization.quantize_static (QInt8 activations and weights).
    keep_activations: QDQKeepRemovableActivations (Relu/Clip after an op stay in the QDQ
    model, between DequantizeLinear and QuantizeLinear, instead of being folded into the
    op's output range)."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in model.graph.input}
    rng = np.random.default_rng(seed)
    data = [{k: rng.uniform(-1, 1, size=s).astype(np.float32) for k, s in shapes.items()}
            for _ in range(samples)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(data)

        def get_next(self):
            return next(self.it, None)

    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        onnx.save(model, src)
        quantize_static(str(src), str(dst), Reader(),
                        quant_format=getattr(QuantFormat, fmt),
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        per_channel=per_channel,
                        extra_options={"QDQKeepRemovableActivations": keep_activations})
        return dst.read_bytes()


def op_types(model_bytes: bytes) -> list[str]:
    return [n.op_type for n in onnx.load_from_string(model_bytes).graph.node]


# ------------------------------------------------------------------ single ops

def conv(in_shape=(1, 3, 9, 9), cout=5, k=3, stride=1, pad=None, dil=1, bias=True, seed=0):
    b = _Builder(seed)
    x = b.input(in_shape)
    return b.model(b.conv(x, in_shape[1], cout, k, stride, pad, bias=bias, dil=dil))


def conv_relu(in_shape=(1, 3, 8, 8), cout=6, clip=False, seed=0):
    b = _Builder(seed)
    x = b.input(in_shape)
    y = b.conv(x, in_shape[1], cout)
    if clip:
        y = b.node("Clip", [y, b.const(np.float32(0.0)), b.const(np.float32(6.0))])
    else:
        y = b.node("Relu", [y])
    return b.model(y)


def depthwise(in_shape=(1, 4, 9, 9), k=3, stride=1, mult=1, seed=0):
    b = _Builder(seed)
    x = b.input(in_shape)
    c = in_shape[1]
    return b.model(b.conv(x, c, c * mult, k, stride, group=c))


def gemm(batch=1, k=16, n=10, trans_b=True, seed=0):
    b = _Builder(seed)
    x = b.input((batch, k))
    w = b.weights((n, k) if trans_b else (k, n), 1 / np.sqrt(k))
    bias = b.const((b.rng.normal(size=n) * 0.1).astype(np.float32), "b")
    return b.model(b.node("Gemm", [x, w, bias], transB=int(trans_b)))


def matmul(in_shape=(1, 12), n=7, seed=0):
    b = _Builder(seed)
    x = b.input(in_shape)
    w = b.weights((in_shape[-1], n), 1 / np.sqrt(in_shape[-1]))
    return b.model(b.node("MatMul", [x, w]))


def binary(op="Add", shape_a=(1, 3, 6, 6), shape_b=(1, 3, 6, 6), const_b=False, seed=0):
    b = _Builder(seed)
    x0 = b.input(shape_a)
    x1 = (b.const(b.rng.uniform(-1, 1, size=shape_b).astype(np.float32))
          if const_b else b.input(shape_b))
    return b.model(b.node(op, [x0, x1]))


def pool(op="AveragePool", in_shape=(1, 3, 8, 8), k=2, stride=2, pads=(0, 0, 0, 0),
         count_include_pad=0, seed=0):
    b = _Builder(seed)
    x = b.input(in_shape)
    attrs = dict(kernel_shape=[k, k], strides=[stride, stride], pads=list(pads))
    if op == "AveragePool":
        attrs["count_include_pad"] = count_include_pad
    # a conv first, so the pool's input has its own (non-input) quantization
    y = b.conv(x, in_shape[1], in_shape[1] + 1)
    return b.model(b.node(op, [y], **attrs))


def global_avg_pool(in_shape=(1, 3, 7, 7), flatten=True, seed=0):
    b = _Builder(seed)
    x = b.input(in_shape)
    y = b.node("GlobalAveragePool", [b.conv(x, in_shape[1], 6)])
    return b.model(b.node("Flatten", [y]) if flatten else y)


def concat(in_shape=(1, 3, 6, 6), seed=0):
    """Two convs with different output ranges, concatenated on channels (QLinearConcat
    requantizes at least one input)."""
    b = _Builder(seed)
    x = b.input(in_shape)
    y1 = b.conv(x, in_shape[1], 4)
    y2 = b.node("Mul", [b.conv(x, in_shape[1], 3), b.const(np.float32(3.0))])
    return b.model(b.node("Concat", [y1, y2], axis=1))


def unary(op="Sigmoid", in_shape=(1, 4, 6, 6), seed=0, **attrs):
    b = _Builder(seed)
    x = b.input(in_shape)
    return b.model(b.node(op, [b.conv(x, in_shape[1], 4)], **attrs))


def activations(in_shape=(1, 3, 6, 6), seed=0):
    """Standalone activations (not fused into the conv: its output has 7 consumers, so
    quantize_static keeps Relu and Clip in the QDQ form) concatenated on channels: Relu, Clip
    (not 0..6), LeakyRelu, HardSwish, Sigmoid, Tanh, HardSigmoid. QOperator form:
    QLinearLeakyRelu, QLinearSigmoid, HardSwish/Tanh/HardSigmoid between DequantizeLinear and
    QuantizeLinear (onnxruntime has no QLinear form of them); quantize_static drops Relu and
    Clip there (no QLinear form either), and QLinearConcat requantizes."""
    b = _Builder(seed)
    x = b.input(in_shape)
    c = b.conv(x, in_shape[1], 4)
    outs = [b.node("Relu", [c]),
            b.node("Clip", [c, b.const(np.float32(-0.25)), b.const(np.float32(0.5))]),
            b.node("LeakyRelu", [c], alpha=0.2),
            b.node("HardSwish", [c]),
            b.node("Sigmoid", [c]),
            b.node("Tanh", [c]),
            b.node("HardSigmoid", [c], alpha=0.3, beta=0.4)]
    return b.model(b.node("Concat", outs, axis=1))


def reshapes(in_shape=(1, 3, 6, 6), n=5, seed=0):
    """conv, GlobalAveragePool, Squeeze, Unsqueeze, Reshape, Gemm: the int8 moves."""
    b = _Builder(seed)
    x = b.input(in_shape)
    y = b.node("GlobalAveragePool", [b.conv(x, in_shape[1], 4)])
    y = b.node("Squeeze", [y, b.const(np.array([2, 3], np.int64))])         # [1, 4]
    y = b.node("Unsqueeze", [y, b.const(np.array([1], np.int64))])          # [1, 1, 4]
    y = b.node("Reshape", [y, b.const(np.array([1, -1], np.int64))])        # [1, 4]
    w = b.weights((n, 4), 0.5)
    return b.model(b.node("Gemm", [y, w, b.const(np.zeros(n, np.float32))], transB=1))


def flatten_gemm(in_shape=(1, 3, 5, 5), n=8, seed=0):
    """Flatten of a feature map with H*W > 1: NCHW order must be kept (a TRANSPOSE copy)."""
    b = _Builder(seed)
    x = b.input(in_shape)
    y = b.node("Flatten", [b.conv(x, in_shape[1], 4)])
    k = 4 * in_shape[2] * in_shape[3]
    w = b.weights((n, k), 1 / np.sqrt(k))
    return b.model(b.node("Gemm", [y, w, b.const(np.zeros(n, np.float32))], transB=1))


def transpose_nhwc_input(in_shape=(1, 8, 8, 3), seed=0):
    """A TF-style model: NHWC input, a layout Transpose, conv, Transpose back."""
    b = _Builder(seed)
    x = b.input(in_shape)
    t = b.node("Transpose", [x], perm=[0, 3, 1, 2])
    y = b.conv(t, in_shape[3], 4)
    return b.model(b.node("Transpose", [y], perm=[0, 2, 3, 1]))


# ------------------------------------------------------------------ small networks

def resnet(in_shape=(1, 3, 16, 16), width=8, classes=10, seed=0):
    """ResNet-style: stem conv, two residual blocks (conv-relu-conv + add, relu), a strided
    block with a 1x1 projection shortcut, global average pool, flatten, Gemm."""
    b = _Builder(seed)
    x = b.input(in_shape)
    y = b.node("Relu", [b.conv(x, in_shape[1], width)])

    def block(y, cin, cout, stride):
        z = b.node("Relu", [b.conv(y, cin, cout, stride=stride)])
        z = b.conv(z, cout, cout)
        short = y if stride == 1 and cin == cout else b.conv(y, cin, cout, k=1, stride=stride,
                                                           pad=0)
        return b.node("Relu", [b.node("Add", [z, short])])

    y = block(y, width, width, 1)
    y = block(y, width, 2 * width, 2)
    y = b.node("Flatten", [b.node("GlobalAveragePool", [y])])
    w = b.weights((classes, 2 * width), 1 / np.sqrt(2 * width))
    return b.model(b.node("Gemm", [y, w, b.const(np.zeros(classes, np.float32))], transB=1))


def mobilenet_v2(in_shape=(1, 3, 16, 16), classes=10, seed=0):
    """MobileNetV2-style: stem conv + Clip(0, 6), inverted residual blocks (1x1 expand +
    ReLU6, depthwise 3x3 + ReLU6, 1x1 project, residual Add when shapes allow), a strided
    block, 1x1 head, global average pool, Gemm."""
    b = _Builder(seed)
    x = b.input(in_shape)

    def relu6(y):
        return b.node("Clip", [y, b.const(np.float32(0.0)), b.const(np.float32(6.0))])

    y = relu6(b.conv(x, in_shape[1], 8, stride=2))

    def inverted(y, cin, cout, stride, expand=4):
        h = relu6(b.conv(y, cin, cin * expand, k=1, pad=0))
        h = relu6(b.conv(h, cin * expand, cin * expand, stride=stride, group=cin * expand))
        h = b.conv(h, cin * expand, cout, k=1, pad=0)
        return b.node("Add", [h, y]) if stride == 1 and cin == cout else h

    y = inverted(y, 8, 8, 1)
    y = inverted(y, 8, 12, 2)
    y = inverted(y, 12, 12, 1)
    y = relu6(b.conv(y, 12, 24, k=1, pad=0))
    y = b.node("Flatten", [b.node("GlobalAveragePool", [y])])
    w = b.weights((classes, 24), 1 / np.sqrt(24))
    return b.model(b.node("Gemm", [y, w, b.const(np.zeros(classes, np.float32))], transB=1))


def padded(in_shape=(1, 3, 8, 8), seed=0):
    """PyTorch-style explicit padding: Conv 1x1 -> Pad (zero; top 1, right 1) -> Conv with
    pads 1 -> Pad (zero) -> MaxPool 3x3 -> MaxPool 3x3 padded below and right. (The 1x1 conv
    first: the QOperator quantizer leaves a Pad that reads the float input in float.)"""
    b = _Builder(seed)
    x = b.conv(b.input(in_shape), in_shape[1], in_shape[1], k=1, pad=0)
    y = b.node("Pad", [x, b.const(np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64))])
    y = b.conv(y, in_shape[1], 6, pad=1)
    y = b.node("Pad", [y, b.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))])
    y = b.node("MaxPool", [y], kernel_shape=[3, 3])
    return b.model(b.node("MaxPool", [y], kernel_shape=[3, 3], pads=[0, 0, 1, 1]))


@functools.lru_cache(maxsize=None)
def quantized(builder: str, fmt: str = "QDQ", per_channel: bool = True,
              keep_activations: bool = False, **kw) -> bytes:
    """quantize(globals()[builder](**kw)), cached per process."""
    return quantize(globals()[builder](**kw), fmt, per_channel,
                    keep_activations=keep_activations)
