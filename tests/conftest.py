"""Shared test helpers: where the external models are, and a one-call simulate check."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
# public models made by others, in the repository (tests/data/models/NOTICE.md)
SHARED_MODELS = Path(os.environ.get("MCUC_SHARED_MODELS", REPO / "tests" / "data" / "models"))
SHARED_MODEL_NAMES = ["hello_world_int8", "micro_speech_quantized", "person_detect",
                      "kws_ref_model", "pretrainedResnet_quant"]


def shared_model(name: str) -> Path:
    path = SHARED_MODELS / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present (MCUC_SHARED_MODELS names another folder)")
    return path


def write_model(tmp_path: Path, model_bytes: bytes, name: str = "model") -> Path:
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model_bytes)
    return path


def assert_bit_exact(report) -> None:
    """A simulate() report must match TFLM on every output value of every vector."""
    assert report.vectors > 0
    assert report.outputs.shape == report.reference.shape
    assert report.bit_exact, (f"{report.mismatches} mismatches, max diff {report.max_abs_diff}, "
                              f"first {report.first_mismatch}")
    assert np.array_equal(report.outputs, report.reference)


# ------------------------------------------------------------------ the fast tier
# `pytest -m "not slow"` leaves out every test that starts QEMU or builds with
# arm-none-eabi-gcc: tests marked slow by hand, and those marked here because a Cortex-M board
# is among their parameters or named in their body (a new QEMU test is slow without a mark).

def _cross_names() -> list[str]:
    import tomllib
    names = []
    for path in sorted((REPO / "boards").glob("*.toml")):
        if tomllib.loads(path.read_text()).get("kind", "host") != "host":
            names.append(path.stem)
    return names + ["arm-none-eabi", "qemu-system", "QEMU_BOARDS", "CROSS_BOARDS"]


def _body(function) -> str:
    import inspect
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return ""
    return source[source.find("def "):]         # without the decorators (parameters)


def pytest_collection_modifyitems(config, items):
    names = _cross_names()
    for item in items:
        params = repr(getattr(getattr(item, "callspec", None), "params", ""))
        text = params + _body(getattr(item, "function", None))
        if any(name in text for name in names):
            item.add_marker(pytest.mark.slow)
