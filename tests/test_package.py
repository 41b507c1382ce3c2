"""`compile --format`: the model as a library a user's own build takes in (package.py).

Built for real with CMake: a host application and an mps2-an386 firmware (run in QEMU) that
link the CMake package, and one host application linking two models compiled with two
prefixes (one as a CMake package, one as a plain library folder compiled as its README.txt
says). Every output is compared bit for bit with TFLM. The test applications reuse what
`simulate` builds with: the board's harness.c (through a two-line model.h that includes the
library's mcuc_model.h), startup.c and linker script, and simulate.run_vectors to run them.
The Zephyr, PlatformIO and Arduino manifests are checked structurally only (they parse, and
the paths they name exist): no Zephyr or PlatformIO toolchain here.
"""
from __future__ import annotations

import configparser
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import shared_model
from mcucompile.api import compile_model, load_vectors
from mcucompile.boards import get_board
from mcucompile.build import write_build_files
from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.package import lay_out
from mcucompile.reference import ReferenceProcess
from mcucompile.simulate import qemu, run_vectors

needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")


def _cmake(app: Path, build: Path, toolchain: Path | None = None) -> None:
    """Configure (warnings as errors) and build `app` in `build`."""
    configure = ["cmake", "-S", str(app), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 "-DCMAKE_C_FLAGS=-Werror"]
    if toolchain is not None:
        configure.append(f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
    for command in (configure, ["cmake", "--build", str(build), "-j2"]):
        proc = subprocess.run(command, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _global_symbols(archive: Path, nm: str) -> list[str]:
    """Names of the global symbols an archive defines."""
    out = subprocess.run([nm, "--defined-only", "-g", str(archive)], capture_output=True,
                         text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if len(line.split()) == 3]


def _harness_app(app: Path, board, package: Path) -> None:
    """A CMake application around the board's harness (as simulate builds it) that links the
    package's mcuc_model target."""
    app.mkdir()
    write_build_files(app, board, [], [])
    (app / "Makefile").unlink()                # the harness's own build: not used here
    (app / "model.h").write_text('/* the harness includes model.h */\n#include "mcuc_model.h"\n')
    sources = "harness.c" + (" board/startup.c" if board.is_cross else "")
    link = ("target_link_options(app PRIVATE -nostartfiles --specs=nano.specs --specs=rdimon.specs"
            " -T${CMAKE_CURRENT_SOURCE_DIR}/board/link.ld -Wl,--gc-sections)\n"
            if board.is_cross else "")
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f"add_subdirectory({package} model)\n"
        f"add_executable(app {sources})\n"
        "target_include_directories(app PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})\n"
        "target_link_libraries(app PRIVATE mcuc_model)\n" + link)


def _check_bit_exact(model: Path, compiled, exe: Path, board, count: int = 3) -> None:
    vectors = load_vectors(compiled.graph, None, count, seed=1)
    run = run_vectors(exe, board, vectors, compiled.project.output_bytes)
    with ReferenceProcess(model.read_bytes(), compiled.graph) as reference:
        expected = reference.run(vectors)
    np.testing.assert_array_equal(run.outputs, expected)


@needs_cmake
@pytest.mark.parametrize("board_name", ["host", "mps2-an386"])
def test_cmake_package_in_an_application_runs_bit_exact(tmp_path, board_name):
    board = get_board(board_name)
    model = shared_model("kws_ref_model")
    package = tmp_path / "kws"
    compiled = compile_model(model, board, package, fmt="cmake")
    app = tmp_path / "app"
    _harness_app(app, board, package)
    toolchain = package / "arm-none-eabi.cmake" if board.is_cross else None
    _cmake(app, tmp_path / "build", toolchain)
    exe = tmp_path / "build" / "app"
    _check_bit_exact(model, compiled, exe, board)
    nm = "arm-none-eabi-nm" if board.is_cross else "nm"
    symbols = _global_symbols(tmp_path / "build" / "model" / "libmcuc_model.a", nm)
    assert "mcuc_model_run" in symbols and all(s.startswith("mcuc_") for s in symbols), symbols


TWO_MODELS_MAIN = """\
#include <stdint.h>
#include <stdio.h>
#include "kws_model.h"
#include "hw_model.h"

/* Runs every vector of IN through one model's invoke(), appending the outputs to OUT. */
static int run_file(const char *in_name, const char *out_name, void (*invoke)(const int8_t *, int8_t *),
                    int8_t *in, size_t in_bytes, int8_t *out, size_t out_bytes)
{
    FILE *in_file = fopen(in_name, "rb"), *out_file = fopen(out_name, "wb");
    if (!in_file || !out_file)
        return 1;
    while (fread(in, 1, in_bytes, in_file) == in_bytes) {
        invoke(in, out);
        if (fwrite(out, 1, out_bytes, out_file) != out_bytes)
            return 1;
    }
    fclose(in_file);
    return fclose(out_file) != 0;
}

#ifdef SEMIHOSTING
extern void initialise_monitor_handles(void);
#endif

int main(void)
{
#ifdef SEMIHOSTING
    initialise_monitor_handles();       /* files through QEMU's semihosting */
#endif
    static int8_t kws_in[KWS_INPUT_BYTES], kws_out[KWS_OUTPUT_BYTES];
    static int8_t hw_in[HW_INPUT_BYTES], hw_out[HW_OUTPUT_BYTES];
    if (run_file("kws.in", "kws.out", kws_model_invoke, kws_in, sizeof kws_in, kws_out, sizeof kws_out))
        return 1;
    return run_file("hw.in", "hw.out", hw_model_invoke, hw_in, sizeof hw_in, hw_out, sizeof hw_out);
}
"""


@needs_cmake
@pytest.mark.parametrize("board_name", ["host", "mps2-an386"])
def test_two_models_with_two_prefixes_link_into_one_program(tmp_path, board_name):
    """kws_ as a CMake package, hw_ as a plain library folder compiled as its README.txt says
    (every .c under src/, include path src/). On the host each has plain-C GEMM kernels, on
    the M4 DSP ones, specialised and named by op index (mcuc_conv_s8_fast_op0,
    mcuc_conv_s8_dsp*_op0, and runtime kernels in both): without the prefixes neither would
    link."""
    board = get_board(board_name)
    models = dict(kws=shared_model("kws_ref_model"), hw=shared_model("hello_world_int8"))
    compiled = {}
    for (name, model), fmt in zip(models.items(), ("cmake", "library")):
        assert main(["compile", model, "--board", board.name, "--format", fmt, "--prefix",
                     f"{name}_", "-o", tmp_path / name, "--json"]) == 0
        compiled[name] = compile_model(model, board, fmt=fmt, prefix=f"{name}_")
        shutil.rmtree(compiled[name].project.out_dir)
    readme = (tmp_path / "hw" / "README.txt").read_text()
    assert "Compile every .c file under src/" in readme and "with the include path\nsrc/" in readme
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(TWO_MODELS_MAIN)
    cross = ""
    if board.is_cross:                      # the board's startup code and linker script
        write_build_files(app, board, [], [])
        cross = ("target_sources(app PRIVATE board/startup.c)\n"
                 "target_compile_definitions(app PRIVATE SEMIHOSTING)\n"
                 "target_link_options(app PRIVATE -nostartfiles --specs=nano.specs "
                 "--specs=rdimon.specs -T${CMAKE_CURRENT_SOURCE_DIR}/board/link.ld)\n")
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(two C)\n"
        f"add_subdirectory({tmp_path / 'kws'} kws)\n"
        f"file(GLOB_RECURSE HW_SOURCES {tmp_path / 'hw' / 'src'}/*.c)\n"
        "add_executable(app main.c ${HW_SOURCES})\n"
        f"target_include_directories(app PRIVATE {tmp_path / 'hw' / 'src'})\n"
        "target_compile_options(app PRIVATE -Wall -Wextra)\n"
        "target_link_libraries(app PRIVATE kws_model m)\n" + cross)
    _cmake(app, tmp_path / "build", tmp_path / "kws" / "arm-none-eabi.cmake"
           if board.is_cross else None)
    nm = "arm-none-eabi-nm" if board.is_cross else "nm"
    symbols = _global_symbols(tmp_path / "build" / "kws" / "libkws_model.a", nm)
    assert "kws_model_run" in symbols and all(s.startswith("kws_") for s in symbols), symbols
    kernel = "conv_s8_dsp" if board.is_cross else "conv_s8_fast"
    assert any(kernel in s for s in symbols)
    assert kernel in " ".join(p.name for p in (tmp_path / "hw" / "src").rglob("*.c"))
    work = tmp_path / "run"
    work.mkdir()
    vectors = {}
    for name, c in compiled.items():
        vectors[name] = load_vectors(c.graph, None, 3, seed=2)
        (work / f"{name}.in").write_bytes(vectors[name].tobytes())
    exe = tmp_path / "build" / "app"
    command = qemu.command(exe, board) if board.is_cross else [str(exe)]
    subprocess.run(command, cwd=work, check=True, timeout=120, capture_output=True)
    for name, c in compiled.items():
        got = np.frombuffer((work / f"{name}.out").read_bytes(), np.int8).reshape(3, -1)
        with ReferenceProcess(models[name].read_bytes(), c.graph) as reference:
            np.testing.assert_array_equal(got, reference.run(vectors[name]))


def test_manifests_parse_and_name_existing_paths(tmp_path):
    """Zephyr module, PlatformIO library, Arduino library: structure only (no toolchains)."""
    model = shared_model("hello_world_int8")
    out = {}
    for fmt in ("zephyr", "platformio", "arduino"):
        out[fmt] = tmp_path / fmt
        compile_model(model, "nucleo-f401re", out[fmt], fmt=fmt, prefix="hw_")
        assert (out[fmt] / "src" / "hw_model.h").is_file()
        assert "hw_model_run" in (out[fmt] / "src" / "hw_model.h").read_text()
    z = out["zephyr"]
    module = yaml.safe_load((z / "zephyr" / "module.yml").read_text())
    assert module["name"] == "hw_model"
    assert (z / module["build"]["cmake"] / "CMakeLists.txt").is_file()
    assert (z / module["build"]["kconfig"]).is_file()
    assert "config HW_MODEL\n" in (z / module["build"]["kconfig"]).read_text()
    cmake = (z / "zephyr" / "CMakeLists.txt").read_text()
    listed = [line.strip().replace("${CMAKE_CURRENT_LIST_DIR}", str(z / "zephyr"))
              for line in cmake.splitlines() if line.strip().endswith(".c")]
    assert listed and all(Path(p).is_file() for p in listed)
    assert sorted(Path(p).resolve() for p in listed) == sorted(z.rglob("*.c"))
    assert "if(CONFIG_HW_MODEL)" in cmake
    p = json.loads((out["platformio"] / "library.json").read_text())
    assert p["name"] == "hw_model"
    assert (out["platformio"] / p["build"]["srcDir"] / "hw_model.h").is_file()
    assert "-mcpu=cortex-m4" in p["build"]["flags"]
    parser = configparser.ConfigParser()
    parser.read_string("[library]\n" + (out["arduino"] / "library.properties").read_text())
    props = parser["library"]
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph",
                "category", "architectures"):
        assert props[key], key
    assert "url" in props
    assert (out["arduino"] / "src" / props["includes"]).is_file()


def test_format_and_prefix_errors(tmp_path, capsys):
    model = shared_model("hello_world_int8")
    for args, message in (
            (["--prefix", "kws_"], "--prefix renames a library, not the harness project"),
            (["--format", "cmake", "--prefix", "9kws_"], "--prefix must be a C identifier"),
            (["--format", "cmake", "--prefix", "kws"], "--prefix must be a C identifier"),
            (["--format", "make"], "invalid choice: 'make'")):
        assert main(["compile", model, "-o", tmp_path / "out", *args]) == 1
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_a_prefix_that_would_merge_two_names_is_refused(tmp_path):
    """--prefix kws_ turns mcuc_run into kws_run: refused if the sources have a kws_run."""
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "model.c").write_text("void mcuc_run(void);\nstatic int kws_run;\n")
    with pytest.raises(McucError, match="--prefix kws_ renames mcuc_run to kws_run"):
        lay_out(gen, tmp_path / "out", "kws_")
    (gen / "model.c").write_text('#include "model.h"\nvoid mcuc_run(void) { MCUC_X; }\n')
    lay_out(gen, tmp_path / "ok", "kws_")
    assert (tmp_path / "ok" / "src" / "kws_model.c").read_text() == \
        '#include "kws_model.h"\nvoid kws_run(void) { KWS_X; }\n'
