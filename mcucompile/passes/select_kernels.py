"""Kernel selection: each op's portable KernelCalls -> the fastest bit-exact variant the
board's CPU can run.

    board.features.mve  (Cortex-M55)          -> Helium kernels (kernels_mve), else as dsp
    board.features.dsp  (Cortex-M4/M7/M33)    -> Armv7E-M DSP kernels (kernels_dsp)
    neither (Cortex-M0/M3, host)              -> plain-C99 generated kernels (kernels_fast)
    kernels="portable"                        -> the portable calls, unchanged

A variant builder sees the portable call (all quantisation numbers already resolved by the
lowering pass), may repack weights at compile time and returns a new call, usually to a kernel
generated for that layer, with the scratch it needs (the planner allocates it); or None, and
the portable call stays (the portable calls of a changed op stay in op.kernel.portable,
for later stages that derive calls of their own, e.g. patch-based tiles). Selection never
changes results: every variant is bit-exact with the
portable kernel (tests/test_fast_kernels.py checks each against TFLM on every QEMU board).
"""
from __future__ import annotations

import functools
import inspect

from ..ir import Graph
from . import kernels_dsp, kernels_fast, kernels_mve

KERNEL_SETS = ("auto", "portable")


def variant_builders(board, kernels: str = "auto") -> list[dict]:
    """Builder tables to try in order for this board (empty: portable only)."""
    if kernels not in KERNEL_SETS:
        raise ValueError(f"kernels must be one of {KERNEL_SETS}, not {kernels!r}")
    if board is None or kernels == "portable":
        return []
    tables = []
    if board.features.mve:
        tables.append(kernels_mve.BUILDERS)
    if board.features.dsp:
        tables.append(kernels_dsp.BUILDERS)
    if not tables:
        tables.append(kernels_fast.builders(board.cpu))
    return tables


def row_builders(board, kernels: str = "auto") -> list[dict]:
    """The DSP/Helium builder tables only: a streamed block's 1x1 layers run on kernels of
    these, generated for one row (planner/streaming.py; the plain-C kernels of cores without
    DSP are not offered: there the block runs the portable streamed kernel)."""
    return [t for t in variant_builders(board, kernels)
            if t is kernels_dsp.BUILDERS or t is kernels_mve.BUILDERS]


def fast_variant(tables: list[dict], op, call, **choices):
    """The first variant a builder table makes of `call`, or None (the portable call stays).
    `choices`: `weights` ("int16" / "int8"), `scratch_budget` (bytes) and `raster` (outputs
    in memory order, for shifted in-place layers), as the builders take them
    (kernels_dsp.py)."""
    for table in tables:
        builder = table.get(call.fn)
        if builder is None:
            continue
        taken = _choices(builder)
        new = builder(op, call, **{k: v for k, v in choices.items() if k in taken})
        if new is not None:
            return new
    return None


@functools.lru_cache(maxsize=None)
def _choices(builder) -> frozenset:
    """The keyword choices a builder takes (only some take `raster`: the others always write
    in memory order)."""
    return frozenset(inspect.signature(builder).parameters)


def io_bytes(op) -> int:
    return sum(t.nbytes for t in list(op.inputs) + list(op.outputs)
               if t is not None and t.planned)


def select_kernels(graph: Graph, board, kernels: str = "auto", peak: int | None = None,
                   free: dict | None = None, weights: str | None = None) -> Graph:
    """Select in place. `peak`: the arena size scratch may grow to (default: the largest
    inputs+outputs of any op); `free`: id(op) -> scratch bytes it may use, instead (the
    search's: a builder then takes the fastest tiling within it, or none); `weights`: the
    weight encoding asked of the builders. Runs again on an already selected graph start
    from the portable calls, e.g. with the lower peak of a patch-based plan."""
    tables = variant_builders(board, kernels)
    for op in graph.ops:
        if op.kernel.portable is not None:
            op.kernel.calls = op.kernel.take_portable()
    if not tables:
        return graph
    # Scratch an op may use without raising the arena: the largest inputs+outputs of any op
    # bound the arena from below, so up to that minus the op's own tensors is free (builders
    # that can trade scratch for speed read op.kernel.scratch_budget).
    if peak is None:
        peak = max((io_bytes(op) for op in graph.ops if op.kernel.calls), default=0)
    for op in graph.ops:
        calls = op.kernel.calls
        if not calls:
            continue
        op.kernel.scratch_budget = free[id(op)] if free is not None \
            else max(0, peak - io_bytes(op))
        choices = dict(weights=weights)
        if free is not None:
            choices["scratch_budget"] = free[id(op)]
        chosen = [fast_variant(tables, op, call, **choices) or call for call in calls]
        if any(a is not b for a, b in zip(chosen, calls)):
            op.kernel.portable = calls   # kept for passes that re-derive calls (patches)
        op.kernel.calls = chosen
    return graph
