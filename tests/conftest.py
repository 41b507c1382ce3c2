"""Shared test helpers: where the external models are, and a one-call simulate check."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("MCUC_SHARED_MODELS", REPO.parent / "shared" / "models"))
SHARED_MODEL_NAMES = ["hello_world_int8", "micro_speech_quantized", "person_detect",
                      "kws_ref_model", "pretrainedResnet_quant"]


def shared_model(name: str) -> Path:
    path = SHARED_MODELS / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present (the shared models live in ../shared/models)")
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
