"""The board registry: every board file loads and is consistent; bad names and files are clear errors."""
from pathlib import Path

import pytest

from mcucompile.boards import default_board, get_board, list_boards, load_board
from mcucompile.build import uart_driver
from mcucompile.errors import McucError

EXPECTED = {"host", "microbit", "mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505",
            "mps3-an547", "netduinoplus2"}


def test_every_board_loads():
    boards = {b.name: b for b in list_boards()}
    assert EXPECTED <= set(boards)
    assert default_board().name == "mps2-an386"
    for board in boards.values():
        assert get_board(board.name) is board
        if board.kind == "host":
            assert board.sram_size is None and board.qemu_machine is None
            continue
        assert any(flag.startswith("-mcpu=") for flag in board.cflags)
        assert "-mthumb" in board.cflags
        assert board.flash_size > 0 and board.sram_size > board.stack_bytes + board.heap_bytes
        assert board.clock_hz > 0
        if board.kind == "qemu":
            assert board.qemu_machine and board.counter is not None
            # Exact counts need at least two counter ticks per instruction (or exactly one).
            ticks_per_instruction = 2 ** board.icount_shift / board.counter.ns_per_tick
            assert ticks_per_instruction >= 2 or ticks_per_instruction == 1


def test_board_features_and_memory():
    assert get_board("mps2-an385").features.dsp is False
    assert get_board("mps2-an385").features.fpu is False
    assert "-mfloat-abi=soft" in get_board("mps2-an385").cflags
    m55 = get_board("mps3-an547")
    assert m55.features.mve and m55.features.dsp and "-mfloat-abi=hard" in m55.cflags
    assert get_board("mps2-an500").cpu == "cortex-m7"
    stm = get_board("netduinoplus2")
    assert (stm.flash_origin, stm.flash_size) == (0x08000000, 1 << 20)
    assert (stm.sram_origin, stm.sram_size) == (0x20000000, 128 << 10)  # contiguous SRAM only
    assert get_board("mps2-an386").sram_size == 4 << 20
    # The M33 runs Secure: code and vector table in SSRAM1's Secure alias (INITSVTOR0), data in
    # SSRAM2+3's, peripherals at their Secure aliases (bit 28 set).
    m33 = get_board("mps2-an505")
    assert m33.cpu == "cortex-m33" and m33.features.dsp and m33.features.fpu and not m33.features.mve
    assert (m33.flash_origin, m33.vector_table, m33.sram_origin) == (0x10000000, 0x10000000, 0x38000000)
    assert all(a & 0x10000000 for a in (m33.uart.base, m33.counter.address, m33.counter.coarse_address))
    # The micro:bit: Armv6-M, the nRF51822's real 256 KB / 16 KB, its TIMER0 read by capture.
    mb = get_board("microbit")
    assert mb.cpu == "cortex-m0" and not (mb.features.dsp or mb.features.fpu or mb.features.mve)
    assert (mb.flash_origin, mb.flash_size, mb.sram_origin, mb.sram_size) == (0, 256 << 10, 0x20000000, 16 << 10)
    assert mb.stack_bytes + mb.heap_bytes <= 4096  # the rest is for the model
    assert (mb.counter.capture_address, mb.counter.address) == (0x40008040, 0x40008540)
    assert mb.counter.coarse_address is None and mb.icount_shift == 10


def test_unknown_board_lists_known_ones():
    with pytest.raises(McucError) as info:
        get_board("arduino-uno")
    text = str(info.value)
    assert "unknown board 'arduino-uno'" in text
    assert all(name in text for name in EXPECTED)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


HARDWARE = """
name = "myboard"
description = "a real board"
kind = "hardware"
cpu = "cortex-m33"
cflags = ["-mcpu=cortex-m33", "-mthumb"]
clock_hz = 64_000_000
[features]
dsp = true
fpu = true
mve = false
[memory]
flash_origin = 0x0
flash_size = 0x100000
sram_origin = 0x20000000
sram_size = 0x40000
stack_bytes = 8192
heap_bytes = 4096
[startup]
vector_table = 0x0
[uart]
type = "nrf-uarte"
base = 0x40002000
setup = [[0x50000518, 0x40, 0x40], ["wait", 0x40000100, 0x1, 0x1]]
[counter]
type = "dwt"
[flash]
pyocd_target = "nrf52840"
openocd_args = ["-f", "target/nrf52.cfg"]
"""


def test_hardware_board_needs_no_qemu(tmp_path):
    board = load_board(_write(tmp_path, "myboard", HARDWARE))
    assert board.kind == "hardware" and board.qemu_machine is None
    assert board.counter.type == "dwt" and board.counter.address is None
    assert board.uart.base == 0x40002000 and board.uart.baud == 115200
    assert board.uart.setup == ((0x50000518, 0x40, 0x40, False), (0x40000100, 1, 1, True))
    assert board.uart.setup[1].wait and not board.uart.setup[0].wait
    assert board.flasher.pyocd_target == "nrf52840" and board.transports == ("serial",)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("sram_size = 0x40000", "sram_sise = 0x40000"), "'memory.sram_size' (is 'sram_sise' a typo?)"),
    (lambda t: t.replace("[features]", "cpu_mhz = 64\n[features]"), "unknown key(s): cpu_mhz"),
    (lambda t: t.replace('kind = "hardware"', 'kind = "fpga"'), "kind must be one of"),
    (lambda t: t.replace("clock_hz = 64_000_000", 'clock_hz = "fast"'), "'clock_hz' has the wrong type"),
    (lambda t: t.replace('name = "myboard"', 'name = "other"'), "must match the file name"),
    (lambda t: t + '[qemu]\nmachine = "x"\nicount_shift = 7\n', "cannot have a [qemu] table"),
    (lambda t: t.replace("[startup]\nvector_table = 0x0\n", ""), "missing key 'startup'"),
    (lambda t: t.replace('type = "nrf-uarte"', 'type = "uart9000"'), "uart.type must be one of"),
    (lambda t: t.replace("setup = [[0x50000518, 0x40, 0x40],", "setup = [[1, 2],"), "uart.setup must be"),
    (lambda t: t.replace('["wait", 0x40000100,', '["until", 0x40000100,'), "uart.setup must be"),
    (lambda t: t.replace('type = "dwt"', 'type = "mmio"'), "counter.type must be"),
    (lambda t: t.replace('type = "dwt"', 'type = "timer"\naddress = 0x40054028\nns_per_tick = 333'),
     "whole number of CPU cycles"),
    (lambda t: t.replace("sram_origin = 0x20000000", "sram_origin = 0x0"), "the same memory"),
    (lambda t: t.replace('[flash]\npyocd_target = "nrf52840"\n', "[flash]\n"), "missing key 'flash.pyocd_target'"),
])
def test_bad_board_files_are_clear_errors(tmp_path, edit, message):
    path = _write(tmp_path, "myboard", edit(HARDWARE))
    with pytest.raises(McucError) as info:
        load_board(path)
    assert message in str(info.value) and str(path) in str(info.value)


REAL = {"nucleo-l4r5zi", "nucleo-f401re", "stm32f746g-disco", "nucleo-h743zi2", "nrf52840-dk",
        "nucleo-u575zi-q", "rpi-pico"}


def test_real_boards_are_complete():
    """The dev boards: real memory sizes, a UART with a driver, the DWT counter, flash settings."""
    boards = {b.name: b for b in list_boards() if b.kind == "hardware"}
    assert REAL <= set(boards)
    for b in boards.values():
        assert b.transports == ("serial",) and b.qemu_machine is None
        assert b.flasher.pyocd_target and b.flasher.openocd_args
        assert uart_driver(b.uart.type).is_file()
        assert b.uart.baud == 115200 and b.uart.setup
        assert b.stack_bytes == 16384 and b.heap_bytes == 4096
        assert not b.features.mve
        # Armv6-M has no DWT cycle counter and no DSP or FPU
        v6m = b.cpu in ("cortex-m0", "cortex-m0plus")
        assert b.counter.type == ("timer" if v6m else "dwt")
        assert b.features.dsp == b.features.fpu == (not v6m)
    sizes = {n: (b.flash_origin, b.flash_size, b.sram_origin, b.sram_size, b.clock_hz)
             for n, b in boards.items() if n in REAL}
    assert sizes == {
        "nucleo-l4r5zi": (0x08000000, 2 << 20, 0x20000000, 640 << 10, 4_000_000),
        "nucleo-f401re": (0x08000000, 512 << 10, 0x20000000, 96 << 10, 16_000_000),
        "stm32f746g-disco": (0x08000000, 1 << 20, 0x20010000, 256 << 10, 16_000_000),
        "nucleo-h743zi2": (0x08000000, 2 << 20, 0x24000000, 512 << 10, 64_000_000),
        "nrf52840-dk": (0x00000000, 1 << 20, 0x20000000, 256 << 10, 64_000_000),
        "nucleo-u575zi-q": (0x08000000, 2 << 20, 0x20000000, 768 << 10, 4_000_000),
        "rpi-pico": (0x20000000, 264 << 10, 0x20000000, 264 << 10, 12_000_000),
    }
    pico = boards["rpi-pico"]  # runs from SRAM: the same memory twice, the vector table after the stub
    assert pico.ram_image and pico.vector_table == 0x20000100 and pico.flasher.uf2_family == 0xE48BFF56
    assert not any(b.ram_image for n, b in boards.items() if n != "rpi-pico")
    assert any(step.wait for step in pico.uart.setup)  # the crystal, the reset release
    assert "-mfpu=fpv5-sp-d16" in boards["stm32f746g-disco"].cflags  # F746: single precision
    assert "-mfpu=fpv5-d16" in boards["nucleo-h743zi2"].cflags  # H743: double precision
