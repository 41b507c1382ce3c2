"""Arena planner: one static byte array holds every activation tensor and scratch buffer.

Algorithm:
1. Schedule: the ops that generate code, in an order chosen to lower the peak where the graph
   branches (see `schedule.py`), or a patch-based schedule (see `patches.py`).
2. Buffers: one per storage tensor. Reshape views share their input's buffer. An op that can
   work in place (elementwise ADD/SUB/MUL, activations, requantise, softmax) writes over an
   input of the same size whose buffer dies at that op. Kernel scratch is a buffer of its
   own, live during its op only.
3. Lifetime of a buffer = [first step that writes it, last step that reads it] (inclusive).
   Graph inputs are live from step 0, graph outputs until after the last step.
4. Offsets: buffers whose lifetimes overlap must not overlap in memory. Each buffer is placed
   at the lowest aligned offset that fits between the already-placed conflicting buffers
   (best fit). This runs for several orderings (by size, start, size x lifetime, lifetime)
   and the smallest arena wins; it stops early when it reaches the lower bound.
5. Lower bound = max over steps of the (aligned) bytes live at that step: no placement of
   these buffers can be smaller, so the report shows the distance from optimal.

Not guaranteed: optimality when the lower bound is not reached (packing is NP-hard).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Graph, Op, Tensor

ALIGN = 8

# Kernels that read element i of an input before writing element i of the output and never
# read an earlier element afterwards: their output may overwrite that input.
IN_PLACE_KERNELS = frozenset({
    "mcuc_add_s8", "mcuc_sub_s8", "mcuc_mul_s8", "mcuc_requantize_s8", "mcuc_logistic_s8",
    "mcuc_tanh_s8", "mcuc_hard_swish_s8", "mcuc_leaky_relu_s8", "mcuc_softmax_s8",
    "mcuc_add_s8_dsp",
})


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
    roots: dict = field(default_factory=dict)     # id(tensor) -> storage tensor
    scratch: dict = field(default_factory=dict)   # scratch buffer name -> offset
    in_place: list = field(default_factory=list)  # ops whose output overwrites an input
    patch: dict | None = None                     # patch-based stage, if any

    def storage(self, t: Tensor) -> Tensor:
        return resolve(t, self.roots)

    def offset_of(self, t: Tensor) -> int:
        return self.offsets[id(self.storage(t))]

    def live_at(self, step: int) -> list[Buffer]:
        return [b for b in self.buffers if b.start <= step <= b.end]


def resolve(t: Tensor, roots: dict) -> Tensor:
    """The tensor whose buffer `t` uses: through reshape views, then in-place sharing."""
    r = t.storage()
    return roots.get(id(r), r)


def _in_place_roots(graph: Graph, schedule: list[Op]) -> tuple[dict, list]:
    """Decide which op outputs share an input's buffer; returns id(tensor) -> storage root."""
    roots: dict[int, Tensor] = {}

    def root(t: Tensor) -> Tensor:
        r = t.storage()
        while id(r) in roots:
            r = roots[id(r)].storage()
        return r

    last_use: dict[int, int] = {}
    for step, op in enumerate(schedule):
        for t in op.inputs:
            if t is not None and not t.is_const:
                last_use[id(t.storage())] = step
    for t in graph.outputs:
        last_use[id(t.storage())] = len(schedule)

    shared = []
    for step, op in enumerate(schedule):
        calls = op.kernel.get("calls", [])
        if len(calls) != 1 or calls[0].fn not in IN_PLACE_KERNELS or len(op.outputs) != 1:
            continue
        call, y = calls[0], op.outputs[0]
        if call.fn in ("mcuc_add_s8", "mcuc_sub_s8", "mcuc_mul_s8") and \
                call.params["bc"]["flat_size"] == 0:
            continue  # broadcasting reads an operand element several times
        for arg in call.args:
            t = arg.tensor
            if t is None or arg.writes or t.nbytes != y.nbytes:
                continue
            r = root(t)
            # Every view of that buffer must be dead after this step (reshape views count).
            if max(last_use.get(id(v.storage()), -1) for v in _views(graph, r, roots)) == step:
                roots[id(y)] = r
                shared.append(op)
                break
    return {k: root(v) for k, v in roots.items()}, shared


def _views(graph: Graph, r: Tensor, roots: dict) -> list[Tensor]:
    out = [r]
    for t in graph.activations():
        if t is not r and (t.storage() is r or roots.get(id(t)) is r):
            out.append(t)
    return out


def _lifetimes(graph: Graph, schedule: list[Op], roots: dict) -> list[Buffer]:
    last_step = len(schedule)
    spans: dict[int, list] = {}          # id(storage) -> [tensor, start, end]

    def touch(t: Tensor, step: int):
        root = resolve(t, roots)
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
            buffers.append(Buffer(scratch_name(op), _align(scratch), step, step))
    return buffers


def scratch_name(op: Op) -> str:
    return f"scratch_{id(op):x}"


def lower_bound(buffers: list[Buffer], steps: int) -> int:
    return max((sum(b.size for b in buffers if b.start <= s <= b.end)
                for s in range(steps + 1)), default=0)


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


def plan_schedule(graph: Graph, schedule: list[Op], in_place: bool = True) -> MemoryPlan:
    """Buffers, lifetimes and offsets for one given schedule."""
    roots, shared = _in_place_roots(graph, schedule) if in_place else ({}, [])
    buffers = _lifetimes(graph, schedule, roots)
    lower = lower_bound(buffers, len(schedule))
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
                      lower_bound_bytes=lower, strategy=name, roots=roots, in_place=shared)
    plan.offsets = {id(b.tensor): b.offset for b in buffers if b.tensor is not None}
    plan.scratch = {b.name: b.offset for b in buffers if b.tensor is None}
    return plan


def check_plan(plan: MemoryPlan) -> None:
    """Invariant: no two buffers live at the same time share a byte; all inside the arena."""
    for i, a in enumerate(plan.buffers):
        assert 0 <= a.offset and a.offset + a.size <= plan.arena_bytes, a.name
        for b in plan.buffers[i + 1:]:
            if a.overlaps_in_time(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, \
                    f"{a.name} and {b.name} overlap"
