"""Python values -> C source text: struct initializers and constant array bodies."""
from __future__ import annotations

import numpy as np

C_TYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "uint8": "uint8_t",
           "float32": "float"}


def c_int(v) -> str:
    """Every integer generated C holds is an int32_t (or narrower, from a typed array): one
    that is not would be a model value the validation (ir/validate.py) let through."""
    v = int(v)
    if not -2**31 <= v < 2**31:
        raise ValueError(f"integer constant {v} does not fit the int32_t it is written to")
    # INT32_MIN has no literal form in C: write it as an expression.
    return "(-2147483647 - 1)" if v == -2147483648 else str(v)


def c_float(v) -> str:
    """A float32 as an exact C99 hex literal (the ONNX kernels need the very same bits)."""
    v = float(np.float32(v))
    if not np.isfinite(v):
        raise ValueError(f"non-finite float constant {v!r}")
    return f"{v.hex()}f"


def initializer(value) -> str:
    """dict -> designated initializer, list -> brace list, int -> literal."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f".{k} = {initializer(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "{ " + ", ".join(initializer(v) for v in value) + " }"
    if isinstance(value, (float, np.floating)):
        return c_float(value)
    return c_int(value)


def array_body(data: np.ndarray, per_line: int = 24) -> str:
    flat = data.reshape(-1).tolist()
    if not flat:
        return "    0"
    fmt = c_float if data.dtype.kind == "f" else c_int
    lines = []
    for i in range(0, len(flat), per_line):
        lines.append("    " + ", ".join(fmt(v) for v in flat[i:i + per_line]) + ",")
    return "\n".join(lines)
