"""The Python API; the CLI is a thin layer over these functions.

    compile_model(model, board, out_dir)  frontend -> passes -> planner -> codegen
    simulate(model, board, inputs)        ... -> build -> run -> compare with the reference
                                          (TFLM; onnxruntime for .onnx models)
    model_info(model)                     per-op table: shapes, MACs, weight bytes
"""
from __future__ import annotations

import hashlib
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .boards import Board, get_board, list_boards
from .codegen import Project, generate
from .errors import McucError
from .frontend import load_model
from .ir import Graph
from .passes import run_passes
from .passes.select_kernels import fast_variant, io_bytes, select_kernels, variant_builders
from .planner import MemoryPlan, check_plan, plan_memory
from .planner.report import streamed_blocks
from .planner.patches import fast_tile_kernels
from .planner.streaming import Streaming

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
                  sram: int | None = None, max_overhead: float = 20.0,
                  transport: str | None = None) -> Compiled:
    """kernels: "auto" (fastest bit-exact kernels for the board) or "portable" (plain C).
    patch: "off", "auto" or "NxN@LAYER"; sram: arena budget in bytes (default: what the
    board's SRAM leaves after stack, heap and other static data); max_overhead: % extra MACs.
    transport: how the harness gets test vectors, "files" or "serial" (None: the board's
    default, see Board.transports)."""
    from .build import resolve_transport
    board = get_board(board) if isinstance(board, str) else board
    transport = resolve_transport(board, transport)
    progress(f"reading {Path(model).name}")
    graph = load_model(model)
    progress(f"lowering {len(graph.ops)} ops")
    progress("planning memory" + (f" (patches: {patch})" if patch != "off" else ""))
    graph, plan = _lower_and_plan(graph, board, kernels, patch, sram, max_overhead)
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="mcuc_"))
    progress(f"generating C into {out_dir}")
    project = generate(graph, plan, Path(out_dir), board, transport)
    if board.flash_size and project.const_bytes > board.flash_size:
        raise McucError(f"model does not fit {board.name}: its constants need "
                        f"{project.const_bytes:,} bytes of flash, the board has "
                        f"{board.flash_size:,} (over by {project.const_bytes - board.flash_size:,}"
                        f" before any code)", str(model))
    return Compiled(graph, plan, project, board)


OTHER_STATIC = 2048   # bytes of SRAM kept for static data besides the arena (harness, libc)


def arena_budget(graph: Graph, board: Board | None, sram: int | None) -> int | None:
    """Bytes the arena may take: --sram if given, else the board's SRAM less its stack and
    heap reserves and 2 KB for other static data (None on host). The model's inputs and
    outputs live in the arena (the harnesses read and write them there, model.h), so they need
    nothing besides."""
    if sram is not None:
        return sram
    if board is None or not board.sram_size:
        return None
    return board.sram_size - (board.stack_bytes or 0) - (board.heap_bytes or 0) - OTHER_STATIC


def _budget_what(board: Board | None, sram: int | None) -> str:
    if sram is not None or board is None or not board.sram_size:
        return ""
    return (f"{board.name} ({board.sram_size:,} bytes of SRAM less a {board.stack_bytes or 0:,}"
            f"-byte stack, {board.heap_bytes or 0:,}-byte heap and {OTHER_STATIC:,} bytes of "
            f"other static data)")


def plan_model(model: str | Path, board: str | Board = "host", patch: str = "off",
               sram: int | None = None, max_overhead: float = 20.0, kernels: str = "auto"):
    """(graph, plan) without generating code: what `mcucompile plan` shows."""
    board = get_board(board) if isinstance(board, str) else board
    return _lower_and_plan(load_model(model), board, kernels, patch, sram, max_overhead)


def _lower_and_plan(graph: Graph, board: Board, kernels: str, patch: str, sram: int | None,
                    max_overhead: float) -> tuple[Graph, MemoryPlan]:
    """Run the passes and plan the arena. The patch search packs portable tiles; once it has
    chosen, a board with fast kernels gets the same patches again with fast kernels on the
    tiles, and the kernels after the stage selected again for the peak there (fast kernels
    size their scratch to what the peak leaves free: sized for the unpatched peak, one wide
    scratch band would undo the patches). That plan is taken if it fits the budget; if not,
    the next schedules that fit with portable tiles (fewest extra MACs first) are tried the
    same way: fast tiles beat a few percent of MACs by far (person_detect: 8.8x slower with
    portable tiles)."""
    graph = run_passes(graph, board, kernels)
    budget, what = arena_budget(graph, board, sram), _budget_what(board, sram)
    tables = variant_builders(board, kernels)
    streaming = Streaming(row_kernels=_row_kernels(tables) if tables else None)
    plan = plan_memory(graph, patch, budget, max_overhead, what, streaming=streaming)
    if plan.patch and tables:
        fast_tiles = lambda op, call: fast_variant(tables, op, call)    # noqa: E731
        specs = [f"{plan.patch['grid']}@{plan.patch['split_op_index']}"]
        specs += plan.alternatives[:MAX_FAST_TILE_TRIES - 1]
        for spec in specs:
            fast = _fast_tile_plan(graph, board, kernels, spec, budget, max_overhead, what,
                                   fast_tiles, streaming)
            if fast is not None:
                plan = fast
                break
        else:
            select_kernels(graph, board, kernels)      # back to the first selection
    check_plan(plan)
    return graph, plan


MAX_FAST_TILE_TRIES = 8   # patch schedules (fewest extra MACs first) tried with fast tiles


def _row_kernels(tables):
    """Fast kernels for the 1x1 layers of streamed blocks, one row at a time (built once per
    layer and row geometry: the patch search streams the same blocks many times)."""
    built: dict = {}

    def row_kernel(op, call):
        key = (op.index, call.fn, repr(sorted(call.params.items())))
        if key not in built:
            built[key] = fast_variant(tables, op, call)
        return built[key]
    return row_kernel


def _fast_tile_plan(graph: Graph, board: Board, kernels: str, spec: str, budget, max_overhead,
                    what: str, fast_tiles, streaming: Streaming) -> MemoryPlan | None:
    """The patch schedule `spec` with fast kernels on its tiles and the kernels after the
    stage selected for the peak there; None if it does not fit the budget."""
    try:
        portable = plan_memory(graph, spec, budget, max_overhead, what, streaming=streaming)
        flash = board.flash_size or math.inf
        if _flash_estimate(portable) + GENERATED_KERNEL_FLASH * fast_tile_kernels(
                portable.schedule) > flash:
            return None                 # a kernel per layer and tile size would not fit
        outside_stage = {id(op) for op in portable.schedule}   # the stage runs tile copies
        peak = max((io_bytes(op) for op in graph.ops if id(op) in outside_stage
                    and op.kernel.get("calls")), default=0)
        select_kernels(graph, board, kernels, peak=peak)
        # no budget here: with one, plan_memory would fall back to portable in-place tiles
        plan = plan_memory(graph, spec, None, max_overhead, what, tile_kernels=fast_tiles,
                           streaming=streaming)
        if _flash_estimate(plan) > flash:
            return None                 # streaming will not help
        # over the budget: stream inverted residual blocks after the stage (where the portable
        # plan streams any): all of them first (if that does not fit, nothing will), then
        # only the widest, which keeps more layers on fast kernels
        streams = any("streamed" in op.kernel for op in portable.schedule)
        if budget is not None and streams and plan.arena_bytes > budget:
            for above in (0, budget // 2, budget):
                tried = plan_memory(graph, spec, None, max_overhead, what,
                                    tile_kernels=fast_tiles,
                                    streaming=Streaming(above, streaming.row_kernels,
                                                        streaming.built))
                if tried.arena_bytes > budget:
                    break
                plan = tried
    except McucError:
        return None
    if budget is not None and plan.arena_bytes > budget:
        return None
    return plan if _flash_estimate(plan) <= flash else None


GENERATED_KERNEL_FLASH = 2048    # bytes per generated kernel, generous (M4: 815 on average)
RUNTIME_FLASH = 32 * 1024        # portable kernels, harness, startup, libc


def _flash_estimate(plan: MemoryPlan) -> int:
    """Flash a plan's firmware needs, estimated before generating it: its distinct constant
    arrays (codegen shares identical ones) plus a generous size per generated kernel. Fast
    tiles add a kernel per layer and tile size, which can overflow a small part's flash."""
    consts, kernels = {}, set()
    for op in plan.schedule:
        for call in op.kernel.get("calls", []):
            if call.generated is not None:
                kernels.add(call.fn)
                kernels.update(u.fn for u in call.uses)
            for arg in call.args:
                if arg.const is not None:
                    data = np.ascontiguousarray(arg.const)
                    consts[hashlib.sha1(data.dtype.str.encode() + data.tobytes()).digest()] = data.nbytes
    return sum(consts.values()) + GENERATED_KERNEL_FLASH * len(kernels) + RUNTIME_FLASH


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
    onnx = graph.source.lower().endswith(".onnx")
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = list(loaded.keys())
        parts = []
        for i, t in enumerate(graph.inputs):
            key = t.name if t.name in keys else (keys[i] if i < len(keys) else None)
            if key is None:
                raise McucError(f"no array for model input {i} '{t.name}' (arrays: {keys})",
                                str(path))
            parts.append(_as_int8_batch(loaded[key], t, path, onnx))
        n = {len(p) for p in parts}
        if len(n) != 1:
            raise McucError(f"arrays hold different numbers of vectors: {sorted(n)}", str(path))
        return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
    if len(graph.inputs) != 1:
        raise McucError(f"model has {len(graph.inputs)} inputs: give an .npz with one array "
                        "per input", str(path))
    return _as_int8_batch(loaded, graph.inputs[0], path, onnx).reshape(-1, total)


def _as_int8_batch(arr: np.ndarray, t, path, half_even: bool = False) -> np.ndarray:
    """Float arrays are quantized with the input's scale: rounding half away from zero (as
    TFLite does), or for ONNX models as their QuantizeLinear does (float32 x / scale, half
    to even), so the int8 vectors are what onnxruntime would feed the model's int8 core."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f" and half_even:
        scale, zp = t.quant.scalar()
        arr = np.clip(np.rint(arr.astype(np.float32) / np.float32(scale)) + zp, -128, 127)
        arr = arr.astype(np.int8)
    elif arr.dtype.kind == "f":
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
    streamed_blocks: list = field(default_factory=list)   # op indices per streamed block
    reference_impl: str = "TFLM"   # what `reference` came from (reference_name)
    counter_unit: str = "instructions"  # "cycles": DWT CYCCNT on a real board (`run`)

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
                    streamed_blocks=self.streamed_blocks, first_mismatch=self.first_mismatch, build_dir=self.build_dir,
                    reference=self.reference_impl, **self._cycles_json())

    def _cycles_json(self) -> dict:
        """On a real board the counts are CPU cycles: reported as such, not as instructions."""
        if self.counter_unit != "cycles":
            return {}
        ins = self.instructions
        return dict(instructions=None, instructions_per_vector=None, instructions_per_mac=None,
                    cycles=ins[0] if ins else None, cycles_per_vector=ins,
                    cycles_per_mac=(round(ins[0] / self.macs, 3) if ins and self.macs else None))


def simulate(model: str | Path, board: str | Board = "host", inputs: str | Path | None = None,
             count: int = 3, seed: int = 0, sanitize: bool = False, timeout: float = 120.0,
             out_dir: str | Path | None = None, progress: Progress = _quiet,
             kernels: str = "auto", patch: str = "off", sram: int | None = None,
             max_overhead: float = 20.0, transport: str | None = None) -> SimulationReport:
    """transport "serial": the vectors go over the board's UART (a TCP socket into QEMU),
    driven by the same host code as `run` against a flashed board (mcucompile/link)."""
    from .build import build_project
    from .elfinfo import sizes
    from .simulate import run_vectors

    board = get_board(board) if isinstance(board, str) else board
    if board.kind == "hardware":  # before compiling: nothing here can run it
        raise McucError(f"board {board.name} is real hardware, not simulated: build and flash "
                        "the firmware (mcucompile compile, make, flash), then `mcucompile run "
                        f"MODEL --board {board.name} --port PORT`")
    compiled = compile_model(model, board, out_dir, progress, kernels, patch, sram, max_overhead,
                             transport)
    graph, board = compiled.graph, compiled.board
    vectors = load_vectors(graph, inputs, count, seed)
    progress(f"building for {board.name}" + (" with sanitizers" if sanitize else ""))
    t0 = time.time()
    exe = build_project(compiled.project.out_dir, board, sanitize=sanitize)
    serial = (transport or board.transports[0]) == "serial"
    progress(f"built in {time.time() - t0:.1f}s; running {len(vectors)} vector(s) on {board.name}"
             + (" over the serial link" if serial else ""))
    if serial:
        run = _run_serial_qemu(exe, model, graph, board, vectors, timeout, progress)
    else:
        run = run_vectors(exe, board, vectors, compiled.project.output_bytes, timeout=timeout)
    size = sizes(exe) if board.is_cross else dict(flash_bytes=None, ram_bytes=None)
    return _report(model, board, graph, compiled.plan, vectors, run, size,
                   str(compiled.project.out_dir), progress)


def _report(model, board: Board, graph: Graph, plan: MemoryPlan, vectors: np.ndarray, run,
            size: dict, build_dir: str, progress: Progress,
            arena_bytes: int | None = None) -> SimulationReport:
    """Compare a run's outputs with the reference: the one comparison behind `simulate` and
    `run` (run: no ELF sizes, the arena as the board's INFO reports it)."""
    from .reference import reference_name, reference_outputs

    progress(f"running the reference: {reference_name(graph)}")
    ref = reference_outputs(Path(model).read_bytes(), graph, vectors)
    diff = np.abs(run.outputs.astype(np.int32) - ref.astype(np.int32))
    mismatches = int((diff > 0).sum())
    first = None
    if mismatches:
        v, i = map(int, np.argwhere(diff > 0)[0])
        first = dict(vector=v, index=i, got=int(run.outputs[v, i]), expected=int(ref[v, i]))
    return SimulationReport(
        model=str(model), board=board.name, vectors=len(vectors), bit_exact=mismatches == 0,
        mismatches=mismatches, max_abs_diff=int(diff.max(initial=0)),
        arena_bytes=plan.arena_bytes if arena_bytes is None else arena_bytes,
        lower_bound_bytes=plan.lower_bound_bytes,
        flash_bytes=size.get("flash_bytes"), ram_bytes=size.get("ram_bytes"),
        stack_bytes=run.stack_bytes, instructions=run.instructions,
        macs=sum(op_macs(op) for op in graph.ops), build_dir=build_dir,
        outputs=run.outputs, reference=ref, first_mismatch=first,
        patch=plan.patch, extra_macs_pct=getattr(plan, "extra_macs_pct", 0.0),
        streamed_blocks=streamed_blocks(plan), reference_impl=reference_name(graph),
        counter_unit=run.counter_unit)


# ------------------------------------------------------------------ serial link

def _expected(model: str | Path, graph: Graph, board: Board):
    from .link.protocol import model_fingerprint
    from .link.session import Expected
    return Expected(str(model), sum(t.nbytes for t in graph.inputs),
                    sum(t.nbytes for t in graph.outputs), model_fingerprint(model), board)


def _run_serial_qemu(exe: Path, model, graph: Graph, board: Board, vectors: np.ndarray,
                     timeout: float, progress: Progress):
    """simulate --transport serial: QEMU with the UART on a TCP socket, then the `run` code."""
    from .link.qemu import serial_qemu
    from .link.session import Session, run_vectors as run_serial

    expected = _expected(model, graph, board)
    with serial_qemu(exe, board, timeout=min(timeout, 30.0)) as port:
        with Session(port, timeout=timeout) as session:
            session.connect(expected, hello_timeout=min(timeout, 10.0))
            return run_serial(session, expected, vectors, progress)


def run_on_board(model: str | Path, board: str | Board, port: str,
                 inputs: str | Path | None = None, count: int = 3, seed: int = 0,
                 timeout: float = 30.0, progress: Progress = _quiet,
                 baudrate: int | None = None) -> SimulationReport:
    """`mcucompile run`: the vectors over `port` (anything pyserial opens) to firmware already
    running on a board (flashed, or a QEMU someone started), compared like simulate."""
    from .link.session import Session, run_vectors as run_serial

    board = get_board(board) if isinstance(board, str) else board
    if "serial" not in board.transports:
        raise McucError(f"board {board.name} has no UART for the serial link", hint="boards "
                        f"with one: {', '.join(b.name for b in list_boards() if b.uart)}")
    progress(f"reading {Path(model).name}")
    graph, plan = plan_model(model, board)
    vectors = load_vectors(graph, inputs, count, seed)
    expected = _expected(model, graph, board)
    progress(f"connecting to {port}")
    with Session(port, timeout=timeout, baudrate=baudrate or board.uart.baud) as session:
        info = session.connect(expected)
        progress(f"firmware for {info.board} answers; running {len(vectors)} vector(s)")
        run = run_serial(session, expected, vectors, progress)
    return _report(model, board, graph, plan, vectors, run, {}, "", progress,
                   arena_bytes=info.arena_bytes)
