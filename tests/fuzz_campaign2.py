"""A second adversarial campaign, written as an outside attacker would (independent of
tests/fuzzing.py): each case is one `mcucompile` command in its own subprocess and session,
with a timeout and a 4 GiB address-space cap, judged by what a user must always get.

    python tests/fuzz_campaign2.py [--seed 1] [--kinds tflite,onnx,oneop,inject,env,cli]
        [--limit N] [--save DIR] [--timeout 120]

Cases (see the generators below):
- tflite: named field edits through the schema object API (schema_py_generated.ModelT) on
  one-op and small models: each tensor's dtype (int16, uint8, int4, float16, string ...),
  rank, huge/negative/zero dims, empty or short or long buffers, buffers shared between
  tensors, large-model buffer offsets, quantization arrays of other lengths, subgraph
  counts, operator codes and versions, custom options, builtin options of another op,
  fused activations, paddings, duplicate graph outputs, inputs that are outputs, ops
  consuming graph outputs, two writers of one tensor, an op writing a graph input.
- onnx: the same over the ONNX protobuf: elem types, initializer dims against their data,
  external data paths, duplicate and reused names, cycles, empty names, opset and domain
  edits, attributes of the wrong type or length, Gemm alpha/beta, group, quantization
  parameters of other types, shapes and signs.
- oneop: converter-made one-op models of every supported TFLite op and onnxruntime-quantized
  one-op ONNX models with odd parameters (1x1 inputs, kernels as large as the input, strides
  above the input, dilations, depth multipliers, batch > 1, one-way splits ...).
- inject: payloads in every string field of both formats (names, descriptions, metadata,
  doc strings, custom codes, signature keys), built to create a marker file or define a
  marker symbol if they ever reach C, Make or a shell unescaped.
- env: read-only (chattr +i) and full (RLIMIT_FSIZE) output directories, no compiler or make on PATH,
  non-UTF-8 paths, closed or broken stdout, an unusable TMPDIR, a deleted working directory.
- cli: every subcommand with --json and odd arguments.

A case is a FAULT when: a traceback is printed; the exit status is not 0 or 1 (a signal,
exit 3 "internal error", or 2 = MISMATCH: a model compiled then computed differently from
the reference on the host); the command hits the timeout; its peak RSS passes 3 GiB; a
process of its session is left running; a marker file or symbol appears; --json does not
print exactly one JSON object; raw control characters reach the terminal; or a model is
accepted and then its build or the reference fails ("accepted then unbuildable/refused"; for
env and cli cases a failing build is the environment's, judged only as a clean error). The
user's own environment (MAKEFLAGS, CC) is theirs to set: not an attack surface here.
"""
from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

PYTHON = sys.executable
MEM_CAP = 4 << 30
RSS_FAULT_KB = 3 << 20
MARK = "mcuc_pwned"


# ------------------------------------------------------------------ one case and its verdict

@dataclass
class Case:
    kind: str
    label: str
    argv: list                     # arguments after `mcucompile`; {model} and {out} are filled in
    model: bytes | None = None
    suffix: str = ".tflite"
    env: dict = field(default_factory=dict)
    fsize: int | None = None       # RLIMIT_FSIZE: a full disk
    setup: object = None           # callable(workdir) run before the command
    stdout: str = "pipe"           # "pipe", "closed" (>&-) or "broken" (read end closed)
    cwd_deleted: bool = False
    ok_codes: tuple = (0, 1)


@dataclass
class Outcome:
    case: Case
    code: int | None
    out: str
    err: str
    seconds: float
    rss_kb: int
    faults: list


def _preexec(case: Case):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEM_CAP, MEM_CAP))
        if case.fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize, case.fsize))
    return limit


def _session_leftovers(sid: int) -> list[str]:
    """Processes still in session `sid` (the command's children that outlived it)."""
    left = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid:                      # field 6: session id
                left.append(f"{d.name} {stat[stat.index('(') + 1:stat.rindex(')')]}")
                os.kill(int(d.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
    return left


def run_case(case: Case, work: Path, timeout: float) -> Outcome:
    work.mkdir(parents=True, exist_ok=True)
    model = work / f"model{case.suffix}"
    if case.model is not None:
        model.write_bytes(case.model)
        os.chmod(model, 0o644)
    out = work / "out"
    if case.setup is not None:
        case.setup(work)
    argv = [str(a).replace("{model}", str(model)).replace("{out}", str(out)).replace(
        "{work}", str(work)) for a in case.argv]
    env = dict(os.environ, PYTHONPATH=str(REPO), **case.env)
    cwd = work
    if case.cwd_deleted:
        cwd = work / "gone"
        cwd.mkdir()
    stdout = subprocess.PIPE if case.stdout == "pipe" else subprocess.DEVNULL
    t0 = time.time()
    proc = subprocess.Popen([PYTHON, "-m", "mcucompile", *argv], cwd=cwd, env=env,
                            stdout=stdout, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_preexec(case),
                            pass_fds=() if case.stdout != "broken" else ())
    if case.cwd_deleted:
        time.sleep(0.05)
        shutil.rmtree(cwd, ignore_errors=True)
    faults = []
    try:
        o, e = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        o, e = proc.communicate()
        faults.append(f"hang (> {timeout:.0f} s)")
    seconds = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    left = _session_leftovers(proc.pid)
    if left:
        faults.append(f"left running: {left[:3]}")
    o = (o or b"").decode(errors="replace")
    e = (e or b"").decode(errors="replace")
    return Outcome(case, proc.returncode, o, e, seconds, rss, faults)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")
_REFUSED_LATE = re.compile(r"^(build for .* failed|the reference .*(crashed|failed)|TFLM reference "
                           r"interpreter refused|onnxruntime refused)")


def judge(o: Outcome, work: Path) -> list[str]:
    faults = list(o.faults)
    c = o.case
    text = o.out + o.err
    if "Traceback (most recent call last)" in text:
        last = [line for line in text.splitlines() if line.strip()][-1:]
        faults.append(f"traceback: {last[0][:120] if last else ''}")
    if o.code is not None and o.code < 0:
        faults.append(f"signal {signal.Signals(-o.code).name}")
    elif o.code == 2 and "simulate" in c.argv[:1]:
        faults.append("accepted then MISMATCH")
    elif o.code == 3:
        faults.append(f"internal error: {o.err.strip().splitlines()[0][:120] if o.err.strip() else ''}")
    elif o.code not in c.ok_codes and o.code is not None:
        faults.append(f"exit {o.code}")
    if _CONTROL.search(text):
        faults.append("raw control character in the output")
    if "--json" in c.argv and c.stdout == "pipe" and "hang" not in " ".join(faults):
        try:
            obj = json.loads(o.out)
        except ValueError:
            faults.append(f"--json: not one JSON value ({o.out[:60]!r})")
        else:
            obj = obj if isinstance(obj, dict) else {}     # `boards --json`: a list
            msg = str(obj.get("error") or "")
            if _REFUSED_LATE.search(msg) and c.kind not in ("env", "cli"):
                faults.append(f"accepted then unbuildable/refused: {msg.splitlines()[0][:100]}")
            if obj.get("bit_exact") is False:
                faults.append("accepted then MISMATCH")
    for p in list(work.rglob(f"*{MARK}*")) + list(Path(tempfile.gettempdir()).glob(f"{MARK}*")):
        faults.append(f"injected: {p.name} created")
        p.unlink(missing_ok=True)
    if c.kind == "inject":
        faults += _injected_symbols(work / "out")
    if o.rss_kb > RSS_FAULT_KB:
        faults.append(f"peak RSS {o.rss_kb >> 10} MiB")
    return faults


def _injected_symbols(out: Path) -> list[str]:
    """The marker as a C token outside comments and string literals (the preprocessor removes
    the comments; string and character literals are cut here)."""
    found = []
    for src in list(out.rglob("*.c")) + list(out.rglob("*.h")):
        proc = subprocess.run(["gcc", "-fpreprocessed", "-dD", "-E", "-P", "-x", "c", str(src)],
                              capture_output=True, text=True, errors="replace")
        code = re.sub(r'"(\\.|[^"\\\n])*"|\'(\\.|[^\'\\\n])*\'', '""', proc.stdout)
        if re.search(rf"\b\w*{MARK}\w*\b", code):
            found.append(f"injected: {MARK} in {src.name} outside comments/strings")
    for mk in out.rglob("Makefile"):
        for line in mk.read_text(errors="replace").splitlines():
            if MARK in line and not line.lstrip().startswith("#"):
                found.append("injected: marker on a Makefile line that is not a comment")
    return found


def simulate_argv(extra=()) -> list:
    return ["simulate", "{model}", "--board", "host", "--count", "2", "--json", "-o", "{out}",
            *extra]


# ------------------------------------------------------------------ TFLite field edits

def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    return schema


def _unpack(b: bytes):
    return _schema().ModelT.InitFromPackedBuf(bytearray(b), 0)


def _pack(m) -> bytes | None:
    import flatbuffers
    builder = flatbuffers.Builder(1024)
    try:
        builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    except Exception:  # noqa: BLE001 - a value the bindings cannot serialise: no mutant
        return None
    return bytes(builder.Output())


def tflite_bases() -> dict[str, bytes]:
    import modelgen as mg
    bases = {
        "conv": mg.conv2d(), "conv_s2_valid": mg.conv2d(strides=(2, 2), padding="valid"),
        "depthwise": mg.depthwise_conv2d(), "dense": mg.dense(), "add": mg.add(),
        "add_bcast": mg.add(shape_b=(1, 1, 1, 3)), "sub": mg.sub(), "mul": mg.mul(),
        "avg_pool": mg.avg_pool(), "max_pool": mg.max_pool(), "mean": mg.mean(),
        "pad": mg.pad(), "concat": mg.concat(), "softmax": mg.softmax(),
        "logistic": mg.logistic(), "tanh": mg.tanh(), "hard_swish": mg.hard_swish(),
        "relu": mg.relu(), "relu6": mg.relu6(), "leaky_relu": mg.leaky_relu(),
        "reshape": mg.reshape(), "squeeze": mg.squeeze(), "transpose": mg.transpose(),
        "strided_slice": mg.strided_slice(), "slice": mg.slice_(), "split": mg.split(),
        "split_v": mg.split_v(), "residual": mg.residual_block(), "cnn": mg.small_cnn(),
    }
    hw = REPO.parent / "shared" / "models" / "hello_world_int8.tflite"
    if hw.exists():
        bases["hello_world"] = hw.read_bytes()
    return bases


TFLITE_DTYPES = {"FLOAT32": 0, "FLOAT16": 1, "INT32": 2, "UINT8": 3, "INT64": 4, "STRING": 5,
                 "BOOL": 6, "INT16": 7, "INT8": 9, "FLOAT64": 10, "UINT32": 15, "UINT16": 16,
                 "INT4": 17, "BFLOAT16": 18, "BAD99": 99}


def _tensor_edits(m, rng):
    """(label, edit(m)) for tensors of the first op and the graph's I/O."""
    sg = m.subgraphs[0]
    op = sg.operators[int(rng.integers(len(sg.operators)))]
    ids = sorted({int(i) for i in list(op.inputs) + list(op.outputs) if int(i) >= 0})
    t = int(rng.choice(ids))
    T = sg.tensors[t]

    def set_(attr, value):
        def f(m):
            setattr(m.subgraphs[0].tensors[t], attr, value)
        return f

    def buf(fn):
        def f(m):
            b = m.buffers[m.subgraphs[0].tensors[t].buffer]
            fn(m, b)
        return f
    dims = list(T.shape) if T.shape is not None else []
    out = []
    name = list(TFLITE_DTYPES)[int(rng.integers(len(TFLITE_DTYPES)))]
    out.append((f"tensor {t} dtype {name}", set_("type", TFLITE_DTYPES[name])))
    if dims:
        k = int(rng.integers(len(dims)))
        for v in (0, -1, -7, 2**31 - 1, 2**20, 3):
            d = list(dims)
            d[k] = v
            out.append((f"tensor {t} dim {k} = {v}", set_("shape", np.array(d, np.int32))))
        out.append((f"tensor {t} rank -1", set_("shape", np.array(dims[:-1], np.int32))))
        out.append((f"tensor {t} rank +1", set_("shape", np.array(dims + [1], np.int32))))
        out.append((f"tensor {t} rank 7", set_("shape", np.array([1] * 6 + dims[-1:], np.int32))))
        out.append((f"tensor {t} scalar", set_("shape", np.array([], np.int32))))
        out.append((f"tensor {t} shape_signature -1", set_("shapeSignature",
                                                           np.array([-1] + dims[1:], np.int32))))
    if T.buffer and T.buffer < len(m.buffers) and m.buffers[T.buffer].data is not None:
        out += [
            (f"tensor {t} buffer emptied", buf(lambda m, b: setattr(b, "data", None))),
            (f"tensor {t} buffer short", buf(lambda m, b: setattr(b, "data", b.data[:len(b.data) // 2]))),
            (f"tensor {t} buffer 1 byte short", buf(lambda m, b: setattr(b, "data", b.data[:-1]))),
            (f"tensor {t} buffer long", buf(lambda m, b: setattr(b, "data", np.concatenate([b.data, b.data])))),
            (f"tensor {t} buffer offset past end", buf(lambda m, b: (setattr(b, "data", None), setattr(b, "offset", 1 << 40), setattr(b, "size", 64)))),
            (f"tensor {t} buffer offset/size inside", buf(lambda m, b: (setattr(b, "size", len(b.data)), setattr(b, "offset", 8), setattr(b, "data", None)))),
            (f"tensor {t} buffer NaN bytes", buf(lambda m, b: setattr(b, "data", np.full_like(b.data, 0xFF)))),
        ]
    else:
        out.append((f"tensor {t} gets the first constant's buffer",
                    set_("buffer", next((i for i, b in enumerate(m.buffers) if b.data is not None), 0))))
    out.append((f"tensor {t} buffer index {len(m.buffers)}", set_("buffer", len(m.buffers))))
    out.append((f"tensor {t} isVariable", set_("isVariable", True)))
    q = T.quantization
    if q is not None and q.scale is not None:
        def qset(attr, value):
            def f(m):
                setattr(m.subgraphs[0].tensors[t].quantization, attr, value)
            return f
        n = len(q.scale)
        out += [
            (f"tensor {t} {n + 1} scales", qset("scale", np.concatenate([q.scale, q.scale[:1]]))),
            (f"tensor {t} 3 zero points for {n} scales", qset("zeroPoint", np.array([0, 1, 2], np.int64))),
            (f"tensor {t} no zero point", qset("zeroPoint", None)),
            (f"tensor {t} quantizedDimension 9", qset("quantizedDimension", 9)),
            (f"tensor {t} quantizedDimension -1", qset("quantizedDimension", -1)),
            (f"tensor {t} scale subnormal", qset("scale", np.full(n, 1e-40, np.float32))),
            (f"tensor {t} scale 1e38", qset("scale", np.full(n, 1e38, np.float32))),
            (f"tensor {t} zp 128", qset("zeroPoint", np.full(n, 128, np.int64))),
            (f"tensor {t} zp -129", qset("zeroPoint", np.full(n, -129, np.int64))),
            (f"tensor {t} min/max only", qset("scale", None)),
            (f"tensor {t} custom quantization details", qset("detailsType", 1)),
        ]
    else:
        out.append((f"tensor {t} gains per-channel quant", set_("quantization", _quant_like(dims))))
    return out


def _quant_like(dims):
    q = _schema().QuantizationParametersT()
    n = dims[-1] if dims else 1
    q.scale = np.full(n, 0.5, np.float32)
    q.zeroPoint = np.zeros(n, np.int64)
    q.quantizedDimension = max(len(dims) - 1, 0)
    return q


def _graph_edits(m, rng):
    s = _schema()
    sg = m.subgraphs[0]
    n_t = len(sg.tensors)
    ins, outs = [int(i) for i in sg.inputs], [int(i) for i in sg.outputs]
    first, last = sg.operators[0], sg.operators[-1]

    def g(fn):
        return fn
    edits = [
        ("no subgraphs", g(lambda m: setattr(m, "subgraphs", []))),
        ("two subgraphs", g(lambda m: m.subgraphs.append(copy.deepcopy(m.subgraphs[0])))),
        ("no operators", g(lambda m: setattr(m.subgraphs[0], "operators", []))),
        ("no inputs", g(lambda m: setattr(m.subgraphs[0], "inputs", np.array([], np.int32)))),
        ("duplicate output", g(lambda m: setattr(m.subgraphs[0], "outputs", np.array(outs + outs[:1], np.int32)))),
        ("duplicate input", g(lambda m: setattr(m.subgraphs[0], "inputs", np.array(ins + ins[:1], np.int32)))),
        ("input is also output", g(lambda m: setattr(m.subgraphs[0], "outputs", np.array(outs + ins[:1], np.int32)))),
        ("output is the input only", g(lambda m: setattr(m.subgraphs[0], "outputs", np.array(ins[:1], np.int32)))),
        ("an intermediate as graph input", g(lambda m: setattr(m.subgraphs[0], "inputs", np.array([int(first.outputs[0])], np.int32)))),
        ("a weight as graph input", g(lambda m: setattr(m.subgraphs[0], "inputs", np.array(ins + [int(i) for i in first.inputs[1:2]], np.int32)))),
        ("op writes the graph input", g(lambda m: setattr(m.subgraphs[0].operators[-1], "outputs", np.array(ins[:1], np.int32)))),
        ("op reads its own output", g(lambda m: setattr(m.subgraphs[0].operators[0], "inputs", np.array([int(first.outputs[0])] + [int(i) for i in first.inputs[1:]], np.int32)))),
        ("two writers of one tensor", g(lambda m: m.subgraphs[0].operators.append(copy.deepcopy(m.subgraphs[0].operators[-1])))),
        ("ops reversed", g(lambda m: m.subgraphs[0].operators.reverse())),
        ("op consumes the graph output", g(lambda m: _consume_output(m))),
        ("output index -1", g(lambda m: setattr(m.subgraphs[0], "outputs", np.array([-1], np.int32)))),
        ("input index n", g(lambda m: setattr(m.subgraphs[0], "inputs", np.array([n_t], np.int32)))),
        ("op input -1 everywhere", g(lambda m: setattr(m.subgraphs[0].operators[0], "inputs", np.full(len(first.inputs), -1, np.int32)))),
        ("op with no outputs", g(lambda m: setattr(m.subgraphs[0].operators[-1], "outputs", np.array([], np.int32)))),
        ("op output -1", g(lambda m: setattr(m.subgraphs[0].operators[-1], "outputs", np.array([-1], np.int32)))),
        ("op extra output", g(lambda m: setattr(m.subgraphs[0].operators[-1], "outputs", np.array([int(last.outputs[0]), ins[0]], np.int32)))),
        ("op extra input", g(lambda m: setattr(m.subgraphs[0].operators[-1], "inputs", np.array([int(i) for i in last.inputs] + [ins[0]], np.int32)))),
        ("op intermediates", g(lambda m: setattr(m.subgraphs[0].operators[0], "intermediates", np.array([0], np.int32)))),
        ("opcode index 99", g(lambda m: setattr(m.subgraphs[0].operators[0], "opcodeIndex", 99))),
        ("opcode version 0", g(lambda m: setattr(m.operatorCodes[0], "version", 0))),
        ("opcode version 99", g(lambda m: setattr(m.operatorCodes[0], "version", 99))),
        ("opcode version -5", g(lambda m: setattr(m.operatorCodes[0], "version", -5))),
        ("builtin code 200", g(lambda m: (setattr(m.operatorCodes[0], "builtinCode", 200), setattr(m.operatorCodes[0], "deprecatedBuiltinCode", 127)))),
        ("builtin code -3", g(lambda m: setattr(m.operatorCodes[0], "builtinCode", -3))),
        ("deprecated code disagrees", g(lambda m: setattr(m.operatorCodes[0], "deprecatedBuiltinCode", 0))),
        ("opcode becomes ADD", g(lambda m: (setattr(m.operatorCodes[0], "builtinCode", s.BuiltinOperator.ADD), setattr(m.operatorCodes[0], "deprecatedBuiltinCode", s.BuiltinOperator.ADD)))),
        ("opcode becomes CONV_2D", g(lambda m: (setattr(m.operatorCodes[0], "builtinCode", s.BuiltinOperator.CONV_2D), setattr(m.operatorCodes[0], "deprecatedBuiltinCode", s.BuiltinOperator.CONV_2D)))),
        ("opcode becomes FULLY_CONNECTED", g(lambda m: (setattr(m.operatorCodes[0], "builtinCode", s.BuiltinOperator.FULLY_CONNECTED), setattr(m.operatorCodes[0], "deprecatedBuiltinCode", s.BuiltinOperator.FULLY_CONNECTED)))),
        ("opcode becomes SOFTMAX", g(lambda m: (setattr(m.operatorCodes[0], "builtinCode", s.BuiltinOperator.SOFTMAX), setattr(m.operatorCodes[0], "deprecatedBuiltinCode", s.BuiltinOperator.SOFTMAX)))),
        ("opcode becomes CONCATENATION", g(lambda m: (setattr(m.operatorCodes[0], "builtinCode", s.BuiltinOperator.CONCATENATION), setattr(m.operatorCodes[0], "deprecatedBuiltinCode", s.BuiltinOperator.CONCATENATION)))),
        ("custom options on a builtin", g(lambda m: setattr(m.subgraphs[0].operators[0], "customOptions", np.arange(64, dtype=np.uint8)))),
        ("custom options format 7", g(lambda m: setattr(m.subgraphs[0].operators[0], "customOptionsFormat", 7))),
        ("options removed", g(lambda m: (setattr(m.subgraphs[0].operators[0], "builtinOptions", None), setattr(m.subgraphs[0].operators[0], "builtinOptionsType", 0)))),
        ("options of ADD", g(lambda m: _options(m, "AddOptions", 11))),
        ("options of CONV_2D", g(lambda m: _options(m, "Conv2DOptions", 1))),
        ("options of RESHAPE", g(lambda m: _options(m, "ReshapeOptions", 17))),
        ("mutating variable inputs", g(lambda m: setattr(m.subgraphs[0].operators[0], "mutatingVariableInputs", [True] * 8))),
        ("large buffer 0 data", g(lambda m: setattr(m.buffers[0], "data", np.arange(16, dtype=np.uint8)))),
        ("no buffers", g(lambda m: setattr(m, "buffers", []))),
        ("version 0", g(lambda m: setattr(m, "version", 0))),
        ("version 4", g(lambda m: setattr(m, "version", 4))),
        ("signature points past tensors", g(lambda m: _signature(m, n_t + 5))),
        ("metadata points past buffers", g(lambda m: _metadata(m, "min_runtime_version", 10_000))),
        ("2 MB metadata buffer", g(lambda m: _big_metadata(m))),
    ]
    op = sg.operators[0]
    opts = op.builtinOptions
    if opts is not None:
        for attr, value in vars(opts).items():
            if isinstance(value, (bool, np.bool_)):
                edits.append((f"option {attr} flipped", _opt(attr, not value)))
            elif isinstance(value, (int, np.integer)):
                for v in (-1, 0, 2, 6, 7, 99, 2**31 - 1):
                    edits.append((f"option {attr} = {v}", _opt(attr, v)))
            elif isinstance(value, (float, np.floating)):
                for v in (0.0, -1.0, float("nan"), float("inf"), 1e-30, 1e30):
                    edits.append((f"option {attr} = {v}", _opt(attr, v)))
            elif isinstance(value, (list, np.ndarray)):
                edits.append((f"option {attr} emptied", _opt(attr, np.array([], np.int32))))
                edits.append((f"option {attr} = [-1, 99]", _opt(attr, np.array([-1, 99], np.int32))))
    # the parameter tensors of shape ops (begin/end/strides, paddings, perm, axes, new shape)
    for k, i in enumerate(op.inputs):
        i = int(i)
        if i < 0:
            continue
        t = sg.tensors[i]
        b = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None
        if t.type == 2 and b is not None and b.data is not None and len(b.data) >= 4:
            vals = np.frombuffer(bytes(b.data), np.int32)
            for label, new in (("zeros", np.zeros_like(vals)), ("-1s", np.full_like(vals, -1)),
                               ("huge", np.full_like(vals, 2**30)), ("reversed", vals[::-1].copy()),
                               ("repeated first", np.full_like(vals, vals[0]))):
                edits.append((f"int32 param input {k} {label}", _param(i, new)))
    return edits


def _param(i, values):
    def f(m):
        t = m.subgraphs[0].tensors[i]
        m.buffers[t.buffer].data = np.frombuffer(values.astype(np.int32).tobytes(), np.uint8)
    return f


def _opt(attr, value):
    def f(m):
        setattr(m.subgraphs[0].operators[0].builtinOptions, attr, value)
    return f


def _options(m, cls, type_code):
    s = _schema()
    op = m.subgraphs[0].operators[0]
    op.builtinOptions = getattr(s, cls + "T")()
    op.builtinOptionsType = type_code


def _consume_output(m):
    sg = m.subgraphs[0]
    out = int(sg.outputs[0])
    op = copy.deepcopy(sg.operators[-1])
    t = copy.deepcopy(sg.tensors[out])
    t.name = b"consumer_out"
    sg.tensors.append(t)
    op.inputs = np.array([out] + [int(i) for i in op.inputs[1:]], np.int32)
    op.outputs = np.array([len(sg.tensors) - 1], np.int32)
    sg.operators.append(op)


def _signature(m, index):
    s = _schema()
    sig = s.SignatureDefT()
    tm = s.TensorMapT()
    tm.name = b"x"
    tm.tensorIndex = index
    sig.inputs, sig.outputs, sig.signatureKey, sig.subgraphIndex = [tm], [tm], b"serving", 3
    m.signatureDefs = [sig]


def _metadata(m, name, buffer):
    s = _schema()
    md = s.MetadataT()
    md.name, md.buffer = name.encode(), buffer
    m.metadata = (m.metadata or []) + [md]


def _big_metadata(m):
    s = _schema()
    b = s.BufferT()
    b.data = np.zeros(2 << 20, np.uint8)
    m.buffers.append(b)
    _metadata(m, "blob", len(m.buffers) - 1)


def tflite_cases(rng, n: int) -> list[Case]:
    bases = tflite_bases()
    names = sorted(bases)
    cases, seen = [], set()
    tries = 0
    while len(cases) < n and tries < n * 20:
        tries += 1
        base = names[int(rng.integers(len(names)))]
        m = _unpack(bases[base])
        edits = _tensor_edits(m, rng) + _graph_edits(m, rng)
        label, edit = edits[int(rng.integers(len(edits)))]
        key = (base, label)
        if key in seen:
            continue
        seen.add(key)
        try:
            edit(m)
        except Exception:  # noqa: BLE001 - an edit that does not apply to this model
            continue
        b = _pack(m)
        if b is None:
            continue
        cases.append(Case("tflite", f"{base}: {label}", simulate_argv(), model=b))
    return cases


# ------------------------------------------------------------------ ONNX field edits

ONNX_BASES = {
    "conv": ("conv", {}), "conv_s2": ("conv", dict(in_shape=(1, 4, 10, 9), cout=6, k=5, stride=2)),
    "depthwise": ("depthwise", {}), "gemm": ("gemm", {}), "matmul": ("matmul", {}),
    "add": ("binary", {}), "mul": ("binary", dict(op="Mul")),
    "avg_pool": ("pool", {}), "max_pool": ("pool", dict(op="MaxPool")),
    "gap": ("global_avg_pool", {}), "concat": ("concat", {}), "sigmoid": ("unary", {}),
    "leaky": ("unary", dict(op="LeakyRelu", alpha=0.1)), "reshapes": ("reshapes", {}),
    "padded": ("padded", {}), "activations": ("activations", {}),
}


def onnx_bases() -> dict[str, bytes]:
    import onnx_modelgen as og
    out = {}
    for name, (builder, kw) in ONNX_BASES.items():
        for fmt in ("QDQ", "QOperator"):
            out[f"{name}-{fmt}"] = og.quantized(builder, fmt, True, **kw)
    return out


def _onnx_edits(m, rng):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    nodes = list(g.node)
    node = nodes[int(rng.integers(len(nodes)))]
    ni = nodes.index(node)
    edits = []

    def e(label, fn):
        edits.append((label, fn))

    def nd(m):
        return m.graph.node[ni]
    for t in ("FLOAT16", "STRING", "INT4", "BOOL", "DOUBLE", "UINT8", "INT16", "INT32", "BFLOAT16"):
        code = getattr(TensorProto, t, None)
        if code is None:
            continue
        e(f"input elem_type {t}", lambda m, c=code: m.graph.input[0].type.tensor_type.__setattr__("elem_type", c))
        e(f"output elem_type {t}", lambda m, c=code: m.graph.output[0].type.tensor_type.__setattr__("elem_type", c))
    for v in (0, -1, 2**40, 7):
        e(f"input dim 2 = {v}", lambda m, v=v: m.graph.input[0].type.tensor_type.shape.dim[min(2, len(m.graph.input[0].type.tensor_type.shape.dim) - 1)].__setattr__("dim_value", v))
    e("input dim symbolic", lambda m: m.graph.input[0].type.tensor_type.shape.dim[-1].__setattr__("dim_param", "N"))
    e("input rank 1", lambda m: [m.graph.input[0].type.tensor_type.shape.dim.pop() for _ in range(len(m.graph.input[0].type.tensor_type.shape.dim) - 1)])
    e("input without a shape", lambda m: m.graph.input[0].type.tensor_type.ClearField("shape"))
    # initializers: pick one
    if inits:
        name = sorted(inits)[int(rng.integers(len(inits)))]

        def init(m):
            return next(i for i in m.graph.initializer if i.name == name)

        def retype(m, code):
            i = init(m)
            arr = numpy_helper.to_array(i)
            i.data_type = code
        e(f"init {name} raw_data halved", lambda m: init(m).__setattr__("raw_data", init(m).raw_data[:len(init(m).raw_data) // 2]))
        e(f"init {name} raw_data emptied", lambda m: init(m).__setattr__("raw_data", b""))
        e(f"init {name} raw_data doubled", lambda m: init(m).__setattr__("raw_data", init(m).raw_data * 2))
        e(f"init {name} dims +1", lambda m: init(m).dims.append(1))
        e(f"init {name} dims popped", lambda m: init(m).dims.pop() if len(init(m).dims) else init(m).dims.append(3))
        e(f"init {name} dim -1", lambda m: (init(m).dims.append(-1)))
        e(f"init {name} dim 2^40", lambda m: (init(m).dims.__setitem__(0, 2**40) if len(init(m).dims) else init(m).dims.append(2**40)))
        for t in ("FLOAT16", "STRING", "INT4", "UINT8", "INT16", "INT32", "FLOAT", "INT64", "DOUBLE"):
            code = getattr(TensorProto, t, None)
            if code is not None:
                e(f"init {name} data_type {t}", lambda m, c=code: init(m).__setattr__("data_type", c))
        e(f"init {name} external /etc/passwd", lambda m: _external(init(m), "/etc/passwd"))
        e(f"init {name} external ../../../etc/hostname", lambda m: _external(init(m), "../../../etc/hostname"))
        e(f"init {name} external missing", lambda m: _external(init(m), "weights.bin"))
        e(f"init {name} external /dev/zero", lambda m: _external(init(m), "/dev/zero", length=1 << 34))
        e(f"init {name} removed", lambda m: m.graph.initializer.remove(init(m)))
        e(f"init {name} duplicated", lambda m: m.graph.initializer.append(copy.deepcopy(init(m))))
        e(f"init {name} also a graph input", lambda m: m.graph.input.append(helper.make_tensor_value_info(name, init(m).data_type, list(init(m).dims))))
        e(f"init {name} NaN", lambda m: _fill(init(m), np.nan))
        e(f"init {name} -inf", lambda m: _fill(init(m), -np.inf))
        e(f"init {name} zero", lambda m: _fill(init(m), 0))
        e(f"init {name} negative", lambda m: _fill(init(m), -1))
        e(f"init {name} 1e-45", lambda m: _fill(init(m), 1e-45))
        e(f"init {name} 300", lambda m: _fill(init(m), 300))
    # graph structure
    out0 = g.output[0].name
    in0 = g.input[0].name
    e("duplicate graph output", lambda m: m.graph.output.append(copy.deepcopy(m.graph.output[0])))
    e("graph input also output", lambda m: m.graph.output.append(copy.deepcopy(m.graph.input[0])))
    e("no graph outputs", lambda m: m.graph.ClearField("output"))
    e("no nodes", lambda m: m.graph.ClearField("node"))
    e("node reads graph output", lambda m: _onnx_consume_output(m))
    e("node writes graph input", lambda m: nd(m).output.__setitem__(0, in0))
    e("two nodes write one name", lambda m: m.graph.node.append(copy.deepcopy(nd(m))))
    e("nodes reversed", lambda m: _reverse_nodes(m))
    e("node reads its own output", lambda m: nd(m).input.__setitem__(0, nd(m).output[0]))
    e("node input renamed to nothing", lambda m: nd(m).input.__setitem__(0, ""))
    e("node input undefined", lambda m: nd(m).input.__setitem__(0, "nowhere"))
    e("node extra input", lambda m: nd(m).input.append(in0))
    e("node inputs dropped", lambda m: nd(m).ClearField("input"))
    e("node output emptied", lambda m: nd(m).output.__setitem__(0, ""))
    e("node extra output", lambda m: nd(m).output.append("extra_out"))
    e("node domain com.microsoft", lambda m: nd(m).__setattr__("domain", "com.microsoft"))
    e("node domain ai.onnx.ml", lambda m: nd(m).__setattr__("domain", "ai.onnx.ml"))
    e("node domain evil", lambda m: nd(m).__setattr__("domain", "x.evil"))
    e("node op_type If", lambda m: nd(m).__setattr__("op_type", "If"))
    e("node op_type lower-case conv", lambda m: nd(m).__setattr__("op_type", nd(m).op_type.lower()))
    e("opset 1", lambda m: m.opset_import[0].__setattr__("version", 1))
    e("opset 99", lambda m: m.opset_import[0].__setattr__("version", 99))
    e("opset duplicated 13/21", lambda m: m.opset_import.append(helper.make_opsetid("", 21)))
    e("no opset", lambda m: m.ClearField("opset_import"))
    e("ir_version 0", lambda m: m.__setattr__("ir_version", 0))
    e("ir_version 100", lambda m: m.__setattr__("ir_version", 100))
    e("functions: local function", lambda m: m.functions.append(onnx.FunctionProto(name="f", domain="d")))
    e("sparse initializer", lambda m: m.graph.sparse_initializer.add())
    e("value_info wrong shape", lambda m: m.graph.value_info.append(helper.make_tensor_value_info(nd(m).output[0], TensorProto.INT8, [7, 7])))
    # attributes of the chosen node
    for a in node.attribute:
        def attr(m, a=a):
            return next(x for x in nd(m).attribute if x.name == a.name)
        e(f"{node.op_type}.{a.name} removed", lambda m, a=a: nd(m).attribute.remove(attr(m)))
        e(f"{node.op_type}.{a.name} as float", lambda m, a=a: _set_attr(nd(m), a.name, 1.5))
        e(f"{node.op_type}.{a.name} as string", lambda m, a=a: _set_attr(nd(m), a.name, "SAME_UPPER"))
        if a.type == onnx.AttributeProto.INTS:
            for v in ([], [0] * len(a.ints), [-1] * len(a.ints), [2**40] * len(a.ints),
                      list(a.ints) + [1], list(a.ints)[:1], [1] * 8):
                e(f"{node.op_type}.{a.name} = {v[:4]}", lambda m, a=a, v=v: _set_attr(nd(m), a.name, v))
        if a.type == onnx.AttributeProto.INT:
            for v in (-1, 0, 2, 3, 2**40):
                e(f"{node.op_type}.{a.name} = {v}", lambda m, a=a, v=v: _set_attr(nd(m), a.name, v))
        if a.type == onnx.AttributeProto.FLOAT:
            for v in (0.0, -1.0, float("nan"), float("inf"), 1e30):
                e(f"{node.op_type}.{a.name} = {v}", lambda m, a=a, v=v: _set_attr(nd(m), a.name, v))
    for name, v in (("group", 2), ("group", 0), ("auto_pad", "SAME_LOWER"), ("auto_pad", "VALID"),
                    ("auto_pad", "EVIL"), ("dilations", [2, 2]), ("ceil_mode", 1),
                    ("count_include_pad", 1), ("storage_order", 1), ("alpha", 2.0),
                    ("beta", 0.5), ("transA", 1), ("transB", 0), ("axis", 5), ("axis", -9),
                    ("perm", [0, 0, 1, 2]), ("keepdims", 0), ("allowzero", 1),
                    ("mode", "reflect"), ("min", 5.0), ("unknown_attr", 3)):
        e(f"{node.op_type}.{name} = {v} added", lambda m, name=name, v=v: _set_attr(nd(m), name, v))
    return edits


def _set_attr(node, name, value):
    from onnx import helper
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def _external(init, location, length=None):
    import onnx
    init.ClearField("raw_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    del init.external_data[:]
    for k, v in (("location", location), ("offset", "0"),
                 ("length", str(length if length is not None else 1 << 12))):
        entry = init.external_data.add()
        entry.key, entry.value = k, v


def _fill(init, value):
    from onnx import numpy_helper
    arr = numpy_helper.to_array(init)
    with np.errstate(all="ignore"):
        new = np.full(arr.shape, value).astype(arr.dtype)
    init.CopyFrom(numpy_helper.from_array(new, init.name))


def _onnx_consume_output(m):
    g = m.graph
    out = g.output[0].name
    producer = next(n for n in g.node if out in n.output)
    n = copy.deepcopy(producer)
    n.name = "consumer"
    n.input[0] = out
    n.output[0] = "consumer_out"
    g.node.append(n)


def _reverse_nodes(m):
    nodes = list(m.graph.node)[::-1]
    m.graph.ClearField("node")
    m.graph.node.extend(nodes)


def onnx_cases(rng, n: int) -> list[Case]:
    import onnx
    bases = onnx_bases()
    names = sorted(bases)
    cases, seen, tries = [], set(), 0
    while len(cases) < n and tries < n * 20:
        tries += 1
        base = names[int(rng.integers(len(names)))]
        m = onnx.load_from_string(bases[base])
        edits = _onnx_edits(m, rng)
        label, edit = edits[int(rng.integers(len(edits)))]
        if (base, label) in seen:
            continue
        seen.add((base, label))
        try:
            edit(m)
            b = m.SerializeToString()
        except Exception:  # noqa: BLE001 - an edit that does not apply
            continue
        cases.append(Case("onnx", f"{base}: {label}", simulate_argv(), model=b, suffix=".onnx"))
    return cases


# ------------------------------------------------------------------ one-op models, odd parameters

def oneop_cases() -> list[Case]:
    import modelgen as mg
    import onnx_modelgen as og
    t = [
        ("conv 1x1 input, 3x3 SAME", lambda: mg.conv2d(in_shape=(1, 1, 1, 3), padding="same")),
        ("conv kernel = input, VALID", lambda: mg.conv2d(in_shape=(1, 3, 3, 2), kernel=(3, 3), padding="valid")),
        ("conv stride 5 > input 4", lambda: mg.conv2d(in_shape=(1, 4, 4, 3), strides=(5, 5))),
        ("conv 1x7 kernel, 1 filter", lambda: mg.conv2d(in_shape=(1, 9, 9, 1), filters=1, kernel=(1, 7))),
        ("conv dilation 3", lambda: mg.conv2d(in_shape=(1, 12, 12, 2), dilation=(3, 3))),
        ("conv batch 2", lambda: mg.conv2d(in_shape=(2, 6, 6, 3))),
        ("conv 64 filters on 1 channel", lambda: mg.conv2d(in_shape=(1, 5, 5, 1), filters=64)),
        ("depthwise multiplier 3", lambda: mg.depthwise_conv2d(in_shape=(1, 7, 7, 2), depth_multiplier=3)),
        ("depthwise 5x5 on 3x3 SAME", lambda: mg.depthwise_conv2d(in_shape=(1, 3, 3, 4), kernel=(5, 5))),
        ("depthwise stride (1, 3)", lambda: mg.depthwise_conv2d(in_shape=(1, 8, 9, 3), strides=(1, 3))),
        ("dense 1 -> 1", lambda: mg.dense(in_features=1, units=1)),
        ("dense batch 5", lambda: mg.dense(batch_dims=(5,))),
        ("dense 3d", lambda: mg.dense_3d()),
        ("add broadcast both", lambda: mg.add(shape_a=(1, 4, 1, 3), shape_b=(1, 1, 5, 3))),
        ("sub scalar", lambda: mg.sub(shape_b=(1, 1, 1, 1))),
        ("mul rank 2", lambda: mg.mul(shape_a=(3, 5), shape_b=(3, 5))),
        ("avg pool 3x3 stride 1 SAME", lambda: mg.avg_pool(in_shape=(1, 5, 5, 2), pool=(3, 3), strides=(1, 1), padding="same")),
        ("avg pool window = input", lambda: mg.avg_pool(in_shape=(1, 4, 6, 3), pool=(4, 6), strides=(1, 1))),
        ("max pool stride 3 pool 2", lambda: mg.max_pool(in_shape=(1, 9, 9, 2), pool=(2, 2), strides=(3, 3))),
        ("mean over channels", lambda: mg.mean(axes=(3,), keepdims=True)),
        ("mean over all", lambda: mg.mean(in_shape=(1, 3, 3, 2), axes=(1, 2, 3))),
        ("pad zeros", lambda: mg.pad(paddings=((0, 0), (0, 0), (0, 0), (0, 0)))),
        ("pad large", lambda: mg.pad(in_shape=(1, 2, 2, 1), paddings=((0, 0), (7, 9), (0, 11), (0, 0)))),
        ("concat one input", lambda: mg.concat(shapes=((1, 4, 4, 3),))),
        ("concat axis 1", lambda: mg.concat(shapes=((1, 2, 4, 3), (1, 5, 4, 3)), axis=1)),
        ("softmax depth 1", lambda: mg.softmax(shape=(1, 1))),
        ("softmax beta 0.1", lambda: mg.softmax(shape=(1, 20), beta=0.1)),
        ("softmax 3 rows", lambda: mg.softmax(shape=(3, 7))),
        ("logistic 1 value", lambda: mg.logistic(shape=(1, 1))),
        ("tanh rank 5", lambda: mg.tanh(shape=(1, 2, 2, 2, 3))),
        ("hard swish long", lambda: mg.hard_swish(shape=(1, 301))),
        ("relu6 rank 1", lambda: mg.relu6(shape=(17,))),
        ("leaky relu alpha 3", lambda: mg.leaky_relu(alpha=3.0)),
        ("leaky relu alpha -0.5", lambda: mg.leaky_relu(alpha=-0.5)),
        ("reshape to rank 1", lambda: mg.reshape(new_shape=(48,))),
        ("squeeze all", lambda: mg.squeeze(in_shape=(1, 1, 1, 1), axes=(0, 1, 2))),
        ("transpose identity", lambda: mg.transpose(perm=(0, 1, 2, 3))),
        ("transpose 3d", lambda: mg.transpose(in_shape=(2, 3, 4), perm=(2, 0, 1))),
        ("strided slice stride 3", lambda: mg.strided_slice(begin=(0, 0, 0, 0), end=(1, 8, 8, 4), strides=(1, 3, 3, 1))),
        ("strided slice negative", lambda: mg.strided_slice(begin=(0, -3, 0, 0), end=(1, -1, 8, 4), strides=(1, 1, 1, 1))),
        ("slice whole", lambda: mg.slice_(begin=(0, 0, 0, 0), size=(1, 6, 6, 4))),
        ("split into 1", lambda: mg.split(num=1)),
        ("split axis 1", lambda: mg.split(in_shape=(1, 6, 2, 2), num=3, axis=1)),
        ("split_v uneven", lambda: mg.split_v(sizes=(5, 1), axis=-1)),
    ]
    o = [
        ("onnx conv k1 stride 3", lambda: og.quantized("conv", "QDQ", True, in_shape=(1, 2, 7, 7), cout=3, k=1, stride=3)),
        ("onnx conv 1x1 input", lambda: og.quantized("conv", "QOperator", True, in_shape=(1, 3, 1, 1), k=1)),
        ("onnx conv no bias per-tensor", lambda: og.quantized("conv", "QOperator", False, bias=False)),
        ("onnx conv dilation 2 pad 0", lambda: og.quantized("conv", "QDQ", True, in_shape=(1, 2, 9, 9), dil=2, pad=0)),
        ("onnx depthwise mult 3 stride 2", lambda: og.quantized("depthwise", "QDQ", True, in_shape=(1, 2, 7, 7), mult=3, stride=2)),
        ("onnx gemm batch 4 k 1", lambda: og.quantized("gemm", "QDQ", True, batch=4, k=1, n=3)),
        ("onnx gemm no trans", lambda: og.quantized("gemm", "QOperator", False, trans_b=False)),
        ("onnx matmul 3d", lambda: og.quantized("matmul", "QOperator", True, in_shape=(2, 3, 5))),
        ("onnx add rank-1 broadcast", lambda: og.quantized("binary", "QDQ", True, shape_b=(1, 1, 1, 6))),
        ("onnx mul broadcast a", lambda: og.quantized("binary", "QOperator", True, op="Mul", shape_a=(1, 3, 1, 1))),
        ("onnx avg pool 3x3 pads", lambda: og.quantized("pool", "QDQ", True, in_shape=(1, 2, 5, 5), k=3, stride=1, pads=(1, 1, 1, 1))),
        ("onnx avg pool count pad", lambda: og.quantized("pool", "QOperator", True, in_shape=(1, 2, 5, 5), k=3, stride=2, pads=(1, 1, 1, 1), count_include_pad=1)),
        ("onnx max pool k = input", lambda: og.quantized("pool", "QDQ", True, op="MaxPool", in_shape=(1, 2, 4, 4), k=4, stride=1)),
        ("onnx gap 1x1", lambda: og.quantized("global_avg_pool", "QDQ", True, in_shape=(1, 5, 1, 1))),
        ("onnx concat", lambda: og.quantized("concat", "QOperator", True, in_shape=(1, 1, 2, 2))),
        ("onnx leaky alpha 0", lambda: og.quantized("unary", "QDQ", True, op="LeakyRelu", alpha=0.0)),
        ("onnx hard sigmoid", lambda: og.quantized("unary", "QDQ", True, op="HardSigmoid")),
        ("onnx sigmoid 1 channel", lambda: og.quantized("unary", "QOperator", True, in_shape=(1, 1, 3, 3))),
        ("onnx reshapes n 1", lambda: og.quantized("reshapes", "QDQ", True, n=1)),
        ("onnx flatten gemm", lambda: og.quantized("flatten_gemm", "QOperator", True, in_shape=(1, 1, 1, 1), n=1)),
        ("onnx nhwc input", lambda: og.quantized("transpose_nhwc_input", "QDQ", True, in_shape=(1, 3, 3, 1))),
        ("onnx resnet", lambda: og.quantized("resnet", "QDQ", True, in_shape=(1, 3, 8, 8), width=4)),
    ]
    cases = []
    for label, make in t + o:
        try:
            b = make()
        except Exception as e:  # noqa: BLE001 - the converter cannot make it: not our case
            print(f"  (skipped {label}: {type(e).__name__}: {str(e)[:80]})", file=sys.stderr)
            continue
        onnx_ = label.startswith("onnx")
        cases.append(Case("oneop", label, simulate_argv(["--count", "6"]), model=b,
                          suffix=".onnx" if onnx_ else ".tflite"))
    return cases


# ------------------------------------------------------------------ injection through strings

PAYLOADS = [
    f"x */ int {MARK}_c = 1; /* y",
    f"x\n#define {MARK}_def 1\n",
    f"x\\\nint {MARK}_bsnl = 1;",
    f'x"; int {MARK}_str = 1; char *s = "',
    f"$(shell touch /tmp/{MARK}_make)",
    f"`touch /tmp/{MARK}_shell`",
    f"$$(touch /tmp/{MARK}_dollar)",
    f"x\x00int {MARK}_nul = 1;",
    "\x1b]0;owned\x07\x1b[2J\x1b[31mred",
    "\u202e\u2066evil\u2069",
    f"??/\nint {MARK}_tri = 1;",
    f"x\r\nint {MARK}_cr = 1;",
    f"%s%s%n{MARK}",
    f"../../../../tmp/{MARK}_path",
    f"a{'A' * 5000}",
]


def _tflite_inject(b: bytes, payload: str, where: str) -> bytes | None:
    m = _unpack(b)
    p = payload.encode("utf-8", "surrogatepass")
    sg = m.subgraphs[0]
    if where == "input name":
        sg.tensors[int(sg.inputs[0])].name = p
    elif where == "output name":
        sg.tensors[int(sg.outputs[0])].name = p
    elif where == "every tensor name":
        for i, t in enumerate(sg.tensors):
            t.name = p + str(i).encode()
    elif where == "description":
        m.description = p
    elif where == "subgraph name":
        sg.name = p
    elif where == "signature key":
        _signature(m, int(sg.inputs[0]))
        m.signatureDefs[0].signatureKey = p
        m.signatureDefs[0].subgraphIndex = 0
        m.signatureDefs[0].inputs[0].name = p
    elif where == "metadata name":
        _metadata(m, "x", 0)
        m.metadata[-1].name = p
    elif where == "custom op code":
        m.operatorCodes[0].builtinCode = _schema().BuiltinOperator.CUSTOM
        m.operatorCodes[0].deprecatedBuiltinCode = _schema().BuiltinOperator.CUSTOM
        m.operatorCodes[0].customCode = p
    return _pack(m)


def _onnx_inject(b: bytes, payload: str, where: str) -> bytes | None:
    import onnx
    m = onnx.load_from_string(b)
    g = m.graph
    if where in ("input name", "output name"):
        old = (g.input[0] if where == "input name" else g.output[0]).name
        for n in g.node:
            for k, x in enumerate(n.input):
                if x == old:
                    n.input[k] = payload
            for k, x in enumerate(n.output):
                if x == old:
                    n.output[k] = payload
        (g.input[0] if where == "input name" else g.output[0]).name = payload
    elif where == "node names":
        for k, n in enumerate(g.node):
            n.name = f"{payload}{k}"
    elif where == "doc strings":
        g.doc_string = payload
        m.doc_string = payload
        for n in g.node:
            n.doc_string = payload
    elif where == "graph name":
        g.name = payload
    elif where == "producer":
        m.producer_name, m.producer_version = payload, payload
    elif where == "metadata":
        p = m.metadata_props.add()
        p.key, p.value = payload, payload
    elif where == "domain":
        m.domain = payload
    elif where == "initializer name":
        init = g.initializer[0]
        old = init.name
        init.name = payload
        for n in g.node:
            for k, x in enumerate(n.input):
                if x == old:
                    n.input[k] = payload
    try:
        return m.SerializeToString()
    except Exception:  # noqa: BLE001 - protobuf refuses (invalid UTF-8)
        return None


def inject_cases(rng) -> list[Case]:
    import modelgen as mg
    import onnx_modelgen as og
    tfl = mg.conv2d()
    onx = og.quantized("conv", "QDQ", True)
    cases = []
    def some():          # 6 of the payloads per place (all of them over the places)
        return [PAYLOADS[int(k)] for k in rng.choice(len(PAYLOADS), 6, replace=False)]
    for where in ("input name", "output name", "every tensor name", "description",
                  "subgraph name", "signature key", "metadata name", "custom op code"):
        for payload in some():
            b = _tflite_inject(tfl, payload, where)
            if b is not None:
                cases.append(Case("inject", f"tflite {where}: {payload[:30]!r}", simulate_argv(),
                                  model=b))
    for where in ("input name", "output name", "node names", "doc strings", "graph name",
                  "producer", "metadata", "domain", "initializer name"):
        for payload in some():
            b = _onnx_inject(onx, payload, where)
            if b is not None:
                cases.append(Case("inject", f"onnx {where}: {payload[:30]!r}", simulate_argv(),
                                  model=b, suffix=".onnx"))
    # what `info`, `plan` and `compile` print about such a model, and the serial harness
    for sub in (["info", "{model}"], ["plan", "{model}"], ["info", "{model}", "--json"],
                ["compile", "{model}", "--board", "mps2-an386", "-o", "{out}"],
                ["compile", "{model}", "--board", "mps2-an386", "--transport", "serial", "-o",
                 "{out}", "--json"]):
        for payload in PAYLOADS[:4] + PAYLOADS[8:10]:
            b = _tflite_inject(tfl, payload, "every tensor name")
            cases.append(Case("inject", f"{sub[0]} {payload[:20]!r}", sub, model=b))
    rng.shuffle(cases)
    return cases


# ------------------------------------------------------------------ environment faults

def _readonly(work: Path):
    """work/ro, immutable (chattr +i: read-only for root too)."""
    (work / "ro").mkdir(exist_ok=True)
    subprocess.run(["chattr", "+i", str(work / "ro")], check=True)


def _writable(work: Path):
    subprocess.run(["chattr", "-R", "-i", str(work)], capture_output=True)


def _socket(work: Path):
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(work / "sock.tflite"))


def env_cases() -> list[Case]:
    import modelgen as mg
    tfl = mg.conv2d()
    onx = None
    try:
        import onnx_modelgen as og
        onx = og.quantized("conv", "QDQ", True)
    except Exception:  # noqa: BLE001
        pass
    sim = ["simulate", "{model}", "--board", "host", "--count", "2", "--json"]
    c = [
        Case("env", "read-only -o", ["compile", "{model}", "-o", "{work}/ro/out", "--json"], model=tfl, setup=_readonly),
        Case("env", "read-only -o simulate", sim + ["-o", "{work}/ro/out"], model=tfl, setup=_readonly),
        Case("env", "-o is the read-only dir itself", ["compile", "{model}", "-o", "{work}/ro", "--json"], model=tfl, setup=_readonly),
        Case("env", "read-only cwd, no -o", sim, model=tfl, setup=_readonly, env={"TMPDIR": "/nonexistent"}),
        Case("env", "plan --plot into read-only", ["plan", "{model}", "--plot", "{work}/ro/p.png"], model=tfl, setup=_readonly),
        Case("env", "model is a socket", ["info", "{work}/sock.tflite", "--json"], setup=_socket),
        Case("env", "full disk compile", ["compile", "{model}", "-o", "{out}", "--json"], model=tfl, fsize=4096),
        Case("env", "full disk simulate", sim + ["-o", "{out}"], model=tfl, fsize=20000),
        Case("env", "full disk plot", ["plan", "{model}", "--plot", "{work}/p.png"], model=tfl, fsize=1000),
        Case("env", "full disk temp build", sim, model=tfl, fsize=30000),
        Case("env", "no gcc/make on PATH", sim, model=tfl, env={"PATH": "/nonexistent"}),
        Case("env", "no arm toolchain on PATH", ["simulate", "{model}", "--board", "mps2-an386", "--count", "1", "--json"], model=tfl, env={"PATH": "/usr/bin/nonexistent:/bin/nothing"}),
        Case("env", "profile without toolchain", ["profile", "{model}", "--board", "mps2-an386", "--json"], model=tfl, env={"PATH": "/nonexistent"}),
        Case("env", "CC points nowhere", sim, model=tfl, env={"CC": "/nonexistent/cc"}),
        Case("env", "TMPDIR a file", sim, model=tfl, env={"TMPDIR": "/etc/passwd"}),
        Case("env", "TMPDIR missing", sim, model=tfl, env={"TMPDIR": "/nonexistent/tmp"}),
        Case("env", "stdout closed", ["info", "{model}"], model=tfl, stdout="closed"),
        Case("env", "stdout closed --json", ["simulate", "{model}", "--board", "host", "--count", "1", "--json"], model=tfl, stdout="closed"),
        Case("env", "cwd deleted", ["info", "{model}", "--json"], model=tfl, cwd_deleted=True),
        Case("env", "cwd deleted simulate", sim, model=tfl, cwd_deleted=True),
        Case("env", "LANG=C with a non-ASCII name", ["info", "{model}"], model=_tflite_inject(tfl, "żółw ✓", "input name"), env={"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}),
        Case("env", "PYTHONIOENCODING ascii --json", ["info", "{model}", "--json"], model=_tflite_inject(tfl, "żółw ✓", "input name"), env={"PYTHONIOENCODING": "ascii"}),
        Case("env", "HOME unset", sim, model=tfl, env={"HOME": ""}),
    ]
    # non-UTF-8 paths: model and output directory
    c.append(Case("env", "non-UTF-8 model path", ["info", "{work}/m\udcff\udcfe.tflite", "--json"],
                  setup=lambda w: (w / os.fsdecode(b"m\xff\xfe.tflite")).write_bytes(tfl)))
    c.append(Case("env", "non-UTF-8 model path simulate", sim[:1] + ["{work}/m\udcff.tflite"] + sim[2:],
                  setup=lambda w: (w / os.fsdecode(b"m\xff.tflite")).write_bytes(tfl)))
    c.append(Case("env", "non-UTF-8 -o", ["compile", "{model}", "-o", "{work}/o\udcff", "--json"], model=tfl))
    c.append(Case("env", "non-UTF-8 -o text", ["compile", "{model}", "-o", "{work}/o\udcff"], model=tfl))
    c.append(Case("env", "non-UTF-8 --plot", ["plan", "{model}", "--plot", "{work}/p\udcff.png", "--json"], model=tfl))
    if onx is not None:
        c.append(Case("env", "onnx in a read-only dir", ["simulate", "{work}/ro/m.onnx", "--board", "host", "--count", "1", "--json"],
                      setup=lambda w: ((w / "ro").mkdir(), (w / "ro" / "m.onnx").write_bytes(onx), _readonly(w))))
        c.append(Case("env", "onnx full disk", ["compile", "{model}", "-o", "{out}", "--json"], model=onx, suffix=".onnx", fsize=4096))
    return c


# ------------------------------------------------------------------ CLI misuse, every subcommand

def cli_cases() -> list[Case]:
    import modelgen as mg
    tfl = mg.conv2d()
    j = "--json"
    argvs = [
        ["info", "{model}", j, "--board", "nonexistent"],
        ["info", "{model}", j, "--patch", "2x2@-1"],
        ["info", "{model}", j, "--patch", "0x0@0"],
        ["info", "{model}", j, "--patch", "1x1@0"],
        ["info", "{model}", j, "--patch", "3x2@1"],
        ["info", "{model}", j, "--sram", "-1"],
        ["info", "{model}", j, "--sram", "1"],
        ["info", "{model}", j, "--flash", "0"],
        ["info", "{model}", j, "--keep-input-layout"],
        ["info", "{model}", "{model}", j],
        ["info", j],
        ["info", "", j],
        ["info", "-", j],
        ["info", "/proc/self/mem", j],
        ["info", "/proc/self/status", j],
        ["info", "/dev/stdin", j],
        ["info", "{work}", j],
        ["compile", "{model}", j],
        ["compile", "{model}", "-o", "{out}", "--board", "host", j, "--transport", "serial"],
        ["compile", "{model}", "-o", "{out}", "--board", "mps2-an386", j, "--sram", "100"],
        ["compile", "{model}", "-o", "{out}", "--board", "mps2-an386", j, "--flash", "100"],
        ["compile", "{model}", "-o", "{out}", j, "--calibrate", "{model}"],
        ["compile", "{model}", "-o", "{out}", j, "--max-overhead", "-0.5"],
        ["compile", "{model}", "-o", "{out}", j, "--max-overhead", "1e308"],
        ["compile", "{model}", "-o", "/", j],
        ["compile", "{model}", "-o", "/proc", j],
        ["compile", "{model}", "-o", "/dev/null", j],
        ["simulate", "{model}", j, "--board", "host", "--count", "0"],
        ["simulate", "{model}", j, "--board", "host", "--count", "1", "--seed", str(2**64)],
        ["simulate", "{model}", j, "--board", "host", "--count", "1", "--timeout", "0"],
        ["simulate", "{model}", j, "--board", "host", "--count", "1", "--timeout", "1e-9"],
        ["simulate", "{model}", j, "--board", "host", "--inputs", "{model}"],
        ["simulate", "{model}", j, "--board", "host", "--inputs", "/dev/null"],
        ["simulate", "{model}", j, "--board", "host", "--inputs", "{work}/obj.npy"],
        ["simulate", "{model}", j, "--board", "host", "--inputs", "{work}/big.npy"],
        ["simulate", "{model}", j, "--board", "host", "--inputs", "{work}/f64.npy"],
        ["simulate", "{model}", j, "--board", "host", "--transport", "serial"],
        ["simulate", "{model}", j, "--board", "mps2-an386", "--transport", "nonsense"],
        ["profile", "{model}", j, "--board", "host"],
        ["profile", "{model}", j, "--board", "nonexistent"],
        ["plan", "{model}", j, "--plot", "{work}"],
        ["plan", "{model}", j, "--plot", "{work}/x.txt"],
        ["plan", "{model}", j, "--board", "mps2-an385", "--sram", "10"],
        ["boards", j],
        ["boards", j, "extra"],
        ["flash", "{work}", j, "--board", "nucleo-f401re", "--dry-run"],
        ["flash", "{out}", j, "--board", "host", "--dry-run"],
        ["flash", "{model}", j, "--board", "nucleo-f401re", "--dry-run"],
        ["flash", "{work}", j, "--board", "nucleo-f401re", "--probe", "$(touch /tmp/mcuc_pwned_probe)", "--dry-run"],
        ["run", "{model}", j, "--board", "nucleo-f401re", "--port", "/dev/null"],
        ["run", "{model}", j, "--board", "nucleo-f401re", "--port", "/nonexistent/tty", "--timeout", "1"],
        ["run", "{model}", j, "--board", "host", "--port", "/dev/null"],
        ["run", "{model}", j, "--board", "nucleo-f401re", "--port", "{work}", "--timeout", "1"],
        ["demo", j, "--board", "host", "--epochs", "-1"],
        ["demo", j, "--board", "nonexistent"],
        ["nonsense", j],
        [j],
        ["--version"],
        ["simulate", j],
        ["info", "{model}", "--json=yes"],
    ]

    def npy(work: Path):
        np.save(work / "obj.npy", np.array([{"a": 1}], dtype=object))
        np.save(work / "big.npy", np.zeros((3, 10**6), np.int8))
        np.save(work / "f64.npy", np.full((2, 243), np.nan))
    return [Case("cli", " ".join(a), a, model=tfl, setup=npy) for a in argvs]


# ------------------------------------------------------------------ the campaign

KINDS = ("tflite", "onnx", "oneop", "inject", "env", "cli")


def build(kinds, seed: int, n_tflite: int, n_onnx: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    if "tflite" in kinds:
        cases += tflite_cases(rng, n_tflite)
    if "onnx" in kinds:
        cases += onnx_cases(rng, n_onnx)
    if "oneop" in kinds:
        cases += oneop_cases()
    if "inject" in kinds:
        cases += inject_cases(rng)
    if "env" in kinds:
        cases += env_cases()
    if "cli" in kinds:
        cases += cli_cases()
    return cases


def replay(saved: Path) -> list[Case]:
    """The model cases a --save run kept (caseNNNNN.tflite/.onnx with caseNNNNN.txt)."""
    import ast
    cases = []
    for txt in sorted(saved.glob("case*.txt")):
        models = [p for p in saved.glob(txt.stem + ".*") if p.suffix in (".tflite", ".onnx")]
        lines = txt.read_text().splitlines()
        if models:
            cases.append(Case("replay", lines[0], ast.literal_eval(lines[1]),
                              model=models[0].read_bytes(), suffix=models[0].suffix))
    return cases


def run_all(cases, root: Path, timeout: float, save: Path | None, log=sys.stderr):
    faults = collections.defaultdict(list)
    t0 = time.time()
    for k, case in enumerate(cases):
        work = root / f"c{k:05d}"
        o = run_case(case, work, timeout)
        found = judge(o, work)
        if found:
            faults[(case.kind, found[0][:70])].append((case, o))
            print(f"FAULT [{case.kind}] {case.label[:90]}: {found}", file=log, flush=True)
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                if case.model is not None:
                    (save / f"case{k:05d}{case.suffix}").write_bytes(case.model)
                (save / f"case{k:05d}.txt").write_text(
                    f"{case.label}\n{case.argv!r}\nexit {o.code}\n--- stdout\n{o.out[-3000:]}\n"
                    f"--- stderr\n{o.err[-3000:]}\n")
        _writable(work)
        shutil.rmtree(work, ignore_errors=True)
        if (k + 1) % 50 == 0:
            print(f"{k + 1}/{len(cases)} cases, {sum(map(len, faults.values()))} faulty, "
                  f"{time.time() - t0:.0f} s", file=log, flush=True)
    return faults


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--tflite", type=int, default=300, help="TFLite field-edit mutants")
    p.add_argument("--onnx", type=int, default=250, help="ONNX field-edit mutants")
    p.add_argument("--limit", type=int, help="run only the first N cases")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--save", type=Path, help="directory for faulty cases")
    p.add_argument("--replay", type=Path, help="run the model cases saved by --save instead")
    args = p.parse_args()
    cases = (replay(args.replay) if args.replay else
             build(args.kinds.split(","), args.seed, args.tflite, args.onnx))
    if args.limit:
        cases = cases[:args.limit]
    counts = collections.Counter(c.kind for c in cases)
    print(f"{len(cases)} cases: {dict(counts)}", file=sys.stderr, flush=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="mcuc_campaign2_") as tmp:
        os.chmod(tmp, 0o755)
        faults = run_all(cases, Path(tmp), args.timeout, args.save)
    n_bad = sum(map(len, faults.values()))
    print(f"{len(cases)} cases in {time.time() - t0:.0f} s, {n_bad} faulty, "
          f"{len(faults)} distinct faults")
    for (kind, what), items in sorted(faults.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(items):5d}  [{kind}] {what}\n       e.g. {items[0][0].label[:100]}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
