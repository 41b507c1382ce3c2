"""Every supported op, in single-op models made with TensorFlow (SVDF and LSTM: with the
schema bindings), bit-exact with TFLM on the host (built with -fsanitize=address,undefined),
across shapes and quantization modes."""
from __future__ import annotations

import pytest

import modelgen
from conftest import assert_bit_exact, write_model
from lstm_models import lstm_model
from svdf_models import svdf_model
from mcucompile.api import simulate

CASES = {
    # convolution: odd channels, stride 2, SAME/VALID, dilation, per-tensor weights, no bias
    "conv_same_relu": lambda: modelgen.conv2d((1, 9, 9, 3), 5, (3, 3), (1, 1), "same", activation="relu"),
    "conv_valid_s2_relu6": lambda: modelgen.conv2d((1, 11, 10, 3), 7, (3, 3), (2, 2), "valid", activation="relu6"),
    "conv_same_s2_5x5": lambda: modelgen.conv2d((1, 10, 9, 4), 6, (5, 5), (2, 2), "same"),
    "conv_1x1": lambda: modelgen.conv2d((1, 6, 6, 7), 9, (1, 1), (1, 1), "valid"),
    "conv_dilated": lambda: modelgen.conv2d((1, 12, 12, 2), 3, (3, 3), (1, 1), "same", dilation=(2, 2)),
    "conv_per_tensor": lambda: modelgen.conv2d((1, 8, 8, 3), 4, (3, 3), (1, 1), "same", per_channel=False),
    "conv_no_bias": lambda: modelgen.conv2d((1, 7, 7, 3), 4, (3, 3), (1, 1), "same", use_bias=False),
    "conv_rect_kernel": lambda: modelgen.conv2d((1, 9, 8, 2), 3, (3, 1), (2, 1), "same"),
    "dw_same": lambda: modelgen.depthwise_conv2d((1, 9, 9, 5), (3, 3), (1, 1), "same"),
    "dw_s2_valid_relu6": lambda: modelgen.depthwise_conv2d((1, 11, 11, 3), (3, 3), (2, 2), "valid", activation="relu6"),
    "dw_mult2": lambda: modelgen.depthwise_conv2d((1, 8, 8, 3), (3, 3), (1, 1), "same", depth_multiplier=2),
    "dw_5x5_s2": lambda: modelgen.depthwise_conv2d((1, 10, 10, 4), (5, 5), (2, 2), "same", activation="relu"),
    "dw_per_tensor": lambda: modelgen.depthwise_conv2d((1, 8, 8, 4), (3, 3), (1, 1), "same", per_channel=False),
    "dw_dilated": lambda: modelgen.depthwise_conv2d((1, 12, 12, 3), (3, 3), (1, 1), "same", dilation=(2, 2)),
    "fc": lambda: modelgen.dense(16, 10),
    "fc_relu_odd": lambda: modelgen.dense(33, 7, activation="relu"),
    "fc_per_tensor": lambda: modelgen.dense(20, 6, per_channel=False),
    "fc_rank3": lambda: modelgen.dense_3d(8, 6, 4),
    "add": lambda: modelgen.add((1, 4, 4, 3), (1, 4, 4, 3)),
    "add_relu_broadcast": lambda: modelgen.add((1, 4, 4, 3), (1, 1, 1, 3), activation="relu"),
    "add_const": lambda: modelgen.add((1, 4, 4, 3), (1, 4, 4, 3), const_b=True),
    "sub": lambda: modelgen.sub((1, 4, 4, 3), (1, 4, 4, 3)),
    "sub_broadcast": lambda: modelgen.sub((1, 5, 3), (1, 1, 3)),
    "mul": lambda: modelgen.mul((1, 4, 4, 3), (1, 4, 4, 3)),
    "mul_broadcast": lambda: modelgen.mul((1, 4, 4, 3), (1, 1, 4, 1)),
    "avg_pool": lambda: modelgen.avg_pool((1, 8, 8, 3), (2, 2), (2, 2), "valid"),
    "avg_pool_same_3x3": lambda: modelgen.avg_pool((1, 7, 9, 5), (3, 3), (2, 2), "same"),
    "max_pool": lambda: modelgen.max_pool((1, 8, 8, 3), (2, 2), (2, 2), "valid"),
    "max_pool_same_3x3": lambda: modelgen.max_pool((1, 7, 9, 5), (3, 3), (2, 2), "same"),
    "mean_hw": lambda: modelgen.mean((1, 6, 6, 4), (1, 2), False),
    "mean_hw_keepdims": lambda: modelgen.mean((1, 5, 7, 3), (1, 2), True),
    "mean_channels": lambda: modelgen.mean((1, 4, 4, 6), (3,), False),
    "pad": lambda: modelgen.pad((1, 5, 5, 3), ((0, 0), (1, 2), (2, 1), (0, 0))),
    "concat_channels": lambda: modelgen.concat(((1, 4, 4, 3), (1, 4, 4, 5)), -1),
    "concat_height": lambda: modelgen.concat(((1, 2, 4, 3), (1, 3, 4, 3)), 1),
    "softmax": lambda: modelgen.softmax((1, 10)),
    "softmax_rows": lambda: modelgen.softmax((3, 17)),
    "logistic": lambda: modelgen.logistic((1, 4, 4, 3)),
    "tanh": lambda: modelgen.tanh((1, 4, 4, 3)),
    "hard_swish": lambda: modelgen.hard_swish((1, 4, 4, 3)),
    "relu": lambda: modelgen.relu((1, 4, 4, 3)),
    "relu6": lambda: modelgen.relu6((1, 4, 4, 3)),
    "leaky_relu": lambda: modelgen.leaky_relu((1, 4, 4, 3), 0.2),
    "reshape": lambda: modelgen.reshape((1, 4, 4, 3), (1, 48)),
    "squeeze": lambda: modelgen.squeeze((1, 1, 1, 8), (1, 2)),
    "transpose": lambda: modelgen.transpose((1, 3, 4, 5), (0, 3, 1, 2)),
    "transpose_3d": lambda: modelgen.transpose((2, 3, 4), (2, 0, 1)),
    "strided_slice": lambda: modelgen.strided_slice((1, 8, 8, 4), (0, 1, 0, 1), (1, 7, 8, 4), (1, 2, 3, 1)),
    "slice": lambda: modelgen.slice_((1, 6, 6, 4), (0, 1, 2, 0), (1, 3, 4, 2)),
    "split": lambda: modelgen.split((1, 4, 4, 6), 3, -1),
    "split_v": lambda: modelgen.split_v((1, 4, 4, 6), (1, 2, 3), -1),
    "residual_block": lambda: modelgen.residual_block((1, 8, 8, 4), 3),
    "small_cnn": lambda: modelgen.small_cnn((1, 12, 12, 3), 5),
    # schema-written (the converter makes no SVDF, and crashes on int8 LSTMs here)
    "svdf": lambda: svdf_model(((2, 6, 10, "int16"), (1, 5, 3, "int8")), batches=2,
                               softmax16=True),
    "lstm": lambda: lstm_model(batches=2, cell_power=13, cell_clip=1.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_bit_exact_on_host(case, tmp_path):
    path = write_model(tmp_path, CASES[case](), case)
    report = simulate(path, "host", count=4, seed=7, sanitize=True, out_dir=tmp_path / "prj")
    assert_bit_exact(report)


def test_cases_cover_every_supported_op(tmp_path):
    """The table above and tests/test_new_ops.py's exercise each op the frontend accepts
    (QUANTIZE and PADV2 EXPAND_DIMS, SQUEEZE: the converter emits RESHAPE for the last two)."""
    from test_new_ops import CASES as NEW_CASES

    from mcucompile.frontend.ops import SUPPORTED_OPS
    seen = set()
    for name, make in {**CASES, **NEW_CASES}.items():
        seen.update(modelgen.ops_in(make()))
    missing = SUPPORTED_OPS - seen - {"QUANTIZE", "PADV2", "EXPAND_DIMS", "SQUEEZE"}
    assert not missing, f"ops without a host test: {sorted(missing)}"
