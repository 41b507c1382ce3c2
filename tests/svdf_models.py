"""SVDF models written with the schema bindings (TensorFlow's converter makes none), with
weights and scales that look trained rather than scrambled: float weights drawn at random,
then every scale set from the range its tensor takes when a float SVDF runs a few random
steps (so activations spread over their int8 / int16 range instead of saturating).

    input [batches, n_in] int16 (or int8) -> QUANTIZE -> int8
    -> SVDF layers (rank, units, memory; state int8 or int16, a variable tensor each)
    -> FULLY_CONNECTED -> SOFTMAX (int8; or int16 and a QUANTIZE to int32, `softmax16`, as
    TFLM's keyword model ends)
Every SVDF output is a graph output too, so tests compare the intermediate tensors.
`svdf_model(layers=[(rank, units, memory, state_dtype), ...])` returns the file bytes.
"""
from __future__ import annotations

import numpy as np

from tiny_models import _quant, schema, serialise


def _float_svdf(x_steps, wf, wt, bias, rank):
    """Float SVDF over a sequence [steps, batches, n_in]: the outputs (before activation)
    and the feature activations, [steps, batches, units] and [steps, batches, filters]."""
    filters, memory = wt.shape
    batches = x_steps.shape[1]
    state = np.zeros((batches, filters, memory))
    outs, feats = [], []
    for x in x_steps:
        state = np.roll(state, -1, axis=2)
        state[:, :, -1] = x @ wf.T
        feats.append(state[:, :, -1].copy())
        t = (state * wt[None]).sum(axis=2)                       # [batches, filters]
        outs.append(t.reshape(batches, filters // rank, rank).sum(axis=2) + bias)
    return np.array(outs), np.array(feats)


def svdf_model(layers=((1, 8, 4, "int8"),), n_in=12, batches=1, input_dtype="int16",
               classes=3, seed=0, softmax16=False) -> bytes:
    s = schema()
    rng = np.random.default_rng(seed)
    m = s.ModelT()
    m.version, m.description, m.buffers = 3, "svdf", [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors, sg.operators, m.operatorCodes = [], [], []
    codes: dict[str, int] = {}
    types = {"int8": s.TensorType.INT8, "int16": s.TensorType.INT16,
             "int32": s.TensorType.INT32}

    def tensor(name, shape, dtype, quant=None, data=None, variable=False) -> int:
        t = s.TensorT()
        t.name, t.shape, t.quantization, t.type = name, list(shape), quant, types[dtype]
        t.isVariable = variable
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype).tobytes(), np.uint8)
            m.buffers.append(buf)
            t.buffer = len(m.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    def op(name, ins, outs, options=None, kind=None):
        if name not in codes:
            oc = s.OperatorCodeT()
            oc.builtinCode = getattr(s.BuiltinOperator, name)
            oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
            codes[name] = len(m.operatorCodes)
            m.operatorCodes.append(oc)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = codes[name], list(ins), list(outs)
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = getattr(s.BuiltinOptions, kind), options
        sg.operators.append(o)

    def asym(lo, hi, bits=8):
        """(scale, zero point) of int8 covering [lo, hi] (int16: symmetric, zero point 0)."""
        if bits == 16:
            return max(abs(lo), abs(hi)) / 32767, 0
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = (hi - lo) / 255
        return scale, int(np.clip(round(-128 - lo / scale), -128, 127))

    steps = 8
    x_range = 4.0
    xs = rng.uniform(-x_range, x_range, (steps, batches, n_in))
    in_bits = 16 if input_dtype == "int16" else 8
    in_s = x_range / (32767 if in_bits == 16 else 127)
    x_in = tensor("input", [batches, n_in], input_dtype, _quant(in_s, 0))
    q_s, q_z = asym(-x_range, x_range)
    x = tensor("input/int8", [batches, n_in], "int8", _quant(q_s, q_z))
    op("QUANTIZE", [x_in], [x])
    outputs = []
    for k, (rank, units, memory, st_dtype) in enumerate(layers):
        filters = units * rank
        n = xs.shape[2]
        wf = rng.normal(0, 1 / np.sqrt(n), (filters, n))
        wt = rng.normal(0, 1 / np.sqrt(memory), (filters, memory))
        bias = rng.normal(0, 0.1, units)
        out_f, feat_f = _float_svdf(xs, wf, wt, bias, rank)
        st_bits = 16 if st_dtype == "int16" else 8
        wf_s = np.abs(wf).max() / 127
        wt_s = np.abs(wt).max() / (32767 if st_bits == 16 else 127)
        st_s, st_z = asym(feat_f.min(), feat_f.max(), st_bits)
        out_s, out_z = asym(out_f.min(), out_f.max())
        b_s = float(np.float32(st_s) * np.float32(wt_s))
        wt_q = np.clip(np.round(wt / wt_s), -32767 if st_bits == 16 else -127,
                       32767 if st_bits == 16 else 127)
        t_wf = tensor(f"svdf{k}/weights_feature", [filters, n], "int8", _quant(wf_s, 0),
                      np.clip(np.round(wf / wf_s), -127, 127))
        t_wt = tensor(f"svdf{k}/weights_time", [filters, memory], st_dtype, _quant(wt_s, 0),
                      wt_q)
        t_b = tensor(f"svdf{k}/bias", [units], "int32", _quant(b_s, 0), np.round(bias / b_s))
        t_st = tensor(f"svdf{k}/state", [batches, filters * memory], st_dtype,
                      _quant(st_s, st_z), variable=True)
        y = tensor(f"svdf{k}/output", [batches, units], "int8", _quant(out_s, out_z))
        opts = s.SVDFOptionsT()
        opts.rank, opts.fusedActivationFunction = rank, s.ActivationFunctionType.RELU
        op("SVDF", [x, t_wf, t_wt, t_b, t_st], [y], opts, "SVDFOptions")
        outputs.append(y)
        x, xs = y, np.maximum(out_f, 0)       # the next layer sees this one's (relu) outputs
    units = layers[-1][1]
    w = rng.normal(0, 1 / np.sqrt(units), (classes, units))
    logits = xs @ w.T
    w_s = np.abs(w).max() / 127
    prev_s = float(sg.tensors[x].quantization.scale[0])
    l_s, l_z = asym(logits.min(), logits.max())
    t_w = tensor("fc/weights", [classes, units], "int8", _quant(w_s, 0),
                 np.clip(np.round(w / w_s), -127, 127))
    t_fb = tensor("fc/bias", [classes], "int32", _quant(prev_s * w_s, 0), np.zeros(classes))
    t_l = tensor("fc/output", [batches, classes], "int8", _quant(l_s, l_z))
    op("FULLY_CONNECTED", [x, t_w, t_fb], [t_l], s.FullyConnectedOptionsT(),
       "FullyConnectedOptions")
    sm = s.SoftmaxOptionsT()
    sm.beta = 1.0
    if softmax16:
        t_16 = tensor("probabilities/int16", [batches, classes], "int16",
                      _quant(1 / 65536, -32768))
        op("SOFTMAX", [t_l], [t_16], sm, "SoftmaxOptions")
        t_p = tensor("probabilities", [batches, classes], "int32", _quant(1 / 32768, 0))
        op("QUANTIZE", [t_16], [t_p])
    else:
        t_p = tensor("probabilities", [batches, classes], "int8", _quant(1 / 256, -128))
        op("SOFTMAX", [t_l], [t_p], sm, "SoftmaxOptions")
    sg.inputs, sg.outputs, sg.name = [x_in], [t_p] + outputs, "main"
    m.subgraphs = [sg]
    return serialise(m)
