"""Kernel registry: every C kernel the code generator can call, as one typed spec.

A `KernelCall` (passes/kernel_call.py) names its C function. Runtime kernels are named as in
runtime_c/include/mcuc_runtime.h; kernels generated per layer (DSP, Helium, streamed rows,
patch tiles) carry a suffix after their base name: `_op12`, `_op12_t1a2b3c4d`, `_op12_row`.
`spec_of(call)` strips the suffix and returns the spec: the only place in the compiler that
maps a kernel's name to what it is. The planner asks specs, never names:

    traits        what the planner may do with a call of this kernel
      OVERWRITES_INPUT  reads element i of an input before writing element i of the output
                        and never an earlier one: the output may share a same-size input's
                        buffer (arena.py; binary kernels only when not broadcasting)
      IN_PLACE_LAYER    writes its output over its input through a small scratch
                        (inplace.py chose it)
      WINDOW / UNARY / BINARY   a patch tile can run it on a tile (patches.py): sliding
                        window (tile sizes, shifted padding), elementwise on one input, or on
                        two same-shape inputs
      STREAMABLE        a layer a streamed inverted residual block can fuse (streaming.py)
    in_place      the spec of the kernel's in-place twin (inplace.py builds its call)
    isa           "portable" (C99), "c" (C99 generated per layer, taken where no "dsp" / "mve"
                  kernel is: Cortex-M0/M3, the host), "dsp" (Armv7E-M), "mve" (Helium)
    arith         the requantisation strategy: "tflm" (fixed point, bit-exact with TFLM),
                  "float" (onnxruntime's float requantisation), "none"
    weights       how its constants are encoded: "int8" as in the model, "int16" repacked
                  (twice the flash), "table", or "none"
    shift         (on the call, not the spec) bytes the output of a DSP conv / depthwise / FC
                  call may start below an input that dies at it (backend/shift.py)
    scratch       bytes of scratch as a function of the call's params, for kernels whose C
                  file has a `*_scratch_bytes()` (tests/test_registry.py checks the two agree);
                  generated kernels get their scratch from the builder that sized them
                  (the DSP GEMM's formula is checked against its C the same way)
Cost (estimated instructions per call and core) lives in backend/cost.py, keyed by the same
base names.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable

OVERWRITES_INPUT = "overwrites_input"
IN_PLACE_LAYER = "in_place_layer"
WINDOW = "window"
UNARY = "unary"
BINARY = "binary"
STREAMABLE = "streamable"


@dataclass(frozen=True)
class KernelSpec:
    name: str                               # base name (runtime function or generated prefix)
    ops: tuple[str, ...]                    # IR op types it implements
    isa: str = "portable"
    arith: str = "tflm"
    traits: frozenset = field(default_factory=frozenset)
    weights: str = "none"
    generated: bool = False                 # emitted per layer by a builder (kernels_*.py)
    in_place: str | None = None             # name of the in-place twin
    scratch: Callable[[dict], int] | None = field(default=None, compare=False)

    def has(self, trait: str) -> bool:
        return trait in self.traits


def _dw_plane(p: dict) -> int:        # depthwise_conv_s8_inplace.c: one output plane
    return p["out_h"] * p["out_w"]


def _conv_pixel(p: dict) -> int:      # conv_s8_inplace.c: one output pixel
    return p["out_c"]


def _svdf_dsp(p: dict) -> int:        # svdf_s8_dsp.c: the widened input
    return p["in_stride"] * 2


def _lstm(p: dict) -> int:            # lstm_s8.c: a copy of the hidden state
    return p["state_size"]


def _lstm_dsp(p: dict) -> int:        # lstm_s8_dsp.c: the step's int16 input and hidden
    return (p["in_stride"] + p["rec_stride"]) * 2


def _lstm_mve(p: dict) -> int:        # lstm_s8_mve.c: the step's input and hidden, padded
    return p["in_stride"] + p["rec_stride"]


def _svdf_mve(p: dict) -> int:        # svdf_s8_mve.c: the padded input
    return p["in_stride"]


def irb_span(dw: dict) -> int:        # inverted_residual.h: expanded rows in the ring
    return (dw["k_h"] - 1) * dw["dil_h"] + 1


def _irb(p: dict) -> int:             # inverted_residual_s8.c
    dw = p["dw"]
    return irb_span(dw) * dw["in_w"] * dw["in_c"] + dw["in_c"] \
        + (p["project"]["out_c"] if p["has_add"] else 0)


_T = frozenset
_SHARE_UNARY = _T({OVERWRITES_INPUT, UNARY})
_SPECS = [
    # convolutions and fully connected layers (TFLite: fixed-point requantisation)
    KernelSpec("mcuc_conv_s8", ("CONV_2D",), traits=_T({WINDOW, STREAMABLE}), weights="int8",
               in_place="mcuc_conv_s8_inplace"),
    KernelSpec("mcuc_conv_s8_inplace", ("CONV_2D",), traits=_T({IN_PLACE_LAYER}),
               weights="int8", scratch=_conv_pixel),
    KernelSpec("mcuc_depthwise_conv_s8", ("DEPTHWISE_CONV_2D",),
               traits=_T({WINDOW, STREAMABLE}), weights="int8",
               in_place="mcuc_depthwise_conv_s8_inplace"),
    KernelSpec("mcuc_depthwise_conv_s8_inplace", ("DEPTHWISE_CONV_2D",),
               traits=_T({IN_PLACE_LAYER}), weights="int8", scratch=_dw_plane),
    KernelSpec("mcuc_fully_connected_s8", ("FULLY_CONNECTED",), weights="int8"),
    KernelSpec("mcuc_transpose_conv_s8", ("TRANSPOSE_CONV",), weights="int8"),
    KernelSpec("mcuc_batch_matmul_s8", ("BATCH_MATMUL",)),
    KernelSpec("mcuc_inverted_residual_s8", ("INVERTED_RESIDUAL",), weights="int8",
               scratch=_irb),
    # ONNX models: the same layers with onnxruntime's float requantisation
    KernelSpec("mcuc_conv_s8_fpreq", ("CONV_2D",), arith="float", traits=_T({WINDOW}),
               weights="int8"),
    KernelSpec("mcuc_depthwise_conv_s8_fpreq", ("DEPTHWISE_CONV_2D",), arith="float",
               traits=_T({WINDOW}), weights="int8"),
    KernelSpec("mcuc_fully_connected_s8_fpreq", ("FULLY_CONNECTED",), arith="float",
               weights="int8"),
    # pooling
    KernelSpec("mcuc_avg_pool_s8", ("AVERAGE_POOL_2D",), traits=_T({WINDOW})),
    KernelSpec("mcuc_max_pool_s8", ("MAX_POOL_2D",), arith="none", traits=_T({WINDOW})),
    KernelSpec("mcuc_mean_s8", ("MEAN",)),
    KernelSpec("mcuc_arg_max_s8", ("ARG_MAX",), arith="none"),
    KernelSpec("mcuc_arg_min_s8", ("ARG_MIN",), arith="none"),
    KernelSpec("mcuc_avg_pool_s8_f32", ("AVERAGE_POOL_2D",), arith="float"),
    KernelSpec("mcuc_global_avg_pool_s8_fpreq", ("MEAN", "AVERAGE_POOL_2D"), arith="float"),
    # elementwise
    KernelSpec("mcuc_add_s8", ("ADD",), traits=_T({OVERWRITES_INPUT, BINARY, STREAMABLE})),
    KernelSpec("mcuc_sub_s8", ("SUB",), traits=_T({OVERWRITES_INPUT, BINARY})),
    KernelSpec("mcuc_mul_s8", ("MUL",), traits=_T({OVERWRITES_INPUT, BINARY})),
    KernelSpec("mcuc_squared_difference_s8", ("SQUARED_DIFFERENCE",),
               traits=_T({OVERWRITES_INPUT, BINARY})),
    KernelSpec("mcuc_maximum_s8", ("MAXIMUM",), arith="none",
               traits=_T({OVERWRITES_INPUT, BINARY})),
    KernelSpec("mcuc_minimum_s8", ("MINIMUM",), arith="none",
               traits=_T({OVERWRITES_INPUT, BINARY})),
    KernelSpec("mcuc_add_s8_f32", ("ADD",), arith="float", traits=_T({BINARY})),
    KernelSpec("mcuc_mul_s8_f32", ("MUL",), arith="float", traits=_T({BINARY})),
    KernelSpec("mcuc_requantize_s8", ("QUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1"),
               traits=_SHARE_UNARY),
    KernelSpec("mcuc_quantize_f32_s8", ("QUANTIZE",)),
    KernelSpec("mcuc_dequantize_s8_f32", ("DEQUANTIZE",)),
    KernelSpec("mcuc_logistic_s8", ("LOGISTIC",), traits=_SHARE_UNARY),
    KernelSpec("mcuc_tanh_s8", ("TANH",), traits=_SHARE_UNARY),
    KernelSpec("mcuc_rsqrt_s8", ("RSQRT",), traits=_SHARE_UNARY),
    KernelSpec("mcuc_hard_swish_s8", ("HARD_SWISH",), traits=_SHARE_UNARY),
    KernelSpec("mcuc_leaky_relu_s8", ("LEAKY_RELU",), traits=_SHARE_UNARY),
    KernelSpec("mcuc_lut_s8", ("LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU"), arith="none",
               traits=_T({UNARY}), weights="table"),
    KernelSpec("mcuc_softmax_s8", ("SOFTMAX",), traits=_T({OVERWRITES_INPUT})),
    KernelSpec("mcuc_softmax_s8_s16", ("SOFTMAX",)),
    KernelSpec("mcuc_requantize_int", ("QUANTIZE",)),
    # recurrent layers: the state is a variable tensor in the arena's state region
    KernelSpec("mcuc_svdf_s8", ("SVDF",), weights="int8"),
    KernelSpec("mcuc_lstm_s8", ("UNIDIRECTIONAL_SEQUENCE_LSTM",), weights="int8",
               scratch=_lstm),
    # data movement
    KernelSpec("mcuc_strided_copy_s8", ("STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V",
                                         "CONCATENATION", "TRANSPOSE", "PATCH_COPY"),
               arith="none"),
    KernelSpec("mcuc_pad_s8", ("PAD", "PADV2"), arith="none"),
    KernelSpec("mcuc_gather_s8", ("GATHER",), arith="none"),
    KernelSpec("mcuc_resize_nearest_s8", ("RESIZE_NEAREST_NEIGHBOR",), arith="none"),
    KernelSpec("mcuc_resize_bilinear_s8", ("RESIZE_BILINEAR",)),
    # Armv7E-M DSP (passes/kernels_dsp.py)
    KernelSpec("mcuc_conv_s8_dsp", ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"),
               isa="dsp", weights="int16", generated=True),
    # the same GEMM with one im2col pixel per block, and reading its input in place (FC,
    # 1x1 stride-1 unpadded conv; no scratch): slower, for layers whose step leaves too
    # little scratch for wider blocks (kernels_dsp.GEMM_NAMES)
    KernelSpec("mcuc_conv_s8_dsp_1px", ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"),
               isa="dsp", weights="int16", generated=True),
    KernelSpec("mcuc_conv_s8_dsp_direct", ("CONV_2D", "FULLY_CONNECTED"), isa="dsp",
               weights="int16", generated=True),
    KernelSpec("mcuc_depthwise_conv_s8_dsp", ("DEPTHWISE_CONV_2D",), isa="dsp",
               weights="int16", generated=True),
    KernelSpec("mcuc_svdf_s8_dsp", ("SVDF",), isa="dsp", weights="int8", scratch=_svdf_dsp),
    KernelSpec("mcuc_lstm_s8_dsp", ("UNIDIRECTIONAL_SEQUENCE_LSTM",), isa="dsp",
               weights="int8", scratch=_lstm_dsp),
    KernelSpec("mcuc_add_s8_dsp", ("ADD", "SUB"), isa="dsp",
               traits=_T({OVERWRITES_INPUT}), weights="table"),
    KernelSpec("mcuc_avg_pool_s8_dsp", ("AVERAGE_POOL_2D",), isa="dsp"),
    # plain C99 for cores without DSP (Cortex-M0/M3, host; passes/kernels_fast.py): int8
    # weights reordered (the model's flash), blocks of channels x pixels in registers
    KernelSpec("mcuc_conv_s8_fast", ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"),
               isa="c", weights="int8", generated=True, in_place="mcuc_conv_s8_fast_inplace"),
    KernelSpec("mcuc_depthwise_conv_s8_fast", ("DEPTHWISE_CONV_2D",), isa="c", weights="int8",
               generated=True, in_place="mcuc_depthwise_conv_s8_fast_inplace"),
    # their in-place twins (planner/inplace.py): 1x1 through np pixels' outputs, depthwise
    # through one output plane
    KernelSpec("mcuc_conv_s8_fast_inplace", ("CONV_2D",), traits=_T({IN_PLACE_LAYER}),
               isa="c", weights="int8", generated=True),
    KernelSpec("mcuc_depthwise_conv_s8_fast_inplace", ("DEPTHWISE_CONV_2D",),
               traits=_T({IN_PLACE_LAYER}), isa="c", weights="int8", generated=True),
    # Helium (passes/kernels_mve.py)
    KernelSpec("mcuc_conv_s8_mve", ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"),
               isa="mve", weights="int8", generated=True),
    KernelSpec("mcuc_svdf_s8_mve", ("SVDF",), isa="mve", weights="int8", scratch=_svdf_mve),
    KernelSpec("mcuc_lstm_s8_mve", ("UNIDIRECTIONAL_SEQUENCE_LSTM",), isa="mve",
               weights="int8", scratch=_lstm_mve),
    KernelSpec("mcuc_depthwise_conv_s8_mve", ("DEPTHWISE_CONV_2D",), isa="mve",
               weights="int8", generated=True),
    # the same kernel with the planes made a few channels at a time (the scratch budget):
    # each chunk repeats the per-row work, so it has costs of its own
    KernelSpec("mcuc_depthwise_conv_s8_mve_chunks", ("DEPTHWISE_CONV_2D",), isa="mve",
               weights="int8", generated=True),
    # streamed inverted residual block with its 1x1 layers on DSP or Helium row kernels
    # (their weights are the row kernels': int16 on DSP, int8 on Helium)
    KernelSpec("mcuc_inverted_residual_rows", ("INVERTED_RESIDUAL",), isa="dsp",
               weights="int16", generated=True),
]
REGISTRY: dict[str, KernelSpec] = {s.name: s for s in _SPECS}

_SUFFIX = re.compile(r"_op\d+.*$")


@functools.lru_cache(maxsize=4096)
def base_name(fn: str) -> str:
    """`mcuc_conv_s8_dsp_op12_t1a2b3c4d` -> `mcuc_conv_s8_dsp`."""
    return _SUFFIX.sub("", fn)


def spec_of(call) -> KernelSpec:
    """The spec of a KernelCall (or of a C function name)."""
    return _spec(call if isinstance(call, str) else call.fn)


@functools.lru_cache(maxsize=8192)
def _spec(fn: str) -> KernelSpec:
    spec = REGISTRY.get(base_name(fn))
    if spec is None:
        raise KeyError(f"kernel {fn!r} is not in the registry (mcucompile/backend/registry.py)")
    return spec


def shares_input(call) -> bool:
    """May the call's output take the buffer of a same-size input that dies at it?"""
    spec = spec_of(call)
    if not spec.has(OVERWRITES_INPUT):
        return False
    if spec.has(BINARY):        # broadcasting reads an operand element several times
        return call.params["bc"]["flat_size"] > 0
    return True


def tileable(call) -> bool:
    """Can a patch tile run this call (see patches.py)?"""
    spec = spec_of(call)
    if spec.has(WINDOW) or spec.has(UNARY):
        return True
    return spec.has(BINARY) and call.params["bc"]["flat_size"] > 0 \
        and all(a.tensor is not None for a in call.args)


def scratch_bytes(name: str, params: dict) -> int:
    """Scratch of a runtime kernel whose C file sizes it (`*_scratch_bytes()`)."""
    return REGISTRY[name].scratch(params)
