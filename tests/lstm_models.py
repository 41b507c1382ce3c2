"""UNIDIRECTIONAL_SEQUENCE_LSTM models written with the schema bindings (TensorFlow 2.21's
converter crashes on Keras LSTMs in int8 here), laid out as the converter lays out
trained_lstm_int8.tflite (24 inputs, hidden and cell state variable tensors, intermediates):
random float weights, scales from the ranges a float LSTM reaches on random sequences, so
gates and states spread over their ranges. The LSTM output is the graph output (the tensor
compared). `lstm_model(...)` returns the file bytes."""
from __future__ import annotations

import numpy as np

from tiny_models import _quant, schema, serialise


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def lstm_model(batches=1, steps=6, n_in=5, units=7, time_major=False, cell_power=12,
               cell_clip=0.0, seed=0) -> bytes:
    """cell_power: the cell state's scale is 2^-cell_power (TFLM's tanh scaling follows)."""
    s = schema()
    rng = np.random.default_rng(seed)
    m = s.ModelT()
    m.version, m.description, m.buffers = 3, "lstm", [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors = []
    types = {"int8": s.TensorType.INT8, "int16": s.TensorType.INT16,
             "int32": s.TensorType.INT32, "float32": s.TensorType.FLOAT32}

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

    # float LSTM on random sequences: the ranges the scales cover
    w_in = rng.normal(0, 1.2 / np.sqrt(n_in), (4, units, n_in))
    w_rec = rng.normal(0, 1.2 / np.sqrt(units), (4, units, units))
    bias = rng.normal(0, 0.3, (4, units))
    xs = rng.uniform(-2, 2, (64, steps, n_in))
    hmin = hmax = 0.0
    for seq in xs:
        h, c = np.zeros(units), np.zeros(units)
        for x in seq:
            z = w_in @ x + w_rec @ h + bias
            i, f, g, o = _sigmoid(z[0]), _sigmoid(z[1]), np.tanh(z[2]), _sigmoid(z[3])
            c = f * c + i * g
            h = o * np.tanh(c)
            hmin, hmax = min(hmin, h.min()), max(hmax, h.max())
    in_s = 2.0 / 127
    h_s = (hmax - hmin) / 255
    h_z = int(np.clip(round(-128 - hmin / h_s), -128, 127))
    shape_in = [steps, batches, n_in] if time_major else [batches, steps, n_in]
    shape_out = [steps, batches, units] if time_major else [batches, steps, units]
    x = tensor("input", shape_in, "int8", _quant(in_s, 0))
    ins = [x]
    for k in range(4):
        ws = np.abs(w_in[k]).max() / 127
        ins.append(tensor(f"input_weights{k}", [units, n_in], "int8", _quant(ws, 0),
                          np.round(w_in[k] / ws)))
    for k in range(4):
        ws = np.abs(w_rec[k]).max() / 127
        ins.append(tensor(f"recurrent_weights{k}", [units, units], "int8", _quant(ws, 0),
                          np.round(w_rec[k] / ws)))
    ins += [-1, -1, -1]
    for k in range(4):
        bs = in_s * float(sg.tensors[ins[1 + k]].quantization.scale[0])
        ins.append(tensor(f"bias{k}", [units], "int32", _quant(bs, 0), np.round(bias[k] / bs)))
    ins += [-1, -1]
    ins.append(tensor("hidden_state", [batches, units], "int8", _quant(h_s, h_z),
                      variable=True))
    ins.append(tensor("cell_state", [batches, units], "int16", _quant(2.0 ** -cell_power, 0),
                      variable=True))
    ins += [-1, -1, -1, -1]
    inter = [tensor(f"intermediate{k}", [0], "float32") for k in range(4)]
    inter.append(tensor("effective_hidden_scale_intermediate", [0], "int8", _quant(h_s, 0)))
    y = tensor("output", shape_out, "int8", _quant(h_s, h_z))
    oc = s.OperatorCodeT()
    oc.builtinCode = s.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
    m.operatorCodes = [oc]
    opts = s.UnidirectionalSequenceLSTMOptionsT()
    opts.fusedActivationFunction = s.ActivationFunctionType.TANH
    opts.cellClip, opts.timeMajor = cell_clip, time_major
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs, op.intermediates = 0, ins, [y], inter
    op.builtinOptionsType = s.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    op.builtinOptions = opts
    sg.operators = [op]
    sg.inputs, sg.outputs, sg.name = [x], [y], "main"
    m.subgraphs = [sg]
    return serialise(m)
