"""Memory regions: boards with several RAM regions (and read-only regions for constants), the
packer placing each buffer wholly in one region, per-region budgets on the command line, one
arena and linker section per region, and in QEMU: activations over 128 KB on the STM32F405
(SRAM + CCM), MobileNetV2 0.35 144x144 on the M55 with constants outside its 512 KB ITCM."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from elftools.elf.elffile import ELFFile

import modelgen
from conftest import assert_bit_exact, write_model
from mcucompile.api import plan_model, simulate
from mcucompile.boards import get_board, load_board
from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.planner import Layout, check_plan
from mcucompile.planner.arena import Buffer, _pack


def _branches(tmp_path):
    """139,264 bytes live at its CONCATENATION (no op works in place there)."""
    return write_model(tmp_path, modelgen.two_branches(), "branches")


def _assert_in_regions(plan) -> None:
    """Every buffer wholly inside one region's budget; graph inputs and outputs in DMA
    regions."""
    layout = plan.layout
    bases = layout.bases
    for b in plan.buffers:
        k = layout.region_of(b.offset)
        name, budget, dma = layout.regions[k]
        assert b.offset + b.size <= bases[k] + budget, (b.name, name)
        assert dma or not b.io, (b.name, name)


def test_board_regions():
    stm = get_board("netduinoplus2")
    assert [(r.name, r.size, r.speed, r.dma) for r in stm.ram_regions] == [
        ("sram", 128 * 1024, 2, True), ("ccm", 64 * 1024, 1, False)]
    m55 = get_board("mps3-an547")
    assert [(r.name, r.origin, r.size) for r in m55.rom_regions] == [
        ("flash", 0, 512 * 1024), ("code_sram", 0x01000000, 2 << 20), ("qspi", 0x28000000, 8 << 20)]
    h7 = get_board("nucleo-h743zi2")
    assert {r.name: r.size // 1024 for r in h7.ram_regions} == {
        "axi": 512, "dtcm": 128, "sram123": 288, "sram4": 64}
    f7 = get_board("stm32f746g-disco")
    assert {r.name: r.size // 1024 for r in f7.ram_regions} == {"sram": 256, "dtcm": 64}
    assert len(get_board("mps2-an386").ram_regions) == 1    # one-region boards as before


@pytest.mark.parametrize("extra,message", [
    ('[[memory.ram]]\nname = "ccm"\norigin = 0x20010000\nsize = 0x10000\n', "overlap"),
    ('[[memory.ram]]\nname = "sram"\norigin = 0x10000000\nsize = 0x10000\n', "unique"),
    ('[[memory.ram]]\nname = "ram"\norigin = 0x10000000\nsize = 0x10000\n', "C identifier"),
    ('[[memory.ram]]\nname = "ccm"\norigin = 0x10000000\nsize = 0x10000\nspeed = 9\n', "speed"),
    ('[[memory.rom]]\nname = "qspi"\norigin = 0x90000000\nsize = 0x10000\ndma = true\n',
     "unknown key"),
])
def test_bad_region_is_one_clear_error(tmp_path, extra, message):
    text = get_board("netduinoplus2").path.read_text()
    text = re.sub(r"\[\[memory\.ram\]\].*?\n\n", "", text, count=1, flags=re.S)  # its ccm
    path = tmp_path / "netduinoplus2.toml"
    path.write_text(text.replace("[startup]", extra + "\n[startup]", 1))
    with pytest.raises(McucError, match=message) as e:
        load_board(path)
    assert str(path) in str(e.value.where)


def test_packer_keeps_buffers_inside_regions():
    """Random buffers (sizes, lifetimes, some graph inputs/outputs) over three regions, one
    not reachable by DMA: no buffer crosses a region boundary or exceeds the last one's
    budget when the plan fits, graph I/O never in the non-DMA region, no two live buffers
    overlap (check_plan)."""
    rng = np.random.default_rng(4)
    layout = Layout((("tcm", 4096, False), ("sram", 16384, True), ("slow", 8192, True)),
                    "sram", "tcm")
    fitted = 0
    for _ in range(200):
        n = int(rng.integers(2, 14))
        buffers = []
        for i in range(n):
            start = int(rng.integers(0, 10))
            size = int(rng.integers(1, 400)) * 8
            io = str(rng.choice(["", "", "", "in", "out"]))
            buffers.append(Buffer(f"b{i}", size, start, start + int(rng.integers(0, 5)), io=io))
        plan = _pack([None] * 15, buffers, {}, [], (), layout)
        check_plan(plan)
        if plan.arena_bytes <= layout.total:
            fitted += 1
            _assert_in_regions(plan)
            used = {r["name"]: r["bytes"] for r in plan.regions}
            assert all(used[name] <= budget for name, budget, _ in layout.regions)
    assert fitted > 100


def test_plan_over_two_regions(tmp_path):
    """Default budgets on netduinoplus2: every region. The model's 139,264 live bytes do
    not fit the SRAM alone (plain --sram N: the main SRAM, as before regions), they do with
    the CCM; per-region budgets that are too small say which region is over, by how much."""
    path = _branches(tmp_path)
    _, plan = plan_model(path, "netduinoplus2", patch="off")
    assert plan.lower_bound_bytes > 128 * 1024
    _assert_in_regions(plan)
    used = {r["name"]: r["bytes"] for r in plan.regions}
    assert used["ccm"] > 0 and used["sram"] > 0 and plan.total_bytes == sum(used.values())
    with pytest.raises(McucError, match="SRAM budget is 106,496 bytes"):
        plan_model(path, "netduinoplus2", patch="off", sram=106_496)
    with pytest.raises(McucError) as e:
        plan_model(path, "netduinoplus2", patch="off", sram={"sram": 100_000, "ccm": 65_536})
    msg = str(e.value)
    assert "per region" in msg and "sram" in msg and "of 100,000 bytes (over by" in msg


def test_fastest_region_first():
    """NUCLEO-H743ZI2: a model that fits the 128 KB DTCM runs from it (the fastest region),
    except its input and output, which DMA must reach (the AXI SRAM)."""
    from conftest import shared_model
    _, plan = plan_model(shared_model("kws_ref_model"), "nucleo-h743zi2")
    names = [r[0] for r in plan.layout.regions]
    for b in plan.buffers:
        region = names[plan.layout.region_of(b.offset)]
        assert region == ("axi" if b.io else "dtcm"), (b.name, b.io, region)


def test_sram_option(tmp_path, capsys):
    path = _branches(tmp_path)
    assert main(["plan", str(path), "--board", "netduinoplus2", "--patch", "off",
                 "--sram", "sram=106K,ccm=64K", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["budget"]) for r in d["regions"]] == [("ccm", 65536), ("sram", 108544)]
    assert d["arena_bytes"] == sum(r["bytes"] for r in d["regions"])
    assert {b["region"] for b in d["buffers"]} == {"ccm", "sram"}
    assert main(["plan", str(path), "--board", "netduinoplus2", "--patch", "off"]) == 0
    out = capsys.readouterr().out
    assert "regions: ccm " in out and "@ccm+" in out
    for bad, what in (("dtcm=1K", "does not have"), ("ccm=70000", "has 65,536 bytes"),
                      ("ccm=1Q", "neither BYTES"), ("sram=1K,sram=2K", "neither BYTES")):
        assert main(["plan", str(path), "--board", "netduinoplus2", "--sram", bad]) == 1
        err = capsys.readouterr().err
        assert what in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2


def _elf(project_dir):
    return next((project_dir / "build").glob("*.elf"))


def test_activations_over_128k_on_sram_and_ccm(tmp_path):
    """In QEMU: 139,264 bytes of activations on the STM32F405 (128 KB SRAM, 64 KB CCM; the
    board file notes QEMU's stand-in address for the CCM), no patches, buffers in both
    regions, bit-exact; each arena in its own section at its region."""
    path = _branches(tmp_path)
    rep = simulate(path, "netduinoplus2", count=2, patch="off", out_dir=tmp_path / "prj")
    assert_bit_exact(rep)
    assert {r["name"] for r in rep.regions if r["bytes"]} == {"sram", "ccm"}
    board = get_board("netduinoplus2")
    ccm, sram = board.ram_extra[0], board.ram_regions[0]
    with open(_elf(tmp_path / "prj"), "rb") as f:
        symbols = {s.name: s["st_value"] for s in ELFFile(f).get_section_by_name(".symtab")
                   .iter_symbols()}
    assert ccm.origin <= symbols["mcuc_arena_ccm"] < ccm.origin + ccm.size
    assert sram.origin <= symbols["mcuc_arena"] < sram.origin + sram.size


def test_mobilenet_constants_outside_itcm(tmp_path):
    """In QEMU: MobileNetV2 0.35 144x144 on the M55 keeps its fast kernels' constants
    (514 KB in all with the code: more than the 512 KB ITCM): the largest arrays go to the
    2 MB code SRAM, which QEMU loads with the image; bit-exact."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 144), "mnv2_035_144")
    rep = simulate(path, "mps3-an547", count=1, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)
    board = get_board("mps3-an547")
    code_sram = board.rom_extra[0]
    with open(_elf(tmp_path / "prj"), "rb") as f:
        section = ELFFile(f).get_section_by_name(".mcuc_const_code_sram")
        assert section is not None and section["sh_size"] > 100_000
        assert code_sram.origin <= section["sh_addr"] < code_sram.origin + code_sram.size
    assert rep.flash_bytes - section["sh_size"] <= board.flash_size


def test_library_names_the_sections_to_place(tmp_path):
    """A library for the user's own build: the arena of the CCM is in its own section, which
    README.txt tells the user to place (prefixed like every exported name)."""
    from mcucompile.api import compile_model
    out = tmp_path / "lib"
    compile_model(_branches(tmp_path), "netduinoplus2", out, patch="off", fmt="library",
                  prefix="br_")
    assert 'section(".br_arena_ccm")' in (out / "src" / "br_model.c").read_text()
    readme = (out / "README.txt").read_text()
    assert "Place these sections" in readme and "    .br_arena_ccm" in readme


def test_model_with_state_uses_the_main_sram():
    """Variable tensors (an SVDF's memory) live after one arena's packed buffers: such a model
    is planned in the main SRAM alone; budgets for other regions are refused in one line."""
    from conftest import shared_model
    path = shared_model("keyword_scrambled_8bit")
    _, plan = plan_model(path, "netduinoplus2")
    assert plan.state and [r["name"] for r in plan.regions] == ["sram"]
    with pytest.raises(McucError, match="main SRAM .'sram'. alone"):
        plan_model(path, "netduinoplus2", sram={"sram": 50_000, "ccm": 60_000})
