"""Real models on every QEMU board (M0 with 16 KB of SRAM, M3 without DSP, M4F, M7, M33, M55,
STM32F405), the M33 running the M4's DSP kernels at the M4's instructions per MAC, what fits
the micro:bit, and a model that does not fit a board's real SRAM failing with the size it is
over by."""
from __future__ import annotations

import subprocess

import pytest

import modelgen
from conftest import SHARED_MODEL_NAMES, assert_bit_exact, shared_model, write_model
from mcucompile.api import OTHER_STATIC, plan_model, simulate
from mcucompile.boards import get_board
from mcucompile.errors import McucError
from mcucompile.resources import runtime_dir

RUNTIME = runtime_dir()

BOARD_MODELS = [("mps2-an385", "kws_ref_model"), ("mps2-an500", "pretrainedResnet_quant"),
                ("mps3-an547", "person_detect"), ("netduinoplus2", "micro_speech_quantized"),
                ("netduinoplus2", "kws_ref_model"), ("mps2-an505", "micro_speech_quantized"),
                ("microbit", "micro_speech_quantized"), ("microbit", "kws_ref_model")]


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


def test_portable_runtime_builds_for_armv6m(tmp_path):
    """Every runtime source is C99 that compiles for Armv6-M (Cortex-M0 and M0+: Thumb-1, no
    DSP; the DSP and Helium files compile to nothing there) with -Wall -Wextra -Werror."""
    sources = sorted((RUNTIME / "src").rglob("*.c"))
    assert len(sources) > 20
    for cpu in ("cortex-m0", "cortex-m0plus"):
        for src in sources:
            proc = subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=soft",
                                   "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                                   f"-I{RUNTIME / 'include'}", "-c", str(src), "-o", str(tmp_path / "x.o")],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{cpu} {src.name}: {proc.stderr}"


# What the planner says of each shared model on the micro:bit (16 KB SRAM, 256 KB flash):
# None = fits (in-place layers and a small arena), else the start of its error message.
MICROBIT_FIT = {
    "hello_world_int8": None,
    "micro_speech_quantized": None,
    "kws_ref_model": None,
    "person_detect": "model does not fit the flash budget",
    "pretrainedResnet_quant": "does not fit microbit",
}


@pytest.mark.parametrize("name", SHARED_MODEL_NAMES)
def test_what_fits_the_microbit(name):
    board = get_board("microbit")
    budget = board.sram_size - board.stack_bytes - board.heap_bytes - OTHER_STATIC
    if MICROBIT_FIT[name] is None:
        _, plan = plan_model(shared_model(name), board)
        assert plan.arena_bytes <= budget
        return
    with pytest.raises(McucError) as e:
        plan_model(shared_model(name), board)
    assert MICROBIT_FIT[name] in str(e.value) and "over by" in str(e.value)


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
    """MobileNetV2's packed Helium weights (631 KB) exceed the M55 board's 512 KB ITCM: with
    the ITCM alone (--flash N: the main flash, not the board's further read-only regions;
    test_regions puts constants there) the search keeps fast kernels where they fit and
    portable ones elsewhere (bit-exact, the ELF within the flash); under a flash budget
    nothing can meet, it says so before building, with the size it is over by."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 96), "mnv2")
    rep = simulate(path, "mps3-an547", count=1, out_dir=tmp_path / "prj",
                   flash=get_board("mps3-an547").flash_size)
    assert_bit_exact(rep)
    assert rep.flash_bytes <= get_board("mps3-an547").flash_size
    with pytest.raises(McucError) as e:
        simulate(path, "mps3-an547", count=1, out_dir=tmp_path / "prj2", flash=200_000)
    msg = str(e.value)
    assert "flash budget" in msg and "over by" in msg
    assert not (tmp_path / "prj2" / "build").exists()
