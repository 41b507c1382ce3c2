"""Row-streamed inverted residual blocks (planner/streaming.py, inverted_residual_s8.c):
expand -> depthwise -> project [-> ADD] as one kernel with a ring of expanded rows. Bit-exact
with TFLM for strides, paddings, dilation, both ADD operand orders, with and without the
residual; taken only with patch-based planning and only where it lowers the arena; fast
kernels kept unless the budget needs the streamed block."""
from __future__ import annotations

import pytest

import modelgen
from conftest import assert_bit_exact, write_model
from mcucompile.api import plan_model, simulate
from mcucompile.planner import check_plan
from mcucompile.planner.streaming import FN

CASES = {
    "residual": dict(),
    "residual_second": dict(residual_first=False),
    "residual_5x5": dict(kernel=(5, 5), in_shape=(1, 9, 10, 8)),
    "stride2_same": dict(in_shape=(1, 11, 11, 8), out_c=16, strides=(2, 2), residual=False),
    "stride2_even": dict(in_shape=(1, 12, 10, 4), out_c=8, strides=(2, 2), residual=False),
    "valid_dilated": dict(in_shape=(1, 13, 12, 4), kernel=(3, 3), padding="valid",
                          dilation=(2, 2), residual=False),
    "input_read_later": dict(extra_reader=True),
}


def _streamed(plan):
    return [op for op in plan.schedule if op.type == "INVERTED_RESIDUAL"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_streamed_block_bit_exact_on_host(case, tmp_path):
    path = write_model(tmp_path, modelgen.inverted_residual(**CASES[case]), case)
    _, layered = plan_model(path, "host")
    # no MACs to spare for patches: streaming alone (it computes no MAC twice)
    graph, plan = plan_model(path, "host", patch="auto", max_overhead=0)
    check_plan(plan)
    blocks = _streamed(plan)
    assert len(blocks) == 1 and plan.patch is None
    call = blocks[0].kernel["calls"][0]
    assert call.fn == FN
    residual = CASES[case].get("residual", True) and not CASES[case].get("extra_reader")
    assert call.params["has_add"] == int(residual)
    assert blocks[0].attrs["ops"] == [op.index for op in graph.ops[1:(5 if residual else 4)]]
    if residual:
        assert call.params["residual_first"] == int(CASES[case].get("residual_first", True))
    # the expanded tensor (the widest) is never held in full
    expanded = graph.ops[1].outputs[0].nbytes
    assert plan.arena_bytes < layered.arena_bytes
    assert plan.arena_bytes < expanded + graph.ops[1].inputs[0].nbytes
    assert plan.extra_macs_pct == 0
    assert_bit_exact(simulate(path, "host", count=3, sanitize=True, patch="auto",
                              max_overhead=0, out_dir=tmp_path / "prj"))


def test_residual_block_writes_over_its_input(tmp_path):
    path = write_model(tmp_path, modelgen.inverted_residual(in_shape=(1, 16, 16, 8)), "ir")
    graph, plan = plan_model(path, "host", patch="auto", max_overhead=0)
    block = _streamed(plan)[0]
    x, y = block.inputs[0], block.outputs[0]
    assert plan.offset_of(x) == plan.offset_of(y)
    # input/output + ring of 3 expanded rows + one depthwise pixel + one projected pixel
    ring = 3 * 16 * 24 + 24 + 8
    assert block.kernel["calls"][0].scratch_bytes == ring
    assert plan.arena_bytes <= 16 * 16 * 8 + ring + 8


def test_patch_off_keeps_layer_by_layer(tmp_path):
    path = write_model(tmp_path, modelgen.inverted_residual(), "ir")
    _, plan = plan_model(path, "host")
    assert not _streamed(plan)


def test_fast_kernels_kept_unless_budget_needs_streaming(tmp_path):
    path = write_model(tmp_path, modelgen.inverted_residual(in_shape=(1, 16, 16, 8)), "ir")
    _, fast = plan_model(path, "mps2-an386", patch="auto")
    assert not _streamed(fast)                  # fits the board: DSP kernels, no streaming


@pytest.fixture(scope="module")
def mobilenet_96(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("mnv2"), modelgen.mobilenet_v2(0.35, 96), "mnv2")


def test_tight_budget_streams_only_what_it_must_m4(mobilenet_96, tmp_path):
    """32,832 bytes was the best plan before streaming; under 31,000 the blocks after the
    patch stage must stream, while the tiles and the narrow layers keep DSP kernels."""
    _, plan = plan_model(mobilenet_96, "mps2-an386", patch="auto", sram=31_000)
    assert plan.patch is not None and _streamed(plan) and plan.arena_bytes <= 31_000
    fns = {c.fn for op in plan.schedule for c in op.kernel["calls"]}
    assert any("_dsp" in fn for fn in fns)
    report = simulate(mobilenet_96, "mps2-an386", count=1, seed=2, patch="auto", sram=31_000,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.arena_bytes <= 31_000


def test_patched_mobilenet_streams_tail_m3(mobilenet_96, tmp_path):
    """Patch stage + streamed blocks after it on a Cortex-M3 (portable kernels)."""
    path = mobilenet_96
    _, plan = plan_model(path, "mps2-an385", patch="auto", sram=32_000)
    assert plan.patch is not None and len(_streamed(plan)) >= 10
    report = simulate(path, "mps2-an385", count=1, seed=2, patch="auto", sram=32_000,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.arena_bytes <= 32_000
