"""Patch-based inference (after MCUNetV2): run the memory-heavy first stage of a CNN one
spatial patch at a time, so its large intermediate tensors never exist in full.

Algorithm:
1. A stage is a prefix of the schedule made of spatial ops (CONV_2D, DEPTHWISE_CONV_2D,
   pooling) and elementwise ops (activations, requantise, same-shape ADD/SUB/MUL), batch 1,
   ending at the split op whose output Y is the only stage tensor used after the stage.
2. Y is cut into an n x n grid. For each patch, the region each stage tensor must provide is
   computed backwards (padding-, stride- and dilation-aware receptive fields, clipped to the
   tensor; a tensor used by several ops provides the bounding box of their needs). Halos
   overlap between patches: that recomputation is the extra MACs.
3. Each patch runs: copy the needed window of each stage input into a tile; every stage op on
   tiles (the same portable kernels with the tile's sizes and a shifted padding origin, so
   taps outside the image are still skipped exactly as in the full op: bit-exact); copy the
   patch of Y's tile into Y. The result is a longer schedule of small ops over small tiles,
   which the arena planner packs like any other.
4. Y overlaps the stage input X (the image, usually the largest stage tensor): patch k
   writes Y bytes [g + a_k, g + b_k) relative to X's start, which must lie below every byte
   of X that a later patch reads, so g = min_k (first byte read after patch k - b_k),
   rounded down to the arena alignment (usually a small negative number: Y starts just
   before X). The planner pins Y at X's offset + g, and the pair costs
   max(X, g + Y) - min(0, g) bytes instead of X + Y during the stage.
5. Choosing: every split op x n in 2..8 is built (finer grids of a split stop at the
   overhead cap) and gets a cheap lower bound (lifetimes, no packing); candidates are packed
   best bound first until no bound can beat the best arena. With an SRAM budget the plan
   with the fewest extra MACs that fits wins, without one the smallest arena whose extra
   MACs stay under the overhead cap.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from ..backend.registry import BINARY, UNARY, WINDOW, spec_of, tileable
from ..ir import Graph, Op, OpKernel, Tensor
from ..passes.kernel_call import Arg, KernelCall
from ..passes.lower import _copy_call
from .arena import ALIGN

# A stage holds the kernels the registry marks WINDOW, UNARY or BINARY: how a tile's call is
# derived from the layer's (ONNX models' *_fpreq / *_f32 / table kernels take the same
# parameters as their TFLM twins).

Region = tuple[int, int, int, int]   # y0, y1, x0, x1 (half open)


@dataclass
class PatchChoice:
    split_index: int          # position of the split op in the schedule
    split_op: Op
    grid: int                 # n: the split output is cut into n x n patches
    extra_macs: int
    schedule: list[Op]
    # (stage input X, split output Y, g): Y may sit at X's offset + g, overlapping X, because
    # each patch writes Y only over bytes of X that no later patch reads (see _overlap)
    pin: tuple | None = None

    def describe(self) -> dict:
        return dict(grid=f"{self.grid}x{self.grid}", split_op_index=self.split_op.index,
                    split_op_type=self.split_op.type, split_step=self.split_index,
                    split_tensor=self.split_op.outputs[0].name)


def _portable(op: Op) -> KernelCall | None:
    calls = op.kernel.portable or op.kernel.calls
    return calls[0] if len(calls) == 1 else None


def _patchable(op: Op) -> bool:
    call = _portable(op)
    if call is None or len(op.outputs) != 1 or len(op.outputs[0].shape) != 4:
        return False
    if op.outputs[0].shape[0] != 1:
        return False
    return tileable(call)


def stage_ends(graph: Graph, schedule: list[Op]) -> list[int]:
    """Schedule positions k such that schedule[:k+1] is a valid stage ending at op k."""
    ends = []
    produced: dict[int, int] = {}            # id(storage) -> producing step
    for k, op in enumerate(schedule):
        if not _patchable(op):
            break
        acts = [t for t in op.inputs if t is not None and t.planned]
        if any(len(t.shape) != 4 or (t is not t.storage() and id(t.storage()) in produced)
               for t in acts):
            break  # inside a stage every op must read a 4-D tile of an earlier op's output
        produced[id(op.outputs[0])] = k
        y = op.outputs[0]
        if not any(spec_of(_portable(o)).has(WINDOW) for o in schedule[:k + 1]):
            continue
        ok = True
        for later in schedule[k + 1:]:
            for t in later.inputs:
                if t is not None and t.planned and id(t.storage()) in produced \
                        and t.storage() is not y:
                    ok = False
        if any(t.storage() is not y and id(t.storage()) in produced for t in graph.outputs):
            ok = False
        if ok and y.shape[1] >= 2:
            ends.append(k)
    return ends


def _needed_input(call: KernelCall, region: Region) -> Region:
    """The input window one op needs to produce `region` of its output."""
    y0, y1, x0, x1 = region
    if not spec_of(call).has(WINDOW):
        return region
    p = call.params
    kh, kw = (p["k_h"], p["k_w"]) if "k_h" in p else (p["f_h"], p["f_w"])
    dh, dw = p.get("dil_h", 1), p.get("dil_w", 1)
    iy0 = y0 * p["stride_h"] - p["pad_top"]
    iy1 = (y1 - 1) * p["stride_h"] - p["pad_top"] + (kh - 1) * dh + 1
    ix0 = x0 * p["stride_w"] - p["pad_left"]
    ix1 = (x1 - 1) * p["stride_w"] - p["pad_left"] + (kw - 1) * dw + 1
    return (max(iy0, 0), min(iy1, p["in_h"]), max(ix0, 0), min(ix1, p["in_w"]))


def _union(a: Region | None, b: Region) -> Region:
    if a is None:
        return b
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _tile(t: Tensor, region: Region, tag: str) -> Tensor:
    y0, y1, x0, x1 = region
    return Tensor(name=f"{t.name}@{tag}", shape=(1, y1 - y0, x1 - x0, t.shape[3]),
                  dtype=t.dtype, quant=t.quant)


def _window_copy(src: Tensor, src_region: Region, dst: Tensor, dst_region: Region,
                 box: Region) -> Op:
    """Copy `box` (in global coordinates) from src (holding src_region) to dst (dst_region)."""
    c = src.shape[3]
    sh, dh = (src_region[3] - src_region[2]) * c, (dst_region[3] - dst_region[2]) * c
    in_off = (box[0] - src_region[0]) * sh + (box[2] - src_region[2]) * c
    out_off = (box[0] - dst_region[0]) * dh + (box[2] - dst_region[2]) * c
    call = _copy_call(src, dst, [box[1] - box[0], (box[3] - box[2]) * c], [sh, 1], [dh, 1],
                      in_off, out_off)
    return Op(type="PATCH_COPY", inputs=[src], outputs=[dst], kernel=OpKernel(calls=[call]))


def _tile_call(call: KernelCall, tiles_in: list[Tensor], regions_in: list[Region],
               tile_out: Tensor, region_out: Region) -> KernelCall:
    new = KernelCall(call.fn, call.params_type, dict(call.params), call.args,
                     call.scratch_bytes, call.macs, call.generated)
    # only top-level params and "bc" change
    if "bc" in new.params:
        new.params["bc"] = dict(new.params["bc"])
    p = new.params
    y0, y1, x0, x1 = region_out
    if spec_of(call).has(WINDOW):
        iy0, iy1, ix0, ix1 = regions_in[0]
        full_out = p["out_h"] * p["out_w"]
        p.update(in_h=iy1 - iy0, in_w=ix1 - ix0, out_h=y1 - y0, out_w=x1 - x0,
                 pad_top=p["pad_top"] + iy0 - y0 * p["stride_h"],
                 pad_left=p["pad_left"] + ix0 - x0 * p["stride_w"])
        new.macs = call.macs * (y1 - y0) * (x1 - x0) // max(full_out, 1)
    elif spec_of(call).has(UNARY):
        p["size"] = tile_out.size
    else:
        p["bc"]["flat_size"] = tile_out.size
        new.macs = tile_out.size if call.macs else 0
    args, k = [], 0
    for a in call.args:
        if a.tensor is not None and not a.writes:
            args.append(Arg.input(tiles_in[k]))
            k += 1
        elif a.writes:
            args.append(Arg.output(tile_out))
        else:
            args.append(a)
    new.args = args
    return new


def build_patch_schedule(graph: Graph, schedule: list[Op], split: int, n: int,
                         tile_kernels=None) -> PatchChoice:
    """`tile_kernels(op, call)`: a fast variant of a tile's portable call, or None (see
    _fast_tile); without it every tile runs the portable kernels."""
    stage = schedule[:split + 1]
    y = stage[-1].outputs[0]
    _, h, w, _ = y.shape
    new_ops: list[Op] = []
    reads: dict[int, tuple] = {}    # id(stage input) -> (tensor, byte span read per patch)
    writes: list[tuple] = []        # byte span of Y written per patch
    base_macs = sum(c.macs for op in stage for c in op.kernel.calls)
    patch_macs = 0
    # per stage op, once: its portable call, the call's inputs, what kind of kernel it is
    layers = []
    for op in stage:
        call = _portable(op)
        spec = spec_of(call)
        layers.append((op, call, [a.tensor for a in call.args
                                  if a.tensor is not None and not a.writes],
                       spec.has(WINDOW), spec.has(BINARY)))
    for i in range(n):
        for j in range(n):
            tag = f"p{i}{j}"
            patch = (i * h // n, (i + 1) * h // n, j * w // n, (j + 1) * w // n)
            if patch[0] == patch[1] or patch[2] == patch[3]:
                continue
            # backwards: what each tensor must provide (exact needs, per consumer)
            need: dict[int, Region] = {id(y): patch}
            for op, call, ins, _, _ in reversed(layers):
                out = op.outputs[0]
                if id(out) not in need:
                    continue
                r_in = _needed_input(call, need[id(out)])
                for t in ins:
                    key = id(t.storage())
                    need[key] = _union(need.get(key), r_in)
            # forwards: compute tiles
            have: dict[int, tuple[Tensor, Region]] = {}
            for op, call, ins, window, binary in layers:
                out = op.outputs[0]
                if id(out) not in need:
                    continue
                tiles_in, regions_in = [], []
                for view in ins:                   # (possibly a 4-D reshape view of it)
                    src = view.storage()
                    req = need[id(src)]
                    if id(src) not in have:        # a stage input: copy its window in
                        reads.setdefault(id(src), (src, []))[1].append(_byte_span(view, req))
                        t = _tile(view, req, tag)
                        full = (0, view.shape[1], 0, view.shape[2])
                        new_ops.append(_window_copy(view, full, t, req, req))
                        have[id(src)] = (t, req)
                    t, r = have[id(src)]
                    want = _needed_input(call, need[id(out)]) if binary else r
                    if binary and r != want:       # elementwise needs exactly its region
                        crop = _tile(src, want, tag + "c")
                        new_ops.append(_window_copy(t, r, crop, want, want))
                        t, r = crop, want
                    tiles_in.append(t)
                    regions_in.append(r)
                r_out = need[id(out)] if window or binary else regions_in[0]
                t_out = _tile(out, r_out, tag)
                tc = _tile_call(call, tiles_in, regions_in, t_out, r_out)
                patch_macs += tc.macs
                tile_op = Op(type=op.type, inputs=tiles_in, outputs=[t_out], index=op.index,
                             kernel=OpKernel(calls=[tc]))
                if tile_kernels is not None:
                    _fast_tile(tile_op, tc, tile_kernels)
                new_ops.append(tile_op)
                have[id(out)] = (t_out, r_out)
            t, r = have[id(y)]
            new_ops.append(_window_copy(t, r, y, (0, h, 0, w), patch))
            writes.append(_byte_span(y, patch))
    return PatchChoice(split_index=split, split_op=stage[-1], grid=n,
                       extra_macs=patch_macs - base_macs, schedule=new_ops + schedule[split + 1:],
                       pin=_overlap(reads, writes, y))


def _fast_tile(tile_op: Op, call: KernelCall, tile_kernels) -> None:
    """Let a window tile run a fast (DSP/Helium) kernel. A tile is an ordinary layer with the
    tile's sizes and padding, so the layer builders apply, as long as the tile's window starts
    at or before its input (no negative padding). Kernels are generated per layer with the
    geometry built in: tiles of different sizes get their own, named by a geometry tag."""
    tag = _tile_tag(call)
    if tag is None:
        return
    tile_op.kernel.tag = tag
    fast = tile_kernels(tile_op, call)
    if fast is not None:
        tile_op.kernel.portable = [call]
        tile_op.kernel.calls = [fast]


def _tile_tag(call: KernelCall) -> str | None:
    """Names a window tile's geometry (its kernel is generated for it), or None when the
    tile cannot run a fast kernel (a window starting before its input: negative padding)."""
    p = call.params
    if not spec_of(call).has(WINDOW) or p["pad_top"] < 0 or p["pad_left"] < 0:
        return None
    geometry = repr(sorted((k, v) for k, v in p.items() if not isinstance(v, dict)))
    return "_t" + hashlib.sha1(geometry.encode()).hexdigest()[:8]


def fast_tile_kernels(schedule: list[Op]) -> int:
    """How many kernels fast tiles of this (portable) patch schedule would generate: one per
    layer and tile geometry (the stage: everything up to the last PATCH_COPY)."""
    end = max((s for s, op in enumerate(schedule) if op.type == "PATCH_COPY"), default=-1)
    tags = {(op.index, _tile_tag(op.kernel.calls[0])) for op in schedule[:end]
            if op.type != "PATCH_COPY" and len(op.kernel.calls) == 1}
    return len({t for t in tags if t[1] is not None})


def _byte_span(t: Tensor, region: Region) -> tuple[int, int]:
    """First and one-past-last byte of `region` in a [1, H, W, C] tensor."""
    _, _, w, c = t.shape
    return (region[0] * w + region[2]) * c, ((region[1] - 1) * w + region[3]) * c


def _overlap(reads: dict, writes: list, y: Tensor):
    """Where Y may start relative to the single stage input X so that Y's patches overlap X:
    patch k writes Y bytes [g + a_k, g + b_k), which must lie below every byte of X that a
    later patch reads: g = min over k of (first byte read after patch k) - b_k. Y and X then
    take max(X, g + Y) - min(0, g) bytes instead of X + Y while both are live."""
    if len(reads) != 1:
        return None
    x, spans = next(iter(reads.values()))
    if len(spans) != len(writes):
        return None
    g, later = None, None
    for (lo, _), (_, b) in zip(reversed(spans), reversed(writes)):
        if later is not None:
            g = later - b if g is None else min(g, later - b)
        later = lo if later is None else min(later, lo)
    if g is None:
        return None
    return x, y, g // ALIGN * ALIGN     # rounded down (still safe): Y stays aligned


def parse_patch_spec(spec: str) -> tuple[int, int] | None:
    """'NxN@LAYER' -> (n, op index); 'auto' / 'off' -> None."""
    if spec in ("auto", "off"):
        return None
    try:
        grid, layer = spec.split("@")
        a, b = grid.lower().split("x")
        if int(a) != int(b) or int(a) < 1:
            raise ValueError
        return int(a), int(layer)
    except ValueError:
        raise ValueError(f"--patch must be off, auto or NxN@LAYER (e.g. 3x3@5), not {spec!r}") \
            from None


def total_macs(schedule: list[Op]) -> int:
    return sum(c.macs for op in schedule for c in op.kernel.calls)


def grids(h: int, budget: bool = False) -> range:
    """Grids n x n to try for a split output of height h: up to 12x12 when minimising the
    arena, 8x8 under a budget (there the search stops at the first grids that fit, and
    splits whose grids never fit would cost 12 plans each)."""
    return range(2, min(8 if budget else 12, h) + 1)


def overhead_pct(choice: PatchChoice, base_macs: int) -> float:
    return 100.0 * choice.extra_macs / base_macs if base_macs else math.inf
