"""Arena planner invariants: no two buffers live at the same time share a byte, everything
is inside the arena, and the arena is never below the lower bound."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_MODEL_NAMES, shared_model
from mcucompile.backend.registry import IN_PLACE_LAYER, spec_of
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes
from mcucompile.planner import check_plan, plan_memory
from mcucompile.planner.arena import Buffer, MemoryPlan, _ORDERINGS, _place


@pytest.mark.parametrize("seed", range(40))
def test_random_lifetimes_never_overlap(seed):
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(2, 30))
    buffers = []
    for i in range(int(rng.integers(1, 40))):
        start = int(rng.integers(0, steps))
        end = int(rng.integers(start, steps))
        buffers.append(Buffer(f"b{i}", int(rng.integers(1, 500)) * 8, start, end))
    lower = max(sum(b.size for b in buffers if b.start <= s <= b.end) for s in range(steps))
    for key in _ORDERINGS.values():
        size = _place(buffers, sorted(buffers, key=key))
        plan = MemoryPlan(schedule=[], buffers=buffers, arena_bytes=size,
                          lower_bound_bytes=lower, strategy="t")
        check_plan(plan)
        assert size >= lower


def test_overlap_is_detected():
    a, b = Buffer("a", 16, 0, 2, offset=0), Buffer("b", 16, 1, 3, offset=8)
    with pytest.raises(AssertionError, match="overlap"):
        check_plan(MemoryPlan([], [a, b], 32, 32, "t"))


@pytest.mark.parametrize("name", SHARED_MODEL_NAMES)
def test_shared_models_meet_lower_bound(name):
    plan = plan_memory(run_passes(load_model(shared_model(name))))
    check_plan(plan)
    assert plan.arena_bytes == plan.lower_bound_bytes


# ----------------------------------------------------------- random graphs, in-place layers

def _random_graph(seed: int):
    """A random DAG of depthwise (stride 1/2), pointwise (expand/project), full convolutions
    and same-shape ADDs over int8 [1, H, W, C] tensors, with portable kernel calls."""
    from mcucompile.ir import Graph, Op, OpKernel, Tensor
    from mcucompile.passes.kernel_call import Arg, KernelCall

    rng = np.random.default_rng(seed)
    n = 0

    def tensor(h, w, c):
        nonlocal n
        n += 1
        return Tensor(f"t{n}", (1, h, w, c), "int8")

    def const():
        return Arg.constant("w", np.zeros(1, np.int8))

    x = tensor(int(rng.integers(4, 17)), int(rng.integers(4, 17)), int(rng.integers(1, 9)))
    live, ops = [x], []
    for i in range(int(rng.integers(2, 25))):
        a = live[int(rng.integers(len(live)))]
        _, h, w, c = a.shape
        kind = rng.choice(["dw", "pw", "conv", "add"])
        same = [t for t in live if t is not a and t.shape == a.shape]
        if kind == "add" and same:
            y = tensor(h, w, c)
            call = KernelCall("mcuc_add_s8", None, {"bc": {"flat_size": y.size}},
                              [Arg.input(a), Arg.input(same[0]), Arg.output(y)])
            ops.append(Op("ADD", [a, same[0]], [y], index=i, kernel=OpKernel(calls=[call])))
        else:
            k = 3 if kind != "pw" else 1
            s = int(rng.integers(1, 3)) if kind == "dw" else 1
            oc = c if kind == "dw" else int(rng.integers(1, 13))
            oh, ow = (h + s - 1) // s, (w + s - 1) // s
            y = tensor(oh, ow, oc)
            p = dict(batches=1, in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc,
                     k_h=k, k_w=k, stride_h=s, stride_w=s, dil_h=1, dil_w=1,
                     pad_top=k // 2, pad_left=k // 2, depth_multiplier=1)
            fn = "mcuc_depthwise_conv_s8" if kind == "dw" else "mcuc_conv_s8"
            call = KernelCall(fn, None, p, [Arg.input(a), const(), const(), const(), const(),
                                            Arg.output(y)], macs=y.size * k * k)
            ops.append(Op("DEPTHWISE_CONV_2D" if kind == "dw" else "CONV_2D", [a], [y],
                          index=i, kernel=OpKernel(calls=[call])))
        live.append(y)
        if rng.random() < 0.5:           # retire a tensor: no later op reads it
            live.remove(live[int(rng.integers(len(live)))])
    outputs = [ops[-1].outputs[0]] + ([live[0]] if rng.random() < 0.3 and
                                      live[0] is not ops[-1].outputs[0] else [])
    tensors = [x] + [o.outputs[0] for o in ops]
    return Graph("random", tensors, ops, [x], outputs, source="random")


@pytest.mark.parametrize("seed", range(60))
def test_random_graphs_with_in_place_layers(seed):
    from mcucompile.planner import plan_schedule
    graph = _random_graph(seed)
    plan = plan_memory(graph)
    check_plan(plan)
    assert plan.arena_bytes >= plan.lower_bound_bytes
    plain = plan_schedule(graph, plan.schedule, in_place=False)
    assert plan.arena_bytes <= max(plain.arena_bytes, plain.lower_bound_bytes)
    for step, op in enumerate(plan.schedule):
        if spec_of(op.kernel.calls[0]).has(IN_PLACE_LAYER):
            # the output starts where the input does, fits in its buffer, and the input
            # buffer (with every tensor sharing it) is read by nothing after this step
            x, y = op.inputs[0], op.outputs[0]
            assert plan.offset_of(x) == plan.offset_of(y)
            assert y.nbytes <= x.nbytes
            for later in plan.schedule[step + 1:]:
                for t in later.inputs:
                    if t is not None and plan.storage(t) is plan.storage(x):
                        assert plan.storage(t) is plan.storage(y) and any(
                            t is o.outputs[0] for o in plan.schedule[step:])


def test_random_graphs_use_in_place_layers():
    used = sum(any(spec_of(o.kernel.calls[0]).has(IN_PLACE_LAYER) for o in plan_memory(
        _random_graph(seed)).schedule) for seed in range(60))
    assert used >= 10


@pytest.mark.parametrize("seed", range(30))
def test_random_pinned_pair_never_overlaps_others(seed):
    """A pinned pair (patches: the split output over the input image) sits at its fixed
    distance and overlaps no other live buffer, under every ordering."""
    from mcucompile.planner.arena import live_profile
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(3, 30))
    buffers = []
    for i in range(int(rng.integers(1, 30))):
        start = int(rng.integers(0, steps))
        buffers.append(Buffer(f"b{i}", int(rng.integers(1, 300)) * 8, start,
                              int(rng.integers(start, steps))))
    x = Buffer("x", int(rng.integers(10, 400)) * 8, 0, int(rng.integers(1, steps)))
    y = Buffer("y", int(rng.integers(1, 200)) * 8, int(rng.integers(0, x.end + 1)), steps - 1)
    buffers += [x, y]
    pins = [(x, y, int(rng.integers(-40, 40)) * 8)]
    lower = max(live_profile(buffers, steps, pins))
    for key in _ORDERINGS.values():
        size = _place(buffers, sorted(buffers, key=key), pins)
        plan = MemoryPlan(schedule=[], buffers=buffers, arena_bytes=size,
                          lower_bound_bytes=lower, strategy="t", pins=pins)
        check_plan(plan)
        assert size >= lower


# ----------------------------------------------------------- random chains of streamed blocks

def _random_blocks(seed: int):
    """A chain of MobileNetV2-style blocks (1x1 expand -> depthwise 3x3 stride 1/2 -> 1x1
    project [-> ADD of the block input]) with random sizes; sometimes a block input is also
    read by a later 1x1 convolution, which must keep it from being streamed over."""
    from mcucompile.ir import Graph, Op, OpKernel, Tensor
    from mcucompile.passes.kernel_call import Arg, KernelCall

    rng = np.random.default_rng(seed)
    tensors, ops = [], []

    def tensor(h, w, c):
        t = Tensor(f"t{len(tensors)}", (1, h, w, c), "int8")
        tensors.append(t)
        return t

    def layer(kind, a, oc, k=1, s=1):
        _, h, w, c = a.shape
        oh, ow = (h + s - 1) // s, (w + s - 1) // s
        y = tensor(oh, ow, oc)
        p = dict(batches=1, in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=k,
                 k_w=k, stride_h=s, stride_w=s, dil_h=1, dil_w=1, pad_top=k // 2,
                 pad_left=k // 2, depth_multiplier=1)
        fn = "mcuc_depthwise_conv_s8" if kind == "dw" else "mcuc_conv_s8"
        consts = [Arg.constant(n, np.zeros(1, np.int8)) for n in ("w", "b", "m", "s")]
        call = KernelCall(fn, None, p, [Arg.input(a), *consts, Arg.output(y)], macs=y.size * k * k)
        ops.append(Op("DEPTHWISE_CONV_2D" if kind == "dw" else "CONV_2D", [a], [y],
                      index=len(ops), kernel=OpKernel(calls=[call])))
        return y

    def add(a, b):
        y = tensor(*a.shape[1:])
        call = KernelCall("mcuc_add_s8", None, {"bc": {"flat_size": y.size}},
                          [Arg.input(a), Arg.input(b), Arg.output(y)])
        ops.append(Op("ADD", [a, b], [y], index=len(ops), kernel=OpKernel(calls=[call])))
        return y

    x = tensor(int(rng.integers(4, 20)), int(rng.integers(4, 20)), int(rng.integers(2, 9)))
    graph_input, pending = x, []
    for _ in range(int(rng.integers(1, 6))):
        c = x.shape[3]
        s = int(rng.integers(1, 3))
        e = layer("pw", x, c * int(rng.integers(2, 7)))
        d = layer("dw", e, e.shape[3], k=3, s=s)
        residual = s == 1 and rng.random() < 0.7
        y = layer("pw", d, c if residual else int(rng.integers(2, 13)))
        if rng.random() < 0.25:
            pending.append(x)           # read again after the block
        if residual:
            y = add(x, y) if rng.random() < 0.5 else add(y, x)
        x = y
        for t in [t for t in pending if t.shape[1:3] == x.shape[1:3]]:
            x = add(x, layer("pw", t, x.shape[3]))
            pending.remove(t)
    outputs = [x] + pending[:1]
    return Graph("blocks", tensors, ops, [graph_input], outputs, source="blocks")


@pytest.mark.parametrize("seed", range(40))
def test_random_streamed_blocks(seed):
    """Streaming never overlaps live buffers, never raises the arena, writes a residual block
    over its input only when nothing reads that input later, and hides only tensors no other
    step reads."""
    from mcucompile.planner import plan_schedule
    from mcucompile.planner.streaming import Streaming
    graph = _random_blocks(seed)
    order = [op for op in graph.ops]
    plain = plan_schedule(graph, order)
    plan = plan_schedule(graph, order, stream=Streaming())
    check_plan(plan)
    assert plan.arena_bytes <= plain.arena_bytes
    visible = {id(t) for op in plan.schedule for t in op.inputs + op.outputs if t is not None}
    for step, op in enumerate(plan.schedule):
        if op.type != "INVERTED_RESIDUAL":
            continue
        hidden = [t for layer in op.kernel.streamed for t in layer.outputs][:-1]
        assert not any(id(t) in visible for t in hidden)
        x, y = op.inputs[0], op.outputs[0]
        if op.kernel.calls[0].params["has_add"] and any(op is o for o in plan.in_place):
            assert plan.offset_of(x) == plan.offset_of(y) and x.shape == y.shape
            assert not any(t is x for later in plan.schedule[step + 1:] for t in later.inputs)
            assert x not in graph.outputs


def test_random_blocks_are_streamed():
    from mcucompile.planner import plan_schedule
    from mcucompile.planner.streaming import Streaming
    streamed = residual = 0
    for seed in range(40):
        graph = _random_blocks(seed)
        for op in plan_schedule(graph, list(graph.ops), stream=Streaming()).schedule:
            if op.type == "INVERTED_RESIDUAL":
                streamed += 1
                residual += op.kernel.calls[0].params["has_add"]
    assert streamed >= 40 and residual >= 15
