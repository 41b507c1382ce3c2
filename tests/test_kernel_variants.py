"""The fast kernels' choices (kernels_dsp / kernels_mve builders with `weights` and
`scratch_budget`): int8-weight DSP kernels and scratch-bounded tilings (GEMM blocks of one
im2col pixel, or none for layers read in place, depthwise bands of one row and strips of
two columns, Helium plane chunks of 4 channels), each forced on every layer it takes and
checked bit-exact with TFLM in QEMU; on the host, that every builder honours its budget with
the scratch its formula says; and that the search takes the one-pixel and direct GEMMs
where its scratch limit leaves no room for wider blocks."""
from __future__ import annotations

import numpy as np
import pytest

import modelgen
import onnx_modelgen as og
from mcucompile.api import load_vectors, plan_model
from mcucompile.boards import get_board
from mcucompile.build import build_project
from mcucompile.codegen import generate
from mcucompile.frontend import load_model
from mcucompile.passes import kernels_dsp, kernels_mve, run_passes
from mcucompile.planner import check_plan, plan_schedule
from mcucompile.reference import reference_outputs
from mcucompile.simulate import run_vectors

MODULES = {"dsp": kernels_dsp, "mve": kernels_mve}
AMPLE = 1 << 20     # a scratch budget every layer here fits with its fastest tiling
# name -> (model bytes, file suffix, conv / depthwise / FC layers in it)
MODELS = {
    # odd in_c (3), SAME/VALID, stride 1/2, 3x3/1x1/5x5 depthwise, FC; 143, 30 and 9 pixels
    # (int8 weights: the last 3, 2 and 1 pixels of a layer)
    "chain_c3": (lambda: modelgen.kernel_chain(in_shape=(1, 11, 13, 3)), ".tflite", 7),
    # one input channel, odd sizes, channels whose requantisation shifts differ
    "chain_c1_mixed_shifts": (lambda: modelgen.kernel_chain(in_shape=(1, 13, 9, 1),
                                                            big_channel=True), ".tflite", 7),
    # DSP GEMM one pixel / direct: K % 4 = 3, 2, 1; > 16 words; no aligned runs; dilation;
    # FC on 30 pixels; out_c 13, 10, 70, 9, 11, 6, 5 (not multiples of 8)
    "gemm_chain": (lambda: modelgen.gemm_chain(), ".tflite", 7),
    # ONNX: onnxruntime's float requantisation in the same kernels (*_fpreq)
    "onnx_mobilenet_v2": (lambda: og.quantized("mobilenet_v2", "QDQ", True), ".onnx", 12),
}


def _graph(tmp_path, name):
    make, suffix, _ = MODELS[name]
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(make())
    return path


def _portable(path, board):
    return run_passes(load_model(path), get_board(board), "portable")


def _force(graph, module, weights, minimal):
    """Every call the module has a builder for -> its variant with `weights`, with the
    scratch budget = the least its kernel can run in when `minimal`, else ample (its
    fastest tiling). The variants made."""
    made = []
    for op in graph.ops:
        calls = op.kernel.calls or []
        for i, call in enumerate(calls):
            builder = module.BUILDERS.get(call.fn)
            if builder is None:
                continue
            budget = AMPLE
            if minimal:
                least = module.minimum_variant(call, weights)
                budget = module.scratch_bytes(call, least) if least else None
            new = builder(op, call, weights=weights, scratch_budget=budget)
            if new is not None:
                if minimal:
                    assert new.scratch_bytes == budget, (op.index, new.variant)
                calls[i] = new
                made.append(new.variant)
    return made


def _run_bit_exact(path, graph, board, tmp_path):
    b = get_board(board)
    plan = plan_schedule(graph, [op for op in graph.ops if not op.is_alias])
    check_plan(plan)
    project = generate(graph, plan, tmp_path / "prj", b)
    exe = build_project(project.out_dir, b)
    vectors = load_vectors(graph, None, 2, 5)
    run = run_vectors(exe, b, vectors, project.output_bytes)
    assert np.array_equal(run.outputs, reference_outputs(path.read_bytes(), graph, vectors))


# (board, builders, weights, minimal scratch)
RUNS = [
    ("mps2-an386", "dsp", "int8", False),
    ("mps2-an500", "dsp", "int8", False),
    ("mps3-an547", "dsp", "int8", False),     # the M55 runs DSP kernels where Helium has none
    ("mps2-an386", "dsp", "int8", True),
    ("mps2-an386", "dsp", "int16", True),
    ("mps2-an500", "dsp", "int8", True),
    ("mps2-an500", "dsp", "int16", True),
    ("mps3-an547", "mve", "int8", True),
]


@pytest.mark.parametrize("board,module,weights,minimal,model", [
    run + (model,) for run in RUNS for model in sorted(MODELS)
    if not (run[1] == "mve" and model.startswith("onnx"))])   # (no Helium fpreq kernels)
def test_forced_variant_bit_exact(model, board, module, weights, minimal, tmp_path):
    path = _graph(tmp_path, model)
    graph = _portable(path, board)
    made = _force(graph, MODULES[module], weights, minimal)
    # every conv, depthwise and FC layer took the variant
    assert len(made) == MODELS[model][2] and all(v.weights == weights for v in made), made
    if minimal and module == "dsp":
        assert {v.pixels for v in made if v.pixels} == {1}     # one im2col pixel, or direct
        assert any(v.direct for v in made) and any(not v.direct for v in made if v.pixels)
        assert any(v.strip == 2 for v in made) or not any(v.band for v in made), made
    elif module == "dsp":
        assert 4 in {v.pixels for v in made}, made    # int8: 2 channels x 4 pixels
    _run_bit_exact(path, graph, board, tmp_path)


def test_mixed_shift_model_has_mixed_shifts(tmp_path):
    """The mixed-shift case really has layers whose channels shift left by different
    amounts: int8-weight GEMMs then read the shift per record, depthwise groups split."""
    graph = _portable(_graph(tmp_path, "chain_c1_mixed_shifts"), "mps2-an386")
    mixed = {c.fn for op in graph.ops for c in op.kernel.calls or []
             if c.fn in ("mcuc_conv_s8", "mcuc_depthwise_conv_s8")
             and len(set(np.maximum(c.args[4].const, 0).tolist())) > 1}
    assert mixed == {"mcuc_conv_s8", "mcuc_depthwise_conv_s8"}


@pytest.mark.parametrize("module", sorted(MODULES))
@pytest.mark.parametrize("weights", ["int16", "int8"])
def test_builders_honour_scratch_budget(module, weights, tmp_path):
    """For each layer and a range of budgets: a variant's scratch never exceeds its budget
    and equals scratch_bytes(call, variant); the minimum variant's scratch is the least
    budget that gets a kernel; more budget never gives a slower tiling."""
    mod = MODULES[module]
    graph = _portable(_graph(tmp_path, "chain_c3"), "mps2-an386")
    checked = 0
    for op in graph.ops:
        for call in op.kernel.calls or []:
            if call.fn not in mod.BUILDERS or call.fn.startswith(("mcuc_add", "mcuc_avg")):
                continue
            least = mod.minimum_variant(call, weights)
            if least is None:
                assert mod.BUILDERS[call.fn](op, call, weights=weights) is None
                continue
            low = mod.scratch_bytes(call, least)
            if low:
                assert mod.BUILDERS[call.fn](op, call, weights=weights,
                                             scratch_budget=low - 1) is None
            sizes = []
            for budget in sorted({low, low + 100, 2 * low, 4 * low, 10**6}):
                new = mod.BUILDERS[call.fn](op, call, weights=weights, scratch_budget=budget)
                assert new is not None and new.scratch_bytes <= budget
                assert new.scratch_bytes == mod.scratch_bytes(call, new.variant)
                sizes.append(new.scratch_bytes)
            assert sizes == sorted(sizes)
            checked += 1
    assert checked == (7 if module == "dsp" or weights == "int8" else 0)


def test_int8_weights_halve_the_gemm_constants(tmp_path):
    """int8 GEMM weights take at most half the bytes of the int16 ones (both padded to
    whole pairs of products; int16 to groups of 4 channels, int8 to groups of 2 or 4)."""
    graph = _portable(_graph(tmp_path, "chain_c3"), "mps2-an386")
    for op in graph.ops:
        for call in op.kernel.calls or []:
            if call.fn not in ("mcuc_conv_s8", "mcuc_fully_connected_s8"):
                continue
            w16, w8 = (kernels_dsp.BUILDERS[call.fn](op, call, weights=w) for w in
                       ("int16", "int8"))
            n16, n8 = w16.args[1].const.nbytes, w8.args[1].const.nbytes
            assert w8.args[1].const.dtype == np.int8 and n8 * 2 <= n16, (op.index, n8, n16)


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500"])
def test_one_pixel_and_direct_gemm_with_dead_channels(board, tmp_path):
    """Dead channels (int32 biases near 2^31: the unfolded store, int16 weights) in a direct
    and a one-pixel GEMM, bit-exact."""
    path = tmp_path / "dead.tflite"
    path.write_bytes(modelgen.gemm_chain(dead=(3, 4)))
    graph = _portable(path, board)
    made = _force(graph, kernels_dsp, "int16", True)
    unfolded = [c for op in graph.ops[:2] for c in op.kernel.calls]
    assert [c.fn.split("_op")[0] for c in unfolded] == ["mcuc_conv_s8_dsp_direct",
                                                        "mcuc_conv_s8_dsp_1px"]
    assert all(c.args[2].const.shape[1] == 5 for c in unfolded)     # records end with `left`
    assert len(made) == 7
    _run_bit_exact(path, graph, board, tmp_path)


def _plan_kernels(tmp_path, model: bytes):
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    _, plan = plan_model(path, "mps2-an386")
    return plan, {op.index: c for op in plan.schedule for c in op.kernel.calls}


def test_search_takes_one_pixel_gemm_when_two_do_not_fit(tmp_path):
    """A 3x3 conv at the peak of its model (the layer-wise bound, 9,600 bytes): the search
    leaves it 256 bytes of scratch; a 2-pixel im2col of K = 108 needs 432, one pixel 216."""
    plan, calls = _plan_kernels(tmp_path, modelgen.conv2d(in_shape=(1, 20, 20, 12),
                                                          filters=12, padding="same"))
    conv = calls[0]
    assert conv.fn.startswith("mcuc_conv_s8_dsp_1px") and conv.variant.pixels == 1
    assert conv.scratch_bytes == 216
    assert plan.arena_bytes <= 9600 + 256


def test_search_takes_direct_gemm_for_a_wide_dense_layer(tmp_path):
    """A FULLY_CONNECTED layer of 300 inputs at its model's peak: even one im2col pixel
    (600 bytes) exceeds its 256 bytes, the direct GEMM needs none."""
    plan, calls = _plan_kernels(tmp_path, modelgen.dense(in_features=300, units=40))
    fc = calls[0]
    assert fc.fn.startswith("mcuc_conv_s8_dsp_direct") and fc.variant.direct
    assert fc.scratch_bytes == 0
    _, portable = plan_model(tmp_path / "m.tflite", "mps2-an386", kernels="portable")
    assert plan.arena_bytes == portable.arena_bytes
