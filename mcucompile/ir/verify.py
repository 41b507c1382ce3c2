"""Structural checks on a Graph, run after the frontend and after the passes.

A failed check is a McucError naming the op or tensor; it means a malformed model (or a bug in
a pass), never something to continue past.
"""
from __future__ import annotations

import numpy as np

from ..errors import McucError
from .graph import MAX_RANK, MAX_TENSOR_ELEMENTS, Graph


def verify(graph: Graph) -> None:
    where_file = graph.source or graph.name
    for t in graph.tensors:
        if len(t.shape) > MAX_RANK:
            raise McucError(f"tensor {t.index} '{t.name}' has rank {len(t.shape)} (max {MAX_RANK})",
                            where_file)
        if any(d < 0 for d in t.shape):
            raise McucError(f"tensor {t.index} '{t.name}' has a negative or dynamic dimension "
                            f"{list(t.shape)}", where_file)
        if int(np.prod(t.shape, dtype=np.float64)) > MAX_TENSOR_ELEMENTS:
            raise McucError(f"tensor {t.index} '{t.name}' has an absurd shape {list(t.shape)}",
                            where_file)
        if t.data is not None and t.data.size != t.size:
            raise McucError(f"tensor {t.index} '{t.name}' constant data has {t.data.size} elements,"
                            f" shape {list(t.shape)} needs {t.size}", where_file)
        if t.quant is not None and len(t.quant.scale) != len(t.quant.zero_point):
            raise McucError(f"tensor {t.index} '{t.name}': {len(t.quant.scale)} scales but "
                            f"{len(t.quant.zero_point)} zero points", where_file)

    # variable tensors (state) hold values before any op runs: the last run's, or zero
    defined = {id(t) for t in graph.inputs} | {id(t) for t in graph.tensors
                                               if t.is_const or t.variable}
    produced = {id(t) for op in graph.ops for t in op.outputs}
    for op in graph.ops:
        for t in op.inputs:
            if t is not None and id(t) not in defined and id(t) not in produced:
                raise McucError(f"input tensor '{t.name}' has no value: it is no graph input, "
                                "constant, variable tensor (state) or op output",
                                f"{where_file}: {op.where}")
            if t is not None and id(t) not in defined:
                raise McucError(f"input tensor '{t.name}' is used before it is produced "
                                f"(the graph is not in topological order or has a cycle)",
                                f"{where_file}: {op.where}")
        for t in op.outputs:
            if t.variable:
                raise McucError(f"output tensor '{t.name}' is a variable tensor (state is "
                                "updated by the op that reads it, never written as an output)",
                                f"{where_file}: {op.where}")
            if id(t) in defined:
                raise McucError(f"output tensor '{t.name}' is produced twice",
                                f"{where_file}: {op.where}")
            defined.add(id(t))
    for t in graph.outputs:
        if id(t) not in defined:
            raise McucError(f"graph output '{t.name}' is never produced", where_file)
