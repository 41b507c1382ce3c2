"""Real boards (kind "hardware"): firmware for each builds and links within the board's real
memory, the image is laid out as the core expects at reset, the UART drivers compute the right
baud divisors for each board's clock, and a model too big for a board fails with the exact
overflow. Nothing runs on a board here (that needs the board; see `mcucompile flash`).
"""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import modelgen
from conftest import SHARED_MODEL_NAMES, shared_model, write_model
from mcucompile import uf2
from mcucompile.api import compile_model
from mcucompile.boards import get_board, list_boards
from mcucompile.build import _environment, build_project, uart_driver
from mcucompile.elfinfo import sizes
from mcucompile.errors import McucError
from mcucompile.flash import flash_segments
from mcucompile.resources import boards_dir

REAL_BOARDS = [b for b in list_boards() if b.kind == "hardware"]

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                                reason="arm-none-eabi-gcc not installed")


# The boards of the Cortex-M0+ and M33 issue build every shared model; the others two of them.
EVERY_MODEL = {"nucleo-u575zi-q", "rpi-pico"}
CASES = [(b, m) for b in REAL_BOARDS
         for m in (SHARED_MODEL_NAMES if b.name in EVERY_MODEL else ["hello_world_int8", "person_detect"])]
# What does not fit, where the link says so: the Pico's 264 KB cannot hold person_detect's
# 250 KB of weights, its code, its arena and the 20 KB stack and heap reserve together.
DOES_NOT_FIT = {("rpi-pico", "person_detect")}


@pytest.mark.parametrize("board, model", CASES, ids=lambda x: getattr(x, "name", x))
def test_firmware_links_within_the_board(tmp_path, board, model):
    c = compile_model(shared_model(model), board, tmp_path)
    if (board.name, model) in DOES_NOT_FIT:
        with pytest.raises(McucError, match=f"model does not fit {board.name}: RAM overflowed by ") as e:
            build_project(tmp_path, board)
        missing = int(str(e.value).split("overflowed by ")[1].split()[0])
        # at least what the constants, the arena and the reserves alone are over by (code and
        # other static data come on top)
        needed = c.project.const_bytes + c.plan.arena_bytes + board.stack_bytes + board.heap_bytes
        assert missing >= needed - board.sram_size > 0
        return
    elf = build_project(tmp_path, board)
    s = sizes(elf)
    assert 0 < s["flash_bytes"] <= board.flash_size
    image_in_ram = s["flash_bytes"] if board.ram_image else 0  # code and constants share SRAM
    assert image_in_ram + s["ram_bytes"] + board.stack_bytes + board.heap_bytes <= board.sram_size
    assert s["ram_bytes"] >= c.plan.total_bytes     # every region's arena
    assert s["stack_reserve_bytes"] == board.stack_bytes and s["heap_bytes"] >= board.heap_bytes
    # What the probe programs lies in flash (the SRAM for an image run from SRAM); the vector
    # table at its start (after the entry stub there) holds the initial stack pointer (top of
    # SRAM) and the reset handler (in flash, Thumb bit set).
    segments = flash_segments(elf, board)
    start, image = min(segments)
    assert start == board.flash_origin
    sp, reset = struct.unpack_from("<II", image, board.vector_table - start if board.ram_image else 0)
    assert sp == board.sram_origin + board.sram_size
    assert reset & 1 and board.flash_origin <= reset - 1 < board.flash_origin + board.flash_size
    if board.flasher.uf2_family is not None:  # the UF2 beside the ELF holds the same bytes
        family, payloads = uf2.decode(elf.with_suffix(".uf2").read_bytes())
        assert family == board.flasher.uf2_family and payloads == uf2.pages(segments)
    # The serial transport: the board's UART driver and configuration are in the project.
    config = (tmp_path / "board" / "board_config.h").read_text()
    assert f"#define MCUC_UART_BASE 0x{board.uart.base:08X}u" in config


def _divisor(tmp_path: Path, board, macro: str, clock_hz: int | None = None,
             baud: int | None = None) -> int:
    """Compile the board's UART driver with its generated board_config.h (optionally another
    clock or baud rate) and return the value of `macro` as the compiler computes it."""
    uart = board.uart
    (tmp_path / "board_config.h").write_text(_environment().get_template("board_config.h.j2").render(
        board=board, uart=uart, uart_clock_hz=clock_hz or uart.clock_hz or board.clock_hz)
        .replace(f"MCUC_UART_BAUD {uart.baud}u", f"MCUC_UART_BAUD {baud or uart.baud}u"))
    shutil.copyfile(boards_dir() / "common" / "uart.h", tmp_path / "uart.h")
    driver = uart_driver(uart.type)
    probe = tmp_path / "probe.c"
    probe.write_text(f'#include "{driver}"\nconst unsigned int mcuc_probe_value = {macro};\n')
    obj = tmp_path / "probe.o"
    proc = subprocess.run(["arm-none-eabi-gcc", *board.cflags, "-std=c99", "-O2", "-Wall",
                           "-Wextra", "-Werror", f"-I{tmp_path}", "-c", str(probe), "-o", str(obj)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    dump = subprocess.run(["arm-none-eabi-objdump", "-s", "-j", ".rodata", str(obj)],
                          capture_output=True, text=True, check=True).stdout
    word = dump.splitlines()[-1].split()[1]  # " 0000 b9220000  ..." little-endian
    return struct.unpack("<I", bytes.fromhex(word))[0]


@pytest.mark.parametrize("board, macro, expected", [
    ("nucleo-l4r5zi", "USART_DIV", 8889),  # 256 * 4 MHz / 115200
    ("stm32f746g-disco", "USART_DIV", 139),  # 16 MHz / 115200
    ("nucleo-h743zi2", "USART_DIV", 556),  # 64 MHz / 115200
    ("nrf52840-dk", "UART_BAUD_VALUE", 0x01D7E000),  # Product Specification table, 115200
    ("nucleo-u575zi-q", "USART_DIV", 35),  # 4 MHz / 115200
    ("rpi-pico", "UART_DIV64", 417),  # PL011: 64 x 12 MHz / (16 x 115200), IBRD 6, FBRD 33
])
def test_uart_divisors_for_each_board(tmp_path, board, macro, expected):
    assert _divisor(tmp_path, get_board(board), macro) == expected


def test_uart_driver_limits(tmp_path):
    l4, h7, nrf = get_board("nucleo-l4r5zi"), get_board("nucleo-h743zi2"), get_board("nrf52840-dk")
    # 256 * 80 MHz does not fit 32 bits: the LPUART divisor is computed in 64 bits.
    assert _divisor(tmp_path, l4, "USART_DIV", clock_hz=80_000_000) == 177778
    with pytest.raises(RuntimeError, match="outside the LPUART's range"):
        _divisor(tmp_path, l4, "USART_DIV", baud=2_000_000)  # BRR < 0x300
    with pytest.raises(RuntimeError, match="outside the USART's divider range"):
        _divisor(tmp_path, h7, "USART_DIV", clock_hz=1_000_000, baud=921_600)
    assert _divisor(tmp_path, nrf, "UART_BAUD_VALUE", baud=1_000_000) == 0x10000000
    with pytest.raises(RuntimeError, match="not one of the nRF UART's rates"):
        _divisor(tmp_path, nrf, "UART_BAUD_VALUE", baud=100_000)


def test_model_too_big_for_the_f401_reports_the_overflow(tmp_path):
    """Activations of 2 x 72 KB (the model's input and output, both in the arena) on a 96 KB
    part: the linker rejects the firmware with the exact number of missing bytes, which matches
    what the same firmware takes on a board where it fits."""
    model = write_model(tmp_path, modelgen.conv2d(in_shape=(1, 96, 96, 8), filters=8,
                                                  kernel=(1, 1)), "big")
    f401, l4 = get_board("nucleo-f401re"), get_board("nucleo-l4r5zi")
    compile_model(model, f401, tmp_path / "f401", sram=1 << 40)  # past the planner's check
    with pytest.raises(McucError) as info:
        build_project(tmp_path / "f401", f401)
    text = str(info.value)
    assert "model does not fit nucleo-f401re: RAM overflowed by" in text
    assert "(board has 98304 bytes of SRAM)" in text
    missing = int(text.split("overflowed by ")[1].split()[0])
    compile_model(model, l4, tmp_path / "l4")
    needed = sizes(build_project(tmp_path / "l4", l4))["ram_bytes"] + l4.stack_bytes + l4.heap_bytes
    assert abs(missing - (needed - f401.sram_size)) <= 16  # section alignment


def test_model_too_big_for_the_f401_is_refused_by_the_planner(tmp_path):
    """72 KB in, 144 KB out: no in-place layer or patch brings that under 96 KB (the 8 -> 8
    channel model above would fit once run in place)."""
    model = write_model(tmp_path, modelgen.conv2d(in_shape=(1, 96, 96, 8), filters=16,
                                                  kernel=(1, 1)), "big16")
    with pytest.raises(McucError, match=r"model does not fit nucleo-f401re .*over by [\d,]+"):
        compile_model(model, "nucleo-f401re", tmp_path / "out")
