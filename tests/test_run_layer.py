"""Build and run hand-written fake models on every board (real compilers, real QEMU).

Each fake model is a model.h/model.c pair honouring the code generator's contract; the tests
check outputs, instruction counts (deterministic, calibrated to 0 for an empty model, larger
for more work), stack measurement, and every failure a user can meet: a model too big for the
board's SRAM, a model that never returns, a crash, a sanitizer finding, a stack overflow.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcucompile.boards import list_boards
from mcucompile.build import build_project, write_build_files
from mcucompile.elfinfo import sizes
from mcucompile.errors import McucError
from mcucompile.simulate import run_vectors

from fake_models import DEEP, TRAP, write_fake

BOARDS = [b for b in list_boards() if b.kind in ("host", "qemu")]
QEMU_BOARDS = [b for b in BOARDS if b.kind == "qemu"]
ids = lambda board: board.name  # noqa: E731

XOR = """
static int8_t arena[MCUC_ARENA_BYTES];
void mcuc_model_run(void)
{
    for (int i = 0; i < MCUC_INPUT_BYTES; i++)
        arena[i] = (int8_t)(in[i] ^ 0x55);
    for (int i = 0; i < MCUC_OUTPUT_BYTES; i++)
        out[i] = arena[i];
}
"""

# Same result as XOR, through 500 bytes of stack and 20 passes: more instructions, more stack.
HEAVY = """
void mcuc_model_run(void)
{
    volatile int8_t scratch[500];
    for (int pass = 0; pass < 20; pass++)
        for (int i = 0; i < MCUC_INPUT_BYTES; i++)
            scratch[i + 7 * pass] = (int8_t)(in[i] ^ 0x55);
    for (int i = 0; i < MCUC_OUTPUT_BYTES; i++)
        out[i] = scratch[i + 7 * 19];
}
"""

EMPTY = """
void mcuc_model_run(void)
{
    (void)in;
    (void)out;
}
"""

HUGE = """
static int8_t big[BIG_BYTES];
void mcuc_model_run(void)
{
    big[BIG_BYTES - 1 - (in[0] & 7)] = in[1];
    for (int i = 0; i < MCUC_OUTPUT_BYTES; i++)
        out[i] = big[BIG_BYTES - 1 - i];
}
"""

FOREVER = """
void mcuc_model_run(void)
{
    (void)in;
    (void)out;
    for (;;)
        __asm__ volatile("");
}
"""

OUT_OF_BOUNDS = """
static int8_t arena[MCUC_ARENA_BYTES];
void mcuc_model_run(void)
{
    volatile int n = MCUC_ARENA_BYTES + (in[0] & 1);  /* one past the end for odd in[0] */
    for (int i = 0; i <= n - 1; i++)
        arena[i] = in[i % MCUC_INPUT_BYTES];
    out[0] = arena[0];
}
"""

# Recursion: each level is a frame of its own, so stack use is DEPTH + 1 frames of `rec` plus
# one of mcuc_model_run, which gcc's -fstack-usage states exactly.
RECURSE = """
__attribute__((noinline)) static int rec(volatile int8_t *p, int depth)
{
    volatile int8_t local[40];
    local[0] = p[0];
    if (depth == 0)
        return local[0];
    return rec(local, depth - 1) + local[0];
}
void mcuc_model_run(void)
{
    for (int i = 0; i < MCUC_OUTPUT_BYTES; i++)
        out[i] = in[i];
    out[0] = (int8_t)rec((volatile int8_t *)in, DEPTH);
}
"""

# Exactly 2 * LOOPS instructions (subs, bne) plus a constant.
LOOP = """
void mcuc_model_run(void)
{
    uint32_t n = LOOPS;
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n));
    for (int i = 0; i < MCUC_OUTPUT_BYTES; i++)
        out[i] = in[i];
}
"""

INPUTS = np.random.default_rng(7).integers(-128, 128, size=(3, 64), dtype=np.int8)


def build(root: Path, board, model: str, name: str, sanitize: bool = False, **defines) -> Path:
    out = root / f"{name}-{board.name}"
    write_fake(out, model, **defines)
    write_build_files(out, board, ["model.c"], [])
    return build_project(out, board, sanitize=sanitize)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("projects")


@pytest.mark.parametrize("board", BOARDS, ids=ids)
def test_outputs_instructions_and_stack(root, board):
    exe = build(root, board, XOR, "xor")
    first = run_vectors(exe, board, INPUTS, 64, timeout=20)
    np.testing.assert_array_equal(first.outputs, INPUTS ^ 0x55)
    assert "MCUC done n=3" in first.raw_log
    heavy = run_vectors(build(root, board, HEAVY, "heavy"), board, INPUTS, 64, timeout=20)
    np.testing.assert_array_equal(heavy.outputs, INPUTS ^ 0x55)
    if board.kind == "host":
        assert first.instructions is None and first.stack_bytes is None
        return
    second = run_vectors(exe, board, INPUTS, 64, timeout=20)
    assert first.instructions == second.instructions  # deterministic (icount, sleep=off)
    assert len(first.instructions) == 3 and len(set(first.instructions)) == 1
    assert 10 < first.instructions[0] < 2000   # two 64-byte loops (vectorised on the M55)
    assert heavy.instructions[0] > 10 * first.instructions[0]
    assert 0 < first.stack_bytes < 64
    assert 500 <= heavy.stack_bytes < 700
    info = sizes(exe)
    assert 0 < info["flash_bytes"] < board.flash_size and 64 <= info["ram_bytes"] < 4096
    assert info["stack_reserve_bytes"] == board.stack_bytes
    assert info["heap_bytes"] >= board.heap_bytes


@pytest.mark.parametrize("board", QEMU_BOARDS, ids=ids)
def test_empty_model_calibrates_to_zero(root, board):
    result = run_vectors(build(root, board, EMPTY, "empty"), board, INPUTS[:2], 64, timeout=20)
    assert result.instructions == [0, 0] and result.stack_bytes == 0
    assert "overhead_instructions=" in result.raw_log


@pytest.mark.parametrize("board", QEMU_BOARDS, ids=ids)
def test_model_larger_than_sram_does_not_fit(root, board):
    with pytest.raises(McucError) as info:
        build(root, board, HUGE, "huge", BIG_BYTES=board.sram_size + 1000)
    text = str(info.value)
    assert f"model does not fit {board.name}: RAM overflowed by " in text
    assert f"(board has {board.sram_size} bytes of SRAM)" in text
    # Exactly what is missing: the array is 1000 bytes larger than all of SRAM.
    missing = int(text.split("overflowed by ")[1].split()[0])
    assert board.stack_bytes + board.heap_bytes + 1000 < missing < board.stack_bytes + board.heap_bytes + 1000 + 4096


def test_weights_larger_than_flash_do_not_fit(root):
    board = next(b for b in QEMU_BOARDS if b.name == "netduinoplus2")
    weights = "const int8_t weights[1100000] = {1};\n" + XOR.replace("in[i] ^ 0x55", "in[i] ^ weights[i]")
    with pytest.raises(McucError, match=r"model does not fit netduinoplus2: FLASH overflowed by \d+ "
                                        r"bytes \(board has 1048576 bytes of flash\)"):
        build(root, board, weights, "flash")


@pytest.mark.parametrize("board", BOARDS, ids=ids)
def test_hung_firmware_is_killed(root, board):
    exe = build(root, board, FOREVER, "forever")
    with pytest.raises(McucError, match=rf"firmware on {board.name} did not finish within 0.5s"):
        run_vectors(exe, board, INPUTS, 64, timeout=0.5)


@pytest.mark.parametrize("board", BOARDS, ids=ids)
def test_crash_is_reported(root, board):
    exe = build(root, board, TRAP, "trap")
    expected = "HardFault at pc=0x" if board.kind == "qemu" else "killed by signal SIGILL"
    with pytest.raises(McucError, match=rf"firmware on {board.name} crashed: {expected}"):
        run_vectors(exe, board, INPUTS, 64, timeout=10)


@pytest.mark.parametrize("board", QEMU_BOARDS, ids=ids)
def test_stack_bytes_match_gcc_stack_usage(root, board):
    exe = build(root, board, RECURSE, "recurse", DEPTH=20)
    result = run_vectors(exe, board, INPUTS[:1], 64, timeout=10)
    np.testing.assert_array_equal(result.outputs[0, 1:], INPUTS[0, 1:])
    project = exe.parent.parent
    subprocess.run(["arm-none-eabi-gcc", *board.cflags, "-std=c99", "-O2", "-ffunction-sections",
                    "-fdata-sections", "-fstack-usage", "-c",
                    "model.c", "-o", "/dev/null"], cwd=project, check=True)
    usage = {line.split(":")[-1].split()[0]: int(line.split()[1])
             for line in (project / "model.su").read_text().splitlines()}
    assert result.stack_bytes == usage["mcuc_model_run"] + 21 * usage["rec"]


@pytest.mark.parametrize("board", QEMU_BOARDS, ids=ids)
@pytest.mark.parametrize("model", ["frame", "recursion"])
def test_stack_overflow_is_reported(root, board, model):
    if model == "frame":  # one frame larger than the reserve, written sparsely
        exe = build(root, board, DEEP, "deep", STACK_BYTES=board.stack_bytes)
    else:  # many small frames pushed one after the other
        exe = build(root, board, RECURSE, "recurse-deep", DEPTH=board.stack_bytes // 32)
    with pytest.raises(McucError, match=f"stack overflow on {board.name}: the model needs more than"):
        run_vectors(exe, board, INPUTS, 64, timeout=10)


def test_instruction_count_survives_counter_wrap(root):
    """1.4e9 instructions: the 25 MHz FPGAIO counter wraps once (every 1.34e9 instructions)."""
    board = next(b for b in QEMU_BOARDS if b.name == "mps2-an386")
    small = run_vectors(build(root, board, LOOP, "loop-small", LOOPS=1000), board, INPUTS[:1], 64)
    large = run_vectors(build(root, board, LOOP, "loop-large", LOOPS=700_000_000), board, INPUTS[:1], 64)
    assert large.instructions[0] - small.instructions[0] == 2 * (700_000_000 - 1000)


def test_host_sanitizers():
    host = next(b for b in BOARDS if b.kind == "host")
    root = Path(__import__("tempfile").mkdtemp(prefix="mcuc-asan-"))
    exe = build(root, host, XOR, "xor", sanitize=True)
    assert exe.parent.name == "asan"
    np.testing.assert_array_equal(run_vectors(exe, host, INPUTS, 64).outputs, INPUTS ^ 0x55)
    bad = build(root, host, OUT_OF_BOUNDS, "oob", sanitize=True)
    even = INPUTS.copy()
    even[:, 0] &= ~1
    run_vectors(bad, host, even, 64)  # in bounds: fine
    with pytest.raises(McucError, match="crashed: sanitizer report") as info:
        run_vectors(bad, host, even | 1, 64)
    assert "index 64 out of bounds" in str(info.value)  # UBSan's bounds check fires first


def test_compile_errors_are_quoted(tmp_path):
    host = next(b for b in BOARDS if b.kind == "host")
    with pytest.raises(McucError, match=r"build for host failed:\n.*model.c.*error:.*undeclared"):
        build(tmp_path, host, "void mcuc_model_run(void) { out[0] = nope; (void)in; }", "bad")


def test_wrong_inputs_are_rejected(root):
    host = next(b for b in BOARDS if b.kind == "host")
    exe = build(root, host, XOR, "xor")
    with pytest.raises(McucError, match="whole number of input vectors"):
        run_vectors(exe, host, INPUTS[:, :10], 64)
    with pytest.raises(McucError, match="int8"):
        run_vectors(exe, host, INPUTS.astype(np.int16), 64)
