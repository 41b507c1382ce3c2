"""Compile-time parameters of the nonlinear / requantising int8 kernels, computed exactly as
TensorFlow Lite Micro's Prepare functions compute them.

Every ``*_params`` function returns a dict whose keys are the field names of the matching C
struct in ``runtime_c/include/mcuc_runtime.h``; it raises ``ValueError`` where TFLM would reject
the op (or would abort / run into undefined behaviour at run time for every input).

Precision rules (TFLM keeps ``params.scale`` and builtin options such as beta / alpha as
float32; "the pinned TFLM" is the tflite-micro wheel the tests run, and every float-vs-double
choice below is pinned down by tests/test_activation_kernels.py with quantisations where the
two choices give different bytes):
  * multiplier ratios are formed in double from the float32 values: QUANTIZE, RELU, MEAN,
    SOFTMAX (beta * scale), LEAKY_RELU (both ratios), HARD_SWISH (both ratios); older TFLM
    sources divide leaky-relu / hard-swish scales in float32 -- the pinned one does not;
  * quantising a float constant (RELU6's "six", activation bounds) divides in float32;
  * RELU_N1_TO_1 has no TFLM kernel; it follows TFLite, which divides in float32;
  * LOGISTIC / TANH use frexp(double(scale) * 2^27) directly (exact);
  * rounding is std::round / roundf: half away from zero.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .quant_util import quantize_multiplier, round_half_away  # noqa: F401 (re-exported)

INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MAX = (1 << 31) - 1

# mcuc_mean_params.mode values (see runtime_c/src/pool/mean_s8.c)
MEAN_MODE_REQUANT = 0
MEAN_MODE_SAME_QPARAMS = 1

# Fixed-point formats TFLM uses inside the kernels.
_SOFTMAX_DIFF_INT_BITS = 5
_SIGMOID_INPUT_INT_BITS = 4


# ------------------------------------------------------------------ helpers

def _f32(x) -> np.float32:
    """A value as TFLM holds it in a float (tensor scale, builtin option)."""
    return np.float32(x)


def _d(x) -> float:
    """static_cast<double>(float)."""
    return float(np.float32(x))


_round_half_away = round_half_away


def _check_scale(name: str, scale) -> None:
    s = float(scale)
    if not (math.isfinite(s) and s > 0.0) or not (np.isfinite(_f32(s)) and _f32(s) > 0):
        raise ValueError(f"{name} must be a positive finite float32 scale (got {scale!r})")


def _check_zp(name: str, zp) -> int:
    z = int(zp)
    if z != zp or not INT8_MIN <= z <= INT8_MAX:
        raise ValueError(f"{name} must be an int8 zero point (got {zp!r})")
    return z


def _check_size(size) -> int:
    n = int(size)
    if n != size or n < 0 or n > INT32_MAX:
        raise ValueError(f"size must be a non-negative int32 (got {size!r})")
    return n


def _downscale_to_int16(mult32: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15, saturating."""
    if mult32 < 0:
        raise ValueError("int16 multiplier downscale needs a non-negative multiplier")
    if mult32 >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (mult32 + (1 << 15)) >> 16


def _input_radius(int_bits: int, left_shift: int, total_bits: int = 31) -> int:
    """TFLM CalculateInputRadius (double arithmetic, floored)."""
    if not 0 <= left_shift <= 62:
        raise ValueError(f"input left shift {left_shift} out of the range TFLM can handle")
    v = 1.0 * ((1 << int_bits) - 1) * float(1 << (total_bits - int_bits)) / float(1 << left_shift)
    return int(math.floor(v))


def _check_out_quant(op: str, output_scale, output_zp, scale: float, zp: int) -> None:
    """Check an op whose kernel hard-codes its output quantisation."""
    if output_zp is not None and int(output_zp) != zp:
        raise ValueError(f"{op}: int8 output zero point must be {zp} (got {output_zp})")
    if output_scale is not None and _f32(output_scale) != _f32(scale):
        raise ValueError(f"{op}: int8 output scale must be exactly {scale!r} (got {output_scale!r})")


# ------------------------------------------------------------------ softmax

def softmax_params(input_scale: float, beta: float, rows: int, depth: int,
                   output_scale: float | None = None, output_zp: int | None = None,
                   output_bits: int = 8) -> dict:
    """mcuc_softmax_params for int8 -> int8 (or int16, output_bits 16) SOFTMAX over the last
    axis.

    TFLM: PreprocessSoftmaxScaling(double(beta), double(input_scale), 5): the real multiplier
    beta*scale*2^26 (double, capped at 2^31-1) must exceed 1; diff_min = -floor(31 * 2^26 /
    2^left_shift). An int8 output must be exactly scale 1/256 (float compare), zero point
    -128; an int16 output zero point -32768 and scale 1/65536 within 0.1% (TFLM's
    TF_LITE_ENSURE_NEAR) (checked when output_scale / output_zp are given).
    """
    _check_scale("input_scale", input_scale)
    rows, depth = _check_size(rows), _check_size(depth)
    if output_bits == 16:
        if output_zp is not None and int(output_zp) != INT16_MIN:
            raise ValueError(f"SOFTMAX: int16 output zero point must be {INT16_MIN} "
                             f"(got {output_zp})")
        if output_scale is not None and not abs(_d(output_scale) - 1.0 / 65536) <= 1e-3 / 65536:
            raise ValueError(f"SOFTMAX: int16 output scale must be 1/65536 (got "
                             f"{output_scale!r})")
    else:
        _check_out_quant("SOFTMAX", output_scale, output_zp, 1.0 / 256, -128)
    b = _d(beta)
    real = min(b * _d(input_scale) * float(1 << (31 - _SOFTMAX_DIFF_INT_BITS)),
               float((1 << 31) - 1))
    if not real > 1.0:
        raise ValueError(f"SOFTMAX: beta * input_scale * 2^26 = {real!r} must be > 1 "
                         "(TFLM QuantizeMultiplierGreaterThanOne check)")
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError("SOFTMAX: negative input left shift")
    radius = _input_radius(_SOFTMAX_DIFF_INT_BITS, shift)
    return dict(rows=rows, depth=depth, input_mult=mult, input_left_shift=shift,
                diff_min=int(-1.0 * radius))


# ------------------------------------------------------------------ logistic / tanh

def _sigmoid_like(op: str, input_scale, input_zp, size) -> dict:
    _check_scale("input_scale", input_scale)
    zp = _check_zp("input_zp", input_zp)
    real = _d(input_scale) * float(1 << (31 - _SIGMOID_INPUT_INT_BITS))
    q, shift = math.frexp(real)
    mult = _round_half_away(q * float(1 << 31))
    if mult > INT32_MAX:   # cannot happen for a float32 scale (24-bit mantissa)
        raise ValueError(f"{op}: input multiplier overflows int32")
    if shift < 0:
        raise ValueError(f"{op}: input scale {input_scale!r} too small for TFLM's Q4.27 rescale")
    radius = _input_radius(_SIGMOID_INPUT_INT_BITS, shift)
    return dict(size=_check_size(size), input_zp=zp, input_range_radius=radius,
                input_mult=int(mult), input_left_shift=int(shift))


def logistic_params(input_scale: float, input_zp: int, size: int,
                    output_scale: float | None = None, output_zp: int | None = None) -> dict:
    """mcuc_sigmoid_params for int8 LOGISTIC.

    TFLM: multiplier from frexp(double(input_scale) * 2^27) WITHOUT QuantizeMultiplier's
    2^31 fix-up; radius = floor(15 * 2^27 / 2^shift). TFLM rejects an output zero point other
    than -128; the kernel also assumes output scale 1/256 (TFLM does not check that, we do).
    """
    _check_out_quant("LOGISTIC", output_scale, output_zp, 1.0 / 256, -128)
    return _sigmoid_like("LOGISTIC", input_scale, input_zp, size)


def tanh_params(input_scale: float, input_zp: int, size: int,
                output_scale: float | None = None, output_zp: int | None = None) -> dict:
    """mcuc_sigmoid_params for int8 TANH: same Prepare arithmetic as LOGISTIC. The kernel
    produces output scale 1/128, zero point 0 (TFLM checks neither; we do when given)."""
    _check_out_quant("TANH", output_scale, output_zp, 1.0 / 128, 0)
    return _sigmoid_like("TANH", input_scale, input_zp, size)


# ------------------------------------------------------------------ hard swish

def hard_swish_params(input_scale: float, input_zp: int, output_scale: float, output_zp: int,
                      size: int) -> dict:
    """mcuc_hard_swish_params for int8 HARD_SWISH.

    hires_input_scale = input_scale / 128 and reluish_scale = 3 / 32768 (both exact); the pinned
    TFLM divides hires / output_scale and hires / reluish_scale in double (older TFLM sources
    divide in float32 and widen; the tests pin this down), then QuantizeMultiplier and a
    rounding downscale to Q15 (DownScaleInt32ToInt16Multiplier). TFLM rejects an output
    exponent > 0.
    """
    _check_scale("input_scale", input_scale)
    _check_scale("output_scale", output_scale)
    in_zp = _check_zp("input_zp", input_zp)
    out_zp = _check_zp("output_zp", output_zp)
    hires = _d(input_scale) / 128.0           # exact, as is (1.0f / 128.0f) * scale
    reluish_scale = 3.0 / 32768.0             # exact in float and double
    out_real = hires / _d(output_scale)
    relu_real = hires / reluish_scale
    out_m32, out_exp = quantize_multiplier(out_real)
    relu_m32, relu_exp = quantize_multiplier(relu_real)
    if out_exp > 0:
        raise ValueError("HARD_SWISH: input_scale / (128 * output_scale) >= 1 is rejected by "
                         "TFLM (output multiplier exponent must be <= 0)")
    if relu_exp > 31:
        raise ValueError("HARD_SWISH: input scale too large (reluish exponent > 31)")
    return dict(size=_check_size(size), input_zp=in_zp, output_zp=out_zp,
                reluish_mult_fixedpoint_int16=_downscale_to_int16(relu_m32),
                reluish_mult_exponent=relu_exp,
                output_mult_fixedpoint_int16=_downscale_to_int16(out_m32),
                output_mult_exponent=out_exp)


# ------------------------------------------------------------------ leaky relu

def leaky_relu_params(alpha: float, in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                      size: int) -> dict:
    """mcuc_leaky_relu_params for int8 LEAKY_RELU.

    The pinned TFLM computes both ratios in double from the float32 scales / alpha:
    double(in_s) * double(alpha) / double(out_s) and double(in_s) / double(out_s). (Older
    TFLM sources divide in float32 first; tests/test_activation_kernels.py has quantisations
    where the two differ and TFLM agrees with double.) Negative alpha gives a negative
    multiplier, which the kernel applies as a negated positive one, like TFLM.
    """
    _check_scale("in_scale", in_scale)
    _check_scale("out_scale", out_scale)
    a = _f32(alpha)
    if not np.isfinite(a):
        raise ValueError(f"LEAKY_RELU: alpha must be finite (got {alpha!r})")
    alpha_real = _d(in_scale) * float(a) / _d(out_scale)
    ident_real = _d(in_scale) / _d(out_scale)
    m_a, s_a = quantize_multiplier(alpha_real)
    m_i, s_i = quantize_multiplier(ident_real)
    return dict(size=_check_size(size), input_zp=_check_zp("in_zp", in_zp),
                output_zp=_check_zp("out_zp", out_zp), mult_alpha=m_a, shift_alpha=s_a,
                mult_identity=m_i, shift_identity=s_i)


# ------------------------------------------------------------------ requantize family

def _requant(size, in_zp, out_zp, mult, shift, lo, hi) -> dict:
    return dict(size=_check_size(size), input_zp=int(in_zp), output_zp=int(out_zp),
                mult=int(mult), shift=int(shift), act_min=int(lo), act_max=int(hi))


def _float_to_quantized(value: float, scale, zero_point: int) -> int:
    """TFLM FloatToQuantizedType<int8_t>: round(value / scale) in float32, + zp, clamped."""
    q = _round_half_away(float(np.float32(_f32(value) / _f32(scale)))) + zero_point
    return max(INT8_MIN, min(INT8_MAX, q))


def relu_params(kind: str, in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                size: int) -> dict:
    """mcuc_requant_params for a standalone int8 RELU / RELU6 / RELU_N1_TO_1.

    RELU (TFLM CalculateReluOpData): out = clamp(out_zp + MBQM(in - in_zp, double(in_s) /
      double(out_s)), max(-128, out_zp + roundf(0 / out_s)), 127).
    RELU6 (TFLM Relu6Prepare/Relu6Quantized): NO rescale, output quantisation is ignored;
      out = clamp(in, in_zp, clamp(round(6.f / in_s) + in_zp)). Expressed as zero points 0 and
      the exact identity multiplier (2^30, shift 1).
    RELU_N1_TO_1: TFLM has no kernel for it (tflite_micro refuses such a model); this follows
      TFLite's reference ReluPrepare / QuantizedReluX instead: the same rescale-and-clamp, but
      with the scale ratio divided in float32 (TFLite) rather than double (TFLM's RELU), and
      bounds out_zp + roundf(-1.f/out_s) .. out_zp + roundf(1.f/out_s).
    """
    kind = str(kind).upper()
    _check_scale("in_scale", in_scale)
    _check_scale("out_scale", out_scale)
    izp = _check_zp("in_zp", in_zp)
    ozp = _check_zp("out_zp", out_zp)
    if kind == "RELU6":
        six = _float_to_quantized(6.0, in_scale, izp)
        return _requant(size, 0, 0, 1 << 30, 1, izp, six)
    if kind not in ("RELU", "RELU_N1_TO_1"):
        raise ValueError(f"relu_params: unknown activation kind {kind!r}")
    if kind == "RELU":
        # TFLM CalculateReluOpData: each scale cast to double, then divided
        mult, shift = quantize_multiplier(_d(in_scale) / _d(out_scale))
    else:
        # TFLite ReluPrepare: float32 division, widened afterwards
        mult, shift = quantize_multiplier(float(np.float32(_f32(in_scale) / _f32(out_scale))))

    def bound(v: float) -> int:
        return ozp + _round_half_away(float(np.float32(_f32(v) / _f32(out_scale))))

    if kind == "RELU":
        lo, hi = max(INT8_MIN, bound(0.0)), INT8_MAX
    else:
        lo, hi = max(INT8_MIN, bound(-1.0)), min(INT8_MAX, bound(1.0))
    return _requant(size, izp, ozp, mult, shift, lo, hi)


def requant_int_params(in_scale: float, in_zp: int, in_bytes: int, out_scale: float,
                       out_zp: int, out_bytes: int, size: int) -> dict:
    """mcuc_requant_int_params for QUANTIZE between integer types (TFLM Requantize, int8 or
    int16 in, int8/int16/int32 out): multiplier from double(in_s) / double(out_s)."""
    _check_scale("in_scale", in_scale)
    _check_scale("out_scale", out_scale)
    mult, shift = quantize_multiplier(_d(in_scale) / _d(out_scale))
    return dict(size=_check_size(size), in_bytes=int(in_bytes), out_bytes=int(out_bytes),
                input_zp=int(in_zp), output_zp=int(out_zp), mult=mult, shift=shift)


def quantize_params(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                    size: int) -> dict:
    """mcuc_requant_params for QUANTIZE int8 -> int8 (TFLM Requantize): multiplier from
    double(in_s) / double(out_s), full int8 clamp."""
    _check_scale("in_scale", in_scale)
    _check_scale("out_scale", out_scale)
    mult, shift = quantize_multiplier(_d(in_scale) / _d(out_scale))
    return _requant(size, _check_zp("in_zp", in_zp), _check_zp("out_zp", out_zp), mult, shift,
                    INT8_MIN, INT8_MAX)


# ------------------------------------------------------------------ mean

def mean_params(input_shape: Sequence[int], axes: Sequence[int], in_scale: float, in_zp: int,
                out_scale: float, out_zp: int, keep_dims: bool) -> dict:
    """mcuc_mean_params for int8 MEAN, viewing the input as [outer][reduce][inner].

    The pinned tflite-micro runs reference QuantizedMeanOrSum for EVERY int8 MEAN: there is no
    int8 special case for 4-D axes {1, 2} (that one is float-only), no truncating shortcut for
    identical input/output quantisation (the converter usually emits exactly that; verified
    bit-exact in tests/test_activation_kernels.py), no limit on the number of axes, and
    keep_dims only changes the output shape. QuantizedMeanOrSum: int32 sum of the raw values,
    minus count * in_zp, times the multiplier of double(in_s) / double(out_s) with 1/count folded
    in as s = min(floor(log2(count)), 32, 31 + shift), mult = (mult << s) // count (truncating),
    shift -= s; then + out_zp and clamp. Emitted as MEAN_MODE_REQUANT.

    (MEAN_MODE_SAME_QPARAMS -- sum / count with C truncation, zero points untouched -- is what
    TFLM source trees with a reference_ops::Mean<T, U> shortcut for identical quantisation do;
    the kernel supports it, this function does not select it for the pinned TFLM.)

    Raises ValueError for reductions the [outer][reduce][inner] view cannot express (reduced
    axes not adjacent once size-1 dimensions are dropped) and for empty tensors.
    """
    shape = [int(d) for d in input_shape]
    rank = len(shape)
    _check_scale("in_scale", in_scale)
    _check_scale("out_scale", out_scale)
    izp = _check_zp("in_zp", in_zp)
    ozp = _check_zp("out_zp", out_zp)
    if rank == 0:
        raise ValueError("MEAN of a scalar is not supported")
    if any(d <= 0 for d in shape):
        raise ValueError(f"MEAN: empty or invalid input shape {shape}")
    resolved: list[int] = []
    for a in axes:
        a = int(a)
        r = a + rank if a < 0 else a
        if not 0 <= r < rank:
            raise ValueError(f"MEAN: axis {a} out of range for rank {rank}")
        if r not in resolved:
            resolved.append(r)
    # Size-1 dimensions are neutral; the others must be kept* reduced* kept*.
    big = [(i, i in resolved) for i, d in enumerate(shape) if d != 1]
    flags = [red for _, red in big]
    if True in flags:
        first = flags.index(True)
        last = len(flags) - 1 - flags[::-1].index(True)
        if not all(flags[first:last + 1]):
            raise ValueError(f"MEAN over axes {sorted(resolved)} of shape {shape}: the reduced "
                             "axes are not adjacent once size-1 dimensions are dropped, which "
                             "the [outer][reduce][inner] kernel cannot express")
        outer = math.prod(shape[i] for i, _ in big[:first])
        reduce = math.prod(shape[i] for i, _ in big[first:last + 1])
        inner = math.prod(shape[i] for i, _ in big[last + 1:])
    else:
        outer, reduce, inner = math.prod(shape), 1, 1
    if reduce * 256 > INT32_MAX or outer * reduce * inner > INT32_MAX:
        raise ValueError("MEAN: tensor too large for int32 accumulation")

    count = reduce  # product of the reduced dims (size-1 ones included)
    mult, shift = quantize_multiplier(_d(in_scale) / _d(out_scale))
    s = min(count.bit_length() - 1, 32, 31 + shift)
    mult = (mult << s) // count
    shift -= s
    _ = bool(keep_dims)  # output shape only: identical arithmetic either way
    return dict(outer=outer, reduce=reduce, inner=inner, input_zp=izp, output_zp=ozp,
                mult=int(mult), shift=int(shift), mode=MEAN_MODE_REQUANT)
