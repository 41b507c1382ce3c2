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
from mcucompile.api import plan_model, simulate
from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes

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
    "relu_standalone": ("conv_relu", dict(keep_activations=True), False),
    "clip_standalone": ("conv_relu", dict(clip=True, keep_activations=True), False),
    "activations": ("activations", {}, False),
    "reshapes": ("reshapes", {}, False),
    "flatten_feature_map": ("flatten_gemm", {}, False),
    "nhwc_input_transposes": ("transpose_nhwc_input", {}, False),
    "pad_nodes": ("padded", {}, False),
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
    """Each ONNX op the frontend claims appears, quantized, in at least one case, and each op
    the issue lists appears in both forms where onnxruntime has both: QDQ Conv, Gemm, MatMul,
    Add, Mul, AveragePool, MaxPool, GlobalAveragePool, Concat, Relu, Clip, Sigmoid and their
    QOperator forms. Relu and Clip have no QOperator form (quantize_static folds them into
    the previous op's output range there; conv_relu/conv_clip check that case), MaxPool runs on
    int8 in both forms."""
    seen = {fmt: set() for fmt in FORMS}
    for builder, kw, _ in CASES.values():
        for fmt in FORMS:
            seen[fmt] |= set(og.op_types(og.quantized(builder, fmt, True, **kw)))
    from mcucompile.frontend.onnx import SUPPORTED
    assert not set(SUPPORTED) - seen["QDQ"] - seen["QOperator"]
    assert {"Conv", "Gemm", "MatMul", "Add", "Mul", "AveragePool", "MaxPool",
            "GlobalAveragePool", "Concat", "Relu", "Clip", "Sigmoid", "LeakyRelu",
            "HardSwish"} <= seen["QDQ"]
    assert {"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul",
            "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat",
            "QLinearSigmoid", "QLinearLeakyRelu", "MaxPool"} <= seen["QOperator"]


def test_standalone_activations_are_tables(tmp_path):
    """Relu, Clip, LeakyRelu, HardSwish, Sigmoid, Tanh and HardSigmoid that are not fused
    into a conv become one 256-entry table each (filled by onnxruntime itself); in the
    QOperator form Relu and Clip are gone (folded by quantize_static) and QLinearConcat
    requantizes the conv output for those two inputs."""
    qdq = [op.type for op in load_model(_write(tmp_path, "activations")).ops]
    assert qdq.count("CONV_2D") == 1 and qdq.count("CONCATENATION") == 1
    for kind in ("RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH",
                 "HARD_SIGMOID"):
        assert kind in qdq, (kind, qdq)
    qop = [op.type for op in load_model(_write(tmp_path, "activations", "QOperator")).ops]
    assert "RELU" not in qop and "RELU6" not in qop and "HARD_SWISH" in qop


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
    # convolutions run the DSP GEMM with the float requantisation (kernels_dsp, fpreq)
    assert any((tmp_path / "prj" / "kernels").glob("mcuc_conv_s8_dsp_op*.c"))


@pytest.mark.parametrize("board", ["mps2-an385", "mps3-an547"])
def test_network_bit_exact_without_fpu_and_on_m55(board, tmp_path):
    """The float requantisation is IEEE single precision: a Cortex-M3 without an FPU gets the
    same bits from libgcc's soft-float, the M55 from its FPU."""
    path = tmp_path / "mobilenet_v2.onnx"
    path.write_bytes(og.quantized("mobilenet_v2", "QDQ", True))
    rep = simulate(path, board, count=4, seed=12, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)


def test_layout_is_nhwc_at_compile_time(tmp_path):
    """NCHW -> NHWC happens in the compiler: a conv-only model has no TRANSPOSE op once the
    input's is folded (passes/canonicalize.py), the input is NHWC and the conv filter is
    stored [oc, kh, kw, ic]; --keep-input-layout keeps the input NCHW, transposed by a copy."""
    path = _write(tmp_path, "conv")
    graph = run_passes(load_model(path))
    assert [op.type for op in graph.ops] == ["CONV_2D"]
    assert graph.inputs[0].shape == (1, 9, 9, 3) and graph.input_perms == {0: (0, 3, 1, 2)}
    assert graph.ops[0].inputs[1].shape == (5, 3, 3, 3)
    graph = run_passes(load_model(path), keep_layout=True)
    assert [op.type for op in graph.ops] == ["TRANSPOSE", "CONV_2D"]
    assert graph.inputs[0].shape == (1, 3, 9, 9) and not graph.input_perms
    assert_bit_exact(simulate(path, "host", count=2, keep_layout=True,
                              out_dir=tmp_path / "prj"))
    # a model that is NHWC already (Transpose at both ends) needs no transposes either
    graph = load_model(_write(tmp_path, "nhwc_input_transposes"))
    assert [op.type for op in graph.ops] == ["CONV_2D"]
    # a Flatten of a 5x5 feature map keeps ONNX's NCHW element order: one TRANSPOSE copy
    graph = run_passes(load_model(_write(tmp_path, "flatten_feature_map")))
    assert [op.type for op in graph.ops].count("TRANSPOSE") == 1


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("fmt,op", [("QDQ", "Softmax"), ("QOperator", "QLinearSoftmax")])
def test_unsupported_op_names_node(fmt, op, tmp_path, capsys):
    """The error names the file, the node's index in that file, its name and its op type,
    and lists what is supported; the CLI prints it without a traceback and exits 1."""
    b = og._Builder(0)
    x = b.input((1, 3, 6, 6))
    b.nodes.append(onnx.helper.make_node("Softmax", [b.conv(x, 3, 4)], ["probs"], axis=1,
                                         name="my_softmax"))
    y = b.node("Relu", ["probs"])
    path = tmp_path / f"softmax_{fmt}.onnx"
    path.write_bytes(og.quantize(b.model(y), fmt))
    nodes = onnx.load(str(path)).graph.node
    index = next(k for k, n in enumerate(nodes) if n.op_type == op)
    with pytest.raises(McucError) as e:
        load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: node {index} '{nodes[index].name}' ({op}): "
                          f"unsupported op '{op}'"), msg
    assert "my_softmax" in nodes[index].name and "supported ONNX ops: " in msg
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"node {index}" in err and op in err and "Traceback" not in err


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
    assert str(path) in err and "float ONNX model" in err and "--calibrate" in err


def test_float_keras_without_calibrate(tmp_path, capsys):
    path = tmp_path / "m.keras"
    _keras_model().save(path)
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "float Keras" in err and "--calibrate" in err


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


# ------------------------------------------------------------------ the reference configuration

def _vectors(graph, n, seed):
    total = sum(t.nbytes for t in graph.inputs)
    return np.random.default_rng(seed).integers(-128, 128, (n, total), dtype=np.int8)


# (model, form): measured on x86-64 (AVX512-VNNI), onnxruntime 1.32, 400 random vectors;
# README "ONNX models and float models" has the table.
DEFAULT_OPTION_MODELS = [("avg_pool", "QDQ"), ("avg_pool", "QOperator"),
                         ("depthwise_mult2", "QDQ"), ("mobilenet_v2", "QDQ"),
                         ("mobilenet_v2", "QOperator"), ("resnet", "QDQ")]


@pytest.mark.slow
def test_onnxruntime_default_options_measured(tmp_path, capsys):
    """The firmware matches onnxruntime with session.qdqisint8allowed=1 (REFERENCE_SESSION_CONFIG:
    onnxruntime's default on Arm CPUs, where QDQ groups run as the integer QLinear kernels).
    onnxruntime's default on x86 is 0: S8S8 QDQ Conv/AveragePool/... groups then run as
    DequantizeLinear -> float op -> QuantizeLinear, so a user's own x86 onnxruntime can differ
    from the firmware. Measured here, on 400 vectors per model: the firmware is bit-exact with
    the reference (no loosened comparison); the default-option run's float sums depend on the
    x86 kernel onnxruntime picks for the CPU (AVX512-VNNI: at most 1 LSB, 2 of 4,000 outputs of
    the MobileNetV2-style model; AVX2-only AMD EPYC: at most 2 LSB, 680 of 4,000), so that
    part is bounded loosely; QOperator models (QLinear kernels under either setting) never
    differ."""
    import platform

    from mcucompile.reference import onnxruntime_outputs
    rows = []
    for name, fmt in DEFAULT_OPTION_MODELS:
        builder, kw, _ = CASES[name] if name in CASES else (name, {}, False)
        path = tmp_path / f"{name}_{fmt}.onnx"
        path.write_bytes(og.quantized(builder, fmt, True, **kw))
        graph = run_passes(load_model(path))   # the firmware's input layout
        vectors = _vectors(graph, 400, 21)
        np.save(tmp_path / "v.npy", vectors)
        rep = simulate(path, "host", inputs=tmp_path / "v.npy", out_dir=tmp_path / f"prj_{name}")
        assert_bit_exact(rep)
        default = onnxruntime_outputs(path.read_bytes(), graph, vectors, session_config={})
        diff = np.abs(default.astype(np.int32) - rep.reference.astype(np.int32))
        rows.append((name, fmt, int((diff > 0).sum()), diff.size, int(diff.max())))
    with capsys.disabled():
        print("\nonnxruntime default session options vs the reference (qdqisint8allowed=1), "
              f"{platform.machine()}:")
        for name, fmt, n, size, mx in rows:
            print(f"  {name:<16} {fmt:<9} {n:>5} of {size:>6} outputs differ, max {mx} LSB")
    for name, fmt, n, size, mx in rows:
        assert mx <= 2, rows
        assert n <= 0.2 * size, rows
        if fmt == "QOperator" or platform.machine().lower() in ("arm64", "aarch64"):
            assert n == 0, rows


def test_float_inputs_are_quantized_like_quantizelinear(tmp_path):
    """Float input vectors for an ONNX model are quantized as its QuantizeLinear does (float32
    x / scale, half to even; TFLite rounds half away from zero), so the firmware's outputs are
    what the user's own onnxruntime gives on the whole float-in, float-out model (reference
    session options). Half the inputs are exact ties."""
    import onnxruntime as ort

    from mcucompile.reference import REFERENCE_SESSION_CONFIG
    path = _write(tmp_path, "conv")
    graph = load_model(path)
    (si, zi), (so_, zo) = graph.inputs[0].quant.scalar(), graph.outputs[0].quant.scalar()
    rng = np.random.default_rng(4)
    k = rng.integers(-60, 60, (4, 9, 9, 3)).astype(np.float32)
    x = np.where(rng.random(k.shape) < 0.5, (k + 0.5) * np.float32(si),
                 rng.uniform(-1, 1, k.shape)).astype(np.float32)          # NHWC, the firmware's
    ties = (x / np.float32(si)) % 1 == 0.5
    assert ties.sum() > 300
    np.save(tmp_path / "x.npy", x)
    rep = simulate(path, "host", inputs=tmp_path / "x.npy", out_dir=tmp_path / "prj")
    assert_bit_exact(rep)
    opts = ort.SessionOptions()
    for key, value in REFERENCE_SESSION_CONFIG.items():
        opts.add_session_config_entry(key, value)
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for v, got in zip(x, rep.outputs):
        y = sess.run(None, {"x0": v[None].transpose(0, 3, 1, 2)})[0]        # NCHW float
        q = np.clip(np.rint(y / np.float32(so_)) + zo, -128, 127).astype(np.int8)
        assert np.array_equal(q.transpose(0, 2, 3, 1).reshape(-1), got)


def test_simulate_names_onnxruntime_as_the_reference(tmp_path):
    messages = []
    rep = simulate(_write(tmp_path, "gemm"), "host", count=1, out_dir=tmp_path / "prj",
                   progress=messages.append)
    assert rep.reference_impl.startswith("onnxruntime ")
    assert rep.to_json()["reference"] == rep.reference_impl
    assert any(m.startswith("running the reference: onnxruntime") for m in messages), messages
    assert not any("TFLM" in m for m in messages), messages


# ------------------------------------------------------------------ multi-input --calibrate

def _two_input_onnx():
    b = og._Builder(3)
    x0, x1 = b.input((1, 3, 6, 6)), b.input((1, 2, 6, 6))
    y = b.node("Concat", [b.conv(x0, 3, 4), b.conv(x1, 2, 3)], axis=1)
    return b.model(b.conv(y, 7, 5))


def test_calibrate_multi_input_onnx(tmp_path, capsys):
    """--calibrate with an .npz holding one array per input name (any order); a .npy for a
    two-input model is a clear error that says what to give instead."""
    model = tmp_path / "two.onnx"
    onnx.save(_two_input_onnx(), model)
    rng = np.random.default_rng(2)
    a, b = (rng.uniform(-1, 1, (12, 3, 6, 6)).astype(np.float32),
            rng.uniform(-1, 1, (12, 2, 6, 6)).astype(np.float32))
    np.save(tmp_path / "one.npy", a)
    assert main(["compile", str(model), "--calibrate", str(tmp_path / "one.npy"),
                 "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "2 inputs (x0, x1)" in err and ".npz" in err and "np.savez" in err
    np.savez(tmp_path / "bad.npz", x0=a, x2=b)
    assert main(["compile", str(model), "--calibrate", str(tmp_path / "bad.npz"),
                 "-o", str(tmp_path / "out")]) == 1
    assert "no calibration samples for model input 'x1'" in capsys.readouterr().err
    np.savez(tmp_path / "s.npz", x1=b, x0=a)
    code = main(["simulate", str(model), "--calibrate", str(tmp_path / "s.npz"), "--board",
                 "host", "--count", "3", "-o", str(tmp_path / "prj"), "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 0 and rep["bit_exact"] and rep["reference"].startswith("onnxruntime")
    q = rep["quantization"]
    assert q["samples"] == 12 and 0 < q["max_abs_error"] < 0.1 * q["float_output_range"]
    graph = load_model(q["quantized_model"])
    assert [t.name for t in graph.inputs] == ["x0", "x1"]   # the model's own input names


def test_calibrate_multi_input_keras(tmp_path, capsys):
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    image, extra = tf.keras.Input((8, 8, 3), name="image"), tf.keras.Input((5,), name="extra")
    h = tf.keras.layers.GlobalAveragePooling2D()(
        tf.keras.layers.Conv2D(4, 3, activation="relu")(image))
    h = tf.keras.layers.Concatenate()([h, tf.keras.layers.Dense(4)(extra)])
    model = tmp_path / "two.keras"
    tf.keras.Model([image, extra], tf.keras.layers.Dense(3)(h)).save(model)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", extra=rng.uniform(-1, 1, (16, 5)).astype(np.float32),
             image=rng.uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32))
    code = main(["simulate", str(model), "--calibrate", str(tmp_path / "s.npz"), "--board",
                 "host", "--count", "2", "-o", str(tmp_path / "prj"), "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 0 and rep["bit_exact"]
    q = rep["quantization"]
    assert q["samples"] == 16 and 0 < q["max_abs_error"] < 0.1 * q["float_output_range"]


def test_every_command_accepts_onnx(tmp_path, capsys):
    """info, compile, plan, profile (and simulate, above) take .onnx like .tflite."""
    path = tmp_path / "resnet.onnx"
    path.write_bytes(og.quantized("resnet", "QOperator", True))
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["op_count"] > 5 and info["inputs"][0]["name"] == "x0"
    assert info["inputs"][0]["shape"] == [1, 16, 16, 3]        # NHWC in the firmware
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--json"]) == 0
    assert "model.c" in json.loads(capsys.readouterr().out)["files"]
    assert main(["plan", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["arena_bytes"] > 0
    assert main(["profile", str(path), "--board", "mps2-an386", "-o", str(tmp_path / "p"),
                 "--json"]) == 0
    prof = json.loads(capsys.readouterr().out)
    assert prof["instructions"] > 0 and any("fpreq" in k for r in prof["ops"]
                                            for k in r["kernels"])


@pytest.mark.parametrize("kind", ["savedmodel", "h5"])
def test_calibrate_savedmodel_and_h5(kind, tmp_path, capsys):
    """The other float TensorFlow formats --calibrate takes: a SavedModel directory (with a
    serving_default signature) and a legacy .h5 file."""
    model = _keras_model()
    path = tmp_path / ("saved" if kind == "savedmodel" else "m.h5")
    if kind == "savedmodel":
        model.export(str(path), verbose=False)
    else:
        model.save(path)
    samples = tmp_path / "s.npy"
    np.save(samples, np.random.default_rng(3).uniform(-1, 1, (16, 12, 12, 3)).astype(np.float32))
    assert main(["info", str(path)]) == 1
    assert "--calibrate" in capsys.readouterr().err
    code = main(["simulate", str(path), "--calibrate", str(samples), "--board", "host",
                 "--count", "2", "-o", str(tmp_path / "prj"), "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 0 and rep["bit_exact"] and rep["reference"] == "TFLM"
    q = rep["quantization"]
    assert q["samples"] == 16 and q["quantized_model"].endswith("_int8.tflite")
    assert 0 < q["max_abs_error"] < 0.1 * q["float_output_range"]


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_patches_on_onnx_models(fmt, tmp_path):
    """Patch-based inference takes the ONNX kernels too (float-requantised convolutions, float
    ADD): smaller arena, still bit-exact with onnxruntime, on the host and on the M4 (where the
    tiles run the DSP kernels)."""
    path = tmp_path / f"resnet_{fmt}.onnx"
    path.write_bytes(og.quantized("resnet", fmt, True, in_shape=(1, 3, 32, 32)))
    _, plain = plan_model(path, "host")
    rep = simulate(path, "host", count=3, seed=5, patch="auto")
    assert_bit_exact(rep)
    assert rep.patch is not None and rep.arena_bytes < plain.arena_bytes
    spec = f"{rep.patch['grid']}@{rep.patch['split_op_index']}"
    rep = simulate(path, "mps2-an386", count=2, seed=6, patch=spec, out_dir=tmp_path / "prj")
    assert_bit_exact(rep)
