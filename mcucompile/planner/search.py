"""The search: one owner for every trade-off between speed, SRAM and flash. It takes the
lowered graph (every op has its portable calls, passes/lower.py), the board and its budgets,
and returns the plan codegen renders: the kernel of every op and the memory plan.

Budgets: SRAM for the arena (`--sram`, default: every RAM region of the board, the main SRAM
less stack, heap and other static data; `--sram N`: N bytes of the main SRAM alone;
`--sram dtcm=128K,axi=512K`: those regions with those budgets) and flash for constants + code
(`--flash`, default: the board's flash and its further read-only regions; `--flash N`: N
bytes of the main flash alone).

Algorithm:
1. Kernels. Each call takes its fastest candidate (by the cost model, backend/cost.py): a
   DSP/Helium variant where the board has one (passes/kernels_*.py), on cores without
   either (Cortex-M0/M3, the host) a plain-C one generated per layer (kernels_fast.py: no
   scratch, so nothing to trade against the arena), else the portable kernel. A fast variant may use scratch only up to what its step leaves free under a
   limit: by default the layer-wise bound B (the largest inputs + outputs of any op) plus a
   slack of 1% or 256 bytes, so a fast kernel never raises the arena past B + slack (the
   builders take the fastest tiling that fits: fewer im2col pixels, shorter depthwise
   bands); with an explicit --sram, the larger of that and the budget (the user has said
   how much memory speed may take). A variant that needs more is not taken; but a conv /
   depthwise / FC layer whose input dies at its step may still take its fast kernel with
   the output written over that input, `shift` bytes below it (backend/shift.py), if the
   union of the two plus the scratch fits (depthwise kernels then run rows in memory
   order).
2. Flash. While the estimate (distinct constant arrays + generated code + runtime) exceeds
   the flash budget, the op whose change saves the most flash per extra estimated
   instruction takes it: a fast kernel with int16 weights (twice the model's bytes) moves to
   the same kernel reading int8 weights, or any fast kernel to the portable one. If even
   the smallest kernels do not fit, the model is refused, before anything is written, with
   the sizes.
3. Memory. planner.plan_memory chooses the schedule, in-place layers, the patch stage and
   streamed blocks (each module states its own algorithm) and packs the arena. Over the SRAM
   budget, plan_memory itself lets fast layers run portable in-place kernels. With a patch
   stage, the stage's tiles get fast kernels generated per tile size and the kernels after
   the stage are chosen again for the lower peak there (step 1 with B = that peak); the
   first patch schedule (fewest extra MACs first) that still fits both budgets that way
   wins, else the portable-tile plan stands. Scratch that the packing puts above the limit
   makes its op take a smaller tiling, else its portable kernel (_unfragment).
4. Regions. The arena's buffers are spread over the RAM regions by the packer itself
   (planner/arena.py, step 4: each buffer wholly in one region, the fastest region first).
   Constants that do not fit the main flash beside the code (estimated as in step 2) go to
   the further read-only regions: the smallest arrays (per-channel parameters, read most
   per byte) stay in the main flash, the largest leave it first, each to the fastest
   further region it fits (place_constants).
Why a plan came out: `plan --json` lists per op the kernel, its estimated instructions,
scratch and constant bytes; the message of a refusal names the budget and the excess.
Not guaranteed: the fewest instructions overall (steps 1-2 are greedy per op; step 3 tries
a bounded number of patch schedules).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

import numpy as np

from ..backend.cost import core_of, estimate
from ..errors import McucError
from ..ir import Graph
from ..passes.select_kernels import (fast_variant, io_bytes, row_builders, select_kernels,
                                     variant_builders)
from . import Layout, MemoryPlan, check_plan, plan_memory
from .arena import ALIGN, lifetimes, live_profile, scratch_name, state_bytes
from .patches import fast_tile_kernels
from .streaming import Streaming

OTHER_STATIC = 2048   # bytes of SRAM kept for static data besides the arena (harness, libc)
MAX_FAST_TILE_TRIES = 8          # patch schedules (fewest extra MACs first) tried fast
MAX_REPACKS = 4                  # rounds of _unfragment
MAX_FLASH_ROUNDS = 3             # step 2 rounds for a fast-tile plan (_fast_tile_plan)
MAX_SHIFT_TRIES = 6              # budgets a shifted in-place layer tries (_shifted)
# Code sizes for the flash estimate, generous. Measured on the M4 (arm-none-eabi-gcc 12 -O2,
# ELF text + data less the constants): portable builds 15.5 KB (hello_world) to 22.6 KB
# (person_detect); generated kernels about 900 bytes each (person_detect: 28 for 22.6 KB).
GENERATED_KERNEL_FLASH = 1024    # bytes per generated kernel
RUNTIME_FLASH = 24 * 1024        # portable kernels, harness, startup, libc


@dataclass(frozen=True)
class Budgets:
    sram: int | None          # bytes the arena may take (None: unlimited), all regions together
    flash: int | None         # bytes constants + code may take (None: unlimited)
    what: str = ""            # how the SRAM budget was derived, for messages
    layout: Layout | None = None    # the RAM regions and their budgets (None: no budget)
    rom: tuple = ()           # further read-only regions for constants (boards.Region)


def budgets(board, sram: int | dict | None = None, flash: int | None = None,
            main_only: bool = False) -> Budgets:
    """--sram / --flash if given, else the board's (see the module docstring). `sram`: bytes
    of the main SRAM, or {region name: bytes}. The main SRAM keeps a stack, a heap and 2 KB
    of other static data (the model's inputs and outputs live in the arena, model.h). None
    on the host. `main_only`: the main SRAM alone (a model with state: its region, kept from
    run to run, is placed after one arena's packed buffers, arena.place_state)."""
    regions = board.ram_regions if board is not None else ()
    reserve = ((board.stack_bytes or 0) + (board.heap_bytes or 0) + OTHER_STATIC) if regions else 0
    what, layout = "", None
    if isinstance(sram, dict):
        names = [r.name for r in regions]
        for name, size in sram.items():
            if name not in names:
                owner = board.name if board else "the host"
                raise McucError(f"--sram names region '{name}', which {owner} does not have",
                                hint=f"its RAM regions: {', '.join(names) or 'none'}")
            region = regions[names.index(name)]
            usable = region.size - (reserve if region.main else 0)
            if not 0 < size <= usable:
                raise McucError(f"--sram {name}={size:,}: region '{name}' has {usable:,} bytes "
                                "for the arena" + (" (less stack, heap and other static data)"
                                                   if region.main else ""))
        chosen = [(r, sram[r.name]) for r in regions if r.name in sram]
        what = f"{board.name} (--sram " + ", ".join(f"{r.name} {b:,}" for r, b in chosen) + ")"
        sram = sum(b for _, b in chosen)
    elif sram is None and regions:
        chosen = [(r, r.size - (reserve if r.main else 0))
                  for r in (regions[:1] if main_only else regions)]
        sram = sum(b for _, b in chosen)
        what = (f"{board.name} ({board.sram_size:,} bytes of SRAM less a "
                f"{board.stack_bytes or 0:,}-byte stack, {board.heap_bytes or 0:,}-byte heap "
                f"and {OTHER_STATIC:,} bytes of other static data"
                + "".join(f", plus {r.name} {r.size:,}" for r, _ in chosen[1:]) + ")")
    else:
        chosen = []
    if main_only and chosen and [r for r, _ in chosen] != [regions[0]]:
        raise McucError(f"a model with state (variable tensors) is planned in the main SRAM "
                        f"('{regions[0].name}') alone: give --sram BYTES")
    if chosen:      # (the main SRAM alone: one arena, planned as before regions)
        fastest = sorted(chosen, key=lambda rb: rb[0].speed)     # stable: board order on ties
        layout = Layout(tuple((r.name, b, r.dma) for r, b in fastest), regions[0].name,
                        fastest[0][0].name)
    rom = board.rom_extra if board is not None and flash is None else ()
    if flash is None and board is not None and board.flash_size is not None:
        flash = board.flash_size + sum(r.size for r in rom)
    return Budgets(sram, flash, what, layout, rom)


def search(graph: Graph, board, kernels: str = "auto", patch: str | None = None,
           sram: int | None = None, flash: int | None = None,
           max_overhead: float = 20.0) -> MemoryPlan:
    """Choose every op's kernel and plan the arena (see the module docstring): the plan's
    schedule holds the chosen ops, copies of the graph's (whose ops keep the lowering's
    calls); raises McucError when nothing fits. `patch` None: "auto" under an SRAM budget
    (patches only if the model does not fit without), "off" without one."""
    graph = _choosing_copy(graph)
    limits = budgets(board, sram, flash, main_only=state_bytes(graph) > 0)
    if patch is None:
        patch = "auto" if limits.sram is not None else "off"
    tables = variant_builders(board, kernels)
    core = core_of(board)
    bound = layer_bound(graph)
    limit = bound + scratch_slack(bound)
    if sram is not None:            # the user's own budget: scratch may fill it
        limit = max(limit, limits.sram)
    choose_kernels(graph, board, kernels, limit)
    if limits.flash is not None:
        _fit_flash(graph, limits.flash, core, tables)
    # step 3; streamed blocks on fast row kernels carry weights of their own (int16 on
    # DSP), which step 2 did not see: over the flash budget, again on int8-weight rows
    row_tables = row_builders(board, kernels)
    for rows in _row_weights(graph, limits.flash) if row_tables else (None,):
        streaming = Streaming(row_kernels=_row_kernels(row_tables, rows) if row_tables
                              else None)
        selected = {id(op): op.kernel.copy() for op in graph.ops}
        plan = _memory(graph, board, kernels, patch, limits, limit, max_overhead, tables,
                       streaming)
        need = flash_estimate(plan.schedule)
        if limits.flash is None or need <= limits.flash:
            break
        for op in graph.ops:
            op.kernel = selected[id(op)]
    else:
        raise McucError(f"model does not fit the flash budget: with the memory plan the SRAM "
                        f"budget needs, its constants and code need about {need:,} bytes, the "
                        f"budget is {limits.flash:,} (over by {need - limits.flash:,})",
                        graph.source or graph.name,
                        hint="more SRAM (fewer patches and streamed blocks), or a board with "
                             "more flash")
    check_plan(plan)
    if limits.rom:
        plan.const_regions = place_constants(plan.schedule, limits.flash - sum(
            r.size for r in limits.rom), limits.rom, graph.source or graph.name)
    plan.estimated_instructions = {id(op): sum(estimate(c, core) for c in op.kernel.calls)
                                   for op in plan.schedule}
    return plan


def _row_weights(graph: Graph, flash: int | None) -> tuple:
    """Weight encodings to try for streamed blocks' fast row kernels: the default (int16 on
    DSP), then int8; int8 alone when int16 copies of every 1x1 layer's weights (the most the
    rows can add) would break the flash budget anyway."""
    if flash is None:
        return (None,)
    pointwise = sum(2 * a.const.nbytes for op in graph.ops if op.type == "CONV_2D"
                    for c in op.kernel.lowered()[:1] if c.params.get("k_h") == 1
                    and c.params.get("k_w") == 1 for a in c.args[1:2] if a.const is not None)
    return ("int8",) if flash_estimate(graph.ops) + pointwise > flash else (None, "int8")


def _memory(graph: Graph, board, kernels: str, patch: str, limits: Budgets, limit: int,
            max_overhead: float, tables, streaming: Streaming) -> MemoryPlan:
    """Step 3 (see the module docstring) with these streaming options."""
    plan = plan_memory(graph, patch, limits.sram, max_overhead, limits.what,
                       streaming=streaming, layout=limits.layout)
    if tables and plan.patch is None:
        plan = _unfragment(graph, plan, limit, tables, lambda: plan_memory(
            graph, patch, limits.sram, max_overhead, limits.what, streaming=streaming,
            layout=limits.layout))
    if plan.patch and tables:
        specs = [f"{plan.patch['grid']}@{plan.patch['split_op_index']}"]
        specs += plan.alternatives[:MAX_FAST_TILE_TRIES - 1]
        selected = {id(op): op.kernel.copy() for op in graph.ops}
        for spec in specs:
            fast = _fast_tile_plan(graph, board, kernels, spec, limits, max_overhead, tables,
                                   streaming)
            if fast is not None:
                return fast
        for op in graph.ops:          # back to the kernels chosen before
            op.kernel = selected[id(op)]
    return plan


def _choosing_copy(graph: Graph) -> Graph:
    """The graph with copies of its ops (same tensors): the search sets calls on these."""
    ops = [replace(op, kernel=op.kernel.copy()) for op in graph.ops]
    return replace(graph, ops=ops)


def layer_bound(graph: Graph) -> int:
    """The largest, over ops, of the op's non-constant inputs + outputs: no schedule that
    runs layers one at a time needs less, so kernel scratch may fill up to it."""
    return max((io_bytes(op) for op in graph.ops if op.kernel.calls), default=0)


def scratch_slack(bound: int) -> int:
    return max(bound // 100, 256)


def choose_kernels(graph: Graph, board, kernels: str, limit: int) -> None:
    """Step 1: the fastest variant per call whose scratch fits under `limit` beside what is
    live at its step (select_kernels asks the builders for that size; one that needs more
    is refused here). A layer whose input dies at it may instead take a fast kernel with
    its output shifted over that input (backend/shift.py), when that fits and the cost model
    says it is faster (it leaves room for a wider tiling, or for any fast kernel at all)."""
    live = _live_without_scratch(graph)
    free = {id(op): max(0, limit - bytes_) for op, bytes_, _ in live}
    select_kernels(graph, board, kernels, free=free)
    tables = variant_builders(board, kernels)
    core = core_of(board)
    for op, bytes_, dying in live:
        portable = op.kernel.portable
        if portable and max((c.scratch_bytes for c in op.kernel.calls),
                            default=0) > free[id(op)]:
            op.kernel.calls = op.kernel.take_portable()
        if tables and dying is not None:
            _shifted(op, bytes_, dying, limit, tables, core)


def _shifted(op, live: int, x, limit: int, tables, core: str) -> None:
    """The fastest kernel for `op` whose scratch fits under `limit` with its output over its
    dying input `x`, `shift` bytes below it (the step then holds the union of the two):
    a builder takes a budget, and the budget shrinks by the excess until the union and the
    scratch fit (smaller tilings need less of both), or no fast kernel is left. Taken if
    the cost model estimates it faster than the op's kernel now."""
    calls = op.kernel.lowered()
    if len(calls) != 1 or len(op.outputs) != 1:
        return
    size_x, size_y = _aligned(x.nbytes), _aligned(op.outputs[0].nbytes)
    rest = live - x.nbytes - op.outputs[0].nbytes
    budget = limit - rest - max(size_x, size_y)
    for _ in range(MAX_SHIFT_TRIES):
        if budget <= 0:
            return
        call = fast_variant(tables, op, calls[0], scratch_budget=budget, raster=True)
        if call is None or call.shift is None:
            return
        need = rest + max(size_x + _aligned(call.shift), size_y) + _aligned(call.scratch_bytes)
        if need <= limit:
            if estimate(call, core) < sum(estimate(c, core) for c in op.kernel.calls):
                call.shifted = True
                op.kernel.portable, op.kernel.calls = calls, [call]
            return
        budget -= need - limit


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _live_without_scratch(graph: Graph) -> list[tuple]:
    """(op, bytes live at its step, its input whose buffer dies there or None) for the ops
    that generate code, in model order, without kernel scratch or in-place sharing (an
    upper bound of what a plan keeps live there)."""
    ops = [op for op in graph.ops if not op.is_alias]
    buffers = [b for b in lifetimes(graph, ops, {}) if b.tensor is not None]
    live = live_profile(buffers, len(ops))
    ends = {id(b.tensor): b for b in buffers}
    out = []
    for step, op in enumerate(ops):
        x = next((t for t in op.inputs if t is not None and t.planned), None)
        b = ends.get(id(x.storage())) if x is not None else None
        dies = b is not None and b.end == step and "out" not in b.io
        out.append((op, live[step], x if dies else None))
    return out


def _unfragment(graph: Graph, plan: MemoryPlan, target: int, tables, replan) -> MemoryPlan:
    """Step 1's per-step check cannot see packing: a scratch buffer may fit the live bytes
    of its step and still land above the limit between the buffers around it (or beside a
    chain of shifted in-place layers, whose offsets add up). Such an op first takes a
    smaller tiling of its fast kernel (its scratch less the excess), else its portable
    kernel, and the arena is packed again (a few rounds at most)."""
    for _ in range(MAX_REPACKS):
        if plan.arena_bytes <= target:
            break
        high = {b.name: b.offset + b.size - target for b in plan.buffers
                if b.tensor is None and b.offset + b.size > target}
        ops = [op for op in graph.ops
               if op.kernel.portable and scratch_name(op) in high]
        if not ops:
            break
        for op in ops:
            smaller = _smaller(op, high[scratch_name(op)], tables)
            op.kernel.calls = [smaller] if smaller else op.kernel.take_portable()
        plan = replan()
    return plan


def _smaller(op, excess: int, tables):
    """The op's fast kernel in a tiling with `excess` fewer bytes of scratch, or None."""
    calls, portable = op.kernel.calls, op.kernel.portable
    if len(calls) != 1 or len(portable) != 1 or calls[0].variant is None:
        return None
    variant = calls[0].variant
    budget = calls[0].scratch_bytes - excess
    call = fast_variant(tables, op, portable[0], weights=variant.weights,
                        scratch_budget=budget, raster=variant.raster) if budget > 0 else None
    if call is not None:
        call.shifted = calls[0].shifted
    return call


def _fit_flash(graph: Graph, flash: int, core: str, tables: list) -> None:
    """Step 2 (see the module docstring). Each fast op has up to two cheaper encodings: its
    fast kernel with int8 weights (TFLite's bytes, unpacked in registers) and its portable
    kernel. The change with the fewest extra instructions per byte saved goes first; an op
    already moved to int8 may still go portable later. Options are built once per op."""
    need = flash_estimate(graph.ops)
    if need <= flash:
        return
    options: dict[int, list] = {}
    for op in graph.ops:
        portable = op.kernel.portable
        if not portable:
            continue
        options[id(op)] = [portable]
        if any(c.variant is not None and c.variant.weights == "int16"
               for c in op.kernel.calls):
            budget = op.kernel.scratch_budget
            options[id(op)].append([fast_variant(tables, op, c, weights="int8",
                                                 scratch_budget=budget) or c
                                    for c in portable])
    cost = {}
    while need > flash:
        best = None
        for op in graph.ops:
            for calls in options.get(id(op), ()):
                saved = _own_flash(op.kernel.calls) - _own_flash(calls)
                if saved <= 0:
                    continue
                if id(calls) not in cost:
                    cost[id(calls)] = sum(estimate(c, core) for c in calls)
                if id(op.kernel.calls) not in cost:
                    cost[id(op.kernel.calls)] = sum(estimate(c, core)
                                                       for c in op.kernel.calls)
                slower = cost[id(calls)] - cost[id(op.kernel.calls)]
                key = (max(slower, 0) / saved, op.index)
                if best is None or key < best[0]:
                    best = (key, op, calls, saved)
        if best is None:
            raise McucError(f"model does not fit the flash budget: its constants and code "
                            f"need about {need:,} bytes with the smallest kernels, the budget "
                            f"is {flash:,} (over by {need - flash:,})",
                            graph.source or graph.name,
                            hint="a board with more flash, or a smaller model")
        _, op, calls, saved = best
        op.kernel.calls = calls
        if calls is op.kernel.portable:
            op.kernel.portable = None
            options.pop(id(op))
        need -= saved
        if need <= flash:               # the estimate shares identical arrays: recount
            need = flash_estimate(graph.ops)


def _own_flash(calls) -> int:
    return sum(a.const.nbytes for c in calls for a in c.args if a.const is not None) \
        + GENERATED_KERNEL_FLASH * sum(c.generated is not None for c in calls)


def const_digest(data: np.ndarray) -> str:
    """Identifies a constant array by content (codegen stores identical arrays once)."""
    data = np.ascontiguousarray(data)
    return hashlib.sha1(data.dtype.str.encode() + data.tobytes()).hexdigest()


def _constants(ops) -> dict[str, int]:
    """const_digest -> bytes of every distinct constant array the ops' calls read."""
    return {const_digest(arg.const): arg.const.nbytes for op in ops for call in op.kernel.calls
            for arg in call.args if arg.const is not None}


def flash_estimate(ops) -> int:
    """Flash a firmware needs, estimated before generating it: its distinct constant arrays
    (codegen shares identical ones) plus a generous size per generated kernel and the
    runtime."""
    kernels = set()
    for op in ops:
        for call in op.kernel.calls:
            if call.generated is not None:
                kernels.add(call.fn)
                kernels.update(u.fn for u in call.uses)
    return sum(_constants(ops).values()) + GENERATED_KERNEL_FLASH * len(kernels) + RUNTIME_FLASH


def place_constants(ops, flash: int, rom: tuple, where: str) -> dict[str, str]:
    """Step 4 for constants: const_digest -> name of the further read-only region (rom,
    boards.Region) each array goes to that does not stay in the main flash (`flash` bytes,
    code estimated as in flash_estimate). Raises McucError, per region, when they do not fit."""
    consts = _constants(ops)
    free = flash - (flash_estimate(ops) - sum(consts.values()))
    room = {r.name: r.size for r in rom}
    fastest = sorted(rom, key=lambda r: r.speed)
    out: dict[str, str] = {}
    for digest, n in sorted(consts.items(), key=lambda kv: (kv[1], kv[0])):
        if n <= free and not out:       # smallest first; once one leaves, larger ones do too
            free -= n
            continue
        region = next((r for r in fastest if room[r.name] >= n), None)
        if region is None:
            left = ", ".join(f"{r.name} {room[r.name]:,} of {r.size:,}" for r in fastest)
            raise McucError(f"model does not fit the read-only memory: a {n:,}-byte constant "
                            f"array fits no region (free: main flash {max(free, 0):,} beside "
                            f"the code, {left} bytes)", where,
                            hint="a board with more flash, or --flash for fewer fast kernels")
        room[region.name] -= n
        out[digest] = region.name
    return out


def _row_kernels(tables, weights: str | None = None):
    """Fast kernels for the 1x1 layers of streamed blocks, one row at a time (built once per
    layer and row geometry: the patch search streams the same blocks many times), with
    `weights` (None: the builders' default, int16 on DSP)."""
    built: dict = {}

    def row_kernel(op, call):
        key = (op.index, call.fn, repr(sorted(call.params.items())))
        if key not in built:
            built[key] = fast_variant(tables, op, call, weights=weights)
        return built[key]
    return row_kernel


def _fast_tile_plan(graph: Graph, board, kernels: str, spec: str, limits: Budgets,
                    max_overhead, tables, streaming: Streaming) -> MemoryPlan | None:
    """The patch schedule `spec` with fast kernels on its tiles and the kernels after the
    stage chosen for the peak there; None if it does not fit the budgets."""
    budget, what, layout = limits.sram, limits.what, limits.layout
    flash = limits.flash or math.inf
    fast_tiles = lambda op, call: fast_variant(tables, op, call)    # noqa: E731
    try:
        portable = plan_memory(graph, spec, budget, max_overhead, what, streaming=streaming,
                               layout=layout)
        if flash_estimate(portable.schedule) + GENERATED_KERNEL_FLASH * fast_tile_kernels(
                portable.schedule) > flash:
            return None                 # a kernel per layer and tile size would not fit
        outside_stage = {id(op) for op in portable.schedule}   # the stage runs tile copies
        peak = max((io_bytes(op) for op in graph.ops if id(op) in outside_stage
                    and op.kernel.calls), default=0)
        # after the stage, scratch may fill what the stage itself keeps live (or the peak
        # there), never more
        live = live_profile(portable.buffers, len(portable.schedule), portable.pins)
        end = max((s for s, op in enumerate(portable.schedule) if op.type == "PATCH_COPY"),
                  default=0)
        choose_kernels(graph, board, kernels,
                       max(peak + scratch_slack(peak), max(live[:end + 1], default=0)))
        # step 2 again, for this choice, leaving room for the tiles' and rows' own kernels
        target = flash
        for _ in range(MAX_FLASH_ROUNDS):
            if limits.flash is not None:
                _fit_flash(graph, target, core_of(board), tables)
            # no budget here: with one, plan_memory would fall back to portable in-place tiles
            plan = plan_memory(graph, spec, None, max_overhead, what, tile_kernels=fast_tiles,
                               streaming=streaming, layout=layout)
            over = flash_estimate(plan.schedule) - flash
            if over <= 0:
                break
            target -= over
        else:
            return None                 # streaming will not help
        # over the budget: stream inverted residual blocks after the stage (where the portable
        # plan streams any): all of them first (if that does not fit, nothing will), then
        # only the widest, which keeps more layers on fast kernels
        streams = any(op.kernel.streamed is not None for op in portable.schedule)
        if budget is not None and streams and plan.arena_bytes > budget:
            for above in (0, budget // 2, budget):
                tried = plan_memory(graph, spec, None, max_overhead, what,
                                    tile_kernels=fast_tiles,
                                    streaming=Streaming(above, streaming.row_kernels,
                                                        streaming.built), layout=layout)
                if tried.arena_bytes > budget:
                    break
                plan = tried
    except McucError:
        return None
    if budget is not None and plan.arena_bytes > budget:
        return None
    return plan if flash_estimate(plan.schedule) <= flash else None
