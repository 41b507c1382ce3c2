"""`mcucompile flash`: the exact pyOCD / OpenOCD commands for every real board, and every error a
user can hit (no tool, no probe, wrong board, not a project, ELF for another board), and
the build a project directory gets first when it is missing or stale.

No test touches a board. The "no probe" tests run the real pyOCD / OpenOCD (skipped when not
installed) against a probe ID that cannot exist, so a board plugged into the test machine is
never flashed. Only the verify-parsing tests use a stand-in `pyocd` script that answers as
pyOCD does with a board attached (the physical probe is the one thing that is faked).
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import shared_model
from mcucompile import flash as flashmod
from mcucompile import uf2
from mcucompile.boards import get_board, list_boards
from mcucompile.cli import main
from mcucompile.errors import McucError

REAL_BOARDS = [b for b in list_boards() if b.kind == "hardware"]
NO_SUCH_PROBE = "100000001"  # digits: J-Link serials are numbers; no probe has this one

needs_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                               reason="arm-none-eabi-gcc not installed")


def tiny_elf(tmp_path: Path, origin: int, name: str = "fw.elf") -> Path:
    """A minimal firmware ELF linked at `origin`: a vector table and a loop, plus .data (so it
    has two loadable segments, like a real build)."""
    src = tmp_path / "fw.c"
    src.write_text(
        "void reset(void) { for (;;) { } }\n"
        "__attribute__((section(\".vectors\"), used)) const unsigned int vectors[2] =\n"
        "    {0x20001000u, (unsigned int)reset};\n"
        "int counter = 42;\n"
        "int main(void) { return counter; }\n")
    ld = tmp_path / "fw.ld"
    ram = 0x20000000 if origin != 0x20000000 else 0x20010000  # (an image run from SRAM)
    ld.write_text(
        f"MEMORY {{ FLASH (rx) : ORIGIN = 0x{origin:X}, LENGTH = 64K\n"
        f"         RAM (rw) : ORIGIN = 0x{ram:X}, LENGTH = 4K }}\n"
        "SECTIONS { .vectors : { KEEP(*(.vectors)) } > FLASH\n"
        "           .text : { *(.text*) *(.rodata*) } > FLASH\n"
        "           .data : { *(.data*) } > RAM AT > FLASH\n"
        "           .bss : { *(.bss*) } > RAM }\n")
    elf = tmp_path / name
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O1", "-nostdlib",
                    "-Wl,--entry=reset", "-T", str(ld), "-o", str(elf), str(src)],
                   check=True, capture_output=True)
    return elf


@needs_gcc
@pytest.mark.parametrize("board", REAL_BOARDS, ids=lambda b: b.name)
@pytest.mark.parametrize("probe", [None, "0669FF555051"])
def test_dry_run_pyocd_commands(tmp_path, board, probe):
    elf = tiny_elf(tmp_path, board.flash_origin)
    res = flashmod.flash(elf, board, probe=probe, tool="pyocd", dry_run=True)
    exe = flashmod.find_tool("pyocd") or "pyocd"
    uid = ["--uid", probe] if probe else []
    segments = flashmod.flash_segments(elf, board)
    assert len(segments) == 2  # code and the initial values of .data, both in flash
    # an image run from SRAM is started at its first byte, not reset (that boots from flash)
    start = ["-c", "wreg pc 0x20000000", "-c", "go"] if board.ram_image else ["-c", "reset"]
    compares = []
    for address, data in segments:
        seg = elf.resolve().with_name(f"fw.elf.0x{address:08X}.bin")
        assert seg.read_bytes() == data  # written even in a dry run: the commands work as printed
        compares += ["-c", f"compare 0x{address:08X} {seg}"]
    assert res.commands == [[
        exe, "commander", "--target", board.flasher.pyocd_target, "--no-wait", *uid,
        "--connect", "halt", "-O", "auto_unlock=true", "-c", f"load {elf.resolve()}",
        *compares, *start]]
    assert res.dry_run and not res.verified and res.tool == "pyocd"
    assert res.flash_bytes == sum(len(d) for _, d in segments)


@needs_gcc
@pytest.mark.parametrize("board", REAL_BOARDS, ids=lambda b: b.name)
@pytest.mark.parametrize("probe", [None, "000683123456"])
def test_dry_run_openocd_commands(tmp_path, board, probe):
    elf = tiny_elf(tmp_path, board.flash_origin)
    res = flashmod.flash(elf, board, probe=probe, tool="openocd", dry_run=True)
    exe = flashmod.find_tool("openocd") or "openocd"
    serial = ["-c", f"adapter serial {probe}"] if probe else []
    load = (f"init; reset halt; load_image {{{elf.resolve()}}}; verify_image {{{elf.resolve()}}}; "
            "resume 0x20000000; exit") if board.ram_image else f"program {{{elf.resolve()}}} verify reset exit"
    assert res.commands == [[exe, *board.flasher.openocd_args, *serial, "-c", load]]


def test_flash_settings_of_the_real_boards():
    """The tool names and configuration files checked against pyOCD 0.46 and OpenOCD 0.12."""
    expected = {
        "nucleo-l4r5zi": ("stm32l4r5zitx", ["-f", "board/st_nucleo_l4.cfg"]),
        "nucleo-f401re": ("stm32f401retx", ["-f", "board/st_nucleo_f4.cfg"]),
        "stm32f746g-disco": ("stm32f746nghx", ["-f", "board/stm32f746g-disco.cfg"]),
        "nucleo-h743zi2": ("stm32h743xx", ["-f", "board/st_nucleo_h743zi.cfg"]),
        "nrf52840-dk": ("nrf52840", ["-f", "interface/jlink.cfg", "-c", "transport select swd",
                                     "-f", "target/nrf52.cfg"]),
        "nucleo-u575zi-q": ("stm32u575zitx", ["-f", "interface/stlink.cfg", "-c",
                                              "transport select hla_swd", "-f", "target/stm32u5x.cfg"]),
        "rpi-pico": ("rp2040", ["-f", "interface/cmsis-dap.cfg", "-c", "adapter speed 5000",
                                "-f", "target/rp2040.cfg"]),
    }
    assert {b.name for b in REAL_BOARDS} == set(expected)
    for board in REAL_BOARDS:
        target, args = expected[board.name]
        assert board.flasher.pyocd_target == target
        assert list(board.flasher.openocd_args) == args
        scripts = Path("/usr/share/openocd/scripts")
        if scripts.is_dir():  # OpenOCD installed: every -f file must exist
            for i, arg in enumerate(args):
                if arg == "-f":
                    assert (scripts / args[i + 1]).is_file(), args[i + 1]


@needs_gcc
def test_cli_dry_run_text_and_json(tmp_path, capsys, monkeypatch):
    board = get_board("nucleo-f401re")
    elf = tiny_elf(tmp_path, board.flash_origin)
    assert main(["flash", str(elf), "--board", board.name, "--dry-run", "--tool", "openocd"]) == 0
    out = capsys.readouterr().out
    assert "board/st_nucleo_f4.cfg -c 'program {" in out and "verify reset exit'" in out
    monkeypatch.setattr(flashmod, "find_tool", lambda name: None)  # nothing installed
    assert main(["flash", str(elf), "--board", board.name, "--dry-run", "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["tool"] == "pyocd" and j["tool_installed"] is False and j["dry_run"] is True
    assert j["commands"][0][:4] == ["pyocd", "commander", "--target", "stm32f401retx"]
    assert main(["flash", str(elf), "--board", board.name, "--dry-run"]) == 0
    assert "# pyocd is not installed (pip install pyocd" in capsys.readouterr().out


@needs_gcc
def test_missing_tool_says_what_to_install(tmp_path, monkeypatch):
    board = get_board("nucleo-l4r5zi")
    elf = tiny_elf(tmp_path, board.flash_origin)
    monkeypatch.setattr(flashmod, "find_tool", lambda name: None)
    for tool in (None, "pyocd", "openocd"):
        with pytest.raises(McucError) as info:
            flashmod.flash(elf, board, tool=tool)
        text = str(info.value)
        assert "is not installed" in text
        assert "pip install pyocd" in text and "apt-get install openocd" in text


def test_non_hardware_boards_are_refused(tmp_path):
    for name in ("host", "mps2-an386", "netduinoplus2"):
        with pytest.raises(McucError, match=f"board {name} is a .* board: there is nothing to flash"):
            flashmod.flash(tmp_path, get_board(name), dry_run=True)
    assert main(["flash", str(tmp_path), "--board", "mps2-an386"]) == 1


def test_missing_or_unbuilt_targets(tmp_path):
    board = get_board("nucleo-f401re")
    with pytest.raises(McucError, match="does not exist"):
        flashmod.flash(tmp_path / "nope.elf", board, dry_run=True)
    with pytest.raises(McucError, match="is not a compiled project"):
        flashmod.flash(tmp_path, board, dry_run=True)
    (tmp_path / "junk.elf").write_bytes(b"not an elf")
    with pytest.raises(McucError, match="is not a readable ELF file"):
        flashmod.flash(tmp_path / "junk.elf", board, dry_run=True)


@needs_gcc
def test_firmware_for_another_board_is_refused(tmp_path):
    nrf_elf = tiny_elf(tmp_path, 0x0)  # linked at 0x0: nRF52840 flash, not STM32 flash
    with pytest.raises(McucError, match="outside the flash of nucleo-h743zi2") as info:
        flashmod.flash(nrf_elf, get_board("nucleo-h743zi2"), dry_run=True)
    assert "compile with --board nucleo-h743zi2" in str(info.value)


@needs_gcc
def test_project_directory_board_and_build(tmp_path, monkeypatch, capsys):
    """A project directory: refused if compiled for another board; built first when the build
    is missing (a dry run right after `compile` works) or stale, left alone when up to date."""
    out = tmp_path / "proj"
    assert main(["compile", shared_model("hello_world_int8"), "--board", "nucleo-f401re",
                 "-o", out, "--json"]) == 0
    elf = out / "build" / "firmware.elf"
    assert not elf.exists()
    with pytest.raises(McucError, match="compiled for board nucleo-f401re, not nucleo-l4r5zi"):
        flashmod.flash(out, get_board("nucleo-l4r5zi"), dry_run=True)
    capsys.readouterr()
    assert main(["flash", out, "--board", "nucleo-f401re", "--dry-run", "--tool",
                 "openocd"]) == 0
    assert f"program {{{elf.resolve()}}} verify reset exit" in capsys.readouterr().out
    built = elf.stat().st_mtime_ns
    flashmod.flash(out, get_board("nucleo-f401re"), dry_run=True)
    assert elf.stat().st_mtime_ns == built          # up to date: not rebuilt
    model_c = out / "model.c"
    model_c.write_text(model_c.read_text() + "/* edited */\n")
    os.utime(model_c, ns=(built + 10**9, built + 10**9))
    flashmod.flash(out, get_board("nucleo-f401re"), dry_run=True)
    assert elf.stat().st_mtime_ns > built           # a source changed: rebuilt
    _stand_in_pyocd(tmp_path, monkeypatch, mismatch=False)
    res = flashmod.flash(out, get_board("nucleo-f401re"), tool="pyocd")  # builds, then flashes
    assert res.elf == elf.resolve() and res.verified


def _real_tool(name: str) -> str:
    path = flashmod.find_tool(name)
    if path is None or "stand-in" in Path(path).read_text(errors="ignore")[:200]:
        pytest.skip(f"{name} is not installed ({flashmod.INSTALL[name]})")
    return path


@needs_gcc
@pytest.mark.parametrize("board", ["nucleo-f401re", "nrf52840-dk"])
def test_no_probe_with_real_pyocd(tmp_path, board):
    _real_tool("pyocd")
    board = get_board(board)
    elf = tiny_elf(tmp_path, board.flash_origin)
    with pytest.raises(McucError) as info:
        flashmod.flash(elf, board, probe=NO_SUCH_PROBE, tool="pyocd")
    text = str(info.value)
    assert f"pyocd found no debug probe matching --probe {NO_SUCH_PROBE} for {board.name}" in text
    assert "plug the board's debug USB connector in" in text and "pyocd list" in text
    assert ("SEGGER's J-Link software" in text) == (board.name == "nrf52840-dk")


@needs_gcc
@pytest.mark.parametrize("board", ["nucleo-h743zi2", "nrf52840-dk"])
def test_no_probe_with_real_openocd(tmp_path, board):
    _real_tool("openocd")
    board = get_board(board)
    elf = tiny_elf(tmp_path, board.flash_origin)
    with pytest.raises(McucError, match=f"openocd found no debug probe matching --probe "
                                        f"{NO_SUCH_PROBE} for {board.name}"):
        flashmod.flash(elf, board, probe=NO_SUCH_PROBE, tool="openocd")
    if board.name == "nrf52840-dk":
        with pytest.raises(McucError, match="openocd rejected --probe not-a-number: not a serial"):
            flashmod.flash(elf, board, probe="not-a-number", tool="openocd")


def _stand_in_pyocd(tmp_path: Path, monkeypatch, mismatch: bool) -> Path:
    """A `pyocd` on PATH that answers like pyOCD with a board attached: load succeeds, each
    `compare ADDR FILE` reports a match (or the first a mismatch)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / "pyocd"
    script.write_text(f"""#!/usr/bin/env python3
# stand-in for pyOCD with a board attached (tests/test_flash.py)
import os, sys
args = sys.argv[1:]
assert args[0] == "commander" and "load " in " ".join(args)
for i, a in enumerate(args):
    if a == "-c" and args[i + 1].startswith("compare "):
        path = args[i + 1].split(" ", 2)[2]
        n = os.path.getsize(path)
        if {mismatch!r}:
            print("Mismatched byte at 0x08000010 (offset 0x10): 0xff (memory) != 0x00 (file)")
        else:
            print(f"All {{n}} bytes match.")
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    return script


@needs_gcc
def test_verify_success_and_mismatch(tmp_path, monkeypatch):
    board = get_board("stm32f746g-disco")
    elf = tiny_elf(tmp_path, board.flash_origin)
    _stand_in_pyocd(tmp_path, monkeypatch, mismatch=False)
    res = flashmod.flash(elf, board, tool="pyocd")
    assert res.verified and res.log.count("bytes match") == 2
    _stand_in_pyocd(tmp_path, monkeypatch, mismatch=True)
    with pytest.raises(McucError, match="verify failed: the flash of stm32f746g-disco differs"):
        flashmod.flash(elf, board, tool="pyocd")


@needs_gcc
def test_pyocd_needs_an_elf_extension_and_paths_are_quoted(tmp_path):
    board = get_board("nucleo-h743zi2")
    odd = tiny_elf(tmp_path, board.flash_origin, "fw.out")
    with pytest.raises(McucError, match="pyOCD recognises an ELF file by its extension"):
        flashmod.flash(odd, board, tool="pyocd", dry_run=True)
    assert flashmod.flash(odd, board, tool="openocd", dry_run=True).commands  # OpenOCD reads it
    spaced = tmp_path / "my dir"
    spaced.mkdir()
    elf = tiny_elf(spaced, board.flash_origin)
    command = flashmod.flash(elf, board, tool="pyocd", dry_run=True).commands[0]
    assert f"load '{elf.resolve()}'" in command  # pyOCD's commander splits like a shell


def test_failure_messages_from_tool_output():
    """What pyOCD / OpenOCD print for a locked chip, an unknown target, a failed verify."""
    nrf, f4 = get_board("nrf52840-dk"), get_board("nucleo-f401re")
    err = flashmod._failure("openocd", ["openocd"], "nRF52 device has AP lock engaged", nrf, None)
    assert "debug port of nrf52840-dk is locked" in str(err) and "nrf52_recover" in str(err)
    err = flashmod._failure("pyocd", ["pyocd"], "Target type stm32f401retx not recognized.", f4, None)
    assert "pyocd pack install stm32f401retx" in str(err)
    err = flashmod._failure("openocd", ["openocd"], "** Verify Failed **", f4, None)
    assert "verify failed: the flash of nucleo-f401re differs" in str(err)
    err = flashmod._failure("openocd", ["openocd", "-x"], "Error: something else\n", f4, None)
    assert "openocd -x failed:\nError: something else" in str(err)


def test_uf2_blocks():
    """UF2: one 512-byte block per 256-byte page, in address order, numbered, with the family
    ID; pages are zero-filled where no segment covers them; decode reads back the same pages
    and refuses a damaged block."""
    segments = [(0x20000000, bytes(range(256)) * 2 + b"\x01\x02"), (0x20000404, b"\xAA" * 10)]
    data = uf2.encode(segments, 0xE48BFF56)
    assert len(data) == 4 * 512  # pages 0x..000, 0x..100, 0x..200 (2 bytes), 0x..400
    family, payloads = uf2.decode(data)
    assert family == 0xE48BFF56
    assert list(payloads) == [0x20000000, 0x20000100, 0x20000200, 0x20000400]
    assert payloads[0x20000100] == bytes(range(256))
    assert payloads[0x20000200] == b"\x01\x02" + bytes(254)
    assert payloads[0x20000400] == bytes(4) + b"\xAA" * 10 + bytes(242)
    first = struct.unpack_from("<8I", data)
    assert first == (0x0A324655, 0x9E5D5157, 0x2000, 0x20000000, 256, 0, 4, 0xE48BFF56)
    assert struct.unpack_from("<I", data, 508)[0] == 0x0AB16F30
    damaged = bytearray(data)
    damaged[512 + 508] ^= 1  # the second block's end magic
    with pytest.raises(McucError, match="UF2 block 1 is malformed"):
        uf2.decode(bytes(damaged))
    with pytest.raises(McucError, match="not a UF2 file"):
        uf2.decode(data[:-1])
