"""What `mcucompile plan` shows: the schedule with the buffers live at each step and their
offsets (in their region's arena), the peak, the patch choice, the bytes per memory region
(RAM and read-only), and a PNG of memory over the schedule."""
from __future__ import annotations

from pathlib import Path

from ..ir import Graph
from .arena import MemoryPlan, live_profile


def buffer_names(graph: Graph, plan: MemoryPlan) -> dict[int, tuple[str, str]]:
    """id(buffer) -> (short name, what it holds): `t3` = "op 2 output", `in0` = "graph input
    0", `s5` = "scratch of step 5". Model tensor names are long (TFLite joins the names of
    every fused layer) and untrusted; these are ours."""
    producer = {}
    for op in plan.schedule:
        for t in op.outputs:
            producer.setdefault(id(plan.storage(t)), op)
    inputs = {id(plan.storage(t)): i for i, t in enumerate(graph.inputs)}
    names, count = {}, 0
    for b in sorted(plan.buffers, key=lambda b: (b.start, b.tensor is None, b.offset)):
        if b.tensor is None:
            names[id(b)] = (f"s{b.start}", f"scratch of step {b.start}")
            continue
        if id(b.tensor) in inputs:
            k = inputs[id(b.tensor)]
            names[id(b)] = (f"in{k}", f"graph input {k} {list(b.tensor.shape)}")
            continue
        op = producer.get(id(b.tensor))
        what = f"op {op.index} output" if op is not None else "tensor"
        if op is not None and op.type == "PATCH_COPY" or b.tensor.index < 0:
            what = f"tile of op {op.index}" if op is not None else "tile"
        names[id(b)] = (f"t{count}", f"{what} {list(b.tensor.shape)}")
        count += 1
    return names


def op_costs(plan: MemoryPlan, op) -> dict:
    """The kernel decision of one step: its calls, estimated instructions (search.py),
    scratch and constant bytes."""
    calls = op.kernel.calls
    return dict(kernels=[c.fn for c in calls],
                estimated_instructions=plan.estimated_instructions.get(id(op)),
                scratch_bytes=max((c.scratch_bytes for c in calls), default=0),
                const_bytes=sum(a.const.nbytes for c in calls for a in c.args
                                if a.const is not None))


def _region_of(plan: MemoryPlan, b) -> tuple[str, int]:
    """(region name, offset in its arena) of a buffer."""
    k, offset = plan.place(b.tensor, None if b.tensor is not None else b.name)
    return plan.regions[k]["name"], offset


def rom_usage(plan: MemoryPlan) -> list[dict]:
    """Constant bytes per further read-only region (planner/search.py place_constants)."""
    from .search import _constants
    sizes = _constants(plan.schedule)
    used: dict[str, int] = {}
    for digest, region in plan.const_regions.items():
        used[region] = used.get(region, 0) + sizes.get(digest, 0)
    return [dict(name=name, const_bytes=n) for name, n in sorted(used.items())]


def plan_summary(graph: Graph, plan: MemoryPlan) -> dict:
    live_bytes = live_profile(plan.buffers, len(plan.schedule), plan.pins)
    names = buffer_names(graph, plan)
    region = {id(b): _region_of(plan, b) for b in plan.buffers}
    # a shifted in-place layer: its output pinned below its input (arena.py, backend/shift.py)
    shifted = {b.start: -d for a, b, d in plan.pins if d <= 0 and a.end == b.start}
    steps = []
    for s, op in enumerate(plan.schedule):
        live = sorted(plan.live_at(s), key=lambda b: b.offset)
        steps.append(dict(step=s, op_index=op.index, op_type=op.type,
                          outputs=[t.name for t in op.outputs],
                          in_place=any(op is o for o in plan.in_place),
                          shifted_by=shifted.get(s),
                          streamed_ops=op.attrs.get("ops") if op.kernel.streamed is not None else None,
                          live_bytes=live_bytes[s], **op_costs(plan, op),
                          live=[dict(name=names[id(b)][0], region=region[id(b)][0],
                                     offset=region[id(b)][1], bytes=b.size) for b in live]))
    peak = max(steps, key=lambda r: r["live_bytes"]) if steps else None
    est = [r["estimated_instructions"] for r in steps]
    return dict(model=graph.source, arena_bytes=plan.total_bytes, regions=plan.regions,
                const_regions=rom_usage(plan),
                lower_bound_bytes=plan.lower_bound_bytes,
                unpatched_arena_bytes=getattr(plan, "base_arena_bytes", plan.total_bytes),
                packing=plan.strategy, order=getattr(plan, "order", "model"),
                patch=plan.patch, extra_macs_pct=getattr(plan, "extra_macs_pct", 0.0),
                in_place_ops=[op.index for op in plan.in_place],
                streamed_blocks=streamed_blocks(plan),
                estimated_instructions=sum(e for e in est if e) if any(est) else None,
                peak_step=peak["step"] if peak else None,
                peak_op=(f"op {peak['op_index']} ({peak['op_type']})" if peak else None),
                steps=steps,
                buffers=[dict(name=names[id(b)][0], holds=names[id(b)][1],
                              tensor=b.tensor.name if b.tensor is not None else None,
                              bytes=b.size, region=region[id(b)][0],
                              offset=region[id(b)][1], first_step=b.start,
                              last_step=b.end) for b in plan.buffers],
                # the state region (arena.place_state): kept across runs, never reused
                state=[dict(name=f"st{k}", holds=f"state {list(t.shape)} {t.dtype}",
                            tensor=t.name, bytes=t.nbytes, offset=offset)
                       for k, (t, offset) in enumerate(plan.state)])


def streamed_blocks(plan: MemoryPlan) -> list[list[int]]:
    """Op indices of each inverted residual block the plan streams by rows (streaming.py)."""
    return [op.attrs["ops"] for op in plan.schedule if op.kernel.streamed is not None]


def plot_plan(graph: Graph, plan: MemoryPlan, path: str | Path) -> None:
    """Memory over the schedule: each buffer a box [first, last step] x [offset, +size]."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = max(len(plan.schedule), 1)
    fig, ax = plt.subplots(figsize=(min(4 + n * 0.08, 18), 6))
    cmap = plt.get_cmap("tab20")
    for i, b in enumerate(sorted(plan.buffers, key=lambda b: (b.start, b.offset))):
        ax.add_patch(Rectangle((b.start, b.offset), b.end - b.start + 1, b.size,
                               facecolor=cmap(i % 20), edgecolor="black", linewidth=0.3,
                               alpha=0.85 if b.tensor is not None else 0.4))
    live = live_profile(plan.buffers, n, plan.pins)
    peak = max(range(len(live)), key=live.__getitem__)
    ax.step(range(len(live)), live, where="post", color="black", linewidth=1, label="live bytes")
    ax.axhline(plan.arena_bytes, color="red", linestyle="--", linewidth=1,
               label=f"arena {plan.arena_bytes:,} B")
    ax.axvline(peak + 0.5, color="red", linewidth=0.8, alpha=0.5)
    ax.annotate(f"peak {live[peak]:,} B", (peak + 0.5, live[peak]), color="red",
                xytext=(5, 5), textcoords="offset points")
    title = f"{Path(graph.source).name}: arena {plan.arena_bytes:,} B"
    if plan.patch:
        title += f", patches {plan.patch['grid']} up to op {plan.patch['split_op_index']}"
    ax.set_title(title)
    ax.set_xlim(0, n + 1)
    ax.set_ylim(0, max(plan.arena_bytes, max(live)) * 1.08 + 1)
    ax.set_xlabel("schedule step")
    ax.set_ylabel("arena offset (bytes)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
