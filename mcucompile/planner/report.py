"""What `mcucompile plan` shows: the schedule with the buffers live at each step and their
offsets, the peak, the patch choice, and a PNG of memory over the schedule."""
from __future__ import annotations

from pathlib import Path

from ..ir import Graph
from .arena import MemoryPlan, live_profile


def plan_summary(graph: Graph, plan: MemoryPlan) -> dict:
    live_bytes = live_profile(plan.buffers, len(plan.schedule), plan.pins)
    steps = []
    for s, op in enumerate(plan.schedule):
        live = sorted(plan.live_at(s), key=lambda b: b.offset)
        steps.append(dict(step=s, op_index=op.index, op_type=op.type,
                          outputs=[t.name for t in op.outputs],
                          in_place=any(op is o for o in plan.in_place),
                          streamed_ops=op.attrs.get("ops") if "streamed" in op.kernel else None,
                          live_bytes=live_bytes[s],
                          live=[dict(name=b.name, offset=b.offset, bytes=b.size) for b in live]))
    peak = max(steps, key=lambda r: r["live_bytes"]) if steps else None
    return dict(model=graph.source, arena_bytes=plan.arena_bytes,
                lower_bound_bytes=plan.lower_bound_bytes,
                unpatched_arena_bytes=getattr(plan, "base_arena_bytes", plan.arena_bytes),
                packing=plan.strategy, order=getattr(plan, "order", "model"),
                patch=plan.patch, extra_macs_pct=getattr(plan, "extra_macs_pct", 0.0),
                in_place_ops=[op.index for op in plan.in_place],
                streamed_blocks=streamed_blocks(plan),
                peak_step=peak["step"] if peak else None,
                peak_op=(f"op {peak['op_index']} ({peak['op_type']})" if peak else None),
                steps=steps,
                buffers=[dict(name=b.name, bytes=b.size, offset=b.offset, first_step=b.start,
                              last_step=b.end) for b in plan.buffers])


def streamed_blocks(plan: MemoryPlan) -> list[list[int]]:
    """Op indices of each inverted residual block the plan streams by rows (streaming.py)."""
    return [op.attrs["ops"] for op in plan.schedule if "streamed" in op.kernel]


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
