"""Estimated instructions of a kernel call, per core, so the search can compare candidates
without building them. Placeholder figures per ISA (instructions per MAC, plus per output
element) until the calibrated model (costs.json) is in."""
from __future__ import annotations

from .registry import spec_of

_PER_MAC = {"portable": 7.0, "dsp": 1.2, "mve": 0.45}
_PER_ELEMENT = 4.0


def core_of(board) -> str:
    return getattr(board, "cpu", None) or "host"


def estimate(call, core: str) -> int:
    spec = spec_of(call)
    out = sum(a.tensor.size for a in call.args if a.writes and a.tensor is not None)
    return int(_PER_MAC[spec.isa] * call.macs + _PER_ELEMENT * out) + 50
