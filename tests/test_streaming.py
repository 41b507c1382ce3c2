"""Row-streamed inverted residual blocks (planner/streaming.py, inverted_residual_s8.c):
expand -> depthwise -> project [-> ADD] as one kernel with a ring of expanded rows. Bit-exact
with TFLM for strides, paddings, dilation, both ADD operand orders, with and without the
residual; taken only with patch-based planning and only where it lowers the arena; fast
kernels kept unless the budget needs the streamed block."""
from __future__ import annotations

import numpy as np
import pytest

import modelgen
from conftest import assert_bit_exact, write_model
from mcucompile.api import load_vectors, plan_model, simulate
from mcucompile.boards import get_board
from mcucompile.build import build_project
from mcucompile.codegen import generate
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes
from mcucompile.passes.select_kernels import variant_builders
from mcucompile.planner import check_plan, plan_schedule
from mcucompile.planner.search import _row_kernels
from mcucompile.planner.streaming import FN, Streaming, on_fast_rows, stream_blocks
from mcucompile.reference import reference_outputs
from mcucompile.simulate import run_vectors

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
    # no MACs to spare for patches (a 1x1 stem may still be patched for free): streaming
    # computes no MAC twice
    graph, plan = plan_model(path, "host", patch="auto", max_overhead=0)
    check_plan(plan)
    blocks = _streamed(plan)
    assert len(blocks) == 1
    call = blocks[0].kernel.calls[0]
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


def test_residual_block_output_never_over_the_graph_input(tmp_path):
    """The block output is the graph output: whether or not the block writes over its own
    input, it never takes the graph input's bytes, since the application writes the next
    input while it may still read the last output."""
    path = write_model(tmp_path, modelgen.inverted_residual(in_shape=(1, 16, 16, 8)), "ir")
    graph, plan = plan_model(path, "host", patch="auto", max_overhead=0)
    check_plan(plan)
    block = _streamed(plan)[0]
    y, x0 = block.outputs[0], graph.inputs[0]
    a, b = plan.offset_of(x0), plan.offset_of(x0) + x0.nbytes
    assert y is graph.outputs[0].storage()
    assert plan.offset_of(y) >= b or plan.offset_of(y) + y.nbytes <= a
    # ring of 3 expanded rows + one depthwise pixel + one projected pixel
    ring = 3 * 16 * 24 + 24 + 8
    assert block.kernel.calls[0].scratch_bytes == ring
    assert plan.arena_bytes <= 2 * 16 * 16 * 8 + ring + 8


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
    fns = {c.fn for op in plan.schedule for c in op.kernel.calls}
    assert any("_dsp" in fn for fn in fns)
    # where the arena leaves room, streamed blocks run their 1x1 layers on DSP row kernels
    assert any(op.kernel.calls[0].fn.startswith("mcuc_inverted_residual_rows")
               for op in _streamed(plan))
    report = simulate(mobilenet_96, "mps2-an386", count=1, seed=2, patch="auto", sram=31_000,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.arena_bytes <= 31_000


def test_residual_blocks_write_over_their_input(mobilenet_96):
    _, plan = plan_model(mobilenet_96, "host", patch="auto")
    residual = [op for op in _streamed(plan) if op.kernel.calls[0].params["has_add"]]
    assert len(residual) >= 8
    for op in residual:
        assert any(op is o for o in plan.in_place)
        assert plan.offset_of(op.inputs[0]) == plan.offset_of(op.outputs[0])


def test_patched_mobilenet_streams_tail_m3(mobilenet_96, tmp_path):
    """Patch stage + streamed blocks after it on a Cortex-M3 (portable kernels)."""
    path = mobilenet_96
    _, plan = plan_model(path, "mps2-an385", patch="auto", sram=32_000)
    assert plan.patch is not None and len(_streamed(plan)) >= 10
    report = simulate(path, "mps2-an385", count=1, seed=2, patch="auto", sram=32_000,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.arena_bytes <= 32_000


ROW_CASES = {
    "residual_odd": dict(in_shape=(1, 11, 9, 4), expand=12, out_c=4),
    "residual_second_5x5": dict(in_shape=(1, 9, 7, 6), expand=18, out_c=6, kernel=(5, 5),
                                residual_first=False),
    "stride2_odd": dict(in_shape=(1, 13, 11, 4), expand=12, out_c=8, strides=(2, 2),
                        residual=False),
    # both 1x1 layers with unfolded requantisation records (pack.py): int32-end biases, and
    # left shifts in the projection
    "residual_unfolded": dict(in_shape=(1, 9, 9, 4), expand=12, out_c=4, edges=True),
}


def _row_case_model(case: str) -> bytes:
    kw = dict(ROW_CASES[case])
    model = modelgen.inverted_residual(**{k: v for k, v in kw.items() if k != "edges"})
    if kw.get("edges"):
        model = modelgen.requant_edges(modelgen.requant_edges(model, 1), 3, out_scale=2.0**-12)
    return model


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_streamed_block_on_fast_rows_bit_exact(case, board, tmp_path):
    """The generated kernel with the 1x1 layers on DSP (M4) / Helium (M55) kernels for one
    row, forced on odd sizes (the planner takes it only where the arena has room)."""
    path = write_model(tmp_path, _row_case_model(case), case)
    b = get_board(board)
    graph = run_passes(load_model(path), b)
    options = Streaming(row_kernels=_row_kernels(variant_builders(b)))
    schedule = stream_blocks(graph, [op for op in graph.ops if not op.is_alias], True, options)
    schedule = [on_fast_rows(op) or op for op in schedule]
    block = next(op for op in schedule if op.type == "INVERTED_RESIDUAL")
    assert block.kernel.calls[0].fn.startswith("mcuc_inverted_residual_rows")
    plan = plan_schedule(graph, schedule)
    check_plan(plan)
    project = generate(graph, plan, tmp_path / "prj", b)
    exe = build_project(project.out_dir, b)
    vectors = load_vectors(graph, None, 2, 1)
    run = run_vectors(exe, b, vectors, project.output_bytes)
    assert np.array_equal(run.outputs, reference_outputs(path.read_bytes(), graph, vectors))
