"""The int8 ops of issue 14 part 4, in models made by TensorFlow's converter, bit-exact with
TFLM on the host (sanitized build) over varied shapes and options, and in QEMU on a Cortex-M4
and a Cortex-M55 (one model combining them); hostile fields of each refused in one line."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import modelgen
import modelgen_ops as mo
from conftest import assert_bit_exact, write_model
from mcucompile.api import simulate
from mcucompile.errors import McucError
from mcucompile.frontend import load_model

CASES = {
    # nearest: up, down, odd factors, align_corners / half_pixel_centers
    "nearest_up": lambda: mo.resize((1, 5, 7, 3), (10, 14)),
    "nearest_odd": lambda: mo.resize((2, 4, 6, 5), (11, 5)),
    "nearest_align": lambda: mo.resize((1, 5, 7, 3), (9, 4), align_corners=True),
    "nearest_half": lambda: mo.resize((1, 6, 5, 2), (13, 11), half_pixel_centers=True),
    "nearest_down": lambda: mo.resize((1, 9, 8, 4), (4, 3), half_pixel_centers=True),
    # bilinear: the same, with the negative edge weights of half-pixel centers
    "bilinear_up": lambda: mo.resize((1, 5, 7, 3), (10, 14), method="bilinear"),
    "bilinear_half": lambda: mo.resize((1, 6, 5, 2), (13, 11), method="bilinear",
                                       half_pixel_centers=True),
    "bilinear_align": lambda: mo.resize((2, 5, 7, 3), (9, 4), method="bilinear",
                                        align_corners=True),
    "bilinear_down": lambda: mo.resize((1, 9, 8, 4), (4, 3), method="bilinear"),
    "upsample_nearest": lambda: mo.upsampling((1, 6, 5, 4), (2, 3)),
    "upsample_bilinear": lambda: mo.upsampling((1, 4, 7, 3), (3, 2), "bilinear"),
    # minimum / maximum: same shapes, broadcast either way, a constant operand
    "maximum": lambda: mo.min_max((1, 4, 4, 3), (1, 4, 4, 3)),
    "minimum": lambda: mo.min_max((1, 4, 4, 3), (1, 4, 4, 3), "minimum"),
    "maximum_broadcast": lambda: mo.min_max((1, 1, 5, 1), (1, 3, 1, 6)),
    "minimum_broadcast": lambda: mo.min_max((1, 4, 4, 3), (1, 1, 1, 3), "minimum"),
    "maximum_const": lambda: mo.min_max((1, 4, 4, 3), (1, 4, 4, 3), const_b=True),
    "minimum_const_broadcast": lambda: mo.min_max((2, 5, 3), (5, 1), "minimum", const_b=True),
    "decoder_head": lambda: mo.decoder_head(),
    "feature_head": lambda: mo.feature_head(),
    "float_edges": lambda: mo.float_edges(),
    # ARG_MAX / ARG_MIN: int32 index outputs over the last, a middle and the first axis
    "argmax_channels": lambda: mo.arg_min_max((1, 5, 6, 7), -1),
    "argmin_rows": lambda: mo.arg_min_max((1, 5, 6, 7), 1, "argmin"),
    "argmax_3d": lambda: mo.arg_min_max((2, 9, 5), 1, conv=False),
    "argmin_first_axis": lambda: mo.arg_min_max((7, 3), 0, "argmin", conv=False),
    # GATHER: constant indices of several shapes, repeats, along the first/middle/last axis,
    # with batch_dims
    "gather_rows": lambda: mo.gather((1, 6, 5, 4), (4, 0, 2, 2), 1),
    "gather_2d_indices": lambda: mo.gather((7, 3), ((1, 6), (0, 0), (5, 2)), 0),
    "gather_batch_dims": lambda: mo.gather((2, 5, 3), ((4, 1, 1), (0, 3, 2)), 1, 1),
    "gather_last_axis": lambda: mo.gather((1, 4, 6), (5, 0), -1),
    # SQUARED_DIFFERENCE: different input scales, broadcasting, a constant operand
    "squared_difference": lambda: mo.squared_difference(),
    "squared_difference_broadcast": lambda: mo.squared_difference((1, 4, 4, 3), (1, 1, 4, 1)),
    "squared_difference_const": lambda: mo.squared_difference((2, 5, 3), (5, 1), True),
    # TRANSPOSE_CONV: strides 1-3, SAME/VALID, rectangular kernels, batches, fused RELU,
    # without bias
    "transpose_conv": lambda: mo.transpose_conv(),
    "transpose_conv_relu": lambda: mo.transpose_conv(activation="relu"),
    "transpose_conv_valid": lambda: mo.transpose_conv(padding="valid", strides=(1, 2)),
    "transpose_conv_no_bias": lambda: mo.transpose_conv(use_bias=False),
    "transpose_conv_5x3_s3": lambda: mo.transpose_conv((2, 4, 6, 5), 3, (5, 3), (3, 2)),
    "transpose_conv_2x2_valid": lambda: mo.transpose_conv((1, 7, 7, 8), 4, (2, 2), (2, 2),
                                                          "valid"),
    # BATCH_MATMUL: two activations (adj_x, adj_y), constant operands, broadcast batch
    # dims, ranks 2 to 4
    "batch_matmul_xxT": lambda: mo.batch_matmul((2, 4, 5), adj_y=True),
    "batch_matmul_xTx": lambda: mo.batch_matmul((2, 4, 5), adj_x=True, adj_y=False),
    "batch_matmul_const": lambda: mo.batch_matmul((2, 4, 5), (2, 5, 3), adj_y=False),
    "batch_matmul_4d_broadcast": lambda: mo.batch_matmul((2, 3, 4, 5), (1, 3, 6, 5),
                                                         adj_y=True),
    "batch_matmul_broadcast_adj_x": lambda: mo.batch_matmul((1, 5, 4), (3, 5, 6), True, False),
    "batch_matmul_rank2": lambda: mo.batch_matmul((6, 7), (2, 7, 3), adj_y=False),
    # RSQRT: after x^2 + eps, and on every int8 code above the zero point
    "rsqrt": lambda: mo.rsqrt((1, 5, 5, 3), 0.05),
    "rsqrt_wide_eps": lambda: mo.rsqrt((3, 17), 0.5),
    "rsqrt_every_code": lambda: mo.rsqrt((4, 64), direct=True),
}


# The fast tier runs one or two cases per op (the options most likely to go wrong); the
# other variants run with the slow tests.
FAST_CASES = {"nearest_half", "nearest_align", "bilinear_half", "bilinear_align",
              "maximum_broadcast", "minimum_const_broadcast", "argmax_channels",
              "argmin_first_axis", "gather_batch_dims", "squared_difference_broadcast",
              "rsqrt_every_code", "transpose_conv_5x3_s3", "transpose_conv_relu",
              "batch_matmul_4d_broadcast", "batch_matmul_xTx", "float_edges"}


@pytest.mark.parametrize("case", [
    c if c in FAST_CASES else pytest.param(c, marks=pytest.mark.slow) for c in sorted(CASES)])
def test_op_bit_exact_on_host(case, tmp_path):
    path = write_model(tmp_path, CASES[case](), case)
    report = simulate(path, "host", count=24, seed=3, sanitize=True, out_dir=tmp_path / "prj")
    assert_bit_exact(report)


def test_generators_hold_the_ops_they_say():
    for name, fn in inspect.getmembers(mo, inspect.isfunction):
        doc = inspect.getdoc(fn) or ""
        if fn.__module__ != mo.__name__ or "Ops:" not in doc:
            continue
        said = [o.strip() for o in doc.split("Ops:")[1].split("\n\n")[0].split(",")]
        assert sorted(set(modelgen.ops_in(fn()))) == sorted(said), name


@pytest.mark.parametrize("model,board", [
    ("decoder_head", "mps2-an386"), ("decoder_head", "mps3-an547"),
    ("feature_head", "mps2-an386"), ("feature_head", "mps3-an547"),
    ("feature_head", "mps2-an385"),     # Cortex-M3: the float edges in soft-float
])
def test_combined_ops_bit_exact_in_qemu(model, board, tmp_path):
    path = write_model(tmp_path, getattr(mo, model)(), model)
    report = simulate(path, board, count=6, seed=5)
    assert_bit_exact(report)
    assert report.board == board and len(report.instructions) == 6     # ran in QEMU


# ------------------------------------------------------------------ hostile fields

def _edited(model_bytes: bytes, edit) -> bytes:
    m = modelgen._model_t(model_bytes)
    edit(m, m.subgraphs[0])
    return modelgen._pack(m)


def _refused(tmp_path, model_bytes, expected: str):
    path = write_model(tmp_path, model_bytes, "hostile")
    with pytest.raises(McucError) as e:
        load_model(path)
    text = str(e.value)
    assert text.startswith(f"{path}: op ") and expected in text, text
    assert "\n" not in text.split("  hint:")[0].strip()
    return text


def _op(sg, k=0):
    return sg.operators[k]


def _set_size(values, dtype=2):
    def edit(m, sg):
        t = sg.tensors[_op(sg).inputs[1]]
        t.type = dtype
        m.buffers[t.buffer].data = np.asarray(values, np.int32).view(np.uint8)
        t.shape = np.array([len(values)], np.int32)
    return edit


@pytest.mark.parametrize("edit,expected", [
    (_set_size([0, 14]), "size [0, 14]: every value must be an integer from 1"),
    (_set_size([10, 14, 1]), "the size must be a constant int32 tensor of 2 values"),
    (_set_size([11, 14]), "is not the [1, 5, 7, 3] input resized to [11, 14]"),
    (_set_size([-3, 14]), "size [-3, 14]"),
])
def test_resize_size_refused(edit, expected, tmp_path):
    _refused(tmp_path, _edited(mo.resize((1, 5, 7, 3), (10, 14)), edit), expected)


def test_resize_size_must_be_constant(tmp_path):
    def edit(m, sg):
        m.buffers[sg.tensors[_op(sg).inputs[1]].buffer].data = None
        sg.inputs = np.append(sg.inputs, _op(sg).inputs[1])
    path = write_model(tmp_path, _edited(mo.resize(method="bilinear"), edit), "hostile")
    with pytest.raises(McucError, match="tensor 'ResizeBilinear/size' is int32"):
        load_model(path)


def test_bilinear_align_and_half_refused(tmp_path):
    def edit(m, sg):
        _op(sg).builtinOptions.alignCorners = True
        _op(sg).builtinOptions.halfPixelCenters = True
    _refused(tmp_path, _edited(mo.resize(method="bilinear"), edit),
             "align_corners and half_pixel_centers are both set")


def test_resize_input_rank_refused(tmp_path):
    def edit(m, sg):
        sg.tensors[_op(sg).inputs[0]].shape = np.array([5, 7, 3], np.int32)
    _refused(tmp_path, _edited(mo.resize(), edit), "input must be 4-D NHWC")


def test_min_max_shapes_refused(tmp_path):
    def edit(m, sg):
        sg.tensors[_op(sg).outputs[0]].shape = np.array([1, 4, 4, 4], np.int32)
    _refused(tmp_path, _edited(mo.min_max(), edit), "do not broadcast to the output's")


def test_min_max_third_input_refused(tmp_path):
    def edit(m, sg):
        _op(sg).inputs = np.append(_op(sg).inputs, _op(sg).inputs[0])
    _refused(tmp_path, _edited(mo.min_max(kind="minimum"), edit),
             "MINIMUM takes 2 inputs, the model gives it 3")


def _arg_axis(value):
    def edit(m, sg):
        t = sg.tensors[_op(sg, 1).inputs[1]]
        m.buffers[t.buffer].data = np.asarray([value], np.int32).view(np.uint8)
    return edit


def _arg_output_type(m, sg):
    sg.tensors[_op(sg, 1).outputs[0]].type = 4          # INT64


@pytest.mark.parametrize("edit,expected", [
    (_arg_axis(4), "axis 4 is out of range for rank 4"),
    (_arg_axis(2), "is not [1, 5, 6, 7] without axis 2"),
    (_arg_output_type, "output is int64: TFLM computes ARG_MAX into int32 only"),
])
def test_arg_max_fields_refused(edit, expected, tmp_path):
    _refused(tmp_path, _edited(mo.arg_min_max(), edit), expected)


def test_arg_max_indices_only_as_graph_outputs(tmp_path):
    """An op other than a reshape reading ARG_MAX's int32 indices is refused (no kernel here
    takes int32 data)."""
    def edit(m, sg):
        conv = _op(sg, 0)
        conv.inputs = np.array([_op(sg, 1).outputs[0], *conv.inputs[1:]], np.int32)
        sg.operators = [sg.operators[1], sg.operators[0]]
        _op(sg, 0).inputs = np.array([sg.inputs[0], _op(sg, 0).inputs[1]], np.int32)
    text = _refused(tmp_path, _edited(mo.arg_min_max((1, 5, 6, 7), 3, conv=True), edit),
                    "holds int32 indices")
    assert "only a graph output may take them, not CONV_2D" in text


def test_gather_index_outside_the_axis_refused(tmp_path):
    def edit(m, sg):
        t = sg.tensors[_op(sg).inputs[1]]
        m.buffers[t.buffer].data = np.asarray([4, 0, 6, 2], np.int32).view(np.uint8)
    _refused(tmp_path, _edited(mo.gather(), edit), "index 6 is outside the axis (0..5)")


def test_gather_batch_dims_refused(tmp_path):
    def edit(m, sg):
        _op(sg).builtinOptions.batchDims = 2
    _refused(tmp_path, _edited(mo.gather(), edit), "batch_dims 2 does not fit axis 1")


def test_gather_axis_refused(tmp_path):
    def edit(m, sg):
        _op(sg).builtinOptions.axis = 4
    _refused(tmp_path, _edited(mo.gather(), edit), "axis 4 is out of range for rank 4")


def test_squared_difference_multiplier_refused(tmp_path):
    def edit(m, sg):
        sg.tensors[_op(sg).outputs[0]].quantization.scale = np.array([1e-20], np.float32)
    _refused(tmp_path, _edited(mo.squared_difference((2, 5, 3), (5, 1), True), edit),
             "is too large (the requantisation multiplier must be below 2^31)")


def test_rsqrt_shape_refused(tmp_path):
    def edit(m, sg):
        sg.tensors[sg.operators[-1].outputs[0]].shape = np.array([4, 65], np.int32)
    _refused(tmp_path, _edited(mo.rsqrt((4, 64), direct=True), edit),
             "RSQRT keeps the shape")


def _tc_shape(values):
    def edit(m, sg):
        t = sg.tensors[_op(sg).inputs[0]]
        m.buffers[t.buffer].data = np.asarray(values, np.int32).view(np.uint8)
    return edit


def _tc_stride(m, sg):
    _op(sg).builtinOptions.strideH = 0


def _tc_filter_channels(m, sg):
    w = sg.tensors[_op(sg).inputs[1]]
    w.shape = np.array([6, 3, 9, 1], np.int32)


@pytest.mark.parametrize("edit,expected", [
    (_tc_shape([1, 10, 9, 6]), "the output shape must be a constant int32 tensor equal to"),
    (_tc_stride, "strides [0, 2]: every value must be an integer from 1"),
    (_tc_filter_channels, "does not take the [1, 5, 4, 3] input"),
])
def test_transpose_conv_fields_refused(edit, expected, tmp_path):
    _refused(tmp_path, _edited(mo.transpose_conv(), edit), expected)


def test_transpose_conv_fused_activation_as_tflm(tmp_path):
    """A fused RELU on an output whose zero point is not -128 clamps (TFLM applies the
    options' activation)."""
    def edit(m, sg):
        _op(sg).builtinOptions.fusedActivationFunction = 1
    path = write_model(tmp_path, _edited(mo.transpose_conv(), edit), "tc_relu")
    report = simulate(path, "host", count=8, seed=3, out_dir=tmp_path / "prj")
    assert_bit_exact(report)
    zp = modelgen.io_quant(path.read_bytes())[1][0][1]
    assert zp > -128 and report.outputs.min() == zp


def _bm_adj(m, sg):
    _op(sg, 1).builtinOptions.adjY = False


def _bm_batch(m, sg):
    sg.tensors[_op(sg, 1).outputs[0]].shape = np.array([3, 4, 4], np.int32)


@pytest.mark.parametrize("edit,expected", [
    (_bm_adj, "the depths 5 and 4 differ"),
    (_bm_batch, "is not the product's [2, 4, 4]"),
])
def test_batch_matmul_fields_refused(edit, expected, tmp_path):
    _refused(tmp_path, _edited(mo.batch_matmul((2, 4, 5), adj_y=True), edit), expected)


def test_batch_matmul_rank_refused(tmp_path):
    def edit(m, sg):
        sg.tensors[_op(sg).inputs[0]].shape = np.array([40], np.int32)
    _refused(tmp_path, _edited(mo.batch_matmul((2, 4, 5), (2, 5, 3), adj_y=False), edit),
             "rank 1: BATCH_MATMUL takes ranks 2 to 5")


# ------------------------------------------------------------------ float32 edges

def test_float_edges_bit_exact_on_host(tmp_path):
    """float32 input -> QUANTIZE -> int8 body -> DEQUANTIZE -> float32 output: random reals
    over (and past) the input's range, and the values from a file, bit-exact as float32."""
    path = write_model(tmp_path, mo.float_edges(), "float_edges")
    report = simulate(path, "host", count=24, seed=3, sanitize=True, out_dir=tmp_path / "a")
    assert_bit_exact(report)
    values = report.outputs.view(np.float32)
    assert np.isfinite(values).all() and len(np.unique(values)) > 20
    x = np.random.default_rng(0).uniform(-3, 3, (5, 1, 6, 6, 3)).astype(np.float32)
    x[0, 0, 0, 0, :] = [0.5 * 0.0078335115686059, -2.5 * 0.0078335115686059, 1e6]  # ties, huge
    np.save(tmp_path / "x.npy", x)
    report = simulate(path, "host", inputs=tmp_path / "x.npy", out_dir=tmp_path / "b")
    assert_bit_exact(report)
    assert report.vectors == 5
    header = (tmp_path / "a" / "model.h").read_text()
    assert "float32 [1, 6, 6, 3] (real values" in header
    assert "MCUC_INPUT0_SCALE" not in header and "MCUC_INPUT0_BYTES      432" in header


def test_float_inside_the_model_refused(tmp_path):
    """A DEQUANTIZE whose float32 output feeds another op (a float island) is refused."""
    def edit(m, sg):
        deq = sg.operators[-1]
        sg.outputs = np.array([deq.inputs[0]], np.int32)
    text = _refused(tmp_path, _edited(mo.float_edges(), edit), "float tensors inside the model")
    assert "DEQUANTIZE" in text


def test_op_on_a_constant_refused(tmp_path):
    """An op whose data input is a constant (here a resize of the MINIMUM's constant operand;
    found by random field edits): refused in one line, it crashed the code generator."""
    def edit(m, sg):
        resize = next(op for op in sg.operators
                      if len(op.inputs) == 2 and sg.tensors[op.inputs[1]].name.endswith(
                          b"ResizeNearestNeighbor/size"))
        const = next(i for i in range(len(sg.tensors)) if sg.tensors[i].name == b"Minimum/y")
        resize.inputs = np.array([const, resize.inputs[1]], np.int32)
    _refused(tmp_path, _edited(mo.decoder_head(), edit), "the input data is a constant")


def test_int32_constant_operand_refused(tmp_path):
    """A binary op given an int32 constant as its second operand (found by random field
    edits: the lowering read its missing quantization)."""
    def edit(m, sg):
        sqd = next(op for op in sg.operators if len(op.inputs) == 2
                   and sg.tensors[op.inputs[1]].name == b"SquaredDifference/y")
        axis = next(i for i in range(len(sg.tensors)) if sg.tensors[i].name == b"ArgMax/dimension")
        sqd.inputs = np.array([sqd.inputs[0], axis], np.int32)
    _refused(tmp_path, _edited(mo.feature_head(), edit),
             "a constant operand of SQUARED_DIFFERENCE is int32, not int8 data")
