"""In-place depthwise convolution: the output overwrites the input through a per-channel
scratch plane. Bit-exact with TFLM on the host (several shapes, strides, paddings, dilation,
batches) and in QEMU on MobileNetV2; the planner takes it where it lowers the arena and keeps
fast DSP kernels unless the SRAM budget needs the in-place one."""
from __future__ import annotations

import pytest

import modelgen
from conftest import assert_bit_exact, write_model
from mcucompile.api import plan_model, simulate
from mcucompile.backend.registry import base_name

# Each layer after a 3x3 stem: a layer whose input is the graph input and whose output is
# the graph output never runs in place (the application writes the next input while it may
# still read the last output; see planner/arena.py).
CASES = {
    "3x3_s1_same": lambda: modelgen.depthwise_conv2d((1, 9, 9, 5), (3, 3), (1, 1), "same",
                                                     stem=True),
    "3x3_s2_valid_relu6": lambda: modelgen.depthwise_conv2d((1, 11, 11, 3), (3, 3), (2, 2),
                                                            "valid", activation="relu6",
                                                            stem=True),
    "5x5_s2_same": lambda: modelgen.depthwise_conv2d((1, 10, 10, 4), (5, 5), (2, 2), "same",
                                                     activation="relu", stem=True),
    "3x3_s2_same_even": lambda: modelgen.depthwise_conv2d((1, 8, 12, 6), (3, 3), (2, 2), "same",
                                                          stem=True),
    "per_tensor": lambda: modelgen.depthwise_conv2d((1, 8, 8, 4), (3, 3), (1, 1), "same",
                                                    per_channel=False, stem=True),
    "dilated": lambda: modelgen.depthwise_conv2d((1, 12, 12, 3), (3, 3), (1, 1), "same",
                                                 dilation=(2, 2), stem=True),
    "batch2_s2": lambda: modelgen.depthwise_conv2d((2, 7, 9, 3), (3, 3), (2, 2), "same",
                                                   stem=True),
}


def _in_place_fns(plan):
    return [c.fn for op in plan.in_place for c in op.kernel.calls]


@pytest.mark.parametrize("kernels", ["portable", "auto"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_in_place_depthwise_bit_exact_on_host(case, kernels, tmp_path):
    """The portable in-place kernel, and on the host's default kernels the plain-C fast
    kernel's in-place twin (passes/kernels_fast.py; not for dilation, which it does not
    take)."""
    path = write_model(tmp_path, CASES[case](), case)
    graph, plan = plan_model(path, "host", kernels=kernels)
    fast = kernels == "auto" and case != "dilated"
    assert (f"mcuc_depthwise_conv_s8{'_fast' if fast else ''}_inplace"
            in {base_name(fn) for fn in _in_place_fns(plan)})
    step = next(s for s, op in enumerate(plan.schedule) if op.type == "DEPTHWISE_CONV_2D")
    x = plan.schedule[step].inputs[0]
    scratch = [b for b in plan.buffers if b.tensor is None]
    # at that step: one buffer for input and output, plus one output plane of scratch
    live = sum(b.size for b in plan.live_at(step))
    assert live <= -(-x.nbytes // 8) * 8 + -(-scratch[0].size // 8) * 8
    assert_bit_exact(simulate(path, "host", count=3, sanitize=True, kernels=kernels,
                              out_dir=tmp_path / "prj"))


@pytest.mark.parametrize("kernels", ["portable", "auto"])
@pytest.mark.parametrize("shape,filters", [((1, 6, 7, 8), 4), ((2, 5, 5, 6), 6)])
def test_in_place_pointwise_projection_bit_exact(shape, filters, kernels, tmp_path):
    path = write_model(tmp_path, modelgen.conv2d(shape, filters, (1, 1), (1, 1), "same",
                                                 activation="relu6", stem=True), "pw")
    _, plan = plan_model(path, "host", kernels=kernels)
    fast = "_fast" if kernels == "auto" else ""
    assert f"mcuc_conv_s8{fast}_inplace" in {base_name(fn) for fn in _in_place_fns(plan)}
    assert_bit_exact(simulate(path, "host", count=3, sanitize=True, kernels=kernels,
                              out_dir=tmp_path / "prj"))


@pytest.mark.slow
def test_patched_mobilenet_144_host(tmp_path):
    """Patches + in-place layers + the split output overlapping the input image."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 144), "mnv2_144")
    report = simulate(path, "host", count=1, seed=7, patch="auto", out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.arena_bytes * 4 <= 311_040        # the layer-by-layer lower bound
    assert report.extra_macs_pct <= 20


def test_depth_multiplier_2_is_not_in_place(tmp_path):
    path = write_model(tmp_path, modelgen.depthwise_conv2d((1, 8, 8, 3), (3, 3), (1, 1), "same",
                                                           depth_multiplier=2), "dm2")
    _, plan = plan_model(path, "host")
    assert "mcuc_depthwise_conv_s8_inplace" not in _in_place_fns(plan)


def test_fast_kernels_kept_unless_budget_needs_in_place(tmp_path):
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 96), "mnv2")
    _, fast = plan_model(path, "mps2-an386", sram=1 << 20)     # room for fast scratch
    assert "mcuc_depthwise_conv_s8_inplace" not in _in_place_fns(fast)
    # below the layer-by-layer bound (138,240) without patches: only in-place layers fit
    _, tight = plan_model(path, "mps2-an386", sram=130_000, patch="off")
    assert "mcuc_depthwise_conv_s8_inplace" in _in_place_fns(tight)
    assert tight.arena_bytes <= 130_000 < fast.arena_bytes


@pytest.mark.slow
def test_mobilenet_in_place_qemu(tmp_path):
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 96), "mnv2")
    report = simulate(path, "mps2-an386", count=1, seed=5, kernels="portable",
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    _, plan = plan_model(path, "mps2-an386", kernels="portable")
    assert _in_place_fns(plan).count("mcuc_depthwise_conv_s8_inplace") >= 10
    assert plan.arena_bytes < 138_240          # the layer-by-layer lower bound
