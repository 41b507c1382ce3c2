"""The ground truth: TensorFlow Lite Micro's reference kernels, run on the host by the
tflite-micro package. Every output mcucompile produces is compared with this."""
from __future__ import annotations

import numpy as np

from .errors import McucError
from .ir import Graph


def reference_outputs(model_bytes: bytes, graph: Graph, vectors: np.ndarray) -> np.ndarray:
    """Run each packed input vector (int8 [N, input_bytes]) through TFLM; returns the packed
    outputs (int8 [N, output_bytes]) in graph output order."""
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
