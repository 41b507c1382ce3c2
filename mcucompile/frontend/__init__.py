"""Frontends: model files -> ir.Graph. `load_model` picks one by file type: .tflite
(tflite.py), .onnx (onnx.py); float models are quantized first by calibrate.py (--calibrate)."""
from __future__ import annotations

from pathlib import Path

from ..errors import McucError
from ..inputs import MAX_MODEL_BYTES, check_file
from ..ir import Graph


def load_model(path: str | Path, keep_unsupported: bool = False) -> Graph:
    """The checked graph of a model file. keep_unsupported (TFLite): a model with ops that
    have no kernel here is returned unchecked instead of refused (`info` lists its ops'
    status: tflite.op_problem); an ONNX model is refused at its first such op either way."""
    path = Path(path)
    if not path.exists():
        raise McucError("model file not found", str(path))
    suffix = path.suffix.lower()
    if not path.is_dir():
        check_file(path, "model file", MAX_MODEL_BYTES)    # no device, FIFO or huge file
    if path.is_dir() or suffix in (".keras", ".h5", ".hdf5"):
        raise McucError("this is a float Keras/SavedModel model: it must be quantized to INT8 "
                        "first", str(path),
                        hint="pass --calibrate SAMPLES.npy (a few representative inputs) and "
                             "mcucompile quantizes it with TensorFlow's converter")
    if suffix == ".tflite":
        from .tflite import load_tflite
        return load_tflite(path, keep_unsupported)
    if suffix == ".onnx":
        from .onnx import load_onnx
        return load_onnx(path)
    head = path.read_bytes()[:8]
    if head[4:8] == b"TFL3":
        from .tflite import load_tflite
        return load_tflite(path, keep_unsupported)
    raise McucError(f"unknown model format '{suffix or head!r}' (expected .tflite or .onnx)", str(path))
