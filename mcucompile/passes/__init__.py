"""Passes over the IR, run in this order by `run_passes`:

1. alias_reshapes: reshape-like ops become views of their input (no code, no copy);
2. lower: every other op becomes runtime calls with all quantization maths done at compile
   time (multipliers/shifts per channel, offsets, activation ranges, padding, strides).
"""
from ..ir import Graph, verify
from .alias import alias_reshapes
from .lower import lower


def run_passes(graph: Graph) -> Graph:
    graph = alias_reshapes(graph)
    graph = lower(graph)
    verify(graph)
    return graph
