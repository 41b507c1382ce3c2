"""Checks that every tests/modelgen.py generator builds the ops its docstring
claims and that the model runs in the TFLM reference interpreter.

MobileNetV2 (~8 s to convert) only runs with MCUCOMPILE_SLOW=1.
"""

import os
import re
import sys

import numpy as np
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import modelgen as mg  # noqa: E402

INT8 = 9      # schema TensorType.INT8
FLOAT32 = 0   # schema TensorType.FLOAT32


def doc_ops(fn) -> set:
    """The set of op names on the ``Ops:`` line(s) of ``fn``'s docstring."""
    m = re.search(r"Ops:\s*(.*?)(?:\n\s*\n|$)", fn.__doc__, re.S)
    assert m, f"{fn.__name__} docstring has no 'Ops:' line"
    return set(re.findall(r"[A-Z][A-Z0-9_]+", m.group(1)))


def io_specs(b):
    sg = mg._model_t(b).subgraphs[0]
    ins = [(tuple(int(d) for d in sg.tensors[i].shape), int(sg.tensors[i].type))
           for i in sg.inputs]
    outs = [(tuple(int(d) for d in sg.tensors[i].shape),
             int(sg.tensors[i].type)) for i in sg.outputs]
    return ins, outs


def random_inputs(b, seed=0):
    rng = np.random.default_rng(seed)
    ins, _ = io_specs(b)
    return [rng.integers(-128, 128, s).astype(np.int8) if t == INT8
            else rng.uniform(-1, 1, s).astype(np.float32) for s, t in ins]


# (id, generator, kwargs): defaults of every generator plus variants.
CASES = [
    ("conv2d", mg.conv2d, {}),
    ("conv2d_pt", mg.conv2d, dict(per_channel=False)),
    ("conv2d_s2_valid_relu6_nobias", mg.conv2d,
     dict(in_shape=(1, 10, 10, 3), strides=(2, 2), padding="valid",
          activation="relu6", use_bias=False)),
    ("conv2d_dil2_relu", mg.conv2d, dict(dilation=(2, 2), activation="relu")),
    ("conv2d_1x1", mg.conv2d, dict(kernel=(1, 1), filters=7)),
    ("conv2d_rect", mg.conv2d, dict(in_shape=(1, 7, 10, 2), kernel=(2, 4),
                                    strides=(2, 3))),
    ("dw", mg.depthwise_conv2d, {}),
    ("dw_mult2_s2_relu", mg.depthwise_conv2d,
     dict(depth_multiplier=2, strides=(2, 2), activation="relu")),
    ("dw_dil2_valid", mg.depthwise_conv2d, dict(dilation=(2, 2),
                                                 padding="valid")),
    ("dw_pt_relu6", mg.depthwise_conv2d, dict(per_channel=False,
                                              activation="relu6")),
    ("dense", mg.dense, {}),
    ("dense_relu_b4", mg.dense, dict(activation="relu", batch_dims=(4,))),
    ("dense_pt", mg.dense, dict(per_channel=False)),
    ("dense_3d", mg.dense_3d, {}),
    ("add", mg.add, {}),
    ("add_bcast_relu", mg.add, dict(shape_b=(1, 1, 1, 3), activation="relu")),
    ("add_bcast_both", mg.add, dict(shape_a=(1, 1, 4, 3),
                                    shape_b=(1, 4, 1, 3))),
    ("add_const", mg.add, dict(shape_b=(3,), const_b=True)),
    ("sub", mg.sub, {}),
    ("sub_bcast", mg.sub, dict(shape_b=(1, 4, 1, 1))),
    ("mul", mg.mul, {}),
    ("mul_const_relu6", mg.mul, dict(const_b=True, activation="relu6")),
    ("avg_pool", mg.avg_pool, {}),
    ("avg_pool_same", mg.avg_pool, dict(in_shape=(1, 7, 7, 2), pool=(3, 3),
                                        strides=(2, 2), padding="same")),
    ("max_pool", mg.max_pool, {}),
    ("max_pool_same", mg.max_pool, dict(in_shape=(1, 7, 7, 2), pool=(3, 3),
                                        strides=(2, 2), padding="same")),
    ("mean", mg.mean, {}),
    ("mean_keepdims", mg.mean, dict(keepdims=True)),
    ("mean_axis3", mg.mean, dict(axes=(3,))),
    ("pad", mg.pad, {}),
    ("concat", mg.concat, {}),
    ("concat3_axis1", mg.concat, dict(shapes=((1, 2, 3), (1, 4, 3),
                                              (1, 1, 3)), axis=1)),
    ("softmax", mg.softmax, {}),
    ("softmax_beta", mg.softmax, dict(shape=(1, 3, 7), beta=0.5)),
    ("logistic", mg.logistic, {}),
    ("tanh", mg.tanh, {}),
    ("hard_swish", mg.hard_swish, {}),
    ("relu", mg.relu, {}),
    ("relu6", mg.relu6, {}),
    ("leaky_relu", mg.leaky_relu, {}),
    ("leaky_relu_01", mg.leaky_relu, dict(alpha=0.1)),
    ("reshape", mg.reshape, {}),
    ("squeeze", mg.squeeze, {}),
    ("transpose", mg.transpose, {}),
    ("transpose_3d", mg.transpose, dict(in_shape=(2, 3, 4), perm=(2, 0, 1))),
    ("strided_slice", mg.strided_slice, {}),
    ("slice", mg.slice_, {}),
    ("split", mg.split, {}),
    ("split_axis1", mg.split, dict(in_shape=(1, 4, 3, 2), num=2, axis=1)),
    ("split_v", mg.split_v, {}),
    ("residual_block", mg.residual_block, {}),
    ("small_cnn", mg.small_cnn, {}),
    ("dead_channels", mg.dead_channels, {}),
    ("unsupported_op", mg.unsupported_op, {}),
    ("float_model", mg.float_model, {}),
]


@pytest.mark.parametrize("gen,kwargs", [(g, k) for _, g, k in CASES],
                         ids=[c[0] for c in CASES])
def test_ops_and_tflm_run(gen, kwargs):
    b = gen(**kwargs)
    assert isinstance(b, bytes) and b[4:8] == b"TFL3"
    assert set(mg.ops_in(b)) == doc_ops(gen)
    ins, outs = io_specs(b)
    want_type = FLOAT32 if gen is mg.float_model else INT8
    assert all(t == want_type for _, t in ins + outs)
    res = mg.run_tflm(b, random_inputs(b))
    assert [r.shape for r in res] == [s for s, _ in outs]
    assert all(r.dtype == (np.int8 if want_type == INT8 else np.float32)
               for r in res)


def test_every_generator_is_covered():
    gens = {n for n in mg.__all__ if callable(getattr(mg, n))
            and getattr(mg, n).__doc__ and "Ops:" in getattr(mg, n).__doc__}
    covered = {g.__name__ for _, g, _ in CASES} | {"mobilenet_v2", "mobilenet_v1"}
    assert gens <= covered, gens - covered


@pytest.mark.parametrize("kind", sorted(mg.UNSUPPORTED_KINDS))
def test_unsupported_op_kinds(kind):
    b = mg.unsupported_op(kind=kind)
    assert mg.ops_in(b) == mg.UNSUPPORTED_KINDS[kind]
    (y,) = mg.run_tflm(b, random_inputs(b))
    assert y.dtype == np.int8 and y.shape == (1, 4, 4, 3)


def test_per_channel_vs_per_tensor():
    assert mg.weight_scales(mg.conv2d()) and \
        len(mg.weight_scales(mg.conv2d())[0]) == 5
    assert len(mg.weight_scales(mg.conv2d(per_channel=False))[0]) == 1
    assert len(mg.weight_scales(mg.depthwise_conv2d(depth_multiplier=2))[0]) == 8
    assert len(mg.weight_scales(mg.depthwise_conv2d(per_channel=False))[0]) == 1
    assert len(mg.weight_scales(mg.dense())[0]) == 10
    assert len(mg.weight_scales(mg.dense(per_channel=False))[0]) == 1


def _builtin_options(b, k=0):
    m = mg._model_t(b)
    return m.subgraphs[0].operators[k].builtinOptions


def test_op_options():
    o = _builtin_options(mg.conv2d(dilation=(2, 2), activation="relu"))
    assert (o.dilationHFactor, o.dilationWFactor) == (2, 2)
    assert o.fusedActivationFunction == 1  # RELU
    o = _builtin_options(mg.conv2d(in_shape=(1, 10, 10, 3), strides=(2, 2),
                                   padding="valid", activation="relu6"))
    assert (o.strideH, o.strideW, o.padding) == (2, 2, 1)  # VALID
    assert o.fusedActivationFunction == 3  # RELU6
    o = _builtin_options(mg.depthwise_conv2d(depth_multiplier=2))
    assert o.depthMultiplier == 2
    assert _builtin_options(mg.dense_3d()).keepNumDims is True
    assert _builtin_options(mg.softmax(beta=0.5)).beta == pytest.approx(0.5)
    assert _builtin_options(mg.add(activation="relu")).fusedActivationFunction == 1


def test_input_output_order_is_canonical():
    b = mg.concat(((1, 2, 3), (1, 2, 4), (1, 2, 5)), axis=-1)
    ins, outs = io_specs(b)
    assert [s for s, _ in ins] == [(1, 2, 3), (1, 2, 4), (1, 2, 5)]
    xs = [np.full(s, i + 1, np.int8) for i, (s, _) in enumerate(ins)]
    (y,) = mg.run_tflm(b, xs)
    assert y[0, 0].tolist() == [1] * 3 + [2] * 4 + [3] * 5

    b = mg.add((1, 4, 4, 3), (1, 1, 1, 3))
    assert [s for s, _ in io_specs(b)[0]] == [(1, 4, 4, 3), (1, 1, 1, 3)]

    b = mg.split_v((1, 4, 4, 6), (1, 2, 3), axis=-1)
    x = np.arange(96, dtype=np.int8).reshape(1, 4, 4, 6)
    outs = mg.run_tflm(b, x)
    assert [o.shape[-1] for o in outs] == [1, 2, 3]
    np.testing.assert_array_equal(np.concatenate(outs, -1), x)


def test_fixed_activation_output_quant():
    assert mg.io_quant(mg.softmax())[1][0] == (pytest.approx(1 / 256), -128)
    assert mg.io_quant(mg.logistic())[1][0] == (pytest.approx(1 / 256), -128)
    assert mg.io_quant(mg.tanh())[1][0] == (pytest.approx(1 / 128), 0)


@pytest.mark.slow          # converts afresh: imports TensorFlow (about 6 s of the fast tier)
def test_deterministic_and_cached():
    a = mg.conv2d(seed=3)
    assert mg.conv2d(seed=3) is a
    assert mg.conv2d(in_shape=[1, 9, 9, 3], seed=3) is a  # lists hashable
    assert mg.conv2d.uncached(seed=3) == a          # converted afresh, not from the cache
    assert mg.conv2d(seed=4) != a


def test_float_model_has_no_quantization():
    b = mg.float_model()
    assert mg.io_quant(b) == ([(None, None)], [(None, None)])


def test_corrupt_helpers():
    b = mg.conv2d()
    t = mg.truncated(b, 64)
    assert len(t) == 64 and t == b[:64]
    w = mg.wrong_magic(b)
    assert len(w) == len(b) and w[4:8] == b"XXXX" and w[8:] == b[8:]


@pytest.mark.skipif(not os.environ.get("MCUCOMPILE_SLOW"),
                    reason="slow (~8 s conversion); set MCUCOMPILE_SLOW=1")
def test_mobilenet_v2():
    b = mg.mobilenet_v2()
    assert set(mg.ops_in(b)) == doc_ops(mg.mobilenet_v2)
    assert len(mg.ops_in(b)) == 65
    outs = [mg.run_tflm(b, random_inputs(b, s))[0] for s in range(2)]
    assert outs[0].shape == (1, 10)
    assert not np.array_equal(outs[0], outs[1])  # not a dead network


@pytest.mark.slow
def test_mobilenet_v1_rgb():
    """MLPerf Tiny's visual wake words shape: 31 ops, RGB input, a live network."""
    b = mg.mobilenet_v1(0.25, 96, 3, 2)
    assert set(mg.ops_in(b)) == doc_ops(mg.mobilenet_v1)
    assert len(mg.ops_in(b)) == 31
    sg = mg._model_t(b).subgraphs[0]
    assert list(sg.tensors[sg.inputs[0]].shape) == [1, 96, 96, 3]
    outs = [mg.run_tflm(b, random_inputs(b, s))[0] for s in range(2)]
    assert outs[0].shape == (1, 2)


@pytest.mark.slow
def test_demo_digits_model():
    """mcucompile.demo_model: trained digits CNN, int8 accuracy in TFLM."""
    try:
        from mcucompile.demo_model import train_digits_model, DEMO_OPS
    except ImportError:
        sys.path.insert(0, os.path.dirname(_HERE))
        from mcucompile.demo_model import train_digits_model, DEMO_OPS
    msgs = []
    d = train_digits_model(seed=0, progress=msgs.append)
    assert msgs and msgs[-1] == "done"
    assert set(mg.ops_in(d.tflite)) == set(DEMO_OPS)
    assert d.x_test.dtype == np.int8 and d.x_test.shape[1:] == (8, 8, 1)
    assert len(d.x_test) == len(d.y_test) == 360
    assert (d.input_scale, d.input_zero_point) == mg.io_quant(d.tflite)[0][0]
    assert d.float_accuracy > 0.93
    from tflite_micro.python.tflite_micro import runtime
    ip = runtime.Interpreter.from_bytes(d.tflite)
    outs = []
    for i in range(len(d.x_test)):
        ip.set_input(d.x_test[i:i + 1], 0)
        ip.invoke()
        outs.append(ip.get_output(0).copy())
    acc = d.accuracy(np.concatenate(outs))
    assert acc > 0.93
    assert abs(acc - d.float_accuracy) < 0.03


def test_dead_channels_and_requant_edges():
    """Dead channels get a per-channel weight scale ~1e-6 of the others (< 1e-4 of the
    median); requant_edges writes the int32 bias ends and scales the layer's output range."""
    for layer in ("conv", "depthwise", "dense"):
        b = mg.dead_channels(layer=layer, in_shape=(1, 40) if layer == "dense" else
                             (1, 16, 16, 3))
        want = {"conv": ["CONV_2D"] * 3, "depthwise": ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"],
                "dense": ["FULLY_CONNECTED"] * 3}[layer]
        assert mg.ops_in(b) == want
        scales = np.array(mg.weight_scales(b)[1])
        typical = np.median(scales)
        assert scales[0] < 1e-4 * typical and scales[5] < 1e-4 * typical
        e = mg.requant_edges(b, out_scale=2.0**-16)
        sg = mg._model_t(e).subgraphs[0]
        op = sg.operators[1]
        bias = np.frombuffer(bytes(bytearray(mg._model_t(e).buffers[
            sg.tensors[op.inputs[2]].buffer].data)), "<i4")
        assert bias[:2].tolist() == [2**31 - 1, -2**31]
        before = mg._model_t(b).subgraphs[0].tensors[op.outputs[0]].quantization.scale[0]
        assert sg.tensors[op.outputs[0]].quantization.scale[0] == \
            pytest.approx(before * 2.0**-16)
        mg.run_tflm(e, random_inputs(e))
