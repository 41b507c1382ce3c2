"""Compile-time quantization arithmetic, matching TFLM's Prepare functions exactly.

TFLM keeps scales as float32 and does most multiplier maths in double; rounding is half away
from zero (std::round). A real multiplier M becomes (mult, shift): M = mult * 2^(shift-31).
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def round_half_away(x: float) -> int:
    """std::round / TfLiteRound: half away from zero, exact (no x + 0.5 double rounding)."""
    if not math.isfinite(x):
        raise ValueError(f"cannot round non-finite value {x!r}")
    a = abs(x)
    whole = math.floor(a)
    r = int(whole) + (1 if a - whole >= 0.5 else 0)
    return r if x >= 0 else -r


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier (double-rounding build): real = mult * 2^(shift - 31).

    frexp, mantissa rounded half away from zero to Q31; a mantissa that rounds up to 2^31 is
    halved with shift + 1; shifts below -31 flush the multiplier to (0, 0).
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise ValueError(f"cannot quantize non-finite multiplier {real!r}")
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * float(1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 31:   # the kernels shift an int32 left by `shift`: 32 or more is undefined in C
        raise ValueError(f"requantisation multiplier {real:.4g} is 2^31 or more (the scales "
                         "are too far apart for fixed-point arithmetic)")
    return int(q_fixed), int(shift)


def f32(x) -> float:
    """A value as TFLM holds it (float32), widened to a Python float for double maths."""
    return float(np.float32(x))


def quantize_float(value: float, scale: float, zero_point: int) -> int:
    """TFLM Quantize<T>(f): zp + round(f / scale), the division in float32."""
    return zero_point + round_half_away(float(np.float32(value) / np.float32(scale)))


def activation_range(fused: int, scale: float, zero_point: int, where: str) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 output (fused activation codes of TFLite)."""
    from ..errors import McucError
    lo, hi = INT8_MIN, INT8_MAX
    if fused == 0:            # NONE
        return lo, hi
    if fused == 1:            # RELU
        return max(lo, quantize_float(0.0, scale, zero_point)), hi
    if fused == 3:            # RELU6
        return (max(lo, quantize_float(0.0, scale, zero_point)),
                min(hi, quantize_float(6.0, scale, zero_point)))
    if fused == 2:            # RELU_N1_TO_1
        return (max(lo, quantize_float(-1.0, scale, zero_point)),
                min(hi, quantize_float(1.0, scale, zero_point)))
    raise McucError(f"fused activation code {fused} (TANH/SIGN_BIT) is not supported", where)
