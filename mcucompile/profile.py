"""Per-op profile: instructions of every step of the schedule, from QEMU's exact counter.

profile() compiles the model for a QEMU board, builds it with `make PROFILE=1` (model.c then
calls a hook in the harness at each step boundary that reads the instruction counter; the
hook's own cost is calibrated and subtracted), runs one input vector and returns one row per
step: op, kernel(s), MACs, instructions, instructions per MAC and share of the total, sorted
by cost. Counts are deterministic (icount), so two runs give the same table. The outputs are
not compared with TFLM here: `simulate` does that.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .api import Progress, _quiet, compile_model, load_vectors, op_macs
from .boards import Board, get_board
from .errors import McucError

_STEP_OVERHEAD = re.compile(r"^MCUC calibration step_overhead_instructions=(\d+)$", re.M)


@dataclass
class ProfileReport:
    model: str
    board: str
    kernels: str
    macs: int
    instructions: int          # whole inference (profile hooks subtracted)
    rows: list[dict] = field(default_factory=list)   # sorted by instructions, descending

    @property
    def instructions_per_mac(self) -> float | None:
        return round(self.instructions / self.macs, 3) if self.macs else None

    @property
    def estimated_instructions(self) -> int:
        """The search's cost-model estimate of the whole inference (backend/cost.py)."""
        return sum(r["estimated_instructions"] or 0 for r in self.rows)

    def to_json(self) -> dict:
        return dict(model=self.model, board=self.board, kernels=self.kernels, macs=self.macs,
                    instructions=self.instructions,
                    estimated_instructions=self.estimated_instructions,
                    instructions_per_mac=self.instructions_per_mac,
                    ops_instructions=sum(r["instructions"] for r in self.rows), ops=self.rows)


def _shapes(tensors) -> list[list[int]]:
    return [list(t.shape) for t in tensors if t is not None and not t.is_const]


def profile(model: str | Path, board: str | Board = "mps2-an386", kernels: str = "auto",
            seed: int = 0, out_dir: str | Path | None = None, timeout: float = 120.0,
            progress: Progress = _quiet, patch: str | None = None, sram: int | None = None,
            max_overhead: float = 20.0, flash: int | None = None,
            keep_layout: bool = False) -> ProfileReport:
    from .build import build_project
    from .simulate import run_vectors

    board = get_board(board) if isinstance(board, str) else board
    if board.kind != "qemu":
        raise McucError(f"per-op profiles need a QEMU board (instruction counter), "
                        f"not {board.name}",
                        hint="e.g. --board mps2-an386 (see `mcucompile boards`)")
    compiled = compile_model(model, board, out_dir, progress, kernels, patch=patch, sram=sram,
                             max_overhead=max_overhead, flash=flash, keep_layout=keep_layout)
    try:
        progress(f"building the profiling firmware for {board.name}")
        exe = build_project(compiled.project.out_dir, board, profile=True)
        vectors = load_vectors(compiled.graph, None, 1, seed)
        progress("running one inference")
        run = run_vectors(exe, board, vectors, compiled.project.output_bytes, timeout=timeout)
    finally:
        if out_dir is None:     # built in a temporary directory
            shutil.rmtree(compiled.project.out_dir, ignore_errors=True)
    schedule = compiled.plan.schedule
    steps = run.steps[0] if run.steps else []
    if len(steps) != len(schedule):
        raise McucError(f"profile reported {len(steps)} steps for a schedule of {len(schedule)}",
                        hint=run.raw_log[-2000:])
    hook = int(_STEP_OVERHEAD.search(run.raw_log)[1])
    total = run.instructions[0] - hook * (len(schedule) + 1)
    rows = []
    for step, (op, n) in enumerate(zip(schedule, steps)):
        macs = op_macs(op)
        rows.append(dict(step=step, index=op.index, type=op.type,
                         kernels=sorted({c.fn for c in op.kernel.calls}),
                         inputs=_shapes(op.inputs), outputs=_shapes(op.outputs), macs=macs,
                         instructions=n,
                         estimated_instructions=compiled.plan.estimated_instructions.get(id(op)),
                         instructions_per_mac=round(n / macs, 3) if macs else None,
                         share=round(n / total, 4) if total else 0.0))
    rows.sort(key=lambda r: (-r["instructions"], r["step"]))
    return ProfileReport(model=str(model), board=board.name, kernels=kernels,
                         macs=sum(op_macs(op) for op in compiled.graph.ops),
                         instructions=total, rows=rows)
