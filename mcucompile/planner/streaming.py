"""Row-streamed inverted residual blocks: MobileNetV2's expand -> depthwise -> project
[-> ADD] run as one kernel (runtime_c/src/conv/inverted_residual_s8.c) that never holds the
expanded tensor or the depthwise output in full, only a ring of expanded rows. (The same
kernel runs any 1x1 -> depthwise -> 1x1 chain, e.g. MobileNetV1's.)

Why: after a patch-based first stage, the peak of a MobileNetV2 sits in the next residual
block, where the block input (kept for the ADD) and the expanded tensor (6x wider) are live
together. Streamed, the block needs its input + (k_h rows of the expanded tensor) + a few
bytes per pixel; e.g. MobileNetV2 0.35 at 144x144, block 2: 72,576 -> 15,608 bytes. No MAC is
computed twice (the ring keeps the rows the next output rows read again); the price is speed
on fast-kernel boards: the depthwise part is portable C. The 1x1 layers run DSP/Helium
kernels generated for one row (`Streaming.row_kernels`) where the board has them and their
larger scratch (a row of depthwise output and of projection) does not grow the arena, else
the portable kernel. So, like the in-place layers, a block whose layers run fast kernels is
only streamed when memory demands it (`fast`, or `fast_above` for the blocks whose layers
are wider than that); the plain-C kernels of cores without DSP count as portable (_runs_fast).

Algorithm: scan the schedule for four (or three) consecutive steps
  CONV_2D 1x1 stride 1 (expand, input X) -> DEPTHWISE_CONV_2D, depth multiplier 1 ->
  CONV_2D 1x1 stride 1 (project) [-> ADD(project output, X)]
where each intermediate tensor is read by the next step only, and replace them by one step.
The schedule with the streamed steps is kept only if it packs smaller than the one without
(arena.plan_schedule): with a narrow expansion, the in-place layers can do better.
A residual block (the ADD reads X, which dies there) writes its output over X, since X
and the output have the same shape (unless X is the graph input's buffer and the output a
graph output: arena.py keeps those apart); without the ADD the output gets a buffer of its
own.
Part of patch-based planning (`--patch auto|NxN@L`); `--patch off` keeps layer-by-layer
execution.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from ..backend.registry import STREAMABLE, irb_span, scratch_bytes, spec_of
from ..ir import Graph, Op, OpKernel, Tensor
from ..passes.kernel_call import Arg, GeneratedKernel, KernelCall, layer_fn

FN = "mcuc_inverted_residual_s8"
PARAMS = "mcuc_inverted_residual_params"
MAX_TAPS = 25     # MCUC_IRB_MAX_TAPS in runtime_c/src/conv/inverted_residual.h
ROWS_SIGNATURE = ("void {fn}(const mcuc_inverted_residual_params *p, const int8_t *input, "
                  "int8_t *output, const void *e_w, const int32_t *e_q, "
                  "const int8_t *d_filter, const int32_t *d_bias, const int32_t *d_mult, "
                  "const int32_t *d_shift, const void *p_w, const int32_t *p_q, "
                  "int8_t *scratch)")


@dataclass(frozen=True)
class Streaming:
    """Options: `fast_above`: also stream blocks whose layers run fast kernels where one of
    those layers needs more than that many bytes (input + output); `row_kernels(op, call)`:
    a fast (DSP/Helium) KernelCall for a 1x1 layer's call on one row, or None: with it, a
    streamed block runs its expansion and projection on those, a row at a time."""
    fast_above: int | None = None
    row_kernels: Callable | None = None
    # fast-row calls built per block (the patch search streams the same blocks many times)
    built: dict = field(default_factory=dict, compare=False, repr=False)


def _portable(op: Op) -> KernelCall | None:
    """The op's single portable call (which it may not run: see _runs_fast)."""
    calls = op.kernel.calls
    portable = op.kernel.portable or calls
    if len(calls) != 1 or len(portable) != 1 or len(op.outputs) != 1:
        return None
    return portable[0]


def _runs_fast(op: Op) -> bool:
    """Runs a DSP/Helium kernel. The plain-C kernels of cores without DSP (isa "c",
    passes/kernels_fast.py) count as portable here: a patched plan streams their blocks
    wherever that lowers the arena, as it did before they existed."""
    call = op.kernel.calls[0]
    return call.fn != _portable(op).fn and spec_of(call).isa != "c"


def _streamable(call: KernelCall | None, op_type: str) -> bool:
    return call is not None and spec_of(call).has(STREAMABLE) and op_type in spec_of(call).ops


def _pointwise(call: KernelCall | None) -> bool:
    if not _streamable(call, "CONV_2D"):
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


def _block(steps: list[Op], readers: dict, fast: bool,
           options: Streaming) -> Op | None:
    """The fused op for steps [expand, depthwise, project(, add)], or None."""
    expand, dw, project = (_portable(op) for op in steps[:3])
    if not (_pointwise(expand) and _pointwise(project)) \
            or not _streamable(dw, "DEPTHWISE_CONV_2D"):
        return None
    d = dw.params
    if d["batches"] != 1 or d["depth_multiplier"] != 1 or d["k_h"] * d["k_w"] > MAX_TAPS:
        return None
    x, e, dy, py = (expand.args[0].tensor.storage(), expand.args[-1].tensor.storage(),
                    dw.args[-1].tensor.storage(), project.args[-1].tensor.storage())
    chain = [(dw, e), (project, dy)]
    if any(_reads(call) != [t] or readers.get(id(t)) != 1 for call, t in chain):
        return None
    # layers on fast kernels are kept unless memory demands (fast, fast_above): even with
    # its 1x1 layers on fast rows, a streamed block runs its depthwise layer portable
    widest = max(x.nbytes + e.nbytes, e.nbytes + dy.nbytes)
    if not fast and any(_runs_fast(op) for op in steps[:3]) \
            and (options.fast_above is None or widest <= options.fast_above):
        return None
    span = irb_span(d)
    params = dict(expand=dict(expand.params, in_h=1, out_h=1), dw=dict(d),
                  project=dict(project.params, in_h=1, in_w=1, out_h=1, out_w=1),
                  has_add=0, residual_first=0)
    out_c = project.params["out_c"]
    macs = expand.macs + dw.macs + project.macs
    fused = steps[:3]
    y = py
    if len(steps) == 4:
        add = _portable(steps[3])
        if _streamable(add, "ADD") and add.params["bc"]["flat_size"] \
                and sorted(map(id, _reads(add))) == sorted((id(x), id(py))) \
                and readers.get(id(py)) == 1 and readers.get(id(x)) == 2 \
                and d["stride_h"] == d["stride_w"] == 1 and d["pad_top"] < span \
                and add.args[-1].tensor.shape == x.shape:
            params.update(has_add=1, residual_first=int(_reads(add)[0] is x),
                          add=dict(add.params, bc=dict(add.params["bc"], flat_size=out_c)))
            macs += add.macs
            fused = steps
            y = add.args[-1].tensor.storage()
    args = [Arg.input(x), Arg.output(y)]
    for role, call in zip(("expand", "dw", "project"), (expand, dw, project)):
        args += [Arg.constant(f"{role}_{a.const_name}", a.const)   # filter, bias, mult, shift
                 for a in call.args[1:5]]
    call = KernelCall(FN, PARAMS, params, args, scratch_bytes=scratch_bytes(FN, params),
                      macs=macs)
    first = fused[0]
    rows = None
    if options.row_kernels is not None:
        key = tuple(id(op) for op in fused)
        if key not in options.built:
            options.built[key] = _on_fast_rows(call, fused, expand, project,
                                               options.row_kernels)
        rows = options.built[key]
    return Op(type="INVERTED_RESIDUAL", inputs=[x], outputs=[y],
              attrs=dict(ops=[op.index for op in fused]), index=first.index,
              kernel=OpKernel(calls=[call], streamed=fused, rows=rows,
                              over_input=bool(params["has_add"])))


def on_fast_rows(op: Op) -> Op | None:
    """The streamed step `op` with its 1x1 layers on fast row kernels, if it has them
    (larger scratch: arena.plan_schedule takes it where the arena does not grow)."""
    rows = op.kernel.rows
    if rows is None:
        return None
    return Op(type=op.type, inputs=op.inputs, outputs=op.outputs, attrs=op.attrs,
              index=op.index, kernel=replace(op.kernel, calls=[rows], rows=None))


def stream_blocks(graph: Graph, schedule: list[Op], fast: bool = False,
                  options: Streaming | None = None) -> list[Op]:
    """The schedule with every inverted residual block after the patch stage (if any)
    replaced by one streamed step (see the module docstring). A block with layers on fast
    kernels is streamed with `fast`, or as `options` say."""
    options = options or Streaming()
    start = max((s + 1 for s, op in enumerate(schedule) if op.type == "PATCH_COPY"), default=0)
    readers = _readers(graph, schedule)
    out, s = list(schedule[:start]), start
    while s < len(schedule):
        block = None
        for n in (4, 3):
            if s + n <= len(schedule) and [op.type for op in schedule[s:s + 3]] == \
                    ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"] \
                    and (n == 3 or schedule[s + 3].type == "ADD"):
                block = _block(schedule[s:s + n], readers, fast, options)
                if block is not None:
                    break
        if block is None:
            out.append(schedule[s])
            s += 1
            continue
        out.append(block)
        s += len(block.kernel.streamed)
    return out


def unstreamed(op: Op) -> list[Op]:
    """The layers a streamed step runs (the op itself otherwise)."""
    return op.kernel.streamed or [op]



def _row_op(op: Op) -> Op:
    """A stand-in for `op` whose generated kernels are named for one row of it."""
    return Op(type=op.type, inputs=op.inputs, outputs=op.outputs, attrs=op.attrs,
              index=op.index, kernel=OpKernel(tag="_row"))


def _on_fast_rows(call: KernelCall, fused: list[Op], expand: KernelCall, project: KernelCall,
                  row_kernels) -> KernelCall | None:
    """The streamed block with its 1x1 layers on fast kernels generated for one row
    (templates/kernels/inverted_residual_rows.c.j2): the expansion of each input row, and
    the projection (and ADD) of each depthwise output row at once. None if either layer has
    no such kernel. Scratch: the 1x1 kernels' own, the ring, one depthwise output row and,
    for a residual block, one projected row."""
    p = call.params
    d, out_c = p["dw"], project.params["out_c"]
    e_row = KernelCall(expand.fn, expand.params_type, dict(expand.params, in_h=1, out_h=1),
                       expand.args, macs=expand.macs // max(d["in_h"], 1))
    p_row = KernelCall(project.fn, project.params_type,
                       dict(project.params, in_h=1, out_h=1, in_w=d["out_w"], out_w=d["out_w"]),
                       project.args, macs=project.macs // max(d["out_h"], 1))
    e_fast, p_fast = row_kernels(_row_op(fused[0]), e_row), row_kernels(_row_op(fused[2]), p_row)
    if any(f is None or f.generated is None or len(f.args) != 4 for f in (e_fast, p_fast)):
        return None
    kernel_scratch = -(-max(e_fast.scratch_bytes, p_fast.scratch_bytes) // 8) * 8
    span = irb_span(d)
    row_out = d["out_w"] * out_c
    scratch = kernel_scratch + span * d["in_w"] * d["in_c"] + d["out_w"] * d["in_c"]
    params = dict(p)
    if p["has_add"]:
        scratch += row_out
        params["add"] = dict(p["add"], bc=dict(p["add"]["bc"], flat_size=row_out))
    fn = layer_fn("mcuc_inverted_residual_rows", fused[0])
    prototype = ROWS_SIGNATURE.format(fn=fn)
    context = dict(fn=fn, prototype=prototype, ops=", ".join(str(op.index) for op in fused),
                   expand_fn=e_fast.fn, expand_proto=e_fast.generated.prototype,
                   project_fn=p_fast.fn, project_proto=p_fast.generated.prototype,
                   expand_scratch=bool(e_fast.scratch_bytes),
                   project_scratch=bool(p_fast.scratch_bytes),
                   in_c=expand.params["in_c"], out_c=out_c, kernel_scratch=kernel_scratch,
                   has_add=p["has_add"], residual_first=p["residual_first"])
    x, y, *consts = call.args
    args = [x, y, Arg.constant("expand_w", e_fast.args[1].const),
            Arg.constant("expand_q", e_fast.args[2].const), *consts[4:8],
            Arg.constant("project_w", p_fast.args[1].const),
            Arg.constant("project_q", p_fast.args[2].const)]
    return KernelCall(fn, PARAMS, params, args, scratch_bytes=scratch, macs=call.macs,
                      generated=GeneratedKernel("kernels/inverted_residual_rows.c.j2", context,
                                                prototype + ";", ("conv/inverted_residual.h",)),
                      uses=[e_fast, p_fast])
