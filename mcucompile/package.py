"""Package a compiled model as a library a user's own build takes in (`compile --format`).

The harness project (format "harness", the default, what `simulate` builds) is a whole
program. Every other format is a library folder with one layout, so any build can take it:

    OUT/src/<prefix>model.h      the API (model.h of the harness, renamed)
    OUT/src/<prefix>model.c      the schedule; <prefix>weights.c/.h the constants
    OUT/src/<prefix>runtime.h    the runtime's public headers (runtime_c/include), flattened
    OUT/src/<family>/*.c, *.h    the runtime sources the schedule calls (runtime_c/src/...)
    OUT/src/kernels/*.c          kernels specialised at compile time
    OUT/README.txt               what to compile: every .c under src/, include path src/,
                                 the board's compiler flags

One include directory (src/) and "every .c below it" is what an Arduino library is, and what
a Makefile or an IDE project takes most easily. The formats differ only by the manifests
written beside it: "library" none, "cmake" CMakeLists.txt (a static library target
<prefix>model for add_subdirectory, the board's flags as PUBLIC compile and INTERFACE link
options) and arm-none-eabi.cmake (a toolchain file), "zephyr" zephyr/module.yml +
zephyr/CMakeLists.txt + zephyr/Kconfig, "platformio" library.json, "arduino"
library.properties.

Several models in one program: every identifier the generated code and the runtime export
starts with `mcuc_` (macros and header guards with `MCUC_`); with --prefix P each such
identifier becomes P + the rest (and P upper-cased for macros), and so do the file names, so
two models compiled with two prefixes link into one program without a duplicate symbol (each
carries its own copy of the runtime functions it calls). A prefix that would turn an
identifier into one the sources already use is refused.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .boards import Board
from .errors import McucError
from .escape import make_comment

FORMATS = ("harness", "library", "cmake", "zephyr", "platformio", "arduino")
DEFAULT_PREFIX = "mcuc_"
PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}_$")
SRC = "src"
_OWN_FILES = ("model.h", "model.c", "weights.h", "weights.c")   # named <prefix><file>
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def check_format(fmt: str, prefix: str | None) -> str:
    """The prefix to use (DEFAULT_PREFIX if None); errors for a bad format / prefix pair."""
    if fmt not in FORMATS:
        raise McucError(f"unknown --format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")
    if fmt == "harness":
        if prefix is not None:
            raise McucError("--prefix renames a library, not the harness project",
                            hint=f"use it with --format {'|'.join(FORMATS[1:])}")
        return DEFAULT_PREFIX
    prefix = DEFAULT_PREFIX if prefix is None else prefix
    if not PREFIX_RE.match(prefix):
        raise McucError(f"--prefix must be a C identifier of 2 to 32 characters ending in '_' "
                        f"(e.g. kws_), not {prefix!r}")
    return prefix


def _renamer(prefix: str):
    """Text -> text with mcuc_X as prefixX and MCUC_X as PREFIXX, and the harness names of the
    own files (model.h, weights.h) as included by the generated code."""
    upper = prefix.upper()
    own = re.compile(r'#include "(' + "|".join(re.escape(f) for f in _OWN_FILES) + r')"')

    def rename(text: str) -> str:
        text = own.sub(lambda m: f'#include "{prefix}{m.group(1)}"', text)
        text = re.sub(r"\bmcuc_", prefix, text)
        return re.sub(r"\bMCUC_", upper, text)
    return rename


def _check_collisions(texts: list[str], prefix: str) -> None:
    """Refuse a prefix that renames an identifier into one the sources already have."""
    if prefix == DEFAULT_PREFIX:
        return
    words = {w for text in texts for w in _IDENT.findall(text)}
    for word in sorted(words):
        for old, new in (("mcuc_", prefix), ("MCUC_", prefix.upper())):
            if word.startswith(old) and new + word[len(old):] in words:
                raise McucError(f"--prefix {prefix} renames {word} to "
                                f"{new + word[len(old):]}, a name the generated sources "
                                "already use", hint="choose another prefix")


def lay_out(gen: Path, out: Path, prefix: str) -> list[str]:
    """Move what codegen.generate wrote into `gen` (harness names) to out/src in the library
    layout, renamed for `prefix`; returns the C sources relative to `out`."""
    src = out / SRC
    src.mkdir(parents=True)
    moves = {}
    for path in sorted(p for p in gen.rglob("*") if p.is_file()):
        rel = path.relative_to(gen)
        if rel.parts[0] == "runtime":      # runtime/include/x.h -> x.h, runtime/src/f/x -> f/x
            rel = Path(*rel.parts[2:])
        if rel.name.startswith("mcuc_") or (len(rel.parts) == 1 and rel.name in _OWN_FILES):
            rel = rel.with_name(prefix + rel.name.removeprefix("mcuc_"))
        moves[path] = src / rel
    texts = {path: path.read_text() for path in moves}
    _check_collisions(list(texts.values()), prefix)
    rename = _renamer(prefix)
    for path, dest in moves.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(rename(texts[path]))
    shutil.rmtree(gen)
    return sorted(str(p.relative_to(out)) for p in moves.values() if p.suffix == ".c")


def _readme(out: Path, board: Board, prefix: str, sources: list[str], fmt: str,
            model_name: str) -> None:
    flags = " ".join(list(board.cflags)) or "(none: the host's own compiler)"
    up = prefix.upper()
    how = {"cmake": ["CMake: add_subdirectory(THIS_DIR) and target_link_libraries(app PRIVATE "
                     f"{prefix}model);", "cross builds: -DCMAKE_TOOLCHAIN_FILE=THIS_DIR/"
                     "arm-none-eabi.cmake (a starting point for your own)."],
           "zephyr": ["Zephyr: list this directory in ZEPHYR_EXTRA_MODULES and set "
                      f"CONFIG_{up}MODEL=y."],
           "platformio": ["PlatformIO: put this directory in lib/ (library.json)."],
           "arduino": ["Arduino: put this directory in your sketchbook's libraries/ folder."]}
    lines = [
        f"{model_name}: compiled by mcucompile for board {board.name} ({board.description}).",
        "",
        f"Compile every .c file under {SRC}/ ({len(sources)} files) with the include path",
        f"{SRC}/ and C99 or later, and link them into your program. Compiler flags of the board",
        f"(the kernels were chosen for this CPU; use the same flags for the whole program):",
        f"    {flags}",
        "",
        f"API: {SRC}/{prefix}model.h ({prefix}model_input(i), {prefix}model_run(),",
        f"{prefix}model_output(i), {prefix}model_invoke(in, out); sizes as {up}INPUT0_BYTES ...).",
        "Every exported name starts with the prefix, so models compiled with different",
        "--prefix values link into one program.",
    ]
    if fmt in how:
        lines += ["", *how[fmt]]
    placed = sorted({m for s in sources for m in re.findall(r'section\("([^"]+)"\)',
                                                            (out / s).read_text())})
    if placed:      # memory regions beside the main SRAM and flash (planner/arena.py)
        lines += ["", "Place these sections in your linker script, each in the memory region its",
                  f"name ends with (boards/{board.name}.toml, [[memory.ram]] / [[memory.rom]]);",
                  "arenas (NOLOAD, need not be zeroed), constants (loaded with the image):",
                  *(f"    {name}" for name in placed)]
    lines += ["", "Sources:", *(f"    {s}" for s in sources)]
    (out / "README.txt").write_text("\n".join(make_comment(line) for line in lines) + "\n")


def _cmake(out: Path, board: Board, prefix: str, sources: list[str], model_name: str) -> None:
    target = f"{prefix}model"
    flags = " ".join(list(board.cflags))
    listed = "\n".join(f"    {s}" for s in sources)
    (out / "CMakeLists.txt").write_text(f"""\
# {make_comment(model_name)}: compiled by mcucompile for board {make_comment(board.name)}.
# add_subdirectory(THIS_DIR) defines the static library {target}; link it into your program.
# The board's CPU flags are PUBLIC compile and INTERFACE link options: the program that links
# {target} is built with the same -mcpu / float ABI.
cmake_minimum_required(VERSION 3.13)
project({target} C)

add_library({target} STATIC
{listed}
)
target_include_directories({target} PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}}/{SRC})
set_target_properties({target} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)
set({prefix.upper()}BOARD_FLAGS {flags})
target_compile_options({target} PUBLIC ${{{prefix.upper()}BOARD_FLAGS}}
    PRIVATE -ffunction-sections -fdata-sections
            $<$<C_COMPILER_ID:GNU,Clang>:-Wall -Wextra>)
target_link_options({target} INTERFACE ${{{prefix.upper()}BOARD_FLAGS}})
target_link_libraries({target} PUBLIC m)
""")
    (out / "arm-none-eabi.cmake").write_text("""\
# Toolchain file for Arm Cortex-M with the GNU Arm Embedded toolchain (arm-none-eabi-gcc on
# PATH): cmake -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake ... The CPU flags come from the
# model's target (its PUBLIC / INTERFACE options), not from here.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy)
# the compiler check links no startup code: try a static library instead of a program
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
""")


def _zephyr(out: Path, board: Board, prefix: str, sources: list[str], model_name: str) -> None:
    option = f"{prefix.upper()}MODEL"
    (out / "zephyr").mkdir()
    (out / "zephyr" / "module.yml").write_text(
        f"# Zephyr module of {make_comment(model_name)} (mcucompile, board "
        f"{make_comment(board.name)})\n"
        f"name: {prefix}model\nbuild:\n  cmake: zephyr\n  kconfig: zephyr/Kconfig\n")
    listed = "\n".join(f"    ${{CMAKE_CURRENT_LIST_DIR}}/../{s}" for s in sources)
    (out / "zephyr" / "CMakeLists.txt").write_text(f"""\
# {make_comment(model_name)}: compiled by mcucompile for board {make_comment(board.name)}.
if(CONFIG_{option})
  zephyr_library_named({prefix}model)
  zephyr_library_sources(
{listed}
  )
  zephyr_include_directories(${{CMAKE_CURRENT_LIST_DIR}}/../{SRC})
endif()
""")
    (out / "zephyr" / "Kconfig").write_text(
        f"config {option}\n\tbool \"mcucompile model {prefix}model\"\n\thelp\n"
        f"\t  The model {make_comment(model_name)} compiled by mcucompile; API in "
        f"{prefix}model.h.\n")


def _platformio(out: Path, board: Board, prefix: str, sources: list[str],
                model_name: str) -> None:
    manifest = dict(
        name=f"{prefix}model", version="1.0.0",
        description=f"{model_name} compiled by mcucompile for {board.name}",
        keywords=["mcucompile", "neural network", "int8"], frameworks="*", platforms="*",
        build=dict(srcDir=SRC, includeDir=SRC, flags=list(board.cflags)))
    (out / "library.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _arduino(out: Path, board: Board, prefix: str, sources: list[str], model_name: str) -> None:
    text = make_comment(f"{model_name} compiled by mcucompile for {board.name}")
    (out / "library.properties").write_text(
        f"name={prefix}model\nversion=1.0.0\nauthor=mcucompile\nmaintainer=mcucompile\n"
        f"sentence={text}\nparagraph=API in {prefix}model.h; every .c under src/ is compiled.\n"
        f"category=Data Processing\n# url: your project's page (required by the Arduino "
        f"Library Manager)\nurl=\narchitectures=*\n"
        f"includes={prefix}model.h\n")


_MANIFESTS = dict(cmake=_cmake, zephyr=_zephyr, platformio=_platformio, arduino=_arduino)


def package(gen: Path, out: Path, board: Board, fmt: str, prefix: str,
            model_name: str) -> list[str]:
    """Turn codegen's output in `gen` into the library of format `fmt` in `out` (sources,
    README.txt and the format's manifests); returns the C sources relative to `out`."""
    sources = lay_out(gen, out, prefix)
    _readme(out, board, prefix, sources, fmt, model_name)
    if fmt in _MANIFESTS:
        _MANIFESTS[fmt](out, board, prefix, sources, model_name)
    return sources
