"""ONNX (INT8, quantized by onnxruntime) -> IR.

Accepts the two forms `onnxruntime.quantization.quantize_static` writes with int8 activations
and int8 weights (per-tensor or per-channel):

  * QDQ: float ops between DequantizeLinear / QuantizeLinear pairs. Each group
    DQ(inputs) -> op -> Q(output) becomes one int8 op, with the Q node's scale and zero point
    on its output and the weights taken from the int8 initializers the DQ nodes read;
  * QOperator: QLinearConv, QLinearMatMul, QGemm, QLinearAdd, QLinearMul,
    QLinearAveragePool, QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid,
    QLinearLeakyRelu, plus the ops that run on int8 directly (MaxPool, Reshape, Transpose ...).

Model inputs and outputs. The compiled model's I/O is int8: the output of the QuantizeLinear
that reads a float graph input, and the input of the DequantizeLinear that writes a float graph
output (`int8_core` cuts those nodes off; reference.py runs onnxruntime on the same cut model).
A symbolic batch dimension is taken as 1.

Layout. ONNX is NCHW, the runtime NHWC. The conversion happens here, at compile time: every
tensor carries a permutation from its ONNX (logical) shape to the shape stored in memory;
4-D feature maps are stored NHWC, conv filters are transposed to [oc, kh, kw, ic] (depthwise
[1, kh, kw, oc]), Gemm/MatMul weights to [out, in], constant operands of Add/Mul are
broadcast-shaped and permuted, Concat axes remapped. A Transpose node in the model only
changes the permutation (no copy); a copy (TRANSPOSE op) is emitted only where an op needs a
layout the data is not in (e.g. Flatten of a feature map with H*W > 1: NCHW order is kept).
Graph inputs are defined as ONNX has them, so an NCHW image read by convolutions gets a
TRANSPOSE copy to NHWC, which passes/canonicalize.py folds into the input like a TFLite
model's: **a 4-D NCHW model input is NHWC in the firmware** (Graph.input_perms; the host-side
code transposes the NCHW vector before sending it: reference.py does) unless the user keeps
the layout (--keep-input-layout). A 4-D NCHW output comes back NHWC; other ranks, and 4-D
outputs the model already has NHWC (written by Transpose(0,2,3,1), as TF-exported models
are), are unchanged (`nhwc_outputs`).

Arithmetic. Every op is checked against onnxruntime on the CPU (the reference), which
requantises in float32: the ops get attrs["requant"] = "float" and passes/lower_onnx.py emits
kernels that do onnxruntime's float operations in its order (bit-exact on any core; on cores
with an FPU they use it). Unary int8 -> int8 ops (Sigmoid, Relu, Clip, LeakyRelu, Tanh,
HardSwish, HardSigmoid, requantising Concat inputs or Q(DQ(x)) pairs) become a 256-entry
table that this module fills by running onnxruntime itself on all 256 inputs of a one-node
model with the same parameters.
The reference session uses session.qdqisint8allowed=1 (onnxruntime's default on Arm CPUs), so
QDQ groups run as the same QLinear kernels as the QOperator form. MaxPool, Reshape/Flatten/
Squeeze/Unsqueeze, Transpose and Concat of equal quantization move int8 values only.

Measured exactness (tests/test_onnx.py, onnxruntime 1.32 on x86-64 with AVX2/AVX512-VNNI):
bit-exact with the reference on every tested op (41 cases x 2 forms, per-channel and
per-tensor weights, standalone activations) and on the ResNet- and MobileNetV2-style models,
on the host and on mps2-an386 (Cortex-M4F); no inexact op is known. The float constants
follow MLAS's x86 (AVX2) kernels, e.g. QLinearAdd's fused multiply-adds; on an Arm host
onnxruntime's NEON QLinearAdd is fixed-point, so a reference run there may differ.

Outside the reference configuration: onnxruntime's default x86 session options
(qdqisint8allowed=0) run S8S8 QDQ groups (Conv, AveragePool, ...) as DequantizeLinear ->
float op -> QuantizeLinear instead, whose float sums depend on the CPU's MLAS kernels (not
reproducible on a Cortex-M). test_onnxruntime_default_options_measured, 400 random vectors:
QDQ AveragePool 2x2 1,174 of 25,600 outputs differ by 1 LSB, depthwise (multiplier 2) 2 of
259,200, MobileNetV2-style 2 of 4,000, ResNet-style 0 of 4,000; QOperator models 0 (they are
QLinear kernels under either setting). Never more than 1 LSB.

Error messages name nodes by their index in the model file (0-based, graph.node order),
their name and op type; graph inputs keep the model's names (the float input a cut-off
QuantizeLinear read).

Not supported (a McucError names the node index, name and op type): grouped (non-depthwise)
convolution, 1-D/3-D conv and pooling, ceil_mode, dilated pooling, uint8 or int16 activations,
asymmetric (non-zero zero point) conv weights, float ops outside DequantizeLinear/
QuantizeLinear pairs, float-only models (pass --calibrate), and every op not listed above
(Softmax/QLinearSoftmax, Resize, Split, Slice, ConvTranspose, ...), Pad other than constant
mode with non-negative pads and the same quantization on both sides.

Padding. Explicit `pads` of Conv and MaxPool that are not SAME become a PADV2 op before the
VALID op (the input zero point, or -128 for MaxPool), and a Pad node becomes a PADV2 too:
a faithful translation; passes/canonicalize.py then folds each PADV2 into the op that reads
it where the result is provably the same, so no copy is left.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import McucError
from ..escape import shown
from ..ir import Graph, Op, Quant, Tensor, validate, verify
from ..ir.validate import at_least_one

NHWC = (0, 2, 3, 1)
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
Q_OPS = ("QuantizeLinear", "DequantizeLinear")
# QDQ float op -> (IR op type, how it is lowered)
UNARY_LUT_OPS = {"Sigmoid": "LOGISTIC", "Relu": "RELU", "Clip": "RELU6", "LeakyRelu": "LEAKY_RELU",
                 "Tanh": "TANH", "HardSigmoid": "HARD_SIGMOID", "HardSwish": "HARD_SWISH",
                 "QLinearSigmoid": "LOGISTIC", "QLinearLeakyRelu": "LEAKY_RELU"}
MOVE_OPS = ("MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")
# The attributes of the com.microsoft (onnxruntime contrib) ops read here, which the onnx
# package has no schemas for; each has one output.
CONTRIB_ATTRIBUTES = {
    "QLinearAdd": (), "QLinearMul": (), "QLinearSigmoid": (), "QLinearLeakyRelu": ("alpha",),
    "QLinearAveragePool": ("auto_pad", "ceil_mode", "channels_last", "count_include_pad",
                           "kernel_shape", "pads", "strides"),
    "QLinearGlobalAveragePool": ("channels_last",), "QLinearConcat": ("axis",),
    "QGemm": ("alpha", "transA", "transB"),
}
SUPPORTED = sorted({"Conv", "Gemm", "MatMul", "Add", "Mul", "AveragePool", "GlobalAveragePool",
                    "Concat", "Pad", "QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul",
                    "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat",
                    "QuantizeLinear", "DequantizeLinear", *UNARY_LUT_OPS, *MOVE_OPS})


def load_onnx(path: str | Path) -> Graph:
    import onnx
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as e:
        raise McucError(f"cannot read ONNX model: {type(e).__name__}: {e}", str(path)) from None
    return parse_onnx(model, str(path))


def is_float_model(model) -> bool:
    """No quantization nodes at all: a float model (needs --calibrate)."""
    return not any(n.op_type in Q_OPS or n.op_type.startswith("QLinear") or n.op_type == "QGemm"
                   for n in model.graph.node)


# The versions this frontend reads (and tests): the default domain's opsets from QLinearConv's
# (10) to 21 and IR versions 3 to 10; a model outside is refused rather than half understood.
OPSETS = range(10, 22)
IR_VERSIONS = range(3, 11)


def check_versions(model, where: str) -> None:
    if model.ir_version not in IR_VERSIONS:
        raise McucError(f"ONNX IR version {model.ir_version} is not one mcucompile reads "
                        f"({IR_VERSIONS.start} to {IR_VERSIONS.stop - 1})", where)
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        raise McucError("the model imports no default-domain opset", where)
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and o.version not in OPSETS:
            raise McucError(f"ONNX opset {o.version} is not one mcucompile reads "
                            f"({OPSETS.start} to {OPSETS.stop - 1})", where)


def parse_onnx(model, where: str = "<model>") -> Graph:
    check_versions(model, where)
    if len(model.graph.sparse_initializer):
        raise McucError("sparse initializers are not supported", where)
    _check_single_writers(model.graph, where)
    if is_float_model(model):
        raise McucError("this is a float ONNX model (no QuantizeLinear/DequantizeLinear or "
                        "QLinear* nodes): it must be quantized to INT8 first", where,
                        hint="pass --calibrate SAMPLES.npy (a few representative inputs) and "
                             "mcucompile quantizes it with onnxruntime")
    try:   # inconsistent fields (an unknown element type, a missing attribute ...)
        return _Converter(int8_core(model, where), where).run()
    except McucError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise McucError(f"malformed ONNX model: {type(e).__name__}: {e}", where) from None


def _check_single_writers(g, where: str) -> None:
    """Every tensor name has one writer: a graph input, an initializer or one node output
    (onnxruntime refuses the model otherwise)."""
    written = {vi.name for vi in g.input} | {t.name for t in g.initializer}
    for i, node in enumerate(g.node):
        for name in node.output:
            if not name:
                continue                     # an omitted optional output
            if name in written:
                raise McucError(f"node {i} ({shown(node.op_type)}) writes tensor {shown(name)}, "
                                f"which a graph input, an initializer or another node "
                                f"already writes", where)
            written.add(name)


# ------------------------------------------------------------------ the int8 core

def _static_shape(vi, where: str) -> list[int]:
    dims = []
    for k, d in enumerate(vi.type.tensor_type.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif k == 0:
            dims.append(1)          # symbolic batch: 1
        else:
            raise McucError(f"graph input/output {shown(vi.name)} has a dynamic dimension {k}",
                            where)
    return dims


def int8_core(model, where: str = "<model>"):
    """A copy of the model whose inputs are the int8 outputs of the QuantizeLinear nodes that
    read the float inputs, and whose outputs are the int8 inputs of the DequantizeLinear nodes
    that write the float outputs; symbolic batch dimensions set to 1."""
    import onnx
    from onnx import TensorProto, helper
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {i.name for i in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    drop = set()
    new_inputs = []
    for vi in g.input:
        if vi.name in inits:
            continue
        shape = _static_shape(vi, where)
        elem = vi.type.tensor_type.elem_type
        users = consumers.get(vi.name, [])
        if elem == TensorProto.FLOAT:
            # float layout ops before the QuantizeLinear (x -> Transpose -> Q) commute with
            # quantization: run them on the int8 values instead
            chain = []
            while len(users) == 1 and users[0].op_type in MOVE_OPS[1:]:
                chain.append(users[0])
                users = consumers.get(users[0].output[0], [])
            qs = [n for n in users if n.op_type == "QuantizeLinear"]
            if len(qs) != 1 or len(users) != 1:
                raise McucError(f"float graph input {shown(vi.name)} must feed exactly one "
                                "QuantizeLinear (it feeds "
                                f"{', '.join(shown(n.op_type) for n in users) or 'nothing'})", where)
            q = qs[0]
            core_name = q.output[0] + "_input" if chain else q.output[0]
            _record_input_quant(m, g, q, core_name, where)
            m.metadata_props.add(key=INPUT_NAME_KEY + core_name, value=vi.name)
            if chain:
                chain[0].input[0] = q.output[0] + "_input"
                chain[-1].output[0] = q.output[0]
                new_inputs.append(helper.make_tensor_value_info(chain[0].input[0],
                                                                TensorProto.INT8, shape))
                drop.add(id(q))
                continue
            zp_elem = _zp_type(g, q)
            if zp_elem not in (TensorProto.INT8,):
                raise McucError(f"input {shown(vi.name)} is quantized to "
                                f"{_dtype_name(zp_elem)}; only int8 activations "
                                "are supported", where,
                                hint="quantize with activation_type=QuantType.QInt8")
            drop.add(id(q))
            new_inputs.append(helper.make_tensor_value_info(q.output[0], TensorProto.INT8, shape))
        elif elem == TensorProto.INT8:
            new_inputs.append(helper.make_tensor_value_info(vi.name, TensorProto.INT8, shape))
        else:
            raise McucError(f"graph input {shown(vi.name)} is "
                            f"{_dtype_name(elem)}; only float (quantized by the "
                            "model) or int8 inputs are supported", where)
    producers = {o: n for n in g.node for o in n.output}
    new_outputs = []
    for vi in g.output:
        p = producers.get(vi.name)
        shape = _static_shape(vi, where) if vi.type.tensor_type.HasField("shape") else None
        if p is not None and p.op_type == "DequantizeLinear" and \
                len(consumers.get(vi.name, [])) == 0:
            drop.add(id(p))
            name = p.input[0]
        elif vi.type.tensor_type.elem_type == TensorProto.INT8:
            name = vi.name
        else:
            raise McucError(f"graph output {shown(vi.name)} is not produced by a DequantizeLinear "
                            f"(it comes from {shown(p.op_type) if p else 'nowhere'}): the model's last "
                            "op must be quantized", where)
        new_outputs.append(helper.make_tensor_value_info(name, TensorProto.INT8, shape))
    nodes = [n for n in g.node if id(n) not in drop]
    # error messages name nodes by their index in the file the user has, not in this copy
    m.metadata_props.add(key=NODE_INDEX_KEY, value=" ".join(
        str(k) for k, n in enumerate(g.node) if id(n) not in drop))
    del g.node[:]
    g.node.extend(nodes)
    keep = [vi for vi in g.input if vi.name in inits]
    del g.input[:]
    g.input.extend(keep + new_inputs)
    del g.output[:]
    g.output.extend(new_outputs)
    del g.value_info[:]
    return m


INPUT_QUANT_KEY = "mcucompile.input_quant."
INPUT_NAME_KEY = "mcucompile.input_name."      # core input name -> the model's float input
NODE_INDEX_KEY = "mcucompile.node_index"       # core node k -> its index in the model file


def nhwc_outputs(core) -> dict[str, bool]:
    """For each graph output of an int8 core model: True where the firmware stores it NHWC
    while ONNX has it NCHW (4-D tensors), False where they agree: other ranks, and 4-D
    tensors that already are NHWC in the model (written by Transpose(0,2,3,1)). reference.py
    transposes exactly these."""
    g = core.graph
    producers = {o: n for n in g.node for o in n.output}

    def perm(node):
        return list(_attrs(node).get("perm", [])) if node is not None else []
    out = {}
    for vi in g.output:
        p = producers.get(vi.name)
        while p is not None and p.op_type in Q_OPS:   # QDQ: look through Q/DQ pairs
            p = producers.get(p.input[0])
        out[vi.name] = len(vi.type.tensor_type.shape.dim) == 4 and not (
            p is not None and p.op_type == "Transpose" and perm(p) == [0, 2, 3, 1])
    return out


def _record_input_quant(m, g, q, name: str, where: str) -> None:
    """The cut-off QuantizeLinear's scale and zero point, kept in the model's metadata (hex
    float, exact) for the converter: the int8 input carries that quantization."""
    from onnx import numpy_helper
    inits = {i.name: i for i in g.initializer}
    k = next(k for k, n in enumerate(g.node) if n is q)
    node = f"{where}: node {k}{f' {shown(q.name)}' if q.name else ''} (QuantizeLinear)"
    if len(q.input) < 2 or q.input[1] not in inits:
        raise McucError(f"the input's scale {shown(q.input[1] if len(q.input) > 1 else '')} is "
                        "not a constant initializer", node)
    scale_arr = numpy_helper.to_array(inits[q.input[1]])
    if scale_arr.dtype != np.float32 or scale_arr.size != 1:
        raise McucError(f"the input's scale {shown(q.input[1])} is {scale_arr.dtype}"
                        f"{list(scale_arr.shape)}; one float32 value is supported", node)
    scale = float(scale_arr.reshape(-1)[0])
    zp = (int(numpy_helper.to_array(inits[q.input[2]]).reshape(-1)[0])
          if len(q.input) > 2 and q.input[2] in inits else 0)
    m.metadata_props.add(key=INPUT_QUANT_KEY + name, value=f"{scale.hex()} {zp}")


def _dtype_name(code: int) -> str:
    """An ONNX element type's name; a model may hold any number there."""
    from onnx import TensorProto
    try:
        return TensorProto.DataType.Name(code)
    except ValueError:
        return f"unknown element type {code}"


def _zp_type(g, q) -> int:
    from onnx import TensorProto
    if len(q.input) < 3 or not q.input[2]:
        return TensorProto.UINT8   # ONNX default zero point type
    for i in g.initializer:
        if i.name == q.input[2]:
            return i.data_type
    return TensorProto.UNDEFINED


# ------------------------------------------------------------------ helpers

def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _inv(p) -> tuple:
    inv = [0] * len(p)
    for i, v in enumerate(p):
        inv[v] = i
    return tuple(inv)


def _same_pads(in_size: int, k: int, s: int, d: int) -> tuple[int, int]:
    eff = (k - 1) * d + 1
    out = (in_size + s - 1) // s
    total = max((out - 1) * s + eff - in_size, 0)
    return total // 2, total - total // 2


class _Converter:
    """Walks the nodes of an int8 core model (topologically sorted, as ONNX requires)."""

    def __init__(self, model, where: str):
        from onnx import numpy_helper
        self.model, self.where = model, where
        self.g = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        self.tensors: list[Tensor] = []
        self.ops: list[Op] = []
        self.act: dict[str, tuple[Tensor, tuple, tuple]] = {}  # name -> (tensor, perm, logical)
        self.views: dict[tuple, Tensor] = {}
        self.dq: dict[str, str] = {}       # float name -> int8 source name (DQ outputs)
        self.qnode_of: dict[str, object] = {}
        self.done: set[int] = set()
        self.consumers: dict[str, list] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        meta = {p.key: p.value for p in model.metadata_props}
        original = [int(v) for v in meta.get(NODE_INDEX_KEY, "").split()]
        if len(original) != len(self.g.node):
            original = list(range(len(self.g.node)))
        self.node_index = {id(n): original[k] for k, n in enumerate(self.g.node)}
        self.opsets = list(model.opset_import)
        self.nhwc = nhwc_outputs(model)
        self.lut_cache: dict = {}

    # ---------------------------------------------------------- errors and tensors

    def fail(self, node, msg: str, hint: str | None = None):
        k = self.node_index.get(id(node), -1)
        name = f" {shown(node.name)}" if node.name else ""
        raise McucError(msg, f"{self.where}: node {k}{name} ({node.op_type})", hint=hint)

    def new_tensor(self, name, shape, quant=None, data=None, dtype="int8") -> Tensor:
        t = Tensor(name=name, shape=tuple(int(d) for d in shape), dtype=dtype, quant=quant,
                   data=data, index=len(self.tensors))
        self.tensors.append(t)
        return t

    def new_op(self, node, type_, inputs, outputs, attrs) -> Op:
        op = Op(type=type_, inputs=inputs, outputs=outputs, attrs=attrs,
                index=self.node_index.get(id(node), -1) if node is not None else -1)
        self.ops.append(op)
        return op

    def define(self, name: str, logical, quant: Quant, perm=None) -> Tensor:
        logical = tuple(int(d) for d in logical)
        perm = tuple(perm) if perm is not None else tuple(range(len(logical)))
        t = self.new_tensor(name, [logical[p] for p in perm], quant)
        self.act[name] = (t, perm, logical)
        return t

    def get(self, node, name: str, want=None) -> Tensor:
        """The activation `name` stored with permutation `want` (default: as it is)."""
        if name not in self.act:
            if name in self.consts or name in self.dq and self.dq[name] in self.consts:
                self.fail(node, f"input {shown(name)} is a constant where an activation is "
                                "expected")
            self.fail(node, f"input {shown(name)} is not an int8 tensor this frontend produced "
                            "(an unsupported or unquantized op before it?)")
        t, perm, logical = self.act[name]
        want = tuple(want) if want is not None else perm
        if want == perm:
            return t
        key = (name, want)
        if key in self.views:
            return self.views[key]
        # physical_new = physical_cur.transpose(tp)
        tp = tuple(perm.index(w) for w in want)
        shape = [logical[w] for w in want]
        out = self.new_tensor(f"{name}_perm{''.join(map(str, want))}", shape, t.quant)
        nontrivial = [a for a in tp if t.shape[a] != 1]
        if nontrivial == sorted(nontrivial):   # only size-1 axes move: same memory order
            self.new_op(node, "RESHAPE", [t], [out], {})
        else:
            perm_t = self.new_tensor(f"{out.name}_perm", [len(tp)], None,
                                     np.array(tp, np.int32), "int32")
            self.new_op(node, "TRANSPOSE", [t, perm_t], [out], {})
        self.views[key] = out
        return out

    def quant(self, node, scale_name: str, zp_name: str | None, axis: int = 0,
              zp_dtype=np.int8) -> Quant:
        scale = np.asarray(self.const(node, scale_name, "scale"))
        if scale.dtype != np.float32:
            self.fail(node, f"scale {shown(scale_name)} is {scale.dtype}; only float32 scales are "
                            "supported")
        scale = scale.reshape(-1)
        if zp_name:
            zp_arr = np.asarray(self.const(node, zp_name, "zero point"))
            if zp_arr.dtype != zp_dtype:
                self.fail(node, f"zero point {shown(zp_name)} is {zp_arr.dtype}: only int8 "
                                "quantization is supported (uint8/int16 are not)",
                          hint="quantize with activation_type=QInt8 and weight_type=QInt8")
            zp = zp_arr.astype(np.int64).reshape(-1)
        else:
            zp = np.zeros(len(scale), np.int64)
        if len(zp) == 1 and len(scale) > 1:
            zp = np.repeat(zp, len(scale))
        return Quant(scale=scale, zero_point=zp, axis=axis)

    def const(self, node, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            self.fail(node, f"{what} {shown(name)} must be a constant initializer")
        return self.consts[name]

    # ---------------------------------------------------------- normalised quantized nodes

    def operand(self, node, fname: str):
        """A QDQ op's float input -> ('act', int8 name) or ('const', int8 data, Quant)."""
        if fname in self.dq:
            src, q = self.dq[fname]
            if src in self.consts:
                return ("const", self.consts[src], q)
            return ("act", src, q)
        if fname in self.consts:
            return ("float", self.consts[fname], None)
        self.fail(node, f"input {shown(fname)} is a float tensor that no DequantizeLinear "
                        "produced: "
                        "the op is not quantized")

    def out_q(self, node, k: int = 0):
        """The QuantizeLinear that quantizes a QDQ op's float output k: (int8 name, Quant)."""
        users = self.consumers.get(node.output[k], [])
        qs = [u for u in users if u.op_type == "QuantizeLinear"]
        if not qs:
            self.fail(node, f"output {shown(node.output[k])} is not quantized (no QuantizeLinear "
                            "after it): float ops are not supported")
        if len(qs) > 1 or len(users) > 1:
            self.fail(node, f"output {shown(node.output[k])} has {len(users)} consumers; a QDQ "
                            "op's "
                            "output must feed exactly one QuantizeLinear")
        q = qs[0]
        self.done.add(id(q))
        return q.output[0], self.quant(q, q.input[1], q.input[2] if len(q.input) > 2 else None)

    def check_node(self, node):
        """A node's attributes are ones its op defines, of their type, and its outputs as many
        as the op has (onnxruntime refuses the graph otherwise): the onnx schema for the
        default domain, CONTRIB_ATTRIBUTES for the com.microsoft ops read here."""
        import onnx.defs
        if node.domain == "com.microsoft":
            if node.op_type not in CONTRIB_ATTRIBUTES:
                self.fail(node, f"unsupported op {shown(node.op_type)} (domain com.microsoft)",
                          hint="supported ONNX ops: " + ", ".join(SUPPORTED))
            allowed, n_out = CONTRIB_ATTRIBUTES[node.op_type], (1, 1)
            types = {}
        elif node.domain in ("", "ai.onnx"):
            opset = max((o.version for o in self.opsets if o.domain in ("", "ai.onnx")),
                        default=0)
            try:
                schema = onnx.defs.get_schema(node.op_type, opset, "")
            except onnx.defs.SchemaError:
                self.fail(node, f"{shown(node.op_type)} is not an op of the default ONNX "
                                f"domain at opset {opset}")
            allowed, n_out = schema.attributes, (schema.min_output, schema.max_output)
            types = {k: int(v.type) for k, v in schema.attributes.items()}
        else:
            self.fail(node, f"unsupported op domain {shown(node.domain)}")
        for a in node.attribute:
            if a.name not in allowed:
                self.fail(node, f"attribute {shown(a.name)} is not one {node.op_type} takes")
            if a.name in types and types[a.name] != int(a.type):
                self.fail(node, f"attribute {shown(a.name)} has the wrong type")
        if not n_out[0] <= len(node.output) <= n_out[1]:
            self.fail(node, f"{node.op_type} has {n_out[0]} to {n_out[1]} outputs, the model "
                            f"gives it {len(node.output)}")

    def run(self) -> Graph:
        for node in self.g.node:
            self.check_node(node)
        for vi in self.g.input:
            if vi.name in self.consts:
                continue
            self.input_tensor(vi)
        for node in self.g.node:
            if id(node) in self.done:
                continue
            self.convert(node)
        outputs = []
        for vi in self.g.output:
            name = vi.name
            if name not in self.act:
                raise McucError(f"graph output {shown(name)} is not produced by a supported op",
                                self.where)
            rank = len(self.act[name][2])
            outputs.append(self.get(None, name, NHWC if self.nhwc[name] else tuple(range(rank))))
        inputs = [self.act[vi.name][0] for vi in self.g.input if vi.name not in self.consts]
        meta = {p.key: p.value for p in self.model.metadata_props}
        taken = {t.name for t in self.tensors}
        for t in inputs:   # the name the user knows (the float input the model quantizes)
            name = meta.get(INPUT_NAME_KEY + t.name)
            if name and name not in taken:
                t.name = name
        graph = Graph(name=Path(self.where).stem, tensors=self.tensors, ops=self.ops,
                      inputs=inputs, outputs=outputs, source=self.where)
        verify(graph)
        validate(graph)
        return graph

    def input_tensor(self, vi):
        shape = _static_shape(vi, self.where)
        meta = {p.key: p.value for p in self.model.metadata_props}
        quant = None
        if INPUT_QUANT_KEY + vi.name in meta:   # from the QuantizeLinear int8_core cut off
            scale, zp = meta[INPUT_QUANT_KEY + vi.name].split()
            quant = Quant(np.array([float.fromhex(scale)], np.float32), np.array([int(zp)]))
        for u in self.consumers.get(vi.name, []) if quant is None else []:
            if u.op_type == "DequantizeLinear":   # an int8 model input: its DQ says
                quant = self.quant(u, u.input[1], u.input[2] if len(u.input) > 2 else None)
                break
        if quant is None:
            raise McucError(f"cannot find the quantization of input {shown(vi.name)}", self.where)
        self.define(vi.name, shape, quant)

    # ---------------------------------------------------------- dispatch

    def convert(self, node):
        t = node.op_type
        if node.domain not in ("", "ai.onnx", "com.microsoft"):
            self.fail(node, f"unsupported op domain {shown(node.domain)}")
        if t == "DequantizeLinear":
            return self.dequantize(node)
        if t == "QuantizeLinear":
            return self.requantize_pair(node)
        if t.startswith("QLinear") or t == "QGemm":
            return self.qoperator(node)
        if t in MOVE_OPS and node.input[0] in self.act:
            return self.move(node, node.input[0], node.output[0], None)
        if t == "Pad" and node.input[0] in self.act:   # QOperator form: on int8 values
            value = self.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] \
                else None
            if len(node.input) > 2 and node.input[2] and value is None:
                self.fail(node, "the pad value must be a constant")
            return self.pad(node, node.input[0], node.output[0], self.act[node.input[0]][0].quant,
                            0 if value is None else int(np.asarray(value).reshape(-1)[0]))
        if t in ("Conv", "Gemm", "MatMul", "Add", "Mul", "AveragePool", "GlobalAveragePool",
                 "Concat", "Pad") or t in UNARY_LUT_OPS or t in MOVE_OPS:
            return self.qdq(node)
        self.fail(node, f"unsupported op {shown(t)}", hint="supported ONNX ops: " + ", ".join(SUPPORTED))

    def dequantize(self, node):
        axis = int(_attrs(node).get("axis", 1))
        src = node.input[0]
        is_bias = src in self.consts and self.consts[src].dtype == np.int32
        q = self.quant(node, node.input[1], node.input[2] if len(node.input) > 2 else None,
                       axis if src in self.consts else 0, np.int32 if is_bias else np.int8)
        if src in self.consts:
            data = self.consts[src]
            if data.dtype not in (np.int8, np.int32):
                self.fail(node, f"constant {shown(src)} is {data.dtype}: only int8 weights and "
                                "int32 "
                                "biases are supported", hint="quantize with weight_type=QInt8")
            q.axis = axis + data.ndim if axis < 0 else axis
        elif src not in self.act:
            self.fail(node, f"input {shown(src)} is not an int8 tensor this frontend produced")
        self.dq[node.output[0]] = (src, q)

    def requantize_pair(self, node):
        """QuantizeLinear of a DequantizeLinear output: int8 -> int8 (a table unless equal)."""
        src = node.input[0]
        if src not in self.dq or self.dq[src][0] not in self.act:
            self.fail(node, f"QuantizeLinear of {shown(src)}, which is neither a quantized op's "
                            "output nor a DequantizeLinear output")
        name, qin = self.dq[src]
        qout = self.quant(node, node.input[1], node.input[2] if len(node.input) > 2 else None)
        t, perm, logical = self.act[name]
        if qin.same_as(qout):
            self.act[node.output[0]] = (t, perm, logical)
            return
        dq = next(n for n in self.g.node if src in n.output)
        table = self.tabulate([dq, node], name, node.output[0])
        self.lut(node, "QUANTIZE", name, node.output[0], qout, table)

    # ---------------------------------------------------------- tables from onnxruntime

    def tabulate(self, nodes, in_name: str, out_name: str) -> np.ndarray:
        """Run onnxruntime on a model of just `nodes` (int8 [256] in, int8 [256] out) over
        every int8 value: the exact table of what the reference computes."""
        import onnxruntime as ort
        from onnx import TensorProto, helper
        key = tuple(n.SerializeToString() for n in nodes) + (in_name, out_name)
        if key in self.lut_cache:
            return self.lut_cache[key]
        names = {i for n in nodes for i in n.input}
        inits = [i for i in self.g.initializer if i.name in names]
        g = helper.make_graph(list(nodes), "lut",
                              [helper.make_tensor_value_info(in_name, TensorProto.INT8, [256])],
                              [helper.make_tensor_value_info(out_name, TensorProto.INT8, [256])],
                              inits)
        m = helper.make_model(g, opset_imports=self.opsets)
        m.ir_version = self.model.ir_version
        so = ort.SessionOptions()
        so.add_session_config_entry("session.qdqisint8allowed", "1")
        so.log_severity_level = 3
        try:
            sess = ort.InferenceSession(m.SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])
            out = sess.run(None, {in_name: np.arange(-128, 128, dtype=np.int8)})[0]
        except Exception as e:
            self.fail(nodes[-1], f"onnxruntime could not evaluate the op for its lookup table: "
                                 f"{e}")
        table = np.asarray(out, np.int8).reshape(256)
        # index by the input value as uint8 (0..127, then -128..-1)
        table = np.concatenate([table[128:], table[:128]])
        self.lut_cache[key] = table
        return table

    def lut(self, node, type_, in_name, out_name, qout, table):
        x = self.get(node, in_name)
        _, perm, logical = self.act[in_name]
        y = self.define(out_name, logical, qout, perm)
        self.new_op(node, type_, [x], [y], {"requant": "float", "lut": table})

    # ---------------------------------------------------------- QDQ groups

    def qdq(self, node):
        t = node.op_type
        if t in MOVE_OPS:   # DQ -> move -> Q: int8 move, requantized if the scales differ
            kind, src, qin = self.operand(node, node.input[0])
            if kind != "act":
                self.fail(node, "the data input must be an activation")
            out, qout = self.out_q(node)
            if qin.same_as(qout):
                return self.move(node, src, out, qout)
            mid = out + "_moved"
            self.move(node, src, mid, qin)
            dq = next(n for n in self.g.node if node.input[0] in n.output)
            q = next(n for n in self.g.node if n.output and n.output[0] == out)
            table = self.tabulate([dq, _renamed(q, {q.input[0]: dq.output[0]})], src, out)
            return self.lut(node, "QUANTIZE", mid, out, qout, table)
        if t in UNARY_LUT_OPS:
            kind, src, qin = self.operand(node, node.input[0])
            if kind != "act":
                self.fail(node, "the input must be an activation")
            out, qout = self.out_q(node)
            dq = next(n for n in self.g.node if node.input[0] in n.output)
            q = next(n for n in self.g.node if n.output and n.output[0] == out)
            table = self.tabulate([dq, node, q], src, out)
            return self.lut(node, UNARY_LUT_OPS[t], src, out, qout, table)
        if t == "Pad":      # DQ -> Pad -> Q: the float value quantized like the output
            kind, src, qin = self.operand(node, node.input[0])
            if kind != "act":
                self.fail(node, "the data input must be an activation")
            out, qout = self.out_q(node)
            value = 0.0
            if len(node.input) > 2 and node.input[2]:
                v = self.operand(node, node.input[2])
                value = float(np.asarray(v[1]).reshape(-1)[0]) if v[0] == "float" else \
                    float(v[2].scale[0]) * (int(np.asarray(v[1]).reshape(-1)[0]) -
                                            int(v[2].zero_point[0]))
            s, z = float(np.float32(qout.scale[0])), int(qout.zero_point[0])
            q = int(np.clip(np.rint(np.float32(value) / np.float32(s)) + z, -128, 127))
            if not qin.same_as(qout):
                self.fail(node, "a Pad that changes the quantization is not supported")
            return self.pad(node, src, out, qout, q)
        ins = [self.operand(node, i) if i else None for i in node.input]
        out, qout = self.out_q(node)
        a = _attrs(node)
        for o in (ins[:2] if t in ("Add", "Mul") else ins[:1]):
            if o is not None and o[0] == "float":
                self.fail(node, "a float (unquantized) operand is not supported")
        if t == "Conv":
            x, w = ins[0], ins[1]
            if x[0] != "act" or w[0] != "const":
                self.fail(node, "Conv needs an activation input and constant int8 weights")
            bias = ins[2][1:] if len(ins) > 2 and ins[2] is not None else None
            return self.conv(node, x[1], w[1], w[2], bias, out, qout, a)
        if t in ("Gemm", "MatMul"):
            x, w = ins[0], ins[1]
            if w[0] != "const":
                self.fail(node, "the second operand must be constant int8 weights")
            bias = ins[2][1:] if len(ins) > 2 and ins[2] is not None else None
            return self.matmul(node, x[1], w[1], w[2], bias, out, qout, a, t == "Gemm")
        if t in ("Add", "Mul"):
            return self.binary(node, t, ins[0], ins[1], out, qout)
        if t == "AveragePool":
            return self.avg_pool(node, ins[0][1], out, qout, a)
        if t == "GlobalAveragePool":
            return self.global_pool(node, ins[0][1], out, qout)
        if t == "Concat":
            srcs = []
            for k, (kind, src, q) in enumerate(ins):
                if kind != "act":
                    self.fail(node, "constant Concat inputs are not supported")
                srcs.append((src, q, node.input[k]))
            return self.concat(node, srcs, out, qout, int(a.get("axis", 0)), qdq=True)
        self.fail(node, f"unsupported op {shown(t)}")

    # ---------------------------------------------------------- QOperator nodes

    def qoperator(self, node):
        t = node.op_type
        i = list(node.input) + [""] * 10
        a = _attrs(node)
        q = lambda s, z: self.quant(node, s, z or None)  # noqa: E731
        if t == "QLinearConv":
            w = self.const(node, i[3], "filter")
            wq = self.quant(node, i[4], i[5] or None, 0)
            bias = self.consts.get(i[8]) if i[8] else None
            return self.conv(node, i[0], w, wq, bias, node.output[0], q(i[6], i[7]), a)
        if t == "QLinearMatMul":
            w = self.const(node, i[3], "weights")
            wq = self.quant(node, i[4], i[5] or None, 1)
            return self.matmul(node, i[0], w, wq, None, node.output[0], q(i[6], i[7]), a, False)
        if t == "QGemm":
            w = self.const(node, i[3], "weights")
            wq = self.quant(node, i[4], i[5] or None, 0 if a.get("transB", 0) else 1)
            bias = self.consts.get(i[6]) if i[6] else None
            if not i[7]:
                self.fail(node, "QGemm without y_scale has a float output: not supported")
            return self.matmul(node, i[0], w, wq, bias, node.output[0], q(i[7], i[8]), a, True)
        if t in ("QLinearAdd", "QLinearMul"):
            def operand(k):
                name = i[k]
                if name in self.consts:
                    return ("const", self.consts[name], q(i[k + 1], i[k + 2]))
                return ("act", name, None)
            return self.binary(node, t[7:], operand(0), operand(3), node.output[0], q(i[6], i[7]))
        if t == "QLinearAveragePool":
            if a.get("channels_last", 0):
                self.fail(node, "channels_last QLinearAveragePool is not supported")
            return self.avg_pool(node, i[0], node.output[0], q(i[3], i[4]), a)
        if t == "QLinearGlobalAveragePool":
            if a.get("channels_last", 0):
                self.fail(node, "channels_last QLinearGlobalAveragePool is not supported")
            return self.global_pool(node, i[0], node.output[0], q(i[3], i[4]))
        if t == "QLinearConcat":
            srcs = []
            for k in range((len(node.input) - 2) // 3):
                name = node.input[2 + 3 * k]
                if name not in self.act:
                    self.fail(node, "constant QLinearConcat inputs are not supported")
                srcs.append((name, q(node.input[3 + 3 * k], node.input[4 + 3 * k]), name))
            return self.concat(node, srcs, node.output[0], q(i[0], i[1]), int(a["axis"]),
                               qdq=False)
        if t in UNARY_LUT_OPS:   # QLinearSigmoid, QLinearLeakyRelu
            qout = q(i[3], i[4])
            table = self.tabulate([node], i[0], node.output[0])
            return self.lut(node, UNARY_LUT_OPS[t], i[0], node.output[0], qout, table)
        self.fail(node, f"unsupported op {shown(t)}", hint="supported ONNX ops: " + ", ".join(SUPPORTED))

    # ---------------------------------------------------------- op builders

    def conv(self, node, xname, w, wq: Quant, bias, out, qout, a):
        x_t, _, xl = self.act[xname] if xname in self.act else (None, None, None)
        if xl is None:
            self.fail(node, f"input {shown(xname)} is not an activation")
        if len(xl) != 4 or w.ndim != 4:
            self.fail(node, f"only 2-D convolution is supported (input rank {len(xl)})")
        if w.dtype != np.int8:
            self.fail(node, f"filter is {w.dtype}; only int8 weights are supported")
        if np.any(wq.zero_point != 0):
            self.fail(node, "conv weights with a non-zero zero point are not supported",
                      hint="quantize weights symmetrically (QInt8 weights do this)")
        x = self.get(node, xname, NHWC)
        n, c, h, wd = xl
        m, cg, kh, kw = w.shape
        group = int(a.get("group", 1))
        if list(a.get("kernel_shape", [kh, kw])) != [kh, kw]:
            self.fail(node, f"kernel_shape {list(a['kernel_shape'])} does not match the "
                            f"weights' {kh}x{kw}")
        strides, dil, pads, auto = self.geometry(node, a, "dilations")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            (t0, b0), (l0, r0) = (_same_pads(h, kh, strides[0], dil[0]),
                                  _same_pads(wd, kw, strides[1], dil[1]))
            if auto == "SAME_LOWER":
                t0, b0, l0, r0 = b0, t0, r0, l0
            pads = [t0, l0, b0, r0]
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        depthwise = group == c and cg == 1 and group > 1
        if group != 1 and not depthwise:
            self.fail(node, f"grouped convolution (group={group}) is not supported; only "
                            "group=1 and depthwise")
        if not depthwise and cg != c:
            self.fail(node, f"filter has {cg} input channels, input has {c}")
        x, padding, (h, wd) = self.pad_for(node, x, xl, pads, kh, kw, strides, dil,
                                           int(x.quant.zero_point[0]))
        oh = (h - ((kh - 1) * dil[0] + 1)) // strides[0] + 1 if padding else -(-h // strides[0])
        ow = (wd - ((kw - 1) * dil[1] + 1)) // strides[1] + 1 if padding else -(-wd // strides[1])
        if depthwise:
            wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))     # [1, kh, kw, m]
            wq = Quant(wq.scale, wq.zero_point, axis=3)
            type_ = "DEPTHWISE_CONV_2D"
            extra = {"depthMultiplier": m // c}
        else:
            wt = np.ascontiguousarray(w.transpose(0, 2, 3, 1))     # [m, kh, kw, c]
            wq = Quant(wq.scale, wq.zero_point, axis=0)
            type_, extra = "CONV_2D", {}
        wt_t = self.new_tensor(f"{out}_filter", wt.shape, wq, wt)
        ins = [x, wt_t, self.bias_tensor(node, bias, m, out)]
        y = self.define(out, (n, m, oh, ow), qout, NHWC)
        self.new_op(node, type_, ins, [y],
                    dict(padding=padding, strideH=strides[0], strideW=strides[1],
                         dilationHFactor=dil[0], dilationWFactor=dil[1],
                         fusedActivationFunction=0, requant="float", **extra))

    def geometry(self, node, a, dilations: str | None):
        """strides, dilations, pads and auto_pad of a 2-D Conv or pool, checked before any
        arithmetic uses them: two strides and dilations >= 1, four pads >= 0, a known
        auto_pad. Returns (strides, dilations, pads, auto_pad)."""
        strides = list(a.get("strides", [1, 1]))
        dil = list(a.get(dilations, [1, 1])) if dilations else [1, 1]
        pads = list(a.get("pads", [0, 0, 0, 0]))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode(errors="replace") if isinstance(auto, bytes) else str(auto)
        for values, what, n in ((strides, "strides", 2), (dil, "dilations", 2)):
            problem = at_least_one(values, what) if len(values) == n else \
                f"{what} {values} must have {n} values"
            if problem:
                self.fail(node, problem)
        if len(pads) != 4 or any(not 0 <= int(p) < 1 << 31 for p in pads):
            self.fail(node, f"pads {pads} must be 4 values from 0 to 2^31 - 1")
        if auto not in AUTO_PADS:
            self.fail(node, f"auto_pad {shown(auto)} is not one of {', '.join(AUTO_PADS)}")
        return strides, dil, pads, auto

    def pad_for(self, node, x: Tensor, xl, pads, kh, kw, strides, dil, pad_value):
        """ONNX explicit pads -> TFLite SAME (0) / VALID (1), or a PADV2 op then VALID (which
        passes/canonicalize.py folds back into the op's explicit pads where that is exact).
        Returns (input tensor, padding code, padded (h, w))."""
        _, _, h, w = xl
        pt, pl, pb, pr = pads
        if not any(pads):
            return x, 1, (h, w)
        if (pt, pb) == _same_pads(h, kh, strides[0], dil[0]) and \
                (pl, pr) == _same_pads(w, kw, strides[1], dil[1]):
            return x, 0, (h, w)
        if min(pads) < 0:
            self.fail(node, f"negative pads {pads}")
        shape = (x.shape[0], h + pt + pb, w + pl + pr, x.shape[3])
        y = self.new_tensor(f"{x.name}_padded_{node.name or self.node_index[id(node)]}", shape,
                            x.quant)
        paddings = self.new_tensor(f"{y.name}_pads", [4, 2], None,
                                   np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32),
                                   "int32")
        value = self.new_tensor(f"{y.name}_value", [1], None, np.array([pad_value], np.int8))
        self.new_op(node, "PADV2", [x, paddings, value], [y], {})
        return y, 1, (shape[1], shape[2])

    def pad(self, node, src, out, quant: Quant, value: int):
        """Pad (constant mode) -> PADV2 on the stored layout, writing the int8 `value`."""
        a = _attrs(node)
        mode = a.get("mode", b"constant")
        if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
            self.fail(node, f"Pad mode {mode!r} is not supported (only constant)")
        xt, perm, xl = self.act[src]
        rank = len(xl)
        pads = [int(v) for v in np.asarray(self.const(node, node.input[1], "pads")).reshape(-1)]
        axes = list(range(rank))
        if len(node.input) > 3 and node.input[3]:
            axes = [int(v) % rank for v in np.asarray(self.const(node, node.input[3], "axes"))
                    .reshape(-1)]
        if len(pads) != 2 * len(axes):
            self.fail(node, f"{len(pads)} pads for {len(axes)} axes")
        if min(pads) < 0:
            self.fail(node, f"negative pads {pads} (cropping) are not supported")
        begin, end = [0] * rank, [0] * rank
        for k, ax in enumerate(axes):
            begin[ax], end[ax] = pads[k], pads[k + len(axes)]
        x = self.get(node, src)
        logical = tuple(d + b + e for d, b, e in zip(xl, begin, end))
        y = self.define(out, logical, quant, perm)
        paddings = self.new_tensor(f"{out}_pads", [rank, 2], None,
                                   np.array([[begin[p], end[p]] for p in perm], np.int32),
                                   "int32")
        v = self.new_tensor(f"{out}_value", [1], None, np.array([value], np.int8))
        self.new_op(node, "PADV2", [x, paddings, v], [y], {})

    def bias_tensor(self, node, bias, n, out) -> Tensor | None:
        """bias: int32 data (QOperator: its scale is implied), or (data, Quant or None) from a
        QDQ DequantizeLinear, whose scale ir/validate.py checks against x_scale * w_scale."""
        if bias is None:
            return None
        data, quant = bias if isinstance(bias, tuple) else (bias, None)
        b = np.asarray(data)
        if b.dtype != np.int32 or b.size != n:
            self.fail(node, f"bias must be {n} int32 values (is {b.dtype}{list(b.shape)})")
        if quant is not None:
            quant = Quant(quant.scale, quant.zero_point, 0)
        return self.new_tensor(f"{out}_bias", [n], quant, b.reshape(n).astype(np.int32), "int32")

    def matmul(self, node, xname, w, wq: Quant, bias, out, qout, a, gemm: bool):
        if xname not in self.act:
            self.fail(node, f"input {shown(xname)} is not an activation")
        if w.dtype != np.int8 or w.ndim != 2:
            self.fail(node, f"weights must be a 2-D int8 constant (are {w.dtype}{list(w.shape)})")
        _, _, xl = self.act[xname]
        if gemm:
            if a.get("transA", 0):
                self.fail(node, "Gemm with transA=1 is not supported")
            if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
                self.fail(node, "Gemm with alpha or beta other than 1 is not supported")
            trans_b = bool(a.get("transB", 0))
        else:
            trans_b = False
        wt = w if trans_b else w.T                        # [out, in]
        per_axis = 0 if trans_b else 1                    # the N axis of the ONNX weights
        if len(wq.scale) > 1 and wq.axis != per_axis:
            self.fail(node, f"per-channel weight scales along axis {wq.axis} (not the output "
                            "axis) are not supported")
        if len(set(wq.zero_point.tolist())) > 1:
            self.fail(node, "per-channel weight zero points are not supported")
        n_out, k = wt.shape
        if xl[-1] != k:
            self.fail(node, f"input depth {xl[-1]} does not match the weights' {k}")
        x = self.get(node, xname, tuple(range(len(xl))))
        wt = np.ascontiguousarray(wt)
        w_t = self.new_tensor(f"{out}_weights", wt.shape, Quant(wq.scale, wq.zero_point, 0), wt)
        ins = [x, w_t, self.bias_tensor(node, bias, n_out, out)]
        y = self.define(out, tuple(xl[:-1]) + (n_out,), qout)
        self.new_op(node, "FULLY_CONNECTED", ins, [y],
                    dict(fusedActivationFunction=0, keepNumDims=True, requant="float"))

    def binary(self, node, kind, a_op, b_op, out, qout):
        acts = [o for o in (a_op, b_op) if o[0] == "act"]
        if not acts:
            self.fail(node, "both operands are constant")
        ref = acts[0][1]
        _, perm, _ = self.act[ref]
        logical = []
        tensors = []
        for o in (a_op, b_op):
            if o[0] == "act":
                _, _, l_ = self.act[o[1]]
                logical.append(l_)
            else:
                logical.append(tuple(o[1].shape))
        shape = tuple(np.broadcast_shapes(*logical))
        rank = len(shape)
        if len(perm) != rank:
            perm = tuple(range(rank))
        for o, l_ in zip((a_op, b_op), logical):
            if o[0] == "act":
                if len(l_) != rank:
                    self.fail(node, f"operands of rank {len(l_)} and {rank} are not supported")
                tensors.append(self.get(node, o[1], perm))
            else:
                data = o[1]
                if data.dtype != np.int8:
                    self.fail(node, f"constant operand is {data.dtype}, not int8")
                full = data.reshape((1,) * (rank - data.ndim) + data.shape)
                phys = np.ascontiguousarray(full.transpose(perm))
                q = o[2]
                tensors.append(self.new_tensor(f"{out}_operand{len(tensors)}", phys.shape,
                                               Quant(q.scale, q.zero_point, 0), phys))
        y = self.define(out, shape, qout, perm)
        self.new_op(node, "ADD" if kind == "Add" else "MUL", tensors, [y],
                    dict(fusedActivationFunction=0, requant="float",
                         onnx_shapes=(tuple(logical[0]), tuple(logical[1]))))

    def pool_geometry(self, node, xl, a):
        if len(xl) != 4:
            self.fail(node, "only 2-D pooling is supported")
        if "kernel_shape" not in a:
            self.fail(node, "kernel_shape is missing")
        k = list(a["kernel_shape"])
        problem = at_least_one(k, "kernel_shape") if len(k) == 2 else \
            f"kernel_shape {k} must have 2 values"
        if problem:
            self.fail(node, problem)
        if a.get("ceil_mode", 0):
            self.fail(node, "ceil_mode=1 is not supported")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            self.fail(node, "dilated pooling is not supported")
        s, _, pads, auto = self.geometry(node, a, None)
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            (t0, b0), (l0, r0) = _same_pads(xl[2], k[0], s[0], 1), _same_pads(xl[3], k[1], s[1], 1)
            if auto == "SAME_LOWER":
                t0, b0, l0, r0 = b0, t0, r0, l0
            pads = [t0, l0, b0, r0]
        return k, s, pads

    def avg_pool(self, node, xname, out, qout, a):
        _, _, xl = self.act[xname]
        k, s, pads = self.pool_geometry(node, xl, a)
        x = self.get(node, xname, NHWC)
        n, c, h, w = xl
        oh = (h + pads[0] + pads[2] - k[0]) // s[0] + 1
        ow = (w + pads[1] + pads[3] - k[1]) // s[1] + 1
        y = self.define(out, (n, c, oh, ow), qout, NHWC)
        self.new_op(node, "AVERAGE_POOL_2D", [x], [y],
                    dict(filterHeight=k[0], filterWidth=k[1], strideH=s[0], strideW=s[1],
                         pads=(pads[0], pads[1], pads[2], pads[3]), padding=1,
                         countIncludePad=int(a.get("count_include_pad", 0)),
                         fusedActivationFunction=0, requant="float"))

    def global_pool(self, node, xname, out, qout):
        _, _, xl = self.act[xname]
        if len(xl) != 4:
            self.fail(node, "only 2-D global pooling is supported")
        x = self.get(node, xname, NHWC)
        n, c = xl[0], xl[1]
        axes = self.new_tensor(f"{out}_axes", [2], None, np.array([1, 2], np.int32), "int32")
        y = self.define(out, (n, c, 1, 1), qout, NHWC)
        self.new_op(node, "MEAN", [x, axes], [y], dict(keepDims=True, requant="float"))

    def concat(self, node, srcs, out, qout, axis, qdq: bool):
        _, perm, l0 = self.act[srcs[0][0]]
        rank = len(l0)
        axis = axis + rank if axis < 0 else axis
        parts = []
        for k, (name, q, fname) in enumerate(srcs):
            q = self.act[name][0].quant if q is None else q
            if not q.same_as(qout):   # requantize this input first (onnxruntime: a table)
                if qdq:
                    dq = next(n for n in self.g.node if fname in n.output)
                    qn = next(n for n in self.g.node if n.output and n.output[0] == out)
                    from onnx import helper
                    cat = helper.make_node("Concat", [fname], [node.output[0]], axis=0)
                    table = self.tabulate([dq, cat, qn], name, out)
                else:
                    from onnx import helper
                    i = node.input
                    cat = helper.make_node("QLinearConcat", [i[0], i[1], name, i[3 + 3 * k],
                                                             i[4 + 3 * k]], [out], axis=0,
                                           domain="com.microsoft")
                    table = self.tabulate([cat], name, out)
                rq = f"{out}_in{k}_requantized"
                self.lut(node, "QUANTIZE", name, rq, qout, table)
                name = rq
            parts.append(self.get(node, name, perm))
        shape = list(l0)
        shape[axis] = sum(self.act[s[0]][2][axis] for s in srcs)
        y = self.define(out, shape, qout, perm)
        self.new_op(node, "CONCATENATION", parts, [y],
                    dict(axis=perm.index(axis), fusedActivationFunction=0))

    def move(self, node, src, out, qout):
        """MaxPool, Reshape, Flatten, Squeeze, Unsqueeze, Transpose on int8 values."""
        t = node.op_type
        a = _attrs(node)
        xt, perm, xl = self.act[src]
        quant = xt.quant if qout is None else qout
        if t == "Transpose":
            p = tuple(a.get("perm", list(reversed(range(len(xl))))))
            logical = tuple(xl[i] for i in p)
            r = tuple(_inv(p)[q] for q in perm)
            self.act[out] = (xt, r, logical)   # same memory, new permutation: no code
            return
        if t == "MaxPool":
            k, s, pads = self.pool_geometry(node, xl, a)
            if a.get("storage_order", 0):
                self.fail(node, "storage_order=1 is not supported")
            x = self.get(node, src, NHWC)
            x, padding, (h, w) = self.pad_for(node, x, xl, pads, k[0], k[1], s, [1, 1], -128)
            oh = (h - k[0]) // s[0] + 1 if padding else -(-h // s[0])
            ow = (w - k[1]) // s[1] + 1 if padding else -(-w // s[1])
            y = self.define(out, (xl[0], xl[1], oh, ow), quant, NHWC)
            self.new_op(node, "MAX_POOL_2D", [x], [y],
                        dict(padding=padding, strideH=s[0], strideW=s[1], filterHeight=k[0],
                             filterWidth=k[1], fusedActivationFunction=0))
            return
        size = int(np.prod(xl))
        if t == "Flatten":
            ax = int(a.get("axis", 1))
            ax = ax + len(xl) if ax < 0 else ax
            shape = (int(np.prod(xl[:ax])), int(np.prod(xl[ax:])))
        elif t == "Reshape":
            target = [int(v) for v in np.asarray(self.const(node, node.input[1], "shape")).reshape(-1)]
            shape = [xl[k] if v == 0 and not a.get("allowzero", 0) else v
                     for k, v in enumerate(target)]
            if -1 in shape:
                known = int(np.prod([d for d in shape if d != -1]))
                shape[shape.index(-1)] = size // max(known, 1)
        elif t == "Squeeze":
            axes = a.get("axes")
            if axes is None and len(node.input) > 1 and node.input[1]:
                axes = self.const(node, node.input[1], "axes").reshape(-1).tolist()
            axes = [x + len(xl) if x < 0 else x for x in (axes or [k for k, d in enumerate(xl) if d == 1])]
            shape = [d for k, d in enumerate(xl) if k not in axes]
        else:  # Unsqueeze
            axes = a.get("axes")
            if axes is None:
                axes = self.const(node, node.input[1], "axes").reshape(-1).tolist()
            rank = len(xl) + len(axes)
            axes = sorted(x + rank if x < 0 else x for x in axes)
            it = iter(xl)
            shape = [1 if k in axes else next(it) for k in range(rank)]
        shape = tuple(int(d) for d in shape)
        if int(np.prod(shape)) != size:
            self.fail(node, f"cannot reshape {list(xl)} to {list(shape)}")
        x = self.get(node, src, tuple(range(len(xl))))
        y = self.define(out, shape, quant)
        self.new_op(node, "RESHAPE", [x], [y], {})


def _renamed(node, mapping: dict):
    """A copy of a node with some input names replaced."""
    import onnx
    n = onnx.NodeProto()
    n.CopyFrom(node)
    for k, name in enumerate(n.input):
        if name in mapping:
            n.input[k] = mapping[name]
    return n
