"""The plain-C99 fast kernels for cores without DSP (passes/kernels_fast.py: Cortex-M0 on the
micro:bit, Cortex-M3 on mps2-an385, the host): each layer shape they take gets them and is
bit-exact with TFLM, on the host for every single-op case, and in QEMU on both cores for
chains of odd shapes (odd channels, strides 2, SAME/VALID, K not a multiple of anything,
per-channel quantisation with left shifts, dead channels, int32 edge biases) and for the
in-place twins on a shared model; and the speed they were built for."""
from __future__ import annotations

import pytest

import modelgen
from conftest import assert_bit_exact, shared_model, write_model
from mcucompile.api import plan_model, simulate
from mcucompile.backend.registry import spec_of
from mcucompile.boards import get_board
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes
from test_fast_kernels import CASES

GEMM, DW = "mcuc_conv_s8_fast", "mcuc_depthwise_conv_s8_fast"
# the kernel family each single-op case of test_fast_kernels gets here (None: portable)
FAMILY = {**{c: GEMM for c in CASES if c.startswith(("conv_", "fc_"))},
          **{c: DW for c in CASES if c.startswith("dw_")},
          "conv_dilated": None, "dw_dilated": None, "dw_one_channel_dilated": None,
          "dw_mult2": None,                      # depth multiplier 2 on 3 channels
          "dw_one_channel_mult8_s2": GEMM,       # one input channel: a GEMM
          "avg_pool_global": None, "avg_pool_same_3x3": None, "add": None, "add_relu": None}


def _families(board: str, path) -> set[str]:
    graph = run_passes(load_model(path), get_board(board))
    return {spec_of(c).name for op in graph.ops for c in op.kernel.calls}


@pytest.mark.parametrize("case", sorted(CASES))
def test_single_op_bit_exact_on_the_host(case, tmp_path):
    make, _ = CASES[case]
    path = write_model(tmp_path, make(), case)
    families = _families("host", path)
    if FAMILY[case] is None:
        assert not any(f.endswith("_fast") for f in families), families
    else:
        assert FAMILY[case] in families, families
    assert_bit_exact(simulate(path, "host", count=3, seed=13, out_dir=tmp_path / "prj"))


def _chains(tmp_path):
    """Odd-shaped chains: kernel_chain (3 input channels, big channels: per-channel left
    shifts), gemm_chain (K = 7, 117, 70; dead channels: biases near 2^31), and kernel_chain
    with int32 edge biases and a tiny output scale (accumulators that wrap in int32,
    multipliers >= 1: the split requantisation)."""
    chain = modelgen.kernel_chain((1, 11, 10, 3), big_channel=True)
    return [write_model(tmp_path, chain, "kernel_chain"),
            write_model(tmp_path, modelgen.gemm_chain(dead=(1, 4)), "gemm_chain"),
            write_model(tmp_path, modelgen.requant_edges(chain, op=1, out_scale=2.0**-16),
                        "edges")]


def test_chains_bit_exact_on_the_host(tmp_path):
    for path in _chains(tmp_path):
        assert {GEMM, DW} & _families("host", path), path.name
        assert_bit_exact(simulate(path, "host", count=3, seed=5, out_dir=tmp_path / path.stem))


@pytest.mark.parametrize("board", ["mps2-an385", "microbit"])
def test_chains_bit_exact_in_qemu(board, tmp_path):
    """The same chains on the Cortex-M3 and the Cortex-M0 (no unaligned access: a word
    load at an odd address would fault there), every layer but the dilated one on a fast
    kernel."""
    for path in _chains(tmp_path)[:2]:
        graph = run_passes(load_model(path), get_board(board))
        portable = [op.where for op in graph.ops
                    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
                    and not spec_of(op.kernel.calls[0]).name.startswith((GEMM, DW))]
        assert len(portable) == (path.stem == "gemm_chain"), portable    # the dilated conv
        assert_bit_exact(simulate(path, board, count=2, seed=3, out_dir=tmp_path / path.stem))


@pytest.mark.parametrize("board, per_mac", [("mps2-an385", 4.0), ("microbit", 8.0)])
def test_kws_fast_in_place_within_the_portable_arena(board, per_mac, tmp_path):
    """kws_ref_model's depthwise and 1x1 layers run over their input through the fast
    kernels' in-place twins: bit-exact, at most `per_mac` instructions per MAC (issue 17:
    M3 <= 4, M0 <= 8; portable: 13.7 and 21.8), in no more arena than the portable plan."""
    path = shared_model("kws_ref_model")
    _, plan = plan_model(path, board)
    _, portable = plan_model(path, board, kernels="portable")
    names = {spec_of(c).name for op in plan.schedule for c in op.kernel.calls}
    assert {GEMM + "_inplace", DW + "_inplace"} <= names, names
    assert plan.arena_bytes <= portable.arena_bytes
    report = simulate(path, board, count=1, seed=1, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.instructions[0] <= per_mac * report.macs, report.instructions[0] / report.macs


def test_block_shape_follows_the_core():
    """The Cortex-M0 gets 2 channels x 1 pixel (MULS + ADDS, 8 low registers), the Cortex-M3
    and the host 4 x 2."""
    path = shared_model("kws_ref_model")
    for board, block in (("microbit", (2, 1)), ("mps2-an385", (4, 2)), ("host", (4, 2))):
        graph = run_passes(load_model(path), get_board(board))
        op = next(op for op in graph.ops if op.index == 2)     # a 1x1 conv, 125 pixels
        ctx = op.kernel.calls[0].generated.context
        assert (ctx["nc"], ctx["np"]) == block, board


def test_flash_budget_trades_them_for_portable_kernels():
    """The search weighs them by their calibrated cost against the flash they add
    (generated code, zero-point rows): 3 KB under the fast plan's flash estimate, some
    layers go back to portable kernels, the cheapest to lose first, and the arena stays."""
    from mcucompile.planner.search import flash_estimate
    path = shared_model("kws_ref_model")
    _, fast = plan_model(path, "microbit")
    need = flash_estimate(fast.schedule)
    _, tight = plan_model(path, "microbit", flash=need - 3000)

    def fast_ops(plan):
        return {op.index for op in plan.schedule for c in op.kernel.calls
                if spec_of(c).isa == "c"}
    assert fast_ops(tight) < fast_ops(fast)
    assert flash_estimate(tight.schedule) <= need - 3000
    assert tight.arena_bytes == fast.arena_bytes
