"""ONNX frontend: models built with onnx.helper, quantized by onnxruntime in the QDQ and the
QOperator form, compiled and checked bit-exact against onnxruntime (the reference) on the host
(with sanitizers) and on mps2-an386 (Cortex-M4F, whose FPU runs the float requantisation);
float models through --calibrate; clear errors for what is not supported."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

import onnx_modelgen as og
from conftest import assert_bit_exact
from mcucompile.api import simulate
from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.frontend import load_model

# name -> (builder, kwargs, per-tensor too): every supported ONNX op, in both forms
CASES = {
    "conv": ("conv", {}, True),
    "conv_s2_5x5": ("conv", dict(in_shape=(1, 4, 10, 9), cout=6, k=5, stride=2), False),
    "conv_valid": ("conv", dict(pad=0), False),
    "conv_asym_pad": ("conv", dict(pad=(0, 1, 2, 1)), False),
    "conv_dilated": ("conv", dict(in_shape=(1, 2, 12, 12), dil=2), False),
    "conv_no_bias": ("conv", dict(bias=False), False),
    "conv_relu": ("conv_relu", {}, False),
    "conv_clip": ("conv_relu", dict(clip=True), False),
    "depthwise": ("depthwise", {}, True),
    "depthwise_s2": ("depthwise", dict(in_shape=(1, 5, 11, 11), stride=2), False),
    "depthwise_mult2": ("depthwise", dict(mult=2), False),
    "gemm": ("gemm", {}, True),
    "gemm_no_trans": ("gemm", dict(trans_b=False), False),
    "gemm_batch3": ("gemm", dict(batch=3), False),
    "matmul": ("matmul", {}, True),
    "matmul_3d": ("matmul", dict(in_shape=(1, 4, 12)), False),
    "add": ("binary", {}, False),
    "add_broadcast_b": ("binary", dict(shape_b=(1, 3, 1, 1)), False),
    "add_broadcast_a": ("binary", dict(shape_a=(1, 3, 1, 1)), False),
    "add_broadcast_w": ("binary", dict(shape_b=(1, 1, 1, 6)), False),
    "add_const": ("binary", dict(const_b=True), False),
    "mul": ("binary", dict(op="Mul"), False),
    "mul_broadcast": ("binary", dict(op="Mul", shape_b=(1, 3, 1, 1)), False),
    "mul_const": ("binary", dict(op="Mul", const_b=True), False),
    "avg_pool": ("pool", {}, False),
    "avg_pool_3x3_pad": ("pool", dict(in_shape=(1, 3, 9, 9), k=3, stride=2, pads=(1, 1, 1, 1)), False),
    "avg_pool_count_pad": ("pool", dict(in_shape=(1, 3, 9, 9), k=3, stride=2, pads=(1, 1, 1, 1),
                                        count_include_pad=1), False),
    "avg_pool_whole": ("pool", dict(in_shape=(1, 3, 4, 4), k=4, stride=1), False),
    "max_pool": ("pool", dict(op="MaxPool"), False),
    "max_pool_pad": ("pool", dict(op="MaxPool", in_shape=(1, 3, 9, 9), k=3, stride=2,
                                  pads=(1, 1, 1, 1)), False),
    "global_avg_pool_flatten": ("global_avg_pool", {}, False),
    "global_avg_pool_4d": ("global_avg_pool", dict(flatten=False), False),
    "concat_requantize": ("concat", {}, False),
    "sigmoid": ("unary", {}, False),
    "leaky_relu": ("unary", dict(op="LeakyRelu", alpha=0.1), False),
    "relu": ("unary", dict(op="Relu"), False),
    "flatten_feature_map": ("flatten_gemm", {}, False),
    "nhwc_input_transposes": ("transpose_nhwc_input", {}, False),
}
FORMS = ("QDQ", "QOperator")


def _params():
    for name, (_, _, per_tensor) in sorted(CASES.items()):
        for fmt in FORMS:
            yield pytest.param(name, fmt, True, id=f"{name}-{fmt}")
            if per_tensor:
                yield pytest.param(name, fmt, False, id=f"{name}-{fmt}-per_tensor")


def _write(tmp_path, name, fmt="QDQ", per_channel=True):
    builder, kw, _ = CASES[name] if name in CASES else (name, {}, False)
    path = tmp_path / f"{name}_{fmt}.onnx"
    path.write_bytes(og.quantized(builder, fmt, per_channel, **kw))
    return path


@pytest.mark.parametrize("name,fmt,per_channel", list(_params()))
def test_op_bit_exact_host(name, fmt, per_channel, tmp_path):
    path = _write(tmp_path, name, fmt, per_channel)
    rep = simulate(path, "host", count=4, seed=5, sanitize=True, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)


@pytest.mark.parametrize("name,fmt,per_channel", list(_params()))
def test_op_bit_exact_mps2_an386(name, fmt, per_channel, tmp_path):
    path = _write(tmp_path, name, fmt, per_channel)
    rep = simulate(path, "mps2-an386", count=2, seed=6, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)


def test_cases_cover_every_onnx_op():
    """Each ONNX op the frontend claims appears, quantized, in at least one case. Left out:
    Tanh, HardSigmoid, HardSwish (quantize_static leaves them in float), Relu and Clip
    (quantize_static folds them into the previous op's output range: conv_relu/conv_clip
    check that), Reshape/Squeeze/Unsqueeze (the same alias path as Flatten)."""
    seen = set()
    for builder, kw, _ in CASES.values():
        for fmt in FORMS:
            seen |= set(og.op_types(og.quantized(builder, fmt, True, **kw)))
    from mcucompile.frontend.onnx import SUPPORTED
    missing = set(SUPPORTED) - seen - {"Tanh", "HardSigmoid", "HardSwish", "Squeeze",
                                       "Unsqueeze", "Reshape", "Relu", "Clip"}
    assert not missing, missing


@pytest.mark.parametrize("fmt", FORMS)
@pytest.mark.parametrize("net", ["resnet", "mobilenet_v2"])
def test_networks_bit_exact_in_qemu(net, fmt, tmp_path):
    """The issue's goal: ResNet-style (conv-relu-conv + residual add, strided projection) and
    MobileNetV2-style (1x1 expand, depthwise 3x3, 1x1 project, residual add) models,
    quantized by onnxruntime in both forms, bit-exact with onnxruntime on a Cortex-M4F."""
    path = tmp_path / f"{net}_{fmt}.onnx"
    path.write_bytes(og.quantized(net, fmt, True))
    ops = set(og.op_types(path.read_bytes()))
    assert ("QLinearConv" in ops) == (fmt == "QOperator")
    rep = simulate(path, "mps2-an386", count=8, seed=11, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)
    assert rep.instructions and rep.instructions[0] > 0


def test_layout_is_nhwc_at_compile_time(tmp_path):
    """NCHW -> NHWC happens in the compiler: a conv-only model has no TRANSPOSE op, the input
    is NHWC and the conv filter is stored [oc, kh, kw, ic]."""
    graph = load_model(_write(tmp_path, "conv"))
    assert [op.type for op in graph.ops] == ["CONV_2D"]
    assert graph.inputs[0].shape == (1, 9, 9, 3)
    assert graph.ops[0].inputs[1].shape == (5, 3, 3, 3)
    # a model that is NHWC already (Transpose at both ends) needs no transposes either
    graph = load_model(_write(tmp_path, "nhwc_input_transposes"))
    assert [op.type for op in graph.ops] == ["CONV_2D"]
    # a Flatten of a 5x5 feature map keeps ONNX's NCHW element order: one TRANSPOSE copy
    graph = load_model(_write(tmp_path, "flatten_feature_map"))
    assert [op.type for op in graph.ops].count("TRANSPOSE") == 1


# ------------------------------------------------------------------ errors

def test_unsupported_op_names_node(tmp_path):
    b = og._Builder(0)
    x = b.input((1, 3, 6, 6))
    y = b.node("Softmax", [b.conv(x, 3, 4)], axis=1)
    path = tmp_path / "softmax.onnx"
    path.write_bytes(og.quantize(b.model(y), "QDQ"))
    with pytest.raises(McucError) as e:
        load_model(path)
    msg = str(e.value)
    assert "Softmax" in msg and "node " in msg and "supported ONNX ops" in msg


def test_grouped_conv_is_rejected(tmp_path):
    b = og._Builder(0)
    x = b.input((1, 4, 6, 6))
    path = tmp_path / "grouped.onnx"
    path.write_bytes(og.quantize(b.model(b.conv(x, 4, 4, group=2)), "QOperator"))
    with pytest.raises(McucError, match=r"node \d+ .*QLinearConv.*grouped convolution"):
        load_model(path)


def test_float_onnx_without_calibrate(tmp_path, capsys):
    path = tmp_path / "float.onnx"
    onnx.save(og.conv(), path)
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "float ONNX model" in err and "--calibrate" in err


def test_float_keras_without_calibrate(tmp_path, capsys):
    path = tmp_path / "m.keras"
    _keras_model().save(path)
    assert main(["info", str(path)]) == 1
    assert "--calibrate" in capsys.readouterr().err


def test_uint8_activations_are_rejected(tmp_path):
    from onnxruntime.quantization import QuantType
    import onnxruntime.quantization as q
    src, dst = tmp_path / "f.onnx", tmp_path / "u8.onnx"
    onnx.save(og.conv(), src)

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x0": np.zeros((1, 3, 9, 9), np.float32)}])

        def get_next(self):
            return next(self.it, None)
    q.quantize_static(str(src), str(dst), Reader(), quant_format=q.QuantFormat.QDQ,
                      activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    with pytest.raises(McucError, match="only int8 activations"):
        load_model(dst)


# ------------------------------------------------------------------ float models

def _keras_model():
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([
        tf.keras.Input((12, 12, 3)),
        tf.keras.layers.Conv2D(8, 3, activation="relu"),
        tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(5)])


def test_keras_calibrate_to_firmware(tmp_path, capsys):
    """Done-when: a float Keras model goes through --calibrate to firmware (mps2-an386),
    bit-exact with TFLM, with its quantization error reported."""
    model, samples = tmp_path / "float.keras", tmp_path / "samples.npy"
    _keras_model().save(model)
    np.save(samples, np.random.default_rng(0).uniform(-1, 1, (32, 12, 12, 3)).astype(np.float32))
    code = main(["simulate", str(model), "--calibrate", str(samples), "--board", "mps2-an386",
                 "--count", "2", "-o", str(tmp_path / "prj"), "--json"])
    out = capsys.readouterr()
    rep = json.loads(out.out)
    assert code == 0 and rep["bit_exact"]
    q = rep["quantization"]
    assert q["samples"] == 32 and q["quantized_model"].endswith(".tflite")
    assert 0 < q["max_abs_error"] < 0.1 * q["float_output_range"]
    assert q["mean_abs_error"] <= q["max_abs_error"]
    assert q["argmax_agreement"] >= 0.9
    assert "max |error|" in out.err


def test_float_onnx_calibrate(tmp_path, capsys):
    model, samples = tmp_path / "float.onnx", tmp_path / "samples.npy"
    onnx.save(og.resnet(), model)
    np.save(samples, np.random.default_rng(1).uniform(-1, 1, (16, 3, 16, 16)).astype(np.float32))
    code = main(["compile", str(model), "--calibrate", str(samples), "--board", "mps2-an386",
                 "-o", str(tmp_path / "out"), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0
    q = res["quantization"]
    assert q["quantized_model"].endswith("_int8.onnx") and q["samples"] == 16
    assert q["argmax_agreement"] is not None and q["max_abs_error"] > 0
    rep = simulate(q["quantized_model"], "host", count=3, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)
