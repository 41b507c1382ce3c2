"""Run a built model on a batch of input vectors: natively (host board) or under QEMU.

run_vectors() writes the vectors to inputs.bin in a fresh directory, runs the executable there
(the harness reads inputs.bin and writes outputs.bin; under QEMU through semihosting), kills it
after `timeout` seconds, and parses the harness's "MCUC ..." lines (see templates/harness.c.j2):
per-inference instruction counts and stack use on QEMU boards, nothing extra on the host.

Every way a run can go wrong is a McucError with the tail of the log: a timeout, a CPU lockup
(QEMU exit 134), a fault caught by the startup code, a sanitizer report, a nonzero exit, a
stack overflow, or an output file of the wrong size.
"""
from __future__ import annotations

import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boards import Board
from ..errors import McucError
from ..procs import run
from . import host, qemu

_INFERENCE = re.compile(r"^MCUC i=(\d+)(?: instructions=(\d+) stack=(\d+)( stack_overflow=1)?)?$", re.M)
_DONE = re.compile(r"^MCUC done n=(\d+)$", re.M)
_STEP = re.compile(r"^MCUC step i=(\d+) s=(\d+) instructions=(\d+)$", re.M)
_FAULT = re.compile(r"MCUC fault exception=(\d+) pc=(0x[0-9a-f]+) cfsr=(0x[0-9a-f]+) "
                    r"mmfar=(0x[0-9a-f]+) stack_overflow=([01])")
_HARNESS_ERROR = re.compile(r"^MCUC error (.*)$", re.M)
_EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage fault", 5: "BusFault", 6: "UsageFault",
               7: "SecureFault"}


@dataclass
class RunResult:
    outputs: np.ndarray  # int8, [N, output_bytes]
    instructions: list[int] | None  # per inference; None on the host
    stack_bytes: int | None  # deepest stack use of any inference; None on the host
    raw_log: str
    steps: list[list[int]] | None = None  # per inference, instructions per step (profile build)
    counter_unit: str = "instructions"  # "cycles" on real boards (DWT), over the serial link


def run_vectors(exe: Path, board: Board, inputs: np.ndarray, output_bytes: int,
                timeout: float = 60.0) -> RunResult:
    """Run `exe` (built for `board`) on int8 `inputs` of shape [N, MCUC_INPUT_BYTES]."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.int8 or inputs.ndim != 2:
        raise McucError(f"inputs must be an int8 array [N, input_bytes], got {inputs.dtype} {inputs.shape}")
    if board.kind == "qemu":
        cmd, env = qemu.command(exe, board), None
    elif board.kind == "host":
        cmd, env = host.command(exe), host.environment()
    else:
        raise McucError(f"board {board.name} is real hardware: flash the firmware and use "
                        "`mcucompile run --port PORT`")
    with tempfile.TemporaryDirectory(prefix="mcuc-run-") as tmp:
        work = Path(tmp)
        (work / "inputs.bin").write_bytes(np.ascontiguousarray(inputs).tobytes())
        try:
            proc = run(cmd, timeout=timeout, cwd=work, env=env)
        except subprocess.TimeoutExpired as exc:
            log = _decode(exc.stdout) + _decode(exc.stderr)
            raise McucError(f"firmware on {board.name} did not finish within {timeout:g}s",
                            hint="the model may loop forever or need a longer timeout; "
                                 f"last output:\n{_tail(log)}") from None
        log = _decode(proc.stdout) + _decode(proc.stderr)
        _check_exit(proc.returncode, log, board)
        outputs = (work / "outputs.bin").read_bytes() if (work / "outputs.bin").exists() else b""
    return _result(log, outputs, inputs.shape[0], output_bytes, board)


def _decode(data: bytes | None) -> str:
    return data.decode("utf-8", errors="replace") if data else ""


def _tail(log: str, lines: int = 20) -> str:
    return "\n".join(log.rstrip().splitlines()[-lines:])


def _crash(board: Board, what: str, log: str) -> McucError:
    return McucError(f"firmware on {board.name} crashed: {what}", hint=f"end of the log:\n{_tail(log)}")


PAINT_OVERWRITTEN = "its lowest usable word or the guard below was overwritten"  # the harness's scan


def stack_overflow_error(board: Board, how: str, log: str) -> McucError:
    return McucError(f"stack overflow on {board.name}: the model needs more than the "
                     f"{board.stack_bytes}-byte stack reserve ({how})",
                     hint=f"raise stack_bytes in boards/{board.name}.toml; end of the log:\n{_tail(log)}")


def fault_error(text: str, board: Board | None, where: str) -> McucError:
    """The error for a "MCUC fault ..." report that came over the serial link (the same
    messages as under semihosting; `where` names the port)."""
    error = _fault(text, board) if board is not None else None
    return error or McucError(f"firmware on {where} crashed: {text}")


def _fault(log: str, board: Board) -> McucError | None:
    """The error for a fault report of the startup code's Fault_Handler in `log`, if any."""
    fault = _FAULT.search(log)
    if not fault:
        return None
    if fault[5] == "1":
        return stack_overflow_error(board, "the stack guard faulted", log)
    name = _EXCEPTIONS.get(int(fault[1]), f"exception {fault[1]}")
    return _crash(board, f"{name} at pc={fault[2]} (CFSR={fault[3]}, MMFAR={fault[4]})", log)


def _check_exit(status: int, log: str, board: Board) -> None:
    fault = _fault(log, board)
    if fault:
        raise fault
    if board.kind == "host" and host.sanitizer_report(log):
        raise _crash(board, "sanitizer report", log)
    error = _HARNESS_ERROR.search(log)
    if error:
        hint = _tail(log)
        if board.is_cross and "cannot" in error[1]:
            hint = ("newlib's fopen needs semihosting and a few KB of heap "
                    f"(heap_bytes in boards/{board.name}.toml)\n" + hint)
        raise McucError(f"harness on {board.name}: {error[1]}", hint=hint)
    if status < 0:
        raise _crash(board, f"killed by signal {signal.Signals(-status).name}", log)
    if status != 0:
        reason = qemu.crash_reason(status) if board.kind == "qemu" else None
        raise _crash(board, reason or f"exit status {status}", log)


def _result(log: str, outputs: bytes, count: int, output_bytes: int, board: Board) -> RunResult:
    done = _DONE.search(log)
    lines = _INFERENCE.findall(log)
    if not done or int(done[1]) != count or len(lines) != count:
        raise _crash(board, f"expected {count} inferences, the log does not show them all", log)
    if len(outputs) != count * output_bytes:
        raise McucError(f"outputs.bin has {len(outputs)} bytes, expected {count} x {output_bytes}",
                        hint="output_bytes must equal MCUC_OUTPUT_BYTES in model.h")
    result = RunResult(np.frombuffer(outputs, np.int8).reshape(count, output_bytes).copy(),
                       None, None, log)
    if board.kind == "host":
        return result
    if any(overflow for *_, overflow in lines):
        raise stack_overflow_error(board, PAINT_OVERWRITTEN, log)
    result.instructions = [int(instr) for _, instr, _, _ in lines]
    result.stack_bytes = max((int(stack) for *_, stack, _ in lines), default=0)
    steps = _STEP.findall(log)
    if steps:
        result.steps = [[int(n) for i, _, n in steps if int(i) == k] for k in range(count)]
    return result
