"""The Python API; the CLI is a thin layer over these functions.

    compile_model(model, board, out_dir)  frontend -> passes -> planner -> codegen
    simulate(model, board, inputs)        ... -> build -> run -> compare with the reference
                                          (TFLM; onnxruntime for .onnx models)
    model_info(model)                     per-op table: shapes, MACs, weight bytes, status
"""
from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .boards import Board, get_board, list_boards
from .codegen import Project, generate
from .errors import McucError
from .frontend import load_model
from .inputs import as_batch, load_array
from .ir import Graph
from .outdir import check_output_dir, publish, staging_dir
from .passes import run_passes
from .planner import MemoryPlan, plan_memory
from .planner.report import streamed_blocks
from .planner.search import OTHER_STATIC, search  # noqa: F401 (OTHER_STATIC: for callers)
from .reference import ReferenceProcess

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
                  progress: Progress = _quiet, kernels: str = "auto", patch: str | None = None,
                  sram: int | None = None, max_overhead: float = 20.0,
                  transport: str | None = None, flash: int | None = None,
                  keep_layout: bool = False, fmt: str = "harness",
                  prefix: str | None = None) -> Compiled:
    """kernels: "auto" (fastest bit-exact kernels for the board) or "portable" (plain C).
    patch: None (default: "auto" where there is an SRAM budget, else "off"), "auto" (with a
    budget: a patch stage and streamed blocks only when the model does not fit otherwise,
    fewest extra MACs; without one: the smallest arena within max_overhead), "off" or
    "NxN@LAYER"; sram / flash: budgets in bytes for the
    arena and for constants + code (default: what the board has; planner/search.py);
    max_overhead: % extra MACs. transport: how the harness gets test vectors, "files" or
    "serial" (None: the board's default, see Board.transports). out_dir: checked first and
    written only when the project is complete and fits (outdir.py); None: a new temporary
    directory. keep_layout: an NCHW model input read by a TRANSPOSE to NHWC stays NCHW (by
    default the TRANSPOSE is folded: the input becomes NHWC; see passes/canonicalize.py).
    fmt: "harness" (a whole program with the test harness and the board's build files, what
    simulate builds) or a library for the user's own build ("library", "cmake", "zephyr",
    "platformio", "arduino"; package.py), its exported names starting with `prefix`."""
    from .build import resolve_transport
    from .package import check_format, package
    board = get_board(board) if isinstance(board, str) else board
    transport = resolve_transport(board, transport)
    prefix = check_format(fmt, prefix)
    final = None if out_dir is None else check_output_dir(out_dir)    # before any work
    staging = Path(tempfile.mkdtemp(prefix="mcuc_")) if final is None else staging_dir(final)
    try:
        progress(f"reading {Path(model).name}")
        graph = load_model(model)
        progress(f"lowering {len(graph.ops)} ops")
        graph = run_passes(graph, keep_layout=keep_layout)
        progress("choosing kernels and planning memory" + (f" (patches: {patch})" if patch else ""))
        plan = search(graph, board, kernels, patch, sram, flash, max_overhead)
        progress(f"generating C into {final or staging}")
        if fmt == "harness":
            project = generate(graph, plan, staging, board, transport)
        else:
            project = generate(graph, plan, staging / ".gen")
            project.sources = package(staging / ".gen", staging, board, fmt, prefix, graph.name)
            project.out_dir, project.include_dirs = staging, ["src"]
        rom = sum(r.size for r in board.rom_regions)
        if rom and project.const_bytes > rom:
            raise McucError(f"model does not fit {board.name}: its constants need "
                            f"{project.const_bytes:,} bytes of flash, the board has "
                            f"{rom:,} (over by {project.const_bytes - rom:,} before any code)",
                            str(model))
        if final is not None:
            publish(staging, final)
            project.out_dir = final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Compiled(graph, plan, project, board)


def plan_model(model: str | Path, board: str | Board = "host", patch: str | None = None,
               sram: int | None = None, max_overhead: float = 20.0, kernels: str = "auto",
               flash: int | None = None, keep_layout: bool = False):
    """(graph, plan) without generating code: what `mcucompile plan` shows."""
    board = get_board(board) if isinstance(board, str) else board
    graph = run_passes(load_model(model), keep_layout=keep_layout)
    return graph, search(graph, board, kernels, patch, sram, flash, max_overhead)


def plan_frontier(model: str | Path, board: str | Board = "host", kernels: str = "auto",
                  flash: int | None = None, max_overhead: float | None = None,
                  keep_layout: bool = False, progress=None):
    """(graph, points): the SRAM-versus-speed frontier, `mcucompile plan --frontier`
    (planner/frontier.py)."""
    from .planner.frontier import DEFAULT_MAX_OVERHEAD, frontier
    board = get_board(board) if isinstance(board, str) else board
    graph = run_passes(load_model(model), keep_layout=keep_layout)
    cap = DEFAULT_MAX_OVERHEAD if max_overhead is None else max_overhead
    return graph, frontier(graph, board, kernels, flash, cap, progress)


def op_macs(op) -> int:
    return sum(c.macs for c in op.kernel.calls)


def model_info(model: str | Path, board: str | Board | None = None,
               keep_layout: bool = False) -> dict:
    """Per op: shapes, MACs, weight bytes and status ("supported", or why not). A model with
    ops that have no kernel here is listed unchecked, without MACs or arena ("supported":
    false); compiling it is refused at its first such op."""
    board = get_board(board) if isinstance(board, str) else board
    graph = load_model(model, keep_unsupported=True)
    supported = not graph.unsupported
    if supported:
        graph = run_passes(graph, board, keep_layout=keep_layout)
    rows = []
    for op in graph.ops:
        weights = sum(t.nbytes for t in op.inputs if t is not None and t.is_const)
        rows.append(dict(index=op.index, type=op.type,
                         inputs=[list(t.shape) for t in op.inputs if t is not None and not t.is_const],
                         outputs=[list(t.shape) for t in op.outputs],
                         macs=op_macs(op) if supported else None, weight_bytes=weights,
                         alias=op.is_alias, supported=op.index not in graph.unsupported,
                         status=graph.unsupported.get(op.index, "supported")))
    plan = plan_memory(graph) if supported else None
    return dict(model=str(model), supported=supported, ops=rows, op_count=len(rows),
                unsupported_ops=len(graph.unsupported),
                macs=sum(r["macs"] for r in rows) if supported else None,
                weight_bytes=sum(r["weight_bytes"] for r in rows),
                inputs=[dict(_io(t), layout=graph.input_layout(k))
                        for k, t in enumerate(graph.inputs)],
                outputs=[_io(t) for t in graph.outputs],
                arena_bytes=plan.arena_bytes if plan else None,
                lower_bound_bytes=plan.lower_bound_bytes if plan else None)


def _io(t) -> dict:
    scale, zp = t.quant.scalar() if t.quant is not None else (None, None)
    return dict(name=t.name, shape=list(t.shape), dtype=t.dtype, scale=scale, zero_point=zp)


# ------------------------------------------------------------------ input vectors

MAX_COUNT = 1_000_000            # random vectors (--count); they are made chunk by chunk
CHUNK_BYTES = 16 << 20          # input bytes per chunk run on the firmware and the reference
MAX_KEPT_BYTES = 1 << 30        # outputs and reference outputs a report keeps


def load_vectors(graph: Graph, path: str | Path | None, count: int, seed: int) -> np.ndarray:
    """Packed int8 input vectors [N, input_bytes]: from a .npy/.npz file, or random."""
    return np.concatenate(list(vector_chunks(graph, path, count, seed)[1]))


def vector_chunks(graph: Graph, path: str | Path | None, count: int, seed: int,
                  chunk_bytes: int = CHUNK_BYTES):
    """(N, chunks): the packed int8 input vectors load_vectors returns, as an iterator of
    [n, input_bytes] chunks of about chunk_bytes each. Random vectors are made as the chunks
    are taken (a chunk of up to 16 MB at a time, whatever --count is); the first chunk is the
    same whatever the chunk size."""
    total = sum(t.nbytes for t in graph.inputs)
    per_chunk = max(1, chunk_bytes // max(total, 1))
    if path is None:
        if not 1 <= count <= MAX_COUNT:
            raise McucError(f"the vector count must be 1 to {MAX_COUNT:,}, not {count}")
        out_bytes = sum(t.nbytes for t in graph.outputs)
        if 2 * count * out_bytes > MAX_KEPT_BYTES:
            raise McucError(f"{count:,} vectors of {out_bytes:,} output bytes would keep "
                            f"{2 * count * out_bytes:,} bytes of outputs and reference outputs; "
                            f"at most {MAX_KEPT_BYTES:,}", hint="give a smaller --count")
        rng = np.random.default_rng(seed)

        def random_chunks():
            for start in range(0, count, per_chunk):
                n = min(per_chunk, count - start)
                if all(t.dtype != "float32" for t in graph.inputs):
                    yield rng.integers(-128, 128, size=(n, total), dtype=np.int8)
                else:
                    yield np.concatenate([_random_input(graph, t, rng, n)
                                          for t in graph.inputs], axis=1)
        return count, random_chunks()
    vectors = _file_vectors(graph, Path(path))
    return len(vectors), (vectors[i:i + per_chunk] for i in range(0, len(vectors), per_chunk))


def _random_input(graph: Graph, t, rng, n: int) -> np.ndarray:
    """n random vectors of graph input t as bytes [n, t.nbytes]: random bytes (int8, int16
    codes), or for a float32 input (read by QUANTIZE: frontend/tflite.py) reals over its
    QUANTIZE's int8 range and a quarter of it beyond each end (values that saturate)."""
    if t.dtype != "float32":
        return rng.integers(-128, 128, size=(n, t.nbytes), dtype=np.int8)
    scale, zp = graph.consumers(t)[0].outputs[0].quant.scalar()
    lo, hi = scale * (-128 - zp), scale * (127 - zp)
    margin = (hi - lo) / 4
    values = rng.uniform(lo - margin, hi + margin, size=(n, t.size)).astype(np.float32)
    return values.view(np.int8)


def _file_vectors(graph: Graph, path: Path) -> np.ndarray:
    loaded = load_array(path, "inputs file")
    onnx = graph.source.lower().endswith(".onnx")
    if isinstance(loaded, dict):
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
    return _as_int8_batch(loaded, graph.inputs[0], path, onnx)


def _as_int8_batch(arr: np.ndarray, t, path, half_even: bool = False) -> np.ndarray:
    """[N, t.nbytes] int8: the input's values (int8, or int16 where the model takes int16) as
    bytes. Float arrays are quantized with the input's scale: rounding half away from zero
    (as TFLite does), or for ONNX models as their QuantizeLinear does (float32 x / scale, half
    to even), so the int8 vectors are what onnxruntime would feed the model's int8 core. The
    array must pass inputs.as_batch (numeric, finite, the input's layout). A float32 graph
    input takes the values as they are (float32 bytes)."""
    arr = as_batch(arr, t.shape, f"input vectors for '{t.name}'", str(path), layout="NHWC")
    if t.dtype == "float32":            # a float32 graph input: the model quantizes it
        return np.ascontiguousarray(arr, np.float32).reshape(-1, t.size).view(np.int8)
    info = np.iinfo(t.dtype)
    if arr.dtype.kind == "f" and half_even:
        scale, zp = t.quant.scalar()
        arr = np.clip(np.rint(arr.astype(np.float32) / np.float32(scale)) + zp, info.min,
                      info.max)
    elif arr.dtype.kind == "f":
        scale, zp = t.quant.scalar()
        arr = np.clip(np.floor(np.abs(arr / scale) + 0.5) * np.sign(arr) + zp, info.min,
                      info.max)
    elif arr.min(initial=0) < info.min or arr.max(initial=0) > info.max:
        raise McucError(f"input values for '{t.name}' do not fit {t.dtype}", str(path))
    arr = np.ascontiguousarray(arr.astype(t.dtype)).reshape(-1, t.size)
    return arr.view(np.int8)


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
    build_dir: str | None   # None: built in a temporary directory, removed (simulate)
    outputs: np.ndarray = field(repr=False, default=None)
    reference: np.ndarray = field(repr=False, default=None)
    first_mismatch: dict | None = None
    patch: dict | None = None
    extra_macs_pct: float = 0.0
    streamed_blocks: list = field(default_factory=list)   # op indices per streamed block
    reference_impl: str = "TFLM"   # what `reference` came from (reference_name)
    regions: list = field(default_factory=list)   # arena bytes per RAM region (MemoryPlan.regions)
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
                    regions=self.regions,
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
             kernels: str = "auto", patch: str | None = None, sram: int | None = None,
             max_overhead: float = 20.0, transport: str | None = None,
             flash: int | None = None, keep: bool = False,
             keep_layout: bool = False) -> SimulationReport:
    """transport "serial": the vectors go over the board's UART (a TCP socket into QEMU),
    driven by the same host code as `run` against a flashed board (mcucompile/link).
    Without out_dir the project is built in a temporary directory, removed at the end unless
    `keep` (the report's build_dir is then None)."""
    from .build import build_project
    from .elfinfo import sizes

    board = get_board(board) if isinstance(board, str) else board
    if board.kind == "hardware":  # before compiling: nothing here can run it
        raise McucError(f"board {board.name} is real hardware, not simulated: build and flash "
                        "the firmware (mcucompile compile, make, flash), then `mcucompile run "
                        f"MODEL --board {board.name} --port PORT`")
    compiled = compile_model(model, board, out_dir, progress, kernels, patch, sram, max_overhead,
                             transport, flash, keep_layout)
    build_dir = compiled.project.out_dir
    try:
        graph, board = compiled.graph, compiled.board
        count, chunks = vector_chunks(graph, inputs, count, seed)
        with ExitStack() as stack:
            reference = stack.enter_context(ReferenceProcess(Path(model).read_bytes(), graph))
            progress(f"building for {board.name}" + (" with sanitizers" if sanitize else ""))
            t0 = time.time()
            exe = build_project(build_dir, board, sanitize=sanitize)
            serial = (transport or board.transports[0]) == "serial"
            progress(f"built in {time.time() - t0:.1f}s; running {count} vector(s) on "
                     f"{board.name}" + (" over the serial link" if serial else ""))
            if serial:
                run_chunk = stack.enter_context(
                    _serial_qemu_runner(exe, model, graph, board, timeout, progress))
            else:
                def run_chunk(vectors):
                    from .simulate import run_vectors
                    return run_vectors(exe, board, vectors, compiled.project.output_bytes,
                                       timeout=timeout)
            run, ref = _run_chunks(graph, chunks, run_chunk, reference, progress)
        size = sizes(exe) if board.is_cross else dict(flash_bytes=None, ram_bytes=None)
        kept = out_dir is not None or keep
        return _report(model, board, graph, compiled.plan, count, run, ref, size,
                       str(build_dir) if kept else None)
    finally:
        if out_dir is None and not keep:
            shutil.rmtree(build_dir, ignore_errors=True)


def _run_chunks(graph: Graph, chunks, run_chunk, reference, progress: Progress):
    """Run each chunk of vectors on the firmware (run_chunk) and on the reference (a
    reference.ReferenceProcess); (merged RunResult, reference outputs)."""
    from .reference import reference_name
    from .simulate import RunResult

    runs, refs = [], []
    progress(f"running the reference: {reference_name(graph)}")
    for vectors in chunks:
        runs.append(run_chunk(vectors))
        refs.append(reference.run(vectors))
    counts = [r.instructions for r in runs]
    steps = [r.steps for r in runs]
    stacks = [r.stack_bytes for r in runs if r.stack_bytes is not None]
    run = RunResult(np.concatenate([r.outputs for r in runs]),
                    None if None in counts else [n for c in counts for n in c],
                    max(stacks) if stacks else None, runs[-1].raw_log,
                    None if None in steps else [s for c in steps for s in c],
                    runs[-1].counter_unit)
    return run, np.concatenate(refs)


def _report(model, board: Board, graph: Graph, plan: MemoryPlan, count: int, run,
            ref: np.ndarray, size: dict, build_dir: str | None,
            arena_bytes: int | None = None) -> SimulationReport:
    """Compare a run's outputs with the reference's: the one comparison behind `simulate` and
    `run` (run: no ELF sizes, the arena as the board's INFO reports it)."""
    from .reference import reference_name

    diff = np.abs(run.outputs.astype(np.int32) - ref.astype(np.int32))
    mismatches = int((diff > 0).sum())
    first = None
    if mismatches:
        v, i = map(int, np.argwhere(diff > 0)[0])
        first = dict(vector=v, index=i, got=int(run.outputs[v, i]), expected=int(ref[v, i]))
    return SimulationReport(
        model=str(model), board=board.name, vectors=count, bit_exact=mismatches == 0,
        mismatches=mismatches, max_abs_diff=int(diff.max(initial=0)),
        arena_bytes=plan.total_bytes if arena_bytes is None else arena_bytes,
        regions=plan.regions,
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


@contextmanager
def _serial_qemu_runner(exe: Path, model, graph: Graph, board: Board, timeout: float,
                        progress: Progress):
    """simulate --transport serial: QEMU with the UART on a TCP socket, then the `run` code;
    yields a function that runs one chunk of vectors over the link."""
    from .link.qemu import serial_qemu
    from .link.session import Session, run_vectors as run_serial

    expected = _expected(model, graph, board)
    with serial_qemu(exe, board, timeout=min(timeout, 30.0)) as port:
        with Session(port, timeout=timeout) as session:
            session.connect(expected, hello_timeout=min(timeout, 10.0))
            yield lambda vectors: run_serial(session, expected, vectors, progress)


def run_on_board(model: str | Path, board: str | Board, port: str,
                 inputs: str | Path | None = None, count: int = 3, seed: int = 0,
                 timeout: float = 30.0, progress: Progress = _quiet,
                 baudrate: int | None = None, keep_layout: bool = False) -> SimulationReport:
    """`mcucompile run`: the vectors over `port` (anything pyserial opens) to firmware already
    running on a board (flashed, or a QEMU someone started), compared like simulate."""
    from .link.session import Session, run_vectors as run_serial

    board = get_board(board) if isinstance(board, str) else board
    if "serial" not in board.transports:
        raise McucError(f"board {board.name} has no UART for the serial link", hint="boards "
                        f"with one: {', '.join(b.name for b in list_boards() if b.uart)}")
    progress(f"reading {Path(model).name}")
    graph, plan = plan_model(model, board, keep_layout=keep_layout)
    count, chunks = vector_chunks(graph, inputs, count, seed)
    expected = _expected(model, graph, board)
    progress(f"connecting to {port}")
    with ReferenceProcess(Path(model).read_bytes(), graph) as reference, \
            Session(port, timeout=timeout, baudrate=baudrate or board.uart.baud) as session:
        info = session.connect(expected)
        progress(f"firmware for {info.board} answers; running {count} vector(s)")
        run, ref = _run_chunks(graph, chunks,
                               lambda vectors: run_serial(session, expected, vectors, progress),
                               reference, progress)
    return _report(model, board, graph, plan, count, run, ref, {}, "",
                   arena_bytes=info.arena_bytes)
