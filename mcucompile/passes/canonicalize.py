"""Canonicalisation of exported graphs, run before every other pass: what a PyTorch exporter
writes as separate ops becomes the form a Keras model has, so the planner sees one windowed op
instead of a full copy of its input (a PAD's input and padded copy are live together, and
in-place layers, patch stages and streamed blocks all stop at a PAD).

Rules, each in its own function; each rewrites only where the result is provably the same:

1. fold_input_transposes: a TRANSPOSE NCHW -> NHWC (perm 0,2,3,1) of a graph input becomes
   the input itself: the model's input is NHWC (model.h and `info` say so, and
   graph.input_perms records it for the reference, which feeds the model file NCHW).
   Refused (the TRANSPOSE stays a copy) when: `keep_layout` is set; the input has another
   reader or is a graph output; the TRANSPOSE output is a graph output; another permutation;
   the two tensors are quantized differently.

2. fold_pads: a PAD, or a PADV2 whose value is the input's zero point, whose only reader is a
   CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D or MAX_POOL_2D (as its data input) becomes
   explicit padding of that op: attrs["pads"] = (top, left, bottom, right), the op's own
   SAME padding added (passes/lower.py window_geometry reads it). Why it is exact:
     convolutions: a padded element holds the zero point, so (q - zp) * w = 0, the same as the
       kernels skipping a tap outside the input;
     max pool: the kernels skip taps outside the input; a padded element can change a
       maximum only if it is above some window's real values, so the fold needs the pad value
       to be -128 (what an exporter's -inf pad quantizes to), whatever the zero point;
     average pool: TFLM divides by the number of real elements in the window, while after a
       PAD the padded ones count too: folded only where no window reads the padding (and the
       pool pads nothing itself).
   Refused (the PAD stays, planned like any op) when: the value is not the zero point (max
   pool: not -128); the padded tensor has another reader or is a graph output; the paddings
   are not constant, are negative, or pad the batch or channel dimension; the input and output
   are quantized differently; some side pads the whole window or more (an output made of
   padding alone).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, Tensor
from ..ir.validate import conv_geometry

NCHW_TO_NHWC = (0, 2, 3, 1)
WINDOW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")


def canonicalize(graph: Graph, keep_layout: bool = False) -> Graph:
    if not keep_layout:
        fold_input_transposes(graph)
    fold_pads(graph)
    return graph


def _remove(graph: Graph, op: Op, dead: Tensor) -> None:
    graph.ops.remove(op)
    graph.tensors = [t for t in graph.tensors if t is not dead]


def _only_reader(graph: Graph, t: Tensor) -> Op | None:
    readers = graph.consumers(t)
    if len(readers) != 1 or any(o is t for o in graph.outputs):
        return None
    return readers[0]


def _const_ints(t: Tensor | None) -> np.ndarray | None:
    return None if t is None or t.data is None else np.asarray(t.data).astype(np.int64)


def _same_quant(a: Tensor, b: Tensor) -> bool:
    return a.quant is None and b.quant is None or a.quant is not None and a.quant.same_as(b.quant)


# ------------------------------------------------------------------ rule 1: input layout

def fold_input_transposes(graph: Graph) -> None:
    for op in list(graph.ops):
        if op.type != "TRANSPOSE" or not any(op.inputs[0] is t for t in graph.inputs):
            continue
        x, y = op.inputs[0], op.outputs[0]
        perm = _const_ints(op.inputs[1] if len(op.inputs) > 1 else None)
        if perm is None or tuple(perm.reshape(-1)) != NCHW_TO_NHWC or len(x.shape) != 4 \
                or _only_reader(graph, x) is not op or any(o is y for o in graph.outputs) \
                or not _same_quant(x, y):
            continue
        k = next(i for i, t in enumerate(graph.inputs) if t is x)
        graph.inputs[k] = y
        graph.input_perms[k] = tuple(int(d) for d in np.argsort(NCHW_TO_NHWC))   # 0,3,1,2
        y.name = x.name                       # the name the user knows
        _remove(graph, op, x)


# ------------------------------------------------------------------ rule 2: explicit pads

def _window(op: Op) -> tuple[int, int, int, int, int, int]:
    """(k_h, k_w, stride_h, stride_w, dil_h, dil_w) of a windowed op."""
    a = op.attrs
    if op.type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return a["filterHeight"], a["filterWidth"], a["strideH"], a["strideW"], 1, 1
    w = op.inputs[1].shape                     # [oc, kh, kw, ic] or [1, kh, kw, oc]
    return (w[1], w[2], a["strideH"], a["strideW"], a.get("dilationHFactor", 1),
            a.get("dilationWFactor", 1))


def _own_pads(op: Op, ih: int, iw: int) -> tuple[int, int, int, int]:
    """The op's padding as (top, left, bottom, right): explicit pads, or SAME / VALID."""
    if "pads" in op.attrs:
        return tuple(int(v) for v in op.attrs["pads"])
    if op.attrs.get("padding", 0) != 0:
        return (0, 0, 0, 0)
    kh, kw, sh, sw, dh, dw = _window(op)
    _, t, total_h = conv_geometry(ih, kh, sh, dh, True)
    _, l_, total_w = conv_geometry(iw, kw, sw, dw, True)
    return (t, l_, total_h - t, total_w - l_)


def _reads_padding(op: Op, ih: int, iw: int, pads) -> bool:
    """Does some window of `op` (input ih x iw, these pads) read a padded element?"""
    kh, kw, sh, sw, _, _ = _window(op)
    t, l_, b, r = pads
    oh, ow = (ih + t + b - kh) // sh + 1, (iw + l_ + r - kw) // sw + 1
    return t > 0 or l_ > 0 or (oh - 1) * sh - t + kh > ih or (ow - 1) * sw - l_ + kw > iw


def _pad_value(op: Op) -> int | None:
    """The int8 value a PAD / PADV2 writes (PAD: the output zero point), None if unknown."""
    if op.type == "PAD" or len(op.inputs) < 3 or op.inputs[2] is None:
        return int(op.outputs[0].quant.zero_point[0]) if op.outputs[0].quant is not None else None
    value = _const_ints(op.inputs[2])
    return None if value is None or value.size != 1 else int(value.reshape(-1)[0])


def fold_pad(graph: Graph, pad: Op) -> bool:
    """Rule 2 for one PAD / PADV2; True if it was folded (see the module docstring)."""
    x, y = pad.inputs[0], pad.outputs[0]
    user = _only_reader(graph, y)
    if user is None or user.type not in WINDOW_OPS or user.inputs[0] is not y \
            or any(t is y for t in user.inputs[1:]) or len(x.shape) != 4 or x.quant is None \
            or not _same_quant(x, y):
        return False
    paddings = _const_ints(pad.inputs[1])
    if paddings is None or paddings.shape != (4, 2) or (paddings < 0).any() \
            or paddings[0].any() or paddings[3].any():
        return False
    value = _pad_value(pad)
    if user.type == "MAX_POOL_2D":
        if value != -128:
            return False
    elif value != int(x.quant.zero_point[0]):
        return False
    _, ih, iw, _ = x.shape
    (t0, b0), (l0, r0) = paddings[1], paddings[2]
    t1, l1, b1, r1 = _own_pads(user, y.shape[1], y.shape[2])
    pads = (int(t0 + t1), int(l0 + l1), int(b0 + b1), int(r0 + r1))
    kh, kw, _, _, dh, dw = _window(user)
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if max(pads[0], pads[2]) >= span_h or max(pads[1], pads[3]) >= span_w:
        return False
    if user.type == "AVERAGE_POOL_2D" and (any((t1, l1, b1, r1))
                                           or _reads_padding(user, ih, iw, pads)):
        return False
    user.attrs = dict(user.attrs, pads=pads, padding=1)
    user.inputs[0] = x
    _remove(graph, pad, y)
    return True


def fold_pads(graph: Graph) -> None:
    """Last PAD first: a PAD that feeds another PAD (an ONNX Pad node before a Conv with pads
    of its own) folds once the second has folded into the window op."""
    for op in reversed(list(graph.ops)):
        if op.type in ("PAD", "PADV2"):
            fold_pad(graph, op)
