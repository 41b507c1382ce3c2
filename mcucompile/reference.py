"""The ground truth: TensorFlow Lite Micro's reference kernels, run on the host by the
tflite-micro package, for TFLite models; onnxruntime on the CPU for ONNX models (see
frontend/onnx.py for the session options and the NHWC convention of 4-D inputs/outputs).
Every output mcucompile produces is compared with this."""
from __future__ import annotations

import numpy as np

from .errors import McucError
from .ir import Graph


def reference_name(graph: Graph) -> str:
    """What reference_outputs runs for this model, for progress messages and reports."""
    if graph.source.lower().endswith(".onnx"):
        try:
            import onnxruntime
            return f"onnxruntime {onnxruntime.__version__} (CPU)"
        except ImportError:  # pragma: no cover - a dependency of the package
            return "onnxruntime (CPU)"
    return "TFLM"


def reference_outputs(model_bytes: bytes, graph: Graph, vectors: np.ndarray) -> np.ndarray:
    """Run each packed input vector (int8 [N, input_bytes]) through the reference (TFLM for
    TFLite models, onnxruntime for ONNX models); returns the packed outputs (int8
    [N, output_bytes]) in graph output order."""
    if graph.source.lower().endswith(".onnx"):
        return onnxruntime_outputs(model_bytes, graph, vectors)
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise McucError(f"the tflite-micro package is needed for the reference ({e})") from None
    try:
        interp = runtime.Interpreter.from_bytes(model_bytes)
    except Exception as e:
        raise McucError(f"TFLM reference interpreter refused the model: {e}",
                        graph.source) from None
    results = []
    for vec in vectors:
        offset = 0
        for i, t in enumerate(graph.inputs):
            part = vec[offset:offset + t.nbytes].view(np.int8).reshape(t.shape)
            interp.set_input(part, i)
            offset += t.nbytes
        interp.invoke()
        outs = [np.asarray(interp.get_output(i)).astype(np.int8).reshape(-1)
                for i in range(len(graph.outputs))]
        results.append(np.concatenate(outs))
        interp.reset()
    return np.stack(results) if results else np.zeros((0, 0), np.int8)


# The reference's onnxruntime session configuration. qdqisint8allowed=1 is onnxruntime's default
# on Arm CPUs; on x86 the default is 0, under which S8S8 QDQ Conv/MatMul/Add/Mul groups run as
# DequantizeLinear -> float op -> QuantizeLinear instead of the integer QLinear kernels (README,
# "ONNX models and float models", has what that changes; tests/test_onnx.py measures it).
REFERENCE_SESSION_CONFIG = {"session.qdqisint8allowed": "1"}


def onnxruntime_outputs(model_bytes: bytes, graph: Graph, vectors: np.ndarray,
                        session_config: dict | None = None) -> np.ndarray:
    """Run each packed int8 input vector through onnxruntime (CPU) on the model's int8 core
    (input QuantizeLinear and output DequantizeLinear cut off, as the compiler does), with
    session.qdqisint8allowed=1 so QDQ groups run as onnxruntime's integer QLinear kernels.
    4-D NCHW inputs arrive NHWC (the firmware's layout) and are transposed to NCHW here, 4-D
    NCHW outputs are transposed back to NHWC (frontend.onnx.nhwc_io says which).
    session_config: onnxruntime session config entries instead of REFERENCE_SESSION_CONFIG
    ({} = onnxruntime's defaults for this machine)."""
    import onnx
    import onnxruntime as ort

    from .frontend.onnx import int8_core, nhwc_io
    core = int8_core(onnx.load_from_string(model_bytes), graph.source)
    nhwc = nhwc_io(core)
    so = ort.SessionOptions()
    config = REFERENCE_SESSION_CONFIG if session_config is None else session_config
    for key, value in config.items():
        so.add_session_config_entry(key, value)
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(core.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:
        raise McucError(f"onnxruntime refused the model: {e}", graph.source) from None
    names = [i.name for i in sess.get_inputs()]
    out_nhwc = [nhwc[o.name] for o in sess.get_outputs()]
    results = []
    for vec in vectors:
        feed, offset = {}, 0
        for name, t in zip(names, graph.inputs):
            part = vec[offset:offset + t.nbytes].view(np.int8).reshape(t.shape)
            feed[name] = part.transpose(0, 3, 1, 2) if nhwc[name] else part
            offset += t.nbytes
        outs = sess.run(None, feed)
        results.append(np.concatenate([
            (o.transpose(0, 2, 3, 1) if t else o).astype(np.int8).reshape(-1)
            for o, t in zip(outs, out_nhwc)]))
    return np.stack(results) if results else np.zeros((0, 0), np.int8)
