"""Canonicalisation of PyTorch-exported graphs (passes/canonicalize.py): one test per fold rule
and per refusal, each bit-exact against TFLM or onnxruntime on the host; the exported form of
MobileNetV2 plans like the Keras one; patch stages and streamed blocks over folded, asymmetric
padding on the DSP (mps2-an386) and Helium (mps3-an547) kernels in QEMU."""
from __future__ import annotations

import re

import numpy as np
import pytest

import modelgen
import onnx_modelgen as om
import torch_style
from conftest import assert_bit_exact, write_model
from mcucompile.api import load_vectors, model_info, plan_model, simulate
from mcucompile.backend.registry import IN_PLACE_LAYER, spec_of
from mcucompile.boards import get_board
from mcucompile.build import build_project
from mcucompile.cli import main
from mcucompile.codegen import generate
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes
from mcucompile.planner import plan_schedule
from mcucompile.reference import reference_outputs
from mcucompile.simulate import run_vectors


def _ops(path, keep_layout=False) -> list[str]:
    return [op.type for op in run_passes(load_model(path), keep_layout=keep_layout).ops]


def _exact(tmp_path, path, board="host", **kw):
    kw.setdefault("out_dir", tmp_path / "prj")
    report = simulate(path, board, count=3, **kw)
    assert_bit_exact(report)
    return report


# ------------------------------------------------------------------ fold rules (TFLite)

@pytest.mark.parametrize("case", [
    dict(),                                             # PyTorch stride-2 conv: pads 1 all round
    dict(in_shape=(1, 3, 15, 15), pads=(0, 0, 1, 1)),   # bottom/right only, odd size
    dict(pads=(1, 1, 0, 0), stride=1),                  # top/left only
    dict(kind="depthwise"),
    dict(kind="max_pool", value=-1e9),                  # exporter's -inf pad: PADV2 -128
], ids=["conv_s2", "conv_bottom_right", "conv_top_left", "depthwise", "max_pool"])
def test_pad_folds_into_window_op(tmp_path, case):
    path = write_model(tmp_path, torch_style.padded_op(**case))
    ops = _ops(path)
    assert "PAD" not in ops and "PADV2" not in ops and "TRANSPOSE" not in ops
    graph = run_passes(load_model(path))
    t, l_, b, r = (case.get("pads") or (1, 1, 1, 1))
    assert graph.ops[0].attrs["pads"] == (t, l_, b, r)
    _exact(tmp_path, path)


def test_padv2_with_zero_point_folds(tmp_path):
    """PADV2 whose value is the zero point, and the exported form of SAME layers (the
    asymmetric (0, 1) stride-2 pads of an even input) all fold; the model is op for op the
    Keras one and plans to the same arena."""
    keras = modelgen.small_cnn()
    path = write_model(tmp_path, torch_style.exported(keras, padv2=True))
    assert modelgen.ops_in(path.read_bytes()).count("PADV2") == 2
    assert _ops(path) == _ops(write_model(tmp_path, keras, "keras"))
    report = _exact(tmp_path, path)
    assert report.arena_bytes == plan_model(tmp_path / "keras.tflite")[1].arena_bytes


def test_average_pool_folds_only_unread_padding(tmp_path):
    """TFLM's average pool divides by the real elements only: a PAD folds into it only where
    no window reads the padding (6x6, 2x2 stride 2, one row and column below: never read)."""
    unread = write_model(tmp_path, torch_style.padded_op(
        (1, 3, 6, 6), (0, 0, 1, 1), kind="avg_pool", k=2), "unread")
    read = write_model(tmp_path, torch_style.padded_op(
        (1, 3, 5, 5), (0, 0, 1, 1), kind="avg_pool", k=2), "read")
    assert "PAD" not in _ops(unread)
    assert "PAD" in _ops(read)
    _exact(tmp_path, unread)
    _exact(tmp_path, read)


def test_input_transpose_folds_and_layout_is_stated(tmp_path, capsys):
    path = write_model(tmp_path, torch_style.padded_op())
    graph = run_passes(load_model(path))
    assert graph.inputs[0].shape == (1, 16, 16, 3) and graph.input_perms == {0: (0, 3, 1, 2)}
    assert graph.inputs[0].name == load_model(path).inputs[0].name
    assert main(["info", str(path)]) == 0
    assert "NHWC (the model file's input is NCHW" in capsys.readouterr().out
    _exact(tmp_path, path)
    assert "layout: NHWC (the model file's input is NCHW" in \
        (tmp_path / "prj" / "model.h").read_text()


def test_keep_input_layout(tmp_path, capsys):
    path = write_model(tmp_path, torch_style.padded_op())
    assert _ops(path, keep_layout=True) == ["TRANSPOSE", "CONV_2D"]
    info = model_info(path, keep_layout=True)
    assert info["inputs"][0]["shape"] == [1, 3, 16, 16] and info["inputs"][0]["layout"] is None
    report = _exact(tmp_path, path, keep_layout=True)
    assert "layout" not in (tmp_path / "prj" / "model.h").read_text()
    assert report.bit_exact
    assert main(["plan", str(path), "--keep-input-layout"]) == 0
    assert " TRANSPOSE " in capsys.readouterr().out


# ------------------------------------------------------------------ refusals (TFLite)

@pytest.mark.parametrize("case, kept", [
    (dict(value=0.5), "PADV2"),                   # pad value is not the zero point
    (dict(readers=2), "PAD"),                     # the padded tensor feeds two ops
    (dict(kind="max_pool"), "PAD"),               # max pool padded with the zero point
    (dict(channel_pad=1), "PAD"),                 # pads the channel dimension
    (dict(kind="avg_pool", k=2, in_shape=(1, 3, 5, 5), pads=(1, 1, 0, 0)), "PAD"),
], ids=["value", "two_readers", "max_pool_zero_point", "channels", "avg_pool_read"])
def test_pad_is_kept(tmp_path, case, kept):
    path = write_model(tmp_path, torch_style.padded_op(**case))
    assert kept in _ops(path)
    _exact(tmp_path, path)


def test_other_input_permutation_is_kept(tmp_path):
    path = write_model(tmp_path, modelgen.transpose((1, 3, 4, 5), (0, 3, 1, 2)))
    assert _ops(path) == ["TRANSPOSE"]
    assert not run_passes(load_model(path)).input_perms


# ------------------------------------------------------------------ ONNX

def _onnx(tmp_path, data: bytes, name: str):
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_onnx_conv_pads_need_no_copy(tmp_path, fmt):
    """Conv pads that are not SAME (1 on every side at stride 2; bottom/right only) were a
    PADV2 copy before the conv: folded."""
    for k, (pad, stride) in enumerate((((1, 1, 1, 1), 2), ((0, 0, 1, 1), 1))):
        path = _onnx(tmp_path, om.quantized("conv", fmt, in_shape=(1, 3, 10, 10), stride=stride,
                                            pad=pad), f"conv{k}")
        assert _ops(path) == ["CONV_2D"]
        _exact(tmp_path, path)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_onnx_pad_nodes_fold(tmp_path, fmt):
    """A standalone Pad (zero) before a padded Conv folds (both pads add up), one before a
    MaxPool pads with the zero point and stays; MaxPool's own pads fold."""
    path = _onnx(tmp_path, om.quantized("padded", fmt), "padded")
    assert _ops(path) == ["CONV_2D", "CONV_2D", "PADV2", "MAX_POOL_2D", "MAX_POOL_2D"]
    graph = run_passes(load_model(path))
    assert graph.ops[1].attrs["pads"] == (2, 1, 1, 2)
    assert graph.ops[-1].attrs["pads"] == (0, 0, 1, 1)
    _exact(tmp_path, path)


def test_onnx_mobilenet_v2_64_patches(tmp_path):
    """The issue's case: MobileNetV2-style QDQ at 64x64, stride-2 convolutions padded 1 on
    every side. Before: a PADV2 copy per such conv and no patch schedule (73,728 bytes with
    and without --patch auto). Folded: no copy, and patches lower the arena."""
    path = _onnx(tmp_path, om.quantized("mobilenet_v2", "QDQ", in_shape=(1, 3, 64, 64)), "m")
    assert "PADV2" not in _ops(path)
    _, unpatched = plan_model(path, "host")
    report = _exact(tmp_path, path, patch="auto")
    assert report.patch is not None and report.arena_bytes * 2 < unpatched.arena_bytes


# ------------------------------------------------------------------ planning as Keras

def _mnv2(tmp_path, alpha=0.35, size=96):
    keras = write_model(tmp_path, modelgen.mobilenet_v2(alpha, size), "keras")
    exported = write_model(tmp_path, torch_style.exported(keras.read_bytes()), "torch")
    return keras, exported


@pytest.mark.slow      # a whole MobileNetV2 0.35@96 (17 s / 8 s on an idle core)
def test_exported_mobilenet_plans_like_keras(tmp_path):
    """MobileNetV2 0.35@96 as PyTorch exports it (NCHW input + TRANSPOSE, 18 PADs): after
    folding, the same arena as the Keras model, unpatched and with --patch auto (before:
    the TRANSPOSE and the PADs stopped every patch stage)."""
    keras, exported = _mnv2(tmp_path)
    assert modelgen.ops_in(exported.read_bytes()).count("PAD") == 18
    for patch in ("off", "auto"):
        assert plan_model(exported, "host", patch)[1].arena_bytes <= \
            plan_model(keras, "host", patch)[1].arena_bytes * 1.05


@pytest.mark.slow      # a whole MobileNetV2 0.35@96 (17 s / 8 s on an idle core)
def test_exported_mobilenet_host(tmp_path):
    """Unpatched, the depthwise layers with folded (1, 1, 1, 1) and asymmetric stride-2
    (0, 0, 1, 1) pads run in place (the host's plain-C in-place kernels); patched, tiles and streamed blocks take them. Bit-exact
    with TFLM under the sanitizers."""
    _, exported = _mnv2(tmp_path)
    _, plan = plan_model(exported, "host")
    in_place = {op.attrs["pads"] for op in plan.schedule if op.type == "DEPTHWISE_CONV_2D"
                and spec_of(op.kernel.calls[0]).has(IN_PLACE_LAYER)}
    assert in_place == {(1, 1, 1, 1), (0, 0, 1, 1)}
    _exact(tmp_path, exported, sanitize=True)
    report = _exact(tmp_path, exported, patch="auto", sanitize=True, out_dir=tmp_path / "p")
    assert report.patch is not None and report.streamed_blocks


@pytest.mark.parametrize("patch, sram", [("6x6@5", None), ("auto", 40000)])
def test_exported_mobilenet_patched_dsp(tmp_path, patch, sram):
    """Patch tiles (DSP kernels) over the folded, asymmetric stride-2 pads on the M4; with a
    budget the automatic search patches (without one, the board's SRAM fits it unpatched)."""
    _, exported = _mnv2(tmp_path)
    report = simulate(exported, "mps2-an386", count=1, patch=patch, sram=sram,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert report.patch is not None


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_exported_block_patched_fast_tiles(tmp_path, board):
    """An exported inverted residual block (its stride-2 depthwise after a (0, 1, 0, 1) PAD)
    split 2x2 at the depthwise: the tiles run DSP / Helium kernels with the folded pads."""
    keras = modelgen.inverted_residual(in_shape=(1, 16, 16, 8), strides=(2, 2),
                                       residual=False)
    path = write_model(tmp_path, torch_style.exported(keras))
    assert "PAD" in modelgen.ops_in(path.read_bytes())
    dw = next(op for op in run_passes(load_model(path)).ops if op.type == "DEPTHWISE_CONV_2D")
    assert dw.attrs["pads"] == (0, 0, 1, 1)
    report = simulate(path, board, count=2, patch=f"2x2@{dw.index}", out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    fast = "dsp" if board == "mps2-an386" else "mve"
    assert re.search(rf"mcuc_depthwise_conv_s8_{fast}_op{dw.index}_t[0-9a-f]{{8}}",
                     (tmp_path / "prj" / "model.c").read_text())   # the tiles' own kernels


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_padded_ops_on_fast_kernels(tmp_path, board):
    """Folded pads on the fast kernel families (conv GEMM, depthwise bands / planes) of the
    M4 (DSP) and the M55 (Helium): all round at stride 2, bottom/right only on an odd size,
    top/left only. The layers are forced onto their fast kernels (the search keeps small
    depthwise layers portable where the fast kernel's scratch would cost arena)."""
    b = get_board(board)
    fast = "dsp" if board == "mps2-an386" else "mve"
    for k, case in enumerate([dict(), dict(in_shape=(1, 3, 15, 15), pads=(0, 0, 1, 1)),
                              dict(kind="depthwise", pads=(1, 1, 0, 0), stride=1),
                              dict(kind="depthwise", in_shape=(1, 3, 15, 15),
                                   pads=(0, 0, 1, 1))]):
        path = write_model(tmp_path, torch_style.padded_op(**case), f"m{k}")
        graph = run_passes(load_model(path), b)
        kind = case.get("kind", "conv").replace("depthwise", "depthwise_conv")
        assert re.match(rf"mcuc_{kind}_s8_{fast}(_1px|_direct)?_op",
                        graph.ops[0].kernel.calls[0].fn), graph.ops[0].kernel.calls[0].fn
        plan = plan_schedule(graph, [op for op in graph.ops if not op.is_alias])
        project = generate(graph, plan, tmp_path / f"prj{k}", b)
        exe = build_project(project.out_dir, b)
        vectors = load_vectors(graph, None, 2, k)
        run = run_vectors(exe, b, vectors, project.output_bytes)
        assert np.array_equal(run.outputs, reference_outputs(path.read_bytes(), graph, vectors))


@pytest.mark.parametrize("sram", [None, 300_000])
def test_exported_mobilenet_224_on_the_m4(tmp_path, sram):
    """The issue's model size: MobileNetV2 1.0 at 224x224 as PyTorch exports it, on the M4
    with default options (4 MB of SRAM: unpatched) and under a 300 KB budget (the search
    patches and streams): bit-exact, and within 5% of the Keras model's arena either way."""
    keras = write_model(tmp_path, modelgen.mobilenet_v2(1.0, 224), "keras")
    exported = write_model(tmp_path, torch_style.exported(keras.read_bytes()), "exported")
    report = simulate(exported, "mps2-an386", count=1, sram=sram, timeout=600,
                      out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    assert (report.patch is not None) == (sram is not None)
    _, plan = plan_model(keras, "mps2-an386", sram=sram)
    assert report.arena_bytes <= plan.arena_bytes * 1.05
