"""Memory planning: execution order, in-place ops, optional patch-based first stage, and
offsets in one static arena. `plan_memory` ties the pieces together:

1. choose the execution order with the smallest peak (schedule.py);
2. optionally replace the first stage by a patch-based schedule (patches.py), and run the
   inverted residual blocks after it streamed by rows (streaming.py);
3. let layers write over inputs that die there (arena.py, inplace.py) and pack every buffer
   of the chosen schedule into the arena (arena.py); with several RAM regions (a Layout),
   each buffer wholly into one region, the fastest first (arena.py, step 4), the SRAM
   budget being the regions' budgets together;
4. put the state (variable tensors) in a region of its own after the packed buffers
   (arena.place_state); the SRAM budget left for the packing is smaller by that region.
If the result exceeds the SRAM budget, 1-3 run again with layers on fast DSP/Helium kernels
allowed to run the portable in-place ones (smaller, slower).
"""
from __future__ import annotations

from ..errors import McucError
from ..ir import Graph
from .arena import (Layout, MemoryPlan, check_plan, live_profile, lower_bound,  # noqa: F401
                    place_state, plan_schedule, single, state_bytes)
from .inplace import original
from .patches import (build_patch_schedule, grids, parse_patch_spec, stage_ends,
                      total_macs)
from .schedule import candidate_orders
from .streaming import Streaming

DEFAULT_MAX_OVERHEAD = 20.0   # percent extra MACs allowed for patches without a budget
NEAR = 1.15   # under a budget: splits whose quick-search bound came this close get finer grids


def _best_order(graph: Graph, fast: bool = False, layout: Layout | None = None) -> MemoryPlan:
    ops = [op for op in graph.ops if not op.is_alias]
    best = None
    for name, order in candidate_orders(graph, ops).items():
        plan = plan_schedule(graph, order, fast_in_place=fast, layout=layout)
        plan.order = name
        if best is None or plan.arena_bytes < best.arena_bytes:
            best = plan
    return best


def plan_memory(graph: Graph, patch: str = "off", sram_budget: int | None = None,
                max_overhead: float = DEFAULT_MAX_OVERHEAD, budget_what: str = "",
                tile_kernels=None, streaming: Streaming | None = None,
                layout: Layout | None = None) -> MemoryPlan:
    """Plan the arena. `patch`: "off", "auto" or "NxN@LAYER" (LAYER = op index of the split
    op). `sram_budget`: bytes the arena may use; with "auto", the patch schedule with the
    fewest extra MACs that fits is chosen. `tile_kernels`: with a fixed NxN@LAYER, lets
    patch tiles run fast kernels (patches.build_patch_schedule; the automatic search packs
    portable tiles); `streaming`: how inverted residual blocks after the stage are streamed
    (streaming.Streaming: which blocks on fast kernels, and fast kernels for their 1x1
    layers); `layout`: several RAM regions (their budgets add up to `sram_budget`). Raises
    McucError when nothing fits, with the bytes per region."""
    where = graph.source or graph.name
    state = state_bytes(graph)
    if sram_budget is not None and state:
        sram_budget -= state
        budget_what = (budget_what or f"{sram_budget + state:,} bytes") \
            + f", less {state:,} bytes of state"
    try:
        fixed = parse_patch_spec(patch) if patch != "off" else None
    except ValueError as e:
        raise McucError(str(e)) from None
    choices: dict = {}      # patch schedules built in the first round, for the others
    streaming = streaming or Streaming()
    base, base_macs, chosen = _plan(graph, patch, fixed, sram_budget, max_overhead, False,
                                    tile_kernels, streaming, choices, settle=False,
                                    layout=layout)
    if sram_budget is not None and chosen.arena_bytes > sram_budget:
        # Does not fit with the fast kernels: let layers that run a DSP/Helium kernel run the
        # portable in-place ones and stream their blocks (slower, smaller; see inplace.py,
        # streaming.py).
        alt = _plan(graph, patch, fixed, sram_budget, max_overhead, True,
                    streaming=streaming, choices=choices, layout=layout)
        if alt[2].arena_bytes > sram_budget and patch == "auto":
            # neither fits: the first round's smallest arena too, for the message (its
            # patch schedules and bounds are cached in `choices`)
            base, base_macs, chosen = _plan(graph, patch, fixed, sram_budget, max_overhead,
                                            False, tile_kernels, streaming, choices,
                                            layout=layout)
        if alt[2].arena_bytes < chosen.arena_bytes:
            base, base_macs, chosen = alt

    if sram_budget is not None and chosen.arena_bytes > sram_budget:
        live = live_profile(chosen.buffers, len(chosen.schedule), chosen.pins)
        peak = max(range(len(live)), key=live.__getitem__)
        op = chosen.schedule[min(peak, len(chosen.schedule) - 1)]
        best_patched = None if patch == "off" else chosen.arena_bytes
        if single(layout):
            over = f" but the SRAM budget is {sram_budget:,} bytes (over by " \
                f"{chosen.arena_bytes - sram_budget:,})"
        else:       # the packing's end past the budgets = the overflow of the last region
            over = f" but the SRAM budgets are {sram_budget:,} bytes in all{_per_region(chosen)}"
        raise McucError(
            (f"model does not fit {budget_what}: " if budget_what else "")
            + f"activations need {base.total_bytes:,} bytes without patches"
            + (f" and {chosen.total_bytes:,} with the best patch schedule" if best_patched else "")
            + f"{over}; the peak is at {op.where}", where,
            hint=None if patch != "off" else "try --patch auto")
    chosen.extra_macs_pct = round(100.0 * chosen.extra_macs / base_macs, 2) if base_macs else 0.0
    unpatched = base.total_bytes            # (base may be `chosen`, which the state grows)
    place_state(graph, chosen)
    chosen.base_arena_bytes = unpatched + (chosen.arena_bytes - chosen.state_offset
                                           if chosen.state else 0)
    return chosen


def _per_region(plan: MemoryPlan) -> str:
    """', per region: dtcm 131,072 of 131,072 bytes, axi 530,000 of 524,288 (over by 5,712)'
    for a plan over several regions: what fits where and which region overflows."""
    if single(plan.layout):
        return ""
    parts = [f"{r['name']} {r['bytes']:,} of {r['budget']:,} bytes"
             + (f" (over by {r['bytes'] - r['budget']:,})" if r["bytes"] > r["budget"] else "")
             for r in plan.regions]
    return " (per region: " + ", ".join(parts) + ")"


def _plan(graph: Graph, patch: str, fixed, sram_budget, max_overhead, fast: bool,
          tile_kernels=None, streaming=None, choices=None, settle: bool = True,
          layout=None):
    """(unpatched plan, its MACs, chosen plan) for one setting of `fast` in-place. Not
    `settle`: when no patch schedule fits the budget, the unpatched plan, unpacked ones
    left (see _auto)."""
    where = graph.source or graph.name
    base = _best_order(graph, fast, layout)
    base.extra_macs = 0
    base_macs = total_macs(base.schedule)
    if patch == "off":
        chosen = base
    elif fixed is not None:
        n, layer = fixed
        ends = {base.schedule[k].index: k for k in stage_ends(graph, base.schedule)}
        if layer not in ends:
            raise McucError(f"op {layer} cannot end a patch stage (patchable split ops: "
                            f"{sorted(ends) or 'none'})", where)
        _, h, w, _ = base.schedule[ends[layer]].outputs[0].shape
        if n > min(h, w):   # empty patches; a grid this large would only spin
            raise McucError(f"a {n}x{n} patch grid does not fit the {h}x{w} output of op "
                            f"{layer}: at most {min(h, w)}x{min(h, w)}", where)
        choice = build_patch_schedule(graph, base.schedule, ends[layer], n,
                                      None if fast else tile_kernels)
        chosen = _with_patch(graph, choice, fast, streaming, layout)
    else:
        chosen = _auto(graph, base, base_macs, sram_budget, max_overhead, fast,
                       {} if choices is None else choices, streaming, settle, layout)
    return base, base_macs, chosen


def _streamed(graph: Graph, base: MemoryPlan, fast: bool, streaming, layout) -> MemoryPlan:
    """No patch stage, inverted residual blocks streamed by rows (streaming.py)."""
    plan = plan_schedule(graph, base.schedule, fast_in_place=fast, stream=streaming,
                         layout=layout)
    plan.extra_macs = 0
    plan.order = base.order
    return plan


def _with_patch(graph: Graph, choice, fast: bool, streaming, layout=None) -> MemoryPlan:
    plan = plan_schedule(graph, choice.schedule, fast_in_place=fast, pin=choice.pin,
                         stream=streaming, layout=layout)
    plan.patch = choice.describe()
    plan.extra_macs = choice.extra_macs
    plan.order = "patched"
    return plan


def _candidates(graph: Graph, base: MemoryPlan, base_macs: int, budget, max_overhead,
                fast: bool, choices: dict, streaming, thorough: bool,
                splits: set | None = None) -> list:
    """(patch choice, lower bound) per (split op, n) worth packing; see _auto. `splits`:
    only these split steps."""
    candidates = []
    # patch schedules are built from the ops themselves, not their in-place copies (which
    # plan_schedule chooses again): the fast round reuses the portable round's
    schedule = [original(op) for op in base.schedule]
    order = tuple(map(id, schedule))
    for k in stage_ends(graph, base.schedule):
        if splits is not None and k not in splits:
            continue
        h = base.schedule[k].outputs[0].shape[1]
        fitting, previous, flat = 0, None, 0
        for n in grids(h, not thorough):
            key = (order, k, n)
            if key not in choices:
                choices[key] = build_patch_schedule(graph, schedule, k, n)
            choice = choices[key]
            pct = 100.0 * choice.extra_macs / base_macs if base_macs else 0.0
            if budget is None and pct > max_overhead:
                break                   # finer grids of this split only cost more
            bound_key = ("bound", key, fast)  # the thorough pass repeats the quick one's
            if bound_key not in choices:
                choices[bound_key] = plan_schedule(
                    graph, choice.schedule, fast_in_place=fast, pin=choice.pin,
                    bound_only=True, stream=streaming, budgeted=budget is not None)
            bound = choices[bound_key]
            if previous is not None and bound >= previous:
                flat += 1               # uneven tiles make the bound jump: allow one
                if flat == 2 or not thorough:
                    break
                continue
            candidates.append((choice, bound))
            fitting += budget is not None and bound <= budget
            if fitting == 2:
                break
            previous, flat = bound, 0
    return candidates


def _auto(graph: Graph, base: MemoryPlan, base_macs: int, budget, max_overhead,
          fast: bool, choices: dict, streaming, settle: bool = True,
          layout=None) -> MemoryPlan:
    """Every (split op, n) candidate gets a cheap lower bound (lifetimes, no packing); only
    candidates whose bound can still win are packed.
    With a budget: candidates whose bound fits are packed fewest extra MACs first, and the
    first that fits wins. Finer grids of a split cost more MACs, so a split stops growing n
    one grid after its bound first fits (the spare grid covers packing above the bound), or
    as soon as a finer grid does not lower the bound (the ops after the stage set it then),
    and grids stop at 8x8. Without a budget, or when nothing fits that quick search, the
    search goes on past one such grid (uneven tiles make the bound jump) up to 12x12.
    Without one (or when nothing fits, for the error): best bound first, smallest arena wins;
    with a budget and not `settle`, nothing fitting returns the unpatched plan instead (the
    caller tries faster-to-fit settings first and settles only if those fail too)."""
    if budget is not None and base.arena_bytes <= budget:
        return base                     # fits without patches: no extra MACs at all
    unpatched = base                    # the schedule to beat without a patch stage
    streamed = _streamed(graph, base, fast, streaming, layout)
    if streamed.arena_bytes < base.arena_bytes:
        if budget is not None and streamed.arena_bytes <= budget:
            return streamed             # no extra MACs either
        unpatched = streamed
    candidates = _candidates(graph, base, base_macs, budget, max_overhead, fast, choices,
                             streaming, thorough=budget is None)
    best_bound = min((bound for _, bound in candidates), default=None)
    if budget is not None and best_bound is not None and budget < best_bound \
            and (fast or best_bound <= NEAR * budget):
        # nothing fits the quick search: go on as without a budget (finer grids, past jumps)
        # for the splits that came close; with fast kernels kept, only when one did (the
        # portable round comes next)
        near = {c.split_index for c, bound in candidates if bound <= NEAR * budget}
        candidates = _candidates(graph, base, base_macs, budget, max_overhead, fast, choices,
                                 streaming, thorough=True, splits=near)
    if budget is not None:              # fewest extra MACs that fits
        fitting = [c for c, bound in sorted(candidates, key=lambda c: c[0].extra_macs)
                   if bound <= budget]
        for i, choice in enumerate(fitting):
            plan = _with_patch(graph, choice, fast, streaming, layout)
            if plan.arena_bytes <= budget:
                # the next ones, for a caller that also weighs kernel speed (api.py)
                plan.alternatives = [f"{c.grid}x{c.grid}@{c.split_op.index}" for c in fitting[i + 1:]]
                return plan
    best = unpatched
    if budget is not None and not settle:
        return best
    for choice, bound in sorted(candidates, key=lambda c: (c[1], c[0].extra_macs)):
        if bound >= best.arena_bytes:
            break                       # sorted by bound: nothing later can be smaller
        plan = _with_patch(graph, choice, fast, streaming, layout)
        if plan.arena_bytes < best.arena_bytes:
            best = plan
    return best


def schedule_points(graph: Graph, max_overhead: float,
                    streaming: Streaming | None = None) -> list[tuple[str, int, int]]:
    """(patch option, arena bytes, extra MACs) for every schedule shape the memory planner
    can make, packed with portable kernels: layer by layer ("off"), inverted residual
    blocks streamed by rows ("streamed"), and each patch stage ("NxN@OP": split op x grid,
    finer grids of a split while its extra MACs stay within `max_overhead` percent and its
    bound falls, as the search without a budget tries them). For the frontier."""
    streaming = streaming or Streaming()
    base = _best_order(graph)
    base_macs = total_macs(base.schedule)
    points = [("off", base.arena_bytes, 0)]
    streamed = _streamed(graph, base, False, streaming, None)
    if streamed.arena_bytes < base.arena_bytes:
        points.append(("streamed", streamed.arena_bytes, 0))
    candidates = _candidates(graph, base, base_macs, None, max_overhead, False, {}, streaming,
                             thorough=True)
    # packed best bound first; a candidate whose bound cannot beat a point with fewer extra
    # MACs is off the frontier whatever it packs to
    for choice, bound in sorted(candidates, key=lambda c: (c[0].extra_macs, c[1])):
        fewer = [a for _, a, m in points if m <= choice.extra_macs]
        if fewer and bound >= min(fewer):
            continue
        plan = _with_patch(graph, choice, False, streaming)
        points.append((f"{choice.grid}x{choice.grid}@{choice.split_op.index}",
                       plan.arena_bytes, choice.extra_macs))
    return points

