"""Keras MobileNetV2 (alpha 0.35, 96x96x3, full INT8, random weights): a real 60+ op graph
with residual ADDs, PAD-free SAME convolutions, MEAN and SOFTMAX, bit-exact with TFLM."""
from __future__ import annotations

import pytest

import modelgen
from conftest import assert_bit_exact, write_model
from mcucompile.api import simulate


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("mnv2"), modelgen.mobilenet_v2(0.35, 96),
                       "mobilenet_v2_035_96")


@pytest.mark.slow
def test_mobilenet_v2_host_sanitized(mobilenet, tmp_path):
    assert_bit_exact(simulate(mobilenet, "host", count=2, seed=3, sanitize=True,
                              out_dir=tmp_path / "prj"))


def test_mobilenet_v2_qemu_m4(mobilenet, tmp_path):
    report = simulate(mobilenet, "mps2-an386", count=1, seed=4, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.macs > 10_000_000
