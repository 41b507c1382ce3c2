"""The optimised kernels (Armv7E-M DSP on Cortex-M4/M7, Helium on Cortex-M55), each bit-exact
with TFLM on single-op models covering its shape cases, on every board that selects it; plus
the shared models on those boards, and the selection itself (which kernel a layer gets)."""
from __future__ import annotations

from pathlib import Path

import pytest

import modelgen
from conftest import SHARED_MODEL_NAMES, assert_bit_exact, shared_model, write_model
from mcucompile.api import simulate
from mcucompile.boards import get_board
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes

FAST_BOARDS = ["mps2-an386", "mps3-an547", "mps2-an500"]

# name -> (model, kernel family the layer must get on a DSP board)
CASES = {
    # convolution as im2col + GEMM: odd channels, in_c % 4 == 0 / 2, stride 2, SAME/VALID,
    # 1x1, 5x5, rectangular kernel, dilation, per-tensor weights, no bias, fused activations
    "conv_odd_same_relu": (lambda: modelgen.conv2d((1, 9, 9, 3), 5, (3, 3), (1, 1), "same", activation="relu"), "conv_s8"),
    "conv_c8_s2_valid_relu6": (lambda: modelgen.conv2d((1, 11, 10, 8), 7, (3, 3), (2, 2), "valid", activation="relu6"), "conv_s8"),
    "conv_c6_5x5_s2_same": (lambda: modelgen.conv2d((1, 10, 9, 6), 6, (5, 5), (2, 2), "same"), "conv_s8"),
    "conv_1x1": (lambda: modelgen.conv2d((1, 6, 7, 16), 9, (1, 1), (1, 1), "valid"), "conv_s8"),
    "conv_1x1_s2_odd": (lambda: modelgen.conv2d((1, 7, 7, 5), 4, (1, 1), (2, 2), "valid"), "conv_s8"),
    "conv_dilated": (lambda: modelgen.conv2d((1, 12, 12, 4), 3, (3, 3), (1, 1), "same", dilation=(2, 2)), "conv_s8"),
    "conv_per_tensor": (lambda: modelgen.conv2d((1, 8, 8, 3), 4, (3, 3), (1, 1), "same", per_channel=False), "conv_s8"),
    "conv_no_bias_rect": (lambda: modelgen.conv2d((1, 9, 8, 2), 3, (3, 1), (2, 1), "same", use_bias=False), "conv_s8"),
    # depthwise: 3x3 stride 1 / 2, SAME / VALID, 5x5, depth multiplier 2, per-tensor, one input
    # channel (as a GEMM), tall and narrow (processed transposed), odd widths, dilation
    "dw_3x3_same": (lambda: modelgen.depthwise_conv2d((1, 9, 9, 8), (3, 3), (1, 1), "same"), "depthwise_conv_s8"),
    "dw_3x3_s2_valid_relu6": (lambda: modelgen.depthwise_conv2d((1, 11, 11, 5), (3, 3), (2, 2), "valid", activation="relu6"), "depthwise_conv_s8"),
    "dw_3x3_s2_same_even": (lambda: modelgen.depthwise_conv2d((1, 12, 12, 4), (3, 3), (2, 2), "same"), "depthwise_conv_s8"),
    "dw_5x5_s2_relu": (lambda: modelgen.depthwise_conv2d((1, 10, 10, 4), (5, 5), (2, 2), "same", activation="relu"), "depthwise_conv_s8"),
    "dw_5x5_s1": (lambda: modelgen.depthwise_conv2d((1, 9, 11, 3), (5, 5), (1, 1), "same"), "depthwise_conv_s8"),
    "dw_mult2": (lambda: modelgen.depthwise_conv2d((1, 8, 8, 3), (3, 3), (1, 1), "same", depth_multiplier=2), "depthwise_conv_s8"),
    "dw_per_tensor": (lambda: modelgen.depthwise_conv2d((1, 8, 8, 4), (3, 3), (1, 1), "same", per_channel=False), "depthwise_conv_s8"),
    "dw_one_channel_mult8_s2": (lambda: modelgen.depthwise_conv2d((1, 12, 12, 1), (3, 3), (2, 2), "valid", depth_multiplier=8), "depthwise_conv_s8"),
    "dw_one_channel_dilated": (lambda: modelgen.depthwise_conv2d((1, 10, 10, 1), (3, 3), (1, 1), "same", depth_multiplier=3, dilation=(2, 2)), "conv_s8"),
    "dw_tall_narrow": (lambda: modelgen.depthwise_conv2d((1, 15, 5, 8), (3, 3), (1, 1), "same"), "depthwise_conv_s8"),
    "dw_rect_kernel_s21": (lambda: modelgen.depthwise_conv2d((1, 9, 8, 4), (3, 1), (2, 1), "same"), "depthwise_conv_s8"),
    "dw_dilated": (lambda: modelgen.depthwise_conv2d((1, 12, 12, 3), (3, 3), (1, 1), "same", dilation=(2, 2)), None),
    # fully connected: odd sizes, per-tensor, several rows (rank-3 input)
    "fc_odd_relu": (lambda: modelgen.dense(33, 7, activation="relu"), "conv_s8"),
    "fc_per_tensor": (lambda: modelgen.dense(20, 6, per_channel=False), "conv_s8"),
    "fc_rows": (lambda: modelgen.dense_3d(8, 6, 5), "conv_s8"),
    # pooling, elementwise
    "avg_pool_global": (lambda: modelgen.avg_pool((1, 5, 7, 8), (5, 7), (1, 1), "valid"), "avg_pool_s8"),
    "avg_pool_same_3x3": (lambda: modelgen.avg_pool((1, 7, 9, 4), (3, 3), (2, 2), "same"), "avg_pool_s8"),
    "add": (lambda: modelgen.add((1, 5, 5, 3), (1, 5, 5, 3)), "add_s8"),
    "add_relu": (lambda: modelgen.add((1, 4, 4, 8), (1, 4, 4, 8), activation="relu"), "add_s8"),
}


def _fast_fns(board: str, path: Path) -> set[str]:
    graph = run_passes(load_model(path), get_board(board))
    return {c.fn for op in graph.ops for c in op.kernel.calls}


@pytest.mark.parametrize("board", FAST_BOARDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_kernel_bit_exact(case, board, tmp_path):
    make, family = CASES[case]
    path = write_model(tmp_path, make(), case)
    fns = _fast_fns(board, path)
    if family is None:   # outside every fast kernel: keeps the portable one
        assert all(fn.endswith("_s8") for fn in fns), fns
    else:
        assert any(family in fn and fn != f"mcuc_{family}" for fn in fns), fns
    report = simulate(path, board, count=3, seed=13, out_dir=tmp_path / "prj")
    assert_bit_exact(report)


@pytest.mark.parametrize("board", FAST_BOARDS)
@pytest.mark.parametrize("name", SHARED_MODEL_NAMES)
def test_shared_model_fast_kernels(name, board, tmp_path):
    report = simulate(shared_model(name), board, count=2, seed=21, out_dir=tmp_path / "prj")
    assert_bit_exact(report)


def test_selection_depends_on_the_board():
    """M3 and the host get the plain-C generated kernels, DSP boards the DSP ones; the
    'portable' switch turns selection off."""
    path = shared_model("kws_ref_model")
    portable = {"mcuc_conv_s8", "mcuc_depthwise_conv_s8", "mcuc_fully_connected_s8"}
    for board in ("host", "mps2-an385"):
        fns = _fast_fns(board, path)
        assert not portable & fns
        assert all("_dsp" not in fn for fn in fns)
    fast = _fast_fns("mps2-an386", path)
    assert not portable & fast
    assert all("_fast" not in fn for fn in fast)
    graph = run_passes(load_model(path), get_board("mps2-an386"), kernels="portable")
    assert portable <= {c.fn for op in graph.ops for c in op.kernel.calls}


def test_fast_path_is_much_faster(tmp_path):
    """At least 4x fewer instructions than the portable kernels on a real model (M4), given
    the SRAM for the fast kernels' scratch (by default kws' depthwise layers stay portable:
    their smallest band does not fit under the layer-wise bound)."""
    path = shared_model("kws_ref_model")
    fast = simulate(path, "mps2-an386", count=1, out_dir=tmp_path / "fast", sram=1 << 20)
    slow = simulate(path, "mps2-an386", count=1, out_dir=tmp_path / "slow", kernels="portable")
    assert_bit_exact(fast)
    assert_bit_exact(slow)
    assert fast.instructions[0] * 4 < slow.instructions[0]


def test_requant_algebra_matches_tflm():
    """The DSP requantisation (SMMLAR on the accumulator scaled through the weights, rounding
    constant with the output zero point folded in) and the MVE one (VQRDMULH, fixup, VRSHL)
    equal TFLM's MultiplyByQuantizedMultiplier for every shift, including multipliers >= 1
    (left shifts) and >= 0.5 (no right shift), which the test models do not reach."""
    import numpy as np
    from mcucompile.passes.pack import mul_by_quantized_mult, mve_requant, requant_records

    rng = np.random.default_rng(5)
    acc = np.concatenate([rng.integers(-2**20, 2**20, 4000), np.arange(-600, 600)])
    for shift in range(-14, 5):
        mult = int(rng.integers(2**30, 2**31))
        zp = int(rng.integers(-128, 128))
        want = mul_by_quantized_mult(acc, mult, shift) + zp
        rq = requant_records(np.zeros(1, np.int64), mult, shift, zp, np.full(1, 2**20 // 256))
        _, m, rnd, rsh, *sgn = (int(v) for v in rq.records[0])
        a = acc * int(rq.scale[0])
        h = (a * m + 2**31) >> 32                                  # SMMLAR without addend
        got = (h + rnd + ((a >> 31) & (sgn[0] if sgn else -1))) >> rsh
        assert np.array_equal(got, want), shift
        v = mve_requant(np.zeros(1, np.int64), mult, shift, 1)
        x = acc << int(v.left[0])
        h = (2 * x * m + 2**31) >> 32                              # VQRDMULH (no saturation here)
        e = -int(v.neg_rsh[0])
        fix = np.where((h < 0) & (e > 0), -1, 0)
        got = ((h + fix + ((1 << e) >> 1)) >> e) + zp              # VRSHL by -e, + zero point
        assert np.array_equal(got, want), shift
