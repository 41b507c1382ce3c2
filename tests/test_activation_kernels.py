"""Bit-exactness of the nonlinear / requantising int8 kernels against TensorFlow Lite Micro.

For every op, single-op INT8 models are produced by the TFLite converter (tf.function +
representative dataset, int8 in/out, TFLITE_BUILTINS_INT8), the op of interest is cut out of
the converted flatbuffer with the schema's object API (so its own input is the model input and
its own output the model output, quantisation untouched), and the model is run by the
``tflite_micro`` Python interpreter on every int8 input value (softmax: random rows of depths
1, 10, 12 and 1000; mean: permutations of all 256 values and random tensors). The C kernels in
runtime_c (built into a shared library and called through ctypes, parameters from
mcucompile/passes/activation_params.py) must produce exactly the same bytes.

Besides the converter's own quantisation, "edited" cases rewrite the quantisation parameters /
builtin options of the cut-out op (ModelT) to reach corners the converter does not produce:
huge/tiny multipliers, int16 shift quirks of HARD_SWISH, negative alpha, beta != 1, ...
test_float_vs_double_choices_against_tflm searches, per op, quantisations for which computing a
multiplier ratio in float32 or in double gives different output bytes, and checks TFLM agrees
with the choice activation_params.py makes.

Two things TFLM cannot serve as the reference for, handled explicitly (not skipped):
  * RELU_N1_TO_1 has no TFLM kernel: the test asserts tflite_micro refuses the model and checks
    the kernel against tf.lite.Interpreter (same QuantizedReluX arithmetic) instead;
  * SOFTMAX aborts the whole process (TFLITE_CHECK) when a row's sum of exps reaches 512, so
    softmax rows are generated to stay below that bound (depth-1000 rows only at input scales
    where that is possible).

The last tests rebuild every case into a standalone C driver under
``-fsanitize=address,undefined`` and compile the kernels for Cortex-M4 with arm-none-eabi-gcc.
"""
from __future__ import annotations

import ctypes
import inspect
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime_c"
INCLUDE = RUNTIME / "include"
SOURCES = [
    RUNTIME / "src" / "activation" / "softmax_s8.c",
    RUNTIME / "src" / "activation" / "logistic_s8.c",
    RUNTIME / "src" / "activation" / "tanh_s8.c",
    RUNTIME / "src" / "activation" / "hard_swish_s8.c",
    RUNTIME / "src" / "activation" / "leaky_relu_s8.c",
    RUNTIME / "src" / "pool" / "mean_s8.c",
    RUNTIME / "src" / "quantize" / "requantize_s8.c",
]
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
ARENA = 512 * 1024
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
BASE_RANGE = (-2.0, 3.0)
RANGE_FACTORS = (0.1, 1.0, 10.0)

# C struct name per kernel
KERNELS = {
    "mcuc_softmax_s8": "mcuc_softmax_params",
    "mcuc_logistic_s8": "mcuc_sigmoid_params",
    "mcuc_tanh_s8": "mcuc_sigmoid_params",
    "mcuc_hard_swish_s8": "mcuc_hard_swish_params",
    "mcuc_leaky_relu_s8": "mcuc_leaky_relu_params",
    "mcuc_mean_s8": "mcuc_mean_params",
    "mcuc_requantize_s8": "mcuc_requant_params",
}


from mcucompile.passes import activation_params as ap  # noqa: E402


# ------------------------------------------------------------------ C structs from the header

_CTYPES = {"int32_t": ctypes.c_int32, "int16_t": ctypes.c_int16}


def _parse_structs(header: str) -> dict[str, list[tuple[str, str]]]:
    """Field lists (name, C type) of the flat int32/int16 structs we call."""
    out = {}
    for body, name in re.findall(r"typedef struct \{(.*?)\}\s*(\w+)\s*;", header, re.S):
        if name not in KERNELS.values():
            continue
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            ctype, names = decl.split(None, 1)
            assert ctype in _CTYPES, f"{name}: unexpected field type {ctype}"
            fields += [(n.strip(), ctype) for n in names.split(",")]
        out[name] = fields
    return out


STRUCT_FIELDS = _parse_structs((INCLUDE / "mcuc_runtime.h").read_text())
STRUCTS = {
    name: type(name, (ctypes.Structure,), {"_fields_": [(f, _CTYPES[t]) for f, t in fields]})
    for name, fields in STRUCT_FIELDS.items()
}


def _layout_c_source() -> str:
    lines = ['#include <stddef.h>', '#include "mcuc_runtime.h"', "const long mcuc_test_layout[] = {"]
    for name, fields in STRUCT_FIELDS.items():
        lines.append(f"  (long)sizeof({name}),")
        lines += [f"  (long)offsetof({name}, {f})," for f, _ in fields]
    lines.append("};")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mcuc_act")


@pytest.fixture(scope="module")
def lib(build_dir):
    layout = build_dir / "layout.c"
    layout.write_text(_layout_c_source())
    so = build_dir / "libmcuc_act.so"
    cmd = ["gcc", *STRICT, "-shared", "-fPIC", f"-I{INCLUDE}", *map(str, SOURCES), str(layout),
           "-o", str(so)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    dll = ctypes.CDLL(str(so))
    for fn, struct in KERNELS.items():
        f = getattr(dll, fn)
        f.argtypes = [ctypes.POINTER(STRUCTS[struct]), ctypes.c_void_p, ctypes.c_void_p]
        f.restype = None
    return dll


def run_kernel(lib, kernel: str, params: dict, x: np.ndarray) -> np.ndarray:
    struct = STRUCTS[KERNELS[kernel]]
    names = [f for f, _ in struct._fields_]
    assert sorted(params) == sorted(names), f"{kernel}: keys {sorted(params)} != {sorted(names)}"
    p = struct(**{k: int(v) for k, v in params.items()})
    for k, v in params.items():  # no silent truncation into int16/int32 fields
        assert getattr(p, k) == v, f"{kernel}.{k}={v} does not fit its C type"
    x = np.ascontiguousarray(x, dtype=np.int8)
    y = np.full(x.size if kernel != "mcuc_mean_s8" else _mean_out_size(params), 77, np.int8)
    getattr(lib, kernel)(ctypes.byref(p), x.ctypes.data, y.ctypes.data)
    return y


def _mean_out_size(params: dict) -> int:
    return params["outer"] * params["inner"]


# ------------------------------------------------------------------ TensorFlow / TFLM side

_TF = None


def tf_mod():
    global _TF
    if _TF is None:
        import tensorflow as tf  # noqa: PLC0415 (slow import, only when needed)
        tf.get_logger().setLevel("ERROR")
        _TF = tf
    return _TF


class _LazyTF:
    """tensorflow by name: `TF.nn.softmax` is the path ("nn", "softmax") until it is called
    (during a conversion), so fixtures whose conversions all come from the cache (convert)
    never import TensorFlow (7 s)."""

    def __init__(self, path=()):
        self._path = path

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _LazyTF(self._path + (name,))

    def resolve(self):
        obj = tf_mod()
        for name in self._path:
            obj = getattr(obj, name)
        return obj

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __repr__(self):
        return ".".join(("tf",) + self._path)


TF = _LazyTF()


def schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as sch
    return sch


def convert(fn, shape, input_range, seed=0) -> bytes:
    """Full-int8 conversion of a one-input tf function, cached on disk (modelgen.on_disk)
    by the function's source and defaults, the arguments and this conversion's source."""
    from importlib.metadata import version

    import modelgen
    key = f"{_fn_key(fn)}|{tuple(shape)}|{tuple(input_range)}|{seed}|" \
          f"{inspect.getsource(_convert)}|{version('tensorflow')}"
    return modelgen.on_disk("activation", key, lambda: _convert(fn, shape, input_range, seed))


def _fn_key(fn) -> str:
    """What a function computes, as text: a lambda or local function by its source and the
    values it closes over or defaults to, a library function by its qualified name."""
    def show(v):
        if isinstance(v, _LazyTF) or not callable(v):
            return repr(v)
        return f"{v.__module__}.{v.__qualname__}"
    if isinstance(fn, _LazyTF) or fn.__module__ != __name__:
        return show(fn)
    cells = [c.cell_contents for c in fn.__closure__ or ()]
    return f"{inspect.getsource(fn).strip()}|{[show(v) for v in (fn.__defaults__ or ())]}|" \
           f"{[show(v) for v in cells if not inspect.ismodule(v)]}"


def _convert(fn, shape, input_range, seed) -> bytes:
    tf = tf_mod()
    fn = fn.resolve() if isinstance(fn, _LazyTF) else fn
    f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)], autograph=False)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    rng = np.random.default_rng(seed)
    lo, hi = input_range

    def rep():
        for _ in range(24):
            yield [rng.uniform(lo, hi, size=shape).astype(np.float32)]
        # make sure the calibrated range reaches both ends
        yield [np.full(shape, lo, np.float32)]
        yield [np.full(shape, hi, np.float32)]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return conv.convert()


def _op_name(model, op) -> str:
    sch = schema()
    oc = model.operatorCodes[op.opcodeIndex]
    code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
    names = {v: k for k, v in vars(sch.BuiltinOperator).items() if not k.startswith("_")}
    return names[code]


def op_names(model_bytes: bytes) -> list[str]:
    sch = schema()
    m = sch.ModelT.InitFromObj(sch.Model.GetRootAsModel(model_bytes, 0))
    return [_op_name(m, op) for op in m.subgraphs[0].operators]


def _quant(t) -> tuple[float, int]:
    q = t.quantization
    assert q is not None and q.scale is not None and len(q.scale) == 1, "per-tensor quant expected"
    return float(np.float32(q.scale[0])), int(q.zeroPoint[0])


def cut_op(model_bytes: bytes, op_type: str, occurrence: int = 0, *, in_quant=None,
           out_quant=None, options=None):
    """Single-op model holding the `occurrence`-th op of type `op_type` of a converted model.

    in_quant / out_quant: optional (scale, zero_point) overriding the op's tensors' quant;
    options: optional dict of builtin-option attributes to overwrite.
    Returns (model bytes, info dict with the op's quantisation, shapes and options).
    """
    import flatbuffers
    sch = schema()
    m = sch.ModelT.InitFromObj(sch.Model.GetRootAsModel(model_bytes, 0))
    sg = m.subgraphs[0]
    ops = [op for op in sg.operators if _op_name(m, op) == op_type]
    assert len(ops) > occurrence, f"{op_type} not found in converted model: {op_names(model_bytes)}"
    op = ops[occurrence]
    tin, tout = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
    for t, q in ((tin, in_quant), (tout, out_quant)):
        assert t.type == sch.TensorType.INT8
        if q is not None:
            t.quantization.scale = [float(q[0])]
            t.quantization.zeroPoint = [int(q[1])]
    if options:
        for k, v in options.items():
            assert hasattr(op.builtinOptions, k), k
            setattr(op.builtinOptions, k, v)
    sg.operators = [op]
    sg.inputs = [int(op.inputs[0])]
    sg.outputs = [int(op.outputs[0])]
    m.signatureDefs = None
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    info = dict(in_quant=_quant(tin), out_quant=_quant(tout),
                in_shape=tuple(int(d) for d in tin.shape),
                out_shape=tuple(int(d) for d in tout.shape),
                options=op.builtinOptions, inputs=list(op.inputs))
    info["const_inputs"] = [
        np.frombuffer(bytes(m.buffers[sg.tensors[i].buffer].data), np.int32)
        if m.buffers[sg.tensors[i].buffer].data is not None else None
        for i in list(op.inputs)[1:]]
    return bytes(b.Output()), info


def tflm_run(model_bytes: bytes, xs: list[np.ndarray]) -> list[np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime
    ip = runtime.Interpreter.from_bytes(model_bytes, arena_size=ARENA)
    outs = []
    for x in xs:
        ip.set_input(x, 0)
        ip.invoke()
        outs.append(np.array(ip.get_output(0), dtype=np.int8).copy())
    return outs


def tflm_io_quant(model_bytes: bytes):
    from tflite_micro.python.tflite_micro import runtime
    ip = runtime.Interpreter.from_bytes(model_bytes, arena_size=ARENA)

    def q(d):
        p = d["quantization_parameters"]
        return float(np.float32(p["scales"][0])), int(p["zero_points"][0])
    return q(ip.get_input_details(0)), q(ip.get_output_details(0))


class Case:
    """One kernel invocation with its TFLM reference output."""

    def __init__(self, label, kernel, params, x, expected):
        self.label, self.kernel, self.params = label, kernel, params
        self.x = np.ascontiguousarray(x, np.int8).reshape(-1)
        self.expected = np.asarray(expected, np.int8).reshape(-1)


def check_cases(lib, cases: list[Case]):
    assert cases
    bad = []
    for c in cases:
        got = run_kernel(lib, c.kernel, c.params, c.x)
        if not np.array_equal(got, c.expected):
            idx = np.nonzero(got != c.expected)[0]
            bad.append(f"{c.label}: {idx.size} mismatches, first at {idx[0]}: input "
                       f"{c.x[idx[0]] if c.x.size == got.size else '-'} got {got[idx[0]]} "
                       f"tflm {c.expected[idx[0]]} params {c.params}")
    assert not bad, "\n".join(bad)


def _ranges():
    return [(f, (BASE_RANGE[0] * f, BASE_RANGE[1] * f)) for f in RANGE_FACTORS]


def elementwise_cases(fn, op_type, kernel, params_fn, tag, edits=()):
    """Converter models over three input ranges plus quant/option-edited variants.

    params_fn(info) -> params dict. edits: list of dicts with in_quant/out_quant/options."""
    cases = []
    x = ALL_INT8.reshape(1, 256)
    for factor, rng in _ranges():
        model = convert(fn, (1, 256), rng)
        assert op_type in op_names(model), f"{op_type} missing: {op_names(model)}"
        single, info = cut_op(model, op_type)
        assert op_names(single) == [op_type]
        # quant seen by the TFLM interpreter == quant read from the flatbuffer
        assert tflm_io_quant(single) == (info["in_quant"], info["out_quant"])
        (y,) = tflm_run(single, [x])
        cases.append(Case(f"{tag} range x{factor} q={info['in_quant']}->{info['out_quant']}",
                          kernel, params_fn(info), x, y))
        last = model
    for e in edits:
        single, info = cut_op(last, op_type, **e)
        (y,) = tflm_run(single, [x])
        cases.append(Case(f"{tag} edited {e}", kernel, params_fn(info), x, y))
    return cases


# ------------------------------------------------------------------ case fixtures

@pytest.fixture(scope="module")
def logistic_cases():
    tf = TF

    def params(info):
        (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
        return ap.logistic_params(s, z, 256, output_scale=os_, output_zp=oz)

    edits = [dict(in_quant=(s, z)) for s in (1e-3, 1.0 / 128, 0.05, 0.5, 3.0)
             for z in (-128, 0, 77, 127)]
    return elementwise_cases(tf.sigmoid, "LOGISTIC", "mcuc_logistic_s8", params, "logistic",
                             edits)


@pytest.fixture(scope="module")
def tanh_cases():
    tf = TF

    def params(info):
        (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
        return ap.tanh_params(s, z, 256, output_scale=os_, output_zp=oz)

    edits = [dict(in_quant=(s, z)) for s in (1e-3, 1.0 / 128, 0.05, 0.5, 3.0)
             for z in (-128, 0, 77, 127)]
    return elementwise_cases(tf.tanh, "TANH", "mcuc_tanh_s8", params, "tanh", edits)


def _hs_params(info):
    (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
    return ap.hard_swish_params(s, z, os_, oz, 256)


HS_EDITS = [
    dict(in_quant=(0.01, 0), out_quant=(0.01, 0)),
    dict(in_quant=(0.5, -20), out_quant=(0.02, 10)),       # reluish left-shift path
    dict(in_quant=(4.0, 5), out_quant=(1.0, -3)),          # large reluish exponent
    dict(in_quant=(0.001, 100), out_quant=(1.0, -100)),    # output exponent < -16 (int16 quirk)
    dict(in_quant=(1e-4, -128), out_quant=(0.002, 127)),   # reluish right shift by many bits
    dict(in_quant=(0.2, 127), out_quant=(0.0016, -128)),   # output multiplier close to 1
    dict(in_quant=(1e-5, 0), out_quant=(1.0, 0)),          # output exponent -23
    dict(in_quant=(1e-7, 3), out_quant=(1e-7, -3)),        # reluish exponent < -16
]


@pytest.fixture(scope="module")
def hard_swish_cases():
    tf = TF

    def hswish(x):
        return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    return elementwise_cases(hswish, "HARD_SWISH", "mcuc_hard_swish_s8", _hs_params,
                             "hard_swish", HS_EDITS)


@pytest.fixture(scope="module")
def leaky_cases():
    tf = TF
    cases = []
    for alpha in (0.2, 0.01):
        def leaky(x, alpha=alpha):
            return tf.nn.leaky_relu(x, alpha)

        def params(info):
            (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
            return ap.leaky_relu_params(info["options"].alpha, s, z, os_, oz, 256)

        edits = []
        if alpha == 0.2:
            edits = [dict(options=dict(alpha=-0.3)), dict(options=dict(alpha=1.7)),
                     dict(in_quant=(0.05, 30), out_quant=(0.001, -100)),
                     dict(in_quant=(0.001, -128), out_quant=(0.3, 127))]
        got = elementwise_cases(leaky, "LEAKY_RELU", "mcuc_leaky_relu_s8", params,
                                f"leaky_relu alpha={alpha}", edits)
        for c in got:
            assert c.params["mult_alpha"] != 0
        cases += got
    return cases


RELU_EDITS = [dict(in_quant=(0.02, -5), out_quant=(0.02, -5)),
              dict(in_quant=(0.1, 100), out_quant=(0.01, -128)),
              dict(in_quant=(0.001, -100), out_quant=(0.5, 127)),
              dict(in_quant=(1e-6, 0), out_quant=(1.0, 3))]


@pytest.fixture(scope="module")
def relu_cases():
    tf = TF

    def params(kind):
        def f(info):
            (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
            return ap.relu_params(kind, s, z, os_, oz, 256)
        return f

    cases = elementwise_cases(tf.nn.relu, "RELU", "mcuc_requantize_s8", params("RELU"),
                              "relu", RELU_EDITS)
    cases += elementwise_cases(tf.nn.relu6, "RELU6", "mcuc_requantize_s8", params("RELU6"),
                               "relu6", RELU_EDITS + [dict(in_quant=(0.01, -128)),
                                                      dict(in_quant=(2.5, 60))])
    return cases


@pytest.fixture(scope="module")
def quantize_cases():
    """QUANTIZE int8 -> int8 as inserted by the converter: concatenating x with sigmoid(x) /
    tanh(x) forces the fixed-scale activation output to be requantized to the concat scale."""
    tf = TF
    cases = []
    x = ALL_INT8.reshape(1, 256)

    def qparams(info):
        (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
        return ap.quantize_params(s, z, os_, oz, 256)

    for name, act in (("sigmoid", tf.sigmoid), ("tanh", tf.tanh)):
        for factor, rng in _ranges():
            def fn(v, act=act):
                return tf.concat([v, act(v)], axis=-1)
            model = convert(fn, (1, 256), rng)
            assert "QUANTIZE" in op_names(model), op_names(model)
            single, info = cut_op(model, "QUANTIZE")
            (y,) = tflm_run(single, [x])
            cases.append(Case(f"quantize after {name} x{factor} {info['in_quant']}->"
                              f"{info['out_quant']}", "mcuc_requantize_s8", qparams(info), x, y))
    for iq, oq in (((0.1, 3), (0.01, -7)), ((1e-4, -128), (1.0, 127)), ((1e-10, 5), (1.0, -9)),
                   ((0.05, 0), (0.05, 10)), ((0.0078125, -128), (0.00390625, -128))):
        single, info = cut_op(model, "QUANTIZE", in_quant=iq, out_quant=oq)
        (y,) = tflm_run(single, [x])
        cases.append(Case(f"quantize edited {iq}->{oq}", "mcuc_requantize_s8", qparams(info),
                          x, y))
    return cases


def _softmax_rows(rng, rows, depth, params_scale_beta, diff_min):
    """Random int8 rows whose sum of exps stays below TFLM's abort bound (512)."""
    scale, beta = params_scale_beta

    def sum_of_exps(r):
        d = r.astype(np.int64) - int(r.max())
        return np.exp(beta * scale * d[d >= diff_min]).sum()

    out = []
    while len(out) < rows:
        kind = len(out) % 4
        if kind == 0:
            r = rng.integers(-128, 128, depth)
        elif kind == 1:
            r = rng.integers(-128, 128, depth)
            r[rng.integers(0, depth)] = 127
        elif kind == 2:
            r = np.full(depth, rng.integers(-128, 128))
        else:
            c = rng.integers(-100, 100)
            r = np.clip(c + rng.integers(-20, 21, depth), -128, 127)
        # thin the row out (entries -> -128, one maximum kept) until it is below the bound
        while sum_of_exps(r) >= 400:
            if r.max() < -60:
                r[rng.integers(0, depth)] = 127
            m = int(np.argmax(r))
            top = r[m]
            r[rng.choice(depth, max(1, depth // 3), replace=False)] = -128
            r[m] = top
        out.append(r.astype(np.int8))
    return np.stack(out)


SOFTMAX_NOT_RUN: list[tuple[int, float, float]] = []


@pytest.fixture(scope="module")
def softmax_cases():
    tf = TF
    cases = []
    rng = np.random.default_rng(1234)

    def add(single, info, depth, label):
        s, _ = info["in_quant"]
        os_, oz = info["out_quant"]
        beta = float(np.float32(info["options"].beta))
        rows = 16 if depth <= 12 else 3
        p = ap.softmax_params(s, beta, rows, depth, output_scale=os_, output_zp=oz)
        if depth * np.exp(-255.0 * beta * s) >= 400:
            # every row would reach TFLM's abort bound (see module docstring): recorded and
            # checked in test_softmax
            SOFTMAX_NOT_RUN.append((depth, s, beta))
            return False
        x = _softmax_rows(rng, rows, depth, (s, beta), p["diff_min"])
        (y,) = tflm_run(single, [x])
        cases.append(Case(f"softmax {label} depth={depth} scale={s} beta={beta}",
                          "mcuc_softmax_s8", p, x, y))
        return True

    ran = set()
    for depth in (1, 10, 12, 1000):
        for factor, rng_in in _ranges():
            model = convert(tf.nn.softmax, (1, depth), rng_in)
            single0, _ = cut_op(model, "SOFTMAX")
            # TFLM runs (rows, depth) inputs: rebuild the cut-out model with that shape
            single, info = _reshape_io(single0, rows=16 if depth <= 12 else 3)
            if add(single, info, depth, f"x{factor}"):
                ran.add((depth, factor))
        for beta, iq in ((2.0, None), (0.5, (0.05, 3)), (1.0, (1.0, -128)), (1.0, (1e-5, 0))):
            single, info = _reshape_io(cut_op(model, "SOFTMAX", in_quant=iq,
                                              options=dict(beta=beta))[0],
                                       rows=16 if depth <= 12 else 3)
            add(single, info, depth, f"edited beta={beta} q={iq}")
    # every depth ran with the converter's own quantisation at least once
    assert {d for d, _ in ran} == {1, 10, 12, 1000}, ran
    return cases


def _reshape_io(model_bytes, rows):
    """Give the single op's input/output tensors a leading dimension of `rows`."""
    import flatbuffers
    sch = schema()
    m = sch.ModelT.InitFromObj(sch.Model.GetRootAsModel(model_bytes, 0))
    sg = m.subgraphs[0]
    op = sg.operators[0]
    for ti in (op.inputs[0], op.outputs[0]):
        t = sg.tensors[ti]
        t.shape = [rows, int(t.shape[-1])]
        t.shapeSignature = None
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    out = bytes(b.Output())
    info = dict(in_quant=_quant(sg.tensors[op.inputs[0]]),
                out_quant=_quant(sg.tensors[op.outputs[0]]), options=op.builtinOptions)
    return out, info


MEAN_CONFIGS = [
    # (input shape, axes, keepdims)
    ((1, 4, 8, 8), (1, 2), True),
    ((1, 4, 8, 8), (1, 2), False),
    ((1, 4, 8, 8), (3,), False),
    ((1, 4, 8, 8), (1,), True),
    ((1, 4, 8, 8), (2, 3), True),
    ((2, 4, 4, 8), (0, 1), False),
    ((2, 4, 4, 8), (-2,), True),
    ((2, 4, 4, 8), (1, 2, 3), False),
    ((2, 4, 4, 8), (0, 1, 2, 3), True),
    ((2, 2, 2, 4, 8), (1, 2), False),
    ((2, 1, 2, 4, 2, 8), (2, 3, 4), True),
]


@pytest.fixture(scope="module")
def mean_cases():
    tf = TF
    cases = []
    rng = np.random.default_rng(99)

    def inputs(shape):
        xs = [rng.permutation(ALL_INT8).reshape(shape) for _ in range(3)]
        xs += [rng.integers(-128, 128, size=shape).astype(np.int8) for _ in range(3)]
        xs += [np.full(shape, v, np.int8) for v in (-128, 127, -1)]
        return xs

    def add(single, info, axes, keep, label):
        (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
        assert tuple(info["const_inputs"][0].tolist()) == tuple(axes)
        p = ap.mean_params(info["in_shape"], axes, s, z, os_, oz, keep)
        xs = inputs(info["in_shape"])
        ys = tflm_run(single, xs)
        for i, (x, y) in enumerate(zip(xs, ys)):
            assert y.size == int(np.prod(info["out_shape"]))
            cases.append(Case(f"mean {label} in#{i} mode={p['mode']}", "mcuc_mean_s8", p, x, y))
        return p

    for shape, axes, keep in MEAN_CONFIGS:
        factors = RANGE_FACTORS if (axes, keep) == ((1, 2), True) else (1.0,)
        for factor in factors:
            rng_in = (BASE_RANGE[0] * factor, BASE_RANGE[1] * factor)

            def fn(v, axes=axes, keep=keep):
                return tf.reduce_mean(v, axis=list(axes), keepdims=keep)
            model = convert(fn, shape, rng_in)
            single, info = cut_op(model, "MEAN")
            label = f"{shape} axes={axes} keep={keep} x{factor}"
            add(single, info, axes, keep, label)
        # same input / output quantisation -> TFLM's plain integer mean
        s, z = info["in_quant"]
        for zq in (z, 100):
            single, info2 = cut_op(model, "MEAN", in_quant=(s, zq), out_quant=(s, zq))
            add(single, info2, axes, keep, label + f" same-q zp={zq}")
        single, info2 = cut_op(model, "MEAN", in_quant=(0.5, -128), out_quant=(1e-3, 127))
        add(single, info2, axes, keep, label + " edited big multiplier")
    # the pinned TFLM requantizes in every case, identical quantisation included
    assert {c.params["mode"] for c in cases} == {ap.MEAN_MODE_REQUANT}
    assert any(c.params["input_zp"] == c.params["output_zp"] and "same-q" in c.label
               for c in cases)
    return cases


# ------------------------------------------------------------------ the tests

def test_struct_layout_matches_header(lib):
    """ctypes layouts (parsed from mcuc_runtime.h) agree with the C compiler's."""
    assert set(STRUCT_FIELDS) == set(KERNELS.values())
    n = sum(1 + len(f) for f in STRUCT_FIELDS.values())
    arr = (ctypes.c_long * n).in_dll(lib, "mcuc_test_layout")
    i = 0
    for name, fields in STRUCT_FIELDS.items():
        st = STRUCTS[name]
        assert arr[i] == ctypes.sizeof(st), name
        for k, (f, _) in enumerate(fields):
            assert arr[i + 1 + k] == getattr(st, f).offset, (name, f)
        i += 1 + len(fields)


def test_quantize_multiplier():
    qm = ap.quantize_multiplier
    assert qm(0.0) == (0, 0)
    assert qm(1.0) == (1 << 30, 1)
    assert qm(0.5) == (1 << 30, 0)
    assert qm(-0.75) == (-(3 << 29), 0)
    # mantissa rounding up to 2^31 is renormalised
    assert qm(1.0 - 2.0 ** -40) == (1 << 30, 1)
    # half away from zero on an exact tie of the Q31 mantissa
    assert qm((2 ** 30 + 0.5) / 2 ** 31) == (2 ** 30 + 1, 0)
    assert qm(-(2 ** 30 + 0.5) / 2 ** 31) == (-(2 ** 30 + 1), 0)
    # below 2^-32 the multiplier flushes to zero
    assert qm(2.0 ** -32) == (1 << 30, -31)
    assert qm(2.0 ** -33) == (0, 0)
    assert qm(2.0 ** -40) == (0, 0)


def test_softmax(lib, softmax_cases):
    check_cases(lib, softmax_cases)
    # only depth-1000 rows at input scales where no row can stay below TFLM's abort bound
    # (sum of exps < 512) were left out
    assert all(d == 1000 and s * b < 0.01 for d, s, b in SOFTMAX_NOT_RUN), SOFTMAX_NOT_RUN
    assert len({(c.params["depth"], c.label) for c in softmax_cases}) >= 25


def test_logistic(lib, logistic_cases):
    check_cases(lib, logistic_cases)


def test_tanh(lib, tanh_cases):
    check_cases(lib, tanh_cases)


def test_hard_swish(lib, hard_swish_cases):
    check_cases(lib, hard_swish_cases)


def test_leaky_relu(lib, leaky_cases):
    check_cases(lib, leaky_cases)


def test_relu_relu6(lib, relu_cases):
    check_cases(lib, relu_cases)


def test_quantize_int8_to_int8(lib, quantize_cases):
    check_cases(lib, quantize_cases)


def test_mean(lib, mean_cases):
    check_cases(lib, mean_cases)


def _f(v) -> float:
    return float(np.float32(v))


def _ff_div(a, b) -> float:
    """float32 a / float32 b, widened (what C++ does on two floats)."""
    return float(np.float32(np.float32(a) / np.float32(b)))


def _with_mult(params, keys, real):
    p = dict(params)
    p[keys[0]], p[keys[1]] = ap.quantize_multiplier(real)
    return p


SCALES = [_f(a / 255.0) for a in range(1, 41)] + [_f(a / 127.0) for a in range(1, 21)]


def _discriminating(lib, kernel, good, bad, candidates, x):
    """First candidate for which TFLM's float/double choice (good) and the other choice (bad)
    make the kernel produce different bytes."""
    for cand in candidates:
        pg, pb = good(*cand), bad(*cand)
        if pg != pb:
            yg, yb = run_kernel(lib, kernel, pg, x), run_kernel(lib, kernel, pb, x)
            if not np.array_equal(yg, yb):
                return cand, pg, yg
    raise AssertionError(f"{kernel}: no discriminating candidate found")


def test_float_vs_double_choices_against_tflm(lib):
    """Where TFLM computes a ratio in float32 and where in double matters for some scales; for
    each op, find quantisations where the two choices give different bytes and check TFLM agrees
    with the choice made in activation_params."""
    tf = TF
    x = ALL_INT8.reshape(1, 256)
    pairs = [(a, 0, b, 0) for a in SCALES for b in SCALES if a != b]

    def check(model, op_type, kernel, good, bad, candidates, quant_of, xin=x, options_of=None):
        cand, p, y_ours = _discriminating(lib, kernel, good, bad, candidates, xin)
        iq, oq = quant_of(cand)
        single, _ = cut_op(model, op_type, in_quant=iq, out_quant=oq,
                           options=options_of(cand) if options_of else None)
        (y,) = tflm_run(single, [xin])
        assert np.array_equal(y.reshape(-1), y_ours), (op_type, cand, p)

    io = lambda c: ((c[0], c[1]), (c[2], c[3]))  # noqa: E731

    # RELU: double(in) / double(out)
    model = convert(tf.nn.relu, (1, 256), BASE_RANGE)
    good = lambda s, z, o, oz: ap.relu_params("RELU", s, z, o, oz, 256)  # noqa: E731
    bad = lambda s, z, o, oz: _with_mult(good(s, z, o, oz), ("mult", "shift"),  # noqa: E731
                                         _ff_div(s, o))
    check(model, "RELU", "mcuc_requantize_s8", good, bad, pairs, io)

    # QUANTIZE: double(in) / double(out)
    model = convert(lambda v: tf.concat([v, tf.sigmoid(v)], axis=-1), (1, 256), BASE_RANGE)
    good = lambda s, z, o, oz: ap.quantize_params(s, z, o, oz, 256)  # noqa: E731
    bad = lambda s, z, o, oz: _with_mult(good(s, z, o, oz), ("mult", "shift"),  # noqa: E731
                                         _ff_div(s, o))
    check(model, "QUANTIZE", "mcuc_requantize_s8", good, bad, pairs, io)

    # LEAKY_RELU: identity ratio and alpha ratio both in double (older TFLM: float32)
    model = convert(lambda v: tf.nn.leaky_relu(v, 0.2), (1, 256), BASE_RANGE)
    good = lambda s, z, o, oz: ap.leaky_relu_params(0.2, s, z, o, oz, 256)  # noqa: E731
    bad = lambda s, z, o, oz: _with_mult(good(s, z, o, oz), ("mult_identity", "shift_identity"),  # noqa: E731,E501
                                         _ff_div(s, o))
    check(model, "LEAKY_RELU", "mcuc_leaky_relu_s8", good, bad, pairs, io)
    alphas = [_f(a) for a in (0.2, 0.1, 0.3, 0.01, 0.05, 0.7)]
    cands = [(al, s, 0, o, 0) for al in alphas for s in SCALES for o in SCALES]
    good = lambda al, s, z, o, oz: ap.leaky_relu_params(al, s, z, o, oz, 256)  # noqa: E731
    for alpha_bad in (lambda al, s, o: _ff_div(np.float32(s) * np.float32(al), o),
                      lambda al, s, o: _f(np.float32(s) * np.float32(al)) / _f(o)):
        def bad(al, s, z, o, oz, alpha_bad=alpha_bad):
            return _with_mult(good(al, s, z, o, oz), ("mult_alpha", "shift_alpha"),
                              alpha_bad(al, s, o))
        check(model, "LEAKY_RELU", "mcuc_leaky_relu_s8", good, bad, cands,
              lambda c: ((c[1], c[2]), (c[3], c[4])), options_of=lambda c: dict(alpha=c[0]))

    # HARD_SWISH: both ratios in double (older TFLM: float32)
    model = convert(lambda v: v * tf.nn.relu6(v + 3.0) * (1.0 / 6.0), (1, 256), BASE_RANGE)
    cands = [(s, 0, o, 0) for s in SCALES for o in SCALES if s / (128 * o) < 1]

    def hs_bad(which):
        def bad(s, z, o, oz):
            p = ap.hard_swish_params(s, z, o, oz, 256)
            hires = np.float32(s) / np.float32(128.0)
            if which == "output":
                m, e = ap.quantize_multiplier(_f(hires / np.float32(o)))
                p["output_mult_fixedpoint_int16"], p["output_mult_exponent"] = \
                    min((m + (1 << 15)) >> 16, 32767), e
            else:
                m, e = ap.quantize_multiplier(_f(hires / np.float32(3.0 / 32768.0)))
                p["reluish_mult_fixedpoint_int16"], p["reluish_mult_exponent"] = \
                    min((m + (1 << 15)) >> 16, 32767), e
            return p
        return bad
    hs_good = lambda s, z, o, oz: ap.hard_swish_params(s, z, o, oz, 256)  # noqa: E731
    check(model, "HARD_SWISH", "mcuc_hard_swish_s8", hs_good, hs_bad("output"), cands, io)
    # The reluish ratio is scale * 256 / 3: its float32 and double values never straddle a
    # Q15 rounding boundary after DownScaleInt32ToInt16Multiplier, so that choice cannot show.
    for c in [(_f(a / 255.0 * 2.0 ** e), 0, 1.0, 0) for e in range(-12, 6) for a in range(1, 256)]:
        assert hs_good(*c) == hs_bad("reluish")(*c), c

    # SOFTMAX: double(beta) * double(scale)
    model = convert(tf.nn.softmax, (1, 10), BASE_RANGE)
    # (the float32 product moves the multiplier by ~2^7 units of 2^31: rarely visible in 8-bit
    # outputs, hence the wide search)
    rows = np.random.default_rng(3).integers(-128, 128, size=(64, 10)).astype(np.int8)
    betas = [_f(b) for b in np.linspace(3.0, 0.11, 80)]
    cands = [(b, s) for b in betas for s in SCALES]
    good = lambda b, s: ap.softmax_params(s, b, 64, 10)  # noqa: E731

    def sm_bad(b, s):
        p = dict(good(b, s))
        real = _f(np.float32(b) * np.float32(s)) * float(1 << 26)
        p["input_mult"], p["input_left_shift"] = ap.quantize_multiplier(real)
        return p
    cand, p, y_ours = _discriminating(lib, "mcuc_softmax_s8", good, sm_bad, cands, rows)
    single, _ = _reshape_io(cut_op(model, "SOFTMAX", in_quant=(cand[1], 0),
                                   options=dict(beta=cand[0]))[0], rows=64)
    (y,) = tflm_run(single, [rows])
    assert np.array_equal(y.reshape(-1), y_ours), ("SOFTMAX", cand, p)

    # MEAN: double(in) / double(out), then 1/count folded in
    model = convert(lambda v: tf.reduce_mean(v, axis=[1, 2], keepdims=True), (1, 4, 8, 8),
                    BASE_RANGE)
    xm = np.random.default_rng(4).permutation(ALL_INT8).reshape(1, 4, 8, 8)
    good = lambda s, z, o, oz: ap.mean_params((1, 4, 8, 8), (1, 2), s, z, o, oz, True)  # noqa: E731,E501

    def mean_bad(s, z, o, oz):
        p = dict(good(s, z, o, oz))
        m, sh = ap.quantize_multiplier(_ff_div(s, o))
        k = min(5, 32, 31 + sh)  # count 32 = 2^5
        p["mult"], p["shift"] = (m << k) // 32, sh - k
        return p
    check(model, "MEAN", "mcuc_mean_s8", good, mean_bad, pairs, io, xin=xm)


def test_logistic_then_quantize_whole_model(lib):
    """The unmodified converted model x -> [x, QUANTIZE(LOGISTIC(x))]: the second half of the
    TFLM output equals our logistic kernel followed by our requantize kernel."""
    tf = TF
    model = convert(lambda v: tf.concat([v, tf.sigmoid(v)], axis=-1), (1, 256), BASE_RANGE)
    assert op_names(model) == ["LOGISTIC", "QUANTIZE", "CONCATENATION"]
    _, li = cut_op(model, "LOGISTIC")
    _, qi = cut_op(model, "QUANTIZE")
    x = ALL_INT8.reshape(1, 256)
    (y,) = tflm_run(model, [x])
    (s, z) = li["in_quant"]
    mid = run_kernel(lib, "mcuc_logistic_s8", ap.logistic_params(s, z, 256), x)
    (qs, qz), (os_, oz) = qi["in_quant"], qi["out_quant"]
    out = run_kernel(lib, "mcuc_requantize_s8", ap.quantize_params(qs, qz, os_, oz, 256), mid)
    assert np.array_equal(y.reshape(-1)[256:], out)


@pytest.mark.slow          # runs tf.lite.Interpreter: imports TensorFlow (about 6 s)
def test_relu_n1_to_1_not_in_tflm_matches_tflite(lib):
    """TFLM has no RELU_N1_TO_1 kernel (the model is refused); our params follow TFLite's
    ReluPrepare / QuantizedReluX, checked against tf.lite.Interpreter's reference kernels for
    this op only. The x1 range has in/out scale ratio 2.4999999 in double but exactly 2.5 in
    float32: ties there pin down the float32 division."""
    tf = tf_mod()
    x = ALL_INT8.reshape(1, 256)
    for factor, rng in _ranges():
        model = convert(lambda v: tf.clip_by_value(v, -1.0, 1.0), (1, 256), rng)
        single, info = cut_op(model, "RELU_N1_TO_1")
        with pytest.raises(Exception):
            tflm_run(single, [x])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter deprecation notice
            ip = tf.lite.Interpreter(
                model_content=single,
                experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
        ip.allocate_tensors()
        ip.set_tensor(ip.get_input_details()[0]["index"], x)
        ip.invoke()
        y = ip.get_tensor(ip.get_output_details()[0]["index"])
        (s, z), (os_, oz) = info["in_quant"], info["out_quant"]
        got = run_kernel(lib, "mcuc_requantize_s8",
                         ap.relu_params("RELU_N1_TO_1", s, z, os_, oz, 256), x)
        assert np.array_equal(got, y.reshape(-1)), factor


def test_rejections_match_tflm():
    """Quantisations TFLM refuses are refused by the param functions too."""
    tf = TF
    x = ALL_INT8.reshape(1, 256)
    # HARD_SWISH with input_scale / (128 * output_scale) >= 1
    model = convert(lambda v: v * tf.nn.relu6(v + 3.0) * (1.0 / 6.0), (1, 256), BASE_RANGE)
    single, _ = cut_op(model, "HARD_SWISH", in_quant=(0.5, 0), out_quant=(0.001, 0))
    with pytest.raises(Exception):
        tflm_run(single, [x])
    with pytest.raises(ValueError):
        ap.hard_swish_params(0.5, 0, 0.001, 0, 256)
    # LOGISTIC output zero point must be -128
    model = convert(tf.sigmoid, (1, 256), BASE_RANGE)
    single, _ = cut_op(model, "LOGISTIC", out_quant=(1.0 / 256, 0))
    with pytest.raises(Exception):
        tflm_run(single, [x])
    with pytest.raises(ValueError):
        ap.logistic_params(0.02, 0, 256, output_scale=1.0 / 256, output_zp=0)
    # SOFTMAX output must be exactly 1/256, -128
    model = convert(tf.nn.softmax, (1, 10), BASE_RANGE)
    for oq in ((1.0 / 255, -128), (1.0 / 256, 0)):
        single, _ = cut_op(model, "SOFTMAX", out_quant=oq)
        with pytest.raises(Exception):
            tflm_run(single, [np.zeros((1, 10), np.int8)])
        with pytest.raises(ValueError):
            ap.softmax_params(0.02, 1.0, 1, 10, output_scale=oq[0], output_zp=oq[1])
    # SOFTMAX multiplier beta * scale * 2^26 must exceed 1 (TFLM aborts otherwise, so only
    # the parameter side is exercised)
    with pytest.raises(ValueError):
        ap.softmax_params(1e-9, 1.0, 1, 10)
    with pytest.raises(ValueError):
        ap.tanh_params(0.02, 0, 256, output_scale=1.0 / 256, output_zp=0)


def test_mean_layouts():
    with pytest.raises(ValueError, match="not adjacent"):
        ap.mean_params((2, 3, 4, 5), (1, 3), 0.1, 0, 0.05, 1, False)
    with pytest.raises(ValueError, match="not adjacent"):
        ap.mean_params((2, 3, 4, 5), (0, -1), 0.1, 0, 0.05, 1, False)
    with pytest.raises(ValueError, match="empty"):
        ap.mean_params((2, 0, 4), (1,), 0.1, 0, 0.05, 1, False)
    # size-1 dimensions do not break adjacency; duplicates / negative axes resolve
    p = ap.mean_params((1, 3, 1, 5), (0, 2, -1, 3), 0.1, 0, 0.05, 1, True)
    assert (p["outer"], p["reduce"], p["inner"]) == (3, 5, 1)
    p = ap.mean_params((2, 3, 4, 5), (0, 0, 1), 0.1, 0, 0.1, 0, True)
    assert (p["outer"], p["reduce"], p["inner"], p["mode"]) == (1, 6, 20, ap.MEAN_MODE_REQUANT)
    # 1/count folded into the multiplier like TFLM: count 6 -> s = 2
    assert (p["mult"], p["shift"]) == (((1 << 30) << 2) // 6, 1 - 2)


def test_mean_truncating_mode(lib):
    """MEAN_MODE_SAME_QPARAMS (not selected for the pinned TFLM) against a numpy model of
    reference_ops::Mean<int8, int32>: raw sum / count, C truncation."""
    rng = np.random.default_rng(5)
    for outer, reduce, inner in ((1, 256, 1), (4, 7, 3), (2, 1, 5), (3, 33, 2)):
        x = rng.integers(-128, 128, size=(outer, reduce, inner)).astype(np.int8)
        s = x.astype(np.int64).sum(axis=1)
        want = (np.sign(s) * (np.abs(s) // reduce)).astype(np.int8).reshape(-1)
        p = dict(outer=outer, reduce=reduce, inner=inner, input_zp=9, output_zp=9,
                 mult=1 << 30, shift=1, mode=ap.MEAN_MODE_SAME_QPARAMS)
        assert np.array_equal(run_kernel(lib, "mcuc_mean_s8", p, x), want)


def _c_array(name, arr, ctype="int8_t"):
    vals = ",".join(str(int(v)) for v in arr)
    return f"static const {ctype} {name}[{max(len(arr), 1)}] = {{{vals}}};"


def _sweep_cases(lib) -> list[Case]:
    """Parameters from a wide random sweep of quantisations (no TFLM run: these only feed the
    sanitizer build, expected bytes from the plain build)."""
    rng = np.random.default_rng(77)
    x = ALL_INT8
    cases = []

    def scale():
        return _f(10.0 ** rng.uniform(-6, 2))

    def zp():
        return int(rng.integers(-128, 128))

    def add(kernel, params, xin=x):
        cases.append(Case(f"sweep {kernel} {params}", kernel, params, xin,
                          run_kernel(lib, kernel, params, xin)))

    for _ in range(40):
        s, z, o, oz = scale(), zp(), scale(), zp()
        add("mcuc_logistic_s8", ap.logistic_params(s, z, 256))
        add("mcuc_tanh_s8", ap.tanh_params(s, z, 256))
        add("mcuc_leaky_relu_s8", ap.leaky_relu_params(_f(rng.uniform(-2, 2)), s, z, o, oz, 256))
        add("mcuc_requantize_s8", ap.quantize_params(s, z, o, oz, 256))
        add("mcuc_requantize_s8", ap.relu_params("RELU", s, z, o, oz, 256))
        add("mcuc_requantize_s8", ap.relu_params("RELU6", s, z, o, oz, 256))
        try:
            add("mcuc_hard_swish_s8", ap.hard_swish_params(s, z, o, oz, 256))
        except ValueError:
            pass  # rejected like TFLM (output exponent > 0)
        try:
            p = ap.softmax_params(s, _f(rng.uniform(0.1, 3)), 8, 32)
            add("mcuc_softmax_s8", p, rng.integers(-128, 128, 256).astype(np.int8))
        except ValueError:
            pass  # beta * scale * 2^26 <= 1, rejected like TFLM
        shape = tuple(int(d) for d in rng.integers(1, 5, 4)) + (16,)
        xm = rng.integers(-128, 128, int(np.prod(shape))).astype(np.int8)
        add("mcuc_mean_s8", ap.mean_params(shape, (1, 2), s, z, o, oz, False), xm)
    return cases


def test_sanitizers_and_exactness_standalone(lib, build_dir, softmax_cases, logistic_cases,
                                             tanh_cases, hard_swish_cases, leaky_cases,
                                             relu_cases, quantize_cases, mean_cases):
    """Every case again, in a C driver built with -fsanitize=address,undefined (exact-size heap
    buffers, so out-of-bounds accesses and signed overflow / bad shifts abort the run), plus a
    wide random sweep of parameters."""
    cases = (softmax_cases + logistic_cases + tanh_cases + hard_swish_cases + leaky_cases
             + relu_cases + quantize_cases + mean_cases + _sweep_cases(lib))
    lines = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
             '#include "mcuc_runtime.h"', ""]
    calls = []
    for i, c in enumerate(cases):
        struct = KERNELS[c.kernel]
        init = ", ".join(f".{k} = {int(v)}" for k, v in c.params.items())
        lines.append(f"static const {struct} p{i} = {{{init}}};")
        lines.append(_c_array(f"x{i}", c.x))
        lines.append(_c_array(f"e{i}", c.expected))
        calls.append(f"  bad += run_case({i}, (kfn)&{c.kernel}, &p{i}, x{i}, {c.x.size}, e{i}, "
                     f"{c.expected.size});")
    lines += [
        "typedef void (*kfn)(const void *, const int8_t *, int8_t *);",
        "static int run_case(int id, kfn f, const void *p, const int8_t *x, size_t nx,",
        "                    const int8_t *e, size_t ne) {",
        "  int8_t *in = malloc(nx), *out = malloc(ne);",
        "  int bad;",
        "  if (!in || !out) return 1;",
        "  memcpy(in, x, nx);",
        "  f(p, in, out);",
        "  bad = memcmp(out, e, ne) != 0;",
        '  if (bad) printf("case %d differs\\n", id);',
        "  free(in); free(out);",
        "  return bad;",
        "}",
        "int main(void) {",
        "  int bad = 0;",
        *calls,
        '  printf("%d cases, %d bad\\n", ' + str(len(cases)) + ", bad);",
        "  return bad != 0;",
        "}",
    ]
    src = build_dir / "driver.c"
    src.write_text("\n".join(lines) + "\n")
    exe = build_dir / "driver_san"
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wno-cast-function-type", "-O1",
           "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-fno-omit-frame-pointer", f"-I{INCLUDE}", str(src), *map(str, SOURCES), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and "runtime error" not in run.stderr, \
        (run.stdout[-3000:] + run.stderr[-3000:])
    assert f"{len(cases)} cases, 0 bad" in run.stdout


def test_cortex_m4_compile(build_dir):
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc is not installed: Cortex-M4 build not checked")
    for src in SOURCES:
        obj = build_dir / (src.stem + ".m4.o")
        res = subprocess.run([cc, "-mcpu=cortex-m4", "-mthumb", *STRICT, "-c", f"-I{INCLUDE}",
                              str(src), "-o", str(obj)], capture_output=True, text=True)
        assert res.returncode == 0, f"{src.name}: {res.stderr}"


def test_host_strict_compile(build_dir):
    """Each source alone, with the exact flags of the brief (also -std=c99 -pedantic)."""
    for src in SOURCES:
        obj = build_dir / (src.stem + ".o")
        res = subprocess.run(["gcc", *STRICT, "-pedantic", "-c", f"-I{INCLUDE}", str(src), "-o",
                              str(obj)], capture_output=True, text=True)
        assert res.returncode == 0, f"{src.name}: {res.stderr}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
