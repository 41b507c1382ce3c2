"""Arena planner: one static byte array holds every activation tensor and scratch buffer.

Algorithm:
1. Schedule: the ops that generate code, in an order chosen to lower the peak where the graph
   branches (see `schedule.py`), or a patch-based schedule (see `patches.py`).
2. Buffers: one per storage tensor. Reshape views share their input's buffer. An op that can
   work in place (elementwise ADD/SUB/MUL, activations, requantise, softmax) writes over an
   input of the same size whose buffer dies at that op; so may a depthwise layer, through a
   per-channel scratch plane, where that lowers the peak (see `inplace.py`); and a fast
   conv / depthwise / FC kernel whose call has a `shift` writes its output that many bytes
   below the input that dies at it, the two overlapping (backend/shift.py): the pair is
   pinned (`_shift_pins`). Kernel scratch is a buffer of its own, live during its op only.
3. Lifetime of a buffer = [first step that writes it, last step that reads it] (inclusive).
   Graph inputs are live from step 0, graph outputs until after the last step.
4. Offsets: buffers whose lifetimes overlap must not overlap in memory. Each buffer is placed
   at the lowest aligned offset that fits between the already-placed conflicting buffers
   (best fit); buffers joined by pins move as one rigid group (first fit). Plans with and
   without the shift pins are both packed: the smaller arena wins. This runs for several
   orderings (by size, start, size x lifetime, lifetime) and the smallest arena wins; it
   stops early when it reaches the lower bound.
   Several RAM regions (a `Layout`): the regions are laid end to end in one address space
   (each budget long, the last one open), and step 4 runs unchanged except that no buffer
   (nor pinned group) may cross a region boundary, and a graph input or output may not lie
   in a region DMA cannot reach (the application may fill it by DMA). So a buffer sits
   wholly in one region, and the region laid first fills first. Two layouts are packed:
   fastest region first (hot buffers there), and largest region first (big buffers
   fragment small regions less); with an extra ordering that packs kernel scratch and
   then small buffers first (they are read most per byte). Of all these packings, those
   that fit the budgets come first, then the most buffers in the fastest region, then the
   fewest bytes over all regions (with one region: the smallest arena, as before). Each
   region's arena is [its base, its highest buffer end) (`MemoryPlan.regions`).
5. Lower bound = max over steps of the (aligned) bytes live at that step: no placement of
   these buffers can be smaller, so the report shows the distance from optimal.
6. State (`place_state`): TFLite variable tensors (an SVDF's memory) are no buffers of the
   above: they keep their values from one run to the next, so they get a region of their
   own after the packed buffers, which nothing else ever uses; arena and bound grow by it.

Not guaranteed: optimality when the lower bound is not reached (packing is NP-hard).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..backend.registry import IN_PLACE_LAYER, shares_input, spec_of
from ..ir import Graph, Op, Tensor
from .inplace import choose as choose_in_place
from .inplace import original
from .streaming import Streaming, on_fast_rows, stream_blocks

ALIGN = 8


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass(frozen=True)
class Layout:
    """RAM regions the arena is split over, in packing order (fastest first): (name, budget
    in bytes, reachable by DMA). One region (or none) is the single arena."""

    regions: tuple[tuple[str, int, bool], ...]
    main: str = ""          # the board's main SRAM region (.bss: the plain mcuc_arena)
    fastest: str = ""       # the region hot buffers should go to

    def orders(self) -> list["Layout"]:
        """The layouts step 4 packs: as given (fastest first), and largest region first."""
        largest = tuple(sorted(self.regions, key=lambda r: -r[1]))
        return [self] + ([replace(self, regions=largest)] if largest != self.regions else [])

    @property
    def bases(self) -> list[int]:
        out, base = [], 0
        for _, size, _ in self.regions:
            out.append(base)
            base += size
        return out

    @property
    def total(self) -> int:
        return sum(size for _, size, _ in self.regions)

    def region_of(self, offset: int) -> int:
        """Index of the region holding packing offset `offset` (the last one is open)."""
        bases = self.bases
        return max(k for k, b in enumerate(bases) if b <= offset or k == 0)

    def used(self, buffers) -> list[int]:
        """Bytes of each region's arena: from its base to its highest buffer end."""
        bases, out = self.bases, [0] * len(self.regions)
        for b in buffers:
            k = self.region_of(b.offset)
            out[k] = max(out[k], b.offset + b.size - bases[k])
        return out

    def blocked(self, io: bool) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, sizes) no buffer may overlap: a zero-size mark at every region boundary
        (a hole ends there) and, for a graph input or output, each region DMA cannot reach."""
        bases, offsets, sizes = self.bases, [], []
        io = io and any(dma for _, _, dma in self.regions)
        for k, (_, size, dma) in enumerate(self.regions):
            if k:
                offsets.append(bases[k]), sizes.append(0)
            if io and not dma:
                last = k == len(self.regions) - 1
                offsets.append(bases[k]), sizes.append(1 << 40 if last else size)
        return np.array(offsets, np.int64), np.array(sizes, np.int64)


def single(layout: "Layout | None") -> bool:
    """One arena in the main SRAM, planned as before regions existed."""
    return layout is None or (len(layout.regions) == 1 and layout.regions[0][0] == layout.main)


@dataclass(eq=False)
class Buffer:
    name: str
    size: int
    start: int
    end: int
    tensor: Tensor | None = None     # None for a kernel's scratch buffer
    offset: int = -1
    io: str = ""                     # "in" / "out" / "inout": holds a graph input / output

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return not (self.end < other.start or other.end < self.start)

    def conflicts(self, other: "Buffer") -> bool:
        """Must not share bytes: live at the same time, or a graph input and a graph output
        (the application writes the next input while it still reads the last output)."""
        return self.overlaps_in_time(other) or ("in" in self.io and "out" in other.io) \
            or ("out" in self.io and "in" in other.io)


@dataclass
class MemoryPlan:
    schedule: list[Op]
    buffers: list[Buffer]
    # the packing's end: the arena; over several regions, the end in their joint address
    # space (what is compared with the budgets), total_bytes the bytes of their arenas
    arena_bytes: int
    lower_bound_bytes: int
    strategy: str
    offsets: dict = field(default_factory=dict)   # id(storage tensor) -> offset
    roots: dict = field(default_factory=dict)     # id(tensor) -> storage tensor
    scratch: dict = field(default_factory=dict)   # scratch buffer name -> offset
    in_place: list = field(default_factory=list)  # ops whose output overwrites an input
    patch: dict | None = None                     # patch-based stage, if any
    pins: list = field(default_factory=list)      # (a, b, d): b at a's offset + d, may overlap
    # budgeted patch search: the next NxN@LAYER specs that fit, fewest extra MACs first
    alternatives: list = field(default_factory=list)
    # id(op) -> estimated instructions of its calls (planner/search.py, backend/cost.py)
    estimated_instructions: dict = field(default_factory=dict)
    # the state region (place_state): [(variable tensor, offset)], from state_offset on
    state: list = field(default_factory=list)
    state_offset: int = 0
    layout: Layout | None = None                  # several RAM regions, else None
    # sha1 digest of a constant array -> the read-only region it goes to, when not the main
    # flash (planner/search.py, place_constants)
    const_regions: dict = field(default_factory=dict)

    @property
    def regions(self) -> list[dict]:
        """Per RAM region: name, bytes used (its arena), budget; one entry without a layout."""
        if single(self.layout):
            name = self.layout.regions[0][0] if self.layout else "sram"
            budget = self.layout.regions[0][1] if self.layout else None
            return [dict(name=name, bytes=self.arena_bytes, budget=budget)]
        return [dict(name=n, bytes=u, budget=size)
                for (n, size, _), u in zip(self.layout.regions, self.layout.used(self.buffers))]

    @property
    def total_bytes(self) -> int:
        """Bytes of every region's arena together (one region: arena_bytes)."""
        return sum(r["bytes"] for r in self.regions)

    def place(self, t: Tensor | None, scratch: str | None = None) -> tuple[int, int]:
        """(region index, offset in that region's arena) of a tensor's buffer, or of the
        scratch buffer named `scratch`."""
        offset = self.scratch[scratch] if t is None else self.offset_of(t)
        if single(self.layout):
            return 0, offset
        k = self.layout.region_of(offset)
        return k, offset - self.layout.bases[k]

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

    # last step that reads each buffer; a buffer shared in place takes the later of the two
    # (reshape views are keyed by their storage, so they count too)
    last_use: dict[int, int] = {}
    for step, op in enumerate(schedule):
        for t in op.inputs:
            if t is not None and t.planned:
                last_use[id(t.storage())] = step
    for t in graph.outputs:
        last_use[id(t.storage())] = len(schedule)

    def share(y: Tensor, r: Tensor):
        roots[id(y)] = r
        last_use[id(r)] = max(last_use.get(id(r), -1), last_use.get(id(y), -1))

    inputs, outputs = io_storage(graph)

    shared = []
    for step, op in enumerate(schedule):
        calls = op.kernel.calls
        if op.kernel.over_input or len(calls) == 1 and spec_of(calls[0]).has(
                IN_PLACE_LAYER):
            # chosen by inplace.choose or streaming.stream_blocks, which checked that the
            # input dies here; a streamed block may also write elsewhere, and does when
            # it would put a graph output over a graph input
            r = root(op.inputs[0])
            assert last_use.get(id(r), -1) == step, op.where
            clash = id(r) in inputs and id(op.outputs[0].storage()) in outputs
            if clash and op.kernel.over_input:
                continue
            assert not clash, op.where
            share(op.outputs[0], r)
            shared.append(op)
            continue
        if len(calls) != 1 or len(op.outputs) != 1 or not shares_input(calls[0]):
            continue
        call, y = calls[0], op.outputs[0]
        for arg in call.args:
            t = arg.tensor
            if t is None or arg.writes or t.nbytes != y.nbytes:
                continue
            r = root(t)
            if id(r) in inputs and id(y.storage()) in outputs:
                continue                          # a graph output over a graph input
            if last_use.get(id(r), -1) == step:   # nothing reads that buffer afterwards
                share(y, r)
                shared.append(op)
                break
    return {k: root(v) for k, v in roots.items()}, shared


def io_storage(graph: Graph) -> tuple[set, set]:
    """ids of the storage tensors of the graph's inputs, and of its outputs."""
    return ({id(t.storage()) for t in graph.inputs}, {id(t.storage()) for t in graph.outputs})


def lifetimes(graph: Graph, schedule: list[Op], roots: dict) -> list[Buffer]:
    """One buffer per storage root (first step it is touched .. last), then one per kernel
    scratch (its step only)."""
    last_step = len(schedule)
    spans: dict[int, list] = {}          # id(storage) -> [tensor, start, end]
    seen: dict[int, int] = {}            # id(tensor) -> id(its root), None if not planned

    def touch(t: Tensor, step: int):     # called with non-decreasing steps
        key = seen.get(id(t), 0)
        if key == 0:
            root = resolve(t, roots)
            key = seen[id(t)] = None if not root.planned else id(root)
            if key is not None and key not in spans:
                spans[key] = [root, step, step]
                return
        if key is not None:
            spans[key][2] = step

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
    ins = {id(resolve(t, roots)) for t in graph.inputs}
    outs = {id(resolve(t, roots)) for t in graph.outputs}
    buffers = [Buffer(root.name, _align(root.nbytes), s, e, tensor=root,
                      io=("in" if id(root) in ins else "") + ("out" if id(root) in outs else ""))
               for root, s, e in spans.values()]
    for step, op in enumerate(schedule):
        scratch = max((c.scratch_bytes for c in op.kernel.calls), default=0)
        if scratch:
            buffers.append(Buffer(scratch_name(op), _align(scratch), step, step))
    return buffers


def scratch_name(op: Op) -> str:
    return f"scratch_{id(op):x}"


def live_profile(buffers: list[Buffer], steps: int, pins: list | None = None) -> list[int]:
    """Bytes live at each step 0..steps (a difference array: linear time). A pinned pair
    (a, b, delta) counts the bytes of its union while both are live."""
    delta = [0] * (steps + 2)
    for b in buffers:
        delta[b.start] += b.size
        delta[b.end + 1] -= b.size
    for a, b, d in pins or ():
        lo, hi = max(a.start, b.start), min(a.end, b.end)
        if lo <= hi:
            saved = a.size + b.size - (max(a.size, d + b.size) - min(0, d))
            delta[lo] -= saved
            delta[hi + 1] += saved
    out, acc = [], 0
    for d in delta[:steps + 1]:
        acc += d
        out.append(acc)
    return out


def lower_bound(buffers: list[Buffer], steps: int, pins: list | None = None) -> int:
    return max(live_profile(buffers, steps, pins), default=0)


def _place(buffers: list[Buffer], order: list[Buffer], pins: list | None = None,
           layout: Layout | None = None) -> int:
    """Best fit in `order` (a pinned group: first fit of the whole group), over arrays: which
    placed buffers conflict with the next one is one vectorised test. With several regions,
    `layout.blocked` adds what no buffer may overlap (step 4)."""
    index = {id(b): i for i, b in enumerate(buffers)}
    start = np.array([b.start for b in buffers], np.int64)
    end = np.array([b.end for b in buffers], np.int64)
    size = np.array([b.size for b in buffers], np.int64)
    is_in = np.array(["in" in b.io for b in buffers], bool)
    is_out = np.array(["out" in b.io for b in buffers], bool)
    offset = np.zeros(len(buffers), np.int64)
    placed = np.zeros(len(buffers), bool)

    def conflicts(i: int) -> np.ndarray:       # Buffer.conflicts against every placed one
        hit = ~((end < start[i]) | (end[i] < start))
        if is_in[i]:
            hit |= is_out
        if is_out[i]:
            hit |= is_in
        return np.nonzero(placed & hit)[0]

    blocked = {io: layout.blocked(io) for io in (False, True)} if not single(layout) else None
    bases = np.array(layout.bases, np.int64) if blocked is not None else None
    group_of = {id(m): g for g in _groups(pins or ()) for m, _ in g}
    for b in order:
        group = group_of.get(id(b))
        if group is not None:
            if not placed[index[id(b)]]:
                forbidden = []
                for m, r in group:
                    hit = conflicts(index[id(m)])
                    forbidden += zip((offset[hit] - r - m.size).tolist(),
                                     (offset[hit] + size[hit] - r).tolist())
                if blocked is not None:       # the group whole in one region
                    span = max(r + m.size for m, r in group)
                    forbidden += [(w - span, w) for w in layout.bases[1:]]
                    for m, r in group:
                        lo, n = blocked[bool(m.io)]
                        forbidden += zip((lo - r - m.size).tolist(), (lo + n - r).tolist())
                base = _first_fit(forbidden)
                for m, r in group:
                    offset[index[id(m)]] = base + r
                    placed[index[id(m)]] = True
            continue
        i = index[id(b)]
        hit = conflicts(i)
        if blocked is None:
            offset[i] = _best_fit(offset[hit], size[hit], b.size)
        else:
            lo, n = blocked[bool(b.io)]
            offset[i] = _best_fit(np.concatenate((offset[hit], lo)),
                                  np.concatenate((size[hit], n)), b.size, bases)
        placed[i] = True
    for b, off in zip(buffers, offset.tolist()):
        b.offset = off
    return max((b.offset + b.size for b in buffers), default=0)


def _best_fit(offsets: np.ndarray, sizes: np.ndarray, need: int,
              bases: np.ndarray | None = None) -> int:
    """The lowest offset of the smallest hole (between these placed buffers, from 0) that
    holds `need` bytes, else the end of the highest. With region `bases`: the smallest hole
    of the first region that has one."""
    order = np.argsort(offsets, kind="stable")
    offsets, ends = offsets[order], offsets[order] + sizes[order]
    cursor = np.maximum(0, np.concatenate(([0], np.maximum.accumulate(ends)[:-1])))
    gaps = offsets - cursor
    fits = np.nonzero(gaps >= need)[0]
    if len(fits) and bases is not None:
        region = np.searchsorted(bases, cursor[fits], side="right")
        fits = fits[region == region.min()]
    if len(fits):
        return int(cursor[fits[np.argmin(gaps[fits])]])
    return int(max(0, ends.max())) if len(ends) else 0


def _first_fit(forbidden: list) -> int:
    """The lowest base >= 0 outside every open interval (lo, hi) (base <= lo or base >= hi)."""
    cursor = 0
    for lo, hi in sorted(forbidden):
        if cursor <= lo:
            break
        cursor = max(cursor, hi)
    return cursor


def _groups(pins) -> list[list[tuple[Buffer, int]]]:
    """Buffers joined by pins (b at a's offset + d), as [(buffer, offset in the group)], the
    lowest at 0: each group is placed as one rigid piece."""
    links: dict[int, list] = {}
    members: dict[int, Buffer] = {}
    for a, b, d in pins:
        links.setdefault(id(a), []).append((b, d))
        links.setdefault(id(b), []).append((a, -d))
        members[id(a)], members[id(b)] = a, b
    groups, seen = [], set()
    for key, first in members.items():
        if key in seen:
            continue
        rel, todo = {key: 0}, [first]
        while todo:
            m = todo.pop()
            for other, d in links[id(m)]:
                if id(other) not in rel:
                    rel[id(other)] = rel[id(m)] + d
                    todo.append(other)
        seen |= set(rel)
        low = min(rel.values())
        groups.append([(members[k], r - low) for k, r in rel.items()])
    return groups


# plan_schedule's variants of shifted in-place pins: none, the layers the search shifted to
# fit their fast kernels, every layer that can be
SHIFT_PINS = (None, "shifted", "all")

_ORDERINGS = {
    "size": lambda b: (-b.size, b.start),
    "start": lambda b: (b.start, -b.size),
    "area": lambda b: (-(b.size * (b.end - b.start + 1)), -b.size),
    "lifetime": lambda b: (-(b.end - b.start), -b.size),
}


# with several regions also: kernel scratch, then small buffers, first (the fastest region)
_HOT_FIRST = ("hot", lambda b: (b.tensor is not None, b.size, b.start))


def plan_schedule(graph: Graph, schedule: list[Op], in_place: bool = True,
                  fast_in_place: bool = False, pin: tuple | None = None,
                  bound_only: bool = False, stream: Streaming | None = None,
                  budgeted: bool = False, layout: Layout | None = None):
    """Buffers, lifetimes and offsets for one given schedule. With `in_place`, elementwise
    ops, depthwise and pointwise layers may write over an input that dies there
    (`fast_in_place`: also layers that run a DSP/Helium kernel, which then run the portable
    in-place one). `pin` = (X, Y, g): Y may overlap X at X's offset + g (patches.py).
    `bound_only`: return just the lower bound (no packing; cheap, for pruning candidates);
    `budgeted` (the search under a budget): with `stream`, the bound of the streamed
    schedule only (it may miss the rare schedule where streaming loses; packing compares).
    `stream`: run inverted residual blocks after the patch stage streamed by rows, with
    these options (streaming.py). `layout`: several RAM regions (step 4)."""
    schedule = [original(op) for op in schedule]
    if stream:
        # streaming can lose where the in-place layers already do well (narrow expansions):
        # keep whichever schedule packs smaller, layer by layer on a tie
        streamed = stream_blocks(graph, schedule, fast_in_place, stream)
        if len(streamed) < len(schedule):
            if bound_only and budgeted:     # the streamed bound alone: half the time
                return plan_schedule(graph, streamed, in_place, fast_in_place, pin, True)
            bounds = [(plan_schedule(graph, s, in_place, fast_in_place, pin, True), k, s)
                      for k, s in enumerate((schedule, streamed))]
            if bound_only:
                return min(bounds)[0]
            best = None
            for bound, _, s in sorted(bounds, key=lambda b: b[:2]):
                if best is None or bound < best.arena_bytes:
                    plan = plan_schedule(graph, s, in_place, fast_in_place, pin,
                                         layout=layout)
                    if best is None or plan.arena_bytes < best.arena_bytes:
                        best = plan
            return _with_fast_rows(graph, best, in_place, fast_in_place, pin, layout)
    variants = [(schedule, {}, [], False)]   # no sharing at all
    if in_place:
        roots, shared = _in_place_roots(graph, schedule)
        variants += [(schedule, roots, shared, s) for s in SHIFT_PINS]
        buffers = lifetimes(graph, schedule, roots)
        layers = choose_in_place(graph, schedule, roots, buffers, fast_in_place, ALIGN)
        if layers:
            sched = [layers.get(s, op) for s, op in enumerate(schedule)]
            roots, shared = _in_place_roots(graph, sched)
            variants += [(sched, roots, shared, s) for s in SHIFT_PINS]
    # Most sharing first (every shifted in-place layer pinned, then those the search needs
    # shifted, then none: a chain of pinned buffers is placed as one rigid piece, its shifts
    # adding up, which can pack worse); a variant with less
    # sharing is packed only if its lower bound beats the arena so far (packing can lose
    # what sharing gained on the profile).
    best, tried, made = None, set(), {}
    for sched, roots, shared, shifted in reversed(variants):
        key = (id(sched), id(roots))          # the pin variants share one set of lifetimes
        if key in made:                       # (copied: packing sets their offsets)
            buffers = [replace(b) for b in made[key]]
        else:
            buffers = made[key] = lifetimes(graph, sched, roots)
        pins = _pins(pin, sched, buffers, roots)
        if shifted:
            pins += _shift_pins(sched, buffers, roots, pins, shifted == "all")
        index = {id(b): i for i, b in enumerate(buffers)}
        key = (id(sched), id(roots), tuple((index[id(a)], index[id(b)], d) for a, b, d in pins))
        if key in tried:
            continue                      # the same pins as a variant already packed
        tried.add(key)
        if bound_only:
            return lower_bound(buffers, len(sched), pins)
        if best is not None and lower_bound(buffers, len(sched), pins) >= best.arena_bytes:
            continue
        plan = _pack(sched, buffers, roots, shared, pins, layout)
        if best is None or plan.arena_bytes < best.arena_bytes:
            best = plan
        if best.arena_bytes == best.lower_bound_bytes:
            break
    return best


def _with_fast_rows(graph: Graph, plan: MemoryPlan, in_place: bool, fast_in_place: bool,
                    pin, layout: Layout | None = None) -> MemoryPlan:
    """Streamed blocks on fast row kernels where their larger scratch fits under the arena
    at their step; kept if the re-packed arena does not grow."""
    live = live_profile(plan.buffers, len(plan.schedule), plan.pins)
    schedule, changed = [], False
    for s, op in enumerate(plan.schedule):
        fast = on_fast_rows(op)
        if fast is not None:
            extra = _align(fast.kernel.calls[0].scratch_bytes) \
                - _align(op.kernel.calls[0].scratch_bytes)
            if live[s] + extra <= plan.arena_bytes:
                op, changed = fast, True
        schedule.append(op)
    if not changed:
        return plan
    faster = plan_schedule(graph, schedule, in_place, fast_in_place, pin, layout=layout)
    return faster if faster.arena_bytes <= plan.arena_bytes else plan


def _pins(pin, schedule: list[Op], buffers: list[Buffer], roots: dict) -> list:
    """[(X's buffer, Y's buffer, g)] if nothing reads X after the last patch writes Y."""
    if pin is None:
        return []
    x, y, g = pin
    by_root = {id(b.tensor): b for b in buffers if b.tensor is not None}
    bx, by = by_root.get(id(resolve(x, roots))), by_root.get(id(resolve(y, roots)))
    last_write = max((s for s, op in enumerate(schedule) if any(t is y for t in op.outputs)),
                     default=-1)
    if bx is None or by is None or bx is by or bx.end > last_write \
            or ("in" in bx.io and "out" in by.io):  # a graph output never goes over an input
        return []
    return [(bx, by, g)]


def _shift_pins(schedule: list[Op], buffers: list[Buffer], roots: dict, pins: list,
                every: bool = True) -> list:
    """Shifted in-place layers (backend/shift.py): a call that may write its output `shift`
    bytes below its input, at the step where that input's buffer dies, gets its output
    pinned there (the shift rounded up to the alignment), where that saves bytes and keeps
    every group of pinned buffers free of other overlaps. Not `every`: only the calls the
    search took on that condition (KernelCall.shifted)."""
    by_root = {id(b.tensor): b for b in buffers if b.tensor is not None}
    group = {id(m): g for g in _groups(pins) for m, _ in g}     # id -> [(buffer, offset)]
    paired = {(id(a), id(b)) for a, b, _ in pins} | {(id(b), id(a)) for a, b, _ in pins}
    out: list = []
    for s, op in enumerate(schedule):
        calls = op.kernel.calls
        if len(calls) != 1 or calls[0].shift is None or not (every or calls[0].shifted):
            continue
        call = calls[0]
        x = next((a.tensor for a in call.args if a.tensor is not None and not a.writes), None)
        y = next((a.tensor for a in call.args if a.writes), None)
        if x is None or y is None:
            continue
        bx, by = by_root.get(id(resolve(x, roots))), by_root.get(id(resolve(y, roots)))
        if bx is None or by is None or bx is by or bx.end != s or by.start != s \
                or ("in" in bx.io and "out" in by.io):
            continue
        g = _align(call.shift)
        gx, gy = group.get(id(bx), [(bx, 0)]), group.get(id(by), [(by, 0)])
        if g >= by.size or gx is gy:
            continue
        move = dict(gx)[bx] - g - dict(gy)[by]       # gy's offsets in gx's frame
        if not _apart(gx, [(m, r + move) for m, r in gy], paired | {(id(bx), id(by))}):
            continue
        merged = gx + [(m, r + move) for m, r in gy]
        for m, _ in merged:
            group[id(m)] = merged
        paired |= {(id(bx), id(by)), (id(by), id(bx))}
        out.append((bx, by, -g))
    return out


def _apart(ga: list, gb: list, paired: set) -> bool:
    """May these two groups (buffers at offsets in one frame) join: no member of one
    conflicts with and overlaps a member of the other, unless the two are pinned?"""
    return not any((id(a), id(b)) not in paired and (id(b), id(a)) not in paired
                   and a.conflicts(b) and ra < rb + b.size and rb < ra + a.size
                   for a, ra in ga for b, rb in gb)


def _pack(schedule, buffers, roots, shared, pins=(), layout: Layout | None = None) -> MemoryPlan:
    lower = lower_bound(buffers, len(schedule), pins)
    best = None
    if single(layout):
        for name, key in _ORDERINGS.items():
            size = _place(buffers, sorted(buffers, key=key), pins)
            if best is None or size < best[0]:
                best = (size, name, [b.offset for b in buffers])
            if size == lower:
                break
    else:       # fits first, then the most buffers in the fastest region, then fewest bytes
        for lay in layout.orders():
            fastest = [r[0] for r in lay.regions].index(lay.fastest)
            for name, key in (_HOT_FIRST,) + tuple(_ORDERINGS.items()):
                size = _place(buffers, sorted(buffers, key=key), pins, lay)
                fast = sum(lay.region_of(b.offset) == fastest for b in buffers)
                rank = (size > lay.total, -fast, sum(lay.used(buffers)), size)
                if best is None or rank < best[3]:
                    best = (size, name, [b.offset for b in buffers], rank, lay)
        layout = best[4]
    size, name, offsets = best[:3]
    for b, off in zip(buffers, offsets):
        b.offset = off
    plan = MemoryPlan(schedule=schedule, buffers=buffers, arena_bytes=size,
                      lower_bound_bytes=lower, strategy=name, roots=roots, in_place=shared,
                      pins=list(pins), layout=layout)
    plan.offsets = {id(b.tensor): b.offset for b in buffers if b.tensor is not None}
    plan.scratch = {b.name: b.offset for b in buffers if b.tensor is None}
    return plan


def state_bytes(graph: Graph) -> int:
    """Bytes of the state region: every variable tensor, aligned."""
    return sum(_align(t.nbytes) for t in graph.state())


def place_state(graph: Graph, plan: MemoryPlan) -> MemoryPlan:
    """Step 6: the variable tensors one after the other from the end of the packed buffers
    (aligned), in model order; the arena and its lower bound grow by the region."""
    offset = plan.state_offset = _align(plan.arena_bytes)
    plan.state = []
    for t in graph.state():
        plan.state.append((t, offset))
        plan.offsets[id(t)] = offset
        offset += _align(t.nbytes)
    if plan.state:
        plan.lower_bound_bytes += offset - plan.arena_bytes
        plan.arena_bytes = offset
    return plan


def check_plan(plan: MemoryPlan) -> None:
    """Invariant: no two buffers live at the same time, nor a graph input and a graph
    output, share a byte; all inside the arena."""
    allowed = set()
    for a, b, d in plan.pins:
        assert b.offset == a.offset + d, f"{b.name} not at {a.name} + {d}"
        allowed |= {(id(a), id(b)), (id(b), id(a))}
    for i, a in enumerate(plan.buffers):
        assert 0 <= a.offset and a.offset + a.size <= (plan.state_offset if plan.state
                                                        else plan.arena_bytes), a.name
        for b in plan.buffers[i + 1:]:
            if a.conflicts(b) and (id(a), id(b)) not in allowed:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, \
                    f"{a.name} and {b.name} overlap"
