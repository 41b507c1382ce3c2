"""Arena planner: one static byte array holds every activation tensor and scratch buffer.

Algorithm:
1. Schedule = the ops that generate code, in graph order.
2. Lifetime of a buffer = [first step that writes it, last step that reads it] (inclusive).
   Graph inputs are live from step 0, graph outputs until after the last step. Aliased tensors
   (reshape views) extend the lifetime of the buffer they share.
3. Offsets: buffers whose lifetimes overlap must not overlap in memory. Each buffer is placed
   at the lowest aligned offset that fits between the already-placed conflicting buffers
   (best fit). This is run for several orderings (by size, by start, by size x lifetime ...)
   and the smallest arena wins.
4. Lower bound = max over steps of the (aligned) bytes live at that step; no placement can be
   smaller, so the report shows how far from optimal the result is.

Not guaranteed: optimality (packing is NP-hard); in-place reuse of an input by its own op's
output is not done here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Graph, Op, Tensor

ALIGN = 8


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass(eq=False)
class Buffer:
    name: str
    size: int
    start: int
    end: int
    tensor: Tensor | None = None     # None for a kernel's scratch buffer
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return not (self.end < other.start or other.end < self.start)


@dataclass
class MemoryPlan:
    schedule: list[Op]
    buffers: list[Buffer]
    arena_bytes: int
    lower_bound_bytes: int
    strategy: str
    offsets: dict = field(default_factory=dict)   # id(storage tensor) -> offset

    def offset_of(self, t: Tensor) -> int:
        return self.offsets[id(t.storage())]

    def live_at(self, step: int) -> list[Buffer]:
        return [b for b in self.buffers if b.start <= step <= b.end]


def _lifetimes(graph: Graph, schedule: list[Op]) -> list[Buffer]:
    last_step = len(schedule)
    spans: dict[int, list] = {}          # id(storage) -> [tensor, start, end]

    def touch(t: Tensor, step: int):
        root = t.storage()
        if root.is_const:
            return
        span = spans.setdefault(id(root), [root, step, step])
        span[1] = min(span[1], step)
        span[2] = max(span[2], step)

    for t in graph.inputs:
        touch(t, 0)
    for step, op in enumerate(schedule):
        for t in op.inputs:
            if t is not None:
                touch(t, step)
        for t in op.outputs:
            touch(t, step)
    for t in graph.outputs:
        touch(t, last_step)
    buffers = [Buffer(root.name, _align(root.nbytes), s, e, tensor=root)
               for root, s, e in spans.values()]
    for step, op in enumerate(schedule):
        scratch = max((c.scratch_bytes for c in op.kernel.get("calls", [])), default=0)
        if scratch:
            buffers.append(Buffer(f"scratch_op{op.index}", _align(scratch), step, step))
    return buffers


def _place(buffers: list[Buffer], order: list[Buffer]) -> int:
    placed: list[Buffer] = []
    for b in order:
        conflicts = sorted((p for p in placed if p.overlaps_in_time(b)), key=lambda p: p.offset)
        best, best_gap, cursor = None, None, 0
        for p in conflicts:
            gap = p.offset - cursor
            if gap >= b.size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, p.offset + p.size)
        b.offset = best if best is not None else cursor
        placed.append(b)
    return max((b.offset + b.size for b in buffers), default=0)


_ORDERINGS = {
    "size": lambda b: (-b.size, b.start),
    "start": lambda b: (b.start, -b.size),
    "area": lambda b: (-(b.size * (b.end - b.start + 1)), -b.size),
    "lifetime": lambda b: (-(b.end - b.start), -b.size),
}


def plan_memory(graph: Graph) -> MemoryPlan:
    schedule = [op for op in graph.ops if not op.is_alias]
    buffers = _lifetimes(graph, schedule)
    steps = range(len(schedule) + 1)
    lower = max((sum(b.size for b in buffers if b.start <= s <= b.end) for s in steps),
                default=0)
    best = None
    for name, key in _ORDERINGS.items():
        size = _place(buffers, sorted(buffers, key=key))
        if best is None or size < best[0]:
            best = (size, name, [b.offset for b in buffers])
        if size == lower:
            break
    size, name, offsets = best
    for b, off in zip(buffers, offsets):
        b.offset = off
    plan = MemoryPlan(schedule=schedule, buffers=buffers, arena_bytes=size,
                      lower_bound_bytes=lower, strategy=name)
    plan.offsets = {id(b.tensor): b.offset for b in buffers if b.tensor is not None}
    plan.scratch = {b.name: b.offset for b in buffers if b.tensor is None}
    return plan


def check_plan(plan: MemoryPlan) -> None:
    """Invariant: no two buffers live at the same time share a byte."""
    for i, a in enumerate(plan.buffers):
        assert 0 <= a.offset and a.offset + a.size <= plan.arena_bytes, a.name
        for b in plan.buffers[i + 1:]:
            if a.overlaps_in_time(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, \
                    f"{a.name} and {b.name} overlap"
