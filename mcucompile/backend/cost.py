"""Cost model: estimated instructions of one runtime call on one core, without building.

The planner's search compares candidate kernels with it. A call is described by its sizes
(`sizes`: MACs, elements written and read, output and input channels, pooling window) and
the estimate is a linear form in features of them, one form per (core, kernel family):

    macs    multiply-accumulates (KernelCall.macs; 0 for pooling and elementwise kernels)
    out     elements written (its output tensors)
    in      elements of the activation tensors it reads
    gather  elements a window gathers: output pixels x window x input channels for a
            convolution (its im2col volume), a depthwise layer or a pool with a window larger
            than 1 (0 for 1x1 and dense layers, which read their input in place)
    taps    output elements x window: the inner loops over a window (0 without one)
    rows    output pixels (output elements / output channels): per-pixel overhead
    odd     the MACs of the last output pixel when there is an odd number of them (the fast
            GEMMs work on pixel pairs; a dense layer is all "odd")
    vec16   output elements x ceil(dot length / 16): the 16-lane vector multiply-accumulates
            of a Helium kernel (a dot of 17 costs two)
    ragged  input elements of a 1x1 or dense layer whose dot length is not a multiple of 16
            (the Helium GEMM then copies its input rather than reading it in place)
    unaligned  gather again when the dot length k_h x k_w x input channels is not a multiple
            of 4 (the DSP im2col then copies a kernel row in bytes rather than words; the
            rule is k_w x in_c % 4, and k_w alone is not known from the call)
    narrow  gather again when the input channels are not a multiple of 4 (the Helium im2col
            copies each pixel's channels bytewise)
    one     1 (the call's fixed cost)

    instructions = sum over features of coefficient x feature

with non-negative coefficients, so an estimate never falls when a layer grows. A family is
the kernel's base name (`registry.base_name`: a generated kernel's per-layer suffix removed,
`mcuc_conv_s8_dsp_op12_row` -> `mcuc_conv_s8_dsp`). The coefficients are data,
`costs.json` beside this module, fitted by `benchmarks/calibrate_costs.py` to exact per-step
instruction counts from `mcucompile.profile` (QEMU -icount) on generated models, and recorded
with their provenance (date, models, boards).

Lookup, never an exception:
  1. the family on the core itself;
  2. the family on the nearest calibrated core (NEAREST: same ISA first, e.g. the M4 for an
     M33, the M7 for an M4; the M3 for cores without DSP and for the host build, whose
     counts are not instructions of any MCU anyway). So a DSP kernel asked for on the M3
     gets the M4's cost;
  3. the core's (or the nearest core's) generic entry "*", fitted to every call measured on
     it (a rough average over its kernels, for a kernel family nobody calibrated);
  4. DEFAULT below, when costs.json holds nothing usable.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from .registry import REGISTRY, base_name

COSTS_FILE = Path(__file__).with_name("costs.json")
FEATURES = ("macs", "out", "in", "gather", "taps", "rows", "odd", "vec16", "ragged",
            "unaligned", "narrow", "one")
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
DEFAULT = {"macs": 6.0, "out": 12.0, "in": 1.0, "one": 200.0}


def core_of(board) -> str:
    """The core a board's code runs on, as costs.json names it: the board's `cpu`
    ("cortex-m4", ..., "host"); None (no board) is the host."""
    return "host" if board is None else board.cpu


def sizes(call) -> dict[str, int]:
    """The sizes of a call the features are made of (calibration stores these). window:
    k_h x k_w of a convolution or depthwise layer, f_h x f_w of a pooling window, else 0."""
    outs = [a.tensor for a in call.args if a.tensor is not None and a.writes]
    ins = [a.tensor for a in call.args if a.tensor is not None and not a.writes]
    out = sum(t.size for t in outs)
    out_c = int(outs[0].shape[-1]) if outs and len(outs[0].shape) else 1
    spec = REGISTRY.get(base_name(call.fn))
    p = call.params or {}
    if spec is not None and spec.ops == ("DEPTHWISE_CONV_2D",):
        in_c, window = out_c, call.macs // max(out, 1)
    elif not outs or len(outs[0].shape) != 4:      # dense: a dot over the whole input
        in_c, window = max(1, call.macs // max(out, 1)), 0
    else:   # (an in-place 1x1 convolution has no input argument: its window is 1x1)
        in_c = int(ins[0].shape[-1]) if ins and len(ins[0].shape) else \
            max(1, call.macs // max(out, 1))
        window = call.macs // max(out * in_c, 1) if call.macs else \
            int(p.get("f_h", 0)) * int(p.get("f_w", 0))
    return {"macs": call.macs, "out": out, "in": sum(t.size for t in ins), "out_c": out_c,
            "in_c": in_c, "window": window}


def features(s: dict) -> dict[str, int]:
    """The features (see the module docstring) of a call's `sizes`."""
    rows = s["out"] // max(s["out_c"], 1)
    window = s["window"] if s["window"] > 1 else 0
    dot = s["macs"] // max(s["out"], 1)               # MACs per output element
    return {"macs": s["macs"], "out": s["out"], "in": s["in"],
            "gather": rows * window * s["in_c"], "taps": s["out"] * window, "rows": rows,
            "odd": s["macs"] // max(rows, 1) if rows % 2 else 0,
            "vec16": s["out"] * ((dot + 15) // 16),
            "ragged": rows * s["in_c"] if s["macs"] and not window and dot % 16 else 0,
            "unaligned": rows * window * s["in_c"] if window * s["in_c"] % 4 else 0,
            "narrow": rows * window * s["in_c"] if s["in_c"] % 4 else 0,
            "one": 1}


@cache
def load(path: Path = COSTS_FILE) -> dict:
    """costs.json: {"provenance": {...}, "cores": {core: {family: {feature: coefficient}}}}.
    A missing or unreadable file is an empty table (estimates then use DEFAULT)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {"provenance": {}, "cores": {}}


def _search_order(core: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((core,) + NEAREST.get(core, PORTABLE_NEAREST)))


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
    f = features(sizes(call))
    return max(1, round(sum(coef.get(k, 0.0) * f[k] for k in FEATURES)))
