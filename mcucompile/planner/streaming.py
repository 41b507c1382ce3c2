"""Row-streamed inverted residual blocks: MobileNetV2's expand -> depthwise -> project
[-> ADD] run as one kernel (runtime_c/src/conv/inverted_residual_s8.c) that never holds the
expanded tensor or the depthwise output in full, only a ring of expanded rows. (The same
kernel runs any 1x1 -> depthwise -> 1x1 chain, e.g. MobileNetV1's.)

Why: after a patch-based first stage, the peak of a MobileNetV2 sits in the next residual
block, where the block input (kept for the ADD) and the expanded tensor (6x wider) are live
together. Streamed, the block needs its input + (k_h rows of the expanded tensor) + a few
bytes per pixel; e.g. MobileNetV2 0.35 at 144x144, block 2: 72,576 -> 15,608 bytes. No MAC is
computed twice (the ring keeps the rows the next output rows read again); the price is speed
on fast-kernel boards (the fused kernel is portable C), so, like the in-place layers, a
block whose layers run DSP/Helium kernels is only streamed when memory demands it (`fast`,
or `fast_above` for the blocks whose layers are wider than that).

Algorithm: scan the schedule for four (or three) consecutive steps
  CONV_2D 1x1 stride 1 (expand, input X) -> DEPTHWISE_CONV_2D, depth multiplier 1 ->
  CONV_2D 1x1 stride 1 (project) [-> ADD(project output, X)]
where each intermediate tensor is read by the next step only, and replace them by one step.
The schedule with the streamed steps is kept only if it packs smaller than the one without
(arena.plan_schedule): with a narrow expansion, the in-place layers can do better.
A residual block (the ADD reads X, which dies there) writes its output over X, since X
and the output have the same shape; without the ADD the output gets a buffer of its own.
Part of patch-based planning (`--patch auto|NxN@L`); `--patch off` keeps layer-by-layer
execution.
"""
from __future__ import annotations

from ..ir import Graph, Op, Tensor
from ..passes.kernel_call import Arg, KernelCall

FN = "mcuc_inverted_residual_s8"
PARAMS = "mcuc_inverted_residual_params"


def _portable(op: Op) -> KernelCall | None:
    """The op's single portable call (which it may not run: see _runs_fast)."""
    calls = op.kernel.get("calls", [])
    portable = op.kernel.get("portable") or calls
    if len(calls) != 1 or len(portable) != 1 or len(op.outputs) != 1:
        return None
    return portable[0]


def _runs_fast(op: Op) -> bool:
    return op.kernel["calls"][0].fn != _portable(op).fn


def _pointwise(call: KernelCall | None) -> bool:
    if call is None or call.fn != "mcuc_conv_s8":
        return False
    p = call.params
    return (p["batches"], p["k_h"], p["k_w"], p["stride_h"], p["stride_w"], p["pad_top"],
            p["pad_left"]) == (1, 1, 1, 1, 1, 0, 0)


def _reads(call: KernelCall) -> list[Tensor]:
    return [a.tensor.storage() for a in call.args if a.tensor is not None and not a.writes]


def _readers(graph: Graph, schedule: list[Op]) -> dict[int, int]:
    """id(storage tensor) -> how many steps read it (graph outputs count as one more)."""
    count: dict[int, int] = {}
    for op in schedule:
        for t in {id(t.storage()): t for t in op.inputs if t is not None}:
            count[t] = count.get(t, 0) + 1
    for t in graph.outputs:
        count[id(t.storage())] = count.get(id(t.storage()), 0) + 1
    return count


def _block(graph: Graph, steps: list[Op], readers: dict, fast: bool,
           fast_above: int | None) -> Op | None:
    """The fused op for steps [expand, depthwise, project(, add)], or None."""
    expand, dw, project = (_portable(op) for op in steps[:3])
    if not (_pointwise(expand) and _pointwise(project)) or dw is None \
            or dw.fn != "mcuc_depthwise_conv_s8":
        return None
    d = dw.params
    if d["batches"] != 1 or d["depth_multiplier"] != 1:
        return None
    x, e, dy, py = (expand.args[0].tensor.storage(), expand.args[-1].tensor.storage(),
                    dw.args[-1].tensor.storage(), project.args[-1].tensor.storage())
    chain = [(dw, e), (project, dy)]
    if any(_reads(call) != [t] or readers.get(id(t)) != 1 for call, t in chain):
        return None
    if not fast and any(_runs_fast(op) for op in steps[:3]):
        widest = max(x.nbytes + e.nbytes, e.nbytes + dy.nbytes)
        if fast_above is None or widest <= fast_above:
            return None                 # keep the fast kernels
    span = (d["k_h"] - 1) * d["dil_h"] + 1
    params = dict(expand=dict(expand.params, in_h=1, out_h=1), dw=dict(d),
                  project=dict(project.params, in_h=1, in_w=1, out_h=1, out_w=1),
                  has_add=0, residual_first=0)
    out_c = project.params["out_c"]
    scratch = span * d["in_w"] * d["in_c"] + d["in_c"]
    macs = expand.macs + dw.macs + project.macs
    fused = steps[:3]
    y = py
    if len(steps) == 4:
        add = _portable(steps[3])
        if add is not None and add.fn == "mcuc_add_s8" \
                and (fast or fast_above is not None or not _runs_fast(steps[3])) \
                and add.params["bc"]["flat_size"] \
                and sorted(map(id, _reads(add))) == sorted((id(x), id(py))) \
                and readers.get(id(py)) == 1 and readers.get(id(x)) == 2 \
                and d["stride_h"] == d["stride_w"] == 1 and d["pad_top"] < span \
                and add.args[-1].tensor.shape == x.shape:
            params.update(has_add=1, residual_first=int(_reads(add)[0] is x),
                          add=dict(add.params, bc=dict(add.params["bc"], flat_size=out_c)))
            scratch += out_c
            macs += add.macs
            fused = steps
            y = add.args[-1].tensor.storage()
    args = [Arg.input(x), Arg.output(y)]
    for role, call in zip(("expand", "dw", "project"), (expand, dw, project)):
        args += [Arg.constant(f"{role}_{a.const_name}", a.const)   # filter, bias, mult, shift
                 for a in call.args[1:5]]
    call = KernelCall(FN, PARAMS, params, args, scratch_bytes=scratch, macs=macs)
    first = fused[0]
    return Op(type="INVERTED_RESIDUAL", inputs=[x], outputs=[y],
              attrs=dict(ops=[op.index for op in fused]), index=first.index,
              kernel={"calls": [call], "streamed": fused,
                      "over_input": bool(params["has_add"])})


def stream_blocks(graph: Graph, schedule: list[Op], fast: bool = False,
                  fast_above: int | None = None) -> list[Op]:
    """The schedule with every inverted residual block after the patch stage (if any)
    replaced by one streamed step (see the module docstring). A block with layers on fast
    kernels is streamed with `fast`, or when one of its layers needs more than `fast_above`
    bytes (input + output)."""
    start = max((s + 1 for s, op in enumerate(schedule) if op.type == "PATCH_COPY"), default=0)
    readers = _readers(graph, schedule)
    out, s = list(schedule[:start]), start
    while s < len(schedule):
        block = None
        for n in (4, 3):
            if s + n <= len(schedule) and [op.type for op in schedule[s:s + 3]] == \
                    ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"] \
                    and (n == 3 or schedule[s + 3].type == "ADD"):
                block = _block(graph, schedule[s:s + n], readers, fast, fast_above)
                if block is not None:
                    break
        if block is None:
            out.append(schedule[s])
            s += 1
            continue
        out.append(block)
        s += len(block.kernel["streamed"])
    return out


def unstreamed(op: Op) -> list[Op]:
    """The layers a streamed step runs (the op itself otherwise)."""
    return op.kernel.get("streamed", [op])

