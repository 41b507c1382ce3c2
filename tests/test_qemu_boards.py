"""Real models on every QEMU board (M3 without DSP, M4F, M7, M33, M55, STM32F405), the M33
running the M4's DSP kernels at the M4's instructions per MAC, and a model that does not fit a
board's real SRAM failing with the size it is over by."""
from __future__ import annotations

import pytest

import modelgen
from conftest import assert_bit_exact, shared_model, write_model
from mcucompile.api import plan_model, simulate
from mcucompile.boards import get_board
from mcucompile.errors import McucError

BOARD_MODELS = [("mps2-an385", "kws_ref_model"), ("mps2-an500", "pretrainedResnet_quant"),
                ("mps3-an547", "person_detect"), ("netduinoplus2", "micro_speech_quantized"),
                ("netduinoplus2", "kws_ref_model"), ("mps2-an505", "micro_speech_quantized")]


@pytest.mark.parametrize("board,name", BOARD_MODELS)
def test_shared_model_on_board(board, name, tmp_path):
    report = simulate(shared_model(name), board, count=2, seed=9, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.instructions and report.instructions[0] > 0
    assert report.flash_bytes > 0


def test_m33_runs_the_dsp_kernels_at_the_m4_rate(tmp_path):
    """Armv8-M Mainline with the DSP extension has every Armv7E-M DSP instruction the kernels
    use (SMLAD, SXTB16, SXTAB16, PKHBT, SMMLAR, SSAT, ...): the same generated kernels build
    for -mcpu=cortex-m33 and run bit-exact, within 10% of the M4's instruction count."""
    model = shared_model("kws_ref_model")
    m4 = simulate(model, "mps2-an386", count=1, seed=4, out_dir=tmp_path / "m4")
    m33 = simulate(model, "mps2-an505", count=1, seed=4, out_dir=tmp_path / "m33")
    assert_bit_exact(m33)
    assert "_dsp" in (tmp_path / "m33" / "model.c").read_text()
    assert abs(m33.instructions[0] / m4.instructions[0] - 1) < 0.10


def test_model_too_large_for_board(tmp_path):
    """MobileNetV2 0.35 at 96x96 needs a 138 KB arena layer by layer: more than the
    STM32F405's 128 KB. With --patch off that is an error with the excess; by default the
    search takes a patch stage (test_model_io runs the 144x144 one there)."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 96), "mnv2")
    with pytest.raises(McucError) as e:
        simulate(path, "netduinoplus2", count=1, out_dir=tmp_path / "prj", patch="off")
    msg = str(e.value)
    assert "does not fit netduinoplus2" in msg and "over by" in msg and "--patch auto" in msg
    _, plan = plan_model(path, "netduinoplus2")
    assert plan.patch is not None


def test_weights_too_large_for_flash(tmp_path):
    """MobileNetV2's packed Helium weights (631 KB) exceed the M55 board's 512 KB ITCM: the
    search keeps fast kernels where they fit and portable ones elsewhere (bit-exact, the ELF
    within the flash); under a flash budget nothing can meet, it says so before building,
    with the size it is over by."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 96), "mnv2")
    rep = simulate(path, "mps3-an547", count=1, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)
    assert rep.flash_bytes <= get_board("mps3-an547").flash_size
    with pytest.raises(McucError) as e:
        simulate(path, "mps3-an547", count=1, out_dir=tmp_path / "prj2", flash=200_000)
    msg = str(e.value)
    assert "flash budget" in msg and "over by" in msg
    assert not (tmp_path / "prj2" / "build").exists()
