"""Turn a generated project directory into an executable for one board.

write_build_files() adds what the code generator does not write: the Makefile, the test
harness and, for a cross board, board/startup.c and board/link.ld (the board's real memory
sizes). The result builds standalone with `make`, so a user can take OUT/ elsewhere.
The harness depends on the transport (Board.transports): "files" (harness.c.j2: reads
inputs.bin, runs the model, writes outputs.bin, measures; host stdio or QEMU semihosting) or
"serial" (serial_harness.c.j2: frames over the board's UART, see mcucompile/link; adds
board/uart.c, board/uart.h and the generated board/board_config.h, links with nosys).

build_project() runs make (and, for a board with a UF2 boot loader, writes build/firmware.uf2
beside the ELF: uf2.py) and turns its failures into McucErrors a user can act on: a memory
region overflow becomes "model does not fit <board>: RAM overflowed by N bytes (...)", any other
failure quotes the compiler's error lines.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
from pathlib import Path, PurePosixPath

import jinja2

from .boards import Board
from .errors import McucError
from .escape import JINJA_FILTERS
from .procs import run
from .resources import boards_dir, templates_dir
from .uf2 import write_uf2

BOARD_DIR = "board"  # inside out_dir: startup code and linker script of a cross board
_REGION_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")
_ERROR_LINE = re.compile(r"error:|undefined reference|multiple definition|No such file|not found")


@functools.cache          # one per process: jinja2 compiles each template once
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(templates_dir()), str(boards_dir())]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["hex"] = lambda value: f"0x{value:08X}"
    env.filters.update(JINJA_FILTERS)   # outside text only ever through these (escape.py)
    return env


def executable_path(out_dir: Path, board: Board, sanitize: bool = False,
                    profile: bool = False) -> Path:
    """Where `make` puts the executable (the Makefile uses the same names)."""
    if board.is_cross:
        return Path(out_dir) / "build" / ("profile" if profile else "") / "firmware.elf"
    return Path(out_dir) / "build" / ("asan" if sanitize else "default") / "model_runner"


def _check_relative(paths: list[str], what: str) -> None:
    for path in paths:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            raise McucError(f"{what} '{path}' must be a path inside the project directory")


def resolve_transport(board: Board, transport: str | None) -> str:
    """The transport to build for: `transport` if the board supports it, else an error;
    None means the board's default (the first of Board.transports)."""
    if transport is None:
        return board.transports[0]
    if transport not in board.transports:
        why = {"host": "the host board has no UART", "hardware": "a real board only talks "
               "over its UART"}.get(board.kind, f"boards/{board.name}.toml has no [uart] table")
        raise McucError(f"board {board.name} does not support the '{transport}' transport "
                        f"({why})", hint=f"{board.name} supports: {', '.join(board.transports)}")
    return transport


# UART types served by another type's driver (board_config.h tells it which: MCUC_UART_LPUART)
DRIVER_OF = {"stm32-lpuart": "stm32-usart-v2"}


def uart_driver(uart_type: str) -> Path:
    """The C driver of a UART type: boards/common/uart_<type, - as _>.c."""
    name = DRIVER_OF.get(uart_type, uart_type).replace("-", "_")
    return boards_dir() / "common" / f"uart_{name}.c"


def _write_serial_files(out_dir: Path, board: Board, env: jinja2.Environment) -> None:
    """board/uart.c (the board's UART driver), board/uart.h, board/board_config.h."""
    uart = board.uart
    driver = uart_driver(uart.type)
    if not driver.exists():
        raise McucError(f"no driver for UART type '{uart.type}' of board {board.name}",
                        where=str(driver))
    shutil.copyfile(driver, out_dir / BOARD_DIR / "uart.c")
    shutil.copyfile(boards_dir() / "common" / "uart.h", out_dir / BOARD_DIR / "uart.h")
    (out_dir / BOARD_DIR / "board_config.h").write_text(env.get_template("board_config.h.j2").render(
        board=board, uart=uart, uart_clock_hz=uart.clock_hz or board.clock_hz))


def write_build_files(out_dir: Path, board: Board, sources: list[str], include_dirs: list[str],
                      transport: str | None = None) -> None:
    """Write Makefile, harness.c and (cross boards) board/startup.c + board/link.ld into out_dir
    (plus the UART files for the "serial" transport; None = the board's default transport).

    `sources` and `include_dirs` are relative to out_dir; harness.c, the startup code and "."
    are added here.
    """
    out_dir = Path(out_dir)
    _check_relative(sources, "source")
    _check_relative(include_dirs, "include directory")
    serial = resolve_transport(board, transport) == "serial"
    env = _environment()
    all_sources = ["harness.c", *sources]
    include_dirs = [".", *include_dirs]
    linker_script = f"{BOARD_DIR}/link.ld"
    if board.is_cross:
        (out_dir / BOARD_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(boards_dir() / board.startup, out_dir / BOARD_DIR / "startup.c")
        (out_dir / linker_script).write_text(env.get_template(board.linker_script).render(board=board))
        all_sources.append(f"{BOARD_DIR}/startup.c")
    for stale in ("uart.c", "uart.h", "board_config.h"):  # from an earlier serial build
        (out_dir / BOARD_DIR / stale).unlink(missing_ok=True)
    if serial:
        _write_serial_files(out_dir, board, env)
        all_sources.append(f"{BOARD_DIR}/uart.c")
        include_dirs.append(BOARD_DIR)
    exe = executable_path(out_dir, board)
    harness = "serial_harness.c.j2" if serial else "harness.c.j2"
    (out_dir / "harness.c").write_text(env.get_template(harness).render(board=board))
    (out_dir / "Makefile").write_text(env.get_template("Makefile.j2").render(
        board=board, sources=all_sources, include_dirs=include_dirs, serial=serial,
        linker_script=linker_script, exe_name=exe.name, exe=exe.relative_to(out_dir),
        asan_exe=executable_path(out_dir, board, sanitize=True).relative_to(out_dir),
    ))


def _compiler(board: Board) -> str:
    return "arm-none-eabi-gcc" if board.is_cross else "gcc"


def build_project(out_dir: Path, board: Board, sanitize: bool = False,
                  profile: bool = False) -> Path:
    """Run make in out_dir; return the executable (ELF for a cross board). `profile`: the
    build that reports per-step instruction counts (cross boards only)."""
    out_dir = Path(out_dir)
    if sanitize and board.is_cross:
        raise McucError(f"sanitizers only run on the host board, not on {board.name}")
    for tool in ("make", _compiler(board)):
        if shutil.which(tool) is None:
            raise McucError(f"'{tool}' is not installed", hint="apt-get install make gcc "
                            "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    if profile and not board.is_cross:
        raise McucError(f"per-op profiles need a QEMU board (instruction counter), not {board.name}")
    command = ["make", f"-j{os.cpu_count() or 1}"] + (["SANITIZE=1"] if sanitize else []) \
        + (["PROFILE=1"] if profile else [])
    proc = run(command, cwd=out_dir, text=True)
    if proc.returncode != 0:
        raise _build_error(proc.stdout + proc.stderr, out_dir, board)
    exe = executable_path(out_dir, board, sanitize, profile)
    if board.flasher is not None and board.flasher.uf2_family is not None:
        write_uf2(exe, board)  # build/firmware.uf2, for the board's UF2 boot loader
    return exe


def _build_error(log: str, out_dir: Path, board: Board) -> McucError:
    overflows = {region: int(n) for region, n in _REGION_OVERFLOW.findall(log)}
    if overflows:
        capacity = {"RAM": (board.sram_size, "SRAM"), "FLASH": (board.flash_size, "flash")}
        parts = []
        for region, missing in overflows.items():
            size, label = capacity.get(region, (None, region))
            parts.append(f"{region} overflowed by {missing} bytes"
                         + (f" (board has {size} bytes of {label})" if size else ""))
        hint = None
        if "RAM" in overflows:
            hint = (f"RAM holds the arena and other static data plus a {board.stack_bytes}-byte "
                    f"stack and a {board.heap_bytes}-byte minimum heap (boards/{board.name}.toml)")
        return McucError(f"model does not fit {board.name}: " + "; ".join(parts), hint=hint)
    lines = [line for line in log.splitlines()
             if _ERROR_LINE.search(line) and not line.startswith("make")]
    lines = lines[:20] or log.splitlines()[-20:]  # no recognisable error line: show the end
    return McucError(f"build for {board.name} failed:\n" + "\n".join(lines), where=str(out_dir))
