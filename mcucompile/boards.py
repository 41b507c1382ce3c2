"""The board registry: one TOML file per board in boards/, loaded into a frozen `Board`.

A board says how to compile for it (gcc flags, CPU features the code generator may use), what
memory it really has (the linker script enforces these sizes, so a model that does not fit
fails at link time): the main flash and SRAM (code, .data, .bss, heap, stack), and optionally
further RAM regions the arena may use ([[memory.ram]]: address, size, speed class, DMA
reachable) and further read-only regions for constants ([[memory.rom]]: QSPI, code SRAM),
and how to run it: natively ("host"), under QEMU ("qemu", with the
machine name and the guest-readable counter used to count instructions), or later on a real
board ("hardware": memory and UART, no QEMU machine).

The TOML is checked strictly (unknown or missing keys are errors naming the file), because a
typo in a memory size would otherwise only show up as a wrong answer much later.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

from .errors import McucError
from .resources import boards_dir

KINDS = ("host", "qemu", "hardware")
STACK_ALIGN = 256  # the stack guard size in boards/common/link.ld.j2


@dataclass(frozen=True)
class Features:
    dsp: bool  # Armv7E-M DSP instructions (SMLAD, SXTB16, ...)
    fpu: bool
    mve: bool  # Helium / M-profile vector extension


SPEEDS = {1: "core-coupled (TCM, CCM)", 2: "on-chip SRAM on the bus matrix",
          3: "external or slow (QSPI, SDRAM)"}


@dataclass(frozen=True)
class Region:
    """A memory region: RAM the arena may use, or read-only memory constants may use."""

    name: str              # a C identifier: names the linker region and the arena section
    origin: int
    size: int
    speed: int = 2         # a class of SPEEDS: 1 is the fastest
    dma: bool = True       # DMA controllers reach it (graph inputs and outputs must be there)
    main: bool = False     # the board's main SRAM / flash (stack, heap, .data; code)


class SetupStep(NamedTuple):
    """One step of a board's start-up register sequence (uart.setup)."""

    address: int
    mask: int
    value: int
    # False: write, *address = (*address & ~mask) | value. True: wait until
    # (*address & mask) == value (an oscillator stable, a reset done).
    wait: bool = False


@dataclass(frozen=True)
class Uart:
    """The UART the serial transport talks through (on dev boards: the debugger's virtual COM
    port). `type` names the driver, boards/common/uart_<type with - as _>.c."""

    type: str  # "cmsdk-apb-uart", "stm32-usart-v1" (F2/F4: SR/DR), "stm32-usart-v2" (ISR/RDR/TDR), ...
    base: int
    baud: int = 115200
    clock_hz: int | None = None  # the UART's kernel clock; None: the board's clock_hz
    # Register steps run before the driver starts, in order: clock enables, pin alternate
    # functions. In the TOML a write is [address, mask, value], a wait ["wait", address, mask, value].
    setup: tuple[SetupStep, ...] = ()


COUNTER_TYPES = ("mmio", "dwt", "timer")
UART_TYPES = ("cmsdk-apb-uart", "stm32-usart-v1", "stm32-usart-v2", "stm32-lpuart", "nrf-uarte",
              "pl011")


@dataclass(frozen=True)
class Counter:
    """A free-running 32-bit up-counter the firmware reads to time one inference."""

    address: int | None  # None for "dwt" (its address is architectural)
    ns_per_tick: int | None  # virtual nanoseconds per tick (QEMU: instructions via icount); None for "dwt"
    init: tuple[tuple[int, int], ...]  # (address, value) register writes that start it
    # Optional slow 32-bit counter read around the fast one to count the fast one's wraps.
    coarse_address: int | None = None
    coarse_ns_per_tick: int | None = None
    # "mmio": a memory-mapped counter in virtual time (QEMU; converted to instructions).
    # "dwt": the core's DWT CYCCNT (real boards: CPU cycles; QEMU reads it as 0).
    # "timer": a memory-mapped free-running timer on a real board without a cycle counter
    # (Armv6-M): CPU cycles = ticks x clock_hz x ns_per_tick / 1e9, to within one tick.
    type: str = "mmio"
    # A register written with 1 before each read of `address`, for timers whose count is only
    # readable once latched (nRF TIMER: TASKS_CAPTURE[0], then read CC[0]). None: read directly.
    capture_address: int | None = None


@dataclass(frozen=True)
class Flasher:
    """How a real board is flashed: pyOCD's target name and OpenOCD's configuration arguments."""

    pyocd_target: str
    openocd_args: tuple[str, ...]  # e.g. ("-f", "board/st_nucleo_f4.cfg")
    uf2_family: int | None = None  # a UF2 boot loader's family ID: the build also writes a .uf2


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    kind: str  # "host" | "qemu" | "hardware"
    cpu: str
    cflags: tuple[str, ...]
    features: Features
    path: Path
    default: bool = False
    clock_hz: int | None = None
    # Memory (None on host): the real sizes, enforced by the linker script.
    flash_origin: int | None = None
    flash_size: int | None = None
    sram_origin: int | None = None
    sram_size: int | None = None
    stack_bytes: int | None = None  # reserved at the top of SRAM
    heap_bytes: int | None = None  # minimum heap, for newlib's stdio buffers
    vector_table: int | None = None  # where the core reads the vector table at reset
    # Further RAM regions for the arena and read-only regions for constants (boards' [[memory.ram]]
    # and [[memory.rom]]); the main SRAM is described by sram_* and these:
    ram_extra: tuple[Region, ...] = ()
    rom_extra: tuple[Region, ...] = ()
    sram_name: str = "sram"
    sram_speed: int = 2
    startup: str = "common/startup.c"  # relative to boards/
    linker_script: str = "common/link.ld.j2"
    uart: Uart | None = None
    qemu_machine: str | None = None
    icount_shift: int | None = None
    counter: Counter | None = None
    flasher: Flasher | None = None

    @property
    def is_cross(self) -> bool:
        return self.kind != "host"

    @property
    def ram_regions(self) -> tuple[Region, ...]:
        """Every RAM region the arena may use, the main SRAM first (none on the host)."""
        if self.sram_size is None:
            return ()
        return (Region(self.sram_name, self.sram_origin, self.sram_size, self.sram_speed, True,
                       True),) + self.ram_extra

    @property
    def rom_regions(self) -> tuple[Region, ...]:
        """Every read-only region constants may use, the main flash first (none on the host)."""
        if self.flash_size is None:
            return ()
        return (Region("flash", self.flash_origin, self.flash_size, 2, True, True),) \
            + self.rom_extra

    @property
    def ram_image(self) -> bool:
        """The whole image is loaded into SRAM and run there (a board file says so by giving
        flash and SRAM the same origin and size): code, constants and data share the SRAM, the
        image starts with an entry stub before the vector table (boards/common/startup.c)."""
        return self.is_cross and self.flash_origin == self.sram_origin

    @property
    def transports(self) -> tuple[str, ...]:
        """How test vectors reach the firmware: "files" (host stdio, or QEMU semihosting) and/or
        "serial" (framed messages over the UART, see mcucompile/link). The first is the default."""
        if self.kind == "hardware":
            return ("serial",)
        if self.kind == "qemu" and self.uart is not None:
            return ("files", "serial")
        return ("files",)


class _Table:
    """Reads keys out of one TOML table, remembering which were used to reject unknown ones."""

    def __init__(self, data: dict, where: str, name: str = ""):
        self.data, self.where, self.name, self.used = data, where, name, set()

    def get(self, key: str, kind: type | tuple, required: bool = True, default=None):
        self.used.add(key)
        label = f"{self.name}.{key}" if self.name else key
        if key not in self.data:
            if required:
                typo = difflib.get_close_matches(key, list(self.data), n=1)
                extra = f" (is '{typo[0]}' a typo?)" if typo else ""
                raise McucError(f"missing key '{label}'{extra}", where=self.where)
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise McucError(f"'{label}' has the wrong type ({type(value).__name__})", where=self.where)
        return value

    def table(self, key: str, required: bool = True) -> _Table | None:
        data = self.get(key, dict, required)
        return None if data is None else _Table(data, self.where, key)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            prefix = f"{self.name}." if self.name else ""
            raise McucError(f"unknown key(s): {', '.join(prefix + k for k in unknown)}", where=self.where)


def _setup_step(entry, where: str) -> SetupStep:
    """[address, mask, value] (a write) or ["wait", address, mask, value]."""
    wait = isinstance(entry, list) and len(entry) == 4 and entry[0] == "wait"
    numbers = entry[1:] if wait else entry
    if not (isinstance(numbers, list) and len(numbers) == 3 and all(type(v) is int for v in numbers)):
        raise McucError("uart.setup must be a list of [address, mask, value] writes and "
                        '["wait", address, mask, value] waits', where=where)
    return SetupStep(*numbers, wait=wait)


def _regions(mem: _Table, key: str, ram: bool, where: str) -> tuple[Region, ...]:
    """[[memory.ram]] (name, origin, size, speed, dma) or [[memory.rom]] (name, origin, size,
    speed) entries."""
    out = []
    for k, entry in enumerate(mem.get(key, list, False, [])):
        if not isinstance(entry, dict):
            raise McucError(f"memory.{key} must be a list of tables ([[memory.{key}]])",
                            where=where)
        t = _Table(entry, where, f"memory.{key}[{k}]")
        region = Region(t.get("name", str), t.get("origin", int), t.get("size", int),
                        t.get("speed", int, False, 2),
                        t.get("dma", bool, False, True) if ram else False)
        t.done()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", region.name) or region.name in ("ram", "flash"):
            raise McucError(f"memory.{key}[{k}].name '{region.name}' must be a lower-case C "
                            "identifier other than ram and flash (the linker script's names)",
                            where=where)
        if region.speed not in SPEEDS or region.size <= 0:
            raise McucError(f"memory.{key}[{k}]: speed must be one of {sorted(SPEEDS)} and size "
                            "positive", where=where)
        out.append(region)
    return tuple(out)


def _check_regions(regions, where: str) -> None:
    """Unique names, no two regions sharing an address."""
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise McucError(f"memory region names must be unique: {', '.join(names)}", where=where)
    spans = sorted((r.origin, r.origin + r.size, r.name) for r in regions)
    for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
        if start < end:
            raise McucError(f"memory regions {a} and {b} overlap", where=where)


def load_board(path: Path) -> Board:
    """Parse and check one board file."""
    where = str(path)
    try:
        top = _Table(tomllib.loads(path.read_text()), where)
    except tomllib.TOMLDecodeError as exc:
        raise McucError(f"invalid TOML: {exc}", where=where) from None
    kind = top.get("kind", str)
    if kind not in KINDS:
        raise McucError(f"kind must be one of {', '.join(KINDS)}, not '{kind}'", where=where)
    cross = kind != "host"
    fields = dict(
        name=top.get("name", str), description=top.get("description", str), kind=kind,
        cpu=top.get("cpu", str), cflags=tuple(top.get("cflags", list)), path=path,
        default=top.get("default", bool, False, False),
        clock_hz=top.get("clock_hz", int, cross),
    )
    if fields["name"] != path.stem:
        raise McucError(f"board name '{fields['name']}' must match the file name", where=where)
    feats = top.table("features")
    fields["features"] = Features(feats.get("dsp", bool), feats.get("fpu", bool), feats.get("mve", bool))
    feats.done()
    if cross:
        mem = top.table("memory")
        for key in ("flash_origin", "flash_size", "sram_origin", "sram_size", "stack_bytes", "heap_bytes"):
            fields[key] = mem.get(key, int)
        fields["sram_name"] = mem.get("sram_name", str, False, Board.sram_name)
        fields["sram_speed"] = mem.get("sram_speed", int, False, Board.sram_speed)
        fields["ram_extra"] = _regions(mem, "ram", True, where)
        fields["rom_extra"] = _regions(mem, "rom", False, where)
        mem.done()
        if fields["sram_speed"] not in SPEEDS:
            raise McucError(f"memory.sram_speed must be one of {sorted(SPEEDS)}", where=where)
        main_ram = Region(fields["sram_name"], fields["sram_origin"], fields["sram_size"])
        main_rom = Region("flash", fields["flash_origin"], fields["flash_size"])
        _check_regions((main_ram,) + fields["ram_extra"]
                       + (() if fields["flash_origin"] == fields["sram_origin"] else (main_rom,))
                       + fields["rom_extra"], where)
        if fields["flash_origin"] == fields["sram_origin"] and fields["flash_size"] != fields["sram_size"]:
            raise McucError("flash and SRAM must either be the same memory (an image run from "
                            "SRAM: same origin and size) or have different origins", where=where)
        if fields["stack_bytes"] + fields["heap_bytes"] >= fields["sram_size"]:
            raise McucError("stack_bytes + heap_bytes leave no SRAM for the model", where=where)
        if fields["stack_bytes"] % STACK_ALIGN or (fields["sram_origin"] + fields["sram_size"]) % STACK_ALIGN:
            raise McucError(f"stack_bytes and the end of SRAM must be multiples of {STACK_ALIGN} "
                            "(the stack guard region must be aligned)", where=where)
        start = top.table("startup")
        fields["vector_table"] = start.get("vector_table", int)
        fields["startup"] = start.get("source", str, False, Board.startup)
        fields["linker_script"] = start.get("linker_script", str, False, Board.linker_script)
        start.done()
        uart = top.table("uart", required=kind == "hardware")
        if uart:
            setup = [_setup_step(w, where) for w in uart.get("setup", list, False, [])]
            fields["uart"] = Uart(uart.get("type", str), uart.get("base", int),
                                  uart.get("baud", int, False, Uart.baud),
                                  uart.get("clock_hz", int, False), tuple(setup))
            if fields["uart"].type not in UART_TYPES:
                raise McucError(f"uart.type must be one of {', '.join(UART_TYPES)}, "
                                f"not '{fields['uart'].type}'", where=where)
            uart.done()
    qemu = top.table("qemu", required=kind == "qemu")
    if qemu:
        if kind != "qemu":
            raise McucError(f"a '{kind}' board cannot have a [qemu] table", where=where)
        fields["qemu_machine"], fields["icount_shift"] = qemu.get("machine", str), qemu.get("icount_shift", int)
        qemu.done()
    counter = top.table("counter", required=kind in ("qemu", "hardware"))
    if counter:
        ctype = counter.get("type", str, False, "mmio")
        if ctype not in COUNTER_TYPES or (kind == "qemu") != (ctype == "mmio"):
            raise McucError("counter.type must be 'mmio' on a QEMU board (DWT reads 0 there) and "
                            f"'dwt' or 'timer' on a real one, not '{ctype}'", where=where)
        init = counter.get("init", list, ctype == "mmio", [])
        if not all(isinstance(w, list) and len(w) == 2 and all(type(v) is int for v in w) for w in init):
            raise McucError("counter.init must be a list of [address, value] pairs", where=where)
        mmio = ctype != "dwt"  # an address and a tick length
        fields["counter"] = Counter(counter.get("address", int, mmio), counter.get("ns_per_tick", int, mmio),
                                    tuple((a, v) for a, v in init),
                                    counter.get("coarse_address", int, False),
                                    counter.get("coarse_ns_per_tick", int, False), ctype,
                                    counter.get("capture_address", int, False))
        coarse = fields["counter"].coarse_ns_per_tick
        if (coarse is None) != (fields["counter"].coarse_address is None):
            raise McucError("counter.coarse_address and coarse_ns_per_tick go together", where=where)
        if coarse is not None and coarse // fields["counter"].ns_per_tick >= 1 << 28:
            raise McucError("counter.coarse_ns_per_tick is too coarse to count wraps", where=where)
        if ctype == "timer" and (fields["clock_hz"] * fields["counter"].ns_per_tick) % 10**9:
            raise McucError("counter.ns_per_tick must be a whole number of CPU cycles at clock_hz",
                            where=where)
        counter.done()
    flash = top.table("flash", required=kind == "hardware")
    if flash:
        if kind != "hardware":
            raise McucError(f"a '{kind}' board cannot have a [flash] table", where=where)
        fields["flasher"] = Flasher(flash.get("pyocd_target", str), tuple(flash.get("openocd_args", list)),
                                    flash.get("uf2_family", int, False))
        flash.done()
    top.done()
    return Board(**fields)


@cache
def _registry() -> dict[str, Board]:
    boards = [load_board(p) for p in sorted(boards_dir().glob("*.toml"))]
    defaults = [b.name for b in boards if b.default]
    if len(defaults) != 1:
        raise McucError(f"exactly one board must have 'default = true', found {defaults or 'none'}",
                        where=str(boards_dir()))
    return {b.name: b for b in boards}


def list_boards() -> list[Board]:
    """All known boards, sorted by name."""
    return list(_registry().values())


def get_board(name: str) -> Board:
    """The board called `name`; an unknown name is a McucError listing the known ones."""
    boards = _registry()
    if name not in boards:
        raise McucError(f"unknown board '{name}'", hint=f"known boards: {', '.join(boards)}")
    return boards[name]


def default_board() -> Board:
    """The board used when none is named (the one marked `default = true`)."""
    return next(b for b in _registry().values() if b.default)
