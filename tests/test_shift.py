"""Shifted in-place layers (backend/shift.py): a DSP or Helium conv / depthwise / FC output
placed `shift` bytes below the input that dies at it, the two overlapping.

- The GEMM formula against a byte-exact model of what each block reads (every tap of every
  window) on many geometries (host, fast).
- In QEMU: every conv, depthwise and FC layer of chains with tall, wide and one-channel
  inputs forced onto its DSP kernel (int16 and int8 weights, ample and minimal scratch,
  raster order), planned with the outputs pinned at exactly that shift: bit-exact with TFLM;
  and with every shift one alignment unit short, the same firmware is wrong (so the runs
  above do test the overlap).
- The search takes such layers by default where a fast kernel fits only that way.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import modelgen
from conftest import shared_model
from mcucompile.api import load_vectors, plan_model
from mcucompile.backend import shift
from mcucompile.boards import get_board
from mcucompile.build import build_project
from mcucompile.codegen import generate
from mcucompile.frontend import load_model
from mcucompile.passes import kernels_dsp, kernels_mve, run_passes
from mcucompile.planner import check_plan, plan_schedule
from mcucompile.planner.arena import ALIGN
from mcucompile.reference import reference_outputs
from mcucompile.simulate import run_vectors


def _exact_gemm_gap(geo: dict, slots: int, w8: bool) -> int:
    """The least shift, from the bytes each block really reads (taps inside the image)."""
    oh, ow, ih, iw, c = geo["out_h"], geo["out_w"], geo["in_h"], geo["in_w"], geo["in_c"]
    pixels = oh * ow
    k2 = (geo["k_h"] * geo["k_w"] * c + 1) // 2
    rest = pixels % slots
    if w8:      # a last 1-2 pixels of int8 quads as a pair, a last odd int16 pixel alone
        tail = rest if slots == 4 and 0 < rest <= 2 and k2 <= kernels_dsp.GEMM_S8_MAX_K2 else 0
    else:
        tail = 1 if slots == 2 and rest == 1 else 0
    starts = list(range(0, pixels - tail, slots)) + ([pixels - tail] if tail else [])
    ends = starts[1:] + [pixels]

    def first_byte(n):
        oy, ox = divmod(n, ow)
        taps = [((oy * geo["stride_h"] - geo["pad_top"] + i * geo["dil_h"]) * iw
                 + ox * geo["stride_w"] - geo["pad_left"] + j * geo["dil_w"]) * c
                for i in range(geo["k_h"]) for j in range(geo["k_w"])
                if 0 <= oy * geo["stride_h"] - geo["pad_top"] + i * geo["dil_h"] < ih
                and 0 <= ox * geo["stride_w"] - geo["pad_left"] + j * geo["dil_w"] < iw]
        return min(taps) if taps else ih * iw * c
    reads = [min(first_byte(n) for n in range(s, e)) for s, e in zip(starts, ends)]
    writes = [e * geo["out_c"] for e in ends]
    need = 0
    for k in range(len(starts) - 1):
        need = max(need, max(writes[:k + 1]) - min(reads[k + 1:]))
    return need


def _geometries():
    for (k, s, pad, dil), (ih, iw), (ci, co) in itertools.product(
            [(1, 1, 0, 1), (3, 1, 1, 1), (3, 2, 0, 1), (3, 2, 1, 1), (5, 2, 2, 1),
             (3, 1, 2, 2)],
            [(7, 5), (4, 9), (1, 6)], [(3, 8), (8, 3), (1, 16)]):
        oh = (ih + 2 * pad - dil * (k - 1) - 1) // s + 1
        ow = (iw + 2 * pad - dil * (k - 1) - 1) // s + 1
        kh = 1 if ih == 1 else k
        oh = ih if ih == 1 else oh
        if oh < 1 or ow < 1:
            continue
        yield dict(batches=1, in_h=ih, in_w=iw, in_c=ci, out_h=oh, out_w=ow, out_c=co,
                   k_h=kh, k_w=k, stride_h=s if ih > 1 else 1, stride_w=s, dil_h=dil,
                   dil_w=dil, pad_top=pad if ih > 1 else 0, pad_left=pad)


def test_gemm_shift_is_the_least_that_keeps_every_read():
    checked = 0
    for geo in _geometries():
        for slots, w8 in ((2, False), (4, True), (2, True)):
            formula = shift.gemm(geo, slots, w8, kernels_dsp.GEMM_S8_MAX_K2)
            exact = _exact_gemm_gap(geo, slots, w8)
            if geo["dil_h"] == 1:
                assert formula == exact, (geo, slots, w8)
            else:      # dilated windows may skip their first (padded) rows: conservative
                assert formula >= exact, (geo, slots, w8)
            checked += 1
    assert checked > 120


def test_one_block_needs_no_shift():
    """A fully connected layer over one row reads all of it before writing: the output may
    start at the input (shift 0) whatever the sizes."""
    geo = dict(batches=1, in_h=1, in_w=1, in_c=4000, out_h=1, out_w=1, out_c=4, k_h=1, k_w=1,
               stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_top=0, pad_left=0)
    assert shift.gemm(geo, 2, False, kernels_dsp.GEMM_S8_MAX_K2) == 0


# --- in QEMU -------------------------------------------------------------------------------

CHAINS = {                               # input shapes unlike the shared models'
    "tall": (1, 23, 7, 3),               # out_h > out_w: the depthwise kernel would transpose
    "wide": (1, 9, 15, 2),
    "one_channel": (1, 13, 11, 1),
}


def _forced(path, board: str, weights: str, minimal: bool):
    """The chain with every conv / depthwise / FC layer on its DSP kernel in raster order
    (on the M55 its Helium kernel, the depthwise planes made for all channels)."""
    graph = run_passes(load_model(path), get_board(board), "portable")
    kernels = kernels_mve if get_board(board).features.mve else kernels_dsp
    shifted = 0
    for op in graph.ops:
        calls = op.kernel.calls or []
        for i, call in enumerate(calls):
            builder = kernels.BUILDERS.get(call.fn)
            if builder is None or call.fn.startswith(("mcuc_add", "mcuc_avg")):
                continue
            budget = 1 << 20
            if minimal:
                least = kernels.minimum_variant(call, weights)
                budget = kernels.scratch_bytes(call, least) if least else None
            kw = dict(raster=True) if "depthwise" in call.fn and kernels is kernels_dsp else {}
            new = builder(op, call, weights=weights, scratch_budget=budget, **kw)
            assert new is not None and new.shift is not None, (op.index, call.fn)
            calls[i] = new
            shifted += 1
    return graph, shifted


def _run(path, graph, board: str, tmp_path, short: bool = False):
    b = get_board(board)
    if short:                          # every pinned output one alignment unit too close
        for op in graph.ops:
            for call in op.kernel.calls or []:
                if call.shift is not None and call.shift >= ALIGN:
                    call.shift = (call.shift + ALIGN - 1) // ALIGN * ALIGN - ALIGN
    plan = plan_schedule(graph, [op for op in graph.ops if not op.is_alias])
    check_plan(plan)
    shifted = [(a, b_, d) for a, b_, d in plan.pins if d < 0]
    project = generate(graph, plan, tmp_path / "prj", b)
    exe = build_project(project.out_dir, b)
    vectors = load_vectors(graph, None, 2, 7)
    run = run_vectors(exe, b, vectors, project.output_bytes)
    same = np.array_equal(run.outputs, reference_outputs(path.read_bytes(), graph, vectors))
    return plan, shifted, same


@pytest.mark.parametrize("board,weights,minimal", [
    ("mps2-an386", "int16", False), ("mps2-an386", "int8", True),
    ("mps2-an500", "int16", True), ("mps3-an547", "int8", False)])
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_shifted_layers_bit_exact(chain, board, weights, minimal, tmp_path):
    path = tmp_path / "chain.tflite"
    path.write_bytes(modelgen.kernel_chain(in_shape=CHAINS[chain]))
    graph, forced = _forced(path, board, weights, minimal)
    assert forced == 7
    plan, shifted, same = _run(path, graph, board, tmp_path)
    # pinned over their inputs: the 3x3 / 5x5 layers below them, 1x1 and FC at them
    assert len(plan.pins) >= 5 and len(shifted) >= 2, plan.pins
    assert same


@pytest.mark.parametrize("board,in_shape", [("mps2-an386", CHAINS["tall"]),
                                            ("mps3-an547", (1, 9, 15, 16))])
def test_a_shift_one_unit_short_is_wrong(board, in_shape, tmp_path):
    path = tmp_path / "chain.tflite"
    path.write_bytes(modelgen.kernel_chain(in_shape=in_shape))
    graph, _ = _forced(path, board, "int16" if board == "mps2-an386" else "int8", False)
    _, shifted, same = _run(path, graph, board, tmp_path, short=True)
    assert shifted and not same


def test_helium_direct_gemm_shift_is_the_least_that_keeps_every_read():
    """The Helium GEMM reading its input in place: its loop replayed byte by byte (pixel
    pairs, both rows read again for every pair of output channels, whose four bytes are
    written after that read). The least gap is one more than the largest output byte
    written before some input byte at or below it is read again."""
    rng = np.random.default_rng(3)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 6, 2))
        cin, cout = 16 * int(rng.integers(1, 3)), int(rng.integers(1, 40))
        pixels = h * w
        need, highest = 0, -1            # highest output byte written so far
        for p in range(0, pixels, 2):
            q = min(p + 1, pixels - 1)
            for oc in range(0, cout, 2):
                first_read = p * cin     # rows p and q are read whole for this channel pair
                need = max(need, highest - first_read + 1)
                for n in (p, q):
                    for c in (oc, oc + 1):
                        if c < cout:
                            highest = max(highest, n * cout + c)
        geo = dict(batches=1, out_h=h, out_w=w, in_c=cin, out_c=cout)
        assert shift.mve_direct(geo) == need, geo


def test_helium_kws_runs_shifted_by_default(tmp_path):
    """kws_ref_model on the M55: its depthwise layers (input + output = the layer bound)
    had planes for 4 channels at a time (2.4 instructions per MAC); written over their
    inputs, the planes of all 64 channels fit, and the arena falls below the layer bound.
    Bit-exact in QEMU."""
    path = shared_model("kws_ref_model")
    graph, plan = plan_model(path, "mps3-an547")
    fns = [c.fn for op in plan.schedule for c in op.kernel.calls]
    assert sum(fn.startswith("mcuc_depthwise_conv_s8_mve_op") for fn in fns) == 4, fns
    assert any(d < 0 for _, _, d in plan.pins)
    from mcucompile.planner.search import layer_bound
    assert plan.arena_bytes < layer_bound(graph)
    b = get_board("mps3-an547")
    project = generate(graph, plan, tmp_path / "prj", b)
    exe = build_project(project.out_dir, b)
    vectors = load_vectors(graph, None, 2, 5)
    run = run_vectors(exe, b, vectors, project.output_bytes)
    assert np.array_equal(run.outputs, reference_outputs(path.read_bytes(), graph, vectors))


BOARD = "mps2-an386"      # planned only, never run: this test stays in the fast tier


@pytest.mark.parametrize("name,fast_layers", [("kws_ref_model", 10),
                                              ("pretrainedResnet_quant", 10)])
def test_search_takes_shifted_fast_kernels_by_default(name, fast_layers):
    """Without shifting, kws's depthwise layers (input + output = the layer bound) and
    ResNet's 3x3 convolutions (beside the kept skip tensor) had no room for a fast kernel's
    scratch and ran portable. Now every conv, depthwise and FC layer runs a DSP kernel, and
    the arena does not exceed the layer bound (on the host: plan only)."""
    graph, plan = plan_model(shared_model(name), BOARD)
    fns = [c.fn for op in plan.schedule for c in op.kernel.calls]
    from mcucompile.backend.registry import spec_of
    assert sum(spec_of(fn).isa == "dsp" and spec_of(fn).generated for fn in fns) \
        == fast_layers, fns
    assert not any("inplace" in fn or fn in ("mcuc_conv_s8", "mcuc_depthwise_conv_s8")
                   for fn in fns), fns
    assert any(d < 0 for _, _, d in plan.pins)
    from mcucompile.planner.search import layer_bound
    assert plan.arena_bytes <= layer_bound(graph)
