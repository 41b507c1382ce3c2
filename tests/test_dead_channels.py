"""The fast kernels on layers whose DSP requantisation fold could overflow (pack.py's unfolded
records): "dead" output channels of trained networks (weights ~0, so a tiny weight scale and
an int32 bias near +-2^31, or a bias of 0 with a right shift of 25+), biases at the ends of
int32, and multipliers >= 1 (left shifts, which wrap in TFLM's int32). Conv 1x1, conv 3x3
stride 2 SAME, depthwise and fully connected layers on every fast board, and ONNX models'
float requantisation: each bit-exact with the reference AND run on the fast kernel (no
portable conv / depthwise / fully connected call in model.c)."""
from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import modelgen
import onnx_modelgen
from conftest import assert_bit_exact, write_model
from mcucompile.api import simulate
from mcucompile.passes.pack import mul_by_quantized_mult, requant_records, wrap32

FAST_BOARDS = ["mps2-an386", "mps2-an500", "mps3-an547"]
PORTABLE = re.compile(r"\bmcuc_(conv|depthwise_conv|fully_connected)_s8(_fpreq|_inplace)?\(")
# dead channels: one with a bias near +2^31, one near -2^31, one with bias 0 (output zero
# point -128 after RELU: the folded rounding constant zp * 2^25 would not fit int32)
DEAD = dict(dead=(0, 5, 9), dead_bias=(0.5, -0.5, 0.0))
# (heads wide enough that the layer under test has room for its fast kernel's scratch under
# the layer-wise memory bound, which the planner's kernel choice keeps to)
LAYERS = {
    "conv_1x1": dict(DEAD),
    "conv_3x3_s2_same": dict(DEAD, kernel=3, strides=2, head=128),
    "depthwise_3x3": dict(DEAD, layer="depthwise", kernel=3, head=64),
    "depthwise_3x3_s2": dict(DEAD, layer="depthwise", kernel=3, strides=2,
                             in_shape=(1, 15, 15, 3), head=256),
    "dense": dict(DEAD, layer="dense", in_shape=(1, 40)),
    # only the bias-0 dead channel: the layer fits the old fold's bounds, and ran folded with a
    # wrapped rounding constant (silently wrong outputs)
    "conv_1x1_bias_0": dict(dead=(0,), dead_bias=(0.0,)),
}


def _model(case: str) -> bytes:
    """LAYERS[name] as converted, or with "_edges": the layer's first two biases set to
    2^31 - 1 and -2^31 and its output range 2^16 times smaller (left shifts of 7-10)."""
    name, _, edges = case.partition("+")
    model = modelgen.dead_channels(**LAYERS[name])
    return modelgen.requant_edges(model, out_scale=2.0**-16) if edges else model


def _assert_fast(out_dir, board: str):
    model_c = (out_dir / "model.c").read_text()
    assert not PORTABLE.search(model_c), PORTABLE.findall(model_c)
    if board != "mps3-an547":        # DSP: the layer under test has unfolded channels
        kernel = next((out_dir / "kernels").glob("*_op1.c")).read_text()
        assert "/* unfolded */ 1" in kernel or "unfolded records" in kernel


@pytest.mark.parametrize("board", FAST_BOARDS)
@pytest.mark.parametrize("case", sorted(LAYERS) + [f"{name}+edges" for name in sorted(LAYERS)])
def test_dead_channels_fast_and_bit_exact(case, board, tmp_path):
    path = write_model(tmp_path, _model(case), case.replace("+", "_"))
    report = simulate(path, board, count=3, seed=5, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    _assert_fast(tmp_path / "prj", board)


def _onnx_huge_bias(layer: str) -> bytes:
    """A QDQ chain 1x1 conv -> `layer` ("conv": 3x3 stride 2; "depthwise": 3x3) -> wide 1x1
    conv, every int32 bias at 2^31 - 1, -2^31 and 2^31 - 3000 on its first channels: the
    accumulation wraps, in onnxruntime as in the kernels."""
    b = onnx_modelgen._Builder(3)
    y = b.node("Relu", [b.conv(b.input((1, 4, 12, 12)), 4, 16, k=1, pad=0)])
    y = b.conv(y, 16, 16, k=3, stride=2) if layer == "conv" else b.conv(y, 16, 16, group=16)
    model = onnx.load_from_string(onnx_modelgen.quantize(b.model(b.conv(y, 16, 128, k=1,
                                                                         pad=0))))
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.INT32 and "zero_point" not in init.name:
            bias = numpy_helper.to_array(init).copy()
            bias[:3] = [2**31 - 1, -2**31, 2**31 - 3000]
            init.CopyFrom(numpy_helper.from_array(bias, init.name))
    return model.SerializeToString()


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
@pytest.mark.parametrize("layer", ["conv", "depthwise"])
def test_onnx_huge_bias_fast_and_bit_exact(layer, board, tmp_path):
    path = tmp_path / f"{layer}.onnx"
    path.write_bytes(_onnx_huge_bias(layer))
    report = simulate(path, board, count=3, seed=5, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    model_c = (tmp_path / "prj" / "model.c").read_text()
    assert not PORTABLE.search(model_c), PORTABLE.findall(model_c)


def test_unfolded_records_match_tflm():
    """The unfolded store's arithmetic (mcuc_dsp_requant_unfolded: x = acc << left wrapping
    in int32, h = floor((x mult + 2^30) / 2^31), rounding right shift half away from zero)
    equals TFLM's MultiplyByQuantizedMultiplier on every int32 accumulator, for every shift
    TFLM produces, and the records pick the plain form exactly where the fold could
    overflow."""
    rng = np.random.default_rng(0)
    acc = np.concatenate([rng.integers(-2**31, 2**31, 20000), np.arange(-3000, 3000),
                          [-2**31, -2**31 + 1, 2**31 - 1]])
    for shift in range(-31, 13):
        for mult in (0, 2**30, 2**31 - 1, int(rng.integers(2**30, 2**31))):
            rq = requant_records(np.array([2**31 - 1]), mult, shift, -128, np.zeros(1))
            assert not rq.folded[0] and rq.unfolded
            _, m, zp, rsh, *rest = (int(v) for v in rq.records[0])
            left = rest[-1]
            assert (m, zp, left - rsh) == (mult, -128, shift)
            x = wrap32(acc << left).astype(np.int64)
            h = (x * m + 2**30) >> 31
            mask = (1 << rsh) - 1
            got = (h >> rsh) + ((h & mask) > (mask >> 1) - (h >> 31)) + zp
            assert np.array_equal(got, mul_by_quantized_mult(acc, mult, shift) - 128), shift
    # small layers stay folded (unchanged records); each overflow condition unfolds
    rq = requant_records(np.array([1000, 0, 0, 2**30, 0]), 2**30,
                         np.array([-7, 8, -25, -7, -7]), -128, np.array([100, 100, 0, 0, 2**23]))
    assert rq.folded.tolist() == [True, False, False, False, False]
    assert rq.records[:, -1].tolist() == [-1, 8, 0, 0, 0]
    assert rq.scale.tolist() == [2, 1, 1, 1, 1]


@pytest.fixture(scope="module")
def mobilenet_dead(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("mnv1"),
                       modelgen.mobilenet_v1(0.25, 96, 3, 2, dead_every=7), "mnv1_dead")


def test_mobilenet_v1_dead_channels_all_dsp(mobilenet_dead, tmp_path):
    """MLPerf Tiny's VWW network shape with every 7th channel dead: every convolution and
    depthwise convolution runs a DSP kernel (before unfolded records, 26 of its 28 fell back
    to portable kernels: 10.7 instructions per MAC; 1.34 after)."""
    report = simulate(mobilenet_dead, "mps2-an386", count=1, seed=4, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    model_c = (tmp_path / "prj" / "model.c").read_text()
    assert not PORTABLE.search(model_c), PORTABLE.findall(model_c)
    layers = [op for op in modelgen.ops_in(mobilenet_dead.read_bytes())
              if op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    dsp = set(re.findall(r"\bmcuc_(?:conv|depthwise_conv)_s8_dsp(?:_1px|_direct)?_op(\d+)\(",
                         model_c))
    assert len(layers) == len(dsp) == 28
    assert report.instructions[0] < 1.5 * report.macs


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
@pytest.mark.parametrize("case", ["depthwise_3x3", "depthwise_3x3+edges"])
def test_int8_depthwise_dead_channels(case, board, tmp_path):
    """The int8-weight depthwise kernel (the flash budget's choice) takes unfolded channels
    too (their unpacked weights are not doubled); the int8 GEMM has no unfolded store yet and
    refuses such layers."""
    from test_kernel_variants import _force, _run_bit_exact
    from mcucompile.boards import get_board
    from mcucompile.frontend import load_model
    from mcucompile.codegen.kernels import render_kernel
    from mcucompile.passes import kernels_dsp, run_passes

    path = write_model(tmp_path, _model(case), case.replace("+", "_"))
    graph = run_passes(load_model(path), get_board(board), "portable")
    _force(graph, kernels_dsp, "int8", False)
    (call,) = graph.ops[1].kernel.calls
    assert call.fn.startswith("mcuc_depthwise_conv_s8_dsp") and call.variant.weights == "int8"
    assert "unfolded records" in render_kernel(call.generated)
    _run_bit_exact(path, graph, board, tmp_path)
