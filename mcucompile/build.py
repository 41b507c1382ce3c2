"""Turn a generated project directory into an executable for one board.

write_build_files() adds what the code generator does not write: the Makefile, the test
harness (harness.c: reads inputs.bin, runs the model, writes outputs.bin, measures) and, for a
cross board, board/startup.c and board/link.ld (the board's real memory sizes). The result
builds standalone with `make`, so a user can take OUT/ elsewhere.

build_project() runs make and turns its failures into McucErrors a user can act on: a memory
region overflow becomes "model does not fit <board>: RAM overflowed by N bytes (...)", any other
failure quotes the compiler's error lines.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import jinja2

from .boards import Board
from .errors import McucError
from .resources import boards_dir, templates_dir

BOARD_DIR = "board"  # inside out_dir: startup code and linker script of a cross board
_REGION_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")
_ERROR_LINE = re.compile(r"error:|undefined reference|multiple definition|No such file|not found")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(templates_dir()), str(boards_dir())]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["hex"] = lambda value: f"0x{value:08X}"
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


def write_build_files(out_dir: Path, board: Board, sources: list[str], include_dirs: list[str]) -> None:
    """Write Makefile, harness.c and (cross boards) board/startup.c + board/link.ld into out_dir.

    `sources` and `include_dirs` are relative to out_dir; harness.c, the startup code and "."
    are added here.
    """
    out_dir = Path(out_dir)
    _check_relative(sources, "source")
    _check_relative(include_dirs, "include directory")
    env = _environment()
    all_sources = ["harness.c", *sources]
    linker_script = f"{BOARD_DIR}/link.ld"
    if board.is_cross:
        (out_dir / BOARD_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(boards_dir() / board.startup, out_dir / BOARD_DIR / "startup.c")
        (out_dir / linker_script).write_text(env.get_template(board.linker_script).render(board=board))
        all_sources.append(f"{BOARD_DIR}/startup.c")
    exe = executable_path(out_dir, board)
    (out_dir / "harness.c").write_text(env.get_template("harness.c.j2").render(board=board))
    (out_dir / "Makefile").write_text(env.get_template("Makefile.j2").render(
        board=board, sources=all_sources, include_dirs=[".", *include_dirs],
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
    proc = subprocess.run(command, cwd=out_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise _build_error(proc.stdout + proc.stderr, out_dir, board)
    return executable_path(out_dir, board, sanitize, profile)


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
