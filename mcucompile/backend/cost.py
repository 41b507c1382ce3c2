"""Cost model: estimated instructions of one runtime call on one core, without building.

The planner's search compares candidate kernels with it. A call is described by a few counts
(`features`):

    macs    its multiply-accumulates (KernelCall.macs; 0 for pooling and elementwise kernels)
    out     elements it writes (its output tensors)
    in      elements of the activation tensors it reads
    gather  macs / output channels: the input elements a convolution gathers per output
            channel (its im2col volume; = macs for a depthwise layer)
    one     1 (the call's fixed cost)

and the estimate is a linear form in them, one per (core, kernel family):

    instructions = a * macs + b * out + c * in + g * gather + d

with non-negative coefficients, so an estimate never falls when a layer grows. A family is
the kernel's base name (`registry.base_name`: a generated kernel's per-layer suffix removed,
`mcuc_conv_s8_dsp_op12_row` -> `mcuc_conv_s8_dsp`). The coefficients are data,
`costs.json` beside this module, fitted by `benchmarks/calibrate_costs.py` to exact per-step
instruction counts from `mcucompile.profile` (QEMU -icount) on generated models, and recorded
with their provenance (date, models, boards).

Lookup, never an exception:
  1. the family on the core itself;
  2. the family on the nearest calibrated core (NEAREST: same ISA first, e.g. the M7 for an
     M33 or an M4; the M3 for cores without DSP, and for the host build, whose counts are
     not instructions of any MCU anyway);
  3. the core's (or the nearest core's) generic entry "*", fitted to every call measured on
     it (about a portable kernel's cost per MAC and per element);
  4. DEFAULT below, when costs.json holds nothing usable.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from .registry import base_name

COSTS_FILE = Path(__file__).with_name("costs.json")
FEATURES = ("macs", "out", "in", "gather", "one")
GENERIC = "*"
# Cores to borrow from, nearest first, when a core has no entry for a kernel family.
NEAREST = {
    "cortex-m4": ("cortex-m7", "cortex-m55", "cortex-m3"),
    "cortex-m7": ("cortex-m4", "cortex-m55", "cortex-m3"),
    "cortex-m33": ("cortex-m4", "cortex-m7", "cortex-m55", "cortex-m3"),
    "cortex-m55": ("cortex-m7", "cortex-m4", "cortex-m3"),
    "cortex-m85": ("cortex-m55", "cortex-m7", "cortex-m4", "cortex-m3"),
}
PORTABLE_NEAREST = ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m55")
# Last resort (costs.json empty or missing): about the portable convolution on an M3.
DEFAULT = {"macs": 6.0, "out": 12.0, "in": 1.0, "gather": 0.0, "one": 200.0}


def core_of(board) -> str:
    """The core a board's code runs on, as costs.json names it: the board's `cpu`
    ("cortex-m4", ..., "host"); None (no board) is the host."""
    return "host" if board is None else board.cpu


def features(call) -> dict[str, int]:
    """The counts the estimate is linear in (see the module docstring)."""
    outs = [a.tensor for a in call.args if a.tensor is not None and a.writes]
    ins = [a.tensor for a in call.args if a.tensor is not None and not a.writes]
    out_c = int(outs[0].shape[-1]) if outs and len(outs[0].shape) else 1
    return {"macs": call.macs, "out": sum(t.size for t in outs),
            "in": sum(t.size for t in ins), "gather": call.macs // max(out_c, 1), "one": 1}


@cache
def load(path: Path = COSTS_FILE) -> dict:
    """costs.json: {"provenance": {...}, "cores": {core: {family: {feature: coefficient}}}}.
    A missing or unreadable file is an empty table (estimates then use DEFAULT)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {"provenance": {}, "cores": {}}


def _search_order(core: str) -> tuple[str, ...]:
    return (core,) + NEAREST.get(core, PORTABLE_NEAREST)


def coefficients(fn: str, core: str, table: dict | None = None) -> tuple[str, str, dict]:
    """(core, family) whose coefficients estimate `fn` on `core`, and the coefficients; the
    core and family say which fallback was taken ("default" when none)."""
    cores = (table or load())["cores"]
    family = base_name(fn)
    order = _search_order(core)
    for key in (family, GENERIC):
        for c in order:
            entry = cores.get(c, {}).get(key)
            if entry is not None:
                return c, key, entry
    return "default", "default", DEFAULT


def estimate(call, core: str, table: dict | None = None) -> int:
    """Estimated instructions of one runtime call (a KernelCall) on `core` (see core_of)."""
    coef = coefficients(call.fn, core, table)[2]
    f = features(call)
    return max(1, round(sum(coef.get(k, 0.0) * f[k] for k in FEATURES)))
