"""Real models on every QEMU board (M3 without DSP, M4F, M7, M55, STM32F405), and a model
that does not fit a board's real SRAM failing with the size it is over by."""
from __future__ import annotations

import pytest

import modelgen
from conftest import assert_bit_exact, shared_model, write_model
from mcucompile.api import simulate
from mcucompile.errors import McucError

BOARD_MODELS = [("mps2-an385", "kws_ref_model"), ("mps2-an500", "pretrainedResnet_quant"),
                ("mps3-an547", "person_detect"), ("netduinoplus2", "micro_speech_quantized"),
                ("netduinoplus2", "kws_ref_model")]


@pytest.mark.parametrize("board,name", BOARD_MODELS)
def test_shared_model_on_board(board, name, tmp_path):
    report = simulate(shared_model(name), board, count=2, seed=9, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.instructions and report.instructions[0] > 0
    assert report.flash_bytes > 0


def test_model_too_large_for_board(tmp_path):
    """MobileNetV2 0.35 at 96x96 needs a 138 KB arena: more than the STM32F405's 128 KB."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 96), "mnv2")
    with pytest.raises(McucError) as e:
        simulate(path, "netduinoplus2", count=1, out_dir=tmp_path / "prj")
    msg = str(e.value)
    assert "does not fit netduinoplus2" in msg and "over by" in msg


def test_weights_too_large_for_flash(tmp_path):
    """MobileNetV2's packed Helium weights (631 KB) exceed the M55 board's 512 KB ITCM: the
    compiler says so before building, with the size it is over by."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 96), "mnv2")
    with pytest.raises(McucError) as e:
        simulate(path, "mps3-an547", count=1, out_dir=tmp_path / "prj")
    msg = str(e.value)
    assert "does not fit mps3-an547" in msg and "flash" in msg and "over by" in msg
