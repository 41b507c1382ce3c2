"""Seeded fuzzing of mcucompile: model mutants and CLI misuse, each case one CLI command run
in-process, judged by what a user must always get.

Mutators (each takes the model and a numpy Generator, returns new model bytes or None when
the mutant cannot be serialised):
- tflite_fields: one field of the flatbuffer's object API (schema_py_generated.ModelT) changed
  through reflection: any int, enum, float, index list, shape, quantization array, builtin
  option or operator code of a random tensor/op/buffer, set to a boundary value (-1, 0, 2^31-1,
  NaN, 1e30, an index out of range...), an element dropped or added; then re-packed.
- onnx_fields: the same over the ONNX protobuf: node attributes, initializer dims and data,
  input shape dims, opset and IR versions, node inputs renamed or dropped, nodes and
  initializers deleted.
- model_bytes: byte flips, truncation, insertion.
- cli_misuse (no model mutant): random commands with hostile arguments (NaN, huge counts,
  devices, FIFOs, directories, 300-character names, files where directories belong).

check_case() runs one command with a time guard and returns the list of what went wrong:
exit code not 0/1 (2 allowed for simulate's MISMATCH only when `mismatch_ok`), a traceback
on stdout or stderr, an error that is not one "error: ..." line (plus a hint line), not
exactly one JSON object with --json, more than `limit` seconds, or a child process left over.
tests/test_fuzz.py runs a few hundred cases; tests/fuzz_nightly.py runs many more.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INTS = [-1, 0, 1, 2, 3, 7, 127, 128, 255, -128, 2**15, 2**31 - 1, -2**31, 2**40]
FLOATS = [0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e30, 1e-30, 1.5e35, 1e-45]


# ------------------------------------------------------------------ TFLite fields

def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    return schema


def _sites(obj, path=(), out=None, depth=0):
    """(owner, key, path) of every int/float/array/list field reachable from a ModelT."""
    out = [] if out is None else out
    if depth > 6:
        return out
    items = (vars(obj).items() if hasattr(obj, "__dict__") else
             enumerate(obj) if isinstance(obj, list) else ())
    for key, value in items:
        if key in ("data",) and isinstance(value, (np.ndarray, list)) and len(value) > 4096:
            out.append((obj, key, path + (key,)))           # big buffers: one site
            continue
        if isinstance(value, bool) or value is None:
            if isinstance(value, bool):
                out.append((obj, key, path + (key,)))
            continue
        if isinstance(value, (int, float, np.integer, np.floating, np.ndarray, bytes, str)):
            out.append((obj, key, path + (key,)))
        elif isinstance(value, list) and value and not hasattr(value[0], "__dict__"):
            out.append((obj, key, path + (key,)))
        elif isinstance(value, list) or hasattr(value, "__dict__"):
            _sites(value, path + (key,), out, depth + 1)
    return out


def _pick_site(sites, rng):
    """A field kind first (e.g. subgraphs/operators/builtinOptions/strideW), all kinds alike,
    then one of its sites: an op's stride is as likely an edit as one of 35 tensor names."""
    kinds: dict[str, list] = {}
    for owner, key, path in sites:
        kinds.setdefault("/".join(str(p) for p in path if not isinstance(p, int)), []).append(
            (owner, key))
    group = list(kinds.values())[int(rng.integers(len(kinds)))]
    return group[int(rng.integers(len(group)))]


def _set(owner, key, value):
    if isinstance(owner, list):
        owner[key] = value
    else:
        setattr(owner, key, value)


def _get(owner, key):
    return owner[key] if isinstance(owner, list) else getattr(owner, key)


def _mutate_value(value, rng, bound: int):
    """A hostile replacement for one field's value."""
    if isinstance(value, (bool, np.bool_)):
        return not value
    if isinstance(value, (int, np.integer)):
        pool = INTS + [bound, bound - 1, int(value) + 1, int(value) - 1, int(value) * 2]
        return int(pool[rng.integers(len(pool))])
    if isinstance(value, (float, np.floating)):
        pool = FLOATS + [float(value) * 2, -float(value)]
        return float(pool[rng.integers(len(pool))])
    if isinstance(value, (bytes, str)):
        hostile = ["", "x */ int mcuc_injected = 1; /* y", "a\"b\\\nc", "$(touch /tmp/pwn)",
                   "\x1b[2J\x07", "n\x00ul"]
        pick = hostile[rng.integers(len(hostile))]
        return pick.encode() if isinstance(value, bytes) else pick
    arr = np.array(value)
    if arr.size == 0 or rng.random() < 0.2:
        choice = rng.integers(3)
        if choice == 0:
            return arr[:-1] if arr.size else arr
        extra = arr.reshape(-1)[:1] if arr.size else np.zeros(1, arr.dtype if arr.dtype != object else np.int32)
        return np.concatenate([arr.reshape(-1), extra]) if choice == 1 else arr[:0]
    flat = arr.reshape(-1).copy()
    i = int(rng.integers(flat.size))
    if flat.dtype.kind == "f":
        flat[i] = FLOATS[rng.integers(len(FLOATS))]
    elif flat.dtype.kind in "iu":
        info = np.iinfo(flat.dtype)
        pool = [v for v in INTS + [bound, bound - 1] if info.min <= v <= info.max]
        flat[i] = pool[rng.integers(len(pool))]
    return flat.reshape(arr.shape) if isinstance(value, np.ndarray) else flat.tolist()


def tflite_fields(model_bytes: bytes, rng, edits: int = 1) -> bytes | None:
    import flatbuffers
    schema = _schema()
    m = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    bound = max(len(m.subgraphs[0].tensors), len(m.buffers))
    for _ in range(edits):
        owner, key = _pick_site(_sites(m), rng)
        _set(owner, key, _mutate_value(_get(owner, key), rng, bound))
    try:
        b = flatbuffers.Builder(0)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())
    except Exception:       # noqa: BLE001 - a value the field cannot hold: no mutant
        return None


# ------------------------------------------------------------------ ONNX fields

def _proto_sites(msg, out):
    """(message, field descriptor, index or None) of every numeric or string field."""
    for fd, value in msg.ListFields():
        if fd.type == fd.TYPE_MESSAGE:
            children = value if fd.is_repeated else [value]
            for child in children:
                _proto_sites(child, out)
        elif fd.name == "raw_data":
            out.append((msg, fd, None))
        elif fd.is_repeated:
            for i in range(len(value)):
                out.append((msg, fd, i))
        else:
            out.append((msg, fd, None))
    return out


def onnx_fields(model_bytes: bytes, rng, edits: int = 1) -> bytes | None:
    import onnx
    m = onnx.load_from_string(model_bytes)
    for _ in range(edits):
        kind = rng.integers(10)
        g = m.graph
        if kind == 0 and len(g.node) > 1:
            del g.node[int(rng.integers(len(g.node)))]
        elif kind == 1 and len(g.initializer):
            del g.initializer[int(rng.integers(len(g.initializer)))]
        elif kind == 2 and len(g.node):
            node = g.node[int(rng.integers(len(g.node)))]
            if node.input:
                names = [v.name for v in g.value_info] + [i.name for i in g.initializer] + [""]
                node.input[int(rng.integers(len(node.input)))] = names[rng.integers(len(names))]
        else:
            kinds: dict[str, list] = {}    # field kinds alike (an attribute: by its name)
            for msg, fd, i in _proto_sites(m, []):
                kind_name = fd.full_name + (f":{msg.name}" if fd.containing_type.name ==
                                            "AttributeProto" else "")
                kinds.setdefault(kind_name, []).append((msg, fd, i))
            group = list(kinds.values())[int(rng.integers(len(kinds)))]
            msg, fd, i = group[int(rng.integers(len(group)))]
            try:
                _mutate_proto(msg, fd, i, rng)
            except (ValueError, TypeError):
                return None
    try:
        return m.SerializeToString()
    except Exception:       # noqa: BLE001
        return None


def _mutate_proto(msg, fd, i, rng) -> None:
    value = getattr(msg, fd.name)
    current = value[i] if i is not None else value
    if fd.name == "raw_data":
        data = bytearray(current)
        if data and rng.random() < 0.7:
            for _ in range(1 + int(rng.integers(4))):
                data[int(rng.integers(len(data)))] = int(rng.integers(256))
        else:
            data = data[:int(rng.integers(len(data) + 1))]
        setattr(msg, fd.name, bytes(data))
        return
    new = _mutate_value(current, rng, 64)
    if fd.type in (fd.TYPE_STRING, fd.TYPE_BYTES):
        new = new if isinstance(new, type(current)) else str(new)
    elif fd.type in (fd.TYPE_FLOAT, fd.TYPE_DOUBLE):
        new = float(new)
    else:
        new = int(new)
    if i is None:
        setattr(msg, fd.name, new)
    else:
        value[i] = new


# ------------------------------------------------------------------ bytes

def model_bytes(data: bytes, rng, edits: int = 8) -> bytes:
    buf = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:
        return bytes(buf[:int(rng.integers(len(buf)))])
    if kind == 1:
        pos = int(rng.integers(len(buf)))
        return bytes(buf[:pos] + rng.integers(0, 256, int(rng.integers(1, 64)), np.uint8).tobytes()
                     + buf[pos:])
    for pos in rng.integers(0, len(buf), size=edits):
        buf[pos] = int(rng.integers(256))
    return bytes(buf)


# ------------------------------------------------------------------ CLI misuse

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e309", "", "x", str(2**64), "3.5", "1", "-0"]


def cli_misuse(rng, model: Path, work: Path) -> list[str]:
    """A random hostile command line (nothing that starts QEMU)."""
    fifo = work / "fifo.npy"
    if not fifo.exists():
        os.mkfifo(fifo)
    (work / "afile").write_text("x")
    paths = [str(fifo), "/dev/zero", str(work), "", str(work / ("n" * 300)),
             str(work / "afile" / "below"), str(work / "missing.npy"), str(work / "afile")]
    pick = lambda pool: pool[int(rng.integers(len(pool)))]   # noqa: E731
    command = pick(["info", "compile", "simulate", "plan", "profile", "run", "flash", "boards"])
    argv = [command]
    if command in ("info", "compile", "simulate", "plan", "profile", "run"):
        argv.append(str(model) if rng.random() < 0.7 else pick(paths))
    if command == "flash":
        argv += [pick(paths), "--board", pick(["nucleo-f401re", "nope", ""]), "--dry-run"]
    if command == "run":
        argv += ["--board", pick(["mps2-an386", "host", "x"]), "--port",
                 pick(["/dev/null", str(work / "no-port"), "socket://127.0.0.1:1", ""])]
    options = {
        "compile": ["-o", "--patch", "--sram", "--max-overhead", "--board", "--kernels",
                    "--transport", "--calibrate"],
        "simulate": ["--count", "--seed", "--timeout", "--inputs", "--patch", "--sram",
                     "--max-overhead", "-o", "--calibrate", "--transport"],
        "plan": ["--patch", "--sram", "--max-overhead", "--plot", "--board"],
        "profile": ["--seed", "--timeout", "--board"],
        "info": ["--calibrate"], "run": ["--count", "--seed", "--timeout", "--baud"],
        "flash": [], "boards": [],
    }[command]
    for _ in range(int(rng.integers(0, 3))):
        if not options:
            break
        opt = pick(options)
        if opt in ("-o", "--inputs", "--calibrate", "--plot"):
            value = pick(paths + [str(work / "out"), str(work / "plot.png")])
        elif opt == "--patch":
            value = pick(["auto", "off", "1000x1000@0", "99999999999x99999999999@1", "0x0@0",
                          "2x3@1", "x@", "2x2@-1", "3x3@999", ""])
        elif opt == "--board":
            value = "host" if command == "simulate" else pick(["host", "mps2-an386", "nope", ""])
        elif opt in ("--kernels", "--transport"):
            value = pick(["auto", "portable", "serial", "files", "bad"])
        else:
            value = pick(NUMBERS + ["100000000", "2", "1"])
        argv += [opt, value]
    if command == "simulate":
        argv += ["--board", "host"]             # a misuse case never starts QEMU
    if command == "profile":
        argv += ["--board", "host"]
    if rng.random() < 0.5:
        argv.append("--json")
    return argv


# ------------------------------------------------------------------ judging one case

class CaseTimeout(BaseException):
    """Raised by the time guard (a BaseException: main() must not swallow it)."""


@dataclass
class Outcome:
    argv: list
    code: int | None
    out: str
    err: str
    seconds: float
    problems: list = field(default_factory=list)


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if fields[1] == me and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def check_case(argv: list[str], limit: float = 60.0, mismatch_ok: bool = False) -> Outcome:
    """Run `mcucompile ARGV` in-process under a time guard; what went wrong in Outcome.problems."""
    from mcucompile.cli import main

    before = _children()
    out, err = io.StringIO(), io.StringIO()

    def expire(*_):
        raise CaseTimeout()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t0 = time.monotonic()
    code = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except CaseTimeout:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    o = Outcome(argv, code, out.getvalue(), err.getvalue(), time.monotonic() - t0)
    o.problems = judge(o, "--json" in argv, mismatch_ok)
    left = _children() - before
    if left:
        o.problems.append(f"child processes left: {sorted(left)}")
    return o


def judge(o: Outcome, json_out: bool, mismatch_ok: bool = False) -> list[str]:
    problems = []
    allowed = {0, 1, 2} if mismatch_ok else {0, 1}
    if o.code is None:
        return [f"no answer within the time limit ({o.seconds:.0f}s)"]
    if o.code not in allowed:
        problems.append(f"exit {o.code}: {o.err.strip().splitlines()[-1:] or o.out[-200:]}")
    if "Traceback" in o.err or "Traceback" in o.out:
        problems.append("traceback")
    if o.code == 1:
        lines = [line for line in o.err.strip().splitlines() if not line.startswith("[")]
        if not lines or not lines[0].startswith("error: "):
            problems.append(f"error not on one 'error:' line: {lines[:2]}")
        elif len(lines) > 1 and not lines[1].startswith("  hint: ") and \
                "build for" not in lines[0] and "crashed" not in lines[0]:
            problems.append(f"error on more than one line: {lines[:3]}")
    if json_out and o.code in (0, 1, 2, 3):
        try:
            obj = json.loads(o.out)
            if not isinstance(obj, (dict, list)):
                problems.append("--json printed no object")
        except ValueError:
            problems.append(f"--json did not print exactly one JSON object: {o.out[:120]!r}")
    return problems


def signature(o: Outcome) -> str:
    """A short key grouping outcomes by fault (exit code and first error words)."""
    line = next((ln for ln in o.err.strip().splitlines() if ln.startswith("error:")), "")
    words = " ".join(line.split()[:6])
    for token in "0123456789":
        words = words.replace(token, "#")
    return f"exit {o.code}: {words}" if o.code is not None else "timeout"


def mutant(kind: str, base: bytes, rng):
    """One mutant of `base` by mutator `kind` (None: could not be serialised)."""
    if kind == "tflite_fields":
        return tflite_fields(base, rng, edits=1 + int(rng.random() < 0.3))
    if kind == "onnx_fields":
        return onnx_fields(base, rng, edits=1 + int(rng.random() < 0.3))
    return model_bytes(base, rng)


# ------------------------------------------------------------------ campaigns

def base_models(shared: Path) -> dict[str, list[tuple[str, bytes]]]:
    """The models mutants start from: small shared TFLite models, generated ONNX models in
    both forms (QDQ and QOperator)."""
    import onnx_modelgen as og
    tflite = [(n, (shared / f"{n}.tflite").read_bytes())
              for n in ("hello_world_int8", "kws_ref_model", "micro_speech_quantized")
              if (shared / f"{n}.tflite").exists()]
    onnx = [(f"{b}_{fmt}", og.quantized(b, fmt)) for b in ("conv", "depthwise", "gemm")
            for fmt in ("QDQ", "QOperator")]
    return {"tflite_fields": tflite, "model_bytes": tflite + onnx[:2], "onnx_fields": onnx}


COMMANDS = ["info", "compile", "plan"]


def model_case(kind: str, bases: list, rng, work: Path, simulate: bool,
               limit: float = 60.0) -> Outcome | None:
    """One mutant of a random base model through a random command (`simulate` on the host
    board when `simulate`); None when the mutator made nothing."""
    name, base = bases[int(rng.integers(len(bases)))]
    data = mutant(kind, base, rng)
    if data is None:
        return None
    suffix = ".onnx" if "QDQ" in name or "QOperator" in name else ".tflite"
    path = work / f"mutant{suffix}"
    path.write_bytes(data)
    out = work / "out"
    command = "simulate" if simulate else COMMANDS[int(rng.integers(len(COMMANDS)))]
    argv = {"info": ["info", str(path)],
            "plan": ["plan", str(path)],
            "compile": ["compile", str(path), "--board", "host", "-o", str(out)],
            "simulate": ["simulate", str(path), "--board", "host", "--count", "2",
                         "-o", str(out)]}[command]
    if rng.random() < 0.3:
        argv.append("--json")
    o = check_case(argv, limit)
    o.argv = [f"{name} via {kind}"] + argv
    o.mutant = data
    return o


def campaign(cases: int, seed: int, work: Path, shared: Path, kinds=None,
             simulate_share: float = 0.05, limit: float = 60.0):
    """Yield `cases` outcomes: model mutants of the given kinds and CLI misuse, seeded."""
    rng = np.random.default_rng(seed)
    bases = base_models(shared)
    kinds = kinds or ["tflite_fields", "onnx_fields", "model_bytes", "cli_misuse"]
    done = 0
    while done < cases:
        kind = kinds[done % len(kinds)]
        if kind == "cli_misuse":
            o = check_case(cli_misuse(rng, shared / "hello_world_int8.tflite", work), limit)
        else:
            o = model_case(kind, bases[kind], rng, work, rng.random() < simulate_share, limit)
        if o is None:
            continue
        o.kind = kind
        done += 1
        yield o
