"""The SRAM-versus-speed frontier: how much arena each schedule needs, and what it costs in
extra MACs and estimated instructions (`mcucompile plan --frontier`).

Algorithm:
1. Shapes: the memory planner's schedule shapes, packed with portable kernels
   (planner.schedule_points): layer by layer, inverted residual blocks streamed by rows, and
   every patch stage (split op x grid) within the extra-MAC cap; shapes that another shape
   beats on both arena and extra MACs are dropped; going down in arena, a shape is kept when
   it is at least 5% below the last one kept (finer grids of one split differ by less), and
   the smallest always.
2. Each shape left is planned by the search itself (search.py) with that shape fixed and its
   arena as the SRAM budget, so the kernels are the fastest that fit it: fast kernels on
   tiles and layers where their scratch fits, portable ones where not. An unbudgeted plan of
   the layer-by-layer shape gives the fastest point. A shape the search refuses (the flash
   budget) is left out; when it refuses every one, that refusal is the answer.
3. The frontier is what is left after dropping points that another beats (or equals) on both
   arena and estimated instructions, smallest arena last.
The search space is the planner's: one patch stage and streamed blocks; a point is a plan
`mcucompile compile --patch ... --sram ...` reproduces.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import McucError
from ..ir import Graph
from . import schedule_points
from .patches import total_macs
from .search import search


MIN_STEP = 0.05    # shapes whose arenas are closer than this fraction: only the smaller


@dataclass(frozen=True)
class Point:
    patch: str                # the shape asked for: "off", "streamed" or NxN@OP
    schedule: str             # the plan's: "layer by layer", "streamed blocks", NxN@OP
    sram: int | None          # the budget it was planned under (None: no budget)
    arena_bytes: int
    extra_macs: int
    extra_macs_pct: float
    estimated_instructions: int

    def options(self) -> str:
        """The `compile` options that give this plan."""
        patch = "auto" if self.patch == "streamed" else self.patch
        return f"--patch {patch}" + (f" --sram {self.sram}" if self.sram is not None else "")


DEFAULT_MAX_OVERHEAD = 100.0   # percent extra MACs a patch shape may cost


def frontier(graph: Graph, board, kernels: str = "auto", flash: int | None = None,
             max_overhead: float = DEFAULT_MAX_OVERHEAD, progress=None) -> list[Point]:
    """The frontier (see the module docstring), largest arena first. `progress(msg)`: told
    before each plan."""
    macs = total_macs([op for op in graph.ops if not op.is_alias])
    shapes = [(patch, arena, extra) for patch, arena, extra in schedule_points(graph,
                                                                                max_overhead)
              if patch != "off"]
    shapes = _pareto(shapes, lambda s: (s[1], s[2]))       # (arena, extra MACs)
    runs = [("off", None)]
    shapes.sort(key=lambda s: -s[1])
    for patch, arena, _ in shapes:
        if runs[-1][1] is None or arena <= (1 - MIN_STEP) * runs[-1][1]:
            runs.append((patch, arena))
    if shapes and runs[-1][1] != shapes[-1][1]:
        runs.append(shapes[-1][:2])             # the smallest arena, always
    points, refused = [], None
    for k, (patch, sram) in enumerate(runs):
        if progress:
            progress(f"planning schedule {k + 1} of {len(runs)}: {patch}"
                     + (f" under {sram:,} bytes" if sram is not None else ""))
        try:
            plan = search(graph, board, kernels, "auto" if patch == "streamed" else patch,
                          sram, flash, max_overhead)
        except McucError as e:
            refused = e       # (the flash budget, with this shape's kernels)
            continue
        instr = sum(plan.estimated_instructions.values())
        extra = plan.extra_macs or 0
        streams = any(op.kernel.streamed is not None for op in plan.schedule)
        shape = (f"{plan.patch['grid']}@{plan.patch['split_op_index']}" if plan.patch else
                 "streamed blocks" if streams else "layer by layer")
        points.append(Point(patch, shape, sram, plan.arena_bytes, extra,
                            round(100.0 * extra / macs, 2) if macs else 0.0, instr))
    if not points and refused is not None:
        raise refused         # no shape fits: why the last one does not
    kept = _pareto(points, lambda p: (p.arena_bytes, p.estimated_instructions))
    return sorted(kept, key=lambda p: -p.arena_bytes)


def _pareto(items: list, key) -> list:
    """The items whose key (a pair, both to minimise) no other item's beats or equals in both
    places with a difference; of equal keys the first."""
    keys = [key(i) for i in items]
    out, seen = [], set()
    for item, (a, b) in zip(items, keys):
        if (a, b) in seen or any(x <= a and y <= b and (x, y) != (a, b) for x, y in keys):
            continue
        seen.add((a, b))
        out.append(item)
    return out


def plot_frontier(points: list[Point], title: str, path) -> None:
    """Arena against extra MACs and estimated instructions, one marker per point."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    arena = [p.arena_bytes / 1024 for p in points]
    left.plot([p.extra_macs_pct for p in points], arena, "o")
    left.set_xlabel("extra MACs (%)")
    right.plot([p.estimated_instructions / 1e6 for p in points], arena, "o-")
    right.set_xlabel("estimated instructions (millions)")
    for ax in (left, right):
        ax.set_ylabel("arena (KiB)")
        ax.grid(alpha=0.3)
    for p, y in zip(points, arena):
        right.annotate(p.schedule, (p.estimated_instructions / 1e6, y), fontsize=7,
                       xytext=(4, 2), textcoords="offset points")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
