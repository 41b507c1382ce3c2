"""A tiny full-INT8 TFLite model built field by field with the schema bindings (no TensorFlow),
for tests that edit one field and re-serialise (tests/test_hostile_models.py).

    input [1,6,6,2] -> op 0 CONV_2D 3x3 SAME (3 channels, per-channel weights) -> [1,6,6,3]
    -> op 1 DEPTHWISE_CONV_2D 3x3 VALID, depth multiplier 2 -> [1,4,4,6]
    -> op 2 AVERAGE_POOL_2D 2x2 stride 2 -> [1,2,2,6] -> op 3 RESHAPE -> [1,24]
    -> op 4 FULLY_CONNECTED 24 -> 10 -> [1,10] -> op 5 SOFTMAX -> [1,10] output

`tiny_model()` returns the schema's ModelT (edit it), `serialise(model)` the file bytes.
Tensor indices are the T_* constants; op k is model.subgraphs[0].operators[k].
"""
from __future__ import annotations

import flatbuffers
import numpy as np

(T_IN, T_CONV_W, T_CONV_B, T_CONV_OUT, T_DW_W, T_DW_B, T_DW_OUT, T_POOL_OUT, T_SHAPE,
 T_RESHAPED, T_FC_W, T_FC_B, T_FC_OUT, T_OUT) = range(14)


def schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s
    return s


def serialise(model) -> bytes:
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _quant(scale, zero_point, axis=0):
    q = schema().QuantizationParametersT()
    q.scale = [float(s) for s in np.atleast_1d(scale)]
    q.zeroPoint = [int(z) for z in np.atleast_1d(zero_point)]
    q.quantizedDimension = axis
    return q


def tiny_model(seed: int = 0):
    s = schema()
    rng = np.random.default_rng(seed)
    m = s.ModelT()
    m.version = 3
    m.description = "tiny"
    m.buffers = [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors = []

    def tensor(name, shape, dtype, quant=None, data=None):
        t = s.TensorT()
        t.name, t.shape, t.quantization = name, list(shape), quant
        t.type = {"int8": s.TensorType.INT8, "int32": s.TensorType.INT32}[dtype]
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype).tobytes(), np.uint8)
            m.buffers.append(buf)
            t.buffer = len(m.buffers) - 1
        sg.tensors.append(t)

    x_s, conv_s, dw_s, fc_s = 0.05, 0.08, 0.1, 0.2
    cw_s = rng.uniform(0.004, 0.01, 3)
    dw_ws = rng.uniform(0.004, 0.01, 6)
    tensor("input", [1, 6, 6, 2], "int8", _quant(x_s, 3))
    tensor("conv/filter", [3, 3, 3, 2], "int8", _quant(cw_s, [0] * 3, 0),
           rng.integers(-127, 128, (3, 3, 3, 2)))
    tensor("conv/bias", [3], "int32", _quant(x_s * cw_s, [0] * 3), rng.integers(-500, 500, 3))
    tensor("conv/out", [1, 6, 6, 3], "int8", _quant(conv_s, -5))
    tensor("dw/filter", [1, 3, 3, 6], "int8", _quant(dw_ws, [0] * 6, 3),
           rng.integers(-127, 128, (1, 3, 3, 6)))
    tensor("dw/bias", [6], "int32", _quant(conv_s * dw_ws, [0] * 6), rng.integers(-500, 500, 6))
    tensor("dw/out", [1, 4, 4, 6], "int8", _quant(dw_s, 2))
    tensor("pool/out", [1, 2, 2, 6], "int8", _quant(dw_s, 2))
    tensor("reshape/shape", [2], "int32", None, np.array([1, 24]))
    tensor("reshape/out", [1, 24], "int8", _quant(dw_s, 2))
    tensor("fc/weights", [10, 24], "int8", _quant(0.01, 0), rng.integers(-127, 128, (10, 24)))
    tensor("fc/bias", [10], "int32", _quant(dw_s * 0.01, 0), rng.integers(-500, 500, 10))
    tensor("fc/out", [1, 10], "int8", _quant(fc_s, -1))
    tensor("output", [1, 10], "int8", _quant(1 / 256, -128))

    codes = ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED",
             "SOFTMAX"]
    m.operatorCodes = []
    for name in codes:
        oc = s.OperatorCodeT()
        oc.builtinCode = getattr(s.BuiltinOperator, name)
        oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
        m.operatorCodes.append(oc)

    conv = s.Conv2DOptionsT()
    conv.padding, conv.strideH, conv.strideW = s.Padding.SAME, 1, 1
    dw = s.DepthwiseConv2DOptionsT()
    dw.padding, dw.strideH, dw.strideW, dw.depthMultiplier = s.Padding.VALID, 1, 1, 2
    pool = s.Pool2DOptionsT()
    pool.padding, pool.strideH, pool.strideW = s.Padding.VALID, 2, 2
    pool.filterHeight = pool.filterWidth = 2
    reshape = s.ReshapeOptionsT()
    reshape.newShape = [1, 24]
    fc = s.FullyConnectedOptionsT()
    softmax = s.SoftmaxOptionsT()
    softmax.beta = 1.0
    options = [(conv, "Conv2DOptions"), (dw, "DepthwiseConv2DOptions"), (pool, "Pool2DOptions"),
               (reshape, "ReshapeOptions"), (fc, "FullyConnectedOptions"),
               (softmax, "SoftmaxOptions")]
    wiring = [([T_IN, T_CONV_W, T_CONV_B], [T_CONV_OUT]),
              ([T_CONV_OUT, T_DW_W, T_DW_B], [T_DW_OUT]),
              ([T_DW_OUT], [T_POOL_OUT]),
              ([T_POOL_OUT, T_SHAPE], [T_RESHAPED]),
              ([T_RESHAPED, T_FC_W, T_FC_B], [T_FC_OUT]),
              ([T_FC_OUT], [T_OUT])]
    sg.operators = []
    for k, ((opts, kind), (ins, outs)) in enumerate(zip(options, wiring)):
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = k, list(ins), list(outs)
        op.builtinOptionsType, op.builtinOptions = getattr(s.BuiltinOptions, kind), opts
        sg.operators.append(op)
    sg.inputs, sg.outputs = [T_IN], [T_OUT]
    sg.name = "main"
    m.subgraphs = [sg]
    return m
