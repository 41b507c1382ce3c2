"""Calibrate the cost model (mcucompile/backend/costs.json) and report its error.

    python benchmarks/calibrate_costs.py                 # profile, fit, write costs.json
    python benchmarks/calibrate_costs.py --check         # error against the shared models
    python benchmarks/calibrate_costs.py --refit         # fit again from the last profiles
    python benchmarks/calibrate_costs.py --families F,G --models M,N --boards B
                                                         # (re)fit only families F, G from
                                                         # models M, N (fast kernels), kept
                                                         # beside the other rows
The plain-C fast kernels' rows (Cortex-M3 and Cortex-M0, passes/kernels_fast.py) were fitted so:
    python benchmarks/calibrate_costs.py --boards mps2-an385,microbit \
        --families mcuc_conv_s8_fast,mcuc_depthwise_conv_s8_fast,mcuc_conv_s8_fast_inplace,mcuc_depthwise_conv_s8_fast_inplace \
        --models chain_a,chain_b,chain_kws,chain_c,chain_dw,chain_dense,chain_direct_conv,chain_direct_fc,chain_1px_a,chain_1px_b,chain_misc,chain_fast_m0,chain_fast_dw_a,chain_fast_dw_b,chain_fast_dw_c
(models that do not fit the micro:bit's 16 KB are skipped there).

Calibration: a set of generated models (tests/modelgen.py and tests/onnx_modelgen.py:
convolutions of several shapes, strides, kernels and odd channel counts, depthwise layers,
dense layers, pools, elementwise ops, inverted residual blocks, MobileNetV2 0.35@96,
MobileNetV1 0.25@96x96x3 and three ONNX models) is profiled with `mcucompile.profile` (exact
per-step instruction counts, QEMU -icount) on mps2-an385 (M3, portable), mps2-an386 (M4),
mps2-an500 (M7) and mps3-an547 (M55), with the fast and the portable kernels; MobileNetV1 in
patches (patch tiles and copies) and the inverted residual chain streamed under a budget
(PLANS). The same plan, made again without building (`plan_model`), gives each step's
KernelCalls. Steps that are one call are the fit's rows: per (core, kernel
family) a non-negative least-squares fit of the instructions to the call's features
(backend/cost.py), in relative error (each row weighted by 1 / its instructions, so small
and large layers count alike), and a generic entry "*" per core over all of its rows.
About 10 minutes on a quiet 2-core machine (gcc builds of the generated kernels dominate).

The shared models (tests/data/models) are never fitted on: `--check` profiles them on the
same boards and prints, per model and board, the estimated total (sum over every call of
`cost.estimate`) against the measured one, and the worst ops.

Generated models are cached on disk (modelgen's cache directory); profiles are not (the
point is to measure the current kernels); the rows of the last run are kept there too, for
--refit. Boards run one after another (one QEMU at a time).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mcucompile.api import plan_model  # noqa: E402
from mcucompile.backend import cost  # noqa: E402
from mcucompile.backend.registry import REGISTRY, base_name  # noqa: E402
from mcucompile.boards import get_board  # noqa: E402
from mcucompile.errors import McucError  # noqa: E402
from mcucompile.ir import Tensor  # noqa: E402
from mcucompile.passes.kernel_call import Arg, KernelCall  # noqa: E402
from mcucompile.profile import profile  # noqa: E402

MODEL_DIR = Path(os.environ.get("MCUC_SHARED_MODELS", REPO / "tests" / "data" / "models"))
SHARED = ["person_detect", "kws_ref_model", "pretrainedResnet_quant", "micro_speech_quantized",
          "hello_world_int8"]
# board -> kernel sets profiled
BOARDS = {"mps2-an385": ("portable",), "mps2-an386": ("auto", "portable"),
          "mps2-an500": ("auto", "portable"), "mps3-an547": ("auto", "portable")}
# (patch, sram budget) per model, default layer by layer: MobileNetV1 in 3x3 patches up to
# op 4 (patch tiles on every kernel set), the inverted residual chain streamed under a budget
# (fast rows on the DSP and Helium cores, the portable block kernel elsewhere).
PLANS = {"mobilenet_v1_025_96": ("3x3@4", None), "chain_irb": ("auto", 20_000)}


def _cache_dir() -> Path:
    import modelgen
    path = Path(modelgen.CACHE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- calibration models

def _chain(in_shape, layers, seed=0) -> bytes:
    """A sequential model of tf ops: layers are tuples
    ("conv", filters, k, stride, padding, act[, dilation]),
    ("dw", k, stride, padding, act[, depth multiplier]),
    ("res", k) (conv k x k keeping channels, + input), ("dwres", k) (depthwise k x k, stride 1,
    SAME, + input: the input outlives it), ("irb", expansion, out_c, stride)
    (MobileNetV2's inverted residual block: 1x1 expand, 3x3 depthwise, 1x1 project, + input
    when the shapes allow), ("avg"|"max", k, stride, padding),
    ("mean",), ("fc", units), ("softmax",), ("logistic",), ("tanh",), ("hswish",),
    ("leaky",), ("mul",) (x * x), ("sub",) (x - relu(x)), ("pad", p), ("concat",) (x, x),
    ("out",) (x is also a graph output: it lives to the end)."""
    import modelgen
    tf = modelgen._tf()
    rng = np.random.default_rng(seed)
    weights, c = [], in_shape[-1]
    for layer in layers:             # draw every weight up front (the traced fn reuses them)
        kind = layer[0]
        if kind == "conv":
            k = layer[2] if isinstance(layer[2], tuple) else (layer[2], layer[2])
            weights.append(rng.normal(0, 0.5, k + (c, layer[1])).astype(np.float32))
            c = layer[1]
        elif kind == "dw":
            k = layer[1] if isinstance(layer[1], tuple) else (layer[1], layer[1])
            mult = layer[5] if len(layer) > 5 else 1
            weights.append(rng.normal(0, 0.5, k + (c, mult)).astype(np.float32))
            c *= mult
        elif kind == "res":
            weights.append(rng.normal(0, 0.3, (layer[1], layer[1], c, c)).astype(np.float32))
        elif kind == "dwres":
            k = layer[1] if isinstance(layer[1], tuple) else (layer[1], layer[1])
            weights.append(rng.normal(0, 0.3, k + (c, 1)).astype(np.float32))
        elif kind == "irb":
            e = c * layer[1]
            weights += [rng.normal(0, 0.5, (1, 1, c, e)).astype(np.float32),
                        rng.normal(0, 0.5, (3, 3, e, 1)).astype(np.float32),
                        rng.normal(0, 0.3, (1, 1, e, layer[2])).astype(np.float32)]
            c = layer[2]
        elif kind == "concat":
            c *= 2

    def act(y, name):
        return {"relu": tf.nn.relu, "relu6": tf.nn.relu6, None: lambda v: v}[name](y)

    def f(x):
        it = iter(weights)
        outputs = []
        for layer in layers:
            kind = layer[0]
            if kind == "out":
                outputs.append(x)
            if kind == "conv":
                dil = layer[6] if len(layer) > 6 else 1
                x = act(tf.nn.conv2d(x, next(it), layer[3], layer[4], dilations=dil), layer[5])
            elif kind == "dw":
                x = act(tf.nn.depthwise_conv2d(x, next(it), (1, layer[2], layer[2], 1),
                                               layer[3]), layer[4])
            elif kind == "res":
                x = tf.nn.relu(x + tf.nn.conv2d(x, next(it), 1, "SAME"))
            elif kind == "dwres":
                x = tf.nn.relu(x + tf.nn.depthwise_conv2d(x, next(it), (1, 1, 1, 1), "SAME"))
            elif kind == "irb":
                h = tf.nn.relu6(tf.nn.conv2d(x, next(it), 1, "SAME"))
                h = tf.nn.relu6(tf.nn.depthwise_conv2d(h, next(it), (1, layer[3], layer[3], 1),
                                                       "SAME"))
                h = tf.nn.conv2d(h, next(it), 1, "SAME")
                x = x + h if layer[3] == 1 and layer[2] == x.shape[-1] else h
            elif kind in ("avg", "max"):
                pool = tf.nn.avg_pool2d if kind == "avg" else tf.nn.max_pool2d
                x = pool(x, layer[1], layer[2], layer[3])
            elif kind == "mean":
                x = tf.reduce_mean(x, axis=[1, 2])
            elif kind == "fc":                      # (sized once the input is flattened)
                x = tf.reshape(x, (1, -1))
                w = np.random.default_rng(seed + 1).normal(
                    0, 0.3, (int(x.shape[-1]), layer[1])).astype(np.float32)
                x = tf.matmul(x, w)
            elif kind == "softmax":
                x = tf.nn.softmax(x)
            elif kind == "logistic":
                x = tf.math.sigmoid(x)
            elif kind == "tanh":
                x = tf.math.tanh(x)
            elif kind == "hswish":
                x = x * tf.nn.relu6(x + 3.0) / 6.0
            elif kind == "leaky":
                x = tf.nn.leaky_relu(x, 0.2)
            elif kind == "mul":
                x = x * x
            elif kind == "sub":
                x = x - tf.nn.relu(x)
            elif kind == "pad":
                x = tf.pad(x, [[0, 0], [layer[1], layer[1]], [layer[1], layer[1]], [0, 0]])
            elif kind == "concat":
                x = tf.concat([x, tf.nn.relu(x)], axis=-1)
        return tuple(outputs) + (x,) if outputs else x

    return modelgen.convert_fn(f, [in_shape], seed=seed)


CHAINS = {
    # a small CNN: odd channels, 3x3/5x5/1x1, strides 1 and 2, SAME and VALID
    "chain_a": ((1, 24, 24, 3), [
        ("conv", 8, 3, 2, "SAME", "relu6"), ("dw", 3, 1, "SAME", "relu"),
        ("conv", 13, 1, 1, "SAME", None), ("dw", 5, 2, "SAME", None),
        ("conv", 24, 3, 1, "VALID", "relu"), ("avg", 2, 2, "VALID"), ("fc", 10),
        ("softmax",)]),
    "chain_b": ((1, 20, 20, 5), [
        ("conv", 7, 5, 1, "SAME", "relu"), ("max", 2, 2, "VALID"),
        ("conv", 32, 1, 1, "SAME", "relu6"), ("dw", 3, 2, "VALID", "relu6"),
        ("conv", 17, 3, 1, "SAME", None), ("res", 3), ("conv", 40, 1, 1, "SAME", "relu"),
        ("mean",), ("fc", 5)]),
    # KWS-like: a tall non-square stem kernel, then wide 1x1 layers
    "chain_kws": ((1, 40, 12, 1), [
        ("conv", 48, (8, 4), 2, "SAME", "relu"), ("dw", 3, 1, "SAME", "relu"),
        ("conv", 48, 1, 1, "SAME", "relu"), ("dw", 3, 1, "SAME", "relu"),
        ("conv", 96, 1, 1, "SAME", "relu"), ("avg", (20, 6), 1, "VALID"), ("fc", 12),
        ("softmax",)]),
    # wide layers, dilation, 7x1 kernels, pooling with SAME padding
    "chain_c": ((1, 16, 16, 16), [
        ("conv", 16, 3, 1, "SAME", "relu", 2), ("res", 1), ("conv", 21, (7, 1), 1, "SAME", None),
        ("avg", 3, 1, "SAME"), ("conv", 64, 1, 1, "SAME", "relu"), ("max", 3, 2, "SAME"),
        ("conv", 64, 3, 1, "SAME", "relu"), ("dw", 3, 1, "SAME", "relu6"), ("mean",),
        ("fc", 32), ("fc", 8)]),
    # elementwise, tables and data movement
    "chain_misc": ((1, 12, 12, 6), [
        ("conv", 8, 3, 1, "SAME", None), ("logistic",), ("conv", 12, 1, 1, "SAME", None),
        ("tanh",), ("hswish",), ("leaky",), ("mul",), ("sub",),
        ("conv", 10, 3, 1, "VALID", None), ("pad", 1), ("concat",), ("avg", 2, 2, "VALID"),
        ("fc", 6)]),
    # inverted residual blocks (streamed under a budget)
    "chain_irb": ((1, 48, 48, 3), [
        ("conv", 16, 3, 2, "SAME", "relu6"), ("irb", 4, 16, 1), ("irb", 6, 24, 2),
        ("irb", 6, 24, 1), ("irb", 6, 32, 2), ("irb", 6, 32, 1),
        ("conv", 64, 1, 1, "SAME", "relu6"), ("mean",), ("fc", 10)]),
    # depthwise layers with large and non-square windows, depth multipliers (not in place)
    "chain_dw": ((1, 49, 40, 1), [
        ("dw", (10, 8), 2, "SAME", "relu", 8), ("dw", 5, 1, "SAME", None, 2),
        ("dw", (3, 1), 2, "VALID", "relu6", 3), ("conv", 12, 1, 1, "SAME", None),
        ("dw", 7, 1, "SAME", "relu"), ("fc", 4)]),
    # dense layers (an autoencoder's shape)
    "chain_dense": ((1, 1, 1, 320), [
        ("fc", 128), ("fc", 128), ("fc", 8), ("fc", 128), ("fc", 320)]),
    # every layer at its model's peak, so the search leaves each 256 bytes of scratch:
    # convolutions with K = 90..120 take the DSP GEMM with one im2col pixel
    # (mcuc_conv_s8_dsp_1px), wide 1x1 and dense layers the direct one (no im2col)
    "chain_1px_a": ((1, 20, 20, 12), [
        ("conv", 12, 3, 1, "SAME", "relu"), ("conv", 12, 3, 1, "SAME", None, 2),
        ("conv", 12, (1, 9), 1, "SAME", "relu"), ("conv", 12, (2, 5), 1, "SAME", None),
        ("conv", 12, (9, 1), 1, "SAME", "relu6")]),
    "chain_1px_b": ((1, 16, 12, 10), [
        ("conv", 10, 3, 1, "SAME", "relu"), ("conv", 10, (3, 4), 1, "SAME", None),
        ("conv", 10, (4, 3), 1, "SAME", "relu")]),
    "chain_direct_conv": ((1, 6, 5, 150), [
        ("conv", 150, 1, 1, "VALID", "relu"), ("conv", 150, 1, 1, "VALID", None),
        ("conv", 150, 1, 1, "VALID", "relu6")]),
    "chain_direct_fc": ((1, 1, 1, 301), [("fc", 301), ("fc", 301), ("fc", 150)]),
    # a depthwise layer at its model's peak whose input outlives it (a graph output: no
    # shifted output): on the M55 its planes go a few channels at a time
    # (mcuc_depthwise_conv_s8_mve_chunks)
    "chain_mve_chunks_a": ((1, 25, 5, 64), [
        ("conv", 64, 1, 1, "SAME", "relu"), ("out",), ("dw", 3, 1, "SAME", "relu"),
        ("mean",), ("fc", 4)]),
    "chain_mve_chunks_b": ((1, 25, 5, 64), [
        ("conv", 64, 1, 1, "SAME", "relu"), ("out",), ("dw", 5, 1, "SAME", None),
        ("mean",), ("fc", 4)]),
    "chain_mve_chunks_c": ((1, 12, 40, 16), [
        ("conv", 48, 1, 1, "SAME", "relu"), ("out",), ("dw", 3, 1, "SAME", "relu"),
        ("conv", 56, 1, 1, "SAME", None), ("mean",), ("fc", 4)]),
    "chain_mve_chunks_d": ((1, 16, 16, 8), [
        ("conv", 36, 1, 1, "SAME", "relu"), ("out",), ("dw", (3, 5), 2, "SAME", "relu"),
        ("conv", 160, 1, 1, "SAME", None), ("mean",), ("fc", 4)]),
    # small enough for the micro:bit (plain-C fast kernels, passes/kernels_fast.py): 1x1
    # layers written over their input, and depthwise layers whose output is the graph's
    # (so never in place)
    "chain_fast_m0": ((1, 10, 9, 40), [
        ("conv", 40, 1, 1, "SAME", "relu"), ("conv", 27, 1, 1, "SAME", None),
        ("dw", 3, 1, "SAME", "relu6"), ("conv", 13, 1, 1, "SAME", None),
        ("conv", 9, 1, 1, "SAME", "relu"), ("dw", 3, 1, "SAME", None)]),
    "chain_fast_dw_a": ((1, 11, 10, 6), [("dw", 3, 1, "SAME", "relu")]),
    "chain_fast_dw_b": ((1, 13, 12, 5), [("dw", 5, 2, "SAME", None)]),
    "chain_fast_dw_c": ((1, 20, 7, 16), [("dw", 3, 2, "VALID", "relu6")]),
}
# models that exercise families only a tight scratch limit selects (--families)
NEW_FAMILY_MODELS = ["chain_1px_a", "chain_1px_b", "chain_direct_conv", "chain_direct_fc",
                     "onnx_1px", "chain_mve_chunks_a", "chain_mve_chunks_b",
                     "chain_mve_chunks_c", "chain_mve_chunks_d", "chain_fast_m0",
                     "chain_fast_dw_a", "chain_fast_dw_b", "chain_fast_dw_c"]


# recurrent layers (schema-written: the converter makes none), several sizes each; the SVDF
# models also run an int16 -> int8 QUANTIZE, an int8 -> int16 SOFTMAX and int16 -> int32
# QUANTIZE (--families mcuc_svdf_s8,mcuc_lstm_s8,mcuc_requantize_int,mcuc_softmax_s8_s16
# --models RECURRENT)
RECURRENT = {
    "svdf_a": ("svdf", dict(layers=((1, 32, 8, "int8"), (2, 16, 4, "int16"), (1, 8, 12, "int8")),
                            n_in=40, classes=12, softmax16=True)),
    "svdf_b": ("svdf", dict(layers=((3, 24, 16, "int16"), (1, 64, 2, "int8")), n_in=96,
                            classes=40, softmax16=True, batches=2)),
    "lstm_a": ("lstm", dict(steps=8, n_in=12, units=16)),
    "lstm_b": ("lstm", dict(steps=20, n_in=28, units=32, batches=2)),
    "lstm_c": ("lstm", dict(steps=4, n_in=40, units=8)),
}
# the ops of issue 14 part 4 (resize, min/max, transposed convolution, gather, squared
# difference, rsqrt, ARG_MAX, BATCH_MATMUL, float32 edges), two sizes each
# (tests/modelgen_ops.py; --families ... --models these)
OPS14_MODELS = {"ops14_decoder_s": ("decoder_head", dict(in_shape=(1, 6, 5, 3))),
                "ops14_decoder_l": ("decoder_head", dict(in_shape=(1, 10, 8, 4))),
                "ops14_feature_s": ("feature_head", dict(in_shape=(1, 6, 6, 3))),
                "ops14_feature_l": ("feature_head", dict(in_shape=(1, 9, 7, 5))),
                "ops14_argmin_s": ("arg_min_max", dict(in_shape=(1, 5, 6, 7), kind="argmin")),
                "ops14_argmin_l": ("arg_min_max", dict(in_shape=(1, 12, 9, 16), axis=2,
                                                       kind="argmin"))}
OPS14_FAMILIES = ["mcuc_resize_nearest_s8", "mcuc_resize_bilinear_s8", "mcuc_maximum_s8",
                  "mcuc_minimum_s8", "mcuc_transpose_conv_s8", "mcuc_gather_s8",
                  "mcuc_squared_difference_s8", "mcuc_rsqrt_s8", "mcuc_arg_max_s8",
                  "mcuc_arg_min_s8",
                  "mcuc_batch_matmul_s8", "mcuc_quantize_f32_s8", "mcuc_dequantize_s8_f32"]


def _onnx_misc():
    """ONNX: convolution, AveragePool, Mul, Sigmoid, Tanh, 1x1 convolution."""
    import onnx_modelgen
    b = onnx_modelgen._Builder(0)
    y = b.conv(b.input((1, 3, 16, 16)), 3, 8)
    y = b.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
    y = b.node("Tanh", [b.node("Sigmoid", [b.node("Mul", [y, y])])])
    return onnx_modelgen.quantize(b.model(b.conv(y, 8, 6, k=1, pad=0)))


def _onnx_1px():
    """ONNX 3x3 convolutions (K = 108) each at the model's peak: the M55 has no Helium
    kernels with float requantisation, so they run the DSP GEMM with one im2col pixel."""
    import onnx_modelgen
    b = onnx_modelgen._Builder(0)
    y = b.conv(b.input((1, 12, 20, 20)), 12, 12)
    y = b.conv(y, 12, 12, dil=2)
    return onnx_modelgen.quantize(b.model(b.conv(y, 12, 12)))


def _generate(name: str) -> bytes:
    import modelgen
    import onnx_modelgen
    if name in CHAINS:
        return _chain(*CHAINS[name])
    if name == "mobilenet_v2_035_96":
        return modelgen.mobilenet_v2(0.35, 96)
    if name == "mobilenet_v1_025_96":
        return modelgen.mobilenet_v1(0.25, 96, 3)
    if name == "onnx_resnet":
        return onnx_modelgen.quantized("resnet", in_shape=(1, 3, 24, 24), width=12)
    if name == "onnx_mobilenet_v2":
        return onnx_modelgen.quantized("mobilenet_v2", in_shape=(1, 3, 32, 32))
    if name == "onnx_misc":
        return _onnx_misc()
    if name == "onnx_1px":
        return _onnx_1px()
    if name in RECURRENT:
        from lstm_models import lstm_model
        from svdf_models import svdf_model
        kind, kwargs = RECURRENT[name]
        return (svdf_model if kind == "svdf" else lstm_model)(**kwargs)
    if name in OPS14_MODELS:
        import modelgen_ops
        generator, kwargs = OPS14_MODELS[name]
        return getattr(modelgen_ops, generator)(**kwargs)
    raise KeyError(name)


MODELS_VERSION = 2     # raise when a generator above changes (cache key)
CALIBRATION = [*(c for c in CHAINS if c not in NEW_FAMILY_MODELS), "mobilenet_v2_035_96", "mobilenet_v1_025_96", "onnx_resnet",
               "onnx_mobilenet_v2", "onnx_misc"]


def model_path(name: str) -> Path:
    """The generated model's file, converted once and cached by its definition."""
    from importlib.metadata import version
    spec = repr((name, CHAINS.get(name), RECURRENT.get(name), MODELS_VERSION,
                 version("tensorflow"))).encode()
    ext = ".onnx" if name.startswith("onnx_") else ".tflite"
    path = _cache_dir() / f"calib_{name}_{hashlib.sha256(spec).hexdigest()[:12]}{ext}"
    if not path.exists():
        data = _generate(name)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


# ---------------------------------------------------------------- profiling

def profile_steps(path: Path, board: str, kernels: str, patch: str, sram: int | None,
                  out_dir: Path):
    """(profile report, schedule): the measured steps and the plan's ops, step by step."""
    rep = profile(path, board, kernels=kernels, patch=patch, sram=sram, out_dir=out_dir)
    _, plan = plan_model(path, board, patch=patch, sram=sram, kernels=kernels)
    schedule = plan.schedule
    by_step = {r["step"]: r for r in rep.rows}
    for step, op in enumerate(schedule):
        names = sorted({c.fn for c in op.kernel.calls})
        if by_step[step]["kernels"] != names:
            raise RuntimeError(f"{path.name} on {board}: step {step} profiled "
                               f"{by_step[step]['kernels']}, planned {names}")
    return rep, schedule


def collect(board: str, models: list[str], log, kernel_sets=None) -> list[dict]:
    """One row per single-call step of every calibration run on `board` (kernel sets:
    BOARDS[board] unless given)."""
    core = cost.core_of(get_board(board))
    rows = []
    for model in models:
        for kernels in kernel_sets or BOARDS[board]:
            rows += _collect_run(board, core, model, kernels, log)
    return rows


def _collect_run(board: str, core: str, model: str, kernels: str, log) -> list[dict]:
    patch, sram = PLANS.get(model, ("off", None))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mcuc-calib-") as tmp:
        try:
            rep, schedule = profile_steps(model_path(model), board, kernels, patch, sram,
                                          Path(tmp))
        except McucError as e:          # e.g. MobileNetV2's weights on the M55's 512 KB
            log(f"  {board} {model} kernels={kernels}: skipped ({e.message})")
            return []
    rows = []
    for r in rep.rows:
        calls = schedule[r["step"]].kernel.calls
        if len(calls) == 1:
            rows.append(dict(core=core, board=board, model=model, kernels=kernels, patch=patch,
                             step=r["step"], fn=calls[0].fn, family=base_name(calls[0].fn),
                             call=_call_record(calls[0]), instructions=r["instructions"]))
    log(f"  {board} {model} kernels={kernels} patch={patch}: {len(rows)} rows, "
        f"{rep.instructions:,} instructions, {time.perf_counter() - t0:.1f} s")
    return rows


def _call_record(call) -> dict:
    """What cost.sizes() reads of a call, as JSON (so --refit works after features change)."""
    return dict(fn=call.fn, macs=call.macs,
                params={k: v for k, v in (call.params or {}).items() if k in ("f_h", "f_w")},
                args=[[list(a.tensor.shape), a.writes] for a in call.args
                      if a.tensor is not None])


def _row_features(row: dict) -> dict:
    c = row["call"]
    args = [Arg(tensor=Tensor("t", tuple(shape), "int8"), writes=writes)
            for shape, writes in c["args"]]
    return cost.features(cost.sizes(KernelCall(c["fn"], None, c["params"], args,
                                               macs=c["macs"])))


# ---------------------------------------------------------------- fitting

def _nnls(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls
    w = 1.0 / np.maximum(y, 1.0)
    return nnls(x * w[:, None], y * w)[0]


def fit_rows(rows: list[dict]) -> dict:
    """{feature: coefficient} for rows of one family (or all of a core), with the fit's
    row count and worst relative error. Features that are zero on every row are left out."""
    feats = [_row_features(r) for r in rows]
    x = np.array([[f[k] for k in cost.FEATURES] for f in feats], float)
    y = np.array([r["instructions"] for r in rows], float)
    used = [i for i in range(len(cost.FEATURES)) if x[:, i].any()]
    coef = np.zeros(len(cost.FEATURES))
    coef[used] = _nnls(x[:, used], y)
    err = np.abs(x @ coef - y) / np.maximum(y, 1.0)
    entry = {f: round(float(v), 4) for f, v in zip(cost.FEATURES, coef) if v}
    entry.update(n_rows=len(rows), max_error=round(float(err.max()), 3))
    return entry


def _fit_set(family: str, rows: list[dict]) -> list[dict]:
    """The rows a family is fitted on. The DSP kernels generated for ONNX layers
    (float requantisation in the store step, about 3x slower per output) share their base
    name with the TFLite ones: the ONNX models' rows are left out of those families, so the
    fit describes the TFLite kernels (an ONNX layer's estimate is then low, but still well
    below its portable float-requantised kernel's)."""
    spec = REGISTRY.get(family)
    if spec is not None and spec.generated:
        tflite = [r for r in rows if not r["model"].startswith("onnx_")]
        return tflite or rows
    return rows


def fit(rows: list[dict]) -> dict:
    cores: dict[str, dict] = {}
    for core in sorted({r["core"] for r in rows}):
        mine = [r for r in rows if r["core"] == core]
        table = {cost.GENERIC: fit_rows(mine)}
        for family in sorted({r["family"] for r in mine}):
            table[family] = fit_rows(_fit_set(family, [r for r in mine
                                                       if r["family"] == family]))
        cores[core] = table
    return cores


def merge_families(rows: list[dict], families: list[str], models: list[str]) -> dict:
    """costs.json with `families` fitted again from `rows` on the cores the rows cover;
    everything else as it was. The provenance lists the added fits."""
    table = cost.load()
    added = table["provenance"].setdefault("added", [])
    for core in sorted({r["core"] for r in rows}):
        for family in families:
            mine = [r for r in rows if r["core"] == core and r["family"] == family]
            if mine:
                table["cores"].setdefault(core, {})[family] = fit_rows(_fit_set(family, mine))
    added.append(dict(date=datetime.date.today().isoformat(), families=families,
                      models=models, boards=sorted({r["board"] for r in rows}),
                      rows=len([r for r in rows if r["family"] in families])))
    cost.COSTS_FILE.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    cost.load.cache_clear()
    return table


def write_costs(rows: list[dict], models: list[str], boards: list[str]) -> dict:
    table = dict(
        provenance=dict(
            date=datetime.date.today().isoformat(),
            tool="benchmarks/calibrate_costs.py",
            method="per-step instructions from mcucompile.profile (QEMU -icount); one "
                   "non-negative least-squares fit in relative error per (core, family)",
            features=list(cost.FEATURES), models=models, boards=boards,
            kernels={b: list(BOARDS[b]) for b in boards},
            plans={m: dict(patch=p, sram=s) for m, (p, s) in PLANS.items()},
            rows=len(rows)),
        cores=fit(rows))
    cost.COSTS_FILE.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    cost.load.cache_clear()
    return table


# ---------------------------------------------------------------- error report

def check(boards: list[str], models: list[str], log, worst: int = 3) -> list[dict]:
    """Estimated vs measured instructions per model, board and kernel set."""
    results = []
    for board in boards:
        core = cost.core_of(get_board(board))
        for model in models:
            path = MODEL_DIR / f"{model}.tflite" if not Path(model).exists() else Path(model)
            for kernels in BOARDS[board]:
                with tempfile.TemporaryDirectory(prefix="mcuc-check-") as tmp:
                    rep, schedule = profile_steps(path, board, kernels, "off", None, Path(tmp))
                ops = []
                for r in rep.rows:
                    calls = schedule[r["step"]].kernel.calls
                    est = sum(cost.estimate(c, core) for c in calls)
                    ops.append(dict(step=r["step"], type=r["type"], kernels=r["kernels"],
                                    measured=r["instructions"], estimated=est))
                est = sum(o["estimated"] for o in ops)
                row = dict(model=Path(model).stem, board=board, kernels=kernels,
                           measured=rep.instructions, estimated=est,
                           error=(est - rep.instructions) / rep.instructions,
                           worst=sorted(ops, key=lambda o: -abs(o["estimated"] - o["measured"]))
                           [:worst])
                results.append(row)
                log(_check_line(row))
    return results


def _check_line(r: dict) -> str:
    worst = "; ".join(f"step {o['step']} {o['type']} {o['measured']:,}->{o['estimated']:,} "
                      f"({(o['estimated'] - o['measured']) / max(o['measured'], 1):+.0%})"
                      for o in r["worst"])
    return (f"{r['model']:<24} {r['board']:<11} {r['kernels']:<8} {r['measured']:>12,} "
            f"{r['estimated']:>12,} {r['error']:>+7.1%}   worst: {worst}")


def print_check(results: list[dict]) -> None:
    print(f"\n{'model':<24} {'board':<11} {'kernels':<8} {'measured':>12} {'estimated':>12} "
          f"{'error':>7}")
    for r in results:
        print(f"{r['model']:<24} {r['board']:<11} {r['kernels']:<8} {r['measured']:>12,} "
              f"{r['estimated']:>12,} {r['error']:>+7.1%}")
    errs = [abs(r["error"]) for r in results]
    print(f"worst |error| {max(errs):.1%}, mean {sum(errs) / len(errs):.1%}, "
          f"within 15%: {sum(e <= 0.15 for e in errs)}/{len(errs)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="profile the shared models and compare with the estimates")
    ap.add_argument("--refit", action="store_true",
                    help="fit costs.json again from the rows of the last calibration run")
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--models", default=None,
                    help="comma-separated (default: the calibration set, or with --check the "
                         "shared models)")
    ap.add_argument("--json", type=Path, help="also write the rows or check results here")
    ap.add_argument("--families", default=None,
                    help="comma-separated kernel families to fit (fast kernels only) and merge "
                         "into the existing costs.json (default models: NEW_FAMILY_MODELS)")
    args = ap.parse_args(argv)
    boards = args.boards.split(",")
    log = lambda s: print(s, flush=True)    # noqa: E731
    rows_file = _cache_dir() / "calibration_rows.json"
    if args.check:
        models = args.models.split(",") if args.models else SHARED
        results = check(boards, models, log)
        print_check(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return 0
    if args.families:
        families = args.families.split(",")
        models = args.models.split(",") if args.models else NEW_FAMILY_MODELS
        rows = []
        for board in boards:
            rows += collect(board, models, log, kernel_sets=("auto",))
        table = merge_families(rows, families, models)
        for core, fams in table["cores"].items():
            for family in families:
                e = fams.get(family)
                if e:
                    coefs = " ".join(f"{f}={e[f]:g}" for f in cost.FEATURES if f in e)
                    log(f"{core:<11} {family:<34} rows {e['n_rows']:>4}  max err "
                        f"{e['max_error']:>6.1%}  {coefs}")
        log(f"wrote {cost.COSTS_FILE}")
        return 0
    models = args.models.split(",") if args.models else CALIBRATION
    if args.refit:
        saved = json.loads(rows_file.read_text())
        rows, models, boards = saved["rows"], saved["models"], saved["boards"]
    else:
        t0 = time.perf_counter()
        for m in models:
            model_path(m)
        log(f"models ready ({time.perf_counter() - t0:.0f} s)")
        rows = []
        for board in boards:
            t0 = time.perf_counter()
            rows += collect(board, models, log)
            log(f"{board}: {time.perf_counter() - t0:.0f} s")
            rows_file.write_text(json.dumps(dict(rows=rows, models=models, boards=boards)))
    table = write_costs(rows, models, boards)
    for core, fams in table["cores"].items():
        for family, e in fams.items():
            coefs = " ".join(f"{f}={e[f]:g}" for f in cost.FEATURES if f in e)
            log(f"{core:<11} {family:<34} rows {e['n_rows']:>4}  max err {e['max_error']:>6.1%}"
                f"  {coefs}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    log(f"wrote {cost.COSTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
