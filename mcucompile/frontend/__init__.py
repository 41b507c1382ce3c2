"""Frontends: model files -> ir.Graph. `load_model` picks one by file type."""
from __future__ import annotations

from pathlib import Path

from ..errors import McucError
from ..ir import Graph


def load_model(path: str | Path) -> Graph:
    path = Path(path)
    if not path.exists():
        raise McucError("model file not found", str(path))
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from .tflite import load_tflite
        return load_tflite(path)
    head = path.read_bytes()[:8]
    if head[4:8] == b"TFL3":
        from .tflite import load_tflite
        return load_tflite(path)
    raise McucError(f"unknown model format '{suffix or head!r}' (expected .tflite)", str(path))
