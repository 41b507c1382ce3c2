"""In-place layers (TinyEngine's technique): a layer whose input dies at that layer writes its
output over the input through a small scratch buffer.

- Depthwise convolution, depth multiplier 1 (runtime_c/src/conv/depthwise_conv_s8_inplace.c):
  per channel c, the whole out_h x out_w output plane goes to scratch, then to positions
  p * C + c; that overwrites input channel c only, which no later channel reads. Any stride,
  padding or dilation: the step needs X + plane bytes instead of X + Y.
- 1x1, stride 1, unpadded convolution with out_c <= in_c (MobileNetV2's projections;
  conv_s8_inplace.c): pixel q's outputs go to an out_c-byte scratch, then to bytes
  [q * out_c, (q + 1) * out_c), which belong to input pixels 0..q, all read already.
Both are bit-exact with the normal portable kernels (same accumulation and requantisation).

Algorithm (one pass over the schedule, on the live-bytes profile P[step]):
1. Candidates: such layers whose input buffer (after the elementwise in-place sharing) ends
   at that step; the output is never larger than the input.
2. Taking candidate s changes P by: at step s, -Y - old scratch + new scratch; on the steps
   after s while Y is live, +(X - Y) (Y now lives in X's buffer, which cannot shrink; 0 for
   same-size layers). A candidate is taken when it makes the profile, sorted in decreasing
   order, lexicographically smaller: the peak never rises and some step gets lower.
3. Speed trade-off: the in-place kernels are portable C, except the plain-C fast kernels'
   in-place twins (passes/kernels_fast.py, as fast as the kernel they replace: always
   eligible). A layer that runs a DSP/Helium
   kernel (up to ~10x faster) is only made in place with `fast=True`, which `plan_memory`
   sets when the plan without it does not fit the SRAM budget. Layers on portable kernels
   (host, Cortex-M3, `--kernels portable`, patch tiles) are always eligible: the in-place
   kernels do the same MACs plus one scratch copy. The DSP and Helium kernels go over their
   input another way: their output shifted below it (backend/shift.py, arena.py's pins).

The arena planner re-plans with the chosen layers (exact lifetimes) and keeps the smaller
arena of: with them, elementwise sharing only, no sharing.
"""
from __future__ import annotations

from dataclasses import replace

from itertools import accumulate

from ..backend.registry import spec_of
from ..ir import Graph, Op
from ..passes import kernels_fast
from ..passes.lower import depthwise_in_place, pointwise_in_place

# builders of the in-place twins the registry names (None when a layer does not qualify)
VARIANTS = {"mcuc_depthwise_conv_s8_inplace": depthwise_in_place,
            "mcuc_conv_s8_inplace": pointwise_in_place}


def original(op: Op) -> Op:
    """The op an in-place copy was made from (itself otherwise)."""
    return op.kernel.in_place_of or op


def _portable_call(op: Op):
    calls = op.kernel.portable or op.kernel.calls
    return calls[0] if len(calls) == 1 else None


def _in_place_call(op: Op, fast: bool):
    """The in-place KernelCall for `op`, or None if it has none (or keeps a fast kernel)."""
    calls = op.kernel.calls
    call = _portable_call(op)
    if call is None or len(calls) != 1 or len(op.outputs) != 1:
        return None
    if calls[0].fn != call.fn:
        twin = kernels_fast.in_place(op, calls[0], call)   # as fast as the kernel it replaces
        if twin is not None:
            return twin
        if not fast:
            return None      # runs a fast kernel: keep it unless memory demands otherwise
    twin = spec_of(call).in_place
    return VARIANTS[twin](call) if twin else None


def _with_in_place_call(op: Op, new_call) -> Op:
    """A copy of `op` that runs `new_call` (from _in_place_call)."""
    kernel = replace(op.kernel, calls=[new_call], portable=[_portable_call(op)], in_place_of=op)
    return Op(type=op.type, inputs=op.inputs, outputs=op.outputs, attrs=op.attrs,
              index=op.index, kernel=kernel, is_alias=op.is_alias)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def choose(graph: Graph, schedule: list[Op], roots: dict, buffers: list, fast: bool,
           align: int) -> dict[int, Op]:
    """Steps to run in place -> the in-place copy of the op (see the module docstring)."""
    from .arena import io_storage, resolve, scratch_name
    steps = len(schedule) + 1
    delta = [0] * (steps + 1)
    by_root: dict[int, list] = {}            # id(root tensor) -> [size, start, end]
    scratch: dict[str, int] = {}
    for b in buffers:
        delta[b.start] += b.size
        delta[b.end + 1] -= b.size
        if b.tensor is not None:
            by_root[id(b.tensor)] = [b.size, b.start, b.end]
        else:
            scratch[b.name] = b.size
    prof = list(accumulate(delta[:steps]))   # live bytes per step
    merged: dict[int, int] = {}              # id(output root) -> id(input root) once taken

    def find(k: int) -> int:
        while k in merged:
            k = merged[k]
        return k

    graph_in, graph_out = io_storage(graph)
    chosen: dict[int, Op] = {}
    for s, op in enumerate(schedule):
        portable = _portable_call(op)
        if op.kernel.in_place_of or portable is None or not spec_of(portable).in_place:
            continue
        x, y = op.inputs[0], op.outputs[0]
        kx, ky = find(id(resolve(x, roots))), find(id(resolve(y, roots)))
        if kx not in by_root or ky not in by_root or kx == ky:
            continue
        size_x, start_x, end_x = by_root[kx]
        size_y, _, end_y = by_root[ky]
        if end_x != s:
            continue                         # the input is still read after this step
        if kx in graph_in and id(y.storage()) in graph_out:
            continue                         # the application reuses its input buffers
        new_call = _in_place_call(op, fast)
        if new_call is None:
            continue
        plane = _align(new_call.scratch_bytes, align)
        change = plane - size_y - scratch.get(scratch_name(op), 0)
        if end_y > s and size_x > size_y:
            window = prof[s:end_y + 1]
            grown = [change + window[0]] + [v + size_x - size_y for v in window[1:]]
            if not _lex_smaller(grown, window):
                continue
            prof[s:end_y + 1] = grown
        elif change < 0:                     # one step lower, nothing higher: always better
            prof[s] += change
        else:
            continue
        by_root[kx] = [max(size_x, size_y), start_x, end_y]
        del by_root[ky]
        merged[ky] = kx
        chosen[s] = _with_in_place_call(op, new_call)
    return chosen


def _lex_smaller(a: list, b: list) -> bool:
    """Is a, sorted in decreasing order, lexicographically smaller than b sorted so? (Two
    profiles that differ only on some steps compare as those steps do: the first difference
    of the sorted lists is the largest value of one multiset that the other lacks.)"""
    return sorted(a, reverse=True) < sorted(b, reverse=True)
