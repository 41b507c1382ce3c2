"""The ground truth: TensorFlow Lite Micro's reference kernels, run on the host by the
tflite-micro package, for TFLite models; onnxruntime on the CPU for ONNX models (see
frontend/onnx.py for the session options and the NHWC convention of 4-D inputs/outputs).
Every output mcucompile produces is compared with this.

Both interpreters are C++ that can abort the whole process (TFLM's SIGABRT on a model it finds
inconsistent), so `simulate` and `run` run them in a child process (ReferenceProcess, `python
-m mcucompile.reference tflm|onnxruntime`): one per command, started before the firmware is
built (it imports its interpreter meanwhile), then fed the model and every chunk of vectors in
turn. What the child loads is prepared in the parent (prepare(): for ONNX the int8 core, cut
with the onnx package the frontend has imported already), so the child imports only its
interpreter (onnx itself takes a second to import). Requests and replies are pickles over the
child's stdin and stdout (the child moves its C++ code's stdout onto stderr, which goes to a
temporary file); a child that dies becomes a McucError naming the signal, with the end of its
stderr.

State: a TFLite model with variable tensors (recurrent layers) keeps them across invoke(), as
the firmware keeps its state region across runs. So the vectors run in order on one
interpreter, never reset between them, across every chunk a ReferenceProcess is sent: output
N is TFLM's after N invokes, as the harness's is the firmware's after N runs.
"""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import McucError
from .ir import Graph


def reference_name(graph: Graph) -> str:
    """What reference_outputs runs for this model, for progress messages and reports."""
    if _is_onnx(graph):
        try:
            import onnxruntime
            return f"onnxruntime {onnxruntime.__version__} (CPU)"
        except ImportError:  # pragma: no cover - a dependency of the package
            return "onnxruntime (CPU)"
    return "TFLM"


def model_input(graph: Graph, i: int, data: np.ndarray) -> np.ndarray:
    """Graph input i's bytes (the firmware's layout) as the model file's input tensor, of
    its type (int8, or int16 where a model starts with a QUANTIZE): transposed back where the
    compiler changed the layout (Graph.input_perms)."""
    t = graph.inputs[i]
    part = np.ascontiguousarray(data).view(np.int8).view(t.dtype).reshape(t.shape)
    perm = graph.input_perms.get(i)
    return np.ascontiguousarray(part.transpose(perm)) if perm else part


def _is_onnx(graph: Graph) -> bool:
    return graph.source.lower().endswith(".onnx")


def reference_outputs(model_bytes: bytes, graph: Graph, vectors: np.ndarray) -> np.ndarray:
    """Run each packed input vector (int8 [N, input_bytes]) through the reference (TFLM for
    TFLite models, onnxruntime for ONNX models); returns the packed outputs (int8
    [N, output_bytes]) in graph output order."""
    if _is_onnx(graph):
        return onnxruntime_outputs(model_bytes, graph, vectors)
    return tflm_run(tflm_interpreter(model_bytes, graph), graph, vectors)


def tflm_interpreter(model_bytes: bytes, graph: Graph, **options):
    """A fresh TFLM interpreter of the model (its variable tensors reset)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise McucError(f"the tflite-micro package is needed for the reference ({e})") from None
    try:
        # TFLM's default arena is 10x the file: too small for a small file with large
        # activations; every activation tensor unshared, plus that, always suffices
        activations = getattr(graph, "activation_bytes", None)
        if activations is None:
            activations = sum(t.nbytes for t in graph.activations())
        options.setdefault("arena_size", 10 * len(model_bytes) + 2 * activations)
        return runtime.Interpreter.from_bytes(model_bytes, **options)
    except Exception as e:
        raise McucError(f"TFLM reference interpreter refused the model: {e}",
                        graph.source) from None


def tflm_run(interp, graph: Graph, vectors: np.ndarray, reset_every: int = 0) -> np.ndarray:
    """The packed outputs (as bytes, int8 [N, output_bytes]) of the vectors run in order on
    `interp`, its state kept from one to the next (reset before every `reset_every`-th
    vector after the first, as a harness built with MCUC_RESET_EVERY does)."""
    results = []
    for n, vec in enumerate(vectors):
        if reset_every and n and n % reset_every == 0:
            interp.reset()
        offset = 0
        for i, t in enumerate(graph.inputs):
            interp.set_input(model_input(graph, i, vec[offset:offset + t.nbytes]), i)
            offset += t.nbytes
        interp.invoke()
        outs = [_output_bytes(interp.get_output(i), t) for i, t in enumerate(graph.outputs)]
        results.append(np.concatenate(outs))
    return np.stack(results) if results else np.zeros((0, 0), np.int8)


def _output_bytes(value, t) -> np.ndarray:
    """An output as the firmware stores it: its bytes (int8 data, int32 indices ...)."""
    value = np.ascontiguousarray(value)
    if value.dtype != np.dtype(t.dtype) or value.nbytes != t.nbytes:
        raise McucError(f"the reference gives output {t.name!r} as {value.dtype} "
                        f"{list(value.shape)}, the model says {t.dtype} {list(t.shape)}")
    return value.view(np.int8).reshape(-1)


# The reference's onnxruntime session configuration. qdqisint8allowed=1 is onnxruntime's default
# on Arm CPUs; on x86 the default is 0, under which S8S8 QDQ Conv/MatMul/Add/Mul groups run as
# DequantizeLinear -> float op -> QuantizeLinear instead of the integer QLinear kernels (README,
# "ONNX models and float models", has what that changes; tests/test_onnx.py measures it).
REFERENCE_SESSION_CONFIG = {"session.qdqisint8allowed": "1"}


@dataclass
class OnnxCore:
    """An ONNX model's int8 core (frontend.onnx.int8_core, serialised) and, per output in
    order, whether onnxruntime gives it NCHW where the firmware stores NHWC."""
    model: bytes
    nchw_outputs: list


def onnx_core(model_bytes: bytes, graph: Graph) -> OnnxCore:
    import onnx

    from .frontend.onnx import int8_core, nhwc_outputs
    core = int8_core(onnx.load_from_string(model_bytes), graph.source)
    nhwc = nhwc_outputs(core)
    return OnnxCore(core.SerializeToString(), [nhwc[o.name] for o in core.graph.output])


def onnxruntime_outputs(model_bytes: bytes, graph: Graph, vectors: np.ndarray,
                        session_config: dict | None = None) -> np.ndarray:
    """Run each packed int8 input vector through onnxruntime (CPU) on the model's int8 core
    (input QuantizeLinear and output DequantizeLinear cut off, as the compiler does), with
    session.qdqisint8allowed=1 so QDQ groups run as onnxruntime's integer QLinear kernels.
    4-D NCHW inputs arrive NHWC (the firmware's layout) and are transposed to NCHW here
    (Graph.input_perms), 4-D NCHW outputs are transposed back to NHWC (frontend.onnx.
    nhwc_outputs says which).
    session_config: onnxruntime session config entries instead of REFERENCE_SESSION_CONFIG
    ({} = onnxruntime's defaults for this machine)."""
    return _onnxruntime_run(onnx_core(model_bytes, graph), graph, vectors, session_config)


def _onnxruntime_run(core: OnnxCore, graph: Graph, vectors: np.ndarray,
                     session_config: dict | None = None) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    config = REFERENCE_SESSION_CONFIG if session_config is None else session_config
    for key, value in config.items():
        so.add_session_config_entry(key, value)
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(core.model, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise McucError(f"onnxruntime refused the model: {e}", graph.source) from None
    names = [i.name for i in sess.get_inputs()]
    out_nhwc = core.nchw_outputs
    results = []
    for vec in vectors:
        feed, offset = {}, 0
        for i, (name, t) in enumerate(zip(names, graph.inputs)):
            feed[name] = model_input(graph, i, vec[offset:offset + t.nbytes])
            offset += t.nbytes
        outs = sess.run(None, feed)
        results.append(np.concatenate([
            (o.transpose(0, 2, 3, 1) if t else o).astype(np.int8).reshape(-1)
            for o, t in zip(outs, out_nhwc)]))
    return np.stack(results) if results else np.zeros((0, 0), np.int8)


# ------------------------------------------------------------------ the child process

@dataclass
class _Tensor:
    name: str
    shape: tuple
    nbytes: int
    dtype: str


@dataclass
class _Graph:
    """What the reference needs of a Graph (picklable, unlike the lowered graph)."""
    source: str
    inputs: list
    outputs: list
    input_perms: dict     # Graph.input_perms: inputs whose layout the compiler changed
    activation_bytes: int  # of every non-constant tensor (an upper bound of TFLM's arena)


def _picklable(graph: Graph) -> _Graph:
    return _Graph(graph.source,
                  [_Tensor(t.name, tuple(t.shape), t.nbytes, t.dtype) for t in graph.inputs],
                  [_Tensor(t.name, tuple(t.shape), t.nbytes, t.dtype) for t in graph.outputs],
                  dict(graph.input_perms),
                  sum(t.nbytes for t in graph.activations()))


class ReferenceProcess:
    """    with ReferenceProcess(model_bytes, graph) as ref:
            outputs = ref.run(vectors)        # reference_outputs, in the child process"""

    def __init__(self, model_bytes: bytes, graph: Graph):
        from .procs import child
        self.graph = graph
        self._log = tempfile.TemporaryFile()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        onnx = _is_onnx(graph)
        # what the interpreter loads, prepared here (the child imports only its interpreter)
        prepared = onnx_core(model_bytes, graph) if onnx else model_bytes
        self._child = child([sys.executable, "-m", "mcucompile.reference",
                             "onnxruntime" if onnx else "tflm"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        self._proc = self._child.__enter__()
        self._model = ("model", prepared, _picklable(graph))      # sent with the first vectors

    def __enter__(self) -> ReferenceProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._child.__exit__(None, None, None)
        self._log.close()

    def _send(self, request) -> None:
        try:
            pickle.dump(request, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def run(self, vectors: np.ndarray) -> np.ndarray:
        if self._model is not None:
            self._send(self._model)
            self._model = None
        self._send(("run", np.ascontiguousarray(vectors, np.int8)))
        try:
            status, value = pickle.load(self._proc.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            raise self._died() from None
        if status == "error":
            message, where, hint = value
            raise McucError(message, where, hint)
        return value

    def _died(self) -> McucError:
        status = self._proc.wait()
        self._log.seek(0)
        tail = "\n".join(self._log.read().decode(errors="replace").strip().splitlines()[-8:])
        how = (f"killed by {signal.Signals(-status).name}" if status < 0
               else f"exit status {status}")
        return McucError(f"the reference ({reference_name(self.graph)}) crashed on this model "
                         f"({how})", self.graph.source, hint=tail or None)


def _serve(interpreter: str) -> None:
    """The child: import the interpreter (while the parent builds the firmware), then take
    ("model", prepared, graph) and answer ("run", vectors) until EOF (TFLM: on one
    interpreter, made at the first run, so that state carries over from chunk to chunk)."""
    onnx = interpreter == "onnxruntime"
    if onnx:
        import onnxruntime  # noqa: F401
    else:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)           # what the C++ interpreters print goes to stderr, not the channel
    prepared = graph = None
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        if request[0] == "model":
            _, prepared, graph = request
            continue
        try:
            if onnx:
                reply = ("ok", _onnxruntime_run(prepared, graph, request[1]))
            else:
                if isinstance(prepared, bytes):
                    prepared = tflm_interpreter(prepared, graph)
                reply = ("ok", tflm_run(prepared, graph, request[1]))
        except McucError as e:
            reply = ("error", (e.message, e.where, e.hint))
        except Exception as e:  # noqa: BLE001 - the interpreter refused the model at run time
            reply = ("error", (f"the reference ({reference_name(graph)}) failed on this model: "
                               f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
                               graph.source, None))
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
