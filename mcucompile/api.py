"""The Python API; the CLI is a thin layer over these functions.

    compile_model(model, board, out_dir)  frontend -> passes -> planner -> codegen
    simulate(model, board, inputs)        ... -> build -> run -> compare with TFLM
    model_info(model)                     per-op table: shapes, MACs, weight bytes
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .boards import Board, get_board
from .codegen import Project, generate
from .errors import McucError
from .frontend import load_model
from .ir import Graph
from .passes import run_passes
from .planner import MemoryPlan, check_plan, plan_memory

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class Compiled:
    graph: Graph
    plan: MemoryPlan
    project: Project
    board: Board


def compile_model(model: str | Path, board: str | Board = "host", out_dir: str | Path | None = None,
                  progress: Progress = _quiet, kernels: str = "auto", patch: str = "off",
                  sram: int | None = None, max_overhead: float = 20.0) -> Compiled:
    """kernels: "auto" (fastest bit-exact kernels for the board) or "portable" (plain C).
    patch: "off", "auto" or "NxN@LAYER"; sram: arena budget in bytes (default: what the
    board's SRAM leaves after stack, heap and I/O buffers); max_overhead: % extra MACs."""
    board = get_board(board) if isinstance(board, str) else board
    progress(f"reading {Path(model).name}")
    graph = load_model(model)
    progress(f"lowering {len(graph.ops)} ops")
    graph = run_passes(graph, board, kernels)
    progress("planning memory" + (f" (patches: {patch})" if patch != "off" else ""))
    plan = plan_memory(graph, patch, arena_budget(graph, board, sram), max_overhead,
                       _budget_what(board, sram))
    check_plan(plan)
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="mcuc_"))
    progress(f"generating C into {out_dir}")
    project = generate(graph, plan, Path(out_dir), board)
    if board.flash_size and project.const_bytes > board.flash_size:
        raise McucError(f"model does not fit {board.name}: its constants need "
                        f"{project.const_bytes:,} bytes of flash, the board has "
                        f"{board.flash_size:,} (over by {project.const_bytes - board.flash_size:,}"
                        f" before any code)", str(model))
    return Compiled(graph, plan, project, board)


def arena_budget(graph: Graph, board: Board | None, sram: int | None) -> int | None:
    """Bytes the arena may take: --sram if given, else the board's SRAM less its stack and
    heap reserves, the harness's I/O buffers and 2 KB for other static data (None on host)."""
    if sram is not None:
        return sram
    if board is None or not board.sram_size:
        return None
    io = sum(t.nbytes for t in graph.inputs) + sum(t.nbytes for t in graph.outputs)
    return board.sram_size - (board.stack_bytes or 0) - (board.heap_bytes or 0) - io - 2048


def _budget_what(board: Board | None, sram: int | None) -> str:
    if sram is not None or board is None or not board.sram_size:
        return ""
    return (f"{board.name} ({board.sram_size:,} bytes of SRAM less a {board.stack_bytes or 0:,}"
            f"-byte stack, {board.heap_bytes or 0:,}-byte heap and the I/O buffers)")


def plan_model(model: str | Path, board: str | Board = "host", patch: str = "off",
               sram: int | None = None, max_overhead: float = 20.0, kernels: str = "auto"):
    """(graph, plan) without generating code: what `mcucompile plan` shows."""
    board = get_board(board) if isinstance(board, str) else board
    graph = run_passes(load_model(model), board, kernels)
    plan = plan_memory(graph, patch, arena_budget(graph, board, sram), max_overhead,
                       _budget_what(board, sram))
    check_plan(plan)
    return graph, plan


def op_macs(op) -> int:
    return sum(c.macs for c in op.kernel.get("calls", []))


def model_info(model: str | Path, board: str | Board | None = None) -> dict:
    board = get_board(board) if isinstance(board, str) else board
    graph = run_passes(load_model(model), board)
    rows = []
    for op in graph.ops:
        weights = sum(t.nbytes for t in op.inputs if t is not None and t.is_const)
        rows.append(dict(index=op.index, type=op.type,
                         inputs=[list(t.shape) for t in op.inputs if t is not None and not t.is_const],
                         outputs=[list(t.shape) for t in op.outputs],
                         macs=op_macs(op), weight_bytes=weights,
                         alias=op.is_alias))
    plan = plan_memory(graph)
    return dict(model=str(model), ops=rows, op_count=len(rows),
                macs=sum(r["macs"] for r in rows),
                weight_bytes=sum(r["weight_bytes"] for r in rows),
                inputs=[_io(t) for t in graph.inputs], outputs=[_io(t) for t in graph.outputs],
                arena_bytes=plan.arena_bytes, lower_bound_bytes=plan.lower_bound_bytes)


def _io(t) -> dict:
    scale, zp = t.quant.scalar()
    return dict(name=t.name, shape=list(t.shape), dtype=t.dtype, scale=scale, zero_point=zp)


# ------------------------------------------------------------------ input vectors

def load_vectors(graph: Graph, path: str | Path | None, count: int, seed: int) -> np.ndarray:
    """Packed int8 input vectors [N, input_bytes]: from a .npy/.npz file, or random."""
    total = sum(t.nbytes for t in graph.inputs)
    if path is None:
        rng = np.random.default_rng(seed)
        return rng.integers(-128, 128, size=(count, total), dtype=np.int8)
    path = Path(path)
    if not path.exists():
        raise McucError("inputs file not found", str(path))
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:
        raise McucError(f"cannot read inputs ({e})", str(path)) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = list(loaded.keys())
        parts = []
        for i, t in enumerate(graph.inputs):
            key = t.name if t.name in keys else (keys[i] if i < len(keys) else None)
            if key is None:
                raise McucError(f"no array for model input {i} '{t.name}' (arrays: {keys})",
                                str(path))
            parts.append(_as_int8_batch(loaded[key], t, path))
        n = {len(p) for p in parts}
        if len(n) != 1:
            raise McucError(f"arrays hold different numbers of vectors: {sorted(n)}", str(path))
        return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
    if len(graph.inputs) != 1:
        raise McucError(f"model has {len(graph.inputs)} inputs: give an .npz with one array "
                        "per input", str(path))
    return _as_int8_batch(loaded, graph.inputs[0], path).reshape(-1, total)


def _as_int8_batch(arr: np.ndarray, t, path) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        scale, zp = t.quant.scalar()
        arr = np.clip(np.floor(np.abs(arr / scale) + 0.5) * np.sign(arr) + zp, -128, 127)
        arr = arr.astype(np.int8)
    elif arr.dtype != np.int8:
        if arr.min(initial=0) < -128 or arr.max(initial=0) > 127:
            raise McucError(f"input values for '{t.name}' do not fit int8", str(path))
        arr = arr.astype(np.int8)
    if arr.size % t.size:
        raise McucError(f"input '{t.name}' needs {t.size} values per vector {list(t.shape)}; "
                        f"array of shape {list(arr.shape)} does not divide", str(path))
    return arr.reshape(-1, t.size)


# ------------------------------------------------------------------ simulate

@dataclass
class SimulationReport:
    model: str
    board: str
    vectors: int
    bit_exact: bool
    mismatches: int
    max_abs_diff: int
    arena_bytes: int
    lower_bound_bytes: int
    flash_bytes: int | None
    ram_bytes: int | None
    stack_bytes: int | None
    instructions: list[int] | None
    macs: int
    build_dir: str
    outputs: np.ndarray = field(repr=False, default=None)
    reference: np.ndarray = field(repr=False, default=None)
    first_mismatch: dict | None = None
    patch: dict | None = None
    extra_macs_pct: float = 0.0

    @property
    def peak_sram_bytes(self) -> int | None:
        if self.ram_bytes is None:
            return None
        return self.ram_bytes + (self.stack_bytes or 0)

    def to_json(self) -> dict:
        ins = self.instructions
        return dict(model=self.model, board=self.board, vectors=self.vectors,
                    bit_exact=self.bit_exact, mismatches=self.mismatches,
                    max_abs_diff=self.max_abs_diff, arena_bytes=self.arena_bytes,
                    lower_bound_bytes=self.lower_bound_bytes, flash_bytes=self.flash_bytes,
                    ram_bytes=self.ram_bytes, stack_bytes=self.stack_bytes,
                    peak_sram_bytes=self.peak_sram_bytes, macs=self.macs,
                    instructions=(ins[0] if ins else None),
                    instructions_per_vector=ins,
                    instructions_per_mac=(round(ins[0] / self.macs, 3) if ins and self.macs else None),
                    patch=self.patch, extra_macs_pct=self.extra_macs_pct,
                    first_mismatch=self.first_mismatch, build_dir=self.build_dir)


def simulate(model: str | Path, board: str | Board = "host", inputs: str | Path | None = None,
             count: int = 3, seed: int = 0, sanitize: bool = False, timeout: float = 120.0,
             out_dir: str | Path | None = None, progress: Progress = _quiet,
             kernels: str = "auto", patch: str = "off", sram: int | None = None,
             max_overhead: float = 20.0) -> SimulationReport:
    from .build import build_project
    from .elfinfo import sizes
    from .reference import reference_outputs
    from .simulate import run_vectors

    compiled = compile_model(model, board, out_dir, progress, kernels, patch, sram, max_overhead)
    graph, board = compiled.graph, compiled.board
    vectors = load_vectors(graph, inputs, count, seed)
    progress(f"building for {board.name}" + (" with sanitizers" if sanitize else ""))
    t0 = time.time()
    exe = build_project(compiled.project.out_dir, board, sanitize=sanitize)
    progress(f"built in {time.time() - t0:.1f}s; running {len(vectors)} vector(s) on {board.name}")
    run = run_vectors(exe, board, vectors, compiled.project.output_bytes, timeout=timeout)
    progress("running the TFLM reference interpreter")
    ref = reference_outputs(Path(model).read_bytes(), graph, vectors)
    diff = np.abs(run.outputs.astype(np.int32) - ref.astype(np.int32))
    mismatches = int((diff > 0).sum())
    first = None
    if mismatches:
        v, i = map(int, np.argwhere(diff > 0)[0])
        first = dict(vector=v, index=i, got=int(run.outputs[v, i]), expected=int(ref[v, i]))
    size = sizes(exe) if board.is_cross else dict(flash_bytes=None, ram_bytes=None)
    return SimulationReport(
        model=str(model), board=board.name, vectors=len(vectors), bit_exact=mismatches == 0,
        mismatches=mismatches, max_abs_diff=int(diff.max(initial=0)),
        arena_bytes=compiled.plan.arena_bytes,
        lower_bound_bytes=compiled.plan.lower_bound_bytes,
        flash_bytes=size.get("flash_bytes"), ram_bytes=size.get("ram_bytes"),
        stack_bytes=run.stack_bytes, instructions=run.instructions,
        macs=sum(op_macs(op) for op in graph.ops), build_dir=str(compiled.project.out_dir),
        outputs=run.outputs, reference=ref, first_mismatch=first,
        patch=compiled.plan.patch, extra_macs_pct=getattr(compiled.plan, "extra_macs_pct", 0.0))
