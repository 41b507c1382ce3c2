"""Passes over the IR, run in this order by `run_passes`:

0. canonicalize: exported graphs' input TRANSPOSE and PADs folded into the input and the
   windowed ops (canonicalize.py; `keep_layout` keeps an NCHW input as it is);
1. alias_reshapes: reshape-like ops become views of their input (no code, no copy);
2. lower: every other op becomes runtime calls with all quantization maths done at compile
   time (multipliers/shifts per channel, offsets, activation ranges, padding, strides);
3. select_kernels (only when a board is given): calls -> the fastest bit-exact variant for the
   board's CPU (DSP / Helium kernels, specialised per layer), `kernels="portable"` keeps them.
"""
from ..ir import Graph, verify
from .alias import alias_reshapes
from .canonicalize import canonicalize
from .lower import lower
from .select_kernels import select_kernels


def run_passes(graph: Graph, board=None, kernels: str = "auto",
               keep_layout: bool = False) -> Graph:
    graph = canonicalize(graph, keep_layout)
    graph = alias_reshapes(graph)
    graph = lower(graph)
    if board is not None:
        graph = select_kernels(graph, board, kernels)
    verify(graph)
    return graph
