"""The external models in tests/data/models, bit-exact with TFLM on the host (with sanitizers)
and in QEMU on the default board, plus person_detect on its two real test images."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_MODEL_NAMES, assert_bit_exact, shared_model
from mcucompile.api import simulate


@pytest.mark.parametrize("name", SHARED_MODEL_NAMES)
def test_shared_model_host_sanitized(name, tmp_path):
    report = simulate(shared_model(name), "host", count=4, seed=11, sanitize=True,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.arena_bytes >= report.lower_bound_bytes > 0


@pytest.mark.parametrize("name", SHARED_MODEL_NAMES)
def test_shared_model_qemu_m4(name, tmp_path):
    report = simulate(shared_model(name), "mps2-an386", count=3, seed=5,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.instructions and all(i > 0 for i in report.instructions)
    assert report.flash_bytes > 0 and report.stack_bytes > 0
    again = simulate(shared_model(name), "mps2-an386", count=3, seed=5,
                     out_dir=tmp_path / "prj2")
    assert again.instructions == report.instructions, "instruction counts must be deterministic"


def _bmp_as_int8(path) -> np.ndarray:
    """96x96 8-bit paletted BMP, rows stored bottom-up: flip to top-down, bytes as int8."""
    raw = path.read_bytes()
    offset = int.from_bytes(raw[10:14], "little")
    width = int.from_bytes(raw[18:22], "little")
    height = int.from_bytes(raw[22:26], "little", signed=True)
    assert (width, abs(height)) == (96, 96)
    rows = np.frombuffer(raw, np.uint8, count=96 * 96, offset=offset).reshape(96, 96)
    if height > 0:
        rows = rows[::-1]
    return rows.view(np.int8).reshape(1, 96, 96, 1)


def test_person_detect_on_images(tmp_path):
    model = shared_model("person_detect")
    images = np.concatenate([_bmp_as_int8(model.parent / "person.bmp"),
                             _bmp_as_int8(model.parent / "no_person.bmp")])
    np.save(tmp_path / "images.npy", images)
    report = simulate(model, "mps2-an386", inputs=tmp_path / "images.npy",
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    person_score = report.outputs[:, 1].astype(int)
    assert person_score[0] > person_score[1], person_score
    assert person_score[0] > 0 > person_score[1]
