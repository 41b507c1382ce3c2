"""TFLite flatbuffer -> IR.

Reads the file with the flatbuffer schema bindings shipped in the tflite-micro package (not an
interpreter), checks every index and size against the file before using it, and lowers the
first subgraph to an ir.Graph. What the compiler cannot run (float/uint8/int16 activations,
ops without a kernel) is rejected here with the op index and tensor name. An op without a
kernel is named before any check of the graph: other ops' fields, and the tensors it alone
reads (an LSTM's variable state, a Vela op's scratch), mean nothing until it runs.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import McucError
from ..escape import shown
from ..ir import Graph, Op, Quant, Tensor, validate, verify
from ..ir.graph import MAX_RANK, MAX_TENSOR_ELEMENTS
from .ops import (ALIAS_OPS, INDEX_OPS, OPTIONAL_OPTIONS, OPTIONS, SUPPORTED_OPS,
                  WIDE_DTYPES, unsupported_reason)

_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
           6: "bool", 7: "int16", 9: "int8", 10: "float64", 15: "uint32", 16: "uint16",
           17: "int4"}


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    return schema


def _op_names() -> dict[int, str]:
    ops = _schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


def load_tflite(path: str | Path, keep_unsupported: bool = False) -> Graph:
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise McucError(f"cannot read model: {e.strerror}", str(path)) from None
    return parse_tflite(buf, str(path), keep_unsupported)


def parse_tflite(buf: bytes, where: str = "<model>", keep_unsupported: bool = False) -> Graph:
    """The checked graph of a model file. keep_unsupported: a model with ops that have no
    kernel here comes back unchecked, for `info` to list (see op_problem), instead of being
    refused."""
    if len(buf) < 16:
        raise McucError(f"file is too short to be a TFLite model ({len(buf)} bytes)", where)
    if buf[4:8] != b"TFL3":
        raise McucError(f"not a TFLite flatbuffer (file identifier is {bytes(buf[4:8])!r}, "
                        f"expected b'TFL3')", where)
    root = int.from_bytes(buf[0:4], "little")
    if root + 4 > len(buf):
        raise McucError("malformed TFLite file: root table offset points past the end "
                        "(truncated file?)", where)
    try:
        model = _schema().ModelT.InitFromPackedBuf(bytearray(buf), 0)
    except Exception as e:  # the bindings raise whatever a bad offset trips over
        raise McucError(f"malformed TFLite file (truncated or corrupt): {type(e).__name__}: {e}",
                        where) from None
    try:
        return _lower(model, buf, where, keep_unsupported)
    except McucError:
        raise
    except Exception as e:  # inconsistent fields in a file that still parsed
        raise McucError(f"malformed TFLite file: {type(e).__name__}: {e}", where) from None


def _check_index(i: int, n: int, what: str, where: str) -> int:
    if not (-1 <= i < n):
        raise McucError(f"{what} index {i} out of range (0..{n - 1})", where)
    return i


def _buffer_data(model, buf: bytes, index: int, where: str) -> bytes | None:
    buffers = model.buffers or []
    _check_index(index, max(len(buffers), 1), "buffer", where)
    if index <= 0 or index >= len(buffers):
        return None
    b = buffers[index]
    if b.data is not None and len(b.data) > 0:
        return np.asarray(b.data, dtype=np.uint8).tobytes()
    if b.offset > 1 or b.size:
        # the layout of models over 2 GB (data after the flatbuffer): TFLM reads buffers'
        # inline data only, and a device model is never that large
        raise McucError(f"buffer {index} is stored outside the flatbuffer (offset {b.offset}, "
                        f"size {b.size}): the large-model layout is not supported", where)
    return None


def _quant(tq, t_where: str, shape: tuple) -> Quant | None:
    if tq is None or tq.scale is None or len(tq.scale) == 0:
        return None
    scale = np.asarray(tq.scale, dtype=np.float32)
    if tq.zeroPoint is None or len(tq.zeroPoint) not in (1, len(scale)):
        # TFLM reads a zero point per scale (it aborts without one)
        n = 0 if tq.zeroPoint is None else len(tq.zeroPoint)
        raise McucError(f"quantization has {len(scale)} scale(s) but {n} zero point(s)",
                        t_where)
    zp = np.asarray(tq.zeroPoint, dtype=np.int64)
    if len(zp) == 1 and len(scale) > 1:
        zp = np.repeat(zp, len(scale))
    axis = int(tq.quantizedDimension or 0)
    if len(scale) == 1:
        axis = 0  # one scale is per-tensor whatever quantized_dimension says
    elif len(shape) == 1 and shape[0] == len(scale):
        axis = 0  # bias vectors: converters leave the filter's dimension here
    elif not (0 <= axis < len(shape)) or shape[axis] != len(scale):
        raise McucError(f"per-channel quantization has {len(scale)} scales but dimension "
                        f"{axis} of shape {list(shape)} does not match", t_where)
    return Quant(scale=scale, zero_point=zp, axis=axis)


def _lower(model, buf: bytes, where: str, keep_unsupported: bool) -> Graph:
    if not model.subgraphs:
        raise McucError("model has no subgraphs", where)
    if len(model.subgraphs) > 1:
        raise McucError(f"model has {len(model.subgraphs)} subgraphs; control flow "
                        "(WHILE/IF/CALL_ONCE) is not supported", where)
    sg = model.subgraphs[0]
    names = _op_names()
    opcodes = model.operatorCodes or []

    tensors: list[Tensor] = []
    for i, tt in enumerate(sg.tensors or []):
        name = (tt.name.decode(errors="replace") if isinstance(tt.name, bytes) else tt.name) \
            or f"tensor_{i}"
        t_where = f"{where}: tensor {i} {shown(name)}"
        raw_shape = [] if tt.shape is None else [int(d) for d in tt.shape]
        if len(raw_shape) > MAX_RANK:
            raise McucError(f"rank {len(raw_shape)} is more than {MAX_RANK}", t_where)
        if any(d < 0 for d in raw_shape):
            raise McucError(f"dynamic or negative shape {raw_shape}", t_where)
        if float(np.prod(raw_shape, dtype=np.float64)) > MAX_TENSOR_ELEMENTS:
            raise McucError(f"absurd shape {raw_shape}", t_where)
        shape = tuple(raw_shape)
        dtype = _DTYPES.get(tt.type)
        if dtype is None:
            raise McucError(f"unknown tensor type code {tt.type}", t_where)
        data = _buffer_data(model, buf, tt.buffer, t_where)
        arr = None
        if data is not None:
            itemsize = np.dtype(dtype).itemsize if dtype not in ("string", "int4") else 1
            expected = int(np.prod(shape, dtype=np.int64)) * itemsize
            if dtype == "int4":
                raise McucError("int4 (packed) weights are not supported", t_where)
            if len(data) != expected:
                raise McucError(f"constant data is {len(data)} bytes, shape {list(shape)} of "
                                f"{dtype} needs {expected}", t_where)
            arr = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        tensors.append(Tensor(name=name, shape=shape, dtype=dtype,
                              quant=_quant(tt.quantization, t_where, shape), data=arr, index=i,
                              variable=bool(tt.isVariable)))

    def tensor_at(i: int, what: str) -> Tensor | None:
        _check_index(i, len(tensors), what, where)
        return None if i < 0 else tensors[i]

    ops: list[Op] = []
    for k, to in enumerate(sg.operators or []):
        _check_index(to.opcodeIndex, len(opcodes), f"op {k} opcode", where)
        oc = opcodes[to.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        op_type = names.get(code, f"builtin_{code}")
        custom = None
        if op_type == "CUSTOM":
            custom = oc.customCode.decode(errors="replace") if isinstance(oc.customCode, bytes) else oc.customCode
        inputs = [tensor_at(int(i), f"op {k} input") for i in (to.inputs if to.inputs is not None else [])]
        outputs = [tensor_at(int(i), f"op {k} output") for i in (to.outputs if to.outputs is not None else [])]
        if any(o is None for o in outputs):
            raise McucError(f"op {k} ({op_type}) has an omitted output", where)
        _check_options(to, op_type, f"{where}: op {k} ({shown(op_type)})")
        if to.intermediates is not None and len(to.intermediates) and op_type in SUPPORTED_OPS \
                and op_type != "UNIDIRECTIONAL_SEQUENCE_LSTM":   # (TFLM's LSTM ignores them)
            raise McucError("intermediate tensors on an op that has none (LSTM ops only)",
                            f"{where}: op {k} ({shown(op_type)})")
        attrs = dict(vars(to.builtinOptions)) if to.builtinOptions is not None else {}
        if custom is not None:
            attrs = dict(custom_code=custom or "")
        ops.append(Op(type=op_type, inputs=inputs, outputs=outputs, attrs=attrs, index=k))

    g_inputs = [tensor_at(int(i), "graph input") for i in (sg.inputs if sg.inputs is not None else [])]
    g_outputs = [tensor_at(int(i), "graph output") for i in (sg.outputs if sg.outputs is not None else [])]
    graph = Graph(name=Path(where).stem, tensors=tensors, ops=ops,
                  inputs=[t for t in g_inputs if t is not None],
                  outputs=[t for t in g_outputs if t is not None], source=where)
    problems = {op.index: op_problem(op) for op in graph.ops}
    if keep_unsupported and any(problems.values()):
        graph.unsupported = {k: why for k, why in problems.items() if why}
        return graph
    check_ops(graph)
    verify(graph)
    check_supported(graph)
    validate(graph)
    return graph


def op_problem(op: Op) -> str | None:
    """Why this op has no kernel here (None: it has one)."""
    return unsupported_reason(op.type, op.attrs.get("custom_code"))


def check_ops(graph: Graph) -> None:
    """The first op without a kernel, as one line: "file: op 1: CUMSUM is not supported"."""
    for op in graph.ops:
        problem = op_problem(op)
        if problem:
            raise McucError(problem, f"{graph.source or graph.name}: op {op.index}",
                            hint="`mcucompile info MODEL` lists every op with its status")


@functools.lru_cache(maxsize=None)
def _options_names() -> dict[int, str]:
    opts = _schema().BuiltinOptions
    return {v: k for k, v in vars(opts).items() if not k.startswith("_") and isinstance(v, int)}


def _check_options(to, op_type: str, where: str) -> None:
    """The op's builtin options table is the one it reads (OPTIONS), or absent where that
    table has no fields; custom options only on custom ops."""
    if op_type not in SUPPORTED_OPS:
        return                  # refused by check_supported, by name
    want = OPTIONS.get(op_type)
    have = _options_names().get(int(to.builtinOptionsType or 0), "NONE")
    if to.builtinOptions is None:
        have = "NONE"
    if want is None:
        if have != "NONE":
            raise McucError(f"builtin options {have} given to an op that takes none", where)
    elif have == "NONE":
        if op_type not in OPTIONAL_OPTIONS and vars(getattr(_schema(), want + "T")()):
            raise McucError(f"builtin options missing (expected {want})", where)
    elif have != want:
        raise McucError(f"builtin options are {have}, expected {want}", where)
    if to.customOptions is not None and len(to.customOptions):
        raise McucError("custom options on a builtin op", where)
    bias_type = getattr(to.builtinOptions, "quantizedBiasType", 0)
    if bias_type not in _DTYPES:      # TFLM refuses the model ("unsupported data type")
        raise McucError(f"quantized_bias_type {bias_type} is not a tensor type", where)


def _index_tensors(graph: Graph) -> set[int]:
    """ids of the INDEX_OPS outputs (and of their reshapes); validate.py checks that they
    are int32."""
    found: set[int] = set()
    for op in graph.ops:
        if op.type in INDEX_OPS or (op.type in ALIAS_OPS and op.inputs
                                    and op.inputs[0] is not None and id(op.inputs[0]) in found):
            found.update(id(t) for t in op.outputs)
    return found


def _float_edges(graph: Graph) -> set[int]:
    """ids of the float32 graph inputs read only by QUANTIZE ops and of the float32 graph
    outputs written by DEQUANTIZE: a model converted without inference_input_type /
    inference_output_type (its int8 body between them)."""
    outputs = {id(t) for t in graph.outputs}
    found = set()
    for t in graph.inputs:
        readers = graph.consumers(t)
        if t.dtype == "float32" and readers and id(t) not in outputs \
                and all(op.type == "QUANTIZE" for op in readers):
            found.add(id(t))
    for op in graph.ops:
        if op.type == "DEQUANTIZE" and op.outputs[0].dtype == "float32" \
                and id(op.outputs[0]) in outputs:
            found.add(id(op.outputs[0]))
    return found


def check_supported(graph: Graph) -> None:
    """Reject tensors the runtime cannot execute (after check_ops), naming the op and
    tensor."""
    where = graph.source or graph.name
    indices = _index_tensors(graph)
    edges = _float_edges(graph)
    io_dtypes = {"int8"} | {d for ins, outs in WIDE_DTYPES.values() for d in ins + outs}
    for t in graph.inputs + graph.outputs:
        if t.dtype not in io_dtypes and id(t) not in indices | edges:
            kind = "float" if t.dtype.startswith("float") else t.dtype
            raise McucError(
                f"graph {'input' if t in graph.inputs else 'output'} {shown(t.name)} is {t.dtype}; "
                f"only full-INT8 models are supported ({kind} activations found)", where,
                hint="convert with inference_input_type=tf.int8 and inference_output_type=tf.int8"
                     " and a representative dataset")
    for op in graph.ops:
        wide_in, wide_out = WIDE_DTYPES.get(op.type, ((), ()))
        for t in op.inputs + op.outputs:
            if t is None or t.is_const:
                continue
            if id(t) in edges:
                continue
            if op.type in ("QUANTIZE", "DEQUANTIZE") and t.dtype == "float32":
                raise McucError(f"tensor {shown(t.name)} is float32: float tensors inside the "
                                "model are not supported (only a float32 graph input read "
                                "by QUANTIZE, and a float32 graph output written by "
                                "DEQUANTIZE)", f"{where}: {op.where}")
            if id(t) in indices:
                if op.type not in INDEX_OPS | ALIAS_OPS:
                    raise McucError(f"tensor {shown(t.name)} holds int32 indices (an ARG_MAX / "
                                    f"ARG_MIN output): only a graph output may take them, "
                                    f"not {op.type}", f"{where}: {op.where}")
                continue
            if t.dtype != "int8" and t.dtype not in (wide_out if t in op.outputs else wide_in):
                raise McucError(f"tensor {shown(t.name)} is {t.dtype}: only int8 activations are "
                                "supported (float/uint8/int16 models must be quantized to full "
                                "INT8)", f"{where}: {op.where}")
            if t.quant is None:
                raise McucError(f"int8 tensor {shown(t.name)} has no quantization parameters",
                                f"{where}: {op.where}")
