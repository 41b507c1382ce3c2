"""Seeded fuzzing in the suite (a few hundred cases, about a minute): model mutants (fields
of the TFLite flatbuffer and the ONNX protobuf, raw bytes) and CLI misuse, each case judged
by tests/fuzzing.py: exit 0 or 1, no traceback, a one-line error, one JSON object with
--json, bounded time, no process left. tests/fuzz_nightly.py runs the long campaign."""
from __future__ import annotations

import fuzzing
from conftest import SHARED_MODELS, shared_model


def _campaign(tmp_path, kinds, cases, seed, simulate_share=0.0):
    shared_model("hello_world_int8")            # skip without the shared models
    faulty = [o for o in fuzzing.campaign(cases, seed, tmp_path, SHARED_MODELS, kinds,
                                          simulate_share, limit=60.0) if o.problems]
    assert not faulty, "\n".join(f"{' '.join(map(str, o.argv))}: {o.problems}"
                                 for o in faulty[:10])


def test_fuzz_cli_misuse(tmp_path):
    _campaign(tmp_path, ["cli_misuse"], 80, seed=13)


def test_fuzz_model_bytes(tmp_path):
    _campaign(tmp_path, ["model_bytes"], 60, seed=13, simulate_share=0.05)


def test_fuzz_tflite_fields(tmp_path):
    _campaign(tmp_path, ["tflite_fields"], 80, seed=13, simulate_share=0.05)


def test_fuzz_onnx_fields(tmp_path):
    _campaign(tmp_path, ["onnx_fields"], 60, seed=13, simulate_share=0.05)
