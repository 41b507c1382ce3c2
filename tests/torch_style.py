"""PyTorch-style TFLite models made from Keras-style ones, for the canonicalisation tests.

A PyTorch exporter writes what the TFLite converter folds away: an NCHW input read by a
TRANSPOSE to NHWC, and an explicit PAD before every convolution or pool that pads. `exported`
rewrites a TFLite flatbuffer (schema bindings, ModelT) into that form, op for op equivalent:
TFLM's SAME padding skips the taps a zero-point PAD makes contribute 0, and a max pool's skipped
taps are what a -128 PADV2 can never win against. So the rewritten model computes exactly what
the original does, and its arena after folding can be compared with the original's.
"""
from __future__ import annotations

import numpy as np

from modelgen import _model_t, _op_names, _pack, _schema

WINDOW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D")


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = (size + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _opcode(m, name: str) -> int:
    s = _schema()
    code = getattr(s.BuiltinOperator, name)
    for k, oc in enumerate(m.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
            return k
    oc = s.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = 1
    m.operatorCodes.append(oc)
    return len(m.operatorCodes) - 1


def _const(m, sg, name: str, data: np.ndarray, ttype: int, quant=None) -> int:
    s = _schema()
    buf = s.BufferT()
    buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
    m.buffers.append(buf)
    t = s.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), list(data.shape), ttype, len(m.buffers) - 1
    t.quantization = quant
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _activation(m, sg, like: int, name: str, shape) -> int:
    s = _schema()
    src = sg.tensors[like]
    t = s.TensorT()
    t.name, t.shape, t.type = name.encode(), list(shape), src.type
    q = s.QuantizationParametersT()
    q.scale = list(src.quantization.scale)
    q.zeroPoint = list(src.quantization.zeroPoint)
    t.quantization = q
    t.buffer = 0
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _op(m, name: str, inputs, outputs, options_type=0, options=None):
    s = _schema()
    op = s.OperatorT()
    op.opcodeIndex = _opcode(m, name)
    op.inputs, op.outputs = list(inputs), list(outputs)
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def exported(model_bytes: bytes, nchw: bool = True, pads: bool = True,
             padv2: bool = False) -> bytes:
    """The model as a PyTorch exporter writes it: `nchw`: its 4-D input becomes NCHW, read by
    a TRANSPOSE (0, 2, 3, 1); `pads`: every SAME-padded convolution and pool that pads is
    VALID after a PAD (PADV2 with the zero point as value when `padv2`; max pools always get
    a PADV2 with -128)."""
    s = _schema()
    m = _model_t(model_bytes)
    sg = m.subgraphs[0]
    names = _op_names()
    ops = []
    for op in sg.operators:
        oc = m.operatorCodes[op.opcodeIndex]
        kind = names[max(oc.builtinCode, oc.deprecatedBuiltinCode)]
        opt = op.builtinOptions
        if pads and kind in WINDOW_OPS and opt.padding == s.Padding.SAME:
            x = sg.tensors[op.inputs[0]]
            _, ih, iw, c = x.shape
            if kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
                kh, kw, dh, dw = opt.filterHeight, opt.filterWidth, 1, 1
            else:
                w = sg.tensors[op.inputs[1]].shape
                kh, kw = w[1], w[2]
                dh, dw = opt.dilationHFactor, opt.dilationWFactor
            (t, b), (l_, r) = (_same_pads(ih, kh, opt.strideH, dh),
                               _same_pads(iw, kw, opt.strideW, dw))
            if t + b + l_ + r and kind != "AVERAGE_POOL_2D":
                paddings = np.array([[0, 0], [t, b], [l_, r], [0, 0]], np.int32)
                pt = _const(m, sg, f"pads_{len(ops)}", paddings, s.TensorType.INT32)
                y = _activation(m, sg, op.inputs[0], f"padded_{len(ops)}",
                                (1, ih + t + b, iw + l_ + r, c))
                zp = int(x.quantization.zeroPoint[0])
                if kind == "MAX_POOL_2D" or padv2:
                    q = s.QuantizationParametersT()
                    q.scale, q.zeroPoint = list(x.quantization.scale), [zp]
                    value = -128 if kind == "MAX_POOL_2D" else zp
                    vt = _const(m, sg, f"pad_value_{len(ops)}", np.array([value], np.int8),
                                s.TensorType.INT8, q)
                    ops.append(_op(m, "PADV2", [op.inputs[0], pt, vt], [y],
                                   s.BuiltinOptions.PadV2Options, s.PadV2OptionsT()))
                else:
                    ops.append(_op(m, "PAD", [op.inputs[0], pt], [y],
                                   s.BuiltinOptions.PadOptions, s.PadOptionsT()))
                op.inputs = np.array([y] + list(op.inputs[1:]), np.int32)
                opt.padding = s.Padding.VALID
        ops.append(op)
    if nchw:
        k = int(sg.inputs[0])
        x = sg.tensors[k]
        n, h, w, c = x.shape
        nchw_in = _activation(m, sg, k, x.name.decode() + "_nchw", (n, c, h, w))
        perm = _const(m, sg, "nchw_to_nhwc", np.array([0, 2, 3, 1], np.int32),
                      s.TensorType.INT32)
        ops.insert(0, _op(m, "TRANSPOSE", [nchw_in, perm], [k],
                          s.BuiltinOptions.TransposeOptions, s.TransposeOptionsT()))
        sg.inputs = np.array([nchw_in] + [int(i) for i in sg.inputs[1:]], np.int32)
        for sd in m.signatureDefs or []:
            for e in sd.inputs or []:
                if e.tensorIndex == k:
                    e.tensorIndex = nchw_in
    sg.operators = ops
    return _pack(m)


def padded_op(in_shape=(1, 3, 16, 16), pads=(1, 1, 1, 1), kind="conv", stride=2, k=3,
              value=0.0, readers=1, channel_pad=0, nchw=True, seed=0) -> bytes:
    """One PyTorch-style windowed op through the TFLite converter: [TRANSPOSE NCHW -> NHWC]
    -> PAD (top, left, bottom, right; PADV2 when `value` is not 0) -> `kind` ("conv",
    "depthwise", "max_pool", "avg_pool") k x k VALID with `stride`; `readers` 2: the padded
    tensor also feeds a 1x1 conv whose output is added; `channel_pad`: channels padded too.
    Pads matching SAME are folded by the converter itself: tests pick others."""
    import modelgen
    tf = modelgen._tf()
    rng = np.random.default_rng(seed)
    c = in_shape[1] if nchw else in_shape[3]
    cp = c + channel_pad
    w = rng.normal(0, 0.5, (k, k, cp, 6)).astype(np.float32)
    wd = rng.normal(0, 0.5, (k, k, cp, 1)).astype(np.float32)
    w1 = rng.normal(0, 0.5, (1, 1, cp, 6 if kind == "conv" else cp)).astype(np.float32)
    t, l_, b, r = pads

    def f(x):
        if nchw:
            x = tf.transpose(x, (0, 2, 3, 1))
        y = tf.pad(x, [[0, 0], [t, b], [l_, r], [0, channel_pad]], constant_values=value)
        if kind == "conv":
            z = tf.nn.conv2d(y, w, stride, "VALID")
        elif kind == "depthwise":
            z = tf.nn.depthwise_conv2d(y, wd, (1, stride, stride, 1), "VALID")
        elif kind == "max_pool":
            z = tf.nn.max_pool2d(y, k, stride, "VALID")
        else:
            z = tf.nn.avg_pool2d(y, k, stride, "VALID")
        if readers == 2:
            z = z + tf.nn.conv2d(y, w1, stride, "VALID")[:, :z.shape[1], :z.shape[2], :]
        return z

    return modelgen.convert_fn(f, [in_shape], seed=seed)
